#!/usr/bin/env bats
# docker events on berth (GET /events, one engine for the file, busybox
# loaded: containers-lib.bash): dockerd's sequence and attributes for
# `docker run --rm`, filters, a live stream, image events, docker stats
# without names (it follows events), and a client that reads nothing.

load containers-file

setup() {
  img_setup_skip
  command -v python3 >/dev/null || skip "python3 missing"
}


now() { date +%s.%N; }

# The past events between $1 and now, with the extra docker events arguments.
past() {
  local since=$1
  shift
  dk events --since "$since" --until "$(now)" "$@"
}

@test "events: docker run --rm gives dockerd's create, attach, start, die, destroy with attributes" {
  local s
  s=$(now)
  dk run --rm --name ev1 --label evk=evv busybox sh -c 'exit 3' || true
  run past "$s" --filter container=ev1 --format '{{.Action}}'
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(echo $output)" = "create attach start die destroy" ]
  past "$s" --filter container=ev1 --filter event=die --format '{{json .}}' >"$BATS_TEST_TMPDIR/die"
  cat "$BATS_TEST_TMPDIR/die"
  python3 - "$BATS_TEST_TMPDIR/die" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
m = json.loads(lines[0])
assert m["status"] == "die" and m["Action"] == "die" and m["Type"] == "container", m
assert m["id"] == m["Actor"]["ID"] and len(m["id"]) == 64, m
assert m["from"] == "busybox" and m["scope"] == "local", m
a = m["Actor"]["Attributes"]
assert a == {"evk": "evv", "exitCode": "3", "execDuration": "0", "image": "busybox", "name": "ev1"}, a
assert m["time"] == m["timeNano"] // 10**9, m
PY
  # the raw message: dockerd's field order, one object a line
  run curl -s --max-time 10 --unix-socket "$SOCK" -G "http://localhost/v1.41/events" \
    --data-urlencode "since=$s" --data-urlencode "until=$(now)" \
    --data-urlencode 'filters={"container":{"ev1":true},"event":{"create":true}}'
  echo "$output"
  [[ "$output" == '{"status":"create","id":"'*'","from":"busybox","Type":"container","Action":"create","Actor":{"ID":"'*'","Attributes":{"evk":"evv","image":"busybox","name":"ev1"}},"scope":"local","time":'*',"timeNano":'* ]]
}

@test "events: filters type, event, container, label and image as dockerd's" {
  local s
  s=$(now)
  dk create --name evf1 --label team=a busybox true >/dev/null
  dk create --name evf2 --label team=b busybox true >/dev/null
  dk tag busybox evf:v1
  dk rm evf1 >/dev/null
  dk rm evf2 >/dev/null
  dk rmi evf:v1 >/dev/null
  run past "$s" --filter type=container --format '{{.Action}} {{.Actor.Attributes.name}}'
  echo "$output"
  [ "$(echo $output)" = "create evf1 create evf2 destroy evf1 destroy evf2" ]
  run past "$s" --filter event=destroy --format '{{.Actor.Attributes.name}}'
  [ "$(echo $output)" = "evf1 evf2" ]
  run past "$s" --filter container=evf2 --format '{{.Action}}'
  [ "$(echo $output)" = "create destroy" ]
  run past "$s" --filter label=team=a --format '{{.Action}} {{.Actor.Attributes.name}}'
  [ "$(echo $output)" = "create evf1 destroy evf1" ]
  run past "$s" --filter label=team --filter event=create --format '{{.Actor.Attributes.name}}'
  [ "$(echo $output)" = "evf1 evf2" ]
  run past "$s" --filter type=image --format '{{.Action}} {{.Actor.Attributes.name}}'
  echo "$output"
  # dockerd names the image by its id in the untag; berth knows it only when the image goes
  [ "$(echo $output)" = "tag evf:v1 untag evf:v1" ]
  run past "$s" --filter image=evf:v1 --filter event=tag --format '{{.Action}} {{.Actor.Attributes.name}}'
  [ "$(echo $output)" = "tag evf:v1" ]
}

@test "events: bad since, until before since and bad filters are 400s" {
  run api_get_status '/events?since=abc'
  [[ "$output" == "400 "*"invalid value for 'since'"* ]]
  run api_get_status '/events?since=20&until=10'
  [[ "$output" == '400 {"message":"`since` time (20) cannot be after `until` time (10)"}' ]]
  run api_get_status '/events?filters=%5B1%5D&until=1'
  [[ "$output" == "400 "* ]]
}

@test "events: a live stream delivers create, start, kill, die, stop within seconds" {
  local f=$BATS_TEST_TMPDIR/live
  timeout 60 "$DOCKER" events --filter container=evl --format '{{.Action}}' >"$f" &
  local pid=$!
  sleep 1
  dk create --name evl busybox sh -c 'trap "exit 0" TERM; sleep 100 & wait' >/dev/null
  dk start evl >/dev/null
  dk stop -t 5 evl >/dev/null
  local i
  for i in $(seq 50); do
    [ "$(grep -c . "$f")" -ge 5 ] && break
    sleep 0.1
  done
  # KILL, to the CLI and its timeout: a TERM may be blocked in the mask this
  # suite inherits (some CI runners start jobs so), and would wait 60 s
  kill -KILL $(pgrep -P "$pid") "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  cat "$f"
  [ "$(echo $(cat "$f"))" = "create start kill die stop" ]
  dk rm evl >/dev/null
}

@test "events: docker stats --no-stream without names lists the running containers" {
  dk run -d --name evs busybox sleep 100 >/dev/null
  d stats --no-stream --format '{{.Name}}'
  [ "$status" -eq 0 ]
  grep -qx evs <<<"$output"
  dk rm -f evs >/dev/null
}

@test "events: a client that reads nothing is cut off and the engine goes on" {
  local ready=$BATS_TEST_TMPDIR/slow.ready done=$BATS_TEST_TMPDIR/slow.done
  python3 - "$SOCK" "$ready" "$done" <<'PY' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b"GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
open(sys.argv[2], "w").close()
for _ in range(600):  # reads nothing until the events are all made (60 s at most)
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.1)
s.settimeout(20)
got = 0
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += len(b)
except socket.timeout:
    print("slow client: still open after %d bytes" % got)
    sys.exit(1)
print("slow client: cut after %d bytes" % got)
sys.exit(0)
PY
  local pid=$!
  local i
  for i in $(seq 50); do [ -e "$ready" ] && break; sleep 0.1; done
  local big
  # 100 KB a message (one argument stays under the kernel's 128 KiB), 5 MB in all
  big=$(head -c 100000 /dev/zero | tr '\0' x)
  for i in $(seq 25); do
    run api_post "/containers/create?name=evbig$i" "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"Labels\":{\"big\":\"$big\"}}"
    [[ "$output" == "201 "* ]] || { echo "${output:0:300}"; false; }
  done
  for i in $(seq 25); do dk rm "evbig$i" >/dev/null; done
  touch "$done"
  run api_get_status /_ping
  [ "$output" = "200 OK" ]
  local st=0
  wait "$pid" || st=$?
  [ "$st" -eq 0 ]
}
