"""The real application image (``tests/images/build.py``): inventory in its three forms, layer
attribution, credentials in layers, Trivy's inventory as the reference, vulnerabilities matched
against the OSV fixtures, OpenVEX, and every output format (the SBOMs validated)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubefort.analysis.image.build import ImageAnalysisOptions, analyse_image
from kubefort.analysis.image.inventory import read_inventory
from kubefort.analysis.vulndb.store import VulnDB
from kubefort.analysis.vulndb.vex import load_vex
from kubefort.cli import cli
from kubefort.loading.image import open_image

from .build import AWS_KEY_ID, GITHUB_TOKEN, AppImage
from .conftest import VEX

#: Trivy's package types as kubefort names them
TRIVY_TYPES = {"debian": "deb", "python-pkg": "pypi", "node-pkg": "npm", "gobinary": "golang", "jar": "maven"}
#: the jar is left out of Trivy's run: Trivy analyses a jar only with its Java DB, which it must download
TRIVY_SKIP = "app/lib/*.jar"
#: what Trivy lists and kubefort does not, and the reverse, each with why (docs/images.md says the same)
ONLY_TRIVY = {
    # esbuild's main module was built from a checkout: Go records it as "(devel)"; Trivy lists it with
    # an empty version, kubefort leaves out a module without a version (nothing to match or pin)
    ("github.com/evanw/esbuild", "", "golang"),
}
ONLY_KUBEFORT = {
    # the Maven jar Trivy was told to skip (above): kubefort reads its pom.properties offline
    ("org.apache.commons:commons-lang3", "3.12.0", "maven"),
}


def packages(spec: str) -> list[tuple[str, str, str, str, int | None]]:
    with open_image(spec) as img:
        inv = read_inventory(img)
    return [(p.type, p.name, p.version, p.purl, p.layer) for p in inv.packages]


def test_three_forms_agree(app_image: AppImage) -> None:
    docker = packages(str(app_image.docker_archive))
    assert docker == packages(f"oci:{app_image.oci_layout}:1") == packages(str(app_image.oci_archive))
    layer = {(t, n): layer for t, n, _v, _p, layer in docker}
    assert layer[("deb", "libc6")] == 0 and layer[("deb", "curl")] == 1 and layer[("deb", "python3-yaml")] == 1
    assert layer[("pypi", "requests")] == 2 and layer[("npm", "lodash")] == 2 and layer[("golang", "stdlib")] == 2
    names = {(t, n) for t, n, *_ in docker}
    assert ("pypi", "PyYAML") not in names  # Debian's python3-yaml owns it: an OS package, not a PyPI one


def test_secrets_in_layers(app_image: AppImage) -> None:
    with open_image(str(app_image.docker_archive)) as img:
        inv = read_inventory(img)
    found = {(s.path, s.layer, s.removed, s.detectors[0]) for s in inv.secrets}
    assert found == {
        ("app/.env", 2, False, "AWS access key"),
        ("app/config/signing-key.pem", 2, False, "private key"),
        ("app/deploy-token.txt", 2, True, "GitHub token"),
    }


def _trivy_packages(trivy: str, archive: Path, tmp_path: Path) -> set[tuple[str, str, str]]:
    out = tmp_path / "trivy.cdx.json"
    env = {**os.environ, "TRIVY_CACHE_DIR": str(tmp_path / "trivy-cache")}
    subprocess.run(
        [
            trivy,
            "image",
            "--quiet",
            "--skip-files",
            TRIVY_SKIP,
            "--input",
            str(archive),
            "--format",
            "cyclonedx",
            "-o",
            str(out),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    doc = json.loads(out.read_text())
    got = set()
    for c in doc.get("components", []):
        props = {p["name"]: p["value"] for p in c.get("properties", [])}
        kind = props.get("aquasecurity:trivy:PkgType")
        if kind is None:
            continue  # the OS and the files that hold packages
        name = c["name"]
        if c.get("group"):
            name = c["group"] + (":" if kind == "jar" else "/") + name
        got.add((name, c.get("version", ""), TRIVY_TYPES.get(kind, kind)))
    return got


def test_inventory_agrees_with_trivy(app_image: AppImage, trivy: str, tmp_path: Path) -> None:
    ours = {(n, v, t) for t, n, v, _p, _l in packages(str(app_image.docker_archive))}
    theirs = _trivy_packages(trivy, app_image.docker_archive, tmp_path)
    assert len(theirs) > 130
    assert theirs - ours == ONLY_TRIVY
    assert ours - theirs == ONLY_KUBEFORT


def test_vulnerabilities_and_vex(app_image: AppImage, vulndb: str) -> None:
    with VulnDB(vulndb) as db:
        obj = analyse_image(str(app_image.docker_archive), ImageAnalysisOptions(), db=db, vex=load_vex([str(VEX)]))
    vulns = obj.get("status", "vulnerabilities")
    by_pkg = {(v["id"], v["package"]["name"]): v for v in vulns.values()}
    # distribution advisories matched through the source package, with Debian's version ordering
    assert by_pkg[("DEBIAN-CVE-2026-27171", "zlib1g")]["fixed"] == ["1:1.2.13.dfsg-1+deb12u1"]
    assert by_pkg[("DEBIAN-CVE-2026-42496", "perl-base")]["package"]["source"] == "perl"
    assert by_pkg[("DEBIAN-CVE-2011-3374", "apt")]["severity"] == "low"  # Debian's urgency: unimportant
    # language advisories, CVSS scores, the severity a Go record borrows from its GHSA alias
    assert by_pkg[("GHSA-xvch-5gv4-984h", "minimist")]["severity"] == "critical"
    assert by_pkg[("GHSA-xvch-5gv4-984h", "minimist")]["score"] == 9.8
    assert by_pkg[("GO-2023-2102", "stdlib")]["severity"] == "high"
    assert by_pkg[("GHSA-j288-q9x7-2f5v", "org.apache.commons:commons-lang3")]["severity"] == "medium"
    assert by_pkg[("GHSA-j8r2-6x86-q33q", "requests")]["package"]["layer"] == 2
    assert ("GHSA-4374-p667-p6c8", "stdlib") not in by_pkg  # that GHSA is about golang.org/x/net only
    assert by_pkg[("GHSA-29mw-wpgm-hmr9", "lodash")]["vex"]["status"] == "not_affected"
    assert "vex" not in by_pkg[("GHSA-35jh-r3h4-6jhm", "lodash")]
    assert len(by_pkg) == 15


def _cli(*args: str) -> Any:
    return CliRunner(mix_stderr=False).invoke(cli, list(args), catch_exceptions=False)


def test_cli_image_scan_formats(app_image: AppImage, vulndb: str) -> None:
    archive = str(app_image.docker_archive)
    base = ["image", "scan", archive, "--db", vulndb, "--vex", str(VEX)]
    r = _cli(*base, "-o", "json")
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    ids = {(f["rule_id"], f.get("subcode")) for f in doc["findings"]}
    assert {("KF-OCI-001", None), ("KF-OCI-002", None), ("KF-OCI-003", None), ("KF-OCI-004", None)} <= ids
    assert ("KF-VULN-001", "GO-2023-2102") in ids
    suppressed = [f for f in doc["findings"] if f["suppressed"]]
    assert [f["subcode"] for f in suppressed] == ["GHSA-29mw-wpgm-hmr9"]
    assert suppressed[0]["suppression"].startswith("VEX: not_affected (vulnerable_code_not_in_execute_path)")
    assert GITHUB_TOKEN not in r.stdout and AWS_KEY_ID not in r.stdout  # values never printed
    for fmt in ("sarif", "junit", "table"):
        r = _cli(*base, "-o", fmt)
        assert r.exit_code == 1 and GITHUB_TOKEN not in r.stdout and AWS_KEY_ID not in r.stdout


def test_cyclonedx_sbom_valid(app_image: AppImage, vulndb: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    r = _cli("image", "scan", str(app_image.docker_archive), "--db", vulndb, "--vex", str(VEX), "-o", "cyclonedx")
    assert r.exit_code == 1
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(r.stdout) is None
    doc = json.loads(r.stdout)
    assert doc["specVersion"] == "1.6" and doc["metadata"]["component"]["type"] == "container"
    purls = {c.get("purl") for c in doc["components"]}
    assert "pkg:npm/lodash@4.17.20" in purls and "pkg:golang/stdlib@v1.20.7" in purls
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    assert vulns["GHSA-xvch-5gv4-984h"]["ratings"][0]["score"] == 9.8
    assert vulns["GHSA-29mw-wpgm-hmr9"]["analysis"]["state"] == "not_affected"


def test_spdx_sbom_valid(app_image: AppImage) -> None:
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    r = _cli("image", "scan", str(app_image.docker_archive), "-o", "spdx")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["spdxVersion"] == "SPDX-2.3"
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"kubefort-{os.getpid()}.spdx.json"
    path.write_text(r.stdout)
    try:
        parsed = parse_file(str(path))  # spdx-tools' own reader: the JSON structure of SPDX 2.3
    finally:
        path.unlink()
    assert validate_full_spdx_document(parsed) == []  # and the specification's constraints
    purls = {ref["referenceLocator"] for p in doc["packages"] for ref in p.get("externalRefs", [])}
    assert "pkg:pypi/requests@2.25.0" in purls
    assert sum(1 for rel in doc["relationships"] if rel["relationshipType"] == "CONTAINS") == len(doc["packages"]) - 1


def test_unreadable_image_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.tar"
    bad.write_bytes(b"\0" * 1024)
    r = _cli("image", "scan", str(bad), "-o", "json")
    assert r.exit_code == 2
    assert "not-an-image.tar" in r.stderr


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_missing_database(app_image: AppImage, tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # named but missing: a usage error; the default path missing: a note, packages are not matched
    r = _cli("image", "scan", str(app_image.docker_archive), "--db", str(tmp_path / "missing.sqlite"), "-o", fmt)
    assert r.exit_code == 2 and "no vulnerability database" in r.stderr
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    r = _cli("image", "scan", str(app_image.docker_archive), "-o", "json", "--rules", "KF-VULN-001")
    assert r.exit_code == 0 and "no vulnerability database" in json.loads(r.stdout)["notes"][0]
