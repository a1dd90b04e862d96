"""NetworkPolicies from intended flows, and the proof that they allow exactly those flows.

``kubefort netpol generate FLOWS`` reads lines such as ``frontend -> backend:8080/TCP`` and the
workloads' manifests, and writes a default-deny policy (Ingress and Egress) for every namespace the
flows name plus one allow policy per workload (or per namespace, for ``*``). Why the pieces look
the way they do:

- **Selectors** are the fewest *stable* pod-template labels that single the workload out among the
  workloads of its namespace (``app.kubernetes.io/name`` or ``app`` first; never
  ``pod-template-hash``, versions or chart labels, which change on every rollout). Two workloads
  whose pods share all labels cannot be told apart by any selector: the proof says so.
- **Named ports** are used where the destination's container names the port, so a policy survives a
  port renumbering as Kubernetes intends; a port a Service maps (``frontend -> emailservice:5000``
  when the Service sends 5000 to the container's 8080) is translated, because policies see the pod's
  port after the Service's DNAT.
- **Well-known endpoints** not in the manifests (``kube-dns``, ``ingress-nginx``) are selected by the
  labels their standard installations give their pods, in their usual namespaces; kubefort writes no
  policy *into* the system namespaces (a default deny there breaks the cluster).
- **The proof** loads the manifests, the well-known endpoints and the generated policies into the
  same :class:`~kubefort.analysis.netpol.engine.NetpolEngine` that ``kubefort netpol`` and the NET
  rules use, and compares the allowed ports of every ordered pair (workloads of the covered
  namespaces, the workloads the flows name, the CIDRs they name, ``0.0.0.0/0`` and ``::/0``) with the
  flows: nothing more, nothing less. It is the engine's answer, not the generator's belief.

``--from-flows`` turns observed traffic (Hubble's ``hubble observe -o json`` lines) into the same
flows: what was seen is what is proposed, with the same proof.
"""

from __future__ import annotations

import difflib
import ipaddress
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...model.inventory import Inventory
from ...model.objects import K8sObject, Source
from ...model.selectors import label_selector_matches
from ...model.workloads import ContainerSet, pod_spec
from .engine import External, NetpolEngine, ports_covering
from .model import NS_NAME_LABEL, PortSpec, Workload
from .sets import ALL_PORTS, MAX_PORT, MIN_PORT, NO_PORTS, PROTOCOLS, AddrSet, PortSet

#: namespaces kubefort never writes a policy into (a default deny there cuts the cluster's own traffic)
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

#: labels that change on a rollout, an upgrade or per pod: never part of a generated selector
UNSTABLE_LABELS = frozenset(
    {
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
        "statefulset.kubernetes.io/pod-name",
        "apps.kubernetes.io/pod-index",
        "batch.kubernetes.io/controller-uid",
        "batch.kubernetes.io/job-name",
        "controller-uid",
        "job-name",
        "helm.sh/chart",
        "chart",
        "app.kubernetes.io/version",
        "version",
        "heritage",
    }
)

#: label keys tried first, in this order, when choosing a selector
PREFERRED_LABELS = (
    "app.kubernetes.io/name",
    "app",
    "k8s-app",
    "name",
    "app.kubernetes.io/component",
    "component",
    "app.kubernetes.io/instance",
    "tier",
    "role",
)

MAX_SELECTOR_LABELS = 4


@dataclass(frozen=True, slots=True)
class WellKnown:
    """An endpoint most clusters run outside the application's manifests, selected by the labels its
    standard installation gives its pods."""

    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, number)


WELL_KNOWN = {
    # kube-dns and CoreDNS (kubeadm, GKE, EKS, AKS) both label their pods k8s-app=kube-dns
    "kube-dns": WellKnown(
        "kube-system", "kube-dns", (("k8s-app", "kube-dns"),), (("dns", "UDP", 53), ("dns-tcp", "TCP", 53))
    ),
    # the ingress-nginx controller as its Helm chart and static manifests install it
    "ingress-nginx": WellKnown(
        "ingress-nginx",
        "ingress-nginx-controller",
        (("app.kubernetes.io/name", "ingress-nginx"), ("app.kubernetes.io/component", "controller")),
        (("http", "TCP", 80), ("https", "TCP", 443)),
    ),
}


#: the source file of the objects that stand for well-known endpoints in the engine
WELL_KNOWN_FILE = "<well-known endpoint>"


class FlowError(ValueError):
    """A flow that cannot be read or resolved; the message names the line."""


# ----------------------------------------------------------------------------------- flows


