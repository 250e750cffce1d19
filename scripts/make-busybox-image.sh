#!/usr/bin/env bash
# Builds busybox:latest as a docker-archive from Debian's busybox-static,
# with no registry and deterministically: the same package gives the same
# bytes and so the same image id.
#
#   scripts/make-busybox-image.sh OUT.tar [--tag NAME] [--busybox PATH]
#
# One layer: /bin/busybox, a symlink per applet (`busybox --list-full`),
# /etc/passwd, /etc/group, /root, /tmp (1777) and empty mount points; every
# entry owned by 0:0 with the mtime of the busybox binary as installed by the
# package (SOURCE_DATE_EPOCH overrides it); architecture from dpkg. Prints the
# image id.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage() { echo "usage: $0 OUT.tar [--tag NAME] [--busybox PATH]" >&2; exit 2; }

out= tag=busybox:latest bb=/bin/busybox
while (($#)); do
  case $1 in
    --tag) tag=${2:?}; shift 2 ;;
    --busybox) bb=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [[ -z $out ]] || usage; out=$1; shift ;;
  esac
done
[[ -n $out ]] || usage
[[ -x $bb ]] || { echo "$0: $bb missing: apt-get install busybox-static" >&2; exit 1; }

version=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)
arch=$(dpkg --print-architecture)
mtime=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$bb")}
applets=$(mktemp)
trap 'rm -f "$applets"' EXIT
"$bb" --list-full >"$applets"

python3 "$here/lib/make_image.py" busybox "$out" --busybox "$bb" --applets "$applets" \
  --mtime "$mtime" --arch "$arch" --version "$version" --tag "$tag"
