#!/usr/bin/env bats
# kill -9 of berth-imaged in the middle of loading a 200 MB, 5-layer image:
# after execd restarted it, no partial image is listed, the store holds
# exactly what it held before the load (no orphan blob or layer directory,
# the same database rows), and loading the same archive again succeeds.
# The kill lands at several points of the load: while the archive is being
# spooled into tmp/, and at fixed fractions of the time a whole load takes
# (layers being unpacked and renamed into place, the database commit).
# And, through tests/fixtures/kill-on-rename.py (inotify), the instant the
# 1st, 4th and 7th entry is moved into blobs/ or layers/, before the SQLite
# commit. About 45 s in either build (the ASan build included: the data moves
# through uninstrumented libarchive and the kernel).

bats_require_minimum_version 1.5.0
load helpers
load images-lib

BIG_MB=200

setup_file() {
  img_file_require || return 0
  img_make_fixtures
  BIG=$FX/big.tar
  BIG_ID=$(python3 "$BERTH_MAKE_IMAGE" big "$BIG" --size-mb "$BIG_MB" --layers 5 --tag fx-big:v1)
  chmod 0644 "$BIG"
  export BIG BIG_ID
  e2e_start_activated
  e2e_wait_services 15 || { e2e_show_log; false; }
  "$BERTH_CLI" -H "unix://$SOCK" load -i "$FX/busybox.tar" >"$T/busybox-load.out" 2>&1 ||
    { cat "$T/busybox-load.out"; e2e_show_log; false; }
}

setup() {
  img_setup_skip
}


teardown_file() {
  e2e_teardown
  img_remove_fixtures
}

# Starts `berth load -i $BIG` in the background; its output goes to
# $BATS_TEST_TMPDIR/load.out, its exit status to load.rc when it ends.
start_big_load() {
  rm -f "$BATS_TEST_TMPDIR/load.rc"
  (
    rc=0   # (errexit is on in bats: a failing load must not end the subshell)
    timeout 120 "$BERTH_CLI" -H "unix://$SOCK" load -i "$BIG" >"$BATS_TEST_TMPDIR/load.out" 2>&1 || rc=$?
    echo "$rc" >"$BATS_TEST_TMPDIR/load.rc"
  ) 3>&- &
  LOADER=$!
}

# Waits for the background load to end (it must end, not hang, when imaged
# dies under it); prints its status.
wait_big_load() {
  local deadline=$((SECONDS + 90))
  while [[ ! -s $BATS_TEST_TMPDIR/load.rc ]] && ((SECONDS < deadline)); do sleep 0.1; done
  wait "$LOADER" 2>/dev/null || true
  if [[ ! -s $BATS_TEST_TMPDIR/load.rc ]]; then
    echo "berth load still running 90 s after imaged died (hangs); its output so far:" >&2
    cat "$BATS_TEST_TMPDIR/load.out" >&2
    local c t
    for c in $(pgrep -f "berth -H unix://$SOCK load"); do
      echo "still running: pid $c $(tr '\0' ' ' <"/proc/$c/cmdline")" >&2
      for t in /proc/"$c"/task/*; do echo "  task ${t##*/}: $(cat "$t/wchan") syscall $(cut -d' ' -f1 "$t/syscall")" >&2; done
    done
    return 1
  fi
  echo "# berth load exited $(cat "$BATS_TEST_TMPDIR/load.rc"):" >&2
  sed 's/^/#   /' "$BATS_TEST_TMPDIR/load.out" | tail -n 5 >&2
  cat "$BATS_TEST_TMPDIR/load.rc"
}

# Every layer directory belongs to the chain of a listed image; every blob
# is the config or a layer (diff_id) of a listed image, or one of at most
# one manifest per image. Prints what is left over.
orphans() {
  local id want_layers=$BATS_TEST_TMPDIR/want-layers want_blobs=$BATS_TEST_TMPDIR/want-blobs n=0
  : >"$want_layers"
  : >"$want_blobs"
  for id in $(api_image_ids); do
    n=$((n + 1))
    api_get "/berth/v1/images/$id/layers" | jq -r '.ChainIds[]' | cut -c8- >>"$want_layers"
    echo "${id#sha256:}" >>"$want_blobs"
    api_get "/images/$id/json" | jq -r '.RootFS.Layers[]' | cut -c8- >>"$want_blobs"
  done
  local extra_layers extra_blobs
  extra_layers=$(comm -23 <(store_layers) <(sort -u "$want_layers"))
  extra_blobs=$(comm -23 <(store_blobs) <(sort -u "$want_blobs"))
  [[ -z $extra_layers ]] || echo "orphan layer directories: $extra_layers"
  if (($(grep -c . <<<"$extra_blobs") > n)); then
    echo "orphan blobs (more than one manifest per image): $extra_blobs"
  fi
}

