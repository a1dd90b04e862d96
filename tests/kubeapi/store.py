"""The test API server's state: resource types, objects, resourceVersions and the event history.

Shaped on the API server's behaviour as the API reference documents it (api-concepts):

- every write takes the next resourceVersion (a cluster-wide counter, as etcd's revision);
- a type is served at every version it is known at; objects are stored once per (group, resource) and
  served with the apiVersion of the request (what conversion gives for these fixtures);
- lists are in key order (namespace, name), which is what continue tokens point into;
- the event history keeps every change after the last compaction: a watch from an older
  resourceVersion, or a continue token from before it, gets 410 Gone.
"""

from __future__ import annotations

import copy
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubefort.model.kinds import is_cluster_scoped

#: (group, version, kind, plural, namespaced) of the built-in types a cluster always serves
BUILTIN: tuple[tuple[str, str, str, str, bool], ...] = (
    ("", "v1", "Pod", "pods", True),
    ("", "v1", "Service", "services", True),
    ("", "v1", "Namespace", "namespaces", False),
    ("", "v1", "Node", "nodes", False),
    ("", "v1", "ConfigMap", "configmaps", True),
    ("", "v1", "Secret", "secrets", True),
    ("", "v1", "ServiceAccount", "serviceaccounts", True),
    ("", "v1", "Endpoints", "endpoints", True),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ("", "v1", "PersistentVolume", "persistentvolumes", False),
    ("", "v1", "PodTemplate", "podtemplates", True),
    ("", "v1", "ReplicationController", "replicationcontrollers", True),
    ("", "v1", "LimitRange", "limitranges", True),
    ("", "v1", "ResourceQuota", "resourcequotas", True),
    ("apps", "v1", "Deployment", "deployments", True),
    ("apps", "v1", "ReplicaSet", "replicasets", True),
    ("apps", "v1", "StatefulSet", "statefulsets", True),
    ("apps", "v1", "DaemonSet", "daemonsets", True),
    ("batch", "v1", "Job", "jobs", True),
    ("batch", "v1", "CronJob", "cronjobs", True),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    ("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", False),
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", False),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", False),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
    ("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False),
    ("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
)
BUILTIN_GROUPS = frozenset(g for g, *_ in BUILTIN) | {"autoscaling", "apps", "batch", "policy"}
#: the verbs of a type that can be written (discovery lists them; ``patch`` is what server-side apply needs)
WRITE_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(v: str) -> tuple[int, int, int]:
    """Kubernetes' version order: GA before beta before alpha, higher numbers first (sort ascending)."""
    m = _VERSION.match(v)
    if not m:
        return (3, 0, 0)
    major, level, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 0, "beta": 1, "alpha": 2}[level], -major, -minor)


def plural(kind: str) -> str:
    low = kind.lower()
    if low.endswith("endpoints"):
        return low
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    if low.endswith(("s", "x", "ch", "sh")):
        return low + "es"
    return low + "s"


