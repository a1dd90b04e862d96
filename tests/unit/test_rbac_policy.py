from __future__ import annotations

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
