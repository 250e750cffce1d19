# Helpers for the container end-to-end tests (containers-*.bats), on top of
# helpers.bash and images-lib.bash: one engine per file (setup_file) with
# busybox:latest and berth-probe:latest (busybox + /probe, the static
# tests/e2e/probe/ctr-probe) loaded, the stock docker CLI pointed at it,
# and a teardown that leaves no container process, monitor or cgroup behind
# even when the engine is broken.
#
# Every container a test makes is named; teardown_file removes them through
# the API and then kills whatever is left in this engine's containers'
# cgroups (found from DATA_ROOT/containers/<id>: never another engine's).

DOCKER=${BERTH_DOCKER_CLI:-/usr/local/bin/docker}
BERTH_E2E_BUILD_DIR=${BERTH_E2E_BUILD_DIR:-$BERTH_BUILD_DIR/tests/e2e}
PROBE_BIN=${PROBE_BIN:-$BERTH_E2E_BUILD_DIR/probe/ctr-probe}
POLICY_SECCOMP=${POLICY_SECCOMP:-$BERTH_SOURCE_DIR/policy/seccomp-default.json}
BERTH_MONITOR=${BERTH_MONITOR:-$BERTH_BUILD_DIR/services/monitor/berth-monitor}

# Docker's default capability set (CapEff of a default container).
DOCKER_DEFAULT_CAPS=00000000a80425fb
NO_CAPS=0000000000000000

# Extra checks for img_file_require: what the container tests need beyond
# the image tests.
ctr_require() {
  [[ -x $DOCKER ]] || skip "no docker CLI at $DOCKER"
  [[ -x $PROBE_BIN ]] || skip "probe not built: $PROBE_BIN (static linking needs libc6-dev)"
  command -v timeout >/dev/null || skip "timeout missing"
}

# setup_file of every containers-*.bats: fixtures, config, engine, images.
# Returns 0 with CTR_SKIP set (and nothing started) when the file cannot
# run here; each test's setup calls img_setup_skip.
#   [CTR_ALLOW_PRIVILEGED=true] ctr_setup_file [extra config JSON members, e.g. '"log-max-size": 4096']
ctr_setup_file() {
  img_file_require ctr_require || return 0
  CX=$(mktemp -d /tmp/berth-ctrfx.XXXXXX)
  chmod 0755 "$CX"
  export CX
  "$BERTH_MAKE_BUSYBOX" "$CX/busybox.tar" >/dev/null
  local applets
  applets=$(mktemp)
  /bin/busybox --list-full >"$applets"
  python3 "$BERTH_MAKE_IMAGE" busybox "$CX/probe.tar" --busybox /bin/busybox --applets "$applets" \
    --mtime "$(stat -c %Y /bin/busybox)" --arch "$(dpkg --print-architecture)" --version test \
    --tag berth-probe:latest --add "$PROBE_BIN:probe" >/dev/null
  rm -f "$applets"
  chmod -R a+rX "$CX"
  # the engine's policy: the default seccomp profile of the source tree,
  # copied where the demoted services can read it
  local cfg="\"userns\": true, \"allow-privileged\": ${CTR_ALLOW_PRIVILEGED:-false}"
  img_config '{}'
  if [[ -e $POLICY_SECCOMP ]]; then
    cp "$POLICY_SECCOMP" "$E2E_CONFIG_DIR/seccomp-default.json"
    chmod 0644 "$E2E_CONFIG_DIR/seccomp-default.json"
    cfg+=", \"seccomp-profile\": \"$E2E_CONFIG_DIR/seccomp-default.json\""
  fi
  [[ -z ${1:-} ]] || cfg+=", $1"
  printf '{%s}\n' "$cfg" >"$E2E_CONFIG"
  e2e_start_activated
  e2e_wait_services 15 || { e2e_show_log; return 1; }
  export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$T/docker-config
  timeout 120 "$DOCKER" load -q -i "$CX/busybox.tar"
  timeout 120 "$DOCKER" load -q -i "$CX/probe.tar"
}

# Starts berth-execd again the way ctr_setup_file did (socket activation,
# same DATA_ROOT and RUN_ROOT) after the previous one ended (stopped or
# killed: $T/execd.rc is there). With an argument, the config file is
# rewritten first with those members in place of the file's extra ones.
#   ctr_restart_engine ['"userns": false']
ctr_restart_engine() {
  if [[ -n ${1:-} ]]; then
    local cfg="\"userns\": true, \"allow-privileged\": ${CTR_ALLOW_PRIVILEGED:-false}"
    [[ ! -e $E2E_CONFIG_DIR/seccomp-default.json ]] ||
      cfg+=", \"seccomp-profile\": \"$E2E_CONFIG_DIR/seccomp-default.json\""
    printf '{%s, %s}\n' "$cfg" "$1" >"$E2E_CONFIG"
  fi
  rm -f "$T/execd.rc" "$T/execd.pid" "$SOCK"
  local pass=() v
  for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS BERTH_LOG_LEVEL; do pass+=(-E "$v"); done
  # shellcheck disable=SC2046
  _e2e_spawn systemd-socket-activate -l "$SOCK" --fdname=api "${pass[@]}" "$BERTH_EXECD" $(_e2e_execd_args)
  e2e_wait_api || { e2e_show_log; return 1; }
  e2e_wait_services 15 || { e2e_show_log; return 1; }
}

