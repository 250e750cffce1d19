#!/usr/bin/env bash
# Container benchmark, in one run (see bench/README.md):
#   1. `berth run --rm busybox true`, `crun run` of the same rootfs and
#      `podman run --rm` of the same image: N runs each, medians, ratios;
#   2. `GET /containers/json` with no container running and with 50 running
#      (`berth run -d busybox sleep 600`, removed afterwards): medians, ratio.
# Measurements only: nothing here passes or fails on a time.
#
#   bench/run.sh [--runs N] [--containers N] [--list-runs N] [--installed] [--keep]
#
# By default berth is a hermetic engine from the build tree (BERTH_BUILD_DIR,
# default ./build; the e2e tests' way: temporary roots, socket activation,
# policy/seccomp-default.json); --installed uses the running engine on
# /run/berth/berth.sock and the installed CLI. busybox:latest is built offline
# (scripts/make-busybox-image.sh) and loaded into berth and into a podman
# storage of the bench's own; crun runs that image's layer unpacked into a
# bundle. crun and podman are skipped when not installed; the berth part says
# so when `berth run` does not work yet.
set -euo pipefail

# Internal: `run.sh --_loop N CMD... [--- CMD2...]` runs CMD (then CMD2)
# N times, "@N@" in an argument replaced by the run's number, and prints
# each run's time in seconds (each command under `timeout 60`, for all
# three engines alike: a hung run fails the loop instead of the bench). With --_legacy-cgroups first (in a mount
# namespace of its own: the caller uses unshare -m) it first hides the
# cgroup2 mount of a hybrid host, which crun 1.8 refuses when a controller
# is enabled there.
if [[ ${1:-} == --_legacy-cgroups ]]; then
  shift
  umount -l /sys/fs/cgroup/unified
fi
if [[ ${1:-} == --_loop ]]; then
  n=$2
  shift 2
  for i in $(seq "$n"); do
    cmd=() cmd2=() dest=cmd
    for a in "$@"; do
      if [[ $a == --- ]]; then dest=cmd2; continue; fi
      a=${a//@N@/$i}
      if [[ $dest == cmd ]]; then cmd+=("$a"); else cmd2+=("$a"); fi
    done
    t0=$EPOCHREALTIME
    timeout 60 "${cmd[@]}" >/dev/null 2>"${LOOP_ERR:-/dev/null}" || { echo "exit $? (124: no exit after 60 s)" >>"${LOOP_ERR:-/dev/null}"; exit 1; }
    if ((${#cmd2[@]})); then
      timeout 60 "${cmd2[@]}" >/dev/null 2>>"${LOOP_ERR:-/dev/null}" || { echo "exit $? (124: no exit after 60 s)" >>"${LOOP_ERR:-/dev/null}"; exit 1; }
    fi
    awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.4f\n", a - b }'
  done
  exit 0
fi

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
runs=20 containers=50 list_runs=20 installed=0 keep=0
while (($#)); do
  case $1 in
    --runs) runs=${2:?}; shift 2 ;;
    --containers) containers=${2:?}; shift 2 ;;
    --list-runs) list_runs=${2:?}; shift 2 ;;
    --installed) installed=1; shift ;;
    --keep) keep=1; shift ;;
    *) sed -n '2,19p' "$0" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "run.sh: run as root (berth's engine, crun and podman as root)" >&2; exit 1; }