@dataclass(frozen=True, slots=True)
class Flow:
    """One line of a flows file: ``SRC -> DST[:PORTS]`` (PORTS: ``8080``, ``8080/TCP``, ``53/UDP``,
    ``http``, ``8000-8100/TCP``, comma-separated; none: every port)."""

    source: str
    destination: str
    ports: tuple[PortSpec, ...] | None  # None: every port and protocol
    line: int = 0
    origin: str = ""  # the file (or "hubble") it came from

    @property
    def where(self) -> str:
        return f"{self.origin}:{self.line}" if self.origin else f"line {self.line}"

    def text(self) -> str:
        dst = f"[{self.destination}]" if self.destination.count(":") > 1 else self.destination
        if self.ports is None:
            return f"{self.source} -> {dst}"
        return f"{self.source} -> {dst}:{','.join(_port_text(p) for p in self.ports)}"


def _port_text(p: PortSpec) -> str:
    port = "*" if p.port is None else str(p.port)
    if p.end_port is not None:
        port += f"-{p.end_port}"
    return f"{port}/{p.protocol}"


_PORT_RE = re.compile(r"^(?:(?P<lo>\d+)(?:-(?P<hi>\d+))?|(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?))$")


def parse_ports(text: str) -> tuple[PortSpec, ...]:
    """``8080``, ``8080/TCP``, ``TCP/8080``, ``53/UDP``, ``http``, ``8000-8100/TCP``, comma-separated."""
    out = []
    for item in text.split(","):
        t = item.strip()
        port, _, proto = t.partition("/")
        if proto.upper() in PROTOCOLS and port.upper() not in PROTOCOLS:
            pass
        elif port.upper() in PROTOCOLS:
            port, proto = proto, port
        proto = (proto or "TCP").upper()
        if proto not in PROTOCOLS:
            raise FlowError(f"unknown protocol {proto!r} in {t!r}: use TCP, UDP or SCTP")
        m = _PORT_RE.match(port)
        if m is None:
            raise FlowError(f"bad port {port!r}: a number, a range 8000-8100 or a port name")
        if m.group("name"):
            if len(port) > 15 or not re.search("[a-z]", port):
                raise FlowError(f"bad port name {port!r}: at most 15 characters, at least one letter")
            out.append(PortSpec(proto, port))
            continue
        lo = int(m.group("lo"))
        hi = int(m.group("hi")) if m.group("hi") else None
        if not MIN_PORT <= lo <= MAX_PORT or (hi is not None and not lo <= hi <= MAX_PORT):
            raise FlowError(f"port {port} is out of range 1-65535")
        out.append(PortSpec(proto, lo, hi if hi != lo else None))
    return tuple(out)


def _split_destination(text: str) -> tuple[str, str | None]:
    """``db:5432`` -> (db, 5432); ``[2001:db8::/32]:443`` -> (2001:db8::/32, 443)."""
    t = text.strip()
    if t.startswith("["):
        end = t.find("]")
        if end < 0:
            raise FlowError(f"unclosed '[' in {t!r}")
        rest = t[end + 1 :]
        if rest and not rest.startswith(":"):
            raise FlowError(f"expected ':PORT' after ']' in {t!r}")
        return t[1:end], (rest[1:] or None) if rest else None
    if t.count(":") > 1:
        raise FlowError(f"write an IPv6 address in brackets: [{t}] or [CIDR]:PORT")
    name, sep, ports = t.partition(":")
    return name, (ports if sep else None)


def parse_flows(text: str, origin: str = "") -> list[Flow]:
    """The flows of a flows file (``#`` starts a comment; blank lines are ignored). Raises FlowError."""
    flows = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{origin}:{n}" if origin else f"line {n}"
        src, sep, dst = line.partition("->")
        if not sep or not src.strip() or not dst.strip():
            raise FlowError(f"{where}: expected 'SOURCE -> DESTINATION[:PORT[/PROTOCOL]]', got {line!r}")
        try:
            name, ports = _split_destination(dst)
            specs = None if ports is None or ports.strip() in ("", "*") else parse_ports(ports)
        except FlowError as e:
            raise FlowError(f"{where}: {e}") from None
        source = src.strip()
        if source.startswith("[") and source.endswith("]"):
            source = source[1:-1]
        flows.append(Flow(source, name.strip(), specs, n, origin))
    return flows


# ----------------------------------------------------------------------------------- endpoints


@dataclass(frozen=True, slots=True)
class Pods:
    """Every pod of a namespace (``*`` or ``NS/*`` in a flow)."""

    namespace: str

    @property
    def ref(self) -> str:
        return f"{self.namespace}/*"


End = Workload | Pods | External


