"""Image references, parsed as the catalogue (legend 5) and the container runtimes do."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Digest algorithms the runtimes know (opencontainers/go-digest), with the exact length of their
#: lower-case hex encoding. A digest of a known algorithm that does not match is invalid: containerd
#: and CRI-O refuse to pull it (``InvalidImageName``).
_KNOWN_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}
#: Any other ``<algorithm>:<hex>`` digest (distribution ``DigestRegexp`` with a lower-case algorithm,
#: as the OCI image spec requires).
_DIGEST_RE = re.compile(r"^[a-z][a-z0-9]*(?:[+._-][a-z][a-z0-9]*)*:[0-9a-fA-F]{32,}$")
_HEX = "0123456789abcdef"
#: Aliases of Docker Hub that resolve to ``docker.io``.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})


@dataclass(frozen=True, slots=True)
class ImageRef:
    """``[registry/]path[:tag][@digest]``."""

    raw: str
    registry: str  # normalised host ("docker.io" when none is given)
    explicit_registry: bool
    repository: str  # path without registry, e.g. "library/nginx" for docker.io
    tag: str | None  # "" for a reference ending in ":" (invalid; treated as no tag)
    digest: str | None  # text after "@", not validated (see has_valid_digest)

    @property
    def name(self) -> str:
        """registry/repository, the thing allow-lists match against."""
        return f"{self.registry}/{self.repository}"

    @property
    def has_valid_digest(self) -> bool:
        return self.digest is not None and is_valid_digest(self.digest)


def is_valid_digest(digest: str) -> bool:
    """``sha256:<64 hex>`` (``sha384``/``sha512`` with their lengths) or another ``<algo>:<hex>``."""
    algo, sep, encoded = digest.partition(":")
    if not sep:
        return False
    length = _KNOWN_DIGESTS.get(algo)
    if length is not None:
        return len(encoded) == length and not encoded.strip(_HEX)  # only lower-case hex digits
    return bool(_DIGEST_RE.match(digest))


def normalise_registry(host: str) -> str:
    """Registry hosts compare case-insensitively; Docker Hub aliases become ``docker.io``."""
    host = host.lower()
    return "docker.io" if host in DOCKER_HUB_ALIASES else host


def parse_image(ref: str) -> ImageRef:
    raw = ref
    ref = ref.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    parts = ref.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, explicit, rest = normalise_registry(first), True, parts[1:]
    else:
        registry, explicit, rest = "docker.io", False, parts
    last = rest[-1] if rest else ""
    tag = None
    if ":" in last:
        last, tag = last.rsplit(":", 1)
        rest = rest[:-1] + [last]
    repository = "/".join(rest)
    if registry == "docker.io" and "/" not in repository and repository:
        repository = f"library/{repository}"
    return ImageRef(
        raw=raw, registry=registry, explicit_registry=explicit, repository=repository, tag=tag, digest=digest
    )