# The big image is listed whole: its five layers, their directories and
# blobs, the executor's check, and no orphan.
image_whole() {
  [[ $(api_get "/images/$BIG_ID/json" | jq -r '.RootFS.Layers | length') == 5 ]]
  local c
  for c in $(api_get "/berth/v1/images/$BIG_ID/layers" | jq -r '.ChainIds[]' | cut -c8-); do
    [[ -d $(store_dir)/layers/$c/diff ]] || { echo "layers/$c missing"; return 1; }
  done
  [[ $(api_get "/berth/v1/images/$BIG_ID/layers" | jq -r .ExecutorCheck) == ok ]]
  local o
  o=$(orphans)
  [[ -z $o ]] || { echo "$o"; return 1; }
}

# kill -9 imaged now; wait for execd to bring it back.
kill_imaged() {
  local pid
  pid=$(e2e_svc_pid berth-imaged)
  [[ -n $pid ]]
  kill -KILL "$pid"
  echo "# killed berth-imaged ($pid)" >&2
  img_wait_imaged_restart "$pid" 30
}

# After a kill: the load failed, nothing partial is listed, the store is as
# in snapshot $1.
check_after_crash() {
  local rc
  rc=$(wait_big_load)
  [[ $rc != 0 ]] || { echo "berth load reported success although imaged was killed"; return 1; }
  [[ $(api_image_ids) == "$BUSYBOX_ID" ]] || { echo "listed: $(api_image_ids)"; return 1; }
  [[ $(api_status "/images/$BIG_ID/json") == 404 ]]
  [[ $(api_status /images/fx-big:v1/json) == 404 ]]
  store_snapshot "$BATS_TEST_TMPDIR/after" content
  diff -u "$1" "$BATS_TEST_TMPDIR/after" || { echo "the store differs from before the load"; return 1; }
  local o
  o=$(orphans)
  [[ -z $o ]] || { echo "$o"; return 1; }
  # tmp/ was wiped
  [[ -z $(find "$(store_dir)/tmp" -mindepth 1 -print -quit 2>/dev/null) ]] || { echo "tmp/ not wiped"; ls -la "$(store_dir)/tmp"; return 1; }
}

@test "kill -9 while the archive is spooled: no partial image, no orphan, loads again" {
  local before=$BATS_TEST_TMPDIR/before
  store_snapshot "$before" content
  start_big_load
  # busy: the archive is arriving in tmp/
  local deadline=$((SECONDS + 60)) tmp
  tmp=$(store_dir)/tmp
  until [[ -n $(find "$tmp" -mindepth 1 -print -quit 2>/dev/null) ]]; do
    [[ ! -s $BATS_TEST_TMPDIR/load.rc ]] || { echo "the load ended before anything appeared in tmp/"; cat "$BATS_TEST_TMPDIR/load.out"; false; }
    ((SECONDS < deadline)) || { echo "nothing in tmp/ after 60 s"; false; }
    sleep 0.01
  done
  find "$tmp" -mindepth 1 -printf '# in tmp/: %P %s\n' | head -n 5 >&3
  kill_imaged
  check_after_crash "$before"
  # the same archive loads now
  local t0=$EPOCHREALTIME
  b load -i "$BIG"
  [[ $status -eq 0 ]]
  awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }' >"$FX/load-seconds"
  [[ $(api_status "/images/$BIG_ID/json") == 200 ]]
  [[ $(api_get /images/fx-big:v1/json | jq -r .Id) == "$BIG_ID" ]]
  [[ -z $(orphans) ]]
}

