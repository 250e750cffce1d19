#!/usr/bin/env bash
# Load benchmark: generates a ~200 MB image of 5 layers of incompressible
# data (deterministic), times `berth load -i` of it and, when podman is
# installed, `podman load -i` of the same file in the same run; prints both
# times and the ratio. Not part of the pass/fail tests (see bench/README.md).
#
#   bench/load.sh [--size-mb N] [--layers N] [--runs N] [--installed] [--keep]
#
# By default berth runs as a hermetic engine from the build tree
# (BERTH_BUILD_DIR, default ./build; needs root, like the e2e tests);
# --installed uses the running engine on /run/berth/berth.sock and the
# installed CLI instead. Each run is a cold load: the image is removed
# (berth) or the storage is fresh (podman) before every run. The median of
# the runs is reported.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
size_mb=200 layers=5 runs=3 installed=0 keep=0
while (($#)); do
  case $1 in
    --size-mb) size_mb=${2:?}; shift 2 ;;
    --layers) layers=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --installed) installed=1; shift ;;
    --keep) keep=1; shift ;;
    *) sed -n '2,16p' "$0" >&2; exit 2 ;;
  esac
done

[[ $(id -u) -eq 0 ]] || { echo "load.sh: run as root (berth's engine and podman's storage)" >&2; exit 1; }

W=$(mktemp -d /tmp/berth-bench.XXXXXX)
chmod 0755 "$W"
cleanup() {
  [[ $installed -eq 1 ]] || e2e_stop 10 >/dev/null 2>&1 || true
  if ((keep)); then echo "kept $W"; else rm -rf "$W" "${T:-/nonexistent-berth-bench}"; fi
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- the image
t0=$(now)
tag=fx-bench:v1
id=$(python3 "$repo/scripts/lib/make_image.py" big "$W/bench.tar" --size-mb "$size_mb" --layers "$layers" --tag "$tag")
chmod 0644 "$W/bench.tar"
bytes=$(stat -c %s "$W/bench.tar")
echo "image: $tag $id"
echo "       $((bytes / 1024 / 1024)) MiB archive, $layers uncompressed layers of random data (generated in $(elapsed "$t0") s)"

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
  for b in "$BERTH_EXECD" "$BERTH_APID" "$BERTH_IMAGED" "$BERTH_NETD" "$BERTH_CLI"; do
    [[ -x $b ]] || { echo "load.sh: not built: $b (set BERTH_BUILD_DIR or use --installed)" >&2; exit 1; }
  done
  e2e_start_activated >/dev/null || { echo "load.sh: the hermetic engine did not start" >&2; tail -n 30 "$T/execd.log" >&2; exit 1; }
  e2e_wait_services 15
  where="hermetic engine from $BERTH_BUILD_DIR"
fi
berth() { "$BERTH_CLI" -H "unix://$SOCK" "$@"; }
# the image must not be there already (an installed engine may have it)
berth rmi "$tag" >/dev/null 2>&1 || true

berth_times=()
for r in $(seq "$runs"); do
  sync
  t0=$(now)
  berth load -q -i "$W/bench.tar" >/dev/null
  berth_times+=("$(elapsed "$t0")")
  berth rmi "$tag" >/dev/null
done
berth_med=$(printf '%s\n' "${berth_times[@]}" | median)
echo "berth load:  ${berth_times[*]} s  (median $berth_med s; $where)"

# ---- podman
if command -v podman >/dev/null; then
  # podman's own storage per run, in W; its native overlay driver where the
  # kernel allows it (vfs copies every lower layer into each upper one)
  pod() {  # dir driver args...
    local p=$1 d=$2
    shift 2
    podman --root "$p/root" --runroot "$p/run" --storage-driver "$d" --cgroup-manager cgroupfs \
      --events-backend none "$@"
  }
  driver=overlay
  if ! pod "$W/podman.probe" overlay info >/dev/null 2>&1; then driver=vfs; fi
  rm -rf "$W/podman.probe"
  podman_times=()
  for r in $(seq "$runs"); do
    p=$W/podman.$r
    sync
    t0=$(now)
    pod "$p" "$driver" load -q -i "$W/bench.tar" >/dev/null
    podman_times+=("$(elapsed "$t0")")
    rm -rf "$p"
  done
  podman_med=$(printf '%s\n' "${podman_times[@]}" | median)
  echo "podman load: ${podman_times[*]} s  (median $podman_med s; $(podman --version), $driver storage)"
  awk -v b="$berth_med" -v p="$podman_med" 'BEGIN { printf "ratio berth/podman: %.2f (below 1: berth is faster)\n", b / p }'
else
  echo "podman load: not run (podman is not installed: apt-get install podman)"
fi
