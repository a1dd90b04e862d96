"""What a request names: verb, API group, resource, subresource, name, namespace, or a URL path.

Mirrors how ``kubectl auth can-i`` turns its arguments into authorization attributes:

- ``pods``, ``pods/exec`` (``resource/subresource``), ``deployments.apps`` (group after the first
  dot, as kubectl writes ``resource.group``; ``deployments.v1.apps`` also works), short names
  (``po``, ``deploy``, ``cm``...) and ``--subresource``. A bare built-in resource gets its group
  from the table below (kubectl asks discovery; ``deployments`` is ``apps``); a bare resource
  defined by a CustomResourceDefinition of the input gets the CRD's group; anything else is taken
  as the core group ``""`` (kubectl warns "the server doesn't have a resource type" and does the same).
- a string starting with ``/`` is a non-resource URL (``/metrics``, ``/healthz``).
- ``*`` as the resource asks for rules that literally say ``*`` (group ``*`` unless one is given).
- Cluster-scoped resources (nodes, clusterroles, ...) are requested without a namespace whatever
  ``-n`` says, so only ClusterRoleBindings can grant them. ``namespaces`` is special: a request
  for one namespace by name (``get namespaces/shop``) is made *in* that namespace, so a
  RoleBinding there can grant it (the API server's RequestInfo sets the namespace to the name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError

CORE = ""
APPS = "apps"
BATCH = "batch"
RBAC = "rbac.authorization.k8s.io"
CERTS = "certificates.k8s.io"
ADMREG = "admissionregistration.k8s.io"

#: Built-in resources and their API group (kubectl's discovery picks these for a bare name).
BUILTIN_GROUPS: dict[str, str] = {
    **dict.fromkeys(
        (
            "pods",
            "services",
            "endpoints",
            "configmaps",
            "secrets",
            "serviceaccounts",
            "namespaces",
            "nodes",
            "persistentvolumes",
            "persistentvolumeclaims",
            "events",
            "limitranges",
            "resourcequotas",
            "replicationcontrollers",
            "podtemplates",
            "bindings",
            "componentstatuses",
            "users",
            "groups",
        ),
        CORE,
    ),
    **dict.fromkeys(("deployments", "daemonsets", "statefulsets", "replicasets", "controllerrevisions"), APPS),
    **dict.fromkeys(("jobs", "cronjobs"), BATCH),
    "horizontalpodautoscalers": "autoscaling",
    "poddisruptionbudgets": "policy",
    **dict.fromkeys(
        ("ingresses", "networkpolicies", "ingressclasses", "ipaddresses", "servicecidrs"), "networking.k8s.io"
    ),
    "endpointslices": "discovery.k8s.io",
    **dict.fromkeys(("roles", "rolebindings", "clusterroles", "clusterrolebindings"), RBAC),
    **dict.fromkeys(
        (
            "storageclasses",
            "volumeattachments",
            "csidrivers",
            "csinodes",
            "csistoragecapacities",
            "volumeattributesclasses",
        ),
        "storage.k8s.io",
    ),
    **dict.fromkeys(
        (
            "validatingwebhookconfigurations",
            "mutatingwebhookconfigurations",
            "validatingadmissionpolicies",
            "validatingadmissionpolicybindings",
            "mutatingadmissionpolicies",
            "mutatingadmissionpolicybindings",
        ),
        ADMREG,
    ),
    "customresourcedefinitions": "apiextensions.k8s.io",
    "apiservices": "apiregistration.k8s.io",
    **dict.fromkeys(("certificatesigningrequests", "clustertrustbundles", "signers"), CERTS),
    "leases": "coordination.k8s.io",
    "priorityclasses": "scheduling.k8s.io",
    "runtimeclasses": "node.k8s.io",
    **dict.fromkeys(("flowschemas", "prioritylevelconfigurations"), "flowcontrol.apiserver.k8s.io"),
    **dict.fromkeys(("tokenreviews", "selfsubjectreviews", "uids", "userextras"), "authentication.k8s.io"),
    **dict.fromkeys(
        ("subjectaccessreviews", "selfsubjectaccessreviews", "localsubjectaccessreviews", "selfsubjectrulesreviews"),
        "authorization.k8s.io",
    ),
    **dict.fromkeys(("deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"), "resource.k8s.io"),
    "podsecuritypolicies": "policy",
}

#: kubectl short names.
SHORT_NAMES: dict[str, str] = {
    "po": "pods",
    "svc": "services",
    "ep": "endpoints",
    "cm": "configmaps",
    "sa": "serviceaccounts",
    "ns": "namespaces",
    "no": "nodes",
    "pv": "persistentvolumes",
    "pvc": "persistentvolumeclaims",
    "ev": "events",
    "limits": "limitranges",
    "quota": "resourcequotas",
    "rc": "replicationcontrollers",
    "cs": "componentstatuses",
    "deploy": "deployments",
    "ds": "daemonsets",
    "sts": "statefulsets",
    "rs": "replicasets",
    "cj": "cronjobs",
    "hpa": "horizontalpodautoscalers",
    "pdb": "poddisruptionbudgets",
    "ing": "ingresses",
    "netpol": "networkpolicies",
    "sc": "storageclasses",
    "crd": "customresourcedefinitions",
    "crds": "customresourcedefinitions",
    "csr": "certificatesigningrequests",
    "pc": "priorityclasses",
}

#: Built-in resources that are cluster-scoped: requests for them carry no namespace.
CLUSTER_SCOPED: frozenset[tuple[str, str]] = frozenset(
    (BUILTIN_GROUPS[r], r)
    for r in (
        "nodes",
        "namespaces",
        "persistentvolumes",
        "componentstatuses",
        "users",
        "groups",
        "clusterroles",
        "clusterrolebindings",
        "storageclasses",
        "volumeattachments",
        "csidrivers",
        "csinodes",
        "volumeattributesclasses",
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
        "mutatingadmissionpolicies",
        "mutatingadmissionpolicybindings",
        "customresourcedefinitions",
        "apiservices",
        "certificatesigningrequests",
        "clustertrustbundles",
        "signers",
        "priorityclasses",
        "runtimeclasses",
        "flowschemas",
        "prioritylevelconfigurations",
        "tokenreviews",
        "selfsubjectreviews",
        "uids",
        "userextras",
        "subjectaccessreviews",
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "deviceclasses",
        "resourceslices",
        "ingressclasses",
        "ipaddresses",
        "servicecidrs",
        "podsecuritypolicies",
    )
)

_VERB = re.compile(r"^(\*|[a-z][a-zA-Z]*)$")
_RESOURCE = re.compile(r"^(\*|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)$")
_SUBRESOURCE = re.compile(r"^(\*|[a-z0-9]([a-z0-9-]*[a-z0-9])?)$")
_VERSION = re.compile(r"^v\d+((alpha|beta)\d+)?$")


@dataclass(frozen=True, slots=True)
class CustomResource:
    """A resource defined by a CustomResourceDefinition of the input."""

    group: str
    plural: str
    cluster_scoped: bool


def custom_resources(crds: Iterable[Mapping[str, Any]]) -> dict[str, CustomResource]:
    """Plural, singular and short names of CRDs (raw objects) -> the resource they name."""
    out: dict[str, CustomResource] = {}
    for raw in crds:
        spec = raw.get("spec")
        if not isinstance(spec, dict):
            continue
        names = spec.get("names")
        group = spec.get("group")
        if not isinstance(names, dict) or not isinstance(group, str) or not isinstance(names.get("plural"), str):
            continue
        cr = CustomResource(group, names["plural"], spec.get("scope") == "Cluster")
        aliases = [names["plural"], names.get("singular")]
        short = names.get("shortNames")
        if isinstance(short, list):
            aliases.extend(short)
        for a in aliases:
            if isinstance(a, str) and a:
                out.setdefault(a.lower(), cr)
    return out


@dataclass(frozen=True, slots=True)
class Request:
    """Authorization attributes of one request, as the RBAC authorizer sees them.

    ``namespace`` is None for cluster-wide requests (cluster-scoped resources, or namespaced
    resources across all namespaces); ``path`` is set (and the resource fields empty) for
    non-resource requests.
    """

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str | None = None
    name: str | None = None
    namespace: str | None = None
    path: str | None = None

    @property
    def is_resource(self) -> bool:
        return self.path is None

    def describe(self) -> str:
        if self.path is not None:
            return f"{self.verb} {self.path}"
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        if self.group and self.group != "*":
            res += f".{self.group}"
        elif self.group == "*":
            res += " (any group)"
        named = f" {self.name!r}" if self.name else ""
        where = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.verb} {res}{named}{where}"


def check_verb(verb: str) -> str:
    v = verb.strip()
    if not _VERB.match(v):
        raise UsageError(f"bad verb {verb!r}: expected a word such as get, list, create, impersonate, or *")
    return v


def parse_resource(
    text: str,
    subresource: str | None = None,
    group: str | None = None,
    custom: Mapping[str, CustomResource] | None = None,
) -> tuple[str, str, str | None]:
    """``RESOURCE[.GROUP][/SUBRESOURCE]`` -> (group, resource, subresource)."""
    t = text.strip()
    res, slash, sub = t.partition("/")
    if slash:
        if not sub or "/" in sub or not _SUBRESOURCE.match(sub):
            raise UsageError(f"bad resource {text!r}: expected RESOURCE, RESOURCE/SUBRESOURCE or RESOURCE.GROUP")
        if subresource and subresource != sub:
            raise UsageError(f"resource {text!r} names subresource {sub!r} but --subresource says {subresource!r}")
        subresource = sub
    if subresource is not None:
        subresource = subresource.strip()
        if not _SUBRESOURCE.match(subresource):
            raise UsageError(f"bad subresource {subresource!r}")
    res = res.lower()
    if not res or not _RESOURCE.match(res):
        raise UsageError(f"bad resource {text!r}: expected RESOURCE, RESOURCE/SUBRESOURCE or RESOURCE.GROUP")
    if res == "*":
        return (group if group is not None else "*"), "*", subresource
    name, dot, rest = res.partition(".")
    if dot:
        parts = rest.split(".")
        if _VERSION.match(parts[0]):  # resource.version.group
            parts = parts[1:]
        res_group = ".".join(parts)
        if group is not None and group != res_group:
            raise UsageError(f"resource {text!r} names API group {res_group!r} but --api-group says {group!r}")
        return res_group, name, subresource
    name = SHORT_NAMES.get(name, name)
    if group is not None:
        return group, name, subresource
    if custom and name in custom and name not in BUILTIN_GROUPS:
        cr = custom[name]
        return cr.group, cr.plural, subresource
    return BUILTIN_GROUPS.get(name, CORE), name, subresource


def is_cluster_scoped(group: str, resource: str, custom: Mapping[str, CustomResource] | None = None) -> bool:
    if (group, resource) in CLUSTER_SCOPED or (
        group == "*" and resource in BUILTIN_GROUPS and (BUILTIN_GROUPS[resource], resource) in CLUSTER_SCOPED
    ):
        return True
    if custom:
        cr = custom.get(resource)
        if cr is not None and cr.plural == resource and cr.group == group:
            return cr.cluster_scoped
    return False


def grantable_in_namespace(verb: str, group: str, resource: str) -> bool:
    """Whether a grant that applies in one namespace (a Role, or a ClusterRole bound by a RoleBinding)
    can allow ``verb`` on ``resource``: not a cluster-scoped resource, whose requests carry no
    namespace. Two exceptions: ``namespaces`` (a request for a namespace by name is made in that
    namespace) and ``bind`` on ``clusterroles`` (a RoleBinding of a ClusterRole is authorized against
    the binding's namespace, so a Role can delegate binding ClusterRoles there)."""
    if (group, resource) not in CLUSTER_SCOPED and group != "*":
        return True  # the common case, first
    if resource == "namespaces" or (verb == "bind" and group == RBAC and resource == "clusterroles"):
        return True
    return not is_cluster_scoped(group, resource)


def make_request(
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
    group: str | None = None,
    custom: Mapping[str, CustomResource] | None = None,
) -> Request:
    """Normalise query arguments into the attributes the API server would authorize."""
    v = check_verb(verb)
    if name is not None and not name:
        name = None
    if resource.startswith("/"):
        if subresource or group is not None or name:
            raise UsageError("a non-resource URL takes no --subresource, --api-group or --name")
        if " " in resource:
            raise UsageError(f"bad URL path {resource!r}")
        return Request(verb=v, path=resource)
    g, res, sub = parse_resource(resource, subresource, group, custom)
    ns = namespace or None
    if res == "namespaces":
        # /api/v1/namespaces/NAME is a request in namespace NAME; the list is cluster-wide
        ns = name if name else None
    elif is_cluster_scoped(g, res, custom):
        ns = None
    return Request(verb=v, group=g, resource=res, subresource=sub, name=name, namespace=ns)
