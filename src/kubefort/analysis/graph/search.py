"""Questions asked of the attack graph: shortest paths from sources to targets, and which single change
cuts the most of them.

Shortest paths are networkx's Dijkstra over the graph turned around, from a sink joined to every target:
one pass gives every source's shortest path. A path starts at each source (``any-pod``: every workload;
a named workload), or, from the internet, at each entry point (Service, Ingress, route, host port),
so that each way in is listed once.

A change cuts a path when, with the edges it removes gone, the path's start no longer reaches any
target. Removing a RoleBinding or ClusterRoleBinding is checked again by the RBAC engine on the input
without that binding, since another escalation path, or another binding allowing the same step, may
remain, and steps that the binding's power hid may appear.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from ...errors import UsageError
from ...model.inventory import Inventory
from ..rbac.escalation import EscalationGraph
from ..rbac.escalation import Node as RbacNode
from ..rbac.index import RbacIndex
from ..rbac.subjects import Subject
from .build import AttackGraph, secret_id
from .model import (
    ALL_NODES,
    ALL_SECRETS,
    CLUSTER_ADMIN,
    INTERNET_ID,
    NODE,
    WORKLOAD,
    AttackPath,
    CutResult,
    Edge,
    Remedy,
)

_SINK = "\x00sink"


@dataclass(frozen=True, slots=True)
class Query:
    """Where paths start and end (vertex ids), and how the user wrote it."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    source_text: str
    target_text: str


def is_cidr(text: str) -> bool:
    """Whether ``text`` is an address or a CIDR (``--from 203.0.113.0/24``)."""
    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return False
    return True


def resolve(graph: AttackGraph, source: str = "internet", target: str = CLUSTER_ADMIN) -> Query:
    """``source``: ``internet`` (or the CIDR the graph was built from), ``any-pod`` or ``workload
    NS/KIND/NAME`` (or just ``NS/KIND/NAME``);
    ``target``: ``cluster-admin``, ``all-secrets``, ``nodes`` or ``secret NS/NAME``. UsageError otherwise."""
    s = source.strip()
    if s == "internet" or (graph.origin is not None and s == graph.origin):
        sources: tuple[str, ...] = (INTERNET_ID,)
    elif is_cidr(s):
        raise UsageError(f"--from {s}: build the graph from that origin (AttackGraph(..., origin={s!r}))")
    elif s in ("any-pod", "any-workload"):
        sources = tuple(v.id for v in graph.vertices.values() if v.kind == WORKLOAD)
    else:
        ref = s[len("workload") :].strip() if s.startswith("workload") else s
        try:
            sources = (graph.workload_vertex(ref),)
        except LookupError as e:
            raise UsageError(f"--from: {e.args[0]}") from None
    return Query(sources, resolve_target(graph, target), s, target.strip())


def resolve_target(graph: AttackGraph, target: str) -> tuple[str, ...]:
    """The vertices of ``target`` (see :func:`resolve`). UsageError when it names none."""
    t = target.strip()
    if t in (CLUSTER_ADMIN, ALL_SECRETS):
        targets: tuple[str, ...] = (t,)
    elif t in ("nodes", "node", ALL_NODES):
        targets = (*sorted(v.id for v in graph.vertices.values() if v.kind == NODE), ALL_NODES)
    elif t.startswith("secret"):
        ref = t[len("secret") :].strip()
        parts = ref.split("/")
        if len(parts) != 2 or not all(parts):
            raise UsageError(f"--to: secret NAMESPACE/NAME expected, not {ref!r}")
        vid = secret_id(parts[0], parts[1])
        if vid not in graph.vertices:
            raise UsageError(f"--to: no Secret {ref} in the input")
        targets = (vid,)
    else:
        raise UsageError(f"--to: {t!r} is none of cluster-admin, all-secrets, nodes, secret NAMESPACE/NAME")
    return targets


def to_networkx(graph: AttackGraph, removed: Iterable[tuple[str, str]] = ()) -> nx.DiGraph:
    """The graph as a networkx DiGraph (edge attribute ``weight``), without the ``removed`` edges."""
    gone = set(removed)
    g = nx.DiGraph()
    g.add_nodes_from(graph.vertices)
    g.add_weighted_edges_from((e.src, e.dst, e.weight) for k, e in graph.edges.items() if k not in gone)
    return g


def _starts(graph: AttackGraph, q: Query) -> list[tuple[str, str | None]]:
    """(source, first hop) of each path asked for: the internet starts once per entry point."""
    out: list[tuple[str, str | None]] = []
    for s in q.sources:
        if s == INTERNET_ID:
            out.extend((s, e.dst) for e in graph.out.get(INTERNET_ID, ()))
        else:
            out.append((s, None))
    return out