@dataclass(frozen=True, slots=True)
class Resolved:
    """A flow with its ends found: workloads, whole namespaces or CIDRs."""

    flow: Flow
    source: End
    destination: End


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _well_known_object(wk: WellKnown) -> K8sObject:
    raw = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": wk.name, "namespace": wk.namespace},
        "spec": {
            "selector": {"matchLabels": dict(wk.labels)},
            "template": {
                "metadata": {"labels": dict(wk.labels)},
                "spec": {
                    "containers": [
                        {
                            "name": wk.name,
                            "ports": [{"name": n, "protocol": p, "containerPort": c} for n, p, c in wk.ports],
                        }
                    ]
                },
            },
        },
    }
    return K8sObject.from_raw(raw, Source(file=WELL_KNOWN_FILE))


class _Resolver:
    """Finds the workloads flows name in an engine over the manifests (adding well-known endpoints the
    manifests lack)."""

    def __init__(self, objects: Sequence[K8sObject]) -> None:
        self.objects = list(objects)
        self.extra: list[K8sObject] = []  # well-known endpoints added
        self.eng = NetpolEngine(Inventory(self.objects))

    def _rebuild(self) -> None:
        self.eng = NetpolEngine(Inventory([*self.objects, *self.extra]))

    def workload(self, text: str, where: str) -> Workload:
        parts = text.split("/")
        eng = self.eng
        if len(parts) == 3:
            try:
                return eng.workload(text)
            except LookupError as e:
                raise FlowError(f"{where}: {e.args[0]}") from None
        if len(parts) == 2:
            ns, name = parts
            found = [w for w in eng.workloads if w.namespace == ns and w.name == name]
        elif len(parts) == 1:
            ns, name = "", parts[0]
            found = [w for w in eng.workloads if w.name == name]
        else:
            raise FlowError(f"{where}: {text!r} is neither NAME, NAMESPACE/NAME, NAMESPACE/KIND/NAME nor a CIDR")
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            refs = ", ".join(w.ref for w in found)
            raise FlowError(f"{where}: {text!r} names several workloads ({refs}): write NAMESPACE/KIND/NAME")
        wk = WELL_KNOWN.get(name)
        if wk is not None and ns in ("", wk.namespace):
            return self._well_known(wk)
        close = difflib.get_close_matches(name, sorted({w.name for w in eng.workloads}), n=5)
        near = [w.ref for w in eng.workloads if w.name in close or name in w.name][:5]
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise FlowError(f"{where}: no workload {text!r} in the manifests{hint}")

    def _well_known(self, wk: WellKnown) -> Workload:
        sel = {"matchLabels": dict(wk.labels)}
        for w in self.eng.workloads:  # the cluster's own copy in the input (CoreDNS named coredns...)
            if w.namespace == wk.namespace and label_selector_matches(sel, w.labels):
                return w
        self.extra.append(_well_known_object(wk))
        self._rebuild()
        return self.eng.workload(f"{wk.namespace}/Deployment/{wk.name}")

    def end(self, text: str, where: str) -> Workload | Pods | External | str:
        """A workload, a CIDR, ``NS/*`` as Pods, or ``*`` (left as the string until the covered
        namespaces are known)."""
        t = text.strip()
        if t == "*":
            return t
        if t.endswith("/*") and t.count("/") == 1:
            return Pods(t[:-2])
        if _is_cidr(t):
            return External(AddrSet.cidr(t), str(ipaddress.ip_network(t, strict=False)))
        return self.workload(t, where)


def _refresh(eng: NetpolEngine, end: End) -> End:
    if isinstance(end, Workload):
        return eng.workload(end.ref)
    return end


def resolve(objects: Sequence[K8sObject], flows: Sequence[Flow]) -> tuple[NetpolEngine, list[Resolved], list[str]]:
    """The engine over the manifests plus any well-known endpoints the flows need, the flows with
    their ends found, and the namespaces the policies cover (sorted). Raises FlowError."""
    r = _Resolver(objects)
    ends = []
    for f in flows:
        a = r.end(f.source, f.where)
        b = r.end(f.destination, f.where)
        if isinstance(a, External) and isinstance(b, External):
            raise FlowError(f"{f.where}: both ends are CIDRs; NetworkPolicy governs pods")
        ends.append((f, a, b))
    eng = r.eng  # after every well-known endpoint was added
    covered = set()
    for _, a, b in ends:
        for e in (a, b):
            if isinstance(e, Workload):
                w = eng.workload(e.ref)
                if w.obj.source.file != WELL_KNOWN_FILE and w.namespace not in SYSTEM_NAMESPACES:
                    covered.add(w.namespace)
            elif isinstance(e, Pods):
                if e.namespace in SYSTEM_NAMESPACES:
                    raise FlowError(f"kubefort writes no policy into {e.namespace}: name its workloads instead")
                covered.add(e.namespace)
    namespaces = sorted(covered)
    for f, a, b in ends:
        if "*" in (a, b) and not namespaces:
            raise FlowError(f"{f.where}: '*' means every workload of the covered namespaces, and no flow names one")
    out = []
    for f, a, b in ends:
        for sa in [Pods(ns) for ns in namespaces] if a == "*" else [a]:
            for sb in [Pods(ns) for ns in namespaces] if b == "*" else [b]:
                assert not isinstance(sa, str) and not isinstance(sb, str)
                out.append(Resolved(f, _refresh(eng, sa), _refresh(eng, sb)))
    return eng, out, namespaces


