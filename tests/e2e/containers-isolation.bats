#!/usr/bin/env bats
# Isolation, end to end, with the stock docker CLI against a real engine:
# pid 1, hostname, mounts, capabilities, the default seccomp profile,
# memory (OOM kill), pids (fork bomb), --read-only, and the user namespace
# (uid_map, owner of a file in the upper directory). What a container sees
# is reported by /probe (tests/e2e/probe/ctr-probe.c) from inside it;
# what the host sees is read from /proc and DATA_ROOT here.

# "allow-privileged": true, so that seccomp=unconfined is allowed and the
# default profile can be compared with no profile.
CTR_ALLOW_PRIVILEGED=true
load containers-file

# The value of one "Key value" line of the probe's caps output.
cap_of() {
  awk -v k="$1" '$1 == k { print $2 }' <<<"$output"
}

@test "the command is pid 1 of its own pid namespace" {
  d run --rm busybox sh -c 'echo $$'
  [[ $status -eq 0 && $output == 1 ]]
  d run --rm busybox ps -o pid,comm
  [[ $status -eq 0 ]]
  # only the container's own processes: ps and nothing else
  [[ $(grep -cv '^ *PID' <<<"$output") -eq 1 ]]
  grep -Eq '^ *1 +ps$' <<<"$output"
  # and on the host it lives in a pid namespace other than ours
  d run -d --name iso-pid busybox sleep 1000
  local pid
  pid=$(ctr_pid iso-pid)
  [[ $pid -gt 1 ]]
  [[ $(readlink "/proc/$pid/ns/pid") != "$(readlink /proc/self/ns/pid)" ]]
  [[ $(awk '/^NSpid:/ { print $NF }' "/proc/$pid/status") == 1 ]]
  dk rm -f iso-pid
}

@test "its own hostname: the id's first 12 characters by default, --hostname and --domainname work" {
  d run -d --name iso-host busybox sleep 1000
  local id
  id=$(ctr_id iso-host)
  run timeout 30 "$DOCKER" run --rm busybox hostname
  [[ $status -eq 0 ]]
  [[ $output != "$(hostname)" ]]
  [[ $output =~ ^[0-9a-f]{12}$ ]]
  d run --rm --hostname probe-host busybox sh -c 'hostname; cat /etc/hostname'
  [[ $status -eq 0 ]]
  [[ $output == $'probe-host\nprobe-host' ]]
  # --domainname sets the namespace's NIS domain name; without it, as created
  local host_dom
  host_dom=$(cat /proc/sys/kernel/domainname)
  d run --rm --hostname probe-host --domainname probe.example busybox cat /proc/sys/kernel/domainname
  [[ $status -eq 0 && $output == probe.example ]]
  d run --rm busybox cat /proc/sys/kernel/domainname
  [[ $status -eq 0 && $output == "$host_dom" ]]
  [[ $(cat /proc/sys/kernel/domainname) == "$host_dom" ]]
  # the uts namespace is the container's own: the host's name is unchanged
  [[ $(hostname) != probe-host ]]
  local pid
  pid=$(ctr_pid iso-host)
  [[ $(readlink "/proc/$pid/ns/uts") != "$(readlink /proc/self/ns/uts)" ]]
  [[ $(nsenter -t "$pid" -u hostname) == "${id:0:12}" ]]
  dk rm -f iso-host
}