W=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
chmod 0755 "$W"
BERTH_CTRS=()   # berth containers started for the list benchmark
CRUN_ROOT=$W/crun-state
cleanup() {
  set +e
  if [[ -n ${SOCK:-} && -S $SOCK ]] && declare -F berth >/dev/null; then
    # every container of this run, by name (bench-PID-...)
    local mine
    mine=$(curl -sf --unix-socket "$SOCK" 'http://localhost/containers/json?all=1' | python3 -c '
import json, sys
for c in json.load(sys.stdin):
    if any(n.startswith("/bench-" + sys.argv[1] + "-") for n in c.get("Names") or []):
        print(c["Id"])' "$$")
    # shellcheck disable=SC2086
    [[ -z $mine ]] || berth_rm $mine
  fi
  if [[ -d $CRUN_ROOT ]]; then
    for c in $(crun --root "$CRUN_ROOT" list -q 2>/dev/null); do crun --root "$CRUN_ROOT" delete -f "$c" >/dev/null 2>&1; done
  fi
  if [[ -d $W/podman ]]; then
    pod rm -af >/dev/null 2>&1
    pod rmi -af >/dev/null 2>&1
    findmnt -rn -o TARGET | grep "^$W/podman" | sort -r | xargs -r umount -l 2>/dev/null
  fi
  [[ $installed -eq 1 ]] || e2e_stop 10 >/dev/null 2>&1
  if ((keep)); then
    echo "kept $W${T:+ and $T}"
  else
    rm -rf "$W" "${T:-/nonexistent-berth-bench}" "${E2E_CONFIG_DIR:-/nonexistent-berth-bench}"
  fi
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.4f", a - b }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
# times_of LABEL [--legacy-cgroups] CMD...: runs CMD $runs times (stderr
# of the last run to $W/LABEL.err), records the times in $W/LABEL.times and
# prints their median in seconds; fails when a run fails. CMD is an external
# command (the loop is this script in --_loop mode, so that the crun and
# podman loops can run in a mount namespace of their own).
times_of() {
  local label=$1 pre=()
  shift
  if [[ $1 == --legacy-cgroups ]]; then
    shift
    pre=(unshare -m --propagation private "$0" --_legacy-cgroups)
  else
    pre=("$0")
  fi
  if ! LOOP_ERR=$W/$label.err "${pre[@]}" --_loop "$runs" "$@" >"$W/$label.times"; then
    echo "$label: run $(($(wc -l <"$W/$label.times") + 1)) failed:" >&2
    tail -n 5 "$W/$label.err" >&2
    return 1
  fi
  median <"$W/$label.times"
}
# crun 1.8 refuses a hybrid host whose cgroup2 mount has controllers
# enabled ("cgroups in hybrid mode not supported"): its loops then run where
# that mount is hidden (v1 controllers only, as berth uses them here).
legacy=()
if [[ $(stat -f -c %T /sys/fs/cgroup) == tmpfs && -n $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null) ]]; then
  legacy=(--legacy-cgroups)
fi

# ---- the image
"$repo/scripts/make-busybox-image.sh" "$W/busybox.tar" >/dev/null
chmod 0644 "$W/busybox.tar"
echo "image: busybox:latest from $(dpkg-query -W -f='busybox-static ${Version}' busybox-static 2>/dev/null || echo /bin/busybox), $runs runs each"

# ---- berth
if ((installed)); then
  SOCK=/run/berth/berth.sock
  BERTH_CLI=$(command -v berth || echo /usr/local/bin/berth)
  where="installed engine ($SOCK)"
else
  export BERTH_BUILD_DIR=${BERTH_BUILD_DIR:-$repo/build}
  export BERTH_SOURCE_DIR=$repo
  BATS_TEST_DIRNAME=$repo/tests/e2e
  # shellcheck source=../tests/e2e/helpers.bash
  source "$repo/tests/e2e/helpers.bash"
  for b in "$BERTH_EXECD" "$BERTH_APID" "$BERTH_IMAGED" "$BERTH_NETD" "$BERTH_MONITOR" "$BERTH_CLI"; do
    [[ -x $b ]] || { echo "run.sh: not built: $b (set BERTH_BUILD_DIR or use --installed)" >&2; exit 1; }
  done
  # the engine's policy, as the container e2e tests have it: user namespaces
  # and the source tree's default seccomp profile (readable by the services)
  E2E_CONFIG_DIR=$(mktemp -d /tmp/berth-cfg.XXXXXX)
  chmod 0755 "$E2E_CONFIG_DIR"
  install -m 0644 "$repo/policy/seccomp-default.json" "$E2E_CONFIG_DIR/seccomp-default.json"
  printf '{"userns": true, "seccomp-profile": "%s"}\n' "$E2E_CONFIG_DIR/seccomp-default.json" >"$E2E_CONFIG_DIR/berth.json"
  chmod 0644 "$E2E_CONFIG_DIR/berth.json"
  export E2E_CONFIG=$E2E_CONFIG_DIR/berth.json E2E_CONFIG_DIR
  e2e_start_activated >/dev/null || { echo "run.sh: the hermetic engine did not start" >&2; tail -n 30 "$T/execd.log" >&2; exit 1; }
  e2e_wait_services 15
  where="hermetic engine from $BERTH_BUILD_DIR"
fi
berth() { "$BERTH_CLI" -H "unix://$SOCK" "$@"; }
# rm -f, again while it fails (a container's cgroup can still be busy for a
# moment after its kill): up to 5 tries
berth_rm() {
  local try
  for try in 1 2 3 4 5; do
    berth rm -f "$@" >/dev/null 2>"$W/rm.err" && return 0
    sleep 0.5
  done
  echo "berth rm -f failed 5 times: $(tail -n 1 "$W/rm.err")" >&2
  return 1
}
berth load -q -i "$W/busybox.tar" >/dev/null
B=("$BERTH_CLI" -H "unix://$SOCK")
berth_med= berth_what=
probe=bench-$$-probe
if out=$(timeout 30 "${B[@]}" run --rm --name "$probe" busybox true 2>&1); then
  if berth_med=$(times_of berth "${B[@]}" run --rm --name "bench-$$-r@N@" busybox true); then
    berth_what="berth run --rm busybox true"
  else
    echo "berth run --rm busybox true:  not measured: a run failed (above)"
  fi
else
  rc=$?
  ((rc == 124)) && out="no exit after 30 s${out:+; $out}"
  echo "berth run --rm busybox true:  not measured: \`berth run --rm\` does not work yet here: ${out:-exit $rc}" | head -n 3
fi
if [[ -z $berth_med ]]; then
  berth_rm "$probe" 2>/dev/null || true
  # what works of it: run, then rm (the same work as --rm, in two requests)
  if out=$(timeout 30 "${B[@]}" run --name "$probe" busybox true 2>&1 && timeout 30 "${B[@]}" rm "$probe" 2>&1); then
    berth_what="berth run --name N busybox true; berth rm N"
    berth_med=$(times_of berth-run-rm "${B[@]}" run --name "bench-$$-@N@" busybox true --- "${B[@]}" rm "bench-$$-@N@") ||
      berth_med=
  else
    berth_rm "$probe" 2>/dev/null || true
    echo "berth run busybox true:  not measured either: ${out:-?}" | head -n 3
  fi
fi
[[ -z $berth_med ]] || printf '%-48s median %s  (%s)\n' "$berth_what:" "$(ms "$berth_med")" "$where"

# ---- crun: the image's layer unpacked into a bundle
crun_med= crun_userns_med=
if command -v crun >/dev/null; then
  BD=$W/bundle
  mkdir -p "$BD/rootfs" "$W/unpack" "$CRUN_ROOT"
  tar -xf "$W/busybox.tar" -C "$W/unpack"
  for layer in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$W/unpack/manifest.json"); do
    tar -xf "$W/unpack/$layer" -C "$BD/rootfs"
  done
  (cd "$BD" && crun spec)
  # `true`, no terminal; the rest is crun's default spec for root (pid, net,
  # ipc, uts, mount, cgroup namespaces; no user namespace, no seccomp)
  python3 - "$BD/config.json" <<'EOF'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"), indent=1)
EOF
  if crun_med=$(times_of crun "${legacy[@]}" crun --root "$CRUN_ROOT" run --bundle "$BD" "bench-$$-@N@"); then
    printf '%-48s median %s  (%s, rootfs directory%s)\n' "crun run (true):" "$(ms "$crun_med")" \
      "$(crun --version | head -n 1)" "${legacy:+, cgroup v1 only}"
  else
    crun_med=
  fi
  # the same with what berth does on top: a user namespace (root of the
  # container = an unprivileged host uid; the rootfs copy chowned to it)
  # and policy/seccomp-default.json (as Docker turns it into an OCI filter
  # for Docker's default capabilities)
  BU=$W/bundle-userns
  mkdir -p "$BU"
  cp -a "$BD/rootfs" "$BU/rootfs"
  chown -hR 3000000000:3000000000 "$BU/rootfs"
  python3 - "$BD/config.json" "$BU/config.json" "$repo/policy/seccomp-default.json" "$(uname -r)" <<'EOF'
import json, platform, sys
src, dst, profile, release = sys.argv[1:5]
c = json.load(open(src))
c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 3000000000, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 3000000000, "size": 65536}]
p = json.load(open(profile))
caps = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE"}
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}.get(arch)
kernel = tuple(int(x) for x in release.split("-")[0].split(".")[:2])
def kv(s): return tuple(int(x) for x in s.split("."))
out = {"defaultAction": p["defaultAction"], "defaultErrnoRet": p.get("defaultErrnoRet", 1), "syscalls": []}
for a in p.get("archMap", []):
    if a["architecture"] == native:
        out["architectures"] = [native] + (a.get("subArchitectures") or [])
