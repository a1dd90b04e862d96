"""NetworkPolicies, workloads and namespaces as the reachability engine sees them.

Parsing follows the API server: the defaults it applies (``policyTypes``, ``protocol: TCP``, a
missing ``spec.podSelector`` is the empty selector) and the validation it enforces. A policy the API
server would reject is left out of the analysis and reported in :attr:`Parsed.problems`, because it
cannot exist on a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model.kinds import WORKLOAD_KINDS
from ...model.objects import K8sObject
from ...model.workloads import ContainerSet, pod_spec
from .sets import ALL_ADDRS, ALL_PORTS, MAX_PORT, MIN_PORT, NO_PORTS, PROTOCOLS, AddrSet, PortSet

NS_NAME_LABEL = "kubernetes.io/metadata.name"
#: Pod-bearing kinds that run pods (a PodTemplate is only a template).
ENDPOINT_KINDS = frozenset(WORKLOAD_KINDS - {"PodTemplate"})
_PORT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")

#: (name, protocol, number) of every named container port of a pod.
NamedPorts = frozenset[tuple[str, str, int]]


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One ``ports`` item of a rule: protocol, a number or a name (None: every port), endPort."""

    protocol: str
    port: int | str | None
    end_port: int | None = None

    @property
    def named(self) -> bool:
        return isinstance(self.port, str)

    def resolve(self, named_ports: NamedPorts | None) -> PortSet:
        """The ports this item allows on a destination pod with ``named_ports`` (None: the destination
        is outside the cluster, where a named port means nothing)."""
        if self.port is None:
            return PortSet.of(self.protocol)
        if isinstance(self.port, int):
            return PortSet.of(self.protocol, self.port, self.end_port or self.port)
        out = NO_PORTS
        for name, proto, number in named_ports or ():
            if name == self.port and proto == self.protocol:
                out = out | PortSet.of(proto, number, number)
        return out


@dataclass(frozen=True, slots=True)
class Peer:
    """A ``from``/``to`` item. Selectors are None when absent; ``ip`` is the ipBlock minus its excepts."""

    pod_selector: Mapping[str, Any] | None
    ns_selector: Mapping[str, Any] | None
    ip: AddrSet | None
    cidr: str | None = None
    excepts: tuple[str, ...] = ()

    @property
    def ip_text(self) -> str:
        return f"ipBlock {self.cidr}" + (f" except {', '.join(self.excepts)}" if self.excepts else "")


@dataclass(slots=True, eq=False)
class NetpolRule:
    """One ingress or egress rule. ``peers``/``ports`` None: the list is empty or missing (all)."""

    policy: Policy
    direction: str  # "ingress" | "egress"
    index: int
    peers: tuple[Peer, ...] | None
    ports: tuple[PortSpec, ...] | None
    uid: int = 0
    _external: AddrSet | None = None

    @property
    def label(self) -> str:
        return f"{self.policy.key} {self.direction}[{self.index}]"

    @property
    def has_named_ports(self) -> bool:
        return self.ports is not None and any(p.named for p in self.ports)

    def port_set(self, named_ports: NamedPorts | None) -> PortSet:
        if self.ports is None:
            return ALL_PORTS
        out = NO_PORTS
        for p in self.ports:
            out = out | p.resolve(named_ports)
        return out

    @property
    def ip_text(self) -> str:
        return "; ".join(p.ip_text for p in self.peers or () if p.ip is not None)

    @property
    def external(self) -> AddrSet:
        """The addresses outside the cluster this rule admits (ipBlock peers, or all when no peers)."""
        ext = self._external
        if ext is None:
            if self.peers is None:
                ext = ALL_ADDRS
            else:
                ext = AddrSet.union_of([p.ip for p in self.peers if p.ip is not None])
            self._external = ext
        return ext


@dataclass(slots=True, eq=False)
class Policy:
    obj: K8sObject
    namespace: str
    name: str
    pod_selector: Mapping[str, Any]
    ingress: bool  # effective policyTypes include Ingress
    egress: bool
    ingress_rules: list[NetpolRule] = field(default_factory=list)
    egress_rules: list[NetpolRule] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def types(self) -> list[str]:
        return [t for t, on in (("Ingress", self.ingress), ("Egress", self.egress)) if on]


class PolicyError(ValueError):
    """A NetworkPolicy the API server would reject."""


