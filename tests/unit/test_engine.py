"""Rule engine: coverage statuses, crash isolation, suppressions, config, baseline, exit codes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kubefort.api import ScanOptions, scan, scan_inventory
from kubefort.engine.config import load_config
from kubefort.engine.findings import Status, format_path
from kubefort.engine.registry import Registry
from kubefort.engine.rule import NotEvaluated, Scope, Severity, Violation, rule
from kubefort.engine.runner import evaluate
from kubefort.engine.suppression import Suppressor, parse_ignore_annotation
from kubefort.errors import ConfigError, UsageError
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.reporters import Format, get_reporter

DOC = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  annotations: {ann}
spec:
  template:
    spec:
      hostPID: {hostpid}
      containers:
      - name: app
        image: nginx:1.25
"""


@rule(
    id="KF-TST-001",
    slug="host-pid",
    title="hostPID",
    severity=Severity.HIGH,
    scope=Scope.POD,
    rationale="Test.",
    remediation="Test.",
    refs={"x": "y"},
)
def host_pid(pod, ctx):  # type: ignore[no-untyped-def]
    if pod.spec.get("hostPID") is True:
        yield Violation(pod.at("hostPID"), "hostPID is on")


@rule(
    id="KF-TST-002",
    slug="crashes",
    title="crash",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Deployment"],
    rationale="Test.",
    remediation="Test.",
    refs={"x": "y"},
)
def crashes(obj, ctx):  # type: ignore[no-untyped-def]
    if obj.name == "boom":
        raise KeyError("nope")
    return []


@rule(
    id="KF-TST-003",
    slug="needs-namespace",
    title="ns",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=["Deployment"],
    rationale="Test.",
    remediation="Test.",
    refs={"x": "y"},
    cross_object=True,
)
def needs_namespace(obj, ctx):  # type: ignore[no-untyped-def]
    if ctx.inventory.namespace_labels(obj.namespace) is None:
        raise NotEvaluated(f"Namespace {obj.namespace} is not in the input")
    return []


@rule(
    id="KF-TST-004",
    slug="low-sub",
    title="sub",
    severity=Severity.MEDIUM,
    scope=Scope.CONTAINER,
    rationale="Test.",
    remediation="Test.",
    refs={"x": "y"},
    params={"level": "low"},
)
def low_sub(c, ctx):  # type: ignore[no-untyped-def]
    yield Violation(c.at("image"), "always", severity=Severity.parse(ctx.param("level")), subcode="always")


REG = Registry([host_pid, crashes, needs_namespace, low_sub])


def inv(*docs: str) -> Inventory:
    r = load_text("---\n".join(docs), "test.yaml")
    assert not r.errors
    return Inventory(r.objects)


def doc(name: str = "web", ns: str = "shop", hostpid: str = "true", ann: str = "{}") -> str:
    return DOC.format(name=name, ns=ns, hostpid=hostpid, ann=ann)


def test_statuses_are_honest() -> None:
    i = inv(doc("web"), doc("boom", hostpid="false"))
    rep = evaluate(list(REG), i)
    c = rep.counts
    # web: TST-001 fail, 002 pass, 003 not evaluated, 004 fail; boom: 001 pass, 002 error, 003 n/e, 004 fail
    assert (c[Status.FAIL], c[Status.PASS], c[Status.NOT_EVALUATED], c[Status.ERROR]) == (3, 2, 2, 1)
    assert rep.exit_code() == 3
    err = rep.rule_errors[0]
    assert err.rule.id == "KF-TST-002" and "KeyError" in (err.detail or "")
    f = next(f for f in rep.findings if f.rule.id == "KF-TST-001")
    assert f.path_str == "spec.template.spec.hostPID" and f.location.line == 10


def test_sub_code_severity_and_params() -> None:
    rep = evaluate([low_sub], inv(doc()), params={"level": "info"})
    assert rep.findings[0].severity is Severity.INFO and rep.findings[0].subcode == "always"
    rep = evaluate([low_sub], inv(doc()), params={"KF-TST-004": {"level": "critical"}})
    assert rep.findings[0].severity is Severity.CRITICAL


