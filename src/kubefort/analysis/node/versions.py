"""Kubernetes versions: the bundled release table (``kubefort/data/k8s_releases.yaml``), end of
life, patch level, the version skew policy and the upgrade order.

Version skew policy (https://kubernetes.io/releases/version-skew-policy/):

- kube-apiserver instances of an HA cluster: newest and oldest within one minor.
- kubelet: never newer than the (oldest) kube-apiserver; up to three minors older (two when the
  kubelet is older than 1.25).
- kube-proxy: never newer than kube-apiserver; up to three minors older (two below 1.25); and
  within three minors (two below 1.25) of the kubelet on its node.
- kube-controller-manager, kube-scheduler, cloud-controller-manager: never newer than the oldest
  kube-apiserver; at most one minor older than the newest one.
- kubectl: within one minor (older or newer) of every kube-apiserver.

Upgrade order: etcd (to the version the target release supports), kube-apiserver (all instances),
kube-controller-manager, kube-scheduler, cloud-controller-manager, then kubelet and kube-proxy node
by node (drain each node first); the API server never skips a minor.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from ...model.objects import K8sObject, Path

VERSIONS_API = "kubefort.io/v1alpha1"
VERSIONS_KIND = "ClusterVersions"
#: Fields of a ClusterVersions object, in upgrade order.
FIELDS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "cloud-controller-manager",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "containerd",
    "kernel",
)
K8S_COMPONENTS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "cloud-controller-manager",
    "kubelet",
    "kube-proxy",
)
UPGRADE_ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "cloud-controller-manager",
    "kubelet and kube-proxy, node by node (drain first)",
)

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, slots=True, order=True)
class Version:
    major: int
    minor: int
    patch: int = 0
    text: str = field(default="", compare=False)

    @classmethod
    def parse(cls, text: Any) -> Version | None:
        """``1.31.2``, ``v1.31.2``, ``v1.31.2-eks-1234``, ``containerd://1.7.13``, ``1.31``."""
        if not isinstance(text, str):
            return None
        t = text.strip()
        if "://" in t:
            t = t.split("://", 1)[1]
        m = _VERSION.match(t)
        if m is None:
            return None
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0), text.strip())

    @property
    def minor_key(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True, slots=True)
class Release:
    minor: str
    released: dt.date | None
    maintenance_mode: dt.date | None
    end_of_life: dt.date | None
    latest_patch: Version | None


@dataclass(frozen=True, slots=True)
class ReleaseTable:
    source: str
    as_of: dt.date
    releases: tuple[Release, ...]  # newest first

    def get(self, minor: str) -> Release | None:
        for r in self.releases:
            if r.minor == minor:
                return r
        return None

    @property
    def newest(self) -> Release:
        return self.releases[0]

    @property
    def oldest(self) -> Release:
        return self.releases[-1]

    def supported(self, today: dt.date) -> list[Release]:
        return [
            r
            for r in self.releases
            if (r.released is None or r.released <= today) and r.end_of_life is not None and r.end_of_life > today
        ]

    def minors_between(self, start: str, end: str) -> list[str]:
        """The minors after ``start`` up to ``end`` (one at a time: the API server never skips)."""
        s, e = _minor_tuple(start), _minor_tuple(end)
        return [f"{s[0]}.{m}" for m in range(s[1] + 1, e[1] + 1)] if s[0] == e[0] else [end]


def _minor_tuple(m: str) -> tuple[int, int]:
    a, b = m.split(".")[:2]
    return int(a), int(b)


def parse_date(v: Any) -> dt.date | None:
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str) and v:
        return dt.date.fromisoformat(v)
    return None


def _data(name: str) -> Any:
    return yaml.load(
        resources.files("kubefort").joinpath(f"data/{name}").read_text(encoding="utf-8"),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )  # our own data: the C loader is safe


@lru_cache(maxsize=1)
def release_table() -> ReleaseTable:
    raw = _data("k8s_releases.yaml")
    rels = tuple(
        Release(
            minor=str(r["minor"]),
            released=parse_date(r.get("released")),
            maintenance_mode=parse_date(r.get("maintenance_mode")),
            end_of_life=parse_date(r.get("end_of_life")),
            latest_patch=Version.parse(r.get("latest_patch")),
        )
        for r in raw["releases"]
    )
    return ReleaseTable(
        source=str(raw.get("source", "")),
        as_of=parse_date(raw.get("as_of")) or dt.date.min,
        releases=tuple(sorted(rels, key=lambda r: _minor_tuple(r.minor), reverse=True)),
    )


