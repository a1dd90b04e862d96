"""The ETCD rules that judge live answers, on ``EtcdEndpoint`` objects (no network): through the engine
as ``kubefort etcd probe`` runs them, and one rule per ID for both the configuration and the live answer.
Their YAML fixtures are in ``tests/rules/fixtures/<ID>/`` (``*-live-*``), run by ``tests/rules/test_catalogue.py``;
their metadata against ``docs/catalogue.md`` is ``tests/rules/test_metadata.py``'s, as for every rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubefort.api import ScanOptions, judge_etcd_endpoints
from kubefort.engine.findings import Report, Status
from kubefort.engine.rule import Severity
from kubefort.loading.loader import load_paths
from kubefort.model.etcd import KIND, Attempt, EtcdEndpoint, ServerCertificate, is_etcd_endpoint
from kubefort.model.objects import K8sObject, Source
from kubefort.reporters.etcd import facts_note
from kubefort.rules import default_registry, etcd_live
from kubefort.rules.control_plane import COMPONENT_KINDS
from kubefort.rules.etcd_live import LIVE_IDS

REGISTRY = default_registry(plugins=False)
#: the rules ``kubefort etcd probe`` runs: the default registry's, one per ID
RULES = [REGISTRY.get(i) for i in LIVE_IDS]
#: the names the live rules had while they were rules of their own: configurations may still use them
LIVE_SLUGS = {
    "KF-ETCD-001": "etcd-live-no-server-tls",
    "KF-ETCD-002": "etcd-live-client-cert-not-required",
    "KF-ETCD-003": "etcd-live-auto-tls",
    "KF-ETCD-007": "etcd-live-shared-ca",
    "KF-ETCD-008": "etcd-live-plaintext",
}
FIXTURES = Path(__file__).resolve().parents[1] / "rules" / "fixtures"


def _probe(endpoint: str = "https://10.0.0.5:2379", **kw: Any) -> EtcdEndpoint:
    host = endpoint.split("//")[1].rsplit(":", 1)[0]
    fields: dict[str, Any] = {"reachable": True, "speaks_tls": True, **kw}
    return EtcdEndpoint(endpoint=endpoint, host=host, port=2379, loopback=host.startswith("127."), **fields)


def _ok(data: bool = True) -> Attempt:
    return Attempt(tried=True, accepted=True, data_readable=data, auth_required=not data)


def _no() -> Attempt:
    return Attempt(tried=True, accepted=False, detail="TLS alert bad_certificate")


def judge(probes: list[EtcdEndpoint], **opts: Any) -> Report:
    return judge_etcd_endpoints(probes, ScanOptions(**opts))


def _found(*probes: EtcdEndpoint) -> list[tuple[str, str, str | None]]:
    return [(f.rule.id, f.severity.label, f.subcode) for f in judge(list(probes)).findings]


def test_hardened_endpoint_passes() -> None:
    p = _probe(no_cert=_no(), wrong_ca=_no(), with_cert=_ok())
    rep = judge([p])
    assert rep.findings == [] and rep.exit_code() == 0
    assert len(rep.passes) == len(RULES)


def test_plaintext_off_loopback_is_high() -> None:
    p = _probe("http://10.0.0.5:2379", speaks_tls=False, plain_http=_ok())
    assert _found(p) == [
        ("KF-ETCD-001", "high", None),
        ("KF-ETCD-002", "critical", "plain_http"),  # no client certificate over plain HTTP, data read
        ("KF-ETCD-008", "high", None),
    ]


def test_plaintext_on_loopback_reads_every_key() -> None:
    """Issue 12: an etcd answering plain HTTP that serves an unauthenticated client fails KF-ETCD-002
    (critical), on loopback too: every process and hostNetwork pod of the node reaches it."""
    p = _probe("http://127.0.0.1:2379", speaks_tls=False, plain_http=_ok())
    found = _found(p)
    assert ("KF-ETCD-002", "critical", "plain_http") in found
    assert ("KF-ETCD-008", "medium", "loopback") in found  # capturable on the node's lo: not information
    assert max(f.severity for f in judge([p]).findings) is Severity.CRITICAL
    msg = next(f.message for f in judge([p]).findings if f.rule.id == "KF-ETCD-002")
    assert "hostNetwork pod" in msg and "read key-value data" in msg


def test_plaintext_with_etcd_auth_is_high() -> None:
    p = _probe("http://10.0.0.5:2379", speaks_tls=False, plain_http=_ok(data=False))
    assert ("KF-ETCD-002", "high", "etcd_auth") in _found(p)


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
    cert = ServerCertificate(
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
    p = EtcdEndpoint(
        endpoint="https://10.0.0.9:2379", host="10.0.0.9", port=2379, loopback=False, errors=("connection refused",)
    )
    rep = judge([p])
    assert rep.findings == [] and rep.counts["not_evaluated"] == len(RULES)
    assert all(r.status is Status.NOT_EVALUATED and "unreachable" in (r.detail or "") for r in rep.results)
    assert "unreachable" in facts_note(p)  # and the JSON notes say so


def _pod(name: str, command: list[str]) -> K8sObject:
    doc = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"containers": [{"name": name, "image": f"registry.k8s.io/{name}:1", "command": command}]},
    }
    return K8sObject.from_raw(doc, Source(file="pods.yaml"))


def test_one_rule_per_id_judges_configuration_and_endpoints() -> None:
    """The registry holds one rule per ID: the rules the probe runs are the default registry's, judging
    etcd's configuration and EtcdEndpoint objects, and LIVE_IDS are exactly the IDs whose rule judges the latter."""
    assert tuple(r.id for r in REGISTRY if KIND in (r.meta.kinds or ())) == LIVE_IDS
    assert len(REGISTRY.select(only=LIVE_IDS)) == len(RULES) == len(LIVE_SLUGS)
    endpoint = _probe().to_object()
    etcd, api = _pod("etcd", ["etcd", "--cert-file=/x"]), _pod("kube-apiserver", ["kube-apiserver"])
    for r in RULES:
        m = r.meta
        assert m.kinds == frozenset({*COMPONENT_KINDS, KIND}) and m.modes is None, m.id
        assert m.applies is not None and m.applies(endpoint) and m.applies(etcd) and not m.applies(api), m.id
        assert getattr(m.applies, "section", None) == "etcd", m.id  # the node audit reports it under etcd


