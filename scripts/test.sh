#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this), as root:
#   1. host prerequisites, idempotently: Debian packages, users berth-api,
#      berth-net, berth and the subordinate id range (no engine is started:
#      the end-to-end tests start their own, hermetic ones);
#   2. builds build/ (plain) and build-asan/ (ASan+UBSan);
#   3. runs `meson test` in both (every suite is TAP; the testbed suite,
#      docs/testbed.md, is registered in the plain build only);
#   4. prints per-build counts and, last, 'berth: N passed, N failed, N skipped'.
# Exits non-zero if anything failed. Extra arguments go to `meson test`
# (e.g. a suite name: scripts/test.sh --suite e2e).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

PLAIN=${BERTH_TEST_BUILD_DIR:-build}
ASAN=${BERTH_TEST_ASAN_BUILD_DIR:-build-asan}
step() { printf '\n==> %s\n' "$*"; }

step "host prerequisites"
if [[ $(id -u) -eq 0 ]]; then
  "$here/install-deps.sh" || { echo "berth: 0 passed, 1 failed, 0 skipped"; exit 1; }
  "$here/host-prereqs.sh" || { echo "berth: 0 passed, 1 failed, 0 skipped"; exit 1; }
else
  echo "not root: skipping package and user set-up (tests that need root will skip)"
fi

# The sanitizers stop at the first error, print a stack and exit non-zero;
# leak detection stays on for unit tests (e2e daemons turn it off: see
# tests/e2e/helpers.bash).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

summary_args=()
run_build() {  # label dir [meson options...]
  local label=$1 dir=$2
  shift 2
  step "$label: build $dir"
  if ! "$here/meson-build.sh" "$dir" "$@"; then
    summary_args+=("$label=$dir:build failed")
    return
  fi
  step "$label: meson test in $dir"
  rm -f "$dir/meson-logs/testlog.json"
  meson test -C "$dir" --no-rebuild --print-errorlogs "${test_args[@]}"
  local rc=$?
  # The booted-guest tiers' TAP lines, whole, in the CI log (issue 5).
  if [[ -s $dir/meson-logs/testlog.json ]]; then
    python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if ":testbed / " in t.get("name", ""):
        print(f"\n==> TAP of {t['name']} ({t.get('result')}, {t.get('duration', 0):.0f} s)")
        print((t.get("stdout") or "").rstrip())
PY
  fi
  if [[ $rc -ne 0 && ! -s $dir/meson-logs/testlog.json ]]; then
    summary_args+=("$label=$dir:meson test exited $rc")
  else
    summary_args+=("$label=$dir")
  fi
}

test_args=("$@")
run_build plain "$PLAIN"
run_build asan "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false

step "summary"
exec python3 "$here/test-summary.py" "${summary_args[@]}"
