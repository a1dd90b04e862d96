"""Matching an image's packages against the advisory database.

Each package is looked up in its OSV ecosystem (``Debian:12``, ``Alpine:v3.19``, ``PyPI``, ``npm``,
``Go``, ``Maven``...) under its own name and, for distribution packages, under its source package,
which is how Debian and Alpine file their advisories (``openssl`` covers ``libssl3``). Versions are
compared with the ecosystem's own ordering (``univers``: dpkg, apk, rpm, PEP 440, semver, Go,
Maven), as the OSV specification evaluates range events. The severity is the advisory's: a CVSS
vector's base score, else its ``database_specific`` severity (GitHub), else the distribution's
urgency, else that of an aliased advisory in the database (a Go record and its GHSA twin)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..image.ospkg import OsInfo
from ..image.packages import InstalledPackage
from .store import VulnDB

SEVERITIES = ("critical", "high", "medium", "low", "unknown")
_LABELS = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MODERATE": "medium",
    "MEDIUM": "medium",
    "LOW": "low",
    "NEGLIGIBLE": "low",
    "UNIMPORTANT": "low",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class VulnMatch:
    """One advisory that applies to one installed package."""

    id: str
    aliases: tuple[str, ...]
    package: InstalledPackage
    fixed: tuple[str, ...]  # versions that fix it, in the package's ecosystem
    severity: str  # critical | high | medium | low | unknown
    score: float | None = None
    vector: str = ""
    summary: str = ""
    vex: dict[str, str] = field(default_factory=dict)  # status, justification, document

    @property
    def key(self) -> str:
        """``DSA-5532-1 deb:libssl3@3.0.11-1~deb12u2``: the finding's stable name."""
        return f"{self.id} {self.package.key}"

    def to_raw(self) -> dict[str, Any]:
        pkg = self.package
        out: dict[str, Any] = {
            "id": self.id,
            "aliases": list(self.aliases),
            "package": {
                "name": pkg.name,
                "version": pkg.version,
                "type": pkg.type,
                "purl": pkg.purl,
                "path": pkg.path,
                "layer": pkg.layer,
            },
            "fixed": list(self.fixed),
            "severity": self.severity,
            "score": self.score,
            "cvss": self.vector,
            "summary": self.summary,
        }
        if pkg.source_name and pkg.source_name != pkg.name:
            out["package"]["source"] = pkg.source_name
        if self.vex:
            out["vex"] = dict(self.vex)
        return out


def ecosystems(pkg: InstalledPackage, os: OsInfo) -> list[str]:
    """The OSV ecosystems a package is looked up in."""
    t = pkg.type
    if t == "pypi":
        return ["PyPI"]
    if t == "npm":
        return ["npm"]
    if t == "golang":
        return ["Go"]
    if t == "maven":
        return ["Maven"]
    major = os.version_id.split(".")[0]
    if t == "deb":
        if os.id == "debian" and major:
            return [f"Debian:{major}"]
        if os.id == "ubuntu" and os.version_id:
            return [f"Ubuntu:{os.version_id}", f"Ubuntu:{os.version_id}:LTS", f"Ubuntu:Pro:{os.version_id}:LTS"]
        return []
    if t == "apk":
        parts = (os.version or os.version_id).split(".")
        return [f"Alpine:v{parts[0]}.{parts[1]}"] if len(parts) >= 2 else []
    if t == "rpm":
        names = {"rocky": "Rocky Linux", "almalinux": "AlmaLinux", "opensuse-leap": "openSUSE", "mariner": "Mariner"}
        eco = names.get(os.id)
        return [f"{eco}:{major}"] if eco and major else []
    return []


def _scheme(ecosystem: str) -> Callable[[str], Any]:
    from univers import versions as v

    base = ecosystem.split(":", 1)[0]
    table: dict[str, Any] = {
        "Debian": v.DebianVersion,
        "Ubuntu": v.DebianVersion,
        "Alpine": v.AlpineLinuxVersion,
        "Rocky Linux": v.RpmVersion,
        "AlmaLinux": v.RpmVersion,
        "openSUSE": v.RpmVersion,
        "Mariner": v.RpmVersion,
        "PyPI": v.PypiVersion,
        "npm": v.SemverVersion,
        "Go": v.GolangVersion,
        "Maven": v.MavenVersion,
    }
    cls = table.get(base, v.GenericVersion)
    return cls  # type: ignore[no-any-return]


@lru_cache(maxsize=200_000)
def _version(ecosystem: str, text: str) -> Any:
    """The comparable version, or None when the ecosystem's grammar refuses it. Compare these with
    ``<`` only: some univers classes get ``>=`` wrong (AlpineLinuxVersion 32.0.1 says both
    ``1.2.4-r9 < 1.2.4-r10`` and ``1.2.4-r9 >= 1.2.4-r10``)."""
    base = ecosystem.split(":", 1)[0]
    if base == "Go":
        text = text.lstrip("v")
    try:
        return _scheme(ecosystem)(text)
    except Exception:  # univers raises many kinds for an unparsable version
        return None


