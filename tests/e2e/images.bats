#!/usr/bin/env bats
# Images end to end, on one hermetic engine for the file: the offline
# busybox image, every archive form `docker load` reads, layers shared and
# never stored twice, what unpacking does with setuid files, device nodes
# and whiteouts (read on disk with stat, not from the engine), save/load
# round trips (berth, podman) and the stock docker CLI.

bats_require_minimum_version 1.5.0
load helpers
load images-lib

setup_file() {
  img_file_require || return 0
  img_make_fixtures
  e2e_start_activated
  e2e_wait_services 15 || { e2e_show_log; false; }
}

setup() {
  img_setup_skip
}

teardown_file() {
  e2e_teardown
  img_remove_fixtures
}

# inspect NAME JQ: a field of GET /images/NAME/json
inspect() {
  api_get "/images/$1/json" | jq -r "$2"
}

# Loads fixture $1 with the berth CLI; it must succeed.
load_ok() {
  b load -i "$FX/$1"
  [[ $status -eq 0 ]] || { e2e_show_log; return 1; }
}

# The unpacked directory of layer $2 (0-based) of fixture $1.
layer_dir() {
  local c
  c=$(fx_chain_ids "$1" | sed -n "$(($2 + 1))p")
  echo "$(store_dir)/layers/$c/diff"
}

@test "busybox: the same package gives the same archive, byte for byte" {
  local id2
  id2=$("$BERTH_MAKE_BUSYBOX" "$BATS_TEST_TMPDIR/again.tar")
  [[ $id2 == "$BUSYBOX_ID" ]]
  cmp "$FX/busybox.tar" "$BATS_TEST_TMPDIR/again.tar"
}

@test "busybox: loads offline as busybox:latest, with the config it was built with" {
  load_ok busybox.tar
  grep -q '^Loaded image: busybox:latest$' <<<"$output"
  [[ $(inspect busybox:latest .Id) == "$BUSYBOX_ID" ]]
  [[ $(inspect busybox .Id) == "$BUSYBOX_ID" ]]
  [[ $(inspect busybox:latest '.RepoTags | join(",")') == busybox:latest ]]
  [[ $(inspect busybox:latest .Architecture) == "$(dpkg --print-architecture)" ]]
  [[ $(inspect busybox:latest .Os) == linux ]]
  [[ $(inspect busybox:latest '.Config.Cmd | join(" ")') == sh ]]
  [[ $(inspect busybox:latest '.RootFS.Layers | length') == 1 ]]
  # berth images lists it (Docker's table)
  b images
  [[ $status -eq 0 ]]
  grep -Eq '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$' <<<"$output"
  grep -Eq "^busybox +latest +${BUSYBOX_ID:7:12} " <<<"$output"
  # unpacked: the binary and an applet link
  local d
  d=$(store_dir)/layers/$(inspect busybox:latest '.RootFS.Layers[0]' | cut -c8-)/diff
  cmp "$d/bin/busybox" /bin/busybox
  [[ $(readlink "$d/bin/sh") == /bin/busybox ]]
  [[ $(stat -c %a "$d/tmp") == 1777 ]]
}

@test "GET /berth/v1/images/NAME/layers: the chain, checked by the executor" {
  load_ok busybox.tar
  local doc
  doc=$(api_get /berth/v1/images/busybox:latest/layers)
  echo "$doc"
  [[ $(jq -r .Id <<<"$doc") == "$BUSYBOX_ID" ]]
  [[ $(jq -r '.ChainIds | join(" ")' <<<"$doc") == "sha256:$(chain_ids "$(inspect busybox '.RootFS.Layers[0]')")" ]]
  [[ $(jq -r .ExecutorCheck <<<"$doc") == ok ]]
  [[ $(api_status /berth/v1/images/nosuch:latest/layers) == 404 ]]
}

@test "every archive form loads with its id, tags and layers" {
  local f tag
  for f in legacy.tar legacy-gzip.tar docker-oci.tar oci-zstd.tar outer-gzip.tar.gz; do
    echo "# $f"
    load_ok "$f"
    tag=$(fx "$f" '.tags[0]')
    grep -q "^Loaded image: $tag\$" <<<"$output"
    [[ $(inspect "$tag" .Id) == "$(fx "$f" .id)" ]]
    [[ $(inspect "$tag" '.RootFS.Layers | join(" ")') == "$(fx "$f" '.diff_ids | join(" ")')" ]]
    # every layer unpacked under its chain id
    local c n=0
    for c in $(fx_chain_ids "$f"); do
      [[ -d $(store_dir)/layers/$c/diff ]] || { echo "no layers/$c/diff"; false; }
      n=$((n + 1))
    done
    [[ $n -eq $(fx "$f" '.diff_ids | length') ]]
    grep -q "^fixture " "$(layer_dir "$f" 0)/etc/fixture"
  done
  # the oci-archive's ref.name annotation became its tag
  [[ $(inspect fx-oci:v1 '.RepoTags | join(",")') == fx-oci:v1 ]]
}

