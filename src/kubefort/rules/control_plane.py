"""CP rules: kube-apiserver, kube-controller-manager and kube-scheduler flags, and control-plane files.

Flag rules judge a component wherever it runs in a pod-bearing object: a static pod manifest given
to ``kubefort scan`` (``/etc/kubernetes/manifests/kube-apiserver.yaml``), a hosted control plane's
Deployment, or the Pods ``kubefort node audit`` builds from processes and systemd units. Flags are
read as the components read them (:mod:`kubefort.analysis.node.flags`); unset flags take the
upstream default, and a message says when the default is what fails.

File rules (CP-045..055) judge the ``NodeSnapshot`` written by ``kubefort node audit``; a missing
file is "not applicable", never a pass.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

from ..analysis.node.configs import (
    APISERVER_CONFIG_GROUP,
    POD_SECURITY,
    admission_config,
    at_least_metadata,
    audit_rules,
    config_object,
    coverage,
    is_admission_config,
    is_audit_policy,
    is_pod_security_config,
    pod_security_settings,
    rule_path,
)
from ..analysis.node.flags import (
    APISERVER,
    CONTROLLER_MANAGER,
    SCHEDULER,
    Component,
    components,
    parse_duration,
    parse_feature_gates,
)
from ..analysis.node.snapshot import (
    FileFact,
    NodeView,
    is_loopback_host,
    snapshot_of,
)
from ..analysis.node.targets import NotApplicable, on_component, on_snapshot
from ..engine.rule import Context, NotEvaluated, Rule, Scope, Severity, Violation, rule
from ..model.objects import K8sObject, Path

NSA = "NSA/CISA: control plane hardening / audit logging"
#: Kinds a control-plane component may run in: static pods, and Deployments/StatefulSets/DaemonSets
#: of hosted control planes and self-hosted clusters.
COMPONENT_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet")

# What each rule is about (its ``applies=``, which the node audit also reads: see analysis.node.targets)
API = on_component(APISERVER)
API_OR_POLICY = on_component(APISERVER, is_audit_policy)
KCM = on_component(CONTROLLER_MANAGER)
SCHED = on_component(SCHEDULER)
CP_FILES = on_snapshot("control-plane files")
#: Metadata shared by the rules of one target: a flag rule judges its component wherever it runs; a
#: file rule judges the NodeSnapshot.
ON_APISERVER: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": COMPONENT_KINDS, "applies": API}
ON_CONTROLLER_MANAGER: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": COMPONENT_KINDS, "applies": KCM}
ON_SCHEDULER: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": COMPONENT_KINDS, "applies": SCHED}
ON_CP_FILES: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": ["NodeSnapshot"], "applies": CP_FILES}

#: Strong cipher suites (catalogue KF-CP-034; Go's TLS 1.3 suites and the AEAD ECDHE suites of TLS 1.2).
STRONG_CIPHERS = frozenset(
    {
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    }
)
WEAK_TLS_VERSIONS = frozenset({"VersionTLS10", "VersionTLS11"})


def _comp(obj: K8sObject, name: str) -> Component | None:
    comps = obj.memo.get("kf.components")  # fast path: the engine calls every CP rule on every workload
    if comps is None:
        comps = components(obj)
    return comps.get(name)


def _flag_shown(c: Component, name: str) -> str:
    v = c.value(name)
    return f"--{name}" if v is None else f"--{name}={v}"


def _require_false(c: Component, flag: str, what: str) -> Iterator[Violation]:
    """A boolean flag whose default is true must be set to false."""
    v = c.bool(flag, True)
    if v is False:
        return
    if not c.is_set(flag):
        yield Violation(c.at(flag), f"{c.label}: --{flag} is not set (default true): {what}")
    elif v is None:
        yield Violation(c.at(flag), f"{c.label}: {_flag_shown(c, flag)} is not a boolean: {what}")
    else:
        yield Violation(c.at(flag), f"{c.label}: {_flag_shown(c, flag)}: {what}")


def _require_set(c: Component, what: str, *flags: str) -> Iterator[Violation]:
    for f in flags:
        if not (c.value(f) or "").strip():
            yield Violation(c.at(f), f"{c.label}: --{f} is not set: {what}")


def _must_be_unset(c: Component, flag: str, what: str) -> Iterator[Violation]:
    if c.is_set(flag) and (c.value(flag) or "").strip():
        yield Violation(c.at(flag), f"{c.label}: --{flag} is set: {what}")


def _plugin_enabled(c: Component, plugin: str, what: str) -> Iterator[Violation]:
    if plugin not in c.items("enable-admission-plugins"):
        state = "is not set" if not c.is_set("enable-admission-plugins") else f"does not contain {plugin}"
        yield Violation(c.at("enable-admission-plugins"), f"{c.label}: --enable-admission-plugins {state}: {what}")


def _plugin_not_disabled(c: Component, plugin: str, what: str) -> Iterator[Violation]:
    if plugin in c.items("disable-admission-plugins"):
        yield Violation(
            c.at("disable-admission-plugins"), f"{c.label}: --disable-admission-plugins contains {plugin}: {what}"
        )


def _int_flag(c: Component, flag: str) -> int | None:
    v = c.value(flag)
    if v is None:
        return None
    try:
        return int(v.strip())
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------------
# kube-apiserver: authentication


@rule(
    id="KF-CP-001",
    slug="apiserver-anonymous-auth",
    title="API server allows anonymous requests",
    severity=Severity.HIGH,
    cross_object=True,
    rationale="Requests without credentials reach the API server as system:anonymous; any RBAC binding to "
    "system:anonymous or system:unauthenticated (or a future mistake) then opens the cluster to the network.",
    remediation="Set --anonymous-auth=false (or, with an AuthenticationConfiguration, restrict anonymous.conditions to /livez, /readyz and /healthz).",
    refs={"cis": "1.2.1", "kubescape": "C-0113", "checkov": "CKV_K8S_68", "trivy": "KCV-0001", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_anonymous_auth(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    cfg_path = c.value("authentication-config")
    if cfg_path:
        cfg = config_object(ctx.inventory, "AuthenticationConfiguration", APISERVER_CONFIG_GROUP, cfg_path)
        anon = cfg.raw.get("anonymous") if cfg is not None else None
        if isinstance(anon, dict) or (cfg is not None and anon is not None):
            if not isinstance(anon, dict) or anon.get("enabled") is not True:
                return
            conds = anon.get("conditions")
            paths = [x.get("path") for x in conds if isinstance(x, dict)] if isinstance(conds, list) else []
            if paths and all(p in ("/livez", "/readyz", "/healthz") for p in paths):
                return
            what = "every path" if not paths else ", ".join(str(p) for p in paths)
            yield Violation(
                c.at("authentication-config"),
                f"{c.label}: the AuthenticationConfiguration {cfg_path} enables anonymous requests for {what}",
            )
            return
        if cfg is None and c.bool("anonymous-auth", True) is not False:
            raise NotEvaluated(
                f"anonymous authentication may be configured in {cfg_path} "
                "(--authentication-config), which is not in the input"
            )
    yield from _require_false(c, "anonymous-auth", "unauthenticated requests are served as system:anonymous")


@rule(
    id="KF-CP-002",
    slug="apiserver-token-auth-file",
    title="Static token file authentication enabled",
    severity=Severity.HIGH,
    rationale="Static tokens live in clear text in a file on every control-plane node, never expire and can only "
    "be changed by restarting the API server.",
    remediation="Remove --token-auth-file and use client certificates, OIDC or webhook token authentication.",
    refs={"cis": "1.2.2", "kubescape": "C-0114", "checkov": "CKV_K8S_70", "trivy": "KCV-0002", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_token_auth_file(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _must_be_unset(
            c, "token-auth-file", "static bearer tokens in a file, valid until the API server restarts"
        )


@rule(
    id="KF-CP-003",
    slug="apiserver-basic-auth-file",
    title="Basic authentication file configured",
    severity=Severity.HIGH,
    rationale="Basic authentication sends reusable passwords with every request; the flag was removed in 1.19, "
    "so its presence marks an outdated and weakly authenticated control plane.",
    remediation="Remove --basic-auth-file and move users to client certificates or OIDC.",
    refs={"checkov": "CKV_K8S_69", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_basic_auth_file(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _must_be_unset(c, "basic-auth-file", "passwords in a file (removed in Kubernetes 1.19)")


@rule(
    id="KF-CP-004",
    slug="apiserver-deny-service-external-ips",
    title="DenyServiceExternalIPs not enabled",
    severity=Severity.MEDIUM,
    rationale="Whoever can create a Service can set spec.externalIPs to any address and intercept traffic meant "
    "for it (CVE-2020-8554); the admission plugin rejects new external IPs.",
    remediation="Add DenyServiceExternalIPs to --enable-admission-plugins.",
    refs={"cis": "1.2.3", "kubescape": "C-0283", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_deny_external_ips(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _plugin_enabled(c, "DenyServiceExternalIPs", "Services may claim any external IP (CVE-2020-8554)")


@rule(
    id="KF-CP-005",
    slug="apiserver-kubelet-client-cert",
    title="API server has no kubelet client certificate",
    severity=Severity.HIGH,
    rationale="Without a client certificate the API server cannot authenticate to kubelets, which then must "
    "allow anonymous or unauthenticated access for exec, logs and port-forward to work.",
    remediation="Set --kubelet-client-certificate and --kubelet-client-key (kubeadm: apiserver-kubelet-client.crt/.key).",
    refs={"cis": "1.2.4", "kubescape": "C-0116", "checkov": "CKV_K8S_72", "trivy": "KCV-0005", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_kubelet_client_cert(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(
            c, "the API server cannot authenticate to kubelets", "kubelet-client-certificate", "kubelet-client-key"
        )


@rule(
    id="KF-CP-006",
    slug="apiserver-kubelet-ca",
    title="API server does not verify kubelet certificates",
    severity=Severity.HIGH,
    rationale="Without a CA for kubelet serving certificates, the API server accepts any certificate when it "
    "connects to a kubelet (exec, logs, port-forward): a spoofed node can intercept those sessions.",
    remediation="Set --kubelet-certificate-authority to the CA that signs kubelet serving certificates (and enable serverTLSBootstrap on kubelets).",
    refs={"cis": "1.2.5", "kubescape": "C-0117", "checkov": "CKV_K8S_73", "trivy": "KCV-0006", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_kubelet_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(c, "kubelet serving certificates are not verified", "kubelet-certificate-authority")


@rule(
    id="KF-CP-007",
    slug="apiserver-kubelet-https-disabled",
    title="API server talks to kubelets over HTTP",
    severity=Severity.MEDIUM,
    rationale="With --kubelet-https=false exec, attach and log streams travel unencrypted between API server and "
    "nodes.",
    remediation="Remove --kubelet-https=false (the flag was removed in 1.22; HTTPS is the only mode since).",
    refs={"checkov": "CKV_K8S_71", "trivy": "KCV-0004", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_kubelet_https(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None and c.is_set("kubelet-https") and c.bool("kubelet-https", True) is False:
        yield Violation(
            c.at("kubelet-https"), f"{c.label}: {_flag_shown(c, 'kubelet-https')}: kubelet connections are plain HTTP"
        )


# ---------------------------------------------------------------------------------------------------
# kube-apiserver: authorization


def _authorizers(c: Component, ctx: Context) -> tuple[list[str], str]:
    """The authorizer types in effect and how to name their source; raises NotEvaluated when they live
    in an AuthorizationConfiguration that is not in the input."""
    cfg_path = c.value("authorization-config")
    if cfg_path:
        cfg = config_object(ctx.inventory, "AuthorizationConfiguration", APISERVER_CONFIG_GROUP, cfg_path)
        if cfg is None:
            raise NotEvaluated(
                f"authorizers are configured in {cfg_path} (--authorization-config), which is not in the input"
            )
        auths = cfg.raw.get("authorizers")
        types = [str(a.get("type")) for a in auths if isinstance(a, dict)] if isinstance(auths, list) else []
        return types, f"the AuthorizationConfiguration {cfg_path}"
    if c.is_set("authorization-mode"):
        return c.items("authorization-mode"), f"--authorization-mode={c.value('authorization-mode')}"
    return ["AlwaysAllow"], "--authorization-mode (not set; default AlwaysAllow)"


def _where_authz(c: Component) -> Path:
    return c.at("authorization-config") if c.is_set("authorization-config") else c.at("authorization-mode")


@rule(
    id="KF-CP-008",
    slug="apiserver-authorization-always-allow",
    title="Authorization mode AlwaysAllow",
    severity=Severity.CRITICAL,
    cross_object=True,
    rationale="AlwaysAllow authorizes every authenticated request: any credential, even a pod's service account "
    "token, becomes cluster-admin.",
    remediation="Set --authorization-mode=Node,RBAC (or authorizers of type Node and RBAC in the AuthorizationConfiguration).",
    refs={"cis": "1.2.6", "kubescape": "C-0118", "checkov": "CKV_K8S_74", "trivy": "KCV-0007", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_always_allow(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    types, where = _authorizers(c, ctx)
    if "AlwaysAllow" in types:
        yield Violation(_where_authz(c), f"{c.label}: {where} authorizes every request (AlwaysAllow)")


def _authorizer_missing(c: Component, ctx: Context, mode: str, what: str) -> Iterator[Violation]:
    types, where = _authorizers(c, ctx)
    if mode not in types:
        yield Violation(_where_authz(c), f"{c.label}: {where} does not include {mode}: {what}")


@rule(
    id="KF-CP-009",
    slug="apiserver-node-authorizer",
    title="Node authorizer not enabled",
    severity=Severity.MEDIUM,
    cross_object=True,
    rationale="The Node authorizer limits each kubelet to the Secrets, ConfigMaps and volumes of the pods "
    "scheduled on it; without it a compromised node can read every Secret its RBAC group allows.",
    remediation="Add Node to --authorization-mode (before RBAC), and enable the NodeRestriction admission plugin.",
    refs={"cis": "1.2.7", "kubescape": "C-0119", "checkov": "CKV_K8S_75", "trivy": "KCV-0008", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_node_authorizer(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _authorizer_missing(c, ctx, "Node", "kubelets are not limited to their own pods' objects")


@rule(
    id="KF-CP-010",
    slug="apiserver-rbac-authorizer",
    title="RBAC authorizer not enabled",
    severity=Severity.HIGH,
    cross_object=True,
    rationale="Without RBAC, Roles and RoleBindings have no effect; access is decided by whatever else is "
    "configured (often AlwaysAllow or a static ABAC file).",
    remediation="Add RBAC to --authorization-mode (e.g. --authorization-mode=Node,RBAC).",
    refs={"cis": "1.2.8", "kubescape": ("C-0120", "C-0088"), "checkov": "CKV_K8S_77", "trivy": "KCV-0009", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_rbac_authorizer(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _authorizer_missing(c, ctx, "RBAC", "Roles and RoleBindings are not enforced")


# ---------------------------------------------------------------------------------------------------
# kube-apiserver: admission plugins


@rule(
    id="KF-CP-011",
    slug="apiserver-event-rate-limit",
    title="EventRateLimit admission plugin not enabled",
    severity=Severity.LOW,
    rationale="Without event rate limits a misbehaving or hostile client can flood the API server and etcd "
    "with Events.",
    remediation="Add EventRateLimit to --enable-admission-plugins and configure its limits in --admission-control-config-file.",
    refs={"cis": "1.2.9", "kubescape": "C-0121", "checkov": "CKV_K8S_78", "trivy": "KCV-0010", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_event_rate_limit(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _plugin_enabled(c, "EventRateLimit", "Event floods are not throttled")


@rule(
    id="KF-CP-012",
    slug="apiserver-always-admit",
    title="AlwaysAdmit admission plugin enabled",
    severity=Severity.HIGH,
    rationale="AlwaysAdmit admits every request whatever the other plugins say; it was deprecated because it "
    "disables admission control.",
    remediation="Remove AlwaysAdmit from --enable-admission-plugins.",
    refs={"cis": "1.2.10", "kubescape": "C-0122", "checkov": "CKV_K8S_79", "trivy": "KCV-0011", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_always_admit(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None and "AlwaysAdmit" in c.items("enable-admission-plugins"):
        yield Violation(
            c.at("enable-admission-plugins"),
            f"{c.label}: --enable-admission-plugins contains AlwaysAdmit: every request is admitted",
        )


@rule(
    id="KF-CP-013",
    slug="apiserver-always-pull-images",
    title="AlwaysPullImages admission plugin not enabled",
    severity=Severity.LOW,
    rationale="With cached images, a pod of one tenant can run a private image another tenant pulled onto the "
    "node, without having the pull secret; AlwaysPullImages makes the registry check credentials every time.",
    remediation="On multi-tenant clusters add AlwaysPullImages to --enable-admission-plugins (it costs registry traffic).",
    refs={"cis": "1.2.11", "kubescape": "C-0123", "checkov": "CKV_K8S_80", "trivy": "KCV-0012", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_always_pull_images(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _plugin_enabled(c, "AlwaysPullImages", "cached private images can be used without their pull secret")


@rule(
    id="KF-CP-014",
    slug="apiserver-serviceaccount-plugin-disabled",
    title="ServiceAccount admission plugin disabled",
    severity=Severity.MEDIUM,
    rationale="The ServiceAccount plugin assigns service accounts and checks that pods only use existing ones; "
    "disabling it breaks token projection and lets pods name arbitrary accounts.",
    remediation="Remove ServiceAccount from --disable-admission-plugins.",
    refs={"cis": "1.2.12", "kubescape": "C-0125", "checkov": "CKV_K8S_82", "trivy": "KCV-0014", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_serviceaccount_plugin(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _plugin_not_disabled(c, "ServiceAccount", "service accounts of pods are not checked")


@rule(
    id="KF-CP-015",
    slug="apiserver-namespace-lifecycle-disabled",
    title="NamespaceLifecycle admission plugin disabled",
    severity=Severity.MEDIUM,
    rationale="NamespaceLifecycle refuses objects in terminating or missing namespaces and protects the system "
    "namespaces from deletion.",
    remediation="Remove NamespaceLifecycle from --disable-admission-plugins.",
    refs={"cis": "1.2.13", "kubescape": "C-0126", "checkov": "CKV_K8S_83", "trivy": "KCV-0015", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_namespace_lifecycle(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _plugin_not_disabled(c, "NamespaceLifecycle", "objects can be created in terminating namespaces")


@rule(
    id="KF-CP-016",
    slug="apiserver-node-restriction",
    title="NodeRestriction admission plugin not enabled",
    severity=Severity.HIGH,
    rationale="Without NodeRestriction a kubelet may modify other Node objects and pods bound to other nodes, "
    "and set labels that steer workloads to it: one compromised node spreads to others.",
    remediation="Add NodeRestriction to --enable-admission-plugins (kubeadm enables it).",
    refs={"cis": "1.2.14", "kubescape": "C-0127", "checkov": "CKV_K8S_85", "trivy": "KCV-0016", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_node_restriction(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _plugin_enabled(c, "NodeRestriction", "kubelets may modify other nodes and their pods")


# ---------------------------------------------------------------------------------------------------
# kube-apiserver: PodSecurity admission defaults (KF-ADM-006, an ADM rule judged with the API server)

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
UNCHECKED = f"pods in namespaces without a {ENFORCE_LABEL} label are admitted without Pod Security checks"
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
#: about the API server and the PodSecurity configuration it reads (the node audit lists it with the
#: kube-apiserver checks)
API_OR_PSA = on_component(APISERVER, is_admission_config, is_pod_security_config)


def _strs(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def _psa_violations(settings: Mapping[str, Any], base: Path, where: str, ctx: Context) -> Iterator[Violation]:
    defaults = settings.get("defaults")
    level = defaults.get("enforce") if isinstance(defaults, dict) else None
    if not (isinstance(level, str) and level):
        at = base + ("defaults",) if isinstance(defaults, dict) else base
        yield Violation(at, f"{where} sets no defaults.enforce, so it is privileged: {UNCHECKED}", subcode="defaults")
    elif level == "privileged":
        yield Violation(
            base + ("defaults", "enforce"), f"{where}: defaults.enforce is privileged: {UNCHECKED}", subcode="defaults"
        )
    exemptions = settings.get("exemptions")
    exemptions = exemptions if isinstance(exemptions, dict) else {}
    users = _strs(exemptions.get("usernames"))
    if users:
        controllers = [
            u for u in users if u.startswith("system:serviceaccount:kube-system:") and u.endswith("controller")
        ]
        also = (
            f" ({', '.join(controllers)} creates the pods of workloads: every such pod is exempt)"
            if controllers
            else ""
        )
        yield Violation(
            base + ("exemptions", "usernames"),
            f"{where} exempts the users {', '.join(users)}: pods they create skip every Pod Security check{also}",
            subcode="exempt_usernames",
        )
    classes = _strs(exemptions.get("runtimeClasses"))
    if classes:
        yield Violation(
            base + ("exemptions", "runtimeClasses"),
            f"{where} exempts pods of the runtime classes {', '.join(classes)} from every Pod Security check",
            subcode="exempt_runtime_classes",
        )
    system = SYSTEM_NAMESPACES | set(_strs(ctx.param("system_namespaces")))
    spaces = [n for n in _strs(exemptions.get("namespaces")) if n not in system]
    if spaces:
        yield Violation(
            base + ("exemptions", "namespaces"),
            f"{where} exempts namespaces other than the system ones from every Pod Security check: {', '.join(spaces)}",
            subcode="exempt_namespaces",
        )


@rule(
    id="KF-ADM-006",
    slug="pod-security-defaults-permissive",
    title="PodSecurity admission defaults or exemptions too permissive",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[*COMPONENT_KINDS, "AdmissionConfiguration", "PodSecurityConfiguration"],
    applies=API_OR_PSA,
    cross_object=True,
    params={"system_namespaces": []},
    rationale="Namespaces without an enforce label get the PodSecurity defaults, privileged unless configured, "
    "and exempt users, runtime classes and namespaces skip every check: privileged pods get in through them.",
    remediation="Set defaults.enforce to baseline (or restricted) in the PodSecurity configuration of "
    "--admission-control-config-file and keep exemptions to the system namespaces.",
    refs={
        "k8s": "https://kubernetes.io/docs/tasks/configure-pod-container/enforce-standards-admission-controller/",
        "nsa": "NSA/CISA: pod security (admission)",
    },
)
def pod_security_defaults_permissive(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_admission_config(obj):
        got = pod_security_settings(obj, ctx.inventory)
        if isinstance(got, str):
            raise NotEvaluated(f"the PodSecurity configuration is in {got} (plugins[].path), which is not in the input")
        holder, base, settings = got
        if holder is obj:  # a separate PodSecurityConfiguration file is judged on itself
            yield from _psa_violations(settings, base, "the AdmissionConfiguration's PodSecurity configuration", ctx)
        return
    if is_pod_security_config(obj):
        yield from _psa_violations(obj.raw, (), "the PodSecurityConfiguration", ctx)
        return
    c = _comp(obj, APISERVER)
    if c is None:
        return
    if POD_SECURITY in c.items("disable-admission-plugins"):
        yield Violation(
            c.at("disable-admission-plugins"),
            f"{c.label}: --disable-admission-plugins contains PodSecurity: no Pod Security level is enforced, "
            "neither the namespace labels nor any default",
            subcode="disabled",
        )
        return
    flag = c.value("admission-control-config-file")
    if not flag:
        yield Violation(
            c.at("admission-control-config-file"),
            f"{c.label}: --admission-control-config-file is not set, so PodSecurity admission uses its built-in "
            f"defaults, enforce privileged: {UNCHECKED}",
            subcode="defaults",
        )
    elif admission_config(ctx.inventory, flag) is None:
        raise NotEvaluated(
            f"the PodSecurity defaults are in {flag} (--admission-control-config-file), which is not in the input"
        )


# ---------------------------------------------------------------------------------------------------
# kube-apiserver: ports, profiling, audit


@rule(
    id="KF-CP-017",
    slug="apiserver-insecure-port",
    title="Insecure API port enabled",
    severity=Severity.CRITICAL,
    rationale="The insecure port serves the full API over HTTP with no authentication and no authorization.",
    remediation="Remove --insecure-port and --insecure-bind-address (or set --insecure-port=0 on releases before 1.24).",
    refs={"kubescape": "C-0005", "checkov": ("CKV_K8S_86", "CKV_K8S_88"), "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_insecure_port(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    if c.is_set("insecure-port") and _int_flag(c, "insecure-port") != 0:
        yield Violation(
            c.at("insecure-port"),
            f"{c.label}: {_flag_shown(c, 'insecure-port')}: the API is served without authentication over HTTP",
        )
    if c.is_set("insecure-bind-address"):
        yield Violation(
            c.at("insecure-bind-address"),
            f"{c.label}: {_flag_shown(c, 'insecure-bind-address')}: an unauthenticated HTTP listener is configured",
        )


@rule(
    id="KF-CP-018",
    slug="apiserver-secure-port-disabled",
    title="Secure port disabled",
    severity=Severity.HIGH,
    rationale="With --secure-port=0 the API server serves no TLS endpoint; clients are left with insecure "
    "alternatives.",
    remediation="Remove --secure-port=0 (default 6443).",
    refs={"kubescape": "C-0128", "checkov": "CKV_K8S_89", "trivy": "KCV-0017", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_secure_port(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None and c.is_set("secure-port") and _int_flag(c, "secure-port") == 0:
        yield Violation(c.at("secure-port"), f"{c.label}: --secure-port=0: no TLS listener")


@rule(
    id="KF-CP-019",
    slug="apiserver-profiling",
    title="API server profiling enabled",
    severity=Severity.LOW,
    rationale="The /debug/pprof endpoints reveal internals and can be used to degrade the API server.",
    remediation="Set --profiling=false.",
    refs={"cis": "1.2.15", "kubescape": "C-0129", "checkov": "CKV_K8S_90", "trivy": "KCV-0018", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_profiling(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_false(c, "profiling", "/debug/pprof is served")


def _audit_log_file(c: Component) -> str | None:
    p = (c.value("audit-log-path") or "").strip()
    return p if p and p != "-" else None


@rule(
    id="KF-CP-020",
    slug="apiserver-audit-log",
    title="Audit logging not enabled",
    severity=Severity.HIGH,
    rationale="Without an audit log there is no record of who read Secrets, exec'd into pods or changed RBAC; "
    "incidents cannot be investigated.",
    remediation="Set --audit-log-path (and --audit-policy-file), or --audit-webhook-config-file to ship events to a collector.",
    refs={
        "cis": "1.2.16",
        "kubescape": ("C-0130", "C-0067", "C-0254"),
        "checkov": "CKV_K8S_91",
        "trivy": "KCV-0019",
        "nsa": NSA,
    },
    **ON_APISERVER,
)
def apiserver_audit_log(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    if c.value("audit-webhook-config-file") or _audit_log_file(c):
        return
    if (c.value("audit-log-path") or "").strip() == "-":
        yield Violation(
            c.at("audit-log-path"),
            f"{c.label}: --audit-log-path=- writes audit events to stdout: check that the container "
            "log is collected and kept",
            severity=Severity.LOW,
            subcode="stdout",
        )
        return
    yield Violation(
        c.at("audit-log-path"),
        f"{c.label}: neither --audit-log-path nor --audit-webhook-config-file is set: no audit log",
    )


def _audit_threshold(obj: K8sObject, ctx: Context, flag: str, param: str, unit: str) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None or _audit_log_file(c) is None:
        return
    minimum = int(ctx.param(param))
    v = _int_flag(c, flag)
    if v is None:
        state = "is not set" if not c.is_set(flag) else f"is not a number ({c.value(flag)})"
        yield Violation(c.at(flag), f"{c.label}: --{flag} {state} (minimum {minimum}{unit})")
    elif v < minimum:
        yield Violation(c.at(flag), f"{c.label}: --{flag}={v} is below {minimum}{unit}")


@rule(
    id="KF-CP-021",
    slug="apiserver-audit-log-maxage",
    title="Audit log retention (max age) too short",
    severity=Severity.LOW,
    params={"audit_log_maxage": 30},
    rationale="Rotated audit files are deleted after --audit-log-maxage days; intrusions are often found weeks later.",
    remediation="Set --audit-log-maxage to at least 30 (days), or ship audit events to long-term storage.",
    refs={"cis": "1.2.17", "kubescape": "C-0131", "checkov": "CKV_K8S_92", "trivy": "KCV-0020", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_audit_maxage(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _audit_threshold(obj, ctx, "audit-log-maxage", "audit_log_maxage", " days")


@rule(
    id="KF-CP-022",
    slug="apiserver-audit-log-maxbackup",
    title="Audit log backups too few",
    severity=Severity.LOW,
    params={"audit_log_maxbackup": 10},
    rationale="Only --audit-log-maxbackup rotated files are kept; a busy cluster rotates through a few files in hours.",
    remediation="Set --audit-log-maxbackup to at least 10.",
    refs={"cis": "1.2.18", "kubescape": "C-0132", "checkov": "CKV_K8S_93", "trivy": "KCV-0021", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_audit_maxbackup(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _audit_threshold(obj, ctx, "audit-log-maxbackup", "audit_log_maxbackup", "")


@rule(
    id="KF-CP-023",
    slug="apiserver-audit-log-maxsize",
    title="Audit log rotation size too small",
    severity=Severity.LOW,
    params={"audit_log_maxsize": 100},
    rationale="Small audit files rotate quickly and, with a bounded number of backups, shorten the history kept.",
    remediation="Set --audit-log-maxsize to at least 100 (MB).",
    refs={"cis": "1.2.19", "kubescape": "C-0133", "checkov": "CKV_K8S_94", "trivy": "KCV-0022", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_audit_maxsize(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _audit_threshold(obj, ctx, "audit-log-maxsize", "audit_log_maxsize", " MB")


#: What an audit policy must record at Metadata or higher: (group, resource, subresource, label).
AUDIT_REQUIRED = (
    ("", "secrets", None, "secrets"),
    ("", "configmaps", None, "configmaps"),
    ("authentication.k8s.io", "tokenreviews", None, "tokenreviews"),
    ("", "pods", "exec", "pods/exec"),
    ("", "pods", "portforward", "pods/portforward"),
    ("", "pods", "proxy", "pods/proxy"),
    ("", "services", "proxy", "services/proxy"),
    ("rbac.authorization.k8s.io", "roles", None, "roles"),
    ("rbac.authorization.k8s.io", "rolebindings", None, "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterroles", None, "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings", None, "clusterrolebindings"),
)
AUDIT_NO_BODIES = (("", "secrets", "secrets"), ("", "configmaps", "configmaps"))


@rule(
    id="KF-CP-024",
    slug="audit-policy",
    title="Audit policy missing or inadequate",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=(*COMPONENT_KINDS, "Policy.audit.k8s.io"),  # the audit policy file, not Kyverno's or K10's Policy
    rationale="The audit policy decides what is recorded: access to Secrets, tokens, exec/port-forward and RBAC "
    "changes must be logged, but never with request bodies for Secrets and ConfigMaps (that copies secret "
    "values into the log).",
    remediation="Set --audit-policy-file to a policy that logs secrets, configmaps and tokenreviews at Metadata, and pods/exec, pods/portforward, pods/proxy, services/proxy and RBAC objects at Metadata or higher.",
    refs={"cis": ("3.2.1", "3.2.2"), "kubescape": ("C-0160", "C-0161"), "nsa": NSA},
    applies=API_OR_POLICY,
)
def audit_policy(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_audit_policy(obj):
        rules = audit_rules(obj.raw)
        if not rules:
            yield Violation(("rules",), "the audit policy has no rules: nothing is logged")
            return
        for group, res, sub, label in AUDIT_REQUIRED:
            cov = coverage(rules, group, res, sub)
            if not at_least_metadata(cov.level):
                why = f"rule {cov.rule} sets level None" if cov.rule is not None else "no rule matches"
                yield Violation(rule_path(cov.rule), f"audit policy does not record {label} ({why})")
        for group, res, label in AUDIT_NO_BODIES:
            cov = coverage(rules, group, res)
            for idx, level in cov.louder:
                yield Violation(
                    rule_path(idx),
                    f"audit policy rule {idx} logs {label} at {level}: secret values "
                    "end up in the audit log (use Metadata)",
                )
        return
    c = _comp(obj, APISERVER)
    if c is not None and not (c.value("audit-policy-file") or "").strip():
        yield Violation(
            c.at("audit-policy-file"), f"{c.label}: --audit-policy-file is not set: no audit events are recorded"
        )


@rule(
    id="KF-CP-025",
    slug="apiserver-request-timeout",
    title="Request timeout excessive",
    severity=Severity.INFO,
    params={"max_request_timeout": "300s"},
    rationale="Very long request timeouts let slow clients hold API server resources; the default is 60s.",
    remediation="Keep --request-timeout at its default (60s) or below the configured maximum.",
    refs={"cis": "1.2.20", "kubescape": "C-0134", "checkov": "CKV_K8S_95", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_request_timeout(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None or not c.is_set("request-timeout"):
        return
    limit = parse_duration(str(ctx.param("max_request_timeout"))) or 300.0
    v = parse_duration(c.value("request-timeout"))
    if v is None:
        yield Violation(c.at("request-timeout"), f"{c.label}: {_flag_shown(c, 'request-timeout')} is not a duration")
    elif v > limit:
        yield Violation(
            c.at("request-timeout"),
            f"{c.label}: {_flag_shown(c, 'request-timeout')} exceeds {ctx.param('max_request_timeout')}",
        )


# ---------------------------------------------------------------------------------------------------
# kube-apiserver: service accounts, TLS, etcd, encryption


@rule(
    id="KF-CP-026",
    slug="apiserver-service-account-lookup",
    title="Service account lookup disabled",
    severity=Severity.MEDIUM,
    rationale="Without the lookup, tokens of deleted service accounts (and deleted token Secrets) stay valid "
    "until they expire.",
    remediation="Remove --service-account-lookup=false (default true).",
    refs={"cis": "1.2.21", "kubescape": "C-0135", "checkov": "CKV_K8S_96", "trivy": "KCV-0024", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_sa_lookup(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None and c.is_set("service-account-lookup") and c.bool("service-account-lookup", True) is not True:
        yield Violation(
            c.at("service-account-lookup"),
            f"{c.label}: {_flag_shown(c, 'service-account-lookup')}: tokens of deleted service accounts stay valid",
        )


@rule(
    id="KF-CP-027",
    slug="apiserver-service-account-key-file",
    title="Service account verification key not set",
    severity=Severity.MEDIUM,
    rationale="The public key(s) that verify service account tokens must be explicit so that keys can be "
    "rotated (old and new key listed together) without breaking tokens.",
    remediation="Set --service-account-key-file to the public key matching the controller manager's --service-account-private-key-file (kubeadm: sa.pub).",
    refs={"cis": "1.2.22", "kubescape": "C-0136", "checkov": "CKV_K8S_97", "trivy": "KCV-0025", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_sa_key(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(
            c, "service account tokens are verified with the serving key", "service-account-key-file"
        )


@rule(
    id="KF-CP-028",
    slug="apiserver-service-account-issuer",
    title="Service account issuer or signing key not set",
    severity=Severity.MEDIUM,
    rationale="Bound, audience-scoped and expiring service account tokens need an issuer and a signing key; "
    "an issuer that is not an https URL cannot be used for OIDC discovery by external verifiers.",
    remediation="Set --service-account-issuer to an https URL and --service-account-signing-key-file to the private key (kubeadm: https://kubernetes.default.svc.cluster.local, sa.key).",
    refs={"nsa": NSA, "k8s": "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/"},
    **ON_APISERVER,
)
def apiserver_sa_issuer(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    yield from _require_set(
        c, "bound service account tokens cannot be issued", "service-account-issuer", "service-account-signing-key-file"
    )
    issuers = c.flags.occurrences("service-account-issuer")
    if issuers and issuers[0].value and not issuers[0].value.startswith("https://"):
        yield Violation(
            c.paths[issuers[0].index] if issuers[0].index < len(c.paths) else c.anchor,
            f"{c.label}: --service-account-issuer={issuers[0].value} is not an https URL",
            severity=Severity.LOW,
            subcode="issuer_not_https",
        )


@rule(
    id="KF-CP-029",
    slug="apiserver-etcd-client-cert",
    title="API server to etcd client certificate not set",
    severity=Severity.HIGH,
    rationale="etcd should only accept clients with a certificate; without one the API server talks to an etcd "
    "that anyone on the network can talk to as well.",
    remediation="Set --etcd-certfile and --etcd-keyfile (kubeadm: apiserver-etcd-client.crt/.key) and require client certificates on etcd.",
    refs={"cis": "1.2.23", "kubescape": "C-0137", "checkov": "CKV_K8S_99", "trivy": "KCV-0026", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_etcd_client_cert(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(c, "the API server does not authenticate to etcd", "etcd-certfile", "etcd-keyfile")


@rule(
    id="KF-CP-030",
    slug="apiserver-tls-cert",
    title="API server serving certificate not set",
    severity=Severity.HIGH,
    rationale="Without a serving certificate the API server generates a self-signed one that clients cannot "
    "verify, training users to skip verification.",
    remediation="Set --tls-cert-file and --tls-private-key-file to a certificate signed by the cluster CA.",
    refs={"cis": "1.2.24", "kubescape": "C-0138", "checkov": "CKV_K8S_100", "trivy": "KCV-0027", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_tls_cert(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(
            c, "a self-signed serving certificate is generated", "tls-cert-file", "tls-private-key-file"
        )


@rule(
    id="KF-CP-031",
    slug="apiserver-client-ca",
    title="API server client CA not set",
    severity=Severity.HIGH,
    rationale="Without --client-ca-file no client certificate is accepted, so kubelets and control-plane "
    "components fall back to weaker (token) authentication.",
    remediation="Set --client-ca-file to the cluster CA (kubeadm: /etc/kubernetes/pki/ca.crt).",
    refs={"cis": "1.2.25", "kubescape": "C-0139", "trivy": "KCV-0028", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_client_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(c, "x509 client authentication is off", "client-ca-file")


@rule(
    id="KF-CP-032",
    slug="apiserver-etcd-ca",
    title="API server does not verify etcd",
    severity=Severity.HIGH,
    rationale="Without --etcd-cafile (or with http:// etcd servers) the API server cannot tell the real etcd "
    "from an impostor, which could feed it any cluster state.",
    remediation="Set --etcd-cafile to etcd's CA and use https:// URLs in --etcd-servers.",
    refs={"cis": "1.2.26", "kubescape": "C-0140", "checkov": "CKV_K8S_102", "trivy": "KCV-0029", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_etcd_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    yield from _require_set(c, "etcd's serving certificate is not verified", "etcd-cafile")
    plain = [u for u in c.items("etcd-servers") if u.lower().startswith("http://")]
    if plain:
        yield Violation(c.at("etcd-servers"), f"{c.label}: --etcd-servers uses plain HTTP: {', '.join(plain)}")


@rule(
    id="KF-CP-033",
    slug="apiserver-encryption-at-rest",
    title="Encryption at rest not configured",
    severity=Severity.HIGH,
    rationale="Without an EncryptionConfiguration, Secrets are stored in etcd in clear: every etcd backup, "
    "snapshot or disk holds all of them readable.",
    remediation="Set --encryption-provider-config to an EncryptionConfiguration whose first provider for secrets is kms (v2), aescbc or secretbox.",
    refs={"cis": "1.2.27", "kubescape": ("C-0141", "C-0066", "C-0244"), "trivy": "KCV-0030", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_encryption(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_set(c, "Secrets are stored in etcd unencrypted", "encryption-provider-config")


@rule(
    id="KF-CP-034",
    slug="apiserver-weak-tls",
    title="Weak TLS configuration on API server",
    severity=Severity.MEDIUM,
    params={"require_explicit_ciphers": True},
    rationale="CBC and RSA key-exchange suites and TLS below 1.2 are weak; an explicit list of AEAD suites keeps "
    "the API server from negotiating them.",
    remediation="Set --tls-min-version=VersionTLS12 (or 13) and --tls-cipher-suites to ECDHE AES-GCM/ChaCha20 suites only.",
    refs={"cis": "1.2.29", "kubescape": ("C-0143", "C-0277"), "checkov": "CKV_K8S_105", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_weak_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from tls_violations(c, ctx, STRONG_CIPHERS)


def tls_violations(c: Component, ctx: Context, strong: frozenset[str]) -> Iterator[Violation]:
    suites = c.items("tls-cipher-suites")
    if not suites:
        if ctx.param("require_explicit_ciphers"):
            yield Violation(
                c.at("tls-cipher-suites"),
                f"{c.label}: --tls-cipher-suites is not set (Go defaults apply)",
                subcode="ciphers_unset",
            )
    else:
        weak = [s for s in suites if s not in strong]
        if weak:
            yield Violation(
                c.at("tls-cipher-suites"),
                f"{c.label}: --tls-cipher-suites allows weak suites: {', '.join(weak)}",
                subcode="weak_ciphers",
            )
    mv = c.value("tls-min-version")
    if mv in WEAK_TLS_VERSIONS:
        yield Violation(
            c.at("tls-min-version"), f"{c.label}: --tls-min-version={mv} allows TLS below 1.2", subcode="min_version"
        )


@rule(
    id="KF-CP-035",
    slug="apiserver-extend-token-expiration",
    title="Service account token expiration extension enabled",
    severity=Severity.LOW,
    rationale="With the extension, projected service account tokens requested for an hour are issued for a year "
    "(to ease migration): a stolen token stays usable far longer than it seems.",
    remediation="Set --service-account-extend-token-expiration=false once workloads refresh their tokens.",
    refs={"cis": "1.2.30", "kubescape": "C-0290", "nsa": NSA},
    **ON_APISERVER,
)
def apiserver_extend_token_expiration(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is not None:
        yield from _require_false(c, "service-account-extend-token-expiration", "projected tokens are valid for a year")


# ---------------------------------------------------------------------------------------------------
# kube-controller-manager and kube-scheduler


@rule(
    id="KF-CP-036",
    slug="controller-manager-terminated-pod-gc",
    title="Controller manager terminated-pod GC threshold not set",
    severity=Severity.INFO,
    params={"max_terminated_pods": 12500},
    rationale="Terminated pods accumulate until the threshold; a low, explicit threshold keeps etcd and the "
    "controller manager from degrading.",
    remediation="Set --terminated-pod-gc-threshold (e.g. 10) on kube-controller-manager.",
    refs={"cis": "1.3.1", "kubescape": "C-0144", "checkov": "CKV_K8S_106", "trivy": "KCV-0033", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_terminated_pod_gc(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is None:
        return
    v = _int_flag(c, "terminated-pod-gc-threshold")
    limit = int(ctx.param("max_terminated_pods"))
    if v is None:
        yield Violation(
            c.at("terminated-pod-gc-threshold"), f"{c.label}: --terminated-pod-gc-threshold is not set (default 12500)"
        )
    elif v > limit:
        yield Violation(
            c.at("terminated-pod-gc-threshold"), f"{c.label}: --terminated-pod-gc-threshold={v} exceeds {limit}"
        )


@rule(
    id="KF-CP-037",
    slug="controller-manager-profiling",
    title="Controller manager profiling enabled",
    severity=Severity.LOW,
    rationale="The /debug/pprof endpoints reveal internals and can be used to degrade the controller manager.",
    remediation="Set --profiling=false on kube-controller-manager.",
    refs={"cis": "1.3.2", "kubescape": "C-0145", "checkov": "CKV_K8S_107", "trivy": "KCV-0034", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_profiling(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is not None:
        yield from _require_false(c, "profiling", "/debug/pprof is served")


@rule(
    id="KF-CP-038",
    slug="controller-manager-sa-credentials",
    title="Controllers share one credential",
    severity=Severity.MEDIUM,
    rationale="Without per-controller service accounts every controller runs with the controller manager's own, "
    "very broad credential, and RBAC cannot limit any of them.",
    remediation="Set --use-service-account-credentials=true on kube-controller-manager.",
    refs={"cis": "1.3.3", "kubescape": "C-0146", "checkov": "CKV_K8S_108", "trivy": "KCV-0035", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_sa_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is None:
        return
    v = c.bool("use-service-account-credentials", False)
    if v is not True:
        state = (
            "is not set (default false)"
            if not c.is_set("use-service-account-credentials")
            else f"is {c.value('use-service-account-credentials')}"
        )
        yield Violation(
            c.at("use-service-account-credentials"),
            f"{c.label}: --use-service-account-credentials {state}: all controllers share one credential",
        )


@rule(
    id="KF-CP-039",
    slug="controller-manager-sa-private-key",
    title="Controller manager service account signing key not set",
    severity=Severity.MEDIUM,
    rationale="The controller manager signs legacy service account tokens with this key; without it they cannot "
    "be verified against a key that can be rotated.",
    remediation="Set --service-account-private-key-file on kube-controller-manager (kubeadm: sa.key).",
    refs={"cis": "1.3.4", "kubescape": "C-0147", "checkov": "CKV_K8S_110", "trivy": "KCV-0036", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_sa_private_key(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is not None:
        yield from _require_set(
            c, "service account tokens are not signed with a dedicated key", "service-account-private-key-file"
        )


@rule(
    id="KF-CP-040",
    slug="controller-manager-root-ca",
    title="Controller manager root CA not set",
    severity=Severity.MEDIUM,
    rationale="The root CA is published to pods (kube-root-ca.crt) so that they can verify the API server; "
    "without it pods connect without verifying, open to man-in-the-middle.",
    remediation="Set --root-ca-file on kube-controller-manager (kubeadm: /etc/kubernetes/pki/ca.crt).",
    refs={"cis": "1.3.5", "kubescape": "C-0148", "checkov": "CKV_K8S_111", "trivy": "KCV-0037", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_root_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is not None:
        yield from _require_set(c, "pods cannot verify the API server's certificate", "root-ca-file")


@rule(
    id="KF-CP-041",
    slug="controller-manager-kubelet-server-cert-rotation",
    title="Kubelet serving certificate rotation disabled in controller manager",
    severity=Severity.MEDIUM,
    rationale="With RotateKubeletServerCertificate off, kubelet serving certificates are not renewed through "
    "CSRs and end up self-signed or expired.",
    remediation="Remove RotateKubeletServerCertificate=false from --feature-gates.",
    refs={"cis": "1.3.6", "kubescape": "C-0149", "checkov": "CKV_K8S_112", "trivy": "KCV-0038", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_kubelet_server_rotation(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is None:
        return
    gates = parse_feature_gates(c.value("feature-gates"))
    if gates.get("RotateKubeletServerCertificate") is False:
        yield Violation(c.at("feature-gates"), f"{c.label}: --feature-gates sets RotateKubeletServerCertificate=false")


def _bind_address(c: Component, ctx: Context) -> Iterator[Violation]:
    v = c.value("bind-address")
    if v is None:
        if ctx.param("fail_on_default"):
            yield Violation(
                c.at("bind-address"),
                f"{c.label}: --bind-address is not set (default 0.0.0.0): the secure port listens on every interface",
                subcode="default",
            )
        return
    if not is_loopback_host(v):
        yield Violation(c.at("bind-address"), f"{c.label}: --bind-address={v} is not a loopback address")


@rule(
    id="KF-CP-042",
    slug="controller-manager-bind-address",
    title="Controller manager bound to non-loopback address",
    severity=Severity.MEDIUM,
    params={"fail_on_default": True},
    rationale="The controller manager's port serves health and metrics (and profiling when enabled); it only "
    "needs to be reachable locally.",
    remediation="Set --bind-address=127.0.0.1 on kube-controller-manager.",
    refs={"cis": "1.3.7", "kubescape": "C-0150", "checkov": "CKV_K8S_113", "trivy": "KCV-0039", "nsa": NSA},
    **ON_CONTROLLER_MANAGER,
)
def kcm_bind_address(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, CONTROLLER_MANAGER)
    if c is not None:
        yield from _bind_address(c, ctx)


@rule(
    id="KF-CP-043",
    slug="scheduler-profiling",
    title="Scheduler profiling enabled",
    severity=Severity.LOW,
    rationale="The /debug/pprof endpoints reveal internals and can be used to degrade the scheduler.",
    remediation="Set --profiling=false on kube-scheduler.",
    refs={"cis": "1.4.1", "kubescape": "C-0151", "checkov": "CKV_K8S_114", "trivy": "KCV-0040", "nsa": NSA},
    **ON_SCHEDULER,
)
def scheduler_profiling(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, SCHEDULER)
    if c is not None:
        yield from _require_false(c, "profiling", "/debug/pprof is served")


@rule(
    id="KF-CP-044",
    slug="scheduler-bind-address",
    title="Scheduler bound to non-loopback address",
    severity=Severity.MEDIUM,
    params={"fail_on_default": True},
    rationale="The scheduler's port serves health and metrics (and profiling when enabled); it only needs to be "
    "reachable locally.",
    remediation="Set --bind-address=127.0.0.1 on kube-scheduler.",
    refs={"cis": "1.4.2", "kubescape": "C-0152", "checkov": "CKV_K8S_115", "trivy": "KCV-0041", "nsa": NSA},
    **ON_SCHEDULER,
)
def scheduler_bind_address(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, SCHEDULER)
    if c is not None:
        yield from _bind_address(c, ctx)


# ---------------------------------------------------------------------------------------------------
# control-plane files (NodeSnapshot)


def file_violations(fact: FileFact, allowed: int | None, what: str, *, owner: bool = True) -> Iterator[Violation]:
    """Mode more permissive than ``allowed`` (sub-code ``mode``), owner not root:root (``owner``)."""
    if allowed is not None and fact.too_open(allowed):
        yield Violation(
            ("files", fact.path),
            f"{what} {fact.path} has mode {fact.mode_text}, more permissive than {allowed:04o}",
            subcode="mode",
        )
    if owner and not fact.owned_by("root", "root"):
        yield Violation(
            ("files", fact.path), f"{what} {fact.path} is owned by {fact.owner_text}, not root:root", subcode="owner"
        )


def node_of(obj: K8sObject) -> NodeView:
    n = snapshot_of(obj)
    if n is None:
        raise NotApplicable("not a node snapshot")
    return n


def existing(node: NodeView, paths: list[str], what: str, *, named_by: str | None = None) -> list[FileFact]:
    """The facts of the files that exist. None exists: not applicable, or, for a file a flag names
    (``named_by``), not evaluated (the flag points at nothing). A file the snapshot knows nothing about
    is missing when its directory was listed (or is missing), unknown otherwise (not evaluated)."""
    facts = []
    unknown = []
    for p in dict.fromkeys(paths):
        f = node.file(p)
        if f is None:
            parent = node.file(posixpath.dirname(p))
            if parent is None or parent.type not in ("dir", "missing"):
                unknown.append(p)
        elif f.exists:
            facts.append(f)
        elif f.type == "error":
            raise NotEvaluated(f"{p} could not be read: {f.error or 'error'}")
    if facts:
        return facts
    if unknown:
        raise NotEvaluated(f"the snapshot has no facts about {', '.join(unknown)}")
    where = ", ".join(dict.fromkeys(paths))
    if named_by:
        raise NotEvaluated(f"{where}, named by {named_by}, does not exist on this node")
    raise NotApplicable(f"no {what} on this node ({where})")


def _manifest_rule(obj: K8sObject, comp: str) -> Iterator[Violation]:
    node = node_of(obj)
    manifests = node.raw.get("manifests")
    path = manifests.get(comp) if isinstance(manifests, dict) else None
    paths = [path] if isinstance(path, str) else [f"{node.static_pod_path.rstrip('/')}/{comp}.yaml"]
    for f in existing(node, paths, f"{comp} static pod manifest"):
        yield from file_violations(f, 0o600, f"{comp} manifest")


@rule(
    id="KF-CP-045",
    slug="kube-apiserver-manifest-permissions",
    title="kube-apiserver static pod manifest permissions/ownership",
    severity=Severity.HIGH,
    rationale="Whoever can write the kube-apiserver manifest runs any command as root on the control plane "
    "the next time the kubelet reads it, and the manifest shows the component's flags and file paths.",
    remediation="Run chmod 600 /etc/kubernetes/manifests/kube-apiserver.yaml and chown root:root /etc/kubernetes/manifests/kube-apiserver.yaml (kubeadm creates it so).",
    refs={"cis": ("1.1.1", "1.1.2"), "kubescape": ("C-0092", "C-0093"), "trivy": ("KCV-0048", "KCV-0049"), "nsa": NSA},
    **ON_CP_FILES,
)
def apiserver_manifest_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _manifest_rule(obj, APISERVER)


@rule(
    id="KF-CP-046",
    slug="kube-controller-manager-manifest-permissions",
    title="kube-controller-manager static pod manifest permissions/ownership",
    severity=Severity.HIGH,
    rationale="Whoever can write the kube-controller-manager manifest runs any command as root on the control plane "
    "the next time the kubelet reads it, and the manifest shows the component's flags and file paths.",
    remediation="Run chmod 600 /etc/kubernetes/manifests/kube-controller-manager.yaml and chown root:root /etc/kubernetes/manifests/kube-controller-manager.yaml (kubeadm creates it so).",
    refs={"cis": ("1.1.3", "1.1.4"), "kubescape": ("C-0094", "C-0095"), "trivy": ("KCV-0050", "KCV-0051"), "nsa": NSA},
    **ON_CP_FILES,
)
def controller_manager_manifest_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _manifest_rule(obj, CONTROLLER_MANAGER)


@rule(
    id="KF-CP-047",
    slug="kube-scheduler-manifest-permissions",
    title="kube-scheduler static pod manifest permissions/ownership",
    severity=Severity.HIGH,
    rationale="Whoever can write the kube-scheduler manifest runs any command as root on the control plane "
    "the next time the kubelet reads it, and the manifest shows the component's flags and file paths.",
    remediation="Run chmod 600 /etc/kubernetes/manifests/kube-scheduler.yaml and chown root:root /etc/kubernetes/manifests/kube-scheduler.yaml (kubeadm creates it so).",
    refs={"cis": ("1.1.5", "1.1.6"), "kubescape": ("C-0096", "C-0097"), "trivy": ("KCV-0052", "KCV-0053"), "nsa": NSA},
    **ON_CP_FILES,
)
def scheduler_manifest_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _manifest_rule(obj, SCHEDULER)


@rule(
    id="KF-CP-048",
    slug="etcd-manifest-permissions",
    title="etcd static pod manifest permissions/ownership",
    severity=Severity.HIGH,
    rationale="Whoever can write the etcd manifest runs any command as root on the control plane "
    "the next time the kubelet reads it, and the manifest shows the component's flags and file paths.",
    remediation="Run chmod 600 /etc/kubernetes/manifests/etcd.yaml and chown root:root /etc/kubernetes/manifests/etcd.yaml (kubeadm creates it so).",
    refs={"cis": ("1.1.7", "1.1.8"), "kubescape": ("C-0098", "C-0099"), "trivy": ("KCV-0054", "KCV-0055"), "nsa": NSA},
    **ON_CP_FILES,
)
def etcd_manifest_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _manifest_rule(obj, "etcd")


@rule(
    id="KF-CP-049",
    slug="cni-config-permissions",
    title="CNI configuration file permissions/ownership",
    severity=Severity.MEDIUM,
    rationale="The CNI configuration decides which plugin binaries the container runtime runs as root for every "
    "pod; whoever can change it or the binaries controls the node's network and the node.",
    remediation="Run chmod 600 on the files in /etc/cni/net.d and chown -R root:root /etc/cni/net.d /opt/cni/bin.",
    refs={"cis": ("1.1.9", "1.1.10"), "kubescape": ("C-0100", "C-0101"), "trivy": ("KCV-0056", "KCV-0057"), "nsa": NSA},
    **ON_CP_FILES,
)
def cni_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    conf = [f for f in node.files_under("/etc/cni/net.d") if f.type == "file"]
    bins = [f for f in node.files_under("/opt/cni/bin") if f.exists]
    if not conf and not bins:
        raise NotApplicable("no CNI configuration on this node (/etc/cni/net.d, /opt/cni/bin)")
    for f in conf:
        yield from file_violations(f, 0o600, "CNI config")
    for f in bins:
        yield from file_violations(f, None, "CNI plugin path")


def _kubeconfig_rule(obj: K8sObject, names: list[str], what: str) -> Iterator[Violation]:
    node = node_of(obj)
    for f in existing(node, [f"/etc/kubernetes/{n}" for n in names], what):
        yield from file_violations(f, 0o600, what)


@rule(
    id="KF-CP-050",
    slug="admin-conf-permissions",
    title="admin.conf permissions/ownership",
    severity=Severity.CRITICAL,
    rationale="admin.conf and super-admin.conf hold cluster-admin (system:masters for super-admin) client "
    "certificates that cannot be revoked: reading the file is owning the cluster.",
    remediation="Run chmod 600 /etc/kubernetes/admin.conf /etc/kubernetes/super-admin.conf and chown root:root on them.",
    refs={
        "cis": ("1.1.13", "1.1.14"),
        "kubescape": ("C-0104", "C-0105"),
        "trivy": ("KCV-0060", "KCV-0061"),
        "nsa": NSA,
    },
    **ON_CP_FILES,
)
def admin_conf_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _kubeconfig_rule(obj, ["admin.conf", "super-admin.conf"], "admin kubeconfig")


@rule(
    id="KF-CP-051",
    slug="scheduler-conf-permissions",
    title="scheduler.conf permissions/ownership",
    severity=Severity.HIGH,
    rationale="scheduler.conf holds the scheduler's client certificate; with it one can bind pods to nodes and "
    "read what the scheduler reads.",
    remediation="Run chmod 600 /etc/kubernetes/scheduler.conf and chown root:root on it.",
    refs={
        "cis": ("1.1.15", "1.1.16"),
        "kubescape": ("C-0106", "C-0107"),
        "trivy": ("KCV-0062", "KCV-0063"),
        "nsa": NSA,
    },
    **ON_CP_FILES,
)
def scheduler_conf_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _kubeconfig_rule(obj, ["scheduler.conf"], "scheduler kubeconfig")


@rule(
    id="KF-CP-052",
    slug="controller-manager-conf-permissions",
    title="controller-manager.conf permissions/ownership",
    severity=Severity.HIGH,
    rationale="controller-manager.conf holds a client certificate with broad rights (it can create tokens for "
    "any service account when controllers share its credential).",
    remediation="Run chmod 600 /etc/kubernetes/controller-manager.conf and chown root:root on it.",
    refs={
        "cis": ("1.1.17", "1.1.18"),
        "kubescape": ("C-0108", "C-0109"),
        "trivy": ("KCV-0064", "KCV-0065"),
        "nsa": NSA,
    },
    **ON_CP_FILES,
)
def controller_manager_conf_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _kubeconfig_rule(obj, ["controller-manager.conf"], "controller manager kubeconfig")


PKI = "/etc/kubernetes/pki"


def _pki(node: NodeView) -> list[FileFact]:
    facts = [f for f in node.files_under(PKI) if f.exists]
    if not facts:
        raise NotApplicable(f"no {PKI} on this node")
    return facts


@rule(
    id="KF-CP-053",
    slug="pki-ownership",
    title="PKI directory ownership",
    severity=Severity.CRITICAL,
    rationale="The PKI directory holds the cluster CA key, etcd's CA key and the service account signing key: "
    "an owner other than root can replace or read any of them.",
    remediation="Run chown -R root:root /etc/kubernetes/pki.",
    refs={"cis": "1.1.19", "kubescape": "C-0110", "trivy": "KCV-0066", "nsa": NSA},
    **ON_CP_FILES,
)
def pki_ownership(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for f in _pki(node_of(obj)):
        yield from file_violations(f, None, "PKI file" if f.type == "file" else "PKI directory")


@rule(
    id="KF-CP-054",
    slug="pki-cert-permissions",
    title="PKI certificate file permissions",
    severity=Severity.HIGH,
    rationale="Certificates are public, but a writable certificate can be swapped for one of an attacker's CA "
    "(a CA bundle decides whom the components trust).",
    remediation="Run chmod 644 (or stricter) on /etc/kubernetes/pki/*.crt and /etc/kubernetes/pki/etcd/*.crt.",
    refs={"cis": "1.1.20", "kubescape": "C-0111", "trivy": "KCV-0068", "nsa": NSA},
    **ON_CP_FILES,
)
def pki_cert_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    certs = [f for f in _pki(node_of(obj)) if f.type == "file" and f.path.endswith(".crt")]
    if not certs:
        raise NotApplicable(f"no *.crt under {PKI}")
    for f in certs:
        yield from file_violations(f, 0o644, "certificate", owner=False)


@rule(
    id="KF-CP-055",
    slug="pki-key-permissions",
    title="PKI private key file permissions",
    severity=Severity.CRITICAL,
    rationale="Anyone who reads ca.key can mint certificates for any user including system:masters; sa.key "
    "signs tokens for any service account.",
    remediation="Run chmod 600 on /etc/kubernetes/pki/*.key and /etc/kubernetes/pki/etcd/*.key.",
    refs={"cis": "1.1.21", "kubescape": "C-0112", "trivy": "KCV-0067", "nsa": NSA},
    **ON_CP_FILES,
)
def pki_key_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    keys = [f for f in _pki(node_of(obj)) if f.type == "file" and f.path.endswith(".key")]
    if not keys:
        raise NotApplicable(f"no *.key under {PKI}")
    for f in keys:
        yield from file_violations(f, 0o600, "private key", owner=False)


# ---------------------------------------------------------------------------------------------------


@rule(
    id="KF-CP-056",
    slug="human-users-non-revocable-credentials",
    title="Non-revocable credentials used for human users",
    severity=Severity.INFO,
    cross_object=True,
    rationale="Client certificates cannot be revoked and service account or bootstrap tokens are not meant for "
    "people: without an OIDC or webhook authenticator, human users necessarily rely on them.",
    remediation="Configure OIDC (--oidc-issuer-url or an AuthenticationConfiguration jwt issuer) or webhook token authentication for human users.",
    refs={"cis": ("3.1.1", "3.1.2", "3.1.3"), "kubescape": ("C-0286", "C-0287", "C-0288"), "nsa": NSA},
    **ON_APISERVER,
)
def human_users_credentials(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    c = _comp(obj, APISERVER)
    if c is None:
        return
    if c.value("oidc-issuer-url") or c.value("authentication-token-webhook-config-file"):
        return
    cfg_path = c.value("authentication-config")
    if cfg_path:
        cfg = config_object(ctx.inventory, "AuthenticationConfiguration", APISERVER_CONFIG_GROUP, cfg_path)
        if cfg is None:
            raise NotEvaluated(f"authenticators are configured in {cfg_path}, which is not in the input")
        jwt = cfg.raw.get("jwt")
        if isinstance(jwt, list) and jwt:
            return
    users: list[str] = []
    for b in ctx.inventory.of_kind("RoleBinding", "ClusterRoleBinding"):
        subs = b.raw.get("subjects")
        for s in subs if isinstance(subs, list) else []:
            if (
                isinstance(s, dict)
                and s.get("kind") == "User"
                and isinstance(s.get("name"), str)
                and not s["name"].startswith("system:")
            ):
                users.append(f"{s['name']} ({b.kind} {b.name})")
    if users:
        yield Violation(
            c.anchor,
            f"{c.label}: no OIDC or webhook authenticator, yet bindings name human users who "
            f"must then use client certificates: {', '.join(sorted(set(users))[:10])}",
        )
    else:
        yield Violation(
            c.anchor,
            f"{c.label}: no OIDC or webhook authenticator is configured: review how people "
            "authenticate (client certificates cannot be revoked)",
            subcode="manual",
        )


RULES: list[Rule] = [
    apiserver_anonymous_auth,
    apiserver_token_auth_file,
    apiserver_basic_auth_file,
    apiserver_deny_external_ips,
    apiserver_kubelet_client_cert,
    apiserver_kubelet_ca,
    apiserver_kubelet_https,
    apiserver_always_allow,
    apiserver_node_authorizer,
    apiserver_rbac_authorizer,
    apiserver_event_rate_limit,
    apiserver_always_admit,
    apiserver_always_pull_images,
    apiserver_serviceaccount_plugin,
    apiserver_namespace_lifecycle,
    apiserver_node_restriction,
    pod_security_defaults_permissive,
    apiserver_insecure_port,
    apiserver_secure_port,
    apiserver_profiling,
    apiserver_audit_log,
    apiserver_audit_maxage,
    apiserver_audit_maxbackup,
    apiserver_audit_maxsize,
    audit_policy,
    apiserver_request_timeout,
    apiserver_sa_lookup,
    apiserver_sa_key,
    apiserver_sa_issuer,
    apiserver_etcd_client_cert,
    apiserver_tls_cert,
    apiserver_client_ca,
    apiserver_etcd_ca,
    apiserver_encryption,
    apiserver_weak_tls,
    apiserver_extend_token_expiration,
    kcm_terminated_pod_gc,
    kcm_profiling,
    kcm_sa_credentials,
    kcm_sa_private_key,
    kcm_root_ca,
    kcm_kubelet_server_rotation,
    kcm_bind_address,
    scheduler_profiling,
    scheduler_bind_address,
    apiserver_manifest_permissions,
    controller_manager_manifest_permissions,
    scheduler_manifest_permissions,
    etcd_manifest_permissions,
    cni_permissions,
    admin_conf_permissions,
    scheduler_conf_permissions,
    controller_manager_conf_permissions,
    pki_ownership,
    pki_cert_permissions,
    pki_key_permissions,
    human_users_credentials,
]
