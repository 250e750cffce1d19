#!/usr/bin/env bats
# Escape classes, end to end: what made real container runtimes leak the
# host, tried from inside a berth container with the stock docker CLI.
#   CVE-2019-5736  overwrite the runtime through /proc/self/exe or
#                  /proc/PID/exe of an engine process
#   CVE-2024-21626 a leaked host fd (only 0-2 may be open), `-w /proc/self/fd/N`
#   ambient and inheritable capabilities
#   CVE-2022-0492  a writable cgroup release_agent
#   Docker's masked and read-only paths of /proc and /sys

load containers-file

cap_of() {
  awk -v k="$1" '$1 == k { print $2 }' <<<"$output"
}

@test "CVE-2019-5736 class: no engine process is visible, /proc/*/exe cannot be opened for writing, binaries unchanged" {
  engine_hashes >"$T/hashes.before"
  cat "$T/hashes.before"
  [[ $(wc -l <"$T/hashes.before") -ge 4 ]]
  # sh as pid 1, the probe as its child: every exe the container can see
  d run --rm berth-probe sh -c '/probe open-exe; true'
  [[ $status -eq 0 ]]
  local targets
  targets=$(sed -n 's/^exe [^ ]* -> //p' <<<"$output" | sort -u)
  echo "exe targets: $targets"
  [[ -n $targets ]]
  # nothing but the container's own binaries
  local t
  while read -r t; do
    [[ $t == /probe || $t == /bin/busybox ]] || { echo "foreign exe visible: $t"; false; }
  done <<<"$targets"
  # the pids the container sees: sh (1) and the probe
  grep -Eqx 'pids: 1 [0-9]+' <<<"$output"
  # every open for writing failed (ETXTBSY: the running binaries)
  not grep -E '^open\(/proc/.*/exe, O_(WRONLY|RDWR)\): OK$' <<<"$output"
  grep -qx 'open(/proc/self/exe, O_WRONLY): ETXTBSY' <<<"$output"
  grep -qx 'open(/proc/1/exe, O_WRONLY): ETXTBSY' <<<"$output"

  # seen from the host: every process in a running container's pid
  # namespace is the container's (no monitor, no executor code)
  d run -d --name esc-ns busybox sleep 1000
  local pid ns p exe n=0
  pid=$(ctr_pid esc-ns)
  ns=$(readlink "/proc/$pid/ns/pid")
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/ns/pid" 2>/dev/null) == "$ns" ]] || continue
    exe=$(readlink "$p/exe" 2>/dev/null || echo '?')
    echo "in the container's pid ns: ${p#/proc/} $exe"
    n=$((n + 1))
    [[ $exe != *berth* ]] || { echo "engine process ${p#/proc/} in the container"; false; }
  done
  ((n == 1))
  # the monitor is outside it, unprivileged and not dumpable: the
  # container's root cannot reach it through /proc either
  local m
  for m in $(ctr_monitor_pids); do
    [[ $(readlink "/proc/$m/ns/pid") != "$ns" ]]
    [[ $(proc_status "$m" Uid | cut -f1 -d' ') == "$(id -u berth)" ]]
    [[ $(proc_status "$m" CapEff) == "$NO_CAPS" ]]
    # not dumpable: its /proc files (but the directory) belong to root
    [[ $(stat -c %u "/proc/$m/mem") == 0 && $(stat -c %u "/proc/$m/fd") == 0 ]]
  done
  dk rm -f esc-ns
  engine_hashes >"$T/hashes.after"
  diff "$T/hashes.before" "$T/hashes.after"
}