def test_registry_answers_to_the_live_rules_names() -> None:
    """A .kubefort.yaml written for the live rules names them by their old slugs: they name the joined rule."""
    for r in RULES:
        assert REGISTRY.get(r.meta.slug) is r
        assert REGISTRY.get(LIVE_SLUGS[r.id]) is r
        assert r.meta.aliases == (LIVE_SLUGS[r.id],)


def test_endpoint_object_round_trip() -> None:
    p = _probe(
        plain_http=_no(),
        no_cert=_no(),
        wrong_ca=_no(),
        foreign_cert=_ok(),
        with_cert=_ok(data=False),
        server_cert=ServerCertificate(
            subject="CN=etcd",
            issuer="CN=ca",
            not_after="2027-01-01T00:00:00Z",
            self_signed=False,
            auto_tls=False,
            trusted=None,
        ),
        version={"etcdserver": "3.5.15", "etcdcluster": "3.5.0"},
        auth="enabled",
        auth_detail="from /v3/auth/status",
        errors=("TLS: something",),
    )
    obj = p.to_object()
    assert (obj.api_version, obj.kind, obj.name, obj.namespace) == (
        "kubefort.io/v1alpha1",
        "EtcdEndpoint",
        p.endpoint,
        None,
    )
    assert is_etcd_endpoint(obj) and obj.source.live and obj.locate(("status", "tls")).file == p.endpoint
    assert EtcdEndpoint.of(obj) == p
    for path in (
        ("status", "tls", "clientAuth", "trustedCA"),
        ("status", "tls", "serverCertificate"),
        ("status", "listen", "scheme"),
    ):
        assert obj.get(*path) is not None, path  # findings point at fields that exist
    assert EtcdEndpoint.from_raw({}) == EtcdEndpoint(endpoint="", host="", port=0, loopback=False)


# -- the engine's features, as for scan ----------------------------------------------------------------

