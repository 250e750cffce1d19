#!/usr/bin/env bats
# The Docker view of containers kept by berth-apid (owner: containers API):
# create (the stock docker CLI's body, generated and given names, Docker's
# defaults), inspect in Docker's shape (by id, prefix, name, /name),
# `docker ps` and GET /containers/json (all, limit, size, filters in
# Docker's map and legacy forms), rename, name conflicts, bad requests with
# Docker's status codes and messages, and records that survive a restart of
# berth-apid. One engine for the file (containers-lib.bash).

load containers-file

# GET PATH -> "CODE BODY" in R, CODE and BODY.
get() {
  R=$(curl -s --max-time 30 --unix-socket "$SOCK" -w '\n%{http_code}' "http://localhost$1")
  CODE=${R##*$'\n'}
  BODY=${R%$'\n'*}
  echo "GET $1 -> $CODE ${BODY:0:300}"
}

# POST PATH [BODY] -> CODE, BODY, MSG.
post() {
  R=$(api_post "$1" "${2:-}")
  CODE=${R%% *}
  BODY=${R#* }
  MSG=$(jq -r '.message // empty' <<<"$BODY" 2>/dev/null || true)
  echo "POST $1 ${2:0:200} -> $CODE ${BODY:0:300}"
}

# docker inspect -f FORMAT NAME
fmt() { dk inspect -f "$1" "$2"; }

@test "docker create: a record in Docker's shape, the executor's directory, defaults as dockerd" {
  d create --name api-one --label team=blue --label tier=web busybox sleep 60
  [[ $status -eq 0 ]]
  local id=$output
  [[ $id =~ ^[0-9a-f]{64}$ ]]
  [[ -d $T/data/containers/$id ]]
  get "/v1.41/containers/api-one/json"
  [[ $CODE == 200 ]]
  jq -e --arg id "$id" '.Id == $id and .Name == "/api-one" and .Path == "sleep" and .Args == ["60"]' <<<"$BODY"
  jq -e '.State.Status == "created" and .State.Running == false and .State.Pid == 0 and .State.ExitCode == 0
         and .State.StartedAt == "0001-01-01T00:00:00Z" and .State.FinishedAt == "0001-01-01T00:00:00Z"' <<<"$BODY"
  jq -e '.Image | test("^sha256:[0-9a-f]{64}$")' <<<"$BODY"
  jq -e '.Created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' <<<"$BODY"
  jq -e '.Driver == "overlay2" and .Platform == "linux" and .RestartCount == 0 and .ExecIDs == null and .Mounts == []' <<<"$BODY"
  jq -e --arg id "$id" '.Config.Hostname == ($id[0:12]) and .Config.Image == "busybox" and .Config.Cmd == ["sleep","60"]
         and .Config.Labels == {"team":"blue","tier":"web"}' <<<"$BODY"
  jq -e '.HostConfig.NetworkMode == "default" and .HostConfig.LogConfig.Type == "json-file"
         and .HostConfig.ShmSize == 67108864 and (.HostConfig.MaskedPaths | index("/proc/kcore")) != null' <<<"$BODY"
  jq -e '.NetworkSettings.Networks | keys == ["bridge"]' <<<"$BODY"
  jq -e --arg d "$T/data/containers/$id" '.LogPath == ($d + "/mon/log.json") and .HostsPath == ($d + "/etc/hosts")
         and .GraphDriver.Data.UpperDir == ($d + "/upper")' <<<"$BODY"
  # the stock CLI reads it
  [[ $(fmt '{{.Name}} {{.State.Status}} {{.Config.Image}}' api-one) == "/api-one created busybox" ]]
  # the upper directory belongs to the container's root: an unprivileged host uid
  local owner
  owner=$(stat -c %u "$T/data/containers/$id/upper")
  ((owner >= BERTH_SUBID_START + 65536))
}

@test "inspect: by full id, unique prefix and name; misses are Docker's 404" {
  local id
  id=$(ctr_id api-one)
  for ref in "$id" "${id:0:12}" "${id:0:3}" api-one; do
    get "/containers/$ref/json"
    [[ $CODE == 200 ]]
    [[ $(jq -r .Id <<<"$BODY") == "$id" ]]
  done
  get "/v1.41/containers/nosuch/json"
  [[ $CODE == 404 ]]
  [[ $(jq -r .message <<<"$BODY") == "No such container: nosuch" ]]
  # untyped docker inspect probes containers, images, ... and fails on all
  d inspect nosuch
  [[ $status -ne 0 ]]
  grep -qi 'no such object: nosuch' <<<"$output"
}

@test "create without a name: a generated adjective_surname; 201 with Id and Warnings" {
  post "/v1.41/containers/create" '{"Image":"busybox","Cmd":["true"]}'
  [[ $CODE == 201 ]]
  jq -e '(.Id | test("^[0-9a-f]{64}$")) and .Warnings == []' <<<"$BODY"
  local id name
  id=$(jq -r .Id <<<"$BODY")
  name=$(fmt '{{.Name}}' "$id")
  [[ $name =~ ^/[a-z]+_[a-z]+[0-9]*$ ]]
  dk rm "$id" >/dev/null
  # discarded settings come back as Docker's warnings
  post "/v1.41/containers/create?name=api-warn" \
    '{"Image":"busybox","Cmd":["true"],"HostConfig":{"MemorySwappiness":10,"OomKillDisable":true}}'
  [[ $CODE == 201 ]]
  [[ $(jq '.Warnings | length' <<<"$BODY") -eq 2 ]]
  dk rm api-warn >/dev/null
}

@test "name conflicts: 409 with Docker's message, for create and rename; nothing left behind" {
  local id before
  id=$(ctr_id api-one)
  before=$(ctr_dirs)
  d create --name api-one busybox true
  [[ $status -ne 0 ]]
  grep -qF "Conflict. The container name \"/api-one\" is already in use by container \"$id\". You have to remove (or rename) that container to be able to reuse that name." <<<"$output"
  post "/v1.41/containers/create?name=/api-one" '{"Image":"busybox","Cmd":["true"]}'
  [[ $CODE == 409 ]]
  [[ $MSG == "Conflict. The container name \"/api-one\" is already in use by container \"$id\". You have to remove (or rename) that container to be able to reuse that name." ]]
  [[ $(ctr_dirs) == "$before" ]]
  dk create --name api-two busybox true >/dev/null
  d rename api-two api-one
  [[ $status -ne 0 ]]
  grep -qF 'Conflict. The container name "/api-one" is already in use' <<<"$output"
  dk rm api-two >/dev/null
}

@test "rename: Docker's checks, 204, the new name everywhere, the old one free" {
  dk create --name api-ren busybox true >/dev/null
  local id
  id=$(ctr_id api-ren)
  post "/v1.41/containers/api-ren/rename?name=a"
  [[ $CODE == 400 && $MSG == "Invalid container name (a), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" ]]
  post "/v1.41/containers/api-ren/rename?name="
  [[ $CODE == 400 && $MSG == "Neither old nor new names may be empty" ]]
  post "/v1.41/containers/api-ren/rename?name=api-ren"
  [[ $CODE == 400 && $MSG == "Renaming a container with the same name as its current name" ]]
  post "/v1.41/containers/nosuch/rename?name=x1"
  [[ $CODE == 404 ]]
  post "/v1.41/containers/api-ren/rename?name=/api-renamed"
  [[ $CODE == 204 ]]
  [[ $(fmt '{{.Name}}' "$id") == /api-renamed ]]
  d rename api-renamed api-ren2
  [[ $status -eq 0 ]]
  [[ $(fmt '{{.Name}}' "$id") == /api-ren2 ]]
  get "/containers/api-ren/json"
  [[ $CODE == 404 ]]
  dk create --name api-ren busybox true >/dev/null
  dk rm api-ren api-ren2 >/dev/null
}

@test "docker ps: created containers only with -a; Docker's columns and JSON" {
  d ps --format '{{.Names}}'
  [[ $status -eq 0 ]]
  not grep -qx api-one <<<"$output"
  d ps -a --format '{{.Names}}|{{.Image}}|{{.Command}}|{{.Status}}|{{.Label "team"}}'
  [[ $status -eq 0 ]]
  grep -qx 'api-one|busybox|"sleep 60"|Created|blue' <<<"$output"
  get "/v1.41/containers/json?all=1"
  [[ $CODE == 200 ]]
  jq -e '.[] | select(.Names == ["/api-one"]) | .State == "created" and .Status == "Created"
         and .Command == "sleep 60" and (.Created | type) == "number" and .Ports == [] and .Mounts == []
         and .HostConfig.NetworkMode == "default" and (.NetworkSettings.Networks | has("bridge"))
         and (has("SizeRw") | not)' <<<"$BODY"
}

@test "ps: limit (newest first), size, before/since" {
  dk create --name api-l1 busybox true >/dev/null
  dk create --name api-l2 busybox true >/dev/null
  d ps -a -n 2 --format '{{.Names}}'
  [[ $output == $'api-l2\napi-l1' ]]
  d ps -a --filter before=api-l2 --format '{{.Names}}'
  [[ ${lines[0]} == api-l1 ]]
  not grep -qx api-l2 <<<"$output"
  d ps -a --filter since=api-l1 --format '{{.Names}}'
  [[ $output == api-l2 ]]
  get "/v1.41/containers/json?all=1&size=1&limit=1"
  jq -e 'length == 1 and .[0].Names == ["/api-l2"] and (.[0].SizeRw | type) == "number"
         and .[0].SizeRootFs > .[0].SizeRw' <<<"$BODY"
  get "/v1.41/containers/api-l2/json?size=1"
  jq -e '(.SizeRw | type) == "number" and .SizeRootFs > .SizeRw' <<<"$BODY"
  get "/v1.41/containers/api-l2/json"
  jq -e 'has("SizeRw") | not' <<<"$BODY"
  d ps -a -s --format '{{.Names}} {{.Size}}'
  grep -q '^api-l2 .*virtual' <<<"$output"
  get '/v1.41/containers/json?filters=%7B%22before%22%3A%7B%22nosuch%22%3Atrue%7D%7D'
  [[ $CODE == 404 ]]
  dk rm api-l1 api-l2 >/dev/null
}

@test "ps filters: id, name (regexp), label, status, ancestor, network; legacy list form; bad filters are 400" {
  local id
  id=$(ctr_id api-one)
  dk create --name api-none --network none --label team=red busybox true >/dev/null
  d ps -aq --no-trunc --filter "id=${id:0:10}"
  [[ $output == "$id" ]]
  d ps -a --format '{{.Names}}' --filter 'name=^api-o'
  [[ $output == api-one ]]
  d ps -a --format '{{.Names}}' --filter label=team
  [[ $(sort <<<"$output" | tr '\n' ' ') == "api-none api-one " ]]
  d ps -a --format '{{.Names}}' --filter label=team=blue
  [[ $output == api-one ]]
  d ps -a --format '{{.Names}}' --filter label=team=blue --filter label=tier=db
  [[ -z $output ]]
  d ps -a --format '{{.Names}}' --filter status=created --filter name=api-
  [[ $(sort <<<"$output" | tr '\n' ' ') == "api-none api-one " ]]
  d ps -a --format '{{.Names}}' --filter status=running --filter name=api-
  [[ -z $output ]]
  d ps -a --format '{{.Names}}' --filter ancestor=busybox --filter name=api-
  [[ $(sort <<<"$output" | tr '\n' ' ') == "api-none api-one " ]]
  d ps -a --format '{{.Names}}' --filter ancestor=berth-probe --filter name=api-
  [[ -z $output ]]
  d ps -a --format '{{.Names}}' --filter ancestor=nosuchimage
  [[ $status -eq 0 && -z $output ]]
  d ps -a --format '{{.Names}}' --filter network=none
  [[ $output == api-none ]]
  # the legacy list form
  get '/v1.41/containers/json?all=1&filters=%7B%22name%22%3A%5B%22api-none%22%5D%7D'
  [[ $CODE == 200 && $(jq -r '.[].Names[0]' <<<"$BODY") == /api-none ]]
  d ps -a --filter bogus=1
  [[ $status -ne 0 ]]
  grep -q "invalid filter 'bogus'" <<<"$output"
  d ps -a --filter status=sleepy
  [[ $status -ne 0 ]]
  grep -q "invalid filter 'status=sleepy'" <<<"$output"
  get '/v1.41/containers/json?filters=%7B%22exited%22%3A%7B%22x%22%3Atrue%7D%7D'
  [[ $CODE == 400 ]]
  get '/v1.41/containers/json?filters=notjson'
  [[ $CODE == 400 && $(jq -r .message <<<"$BODY") == "invalid filter" ]]
  dk rm api-none >/dev/null
}

@test "ps: exited and status filters on containers that ran (needs start)" {
  d run --name api-ran busybox sh -c 'exit 3'
  [[ $status -eq 3 ]] || skip "containers do not run on this engine yet (run status $status)"
  d ps -a --format '{{.Names}} {{.Status}}' --filter exited=3
  grep -q '^api-ran Exited (3) ' <<<"$output"
  d ps -a --format '{{.Names}}' --filter exited=0 --filter name=api-ran
  [[ -z $output ]]
  d ps -a --format '{{.Names}}' --filter status=exited --filter name=api-
  [[ $output == api-ran ]]
  [[ $(fmt '{{.State.Status}} {{.State.ExitCode}}' api-ran) == "exited 3" ]]
  dk rm api-ran >/dev/null
}

@test "create: bad requests get Docker's codes and messages, and leave nothing" {
  local before
  before=$(ctr_dirs)
  post "/v1.41/containers/create?name=x" '{"Image":"busybox","Cmd":["true"]}'
  [[ $CODE == 400 && $MSG == "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" ]]
  post "/v1.41/containers/create" ''
  [[ $CODE == 400 && $MSG == "Config cannot be empty in order to create a container" ]]
  post "/v1.41/containers/create" '{"Image":"busybox","Cmd":["true"],"HostConfig":{"Memory":"lots"}}'
  [[ $CODE == 400 && $MSG == *HostConfig.Memory* ]]
  post "/v1.41/containers/create" '{"Image":"busybox:nosuch","Cmd":["true"]}'
  [[ $CODE == 404 && $MSG == "No such image: busybox:nosuch" ]]
  d create --memory 1k busybox true
  [[ $status -ne 0 ]]
  grep -q 'Minimum memory limit allowed is 6MB' <<<"$output"
  d create --cpus 1 --cpu-period 100000 busybox true
  [[ $status -ne 0 ]]
  grep -q 'Conflicting options: Nano CPUs and CPU Period cannot both be set' <<<"$output"
  d create --cap-add NOPE busybox true
  [[ $status -ne 0 ]]
  grep -q 'unknown capability: "CAP_NOPE"' <<<"$output"
  d create --network mynet busybox true
  [[ $status -ne 0 ]]
  grep -q 'network mynet not found' <<<"$output"
  post "/v1.41/containers/create" '{"Image":"busybox","Cmd":["true"],"HostConfig":{"Privileged":true}}'
  [[ $CODE == 403 && $MSG == *allow-privileged* ]]
  post "/v1.41/containers/create" '{"Image":"busybox","Cmd":["true"],"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}'
  [[ $CODE == 403 ]]
  printf '{"defaultAction":"SCMP_ACT_BOGUS"}\n' >"$BATS_TEST_TMPDIR/bad.json"
  d create --security-opt "seccomp=$BATS_TEST_TMPDIR/bad.json" busybox true
  [[ $status -ne 0 ]]
  grep -q 'seccomp profile' <<<"$output"
  grep -q 'SCMP_ACT_BOGUS' <<<"$output"
  post "/v1.41/containers/create" '{"Image":"busybox","Entrypoint":[""]}'
  [[ $CODE == 400 && $MSG == "No command specified" ]]
  post "/v1.41/containers/create" '{"Image":"busybox","Cmd":["true"],"HostConfig":{"Binds":["/etc:/host"]}}'
  [[ $CODE == 400 && $MSG == *"not supported by berth yet"* ]]
  [[ $(ctr_dirs) == "$before" ]]
  d ps -a --format '{{.Names}}'
  [[ $output == api-one ]]
}

@test "create: what the request sets shows in inspect (limits, caps, user, env, entrypoint)" {
  d create --name api-opts -m 64m --cpus 1.5 --pids-limit 50 --cap-add NET_ADMIN --cap-drop MKNOD \
    -u 1000:1000 -w /tmp -e A=1 --entrypoint /bin/sh --read-only --hostname web busybox -c 'exit 0'
  [[ $status -eq 0 ]]
  get "/containers/api-opts/json"
  jq -e '.HostConfig.Memory == 67108864 and .HostConfig.MemorySwap == 134217728 and .HostConfig.NanoCpus == 1500000000
         and .HostConfig.PidsLimit == 50 and .HostConfig.CapAdd == ["CAP_NET_ADMIN"] and .HostConfig.CapDrop == ["CAP_MKNOD"]
         and .HostConfig.ReadonlyRootfs == true' <<<"$BODY"
  jq -e '.Config.User == "1000:1000" and .Config.WorkingDir == "/tmp" and .Config.Hostname == "web"
         and .Config.Entrypoint == ["/bin/sh"] and .Config.Cmd == ["-c","exit 0"] and .Path == "/bin/sh"
         and .Args == ["-c","exit 0"] and (.Config.Env | index("A=1")) != null' <<<"$BODY"
  dk rm api-opts >/dev/null
}

@test "records survive a restart of berth-apid (kill -9)" {
  local id pid
  id=$(ctr_id api-one)
  pid=$(e2e_svc_pid berth-apid)
  kill -KILL "$pid"
  local deadline=$((SECONDS + 20)) np=""
  while ((SECONDS < deadline)); do
    np=$(e2e_svc_pid berth-apid || true)
    [[ -n $np && $np != "$pid" ]] && curl -sf --max-time 2 --unix-socket "$SOCK" http://localhost/_ping >/dev/null && break
    sleep 0.2
  done
  [[ -n $np && $np != "$pid" ]]
  [[ $(fmt '{{.Id}} {{.Name}} {{.State.Status}}' api-one) == "$id /api-one created" ]]
  d ps -a --format '{{.Names}}' --filter label=team=blue
  [[ $output == api-one ]]
  # the database is apid's own, in DATA_ROOT/api (0700)
  [[ $(stat -c '%a %U' "$T/data/api") == "700 berth-api" ]]
  [[ -f $T/data/api/containers.db ]]
  dk rm api-one >/dev/null
  ctr_assert_gone "$id"
}
