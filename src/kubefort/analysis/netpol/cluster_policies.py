"""AdminNetworkPolicy and BaselineAdminNetworkPolicy (``policy.networking.k8s.io/v1alpha1``), parsed for
the reachability engine, which models their L3/L4 semantics exactly.

Semantics (the API's documentation, kubernetes-sigs/network-policy-api):

- Both are cluster-scoped. ``spec.subject`` selects pods: ``namespaces`` (every pod of the namespaces
  a label selector selects) or ``pods`` (``namespaceSelector`` AND ``podSelector``); exactly one.
- An AdminNetworkPolicy has a ``priority`` (0-1000, lower first). Its ingress (egress) rules apply to
  traffic into (out of) its subject's pods, in order; the first rule, over every AdminNetworkPolicy in
  priority order, whose peers and ports match a connection decides it: ``Allow`` (allowed, whatever
  NetworkPolicy says), ``Deny`` (denied), ``Pass`` (skip the remaining AdminNetworkPolicy rules and let
  NetworkPolicy decide). No matching rule also leaves the decision to NetworkPolicy.
- What NetworkPolicy does not decide (no NetworkPolicy isolates the pod in that direction) the
  BaselineAdminNetworkPolicy (a singleton named ``default``) decides, with ``Allow`` and ``Deny`` rules
  in order; traffic it does not match is allowed.
- Peers: ``namespaces`` (a namespace label selector), ``pods`` (namespaces AND pods), and, for egress,
  ``nodes`` (a node label selector), ``networks`` (CIDRs) and ``domainNames``. Host-network pods are in
  neither subjects nor peers. ``ports`` (missing: every port): ``portNumber`` (protocol, port),
  ``portRange`` (protocol, start, end) and ``namedPort`` (a container port name of the destination).
- A peer with no field kubefort knows is treated as the API says a newer field must be: an ``Allow``
  rule matches nothing with it, a ``Deny`` or ``Pass`` rule everything ("fail closed").

Not modelled (said in the answers): ``nodes`` peers (node addresses are not in manifests; such a
peer matches no CIDR endpoint) and ``domainNames`` peers (a DNS name's addresses are not known).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from ...model.objects import K8sObject
from .model import NamedPorts, PolicyError, _check_selector
from .sets import ALL_PORTS, MAX_PORT, MIN_PORT, NO_ADDRS, NO_PORTS, PROTOCOLS, AddrSet, PortSet

GROUP = "policy.networking.k8s.io"
ANP = "AdminNetworkPolicy"
BANP = "BaselineAdminNetworkPolicy"
ACTIONS = {ANP: ("Allow", "Deny", "Pass"), BANP: ("Allow", "Deny")}
_PEER_FIELDS = ("namespaces", "pods", "nodes", "networks", "domainNames")


@dataclass(frozen=True, slots=True)
class AdminPort:
    """One ``ports`` item: a protocol and range, or a named port (resolved on the destination pod)."""

    protocol: str
    start: int = MIN_PORT
    end: int = MAX_PORT
    name: str | None = None

    def resolve(self, named_ports: NamedPorts | None) -> PortSet:
        if self.name is None:
            return PortSet.of(self.protocol, self.start, self.end)
        out = NO_PORTS
        for name, proto, number in named_ports or ():
            if name == self.name:
                out = out | PortSet.of(proto, number, number)
        return out


@dataclass(frozen=True, slots=True)
class AdminPeer:
    """One peer. ``kind``: namespaces, pods, nodes, networks, domainNames, or unknown (fail closed)."""

    kind: str
    namespaces: Mapping[str, Any] | None = None  # label selector
    pods: Mapping[str, Any] | None = None  # label selector
    networks: AddrSet = NO_ADDRS


@dataclass(frozen=True, slots=True, eq=False)
class AdminRule:
    policy: AdminPolicy
    direction: str  # "ingress" | "egress"
    index: int
    name: str
    action: str  # Allow | Deny | Pass
    peers: tuple[AdminPeer, ...]
    ports: tuple[AdminPort, ...] | None  # None: every port

    @property
    def label(self) -> str:
        named = f' "{self.name}"' if self.name else ""
        return f"{self.policy.kind}/{self.policy.name} {self.direction}[{self.index}]{named} ({self.action})"

    def port_set(self, named_ports: NamedPorts | None) -> PortSet:
        if self.ports is None:
            return ALL_PORTS
        out = NO_PORTS
        for p in self.ports:
            out = out | p.resolve(named_ports)
        return out

    @property
    def fail_closed(self) -> bool:
        """A peer of an unknown kind: matches everything for Deny/Pass (never for Allow)."""
        return self.action != "Allow" and any(p.kind == "unknown" for p in self.peers)

    @property
    def networks(self) -> AddrSet:
        """The addresses outside the cluster its peers match (``networks`` peers)."""
        if self.fail_closed:
            return AddrSet.cidr("0.0.0.0/0") | AddrSet.cidr("::/0")
        return AddrSet.union_of([p.networks for p in self.peers if p.kind == "networks"])

    @property
    def unmodelled(self) -> list[str]:
        return sorted({p.kind for p in self.peers if p.kind in ("nodes", "domainNames")})


@dataclass(slots=True, eq=False)
class AdminPolicy:
    obj: K8sObject
    kind: str  # ANP or BANP
    name: str
    priority: int  # BANP: 1001, after every AdminNetworkPolicy
    subject_namespaces: Mapping[str, Any] | None  # subject.namespaces
    subject_pods: tuple[Mapping[str, Any], Mapping[str, Any]] | None  # subject.pods (namespaces, pods)
    ingress: list[AdminRule]
    egress: list[AdminRule]

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def baseline(self) -> bool:
        return self.kind == BANP


def is_admin_policy(obj: K8sObject) -> bool:
    return obj.group == GROUP and obj.kind in ACTIONS


def parse_admin_policy(obj: K8sObject) -> AdminPolicy:
    """Parse an AdminNetworkPolicy or BaselineAdminNetworkPolicy; :class:`PolicyError` where the API
    server's validation (its CRD schema) would reject it."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise PolicyError("spec is required")
    if obj.kind == ANP:
        prio = spec.get("priority")
        if isinstance(prio, bool) or not isinstance(prio, int) or not 0 <= prio <= 1000:
            raise PolicyError("spec.priority must be an integer from 0 to 1000")
    else:
        if obj.name != "default":
            raise PolicyError('a BaselineAdminNetworkPolicy must be named "default"')
        prio = 1001
    subject = spec.get("subject")
    if not isinstance(subject, dict) or len([k for k in ("namespaces", "pods") if k in subject]) != 1:
        raise PolicyError("spec.subject must set exactly one of namespaces, pods")
    sub_ns: Mapping[str, Any] | None = None
    sub_pods: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None
    if "namespaces" in subject:
        _check_selector(subject["namespaces"], "spec.subject.namespaces")
        sub_ns = subject["namespaces"]
    else:
        sub_pods = _namespaced_pod(subject["pods"], "spec.subject.pods")
    pol = AdminPolicy(obj, obj.kind, obj.name, prio, sub_ns, sub_pods, [], [])
    for direction, peer_key, out in (("ingress", "from", pol.ingress), ("egress", "to", pol.egress)):
        rules = spec.get(direction)
        if rules is None:
            continue
        if not isinstance(rules, list) or len(rules) > 100:
            raise PolicyError(f"spec.{direction} must be a list of at most 100 rules")
        for i, r in enumerate(rules):
            out.append(_rule(pol, direction, peer_key, i, r))
    return pol


