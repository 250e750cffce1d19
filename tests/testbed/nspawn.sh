#!/usr/bin/env bash
# The nspawn tier of the testbed: boots a minimal Debian 12 guest with
# systemd as PID 1 in systemd-nspawn, with the build installed as a package
# would install it (tests/testbed/lib.sh), and checks berth under a real
# systemd: socket activation, Type=notify readiness, sysusers.d/tmpfiles.d,
# a container surviving `systemctl restart berth.service`, the systemd
# cgroup backend's scope, a clean stop. Prints TAP. See docs/testbed.md.
#
#   tests/testbed/nspawn.sh [BUILD_DIR]      (default: build)
#
# Root only. Skips (1..0 # SKIP) without systemd-nspawn, mmdebstrap or a
# reachable mirror (the rootfs is cached in $BERTH_TESTBED_CACHE, default
# /var/tmp/berth-testbed; once cached the mirror is not needed).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BUILD=$(cd "${1:-$repo/build}" && pwd)
. "$here/lib.sh"

skip() { echo "1..0 # SKIP $*"; exit 0; }
[[ $(id -u) -eq 0 ]] || skip "needs root"
for t in systemd-nspawn nsenter mmdebstrap curl; do
  command -v "$t" >/dev/null || skip "$t missing (apt-get install systemd-container mmdebstrap curl)"
done
if [[ ! -s $(testbed_rootfs_path) ]]; then
  mirror=$(testbed_mirror)
  [[ -n $mirror ]] || skip "no Debian mirror in the host's apt sources"
  testbed_mirror_reachable "$mirror" || skip "mirror $mirror unreachable (rootfs not cached)"
fi

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Guest directory and machine name unique per run: other runs may boot
# guests at the same time.
name=berth-nspawn-$$
R=$BERTH_TESTBED_CACHE/$name
NSPAWN_PID= LEADER=
cleanup() {
  if [[ -n $NSPAWN_PID ]]; then
    [[ -n $LEADER ]] && nsenter -t "$LEADER" -a systemctl poweroff >/dev/null 2>&1
    for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
    kill "$NSPAWN_PID" 2>/dev/null
    wait "$NSPAWN_PID" 2>/dev/null
  fi
  [[ ${BERTH_TESTBED_KEEP:-0} == 1 ]] || rm -rf "$R"
}
trap cleanup EXIT

testbed_extract "$R" || { echo "Bail out! could not build or extract the rootfs"; exit 1; }
echo "# rootfs ready after $(elapsed)s"
testbed_install "$R" "$BUILD" || { echo "Bail out! could not install $BUILD into the guest"; exit 1; }
"$repo/scripts/make-busybox-image.sh" "$R/root/busybox.tar" >/dev/null ||
  { echo "Bail out! scripts/make-busybox-image.sh failed"; exit 1; }

# --register=no --keep-unit: the host has no systemd/machined ("Failed to
# open system bus" otherwise); --private-network: the guest gets
# CAP_NET_ADMIN for berth-netd. Unified hierarchy: a pure cgroup2 guest,
# the layout berth's systemd backend expects.
console=$BERTH_TESTBED_CACHE/$name-console.log
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 systemd-nspawn -q -b -D "$R" --machine="$name" \
  --register=no --keep-unit --private-network >"$console" 2>&1 &
NSPAWN_PID=$!
state=
for _ in $(seq 600); do
  LEADER=$(pgrep -P "$NSPAWN_PID" | head -n 1)
  if [[ -n $LEADER ]]; then
    state=$(nsenter -t "$LEADER" -a systemctl is-system-running 2>/dev/null)
    [[ $state == running || $state == degraded ]] && break
  fi
  sleep 0.1
done
[[ $state == running || $state == degraded ]] ||
  { echo "Bail out! guest did not boot (state: ${state:-none})"; sed 's/^/# /' "$console" | tail -n 30; exit 1; }
echo "# guest booted ($state) after $(elapsed)s, leader pid $LEADER"

# Every check runs inside the guest as a transient unit (its own cgroup and
# journal, like a real client), output piped back.
g() { nsenter -t "$LEADER" -a systemd-run --wait --pipe --quiet --collect "$@"; }
gsh() { g /bin/sh -c "$1"; }
n=0 failed=0
check() {  # description command...
  local d=$1 out
  shift
  n=$((n + 1))
  if out=$("$@" 2>&1); then
    echo "ok $n - $d"
  else
    echo "not ok $n - $d"
    sed 's/^/# /' <<<"$out"
    failed=$((failed + 1))
  fi
}
prop() { nsenter -t "$LEADER" -a systemctl show -P "$2" "$1"; }
B=/usr/local/bin/berth

