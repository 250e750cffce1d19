#!/usr/bin/env bats
# The foundation, end to end: berth-execd started the way systemd starts it
# (socket activation on a temporary socket), its three services demoted as
# the contract says (read from /proc/PID/status, not from the engine),
# restarts after kill -9, clean stop on SIGTERM, version routing, the berth
# CLI and the stock docker CLI. Each test gets its own hermetic engine.

bats_require_minimum_version 1.5.0
load helpers

NO_CAPS=0000000000000000
NET_ADMIN=0000000000001000
# CHOWN DAC_OVERRIDE FOWNER FSETID MKNOD SETFCAP: what unpacking layers needs
IMAGED_BND=000000008800001b

setup() {
  e2e_require_engine
  e2e_start_activated
  e2e_wait_running || { e2e_show_log; false; }
}

teardown() {
  e2e_teardown
}

# Waits until the engine reports all three services running (they said
# Hello and passed execd's /proc check) with the pids pgrep finds.
e2e_wait_running() {
  local deadline=$((SECONDS + ${1:-15})) doc
  while ((SECONDS < deadline)); do
    if e2e_wait_services 1 &&
      doc=$(api_get /berth/v1/services) &&
      [[ $(jq '[.Services[] | select(.State == "running")] | length' <<<"$doc" 2>/dev/null) == 3 ]] &&
      [[ $(jq -r '.Services[] | select(.Name == "berth-apid") | .Pid' <<<"$doc") == "$(e2e_svc_pid berth-apid)" ]] &&
      [[ $(jq -r '.Services[] | select(.Name == "berth-imaged") | .Pid' <<<"$doc") == "$(e2e_svc_pid berth-imaged)" ]] &&
      [[ $(jq -r '.Services[] | select(.Name == "berth-netd") | .Pid' <<<"$doc") == "$(e2e_svc_pid berth-netd)" ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "services not all running: $(api_get /berth/v1/services)"
  return 1
}

# Inode of the listening unix socket bound to path $1 (/proc/net/unix also
# lists accepted connections under the listener's path; the listener is the
# one with __SO_ACCEPTCON in Flags).
listening_inode() {
  awk -v p="$1" '$8 == p && $4 == "00010000" { print $7 }' /proc/net/unix | head -n 1
}

# Every id of a Uid:/Gid: line (real, effective, saved, fs) equals $2.
all_ids_are() {
  local ids
  read -ra ids <<<"$1"
  [[ ${#ids[@]} -eq 4 ]] || return 1
  local i
  for i in "${ids[@]}"; do [[ $i == "$2" ]] || return 1; done
}

check_hardened() {  # pid: no_new_privs and a seccomp filter
  [[ $(proc_status "$1" NoNewPrivs) == 1 ]]
  [[ $(proc_status "$1" Seccomp) == 2 ]]
}

@test "berth-execd runs as root and took the activated socket" {
  [[ $(proc_status "$EXECD_PID" Uid) == "0 0 0 0" ]]
  [[ $(readlink "/proc/$EXECD_PID/exe") == "$(realpath "$BERTH_EXECD")" ]]
  grep -q 'socket-activated' "$T/execd.log"
  # the activated socket is the one execd holds
  local inode
  inode=$(listening_inode "$SOCK")
  [[ -n $inode ]]
  ls -l "/proc/$EXECD_PID/fd" | grep -q "socket:\[$inode\]"
}

@test "berth-apid: user berth-api, no capabilities, no_new_privs, seccomp filter" {
  local pid uid gid
  pid=$(e2e_svc_pid berth-apid)
  uid=$(id -u berth-api)
  gid=$(id -g berth-api)
  all_ids_are "$(proc_status "$pid" Uid)" "$uid"
  all_ids_are "$(proc_status "$pid" Gid)" "$gid"
  [[ -z $(proc_status "$pid" Groups) ]]
  local c
  for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    [[ $(proc_status "$pid" $c) == "$NO_CAPS" ]] || { echo "$c $(proc_status "$pid" $c)"; false; }
  done
  check_hardened "$pid"
  # host user namespace: a plain unprivileged user
  [[ $(readlink "/proc/$pid/ns/user") == "$(readlink /proc/self/ns/user)" ]]
}

@test "berth-netd: user berth-net, exactly CAP_NET_ADMIN, no_new_privs, seccomp filter" {
  local pid uid gid
  pid=$(e2e_svc_pid berth-netd)
  uid=$(id -u berth-net)
  gid=$(id -g berth-net)
  all_ids_are "$(proc_status "$pid" Uid)" "$uid"
  all_ids_are "$(proc_status "$pid" Gid)" "$gid"
  [[ -z $(proc_status "$pid" Groups) ]]
  local c
  for c in CapPrm CapEff CapBnd; do
    [[ $(proc_status "$pid" $c) == "$NET_ADMIN" ]] || { echo "$c $(proc_status "$pid" $c)"; false; }
  done
  # it arrived through the ambient set; netd dropped that (and inheritable) itself
  [[ $(proc_status "$pid" CapInh) == "$NO_CAPS" ]]
  [[ $(proc_status "$pid" CapAmb) == "$NO_CAPS" ]]
  check_hardened "$pid"
  [[ $(readlink "/proc/$pid/ns/user") == "$(readlink /proc/self/ns/user)" ]]
}

@test "berth-imaged: root only in its own user namespace, mapped onto berth's range" {
  local pid
  pid=$(e2e_svc_pid berth-imaged)
  # its own user namespace: whatever capabilities it has there are
  # worthless in the initial namespace
  [[ $(readlink "/proc/$pid/ns/user") != "$(readlink /proc/self/ns/user)" ]]
  [[ $(awk '{ print $1, $2, $3 }' "/proc/$pid/uid_map") == "0 $BERTH_SUBID_START $BERTH_IMAGED_ID_COUNT" ]]
  [[ $(awk '{ print $1, $2, $3 }' "/proc/$pid/gid_map") == "0 $BERTH_SUBID_START $BERTH_IMAGED_ID_COUNT" ]]
  [[ $(wc -l <"/proc/$pid/uid_map") -eq 1 && $(wc -l <"/proc/$pid/gid_map") -eq 1 ]]
  # seen from the host it is the first id of the range, never root
  all_ids_are "$(proc_status "$pid" Uid)" "$BERTH_SUBID_START"
  all_ids_are "$(proc_status "$pid" Gid)" "$BERTH_SUBID_START"
  [[ -z $(proc_status "$pid" Groups) ]]
  # inside its namespace: at most what unpacking needs
  [[ $(proc_status "$pid" CapBnd) == "$IMAGED_BND" ]]
  local c v
  for c in CapPrm CapEff CapInh CapAmb; do
    v=$(proc_status "$pid" $c)
    (((0x$v & ~0x$IMAGED_BND) == 0)) || { echo "$c $v"; false; }
  done
  check_hardened "$pid"
}

@test "services inherit no fds beyond 0-3 (and the API socket at 4 for apid)" {
  local api_inode
  api_inode=$(listening_inode "$SOCK")
  [[ -n $api_inode ]]
  # Socket and pipe inodes execd holds: none may show up in a service, except
  # the listening socket at apid's fd 4.
  local execd_objs
  # (0-2 excepted: the services share execd's stdio, a file here and the
  # journal's socket under systemd.)
  execd_objs=$(for fd in /proc/"$EXECD_PID"/fd/*; do
    ((${fd##*/} > 2)) && readlink "$fd"
  done | grep -E '^(socket|pipe):' | sort -u)
  local name pid fd n target seen
  for name in berth-apid berth-imaged berth-netd; do
    pid=$(e2e_svc_pid "$name")
    seen=()
    for fd in /proc/"$pid"/fd/*; do
      n=${fd##*/}
      target=$(readlink "$fd") || continue
      seen+=("$n")
      case $n in
      0 | 1 | 2) [[ $target != "socket:[$api_inode]" ]] || { echo "$name: fd $n -> $target"; false; } ;;
      3) [[ $target == socket:* && $target != "socket:[$api_inode]" ]] || { echo "$name: fd 3 -> $target"; false; } ;;
      4)
        if [[ $name == berth-apid ]]; then
          [[ $target == "socket:[$api_inode]" ]] || { echo "$name: fd 4 -> $target"; false; }
          continue
        fi
        ;;
      esac
      ((n > 2)) || continue
      # beyond that only what the service opened itself: its own event
      # loop fds and its own end of the peer edges; imaged also its store
      # (files below DATA_ROOT/image, which it opens after its start-up
      # check that nothing but 0-3 was inherited), apid its container
      # records (DATA_ROOT/api/containers.db*)
      [[ $target == anon_inode:* || $target == socket:* || $target == pipe:* ]] ||
        [[ $name == berth-imaged && ($target == "$T/data/image" || $target == "$T/data/image/"*) ]] ||
        [[ $name == berth-apid && $target == "$T/data/api/"* ]] ||
        { echo "$name: fd $n -> $target (a file or directory)"; false; }
      [[ $target != "socket:[$api_inode]" ]] || { echo "$name: fd $n is the API socket"; false; }
      if [[ $target == socket:* || $target == pipe:* ]]; then
        ! grep -qxF "$target" <<<"$execd_objs" || { echo "$name: fd $n -> $target is shared with berth-execd"; false; }
      fi
    done
    seen=($(printf '%s\n' "${seen[@]}" | sort -n))
    echo "$name fds: ${seen[*]}"
    [[ "${seen[*]} " == "0 1 2 3 "* ]]
  done
}

