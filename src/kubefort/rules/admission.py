"""ADM rules: Pod Security admission labels and policy-engine (Kyverno, Gatekeeper) configuration.

Pod Security admission semantics (Kubernetes ``pod-security-admission``):

- Levels are ``privileged`` < ``baseline`` < ``restricted``. A level label with any other value is
  invalid, and the plugin then evaluates the namespace at ``restricted``.
- Version labels are ``latest`` or ``v1.<minor>``; anything else is invalid and evaluated as ``latest``.
- A namespace without an enforce label gets the plugin's defaults: the ``PodSecurityConfiguration`` of
  the ``PodSecurity`` entry of the API server's AdmissionConfiguration (``--admission-control-config-file``;
  a nested ``configuration`` wins over a ``path``, which is relative to that file's directory), and
  without one the built-in ``enforce: privileged``. ``exemptions`` (usernames, runtimeClasses,
  namespaces) skip every check.

KF-ADM-001, 007..010 and 013 judge a whole cluster (catalogue input ``cluster``): on manifests they are
not evaluated. A cluster scan cannot read the API server's files: the PodSecurity defaults are those of
the AdmissionConfiguration when it is in the input, the built-in ones when the kube-apiserver Pod shows
no ``--admission-control-config-file`` or is not visible (managed control planes), and the parameter
``pod_security_default_enforce`` says otherwise.

Webhooks (``admissionregistration.k8s.io``): ``failurePolicy`` defaults to ``Fail`` in v1 (``Ignore`` in
v1beta1) and ``timeoutSeconds`` to 10 (30); a webhook whose ``rules`` are empty matches no request. The
API server checks a webhook's serving certificate against ``clientConfig.caBundle``, and without one
against its own system trust roots.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..analysis.node.configs import POD_SECURITY, admission_config, default_enforce, pod_security_settings
from ..analysis.node.flags import APISERVER, Component, find_components
from ..engine.rule import Context, NotEvaluated, PssLevel, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject, Path
from ..model.selectors import label_selector_matches, selects_everything
from ..model.workloads import pod_spec

if TYPE_CHECKING:
    from ..engine.rule import Rule

NSA = "NSA/CISA: pod security (admission)"
PSA = "Pod Security admission namespace labels"
PREFIX = "pod-security.kubernetes.io/"
ENFORCE = PREFIX + "enforce"
ENFORCE_VERSION = PREFIX + "enforce-version"
AUDIT = PREFIX + "audit"
WARN = PREFIX + "warn"
LEVELS = ("privileged", "baseline", "restricted")  # ascending strictness
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
GATEKEEPER_CONSTRAINTS = "constraints.gatekeeper.sh"
KYVERNO = "kyverno.io"


def _label_path(key: str) -> Path:
    return ("metadata", "labels", key)


def _rank(level: str, invalid_as: str) -> int:
    """Strictness of a level label value. The plugin reads an invalid enforce level as restricted and
    an invalid audit or warn level as privileged (they fail open)."""
    return LEVELS.index(level if level in LEVELS else invalid_as)


def _is_system(ns: str, ctx: Context) -> bool:
    extra = ctx.param("system_namespaces") or ()
    if isinstance(extra, str):
        extra = [s.strip() for s in extra.split(",")]
    return ns in SYSTEM_NAMESPACES or ns in set(extra)


# --------------------------------------------------------------------------------------------
# KF-ADM-002


@rule(
    id="KF-ADM-002",
    slug="namespace-enforces-privileged",
    title="Namespace enforces the privileged level",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    params={"system_namespaces": []},
    rationale="The privileged level enforces nothing: any pod, including privileged and host-namespace pods, "
    "is admitted to the namespace.",
    remediation="Set pod-security.kubernetes.io/enforce to restricted (or baseline where restricted is not yet "
    "possible).",
    refs={"pss": "Pod Security admission enforce label", "nsa": NSA},
)
def namespace_enforces_privileged(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if _is_system(obj.name, ctx):
        return
    level = obj.labels.get(ENFORCE)
    if level is None:
        return
    if level == "privileged":
        yield Violation(_label_path(ENFORCE), f'namespace "{obj.name}" enforces the privileged Pod Security level')
    elif level not in LEVELS:
        yield Violation(
            _label_path(ENFORCE),
            f'namespace "{obj.name}" has an invalid {ENFORCE} value "{level}" (the admission plugin '
            f"falls back to restricted; use privileged, baseline or restricted)",
            severity=Severity.LOW,
            subcode="invalid",
        )


# --------------------------------------------------------------------------------------------
# KF-ADM-003


@functools.cache
def _restricted_rules() -> list[Rule]:
    """The rules of the Pod Security Standards restricted level (a constant of the catalogue)."""
    from . import default_registry  # lazy: rules/__init__ imports this module

    return default_registry().select(pss=PssLevel.RESTRICTED)


def _restricted_verdict(inv: Inventory, namespace: str) -> tuple[int, list[str], str | None]:
    """(number of workloads, refs of the workloads failing PSS restricted, reason it cannot judge),
    computed once per namespace and kept by the inventory."""
    return inv.cached(("pss-restricted-verdict", namespace), lambda: _judge_restricted(inv, namespace))


def _judge_restricted(inv: Inventory, namespace: str) -> tuple[int, list[str], str | None]:
    from ..engine.findings import Status
    from ..engine.runner import evaluate

    workloads = inv.in_namespace(namespace, *WORKLOAD_KINDS)
    if not workloads:
        verdict: tuple[int, list[str], str | None] = (0, [], "no workloads of the namespace in the input")
    else:
        report = evaluate(
            _restricted_rules(),
            Inventory(workloads),
            params={"pss_strict": True},
            pss=PssLevel.RESTRICTED,
            keep_passes=False,
        )
        failing = sorted({str(f.object) for f in report.findings})
        unsure = [r for r in report.results if r.status in (Status.ERROR, Status.NOT_EVALUATED)]
        reason = None
        if not failing and unsure:
            first = unsure[0]
            reason = f"the restricted checks could not judge {first.object} ({first.rule.id}: {first.detail})"
        verdict = (len(workloads), failing, reason)
    return verdict


@rule(
    id="KF-ADM-003",
    reads_images=False,
    slug="namespace-enforces-less-than-restricted",
    title="Namespace enforces less than restricted",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    rationale="Every workload of the namespace already meets the restricted level, so enforcing only baseline "
    "leaves room for new, weaker pods at no benefit.",
    remediation="Set pod-security.kubernetes.io/enforce to restricted (try it first with the warn and audit labels).",
    refs={"pss": "Pod Security Standards restricted level", "nsa": NSA},
    cross_object=True,
    needs=WORKLOAD_KINDS,
)
def namespace_enforces_less_than_restricted(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.labels.get(ENFORCE) != "baseline":
        return
    count, failing, reason = _restricted_verdict(ctx.inventory, obj.name)
    if failing:
        return
    if reason is not None:
        raise NotEvaluated(reason)
    what = "its workload passes" if count == 1 else f"all {count} of its workloads pass"
    yield Violation(
        _label_path(ENFORCE),
        f'namespace "{obj.name}" enforces baseline but {what} the restricted checks: restricted can be enforced',
    )


# --------------------------------------------------------------------------------------------
# KF-ADM-004

_PSA_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")
_TARGET_VERSION = re.compile(r"^v?1\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


@rule(
    id="KF-ADM-004",
    slug="pod-security-version-pinned-old",
    title="Pod Security version pinned to an old release",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    params={"target_version": "1.35"},
    rationale="Pinning enforce-version to an old release keeps that release's check definitions, which miss "
    "controls added since (e.g. newer restricted checks).",
    remediation="Set pod-security.kubernetes.io/enforce-version to latest or to a recent release.",
    refs={"pss": PSA, "nsa": NSA},
)
def pod_security_version_pinned_old(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    pinned = obj.labels.get(ENFORCE_VERSION)
    if pinned is None or obj.labels.get(ENFORCE) == "privileged":
        return  # no pin, or a level that has no checks to freeze
    m = _PSA_VERSION.match(pinned.strip())
    if m is None:
        return  # "latest", or invalid (evaluated as latest)
    target = str(ctx.param("target_version")).strip()
    t = _TARGET_VERSION.match(target)
    if t is None:
        raise NotEvaluated(f"parameter target_version {target!r} is not a Kubernetes version like 1.35")
    behind = int(t.group(1)) - int(m.group(1))
    if behind > 3:
        yield Violation(
            _label_path(ENFORCE_VERSION),
            f'namespace "{obj.name}" pins {ENFORCE_VERSION} to {pinned}, {behind} minor releases older '
            f"than 1.{t.group(1)}",
        )


# --------------------------------------------------------------------------------------------
# KF-ADM-005


@rule(
    id="KF-ADM-005",
    slug="pod-security-audit-warn-weaker",
    title="Pod Security audit/warn missing or weaker than enforce",
    severity=Severity.INFO,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    rationale="Without audit or warn labels at least as strict as enforce, rejected or borderline pods leave no "
    "trace in audit logs or client warnings.",
    remediation="Add pod-security.kubernetes.io/audit and pod-security.kubernetes.io/warn labels at the enforce "
    "level or stricter.",
    refs={"pss": PSA, "nsa": NSA},
)
def pod_security_audit_warn_weaker(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    labels = obj.labels
    enforce = labels.get(ENFORCE)
    if enforce is None:
        return
    audit, warn = labels.get(AUDIT), labels.get(WARN)
    if audit is None and warn is None:
        yield Violation(
            ("metadata", "labels"),
            f'namespace "{obj.name}" enforces "{enforce}" but has neither an audit nor a warn label',
        )
        return
    enforce_rank = _rank(enforce, "restricted")
    for key, value in ((AUDIT, audit), (WARN, warn)):
        if value is None or _rank(value, "privileged") >= enforce_rank:
            continue
        if value in LEVELS:
            why = f'{key}={value} is weaker than its enforce level "{enforce}"'
        else:
            why = f'{key} has the invalid value "{value}", which the plugin reads as privileged'
        yield Violation(_label_path(key), f'namespace "{obj.name}": {why}')


# --------------------------------------------------------------------------------------------
# KF-ADM-011


def _is_constraint(obj: K8sObject) -> bool:
    return obj.group == GATEKEEPER_CONSTRAINTS


def _is_allowed_repos(obj: K8sObject) -> bool:
    """A Gatekeeper constraint with a ``repos`` list that admits (K8sAllowedRepos and the like): a deny list
    (K8sDisallowedRepos) matched by prefix errs on the safe side. Constraint kinds are made by their
    ConstraintTemplates, so the rule declares no kinds: this tells which objects it is about."""
    return (
        _is_constraint(obj)
        and "disallow" not in obj.kind.lower()
        and isinstance(obj.get("spec", "parameters", "repos"), list)
    )


@rule(
    id="KF-ADM-011",
    slug="gatekeeper-allowed-repos-open-prefix",
    title="Gatekeeper allowed-repos prefix is open-ended",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    applies=_is_allowed_repos,
    rationale="K8sAllowedRepos matches image references by string prefix, so an entry without a trailing '/' "
    "also admits registries and repositories whose names merely start with it.",
    remediation="End every repos entry with '/' (e.g. 'registry.example.com/'), or use full image names.",
    refs={"trivy": "KSV-0124", "nsa": NSA},
)
def gatekeeper_allowed_repos_open_prefix(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    repos = obj.get("spec", "parameters", "repos")
    for i, entry in enumerate(repos):
        if not isinstance(entry, str) or not entry or entry.endswith("/"):
            continue
        example = f"{entry}-evil" if "/" in entry else f"{entry}.evil.example/app"
        yield Violation(
            ("spec", "parameters", "repos", i),
            f'{obj.kind} repos entry "{entry}" does not end in "/": images such as "{example}" also match it',
        )


# --------------------------------------------------------------------------------------------
# KF-ADM-012: audit-only policies that map to KF-POD rules

# Keywords (compacted: lower case, letters and digits only) found in a policy's name, title, rule
# names, validation body or Gatekeeper kind, and the KF-POD rules they correspond to.
_POD_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("privilegeescalation", ("KF-POD-002",)),
    ("privileged", ("KF-POD-001",)),
    ("hostnamespace", ("KF-POD-003", "KF-POD-004", "KF-POD-005")),
    ("hostpid", ("KF-POD-003",)),
    ("hostipc", ("KF-POD-004",)),
    ("hostnetwork", ("KF-POD-005",)),
    ("hostpath", ("KF-POD-006",)),
    ("hostfilesystem", ("KF-POD-006",)),
    ("hostport", ("KF-POD-010",)),
    ("networkingports", ("KF-POD-010",)),
    ("capabilit", ("KF-POD-011",)),
    ("capabilitiesstrict", ("KF-POD-014", "KF-POD-015")),
    ("capabilitiesdrop", ("KF-POD-014",)),
    ("requireddropcapabilities", ("KF-POD-014",)),
    ("netraw", ("KF-POD-013",)),
    ("runasnonroot", ("KF-POD-016",)),
    ("nonroot", ("KF-POD-016",)),
    ("allowedusers", ("KF-POD-016", "KF-POD-017")),
    ("runasuser", ("KF-POD-017",)),
    ("fsgroup", ("KF-POD-020",)),
    ("supplementalgroups", ("KF-POD-020",)),
    ("readonlyrootfilesystem", ("KF-POD-021",)),
    ("seccomp", ("KF-POD-022", "KF-POD-023")),
    ("apparmor", ("KF-POD-024",)),
    ("selinux", ("KF-POD-026",)),
    ("procmount", ("KF-POD-027",)),
    ("sysctl", ("KF-POD-028",)),
    ("hostprocess", ("KF-POD-029",)),
    ("hostprobe", ("KF-POD-030",)),
    ("volumetype", ("KF-POD-031",)),
    ("flexvolume", ("KF-POD-031",)),
    ("hostaliases", ("KF-POD-036",)),
    ("limitsmemory", ("KF-POD-041",)),
    ("memorylimit", ("KF-POD-041",)),
    ("limitscpu", ("KF-POD-042",)),
    ("cpulimit", ("KF-POD-042",)),
    ("containerlimits", ("KF-POD-041", "KF-POD-042")),
    ("requestslimits", ("KF-POD-041", "KF-POD-042", "KF-POD-043")),
    ("requiredresources", ("KF-POD-041", "KF-POD-042", "KF-POD-043")),
    ("requestsmemory", ("KF-POD-043",)),
    ("requestscpu", ("KF-POD-043",)),
    ("livenessprobe", ("KF-POD-045",)),
    ("requiredprobes", ("KF-POD-045",)),
)

# KF-POD rules implementing a PSS control, per level (Kyverno ``validate.podSecurity``).
_PSS_BASELINE = (
    "KF-POD-001",
    "KF-POD-003",
    "KF-POD-004",
    "KF-POD-005",
    "KF-POD-006",
    "KF-POD-010",
    "KF-POD-011",
    "KF-POD-023",
    "KF-POD-024",
    "KF-POD-026",
    "KF-POD-027",
    "KF-POD-028",
    "KF-POD-029",
    "KF-POD-030",
)
_PSS_RESTRICTED = _PSS_BASELINE + (
    "KF-POD-002",
    "KF-POD-014",
    "KF-POD-015",
    "KF-POD-016",
    "KF-POD-017",
    "KF-POD-022",
    "KF-POD-031",
)

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _compact(text: str) -> str:
    return _NON_ALNUM.sub("", text.lower())


def _tokens(value: Any, prefix: str = "", depth: int = 0) -> Iterator[str]:
    """Compacted key paths and string values of a validation body (messages left out)."""
    if depth > 30:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "message":
                continue
            key = f"{prefix}.{k}" if prefix else str(k)
            yield _compact(key)
            yield from _tokens(v, key, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _tokens(item, prefix, depth + 1)
    elif isinstance(value, str):
        yield _compact(value)


def _match_pod_rules(texts: Sequence[str]) -> set[str]:
    haystack = "|".join(t for t in texts if t)
    out: set[str] = set()
    for kw, ids in _POD_KEYWORDS:
        if kw in haystack:
            out.update(ids)
    return out


def _ids_text(ids: set[str]) -> str:
    return ", ".join(sorted(ids))


def _kyverno_rule_mapping(obj: K8sObject, r: Mapping[str, Any]) -> set[str]:
    validate = r.get("validate")
    if not isinstance(validate, dict):
        return set()
    ids: set[str] = set()
    pod_security = validate.get("podSecurity")
    if isinstance(pod_security, dict):
        level = pod_security.get("level")
        if level == "restricted":
            ids.update(_PSS_RESTRICTED)
        elif level == "baseline":
            ids.update(_PSS_BASELINE)
    texts = [
        _compact(obj.name),
        _compact(obj.annotations.get("policies.kyverno.io/title", "")),
        _compact(str(r.get("name") or "")),
    ]
    texts.extend(_tokens({k: v for k, v in validate.items() if k != "podSecurity"}))
    ids.update(_match_pod_rules(texts))
    return ids


def _kyverno_audit_only(obj: K8sObject) -> Iterator[Violation]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    rules = spec.get("rules")
    if not isinstance(rules, list):
        return
    spec_action = spec.get("validationFailureAction")
    if spec_action is None:
        spec_path: Path = ("spec",)
        spec_how = "validationFailureAction not set, so Audit"
    else:
        spec_path = ("spec", "validationFailureAction")
        spec_how = f"validationFailureAction: {spec_action}"
    # path -> (how, rule names, KF-POD ids)
    grouped: dict[Path, tuple[str, list[str], set[str]]] = {}
    path: Path
    for i, r in enumerate(rules):
        if not isinstance(r, dict) or not isinstance(r.get("validate"), dict):
            continue
        own = r["validate"].get("failureAction")
        if own is not None:
            action, path, how = own, ("spec", "rules", i, "validate", "failureAction"), f"validate.failureAction: {own}"
        else:
            action, path, how = spec_action, spec_path, spec_how
        if action is not None and str(action).strip().lower() != "audit":
            continue
        ids = _kyverno_rule_mapping(obj, r)
        if not ids:
            continue
        entry = grouped.setdefault(path, (how, [], set()))
        entry[1].append(str(r.get("name") or f"#{i}"))
        entry[2].update(ids)
    for group_path, (how, names, ids) in grouped.items():
        which = f"rule {names[0]} covers" if len(names) == 1 else f"rules {', '.join(names)} cover"
        yield Violation(
            group_path,
            f'Kyverno {obj.kind} "{obj.name}" only audits ({how}): {which} {_ids_text(ids)} but '
            f"violations are not blocked",
        )


def _gatekeeper_audit_only(obj: K8sObject) -> Iterator[Violation]:
    action = obj.get("spec", "enforcementAction")
    if action in ("dryrun", "warn"):
        how = f"enforcementAction: {action}"
    elif action == "scoped":
        scoped = obj.get("spec", "scopedEnforcementActions")
        denies = (
            any(isinstance(s, dict) and s.get("action") == "deny" for s in (scoped or []))
            if isinstance(scoped, list)
            else False
        )
        if denies:
            return
        how = "enforcementAction scoped without a deny action"
    else:
        return
    texts = [_compact(obj.kind), _compact(obj.name)]
    texts.extend(_tokens(obj.get("spec", "parameters")))
    ids = _match_pod_rules(texts)
    if ids:
        yield Violation(
            ("spec", "enforcementAction"),
            f'Gatekeeper {obj.kind} constraint "{obj.name}" only reports ({how}): it covers '
            f"{_ids_text(ids)} but violations are not blocked",
        )


def _is_engine_policy(obj: K8sObject) -> bool:
    """A Kyverno ClusterPolicy or Policy, or a Gatekeeper constraint (of any kind: its ConstraintTemplate
    makes it, so the rule declares no kinds)."""
    return (obj.group == KYVERNO and obj.kind in ("ClusterPolicy", "Policy")) or _is_constraint(obj)


@rule(
    id="KF-ADM-012",
    slug="policy-engine-audit-only",
    title="Policy engine policies only audit",
    severity=Severity.INFO,
    scope=Scope.OBJECT,
    applies=_is_engine_policy,
    rationale="A pod-security policy in audit, dry-run or warn mode reports violations but still admits the "
    "pods, so the control it stands for is not enforced.",
    remediation="Switch the policy to Enforce (Kyverno validate.failureAction or validationFailureAction) or to "
    "enforcementAction deny (Gatekeeper) once its reports are clean.",
    refs={"kyverno": "validationFailureAction", "gatekeeper": "enforcementAction", "nsa": NSA},
)
def policy_engine_audit_only(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.group == KYVERNO and obj.kind in ("ClusterPolicy", "Policy"):
        yield from _kyverno_audit_only(obj)
    elif _is_constraint(obj):
        yield from _gatekeeper_audit_only(obj)


# --------------------------------------------------------------------------------------------
# the cluster's PodSecurity defaults (KF-ADM-001/007; KF-ADM-006 judges the files, in control_plane.py)


def _apiservers(inv: Inventory) -> list[Component]:
    """The kube-apiserver Pods of the inventory, found once per inventory (KF-ADM-001 asks for every
    namespace without a label: 10,000 namespaces times 150,000 Pods at Kubernetes' limits)."""
    return inv.cached("kubefort.admission.apiservers", lambda: find_components(inv.of_kind("Pod"), APISERVER))


def _cluster_pod_security_default(ctx: Context) -> tuple[str | None, str]:
    """The enforce level namespaces without a label get in this cluster (None: the plugin is disabled) and
    how that is known. NotEvaluated when the API server reads it from a file the scan does not have."""
    given = ctx.param("pod_security_default_enforce")
    if isinstance(given, str) and given.strip():
        if given.strip() not in LEVELS:
            raise NotEvaluated(f"parameter pod_security_default_enforce {given!r} is not one of {', '.join(LEVELS)}")
        return given.strip(), "parameter pod_security_default_enforce"
    inv = ctx.inventory
    servers = _apiservers(inv)
    if not servers:
        return "privileged", (
            "the built-in default; no kube-apiserver Pod is visible to read its configuration from: set the "
            "parameter pod_security_default_enforce if its AdmissionConfiguration says otherwise"
        )
    c = servers[0]
    if POD_SECURITY in c.items("disable-admission-plugins"):
        return None, f"{c.label} disables the PodSecurity admission plugin"
    flag = c.value("admission-control-config-file")
    if not flag:
        return "privileged", f"the built-in default: {c.label} has no --admission-control-config-file"
    cfg = admission_config(inv, flag)
    got = pod_security_settings(cfg, inv) if cfg is not None else flag
    if isinstance(got, str):
        raise NotEvaluated(
            f"{c.label} reads its PodSecurity defaults from {got}, which a cluster scan cannot read: set the "
            "parameter pod_security_default_enforce to its defaults.enforce"
        )
    return default_enforce(got[2]), f"the defaults of {flag}"


# --------------------------------------------------------------------------------------------
# KF-ADM-001


@rule(
    id="KF-ADM-001",
    slug="namespace-without-pod-security-enforce",
    title="Namespace without Pod Security enforce label",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    whole_cluster=True,
    needs=["Pod"],
    params={"system_namespaces": [], "pod_security_default_enforce": ""},
    rationale="Without an enforce label a namespace gets the cluster's PodSecurity default, privileged unless the "
    "API server is configured otherwise, so privileged and host-namespace pods are admitted there.",
    remediation="Label the namespace pod-security.kubernetes.io/enforce=restricted (or baseline), or make the "
    "API server's PodSecurity defaults enforce baseline.",
    refs={"cis": "5.2.1", "kubescape": "C-0192", "nsa": NSA},
)
def namespace_without_pod_security_enforce(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if _is_system(obj.name, ctx) or ENFORCE in obj.labels:
        return
    level, how = _cluster_pod_security_default(ctx)
    if level in ("baseline", "restricted"):
        return
    if level is None:
        why = f"and {how}: its pods are admitted without Pod Security checks"
    else:
        why = f"and the cluster's PodSecurity default is enforce {level} ({how}): its pods are admitted without Pod Security checks"
    yield Violation(("metadata", "labels"), f'namespace "{obj.name}" has no {ENFORCE} label, {why}')


# --------------------------------------------------------------------------------------------
# KF-ADM-007: is anything enforcing policy at all?

KYVERNO_POLICIES = "policies.kyverno.io"
KUBEWARDEN = "policies.kubewarden.io"
JSPOLICY = "policy.jspolicy.com"
ADMISSIONREGISTRATION = "admissionregistration.k8s.io"
GATEKEEPER_TEMPLATES = "templates.gatekeeper.sh"
KUBEWARDEN_KINDS = ("ClusterAdmissionPolicy", "AdmissionPolicy", "ClusterAdmissionPolicyGroup", "AdmissionPolicyGroup")
#: the policy engines' kinds as the rules read them, with their API groups (several groups serve a
#: ClusterPolicy or a Policy: Kyverno's, NVIDIA's GPU operator's, Kasten K10's, the audit policy file)
KYVERNO_READ = (f"ClusterPolicy.{KYVERNO}", f"Policy.{KYVERNO}")
KUBEWARDEN_READ = tuple(f"{k}.{KUBEWARDEN}" for k in KUBEWARDEN_KINDS)
TEMPLATES_READ = f"ConstraintTemplate.{GATEKEEPER_TEMPLATES}"


def _kyverno_enforces(policy: K8sObject, what: str) -> bool:
    """Whether a Kyverno ClusterPolicy/Policy blocks with a rule of kind ``what`` (validate, verifyImages):
    a rule's own failureAction, else the policy's validationFailureAction, else Audit."""
    spec = policy.get("spec")
    if not isinstance(spec, dict):
        return False
    default = str(spec.get("validationFailureAction") or "Audit")
    rules = spec.get("rules")
    for r in rules if isinstance(rules, list) else []:
        if not isinstance(r, dict):
            continue
        body = r.get(what)
        entries = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        for e in entries:
            if isinstance(e, dict) and str(e.get("failureAction") or default).lower() == "enforce":
                return True
    return False


def _denies(actions: Any) -> bool:
    return isinstance(actions, list) and "Deny" in actions


def _gatekeeper_enforces(constraint: K8sObject) -> bool:
    action = constraint.get("spec", "enforcementAction")
    if action in (None, "deny"):
        return True
    scoped = constraint.get("spec", "scopedEnforcementActions")
    return (
        action == "scoped"
        and isinstance(scoped, list)
        and any(isinstance(a, dict) and a.get("action") == "deny" for a in scoped)
    )


def _enforcement(inv: Inventory, ctx: Context) -> tuple[list[str], str | None]:
    """What enforces policy on pods in this cluster (in words), and why that cannot be told when it
    cannot (Gatekeeper constraints whose kinds a scan does not read)."""
    found: list[str] = []
    try:
        level, how = _cluster_pod_security_default(ctx)
        unknown: str | None = None
    except NotEvaluated as e:
        level, how, unknown = "privileged", "", str(e)
    if level is not None:
        labelled = [
            n.name for n in inv.of_kind("Namespace") if _rank(n.labels.get(ENFORCE, "privileged"), "restricted") > 0
        ]
        if labelled:
            found.append(
                f"Pod Security admission labels ({', '.join(sorted(labelled)[:3])}{', ...' if len(labelled) > 3 else ''})"
            )
        if level in ("baseline", "restricted"):
            found.append(f"the PodSecurity default enforce {level} ({how})")
    for kind in ("ClusterPolicy", "Policy"):
        found += [
            f"Kyverno {kind} {p.name}"
            for p in inv.of_kind(kind)
            if p.group == KYVERNO and _kyverno_enforces(p, "validate")
        ]
    found += [
        f"Kyverno ValidatingPolicy {p.name}"
        for p in inv.of_kind("ValidatingPolicy")
        if p.group == KYVERNO_POLICIES and _denies(p.get("spec", "validationActions"))
    ]
    constraints = [o for o in inv if o.group == GATEKEEPER_CONSTRAINTS]
    found += [f"Gatekeeper {c.kind} {c.name}" for c in constraints if _gatekeeper_enforces(c)]
    templates = [t for t in inv.of_kind("ConstraintTemplate") if t.group == GATEKEEPER_TEMPLATES]
    if templates and not constraints and unknown is None:
        kinds = sorted({str(t.get("spec", "crd", "spec", "names", "kind") or t.name) for t in templates})
        unknown = f"Gatekeeper ConstraintTemplates exist, but their constraints ({', '.join(kinds[:5])}) were not read"
    for kind in KUBEWARDEN_KINDS:
        found += [
            f"Kubewarden {kind} {p.name}"
            for p in inv.of_kind(kind)
            if p.group == KUBEWARDEN and p.get("spec", "mode") in (None, "protect")
        ]
    found += [
        f"jsPolicy {p.name}"
        for p in inv.of_kind("JsPolicy")
        if p.group == JSPOLICY
        and p.get("spec", "type") in (None, "Validating")
        and str(p.get("spec", "violationPolicy") or "deny").lower() == "deny"
    ]
    policies = {p.name for p in inv.of_kind("ValidatingAdmissionPolicy") if p.group == ADMISSIONREGISTRATION}
    found += [
        f"ValidatingAdmissionPolicyBinding {b.name}"
        for b in inv.of_kind("ValidatingAdmissionPolicyBinding")
        if b.group == ADMISSIONREGISTRATION
        and _denies(b.get("spec", "validationActions"))
        and b.get("spec", "policyName") in policies
    ]
    return found, unknown


@rule(
    id="KF-ADM-007",
    slug="no-policy-enforcement",
    title="No policy enforcement mechanism",
    severity=Severity.HIGH,
    scope=Scope.CLUSTER,
    needs=[
        "Namespace",
        "Pod",
        *KYVERNO_READ,
        f"ValidatingPolicy.{KYVERNO_POLICIES}",
        TEMPLATES_READ,
        *KUBEWARDEN_READ,
        f"JsPolicy.{JSPOLICY}",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ],
    params={"pod_security_default_enforce": ""},
    rationale="With no admission control that rejects pods, nothing stops a privileged, host-mounting pod from "
    "being created by anyone allowed to create pods: every other rule is a report, not a guard.",
    remediation="Enforce Pod Security admission (namespace labels or API server defaults at baseline or "
    "restricted), or run a policy engine (Kyverno, Gatekeeper, Kubewarden, ValidatingAdmissionPolicy) in "
    "enforcing mode.",
    refs={"cis": "5.2.1", "kubescape": ("C-0192", "C-0068"), "nsa": NSA},
)
def no_policy_enforcement(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    found, unknown = _enforcement(inv, ctx)
    if found:
        return
    if unknown is not None:
        raise NotEvaluated(unknown)
    yield Violation(
        (),
        "nothing enforces policy on pods: no namespace enforces baseline or restricted and the PodSecurity "
        "default does not; no enforcing Kyverno policy, Gatekeeper constraint, Kubewarden policy, jsPolicy "
        "or ValidatingAdmissionPolicy binding with the Deny action",
    )


# --------------------------------------------------------------------------------------------
# KF-ADM-008 / 009: admission webhooks

WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
CA_INJECTION = (
    "cert-manager.io/inject-ca-from",
    "cert-manager.io/inject-ca-from-secret",
    "cert-manager.io/inject-apiserver-ca",
)


def _is_webhook_config(obj: K8sObject) -> bool:
    return obj.kind in WEBHOOK_KINDS and obj.group == ADMISSIONREGISTRATION


def _webhooks(obj: K8sObject) -> Iterator[tuple[int, Mapping[str, Any]]]:
    hooks = obj.get("webhooks")
    for i, wh in enumerate(hooks if isinstance(hooks, list) else []):
        if isinstance(wh, dict):
            yield i, wh


def _v1beta1(obj: K8sObject) -> bool:
    return obj.api_version.endswith("/v1beta1")


def _failure_policy(obj: K8sObject, wh: Mapping[str, Any]) -> str:
    fp = wh.get("failurePolicy")
    return fp if isinstance(fp, str) and fp else ("Ignore" if _v1beta1(obj) else "Fail")


def _matches_requests(wh: Mapping[str, Any]) -> bool:
    """A webhook without rules matches no request (Kyverno keeps an empty -ignore webhook)."""
    rules = wh.get("rules")
    return isinstance(rules, list) and any(isinstance(r, dict) for r in rules)


def _policy_engine(obj: K8sObject, wh: Mapping[str, Any], ctx: Context) -> str | None:
    name = str(wh.get("name") or "")
    extra = ctx.param("policy_webhooks") or []
    if name in extra or obj.name in extra:
        return "policy engine"
    if name.endswith(".gatekeeper.sh"):
        return "Gatekeeper"
    if name.endswith(".kyverno.svc") or ".kyverno.svc-" in name:
        return "Kyverno"
    if name.endswith(".kubewarden.admission"):
        return "Kubewarden"
    if name == "policy.sigstore.dev" or name.endswith(".policy.sigstore.dev"):
        return "sigstore policy-controller"
    if name == "validate.kubefort.io":
        return "kubefort"
    return None


def _skipped_namespaces(wh: Mapping[str, Any], inv: Inventory, ctx: Context) -> list[str]:
    """The non-system namespaces of the cluster a webhook's namespaceSelector leaves out, less the one the
    webhook's own service runs in (an engine that judged its own pods could lock itself out)."""
    selector = wh.get("namespaceSelector")
    if selector is None or selects_everything(selector):
        return []
    service = wh.get("clientConfig", {}).get("service") if isinstance(wh.get("clientConfig"), dict) else None
    own = service.get("namespace") if isinstance(service, dict) else None
    out = []
    for ns in inv.of_kind("Namespace"):
        if _is_system(ns.name, ctx) or ns.name == own:
            continue
        if not label_selector_matches(selector, inv.namespace_labels(ns.name)):
            out.append(ns.name)
    return sorted(out)


@rule(
    id="KF-ADM-008",
    slug="policy-webhook-fails-open",
    title="Policy webhook fails open",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=WEBHOOK_KINDS,
    applies=_is_webhook_config,
    whole_cluster=True,
    needs=["Namespace"],
    params={"policy_webhooks": [], "system_namespaces": []},
    rationale="A policy engine's webhook with failurePolicy Ignore admits every request while the engine is down, "
    "slow or overloaded, and one that skips namespaces or objects by label lets whoever can set those labels "
    "past every policy.",
    remediation="Set failurePolicy: Fail on the policy engine's webhooks (keep the engine highly available) and "
    "limit namespaceSelector/objectSelector exclusions to system namespaces.",
    refs={"kubescape": ("C-0036", "C-0039"), "nsa": NSA},
)
def policy_webhook_fails_open(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, wh in _webhooks(obj):
        engine = _policy_engine(obj, wh, ctx)
        if engine is None or not _matches_requests(wh):
            continue
        name = wh.get("name")
        if _failure_policy(obj, wh) == "Ignore":
            how = "failurePolicy: Ignore" if "failurePolicy" in wh else "failurePolicy not set (Ignore in v1beta1)"
            yield Violation(
                ("webhooks", i, "failurePolicy"),
                f'{engine} webhook "{name}" has {how}: when the engine does not answer, requests are admitted '
                "unchecked",
            )
        skipped = _skipped_namespaces(wh, ctx.inventory, ctx)
        if skipped:
            yield Violation(
                ("webhooks", i, "namespaceSelector"),
                f'{engine} webhook "{name}" skips namespaces other than the system ones: '
                f"{', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}",
                subcode="broad_exclusion",
            )
        selector = wh.get("objectSelector")
        if isinstance(selector, dict) and not selects_everything(selector):
            yield Violation(
                ("webhooks", i, "objectSelector"),
                f'{engine} webhook "{name}" has an objectSelector: objects whose own labels it does not select '
                "(labels their authors set) skip every policy",
                subcode="broad_exclusion",
            )


@rule(
    id="KF-ADM-009",
    slug="webhook-tls-not-verified",
    title="Webhook served without verified TLS",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=WEBHOOK_KINDS,
    applies=_is_webhook_config,
    whole_cluster=True,
    needs=[],  # the webhook configuration alone
    rationale="An admission webhook reached over plain HTTP, or whose certificate the API server cannot verify, "
    "either receives every admitted object in clear or fails on every call; with failurePolicy Ignore and a "
    "long timeout an attacker who slows it down gets requests admitted unchecked.",
    remediation="Serve webhooks over https with clientConfig.caBundle set to the CA that signed the serving "
    "certificate (or injected by cert-manager), and keep timeoutSeconds short when failurePolicy is Ignore.",
    refs={"k8s": "https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/"},
)
def webhook_tls_not_verified(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    injected = [a for a in CA_INJECTION if a in obj.annotations]
    for i, wh in _webhooks(obj):
        name = wh.get("name")
        cc = wh.get("clientConfig")
        cc = cc if isinstance(cc, dict) else {}
        url, service, bundle = cc.get("url"), cc.get("service"), cc.get("caBundle")
        policy = _failure_policy(obj, wh)
        if isinstance(url, str) and url.strip().lower().startswith("http://"):
            yield Violation(
                ("webhooks", i, "clientConfig", "url"),
                f'webhook "{name}" is called over plain http ({url}): admitted objects travel in clear and the '
                "server is not authenticated",
                subcode="http",
            )
        elif isinstance(service, dict) and not (isinstance(bundle, str) and bundle.strip()):
            target = f"{service.get('name')}.{service.get('namespace')}.svc"
            effect = (
                "calls fail, and with failurePolicy Ignore the webhook is skipped: it checks nothing"
                if policy == "Ignore"
                else "calls fail, and with failurePolicy Fail the requests it matches are rejected"
            )
            note = f" ({injected[0]} is set but cert-manager has not injected a CA)" if injected else ""
            yield Violation(
                ("webhooks", i, "clientConfig"),
                f'webhook "{name}" calls service {target} without a caBundle{note}: the API server verifies it '
                f"against its system trust roots, which do not issue certificates for {target}; {effect}",
                subcode="no_ca_bundle",
            )
        timeout = wh.get("timeoutSeconds")
        seconds = timeout if isinstance(timeout, int) else (30 if _v1beta1(obj) else 10)
        if policy == "Ignore" and seconds > 15 and _matches_requests(wh):
            yield Violation(
                ("webhooks", i, "timeoutSeconds") if timeout is not None else ("webhooks", i),
                f'webhook "{name}" waits {seconds}s with failurePolicy Ignore: a caller that slows it down past the '
                "timeout gets its requests admitted unchecked",
                subcode="slow_ignore",
            )


# --------------------------------------------------------------------------------------------
# KF-ADM-010: image signature verification

SIGSTORE = "policy.sigstore.dev"
RATIFY = "config.ratify.deislabs.io"


def _sigstore_enforces(p: K8sObject) -> bool:
    if p.get("spec", "mode") == "warn":
        return False
    authorities = p.get("spec", "authorities")
    # a policy whose authorities are all static (pass/fail) verifies no signature
    return isinstance(authorities, list) and any(isinstance(a, dict) and "static" not in a for a in authorities)


def _verifiers(inv: Inventory) -> list[str]:
    found: list[str] = []
    for kind in ("ClusterPolicy", "Policy"):
        found += [
            f"Kyverno {kind} {p.name}"
            for p in inv.of_kind(kind)
            if p.group == KYVERNO and _kyverno_enforces(p, "verifyImages")
        ]
    found += [
        f"Kyverno ImageValidatingPolicy {p.name}"
        for p in inv.of_kind("ImageValidatingPolicy")
        if p.group == KYVERNO_POLICIES and _denies(p.get("spec", "validationActions"))
    ]
    found += [
        f"sigstore ClusterImagePolicy {p.name}"
        for p in inv.of_kind("ClusterImagePolicy")
        if p.group == SIGSTORE and _sigstore_enforces(p)
    ]
    for kind in WEBHOOK_KINDS:
        found += [
            f"Connaisseur webhook {w.name}"
            for w in inv.of_kind(kind)
            if w.group == ADMISSIONREGISTRATION and w.name.startswith("connaisseur")
        ]
    ratify = [v for v in inv.of_kind("Verifier") if v.group == RATIFY]
    if ratify and any(
        t.name == "ratifyverification" for t in inv.of_kind("ConstraintTemplate") if t.group == GATEKEEPER_TEMPLATES
    ):
        found.append(f"Ratify with Gatekeeper (verifiers {', '.join(sorted(v.name for v in ratify))})")
    for kind in KUBEWARDEN_KINDS:
        found += [
            f"Kubewarden {kind} {p.name}"
            for p in inv.of_kind(kind)
            if p.group == KUBEWARDEN
            and "verify-image-signatures" in str(p.get("spec", "module") or "")
            and p.get("spec", "mode") in (None, "protect")
        ]
    return found


@rule(
    id="KF-ADM-010",
    slug="no-image-provenance-admission",
    title="No image provenance admission control",
    severity=Severity.INFO,
    scope=Scope.CLUSTER,
    needs=[
        "Pod",
        *KYVERNO_READ,
        f"ImageValidatingPolicy.{KYVERNO_POLICIES}",
        f"ClusterImagePolicy.{SIGSTORE}",
        *WEBHOOK_KINDS,
        f"Verifier.{RATIFY}",
        TEMPLATES_READ,
        *KUBEWARDEN_READ,
    ],
    rationale="Without signature or provenance checks at admission any image that can be pulled runs, including "
    "one pushed by whoever compromised a registry account or a CI pipeline.",
    remediation="Verify image signatures at admission: Kyverno verifyImages (Enforce) or ImageValidatingPolicy, "
    "the sigstore policy-controller, Connaisseur, Ratify with Gatekeeper, or the ImagePolicyWebhook plugin.",
    refs={"cis": "5.5.1", "kubescape": ("C-0289", "C-0236", "C-0237"), "nsa": NSA},
)
def no_image_provenance_admission(inv: Inventory, ctx: Context) -> Iterator[Violation]:
    if _verifiers(inv):
        return
    servers = _apiservers(inv)
    if any("ImagePolicyWebhook" in c.items("enable-admission-plugins") for c in servers):
        return
    plugin = (
        f"{servers[0].label} does not enable the ImagePolicyWebhook admission plugin"
        if servers
        else "no kube-apiserver Pod is visible, and the ImagePolicyWebhook admission plugin is off by default"
    )
    yield Violation(
        (),
        "no admission control verifies image signatures: no enforcing Kyverno verifyImages rule or "
        f"ImageValidatingPolicy, sigstore ClusterImagePolicy, Connaisseur or Ratify, and {plugin}",
    )


# --------------------------------------------------------------------------------------------
# KF-ADM-013

PART_OF = "app.kubernetes.io/part-of"
RUNNING_KINDS = tuple(sorted(WORKLOAD_KINDS - {"PodTemplate"}))


def _workloads(inv: Inventory, namespace: str) -> list[K8sObject]:
    """The workloads of a namespace, each once (a Deployment, not its ReplicaSets and Pods)."""
    return [o for o in inv.in_namespace(namespace, *RUNNING_KINDS) if inv.controller(o) is None]


def _part_of(obj: K8sObject) -> str | None:
    value = obj.labels.get(PART_OF)
    if not value:
        pod = pod_spec(obj)
        value = pod.labels.get(PART_OF) if pod is not None else None
    return str(value) if value else None


@rule(
    id="KF-ADM-013",
    reads_images=False,
    slug="namespaces-not-boundaries",
    title="Namespaces not used as administrative boundaries",
    severity=Severity.INFO,
    scope=Scope.OBJECT,
    kinds=["Namespace"],
    whole_cluster=True,
    needs=WORKLOAD_KINDS,
    params={"system_namespaces": [], "max_apps_per_namespace": 5},
    rationale="RBAC, NetworkPolicies, quotas and Pod Security levels apply per namespace: applications that share "
    "one cannot be given different permissions or isolation, and one compromised application reaches the others.",
    remediation="Give each application or team its own namespace, with its own RBAC, NetworkPolicies and Pod "
    "Security level.",
    refs={"cis": "5.6.1", "kubescape": "C-0209", "nsa": NSA},
)
def namespaces_not_boundaries(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    inv = ctx.inventory
    if _is_system(obj.name, ctx):
        return
    own = _workloads(inv, obj.name)
    if not own:
        return

    def used() -> list[str]:
        return sorted(n for n in inv.namespaces() if not _is_system(n, ctx) and _workloads(inv, n))

    holding = inv.cached(("adm-013-namespaces", tuple(sorted(ctx.param("system_namespaces") or ()))), used)
    if holding == [obj.name] and len(own) > 1:
        yield Violation(
            ("metadata", "name"),
            f'all {len(own)} non-system workloads of the cluster live in namespace "{obj.name}": no namespace '
            "separates them",
        )
    apps = sorted({a for a in map(_part_of, own) if a})
    limit = ctx.param("max_apps_per_namespace")
    if isinstance(limit, int) and len(apps) > limit:
        yield Violation(
            ("metadata", "name"),
            f'namespace "{obj.name}" holds workloads of {len(apps)} applications ({PART_OF}: '
            f"{', '.join(apps[:6])}{', ...' if len(apps) > 6 else ''}), more than {limit}",
            subcode="mixed",
        )


RULES = [
    namespace_without_pod_security_enforce,
    no_policy_enforcement,
    policy_webhook_fails_open,
    webhook_tls_not_verified,
    no_image_provenance_admission,
    namespaces_not_boundaries,
    namespace_enforces_privileged,
    namespace_enforces_less_than_restricted,
    pod_security_version_pinned_old,
    pod_security_audit_warn_weaker,
    gatekeeper_allowed_repos_open_prefix,
    policy_engine_audit_only,
]
