#!/usr/bin/env bats
# A hostile peer in berth-apid's slot: berth-execd must answer every
# malformed or forbidden message with an Error or cut the peer off, restart
# it, and never go down itself; the real berth-imaged and berth-netd must
# not notice. The peer is tests/e2e/peer-inject.c; it walks through its
# cases across restarts and writes RUN_ROOT/inject/results.
#
# Needs root (execd demotes its services) and the build tree:
# BERTH_BUILD_DIR (default: ../../build relative to this file). Set
# BERTH_KEEP_TMP=1 to keep the temp dir (logs, results) for a post-mortem.

bats_require_minimum_version 1.5.0

setup_file() {
  [[ $EUID -eq 0 ]] || skip "needs root: berth-execd demotes its services"
  id berth-api >/dev/null 2>&1 && id berth-net >/dev/null 2>&1 ||
    skip "users berth-api/berth-net missing (run the setup script)"
  grep -q '^berth:' /etc/subuid 2>/dev/null || skip "no subordinate range for user berth in /etc/subuid"
  local build=${BERTH_BUILD_DIR:-$BATS_TEST_DIRNAME/../../build}
  export EXECD=$build/services/executor/berth-execd
  local inject=${BERTH_PEER_INJECT:-${BERTH_E2E_BUILD_DIR:-$build/tests/e2e}/peer-inject}
  [[ -x $EXECD && -x $inject ]] || skip "build tree not found (set BERTH_BUILD_DIR)"

  export T
  T=$(mktemp -d /tmp/berth-inject.XXXXXX)
  chmod 755 "$T"
  mkdir -p "$T/lib" "$T/data" "$T/run/inject"
  chmod 755 "$T/run"
  chown berth-api: "$T/run/inject" # the injector runs as berth-api
  install -m 0755 "$inject" "$T/lib/berth-apid"
  ln -s "$(realpath "$build/services/image/berth-imaged")" "$T/lib/berth-imaged"
  ln -s "$(realpath "$build/services/net/berth-netd")" "$T/lib/berth-netd"

  # Started by hand, like an administrator would; the subshell records the
  # exit code. fd 3 is closed so that bats does not wait for the daemon.
  (
    ASAN_OPTIONS=detect_leaks=0 "$EXECD" --data-root "$T/data" --run-root "$T/run" --libexec-dir "$T/lib" \
      </dev/null >"$T/execd.log" 2>&1 &
    echo $! >"$T/execd.pid"
    wait $!
    echo $? >"$T/execd.rc"
  ) 3>&- &

  # imaged and netd come up once and must stay the same processes throughout.
  for _ in $(seq 100); do
    [[ -s $T/execd.pid ]] && grep -q 'berth-imaged (pid [0-9]*) is up' "$T/execd.log" &&
      grep -q 'berth-netd (pid [0-9]*) is up' "$T/execd.log" && break
    sleep 0.1
  done
  grep -o 'berth-imaged (pid [0-9]*) is up' "$T/execd.log" | head -1 | tr -dc 0-9 >"$T/imaged.pid"
  grep -o 'berth-netd (pid [0-9]*) is up' "$T/execd.log" | head -1 | tr -dc 0-9 >"$T/netd.pid"

  # Each cut-off costs a restart with backoff (capped at 5 s).
  for _ in $(seq 1200); do
    grep -qx done "$T/run/inject/results" 2>/dev/null && break
    [[ -e $T/execd.rc ]] && break
    sleep 0.1
  done
}

teardown_file() {
  [[ -n ${T:-} && -d $T ]] || return 0
  if [[ -s $T/execd.pid && ! -e $T/execd.rc ]]; then
    kill -TERM "$(cat "$T/execd.pid")" 2>/dev/null || true
    for _ in $(seq 100); do [[ -e $T/execd.rc ]] && break; sleep 0.1; done
  fi
  [[ -n ${BERTH_KEEP_TMP:-} ]] || rm -rf "$T"
}

execd_pid() { cat "$T/execd.pid"; }

# A service of our execd by argv[0] (comm is not reliable: on older kernels,
# a process exec'd with execveat(fd, "", AT_EMPTY_PATH) is named after the fd).
svc_pid() {
  local p
  for p in $(pgrep -P "$(execd_pid)"); do
    [[ $(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -1) == "$1" ]] && { echo "$p"; return 0; }
  done
  return 1
}

show_log() {
  echo "--- results:"
  cat "$T/run/inject/results" 2>/dev/null || true
  echo "--- execd log (last 60 lines):"
  tail -n 60 "$T/execd.log"
}

@test "the hostile peer ran every case" {
  grep -qx done "$T/run/inject/results" || { show_log; false; }
  local n
  n=$(grep -c '^case ' "$T/run/inject/results")
  ((n >= 15)) || { show_log; false; }
}

