#!/usr/bin/env bats
# The berth CLI's container commands against a real engine (one engine for
# the file, busybox loaded: containers-lib.bash): run (--rm, exit codes,
# -i with stdin, stdout/stderr apart, -t on a pseudo-terminal), -d with ps,
# logs, stop, start, wait, kill, restart, attach, rm; create and start -a;
# name conflicts; ps tables and --format (as the docker CLI prints them); inspect of containers and
# images; rename; container prune; --env-file; --help of every command.
# The stock docker CLI, on the same engine, sees what berth did.

load containers-file

setup() {
  img_setup_skip
  export BERTH_HOST=unix://$SOCK
}

# Runs the CLI (60 s at most); stdout in $output, stderr in $stderr. A
# sanitizer report on its stderr fails the test.
cli() {
  run --separate-stderr timeout -k 5 60 "$BERTH_CLI" "$@"
  echo "# berth $*: status $status"
  echo "$output" | head -n 60
  echo "# stderr: $stderr"
  if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$stderr"; then
    echo "sanitizer report from the CLI"
    return 1
  fi
}

# A shell command line with the CLI as $B (pipes, redirects).
cli_sh() {
  run --separate-stderr timeout -k 5 60 env B="$BERTH_CLI" bash -c "$1"
  echo "# $1: status $status"
  echo "$output" | head -n 60
  echo "# stderr: $stderr"
  ! grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' <<<"$stderr"
}

# The CLI on a pseudo-terminal (script(1)); $output is what the terminal showed.
# timeout stays in the terminal's foreground process group (--foreground):
# script runs the line with $SHELL, and when that is not bash (unset: sh) the
# shell forks timeout, whose own group would be a background one, stopped by
# SIGTTOU as soon as the CLI puts the terminal in raw mode.
cli_tty() {
  local cmd
  printf -v cmd '%q ' timeout --foreground -k 5 60 "$BERTH_CLI" "$@"
  run script -qec "$cmd" /dev/null </dev/null
  echo "# (tty) berth $*: status $status"
  echo "$output" | cat -v | head -n 40
}

# Not listed by `berth ps -a` (any more).
gone() {
  [[ -z $("$BERTH_CLI" ps -aq --filter "name=^$1\$") ]]
}

@test "--help of every container command: usage on stdout, exit 0" {
  local c
  for c in run create start stop kill restart rm ps logs inspect wait rename attach; do
    cli "$c" --help
    [[ $status -eq 0 ]]
    [[ ${lines[0]} == "Usage:  berth $c "* ]]
    [[ $output == *Options:* && -z $stderr ]]
  done
  for c in ls run create start stop kill restart rm logs inspect wait rename attach prune; do
    cli container "$c" --help
    [[ $status -eq 0 ]]
    [[ ${lines[0]} == "Usage:  berth container $c "* ]]
  done
  cli container --help
  [[ $status -eq 0 && $output == *"Manage containers"* && $output == *"prune"* ]]
  cli --help
  [[ $output == *"  container   Manage containers"* && $output == *"  run         "* ]]
  cli help run
  [[ $status -eq 0 && $output == *"--env-file"* ]]
  # run's -h is --hostname, as docker's: without a value it is a usage error
  cli run -h
  [[ $status -eq 125 && $stderr == *"flag needs an argument: -h"* ]]
  cli run
  [[ $status -eq 125 && $stderr == *'"berth run" requires at least 1 argument.'* ]]
  cli stop
  [[ $status -eq 125 && $stderr == *'"berth stop" requires at least 1 argument.'* ]]
  cli rename a
  [[ $status -eq 125 && $stderr == *'"berth rename" requires exactly 2 arguments.'* ]]
}

