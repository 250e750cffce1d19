#!/usr/bin/env bash
# Configures (if needed) and builds one build directory.
#   scripts/meson-build.sh BUILD_DIR [meson options...]
# An existing build directory keeps its configuration, with the given
# options applied on top; a broken one is wiped and configured again.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$1
shift

if [[ -f $build/build.ninja ]]; then
  if [[ $# -gt 0 ]]; then
    meson configure "$build" "$@" >/dev/null
  fi
elif [[ -d $build/meson-private ]]; then
  meson setup --wipe "$build" "$repo" "$@"
else
  meson setup "$build" "$repo" "$@"
fi
ninja -C "$build"
