"""MTLS rules: Istio and Linkerd settings that weaken or bypass mutual TLS inside the mesh.

Istio kinds are recognised by API group (``security.istio.io`` for PeerAuthentication and
AuthorizationPolicy, ``networking.istio.io`` for DestinationRule and ServiceEntry), any version: the
rules name them group-qualified, so a Linkerd AuthorizationPolicy (``policy.linkerd.io``) or another
API's PeerAuthentication is not about them and gets no result. Linkerd by its ``config.linkerd.io/*``
annotations and its control-plane configuration.

Istio semantics used here (istio.io reference, security and networking APIs):

- PeerAuthentication ``mtls.mode``: ``UNSET`` (or no ``mtls``) inherits from the parent scope
  (workload -> namespace -> root namespace); with nothing set, the mesh default is PERMISSIVE.
  ``portLevelMtls`` maps port numbers to a mode for the selected workloads.
- DestinationRule ``ClientTLSSettings``: the mode enum's zero value is ``DISABLE``, so a ``tls``
  block without ``mode`` sends plaintext too (and turns auto mTLS off for that destination).
  A ``tls`` block may sit in ``trafficPolicy``, in ``trafficPolicy.portLevelSettings[*]`` and in the
  same places under ``subsets[*].trafficPolicy``.
- AuthorizationPolicy: ``action`` defaults to ALLOW; an ALLOW policy matches a request when any of
  its rules matches, and a rule without ``from``, ``to`` and ``when`` matches every request, with or
  without a peer identity (so plaintext as well). ALLOW policies in the root namespace without a
  selector apply to every workload of the mesh.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject, Path
from ..model.workloads import ContainerView, PodSpecView, pod_spec

NSA = "NSA/CISA: network separation (encrypt traffic)"
ISTIO_SECURITY = "security.istio.io"
ISTIO_NETWORKING = "networking.istio.io"
#: the Istio kinds as the rules name them (model.kinds.split_group_kind)
PEER_AUTHENTICATION = f"PeerAuthentication.{ISTIO_SECURITY}"
AUTHORIZATION_POLICY = f"AuthorizationPolicy.{ISTIO_SECURITY}"
DESTINATION_RULE = f"DestinationRule.{ISTIO_NETWORKING}"
SERVICE_ENTRY = f"ServiceEntry.{ISTIO_NETWORKING}"
ROOT_NS_PARAM = {"istio_root_namespace": "istio-system"}
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

LINKERD_POLICY_ANNOTATION = "config.linkerd.io/default-inbound-policy"
LINKERD_WEAK_POLICIES = {
    "all-unauthenticated": "allows every client, meshed or not, from anywhere",
    "cluster-unauthenticated": "allows any client in the cluster networks without mTLS identity",
    "audit": "allows every client like all-unauthenticated (it only flags the requests)",
}
LINKERD_STRONG_POLICIES = ("all-authenticated", "cluster-authenticated", "deny")


# --------------------------------------------------------------------------------------------
# shared helpers


def _spec(obj: K8sObject) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, dict) else {}


def _has_selector(spec: Mapping[str, Any]) -> bool:
    """True when a policy targets some workloads only (selector, targetRef or targetRefs)."""
    sel = spec.get("selector")
    if isinstance(sel, dict) and (sel.get("matchLabels") or sel.get("matchExpressions")):
        return True
    return bool(spec.get("targetRef")) or bool(spec.get("targetRefs"))


def _selector_text(spec: Mapping[str, Any]) -> str:
    sel = spec.get("selector")
    labels = sel.get("matchLabels") if isinstance(sel, dict) else None
    if isinstance(labels, dict) and labels:
        return ",".join(f"{k}={v}" for k, v in labels.items())
    return "its target"


def _pa_scope(obj: K8sObject, ctx: Context) -> str:
    """Whom a PeerAuthentication applies to, in words."""
    spec = _spec(obj)
    if _has_selector(spec):
        return f'workloads selected by {_selector_text(spec)} in namespace "{obj.namespace}"'
    if obj.namespace == ctx.param("istio_root_namespace"):
        return "every workload of the mesh (root namespace, no selector)"
    return f'every workload in namespace "{obj.namespace}"'


def _pa_modes(obj: K8sObject) -> Iterator[tuple[Path, Any, str | None]]:
    """(path, mode, port) of the workload-level mode and each port-level mode of a PeerAuthentication."""
    spec = _spec(obj)
    mtls = spec.get("mtls")
    if isinstance(mtls, dict) and "mode" in mtls:
        yield ("spec", "mtls", "mode"), mtls.get("mode"), None
    plm = spec.get("portLevelMtls")
    if isinstance(plm, dict):
        for port, setting in plm.items():
            if isinstance(setting, dict) and "mode" in setting:
                yield ("spec", "portLevelMtls", str(port), "mode"), setting.get("mode"), str(port)


def _is_istio(obj: K8sObject, group: str) -> bool:
    return obj.group == group


# --------------------------------------------------------------------------------------------
# KF-MTLS-002 / 003: PeerAuthentication modes


@rule(
    id="KF-MTLS-002",
    slug="peer-authentication-disables-mtls",
    title="PeerAuthentication disables mTLS",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=[PEER_AUTHENTICATION],
    params=ROOT_NS_PARAM,
    rationale="With mode DISABLE the sidecar accepts plaintext only: traffic to the workload is neither "
    "encrypted nor authenticated, and any pod on the network can impersonate a peer.",
    remediation="Set spec.mtls.mode (and every portLevelMtls mode) to STRICT, or remove the override so the "
    "namespace or mesh policy applies.",
    refs={"nsa": NSA, "istio": "PeerAuthentication MutualTLS.Mode"},
)
def peer_authentication_disables_mtls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for path, mode, port in _pa_modes(obj):
        if mode == "DISABLE":
            where = f"port {port} of " if port else ""
            yield Violation(path, f"PeerAuthentication disables mTLS for {where}{_pa_scope(obj, ctx)}")


def _namespace_in_istio_mesh(ns: K8sObject) -> bool:
    labels = ns.labels
    if labels.get("istio-injection") == "disabled":
        return False
    return (
        labels.get("istio-injection") == "enabled"
        or bool(labels.get("istio.io/rev"))
        or labels.get("istio.io/dataplane-mode") == "ambient"
    )


def _about_permissive(obj: K8sObject) -> bool:
    """PeerAuthentications, and the namespaces labelled into an Istio mesh (whose mode may default)."""
    return obj.kind != "Namespace" or _namespace_in_istio_mesh(obj)


def _istio_installed(inv: Inventory) -> bool:
    for crd in inv.of_kind("CustomResourceDefinition"):
        if crd.name == "peerauthentications.security.istio.io":
            return True
    if any(_is_istio(o, ISTIO_SECURITY) for o in inv.of_kind("PeerAuthentication")):
        return True
    return any(
        o.name == "istiod" or o.name.startswith("istiod-") or o.labels.get("app") == "istiod"
        for o in inv.of_kind("Deployment")
    )


def _namespace_wide_mode(inv: Inventory, namespace: str) -> str | None:
    """mtls.mode of the namespace-wide PeerAuthentication (no selector) of a namespace; None when
    there is none or it inherits (UNSET / no mtls)."""
    for pa in inv.in_namespace(namespace, "PeerAuthentication"):
        if not _is_istio(pa, ISTIO_SECURITY):
            continue
        spec = _spec(pa)
        if _has_selector(spec):
            continue
        mtls = spec.get("mtls")
        mode = mtls.get("mode") if isinstance(mtls, dict) else None
        if isinstance(mode, str) and mode and mode != "UNSET":
            return mode
    return None


@rule(
    id="KF-MTLS-003",
    slug="peer-authentication-permissive",
    title="PeerAuthentication allows plaintext (PERMISSIVE)",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[PEER_AUTHENTICATION, "Namespace"],
    applies=_about_permissive,
    params=ROOT_NS_PARAM,
    rationale="PERMISSIVE accepts plaintext next to mTLS, so clients outside the mesh (or an attacker on the "
    "pod network) reach the workload unauthenticated and unencrypted.",
    remediation="Set the mode to STRICT once every client is in the mesh, with a mesh-wide STRICT "
    "PeerAuthentication in the Istio root namespace.",
    refs={"nsa": NSA, "istio": "PeerAuthentication MutualTLS.Mode"},
    cross_object=True,
    needs=["CustomResourceDefinition", PEER_AUTHENTICATION, "Deployment"],
)
def peer_authentication_permissive(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == "Namespace":
        yield from _namespace_defaults_to_permissive(obj, ctx)
        return
    for path, mode, port in _pa_modes(obj):
        if mode == "PERMISSIVE":
            where = f"port {port} of " if port else ""
            yield Violation(
                path, f"PeerAuthentication accepts plaintext as well as mTLS for {where}{_pa_scope(obj, ctx)}"
            )


def _namespace_defaults_to_permissive(ns: K8sObject, ctx: Context) -> Iterator[Violation]:
    """A meshed namespace whose effective mode is Istio's default PERMISSIVE because no PeerAuthentication
    (namespace-wide or mesh-wide) sets a mode. Explicit PERMISSIVE policies are reported on the
    PeerAuthentication itself; workload-level policies are reported on themselves. A manifest set that
    holds no such policy does not show whether the cluster has one: not evaluated there."""
    inv = ctx.inventory
    root = ctx.param("istio_root_namespace")
    if ns.name in SYSTEM_NAMESPACES or ns.name == root:
        return
    if _namespace_wide_mode(inv, ns.name) is not None or _namespace_wide_mode(inv, root) is not None:
        return
    if ctx.mode != "cluster" and not inv.live:
        raise NotEvaluated(
            "Istio's default PERMISSIVE applies unless a namespace-wide or mesh-wide PeerAuthentication sets a "
            "mode, and a manifest set does not show every PeerAuthentication of the cluster: scan the cluster"
        )
    if not _istio_installed(inv):
        return
    yield Violation(
        ("metadata",),
        f'namespace "{ns.name}" is in the Istio mesh but no PeerAuthentication sets an mTLS mode for it '
        f'(namespace-wide or in root namespace "{root}"): Istio\'s default PERMISSIVE applies',
    )


# --------------------------------------------------------------------------------------------
# KF-MTLS-001: the mesh-wide policy (whole cluster)


def _created(obj: K8sObject) -> str:
    stamp = obj.get("metadata", "creationTimestamp")
    return stamp if isinstance(stamp, str) else ""


@rule(
    id="KF-MTLS-001",
    slug="istio-no-mesh-wide-strict-mtls",
    title="No mesh-wide STRICT mTLS in Istio",
    severity=Severity.HIGH,
    scope=Scope.CLUSTER,
    params=ROOT_NS_PARAM,
    needs=["CustomResourceDefinition", PEER_AUTHENTICATION, "Deployment"],
    rationale="Without a mesh-wide STRICT PeerAuthentication every sidecar also accepts plaintext (Istio's default "
    "PERMISSIVE), so any pod, meshed or not, reaches meshed workloads unauthenticated and unencrypted.",
    remediation="Create a PeerAuthentication without a selector in the Istio root namespace with mtls.mode STRICT, "
    "and override it per namespace or workload only where plaintext is required.",
    refs={"nsa": NSA, "istio": "PeerAuthentication mesh-wide policy"},
)
def istio_no_mesh_wide_strict_mtls(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    if not _istio_installed(inv):
        return
    root = ctx.param("istio_root_namespace")
    mesh_wide = [
        pa
        for pa in inv.in_namespace(root, "PeerAuthentication")
        if _is_istio(pa, ISTIO_SECURITY) and not _has_selector(_spec(pa))
    ]
    if not mesh_wide:
        yield Violation(
            (),
            f'Istio is installed but no PeerAuthentication without a selector in root namespace "{root}" sets '
            "mtls.mode STRICT: workloads accept plaintext (Istio's default PERMISSIVE) unless a namespace or "
            "workload policy says otherwise",
        )
        return
    # with several mesh-wide policies Istio applies the oldest
    pa = min(mesh_wide, key=lambda o: (_created(o) or "~", o.name))
    mtls = _spec(pa).get("mtls")
    mode = mtls.get("mode") if isinstance(mtls, dict) else None
    if mode == "STRICT":
        return
    shown = mode if isinstance(mode, str) and mode else "not set (UNSET)"
    effect = "plaintext only" if mode == "DISABLE" else "plaintext as well as mTLS (PERMISSIVE)"
    also = f" ({len(mesh_wide)} mesh-wide policies: Istio applies the oldest)" if len(mesh_wide) > 1 else ""
    yield Violation(
        (),
        f"the mesh-wide PeerAuthentication {root}/{pa.name} has mtls.mode {shown}, not STRICT{also}: workloads "
        f"accept {effect} unless a namespace or workload policy says otherwise",
    )


# --------------------------------------------------------------------------------------------
# KF-MTLS-006: workloads outside the mesh (whole cluster)

ISTIO_INJECT = "sidecar.istio.io/inject"
ISTIO_INJECTION = "istio-injection"
ISTIO_REV = "istio.io/rev"
ISTIO_DATAPLANE = "istio.io/dataplane-mode"
LINKERD_INJECT = "linkerd.io/inject"
LINKERD_CONTROL = ("linkerd-destination", "linkerd-controller", "linkerd-proxy-injector")
RUNNING_KINDS = tuple(sorted(WORKLOAD_KINDS - {"PodTemplate"}))


def _linkerd_installed(inv: Inventory) -> bool:
    if any(crd.name.endswith(".linkerd.io") for crd in inv.of_kind("CustomResourceDefinition")):
        return True
    return any(o.name in LINKERD_CONTROL for o in inv.of_kind("Deployment"))


def _meshes(inv: Inventory) -> tuple[bool, bool, frozenset[str]]:
    """(Istio installed, Linkerd installed, namespaces running a mesh control plane)."""

    def build() -> tuple[bool, bool, frozenset[str]]:
        control = {
            o.namespace
            for o in inv.of_kind("Deployment")
            if o.namespace and (o.name == "istiod" or o.name.startswith("istiod-") or o.name in LINKERD_CONTROL)
        }
        return _istio_installed(inv), _linkerd_installed(inv), frozenset(control)

    return inv.cached("mtls-meshes", build)


def _istio_namespace(ns: K8sObject) -> bool:
    """Istio's injector webhooks: istio-injection=enabled, or a revision label when istio-injection is absent;
    ambient mode by istio.io/dataplane-mode=ambient."""
    labels = ns.labels
    if labels.get(ISTIO_DATAPLANE) == "ambient":
        return True
    if ISTIO_INJECTION in labels:
        return labels[ISTIO_INJECTION] == "enabled"
    return bool(labels.get(ISTIO_REV))


def _linkerd_namespace(ns: K8sObject) -> bool:
    return ns.annotations.get(LINKERD_INJECT) in ("enabled", "ingress")


def _opts_in(pod: PodSpecView, istio: bool, linkerd: bool, ns: K8sObject | None) -> bool:
    labels, notes = pod.labels, pod.annotations
    istio_ok = istio and (ns is None or ns.labels.get(ISTIO_INJECTION) != "disabled")
    if istio_ok and (
        labels.get(ISTIO_INJECT) == "true" or labels.get(ISTIO_REV) or labels.get(ISTIO_DATAPLANE) == "ambient"
    ):
        return True
    return linkerd and notes.get(LINKERD_INJECT) in ("enabled", "ingress")


def _opt_out(obj: K8sObject) -> tuple[Path, str, str] | None:
    """(path, marker, mesh) of a workload's opt-out of injection, if any."""
    pod = pod_spec(obj)
    if pod is None:
        return None
    for where, values in (("labels", pod.labels), ("annotations", pod.annotations)):
        if str(values.get(ISTIO_INJECT, "")).lower() == "false":
            return pod.meta_path + (where, ISTIO_INJECT), f'{ISTIO_INJECT}: "false"', "istio"
    if pod.labels.get(ISTIO_DATAPLANE) == "none":
        return pod.meta_path + ("labels", ISTIO_DATAPLANE), f"{ISTIO_DATAPLANE}: none", "istio"
    if pod.annotations.get(LINKERD_INJECT) == "disabled":
        return pod.meta_path + ("annotations", LINKERD_INJECT), f"{LINKERD_INJECT}: disabled", "linkerd"
    return None