@test "run --rm: output, exit codes 0, 3, 127 (missing command), stdout and stderr apart" {
  cli run --rm busybox echo hello
  [[ $status -eq 0 && $output == hello && -z $stderr ]]
  cli run --rm busybox sh -c 'exit 3'
  [[ $status -eq 3 ]]
  cli run --rm busybox sh -c 'echo to-out; echo to-err >&2; exit 0'
  [[ $status -eq 0 && $output == to-out && $stderr == to-err ]]
  cli run --rm --name cli-missing busybox no-such-command
  [[ $status -eq 127 ]]
  [[ $stderr == *'executable file not found'* && $stderr == *"Run 'berth run --help' for more information"* ]]
  gone cli-missing
  # options after the image belong to the command
  cli run --rm busybox echo -n --rm -d
  [[ $status -eq 0 && $output == "--rm -d" ]]
  # the command is PID 1 and --rm left nothing
  cli run --rm --name cli-rm busybox sh -c 'echo $$'
  [[ $status -eq 0 && $output == 1 ]]
  gone cli-rm
}

@test "run -i: stdin reaches the container, its end closes it; 1 MiB through cat intact" {
  cli_sh 'echo hi | $B run -i --rm busybox cat'
  [[ $status -eq 0 && $output == hi ]]
  head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/in"
  cli_sh "\$B run -i --rm busybox sh -c 'cat; echo done >&2' <'$BATS_TEST_TMPDIR/in' | sha256sum"
  [[ $status -eq 0 ]]
  [[ ${output%% *} == "$(sha256sum <"$BATS_TEST_TMPDIR/in" | cut -d' ' -f1)" ]]
  [[ $stderr == done ]]
  # without -i the container's stdin is empty at once
  cli_sh 'echo ignored | $B run --rm busybox cat'
  [[ $status -eq 0 && -z $output ]]
  # the exit code of a stdin-driven command
  cli_sh 'printf "exit 5\n" | $B run -i --rm busybox sh'
  [[ $status -eq 5 ]]
}

@test "run -d, ps, logs, stop, start, wait, kill, restart, rm: the life of a container" {
  cli run -d --name cli-life busybox sh -c 'echo started; trap "echo bye; exit 7" TERM; while :; do sleep 0.1; done'
  [[ $status -eq 0 && $output =~ ^[0-9a-f]{64}$ ]]
  local id=$output
  cli ps
  [[ $status -eq 0 ]]
  [[ ${lines[0]} =~ ^CONTAINER\ ID\ +IMAGE\ +COMMAND\ +CREATED\ +STATUS\ +PORTS\ +NAMES$ ]]
  grep -Eq "^${id:0:12} +busybox +\"sh -c [^\"]*…\" +.* ago +Up .* +cli-life\$" <<<"$output"
  ctr_wait_log cli-life started
  cli logs cli-life
  [[ $status -eq 0 && $output == started ]]
  cli stop -t 10 cli-life
  [[ $status -eq 0 && $output == cli-life ]]
  cli wait cli-life
  [[ $status -eq 0 && $output == 7 ]]
  # stopping a stopped container is not an error (the engine's 304)
  cli stop cli-life
  [[ $status -eq 0 && $output == cli-life ]]
  cli logs cli-life
  [[ $output == $'started\nbye' ]]
  cli ps
  ! grep -q cli-life <<<"$output"
  cli ps -a
  grep -Eq "Exited \(7\) .* +cli-life\$" <<<"$output"
  # start again; wait sees the next exit
  cli start cli-life
  [[ $status -eq 0 && $output == cli-life ]]
  cli ps -q
  grep -qx "${id:0:12}" <<<"$output"
  "$BERTH_CLI" wait cli-life >"$BATS_TEST_TMPDIR/wait.out" &
  local waiter=$!
  sleep 0.5
  cli kill -s KILL cli-life
  [[ $status -eq 0 && $output == cli-life ]]
  wait "$waiter"
  [[ $(cat "$BATS_TEST_TMPDIR/wait.out") == 137 ]]
  cli restart -t 1 cli-life
  [[ $status -eq 0 && $output == cli-life ]]
  [[ $(dk inspect -f '{{.State.Running}}' cli-life) == true ]]
  # rm refuses a running container, -f removes it
  cli rm cli-life
  [[ $status -eq 1 && $stderr == *"Error response from daemon:"* ]]
  cli rm -f cli-life
  [[ $status -eq 0 && $output == cli-life ]]
  gone cli-life
  ctr_assert_gone "$id"
  # errors: Docker's message, exit 1; rm -f forgives a missing name
  cli stop cli-life
  [[ $status -eq 1 && $stderr == *"No such container: cli-life"* ]]
  cli logs cli-life
  [[ $status -eq 1 && $stderr == *"No such container: cli-life"* ]]
  cli rm -f cli-life
  [[ $status -eq 0 && $stderr == *"No such container: cli-life"* ]]
}