def effective_policy_types(spec: Mapping[str, Any]) -> tuple[bool, bool]:
    """(Ingress, Egress) in the effective policyTypes: the field when non-empty; otherwise Ingress,
    plus Egress when ``egress`` has at least one rule (an empty ``egress: []`` adds nothing:
    ``SetDefaults_NetworkPolicy`` tests ``len(spec.Egress) != 0``)."""
    types = spec.get("policyTypes")
    if isinstance(types, list) and types:
        return "Ingress" in types, "Egress" in types
    egress = spec.get("egress")
    return True, isinstance(egress, list) and len(egress) > 0


def parse_policy(obj: K8sObject) -> Policy:
    """Parse a NetworkPolicy; raise :class:`PolicyError` where the API server's validation would."""
    spec = obj.get("spec")
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise PolicyError("spec is not a mapping")
    sel = spec.get("podSelector")
    if sel is None:
        sel = {}  # a non-pointer LabelSelector in the API: missing means empty, every pod
    _check_selector(sel, "spec.podSelector")
    types = spec.get("policyTypes")
    if types is not None and (
        not isinstance(types, list) or any(t not in ("Ingress", "Egress") for t in types) or len(types) > 2
    ):
        raise PolicyError("spec.policyTypes must list Ingress and/or Egress")
    ing, eg = effective_policy_types(spec)
    pol = Policy(obj=obj, namespace=obj.namespace or "default", name=obj.name, pod_selector=sel, ingress=ing, egress=eg)
    for direction, peer_key, out in (("ingress", "from", pol.ingress_rules), ("egress", "to", pol.egress_rules)):
        rules = spec.get(direction)
        if rules is None:
            continue
        if not isinstance(rules, list):
            raise PolicyError(f"spec.{direction} is not a list")
        for i, r in enumerate(rules):
            where = f"spec.{direction}[{i}]"
            if r is None:
                r = {}
            if not isinstance(r, dict):
                raise PolicyError(f"{where} is not a mapping")
            out.append(
                NetpolRule(
                    policy=pol,
                    direction=direction,
                    index=i,
                    peers=_parse_peers(r.get(peer_key), f"{where}.{peer_key}"),
                    ports=_parse_ports(r.get("ports"), f"{where}.ports"),
                )
            )
    return pol


def _check_selector(sel: Any, where: str) -> None:
    if not isinstance(sel, dict):
        raise PolicyError(f"{where} is not a label selector")
    ml = sel.get("matchLabels")
    if ml is not None and not isinstance(ml, dict):
        raise PolicyError(f"{where}.matchLabels is not a mapping")
    exprs = sel.get("matchExpressions")
    if exprs is None:
        return
    if not isinstance(exprs, list):
        raise PolicyError(f"{where}.matchExpressions is not a list")
    for j, e in enumerate(exprs):
        if not isinstance(e, dict) or not isinstance(e.get("key"), str):
            raise PolicyError(f"{where}.matchExpressions[{j}] needs a key")
        op, values = e.get("operator"), e.get("values")
        if op in ("In", "NotIn"):
            if not isinstance(values, list) or not values:
                raise PolicyError(f"{where}.matchExpressions[{j}]: {op} needs values")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                raise PolicyError(f"{where}.matchExpressions[{j}]: {op} takes no values")
        else:
            raise PolicyError(f"{where}.matchExpressions[{j}]: unknown operator {op!r}")