@test "kill -9 at 10% to 90% of a load: no partial image, no orphan, loads again" {
  [[ -s $FX/load-seconds ]] || skip "needs the duration measured by the previous test"
  local d f landed=0
  d=$(cat "$FX/load-seconds")
  echo "# a whole load takes ${d}s" >&3
  for f in 0.1 0.3 0.5 0.7 0.8 0.9; do
    # start from the store without the big image
    if [[ $(api_status "/images/$BIG_ID/json") == 200 ]]; then
      b rmi fx-big:v1
      [[ $status -eq 0 ]]
    fi
    [[ -z $(orphans) ]]
    store_snapshot "$BATS_TEST_TMPDIR/before" content
    start_big_load
    sleep "$(awk -v d="$d" -v f="$f" 'BEGIN { printf "%.3f", d * f }')"
    if [[ -s $BATS_TEST_TMPDIR/load.rc ]]; then
      echo "# at $f the load had already ended; no kill" >&3
      continue
    fi
    echo "# kill at $f: $(store_layers | wc -l) layer dirs, tmp/: $(du -sh "$(store_dir)/tmp" | cut -f1)" >&3
    kill_imaged
    # the load may have committed in the instant before the kill: then the
    # whole image must be there; otherwise nothing of it
    if [[ $(api_status "/images/$BIG_ID/json") == 200 ]]; then
      echo "# at $f the load committed before the kill" >&3
      wait_big_load >/dev/null || true
      image_whole
      continue
    fi
    landed=$((landed + 1))
    check_after_crash "$BATS_TEST_TMPDIR/before"
  done
  ((landed > 0)) || { echo "no kill landed inside a load"; false; }
  b load -i "$BIG"
  [[ $status -eq 0 ]]
  [[ $(api_get /images/fx-big:v1/json | jq -r .Id) == "$BIG_ID" ]]
  [[ -z $(orphans) ]]
}

@test "kill -9 the instant the 1st, 4th, 7th entry is moved into blobs/ or layers/ (mid-commit)" {
  # The load of fx-big:v1 moves 11 entries into place (config and five
  # layer blobs, five layer directories) before its SQLite commit; a kill
  # right after one of them is the crash the start-up clean-up exists for.
  # kill-on-rename.py sends SIGKILL when it sees the Nth entry appear (1st
  # and 4th: blobs, 7th: the first layer directory). (Holding imaged with
  # strace would make every kill land, but a service that dies while
  # ptraced is never noticed by execd: sd-event's pidfd wake-up comes while
  # the tracer still owns the exit and is not re-armed.)
  local n pid rc killer=$BERTH_SOURCE_DIR/tests/fixtures/kill-on-rename.py s landed=0
  s=$(store_dir)
  for n in 1 4 7; do
    if [[ $(api_status "/images/$BIG_ID/json") == 200 ]]; then
      b rmi fx-big:v1
      [[ $status -eq 0 ]]
    fi
    [[ -z $(orphans) ]]
    store_snapshot "$BATS_TEST_TMPDIR/before" content
    pid=$(e2e_svc_pid berth-imaged)
    rm -f "$BATS_TEST_TMPDIR/killer.out"
    # real-time priority where allowed: the watcher preempts imaged on wake-up
    local rt=()
    chrt -f 50 true 2>/dev/null && rt=(chrt -f 50)
    "${rt[@]}" python3 "$killer" "$pid" "$n" "$s/blobs/sha256" "$s/layers" --timeout 60 >"$BATS_TEST_TMPDIR/killer.out" 2>&1 3>&- &
    local kp=$!
    until grep -q '^watching' "$BATS_TEST_TMPDIR/killer.out" 2>/dev/null; do
      kill -0 "$kp" 2>/dev/null || { cat "$BATS_TEST_TMPDIR/killer.out"; false; }
      sleep 0.02
    done
    start_big_load
    rc=0
    wait "$kp" || rc=$?
    echo "# $n: $(tail -n 1 "$BATS_TEST_TMPDIR/killer.out" | cut -c1-160)" >&3
    [[ $rc -eq 0 ]] || { echo "the load moved fewer than $n entries into place"; cat "$BATS_TEST_TMPDIR/killer.out"; false; }
    img_wait_imaged_restart "$pid" 30
    # SIGKILL follows the rename by the watcher's wake-up time, and the
    # commit may complete first; then the image must be whole.
    if [[ $(api_status "/images/$BIG_ID/json") == 200 ]]; then
      echo "# $n: the commit completed before the kill landed" >&3
      wait_big_load >/dev/null || true
      image_whole
      continue
    fi
    landed=$((landed + 1))
    check_after_crash "$BATS_TEST_TMPDIR/before"
  done
  ((landed > 0)) || { echo "no kill landed before the commit"; false; }
  b load -i "$BIG"
  [[ $status -eq 0 ]]
  [[ $(api_get /images/fx-big:v1/json | jq -r .Id) == "$BIG_ID" ]]
  [[ -z $(orphans) ]]
}
