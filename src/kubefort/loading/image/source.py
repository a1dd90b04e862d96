"""What an image is to kubefort before it is read: its config, its manifest and a way to open each
layer blob as a stream, wherever it comes from (an archive, a layout directory, a registry)."""

from __future__ import annotations

import contextlib
import json
import platform as _platform
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ...errors import LoadError
from .layers import ImageLimits, ImageRefused

#: media types of image indexes (multi-platform) and of single-image manifests
INDEX_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
MANIFEST_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
)
#: layers the image names but does not ship (Windows base layers): not read
FOREIGN_LAYER = re.compile(r"foreign|nondistributable")
DIGEST_RE = re.compile(r"^(sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerBlob:
    """One layer of the image, in order: how to open its blob, and the digests to check it against."""

    index: int
    open: Callable[[], BinaryIO]
    digest: str | None = None  # of the blob as stored (compressed); None when the archive does not say
    diff_id: str | None = None  # of the uncompressed tar, from the config's rootfs.diff_ids
    media_type: str = ""
    size: int | None = None


@dataclass(slots=True, kw_only=True)
class ImageSource:
    """An opened image. Use it as a context manager: it closes its files and connections."""

    name: str  # as the user gave it
    transport: str  # docker-archive | oci-layout | oci-archive | registry
    reference: str  # repository:tag (or @digest) when known; "" for an archive without one
    config: Mapping[str, Any]
    layers: Sequence[LayerBlob]
    manifest_digest: str | None = None
    config_digest: str | None = None
    platform: str = ""
    notes: list[str] = field(default_factory=list)
    closer: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def close(self) -> None:
        self.closer.close()

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Platform:
    """``os/architecture[/variant]`` as in an image index."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise LoadError(text, "platform must be os/architecture[/variant], e.g. linux/arm64/v8")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
        return cls("linux", arch)

    def matches(self, entry: Mapping[str, Any]) -> bool:
        if entry.get("os") != self.os or entry.get("architecture") != self.architecture:
            return False
        variant = entry.get("variant") or ""
        if not self.variant:
            return True
        # arm64 images often leave out their (only) variant v8
        return variant == self.variant or (not variant and self.architecture == "arm64" and self.variant == "v8")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_json_blob(data: bytes, what: str, name: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise LoadError(name, f"{what} is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise LoadError(name, f"{what} is not a JSON object")
    return doc


def read_limited(stream: BinaryIO, limits: ImageLimits, what: str, name: str) -> bytes:
    data = stream.read(limits.max_json_bytes + 1)
    if len(data) > limits.max_json_bytes:
        raise ImageRefused(name, f"{what} is larger than {limits.max_json_bytes} bytes; refused")
    return data


def check_digest(digest: Any, name: str) -> str:
    """A content digest as a blob name must be exactly ``algorithm:hex`` (never a path)."""
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise ImageRefused(name, f"invalid blob digest {str(digest)[:80]!r}; refused")
    return digest


def select_manifest(
    index: Mapping[str, Any], platform: Platform | None, name: str, *, tag: str | None = None
) -> Mapping[str, Any]:
    """The manifest descriptor of an index for ``platform`` (the host's when None; the only one when
    there is one); with ``tag``, among those annotated with that ref name first (an OCI layout)."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    if tag is not None:
        named = [m for m in entries if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag]
        if not named:
            tags = sorted(
                {str((m.get("annotations") or {}).get("org.opencontainers.image.ref.name")) for m in entries} - {"None"}
            )
            raise LoadError(name, f"no image tagged {tag!r} (tags: {', '.join(tags) or 'none'})")
        entries = named
    # attestation manifests (buildx provenance) carry the platform unknown/unknown
    images = [m for m in entries if (m.get("platform") or {}).get("os") != "unknown"]
    if not images:
        raise LoadError(name, "the image index lists no image")
    if len(images) == 1 and (platform is None or images[0].get("mediaType") in INDEX_TYPES):
        return images[0]  # the only image, or a nested index the caller opens for the platform
    want = platform or Platform.host()
    for m in images:
        plat = m.get("platform")
        if isinstance(plat, dict) and want.matches(plat):
            return m
    if platform is None and all(not m.get("platform") for m in images):
        return images[0]
    offered = sorted(
        {
            str(Platform(p.get("os", "?"), p.get("architecture", "?"), p.get("variant", "")))
            for m in images
            if isinstance(p := m.get("platform"), dict)
        }
    )
    raise LoadError(
        name, f"no image for platform {want} (the index offers {', '.join(offered) or 'none'}); use --platform"
    )


def layer_blobs(
    manifest: Mapping[str, Any],
    config: Mapping[str, Any],
    opener: Callable[[str], Callable[[], BinaryIO]],
    name: str,
    notes: list[str],
) -> list[LayerBlob]:
    """The layers an OCI/Docker manifest lists, each with its diff_id from the config."""
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    diff_ids = diff_ids if isinstance(diff_ids, list) else []
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise LoadError(name, "the manifest lists no layers")
    out: list[LayerBlob] = []
    for i, desc in enumerate(layers):
        if not isinstance(desc, dict):
            raise LoadError(name, f"layer {i} of the manifest is not a descriptor")
        media = str(desc.get("mediaType") or "")
        if FOREIGN_LAYER.search(media):
            notes.append(f"layer {i} is a foreign layer ({media}), not shipped with the image: not read")
            continue
        digest = check_digest(desc.get("digest"), name)
        diff = diff_ids[i] if i < len(diff_ids) and isinstance(diff_ids[i], str) else None
        size = desc.get("size")
        out.append(
            LayerBlob(
                index=i,
                open=opener(digest),
                digest=digest,
                diff_id=diff,
                media_type=media,
                size=size if isinstance(size, int) else None,
            )
        )
    return out


def config_platform(config: Mapping[str, Any]) -> str:
    return str(
        Platform(str(config.get("os") or ""), str(config.get("architecture") or ""), str(config.get("variant") or ""))
    ).strip("/")
