#!/usr/bin/env bash
# Runs one bats file as a meson TAP test; prints '1..0 # SKIP reason' when
# the file cannot run here.
#   run-bats.sh [--needs-root] FILE.bats
set -uo pipefail
needs_root=0
if [[ ${1:-} == --needs-root ]]; then
  needs_root=1
  shift
fi
if ! command -v bats >/dev/null; then
  echo "1..0 # SKIP bats is not installed (scripts/install-deps.sh)"
  exit 0
fi
if ((needs_root)) && [[ $EUID -ne 0 ]]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
exec bats --tap "$1"