echo "1..17"
check "sysusers.d at boot: users and groups berth-api, berth-net, berth" \
  gsh 'id berth-api && id berth-net && id berth && getent group berth-api berth-net berth'
check "tmpfiles.d at boot: /var/lib/berth 0711 root, /run/berth 0755 root" \
  gsh 'test "$(stat -c "%a %U" /var/lib/berth)" = "711 root" && test "$(stat -c "%a %U" /run/berth)" = "755 root"'
check "berth.socket enabled and listening (0660), berth.service inactive" \
  gsh 'systemctl is-enabled berth.socket && systemctl is-active berth.socket && test -S /run/berth/berth.sock &&
    test "$(stat -c %a /run/berth/berth.sock)" = 660 && ! systemctl is-active berth.service'
check "first connection (curl /_ping) starts berth.service by socket activation: 200 OK" \
  gsh 'test "$(curl -s -o /dev/null -w %{http_code} --unix-socket /run/berth/berth.sock http://b/_ping)" = 200 &&
    systemctl is-active berth.service'
check "Type=notify: active after READY=1 (StatusText set, ActiveEnter after ExecMainStart), NRestarts=0" \
  gsh 'test "$(systemctl show -P Type berth.service)" = notify &&
    test -n "$(systemctl show -P StatusText berth.service)" &&
    test "$(systemctl show -P NRestarts berth.service)" = 0 &&
    test "$(systemctl show -P ActiveEnterTimestampMonotonic berth.service)" -ge "$(systemctl show -P ExecMainStartTimestampMonotonic berth.service)" &&
    echo "StatusText=$(systemctl show -P StatusText berth.service)"'
