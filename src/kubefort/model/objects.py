"""The Kubernetes object as kubefort sees it: a read-only view over the raw mapping."""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .kinds import is_cluster_scoped
from .source import DocumentText, Location
from .source import Path as Path  # the field-path type, defined once in source.py


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """Identifies an object in findings: apiVersion, kind, namespace (None if cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {"apiVersion": self.api_version, "kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True, slots=True)
class DuplicateKey:
    """A key written more than once in one mapping (parsers keep the last value)."""

    path: Path  # the repeated key, from the object's root
    lines: tuple[int, ...]  # file line of each occurrence


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where an object came from: the file, the document and, for list items, the path inside it."""

    file: str
    doc: DocumentText | None = None
    prefix: Path = ()  # e.g. ("items", 3) for the fourth item of a List
    template: str | None = None  # Helm "# Source:" template path
    live: bool = False
    duplicates: tuple[DuplicateKey, ...] = ()  # keys repeated in the object's text (KF-SCHEMA-004)

    def locate(self, path: Sequence[str | int] = ()) -> Location:
        if self.doc is None:
            return Location(file=self.file, line=None, template=self.template)
        full = self.prefix + tuple(path) if self.prefix else path
        return Location(file=self.file, line=self.doc.line_of(full), template=self.template)


@dataclass(frozen=True, slots=True, kw_only=True)
class K8sObject:
    """One Kubernetes object. ``raw`` is the parsed mapping; treat it as read-only."""

    raw: Mapping[str, Any]
    source: Source
    api_version: str
    kind: str
    name: str
    namespace: str | None  # effective namespace (kubectl default "default" for namespaced kinds)
    namespace_explicit: bool
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    ref: ObjectRef = field(init=False, repr=False, compare=False)
    memo: dict[Hashable, Any] = field(init=False, repr=False, compare=False)  # derived views (pod spec), computed once
    # fields that schema validation found invalid (a trie of paths, see mark_invalid); None: none known
    invalid: dict[str | int, Any] | None = field(init=False, repr=False, compare=False)
    judged: bool = field(init=False, repr=False, compare=False)  # rules are judging this object now
    group: str = field(init=False, repr=False, compare=False)  # API group of apiVersion ("" for the core group)

    def __post_init__(self) -> None:
        av = self.api_version
        object.__setattr__(self, "group", av.rsplit("/", 1)[0] if "/" in av else "")
        object.__setattr__(self, "memo", {})
        object.__setattr__(self, "invalid", None)
        object.__setattr__(self, "judged", False)
        object.__setattr__(
            self,
            "ref",
            ObjectRef(api_version=self.api_version, kind=self.kind, namespace=self.namespace, name=self.name),
        )

    @classmethod
    def from_raw(
        cls,
        raw: Mapping[str, Any],
        source: Source,
        default_namespace: str = "default",
        cluster_scoped: bool | None = None,
    ) -> K8sObject:
        md = raw.get("metadata")
        md = md if isinstance(md, dict) else {}
        api_version = str(raw.get("apiVersion") or "")
        kind = str(raw.get("kind") or "")
        name = md.get("name")
        if not isinstance(name, str) or not name:
            gn = md.get("generateName")
            name = f"{gn}*" if isinstance(gn, str) and gn else "<unnamed>"
        if cluster_scoped is None:
            cluster_scoped = is_cluster_scoped(api_version, kind)
        ns_raw = md.get("namespace")
        explicit = isinstance(ns_raw, str) and bool(ns_raw)
        namespace = None if cluster_scoped else (ns_raw if explicit else default_namespace)
        return cls(
            raw=raw,
            source=source,
            api_version=api_version,
            kind=kind,
            name=name,
            namespace=namespace,
            namespace_explicit=explicit,
            labels=_str_map(md.get("labels")),
            annotations=_str_map(md.get("annotations")),
        )

    def get(self, *path: str | int, default: Any = None) -> Any:
        """Value at ``path`` in the raw object, or ``default`` when any step is missing.

        While the object is judged (:meth:`judging`), raises :class:`InvalidField` when the path is, or
        lies under, a field marked invalid; a value that holds invalid fields comes back guarded
        (reading those fields raises in turn).
        """
        if self.invalid is None:
            return get_path(self.raw, path, default)
        return _guarded_get(self, path, default)

    def judging(self, on: bool) -> None:
        """Set while rules judge this object (the engine does): then reading an invalid field raises.
        Reads made for another object's judgement (a cross-object index) see the values as written."""
        object.__setattr__(self, "judged", on)

    def mark_invalid(self, reasons: Mapping[Path, str]) -> None:
        """Record the fields that schema validation found invalid, each with the reason rules give when
        they cannot be evaluated (``field spec.containers is invalid: expected a list, found a string``).

        From then on, while the object is judged, :meth:`get` and the pod and container views
        (:mod:`.workloads`) raise :class:`InvalidField` on reading such a field, so a rule that reads one
        is *not evaluated* on this object instead of judging a value the API server would refuse; rules
        that do not read it are unaffected. Objects without invalid fields pay nothing.
        """
        if not reasons:
            return
        trie: dict[str | int, Any] = {}
        for path, reason in sorted(reasons.items(), key=lambda kv: len(kv[0])):
            node: Any = trie
            for step in path[:-1]:
                node = node.setdefault(step, {})
                if isinstance(node, str):
                    break  # a shorter path is invalid already: it covers this one
            else:
                if path:
                    node.setdefault(path[-1], reason)
        object.__setattr__(self, "invalid", trie)
        self.memo.clear()  # views made before (pod spec, containers) must be made again, guarded

    def locate(self, path: Sequence[str | int] = ()) -> Location:
        return self.source.locate(path)

    def __repr__(self) -> str:  # keep raw data (possibly secrets) out of reprs and tracebacks
        return f"K8sObject({self.ref})"


