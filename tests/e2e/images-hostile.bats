#!/usr/bin/env bats
# Hostile archives: each is refused with an error that names the entry and
# the reason, imaged survives it (same pid), nothing lands outside the store
# (a world-writable directory and file are the bait), and the store is
# byte-for-byte as before: the listing of DATA_ROOT/image (paths, sizes,
# modes, owners, mtimes; tmp/ excluded) and the dump of store.db compare
# equal, so no blob, row or directory was added; and nothing staged is
# left in tmp/.
#
# Every hostile image has a valid first layer of its own: an engine that
# commits layer by layer before it has seen the whole image leaves it behind
# and fails here. One hermetic engine for the file, with a 32 MiB limit on
# what a load may decompress; busybox is loaded first so the store is not
# empty.

bats_require_minimum_version 1.5.0
load helpers
load images-lib

LIMIT=33554432

setup_file() {
  img_file_require || return 0
  img_make_fixtures
  img_config "{\"image-max-uncompressed-bytes\": $LIMIT}"
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

# Loads fixture $1 and checks that it is refused, the message matching each
# of the extended regexes that follow (case-insensitive), with the store,
# imaged and the bait unchanged.
refused() {
  local f=$1
  shift
  local before=$BATS_TEST_TMPDIR/before after=$BATS_TEST_TMPDIR/after pid
  pid=$(e2e_svc_pid berth-imaged)
  [[ -n $pid ]]
  store_snapshot "$before"
  store_snapshot "$before.content" content
  b load -i "$FX/$f"
  [[ $status -ne 0 ]] || { echo "loaded: not refused"; return 1; }
  local re
  for re in "$@"; do
    grep -Eiq -- "$re" <<<"$output" || { echo "message does not match: $re"; return 1; }
  done
  # imaged did not crash (a restart would also have ended the load)
  [[ $(e2e_svc_pid berth-imaged) == "$pid" ]] || { echo "berth-imaged restarted"; return 1; }
  store_snapshot "$after"
  if ! diff -u "$before" "$after"; then
    # say which kind of change it was, for whoever reads the failure
    store_snapshot "$after.content" content
    if diff -q "$before.content" "$after.content" >/dev/null; then
      echo "the store changed: only directory mtimes differ (entries were added to the live store and removed again)"
    else
      echo "the store changed"
    fi
    return 1
  fi
  # nothing staged is left behind either (tmp/ would fill the disk until
  # the next restart)
  local staged
  staged=$(find "$(store_dir)/tmp" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null)
  [[ -z $staged ]] || { echo "left in tmp/: $staged"; return 1; }
  # nothing listed under the fixture's name or id
  local id
  id=$(fx "$f" .id)
  if api_image_ids | grep -qx "$id"; then echo "image $id listed"; return 1; fi
  # the bait outside the store is untouched
  [[ $(find "$OUTSIDE" -mindepth 1 | wc -l) -eq 1 ]] || { ls -la "$OUTSIDE"; return 1; }
  [[ $(stat -c '%h %s' "$OUTSIDE/canary") == "1 7" ]] || { stat "$OUTSIDE/canary"; return 1; }
  # the engine still loads a good archive afterwards: checked once, at the end
}

@test "hostile: entry with a .. component" {
  refused h-dotdot.tar 'berth-dotdot-escape' "(\.\.['\"]? *component|parent|outside|escap|travers|'\.\.'|\"\.\.\")"
}

@test "hostile: .. in the middle of an entry name" {
  refused h-dotdot-inner.tar 'etc/\.\./\.\./berth-dotdot-inner' "(\.\.['\"]? *component|parent|outside|escap|travers|'\.\.'|\"\.\.\")"
}

@test "hostile: absolute entry name" {
  refused h-absolute.tar '/berth-absolute-escape' 'absolute'
}

@test "hostile: a symlink to a host directory, then a file written through it" {
  refused h-symlink-abs.tar 'escape/berth-symlink-pwned' 'symlink|symbolic link|through a link'
  [[ ! -e $OUTSIDE/berth-symlink-pwned ]]
}

@test "hostile: a relative symlink climbing out, then a file written through it" {
  refused h-symlink-rel.tar 'up/berth-symlink-rel-pwned' 'symlink|symbolic link|through a link'
  [[ ! -e $OUTSIDE/berth-symlink-rel-pwned ]]
}

@test "hostile: hardlink to an absolute path outside the layer" {
  refused h-hardlink-abs.tar "\bhl\b" 'hard ?link' "canary|outside|absolute|not (yet )?(extracted|in the layer)"
}

@test "hostile: hardlink climbing out with .." {
  refused h-hardlink-rel.tar "\bhl\b" 'hard ?link' "canary|outside|\.\.|not (yet )?(extracted|in the layer)"
}

@test "hostile: hardlink through a symlink to a host file" {
  refused h-hardlink-symlink.tar "\bhl\b" 'hard ?link' "symlink|symbolic|outside|sl/canary"
}

@test "hostile: a layer whose content does not match the config's diff_id" {
  # named by the digest the config claims or the one the content has
  refused h-digest.tar "$(fx h-digest.tar .claimed | cut -c8-19)|$(fx h-digest.tar '.diff_ids[1]' | cut -c8-19)" \
    'mismatch|does not match|expected'
}

@test "hostile: an OCI blob whose content does not match its digest" {
  refused h-digest-oci.tar "$(fx h-digest-oci.tar .layer | cut -c8-19)" 'mismatch|does not match|expected'
}

@test "hostile: a truncated gzip layer" {
  refused h-truncated-gz.tar "$(fx h-truncated-gz.tar '.diff_ids[1]' | cut -c8-19)|$(fx h-truncated-gz.tar '.digests[1]' | cut -c8-19)" \
    'truncat|unexpected end|premature|EOF|incomplete'
}

@test "hostile: manifest.json names a layer that is not in the archive" {
  refused h-missing-layer.tar "$(fx h-missing-layer.tar .member)" 'missing|not found|no such|not in the archive'
}

@test "hostile: manifest.json names a config that is not in the archive" {
  refused h-missing-config.tar "$(fx h-missing-config.tar .member)" 'missing|not found|no such|not in the archive'
}

@test "hostile: an OCI manifest names a blob that is not in the archive" {
  refused h-missing-oci.tar "$(fx h-missing-oci.tar .member | cut -c8-19)" 'missing|not found|no such|not in the archive'
}

@test "hostile: a layer that inflates over image-max-uncompressed-bytes" {
  refused h-bomb.tar 'image-max-uncompressed-bytes' "$LIMIT" "$E2E_CONFIG"
}

@test "hostile: an archive that inflates over image-max-uncompressed-bytes" {
  refused h-bomb-outer.tar.gz 'image-max-uncompressed-bytes' "$LIMIT"
}

@test "hostile: invalid reference names in RepoTags" {
  refused h-badref-upper.tar 'invalid reference format' 'must be lowercase'
  refused h-badref-space.tar 'invalid reference format'
  refused h-badref-tag.tar 'invalid reference format'
  refused h-badref-longtag.tar 'invalid reference format'
  refused h-badref-empty.tar 'invalid reference format'
  refused h-badref-digest.tar 'invalid reference format|invalid digest|digest'
}

@test "hostile: a file owned by an id outside 0..65535" {
  refused h-uid-range.tar 'etc/bigid' '70000|out of range|outside|range'
}

@test "hostile: an entry name longer than PATH_MAX" {
  refused h-longname.tar 'too long|PATH_MAX|name length'
}

@test "after every hostile archive the engine still loads a good one" {
  b load -i "$FX/legacy.tar"
  [[ $status -eq 0 ]]
  api_image_ids | grep -qx "$(fx legacy.tar .id)"
  api_image_ids | grep -qx "$BUSYBOX_ID"
}
