"""RBAC rules beyond the fixtures: cluster mode (bindings of failing roles, aggregation, dangling roleRefs,
orphaned tokens) and the default roles (the grant semantics the rules rely on, PolicyRule.coverage, are
tested in test_rbac_policy.py)."""

from __future__ import annotations

from typing import Any

from kubefort.analysis.rbac.index import RbacIndex, RoleRef
from kubefort.engine.findings import Report, Status
from kubefort.engine.runner import evaluate
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import default_registry

REGISTRY = default_registry(plugins=False)
RBAC = "rbac.authorization.k8s.io"


def _obj(raw: dict[str, Any], live: bool = True) -> K8sObject:
    return K8sObject.from_raw(raw, Source(file="<live>" if live else "manifests.yaml", live=live))


def role(
    name: str,
    rules: list[dict[str, Any]],
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    aggregate: dict[str, str] | None = None,
) -> K8sObject:
    md: dict[str, Any] = {"name": name, "labels": labels or {}}
    raw: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "Role" if namespace else "ClusterRole",
        "metadata": md,
        "rules": rules,
    }
    if namespace:
        md["namespace"] = namespace
    if aggregate is not None:
        raw["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": aggregate}]}
    return _obj(raw)


def binding(
    name: str, role_kind: str, role_name: str, subjects: list[dict[str, Any]], namespace: str | None = None
) -> K8sObject:
    md: dict[str, Any] = {"name": name}
    if namespace:
        md["namespace"] = namespace
    return _obj(
        {
            "apiVersion": f"{RBAC}/v1",
            "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
            "metadata": md,
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name},
            "subjects": subjects,
        }
    )


