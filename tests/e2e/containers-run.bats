#!/usr/bin/env bats
# The stock docker CLI runs containers on berth (one engine for the file,
# busybox loaded: containers-lib.bash): run --rm with output, exit codes and
# stdin; stdout and stderr kept apart; 1 MiB through attach without
# truncation; -d, ps, logs (-f, -t, --tail), stop, start, wait, restart,
# kill, rm -f, inspect as with Docker; wait sent before start; --rm leaves
# nothing; container prune; and the HTTP status codes of the runtime
# endpoints (curl on the socket).

load containers-file

# HTTP status of METHOD PATH (curl on the socket; no body).
code() {
  curl -s --max-time 30 -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "http://localhost$2"
}

# METHOD PATH -> body on stdout.
body() {
  curl -s --max-time 30 --unix-socket "$SOCK" -X "$1" "http://localhost$2"
}

@test "run --rm prints the output and leaves nothing" {
  local before
  before=$(ctr_dirs)
  d run --rm busybox echo hello
  [[ $status -eq 0 ]]
  [[ $output == hello ]]
  [[ -z $(dk ps -aq) ]]
  [[ $(ctr_dirs) == "$before" ]]
}

@test "run --rm: the container's exit code is docker's" {
  d run --rm busybox sh -c 'exit 3'
  [[ $status -eq 3 ]]
  d run --rm busybox false
  [[ $status -eq 1 ]]
  [[ -z $(dk ps -aq) ]]
}

@test "run -i --rm: stdin reaches the container" {
  run --separate-stderr bash -c "echo hi | timeout 60 '$DOCKER' run -i --rm busybox cat"
  echo "$output / $stderr"
  [[ $status -eq 0 ]]
  [[ $output == hi ]]
  # more than one pipe's worth, and the end of stdin ends cat
  run bash -c "seq 1 20000 | timeout 60 '$DOCKER' run -i --rm busybox wc -l"
  [[ $status -eq 0 ]]
  [[ $output -eq 20000 ]]
}

@test "run: stdout and stderr stay apart" {
  run --separate-stderr timeout 60 "$DOCKER" run --rm busybox sh -c 'echo out; echo err >&2; echo out2'
  echo "stdout: $output / stderr: $stderr"
  [[ $status -eq 0 ]]
  [[ $output == $'out\nout2' ]]
  [[ $stderr == err ]]
}

@test "run: 1 MiB of output arrives whole through attach" {
  run bash -c "timeout 60 '$DOCKER' run --rm busybox sh -c 'head -c 1048576 /dev/zero | tr \"\\\\0\" a' | wc -c"
  echo "$output"
  [[ $status -eq 0 ]]
  [[ $output -eq 1048576 ]]
  run bash -c "timeout 60 '$DOCKER' run --rm busybox sh -c 'seq 1 100000' | md5sum"
  [[ $output == "$(seq 1 100000 | md5sum)" ]]
}

@test "run -t: raw output from a pseudo-terminal, logs raw too" {
  d run --name t1 -t busybox sh -c 'echo hi; echo err >&2'
  [[ $status -eq 0 ]]
  [[ $output == $'hi\r\nerr\r' ]]
  d logs t1
  [[ $output == $'hi\r\nerr\r' ]]
  d rm t1
}

@test "docker attach to a running container: its output, then its exit code" {
  d run -d --name at1 busybox sh -c 'sleep 1; for i in 1 2 3; do echo a$i; sleep 0.2; done; exit 4'
  local id=$output
  run -4 timeout 30 "$DOCKER" attach at1
  echo "$output"
  [[ $output == $'a1\na2\na3' ]]
  d rm at1
  ctr_assert_gone "$id"
}

@test "a slow attach reader slows the container down, nothing is lost" {
  # 6.9 MB while the reader does not read for 3 s: the engine stops reading
  # the monitor's channel, the monitor stops reading the container's pipe
  run bash -c "timeout 120 '$DOCKER' run --rm busybox seq 1 1000000 | (sleep 3; md5sum)"
  [[ $status -eq 0 ]]
  [[ $output == "$(seq 1 1000000 | md5sum)" ]]
}

# Lines of $1 are consecutive integers ending with $2 (a rotated log keeps a suffix).
consecutive_to() {
  awk -v last="$2" 'NR > 1 && $1 != prev + 1 { print "gap after " prev ": " $1; bad = 1 } { prev = $1 }
    END { if (prev != last) { print "ends at " prev; bad = 1 } exit bad }' "$1"
}

