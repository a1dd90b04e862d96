"""``kubefort node audit`` output: the kube-bench style table (one section per component, a status per
check) and the JSON document (every check in the finding contract of ``kubefort scan``, plus its
status and section). SARIF and JUnit are the reporters of ``kubefort scan`` on the engine's report.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import IO, Any, Protocol

import yaml
from rich.console import Console
from rich.markup import escape

from ..analysis.node import results as res
from ..analysis.node.collect import NodeAudit
from ..analysis.node.results import CheckResult, NodeAuditResult, VersionsResult
from ..analysis.node.targets import AUDIT_SECTIONS
from ..engine.findings import Finding
from ..engine.rule import Severity
from . import Format, Reporter, get_reporter, printable
from .json_report import finding_dict

STATUS_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "warn": "yellow",
    "manual": "cyan",
    "skip": "dim",
    "error": "bold magenta",
}
SEV_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def safe(text: object) -> str:
    """Scanned text for rich markup: control characters shown as ``\\xNN``, markup escaped."""
    return escape(printable(str(text)))


def console(out: IO[str], color: bool | None) -> Console:
    return Console(
        file=out,
        force_terminal=color if color is not None else None,
        no_color=color is False,
        width=max(100, Console(file=out).width),
        highlight=False,
        soft_wrap=True,
    )


def result_dict(c: CheckResult) -> dict[str, Any]:
    """One check in the finding contract of ``kubefort scan`` plus ``status`` (and ``reason``)."""
    meta = c.rule
    if c.findings:
        return {"items": [finding_dict(f) | {"status": c.status} for f in c.findings]}
    d: dict[str, Any] = {
        "rule_id": meta.id,
        "slug": meta.slug,
        "severity": meta.severity.label,
        "title": meta.title,
        "message": c.reason or ("passed" if c.status == "pass" else c.status),
        "rationale": meta.rationale,
        "remediation": meta.remediation,
        "object": c.object.to_dict() if c.object else None,
        "location": {"file": c.location.file, "line": c.location.line} if c.location else None,
        "path": "",
        "refs": {k: list(v) for k, v in meta.refs.items()},
        "suppressed": False,
        "status": c.status,
    }
    if c.reason:
        d["reason"] = c.reason
    return {"items": [d]}


def flatten(checks: list[CheckResult]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every result, the results that are findings in the scan sense)."""
    out: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for c in checks:
        for item in result_dict(c)["items"]:
            item["section"] = c.section
            out.append(item)
            if c.findings:
                found.append(item)
    return out, found


def _where(c: CheckResult | Finding) -> str:
    loc = c.location
    if loc is None:
        return ""
    return f"{loc.file}:{loc.line}" if loc.line else loc.file


def _section_rank(section: str) -> int:
    return AUDIT_SECTIONS.index(section) if section in AUDIT_SECTIONS else 99


class AuditReporter(Protocol):
    def render(self, result: NodeAuditResult, out: IO[str]) -> None: ...


class AuditJsonReporter:
    def render(self, result: NodeAuditResult, out: IO[str]) -> None:
        audit, report, checks = result.audit, result.report, result.checks
        items, found = flatten(checks)
        doc = {
            "schema": "kubefort/v1",
            "kind": "node-audit",
            "node": audit.node,
            "root": audit.root,
            "components": {k: {"source": v, "version": audit.versions.get(k)} for k, v in sorted(audit.found.items())},
            "results": items,
            "findings": found,
            "summary": {
                "checks": res.counts(res.per_rule(checks)),
                "results_by_status": res.counts(checks),
                **report.summary(),
            },
            "rule_errors": [
                {"rule_id": r.rule.id, "object": r.object.to_dict(), "error": r.detail} for r in report.rule_errors
            ],
            "errors": [{"file": e.file, "line": e.line, "message": str(e)} for e in report.errors],
            "notes": report.notes,
        }
        out.write(json.dumps(doc, indent=2, default=str) + "\n")


