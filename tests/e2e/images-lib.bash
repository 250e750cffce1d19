# Helpers for the image end-to-end tests (images*.bats), on top of
# helpers.bash: the fixtures (tests/fixtures/gen-archives.py, the busybox
# image of scripts/make-busybox-image.sh), the berth CLI against the test's
# engine, and readers of imaged's store (DATA_ROOT/image) that never write
# into it.

BERTH_GEN_ARCHIVES=$BERTH_SOURCE_DIR/tests/fixtures/gen-archives.py
BERTH_MAKE_IMAGE=$BERTH_SOURCE_DIR/scripts/lib/make_image.py
BERTH_MAKE_BUSYBOX=$BERTH_SOURCE_DIR/scripts/make-busybox-image.sh

# Skips unless the image tests can run: the engine, the CLI, the tools.
img_require() {
  e2e_require_engine
  [[ -x $BERTH_CLI ]] || skip "not built: $BERTH_CLI"
  local t
  for t in python3 sqlite3 zstd; do
    command -v "$t" >/dev/null || skip "$t missing (scripts/install-deps.sh)"
  done
  [[ -x /bin/busybox ]] || skip "/bin/busybox missing (apt-get install busybox-static)"
}

# For setup_file: bats 1.8 reports a skip in setup_file as a failure, so
# the reason is recorded in IMG_SKIP instead (empty: the file can run) and
# img_setup_skip, called from setup(), skips each test with it.
#   img_file_require [extra check function...]
img_file_require() {
  local f
  IMG_SKIP=$(
    skip() { printf '%s' "${*:-skipped}"; exit 0; }
    img_require
    for f in "$@"; do "$f"; done
  )
  export IMG_SKIP
  [[ -z $IMG_SKIP ]]
}

img_setup_skip() {
  [[ -z ${IMG_SKIP:-} ]] || skip "$IMG_SKIP"
}

# The fixtures, in FX (world-readable, so that nothing but the engine's own
# checks stands between a hostile archive and the host): every archive of
# gen-archives.py, expect.json, busybox.tar, and OUTSIDE, a world-writable
# directory with a world-writable `canary` that hostile links aim at.
img_make_fixtures() {
  FX=$(mktemp -d /tmp/berth-fx.XXXXXX)
  chmod 0755 "$FX"
  OUTSIDE=$FX/outside
  mkdir -m 0777 "$OUTSIDE"
  chmod 0777 "$OUTSIDE"
  printf 'canary\n' >"$OUTSIDE/canary"
  chmod 0666 "$OUTSIDE/canary"
  python3 "$BERTH_GEN_ARCHIVES" "$FX" --outside "$OUTSIDE" >/dev/null
  BUSYBOX_ID=$("$BERTH_MAKE_BUSYBOX" "$FX/busybox.tar")
  chmod -R a+rX "$FX"
  chmod 0777 "$OUTSIDE"
  export FX OUTSIDE BUSYBOX_ID
}

img_remove_fixtures() {
  if [[ -n ${FX:-} && -d $FX && -z ${BERTH_KEEP_TMP:-} ]]; then
    rm -rf "$FX"
  fi
  if [[ -n ${E2E_CONFIG_DIR:-} && -d $E2E_CONFIG_DIR ]]; then
    rm -rf "$E2E_CONFIG_DIR"
  fi
  return 0
}

# A config file for the engine (--config), readable by every service. Its
# directory is separate from T, which is made when the engine starts.
#   img_config '{"image-max-uncompressed-bytes": 33554432}'
img_config() {
  E2E_CONFIG_DIR=$(mktemp -d /tmp/berth-cfg.XXXXXX)
  chmod 0755 "$E2E_CONFIG_DIR"
  printf '%s\n' "$1" >"$E2E_CONFIG_DIR/berth.json"
  chmod 0644 "$E2E_CONFIG_DIR/berth.json"
  E2E_CONFIG=$E2E_CONFIG_DIR/berth.json
  export E2E_CONFIG E2E_CONFIG_DIR
}

# One field of expect.json: fx FIXTURE JQ-FILTER (e.g. fx legacy.tar .id)
fx() {
  jq -r --arg f "$1" ".[\$f]$2" "$FX/expect.json"
}

