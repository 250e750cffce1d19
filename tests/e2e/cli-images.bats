#!/usr/bin/env bats
# The berth CLI's image commands against a real engine (one hermetic engine
# for the file): load (file, pipe, redirect), images, tag, image inspect,
# history, save -o and load again (same id), rmi, image prune, the aliases,
# docker's messages and exit codes, progress bars only on a terminal.
# Images are generated here with python3's tarfile (one small layer each).

bats_require_minimum_version 1.5.0
load helpers

# make_image OUT TAG|- CONTENT: a docker-archive (legacy layout) with one
# layer holding /hello = CONTENT; "-" for no tag (a dangling image).
make_image() {
  python3 - "$@" <<'EOF'
import hashlib, io, json, sys, tarfile
out, tag, content = sys.argv[1], sys.argv[2], sys.argv[3].encode()

def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data, kind in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.uid = ti.gid = 0
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()

layer = tar_bytes([("etc", b"", "dir"), ("etc/hello", content, "file")])
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
    "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "Labels": {"berth.test": "cli"}},
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "ADD hello /etc/hello # " + content.decode()},
                {"created": "2023-11-14T22:13:20Z", "created_by": "CMD [\"/bin/sh\"]", "empty_layer": True}],
}, sort_keys=True, separators=(",", ":")).encode()
config_hex = hashlib.sha256(config).hexdigest()
layer_dir = hashlib.sha256(layer).hexdigest()
manifest = [{"Config": config_hex + ".json", "RepoTags": [] if tag == "-" else [tag],
             "Layers": [layer_dir + "/layer.tar"]}]
files = [(layer_dir, b"", "dir"), (layer_dir + "/layer.tar", layer, "file"),
         (config_hex + ".json", config, "file"),
         ("manifest.json", json.dumps(manifest).encode(), "file")]
with open(out, "wb") as f:
    f.write(tar_bytes(files))
print("sha256:" + config_hex)
EOF
}

