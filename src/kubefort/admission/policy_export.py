"""kubefort rules as native admission policies: ValidatingAdmissionPolicy (CEL), Kyverno, and the rules'
fixes as MutatingAdmissionPolicy (``--format mutating``, :mod:`.mutating_export`).

``kubefort policy export --format vap|kyverno|kyverno-legacy`` writes, for every rule that CEL can
express, one policy whose expression is true when the object complies with the rule (the rule's default
parameters; sub-code severities are not kept: any finding of the rule violates the policy). The
same CEL goes into the Kyverno ValidatingPolicy (``validations``) and the legacy ClusterPolicy
(``validate.cel``), so one translation serves all three and one test checks it: ``tests/unit/test_admission_policy_export.py`` evaluates every exported
expression with a CEL implementation on the rule's failing and passing fixtures and requires the
same verdict as the Python rule on every object.

CEL for Kubernetes errors on a missing field, so every field is guarded with ``has()`` step by step
(the helper :func:`_has` writes the chain). Values are compared with exact types, as the API server
has decoded the object before admission (``privileged: "true"`` cannot reach a policy).

Rules that are not exported are listed with the reason: ``cannot`` when CEL or the policy engines
lack what the condition needs (other objects, entropy-based secret detection...), ``not yet`` when
the condition could be written in CEL but has not been translated (the kubefort webhook enforces it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..analysis.rbac.policy import NAMELESS_VERBS
from ..analysis.rbac.resources import grantable_in_namespace
from ..analysis.rbac.subjects import SA_PREFIX
from ..engine.registry import Registry
from ..engine.rule import Rule, Scope
from ..model.host_access import DANGEROUS_CAPABILITIES, RUNTIME_SOCKETS, SENSITIVE_HOST_PATHS, norm_host_path
from ..model.images import DOCKER_HUB_ALIASES
from ..rules import default_registry
from ..rules.admission import AUDIT as PSA_AUDIT
from ..rules.admission import ENFORCE as PSA_ENFORCE
from ..rules.admission import ENFORCE_VERSION as PSA_ENFORCE_VERSION
from ..rules.admission import LEVELS as PSA_LEVELS
from ..rules.admission import SYSTEM_NAMESPACES, pod_security_version_pinned_old
from ..rules.admission import WARN as PSA_WARN
from ..rules.images import DEFAULT_BLOCKED_REGISTRIES
from ..rules.mtls import BYPASS_ANNOTATIONS
from ..rules.network import INTERNAL_LB_ANNOTATIONS, LB_SOURCE_RANGES_ANNOTATION, SNIPPET_PREFIX
from ..rules.pod_hardening import (
    ALLOWED_VOLUME_SOURCES,
    INHERITED_FIELDS,
    LIFECYCLE_HOOKS,
    LOOPBACK_HOSTS,
    OTHER_VOLUME_SOURCES,
    PROBES,
    safe_sysctls,
)
from ..rules.pod_hygiene import CLOUD_CREDENTIAL_PATHS
from ..rules.pod_privilege import BASELINE_CAPABILITIES
from ..rules.rbac import (
    ADMISSION_CONFIG,
    ALL_RESOURCE_VERBS,
    APISERVER_CLIENT_SIGNER,
    AUTHENTICATED_DEFAULTS,
    CERTS,
    CONFIGMAPS,
    DEFAULT_USER_ROLES,
    DELETABLE,
    IMPERSONATION,
    METRICS_GROUPS,
    NETWORKING,
    PERSISTENT_VOLUMES,
    POD_CONTROLLERS,
    RBAC,
    RBAC_ROLES,
    SA_TOKEN_TYPE,
    SENSITIVE,
    ApiResource,
    client_certificate_long_expiry,
    resources_of,
)
from ..rules.rbac import BINDINGS as RBAC_BINDINGS
from .manifests import NoAliasDumper
from .mutating_export import mutating, why_not_mutating

#: (API group, resources) of the pod-bearing kinds a workload policy matches.
WORKLOAD_RESOURCES = (
    ("", ("pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers")),
    ("apps", ("deployments", "replicasets", "statefulsets", "daemonsets")),
    ("batch", ("jobs", "cronjobs")),
)
WORKLOAD_KINDS = (
    "Pod",
    "PodTemplate",
    "ReplicationController",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
)


def _has(path: str) -> str:
    """``has(a.b) && has(a.b.c)`` for ``a.b.c`` (the root ``a`` is a variable that always exists).

    ``variables.x.y`` has the root ``variables.x``."""
    parts = path.split(".")
    start = 2 if parts[0] == "variables" else 1
    return " && ".join(f"has({'.'.join(parts[: i + 1])})" for i in range(start, len(parts)))


def _or_empty(path: str) -> str:
    """The list at ``path``, or ``[]`` when a step is missing."""
    return f"({_has(path)} ? {path} : [])"


def _field_is(path: str, value: str) -> str:
    return f"({_has(path)} && {path} == {value})"


#: Variables every workload policy declares (in this order: later ones read earlier ones).
WORKLOAD_VARIABLES: tuple[tuple[str, str], ...] = (
    (
        "podSpec",
        "object.kind == 'Pod' ? object.spec : object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template.spec"
        " : object.kind == 'PodTemplate' ? object.template.spec : object.spec.template.spec",
    ),
    (
        "podAnnotations",
        "object.kind == 'Pod' ? (" + _has("object.metadata.annotations") + " ? object.metadata.annotations : {})"
        " : object.kind == 'CronJob' ? ("
        + _has("object.spec.jobTemplate.spec.template.metadata.annotations")
        + " ? object.spec.jobTemplate.spec.template.metadata.annotations : {})"
        " : object.kind == 'PodTemplate' ? ("
        + _has("object.template.metadata.annotations")
        + " ? object.template.metadata.annotations : {})"
        " : ("
        + _has("object.spec.template.metadata.annotations")
        + " ? object.spec.template.metadata.annotations : {})",
    ),
    ("podSC", "has(variables.podSpec.securityContext) ? variables.podSpec.securityContext : {}"),
    (
        "allContainers",
        _or_empty("variables.podSpec.initContainers")
        + " + "
        + _or_empty("variables.podSpec.containers")
        + " + "
        + _or_empty("variables.podSpec.ephemeralContainers"),
    ),
    ("ciContainers", _or_empty("variables.podSpec.initContainers") + " + " + _or_empty("variables.podSpec.containers")),
    # C: containers and sidecars (init containers with restartPolicy: Always)
    (
        "cContainers",
        _or_empty("variables.podSpec.containers")
        + " + "
        + _or_empty("variables.podSpec.initContainers")
        + ".filter(c, "
        + _field_is("c.restartPolicy", "'Always'")
        + ")",
    ),
    ("isWindows", _has("variables.podSpec.os.name") + " && variables.podSpec.os.name == 'windows'"),
    ("hostUsersFalse", _field_is("variables.podSpec.hostUsers", "false")),
)


def _caps(which: str) -> str:
    return _or_empty(f"c.securityContext.capabilities.{which}")


def _cap_re(names: Iterable[str]) -> str:
    """A regular expression for capability names compared as kubefort does (case-insensitive, CAP_ prefix)."""
    return "'(?i)^\\\\s*(cap_)?(" + "|".join(sorted(names)) + ")\\\\s*$'"


def _effective(field: str) -> tuple[str, str]:
    """(is set, value) of a pod/container shared security context field for container ``c``."""
    ctr, pod = f"c.securityContext.{field}", f"variables.podSC.{field}"
    return (f"(({_has(ctr)}) || has({pod}))", f"(({_has(ctr)}) ? {ctr} : {pod})")


_SECCOMP_OK = "['RuntimeDefault', 'Localhost']"
_DIGEST_OK = (
    "(c.image.matches('^\\\\s*[^@]*@sha256:[0-9a-f]{64}\\\\s*$') || c.image.matches('^\\\\s*[^@]*@sha384:[0-9a-f]{96}\\\\s*$')"
    " || c.image.matches('^\\\\s*[^@]*@sha512:[0-9a-f]{128}\\\\s*$')"
    " || (!c.image.matches('^\\\\s*[^@]*@sha(256|384|512):')"
    " && c.image.matches('^\\\\s*[^@]*@[a-z][a-z0-9]*([+._-][a-z][a-z0-9]*)*:[0-9a-fA-F]{32,}\\\\s*$')))"
)
_HAS_TAG = "c.image.matches('^\\\\s*([^@]*/)?[^/@]*:[^/:@]+(@.*)?$')"
_LATEST = "c.image.matches('^\\\\s*([^@]*/)?[^/@]*:(?i:latest)\\\\s*(@.*)?$')"


def _rnr_ok() -> str:
    set_, val = _effective("runAsNonRoot")
    uset, uval = _effective("runAsUser")
    return f"(({set_} && {val} == true) || ({uset} && type({uval}) == int && {uval} != 0))"


def _all_c(cond: str, which: str = "allContainers") -> str:
    return f"variables.{which}.all(c, {cond})"


def _min_id(field: str, minimum: int) -> str:
    set_, val = _effective(field)
    return f"({set_} && type({val}) == int && {val} >= {minimum})"


def _quantity(path: str, name: str) -> str:
    """``resources.<section>.<name>`` is set to something other than an empty string."""
    return f"({_has(path)} && '{name}' in {path} && (type({path}['{name}']) != string || {path}['{name}'] != ''))"


def _selinux_ok(opts: str) -> str:
    t, u, r = f"{opts}.type", f"{opts}.user", f"{opts}.role"
    return (
        f"(!({_has(opts)}) || (!(has({t}) && {t} != '' && !({t} in {_SELINUX_TYPES}))"
        f" && !(has({u}) && {u} != '') && !(has({r}) && {r} != '')))"
    )


_SELINUX_TYPES = "['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']"
_CTR_SC_FIELDS = (
    "capabilities",
    "privileged",
    "seLinuxOptions",
    "windowsOptions",
    "runAsUser",
    "runAsGroup",
    "runAsNonRoot",
    "readOnlyRootFilesystem",
    "allowPrivilegeEscalation",
    "procMount",
    "seccompProfile",
    "appArmorProfile",
)


def _non_empty(sc: str, fields: tuple[str, ...]) -> str:
    return f"({_has(sc)} && (" + " || ".join(f"has({sc}.{f})" for f in fields) + "))"


@dataclass(frozen=True, slots=True)
class Match:
    """What a policy matches: the kinds (Kyverno ClusterPolicy), the (API group, resources) of those kinds
    (ValidatingAdmissionPolicy, Kyverno ValidatingPolicy) and the variables its expression reads."""

    kinds: tuple[str, ...]
    resources: tuple[tuple[str, tuple[str, ...]], ...]
    variables: tuple[tuple[str, str], ...] = ()


#: Pod-bearing kinds: the pod spec wherever the kind keeps it, and the container lists (WORKLOAD_VARIABLES).
WORKLOAD_MATCH = Match(WORKLOAD_KINDS, WORKLOAD_RESOURCES, WORKLOAD_VARIABLES)


@dataclass(frozen=True, slots=True)
class CelCheck:
    """A rule as one CEL expression over the object under admission (every validating format uses it)."""

    rule_id: str
    expression: str  # true: the object complies
    message: str
    match: Match = WORKLOAD_MATCH


#: The first translations: pod security and images (true when the object complies, default parameters).
_POD_CHECKS: tuple[CelCheck, ...] = (
    CelCheck(
        "KF-POD-001", _all_c(f"!{_field_is('c.securityContext.privileged', 'true')}"), "a container runs privileged"
    ),
    CelCheck(
        "KF-POD-002",
        "variables.isWindows || " + _all_c(_field_is("c.securityContext.allowPrivilegeEscalation", "false")),
        "a container does not set securityContext.allowPrivilegeEscalation: false",
    ),
    CelCheck(
        "KF-POD-003", f"!{_field_is('variables.podSpec.hostPID', 'true')}", "the pod shares the host PID namespace"
    ),
    CelCheck(
        "KF-POD-004", f"!{_field_is('variables.podSpec.hostIPC', 'true')}", "the pod shares the host IPC namespace"
    ),
    CelCheck(
        "KF-POD-005",
        f"!{_field_is('variables.podSpec.hostNetwork', 'true')}",
        "the pod shares the host network namespace",
    ),
    CelCheck(
        "KF-POD-006",
        f"{_or_empty('variables.podSpec.volumes')}.all(v, !has(v.hostPath))",
        "the pod uses a hostPath volume",
    ),
    CelCheck(
        "KF-POD-011",
        _all_c(f"{_caps('add')}.all(x, x.matches({_cap_re(BASELINE_CAPABILITIES)}))"),
        "a container adds a capability outside the baseline default set",
    ),
    CelCheck(
        "KF-POD-012",
        _all_c(f"{_caps('add')}.all(x, !x.matches({_cap_re(DANGEROUS_CAPABILITIES)}))"),
        "a container adds a dangerous capability",
    ),
    CelCheck(
        "KF-POD-013",
        "variables.isWindows || "
        + _all_c(
            f"{_caps('add')}.all(x, !x.matches({_cap_re(['NET_RAW'])}))"
            f" && {_caps('drop')}.exists(x, x.matches({_cap_re(['NET_RAW', 'ALL'])}))"
            f" && !{_field_is('c.securityContext.privileged', 'true')}"
        ),
        "a container does not drop NET_RAW (or ALL), adds it back, or is privileged",
    ),
    CelCheck(
        "KF-POD-014",
        "variables.isWindows || " + _all_c(f"{_caps('drop')}.exists(x, x.matches({_cap_re(['ALL'])}))"),
        "a container does not drop ALL capabilities",
    ),
    CelCheck(
        "KF-POD-015",
        "variables.isWindows || " + _all_c(f"{_caps('add')}.all(x, x.matches({_cap_re(['NET_BIND_SERVICE'])}))"),
        "a container adds a capability other than NET_BIND_SERVICE",
    ),
    CelCheck(
        "KF-POD-016",
        "variables.hostUsersFalse || " + _all_c(_rnr_ok()),
        "a container may run as root: neither runAsNonRoot: true nor a non-zero runAsUser applies to it",
    ),
    CelCheck(
        "KF-POD-017",
        "variables.hostUsersFalse || (!(has(variables.podSC.runAsUser) && type(variables.podSC.runAsUser) == int"
        " && variables.podSC.runAsUser == 0) && "
        + _all_c(
            f"!({_has('c.securityContext.runAsUser')} && type(c.securityContext.runAsUser) == int"
            " && c.securityContext.runAsUser == 0)"
        )
        + ")",
        "the pod or a container sets runAsUser: 0",
    ),
    CelCheck(
        "KF-POD-022",
        "variables.isWindows || "
        + _all_c(
            f"({_has('c.securityContext.seccompProfile')}) ? ({_has('c.securityContext.seccompProfile.type')}"
            f" && c.securityContext.seccompProfile.type in {_SECCOMP_OK})"
            f" : ({_has('variables.podSC.seccompProfile.type')} && variables.podSC.seccompProfile.type in {_SECCOMP_OK})"
        ),
        "a container has no seccomp profile of type RuntimeDefault or Localhost (pod or container)",
    ),
    CelCheck(
        "KF-POD-023",
        f"!{_field_is('variables.podSC.seccompProfile.type', chr(39) + 'Unconfined' + chr(39))}"
        " && "
        + _all_c(f"!{_field_is('c.securityContext.seccompProfile.type', chr(39) + 'Unconfined' + chr(39))}")
        + " && !variables.podAnnotations.exists(k, (k == 'seccomp.security.alpha.kubernetes.io/pod'"
        " || k.startsWith('container.seccomp.security.alpha.kubernetes.io/'))"
        " && variables.podAnnotations[k] == 'unconfined')",
        "the pod or a container sets seccomp Unconfined (field or legacy annotation)",
    ),
    CelCheck(
        "KF-POD-029",
        f"!{_field_is('variables.podSC.windowsOptions.hostProcess', 'true')} && "
        + _all_c(f"!{_field_is('c.securityContext.windowsOptions.hostProcess', 'true')}"),
        "the pod or a container is a Windows HostProcess container",
    ),
    CelCheck("KF-POD-036", f"size({_or_empty('variables.podSpec.hostAliases')}) == 0", "the pod sets hostAliases"),
    CelCheck(
        "KF-POD-018",
        "variables.isWindows || variables.hostUsersFalse || " + _all_c(_min_id("runAsUser", 10000), "ciContainers"),
        "a container runs with no runAsUser, or one below 10000 (pod or container)",
    ),
    CelCheck(
        "KF-POD-019",
        "variables.isWindows || " + _all_c(_min_id("runAsGroup", 10000), "ciContainers"),
        "a container runs with no runAsGroup, or one below 10000 (pod or container)",
    ),
    CelCheck(
        "KF-POD-020",
        _all_c(
            f"!({_effective('runAsGroup')[0]} && type({_effective('runAsGroup')[1]}) == int"
            f" && {_effective('runAsGroup')[1]} == 0)"
        )
        + f" && {_or_empty('variables.podSC.supplementalGroups')}.all(g, type(g) != int || g != 0)"
        " && !(has(variables.podSC.fsGroup) && type(variables.podSC.fsGroup) == int && variables.podSC.fsGroup == 0)",
        "the pod or a container uses group 0 (runAsGroup, supplementalGroups or fsGroup)",
    ),
    CelCheck(
        "KF-POD-010",
        _all_c(f"{_or_empty('c.ports')}.all(p, !(has(p.hostPort) && type(p.hostPort) == int && p.hostPort != 0))")
        + f" && (!{_field_is('variables.podSpec.hostNetwork', 'true')} || "
        + _all_c(
            f"{_or_empty('c.ports')}.all(p, (has(p.hostPort) && p.hostPort != 0)"
            " || !(has(p.containerPort) && type(p.containerPort) == int && p.containerPort != 0))",
            "ciContainers",
        )
        + ")",
        "a container binds a host port (hostPort, or containerPort with hostNetwork)",
    ),
    CelCheck(
        "KF-POD-031",
        f"{_or_empty('variables.podSpec.volumes')}.all(v, "
        + " || ".join(f"has(v.{k})" for k in sorted(ALLOWED_VOLUME_SOURCES))
        + " || !("
        + " || ".join(f"has(v.{k})" for k in sorted(OTHER_VOLUME_SOURCES))
        + "))",
        "the pod uses a volume type outside configMap, csi, downwardAPI, emptyDir, ephemeral, image, "
        "persistentVolumeClaim, projected, secret",
    ),
    CelCheck(
        "KF-POD-021",
        "variables.isWindows || "
        + _all_c(_field_is("c.securityContext.readOnlyRootFilesystem", "true"), "ciContainers"),
        "a container does not set securityContext.readOnlyRootFilesystem: true",
    ),
    CelCheck(
        "KF-POD-026",
        _selinux_ok("variables.podSC.seLinuxOptions")
        + " && "
        + _all_c(_selinux_ok("c.securityContext.seLinuxOptions")),
        "the pod or a container sets a custom SELinux type, user or role",
    ),
    CelCheck(
        "KF-POD-027",
        "variables.hostUsersFalse || "
        + _all_c(f"!({_has('c.securityContext.procMount')}) || c.securityContext.procMount == 'Default'"),
        "a container sets procMount to something other than Default",
    ),
    CelCheck(
        "KF-POD-032",
        _non_empty("variables.podSpec.securityContext", INHERITED_FIELDS)
        + " || "
        + _all_c(_non_empty("c.securityContext", _CTR_SC_FIELDS), "ciContainers"),
        "a container has no (or an empty) securityContext and the pod sets none it inherits",
    ),
    CelCheck(
        "KF-POD-041",
        _all_c(
            _quantity("c.resources.limits", "memory")
            + " || "
            + _quantity("variables.podSpec.resources.limits", "memory"),
            "cContainers",
        ),
        "a container has no memory limit",
    ),
    CelCheck(
        "KF-POD-042",
        _all_c(
            _quantity("c.resources.limits", "cpu") + " || " + _quantity("variables.podSpec.resources.limits", "cpu"),
            "cContainers",
        ),
        "a container has no CPU limit",
    ),
    CelCheck(
        "KF-POD-043",
        _all_c(
            " && ".join(
                f"({_quantity('c.resources.requests', r)} || {_quantity('c.resources.limits', r)}"
                f" || {_quantity('variables.podSpec.resources.requests', r)})"
                for r in ("cpu", "memory")
            ),
            "cContainers",
        ),
        "a container has no CPU or memory request",
    ),
    CelCheck(
        "KF-POD-045",
        "object.kind in ['Job', 'CronJob'] || " + _all_c("has(c.livenessProbe)", "cContainers"),
        "a long-running container has no liveness probe",
    ),
    CelCheck(
        "KF-IMG-002",
        _all_c(f"!has(c.image) || c.image.matches('^\\\\s*$') || {_DIGEST_OK}"),
        "a container image is not pinned by digest",
    ),
    CelCheck(
        "KF-IMG-001",
        _all_c(f"has(c.image) && !c.image.matches('^\\\\s*$') && ({_DIGEST_OK} || ({_HAS_TAG} && !{_LATEST}))"),
        "a container image has no tag or uses latest, and no digest",
    ),
)

# ---------------------------------------------------------------------------------------------------
# More pod rules: host paths, AppArmor, sysctls, probe hosts, hardening, images, env, service accounts.


def _lit(text: str) -> str:
    """``text`` as a CEL string literal (a regular expression keeps its backslashes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _lits(items: Iterable[str]) -> str:
    return "[" + ", ".join(_lit(i) for i in sorted(items)) + "]"


def _host_path_re(paths: Iterable[str]) -> str:
    """A regular expression for every spelling of a host path that ``norm_host_path`` turns into one of
    ``paths`` or one of their parent directories (surrounding blanks, repeated ``/``, ``.`` segments and
    a trailing ``/``). ``..`` segments are not resolved: the API server rejects a hostPath containing
    ``..`` before validating admission policies run. A path of blanks only normalises to ``""``, which
    ``covers`` every absolute path: it matches too."""
    covering: set[tuple[str, ...]] = set()
    for p in paths:
        segs = tuple(s for s in norm_host_path(p).split("/") if s)
        covering.update(segs[:i] for i in range(len(segs) + 1))
    alts = [""]
    for segs in sorted(covering):
        if not segs:
            alts.append(r"(/+\.?)+")
        else:
            alts.append("".join(r"(/+\.)*/+" + re.escape(s) for s in segs) + r"(/+\.?)*")
    return r"^\s*(" + "|".join(alts) + r")\s*$"


def _host_path_check(rule_id: str, paths: Iterable[str], message: str, mounted_only: bool) -> CelCheck:
    mounted = (
        " && has(v.name) && variables.allContainers.exists(c, has(c.volumeMounts)"
        " && c.volumeMounts.exists(m, has(m.name) && m.name == v.name))"
        if mounted_only
        else ""
    )
    return CelCheck(
        rule_id,
        f"{_or_empty('variables.podSpec.volumes')}.all(v, !(has(v.hostPath) && has(v.hostPath.path)"
        f" && type(v.hostPath.path) == string{mounted} && v.hostPath.path.matches({_lit(_host_path_re(paths))})))",
        message,
    )


_SEP = r"[/\\]"


def _cloud_credentials_re() -> str:
    """KF-POD-038's condition on the raw path (``\\`` is a separator too, as on Windows nodes)."""
    creds = "|".join(f"{_SEP}+".join(re.escape(s) for s in c.split("/") if s) for c in CLOUD_CREDENTIAL_PATHS)
    inside = rf"(?s)^.*{_SEP}({creds})({_SEP}.*|\s*)$"
    parents: set[tuple[str, ...]] = set()
    for c in CLOUD_CREDENTIAL_PATHS:
        if not c.startswith("/."):
            segs = tuple(s for s in c.split("/") if s)
            parents.update(segs[:i] for i in range(1, len(segs)))
    above = "|".join(f"{_SEP}+".join(re.escape(s) for s in segs) for segs in sorted(parents))
    homes = rf"root|home|home{_SEP}+[^/\\]+"
    return rf"{inside}|^\s*{_SEP}+\s*$|^\s+$|^\s*{_SEP}+({above}|{homes}){_SEP}*\s*$"


_APPARMOR_PREFIX = "container.apparmor.security.beta.kubernetes.io/"
_CONFINED = "['Localhost', 'RuntimeDefault']"


def _apparmor_value_ok(value: str) -> str:
    return (
        f"({value} == '' || {value} == 'runtime/default' || ({value}.startsWith('localhost/') && size({value}) > 10))"
    )


def _profile_ok(profile: str) -> str:
    return f"(has({profile}.type) && {profile}.type in {_CONFINED})"


def _handler_host_ok() -> str:
    terms = []
    for base in [f"c.{p}" for p in PROBES] + [f"c.lifecycle.{h}" for h in LIFECYCLE_HOOKS]:
        for action in ("httpGet", "tcpSocket"):
            host = f"{base}.{action}.host"
            terms.append(
                f"(!({_has(host)}) || {host} == '' || ({host} in {_lits(LOOPBACK_HOSTS)}"
                f" && {_field_is('variables.podSpec.hostNetwork', 'true')}))"
            )
    return " && ".join(terms)


def _hardened() -> str:
    sc_set, sc_val = _effective("seccompProfile")
    aa_set, aa_val = _effective("appArmorProfile")
    se_set, se_val = _effective("seLinuxOptions")
    key = f"{_lit(_APPARMOR_PREFIX)} + c.name"
    ann = f"variables.podAnnotations[{key}]"
    return (
        f"({sc_set} && {_profile_ok(sc_val)}) || ({aa_set} && {_profile_ok(aa_val)})"
        f" || (has(c.name) && {key} in variables.podAnnotations && {ann} != '' && {_apparmor_value_ok(ann)})"
        f" || ({se_set} && {se_val}.exists(k, {se_val}[k] != ''))"
        f" || {_caps('drop')}.exists(x, type(x) == string)"
    )


def _sa_name() -> str:
    """The ServiceAccount a pod runs as (serviceAccountName, else the deprecated serviceAccount, else default)."""
    new, old = "variables.podSpec.serviceAccountName", "variables.podSpec.serviceAccount"
    return (
        f"(has({new}) && type({new}) == string && {new} != '' ? {new}"
        f" : has({old}) && type({old}) == string && {old} != '' ? {old} : 'default')"
    )


#: KF-IMG-006: the explicit registry host (``[^/@]*`` before the first ``/``, with a ``.`` or ``:``, or localhost).
_EXPLICIT_REGISTRY = r"^\s*([^/@]*[.:][^/@]*|localhost)/"
_BLOCKED_HOSTS = sorted(DOCKER_HUB_ALIASES | set(DEFAULT_BLOCKED_REGISTRIES))
_BLOCKED_REGISTRY = r"^\s*(?i:" + "|".join(re.escape(h) for h in _BLOCKED_HOSTS) + ")/"
_FROZEN = r"^\s*(?i:k8s\.gcr\.io)/|^\s*(?i:([^/@]*\.)?gcr\.io)/+google[-_]containers(/|(:[^/@:]*)?(@|\s*$))"


_MORE_POD_CHECKS: tuple[CelCheck, ...] = (
    CelCheck(
        "KF-POD-007",
        _all_c(
            f"{_or_empty('c.volumeMounts')}.all(m, !(has(m.name) && m.name in "
            f"{_or_empty('variables.podSpec.volumes')}.filter(v, has(v.hostPath) && has(v.name)).map(v, v.name))"
            f" || {_field_is('m.readOnly', 'true')})"
        ),
        "a container mounts a hostPath volume without readOnly: true",
    ),
    _host_path_check(
        "KF-POD-008",
        SENSITIVE_HOST_PATHS,
        "a mounted hostPath volume is a sensitive host path or one of its parents",
        mounted_only=True,
    ),
    _host_path_check(
        "KF-POD-009",
        RUNTIME_SOCKETS,
        "a hostPath volume is a container runtime socket or a directory holding one",
        mounted_only=False,
    ),
    CelCheck(
        "KF-POD-024",
        f"(!has(variables.podSC.appArmorProfile) || {_profile_ok('variables.podSC.appArmorProfile')}) && "
        + _all_c(
            f"!({_has('c.securityContext.appArmorProfile')}) || {_profile_ok('c.securityContext.appArmorProfile')}"
        )
        + f" && variables.podAnnotations.all(k, !k.startsWith({_lit(_APPARMOR_PREFIX)})"
        f" || ({_apparmor_value_ok('variables.podAnnotations[k]')}"
        f" && variables.allContainers.exists(c, has(c.name) && {_lit(_APPARMOR_PREFIX)} + c.name == k)))",
        "the pod or a container sets AppArmor unconfined or an invalid profile, or an AppArmor annotation names "
        "no container of the pod",
    ),
    CelCheck(
        "KF-POD-028",
        f"{_or_empty('variables.podSC.sysctls')}.all(s, !has(s.name) || type(s.name) != string || s.name in "
        + _lits(
            safe_sysctls(None) | {n.translate(str.maketrans("./", "/.")) for n in safe_sysctls(None)}
        )  # a name whose first separator is / has . and / swapped (kubelet)
        + ")",
        "the pod sets a sysctl outside the safe set",
    ),
    CelCheck(
        "KF-POD-030",
        _all_c(_handler_host_ok(), "ciContainers"),
        "a probe or lifecycle handler sets host (loopback is allowed for hostNetwork pods only)",
    ),
    CelCheck(
        "KF-POD-033",
        "variables.isWindows || " + _all_c(_hardened(), "ciContainers"),
        "a container has no seccomp or AppArmor profile, no SELinux options and drops no capabilities",
    ),
    CelCheck(
        "KF-POD-038",
        f"{_or_empty('variables.podSpec.volumes')}.all(v, !(has(v.hostPath) && has(v.hostPath.path)"
        " && type(v.hostPath.path) == string && v.hostPath.path != ''"
        f" && v.hostPath.path.matches({_lit(_cloud_credentials_re())})))",
        "a hostPath volume is, is inside or holds a cloud credential location",
    ),
    CelCheck(
        "KF-SEC-002",
        _all_c(
            f"{_or_empty('c.env')}.all(e, !({_has('e.valueFrom.secretKeyRef')}))"
            f" && {_or_empty('c.envFrom')}.all(e, !has(e.secretRef))"
        ),
        "a container reads a Secret into environment variables (env valueFrom.secretKeyRef or envFrom secretRef)",
    ),
    CelCheck(
        "KF-IMG-004",
        _all_c(
            f"!({_has('c.imagePullPolicy')} && c.imagePullPolicy in ['IfNotPresent', 'Never'])"
            f" || !has(c.image) || c.image.matches('^\\\\s*$') || {_DIGEST_OK} || ({_HAS_TAG} && !{_LATEST})"
        ),
        "a container pulls a mutable tag (none, or latest, and no digest) with imagePullPolicy IfNotPresent or Never",
    ),
    CelCheck(
        "KF-IMG-006",
        _all_c(
            "!has(c.image) || c.image.matches('^\\\\s*$') || "
            f"(c.image.matches({_lit(_EXPLICIT_REGISTRY)})"
            f" && !c.image.matches({_lit(_BLOCKED_REGISTRY)}))"
        ),
        "a container image comes from a public registry (docker.io, also implicitly, ghcr.io, quay.io, public.ecr.aws)",
    ),
    CelCheck(
        "KF-IMG-007",
        _all_c(f"!has(c.image) || !c.image.matches({_lit(_FROZEN)})"),
        "a container image comes from the frozen k8s.gcr.io registry",
    ),
    CelCheck(
        "KF-MTLS-007",
        f"{_lits(BYPASS_ANNOTATIONS)}.all(k, !(k in variables.podAnnotations)"
        " || variables.podAnnotations[k].matches('^\\\\s*$'))",
        "a pod template annotation lets traffic bypass the mesh proxy",
    ),
    CelCheck(
        "KF-RBAC-024",
        f"{_sa_name()} != 'default'",
        "the pod runs under the default ServiceAccount",
    ),
    CelCheck(
        "KF-RBAC-026",
        "!(has(variables.podSpec.serviceAccount) && type(variables.podSpec.serviceAccount) == string"
        " && variables.podSpec.serviceAccount != '')"
        " || (has(variables.podSpec.serviceAccountName) && variables.podSpec.serviceAccountName"
        " == variables.podSpec.serviceAccount)",
        "the pod sets the deprecated serviceAccount field, alone or differing from serviceAccountName",
    ),
)


# ---------------------------------------------------------------------------------------------------
# Rules on other kinds than pods: the policy matches their resources and reads ``object`` alone.

ROLE_MATCH = Match(("Role", "ClusterRole"), ((RBAC, ("roles", "clusterroles")),))
CLUSTER_ROLE_MATCH = Match(("ClusterRole",), ((RBAC, ("clusterroles",)),))
BINDING_MATCH = Match(("RoleBinding", "ClusterRoleBinding"), ((RBAC, ("rolebindings", "clusterrolebindings")),))
SERVICE_MATCH = Match(("Service",), (("", ("services",)),))
SERVICE_ACCOUNT_MATCH = Match(("ServiceAccount",), (("", ("serviceaccounts",)),))
SECRET_MATCH = Match(("Secret",), (("", ("secrets",)),))
CSR_MATCH = Match(("CertificateSigningRequest",), (("certificates.k8s.io", ("certificatesigningrequests",)),))
PEER_AUTHENTICATION_MATCH = Match(("PeerAuthentication",), (("security.istio.io", ("peerauthentications",)),))
AUTHORIZATION_POLICY_MATCH = Match(("AuthorizationPolicy",), (("security.istio.io", ("authorizationpolicies",)),))
SNIPPET_MATCH = Match(("Ingress", "ConfigMap"), (("networking.k8s.io", ("ingresses",)), ("", ("configmaps",))))

#: KF-RBAC-038's default max_client_cert_seconds
_MAX_CLIENT_CERT_SECONDS = client_certificate_long_expiry.meta.params["max_client_cert_seconds"]
_ANNOTATIONS = "(has(object.metadata) && has(object.metadata.annotations) ? object.metadata.annotations : {})"
_SUBJECTS = "(has(object.subjects) ? object.subjects : [])"


def _role_ref_is(kind: str, name: str) -> str:
    return (
        f"(has(object.roleRef) && has(object.roleRef.kind) && object.roleRef.kind == {_lit(kind)}"
        f" && has(object.roleRef.name) && object.roleRef.name == {name})"
    )


def _subject(kind: str, name: str) -> str:
    return f"({_field_is('s.kind', _lit(kind))} && {_field_is('s.name', _lit(name))})"


def _one_of_re(values: Iterable[str]) -> str:
    """Any of ``values``, case-insensitive, with surrounding blanks (``str(v).strip().lower() in values``)."""
    return r"(?i)^\s*(" + "|".join(re.escape(v) for v in values) + r")\s*$"


def _internal_lb() -> str:
    return " || ".join(
        f"({_lit(k)} in {_ANNOTATIONS} && {_ANNOTATIONS}[{_lit(k)}].matches({_lit(_one_of_re(vals))}))"
        for k, vals in INTERNAL_LB_ANNOTATIONS.items()
    )


def _ap_rule_empty(r: str) -> str:
    return f"['from', 'to', 'when'].all(k, !(k in {r}) || size({r}[k]) == 0)"


_OBJECT_CHECKS: tuple[CelCheck, ...] = (
    CelCheck(
        "KF-NET-012",
        "!has(object.spec) || !has(object.spec.type) || object.spec.type != 'NodePort'"
        " && (object.spec.type != 'LoadBalancer'"
        " || (has(object.spec.loadBalancerSourceRanges) && size(object.spec.loadBalancerSourceRanges) > 0)"
        f" || {_internal_lb()}"
        f" || ({_lit(LB_SOURCE_RANGES_ANNOTATION)} in {_ANNOTATIONS}"
        f" && !{_ANNOTATIONS}[{_lit(LB_SOURCE_RANGES_ANNOTATION)}].matches('^\\\\s*$')))",
        "the Service is a NodePort, or a LoadBalancer without source ranges or an internal load balancer annotation",
        SERVICE_MATCH,
    ),
    CelCheck(
        "KF-NET-013",
        "!has(object.spec) || !has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
        "the Service sets externalIPs",
        SERVICE_MATCH,
    ),
    CelCheck(
        "KF-NET-015",
        "object.kind == 'ConfigMap' ? !(has(object.data) && 'allow-snippet-annotations' in object.data"
        " && object.data['allow-snippet-annotations'].matches('(?i)^\\\\s*true\\\\s*$'))"
        f" : !{_ANNOTATIONS}.exists(k, k.startsWith({_lit(SNIPPET_PREFIX)}) && k.endsWith('-snippet'))",
        "the Ingress carries an ingress-nginx *-snippet annotation, or the ConfigMap allows snippet annotations",
        SNIPPET_MATCH,
    ),
    CelCheck(
        "KF-MTLS-002",
        "!(has(object.spec) && has(object.spec.mtls) && has(object.spec.mtls.mode) && object.spec.mtls.mode == 'DISABLE')"
        " && !(has(object.spec) && has(object.spec.portLevelMtls) && object.spec.portLevelMtls.exists(p,"
        " 'mode' in object.spec.portLevelMtls[p] && object.spec.portLevelMtls[p]['mode'] == 'DISABLE'))",
        "the PeerAuthentication sets mode DISABLE (for the workloads or a port)",
        PEER_AUTHENTICATION_MATCH,
    ),
    CelCheck(
        "KF-MTLS-009",
        "!(has(object.spec) && (!has(object.spec.action) || object.spec.action == 'ALLOW') && has(object.spec.rules)"
        f" && object.spec.rules.exists(r, r == null || {_ap_rule_empty('r')}))",
        "an ALLOW rule of the AuthorizationPolicy has no from, to or when",
        AUTHORIZATION_POLICY_MATCH,
    ),
    CelCheck(
        "KF-RBAC-006",
        "(object.kind == 'ClusterRoleBinding' && object.metadata.name == 'cluster-admin'"
        " && has(object.metadata) && has(object.metadata.labels) && 'kubernetes.io/bootstrapping' in object.metadata.labels"
        " && object.metadata.labels['kubernetes.io/bootstrapping'] == 'rbac-defaults'"
        f" && {_role_ref_is('ClusterRole', _lit('cluster-admin'))})"
        f" || !{_SUBJECTS}.exists(s, {_subject('Group', 'system:masters')})",
        "the binding names the group system:masters",
        BINDING_MATCH,
    ),
    CelCheck(
        "KF-RBAC-020",
        "(object.kind == 'ClusterRoleBinding' && object.metadata.name == 'system:public-info-viewer'"
        f" && {_role_ref_is('ClusterRole', _lit('system:public-info-viewer'))})"
        f" || !{_SUBJECTS}.exists(s, {_subject('User', 'system:anonymous')}"
        f" || {_subject('Group', 'system:unauthenticated')})",
        "the binding grants a role to system:anonymous or system:unauthenticated",
        BINDING_MATCH,
    ),
    CelCheck(
        "KF-RBAC-021",
        f"(object.kind == 'ClusterRoleBinding' && object.metadata.name in {_lits(AUTHENTICATED_DEFAULTS)}"
        f" && {_role_ref_is('ClusterRole', 'object.metadata.name')})"
        f" || !{_SUBJECTS}.exists(s, {_subject('Group', 'system:authenticated')})",
        "the binding grants a role to the group system:authenticated",
        BINDING_MATCH,
    ),
    CelCheck(
        "KF-RBAC-022",
        f"!{_SUBJECTS}.exists(s, {_subject('ServiceAccount', 'default')}"
        f" || ({_field_is('s.kind', _lit('User'))} && has(s.name) && type(s.name) == string"
        f" && s.name.startsWith({_lit(SA_PREFIX)}) && s.name.endsWith(':default')))",
        "the binding names a default ServiceAccount",
        BINDING_MATCH,
    ),
    CelCheck(
        "KF-RBAC-037",
        f"!{_SUBJECTS}.exists(s, has(s.name) && type(s.name) == string && s.name != ''"
        " && !s.name.startsWith('system:') && has(s.kind)"
        " && (s.kind == 'Group' || (s.kind == 'User' && object.kind == 'ClusterRoleBinding')))",
        "the binding names a group that is not system:, or a user cluster-wide",
        BINDING_MATCH,
    ),
    CelCheck(
        "KF-RBAC-023",
        "object.metadata.name != 'default' || " + _field_is("object.automountServiceAccountToken", "false"),
        "the default ServiceAccount does not set automountServiceAccountToken: false",
        SERVICE_ACCOUNT_MATCH,
    ),
    CelCheck(
        "KF-RBAC-036",
        f"!has(object.type) || object.type != {_lit(SA_TOKEN_TYPE)}",
        "the Secret is a legacy long-lived service account token",
        SECRET_MATCH,
    ),
    CelCheck(
        "KF-RBAC-038",
        f"!({_has('object.spec.signerName')} && object.spec.signerName == {_lit(APISERVER_CLIENT_SIGNER)})"
        " || (has(object.spec.expirationSeconds) && !(type(object.spec.expirationSeconds) == int"
        f" && object.spec.expirationSeconds > {_MAX_CLIENT_CERT_SECONDS}))",
        "the client certificate request has no expirationSeconds, or one above 604800 (7 days)",
        CSR_MATCH,
    ),
)


# ---------------------------------------------------------------------------------------------------
# RBAC rules on one Role or ClusterRole: each PolicyRule ``r`` matched as the RBAC authorizer matches it
# (kubefort.analysis.rbac.policy.PolicyRule.coverage), with the written rules only (as at admission).


def _strs_of(rule: str, field: str) -> str:
    return f"(has({rule}.{field}) ? {rule}.{field} : [])"


def _grants(verbs: Sequence[str], targets: Sequence[ApiResource], rule: str = "r") -> str:
    """True when PolicyRule ``rule`` grants any of ``verbs`` on any of ``targets`` (for every object, or
    for the objects of its resourceNames) where the role applies: a Role cannot grant cluster-scoped
    resources, and name-less requests never match a rule with resourceNames."""
    vs, gs, rs = _strs_of(rule, "verbs"), _strs_of(rule, "apiGroups"), _strs_of(rule, "resources")
    no_names = f"(!has({rule}.resourceNames) || size({rule}.resourceNames) == 0)"
    terms = []
    for t in targets:
        group = f"('*' in {gs} || {_lit(t.group)} in {gs})"
        if t.any_sub:
            res = f"{rs}.exists(x, x == '*' || x.startsWith({_lit(t.resource + '/')}) || x.startsWith('*/'))"
        else:
            names = ["*", f"{t.resource}/{t.sub}" if t.sub else t.resource] + ([f"*/{t.sub}"] if t.sub else [])
            res = " || ".join(f"{_lit(n)} in {rs}" for n in names)
        by_verb = []
        for v in verbs:
            parts = [f"('*' in {vs} || {_lit(v)} in {vs})" if v != "*" else f"'*' in {vs}"]
            if t.sub is None and not t.any_sub and v in NAMELESS_VERBS:
                parts.append(no_names)
            if not grantable_in_namespace(v, t.group, t.resource):
                parts.append("object.kind != 'Role'")
            by_verb.append(" && ".join(parts))
        terms.append(f"({group} && ({res}) && ({' || '.join(f'({p})' for p in by_verb)}))")
    return " || ".join(terms)


_SKIP_ROLE = (
    "object.metadata.name.startsWith('system:')"
    f" || (object.kind == 'ClusterRole' && object.metadata.name in {_lits(DEFAULT_USER_ROLES)})"
)


def _role_check(rule_id: str, judge: str, message: str, match: Match = ROLE_MATCH) -> CelCheck:
    """A role rule: no written rule of the role meets ``judge`` (roles named system:* and the default
    user-facing ClusterRoles are skipped, as the rule does without include_system)."""
    return CelCheck(rule_id, f"{_SKIP_ROLE} || {_strs_of('object', 'rules')}.all(r, !({judge}))", message, match)


def _simple_role_check(rule_id: str, verbs: Sequence[str], targets: Sequence[ApiResource], message: str) -> CelCheck:
    return _role_check(rule_id, _grants(verbs, targets), message)


_V, _G, _R = _strs_of("r", "verbs"), _strs_of("r", "apiGroups"), _strs_of("r", "resources")

_RBAC_CHECKS: tuple[CelCheck, ...] = (
    _role_check(
        "KF-RBAC-001",
        f"('*' in {_G} && '*' in {_R} && '*' in {_V})"
        f" || (object.kind == 'ClusterRole' && '*' in {_strs_of('r', 'nonResourceURLs')} && '*' in {_V})",
        "a rule grants every verb on every resource of every API group (or on every non-resource URL)",
    ),
    _role_check(
        "KF-RBAC-002", f"'*' in {_G} || '*' in {_R} || '*' in {_V}", "a rule uses '*' in apiGroups, resources or verbs"
    ),
    _role_check(
        "KF-RBAC-003",
        f"'*' in {_V} && ({_grants(['*'], SENSITIVE)})",
        "a rule grants every verb on a sensitive resource",
    ),
    _role_check(
        "KF-RBAC-004",
        f"'*' in {_R} && !(size({_G}) > 0 && {_G}.all(g, g in {_lits(METRICS_GROUPS)}))"
        f" && {_V}.exists(v, v in {_lits(ALL_RESOURCE_VERBS)})",
        "a rule grants access to every resource (resources '*') outside the metrics APIs",
    ),
    _simple_role_check(
        "KF-RBAC-009", ("create", "get"), resources_of(":pods/portforward"), "a rule grants port-forward into pods"
    ),
    _simple_role_check(
        "KF-RBAC-010",
        ("create", "update", "patch"),
        POD_CONTROLLERS,
        "a rule grants creating or modifying pods or pod controllers",
    ),
    _simple_role_check("KF-RBAC-011", ("escalate",), RBAC_ROLES, "a rule grants escalate on roles"),
    _simple_role_check("KF-RBAC-012", ("bind",), RBAC_ROLES, "a rule grants bind on roles"),
    _simple_role_check("KF-RBAC-013", ("impersonate",), IMPERSONATION, "a rule grants impersonation"),
    _simple_role_check(
        "KF-RBAC-014", ("create", "update", "patch"), RBAC_BINDINGS, "a rule grants writing role bindings"
    ),
    _simple_role_check(
        "KF-RBAC-015", ("get", "create"), resources_of(":nodes/proxy"), "a rule grants access to nodes/proxy"
    ),
    _role_check(
        "KF-RBAC-016",
        _grants(("update", "patch"), resources_of(f"{CERTS}:certificatesigningrequests/approval"))
        + f" && {_strs_of('object', 'rules')}.exists(p, {_grants(('approve',), resources_of(f'{CERTS}:signers'), 'p')})",
        "the role grants approving CertificateSigningRequests and approve on a signer",
    ),
    _simple_role_check(
        "KF-RBAC-017",
        ("create",),
        resources_of(":serviceaccounts/token"),
        "a rule grants creating service account tokens",
    ),
    _simple_role_check(
        "KF-RBAC-018",
        ("create", "update", "patch", "delete", "deletecollection"),
        ADMISSION_CONFIG,
        "a rule grants writing admission webhook configurations or admission policies",
    ),
    _role_check(
        "KF-RBAC-019",
        _grants(("create",), PERSISTENT_VOLUMES),
        "a rule grants creating PersistentVolumes",
        CLUSTER_ROLE_MATCH,
    ),
    _simple_role_check(
        "KF-RBAC-028",
        ("delete", "deletecollection"),
        resources_of(":events", "events.k8s.io:events"),
        "a rule grants deleting events",
    ),
    _simple_role_check(
        "KF-RBAC-029", ("delete", "deletecollection"), resources_of(":pods/log"), "a rule grants deleting pod logs"
    ),
    _simple_role_check(
        "KF-RBAC-030",
        ("delete", "deletecollection"),
        DELETABLE,
        "a rule grants deleting workloads, storage or namespaces",
    ),
    _simple_role_check(
        "KF-RBAC-031", ("create", "update", "patch", "delete"), CONFIGMAPS, "a rule grants writing ConfigMaps"
    ),
    _simple_role_check(
        "KF-RBAC-032",
        ("create", "update", "patch", "delete", "deletecollection"),
        NETWORKING,
        "a rule grants writing Services, endpoints, Ingresses or NetworkPolicies",
    ),
    _role_check(
        "KF-RBAC-034",
        "(object.kind == 'ClusterRole' || (has(object.metadata) && has(object.metadata.namespace) && object.metadata.namespace == 'kube-system'))"
        f" && ({_grants(('update', 'patch', 'delete'), CONFIGMAPS)})"
        " && (!has(r.resourceNames) || size(r.resourceNames) == 0 || 'aws-auth' in r.resourceNames)",
        "a rule grants writing the kube-system/aws-auth ConfigMap",
    ),
)

# ---------------------------------------------------------------------------------------------------
# NetworkPolicies and Namespaces.

NETWORK_POLICY_MATCH = Match(("NetworkPolicy",), (("networking.k8s.io", ("networkpolicies",)),))
NAMESPACE_MATCH = Match(("Namespace",), (("", ("namespaces",)),))


def _selects_everything(sel: str) -> str:
    return f"((!has({sel}.matchLabels) || size({sel}.matchLabels) == 0)" + (
        f" && (!has({sel}.matchExpressions) || size({sel}.matchExpressions) == 0))"
    )


def _allows_all(direction: str) -> str:
    """KF-NET-006/007: no rule of ``direction`` (when it is in the effective policyTypes) is empty (no peers,
    no ports) or has a peer selecting every pod of every namespace."""
    peer = "from" if direction == "ingress" else "to"
    types = "object.spec.policyTypes"
    listed = f"(has({types}) && size({types}) > 0)"
    in_effect = (
        f"({listed} ? 'Ingress' in {types} : true)"
        if direction == "ingress"
        else f"({listed} ? 'Egress' in {types} : has(object.spec.egress) && size(object.spec.egress) > 0)"
    )
    peers, ports = _strs_of("r", peer), _strs_of("r", "ports")
    everywhere = (
        f"{peers}.exists(p, has(p.namespaceSelector) && {_selects_everything('p.namespaceSelector')}"
        f" && (!has(p.podSelector) || {_selects_everything('p.podSelector')}))"
    )
    return (
        f"!has(object.spec) || !{in_effect} || !has(object.spec.{direction})"
        f" || object.spec.{direction}.all(r, !((size({peers}) == 0 && size({ports}) == 0) || {everywhere}))"
    )


_LABELS = "(has(object.metadata) && has(object.metadata.labels) ? object.metadata.labels : {})"


def _label(key: str) -> str:
    return f"{_LABELS}[{_lit(key)}]"


def _pinned_old_re() -> str:
    """KF-ADM-004: an enforce-version more than 3 minor releases older than its default target_version."""
    target = pod_security_version_pinned_old.meta.params["target_version"]
    minor = int(str(target).split(".")[1])
    return r"^\s*v1\.(" + "|".join(str(m) for m in range(minor - 3)) + r")\s*$"


def _psa_rank(value: str, invalid_as: str) -> str:
    """Strictness 0..2 of a Pod Security level label (an invalid value counts as ``invalid_as``)."""
    known = {"privileged": 0, "baseline": 1, "restricted": 2}
    rest = [lv for lv in PSA_LEVELS if lv != invalid_as]
    return (
        f"({value} == {_lit(rest[0])} ? {known[rest[0]]} : {value} == {_lit(rest[1])} ? {known[rest[1]]}"
        f" : {known[invalid_as]})"
    )


_NAMESPACE_CHECKS: tuple[CelCheck, ...] = (
    CelCheck(
        "KF-NET-006",
        _allows_all("ingress"),
        "an ingress rule allows every source (no from and no ports, or a peer selecting every namespace)",
        NETWORK_POLICY_MATCH,
    ),
    CelCheck(
        "KF-NET-007",
        _allows_all("egress"),
        "an egress rule allows every destination (no to and no ports, or a peer selecting every namespace)",
        NETWORK_POLICY_MATCH,
    ),
    CelCheck(
        "KF-ADM-002",
        f"object.metadata.name in {_lits(SYSTEM_NAMESPACES)} || !({_lit(PSA_ENFORCE)} in {_LABELS})"
        f" || {_label(PSA_ENFORCE)} in ['baseline', 'restricted']",
        "the namespace enforces the privileged Pod Security level, or an invalid one",
        NAMESPACE_MATCH,
    ),
    CelCheck(
        "KF-ADM-004",
        f"!({_lit(PSA_ENFORCE_VERSION)} in {_LABELS}) || ({_lit(PSA_ENFORCE)} in {_LABELS}"
        f" && {_label(PSA_ENFORCE)} == 'privileged') || !{_label(PSA_ENFORCE_VERSION)}.matches({_lit(_pinned_old_re())})",
        "the namespace pins pod-security.kubernetes.io/enforce-version more than 3 minor releases back",
        NAMESPACE_MATCH,
    ),
    CelCheck(
        "KF-ADM-005",
        f"!({_lit(PSA_ENFORCE)} in {_LABELS}) || (({_lit(PSA_AUDIT)} in {_LABELS} || {_lit(PSA_WARN)} in {_LABELS})"
        + "".join(
            f" && (!({_lit(k)} in {_LABELS}) || {_psa_rank(_label(k), 'privileged')}"
            f" >= {_psa_rank(_label(PSA_ENFORCE), 'restricted')})"
            for k in (PSA_AUDIT, PSA_WARN)
        )
        + ")",
        "the namespace enforces a Pod Security level without an audit or warn label at least as strict",
        NAMESPACE_MATCH,
    ),
)


#: Rule ID -> CEL (true when the object complies with the rule, default parameters).
CHECKS: dict[str, CelCheck] = {
    c.rule_id: c for c in (*_POD_CHECKS, *_MORE_POD_CHECKS, *_OBJECT_CHECKS, *_RBAC_CHECKS, *_NAMESPACE_CHECKS)
}

#: Rules that native policies cannot express, and why (beyond cross-object rules, listed generically).
CANNOT: dict[str, str] = {
    "KF-SEC-001": "secret detection uses detect-secrets plugins (keyword, entropy, key-format heuristics) that CEL "
    "cannot run",
    "KF-SEC-003": "secret detection in ConfigMap data needs detect-secrets heuristics that CEL cannot run",
    "KF-SEC-004": "secret detection in annotations needs detect-secrets heuristics that CEL cannot run",
    "KF-SEC-006": "credential detection in command lines needs argument parsing and secret heuristics beyond CEL",
    "KF-SEC-005": "applies to manifests in a repository, not to objects at admission",
    **dict.fromkeys(
        ("KF-SCHEMA-001", "KF-SCHEMA-002", "KF-SCHEMA-003", "KF-SCHEMA-004", "KF-SCHEMA-005"),
        "the API server validates objects against its schema before admission policies see them (a manifest check)",
    ),
    "KF-POD-037": "splitting shell strings on whitespace and operators (&&, ;, |) and taking the basename needs "
    "string functions (split, basename) that policies cannot rely on across Kubernetes versions",
    "KF-POD-040": "the list of recognised core components (system_workloads) is a parameter list compared by "
    "name and labels per namespace; better enforced by excluding kube-system from user access",
    "KF-POD-034": "the unprivileged-port bound comes from the string value of the net.ipv4.ip_unprivileged_port_start "
    "sysctl read as an integer (blanks and a sign allowed, the last valid entry wins); CEL's int() refuses such "
    "strings, so the policy could not say what the kubelet does",
    "KF-IMG-010": "the git-sync flags are found with a look-behind regular expression (RE2 has none), a flag's value "
    "may be the next item of the list, and $(VAR) references are resolved against the container's env",
    "KF-MTLS-008": "the Linkerd default inbound policy is read from Helm values YAML inside a ConfigMap and from "
    "controller arguments, which CEL cannot parse",
    "KF-NET-008": "the prefix length and the coverage of the private ranges by except need CIDR parsing of IPv4 and "
    "IPv6 blocks; the Kubernetes CEL network library (cidr(), 1.31+) is not in every engine the export targets",
    "KF-NET-014": "rule and TLS hosts are compared case-insensitively with wildcard suffixes, which needs string "
    "functions (lowerAscii, split) outside CEL's standard library",
    "KF-ADM-012": "maps each Kyverno or Gatekeeper policy to the KF-POD rules it enforces through kubefort's keyword "
    "table over names, titles and validation bodies, which is not a condition on one field",
    "KF-RBAC-039": "the subject is inside spec.request, a base64 PEM PKCS#10 request that only an X.509 parser can "
    "read",
    "KF-VER-006": "the API server converts an object to the version a policy matches (matchPolicy Equivalent), so a "
    "policy does not see the apiVersion the client sent; the API server warns about deprecated versions itself",
    "KF-VER-007": "compares today's date with a bundled end-of-life table; an exported policy would freeze the date "
    "of the export",
    "KF-IMG-003": "the effective pull policy depends on the image reference parsing and API server defaulting "
    "(the API server has already defaulted imagePullPolicy before admission, so the policy would "
    "see a different object than the manifest)",
}


#: Rules CEL could express that are not translated yet, and what stands in the way.
NOT_YET: dict[str, str] = {
    "KF-ADM-011": "Gatekeeper constraint kinds are made by ConstraintTemplates at run time: a ValidatingAdmissionPolicy "
    "can match every resource of constraints.gatekeeper.sh, but the Kyverno ClusterPolicy lists kinds, and the "
    "wildcard group/version/kind form was not tried against Kyverno",
}


@dataclass(slots=True)
class ExportResult:
    yaml: str
    exported: list[str] = field(default_factory=list)
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)