PLAIN = "http://10.0.0.5:2379"


def _plain() -> EtcdEndpoint:
    return _probe(PLAIN, speaks_tls=False, plain_http=_ok())


def test_config_exceptions_suppress(tmp_path: Path) -> None:
    cfg = tmp_path / "kubefort.yaml"
    cfg.write_text(
        "exceptions:\n"
        "  - rules: [KF-ETCD-001]\n    kinds: [EtcdEndpoint]\n    names: ['http://10.0.0.*']\n    reason: lab etcd\n"
    )
    rep = judge([_plain()], config=str(cfg))
    f001 = [f for f in rep.findings if f.rule.id == "KF-ETCD-001"]
    assert f001 and all(f.suppressed for f in f001) and f001[0].suppression
    assert rep.exit_code() == 1  # KF-ETCD-002 and -008 (plain HTTP off loopback) still count
    cfg.write_text("exceptions:\n  - rules: [KF-ETCD-001, KF-ETCD-002, KF-ETCD-008]\n    reason: lab etcd\n")
    assert judge([_plain()], config=str(cfg)).exit_code() == 0


def test_min_severity_and_fail_on() -> None:
    p = _probe("http://127.0.0.1:2379", speaks_tls=False, plain_http=_ok())  # KF-ETCD-008 is medium on loopback
    rep = judge([p], min_severity="high")
    assert [f.rule.id for f in rep.findings] == ["KF-ETCD-001", "KF-ETCD-002"] and rep.hidden == 1
    assert judge([p], fail_on="critical").exit_code() == 1  # KF-ETCD-002 is critical
    q = _probe("http://127.0.0.1:2379", speaks_tls=False, plain_http=_ok(data=False))  # etcd auth on
    assert judge([q], fail_on="critical").exit_code() == 0


def test_disabled_in_config_by_slug(tmp_path: Path) -> None:
    cfg = tmp_path / "kubefort.yaml"
    slug = default_registry(plugins=False).get("KF-ETCD-001").meta.slug  # the configuration rule's name
    cfg.write_text(f"rules:\n  disable: [{slug}, KF-POD-001]\nparams:\n  min_uid: 10000\n")
    rep = judge([_plain()], config=str(cfg))
    assert "KF-ETCD-001" not in {m.id for m in rep.rules} and len(rep.rules) == len(RULES) - 1
    cfg.write_text("rules:\n  disable: [etcd-live-no-server-tls]\n")  # the live rule's old name
    rep = judge([_plain()], config=str(cfg))
    assert "KF-ETCD-001" not in {m.id for m in rep.rules} and len(rep.rules) == len(RULES) - 1


def test_a_crashing_rule_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(obj: Any) -> Any:
        raise KeyError("secret-ish")

    assert RULES[0].id == "KF-ETCD-001"
    monkeypatch.setattr(etcd_live, "no_server_tls", boom)  # the live check KF-ETCD-001 hands endpoints to
    rep = judge([_plain()])
    assert [r.rule.id for r in rep.rule_errors] == [RULES[0].id] and rep.exit_code() == 3
    assert "secret-ish" not in (rep.rule_errors[0].detail or "")
    assert [f.rule.id for f in rep.findings] == ["KF-ETCD-002", "KF-ETCD-008"]  # the others still ran


# -- YAML fixtures (tests/rules/fixtures/<ID>/*-live-*, run by tests/rules/test_catalogue.py) -------------


@pytest.mark.parametrize("rule_id", LIVE_IDS)
def test_every_live_rule_has_endpoint_fixtures(rule_id: str) -> None:
    """Both halves of the rule have fixtures: here, that EtcdEndpoint objects pass and fail it."""
    kinds: dict[str, set[str]] = {"fail": set(), "pass": set()}
    for f in (FIXTURES / rule_id).glob("*.yaml"):
        if f.name.startswith(("pass-", "fail-")):
            kinds[f.name.split("-", 1)[0]].update(o.kind for o in load_paths([str(f)]).objects)
    assert KIND in kinds["fail"] and KIND in kinds["pass"], kinds
    assert kinds["fail"] - {KIND}, "the configuration half has fixtures too"
