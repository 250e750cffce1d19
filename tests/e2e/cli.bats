#!/usr/bin/env bats
# The berth CLI against a real engine (one hermetic engine for the file):
# what `berth version` and `berth info` print, in both formats, that the
# services table matches /proc, and the docker-style exit codes.

bats_require_minimum_version 1.5.0
load helpers

setup_file() {
  e2e_require_engine
  [[ -x $BERTH_CLI ]] || skip "not built: $BERTH_CLI"
  e2e_start_activated
  e2e_wait_services 15 || { e2e_show_log; false; }
}

teardown_file() {
  e2e_teardown
}

# Runs the CLI; a sanitizer report on its stderr fails the test.
cli() {
  run --separate-stderr "$BERTH_CLI" "$@"
  echo "# berth $*: status $status"
  echo "$output"
  echo "# stderr: $stderr"
  if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$stderr"; then
    echo "sanitizer report from the CLI"
    return 1
  fi
}

# One row of the services table: the fields of the line for service $1.
service_row() {
  awk -v n="$1" '$1 == n { sub(/^ +/, ""); print; exit }' <<<"$output"
}

@test "berth version: client and server sections, negotiated API version, kernel" {
  cli -H "unix://$SOCK" version
  [[ $status -eq 0 ]]
  grep -q '^Client:' <<<"$output"
  grep -q '^Server: berth' <<<"$output"
  grep -Eq '^  Version: +0\.1\.0$' <<<"$output"
  grep -Eq '^  API version: +1\.41 \(minimum version 1\.12\)$' <<<"$output"
  grep -Eq "^  Kernel: +$(uname -r)\$" <<<"$output"
  grep -Eq '^ OS/Arch: +linux/' <<<"$output"
}

@test "berth version --format json (also as a global option, also -f)" {
  local form
  for form in "version --format json" "--format json version" "version -f json" "version --format=json"; do
    # shellcheck disable=SC2086
    cli -H "$SOCK" $form
    [[ $status -eq 0 ]]
    [[ $(jq -r .Server.ApiVersion <<<"$output") == 1.41 ]]
    [[ $(jq -r .Client.Version <<<"$output") == 0.1.0 ]]
    [[ $(jq -r .Client.Host <<<"$output") == "unix://$SOCK" ]]
  done
}

@test "berth info: docker-info fields and a services table matching /proc" {
  BERTH_HOST=unix://$SOCK cli info
  [[ $status -eq 0 ]]
  grep -Eq '^ Server Version: 0\.1\.0$' <<<"$output"
  grep -Eq '^ Containers: [0-9]+$' <<<"$output"
  grep -Eq "^ Kernel Version: $(uname -r)\$" <<<"$output"
  grep -Eq '^ NAME +PID +UID +CAPS +SECCOMP +NNP +USERNS +STATE +RESTARTS$' <<<"$output"
  grep -Eq "^ Executor: berth-execd, pid $EXECD_PID, uid 0\$" <<<"$output"

  local row
  row=$(service_row berth-apid)
  [[ $row =~ ^berth-apid\ +$(e2e_svc_pid berth-apid)\ +$(id -u berth-api)\ +none\ +filter\ +yes\ +host\ +running ]]
  row=$(service_row berth-netd)
  [[ $row =~ ^berth-netd\ +$(e2e_svc_pid berth-netd)\ +$(id -u berth-net)\ +NET_ADMIN\ +filter\ +yes\ +host\ +running ]]
  row=$(service_row berth-imaged)
  [[ $row =~ ^berth-imaged\ +$(e2e_svc_pid berth-imaged)\ +$BERTH_SUBID_START\ +6\ caps\ +filter\ +yes\ +0:$BERTH_SUBID_START:65536\ +running ]]
}

@test "berth info --format json: info object plus ClientInfo and Berth" {
  cli -H "unix://$SOCK" info --format json
  [[ $status -eq 0 ]]
  [[ $(jq -r .ServerVersion <<<"$output") == 0.1.0 ]]
  [[ $(jq -r .ClientInfo.Host <<<"$output") == "unix://$SOCK" ]]
  [[ $(jq '.Berth.Services | length' <<<"$output") == 3 ]]
  [[ $(jq -r '.Berth.Services[] | select(.Name == "berth-netd") | .CapEff' <<<"$output") == 0000000000001000 ]]
  [[ $(jq -r '[.Berth.Services[].Seccomp] | unique | .[]' <<<"$output") == 2 ]]
}

@test "unreachable engine: client section, clear error, exit 1" {
  cli -H "unix://$T/nonexistent.sock" version
  [[ $status -eq 1 ]]
  grep -q '^Client:' <<<"$output"
  [[ $stderr == "cannot connect to berth at unix://$T/nonexistent.sock: No such file or directory; is berth running? (systemctl start berth.socket)" ]]

  cli -H "$T/nonexistent.sock" info --format json
  [[ $status -eq 1 ]]
  jq -e '.ServerErrors | length == 1' <<<"$output"
}

@test "usage errors exit 125, help exits 0" {
  cli -H "$SOCK" nosuchcommand
  [[ $status -eq 125 ]]
  cli -H "$SOCK" version --nosuchflag
  [[ $status -eq 125 ]]
  grep -q 'unknown flag: --nosuchflag' <<<"$stderr"
  cli -H "$SOCK" info extra-arg
  [[ $status -eq 125 ]]
  grep -q 'accepts no arguments' <<<"$stderr"
  cli -H "$SOCK" version --format yaml # as docker's: text without actions is a template
  [[ $status -eq 0 && $output == yaml ]]
  cli -H "$SOCK" version --format '{{.Server.Version'
  [[ $status -eq 64 ]]
  grep -q '^template parsing error: template: version:1: ' <<<"$stderr"
  cli -H tcp://127.0.0.1:2375 version
  [[ $status -eq 125 ]]
  grep -q 'unix socket' <<<"$stderr"
  cli -H
  [[ $status -eq 125 ]]

  local args
  for args in "--help" "help" "help info" "info --help" "version -h"; do
    # shellcheck disable=SC2086
    cli $args
    [[ $status -eq 0 ]]
    grep -q '^Usage:  berth' <<<"$output"
  done
  cli --version
  [[ $status -eq 0 && $output == "berth version 0.1.0" ]]
}