#: Kinds kubefort builds from files, flags or versions: nothing the API server admits.
NON_API_KINDS = frozenset(
    {
        "NodeSnapshot",
        "KubeletConfiguration",
        "KubeProxyConfiguration",
        "EncryptionConfiguration",
        "ClusterVersions",
        "Policy",
    }
)
#: Areas about control-plane and node configuration (static pod flags, node files).
NODE_AREAS = frozenset({"CP", "ETCD", "NODE", "KUBELET"})


def why_not(rule: Rule) -> str:
    m = rule.meta
    if m.cross_object or m.cross_object_kinds or m.scope is Scope.NAMESPACE:
        return "cannot: needs other objects than the one under review (cross-object)"
    if m.kinds is not None and m.kinds <= NON_API_KINDS:
        return "cannot: judges node or control-plane configuration (files, flags, versions), not an API object"
    if m.area in NODE_AREAS:
        return (
            "cannot: control-plane and node settings come from static pod manifests and files on the nodes; "
            "their mirror pods do not go through admission in a way that changes what runs"
        )
    if m.id in CANNOT:
        return f"cannot: {CANNOT[m.id]}"
    if m.id in NOT_YET:
        return f"not yet: {NOT_YET[m.id]}"
    if m.requires:
        return f"not yet: needs the parameter {m.requires} (a policy parameter resource) - not translated"
    return "not yet: the condition has not been translated to CEL (the kubefort webhook enforces it)"