@test "no host mount is visible: only /, /proc, /sys, /dev and the etc files are mount points" {
  d run --rm busybox cat /proc/self/mountinfo
  [[ $status -eq 0 ]]
  local mp bad=0
  while read -r mp; do
    case $mp in
    / | /proc | /proc/* | /sys | /sys/* | /dev | /dev/* | /etc/hostname | /etc/hosts | /etc/resolv.conf) ;;
    *) echo "unexpected mount point in the container: $mp"; bad=1 ;;
    esac
    # nothing of the host's own trees
    case $mp in
    /work* | /root* | /tmp* | /var/lib/berth* | /mnt* | /home* | "$T"*)
      echo "host mount visible: $mp"; bad=1 ;;
    esac
  done < <(awk '{ print $5 }' <<<"$output")
  ((bad == 0))
  # the host paths do not exist in the container
  d run --rm busybox sh -c "for p in /work $T $T/data /var/lib/berth; do [ -e \$p ] && echo present \$p; done; true"
  [[ $status -eq 0 ]]
  not grep -q present <<<"$output"
  # the root is the container's overlay, not the host's root
  d run --rm busybox sh -c 'ls /'
  not grep -qx work <<<"$output"
  grep -qx proc <<<"$output"
}

@test "/sys/fs/cgroup is the container's own cgroups (its limits at the root), read-only, as docker mounts it" {
  # 48 MiB and 77 pids: what the container reads at the root of its view
  d run --rm -m 48m --pids-limit 77 busybox sh -c '
    if [ -e /sys/fs/cgroup/memory.max ]; then
      echo "v2 $(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids.max)"; f=/sys/fs/cgroup/memory.max
    else
      echo "v1 $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/pids/pids.max)"
      f=/sys/fs/cgroup/memory/memory.limit_in_bytes
    fi
    echo 1 >$f 2>/dev/null && echo WRITABLE; echo x >/sys/fs/cgroup/new 2>/dev/null && echo TMPFS-WRITABLE
    # only hierarchies the container has a cgroup of its own in: no host root (release_agent lives there)
    ls -d /sys/fs/cgroup/*/release_agent /sys/fs/cgroup/release_agent 2>/dev/null | sed "s/^/WRITABLE-OR-ROOT /"
    grep -c . /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null; true'
  [[ $status -eq 0 ]]
  # (pids.max: the limit plus one, the monitor, which shares the cgroup)
  grep -Eqx '(v1|v2) 50331648 7[78]' <<<"$output"
  not grep -q WRITABLE <<<"$output"
  # the view is rooted at the container's cgroup: a handful of processes
  # (sh, grep, and the monitor, which shows as pid 0), never the host's
  local n
  n=$(grep -Eo ':[0-9]+$' <<<"$output" | tr -d : | head -n 1)
  [[ -n $n && $n -le 4 ]]
}

@test "capabilities exactly as requested: Docker's default set, --cap-drop ALL, --cap-add NET_ADMIN" {
  d run --rm berth-probe /probe caps
  [[ $status -eq 0 ]]
  [[ $(cap_of CapEff) == "$DOCKER_DEFAULT_CAPS" ]]
  [[ $(cap_of CapPrm) == "$DOCKER_DEFAULT_CAPS" ]]
  [[ $(cap_of CapBnd) == "$DOCKER_DEFAULT_CAPS" ]]
  [[ $(cap_of CapInh) == "$NO_CAPS" ]]
  [[ $(cap_of CapAmb) == "$NO_CAPS" ]]
  [[ $(cap_of NoNewPrivs) == 1 ]]
  [[ $(cap_of Seccomp) == 2 ]]

  d run --rm --cap-drop ALL berth-probe /probe caps
  [[ $status -eq 0 ]]
  local c
  for c in CapEff CapPrm CapBnd CapInh CapAmb; do
    [[ $(cap_of $c) == "$NO_CAPS" ]] || { echo "$c $(cap_of $c)"; false; }
  done

  d run --rm --cap-add NET_ADMIN berth-probe /probe caps
  [[ $status -eq 0 ]]
  # NET_ADMIN is bit 12
  [[ $(cap_of CapEff) == $(printf '%016x' $((0x$DOCKER_DEFAULT_CAPS | 1 << 12))) ]]
  [[ $(cap_of CapBnd) == $(printf '%016x' $((0x$DOCKER_DEFAULT_CAPS | 1 << 12))) ]]

  # drop one of the defaults (CHOWN, bit 0) and add one (SYS_PTRACE, bit 19)
  d run --rm --cap-drop CHOWN --cap-add SYS_PTRACE berth-probe /probe caps
  [[ $status -eq 0 ]]
  [[ $(cap_of CapEff) == $(printf '%016x' $(((0x$DOCKER_DEFAULT_CAPS & ~1) | 1 << 19))) ]]

  # a non-root user has no effective capabilities, as with Docker
  d run --rm --user 65534 berth-probe /probe caps
  [[ $status -eq 0 ]]
  [[ $(cap_of CapEff) == "$NO_CAPS" ]]
  [[ $(cap_of CapPrm) == "$NO_CAPS" ]]
  [[ $(cap_of CapAmb) == "$NO_CAPS" ]]
}