class AuditTableReporter:
    def __init__(self, color: bool | None = None, verbose: bool = False) -> None:
        self.color = color
        self.verbose = verbose

    def render(self, result: NodeAuditResult, out: IO[str]) -> None:
        audit, checks, verbose = result.audit, result.checks, self.verbose
        con = console(out, self.color)
        con.print(f"[bold]kubefort node audit[/]: node [bold]{safe(audit.node)}[/]  (root {safe(audit.root)})")
        if audit.found:
            for comp in sorted(audit.found, key=_section_rank):
                v = audit.versions.get(comp)
                con.print(f"  {comp:<24} {safe(audit.found[comp])}" + (f"  [dim]v{safe(v)}[/]" if v else ""))
        else:
            con.print("  [yellow]no Kubernetes component found[/]")
        merged = res.per_rule(checks)
        sections: dict[str, list[CheckResult]] = defaultdict(list)
        for c in merged:
            sections[c.section].append(c)
        for sec in sorted(sections, key=lambda s: (_section_rank(s), s)):
            shown = [c for c in sections[sec] if verbose or c.status != "skip"]
            if not shown:
                continue
            con.print()
            con.print(f"[bold underline]{escape(sec)}[/]")
            for c in shown:
                self._check(con, c)
        con.print()
        self._summary(con, result, merged)

    def _check(self, con: Console, c: CheckResult) -> None:
        st = f"[{STATUS_STYLE[c.status]}]{'[' + c.status.upper() + ']':<8}[/]"
        cis = f"CIS {c.cis}" if c.cis else ""
        con.print(f"  {st} [bold]{c.rule.id:<12}[/] [dim]{cis:<18}[/] {escape(c.rule.title)}")
        if c.status == "pass":
            return
        if c.findings:
            for f in sorted(c.findings, key=lambda x: (-x.severity, x.location.line or 0)):
                sev = f"[{SEV_STYLE[f.severity]}]{f.severity.label}[/]"
                sup = f" [dim](suppressed: {safe(f.suppression or '')})[/]" if f.suppressed else ""
                con.print(f"           {sev}: {safe(f.message)}{sup}")
                w = _where(f)
                if w:
                    con.print(f"           [dim]at {safe(w)}[/]")
            con.print(f"           [green]fix:[/] {escape(c.rule.remediation)}")
        elif c.reason:
            label = "why" if c.status in ("warn", "error") else "skipped"
            con.print(f"           [dim]{label}: {safe(c.reason)}[/]")

    def _summary(self, con: Console, result: NodeAuditResult, merged: list[CheckResult]) -> None:
        report, verbose = result.report, self.verbose
        n = res.counts(merged)
        sev_fail: dict[str, int] = defaultdict(int)
        for c in result.checks:
            if c.status == "fail":
                for f in c.findings:
                    if not f.suppressed:
                        sev_fail[f.severity.label] += 1
        con.print(
            f"[bold]Summary[/]: [green]{n['pass']} pass[/], [red]{n['fail']} fail[/], [yellow]{n['warn']} warn[/], "
            f"[cyan]{n['manual']} manual[/], {n['skip']} not applicable"
            + (f", [magenta]{n['error']} error[/]" if n["error"] else "")
            + ("" if verbose or not n["skip"] else " [dim](-v lists them)[/]")
        )
        if sev_fail:
            con.print(
                "findings by severity: "
                + ", ".join(
                    f"{s} {sev_fail[s]}" for s in ("critical", "high", "medium", "low", "info") if sev_fail.get(s)
                )
            )
        for e in report.errors:
            con.print(f"[bold red]error[/] {safe(e.diagnostics())}")
        for r in report.rule_errors:
            con.print(f"[bold red]rule error[/] {r.rule.id} on {safe(r.object)}: {safe(r.detail or '')}")
        if report.notes:
            if verbose:
                for note in report.notes:
                    con.print(f"[dim]note: {safe(note)}[/]")
            else:
                con.print(f"[dim]{len(report.notes)} notes: use -v to see them[/]")
        code = report.exit_code()
        verdict = {
            0: "[green]PASS[/]",
            1: f"[red]FAIL[/]: findings at or above {report.fail_on.label}",
            2: "[red]ERROR[/]: some input could not be read",
            3: "[red]ERROR[/]: a rule crashed",
        }[code]
        con.print(f"result: {verdict} (exit code {code})")


class EngineReportOnly:
    """SARIF and JUnit: the reporter of ``kubefort scan`` on the engine's report of an audit."""

    def __init__(self, inner: Reporter) -> None:
        self.inner = inner

    def render(self, result: NodeAuditResult | VersionsResult, out: IO[str]) -> None:
        self.inner.render(result.report, out)


def audit_reporter(fmt: Format, *, color: bool | None = None, verbose: bool = False) -> AuditReporter:
    if fmt is Format.TABLE:
        return AuditTableReporter(color=color, verbose=verbose)
    if fmt is Format.JSON:
        return AuditJsonReporter()
    return EngineReportOnly(get_reporter(fmt, color=color, verbose=verbose))


def write_dump(audit: NodeAudit, out: IO[str]) -> None:
    """The NodeSnapshot and the synthetic objects of the audit as YAML (``--dump``), for ``kubefort scan``."""
    docs = [
        dict(o.raw)
        for o in audit.objects
        if o.kind == "NodeSnapshot"
        or (
            isinstance(o.raw.get("metadata"), dict)
            and "kubefort.io/source" in (o.raw["metadata"].get("annotations") or {})
        )
    ]
    out.write(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False))
