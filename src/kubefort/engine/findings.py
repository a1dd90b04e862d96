"""Findings, per-object results, root causes and the report of a scan."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
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
    """One violation of one rule on one object, at a field path.

    ``origin`` is where the object itself starts (its file and first line): two objects of the same
    kind, namespace and name in two files (install variants, test copies) are two objects, and
    ``(object, origin)`` tells them apart. ``specific`` says whether ``path`` names one value (a
    scalar, a list of scalars, or a field that is absent) rather than a mapping, which a rule
    names when a field is missing from it; only specific findings are merged into root causes
    (:func:`root_causes`).
    """

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
    origin: Location | None = None  # where the object starts (None for findings made outside the engine)
    specific: bool = False

    def __post_init__(self) -> None:
        if not self.path_str:
            self.path_str = format_path(self.path)

    def key(self) -> tuple[str, str, str, str, str, str]:
        """Identity used by --baseline: stable across line moves."""
        o = self.object
        return (self.rule.id, o.kind, o.namespace or "", o.name, self.path_str, self.subcode or "")


class SharedParts:
    """The parts equal findings of one run share: one object per distinct message or subcode text, per
    distinct path (with its text) and, among one object's findings, per distinct location.

    A large scan's findings repeat themselves: syn-10k's 49,128 findings have 14,341 distinct messages
    (the same check on the same kind of container says the same thing), 93 distinct paths and, since
    several rules point at one line of an object, 24,034 distinct locations. Held once, the
    findings and their results hold 40% less (docs/performance.md, "Findings' memory").

    Kept by a :class:`~kubefort.engine.runner.Run` and dropped with it (a watch makes a run per change).
    Only immutable values are shared (strings, tuples of strings and ints, frozen locations); every
    :class:`Finding` stays an object of its own, as a suppression is set on it.
    """

    __slots__ = ("_locations", "_object", "_paths", "_texts")

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._paths: dict[Path, tuple[Path, str]] = {}
        self._object: object = None
        self._locations: dict[int | None, Location] = {}

    def text(self, text: str) -> str:
        """The run's copy of ``text`` (a message, a subcode)."""
        return self._texts.setdefault(text, text)

    def path(self, path: Path) -> tuple[Path, str]:
        """The run's copy of ``path``, with its text (:func:`format_path`)."""
        hit = self._paths.get(path)
        if hit is None:
            hit = self._paths[path] = (path, format_path(path))
        return hit

    def location(self, owner: object, location: Location, origin: Location | None) -> Location:
        """The copy of ``location`` the findings of ``owner`` (an object, its ``origin`` included) share.

        Two objects never share a location (each document has lines of its own), so only the locations
        of the object being judged are kept: the table stays small whatever the input's size."""
        locations = self._locations
        if owner is not self._object:
            self._object = owner
            locations = self._locations = {} if origin is None else {origin.line: origin}
        # by line, then the same file and template (an object's are, but for a node's several files):
        # cheaper than hashing and comparing locations
        hit = locations.get(location.line)
        if hit is None:
            locations[location.line] = location
            return location
        return hit if hit.file == location.file and hit.template == location.template else location


@dataclass(slots=True, kw_only=True)
class Result:
    """How one rule ended on one object (failures, suppressions, not-evaluated and errors only; passes
    are counted in :class:`Report` to keep scans of large inputs light).

    ``findings`` are this result's own findings (a failure or suppression), in report order: a
    reporter that shows results with their findings reads them here, never by looking the object up
    by name (objects of the same name in several files would each get every copy's findings).
    """

    rule: RuleMeta
    object: ObjectRef
    status: Status
    detail: str | None = None  # why not evaluated / the error
    location: Location | None = None  # where the object starts (the findings carry their own locations)
    findings: list[Finding] = field(default_factory=list)


def is_specific(raw: Any, path: Path) -> bool:
    """Whether ``path`` names one value of ``raw`` rather than a structure (see :class:`Finding`).

    A path to a mapping, to a list holding mappings or lists, to a null, or the object's root, is
    where rules point when a field is missing *from* it ("container has no securityContext", "no
    memory limit", "no liveness probe" all name the container): findings there are about different
    fields and are not one cause. A scalar, a list of scalars (``verbs``, ``capabilities.add``) or
    an absent field (a rule naming the exact field it wants) is one value.
    """
    if not path:
        return False
    value = raw
    for step in path:  # get_path, inlined: this runs for every finding
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                return True  # absent
            value = value[step]
        elif isinstance(value, dict):
            value = value.get(step, _ABSENT)
            if value is _ABSENT:
                return True
        else:
            return True
    if value is None or isinstance(value, Mapping):
        return False
    if isinstance(value, list):
        return not any(isinstance(v, (Mapping, list)) for v in value)
    return True