@test "loading the same archive twice stores no second copy of anything" {
  load_ok legacy.tar
  local before=$BATS_TEST_TMPDIR/before after=$BATS_TEST_TMPDIR/after
  store_blobs >"$before.blobs"
  store_layers >"$before.layers"
  find "$(store_dir)" -path "$(store_dir)/tmp" -prune -o ! -name 'store.db*' -printf '%p %y %s\n' | sort >"$before"
  local images
  images=$(api_image_ids | wc -l)
  load_ok legacy.tar
  store_blobs >"$after.blobs"
  store_layers >"$after.layers"
  find "$(store_dir)" -path "$(store_dir)/tmp" -prune -o ! -name 'store.db*' -printf '%p %y %s\n' | sort >"$after"
  diff -u "$before.blobs" "$after.blobs"
  diff -u "$before.layers" "$after.layers"
  diff -u "$before" "$after"
  [[ $(api_image_ids | wc -l) -eq $images ]]
  # the same layer in another compression is still the same layer: the
  # layers of the gzip image share nothing with legacy.tar's but are stored
  # once each, under their diff_id
  local d
  for d in $(fx legacy.tar '.diff_ids[]'); do
    [[ -f $(store_dir)/blobs/sha256/${d#sha256:} ]] || { echo "no blob for diff_id $d"; false; }
  done
}

@test "two images sharing a layer share one unpacked directory; removing one keeps the other" {
  load_ok share-a.tar
  load_ok share-b.tar
  local -a ca cb
  mapfile -t ca < <(fx_chain_ids share-a.tar)
  mapfile -t cb < <(fx_chain_ids share-b.tar)
  [[ ${ca[0]} == "${cb[0]}" && ${ca[1]} != "${cb[1]}" ]]
  local base=$(store_dir)/layers/${ca[0]}
  [[ -d $base/diff ]]
  # what the executor would mount: the engine's own chains agree
  [[ $(api_get /berth/v1/images/fx-share-a:v1/layers | jq -r '.ChainIds[0]') == "sha256:${ca[0]}" ]]
  [[ $(api_get /berth/v1/images/fx-share-b:v1/layers | jq -r '.ChainIds[0]') == "sha256:${cb[0]}" ]]
  # one directory, one inode, for both
  [[ $(store_layers | grep -c -x -e "${ca[0]}" -e "${ca[1]}" -e "${cb[1]}") -eq 3 ]]
  local ino
  ino=$(stat -c %i "$base/diff")
  # remove a: b still inspects, resolves and passes the executor's check,
  # its base directory is the same inode; a's own layer is gone
  b rmi fx-share-a:v1
  [[ $status -eq 0 ]]
  [[ $(api_status /images/fx-share-a:v1/json) == 404 ]]
  [[ $(inspect fx-share-b:v1 .Id) == "$(fx share-b.tar .id)" ]]
  [[ $(api_get /berth/v1/images/fx-share-b:v1/layers | jq -r .ExecutorCheck) == ok ]]
  [[ $(stat -c %i "$base/diff") == "$ino" ]]
  [[ -f $base/diff/etc/shared-base ]]
  [[ -d $(store_dir)/layers/${cb[1]}/diff ]]
  [[ ! -e $(store_dir)/layers/${ca[1]} ]] || { echo "a's own layer kept after rmi"; false; }
  # and a loads again onto the same base
  load_ok share-a.tar
  [[ $(stat -c %i "$base/diff") == "$ino" ]]
}

@test "setuid root in a layer: kept as a file of the unprivileged range, never host root" {
  load_ok setuid.tar
  local d
  d=$(layer_dir setuid.tar 1)
  stat -c '%n %u %g %A' "$d"/bin/* "$d/home/user/file"
  # uid/gid 0 in the image = the first id of berth's range on the host
  [[ $(stat -c '%u %g' "$d/bin/suid-root") == "$BERTH_SUBID_START $BERTH_SUBID_START" ]]
  [[ $(stat -c '%u %g' "$d/bin/sgid-root") == "$BERTH_SUBID_START $BERTH_SUBID_START" ]]
  # no file of any layer is setuid or setgid to a host id below the range
  local bad
  bad=$(find "$(store_dir)/layers" \( -perm -4000 -o -perm -2000 \) \( -uid -"$BERTH_SUBID_START" -o -gid -"$BERTH_SUBID_START" \) -print)
  [[ -z $bad ]] || { echo "privileged setuid/setgid: $bad"; false; }
  # other ids map likewise (1000 -> range start + 1000)
  [[ $(stat -c '%u %g %a' "$d/home/user/file") == "$((BERTH_SUBID_START + 1000)) $((BERTH_SUBID_START + 1000)) 600" ]]
}

@test "device nodes are skipped, named in the load output, and the rest loads" {
  load_ok device.tar
  grep -q 'dev/null' <<<"$output"
  grep -q 'dev/sda' <<<"$output"
  grep -Eiq 'skip' <<<"$output"
  [[ $(inspect fx-device:v1 .Id) == "$(fx device.tar .id)" ]]
  local d
  d=$(layer_dir device.tar 1)
  [[ -d $d/dev ]]
  [[ ! -e $d/dev/null && ! -e $d/dev/sda ]]
  [[ $(cat "$d/etc/after-devices") == "still here" ]]
  [[ -x $d/bin/tool ]]
  # not one real device node anywhere in the store (whiteouts are 0/0)
  local devs
  devs=$(find "$(store_dir)" \( -type b -o -type c \) -exec stat -c '%n %F %t:%T' {} + | grep -v 'character special file 0:0$' || true)
  [[ -z $devs ]] || { echo "device nodes: $devs"; false; }
}

@test "whiteouts become overlay whiteouts (0/0 char devices) and opaque directories" {
  load_ok whiteout.tar
  local d
  d=$(layer_dir whiteout.tar 1)
  [[ $(stat -c '%F %t:%T' "$d/dir/gone") == "character special file 0:0" ]]
  [[ ! -e $d/dir/.wh.gone ]]
  [[ ! -e $d/opq/.wh..wh..opq ]]
  [[ $(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.overlay.opaque").decode())' "$d/opq") == y ]]
  [[ -f $d/opq/new ]]
  # the lower layer is untouched
  [[ -f $(layer_dir whiteout.tar 0)/dir/gone ]]
}

@test "berth save then berth load: the same image id; save is deterministic" {
  load_ok busybox.tar
  b save -o "$BATS_TEST_TMPDIR/saved.tar" busybox:latest
  [[ $status -eq 0 ]]
  tar tf "$BATS_TEST_TMPDIR/saved.tar" | grep -qx manifest.json
  b save -o "$BATS_TEST_TMPDIR/saved2.tar" busybox:latest
  [[ $status -eq 0 ]]
  cmp "$BATS_TEST_TMPDIR/saved.tar" "$BATS_TEST_TMPDIR/saved2.tar"
  b rmi busybox:latest
  [[ $status -eq 0 ]]
  [[ $(api_status /images/busybox:latest/json) == 404 ]]
  b load -i "$BATS_TEST_TMPDIR/saved.tar"
  [[ $status -eq 0 ]]
  grep -q '^Loaded image: busybox:latest$' <<<"$output"
  [[ $(inspect busybox:latest .Id) == "$BUSYBOX_ID" ]]
  # a multi-layer image round-trips too
  load_ok legacy-gzip.tar
  b save -o "$BATS_TEST_TMPDIR/gzip.tar" fx-gzip:v1
  [[ $status -eq 0 ]]
  b rmi fx-gzip:v1
  [[ $status -eq 0 ]]
  b load -i "$BATS_TEST_TMPDIR/gzip.tar"
  [[ $status -eq 0 ]]
  [[ $(inspect fx-gzip:v1 .Id) == "$(fx legacy-gzip.tar .id)" ]]
}

@test "podman load reads what berth save writes" {
  command -v podman >/dev/null || skip "podman is not installed (apt-get install podman)"
  load_ok busybox.tar
  load_ok share-a.tar
  load_ok share-b.tar
  b save -o "$BATS_TEST_TMPDIR/saved.tar" busybox:latest fx-share-a:v1 fx-share-b:v1
  [[ $status -eq 0 ]]
  # podman with its own throwaway storage: nothing of the host's is used
  local p=$BATS_TEST_TMPDIR/podman
  local pod=(podman --root "$p/root" --runroot "$p/run" --storage-driver vfs
    --cgroup-manager cgroupfs --events-backend none)
  run "${pod[@]}" load -i "$BATS_TEST_TMPDIR/saved.tar"
  echo "$output"
  [[ $status -eq 0 ]]
  [[ $("${pod[@]}" image inspect --format '{{.Id}}' busybox:latest) == "${BUSYBOX_ID#sha256:}" ]]
  [[ $("${pod[@]}" image inspect --format '{{.Id}}' fx-share-a:v1) == "$(fx share-a.tar .id | cut -c8-)" ]]
  [[ $("${pod[@]}" image inspect --format '{{.Id}}' fx-share-b:v1) == "$(fx share-b.tar .id | cut -c8-)" ]]
  rm -rf "$p"
}

@test "stock docker CLI: load, images, image inspect, tag, rmi, save" {
  local docker=/usr/local/bin/docker
  [[ -x $docker ]] || skip "no docker CLI at $docker"
  export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker-config
  run "$docker" load -i "$FX/busybox.tar"
  echo "$output"
  [[ $status -eq 0 ]]
  grep -qx 'Loaded image: busybox:latest' <<<"$output"

  run "$docker" images
  echo "$output"
  [[ $status -eq 0 ]]
  grep -Eq '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$' <<<"${lines[0]}"
  grep -Eq "^busybox +latest +${BUSYBOX_ID:7:12} +.+ago +[0-9.]+[kMG]?B$" <<<"$output"

  run "$docker" image inspect busybox
  echo "$output"
  [[ $status -eq 0 ]]
  [[ $(jq -r '.[0].Id' <<<"$output") == "$BUSYBOX_ID" ]]
  [[ $(jq -r '.[0].RepoTags | index("busybox:latest")' <<<"$output") != null ]]
  [[ $(jq -r '.[0].Os' <<<"$output") == linux ]]
  [[ $(jq -r '.[0].RootFS.Type' <<<"$output") == layers ]]

  run "$docker" tag busybox:latest fx/mybox:v1
  echo "$output"
  [[ $status -eq 0 && -z $output ]]
  run "$docker" images fx/mybox
  [[ $status -eq 0 ]]
  grep -Eq "^fx/mybox +v1 +${BUSYBOX_ID:7:12} " <<<"$output"

  # untagging one of two names deletes nothing
  run "$docker" rmi fx/mybox:v1
  echo "$output"
  [[ $status -eq 0 ]]
  [[ $output == "Untagged: fx/mybox:v1" ]]

  run "$docker" save -o "$BATS_TEST_TMPDIR/docker-saved.tar" busybox:latest
  echo "$output"
  [[ $status -eq 0 ]]
  tar tf "$BATS_TEST_TMPDIR/docker-saved.tar" | grep -qx manifest.json

  # the last name: untagged and deleted, as Docker prints it
  run "$docker" rmi busybox:latest
  echo "$output"
  [[ $status -eq 0 ]]
  [[ ${lines[0]} == "Untagged: busybox:latest" ]]
  grep -qx "Deleted: $BUSYBOX_ID" <<<"$output"
  run "$docker" image inspect busybox:latest
  [[ $status -ne 0 ]]
  grep -q 'No such image: busybox:latest' <<<"$output"
  run "$docker" rmi busybox:nosuch
  [[ $status -ne 0 ]]
  grep -q 'No such image: busybox:nosuch' <<<"$output"

  # what docker saved loads back to the same id
  run "$docker" load -i "$BATS_TEST_TMPDIR/docker-saved.tar"
  echo "$output"
  [[ $status -eq 0 ]]
  grep -qx 'Loaded image: busybox:latest' <<<"$output"
  [[ $(inspect busybox:latest .Id) == "$BUSYBOX_ID" ]]
}

@test "invalid reference names: tag refuses them with Docker's words, tags nothing" {
  load_ok busybox.tar
  # (the docker CLI checks names itself; the engine must too)
  local code
  code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' --unix-socket "$SOCK" \
    -X POST 'http://localhost/images/busybox:latest/tag?repo=Fx-Upper&tag=v1')
  cat "$BATS_TEST_TMPDIR/body"
  [[ $code == 400 ]]
  grep -q 'invalid reference format: repository name must be lowercase' "$BATS_TEST_TMPDIR/body"
  code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' --unix-socket "$SOCK" \
    -X POST 'http://localhost/images/busybox:latest/tag?repo=fx-ok&tag=-bad')
  cat "$BATS_TEST_TMPDIR/body"
  [[ $code == 400 ]]
  grep -q 'invalid tag format' "$BATS_TEST_TMPDIR/body"   # Docker's ErrTagInvalidFormat
  b tag busybox:latest 'fx bad:v1'
  [[ $status -ne 0 ]]
  grep -q 'invalid reference format' <<<"$output"
  # nothing was tagged
  [[ $(inspect busybox:latest '.RepoTags | join(",")') == busybox:latest ]]
}
