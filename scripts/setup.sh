#!/usr/bin/env bash
# Create or reuse .venv at the repo root, install genstudio into it and the system libraries the studio's
# window needs (idempotent, quiet when up to date).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
venv="$root/.venv"

[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
vpy="$venv/bin/python"
dry="${GENSTUDIO_SETUP_DRY_RUN:-}"   # tests: print the install commands instead of running them
run() { if [ -n "$dry" ]; then echo "+ $*"; else "$@"; fi; }
pip=("$vpy" -m pip --disable-pip-version-check)
uv=()
if [ "${GENSTUDIO_USE_UV:-1}" != 0 ] && command -v uv >/dev/null 2>&1; then uv=(uv pip install --python "$vpy"); fi

# PyTorch: the build for this machine (scripts/torch_backend.py: an NVIDIA GPU and its driver -> the
# matching CUDA build, else CPU; GENSTUDIO_TORCH_BACKEND overrides), recorded with its version in
# .venv/genstudio-torch.json and installed again when either changes. GENSTUDIO_TORCH pins the version.
choice="$("$vpy" scripts/torch_backend.py)"   # a wrong GENSTUDIO_TORCH_BACKEND stops here, said in one line
eval "$choice"
torch_pin="${GENSTUDIO_TORCH:-2.13.0}"
torch_record="$venv/genstudio-torch.json"
recorded="$("$vpy" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["pinned"], d["backend"])' \
            "$torch_record" 2>/dev/null || true)"
installed="$("$vpy" -c 'from importlib.metadata import version; print(version("torch"))' 2>/dev/null || true)"
if [ "$recorded" != "$torch_pin $torch_backend" ] || [ -z "$installed" ]; then
  echo "setup: PyTorch $torch_pin, $torch_backend build: $torch_reason"
  progress=(-q); [ -t 1 ] && progress=(--progress-bar on)   # the largest download: show it when someone watches
  again=()
  case "$torch_backend" in cpu|cu*|rocm*) [ -n "$installed" ] && [ "${installed#*+}" != "$torch_backend" ] && again=(--force-reinstall);; esac
  [ -n "$installed" ] && [ "${installed%%+*}" != "$torch_pin" ] && again=(--force-reinstall)
  if [ "$torch_backend" = cpu ] && "${pip[@]}" install -q --dry-run --no-index --no-deps "torch==$torch_pin+cpu" >/dev/null 2>&1; then
    source="a wheel on this machine"   # the pinned CPU build lies on disk (pip's find-links): no download
    run "${pip[@]}" install "${progress[@]}" "${again[@]}" "torch==$torch_pin+cpu"
  elif [ "$torch_backend" = default ]; then
    source="the package index"
    if [ ${#uv[@]} -gt 0 ]; then run "${uv[@]}" "${again[@]}" "torch==$torch_pin"
    else run "${pip[@]}" install "${progress[@]}" "${again[@]}" "torch==$torch_pin"; fi
  else
    source="$torch_index"
    if [ ${#uv[@]} -gt 0 ]; then run "${uv[@]}" "${again[@]}" "torch==$torch_pin" --index-url "$torch_index"
    else run "${pip[@]}" install "${progress[@]}" "${again[@]}" "torch==$torch_pin" --index-url "$torch_index"; fi
  fi
  if [ -z "$dry" ]; then
    TORCH_CHOICE="$("$vpy" scripts/torch_backend.py --json)" TORCH_PIN="$torch_pin" TORCH_SOURCE="$source" \
      "$vpy" -W ignore scripts/torch_backend.py --record "$torch_record"
  fi
fi
[ -z "$dry" ] || exit 0

stamp="$venv/.genstudio-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing genstudio into .venv (first run takes a few minutes)"
  if [ ${#uv[@]} -gt 0 ]; then "${uv[@]}" -q -e ".[dev]"; else "${pip[@]}" install -q -e ".[dev]"; fi
  echo "$want" > "$stamp"
fi

# `genstudio` by name: a link in ~/.local/bin (GENSTUDIO_BIN_DIR), made when there is none or the one
# there points at a checkout that is gone; never over another program. GENSTUDIO_NO_LINK=1 skips it.
if [ -z "${GENSTUDIO_NO_LINK:-}" ] && [ -z "${CI:-}" ]; then
  bin_dir="${GENSTUDIO_BIN_DIR:-$HOME/.local/bin}"
  link="$bin_dir/genstudio"
  if { [ -L "$link" ] && [ ! -e "$link" ]; } || { [ ! -e "$link" ] && [ ! -L "$link" ]; }; then
    mkdir -p "$bin_dir" && ln -sfn "$venv/bin/genstudio" "$link" && echo "setup: linked $link -> $venv/bin/genstudio"
    case ":$PATH:" in
      *":$bin_dir:"*) ;;
      *) echo "setup: $bin_dir is not on your PATH; add it to run genstudio by name:  export PATH=\"$bin_dir:\$PATH\"";;
    esac
  fi
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