for r in p["syscalls"]:
    inc, exc = r.get("includes", {}), r.get("excludes", {})
    if inc.get("arches") and arch not in inc["arches"]: continue
    if inc.get("caps") and not set(inc["caps"]) <= caps: continue
    if inc.get("minKernel") and kernel < kv(inc["minKernel"]): continue
    if exc.get("arches") and arch in exc["arches"]: continue
    if exc.get("caps") and set(exc["caps"]) & caps: continue
    if exc.get("minKernel") and kernel >= kv(exc["minKernel"]): continue
    out["syscalls"].append({k: v for k, v in r.items() if k in ("names", "action", "errnoRet", "args")})
c["linux"]["seccomp"] = out
json.dump(c, open(dst, "w"), indent=1)
EOF
  if crun_userns_med=$(times_of crun-userns "${legacy[@]}" crun --root "$CRUN_ROOT" run --bundle "$BU" "bench-$$-u@N@"); then
    printf '%-48s median %s\n' "crun run (true), userns + seccomp profile:" "$(ms "$crun_userns_med")"
  else
    crun_userns_med=
  fi
else
  echo "crun run: not run (crun is not installed: apt-get install crun)"
fi

# ---- podman: the same archive loaded into its own storage
pod_med=
pod() {
  podman --root "$W/podman/root" --runroot "$W/podman/run" --storage-driver "$driver" --cgroup-manager cgroupfs \
    --events-backend none "$@"
}
if command -v podman >/dev/null; then
  driver=overlay
  if ! podman --root "$W/podman.probe/root" --runroot "$W/podman.probe/run" --storage-driver overlay info >/dev/null 2>&1; then
    driver=vfs
  fi
  rm -rf "$W/podman.probe"
  pod load -q -i "$W/busybox.tar" >/dev/null
  # --network none: berth's containers have a loopback-only network here.
  # Without CAP_SYS_RESOURCE (this CI's containers) crun cannot set podman's
  # default rlimits (nofile 1048576...): ask for lower ones.
  ulimits=()
  if (((0x$(awk '/^CapEff/ { print $2 }' /proc/self/status) >> 24) & 1)); then :; else
    ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
  fi
  if pod_med=$(times_of podman "${legacy[@]}" podman --root "$W/podman/root" --runroot "$W/podman/run" \
    --storage-driver "$driver" --cgroup-manager cgroupfs --events-backend none \
    run --rm --network none "${ulimits[@]}" busybox:latest true); then
    printf '%-48s median %s  (%s, %s storage%s%s)\n' "podman run --rm --network none busybox true:" "$(ms "$pod_med")" \
      "$(podman --version)" "$driver" "${legacy:+, cgroup v1 only}" "${ulimits:+, ulimit nofile/nproc lowered}"
  else
    pod_med=
  fi
