"""RBAC escalation with bindings to the groups everyone is in: computed once, found exactly as before.

The escalation engine computes the steps that bindings of ``system:authenticated`` and
``system:serviceaccounts`` open once, on a node every member enters at no cost, instead of on every
subject (which made a cluster with such a binding in each namespace quadratic). These tests compare it,
on random small clusters, with the plain computation (every subject judged on the union of all its
bindings, everywhere): the same subjects escalate, in the same number of steps, to cluster-admin and to
each ServiceAccount.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubefort.analysis.rbac import escalation
from kubefort.analysis.rbac.escalation import EscalationGraph
from kubefort.analysis.rbac.index import RbacIndex
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory

NAMESPACES = ("a", "b", "c")
SAS = ("one", "two")
USERS = ("ann", "bob")
GROUPS = ("system:authenticated", "system:serviceaccounts", "devs")
#: rules that open escalation steps alone or together (create rolebindings + bind; escalate + update roles)
RULES = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles", "roles"], "verbs": ["bind"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate", "update"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
)


def _subject(kind: str, name: str) -> dict[str, str]:
    if kind == "ServiceAccount":
        ns, sa = name.split("/")
        return {"kind": "ServiceAccount", "name": sa, "namespace": ns}
    return {"kind": kind, "apiGroup": "rbac.authorization.k8s.io", "name": name}


SUBJECTS = st.sampled_from(
    [("ServiceAccount", f"{ns}/{sa}") for ns in NAMESPACES for sa in SAS]
    + [("User", u) for u in USERS]
    + [("Group", g) for g in GROUPS]
    + [("Group", "system:authenticated")] * 3  # bound often: the case the sharing is for
)


@st.composite
def clusters(draw: st.DrawFn) -> str:
    docs: list[dict[str, object]] = []
    roles = draw(st.lists(st.lists(st.sampled_from(RULES), min_size=1, max_size=3), min_size=1, max_size=4))
    for i, rules in enumerate(roles):
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"cr{i}"},
                "rules": rules,
            }
        )
        for ns in NAMESPACES:
            docs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": f"r{i}", "namespace": ns},
                    "rules": rules,
                }
            )
    for j in range(draw(st.integers(1, 7))):
        role = draw(st.integers(0, len(roles) - 1))
        subjects = [_subject(*s) for s in draw(st.lists(SUBJECTS, min_size=1, max_size=3))]
        where = draw(st.sampled_from([None, *NAMESPACES]))
        if where is None:
            docs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": f"crb{j}"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"cr{role}"},
                    "subjects": subjects,
                }
            )
        else:
            kind = draw(st.sampled_from(["Role", "ClusterRole"]))
            docs.append(
                {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": f"rb{j}", "namespace": where},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": kind,
                        "name": f"{'r' if kind == 'Role' else 'cr'}{role}",
                    },
                    "subjects": subjects,
                }
            )
    for ns in NAMESPACES:
        for sa in SAS:
            docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}})
        if draw(st.booleans()):
            sa = draw(st.sampled_from(SAS))
            docs.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"p-{sa}", "namespace": ns},
                    "spec": {"serviceAccountName": sa, "containers": [{"name": "c", "image": "x@sha256:" + "0" * 64}]},
                }
            )
    return "".join("---\n" + json.dumps(d) + "\n" for d in docs)


def _lengths(index: RbacIndex, to: str) -> dict[str, int]:
    return {str(p.source): len(p.steps) for p in EscalationGraph(index).paths(to)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters())
def test_shared_group_steps_find_what_the_union_finds(text: str) -> None:
    loaded = load_text(text, "cluster.yaml")
    assert not loaded.errors, loaded.errors
    index = RbacIndex.build(Inventory(loaded.objects), builtin_roles=False)
    targets = ["cluster-admin", *(f"ServiceAccount:{ns}:{sa}" for ns in NAMESPACES for sa in SAS)]
    shared = {t: _lengths(index, t) for t in targets}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(escalation, "_SHARED_GROUPS", frozenset())
        plain = {t: _lengths(index, t) for t in targets}
    assert shared == plain
    for p in EscalationGraph(index).paths("cluster-admin"):
        assert all(s.via for s in p.steps), p  # every step names the binding that allows it


def _edges_with(namespaces: int) -> int:
    """Edges of a cluster where each of ``namespaces`` namespaces binds system:authenticated to pod creation."""
    docs = []
    for i in range(namespaces):
        ns = f"ns{i}"
        docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": ns}})
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "run", "namespace": ns},
                "rules": [RULES[0]],
            }
        )
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "everyone-runs", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "run"},
                "subjects": [_subject("Group", "system:authenticated"), _subject("ServiceAccount", f"{ns}/app")],
            }
        )
    loaded = load_text("".join("---\n" + json.dumps(d) + "\n" for d in docs), "many.yaml")
    graph = EscalationGraph(RbacIndex.build(Inventory(loaded.objects), builtin_roles=False))
    graph.paths("cluster-admin")
    return sum(len(es) for es in graph._edges.values())


def test_a_binding_of_every_authenticated_subject_in_each_namespace_stays_linear() -> None:
    """N namespaces each binding system:authenticated: the M ServiceAccounts share one node with N steps
    instead of N steps each, so doubling the namespaces doubles the edges (it quadrupled them)."""
    small, large = _edges_with(20), _edges_with(40)
    assert large <= 2.2 * small, (small, large)


def _rbac(kind: str, name: str, ns: str | None = None, **rest: object) -> dict[str, object]:
    meta: dict[str, object] = {"name": name} if ns is None else {"name": name, "namespace": ns}
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta, **rest}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}


def _graph(docs: list[dict[str, object]]) -> EscalationGraph:
    loaded = load_text("".join("---\n" + json.dumps(d) + "\n" for d in docs), "many.yaml")
    return EscalationGraph(RbacIndex.build(Inventory(loaded.objects), builtin_roles=False))


def _powerful(
    namespaces: int, subjects: int, rules: list[dict[str, object]], everyone: bool = True
) -> list[dict[str, object]]:
    """``namespaces`` namespaces, each with a Role that creates pods, bound to system:authenticated and its
    own ServiceAccount (``everyone``; else unbound), and ``subjects`` ServiceAccounts each bound
    cluster-wide to ``rules``."""
    docs: list[dict[str, object]] = [_rbac("ClusterRole", "power", rules=rules)]
    for i in range(namespaces):
        ns = f"ns{i}"
        docs.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": ns}})
        docs.append(_rbac("Role", "run", ns, rules=[RULES[0]]))
        if everyone:
            docs.append(
                _rbac(
                    "RoleBinding",
                    "everyone-runs",
                    ns,
                    roleRef=_ref("Role", "run"),
                    subjects=[_subject("Group", "system:authenticated"), _subject("ServiceAccount", f"{ns}/app")],
                )
            )
    for j in range(subjects):
        docs.append(
            _rbac(
                "ClusterRoleBinding",
                f"power-{j}",
                roleRef=_ref("ClusterRole", "power"),
                subjects=[_subject("ServiceAccount", f"ns{j % namespaces}/app")],
            )
        )
    return docs


#: rewrite any RoleBinding and bind any Role; escalate and update any Role; create RoleBindings (bind too)
_CLUSTER_WIDE_RBAC = [
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create", "update"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind", "escalate", "update"]},
]


def _edge_count(namespaces: int, subjects: int) -> int:
    graph = _graph(_powerful(namespaces, subjects, _CLUSTER_WIDE_RBAC))
    assert graph.paths("ServiceAccount:ns0:app")
    return sum(len(es) for es in graph._edges.values())


def test_identities_that_may_rewrite_every_binding_stay_linear() -> None:
    """M identities bound cluster-wide to rewrite any RoleBinding, bind and escalate any Role, in a cluster
    of N namespaces whose bindings also name system:authenticated: each such identity reaches the roles of
    every namespace through nodes computed once, so doubling N and M doubles the edges (it quadrupled
    them: each identity had a step per namespace's binding, Role and Role held through the group)."""
    small, large = _edge_count(20, 10), _edge_count(40, 20)
    assert large <= 2.2 * small, (small, large)


def test_creating_rolebindings_and_binding_roles_everywhere_reaches_a_role_of_any_namespace() -> None:
    """create rolebindings and bind roles in every namespace: bind any Role of any namespace to yourself.
    The engine used to find that only in the namespaces where the identity had a binding of its own."""
    rules = [
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["bind"]},
    ]
    docs = _powerful(2, 1, rules, everyone=False)
    paths = {str(p.source): p for p in _graph(docs).paths("ServiceAccount:ns1:app")}
    p = paths["ServiceAccount:ns0:app"]
    assert len(p.steps) == 2, p  # a RoleBinding granting Role ns1/run, then a pod as ns1's app
    assert p.steps[0].action.startswith("create a RoleBinding granting yourself a Role of its namespace"), p
    assert p.steps[0].action.endswith(": Role/ns1/run"), p