# The services execd forks, as seen in the guest.
gn() { nsenter -t "$LEADER" -a "$@"; }
svc_pid() {
  local p
  for p in $(gn pgrep -P "$(prop berth.service MainPID)"); do
    [[ $(gn cat "/proc/$p/cmdline" | tr '\0' '\n' | head -n 1) == "$1" ]] && { echo "$p"; return 0; }
  done
  return 1
}
field() { gn awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
check "berth info: apid, imaged and netd running" \
  gsh "for i in \$(seq 100); do test \"\$($B info 2>/dev/null | grep -c ' running ')\" = 3 && exit 0; sleep 0.1; done; $B info; exit 1"
apid=$(svc_pid berth-apid) netd=$(svc_pid berth-netd) imaged=$(svc_pid berth-imaged)
check "berth-apid demoted: user berth-api, no capabilities, no_new_privs, seccomp" \
  test "$(field "$apid" Uid | cut -d' ' -f1)" = "$(gn id -u berth-api)" -a "$(field "$apid" CapBnd)" = 0000000000000000 \
  -a "$(field "$apid" NoNewPrivs)" = 1 -a "$(field "$apid" Seccomp)" = 2
check "berth-netd demoted: user berth-net, CAP_NET_ADMIN only, seccomp" \
  test "$(field "$netd" Uid | cut -d' ' -f1)" = "$(gn id -u berth-net)" -a "$(field "$netd" CapEff)" = 0000000000001000 \
  -a "$(field "$netd" CapBnd)" = 0000000000001000 -a "$(field "$netd" Seccomp)" = 2
check "berth-imaged: own user namespace on berth's subordinate range, no_new_privs, seccomp" \
  test "$(gn awk '{ print $1, $2, $3 }' "/proc/$imaged/uid_map")" = "0 1879048192 65536" \
  -a "$(field "$imaged" NoNewPrivs)" = 1 -a "$(field "$imaged" Seccomp)" = 2
main=$(prop berth.service MainPID)
gn kill -KILL "$apid"
check "kill -9 berth-apid: restarted by berth-execd, not by systemd (same MainPID, NRestarts=0)" \
  gsh "for i in \$(seq 50); do $B version >/dev/null 2>&1 && break; sleep 0.1; done;
    test \"\$(systemctl show -P MainPID berth.service)\" = $main && test \"\$(systemctl show -P NRestarts berth.service)\" = 0 &&
    $B version >/dev/null"
check "busybox image loaded, berth run -d --name sleeper busybox sleep 1000 running" \
  gsh "$B load -i /root/busybox.tar && $B run -d --name sleeper busybox sleep 1000 &&
    $B inspect sleeper | grep -q '\"Running\": *true'"
gpid=$(gsh "$B inspect sleeper" 2>/dev/null | grep -o '"Pid": *[0-9]*' | head -n 1 | grep -o '[0-9]*$')
cid=$(gsh "$B inspect sleeper" 2>/dev/null | grep -o '"Id": *"[0-9a-f]*"' | head -n 1 | grep -o '[0-9a-f]\{64\}')
# The container's pid as the host sees it: NSpid's second field is the
# guest's pid; its ancestors reach the guest's PID 1.
host_pid() {
  local p gp=$1 q
  for p in $(grep -lE "^NSpid:[[:space:]]+[0-9]+[[:space:]]+$gp([[:space:]]|\$)" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3); do
    q=$p
    while [[ -n $q && $q -gt 1 ]]; do
      [[ $q == "$LEADER" ]] && { echo "$p"; return 0; }
      q=$(awk '$1 == "PPid:" { print $2 }' "/proc/$q/status" 2>/dev/null)
    done
  done
  return 1
}
hpid=$( [[ -n $gpid ]] && host_pid "$gpid" )
check "systemd cgroup backend: container in berth.slice/berth-<id>.scope (/proc/PID/cgroup, systemctl status)" \
  gsh "grep -q '/berth.slice/berth-$cid.scope\$' /proc/$gpid/cgroup && systemctl is-active berth-$cid.scope &&
    systemctl status berth-$cid.scope --no-pager | grep -q 'berth.slice'"
oldmain=$(prop berth.service MainPID)
restart_check() {
  nsenter -t "$LEADER" -a systemctl restart berth.service || { echo "systemctl restart failed"; return 1; }
  local m
  m=$(prop berth.service MainPID)
  [[ $m != "$oldmain" ]] || { echo "MainPID still $m"; return 1; }
  [[ -n $hpid ]] || { echo "container pid (guest $gpid) not found from the host"; return 1; }
  [[ -d /proc/$hpid ]] || { echo "host pid $hpid gone"; return 1; }
  grep -qE "^NSpid:[[:space:]]+$hpid[[:space:]]+$gpid([[:space:]]|\$)" "/proc/$hpid/status" ||
    { echo "host pid $hpid is now another process"; grep NSpid "/proc/$hpid/status"; return 1; }
}
check "systemctl restart berth.service: new executor, container still running (same host pid ${hpid:-?})" \
  restart_check
check "berth recovers it: berth ps shows sleeper running" \
  gsh "for i in \$(seq 50); do $B ps | grep -q ' sleeper\$' && exit 0; sleep 0.1; done; $B ps; exit 1"
check "berth stop sleeper works and berth wait reports the exit code" \
  gsh "$B stop -t 1 sleeper && c=\$($B wait sleeper) && echo exit \$c && case \$c in 137|143) ;; *) exit 1;; esac &&
    ! test -d /proc/$gpid"
# The monitor leaves the scope just after reporting the exit: poll (5 s).
check "container scope gone after the stop (within 5 s)" \
  gsh "test -n '$cid' && for i in \$(seq 50); do systemctl is-active berth-$cid.scope >/dev/null || exit 0; sleep 0.1; done;
    systemctl status berth-$cid.scope --no-pager; exit 1"
check "systemctl stop berth.socket berth.service: clean (execd exit 0), no apid/imaged/netd left" \
  gsh 'systemctl stop berth.socket berth.service &&
    test "$(systemctl show -P Result berth.service)" = success &&
    test "$(systemctl show -P ExecMainStatus berth.service)" = 0 &&
    ! pgrep -x "berth-(apid|imaged|netd|execd)" && ! systemctl is-active berth.socket'
score=$(gsh 'systemd-analyze security berth.service --no-pager' 2>/dev/null | grep -i 'overall exposure' | sed 's/^[^O]*//')
echo "# systemd-analyze security berth.service: ${score:-no score}"
journal=$BERTH_TESTBED_CACHE/$name-journal.log
nsenter -t "$LEADER" -a journalctl -u berth.service -u berth.socket --no-pager >"$journal" 2>&1
[[ $failed -eq 0 ]] || { echo "# berth.service journal (also $journal):"; tail -n 40 "$journal" | sed 's/^/# /'; }
if [[ $failed -eq 0 && ${BERTH_TESTBED_KEEP:-0} != 1 ]]; then
  rm -f "$console" "$journal"
  echo "# $n/$n passed in $(elapsed)s"
else
  echo "# $((n - failed))/$n passed in $(elapsed)s; console $console"
fi
exit $((failed > 0))
