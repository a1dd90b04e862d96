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


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """Where an object came from: the file, the document and, for list items, the path inside it."""

    file: str
    doc: DocumentText | None = None
    prefix: Path = ()  # e.g. ("items", 3) for the fourth item of a List
    template: str | None = None  # Helm "# Source:" template path
    live: bool = False

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

    def __post_init__(self) -> None:
        object.__setattr__(self, "memo", {})
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

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    def get(self, *path: str | int, default: Any = None) -> Any:
        """Value at ``path`` in the raw object, or ``default`` when any step is missing."""
        return get_path(self.raw, path, default)

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