def get_path(data: Any, path: Sequence[str | int], default: Any = None) -> Any:
    cur = data
    for step in path:
        if isinstance(step, int):
            if isinstance(cur, list) and -len(cur) <= step < len(cur):
                cur = cur[step]
            else:
                return default
        else:
            if isinstance(cur, dict) and step in cur:
                cur = cur[step]
            else:
                return default
    return cur


class InvalidField(Exception):
    """A rule read a field that schema validation found invalid: the rule is not evaluated on the object."""


def _guarded_get(obj: K8sObject, path: Sequence[str | int], default: Any) -> Any:
    cur: Any = obj.raw
    node: Any = obj.invalid
    for step in path:
        if node is not None:
            if isinstance(step, int) and step < 0 and isinstance(cur, list):
                step = step + len(cur)
            node = node.get(step)
            if isinstance(node, str):
                if obj.judged:
                    raise InvalidField(node)
                node = None
        if isinstance(step, int):
            if isinstance(cur, list) and -len(cur) <= step < len(cur):
                cur = cur[step]
            else:
                return default
        elif isinstance(cur, dict) and step in cur:
            cur = cur[step]
        else:
            return default
    return guard(cur, node, obj)


def guard(value: Any, node: dict[str | int, Any] | None, owner: K8sObject) -> Any:
    """``value`` (of ``owner``) as rules read it: itself, or a guarded copy when invalid fields lie inside."""
    if node is None:
        return value
    if isinstance(value, dict):
        return GuardedDict(value, node, owner)
    if isinstance(value, list):
        return GuardedList(value, node, owner)
    return value


class GuardedDict(dict[Any, Any]):
    """A mapping of an object with invalid fields. While the object is judged, reading one of those
    fields raises :class:`InvalidField`; read for another object's judgement (an index of the pods of
    a namespace), it gives the value as written. Only objects with invalid fields ever have one."""

    __slots__ = ("_node", "_owner")

    def __init__(self, data: Mapping[Any, Any], node: dict[str | int, Any], owner: K8sObject) -> None:
        super().__init__(data)
        self._node = node
        self._owner = owner

    def _read(self, key: Any, value: Any) -> Any:
        child = self._node.get(key)
        if isinstance(child, str):
            if self._owner.judged:
                raise InvalidField(child)
            return value
        return guard(value, child, self._owner)

    def __getitem__(self, key: Any) -> Any:
        return self._read(key, super().__getitem__(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return self._read(key, super().get(key, default))

    def __contains__(self, key: object) -> bool:
        child = self._node.get(key)  # type: ignore[call-overload]
        if isinstance(child, str) and self._owner.judged:
            raise InvalidField(child)
        return super().__contains__(key)

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        for k, v in super().items():
            yield k, self._read(k, v)

    def values(self) -> Iterator[Any]:  # type: ignore[override]
        for k, v in super().items():
            yield self._read(k, v)


class GuardedList(list[Any]):
    """A list holding invalid items, or items holding invalid fields; see :class:`GuardedDict`."""

    __slots__ = ("_node", "_owner")

    def __init__(self, data: Sequence[Any], node: dict[str | int, Any], owner: K8sObject) -> None:
        super().__init__(data)
        self._node = node
        self._owner = owner

    def _read(self, index: int, value: Any) -> Any:
        child = self._node.get(index)
        if isinstance(child, str):
            if self._owner.judged:
                raise InvalidField(child)
            return value
        return guard(value, child, self._owner)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        value = super().__getitem__(index)
        return self._read(index + len(self) if index < 0 else index, value)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self._read(i, super().__getitem__(i))

    def __contains__(self, item: object) -> bool:
        return any(v == item for v in self)


def _str_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): ("" if v is None else v if isinstance(v, str) else str(v)) for k, v in value.items()}


def iter_dicts(value: Any) -> Iterator[Mapping[str, Any]]:
    """The mappings of a list, skipping anything that is not a mapping."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


#: What a cluster scan keeps in place of a Secret's values (and of the last-applied-configuration
#: annotation that repeats them) unless asked for them: not base64, not a credential shape, never equal
#: to a value read from a cluster. Rules that judge Secret values check for it (``is_redacted``) and
#: are then not evaluated instead of judging the placeholder.
REDACTED = "<value not read by kubefort>"


def is_redacted(value: Any) -> bool:
    return isinstance(value, str) and value == REDACTED
