#!/usr/bin/env bats
# A real client of the API besides the docker CLI: the Docker SDK for
# Python (docker-py 5, Debian's python3-docker) runs, lists, logs, attaches,
# stops, restarts, kills, renames, waits for, prunes and removes containers
# on berth exactly as it does on dockerd, and gets dockerd's exceptions for
# bad requests. The cases are in sdk/containers_sdk.py. One engine for the
# file (containers-lib.bash); nothing may be left behind (teardown checks).

load containers-file

setup() {
  img_setup_skip
  /usr/bin/python3 -c 'import docker' 2>/dev/null ||
    skip "the Docker SDK for Python is missing (python3-docker; scripts/install-deps.sh installs it)"
}

# sdk CASE: runs one case of sdk/containers_sdk.py against this file's engine.
sdk() {
  run timeout -k 5 120 /usr/bin/python3 "$BATS_TEST_DIRNAME/sdk/containers_sdk.py" "$SOCK" "$1"
  echo "# containers_sdk.py $1: status $status"
  echo "$output" | tail -n 40
  [[ $status -eq 0 && ${lines[-1]} == ok ]]
}

@test "docker-py: containers.run prints the output; exit 3 raises ContainerError with the status and stderr" {
  sdk run_output
}

@test "docker-py: 400 quick containers.run calls in a row: no output lost (logs followed from the start)" {
  # containers.run follows the log right after the start and removes the
  # container before it reads the stream: the follower's last scan must get
  # the files before the removal deletes them (ctr_logs.c, ctr_delete.c)
  sdk run_many
}

@test "docker-py: run -d, inspect attributes, list filters, logs, stop, wait, start, restart, kill, rename, remove" {
  sdk lifecycle
}

@test "docker-py: logs(stream, follow) ends with the container; tail and timestamps" {
  sdk logs_stream
}

@test "docker-py: attach(stream) before start gets stdout and stderr" {
  sdk attach_stream
}

@test "docker-py: ImageNotFound, a 409 name conflict, a 400 for --cpus with --cpu-quota, NotFound" {
  sdk errors
}

@test "docker-py: wait(condition=not-running), containers.prune removes the stopped one only" {
  sdk wait_prune
}

@test "docker-py: images.get and images.list, version, ping" {
  sdk images
}