def _namespaced_pod(value: Any, where: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where} must set namespaceSelector and podSelector")
    ns, pods = value.get("namespaceSelector"), value.get("podSelector")
    _check_selector(ns, f"{where}.namespaceSelector")
    _check_selector(pods, f"{where}.podSelector")
    assert isinstance(ns, dict) and isinstance(pods, dict)  # _check_selector raised otherwise
    return ns, pods


def _rule(pol: AdminPolicy, direction: str, peer_key: str, i: int, r: Any) -> AdminRule:
    where = f"spec.{direction}[{i}]"
    if not isinstance(r, dict):
        raise PolicyError(f"{where} is not a mapping")
    action = r.get("action")
    if action not in ACTIONS[pol.kind]:
        raise PolicyError(f"{where}.action must be one of {', '.join(ACTIONS[pol.kind])}")
    peers_raw = r.get(peer_key)
    if not isinstance(peers_raw, list) or not peers_raw:
        raise PolicyError(f"{where}.{peer_key} must list at least one peer")
    peers = tuple(_peer(p, f"{where}.{peer_key}[{j}]", direction) for j, p in enumerate(peers_raw))
    ports_raw = r.get("ports")
    ports: tuple[AdminPort, ...] | None = None
    if ports_raw is not None:
        if not isinstance(ports_raw, list):
            raise PolicyError(f"{where}.ports is not a list")
        ports = tuple(_port(p, f"{where}.ports[{j}]") for j, p in enumerate(ports_raw))
    name = r.get("name")
    return AdminRule(pol, direction, i, name if isinstance(name, str) else "", action, peers, ports)


