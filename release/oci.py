#!/usr/bin/env python3
"""Writes a multi-arch FROM scratch OCI image layout without a container
engine: one gzip layer per architecture with the static binary, its drop-in
paths and the CA bundle, an image config, a manifest per platform and an
image index, all content-addressed under blobs/sha256.

The images are the ones the Dockerfile builds with Docker (same root, user,
entrypoint and ports); tests/tests/it/release.rs parses the Dockerfile and
compares it with `IMAGES` below and with a written layout's configs, so the
two cannot drift apart.

Everything is deterministic: mtimes are SOURCE_DATE_EPOCH (the release
command passes the commit time), owners are 0, gzip carries no name or
time, JSON is sorted. The same binaries give the same digests.

Usage:
  oci.py write NAME OUT_DIR TAG ARCH=BINARY...   (ARCH: amd64, arm64)
  oci.py config NAME ARCH                        print the image config
  oci.py spec NAME                               print what the image holds
"""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# What each image holds besides its binary, as the Dockerfile declares it.
IMAGES = {
    "grpc-probe": {
        "binary": "/grpc-probe",
        # The paths users of grpc_health_probe's images copy the binary
        # from: its Dockerfile's /bin/grpc_health_probe, and ko's.
        "links": ["/bin/grpc_health_probe", "/ko-app/grpc-health-probe"],
        "files": {},
        "user": "65534:65534",
        "entrypoint": ["/grpc-probe"],
        "ports": [],
    },
    "grpc-exporter": {
        "binary": "/grpc-exporter",
        "links": [],
        "files": {
            "/etc/grpc-exporter/config.yml": b"modules:\n  grpc:\n    prober: grpc\n    grpc: {}\n",
        },
        "user": "65534:65534",
        "entrypoint": ["/grpc-exporter", "--config.file=/etc/grpc-exporter/config.yml"],
        "ports": ["9913/tcp"],
    },
}

PLATFORMS = {
    "amd64": {"architecture": "amd64", "os": "linux"},
    "arm64": {"architecture": "arm64", "os": "linux", "variant": "v8"},
}


def epoch():
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def created():
    import datetime
    return datetime.datetime.fromtimestamp(epoch(), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def config(name, arch, diff_id=None, tag=None):
    image = IMAGES[name]
    body = {"User": image["user"], "Entrypoint": image["entrypoint"]}
    if image["ports"]:
        body["ExposedPorts"] = {port: {} for port in image["ports"]}
    labels = {"org.opencontainers.image.title": name}
    if tag:
        labels["org.opencontainers.image.version"] = tag
    body["Labels"] = labels
    doc = dict(PLATFORMS[arch])
    doc["created"] = created()
    doc["config"] = body
    doc["rootfs"] = {"type": "layers", "diff_ids": [diff_id] if diff_id else []}
    doc["history"] = [{"created": created(), "created_by": "release/oci.py"}]
    return doc


def layer(name, binary_path, ca_bundle):
    image = IMAGES[name]
    out = io.BytesIO()
    dirs = set()
    paths = [image["binary"], CA_BUNDLE, *image["links"], *image["files"]]
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            dirs.add(parent)
            parent = os.path.dirname(parent)

    def info(path, kind, mode, size=0, target=None):
        entry = tarfile.TarInfo(path.lstrip("/"))
        entry.type, entry.mode, entry.size = kind, mode, size
        entry.mtime, entry.uid, entry.gid = epoch(), 0, 0
        entry.uname = entry.gname = ""
        if target:
            entry.linkname = target
        return entry

    entries = []
    for d in dirs:
        entries.append((d, info(d, tarfile.DIRTYPE, 0o755), None))
    with open(binary_path, "rb") as f:
        binary = f.read()
    entries.append((image["binary"], info(image["binary"], tarfile.REGTYPE, 0o755, len(binary)), binary))
    with open(ca_bundle, "rb") as f:
        bundle = f.read()
    entries.append((CA_BUNDLE, info(CA_BUNDLE, tarfile.REGTYPE, 0o644, len(bundle)), bundle))
    for path, content in image["files"].items():
        entries.append((path, info(path, tarfile.REGTYPE, 0o644, len(content)), content))
    for link in image["links"]:
        entries.append((link, info(link, tarfile.SYMTYPE, 0o777, target=image["binary"]), None))
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for _, entry, content in sorted(entries, key=lambda e: e[0]):
            tar.addfile(entry, io.BytesIO(content) if content is not None else None)
    raw = out.getvalue()
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw)
    return raw, packed.getvalue()


def put(out_dir, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out_dir, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return f"sha256:{digest}", len(data)


def dumps(doc):
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def write(name, out_dir, tag, arches, ca_bundle):
    os.makedirs(os.path.join(out_dir, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for arch, binary in arches:
        raw, packed = layer(name, binary, ca_bundle)
        diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        layer_digest, layer_size = put(out_dir, packed)
        config_digest, config_size = put(out_dir, dumps(config(name, arch, diff_id, tag)))
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": layer_size}],
        }
        digest, size = put(out_dir, dumps(manifest))
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": digest, "size": size, "platform": PLATFORMS[arch]})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": manifests}
    digest, size = put(out_dir, dumps(index))
    top = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                          "digest": digest, "size": size,
                          "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(out_dir, "index.json"), "wb") as f:
        f.write(dumps(top))
    with open(os.path.join(out_dir, "oci-layout"), "wb") as f:
        f.write(dumps({"imageLayoutVersion": "1.0.0"}))


def main(argv):
    if len(argv) >= 6 and argv[1] == "write" and argv[2] in IMAGES:
        arches = []
        for spec in argv[5:]:
            arch, _, binary = spec.partition("=")
            if arch not in PLATFORMS or not binary:
                raise ValueError(f"bad ARCH=BINARY: {spec!r}")
            arches.append((arch, binary))
        write(argv[2], argv[3], argv[4], arches, os.environ.get("CA_BUNDLE", CA_BUNDLE))
        return 0
    if len(argv) == 3 and argv[1] == "spec" and argv[2] in IMAGES:
        image = dict(IMAGES[argv[2]])
        image["files"] = {k: v.decode() for k, v in image["files"].items()}
        image["ca_bundle"] = CA_BUNDLE
        image["platforms"] = sorted(PLATFORMS)
        sys.stdout.write(json.dumps(image, indent=2, sort_keys=True) + "\n")
        return 0
    if len(argv) == 4 and argv[1] == "config" and argv[2] in IMAGES and argv[3] in PLATFORMS:
        sys.stdout.write(json.dumps(config(argv[2], argv[3]), indent=2, sort_keys=True) + "\n")
        return 0
    print("usage: oci.py write NAME OUT_DIR TAG ARCH=BINARY... | oci.py config NAME ARCH",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except (OSError, ValueError) as e:
        print(f"oci.py: {e}", file=sys.stderr)
        sys.exit(1)
