#!/usr/bin/env bash
# Kept for habit: the units under a real systemd are now checked by the
# testbed's nspawn tier (tests/testbed/nspawn.sh, `meson test -C build
# --suite testbed`, docs/testbed.md), which this runs.
#
#   scripts/systemd-check.sh [BUILD_DIR]        (default: build)
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../tests/testbed/nspawn.sh" "$@"
