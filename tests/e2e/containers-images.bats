#!/usr/bin/env bats
# Images that containers use: Docker's conflict rules for `rmi` and
# `image prune` (apid tells imaged which images its containers use), and a
# container's layers survive a forced untag.

load containers-file

image_id() { dk image inspect -f '{{.Id}}' "$1"; }

@test "rmi of the last tag of an image a stopped container uses needs force" {
  dk create --name used1 busybox true >/dev/null
  local cid iid
  cid=$(ctr_id used1)
  iid=$(image_id busybox)
  d rmi busybox
  [[ $status -ne 0 ]]
  [[ $output == *"conflict: unable to remove repository reference \"busybox\" (must force) - container ${cid:0:12} is using its referenced image ${iid:7:12}"* ]]
  # and by id: the stopped container is a soft conflict
  d rmi "$iid"
  [[ $status -ne 0 ]]
  [[ $output == *"conflict: unable to delete ${iid:7:12} (must be forced) - image is being used by stopped container ${cid:0:12}"* ]]
  [[ $(image_id busybox) == "$iid" ]]
}

@test "an image a running container uses cannot be removed, even forced" {
  dk run -d --name used2 berth-probe sleep 300 >/dev/null
  local cid iid
  cid=$(ctr_id used2)
  iid=$(image_id berth-probe)
  d rmi -f "$iid"
  [[ $status -ne 0 ]]
  [[ $output == *"conflict: unable to delete ${iid:7:12} (cannot be forced) - image is being used by running container ${cid:0:12}"* ]]
  [[ $(image_id berth-probe) == "$iid" ]]
  dk rm -f used2 >/dev/null
}

@test "image prune -a keeps images containers use" {
  local iid
  iid=$(image_id busybox)
  d image prune -a -f
  [[ $status -eq 0 ]]
  [[ $output != *"${iid#sha256:}"* ]]
  [[ $(image_id busybox) == "$iid" ]]
  # berth-probe is used by nobody now: prune -a deletes it
  run dk image inspect berth-probe
  [[ $status -ne 0 ]]
}

@test "a forced untag keeps the layers of a stopped container's image: it starts again" {
  local iid
  iid=$(image_id busybox)
  d rmi -f busybox
  [[ $status -eq 0 ]]
  [[ $output == *"Untagged: busybox:latest"* ]]
  [[ $output != *"Deleted:"* ]]
  # the image is still there (dangling) and the container runs from it
  [[ $(image_id "$iid") == "$iid" ]]
  d start -a used1
  [[ $status -eq 0 ]]
  [[ $(dk inspect -f '{{.State.ExitCode}}' used1) == 0 ]]
  # once the container is gone the image can go
  dk rm used1 >/dev/null
  d rmi "$iid"
  [[ $status -eq 0 ]]
  [[ $output == *"Deleted: $iid"* ]]
}
