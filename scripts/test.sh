#!/usr/bin/env bash
# Set up (first time only) and run the test suite, offscreen. Extra arguments go to pytest.
#   bash scripts/test.sh            the whole suite (what CI runs), with the 15 slowest tests listed
#   bash scripts/test.sh --quick    the edit loop: no multi-process runs, benchmark smokes, full studio
#                                   windows or slow trainings (tiers: tests/conftest.py)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
export QT_QPA_PLATFORM=offscreen
tier=(--durations=15)
# Test workers (pytest-xdist): one per CPU this process may use, at most 4; GENSTUDIO_TEST_WORKERS=0 runs
# the tests in this one process (what a debugger or `-x` on one file wants).
workers="${GENSTUDIO_TEST_WORKERS:-$("$root/.venv/bin/python" -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')}"
parallel=()
[ "$workers" -gt 1 ] 2>/dev/null && parallel=(-n "$workers" --dist worksteal)
args=()
for a in "$@"; do
    if [[ "$a" == "--quick" ]]; then
        tier=(-m "not multiprocess and not benchmark and not window and not slow" --durations=5)
    else
        args+=("$a")
    fi
done
exec "$root/.venv/bin/python" -m pytest "${parallel[@]+"${parallel[@]}"}" "${tier[@]}" "${args[@]+"${args[@]}"}"
