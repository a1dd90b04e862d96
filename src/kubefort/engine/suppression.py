"""Suppressions: the ``kubefort.io/ignore`` annotation, config exceptions and a baseline report.

A suppressed finding stays in the report, marked suppressed with its reason; it is counted in the
summary and never silently dropped.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError
from ..model.objects import K8sObject
from .config import ExceptionEntry
from .findings import Finding
from .rule import RuleMeta

IGNORE_ANNOTATION = "kubefort.io/ignore"


def parse_ignore_annotation(value: str) -> tuple[dict[str, str], list[str]]:
    """``"KF-POD-001=reason, KF-IMG-002=other reason"`` -> ({id: reason}, [problems])."""
    out: dict[str, str] = {}
    problems: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        rid, sep, reason = part.partition("=")
        rid, reason = rid.strip(), reason.strip()
        if not sep or not reason:
            problems.append(f"{IGNORE_ANNOTATION}: '{rid}' has no reason (write {rid}=<reason>); not applied")
            continue
        out[rid] = reason
    return out, problems


class Suppressor:
    def __init__(
        self,
        exceptions: Iterable[ExceptionEntry] = (),
        baseline: set[tuple[Any, ...]] | None = None,
        today: _dt.date | None = None,
    ) -> None:
        self.today = today or _dt.date.today()
        self.active: list[ExceptionEntry] = []
        self.expired: list[ExceptionEntry] = []
        for e in exceptions:
            (self.expired if e.expired(self.today) else self.active).append(e)
        self.baseline = baseline or set()
        self._annotation_cache: dict[int, tuple[dict[str, str], list[str]]] = {}
        self.notes: list[str] = []
        for e in self.expired:
            self.notes.append(
                f"config exception #{e.index} ({', '.join(e.rules) or 'all rules'}) expired on {e.expires}: no longer applied"
            )

    def prime(self, objects: Iterable[K8sObject]) -> None:
        """Read every object's ignore annotation up front, so that problems with them are noted in input
        order (and once), whether or not a rule fails on the object."""
        for obj in objects:
            if IGNORE_ANNOTATION in obj.annotations:
                self.annotation(obj)

    def annotation(self, obj: K8sObject) -> dict[str, str]:
        cached = self._annotation_cache.get(id(obj))
        if cached is None:
            value = obj.annotations.get(IGNORE_ANNOTATION)
            cached = parse_ignore_annotation(value) if value else ({}, [])
            for p in cached[1]:
                self.notes.append(f"{obj.ref}: {p}")
            self._annotation_cache[id(obj)] = cached
        return cached[0]

    def reason(self, meta: RuleMeta, obj: K8sObject, finding: Finding | None = None) -> str | None:
        keys = (meta.id, meta.slug, *meta.aliases)
        ann = self.annotation(obj) if obj.annotations else {}
        for k in keys:
            if k in ann:
                return f"annotation: {ann[k]}"
        for e in self.active:
            if e.matches(keys, obj.kind, obj.namespace, obj.name):
                owner = f" (owner {e.owner})" if e.owner else ""
                return f"config: {e.reason}{owner}"
        if finding is not None and self.baseline and finding.key() in self.baseline:
            return "baseline"
        return None


def load_baseline(path: str) -> set[tuple[Any, ...]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data: Any = json.load(fh)
    except OSError as e:
        raise UsageError(f"--baseline {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"--baseline {path}: not a kubefort JSON report ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or data.get("schema") != "kubefort/v1":
        raise UsageError(f"--baseline {path}: not a kubefort JSON report (schema kubefort/v1)")
    keys: set[tuple[Any, ...]] = set()
    for f in data.get("findings", []):
        o = f.get("object") or {}
        keys.add(
            (
                f.get("rule_id"),
                o.get("kind"),
                o.get("namespace") or "",
                o.get("name"),
                f.get("path") or "",
                f.get("subcode") or "",
            )
        )
    return keys