def sa(name: str, namespace: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def user(name: str) -> dict[str, Any]:
    return {"kind": "User", "name": name, "apiGroup": RBAC}


def run(rule_id: str, objects: list[K8sObject], mode: str = "cluster", params: dict[str, Any] | None = None) -> Report:
    report = evaluate([REGISTRY.get(rule_id)], Inventory(objects, live=mode == "cluster"), mode=mode, params=params)
    assert not report.rule_errors, [r.detail for r in report.rule_errors]
    return report


def failed(report: Report) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in report.findings:
        out.setdefault(str(f.object), []).append(f.path_str)
    return out


EXEC = [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]


# --------------------------------------------------------------------------------------------- cluster mode


def test_cluster_mode_reports_bindings_of_failing_roles_with_their_subjects() -> None:
    objs = [
        role("debugger", EXEC, "shop"),
        binding("oncall", "Role", "debugger", [user("alice"), sa("ci", "shop")], "shop"),
        binding("other", "Role", "reader", [user("bob")], "shop"),
    ]  # dangling in a live cluster: grants nothing
    report = run("KF-RBAC-009", objs)  # port-forward: the role does not fail it, neither do its bindings
    assert failed(report) == {}
    report = run("KF-RBAC-008", objs)
    assert failed(report) == {
        "Role/shop/debugger": ["rules[0].verbs"],
        "RoleBinding/shop/oncall": ["subjects[0]", "subjects[1]"],
    }
    assert not [r for r in report.results if r.status is Status.NOT_EVALUATED]
    msg = next(f.message for f in report.findings if f.object.name == "oncall")
    assert 'User "alice"' in msg and 'Role "debugger"' in msg and "pods/exec" in msg


def test_bindings_are_judged_in_manifest_mode_only_where_the_rule_says_so() -> None:
    objs = [
        role("rbac-editor", [{"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["escalate"]}], "shop"),
        binding("editors", "Role", "rbac-editor", [sa("ci", "shop")], "shop"),
    ]
    assert set(failed(run("KF-RBAC-011", objs, mode="manifest"))) == {"Role/shop/rbac-editor"}
    assert set(failed(run("KF-RBAC-011", objs))) == {"Role/shop/rbac-editor", "RoleBinding/shop/editors"}


def test_secret_reads_cluster_mode_reports_every_subject() -> None:
    objs = [binding("devs", "ClusterRole", "edit", [user("carol"), sa("deployer", "ci")], "shop")]
    manifest = run("KF-RBAC-007", objs, mode="manifest")
    assert failed(manifest) == {"RoleBinding/shop/devs": ["subjects[1]"]}
    assert {f.subcode for f in manifest.findings} == {"namespace"}
    assert failed(run("KF-RBAC-007", objs)) == {"RoleBinding/shop/devs": ["subjects[0]", "subjects[1]"]}


def test_cluster_mode_expands_aggregated_cluster_roles_at_role_level() -> None:
    agg = role("monitoring-edit", [], aggregate={"example.com/aggregate-to-monitoring-edit": "true"})
    part = role(
        "monitoring-secrets",
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
        labels={"example.com/aggregate-to-monitoring-edit": "true"},
    )
    manifest = run("KF-RBAC-007", [agg, part], mode="manifest")
    assert set(failed(manifest)) == {"ClusterRole/monitoring-secrets"}
    cluster = run("KF-RBAC-007", [agg, part])
    assert failed(cluster) == {
        "ClusterRole/monitoring-secrets": ["rules[0].verbs"],
        "ClusterRole/monitoring-edit": ["aggregationRule"],
    }
    msg = next(f.message for f in cluster.findings if f.object.name == "monitoring-edit")
    assert 'aggregated from ClusterRole "monitoring-secrets"' in msg


def test_dangling_role_ref_is_not_evaluated_in_manifest_mode_and_grants_nothing_in_a_cluster() -> None:
    objs = [binding("runner", "ClusterRole", "gone", [sa("runner", "ci")])]
    report = run("KF-RBAC-008", objs, mode="manifest")
    assert [r.status for r in report.results] == [Status.NOT_EVALUATED]
    report = run("KF-RBAC-008", objs)
    assert report.counts[Status.PASS] == 1 and not report.findings


def test_orphaned_token_secret_in_cluster_mode() -> None:
    secret = _obj(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "old-token",
                "namespace": "ci",
                "annotations": {"kubernetes.io/service-account.name": "deployer"},
            },
        }
    )
    account = _obj({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": "ci"}})
    assert [f.subcode for f in run("KF-RBAC-036", [secret]).findings] == ["orphaned"]
    assert [f.subcode for f in run("KF-RBAC-036", [secret, account]).findings] == [None]
    assert [f.subcode for f in run("KF-RBAC-036", [secret], mode="manifest").findings] == [None]


def _deployment(name: str, namespace: str, sa_name: str | None) -> K8sObject:
    spec: dict[str, Any] = {"containers": [{"name": name, "image": f"ghcr.io/acme/{name}:1.0.0"}]}
    if sa_name:
        spec["serviceAccountName"] = sa_name
    return _obj(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"template": {"spec": spec}},
        }
    )


def test_missing_service_account_in_cluster_mode() -> None:
    objs = [_deployment("api", "shop", "api"), _deployment("web", "shop", None)]
    assert failed(run("KF-RBAC-027", objs)) == {"Deployment/shop/api": ["spec.template.spec.serviceAccountName"]}
    account = _obj({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api", "namespace": "shop"}})
    assert failed(run("KF-RBAC-027", objs + [account])) == {}


def test_workload_permissions_in_cluster_mode() -> None:
    objs = [_deployment("api", "shop", "api")]
    assert failed(run("KF-RBAC-035", objs)) == {}  # a cluster without bindings for it: nothing to inherit
    assert [r.status for r in run("KF-RBAC-035", objs, mode="manifest").results] == [Status.NOT_EVALUATED]
    objs.append(binding("api-admin", "ClusterRole", "cluster-admin", [sa("api", "shop")], "shop"))
    report = run("KF-RBAC-035", objs)
    assert [f.subcode for f in report.findings] == [
        "KF-RBAC-001+KF-RBAC-005+KF-RBAC-007+KF-RBAC-010+KF-RBAC-011+KF-RBAC-012+KF-RBAC-013"
    ]  # no nodes in a namespace


def test_workload_permissions_message_stays_short_however_many_namespaces_grant() -> None:
    """system:authenticated bound to read Secrets in N namespaces: every workload holds N grants; the message names
    five and counts the rest, so the report grows with the workloads, not workloads x namespaces."""
    objs = [
        _deployment("api", "shop", "api"),
        role("exec", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
    ]
    for i in range(8):
        everyone = {"kind": "Group", "name": "system:authenticated", "apiGroup": RBAC}
        objs.append(binding(f"everyone-exec-{i}", "ClusterRole", "exec", [everyone], f"ns{i}"))
    (f,) = run("KF-RBAC-035", objs).findings
    assert f.message.count("ns") >= 5 and f.message.endswith("and 3 more (kubefort rbac permissions lists them)")


def test_admin_allow_list_accepts_kube_system_accounts_only() -> None:
    objs = [binding("helm", "ClusterRole", "cluster-admin", [sa("helm", "kube-system"), sa("helm", "tools")])]
    report = run(
        "KF-RBAC-005", objs, mode="manifest", params={"rbac_admin_allow": ["system:serviceaccount:kube-system:helm"]}
    )
    assert failed(report) == {"ClusterRoleBinding/helm": ["subjects[1]"]}


# --------------------------------------------------------------------------------------------- roles and grants


def test_include_system_judges_default_roles() -> None:
    edit = role("edit", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    assert failed(run("KF-RBAC-007", [edit], mode="manifest")) == {}
    assert set(failed(run("KF-RBAC-007", [edit], mode="manifest", params={"include_system": True}))) == {
        "ClusterRole/edit"
    }


def _rule_index(objects: list[K8sObject]) -> RbacIndex:
    """The index as the rules build it: default roles assumed, aggregation computed, even live."""
    return RbacIndex.for_inventory(Inventory(objects, live=True), builtin_roles=True, aggregate=True)


def test_default_roles_aggregate_transitively() -> None:
    idx = _rule_index([])
    admin = idx.roles[RoleRef("ClusterRole", "admin")]
    assert admin.builtin and admin.aggregated
    sources = {e.source.name for e in admin.sources}
    assert sources == {"system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view"}
    assert any(e.rule.coverage("create", RBAC, "rolebindings", namespaced=True) == 2 for e in admin.sources)
    view = idx.roles[RoleRef("ClusterRole", "view")]
    assert not any(e.rule.coverage("get", "", "secrets", namespaced=True) for e in view.sources)


def test_input_roles_join_default_aggregations() -> None:
    crd_admin = role(
        "certificates-admin",
        [{"apiGroups": ["cert-manager.io"], "resources": ["certificates"], "verbs": ["*"]}],
        labels={"rbac.authorization.k8s.io/aggregate-to-edit": "true"},
    )
    idx = _rule_index([crd_admin])
    assert any(e.source.name == "certificates-admin" for e in idx.roles[RoleRef("ClusterRole", "admin")].sources)
    # the ClusterRoles that pass its rules on, nearest first
    assert idx.aggregators_of(RoleRef("ClusterRole", "certificates-admin")) == [
        RoleRef("ClusterRole", "edit"),
        RoleRef("ClusterRole", "admin"),
    ]
