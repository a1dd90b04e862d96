"""Building the attack graph of an inventory from the engines kubefort already has.

Every edge is a step an attacker can take, with its reasons (explanation, objects, rule IDs) and the
single changes that remove each reason. Where the facts come from:

- exposure (internet to a workload): Services of type LoadBalancer or NodePort, Ingresses and Gateway
  API routes (through the Services they name), ``hostPort`` and ``hostNetwork``; traffic from outside
  must also pass the workload's ingress NetworkPolicies (asked of the NetworkPolicy engine for
  0.0.0.0/0; hostNetwork pods are not subject to NetworkPolicies);
- pod-to-pod reachability: the NetworkPolicy engine's class matrix (:meth:`NetpolEngine.class_matrix`),
  so that AdminNetworkPolicies, named ports and every selector rule mean what they mean there. Pods no
  policy isolates in either direction (and no AdminNetworkPolicy touches) all reach each other: rather
  than one edge per pair, they meet at one ``pod-network`` vertex, which keeps the graph linear in the
  workloads. Reaching a pod counts as taking it over, as KubeHound's ENDPOINT_EXPLOIT does: the graph
  answers "if any listening service is exploitable";
- container escape to the node: privileged containers (KF-POD-001), ``hostPID`` (KF-POD-003), sensitive
  hostPath mounts (KF-POD-008), container runtime sockets (KF-POD-009), and the capabilities that are
  each a known escape (:data:`ESCAPE_CAPABILITIES`, KF-POD-012) unless ``hostUsers: false`` confines them
  to the pod's user namespace;
- the node to the tokens of every pod that can land on it (``nodeName``, ``nodeSelector`` and, when the
  input has Node objects, their labels and NoSchedule/NoExecute taints against the pod's tolerations);
- a workload to its ServiceAccount when the token is mounted (the RBAC engine's
  :class:`~kubefort.analysis.rbac.escalation.EscalationGraph` decides: automount on the pod or the
  ServiceAccount, projected tokens);
- a ServiceAccount to cluster-admin: the RBAC engine's shortest escalation path (every step it models);
- an identity to another, step by step: the RBAC engine's escalation edges as they are (fan-out nodes
  such as "any ServiceAccount of namespace X" as linking vertices, a role bound to yourself as a vertex,
  a group's steps once from the group), so that a path to Secrets may pass through other identities;
- reading Secrets: ``who_can`` of the RBAC index for get/list of secrets cluster-wide (every Secret) or in
  a namespace; a Secret of type service-account-token to its ServiceAccount.

Nothing here re-decides RBAC or NetworkPolicy semantics: the engines are asked.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...model.host_access import RUNTIME_SOCKETS, SENSITIVE_HOST_PATHS, covers, norm_host_path
from ...model.inventory import Inventory
from ...model.objects import K8sObject
from ...model.workloads import ContainerSet, PodSpecView, pod_spec
from ..netpol.engine import External, NetpolEngine, engine_for, iter_bits
from ..netpol.model import Workload
from ..netpol.sets import AddrSet
from ..rbac.escalation import ANY_NS, SHARED, EscalationGraph, step_rules
from ..rbac.escalation import Node as RbacNode
from ..rbac.index import Grant, RbacIndex
from ..rbac.subjects import Subject
from .model import (
    ALL_NODES,
    ALL_SECRETS,
    CLUSTER_ADMIN,
    EXPOSURE,
    GRANT,
    GROUP,
    HUB,
    HUB_ID,
    IDENTITIES,
    INTERNET,
    INTERNET_ID,
    NODE,
    RBAC_LINK,
    SECRET,
    SECRETS,
    SERVICE_ACCOUNT,
    TARGET,
    USER,
    WORKLOAD,
    Edge,
    Reason,
    Remedy,
    Vertex,
)

#: Capabilities each of which is a known way out of a container (KubeHound CE_MODULE_LOAD, CE_SYS_PTRACE,
#: the SYS_ADMIN cgroup/mount escapes, the DAC_READ_SEARCH "shocker" read of host files, raw I/O, BPF).
ESCAPE_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "DAC_READ_SEARCH", "BPF"})

#: the kinds the graph reads: what a cluster read must list for it
READS = frozenset(
    {"Service", "Ingress", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute", "Node", "Secret"}
)
_ROUTES = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
_BINDING = re.compile(r"\b((?:Cluster)?RoleBinding/[^\s;(),]+)")
_DS_TOLERATED = frozenset(
    {
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
        "node.kubernetes.io/disk-pressure",
        "node.kubernetes.io/memory-pressure",
        "node.kubernetes.io/pid-pressure",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/network-unavailable",
    }
)


def workload_id(ref: str) -> str:
    return f"workload:{ref}"


def sa_id(namespace: str, name: str) -> str:
    return f"serviceaccount:{namespace}/{name}"


def secret_id(namespace: str, name: str) -> str:
    return f"secret:{namespace}/{name}"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a pod may be scheduled: ``nodeName``, ``nodeSelector``, tolerations, DaemonSet."""

    node_name: str | None
    selector: tuple[tuple[str, str], ...]
    tolerations: tuple[tuple[str, str, str, str], ...]  # (key, operator, value, effect)
    daemonset: bool

    @staticmethod
    def of(pod: PodSpecView) -> Placement:
        spec = pod.spec
        nn = spec.get("nodeName")
        sel = spec.get("nodeSelector")
        tol = spec.get("tolerations")
        return Placement(
            nn if isinstance(nn, str) and nn else None,
            tuple(sorted((str(k), str(v)) for k, v in sel.items())) if isinstance(sel, dict) else (),
            tuple(
                (
                    str(t.get("key") or ""),
                    str(t.get("operator") or "Equal"),
                    str(t.get("value") or ""),
                    str(t.get("effect") or ""),
                )
                for t in (tol if isinstance(tol, list) else [])
                if isinstance(t, dict)
            ),
            pod.obj.kind == "DaemonSet",
        )

    def tolerates(self, taint: Mapping[str, Any]) -> bool:
        key, value, effect = str(taint.get("key") or ""), str(taint.get("value") or ""), str(taint.get("effect") or "")
        if effect not in ("NoSchedule", "NoExecute"):
            return True  # PreferNoSchedule does not keep a pod away
        if self.daemonset and key in _DS_TOLERATED:
            return True
        for k, op, v, e in self.tolerations:
            if e and e != effect:
                continue
            if not k and op == "Exists":
                return True
            if k == key and (op == "Exists" or v == value):
                return True
        return False

    def fits(self, node: K8sObject) -> bool:
        """Whether the pod may run on ``node`` (nodeName, nodeSelector, taints; affinity is not read)."""
        if self.node_name is not None:
            return node.name == self.node_name
        labels = node.labels
        if any(str(labels.get(k)) != v or k not in labels for k, v in self.selector):
            return False
        taints = node.get("spec", "taints")
        return all(self.tolerates(t) for t in (taints if isinstance(taints, list) else []) if isinstance(t, dict))

    def key(self) -> str:
        if self.node_name is not None:
            return f"nodeName={self.node_name}"
        return ",".join(f"{k}={v}" for k, v in self.selector)

    def compatible(self, other: Placement) -> bool:
        """Without Node objects: whether two pods may share a node (no label asked with two values)."""
        if self.node_name is not None and other.node_name is not None:
            return self.node_name == other.node_name
        mine = dict(self.selector)
        return all(mine.get(k, v) == v for k, v in other.selector)