@test "logs across rotated files (--log-opt max-size, max-file)" {
  d run -d --name big --log-opt max-size=64k --log-opt max-file=3 busybox seq 1 100000
  local id=$output
  [[ $(dk wait big) == 0 ]]
  dk logs big >"$T/big.out"
  consecutive_to "$T/big.out" 100000
  local n
  n=$(wc -l <"$T/big.out")
  echo "kept $n lines"
  ((n > 1000 && n < 100000))
  d logs --tail 3 big
  [[ $output == $'99998\n99999\n100000' ]]
  d rm big
  ctr_assert_gone "$id"
}

@test "logs -f follows the log across rotations" {
  d run -d --name fr --log-opt max-size=64k --log-opt max-file=3 busybox sh -c \
    'sleep 1; i=0; while [ $i -lt 100 ]; do seq $((i*200+1)) $((i*200+200)); i=$((i+1)); sleep 0.05; done'
  local id=$output
  timeout 60 "$DOCKER" logs -f fr >"$T/follow.out"
  [[ $(wc -l <"$T/follow.out") -eq 20000 ]]
  consecutive_to "$T/follow.out" 20000
  d rm fr
  ctr_assert_gone "$id"
}

@test "run -d, ps, logs (-t, --tail), stop, start, wait, restart, kill, rm -f, inspect" {
  # (pauses between the lines: stdout and stderr are two pipes, read in any order)
  d run -d --name r1 busybox sh -c 'echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; while true; do sleep 1; done'
  [[ $status -eq 0 ]]
  local id=$output
  [[ $id =~ ^[0-9a-f]{64}$ ]]
  d ps --format '{{.Names}} {{.Status}}'
  [[ $output == "r1 Up"* ]]
  ctr_wait_log r1 three
  d logs r1
  [[ $output == $'one\ntwo\nthree' ]]
  run --separate-stderr timeout 30 "$DOCKER" logs r1
  [[ $output == $'one\nthree' && $stderr == two ]]
  d logs --tail 1 r1
  [[ $output == three ]]
  d logs --tail 0 r1
  [[ -z $output ]]
  d logs -t r1
  [[ ${lines[0]} =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z\ one$ ]]
  [[ $(dk inspect -f '{{.State.Status}} {{.State.Running}}' r1) == "running true" ]]
  local pid
  pid=$(ctr_pid r1)
  [[ $pid -gt 0 ]] && kill -0 "$pid"

  # stop: sh as pid 1 ignores SIGTERM, so SIGKILL after -t
  SECONDS=0
  d stop -t 1 r1
  [[ $status -eq 0 && $output == r1 ]]
  ((SECONDS < 10))
  [[ $(dk inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}' r1) == "exited 137 false" ]]
  ! kill -0 "$pid" 2>/dev/null
  d ps -q
  [[ -z $output ]]
  d ps -a --format '{{.Names}} {{.Status}}'
  [[ $output == "r1 Exited (137)"* ]]
  # logs of a stopped container
  d logs r1
  [[ $output == $'one\ntwo\nthree' ]]

  # start again; wait (in the background) sees the kill
  local started1
  started1=$(dk inspect -f '{{.State.StartedAt}}' r1)
  d start r1
  [[ $status -eq 0 ]]
  [[ $(dk inspect -f '{{.State.Status}}' r1) == running ]]
  timeout 60 "$DOCKER" wait r1 >"$T/wait.out" &
  local wpid=$!
  sleep 0.5
  d kill r1
  [[ $status -eq 0 ]]
  wait "$wpid"
  [[ $(cat "$T/wait.out") == 137 ]]
  [[ $(dk inspect -f '{{.State.Status}}' r1) == exited ]]
  d kill r1
  [[ $status -ne 0 && $output == *"is not running"* ]]

  # restart: running again, a new start time
  d restart -t 0 r1
  [[ $status -eq 0 ]]
  [[ $(dk inspect -f '{{.State.Status}}' r1) == running ]]
  [[ $(dk inspect -f '{{.State.StartedAt}}' r1) != "$started1" ]]
  d kill -s USR1 r1
  [[ $status -eq 0 ]]

  # rm without -f refuses, rm -f removes
  d rm r1
  [[ $status -ne 0 && $output == *"You cannot remove a running container $id"* ]]
  d rm -f r1
  [[ $status -eq 0 ]]
  ctr_assert_gone "$id"
}

@test "wait sent before start answers with the exit code" {
  d create --name w1 busybox sh -c 'sleep 0.5; exit 7'
  local id=$output
  # the head comes at once (docker run starts only after it), the body after the exit
  curl -s --max-time 60 -D "$T/wait.head" --unix-socket "$SOCK" -X POST \
    "http://localhost/v1.41/containers/w1/wait?condition=next-exit" >"$T/wait.body" &
  local cpid=$!
  local i
  for i in $(seq 50); do [[ -s $T/wait.head ]] && break; sleep 0.1; done
  grep -q '^HTTP/1.1 200' "$T/wait.head"
  [[ ! -s $T/wait.body ]]
  d start w1
  [[ $status -eq 0 ]]
  wait "$cpid"
  cat "$T/wait.body"
  [[ $(jq -c . "$T/wait.body") == '{"StatusCode":7,"Error":null}' ]]
  # not-running on a stopped container answers at once
  [[ $(body POST /containers/w1/wait | jq -r .StatusCode) == 7 ]]
  d rm w1
  [[ $status -eq 0 ]]
  ctr_assert_gone "$id"
}

@test "logs -f follows until the container exits" {
  d run -d --name f1 busybox sh -c 'for i in 1 2 3 4 5; do echo l$i; sleep 0.3; done'
  local id=$output
  d logs -f f1
  [[ $status -eq 0 ]]
  [[ $output == $'l1\nl2\nl3\nl4\nl5' ]]
  # follow on a stopped container ends at once
  d logs -f --tail 2 f1
  [[ $output == $'l4\nl5' ]]
  d rm f1
  ctr_assert_gone "$id"
}

@test "run --rm after a failed start leaves nothing" {
  local before dirs
  before=$(dk ps -aq)
  dirs=$(ctr_dirs)
  run -127 timeout 60 "$DOCKER" run --rm busybox /nonexistent
  echo "$output"
  [[ $output == *"executable file not found"* || $output == *"no such file or directory"* ]]
  [[ $(dk ps -aq) == "$before" ]]
  [[ $(ctr_dirs) == "$dirs" ]]
  run -127 timeout 60 "$DOCKER" run --rm busybox nosuchcommand
  [[ $output == *"executable file not found in \$PATH"* ]]
  [[ $(dk ps -aq) == "$before" ]]
}

@test "status codes of the runtime endpoints" {
  d run -d --name s1 busybox sleep 1000
  local id=$output
  [[ $(code POST /containers/s1/start) == 304 ]]
  [[ $(code DELETE /containers/s1) == 409 ]]
  [[ $(code POST '/containers/s1/kill?signal=NOPE') == 400 ]]
  [[ $(code POST '/containers/s1/wait?condition=sometime') == 400 ]]
  [[ $(code GET '/containers/s1/logs') == 400 ]]
  [[ $(code POST '/containers/s1/resize?h=40&w=100') == 200 ]]
  [[ $(code POST /containers/s1/stop?t=0) == 204 ]]
  [[ $(code POST /containers/s1/stop) == 304 ]]
  [[ $(code POST /containers/s1/kill) == 409 ]]
  [[ $(body POST /containers/s1/kill | jq -r .message) == "Container $id is not running" ]]
  [[ $(code POST '/containers/s1/resize?h=40&w=100') == 409 ]]
  [[ $(code POST /containers/nosuch/start) == 404 ]]
  [[ $(code POST /containers/nosuch/attach?stream=1) == 404 ]]
  [[ $(code POST /containers/nosuch/wait) == 404 ]]
  [[ $(code GET '/containers/nosuch/logs?stdout=1') == 404 ]]
  [[ $(code DELETE /containers/nosuch) == 404 ]]
  [[ $(code POST /containers/s1/restart?t=0) == 204 ]]
  [[ $(code DELETE '/containers/s1?force=1') == 204 ]]
  [[ $(code DELETE /containers/s1) == 404 ]]
  ctr_assert_gone "$id"
}

@test "attach without Upgrade (old clients) streams the output as a plain response" {
  d create --name a1 busybox sh -c 'sleep 0.5; echo attached'
  local id=$output
  curl -s --max-time 30 --unix-socket "$SOCK" -X POST -o "$T/attach.out" \
    "http://localhost/containers/a1/attach?stream=1&stdout=1&stderr=1" &
  local cpid=$!
  sleep 0.3
  d start a1
  wait "$cpid"
  # one stdcopy frame: stream 1, length 9, "attached\n"
  [[ $(od -An -tx1 -N8 "$T/attach.out" | tr -d ' \n') == 0100000000000009 ]]
  [[ $(tail -c 9 "$T/attach.out") == attached ]]
  d rm a1
  ctr_assert_gone "$id"
}

@test "container prune removes stopped containers only" {
  d create --name p1 --label keep=no busybox true
  d create --name p2 --label keep=yes busybox true
  d run -d --name p3 busybox sleep 1000
  local p3=$output
  run body POST '/containers/prune?filters=%7B%22label%22%3A%7B%22keep%3Dno%22%3Atrue%7D%7D'
  echo "$output"
  [[ $(jq -r '.ContainersDeleted | length' <<<"$output") == 1 ]]
  [[ $(jq -r '.SpaceReclaimed | type' <<<"$output") == number ]]
  d container prune -f
  [[ $status -eq 0 ]]
  d ps -a --format '{{.Names}}'
  [[ $output == p3 ]]
  d rm -f p3
  ctr_assert_gone "$p3"
}
