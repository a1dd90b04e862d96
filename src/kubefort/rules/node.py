"""NODE rules: the kubelet's effective configuration, kube-proxy, node files and certificates.

The kubelet is judged on the ``NodeSnapshot`` of ``kubefort node audit`` (its flags over its config
file over the built-in defaults, catalogue legend 9), or on a ``KubeletConfiguration`` given to
``kubefort scan`` (the config file's defaults then apply: the kubelet's "legacy" flag defaults, e.g.
anonymous authentication on, only apply when it runs without ``--config``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from ..analysis.node.flags import KUBE_PROXY, Component, component, parse_duration
from ..analysis.node.snapshot import (
    CertFact,
    KubeletView,
    NodeView,
    Setting,
    is_loopback_host,
    is_unspecified_host,
    kubelet_view,
    split_host_port,
)
from ..analysis.node.targets import NodeTarget, NotApplicable, on_kubelet, on_snapshot
from ..engine.rule import Context, NotEvaluated, Rule, Scope, Severity, Violation, rule
from ..model.objects import K8sObject, Path
from .control_plane import COMPONENT_KINDS, existing, file_violations, node_of

NSA = "NSA/CISA: worker node / kubelet hardening"
KUBELET_KINDS = ("NodeSnapshot", "KubeletConfiguration")
# What each rule is about (its ``applies=``, which the node audit also reads: see analysis.node.targets)
KUBELET = on_kubelet()
NODE_FILES = on_snapshot("node files")
CERTS = on_snapshot("certificates")
#: Metadata shared by the rules of one target.
ON_KUBELET: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": KUBELET_KINDS, "applies": KUBELET}
ON_NODE_FILES: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": ["NodeSnapshot"], "applies": NODE_FILES}
ON_CERTIFICATES: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": ["NodeSnapshot"], "applies": CERTS}

#: Kubelet cipher suites the catalogue accepts (KF-NODE-014) plus the TLS 1.3 suites.
KUBELET_STRONG_CIPHERS = frozenset(
    {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
    }
)


def _kubelet(obj: K8sObject) -> KubeletView:
    k = kubelet_view(obj)
    if k is None:
        raise NotApplicable("no kubelet on this node")
    return k


def _say(k: KubeletView, s: Setting) -> str:
    return k.describe(s)


@rule(
    id="KF-NODE-001",
    slug="kubelet-anonymous-auth",
    title="Kubelet allows anonymous requests",
    severity=Severity.CRITICAL,
    rationale="With anonymous requests allowed, anyone who reaches port 10250 is system:anonymous; with a permissive "
    "authorization mode that means running commands in every pod of the node.",
    remediation="Set authentication.anonymous.enabled: false in the kubelet config (and remove --anonymous-auth=true).",
    refs={"cis": "4.2.1", "kubescape": ("C-0069", "C-0172"), "checkov": "CKV_K8S_138", "trivy": "KCV-0079", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_anonymous(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("authentication.anonymous.enabled")
    if s.value is not False:
        yield Violation(s.path, f"kubelet: {_say(k, s)} is {str(s.value).lower()}: anonymous requests are allowed")


@rule(
    id="KF-NODE-002",
    slug="kubelet-authorization-always-allow",
    title="Kubelet authorization mode AlwaysAllow",
    severity=Severity.CRITICAL,
    rationale="AlwaysAllow lets every authenticated (or anonymous) caller use the kubelet API: exec, logs, "
    "port-forward and pod listing on the node.",
    remediation="Set authorization.mode: Webhook in the kubelet config (and remove --authorization-mode=AlwaysAllow).",
    refs={"cis": "4.2.2", "kubescape": "C-0173", "checkov": "CKV_K8S_139", "trivy": "KCV-0080", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_always_allow(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("authorization.mode")
    if s.value == "AlwaysAllow":
        yield Violation(s.path, f"kubelet: {_say(k, s)} is AlwaysAllow: every request to the kubelet API is authorized")


@rule(
    id="KF-NODE-003",
    slug="kubelet-webhook-auth",
    title="Kubelet webhook authentication disabled",
    severity=Severity.HIGH,
    rationale="Without webhook token authentication and Webhook authorization the kubelet cannot ask the API server "
    "who a bearer token belongs to and what it may do, so service account tokens are useless against it and RBAC does "
    "not apply to the kubelet API.",
    remediation="Set authentication.webhook.enabled: true and authorization.mode: Webhook in the kubelet config.",
    refs={"k8s": "https://kubernetes.io/docs/reference/access-authn-authz/kubelet-authn-authz/", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_webhook(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("authentication.webhook.enabled")
    if s.value is not True:
        yield Violation(
            s.path,
            f"kubelet: {_say(k, s)} is {str(s.value).lower()}: bearer tokens are not checked with the API server",
            subcode="authn",
        )
    m = k.effective("authorization.mode")
    if m.value != "Webhook" and m.value != "AlwaysAllow":
        yield Violation(
            m.path,
            f"kubelet: {_say(k, m)} is {m.value}, not Webhook: RBAC does not apply to the kubelet API",
            subcode="authz",
        )
    elif m.value == "AlwaysAllow":
        yield Violation(m.path, f"kubelet: {_say(k, m)} is AlwaysAllow, not Webhook", subcode="authz")


@rule(
    id="KF-NODE-004",
    slug="kubelet-client-ca",
    title="Kubelet client CA not set",
    severity=Severity.HIGH,
    rationale="Without a client CA the kubelet cannot authenticate the API server's client certificate, so it cannot "
    "tell the control plane from any other caller.",
    remediation="Set authentication.x509.clientCAFile to the cluster CA (kubeadm: /etc/kubernetes/pki/ca.crt).",
    refs={"cis": "4.2.3", "kubescape": ("C-0070", "C-0174"), "checkov": "CKV_K8S_140", "trivy": "KCV-0081", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_client_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("authentication.x509.clientCAFile")
    if not (isinstance(s.value, str) and s.value.strip()):
        yield Violation(s.path, f"kubelet: {_say(k, s)} is empty: client certificates are not verified")


@rule(
    id="KF-NODE-005",
    slug="kubelet-read-only-port",
    title="Kubelet read-only port enabled",
    severity=Severity.MEDIUM,
    rationale="The read-only port (10255) serves pod specs, environment and metrics over HTTP with no authentication.",
    remediation="Set readOnlyPort: 0 in the kubelet config (and remove --read-only-port).",
    refs={"cis": "4.2.4", "kubescape": "C-0175", "checkov": "CKV_K8S_141", "trivy": "KCV-0082", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_read_only_port(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("readOnlyPort")
    if s.value != 0:
        yield Violation(s.path, f"kubelet: {_say(k, s)} is {s.value}: unauthenticated read-only HTTP port")


@rule(
    id="KF-NODE-006",
    slug="kubelet-streaming-timeout",
    title="Streaming connections never time out",
    severity=Severity.LOW,
    rationale="Idle exec, attach and port-forward streams that never time out pile up and keep sessions open long "
    "after their user left.",
    remediation="Set streamingConnectionIdleTimeout to a duration such as 5m (default 4h); never 0.",
    refs={"cis": "4.2.5", "kubescape": "C-0176", "checkov": "CKV_K8S_143", "trivy": "KCV-0085", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_streaming_timeout(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("streamingConnectionIdleTimeout")
    if parse_duration(s.value) == 0:
        yield Violation(s.path, f"kubelet: {_say(k, s)} is {s.value}: idle streams never time out")


@rule(
    id="KF-NODE-007",
    slug="kubelet-protect-kernel-defaults",
    title="Kernel defaults not protected",
    severity=Severity.LOW,
    rationale="With protectKernelDefaults the kubelet refuses to start when kernel tunables differ from what it "
    "expects, instead of silently changing them.",
    remediation="Set protectKernelDefaults: true in the kubelet config (after setting the kernel parameters it expects).",
    refs={"kubescape": "C-0177", "checkov": "CKV_K8S_144", "trivy": "KCV-0083", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_protect_kernel_defaults(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("protectKernelDefaults")
    if s.value is not True:
        yield Violation(s.path, f"kubelet: {_say(k, s)} is {str(s.value).lower()}")


@rule(
    id="KF-NODE-008",
    slug="kubelet-iptables-util-chains",
    title="Kubelet does not manage iptables chains",
    severity=Severity.LOW,
    rationale="When the kubelet does not maintain its iptables utility chains, pod networking rules can drift from "
    "what the kubelet expects.",
    remediation="Set makeIPTablesUtilChains: true (the default) in the kubelet config.",
    refs={"cis": "4.2.6", "kubescape": "C-0178", "checkov": "CKV_K8S_145", "trivy": "KCV-0084", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_iptables_chains(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("makeIPTablesUtilChains")
    if s.value is False or (s.source != "default" and s.value is not True):
        yield Violation(s.path, f"kubelet: {_say(k, s)} is {str(s.value).lower()}")


@rule(
    id="KF-NODE-009",
    slug="kubelet-hostname-override",
    title="Kubelet hostname override set",
    severity=Severity.INFO,
    params={"hostname_override_allowed": False},
    rationale="A hostname override can make the node name differ from the name in its serving certificate, which "
    "breaks TLS verification between the API server and the kubelet.",
    remediation="Remove --hostname-override unless the cloud provider requires it (then set the parameter hostname_override_allowed).",
    refs={"cis": "4.2.7", "kubescape": "C-0179", "checkov": "CKV_K8S_146", "trivy": "KCV-0086", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_hostname_override(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    if "hostname-override" in k.flags and not ctx.param("hostname_override_allowed"):
        yield Violation(
            k.flag_path("hostname-override"),
            f"kubelet: --hostname-override={k.flags.value('hostname-override')} is set",
        )


@rule(
    id="KF-NODE-010",
    slug="kubelet-event-qps",
    title="Kubelet event recording throttled too much",
    severity=Severity.INFO,
    params={"min_event_qps": 5},
    rationale="A very low event rate limit drops events that incident response relies on.",
    remediation="Set eventRecordQPS to 0 (no limit) or at least min_event_qps (default 5).",
    refs={"cis": "4.2.8", "kubescape": "C-0180", "checkov": "CKV_K8S_147", "trivy": "KCV-0087", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_event_qps(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("eventRecordQPS")
    v = s.value
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        yield Violation(s.path, f"kubelet: {_say(k, s)} is not a number")
        return
    minimum = float(ctx.param("min_event_qps"))
    if v < 0 or 0 < v < minimum:
        yield Violation(
            s.path, f"kubelet: {_say(k, s)} is {v} (below {ctx.param('min_event_qps')}): events are dropped"
        )


def _serving_cert(k: KubeletView) -> tuple[Setting, Setting, Setting]:
    return k.effective("tlsCertFile"), k.effective("tlsPrivateKeyFile"), k.effective("serverTLSBootstrap")


@rule(
    id="KF-NODE-011",
    slug="kubelet-serving-cert",
    title="Kubelet serving certificate not configured",
    severity=Severity.MEDIUM,
    rationale="Without a serving certificate the kubelet generates a self-signed one, so the API server cannot verify "
    "it is talking to the real node.",
    remediation="Set serverTLSBootstrap: true (and approve kubelet-serving CSRs) or set tlsCertFile and tlsPrivateKeyFile.",
    refs={
        "cis": "4.2.9",
        "kubescape": "C-0181",
        "checkov": "CKV_K8S_148",
        "trivy": ("KCV-0088", "KCV-0089"),
        "nsa": NSA,
    },
    **ON_KUBELET,
)
def kubelet_serving_cert(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    cert, key, boot = _serving_cert(k)
    if boot.value is True:
        return
    if not (cert.value and key.value):
        missing = cert if not cert.value else key
        yield Violation(
            missing.path,
            f"kubelet: {_say(k, missing)} is empty and serverTLSBootstrap is not true: "
            "the kubelet serves a self-signed certificate",
        )


@rule(
    id="KF-NODE-012",
    slug="kubelet-rotate-certificates",
    title="Kubelet client certificate rotation disabled",
    severity=Severity.MEDIUM,
    rationale="Without rotation the kubelet's client certificate expires and the node drops out of the cluster, or is "
    "issued for a long time and stays valid if stolen.",
    remediation="Set rotateCertificates: true in the kubelet config.",
    refs={"cis": "4.2.10", "kubescape": "C-0182", "checkov": "CKV_K8S_149", "trivy": "KCV-0090", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_rotate_certificates(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("rotateCertificates")
    if s.value is not True:
        yield Violation(
            s.path, f"kubelet: {_say(k, s)} is {str(s.value).lower()}: the client certificate is not rotated"
        )


@rule(
    id="KF-NODE-013",
    slug="kubelet-rotate-server-certificates",
    title="Kubelet serving certificate rotation disabled",
    severity=Severity.MEDIUM,
    rationale="Serving certificates must be renewed through the certificates API; otherwise they expire or stay "
    "self-signed.",
    remediation="Set serverTLSBootstrap: true and keep the RotateKubeletServerCertificate feature gate on.",
    refs={"cis": "4.2.11", "kubescape": "C-0183", "trivy": "KCV-0091", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_rotate_server_certificates(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    gates = k.effective("featureGates")
    if isinstance(gates.value, dict) and gates.value.get("RotateKubeletServerCertificate") is False:
        yield Violation(
            gates.path, f"kubelet: {_say(k, gates)} sets RotateKubeletServerCertificate=false", subcode="feature_gate"
        )
    cert, key, boot = _serving_cert(k)
    if boot.value is not True and not (cert.value and key.value):
        yield Violation(
            boot.path,
            f"kubelet: {_say(k, boot)} is {str(boot.value).lower()} and no static serving certificate is configured",
            subcode="no_bootstrap",
        )


@rule(
    id="KF-NODE-014",
    slug="kubelet-weak-tls",
    title="Kubelet weak TLS cipher suites",
    severity=Severity.MEDIUM,
    params={"require_explicit_ciphers": True},
    rationale="CBC and RSA key-exchange suites and TLS below 1.2 are weak; an explicit list keeps the kubelet from "
    "negotiating them.",
    remediation="Set tlsCipherSuites to ECDHE AES-GCM/ChaCha20 suites and tlsMinVersion: VersionTLS12 in the kubelet config.",
    refs={"cis": "4.2.12", "kubescape": "C-0184", "checkov": "CKV_K8S_151", "trivy": "KCV-0092", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_weak_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("tlsCipherSuites")
    suites = s.value if isinstance(s.value, list) else []
    if not suites:
        if ctx.param("require_explicit_ciphers"):
            yield Violation(s.path, f"kubelet: {_say(k, s)} is empty (Go defaults apply)", subcode="ciphers_unset")
    else:
        weak = [x for x in suites if x not in KUBELET_STRONG_CIPHERS]
        if weak:
            yield Violation(
                s.path, f"kubelet: {_say(k, s)} allows weak suites: {', '.join(weak)}", subcode="weak_ciphers"
            )
    mv = k.effective("tlsMinVersion")
    if mv.value in ("VersionTLS10", "VersionTLS11"):
        yield Violation(
            mv.path, f"kubelet: {_say(k, mv)} is {mv.value}: TLS below 1.2 is allowed", subcode="min_version"
        )


@rule(
    id="KF-NODE-015",
    slug="kubelet-pod-pids-limit",
    title="Pod PID limit not set",
    severity=Severity.LOW,
    rationale="Without a PID limit one pod can fork until the node runs out of process IDs and every pod on it fails.",
    remediation="Set podPidsLimit in the kubelet config (e.g. 4096).",
    refs={"cis": "4.2.13", "kubescape": "C-0284", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_pod_pids_limit(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("podPidsLimit")
    if s.source == "default" or s.value == -1 or not isinstance(s.value, (int, float)):
        state = "defaults to -1 (unlimited)" if s.source == "default" else f"is {s.value}"
        yield Violation(s.path, f"kubelet: {_say(k, s)} {state}")


@rule(
    id="KF-NODE-016",
    slug="kubelet-seccomp-default",
    title="Kubelet seccomp default disabled",
    severity=Severity.LOW,
    rationale="With seccompDefault the container runtime's default seccomp profile applies to every pod that does not "
    "choose one, closing many kernel attack paths.",
    remediation="Set seccompDefault: true in the kubelet config.",
    refs={"cis": "4.2.14", "nsa": NSA},
    **ON_KUBELET,
)
def kubelet_seccomp_default(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    k = _kubelet(obj)
    s = k.effective("seccompDefault")
    if s.value is not True:
        yield Violation(
            s.path, f"kubelet: {_say(k, s)} is {str(s.value).lower()}: pods without a profile run unconfined"
        )


# ---------------------------------------------------------------------------------------------------
# kube-proxy


def _is_proxy_config(obj: K8sObject) -> bool:
    return obj.kind == "KubeProxyConfiguration" and obj.api_version.startswith("kubeproxy.config.k8s.io/")


def _is_proxy_configmap(obj: K8sObject) -> bool:
    return obj.kind == "ConfigMap" and obj.name == "kube-proxy" and isinstance(obj.get("data", "config.conf"), str)


PROXY = NodeTarget(
    "kube-proxy",
    lambda o: component(o, KUBE_PROXY) is not None or _is_proxy_config(o) or _is_proxy_configmap(o),
    "no kube-proxy on this node (it usually runs as a DaemonSet)",
)


def _metrics_violation(addr: Any, path: Path, what: str) -> Iterator[Violation]:
    if not isinstance(addr, str) or not addr.strip():
        return
    host, _ = split_host_port(addr)
    if not is_loopback_host(host):
        every = " (every interface)" if is_unspecified_host(host) else ""
        yield Violation(path, f"kube-proxy: {what} {addr} is not a loopback address{every}")


@rule(
    id="KF-NODE-017",
    slug="kube-proxy-metrics-bind-address",
    title="kube-proxy metrics bound to non-localhost",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=(*COMPONENT_KINDS, "KubeProxyConfiguration", "ConfigMap"),
    cross_object=True,
    rationale="kube-proxy's metrics endpoint is unauthenticated HTTP; bound to all interfaces it exposes the "
    "node's service topology to the network.",
    remediation="Set metricsBindAddress: 127.0.0.1:10249 in the KubeProxyConfiguration (or --metrics-bind-address=127.0.0.1:10249).",
    refs={"cis": "4.3.1", "kubescape": "C-0291", "nsa": NSA},
    applies=PROXY,
)
def kube_proxy_metrics(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c: Component | None = component(obj, KUBE_PROXY)
    if c is not None:
        if c.is_set("metrics-bind-address"):
            yield from _metrics_violation(
                c.value("metrics-bind-address"), c.at("metrics-bind-address"), "--metrics-bind-address"
            )
        return
    if _is_proxy_config(obj):
        raw: Any = obj.raw
        path: Path = ("metricsBindAddress",)
    elif _is_proxy_configmap(obj):
        try:
            raw = yaml.safe_load(obj.get("data", "config.conf"))
        except yaml.YAMLError:
            raise NotEvaluated("the kube-proxy ConfigMap's config.conf is not valid YAML") from None
        path = ("data", "config.conf")
    else:
        return
    if not isinstance(raw, dict):
        return
    # a --metrics-bind-address flag on a kube-proxy of the input overrides the file
    for o in ctx.inventory.of_kind(*COMPONENT_KINDS):
        kp = component(o, KUBE_PROXY)
        if kp is not None and kp.is_set("metrics-bind-address"):
            return
    where = "metricsBindAddress" if _is_proxy_config(obj) else "config.conf metricsBindAddress"
    yield from _metrics_violation(raw.get("metricsBindAddress"), path, where)


# ---------------------------------------------------------------------------------------------------
# node files


def _kubelet_of_snapshot(node: NodeView) -> KubeletView:
    k = node.kubelet()
    if k is None:
        raise NotApplicable("no kubelet on this node")
    return k


@rule(
    id="KF-NODE-018",
    slug="kubelet-service-file-permissions",
    title="kubelet service file permissions/ownership",
    severity=Severity.HIGH,
    rationale="The kubelet unit and its drop-ins decide the kubelet's flags; whoever can write them can turn off "
    "authentication or run any command as root at the next restart.",
    remediation="Run chmod 600 and chown root:root on kubelet.service and its drop-ins (e.g. /etc/systemd/system/kubelet.service.d/10-kubeadm.conf).",
    refs={"cis": ("4.1.1", "4.1.2"), "kubescape": ("C-0162", "C-0163"), "trivy": ("KCV-0069", "KCV-0070"), "nsa": NSA},
    **ON_NODE_FILES,
)
def kubelet_service_files(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    kl = node.raw.get("kubelet")
    units = kl.get("unitFiles") if isinstance(kl, dict) else None
    paths = [u for u in units if isinstance(u, str)] if isinstance(units, list) else []
    if not paths:
        paths = [
            f.path
            for f in node.files_under("/etc/systemd/system/kubelet.service.d")
            + node.files_under("/usr/lib/systemd/system/kubelet.service.d")
            if f.type == "file"
        ]
        paths += [
            "/etc/systemd/system/kubelet.service",
            "/usr/lib/systemd/system/kubelet.service",
            "/lib/systemd/system/kubelet.service",
        ]
        paths = [p for p in paths if node.file(p) is not None]
        if not paths:
            raise NotApplicable("no kubelet systemd unit on this node")
    for f in existing(node, paths, "kubelet systemd unit"):
        yield from file_violations(f, 0o600, "kubelet unit file")


@rule(
    id="KF-NODE-019",
    slug="kube-proxy-kubeconfig-permissions",
    title="kube-proxy kubeconfig permissions/ownership",
    severity=Severity.MEDIUM,
    cross_object=True,
    rationale="kube-proxy's kubeconfig holds its credential; with it one can read every Service and Endpoint of "
    "the cluster and act as kube-proxy.",
    remediation="Run chmod 600 and chown root:root on the file named by kube-proxy --kubeconfig.",
    refs={"cis": ("4.1.3", "4.1.4"), "kubescape": ("C-0164", "C-0165"), "trivy": ("KCV-0071", "KCV-0072"), "nsa": NSA},
    **ON_NODE_FILES,
)
def kube_proxy_kubeconfig(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    paths = []
    for o in ctx.inventory.of_kind(*COMPONENT_KINDS):
        kp = component(o, KUBE_PROXY)
        if kp is not None and kp.value("kubeconfig"):
            paths.append(kp.value("kubeconfig") or "")
    for o in ctx.inventory.of_kind("KubeProxyConfiguration"):
        cc = o.get("clientConnection", "kubeconfig")
        if isinstance(cc, str) and cc:
            paths.append(cc)
    if not paths:
        raise NotApplicable("no kube-proxy kubeconfig on this node (kube-proxy usually runs as a DaemonSet)")
    for f in existing(node, paths, "kube-proxy kubeconfig", named_by="kube-proxy"):
        yield from file_violations(f, 0o600, "kube-proxy kubeconfig")


@rule(
    id="KF-NODE-020",
    slug="kubelet-kubeconfig-permissions",
    title="kubelet kubeconfig permissions/ownership",
    severity=Severity.HIGH,
    rationale="The kubelet's kubeconfig holds the node's credential (system:node:<name>); with it one can read "
    "the Secrets of every pod on the node and change the node's status.",
    remediation="Run chmod 600 /etc/kubernetes/kubelet.conf and chown root:root on it.",
    refs={
        "cis": ("4.1.5", "4.1.6"),
        "kubescape": ("C-0166", "C-0167", "C-0238"),
        "trivy": ("KCV-0073", "KCV-0074"),
        "nsa": NSA,
    },
    **ON_NODE_FILES,
)
def kubelet_kubeconfig(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    k = _kubelet_of_snapshot(node)
    path = k.flags.value("kubeconfig")
    for f in existing(
        node,
        [path or "/etc/kubernetes/kubelet.conf"],
        "kubelet kubeconfig",
        named_by="kubelet --kubeconfig" if path else None,
    ):
        yield from file_violations(f, 0o600, "kubelet kubeconfig")


@rule(
    id="KF-NODE-021",
    slug="kubelet-client-ca-permissions",
    title="kubelet client CA file permissions/ownership",
    severity=Severity.MEDIUM,
    rationale="The client CA decides whose client certificates the kubelet trusts; whoever can replace it can "
    "use the kubelet API with certificates of their own CA.",
    remediation="Run chmod 644 (or stricter) and chown root:root on the file named by authentication.x509.clientCAFile.",
    refs={"cis": ("4.1.7", "4.1.8"), "kubescape": ("C-0168", "C-0169"), "trivy": ("KCV-0075", "KCV-0076"), "nsa": NSA},
    **ON_NODE_FILES,
)
def kubelet_client_ca_file(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    k = _kubelet_of_snapshot(node)
    s = k.effective("authentication.x509.clientCAFile")
    if not (isinstance(s.value, str) and s.value):
        raise NotApplicable("the kubelet has no client CA file (see KF-NODE-004)")
    for f in existing(node, [s.value], "kubelet client CA file", named_by=f"kubelet {k.describe(s)}"):
        yield from file_violations(f, 0o644, "kubelet client CA")


@rule(
    id="KF-NODE-022",
    slug="kubelet-config-permissions",
    title="kubelet config file permissions/ownership",
    severity=Severity.HIGH,
    rationale="The kubelet config file sets its authentication, authorization and ports; whoever can write it "
    "can open the kubelet API at the next restart.",
    remediation="Run chmod 600 /var/lib/kubelet/config.yaml and chown root:root on it.",
    refs={
        "cis": ("4.1.9", "4.1.10"),
        "kubescape": ("C-0170", "C-0171", "C-0235"),
        "trivy": ("KCV-0077", "KCV-0078"),
        "nsa": NSA,
    },
    **ON_NODE_FILES,
)
def kubelet_config_file(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    k = _kubelet_of_snapshot(node)
    path = k.flags.value("config")
    for f in existing(
        node,
        [path or "/var/lib/kubelet/config.yaml"],
        "kubelet config file",
        named_by="kubelet --config" if path else None,
    ):
        yield from file_violations(f, 0o600, "kubelet config")


# ---------------------------------------------------------------------------------------------------
# certificates


def _parse_time(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if not isinstance(v, str):
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _certs(obj: K8sObject) -> list[CertFact]:
    certs = node_of(obj).certificates()
    if not certs:
        raise NotApplicable("no certificate on this node")
    return certs


def _used(c: CertFact) -> str:
    ub = c.get("usedBy")
    return f" (used as {', '.join(str(x) for x in ub[:3])})" if isinstance(ub, list) and ub else ""


@rule(
    id="KF-NODE-023",
    slug="certificate-expiry",
    title="Certificate expired or expiring soon",
    severity=Severity.HIGH,
    params={"cert_expiry_days": 30},
    rationale="An expired certificate stops the component that presents it (API server, kubelet, etcd) or "
    "locks out the admin; kubeadm certificates last one year unless renewed by upgrades.",
    remediation="Renew the certificate before it expires (kubeadm certs renew <name>, or enable kubelet certificate rotation) and restart the component.",
    refs={
        "kubefort": "certificate lifecycle",
        "k8s": "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/",
    },
    **ON_CERTIFICATES,
)
def certificate_expiry(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    now = datetime.now(UTC)
    soon = now + timedelta(days=float(ctx.param("cert_expiry_days")))
    for c in _certs(obj):
        if c.get("error"):
            continue
        na = _parse_time(c.get("notAfter"))
        if na is None:
            continue
        day = na.strftime("%Y-%m-%d")
        if na <= now:
            yield Violation(
                ("certificates", c.index),
                f"{c.where}: certificate {c.get('subject')} expired on {day}{_used(c)}",
                severity=Severity.CRITICAL,
                subcode="expired",
            )
        elif na <= soon:
            days = (na - now).days
            yield Violation(
                ("certificates", c.index),
                f"{c.where}: certificate {c.get('subject')} expires on {day} (in {days} days){_used(c)}",
                subcode="expiring",
            )


@rule(
    id="KF-NODE-024",
    slug="certificate-weak-key",
    title="Weak certificate key",
    severity=Severity.MEDIUM,
    rationale="RSA keys under 2048 bits, EC keys under 256 bits and SHA-1/MD5 signatures can be broken or "
    "forged; a self-signed leaf certificate cannot be verified by anyone.",
    remediation="Reissue the certificate with an RSA 2048+ or ECDSA P-256+ key signed with SHA-256 by the cluster CA.",
    refs={"kubefort": "certificate strength", "k8s": "https://kubernetes.io/docs/setup/best-practices/certificates/"},
    **ON_CERTIFICATES,
)
def certificate_weak_key(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for c in _certs(obj):
        if c.get("error"):
            continue
        kt, bits, sig = c.get("keyType"), c.get("keyBits"), str(c.get("signatureHash") or "").lower()
        if isinstance(bits, int) and ((kt in ("RSA", "DSA") and bits < 2048) or (kt == "EC" and bits < 256)):
            yield Violation(
                ("certificates", c.index), f"{c.where}: {kt} key of {bits} bits{_used(c)}", subcode="key_size"
            )
        if sig in ("sha1", "md5"):
            yield Violation(
                ("certificates", c.index), f"{c.where}: signed with {sig.upper()}{_used(c)}", subcode="signature"
            )
        if c.get("selfSigned") is True and c.get("ca") is not True:
            yield Violation(
                ("certificates", c.index),
                f"{c.where}: self-signed leaf certificate {c.get('subject')}: "
                f"clients cannot verify it against a CA{_used(c)}",
                subcode="self_signed",
            )


RULES: list[Rule] = [
    kubelet_anonymous,
    kubelet_always_allow,
    kubelet_webhook,
    kubelet_client_ca,
    kubelet_read_only_port,
    kubelet_streaming_timeout,
    kubelet_protect_kernel_defaults,
    kubelet_iptables_chains,
    kubelet_hostname_override,
    kubelet_event_qps,
    kubelet_serving_cert,
    kubelet_rotate_certificates,
    kubelet_rotate_server_certificates,
    kubelet_weak_tls,
    kubelet_pod_pids_limit,
    kubelet_seccomp_default,
    kube_proxy_metrics,
    kubelet_service_files,
    kube_proxy_kubeconfig,
    kubelet_kubeconfig,
    kubelet_client_ca_file,
    kubelet_config_file,
    certificate_expiry,
    certificate_weak_key,
]