# ----------------------------------------------------------------------------------- selectors


@dataclass(frozen=True, slots=True)
class Selection:
    """The podSelector chosen for a workload, and the other workloads of its namespace it also selects
    (their pods carry every label of the workload's pods)."""

    workload: str
    match_labels: tuple[tuple[str, str], ...]
    also: tuple[str, ...] = ()

    def text(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.match_labels) or "{}"


def _key_rank(k: str) -> tuple[int, str]:
    return (PREFERRED_LABELS.index(k) if k in PREFERRED_LABELS else len(PREFERRED_LABELS), k)


def choose_selector(w: Workload, neighbours: Iterable[Workload]) -> Selection:
    """The fewest stable labels of ``w``'s pods that select no other workload of its namespace that
    some label tells apart (preferred keys first); workloads no label tells apart are reported."""
    others = [o for o in neighbours if o is not w and o.namespace == w.namespace]
    same = [o for o in others if all(o.labels.get(k) == v for k, v in w.labels.items())]
    rivals = [o for o in others if o not in same]
    stable = {k: v for k, v in w.labels.items() if k not in UNSTABLE_LABELS} or dict(w.labels)
    keys = sorted(stable, key=_key_rank)

    def selects(labels: Mapping[str, str], o: Workload) -> bool:
        return all(o.labels.get(k) == v for k, v in labels.items())

    for size in range(1, min(len(keys), MAX_SELECTOR_LABELS) + 1):
        for combo in itertools.combinations(keys, size):
            sel = {k: stable[k] for k in combo}
            if not any(selects(sel, o) for o in rivals):
                return Selection(w.ref, tuple(sel.items()), tuple(o.ref for o in same))
    for labels in (stable, dict(w.labels)):  # no small subset: everything stable, then everything
        if not any(selects(labels, o) for o in rivals):
            return Selection(
                w.ref, tuple(sorted(labels.items(), key=lambda kv: _key_rank(kv[0]))), tuple(o.ref for o in same)
            )
    labels = dict(w.labels)
    also = [o.ref for o in others if selects(labels, o)]
    return Selection(w.ref, tuple(sorted(labels.items(), key=lambda kv: _key_rank(kv[0]))), tuple(also))


# ----------------------------------------------------------------------------------- generation


@dataclass(frozen=True, slots=True)
class Generated:
    """The policies (manifests as mappings, in output order), the selectors chosen, the namespaces
    covered, the resolved flows and notes for the user."""

    policies: tuple[dict[str, Any], ...]
    selections: tuple[Selection, ...]
    namespaces: tuple[str, ...]
    flows: tuple[Resolved, ...]
    notes: tuple[str, ...] = ()
    well_known: tuple[K8sObject, ...] = ()  # endpoints added for the proof (not written)


def _service_target(objects: Sequence[K8sObject], w: Workload, spec: PortSpec) -> PortSpec:
    """A numeric port that ``w``'s pods do not expose but a Service selecting them maps to a
    targetPort: the targetPort (policies see the pod's port after the Service's DNAT)."""
    if not isinstance(spec.port, int) or spec.end_port is not None:
        return spec
    if any(p == spec.protocol and n == spec.port for _, p, n in w.named_ports) or spec.port in _container_ports(w):
        return spec
    for svc in objects:
        if svc.kind != "Service" or svc.namespace != w.namespace:
            continue
        sel = svc.get("spec", "selector")
        if not isinstance(sel, dict) or not sel or not all(w.labels.get(k) == v for k, v in sel.items()):
            continue
        for p in svc.get("spec", "ports") or ():
            if not isinstance(p, dict) or p.get("port") != spec.port or (p.get("protocol") or "TCP") != spec.protocol:
                continue
            target = p.get("targetPort", spec.port)
            if isinstance(target, int) and not isinstance(target, bool):
                return PortSpec(spec.protocol, target)
            if isinstance(target, str) and target:
                if target.isdigit():
                    return PortSpec(spec.protocol, int(target))
                return PortSpec(spec.protocol, target)
    return spec


def _container_ports(w: Workload) -> set[int]:
    pod = pod_spec(w.obj)
    out: set[int] = set()
    if pod is None:
        return out
    for c in pod.containers(ContainerSet.C):
        for p in c.raw.get("ports") or ():
            if isinstance(p, dict) and isinstance(p.get("containerPort"), int):
                out.add(p["containerPort"])
    return out


