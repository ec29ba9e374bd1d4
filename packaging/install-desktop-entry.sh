#!/usr/bin/env bash
# Put genstudio in the desktop's application menu (Linux, freedesktop), pointing at this checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
target="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
mkdir -p "$target"
sed -e "s#/path/to/genstudio#$root#g" "$root/packaging/genstudio.desktop" > "$target/genstudio.desktop"
echo "installed $target/genstudio.desktop"