@test "each hostile message got an Error reply or was cut off" {
  run grep '^case ' "$T/run/inject/results"
  [[ $status -eq 0 ]] || { show_log; false; }
  local bad
  bad=$(grep '^case ' "$T/run/inject/results" | grep -v ' ok (' || true)
  [[ -z $bad ]] || { echo "failed cases:"; echo "$bad"; show_log; false; }
  # the refusals are the executor's: its log says why for each kind
  grep -q 'may not send attach_peer' "$T/run/inject/results"
  grep -q 'protocol violation' "$T/execd.log"
  ! grep -Eq 'runtime error|AddressSanitizer' "$T/execd.log"
  grep -q 'got=accepted ok.*berth-imaged=running.*berth-netd=running' "$T/run/inject/results"
  # LayerCheck: a malformed chain id is EINVAL, a missing layer ENOENT naming it
  grep -q '^case layer-check-traversal .*errno 22: invalid layer chain id' "$T/run/inject/results"
  grep -q '^case layer-check-missing .*errno 2: layer sha256:0000.* is not in the image store' "$T/run/inject/results"
  grep -q '^case image-load-to-exec .*errno 1: api may not send image_load to exec' "$T/run/inject/results"
}

@test "berth-execd is the same process and still alive" {
  local pid
  pid=$(execd_pid)
  [[ ! -e $T/execd.rc ]] || { show_log; false; }
  kill -0 "$pid"
  [[ $(cat "/proc/$pid/comm") == berth-execd ]]
  # only one executor was ever started in this run
  [[ $(grep -o 'berth-execd\[[0-9]*\]' "$T/execd.log" | sort -u | wc -l) -eq 1 ]]
}

@test "the real berth-imaged and berth-netd were never restarted" {
  local pid svc
  for svc in imaged netd; do
    pid=$(cat "$T/$svc.pid")
    [[ -n $pid ]] || { show_log; false; }
    kill -0 "$pid"
    [[ $(svc_pid "berth-$svc") == "$pid" ]]
    ! grep -q "restarting berth-$svc" "$T/execd.log"
  done
}

@test "the apid slot was restarted after each cut-off and is demoted" {
  grep -q 'restarting berth-apid' "$T/execd.log"
  local pid
  pid=$(svc_pid berth-apid)
  [[ -n $pid ]]
  grep -Eq '^Uid:\s+'"$(id -u berth-api)"'\s' "/proc/$pid/status"
  grep -Eq '^CapEff:\s+0+$' "/proc/$pid/status"
  grep -Eq '^NoNewPrivs:\s+1$' "/proc/$pid/status"
}

@test "services inherit no fds beyond 0-3 (and the API socket at 4 for apid)" {
  # The injector lists its fds first thing after exec, on every (re)start.
  [[ -s $T/run/inject/fds ]]
  run sort -u "$T/run/inject/fds"
  [[ $output == "fds 0 1 2 3 4" ]] || { echo "injector saw: $output"; false; }
  # imaged/netd: beyond 0-3 only what they opened themselves (epoll,
  # signalfd, peer edges, imaged's store below DATA_ROOT/image); never
  # execd's API socket or any other file or directory.
  local apid api_sock pid name fd target
  apid=$(svc_pid berth-apid)
  api_sock=$(readlink "/proc/$apid/fd/4")
  [[ $api_sock == socket:* ]]
  for name in berth-imaged berth-netd; do
    pid=$(svc_pid "$name")
    [[ $(readlink "/proc/$pid/fd/3") == socket:* ]]
    for fd in /proc/"$pid"/fd/*; do
      ((${fd##*/} > 3)) || continue
      target=$(readlink "$fd") || continue
      [[ $target == anon_inode:* || ($target == socket:* && $target != "$api_sock") ]] ||
        [[ $name == berth-imaged && ($target == "$T/data/image" || $target == "$T/data/image/"*) ]] ||
        { echo "$name: unexpected fd ${fd##*/} -> $target"; false; }
    done
  done
}

@test "SIGTERM stops every service and berth-execd exits 0" {
  local pid
  pid=$(execd_pid)
  kill -TERM "$pid"
  for _ in $(seq 100); do [[ -e $T/execd.rc ]] && break; sleep 0.1; done
  [[ -e $T/execd.rc ]] || { show_log; false; }
  [[ $(cat "$T/execd.rc") -eq 0 ]] || { show_log; false; }
  ! pgrep -P "$pid" >/dev/null
  for svc in imaged netd; do ! kill -0 "$(cat "$T/$svc.pid")" 2>/dev/null; done
  [[ ! -e $T/run/berth.sock ]]
}
