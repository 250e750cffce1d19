#!/bin/sh
# Runs inside the qemu guest (tests/testbed/qemu.sh), as root, from the 9p
# share at /mnt/host (with busybox.tar next to it), on cgroup v2 with every
# controller. Prints TAP.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
share=$(dirname "$0")
cg=/sys/fs/cgroup
n=0
failed=0
check() {  # description command...
  d=$1
  shift
  n=$((n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $n - $d"
  else
    echo "not ok $n - $d"
    printf '%s\n' "$out" | sed 's/^/# /'
    failed=$((failed + 1))
  fi
}
# eq WHAT EXPECTED ACTUAL
eq() { [ "$2" = "$3" ] || { echo "$1: expected '$2', got '$3'"; return 1; }; }
full_id() { berth inspect --format json "$1" | sed -n 's/.*"Id": *"\([0-9a-f]\{64\}\)".*/\1/p' | head -n 1; }
oomkilled() { berth inspect --format json "$1" | tr -d ' \n' | grep -q '"OOMKilled":true'; }
wait_api() {
  i=0
  while [ $i -lt 100 ]; do berth version >/dev/null 2>&1 && return 0; sleep 0.2; i=$((i + 1)); done
  berth version
}
# oom NAME: a shell doubling a string under -m 32m is killed by the kernel
oom() {
  berth run --name "$1" -m 32m busybox sh -c 'x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done'
  rc=$?
  eq "exit status" 137 "$rc" && oomkilled "$1" && berth rm "$1" >/dev/null
}
# bomb NAME: 100 background sleeps under --pids-limit 20; forks must fail
bomb() {
  berth run --name "$1" --pids-limit 20 busybox sh -c \
    'i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; echo loop-done' >/tmp/bomb.log 2>&1
  fails=$(grep -c "fork" /tmp/bomb.log)
  echo "fork failures: $fails"
  cat /tmp/bomb.log | tail -n 3
  berth rm -f "$1" >/dev/null 2>&1
  [ "$fails" -gt 0 ]
}
# limits DIR: memory.max, pids.max, cpu.max of a container's cgroup
limits_in() {  # dir memory pids cpu
  eq memory.max "$2" "$(cat "$1/memory.max")" &&
    case $(cat "$1/pids.max") in "$3"|$(($3 + 1))) ;; *) echo "pids.max: $(cat "$1/pids.max")"; false ;; esac &&
    eq cpu.max "$4" "$(cat "$1/cpu.max")"
}
# view_in: what a container under -m 64m sees at /sys/fs/cgroup (docker's view)
view_in() {
  out=$(berth run --rm -m 64m busybox sh -c \
    'awk '"'"'$2 == "/sys/fs/cgroup" { print $3 }'"'"' /proc/self/mounts; cat /sys/fs/cgroup/memory.max; echo 1 >/sys/fs/cgroup/memory.max && echo WRITABLE' 2>&1)
  printf '%s\n' "$out"
  [ "$(printf '%s\n' "$out" | head -n 2 | tr '\n' ' ')" = "cgroup2 67108864 " ] && ! printf '%s\n' "$out" | grep -q WRITABLE
}
# The API on its socket (curl: the guest has no docker CLI).
api() { curl -s --max-time 20 --unix-socket /run/berth/berth.sock "http://localhost$1"; }
# stats_in NAME: GET /stats of a container under -m 64m --pids-limit 20 running
# sleep: v2's memory.current/max, pids without the monitor, cpu.stat
stats_in() {
  j=$(api "/containers/$1/stats?stream=0")
  printf '%s\n' "$j" | cut -c 1-600
  lim=$(printf '%s' "$j" | sed -n 's/.*"memory_stats":{.*"limit":\([0-9]*\)}.*/\1/p')
  use=$(printf '%s' "$j" | sed -n 's/.*"memory_stats":{"usage":\([0-9]*\).*/\1/p')
  cpu=$(printf '%s' "$j" | sed -n 's/.*"cpu_stats":{"cpu_usage":{"total_usage":\([0-9]*\).*/\1/p')
  pids=$(printf '%s' "$j" | sed -n 's/.*"pids_stats":{"current":\([0-9]*\),"limit":\([0-9]*\)}.*/\1 \2/p')
  eq "memory limit" 67108864 "$lim" && [ "${use:-0}" -gt 0 ] && [ "$use" -lt "$lim" ] &&
    [ "${cpu:-0}" -gt 0 ] && eq "pids current, limit" "1 20" "$pids"
}
# top_in NAME: GET /top lists sleep 300 alone (not the monitor), ps -ef's titles
top_in() {
  t=$(api "/containers/$1/top")
  printf '%s\n' "$t" | cut -c 1-400
  printf '%s' "$t" | grep -q '"Titles":\["UID","PID","PPID","C","STIME","TTY","TIME","CMD"\]' &&
    printf '%s' "$t" | grep -q '"sleep 300"\]\]' && ! printf '%s' "$t" | grep -q 'berth-monitor\|\],\['
}

