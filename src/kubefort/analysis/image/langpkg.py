"""Language packages in an image: Python distributions (``*.dist-info/METADATA``, ``*.egg-info``),
npm packages (``package.json`` of a ``node_modules`` package), Go binaries (the build information
the Go linker embeds since Go 1.18: module path, version and dependencies) and Java archives (Maven's
``pom.properties``, then ``MANIFEST.MF``; nested archives of fat jars and wars too)."""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from .packages import InstalledPackage

# -- Python ------------------------------------------------------------------------------------------

PY_METADATA = re.compile(r"(^|/)[^/]+\.dist-info/METADATA$|(^|/)[^/]+\.egg-info/PKG-INFO$|(^|/)[^/]+\.egg-info$")


def python_package(text: str, path: str) -> InstalledPackage | None:
    """A Python distribution from its core metadata (``Name:``/``Version:`` headers)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the description body follows the headers
        if line[:1] in (" ", "\t"):
            continue
        k, sep, v = line.partition(":")
        if sep and k not in fields:
            fields[k.strip()] = v.strip()
    name, version = fields.get("Name"), fields.get("Version")
    if not name or not version:
        return None
    lic = fields.get("License-Expression") or fields.get("License") or ""
    licenses = (lic,) if lic and lic.upper() != "UNKNOWN" and len(lic) < 200 else ()
    return InstalledPackage(name=name, version=version, type="pypi", path=path, licenses=licenses)


# -- npm ---------------------------------------------------------------------------------------------

NPM_MANIFEST = re.compile(r"(^|/)node_modules/(@[^/]+/)?[^/@][^/]*/package\.json$")


def npm_package(data: bytes, path: str) -> InstalledPackage | None:
    """An npm package from the ``package.json`` at the top of its ``node_modules`` directory."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict):
        return None
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None
    lic = doc.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    return InstalledPackage(
        name=name, version=version, type="npm", path=path, licenses=(lic,) if isinstance(lic, str) and lic else ()
    )


# -- Go ----------------------------------------------------------------------------------------------

GO_MAGIC = b"\xff Go buildinf:"


@dataclass(frozen=True, slots=True, kw_only=True)
class GoBuildInfo:
    go_version: str  # go1.21.5
    path: str  # the main package path
    main: tuple[str, str]  # (module path, version); version "(devel)" for a local build
    deps: tuple[tuple[str, str], ...]  # (module path, version), replacements applied


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            break
    raise ValueError("bad varint")