def _parse_peers(value: Any, where: str) -> tuple[Peer, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise PolicyError(f"{where} is not a list")
    if not value:
        return None  # "If this field is empty or missing, this rule matches all"
    peers = []
    for i, p in enumerate(value):
        w = f"{where}[{i}]"
        if not isinstance(p, dict):
            raise PolicyError(f"{w} is not a mapping")
        ps, ns, ipb = p.get("podSelector"), p.get("namespaceSelector"), p.get("ipBlock")
        if ps is not None:
            _check_selector(ps, f"{w}.podSelector")
        if ns is not None:
            _check_selector(ns, f"{w}.namespaceSelector")
        if ps is None and ns is None and ipb is None:
            raise PolicyError(f"{w} must specify a peer (podSelector, namespaceSelector or ipBlock)")
        if ipb is not None:
            if ps is not None or ns is not None:
                raise PolicyError(f"{w} may not combine ipBlock with a selector")
            peers.append(_parse_ipblock(ipb, f"{w}.ipBlock"))
        else:
            peers.append(Peer(pod_selector=ps, ns_selector=ns, ip=None))
    return tuple(peers)


def _parse_ipblock(ipb: Any, where: str) -> Peer:
    if not isinstance(ipb, dict) or not isinstance(ipb.get("cidr"), str):
        raise PolicyError(f"{where}.cidr is required")
    try:
        block = AddrSet.cidr(ipb["cidr"])
    except ValueError:
        raise PolicyError(f"{where}.cidr {ipb['cidr']!r} is not a CIDR") from None
    excepts = ipb.get("except") or []
    if not isinstance(excepts, list):
        raise PolicyError(f"{where}.except is not a list")
    allowed = block
    for j, e in enumerate(excepts):
        try:
            ex = AddrSet.cidr(str(e))
        except ValueError:
            raise PolicyError(f"{where}.except[{j}] {e!r} is not a CIDR") from None
        if not block.covers(ex) or ex == block:
            raise PolicyError(f"{where}.except[{j}] {e} must be a strict subset of {ipb['cidr']}")
        allowed = allowed - ex
    return Peer(
        pod_selector=None, ns_selector=None, ip=allowed, cidr=ipb["cidr"], excepts=tuple(str(e) for e in excepts)
    )


def _parse_ports(value: Any, where: str) -> tuple[PortSpec, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise PolicyError(f"{where} is not a list")
    if not value:
        return None
    out = []
    for i, p in enumerate(value):
        w = f"{where}[{i}]"
        if p is None:
            p = {}
        if not isinstance(p, dict):
            raise PolicyError(f"{w} is not a mapping")
        proto = p.get("protocol")
        proto = "TCP" if proto is None else proto
        if proto not in PROTOCOLS:
            raise PolicyError(f"{w}.protocol {proto!r} is not TCP, UDP or SCTP")
        port = p.get("port")
        end = p.get("endPort")
        if isinstance(port, bool):
            raise PolicyError(f"{w}.port is not a port")
        if isinstance(port, int):
            if not MIN_PORT <= port <= MAX_PORT:
                raise PolicyError(f"{w}.port {port} is out of range 1-65535")
        elif isinstance(port, str):
            # an IntOrString holding a string is a port name, which must contain a letter
            if not _PORT_NAME.match(port) or not re.search("[a-z]", port) or "--" in port:
                raise PolicyError(f"{w}.port {port!r} is not a valid port name")
        elif port is not None:
            raise PolicyError(f"{w}.port is not a port")
        if end is not None:
            if not isinstance(port, int):
                raise PolicyError(f"{w}.endPort needs a numeric port")
            if isinstance(end, bool) or not isinstance(end, int) or not port <= end <= MAX_PORT:
                raise PolicyError(f"{w}.endPort must be a port number >= port")
        out.append(PortSpec(protocol=proto, port=port, end_port=end))
    return tuple(out)


# ----------------------------------------------------------------------------------- workloads


@dataclass(slots=True, eq=False)
class Workload:
    """One pod-bearing object: every pod it creates behaves the same for NetworkPolicy."""

    obj: K8sObject
    namespace: str
    kind: str
    name: str
    labels: Mapping[str, str]
    named_ports: NamedPorts
    cls: int = -1
    order: int = -1  # position in the engine's sorted workload list
    ref: str = ""  # "namespace/Kind/name"

    def __post_init__(self) -> None:
        self.ref = f"{self.namespace}/{self.kind}/{self.name}"


def workload_of(obj: K8sObject) -> Workload | None:
    if obj.kind not in ENDPOINT_KINDS or obj.namespace is None:
        return None
    pod = pod_spec(obj)
    if pod is None:
        return None
    labels = {str(k): ("" if v is None else str(v)) for k, v in pod.labels.items()}
    ports: set[tuple[str, str, int]] = set()
    for c in pod.containers(ContainerSet.C):
        items = c.raw.get("ports")
        if not isinstance(items, list):
            continue
        for p in items:
            if not isinstance(p, dict):
                continue
            name, number, proto = p.get("name"), p.get("containerPort"), p.get("protocol") or "TCP"
            if isinstance(name, str) and name and isinstance(number, int) and not isinstance(number, bool):
                ports.add((name, str(proto), number))
    return Workload(
        obj=obj, namespace=obj.namespace, kind=obj.kind, name=obj.name, labels=labels, named_ports=frozenset(ports)
    )


def controlled_by(obj: K8sObject) -> tuple[str, str] | None:
    """(kind, name) of the controller in ``metadata.ownerReferences``, if any."""
    refs = obj.get("metadata", "ownerReferences")
    if not isinstance(refs, list):
        return None
    for r in refs:
        if isinstance(r, dict) and r.get("controller") is True and isinstance(r.get("kind"), str):
            return r["kind"], str(r.get("name"))
    return None
