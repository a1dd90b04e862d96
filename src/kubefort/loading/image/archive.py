"""Images on disk: ``docker save`` tarballs (docker-archive), OCI image layouts as a directory or as
a tar (oci-archive). Nothing is unpacked: blobs are read in place, from the directory or from inside
the tar."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from typing import Any, BinaryIO

from ...errors import LoadError
from .layers import ImageLimits, ImageRefused, _BoundedTarInfo, normalise_entry
from .source import (
    INDEX_TYPES,
    ImageSource,
    LayerBlob,
    Platform,
    check_digest,
    config_platform,
    layer_blobs,
    parse_json_blob,
    read_limited,
    select_manifest,
)


class _Tar:
    """Random access to the members of an (optionally gzip-compressed) tar file, by normalised name."""

    def __init__(self, path: str, limits: ImageLimits) -> None:
        self.path = path
        try:
            self.tf = tarfile.open(path, "r:*", tarinfo=_BoundedTarInfo)
            members = self.tf.getmembers()
        except (tarfile.TarError, EOFError) as e:
            raise LoadError(path, f"not a readable tar archive ({e})") from None
        if len(members) > limits.max_entries:
            raise ImageRefused(path, f"more than {limits.max_entries} entries; refused")
        self.members: dict[str, tarfile.TarInfo] = {}
        for m in members:
            norm = normalise_entry(m.name)
            if norm is not None and (m.isreg() or m.issym() or m.islnk()):
                self.members[norm] = m

    def has(self, name: str) -> bool:
        return name in self.members

    def open(self, name: str) -> BinaryIO:
        norm = normalise_entry(name)
        if norm is None:
            raise ImageRefused(self.path, f"member {name!r} climbs out of the archive; refused")
        m = self.members.get(norm)
        hops = 0
        while m is not None and (m.issym() or m.islnk()) and hops < 8:  # docker save links duplicate layers
            base = os.path.dirname(norm) if m.issym() else ""
            target = normalise_entry(os.path.join(base, m.linkname) if m.issym() else m.linkname)
            if target is None:
                raise ImageRefused(self.path, f"member {name!r} links out of the archive; refused")
            norm, m, hops = target, self.members.get(target), hops + 1
        if m is None or not m.isreg():
            raise LoadError(self.path, f"the archive has no member {name!r}")
        fh = self.tf.extractfile(m)
        assert fh is not None
        return fh  # type: ignore[return-value]

    def close(self) -> None:
        self.tf.close()


def open_archive(
    path: str, *, tag: str | None = None, platform: Platform | None = None, limits: ImageLimits = ImageLimits()
) -> ImageSource:
    """A ``docker save`` tarball or an OCI layout tar (both layouts when docker 25+ wrote it)."""
    tar = _Tar(path, limits)
    try:
        if tar.has("manifest.json"):
            return _docker_archive(tar, path, tag, limits)
        if tar.has("index.json"):
            return _oci(tar.open, path, "oci-archive", tag, platform, limits, tar.close)
        raise LoadError(path, "neither a docker-archive (manifest.json) nor an OCI layout (index.json) tar")
    except BaseException:
        tar.close()
        raise


def open_layout(
    path: str, *, tag: str | None = None, platform: Platform | None = None, limits: ImageLimits = ImageLimits()
) -> ImageSource:
    """An OCI image layout directory (``oci-layout``, ``index.json``, ``blobs/``)."""
    if not os.path.isfile(os.path.join(path, "index.json")):
        raise LoadError(path, "not an OCI image layout (no index.json)")

    def opener(name: str) -> BinaryIO:
        return open(os.path.join(path, *name.split("/")), "rb")

    return _oci(opener, path, "oci-layout", tag, platform, limits, None)


def _blob_name(digest: str, name: str) -> str:
    algo, _, hexpart = check_digest(digest, name).partition(":")
    return f"blobs/{algo}/{hexpart}"


def _oci(
    opener: Callable[[str], BinaryIO],
    name: str,
    transport: str,
    tag: str | None,
    platform: Platform | None,
    limits: ImageLimits,
    close: Callable[[], None] | None,
) -> ImageSource:
    def read_json(member: str, what: str) -> dict[str, Any]:
        with opener(member) as fh:
            return parse_json_blob(read_limited(fh, limits, what, name), what, name)

    doc = read_json("index.json", "index.json")
    desc: Any = select_manifest(doc, platform, name, tag=tag)
    depth = 0
    while desc.get("mediaType") in INDEX_TYPES:  # a multi-platform image inside the layout
        depth += 1
        if depth > 4:
            raise ImageRefused(name, "image indexes nested more than 4 deep; refused")
        desc = select_manifest(read_json(_blob_name(desc.get("digest"), name), "image index"), platform, name)
    manifest_digest = check_digest(desc.get("digest"), name)
    manifest = read_json(_blob_name(manifest_digest, name), "manifest")
    cdesc = manifest.get("config")
    if not isinstance(cdesc, dict):
        raise LoadError(name, "the manifest has no config")
    config_digest = check_digest(cdesc.get("digest"), name)
    config = read_json(_blob_name(config_digest, name), "image config")
    notes: list[str] = []

    def blob(digest: str) -> Callable[[], BinaryIO]:
        member = _blob_name(digest, name)
        return lambda: opener(member)

    ref_name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name") or tag or ""
    src = ImageSource(
        name=name,
        transport=transport,
        reference=str(ref_name),
        config=config,
        layers=layer_blobs(manifest, config, blob, name, notes),
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        platform=config_platform(config),
        notes=notes,
    )
    if close is not None:
        src.closer.callback(close)
    return src


def _docker_archive(tar: _Tar, path: str, tag: str | None, limits: ImageLimits) -> ImageSource:
    with tar.open("manifest.json") as fh:
        data = read_limited(fh, limits, "manifest.json", path)
    try:
        import json

        entries = json.loads(data)
    except ValueError as e:
        raise LoadError(path, f"manifest.json is not valid JSON ({e})") from None
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise LoadError(path, "manifest.json lists no image")
    notes: list[str] = []
    if tag is not None:
        want = tag if ":" in tag or "@" in tag else None
        chosen = [
            e
            for e in entries
            if any(t == tag or (want is None and t.rsplit(":", 1)[-1] == tag) for t in e.get("RepoTags") or [])
        ]
        if not chosen:
            tags = sorted(t for e in entries for t in e.get("RepoTags") or [])
            raise LoadError(path, f"no image tagged {tag!r} in the archive (tags: {', '.join(tags) or 'none'})")
        entry = chosen[0]
    else:
        entry = entries[0]
        if len(entries) > 1:
            notes.append(f"the archive holds {len(entries)} images; read the first (name one as {path}:TAG)")
    config_name = entry.get("Config")
    if not isinstance(config_name, str):
        raise LoadError(path, "manifest.json names no Config")
    with tar.open(config_name) as fh:
        config = parse_json_blob(read_limited(fh, limits, "image config", path), "image config", path)
    layers = entry.get("Layers")
    if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
        raise LoadError(path, "manifest.json lists no Layers")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    diff_ids = diff_ids if isinstance(diff_ids, list) else []
    blobs = []
    for i, member in enumerate(layers):
        if normalise_entry(member) is None:
            raise ImageRefused(path, f"layer path {member!r} climbs out of the archive; refused")
        digest = None
        parts = member.split("/")
        if len(parts) == 3 and parts[0] == "blobs":  # docker 25+: blobs/sha256/<hex>
            digest = check_digest(f"{parts[1]}:{parts[2]}", path)
        blobs.append(
            LayerBlob(
                index=i,
                open=(lambda m=member: tar.open(m)),  # type: ignore[misc]
                digest=digest,
                diff_id=diff_ids[i] if i < len(diff_ids) and isinstance(diff_ids[i], str) else None,
                media_type="application/vnd.docker.image.rootfs.diff.tar",
            )
        )
    tags = [t for t in entry.get("RepoTags") or [] if isinstance(t, str)]
    config_digest = None
    base = os.path.basename(config_name)
    if base.endswith(".json") and len(base) == 69:
        config_digest = f"sha256:{base[:-5]}"
    elif config_name.startswith("blobs/sha256/"):
        config_digest = f"sha256:{config_name.rsplit('/', 1)[-1]}"
    src = ImageSource(
        name=path,
        transport="docker-archive",
        reference=(tag if tag and tag in tags else tags[0]) if tags else "",
        config=config,
        layers=blobs,
        config_digest=config_digest,
        platform=config_platform(config),
        notes=notes,
    )
    src.closer.callback(tar.close)
    return src
