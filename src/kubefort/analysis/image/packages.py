"""What an image's inventory lists: installed packages, each with its package URL (purl)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from packageurl import PackageURL

#: package types, as the ``type`` field of the ContainerImage object and the purl types name them
OS_TYPES = frozenset({"deb", "apk", "rpm"})
LANGUAGE_TYPES = frozenset({"pypi", "npm", "golang", "maven"})


@dataclass(frozen=True, slots=True, kw_only=True)
class InstalledPackage:
    """One package found in the image."""

    name: str
    version: str  # as the package manager writes it (a Debian version with its epoch: ``1:1.2.13.dfsg-1``)
    type: str  # deb | apk | rpm | pypi | npm | golang | maven
    purl: str = ""
    source_name: str = ""  # distro source package (Debian Source:, apk origin, rpm SOURCERPM name)
    source_version: str = ""
    arch: str = ""
    path: str = ""  # the file that records it, from the image root
    layer: int | None = None  # index of the layer that introduced it
    licenses: tuple[str, ...] = field(default=())

    def to_raw(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "type": self.type, "purl": self.purl}
        if self.source_name:
            out["source"] = {"name": self.source_name, "version": self.source_version or self.version}
        if self.arch:
            out["arch"] = self.arch
        out["path"] = self.path
        out["layer"] = self.layer
        if self.licenses:
            out["licenses"] = list(self.licenses)
        return out

    @property
    def key(self) -> str:
        """``deb:libssl3@3.0.11-1``: how findings name the package."""
        return f"{self.type}:{self.name}@{self.version}"


def split_epoch(version: str) -> tuple[str, str]:
    """(``1``, ``1.2.13.dfsg-1``) for a Debian/RPM version with an epoch; ("", version) without."""
    head, sep, rest = version.partition(":")
    if sep and head.isdigit():
        return head, rest
    return "", version


_PEP503 = re.compile(r"[-_.]+")


def pypi_name(name: str) -> str:
    """PEP 503 normalised name: how PyPI (and OSV's PyPI ecosystem) compare names."""
    return _PEP503.sub("-", name).lower()


def with_purl(pkg: InstalledPackage, distro: str = "", distro_id: str = "") -> InstalledPackage:
    """``pkg`` with its package URL, spelled as Trivy spells it (so SBOMs compare)."""
    t = pkg.type
    qualifiers: dict[str, str] = {}
    namespace: str | None = None
    name, version = pkg.name, pkg.version
    if t in OS_TYPES:
        namespace = distro_id or None
        if pkg.arch:
            qualifiers["arch"] = pkg.arch
        if distro:
            qualifiers["distro"] = distro
        if t in ("deb", "rpm"):
            epoch, version = split_epoch(version)
            if epoch and epoch != "0":
                qualifiers["epoch"] = epoch
    elif t == "pypi":
        name = pypi_name(name)
    elif t == "npm":
        if name.startswith("@") and "/" in name:
            namespace, name = name.split("/", 1)
    elif t in ("golang", "maven"):
        if t == "maven" and ":" in name:
            namespace, name = name.split(":", 1)
        elif t == "golang" and "/" in name:
            namespace, name = name.rsplit("/", 1)
    purl = PackageURL(type=t, namespace=namespace, name=name, version=version, qualifiers=qualifiers or None)
    return replace(pkg, purl=purl.to_string())