def affected_by(ecosystem: str, version: str, ranges: Sequence[Any], versions: Sequence[str]) -> tuple[bool, list[str]]:
    """Whether ``version`` is affected, and the ``fixed`` events above it (OSV range evaluation)."""
    if version in versions:
        return True, _fixes(ecosystem, version, ranges)
    v = _version(ecosystem, version)
    if v is None:
        return False, []
    hit = False
    for r in ranges:
        if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue
        events = [e for e in r.get("events") or [] if isinstance(e, dict)]
        affected = False
        for e in _sorted_events(ecosystem, events):
            if "introduced" in e:
                iv = e["introduced"]
                start = _version(ecosystem, str(iv))
                if iv == "0" or (start is not None and not v < start):
                    affected = True
            elif "fixed" in e:
                fv = _version(ecosystem, str(e["fixed"]))
                if fv is not None and not v < fv:
                    affected = False
            elif "last_affected" in e:
                lv = _version(ecosystem, str(e["last_affected"]))
                if lv is not None and lv < v:
                    affected = False
        hit = hit or affected
    return hit, _fixes(ecosystem, version, ranges) if hit else []


def _sorted_events(ecosystem: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(e: dict[str, Any]) -> tuple[int, Any]:
        value = str(next(iter(e.values())))
        if value == "0":
            return (0, "")
        return (1, _Order(_version(ecosystem, value), value))

    return sorted(events, key=key)


class _Order:
    """Sorts parsed versions, unparsable ones last by text."""

    __slots__ = ("text", "v")

    def __init__(self, v: Any, text: str) -> None:
        self.v, self.text = v, text

    def __lt__(self, other: _Order) -> bool:
        if self.v is not None and other.v is not None:
            try:
                return bool(self.v < other.v)
            except TypeError:
                pass
        return (self.v is None, self.text) < (other.v is None, other.text)


def _fixes(ecosystem: str, version: str, ranges: Sequence[Any]) -> list[str]:
    v = _version(ecosystem, version)
    out = []
    for r in ranges:
        for e in r.get("events") or []:
            if isinstance(e, dict) and "fixed" in e:
                fv = _version(ecosystem, str(e["fixed"]))
                if v is None or fv is None or v < fv:
                    out.append(str(e["fixed"]))
    return list(dict.fromkeys(out))


def _cvss(entries: Iterable[dict[str, Any]]) -> tuple[float, str] | None:
    """(base score, vector) of the newest CVSS version given."""
    from cvss import CVSS2, CVSS3, CVSS4

    best: tuple[int, float, str] | None = None
    for s in entries:
        vector = str(s.get("score") or "")
        typ = str(s.get("type") or "")
        try:
            if typ == "CVSS_V4" or vector.startswith("CVSS:4"):
                rank, score = 4, float(CVSS4(vector).base_score)
            elif typ == "CVSS_V3" or vector.startswith("CVSS:3"):
                rank, score = 3, float(CVSS3(vector).base_score)
            elif typ == "CVSS_V2":
                rank, score = 2, float(CVSS2(vector).base_score)
            else:
                continue
        except Exception:  # the cvss package raises its own errors for malformed vectors
            continue
        if best is None or rank > best[0]:
            best = (rank, score, vector)
    return (best[1], best[2]) if best else None


def score_label(score: float) -> str:
    if score >= 9.0:
        return "critical"
    if score >= 7.0:
        return "high"
    if score >= 4.0:
        return "medium"
    if score > 0:
        return "low"
    return "unknown"


def _own_severity(db: VulnDB, rid: str, urgency: str) -> tuple[str, float | None, str]:
    adv = db.advisory(rid)
    if adv is None:
        return "unknown", None, ""
    _, _, entries, db_sev = adv
    cv = _cvss(entries)
    if cv is not None:
        return score_label(cv[0]), cv[0], cv[1]
    label = _LABELS.get(db_sev.upper())
    if label:
        return label, None, ""
    label = _LABELS.get(urgency.upper().split()[0] if urgency.strip() else "")
    return (label or "unknown"), None, ""


class Matcher:
    """Matches packages against one database, remembering advisory details across packages."""

    def __init__(self, db: VulnDB) -> None:
        self.db = db
        self._sev: dict[tuple[str, str], tuple[str, float | None, str]] = {}

    def severity(self, rid: str, aliases: Sequence[str], urgency: str) -> tuple[str, float | None, str]:
        key = (rid, urgency)
        got = self._sev.get(key)
        if got is None:
            got = _own_severity(self.db, rid, urgency)
            if got[0] == "unknown":
                for other in self.db.related([rid, *aliases]):
                    if other != rid:
                        borrowed = _own_severity(self.db, other, "")
                        if borrowed[0] != "unknown":
                            got = borrowed
                            break
            self._sev[key] = got
        return got

    def match(self, packages: Iterable[InstalledPackage], os: OsInfo) -> list[VulnMatch]:
        out: list[VulnMatch] = []
        for pkg in packages:
            seen: set[str] = set()
            for eco in ecosystems(pkg, os):
                names = [pkg.name]
                if pkg.source_name and pkg.source_name != pkg.name:
                    names.insert(0, pkg.source_name)
                for name in names:
                    version = pkg.source_version if name == pkg.source_name and pkg.source_version else pkg.version
                    for rid, ranges_json, versions_json, urgency in self.db.affected(eco, name):
                        if rid in seen:
                            continue
                        hit, fixed = affected_by(eco, version, json.loads(ranges_json), json.loads(versions_json))
                        if not hit:
                            continue
                        seen.add(rid)
                        adv = self.db.advisory(rid)
                        summary, aliases = (adv[0], adv[1]) if adv else ("", [])
                        sev, score, vector = self.severity(rid, aliases, urgency)
                        out.append(
                            VulnMatch(
                                id=rid,
                                aliases=tuple(aliases),
                                package=pkg,
                                fixed=tuple(fixed),
                                severity=sev,
                                score=score,
                                vector=vector,
                                summary=summary,
                            )
                        )
        out.sort(key=lambda m: (m.package.type, m.package.name, m.package.version, m.id))
        return out