ctr_teardown_file() {
  [[ -n ${T:-} && -d $T ]] || { img_remove_fixtures; return 0; }
  local rc=0
  ctr_cleanup || rc=1
  # containers outlive the engine by design: what the API did not remove
  # is killed here (and fails the file)
  ctr_kill_leftovers || rc=1
  # a test may have restarted the engine (a new execd in $T/execd.pid)
  [[ -s $T/execd.pid ]] && EXECD_PID=$(cat "$T/execd.pid")
  e2e_teardown || rc=1
  if [[ -n ${CX:-} && -d $CX && -z ${BERTH_KEEP_TMP:-} ]]; then rm -rf "$CX"; fi
  img_remove_fixtures
  return $rc
}

# Negation that fails a bats test: `! cmd` does not (errexit ignores it).
#   not grep -q x <<<"$output"
not() {
  if "$@"; then
    echo "unexpectedly succeeded: $*"
    return 1
  fi
  return 0
}

# docker against this engine, through bats' run (60 s at most: a hang is a
# failure, not a stuck suite). Output: stdout and stderr together.
d() {
  run timeout -k 5 "${D_TIMEOUT:-60}" "$DOCKER" "$@"
  echo "# docker $*: status $status"
  echo "$output" | head -n 80
}

# docker, plain (stdout; fails with the CLI).
dk() {
  timeout -k 5 "${D_TIMEOUT:-60}" "$DOCKER" "$@"
}

# POST JSON to the API: api_post PATH BODY -> "STATUS BODY" on stdout.
api_post() {
  curl -s --max-time 30 --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
    --data-binary "$2" -w '\n%{http_code}' "http://localhost$1" | _api_status_body
}

# GET from the API: api_get_status PATH -> "STATUS BODY" on stdout (helpers.bash api_get: the body only).
api_get_status() {
  curl -s --max-time 30 --unix-socket "$SOCK" -w '\n%{http_code}' "http://localhost$1" | _api_status_body
}

# curl's "BODY\nCODE" (-w) as "CODE BODY".
_api_status_body() {
  local body code
  body=$(cat)
  code=${body##*$'\n'}
  body=${body%$'\n'*}
  printf '%s %s\n' "$code" "$body"
}

# The full id of container $1 (name or id).
ctr_id() { dk inspect -f '{{.Id}}' "$1"; }
# Its host pid (0 when not running).
ctr_pid() { dk inspect -f '{{.State.Pid}}' "$1"; }

# Field 22 of /proc/PID/stat (start time in ticks): a pid's identity.
proc_starttime() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  awk '{ print $20 }' <<<"$s"
}

# Waits until `docker logs $1` contains $2 (up to $3 s, default 15).
ctr_wait_log() {
  local deadline=$((SECONDS + ${3:-15}))
  while ((SECONDS < deadline)); do
    dk logs "$1" 2>&1 | grep -qF -- "$2" && return 0
    sleep 0.2
  done
  echo "docker logs $1 never showed '$2':"
  dk logs "$1" 2>&1 | tail -n 20
  return 1
}

# The cgroup directories of container id $1 on this host (cgroupfs v1/v2
# and the systemd scope), whether or not they exist.
ctr_cgroup_dirs() {
  local id=$1 c
  for c in /sys/fs/cgroup/*/; do
    c=${c%/}
    [[ -d $c ]] || continue
    echo "$c/berth/$id"
    echo "$c/berth.slice/berth-$id.scope"
  done
  echo "/sys/fs/cgroup/berth/$id"
  echo "/sys/fs/cgroup/berth.slice/berth-$id.scope"
}

# Existing cgroup dirs of container $1 (one a line; nothing when clean).
ctr_cgroups_left() {
  local d
  for d in $(ctr_cgroup_dirs "$1"); do [[ -d $d ]] && echo "$d"; done
  return 0
}

# Every berth container cgroup of this host, for before/after comparison
# when no id is known (a refused create). Other engines (parallel test
# runs) make cgroups too: ctr_new_cgroups keeps only those whose id is not
# a container of another data root.
ctr_cgroup_snapshot() {
  {
    ls -d /sys/fs/cgroup/*/berth/*/ /sys/fs/cgroup/berth/*/ \
      /sys/fs/cgroup/*/berth.slice/berth-*.scope/ /sys/fs/cgroup/berth.slice/berth-*.scope/ 2>/dev/null || true
  } | sort
}

#   ctr_new_cgroups BEFORE-FILE: cgroups made since, not another engine's
ctr_new_cgroups() {
  local d id
  ctr_cgroup_snapshot | comm -13 "$1" - | while read -r d; do
    d=${d%/}
    id=${d##*/}
    id=${id#berth-}
    id=${id%.scope}
    # another engine's container (a parallel test run, an installed berth)?
    if compgen -G "/tmp/berth-e2e.*/data/containers/$id" >/dev/null ||
      [[ -e /var/lib/berth/containers/$id ]]; then
      [[ -e $T/data/containers/$id ]] || continue
    fi
    echo "$d"
  done
}

