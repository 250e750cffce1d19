#!/usr/bin/env bash
# Creates what berth needs on the host besides packages and binaries:
#   - system users/groups berth-api, berth-net, berth (units/berth.sysusers,
#     applied with systemd-sysusers, which works without systemd as PID 1);
#   - the subordinate id range reserved for berth-imaged:
#     berth:1879048192:268435456 in /etc/subuid and /etc/subgid;
#   - with --tmpfiles: the directories of units/berth.tmpfiles.
# Idempotent. Used by setup.sh (with --tmpfiles) and test.sh (without).
# Run as root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
units=${BERTH_UNITS_DIR:-$here/../units}

RANGE_USER=berth
RANGE_START=1879048192     # 0x70000000, far above useradd's SUB_UID_MAX (600100000)
RANGE_COUNT=268435456      # up to 2^31-1
RANGE_LAST=$((RANGE_START + RANGE_COUNT - 1))

do_tmpfiles=0
[[ ${1:-} == --tmpfiles ]] && do_tmpfiles=1

if [[ $(id -u) -ne 0 ]]; then
  echo "host-prereqs: must run as root" >&2
  exit 1
fi

# 1. Users and groups.
systemd-sysusers "$units/berth.sysusers"
for u in berth-api berth-net "$RANGE_USER"; do
  getent passwd "$u" >/dev/null || { echo "host-prereqs: user $u missing after systemd-sysusers" >&2; exit 1; }
done

# 2. Subordinate ranges. usermod takes the shadow lock; append is the fallback
#    (e.g. a passwd without --add-subuids).
add_range() {  # file usermod-flag
  local file=$1 flag=$2 line="$RANGE_USER:$RANGE_START:$RANGE_COUNT"
  [[ -e $file ]] || install -m 0644 /dev/null "$file"
  if grep -qxF "$line" "$file"; then
    return 0
  fi
  if grep -q "^$RANGE_USER:" "$file"; then
    echo "host-prereqs: warning: $file already has another range for $RANGE_USER; adding $line" >&2
  fi
  # Refuse to hand out ids that another user's range already covers.
  local other
  other=$(awk -F: -v s="$RANGE_START" -v e="$RANGE_LAST" -v u="$RANGE_USER" \
    '$1 != u && NF == 3 && $2 <= e && $2 + $3 - 1 >= s { print $0 }' "$file")
  if [[ -n $other ]]; then
    echo "host-prereqs: $file: range $RANGE_START-$RANGE_LAST overlaps: $other" >&2
    exit 1
  fi
  usermod "$flag" "$RANGE_START-$RANGE_LAST" "$RANGE_USER" 2>/dev/null || echo "$line" >>"$file"
  grep -qxF "$line" "$file" || { echo "host-prereqs: could not add $line to $file" >&2; exit 1; }
}
add_range /etc/subuid --add-subuids
add_range /etc/subgid --add-subgids

# 3. Directories (/run/berth, /var/lib/berth, ...).
if [[ $do_tmpfiles -eq 1 ]]; then
  systemd-tmpfiles --create "$units/berth.tmpfiles"
fi
echo "host-prereqs: users berth-api, berth-net, $RANGE_USER and range $RANGE_START+$RANGE_COUNT present"
