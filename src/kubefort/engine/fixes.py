"""A rule's fix, declared as data next to its condition (``@rule(fix=...)``).

A fix is a short list of edits at paths relative to what the rule judged: the container a finding points
into, the pod spec, or the object. Being data rather than code, one declaration serves every place that
applies fixes: ``kubefort fix`` edits files with them (``kubefort.fix``), and the mutating admission
policy export turns them into JSON patches (``admission.policy_export``). Whatever applies them, the
effect is the same: :func:`apply_edits` over nested mappings and lists.

A fix that could stop a working workload from starting (``runAsNonRoot`` on an image that runs as root,
a read-only root filesystem for a program that writes to it) carries ``opt_in``, the reason why: it is
applied only when asked for, and the reason is shown when it is not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, MutableSequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

Scalar = str | bool | int


class FixAt(str, Enum):
    """What the paths of a fix's edits start from."""

    CONTAINER = "container"  # the container the finding's path points into
    POD = "pod"  # the pod spec of the object (spec, spec.template.spec, ...)
    OBJECT = "object"  # the object's root


@dataclass(frozen=True, slots=True)
class SetField:
    """Set the field at ``path`` to ``value`` when it holds another value or (``only_if_absent``) when it is
    absent; missing parent mappings are created."""

    path: tuple[str, ...]
    value: Scalar
    only_if_absent: bool = False

    def describe(self) -> str:
        return f"set {'.'.join(self.path)}: {_yaml_scalar(self.value)}" + (
            " (where absent)" if self.only_if_absent else ""
        )


@dataclass(frozen=True, slots=True)
class AddItem:
    """Append ``item`` to the list at ``path`` unless it holds it already (creating the list)."""

    path: tuple[str, ...]
    item: Scalar

    def describe(self) -> str:
        return f"add {_yaml_scalar(self.item)} to {'.'.join(self.path)}"


@dataclass(frozen=True, slots=True)
class CopyField:
    """Copy the scalar at ``source`` to ``path`` when ``path`` is absent and ``source`` is set (requests
    from limits: what the API server defaults anyway)."""

    source: tuple[str, ...]
    path: tuple[str, ...]

    def describe(self) -> str:
        return f"set {'.'.join(self.path)} from {'.'.join(self.source)} (where absent)"


#: a mapping written as data: (key, value) pairs, a value a scalar or again pairs (``()`` is ``{}``)
Entry = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class AddEntry:
    """Append the mapping ``entry`` to the list at ``path`` unless an item has the same ``key`` value
    (``volumeMounts`` by ``mountPath``, ``volumes`` by ``name``). ``on_pod``: ``path`` starts from the pod
    spec although the fix is at the container (the volume behind a container's mount)."""

    path: tuple[str, ...]
    entry: Entry
    key: str
    on_pod: bool = False

    def describe(self) -> str:
        return f"add {_flow(self.entry)} to {'.'.join(self.path)}" + (" of the pod spec" if self.on_pod else "")

    def key_value(self) -> Any:
        return dict(self.entry).get(self.key)


FixEdit = SetField | AddItem | CopyField | AddEntry


def _flow(entry: Entry) -> str:
    return "{" + ", ".join(f"{k}: {_flow(v) if isinstance(v, tuple) else _yaml_scalar(v)}" for k, v in entry) + "}"


def _build(entry: Entry, new_map: Callable[[], MutableMapping[str, Any]]) -> MutableMapping[str, Any]:
    out = new_map()
    for k, v in entry:
        out[k] = _build(v, new_map) if isinstance(v, tuple) else v
    return out