# The berth CLI against this engine, through bats' run (status, output:
# stdout and stderr together). A sanitizer report fails the caller.
b() {
  run "$BERTH_CLI" -H "unix://$SOCK" "$@"
  echo "# berth $*: status $status"
  echo "$output" | head -n 60
  if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$output"; then
    echo "sanitizer report from the CLI"
    return 1
  fi
}

# The berth CLI, plain: bcli ARGS... (stdout; fails with the CLI).
bcli() {
  "$BERTH_CLI" -H "unix://$SOCK" "$@"
}

STORE_REL=image

store_dir() { echo "$T/data/$STORE_REL"; }

# A listing of the store for before/after comparisons, tmp/ (staging) and
# the SQLite files left out, followed by a dump of the database (read from a
# copy: nothing may write into the store but imaged).
#   store_snapshot FILE [strict|content]
# strict: every path with size, mode, owner and mtime (directories too);
# content: directories without their mtime (a crash may legitimately leave
# a directory's mtime changed after the restart removed what it held).
store_snapshot() {
  local s mode=${2:-strict} d
  s=$(store_dir)
  {
    if [[ $mode == strict ]]; then
      find "$s" -path "$s/tmp" -prune -o ! -name 'store.db*' -printf '%p %y %s %m %u %g %T@\n'
    else
      find "$s" -path "$s/tmp" -prune -o ! -name 'store.db*' \( -type d -printf '%p %y %m %u %g\n' -o -printf '%p %y %s %m %u %g %T@\n' \)
    fi | sort
    echo "-- store.db"
    d=$(mktemp -d)
    cp -a "$s"/store.db* "$d"/ 2>/dev/null
    if [[ -e $d/store.db ]]; then
      sqlite3 "$d/store.db" .dump
    else
      echo "(no store.db)"
    fi
    rm -rf "$d"
  } >"$1"
}

# Names of the blobs and of the layer directories (one a line, sorted).
store_blobs() { find "$(store_dir)/blobs/sha256" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }
store_layers() { find "$(store_dir)/layers" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }

# The OCI chain ids of a list of diff ids ("sha256:<hex>"), one a line,
# without the sha256: prefix (the names of layers/ dirs).
chain_ids() {
  local chain="" d
  for d in "$@"; do
    if [[ -z $chain ]]; then
      chain=$d
    else
      chain=sha256:$(printf '%s %s' "$chain" "$d" | sha256sum | cut -d' ' -f1)
    fi
    echo "${chain#sha256:}"
  done
}

# chain ids of a fixture
fx_chain_ids() {
  local ids
  mapfile -t ids < <(fx "$1" '.diff_ids[]')
  chain_ids "${ids[@]}"
}

# The image ids the engine lists (GET /images/json?all=1), sorted.
api_image_ids() {
  api_get '/images/json?all=1' | jq -r '.[].Id' | sort
}

# Waits until imaged runs with a pid other than $1 and answers (an image
# list goes through apid to imaged).
img_wait_imaged_restart() {
  local old=$1 deadline=$((SECONDS + ${2:-20})) pid
  while ((SECONDS < deadline)); do
    pid=$(e2e_svc_pid berth-imaged) || pid=
    if [[ -n $pid && $pid != "$old" ]] &&
      [[ $(api_status '/images/json') == 200 ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "berth-imaged did not come back (old pid $old)"
  ps -o pid,ppid,stat,wchan:24,cmd --ppid "$EXECD_PID" -p "$old" 2>/dev/null || true
  grep -E '^(State|TracerPid)' "/proc/$old/status" 2>/dev/null || true
  local t
  for t in /proc/"$old"/task/*; do
    [[ -e $t ]] && echo "task ${t##*/}: $(grep -E '^(State|TracerPid)' "$t/status" 2>/dev/null | tr '\n\t' '  ')"
  done
  tail -n 15 "$T/execd.log" 2>/dev/null || true
  return 1
}

# The ASan build is several times slower: tests that move hundreds of
# megabytes run in the plain build only.
img_skip_if_sanitized() {
  case ${BERTH_SANITIZE:-none} in
    none | '') ;;
    *) skip "heavy: runs in the plain build only (this build: b_sanitize=$BERTH_SANITIZE)" ;;
  esac
}
