"""The test API server's RBAC authorizer (``kubeapi.rbac``) decides as the RBAC documentation says: the
tests that run kubefort's CronJobs as their ServiceAccounts rely on it."""

from __future__ import annotations

from kubeapi.rbac import Attributes, allowed
from kubeapi.store import Store

SA = "system:serviceaccount:ops:backup"


def store() -> Store:
    s = Store(writable=True)
    s.load_cluster(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("ops", "db", "web")]
        + [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "jobs", "namespace": "db"},
                "rules": [
                    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "create", "patch"]},
                    {
                        "apiGroups": [""],
                        "resources": ["serviceaccounts"],
                        "verbs": ["create", "patch"],
                        "resourceNames": ["runner"],
                    },
                    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "jobs", "namespace": "db"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jobs"},
                "subjects": [{"kind": "ServiceAccount", "name": "backup", "namespace": "ops"}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "logs"},
                "rules": [{"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["get"]}],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "logs", "namespace": "web"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "logs"},
                "subjects": [{"kind": "Group", "name": "system:serviceaccounts:ops"}],
            },
        ]
    )
    return s


def test_rbac_decides_as_documented() -> None:
    s = store()

    def can(verb: str, group: str, resource: str, ns: str, name: str = "", sub: str = "", user: str = SA) -> bool:
        return allowed(s, Attributes(user, verb, group, resource, sub, ns, name))

    assert can("create", "batch", "jobs", "db", "any-name") and can("get", "batch", "jobs", "db", "x")
    assert not can("delete", "batch", "jobs", "db", "x")  # a verb not granted
    assert not can("create", "batch", "jobs", "web", "x")  # another namespace
    assert not can("create", "batch", "cronjobs", "db", "x") and not can("create", "apps", "jobs", "db", "x")
    # resourceNames: only that name, and never a request without one (a list, a POST create)
    assert can("patch", "", "serviceaccounts", "db", "runner") and not can(
        "patch", "", "serviceaccounts", "db", "other"
    )
    assert not can("create", "", "serviceaccounts", "db", "")
    # a subresource is its own resource: pods/log is not pods, pods is not pods/log
    assert can("get", "", "pods", "db", "p", "log") and not can("get", "", "pods", "db", "p")
    # a ClusterRole bound in a namespace applies there only; a group subject; */status
    assert can("get", "apps", "deployments", "web", "d", "status") and not can("get", "apps", "deployments", "web", "d")
    assert not can("get", "apps", "deployments", "db", "d", "status")
    assert not can("get", "batch", "jobs", "db", "x", user="system:serviceaccount:other:backup")
    assert not can("get", "batch", "jobs", "db", "x", user="backup")  # a User of the same name is not the account
