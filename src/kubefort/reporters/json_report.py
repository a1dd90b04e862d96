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
    """The whole report as one dict (for callers that want the data, e.g. the webhook and tests)."""
    d = _tail(report)
    return {"schema": "kubefort/v1", "findings": [finding_dict(f) for f in report.findings], **d}


def _tail(report: Report) -> dict[str, Any]:
    return {
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
    """Streams the report: one finding per line, encoded by the C encoder (an indented dump of a
    large report is several times slower and holds the whole text in memory)."""

    def render(self, report: Report, out: IO[str]) -> None:
        enc = json.JSONEncoder(default=str, ensure_ascii=False).encode
        out.write('{\n"schema": "kubefort/v1",\n"findings": [')
        buf: list[str] = []
        for i, f in enumerate(report.findings):
            buf.append(("\n  " if i == 0 else ",\n  ") + enc(finding_dict(f)))
            if len(buf) >= 2000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
        out.write("\n],\n")
        tail = _tail(report)
        out.write(",\n".join(f"{json.dumps(k)}: {json.dumps(v, indent=2, default=str)}" for k, v in tail.items()))
        out.write("\n}\n")