setup_file() {
  e2e_require_engine
  [[ -x $BERTH_CLI ]] || skip "not built: $BERTH_CLI"
  command -v python3 >/dev/null || skip "python3 missing"
  e2e_start_activated
  e2e_wait_services 15 || { e2e_show_log; false; }
  IMG=$T/images
  mkdir -p "$IMG"
  ID_ONE=$(make_image "$IMG/one.tar" cli-test:one "first image")
  ID_TWO=$(make_image "$IMG/two.tar" cli-test:two "second image")
  ID_THREE=$(make_image "$IMG/three.tar" cli-test:three "third image")
  ID_DANGLING=$(make_image "$IMG/dangling.tar" - "nobody names me")
  export IMG ID_ONE ID_TWO ID_THREE ID_DANGLING
  export BERTH_HOST=unix://$SOCK
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

# Runs a shell command line with the CLI as $B (pipes, redirects).
cli_sh() {
  run --separate-stderr env B="$BERTH_CLI" bash -c "$1"
  echo "# $1: status $status"
  echo "$output"
  echo "# stderr: $stderr"
  ! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$stderr"
}

# Runs the CLI on a pseudo-terminal (stdin, stdout and stderr all on it);
# the output is what the terminal showed.
cli_tty() {
  local cmd
  printf -v cmd '%q ' "$BERTH_CLI" "$@"
  run script -qec "$cmd" /dev/null </dev/null
  echo "# (tty) berth $*: status $status"
  echo "$output" | cat -v
}

short() { echo "${1#sha256:}" | cut -c1-12; }

@test "load -i FILE: 'Loaded image: NAME', no progress bar off a terminal" {
  cli load -i "$IMG/one.tar"
  [[ $status -eq 0 ]]
  [[ $output == "Loaded image: cli-test:one" ]]
  [[ $stderr != *$'\r'* && $stderr != *Loading* ]]
  cli image inspect cli-test:one
  [[ $(jq -r '.[0].Id' <<<"$output") == "$ID_ONE" ]]
}

@test "load from stdin: a pipe (chunked upload) and a redirected file" {
  cli_sh "cat '$IMG/two.tar' | \$B load"
  [[ $status -eq 0 ]]
  [[ $output == "Loaded image: cli-test:two" ]]
  cli_sh "\$B load -q < '$IMG/three.tar'"
  [[ $status -eq 0 ]]
  [[ $output == "Loaded image: cli-test:three" ]]
  cli image inspect cli-test:two cli-test:three
  [[ $(jq -r '.[].Id' <<<"$output" | tr '\n' ' ') == "$ID_TWO $ID_THREE " ]]
}

@test "load: clear errors for a missing file, a directory, a terminal, a non-archive" {
  cli load -i "$T/no-such.tar"
  [[ $status -eq 1 ]]
  [[ $stderr == "open $T/no-such.tar: No such file or directory" ]]
  cli load -i "$T"
  [[ $status -eq 1 ]]
  [[ $stderr == "read $T: Is a directory" ]]
  cli_tty load
  [[ $status -eq 1 ]]
  [[ $output == *"requested load from stdin, but stdin is empty"* ]]
  echo "this is not a tar archive" >"$T/garbage.tar"
  cli load -i "$T/garbage.tar"
  [[ $status -eq 1 ]]
  [[ -n $stderr && $output != *Loaded* ]]
  cli load extra-arg
  [[ $status -eq 125 ]]
  [[ $stderr == *'"berth load" accepts no arguments.'* ]]
}

@test "images: docker's table, one row per tag, short ids, human sizes and times" {
  cli images
  [[ $status -eq 0 ]]
  [[ ${lines[0]} =~ ^REPOSITORY\ +TAG\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
  grep -Eq "^cli-test +one +$(short "$ID_ONE") +[0-9]+ (months|years) ago +[0-9.]+k?B\$" <<<"$output"
  grep -Eq "^cli-test +two +$(short "$ID_TWO") " <<<"$output"
  # The columns line up: IMAGE ID starts at the same place on every line.
  local col
  col=$(awk '{ print index($0, $3) }' <<<"$(tail -n +2 <<<"$output")" | sort -u | wc -l)
  [[ $col -eq 1 ]]

  cli images cli-test:one
  [[ $status -eq 0 && ${#lines[@]} -eq 2 && ${lines[1]} == cli-test* ]]
  cli images --filter reference=cli-test:two
  [[ ${#lines[@]} -eq 2 && ${lines[1]} =~ ^cli-test\ +two ]]
  cli images --filter label=berth.test=cli -q
  [[ $status -eq 0 ]]
  grep -qx "$(short "$ID_ONE")" <<<"$output"
  cli images --filter nonsense
  [[ $status -eq 125 ]]
  [[ $stderr == *'bad format of filter (expected name=value)'* ]]
}

@test "images -q, --no-trunc, --digests, --format json (JSON lines)" {
  cli images -q
  [[ $status -eq 0 ]]
  grep -qx "$(short "$ID_ONE")" <<<"$output"
  ! grep -Evq '^[0-9a-f]{12}$' <<<"$output"
  cli images -q --no-trunc
  grep -qx "$ID_ONE" <<<"$output"
  cli images --digests
  [[ ${lines[0]} =~ ^REPOSITORY\ +TAG\ +DIGEST\ +IMAGE\ ID\ +CREATED\ +SIZE$ ]]
  cli images --format json
  [[ $status -eq 0 ]]
  # one object per row, docker's fields as strings
  [[ $(jq -r --arg id "$(short "$ID_ONE")" 'select(.ID == $id) | .Repository + ":" + .Tag' <<<"$output") == \
    cli-test:one ]]
  [[ $(head -n 1 <<<"$output" | jq -r 'keys | join(",")') == \
    Containers,CreatedAt,CreatedSince,Digest,ID,Repository,SharedSize,Size,Tag,UniqueSize,VirtualSize ]]
  cli --format json images
  [[ ${#lines[@]} -ge 3 ]]
  jq -se 'all(.[]; type == "object" and (.ID | type) == "string")' <<<"$output"
}

# berth and the stock docker CLI, same arguments, this engine: stdout,
# stderr and exit status equal. CreatedSince is normalised (the two run a
# moment apart; these images are from 2023 so it says "N years ago", which
# only changes on a birthday, but a run across one must not fail).
same_as_docker() {
  local norm='s/"CreatedSince":"[^"]*"/"CreatedSince":"T"/g; s/[0-9]+ (years|months) ago/T ago/g'
  same_as_docker_with "$norm" "$@"
}

@test "images and history --format: what the docker CLI prints, byte for byte" {
  DOCKER=${BERTH_DOCKER_CLI:-/usr/local/bin/docker}
  [[ -x $DOCKER ]] || skip "no docker CLI at $DOCKER"
  local f
  # (one tag per image here: docker orders the rows of several tags at random)
  for f in json '{{.ID}} {{.Repository}}:{{.Tag}}' 'table {{.ID}}\t{{.Size}}' '{{json .}}' \
    'table {{.Repository}}\t{{.Digest}}\t{{.CreatedSince}}' table raw '{{upper .Tag}}|{{json .Digest}}|{{.Containers}}' \
    '{{.SharedSize}} {{.UniqueSize}} {{.VirtualSize}} {{.CreatedAt}}' yaml; do
    same_as_docker images --format "$f"
    same_as_docker images --no-trunc --digests --format "$f"
    same_as_docker images --format "$f" cli-test:nosuch
  done
  same_as_docker images
  same_as_docker images -q --format '{{.Size}}'
  for f in json '{{.ID}} {{.CreatedBy}}' 'table {{.ID}}\t{{.CreatedSince}}\t{{json .Size}}' table \
    '{{.CreatedAt}}|{{.Comment}}|{{.Size}}' '{{json .}}'; do
    same_as_docker history --format "$f" cli-test:one
    same_as_docker history --no-trunc -H=false --format "$f" cli-test:one
  done
  same_as_docker history cli-test:one
  same_as_docker history -q --format '{{.Size}}' cli-test:one
  # errors: docker's messages and exit status 1
  same_as_docker images --format '{{.Nope}}'
  [[ $status -eq 1 && $stderr == *"can't evaluate field Nope in type *formatter.imageContext" ]]
  same_as_docker images --format '{{.ID'
  [[ $status -eq 1 && $stderr == "template parsing error: template: :1: unclosed action" ]]
  same_as_docker images --format '{{.Label "x"}}'
  same_as_docker history --format '{{.Nope}}' cli-test:one
  same_as_docker history --format '{{.ID' cli-test:nosuch
}

@test "tag: a second name for the same image; invalid names refused" {
  cli tag cli-test:one cli-test:tagged
  [[ $status -eq 0 && -z $output ]]
  cli images cli-test
  grep -Eq "^cli-test +tagged +$(short "$ID_ONE") " <<<"$output"
  cli tag "$(short "$ID_TWO")" other/repo
  [[ $status -eq 0 ]]
  cli image inspect other/repo:latest
  [[ $(jq -r '.[0].Id' <<<"$output") == "$ID_TWO" ]]
  cli tag cli-test:one Bad/Name
  [[ $status -eq 1 ]]
  [[ $stderr == "Error response from daemon: "*"invalid reference format"* ]]
  cli tag cli-test:nosuch cli-test:x
  [[ $status -eq 1 ]]
  [[ $stderr == "Error response from daemon: No such image: cli-test:nosuch"* ]]
  cli tag cli-test:one cli-test@sha256:0000000000000000000000000000000000000000000000000000000000000000
  [[ $status -eq 1 && $stderr == "refusing to create a tag with a digest reference" ]]
  cli tag onlyone
  [[ $status -eq 125 && $stderr == *'"berth tag" requires exactly 2 arguments.'* ]]
}

@test "image inspect: one JSON array indented like docker; missing images named on stderr" {
  cli image inspect cli-test:one
  [[ $status -eq 0 ]]
  [[ ${lines[0]} == "[" && ${lines[1]} == "    {" ]]
  [[ $(jq -r '.[0].RepoTags | index("cli-test:one") != null' <<<"$output") == true ]]
  [[ $(jq -r '.[0].RootFS.Layers | length' <<<"$output") == 1 ]]
  [[ $(jq -r '.[0].Os' <<<"$output") == linux ]]
  cli image inspect "$(short "$ID_ONE")" cli-test:nosuch
  [[ $status -eq 1 ]]
  [[ $(jq -r '.[0].Id' <<<"$output") == "$ID_ONE" && $(jq length <<<"$output") == 1 ]]
  [[ $stderr == "Error response from daemon: No such image: cli-test:nosuch" ]]
  cli image inspect cli-test:nosuch
  [[ $status -eq 1 && $output == "[]" ]]
}

@test "history: IMAGE CREATED CREATED BY SIZE COMMENT, -q, --no-trunc, --format json|TEMPLATE" {
  cli history cli-test:one
  [[ $status -eq 0 ]]
  [[ ${lines[0]} =~ ^IMAGE\ +CREATED\ +CREATED\ BY\ +SIZE\ +COMMENT$ ]]
  [[ ${#lines[@]} -eq 3 ]]
  grep -Eq "^$(short "$ID_ONE") +[0-9]+ (months|years) ago +CMD \[\"/bin/sh\"\] +0B" <<<"$output"
  grep -Eq '^<missing> +[0-9]+ (months|years) ago +ADD hello /etc/hello # first image +[0-9.]+k?B' <<<"$output"
  cli history -q cli-test:one
  [[ ${lines[0]} == "$(short "$ID_ONE")" && ${lines[1]} == "<missing>" ]]
  cli history --no-trunc -q cli-test:one
  [[ ${lines[0]} == "$ID_ONE" ]]
  cli history --human=false cli-test:one
  [[ ${lines[0]} =~ ^IMAGE\ +CREATED\ AT\ +CREATED\ BY ]]
  cli history --format json cli-test:one
  [[ ${#lines[@]} -eq 2 && $(jq -r '.ID' <<<"${lines[0]}") == "$(short "$ID_ONE")" ]]
  cli history --format '{{.ID}}\t{{.Size}}' cli-test:one
  [[ ${lines[0]} == "$(short "$ID_ONE")"$'\t0B' ]]
  cli history cli-test:nosuch
  [[ $status -eq 1 && $stderr == "Error response from daemon: No such image: cli-test:nosuch"* ]]
}

@test "save -o then load: the same image id; mode 0600; docker-archive layout" {
  cli save -o "$T/saved.tar" cli-test:one
  [[ $status -eq 0 && -z $output ]]
  [[ $(stat -c %a "$T/saved.tar") == 600 ]]
  tar -tf "$T/saved.tar" | grep -qx manifest.json
  [[ -z $(find "$T" -maxdepth 1 -name '.berth-save-*') ]]
  cli rmi cli-test:one cli-test:tagged
  [[ $status -eq 0 ]]
  cli image inspect "$ID_ONE"
  [[ $status -eq 1 ]]
  cli load -i "$T/saved.tar"
  [[ $status -eq 0 && $output == "Loaded image: cli-test:one" ]]
  cli image inspect cli-test:one
  [[ $(jq -r '.[0].Id' <<<"$output") == "$ID_ONE" ]]
  # To stdout, two images in one archive.
  cli_sh "\$B save cli-test:two cli-test:three > '$T/two.tar'"
  [[ $status -eq 0 ]]
  [[ $(tar -xOf "$T/two.tar" manifest.json | jq -r '[.[].RepoTags[]] | sort | join(",")') == "cli-test:three,cli-test:two" ]]
}

@test "save: refuses a terminal; a failed save leaves no partial file and keeps an old one" {
  cli_tty save cli-test:one
  [[ $status -eq 1 ]]
  [[ $output == *"cowardly refusing to save to a terminal. Use the -o flag or redirect"* ]]
  cli save -o "$T/missing.tar" cli-test:nosuch
  [[ $status -eq 1 ]]
  [[ $stderr == "Error response from daemon: No such image: cli-test:nosuch"* ]]
  [[ ! -e $T/missing.tar ]]
  echo keep >"$T/old.tar"
  cli save -o "$T/old.tar" cli-test:one cli-test:nosuch
  [[ $status -eq 1 && $(cat "$T/old.tar") == keep ]]
  [[ -z $(find "$T" -maxdepth 1 -name '.berth-save-*') ]]
  cli save -o "$T/no-such-dir/x.tar" cli-test:one
  [[ $status -eq 1 && $stderr == "failed to save image: invalid output path: $T/no-such-dir: No such file or directory" ]]
  cli save -o "$T" cli-test:one
  [[ $status -eq 1 && $stderr == *"is a directory"* ]]
  cli save
  [[ $status -eq 125 && $stderr == *'"berth save" requires at least 1 argument.'* ]]
}

@test "progress bars on a terminal: load (of the file size) and save" {
  cli tag cli-test:two cli-test:progress
  cli_tty save -o "$T/progress.tar" cli-test:progress
  [[ $status -eq 0 ]]
  [[ $output == *"Saving "* ]]
  cli rmi cli-test:progress
  cli_tty load -i "$T/progress.tar"
  [[ $status -eq 0 ]]
  [[ $output == *"Loading [=================================================="*">]"* ]]
  [[ $output == *"Loaded image: cli-test:progress"* ]]
  cli_tty load -q -i "$T/progress.tar"
  [[ $status -eq 0 && $output != *"Loading ["* ]]
}

@test "rmi: Untagged/Deleted lines; missing names; -f" {
  cli tag cli-test:three cli-test:extra
  cli rmi cli-test:extra
  [[ $status -eq 0 && $output == "Untagged: cli-test:extra" ]]
  cli rmi cli-test:nosuch
  [[ $status -eq 1 && $stderr == "Error response from daemon: No such image: cli-test:nosuch" ]]
  cli rmi -f cli-test:nosuch
  [[ $status -eq 0 && $stderr == "Error response from daemon: No such image: cli-test:nosuch" ]]
  cli rmi cli-test:three
  [[ $status -eq 0 ]]
  [[ ${lines[0]} == "Untagged: cli-test:three" ]]
  grep -qx "Deleted: $ID_THREE" <<<"$output"
  cli image inspect cli-test:three
  [[ $status -eq 1 ]]
  cli rmi
  [[ $status -eq 125 ]]
}

@test "image prune: asks first, removes dangling images, reports the space" {
  cli load -i "$IMG/dangling.tar"
  [[ $status -eq 0 && $output == "Loaded image ID: $ID_DANGLING" ]]
  cli images --filter dangling=true -q --no-trunc
  grep -qx "$ID_DANGLING" <<<"$output"
  cli images
  grep -Eq "^<none> +<none> +$(short "$ID_DANGLING") " <<<"$output"

  cli_sh 'echo n | $B image prune'
  [[ $status -eq 0 ]]
  [[ $output == "WARNING! This will remove all dangling images."$'\n'"Are you sure you want to continue? [y/N] " ]]
  cli image inspect "$ID_DANGLING"
  [[ $status -eq 0 ]]

  cli_sh 'echo y | $B image prune'
  [[ $status -eq 0 ]]
  [[ $output == *"Deleted Images:"* ]]
  grep -qx "deleted: $ID_DANGLING" <<<"$output"
  grep -Eq '^Total reclaimed space: [0-9.]+k?B$' <<<"$output"
  cli image inspect "$ID_DANGLING"
  [[ $status -eq 1 ]]
  cli image inspect cli-test:one
  [[ $status -eq 0 ]]

  cli image prune -f
  [[ $status -eq 0 && $output == "Total reclaimed space: 0B" ]]
  cli image prune --force --format json
  jq -e '.SpaceReclaimed == 0' <<<"$output"
}

@test "image ls|inspect|history|tag|save|load|rm: the docker CLI's aliases" {
  cli image ls
  [[ $status -eq 0 && ${lines[0]} =~ ^REPOSITORY ]]
  cli image list -q
  [[ $status -eq 0 ]]
  cli image tag cli-test:two cli-test:alias
  [[ $status -eq 0 ]]
  cli image history -q cli-test:alias
  [[ ${lines[0]} == "$(short "$ID_TWO")" ]]
  cli image save -o "$T/alias.tar" cli-test:alias
  [[ $status -eq 0 ]]
  cli image rm cli-test:alias
  [[ $status -eq 0 && $output == "Untagged: cli-test:alias" ]]
  cli image load -i "$T/alias.tar"
  [[ $status -eq 0 && $output == "Loaded image: cli-test:alias" ]]
  cli image remove cli-test:alias
  [[ $status -eq 0 ]]
  cli image nosuch
  [[ $status -eq 125 ]]
}

@test "--help for every image command; usage errors exit 125" {
  local c
  for c in load save images "image inspect" tag rmi history "image prune" "image ls" "image rm" image; do
    # shellcheck disable=SC2086
    cli $c --help
    [[ $status -eq 0 ]]
    grep -q '^Usage:  berth' <<<"$output"
  done
  cli help images
  [[ $status -eq 0 && $output == *"Usage:  berth images"* ]]
  cli help image
  [[ $status -eq 0 && $output == *"Usage:  berth image COMMAND"* ]]
  cli images --nosuch
  [[ $status -eq 125 && $stderr == *"unknown flag: --nosuch"*"See 'berth images --help'."* ]]
  # a --format without actions is text printed per image, as docker's
  cli image ls --format yaml
  [[ $status -eq 0 && ${lines[0]} == yaml ]]
  cli image ls --format '{{.Nope'
  [[ $status -eq 1 && $stderr == "template parsing error: template: :1: unclosed action" ]]
}