@dataclass
class ResourceType:
    group: str
    kind: str
    resource: str
    namespaced: bool
    versions: list[str]  # preferred first
    verbs: tuple[str, ...] = ("get", "list", "watch")
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (namespace, name) -> stored
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)  # version -> openAPIV3Schema (CRDs)

    @property
    def builtin(self) -> bool:
        return self.group in BUILTIN_GROUPS or (self.group.endswith(".k8s.io") and "x-k8s" not in self.group)

    @property
    def name(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


@dataclass
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    rtype: ResourceType
    obj: dict[str, Any]


class Store:
    """Thread-safe: the HTTP threads read, the tests write (``upsert``/``delete``) and watches wait."""

    def __init__(self, *, writable: bool = False) -> None:
        """``writable``: the built-in types accept apply and delete too (as a real API server's do; the
        read-only default is what the scan tests were written against), for restores into this server."""
        self.writable = writable
        self.types: dict[tuple[str, str], ResourceType] = {}  # (group, resource)
        self.rv = 1
        self.events: list[Event] = []
        self.compacted = 0  # events at or below this resourceVersion are gone
        self.cond = threading.Condition()
        self._incarnations: dict[str, int] = {}  # how many times an object of that name was created
        for g, v, k, r, ns in BUILTIN:
            self.types[(g, r)] = ResourceType(
                g, k, r, ns, [v], verbs=WRITE_VERBS if writable else ("get", "list", "watch")
            )

    # -- types ---------------------------------------------------------------------------------------
    def type_for(self, api_version: str, kind: str, *, namespaced: bool | None = None) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for t in self.types.values():
            if t.group == group and t.kind == kind:
                if version not in t.versions:
                    t.versions.append(version)
                    t.versions.sort(key=version_priority)
                return t
        ns = namespaced if namespaced is not None else not is_cluster_scoped(api_version, kind)
        t = self.types[(group, plural(kind))] = ResourceType(group, kind, plural(kind), ns, [version])
        if self.writable:
            t.verbs = WRITE_VERBS
        return t

    def add_crd(self, crd: Mapping[str, Any], *, verbs: tuple[str, ...] = WRITE_VERBS) -> ResourceType:
        """Serve the custom resource a CustomResourceDefinition declares, at each served version, with
        its schema (what apply validates and prunes against) and ``verbs``."""
        spec = crd["spec"]
        names = spec["names"]
        versions = sorted((v["name"] for v in spec["versions"] if v.get("served", True)), key=version_priority)
        t = ResourceType(spec["group"], names["kind"], names["plural"], spec.get("scope") != "Cluster", versions)
        t.verbs = verbs
        t.schemas = {v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("schema")}
        before = self.types.get((t.group, t.resource))
        if before is not None:
            t.objects = before.objects  # a CRD updated: its custom resources stay
        self.types[(t.group, t.resource)] = t
        return t

    def lookup(self, group: str, version: str, resource: str) -> ResourceType | None:
        t = self.types.get((group, resource))
        return t if t is not None and version in t.versions else None

    def groups(self) -> dict[str, list[str]]:
        """group -> versions, preferred first (the core group is "")."""
        out: dict[str, set[str]] = {}
        for t in self.types.values():
            out.setdefault(t.group, set()).update(t.versions)
        return {g: sorted(vs, key=version_priority) for g, vs in sorted(out.items())}

    # -- objects -------------------------------------------------------------------------------------
    def load(self, objects: Iterable[Mapping[str, Any]], crd_scopes: Mapping[str, bool] | None = None) -> int:
        """Add fixture objects (first of a (group, kind, namespace, name) wins, as a cluster holds one);
        returns how many were kept. ``crd_scopes``: kind -> namespaced, from CustomResourceDefinitions."""
        kept = 0
        for raw in objects:
            api_version, kind = raw.get("apiVersion"), raw.get("kind")
            md = raw.get("metadata")
            if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(md, dict):
                continue
            name = md.get("name")
            if not isinstance(name, str) or not name or kind.endswith("List"):
                continue
            t = self.type_for(api_version, kind, namespaced=(crd_scopes or {}).get(kind))
            ns = (md.get("namespace") or "default") if t.namespaced else ""
            if (ns, name) in t.objects:
                continue
            self.upsert(raw, quiet=True)
            kept += 1
        # a namespaced object needs its Namespace
        self._namespaces()
        return kept

    def load_cluster(self, objects: Iterable[Mapping[str, Any]], crd_scopes: Mapping[str, bool] | None = None) -> int:
        """:meth:`load` as a running cluster holds the objects: what its API server and controllers add
        (the bootstrap RBAC roles, aggregated ClusterRoles filled in, objects of old group aliases
        stored once under the group that owns the type)."""
        from kubefort.analysis.rbac.bootstrap import BOOTSTRAP_CLUSTER_ROLES, BOOTSTRAP_ROLES

        kept = self.load([_canonical(o) for o in objects], crd_scopes)
        self.load([*BOOTSTRAP_CLUSTER_ROLES, *BOOTSTRAP_ROLES])
        self.aggregate_cluster_roles()
        return kept

    def aggregate_cluster_roles(self) -> None:
        """What the clusterrole-aggregation controller does: an aggregated ClusterRole's rules are the
        rules of every ClusterRole its selectors match (to a fixed point)."""
        roles = self.types[("rbac.authorization.k8s.io", "clusterroles")].objects
        for _ in range(10):
            changed = False
            for obj in roles.values():
                agg = obj.get("aggregationRule")
                sels = agg.get("clusterRoleSelectors") if isinstance(agg, dict) else None
                if not isinstance(sels, list):
                    continue
                rules: list[Any] = []
                for other in sorted(roles.values(), key=lambda o: o["metadata"]["name"]):
                    if other is obj:
                        continue
                    labels = other["metadata"].get("labels") or {}
                    if any(
                        isinstance(sel, dict)
                        and isinstance(sel.get("matchLabels"), dict)
                        and sel["matchLabels"]
                        and all(labels.get(k) == v for k, v in sel["matchLabels"].items())
                        for sel in sels
                    ):
                        rules.extend(r for r in other.get("rules") or [] if r not in rules)
                if rules != (obj.get("rules") or []):
                    obj["rules"] = rules
                    changed = True
            if not changed:
                return

    def _namespaces(self) -> None:
        used = {ns for t in self.types.values() for ns, _ in t.objects if ns}
        nst = self.types[("", "namespaces")]
        for ns in sorted(used - {n for _, n in nst.objects}):
            self.upsert({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, quiet=True)

    def upsert(self, raw: Mapping[str, Any], *, quiet: bool = False) -> dict[str, Any]:
        obj = copy.deepcopy(dict(raw))
        t = self.type_for(str(obj["apiVersion"]), str(obj["kind"]))
        md = obj.setdefault("metadata", {})
        if t.namespaced:
            md["namespace"] = md.get("namespace") or "default"
        else:
            md.pop("namespace", None)
        key = (md.get("namespace", ""), md["name"])
        with self.cond:
            old = t.objects.get(key)
            self.rv += 1
            md["resourceVersion"] = str(self.rv)
            if "uid" not in md:  # fixed for reproducible fixtures; an object made again gets a new one
                name = f"{t.group}/{t.resource}/{key[0]}/{key[1]}"
                n = self._incarnations.get(name, 0) if old is None else max(self._incarnations.get(name, 1) - 1, 0)
                md["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}#{n}" if n else name))
                if old is None:
                    self._incarnations[name] = n + 1
            md.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            t.objects[key] = obj
            if not quiet:
                self.events.append(Event(self.rv, "MODIFIED" if old else "ADDED", t, copy.deepcopy(obj)))
            else:
                self.compacted = self.rv  # fixtures are history nobody can watch
            self.cond.notify_all()
        return obj

    def delete(self, group: str, resource: str, namespace: str, name: str) -> dict[str, Any]:
        t = self.types[(group, resource)]
        with self.cond:
            obj = t.objects.pop((namespace, name))
            self.rv += 1
            gone = copy.deepcopy(obj)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self.events.append(Event(self.rv, "DELETED", t, gone))
            self.cond.notify_all()
        return gone

    def compact(self) -> None:
        """Forget the history up to now (etcd compaction): older continue tokens and watches get 410."""
        with self.cond:
            self.compacted = self.rv
            self.events.clear()

    def items(
        self, t: ResourceType, namespace: str | None, selector: LabelSelector | None = None
    ) -> list[tuple[tuple[str, str], dict[str, Any]]]:
        with self.cond:
            return sorted(
                (k, o)
                for k, o in t.objects.items()
                if (namespace is None or k[0] == namespace) and (selector is None or selector.matches(o))
            )

    def events_after(self, rv: int) -> Iterator[Event]:
        return (e for e in list(self.events) if e.rv > rv)

    def served_objects(self) -> list[dict[str, Any]]:
        """Every object as a client reading each type at its preferred version gets it (with apiVersion
        and kind), for tests that compare with a scan of the same objects as files."""
        out = []
        for t in self.types.values():
            for _, obj in sorted(t.objects.items()):
                out.append(served(obj, t, t.versions[0], with_kind=True))
        return out


@dataclass(frozen=True)
class LabelSelector:
    """A ``labelSelector`` query, equality- and set-based as the API reference documents it
    (``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``, ``a in (x,y)``, ``a notin (x,y)``; comma = and)."""

    terms: tuple[tuple[str, str, frozenset[str]], ...]  # (key, op, values)

    @staticmethod
    def parse(text: str) -> LabelSelector:
        terms = []
        for part in _split_selector(text):
            part = part.strip()
            if not part:
                continue
            m = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$", part)
            if m:
                values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
                terms.append((m.group(1), m.group(2), values))
            elif part.startswith("!"):
                terms.append((part[1:].strip(), "!", frozenset()))
            elif "!=" in part:
                k, v = part.split("!=", 1)
                terms.append((k.strip(), "notin", frozenset({v.strip()})))
            elif "=" in part:
                k, v = part.replace("==", "=").split("=", 1)
                terms.append((k.strip(), "in", frozenset({v.strip()})))
            else:
                terms.append((part, "exists", frozenset()))
        return LabelSelector(tuple(terms))

    def matches(self, obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        for key, op, values in self.terms:
            have = key in labels
            if (
                (op == "in" and (not have or labels[key] not in values))
                or (op == "notin" and have and labels[key] in values)
                or (op == "exists" and not have)
                or (op == "!" and have)
            ):
                return False
        return True


def _split_selector(text: str) -> list[str]:
    """Split on the commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    out.append(cur)
    return out


#: types an old group served too: a cluster stores one object, served under both groups
_ALIASES = {
    ("extensions", "Deployment"): "apps/v1",
    ("extensions", "DaemonSet"): "apps/v1",
    ("extensions", "ReplicaSet"): "apps/v1",
    ("extensions", "NetworkPolicy"): "networking.k8s.io/v1",
    ("extensions", "Ingress"): "networking.k8s.io/v1",
    ("extensions", "PodSecurityPolicy"): "policy/v1beta1",
}


def _canonical(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    canonical = _ALIASES.get((api_version.rpartition("/")[0], kind))
    return {**obj, "apiVersion": canonical} if canonical else obj


def served(obj: Mapping[str, Any], t: ResourceType, version: str, *, with_kind: bool) -> dict[str, Any]:
    """The object as the server sends it at ``version``: typed lists of built-in types omit
    apiVersion and kind in their items (the list says them); custom resources keep them."""
    out = dict(obj)
    out["apiVersion"] = f"{t.group}/{version}" if t.group else version
    if not with_kind:
        out.pop("apiVersion")
        out.pop("kind", None)
    return out
