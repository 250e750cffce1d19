#!/usr/bin/python3
"""Cases for tests/e2e/sdk-containers.bats: the Docker SDK for Python
(docker-py, Debian's python3-docker) driving a berth engine as it would
drive dockerd. Usage: containers_sdk.py SOCKET CASE. Exits 0 when the case
holds; otherwise prints what differed and exits 1. Run with Debian's
/usr/bin/python3 (the SDK is installed for it)."""
import sys
import time

import docker
import docker.errors


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def client(sock):
    # version pinned to the API berth speaks (docker-py 5 pins 1.41 too)
    return docker.DockerClient(base_url="unix://" + sock, version="1.41", timeout=60)


def gone(c, name):
    try:
        c.containers.get(name)
    except docker.errors.NotFound:
        return True
    return False


def case_run_output(c):
    out = c.containers.run("busybox", ["echo", "hello"], remove=True)
    check(out == b"hello\n", "run output %r" % out)
    out = c.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2"], stdout=True, stderr=True,
                           remove=True)
    check(b"out\n" in out and b"err\n" in out, "stdout and stderr %r" % out)
    try:
        c.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 3"], name="sdk-exit3", remove=True)
        check(False, "exit 3 raised nothing")
    except docker.errors.ContainerError as e:
        check(e.exit_status == 3, "exit status %r" % e.exit_status)
        check(b"oops" in (e.stderr or b""), "stderr in the error %r" % e.stderr)
    # docker-py removes it itself after the logs (remove=True is not AutoRemove)
    check(gone(c, "sdk-exit3"), "sdk-exit3 left behind")


def case_run_many(c):
    # containers.run follows the logs right after the start: a container that
    # is done before the first look at its log must lose nothing (a race
    # berth had: about 1 run in 150 came back empty; 400 runs catch it 9 times in 10)
    bad = []
    for i in range(400):
        out = c.containers.run("busybox", ["sh", "-c", "echo out%d; echo err%d >&2" % (i, i)], stdout=True,
                               stderr=True, remove=True)
        if out.split() != [b"out%d" % i, b"err%d" % i] and sorted(out.split()) != [b"err%d" % i, b"out%d" % i]:
            bad.append((i, out))
    check(not bad, "%d of 400 runs lost output: %r" % (len(bad), bad[:5]))


def case_lifecycle(c):
    ctr = c.containers.run("busybox", ["sh", "-c", "echo started; exec sleep 1000"], detach=True,
                           name="sdk-life", labels={"sdk.test": "life"}, environment={"FOO": "bar"},
                           hostname="sdkhost", working_dir="/tmp", mem_limit="64m")
    ctr.reload()
    check(ctr.status == "running", "status %s" % ctr.status)
    check(ctr.name == "sdk-life", "name %s" % ctr.name)
    check(ctr.labels.get("sdk.test") == "life", "labels %r" % ctr.labels)
    a = ctr.attrs
    for k in ("Id", "Created", "Path", "Args", "State", "Image", "Name", "HostConfig", "Config",
              "NetworkSettings", "Mounts", "RestartCount"):
        check(k in a, "inspect lacks %s" % k)
    check(a["State"]["Running"] and a["State"]["Pid"] > 0, "State %r" % a["State"])
    check("FOO=bar" in a["Config"]["Env"], "Env %r" % a["Config"]["Env"])
    check(a["Config"]["Hostname"] == "sdkhost" and a["Config"]["WorkingDir"] == "/tmp", "Config %r" % a["Config"])
    check(a["HostConfig"]["Memory"] == 64 * 1024 * 1024, "Memory %r" % a["HostConfig"]["Memory"])
    check(ctr.image.tags and "busybox:latest" in ctr.image.tags, "image %r" % ctr.image.tags)
    listed = c.containers.list(filters={"label": "sdk.test=life"})
    check([x.id for x in listed] == [ctr.id], "list by label %r" % listed)
    check(ctr.id in [x.id for x in c.containers.list(filters={"name": "sdk-life", "status": "running"})],
          "list by name and status")
    deadline = time.time() + 10
    while b"started" not in ctr.logs() and time.time() < deadline:
        time.sleep(0.1)
    check(ctr.logs() == b"started\n", "logs %r" % ctr.logs())
    ctr.stop(timeout=1)
    res = ctr.wait(timeout=30)
    check(res["StatusCode"] in (137, 143), "wait after stop %r" % res)
    ctr.reload()
    check(ctr.status == "exited", "after stop %s" % ctr.status)
    ctr.start()
    ctr.restart(timeout=0)
    ctr.reload()
    check(ctr.status == "running" and ctr.attrs["RestartCount"] >= 0, "after restart %s" % ctr.status)
    ctr.kill(signal="SIGKILL")
    check(ctr.wait(timeout=30)["StatusCode"] == 137, "wait after kill")
    ctr.rename("sdk-life2")
    ctr.reload()
    check(ctr.name == "sdk-life2", "rename %s" % ctr.name)
    ctr.remove()
    check(gone(c, "sdk-life2"), "removed")


