"""An index of every loaded object, so rules can look across objects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .kinds import WORKLOAD_KINDS
from .objects import K8sObject, Source

if TYPE_CHECKING:
    from .workloads import PodSpecView

T = TypeVar("T")


@dataclass(frozen=True, slots=True, eq=False)
class NamespaceView:
    """A namespace of the input: its Namespace object when present, and the objects that live in it.

    ``anchor`` is where findings about the namespace point: the Namespace object, or, when the input
    has none, a stand-in Namespace located at the ``metadata.namespace`` of the namespace's first object.
    """

    name: str
    obj: K8sObject | None
    objects: list[K8sObject]
    anchor: K8sObject

    @property
    def labels(self) -> Mapping[str, str] | None:
        """Namespace labels with the automatic ``kubernetes.io/metadata.name``; None when unknown."""
        if self.obj is None:
            return None
        labels = dict(self.obj.labels)
        labels["kubernetes.io/metadata.name"] = self.name
        return labels

    def of_kind(self, *kinds: str) -> list[K8sObject]:
        return [o for o in self.objects if o.kind in kinds]


@dataclass(frozen=True, slots=True)
class Owners:
    """Who stands for whom in a live cluster: the objects a workload controller made (a ReplicaSet of a
    Deployment, its Pods; a CronJob's Jobs and their Pods) are judged on the topmost controller present,
    whose pod template they were made from, and that controller carries the count of its pods.

    Keys are ``id()`` of the inventory's objects (which live as long as the inventory).
    """

    top: Mapping[int, K8sObject]  # id(controlled object) -> its topmost pod-bearing controller present
    pods: Mapping[int, int]  # id(controller) -> how many Pods it stands for

    @staticmethod
    def build(objects: Iterable[K8sObject]) -> Owners:
        workloads = [o for o in objects if o.kind in WORKLOAD_KINDS]
        by_uid: dict[str, K8sObject] = {}
        by_key: dict[tuple[str, str | None, str], K8sObject] = {}
        for o in workloads:
            uid = o.get("metadata", "uid")
            if isinstance(uid, str) and uid:
                by_uid.setdefault(uid, o)
            by_key.setdefault((o.kind, o.namespace, o.name), o)
        parent: dict[int, K8sObject] = {}
        for o in workloads:
            refs = o.get("metadata", "ownerReferences")
            for ref in refs if isinstance(refs, list) else ():
                if not isinstance(ref, dict) or ref.get("controller") is not True:
                    continue
                uid, kind, name = ref.get("uid"), ref.get("kind"), ref.get("name")
                owner = by_uid.get(uid) if isinstance(uid, str) and uid else None
                if owner is None and isinstance(kind, str) and isinstance(name, str):
                    owner = by_key.get((kind, o.namespace, name))
                # a mirror Pod's controller is its Node, a Spark Pod's its application: judged themselves
                if owner is not None and owner is not o and owner.kind == kind:
                    parent[id(o)] = owner
                break  # one controller at most
        top: dict[int, K8sObject] = {}
        pods: dict[int, int] = defaultdict(int)
        for o in workloads:
            up = parent.get(id(o))
            if up is None:
                continue
            seen = {id(o)}
            while id(up) in parent and id(up) not in seen and len(seen) < 16:  # cycles cannot hang it
                seen.add(id(up))
                up = parent[id(up)]
            top[id(o)] = up
            if o.kind == "Pod":
                pods[id(up)] += 1
        return Owners(top=top, pods=dict(pods))


#: (API group, kind, namespace, name): what makes two objects the same object to an API server
Identity = tuple[str, str, str | None, str]


def identity(obj: K8sObject) -> Identity | None:
    """The object's identity, or None when it has none (no name, or ``generateName``: every such
    object is a new one)."""
    name = obj.name
    if name == "<unnamed>" or name.endswith("*"):
        return None
    return (obj.group, obj.kind, obj.namespace, name)


class Inventory:
    """All objects of one scan, indexed by kind and by (kind, namespace, name).

    The same identity (API group, kind, namespace, name) can occur more than once in an input: the
    variants of one install in several files, copies kept for tests. Every copy is an object of its
    own: ``objects`` (and iteration) hold every copy, and the engine judges each one, so per-object
    findings stay with their file. The lookups that describe the cluster the input stands for
    (``of_kind``, ``in_namespace``, ``get``, ``pods``, ``namespace_views``) hold one object per
    identity, the first in input order, as an API server holds one: analyses across objects (RBAC
    grants, NetworkPolicy selection, namespace counts) see each binding, policy and workload once.
    :meth:`duplicates` lists the identities defined more than once, so reports can say so.
    """

    def __init__(
        self, objects: Iterable[K8sObject] = (), *, live: bool = False, unreadable: Mapping[str, str] | None = None
    ) -> None:
        self.objects: list[K8sObject] = []
        self.live = live  # True when the inventory is a whole cluster (cluster mode)
        # why a live inventory is less than the whole cluster (a scan of one namespace): the rules that judge
        # a whole cluster are then not evaluated (engine.runner.cluster_gap)
        self.partial: str | None = None
        # kinds a cluster scan could not read, and why ("cannot list networkpolicies: forbidden"): rules
        # that need them are not evaluated (RuleMeta.blocked_by)
        self.unreadable: dict[str, str] = dict(unreadable or {})
        # API groups whose discovery failed, and why (a live inventory): what they serve is unknown
        self.undiscovered: dict[str, str] = {}
        # the cluster's OpenAPI v3 documents by group/version (a live inventory): the schemas the custom
        # resources it holds are validated against (kubefort.analysis.schema.live)
        self.openapi: Mapping[str, Mapping[str, Any]] = {}
        self._by_kind: dict[str, list[K8sObject]] = defaultdict(list)
        self._all_by_kind: dict[str, list[K8sObject]] = defaultdict(list)  # copies included
        self._by_key: dict[tuple[str, str | None, str], K8sObject] = {}
        self._by_ns: dict[str | None, list[K8sObject]] = defaultdict(list)
        self._first: dict[Identity, K8sObject] = {}
        self._copies: dict[Identity, list[K8sObject]] = {}  # identities seen more than once: every copy
        self._cache: dict[Hashable, Any] = {}
        for o in objects:
            self.add(o)

    def add(self, obj: K8sObject) -> None:
        self._cache.clear()
        self.objects.append(obj)
        self._all_by_kind[obj.kind].append(obj)
        key = identity(obj)
        if key is not None:
            first = self._first.setdefault(key, obj)
            if first is not obj:
                self._copies.setdefault(key, [first]).append(obj)
                return  # a copy: judged by the engine, not seen again by the lookups
        self._by_kind[obj.kind].append(obj)
        self._by_key.setdefault((obj.kind, obj.namespace, obj.name), obj)
        self._by_ns[obj.namespace].append(obj)

    def duplicates(self) -> list[list[K8sObject]]:
        """The copies of each identity defined more than once, in input order (the first of each list
        is the one the lookups hold)."""
        return list(self._copies.values())

    def __len__(self) -> int:
        return len(self.objects)

    def __iter__(self) -> Iterator[K8sObject]:
        return iter(self.objects)

    def of_kind(self, *kinds: str, copies: bool = False) -> list[K8sObject]:
        """The objects of these kinds (one per identity), in input order; with ``copies``, every copy
        (for checks of the input itself, such as "defined more than once")."""
        index = self._all_by_kind if copies else self._by_kind
        if len(kinds) == 1:
            return index.get(kinds[0], [])
        # kept: rules ask per object ("is there any binding?"), and joining the lists each time is
        # quadratic in the input
        key = ("of_kind", kinds, copies)
        out = self._cache.get(key)
        if out is None:
            out = self._cache[key] = [o for k in kinds for o in index.get(k, ())]
        return out

    def get(self, kind: str, namespace: str | None, name: str) -> K8sObject | None:
        return self._by_key.get((kind, namespace, name))

    def cached(self, key: Hashable, factory: Callable[[], T]) -> T:
        """A value derived from the whole inventory (an index a rule needs), computed once per inventory."""
        try:
            return self._cache[key]  # type: ignore[no-any-return]
        except KeyError:
            value = self._cache[key] = factory()
            return value

    def owners(self) -> Owners:
        """Owner resolution of a live inventory (empty for manifests: each object is judged as written)."""
        return self.cached("owners", lambda: Owners.build(self.objects) if self.live else Owners(top={}, pods={}))

    def controller(self, obj: K8sObject) -> K8sObject | None:
        """The topmost workload in the inventory that ``obj`` was made by (live inventories only)."""
        return self.owners().top.get(id(obj))

    def pod_count(self, obj: K8sObject) -> int | None:
        """How many Pods a live workload stands for (None for manifests and for objects that own none)."""
        return self.owners().pods.get(id(obj))

    def judged(self) -> list[K8sObject]:
        """The objects rules judge: all of them, less (live) those judged on their controller."""
        top = self.owners().top
        if not top:
            return self.objects
        return [o for o in self.objects if id(o) not in top]

    def pods(self, namespace: str) -> list[PodSpecView]:
        """Pod specs of the pod-bearing objects of a namespace (live: on their controllers)."""
        from .workloads import pod_spec

        def build() -> list[PodSpecView]:
            out = []
            top = self.owners().top
            for o in self._by_ns.get(namespace, []):
                if o.kind in WORKLOAD_KINDS and id(o) not in top:
                    p = pod_spec(o)
                    if p is not None:
                        out.append(p)
            return out

        return self.cached(("pods", namespace), build)

    def pods_selected_by_service(self, namespace: str, selector: Mapping[str, Any] | None) -> list[PodSpecView]:
        """Pods a Service ``spec.selector`` map selects (an empty or missing selector selects none)."""
        if not isinstance(selector, dict) or not selector:
            return []
        from .selectors import service_selector_matches

        def build() -> dict[tuple[str, str], list[PodSpecView]]:
            idx: dict[tuple[str, str], list[PodSpecView]] = defaultdict(list)
            for p in self.pods(namespace):
                for k, v in p.labels.items():
                    idx[(str(k), str(v))].append(p)
            return idx

        idx = self.cached(("pod-label-index", namespace), build)
        k0, v0 = next(iter(selector.items()))
        return [p for p in idx.get((str(k0), str(v0)), []) if service_selector_matches(selector, p.labels)]

    def in_namespace(self, namespace: str, *kinds: str) -> list[K8sObject]:
        """The objects of a namespace (one per identity), of ``kinds`` when given."""
        objs = self._by_ns.get(namespace, [])
        if not kinds:
            return list(objs)
        wanted = set(kinds)
        return [o for o in objs if o.kind in wanted]

    def namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        """Labels of a Namespace object, with the automatic ``kubernetes.io/metadata.name`` label;
        None when the Namespace object is not in the input."""
        ns = self.get("Namespace", None, namespace)
        if ns is None:
            return None
        labels = dict(ns.labels)
        labels["kubernetes.io/metadata.name"] = namespace
        return labels

    def namespace_views(self) -> list[NamespaceView]:
        """Every namespace of the input, sorted by name."""
        out = []
        for name in sorted(self.namespaces()):
            obj = self.get("Namespace", None, name)
            members = self._by_ns.get(name, [])
            if obj is not None:
                anchor = obj
            else:
                first = members[0]
                src = first.source
                anchor = K8sObject.from_raw(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                    Source(
                        file=src.file,
                        doc=src.doc,
                        prefix=src.prefix + ("metadata", "namespace"),
                        template=src.template,
                        live=src.live,
                    ),
                    cluster_scoped=True,
                )
            out.append(NamespaceView(name=name, obj=obj, objects=list(members), anchor=anchor))
        return out

    def namespaces(self) -> set[str]:
        """Every namespace named by a Namespace object or used by an object."""
        names = {o.name for o in self.of_kind("Namespace")}
        names.update(o.namespace for o in self.objects if o.namespace)
        return names
