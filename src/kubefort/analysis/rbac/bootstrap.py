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


# --------------------------------------------------------------------------------------------------
# Defaults that grant: the controllers' roles and the bindings every cluster has. They are not added
# to every index (a scan judges the input), only where a question is about what a real cluster allows
# (``kubefort rbac paths``, ``RbacIndex.build(defaults=True)``).

_EVENTS = _r(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])
_CTRL = "system:controller:"


def _controller(name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return _cluster_role(_CTRL + name, list(rules))


#: The ClusterRoles of the kube-controller-manager's controllers (bootstrap policy
#: ``controller_policy.go``), each bound to the ServiceAccount kube-system:NAME by
#: :data:`BOOTSTRAP_CLUSTER_ROLE_BINDINGS` (the controller manager runs each controller with it).
BOOTSTRAP_CONTROLLER_ROLES: tuple[dict[str, Any], ...] = (
    _controller(
        "attachdetach-controller",
        _r(["list", "watch"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
        _r(_R, [""], ["nodes"]),
        _r(["patch", "update"], [""], ["nodes/status"]),
        _r(["list", "watch"], [""], ["pods"]),
        _EVENTS,
        _r(["create", "delete", "get", "list", "watch"], ["storage.k8s.io"], ["volumeattachments"]),
        _r(_R, ["storage.k8s.io"], ["csidrivers", "csinodes"]),
    ),
    _controller(
        "certificate-controller",
        _r(["delete", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
        _r(
            ["update"],
            ["certificates.k8s.io"],
            ["certificatesigningrequests/approval", "certificatesigningrequests/status"],
        ),
        _r(["approve"], ["certificates.k8s.io"], ["signers"], ["kubernetes.io/kube-apiserver-client-kubelet"]),
        _r(
            ["sign"],
            ["certificates.k8s.io"],
            ["signers"],
            [
                "kubernetes.io/kube-apiserver-client",
                "kubernetes.io/kube-apiserver-client-kubelet",
                "kubernetes.io/kubelet-serving",
                "kubernetes.io/legacy-unknown",
            ],
        ),
        _r(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        _EVENTS,
    ),
    _controller(
        "clusterrole-aggregation-controller",
        _r(["escalate", "get", "list", "patch", "update", "watch"], ["rbac.authorization.k8s.io"], ["clusterroles"]),
    ),
    _controller(
        "cronjob-controller",
        _r(["get", "list", "update", "watch"], ["batch"], ["cronjobs"]),
        _r(["create", "delete", "get", "list", "patch", "update", "watch"], ["batch"], ["jobs"]),
        _r(["update"], ["batch"], ["cronjobs/status", "cronjobs/finalizers"]),
        _r(["delete", "list", "watch"], [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "daemon-set-controller",
        _r(_R, ["apps", "extensions"], ["daemonsets"]),
        _r(["update"], ["apps", "extensions"], ["daemonsets/status", "daemonsets/finalizers"]),
        _r(["list", "watch"], [""], ["nodes"]),
        _r(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
        _r(["create"], [""], ["pods/binding"]),
        _r(["create", "delete", "get", "list", "patch", "update", "watch"], ["apps"], ["controllerrevisions"]),
        _EVENTS,
    ),
    _controller(
        "deployment-controller",
        _r(["get", "list", "update", "watch"], ["apps", "extensions"], ["deployments"]),
        _r(["update"], ["apps", "extensions"], ["deployments/status", "deployments/finalizers"]),
        _r(["create", "delete", "get", "list", "patch", "update", "watch"], ["apps", "extensions"], ["replicasets"]),
        _r(["get", "list", "update", "watch"], [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "disruption-controller",
        _r(_R, ["apps", "extensions"], ["deployments", "replicasets"]),
        _r(_R, [""], ["replicationcontrollers"]),
        _r(_R, ["policy"], ["poddisruptionbudgets"]),
        _r(_R, ["apps"], ["statefulsets"]),
        _r(["update"], ["policy"], ["poddisruptionbudgets/status"]),
        _r(["patch", "update"], [""], ["pods/status"]),
        _r(["get"], ["*"], ["*/scale"]),
        _EVENTS,
    ),
    _controller(
        "endpoint-controller",
        _r(_R, [""], ["pods", "services"]),
        _r(["create", "delete", "get", "list", "update", "watch"], [""], ["endpoints"]),
        _r(["create"], [""], ["endpoints/restricted"]),
        _EVENTS,
    ),
    _controller(
        "endpointslice-controller",
        _r(_R, [""], ["nodes", "pods", "services"]),
        _r(["update"], [""], ["services/finalizers"]),
        _r(["create", "delete", "get", "list", "update", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        _EVENTS,
    ),
    _controller(
        "endpointslicemirroring-controller",
        _r(_R, [""], ["endpoints", "services"]),
        _r(["update"], [""], ["services/finalizers", "endpoints/finalizers"]),
        _r(["create", "delete", "get", "list", "update", "watch"], ["discovery.k8s.io"], ["endpointslices"]),
        _EVENTS,
    ),
    _controller(
        "ephemeral-volume-controller",
        _r(_R, [""], ["pods"]),
        _r(["update"], [""], ["pods/finalizers"]),
        _r(["create", "get", "list", "watch"], [""], ["persistentvolumeclaims"]),
        _EVENTS,
    ),
    _controller(
        "expand-controller",
        _r(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumes"]),
        _r(["patch", "update"], [""], ["persistentvolumeclaims/status"]),
        _r(_R, [""], ["persistentvolumeclaims"]),
        _EVENTS,
    ),
    _controller(
        "generic-garbage-collector",
        _r(["delete", "get", "list", "patch", "update", "watch"], ["*"], ["*"]),
        _EVENTS,
    ),
    _controller(
        "horizontal-pod-autoscaler",
        _r(_R, ["autoscaling"], ["horizontalpodautoscalers"]),
        _r(["update"], ["autoscaling"], ["horizontalpodautoscalers/status"]),
        _r(["get", "update"], ["*"], ["*/scale"]),
        _r(["list", "watch"], [""], ["pods"]),
        _r(["list", "watch"], ["metrics.k8s.io"], ["pods"]),
        _r(_R, ["custom.metrics.k8s.io", "external.metrics.k8s.io"], ["*"]),
        _EVENTS,
    ),
    _controller(
        "job-controller",
        _r(["get", "list", "patch", "update", "watch"], ["batch"], ["jobs"]),
        _r(["update"], ["batch"], ["jobs/status", "jobs/finalizers"]),
        _r(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "legacy-service-account-token-cleaner",
        _r(["get"], [""], ["configmaps"], ["kube-apiserver-legacy-service-account-token-tracking"]),
        _r(["delete", "patch"], [""], ["secrets"]),
    ),
    _controller(
        "namespace-controller",
        _r(["delete", "get", "list", "watch"], [""], ["namespaces"]),
        _r(["update"], [""], ["namespaces/finalize", "namespaces/status"]),
        _r(["delete", "deletecollection", "get", "list", "watch"], ["*"], ["*"]),
    ),
    _controller(
        "node-controller",
        _r(["delete", "get", "list", "patch", "update", "watch"], [""], ["nodes"]),
        _r(["patch", "update"], [""], ["nodes/status", "pods/status"]),
        _r(["delete", "get", "list", "watch"], [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "persistent-volume-binder",
        _r(["create", "delete", "get", "list", "update", "watch"], [""], ["persistentvolumes"]),
        _r(["update"], [""], ["persistentvolumes/status", "persistentvolumeclaims/status"]),
        _r(["get", "list", "update", "watch"], [""], ["persistentvolumeclaims"]),
        _r(["create", "delete", "get", "list", "watch"], [""], ["pods"]),
        _r(_R, ["storage.k8s.io"], ["storageclasses"]),
        _r(["list", "watch"], [""], ["nodes"]),
        _EVENTS,
        _r(["watch"], [""], ["events"]),
    ),
    _controller(
        "pod-garbage-collector",
        _r(["delete", "list", "watch"], [""], ["pods"]),
        _r(_R, [""], ["nodes"]),
        _r(["patch"], [""], ["pods/status"]),
    ),
    _controller(
        "pv-protection-controller",
        _r(["get", "list", "update", "watch"], [""], ["persistentvolumes"]),
        _EVENTS,
    ),
    _controller(
        "pvc-protection-controller",
        _r(["get", "list", "update", "watch"], [""], ["persistentvolumeclaims"]),
        _r(["update"], [""], ["persistentvolumeclaims/status"]),
        _r(_R, [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "replicaset-controller",
        _r(["get", "list", "update", "watch"], ["apps", "extensions"], ["replicasets"]),
        _r(["update"], ["apps", "extensions"], ["replicasets/status", "replicasets/finalizers"]),
        _r(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "replication-controller",
        _r(["get", "list", "update", "watch"], [""], ["replicationcontrollers"]),
        _r(["update"], [""], ["replicationcontrollers/status", "replicationcontrollers/finalizers"]),
        _r(["create", "delete", "list", "patch", "watch"], [""], ["pods"]),
        _EVENTS,
    ),
    _controller(
        "resourcequota-controller",
        _r(["list", "watch"], ["*"], ["*"]),
        _r(["update"], [""], ["resourcequotas/status"]),
        _EVENTS,
    ),
    _controller("root-ca-cert-publisher", _r(["create", "update"], [""], ["configmaps"]), _EVENTS),
    _controller(
        "route-controller",
        _r(["list", "watch"], [""], ["nodes"]),
        _r(["patch"], [""], ["nodes/status"]),
        _EVENTS,
    ),
    _controller("service-account-controller", _r(["create"], [""], ["serviceaccounts"]), _EVENTS),
    _controller(
        "service-controller",
        _r(_R, [""], ["services"]),
        _r(["patch", "update"], [""], ["services/status"]),
        _r(["list", "watch"], [""], ["nodes"]),
        _EVENTS,
    ),
    _controller(
        "statefulset-controller",
        _r(["list", "watch"], [""], ["pods"]),
        _r(_R, ["apps"], ["statefulsets"]),
        _r(["update"], ["apps"], ["statefulsets/status", "statefulsets/finalizers"]),
        _r(["create", "delete", "get", "patch", "update"], [""], ["pods"]),
        _r(["create", "delete", "get", "list", "patch", "update", "watch"], ["apps"], ["controllerrevisions"]),
        _r(["create", "get", "list", "watch"], [""], ["persistentvolumeclaims"]),
        _r(["delete", "update"], [""], ["persistentvolumeclaims"]),
        _r(["update"], [""], ["pods/finalizers"]),
        _EVENTS,
    ),
    _controller(
        "ttl-after-finished-controller",
        _r(["delete", "get", "list", "watch"], ["batch"], ["jobs"]),
        _EVENTS,
    ),
    _controller("ttl-controller", _r(["list", "patch", "update", "watch"], [""], ["nodes"]), _EVENTS),
)


def _binding(role: str, *subjects: dict[str, str], name: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name or role, "labels": _BOOT},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": list(subjects),
    }


def _group(name: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": name}


#: The ClusterRoleBindings of the bootstrap policy whose roles kubefort knows: every controller role to
#: its ServiceAccount in kube-system, and the everyone-groups' discovery roles.
BOOTSTRAP_CLUSTER_ROLE_BINDINGS: tuple[dict[str, Any], ...] = (
    _binding("cluster-admin", _group("system:masters")),
    _binding("system:basic-user", _group("system:authenticated")),
    _binding("system:discovery", _group("system:authenticated")),
    _binding("system:public-info-viewer", _group("system:authenticated"), _group("system:unauthenticated")),
    _binding("system:service-account-issuer-discovery", _group("system:serviceaccounts")),
    _binding("system:monitoring", _group("system:monitoring")),
    *(
        _binding(
            r["metadata"]["name"],
            {"kind": "ServiceAccount", "name": r["metadata"]["name"][len(_CTRL) :], "namespace": "kube-system"},
        )
        for r in BOOTSTRAP_CONTROLLER_ROLES
    ),
)
