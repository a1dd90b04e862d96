"""NET rules: NetworkPolicy coverage and reachability, Service and Ingress exposure.

NetworkPolicy semantics come from :mod:`kubefort.analysis.netpol` (one engine per inventory, shared
by every rule): effective policyTypes (``policyTypes`` when non-empty, else Ingress plus Egress when
``egress`` has rules), pod selection in the policy's namespace, and reachability to CIDRs.

Ingress rules of a policy whose effective policyTypes lack Ingress (and egress rules without Egress)
have no effect on a cluster, so the rules that judge rule contents (KF-NET-006/007/008) skip them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from ..analysis.netpol.engine import POLICY_KINDS, NetpolEngine, engine_for
from ..analysis.netpol.model import ENDPOINT_KINDS, Workload, effective_policy_types
from ..analysis.netpol.operators import OPERATOR_NEEDS
from ..analysis.netpol.sets import AddrSet
from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.images import parse_image
from ..model.inventory import NamespaceView
from ..model.objects import K8sObject, Path
from ..model.selectors import label_selector_matches, selects_everything, service_selector_matches
from ..model.workloads import PodSpecView, pod_spec

NSA = "NSA/CISA: network separation"
#: Namespaces skipped by namespace-level rules (catalogue legend 7), plus the ``system_namespaces`` parameter.
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
NETPOL_GROUP = "networking.k8s.io"
#: networking.k8s.io's NetworkPolicy (Calico's NetworkPolicy kind is another API)
NETPOL = f"NetworkPolicy.{NETPOL_GROUP}"
#: what the NetworkPolicy engine reads: the policies, the pods they select, the namespaces by label
#: what the NetworkPolicy engine reads: workloads, the pods operators make from their resources, policies
NETPOL_NEEDS = ENDPOINT_KINDS | OPERATOR_NEEDS | POLICY_KINDS | {"Namespace"}


# --------------------------------------------------------------------------------------------
# shared helpers


def _engine(ctx: Context) -> NetpolEngine:
    return engine_for(ctx.inventory)


def _is_system(name: str, ctx: Context) -> bool:
    extra = ctx.params.get("system_namespaces") or ()
    return name in SYSTEM_NAMESPACES or name in set(extra)


def _is_netpol(obj: K8sObject) -> bool:
    return obj.kind == "NetworkPolicy" and obj.group == NETPOL_GROUP


def _spec(obj: K8sObject) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _pod_selector(spec: Mapping[str, Any]) -> Any:
    sel = spec.get("podSelector")
    return {} if sel is None else sel  # missing is the empty selector (every pod)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _workloads_in(ns: NamespaceView, ctx: Context) -> list[Workload]:
    return _engine(ctx).in_namespace(ns.name)


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _names(ws: list[Workload], limit: int = 5) -> str:
    shown = ", ".join(f"{w.kind}/{w.name}" for w in ws[:limit])
    return shown + (f" and {len(ws) - limit} more" if len(ws) > limit else "")


def _cluster_inventory(ctx: Context) -> bool:
    """A whole cluster (cluster mode, a live inventory, or a dump that includes the Nodes)."""
    return ctx.mode == "cluster" or ctx.inventory.live or bool(ctx.inventory.of_kind("Node"))


def _default_deny(ns: NamespaceView, direction: str, ctx: Context) -> bool:
    """A NetworkPolicy with an empty podSelector, ``direction`` in its effective policyTypes and no
    rules of that direction (catalogue KF-NET-001/002); or a policy of another API that isolates every
    pod of the namespace in that direction (a CNI policy selecting the whole namespace, an
    AdminNetworkPolicy or the baseline denying every namespace's pods: see the NetworkPolicy engine)."""
    if _engine(ctx).namespace_default_deny(ns.name, direction):
        return True
    for p in ns.of_kind("NetworkPolicy"):
        if not _is_netpol(p):
            continue
        spec = _spec(p)
        if not selects_everything(_pod_selector(spec)):
            continue
        ing, eg = effective_policy_types(spec)
        on = ing if direction == "ingress" else eg
        if on and spec.get(direction) in (None, []):
            return True
    return False


# --------------------------------------------------------------------------------------------- KF-NET-001..003


def _default_deny_rule(ns: NamespaceView, ctx: Context, direction: str) -> Iterator[Violation]:
    if _is_system(ns.name, ctx):
        return
    ws = _workloads_in(ns, ctx)
    if not ws or _default_deny(ns, direction, ctx):
        return
    typ = "Ingress" if direction == "ingress" else "Egress"
    yield Violation(
        ("metadata",),
        f'namespace "{ns.name}" runs {_plural(len(ws), "workload")} but has no default-deny '
        f"{direction} NetworkPolicy (podSelector: {{}}, policyTypes including {typ}, "
        f"no {direction} rules)",
    )


@rule(
    id="KF-NET-001",
    slug="namespace-without-default-deny-ingress",
    title="Namespace lacks default-deny ingress",
    severity=Severity.MEDIUM,
    scope=Scope.NAMESPACE,
    kinds=["Namespace"],
    params={"system_namespaces": []},
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="Without a default-deny ingress policy every pod of the namespace accepts connections from any pod of the cluster until someone remembers to write a policy for it.",
    remediation="Add a NetworkPolicy with podSelector: {}, policyTypes: [Ingress] and no ingress rules, then allow the traffic each workload needs.",
    refs={
        "cis": "5.3.2",
        "kubescape": ("C-0206", "C-0054"),
        "kubeaudit": (
            "netpols/MissingDefaultDenyIngressNetworkPolicy",
            "netpols/MissingDefaultDenyIngressAndEgressNetworkPolicy",
        ),
        "nsa": NSA,
    },
)
def default_deny_ingress(ns: NamespaceView, ctx: Context) -> Iterator[Violation]:
    yield from _default_deny_rule(ns, ctx, "ingress")


@rule(
    id="KF-NET-002",
    slug="namespace-without-default-deny-egress",
    title="Namespace lacks default-deny egress",
    severity=Severity.LOW,
    scope=Scope.NAMESPACE,
    kinds=["Namespace"],
    params={"system_namespaces": []},
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="Without a default-deny egress policy a compromised pod can connect anywhere: other workloads, the cloud metadata service, the internet.",
    remediation="Add a NetworkPolicy with podSelector: {}, policyTypes: [Egress] and no egress rules, then allow DNS and the destinations each workload needs.",
    refs={
        "kubeaudit": (
            "netpols/MissingDefaultDenyEgressNetworkPolicy",
            "netpols/MissingDefaultDenyIngressAndEgressNetworkPolicy",
        ),
        "nsa": NSA,
    },
)
def default_deny_egress(ns: NamespaceView, ctx: Context) -> Iterator[Violation]:
    yield from _default_deny_rule(ns, ctx, "egress")


@rule(
    id="KF-NET-003",
    slug="namespace-without-network-policy",
    title="Namespace has no NetworkPolicy at all",
    severity=Severity.MEDIUM,
    scope=Scope.NAMESPACE,
    kinds=["Namespace"],
    params={"system_namespaces": []},
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="A namespace without any NetworkPolicy has no network segmentation: every pod can reach and be reached by every other pod.",
    remediation="Add NetworkPolicies to the namespace, starting with default-deny ingress and egress.",
    refs={"cis": "5.3.2", "kubescape": "C-0206", "nsa": NSA},
)
def namespace_without_network_policy(ns: NamespaceView, ctx: Context) -> Iterator[Violation]:
    if _is_system(ns.name, ctx):
        return
    ws = _workloads_in(ns, ctx)
    if not ws or any(_is_netpol(p) for p in ns.of_kind("NetworkPolicy")):
        return
    if _engine(ctx).namespace_other_policies(ns.name):
        return  # a CNI policy or an AdminNetworkPolicy selects pods there
    yield Violation(
        ("metadata",), f'namespace "{ns.name}" runs {_plural(len(ws), "workload")} and has no NetworkPolicy'
    )


# --------------------------------------------------------------------------------------------- KF-NET-004/005


def _not_isolated(pod: PodSpecView, ctx: Context, direction: str) -> str | None:
    eng = _engine(ctx)
    w = eng.workload_for(pod.obj)
    if w is None:
        return None  # not a running workload, or judged on its controller
    ing, eg = eng.isolated(w)
    if ing if direction == "ingress" else eg:
        return None
    isolating, unknown = eng.cni_selecting(w, direction)
    if isolating or eng.admin_denies(w, direction):
        return None  # a CNI policy isolates the pods, or an AdminNetworkPolicy denies some of their traffic
    if unknown:
        raise NotEvaluated(
            f"whether {', '.join(unknown)} select the pods of {w.kind}/{w.name} for {direction} is not known from "
            "the input (the selector uses what manifests do not tell)"
        )
    typ = "Ingress" if direction == "ingress" else "Egress"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(w.labels.items())) or "no labels"
    others = eng.policy_count[w.namespace]
    having = f"{_plural(others, 'NetworkPolicy')} there" if others else "no NetworkPolicy there"
    return (
        f"pods of {w.kind}/{w.name} ({labels}) are not selected by any NetworkPolicy with {typ} in namespace "
        f'"{w.namespace}" ({having}): all {direction} traffic is allowed'
    )