@test "a name in use: Docker's conflict message (create exits 1, run 125)" {
  cli create --name cli-dup busybox true
  [[ $status -eq 0 && $output =~ ^[0-9a-f]{64}$ ]]
  local id=$output
  cli create --name cli-dup busybox true
  [[ $status -eq 1 ]]
  [[ $stderr == *"Conflict. The container name \"/cli-dup\" is already in use by container \"$id\". You have to remove (or rename) that container to be able to reuse that name."* ]]
  cli run --rm --name cli-dup busybox true
  [[ $status -eq 125 && $stderr == "berth: Error response from daemon: Conflict."* ]]
  cli run --rm --pull=never busybox:nosuch true
  [[ $status -eq 125 && $stderr == *"No such image: busybox:nosuch"* ]]
  cli run --rm -m lots busybox true
  [[ $status -eq 125 && $stderr == *"invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"* ]]
  cli rm cli-dup
  [[ $status -eq 0 ]]
}

@test "create, then start -a and start -ai; attach to a running container" {
  cli create --name cli-sa busybox sh -c 'echo from-start; exit 4'
  [[ $status -eq 0 ]]
  cli start -a cli-sa
  [[ $status -eq 4 && $output == from-start ]]
  cli create -i --name cli-sai busybox sh -c 'cat; exit 6'
  cli_sh 'echo piped | $B start -ai cli-sai'
  [[ $status -eq 6 && $output == piped ]]
  cli run -d --name cli-att busybox sh -c 'sleep 1; echo late; exit 5'
  cli attach cli-att
  [[ $status -eq 5 && $output == late ]]
  cli attach cli-att
  [[ $status -eq 1 && $stderr == *"You cannot attach to a stopped container, start it first"* ]]
  cli rm cli-sa cli-sai cli-att
  [[ $status -eq 0 && $output == $'cli-sa\ncli-sai\ncli-att' ]]
}

# berth and the stock docker CLI with the same arguments against this
# engine: stdout, stderr and exit status must be equal. The two run a moment
# apart, so what depends on the clock is normalised first: JSON's RunningFor
# and an "Up ..." Status, and "N seconds ago" / "Up N seconds" in text.
same_as_docker() {
  local norm='s/"(RunningFor|CreatedSince)":"[^"]*"/"\1":"T"/g; s/"Status":"Up [^"]*"/"Status":"Up T"/g;'
  norm+=' s/(Less than a second|About a minute|1 second|[0-9]+ (seconds|minutes)) ago/T ago/g;'
  norm+=' s/Up (Less than a second|About a minute|1 second|[0-9]+ (seconds|minutes))/Up T/g'
  same_as_docker_with "$norm" "$@"
}

