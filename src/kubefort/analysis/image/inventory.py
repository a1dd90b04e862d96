"""The inventory of an image: one pass over its layers (:func:`kubefort.loading.image.read_filesystem`)
collects the package databases, the metadata of language packages, Go build information, Java
archive metadata and the files holding credentials; then the merged tree says what is installed."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import IO, Any

from ...loading.image import FileSystem, ImageLimits, ImageSource, LayerEntry, read_filesystem
from . import langpkg, ospkg, secrets
from .packages import OS_TYPES, InstalledPackage, with_purl
from .secrets import LayerSecret

_OS_FILES = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "etc/debian_version",
        "etc/alpine-release",
        "var/lib/dpkg/status",
        "lib/apk/db/installed",
    }
)
_RPMDB = frozenset({"var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"})
_RPM_LEGACY = frozenset({"var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db"})
_STATUS_D = "var/lib/dpkg/status.d/"
_DPKG_LIST = re.compile(r"^var/lib/dpkg/info/[^/]+\.list$")
DEFER_SECRET_BYTES = 128 * 1024 * 1024
_TYPE_ORDER = {"deb": 0, "apk": 0, "rpm": 0, "pypi": 1, "npm": 2, "golang": 3, "maven": 4}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageInventory:
    """What is installed in an image, and what could not be read."""

    os: ospkg.OsInfo
    packages: tuple[InstalledPackage, ...]
    secrets: tuple[LayerSecret, ...] = ()
    notes: tuple[str, ...] = field(default=())


class _InventoryCollector:
    """Which files the layer pass reads, and what it keeps of each (``take`` returns a dict)."""

    def __init__(self, scan_secrets: bool) -> None:
        self.scan_secrets = scan_secrets
        # candidate files for the secret scan are kept until the package databases say which files
        # the distribution owns (those are not scanned); past this many bytes they are scanned at once
        self.defer_budget = DEFER_SECRET_BYTES

    def select(self, e: LayerEntry) -> bool:
        p = e.path
        return (
            p in _OS_FILES
            or p in _RPMDB
            or p in _RPM_LEGACY
            or (p.startswith(_STATUS_D) and not p.endswith(".md5sums"))
            or bool(_DPKG_LIST.match(p))
            or bool(langpkg.PY_METADATA.search(p))
            or bool(langpkg.NPM_MANIFEST.search(p))
            or bool(langpkg.JAVA_ARCHIVE.search(p))
            or (e.mode & 0o111 != 0 and e.size >= 1024)
            or (self.scan_secrets and secrets.candidate(p, e.size))
        )

    def take(self, e: LayerEntry, reader: IO[bytes]) -> dict[str, Any]:
        p = e.path
        out: dict[str, Any] = {}
        if (
            p in _OS_FILES
            or p in _RPMDB
            or p.startswith(_STATUS_D)
            or _DPKG_LIST.match(p)
            or langpkg.PY_METADATA.search(p)
            or langpkg.NPM_MANIFEST.search(p)
        ):
            out["data"] = reader.read()
            return out
        if p in _RPM_LEGACY:
            out["legacy-rpm"] = True
            return out
        if langpkg.JAVA_ARCHIVE.search(p):
            out["java"] = list(langpkg.java_packages(reader.read(), p))
            return out
        if e.mode & 0o111 and e.size >= 1024:
            head = reader.read(4)
            if head == b"\x7fELF":
                data = head + reader.read()
                if langpkg.GO_MAGIC in data:
                    out["go"] = langpkg.go_buildinfo(data)
                return out
            if not (self.scan_secrets and secrets.candidate(p, e.size)):
                return out
            stream: Any = _Prefixed(head, reader)
        else:
            stream = reader
        if e.size <= self.defer_budget:
            self.defer_budget -= e.size
            out["text"] = stream.read(secrets.MAX_SCANNED_BYTES)
            return out
        found = secrets.scan_file(stream, e.size, p)
        if found is not None:
            out["secret"] = found
        return out


class _Prefixed:
    """A reader whose first bytes were already read."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def read(self, n: int = -1) -> bytes:
        head, self.head = self.head, b""
        if n < 0:
            return head + self.rest.read()
        return head + self.rest.read(max(0, n - len(head)))


def _text(fs: FileSystem, *paths: str) -> str | None:
    for p in paths:
        node = fs.get(p)
        if node is not None and isinstance(node.content, dict) and "data" in node.content:
            return bytes(node.content["data"]).decode("utf-8", "replace")
    return None


def _dpkg_layers(fs: FileSystem) -> dict[tuple[str, str], int]:
    """For each (package, version) of the final dpkg status, the layer from which it was there
    without interruption: the layer that installed it (as each layer's copy of the status says)."""
    first: dict[tuple[str, str], int] = {}
    for node in fs.taken:
        if node.path != "var/lib/dpkg/status" or not isinstance(node.content, dict):
            continue
        text = bytes(node.content.get("data", b"")).decode("utf-8", "replace")
        now = {(p.name, p.version) for p in ospkg.dpkg_packages(text, node.path)}
        first = {k: first.get(k, node.layer) for k in now}
    return first


def _real(fs: FileSystem, path: str) -> str:
    parent, _, base = path.rpartition("/")
    real_parent = fs.resolve(parent) if parent else ""
    if real_parent is None:
        return path
    return f"{real_parent}/{base}" if real_parent else base