@test "CVE-2024-21626 class: only fds 0, 1 and 2 are open in the container" {
  d run --rm berth-probe /probe fds
  [[ $status -eq 0 ]]
  grep -qx 'fds: 0 1 2' <<<"$output"
  # with stdin attached too
  run bash -c "echo | timeout 60 '$DOCKER' run -i --rm berth-probe /probe fds"
  echo "$output"
  grep -qx 'fds: 0 1 2' <<<"$output"
  # and with a terminal: the three are the pty
  d run --rm -t berth-probe /probe fds
  [[ $status -eq 0 ]]
  grep -qx $'fds: 0 1 2\r' <<<"$output"
  [[ $(grep -c '^fd [012] -> /dev/pts/[0-9]*.$' <<<"$output") -eq 3 ]]
  # and pid 1 of a running container, read from the host
  d run -d --name esc-fds busybox sleep 1000
  local pid fds
  pid=$(ctr_pid esc-fds)
  fds=$(ls "/proc/$pid/fd" | sort -n | tr '\n' ' ')
  ls -l "/proc/$pid/fd"
  [[ $fds == "0 1 2 " ]]
  # none of them is a host file or directory: /dev/null, pipes or sockets
  local f tgt
  for f in 0 1 2; do
    tgt=$(readlink "/proc/$pid/fd/$f")
    [[ $tgt == /dev/null || $tgt == pipe:* || $tgt == socket:* || $tgt == /dev/pts/* ]] || { echo "fd $f -> $tgt"; false; }
  done
  dk rm -f esc-fds
}

@test "CVE-2024-21626 class: -w /proc/self/fd/N leads nowhere outside the container" {
  local n
  for n in 3 4 5 6 7 8 9; do
    d run --rm -w "/proc/self/fd/$n" berth-probe /probe cwd
    # a clean refusal or a cwd inside the container; never the host
    not grep -q unreachable <<<"$output"
    if [[ $status -eq 0 ]]; then
      grep -Eq '^cwd: /' <<<"$output"
    else
      [[ $status -ge 125 && $status -le 127 ]]
      [[ -n $output ]]
    fi
  done
  # the cwd of pid 1 on the host is inside the container's root
  d run -d --name esc-cwd -w /tmp busybox sleep 1000
  local pid
  pid=$(ctr_pid esc-cwd)
  [[ $(readlink "/proc/$pid/cwd") == /tmp ]] || [[ $(readlink "/proc/$pid/cwd") == */rootfs/tmp ]] ||
    { readlink "/proc/$pid/cwd"; false; }
  dk rm -f esc-cwd
  # a relative working directory is refused as dockerd refuses it (400)
  d run --rm -w ../.. busybox pwd
  [[ $status -eq 125 ]]
  grep -q "the working directory '../..' is invalid, it needs to be an absolute path" <<<"$output"
  [[ -z $(dk ps -aq) ]]
}

@test "ambient and inheritable capabilities are empty (default, --cap-add ALL, a non-root user)" {
  local args
  for args in "" "--cap-add ALL" "--user 65534" "--cap-add NET_ADMIN --user 65534:65534"; do
    # shellcheck disable=SC2086
    d run --rm $args berth-probe /probe caps
    [[ $status -eq 0 ]]
    [[ $(cap_of CapInh) == "$NO_CAPS" ]] || { echo "$args: CapInh $(cap_of CapInh)"; false; }
    [[ $(cap_of CapAmb) == "$NO_CAPS" ]] || { echo "$args: CapAmb $(cap_of CapAmb)"; false; }
  done
  # --cap-add ALL: every capability the kernel has (0..cap_last_cap, as
  # Docker), in the container's user namespace only
  d run --rm --cap-add ALL berth-probe /probe caps
  local last
  last=$(cat /proc/sys/kernel/cap_last_cap)
  [[ $(cap_of CapEff) == $(printf '%016x' $(((1 << (last + 1)) - 1))) ]]
  d run --rm --cap-add ALL berth-probe /probe uidmap
  grep -Eqx 'uid_map 0 [0-9]+ 65536' <<<"$output"
  not grep -qx 'uid_map 0 0 .*' <<<"$output"
}