def _message(rule: Rule, check: CelCheck) -> str:
    m = rule.meta
    return f"{m.id} {m.title} ({m.severity.label}): {check.message}. Fix: {m.remediation}"


def _name(rule_id: str) -> str:
    return f"kubefort-{rule_id.lower()}"


def _meta(rule: Rule) -> dict[str, Any]:
    m = rule.meta
    return {
        "name": _name(m.id),
        "labels": {"app.kubernetes.io/part-of": "kubefort", "kubefort.io/rule": m.id},
        "annotations": {"kubefort.io/title": m.title, "kubefort.io/severity": m.severity.label},
    }


def _resource_rules(match: Match) -> list[dict[str, Any]]:
    return [
        {"apiGroups": [g], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": list(res)}
        for g, res in match.resources
    ]


def _variables(match: Match) -> dict[str, Any]:
    """The ``variables`` entry of a policy (none when the expression reads the object alone)."""
    return {"variables": [{"name": n, "expression": e} for n, e in match.variables]} if match.variables else {}


def vap(rule: Rule, check: CelCheck, action: str) -> list[dict[str, Any]]:
    policy: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _meta(rule),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": _resource_rules(check.match)},
            **_variables(check.match),
            "validations": [{"expression": check.expression, "message": _message(rule, check), "reason": "Forbidden"}],
        },
    }
    actions = {"deny": ["Deny", "Audit"], "warn": ["Warn", "Audit"], "audit": ["Audit"]}[action]
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": _name(rule.meta.id), "labels": policy["metadata"]["labels"]},
        "spec": {
            "policyName": _name(rule.meta.id),
            "validationActions": actions,
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
                    ]
                }
            },
        },
    }
    return [policy, binding]


