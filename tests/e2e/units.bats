#!/usr/bin/env bats
# units/: the systemd units pass `systemd-analyze verify`, the sysusers.d and
# tmpfiles.d files create what berth needs in an empty root, and the build
# installs all four where systemd looks for them. Needs no root and no
# running systemd.

load helpers

setup() {
  UNITS=$BERTH_SOURCE_DIR/units
  W=$(mktemp -d /tmp/berth-units.XXXXXX)
}

teardown() {
  rm -rf "$W"
}

@test "berth.socket and berth.service pass systemd-analyze verify" {
  command -v systemd-analyze >/dev/null || skip "systemd-analyze missing"
  [[ -x $BERTH_EXECD ]] || skip "not built: $BERTH_EXECD"
  # Without --root, verify wants ExecStart= to exist: point it at the build
  # tree's berth-execd (and change nothing else).
  cp "$UNITS/berth.socket" "$W/"
  sed "s|^ExecStart=/usr/local/sbin/berth-execd|ExecStart=$BERTH_EXECD|" "$UNITS/berth.service" >"$W/berth.service"
  [[ $(diff "$UNITS/berth.service" "$W/berth.service" | grep -c '^>') -eq 1 ]]
  run systemd-analyze verify --man=no "$W/berth.socket" "$W/berth.service"
  echo "$output"
  [[ $status -eq 0 ]]
  # verify only warns about unknown or misplaced settings: treat any output
  # about our units as a failure.
  ! grep -E 'berth\.(socket|service)' <<<"$output"
}

@test "units say what the contract says" {
  grep -qx 'ListenStream=/run/berth/berth.sock' "$UNITS/berth.socket"
  grep -qx 'FileDescriptorName=api' "$UNITS/berth.socket"
  grep -qx 'SocketMode=0660' "$UNITS/berth.socket"
  grep -qx 'Service=berth.service' "$UNITS/berth.socket"
  grep -qx 'Type=notify' "$UNITS/berth.service"
  grep -qx 'NotifyAccess=main' "$UNITS/berth.service"
  grep -qx 'ExecStart=/usr/local/sbin/berth-execd' "$UNITS/berth.service"
  grep -qx 'KillMode=mixed' "$UNITS/berth.service"
  grep -qx 'Delegate=yes' "$UNITS/berth.service"
}

@test "systemd-sysusers creates berth-api, berth-net and berth in an empty root" {
  command -v systemd-sysusers >/dev/null || skip "systemd-sysusers missing"
  mkdir -p "$W/root/etc"
  run systemd-sysusers --root="$W/root" "$UNITS/berth.sysusers"
  echo "$output"
  [[ $status -eq 0 ]]
  local u line
  for u in berth-api berth-net berth; do
    line=$(grep "^$u:" "$W/root/etc/passwd")
    echo "$line"
    # a system uid, its own group, no login shell
    [[ $(cut -d: -f3 <<<"$line") -lt 1000 && $(cut -d: -f3 <<<"$line") -gt 0 ]]
    grep -q "^$u:x:$(cut -d: -f4 <<<"$line"):" "$W/root/etc/group"
    [[ $(cut -d: -f7 <<<"$line") == */nologin ]]
    # locked
    grep -Eq "^$u:(!|\*)" "$W/root/etc/shadow"
  done
  # idempotent
  run systemd-sysusers --root="$W/root" "$UNITS/berth.sysusers"
  [[ $status -eq 0 && $(grep -c '^berth' "$W/root/etc/passwd") -eq 3 ]]
}

@test "systemd-tmpfiles creates /run/berth, /var/lib/berth, /var/log/berth in an empty root" {
  command -v systemd-tmpfiles >/dev/null || skip "systemd-tmpfiles missing"
  mkdir -p "$W/root/etc"
  run systemd-tmpfiles --root="$W/root" --create "$UNITS/berth.tmpfiles"
  echo "$output"
  [[ $status -eq 0 ]]
  [[ $(stat -c '%a %u %g' "$W/root/run/berth") == "755 0 0" ]]
  [[ $(stat -c '%a %u %g' "$W/root/var/lib/berth") == "711 0 0" ]]
  [[ $(stat -c '%a %u %g' "$W/root/var/log/berth") == "750 0 0" ]]
}

@test "the build installs units, sysusers.d and tmpfiles.d where systemd reads them" {
  command -v meson >/dev/null || skip "meson missing"
  command -v jq >/dev/null || skip "jq missing"
  [[ -f $BERTH_BUILD_DIR/meson-info/intro-installed.json ]] || skip "no meson-info in $BERTH_BUILD_DIR"
  local prefix installed
  prefix=$(jq -r '.[] | select(.name == "prefix") | .value' "$BERTH_BUILD_DIR/meson-info/intro-buildoptions.json")
  installed=$(jq -r '.[]' "$BERTH_BUILD_DIR/meson-info/intro-installed.json")
  echo "$installed"
  grep -qx "$prefix/lib/systemd/system/berth.socket" <<<"$installed"
  grep -qx "$prefix/lib/systemd/system/berth.service" <<<"$installed"
  grep -qx "$prefix/lib/sysusers.d/berth.conf" <<<"$installed"
  grep -qx "$prefix/lib/tmpfiles.d/berth.conf" <<<"$installed"
  # The generated unit runs the installed executor.
  grep -qx "ExecStart=$prefix/sbin/berth-execd" "$BERTH_BUILD_DIR/units/berth.service"
  grep -qx "$prefix/sbin/berth-execd" <<<"$installed"
}
