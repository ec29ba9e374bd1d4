#!/usr/bin/env bash
# Create or reuse .venv at the repo root and install genstudio into it (idempotent, quiet when up to date).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
venv="$root/.venv"

# Qt needs a few shared libraries even offscreen; install them from Debian when they are missing.
need=()
libs="$(ldconfig -p 2>/dev/null || true)"   # read once: `ldconfig | grep -q` trips pipefail on SIGPIPE
for lib in libEGL.so.1 libGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libdbus-1.so.3; do
  grep -qF "$lib" <<<"$libs" || need+=("$lib")
done
if [ "${#need[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing system libraries for Qt (${need[*]})"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 >/dev/null || \
    echo "setup: could not install Qt's system libraries; the studio may not start" >&2
fi

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
stamp="$venv/.genstudio-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi

echo "setup: installing genstudio into .venv (first run takes a few minutes)"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# Torch first, pinned to the CPU build this machine ships, so the project's range never pulls a CUDA build.
"$venv/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" install "torch==${GENSTUDIO_TORCH:-2.13.0}"
"${pip[@]}" install -e ".[dev]"
echo "$want" > "$stamp"
