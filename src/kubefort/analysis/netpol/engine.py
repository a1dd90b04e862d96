"""The NetworkPolicy reachability engine.

Semantics (Kubernetes NetworkPolicy, networking.k8s.io/v1):

- A pod is isolated for ingress (egress) when at least one NetworkPolicy of its namespace selects it
  (``spec.podSelector``) and has Ingress (Egress) in its effective policyTypes. A pod that is not
  isolated accepts (sends) everything; an isolated pod accepts (sends) only what at least one rule of
  the policies selecting it allows (rules of all those policies add up).
- A connection from A to B needs both A's egress and B's ingress to allow it, on the same port.
- Peers: ``podSelector`` alone selects pods of the policy's namespace; ``namespaceSelector`` alone
  every pod of the selected namespaces; both in one peer, pods matching the pod selector in the
  selected namespaces (AND); two peers add up (OR). ``{}`` selects everything; an empty or missing
  ``from``/``to`` matches every source/destination, an empty or missing ``ports`` every port.
- ``ipBlock`` (CIDR minus ``except``) applies to endpoints outside the cluster only. Pod IPs are
  not known from manifests and the Kubernetes documentation says ipBlock is meant for
  cluster-external addresses (whether a CNI also applies it to pod IPs, or to traffic after SNAT,
  is implementation-defined), so selectors decide pod-to-pod traffic and ipBlocks decide traffic
  to and from CIDR endpoints.
- Named ports resolve against the destination pod's container ports (name and protocol): the
  selected pod for an ingress rule, the destination pod for an egress rule; to a CIDR endpoint a
  named port allows nothing.

Pods that operators make from custom resources of the input (a ``Prometheus`` resource's StatefulSet)
are workloads too, with the labels and ports the operator gives them (:mod:`.operators`).

An object made by another object of the input (a Pod of a ReplicaSet of a Deployment, a CronJob's
Jobs) is represented by it: each workload counts once, whatever its replicas. In a live inventory the
controllers are resolved as the engine resolves them (``Inventory.controller``: by uid, to the topmost
pod-bearing owner), and a reference to a controlled object (``shop/pod/web-5d4f9-x2x7k``) answers for
its controller. What the engine reads is :data:`READS`; kinds of it that a cluster read could not list
make its answers :attr:`NetpolEngine.incomplete`.

Pods are grouped into equivalence classes (namespace, pod labels, named container ports): every
pod of a class is treated alike by every policy, so the work grows with distinct classes, not with
workloads or replicas. Sets of classes are Python integers used as bitsets.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model.inventory import Inventory
from ...model.kinds import distinct_unreadable, split_group_kind
from ...model.objects import K8sObject
from ...model.selectors import LabelIndex, selects_everything
from .cluster_policies import ANP, BANP, GROUP, AdminPolicy, AdminRule, is_admin_policy, parse_admin_policy
from .cni_policies import KINDS as CNI_KINDS
from .cni_policies import CniPolicy, parse_cni_policy
from .model import (
    ENDPOINT_KINDS,
    NS_NAME_LABEL,
    NamedPorts,
    NetpolRule,
    Peer,
    Policy,
    PolicyError,
    Workload,
    controlled_by,
    parse_policy,
    workload_of,
)
from .operators import OPERATOR_KINDS, operator_workload
from .sets import ALL_PORTS, NO_PORTS, AddrSet, PortSet, port_atoms

#: the policies the engine reads, group-qualified (model.kinds.split_group_kind): NetworkPolicies, the
#: AdminNetworkPolicies, and the CNI plugins' policies (Calico's NetworkPolicy is another API than
#: networking.k8s.io's). What the rules that use the engine need from a cluster.
POLICY_KINDS = frozenset(
    {"NetworkPolicy.networking.k8s.io", f"{ANP}.{GROUP}", f"{BANP}.{GROUP}", *(f"{k}.{g}" for g, k in CNI_KINDS)}
)

KIND_ALIASES = {
    "deploy": "deployment",
    "deployments": "deployment",
    "sts": "statefulset",
    "statefulsets": "statefulset",
    "ds": "daemonset",
    "daemonsets": "daemonset",
    "po": "pod",
    "pods": "pod",
    "cj": "cronjob",
    "cronjobs": "cronjob",
    "jobs": "job",
    "rs": "replicaset",
    "replicasets": "replicaset",
    "rc": "replicationcontroller",
    "dc": "deploymentconfig",
    "ro": "rollout",
    "rollouts": "rollout",
}

Parts = list[tuple[int, PortSet]]  # disjoint (bitset of classes, ports) pieces

#: every kind the engine reads from an inventory: what ``kubefort netpol --cluster`` lists (kinds a
#: cluster does not serve, such as the Cilium or Calico policies without their CRDs, are not listed)
READS = frozenset(
    {
        *ENDPOINT_KINDS,
        *OPERATOR_KINDS,
        *(kind for _, kind in CNI_KINDS),
        "Namespace",
        "NetworkPolicy",
        ANP,
        BANP,
    }
)


@dataclass(slots=True, eq=False)
class NamespaceInfo:
    name: str
    labels: Mapping[str, str]  # with the automatic kubernetes.io/metadata.name label
    known: bool  # a Namespace object is in the input (otherwise only the automatic label is known)


@dataclass(slots=True, eq=False)
class PodClass:
    index: int
    namespace: str
    labels: Mapping[str, str]
    named_ports: NamedPorts
    members: list[Workload] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class External:
    """A CIDR endpoint outside the cluster."""

    addrs: AddrSet
    text: str

    @property
    def ref(self) -> str:
        return self.text


Endpoint = Workload | External


@dataclass(slots=True)
class Side:
    """One half of a verdict: the source's egress or the destination's ingress."""

    direction: str  # "egress" | "ingress"
    endpoint: str
    applies: bool  # False for a CIDR endpoint: NetworkPolicy does not govern it
    isolated: bool = False
    policies: list[str] = field(default_factory=list)  # policies that isolate this side
    allowed_by: list[tuple[str, PortSet]] = field(default_factory=list)  # rule label, ports it allows here
    ports: PortSet = ALL_PORTS  # what this side allows for this connection
    # AdminNetworkPolicy / BaselineAdminNetworkPolicy rules that matched, in order, with the ports each decided
    admin: list[tuple[str, PortSet]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "endpoint": self.endpoint,
            "isolated": self.isolated,
            "policies": self.policies,
            "allowed_by": [{"rule": r, "ports": p.render()} for r, p in self.allowed_by],
            "ports": self.ports.render(),
        }
        if self.admin:
            out["admin_rules"] = [{"rule": r, "ports": p.render()} for r, p in self.admin]
        return out


@dataclass(slots=True)
class Verdict:
    source: str
    destination: str
    allowed: bool
    ports: PortSet
    egress: Side
    ingress: Side
    query: str | None = None
    notes: list[str] = field(default_factory=list)
    all_ports: PortSet = NO_PORTS  # before restricting to the queried port
    incomplete: dict[str, str] = field(default_factory=dict)  # kinds the cluster read missed (kind -> why)

    @property
    def reasons(self) -> list[str]:
        on = f" on {self.query}" if self.query else ""
        out = [_side_reason(self.egress, self.destination, on), _side_reason(self.ingress, self.source, on)]
        if self.query is not None:
            out.append(
                f"{self.query} is {'allowed' if self.allowed else 'not allowed'}"
                + ("" if self.allowed else f"; allowed ports between them: {self.all_ports or 'none'}")
            )
        return out + self.notes

    def to_dict(self) -> dict[str, Any]:
        out = {
            "from": self.source,
            "to": self.destination,
            "allowed": self.allowed,
            "ports": self.ports.render(),
            "reasons": self.reasons,
            "egress": self.egress.to_dict(),
            "ingress": self.ingress.to_dict(),
        }
        if self.incomplete:
            out["incomplete"] = dict(self.incomplete)
        return out


def _side_reason(side: Side, other: str, on: str = "") -> str:
    what = "egress from" if side.direction == "egress" else "ingress to"
    peer = "to" if side.direction == "egress" else "from"
    head = f"{what} {side.endpoint}"
    if not side.applies:
        return f"{head}: outside the cluster, not governed by NetworkPolicy"
    if side.admin:
        rules = "; ".join(f"{r} on {p}" for r, p in side.admin)
        rest = _side_reason(
            Side(side.direction, side.endpoint, True, side.isolated, side.policies, side.allowed_by), other, on
        )
        return f"{head}: AdminNetworkPolicy rules matched first: {rules}; for the rest, {rest[len(head) + 2 :]}"
    if not side.isolated:
        typ = "Egress" if side.direction == "egress" else "Ingress"
        return f"{head}: not isolated (no NetworkPolicy with {typ} in its policyTypes selects it), all traffic allowed"
    iso = f"{head}: isolated by {', '.join(side.policies)}"
    if not side.allowed_by:
        return f"{iso}; no {side.direction} rule allows traffic {peer} {other}{on}"
    rules = "; ".join(f"{r} ({p})" for r, p in side.allowed_by)
    return f"{iso}; allowed by {rules}"


def _key(selector: Any) -> str:
    return json.dumps(selector, sort_keys=True, default=str, separators=(",", ":"))


def iter_bits(bits: int) -> list[int]:
    """Indexes of the set bits, ascending. The text is made from the lowest set bit up: a namespace's few
    classes sit high in a set of 100,000 classes, and a text of every bit below them per call made the
    callers quadratic in the number of classes."""
    if not bits:
        return []
    low = bits & -bits
    lo = low.bit_length() - 1
    if bits == low:
        return [lo]
    text = bin(bits >> lo)[:1:-1]  # least significant bit first
    out = []
    find = text.find
    i = 0
    while i >= 0:
        out.append(i + lo)
        i = find("1", i + 1)
    return out


def _lookup(parts: Parts, i: int) -> PortSet:
    for b, p in parts:
        if b >> i & 1:
            return p
    return NO_PORTS


def _refine(entries: Mapping[PortSet, int]) -> Parts:
    """Disjoint pieces from overlapping (ports -> bitset) entries: a class in several entries gets the
    union of their ports."""
    parts: Parts = []
    for ps, bits in entries.items():
        if not bits or not ps:
            continue
        new: Parts = []
        rest = bits
        for b, p in parts:
            both = b & bits
            if both:
                new.append((both, p | ps))
                only = b & ~bits
                if only:
                    new.append((only, p))
                rest &= ~b
            else:
                new.append((b, p))
        if rest:
            new.append((rest, ps))
        parts = new
    return parts


class NetpolEngine:
    """Reachability over the workloads, namespaces and NetworkPolicies of an inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self.problems: list[tuple[str, str]] = []  # (object ref, why it is left out)
        # kinds the engine reads that the cluster read could not list (kind -> why): every answer may be wrong
        self.incomplete: dict[str, str] = {
            k: v
            for k, v in sorted(distinct_unreadable(inventory.unreadable).items())
            if split_group_kind(k)[0] in READS
        }
        self.namespaces: dict[str, NamespaceInfo] = {}
        for name in sorted(inventory.namespaces()):
            labels = inventory.namespace_labels(name)
            if labels is None:  # no Namespace object: only the automatic label is known
                self.namespaces[name] = NamespaceInfo(name, {NS_NAME_LABEL: name}, False)
            else:
                self.namespaces[name] = NamespaceInfo(name, labels, True)
        # workloads (objects controlled by another object of the input are represented by it)
        self.workloads: list[Workload] = []
        controlled: list[tuple[K8sObject, K8sObject]] = []  # (object, the object that represents it)
        for obj in inventory.objects:
            w = workload_of(obj) or operator_workload(obj)
            if w is None:
                continue
            top = inventory.controller(obj)  # live inventories only
            owner = controlled_by(obj)
            parent = inventory.get(owner[0], obj.namespace, owner[1]) if owner is not None else None
            rep = top if top is not None else parent
            if rep is not None:
                controlled.append((obj, rep))
                continue
            if inventory.get(obj.kind, obj.namespace, obj.name) is not obj:
                self.problems.append((str(obj.ref), "a second object with the same kind, namespace and name"))
                continue
            self.workloads.append(w)
        self.workloads.sort(key=lambda w: w.ref)
        for i, w in enumerate(self.workloads):
            w.order = i
        self._by_ref: dict[tuple[str, str, str], Workload] = {}
        self._by_obj: dict[int, Workload] = {}
        for w in self.workloads:
            self._by_ref.setdefault((w.namespace, w.kind.lower(), w.name), w)
            self._by_obj[id(w.obj)] = w
        # a controlled object answers for the workload that represents it (following a chain of parents)
        self._controlled: dict[tuple[str, str, str], K8sObject] = {
            (str(o.namespace), o.kind.lower(), o.name): rep for o, rep in controlled
        }
        # equivalence classes
        self.classes: list[PodClass] = []
        index: dict[tuple[str, frozenset[tuple[str, str]], NamedPorts], PodClass] = {}
        for w in self.workloads:
            k = (w.namespace, frozenset(w.labels.items()), w.named_ports)
            c = index.get(k)
            if c is None:
                c = index[k] = PodClass(len(self.classes), w.namespace, w.labels, w.named_ports)
                self.classes.append(c)
            c.members.append(w)
            w.cls = c.index
        self.all_bits = (1 << len(self.classes)) - 1
        self._ns_classes: dict[str, list[PodClass]] = defaultdict(list)
        self._ns_bits: dict[str, int] = defaultdict(int)
        self._port_groups: dict[NamedPorts, int] = defaultdict(int)
        for c in self.classes:
            self._ns_classes[c.namespace].append(c)
            self._ns_bits[c.namespace] |= 1 << c.index
            self._port_groups[c.named_ports] |= 1 << c.index
        # policies
        self.policies: list[Policy] = []
        for obj in inventory.of_kind("NetworkPolicy"):
            if obj.group != "networking.k8s.io":
                continue
            if inventory.get(obj.kind, obj.namespace, obj.name) is not obj:
                self.problems.append((str(obj.ref), "a second object with the same kind, namespace and name"))
                continue
            try:
                pol = parse_policy(obj)
            except PolicyError as e:
                self.problems.append((str(obj.ref), f"the API server would reject it: {e}"))
                continue
            self.policies.append(pol)
        self.policy_count: Counter[str] = Counter(p.namespace for p in self.policies)  # per namespace
        uid = 0
        for pol in self.policies:
            for r in (*pol.ingress_rules, *pol.egress_rules):
                r.uid = uid
                uid += 1
        # memo tables
        self._ns_sel: dict[str, tuple[str, ...]] = {}
        self._ns_sel_bits: dict[str, int] = {}
        self._indexes: tuple[LabelIndex, LabelIndex, list[str]] | None = None
        self._peer_bits: dict[tuple[str | None, str | None, str], int] = {}
        self._rule_bits: dict[int, int] = {}
        self._rule_ports: dict[tuple[int, NamedPorts | None], PortSet] = {}
        self._in_parts: dict[int, Parts | None] = {}
        self._eg_parts: dict[int, Parts | None] = {}
        # which policies select each class
        self.ingress_policies: list[list[Policy]] = [[] for _ in self.classes]
        self.egress_policies: list[list[Policy]] = [[] for _ in self.classes]
        self.policy_bits: dict[int, int] = {}
        for pol in self.policies:
            bits = self.pods_in_namespace(pol.namespace, pol.pod_selector)
            self.policy_bits[id(pol)] = bits
            for i in iter_bits(bits):
                if pol.ingress:
                    self.ingress_policies[i].append(pol)
                if pol.egress:
                    self.egress_policies[i].append(pol)
        self.egress_open_bits = sum(1 << c.index for c in self.classes if not self.egress_policies[c.index])
        self._load_admin_and_cni(inventory)

    # ------------------------------------------------------------------------------ cluster and CNI policies

    def _load_admin_and_cni(self, inventory: Inventory) -> None:
        """AdminNetworkPolicies and the BaselineAdminNetworkPolicy (modelled exactly), and the policies
        of CNI plugins (which pods they select; their rules are not modelled)."""
        self.admin: list[AdminPolicy] = []
        self.cni: list[CniPolicy] = []
        for obj in inventory.objects:
            if is_admin_policy(obj):
                if inventory.get(obj.kind, obj.namespace, obj.name) is not obj:
                    self.problems.append((str(obj.ref), "a second object with the same kind, namespace and name"))
                    continue
                try:
                    self.admin.append(parse_admin_policy(obj))
                except PolicyError as e:
                    self.problems.append((str(obj.ref), f"the API server would reject it: {e}"))
            else:
                cni = parse_cni_policy(obj)
                if cni is not None:
                    self.cni.append(cni)
        self.admin.sort(key=lambda p: (p.priority, p.name))
        n = len(self.classes)
        # per class and direction: the (rule, peer classes) of the AdminNetworkPolicies whose subject
        # selects it, in precedence order, and those of the baseline
        self.admin_in: list[list[tuple[AdminRule, int]]] = [[] for _ in range(n)]
        self.admin_eg: list[list[tuple[AdminRule, int]]] = [[] for _ in range(n)]
        self.baseline_in: list[list[tuple[AdminRule, int]]] = [[] for _ in range(n)]
        self.baseline_eg: list[list[tuple[AdminRule, int]]] = [[] for _ in range(n)]
        for pol in self.admin:
            subject = self._admin_subject_bits(pol)
            if not subject:
                continue
            ins = [(r, self._admin_peer_bits(r)) for r in pol.ingress]
            egs = [(r, self._admin_peer_bits(r)) for r in pol.egress]
            for i in iter_bits(subject):
                (self.baseline_in if pol.baseline else self.admin_in)[i].extend(ins)
                (self.baseline_eg if pol.baseline else self.admin_eg)[i].extend(egs)
        # per class and direction: (CNI policies that isolate it, those that may: selector not decidable)
        self.cni_in: list[tuple[list[str], list[str]]] = [([], []) for _ in range(n)]
        self.cni_eg: list[tuple[list[str], list[str]]] = [([], []) for _ in range(n)]
        for cni in self.cni:
            for c in self.classes:
                ns = self.namespaces[c.namespace]
                for rule in cni.rules:
                    hit = rule.selects(c.namespace, c.labels, ns.labels if ns.known else None)
                    if hit is False:
                        continue
                    for on, table in ((rule.ingress, self.cni_in), (rule.egress, self.cni_eg)):
                        if on:
                            lst = table[c.index][0 if hit else 1]
                            if cni.key not in lst:
                                lst.append(cni.key)

    def _admin_subject_bits(self, pol: AdminPolicy) -> int:
        if pol.subject_namespaces is not None:
            return self._namespace_classes(pol.subject_namespaces)
        assert pol.subject_pods is not None
        ns_sel, pod_sel = pol.subject_pods
        return self._pods_in_namespaces(ns_sel, pod_sel)

    def _namespace_classes(self, ns_sel: Mapping[str, Any]) -> int:
        bits = 0
        for n in self.namespaces_matching(ns_sel):
            bits |= self._ns_bits.get(n, 0)
        return bits

    def _pods_in_namespaces(self, ns_sel: Mapping[str, Any], pod_sel: Mapping[str, Any]) -> int:
        bits = 0
        for n in self.namespaces_matching(ns_sel):
            bits |= self.pods_in_namespace(n, pod_sel)
        return bits

    def _admin_peer_bits(self, rule: AdminRule) -> int:
        """The pod classes a rule's peers match (networks, nodes and domain names are no pods)."""
        if rule.fail_closed:
            return self.all_bits
        bits = 0
        for p in rule.peers:
            if p.kind == "namespaces" and p.namespaces is not None:
                bits |= self._namespace_classes(p.namespaces)
            elif p.kind == "pods" and p.namespaces is not None and p.pods is not None:
                bits |= self._pods_in_namespaces(p.namespaces, p.pods)
        return bits

    def _tiered(
        self,
        admin: list[tuple[AdminRule, int]],
        baseline: list[tuple[AdminRule, int]],
        matches: Any,
        np_ports: PortSet | None,
        named: NamedPorts | None,
    ) -> tuple[PortSet, list[tuple[str, PortSet]]]:
        """Ports one side allows under the three tiers: AdminNetworkPolicy rules in precedence order
        (the first matching rule decides; Pass hands the ports on), then NetworkPolicy when it isolates
        the pod (``np_ports``: what it allows; None: it does not isolate), else the baseline's rules,
        else allowed. ``matches(rule, peer classes)`` tells whether a rule's peers match the other end."""
        remaining, allowed, passed = ALL_PORTS, NO_PORTS, NO_PORTS
        trail: list[tuple[str, PortSet]] = []
        for rule, bits in admin:
            if not remaining:
                break
            if not matches(rule, bits):
                continue
            m = remaining & rule.port_set(named)
            if not m:
                continue
            trail.append((rule.label, m))
            if rule.action == "Allow":
                allowed = allowed | m
            elif rule.action == "Pass":
                passed = passed | m
            remaining = remaining - m
        rest = passed | remaining
        if np_ports is not None:
            return allowed | (rest & np_ports), trail
        for rule, bits in baseline:
            if not rest:
                break
            if not matches(rule, bits):
                continue
            m = rest & rule.port_set(named)
            if not m:
                continue
            trail.append((rule.label, m))
            if rule.action == "Allow":
                allowed = allowed | m
            rest = rest - m
        return allowed | rest, trail

    def has_admin(self, cls: int) -> bool:
        return bool(self.admin_in[cls] or self.admin_eg[cls] or self.baseline_in[cls] or self.baseline_eg[cls])

    def admin_denies(self, w: Workload, direction: str) -> list[str]:
        """The AdminNetworkPolicies (and baseline) with a Deny rule for ``w``'s pods in ``direction``."""
        tables = (self.admin_in, self.baseline_in) if direction == "ingress" else (self.admin_eg, self.baseline_eg)
        out: list[str] = []
        for table in tables:
            for rule, _ in table[w.cls]:
                if rule.action == "Deny" and rule.policy.key not in out:
                    out.append(rule.policy.key)
        return out

    def other_policies_note(self) -> list[str]:
        """What the answers say about the policies besides NetworkPolicy in the input."""
        out: list[str] = []
        if self.admin:
            names = ", ".join(p.key for p in self.admin)
            out.append(f"modelled: {names} (priority, Allow/Deny/Pass rules, then NetworkPolicy, then the baseline)")
        if self.cni:
            kinds = Counter(p.label for p in self.cni)
            what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            out.append(
                f"not modelled: {what}: kubefort knows which pods they select but not what they allow, so "
                "connections into or out of those pods may be denied"
            )
        return out

    def namespace_default_deny(self, namespace: str, direction: str) -> list[str]:
        """Policies besides NetworkPolicy that isolate every pod of ``namespace`` in ``direction``, present
        and future: a CNI policy that selects the whole namespace, or an AdminNetworkPolicy (baseline
        included) whose subject is the whole namespace with a Deny rule for every namespace's pods and
        every port."""
        info = self.namespaces.get(namespace)
        labels = info.labels if info is not None and info.known else None
        out: list[str] = []
        for cni in self.cni:
            if any(
                (r.ingress if direction == "ingress" else r.egress) and r.whole_namespace(namespace, labels)
                for r in cni.rules
            ):
                out.append(cni.key)
        for pol in self.admin:
            rules = pol.ingress if direction == "ingress" else pol.egress
            denies_all = any(
                r.action == "Deny"
                and r.ports is None
                and (r.fail_closed or any(p.kind == "namespaces" and selects_everything(p.namespaces) for p in r.peers))
                for r in rules
            )
            if denies_all and self._admin_whole_namespace(pol, namespace):
                out.append(pol.key)
        return out

    def _admin_whole_namespace(self, pol: AdminPolicy, namespace: str) -> bool:
        if pol.subject_namespaces is not None:
            return namespace in self.namespaces_matching(pol.subject_namespaces)
        assert pol.subject_pods is not None
        ns_sel, pod_sel = pol.subject_pods
        return selects_everything(pod_sel) and namespace in self.namespaces_matching(ns_sel)

    def namespace_other_policies(self, namespace: str) -> list[str]:
        """Policies besides NetworkPolicy that select (or may select) some pod of ``namespace``."""
        out: list[str] = []
        for c in self._ns_classes.get(namespace, ()):
            i = c.index
            for keys in (*self.cni_in[i], *self.cni_eg[i]):
                out.extend(keys)
            for table in (self.admin_in, self.admin_eg, self.baseline_in, self.baseline_eg):
                out.extend(r.policy.key for r, _ in table[i])
        return list(dict.fromkeys(out))

    def cni_selecting(self, w: Workload, direction: str) -> tuple[list[str], list[str]]:
        """(CNI policies that isolate ``w``'s pods in ``direction``, those whose selection is unknown)."""
        return (self.cni_in if direction == "ingress" else self.cni_eg)[w.cls]

    def _class_ports_admin(self, s: int, d: int) -> PortSet:
        inp = self.ingress_parts(d)
        ing, _ = self._tiered(
            self.admin_in[d],
            self.baseline_in[d],
            lambda _r, bits: bits >> s & 1,
            None if inp is None else _lookup(inp, s),
            self.classes[d].named_ports,
        )
        if not ing:
            return NO_PORTS
        egp = self.egress_parts(s)
        eg, _ = self._tiered(
            self.admin_eg[s],
            self.baseline_eg[s],
            lambda _r, bits: bits >> d & 1,
            None if egp is None else _lookup(egp, d),
            self.classes[d].named_ports,
        )
        return ing & eg

    # ------------------------------------------------------------------------------ selectors

    def _label_indexes(self) -> tuple[LabelIndex, LabelIndex, list[str]]:
        """Label postings of the pod classes and of the namespaces (built on first use)."""
        if self._indexes is None:
            names = list(self.namespaces)
            self._indexes = (
                LabelIndex([c.labels for c in self.classes]),
                LabelIndex([self.namespaces[n].labels for n in names]),
                names,
            )
        return self._indexes

    def namespaces_matching(self, selector: Mapping[str, Any]) -> tuple[str, ...]:
        k = _key(selector)
        hit = self._ns_sel.get(k)
        if hit is None:
            _, ns_index, names = self._label_indexes()
            hit = self._ns_sel[k] = tuple(names[i] for i in iter_bits(ns_index.match(selector)))
        return hit

    def _namespace_bits(self, selector: Mapping[str, Any], key: str) -> int:
        """Bitset of the classes of the namespaces ``selector`` matches."""
        hit = self._ns_sel_bits.get(key)
        if hit is None:
            hit = 0
            for n in self.namespaces_matching(selector):
                hit |= self._ns_bits.get(n, 0)
            self._ns_sel_bits[key] = hit
        return hit

    def pods_in_namespace(self, namespace: str, selector: Mapping[str, Any], key: str | None = None) -> int:
        """Bitset of the classes of ``namespace`` whose pod labels ``selector`` matches."""
        pods = self._label_indexes()[0].match(selector, key or _key(selector))
        return pods & self._ns_bits.get(namespace, 0)

    def peer_bits(self, peer: Peer, policy_ns: str) -> int:
        """Bitset of the pod classes a peer selects (0 for an ipBlock)."""
        if peer.ip is not None:
            return 0
        ps, ns = peer.pod_selector, peer.ns_selector
        pk = None if ps is None else _key(ps)
        nk = None if ns is None else _key(ns)
        k = (pk, nk, policy_ns if nk is None else "")
        hit = self._peer_bits.get(k)
        if hit is not None:
            return hit
        if ns is None:
            assert ps is not None
            hit = self.pods_in_namespace(policy_ns, ps, pk)
        else:
            assert nk is not None
            hit = self._namespace_bits(ns, nk)
            if ps is not None:
                hit &= self._label_indexes()[0].match(ps, pk)
        self._peer_bits[k] = hit
        return hit

    def rule_bits(self, rule: NetpolRule) -> int:
        """Bitset of the pod classes a rule's peers admit."""
        hit = self._rule_bits.get(rule.uid)
        if hit is None:
            if rule.peers is None:
                hit = self.all_bits
            else:
                hit = 0
                for p in rule.peers:
                    hit |= self.peer_bits(p, rule.policy.namespace)
            self._rule_bits[rule.uid] = hit
        return hit

    def rule_ports(self, rule: NetpolRule, named: NamedPorts | None) -> PortSet:
        if not rule.has_named_ports:
            named = frozenset()
        k = (rule.uid, named)
        hit = self._rule_ports.get(k)
        if hit is None:
            hit = self._rule_ports[k] = rule.port_set(named)
        return hit

    # ------------------------------------------------------------------------------ class level

    def ingress_parts(self, d: int) -> Parts | None:
        """Sources allowed into class ``d`` with their ports; None when ``d`` is not isolated."""
        if d in self._in_parts:
            return self._in_parts[d]
        pols = self.ingress_policies[d]
        parts: Parts | None = None
        if pols:
            named = self.classes[d].named_ports
            entries: dict[PortSet, int] = defaultdict(int)
            for pol in pols:
                for r in pol.ingress_rules:
                    bits = self.rule_bits(r)
                    if bits:
                        entries[self.rule_ports(r, named)] |= bits
            parts = _refine(entries)
        self._in_parts[d] = parts
        return parts

    def egress_parts(self, s: int) -> Parts | None:
        """Destinations class ``s`` may send to with their ports; None when ``s`` is not isolated."""
        if s in self._eg_parts:
            return self._eg_parts[s]
        pols = self.egress_policies[s]
        parts: Parts | None = None
        if pols:
            entries: dict[PortSet, int] = defaultdict(int)
            for pol in pols:
                for r in pol.egress_rules:
                    bits = self.rule_bits(r)
                    if not bits:
                        continue
                    if r.has_named_ports:  # ports depend on the destination's named ports
                        for named, group in self._port_groups.items():
                            if bits & group:
                                entries[self.rule_ports(r, named)] |= bits & group
                    else:
                        entries[self.rule_ports(r, None)] |= bits
            parts = _refine(entries)
        self._eg_parts[s] = parts
        return parts

    def class_ports(self, s: int, d: int) -> PortSet:
        """Ports on which pods of class ``s`` may connect to pods of class ``d``."""
        if self.admin and (self.has_admin(s) or self.has_admin(d)):
            return self._class_ports_admin(s, d)
        inp = self.ingress_parts(d)
        ing = ALL_PORTS if inp is None else _lookup(inp, s)
        if not ing:
            return NO_PORTS
        egp = self.egress_parts(s)
        eg = ALL_PORTS if egp is None else _lookup(egp, d)
        return ing & eg

    def class_matrix(
        self, sources: int | None = None, destinations: int | None = None
    ) -> Iterator[tuple[int, int, PortSet]]:
        """Every (source class, destination class, ports) with some port allowed."""
        src_mask = self.all_bits if sources is None else sources
        dst_mask = self.all_bits if destinations is None else destinations
        if self.admin:  # three tiers: judged pair by pair (AdminNetworkPolicies are few, classes too)
            for d in iter_bits(dst_mask):
                for s in iter_bits(src_mask):
                    p = self.class_ports(s, d)
                    if p:
                        yield s, d, p
            return
        open_eg = self.egress_open_bits
        # egress of the isolated sources, turned around: destination -> {source: ports}
        into: dict[int, dict[int, PortSet]] = defaultdict(dict)
        into_bits: dict[int, int] = defaultdict(int)
        for s in iter_bits(src_mask & ~open_eg):
            for bits, ports in self.egress_parts(s) or ():
                for d in iter_bits(bits & dst_mask):
                    into[d][s] = ports
                    into_bits[d] |= 1 << s
        for d in iter_bits(dst_mask):
            inp = self.ingress_parts(d)
            pieces = [(self.all_bits, ALL_PORTS)] if inp is None else inp
            eg_d, eg_bits = into.get(d, {}), into_bits.get(d, 0)
            for bits, ports in pieces:
                bits &= src_mask
                for s in iter_bits(bits & open_eg):
                    yield s, d, ports
                for s in iter_bits(bits & eg_bits):
                    p = ports & eg_d[s]
                    if p:
                        yield s, d, p

    # ------------------------------------------------------------------------------ workload level

    def connections(
        self, namespaces: Iterable[str] | None = None, *, include_self: bool = False
    ) -> list[tuple[Workload, Workload, PortSet]]:
        """Every allowed (from, to, ports) between workloads, sorted; with ``namespaces``, only those
        where either side is in one of them. A workload's connection to itself is left out unless
        ``include_self``."""
        runs: list[tuple[int | None, int | None]]
        if namespaces is None:
            runs = [(None, None)]
        else:
            mask = 0
            for ns in namespaces:
                mask |= self._ns_bits.get(ns, 0)
            runs = [(mask, None), (~mask & self.all_bits, mask)]  # from inside; from outside into it
        n = len(self.workloads)
        keyed: list[tuple[int, Workload, Workload, PortSet]] = []
        add = keyed.append
        for src_mask, dst_mask in runs:
            for s, d, ports in self.class_matrix(src_mask, dst_mask):
                members_d = self.classes[d].members
                for a in self.classes[s].members:
                    base = a.order * n
                    for b in members_d:
                        if a is not b or include_self:
                            add((base + b.order, a, b, ports))
        keyed.sort(key=lambda t: t[0])
        return [(a, b, p) for _, a, b, p in keyed]

    def ports(self, src: Endpoint, dst: Endpoint) -> PortSet:
        """Ports allowed from ``src`` to ``dst`` (for a CIDR endpoint: allowed for every address of it)."""
        return self.explain(src, dst).ports

    # ------------------------------------------------------------------------------ queries

    def find(self, text: str) -> Endpoint:
        """``namespace/kind/name`` (kind case-insensitive, kubectl short names) or a CIDR/IP."""
        t = text.strip()
        parts = t.split("/")
        if len(parts) == 3 and not _looks_like_ip(parts[0]):
            ns, kind, name = parts
            k = kind.lower()
            k = KIND_ALIASES.get(k, k)
            w = self._by_ref.get((ns, k, name))
            if w is not None:
                return w
            w = self._represented(ns, k, name)
            if w is not None:
                return w
            near = [
                x.ref
                for x in sorted(self.workloads, key=lambda x: x.namespace != ns)
                if x.name == name or (x.namespace == ns and x.kind.lower() == k)
            ]
            hint = f"; did you mean {', '.join(near[:5])}?" if near else ""
            raise LookupError(f"no workload {t} in the input{hint}")
        try:
            return External(AddrSet.cidr(t), t)
        except ValueError:
            raise LookupError(f"{t!r} is neither NAMESPACE/KIND/NAME nor a CIDR") from None

    def _represented(self, ns: str, kind: str, name: str) -> Workload | None:
        """The workload that represents a controlled object (a Pod of a Deployment: the Deployment)."""
        seen = 0
        rep = self._controlled.get((ns, kind, name))
        while rep is not None and seen < 16:
            w = self._by_obj.get(id(rep))
            if w is not None:
                return w
            rep = self._controlled.get((str(rep.namespace), rep.kind.lower(), rep.name))
            seen += 1
        return None

    def explain(self, src: Endpoint, dst: Endpoint, query: tuple[str, int | str] | None = None) -> Verdict:
        """Whether ``src`` can reach ``dst`` (on ``query`` = (protocol, port), or on any port), and why."""
        qset: PortSet | None = None
        qtext = None
        if query is not None:
            proto, port = query
            qtext = f"{port}/{proto}"
            if isinstance(port, int):
                qset = PortSet.of(proto, port, port)
            else:
                if not isinstance(dst, Workload):
                    raise LookupError(f"named port {port!r} cannot be resolved on {dst.ref}")
                qset = NO_PORTS
                for name, pr, num in dst.named_ports:
                    if name == port and pr == proto:
                        qset = qset | PortSet.of(pr, num, num)
                if not qset:
                    raise LookupError(f"{dst.ref} has no container port named {port!r} ({proto})")
        notes: list[str] = []
        eg = self._egress_side(src, dst)
        ing = self._ingress_side(src, dst)
        if isinstance(src, External) and isinstance(dst, External):
            notes.append("both endpoints are outside the cluster: NetworkPolicy does not apply")
        ports = eg.ports & ing.ports
        if isinstance(src, External) or isinstance(dst, External):
            ext = src if isinstance(src, External) else dst
            assert isinstance(ext, External)
            notes.append(
                f"ipBlock rules are matched against {ext.text}; pod-to-pod traffic is decided by "
                "selectors only (pod IPs are not known)"
            )
        notes.extend(self._policy_notes(src, dst, eg, ing))
        for ep in (src, dst):
            if isinstance(ep, Workload) and not self.namespaces[ep.namespace].known:
                notes.append(
                    f"namespace {ep.namespace} has no Namespace object in the input: only its "
                    f"{NS_NAME_LABEL} label is known"
                )
        all_ports = ports
        if qset is not None:
            ports = ports & qset
            for side in (eg, ing):
                side.allowed_by = [(r, p & qset) for r, p in side.allowed_by if p & qset]
        return Verdict(
            source=src.ref,
            destination=dst.ref,
            allowed=bool(ports),
            ports=ports,
            egress=eg,
            ingress=ing,
            query=qtext,
            notes=notes,
            all_ports=all_ports,
        )

    def _egress_side(self, src: Endpoint, dst: Endpoint) -> Side:
        side = Side("egress", src.ref, applies=isinstance(src, Workload))
        if not isinstance(src, Workload):
            return side
        pols = self.egress_policies[src.cls]
        if pols:
            side.isolated = True
            side.policies = [p.key for p in pols]
            rules = [r for p in pols for r in p.egress_rules]
            side.ports, side.allowed_by = self._rules_allow(rules, dst, dst)
        if self.admin_eg[src.cls] or self.baseline_eg[src.cls]:
            if isinstance(dst, Workload):
                side.ports, side.admin = self._tiered(
                    self.admin_eg[src.cls],
                    self.baseline_eg[src.cls],
                    lambda _r, bits: bits >> dst.cls & 1,
                    side.ports if pols else None,
                    dst.named_ports,
                )
            else:
                side.ports, side.admin = self._egress_external(src, dst, side.ports if pols else None)
        return side

    def _egress_external(
        self, src: Workload, dst: External, np_ports: PortSet | None
    ) -> tuple[PortSet, list[tuple[str, PortSet]]]:
        """The tiers for traffic to a CIDR: its addresses are cut into pieces that each rule's
        ``networks`` either cover or miss, each piece is judged, and a port is allowed when it is allowed
        for every piece (as for NetworkPolicy ipBlocks: for every address of the CIDR)."""
        rules = self.admin_eg[src.cls] + self.baseline_eg[src.cls]
        pieces = [dst.addrs]
        for rule, _ in rules:
            nets = rule.networks
            pieces = [x for p in pieces for x in (p & nets, p - nets) if x]
        total, trail = ALL_PORTS, []
        np_rules = [r for p in self.egress_policies[src.cls] for r in p.egress_rules]
        for piece in pieces:
            sub = External(piece, str(piece))
            piece_np = None if np_ports is None else self._rules_allow(np_rules, sub, sub)[0]
            allowed, t = self._tiered(
                self.admin_eg[src.cls],
                self.baseline_eg[src.cls],
                lambda r, _bits, piece=piece: r.networks.covers(piece),
                piece_np,
                None,
            )
            total = total & allowed
            trail += [(f"{label} for {piece}" if len(pieces) > 1 else label, p) for label, p in t]
        return total, trail

    def _ingress_side(self, src: Endpoint, dst: Endpoint) -> Side:
        side = Side("ingress", dst.ref, applies=isinstance(dst, Workload))
        if not isinstance(dst, Workload):
            return side
        pols = self.ingress_policies[dst.cls]
        if pols:
            side.isolated = True
            side.policies = [p.key for p in pols]
            rules = [r for p in pols for r in p.ingress_rules]
            side.ports, side.allowed_by = self._rules_allow(rules, src, dst)
        if self.admin_in[dst.cls] or self.baseline_in[dst.cls]:

            def matches(r: AdminRule, bits: int) -> bool:
                if isinstance(src, Workload):
                    return bool(bits >> src.cls & 1)
                return r.fail_closed  # ingress peers are pods and namespaces: no address outside the cluster

            side.ports, side.admin = self._tiered(
                self.admin_in[dst.cls],
                self.baseline_in[dst.cls],
                matches,
                side.ports if pols else None,
                dst.named_ports,
            )
        return side

    def _policy_notes(self, src: Endpoint, dst: Endpoint, eg: Side, ing: Side) -> list[str]:
        """What the answer does not model about these endpoints: CNI policies selecting them, admin
        rules with peers kubefort cannot match."""
        out: list[str] = []
        for ep, direction in ((src, "egress"), (dst, "ingress")):
            if not isinstance(ep, Workload):
                continue
            isolating, unknown = self.cni_selecting(ep, direction)
            if isolating:
                out.append(
                    f"{ep.ref} is also selected for {direction} by {', '.join(isolating)}, whose rules kubefort "
                    "does not model: the answer covers NetworkPolicy and AdminNetworkPolicy only, and that "
                    "policy may deny what it allows"
                )
            if unknown:
                out.append(
                    f"whether {', '.join(unknown)} select {ep.ref} for {direction} is not known from the input "
                    "(their selectors use what manifests do not tell): not modelled"
                )
            tables = (self.admin_eg, self.baseline_eg) if direction == "egress" else (self.admin_in, self.baseline_in)
            for table in tables:
                for rule, _ in table[ep.cls]:
                    if rule.unmodelled:
                        out.append(f"{rule.label} has {' and '.join(rule.unmodelled)} peers, which are not modelled")
        if self.cni and not any("does not model" in n or "not known from the input" in n for n in out):
            out.append(
                f"the input's {len(self.cni)} CNI policies (Cilium, Calico; not modelled) select neither endpoint"
            )
        return list(dict.fromkeys(out))

    def _rules_allow(
        self, rules: list[NetpolRule], peer: Endpoint, dst: Endpoint
    ) -> tuple[PortSet, list[tuple[str, PortSet]]]:
        """What ``rules`` allow for traffic with ``peer`` as the other end; ports resolve on ``dst``."""
        named = dst.named_ports if isinstance(dst, Workload) else None
        allowed: list[tuple[str, PortSet]] = []
        if isinstance(peer, Workload):
            total = NO_PORTS
            for r in rules:
                if self.rule_bits(r) >> peer.cls & 1:
                    p = self.rule_ports(r, named)
                    if p:
                        allowed.append((r.label, p))
                        total = total | p
            return total, allowed
        entries = []
        for r in rules:
            part = r.external & peer.addrs
            p = self.rule_ports(r, named)
            if part and p:
                entries.append((part, p))
                covers = "" if part == peer.addrs else f" for part of {peer.text} only: {r.ip_text}"
                allowed.append((r.label + covers, p))
        return ports_covering(peer.addrs, entries), allowed

    # ------------------------------------------------------------------------------ helpers

    def workload(self, ref: str) -> Workload:
        ep = self.find(ref)
        if not isinstance(ep, Workload):
            raise LookupError(f"{ref} is not a workload")
        return ep

    def workload_for(self, obj: Any) -> Workload | None:
        """The workload of a K8sObject of the inventory (None: not a workload, or represented by its
        controller)."""
        return self._by_obj.get(id(obj))

    def in_namespace(self, namespace: str) -> list[Workload]:
        return sorted((m for c in self._ns_classes.get(namespace, ()) for m in c.members), key=lambda w: w.ref)

    def isolated(self, w: Workload) -> tuple[bool, bool]:
        """(ingress isolated, egress isolated) of a workload's pods."""
        return bool(self.ingress_policies[w.cls]), bool(self.egress_policies[w.cls])

    def policies_selecting(self, w: Workload) -> list[Policy]:
        return [p for p in self.policies if self.policy_bits[id(p)] >> w.cls & 1]

    def selected_workloads(self, pol: Policy) -> list[Workload]:
        return [m for i in iter_bits(self.policy_bits.get(id(pol), 0)) for m in self.classes[i].members]

    def egress_to(self, w: Workload, addrs: AddrSet) -> PortSet:
        """Ports on which ``w`` may send to every address of ``addrs`` outside the cluster."""
        return self.explain(w, External(addrs, str(addrs))).ports


def ports_covering(target: AddrSet, entries: list[tuple[AddrSet, PortSet]]) -> PortSet:
    """Ports allowed for every address of ``target``, given (addresses, ports) allowances."""
    full = NO_PORTS
    partial = []
    for a, p in entries:
        if a.covers(target):
            full = full | p
        else:
            partial.append((a, p))
    if not partial:
        return full
    for atom in port_atoms([p for _, p in partial] + [full]):
        if not (atom - full):
            continue
        cover = AddrSet(())
        for a, p in partial:
            if p & atom:
                cover = cover | a
        if cover.covers(target):
            full = full | atom
    return full


def _looks_like_ip(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or ":" in text) and all(ch in "0123456789abcdefABCDEF.:" for ch in text)


def engine_for(inventory: Inventory) -> NetpolEngine:
    """The engine of an inventory, built once and kept by the inventory (every rule of a scan shares it;
    it is rebuilt when an object is added)."""
    return inventory.cached(NetpolEngine, lambda: NetpolEngine(inventory))