def test_min_severity_hides_but_counts() -> None:
    rep = evaluate([low_sub, host_pid], inv(doc()), min_severity=Severity.HIGH)
    assert [f.rule.id for f in rep.findings] == ["KF-TST-001"]
    assert rep.hidden == 1 and rep.counts[Status.FAIL] == 2


def test_annotation_suppression_needs_reason() -> None:
    assert parse_ignore_annotation("KF-TST-001=legacy agent, host-pid , KF-X=") == (
        {"KF-TST-001": "legacy agent"},
        [
            "kubefort.io/ignore: 'host-pid' has no reason (write host-pid=<reason>); not applied",
            "kubefort.io/ignore: 'KF-X' has no reason (write KF-X=<reason>); not applied",
        ],
    )
    i = inv(doc(ann='{"kubefort.io/ignore": "host-pid=node agent needs it"}'))
    rep = evaluate([host_pid], i)
    assert rep.findings[0].suppressed and rep.findings[0].suppression == "annotation: node agent needs it"
    assert rep.counts[Status.SUPPRESSED] == 1 and rep.exit_code() == 0
    assert rep.summary()["suppressed"] == 1


def test_config_exceptions_and_expiry(tmp_path: Path) -> None:
    cfg = tmp_path / ".kubefort.yaml"
    cfg.write_text(
        "exceptions:\n"
        "  - rules: [KF-TST-001]\n    namespaces: [shop]\n    names: ['we*']\n    reason: approved\n    owner: sre\n"
        "  - rules: [host-pid]\n    names: [other]\n    reason: old\n    expires: 2020-01-01\n"
    )
    c = load_config(str(cfg))
    sup = Suppressor(c.exceptions, today=dt.date(2026, 1, 1))
    rep = evaluate([host_pid], inv(doc("web"), doc("other")), suppressor=sup)
    by = {f.object.name: f for f in rep.findings}
    assert by["web"].suppressed and by["web"].suppression == "config: approved (owner sre)"
    assert not by["other"].suppressed
    assert any("expired on 2020-01-01" in n for n in rep.notes)


@pytest.mark.parametrize(
    "text,msg",
    [
        ("exceptions:\n  - rules: [KF-TST-001]\n", "reason"),
        ("nonsense: 1\n", "unknown key"),
        ("exceptions:\n  - rules: [X]\n    reason: r\n    expires: someday\n", "date"),
        ("rules: {enable: [x], foo: [y]}\n", "enable"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, msg: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=msg):
        load_config(str(cfg))


def test_baseline_marks_known_findings(tmp_path: Path) -> None:
    i = inv(doc("web"))
    first = evaluate([host_pid], i)
    out = tmp_path / "base.json"
    import io

    buf = io.StringIO()
    get_reporter(Format.JSON).render(first, buf)
    out.write_text(buf.getvalue())
    opts = ScanOptions(baseline=str(out), rules=["KF-TST-001"])
    rep = scan_inventory(inv(doc("web"), doc("new")), opts, registry=REG)
    by = {f.object.name: f for f in rep.findings}
    assert by["web"].suppressed and by["web"].suppression == "baseline"
    assert not by["new"].suppressed


def test_unknown_rule_and_bad_values_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="unknown rule"):
        scan_inventory(inv(doc()), ScanOptions(rules=["KF-NOPE-001"]), registry=REG)
    with pytest.raises(UsageError, match="severity"):
        scan_inventory(inv(doc()), ScanOptions(fail_on="severe"), registry=REG)
    with pytest.raises(UsageError, match="--pss"):
        scan_inventory(inv(doc()), ScanOptions(pss="strict"), registry=REG)


def test_unknown_parameter_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / ".kubefort.yaml").write_text("params:\n  no_such_param: 1\n")
    (tmp_path / "d.yaml").write_text(doc())
    with pytest.raises(ConfigError, match="unknown parameter"):
        scan(ScanOptions(paths=[str(tmp_path)]), registry=REG)