else
  echo "podman run: not run (podman is not installed: apt-get install podman)"
fi

if [[ -n $berth_med ]]; then
  [[ -z $crun_med ]] || echo "ratio berth/crun:   $(ratio "$berth_med" "$crun_med") (below 1: berth is faster; $berth_what)"
  [[ -z $crun_userns_med ]] ||
    echo "ratio berth/crun with userns + seccomp: $(ratio "$berth_med" "$crun_userns_med")"
  [[ -z $pod_med ]] || echo "ratio berth/podman: $(ratio "$berth_med" "$pod_med") (below 1: berth is faster; $berth_what)"
fi
[[ -z $crun_med || -z $pod_med ]] || echo "ratio podman/crun:  $(ratio "$pod_med" "$crun_med")"

# ---- GET /containers/json with 0 and with N running containers
list_times() {  # prints the median of $list_runs GETs
  local i t0 ts=()
  for i in $(seq "$list_runs"); do
    t0=$(now)
    curl -sf --unix-socket "$SOCK" -o /dev/null http://localhost/containers/json
    ts+=("$(elapsed "$t0")")
  done
  printf '%s\n' "${ts[@]}" | median
}
running() { curl -sf --unix-socket "$SOCK" http://localhost/containers/json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
base=$(running)
l0=$(list_times)
echo "GET /containers/json, $base running: median $(ms "$l0") ($list_runs requests)"
t0=$(now)
for i in $(seq "$containers"); do
  if ! id=$(timeout 30 "${B[@]}" run -d --name "bench-$$-d$i" busybox sleep 600 2>&1); then
    echo "berth run -d failed at container $i: $id" | head -n 3
    berth rm -f "bench-$$-d$i" >/dev/null 2>&1 || true
    break
  fi
  BERTH_CTRS+=("$id")
done
if ((${#BERTH_CTRS[@]} == 0)); then
  echo "GET /containers/json with running containers: not measured (\`berth run -d\` does not work yet)"
  exit 0
fi
echo "started ${#BERTH_CTRS[@]} containers (berth run -d busybox sleep 600) in $(elapsed "$t0") s"
now_running=$(running)
l1=$(list_times)
echo "GET /containers/json, $now_running running: median $(ms "$l1") ($list_runs requests)"
echo "ratio list $now_running/$base running: $(ratio "$l1" "$l0")"
t0=$(now)
berth_rm "${BERTH_CTRS[@]}" || true
BERTH_CTRS=()
echo "removed them (berth rm -f) in $(elapsed "$t0") s"
