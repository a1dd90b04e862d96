"""GRAPH rules: findings from the attack graph (kubefort.analysis.graph, docs/graph.md).

Each rule judges a workload (once, on the object that owns its pods) by asking the attack graph for the
shortest path from it to a target: the graph joins exposure, NetworkPolicy reachability, container
escape, node credentials and RBAC escalation, so one finding names a whole chain that the area rules
report link by link.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..analysis.graph.build import AttackGraph, graph_for, workload_id
from ..analysis.graph.model import ALL_SECRETS, CLUSTER_ADMIN, INTERNET_ID, NODE, AttackPath, Edge
from ..analysis.netpol.engine import POLICY_KINDS
from ..analysis.netpol.model import ENDPOINT_KINDS
from ..analysis.netpol.operators import OPERATOR_NEEDS
from ..analysis.rbac.index import READS as RBAC_READS
from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.workloads import PodSpecView

#: what the graph reads besides the workloads it judges: a cluster scan lists these. Secrets are not among
#: them (a cluster scan reads them only when asked, and the in-cluster deployment is not granted them): without
#: them the graph has no token-Secret steps, and finds fewer paths, never false ones.
NEEDS = (
    ENDPOINT_KINDS
    | OPERATOR_NEEDS
    | POLICY_KINDS
    | RBAC_READS
    | {"Namespace", "Service", "Ingress", "ServiceAccount", "Node"}
)
_BINDINGS = ("RoleBinding", "ClusterRoleBinding")


def _graph(ctx: Context) -> AttackGraph:
    return graph_for(ctx.inventory)


def _vertex(g: AttackGraph, pod: PodSpecView) -> str | None:
    w = g.netpol.workload_for(pod.obj)
    return None if w is None else workload_id(w.ref)


def _entry(g: AttackGraph, wid: str) -> str | None:
    """How the internet reaches the workload directly (the exposure that names it), or None."""
    direct = g.edges.get((INTERNET_ID, wid))
    if direct is not None:
        return direct.why
    return g.exposures().get(wid)


def _chain(g: AttackGraph, p: AttackPath) -> str:
    return " -> ".join(f"{g.vertices[e.dst].label} ({e.kind})" for e in p.steps)


def _needs_rbac(ctx: Context) -> None:
    if not ctx.inventory.of_kind(*_BINDINGS) and not (ctx.mode == "cluster" or ctx.inventory.live):
        raise NotEvaluated("the input has no RoleBinding or ClusterRoleBinding: RBAC escalation cannot be judged")


def _exposed_path(pod: PodSpecView, ctx: Context, target: str) -> Iterator[Violation]:
    from ..analysis.graph.search import path_from  # networkx, on use

    g = _graph(ctx)
    wid = _vertex(g, pod)
    if wid is None:
        return
    entry = _entry(g, wid)
    if entry is None:
        return
    _needs_rbac(ctx)
    p = path_from(g, wid, target)
    if p is None:
        return
    what = "cluster-admin" if target == CLUSTER_ADMIN else "every Secret"
    yield Violation(
        pod.path,
        f"internet-exposed ({entry}); attack path to {what} in {p.length} step{'s' if p.length != 1 else ''}: "
        f"{_chain(g, p)}",
    )


@rule(
    id="KF-GRAPH-001",
    reads_images=False,
    slug="exposed-path-to-cluster-admin",
    title="Internet-exposed workload has an attack path to cluster-admin",
    severity=Severity.CRITICAL,
    scope=Scope.POD,
    cross_object=True,
    needs=NEEDS,
    rationale="One exploitable bug in an internet-facing workload is enough when the pods it reaches, the nodes "
    "they escape to and the tokens found there lead to cluster-admin: the whole cluster is one hop from the internet.",
    remediation="Run `kubefort graph cuts --from internet` and apply the change that cuts most paths: a "
    "NetworkPolicy in front of the escaping pod, a dropped capability or privileged flag, an unmounted token or a "
    "removed binding.",
    refs={"kubehound": "ENDPOINT_EXPLOIT"},
)
def exposed_path_to_cluster_admin(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    yield from _exposed_path(pod, ctx, CLUSTER_ADMIN)


@rule(
    id="KF-GRAPH-002",
    reads_images=False,
    slug="exposed-path-to-all-secrets",
    title="Internet-exposed workload has an attack path to every Secret",
    severity=Severity.HIGH,
    scope=Scope.POD,
    cross_object=True,
    needs=NEEDS,
    rationale="Reading every Secret of the cluster (database passwords, cloud keys, TLS keys, tokens) from an "
    "internet-facing workload is a breach of everything the cluster talks to.",
    remediation="Run `kubefort graph cuts --from internet --to all-secrets` and apply the change that cuts most "
    "paths; grant Secret reads per namespace and per name.",
    refs={"kubehound": "TOKEN_LIST"},
)
def exposed_path_to_all_secrets(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    yield from _exposed_path(pod, ctx, ALL_SECRETS)


@rule(
    id="KF-GRAPH-003",
    reads_images=False,
    slug="escape-to-cluster-admin",
    title="Container escape leads to cluster-admin through node credentials",
    severity=Severity.HIGH,
    scope=Scope.POD,
    cross_object=True,
    needs=NEEDS,
    rationale="A container that can reach its node reaches every ServiceAccount token mounted by the pods "
    "scheduled there; when one of them leads to cluster-admin, the escape is a cluster takeover.",
    remediation="Remove the escape (privileged, hostPID, sensitive hostPath, runtime socket, dangerous capability), "
    "or keep the powerful workload off the nodes this one can run on (nodeSelector and taints), or stop mounting "
    "its token.",
    refs={"kubehound": ("CE_PRIV_MOUNT", "CE_NSENTER", "CE_MODULE_LOAD", "EXPLOIT_HOST_WRITE", "TOKEN_STEAL")},
)
def escape_to_cluster_admin(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    g = _graph(ctx)
    wid = _vertex(g, pod)
    if wid is None:
        return
    # an escape reaches a node, or the vertex of the nodes its pods may run on
    escapes = [e for e in g.out.get(wid, ()) if e.kind == "escape"]
    if not escapes:
        return
    _needs_rbac(ctx)
    best: tuple[AttackPath, Edge] | None = None
    for e in escapes:
        p = _nearest_admin(g, e.dst)
        if p is not None and (best is None or (p.length, p.source) < (best[0].length, best[0].source)):
            best = (p, e)
    if best is None:
        return
    path, how = best
    yield Violation(
        pod.path,
        f"escapes to {g.vertices[path.source].label} ({', '.join(how.rules)}); from there to cluster-admin: "
        f"{_chain(g, path)}",
    )


def _nearest_admin(g: AttackGraph, vid: str) -> AttackPath | None:
    """The shortest path to cluster-admin from the node ``vid``, or from the nearest of the nodes the vertex
    ``vid`` stands for (the nodes an escaping pod may run on; the first by name among the nearest). The
    latter is found once per such vertex, not once per escaping workload and node (5,000 nodes each)."""
    from ..analysis.graph.search import path_from  # networkx, on use

    if g.vertices[vid].kind == NODE:
        return path_from(g, vid, CLUSTER_ADMIN)

    def nearest() -> AttackPath | None:
        out: AttackPath | None = None
        for n in sorted(h.dst for h in g.out.get(vid, ()) if g.vertices[h.dst].kind == NODE):
            p = path_from(g, n, CLUSTER_ADMIN)
            if p is not None and (out is None or p.length < out.length):
                out = p
        return out

    return g.inventory.cached(("KF-GRAPH-003: nearest node", id(g), vid), nearest)


RULES = [exposed_path_to_cluster_admin, exposed_path_to_all_secrets, escape_to_cluster_admin]
