"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers."""

from __future__ import annotations

import json
import os
from typing import IO, Any

from .. import __version__
from ..engine.findings import Report
from ..engine.rule import RuleMeta, Severity

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# GitHub reads "security-severity" (0-10) to rank alerts as critical/high/medium/low.
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "1.0",
}


def _uri(path: str) -> str:
    p = path.replace(os.sep, "/")
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
            if not rel.startswith(".."):
                p = rel.replace(os.sep, "/")
        except ValueError:
            pass
    return p[2:] if p.startswith("./") else p


def _rule(meta: RuleMeta) -> dict[str, Any]:
    refs = "; ".join(f"{k}: {', '.join(v)}" for k, v in meta.refs.items())
    help_text = f"{meta.rationale}\n\nFix: {meta.remediation}" + (f"\n\nReferences: {refs}" if refs else "")
    return {
        "id": meta.id,
        "name": meta.slug,
        "shortDescription": {"text": meta.title},
        "fullDescription": {"text": meta.rationale},
        "help": {"text": help_text, "markdown": f"**{meta.title}**\n\n{meta.rationale}\n\n**Fix:** {meta.remediation}"},
        "defaultConfiguration": {"level": _LEVEL[meta.severity]},
        "properties": {
            "tags": ["security", "kubernetes", meta.area],
            "security-severity": _SCORE[meta.severity],
            "precision": "high",
        },
    }


class SarifReporter:
    def render(self, report: Report, out: IO[str]) -> None:
        metas = sorted({f.rule.id: f.rule for f in report.findings}.values(), key=lambda m: m.id)
        index = {m.id: i for i, m in enumerate(metas)}
        results = []
        uris: dict[str, str] = {}
        for f in report.findings:
            uri = uris.get(f.location.file)
            if uri is None:
                uri = uris[f.location.file] = _uri(f.location.file)
            loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": uri}}}
            if f.location.line:
                loc["physicalLocation"]["region"] = {"startLine": f.location.line}
            loc["logicalLocations"] = [
                {"name": str(f.object), "fullyQualifiedName": f"{f.object}:{f.path_str}", "kind": "object"}
            ]
            r: dict[str, Any] = {
                "ruleId": f.rule.id,
                "ruleIndex": index[f.rule.id],
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.message} ({f.object} at {f.path_str}). Fix: {f.rule.remediation}"},
                "locations": [loc],
                "partialFingerprints": {"kubefort/v1": "|".join(f.key())},
                "properties": {"severity": f.severity.label, "security-severity": _SCORE[f.severity]},
            }
            if f.suppressed:
                r["suppressions"] = [
                    {
                        "kind": "external" if f.suppression == "baseline" else "inSource",
                        "justification": f.suppression or "",
                    }
                ]
            results.append(r)
        doc = {
            "$schema": SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "kubefort",
                            "version": __version__,
                            "informationUri": "https://kubefort.invalid/",
                            "rules": [_rule(m) for m in metas],
                        }
                    },
                    "results": results,
                    "invocations": [
                        {
                            "executionSuccessful": not report.rule_errors,
                            "toolExecutionNotifications": [
                                {"level": "error", "message": {"text": e.diagnostics()}} for e in report.errors
                            ],
                        }
                    ],
                }
            ],
        }
        # no indentation: json's C encoder only runs without it (an indented dump of 50k results is 5x slower)
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