def _named(w: Workload, spec: PortSpec) -> PortSpec:
    """The container's name for a numeric port, when exactly one name is given to it."""
    if not isinstance(spec.port, int) or spec.end_port is not None:
        return spec
    names = sorted({n for n, p, num in w.named_ports if p == spec.protocol and num == spec.port})
    if len(names) == 1:
        # the name must mean this number only, or a rule would open the other numbers too
        same = {num for n, p, num in w.named_ports if n == names[0] and p == spec.protocol}
        if same == {spec.port}:
            return PortSpec(spec.protocol, names[0])
    return spec


def _port_item(spec: PortSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"protocol": spec.protocol}
    if spec.port is not None:
        item["port"] = spec.port
    if spec.end_port is not None:
        item["endPort"] = spec.end_port
    return item


def _ns_peer(ns: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NS_NAME_LABEL: ns}}}


class _Builder:
    def __init__(self, eng: NetpolEngine, objects: Sequence[K8sObject], namespaces: Sequence[str]) -> None:
        self.eng = eng
        self.objects = objects
        self.namespaces = set(namespaces)
        self.selections: dict[str, Selection] = {}
        # (namespace, policy key) -> {"ingress"/"egress": {ports key: (ports, [peers])}}
        self.rules: dict[tuple[str, str], dict[str, dict[str, tuple[list[dict[str, Any]] | None, list[Any]]]]] = {}
        self.targets: dict[tuple[str, str], End] = {}
        self.notes: list[str] = []

    def selection(self, w: Workload) -> Selection:
        s = self.selections.get(w.ref)
        if s is None and w.obj.source.file == WELL_KNOWN_FILE:  # all the labels its installation sets
            s = self.selections[w.ref] = Selection(w.ref, tuple(w.labels.items()))
        if s is None:
            s = self.selections[w.ref] = choose_selector(w, self.eng.in_namespace(w.namespace))
        return s

    def pod_selector(self, w: Workload) -> dict[str, Any]:
        return {"matchLabels": dict(self.selection(w).match_labels)}

    def peer(self, end: End, policy_ns: str) -> dict[str, Any]:
        if isinstance(end, External):
            return {"ipBlock": {"cidr": end.text}}
        if isinstance(end, Pods):
            return {"podSelector": {}} if end.namespace == policy_ns else _ns_peer(end.namespace)
        if end.namespace == policy_ns:
            return {"podSelector": self.pod_selector(end)}
        return {**_ns_peer(end.namespace), "podSelector": self.pod_selector(end)}

    def ports(self, specs: tuple[PortSpec, ...] | None, dst: End) -> list[dict[str, Any]] | None:
        if specs is None:
            return None
        out = []
        for s in specs:
            if isinstance(dst, Workload) and dst.obj.source.file != WELL_KNOWN_FILE:
                # a well-known endpoint's port names differ between installations: numbers only
                s = _named(dst, _service_target(self.objects, dst, s))
            out.append(_port_item(s))
        return out

    def add(self, owner: End, direction: str, peer: dict[str, Any], ports: list[dict[str, Any]] | None) -> None:
        assert not isinstance(owner, External)
        ns = owner.namespace
        key = (ns, owner.ref)
        self.targets[key] = owner
        side = self.rules.setdefault(key, {"ingress": {}, "egress": {}})[direction]
        pkey = json.dumps(ports, sort_keys=True)
        entry = side.setdefault(pkey, (ports, []))
        if peer not in entry[1]:
            entry[1].append(peer)

    def policy_name(self, owner: End, taken: set[tuple[str, str]]) -> str:
        if isinstance(owner, Pods):
            base = "allow-all-pods"
        else:
            assert isinstance(owner, Workload)
            base = f"allow-{owner.name}"
            if (owner.namespace, base) in taken:
                base = f"allow-{owner.kind.lower()}-{owner.name}"
        name, i = base[:253], 2
        while (owner.namespace, name) in taken:
            name, i = f"{base[:245]}-{i}", i + 1
        taken.add((owner.namespace, name))
        return name

    @staticmethod
    def _merged(side: Mapping[str, tuple[list[dict[str, Any]] | None, list[Any]]]) -> list[tuple[Any, Any]]:
        """(ports, peers) rules, one per port set; rules with the same peers and listed ports are one
        rule with both port lists (the same traffic: a rule allows every peer on every port)."""
        by_peers: dict[str, tuple[list[dict[str, Any]] | None, list[Any]]] = {}
        for pkey in sorted(side):
            ports, peers = side[pkey]
            key = json.dumps(peers, sort_keys=True)
            prev = by_peers.get(key)
            if prev is None:
                by_peers[key] = (None if ports is None else list(ports), peers)
            elif prev[0] is not None:
                by_peers[key] = (None if ports is None else prev[0] + [p for p in ports if p not in prev[0]], peers)
        return [by_peers[k] for k in by_peers]

    def build(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        taken: set[tuple[str, str]] = set()
        for ns in sorted(self.namespaces):
            taken.add((ns, "default-deny"))
            out.append(_policy(ns, "default-deny", {}, {"policyTypes": ["Ingress", "Egress"]}))

        def order(k: tuple[str, str]) -> tuple[str, bool, str, str]:
            t = self.targets[k]
            return (k[0], isinstance(t, Workload), t.name if isinstance(t, Workload) else "", k[1])

        for key in sorted(self.rules, key=order):
            owner = self.targets[key]
            ns = key[0]
            rules = self.rules[key]
            spec: dict[str, Any] = {}
            types = []
            for direction, peers_key in (("ingress", "from"), ("egress", "to")):
                if not rules[direction]:
                    continue
                types.append(direction.capitalize())
                items = []
                for ports, peers in self._merged(rules[direction]):
                    rule: dict[str, Any] = {peers_key: peers}
                    if ports is not None:
                        rule["ports"] = ports
                    items.append(rule)
                spec[direction] = items
            selector = {} if isinstance(owner, Pods) else self.pod_selector(owner)  # type: ignore[arg-type]
            out.append(_policy(ns, self.policy_name(owner, taken), selector, {"policyTypes": types, **spec}))
        return out


def _policy(ns: str, name: str, selector: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "kubefort"}},
        "spec": {"podSelector": dict(selector), **spec},
    }