class AttackGraph:
    """The attack graph of an inventory: :attr:`vertices` (id -> Vertex) and :attr:`edges`
    ((src, dst) -> Edge). Build with :func:`graph_for` (kept by the inventory)."""

    def __init__(self, inventory: Inventory, *, netpol: NetpolEngine | None = None, origin: str | None = None) -> None:
        # where the attacker starts from outside the cluster: every address (the internet), or the
        # addresses of one CIDR (``--from 203.0.113.0/24``: NetworkPolicy ipBlocks and a Service's
        # loadBalancerSourceRanges are then judged for those addresses alone)
        self.origin = origin
        self._origin = _EVERYWHERE if origin is None else External(AddrSet.cidr(origin), origin)
        self._origin_net = None if origin is None else ipaddress.ip_network(origin, strict=False)
        self.inventory = inventory
        self.netpol = netpol or engine_for(inventory)
        self.rbac = RbacIndex.for_inventory(inventory)
        self.vertices: dict[str, Vertex] = {}
        self.edges: dict[tuple[str, str], Edge] = {}
        self.notes: list[str] = []
        self.subjects: dict[str, Subject] = {}  # identity vertex -> who it is
        self.rbac_nodes: dict[str, RbacNode] = {}  # vertex -> the RBAC engine's node it stands for
        self.secret_reads: dict[tuple[str, str], tuple[Subject, str | None]] = {}  # read-secrets edge -> (who, where)
        self._members_key: list[tuple[str, Subject]] | None = None
        self._members: dict[str, list[tuple[str, Subject]]] = {}
        self._grants: dict[tuple[str, str | None], list[Grant]] = {}
        self._vids: dict[RbacNode, str | None] = {}
        self.incomplete: dict[str, str] = dict(self.netpol.incomplete)
        self.incomplete.update({k: v for k, v in inventory.unreadable.items() if k in READS})
        self._escalation = EscalationGraph(self.rbac)
        self.incomplete.update(self._escalation.incomplete())
        self._wl_by_obj: dict[int, Workload] = {id(w.obj): w for w in self.netpol.workloads}
        self._pods: dict[str, PodSpecView] = {}
        for w in self.netpol.workloads:
            p = pod_spec(w.obj)
            if p is not None:
                self._pods[w.ref] = p
        for t in (CLUSTER_ADMIN, ALL_SECRETS, ALL_NODES):
            self._vertex(t, TARGET, t)
        self._vertex(INTERNET_ID, INTERNET, "the internet" if origin is None else f"addresses {origin}")
        for w in self.netpol.workloads:
            self._vertex(workload_id(w.ref), WORKLOAD, w.ref)
        self._exposure()
        self._network()
        self._nodes()
        self._tokens()
        self._rbac()
        self._secrets()
        admin = Reason("cluster-admin may run a privileged pod on every node and read every Secret")
        self._edge(CLUSTER_ADMIN, ALL_NODES, "admin", admin)
        self._edge(CLUSTER_ADMIN, ALL_SECRETS, "admin", admin)
        self._rbac_steps()  # last: every edge before them keeps its place (shortest paths break ties alike)
        self.out: dict[str, list[Edge]] = defaultdict(list)  # vertex -> its edges, for per-workload questions
        self._exposures: dict[str, str] | None = None
        for e in self.edges.values():
            self.out[e.src].append(e)

    def exposures(self) -> dict[str, str]:
        """Workload vertex -> the label of the first entry point (in the internet's edge order) that
        exposes it (a LoadBalancer or NodePort Service, an Ingress...), built once: the rules ask per
        workload, and walking every entry point per workload grew as workloads x entry points."""
        if self._exposures is None:
            out: dict[str, str] = {}
            for e in self.out.get(INTERNET_ID, ()):
                for step in self.out.get(e.dst, ()):
                    if step.kind == "exposure":
                        out.setdefault(step.dst, self.vertices[e.dst].label)
            self._exposures = out
        return self._exposures

    # ------------------------------------------------------------------ plumbing

    def _vertex(self, vid: str, kind: str, label: str) -> str:
        if vid not in self.vertices:
            self.vertices[vid] = Vertex(vid, kind, label)
        return vid

    def _edge(self, src: str, dst: str, kind: str, reason: Reason, weight: int = 1) -> None:
        cur = self.edges.get((src, dst))
        if cur is None:
            self.edges[(src, dst)] = Edge(src, dst, kind, (reason,), weight)
        elif reason not in cur.reasons:
            self.edges[(src, dst)] = Edge(src, dst, cur.kind, (*cur.reasons, reason), min(weight, cur.weight))

    def _workload_of(self, obj: K8sObject) -> Workload | None:
        w = self._wl_by_obj.get(id(obj))
        if w is not None:
            return w
        top = self.inventory.controller(obj)
        return self._wl_by_obj.get(id(top)) if top is not None else None

    def workload_vertex(self, ref: str) -> str:
        """The vertex of a workload given as ``namespace/kind/name`` (kubectl short kinds; a controlled
        object answers for its controller); LookupError with a hint otherwise."""
        ep = self.netpol.find(ref)
        if not isinstance(ep, Workload):
            raise LookupError(f"{ref} is not a workload (NAMESPACE/KIND/NAME)")
        return workload_id(ep.ref)

    # ------------------------------------------------------------------ exposure

    def _internet_allows(self, w: Workload) -> tuple[bool, str]:
        """Whether traffic from every address of the origin (the internet, or ``origin``) may enter
        ``w``'s pods, as the engine says."""
        verdict = self.netpol.explain(self._origin, w)
        return bool(verdict.ports), ("" if verdict.ports else "; ".join(verdict.reasons))

    def _expose(
        self, via: str, w: Workload, why: str, objects: tuple[str, ...], rules: tuple[str, ...], cut: Remedy
    ) -> None:
        ok, denied = self._internet_allows(w)
        if not ok:
            self.notes.append(f"{via} exposes {w.ref}, but its NetworkPolicies deny the internet: {denied}")
            return
        cuts = frozenset(
            {cut, Remedy("deny-internet", w.ref, "an ingress NetworkPolicy that admits no internet address")}
        )
        self._edge(via, workload_id(w.ref), "exposure", Reason(why, objects, rules, cuts))

    def _origin_within(self, ranges: list[Any]) -> bool:
        """Whether a load balancer that admits ``ranges`` admits the origin: always for the internet (some
        address of it is in them: the reason names the ranges), for a CIDR when it lies inside one."""
        if self._origin_net is None:
            return True
        for r in ranges:
            try:
                net = ipaddress.ip_network(str(r).strip(), strict=False)
            except ValueError:
                continue
            if net.version == self._origin_net.version and self._origin_net.subnet_of(net):  # type: ignore[arg-type]
                return True
        return False

    def _service_workloads(self, ns: str, selector: Any) -> list[Workload]:
        out: dict[str, Workload] = {}
        for p in self.inventory.pods_selected_by_service(ns, selector):
            w = self._workload_of(p.obj)
            if w is not None:
                out[w.ref] = w
        return [out[k] for k in sorted(out)]

    def _exposure(self) -> None:
        inv = self.inventory
        for svc in inv.of_kind("Service"):
            ns = svc.namespace
            typ = svc.get("spec", "type")
            if ns is None or typ not in ("LoadBalancer", "NodePort"):
                continue
            ref = str(svc.ref)
            internal = Remedy("make-internal", ref, "type ClusterIP behind an authenticated ingress")
            vid = self._vertex(f"service:{ns}/{svc.name}", EXPOSURE, f"Service {ns}/{svc.name} ({typ})")
            ranges = svc.get("spec", "loadBalancerSourceRanges")
            limited = f", limited to {', '.join(map(str, ranges))}" if isinstance(ranges, list) and ranges else ""
            if limited and typ == "LoadBalancer" and not self._origin_within(ranges):
                self.notes.append(
                    f"Service {ns}/{svc.name} admits {', '.join(map(str, ranges))} only, not {self.origin}"
                )
                continue
            reason = Reason(
                f"Service {svc.name} of type {typ} is reachable from outside the cluster{limited}",
                (ref,),
                ("KF-NET-012",),
                frozenset({internal}),
            )
            self._edge(INTERNET_ID, vid, "exposure", reason)
            for w in self._service_workloads(ns, svc.get("spec", "selector")):
                self._expose(vid, w, f"Service {svc.name} selects the pods of {w.ref}", (ref,), (), internal)
        for ing in inv.of_kind("Ingress"):
            ns = ing.namespace
            if ns is None:
                continue
            ref = str(ing.ref)
            services = sorted(set(_ingress_services(ing.raw.get("spec"))))
            if not services:
                continue
            vid = self._vertex(f"ingress:{ns}/{ing.name}", EXPOSURE, f"Ingress {ns}/{ing.name}")
            cut = Remedy("remove-ingress", ref)
            self._edge(
                INTERNET_ID,
                vid,
                "exposure",
                Reason(f"Ingress {ing.name} routes outside traffic into the cluster", (ref,), (), frozenset({cut})),
            )
            for name in services:
                svc_obj = inv.get("Service", ns, name)
                if svc_obj is None:
                    continue
                for w in self._service_workloads(ns, svc_obj.get("spec", "selector")):
                    self._expose(
                        vid,
                        w,
                        f"Ingress {ing.name} sends to Service {name}, which selects {w.ref}",
                        (ref, str(svc_obj.ref)),
                        (),
                        cut,
                    )
        for route in inv.of_kind(*_ROUTES):
            ns = route.namespace
            if ns is None or not route.group.startswith("gateway.networking.k8s.io"):
                continue
            ref = str(route.ref)
            services = sorted(set(_route_services(route.raw.get("spec"))))
            if not services:
                continue
            vid = self._vertex(f"route:{ns}/{route.kind}/{route.name}", EXPOSURE, f"{route.kind} {ns}/{route.name}")
            cut = Remedy("remove-route", ref)
            self._edge(
                INTERNET_ID,
                vid,
                "exposure",
                Reason(
                    f"{route.kind} {route.name} attaches to a Gateway (taken as reachable from outside)",
                    (ref,),
                    (),
                    frozenset({cut}),
                ),
            )
            for name in services:
                svc_obj = inv.get("Service", ns, name)
                if svc_obj is None:
                    continue
                for w in self._service_workloads(ns, svc_obj.get("spec", "selector")):
                    self._expose(
                        vid,
                        w,
                        f"{route.kind} {route.name} sends to Service {name}, which selects {w.ref}",
                        (ref, str(svc_obj.ref)),
                        (),
                        cut,
                    )
        for w in self.netpol.workloads:
            pod = self._pods.get(w.ref)
            if pod is None:
                continue
            ref = str(w.obj.ref)
            if pod.spec.get("hostNetwork") is True:
                reason = Reason(
                    f"{w.ref} uses the host network: its ports listen on the node's addresses, and NetworkPolicies do not apply",
                    (ref,),
                    ("KF-POD-005",),
                    frozenset({Remedy("no-host-network", w.ref)}),
                )
                self._edge(INTERNET_ID, workload_id(w.ref), "exposure", reason)
                continue
            ports = sorted(
                {
                    p["hostPort"]
                    for c in pod.containers(ContainerSet.ALL)
                    for p in _ports(c.raw)
                    if isinstance(p, dict)
                    and isinstance(p.get("hostPort"), int)
                    and not isinstance(p.get("hostPort"), bool)
                    and p["hostPort"]
                }
            )
            if ports:
                self._expose(
                    INTERNET_ID,
                    w,
                    f"{w.ref} binds host port{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))} on its node",
                    (ref,),
                    ("KF-POD-010",),
                    Remedy("remove-host-port", w.ref),
                )

    # ------------------------------------------------------------------ network

    def _network(self) -> None:
        """Pod-to-pod edges, kept linear where the engine's structure allows (see the module docstring).

        Without AdminNetworkPolicies the engine answers "s may reach d on P" as d's ingress pieces (sets
        of source classes, ports) met by s's egress. Sources whose egress no policy restricts reach a
        destination exactly when one of its ingress pieces holds them: each distinct piece becomes one
        vertex ("the pods these rules admit"), fed by its member workloads, or by one vertex per namespace
        when the piece holds all of the namespace's; a destination no policy isolates hangs off the pod
        network vertex. Sources whose egress is restricted get the engine's explicit pairs."""
        eng = self.netpol
        if not eng.classes:
            return
        self._hostnet = {
            w.ref
            for w in eng.workloads
            if (p := self._pods.get(w.ref)) is not None and p.spec.get("hostNetwork") is True
        }
        if eng.admin:  # three tiers: pair by pair, as the engine judges them
            self._pairs(eng.class_matrix())
            return
        open_eg = eng.egress_open_bits
        self._nsbits: dict[str, int] = defaultdict(int)
        for c in eng.classes:
            self._nsbits[c.namespace] |= 1 << c.index
        self._groups: dict[int, str] = {}
        self._ns_vertex: dict[str, str] = {}
        for d in range(len(eng.classes)):
            members = [b for b in eng.classes[d].members if b.ref not in self._hostnet]
            if not members:
                continue
            parts = eng.ingress_parts(d)
            if parts is None:
                if open_eg:
                    self._hub(open_eg)
                    for b in members:
                        into = Reason(
                            f"no NetworkPolicy restricts the ingress of {b.ref}: every pod may connect to it (all ports)",
                            (str(b.obj.ref),),
                            ("KF-NET-004",),
                            frozenset({Remedy("restrict-ingress", b.ref, "an ingress NetworkPolicy")}),
                        )
                        self._edge(HUB_ID, workload_id(b.ref), "network", into)
                continue
            pols = tuple(f"{p.namespace}/NetworkPolicy/{p.name}" for p in eng.ingress_policies[d])
            for bits, ports in parts:
                src = bits & open_eg
                if not src:
                    continue
                gid = self._group(src)
                text = ", ".join(ports.render())
                for b in members:
                    self._edge(
                        gid,
                        workload_id(b.ref),
                        "network",
                        Reason(
                            f"the ingress rules of {', '.join(pols)} admit these pods to {b.ref} on {text}",
                            pols,
                            (),
                            frozenset({Remedy("restrict-ingress", b.ref, "narrow the ingress rules selecting it")}),
                        ),
                    )
        iso = eng.all_bits & ~open_eg
        if iso:
            self._pairs(eng.class_matrix(iso, None))

    def _out_reason(self, w: Workload) -> Reason:
        return Reason(
            f"no NetworkPolicy restricts the egress of {w.ref}",
            (str(w.obj.ref),),
            ("KF-NET-005",),
            frozenset({Remedy("restrict-egress", w.ref, "an egress NetworkPolicy")}),
        )

    def _hub(self, open_eg: int) -> None:
        if HUB_ID in self.vertices:
            return
        self._vertex(HUB_ID, HUB, "the pod network (any pod whose egress is open)")
        for i in iter_bits(open_eg):
            for w in self.netpol.classes[i].members:
                self._edge(workload_id(w.ref), HUB_ID, "network", self._out_reason(w), 0)

    def _group(self, src: int) -> str:
        """The vertex of the egress-open pods of ``src`` (a bitset of classes), made once per distinct set."""
        gid = self._groups.get(src)
        if gid is not None:
            return gid
        eng = self.netpol
        gid = self._groups[src] = f"peers:{len(self._groups)}"
        namespaces: dict[str, int] = defaultdict(int)
        for i in iter_bits(src):
            namespaces[eng.classes[i].namespace] |= 1 << i
        names = sorted(namespaces)
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        self._vertex(gid, HUB, f"pods of {shown} that NetworkPolicy ingress rules admit")
        for ns, chunk in sorted(namespaces.items()):
            whole = self._nsbits.get(ns, 0) & eng.egress_open_bits
            if chunk == whole and chunk.bit_count() > 1:
                nid = self._ns_vertex.get(ns)
                if nid is None:
                    nid = self._ns_vertex[ns] = self._vertex(f"namespace-pods:{ns}", HUB, f"the pods of namespace {ns}")
                    for i in iter_bits(whole):
                        for w in eng.classes[i].members:
                            self._edge(workload_id(w.ref), nid, "network", self._out_reason(w), 0)
                self._edge(nid, gid, "network", Reason(f"every pod of namespace {ns} is among them"), 0)
                continue
            for i in iter_bits(chunk):
                for w in eng.classes[i].members:
                    self._edge(workload_id(w.ref), gid, "network", self._out_reason(w), 0)
        return gid

    def _pairs(self, pairs: Iterable[tuple[int, int, Any]]) -> None:
        eng = self.netpol
        for s, d, ports in pairs:
            text = ", ".join(ports.render())
            for a in eng.classes[s].members:
                for b in eng.classes[d].members:
                    if a is b or b.ref in self._hostnet:
                        continue
                    reason = Reason(
                        f"NetworkPolicies allow {a.ref} to connect to {b.ref} on {text}",
                        (str(a.obj.ref), str(b.obj.ref)),
                        (),
                        frozenset({Remedy("deny-connection", f"{a.ref} -> {b.ref}", "narrow a NetworkPolicy")}),
                    )
                    self._edge(workload_id(a.ref), workload_id(b.ref), "network", reason)

    # ------------------------------------------------------------------ escape, nodes, tokens

    def escape_reasons(self, w: Workload, pod: PodSpecView) -> list[Reason]:
        """The ways out of the containers of ``w`` to its node, each with the change that closes it."""
        out: list[Reason] = []
        ref, obj = w.ref, str(w.obj.ref)
        if pod.is_windows:
            return out
        userns = pod.host_users_false
        for c in pod.containers(ContainerSet.ALL):
            if c.sc("privileged").value is True:
                out.append(
                    Reason(
                        f"{c.label} of {ref} is privileged: it mounts the node's disks and enters its namespaces",
                        (obj,),
                        ("KF-POD-001",),
                        frozenset({Remedy("unprivileged", ref, f"{c.label}: privileged: false")}),
                    )
                )
            if userns:
                continue  # capabilities held in the pod's own user namespace do not reach the node
            for cap in c.capabilities("add"):
                if cap in ESCAPE_CAPABILITIES and (cap != "SYS_PTRACE" or pod.spec.get("hostPID") is True):
                    out.append(
                        Reason(
                            f"{c.label} of {ref} adds capability {cap}, a known container escape",
                            (obj,),
                            ("KF-POD-012",),
                            frozenset({Remedy("drop-capability", ref, f"{c.label}: {cap}")}),
                        )
                    )
        if pod.spec.get("hostPID") is True and not userns:
            out.append(
                Reason(
                    f"{ref} shares the node's process namespace (hostPID): /proc of the node's processes, their "
                    "environment and files",
                    (obj,),
                    ("KF-POD-003",),
                    frozenset({Remedy("no-host-pid", ref)}),
                )
            )
        mounted = {m.get("name") for c in pod.containers(ContainerSet.ALL) for m in _mounts(c.raw)}
        sensitive = [norm_host_path(p) for p in SENSITIVE_HOST_PATHS]
        for _i, v in pod.volumes():
            hp = v.get("hostPath")
            if not isinstance(hp, dict) or v.get("name") not in mounted or not isinstance(hp.get("path"), str):
                continue
            path = norm_host_path(hp["path"])
            name = str(v.get("name"))
            if any(covers(path, s) for s in RUNTIME_SOCKETS):
                out.append(
                    Reason(
                        f"{ref} mounts the container runtime socket ({path}): it starts a privileged container on the node",
                        (obj,),
                        ("KF-POD-009",),
                        frozenset({Remedy("remove-host-path", ref, f"volume {name} ({path})")}),
                    )
                )
            elif any(covers(path, s) for s in sensitive):
                out.append(
                    Reason(
                        f"{ref} mounts the node's {path}, which holds host or kubelet credentials",
                        (obj,),
                        ("KF-POD-008",),
                        frozenset({Remedy("remove-host-path", ref, f"volume {name} ({path})")}),
                    )
                )
        return out

    def _nodes(self) -> None:
        node_objs = sorted(self.inventory.of_kind("Node"), key=lambda n: n.name)
        self._placements: dict[str, Placement] = {
            w.ref: Placement.of(p) for w in self.netpol.workloads if (p := self._pods.get(w.ref)) is not None
        }
        by_placement: dict[Placement, list[str]] = defaultdict(list)
        for ref, pl in self._placements.items():
            by_placement[pl].append(ref)
        self._lands: dict[Placement, list[str]] = {}  # placement -> node vertices its pods may run on
        self._node_class: dict[str, Placement] = {}  # abstract node vertex -> the nodeName/nodeSelector it stands for
        if node_objs:
            for pl in by_placement:
                self._lands[pl] = [
                    self._vertex(f"node:{n.name}", NODE, f"Node {n.name}") for n in node_objs if pl.fits(n)
                ]
        else:
            self.notes.append("no Node objects in the input: one abstract node per nodeName/nodeSelector class")
            for pl in by_placement:
                key = pl.key()
                label = f"a node ({key})" if key else "a node"
                vid = self._vertex(f"node:{key or '*'}", NODE, label)
                self._node_class.setdefault(vid, Placement(pl.node_name, pl.selector, (), False))
                self._lands[pl] = [vid]
        # escape edges
        self._escape_vids: dict[Placement, str] = {}
        for w in self.netpol.workloads:
            pod = self._pods.get(w.ref)
            if pod is None:
                continue
            reasons = self.escape_reasons(w, pod)
            if not reasons:
                continue
            pl = self._placements[w.ref]
            lands = self._lands.get(pl, [])
            for node in [self._placement_hub(pl, lands, escape=True)] if len(lands) > 1 else lands:
                for r in reasons:
                    self._edge(workload_id(w.ref), node, "escape", r)

    def _lands_on(self, pl: Placement) -> list[str]:
        """Node vertices where pods of placement ``pl`` may run (and so leave their tokens), memoised."""
        hit = self._landing.get(pl)
        if hit is None:
            if self._node_objs:
                hit = [f"node:{n.name}" for n in self._node_objs if pl.fits(n)]
            else:
                hit = [vid for vid in self._node_vids if pl.compatible(self._node_class[vid])]
            self._landing[pl] = hit
        return hit

    def _tokens(self) -> None:
        mounted: dict[str, set[str]] = defaultdict(set)  # workload ref -> ServiceAccounts with a mounted token
        # the workloads themselves, by ref: a ref is not parsed back (names from the input may hold "/")
        by_ref: dict[str, Workload] = {}
        for _ns, items in self._escalation.workloads.items():
            for obj, sa in items:
                w = self._workload_of(obj)
                if w is not None:
                    mounted[w.ref].add(sa)
                    by_ref[w.ref] = w
        self._node_objs = sorted(self.inventory.of_kind("Node"), key=lambda n: n.name)
        self._node_vids = sorted(vid for vid, v in self.vertices.items() if v.kind == NODE)
        self._landing: dict[Placement, list[str]] = {}
        self._placed_vids: dict[Placement, str] = {}
        for ref in sorted(mounted):
            w = by_ref[ref]
            pl = self._placements.get(ref)
            for sa in sorted(mounted[ref]):
                said = self._sa(w.namespace, sa)
                cut = Remedy("no-automount", ref, f"automountServiceAccountToken: false (ServiceAccount {sa})")
                self._edge(
                    workload_id(ref),
                    said,
                    "token",
                    Reason(
                        f"the pods of {ref} mount the token of ServiceAccount {w.namespace}/{sa}",
                        (str(w.obj.ref),),
                        ("KF-RBAC-025",),
                        frozenset({cut}),
                    ),
                )
                if pl is None:
                    continue
                lands = self._lands_on(pl)
                for src in [self._placement_hub(pl, lands)] if len(lands) > 1 else lands:
                    self._edge(
                        src,
                        said,
                        "node-token",
                        Reason(
                            f"pods of {ref} may run on this node; their token of {w.namespace}/{sa} is in the kubelet's "
                            "pod volumes there",
                            (str(w.obj.ref),),
                            (),
                            frozenset({cut}),
                        ),
                    )

    def _placement_hub(self, pl: Placement, lands: list[str], *, escape: bool = False) -> str:
        """One vertex for placement ``pl``, whose pods may run on several nodes (``lands``), instead of an edge
        per node and per ServiceAccount or escaping workload (5,000 nodes x 10,000 accounts at Kubernetes'
        limits). Without ``escape``: the pods of that placement; every node reaches it at no cost, and it
        reaches their tokens. With ``escape``: the nodes themselves; an escaping pod reaches it, and it
        reaches each node at no cost."""
        table = self._escape_vids if escape else self._placed_vids
        vid = table.get(pl)
        if vid is None:
            vid = table[pl] = f"{'escape-nodes' if escape else 'node-pods'}:{len(table)}"
            key = pl.key()
            where = f"nodes matching {key}" if key else f"any of {len(lands)} nodes"
            if escape:
                self._vertex(vid, HUB, f"{'the ' if key else ''}{where}, where the pods may run")
                why = Reason(f"an escaping pod may run on this node, one of the {len(lands)} nodes its pods may run on")
                for node_vid in lands:
                    self._edge(vid, node_vid, "scheduled", why, 0)
            else:
                self._vertex(vid, HUB, f"the pods that may run on {where}")
                why = Reason(f"this node may run the pods that may run on {where}; their tokens are in its pod volumes")
                for node_vid in lands:
                    self._edge(node_vid, vid, "node-token", why, 0)
        return vid

    # ------------------------------------------------------------------ RBAC

    def _sa(self, namespace: str, name: str) -> str:
        return self._identity(Subject("ServiceAccount", name, namespace))

    def _identity(self, s: Subject) -> str:
        """The vertex of an identity, kept with its Subject (:attr:`subjects`): ids are never parsed back."""
        if s.kind == "ServiceAccount" and s.namespace:
            vid = self._vertex(sa_id(s.namespace, s.name), SERVICE_ACCOUNT, f"ServiceAccount {s.namespace}/{s.name}")
        elif s.kind == "User":
            vid = self._vertex(f"user:{s.name}", USER, f"User {s.name}")
        else:
            vid = self._vertex(f"group:{s.name}", GROUP, f"Group {s.name}")
        self.subjects.setdefault(vid, s)
        return vid

    def _identities(self) -> list[tuple[str, Subject]]:
        return [(vid, self.subjects[vid]) for vid, v in self.vertices.items() if v.kind in IDENTITIES]

    def _rbac(self) -> None:
        for ns in sorted(self._escalation.sas):
            for name in sorted(self._escalation.sas[ns]):
                self._sa(ns, name)
        for path in self._escalation.paths(CLUSTER_ADMIN):
            s = path.source
            if s.kind != "ServiceAccount" or not s.namespace:
                continue
            vid = self._sa(s.namespace, s.name)
            self.rbac_nodes[vid] = ("S", s)
            steps = " -> ".join(f"{st.action} [{st.via}]" if st.via else st.action for st in path.steps)
            bindings = sorted({m for st in path.steps for m in _BINDING.findall(st.via)})
            self._edge(
                vid,
                CLUSTER_ADMIN,
                "rbac",
                Reason(
                    f"RBAC escalation: {steps}",
                    tuple(bindings),
                    ("KF-RBAC-035",),
                    frozenset(Remedy("remove-binding", b) for b in bindings),
                ),
            )

    def rbac_vertex(self, node: RbacNode) -> str | None:
        """The vertex id of a node of the RBAC engine's escalation graph: an identity, a role bound to
        yourself, a fan-out ("any ServiceAccount of namespace X"), the Secrets a step reads; None for
        cluster-admin (reached through the one edge per ServiceAccount that carries the whole path)."""
        try:
            return self._vids[node]
        except KeyError:
            vid = self._vids[node] = self._rbac_vertex(node)
            return vid

    @staticmethod
    def _rbac_vertex(node: RbacNode) -> str | None:
        kind = node[0]
        if kind == "T":
            return None
        if kind == "S":
            s = node[1]
            if s.kind == "ServiceAccount":
                return sa_id(s.namespace, s.name) if s.namespace else None
            return f"{'user' if s.kind == 'User' else 'group'}:{s.name}"
        if kind == "secrets":
            return ALL_SECRETS if node[1] is None else f"secrets:{node[1]}"
        if kind == "grant":
            ref, scope = node[1], node[2]
            where = "*" if scope is None else "every-namespace" if scope == ANY_NS else scope
            return f"rbac-grant:{ref.qualified}@{where}"
        return "rbac:" + "/".join("*" if x is None else str(x) for x in node)

    def _rbac_label(self, node: RbacNode) -> str:
        kind = node[0]
        if kind == "grant":
            return f"{EscalationGraph.label(node)}, bound to yourself"
        where = "every namespace" if len(node) < 2 or node[1] is None else f"namespace {node[1]}"
        if kind == "anysa":
            return {
                "pod": f"a pod you create in {where}, as any of its ServiceAccounts",
                "workload": f"a workload you create or change in {where}, as any of its ServiceAccounts",
                "secret": f"a token Secret you create in {where}, for any of its ServiceAccounts",
                "token": f"a token you request for any ServiceAccount of {where}",
                "impersonate": f"any ServiceAccount of {where}, impersonated",
            }.get(node[2], f"any ServiceAccount of {where}")
        if kind == "pods":
            return f"the running pods of {where} (the tokens they mount)"
        if kind == SHARED:
            return f"what every member of {' and '.join(node[1])} may do (the bindings of those groups)"
        return {
            "anyuser": "any user, impersonated",
            "anygroup": "any group, impersonated",
            "anyid": "any identity, through a client certificate",
        }.get(kind, EscalationGraph.label(node))

    def _rbac_steps(self) -> None:
        """The RBAC engine's escalation steps between identities, joined in as they are: every edge of its
        graph reachable from the ServiceAccounts (an attacker enters RBAC holding a ServiceAccount's token),
        with its fan-out nodes as linking vertices, so that the edges grow with the steps, never with
        pairs of identities. A step that an identity's implicit group (``system:serviceaccounts``,
        ``system:serviceaccounts:NS``, ``system:authenticated``) allows by itself goes from the group's
        vertex, which each member reaches at no cost: a binding to a group adds its steps once, not once
        per member. Edges into cluster-admin are left to the one edge per ServiceAccount (its shortest
        path); a step that reads Secrets goes to the Secrets' vertex unless ``who_can`` already gave that
        edge; the engine's fan-out from read Secrets to their token's ServiceAccount is the graph's own
        Secret -> ServiceAccount edges."""
        eg = self._escalation
        work: deque[RbacNode] = deque(
            ("S", Subject("ServiceAccount", n, ns)) for ns in sorted(eg.sas) for n in sorted(eg.sas[ns])
        )
        seen = set(work)
        reads: list[tuple[str, str, Reason]] = []
        groups_seen: dict[RbacNode, Any] = {}

        def reach(node: RbacNode) -> None:
            if node not in seen and node[0] not in ("T", "secrets"):
                seen.add(node)
                work.append(node)

        while work:
            node = work.popleft()
            src = self._rbac_node_vertex(node)
            groups, edges = self.rbac_steps_of(eg, node, groups_seen)
            for group in groups:
                why = f"{node[1]} is in group {group[1].name}"
                self._edge(src, self._rbac_node_vertex(group), "rbac", Reason(why), 0)
                reach(group)
            for e in edges:
                dst = self.rbac_vertex(e.dst)
                assert dst is not None
                bindings = sorted(set(_BINDING.findall(e.via)))
                reason = Reason(
                    f"{e.action} [{e.via}]" if e.via else e.action,
                    tuple(bindings),
                    step_rules(e.action),
                    frozenset(Remedy("remove-binding", b) for b in bindings),
                )
                if e.dst[0] == "secrets":
                    reads.append((src, dst, reason))
                    continue
                self._rbac_node_vertex(e.dst)
                self._edge(src, dst, "rbac", reason, e.weight)
                reach(e.dst)
        # the identities the steps gave that read Secrets themselves
        for vid, s in self._identities():
            if vid not in self._read_checked:
                for ns, dst in self.secret_groups:
                    self._readers([(vid, s)], ns, dst)
        for src, dst, reason in reads:
            if dst in self.vertices and (src, dst) not in self.edges:
                self._edge(src, dst, "rbac", reason)

    def rbac_steps_of(
        self, eg: EscalationGraph, node: RbacNode, groups_seen: dict[RbacNode, Any]
    ) -> tuple[list[RbacNode], list[Any]]:
        """The steps of ``node`` in ``eg`` that the graph draws: the implicit groups of an identity whose
        own steps it shares (each a node of ``eg``), and the steps left to the node itself (the engine's
        edges, those into cluster-admin left out). ``groups_seen`` keeps each group's steps for the
        caller's ``eg``. A cut re-asks this of the input without a binding."""
        edges = [e for e in eg.edges(node) if self.rbac_vertex(e.dst) is not None]
        groups: list[RbacNode] = []
        if node[0] == SHARED:  # the engine's node of steps shared by groups: those no single group allows
            return [], self._combined_steps(eg, node, groups_seen)
        if node[0] == "S" and node[1].kind != "Group":
            # the engine's node of the shared groups' steps, drawn only for the steps that need two of them
            edges = [e for e in edges if e.dst[0] != SHARED or self._combined_steps(eg, e.dst, groups_seen)]
            shared: set[tuple[Any, str, str]] = set()
            for name in node[1].groups():
                group: RbacNode = ("S", Subject("Group", name))
                steps = self._group_steps(eg, group, groups_seen)
                if steps:
                    shared |= steps
                    groups.append(group)
            if shared:
                edges = [e for e in edges if (e.dst, e.action, e.via) not in shared]
        return groups, edges

    def _group_steps(self, eg: EscalationGraph, group: RbacNode, groups_seen: dict[RbacNode, Any]) -> frozenset[Any]:
        """(destination, action, via) of the steps a group's own bindings allow (kept in ``groups_seen``)."""
        steps = groups_seen.get(group)
        if steps is None:
            steps = groups_seen[group] = frozenset(
                (e.dst, e.action, e.via) for e in eg.edges(group) if self.rbac_vertex(e.dst) is not None
            )
        return steps

    def _combined_steps(self, eg: EscalationGraph, node: RbacNode, groups_seen: dict[RbacNode, Any]) -> list[Any]:
        """The steps of the engine's shared-groups node that none of its groups allows alone (each group's
        own steps go from the group's vertex), in the engine's order; kept in ``groups_seen`` (every member
        asks)."""
        key = ("combined", node)
        hit = groups_seen.get(key)
        if hit is None:
            alone: set[Any] = set()
            for name in node[1]:
                alone |= self._group_steps(eg, ("S", Subject("Group", name)), groups_seen)
            hit = groups_seen[key] = tuple(
                e
                for e in eg.edges(node)
                if self.rbac_vertex(e.dst) is not None and (e.dst, e.action, e.via) not in alone
            )
        return list(hit)

    def _rbac_node_vertex(self, node: RbacNode) -> str:
        vid = self.rbac_vertex(node)
        assert vid is not None
        self.rbac_nodes.setdefault(vid, node)
        if node[0] == "S":
            return self._identity(node[1])
        kind = GRANT if node[0] == "grant" else RBAC_LINK
        return self._vertex(vid, kind, self._rbac_label(node))

    def _secrets(self) -> None:
        sas = self._identities()
        self._read_checked = {vid for vid, _ in sas}
        self.secret_groups: list[tuple[str | None, str]] = []  # (namespace or None: every one, its vertex)
        by_ns: dict[str, list[K8sObject]] = defaultdict(list)
        for o in self.inventory.of_kind("Secret"):
            if o.namespace is not None:
                by_ns[o.namespace].append(o)
        for ns, objs in sorted(by_ns.items()):
            group = self._vertex(f"secrets:{ns}", SECRETS, f"the Secrets of namespace {ns}")
            for o in sorted(objs, key=lambda x: x.name):
                sid = self._vertex(secret_id(ns, o.name), SECRET, f"Secret {ns}/{o.name}")
                self._edge(group, sid, "contains", Reason(f"Secret {o.name} is in namespace {ns}"), 0)
                if o.raw.get("type") == "kubernetes.io/service-account-token":
                    sa = o.annotations.get("kubernetes.io/service-account.name")
                    if isinstance(sa, str) and sa:
                        said = self._sa(ns, sa)
                        self._edge(
                            sid,
                            said,
                            "token-secret",
                            Reason(
                                f"Secret {o.name} holds a token of ServiceAccount {ns}/{sa}",
                                (str(o.ref),),
                                ("KF-RBAC-036",),
                                frozenset({Remedy("remove-secret", str(o.ref))}),
                            ),
                        )
            self.secret_groups.append((ns, group))
            self._readers(sas, ns, group)
            self._edge(ALL_SECRETS, group, "contains", Reason("every Secret"), 0)
        self.secret_groups.append((None, ALL_SECRETS))
        self._readers(sas, None, ALL_SECRETS)

    def secret_grants(self, verb: str, ns: str | None, index: RbacIndex | None = None) -> list[Grant]:
        """``who_can`` ``verb`` secrets in ``ns`` (None: in every namespace), asked once per graph (or of
        ``index``: the input without a binding, when a cut is checked)."""
        if index is not None:
            return index.who_can(verb, "secrets", ns)
        key = (verb, ns)
        hit = self._grants.get(key)
        if hit is None:
            hit = self._grants[key] = self.rbac.who_can(verb, "secrets", ns)
        return hit

    def _readers(self, sas: list[tuple[str, Subject]], ns: str | None, dst: str) -> None:
        """Edges to ``dst`` from the identities that may read every Secret of ``ns`` (None: cluster-wide).

        A grant to a group (``system:authenticated``, ``system:serviceaccounts``) goes from the group's
        vertex, which its members among ``sas`` reach at no cost: drawn from every member, a group that may
        read the Secrets of each namespace made an edge per namespace and identity, and matching every
        grant against every identity per namespace was the cost of the whole graph on a large cluster."""
        members = self._members_of(sas)
        where = f"in namespace {ns}" if ns else "in every namespace"
        for verb in ("list", "get"):
            mine: dict[str, tuple[Subject, list[Grant]]] = {}
            for g in self.secret_grants(verb, ns):
                sub = g.subject
                if sub.kind == "Group":
                    group = members.get("g:" + sub.name)
                    if not group:
                        continue
                    gvid = self._identity(sub)
                    self._read_checked.add(gvid)
                    for vid, member in group:
                        if vid != gvid:
                            self._edge(vid, gvid, "rbac", Reason(f"{member} is in group {sub.name}"), 0)
                    mine.setdefault(gvid, (sub, []))[1].append(g)
                    continue
                for vid, s in members.get(f"u:{sub.username}", ()):
                    if s.matched_by(sub):
                        mine.setdefault(vid, (s, []))[1].append(g)
            for vid, (s, grants) in mine.items():
                self.secret_reads[(vid, dst)] = (s, ns)
                vias = sorted({str(g.binding) for g in grants})
                self._edge(
                    vid,
                    dst,
                    "read-secrets",
                    Reason(
                        f"{s} may {verb} Secrets {where} ({', '.join(g.via for g in grants)})",
                        tuple(vias),
                        ("KF-RBAC-007",),
                        frozenset(Remedy("remove-binding", b) for b in vias),
                    ),
                )

    def _members_of(self, sas: list[tuple[str, Subject]]) -> dict[str, list[tuple[str, Subject]]]:
        """``sas`` by what a grant's subject can name: ``g:GROUP`` for each group a request by them carries
        (as :meth:`Subject.matched_by` reads it), ``u:USERNAME``; kept for the list the graph asks about
        namespace after namespace."""
        if self._members_key is not sas:
            out: dict[str, list[tuple[str, Subject]]] = defaultdict(list)
            for vid, s in sas:
                for g in s.groups():
                    out["g:" + g].append((vid, s))
                if s.username is not None:
                    out["u:" + s.username].append((vid, s))
            self._members_key, self._members = sas, out
        return self._members


