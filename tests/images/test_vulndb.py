"""The advisory database and matching: OSV import (zip, directory, re-import, withdrawn), each
ecosystem's version ordering, range events, severities, and OpenVEX statements."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from kubefort.analysis.image.ospkg import OsInfo
from kubefort.analysis.image.packages import InstalledPackage, with_purl
from kubefort.analysis.vulndb.match import Matcher, affected_by
from kubefort.analysis.vulndb.store import VulnDB
from kubefort.analysis.vulndb.vex import apply_vex, load_vex

from .conftest import OSV, VEX

DEBIAN = OsInfo(id="debian", version_id="12", version="12.15")


@pytest.mark.parametrize(
    "eco,version,events,expected",
    [
        ("Debian:12", "1:1.2.13.dfsg-1", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}], True),
        ("Debian:12", "1:1.2.13.dfsg-1+deb12u1", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1+deb12u1"}], False),
        ("Debian:12", "3.0.11-1~deb12u2", [{"introduced": "0"}, {"fixed": "3.0.11-1"}], True),  # ~ sorts first
        ("Debian:12", "2:1.0-1", [{"introduced": "0"}, {"fixed": "1.9-1"}], False),  # the epoch wins
        ("Alpine:v3.19", "1.2.4-r9", [{"introduced": "0"}, {"fixed": "1.2.4-r10"}], True),  # -r10 after -r9
        ("Rocky Linux:9", "1:3.0.7-24.el9", [{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}], True),
        ("PyPI", "2.25.0", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}], True),
        ("PyPI", "2.31.0rc1", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}], True),  # PEP 440: rc before final
        ("npm", "1.2.5", [{"introduced": "0"}, {"fixed": "0.2.4"}, {"introduced": "1.0.0"}, {"fixed": "1.2.6"}], True),
        ("npm", "0.2.4", [{"introduced": "0"}, {"fixed": "0.2.4"}, {"introduced": "1.0.0"}, {"fixed": "1.2.6"}], False),
        (
            "Go",
            "v1.20.7",
            [{"introduced": "0"}, {"fixed": "1.20.10"}, {"introduced": "1.21.0-0"}, {"fixed": "1.21.3"}],
            True,
        ),
        (
            "Go",
            "v1.21.3",
            [{"introduced": "0"}, {"fixed": "1.20.10"}, {"introduced": "1.21.0-0"}, {"fixed": "1.21.3"}],
            False,
        ),
        (
            "Go",
            "v0.0.0-20220715151400-c0bba94af5f8",
            [{"introduced": "0"}, {"fixed": "0.0.0-20220412211240-33da011f77ad"}],
            False,
        ),
        ("Maven", "3.12.0", [{"introduced": "3.0"}, {"fixed": "3.18.0"}], True),
        ("Maven", "2.6", [{"introduced": "3.0"}, {"fixed": "3.18.0"}], False),
        ("PyPI", "1.4", [{"introduced": "1.0"}, {"last_affected": "1.4"}], True),
        ("PyPI", "1.5", [{"introduced": "1.0"}, {"last_affected": "1.4"}], False),
    ],
)
def test_version_orderings(eco: str, version: str, events: list[dict[str, str]], expected: bool) -> None:
    hit, _fixed = affected_by(eco, version, [{"type": "ECOSYSTEM", "events": events}], [])
    assert hit is expected


def test_explicit_versions_and_fixes() -> None:
    hit, fixed = affected_by("PyPI", "0.9", [], ["0.9", "1.0"])
    assert hit and fixed == []
    hit, fixed = affected_by(
        "npm",
        "1.2.5",
        [
            {
                "type": "SEMVER",
                "events": [{"introduced": "0"}, {"fixed": "0.2.4"}, {"introduced": "1.0.0"}, {"fixed": "1.2.6"}],
            }
        ],
        [],
    )
    assert fixed == ["1.2.6"]  # fixes below the installed version are not offered


def test_import_zip_reimport_and_withdrawn(tmp_path: Path) -> None:
    z = tmp_path / "npm-all.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(OSV.glob("GHSA-*.json")):
            zf.write(f, f.name)
    db_path = str(tmp_path / "db.sqlite")
    with VulnDB(db_path, create=True) as db:
        stats = db.import_paths([str(z)])
        assert stats.advisories == 7 and stats.skipped == 0
        # an older copy is skipped; a newer one replaces; a withdrawn one is removed
        rec = json.loads((OSV / "GHSA-35jh-r3h4-6jhm.json").read_text())
        old = {**rec, "modified": "2020-01-01T00:00:00Z"}
        withdrawn = {
            **json.loads((OSV / "GHSA-29mw-wpgm-hmr9.json").read_text()),
            "modified": "2030-01-01T00:00:00Z",
            "withdrawn": "2030-01-01T00:00:00Z",
        }
        (tmp_path / "old.json").write_text(json.dumps([old, withdrawn]))
        stats = db.import_paths([str(tmp_path / "old.json")])
        assert (stats.skipped, stats.withdrawn) == (1, 1)
        assert db.advisory("GHSA-29mw-wpgm-hmr9") is None and db.advisory("GHSA-35jh-r3h4-6jhm") is not None
        assert db.affected("npm", "lodash") and all(r[0] != "GHSA-29mw-wpgm-hmr9" for r in db.affected("npm", "lodash"))
        assert db.affected("PyPI", "Jinja2") == db.affected("PyPI", "jinja2")  # PEP 503 names


def _pkg(**kw: str) -> InstalledPackage:
    return with_purl(InstalledPackage(**kw), "debian-12.15", "debian")  # type: ignore[arg-type]


def test_source_package_matching_and_severity(vulndb: str) -> None:
    pkgs = [
        _pkg(
            name="zlib1g",
            version="1:1.2.13.dfsg-1",
            type="deb",
            source_name="zlib",
            source_version="1:1.2.13.dfsg-1",
            arch="amd64",
        ),
        _pkg(
            name="zlib1g",
            version="1:1.2.13.dfsg-1+deb12u1",
            type="deb",
            source_name="zlib",
            source_version="1:1.2.13.dfsg-1+deb12u1",
        ),
        _pkg(name="stdlib", version="v1.21.2", type="golang"),
        _pkg(name="golang.org/x/net", version="v0.15.0", type="golang"),
    ]
    with VulnDB(vulndb) as db:
        got = {(m.id, m.package.version): m for m in Matcher(db).match(pkgs, DEBIAN)}
    assert ("DEBIAN-CVE-2026-27171", "1:1.2.13.dfsg-1") in got
    assert ("DEBIAN-CVE-2026-27171", "1:1.2.13.dfsg-1+deb12u1") not in got  # the fixed version
    go = got[("GO-2023-2102", "v1.21.2")]
    assert (go.severity, go.score, go.fixed) == ("high", 7.5, ("1.21.3",))  # borrowed from GHSA-4374-p667-p6c8
    assert got[("GHSA-4374-p667-p6c8", "v0.15.0")].vector == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"
    assert got[("DEBIAN-CVE-2026-27171", "1:1.2.13.dfsg-1")].severity == "unknown"  # Debian gave none yet


def test_vex_statements(tmp_path: Path, vulndb: str) -> None:
    lodash = with_purl(InstalledPackage(name="lodash", version="4.17.20", type="npm"))
    other = with_purl(InstalledPackage(name="lodash", version="4.17.19", type="npm"))
    with VulnDB(vulndb) as db:
        matches = Matcher(db).match([lodash, other], DEBIAN)
    applied = apply_vex(matches, load_vex([str(VEX)]), ["registry.example.com/app:1"])
    status = {(m.id, m.package.version): m.vex.get("status") for m in applied}
    assert status[("GHSA-29mw-wpgm-hmr9", "4.17.20")] == "not_affected"
    assert status[("GHSA-29mw-wpgm-hmr9", "4.17.19")] is None  # the statement names 4.17.20 only
    assert status[("GHSA-35jh-r3h4-6jhm", "4.17.20")] is None  # another vulnerability
    # an image product by digest, narrowed by a subcomponent without a version
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "statements": [
            {
                "vulnerability": {"name": "GHSA-35jh-r3h4-6jhm"},
                "products": [{"@id": "pkg:oci/app@sha256:abc", "subcomponents": [{"@id": "pkg:npm/lodash"}]}],
                "status": "fixed",
            },
        ],
    }
    (tmp_path / "v.json").write_text(json.dumps(doc))
    applied = apply_vex(matches, load_vex([str(tmp_path / "v.json")]), ["sha256:abc"])
    assert {m.package.version for m in applied if m.vex.get("status") == "fixed"} == {"4.17.20", "4.17.19"}
