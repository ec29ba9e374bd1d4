#!/usr/bin/env bash
# Create or reuse .venv at the repo root, install genstudio into it and the system libraries the studio's
# window needs (idempotent, quiet when up to date).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
venv="$root/.venv"

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
stamp="$venv/.genstudio-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing genstudio into .venv (first run takes a few minutes)"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
  # Torch first, pinned to the CPU build this machine ships, so the project's range never pulls a CUDA build.
  "$venv/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" install "torch==${GENSTUDIO_TORCH:-2.13.0}"
  "${pip[@]}" install -e ".[dev]"
  echo "$want" > "$stamp"
fi

# System libraries (checked every time; a few milliseconds). Qt needs a few even offscreen; its X11
# platform plugin needs the ones `ldd` finds missing for PySide6's libqxcb.so plus libxcb-cursor, which
# Qt opens at run time (studio/platform_deps.py maps them to Debian packages). Xvfb lets the tests open
# the real window once (tests/test_launch.py).
[ "$(uname -s)" = Linux ] || exit 0
need=()
libs="$(ldconfig -p 2>/dev/null || true)"   # read once: `ldconfig | grep -q` trips pipefail on SIGPIPE
for pair in libEGL.so.1:libegl1 libGL.so.1:libgl1 libxkbcommon.so.0:libxkbcommon0 \
            libfontconfig.so.1:libfontconfig1 libdbus-1.so.3:libdbus-1-3; do
  grep -qF "${pair%%:*}" <<<"$libs" || need+=("${pair#*:}")
done
while read -r package; do
  [ -n "$package" ] && need+=("$package")
done < <("$venv/bin/python" -m studio.platform_deps 2>/dev/null || true)
can_apt=0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && can_apt=1
if [ "$can_apt" = 1 ]; then
  command -v Xvfb >/dev/null || need+=(xvfb)
  command -v xauth >/dev/null || need+=(xauth)
fi
[ "${#need[@]}" -gt 0 ] || exit 0
if [ "$can_apt" = 1 ]; then
  echo "setup: installing system packages for the studio: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt_install() { apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; }
  # Install from the package lists already there; refresh them only when that fails (first run, old lists).
  apt_install || { apt-get update -qq >/dev/null 2>&1 && apt_install; } || \
    echo "setup: could not install ${need[*]}; the studio may not open a window" >&2
else
  echo "setup: the studio's window needs these system packages: ${need[*]}" >&2
  echo "setup: install them with:  sudo apt-get install ${need[*]}" >&2
fi