def shortest_paths(graph: AttackGraph, q: Query, *, nxg: nx.DiGraph | None = None) -> list[AttackPath]:
    """The shortest path of each start of ``q`` that reaches one of its targets, shortest first."""
    g = (nxg or to_networkx(graph)).copy()
    for t in q.targets:
        g.add_edge(t, _SINK, weight=0)
    dist, back = nx.single_source_dijkstra(g.reverse(copy=False), _SINK, weight="weight")
    out: list[AttackPath] = []
    for src, hop in _starts(graph, q):
        first = hop if hop is not None else src
        if first not in dist or (src in q.targets and hop is None):
            continue
        chain = list(reversed(back[first]))[:-1]  # first .. target
        if hop is not None:
            chain = [src, *chain]
        steps = tuple(graph.edges[(a, b)] for a, b in itertools.pairwise(chain))
        if steps:
            out.append(AttackPath(src, chain[-1], steps))
    out.sort(key=lambda p: (p.length, p.source, p.vertices))
    return out


def _reaching(
    graph: AttackGraph,
    targets: Sequence[str],
    removed: set[tuple[str, str]],
    added: Iterable[tuple[str, str]] = (),
) -> set[str]:
    """Every vertex from which some target is still reachable without the ``removed`` edges (and with the
    ``added`` ones, which may name vertices the graph does not have)."""
    pred: dict[str, list[str]] = graph_preds(graph)
    extra: dict[str, list[str]] = defaultdict(list)
    for u, v in added:
        extra[v].append(u)
    seen = set(targets)
    work = deque(targets)
    while work:
        v = work.popleft()
        for u in itertools.chain(pred.get(v, ()), extra.get(v, ())):
            if u not in seen and (u, v) not in removed:
                seen.add(u)
                work.append(u)
    return seen


def graph_preds(graph: AttackGraph) -> dict[str, list[str]]:
    return graph.inventory.cached(("attack-graph-preds", id(graph)), lambda: _preds(graph))


def _preds(graph: AttackGraph) -> dict[str, list[str]]:
    pred: dict[str, list[str]] = defaultdict(list)
    for a, b in graph.edges:
        pred[b].append(a)
    return pred


@dataclass(frozen=True, slots=True)
class _Rbac:
    """The input without one binding, as the RBAC engine sees it."""

    index: RbacIndex
    escalation: EscalationGraph


def _without_binding(graph: AttackGraph, change: Remedy) -> _Rbac | None:
    objs = [b.obj for b in graph.rbac.bindings if str(b.ref) == change.target]
    if not objs:
        return None
    inv = graph.inventory
    rest = Inventory([o for o in inv.objects if o not in objs], live=inv.live, unreadable=inv.unreadable)
    index = RbacIndex.for_inventory(rest)
    return _Rbac(index, EscalationGraph(index))


def _reads(graph: AttackGraph, rbac: _Rbac, s: Subject, ns: str | None) -> bool:
    """Whether ``s`` may read every Secret of ``ns`` (None: of every namespace) without the binding."""
    return any(s.matched_by(g.subject) for v in ("list", "get") for g in graph.secret_grants(v, ns, rbac.index))


