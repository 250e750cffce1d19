#!/usr/bin/env python3
"""Deterministic container image archives from a list of tar entries.

Used by scripts/make-busybox-image.sh (the offline busybox image), by the
fixture generator of the end-to-end tests (tests/fixtures/gen-archives.py,
valid and hostile archives) and by bench/load.sh. Python standard library
only; zstd compression goes through the `zstd` binary.

Same input, same bytes: entries are sorted, every timestamp is fixed, owners
are numeric, gzip headers carry no name or time, JSON is written with sorted
keys and no spaces (as Docker and the OCI tools write it), so the image id
(the sha256 of the config) depends only on the content.

Three archive forms (what `docker load` reads):
  docker-archive, legacy:  manifest.json + repositories + <id>.json +
                           <layer>/layer.tar (Docker before 25, podman save)
  docker-archive, OCI:     Docker 25+: manifest.json + repositories +
                           index.json + oci-layout + blobs/sha256/<hex>
  oci-archive:             index.json + oci-layout + blobs/sha256/<hex>, the
                           name in the org.opencontainers.image.ref.name
                           annotation
"""

import gzip
import hashlib
import io
import json
import subprocess
import tarfile

# 2000-01-01T00:00:00Z: fixed time for fixtures (the busybox image uses the
# package's own time instead).
EPOCH = 946684800

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = {
    None: "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def rfc3339(ts):
    import datetime
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- tar entries -----------------------------------------------------------

def entry(name, kind="file", data=b"", mode=None, uid=0, gid=0, link="",
          major=0, minor=0, mtime=EPOCH, pax=None):
    """One tar entry. kind: file dir symlink hardlink char block fifo."""
    if mode is None:
        mode = {"dir": 0o755, "symlink": 0o777}.get(kind, 0o644)
    return dict(name=name, kind=kind, data=data, mode=mode, uid=uid, gid=gid,
                link=link, major=major, minor=minor, mtime=mtime, pax=pax or {})


_KIND = {
    "file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE,
}


def _tarinfo(e):
    ti = tarfile.TarInfo(e["name"])
    ti.type = _KIND[e["kind"]]
    ti.mode = e["mode"]
    ti.uid, ti.gid = e["uid"], e["gid"]
    ti.uname = ti.gname = ""
    ti.mtime = int(e["mtime"])
    ti.linkname = e["link"]
    ti.devmajor, ti.devminor = e["major"], e["minor"]
    ti.size = len(e["data"]) if e["kind"] == "file" else 0
    if e["pax"]:
        ti.pax_headers = dict(e["pax"])
    return ti


def layer_tar(entries, sort=True):
    """A layer tar (bytes). Sorted by name unless sort=False (hostile order
    matters: a symlink before the file written through it)."""
    if sort:
        entries = sorted(entries, key=lambda e: e["name"])
    buf = io.BytesIO()
    # PAX: long names and big ids are encoded the standard way.
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = _tarinfo(e)
            # addfile writes names as given: no stripping of '/' or '..'
            tf.addfile(ti, io.BytesIO(e["data"]) if ti.size else None)
    return buf.getvalue()


def compress(data, kind):
    if kind is None:
        return data
    if kind == "gzip":
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
            gz.write(data)
        return out.getvalue()
    if kind == "zstd":
        # -q: quiet, -c: stdout, --no-check is not used: keep the checksum
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, check=True,
                              stdout=subprocess.PIPE).stdout
    raise ValueError(kind)


class Layer:
    """A layer: its uncompressed tar (diff_id) and the blob as stored in the
    archive (digest, possibly compressed)."""

    def __init__(self, tar, compression=None, blob=None):
        self.tar = tar
        self.compression = compression
        self.blob = compress(tar, compression) if blob is None else blob
        self.diff_id = "sha256:" + sha256(tar)
        self.digest = "sha256:" + sha256(self.blob)
        self.media_type = MT_LAYER[compression]

    @classmethod
    def of(cls, entries, compression=None, sort=True):
        return cls(layer_tar(entries, sort=sort), compression)


def make_config(diff_ids, created=EPOCH, arch="amd64", cmd=("sh",),
                env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
                labels=None, history=None, comment="berth test image"):
    cfg = {
        "architecture": arch,
        "os": "linux",
        "created": rfc3339(created),
        "config": {"Env": list(env), "Cmd": list(cmd)},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": history if history is not None else [
            {"created": rfc3339(created), "created_by": comment} for _ in diff_ids],
    }
    if labels:
        cfg["config"]["Labels"] = dict(labels)
    return canonical_json(cfg)


class Image:
    """An image: layers, config bytes (built from the layers' diff_ids unless
    given) and the names (RepoTags) it is saved under."""

    def __init__(self, layers, repo_tags=(), config=None, **config_opts):
        self.layers = list(layers)
        self.repo_tags = list(repo_tags)
        self.config = config if config is not None else make_config(
            [l.diff_id for l in self.layers], **config_opts)

    @property
    def id(self):
        return "sha256:" + sha256(self.config)

    def oci_manifest(self):
        return canonical_json({
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": self.id, "size": len(self.config)},
            "layers": [{"mediaType": l.media_type, "digest": l.digest, "size": len(l.blob)}
                       for l in self.layers],
        })


