#!/usr/bin/env bash
# Proves README's two commands on a fresh Debian 12 machine with systemd as
# PID 1: a minimal Debian 12 rootfs (systemd-nspawn), this repository cloned
# into /root/berth (HEAD, committed work only), then
#   1. scripts/install-deps.sh in a chroot (the guest has no network: it is
#      booted with a private network so that berth-netd gets CAP_NET_ADMIN),
#   2. scripts/setup.sh in the booted guest: build, install, users, range,
#      systemctl enable --now berth.socket, berth version, berth info,
#   3. scripts/setup.sh again: idempotent, restarts the running engine,
#   4. scripts/test.sh in the booted guest: the whole suite.
# Prints TAP; logs in $WORK (default /var/tmp/berth-systemd/fresh-*.log).
#
#   scripts/fresh-check.sh
#
# Needs root, systemd-container, mmdebstrap and the network (Debian mirror).
# Takes about 5 minutes on 2 cores; not part of scripts/test.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

[[ $(id -u) -eq 0 ]] || { echo "1..0 # SKIP needs root"; exit 0; }
for t in systemd-nspawn mmdebstrap nsenter git; do
  command -v $t >/dev/null || { echo "1..0 # SKIP $t missing (scripts/install-deps.sh)"; exit 0; }
done

. "$here/lib-nspawn.sh"
R=$WORK/fresh
nspawn_rootfs_tar
nspawn_extract "$R"
git clone -q "$repo" "$R/root/berth"

echo "1..4"
# 1. Packages, with the host's network and resolver, in a chroot.
cp /etc/resolv.conf "$R/etc/resolv.conf"
mounted=()
for m in proc sys dev; do mount --bind "/$m" "$R/$m" && mounted+=("$R/$m"); done
rc=0
chroot "$R" /root/berth/scripts/install-deps.sh >"$WORK/fresh-deps.log" 2>&1 || rc=$?
for m in "${mounted[@]}"; do umount "$m"; done
if [[ $rc -eq 0 ]]; then echo "ok 1 - scripts/install-deps.sh"; else
  echo "not ok 1 - scripts/install-deps.sh (exit $rc, see $WORK/fresh-deps.log)"; echo "Bail out!"; exit 1; fi

trap nspawn_poweroff EXIT
nspawn_boot "$R" berth-fresh || { echo "Bail out! guest did not boot"; exit 1; }

# The README's two commands, as root, in the repository; setup twice.
n=1
failed=0
main_pid() { nsenter -t "$LEADER" -a systemctl show -P MainPID berth.service; }
for cmd in setup setup test; do
  n=$((n + 1))
  rc=0
  before=$(main_pid)
  nspawn_run -p WorkingDirectory=/root/berth "/root/berth/scripts/$cmd.sh" >"$WORK/fresh-$cmd-$n.log" 2>&1 || rc=$?
  what="scripts/$cmd.sh"
  if [[ $n -eq 3 ]]; then
    what="$what again (idempotent; restarts the engine)"
    [[ $rc -ne 0 || $before == 0 || $(main_pid) != "$before" ]] || rc=99
  fi
  if [[ $rc -eq 0 ]]; then echo "ok $n - $what"; else
    echo "not ok $n - $what (exit $rc, see $WORK/fresh-$cmd-$n.log)"
    failed=1
  fi
  tail -n 4 "$WORK/fresh-$cmd-$n.log" | sed 's/^/# /'
done
exit $failed