_ABSENT = object()


@dataclass(frozen=True, slots=True)
class RootCause:
    """Findings of one object that one setting causes: ``head`` is the most severe, ``also`` the
    others (other rules reporting the same value, most severe first)."""

    head: Finding
    also: tuple[Finding, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (self.head, *self.also)


def _path_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, s) if isinstance(s, int) else (1, s) for s in path)


def root_causes(findings: Iterable[Finding]) -> list[RootCause]:
    """Group findings into root causes, in the order of their first finding.

    Two findings share a cause when they are about the same object (the same copy: kind, namespace,
    name and origin) and their paths name the same value, or one names a list and the other an item
    of it: ``capabilities.add[0]`` = SYS_TIME fails KF-POD-011, -012 and -015; a role's ``verbs: ["*"]``
    on secrets fails KF-RBAC-002, -003, -007, -030, -031 and -034. Only specific paths group (see
    :func:`is_specific`); every other finding is a cause of its own. The head is the most severe
    finding (then the lowest rule ID). Linear in the findings, apart from sorting each object's few.
    """
    fs = list(findings)
    by_object: dict[tuple[ObjectRef, Location | None], list[int]] = {}
    for i, f in enumerate(fs):
        if f.specific:
            by_object.setdefault((f.object, f.origin), []).append(i)
    clusters: dict[int, list[int]] = {}  # first index -> indexes of a cause of several findings
    grouped: set[int] = set()
    for idx in by_object.values():
        if len(idx) < 2:
            continue
        idx.sort(key=lambda i: _path_key(fs[i].path))
        current: list[int] = []
        root: Path = ()
        for i in idx:
            if current and fs[i].path[: len(root)] == root:
                current.append(i)
                continue
            if len(current) > 1:
                clusters[min(current)] = current
            current, root = [i], fs[i].path
        if len(current) > 1:
            clusters[min(current)] = current
    for cluster in clusters.values():
        grouped.update(cluster)
    out: list[RootCause] = []
    for i, f in enumerate(fs):
        members = clusters.get(i)
        if members is not None:
            ranked = sorted(members, key=lambda j: (-fs[j].severity, fs[j].rule.id, j))
            out.append(RootCause(fs[ranked[0]], tuple(fs[j] for j in ranked[1:])))
        elif i not in grouped:
            out.append(RootCause(f))
    return out


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
    duplicates: int = 0  # identities defined more than once (Inventory.duplicates)
    hidden: int = 0  # findings below --min-severity, not listed
    fail_on: Severity = Severity.HIGH
    min_severity: Severity = Severity.INFO
    pss: str | None = None
    root: str | None = None  # the directory the inputs are under, as given (paths in the table are relative to it)
    repo_root: str | None = None  # absolute: the repository holding them (SARIF's %SRCROOT%)
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

    def root_causes(self) -> list[RootCause]:
        """The active findings grouped into root causes (see :func:`root_causes`)."""
        return root_causes(self.active_findings)

    def summary(self, causes: list[RootCause] | None = None) -> dict[str, Any]:
        """Counts for every output. ``by_severity``, ``by_area`` and ``by_rule`` count findings (every
        rule's result); ``root_causes`` counts what a reader has to fix, by the head's severity.
        ``causes`` may be passed when the caller has them already."""
        active = self.active_findings
        by_sev = Counter(f.severity.label for f in active)
        by_area = Counter(f.rule.area for f in active)
        by_rule = Counter(f.rule.id for f in active)
        causes = self.root_causes() if causes is None else causes
        cause_sev = Counter(c.head.severity.label for c in causes)
        return {
            "files": self.files,
            "objects": self.objects,
            "duplicate_identities": self.duplicates,
            "rules": len(self.rules),
            "results": {s.value: self.counts.get(s, 0) for s in Status},
            "findings": len(active),
            "suppressed": sum(1 for f in self.findings if f.suppressed),
            "hidden_below_min_severity": self.hidden,
            "by_severity": {s.label: by_sev.get(s.label, 0) for s in sorted(Severity, reverse=True)},
            "by_area": dict(sorted(by_area.items())),
            "by_rule": dict(sorted(by_rule.items())),
            "root_causes": {
                "total": len(causes),
                "by_severity": {s.label: cause_sev.get(s.label, 0) for s in sorted(Severity, reverse=True)},
            },
            "errors": len(self.errors),
            "rule_errors": len(self.rule_errors),
            "fail_on": self.fail_on.label,
            "exit_code": self.exit_code(),
        }
