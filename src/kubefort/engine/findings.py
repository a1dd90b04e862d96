"""Findings, per-object results and the report of a scan."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import LoadError
from ..model.objects import ObjectRef, Path
from ..model.source import Location
from .rule import PssControl, RuleMeta, Severity


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    SUPPRESSED = "suppressed"
    NOT_EVALUATED = "not_evaluated"
    ERROR = "error"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


_PATHS: dict[Path, str] = {}


def format_path(path: Path) -> str:
    """``spec.template.spec.containers[0].securityContext.privileged``; odd keys as ``["a.b/c"]``."""
    text = _PATHS.get(path)
    if text is None:
        text = _format_path(path)
        if len(_PATHS) < 100_000:  # the same few thousand paths recur across objects
            _PATHS[path] = text
    return text


def _format_path(path: Path) -> str:
    out: list[str] = []
    for step in path:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _IDENT.match(step):
            out.append(f".{step}" if out else step)
        else:
            out.append("[" + json.dumps(step) + "]")
    return "".join(out)


@dataclass(slots=True, kw_only=True)
class Finding:
    rule: RuleMeta
    object: ObjectRef
    path: Path
    message: str
    severity: Severity
    location: Location
    subcode: str | None = None
    fix: tuple[Mapping[str, Any], ...] | None = None
    suppressed: bool = False
    suppression: str | None = None  # reason, e.g. "annotation: legacy agent" / "baseline"
    pss: PssControl | None = None
    path_str: str = ""  # the path as text; computed once

    def __post_init__(self) -> None:
        if not self.path_str:
            self.path_str = format_path(self.path)

    def key(self) -> tuple[str, str, str, str, str, str]:
        """Identity used by --baseline: stable across line moves."""
        o = self.object
        return (self.rule.id, o.kind, o.namespace or "", o.name, self.path_str, self.subcode or "")


@dataclass(slots=True, kw_only=True)
class Result:
    """How one rule ended on one object (failures, suppressions, not-evaluated and errors only; passes
    are counted in :class:`Report` to keep scans of large inputs light)."""

    rule: RuleMeta
    object: ObjectRef
    status: Status
    detail: str | None = None  # why not evaluated / the error
    location: Location | None = None  # of the object, for errors (findings carry their own locations)


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    passes: list[tuple[RuleMeta, ObjectRef, Location | None]] = field(default_factory=list)
    counts: Counter[Status] = field(default_factory=Counter)
    errors: list[LoadError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rules: list[RuleMeta] = field(default_factory=list)
    objects: int = 0
    files: int = 0
    hidden: int = 0  # findings below --min-severity, not listed
    fail_on: Severity = Severity.HIGH
    min_severity: Severity = Severity.INFO
    pss: str | None = None
    inventory: Any = None  # the objects scanned (kept with the report: freeing them is the caller's choice)

    @property
    def active_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]

    @property
    def rule_errors(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.ERROR]

    def exit_code(self) -> int:
        """3: a rule crashed; 2: input could not be read; 1: findings at or above --fail-on; 0: clean."""
        if self.rule_errors:
            return 3
        if self.errors:
            return 2
        if any(f.severity >= self.fail_on for f in self.active_findings):
            return 1
        return 0

    def summary(self) -> dict[str, Any]:
        active = self.active_findings
        by_sev = Counter(f.severity.label for f in active)
        by_area = Counter(f.rule.area for f in active)
        return {
            "files": self.files,
            "objects": self.objects,
            "rules": len(self.rules),
            "results": {s.value: self.counts.get(s, 0) for s in Status},
            "findings": len(active),
            "suppressed": sum(1 for f in self.findings if f.suppressed),
            "hidden_below_min_severity": self.hidden,
            "by_severity": {s.label: by_sev.get(s.label, 0) for s in sorted(Severity, reverse=True)},
            "by_area": dict(sorted(by_area.items())),
            "errors": len(self.errors),
            "rule_errors": len(self.rule_errors),
            "fail_on": self.fail_on.label,
            "exit_code": self.exit_code(),
        }
