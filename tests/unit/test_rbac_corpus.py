"""The RBAC engine on real manifests: kube-prometheus and Argo CD (expectations read from the manifests).

kube-prometheus (manifests/): ClusterRoles for each component bound to their ServiceAccounts in
namespace monitoring; prometheus-k8s gets per-namespace Roles in default, kube-system and monitoring;
prometheus-adapter is bound to the built-in system:auth-delegator and to the built-in Role
kube-system/extension-apiserver-authentication-reader; system:aggregated-metrics-reader joins the
built-in admin/edit/view roles through aggregation labels. Nothing is bound to cluster-admin.

Argo CD (manifests/install.yaml, applied with ``-n argocd``): argocd-application-controller holds
``*`` on ``*`` cluster-wide; argocd-server may get/patch/delete everything cluster-wide and create
and read Secrets in argocd; argocd-redis may create Secrets and read the one named argocd-redis.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubefort.analysis.rbac.escalation import escalation_paths
from kubefort.analysis.rbac.index import RbacIndex, RoleRef
from kubefort.loading.loader import load_paths
from kubefort.model.inventory import Inventory


def _index(path: Path, namespace: str = "default") -> RbacIndex:
    if not path.exists():
        pytest.skip(f"{path} is not in the shared corpus")
    loaded = load_paths([str(path)], default_namespace=namespace)
    assert not loaded.errors
    return RbacIndex.build(Inventory(loaded.objects))


@pytest.fixture(scope="module")
def kp() -> RbacIndex:
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    if not shared.is_dir():
        pytest.skip("../shared is not beside the repository")
    return _index(shared / "corpus" / "prometheus-operator__kube-prometheus" / "manifests")


@pytest.fixture(scope="module")
def argo() -> RbacIndex:
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    if not shared.is_dir():
        pytest.skip("../shared is not beside the repository")
    return _index(shared / "corpus" / "argoproj__argo-cd" / "manifests" / "install.yaml", "argocd")


def names(grants: list) -> set[str]:  # type: ignore[type-arg]
    return {str(g.subject) for g in grants}


def test_kube_prometheus_bindings_resolve(kp: RbacIndex) -> None:
    assert kp.problems == []  # every roleRef exists (two of them are built-in roles)
    assert kp.roles[RoleRef("ClusterRole", "system:auth-delegator")].builtin
    assert kp.roles[RoleRef("Role", "extension-apiserver-authentication-reader", "kube-system")].builtin


def test_kube_prometheus_who_can(kp: RbacIndex) -> None:
    assert names(kp.who_can("list", "secrets")) == {
        "ServiceAccount:monitoring:kube-state-metrics",
        "ServiceAccount:monitoring:prometheus-operator",
    }
    assert names(kp.who_can("get", "secrets", "default")) == {"ServiceAccount:monitoring:prometheus-operator"}
    assert names(kp.who_can("create", "statefulsets.apps", "monitoring")) == {
        "ServiceAccount:monitoring:prometheus-operator"
    }
    assert names(kp.who_can("get", "/metrics")) == {"ServiceAccount:monitoring:prometheus-k8s"}
    assert names(kp.who_can("get", "nodes", name="n1", subresource="metrics")) == {
        "ServiceAccount:monitoring:prometheus-k8s"
    }
    assert names(kp.who_can("create", "tokenreviews")) == {
        "ServiceAccount:monitoring:blackbox-exporter",
        "ServiceAccount:monitoring:kube-state-metrics",
        "ServiceAccount:monitoring:node-exporter",
        "ServiceAccount:monitoring:prometheus-adapter",
        "ServiceAccount:monitoring:prometheus-operator",
    }
    assert names(kp.who_can("get", "pods", "kube-system")) == {
        "ServiceAccount:monitoring:prometheus-adapter",
        "ServiceAccount:monitoring:prometheus-k8s",
    }
    assert names(kp.who_can("get", "pods", "kube-public")) == {"ServiceAccount:monitoring:prometheus-adapter"}
    assert names(kp.who_can("*", "*", None, group="*")) == set()


@pytest.mark.parametrize(
    "subject,args,kw,allowed",
    [
        ("ServiceAccount:monitoring:prometheus-k8s", ("get", "pods", "kube-system"), {}, True),
        ("ServiceAccount:monitoring:prometheus-k8s", ("get", "pods", "kube-public"), {}, False),
        ("ServiceAccount:monitoring:prometheus-k8s", ("list", "ingresses.networking.k8s.io", "default"), {}, True),
        ("ServiceAccount:monitoring:prometheus-k8s", ("get", "configmaps", "monitoring"), {}, True),
        ("ServiceAccount:monitoring:prometheus-k8s", ("get", "configmaps", "default"), {}, False),
        ("ServiceAccount:monitoring:prometheus-k8s", ("get", "/metrics/slis", None), {}, True),
        (
            "ServiceAccount:monitoring:prometheus-adapter",
            ("get", "configmaps", "kube-system"),
            {"name": "extension-apiserver-authentication"},
            True,
        ),
        (
            "ServiceAccount:monitoring:prometheus-adapter",
            ("get", "configmaps", "kube-system"),
            {"name": "coredns"},
            False,
        ),
        ("ServiceAccount:monitoring:prometheus-adapter", ("create", "subjectaccessreviews", None), {}, True),
        ("ServiceAccount:monitoring:kube-state-metrics", ("watch", "clusterrolebindings", None), {}, True),
        ("ServiceAccount:monitoring:kube-state-metrics", ("get", "secrets", "default"), {}, False),
        ("ServiceAccount:monitoring:prometheus-operator", ("delete", "pods", "default"), {}, True),
        ("ServiceAccount:monitoring:prometheus-operator", ("create", "pods", "default"), {}, False),
        ("ServiceAccount:monitoring:grafana", ("get", "pods", "monitoring"), {}, False),
    ],
)
def test_kube_prometheus_can(
    kp: RbacIndex, subject: str, args: tuple[str, ...], kw: dict[str, str], allowed: bool
) -> None:
    assert kp.can(subject, *args, **kw).allowed is allowed


def test_kube_prometheus_aggregation_into_builtin_roles(kp: RbacIndex) -> None:
    # system:aggregated-metrics-reader carries the aggregate-to-view/edit/admin labels: view gets it,
    # and admin gets it directly and again through edit <- view
    for role in ("view", "edit", "admin"):
        rules = kp.roles[RoleRef("ClusterRole", role)].rules
        assert any("metrics.k8s.io" in r.api_groups and "pods" in r.resources for r in rules), role
    assert "system:aggregated-metrics-reader" in kp.roles[RoleRef("ClusterRole", "view")].aggregated_from


def test_kube_prometheus_escalation(kp: RbacIndex) -> None:
    assert escalation_paths(kp) == []  # nothing holds cluster-admin power
    # the operator may create StatefulSets anywhere and mint token Secrets: it can act as any ServiceAccount
    p = escalation_paths(
        kp,
        to="ServiceAccount:monitoring:kube-state-metrics",
        from_subject="ServiceAccount:monitoring:prometheus-operator",
    )
    assert len(p) == 1 and len(p[0].steps) == 1
    assert "ClusterRoleBinding/prometheus-operator (ClusterRole/prometheus-operator)" in p[0].steps[0].via
    assert (
        escalation_paths(
            kp,
            to="ServiceAccount:monitoring:prometheus-operator",
            from_subject="ServiceAccount:monitoring:kube-state-metrics",
        )
        == []
    )


def test_argo_cd_who_can(argo: RbacIndex) -> None:
    assert argo.problems == []
    assert names(argo.who_can("create", "pods", "argocd")) == {"ServiceAccount:argocd:argocd-application-controller"}
    readers = {
        "ServiceAccount:argocd:argocd-application-controller",
        "ServiceAccount:argocd:argocd-applicationset-controller",
        "ServiceAccount:argocd:argocd-dex-server",
        "ServiceAccount:argocd:argocd-server",
    }
    assert names(argo.who_can("get", "secrets", "argocd")) == readers
    assert names(argo.who_can("get", "secrets", "argocd", name="argocd-redis")) == readers | {
        "ServiceAccount:argocd:argocd-redis"
    }
    assert names(argo.who_can("get", "secrets", "argocd", name="argocd-notifications-secret")) == readers | {
        "ServiceAccount:argocd:argocd-notifications-controller"
    }
    assert names(argo.who_can("delete", "nodes")) == {
        "ServiceAccount:argocd:argocd-application-controller",
        "ServiceAccount:argocd:argocd-server",
    }
    assert names(argo.who_can("get", "/healthz")) == {"ServiceAccount:argocd:argocd-application-controller"}


@pytest.mark.parametrize(
    "subject,args,allowed",
    [
        ("ServiceAccount:argocd:argocd-server", ("delete", "pods", "kube-system"), True),
        ("ServiceAccount:argocd:argocd-server", ("create", "pods", "kube-system"), False),
        ("ServiceAccount:argocd:argocd-server", ("create", "jobs.batch", "kube-system"), True),
        ("ServiceAccount:argocd:argocd-server", ("update", "applications.argoproj.io/finalizers", "team"), True),
        ("ServiceAccount:argocd:argocd-server", ("update", "secrets", "argocd"), True),
        ("ServiceAccount:argocd:argocd-server", ("update", "secrets", "team"), False),
        ("ServiceAccount:argocd:argocd-applicationset-controller", ("list", "secrets", None), True),
        ("ServiceAccount:argocd:argocd-dex-server", ("list", "secrets", None), False),
        ("ServiceAccount:argocd:argocd-dex-server", ("list", "secrets", "argocd"), True),
        ("ServiceAccount:argocd:argocd-repo-server", ("get", "secrets", "argocd"), False),
    ],
)
def test_argo_cd_can(argo: RbacIndex, subject: str, args: tuple[str, ...], allowed: bool) -> None:
    assert argo.can(subject, *args).allowed is allowed


def test_argo_cd_escalation(argo: RbacIndex) -> None:
    paths = {str(p.source): p for p in escalation_paths(argo)}
    assert set(paths) == {
        "ServiceAccount:argocd:argocd-application-controller",
        "ServiceAccount:argocd:argocd-server",
        "ServiceAccount:argocd:argocd-redis",
    }
    ctrl = paths["ServiceAccount:argocd:argocd-application-controller"]
    assert len(ctrl.steps) == 1 and "every verb on every resource" in ctrl.steps[0].action
    # the server and redis mint a token Secret for the controller's ServiceAccount in argocd
    for who in ("ServiceAccount:argocd:argocd-server", "ServiceAccount:argocd:argocd-redis"):
        p = paths[who]
        assert [s.to for s in p.steps] == ["ServiceAccount:argocd:argocd-application-controller", "cluster-admin"]
    assert "named argocd-redis" in paths["ServiceAccount:argocd:argocd-redis"].steps[0].action


def test_argo_cd_namespace_install_has_no_cluster_power() -> None:
    shared = Path(__file__).resolve().parents[2].parent / "shared"
    idx = _index(shared / "corpus" / "argoproj__argo-cd" / "manifests" / "ha" / "namespace-install.yaml", "argocd")
    assert escalation_paths(idx) == []
    assert names(idx.who_can("list", "secrets")) == set()
    assert "ServiceAccount:argocd:argocd-server" in names(idx.who_can("create", "secrets", "argocd"))
