#!/usr/bin/env bats
# attach?logs=1 replays the container's log before the live stream (as
# dockerd does), on a hijacked connection and on a plain one; and logs -f
# keeps every line still on disk across rotations that outrun it (owner:
# containers API; services/api/ctr_attach.c, ctr_logs.c). One engine for
# the file (containers-lib.bash).

load containers-file

# attach_raw PATH OUT [upgrade|plain] [SECONDS] [raw]: POST PATH on the
# engine socket, reads the response until the engine closes it (or for
# SECONDS, then hangs up); the body's stdcopy frames go to OUT.1 (stdout)
# and OUT.2 (stderr), or with `raw` (a TTY) the body itself to OUT.1.
# Prints the HTTP status. Complete frames only: a cut one is dropped.
attach_raw() {
  python3 - "$SOCK" "$@" <<'PY'
import socket, sys, time
sock, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "plain"
secs = float(sys.argv[5]) if len(sys.argv) > 5 else 0
raw = len(sys.argv) > 6 and sys.argv[6] == "raw"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock)
hdr = "Connection: Upgrade\r\nUpgrade: tcp\r\n" if mode == "upgrade" else ""
s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\n%sContent-Length: 0\r\n\r\n" % (path, hdr)).encode())
deadline = time.monotonic() + (secs if secs > 0 else 60)
data = b""
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        b = s.recv(65536)
    except socket.timeout:
        break
    if not b:
        break
    data += b
s.close()
head, _, body = data.partition(b"\r\n\r\n")
lines = head.decode("latin-1").split("\r\n")
status = lines[0].split(" ")[1] if lines and " " in lines[0] else "none"
if any(l.lower().replace(" ", "") == "transfer-encoding:chunked" for l in lines[1:]):
    plain, rest = b"", body
    while True:
        size_line, sep, rest2 = rest.partition(b"\r\n")
        if not sep:
            break
        n = int(size_line.split(b";")[0] or b"0", 16)
        if n == 0 or len(rest2) < n + 2:
            break
        plain += rest2[:n]
        rest = rest2[n + 2:]
    body = plain
streams = {1: b"", 2: b""}
if raw:
    streams[1] = body
else:
    i = 0
    while i + 8 <= len(body):
        st, n = body[i], int.from_bytes(body[i + 4:i + 8], "big")
        if i + 8 + n > len(body):
            break
        streams[st] = streams.get(st, b"") + body[i + 8:i + 8 + n]
        i += 8 + n
for k in (1, 2):
    open("%s.%d" % (out, k), "wb").write(streams[k])
print(status)
PY
}

# Lines of $1 are 1, 2, 3, ... without a gap or a repeat; at least $2 of them.
from_one() {
  awk -v min="$2" '$1 != NR { print "line " NR " is " $1; bad = 1; exit }
    END { if (NR < min) { print "only " NR " lines"; bad = 1 } exit bad }' "$1"
}

@test "attach logs=1 stream=0 on an exited container: exactly its log, plain and hijacked" {
  d run --name al1 busybox sh -c 'echo out1; echo err1 >&2; sleep 0.1; echo out2; printf "no newline"'
  [[ $status -eq 0 ]]
  for mode in plain upgrade; do
    run attach_raw '/containers/al1/attach?logs=1&stdout=1&stderr=1' "$T/al1.$mode" $mode
    echo "$mode: $output"
    [[ $output == 200 && $mode == plain || $output == 101 && $mode == upgrade ]]
    [[ $(cat "$T/al1.$mode.1") == $'out1\nout2\nno newline' ]]
    [[ $(cat "$T/al1.$mode.2") == err1 ]]
  done
  # only the streams asked for
  run attach_raw '/containers/al1/attach?logs=1&stderr=1' "$T/al1.err" upgrade
  [[ $output == 101 && ! -s $T/al1.err.1 && $(cat "$T/al1.err.2") == err1 ]]
  # neither logs nor stream: Docker's 400 (the connection stays open for
  # the next request, as HTTP/1.1 keeps it: read for 2 s, not to an EOF)
  run attach_raw '/containers/al1/attach?stdout=1' "$T/al1.none" plain 2
  [[ $output == 400 ]]
}

@test "attach logs=1 replays a log rotated into many files, oldest first" {
  d run --name al2 --log-opt max-size=4k --log-opt max-file=30 busybox seq 1 600
  [[ $status -eq 0 ]]
  run attach_raw '/containers/al2/attach?logs=1&stdout=1' "$T/al2" upgrade
  [[ $output == 101 ]]
  from_one "$T/al2.1" 600
  [[ $(wc -l <"$T/al2.1") -eq 600 ]]
}

@test "attach logs=1 with a TTY: the raw log" {
  d run -t --name al3 busybox sh -c 'echo tty-one; echo tty-two'
  [[ $status -eq 0 ]]
  run attach_raw '/containers/al3/attach?logs=1&stdout=1&stderr=1' "$T/al3" plain 0 raw
  [[ $output == 200 ]]
  [[ $(cat "$T/al3.1") == $'tty-one\r\ntty-two\r' ]]
}