def kyverno(rule: Rule, check: CelCheck, action: str) -> list[dict[str, Any]]:
    """A Kyverno CEL ``ValidatingPolicy`` (policies.kyverno.io/v1, what Kyverno recommends over the
    deprecated ClusterPolicy): the ValidatingAdmissionPolicy's CEL, match and actions in one object, with
    no binding; kube-system excluded by namespace selector as the VAP binding does, and no autogen (every
    pod-bearing kind is matched explicitly)."""
    m = rule.meta
    meta = _meta(rule)
    meta["annotations"].update(
        {
            "policies.kyverno.io/title": m.title,
            "policies.kyverno.io/severity": m.severity.label,
            "policies.kyverno.io/category": "kubefort",
            "policies.kyverno.io/description": m.rationale,
        }
    )
    spec: dict[str, Any] = {
        "validationActions": {"deny": ["Deny", "Audit"], "warn": ["Warn", "Audit"], "audit": ["Audit"]}[action],
        "matchConstraints": {
            "resourceRules": _resource_rules(check.match),
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
                ]
            },
        },
        "autogen": {"podControllers": {"controllers": []}},
        **_variables(check.match),
        "validations": [{"expression": check.expression, "message": _message(rule, check), "reason": "Forbidden"}],
    }
    return [{"apiVersion": "policies.kyverno.io/v1", "kind": "ValidatingPolicy", "metadata": meta, "spec": spec}]