def test_rule_selection() -> None:
    assert [r.meta.id for r in REG.select(only=["host-pid"])] == ["KF-TST-001"]
    assert "KF-TST-002" not in [r.meta.id for r in REG.select(skip=["KF-TST-002"])]
    assert len(REG.select(only=["KF-TST-*"])) == 4


def test_fail_on_threshold() -> None:
    rep = evaluate([low_sub], inv(doc()), fail_on=Severity.HIGH)
    assert rep.exit_code() == 0
    rep = evaluate([low_sub], inv(doc()), fail_on=Severity.LOW)
    assert rep.exit_code() == 1


def test_format_path() -> None:
    assert format_path(("spec", "containers", 0, "securityContext")) == "spec.containers[0].securityContext"
    assert (
        format_path(("metadata", "annotations", "kubefort.io/ignore")) == 'metadata.annotations["kubefort.io/ignore"]'
    )


def test_json_contract_shape() -> None:
    import io

    rep = evaluate([host_pid], inv(doc()))
    buf = io.StringIO()
    get_reporter(Format.JSON).render(rep, buf)
    data = json.loads(buf.getvalue())
    assert data["schema"] == "kubefort/v1"
    f = data["findings"][0]
    for key in (
        "rule_id",
        "severity",
        "title",
        "message",
        "remediation",
        "object",
        "location",
        "path",
        "refs",
        "suppressed",
    ):
        assert key in f
    assert f["object"] == {"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "shop", "name": "web"}
    assert f["location"] == {"file": "test.yaml", "line": 10}
    assert set(data) >= {"schema", "findings", "summary", "errors"}


@rule(
    id="KF-TST-005",
    slug="ns-needs-label",
    title="ns",
    severity=Severity.LOW,
    scope=Scope.NAMESPACE,
    rationale="Test.",
    remediation="Test.",
    refs={"x": "y"},
)
def ns_needs_label(ns, ctx):  # type: ignore[no-untyped-def]
    if ns.labels is None:
        raise NotEvaluated("no Namespace object")
    if "team" not in ns.labels:
        yield Violation(("metadata", "labels"), f"namespace {ns.name} has no team label")


def test_namespace_scope_with_and_without_namespace_object() -> None:
    ns_doc = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {a: b}\n"
    rep = evaluate([ns_needs_label], inv(ns_doc, doc("web", ns="shop"), doc("api", ns="other")))
    assert [(f.object.kind, f.object.name, f.location.line) for f in rep.findings] == [("Namespace", "shop", 5)]
    ne = [r for r in rep.results if r.status is Status.NOT_EVALUATED]
    assert [(r.object.name) for r in ne] == ["other"]
    # the stand-in Namespace points at the metadata.namespace line of the namespace's first object
    rep2 = evaluate([ns_needs_label], inv(doc("api", ns="other")))
    assert rep2.results[0].object.kind == "Namespace"


def test_rule_crash_detail_never_quotes_the_exception_message() -> None:
    @rule(
        id="KF-TST-006",
        slug="leaky-crash",
        title="t",
        severity=Severity.LOW,
        scope=Scope.OBJECT,
        rationale="Test.",
        remediation="Test.",
        refs={"x": "y"},
    )
    def leaky(obj, ctx):  # type: ignore[no-untyped-def]
        raise KeyError("hunter2-secret-value")

    rep = evaluate([leaky], inv(doc()))
    detail = rep.rule_errors[0].detail or ""
    assert "KeyError" in detail and "hunter2" not in detail


def test_rule_modes() -> None:
    @rule(
        id="KF-TST-007",
        slug="manifest-only",
        title="t",
        severity=Severity.LOW,
        scope=Scope.OBJECT,
        rationale="Test.",
        remediation="Test.",
        refs={"x": "y"},
        modes=["manifest"],
    )
    def manifest_only(obj, ctx):  # type: ignore[no-untyped-def]
        yield Violation((), "x")

    assert len(evaluate([manifest_only], inv(doc())).findings) == 1
    live = evaluate([manifest_only], inv(doc()), mode="cluster")
    assert not live.findings and sum(live.counts.values()) == 0