def case_logs_stream(c):
    ctr = c.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"], detach=True,
                           name="sdk-logs")
    got = b"".join(ctr.logs(stream=True, follow=True))
    check(got == b"1\n2\n3\n", "followed logs %r" % got)
    check(ctr.wait(timeout=30)["StatusCode"] == 0, "exit 0")
    check(ctr.logs(tail=1) == b"3\n", "tail 1 %r" % ctr.logs(tail=1))
    ts = ctr.logs(timestamps=True).decode().splitlines()
    check(len(ts) == 3 and all(l.split(" ", 1)[0].endswith("Z") for l in ts), "timestamps %r" % ts)
    ctr.remove()


def case_attach_stream(c):
    ctr = c.containers.create("busybox", ["sh", "-c", "sleep 0.3; echo one; echo two >&2"], name="sdk-attach")
    stream = ctr.attach(stdout=True, stderr=True, stream=True)
    ctr.start()
    got = b"".join(stream)
    check(b"one\n" in got and b"two\n" in got, "attached output %r" % got)
    check(ctr.wait(timeout=30)["StatusCode"] == 0, "exit 0")
    ctr.remove()


def case_errors(c):
    try:
        c.containers.create("berth-no-such-image:latest", ["true"])
        check(False, "unknown image accepted")
    except docker.errors.ImageNotFound as e:
        check(e.status_code == 404, "status %r" % e.status_code)
    ctr = c.containers.create("busybox", ["true"], name="sdk-dup")
    try:
        c.containers.create("busybox", ["true"], name="sdk-dup")
        check(False, "name conflict accepted")
    except docker.errors.APIError as e:
        check(e.status_code == 409 and "already in use" in str(e.explanation), "conflict %r" % e)
    try:
        c.containers.create("busybox", ["true"], nano_cpus=500000000, cpu_quota=50000)
        check(False, "--cpus with --cpu-quota accepted")
    except docker.errors.APIError as e:
        check(e.status_code == 400, "conflicting cpu options: %r" % e)
    try:
        c.containers.get("sdk-no-such-container")
        check(False, "missing container found")
    except docker.errors.NotFound:
        pass
    ctr.remove()
    check(not c.containers.list(all=True, filters={"name": "sdk-dup"}), "sdk-dup left")


def case_wait_prune(c):
    ctr = c.containers.run("busybox", ["sh", "-c", "sleep 0.3; exit 5"], detach=True, name="sdk-wait")
    check(ctr.wait(timeout=30, condition="not-running")["StatusCode"] == 5, "wait not-running")
    keep = c.containers.run("busybox", ["sleep", "1000"], detach=True, name="sdk-keep")
    res = c.containers.prune()
    check(ctr.id in (res.get("ContainersDeleted") or []), "prune %r" % res)
    check(keep.id not in (res.get("ContainersDeleted") or []), "prune removed a running one")
    check("SpaceReclaimed" in res, "prune reply %r" % res)
    keep.remove(force=True)
    check(gone(c, "sdk-keep") and gone(c, "sdk-wait"), "left behind")


def case_images(c):
    img = c.images.get("busybox")
    check("busybox:latest" in img.tags, "tags %r" % img.tags)
    check(img.id.startswith("sha256:"), "id %s" % img.id)
    check(any(i.id == img.id for i in c.images.list()), "images.list")
    check(c.version().get("ApiVersion"), "version %r" % c.version())
    check(c.ping() is True, "ping")


CASES = {name[5:]: f for name, f in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in CASES:
        print("usage: containers_sdk.py SOCKET {%s}" % "|".join(CASES), file=sys.stderr)
        sys.exit(2)
    try:
        CASES[sys.argv[2]](client(sys.argv[1]))
    except AssertionError as e:
        print("not as with dockerd: %s" % e)
        sys.exit(1)
    print("ok")