# Entries of DATA_ROOT/containers (sorted).
ctr_dirs() {
  ls -1 "$T/data/containers" 2>/dev/null | sort
}

# berth-monitor processes of this engine: by argv0 and --id of one of our
# containers.
ctr_monitor_pids() {
  local p a0 id
  for p in $(pgrep -f 'berth-monitor' 2>/dev/null); do
    a0=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | head -n 1) || continue
    [[ ${a0##*/} == berth-monitor* ]] || continue
    id=$(tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -A1 -x -- --id | tail -n 1)
    [[ -n $id && -e $T/data/containers/$id ]] && echo "$p"
  done
  return 0
}

# Removes every container through the API (docker rm -f), then checks that
# nothing of them is left on the host. Fails (with the evidence) if the
# engine left something; ctr_kill_leftovers then removes it.
ctr_cleanup() {
  local ids rc=0
  if [[ -S ${SOCK:-} ]] && ids=$(dk ps -aq --no-trunc 2>/dev/null) && [[ -n $ids ]]; then
    # shellcheck disable=SC2086
    timeout 60 "$DOCKER" rm -f $ids >/dev/null 2>&1 || { echo "docker rm -f failed"; rc=1; }
  fi
  return $rc
}

# Kills what is left of this engine's containers (processes in their
# cgroups, the pid recorded in DATA_ROOT/containers/<id>/pid, monitors) and
# removes their cgroups. Prints what it had to do.
ctr_kill_leftovers() {
  [[ -d ${T:-}/data/containers ]] || return 0
  local dir id d p pids found=0
  for dir in "$T"/data/containers/*/; do
    [[ -d $dir ]] || continue
    id=$(basename "$dir")
    pids=$(for d in $(ctr_cgroups_left "$id"); do cat "$d/cgroup.procs" 2>/dev/null; done | sort -u)
    if [[ -r $dir/pid ]]; then
      read -r p _ <"$dir/pid" && [[ $p =~ ^[0-9]+$ ]] && pids+=" $p"
    fi
    for p in $pids; do
      kill -0 "$p" 2>/dev/null || continue
      echo "leftover: pid $p of container $id ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null))"
      kill -KILL "$p" 2>/dev/null || true
      found=1
    done
  done
  for p in $(ctr_monitor_pids); do
    echo "leftover: monitor $p"
    kill -KILL "$p" 2>/dev/null || true
    found=1
  done
  sleep 0.2
  for dir in "$T"/data/containers/*/; do
    [[ -d $dir ]] || continue
    id=$(basename "$dir")
    for d in $(ctr_cgroups_left "$id"); do
      echo "leftover: cgroup $d"
      find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
      found=1
    done
  done
  ((found == 0))
}

# After `docker rm` of container id $1: nothing of it is left (record,
# directory, cgroups, monitor).
ctr_assert_gone() {
  local id=$1
  [[ -z $(dk ps -aq --no-trunc --filter "id=$id") ]] || { echo "still listed: $id"; return 1; }
  [[ ! -e $T/data/containers/$id ]] || { echo "left: $T/data/containers/$id"; ls -la "$T/data/containers/$id"; return 1; }
  local left
  left=$(ctr_cgroups_left "$id")
  [[ -z $left ]] || { echo "cgroups left: $left"; return 1; }
  local m
  for m in $(ctr_monitor_pids); do
    if tr '\0' '\n' <"/proc/$m/cmdline" 2>/dev/null | grep -qx -- "$id"; then
      echo "monitor $m of $id still running"
      return 1
    fi
  done
  return 0
}

# sha256 of the engine's binaries (berth-execd, the services, the monitor).
engine_hashes() {
  local b
  for b in "$BERTH_EXECD" "$BERTH_APID" "$BERTH_IMAGED" "$BERTH_NETD" "$BERTH_MONITOR"; do
    [[ -e $b ]] && sha256sum "$(realpath "$b")"
  done
}
