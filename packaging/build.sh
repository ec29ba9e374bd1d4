#!/usr/bin/env bash
# Build the CPU-only Linux bundle of genstudio (PyInstaller, one folder): dist/genstudio/genstudio runs the
# studio and the CLI with no Python setup. Then check it (packaging/check_bundle.py): its size, start-up
# seconds, a window opened from it and a few training steps from its command line.
#   bash packaging/build.sh            # build + check; prints the figures
#   bash packaging/build.sh --record   # also write benchmarks/results/bundle.json (for the README)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
py="$root/.venv/bin/python"
torch_version="$("$py" -c 'from importlib.metadata import version; print(version("torch"))')"
case "$torch_version" in
  *+cpu) ;;
  *) echo "build: .venv has PyTorch $torch_version; the bundle is CPU-only: run GENSTUDIO_TORCH_BACKEND=cpu bash scripts/setup.sh first" >&2; exit 2;;
esac
"$py" -c "import PyInstaller" 2>/dev/null || "$py" -m pip install -q --disable-pip-version-check "pyinstaller>=6.10"
work="${GENSTUDIO_BUNDLE_WORK:-$root/build/pyinstaller}"
dist="${GENSTUDIO_BUNDLE_DIST:-$root/dist}"
start=$(date +%s)
"$py" -m PyInstaller --noconfirm --clean --log-level WARN --workpath "$work" --distpath "$dist" packaging/genstudio.spec
echo "build: dist/genstudio built in $(( $(date +%s) - start )) s"
exec "$py" packaging/check_bundle.py "$dist/genstudio" "$@"
