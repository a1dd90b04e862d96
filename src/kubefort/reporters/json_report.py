"""The stable JSON contract ``kubefort/v1`` (documented in the README)."""

from __future__ import annotations

import json
from typing import IO, Any

from ..engine.findings import Finding, Report


def finding_dict(f: Finding) -> dict[str, Any]:
    d: dict[str, Any] = {
        "rule_id": f.rule.id,
        "slug": f.rule.slug,
        "severity": f.severity.label,
        "title": f.rule.title,
        "message": f.message,
        "rationale": f.rule.rationale,
        "remediation": f.rule.remediation,
        "object": f.object.to_dict(),
        "location": {"file": f.location.file, "line": f.location.line},
        "path": f.path_str,
        "refs": {k: list(v) for k, v in f.rule.refs.items()},
        "suppressed": f.suppressed,
    }
    if f.subcode:
        d["subcode"] = f.subcode
    if f.suppression:
        d["suppression"] = f.suppression
    if f.location.template:
        d["location"]["template"] = f.location.template
    if f.pss:
        d["pss"] = {"level": f.pss.level.value, "control": f.pss.control, "check": f.pss.check_id}
    if f.fix:
        d["fix"] = list(f.fix)
    return d


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "schema": "kubefort/v1",
        "findings": [finding_dict(f) for f in report.findings],
        "summary": report.summary(),
        "not_evaluated": [
            {"rule_id": r.rule.id, "object": r.object.to_dict(), "reason": r.detail}
            for r in report.results if r.status.value == "not_evaluated"
        ],
        "rule_errors": [
            {"rule_id": r.rule.id, "object": r.object.to_dict(), "error": r.detail} for r in report.rule_errors
        ],
        "errors": [{"file": e.file, "line": e.line, "message": str(e)} for e in report.errors],
        "notes": report.notes,
    }


class JsonReporter:
    def render(self, report: Report, out: IO[str]) -> None:
        json.dump(report_dict(report), out, indent=2, default=str)
        out.write("\n")