@dataclass(frozen=True, slots=True)
class SkipWhen:
    """The fix is not applied where the field at ``path`` is ``value`` or a list holding it: ``why`` (the
    API server would refuse the result, or the workload relies on it)."""

    path: tuple[str, ...]
    value: Scalar
    why: str

    def holds(self, node: Mapping[str, Any]) -> bool:
        found = _lookup(node, self.path)
        if isinstance(found, list):
            return any(_same(x, self.value) for x in found)
        return found is not None and _same(found, self.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleFix:
    """The mechanical fix of a rule: ``edits`` applied at ``at`` for each finding of the rule.

    ``opt_in``: why the fix could break a workload; None when it cannot (applied by default).
    ``skip_subcodes``: findings with these sub-codes are not fixed (the rule says the workload needs what
    the fix would remove, e.g. a token it uses).
    ``skip_when``: where the fix must not be applied (:class:`SkipWhen`)."""

    at: FixAt
    edits: tuple[FixEdit, ...]
    opt_in: str | None = None
    skip_subcodes: frozenset[str] = frozenset()
    skip_when: tuple[SkipWhen, ...] = ()

    def split(self) -> tuple[tuple[FixEdit, ...], tuple[FixEdit, ...]]:
        """(the edits at ``at``, the edits at the pod spec of a container fix: ``AddEntry(on_pod=True)``)."""
        on_pod = tuple(e for e in self.edits if isinstance(e, AddEntry) and e.on_pod)
        return tuple(e for e in self.edits if e not in on_pod), on_pod

    def blocked(self, node: Mapping[str, Any]) -> str | None:
        """Why the fix must not be applied to ``node`` (what ``at`` names), None when it may."""
        return next((s.why for s in self.skip_when if s.holds(node)), None)

    @property
    def safe(self) -> bool:
        return self.opt_in is None

    def describe(self) -> str:
        where = {FixAt.CONTAINER: "in the container", FixAt.POD: "in the pod spec", FixAt.OBJECT: "on the object"}
        return "; ".join(e.describe() for e in self.edits) + f" ({where[self.at]})"


def fix(
    at: FixAt,
    *edits: FixEdit,
    opt_in: str | None = None,
    skip_subcodes: tuple[str, ...] = (),
    skip_when: tuple[SkipWhen, ...] = (),
) -> RuleFix:
    """``@rule(fix=fix(FixAt.CONTAINER, SetField(("securityContext", "privileged"), False)))``."""
    return RuleFix(
        at=at, edits=tuple(edits), opt_in=opt_in, skip_subcodes=frozenset(skip_subcodes), skip_when=skip_when
    )


def _yaml_scalar(v: Scalar) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _same(a: Any, b: Scalar) -> bool:
    """Equal as Kubernetes reads them: ``true`` is not ``1`` (bool is an int subclass in Python)."""
    return type(a) is type(b) and a == b if isinstance(b, bool) or isinstance(a, bool) else a == b


def _child(
    node: MutableMapping[str, Any],
    path: tuple[str, ...],
    new_map: Callable[[], MutableMapping[str, Any]],
    put: Callable[[MutableMapping[str, Any], str, Any], None],
) -> MutableMapping[str, Any] | None:
    """The mapping at ``path`` below ``node``, created where missing; None when a value in the way is not a
    mapping (an edit never overwrites what it does not understand)."""
    for key in path:
        nxt = node.get(key)
        if nxt is None:
            nxt = new_map()
            put(node, key, nxt)
        if not isinstance(nxt, MutableMapping):
            return None
        node = nxt
    return node


def _lookup(node: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    cur: Any = node
    for key in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _put(parent: MutableMapping[str, Any], key: str, value: Any) -> None:
    parent[key] = value


def _append(items: MutableSequence[Any], item: Any) -> None:
    items.append(item)


def apply_edits(
    node: MutableMapping[str, Any],
    edits: tuple[FixEdit, ...],
    *,
    new_map: Callable[[], MutableMapping[str, Any]] = dict,
    new_seq: Callable[[], MutableSequence[Any]] = list,
    put: Callable[[MutableMapping[str, Any], str, Any], None] = _put,
    append: Callable[[MutableSequence[Any], Any], None] = _append,
) -> list[FixEdit]:
    """Apply ``edits`` to ``node`` in place; return those that changed something. Edits are idempotent:
    applying them again changes nothing. ``new_map``/``new_seq`` build the containers a round-trip YAML
    library needs for new nodes; ``put``/``append`` place a new key or item where its author would."""
    changed: list[FixEdit] = []
    for e in edits:
        if isinstance(e, SetField):
            parent = _child(node, e.path[:-1], new_map, put)
            if parent is None:
                continue
            key = e.path[-1]
            if key in parent and parent[key] is not None and (e.only_if_absent or _same(parent[key], e.value)):
                continue
            put(parent, key, e.value)
            changed.append(e)
        elif isinstance(e, AddItem):
            parent = _child(node, e.path[:-1], new_map, put)
            if parent is None:
                continue
            key = e.path[-1]
            items = parent.get(key)
            if items is None:
                items = new_seq()
                put(parent, key, items)
            if not isinstance(items, MutableSequence) or any(_same(x, e.item) for x in items):
                continue
            append(items, e.item)
            changed.append(e)
        elif isinstance(e, AddEntry):
            parent = _child(node, e.path[:-1], new_map, put)
            if parent is None:
                continue
            items = parent.get(e.path[-1])
            if items is None:
                items = new_seq()
                put(parent, e.path[-1], items)
            if not isinstance(items, MutableSequence):
                continue
            if any(isinstance(x, Mapping) and x.get(e.key) == e.key_value() for x in items):
                continue
            items.append(_build(e.entry, new_map))
            changed.append(e)
        else:
            value = _lookup(node, e.source)
            if value is None or isinstance(value, (Mapping, list)) or _lookup(node, e.path) is not None:
                continue
            parent = _child(node, e.path[:-1], new_map, put)
            if parent is None:
                continue
            put(parent, e.path[-1], value)
            changed.append(e)
    return changed