#: every internet address (IPv4), as a NetworkPolicy engine endpoint
_EVERYWHERE = External(AddrSet.cidr("0.0.0.0/0"), "0.0.0.0/0")


def _ports(raw: Mapping[str, Any]) -> list[Any]:
    p = raw.get("ports")
    return p if isinstance(p, list) else []


def _mounts(raw: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    m = raw.get("volumeMounts")
    return [x for x in m if isinstance(x, dict)] if isinstance(m, list) else []


def _ingress_services(spec: Any) -> Iterator[str]:
    if not isinstance(spec, dict):
        return
    backends = [spec.get("defaultBackend"), spec.get("backend")]
    for r in spec.get("rules") or []:
        http = r.get("http") if isinstance(r, dict) else None
        for p in (http.get("paths") if isinstance(http, dict) else None) or []:
            if isinstance(p, dict):
                backends.append(p.get("backend"))
    for b in backends:
        if not isinstance(b, dict):
            continue
        svc = b.get("service")
        if isinstance(svc, dict) and isinstance(svc.get("name"), str):
            yield svc["name"]
        elif isinstance(b.get("serviceName"), str):
            yield b["serviceName"]


def _route_services(spec: Any) -> Iterator[str]:
    if not isinstance(spec, dict):
        return
    for r in spec.get("rules") or []:
        for b in (r.get("backendRefs") if isinstance(r, dict) else None) or []:
            if isinstance(b, dict) and b.get("kind", "Service") == "Service" and isinstance(b.get("name"), str):
                yield b["name"]


def graph_for(inventory: Inventory) -> AttackGraph:
    """The attack graph of an inventory, built once and kept by it (rules of one scan share it)."""
    return inventory.cached(AttackGraph, lambda: AttackGraph(inventory))