def generate(objects: Sequence[K8sObject], flows: Sequence[Flow]) -> Generated:
    """The default-deny and allow policies for ``flows`` over the workloads of ``objects`` (manifests
    or a cluster read). Raises FlowError for a flow that cannot be resolved."""
    eng, resolved, namespaces = resolve(objects, flows)
    b = _Builder(eng, objects, namespaces)
    notes: list[str] = []
    for r in resolved:
        a, d = r.source, r.destination
        a_cov = not isinstance(a, External) and a.namespace in b.namespaces
        d_cov = not isinstance(d, External) and d.namespace in b.namespaces
        if isinstance(d, Workload):
            for s in r.flow.ports or ():
                if s.named and not s.resolve(d.named_ports):
                    raise FlowError(f"{r.flow.where}: {d.ref} has no container port named {s.port}/{s.protocol}")
        elif isinstance(d, External) and any(s.named for s in r.flow.ports or ()):
            raise FlowError(f"{r.flow.where}: a named port means nothing to a CIDR; give the number")
        if not a_cov and not d_cov:
            notes.append(
                f"{r.flow.where}: {r.flow.text()}: neither end is in a namespace the policies cover; nothing written"
            )
            continue
        ports = b.ports(r.flow.ports, d)
        if a_cov:
            b.add(a, "egress", b.peer(d, a.namespace), ports)  # type: ignore[union-attr]
        if d_cov:
            b.add(d, "ingress", b.peer(a, d.namespace), ports)  # type: ignore[union-attr]
    if namespaces and not any(
        r.flow.ports is None or any(s.port == 53 or s.port in ("dns", "dns-tcp") for s in r.flow.ports)
        for r in resolved
    ):
        notes.append(
            "no flow allows DNS (port 53): pods will not resolve names; add '* -> kube-dns:53/UDP' (and 53/TCP)"
        )
    policies = b.build()
    extra = [w.obj for w in eng.workloads if w.obj.source.file == WELL_KNOWN_FILE]
    return Generated(
        policies=tuple(policies),
        selections=tuple(b.selections[k] for k in sorted(b.selections)),
        namespaces=tuple(namespaces),
        flows=tuple(resolved),
        notes=tuple(notes),
        well_known=tuple(extra),
    )


# ----------------------------------------------------------------------------------- proof


@dataclass(frozen=True, slots=True)
class Difference:
    """Ports allowed between two endpoints that the flows do not intend (extra), or intended and not
    allowed (missing), and why."""

    source: str
    destination: str
    ports: PortSet
    why: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Proof:
    """The engine's answer for the generated policies against the intended flows."""

    extra: tuple[Difference, ...]
    missing: tuple[Difference, ...]
    pairs: int  # ordered pairs compared
    endpoints: tuple[str, ...]
    problems: tuple[tuple[str, str], ...] = ()  # objects the engine left out
    notes: tuple[str, ...] = field(default=())

    @property
    def equal(self) -> bool:
        return not self.extra and not self.missing and not self.problems


