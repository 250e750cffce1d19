# Sourced by fresh-check.sh: a cached Debian 12 rootfs
# (rootfs-N.tar: bump N when the package list changes) and a real systemd (PID 1) booted in systemd-nspawn on a host whose PID 1
# is not systemd. Needs root, systemd-container and mmdebstrap.

WORK=${WORK:-/var/tmp/berth-systemd}

# Builds $WORK/rootfs-1.tar once (mmdebstrap from the host's Debian mirror):
# minbase + systemd as init + what berth's binaries need at run time.
nspawn_rootfs_tar() {
  mkdir -p "$WORK"
  [[ -s $WORK/rootfs-1.tar ]] && return 0
  local mirror
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  echo "# building $WORK/rootfs-1.tar from ${mirror:-the default mirror}" >&2
  mmdebstrap --variant=minbase \
    --include=systemd-sysv,dbus,procps,util-linux,passwd,curl,git,ca-certificates,libprotobuf-c1,libseccomp2,libcap-ng0,libmicrohttpd12,libcurl4,libjson-c5,libsubid4 \
    bookworm "$WORK/rootfs-1.new.tar" ${mirror:+"$mirror"} >"$WORK/mmdebstrap.log" 2>&1
  mv "$WORK/rootfs-1.new.tar" "$WORK/rootfs-1.tar"
}

# nspawn_extract DIR: a fresh copy of the rootfs in DIR.
nspawn_extract() {
  rm -rf "$1"
  mkdir -p "$1"
  tar -C "$1" -xf "$WORK/rootfs-1.tar"
}

# nspawn_boot DIR NAME: boots DIR, waits until systemd is up; sets
# NSPAWN_PID and LEADER (the guest's PID 1 as seen from the host).
# --register=no --keep-unit: there is no machined on the host.
# --private-network: the guest gets CAP_NET_ADMIN (berth-netd needs it).
nspawn_boot() {
  echo "$2" >"$1/etc/hostname"
  systemd-nspawn -q -b -D "$1" --machine="$2" --register=no --keep-unit --private-network \
    >"$WORK/$2-console.log" 2>&1 &
  NSPAWN_PID=$!
  LEADER=
  local state= _
  for _ in $(seq 600); do
    LEADER=$(pgrep -P "$NSPAWN_PID" | head -n 1 || true)
    if [[ -n $LEADER ]]; then
      state=$(nsenter -t "$LEADER" -a systemctl is-system-running 2>/dev/null || true)
      [[ $state == running || $state == degraded ]] && return 0
    fi
    sleep 0.1
  done
  echo "guest $2 did not boot (state: ${state:-none}); console: $WORK/$2-console.log" >&2
  return 1
}

# Runs a command in the guest as a transient unit (its own cgroup, like a
# real service), stdout/stderr piped back, exit status passed on.
nspawn_run() {
  nsenter -t "$LEADER" -a systemd-run --wait --pipe --quiet --collect -p Delegate=yes "$@"
}

nspawn_poweroff() {
  [[ -n ${NSPAWN_PID:-} ]] || return 0
  [[ -n ${LEADER:-} ]] && nsenter -t "$LEADER" -a systemctl poweroff >/dev/null 2>&1 || true
  local _
  for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
  kill "$NSPAWN_PID" 2>/dev/null || true
  NSPAWN_PID=
}
