#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running engine:
# packages, build, install (prefix /usr/local), users and id range,
# directories, start, and proof that it answers.
#
#   scripts/setup.sh
#
# Re-running it rebuilds, reinstalls and restarts the engine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
PREFIX=/usr/local
BUILD=${BERTH_SETUP_BUILD_DIR:-$repo/build}
SOCK=/run/berth/berth.sock
PIDFILE=/run/berth-execd.pid
LOGDIR=/var/log/berth

step() { printf '\n==> %s\n' "$*"; }
die() { echo "setup: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root"

step "1/6 Debian packages"
"$here/install-deps.sh"

step "2/6 build ($BUILD) and install (prefix $PREFIX)"
"$here/meson-build.sh" "$BUILD" -Dprefix="$PREFIX"
meson install -C "$BUILD" --no-rebuild --quiet

step "3/6 users, subordinate id range, directories"
"$here/host-prereqs.sh" --tmpfiles

# Waits until the API socket answers GET /_ping.
wait_for_api() {
  local i
  for i in $(seq 150); do
    if curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  return 1
}

# Stops an engine a previous run of this script started in the background.
stop_background_engine() {
  [[ -s $PIDFILE ]] || return 0
  local pid
  pid=$(cat "$PIDFILE")
  if [[ -d /proc/$pid ]] && [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == */berth-execd* ]]; then
    echo "stopping berth-execd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    if [[ -d /proc/$pid ]]; then
      echo "berth-execd (pid $pid) did not stop in 10 s; killing it" >&2
      kill -KILL "$pid" || true
    fi
  fi
  rm -f "$PIDFILE"
}

step "4/6 start the engine"
if [[ -d /run/systemd/system ]]; then
  # systemd is PID 1: socket activation. The units were installed into
  # $PREFIX/lib/systemd/system, which systemd searches.
  stop_background_engine
  systemctl daemon-reload
  systemctl enable --now berth.socket
  # Pick up a new binary if an older engine is running.
  if systemctl is-active --quiet berth.service; then
    systemctl restart berth.service
  fi
else
  # No systemd (containers, minimal hosts, these build machines): run
  # berth-execd in its own session; it creates $SOCK itself.
  stop_background_engine
  install -d -m 0750 "$LOGDIR"
  setsid "$PREFIX/sbin/berth-execd" </dev/null >>"$LOGDIR/execd.log" 2>&1 &
  echo $! >"$PIDFILE"
  echo "berth-execd started (pid $(cat "$PIDFILE")), log $LOGDIR/execd.log"
fi

step "5/6 the engine answers"
if ! wait_for_api; then
  echo "setup: $SOCK does not answer" >&2
  [[ -f $LOGDIR/execd.log ]] && tail -n 30 "$LOGDIR/execd.log" >&2
  [[ -d /run/systemd/system ]] && journalctl -u berth.service -n 30 --no-pager >&2
  exit 1
fi
if [[ -s $PIDFILE ]] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  echo "setup: berth-execd exited; another engine answers on $SOCK" >&2
  tail -n 30 "$LOGDIR/execd.log" >&2
  exit 1
fi
"$PREFIX/bin/berth" version
echo
"$PREFIX/bin/berth" info

step "6/6 the busybox image (offline, from Debian's busybox-static) and a first container"
# Built deterministically (same package, same image id) and loaded; loading
# an image that is already there changes nothing.
busybox_tar=$(mktemp /tmp/berth-busybox.XXXXXX.tar)
trap 'rm -f "$busybox_tar"' EXIT
"$here/make-busybox-image.sh" "$busybox_tar" --tag busybox:latest >/dev/null
"$PREFIX/bin/berth" load -i "$busybox_tar"
rm -f "$busybox_tar"
echo
"$PREFIX/bin/berth" images
echo
"$PREFIX/bin/berth" run --rm busybox echo "hello from a berth container"

echo
echo "berth is running. Talk to it with 'berth' or, with the docker CLI,"
echo "DOCKER_HOST=unix://$SOCK docker version"
