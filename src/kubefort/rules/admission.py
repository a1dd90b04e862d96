"""ADM rules: Pod Security admission labels and policy-engine (Kyverno, Gatekeeper) configuration.

Pod Security admission semantics (Kubernetes ``pod-security-admission``):

- Levels are ``privileged`` < ``baseline`` < ``restricted``. A level label with any other value is
  invalid, and the plugin then evaluates the namespace at ``restricted``.
- Version labels are ``latest`` or ``v1.<minor>``; anything else is invalid and evaluated as ``latest``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..engine.rule import Context, NotEvaluated, PssLevel, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject, Path

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


@rule(
    id="KF-ADM-011",
    slug="gatekeeper-allowed-repos-open-prefix",
    title="Gatekeeper allowed-repos prefix is open-ended",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    rationale="K8sAllowedRepos matches image references by string prefix, so an entry without a trailing '/' "
    "also admits registries and repositories whose names merely start with it.",
    remediation="End every repos entry with '/' (e.g. 'registry.example.com/'), or use full image names.",
    refs={"trivy": "KSV-0124", "nsa": NSA},
)
def gatekeeper_allowed_repos_open_prefix(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _is_constraint(obj) or "disallow" in obj.kind.lower():
        return  # a deny list (K8sDisallowedRepos) matched by prefix errs on the safe side
    repos = obj.get("spec", "parameters", "repos")
    if not isinstance(repos, list):
        return
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


@rule(
    id="KF-ADM-012",
    slug="policy-engine-audit-only",
    title="Policy engine policies only audit",
    severity=Severity.INFO,
    scope=Scope.OBJECT,
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


RULES = [
    namespace_enforces_privileged,
    namespace_enforces_less_than_restricted,
    pod_security_version_pinned_old,
    pod_security_audit_warn_weaker,
    gatekeeper_allowed_repos_open_prefix,
    policy_engine_audit_only,
]
