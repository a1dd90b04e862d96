"""A local directory of saved images (``--image-cache DIR``): ``docker save`` tarballs, OCI archives
and OCI layout directories, found by the references they are tagged with, so that ``kubefort scan
--images`` can judge the images of workloads without a registry (an air-gapped CI, a mirror)."""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import dataclass, field

from ...model.images import parse_image


def _key(ref: str) -> str:
    """``docker.io/library/nginx:1.25`` for ``nginx:1.25``: references compare normalised."""
    r = parse_image(ref)
    tail = f":{r.tag}" if r.tag else ""
    tail += f"@{r.digest}" if r.digest else ""
    if not r.tag and not r.digest:
        tail = ":latest"
    return f"{r.registry}/{r.repository}{tail}"


@dataclass(slots=True)
class ImageCache:
    """The images of a directory, by normalised reference -> the argument ``open_image`` takes."""

    root: str
    index: dict[str, str] = field(default_factory=dict)

    @classmethod
    def scan(cls, root: str) -> ImageCache:
        cache = cls(root)
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            try:
                if os.path.isdir(path) and os.path.isfile(os.path.join(path, "index.json")):
                    with open(os.path.join(path, "index.json"), encoding="utf-8") as fh:
                        cache._add_oci(json.load(fh), path)
                elif os.path.isfile(path) and tarfile.is_tarfile(path):
                    cache._add_tar(path)
            except (OSError, ValueError, tarfile.TarError, AttributeError):
                continue  # not an image: the cache may hold other files
        return cache

    def _add_oci(self, index: object, path: str) -> None:
        for m in index.get("manifests", []) if isinstance(index, dict) else []:
            ann = m.get("annotations") or {} if isinstance(m, dict) else {}
            full = ann.get("io.containerd.image.name")
            tag = ann.get("org.opencontainers.image.ref.name")
            for ref in (full, tag if tag and ("/" in tag or ":" in tag) else None):
                if isinstance(ref, str) and ref:
                    self.index.setdefault(_key(ref), f"{path}:{tag}" if tag else path)

    def _add_tar(self, path: str) -> None:
        with tarfile.open(path) as tf:
            names = set(tf.getnames())
            if "manifest.json" in names:
                fh = tf.extractfile("manifest.json")
                entries = json.load(fh) if fh is not None else []
                for e in entries if isinstance(entries, list) else []:
                    for t in e.get("RepoTags") or []:
                        if isinstance(t, str):
                            self.index.setdefault(_key(t), f"{path}:{t}")
            elif "index.json" in names:
                fh = tf.extractfile("index.json")
                if fh is not None:
                    self._add_oci(json.load(fh), path)

    def find(self, reference: str) -> str | None:
        return self.index.get(_key(reference))