def _elf_section(data: bytes, name: bytes) -> bytes | None:
    """The bytes of the ELF section ``name``, or None (not ELF, no such section)."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        return None
    is64, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    try:
        if is64:
            (shoff,) = struct.unpack_from(e + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x3A)
        else:
            (shoff,) = struct.unpack_from(e + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", data, 0x2E)
        if not shoff or shstrndx >= shnum or shoff + shnum * shentsize > len(data):
            return None

        def section(i: int) -> tuple[int, int, int]:
            base = shoff + i * shentsize
            if is64:
                (sname,) = struct.unpack_from(e + "I", data, base)
                off, size = struct.unpack_from(e + "QQ", data, base + 0x18)
            else:
                (sname,) = struct.unpack_from(e + "I", data, base)
                off, size = struct.unpack_from(e + "II", data, base + 0x10)
            return sname, off, size

        _, stroff, strsize = section(shstrndx)
        for i in range(shnum):
            sname, off, size = section(i)
            end = data.find(b"\0", stroff + sname, stroff + strsize)
            if data[stroff + sname : end] == name and off + size <= len(data):
                return data[off : off + size]
    except struct.error:
        return None
    return None


def go_buildinfo(data: bytes) -> GoBuildInfo | None:
    """The build information of a Go binary (Go 1.18+ inline format), or None."""
    section = _elf_section(data, b".go.buildinfo")
    if section is None:
        pos = data.find(GO_MAGIC)
        if pos < 0:
            return None
        section = data[pos : pos + 64 * 1024 * 4]
    if not section.startswith(GO_MAGIC) or len(section) < 32:
        return None
    flags = section[15]
    if not flags & 0x2:  # before Go 1.18: pointers into the binary's memory image; not read
        return None
    try:
        n, pos = _uvarint(section, 32)
        version = section[pos : pos + n].decode("utf-8", "replace")
        n, pos = _uvarint(section, pos + n)
        mod = section[pos : pos + n]
    except ValueError:
        return None
    if len(mod) >= 33 and mod[-17:-16] == b"\n":
        mod = mod[16:-16]
    return parse_modinfo(version, mod.decode("utf-8", "replace"))


def parse_modinfo(go_version: str, text: str) -> GoBuildInfo:
    path = ""
    main = ("", "")
    deps: list[tuple[str, str]] = []
    for line in text.splitlines():
        parts = line.split("\t")
        if parts[0] == "path" and len(parts) > 1:
            path = parts[1]
        elif parts[0] == "mod" and len(parts) > 2:
            main = (parts[1], parts[2])
        elif parts[0] == "dep" and len(parts) > 2:
            deps.append((parts[1], parts[2]))
        elif parts[0] == "=>" and len(parts) > 2 and deps:
            deps[-1] = (parts[1], parts[2])  # the replacement is what was built
    return GoBuildInfo(go_version=go_version, path=path, main=main, deps=tuple(deps))


def go_packages(info: GoBuildInfo, path: str) -> list[InstalledPackage]:
    """The modules of a Go binary, and ``stdlib`` at the Go version that built it (Go's own advisories
    are filed against ``stdlib``). A main module built from a checkout has no version: left out."""
    out = []
    if info.main[0] and info.main[1] and info.main[1] != "(devel)":
        out.append(InstalledPackage(name=info.main[0], version=info.main[1], type="golang", path=path))
    for mod, version in info.deps:
        out.append(InstalledPackage(name=mod, version=version, type="golang", path=path))
    m = re.match(r"go(\d+(?:\.\d+){1,2})", info.go_version)
    if m:
        out.append(InstalledPackage(name="stdlib", version="v" + m.group(1), type="golang", path=path))
    return out


# -- Java --------------------------------------------------------------------------------------------

JAVA_ARCHIVE = re.compile(r"\.(jar|war|ear|par|sar|jpi|hpi)$", re.IGNORECASE)
_MAX_NESTED_BYTES = 64 * 1024 * 1024
_MAX_ENTRIES = 200_000


def _props(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def _manifest(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith(" ") and key:
            out[key] += line[1:]
            continue
        k, sep, v = line.partition(":")
        if sep:
            key = k.strip()
            out.setdefault(key, v.strip())
    return out


def java_packages(data: bytes, path: str, depth: int = 0) -> Iterator[InstalledPackage]:
    """Maven artifacts in a Java archive: each ``META-INF/maven/*/*/pom.properties``, the archives
    nested in it (``WEB-INF/lib``, ``BOOT-INF/lib``), or the archive's own manifest when it has no
    pom.properties. Bounded: nested archives up to 64 MiB and three levels deep."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        return
    if len(infos) > _MAX_ENTRIES:
        return
    found = False
    seen: set[tuple[str, str, str]] = set()
    for info in infos:
        name = info.filename
        if name.startswith("META-INF/maven/") and name.endswith("/pom.properties") and info.file_size < 64 * 1024:
            try:
                props = _props(zf.read(info).decode("utf-8", "replace"))
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                continue
            g, a, v = props.get("groupId"), props.get("artifactId"), props.get("version")
            if g and a and v and (g, a, v) not in seen:
                seen.add((g, a, v))
                found = True
                yield InstalledPackage(name=f"{g}:{a}", version=v, type="maven", path=path)
    for info in infos:
        if depth < 2 and JAVA_ARCHIVE.search(info.filename) and 0 < info.file_size <= _MAX_NESTED_BYTES:
            try:
                inner = zf.read(info)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                continue
            yield from java_packages(inner, f"{path}/{info.filename}", depth + 1)
    if not found:
        try:
            mf = _manifest(zf.read("META-INF/MANIFEST.MF").decode("utf-8", "replace"))
        except (KeyError, zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
            return
        title = mf.get("Implementation-Title") or mf.get("Bundle-Name") or ""
        version = mf.get("Implementation-Version") or mf.get("Bundle-Version") or ""
        group = mf.get("Implementation-Vendor-Id") or ""
        artifact = title
        if not group and mf.get("Bundle-SymbolicName"):
            sym = mf["Bundle-SymbolicName"].split(";")[0].strip()
            if "." in sym:
                group, artifact = sym.rsplit(".", 1)
        if group and artifact and version and " " not in artifact:
            yield InstalledPackage(name=f"{group}:{artifact}", version=version, type="maven", path=path)
