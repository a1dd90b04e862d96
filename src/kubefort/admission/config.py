"""The webhook policy: which rules run at admission, and what their findings do.

The rule selection, parameters, exceptions and ``fail_on`` come from the same ``.kubefort.yaml`` as
``kubefort scan`` (so CI and the cluster agree). What only makes sense at admission lives in a
separate policy file (``kubefort admission serve --policy FILE``)::

    fail_on: high                  # default: the config's fail_on, else high
    exempt_namespaces: [kube-system]   # the default; [] to judge kube-system too
    on_rule_error: warn            # a rule crash allows with a warning (warn) or denies (deny)
    judge_unchanged_updates: false # UPDATEs that change nothing kubefort reads are allowed unjudged
    modes:                         # first matching entry wins; rules not listed: enforce
      - rules: [KF-IMG-*]          # IDs, slugs or KF-AREA-* globs
        mode: warn                 # enforce | warn | audit
      - rules: [KF-POD-021]
        mode: enforce
        fail_on: medium            # this set denies from medium up
    exemptions:
      - namespaces: [monitoring]   # globs; a Namespace object is "in" itself
        rules: [KF-POD-005]        # empty or absent: every rule (the request is not evaluated)
        reason: node-exporter needs the host network
      - users: ["system:serviceaccount:argocd:*"]
        groups: ["platform-admins"]
        kinds: [Deployment]
        reason: break-glass for the platform team

Modes: ``enforce`` findings at or above the threshold deny and lower ones become AdmissionReview
warnings; ``warn`` findings never deny, they become warnings; ``audit`` findings are allowed and
only logged (audit log line and audit annotations).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import yaml

from ..api import ScanOptions, check_params, resolve_config, select_rules
from ..engine.config import Config
from ..engine.registry import Registry
from ..engine.rule import Rule, RuleMeta, Scope, Severity
from ..engine.runner import Plan, rule_params
from ..errors import ConfigError, UsageError
from ..model.kinds import WORKLOAD_KINDS
from ..rules import default_registry

MODE = "admission"
DEFAULT_EXEMPT_NAMESPACES = ("kube-system",)
_POLICY_KEYS = {"fail_on", "exempt_namespaces", "exemptions", "modes", "on_rule_error", "judge_unchanged_updates"}
_EXEMPTION_KEYS = {"namespaces", "users", "groups", "kinds", "rules", "reason"}
_MODE_KEYS = {"rules", "mode", "fail_on"}


class Mode(str, Enum):
    ENFORCE = "enforce"
    WARN = "warn"
    AUDIT = "audit"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSetMode:
    patterns: tuple[str, ...]
    ids: frozenset[str]
    mode: Mode
    fail_on: Severity | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Exemption:
    """Requests (namespace, user, group, kind) for which some rules, or all, are not enforced."""

    reason: str
    namespaces: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    rules: frozenset[str] = frozenset()  # rule IDs; empty: every rule
    patterns: tuple[str, ...] = ()

    def matches(self, namespace: str, user: str, groups: Sequence[str], kind: str) -> bool:
        if self.namespaces and not any(fnmatch.fnmatchcase(namespace, p) for p in self.namespaces):
            return False
        if self.users and not any(fnmatch.fnmatchcase(user, p) for p in self.users):
            return False
        if self.groups and not any(fnmatch.fnmatchcase(g, p) for g in groups for p in self.groups):
            return False
        return not (self.kinds and kind not in self.kinds)

    @property
    def whole_request(self) -> bool:
        return not self.rules


@dataclass(slots=True, kw_only=True)
class AdmissionPolicy:
    """Everything :func:`kubefort.admission.review.review` needs, resolved once at start-up."""

    rules: list[Rule]
    skipped: list[tuple[RuleMeta, str]]
    cfg: Config
    params: dict[str, Any]
    fail_on: Severity = Severity.HIGH
    min_severity: Severity = Severity.INFO
    modes: list[RuleSetMode] = field(default_factory=list)
    exemptions: list[Exemption] = field(default_factory=list)
    on_rule_error: str = "warn"
    judge_unchanged_updates: bool = False
    policy_path: str | None = None
    # derived
    kinds: frozenset[str] = frozenset()
    every_kind: bool = False
    plan: Plan | None = None  # the rules compiled once for every request (per kind, on first use)
    _mode_cache: dict[str, tuple[Mode, Severity]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        kinds: set[str] = set()
        every = False
        for r in self.rules:
            m = r.meta
            if m.kinds is None:
                if m.scope is Scope.OBJECT:
                    every = True
                else:
                    kinds.update(WORKLOAD_KINDS)
            else:
                kinds.update(m.kinds - (m.cross_object_kinds or frozenset()))
        self.kinds = frozenset(kinds)
        self.every_kind = every
        self.plan = Plan(self.rules, self.params, mode=MODE, local_only=True)

    def applies_to(self, kind: str) -> bool:
        return self.every_kind or kind in self.kinds

    def mode_for(self, rule_id: str) -> tuple[Mode, Severity]:
        """The mode of a rule and the threshold from which its findings deny (enforce mode)."""
        hit = self._mode_cache.get(rule_id)
        if hit is None:
            hit = (Mode.ENFORCE, self.fail_on)
            for m in self.modes:
                if rule_id in m.ids:
                    hit = (m.mode, m.fail_on if m.fail_on is not None else self.fail_on)
                    break
            self._mode_cache[rule_id] = hit
        return hit

    @property
    def rule_ids(self) -> list[str]:
        return [r.meta.id for r in self.rules]

    @classmethod
    def build(
        cls,
        *,
        registry: Registry | None = None,
        cfg: Config | None = None,
        config_path: str | None = None,
        rules: Iterable[str] = (),
        skip_rules: Iterable[str] = (),
        fail_on: str | None = None,
        policy: Mapping[str, Any] | None = None,
        policy_path: str | None = None,
    ) -> AdmissionPolicy:
        """Resolve the rule selection exactly as ``kubefort scan`` does, then the admission settings.

        Precedence of the threshold: ``fail_on`` argument (``--fail-on``), the policy file, the
        config's ``fail_on``, high.
        """
        registry = registry or default_registry()
        opts = ScanOptions(rules=list(rules), skip_rules=list(skip_rules), config=config_path)
        if cfg is None:
            cfg = resolve_config(opts)
        check_params([], registry, cfg.params, cfg.path or "config")
        selected = select_rules(opts, cfg, registry)
        chosen, skipped = split_for_admission(selected, cfg.params)
        data = dict(policy or {})
        where = policy_path or "policy"
        unknown = set(data) - _POLICY_KEYS
        if unknown:
            raise ConfigError(
                f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(_POLICY_KEYS))}",
                where,
            )
        threshold = _severity(fail_on or data.get("fail_on") or cfg.fail_on or "high", "fail_on", where)
        min_sev = _severity(cfg.min_severity or "info", "min_severity", cfg.path or "config")
        exempt_ns = data.get("exempt_namespaces", list(DEFAULT_EXEMPT_NAMESPACES))
        exemptions = []
        if exempt_ns:
            exemptions.append(
                Exemption(
                    namespaces=_strs(exempt_ns, "exempt_namespaces", where),
                    reason="namespace exempt by default (exempt_namespaces)",
                )
            )
        for i, e in enumerate(_list(data.get("exemptions"), "exemptions", where)):
            exemptions.append(_exemption(e, f"exemptions[{i}]", where, registry))
        modes = [
            _mode(m, f"modes[{i}]", where, registry) for i, m in enumerate(_list(data.get("modes"), "modes", where))
        ]
        on_err = data.get("on_rule_error", "warn")
        if on_err not in ("warn", "deny"):
            raise ConfigError("on_rule_error: choose warn or deny", where)
        unchanged = data.get("judge_unchanged_updates", False)
        if not isinstance(unchanged, bool):
            raise ConfigError("judge_unchanged_updates must be true or false", where)
        return cls(
            rules=chosen,
            skipped=skipped,
            cfg=cfg,
            params=dict(cfg.params),
            fail_on=threshold,
            min_severity=min_sev,
            modes=modes,
            exemptions=exemptions,
            on_rule_error=on_err,
            judge_unchanged_updates=unchanged,
            policy_path=policy_path,
        )

    @classmethod
    def from_files(
        cls,
        *,
        config_path: str | None = None,
        policy_path: str | None = None,
        rules: Iterable[str] = (),
        skip_rules: Iterable[str] = (),
        fail_on: str | None = None,
    ) -> AdmissionPolicy:
        """The policy of the ``kubefort admission`` commands and of every webhook worker process: the
        kubefort config, the admission policy file and the rule options, as :meth:`build` takes them."""
        return cls.build(
            config_path=config_path,
            rules=rules,
            skip_rules=skip_rules,
            fail_on=fail_on,
            policy=load_policy(policy_path) if policy_path else None,
            policy_path=policy_path,
        )

    def listing(self) -> RuleListing:
        """The rules evaluated at admission (with their mode) and those skipped, with the reason."""
        evaluated = []
        for r in self.rules:
            mode, threshold = self.mode_for(r.meta.id)
            evaluated.append(
                EvaluatedRule(
                    id=r.meta.id,
                    title=r.meta.title,
                    severity=r.meta.severity.label,
                    mode=mode.value,
                    denies_from=threshold.label if mode is Mode.ENFORCE else None,
                    # kinds judged only by scans: the rule needs other objects for them
                    not_on_kinds=tuple(sorted(r.meta.cross_object_kinds or ())),
                )
            )
        skipped = tuple(
            SkippedRule(id=m.id, title=m.title, severity=m.severity.label, reason=why) for m, why in self.skipped
        )
        from .policy_export import export  # the export reads the rule catalogue: only when listing

        cel, fixes = export(self.rules, "vap"), export(self.rules, "mutating")
        native = NativeExport(cel=tuple(cel.exported), fixes=tuple(fixes.exported), not_cel=tuple(cel.unsupported))
        return RuleListing(fail_on=self.fail_on.label, evaluated=tuple(evaluated), skipped=skipped, native=native)


@dataclass(frozen=True, slots=True, kw_only=True)
class EvaluatedRule:
    """A rule the webhook evaluates: its mode, the severity from which it denies (enforce mode only),
    and the kinds it leaves to ``kubefort scan`` because it needs other objects for them."""

    id: str
    title: str
    severity: str
    mode: str
    denies_from: str | None
    not_on_kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedRule:
    """A selected rule the webhook does not evaluate, and why."""

    id: str
    title: str
    severity: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleListing:
    """What ``kubefort admission rules`` shows: severities and modes as their labels."""

    fail_on: str
    evaluated: tuple[EvaluatedRule, ...]
    skipped: tuple[SkippedRule, ...]
    native: NativeExport | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NativeExport:
    """Which of the evaluated rules ``kubefort policy export`` writes as native admission policies: as CEL
    (vap, kyverno, kyverno-legacy), with their fix (mutating), and why the others are not CEL."""

    cel: tuple[str, ...]
    fixes: tuple[str, ...]
    not_cel: tuple[tuple[str, str], ...]


def split_for_admission(
    selected: Iterable[Rule], params: Mapping[str, Any] | None = None
) -> tuple[list[Rule], list[tuple[RuleMeta, str]]]:
    """The rules the webhook evaluates, and those it skips with the reason.

    Skipped: rules marked ``cross_object`` (they need other objects of the cluster or of the input
    set, which one AdmissionReview does not carry: ``kubefort scan`` reports them; a rule that needs
    others only for some kinds, ``cross_object_kinds``, is evaluated on its other kinds), rules whose
    ``modes`` exclude admission (e.g. "Secret committed in manifests"), and rules that need a parameter
    which is not set (inactive in ``kubefort scan`` too).
    """
    chosen: list[Rule] = []
    skipped: list[tuple[RuleMeta, str]] = []
    params = params or {}
    for r in selected:
        m = r.meta
        if m.requires and not rule_params(r, params).get(m.requires):
            skipped.append((m, f"inactive: set the parameter {m.requires} to use it"))
        elif m.scope is Scope.NAMESPACE:
            skipped.append(
                (
                    m,
                    "cross-object: judges a whole namespace and its objects (namespace scope); "
                    "reported by kubefort scan",
                )
            )
        elif m.cross_object:
            skipped.append(
                (m, "cross-object: needs other objects than the one under review; reported by kubefort scan")
            )
        elif m.modes is not None and MODE not in m.modes:
            skipped.append((m, f"runs only in {', '.join(sorted(m.modes))} mode"))
        else:
            chosen.append(r)
    return chosen, skipped


def load_policy(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read the admission policy: {e.strerror}", path) from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise ConfigError(f"invalid YAML{f' at line {line + 1}' if line is not None else ''}", path) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError("the admission policy must be a mapping", path)
    return dict(data)


def _severity(value: Any, what: str, where: str) -> Severity:
    try:
        return Severity.parse(str(value))
    except ValueError as e:
        raise ConfigError(f"{what}: {e}", where) from None


def _list(value: Any, what: str, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"'{what}' must be a list", where)
    return value


def _strs(value: Any, what: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{what} must be a list of strings", where)


def _rule_ids(patterns: tuple[str, ...], what: str, where: str, registry: Registry) -> frozenset[str]:
    try:
        return frozenset(r.meta.id for r in registry.resolve(patterns))
    except UsageError as e:
        raise ConfigError(f"{what}: {e}", where) from None


def _exemption(e: Any, what: str, where: str, registry: Registry) -> Exemption:
    if not isinstance(e, Mapping):
        raise ConfigError(f"{what} must be a mapping", where)
    bad = set(e) - _EXEMPTION_KEYS
    if bad:
        raise ConfigError(
            f"{what}: unknown key(s) {', '.join(sorted(map(str, bad)))}; known: {', '.join(sorted(_EXEMPTION_KEYS))}",
            where,
        )
    reason = e.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{what}: every exemption needs a 'reason'", where)
    out = Exemption(
        reason=reason.strip(),
        namespaces=_strs(e.get("namespaces"), f"{what}.namespaces", where),
        users=_strs(e.get("users"), f"{what}.users", where),
        groups=_strs(e.get("groups"), f"{what}.groups", where),
        kinds=_strs(e.get("kinds"), f"{what}.kinds", where),
        patterns=_strs(e.get("rules"), f"{what}.rules", where),
    )
    if not (out.namespaces or out.users or out.groups or out.kinds or out.patterns):
        raise ConfigError(f"{what}: an exemption must name namespaces, users, groups, kinds or rules", where)
    ids = _rule_ids(out.patterns, f"{what}.rules", where, registry) if out.patterns else frozenset()
    return Exemption(
        reason=out.reason,
        namespaces=out.namespaces,
        users=out.users,
        groups=out.groups,
        kinds=out.kinds,
        rules=ids,
        patterns=out.patterns,
    )


def _mode(m: Any, what: str, where: str, registry: Registry) -> RuleSetMode:
    if not isinstance(m, Mapping):
        raise ConfigError(f"{what} must be a mapping", where)
    bad = set(m) - _MODE_KEYS
    if bad:
        raise ConfigError(
            f"{what}: unknown key(s) {', '.join(sorted(map(str, bad)))}; known: {', '.join(sorted(_MODE_KEYS))}", where
        )
    patterns = _strs(m.get("rules"), f"{what}.rules", where)
    if not patterns:
        raise ConfigError(f"{what}: 'rules' is required (IDs, slugs or KF-AREA-*)", where)
    try:
        mode = Mode(str(m.get("mode")))
    except ValueError:
        raise ConfigError(f"{what}.mode: choose enforce, warn or audit", where) from None
    fail_on = _severity(m["fail_on"], f"{what}.fail_on", where) if m.get("fail_on") is not None else None
    return RuleSetMode(
        patterns=patterns, ids=_rule_ids(patterns, f"{what}.rules", where, registry), mode=mode, fail_on=fail_on
    )
