"""Default roles every Kubernetes API server creates at start-up (its RBAC bootstrap policy).

Manifests bind ``cluster-admin``, ``admin``, ``edit``, ``view`` or ``system:auth-delegator`` without
defining them, because every cluster has them. When the input does not define a role of this list
(and the inventory is not a live cluster, which lists its real roles), the index adds it so that
such bindings grant what they grant in a real cluster. ``admin``, ``edit`` and ``view`` are
aggregated ClusterRoles: they gather the ``system:aggregate-to-*`` roles below *and* every
ClusterRole of the input labelled ``rbac.authorization.k8s.io/aggregate-to-admin|edit|view: "true"``.

Rules follow the bootstrap policy of current Kubernetes releases
(``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``); only the roles that manifests commonly
reference, or that the aggregated roles need, are listed.
"""

from __future__ import annotations

from typing import Any

_RW = ["create", "delete", "deletecollection", "patch", "update"]
_R = ["get", "list", "watch"]
_AGG = "rbac.authorization.k8s.io/aggregate-to-"
_BOOT = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def _r(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if names:
        rule["resourceNames"] = names
    return rule


def _u(verbs: list[str], urls: list[str]) -> dict[str, Any]:
    return {"verbs": verbs, "nonResourceURLs": urls}


def _cluster_role(
    name: str,
    rules: list[dict[str, Any]] | None = None,
    *,
    labels: dict[str, str] | None = None,
    aggregate: str | None = None,
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**_BOOT, **(labels or {})}},
        "rules": rules or [],
    }
    if aggregate:
        raw["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {_AGG + aggregate: "true"}}]}
    return raw


BOOTSTRAP_CLUSTER_ROLES: tuple[dict[str, Any], ...] = (
    _cluster_role("cluster-admin", [_r(["*"], ["*"], ["*"]), _u(["*"], ["*"])]),
    _cluster_role("admin", aggregate="admin"),
    _cluster_role("edit", labels={_AGG + "admin": "true"}, aggregate="edit"),
    _cluster_role("view", labels={_AGG + "edit": "true"}, aggregate="view"),
    _cluster_role(
        "system:aggregate-to-admin",
        [
            _r(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
            _r(
                ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                ["rbac.authorization.k8s.io"],
                ["rolebindings", "roles"],
            ),
        ],
        labels={_AGG + "admin": "true"},
    ),
    _cluster_role(
        "system:aggregate-to-edit",
        [
            _r(_R, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"]),
            _r(["impersonate"], [""], ["serviceaccounts"]),
            _r(_RW, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
            _r(["create"], [""], ["pods/eviction"]),
            _r(
                _RW,
                [""],
                [
                    "configmaps",
                    "events",
                    "persistentvolumeclaims",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "secrets",
                    "serviceaccounts",
                    "services",
                    "services/proxy",
                ],
            ),
            _r(["create"], [""], ["serviceaccounts/token"]),
            _r(
                _RW,
                ["apps"],
                [
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "replicasets",
                    "replicasets/scale",
                    "statefulsets",
                    "statefulsets/scale",
                ],
            ),
            _r(_RW, ["autoscaling"], ["horizontalpodautoscalers"]),
            _r(_RW, ["batch"], ["cronjobs", "jobs"]),
            _r(
                _RW,
                ["extensions"],
                [
                    "daemonsets",
                    "deployments",
                    "deployments/rollback",
                    "deployments/scale",
                    "ingresses",
                    "networkpolicies",
                    "replicasets",
                    "replicasets/scale",
                    "replicationcontrollers/scale",
                ],
            ),
            _r(_RW, ["policy"], ["poddisruptionbudgets"]),
            _r(_RW, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
            _r(
                ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                ["coordination.k8s.io"],
                ["leases"],
            ),
        ],
        labels={_AGG + "edit": "true"},
    ),
    _cluster_role(
        "system:aggregate-to-view",
        [
            _r(
                _R,
                [""],
                [
                    "configmaps",
                    "endpoints",
                    "persistentvolumeclaims",
                    "persistentvolumeclaims/status",
                    "pods",
                    "replicationcontrollers",
                    "replicationcontrollers/scale",
                    "serviceaccounts",
                    "services",
                    "services/status",
                ],
            ),
            _r(
                _R,
                [""],
                [
                    "bindings",
                    "events",
                    "limitranges",
                    "namespaces/status",
                    "pods/log",
                    "pods/status",
                    "replicationcontrollers/status",
                    "resourcequotas",
                    "resourcequotas/status",
                ],
            ),
            _r(_R, [""], ["namespaces"]),
            _r(_R, ["discovery.k8s.io"], ["endpointslices"]),
            _r(
                _R,
                ["apps"],
                [
                    "controllerrevisions",
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "statefulsets",
                    "statefulsets/scale",
                    "statefulsets/status",
                ],
            ),
            _r(_R, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
            _r(_R, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
            _r(
                _R,
                ["extensions"],
                [
                    "daemonsets",
                    "daemonsets/status",
                    "deployments",
                    "deployments/scale",
                    "deployments/status",
                    "ingresses",
                    "ingresses/status",
                    "networkpolicies",
                    "replicasets",
                    "replicasets/scale",
                    "replicasets/status",
                    "replicationcontrollers/scale",
                ],
            ),
            _r(_R, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
            _r(_R, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
        ],
        labels={_AGG + "view": "true"},
    ),
    _cluster_role(
        "system:auth-delegator",
        [
            _r(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            _r(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        ],
    ),
    _cluster_role(
        "system:basic-user",
        [
            _r(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            _r(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"]),
        ],
    ),
    _cluster_role(
        "system:discovery",
        [
            _u(
                ["get"],
                [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            ),
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [
            _u(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"]),
        ],
    ),
    _cluster_role(
        "system:service-account-issuer-discovery",
        [
            _u(["get"], ["/.well-known/openid-configuration", "/openid/v1/jwks"]),
        ],
    ),
    _cluster_role(
        "system:monitoring",
        [
            _u(
                ["get"],
                ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*"],
            ),
        ],
    ),
    _cluster_role(
        "system:kubelet-api-admin",
        [
            _r(["get", "list", "watch", "proxy"], [""], ["nodes"]),
            _r(["*"], [""], ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"]),
        ],
    ),
    _cluster_role(
        "system:heapster",
        [
            _r(_R, [""], ["events", "namespaces", "nodes", "pods"]),
            _r(_R, ["extensions"], ["deployments"]),
        ],
    ),
    _cluster_role(
        "system:node-bootstrapper",
        [
            _r(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
        ],
    ),
    _cluster_role(
        "system:certificates.k8s.io:kube-apiserver-client-approver",
        [
            _r(["approve"], ["certificates.k8s.io"], ["signers"], ["kubernetes.io/kube-apiserver-client"]),
        ],
    ),
)

BOOTSTRAP_ROLES: tuple[dict[str, Any], ...] = (
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "extension-apiserver-authentication-reader", "namespace": "kube-system", "labels": _BOOT},
        "rules": [_r(_R, [""], ["configmaps"], ["extension-apiserver-authentication"])],
    },
)
