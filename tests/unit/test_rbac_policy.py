from __future__ import annotations

from typing import Any

import pytest

from kubefort.analysis.rbac.policy import PolicyRule
from kubefort.analysis.rbac.subjects import Subject


def pr(**kw):  # type: ignore[no-untyped-def]
    return PolicyRule.from_raw(kw)


def test_resource_and_subresource_matching() -> None:
    r = pr(verbs=["get"], apiGroups=[""], resources=["pods"])
    assert r.grants("get", "", "pods") and not r.grants("get", "", "pods", "exec")
    assert pr(verbs=["create"], apiGroups=[""], resources=["pods/exec"]).grants("create", "", "pods", "exec")
    assert pr(verbs=["*"], apiGroups=["*"], resources=["*/scale"]).grants("update", "apps", "deployments", "scale")
    assert not pr(verbs=["get"], apiGroups=[""], resources=["pods/*"]).grants("get", "", "pods", "log")  # no pods/*
    assert pr(verbs=["get"], apiGroups=["*"], resources=["secrets"]).grants("get", "", "secrets")
    assert not pr(verbs=["get"], apiGroups=["apps"], resources=["secrets"]).grants("get", "", "secrets")


def test_resource_names() -> None:
    r = pr(verbs=["get", "list"], apiGroups=[""], resources=["secrets"], resourceNames=["tls"])
    assert r.grants("get", "", "secrets", name="tls")
    assert not r.grants("get", "", "secrets", name="other")
    assert not r.grants("list", "", "secrets")  # list has no name
    assert r.grants("list", "", "secrets", name="tls")  # list narrowed by metadata.name field selector


def test_non_resource_urls() -> None:
    r = pr(verbs=["get"], nonResourceURLs=["/healthz/*", "/metrics"])
    assert r.grants_url("get", "/healthz/etcd") and r.grants_url("get", "/metrics")
    assert not r.grants_url("get", "/metrics/cadvisor") and not r.grants_url("post", "/metrics")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("User:alice", Subject("User", "alice")),
        ("Group:system:masters", Subject("Group", "system:masters")),
        ("ServiceAccount:kube-system:default", Subject("ServiceAccount", "default", "kube-system")),
        ("system:serviceaccount:shop:api", Subject("ServiceAccount", "api", "shop")),
    ],
)
def test_subject_parse(text: str, expected: Subject) -> None:
    assert Subject.parse(text) == expected


def test_subject_groups_and_matching() -> None:
    sa = Subject.parse("ServiceAccount:shop:api")
    assert sa.matched_by(Subject("Group", "system:serviceaccounts:shop"))
    assert sa.matched_by(Subject("Group", "system:authenticated"))
    assert not sa.matched_by(Subject("Group", "system:serviceaccounts:other"))
    assert sa.matched_by(Subject("User", "system:serviceaccount:shop:api"))
    anon = Subject.parse("User:system:anonymous")
    assert anon.matched_by(Subject("Group", "system:unauthenticated")) and not anon.matched_by(
        Subject("Group", "system:authenticated")
    )
    with pytest.raises(ValueError):
        Subject.parse("ServiceAccount:only-name")


RBAC = "rbac.authorization.k8s.io"


@pytest.mark.parametrize(
    "raw,verb,target,cluster,level",
    [
        (
            {"verbs": ["create"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"]},
            "create",
            ("", "pods", None),
            True,
            0,
        ),
        (
            {"verbs": ["create"], "apiGroups": [""], "resources": ["pods/exec"], "resourceNames": ["a"]},
            "create",
            ("", "pods", "exec"),
            True,
            1,
        ),
        (
            {"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]},
            "get",
            ("", "secrets", None),
            True,
            1,
        ),
        ({"verbs": ["get"], "apiGroups": [""], "resources": ["nodes/proxy"]}, "get", ("", "nodes", "proxy"), False, 0),
        (
            {"verbs": ["bind"], "apiGroups": [RBAC], "resources": ["clusterroles"]},
            "bind",
            (RBAC, "clusterroles"),
            False,
            2,
        ),
        (
            {"verbs": ["escalate"], "apiGroups": [RBAC], "resources": ["clusterroles"]},
            "escalate",
            (RBAC, "clusterroles"),
            False,
            0,
        ),
        (
            {"verbs": ["delete"], "apiGroups": [""], "resources": ["namespaces"]},
            "delete",
            ("", "namespaces", None),
            False,
            2,
        ),
        (
            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/scale"]},
            "update",
            ("apps", "deployments", "scale"),
            True,
            2,
        ),
        ({"verbs": ["create"], "apiGroups": [""], "resources": ["pods/*"]}, "create", ("", "pods", "exec"), True, 0),
    ],
)
def test_grant_levels(raw: dict[str, Any], verb: str, target: tuple[str, ...], cluster: bool, level: int) -> None:
    """What the rule pack asks of one rule (the old rules._level): every object (2), only its
    resourceNames (1), nothing (0); a namespaced grant covers no cluster-scoped resource."""
    assert PolicyRule.from_raw(raw).coverage(verb, *target, namespaced=not cluster) == level


def test_coverage_of_every_subresource_at_once() -> None:
    """userextras/*: a rule naming one subresource, */sub or * covers it; a bare resource does not."""
    for resources, expected in ((["userextras/scopes"], 2), (["*/scopes"], 2), (["*"], 2), (["userextras"], 0)):
        rule = pr(verbs=["impersonate"], apiGroups=["authentication.k8s.io"], resources=resources)
        got = rule.coverage("impersonate", "authentication.k8s.io", "userextras", any_subresource=True)
        assert got == expected, resources
    named = pr(verbs=["impersonate"], apiGroups=["*"], resources=["userextras/scopes"], resourceNames=["a"])
    assert named.coverage("impersonate", "authentication.k8s.io", "userextras", any_subresource=True) == 1
    # cluster-scoped: nothing in a namespace
    assert (
        named.coverage("impersonate", "authentication.k8s.io", "userextras", any_subresource=True, namespaced=True) == 0
    )


def test_subject_entries_of_service_accounts_and_nodes() -> None:
    from kubefort.analysis.rbac.subjects import names_service_account_or_node as sa_or_node

    assert sa_or_node({"kind": "ServiceAccount", "name": "ci"})
    assert sa_or_node({"kind": "User", "name": "system:serviceaccount:shop:ci"})
    assert sa_or_node({"kind": "User", "name": "system:node:n1"})
    assert sa_or_node({"kind": "Group", "name": "system:nodes"})
    assert sa_or_node({"kind": "Group", "name": "system:serviceaccounts:shop"})
    assert not sa_or_node({"kind": "User", "name": "alice"})
    assert not sa_or_node({"kind": "Group", "name": "system:authenticated"})
    assert not sa_or_node({"kind": "ServiceAccount"})
