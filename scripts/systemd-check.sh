#!/usr/bin/env bash
# Checks the real units under a real systemd (PID 1), on a host whose PID 1
# is not systemd: boots a Debian 12 rootfs in systemd-nspawn, installs the
# build into it (meson install --destdir), does what scripts/setup.sh does on
# a systemd host (sysusers, range, tmpfiles, `systemctl enable --now
# berth.socket`) and checks socket activation, Type=notify readiness, the
# services' demotion, restarts and stop. Prints TAP.
#
#   scripts/systemd-check.sh [BUILD_DIR]        (default: build)
#
# Needs root, systemd-container and mmdebstrap (scripts/install-deps.sh), and
# the network once: the rootfs is built with mmdebstrap from the host's
# Debian mirror and cached in $WORK (default /var/tmp/berth-systemd,
# about 250 MB). Not part of scripts/test.sh (needs the network and takes a
# minute or two on a fresh machine); run it after changing units/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BUILD=$(cd "${1:-$repo/build}" && pwd)

[[ $(id -u) -eq 0 ]] || { echo "1..0 # SKIP needs root"; exit 0; }
for t in systemd-nspawn mmdebstrap nsenter; do
  command -v $t >/dev/null || { echo "1..0 # SKIP $t missing (scripts/install-deps.sh)"; exit 0; }
done

. "$here/lib-nspawn.sh"
R=$WORK/root
nspawn_rootfs_tar
nspawn_extract "$R"
meson install -C "$BUILD" --destdir "$R" --no-rebuild --quiet >/dev/null
install -d "$R/root/berth/scripts" "$R/root/berth/units"
install -m 0755 "$here/host-prereqs.sh" "$R/root/berth/scripts/"
install -m 0644 "$repo"/units/berth.{sysusers,tmpfiles} "$R/root/berth/units/"

trap nspawn_poweroff EXIT
nspawn_boot "$R" berth-check || { echo "Bail out! guest did not boot"; exit 1; }
leader=$LEADER

g() { nsenter -t "$leader" -a "$@"; }
n=0
failed=0
check() {  # description command...
  local d=$1
  shift
  n=$((n + 1))
  local out
  if out=$("$@" 2>&1); then
    echo "ok $n - $d"
  else
    echo "not ok $n - $d"
    sed 's/^/# /' <<<"$out"
    failed=$((failed + 1))
  fi
}
prop() { g systemctl show -P "$2" "$1"; }
field() { g awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$1/status"; }
svc_pid() {
  local p
  for p in $(g pgrep -P "$(prop berth.service MainPID)"); do
    [[ $(g cat "/proc/$p/cmdline" | tr '\0' '\n' | head -n 1) == "$1" ]] && { echo "$p"; return 0; }
  done
  return 1
}
wait_running() {
  for _ in $(seq 100); do
    g /usr/local/bin/berth info 2>/dev/null | grep -c ' running ' | grep -qx 3 && return 0
    sleep 0.1
  done
  return 1
}

echo "1..14"
check "setup as on a systemd host: sysusers, range, tmpfiles, enable --now berth.socket" \
  g sh -c 'systemd-sysusers && /root/berth/scripts/host-prereqs.sh && systemd-tmpfiles --create &&
    systemctl daemon-reload && systemctl enable --now berth.socket'
check "sysusers.d read from /usr/local/lib: users berth-api, berth-net, berth" \
  g sh -c 'systemd-sysusers --cat-config | grep -q "^# /usr/local/lib/sysusers.d/berth.conf" && id berth-api && id berth-net && id berth'
check "berth.socket listens on /run/berth/berth.sock (0660), berth.service not started yet" \
  g sh -c 'systemctl is-active berth.socket && test -S /run/berth/berth.sock &&
    test "$(stat -c %a /run/berth/berth.sock)" = 660 && ! systemctl is-active berth.service'
check "the first connection starts berth.service (Type=notify: active once READY=1)" \
  g sh -c '/usr/local/bin/berth version && systemctl is-active berth.service'
check "the engine took systemd's socket" \
  g sh -c 'journalctl -u berth.service --no-pager | grep -q "socket-activated"'
check "STATUS= text from berth-execd" test -n "$(prop berth.service StatusText)"
check "three services running" wait_running
apid=$(svc_pid berth-apid || true)
netd=$(svc_pid berth-netd || true)
imaged=$(svc_pid berth-imaged || true)
check "berth-apid: berth-api, no capabilities, nnp, seccomp" \
  test "$(field "$apid" Uid | cut -d' ' -f1)" = "$(g id -u berth-api)" -a "$(field "$apid" CapBnd)" = 0000000000000000 \
  -a "$(field "$apid" NoNewPrivs)" = 1 -a "$(field "$apid" Seccomp)" = 2
check "berth-netd: berth-net, CAP_NET_ADMIN only, nnp, seccomp" \
  test "$(field "$netd" Uid | cut -d' ' -f1)" = "$(g id -u berth-net)" -a "$(field "$netd" CapEff)" = 0000000000001000 \
  -a "$(field "$netd" CapBnd)" = 0000000000001000 -a "$(field "$netd" Seccomp)" = 2
check "berth-imaged: own user namespace mapped onto berth's range, nnp, seccomp" \
  test "$(g awk '{ print $1, $2, $3 }' "/proc/$imaged/uid_map")" = "0 1879048192 65536" \
  -a "$(field "$imaged" NoNewPrivs)" = 1 -a "$(field "$imaged" Seccomp)" = 2
main=$(prop berth.service MainPID)
g kill -KILL "$apid" || true
check "kill -9 berth-apid: restarted by berth-execd, not by systemd" \
  sh -c "sleep 1; [ \"\$(nsenter -t $leader -a systemctl show -P MainPID berth.service)\" = $main ] && \
    nsenter -t $leader -a /usr/local/bin/berth version >/dev/null"
check "systemctl restart berth.service: new executor, the socket stays, the API answers" \
  g sh -c "systemctl restart berth.service && [ \"\$(systemctl show -P MainPID berth.service)\" != $main ] &&
    systemctl is-active berth.socket && /usr/local/bin/berth version >/dev/null"
check "systemctl stop berth.service: clean exit (status 0), no service left, socket still listening" \
  g sh -c 'systemctl stop berth.service && [ "$(systemctl show -P Result berth.service)" = success ] &&
    [ "$(systemctl show -P ExecMainStatus berth.service)" = 0 ] && ! pgrep -f "^berth-(apid|imaged|netd)" &&
    systemctl is-active berth.socket && test -S /run/berth/berth.sock'
check "a new connection starts it again" \
  g sh -c '/usr/local/bin/berth version >/dev/null && systemctl is-active berth.service'
g journalctl -u berth.service --no-pager -n 40 >"$WORK/berth-journal.log" 2>&1 || true
echo "# journal: $WORK/berth-journal.log, console: $WORK/berth-check-console.log"
exit $((failed > 0))
