"""The operating system of an image and its package databases: dpkg (``status`` and the distroless
``status.d``), apk (``lib/apk/db/installed``) and rpm (the sqlite ``rpmdb.sqlite`` of RHEL 9,
Fedora 33+, Rocky, Alma, Amazon Linux 2023; the older Berkeley DB and NDB formats are not read).

Each parser also says which files the packages own: language packages found among those files belong
to the distribution (Debian's ``python3-yaml``), are reported as the OS package, and are matched
against the distribution's advisories, as Trivy does."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .packages import InstalledPackage


@dataclass(frozen=True, slots=True, kw_only=True)
class OsInfo:
    """``/etc/os-release`` (or ``/usr/lib/os-release``), refined by the distribution's own version file."""

    id: str = ""  # debian, ubuntu, alpine, rhel, rocky, almalinux, fedora, amzn...
    version_id: str = ""  # 12, 3.19.1, 9.3
    version: str = ""  # the most precise version known (Debian point release from /etc/debian_version)
    name: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def distro(self) -> str:
        """The purl ``distro`` qualifier, as Trivy writes it: ``debian-12.15``."""
        return f"{self.id}-{self.version}" if self.id and self.version else ""

    def to_raw(self) -> dict[str, object]:
        return {
            "id": self.id,
            "versionID": self.version_id,
            "version": self.version,
            "name": self.name,
            "prettyName": self.pretty_name,
        }


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def os_info(os_release: str | None, debian_version: str | None, alpine_release: str | None) -> OsInfo:
    fields = parse_os_release(os_release or "")
    os_id = fields.get("ID", "").lower()
    version_id = fields.get("VERSION_ID", "")
    version = version_id
    if os_id == "debian" and debian_version:
        dv = debian_version.strip()
        if dv[:1].isdigit():  # testing/sid write "trixie/sid"
            version = dv
    if os_id == "alpine" and alpine_release:
        version = alpine_release.strip() or version
    return OsInfo(
        id=os_id,
        version_id=version_id,
        version=version,
        name=fields.get("NAME", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
        id_like=tuple(fields.get("ID_LIKE", "").split()),
    )


# -- dpkg --------------------------------------------------------------------------------------------


def dpkg_stanzas(text: str) -> Iterator[dict[str, str]]:
    """The stanzas of a dpkg status file (RFC 822 style; continuation lines folded)."""
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if key is not None and key in ("Package", "Version", "Source", "Architecture", "Status"):
                    fields[key] += " " + line.strip()
                continue
            k, sep, v = line.partition(":")
            if sep:
                key = k.strip()
                fields[key] = v.strip()
        if fields.get("Package"):
            yield fields


def dpkg_packages(text: str, path: str, *, require_status: bool = True) -> list[InstalledPackage]:
    """Installed packages of a dpkg status file (``Status: install ok installed``, or any state whose
    last word is ``installed``); distroless ``status.d`` files have no Status field."""
    out = []
    for f in dpkg_stanzas(text):
        status = f.get("Status")
        if status is None:
            if require_status:
                continue
        elif status.split()[-1:] != ["installed"]:
            continue
        version = f.get("Version", "")
        if not version:
            continue
        src_name, src_version = f["Package"], version
        src = f.get("Source", "")
        if src:
            name, _, rest = src.partition(" ")
            src_name = name
            rest = rest.strip()
            if rest.startswith("(") and rest.endswith(")"):
                src_version = rest[1:-1].strip()
        out.append(
            InstalledPackage(
                name=f["Package"],
                version=version,
                type="deb",
                source_name=src_name,
                source_version=src_version,
                arch=f.get("Architecture", ""),
                path=path,
            )
        )
    return out


def dpkg_owned(list_text: str) -> Iterator[str]:
    """Paths a ``var/lib/dpkg/info/*.list`` file says its package installed (without the leading /)."""
    for line in list_text.splitlines():
        line = line.strip().lstrip("/")
        if line:
            yield line


# -- apk ---------------------------------------------------------------------------------------------


def apk_packages(text: str, path: str) -> tuple[list[InstalledPackage], set[str]]:
    """Packages of an Alpine ``lib/apk/db/installed`` and the files they own."""
    out: list[InstalledPackage] = []
    owned: set[str] = set()
    for block in text.split("\n\n"):
        f: dict[str, str] = {}
        directory = ""
        for line in block.splitlines():
            if len(line) < 2 or line[1] != ":":
                continue
            k, v = line[0], line[2:]
            if k == "F":
                directory = v
            elif k == "R":
                owned.add(f"{directory}/{v}" if directory else v)
            elif k not in f:
                f[k] = v
        if f.get("P") and f.get("V"):
            out.append(
                InstalledPackage(
                    name=f["P"],
                    version=f["V"],
                    type="apk",
                    source_name=f.get("o", f["P"]),
                    source_version=f["V"],
                    arch=f.get("A", ""),
                    path=path,
                    licenses=(f["L"],) if f.get("L") else (),
                )
            )
    return out, owned


# -- rpm (sqlite) ------------------------------------------------------------------------------------

_RPM_NAME, _RPM_VERSION, _RPM_RELEASE, _RPM_EPOCH = 1000, 1001, 1002, 1003
_RPM_LICENSE, _RPM_ARCH, _RPM_SOURCERPM = 1014, 1022, 1044
_RPM_DIRINDEXES, _RPM_BASENAMES, _RPM_DIRNAMES = 1116, 1117, 1118
_RPM_TYPES_STR = (6, 8, 9)  # STRING, STRING_ARRAY, I18NSTRING
_RPM_INT32 = 4


def _rpm_header(blob: bytes) -> dict[int, object]:
    """Tags of an rpm header blob (as rpm stores it in its database)."""
    if len(blob) < 8:
        raise ValueError("short rpm header")
    il, dl = struct.unpack(">ii", blob[:8])
    if il < 0 or dl < 0 or 8 + 16 * il + dl > len(blob) or il > 100_000:
        raise ValueError("malformed rpm header")
    data = blob[8 + 16 * il : 8 + 16 * il + dl]
    tags: dict[int, object] = {}
    for i in range(il):
        tag, typ, off, count = struct.unpack(">iiii", blob[8 + 16 * i : 24 + 16 * i])
        if off < 0 or off > len(data) or count < 0:
            continue
        if typ in _RPM_TYPES_STR:
            strings = []
            pos = off
            for _ in range(count if typ != 6 else 1):
                end = data.find(b"\0", pos)
                if end < 0:
                    break
                strings.append(data[pos:end].decode("utf-8", "replace"))
                pos = end + 1
            tags[tag] = strings[0] if typ == 6 else strings
        elif typ == _RPM_INT32:
            n = min(count, (len(data) - off) // 4)
            tags[tag] = list(struct.unpack(f">{n}i", data[off : off + 4 * n]))
    return tags


def rpm_packages(db: bytes, path: str) -> tuple[list[InstalledPackage], set[str]]:
    """Packages of an rpm sqlite database (read from memory) and the files they own."""
    if db[:16] == b"SQLite format 3\0" and len(db) > 20 and db[18:20] == b"\2\2":
        # rpm keeps its database in WAL mode, which an in-memory copy cannot open: read it as a
        # rollback-journal database (the content is the same; rpm checkpoints the WAL when it closes)
        db = db[:18] + b"\1\1" + db[20:]
    con = sqlite3.connect(":memory:")
    out: list[InstalledPackage] = []
    owned: set[str] = set()
    try:
        con.deserialize(db)
        rows = con.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.Error as e:
        raise ValueError(f"not an rpm sqlite database ({e})") from None
    finally:
        con.close()
    for (blob,) in rows:
        try:
            h = _rpm_header(bytes(blob))
        except (ValueError, struct.error):
            continue
        name = h.get(_RPM_NAME)
        if not isinstance(name, str) or name == "gpg-pubkey":
            continue
        version, release = str(h.get(_RPM_VERSION) or ""), str(h.get(_RPM_RELEASE) or "")
        epoch_v = h.get(_RPM_EPOCH)
        epoch = epoch_v[0] if isinstance(epoch_v, list) and epoch_v else None
        full = f"{version}-{release}" if release else version
        if epoch:
            full = f"{epoch}:{full}"
        src = str(h.get(_RPM_SOURCERPM) or "")
        src_name, src_version = name, full
        if src.endswith(".src.rpm"):
            parts = src[: -len(".src.rpm")].rsplit("-", 2)
            if len(parts) == 3:
                src_name, src_version = parts[0], f"{parts[1]}-{parts[2]}"
                if epoch:
                    src_version = f"{epoch}:{src_version}"
        lic = h.get(_RPM_LICENSE)
        out.append(
            InstalledPackage(
                name=name,
                version=full,
                type="rpm",
                source_name=src_name,
                source_version=src_version,
                arch=str(h.get(_RPM_ARCH) or ""),
                path=path,
                licenses=(lic,) if isinstance(lic, str) and lic else (),
            )
        )
        bases, dirs, idx = h.get(_RPM_BASENAMES), h.get(_RPM_DIRNAMES), h.get(_RPM_DIRINDEXES)
        if isinstance(bases, list) and isinstance(dirs, list) and isinstance(idx, list):
            for b, d in zip(bases, idx):
                if isinstance(d, int) and 0 <= d < len(dirs):
                    owned.add((str(dirs[d]) + str(b)).lstrip("/"))
    return out, owned
