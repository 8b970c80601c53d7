#!/usr/bin/env bash
# Configure (once) and build. Usage: scripts/build.sh [builddir] [meson options...]
# The default build directory is build/, leaving the server at build/csocks.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
if [ ! -f "$dir/build.ninja" ]; then
	meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir"
