"""No reporter output may contain a secret planted in the KF-SEC fixtures, nor any part of one longer
than 4 characters: rules name the key, env var, annotation or flag and the detector, never the value."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pytest

from kubefort.api import ScanOptions, scan, scan_inventory
from kubefort.engine.findings import Report
from kubefort.loading.loader import load_paths
from kubefort.model.inventory import Inventory
from kubefort.reporters import Format, get_reporter

FIXTURES = Path(__file__).resolve().parents[1] / "rules" / "fixtures"
SEC_DIRS = sorted(d for d in FIXTURES.glob("KF-SEC-*") if d.is_dir() and any(d.glob("fail-*.yaml")))

#: Every secret value planted in the KF-SEC fail fixtures (fake, but shaped like the real thing).
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJrdWJlZm9ydC1maXh0dXJlIiwibmFtZSI6IkZha2UgVXNlciIsImlhdCI6"
    "MTcwMDAwMDAwMH0.Xq3vN8rT2wL6yB1mK9pZ4sD7gH0jC5fA"
)
PLANTED = [
    # KF-SEC-001
    "AKIAIOSFODNN7EXAMPLE",
    "Fx7-fake-Pa55-wq8z",
    "Zt8vQm3kWp9xLr2n",
    "xoxb-000000000000-0000000000000-FAKEfakeFAKEfakeFAKEfake",
    "90417352",
    "kX9vQ2mZ7pL4wR8tY1uN6bH3cJ5gF0dSa3",
    # KF-SEC-003
    "Kq2-fake-Bill-9xz",
    "Wm5-fake-Inv-3pq",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Tn4-fake-Rel-7vw",
    "ghp_FAKEfakeFAKEfake0123456789abcdefABCD",
    "jdoe.pg7x",
    "DE89 3704 0044 0532 0130 00",
    "+49 30 1234 5678",
    # KF-SEC-004
    "Es8-fake-Srch-4kd",
    "Rd6-fake-Rdx-2mn",
    JWT,
    "T00000000/B00000000/FAKEfakeFAKEfakeFAKEfake",
    # KF-SEC-006
    "Ex9-fake-Mon-5tq",
    "Mg4-fake-Mig-8ws",
    "Ct2-fake-Warm-6yh",
]
#: Base64 forms as they appear in Secret data and binaryData (password, service-account token,
#: .dockerconfigjson with a registry password, RSA private key body).
ENCODED = [
    "Rng3LWZha2UtUGE1NS13cTh6",
    "ZXlKaGJHY2lPaUpJVXpJMU5pSXNJblI1Y0NJNklrcFhWQ0o5",
    "eyJhdXRocyI6IHsicmVnaXN0cnkuZXhhbXBsZS5jb20iOiB7ImF1dGgiOiAi",
    "RVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBZmFrZUZBS0VmYWtlRkFLRXE3Wng5dzJOb3RBUmVhbEtleTAxMjM",
]
PART = 5  # "any part longer than 4 characters"


def _fixture_text() -> str:
    return "\n".join(f.read_text() for d in SEC_DIRS for f in sorted(d.glob("fail-*.yaml")))


def _parts(secret: str) -> set[str]:
    """Every substring of PART characters that is specific to the secret (not only digits/zeros)."""
    return {secret[i : i + PART] for i in range(len(secret) - PART + 1)} if len(secret) > PART else {secret}


def _forbidden() -> set[str]:
    out: set[str] = set()
    for s in PLANTED + ENCODED:
        out |= _parts(s)
    # runs of one repeated character or of digits only say nothing about the secret
    return {p for p in out if len(set(p)) > 1 and not p.isdigit() and p.strip() == p}


def _is_cluster(path: Path) -> bool:
    """A fixture that is a whole cluster (``# kubefort.test/mode: cluster``, tests/rules/test_catalogue.py)."""
    return any(
        line.startswith("#") and "kubefort.test/mode: cluster" in line for line in path.read_text().split("\n")[:3]
    )


def _reports(d: Path) -> dict[str, Report]:
    """The scans of a rule's fixtures: the directory as manifests, or, for a rule that judges a whole
    cluster (its fixtures are clusters), each file as a cluster of its own, in cluster mode."""
    files = [f for f in sorted(d.glob("*.yaml")) if not f.name.endswith(".params.yaml")]
    if not files or not all(_is_cluster(f) for f in files):
        return {d.name: scan(ScanOptions(paths=[str(d)]))}
    out = {}
    for f in files:
        loaded = load_paths([str(f)])
        assert not loaded.errors
        out[f"{d.name}/{f.name}"] = scan_inventory(Inventory(loaded.objects, live=True), ScanOptions(), mode="cluster")
    return out


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    assert SEC_DIRS, "no KF-SEC fixtures"
    rendered: dict[str, str] = {}
    for d in SEC_DIRS:
        reports = _reports(d)
        assert any(f.rule.id == d.name for r in reports.values() for f in r.findings), (
            f"{d.name}: no finding of its own"
        )
        for key, report in reports.items():
            assert not report.rule_errors, [r.detail for r in report.rule_errors]
            for fmt in Format:
                buf = io.StringIO()
                get_reporter(fmt, color=False, verbose=True).render(report, buf)
                rendered[f"{key}/{fmt.value}"] = buf.getvalue()
    return rendered


def test_planted_secrets_are_in_the_fixtures() -> None:
    text = _fixture_text()
    for s in PLANTED + ENCODED:
        assert s in text, f"planted value no longer in the fixtures: update PLANTED ({s[:3]}...)"


def test_fixture_secrets_are_detected_as_secrets() -> None:
    # the JWT must decode (so it is pattern-valid), and the encoded password must be the planted one
    assert base64.b64decode("Rng3LWZha2UtUGE1NS13cTh6").decode() == "Fx7-fake-Pa55-wq8z"
    assert re.fullmatch(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+", JWT)


@pytest.mark.parametrize("fmt", [f.value for f in Format])
def test_no_secret_in_output(outputs: dict[str, str], fmt: str) -> None:
    forbidden = _forbidden()
    for key, text in outputs.items():
        if not key.endswith("/" + fmt):
            continue
        squeezed = re.sub(r"\s+", "", text)  # the table wraps long lines
        for s in PLANTED + ENCODED:
            assert s not in text and re.sub(r"\s+", "", s) not in squeezed, f"{key}: a planted secret is in the output"
        # random identifiers the formats require (CycloneDX's serialNumber, SPDX's namespace: fresh UUIDs
        # each run) are not from the input; a hex fragment of a planted token ("9abcd") can turn up in one
        generated = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
        leaked = sorted(p for p in forbidden if p in generated)
        assert not leaked, f"{key}: parts of planted secrets in the output: {len(leaked)} fragments, e.g. {leaked[:3]}"
