"""The rules that judge a whole cluster (catalogue input ``cluster``): the engine's declaration
(``RuleMeta.whole_cluster``, ``Scope.CLUSTER``), a cluster scan through the test API server, a type the
server refuses, a scan of one namespace, and the node audit's reading of the PodSecurity configuration."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.analysis.node.collect import collect_node
from kubefort.api import ScanOptions, audit_node, scan
from kubefort.engine.findings import Status
from kubefort.engine.rule import NEEDS_CLUSTER, Context, Scope, Severity, Violation, rule
from kubefort.engine.runner import Plan, cluster_anchor, evaluate
from kubefort.loading.cluster import ClusterSource
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
EXEC_PLUGIN = ROOT / "tests" / "kubeapi" / "exec_plugin.py"
REGISTRY = default_registry(plugins=False)
CLUSTER_RULES = sorted(r.meta.id for r in REGISTRY if r.meta.whole_cluster)


# -- the engine -------------------------------------------------------------------------------------------


@rule(
    id="KF-TEST-001",
    slug="test-cluster-wide",
    title="t",
    severity=Severity.LOW,
    scope=Scope.CLUSTER,
    needs=["RuntimeClass"],
    rationale="r.",
    remediation="r.",
    refs={"kubefort": "test"},
)
def _no_runtime_class(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    if not inv.of_kind("RuntimeClass"):
        yield Violation((), "no RuntimeClass")


@rule(
    id="KF-TEST-002",
    slug="test-per-namespace",
    title="t",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    whole_cluster=True,
    rationale="r.",
    remediation="r.",
    refs={"kubefort": "test"},
)
def _unlabelled(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not obj.labels:
        yield Violation(("metadata",), "no labels")


def _live(*raws: dict[str, Any], context: str = "prod") -> list[K8sObject]:
    return [K8sObject.from_raw(r, Source(file=f"cluster:{context}", live=True)) for r in raws]


NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}


def test_whole_cluster_rules_declare_it_and_imply_cross_object() -> None:
    assert CLUSTER_RULES == [
        "KF-ADM-001",
        "KF-ADM-007",
        "KF-ADM-008",
        "KF-ADM-009",
        "KF-ADM-010",
        "KF-ADM-013",
        "KF-BAK-001",
        "KF-BAK-002",
        "KF-BAK-003",
        "KF-MTLS-001",
        "KF-MTLS-006",
        "KF-RT-002",
        "KF-RT-003",
        "KF-SEC-007",
    ]
    for rid in CLUSTER_RULES:
        m = REGISTRY.get(rid).meta
        assert m.cross_object and m.needs_others("Namespace") and m.needs is not None, rid
    assert _no_runtime_class.meta.whole_cluster and not REGISTRY.get("KF-ADM-006").meta.whole_cluster


def test_on_manifests_not_evaluated_never_passed() -> None:
    inv = Inventory([K8sObject.from_raw(NS, Source(file="ns.yaml"))])
    report = evaluate([_no_runtime_class, _unlabelled], inv)
    assert not report.findings and not report.passes
    assert sorted((str(r.object), r.status, r.detail) for r in report.results) == [
        ("Cluster/cluster", Status.NOT_EVALUATED, NEEDS_CLUSTER),
        ("Namespace/shop", Status.NOT_EVALUATED, NEEDS_CLUSTER),
    ]
    assert {r.object.api_version for r in report.results if r.object.kind == "Cluster"} == {"kubefort.io/v1"}


def test_on_a_live_inventory_judged_once_on_the_cluster_anchor() -> None:
    inv = Inventory(_live(NS), live=True)
    report = evaluate([_no_runtime_class, _unlabelled], inv, mode="cluster")
    assert sorted((str(f.object), f.message) for f in report.findings) == [
        ("Cluster/prod", "no RuntimeClass"),
        ("Namespace/shop", "no labels"),
    ]
    anchor = cluster_anchor(inv)
    assert anchor.locate().file == "cluster:prod" and anchor.namespace is None
    # a kind it needs could not be read: not evaluated with that reason
    inv.unreadable["RuntimeClass"] = "cannot list runtimeclasses: forbidden"
    blocked = evaluate([_no_runtime_class], inv, mode="cluster")
    assert [(r.status, r.detail) for r in blocked.results] == [
        (Status.NOT_EVALUATED, "needs RuntimeClass: cannot list runtimeclasses: forbidden")
    ]


def test_a_namespace_is_not_the_whole_cluster() -> None:
    inv = Inventory(_live(NS), live=True)
    inv.partial = "the scan read namespace shop only"
    report = evaluate([_no_runtime_class, _unlabelled], inv, mode="cluster")
    assert not report.findings
    assert {r.detail for r in report.results} == {"needs the whole cluster: the scan read namespace shop only"}


def test_the_webhook_plan_leaves_them_out() -> None:
    plan = Plan([_no_runtime_class, _unlabelled], mode="admission", local_only=True)
    assert plan.cluster_rules == [] and plan.for_kind("Namespace") == ()


def test_suppressions_apply_to_the_cluster_anchor() -> None:
    from kubefort.engine.suppression import Suppressor

    inv = Inventory(_live(NS), live=True)
    report = evaluate([_no_runtime_class], inv, mode="cluster", suppressor=Suppressor(exceptions=[]))
    assert [f.suppressed for f in report.findings] == [False]


# -- a cluster through the test API server -----------------------------------------------------------------


def _pod_spec(image: str, **extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "app", "image": image}], **extra}


def _deployment(ns: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": _pod_spec(f"registry.example.com/{ns}/{name}:1.0.0", **spec),
            },
        },
    }


def small_cluster() -> list[dict[str, Any]]:
    """A kubeadm-like cluster with Istio, Velero and Gatekeeper, and what each cluster rule looks at."""
    webhook = {
        "name": "validation.gatekeeper.sh",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "failurePolicy": "Ignore",
        "clientConfig": {"service": {"name": "gatekeeper-webhook-service", "namespace": "gatekeeper-system"}},
        "rules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"], "resources": ["*"]}],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "payments", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "kube-apiserver-cp-1",
                "namespace": "kube-system",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": "cp-1", "controller": True}],
            },
            "spec": {
                "hostNetwork": True,
                "containers": [
                    {
                        "name": "kube-apiserver",
                        "image": "registry.k8s.io/kube-apiserver:v1.33.2",
                        "command": ["kube-apiserver", "--enable-admission-plugins=NodeRestriction"],
                    }
                ],
            },
        },
        _deployment("istio-system", "istiod"),
        _deployment("shop", "web", runtimeClassName="gvisor"),
        _deployment("payments", "ledger"),
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "crun"}, "handler": "crun"},
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "ledger-data", "namespace": "payments"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        {
            "apiVersion": "velero.io/v1",
            "kind": "Schedule",
            "metadata": {"name": "nightly", "namespace": "velero"},
            "spec": {"schedule": "0 1 * * *", "template": {"excludedNamespaces": ["payments"]}},
            "status": {"phase": "Enabled", "lastBackup": "2026-03-10T01:00:03Z"},
        },
        {
            "apiVersion": "velero.io/v1",
            "kind": "Schedule",
            "metadata": {"name": "weekly", "namespace": "velero"},
            "spec": {"schedule": "0 3 * * 0", "paused": True},
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "gatekeeper-validating-webhook-configuration"},
            "webhooks": [webhook],
        },
    ]


#: (rule, object) the small cluster fails, and why
EXPECTED = {
    ("KF-ADM-001", "Namespace/shop"),  # no enforce label, built-in privileged defaults
    ("KF-ADM-001", "Namespace/velero"),
    ("KF-ADM-001", "Namespace/istio-system"),
    ("KF-ADM-008", "ValidatingWebhookConfiguration/gatekeeper-validating-webhook-configuration"),
    ("KF-ADM-009", "ValidatingWebhookConfiguration/gatekeeper-validating-webhook-configuration"),
    ("KF-ADM-010", "Cluster/cluster"),
    ("KF-BAK-002", "Schedule/velero/weekly"),  # paused
    ("KF-BAK-003", "Namespace/payments"),  # its PVC is excluded
    ("KF-MTLS-001", "Cluster/cluster"),  # Istio without a mesh-wide STRICT policy
    ("KF-MTLS-006", "Namespace/shop"),
    ("KF-MTLS-006", "Namespace/payments"),
    ("KF-RT-002", "Deployment/shop/web"),  # RuntimeClass gvisor does not exist
    ("KF-RT-003", "Cluster/cluster"),
    ("KF-SEC-007", "Cluster/cluster"),
}


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    store = Store()
    store.load_cluster(small_cluster())
    with KubeAPIServer(store) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig", exec_command=[sys.executable, str(EXEC_PLUGIN), "exec-token"])


def _scan(kubeconfig: str, tmp_path: Path, **source: Any) -> Any:
    config = tmp_path / "kubefort.yaml"
    config.write_text('params:\n  now: "2026-03-10T12:00:00Z"\n')
    opts = ScanOptions(
        cluster=ClusterSource(kubeconfig=kubeconfig, **source), rules=CLUSTER_RULES, config=str(config), workers=1
    )
    return scan(opts)


def test_cluster_scan_gives_the_expected_findings(kubeconfig: str, tmp_path: Path) -> None:
    report = _scan(kubeconfig, tmp_path, context="token")
    # the cluster anchor is named after the kubeconfig context the cluster was read with
    failed = {(f.rule.id, str(f.object).replace("Cluster/token", "Cluster/cluster")) for f in report.findings}
    assert failed == EXPECTED
    assert {f.location.file for f in report.findings if f.object.kind == "Cluster"} == {"cluster:token"}
    assert not report.rule_errors
    assert not [r for r in report.results if r.status is Status.NOT_EVALUATED]
    passed = {(m.id, str(o)) for m, o, _ in report.passes}
    assert ("KF-ADM-007", "Cluster/token") in passed  # payments enforces restricted
    assert ("KF-BAK-001", "Cluster/token") in passed
    assert ("KF-BAK-002", "Schedule/velero/nightly") in passed
    assert ("KF-ADM-013", "Namespace/shop") in passed


def test_a_forbidden_type_leaves_its_rules_not_evaluated(api: KubeAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    api.faults.forbidden.update({"runtimeclasses", "schedules"})
    report = _scan(kubeconfig, tmp_path)
    blocked = {(r.rule.id, str(r.object)) for r in report.results if r.status is Status.NOT_EVALUATED}
    assert {"KF-RT-002", "KF-RT-003", "KF-BAK-001", "KF-BAK-003"} <= {rid for rid, _ in blocked}
    for r in report.results:
        if r.rule.id in ("KF-RT-002", "KF-RT-003"):
            assert r.status is Status.NOT_EVALUATED and "cannot list runtimeclasses: forbidden" in (r.detail or "")
    judged = {f.rule.id for f in report.findings} | {m.id for m, _, _ in report.passes}
    assert not judged & {"KF-RT-002", "KF-RT-003", "KF-BAK-001", "KF-BAK-003"}
    assert {"KF-SEC-007", "KF-MTLS-001", "KF-ADM-008"} <= {f.rule.id for f in report.findings}  # the others run


def test_one_namespace_is_not_a_whole_cluster(kubeconfig: str, tmp_path: Path) -> None:
    report = _scan(kubeconfig, tmp_path, namespace="shop")
    assert not report.findings and not report.passes
    assert {r.detail for r in report.results} == {"needs the whole cluster: the scan read namespace shop only"}


def test_manifests_of_the_same_cluster_are_not_evaluated(tmp_path: Path) -> None:
    import json

    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": small_cluster()}))
    report = scan(ScanOptions(paths=[str(path)], rules=CLUSTER_RULES, workers=1))
    assert not report.findings and not report.passes and report.results
    assert {(r.status, r.detail) for r in report.results} == {(Status.NOT_EVALUATED, NEEDS_CLUSTER)}


# -- the node audit reads the PodSecurity configuration the API server reads ------------------------------


def test_node_audit_reads_the_pod_security_plugin_file(tmp_path: Path) -> None:
    manifests = tmp_path / "etc" / "kubernetes" / "manifests"
    admission = tmp_path / "etc" / "kubernetes" / "admission"
    manifests.mkdir(parents=True)
    admission.mkdir(parents=True)
    (manifests / "kube-apiserver.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: kube-apiserver, namespace: kube-system}\n"
        "spec:\n  hostNetwork: true\n  containers:\n    - name: kube-apiserver\n"
        "      image: registry.k8s.io/kube-apiserver:v1.33.2\n      command:\n        - kube-apiserver\n"
        "        - --admission-control-config-file=/etc/kubernetes/admission/config.yaml\n"
    )
    (admission / "config.yaml").write_text(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\n"
        "plugins:\n  - name: PodSecurity\n    path: pss/podsecurity.yaml\n"
    )
    (admission / "pss").mkdir()
    (admission / "pss" / "podsecurity.yaml").write_text(
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\n"
        "defaults: {enforce: privileged}\nexemptions: {namespaces: [kube-system, monitoring]}\n"
    )
    audit = collect_node(str(tmp_path))
    kinds = sorted(o.kind for o in audit.objects if o.kind.endswith("Configuration"))
    assert kinds == ["AdmissionConfiguration", "PodSecurityConfiguration"]
    result = audit_node(audit, ScanOptions(rules=["KF-ADM-006"]), registry=REGISTRY)
    findings = sorted((f.subcode, f.location.file.endswith("podsecurity.yaml")) for f in result.report.findings)
    assert findings == [("defaults", True), ("exempt_namespaces", True)]
    statuses = {c.rule.id: c.status for c in result.checks}
    assert statuses == {"KF-ADM-006": "fail"}
