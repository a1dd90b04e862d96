"""Reporters turn a :class:`~kubefort.engine.findings.Report` into text. They only format: what is a
finding and what the exit code is are decided by the engine."""

from __future__ import annotations

import os
from enum import Enum
from typing import IO, Protocol

from ..engine.findings import Report

# control characters from the scanned data must not reach a terminal (a value with an escape sequence
# could rewrite what the user sees): shown as \xNN
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\xNN``: safe to write to a terminal."""
    return text.translate(_CONTROL)


def display_path(file: str, root: str | None) -> str:
    """``file`` relative to the scanned ``root`` (what the user pointed kubefort at), or as it is when
    it lies elsewhere (stdin, a second input tree)."""
    if not root or root == "." or file.startswith("<"):
        return file
    try:
        rel = os.path.relpath(file, root)
    except ValueError:  # another drive
        return file
    return file if rel == ".." or rel.startswith(".." + os.sep) else rel


def error_lines(report: Report) -> list[str]:
    """The stderr lines about inputs that could not be read and rules that crashed, one line each: every
    format keeps standard output for the report (a CI log shows them apart)."""
    out = [f"kubefort: error: {printable(e.diagnostics())}" for e in report.errors]
    out += [
        f"kubefort: rule error: {r.rule.id} on {printable(str(r.object))}: {printable(str(r.detail))}"
        for r in report.rule_errors
    ]
    return out


class Reporter(Protocol):
    def render(self, report: Report, out: IO[str]) -> None: ...


class Format(str, Enum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    OPENREPORTS = "openreports"
    POLICYREPORT = "policyreport"
    CYCLONEDX = "cyclonedx"  # SBOM of the images in the report (kubefort image scan, scan --images)
    SPDX = "spdx"
    HTML = "html"  # one self-contained page to open in a browser (reporters/html.py)


def get_reporter(fmt: Format, *, color: bool | None = None, verbose: bool = False) -> Reporter:
    if fmt is Format.JSON:
        from .json_report import JsonReporter

        return JsonReporter()
    if fmt is Format.SARIF:
        from .sarif import SarifReporter

        return SarifReporter()
    if fmt is Format.OPENREPORTS:
        from .openreports import OpenReportsReporter

        return OpenReportsReporter()
    if fmt is Format.POLICYREPORT:
        from .policyreport import PolicyReportReporter

        return PolicyReportReporter()
    if fmt is Format.JUNIT:
        from .junit import JunitReporter

        return JunitReporter()
    if fmt is Format.CYCLONEDX:
        from .cyclonedx import CycloneDxReporter

        return CycloneDxReporter()
    if fmt is Format.SPDX:
        from .spdx import SpdxReporter

        return SpdxReporter()
    if fmt is Format.HTML:
        from .html import HtmlReporter

        return HtmlReporter()
    from .table import TableReporter

    return TableReporter(color=color, verbose=verbose)