# ---- outer archives --------------------------------------------------------

def _full_name(ref):
    """busybox:latest -> docker.io/library/busybox:latest (for annotations)."""
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name or not ("." in first or ":" in first or first == "localhost"):
        name = ("library/" + name) if "/" not in name else name
        name = "docker.io/" + name
    return name


def _split_tag(ref):
    repo, _, tag = ref.rpartition(":")
    if not repo or "/" in tag:
        return ref, "latest"
    return repo, tag


def docker_archive_members(images, layout="legacy"):
    """{member name: bytes} of a docker-archive holding `images`."""
    m = {}
    manifest = []
    repositories = {}
    index = []
    for img in images:
        if layout == "legacy":
            cfg_name = img.id[7:] + ".json"
            m[cfg_name] = img.config
            layer_names = []
            for l in img.layers:
                # Docker names the directory after a v1 id; any unique
                # name works, the diff_id hex is what podman writes.
                ln = l.diff_id[7:] + "/layer.tar"
                m[ln] = l.blob
                layer_names.append(ln)
        elif layout == "oci":
            cfg_name = "blobs/sha256/" + img.id[7:]
            m[cfg_name] = img.config
            layer_names = []
            for l in img.layers:
                ln = "blobs/sha256/" + l.digest[7:]
                m[ln] = l.blob
                layer_names.append(ln)
            man = img.oci_manifest()
            m["blobs/sha256/" + sha256(man)] = man
            desc = {"mediaType": MT_OCI_MANIFEST, "digest": "sha256:" + sha256(man), "size": len(man)}
            if img.repo_tags:
                for t in img.repo_tags:
                    d = dict(desc)
                    d["annotations"] = {"io.containerd.image.name": _full_name(t),
                                        "org.opencontainers.image.ref.name": _split_tag(t)[1]}
                    index.append(d)
            else:
                index.append(desc)
        else:
            raise ValueError(layout)
        manifest.append({"Config": cfg_name, "RepoTags": img.repo_tags or None, "Layers": layer_names})
        for t in img.repo_tags:
            repo, tag = _split_tag(t)
            if img.layers:
                top = img.layers[-1].diff_id[7:]
                repositories.setdefault(repo, {})[tag] = top
    m["manifest.json"] = canonical_json(manifest)
    if repositories:
        m["repositories"] = canonical_json(repositories)
    if layout == "oci":
        m["index.json"] = canonical_json({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": index})
        m["oci-layout"] = canonical_json({"imageLayoutVersion": "1.0.0"})
    return m


def oci_archive_members(images, ref_names=None):
    """{member: bytes} of an oci-archive (no manifest.json). ref_names[i] is
    the ref.name annotation of images[i] (None: no annotation)."""
    m = {}
    index = []
    for i, img in enumerate(images):
        m["blobs/sha256/" + img.id[7:]] = img.config
        for l in img.layers:
            m["blobs/sha256/" + l.digest[7:]] = l.blob
        man = img.oci_manifest()
        m["blobs/sha256/" + sha256(man)] = man
        desc = {"mediaType": MT_OCI_MANIFEST, "digest": "sha256:" + sha256(man), "size": len(man)}
        ref = ref_names[i] if ref_names else None
        if ref:
            desc["annotations"] = {"org.opencontainers.image.ref.name": ref}
        index.append(desc)
    m["index.json"] = canonical_json({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": index})
    m["oci-layout"] = canonical_json({"imageLayoutVersion": "1.0.0"})
    return m


def write_archive(path, members, compression=None, mtime=EPOCH, order=None):
    """Writes members ({name: bytes}) as a tar, directories included, in
    sorted order (or `order`), optionally compressed as a whole."""
    names = order if order is not None else sorted(members)
    dirs = set()
    for n in names:
        parts = n.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        done = set()
        for n in names:
            parts = n.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in done:
                    done.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                    tf.addfile(ti)
            data = members[n]
            ti = tarfile.TarInfo(n)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
            tf.addfile(ti, io.BytesIO(data))
    data = compress(buf.getvalue(), compression)
    with open(path, "wb") as f:
        f.write(data)
    return data


class StreamingArchive:
    """An outer tar written member by member straight to a file, for big
    archives (bench, crash test) that should not sit in memory twice."""

    def __init__(self, path, mtime=EPOCH):
        self.f = open(path, "wb")
        self.tf = tarfile.open(fileobj=self.f, mode="w", format=tarfile.PAX_FORMAT)
        self.mtime = mtime
        self.dirs = set()

    def add(self, name, data):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, self.mtime
                self.tf.addfile(ti)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), 0o644, self.mtime
        self.tf.addfile(ti, io.BytesIO(data))

    def close(self):
        self.tf.close()
        self.f.close()


def big_image(path, total_bytes, layers=5, tag="bigimage:latest", seed=b"berth", files_per_layer=8):
    """A docker-archive (legacy) of `layers` uncompressed layers of
    pseudo-random, incompressible data totalling about total_bytes,
    deterministic for a given seed. Returns the Image (without keeping the
    layer data)."""
    per_layer = total_bytes // layers
    per_file = max(1, per_layer // files_per_layer)
    arch = StreamingArchive(path)
    diff_ids = []
    meta = []
    for li in range(layers):
        ents = [entry("data", "dir"), entry("data/layer%d" % li, "dir")]
        for fi in range(files_per_layer):
            ents.append(entry("data/layer%d/blob%02d" % (li, fi), data=_prng(seed + b"/%d/%d" % (li, fi), per_file)))
        tar = layer_tar(ents)
        del ents
        d = "sha256:" + sha256(tar)
        diff_ids.append(d)
        arch.add(d[7:] + "/layer.tar", tar)
        meta.append(d)
        del tar
    cfg = make_config(diff_ids, comment="berth big test image")
    img_id = sha256(cfg)
    arch.add(img_id + ".json", cfg)
    repo, t = _split_tag(tag)
    arch.add("manifest.json", canonical_json([{"Config": img_id + ".json", "RepoTags": [tag],
                                               "Layers": [d[7:] + "/layer.tar" for d in diff_ids]}]))
    arch.add("repositories", canonical_json({repo: {t: diff_ids[-1][7:]}}))
    arch.close()
    return "sha256:" + img_id, diff_ids


def _prng(seed, n):
    """n deterministic pseudo-random bytes (SHAKE-256 stream: fast, and
    incompressible)."""
    return hashlib.shake_256(seed).digest(n)


# ---- busybox ---------------------------------------------------------------

def busybox_image(busybox_path, applets, mtime, arch, version, tag, extra=()):
    """The offline busybox image: /bin/busybox, one symlink per applet,
    /etc/passwd and /etc/group, /root, /tmp (1777) and the empty mount points;
    plus `extra` files, (host path, image path) pairs, mode 0755 (the e2e
    tests' berth-probe image: busybox + /probe)."""
    with open(busybox_path, "rb") as f:
        binary = f.read()
    ents = {}

    def add(e):
        ents[e["name"]] = e

    def add_dirs(path):
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in ents:
                add(entry(d, "dir", mtime=mtime))

    for d in ("bin", "dev", "etc", "home", "proc", "root", "sys", "usr", "usr/bin", "usr/sbin", "sbin", "var"):
        add(entry(d, "dir", mode=0o700 if d == "root" else 0o755, mtime=mtime))
    add(entry("tmp", "dir", mode=0o1777, mtime=mtime))
    add(entry("bin/busybox", data=binary, mode=0o755, mtime=mtime))
    for a in applets:
        a = a.strip().lstrip("/")
        if not a or a == "bin/busybox":
            continue
        add_dirs(a)
        add(entry(a, "symlink", link="/bin/busybox", mtime=mtime))
    add(entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"
                                 b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", mtime=mtime))
    add(entry("etc/group", data=b"root:x:0:\nnogroup:x:65534:\n", mtime=mtime))
    for src, dest in extra:
        with open(src, "rb") as f:
            dest = dest.strip("/")
            add_dirs(dest)
            add(entry(dest, data=f.read(), mode=0o755, mtime=mtime))
    layer = Layer.of(list(ents.values()))
    history = [{"created": rfc3339(mtime),
                "created_by": "scripts/make-busybox-image.sh (busybox-static %s)" % version}]
    return Image([layer], [tag], created=mtime, arch=arch, history=history)


def _main():
    import argparse
    p = argparse.ArgumentParser(description="deterministic image archives")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("busybox", help="the offline busybox image")
    b.add_argument("out")
    b.add_argument("--busybox", default="/bin/busybox")
    b.add_argument("--applets", required=True, help="file with `busybox --list-full` output")
    b.add_argument("--mtime", type=int, required=True)
    b.add_argument("--arch", required=True)
    b.add_argument("--version", required=True)
    b.add_argument("--tag", default="busybox:latest")
    b.add_argument("--add", action="append", default=[], metavar="SRC:DEST",
                   help="also add host file SRC as DEST (mode 0755)")
    g = sub.add_parser("big", help="a big multi-layer image of random data")
    g.add_argument("out")
    g.add_argument("--size-mb", type=int, default=200)
    g.add_argument("--layers", type=int, default=5)
    g.add_argument("--tag", default="bigimage:latest")
    a = p.parse_args()
    if a.cmd == "busybox":
        with open(a.applets) as f:
            applets = f.read().split()
        extra = [tuple(x.split(":", 1)) for x in a.add]
        img = busybox_image(a.busybox, applets, a.mtime, a.arch, a.version, a.tag, extra)
        write_archive(a.out, docker_archive_members([img], "legacy"), mtime=a.mtime)
        print(img.id)
    else:
        img_id, _ = big_image(a.out, a.size_mb * 1024 * 1024, a.layers, a.tag)
        print(img_id)


if __name__ == "__main__":
    _main()