@rule(
    id="KF-NET-004",
    reads_images=False,
    slug="pod-not-isolated-ingress",
    title="Pod not isolated for ingress",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    kinds=sorted(ENDPOINT_KINDS),
    params={"require_egress": False},
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="A pod that no ingress NetworkPolicy selects accepts connections from every pod of the cluster and from outside it.",
    remediation="Select the pods with a NetworkPolicy that has Ingress in its policyTypes (a namespace default-deny covers every pod) and allow only the clients they need.",
    refs={
        "kubescape": ("C-0260", "C-0030"),
        "checkov": "CKV2_K8S_6",
        "polaris": "missingNetworkPolicy",
        "kube-score": "pod-networkpolicy",
        "kube-linter": "non-isolated-pod",
        "nsa": NSA,
    },
)
def pod_not_isolated_ingress(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    msg = _not_isolated(pod, ctx, "ingress")
    if msg:
        yield Violation(pod.meta_path, msg)
    if ctx.param("require_egress"):
        msg = _not_isolated(pod, ctx, "egress")
        if msg:
            yield Violation(pod.meta_path, msg, subcode="egress")


@rule(
    id="KF-NET-005",
    reads_images=False,
    slug="pod-not-isolated-egress",
    title="Pod not isolated for egress",
    severity=Severity.LOW,
    scope=Scope.POD,
    kinds=sorted(ENDPOINT_KINDS),
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="A pod that no egress NetworkPolicy selects can open connections to any pod, the cloud metadata service and the internet.",
    remediation="Select the pods with a NetworkPolicy that has Egress in its policyTypes and allow only DNS and the destinations they need.",
    refs={"kubescape": "C-0030", "polaris": "missingNetworkPolicy", "kube-score": "pod-networkpolicy", "nsa": NSA},
)
def pod_not_isolated_egress(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    msg = _not_isolated(pod, ctx, "egress")
    if msg:
        yield Violation(pod.meta_path, msg)


# --------------------------------------------------------------------------------------------- KF-NET-006/007


def _rules(obj: K8sObject, direction: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The rules of ``direction`` that take effect (the direction is in the effective policyTypes)."""
    spec = _spec(obj)
    ing, eg = effective_policy_types(spec)
    if not (ing if direction == "ingress" else eg):
        return
    for i, r in enumerate(_list(spec.get(direction))):
        yield i, (r if isinstance(r, dict) else {})


def _allow_all(obj: K8sObject, direction: str, ctx: Context) -> Iterator[Violation]:
    peer_key = "from" if direction == "ingress" else "to"
    whole_ns = selects_everything(_pod_selector(_spec(obj)))
    base = Severity.HIGH if direction == "ingress" else Severity.MEDIUM
    sev = base if whole_ns else base.lower()
    target = "every pod of the namespace" if whole_ns else "the selected pods"
    for i, r in _rules(obj, direction):
        peers = r.get(peer_key)
        path: Path = ("spec", direction, i)
        if not _list(peers) and not _list(r.get("ports")):
            # {} and also from: [] / ports: [] (empty lists mean "all", like missing ones)
            what = "to anywhere" if direction == "egress" else "from anywhere"
            yield Violation(
                path,
                f"{direction} rule {i} has no {peer_key} and no ports: it allows all traffic "
                f"{what} on every port for {target}",
                severity=sev,
                subcode=None if whole_ns else "selected-pods",
            )
            continue
        for j, p in enumerate(_list(peers)):
            if not isinstance(p, dict):
                continue
            ns, ps = p.get("namespaceSelector"), p.get("podSelector")
            if ns is not None and selects_everything(ns) and (ps is None or selects_everything(ps)):
                sel = "namespaceSelector: {}" + (" and podSelector: {}" if ps is not None else "")
                ports = " (on the listed ports)" if _list(r.get("ports")) else ""
                yield Violation(
                    path + (peer_key, j),
                    f"{direction} rule {i} peer {j} ({sel}) matches every pod of every namespace{ports} for {target}",
                    severity=sev,
                    subcode=None if whole_ns else "selected-pods",
                )


@rule(
    id="KF-NET-006",
    slug="policy-allows-all-ingress",
    title="Policy allows all ingress",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=[NETPOL],  # networking.k8s.io only: Calico's NetworkPolicy kind is another API
    rationale="An ingress rule that matches every source undoes the isolation the policy creates: any pod of any namespace (or anyone, for {}) can connect.",
    remediation="List the clients in from (podSelector / namespaceSelector with labels) and the ports in ports.",
    refs={"kubeaudit": "netpols/AllowAllIngressNetworkPolicyExists", "nsa": NSA},
)
def policy_allows_all_ingress(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _allow_all(obj, "ingress", ctx)


@rule(
    id="KF-NET-007",
    slug="policy-allows-all-egress",
    title="Policy allows all egress",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[NETPOL],  # networking.k8s.io only: Calico's NetworkPolicy kind is another API
    rationale="An egress rule that matches every destination lets the selected pods connect anywhere, including the cloud metadata service and the internet.",
    remediation="List the destinations in to and the ports in ports (DNS and the services the pods call).",
    refs={"kubeaudit": "netpols/AllowAllEgressNetworkPolicyExists", "nsa": NSA},
)
def policy_allows_all_egress(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _allow_all(obj, "egress", ctx)


# --------------------------------------------------------------------------------------------- KF-NET-008

_PRIVATE_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
_PRIVATE_V6 = ("fc00::/7", "fe80::/10")


def _excepts_private(cidr: str, excepts: list[Any]) -> bool:
    """The ``except`` list removes every RFC 1918 / link-local range (ULA and link-local for IPv6)
    that lies inside ``cidr``."""
    try:
        block = AddrSet.cidr(cidr)
        ex = AddrSet(())
        for e in excepts:
            ex = ex | AddrSet.cidr(str(e))
    except ValueError:
        return False
    v6 = ipaddress.ip_network(cidr, strict=False).version == 6
    needed = [AddrSet.cidr(r) & block for r in (_PRIVATE_V6 if v6 else _PRIVATE_V4)]
    needed = [n for n in needed if n]
    return bool(needed) and all(ex.covers(n) for n in needed)


@rule(
    id="KF-NET-008",
    slug="policy-allows-internet-ipblock",
    title="Policy allows the whole internet via ipBlock",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[NETPOL],  # networking.k8s.io only: Calico's NetworkPolicy kind is another API
    params={"max_broad_prefix": 8},
    rationale="An ipBlock of 0.0.0.0/0 (or a very short prefix) admits the whole internet: any address can reach the pods, or the pods can send data anywhere.",
    remediation="Narrow the ipBlock to the addresses that need access (a load balancer range, a partner's network), and except private and link-local ranges.",
    refs={"nsa": NSA},
)
def policy_allows_internet_ipblock(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    max_prefix = ctx.param("max_broad_prefix")
    for direction, peer_key, base in (("ingress", "from", Severity.HIGH), ("egress", "to", Severity.MEDIUM)):
        for i, r in _rules(obj, direction):
            for j, p in enumerate(_list(r.get(peer_key))):
                ipb = p.get("ipBlock") if isinstance(p, dict) else None
                if not isinstance(ipb, dict) or not isinstance(ipb.get("cidr"), str):
                    continue
                cidr = ipb["cidr"]
                try:
                    prefix = ipaddress.ip_network(cidr.strip(), strict=False).prefixlen
                except ValueError:
                    continue
                if prefix > 0 and (not isinstance(max_prefix, int) or prefix > max_prefix):
                    continue
                excepts = _list(ipb.get("except"))
                sev, sub = base, None
                if _excepts_private(cidr, excepts):
                    sev, sub = base.lower(), "private-excepted"
                what = "from" if direction == "ingress" else "to"
                note = " (private and link-local ranges excepted)" if sub else ""
                yield Violation(
                    ("spec", direction, i, peer_key, j, "ipBlock", "cidr"),
                    f"{direction} rule {i} allows traffic {what} {cidr}{note}",
                    severity=sev,
                    subcode=sub,
                )


# --------------------------------------------------------------------------------------------- KF-NET-009/010


def _namespace_workloads(obj: K8sObject, ctx: Context) -> list[Workload]:
    ns = obj.namespace or "default"
    ws = _engine(ctx).in_namespace(ns)
    if not ws:
        raise NotEvaluated(f'no workload of namespace "{ns}" is in the input')
    return ws


@rule(
    id="KF-NET-009",
    reads_images=False,
    slug="network-policy-selects-no-pods",
    title="NetworkPolicy selects no pods",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=[NETPOL],  # networking.k8s.io only: Calico's NetworkPolicy kind is another API
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="A policy whose podSelector matches no pod protects nothing: usually a label typo, so the pods it was written for are not isolated.",
    remediation="Fix the podSelector labels so that they match the pod template labels of the workload the policy is for, or delete the policy.",
    refs={
        "kubescape": "C-0299",
        "kube-score": "networkpolicy-targets-pod",
        "kube-linter": "dangling-networkpolicy",
        "nsa": NSA,
    },
)
def network_policy_selects_no_pods(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    sel = _pod_selector(_spec(obj))
    if selects_everything(sel):
        return
    ws = _namespace_workloads(obj, ctx)
    if any(label_selector_matches(sel, w.labels) for w in ws):
        return
    yield Violation(
        ("spec", "podSelector"),
        f'podSelector matches no workload of namespace "{obj.namespace}" ({_plural(len(ws), "workload")} in the input)',
    )


@rule(
    id="KF-NET-010",
    reads_images=False,
    slug="network-policy-peer-matches-nothing",
    title="NetworkPolicy peer selector matches nothing",
    severity=Severity.INFO,
    scope=Scope.OBJECT,
    kinds=[NETPOL],  # networking.k8s.io only: Calico's NetworkPolicy kind is another API
    cross_object=True,
    needs=NETPOL_NEEDS,
    rationale="A from/to podSelector that matches no pod allows nothing: usually a label typo that silently blocks the traffic the rule was written for.",
    remediation="Fix the peer podSelector labels so that they match the pods meant, or remove the peer.",
    refs={"kube-linter": "dangling-networkpolicypeer-podselector", "nsa": NSA},
)
def network_policy_peer_matches_nothing(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec = _spec(obj)
    peers = []
    for direction, peer_key in (("ingress", "from"), ("egress", "to")):
        for i, r in enumerate(_list(spec.get(direction))):
            if not isinstance(r, dict):
                continue
            for j, p in enumerate(_list(r.get(peer_key))):
                if (
                    isinstance(p, dict)
                    and p.get("podSelector") is not None
                    and p.get("namespaceSelector") is None
                    and p.get("ipBlock") is None
                ):
                    peers.append(
                        ((("spec", direction, i, peer_key, j, "podSelector")), p["podSelector"], direction, i, j)
                    )
    if not peers:
        return
    ws = _namespace_workloads(obj, ctx)
    for path, sel, direction, i, j in peers:
        if not any(label_selector_matches(sel, w.labels) for w in ws):
            yield Violation(
                path, f'{direction} rule {i} peer {j}: podSelector matches no pod of namespace "{obj.namespace}"'
            )


# --------------------------------------------------------------------------------------------- KF-NET-011

#: (what, predicate on a lower-case name or image) of NetworkPolicy-capable CNIs and agents.
_CNI_MARKERS = (
    ("Calico", ("calico-node", "calico/node", "calico-kube-controllers")),
    ("Cilium", ("cilium",)),
    ("Antrea", ("antrea-agent", "antrea/antrea")),
    ("Weave Net", ("weave-net", "weaveworks/weave-kube")),
    ("kube-router", ("kube-router",)),
    ("Canal", ("canal",)),
    ("Azure NPM", ("azure-npm", "azure-network-policy")),
    ("GKE Dataplane V2", ("anetd", "advanceddatapath")),
    ("AWS network policy agent", ("aws-network-policy-agent",)),
)


def _names_and_images(obj: K8sObject) -> list[str]:
    out = [obj.name.lower()]
    pod = pod_spec(obj)
    if pod is not None:
        for c in pod.containers():
            out.append(c.name.lower())
            if isinstance(c.image, str):
                out.append(c.image.lower())
    return out


def _is_kube_system(obj: K8sObject) -> bool:
    return obj.name == "kube-system"


@rule(
    id="KF-NET-011",
    slug="cni-without-network-policy",
    title="CNI without NetworkPolicy enforcement",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    applies=_is_kube_system,  # a fact about the whole cluster: judged once, on its kube-system Namespace
    cross_object=True,
    needs=["DaemonSet", "Deployment", "Pod", NETPOL, "Node"],
    rationale="NetworkPolicy objects are only enforced by a policy-capable network plugin: with flannel alone (or no such plugin) every policy is silently ignored.",
    remediation="Run a NetworkPolicy-capable CNI or agent (Calico, Cilium, Antrea, canal on top of flannel, or the cloud's network policy agent).",
    refs={"cis": "5.3.1", "kubescape": "C-0205", "nsa": NSA},
)
def cni_without_network_policy(ns: K8sObject, ctx: Context) -> Iterator[Violation]:
    """Judged when the input is a whole cluster. A manifest set does not show the network plugin (it is
    installed with the cluster), so there the rule is not evaluated rather than passed."""
    if not _cluster_inventory(ctx):
        raise NotEvaluated(
            "the network plugin is installed with the cluster, not with these manifests: scan the cluster "
            "(or a dump that includes its Nodes and kube-system workloads)"
        )
    inv = ctx.inventory
    found, flannel = [], False
    for obj in inv.of_kind("DaemonSet", "Deployment", "Pod"):
        words = _names_and_images(obj)
        for what, markers in _CNI_MARKERS:
            if any(m in w for w in words for m in markers):
                found.append(what)
        if any("flannel" in w for w in words):
            flannel = True
    if found:
        return
    n = sum(1 for p in inv.of_kind("NetworkPolicy") if _is_netpol(p))
    cni = "only flannel, which does not enforce NetworkPolicy" if flannel else "no NetworkPolicy-capable CNI or agent"
    effect = (
        f"its {_plural(n, 'NetworkPolicy')} {'is' if n == 1 else 'are'} silently ignored"
        if n
        else "NetworkPolicies would be silently ignored"
    )
    yield Violation(("metadata",), f"the cluster runs {cni}: {effect}")


# --------------------------------------------------------------------------------------------- KF-NET-012/013

#: Annotations that make a LoadBalancer Service internal, with the values that do.
INTERNAL_LB_ANNOTATIONS: dict[str, tuple[str, ...]] = {
    "service.beta.kubernetes.io/aws-load-balancer-internal": ("true", "0.0.0.0/0"),
    "service.beta.kubernetes.io/aws-load-balancer-scheme": ("internal",),
    "networking.gke.io/load-balancer-type": ("internal",),
    "cloud.google.com/load-balancer-type": ("internal",),
    "service.beta.kubernetes.io/azure-load-balancer-internal": ("true",),
    "service.beta.kubernetes.io/oci-load-balancer-internal": ("true",),
    "service.beta.kubernetes.io/openstack-internal-load-balancer": ("true",),
    "service.kubernetes.io/ibm-load-balancer-cloud-provider-ip-type": ("private",),
    "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": ("intranet",),
    "service.beta.kubernetes.io/do-loadbalancer-type": ("internal",),
}


#: Read by the cloud providers when spec.loadBalancerSourceRanges is empty.
LB_SOURCE_RANGES_ANNOTATION = "service.beta.kubernetes.io/load-balancer-source-ranges"


def _internal_lb(obj: K8sObject) -> bool:
    return any(str(obj.annotations.get(k, "")).strip().lower() in vals for k, vals in INTERNAL_LB_ANNOTATIONS.items())


@rule(
    id="KF-NET-012",
    slug="service-exposed-externally",
    title="Service exposed outside the cluster",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Service"],
    rationale="NodePort and public LoadBalancer Services are reachable from outside the cluster, often bypassing the ingress controller's TLS and authentication.",
    remediation="Use a ClusterIP Service behind an Ingress or Gateway, or restrict the load balancer with loadBalancerSourceRanges or an internal load balancer annotation.",
    refs={"kubescape": "C-0256", "kube-score": "service-type", "kube-linter": "exposed-services", "nsa": NSA},
)
def service_exposed_externally(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    typ = _spec(obj).get("type")
    if typ == "NodePort":
        yield Violation(
            ("spec", "type"),
            "Service of type NodePort opens its ports on every node of the cluster",
            subcode="nodeport",
        )
    elif typ == "LoadBalancer":
        if (
            _list(_spec(obj).get("loadBalancerSourceRanges"))
            or _internal_lb(obj)
            or str(obj.annotations.get(LB_SOURCE_RANGES_ANNOTATION, "")).strip()
        ):
            return
        yield Violation(
            ("spec", "type"),
            "Service of type LoadBalancer has no loadBalancerSourceRanges and no "
            "internal load balancer annotation: it is reachable from anywhere",
            subcode="loadbalancer",
        )


@rule(
    id="KF-NET-013",
    slug="service-external-ips",
    title="Service with externalIPs",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=["Service"],
    params={"allowed_external_ips": []},
    rationale="Whoever can set externalIPs can capture traffic meant for any address, in-cluster or not (CVE-2020-8554).",
    remediation="Remove spec.externalIPs (use a LoadBalancer or Ingress), or list the addresses in allowed_external_ips and block others with an admission policy.",
    refs={"trivy": "KSV-0108", "nsa": NSA},
)
def service_external_ips(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    allowed = {str(a) for a in (ctx.param("allowed_external_ips") or ())}
    for i, ip in enumerate(_list(_spec(obj).get("externalIPs"))):
        if str(ip) not in allowed:
            yield Violation(
                ("spec", "externalIPs", i), f"Service claims external IP {ip}, which is not in allowed_external_ips"
            )


# --------------------------------------------------------------------------------------------- KF-NET-014/015


def _is_ingress(obj: K8sObject) -> bool:
    return obj.kind == "Ingress" and obj.group in ("networking.k8s.io", "extensions")


def _host_covered(host: str, tls_hosts: list[str]) -> bool:
    host = host.lower()
    for t in tls_hosts:
        t = t.lower()
        if t == host:
            return True
        if t.startswith("*.") and not host.startswith("*.") and "." in host and host.split(".", 1)[1] == t[2:]:
            return True
    return False


@rule(
    id="KF-NET-014",
    slug="ingress-without-tls",
    title="Ingress without TLS",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=["Ingress"],
    applies=_is_ingress,
    rationale="Without TLS, traffic between clients and the ingress controller, credentials included, travels in clear text.",
    remediation="Add spec.tls entries whose hosts cover every rule host, with a certificate Secret (cert-manager can issue it).",
    refs={"kubescape": "C-0263", "polaris": "tlsSettingsMissing", "nsa": NSA},
)
def ingress_without_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec = _spec(obj)
    tls = [t for t in _list(spec.get("tls")) if isinstance(t, dict)]
    if not tls:
        yield Violation(("spec",), "Ingress has no spec.tls: it serves plain HTTP")
        return
    if any(not _list(t.get("hosts")) for t in tls):
        return  # a TLS entry without hosts applies to every host of the Ingress (the controller's wildcard)
    tls_hosts = [str(h) for t in tls for h in _list(t.get("hosts"))]
    for i, r in enumerate(_list(spec.get("rules"))):
        host = r.get("host") if isinstance(r, dict) else None
        if isinstance(host, str) and host and not _host_covered(host, tls_hosts):
            yield Violation(
                ("spec", "rules", i, "host"),
                f"host {host} is not listed in any spec.tls hosts: it is served without TLS",
            )


SNIPPET_PREFIX = "nginx.ingress.kubernetes.io/"
_DANGEROUS_SNIPPET = ("lua", "alias")  # "_by_lua" contains "lua"


@rule(
    id="KF-NET-015",
    slug="ingress-nginx-snippet-annotations",
    title="ingress-nginx snippet annotations",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=["Ingress", "ConfigMap"],
    rationale="Snippet annotations inject raw nginx configuration: whoever can create an Ingress can read the controller's service account token and every Secret it sees (CVE-2021-25742).",
    remediation='Remove the *-snippet annotations (use the dedicated annotations instead) and set allow-snippet-annotations: "false" in the ingress-nginx ConfigMap.',
    refs={
        "kubescape": "C-0059",
        "checkov": ("CKV_K8S_152", "CKV_K8S_153", "CKV_K8S_154"),
        "trivy": "KCV-0093",
        "nsa": NSA,
    },
)
def ingress_nginx_snippets(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == "ConfigMap":
        data = obj.get("data")
        value = data.get("allow-snippet-annotations") if isinstance(data, dict) else None
        if value is not None and str(value).strip().lower() == "true":
            yield Violation(
                ("data", "allow-snippet-annotations"),
                "ingress-nginx ConfigMap allows snippet annotations",
                subcode="allow-snippet-annotations",
            )
        return
    if not _is_ingress(obj):
        return
    for key in sorted(obj.annotations):
        if not (key.startswith(SNIPPET_PREFIX) and key.endswith("-snippet")):
            continue
        value = str(obj.annotations[key]).lower()
        path = ("metadata", "annotations", key)
        if any(w in value for w in _DANGEROUS_SNIPPET):
            yield Violation(path, f"annotation {key} injects nginx configuration using lua or alias")
        else:
            yield Violation(
                path, f"annotation {key} injects raw nginx configuration", severity=Severity.MEDIUM, subcode="snippet"
            )


# --------------------------------------------------------------------------------------------- KF-NET-016

SENSITIVE_DEFAULT = [
    "kubernetes-dashboard",
    "argo-server",
    "jupyter",
    "kubeflow",
    "weave-scope",
    "jenkins",
    "nifi",
    "prometheus",
    "grafana",
    "mlflow",
    "ray-dashboard",
]


def _sensitive(w: Workload, words: list[str]) -> str | None:
    names = [w.name.lower()]
    pod = pod_spec(w.obj)
    if pod is not None:
        for c in pod.containers():
            if isinstance(c.image, str):
                names.append(parse_image(c.image).repository.lower())
    for word in words:
        if any(word.lower() in n for n in names):
            return word
    return None


def _service_workloads(svc: K8sObject, ctx: Context) -> list[Workload]:
    sel = _spec(svc).get("selector")
    ns = svc.namespace or "default"
    return [w for w in _engine(ctx).in_namespace(ns) if service_selector_matches(sel, w.labels)]


def _ingress_backends(obj: K8sObject) -> Iterator[tuple[Path, str]]:
    spec = _spec(obj)

    def one(b: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if not isinstance(b, dict):
            return
        svc = b.get("service")
        if isinstance(svc, dict) and isinstance(svc.get("name"), str):
            yield path, svc["name"]
        elif isinstance(b.get("serviceName"), str):  # extensions/v1beta1, networking.k8s.io/v1beta1
            yield path, b["serviceName"]

    for key in ("defaultBackend", "backend"):
        yield from one(spec.get(key), ("spec", key))
    for i, r in enumerate(_list(spec.get("rules"))):
        http = r.get("http") if isinstance(r, dict) else None
        paths = http.get("paths") if isinstance(http, dict) else None
        for j, p in enumerate(_list(paths)):
            if isinstance(p, dict):
                yield from one(p.get("backend"), ("spec", "rules", i, "http", "paths", j, "backend"))


@rule(
    id="KF-NET-016",
    slug="sensitive-interface-exposed",
    title="Sensitive interface exposed externally",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=["Service", "Ingress"],
    params={"sensitive_interfaces": SENSITIVE_DEFAULT},
    cross_object=True,
    needs=NETPOL_NEEDS | {"Service"},
    rationale="Dashboards, notebooks and CI servers exposed outside the cluster are a favourite entry point: many run without authentication or with powerful service accounts.",
    remediation="Keep the interface on a ClusterIP Service and reach it through kubectl port-forward, a VPN or an authenticating proxy.",
    refs={"kubescape": "C-0021", "nsa": NSA},
)
def sensitive_interface_exposed(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    words = [str(w) for w in (ctx.param("sensitive_interfaces") or ())]
    inv = ctx.inventory
    if obj.kind == "Service":
        typ = _spec(obj).get("type")
        if typ not in ("NodePort", "LoadBalancer"):
            return
        ws = _service_workloads(obj, ctx)
        if not ws:
            raise NotEvaluated("the Service selects no workload of the input")
        for w in ws:
            word = _sensitive(w, words)
            if word:
                yield Violation(
                    ("spec", "type"), f"{typ} Service exposes {w.kind}/{w.name} ({word}) outside the cluster"
                )
        return
    if not _is_ingress(obj):
        return
    resolved = False
    for path, name in _ingress_backends(obj):
        svc = inv.get("Service", obj.namespace, name)
        if svc is None:
            continue
        ws = _service_workloads(svc, ctx)
        resolved = resolved or bool(ws)
        for w in ws:
            word = _sensitive(w, words)
            if word:
                yield Violation(path, f"Ingress routes to Service {name} of {w.kind}/{w.name} ({word})")
    if not resolved and any(True for _ in _ingress_backends(obj)):
        raise NotEvaluated("no backend Service of the Ingress (or none of their workloads) is in the input")


# --------------------------------------------------------------------------------------------- KF-NET-017

METADATA_ADDRESSES = ("169.254.169.254/32", "fd00:ec2::254/128")
#: providerID schemes of clouds whose instance metadata service answers on 169.254.169.254.
CLOUD_PROVIDERS = ("aws", "gce", "azure", "openstack", "oci", "digitalocean", "hcloud", "linode", "ibm")


def _cloud_provider(ctx: Context) -> str | None:
    """The cloud the cluster runs on: the ``cloud_provider`` parameter, else the providerID of its
    Nodes. ``"none"`` when known to run on no cloud with a metadata service; NotEvaluated when the
    input cannot tell (plain manifests have no Nodes)."""
    given = ctx.params.get("cloud_provider")
    if isinstance(given, str) and given.strip():
        return given.strip().lower()
    nodes = ctx.inventory.of_kind("Node")
    for node in nodes:
        pid = node.get("spec", "providerID")
        if isinstance(pid, str) and "://" in pid:
            scheme = pid.split("://", 1)[0].lower()
            if scheme in CLOUD_PROVIDERS:
                return scheme
    if nodes:
        return "none"  # Nodes without a known cloud providerID: bare metal or a cloud without IMDS at that address
    raise NotEvaluated(
        "the input has no Node objects, so whether the cluster runs on a cloud with an instance metadata "
        "service is unknown: scan the cluster, or set the parameter cloud_provider (aws, gce, azure, ... or none)"
    )


@rule(
    id="KF-NET-017",
    slug="cloud-metadata-reachable",
    title="Cloud instance metadata reachable from pods",
    severity=Severity.MEDIUM,
    scope=Scope.NAMESPACE,
    kinds=["Namespace"],
    params={"system_namespaces": [], "cloud_provider": None},
    cross_object=True,
    needs=NETPOL_NEEDS | {"Node"},
    rationale="The cloud metadata service hands out the node's credentials to any process that can reach it; a pod that can reach 169.254.169.254 can often act as the node in the cloud account.",
    remediation="Deny egress to 169.254.169.254/32 (an egress default-deny, and except it from broad ipBlocks), or block it at the node (IMDSv2 hop limit 1, GKE metadata concealment / Workload Identity).",
    refs={"kubescape": "C-0052", "nsa": NSA},
)
def cloud_metadata_reachable(ns: NamespaceView, ctx: Context) -> Iterator[Violation]:
    if _is_system(ns.name, ctx):
        return
    eng = _engine(ctx)
    ws = eng.in_namespace(ns.name)
    if not ws:
        return  # no pod of the input runs here: none can reach the metadata service
    if _cloud_provider(ctx) == "none":
        return  # judged: no cloud metadata service to reach
    targets = [AddrSet.cidr(a) for a in METADATA_ADDRESSES]
    seen: dict[int, bool] = {}
    reach, unmodelled = [], []
    for w in ws:
        isolating, unknown = eng.cni_selecting(w, "egress")
        if isolating or unknown:
            unmodelled.append(w)  # a CNI policy decides its egress: not modelled
            continue
        if w.cls not in seen:
            seen[w.cls] = any(eng.egress_to(w, t) for t in targets)
        if seen[w.cls]:
            reach.append(w)
    if not reach and unmodelled:
        raise NotEvaluated(
            f"the egress of {_names(unmodelled)} is governed by CNI policies whose rules kubefort does not model"
        )
    if reach:
        yield Violation(
            ("metadata",),
            f'{_plural(len(reach), "workload")} of namespace "{ns.name}" can reach the cloud '
            f"metadata service 169.254.169.254: {_names(reach)}",
        )


RULES = [
    default_deny_ingress,
    default_deny_egress,
    namespace_without_network_policy,
    pod_not_isolated_ingress,
    pod_not_isolated_egress,
    policy_allows_all_ingress,
    policy_allows_all_egress,
    policy_allows_internet_ipblock,
    network_policy_selects_no_pods,
    network_policy_peer_matches_nothing,
    cni_without_network_policy,
    service_exposed_externally,
    service_external_ips,
    ingress_without_tls,
    ingress_nginx_snippets,
    sensitive_interface_exposed,
    cloud_metadata_reachable,
]
