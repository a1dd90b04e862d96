"""Run rules over an inventory: expand scopes, isolate crashes, apply suppressions."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import K8sObject
from ..model.workloads import pod_spec
from .findings import Finding, Report, Result, Status
from .rule import Context, NotEvaluated, PssLevel, Rule, Scope, Severity
from .suppression import Suppressor

log = logging.getLogger(__name__)


def rule_params(rule: Rule, params: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's declared parameters with configured values (global name, or ``{RULE-ID: {name: v}}``)."""
    out = dict(rule.meta.params)
    per_rule = params.get(rule.meta.id)
    for name in out:
        if name in params:
            out[name] = params[name]
        if isinstance(per_rule, Mapping) and name in per_rule:
            out[name] = per_rule[name]
    return out


def _index_by_kind(rules: Iterable[Rule]) -> tuple[dict[str, list[Rule]], list[Rule]]:
    by_kind: dict[str, list[Rule]] = defaultdict(list)
    every: list[Rule] = []
    for r in rules:
        if r.meta.scope is Scope.NAMESPACE:
            continue
        kinds = r.meta.kinds
        if kinds is None:
            if r.meta.scope is Scope.OBJECT:
                every.append(r)
                continue
            kinds = WORKLOAD_KINDS
        for k in kinds:
            by_kind[k].append(r)
    return by_kind, every


def evaluate(
    rules: list[Rule],
    inventory: Inventory,
    *,
    params: Mapping[str, Any] | None = None,
    suppressor: Suppressor | None = None,
    mode: str = "manifest",
    pss: PssLevel | None = None,
    min_severity: Severity = Severity.INFO,
    fail_on: Severity = Severity.HIGH,
    keep_passes: bool = True,
) -> Report:
    params = params or {}
    suppressor = suppressor or Suppressor()
    contexts = {r.meta.id: Context(rule_params(r, params), inventory, mode, pss) for r in rules}
    # rules whose activating parameter is not set do not run (e.g. KF-IMG-005 without allowed_registries)
    inactive = [r for r in rules if r.meta.requires and not contexts[r.meta.id].params.get(r.meta.requires)]
    # and rules meant for other modes are not applicable (e.g. "Secret committed in manifests" on a cluster)
    rules = [r for r in rules if r not in inactive and (r.meta.modes is None or mode in r.meta.modes)]
    by_kind, every = _index_by_kind(rules)
    report = Report(rules=[r.meta for r in rules], fail_on=fail_on, min_severity=min_severity, objects=len(inventory),
                    pss=pss.value if pss else None)
    counts = report.counts
    report.notes.extend(f"{r.meta.id} is inactive: set the parameter {r.meta.requires} to use it" for r in inactive)
    for obj in inventory:
        applicable = by_kind.get(obj.kind, [])
        if every:
            applicable = applicable + every
        if not applicable:
            continue
        pod = pod_spec(obj) if obj.kind in WORKLOAD_KINDS else None
        csets: dict[Any, list[Any]] = {}
        for r in applicable:
            meta = r.meta
            if meta.applies is not None and not meta.applies(obj):
                continue  # not about this object (a kube-apiserver flag rule on an nginx Deployment)
            ctx = contexts[meta.id]
            try:
                if meta.scope is Scope.OBJECT:
                    violations = list(r.fn(obj, ctx))
                elif pod is None:
                    continue  # a pod-bearing kind without a pod spec: nothing to judge
                elif meta.scope is Scope.POD:
                    violations = list(r.fn(pod, ctx))
                else:
                    violations = []
                    cs = csets.get(meta.containers)
                    if cs is None:
                        cs = csets[meta.containers] = list(pod.containers(meta.containers))
                    for c in cs:
                        violations.extend(r.fn(c, ctx))
            except Exception as e:  # NotEvaluated, or a crash: neither stops the scan
                _failed_to_judge(report, meta, obj, e)
                continue
            if not violations:
                counts[Status.PASS] += 1
                if keep_passes:
                    report.passes.append((meta, obj.ref, None))
                continue
            _record(report, r, obj, violations, suppressor, pss, min_severity)
    ns_rules = [r for r in rules if r.meta.scope is Scope.NAMESPACE]
    if ns_rules:
        for ns in inventory.namespace_views():
            for r in ns_rules:
                _run_one(report, r, ns.anchor, ns, contexts[r.meta.id], suppressor, pss, min_severity, keep_passes)
    report.notes.extend(suppressor.notes)
    return report


def _failed_to_judge(report: Report, meta: Any, anchor: K8sObject, e: Exception) -> None:
    if isinstance(e, NotEvaluated):
        report.counts[Status.NOT_EVALUATED] += 1
        report.results.append(Result(rule=meta, object=anchor.ref, status=Status.NOT_EVALUATED, detail=str(e)))
        return
    log.debug("rule %s crashed on %s", meta.id, anchor.ref, exc_info=True)
    report.counts[Status.ERROR] += 1
    report.results.append(Result(rule=meta, object=anchor.ref, status=Status.ERROR,
                                 detail=_crash_detail(e), location=anchor.locate()))


def _crash_detail(e: BaseException) -> str:
    """The exception type and where it was raised, never its message: messages can quote the object's
    data, secrets included (``KeyError('hunter2')``). ``--debug`` logs the full traceback."""
    tb = e.__traceback__
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if "kubefort" in code.co_filename:
            where = f" at {code.co_filename.rsplit('kubefort/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"
        tb = tb.tb_next
    return f"{type(e).__name__}{where} (run with --debug for the traceback)"


def _run_one(report: Report, r: Rule, anchor: K8sObject, arg: Any, ctx: Context, suppressor: Suppressor,
             pss: PssLevel | None, min_severity: Severity, keep_passes: bool) -> None:
    """Run a rule whose findings belong to ``anchor`` on ``arg`` (namespace-scope rules)."""
    try:
        violations = list(r.fn(arg, ctx))
    except Exception as e:
        _failed_to_judge(report, r.meta, anchor, e)
        return
    if not violations:
        report.counts[Status.PASS] += 1
        if keep_passes:
            report.passes.append((r.meta, anchor.ref, None))
        return
    _record(report, r, anchor, violations, suppressor, pss, min_severity)


def _record(report: Report, r: Rule, obj: K8sObject, violations: list[Any], suppressor: Suppressor,
            pss: PssLevel | None, min_severity: Severity) -> None:
    meta = r.meta
    ref = obj.ref
    pss_control = None
    if pss is not None and meta.pss:
        pss_control = meta.pss[0] if len(meta.pss) == 1 else next(
            (c for c in meta.pss if c.level is pss), meta.pss[0])
    any_active = False
    kept = 0
    for v in violations:
        sev = v.severity if v.severity is not None else meta.severity
        if sev < min_severity:
            continue
        kept += 1
        f = Finding(rule=meta, object=ref, path=tuple(v.path), message=v.message, severity=sev,
                    location=obj.locate(v.path), subcode=v.subcode, fix=v.fix, pss=pss_control)
        reason = suppressor.reason(meta, obj, f)
        if reason is not None:
            f.suppressed, f.suppression = True, reason
        else:
            any_active = True
        report.findings.append(f)
    if kept == 0:
        # failed, but every finding is below --min-severity: counted as a failure, not listed
        report.counts[Status.FAIL] += 1
        report.hidden += len(violations)
        return
    status = Status.FAIL if any_active else Status.SUPPRESSED
    report.counts[status] += 1
    report.results.append(Result(rule=meta, object=ref, status=status, location=obj.locate()))
