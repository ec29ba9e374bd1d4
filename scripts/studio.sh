#!/usr/bin/env bash
# Set up (first time only) and launch the studio. Extra arguments are folders to load.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
exec "$root/.venv/bin/genstudio" "$@"
