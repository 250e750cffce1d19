#!/usr/bin/env bash
# Installs every Debian 12 package berth needs to build, test and run.
# Idempotent: when every package is already installed it does nothing (no
# network needed); --force runs apt-get anyway. Run as root.
set -euo pipefail

# Keep this list the single source of truth; other owners add to it.
PACKAGES=(
  # toolchain and build
  build-essential pkg-config meson ninja-build clang llvm
  protobuf-c-compiler libprotobuf-c-dev
  # libraries (see DESIGN.md "Dependencies")
  libsystemd-dev libseccomp-dev libcap-ng-dev libmicrohttpd-dev
  libcurl4-openssl-dev libjson-c-dev libssl-dev libsubid-dev
  libarchive-dev libmnl-dev libnftables-dev libsqlite3-dev
  # runtime: systemd-sysusers/-tmpfiles/-socket-activate/-analyze, usermod,
  # pgrep, ip, CA certificates for registry pulls
  systemd passwd procps iproute2 ca-certificates
  # tests (systemd-container and mmdebstrap: tests/testbed/)
  bats jq curl busybox-static python3 systemd-container mmdebstrap
  # the man pages' formatting check (tests/build/man-pages.sh)
  groff-base
  # image tests and bench (tests/e2e/images*.bats, bench/load.sh): zstd layers,
  # the store's SQLite dump, podman load of what berth saves
  zstd sqlite3 podman
  # container bench (bench/run.sh): crun run of the busybox rootfs
  crun
  # the Docker SDK for Python (docker-py), a real client of the API
  # (tests/e2e/sdk-containers.bats, run with /usr/bin/python3)
  python3-docker
  # qemu tier of the testbed (tests/testbed/qemu.sh): Debian's kernel booted
  # with cgroup v2, an ext4 root image, a busybox initramfs
  qemu-system-x86 qemu-utils e2fsprogs cpio
)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 && ${1:-} != --force ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing: ${missing[*]:-${PACKAGES[*]}}"
apt-get -o DPkg::Lock::Timeout=600 update
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${PACKAGES[@]}"
