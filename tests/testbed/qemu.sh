#!/usr/bin/env bash
# The qemu tier of the testbed: boots Debian 12's own kernel with the unified
# cgroup hierarchy (cgroup v2 with every controller, which the build machines'
# hybrid hosts cannot give), once, with berth installed as a package would be,
# runs tests/testbed/guest-cgroup-suite.sh in it from a 9p share and prints
# its TAP. Exit status: the suite's.
#
#   tests/testbed/qemu.sh [BUILD_DIR]        (default: build)
#
# Cached in $BERTH_TESTBED_CACHE (default /var/tmp/berth-testbed): the
# rootfs tar (tests/testbed/lib.sh), the kernel .deb and its modules. Uses
# TCG (software emulation; BERTH_QEMU_ACCEL=kvm to use /dev/kvm). Knobs:
# BERTH_QEMU_SMP (2), BERTH_QEMU_MEM (MiB, 1536), BERTH_QEMU_TIMEOUT (s, 840),
# BERTH_QEMU_ACCEL (tcg|kvm), BERTH_QEMU_WORK (work dir, $cache/qemu).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BUILD=$(cd "${1:-${BERTH_BUILD_DIR:-$repo/build}}" && pwd)

skip() { echo "1..0 # SKIP $*"; exit 0; }
[[ $(id -u) -eq 0 ]] || skip "needs root"
for t in qemu-system-x86_64 mmdebstrap mkfs.ext4 cpio busybox apt-get dpkg-deb; do
  command -v "$t" >/dev/null || skip "$t missing (scripts/install-deps.sh)"
done
[[ -x /bin/busybox ]] || skip "/bin/busybox missing (busybox-static)"

. "$here/lib.sh"
mirror=$(testbed_mirror)
cache=$BERTH_TESTBED_CACHE
work=${BERTH_QEMU_WORK:-$cache/qemu}
mkdir -p "$work"
# one run at a time per work directory (image, share and console are reused)
exec 9>"$work/lock"
flock 9
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# The rootfs and the kernel need the mirror only the first time.
if [[ ! -s $(testbed_rootfs_path) || -z $(ls "$cache"/kernel/linux-image-*.deb 2>/dev/null) ]]; then
  testbed_mirror_reachable "$mirror" || skip "Debian mirror ${mirror:-(none configured)} unreachable"
fi

t0=$(now)
# Debian's kernel: the package linux-image-amd64 depends on, cached as .deb.
kdeb=$(ls "$cache"/kernel/linux-image-*.deb 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z $kdeb ]]; then
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [[ -n $pkg ]] || skip "apt-cache knows no linux-image-amd64 (apt-get update)"
  mkdir -p "$cache/kernel"
  (cd "$cache/kernel" && apt-get download -q "$pkg" >/dev/null 2>&1) || skip "apt-get download $pkg failed"
  kdeb=$(ls "$cache"/kernel/linux-image-*.deb | sort -V | tail -n 1)
fi
kx=$cache/kernel/x-$(basename "$kdeb" .deb)
if [[ ! -d $kx/lib/modules ]]; then
  rm -rf "$kx.new"
  dpkg-deb -x "$kdeb" "$kx.new"
  mv "$kx.new" "$kx"
fi
kver=$(ls "$kx/lib/modules" | sort -V | tail -n 1)

# Guest root: the shared rootfs + the kernel's modules + this build.
root=$work/root
testbed_extract "$root" || { echo "Bail out! no guest rootfs (see $cache/mmdebstrap.log)"; exit 1; }
mkdir -p "$root/lib/modules"
cp -a "$kx/lib/modules/$kver" "$root/lib/modules/"
chroot "$root" depmod "$kver"
testbed_install "$root" "$BUILD" || { echo "Bail out! cannot install $BUILD into the guest"; exit 1; }
install -d "$root/root/berth/scripts" "$root/root/berth/units"
install -m 0755 "$repo/scripts/host-prereqs.sh" "$root/root/berth/scripts/"

# The runner: after boot, mounts the share, runs the payload, records its
# exit status, powers off (also when it fails).
cat >"$root/etc/systemd/system/testbed-run.service" <<'UNIT'
[Unit]
Description=berth testbed: run the payload from the host's 9p share, then power off
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
ExecStartPre=/bin/mkdir -p /mnt/host
ExecStartPre=/bin/mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host
ExecStart=/bin/sh -c '/mnt/host/payload.sh >/mnt/host/out.log 2>&1; echo $? >/mnt/host/rc; sync'
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sfn /etc/systemd/system/testbed-run.service "$root/etc/systemd/system/multi-user.target.wants/testbed-run.service"
ln -sfn /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sfn /dev/null "$root/etc/systemd/system/getty@tty1.service"

cp "$kx/boot/vmlinuz-$kver" "$work/vmlinuz"
"$here/mkinitrd.sh" "$root/lib/modules/$kver" "$work/initrd.img" >/dev/null
img=$work/root.img
rm -f "$img"
truncate -s 3G "$img"
mkfs.ext4 -q -F -L berth-testbed -d "$root" "$img"
rm -rf "$root"

share=$work/share
rm -rf "$share"
mkdir -p "$share"
install -m 0755 "$here/guest-cgroup-suite.sh" "$share/payload.sh"
"$repo/scripts/make-busybox-image.sh" "$share/busybox.tar" >/dev/null
echo "# prepared in $(since "$t0")s (kernel $kver)"

# TCG by default: on the CI machines /dev/kvm opens but a KVM guest never
# runs (nested virtualisation), and TCG boots this guest in well under a minute.
accel=${BERTH_QEMU_ACCEL:-tcg}
if [[ $accel == kvm ]]; then
  accel_args=(-accel kvm -cpu host)
else
  accel_args=(-accel tcg,thread=multi -cpu max)
fi
t1=$(now)
rc=0
timeout "${BERTH_QEMU_TIMEOUT:-840}" qemu-system-x86_64 -machine q35 "${accel_args[@]}" \
  -smp "${BERTH_QEMU_SMP:-2}" -m "${BERTH_QEMU_MEM:-1536}" \
  -nodefaults -no-user-config -display none -no-reboot \
  -serial file:"$work/console.log" \
  -kernel "$work/vmlinuz" -initrd "$work/initrd.img" \
  -append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.unified_cgroup_hierarchy=1 systemd.show_status=1" \
  -drive file="$img",format=raw,if=virtio,cache=unsafe \
  -virtfs local,path="$share",mount_tag=host,security_model=none,id=host \
  -nic none || rc=$?
echo "# qemu ($accel) boot + suite + poweroff: $(since "$t1")s, exit $rc"
if [[ ! -s $share/out.log ]]; then
  echo "Bail out! the guest ran no suite; console ($work/console.log):"
  tail -n 40 "$work/console.log" | sed 's/^/# /'
  exit 1
fi
cat "$share/out.log"
grc=$(cat "$share/rc" 2>/dev/null || echo 99)
echo "# console: $work/console.log, total $(since "$t0")s"
exit "$grc"