echo "1..21"
check "guest: cgroup v2 unified with memory, pids and cpu controllers" \
  sh -c "[ \"\$(stat -fc %T $cg)\" = cgroup2fs ] && grep -qw memory $cg/cgroup.controllers &&
    grep -qw pids $cg/cgroup.controllers && grep -qw cpu $cg/cgroup.controllers"
check "setup as on a systemd host; berth.socket listening, berth.service not started" \
  sh -c 'systemd-sysusers && /root/berth/scripts/host-prereqs.sh >/dev/null && systemd-tmpfiles --create >/dev/null 2>&1;
    systemctl daemon-reload && systemctl enable --now berth.socket && test -S /run/berth/berth.sock &&
    ! systemctl is-active berth.service'
check "socket activation: the first connection starts berth.service, which answers" \
  sh -c 'wait_() { berth version >/dev/null; }; wait_ && systemctl is-active berth.service'
check "busybox image loaded through the 9p share" berth load -i "$share/busybox.tar"

# systemd backend
out=$(berth run -d --name sd-limits -m 64m --pids-limit 20 --cpus 0.5 busybox sleep 300 2>&1) ||
  printf '%s\n' "$out" | sed 's/^/# sd-limits: /'
id=$(full_id sd-limits)
scope=$cg/berth.slice/berth-$id.scope
check "systemd backend: the container is in berth-<id>.scope under berth.slice" \
  sh -c "[ -d '$scope' ] && systemctl is-active 'berth-$id.scope' && [ \"\$(systemctl show -P Slice 'berth-$id.scope')\" = berth.slice ]"
check "systemd backend: memory.max 64m, pids.max 20, cpu.max 0.5 CPU read back from the scope" \
  limits_in "$scope" 67108864 20 "50000 100000"
check "systemd backend: in the container, /sys/fs/cgroup is its scope (cgroup2, read-only): memory.max 64m" \
  view_in
check "systemd backend: stats: memory within -m 64m, CPU used, pids 1 of 20 (monitor left out)" stats_in sd-limits
check "systemd backend: top lists the container's sleep, not the monitor" top_in sd-limits
berth rm -f sd-limits >/dev/null 2>&1
check "systemd backend: the scope is gone after the container" \
  sh -c "i=0; while [ -d '$scope' ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done; [ ! -d '$scope' ]"
check "systemd backend: over -m 32m, OOM-killed: exit 137, State.OOMKilled true" oom sd-oom
check "systemd backend: a fork bomb stops at --pids-limit 20" bomb sd-bomb

# cgroupfs backend, execd started by hand
systemctl stop berth.socket berth.service
berth-execd --cgroup-manager cgroupfs >/tmp/execd-cgroupfs.log 2>&1 &
execd=$!
check "cgroupfs backend: berth-execd --cgroup-manager cgroupfs started by hand answers" wait_api
out=$(berth run -d --name fs-limits -m 64m --pids-limit 20 --cpus 0.5 busybox sleep 300 2>&1) ||
  printf '%s\n' "$out" | sed 's/^/# fs-limits: /'
id=$(full_id fs-limits)
check "cgroupfs backend: the container runs in /sys/fs/cgroup/berth/<id>" \
  sh -c "[ -n \"\$(cat '$cg/berth/$id/cgroup.procs' '$cg/berth/$id'/*/cgroup.procs 2>/dev/null)\" ]" # (cgroupfs files have size 0: not -s)
check "cgroupfs backend: memory.max 64m, pids.max 20, cpu.max 0.5 CPU in /sys/fs/cgroup/berth/<id>" \
  limits_in "$cg/berth/$id" 67108864 20 "50000 100000"
check "cgroupfs backend: in the container, /sys/fs/cgroup is its cgroup (cgroup2, read-only): memory.max 64m" \
  view_in
check "cgroupfs backend: stats: memory within -m 64m, CPU used, pids 1 of 20 (monitor left out)" stats_in fs-limits
check "cgroupfs backend: top lists the container's sleep, not the monitor" top_in fs-limits
berth rm -f fs-limits >/dev/null 2>&1
check "cgroupfs backend: over -m 32m, OOM-killed: exit 137, State.OOMKilled true" oom fs-oom
check "cgroupfs backend: a fork bomb stops at --pids-limit 20" bomb fs-bomb
kill -TERM "$execd"
wait "$execd"
check "cgroupfs backend: berth-execd exits 0 on SIGTERM" eq "exit status" 0 "$?"
if [ $failed -gt 0 ]; then
  echo "# berth.service journal:"
  journalctl -u berth.service --no-pager -n 200 -o cat | grep -v '"\(HEAD\|GET\) ' | tail -n 60 | sed 's/^/# /'
  echo "# kernel:"
  journalctl -k --no-pager -o cat | grep -i 'overlay\|oom\|fork\|cgroup' | tail -n 20 | sed 's/^/# /'
  echo "# execd (cgroupfs) log:"
  tail -n 30 /tmp/execd-cgroupfs.log | sed 's/^/# /'
fi
exit $((failed > 0))
