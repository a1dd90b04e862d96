"""Questions asked of the attack graph: shortest paths from sources to targets, and which single change
cuts the most of them.

Shortest paths are networkx's Dijkstra over the graph turned around, from a sink joined to every target:
one pass gives every source's shortest path. A path starts at each source (``any-pod``: every workload;
a named workload), or, from the internet, at each entry point (Service, Ingress, route, host port),
so that each way in is listed once.

A change cuts a path when, with the edges it removes gone, the path's start no longer reaches any
target. Removing a RoleBinding or ClusterRoleBinding is checked again by the RBAC engine on the input
without that binding, since another escalation path may remain.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

from ...errors import UsageError
from ...model.inventory import Inventory
from ..rbac.escalation import EscalationGraph
from ..rbac.index import RbacIndex
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
    return Query(sources, targets, s, t)


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


def _reaching(graph: AttackGraph, targets: Sequence[str], removed: set[tuple[str, str]]) -> set[str]:
    """Every vertex from which some target is still reachable without the ``removed`` edges."""
    pred: dict[str, list[str]] = graph_preds(graph)
    seen = set(targets)
    work = deque(targets)
    while work:
        v = work.popleft()
        for u in pred.get(v, ()):
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


def _still_escalates(graph: AttackGraph, change: Remedy, edges: list[Edge]) -> set[tuple[str, str]]:
    """Of the RBAC edges ``edges`` that removing a binding would cut, those that the RBAC engine no longer
    finds on the input without that binding: a ServiceAccount's escalation to cluster-admin (another path
    may remain), an escalation step between identities (another binding may allow the same step), a
    read of Secrets (another binding may grant it)."""
    inv = graph.inventory
    objs = [b.obj for b in graph.rbac.bindings if str(b.ref) == change.target]
    if not objs:
        return {(e.src, e.dst) for e in edges}
    rest = Inventory([o for o in inv.objects if o not in objs], live=inv.live, unreadable=inv.unreadable)
    index = RbacIndex.for_inventory(rest)
    eg = EscalationGraph(index)
    gone: set[tuple[str, str]] = set()
    for e in edges:
        node = graph.rbac_nodes.get(e.src)
        read = graph.secret_reads.get((e.src, e.dst))
        if e.dst == CLUSTER_ADMIN and node is not None and node[0] == "S":
            kept = bool(eg.paths(CLUSTER_ADMIN, node[1]))
        elif e.kind == "rbac" and node is not None:
            kept = any(graph.rbac_vertex(x.dst) == e.dst for x in eg.edges(node))
        elif e.kind == "read-secrets" and read is not None:
            s, ns = read
            kept = any(s.matched_by(g.subject) for v in ("list", "get") for g in graph.secret_grants(v, ns, index))
        else:
            kept = False
        if not kept:
            gone.add((e.src, e.dst))
    return gone


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
        if c.action == "remove-binding":
            removed = _still_escalates(graph, c, edges)
        else:
            removed = {(e.src, e.dst) for e in edges}
        if not removed:
            continue
        alive = _reaching(graph, q.targets, removed)
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
    q = resolve(graph, "any-pod", target)
    dist, back = _to_target(graph, q.targets)
    if vertex not in dist or vertex in q.targets:
        return None
    chain = list(reversed(back[vertex]))[:-1]
    steps = tuple(graph.edges[(a, b)] for a, b in itertools.pairwise(chain))
    return AttackPath(vertex, chain[-1], steps) if steps else None