@test "the default seccomp profile blocks mount, unshare, keyctl and ptrace of a process outside" {
  d run --rm berth-probe /probe mount
  [[ $status -eq 0 ]]
  [[ $(grep -c ': EPERM$' <<<"$output") -eq 5 ]]
  d run --rm berth-probe /probe unshare
  [[ $status -eq 0 ]]
  not grep -q ': OK$' <<<"$output"
  grep -qx 'unshare(CLONE_NEWUSER): EPERM' <<<"$output"
  grep -qx 'clone(CLONE_NEWUSER): EPERM' <<<"$output"
  d run --rm berth-probe /probe keyctl
  [[ $status -eq 0 ]]
  [[ $(grep -c ': EPERM$' <<<"$output") -eq 4 ]]
  # a process outside: the executor, apid, a monitor; none exists in the
  # container's pid namespace
  local p
  for p in "$EXECD_PID" "$(e2e_svc_pid berth-apid)" "$$"; do
    d run --rm berth-probe /probe ptrace "$p"
    [[ $status -eq 0 ]]
    grep -qx "ptrace(PTRACE_ATTACH $p): ESRCH" <<<"$output"
    grep -qx "ptrace(PTRACE_SEIZE $p): ESRCH" <<<"$output"
    grep -qx "open(/proc/$p/mem, O_RDWR): ENOENT" <<<"$output"
  done
  # even with CAP_SYS_PTRACE, another container's process is out of reach
  d run -d --name iso-victim busybox sleep 1000
  p=$(ctr_pid iso-victim)
  d run --rm --cap-add SYS_PTRACE berth-probe /probe ptrace "$p"
  [[ $status -eq 0 ]]
  not grep -q ': OK$' <<<"$output"
  dk rm -f iso-victim
}

@test "the profile is what blocks unshare and keyctl: seccomp=unconfined (allowed by this file's policy) lets them through" {
  d run --rm --security-opt seccomp=unconfined berth-probe /probe unshare
  [[ $status -eq 0 ]]
  grep -qx 'unshare(CLONE_NEWUSER): OK' <<<"$output"
  d run --rm --security-opt seccomp=unconfined berth-probe /probe caps
  [[ $(cap_of Seccomp) == 0 ]]
  d run --rm --security-opt seccomp=unconfined berth-probe /probe keyctl
  grep -qx 'keyctl(KEYCTL_GET_KEYRING_ID): OK' <<<"$output"
}

@test "over its memory limit a process is OOM-killed: exit 137, State.OOMKilled true" {
  d run --name iso-oom -m 32m berth-probe /probe alloc 200
  [[ $status -eq 137 ]]
  not grep -q 'not killed' <<<"$output"
  [[ $(dk inspect -f '{{.State.OOMKilled}}' iso-oom) == true ]]
  [[ $(dk inspect -f '{{.State.ExitCode}}' iso-oom) == 137 ]]
  [[ $(dk inspect -f '{{.HostConfig.Memory}}' iso-oom) == 33554432 ]]
  dk rm iso-oom
  # under the limit: not killed, OOMKilled false
  d run --name iso-nooom -m 64m berth-probe /probe alloc 16
  [[ $status -eq 0 ]]
  grep -q 'not killed' <<<"$output"
  [[ $(dk inspect -f '{{.State.OOMKilled}}' iso-nooom) == false ]]
  dk rm iso-nooom
}