def _intended_ports(
    specs: tuple[PortSpec, ...] | None, dst: Workload | External, objects: Sequence[K8sObject]
) -> PortSet:
    if specs is None:
        return ALL_PORTS
    out = NO_PORTS
    for s in specs:
        if isinstance(dst, Workload):
            s = _service_target(objects, dst, s)
            out = out | s.resolve(dst.named_ports)
        else:
            out = out | s.resolve(None)
    return out


def prove(objects: Sequence[K8sObject], gen: Generated) -> Proof:
    """Load the manifests, the well-known endpoints and the generated policies into the engine and
    compare what it allows with the flows, pair by pair."""
    policy_objs = [K8sObject.from_raw(p, Source(file="<generated>")) for p in gen.policies]
    eng = NetpolEngine(Inventory([*objects, *gen.well_known, *policy_objs]))
    covered = set(gen.namespaces)
    # the endpoints compared: workloads of the covered namespaces and every end the flows name
    named: dict[str, Workload] = {}
    cidrs: dict[str, External] = {}
    for text in ("0.0.0.0/0", "::/0"):
        cidrs[text] = External(AddrSet.cidr(text), text)
    for r in gen.flows:
        for e in (r.source, r.destination):
            if isinstance(e, Workload):
                named[e.ref] = eng.workload(e.ref)
            elif isinstance(e, External):
                cidrs.setdefault(e.text, e)
    workloads = {w.ref: w for w in eng.workloads if w.namespace in covered}
    workloads.update(named)
    ws = [workloads[k] for k in sorted(workloads)]

    def is_cov(w: Workload) -> bool:
        return w.namespace in covered

    # intended: (src ref, dst ref) -> ports; CIDR ends are kept as (addrs, ports) allowances
    intended: dict[tuple[str, str], PortSet] = {}
    to_cidr: dict[str, list[tuple[AddrSet, PortSet]]] = {}
    from_cidr: dict[str, list[tuple[AddrSet, PortSet]]] = {}

    def members(e: End) -> list[Workload] | External:
        if isinstance(e, External):
            return e
        if isinstance(e, Pods):
            return [w for w in ws if w.namespace == e.namespace]
        return [workloads[e.ref]]

    origin: dict[tuple[str, str], list[str]] = {}
    for r in gen.flows:
        ms, md = members(r.source), members(r.destination)
        if isinstance(ms, External):
            assert isinstance(md, list)
            for d in md:
                from_cidr.setdefault(d.ref, []).append((ms.addrs, _intended_ports(r.flow.ports, d, objects)))
            continue
        for s in ms:
            if isinstance(md, External):
                to_cidr.setdefault(s.ref, []).append((md.addrs, _intended_ports(r.flow.ports, md, objects)))
                continue
            for d in md:
                k = (s.ref, d.ref)
                intended[k] = intended.get(k, NO_PORTS) | _intended_ports(r.flow.ports, d, objects)
                origin.setdefault(k, []).append(r.flow.text())

    actual: dict[tuple[str, str], PortSet] = {}
    refs = set(workloads)
    for a, b, p in eng.connections(include_self=True):
        if a.ref in refs and b.ref in refs:
            actual[(a.ref, b.ref)] = p

    extra: list[Difference] = []
    missing: list[Difference] = []
    pairs = 0

    def why_extra(src: Workload | External, dst: Workload | External) -> tuple[str, ...]:
        v = eng.explain(src, dst)
        out = []
        for end in (dst, src):
            if not isinstance(end, Workload):
                continue
            for s in gen.selections:
                if end.ref in s.also:
                    out.append(
                        f"{end.ref} carries every label of the selector chosen for {s.workload} ({s.text()}): "
                        "no selector tells them apart; give one of them a distinguishing pod label"
                    )
        for side in (v.egress, v.ingress):
            if not side.isolated:
                out.append(f"{side.direction} of {side.endpoint} is not isolated by any policy")
            elif side.allowed_by:
                out.append(f"{side.direction} allowed by " + ", ".join(label for label, _ in side.allowed_by))
        return tuple(out)

    for a in ws:
        for b in ws:
            if not (is_cov(a) or is_cov(b)):
                continue
            pairs += 1
            want = intended.get((a.ref, b.ref), NO_PORTS)
            got = actual.get((a.ref, b.ref), NO_PORTS)
            if got - want:
                extra.append(Difference(a.ref, b.ref, got - want, why_extra(a, b)))
            if want - got:
                missing.append(Difference(a.ref, b.ref, want - got, tuple(eng.explain(a, b).reasons)))
    for c in cidrs.values():
        for w in ws:
            if not is_cov(w):
                continue
            for src, dst, allow in ((w, c, to_cidr.get(w.ref, [])), (c, w, from_cidr.get(w.ref, []))):
                pairs += 1
                want = ports_covering(c.addrs, allow) if allow else NO_PORTS
                got = eng.explain(src, dst).ports
                if got - want:
                    extra.append(Difference(src.ref, dst.ref, got - want, why_extra(src, dst)))
                if want - got:
                    missing.append(Difference(src.ref, dst.ref, want - got, tuple(eng.explain(src, dst).reasons)))
    return Proof(
        extra=tuple(extra),
        missing=tuple(missing),
        pairs=pairs,
        endpoints=tuple(sorted(workloads) + sorted(cidrs)),
        problems=tuple(eng.problems),
    )


