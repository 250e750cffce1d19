#!/usr/bin/env bats
# kill -9 of each service (apid, imaged, netd) and of the executor while a
# container runs `sleep`: the container keeps running (same host pid, same
# start time), and after the restart the stock docker CLI sees it running,
# reads its logs, stops it, gets its exit code from wait, and removes it
# without a trace. The executor is restarted the way the helpers start it
# (systemd-socket-activate, same DATA_ROOT and RUN_ROOT).

load containers-file

# Starts container $1 running `echo started; sleep 1000` and waits for its
# log line; sets CID, CPID (host pid) and CSTART (its start time).
start_sleeper() {
  d run -d --name "$1" busybox sh -c 'echo started; sleep 1000'
  [[ $status -eq 0 ]]
  CID=$(ctr_id "$1")
  CPID=$(ctr_pid "$1")
  [[ $CPID -gt 1 ]]
  CSTART=$(proc_starttime "$CPID")
  ctr_wait_log "$1" started
  [[ $(dk inspect -f '{{.State.Status}}' "$1") == running ]]
}

# Waits until service $1 runs with a pid other than $2 and the API answers
# for containers.
wait_service_back() {
  local name=$1 old=$2 deadline=$((SECONDS + 20)) new
  while ((SECONDS < deadline)); do
    new=$(e2e_svc_pid "$name" || true)
    if [[ -n $new && $new != "$old" ]] && e2e_wait_services 1 &&
      [[ $(api_status '/containers/json?all=1') == 200 ]]; then
      echo "$name: $old -> $new"
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not come back (old pid $old, now ${new:-none})"
  e2e_show_log
  return 1
}

# After the kill and the restart: the container is the same process, docker
# sees it running with its logs, stop/wait report 137, rm leaves nothing.
check_survived() {
  local name=$1
  kill -0 "$CPID" || { echo "container process $CPID is gone"; false; }
  [[ $(proc_starttime "$CPID") == "$CSTART" ]] || { echo "pid $CPID was reused"; false; }
  # the API recovered it, possibly a moment after the restart
  local deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    [[ $(dk inspect -f '{{.State.Status}}' "$name" 2>/dev/null) == running ]] && break
    sleep 0.2
  done
  d ps --no-trunc --filter "name=$name" --format '{{.ID}} {{.Names}} {{.State}} {{.Status}}'
  [[ $status -eq 0 ]]
  grep -Eq "^$CID $name running Up " <<<"$output"
  [[ $(dk inspect -f '{{.State.Pid}}' "$name") == "$CPID" ]]
  [[ $(dk inspect -f '{{.State.Running}}' "$name") == true ]]
  d logs "$name"
  [[ $status -eq 0 && $output == started ]]
  # a waiter on the running container gets the exit code of the stop
  (timeout 60 "$DOCKER" wait "$name" >"$T/wait.$name" 2>&1; echo $? >"$T/wait.$name.rc") 3>&- &
  sleep 0.5
  # sh as pid 1 ignores SIGTERM: killed after the 1 s timeout
  d stop -t 1 "$name"
  [[ $status -eq 0 && $output == "$name" ]]
  local i
  for i in $(seq 100); do [[ -e $T/wait.$name.rc ]] && break; sleep 0.1; done
  echo "background wait: $(cat "$T/wait.$name" 2>/dev/null) rc $(cat "$T/wait.$name.rc" 2>/dev/null)"
  [[ $(cat "$T/wait.$name.rc") == 0 && $(cat "$T/wait.$name") == 137 ]]
  d wait "$name"
  [[ $status -eq 0 && $output == 137 ]]
  [[ $(dk inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$name") == "exited 137" ]]
  not kill -0 "$CPID" 2>/dev/null
  d rm "$name"
  [[ $status -eq 0 ]]
  ctr_assert_gone "$CID"
}

@test "kill -9 of berth-apid: the container keeps running; ps, logs, stop, wait, rm work after the restart" {
  start_sleeper s-apid
  local old
  old=$(e2e_svc_pid berth-apid)
  kill -KILL "$old"
  wait_service_back berth-apid "$old"
  check_survived s-apid
}

@test "kill -9 of berth-imaged: the container keeps running; ps, logs, stop, wait, rm work after the restart" {
  start_sleeper s-imaged
  local old
  old=$(e2e_svc_pid berth-imaged)
  kill -KILL "$old"
  wait_service_back berth-imaged "$old"
  # imaged answers too
  [[ $(api_status /images/json) == 200 ]]
  check_survived s-imaged
}

@test "kill -9 of berth-netd: the container keeps running; ps, logs, stop, wait, rm work after the restart" {
  start_sleeper s-netd
  local old
  old=$(e2e_svc_pid berth-netd)
  kill -KILL "$old"
  wait_service_back berth-netd "$old"
  check_survived s-netd
}

@test "kill -9 of berth-apid twice with two containers running: both recovered" {
  start_sleeper s-two-a
  local a_id=$CID a_pid=$CPID a_start=$CSTART
  start_sleeper s-two-b
  local old
  for _ in 1 2; do
    old=$(e2e_svc_pid berth-apid)
    kill -KILL "$old"
    wait_service_back berth-apid "$old"
  done
  check_survived s-two-b
  CID=$a_id CPID=$a_pid CSTART=$a_start
  check_survived s-two-a
}

@test "kill -9 of berth-execd: the container keeps running; after the engine restarts ps, logs, stop, wait, rm work" {
  start_sleeper s-execd
  local mon
  mon=$(ctr_monitor_pids)
  echo "monitor: ${mon:-none}"
  [[ -n $mon ]]
  local svcs=() s
  for s in berth-apid berth-imaged berth-netd; do svcs+=("$(e2e_svc_pid "$s")"); done
  kill -KILL "$EXECD_PID"
  local i
  for i in $(seq 100); do [[ -e $T/execd.rc ]] && break; sleep 0.1; done
  [[ -e $T/execd.rc ]] || { echo "no exit status of the killed execd"; false; }
  # the services of the dead executor go away with it (they would hold the
  # store and the API socket otherwise)
  local deadline=$((SECONDS + 10)) left=
  while ((SECONDS < deadline)); do
    left=
    for s in "${svcs[@]}"; do kill -0 "$s" 2>/dev/null && left+=" $s"; done
    [[ -z $left ]] && break
    sleep 0.1
  done
  [[ -z $left ]] || { echo "services of the killed executor still alive:$left"; ps -o pid,ppid,cmd -p "${left# }"; kill -KILL $left; false; }
  # the container and its monitor did not notice
  kill -0 "$CPID"
  [[ $(proc_starttime "$CPID") == "$CSTART" ]]
  kill -0 "$mon"
  # the engine again, as setup started it, on the same roots
  ctr_restart_engine
  check_survived s-execd
  # the monitor exited with its container (it may take a moment to finish
  # after the exit record; a zombie waiting for init counts as gone)
  local deadline=$((SECONDS + 5))
  while ((SECONDS < deadline)) && [[ -e /proc/$mon && $(proc_status "$mon" State) != Z* ]]; do sleep 0.1; done
  [[ ! -e /proc/$mon || $(proc_status "$mon" State) == Z* ]] || { echo "monitor $mon still running"; false; }
}
