"""The live ETCD rules on probe results (no network), and their metadata against the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubefort.engine.rule import Severity
from kubefort.etcd.probe import Attempt, EndpointProbe, ServerCert, judge
from kubefort.rules import default_registry
from kubefort.rules.etcd_live import RULES, probe_registry

CATALOGUE = Path(__file__).resolve().parents[3] / "shared" / "catalogue.md"


def _probe(endpoint: str = "https://10.0.0.5:2379", **kw: object) -> EndpointProbe:
    host = endpoint.split("//")[1].rsplit(":", 1)[0]
    p = EndpointProbe(
        endpoint=endpoint, host=host, port=2379, loopback=host.startswith("127."), reachable=True, speaks_tls=True
    )
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def _ok(data: bool = True) -> Attempt:
    return Attempt(tried=True, accepted=True, data_readable=data, auth_required=not data)


def _no() -> Attempt:
    return Attempt(tried=True, accepted=False, detail="TLS alert bad_certificate")


def _found(*probes: EndpointProbe) -> list[tuple[str, str, str | None]]:
    return [(f.rule.id, f.severity.label, f.subcode) for f in judge(list(probes)).findings]


def test_hardened_endpoint_passes() -> None:
    p = _probe(no_cert=_no(), wrong_ca=_no(), with_cert=_ok())
    rep = judge([p])
    assert rep.findings == [] and rep.exit_code() == 0
    assert len(rep.passes) == len(RULES)


def test_plaintext_off_loopback_is_high() -> None:
    p = _probe("http://10.0.0.5:2379", speaks_tls=False, plain_http=_ok())
    assert _found(p) == [("KF-ETCD-001", "high", None), ("KF-ETCD-008", "high", None)]


def test_plaintext_on_loopback_is_information() -> None:
    p = _probe("http://127.0.0.1:2379", speaks_tls=False, plain_http=_ok())
    assert ("KF-ETCD-008", "info", "loopback") in _found(p)
    assert judge([p]).exit_code() == 1  # KF-ETCD-001 (high) still fails


def test_no_client_certificate_required() -> None:
    p = _probe(no_cert=_ok(), wrong_ca=_ok())
    rep = judge([p])
    assert [(f.rule.id, f.severity) for f in rep.findings] == [("KF-ETCD-002", Severity.CRITICAL)]
    assert "served key-value data" in rep.findings[0].message
    p = _probe(no_cert=_ok(data=False), wrong_ca=_ok(data=False))
    assert "served" not in judge([p]).findings[0].message  # etcd auth refused the data


def test_unverified_ca_subcode() -> None:
    p = _probe(no_cert=_no(), wrong_ca=_ok())
    assert _found(p) == [("KF-ETCD-002", "critical", "unverified-ca")]


def test_auto_tls_certificate() -> None:
    cert = ServerCert(
        subject="O=etcd",
        issuer="O=etcd",
        not_after="2027-11-23T00:00:00Z",
        self_signed=True,
        auto_tls=True,
        trusted=None,
    )
    assert _found(_probe(server_cert=cert, no_cert=_no(), wrong_ca=_no())) == [("KF-ETCD-003", "high", None)]


def test_foreign_ca_accepted() -> None:
    p = _probe(no_cert=_no(), wrong_ca=_no(), foreign_cert=_ok())
    assert _found(p) == [("KF-ETCD-007", "medium", None)]
    p = _probe(no_cert=_ok(), wrong_ca=_ok(), foreign_cert=_ok())  # already KF-ETCD-002, not a CA question
    assert [i for i, _, _ in _found(p)] == ["KF-ETCD-002"]


def test_unreachable_is_not_evaluated() -> None:
    p = EndpointProbe(
        endpoint="https://10.0.0.9:2379", host="10.0.0.9", port=2379, loopback=False, errors=["connection refused"]
    )
    rep = judge([p])
    assert rep.findings == [] and rep.counts["not_evaluated"] == len(RULES)
    assert any("unreachable" in n for n in rep.notes)


def test_probe_rules_stay_out_of_the_manifest_registry() -> None:
    default_ids = {(r.meta.id, r.meta.slug) for r in default_registry(plugins=False)}
    assert not {(r.meta.id, r.meta.slug) for r in RULES} & default_ids
    assert len(probe_registry()) == len(RULES)


def test_metadata_matches_catalogue() -> None:
    if not CATALOGUE.exists():
        pytest.skip("../shared/catalogue.md not beside the repository")
    cat = {}
    for line in CATALOGUE.read_text().splitlines():
        m = re.match(r"^\| (KF-[A-Z]+-\d{3}) \| (.*?) \| (critical|high|medium|low|info) \|", line)
        if m:
            cat[m.group(1)] = (m.group(2), m.group(3))
    for r in RULES:
        m = r.meta
        assert (m.title, m.severity.label) == cat[m.id], m.id
        assert m.area == "ETCD" and m.rationale.endswith(".") and m.remediation.endswith(".") and m.refs
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", m.slug)