@test "a fork bomb stops at the pids limit (EAGAIN); the container still answers" {
  d run --rm --pids-limit 20 berth-probe sh -c '/probe forkbomb; echo still-here'
  [[ $status -eq 0 ]]
  local n
  n=$(sed -n 's/^forkbomb: \([0-9]*\) forks, then EAGAIN$/\1/p' <<<"$output")
  [[ -n $n ]]
  # sh and the probe count: fewer than 20 forks
  ((n > 5 && n < 20))
  grep -qx 'fork after cleanup: OK' <<<"$output"
  grep -qx 'still-here' <<<"$output"
  # the limit is in the container's pids cgroup on the host
  d run -d --name iso-pids --pids-limit 20 busybox sleep 1000
  local id f max
  id=$(ctr_id iso-pids)
  for f in /sys/fs/cgroup/pids/berth/$id/pids.max /sys/fs/cgroup/berth/$id/pids.max \
    /sys/fs/cgroup/pids/berth.slice/berth-$id.scope/pids.max /sys/fs/cgroup/berth.slice/berth-$id.scope/pids.max; do
    [[ -e $f ]] && max=$(cat "$f")
  done
  echo "pids.max: ${max:-none}"
  # 20 for the container, + 1 for its monitor
  [[ ${max:-} == 20 || ${max:-} == 21 ]]
  dk rm -f iso-pids
}

@test "--read-only refuses writes (EROFS) everywhere but the tmpfs mounts" {
  d run --rm --read-only berth-probe sh -c '/probe write /newfile; /probe write /tmp/x; /probe write /etc/passwd; /probe write /dev/shm/x'
  [[ $status -eq 0 ]]
  grep -qx 'write /newfile: EROFS' <<<"$output"
  grep -qx 'write /tmp/x: EROFS' <<<"$output"
  grep -qx 'write /etc/passwd: EROFS' <<<"$output"
  grep -qx 'write /dev/shm/x: OK' <<<"$output"
  # without --read-only the same writes work
  d run --rm berth-probe sh -c '/probe write /newfile; /probe write /tmp/x'
  grep -qx 'write /newfile: OK' <<<"$output"
  grep -qx 'write /tmp/x: OK' <<<"$output"
}

@test "root in the container is an unprivileged uid on the host (uid_map, owner of a file in upper/)" {
  d run --name iso-userns berth-probe sh -c '/probe uidmap; /probe write /created-by-root; id -u'
  [[ $status -eq 0 ]]
  local base gbase count
  read -r _ _ base count < <(grep '^uid_map ' <<<"$output")
  read -r _ _ gbase _ < <(grep '^gid_map ' <<<"$output")
  echo "uid base $base count $count gid base $gbase"
  [[ $(grep -c '^uid_map ' <<<"$output") -eq 1 ]]
  [[ $count == 65536 && $gbase == "$base" ]]
  # a block of berth's range, never block 0 (imaged's)
  ((base >= BERTH_SUBID_START + 65536 && base < BERTH_SUBID_START + 268435456))
  (((base - BERTH_SUBID_START) % 65536 == 0))
  grep -qx 'write /created-by-root: OK' <<<"$output"
  grep -qx 0 <<<"$output"
  # the file container root made is owned by the base uid on the host
  local id
  id=$(ctr_id iso-userns)
  [[ $(stat -c '%u %g' "$T/data/containers/$id/upper/created-by-root") == "$base $base" ]]
  [[ $(stat -c '%u %g' "$T/data/containers/$id/upper") == "$base $base" ]]
  dk rm iso-userns
  # a second container running at the same time gets a block of its own
  d run -d --name iso-userns1 berth-probe sleep 1000
  d run -d --name iso-userns2 berth-probe sleep 1000
  local p1 p2
  p1=$(ctr_pid iso-userns1)
  p2=$(ctr_pid iso-userns2)
  local b1 b2
  b1=$(awk '{ print $2 }' "/proc/$p1/uid_map")
  b2=$(awk '{ print $2 }' "/proc/$p2/uid_map")
  echo "bases $b1 $b2"
  [[ $b1 != "$b2" ]]
  # and seen from the host, the process runs as that uid
  [[ $(proc_status "$p1" Uid) == "$b1 $b1 $b1 $b1" ]]
  dk rm -f iso-userns1 iso-userns2
}
