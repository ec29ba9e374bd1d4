#!/usr/bin/env bash
# Put genstudio in the desktop's application menu (Linux, freedesktop), with its icon.
#   bash packaging/install-desktop-entry.sh            # this checkout (sets up .venv first)
#   bash packaging/install-desktop-entry.sh BUNDLE_DIR # a bundle built by packaging/build.sh
# XDG_DATA_HOME (default ~/.local/share) says where menus and icons live; --uninstall removes both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="${XDG_DATA_HOME:-$HOME/.local/share}"
apps="$data/applications"
icons="$data/icons/hicolor/scalable/apps"
if [ "${1:-}" = --uninstall ]; then
  rm -f "$apps/genstudio.desktop" "$icons/genstudio.svg"
  echo "removed genstudio from the application menu"
  exit 0
fi
if [ -n "${1:-}" ]; then
  exe="$(cd "$1" && pwd)/genstudio"
  [ -x "$exe" ] || { echo "install-desktop-entry: $1 holds no genstudio program (build one with packaging/build.sh)" >&2; exit 2; }
else
  [ -n "${GENSTUDIO_SKIP_SETUP:-}" ] || bash "$root/scripts/setup.sh"
  exe="$root/.venv/bin/genstudio"
fi
mkdir -p "$apps" "$icons"
cp "$root/assets/genstudio.svg" "$icons/genstudio.svg"
# Exec takes the path quoted when it has spaces (the desktop entry spec's quoting)
case "$exe" in *" "*) exec_field="\"$exe\"";; *) exec_field="$exe";; esac
sed -e "s#@EXEC@#${exec_field//#/\\#}#" "$root/packaging/genstudio.desktop" > "$apps/genstudio.desktop.tmp"
mv "$apps/genstudio.desktop.tmp" "$apps/genstudio.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$data/icons/hicolor" 2>/dev/null || true
echo "installed $apps/genstudio.desktop (runs $exe) and its icon"
