"""Container images as input: archives, OCI layouts and registries (``open_image``), their layers
read as streams into one merged file tree (``read_filesystem``). The analyses that judge what is in
the tree (packages, secrets) live in :mod:`kubefort.analysis.image`; this package only reads, and
refuses hostile input (see :mod:`.layers`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ...errors import LoadError
from .fs import FileNode, FileSystem
from .layers import ImageLimits, ImageRefused, LayerEntry, Select, Take, _Budget, iter_layer
from .registry import RegistryOptions, docker_config_credentials, open_registry
from .source import ImageSource, LayerBlob, Platform

__all__ = [
    "FileNode",
    "FileSystem",
    "ImageLimits",
    "ImageRefused",
    "ImageSource",
    "ImageSpec",
    "LayerBlob",
    "LayerEntry",
    "Platform",
    "RegistryOptions",
    "docker_config_credentials",
    "open_image",
    "parse_image_spec",
    "read_filesystem",
]

#: explicit transports, as skopeo spells them (longest first)
TRANSPORTS = ("docker-archive", "oci-archive", "oci")


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """Where an image argument points: a transport, a path or reference, and a tag inside an archive."""

    transport: str  # docker-archive | oci-archive | oci (a layout directory) | registry
    location: str
    tag: str | None = None


def parse_image_spec(text: str) -> ImageSpec:
    """``IMAGE`` as the commands take it: an existing file (docker-archive or OCI tar) or directory
    (OCI layout), optionally ``PATH:TAG``; ``docker-archive:``/``oci-archive:``/``oci:`` + path, or
    ``docker://`` + reference; anything else is a registry reference."""
    if text.startswith("docker://"):
        return ImageSpec("registry", text[len("docker://") :])
    for t in TRANSPORTS:
        if text.startswith(t + ":"):
            path, tag = _split_tag(text[len(t) + 1 :])
            return ImageSpec(t, path, tag)
    path, tag = _split_tag(text)
    if os.path.exists(path):
        if os.path.isdir(path):
            return ImageSpec("oci", path, tag)
        return ImageSpec("archive", path, tag)
    return ImageSpec("registry", text)


def _split_tag(text: str) -> tuple[str, str | None]:
    """``img.tar:app:1`` -> (``img.tar``, ``app:1``) when ``img.tar`` exists; the path alone otherwise."""
    if os.path.exists(text):
        return text, None
    idx = text.find(":")
    while idx != -1:
        if os.path.exists(text[:idx]):
            return text[:idx], text[idx + 1 :] or None
        idx = text.find(":", idx + 1)
    return text, None


def open_image(
    text: str,
    *,
    registry: RegistryOptions = RegistryOptions(),
    platform: Platform | None = None,
    limits: ImageLimits = ImageLimits(),
) -> ImageSource:
    """Open the image ``text`` names (see :func:`parse_image_spec`); close it when done."""
    from .archive import open_archive, open_layout

    spec = parse_image_spec(text)
    if spec.transport == "registry":
        return open_registry(spec.location, options=registry, platform=platform, limits=limits)
    if not os.path.exists(spec.location):
        raise LoadError(spec.location, "no such file or directory")
    if os.path.isdir(spec.location):
        return open_layout(spec.location, tag=spec.tag, platform=platform, limits=limits)
    return open_archive(spec.location, tag=spec.tag, platform=platform, limits=limits)


def read_filesystem(
    image: ImageSource, select: Select, take: Take, *, limits: ImageLimits = ImageLimits()
) -> FileSystem:
    """Read every layer of ``image`` once, in order, into the merged tree. For each regular file that
    ``select`` wants (and that is at most ``max_read_bytes``), ``take`` gets a stream of its bytes
    and what it returns is kept on the node. Symbolic-link loops refuse the image."""
    fs = FileSystem(image.name, max_hops=limits.max_symlink_hops)
    budget = _Budget(limits)
    skipped = 0
    for blob in image.layers:
        with blob.open() as stream:
            entries = iter_layer(
                stream,
                index=blob.index,
                name=f"{image.name} (layer {blob.index})",
                budget=budget,
                digest=blob.digest,
                diff_id=blob.diff_id,
            )
            for entry, reader in entries:
                if reader is not None and select(entry):
                    if entry.size > limits.max_read_bytes:
                        skipped += 1
                        fs.apply(entry)
                        continue
                    fs.apply(entry, take(entry, reader), taken=True)
                else:
                    fs.apply(entry)
    fs.check_links()
    if skipped:
        fs.notes.append(f"{skipped} files larger than {limits.max_read_bytes} bytes were not analysed")
    return fs
