"""``kubefort graph`` output: attack paths and ranked cuts as a table, JSON or Graphviz dot.

Vertex labels, objects and reasons come from the scanned input: text shows their control characters
as ``\\xNN`` (:func:`kubefort.reporters.printable`), JSON escapes them, dot quotes every identifier.
An answer about a cluster that could not be read whole says so (``incomplete``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

from ..analysis.graph.model import AttackPath, CutResult, Vertex
from . import printable
from .netpol import dot_id, incomplete_line

FORMATS = ("table", "json", "dot")


def _label(vertices: Mapping[str, Vertex], vid: str) -> str:
    v = vertices.get(vid)
    return v.label if v is not None else vid


def paths_document(
    paths: Sequence[AttackPath], vertices: Mapping[str, Vertex], source: str, target: str, incomplete: Mapping[str, str]
) -> dict[str, Any]:
    labels = {k: v.label for k, v in vertices.items()}
    doc: dict[str, Any] = {"from": source, "to": target, "paths": [p.to_dict(labels) for p in paths]}
    if incomplete:
        doc["incomplete"] = dict(sorted(incomplete.items()))
    return doc


def _paths_table(
    paths: Sequence[AttackPath], vertices: Mapping[str, Vertex], source: str, target: str
) -> Iterator[str]:
    if not paths:
        yield f"No attack path from {source} to {target}."
        return
    yield f"{len(paths)} attack path{'s' if len(paths) != 1 else ''} from {source} to {target}, shortest first:"
    for i, p in enumerate(paths, 1):
        yield ""
        yield f"#{i} {_label(vertices, p.source)} -> {_label(vertices, p.target)} ({p.length} step{'s' if p.length != 1 else ''})"
        for e in p.steps:
            rules = f" [{', '.join(e.rules)}]" if e.rules else ""
            yield f"  {e.kind:>12}  -> {_label(vertices, e.dst)}{rules}"
            for r in e.reasons:
                yield f"{'':16}{r.why}"


def _dot(paths: Sequence[AttackPath], vertices: Mapping[str, Vertex]) -> Iterator[str]:
    yield "digraph attack_paths {"
    yield "  rankdir=LR;"
    seen_v: dict[str, None] = {}
    seen_e: dict[tuple[str, str], str] = {}
    for p in paths:
        for vid in p.vertices:
            seen_v[vid] = None
        for e in p.steps:
            seen_e[(e.src, e.dst)] = e.kind
    shapes = {
        "target": "doubleoctagon",
        "internet": "cloud",
        "node": "box3d",
        "serviceaccount": "note",
        "user": "note",
        "group": "note",
    }
    for vid in seen_v:
        v = vertices.get(vid)
        shape = shapes.get(v.kind, "ellipse") if v is not None else "ellipse"
        yield f"  {dot_id(vid)} [label={dot_id(_label(vertices, vid))}, shape={shape}];"
    for (a, b), kind in seen_e.items():
        yield f"  {dot_id(a)} -> {dot_id(b)} [label={dot_id(kind)}];"
    yield "}"


def write_paths(
    paths: Sequence[AttackPath],
    vertices: Mapping[str, Vertex],
    fmt: str,
    out: IO[str],
    *,
    source: str,
    target: str,
    incomplete: Mapping[str, str],
) -> None:
    if fmt == "json":
        json.dump(paths_document(paths, vertices, source, target, incomplete), out, indent=2)
        out.write("\n")
        return
    if fmt == "dot":
        if incomplete:
            out.write(f"// {printable(incomplete_line(incomplete.items()))}\n")
        for line in _dot(paths, vertices):
            out.write(printable(line) + "\n")
        return
    for line in _paths_table(paths, vertices, source, target):
        out.write(printable(line) + "\n")
    if incomplete:
        out.write(printable(incomplete_line(incomplete.items())) + "\n")


def write_cuts(
    cuts: Sequence[CutResult],
    paths: Sequence[AttackPath],
    vertices: Mapping[str, Vertex],
    fmt: str,
    out: IO[str],
    *,
    source: str,
    target: str,
    incomplete: Mapping[str, str],
) -> None:
    if fmt == "json":
        doc = paths_document(paths, vertices, source, target, incomplete)
        doc["cuts"] = [c.to_dict() for c in cuts]
        json.dump(doc, out, indent=2)
        out.write("\n")
        return
    lines: list[str] = []
    if not paths:
        lines.append(f"No attack path from {source} to {target}: nothing to cut.")
    else:
        lines.append(
            f"{len(paths)} attack path{'s' if len(paths) != 1 else ''} from {source} to {target}; single changes by paths cut:"
        )
        for c in cuts:
            cut = ", ".join(f"#{i + 1}" for i in c.cut)
            lines.append(f"  {len(c.cut):>4}/{len(paths)}  {c.change}   paths {cut}")
        if not cuts:
            lines.append("  no single change cuts any of them")
        lines.append("")
        lines.extend(_paths_table(paths, vertices, source, target))
    for line in lines:
        out.write(printable(line) + "\n")
    if incomplete:
        out.write(printable(incomplete_line(incomplete.items())) + "\n")
