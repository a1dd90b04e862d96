"""What ``kubefort netpol`` asks of the engine: one connection (:func:`reach`), every connection
(:func:`matrix`) and what a policy change opens or closes (:func:`diff`).

The results are plain values (refs, port sets, counts) so that a reporter can write them in any
format without going back to the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .engine import NetpolEngine, Verdict
from .model import Workload
from .sets import NO_PORTS, PortSet


def reach(eng: NetpolEngine, src: str, dst: str, query: tuple[str, int | str] | None = None) -> Verdict:
    """Can ``src`` open a connection to ``dst`` (``namespace/kind/name`` or a CIDR; at least one a
    workload), on ``query`` = (protocol, port) or on any port, and why.

    Raises LookupError with a message for the user when an endpoint or a named port is unknown. A
    verdict on a cluster that could not be read whole says so (:attr:`Verdict.incomplete`)."""
    a, b = eng.find(src), eng.find(dst)
    if not isinstance(a, Workload) and not isinstance(b, Workload):
        raise LookupError("SRC and DST are both CIDRs: at least one must be a workload (NAMESPACE/KIND/NAME)")
    verdict = eng.explain(a, b, query)
    verdict.incomplete = dict(eng.incomplete)
    return verdict


@dataclass(frozen=True, slots=True)
class Connection:
    """An allowed connection between two workloads (refs) and the ports it is allowed on."""

    source: str
    destination: str
    ports: PortSet


@dataclass(frozen=True, slots=True)
class MatrixNode:
    """A workload of a matrix: in the namespaces asked about (``in_scope``), or at the other end of
    one of their connections."""

    ref: str
    namespace: str
    kind: str
    name: str
    ingress_isolated: bool
    egress_isolated: bool
    in_scope: bool


@dataclass(frozen=True, slots=True)
class Matrix:
    """Every allowed connection between workloads (a pair that is not listed is denied), with or
    without a restriction to some namespaces (connections from or to them)."""

    connections: tuple[Connection, ...]  # sorted by source, then destination
    nodes: tuple[MatrixNode, ...]  # sorted by ref
    namespaces: tuple[str, ...] | None  # None: every namespace
    policies: int  # NetworkPolicies of the input that the engine kept
    problems: tuple[tuple[str, str], ...]  # (object ref, why it is left out)
    notes: tuple[str, ...] = ()  # the policies besides NetworkPolicy, and whether they are modelled
    incomplete: tuple[tuple[str, str], ...] = ()  # (kind, why): what a cluster read missed; connections may be wrong

    @property
    def workloads(self) -> list[str]:
        """Refs of the workloads in the namespaces asked about."""
        return [n.ref for n in self.nodes if n.in_scope]


def _in_scope(w: Workload, namespaces: Sequence[str] | None) -> bool:
    return namespaces is None or w.namespace in namespaces


def _connections(eng: NetpolEngine, namespaces: Sequence[str] | None) -> tuple[Connection, ...]:
    return tuple(Connection(a.ref, b.ref, p) for a, b, p in eng.connections(namespaces))


def matrix(eng: NetpolEngine, namespaces: Sequence[str] | None = None) -> Matrix:
    """The connection matrix of ``eng``; with ``namespaces``, only connections from or to them."""
    connections = _connections(eng, namespaces)
    ends = {c.source for c in connections} | {c.destination for c in connections}
    nodes = []
    for w in eng.workloads:
        scoped = _in_scope(w, namespaces)
        if scoped or w.ref in ends:
            iso_in, iso_eg = eng.isolated(w)
            nodes.append(MatrixNode(w.ref, w.namespace, w.kind, w.name, iso_in, iso_eg, scoped))
    return Matrix(
        connections=connections,
        nodes=tuple(nodes),
        namespaces=None if namespaces is None else tuple(namespaces),
        policies=len(eng.policies),
        problems=tuple(eng.problems),
        notes=tuple(eng.other_policies_note()),
        incomplete=tuple(eng.incomplete.items()),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """Ports a change opens (or closes) between two workloads, and the ports allowed after it."""

    source: str
    destination: str
    ports: PortSet
    now: PortSet


@dataclass(frozen=True, slots=True)
class NetpolDiff:
    """Connections opened and closed between workloads present on both sides, and the workloads
    present on one side only (their connections are not compared)."""

    opened: tuple[Change, ...]
    closed: tuple[Change, ...]
    added_workloads: tuple[str, ...]
    removed_workloads: tuple[str, ...]
    incomplete: tuple[tuple[str, str], ...] = ()  # (kind, why): what the cluster read of either side missed

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.closed)


def diff(before: NetpolEngine, after: NetpolEngine, namespaces: Sequence[str] | None = None) -> NetpolDiff:
    """Connections a change opens and closes, between workloads present on both sides."""
    old = {(c.source, c.destination): c.ports for c in _connections(before, namespaces)}
    new = {(c.source, c.destination): c.ports for c in _connections(after, namespaces)}
    old_w = {w.ref for w in before.workloads if _in_scope(w, namespaces)}
    new_w = {w.ref for w in after.workloads if _in_scope(w, namespaces)}
    both = old_w & new_w
    opened, closed = [], []
    for pair in sorted(set(old) | set(new)):
        if pair[0] not in both or pair[1] not in both:
            continue
        o = old.get(pair, NO_PORTS)
        n = new.get(pair, NO_PORTS)
        if n - o:
            opened.append(Change(pair[0], pair[1], n - o, n))
        if o - n:
            closed.append(Change(pair[0], pair[1], o - n, n))
    return NetpolDiff(
        opened=tuple(opened),
        closed=tuple(closed),
        added_workloads=tuple(sorted(new_w - old_w)),
        removed_workloads=tuple(sorted(old_w - new_w)),
        incomplete=tuple(sorted({**before.incomplete, **after.incomplete}.items())),
    )
