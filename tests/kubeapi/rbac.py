"""RBAC authorization for the test API server, as the RBAC authorizer of a kube-apiserver decides it
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/), written from the documentation and not
from kubefort's RBAC analysis (which the tests check against it).

A request is allowed when a rule of a Role bound in the request's namespace (RoleBinding to a Role of
that namespace or to a ClusterRole) or of a ClusterRole bound cluster-wide (ClusterRoleBinding) matches
it: the verb, the API group, the resource (``pods/log`` for a subresource), and ``resourceNames`` when the
rule has them (a request without a name, a list or a watch, never matches those). ``*`` matches any verb,
group or resource (``*/log``: that subresource of any resource). Subjects: a User by name, a Group by
name, a ServiceAccount by namespace and name; a ServiceAccount's user is
``system:serviceaccount:NS:NAME``, in the groups ``system:serviceaccounts``,
``system:serviceaccounts:NS`` and ``system:authenticated``.

Not modelled: non-resource URLs (discovery, ``/version``, ``/openapi``: allowed to every authenticated
user, as the bootstrap ``system:discovery`` and ``system:public-info-viewer`` roles do), aggregation
(the store fills aggregated ClusterRoles in), the escalation check on writing Roles and bindings,
impersonation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .store import Store

RBAC = "rbac.authorization.k8s.io"
SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Attributes:
    """What a request asks: ``name`` empty for a list, a watch or a create by POST."""

    user: str
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def groups_of(user: str) -> set[str]:
    groups = {"system:authenticated"}
    if user.startswith(SA_PREFIX):
        ns = user[len(SA_PREFIX) :].split(":")[0]
        groups |= {"system:serviceaccounts", f"system:serviceaccounts:{ns}"}
    return groups


def _subject_matches(subject: Mapping[str, Any], user: str, groups: set[str], binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == f"{SA_PREFIX}{subject.get('namespace') or binding_ns}:{name}"
    return False


def _rule_matches(rule: Mapping[str, Any], a: Attributes) -> bool:
    verbs, groups, resources = rule.get("verbs") or (), rule.get("apiGroups") or (), rule.get("resources") or ()
    if "*" not in verbs and a.verb not in verbs:
        return False
    if "*" not in groups and a.group not in groups:
        return False
    wanted = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    if not any(r in ("*", wanted) or (a.subresource and r == f"*/{a.subresource}") for r in resources):
        return False
    names = rule.get("resourceNames") or ()
    return not names or (bool(a.name) and a.name in names)


def _rules(store: Store, a: Attributes) -> Iterator[Mapping[str, Any]]:
    groups = groups_of(a.user)
    roles = store.types[(RBAC, "roles")].objects
    cluster_roles = store.types[(RBAC, "clusterroles")].objects
    for b in list(store.types[(RBAC, "clusterrolebindings")].objects.values()):
        if any(_subject_matches(s, a.user, groups, "") for s in b.get("subjects") or ()):
            yield from (cluster_roles.get(("", b["roleRef"]["name"])) or {}).get("rules") or ()
    if not a.namespace:
        return
    for (ns, _), b in list(store.types[(RBAC, "rolebindings")].objects.items()):
        if ns != a.namespace or not any(_subject_matches(s, a.user, groups, ns) for s in b.get("subjects") or ()):
            continue
        ref = b["roleRef"]
        role = roles.get((ns, ref["name"])) if ref.get("kind") == "Role" else cluster_roles.get(("", ref["name"]))
        yield from (role or {}).get("rules") or ()


def allowed(store: Store, a: Attributes) -> bool:
    """Whether RBAC allows the request ``a`` with the Roles and bindings ``store`` holds now."""
    with store.cond:
        return any(_rule_matches(r, a) for r in _rules(store, a))
