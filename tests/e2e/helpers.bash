# Shared helpers for berth's end-to-end bats files: a hermetic engine (temp
# data/run roots, a temp libexec dir pointing at the build tree's services)
# started under systemd-socket-activate or by hand, and small readers for
# /proc and the API.
#
# Environment (set by tests/e2e/meson.build; defaults for running bats by
# hand from the source tree):
#   BERTH_BUILD_DIR   build tree (default: ../../build from this file)
#   BERTH_KEEP_TMP=1  keep the temp dir (logs) after each test
# Daemons run with detect_leaks=0 appended to ASAN_OPTIONS (the last setting
# wins): LeakSanitizer needs ptrace, which the services' seccomp filters forbid.

BERTH_BUILD_DIR=${BERTH_BUILD_DIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
BERTH_SOURCE_DIR=${BERTH_SOURCE_DIR:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
BERTH_EXECD=${BERTH_EXECD:-$BERTH_BUILD_DIR/services/executor/berth-execd}
BERTH_APID=${BERTH_APID:-$BERTH_BUILD_DIR/services/api/berth-apid}
BERTH_IMAGED=${BERTH_IMAGED:-$BERTH_BUILD_DIR/services/image/berth-imaged}
BERTH_NETD=${BERTH_NETD:-$BERTH_BUILD_DIR/services/net/berth-netd}
BERTH_MONITOR=${BERTH_MONITOR:-$BERTH_BUILD_DIR/services/monitor/berth-monitor}
BERTH_CLI=${BERTH_CLI:-$BERTH_BUILD_DIR/cli/berth}

# Seconds to wait for the engine to answer (ASan builds start slower).
E2E_START_TIMEOUT=${E2E_START_TIMEOUT:-30}

BERTH_SUBID_START=1879048192
BERTH_IMAGED_ID_COUNT=65536

# Skips the calling test (or file, from setup_file) unless an engine can run
# here: root, the system users and range, the build tree's binaries, tools.
e2e_require_engine() {
  [[ $EUID -eq 0 ]] || skip "needs root: berth-execd demotes its services"
  local u
  for u in berth-api berth-net berth; do
    id "$u" >/dev/null 2>&1 || skip "user $u missing (run scripts/host-prereqs.sh)"
  done
  grep -q "^berth:$BERTH_SUBID_START:" /etc/subuid 2>/dev/null ||
    skip "no subordinate range berth:$BERTH_SUBID_START in /etc/subuid (run scripts/host-prereqs.sh)"
  local b
  for b in "$BERTH_EXECD" "$BERTH_APID" "$BERTH_IMAGED" "$BERTH_NETD"; do
    [[ -x $b ]] || skip "not built: $b (set BERTH_BUILD_DIR)"
  done
  command -v curl >/dev/null || skip "curl missing"
  command -v jq >/dev/null || skip "jq missing"
  command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate missing"
}

# Temp dir T with data/, run/ and lib/ (symlinks to the build tree's
# services). Search permission for the demoted services on the way down.
e2e_make_tmp() {
  T=$(mktemp -d /tmp/berth-e2e.XXXXXX)
  chmod 0755 "$T"
  mkdir -m 0755 "$T/lib" "$T/run"
  mkdir -m 0711 "$T/data"
  local b
  for b in "$BERTH_APID" "$BERTH_IMAGED" "$BERTH_NETD"; do
    ln -s "$(realpath "$b")" "$T/lib/$(basename "$b")"
  done
  # the per-container monitor, when built (execd opens it at start-up)
  [[ ! -x $BERTH_MONITOR ]] || ln -s "$(realpath "$BERTH_MONITOR")" "$T/lib/berth-monitor"
  SOCK=$T/run/berth.sock
  export T SOCK
}

# Runs berth-execd in the background with fd 3 (bats' output) closed, so
# that bats never waits for the daemon; records its pid in $T/execd.pid and,
# when it exits, its exit status in $T/execd.rc.
#   e2e_run_execd [wrapper args...] -- (the execd options are added here)
_e2e_spawn() {
  rm -f "$T/execd.pid" # a previous execd's pid must not be read as the new one's
  (
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
      "$@" </dev/null >>"$T/execd.log" 2>&1 &
    echo $! >"$T/execd.pid"
    # (bats runs with errexit: a bare `wait` of a non-zero exit would end
    # the subshell before execd.rc is written)
    rc=0
    wait $! || rc=$?
    echo $rc >"$T/execd.rc"
  ) 3>&- &
  local _
  for _ in $(seq 50); do [[ -s $T/execd.pid ]] && break; sleep 0.02; done
  EXECD_PID=$(cat "$T/execd.pid")
  export EXECD_PID
}

# E2E_CONFIG=FILE (set before starting the engine): execd gets --config FILE,
# which it passes through to every service (the image store's limits).
_e2e_execd_args() {
  echo --data-root "$T/data" --run-root "$T/run" --libexec-dir "$T/lib" ${E2E_CONFIG:+--config "$E2E_CONFIG"}
}

# Production shape: the socket is created by "systemd" (here
# systemd-socket-activate, which execs berth-execd on the first connection,
# keeping its pid) and passed as fd 3 named "api".
e2e_start_activated() {
  e2e_make_tmp
  # shellcheck disable=SC2046
  # systemd-socket-activate passes on only the variables named with -E.
  local pass=() v
  for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS BERTH_LOG_LEVEL; do pass+=(-E "$v"); done
  _e2e_spawn systemd-socket-activate -l "$SOCK" --fdname=api "${pass[@]}" "$BERTH_EXECD" $(_e2e_execd_args)
  e2e_wait_api || { e2e_show_log; return 1; }
}

# Started by hand: berth-execd creates RUN_ROOT/berth.sock itself.
e2e_start_manual() {
  e2e_make_tmp
  # shellcheck disable=SC2046
  _e2e_spawn "$BERTH_EXECD" $(_e2e_execd_args)
  e2e_wait_api || { e2e_show_log; return 1; }
}

# Waits until GET /_ping answers 200 on $SOCK (the first connection is what
# makes systemd-socket-activate exec berth-execd).
e2e_wait_api() {
  local deadline=$((SECONDS + E2E_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    [[ -e $T/execd.rc ]] && { echo "berth-execd exited ($(cat "$T/execd.rc"))"; return 1; }
    if [[ -S $SOCK ]] && curl -sf --max-time 5 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "no answer on $SOCK after ${E2E_START_TIMEOUT}s"
  return 1
}

# Waits (up to $2 seconds, default 10) until all three services are up.
e2e_wait_services() {
  local deadline=$((SECONDS + ${1:-10})) s ok
  while ((SECONDS < deadline)); do
    ok=1
    for s in berth-apid berth-imaged berth-netd; do
      e2e_svc_pid "$s" >/dev/null || ok=0
    done
    ((ok)) && return 0
    sleep 0.05
  done
  return 1
}

# The pid of one of our execd's services, by argv[0] (comm is not reliable
# for processes exec'd with execveat(AT_EMPTY_PATH)). Prints nothing and
# fails if the service is not running (or is still between fork and exec).
e2e_svc_pid() {
  local p a0
  for p in $(pgrep -P "$EXECD_PID"); do
    a0=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n 1)
    [[ ${a0##*/} == "$1" ]] && { echo "$p"; return 0; }
  done
  return 1
}

# One field of /proc/PID/status, whitespace squeezed: proc_status PID Uid
proc_status() {
  awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"
}

# curl on the engine's socket. api_get PATH [curl args...]: body on stdout.
api_get() {
  local path=$1
  shift
  curl -s --max-time 10 --unix-socket "$SOCK" "$@" "http://localhost$path"
}

# berth and the stock docker CLI ($DOCKER, pointed at $SOCK) with the same
# arguments: stdout (after the sed -E program NORM, which evens out what
# depends on the clock: the two run a moment apart), stderr and exit status
# must be equal.   same_as_docker_with NORM ARGS...
same_as_docker_with() {
  local norm=$1
  shift
  run --separate-stderr timeout -k 5 60 "$BERTH_CLI" "$@"
  local b_out b_err=$stderr b_status=$status
  b_out=$(sed -E "$norm" <<<"$output")
  run --separate-stderr timeout -k 5 60 env DOCKER_HOST="unix://$SOCK" DOCKER_CONFIG="$T/docker-config" "$DOCKER" "$@"
  local d_out d_err=$stderr d_status=$status
  d_out=$(sed -E "$norm" <<<"$output")
  echo "# berth|docker $*: status $b_status|$d_status"
  echo "$b_out" | head -n 20
  if [[ $b_out != "$d_out" || $b_err != "$d_err" || $b_status != "$d_status" ]]; then
    echo "# differs from docker:"
    diff <(echo "$b_out"; echo "$b_err") <(echo "$d_out"; echo "$d_err") | head -n 30
    return 1
  fi
}

# Status code of GET PATH.
api_status() {
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://localhost$1"
}

e2e_show_log() {
  echo "--- execd log ($T/execd.log, last 60 lines):"
  tail -n 60 "$T/execd.log" 2>/dev/null || true
}

# Sends SIGTERM to berth-execd and waits (up to $1 s, default 10) for its
# exit status in $T/execd.rc.
e2e_stop() {
  [[ -n ${EXECD_PID:-} && ! -e $T/execd.rc ]] || return 0
  kill -TERM "$EXECD_PID" 2>/dev/null || true
  local deadline=$((SECONDS + ${1:-10}))
  while ((SECONDS < deadline)); do
    [[ -e $T/execd.rc ]] && return 0
    sleep 0.05
  done
  return 1
}

# Teardown for every engine test: stop the engine (SIGKILL whatever is left
# of it), fail the test if a sanitizer reported anything, remove T.
e2e_teardown() {
  [[ -n ${T:-} && -d $T ]] || return 0
  local rc=0 kids
  if ! e2e_stop 10; then
    echo "berth-execd did not stop on SIGTERM; killing it"
    kids=$(pgrep -P "$EXECD_PID" || true)
    kill -KILL "$EXECD_PID" $kids 2>/dev/null || true
    rc=1
  fi
  if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/execd.log" 2>/dev/null; then
    echo "sanitizer report in $T/execd.log:"
    grep -E -A 30 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/execd.log" | head -n 80
    rc=1
  fi
  if [[ -n ${BERTH_KEEP_TMP:-} ]]; then
    echo "# kept $T" >&3
  else
    rm -rf "$T"
  fi
  return $rc
}
