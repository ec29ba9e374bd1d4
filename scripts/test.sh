#!/usr/bin/env bash
# Set up (first time only) and run the whole test suite, offscreen. Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
export QT_QPA_PLATFORM=offscreen
exec "$root/.venv/bin/python" -m pytest "$@"
