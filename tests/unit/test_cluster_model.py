"""Cluster facts in the model and the engine, without a server: owner resolution, needs, unreadable kinds."""

from __future__ import annotations

from typing import Any

from kubefort.engine.findings import Status
from kubefort.engine.rule import Scope, Severity, Violation, kinds_read, rule
from kubefort.engine.runner import evaluate
from kubefort.model.inventory import Inventory
from kubefort.model.kinds import WORKLOAD_KINDS
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import default_registry

SRC = Source(file="cluster:test", live=True)
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def obj(
    kind: str, name: str, *, api: str = "apps/v1", owner: tuple[str, str] | None = None, **spec: Any
) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"uid-{kind}-{name}"}
    if owner is not None:
        md["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"uid-{owner[0]}-{owner[1]}",
                "controller": True,
            }
        ]
    body: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": md}
    if kind == "Pod":
        body["spec"] = TEMPLATE["spec"]
    elif kind == "CronJob":
        body["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}}
    else:
        body["spec"] = {"template": TEMPLATE, **spec}
    return body


def cluster_objects() -> list[dict[str, Any]]:
    """A Deployment with its ReplicaSet and 3 Pods, a CronJob with a Job and a Pod, a StatefulSet with 2
    Pods, a DaemonSet with a Pod, a bare Pod and a mirror Pod (controlled by its Node)."""
    out = [obj("Deployment", "web"), obj("ReplicaSet", "web-5d8f", owner=("Deployment", "web"))]
    out += [obj("Pod", f"web-5d8f-{i}", api="v1", owner=("ReplicaSet", "web-5d8f")) for i in range(3)]
    out += [
        obj("CronJob", "backup", api="batch/v1"),
        obj("Job", "backup-1", api="batch/v1", owner=("CronJob", "backup")),
    ]
    out += [obj("Pod", "backup-1-x", api="v1", owner=("Job", "backup-1"))]
    out += [obj("StatefulSet", "db")] + [obj("Pod", f"db-{i}", api="v1", owner=("StatefulSet", "db")) for i in range(2)]
    out += [obj("DaemonSet", "agent"), obj("Pod", "agent-a", api="v1", owner=("DaemonSet", "agent"))]
    out += [obj("Pod", "bare", api="v1"), obj("Pod", "kube-proxy-n1", api="v1", owner=("Node", "n1"))]
    return out


def inventory(live: bool, unreadable: dict[str, str] | None = None) -> Inventory:
    return Inventory(
        [K8sObject.from_raw(o, SRC if live else Source(file="x.yaml")) for o in cluster_objects()],
        live=live,
        unreadable=unreadable,
    )


def test_owner_resolution_reports_each_workload_once_on_its_top_owner() -> None:
    inv = inventory(live=True)
    judged = sorted(str(o.ref) for o in inv.judged())
    assert judged == [
        "CronJob/shop/backup",
        "DaemonSet/shop/agent",
        "Deployment/shop/web",
        "Pod/shop/bare",
        "Pod/shop/kube-proxy-n1",  # a mirror Pod's controller is its Node: judged itself
        "StatefulSet/shop/db",
    ]
    by_name = {o.name: o for o in inv}
    assert inv.pod_count(by_name["web"]) == 3
    assert inv.pod_count(by_name["backup"]) == 1
    assert inv.pod_count(by_name["db"]) == 2
    assert inv.pod_count(by_name["agent"]) == 1
    assert inv.pod_count(by_name["bare"]) is None
    assert inv.controller(by_name["web-5d8f-0"]) is by_name["web"]
    assert inv.controller(by_name["backup-1-x"]) is by_name["backup"]
    # pods(namespace) is what Services and policies select: each workload once
    assert sorted(p.obj.name for p in inv.pods("shop")) == ["agent", "backup", "bare", "db", "kube-proxy-n1", "web"]


def test_findings_land_on_the_owner_in_cluster_mode_only() -> None:
    rules = default_registry().select(only=["KF-IMG-001"])  # :latest / untagged image, on every workload
    live = evaluate(rules, inventory(live=True), mode="cluster")
    assert sorted(str(f.object) for f in live.findings) == [
        "CronJob/shop/backup",
        "DaemonSet/shop/agent",
        "Deployment/shop/web",
        "Pod/shop/bare",
        "Pod/shop/kube-proxy-n1",
        "StatefulSet/shop/db",
    ]
    # manifests: every object as written (ownerReferences do not hide anything)
    files = evaluate(rules, inventory(live=False))
    assert len(files.findings) == len(cluster_objects())


def test_owner_cycles_and_missing_owners_do_not_hang_or_hide() -> None:
    a = obj("ReplicaSet", "a", owner=("ReplicaSet", "b"))
    b = obj("ReplicaSet", "b", owner=("ReplicaSet", "a"))
    orphan = obj("Pod", "p", api="v1", owner=("ReplicaSet", "gone"))
    inv = Inventory([K8sObject.from_raw(o, SRC) for o in (a, b, orphan)], live=True)
    assert "Pod/shop/p" in {str(o.ref) for o in inv.judged()}


@rule(
    id="KF-TEST-901",
    slug="t1",
    title="t",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Deployment"],
    cross_object=True,
    needs=["NetworkPolicy"],
    rationale="r",
    remediation="r",
)
def _needs_netpol(o: K8sObject, ctx: Any) -> list[Violation]:
    return []


@rule(
    id="KF-TEST-902",
    slug="t2",
    title="t",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Deployment"],
    rationale="r",
    remediation="r",
)
def _local(o: K8sObject, ctx: Any) -> list[Violation]:
    return []


@rule(
    id="KF-TEST-903",
    slug="t3",
    title="t",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Deployment"],
    cross_object=True,
    rationale="r",
    remediation="r",
)
def _undeclared(o: K8sObject, ctx: Any) -> list[Violation]:
    return []


def test_a_rule_that_needs_an_unreadable_kind_is_not_evaluated_never_passed() -> None:
    why = "cannot list networkpolicies: forbidden"
    report = evaluate([_needs_netpol, _local, _undeclared], inventory(live=True, unreadable={"NetworkPolicy": why}))
    by_rule = {r.rule.id: r for r in report.results}
    assert by_rule["KF-TEST-901"].status is Status.NOT_EVALUATED
    assert by_rule["KF-TEST-901"].detail == f"needs NetworkPolicy: {why}"
    # a cross-object rule that does not say what it reads: any unread kind may matter
    assert by_rule["KF-TEST-903"].status is Status.NOT_EVALUATED
    assert "KF-TEST-902" not in by_rule  # judged from the object alone: passes
    assert report.counts[Status.PASS] == 1
    # an unread kind the rule does not need changes nothing
    clean = evaluate([_needs_netpol], inventory(live=True, unreadable={"Secret": "cannot list secrets: forbidden"}))
    assert clean.counts[Status.PASS] == 1 and not clean.results


def test_namespace_rules_check_their_needs() -> None:
    rules = default_registry().select(only=["KF-NET-001"])
    report = evaluate(
        rules,
        inventory(live=True, unreadable={"NetworkPolicy": "cannot list networkpolicies: forbidden"}),
        mode="cluster",
    )
    assert [r.status for r in report.results] == [Status.NOT_EVALUATED]
    assert report.counts[Status.PASS] == 0


def test_kinds_read_is_what_rules_judge_and_need() -> None:
    metas = [r.meta for r in default_registry()]
    kinds = kinds_read(metas)
    assert kinds >= WORKLOAD_KINDS
    assert {
        "NetworkPolicy",
        "Namespace",
        "Service",
        "ClusterRole",
        "RoleBinding",
        "ResourceQuota",
        "RuntimeClass",
    } <= kinds
    assert kinds_read([_needs_netpol.meta]) == {"Deployment", "NetworkPolicy"}
    # every declared need of the catalogue names a kind (no typo silently reads nothing)
    for m in metas:
        for k in m.needs or ():
            assert k[:1].isupper(), (m.id, k)


# -- group-qualified kinds (model.kinds.split_group_kind) ------------------------------------------------


@rule(
    id="KF-TEST-904",
    slug="t4",
    title="t",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Policy.kyverno.io", "ConfigMap"],
    needs=["Schedule.velero.io", "Secret"],
    rationale="r",
    remediation="r",
)
def _qualified(o: K8sObject, ctx: Any) -> list[Violation]:
    return [Violation((), "judged")]


def _policy(api: str, name: str) -> K8sObject:
    return K8sObject.from_raw({"apiVersion": api, "kind": "Policy", "metadata": {"name": name, "namespace": "a"}}, SRC)


def test_a_group_qualified_kind_is_judged_in_its_group_only() -> None:
    m = _qualified.meta
    assert m.kinds == {"Policy", "ConfigMap"} and m.groups == {"Policy": frozenset({"kyverno.io"})}
    assert m.own_kinds() == {"Policy.kyverno.io", "ConfigMap"}
    assert kinds_read([m]) == {"Policy.kyverno.io", "ConfigMap", "Schedule.velero.io", "Secret"}
    inv = Inventory(
        [
            _policy("kyverno.io/v1", "kyverno"),
            _policy("config.kio.kasten.io/v1alpha1", "k10"),
            _policy("audit.k8s.io/v1", "audit"),
        ]
    )
    report = evaluate([_qualified], inv)
    assert {f.object.name for f in report.findings} == {"kyverno"}  # the others get no result at all
    assert [r.object.name for r in report.results] == ["kyverno"] and report.counts[Status.PASS] == 0


def test_a_group_qualified_need_is_blocked_by_its_group_or_its_whole_kind() -> None:
    m = _qualified.meta
    why = "cannot list schedules.velero.io: forbidden"
    assert m.blocked_by({"Schedule.velero.io": why}) == f"needs Schedule.velero.io: {why}"
    # a snapshot saved when the kind was read in every group
    assert m.blocked_by({"Schedule": why}) == f"needs Schedule.velero.io: {why}"
    assert m.blocked_by({"Schedule.k8up.io": why}) is None  # another tool's Schedule is not needed


def test_the_reader_lists_a_group_qualified_kind_in_its_group_only() -> None:
    from kubefort.loading.cluster import ClusterRead
    from kubefort.loading.cluster.discovery import Discovery, ResourceType
    from kubefort.loading.cluster.reader import Unreadable

    def t(group: str, kind: str, resource: str) -> ResourceType:
        return ResourceType(group=group, version="v1", resource=resource, kind=kind, namespaced=True, verbs=("list",))

    kyverno, k10 = t("kyverno.io", "Policy", "policies"), t("config.kio.kasten.io", "Policy", "policies")
    velero, k8up = t("velero.io", "Schedule", "schedules"), t("k8up.io", "Schedule", "schedules")
    disc = Discovery(resources=[kyverno, k10, velero, k8up])
    assert disc.for_kinds(["Policy.kyverno.io", "Schedule"]) == [k8up, kyverno, velero]
    read = ClusterRead(
        context="c",
        server="s",
        namespace=None,
        server_version={},
        discovery=disc,
        kinds=["Policy.kyverno.io", "Schedule"],
        unreadable=[
            Unreadable(type=kyverno, status=403, reason="forbidden"),
            Unreadable(type=k8up, status=403, reason="no"),
        ],
    )
    # each under the name it was asked for: a need of Policy.config.kio.kasten.io is not blocked by it
    assert read.unreadable_kinds() == {"Policy.kyverno.io": "forbidden", "Schedule": "no"}