def kyverno_legacy(rule: Rule, check: CelCheck, action: str) -> list[dict[str, Any]]:
    """The Kyverno ``ClusterPolicy`` (kyverno.io/v1, ``validate.cel``): for Kyverno releases without
    ValidatingPolicy (``--format kyverno-legacy``)."""
    m = rule.meta
    meta = _meta(rule)
    meta["annotations"].update(
        {
            "policies.kyverno.io/title": m.title,
            "policies.kyverno.io/severity": m.severity.label,
            "policies.kyverno.io/category": "kubefort",
            "policies.kyverno.io/description": m.rationale,
            "pod-policies.kyverno.io/autogen-controllers": "none",  # every controller kind is matched explicitly
        }
    )
    spec: dict[str, Any] = {
        "background": True,
        "rules": [
            {
                "name": m.id.lower(),
                "match": {
                    "any": [{"resources": {"kinds": list(check.match.kinds), "operations": ["CREATE", "UPDATE"]}}]
                },
                "exclude": {"any": [{"resources": {"namespaces": ["kube-system"]}}]},
                "validate": {
                    "failureAction": "Enforce" if action == "deny" else "Audit",
                    "cel": {
                        **_variables(check.match),
                        "expressions": [{"expression": check.expression, "message": _message(rule, check)}],
                    },
                },
            }
        ],
    }
    if action == "warn":
        spec["emitWarning"] = True
    return [{"apiVersion": "kyverno.io/v1", "kind": "ClusterPolicy", "metadata": meta, "spec": spec}]