def _binding_cut(
    graph: AttackGraph, change: Remedy, edges: list[Edge]
) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The edges that removing a binding removes, and those it adds, as the RBAC engine finds them on the
    input without that binding. Removed: a ServiceAccount's escalation to cluster-admin (unless another
    path remains), a step between identities, a read of Secrets (unless another binding allows it).
    Added: steps the engine leaves out while a stronger one is held (cluster-wide power hides each
    namespace's steps, cluster-admin every step but impersonation), which appear when it goes: without
    them, the ranking would claim a cut that the remaining bindings undo."""
    rbac = _without_binding(graph, change)
    if rbac is None:
        return {(e.src, e.dst) for e in edges}, set()
    eg = rbac.escalation
    removed: set[tuple[str, str]] = set()
    added: set[tuple[str, str]] = set()
    # the identities the binding names (a group: its members too), asked again in full
    named = [b for b in graph.rbac.bindings if str(b.ref) == change.target]
    subjects = [s for b in named for s in b.subjects]
    affected = sorted(vid for vid, s in graph.subjects.items() if any(s.matched_by(x) for x in subjects))
    named_on = {(e.src, e.dst) for e in edges}
    groups_seen: dict[RbacNode, Any] = {}
    done: set[str] = set()
    work: deque[tuple[str, RbacNode]] = deque()
    for vid in affected:
        node = graph.rbac_nodes.get(vid)
        if node is None:
            continue
        done.add(vid)
        old = {e.dst for e in graph.out.get(vid, ()) if e.kind == "rbac" and e.dst != CLUSTER_ADMIN}
        new = _steps(graph, eg, node, work, groups_seen)
        removed |= {(vid, d) for d in old - new}
        added |= {(vid, d) for d in new - old}
        if (vid, CLUSTER_ADMIN) in named_on and not eg.paths(CLUSTER_ADMIN, node[1]):
            removed.add((vid, CLUSTER_ADMIN))
        for ns, dst in graph.secret_groups:
            e = graph.edges.get((vid, dst))
            cut = (vid, dst) in named_on and e is not None and e.kind == "read-secrets"
            if cut and not _reads(graph, rbac, graph.subjects[vid], ns):
                removed.add((vid, dst))
    # vertices the new steps lead to that the graph does not have: their own steps, until known ground
    while work:
        vid, node = work.popleft()
        if vid in done:
            continue
        done.add(vid)
        added |= {(vid, d) for d in _steps(graph, eg, node, work, groups_seen)}
        if node[0] == "S":  # an identity the graph lacks: the Secrets it reads itself
            added |= {(vid, dst) for ns, dst in graph.secret_groups if _reads(graph, rbac, node[1], ns)}
    # the other edges the binding is named on: escalations and steps of identities it does not bind
    for e in edges:
        if e.src in done:
            continue
        node = graph.rbac_nodes.get(e.src)
        if e.dst == CLUSTER_ADMIN and node is not None and node[0] == "S":
            kept = bool(eg.paths(CLUSTER_ADMIN, node[1]))
        elif e.kind == "rbac" and node is not None:
            kept = e.dst in _steps(graph, eg, node, None, groups_seen)
        else:
            kept = False
        if not kept:
            removed.add((e.src, e.dst))
    return removed, added


def _steps(
    graph: AttackGraph,
    eg: EscalationGraph,
    node: RbacNode,
    work: deque[tuple[str, RbacNode]] | None,
    groups_seen: dict[RbacNode, Any],
) -> set[str]:
    """The vertices the graph's RBAC steps from ``node`` lead to in ``eg``; those the graph lacks are
    queued on ``work`` (Secrets' vertices excepted: a namespace without Secrets gives none)."""
    groups, edges = graph.rbac_steps_of(eg, node, groups_seen)
    out: set[str] = set()
    for dst in [*groups, *(e.dst for e in edges)]:
        vid = graph.rbac_vertex(dst)
        if vid is None or (dst[0] == "secrets" and vid not in graph.vertices):
            continue
        out.add(vid)
        if work is not None and vid not in graph.vertices:
            work.append((vid, dst))
    return out


def cuts(graph: AttackGraph, q: Query, paths: Sequence[AttackPath] | None = None, limit: int = 200) -> list[CutResult]:
    """Single changes ranked by how many of ``paths`` (default: :func:`shortest_paths`) they cut, most
    first; a change that cuts none is left out. Only changes on the paths are tried (a change that cuts a
    path removes one of its edges), at most ``limit`` of them."""
    if paths is None:
        paths = shortest_paths(graph, q)
    by_change: dict[Remedy, list[Edge]] = defaultdict(list)
    for e in graph.edges.values():
        for r in e.reasons:
            for c in r.cuts:
                by_change[c].append(e)
    candidates = sorted({c for p in paths for e in p.steps for r in e.reasons for c in r.cuts})[:limit]
    starts = [(p.source, p.steps[0].dst if p.source == INTERNET_ID else None) for p in paths]
    results: list[CutResult] = []
    for c in candidates:
        edges = [e for e in dict.fromkeys(by_change[c]) if e.cut_by(c)]
        added: set[tuple[str, str]] = set()
        if c.action == "remove-binding":
            removed, added = _binding_cut(graph, c, edges)
        else:
            removed = {(e.src, e.dst) for e in edges}
        if not removed:
            continue
        alive = _reaching(graph, q.targets, removed, added)
        cut = tuple(
            i
            for i, (src, hop) in enumerate(starts)
            if (hop is not None and ((src, hop) in removed or hop not in alive)) or (hop is None and src not in alive)
        )
        if cut:
            results.append(CutResult(c, cut))
    results.sort(key=lambda r: (-len(r.cut), r.change))
    return results


def _to_target(graph: AttackGraph, targets: tuple[str, ...]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Distances and shortest paths (reversed) of every vertex to ``targets``, computed once per graph."""

    def build() -> tuple[dict[str, int], dict[str, list[str]]]:
        g = to_networkx(graph)
        for t in targets:
            g.add_edge(t, _SINK, weight=0)
        dist, back = nx.single_source_dijkstra(g.reverse(copy=False), _SINK, weight="weight")
        return dist, back

    return graph.inventory.cached(("attack-graph-to", id(graph), targets), build)


def path_from(graph: AttackGraph, vertex: str, target: str = CLUSTER_ADMIN) -> AttackPath | None:
    """The shortest path from ``vertex`` to ``target`` (``cluster-admin``, ``all-secrets``, ``nodes``...),
    or None; every vertex's answer comes from one search per target (the rules ask per workload)."""
    targets = graph.inventory.cached(("attack-graph-targets", id(graph), target), lambda: resolve_target(graph, target))
    dist, back = _to_target(graph, targets)
    if vertex not in dist or vertex in targets:
        return None
    chain = list(reversed(back[vertex]))[:-1]
    steps = tuple(graph.edges[(a, b)] for a, b in itertools.pairwise(chain))
    return AttackPath(vertex, chain[-1], steps) if steps else None