# ----------------------------------------------------------------------------------- observed flows


def _hubble_labels(ep: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for item in ep.get("labels") or ():
        if not isinstance(item, str):
            continue
        source, _, kv = item.partition(":")
        if source not in ("k8s", "any", "container"):
            continue
        k, _, v = kv.partition("=")
        if k.startswith(("io.kubernetes.pod.", "io.cilium.")):
            continue
        out[k] = v
    return out


def _hubble_end(ep: Any, ip: str | None, eng: NetpolEngine) -> str | None:
    """The flows-file text for a Hubble endpoint: a workload ref, a well-known name, an address (/32,
    /128) for traffic from or to outside the cluster, or None (not found: a note)."""
    if not isinstance(ep, dict):
        return None
    ns = ep.get("namespace")
    labels = _hubble_labels(ep)
    if isinstance(ns, str) and ns:
        best: list[Workload] = []
        for w in eng.workloads:
            if w.namespace == ns and w.labels and all(labels.get(k) == v for k, v in w.labels.items()):
                if not best or len(w.labels) > len(best[0].labels):
                    best = [w]
                elif len(w.labels) == len(best[0].labels):
                    best.append(w)
        pod = ep.get("pod_name")
        if isinstance(pod, str) and len(best) != 1:  # no or several label matches: the pod's name
            named = [w for w in (best or eng.workloads) if w.namespace == ns and pod.startswith(w.name + "-")]
            best = sorted(named, key=lambda w: -len(w.name))[:1] or best
        if best:
            return best[0].ref
        for name, wk in WELL_KNOWN.items():
            if ns == wk.namespace and all(labels.get(k) == v for k, v in wk.labels):
                return name
        return None
    if ip and "reserved:world" in (ep.get("labels") or ()):
        addr = ipaddress.ip_address(ip)
        return f"{addr}/{addr.max_prefixlen}"
    return None


def flows_from_hubble(text: str, objects: Sequence[K8sObject], origin: str = "hubble") -> tuple[list[Flow], list[str]]:
    """Flows observed in Hubble JSON lines (``hubble observe -o json``: ``{"flow": {...}}`` or the
    flow itself): FORWARDED, not replies, TCP/UDP/SCTP, between pods found in ``objects`` (by namespace
    and pod labels) or from/to the world. Returns the distinct flows and notes on what was skipped."""
    eng = NetpolEngine(Inventory(list(objects)))
    seen: dict[tuple[str, str, str], Flow] = {}
    notes: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise FlowError(f"{origin}:{n}: not JSON: {e.msg}") from None
        flow = doc.get("flow", doc) if isinstance(doc, dict) else None
        if not isinstance(flow, dict):
            raise FlowError(f"{origin}:{n}: not a Hubble flow object")
        if flow.get("verdict") != "FORWARDED" or flow.get("is_reply") is True or flow.get("reply") is True:
            continue
        l4 = flow.get("l4") or {}
        proto = next((p for p in PROTOCOLS if isinstance(l4.get(p), dict)), None)
        if proto is None:
            continue
        port = l4[proto].get("destination_port")
        if not isinstance(port, int) or not MIN_PORT <= port <= MAX_PORT:
            continue
        ip = flow.get("IP") or {}
        src = _hubble_end(flow.get("source"), ip.get("source"), eng)
        dst = _hubble_end(flow.get("destination"), ip.get("destination"), eng)
        if src is None or dst is None:
            what = flow.get("source") if src is None else flow.get("destination")
            pod = what.get("pod_name", "?") if isinstance(what, dict) else "?"
            ns = what.get("namespace", "") if isinstance(what, dict) else ""
            notes.append(f"{origin}:{n}: skipped: no workload of the manifests for {ns}/{pod}")
            continue
        if _is_cidr(src) and _is_cidr(dst):
            continue
        key = (src, dst, f"{port}/{proto}")
        if key not in seen:
            seen[key] = Flow(src, dst, (PortSpec(proto, port),), n, origin)
    return sorted(seen.values(), key=lambda f: (f.source, f.destination, f.text())), notes