def export_selected(
    patterns: Sequence[str] | None, fmt: str, *, action: str = "deny", registry: Registry | None = None
) -> ExportResult:
    """``kubefort policy export``: the rules ``patterns`` select (IDs, slugs or KF-AREA-*; None: every
    rule enabled by default) exported as ``fmt``."""
    registry = registry or default_registry()
    selected = registry.resolve(list(patterns)) if patterns is not None else [r for r in registry if r.meta.enabled]
    return export(selected, fmt, action=action)


FORMATS = ("vap", "kyverno", "kyverno-legacy", "mutating")
_EXPORTERS = {"vap": vap, "kyverno": kyverno, "kyverno-legacy": kyverno_legacy}
_TITLES = {
    "vap": "ValidatingAdmissionPolicy",
    "kyverno": "Kyverno ValidatingPolicy",
    "kyverno-legacy": "Kyverno ClusterPolicy",
    "mutating": "MutatingAdmissionPolicy (their safe fixes)",
}


def export(rules: Iterable[Rule], fmt: str, *, action: str = "deny") -> ExportResult:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if action not in ("deny", "warn", "audit"):
        raise ValueError("action must be deny, warn or audit")
    out = ExportResult(yaml="")
    for r in rules:
        if fmt == "mutating":
            why = why_not_mutating(r)
            if why is not None:
                out.unsupported.append((r.meta.id, why))
                continue
            meta = _meta(r)
            meta["name"] = _name(r.meta.id) + "-fix"
            meta["annotations"]["kubefort.io/fix"] = r.meta.fix.describe() if r.meta.fix else ""
            out.documents.extend(mutating(r, meta["name"], meta))
            out.exported.append(r.meta.id)
            continue
        check = CHECKS.get(r.meta.id)
        if check is None:
            out.unsupported.append((r.meta.id, why_not(r)))
            continue
        out.documents.extend(_EXPORTERS[fmt](r, check, action))
        out.exported.append(r.meta.id)
    header = (
        f"# kubefort rules as {_TITLES[fmt]}; "
        "generated by 'kubefort policy export'.\n"
        f"# Exported ({len(out.exported)}): {', '.join(out.exported) or 'none'}\n"
        f"# Not exported ({len(out.unsupported)}): see 'kubefort policy export' on stderr or docs/admission.md\n"
    )
    out.yaml = header + (
        yaml.dump_all(out.documents, Dumper=NoAliasDumper, sort_keys=False, width=100000) if out.documents else ""
    )
    return out
