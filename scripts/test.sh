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
args=()
for a in "$@"; do
    if [[ "$a" == "--quick" ]]; then
        tier=(-m "not multiprocess and not benchmark and not window and not slow" --durations=5)
    else
        args+=("$a")
    fi
done
exec "$root/.venv/bin/python" -m pytest "${tier[@]}" "${args[@]+"${args[@]}"}"
