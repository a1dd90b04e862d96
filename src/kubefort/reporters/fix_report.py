"""Output of ``kubefort fix``: the unified diff of the edits and what the re-scan says about them."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..engine.findings import format_path
from . import printable

if TYPE_CHECKING:
    from ..engine.findings import Finding
    from ..fix import FixResult


def diff(result: FixResult) -> str:
    """The edits as one unified diff (``--diff``), line endings shown as LF."""
    out: list[str] = []
    for ch in result.changes:
        before = ch.before.replace("\r\n", "\n").splitlines(keepends=True)
        after = ch.after.replace("\r\n", "\n").splitlines(keepends=True)
        a, b = (ch.file, ch.file) if os.path.isabs(ch.file) else (f"a/{ch.file}", f"b/{ch.file}")
        out.extend(difflib.unified_diff(before, after, a, b))
    return "".join(printable(line.rstrip("\n")) + "\n" for line in out)


def summary(result: FixResult, *, written: bool, limit: int = 20) -> Iterator[str]:
    """The stderr lines: files changed, findings removed and appeared, what needs a human and why."""
    verb = "edited" if written else "would edit"
    yield f"kubefort fix: {verb} {len(result.changes)} file(s): {', '.join(c.file for c in result.changes) or 'none'}"
    yield (
        f"kubefort fix: the re-scan finds {result.after} finding(s) where there were {result.before}: "
        f"{len(result.fixed)} removed, {len(result.appeared)} appeared"
    )
    for f in result.fixed[:limit]:
        yield f"  removed  {f.rule.id} {f.object}: {f.message}"
    if len(result.fixed) > limit:
        yield f"  ... and {len(result.fixed) - limit} more removed"
    for f in result.appeared:
        yield f"  APPEARED {f.rule.id} {f.object} {f.location}: {f.message}"
    if result.hints:
        yield "kubefort fix: rendered manifests are not edited; change these templates or overlays:"
        yield from (f"  {h}" for h in result.hints)
    if result.unfixed:
        by_why: dict[tuple[str, str], list[str]] = {}
        for u in result.unfixed:
            by_why.setdefault((u.finding.rule.id, u.why), []).append(str(u.finding.object))
        yield f"kubefort fix: {len(result.unfixed)} finding(s) need a human:"
        for (rid, why), objs in sorted(by_why.items()):
            shown = ", ".join(sorted(set(objs))[:3]) + (" ..." if len(set(objs)) > 3 else "")
            yield f"  {rid} ({len(objs)}: {shown}): {why}"
    for e in result.errors:
        yield f"kubefort fix: {e.diagnostics()}"


def summary_lines(result: FixResult, *, written: bool) -> list[str]:
    return [printable(line) for line in summary(result, written=written)]


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "rule": f.rule.id,
        "severity": f.severity.label,
        "object": f.object.to_dict(),
        "path": f.path_str,
        "file": f.location.file,
        "line": f.location.line,
        "message": f.message,
    }


def as_json(result: FixResult, *, written: bool) -> str:
    """``kubefort fix -o json``: per edited file, each field a fix set (rule, object, field path, its line
    before and after the edit); the findings the re-scan no longer has, any that appeared, and those left
    for a human with why; the Helm/Kustomize hints and the input errors. One JSON document on stdout."""
    files: dict[str, list[dict[str, Any]]] = {c.file: [] for c in result.changes}
    for e in result.edits:
        files.setdefault(e.file, []).append(
            {
                "rule": e.rule,
                "object": e.object.to_dict(),
                "path": format_path(e.path),
                "before_line": e.before_line,
                "after_line": e.after_line,
            }
        )
    doc = {
        "written": written,
        "files": [{"file": f, "edits": edits} for f, edits in files.items()],
        "findings": {
            "before": result.before,
            "after": result.after,
            "removed": [_finding(f) for f in result.fixed],
            "appeared": [_finding(f) for f in result.appeared],
            "need_human": [{**_finding(u.finding), "why": u.why} for u in result.unfixed],
        },
        "hints": list(result.hints),
        "errors": [{"file": e.file, "line": e.line, "message": str(e)} for e in result.errors],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
