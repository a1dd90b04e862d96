"""The live ETCD rules on ``EtcdEndpoint`` objects (no network): through the engine as ``kubefort etcd
probe`` runs them, on their YAML fixtures, and their metadata against the catalogue."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import kubefort
from kubefort.api import ScanOptions, judge_etcd_endpoints
from kubefort.engine.findings import Report, Status
from kubefort.engine.rule import Rule, Severity
from kubefort.loading.loader import load_paths
from kubefort.model.etcd import Attempt, EtcdEndpoint, ServerCertificate, is_etcd_endpoint
from kubefort.reporters.etcd import facts_note
from kubefort.rules import default_registry, etcd_live
from kubefort.rules.etcd_live import LIVE_IDS, RULES, probe_registry

CATALOGUE = Path(__file__).resolve().parents[3] / "shared" / "catalogue.md"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "etcd" / "endpoints"
EXPECT = "kubefort.test/expect"


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


def test_probe_rules_stay_out_of_the_manifest_registry() -> None:
    default_ids = {(r.meta.id, r.meta.slug) for r in default_registry(plugins=False)}
    assert not {(r.meta.id, r.meta.slug) for r in RULES} & default_ids
    reg = probe_registry(plugins=False)
    assert [reg.get(i).fn for i in LIVE_IDS] == [r.fn for r in RULES]
    assert len(reg.select(only=LIVE_IDS)) == len(RULES)


def test_probe_registry_answers_to_the_configuration_rules_names() -> None:
    """A .kubefort.yaml shared with scan names these IDs by the configuration rules' slugs: the probe knows them."""
    reg = probe_registry(plugins=False)
    for r in default_registry(plugins=False):
        if r.id in LIVE_IDS:
            assert reg.get(r.meta.slug).id == r.id
    for r in default_registry(plugins=False):  # every other rule is the default one
        if r.id not in LIVE_IDS:
            assert reg.get(r.id) is r


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
    assert rep.exit_code() == 1  # KF-ETCD-008 (high, off loopback) still counts
    cfg.write_text("exceptions:\n  - rules: [KF-ETCD-001, KF-ETCD-008]\n    reason: lab etcd\n")
    assert judge([_plain()], config=str(cfg)).exit_code() == 0


def test_min_severity_and_fail_on() -> None:
    p = _probe("http://127.0.0.1:2379", speaks_tls=False, plain_http=_ok())  # KF-ETCD-008 is info on loopback
    rep = judge([p], min_severity="high")
    assert [f.rule.id for f in rep.findings] == ["KF-ETCD-001"] and rep.hidden == 1
    assert judge([p], fail_on="critical").exit_code() == 0


def test_disabled_in_config_by_slug(tmp_path: Path) -> None:
    cfg = tmp_path / "kubefort.yaml"
    slug = default_registry(plugins=False).get("KF-ETCD-001").meta.slug  # the configuration rule's name
    cfg.write_text(f"rules:\n  disable: [{slug}, KF-POD-001]\nparams:\n  min_uid: 10000\n")
    rep = judge([_plain()], config=str(cfg))
    assert "KF-ETCD-001" not in {m.id for m in rep.rules} and len(rep.rules) == len(RULES) - 1


def test_a_crashing_rule_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(obj: Any, ctx: Any) -> Any:
        raise KeyError("secret-ish")

    crashing = Rule(RULES[0].meta, boom)
    monkeypatch.setattr(etcd_live, "RULES", [crashing, *RULES[1:]])
    rep = judge([_plain()])
    assert [r.rule.id for r in rep.rule_errors] == [RULES[0].id] and rep.exit_code() == 3
    assert "secret-ish" not in (rep.rule_errors[0].detail or "")
    assert [f.rule.id for f in rep.findings] == ["KF-ETCD-008"]  # the others still ran


# -- YAML fixtures (tests/fixtures/etcd/endpoints, conventions of tests/rules/fixtures) ---------------------


def _fixture_cases() -> list[Any]:
    return [
        pytest.param(r, f, id=f"{r.id}/{f.name}")
        for r in RULES
        for f in sorted((FIXTURES / r.id).glob("*.yaml"))
        if f.name.startswith(("pass-", "fail-"))
    ]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_live_rule_has_fixtures(rule: Rule) -> None:
    names = [f.name for f in (FIXTURES / rule.id).glob("*.yaml")]
    assert any(n.startswith("fail-") for n in names) and any(n.startswith("pass-") for n in names)


@pytest.mark.parametrize("rule,path", _fixture_cases())
def test_fixture(rule: Rule, path: Path) -> None:
    loaded = load_paths([str(path)])
    assert not loaded.errors and loaded.objects
    rep = judge([EtcdEndpoint.of(o) for o in loaded.objects], rules=[rule.id])
    rep_rule = [f for f in rep.findings if f.rule.id == rule.id]
    failed = {f.object.name for f in rep_rule}
    not_eval = {r.object.name for r in rep.results if r.status is Status.NOT_EVALUATED and r.rule.id == rule.id}
    default = "fail" if path.name.startswith("fail-") else "pass"
    for obj in loaded.objects:
        expect = obj.annotations.get(EXPECT, default)
        got = "fail" if obj.name in failed else "not_evaluated" if obj.name in not_eval else "pass"
        assert got == expect, f"{path.name}: {obj.name} should {expect} {rule.id}, got {got}"
    expected_file = path.parent / "expected.yaml"
    if default == "fail" and expected_file.exists():
        expected = [e for e in yaml.safe_load(expected_file.read_text()) if e["file"] == path.name]
        assert sorted((f.object.name, f.path_str) for f in rep_rule) == sorted((e["name"], e["path"]) for e in expected)


# -- layers ------------------------------------------------------------------------------------------------


def _top_level_imports(path: Path, src: Path) -> set[str]:
    """The kubefort packages a module imports (``etcd`` for ``from ..etcd.probe import x``)."""
    pkg = path.relative_to(src).parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                full = [*pkg[: len(pkg) - node.level + 1], *filter(None, (node.module or "").split("."))]
            elif (node.module or "").startswith("kubefort."):
                full = (node.module or "").split(".")[1:]
            else:
                continue
            out.update(full[:1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("kubefort."))
    return out


def test_nothing_below_the_etcd_package_imports_it() -> None:
    """etcd/ is an application-level package (like admission/): model, loading, engine, analysis, rules and
    reporters never import it (the live rules judge model objects; the reporters format model objects and
    the commands' JSON documents)."""
    src = Path(kubefort.__file__).parent
    bad = [
        str(path.relative_to(src))
        for pkg in ("model", "loading", "engine", "analysis", "rules", "reporters")
        for path in (src / pkg).rglob("*.py")
        if "etcd" in _top_level_imports(path, src)
    ]
    assert not bad, bad
    assert "etcd" in _top_level_imports(src / "cli" / "etcd_cmd.py", src)  # the check sees such imports


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
