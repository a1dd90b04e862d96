"""The admission decision (kubefort.admission.review.review), without the HTTP server."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubefort.admission.config import AdmissionPolicy, load_policy
from kubefort.admission.review import ReviewError, review, review_detailed
from kubefort.engine.config import Config, ExceptionEntry
from kubefort.engine.registry import Registry
from kubefort.engine.rule import Context, Scope, Severity, Violation, rule
from kubefort.errors import ConfigError
from kubefort.rules import default_registry

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "admission"
REGISTRY = default_registry(plugins=False)


def load(name: str) -> dict[str, Any]:
    return json.loads((FIX / name).read_text())


def policy(**data: Any) -> AdmissionPolicy:
    kw = {k: data.pop(k) for k in ("rules", "fail_on", "cfg", "registry") if k in data}
    kw.setdefault("registry", REGISTRY)
    kw.setdefault("cfg", Config())
    return AdmissionPolicy.build(policy=data, **kw)


DEFAULT = policy()

PRIVILEGED_POD_SPEC = {
    "containers": [
        {"name": "agent", "image": "registry.example.com/agent:2.4.1", "securityContext": {"privileged": True}}
    ],
}


def workload(
    kind: str, name: str = "agent", namespace: str = "ops", spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    spec = copy.deepcopy(spec or PRIVILEGED_POD_SPEC)
    tmpl = {"metadata": {"labels": {"app": name}}, "spec": spec}
    api = {
        "Deployment": "apps/v1",
        "ReplicaSet": "apps/v1",
        "StatefulSet": "apps/v1",
        "DaemonSet": "apps/v1",
        "Job": "batch/v1",
        "CronJob": "batch/v1",
    }.get(kind, "v1")
    md = {"name": name, "namespace": namespace}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {**md, "labels": {"app": name}}, "spec": spec}
    if kind == "PodTemplate":
        return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": md, "template": tmpl}
    if kind == "CronJob":
        return {
            "apiVersion": api,
            "kind": kind,
            "metadata": md,
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": tmpl}}},
        }
    body: dict[str, Any] = {"template": tmpl}
    if kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
        body["selector"] = {"matchLabels": {"app": name}}
    if kind == "ReplicationController":
        body["selector"] = {"app": name}
    return {"apiVersion": api, "kind": kind, "metadata": md, "spec": body}


def ar(
    obj: dict[str, Any] | None,
    *,
    op: str = "CREATE",
    old: dict[str, Any] | None = None,
    user: str = "alice",
    groups: tuple[str, ...] = ("devs", "system:authenticated"),
    dry_run: bool = False,
    sub: str | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    src = obj or old or {}
    req: dict[str, Any] = {
        "uid": "7d0a3c2e-0001",
        "operation": op,
        "kind": {"group": "", "version": "v1", "kind": src.get("kind", "")},
        "name": src.get("metadata", {}).get("name", ""),
        "namespace": namespace if namespace is not None else src.get("metadata", {}).get("namespace", ""),
        "userInfo": {"username": user, "groups": list(groups)},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
    }
    if sub:
        req["subResource"] = sub
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}


# -- the shapes the API server sends --------------------------------------------------------------


def test_compliant_deployment_is_allowed_without_warnings() -> None:
    body = load("create-deployment-hardened.json")
    resp = review(body, DEFAULT)
    assert resp["apiVersion"] == "admission.k8s.io/v1" and resp["kind"] == "AdmissionReview"
    assert resp["response"] == {"uid": body["request"]["uid"], "allowed": True}


def test_privileged_pod_is_denied_with_rule_path_and_fix() -> None:
    body = load("create-pod-privileged.json")
    d = review_detailed(body, DEFAULT)
    assert not d.allowed and d.outcome == "deny"
    assert d.denied == ["KF-POD-001", "KF-POD-003"]
    status = d.response["response"]["status"]
    assert status["code"] == 403
    msg = status["message"]
    assert "KF-POD-001 Privileged container (critical) at spec.containers[0].securityContext.privileged" in msg
    assert "KF-POD-003" in msg and "at spec.hostPID" in msg
    assert msg.count("Fix: ") == 2
    # lower findings become warnings, most severe first, within the API server's limits
    warnings = d.response["response"]["warnings"]
    assert warnings and all(len(w) <= 256 for w in warnings) and len(warnings) <= 20
    assert any("KF-POD-002 (medium)" in w for w in warnings)
    sev = [w.split("(", 1)[1].split(")", 1)[0] for w in warnings if w.startswith("kubefort KF-")]
    order = [Severity.parse(s) for s in sev]
    assert order == sorted(order, reverse=True)
    assert d.response["response"]["auditAnnotations"]["denied-rules"] == "KF-POD-001,KF-POD-003"


def test_dry_run_gets_the_same_decision_and_is_marked() -> None:
    real = review_detailed(load("create-pod-privileged.json"), DEFAULT)
    dry = review_detailed(load("create-pod-privileged-dryrun.json"), DEFAULT)
    assert dry.dry_run and not real.dry_run
    assert dry.denied == real.denied and dry.allowed is False
    assert dry.log_record(0.001)["dry_run"] is True


def test_delete_and_connect_are_allowed_unjudged() -> None:
    d = review_detailed(load("delete-pod.json"), DEFAULT)
    assert d.allowed and not d.judged and d.reason == "delete"
    assert d.response["response"] == {"uid": d.uid, "allowed": True}
    d = review_detailed(load("connect-pod-exec.json"), DEFAULT)
    assert d.allowed and not d.judged and d.reason == "connect (exec)"


def test_update_introducing_privilege_is_denied() -> None:
    d = review_detailed(load("update-deployment-privileged.json"), DEFAULT)
    assert d.denied == ["KF-POD-001", "KF-POD-005"]


def test_update_that_only_touches_bookkeeping_is_allowed() -> None:
    body = load("update-deployment-finalizer-only.json")
    d = review_detailed(body, DEFAULT)
    assert d.allowed and not d.judged and d.reason == "update changes nothing kubefort reads"
    # judged when the policy asks for it: the object itself is privileged
    strict = policy(judge_unchanged_updates=True)
    assert review_detailed(body, strict).denied == ["KF-POD-001", "KF-POD-005"]


def test_update_of_an_object_being_deleted_is_allowed() -> None:
    body = load("update-deployment-privileged.json")
    body["request"]["object"]["metadata"]["deletionTimestamp"] = "2026-11-20T10:00:00Z"
    d = review_detailed(body, DEFAULT)
    assert d.allowed and d.reason == "object is being deleted"


def test_ephemeral_container_subresource_judges_the_pod() -> None:
    d = review_detailed(load("update-pod-ephemeralcontainers.json"), DEFAULT)
    assert d.sub_resource == "ephemeralcontainers" and d.judged
    assert {"KF-POD-001", "KF-POD-011", "KF-POD-012"} <= set(d.denied)
    assert "spec.ephemeralContainers[0].securityContext.privileged" in d.response["response"]["status"]["message"]


@pytest.mark.parametrize("sub", ["status", "exec", "attach", "portforward", "binding", "eviction", "scale"])
def test_other_subresources_are_allowed(sub: str) -> None:
    body = ar(workload("Pod"), op="UPDATE", old=workload("Pod"), sub=sub)
    d = review_detailed(body, DEFAULT)
    assert d.allowed and d.reason == f"subresource {sub}"


@pytest.mark.parametrize(
    "kind",
    [
        "Pod",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "PodTemplate",
    ],
)
@pytest.mark.parametrize("op", ["CREATE", "UPDATE"])
def test_every_workload_kind(kind: str, op: str) -> None:
    obj = workload(kind)
    old = None
    if op == "UPDATE":
        old = copy.deepcopy(obj)
        old["metadata"]["labels"] = {"version": "1"}
    d = review_detailed(ar(obj, op=op, old=old), DEFAULT)
    assert d.kind == kind and d.namespace == "ops" and d.name == "agent"
    assert "KF-POD-001" in d.denied and not d.allowed


def test_kinds_no_rule_applies_to_are_allowed_quickly() -> None:
    only = policy(rules=["KF-POD-001"])
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "x", "namespace": "ops"}}
    d = review_detailed(ar(lease), only)
    assert d.allowed and not d.judged and d.reason == "no rule applies to this kind"


# -- modes and thresholds ------------------------------------------------------------------------


def test_fail_on_lowers_the_threshold() -> None:
    d = review_detailed(load("create-pod-privileged.json"), policy(fail_on="medium"))
    assert {"KF-POD-001", "KF-POD-002", "KF-POD-021"} <= set(d.denied)
    assert all(REGISTRY.get(r).meta.severity >= Severity.MEDIUM for r in d.denied)


def test_warn_mode_allows_with_warnings() -> None:
    p = policy(modes=[{"rules": ["KF-POD-*"], "mode": "warn"}])
    d = review_detailed(load("create-pod-privileged.json"), p)
    assert d.allowed and d.outcome == "warn" and not d.denied
    assert any(w.startswith("kubefort KF-POD-001 (critical)") for w in d.response["response"]["warnings"])


def test_audit_mode_allows_and_only_logs() -> None:
    p = policy(modes=[{"rules": ["KF-POD-001", "KF-POD-003"], "mode": "audit"}, {"rules": ["KF-*"], "mode": "audit"}])
    d = review_detailed(load("create-pod-privileged.json"), p)
    assert d.allowed and d.outcome == "audit"
    assert "KF-POD-001" in d.audited and "warnings" not in d.response["response"]
    assert "KF-POD-001" in d.response["response"]["auditAnnotations"]["audited-rules"]
    assert d.log_record(0.002)["audited_rules"] == d.audited


def test_enforce_set_with_its_own_threshold() -> None:
    p = policy(modes=[{"rules": ["KF-POD-021"], "mode": "enforce", "fail_on": "medium"}])
    d = review_detailed(load("create-pod-privileged.json"), p)
    assert d.denied == ["KF-POD-001", "KF-POD-003", "KF-POD-021"]
    # the first matching entry wins
    p = policy(modes=[{"rules": ["KF-POD-001"], "mode": "warn"}, {"rules": ["KF-POD-*"], "mode": "enforce"}])
    assert review_detailed(load("create-pod-privileged.json"), p).denied == ["KF-POD-003"]


# -- exemptions and suppressions -----------------------------------------------------------------


def test_kube_system_is_exempt_by_default() -> None:
    obj = workload("DaemonSet", namespace="kube-system")
    d = review_detailed(ar(obj), DEFAULT)
    assert d.allowed and not d.judged and d.reason.startswith("exempt: ")
    # its own Namespace object too
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kube-system", "labels": {"pod-security.kubernetes.io/enforce": "privileged"}},
    }
    assert review_detailed(ar(ns, namespace=""), DEFAULT).reason.startswith("exempt: ")
    judged = policy(exempt_namespaces=[])
    assert not review_detailed(ar(obj), judged).allowed


def test_exemption_by_namespace_user_group_and_rule() -> None:
    p = policy(
        exemptions=[
            {"namespaces": ["monitoring*"], "rules": ["KF-POD-001"], "reason": "node exporter"},
            {"users": ["system:serviceaccount:argocd:*"], "reason": "GitOps applies reviewed manifests"},
            {"groups": ["break-glass"], "kinds": ["Pod"], "reason": "incident response"},
        ]
    )
    obj = workload("DaemonSet", namespace="monitoring-system")
    d = review_detailed(ar(obj), p)
    assert d.exempted == ["KF-POD-001"] and d.allowed
    assert d.response["response"]["auditAnnotations"]["exempted-rules"] == "KF-POD-001"
    # the same object elsewhere is denied
    assert not review_detailed(ar(workload("DaemonSet")), p).allowed
    d = review_detailed(
        ar(workload("Deployment"), user="system:serviceaccount:argocd:argocd-application-controller"), p
    )
    assert d.allowed and d.reason == "exempt: GitOps applies reviewed manifests"
    assert review_detailed(ar(workload("Pod"), groups=("break-glass",)), p).allowed
    assert not review_detailed(ar(workload("Deployment"), groups=("break-glass",)), p).allowed


def test_ignore_annotation_and_config_exceptions_apply_as_in_scan() -> None:
    obj = workload("Deployment")
    obj["metadata"]["annotations"] = {"kubefort.io/ignore": "KF-POD-001=vendor agent, audited 2026-10"}
    d = review_detailed(ar(obj), DEFAULT)
    assert d.allowed and d.suppressed == ["KF-POD-001"]
    cfg = Config(exceptions=[ExceptionEntry(rules=("KF-POD-001",), namespaces=("ops",), reason="agents")])
    d = review_detailed(ar(workload("Deployment")), policy(cfg=cfg))
    assert d.allowed and d.suppressed == ["KF-POD-001"]


# -- rule errors, limits, secrets ----------------------------------------------------------------


@rule(
    id="KF-TST-001",
    slug="always-crashes",
    title="Crashes",
    severity=Severity.HIGH,
    scope=Scope.POD,
    remediation="None.",
    rationale="Test.",
)
def _crashing(pod: Any, ctx: Context) -> Iterator[Violation]:
    raise KeyError("hunter2")


def test_rule_errors_warn_by_default_or_deny() -> None:
    reg = Registry([_crashing])
    obj = ar(workload("Pod"))
    d = review_detailed(obj, AdmissionPolicy.build(registry=reg, cfg=Config()))
    assert d.allowed and d.rule_errors == ["KF-TST-001"] and d.outcome == "warn"
    assert any("KF-TST-001" in w for w in d.response["response"]["warnings"])
    d = review_detailed(obj, AdmissionPolicy.build(registry=reg, cfg=Config(), policy={"on_rule_error": "deny"}))
    assert not d.allowed and d.denied == ["KF-TST-001"]
    assert "hunter2" not in json.dumps(d.response) and "hunter2" not in json.dumps(d.log_record(0.0))


def test_no_secret_value_in_response_or_audit_log() -> None:
    spec = {
        "containers": [
            {
                "name": "api",
                "image": "registry.example.com/api:1.0",
                "env": [{"name": "DB_PASSWORD", "value": "Sup3r-S3cret-Passw0rd!"}],
            }
        ]
    }
    obj = workload("Deployment", spec=spec)
    obj["metadata"]["annotations"] = {"token": "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2}
    d = review_detailed(ar(obj), DEFAULT)
    assert "KF-SEC-001" in d.denied
    text = json.dumps(d.response) + json.dumps(d.log_record(0.001))
    assert "Sup3r-S3cret" not in text and "a1B2c3D4" not in text


def test_many_findings_are_capped() -> None:
    spec = {
        "containers": [
            {"name": f"c{i}", "image": "busybox", "securityContext": {"privileged": True}} for i in range(60)
        ]
    }
    d = review_detailed(ar(workload("Pod", spec=spec)), DEFAULT)
    msg = d.response["response"]["status"]["message"]
    assert "more finding(s)" in msg and msg.count("\n- ") <= 27
    warnings = d.response["response"]["warnings"]
    assert len(warnings) <= 20 and sum(map(len, warnings)) <= 4096
    assert "more warning(s)" in warnings[-1]


def test_log_record_fields() -> None:
    d = review_detailed(load("update-deployment-privileged.json"), DEFAULT)
    rec = d.log_record(0.0042)
    assert {"uid", "kind", "namespace", "name", "operation", "user", "decision", "denied_rules", "latency_ms"} <= set(
        rec
    )
    assert rec["decision"] == "deny" and rec["latency_ms"] == 4.2 and rec["user"] == "alice@shop.example"
    assert "object" not in rec


# -- malformed requests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,fragment",
    [
        ([], "JSON object"),
        ({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}, "admission.k8s.io/v1"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "Pod"}, "kind AdmissionReview"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}, "no 'request'"),
        ({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}, "uid"),
        (
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"uid": "u", "operation": "PATCH"},
            },
            "operation",
        ),
        (
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {"uid": "u", "operation": "CREATE", "object": "x"},
            },
            "request.object",
        ),
    ],
)
def test_malformed_reviews_raise(body: Any, fragment: str) -> None:
    with pytest.raises(ReviewError) as e:
        review(body, DEFAULT)
    assert fragment in str(e.value) and e.value.code == 400


def test_policy_file_validation(tmp_path: Path) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text("modes:\n  - rules: [KF-POD-*]\n    mode: warn\nexemptions:\n  - namespaces: [ci]\n    reason: ci\n")
    pol = AdmissionPolicy.build(registry=REGISTRY, cfg=Config(), policy=load_policy(str(p)), policy_path=str(p))
    assert pol.mode_for("KF-POD-001")[0].value == "warn"
    for bad, msg in [
        ({"colour": 1}, "unknown key"),
        ({"modes": [{"rules": ["KF-POD-001"], "mode": "block"}]}, "enforce, warn or audit"),
        ({"modes": [{"rules": ["KF-NOPE-001"], "mode": "warn"}]}, "unknown rule"),
        ({"exemptions": [{"namespaces": ["x"]}]}, "reason"),
        ({"exemptions": [{"reason": "why"}]}, "must name"),
        ({"on_rule_error": "explode"}, "on_rule_error"),
        ({"fail_on": "severe"}, "fail_on"),
    ]:
        with pytest.raises(ConfigError, match=msg):
            AdmissionPolicy.build(registry=REGISTRY, cfg=Config(), policy=bad)
    p.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_policy(str(p))
