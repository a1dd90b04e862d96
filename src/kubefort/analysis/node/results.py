"""Per-check results of a node audit (kube-bench style): one status per rule and object it is about.

Statuses: ``pass``; ``fail``; ``warn`` (cannot tell from here: the rule was not evaluated, e.g. a
config file it needs is missing, or it emitted a ``warn`` sub-code); ``manual`` (a person must look:
sub-code ``manual``, or ``stdout`` for an audit log written to stdout); ``skip`` (not applicable on
this node: no such component or file); ``error`` (the rule crashed).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...engine.findings import Finding, Report, Status
from ...engine.rule import RuleMeta
from ...model.inventory import Inventory
from ...model.kinds import WORKLOAD_KINDS
from ...model.objects import K8sObject, ObjectRef
from ...model.source import Location
from .collect import NodeAudit
from .targets import NOT_APPLICABLE, target_of
from .versions import ReleaseTable

PASS, FAIL, WARN, MANUAL, SKIP, ERROR = "pass", "fail", "warn", "manual", "skip", "error"
STATUSES = (FAIL, WARN, MANUAL, PASS, SKIP, ERROR)
#: Sub-codes that mean "a person must check" or "cannot tell", whatever the rule.
SUBCODE_STATUS = {"manual": MANUAL, "stdout": MANUAL, "warn": WARN}


@dataclass
class CheckResult:
    rule: RuleMeta
    status: str
    section: str
    object: ObjectRef | None = None
    location: Location | None = None
    findings: list[Finding] = field(default_factory=list)
    reason: str | None = None

    @property
    def cis(self) -> str:
        return ", ".join(self.rule.refs.get("cis", ()))


def _kind_ok(meta: RuleMeta, obj: K8sObject) -> bool:
    if meta.kinds is None:
        return True if meta.scope.value == "object" else obj.kind in WORKLOAD_KINDS
    return obj.kind in meta.kinds


def _status_of(findings: list[Finding]) -> str:
    active = [f for f in findings if not f.suppressed] or findings
    if any(SUBCODE_STATUS.get(f.subcode or "") is None for f in active):
        return FAIL
    if any(SUBCODE_STATUS.get(f.subcode or "") == WARN for f in active):
        return WARN
    return MANUAL


def check_results(report: Report, inventory: Inventory | Iterable[K8sObject]) -> list[CheckResult]:
    """One result per rule of the report and object it is about (its target, see
    :mod:`.targets`); a rule about nothing in the input is one ``skip`` result with the target's
    reason."""
    findings: dict[tuple[str, ObjectRef], list[Finding]] = defaultdict(list)
    for f in report.findings:
        findings[(f.rule.id, f.object)].append(f)
    results = {(r.rule.id, r.object): r for r in report.results}
    passes = {(m.id, ref) for m, ref, _ in report.passes}
    objects = list(inventory)
    out: list[CheckResult] = []
    for meta in report.rules:
        t = target_of(meta)
        section = t.section if t else meta.area
        objs = [o for o in objects if _kind_ok(meta, o) and (t is None or t(o))]
        if not objs:
            out.append(CheckResult(meta, SKIP, section, reason=t.missing if t else "no object in the input"))
            continue
        for o in objs:
            key = (meta.id, o.ref)
            fs = findings.get(key, [])
            r = results.get(key)
            if fs:
                out.append(CheckResult(meta, _status_of(fs), section, o.ref, fs[0].location, fs))
            elif r is not None and r.status is Status.NOT_EVALUATED:
                reason = r.detail or ""
                if reason.startswith(NOT_APPLICABLE):
                    out.append(
                        CheckResult(meta, SKIP, section, o.ref, o.locate(), reason=reason[len(NOT_APPLICABLE) :])
                    )
                else:
                    out.append(CheckResult(meta, WARN, section, o.ref, o.locate(), reason=reason))
            elif r is not None and r.status is Status.ERROR:
                out.append(CheckResult(meta, ERROR, section, o.ref, r.location, reason=r.detail))
            elif key in passes:
                out.append(CheckResult(meta, PASS, section, o.ref, o.locate()))
            else:  # failed, but every finding is below --min-severity (counted, not listed)
                out.append(CheckResult(meta, FAIL, section, o.ref, o.locate(), reason="findings below --min-severity"))
    return out


def counts(results: Iterable[CheckResult]) -> dict[str, int]:
    c = dict.fromkeys(STATUSES, 0)
    for r in results:
        c[r.status] = c.get(r.status, 0) + 1
    return c


#: Statuses from worst to best: a rule judged on several objects shows the worst.
_WORST = (ERROR, FAIL, WARN, MANUAL, PASS, SKIP)


def per_rule(checks: Iterable[CheckResult]) -> list[CheckResult]:
    """One result per rule (the audit's table and check counts): a rule judged on several objects (the
    audit Policy and the API server's flag) has its worst status and every finding."""
    merged: dict[str, CheckResult] = {}
    for c in checks:
        m = merged.get(c.rule.id)
        if m is None:
            merged[c.rule.id] = CheckResult(
                c.rule, c.status, c.section, c.object, c.location, list(c.findings), c.reason
            )
            continue
        if _WORST.index(c.status) < _WORST.index(m.status):
            m.status, m.reason = c.status, c.reason or m.reason
        m.findings.extend(c.findings)
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class NodeAuditResult:
    """``kubefort node audit``: the node as collected, the engine's report, the per-check results."""

    audit: NodeAudit
    report: Report
    checks: list[CheckResult]


#: The release table is dated: ``kubefort versions`` warns when it is older than this.
STALE_AFTER_DAYS = 120


@dataclass(frozen=True, slots=True)
class VersionsResult:
    """``kubefort versions``: each given version's support status, the checks of the VER rules and
    the upgrade plan, judged as of ``today`` against the bundled release table."""

    today: dt.date
    table: ReleaseTable
    components: list[dict[str, Any]]  # analysis.node.versions.component_status, one per given version
    upgrade: dict[str, Any]  # analysis.node.versions.upgrade_plan
    report: Report
    checks: list[CheckResult]
    read_from: str | None = None  # the node root the versions were read from (--root)

    @property
    def stale(self) -> bool:
        return (self.today - self.table.as_of).days > STALE_AFTER_DAYS
