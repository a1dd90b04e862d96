"""Image references, parsed as the catalogue (legend 5) and the container runtimes do."""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGEST_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$")


@dataclass(frozen=True, slots=True)
class ImageRef:
    """``[registry/]path[:tag][@digest]``."""

    raw: str
    registry: str  # normalised host ("docker.io" when none is given)
    explicit_registry: bool
    repository: str  # path without registry, e.g. "library/nginx" for docker.io
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """registry/repository, the thing allow-lists match against."""
        return f"{self.registry}/{self.repository}"

    @property
    def has_valid_digest(self) -> bool:
        return self.digest is not None and bool(_DIGEST_RE.match(self.digest))


def parse_image(ref: str) -> ImageRef:
    raw = ref
    ref = ref.strip()
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    parts = ref.split("/")
    first = parts[0]
    if len(parts) > 1 and ("." in first or ":" in first or first == "localhost"):
        registry, explicit, rest = first.lower(), True, parts[1:]
    else:
        registry, explicit, rest = "docker.io", False, parts
    if registry in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        registry = "docker.io"
    last = rest[-1] if rest else ""
    tag = None
    if ":" in last:
        last, tag = last.rsplit(":", 1)
        rest = rest[:-1] + [last]
    repository = "/".join(rest)
    if registry == "docker.io" and "/" not in repository and repository:
        repository = f"library/{repository}"
    return ImageRef(raw=raw, registry=registry, explicit_registry=explicit, repository=repository, tag=tag, digest=digest)
