#!/usr/bin/env bats
# The executor's container operations on a real berth-execd, driven by
# tests/e2e/ctr-driver.c in berth-apid's slot (the real apid's container API
# is tested through the docker CLI in containers-*.bats). The busybox image
# is built offline and loaded by a real engine first; the same data root is
# then served by an execd whose "apid" is the driver. Every check looks at
# the real thing: /proc, cgroupfs, the container's directory on disk.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  EXC_SKIP=$(
    skip() { printf '%s' "${*:-skipped}"; exit 0; }
    e2e_require_engine
    [[ -x $BERTH_CLI ]] || skip "not built: $BERTH_CLI"
    [[ -x /bin/busybox ]] || skip "/bin/busybox missing (apt-get install busybox-static)"
    command -v python3 >/dev/null || skip "python3 missing"
  )
  export EXC_SKIP
  [[ -z $EXC_SKIP ]] || return 0
  export DRV=${BERTH_E2E_BUILD_DIR:-$BERTH_BUILD_DIR/tests/e2e}/ctr-driver
  export MONITOR=$BERTH_BUILD_DIR/services/monitor/berth-monitor
  [[ -x $DRV && -x $MONITOR ]] || { EXC_SKIP="not built: $DRV or $MONITOR"; return 0; }
  # A real engine loads busybox into the store...
  local tar
  tar=$(mktemp /tmp/berth-bb.XXXXXX.tar)
  "$BERTH_SOURCE_DIR/scripts/make-busybox-image.sh" "$tar" >/dev/null
  e2e_start_manual
  "$BERTH_CLI" -H "unix://$SOCK" load -i "$tar" >/dev/null || { e2e_show_log; return 1; }
  rm -f "$tar"
  e2e_stop
  # ...which an execd with the driver as its apid then serves.
  rm -f "$T/lib/berth-apid" "$T/execd.rc" "$T/execd.pid"
  install -m 0755 "$DRV" "$T/lib/berth-apid"
  ln -sf "$(realpath "$MONITOR")" "$T/lib/berth-monitor"
  install -d -o berth-api -g berth-api "$T/run/drv"
  LAYER=sha256:$(ls "$T/data/image/layers")
  export LAYER
  start_execd
}

setup() {
  [[ -z ${EXC_SKIP:-} ]] || skip "$EXC_SKIP"
  EXECD_PID=$(cat "$T/execd.pid") # tests restart it
}

teardown_file() {
  [[ -z ${EXC_SKIP:-} ]] || return 0
  EXECD_PID=$(cat "$T/execd.pid")
  for id in $(ls "$T/data/containers" 2>/dev/null); do
    drv signal "$id" 9 >/dev/null 2>&1 || true
  done
  sleep 0.5
  for id in $(ls "$T/data/containers" 2>/dev/null); do
    drv delete "$id" >/dev/null 2>&1 || true
  done
  e2e_teardown
}

start_execd() {
  rm -f "$T/run/drv/sock" "$T/execd.rc"
  # shellcheck disable=SC2046
  _e2e_spawn "$BERTH_EXECD" $(_e2e_execd_args)
  local _
  for _ in $(seq 200); do
    [[ -S $T/run/drv/sock ]] && return 0
    [[ -e $T/execd.rc ]] && break
    sleep 0.05
  done
  e2e_show_log
  return 1
}

# drv COMMAND ID [ARGS...]: the driver's answer on stdout; fails on "error".
drv() {
  "$DRV" -s "$T/run/drv/sock" "$@"
}

