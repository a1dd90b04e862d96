"""A stdlib image packer for tests: layers from in-memory entries, written as a docker-archive tarball,
an OCI layout directory or an OCI layout tar, deterministically (uid 0, mtime 0, given order).

Real images come from mmdebstrap/umoci/skopeo (``tests/images/build.py``); this packer makes the small
and the hostile ones (path traversal, bombs, loops) that no real tool would write."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Entry:
    path: str
    data: bytes = b""
    type: str = "file"  # file | dir | symlink | hardlink
    mode: int = 0o644
    target: str = ""
    size: int | None = None  # a declared size other than len(data) (for crafted headers)


def layer_tar(entries: list[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e.path)
            ti.mode, ti.uid, ti.gid, ti.mtime = e.mode, 0, 0, 0
            if e.type == "dir":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            elif e.type == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e.target
                tf.addfile(ti)
            elif e.type == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e.target
                tf.addfile(ti)
            else:
                ti.size = len(e.data)
                tf.addfile(ti, io.BytesIO(e.data))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    layers: list[bytes]  # uncompressed layer tars
    config: dict[str, Any] = field(default_factory=dict)  # the "config" part (User, Env...)
    history: list[dict[str, Any]] | None = None
    tag: str = "kubefort-test/app:1"
    platform: tuple[str, str] = ("linux", "amd64")

    def config_json(self) -> bytes:
        doc = {
            "architecture": self.platform[1],
            "os": self.platform[0],
            "config": self.config,
            "rootfs": {"type": "layers", "diff_ids": [sha(x) for x in self.layers]},
            "history": self.history
            if self.history is not None
            else [{"created": "1970-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(self.layers))],
        }
        return json.dumps(doc, sort_keys=True).encode()


def _tar_add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
    tf.addfile(ti, io.BytesIO(data))


def write_docker_archive(img: Image, path: Path) -> Path:
    cfg = img.config_json()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    with tarfile.open(path, "w") as tf:
        names = []
        for layer in img.layers:
            name = hashlib.sha256(layer).hexdigest() + "/layer.tar"
            names.append(name)
            _tar_add(tf, name, layer)
        _tar_add(tf, cfg_name, cfg)
        manifest = [{"Config": cfg_name, "RepoTags": [img.tag], "Layers": names}]
        _tar_add(tf, "manifest.json", json.dumps(manifest).encode())
    return path


def _oci_blobs(img: Image, compress: bool) -> tuple[dict[str, bytes], dict[str, Any]]:
    blobs: dict[str, bytes] = {}
    descs = []
    for layer in img.layers:
        data = gzip.compress(layer, compresslevel=1, mtime=0) if compress else layer
        blobs[sha(data)] = data
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        descs.append({"mediaType": media, "digest": sha(data), "size": len(data)})
    cfg = img.config_json()
    blobs[sha(cfg)] = cfg
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(cfg), "size": len(cfg)},
            "layers": descs,
        }
    ).encode()
    blobs[sha(manifest)] = manifest
    desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(manifest),
        "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": img.tag.rsplit(":", 1)[-1]},
        "platform": {"os": img.platform[0], "architecture": img.platform[1]},
    }
    return blobs, desc


def write_oci_layout(img: Image | list[Image], path: Path, *, compress: bool = True, index: bool = False) -> Path:
    """An OCI layout directory; several images (``index``: behind one image index, one per platform)."""
    images = img if isinstance(img, list) else [img]
    path.mkdir(parents=True, exist_ok=True)
    blobs: dict[str, bytes] = {}
    descs = []
    for im in images:
        b, d = _oci_blobs(im, compress)
        blobs.update(b)
        descs.append(d)
    if index:
        inner = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs}
        ).encode()
        blobs[sha(inner)] = inner
        descs = [
            {
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "digest": sha(inner),
                "size": len(inner),
                "annotations": {"org.opencontainers.image.ref.name": images[0].tag.rsplit(":", 1)[-1]},
            }
        ]
    for digest, data in blobs.items():
        algo, hexpart = digest.split(":")
        (path / "blobs" / algo).mkdir(parents=True, exist_ok=True)
        (path / "blobs" / algo / hexpart).write_bytes(data)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": descs}))
    return path


def write_oci_tar(img: Image, path: Path, *, compress: bool = True) -> Path:
    tmp = path.with_suffix(".dir")
    write_oci_layout(img, tmp, compress=compress)
    with tarfile.open(path, "w") as tf:
        for root, _dirs, files in sorted(os.walk(tmp)):
            for f in sorted(files):
                full = Path(root) / f
                _tar_add(tf, str(full.relative_to(tmp)), full.read_bytes())
    return path
