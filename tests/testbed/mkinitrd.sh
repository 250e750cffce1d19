#!/usr/bin/env bash
# A small busybox initramfs for the qemu tier: loads the modules the guest
# needs before its root is mounted (virtio block/9p, ext4) plus overlay and
# veth (berth's containers), then switch_roots into /dev/vda and runs systemd.
# initramfs-tools would take minutes on the CI machines; this takes a second.
#
#   tests/testbed/mkinitrd.sh MODULES_DIR OUT.cpio.gz
#
# MODULES_DIR is /lib/modules/<kver> of the guest kernel (with modules.dep).
# Needs busybox-static and cpio.
set -euo pipefail
md=${1:?usage: $0 MODULES_DIR OUT}
out=${2:?usage: $0 MODULES_DIR OUT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"/{bin,dev,proc,sys,newroot,mods}
cp /bin/busybox "$tmp/bin/busybox"

want=(virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p overlay veth)
declare -A done_=()
order=()
# Every module after the ones it depends on (modules.dep), once each.
add() {
  local line file deps d dn
  line=$(awk -v m="$1" -F: '{ n = $1; sub(".*/", "", n); sub("\\.ko.*", "", n); gsub("-", "_", n)
    if (n == m) { print $0; exit } }' "$md/modules.dep")
  [[ -n $line ]] || { echo "mkinitrd: module $1 not in $md/modules.dep" >&2; exit 1; }
  file=${line%%:*}
  deps=${line#*:}
  for d in $deps; do
    dn=${d##*/}; dn=${dn%%.ko*}; dn=${dn//-/_}
    add "$dn"
  done
  [[ -z ${done_[$file]:-} ]] || return 0
  done_[$file]=1
  order+=("$file")
}
for m in "${want[@]}"; do add "$m"; done
i=0
for f in "${order[@]}"; do
  i=$((i + 1))
  # Debian 12 compresses nothing; a later kernel may ship .ko.xz
  case $f in
    *.xz) xz -dc "$md/$f" >"$tmp/mods/$(printf %02d $i)-$(basename "$f" .xz)" ;;
    *) cp "$md/$f" "$tmp/mods/$(printf %02d $i)-${f##*/}" ;;
  esac
done

cat >"$tmp/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in /mods/*.ko; do insmod "$m" || echo "initrd: insmod $m failed"; done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /lib/systemd/systemd "$@"
INIT
chmod 0755 "$tmp/init"
(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
echo "mkinitrd: ${#order[@]} modules -> $out"