@test "GET and HEAD /_ping answer 200 OK with Api-Version 1.41 through the activated socket" {
  local headers
  headers=$(curl -s --max-time 10 --unix-socket "$SOCK" -D - -o "$T/ping.body" http://localhost/_ping)
  echo "$headers"
  grep -q '^HTTP/1.1 200' <<<"$headers"
  grep -qi '^Api-Version: 1.41' <<<"$headers"
  grep -qi '^Ostype: linux' <<<"$headers"
  grep -qi '^Server: ' <<<"$headers"
  [[ $(cat "$T/ping.body") == OK ]]
  headers=$(curl -s --max-time 10 --unix-socket "$SOCK" -I http://localhost/_ping)
  grep -q '^HTTP/1.1 200' <<<"$headers"
  grep -qi '^Api-Version: 1.41' <<<"$headers"
}

@test "GET /berth/v1/services matches what /proc says" {
  local doc name pid
  doc=$(api_get /berth/v1/services)
  echo "$doc" | jq .
  [[ $(jq -r '.Executor.Pid' <<<"$doc") == "$EXECD_PID" ]]
  [[ $(jq -r '.Executor.Uid' <<<"$doc") == 0 ]]
  [[ $(jq '.Services | length' <<<"$doc") == 3 ]]
  for name in berth-apid berth-imaged berth-netd; do
    pid=$(e2e_svc_pid "$name")
    local s
    s=$(jq -c --arg n "$name" '.Services[] | select(.Name == $n)' <<<"$doc")
    [[ $(jq -r .Pid <<<"$s") == "$pid" ]]
    [[ $(jq -r .Uid <<<"$s") == "$(proc_status "$pid" Uid | cut -f1 -d' ')" ]]
    [[ $(jq -r .Gid <<<"$s") == "$(proc_status "$pid" Gid | cut -f1 -d' ')" ]]
    [[ $(jq -r .CapEff <<<"$s") == "$(proc_status "$pid" CapEff)" ]]
    [[ $(jq -r .CapPrm <<<"$s") == "$(proc_status "$pid" CapPrm)" ]]
    [[ $(jq -r .CapBnd <<<"$s") == "$(proc_status "$pid" CapBnd)" ]]
    [[ $(jq -r .Seccomp <<<"$s") == 2 ]]
    [[ $(jq -r .NoNewPrivs <<<"$s") == true ]]
    [[ $(jq -r .State <<<"$s") == running ]]
  done
  [[ $(jq -r '.Services[] | select(.Name == "berth-imaged") | .OwnUserNamespace' <<<"$doc") == true ]]
  [[ $(jq -r '.Services[] | select(.Name == "berth-imaged") | .UidMap' <<<"$doc" | tr -s ' ') == "0 $BERTH_SUBID_START $BERTH_IMAGED_ID_COUNT" ]]
  [[ $(jq -r '.Services[] | select(.Name == "berth-apid") | .OwnUserNamespace' <<<"$doc") == false ]]
  # also under a version prefix
  [[ $(api_get /v1.41/berth/v1/services | jq '.Services | length') == 3 ]]
}

@test "kill -9 of each service: restarted within 2 s, the API answers, same executor" {
  local name old new t0 i
  for name in berth-apid berth-imaged berth-netd; do
    old=$(e2e_svc_pid "$name")
    [[ -n $old ]]
    t0=$(date +%s%N)
    kill -KILL "$old"
    new=
    for i in $(seq 200); do
      new=$(e2e_svc_pid "$name" || true)
      [[ -n $new && $new != "$old" ]] && break
      new=
      sleep 0.01
    done
    echo "$name: $old -> ${new:-none} after $((($(date +%s%N) - t0) / 1000000)) ms"
    [[ -n $new ]] || { e2e_show_log; false; }
    (($(date +%s%N) - t0 < 2000000000))
    # the executor is the same process, alive
    kill -0 "$EXECD_PID"
    [[ ! -e $T/execd.rc ]]
    [[ $(readlink "/proc/$EXECD_PID/exe") == "$(realpath "$BERTH_EXECD")" ]]
    # the API answers, and the engine saw the restart
    e2e_wait_running 10 || { e2e_show_log; false; }
    [[ $(api_get /_ping) == OK ]]
    [[ $(api_get /berth/v1/services | jq --arg n "$name" '.Services[] | select(.Name == $n) | .Restarts') -ge 1 ]]
    # and the new process is demoted like the first one
    check_hardened "$new"
  done
  [[ $(api_get /berth/v1/services | jq -r .Executor.Pid) == "$EXECD_PID" ]]
}

@test "SIGTERM: berth-execd and every service exit within 5 s, exit status 0" {
  local pids name
  pids=()
  for name in berth-apid berth-imaged berth-netd; do pids+=("$(e2e_svc_pid "$name")"); done
  e2e_stop 5 || { e2e_show_log; false; }
  [[ $(cat "$T/execd.rc") -eq 0 ]] || { e2e_show_log; false; }
  local p
  for p in "${pids[@]}"; do
    [[ ! -e /proc/$p ]] || [[ $(proc_status "$p" State) == Z* ]] || { echo "pid $p still there"; false; }
  done
  # the activated socket belongs to systemd: execd must leave it in place
  [[ -S $SOCK ]]
}

@test "API versions: unversioned, /v1.41 and /v1.24 agree; too new is 400, unknown is 404" {
  local a b c
  a=$(api_get /version | jq -S 'del(.BuildTime)')
  b=$(api_get /v1.41/version | jq -S 'del(.BuildTime)')
  c=$(api_get /v1.24/version | jq -S 'del(.BuildTime)')
  echo "$a"
  [[ -n $a && $a == "$b" && $a == "$c" ]]
  [[ $(jq -r .ApiVersion <<<"$a") == 1.41 ]]
  [[ $(jq -r .MinAPIVersion <<<"$a") == 1.12 ]]
  [[ $(jq -r .Os <<<"$a") == linux ]]
  [[ $(api_status /v1.99/version) == 400 ]]
  [[ -n $(api_get /v1.99/version | jq -re .message) ]]
  [[ $(api_status /nope) == 404 ]]
  [[ -n $(api_get /nope | jq -re .message) ]]
  [[ $(api_status /v1.41/nope) == 404 ]]
}

@test "berth CLI: version shows the server, info shows the services, --help everywhere" {
  [[ -x $BERTH_CLI ]] || skip "not built: $BERTH_CLI"
  run "$BERTH_CLI" -H "unix://$SOCK" version
  echo "$output"
  [[ $status -eq 0 ]]
  grep -qi 'server' <<<"$output"
  grep -q "$(api_get /version | jq -r .Version)" <<<"$output"
  grep -q '1\.41' <<<"$output"

  # BERTH_HOST works as well as -H
  export BERTH_HOST=unix://$SOCK
  run "$BERTH_CLI" info
  unset BERTH_HOST
  echo "$output"
  [[ $status -eq 0 ]]
  local name
  for name in berth-apid berth-imaged berth-netd; do
    grep -q "$name" <<<"$output"
    grep -q "$(e2e_svc_pid "$name")" <<<"$output"
  done

  local cmd
  for cmd in "" version info; do
    # shellcheck disable=SC2086
    run "$BERTH_CLI" $cmd --help
    echo "berth $cmd --help: $output"
    [[ $status -eq 0 ]]
    grep -qi 'usage' <<<"$output"
  done
}

@test "stock docker CLI: docker version shows berth's server section, docker info works" {
  local docker=/usr/local/bin/docker
  [[ -x $docker ]] || skip "no docker CLI at $docker"
  export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$T/docker-config
  local version
  version=$(api_get /version | jq -r .Version)
  run "$docker" version
  echo "$output"
  [[ $status -eq 0 ]]
  # the Server: section comes from berth, at API 1.41
  sed -n '/^Server:/,$p' <<<"$output" >"$T/server-section"
  [[ -s $T/server-section ]]
  grep -Eq "Version:[[:space:]]+$version" "$T/server-section"
  grep -Eq 'API version:[[:space:]]+1\.41' "$T/server-section"
  run "$docker" info
  echo "$output"
  [[ $status -eq 0 ]]
  grep -q '^Server:' <<<"$output"
  ! grep -Eiq '^errors?\b' <<<"$output"
}

@test "started by hand, berth-execd creates RUN_ROOT/berth.sock itself (mode 0660)" {
  # replace the activated engine of setup() with one started by hand
  e2e_teardown
  e2e_start_manual
  e2e_wait_running || { e2e_show_log; false; }
  [[ -S $T/run/berth.sock ]]
  [[ $(stat -c '%a %U' "$T/run/berth.sock") == "660 root" ]]
  ! grep -q 'socket-activated' "$T/execd.log"
  [[ $(api_get /_ping) == OK ]]
  # on SIGTERM it removes the socket it made
  e2e_stop 5
  [[ $(cat "$T/execd.rc") -eq 0 ]]
  [[ ! -e $T/run/berth.sock ]]
}

@test "sd_notify: READY=1 once, only after all three services said Hello" {
  e2e_teardown
  e2e_make_tmp
  # A NOTIFY_SOCKET like systemd's: a datagram socket; each message is
  # written to $T/notify with the pids of running services at that moment.
  cat >"$T/notify.py" <<'PY'
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(out, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        names = []
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    argv0 = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
                except OSError:
                    continue
                if argv0 in ("berth-apid", "berth-imaged", "berth-netd"):
                    names.append(argv0)
        f.write(f"{msg.replace(chr(10), ' ')}|{','.join(sorted(set(names)))}\n")
PY
  python3 "$T/notify.py" "$T/notify.sock" "$T/notify" 3>&- &
  local py=$!
  for _ in $(seq 50); do [[ -S $T/notify.sock ]] && break; sleep 0.05; done
  NOTIFY_SOCKET=$T/notify.sock _e2e_spawn "$BERTH_EXECD" $(_e2e_execd_args)
  e2e_wait_api || { e2e_show_log; kill "$py"; false; }
  e2e_wait_running || { e2e_show_log; kill "$py"; false; }
  # a restart must not send READY again
  kill -9 "$(e2e_svc_pid berth-netd)"
  e2e_wait_running || { e2e_show_log; kill "$py"; false; }
  sleep 0.3
  kill "$py"
  cat "$T/notify"
  [[ $(grep -c 'READY=1' "$T/notify") -eq 1 ]]
  # when READY=1 came, all three services were there and had said Hello
  grep 'READY=1' "$T/notify" | grep -q '|berth-apid,berth-imaged,berth-netd$'
  grep 'READY=1' "$T/notify" | grep -q 'berth-apid running, berth-imaged running, berth-netd running'
  # and no earlier message claimed readiness
  [[ $(grep -n 'READY=1' "$T/notify" | cut -d: -f1) -eq \
     $(grep -n 'berth-apid running, berth-imaged running, berth-netd running' "$T/notify" | head -n1 | cut -d: -f1) ]]
  # and the STATUS text moved on after the restart
  [[ $(grep -c 'STATUS=' "$T/notify") -ge 2 ]]
}