@test "attach logs=1 stream=1 on an exited container: its log, then the next run (start -a after a restart)" {
  d run --name al4 busybox sh -c 'n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n >/n; echo run$n; sleep 0.5'
  [[ $status -eq 0 && $output == run1 ]]
  attach_raw '/containers/al4/attach?logs=1&stream=1&stdout=1&stderr=1' "$T/al4" upgrade 30 >"$T/al4.status" &
  local pid=$!
  sleep 1
  d start al4
  [[ $status -eq 0 ]]
  wait "$pid"
  [[ $(cat "$T/al4.status") == 101 ]]
  # the replay, then the second run's output; the response ended with that run
  [[ $(cat "$T/al4.1") == $'run1\nrun2' ]]
  d logs al4
  [[ $output == $'run1\nrun2' ]]
}

@test "attach logs=1 stream=1 to a container printing every 100 ms: no gap, no repeat at the switch" {
  d run -d --name al5 busybox sh -c 'i=0; while [ $i -lt 1000 ]; do i=$((i+1)); echo $i; sleep 0.1; done'
  [[ $status -eq 0 ]]
  ctr_wait_log al5 15
  local k mode
  for k in 1 2 3 4 5 6; do
    mode=plain
    ((k % 2)) && mode=upgrade
    run attach_raw '/containers/al5/attach?logs=1&stream=1&stdout=1&stderr=1' "$T/al5.$k" $mode 0.7
    echo "attach $k ($mode): $output, $(wc -l <"$T/al5.$k.1") lines"
    from_one "$T/al5.$k.1" 20
    sleep 0.13
  done
}

@test "attach logs=1 stream=1 to a fast writer: no gap, in order, at most a line in flight repeated" {
  # bursts of 200 lines every 10 ms; the held output of the replay's time
  # is larger than that by far, so a switch that kept it whole would repeat
  d run -d --name al6 --log-opt max-size=100m busybox sh -c 'i=0; while [ $i -lt 1000 ]; do seq $((i*200+1)) $((i*200+200)); i=$((i+1)); sleep 0.01; done'
  [[ $status -eq 0 ]]
  ctr_wait_log al6 2000
  local k
  for k in 1 2 3; do
    run attach_raw '/containers/al6/attach?logs=1&stream=1&stdout=1' "$T/al6.$k" upgrade 0.5
    [[ $output == 101 ]]
    # no gap and in order: every line is its predecessor or one more
    awk '$1 != prev + 1 && $1 != prev { print "after " prev ": " $1; bad = 1; exit } $1 == prev { rep++ } { prev = $1 }
      END { print NR " lines, " rep + 0 " repeated"; if (NR < 5000 || rep > 1) bad = 1; exit bad }' "$T/al6.$k.1"
  done
  dk rm -f al6 >/dev/null
}

@test "logs -f: many rotations before the follower re-opens lose nothing" {
  # one write of 600 lines: the monitor rotates ~10 times in it and sends one 'R'
  d run -d --name lf1 --log-opt max-size=4k --log-opt max-file=30 busybox sh -c 'sleep 1.5; seq 1 600; sleep 0.3'
  [[ $status -eq 0 ]]
  sleep 0.5
  timeout 60 "$DOCKER" logs -f lf1 >"$T/lf1.out"
  from_one "$T/lf1.out" 600
  [[ $(wc -l <"$T/lf1.out") -eq 600 ]]
}

@test "logs -f: the file being read is deleted by rotation: it is finished, then the oldest file left, nothing twice" {
  d run -d --name lf2 --log-opt max-size=4k --log-opt max-file=3 busybox sh -c 'sleep 1.5; seq 1 600; sleep 0.3'
  [[ $status -eq 0 ]]
  sleep 0.5
  timeout 60 "$DOCKER" logs -f lf2 >"$T/lf2.out"
  dk logs lf2 >"$T/lf2.disk"
  local all disk
  all=$(wc -l <"$T/lf2.out")
  disk=$(wc -l <"$T/lf2.disk")
  echo "follow: $all lines, on disk: $disk"
  # the first file (held when it was deleted) from line 1, then every file still on disk
  awk 'NR > 1 && $1 <= prev { print "not increasing after " prev; bad = 1 } { prev = $1 } END { exit bad }' "$T/lf2.out"
  [[ $(head -n 1 "$T/lf2.out") == 1 && $(tail -n 1 "$T/lf2.out") == 600 ]]
  ((disk > 100 && all > disk))
  [[ $(tail -n "$disk" "$T/lf2.out") == "$(cat "$T/lf2.disk")" ]]
}

@test "clients that hang up during the replay, and a removal during one, leave the engine well" {
  d run -d --name al7 busybox sh -c 'seq 1 200000; sleep 60'
  [[ $status -eq 0 ]]
  ctr_wait_log al7 200000 30
  local k
  for k in 1 2 3; do
    run attach_raw '/containers/al7/attach?logs=1&stream=1&stdout=1' "$T/al7.$k" upgrade 0.05
    run attach_raw '/containers/al7/attach?logs=1&stdout=1' "$T/al7.$k" plain 0.05
  done
  attach_raw '/containers/al7/attach?logs=1&stream=1&stdout=1' "$T/al7.rm" upgrade 20 >/dev/null &
  local pid=$!
  sleep 0.1
  d rm -f al7
  [[ $status -eq 0 ]]
  wait "$pid"
  d ps -a
  [[ $status -eq 0 && $output != *al7* ]]
}