@lru_cache(maxsize=1)
def cve_table() -> tuple[Mapping[str, Any], ...]:
    return tuple(_data("k8s_cves.yaml")["cves"])


@lru_cache(maxsize=1)
def deprecated_apis() -> dict[tuple[str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for e in _data("k8s_deprecated_apis.yaml")["apis"]:
        for k in e["kinds"]:
            out[(str(e["apiVersion"]), str(k))] = e
    return out


@lru_cache(maxsize=1)
def addon_table() -> tuple[Mapping[str, Any], ...]:
    return tuple(_data("k8s_addons.yaml")["addons"])


def today_of(param: Any) -> dt.date:
    """The ``today`` parameter (YYYY-MM-DD, for reproducible reports) or the current UTC date."""
    if isinstance(param, dt.date):
        return param
    if isinstance(param, str) and param.strip():
        return dt.date.fromisoformat(param.strip())
    return dt.datetime.now(dt.UTC).date()


def in_ranges(v: Version, ranges: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The range [introduced, fixed) that contains ``v``, if any."""
    for r in ranges:
        lo = Version.parse(str(r.get("introduced", "0")) if str(r.get("introduced", "0")) != "0" else "0.0.0")
        hi = Version.parse(str(r.get("fixed"))) if r.get("fixed") else None
        if lo is not None and v < lo:
            continue
        if hi is not None and not v < hi:
            continue
        return r
    return None


# -- the ClusterVersions object -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComponentVersion:
    component: str
    version: Version | None
    text: str
    name: str | None  # instance or node name
    path: Path


def is_versions(obj: K8sObject) -> bool:
    return obj.kind == VERSIONS_KIND and obj.api_version.startswith("kubefort.io/")


def component_versions(obj: K8sObject, component: str) -> list[ComponentVersion]:
    """Versions of one component in a ClusterVersions object: ``spec.<component>`` is a list of
    ``"1.31.2"`` strings or ``{version, name}`` mappings (one per instance or node)."""
    spec = obj.raw.get("spec")
    items = spec.get(component) if isinstance(spec, dict) else None
    if isinstance(items, (str, Mapping)):
        items = [items]
    out = []
    for i, it in enumerate(items if isinstance(items, list) else []):
        name = None
        text = it
        if isinstance(it, dict):
            text = it.get("version")
            name = it.get("name") if isinstance(it.get("name"), str) else None
        out.append(ComponentVersion(component, Version.parse(text), str(text), name, ("spec", component, i)))
    return out


def label(cv: ComponentVersion) -> str:
    return f"{cv.component} {cv.text}" + (f" ({cv.name})" if cv.name else "")


def versions_object(
    versions: Mapping[str, Sequence[str | Mapping[str, str]]], *, name: str = "cluster", source: Any = None
) -> K8sObject:
    """A ClusterVersions object (for ``kubefort versions`` and tests)."""
    from ...model.objects import Source

    raw = {
        "apiVersion": VERSIONS_API,
        "kind": VERSIONS_KIND,
        "metadata": {"name": name},
        "spec": {k: list(v) for k, v in versions.items() if v},
    }
    return K8sObject.from_raw(raw, source or Source(file="<versions>"), cluster_scoped=True)


# -- skew ------------------------------------------------------------------------------------------------


def minor_gap(a: Version, b: Version) -> int:
    """How many minors ``a`` is older than ``b`` (negative when newer)."""
    return (b.major - a.major) * 1000 + (b.minor - a.minor)


def kubelet_max_gap(v: Version) -> int:
    return 3 if (v.major, v.minor) >= (1, 25) else 2


@dataclass(frozen=True, slots=True)
class UpgradeStep:
    minor: str
    latest_patch: str | None


def upgrade_path(current: Version, table: ReleaseTable, today: dt.date) -> list[UpgradeStep]:
    """One minor at a time from ``current`` to the newest supported minor (to its latest patch)."""
    sup = table.supported(today)
    target = sup[0] if sup else table.newest
    steps = []
    for m in table.minors_between(current.minor_key, target.minor):
        r = table.get(m)
        steps.append(UpgradeStep(m, str(r.latest_patch) if r and r.latest_patch else None))
    return steps


# -- the report of kubefort versions ------------------------------------------------------------------------

#: What ``kubefort versions`` is given: component -> versions, each ``"1.31.2"`` or ``{version, name}``.
VersionSpec = Mapping[str, Sequence[Any]]


def _item_text(item: Any) -> Any:
    return item["version"] if isinstance(item, dict) else item


def component_status(component: str, version: Any, today: dt.date) -> dict[str, Any]:
    """Where one Kubernetes component's version stands in the release table: its minor, end of life,
    ``status`` (supported, maintenance, end_of_life, unknown: newer than the table) and patch level.
    Other components (etcd, containerd, the kernel) are listed with their version only."""
    v = Version.parse(version)
    d: dict[str, Any] = {"component": component, "version": str(version)}
    if v is None or component not in (*K8S_COMPONENTS, "kubectl"):
        return d
    table = release_table()
    rel = table.get(v.minor_key)
    d["minor"] = v.minor_key
    if rel is None:
        newest = table.newest
        newer = (v.major, v.minor) > _minor_tuple(newest.minor)
        d["status"] = "unknown" if newer else "end_of_life"
        return d
    d["end_of_life"] = str(rel.end_of_life) if rel.end_of_life else None
    if rel.end_of_life and rel.end_of_life <= today:
        d["status"] = "end_of_life"
    elif rel.maintenance_mode and rel.maintenance_mode <= today:
        d["status"] = "maintenance"
    else:
        d["status"] = "supported"
    if rel.latest_patch is not None:
        d["latest_patch"] = str(rel.latest_patch)
        d["patches_behind"] = max(0, rel.latest_patch.patch - v.patch)
    return d


def component_statuses(spec: VersionSpec, today: dt.date) -> list[dict[str, Any]]:
    """:func:`component_status` of every given version, in upgrade order (with its instance or node name)."""
    order = {c: i for i, c in enumerate(FIELDS)}
    return [
        component_status(comp, _item_text(it), today) | ({"name": it["name"]} if isinstance(it, dict) else {})
        for comp, items in sorted(spec.items(), key=lambda kv: order.get(kv[0], 99))
        for it in items
    ]


def upgrade_plan(spec: VersionSpec, today: dt.date) -> dict[str, Any]:
    """The upgrade order, the path of the oldest API server to the newest supported minor, and the
    kubelets and kube-proxies that must be upgraded first (blockers) to stay within the skew policy."""

    def vers(comp: str) -> list[tuple[str, Version]]:
        out = []
        for it in spec.get(comp, []):
            text = _item_text(it)
            name = it.get("name") if isinstance(it, dict) else None
            v = Version.parse(text)
            if v is not None:
                out.append((f"{comp} {text}" + (f" ({name})" if name else ""), v))
        return out

    apis = vers("kube-apiserver")
    plan: dict[str, Any] = {"order": list(UPGRADE_ORDER), "path": [], "blockers": []}
    if not apis:
        return plan
    table = release_table()
    oldest = min(v for _, v in apis)
    steps = upgrade_path(oldest, table, today)
    plan["path"] = [{"minor": s.minor, "latest_patch": s.latest_patch} for s in steps]
    # the first step at which each kubelet or kube-proxy would fall outside the skew policy
    for lab, v in vers("kubelet") + vers("kube-proxy"):
        for s in steps:
            major, minor = _minor_tuple(s.minor)
            if (major - v.major) * 1000 + (minor - v.minor) > kubelet_max_gap(v):
                need = f"{major}.{minor - kubelet_max_gap(v)}" if major == v.major else s.minor
                plan["blockers"].append(
                    f"before kube-apiserver {s.minor}: upgrade {lab} to at least {need} "
                    "(and keep it within 3 minors at every later step)"
                )
                break
    return plan


# -- versions of a live cluster (kubefort versions --cluster / --snapshot) -------------------------------

#: the namespace whose static (mirror) Pods and DaemonSets run the control plane and kube-proxy
CONTROL_PLANE_NAMESPACE = "kube-system"
#: the components a control-plane static pod (or the kube-proxy DaemonSet) runs, by the name of its binary
_POD_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "cloud-controller-manager")


@dataclass(frozen=True, slots=True)
class ClusterVersions:
    """What ``kubefort versions --cluster`` found: the versions of each component (a :data:`VersionSpec`)
    and notes on what it could not tell."""

    spec: dict[str, list[Any]]
    notes: tuple[str, ...] = ()


def node_group_name(nodes: Sequence[str]) -> str:
    """The name of the nodes that share a version: each one up to three, else the first two and a count
    (a cluster of 5,000 nodes is a few lines, not 5,000)."""
    names = sorted(nodes)
    if len(names) <= 3:
        return ", ".join(names)
    return f"{names[0]}, {names[1]} and {len(names) - 2} more nodes"


def _node_info(node: K8sObject) -> Mapping[str, Any]:
    info = node.get("status", "nodeInfo")
    return info if isinstance(info, Mapping) else {}


def _usable(text: Any) -> str | None:
    """A version a node reports, or None when it reports none (kube-proxy's is empty, or v0.0.0, on
    recent kubelets: the field is deprecated)."""
    if not isinstance(text, str) or not text.strip():
        return None
    v = Version.parse(text)
    if v is None or (v.major, v.minor, v.patch) == (0, 0, 0):
        return None
    t = text.strip()
    return t[1:] if t[:1] == "v" and t[1:2].isdigit() else t  # v1.31.4 as the image tags say it: 1.31.4


def cluster_versions(server_version: Mapping[str, Any], objects: Iterable[K8sObject]) -> ClusterVersions:
    """The component versions of a cluster, from ``/version`` (``server_version``), every Node's
    ``status.nodeInfo`` (kubelet, kube-proxy, container runtime, kernel) and the image tags of the
    control plane's static Pods (and of the kube-proxy DaemonSet) in kube-system.

    kube-apiserver: one per static Pod (named by its node); a managed control plane shows none, and
    ``/version`` (the instance that answered) stands for it. Nodes sharing a version are one item."""
    from .flags import components

    spec: dict[str, list[Any]] = {}
    notes: list[str] = []
    nodes: list[K8sObject] = []
    proxy_daemonset: str | None = None
    for o in objects:
        if o.kind == "Node":
            nodes.append(o)
        elif o.kind in ("Pod", "DaemonSet") and o.namespace == CONTROL_PLANE_NAMESPACE:
            for name, comp in sorted(components(o).items()):
                if comp.version is None:
                    continue
                if o.kind == "DaemonSet":
                    if name == "kube-proxy":
                        proxy_daemonset = comp.version
                    continue
                if name in _POD_COMPONENTS:
                    where = o.get("spec", "nodeName")
                    spec.setdefault(name, []).append({"version": comp.version, "name": str(where or o.name)})
    for items in spec.values():
        items.sort(key=lambda it: (it["name"], it["version"]))
    if "kube-apiserver" not in spec:
        git = _usable(server_version.get("gitVersion"))
        if git is not None:
            spec["kube-apiserver"] = [{"version": git, "name": "/version"}]
            notes.append(
                "no kube-apiserver static Pod in kube-system (a managed control plane?): its version is /version's"
            )
    by_kubelet: dict[tuple[str, str | None], list[str]] = {}
    runtimes: dict[str, list[str]] = {}
    kernels: dict[str, list[str]] = {}
    others: dict[str, list[str]] = {}
    for n in nodes:
        info = _node_info(n)
        kubelet = _usable(info.get("kubeletVersion"))
        if kubelet is not None:
            by_kubelet.setdefault((kubelet, _usable(info.get("kubeProxyVersion"))), []).append(n.name)
        runtime = info.get("containerRuntimeVersion")
        if isinstance(runtime, str) and runtime.startswith("containerd://") and _usable(runtime):
            runtimes.setdefault(runtime.split("://", 1)[1], []).append(n.name)
        elif isinstance(runtime, str) and runtime:
            others.setdefault(runtime, []).append(n.name)
        kernel = _usable(info.get("kernelVersion"))
        if kernel is not None:
            kernels.setdefault(kernel, []).append(n.name)
    for (kubelet, proxy), names in sorted(by_kubelet.items()):
        group = node_group_name(names)
        spec.setdefault("kubelet", []).append({"version": kubelet, "name": group})
        proxy = proxy or proxy_daemonset
        if proxy is not None:
            spec.setdefault("kube-proxy", []).append({"version": proxy, "name": group})
    for field_name, found in (("containerd", runtimes), ("kernel", kernels)):
        for version, names in sorted(found.items()):
            spec.setdefault(field_name, []).append({"version": version, "name": node_group_name(names)})
    for runtime, names in sorted(others.items()):
        notes.append(f"container runtime {runtime} on {node_group_name(names)}: only containerd is judged")
    if not nodes:
        notes.append("no Node read: no kubelet, kube-proxy, container runtime or kernel version")
    return ClusterVersions(spec=spec, notes=tuple(notes))
