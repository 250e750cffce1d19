#!/usr/bin/env bats
# Restart policies (docker run --restart), as dockerd applies them, driven by
# the stock docker CLI: on-failure[:N] counts and stops, always restarts a
# container that exits by itself, stop/kill/rm -f cancel (a pending restart
# too, at once), and berth-apid's restart (kill -9: the engine's restart)
# starts always containers, not unless-stopped ones a user stopped, and
# leaves running ones alone. Timings are generous (2-core CI machines).

load containers-file

# Waits until `docker inspect -f FORMAT $1` prints $3 (up to $4 s, default 30).
wait_inspect() {
  local name=$1 fmt=$2 want=$3 deadline=$((SECONDS + ${4:-30})) got=
  while ((SECONDS < deadline)); do
    got=$(dk inspect -f "$fmt" "$name" 2>/dev/null || true)
    [[ $got == "$want" ]] && return 0
    sleep 0.1
  done
  echo "docker inspect -f '$fmt' $name: '$got', wanted '$want'"
  return 1
}

# Waits until $1 waits for a restart (State.Restarting) after at least $2
# restarts: the backoff has grown to a window tests can act in.
wait_restarting() {
  local name=$1 min=$2 deadline=$((SECONDS + 60)) got=
  while ((SECONDS < deadline)); do
    got=$(dk inspect -f '{{.State.Restarting}} {{.RestartCount}}' "$name" 2>/dev/null || true)
    if [[ $got == true\ * ]] && ((${got#true } >= min)); then
      echo "$name: restarting after ${got#true } restarts"
      return 0
    fi
    sleep 0.05
  done
  echo "$name never waited for a restart after $min restarts: '$got'"
  return 1
}

# Kills berth-apid (-9) and waits until its successor answers for containers.
kill_apid() {
  local old new deadline=$((SECONDS + 30))
  old=$(e2e_svc_pid berth-apid)
  kill -KILL "$old"
  while ((SECONDS < deadline)); do
    new=$(e2e_svc_pid berth-apid || true)
    if [[ -n $new && $new != "$old" ]] && [[ $(api_status '/containers/json?all=1') == 200 ]]; then
      echo "berth-apid: $old -> $new"
      return 0
    fi
    sleep 0.1
  done
  echo "berth-apid did not come back"
  e2e_show_log
  return 1
}

# A container that exits with 5 on its first run and sleeps on the next ones
# (its root filesystem, and so /once, outlives the restart).
ONCE='if [ -e /once ]; then echo again; exec sleep 1000; fi; touch /once; echo first; exit 5'

@test "on-failure:2 with exit 3: restarted twice, then exited 3 with RestartCount 2" {
  d run -d --name r-fail2 --restart on-failure:2 busybox sh -c 'echo ran; exit 3'
  [[ $status -eq 0 ]]
  wait_inspect r-fail2 '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}' 'exited 2 3'
  # and it stays so: no third restart
  sleep 3
  [[ $(dk inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.Restarting}}' r-fail2) == 'exited 2 false' ]]
  d wait r-fail2
  [[ $status -eq 0 && $output == 3 ]]
}

@test "on-failure with exit 0: not restarted" {
  d run -d --name r-ok --restart on-failure busybox true
  [[ $status -eq 0 ]]
  wait_inspect r-ok '{{.State.Status}} {{.State.ExitCode}}' 'exited 0'
  sleep 2
  [[ $(dk inspect -f '{{.State.Status}} {{.RestartCount}}' r-ok) == 'exited 0' ]]
}

@test "always: a container that exits by itself runs again; docker stop keeps it stopped" {
  d run -d --name r-always --restart always busybox sh -c "$ONCE"
  [[ $status -eq 0 ]]
  wait_inspect r-always '{{.State.Status}} {{.RestartCount}}' 'running 1'
  ctr_wait_log r-always again
  d ps --filter name=r-always --format '{{.State}} {{.Status}}'
  [[ $status -eq 0 && $output == 'running Up '* ]]
  d stop -t 1 r-always
  [[ $status -eq 0 ]]
  sleep 3
  [[ $(dk inspect -f '{{.State.Status}} {{.RestartCount}} {{.State.Restarting}}' r-always) == 'exited 1 false' ]]
}

@test "kill -9 of berth-apid: a stopped always container is started, a stopped unless-stopped one is not" {
  d run -d --name r-us --restart unless-stopped busybox sleep 1000
  [[ $status -eq 0 ]]
  d run -d --name r-al --restart always busybox sleep 1000
  [[ $status -eq 0 ]]
  wait_inspect r-us '{{.State.Status}}' running
  wait_inspect r-al '{{.State.Status}}' running
  d stop -t 1 r-us r-al
  [[ $status -eq 0 ]]
  sleep 2
  [[ $(dk inspect -f '{{.State.Status}}' r-us) == exited ]]
  [[ $(dk inspect -f '{{.State.Status}}' r-al) == exited ]]
  kill_apid
  # dockerd's restore: always is started again (an explicit start: RestartCount 0)
  wait_inspect r-al '{{.State.Status}} {{.RestartCount}}' 'running 0' 30
  [[ $(dk inspect -f '{{.State.Pid}}' r-al) -gt 1 ]]
  sleep 2
  [[ $(dk inspect -f '{{.State.Status}} {{.State.Restarting}}' r-us) == 'exited false' ]]
  # a user's start clears "stopped by hand": the next apid restart leaves it running
  d start r-us
  [[ $status -eq 0 ]]
  wait_inspect r-us '{{.State.Status}}' running
}

@test "kill -9 of berth-apid while an always container runs: the same process runs on, no extra restart" {
  d run -d --name r-live --restart always busybox sleep 1000
  [[ $status -eq 0 ]]
  wait_inspect r-live '{{.State.Status}}' running
  local pid start
  pid=$(ctr_pid r-live)
  start=$(proc_starttime "$pid")
  kill_apid
  sleep 2
  wait_inspect r-live '{{.State.Status}} {{.State.Pid}} {{.RestartCount}}' "running $pid 0"
  [[ $(proc_starttime "$pid") == "$start" ]]
}

@test "an exit while waiting for a restart: ps shows Restarting, rm refuses, stop cancels at once" {
  d run -d --name r-loop --restart always busybox sh -c 'exit 1'
  [[ $status -eq 0 ]]
  wait_restarting r-loop 5
  d inspect -f '{{.State.Status}} {{.State.Running}} {{.State.Restarting}} {{.State.Pid}} {{.State.ExitCode}}' r-loop
  [[ $output == 'restarting true true 0 1' ]]
  d ps --filter name=r-loop --format '{{.State}}|{{.Status}}'
  [[ $status -eq 0 && $output =~ ^restarting\|Restarting\ \(1\)\  ]]
  d rm r-loop
  [[ $status -ne 0 && $output == *"You cannot remove a restarting container"* ]]
  local t0=$SECONDS
  d stop r-loop
  [[ $status -eq 0 && $output == r-loop ]]
  ((SECONDS - t0 <= 5))
  local count
  count=$(dk inspect -f '{{.RestartCount}}' r-loop)
  [[ $(dk inspect -f '{{.State.Status}} {{.State.Restarting}}' r-loop) == 'exited false' ]]
  sleep 4
  [[ $(dk inspect -f '{{.State.Status}} {{.RestartCount}}' r-loop) == "exited $count" ]]
}

@test "docker wait on a container waiting for a restart lasts to its next stop; stop answers it" {
  # dockerd counts the backoff as running: a wait then returns at the next
  # exit, or when a stop cancels the restart (it returned at once before)
  local out=$BATS_TEST_TMPDIR/wait.out pid
  d run -d --name r-wait --restart always busybox sh -c 'exit 6'
  [[ $status -eq 0 ]]
  wait_restarting r-wait 5   # backoff now >= 1.6 s
  dk wait r-wait >"$out" 2>&1 3>&- &
  pid=$!
  sleep 0.4
  cat "$out"
  [[ ! -s $out ]]
  d stop r-wait
  [[ $status -eq 0 ]]
  wait "$pid"
  [[ $(cat "$out") == 6 ]]
  d rm r-wait
  [[ $status -eq 0 ]]
}

@test "rm -f while waiting for a restart: removed, never started again" {
  d run -d --name r-rmf --restart on-failure busybox sh -c 'exit 7'
  [[ $status -eq 0 ]]
  local id
  id=$(ctr_id r-rmf)
  wait_restarting r-rmf 5
  d rm -f r-rmf
  [[ $status -eq 0 && $output == r-rmf ]]
  sleep 3
  d ps -a --no-trunc --filter "id=$id" -q
  [[ $status -eq 0 && -z $output ]]
  ctr_assert_gone "$id"
}

@test "--rm with --restart: dockerd's 400; the CLIs refuse it themselves" {
  run api_post /containers/create '{"Image":"busybox","Cmd":["true"],"HostConfig":{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}}'
  echo "$output"
  [[ $output == "400 {\"message\":\"can't create 'AutoRemove' container with restart policy\"}" ]]
  d run --rm --restart always busybox true
  [[ $status -eq 125 && $output == *"conflicting options: cannot specify both --restart and --rm"* ]]
  run timeout 30 env BERTH_HOST=unix://$SOCK "$BERTH_CLI" run --rm --restart unless-stopped busybox true
  echo "$output"
  [[ $status -eq 125 && $output == *"conflicting options: cannot specify both --restart and --rm"* ]]
}

@test "inspect shows HostConfig.RestartPolicy as given; bad policies are dockerd's 400s" {
  d create --name r-insp --restart on-failure:5 busybox true
  [[ $status -eq 0 ]]
  [[ $(dk inspect -f '{{json .HostConfig.RestartPolicy}}' r-insp) == '{"Name":"on-failure","MaximumRetryCount":5}' ]]
  [[ $(dk inspect -f '{{.State.Restarting}} {{.RestartCount}}' r-insp) == 'false 0' ]]
  d create --name r-insp2 --restart unless-stopped busybox true
  [[ $status -eq 0 ]]
  [[ $(dk inspect -f '{{json .HostConfig.RestartPolicy}}' r-insp2) == '{"Name":"unless-stopped","MaximumRetryCount":0}' ]]
  d create --restart always:3 busybox true
  [[ $status -ne 0 && $output == *"invalid restart policy: maximum retry count can only be used with 'on-failure'"* ]]
  d create --restart on-failure:-1 busybox true
  [[ $status -ne 0 && $output == *"invalid restart policy: maximum retry count cannot be negative"* ]]
  d create --restart sometimes busybox true
  [[ $status -ne 0 && $output == *"invalid restart policy: unknown policy 'sometimes'"* ]]
  # berth's own CLI sends the same body
  run timeout 30 env BERTH_HOST=unix://$SOCK "$BERTH_CLI" create --name r-insp3 --restart on-failure:2 busybox true
  echo "$output"
  [[ $status -eq 0 ]]
  [[ $(dk inspect -f '{{json .HostConfig.RestartPolicy}}' r-insp3) == '{"Name":"on-failure","MaximumRetryCount":2}' ]]
}