@test "CVE-2022-0492 class: no cgroup release_agent is writable, cgroup v1 cannot be mounted" {
  local args
  for args in "" "--cap-add SYS_ADMIN"; do
    # shellcheck disable=SC2086
    d run --rm $args berth-probe /probe release-agent
    [[ $status -eq 0 ]]
    not grep -E 'release_agent, O_WRONLY\): OK$' <<<"$output"
  done

  # with the default profile, no mount of any cgroup hierarchy
  d run --rm berth-probe /probe release-agent
  not grep -E '^unshare.*: OK$' <<<"$output"
  not grep -E '^mount\(cgroup .*\): OK$' <<<"$output"
  # the container's cgroup as the host sees it: the release_agent of a v1
  # hierarchy is writable by host root only, never by the container's uid
  local ra
  for ra in /sys/fs/cgroup/*/release_agent; do
    [[ -e $ra ]] || continue
    [[ $(stat -c %u "$ra") == 0 ]]
  done
}

@test "masked paths are masked (empty or absent) and read-only paths refuse writes" {
  d run --rm berth-probe /probe masked
  [[ $status -eq 0 ]]
  local line path res
  while read -r line; do
    path=${line#masked }
    path=${path%%:*}
    res=${line#*: }
    case $res in
    'file 0 bytes' | 'dir 0 entries' | ENOENT | EACCES | EPERM) ;;
    *) echo "not masked: $line"; false ;;
    esac
  done < <(grep '^masked ' <<<"$output")
  [[ $(grep -c '^masked ' <<<"$output") -eq 10 ]]
  # absent in the container only when the host kernel has no such file
  local p
  for p in /proc/kcore /proc/keys /proc/timer_list /sys/firmware; do
    [[ -e $p ]] || continue
    grep -Eqx "masked $p: (file 0 bytes|dir 0 entries|EACCES|EPERM)" <<<"$output" ||
      { echo "$p exists on the host and is not masked"; false; }
  done
  not grep -E '^readonly .*: OK$' <<<"$output"
  # EROFS (a read-only bind), or EACCES first: host root owns them and is
  # not mapped in the container's user namespace
  for p in /proc/sysrq-trigger /proc/sys/kernel/core_pattern /proc/sys/vm/drop_caches; do
    [[ -e $p ]] || continue
    grep -Eqx "readonly open\\($p, O_WRONLY\\): (EROFS|EACCES)" <<<"$output" ||
      { echo "$p is not refused"; false; }
  done
  # masked as Docker masks them: each one that exists on the host is a
  # mount point (a /dev/null bind or a read-only tmpfs) in the container
  d run --rm busybox cat /proc/self/mountinfo
  local mps
  mps=$(awk '{ print $5 }' <<<"$output")
  for p in /proc/acpi /proc/kcore /proc/keys /proc/latency_stats /proc/timer_list /proc/timer_stats \
    /proc/sched_debug /proc/scsi /sys/firmware /sys/devices/virtual/powercap; do
    [[ -e $p ]] || continue
    grep -qx "$p" <<<"$mps" || { echo "$p exists on the host but is not masked in the container"; false; }
  done
  for p in /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger; do
    [[ -e $p ]] || continue
    grep -qx "$p" <<<"$mps" || { echo "read-only path $p is not a mount point in the container"; false; }
  done
}

# Last in the file: it restarts the engine with another policy.
@test "host ids (policy \"userns\": false): -w through /proc/self/fd/N creates nothing on the host" {
  e2e_stop 10 || { e2e_show_log; false; }
  ctr_restart_engine '"userns": false'
  d run --rm berth-probe /probe uidmap
  grep -qx 'uid_map 0 0 4294967295' <<<"$output"
  local n
  for n in 3 4 5 6 7 8 9; do
    d run --rm -w "/proc/self/fd/$n/berth-escape" berth-probe /probe cwd
    not grep -q unreachable <<<"$output"
    if [[ $status -eq 0 ]]; then
      grep -Eq '^cwd: /' <<<"$output"
    fi
    d run --rm -w "/proc/self/fd/$n" berth-probe /probe cwd
    not grep -q unreachable <<<"$output"
    [[ $status -ne 0 ]] || grep -Eq '^cwd: /' <<<"$output"
  done
  # the mkdir -p of the working directory made nothing outside a container
  local found
  found=$(find "$T" /tmp -maxdepth 6 -name berth-escape -not -path '*/upper/*' 2>/dev/null)
  [[ -z $found ]] || { echo "made on the host: $found"; false; }
  [[ -z $(dk ps -aq) ]]
}