newid() {
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# state ID FIELD: one field of the ContainerState answer
state() {
  drv state "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# The channel log of ID (ctr-driver.c); waits for the exit message.
chan() { cat "$T/run/drv/$1.chan" 2>/dev/null; }
wait_exit() {
  local _
  for _ in $(seq 200); do
    grep -q '^x ' "$T/run/drv/$1.chan" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "no exit message for $1:"
  chan "$1"
  return 1
}

# run_ctr ID ARGS...: create + start busybox with arg=... entries from ARGS
# (key=value pass through), wait for the exit; output in chan.
run_ctr() {
  local id=$1
  shift
  drv create "$id" >/dev/null
  drv start "$id" layer="$LAYER" "$@"
}

# Output bytes of a finished container, \x0a as newlines, 'o ' prefixes dropped.
out() {
  sed -n 's/^o //p' "$T/run/drv/$1.chan" | tr -d '\n' | sed 's/\\x0a/\n/g; s/\\x0d//g; s/\\x09/\t/g'
}

cgroup_dirs() {
  ls -d /sys/fs/cgroup/*/berth/"$1" /sys/fs/cgroup/berth/"$1" /sys/fs/cgroup/*/berth.slice/berth-"$1".scope 2>/dev/null || true
}

@test "start-up: DATA_ROOT/api for apid (0700 berth-api), DATA_ROOT/containers (0711 root)" {
  [[ $(stat -c '%a %U' "$T/data/api") == "700 berth-api" ]]
  [[ $(stat -c '%a %U' "$T/data/containers") == "711 root" ]]
}

@test "create: the container's directory, its own id block, EEXIST, bad ids, host ids" {
  local a b h
  a=$(newid) b=$(newid) h=$(newid)
  run drv create "$a"
  [[ $status -eq 0 && $output == *status=created* ]]
  local base
  base=$(state "$a" uid_base)
  ((base >= BERTH_SUBID_START + 65536 && (base - BERTH_SUBID_START) % 65536 == 0))
  local d=$T/data/containers/$a
  [[ $(stat -c '%a %U' "$d") == "711 root" ]]
  [[ $(stat -c '%a %u %g' "$d/upper") == "755 $base $base" ]]
  [[ $(stat -c '%a %U' "$d/work") == "700 root" ]]
  [[ $(stat -c '%a %U' "$d/mon") == "700 berth" ]]
  [[ -d $d/rootfs && -d $d/etc ]]
  drv create "$b" >/dev/null
  [[ $(state "$b" uid_base) != "$base" ]]
  run drv create "$a"
  [[ $status -ne 0 && $output == "error 17 container $a already exists" ]]
  for bad in short "${a^^}" "../../../../etc" "$a/x" ""; do
    run drv create "$bad"
    [[ $status -ne 0 && $output == "error 22 invalid container id"* ]] || { echo "$bad: $output"; false; }
  done
  drv create "$h" host >/dev/null
  [[ $(state "$h" uid_base) == 0 ]]
  run drv state "$(newid)"
  [[ $output == "error 2 No such container: "* ]]
  drv delete "$a" && drv delete "$b" && drv delete "$h"
  [[ ! -e $d ]]
}

@test "start: busybox echo hi through the monitor: channel h/o/x, json log, state exited 0" {
  local id
  id=$(newid)
  run run_ctr "$id" arg=/bin/busybox arg=echo arg=hi
  [[ $status -eq 0 && $output == *status=running* ]]
  wait_exit "$id"
  chan "$id"
  [[ $(sed -n 1p "$T/run/drv/$id.chan") == "h "* ]]
  grep -qx 'o hi\\x0a' "$T/run/drv/$id.chan"
  grep -q '^x 0 0 ' "$T/run/drv/$id.chan"
  [[ $(state "$id" status) == exited && $(state "$id" exit) == 0 ]]
  run drv log "$id" 0
  [[ $output == *'{"log":"hi\n","stream":"stdout","time":"'* ]]
  run drv log "$id" 1
  [[ $output == "error 2 container $id has no log file 1" ]]
  drv delete "$id"
}

@test "isolation: pid 1, hostname, requested CapEff, no_new_privs, uid_map, fds 0-2, masked and read-only paths" {
  local id caps=00000000a80425fb
  id=$(newid)
  run_ctr "$id" hostname=box1 caps=0x$caps arg=/bin/sh arg=-c arg='echo pid=$$; hostname; grep -E "^(Cap|NoNewPrivs)" /proc/self/status; cat /proc/self/uid_map; ls /proc/self/fd; cat /proc/keys; ls /sys/firmware | wc -l; echo > /proc/sys/kernel/hostname; echo done' >/dev/null
  wait_exit "$id"
  local o
  o=$(out "$id")
  echo "$o"
  grep -qx 'pid=1' <<<"$o"
  grep -qx 'box1' <<<"$o"
  grep -qP "^CapEff:\t$caps$" <<<"$o"
  grep -qP "^CapBnd:\t$caps$" <<<"$o"
  grep -qP "^CapAmb:\t0+$" <<<"$o"
  grep -qP "^CapInh:\t0+$" <<<"$o"
  grep -qP "^NoNewPrivs:\t1$" <<<"$o"
  grep -qE "^ +0 +$(state "$id" uid_base) +65536$" <<<"$o"
  # ls /proc/self/fd lists 0 1 2 and its own directory fd (3)
  [[ $(grep -xE '[0-9]+' <<<"$o" | tr '\n' ' ') == "0 1 2 3 0 " ]]
  ! grep -q '^o .*keyring' "$T/run/drv/$id.chan"
  grep -q '^e .*hostname: Read-only file system' "$T/run/drv/$id.chan"
  grep -qx done <<<"$o"
  drv delete "$id"
}

@test "root filesystem: layers idmapped (image root = container root = uid_base on the host), upper owned by uid_base" {
  local id base pid
  id=$(newid)
  run_ctr "$id" arg=/bin/sh arg=-c arg='stat -c "%u %g" /bin/busybox; touch /newfile; mkdir /newdir; exec sleep 1000' >/dev/null
  base=$(state "$id" uid_base)
  pid=$(state "$id" pid)
  local _
  for _ in $(seq 100); do [[ -e $T/data/containers/$id/upper/newdir ]] && break; sleep 0.05; done
  # on disk: imaged's root (the berth range's first id); in the container: 0; through its root: uid_base
  [[ $(stat -c %u "$T/data/image/layers/${LAYER#sha256:}/diff/bin/busybox") == "$BERTH_SUBID_START" ]]
  grep -qx 'o 0 0\\x0a' "$T/run/drv/$id.chan"
  [[ $(stat -c '%u %g' "/proc/$pid/root/bin/busybox") == "$base $base" ]]
  [[ $(stat -c '%u %g' "$T/data/containers/$id/upper/newfile") == "$base $base" ]]
  [[ $(stat -c '%u' "$T/data/containers/$id/upper/newdir") == "$base" ]]
  # the overlay lives in the container's mount namespace only
  ! grep -q "$T/data/containers/$id/rootfs" /proc/self/mountinfo
  grep -qE '^[0-9]+ [0-9]+ [0-9:]+ / / .* - overlay overlay ' "/proc/$pid/mountinfo"
  [[ $(state "$id" status) == running ]]
  drv signal "$id" 9
  wait_exit "$id"
  [[ $(state "$id" exit) == 137 ]]
  drv delete "$id"
}

@test "processes: the monitor is not execd's child, runs as berth without capabilities, in the container's cgroups with the limits" {
  local id pid mon
  id=$(newid)
  run_ctr "$id" mem=67108864 pids=20 shares=512 quota=50000 period=100000 cpus=0 arg=/bin/sleep arg=1000 >/dev/null
  pid=$(state "$id" pid)
  mon=$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")
  [[ $(tr '\0' ' ' <"/proc/$mon/cmdline") == "berth-monitor --id $id --pid $pid "* ]]
  [[ $(awk '/^PPid:/ {print $2}' "/proc/$mon/status") != "$EXECD_PID" ]]
  [[ $(stat -c %U "/proc/$mon") == berth ]]
  [[ $(proc_status "$mon" CapEff) == 0000000000000000 && $(proc_status "$mon" CapBnd) == 0000000000000000 ]]
  [[ $(proc_status "$mon" NoNewPrivs) == 1 ]]
  local p c
  for p in "$pid" "$mon"; do
    if [[ -d /sys/fs/cgroup/memory ]]; then
      for c in memory pids cpu cpuset; do
        grep -qE "^[0-9]+:([a-z,]*,)?$c(,[a-z,]*)?:/berth/$id\$" "/proc/$p/cgroup" || { cat "/proc/$p/cgroup"; false; }
      done
    else
      grep -qx "0::/berth/$id" "/proc/$p/cgroup"
    fi
  done
  if [[ -d /sys/fs/cgroup/memory ]]; then
    [[ $(cat /sys/fs/cgroup/memory/berth/$id/memory.limit_in_bytes) == 67108864 ]]
    [[ $(cat /sys/fs/cgroup/pids/berth/$id/pids.max) == 21 ]]
    [[ $(cat /sys/fs/cgroup/cpu/berth/$id/cpu.shares) == 512 ]]
    [[ $(cat /sys/fs/cgroup/cpu/berth/$id/cpu.cfs_quota_us) == 50000 ]]
    [[ $(cat /sys/fs/cgroup/cpuset/berth/$id/cpuset.cpus) == 0 ]]
  else
    [[ $(cat /sys/fs/cgroup/berth/$id/memory.max) == 67108864 ]]
    [[ $(cat /sys/fs/cgroup/berth/$id/pids.max) == 21 ]]
    [[ $(cat /sys/fs/cgroup/berth/$id/cpu.max) == "50000 100000" ]]
  fi
  drv signal "$id" 9
  wait_exit "$id"
  run drv delete "$id"
  [[ $status -eq 0 ]]
  [[ -z $(cgroup_dirs "$id") ]]
  [[ ! -e $T/data/containers/$id ]]
}

@test "signal: a trapped TERM gives its exit code; bad signals, not running: errors; delete refused while running" {
  local id
  id=$(newid)
  run_ctr "$id" arg=/bin/sh arg=-c arg='trap "echo term; exit 3" TERM; echo ready; while :; do sleep 0.1; done' >/dev/null
  local _
  for _ in $(seq 100); do grep -q '^o ready' "$T/run/drv/$id.chan" && break; sleep 0.05; done
  run drv delete "$id"
  [[ $output == "error 16 container $id is running: stop it before removing it" ]]
  run drv start "$id" layer="$LAYER" arg=/bin/true
  [[ $output == "error 16 container $id is already running" ]]
  for s in 0 65 -1; do
    run drv signal "$id" "$s"
    [[ $output == "error 22 invalid signal $s: expected 1..64" ]]
  done
  drv signal "$id" 15
  wait_exit "$id"
  grep -q '^o term' "$T/run/drv/$id.chan"
  [[ $(state "$id" status) == exited && $(state "$id" exit) == 3 ]]
  [[ $(state "$id" finished) -ge $(state "$id" started) ]]
  run drv signal "$id" 15
  [[ $output == "error 3 container $id is not running" ]]
  run drv connect "$id"
  [[ $output == "error 3 container $id is not running" ]]
  drv delete "$id"
}

@test "restart of an exited container: same upper, a new run" {
  local id
  id=$(newid)
  run_ctr "$id" arg=/bin/sh arg=-c arg='echo run >> /runs; cat /runs | wc -l' >/dev/null
  wait_exit "$id"
  rm "$T/run/drv/$id.chan"
  drv start "$id" layer="$LAYER" arg=/bin/sh arg=-c arg='echo run >> /runs; cat /runs | wc -l' >/dev/null
  wait_exit "$id"
  [[ $(out "$id" | tr -d ' ') == 2 ]]
  drv delete "$id"
}

@test "bad specs: refused with EINVAL before anything happens; nothing left behind" {
  local id
  id=$(newid)
  drv create "$id" >/dev/null
  local -a bad=(
    "arg="                             # empty argv[0]
    "arg=/bin/true env=NOEQUALS"
    "arg=/bin/true env==x"
    "arg=/bin/true cwd=relative"
    "arg=/bin/true cwd=/a/../b"
    "arg=/bin/true cwd=/a/.."
    "arg=/bin/true hostname=-bad"
    "arg=/bin/true hostname=$(printf 'h%.0s' {1..65})"
    "arg=/bin/true domainname=a/b"
    "arg=/bin/true domainname=$(printf 'd%.0s' {1..65})"
    "arg=/bin/true user=a:b:c"
    "arg=/bin/true user=a/b"
    "arg=/bin/true bpflen=7"
    "arg=/bin/true bpflen=32776"
    "arg=/bin/true rlimit=99:1:1"
    "arg=/bin/true rlimit=7:10:5"
    "arg=/bin/true cpus=0;1"
    "arg=/bin/true shares=1"
    "arg=/bin/true quota=10"
    "arg=/bin/true period=2000000"
    "arg=/bin/true mem=-1"
    "arg=/bin/true swap=1000"
    "arg=/bin/true mem=10000000 swap=100"
    "arg=/bin/true pids=-5"
    "arg=/bin/true oom=1001"
    "arg=/bin/true net=7"
    "arg=/bin/true caps=0xffffffffffffffff"
    "arg=/bin/true logfiles=5000"
  )
  local b
  for b in "${bad[@]}"; do
    # shellcheck disable=SC2086
    run drv start "$id" layer="$LAYER" $b
    [[ $output == "error 22 invalid container spec: "* ]] || { echo "$b: $output"; false; }
  done
  run drv start "$id" arg=/bin/true # no layers
  [[ $output == "error 22 invalid container spec: 1..128 layers" ]]
  run drv start "$id" layer=sha256:../../etc arg=/bin/true
  [[ $output == "error 22 invalid layer chain id"* ]]
  run drv start "$id" layer=sha256:$(printf '0%.0s' {1..64}) arg=/bin/true
  [[ $output == "error 2 layer sha256:0000"*" is not in the image store" ]]
  [[ $(state "$id" status) == created ]]
  [[ ! -e $T/data/containers/$id/pid && -z $(cgroup_dirs "$id") ]]
  ! pgrep -f "berth-monitor --id $id"
  drv delete "$id"
}

@test "set-up failures come back with their cause (Docker's wording for exec); nothing left behind" {
  local id
  id=$(newid)
  drv create "$id" >/dev/null
  run drv start "$id" layer="$LAYER" arg=nosuch
  [[ $output == 'error 2 exec: "nosuch": executable file not found in $PATH' ]]
  run drv start "$id" layer="$LAYER" arg=/nosuch
  [[ $output == 'error 2 exec: "/nosuch": no such file or directory' ]]
  run drv start "$id" layer="$LAYER" arg=/etc/passwd
  [[ $output == 'error 13 exec: "/etc/passwd": permission denied' ]]
  run drv start "$id" layer="$LAYER" arg=/bin/true user=nosuchuser
  [[ $output == "error 5 unable to find user nosuchuser: no matching entries in passwd file" ]]
  run drv start "$id" layer="$LAYER" arg=/bin/true user=0:nosuchgroup
  [[ $output == "error 5 unable to find group nosuchgroup: no matching entries in group file" ]]
  run drv start "$id" layer="$LAYER" arg=/bin/true user=70000
  [[ $output == "error 5 setuid 70000: Invalid argument" ]]
  run drv start "$id" layer="$LAYER" arg=/bin/true rlimit=7:99999999:99999999
  [[ $output == "error 5 setrlimit 7: Operation not permitted" ]]
  # a hostile root filesystem (planted in upper/ as a layer could): /sys a symlink, /etc/passwd a FIFO
  local u=$T/data/containers/$id/upper base
  base=$(state "$id" uid_base)
  ln -s /dev/shm "$u/sys"
  run drv start "$id" layer="$LAYER" arg=/bin/true
  [[ $output == "error 5 mount on /sys: Too many levels of symbolic links" ]]
  rm "$u/sys"
  mkdir -p "$u/etc" && mkfifo "$u/etc/passwd" && chown "$base:$base" "$u/etc" "$u/etc/passwd"
  run timeout 10 "$DRV" -s "$T/run/drv/sock" start "$id" layer="$LAYER" arg=/bin/true user=root
  [[ $output == "error 5 unable to find user root: no matching entries in passwd file" ]]
  rm "$u/etc/passwd"
  [[ $(state "$id" status) == created && ! -e $T/data/containers/$id/pid && -z $(cgroup_dirs "$id") ]]
  ! pgrep -f "berth-monitor --id $id"
  drv delete "$id"
}

@test "no fd of the host reaches the container's set-up: /proc/self/fd/N as working directory or /etc" {
  local id n u marker=$BATS_TEST_TMPDIR/marker
  id=$(newid)
  drv create "$id" >/dev/null
  for n in 3 4 5 6 7 8 9 10 11 12 20; do
    run drv start "$id" layer="$LAYER" cwd=/proc/self/fd/$n arg=/bin/true
    [[ $output == "error 5 chdir /proc/self/fd/$n: "* ]] || { echo "$n: $output"; false; }
  done
  u=$T/data/containers/$id/upper
  touch "$marker"
  for n in 3 4 5 6 7 8 9 10 11 12 20; do
    rm -rf "$u/etc"
    ln -s /proc/self/fd/$n "$u/etc"
    run drv start "$id" layer="$LAYER" arg=/bin/true
    [[ $output == "error 5 mount /etc/hostname: "* ]] || { echo "$n: $output"; false; }
  done
  rm "$u/etc"
  [[ -z $(find "$T/data" "$T/run" -newer "$marker" -name 'hostname' ! -path "$T/data/containers/$id/etc/*") ]]
  [[ $(state "$id" status) == created && -z $(cgroup_dirs "$id") ]]
  drv delete "$id"
}

@test "user, groups, working directory, environment, rlimits" {
  local id
  id=$(newid)
  run_ctr "$id" user=nobody gid=1234 cwd=/work/dir env=A=1 env=PATH=/bin rlimit=7:100:200 arg=sh arg=-c \
    arg='id -u; id -g; id -G; pwd; echo $A $HOME; ulimit -n; grep CapEff /proc/self/status' >/dev/null
  wait_exit "$id"
  local o
  o=$(out "$id")
  echo "$o"
  [[ $o == $'65534\n65534\n65534 1234\n/work/dir\n1 /nonexistent\n100\nCapEff:\t0000000000000000' ]]
  drv delete "$id"
}

@test "read-only root, private network (loopback up), host network, size of the upper directory" {
  local id
  id=$(newid)
  run_ctr "$id" ro=1 arg=/bin/sh arg=-c arg='touch /x || echo ro-refused; touch /dev/shm/x && echo shm-ok; ip -o link | cut -d: -f2 | tr -d " "; cat /sys/class/net/lo/operstate' >/dev/null
  wait_exit "$id"
  out "$id"
  [[ $(out "$id" | tr '\n' ' ') == "ro-refused shm-ok lo unknown " ]]
  drv delete "$id"
  id=$(newid)
  run_ctr "$id" net=host arg=/bin/sh arg=-c arg='ls /sys/class/net | sort | tr "\n" " "' >/dev/null
  wait_exit "$id"
  [[ $(out "$id") == "$(ls /sys/class/net | sort | tr '\n' ' ')" ]]
  drv delete "$id"
  id=$(newid)
  run_ctr "$id" arg=/bin/sh arg=-c arg='head -c 100000 /dev/zero > /blob' >/dev/null
  wait_exit "$id"
  (($(drv state "$id" size | tr ' ' '\n' | sed -n 's/^size=//p') >= 100000))
  drv delete "$id"
}

@test "tty and stdin: a pty on 0-2, input through the channel" {
  local id
  id=$(newid)
  run_ctr "$id" tty=1 stdin=1 arg=/bin/sh arg=-c arg='[ -t 0 ] && echo is-a-tty; read x; echo got $x' >/dev/null
  drv stdin "$id" 'hello
'
  wait_exit "$id"
  out "$id"
  grep -qx 'is-a-tty' <(out "$id")
  grep -qx 'got hello' <(out "$id")
  drv delete "$id"
}

@test "kill -9 of the executor: the container keeps running; a new executor reports it, connects and signals it" {
  local id pid old=$EXECD_PID
  id=$(newid)
  run_ctr "$id" arg=/bin/sh arg=-c arg='trap "echo bye; exit 7" TERM; while :; do echo tick; sleep 0.2; done' >/dev/null
  pid=$(state "$id" pid)
  kill -9 "$EXECD_PID"
  local _
  for _ in $(seq 100); do [[ -e $T/execd.rc ]] && break; sleep 0.05; done
  sleep 0.5
  [[ -d /proc/$pid ]]
  start_execd
  [[ $EXECD_PID != "$old" ]]
  [[ $(state "$id" status) == running && $(state "$id" pid) == "$pid" ]]
  rm -f "$T/run/drv/$id.chan"
  drv connect "$id"
  for _ in $(seq 100); do grep -q '^o tick' "$T/run/drv/$id.chan" 2>/dev/null && break; sleep 0.05; done
  grep -q '^h '"$pid"' ' "$T/run/drv/$id.chan"
  drv signal "$id" 15
  wait_exit "$id"
  [[ $(state "$id" exit) == 7 ]]
  run drv log "$id" 0
  [[ $output == *'"log":"bye\n"'* ]]
  drv delete "$id"
}

@test "a service that dies while traced is still noticed and restarted" {
  command -v strace >/dev/null || skip "strace missing"
  local img new
  img=$(e2e_svc_pid berth-imaged)
  strace -f -o /dev/null -p "$img" &
  local st=$!
  sleep 0.5
  kill -STOP "$st" # the tracer holds the exit while execd's pidfd fires
  kill -9 "$img"
  sleep 1
  kill -9 "$st" 2>/dev/null || true
  wait "$st" 2>/dev/null || true
  local _
  for _ in $(seq 200); do
    new=$(e2e_svc_pid berth-imaged) && [[ $new != "$img" ]] && break
    sleep 0.05
  done
  [[ -n $new && $new != "$img" ]] || { e2e_show_log; false; }
}

@test "berth-monitor missing: the executor runs, a start says why" {
  e2e_stop
  rm "$T/lib/berth-monitor"
  start_execd
  local id
  id=$(newid)
  drv create "$id" >/dev/null
  run drv start "$id" layer="$LAYER" arg=/bin/true
  [[ $output == "error 2 berth-monitor is not installed in $T/lib: containers cannot start" ]]
  drv delete "$id"
  grep -q 'berth-monitor.*containers cannot start' "$T/execd.log"
  e2e_stop
  ln -s "$(realpath "$MONITOR")" "$T/lib/berth-monitor"
  start_execd
}