def _peer(p: Any, where: str, direction: str) -> AdminPeer:
    if not isinstance(p, dict):
        raise PolicyError(f"{where} is not a mapping")
    known = [k for k in _PEER_FIELDS if k in p]
    if len(known) > 1:
        raise PolicyError(f"{where} must set exactly one peer field")
    if not known:
        return AdminPeer("unknown")  # a field of a newer API version: fail closed
    kind = known[0]
    if direction == "ingress" and kind not in ("namespaces", "pods"):
        raise PolicyError(f"{where}: an ingress peer is namespaces or pods")
    if kind == "namespaces":
        _check_selector(p["namespaces"], f"{where}.namespaces")
        return AdminPeer(kind, namespaces=p["namespaces"])
    if kind == "pods":
        ns, pods = _namespaced_pod(p["pods"], f"{where}.pods")
        return AdminPeer(kind, namespaces=ns, pods=pods)
    if kind == "networks":
        nets = p["networks"]
        if not isinstance(nets, list) or not nets:
            raise PolicyError(f"{where}.networks must list CIDRs")
        addrs = NO_ADDRS
        for c in nets:
            try:
                addrs = addrs | AddrSet.cidr(str(c))
            except ValueError:
                raise PolicyError(f"{where}.networks: {c!r} is not a CIDR") from None
        return AdminPeer(kind, networks=addrs)
    return AdminPeer(kind)  # nodes, domainNames: not modelled


def _port_number(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool) and MIN_PORT <= x <= MAX_PORT


def _port(p: Any, where: str) -> AdminPort:
    if not isinstance(p, dict) or len(p) != 1:
        raise PolicyError(f"{where} must set exactly one of portNumber, portRange, namedPort")
    ((kind, value),) = p.items()
    if kind == "namedPort":
        if not isinstance(value, str) or not value:
            raise PolicyError(f"{where}.namedPort must be a port name")
        return AdminPort("TCP", name=value)
    if not isinstance(value, dict):
        raise PolicyError(f"{where}.{kind} is not a mapping")
    proto = value.get("protocol") or "TCP"
    if proto not in PROTOCOLS:
        raise PolicyError(f"{where}.{kind}.protocol must be TCP, UDP or SCTP")
    if kind == "portNumber":
        port = value.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not MIN_PORT <= port <= MAX_PORT:
            raise PolicyError(f"{where}.portNumber.port must be 1-65535")
        return AdminPort(proto, port, port)
    if kind == "portRange":
        start, end = value.get("start"), value.get("end")
        if not (_port_number(start) and _port_number(end) and start < end):
            raise PolicyError(f"{where}.portRange needs start < end, both 1-65535")
        return AdminPort(proto, start, end)
    raise PolicyError(f"{where}: unknown port field {kind!r}")
