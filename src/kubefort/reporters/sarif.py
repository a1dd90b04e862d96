"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers.

Artifact URIs are relative to the repository holding the input (``Report.repo_root``: the nearest
directory with ``.git``, else the working directory or the scanned root), with ``uriBaseId``
``%SRCROOT%``, and ``run.originalUriBaseIds`` says where that was on the machine that scanned. Code
scanning maps such paths onto the repository whatever the absolute paths kubefort was given.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

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


SRCROOT = "%SRCROOT%"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def artifact_location(path: str, repo_root: str | None) -> dict[str, str]:
    """The ``artifactLocation`` of a file: relative to ``%SRCROOT%`` when it lies in ``repo_root``, an
    absolute ``file:`` URI when it lies elsewhere, a URL as it is, and a bare relative reference for
    what is not a file (``<stdin>``). Path segments are percent-encoded as URIs require."""
    if _URL.match(path):  # already a URI (an etcd endpoint probed)
        return {"uri": path}
    if path.startswith("<"):
        return {"uri": quote(path.replace(os.sep, "/"))}
    if repo_root is None:  # a report not made by a scan of files (node audit, etcd probe): no base
        return {"uri": Path(path).as_uri()} if os.path.isabs(path) else {"uri": quote(path.replace(os.sep, "/"))}
    full = os.path.abspath(path)
    try:
        rel = os.path.relpath(full, repo_root)
    except ValueError:  # another drive
        rel = ".."
    if rel == ".." or rel.startswith(".." + os.sep):
        return {"uri": Path(full).as_uri()}
    return {"uri": quote(rel.replace(os.sep, "/")), "uriBaseId": SRCROOT}


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
        uris: dict[str, dict[str, str]] = {}
        for f in report.findings:
            uri = uris.get(f.location.file)
            if uri is None:
                uri = uris[f.location.file] = artifact_location(f.location.file, report.repo_root)
            loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": dict(uri)}}
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
        run: dict[str, Any] = {
            "tool": {
                "driver": {
                    "name": "kubefort",
                    "version": __version__,
                    "informationUri": "https://kubefort.invalid/",
                    "rules": [_rule(m) for m in metas],
                }
            },
        }
        if report.repo_root is not None:
            base = Path(report.repo_root).as_uri()
            run["originalUriBaseIds"] = {SRCROOT: {"uri": base if base.endswith("/") else base + "/"}}
        run["results"] = results
        run["invocations"] = [
            {
                "executionSuccessful": not report.rule_errors,
                "toolExecutionNotifications": [
                    {"level": "error", "message": {"text": e.diagnostics()}} for e in report.errors
                ],
            }
        ]
        doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
        # no indentation: json's C encoder only runs without it (an indented dump of 50k results is 5x slower)
        out.write(json.dumps(doc, ensure_ascii=False) + "\n")