@test "ps: -a, -q, --no-trunc, --filter, --format json (JSON lines); the docker CLI sees the same" {
  cli run -d --name cli-ps1 --label cli.test=ps --label 'cli.x=<a&b> "q"' busybox sleep 1000
  local id1=$output
  cli create --name cli-ps2 --label cli.test=ps busybox sh -c 'echo "d\u00e9j\u00e0"'
  local id2=$output
  cli ps -q
  grep -qx "${id1:0:12}" <<<"$output"
  ! grep -qx "${id2:0:12}" <<<"$output"
  cli ps -aq --no-trunc --filter label=cli.test=ps
  [[ $(sort <<<"$output") == "$(printf '%s\n' "$id1" "$id2" | sort)" ]]
  cli ps -a --filter status=created --filter label=cli.test=ps
  [[ ${#lines[@]} -eq 2 && ${lines[1]} == *" Created "*cli-ps2 ]]
  # docker's JSON lines: one object per container, the formatter's fields as strings
  cli ps -a --format json --filter label=cli.test=ps
  [[ $status -eq 0 && ${#lines[@]} -eq 2 ]]
  [[ $(jq -sr 'map(select(.ID == "'"${id1:0:12}"'")) | .[0] | .Names + " " + .State + " " + .Labels' \
    <<<"$output") == 'cli-ps1 running cli.test=ps,cli.x=<a&b> "q"' ]]
  [[ $(jq -sr '.[0] | keys | join(",")' <<<"$output") == \
    Command,CreatedAt,ID,Image,Labels,LocalVolumes,Mounts,Names,Networks,Platform,Ports,RunningFor,Size,State,Status ]]
  # the global --format json means the same for ps
  cli --format json ps --filter name=cli-ps1
  [[ ${#lines[@]} -eq 1 && $(jq -r '.Labels' <<<"$output") == 'cli.test=ps,cli.x=<a&b> "q"' ]]
  cli ps --no-trunc --filter name=cli-ps1
  [[ ${lines[1]} == "$id1 "*'"sleep 1000"'* ]]
  cli ps --filter nonsense
  [[ $status -eq 125 && $stderr == *'bad format of filter (expected name=value)'* ]]
  # the stock docker CLI lists what berth made, with the same short ids
  d ps -a --filter label=cli.test=ps --format '{{.ID}} {{.Names}}'
  [[ $(sort <<<"$output") == "$(printf '%s\n' "${id1:0:12} cli-ps1" "${id2:0:12} cli-ps2" | sort)" ]]
  # and berth's --format prints what docker's prints, byte for byte
  local f
  for f in json '{{.ID}} {{.Names}}' '{{json .Labels}}' '{{.Label "cli.x"}}|{{json .}}' \
    '{{.ID}}\t{{.Command}}\t{{upper .State}}' 'raw' '{{.Names | upper}} {{pad .State 1 1}}|' \
    '{{.Size}} {{.Mounts}} {{.Networks}} {{.LocalVolumes}} {{.CreatedAt}}' yaml; do
    same_as_docker ps -a --filter label=cli.test=ps --format "$f"
    same_as_docker ps -a --no-trunc --filter label=cli.test=ps --format "$f"
  done
  # tables without the clock's columns (their widths would change between the two runs)
  same_as_docker ps -a --filter name=cli-ps2 --format 'table {{.ID}}\t{{.Status}}'
  same_as_docker ps -a --filter label=cli.test=ps --format 'table {{.ID}}\t{{.Names}}\t{{.Labels}}\t{{.State}}'
  same_as_docker ps -a --filter name=cli-ps2 --format 'table {{.Names}}\t{{.Image}}\t{{.Command}}|{{json .Names}}'
  same_as_docker ps -a --filter name=cli-ps2 --format 'table {{.Nope}}'
  # -q wins over --format, with docker's warning
  same_as_docker ps -q --filter name=cli-ps1 --format json
  # errors: docker's messages and exit status 1
  same_as_docker ps -a --format '{{.Nope}}'
  [[ $status -eq 1 && $stderr == *"can't evaluate field Nope in type *formatter.ContainerContext" ]]
  same_as_docker ps -a --format '{{.ID'
  [[ $status -eq 1 && $stderr == "failed to parse template: template: :1: unclosed action" ]]
  same_as_docker ps -a --format '{{nope .ID}}'
  same_as_docker ps -a --format '{{.ID.Foo}}'
  cli rm -f cli-ps1 cli-ps2
  [[ $status -eq 0 ]]
}

@test "inspect: containers, images as fallback, --type, missing names; a JSON array as docker's" {
  cli create --name cli-insp -e FOO=bar busybox true
  local id=$output
  cli inspect cli-insp
  [[ $status -eq 0 ]]
  [[ ${lines[0]} == "[" && ${lines[1]} == "    {" ]]
  [[ $(jq -r '.[0].Id + " " + .[0].Name + " " + .[0].State.Status' <<<"$output") == "$id /cli-insp created" ]]
  jq -e '.[0].Config.Env | index("FOO=bar")' <<<"$output" >/dev/null
  cli inspect busybox cli-insp
  [[ $status -eq 0 ]]
  [[ $(jq -r '.[0].RepoTags[0] + " " + .[1].Id' <<<"$output") == "busybox:latest $id" ]]
  cli inspect --type image cli-insp
  [[ $status -eq 1 && $stderr == "Error: No such image: cli-insp" ]]
  cli container inspect busybox
  [[ $status -eq 1 && $output == "[]" && $stderr == "Error: No such container: busybox" ]]
  cli inspect cli-insp nothing-here
  [[ $status -eq 1 && $stderr == "Error: No such object: nothing-here" ]]
  [[ $(jq -r 'length' <<<"$output") == 1 ]]
  # by unique id prefix
  cli inspect "${id:0:12}"
  [[ $(jq -r '.[0].Id' <<<"$output") == "$id" ]]
  cli rm cli-insp
}

@test "version -f and info -f TEMPLATE: the server's part as the docker CLI prints it, errors and status too" {
  local f
  for f in '{{.Server.Version}}' '{{.Server.APIVersion}}' '{{json .Server}}' '{{.Server.Os}}' '{{.Server.Arch}}' \
    '{{.Server.KernelVersion}}' '{{.Server.MinAPIVersion}} {{.Server.Experimental}}' 'a\tb|{{.Server.Os}}\tc' \
    '{{.Server.ApiVersion}}' '{{.Nope}}' '{{.Server.Nope}}' '{{.Client.ApiVersion}}' '{{' '{{nope}}'; do
    same_as_docker_with '' version -f "$f"
  done
  same_as_docker_with '' version --format '{{.Nope}}'
  [[ $status -eq 1 ]]
  same_as_docker_with '' version -f '{{.Server.Version'
  [[ $status -eq 64 ]]
  for f in '{{.ServerVersion}}' '{{.Containers}}' '{{.Images}}' '{{.Driver}}' '{{.OperatingSystem}}' '{{.NCPU}}' \
    '{{json .Plugins}}' '{{.ServerVersion}}|{{.Driver}}|{{range .Plugins.Volume}}{{.}}{{end}}' '{{.Nope}}' \
    '{{.Plugins.Nope}}' '{{.ClientInfo.Nope}}' '{{' '{{end}}'; do
    same_as_docker_with '' info -f "$f"
  done
  same_as_docker_with '' info --format '{{.Server.Version}}'
  [[ $status -eq 1 ]]
  same_as_docker_with '' info -f '{{if}}'
  [[ $status -eq 64 ]]
  # {{json .}}: the engine's info (docker adds its own ClientInfo)
  cli info -f '{{json .}}'
  [[ $status -eq 0 ]]
  [[ $(jq -r '.ServerVersion + " " + .Driver' <<<"$output") == "$(dk info -f '{{.ServerVersion}} {{.Driver}}')" ]]
}

@test "inspect -f TEMPLATE and ps --format with if/range: what the docker CLI prints, byte for byte" {
  cli run -d --name cli-ifmt --label k=v --label 'x=<a&b>' -e FOO=bar -e 'Q="q"' -m 64m busybox sleep 1000
  [[ $status -eq 0 ]]
  cli create --name cli-ifmt2 busybox sh -c 'echo x'
  [[ $status -eq 0 ]]
  local f
  for f in '{{.State.Status}}' '{{.State.Running}}' '{{.Id}}' '{{.Name}}' '{{.Config.Image}}' '{{json .Config.Env}}' \
    '{{index .Config.Labels "k"}}|{{index .Config.Labels "nope"}}|{{.Config.Labels.nope}}' \
    '{{range .Config.Env}}{{.}},{{end}}' '{{if .State.Running}}up{{else}}down{{end}}' '{{len .Config.Cmd}}' \
    '{{.HostConfig.Memory}}' '{{.Config.Cmd}}' '{{printf "%s-%d" .Name .RestartCount}}' '{{.Config.Labels}}' \
    '{{json .Config.Labels}}' '{{.State.Pid | printf "%d" | len | lt 0}}' '{{upper .State.Status}} {{title "a b"}}' \
    '{{join .Config.Cmd "+"}} {{split .Name "i"}}' \
    '{{with .Config.Labels}}{{.k}}{{end}} {{with .State.Health}}h{{else}}no health{{end}}' \
    '{{range .Config.Labels}}[{{.}}]{{else}}none{{end}}' '{{if and .State.Running .Name}}x{{end}}' \
    '{{if eq .State.Status "exited"}}e{{else if ne .RestartCount 0}}r{{else}}o{{end}} {{not .State.Paused}}' \
    '{{.State.ExitCode}} {{.HostConfig.NetworkMode}} {{.Driver}} {{.Platform}} {{or .State.ExitCode "none"}}' \
    '{{println .Name}}{{print .RestartCount .Name 1 2}} {{printf "%q %v %5s|%-3d|" .Name .State.Running "r" 7}}' \
    '{{.Nope}}' '{{.State.Nope}}' '{{.State.Health.Status}}' '{{index .Config.Env 99}}' '{{len .RestartCount}}' \
    '{{if}}{{end}}' '{{.Id' '{{end}}' '{{nope .Id}}'; do
    same_as_docker_with '' inspect -f "$f" cli-ifmt
  done
  # -f applies to each name, errors after the output; containers and images
  same_as_docker_with '' inspect -f '{{.Name}} {{.State.Status}}' cli-ifmt cli-ifmt2
  same_as_docker_with '' inspect --format '{{.Id}}' cli-ifmt nothing-here
  same_as_docker_with '' inspect -f '{{.Nope}}' cli-ifmt cli-ifmt2
  same_as_docker_with '' container inspect -f '{{.Config.Hostname | len}} {{json .Mounts}}' cli-ifmt2
  for f in '{{.Id}} {{json .RepoTags}} {{.Size}} {{.Os}}/{{.Architecture}}' \
    '{{range .RootFS.Layers}}{{.}} {{end}}{{len .RootFS.Layers}}' '{{.Config.Cmd}} {{json .Config.Env}}' '{{.Nope}}'; do
    same_as_docker_with '' inspect -f "$f" busybox
    same_as_docker_with '' image inspect -f "$f" busybox
  done
  [[ $status -eq 1 ]]
  same_as_docker_with '' image inspect -f '{{.Id}}' busybox nothing-here
  # ps --format with control structures and comparisons
  same_as_docker ps -a --filter name=cli-ifmt --format '{{if eq .State "running"}}up {{.Names}}{{else}}{{.State}}{{end}}'
  same_as_docker ps -a --filter name=cli-ifmt --format '{{range split .Labels ","}}<{{.}}>{{end}}|{{len .Names}}'
  same_as_docker ps -a --filter name=cli-ifmt --format 'table {{.Names}}\t{{if ne .State "running"}}stopped{{end}}'
  cli rm -f cli-ifmt cli-ifmt2
  [[ $status -eq 0 ]]
}

@test "inspect -f and ps --format with parentheses and variables: what the docker CLI prints, byte for byte" {
  cli run -d --name cli-tpar --label k=v --label 'x=<a&b>' -e FOO=bar -e 'Q="q"' busybox sleep 1000
  [[ $status -eq 0 ]]
  local f bad=0
  # every template is compared (a difference is reported, the loop goes on)
  for f in '{{if and .State.Running (eq .Config.User "")}}root{{else}}other{{end}}' \
    '{{printf "%s|%s" (index .Config.Labels "k") (index .Config.Labels "x")}}' \
    '{{len (index .Config.Env 0)}} {{(index .Config.Env 1)}} {{upper (printf "%s-%d" .Name (len (split .Id "")))}}' \
    '{{$n := .Name}}{{$n}} {{$n = "other"}}{{$n}} {{$.State.Status}}' \
    '{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}' \
    '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}{{range $v := .Config.Labels}}[{{$v}}]{{end}}' \
    '{{range .Config.Env}}{{$.Name}}:{{.}} {{end}}{{with $c := .Config}}{{$c.Image}} {{.Image}}{{end}}' \
    '{{if $r := .State.Running}}{{$r}}{{end}} {{range $i, $e := .Config.Cmd}}{{$x := $i}}{{$x}}{{$e}}{{end}}' \
    '{{(index .NetworkSettings.Networks "bridge").IPPrefixLen}}' \
    '{{(.State).Status}} {{(.Config.Labels).k}} {{$s := .State}}{{$s.Pid | printf "%v" | len | lt 0}}' \
    '{{$x}}' '{{range .Config.Env}}{{$e := .}}{{end}}{{$e}}' '{{$x = 1}}' '{{$x = index .Config.Env 0}}' '{{(index .Config.Env 0}}' \
    '{{.Name)}}' '{{()}}' '{{$a, $b := .Name}}' '{{$s := .State}}{{$s.Nope}}' '{{(index .Config.Labels "k").Nope}}' \
    '{{range $i, $e := 3}}{{$e}}{{end}}' '{{printf "%v" (index .Config.Env 9)}}' '{{.Name | $}}'; do
    same_as_docker_with '' inspect -f "$f" cli-tpar || bad=1
  done
  same_as_docker ps -a --filter name=cli-tpar --format '{{$n := .Names}}{{if eq (len $n) 8}}{{$n}} {{(printf "%s" .State)}}{{end}}' || bad=1
  same_as_docker ps -a --filter name=cli-tpar --format '{{range $i, $l := split .Labels ","}}{{$i}}<{{$l}}>{{end}} {{$.Image}}' || bad=1
  same_as_docker ps -a --filter name=cli-tpar --format '{{$y}}' || bad=1
  cli rm -f cli-tpar
  [[ $status -eq 0 && $bad -eq 0 ]]
}

@test "rename; container prune removes stopped containers only" {
  cli create --name cli-old busybox true
  local id=$output
  cli rename cli-old cli-new
  [[ $status -eq 0 && -z $output ]]
  [[ $(jq -r '.[0].Name' <<<"$("$BERTH_CLI" inspect "$id")") == /cli-new ]]
  cli inspect --type container cli-old
  [[ $status -eq 1 ]]
  cli rename cli-nope cli-x
  [[ $status -eq 1 && $stderr == *"No such container: cli-nope"*"Error: failed to rename container named cli-nope"* ]]
  cli run --name cli-done busybox true
  [[ $status -eq 0 ]]
  local done_id
  done_id=$(dk inspect -f '{{.Id}}' cli-done)
  cli run -d --name cli-alive busybox sleep 1000
  cli_sh 'echo n | $B container prune'
  [[ $status -eq 0 && $output == *"WARNING! This will remove all stopped containers."* ]]
  [[ $output != *Deleted* ]]
  cli container prune -f
  [[ $status -eq 0 ]]
  [[ $output == *"Deleted Containers:"* && $output == *"$id"* && $output == *"$done_id"* ]]
  [[ ${lines[-1]} == "Total reclaimed space: "* ]]
  gone cli-new
  gone cli-done
  cli ps -q --filter name=cli-alive
  [[ -n $output ]]
  cli rm -f cli-alive
}

@test "run --env-file and -e: the file's variables, then -e's; a bad file is refused before anything is made" {
  printf '# comment\nFROM_FILE=1\nSHARED=file\n\n  SPACED=a b \n' >"$BATS_TEST_TMPDIR/env"
  cli run --rm --env-file "$BATS_TEST_TMPDIR/env" -e SHARED=flag -e CLI_PASS busybox env
  [[ $status -eq 0 ]]
  grep -qx FROM_FILE=1 <<<"$output"
  grep -qx SHARED=flag <<<"$output"
  grep -qx 'SPACED=a b ' <<<"$output"
  export CLI_PASS=through
  cli run --rm -e CLI_PASS busybox sh -c 'echo $CLI_PASS'
  unset CLI_PASS
  [[ $output == through ]]
  printf 'BAD KEY=1\n' >"$BATS_TEST_TMPDIR/bad"
  cli run --rm --name cli-env-bad --env-file "$BATS_TEST_TMPDIR/bad" busybox true
  [[ $status -eq 125 && $stderr == *"variable 'BAD KEY' contains whitespaces"* ]]
  cli run --rm --env-file "$BATS_TEST_TMPDIR/none" busybox true
  [[ $status -eq 125 && $stderr == *"open $BATS_TEST_TMPDIR/none: No such file or directory"* ]]
  gone cli-env-bad
}

@test "logs: -t, --tail, -f ends when the container exits; a container's limits and options reach it" {
  cli run -d --name cli-logs busybox sh -c 'echo one; echo two >&2; sleep 0.3; echo three'
  cli wait cli-logs
  [[ $output == 0 ]]
  cli logs cli-logs
  [[ $output == $'one\nthree' && $stderr == two ]]
  cli logs --tail 1 cli-logs
  [[ $status -eq 0 ]]
  [[ "$output$stderr" == three ]]
  cli logs -t cli-logs
  [[ ${lines[0]} =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ one$ ]]
  cli logs --since 2000-01-01T00:00:00Z --until 1h cli-logs
  [[ $status -eq 0 && -z $output ]]
  cli run -d --name cli-follow busybox sh -c 'for i in 1 2 3; do echo n$i; sleep 0.3; done'
  cli logs -f cli-follow
  [[ $status -eq 0 && $output == $'n1\nn2\nn3' ]]
  cli run --rm -w /etc -u 1000:1000 -h cli-host --read-only -m 64m --pids-limit 30 --cpus 0.5 \
    --network none --cap-drop ALL busybox sh -c 'pwd; id -u; hostname; touch /x 2>/dev/null || echo ro'
  [[ $status -eq 0 && $output == $'/etc\n1000\ncli-host\nro' ]]
  cli rm cli-logs cli-follow
}

@test "-t: a pseudo-terminal in the container (through script(1)), raw stream, exit code" {
  command -v script >/dev/null || skip "script(1) missing"
  cli_tty run -it --rm busybox sh -c 'test -t 0 && test -t 1 && test -t 2 && echo tty-ok; tty; exit 4'
  [[ $status -eq 4 ]]
  [[ $output == *tty-ok* && $output == *"/dev/pts/0"* ]]
  cli_tty run -t --rm busybox sh -c 'test -t 1 && echo is-a-tty'
  [[ $status -eq 0 && $output == *is-a-tty* ]]
  # -it needs a terminal on stdin, as docker
  cli_sh '$B run -it --rm busybox true </dev/null'
  [[ $status -eq 1 && $stderr == *"the input device is not a TTY"* ]]
  # without -t the container has no terminal even when berth has one
  cli_tty run --rm busybox sh -c 'test -t 1 || echo no-tty'
  [[ $status -eq 0 && $output == *no-tty* ]]
}

@test "run without -t passes SIGTERM and SIGINT on to the container (docker's sig-proxy), also when started with them blocked" {
  local out=$BATS_TEST_TMPDIR/sig.out pid i sig how
  # "blocked": the CLI inherits a mask with both blocked (as some CI runners
  # start jobs); exec keeps the mask, so the CLI must unblock what it proxies
  for how in TERM:plain INT:plain TERM:blocked INT:blocked; do
    sig=${how%%:*}
    local wrap=()
    [[ ${how#*:} == plain ]] || wrap=(python3 -c 'import os, signal, sys
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
os.execvp(sys.argv[1], sys.argv[1:])')
    "${wrap[@]}" timeout -k 5 60 "$BERTH_CLI" run --rm --name "cli-sig-$sig" busybox \
      sh -c "trap 'echo got-$sig; exit 9' $sig; echo ready; while :; do sleep 0.1; done" >"$out" 2>&1 &
    pid=$!
    for i in $(seq 100); do grep -q ready "$out" && break; sleep 0.1; done
    grep -q ready "$out"
    # the CLI itself, not timeout: the signal goes to berth, which forwards it
    kill -"$sig" "$(pgrep -P "$pid")"
    local rc=0
    wait "$pid" || rc=$?
    cat "$out"
    [[ $rc -eq 9 ]]
    grep -qx "got-$sig" "$out"
    gone "cli-sig-$sig"
  done
}
