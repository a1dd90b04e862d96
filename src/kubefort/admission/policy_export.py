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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..engine.registry import Registry
from ..engine.rule import Rule, Scope
from ..model.host_access import DANGEROUS_CAPABILITIES
from ..rules import default_registry
from ..rules.pod_hardening import ALLOWED_VOLUME_SOURCES, INHERITED_FIELDS, OTHER_VOLUME_SOURCES
from ..rules.pod_privilege import BASELINE_CAPABILITIES
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
class CelCheck:
    """A rule as one CEL expression over the object under admission (both export formats use it)."""

    rule_id: str
    expression: str  # true: the object complies
    message: str


#: Rule ID -> CEL (true when the object complies with the rule, default parameters).
CHECKS: dict[str, CelCheck] = {
    c.rule_id: c
    for c in (
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
                _quantity("c.resources.limits", "cpu")
                + " || "
                + _quantity("variables.podSpec.resources.limits", "cpu"),
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
    "KF-IMG-003": "the effective pull policy depends on the image reference parsing and API server defaulting "
    "(the API server has already defaulted imagePullPolicy before admission, so the policy would "
    "see a different object than the manifest)",
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


def vap(rule: Rule, check: CelCheck, action: str) -> list[dict[str, Any]]:
    policy: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": _meta(rule),
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [g], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": list(res)}
                    for g, res in WORKLOAD_RESOURCES
                ]
            },
            "variables": [{"name": n, "expression": e} for n, e in WORKLOAD_VARIABLES],
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
            "resourceRules": [
                {"apiGroups": [g], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": list(res)}
                for g, res in WORKLOAD_RESOURCES
            ],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
                ]
            },
        },
        "autogen": {"podControllers": {"controllers": []}},
        "variables": [{"name": n, "expression": e} for n, e in WORKLOAD_VARIABLES],
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
                "match": {"any": [{"resources": {"kinds": list(WORKLOAD_KINDS), "operations": ["CREATE", "UPDATE"]}}]},
                "exclude": {"any": [{"resources": {"namespaces": ["kube-system"]}}]},
                "validate": {
                    "failureAction": "Enforce" if action == "deny" else "Audit",
                    "cel": {
                        "variables": [{"name": n, "expression": e} for n, e in WORKLOAD_VARIABLES],
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
