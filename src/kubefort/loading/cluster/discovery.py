"""API discovery: which resource types a cluster serves, at which versions, namespaced or not.

The aggregated discovery document (``/api`` and ``/apis`` with ``Accept: ...;as=APIGroupDiscoveryList``,
Kubernetes 1.26+, GA in 1.30) gives every group, version and resource in two requests; when a server
does not serve it, the answer is the plain ``APIVersions``/``APIGroupList`` and kubefort falls back to
one ``APIResourceList`` request per group, at its preferred version (what ``kubectl api-resources``
reads). Versions come in the server's order of preference, first preferred.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model.kinds import split_group_kind
from .transport import ApiError, ClusterError, Transport

log = logging.getLogger(__name__)

#: aggregated discovery first (v2, then v2beta1 for 1.26-1.29 servers), plain JSON as the fall-back
AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)

#: the same objects served under an older group too: read them once, from the group that owns them
ALIAS_GROUPS: Mapping[tuple[str, str], str] = {
    ("extensions", "Deployment"): "apps",
    ("extensions", "DaemonSet"): "apps",
    ("extensions", "ReplicaSet"): "apps",
    ("extensions", "NetworkPolicy"): "networking.k8s.io",
    ("extensions", "Ingress"): "networking.k8s.io",
    ("extensions", "PodSecurityPolicy"): "policy",
    ("events.k8s.io", "Event"): "",
}

#: aggregated APIs (served by a Deployment of their own, often down) whose kinds are known and stable:
#: when the discovery of one of these groups fails, only these kinds are unknown. A group not listed
#: here (nor built in) may serve any kind, so every kind of no known group is unknown while it is down.
AGGREGATED_APIS: Mapping[str, frozenset[str]] = {
    "metrics.k8s.io": frozenset({"NodeMetrics", "PodMetrics"}),
    "custom.metrics.k8s.io": frozenset({"MetricValueList"}),
    "external.metrics.k8s.io": frozenset({"ExternalMetricValueList"}),
    # Kasten K10's aggregated API server (its policies, config.kio.kasten.io, are CRDs)
    "actions.kio.kasten.io": frozenset(
        {
            "BackupAction",
            "BackupClusterAction",
            "CancelAction",
            "ExportAction",
            "ImportAction",
            "ReportAction",
            "RestoreAction",
            "RestoreClusterAction",
            "RetireAction",
            "RunAction",
            "UpgradeAction",
        }
    ),
    "apps.kio.kasten.io": frozenset({"Application", "ClusterRestorePoint", "RestorePoint", "RestorePointContent"}),
    "repositories.kio.kasten.io": frozenset({"StorageRepository"}),
    "vault.kio.kasten.io": frozenset({"Passkey"}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceType:
    """One listable resource at one version: ``apps/v1`` ``deployments`` (kind ``Deployment``)."""

    group: str
    version: str
    resource: str  # the plural in the URL
    kind: str
    namespaced: bool
    verbs: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def name(self) -> str:
        """``deployments.apps``, ``pods``: as kubectl and RBAC name it."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def named_in(self, kinds: Collection[str]) -> bool:
        """Whether ``kinds`` (``Kind``, or ``Kind.group``: model.kinds.split_group_kind) name this type."""
        return self.kind in kinds or f"{self.kind}.{self.group}" in kinds

    def path(self, namespace: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{base}/namespaces/{namespace}/{self.resource}"
        return f"{base}/{self.resource}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "version": self.version,
            "resource": self.resource,
            "kind": self.kind,
            "namespaced": self.namespaced,
            "verbs": list(self.verbs),
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ResourceType:
        return ResourceType(
            group=str(d.get("group") or ""),
            version=str(d["version"]),
            resource=str(d["resource"]),
            kind=str(d["kind"]),
            namespaced=bool(d.get("namespaced")),
            verbs=tuple(str(v) for v in d.get("verbs") or ()),
        )


@dataclass(slots=True, kw_only=True)
class Discovery:
    """Every resource type served at each group's preferred version, and what discovery could not read."""

    resources: list[ResourceType] = field(default_factory=list)
    aggregated: bool = False
    failed: dict[str, str] = field(default_factory=dict)  # group/version -> why its resources are unknown

    def for_kinds(self, kinds: Iterable[str]) -> list[ResourceType]:
        """The types to list for ``kinds``: each group serving one of them (at its preferred version), less
        aliases of a group that serves it too, and only types that can be listed. A kind named with its
        group (``Policy.kyverno.io``: model.kinds.split_group_kind) is listed in that group only."""
        wanted = set(kinds)
        served = {(t.group, t.kind) for t in self.resources}
        out = []
        for t in self.resources:
            if not t.named_in(wanted) or "list" not in t.verbs:
                continue
            owner = ALIAS_GROUPS.get((t.group, t.kind))
            if owner is not None and (owner, t.kind) in served:
                continue
            out.append(t)
        return sorted(out, key=lambda t: (t.group, t.kind))

    def failed_groups(self) -> dict[str, str]:
        """group -> why its discovery failed (one line, every failed version of the group)."""
        out: dict[str, str] = {}
        for gv, why in sorted(self.failed.items()):
            group = gv.rsplit("/", 1)[0] if "/" in gv else ""
            line = f"cannot discover {gv}: {why}"
            out[group] = f"{out[group]}; {line}" if group in out else line
        return out

    def undiscovered(self, kinds: Iterable[str], known: Mapping[str, Iterable[str]]) -> dict[str, str]:
        """The kinds of ``kinds`` (``Kind`` or ``Kind.group``) that a group whose discovery failed may serve, with why (kind -> reason):
        they are unknown, neither present nor absent. ``known``: the kinds of groups whose kinds are known
        (the built-in groups); with :data:`AGGREGATED_APIS`, a failed group of known kinds hides only
        those, any other failed group every kind of no known group. Kinds a stale discovery still listed
        are not undiscovered: they are listed (or found unreadable) like the others."""
        failed = self.failed_groups()
        if not failed:
            return {}
        groups = {g: frozenset(k) for g, k in {**AGGREGATED_APIS, **known}.items()}
        reserved = frozenset().union(*groups.values())
        listed = {(t.group, t.kind) for t in self.resources}
        out: dict[str, str] = {}
        for name in sorted(set(kinds)):
            kind, group = split_group_kind(name)  # a group-qualified kind is served by its group only
            why = [
                line
                for g, line in failed.items()
                if (g, kind) not in listed
                and (group is None or g == group)
                and (group is not None or (kind in groups[g] if g in groups else kind not in reserved))
            ]
            if why:
                out[name] = "; ".join(why)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "aggregated": self.aggregated,
            "resources": [t.to_dict() for t in self.resources],
            "failed": dict(self.failed),
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Discovery:
        return Discovery(
            resources=[ResourceType.from_dict(r) for r in d.get("resources") or ()],
            aggregated=bool(d.get("aggregated")),
            failed={str(k): str(v) for k, v in (d.get("failed") or {}).items()},
        )


def discover(transport: Transport) -> Discovery:
    """Read the cluster's discovery documents; :class:`ClusterError` when the server cannot be read."""
    try:
        core = transport.get("/api", accept=AGGREGATED_ACCEPT).json()
        groups = transport.get("/apis", accept=AGGREGATED_ACCEPT).json()
    except ApiError as e:
        if e.status in (401, 403):
            raise ClusterError(f"the API server refuses discovery ({e.short()}): {e.message or e.reason}") from None
        raise ClusterError(f"cannot read the API server's discovery documents: {e}") from None
    if _is_aggregated(core) and _is_aggregated(groups):
        out = Discovery(aggregated=True)
        for doc in (core, groups):
            _read_aggregated(doc, out)
        return out
    out = Discovery()
    listed = core.get("versions") if isinstance(core, dict) else None
    core_versions = [v for v in listed if isinstance(v, str)] if isinstance(listed, list) else []
    if core_versions:
        _read_group_version(transport, "", core_versions[0], out)
    for g in _list(groups, "groups"):
        name = g.get("name")
        preferred = g.get("preferredVersion") if isinstance(g.get("preferredVersion"), dict) else None
        version = (preferred or {}).get("version") or next(
            (v.get("version") for v in _list(g, "versions") if isinstance(v.get("version"), str)), None
        )
        if isinstance(name, str) and isinstance(version, str):
            _read_group_version(transport, name, version, out)
    return out


def _is_aggregated(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "APIGroupDiscoveryList"


def _list(doc: Any, key: str) -> list[dict[str, Any]]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _read_aggregated(doc: Mapping[str, Any], out: Discovery) -> None:
    for group in _list(doc, "items"):
        md = group.get("metadata")
        gname = str((md or {}).get("name") or "") if isinstance(md, dict) else ""
        versions = _list(group, "versions")
        if not versions:
            continue
        v = versions[0]  # the preferred version comes first
        version = str(v.get("version") or "")
        if v.get("freshness") == "Stale":
            out.failed[f"{gname}/{version}" if gname else version] = (
                "discovery is stale (the API service is unavailable)"
            )
        for r in _list(v, "resources"):
            rk = r.get("responseKind") if isinstance(r.get("responseKind"), dict) else {}
            kind, resource = (rk or {}).get("kind"), r.get("resource")
            if not isinstance(kind, str) or not isinstance(resource, str) or not kind or "/" in resource:
                continue
            out.resources.append(
                ResourceType(
                    group=gname,
                    version=version,
                    resource=resource,
                    kind=kind,
                    namespaced=r.get("scope") == "Namespaced",
                    verbs=tuple(str(x) for x in r.get("verbs") or () if isinstance(x, str)),
                )
            )


#: a group's discovery document is retried this many times: an aggregated API server that is down
#: answers 503 for minutes, not milliseconds, and one per group would hold the scan for each
DISCOVERY_RETRIES = 1


def _read_group_version(transport: Transport, group: str, version: str, out: Discovery) -> None:
    gv = f"{group}/{version}" if group else version
    path = f"/apis/{gv}" if group else f"/api/{version}"
    try:
        doc = transport.get(path, retries=DISCOVERY_RETRIES).json()
    except ApiError as e:
        # an aggregated API server that is down (metrics-server...): its kinds stay unknown, the rest is read
        out.failed[gv] = f"cannot read {path}: {e.short()}"
        return
    for r in _list(doc, "resources"):
        name, kind = r.get("name"), r.get("kind")
        if not isinstance(name, str) or not isinstance(kind, str) or not kind or "/" in name:
            continue  # subresources (pods/log, deployments/scale)
        out.resources.append(
            ResourceType(
                group=group,
                version=version,
                resource=name,
                kind=kind,
                namespaced=bool(r.get("namespaced")),
                verbs=tuple(str(x) for x in r.get("verbs") or () if isinstance(x, str)),
            )
        )