def build_inventory(fs: FileSystem, notes: Iterable[str] = ()) -> ImageInventory:
    """What the merged tree says is installed."""
    out_notes = list(notes) + list(fs.notes)
    info = ospkg.os_info(
        _text(fs, "etc/os-release", "usr/lib/os-release"),
        _text(fs, "etc/debian_version"),
        _text(fs, "etc/alpine-release"),
    )
    pkgs: list[InstalledPackage] = []
    owned: set[str] = set()
    # dpkg: the status file, then distroless status.d (one file per package)
    status = fs.get("var/lib/dpkg/status")
    if status is not None and isinstance(status.content, dict) and "data" in status.content:
        layers = _dpkg_layers(fs)
        text = bytes(status.content["data"]).decode("utf-8", "replace")
        for p in ospkg.dpkg_packages(text, status.path):
            pkgs.append(replace(p, layer=layers.get((p.name, p.version), status.layer)))
    for path in fs.listdir("var/lib/dpkg/status.d"):
        node = fs.nodes.get(path)
        if node is not None and isinstance(node.content, dict) and "data" in node.content:
            text = bytes(node.content["data"]).decode("utf-8", "replace")
            pkgs.extend(replace(p, layer=node.layer) for p in ospkg.dpkg_packages(text, path, require_status=False))
    for path in fs.listdir("var/lib/dpkg/info"):
        node = fs.nodes.get(path)
        if node is not None and isinstance(node.content, dict) and "data" in node.content and path.endswith(".list"):
            owned.update(ospkg.dpkg_owned(bytes(node.content["data"]).decode("utf-8", "replace")))
    apk = fs.get("lib/apk/db/installed")
    if apk is not None and isinstance(apk.content, dict) and "data" in apk.content:
        found, files = ospkg.apk_packages(bytes(apk.content["data"]).decode("utf-8", "replace"), apk.path)
        pkgs.extend(replace(p, layer=apk.layer) for p in found)
        owned |= files
    for path in sorted(_RPMDB):
        node = fs.get(path)
        if node is not None and isinstance(node.content, dict) and "data" in node.content:
            try:
                found, files = ospkg.rpm_packages(bytes(node.content["data"]), node.path)
            except ValueError as e:
                out_notes.append(f"/{node.path}: {e}")
                continue
            pkgs.extend(replace(p, layer=node.layer) for p in found)
            owned |= files
            break
    else:
        for path in sorted(_RPM_LEGACY):
            if fs.get(path) is not None:
                out_notes.append(f"/{path}: a Berkeley DB or NDB rpm database, not read (only rpmdb.sqlite is)")
    # package lists name paths as packaged (/bin/sh); a merged-/usr image has them under usr/
    owned = {_real(fs, p) for p in owned}
    secret_files: list[LayerSecret] = []
    for node in fs.taken:  # every layer's files, also those a later layer removed
        c = node.content
        if not isinstance(c, dict) or node.path in owned:
            continue
        if "text" in c:
            c["secret"] = secrets.scan_file(io.BytesIO(c.pop("text")), secrets.MAX_SCANNED_BYTES, node.path)
        if c.get("secret") is not None:
            line, detectors = c["secret"]
            current = fs.nodes.get(node.path)
            secret_files.append(
                LayerSecret(
                    path=node.path, layer=node.layer, line=line, detectors=detectors, removed=current is not node
                )
            )
    for node in fs.files():
        c = node.content
        if not isinstance(c, dict) or node.path in owned:
            continue
        fpath = node.path
        if "data" in c and langpkg.PY_METADATA.search(fpath):
            pkg = langpkg.python_package(bytes(c["data"]).decode("utf-8", "replace"), fpath)
            if pkg is not None:
                pkgs.append(replace(pkg, layer=node.layer))
        elif "data" in c and langpkg.NPM_MANIFEST.search(fpath):
            pkg = langpkg.npm_package(bytes(c["data"]), fpath)
            if pkg is not None:
                pkgs.append(replace(pkg, layer=node.layer))
        elif c.get("go") is not None:
            pkgs.extend(replace(x, layer=node.layer) for x in langpkg.go_packages(c["go"], fpath))
        elif c.get("java"):
            pkgs.extend(replace(x, layer=node.layer) for x in c["java"])
    distro_id = {"rhel": "redhat", "rocky": "rocky", "almalinux": "alma"}.get(info.id, info.id)
    pkgs = [with_purl(p, info.distro if p.type in OS_TYPES else "", distro_id) for p in pkgs]
    pkgs.sort(key=lambda p: (_TYPE_ORDER.get(p.type, 9), p.name, p.version, p.path))
    return ImageInventory(os=info, packages=tuple(pkgs), secrets=tuple(secret_files), notes=tuple(out_notes))


def read_inventory(
    image: ImageSource, *, limits: ImageLimits = ImageLimits(), scan_secrets: bool = True
) -> ImageInventory:
    """Read ``image``'s layers once and list what is installed in it."""
    collector = _InventoryCollector(scan_secrets)
    fs = read_filesystem(image, collector.select, collector.take, limits=limits)
    return build_inventory(fs, image.notes)