def _about_mesh_membership(obj: K8sObject) -> bool:
    return obj.kind == "Namespace" or (obj.kind in WORKLOAD_KINDS and _opt_out(obj) is not None)


def _outside_namespace(ns: K8sObject, ctx: Context) -> bool:
    extra = ctx.param("system_namespaces") or ()
    _, _, control = _meshes(ctx.inventory)
    return (
        ns.name in SYSTEM_NAMESPACES
        or ns.name in set(extra)
        or ns.name == ctx.param("istio_root_namespace")
        or ns.name in control
    )


@rule(
    id="KF-MTLS-006",
    reads_images=False,
    slug="workloads-outside-mesh",
    title="Workloads excluded from the mesh",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=sorted({"Namespace", *WORKLOAD_KINDS}),
    applies=_about_mesh_membership,
    whole_cluster=True,
    params={**ROOT_NS_PARAM, "system_namespaces": []},
    needs=sorted({"CustomResourceDefinition", "Namespace", *WORKLOAD_KINDS}),
    rationale="A workload without a mesh proxy neither encrypts its traffic nor proves its identity, and it is "
    "outside every mTLS and authorization policy of the mesh.",
    remediation="Enable injection for the namespace (istio-injection=enabled, istio.io/rev, "
    "istio.io/dataplane-mode=ambient, or the linkerd.io/inject: enabled annotation) and remove per-workload "
    "opt-outs unless the workload cannot run with a proxy.",
    refs={"nsa": NSA, "istio": "sidecar injection", "linkerd": "linkerd.io/inject"},
)
def workloads_outside_mesh(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    inv = ctx.inventory
    istio, linkerd, _ = _meshes(inv)
    if not (istio or linkerd):
        return
    if obj.kind != "Namespace":
        yield from _workload_opts_out(obj, ctx, istio, linkerd)
        return
    if _outside_namespace(obj, ctx) or (istio and _istio_namespace(obj)) or (linkerd and _linkerd_namespace(obj)):
        return
    outside = []
    for w in inv.in_namespace(obj.name, *RUNNING_KINDS):
        pod = pod_spec(w) if inv.controller(w) is None else None
        if pod is None or pod.spec.get("hostNetwork") is True:  # a proxy cannot intercept the node's network
            continue
        if not _opts_in(pod, istio, linkerd, obj):
            outside.append(w.name)
    if not outside:
        return
    wanted = []
    if istio:
        wanted.append(f"{ISTIO_INJECTION}=enabled, {ISTIO_REV} or {ISTIO_DATAPLANE}=ambient label")
    if linkerd:
        wanted.append(f"{LINKERD_INJECT}: enabled annotation")
    names = sorted(outside)
    yield Violation(
        ("metadata",),
        f'namespace "{obj.name}" is not in the mesh (no {" or ".join(wanted)}): {len(names)} '
        f"workload{' runs' if len(names) == 1 else 's run'} without a proxy ({', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''})",
    )


def _workload_opts_out(obj: K8sObject, ctx: Context, istio: bool, linkerd: bool) -> Iterator[Violation]:
    hit = _opt_out(obj)
    ns = ctx.inventory.get("Namespace", None, obj.namespace) if obj.namespace else None
    if hit is None or ns is None or _outside_namespace(ns, ctx):
        return
    path, marker, mesh = hit
    if mesh == "istio" and istio and _istio_namespace(ns):
        yield Violation(path, f'{obj.kind} "{obj.name}" opts out of the Istio mesh of namespace "{ns.name}" ({marker})')
    elif mesh == "linkerd" and linkerd and _linkerd_namespace(ns):
        yield Violation(
            path, f'{obj.kind} "{obj.name}" opts out of the Linkerd mesh of namespace "{ns.name}" ({marker})'
        )


# --------------------------------------------------------------------------------------------
# DestinationRule TLS settings (KF-MTLS-004 / 005)


def _dr_tls_blocks(obj: K8sObject) -> Iterator[tuple[Path, Mapping[str, Any], str]]:
    """(path, tls settings, where in words) of every ``tls`` block of a DestinationRule."""
    spec = _spec(obj)

    def in_policy(tp: Any, path: Path, where: str) -> Iterator[tuple[Path, Mapping[str, Any], str]]:
        if not isinstance(tp, dict):
            return
        tls = tp.get("tls")
        if isinstance(tls, dict):
            yield path + ("tls",), tls, where
        pls = tp.get("portLevelSettings")
        if isinstance(pls, list):
            for j, setting in enumerate(pls):
                if not isinstance(setting, dict):
                    continue
                tls = setting.get("tls")
                if isinstance(tls, dict):
                    port = setting.get("port")
                    number = port.get("number") if isinstance(port, dict) else None
                    yield path + ("portLevelSettings", j, "tls"), tls, f"port {number} of {where}"

    yield from in_policy(spec.get("trafficPolicy"), ("spec", "trafficPolicy"), "the traffic policy")
    subsets = spec.get("subsets")
    if isinstance(subsets, list):
        for i, subset in enumerate(subsets):
            if isinstance(subset, dict):
                name = subset.get("name")
                yield from in_policy(
                    subset.get("trafficPolicy"),
                    ("spec", "subsets", i, "trafficPolicy"),
                    f'the traffic policy of subset "{name}"',
                )


def _host_matches(a: str, b: str) -> bool:
    """Istio host matching with ``*`` and ``*.suffix`` wildcards on either side."""
    if a == b or a == "*" or b == "*":
        return True
    if a.startswith("*.") and b.endswith(a[1:]):
        return True
    if b.startswith("*.") and a.endswith(b[1:]):
        return True
    return a.startswith("*.") and b.startswith("*.") and (a.endswith(b[1:]) or b.endswith(a[1:]))


def _mesh_host_reason(host: str, obj: K8sObject, ctx: Context) -> str | None:
    """Why ``host`` (a DestinationRule host) is inside the mesh, or None when it is not."""
    h = host.strip().lower().rstrip(".")
    if not h:
        return None
    domain = str(ctx.param("cluster_domain")).strip(".").lower()
    svc_suffix = f".svc.{domain}"
    if h == "*":
        return "a wildcard that covers every service of the mesh"
    if "." not in h:
        return f'a short service name (resolved in namespace "{obj.namespace}")'
    if h.endswith((svc_suffix, ".svc")):
        return "a Kubernetes service host"
    if h.startswith("*.") and f"x.ns{svc_suffix}".endswith(h[1:]):
        return "a wildcard that covers cluster services"
    parts = h.split(".")
    if len(parts) == 2 and parts[1] in ctx.inventory.namespaces():
        return f'a service name of namespace "{parts[1]}"'
    for se in ctx.inventory.of_kind("ServiceEntry"):
        if not _is_istio(se, ISTIO_NETWORKING):
            continue
        spec = _spec(se)
        if spec.get("location") != "MESH_INTERNAL":
            continue
        hosts = spec.get("hosts")
        for sh in hosts if isinstance(hosts, list) else ():
            if isinstance(sh, str) and _host_matches(h, sh.strip().lower().rstrip(".")):
                return f"a host of MESH_INTERNAL ServiceEntry {se.namespace}/{se.name}"
    return None


@rule(
    id="KF-MTLS-004",
    slug="destination-rule-disables-tls",
    title="DestinationRule disables client TLS",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=[DESTINATION_RULE],
    params={"cluster_domain": "cluster.local"},
    rationale="A DISABLE client TLS mode makes sidecars send plaintext to a destination inside the mesh "
    "(auto mTLS is turned off for it), and STRICT servers then refuse the traffic or PERMISSIVE ones accept "
    "it unauthenticated.",
    remediation="Remove the tls block for in-mesh hosts (auto mTLS applies) or set its mode to ISTIO_MUTUAL.",
    refs={"nsa": NSA, "istio": "DestinationRule ClientTLSSettings.TLSmode"},
    cross_object=True,
    needs=["Namespace", SERVICE_ENTRY],
)
def destination_rule_disables_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    host = _spec(obj).get("host")
    if not isinstance(host, str):
        return
    reason = None
    for path, tls, where in _dr_tls_blocks(obj):
        mode = tls.get("mode")
        if mode not in (None, "DISABLE"):
            continue
        if reason is None:
            reason = _mesh_host_reason(host, obj, ctx)
            if reason is None:
                return
        if mode is None:
            yield Violation(
                path, f'tls of {where} has no mode, so it defaults to DISABLE: plaintext to host "{host}", {reason}'
            )
        else:
            yield Violation(path + ("mode",), f'tls mode DISABLE in {where} sends plaintext to host "{host}", {reason}')


@rule(
    id="KF-MTLS-005",
    slug="destination-rule-tls-no-verify",
    title="DestinationRule TLS does not verify the server",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[DESTINATION_RULE],
    params={"cluster_domain": "cluster.local"},
    rationale="TLS originated by the sidecar without a CA to check the server certificate (or with "
    "insecureSkipVerify), or without SNI towards an external host, lets a man in the middle present any "
    "certificate.",
    remediation="Set caCertificates or credentialName (and sni for external hosts) in the tls settings and "
    "remove insecureSkipVerify.",
    refs={"nsa": NSA, "istio": ("IST0128", "IST0129", "DestinationRule ClientTLSSettings")},
    cross_object=True,
    needs=["Namespace", SERVICE_ENTRY],
)
def destination_rule_tls_no_verify(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    host = _spec(obj).get("host")
    host = host if isinstance(host, str) else ""
    external: bool | None = None
    for path, tls, where in _dr_tls_blocks(obj):
        mode = tls.get("mode")
        if mode not in ("SIMPLE", "MUTUAL"):
            continue
        if tls.get("insecureSkipVerify") is True:
            yield Violation(
                path + ("insecureSkipVerify",),
                f"tls mode {mode} in {where} skips verification of the server certificate "
                f'(insecureSkipVerify) for host "{host}"',
            )
        elif not _nonempty(tls.get("caCertificates")) and not _nonempty(tls.get("credentialName")):
            yield Violation(
                path + ("caCertificates",),
                f"tls mode {mode} in {where} sets neither caCertificates nor credentialName: "
                f'the server certificate of host "{host}" is not verified against a known CA',
            )
        if not _nonempty(tls.get("sni")):
            if external is None:
                external = bool(host) and _mesh_host_reason(host, obj, ctx) is None
            if external:
                yield Violation(path + ("sni",), f'tls mode {mode} in {where} has no sni for external host "{host}"')


def _nonempty(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


# --------------------------------------------------------------------------------------------
# KF-MTLS-007: sidecar bypass annotations

BYPASS_ANNOTATIONS = {
    "traffic.sidecar.istio.io/excludeInboundPorts": "inbound traffic on these ports bypasses the Istio sidecar",
    "traffic.sidecar.istio.io/excludeOutboundPorts": "outbound traffic to these ports bypasses the Istio sidecar",
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": "outbound traffic to these IP ranges bypasses the Istio "
    "sidecar",
    "config.linkerd.io/skip-inbound-ports": "inbound traffic on these ports bypasses the Linkerd proxy",
    "config.linkerd.io/skip-outbound-ports": "outbound traffic to these ports bypasses the Linkerd proxy",
}


@rule(
    id="KF-MTLS-007",
    slug="mesh-proxy-bypass",
    title="Ports bypass the proxy",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    rationale="Traffic excluded from the sidecar's iptables redirection is neither encrypted nor subject to "
    "the mesh's authentication and authorization policies.",
    remediation="Remove the exclusion annotation, or limit it to ports that must not be proxied and protect "
    "them otherwise (NetworkPolicy, application TLS).",
    refs={"nsa": NSA, "istio": "traffic.sidecar.istio.io annotations", "linkerd": "config.linkerd.io/skip-*-ports"},
)
def mesh_proxy_bypass(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    ann = pod.annotations
    what = "pod annotation" if pod.meta_path == ("metadata",) else "pod template annotation"
    for key, effect in BYPASS_ANNOTATIONS.items():
        value = ann.get(key)
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        if not text.strip():
            continue
        yield Violation(pod.meta_path + ("annotations", key), f'{what} {key}="{text.strip()}": {effect}')


# --------------------------------------------------------------------------------------------
# KF-MTLS-008: Linkerd default inbound policy


def _linkerd_policy_violation(value: Any, path: Path, what: str) -> Violation | None:
    if not isinstance(value, str):
        return None
    v = value.strip()
    effect = LINKERD_WEAK_POLICIES.get(v)
    if effect is None:
        return None
    return Violation(path, f"{what} is {v}: it {effect} (expected one of {', '.join(LINKERD_STRONG_POLICIES)})")


def _linkerd_config_values(obj: K8sObject) -> Iterator[Violation]:
    text = obj.get("data", "values")
    if not isinstance(text, str):
        return
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError:
        return
    if not isinstance(values, dict):
        return
    proxy = values.get("proxy")
    pc = values.get("policyController")
    policy = proxy.get("defaultInboundPolicy") if isinstance(proxy, dict) else None
    key = "proxy.defaultInboundPolicy"
    if policy is None and isinstance(pc, dict) and pc.get("defaultAllowPolicy") is not None:
        policy, key = pc.get("defaultAllowPolicy"), "policyController.defaultAllowPolicy"  # Linkerd 2.11
    path: Path = ("data", "values")
    if policy is None:
        if isinstance(proxy, dict):
            yield Violation(
                path,
                "linkerd-config values do not set proxy.defaultInboundPolicy, so Linkerd's default "
                "all-unauthenticated applies: every client, meshed or not, is allowed",
            )
        return
    v = _linkerd_policy_violation(policy, path, f"linkerd-config value {key}")
    if v is not None:
        yield v


_DEFAULT_POLICY_ARG = re.compile(r"^--default-policy(?:=(.*))?$")


def _is_policy_controller(c: ContainerView) -> bool:
    image = c.image if isinstance(c.image, str) else ""
    return "policy-controller" in image or c.name == "policy"


def _sets_linkerd_policy(obj: K8sObject) -> bool:
    """Whether ``obj`` sets a Linkerd default inbound policy: the linkerd-config ConfigMap (the install's
    default), the policy controller, or an object with the annotation (on itself or its pod template).
    Any other object inherits a default set elsewhere: judged there, not on it (it gets no result)."""
    if obj.kind == "ConfigMap":
        return obj.name == "linkerd-config"
    if LINKERD_POLICY_ANNOTATION in obj.annotations:
        return True
    pod = pod_spec(obj) if obj.kind != "Namespace" else None
    if pod is None:
        return False
    return LINKERD_POLICY_ANNOTATION in pod.annotations or any(_is_policy_controller(c) for c in pod.containers())


def _policy_controller_args(obj: K8sObject) -> Iterator[Violation]:
    """The ``--default-policy`` flag of the Linkerd policy controller (linkerd-destination)."""
    pod = pod_spec(obj)
    if pod is None:
        return
    for c in pod.containers():
        if not _is_policy_controller(c):
            continue
        for list_name in ("command", "args"):
            items = c.raw.get(list_name)
            if not isinstance(items, list):
                continue
            for i, arg in enumerate(items):
                m = _DEFAULT_POLICY_ARG.match(arg) if isinstance(arg, str) else None
                if m is None:
                    continue
                value = m.group(1)
                if value is None and i + 1 < len(items):
                    value = items[i + 1]
                v = _linkerd_policy_violation(
                    value, c.at(list_name, i), f"Linkerd policy controller flag --default-policy in {c.label}"
                )
                if v is not None:
                    yield v


@rule(
    id="KF-MTLS-008",
    slug="linkerd-unauthenticated-inbound",
    title="Linkerd default inbound policy allows unauthenticated traffic",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=sorted({"Namespace", "ConfigMap", *WORKLOAD_KINDS}),
    applies=_sets_linkerd_policy,
    rationale="With an unauthenticated default inbound policy, meshed pods accept requests from clients "
    "without a mesh identity, so mTLS protects nothing against a caller outside the mesh.",
    remediation="Set config.linkerd.io/default-inbound-policy (or proxy.defaultInboundPolicy at install) to "
    "all-authenticated, cluster-authenticated or deny and grant access with Server/AuthorizationPolicy objects.",
    refs={"nsa": NSA, "linkerd": "config.linkerd.io/default-inbound-policy"},
)
def linkerd_unauthenticated_inbound(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind == "ConfigMap":
        yield from _linkerd_config_values(obj)
        return
    what = "namespace" if obj.kind == "Namespace" else obj.kind
    v = _linkerd_policy_violation(
        obj.annotations.get(LINKERD_POLICY_ANNOTATION),
        ("metadata", "annotations", LINKERD_POLICY_ANNOTATION),
        f"{what} annotation {LINKERD_POLICY_ANNOTATION}",
    )
    if v is not None:
        yield v
    if obj.kind == "Namespace":
        return
    pod = pod_spec(obj)
    if pod is not None and pod.meta_path != ("metadata",):
        v = _linkerd_policy_violation(
            pod.annotations.get(LINKERD_POLICY_ANNOTATION),
            pod.meta_path + ("annotations", LINKERD_POLICY_ANNOTATION),
            f"pod template annotation {LINKERD_POLICY_ANNOTATION}",
        )
        if v is not None:
            yield v
    yield from _policy_controller_args(obj)


# --------------------------------------------------------------------------------------------
# KF-MTLS-009: AuthorizationPolicy that allows everything


def _empty_rule(r: Any) -> bool:
    if r is None:
        return True
    if not isinstance(r, dict):
        return False
    return not any(r.get(k) for k in ("from", "to", "when"))


@rule(
    id="KF-MTLS-009",
    slug="authorization-policy-allows-all",
    title="Istio AuthorizationPolicy allows everything",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[AUTHORIZATION_POLICY],
    params=ROOT_NS_PARAM,
    rationale="An ALLOW rule with no from, to or when matches every request, including plaintext ones "
    "without a peer identity, and so defeats every other ALLOW policy on the same workloads.",
    remediation="Give each ALLOW rule a from.source (principals or namespaces, which require mTLS) and the "
    "operations it needs, or delete the policy.",
    refs={"nsa": NSA, "istio": "AuthorizationPolicy allow-all"},
)
def authorization_policy_allows_all(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    spec = _spec(obj)
    action = spec.get("action")
    if action not in (None, "ALLOW"):
        return
    rules = spec.get("rules")
    if not isinstance(rules, list):
        return
    mesh_wide = obj.namespace == ctx.param("istio_root_namespace") and not _has_selector(spec)
    if mesh_wide:
        scope, sev = "every workload of the mesh (root namespace, no selector)", Severity.HIGH
    elif _has_selector(spec):
        scope, sev = f'workloads selected by {_selector_text(spec)} in namespace "{obj.namespace}"', None
    else:
        scope, sev = f'every workload in namespace "{obj.namespace}"', None
    how = "ALLOW" if action else "ALLOW (default action)"
    for i, r in enumerate(rules):
        if _empty_rule(r):
            yield Violation(
                ("spec", "rules", i),
                f"{how} rule {i} has no from, to or when: it admits every request, plaintext ones included, to {scope}",
                severity=sev,
            )


RULES = [
    istio_no_mesh_wide_strict_mtls,
    workloads_outside_mesh,
    peer_authentication_disables_mtls,
    peer_authentication_permissive,
    destination_rule_disables_tls,
    destination_rule_tls_no_verify,
    mesh_proxy_bypass,
    linkerd_unauthenticated_inbound,
    authorization_policy_allows_all,
]
