# Shared by the testbed tiers (nspawn.sh, qemu): a cached minimal Debian 12
# guest rootfs and the installation of a berth build into a copy of it.
# Sourced, not run. Needs root and mmdebstrap.
#
#   BERTH_TESTBED_CACHE   cache directory (default /var/tmp/berth-testbed)
#
# Functions:
#   testbed_mirror             prints the host's Debian mirror (first URIs:)
#   testbed_rootfs_tar         builds (once) and prints the path of the rootfs tar
#   testbed_extract DIR        a fresh copy of the rootfs in DIR
#   testbed_install DIR BUILD  installs the build into DIR as a package would

BERTH_TESTBED_CACHE=${BERTH_TESTBED_CACHE:-/var/tmp/berth-testbed}
TESTBED_SUITE=bookworm

# Guest packages: systemd as PID 1 and the tools the checks use, plus the
# run-time libraries of berth's binaries (ldd of build/*; -dev packages in
# scripts/install-deps.sh) and what berth needs besides (uidmap for
# subordinate ids, busybox-static for the test image).
TESTBED_PACKAGES=(
  systemd-sysv dbus iproute2 procps util-linux kmod passwd curl ca-certificates
  libmicrohttpd12 libjson-c5 libprotobuf-c1 libseccomp2 libcap-ng0 libcap2
  libarchive13 libcurl4 libsqlite3-0 libsubid4 libssl3 libsystemd0
  busybox-static uidmap
)

# The first URIs: line of the host's deb822 sources, else the first deb line
# of sources.list. Empty if none is configured.
testbed_mirror() {
  local f m=
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    m=$(awk '/^URIs:/ { print $2; exit }' "$f")
    [[ -n $m ]] && break
  done
  if [[ -z $m ]]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -r $f ]] || continue
      m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; exit } }' "$f")
      [[ -n $m ]] && break
    done
  fi
  echo "$m"
}

# Succeeds when the mirror answers (for a clear SKIP reason otherwise).
testbed_mirror_reachable() {
  local m=$1
  [[ -n $m ]] || return 1
  case $m in
    http://*|https://*) curl -fsS -o /dev/null --max-time 15 "$m/dists/$TESTBED_SUITE/Release" ;;
    *) return 0 ;;
  esac
}

# Cache key: suite + sorted package list.
testbed_key() {
  printf '%s\n' "$TESTBED_SUITE" "${TESTBED_PACKAGES[@]}" | sort | sha256sum | cut -c1-12
}

testbed_rootfs_path() {
  echo "$BERTH_TESTBED_CACHE/rootfs-$TESTBED_SUITE-$(testbed_key).tar"
}

# Builds the rootfs tar unless cached; prints its path. mmdebstrap's log goes
# to $BERTH_TESTBED_CACHE/mmdebstrap.log.
testbed_rootfs_tar() {
  local tar tmp mirror incl lockfd
  tar=$(testbed_rootfs_path)
  tmp=${tar%.tar}.new.tar   # mmdebstrap picks the output format by the suffix
  mkdir -p "$BERTH_TESTBED_CACHE"
  # One build at a time per cache (concurrent runs wait for it).
  exec {lockfd}>"$BERTH_TESTBED_CACHE/.rootfs.lock"
  flock "$lockfd"
  if [[ ! -s $tar ]]; then
    mirror=$(testbed_mirror)
    [[ -n $mirror ]] || { echo "testbed: no mirror in the host's apt sources" >&2; return 1; }
    incl=$(IFS=,; echo "${TESTBED_PACKAGES[*]}")
    echo "testbed: building $tar from $mirror" >&2
    if ! mmdebstrap --variant=minbase --include="$incl" "$TESTBED_SUITE" "$tmp" "$mirror" \
        >"$BERTH_TESTBED_CACHE/mmdebstrap.log" 2>&1; then
      rm -f "$tmp"
      exec {lockfd}>&-
      echo "testbed: mmdebstrap failed, see $BERTH_TESTBED_CACHE/mmdebstrap.log" >&2
      return 1
    fi
    mv "$tmp" "$tar"
  fi
  exec {lockfd}>&-
  echo "$tar"
}

testbed_extract() {  # DIR
  local tar
  tar=$(testbed_rootfs_tar) || return 1
  rm -rf "$1"
  mkdir -p "$1"
  tar -C "$1" -xf "$tar"
}

# testbed_install DIR BUILD: meson install --destdir into DIR (binaries,
# units in <prefix>/lib/systemd/system, sysusers.d, tmpfiles.d), the
# subordinate id range as scripts/host-prereqs.sh sets it, berth.socket
# enabled (by symlink, as `systemctl enable` would), hostname, no root password.
testbed_install() {
  local dir=$1 build=$2 prefix unitdir
  meson install -C "$build" --destdir "$dir" --no-rebuild --quiet >/dev/null || return 1
  prefix=$(meson introspect "$build" --buildoptions |
    python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
  unitdir=$prefix/lib/systemd/system
  [[ -f $dir$unitdir/berth.socket ]] || { echo "testbed: $unitdir/berth.socket not installed" >&2; return 1; }
  # subordinate ids, as scripts/host-prereqs.sh (RANGE_*)
  local line=berth:1879048192:268435456 f
  for f in "$dir/etc/subuid" "$dir/etc/subgid"; do
    touch "$f"
    grep -qxF "$line" "$f" || echo "$line" >>"$f"
  done
  mkdir -p "$dir/etc/systemd/system/sockets.target.wants"
  ln -sfn "$unitdir/berth.socket" "$dir/etc/systemd/system/sockets.target.wants/berth.socket"
  echo berth-testbed >"$dir/etc/hostname"
  chroot "$dir" passwd -d root >/dev/null 2>&1 || true
}
