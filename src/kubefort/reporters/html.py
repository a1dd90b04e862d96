"""``-o html``: one self-contained page to open in a browser and share with people who do not read JSON.

The page holds everything it shows: CSS and JavaScript inline, charts drawn here as SVG, no request
to anything outside the file (its Content-Security-Policy is ``default-src 'none'``, the one script
allowed by its hash). What matters reads without JavaScript: the overview (totals by severity and
area, top rules, namespaces and workloads, pass/fail/not-evaluated counts, what could not be read)
and the first page of findings are rendered here, by jinja2 with autoescaping. The script only pages
and filters: every finding is in a ``<script type="application/json">`` block (``<``, ``>`` and ``&``
written as ``\\u003c``..., so no scanned text can close the block) and rows are built with
``textContent``, never ``innerHTML``, so a hostile name stays text.

Source lines around a finding come from the scanned document, with secrets masked
(:func:`mask_lines`): a Secret, and an object that is an item of a ``List`` document, show no source
at all; in other objects a value is masked when its key, its env var name or its content looks like a
credential (the detectors of :mod:`kubefort.analysis.secretscan`, which the KF-SEC rules use).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import IO, Any

import jinja2
import orjson
import yaml

from .. import __version__
from ..analysis import secretscan
from ..api import NamespaceMatrix, PathPicture, ReportViews
from ..engine.findings import Finding, Report, Status
from ..engine.rule import Severity
from ..engine.runner import origin_of
from ..model.objects import K8sObject
from . import display_path

#: rows rendered in the page itself (what a reader without JavaScript sees) and per page in the script
PAGE_SIZE = 100
#: lines shown before and after a finding's line
CONTEXT = 3
#: distinct source excerpts kept (a 50,000-finding report would otherwise repeat its input many times)
MAX_SNIPPETS = 20_000
MAX_LINE = 240
MASK = "<masked by kubefort>"
TOP = 10

_SEVERITIES = sorted(Severity, reverse=True)
_COLORS = {
    Severity.CRITICAL: "#8b0000",
    Severity.HIGH: "#d9381e",
    Severity.MEDIUM: "#c98a00",
    Severity.LOW: "#2b7bb9",
    Severity.INFO: "#777777",
}

# ``key: value`` of a YAML or JSON line (a list item's ``- `` before it); group 2 the key, 3 the value
_KEY_LINE = re.compile(r"""^(\s*(?:-\s+)*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s#'"{\[][^:#]*?)\s*:(?:\s+(.*?))?\s*,?\s*$""")
_BLOCK = re.compile(r"^[|>][-+0-9]*\s*(#.*)?$")
_LAST_APPLIED = "last-applied-configuration"
_DIGIT = re.compile(r"\d")


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'" else key


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" -"))


def _suspicious(text: str) -> bool:
    """Whether a line holds a credential shape, an assignment to a sensitive key or personal data."""
    return bool(
        secretscan.credential_labels(text)
        or secretscan.find_assignments(text)
        # e-mail addresses, IBANs and phone numbers all hold "@" or digits: most lines hold neither
        or (("@" in text or _DIGIT.search(text)) and secretscan.find_pii(text))
    )


def _suspicious_flow(text: str) -> bool:
    """Whether a flow list or mapping on one line (``args: ["--token", "..."]``) holds a secret."""
    if _suspicious(text):
        return True
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return True  # not read: masked rather than guessed
    if isinstance(value, list):
        return bool(secretscan.scan_command_line(value)) or any(
            isinstance(v, str) and secretscan.detect_value(v) for v in value
        )
    if isinstance(value, dict):
        return any(
            isinstance(v, str) and (secretscan.is_sensitive_name(str(k)) or secretscan.detect_value(v, name=str(k)))
            for k, v in value.items()
        )
    return False


def mask_lines(lines: Sequence[str]) -> list[str]:
    """``lines`` of one document with every value that may be a secret replaced by :data:`MASK`.

    Masked: the value of a sensitive key (``password:``, ``token:``, a sensitive env var's
    ``value:``) with its block scalar lines, values and lines that hold credential shapes (private
    keys, cloud keys, JWTs, high-entropy tokens, ``password=...`` assignments), and the
    last-applied-configuration annotation (a copy of the whole object). Errs on the side of masking.
    """
    out: list[str] = []
    block_indent: int | None = None  # inside a masked block scalar: lines indented deeper than this
    env_name: tuple[int, str] | None = None  # the last ``name:`` seen (column, value)
    prev_item: str | None = None  # the list item scalar on the line before
    parent: int | None = None  # under a sensitive key without a value on its line: its items are masked
    for line in lines:
        if block_indent is not None:
            if not line.strip() or _indent(line) > block_indent:
                out.append(line[: len(line) - len(line.lstrip())] + MASK if line.strip() else line)
                continue
            block_indent = None
        if parent is not None and line.strip() and _indent(line) <= parent:
            parent = None
        m = _KEY_LINE.match(line)
        if m is None:
            text = line.strip()
            item = _unquote(text[2:].strip()) if text.startswith("- ") else None
            token = item if item is not None else text
            # a command line's items: ``- --api-token`` then ``- VALUE``
            flagged = (
                item is not None and prev_item is not None and 1 in secretscan.scan_command_line([prev_item, item])
            )
            if token and (parent is not None or flagged or _suspicious(text) or secretscan.detect_value(token)):
                line = line[: len(line) - len(line.lstrip(" -"))] + MASK
            prev_item = item
            out.append(line)
            continue
        prev_item = None
        lead, key, value = m.group(1), _unquote(m.group(2).strip()), (m.group(3) or "")
        column = len(lead)
        sensitive = _LAST_APPLIED in key or secretscan.is_sensitive_name(key)
        if key == "name":
            env_name = (column, _unquote(value.strip()))
        elif key == "value" and env_name is not None and env_name[0] == column and env_name[1]:
            sensitive = sensitive or bool(secretscan.env_literal_reasons(env_name[1], _unquote(value.strip())))
            sensitive = sensitive or secretscan.is_sensitive_name(env_name[1])
        if sensitive and not value.strip():
            parent = _indent(line)
        if value and _BLOCK.match(value):
            if sensitive:
                block_indent = _indent(line)
            out.append(line)
            continue
        raw = _unquote(value.strip().rstrip(","))
        if raw.startswith(("{", "[")):
            hit = raw not in ("{", "[", "{}", "[]") and (sensitive or _suspicious_flow(raw))
        elif raw and raw not in ("null", "~", "true", "false") and not raw.startswith(("&", "*", "!")):
            hit = bool(sensitive or secretscan.detect_value(raw, name=key) or _suspicious(line.strip()))
        else:
            hit = False
        if hit:
            line = line[: m.start(2)] + m.group(2) + ": " + MASK
        out.append(line)
    return [line if len(line) <= MAX_LINE else line[:MAX_LINE] + "…" for line in out]


@dataclass(frozen=True, slots=True)
class _SourceDoc:
    """The masked lines of one document, and its first file line."""

    start: int
    lines: list[str]


class _Sources:
    """Source excerpts around findings, from the scanned documents (masked once per document)."""

    def __init__(self, report: Report) -> None:
        # (file, first line, kind, namespace, name) -> object: plain keys (hashing the dataclasses is slow)
        self.objects: dict[tuple[str, int | None, str, str | None, str], K8sObject] = {}
        inv = report.inventory
        if inv is not None:
            for o in inv.objects:
                at = origin_of(o)
                self.objects.setdefault((at.file, at.line, o.kind, o.namespace, o.name), o)
        self.docs: dict[int, _SourceDoc | None] = {}
        self.snippets: list[list[Any]] = []
        self.index: dict[tuple[str, int], int] = {}
        self.dropped = 0

    def _doc(self, obj: K8sObject) -> _SourceDoc | None:
        doc = obj.source.doc
        if doc is None or obj.source.prefix or obj.kind == "Secret" or (doc.is_json and doc.text.count("\n") < 3):
            # a live object, a List item (its neighbours may be Secrets), a Secret, JSON on one line: no source
            return None
        key = id(doc)
        if key not in self.docs:
            self.docs[key] = _SourceDoc(doc.start_line, mask_lines(doc.text.split("\n")))
        return self.docs[key]

    def snippet(self, f: Finding) -> int:
        """Index of the excerpt around ``f`` (``-1``: none to show)."""
        line = f.location.line
        if not line or f.origin is None or f.location.template:
            return -1
        key = (f.location.file, line)
        known = self.index.get(key)
        if known is not None:
            return known
        ref, origin = f.object, f.origin
        obj = self.objects.get((origin.file, origin.line, ref.kind, ref.namespace, ref.name))
        if obj is None or obj.source.file != f.location.file:
            return -1
        doc = self._doc(obj)
        if doc is None:
            return -1
        at = line - doc.start
        if not 0 <= at < len(doc.lines):
            return -1
        if len(self.snippets) >= MAX_SNIPPETS:
            self.dropped += 1
            return -1
        lo = max(0, at - CONTEXT)
        self.snippets.append([doc.start + lo, doc.lines[lo : at + CONTEXT + 1]])
        self.index[key] = len(self.snippets) - 1
        return self.index[key]


def script_json(data: Any) -> str:
    """``data`` as JSON safe inside ``<script type="application/json">``: nothing in it can end the
    element or start markup (``<``, ``>``, ``&`` escaped), nor break a JavaScript string (U+2028/9)."""
    text = orjson.dumps(data, default=str).decode("utf-8")
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _bars(items: Iterable[tuple[str, int, str]], width: int = 420) -> dict[str, Any]:
    """A horizontal bar chart (label, value, colour) as geometry for the SVG template."""
    rows = list(items)
    top = max((v for _, v, _ in rows), default=0) or 1
    bar_w = width - 170
    return {
        "width": width,
        "height": 22 * len(rows) + 4,
        "rows": [
            {"y": 22 * i + 2, "label": label, "value": v, "w": max(1, round(bar_w * v / top)) if v else 0, "color": c}
            for i, (label, v, c) in enumerate(rows)
        ],
    }


_CELL = 18


def _section_key(section: str) -> tuple[int | str, ...]:
    """``4.10`` after ``4.2``: CIS sections sort as numbers."""
    return tuple(int(p) if p.isdigit() else p for p in section.split("."))


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _matrix_geometry(m: NamespaceMatrix) -> dict[str, Any]:
    """Positions of a namespace's connection grid: rows are sources, columns destinations (numbered
    as the rows), then two columns for ingress and egress isolation."""
    n = len(m.workloads)
    label_w = 8 + 7 * min(34, max((len(w) for w in m.workloads), default=0) + 4)
    top = 26
    cells = []
    for i, row in enumerate(m.allowed):
        for j, ports in enumerate(row):
            if i == j:
                fill, title = "#d0d0d0", f"{m.workloads[i]} (itself)"
            elif not ports:
                fill, title = "#f4f4f4", f"{m.workloads[i]} → {m.workloads[j]}: denied"
            else:
                fill = "#2e8b57" if "*" in ports else "#8fd19e"
                title = f"{m.workloads[i]} → {m.workloads[j]}: {'any port' if '*' in ports else ', '.join(ports)}"
            cells.append({"x": label_w + j * _CELL, "y": top + i * _CELL, "fill": fill, "title": title})
    iso_x = label_w + n * _CELL + 8
    iso = [
        {
            "y": top + i * _CELL,
            "x": iso_x,
            "ingress": "#4a6fa5" if ing else "#fff",
            "egress": "#4a6fa5" if eg else "#fff",
            "title": f"{m.workloads[i]}: ingress {'isolated' if ing else 'open to all'}, "
            f"egress {'isolated' if eg else 'open to all'}",
        }
        for i, (ing, eg) in enumerate(m.isolated)
    ]
    return {
        "namespace": m.namespace,
        "width": iso_x + 2 * _CELL + 12,
        "height": top + n * _CELL + 6,
        "cell": _CELL,
        "top": top,
        "label_w": label_w,
        "iso_x": iso_x,
        "rows": [
            {"y": top + i * _CELL, "label": f"{i + 1} {_clip(w, 34)}", "full": w} for i, w in enumerate(m.workloads)
        ],
        "cols": [{"x": label_w + j * _CELL, "label": str(j + 1)} for j in range(n)],
        "cells": cells,
        "iso": iso,
        "inbound": m.inbound,
        "outbound": m.outbound,
        "omitted": m.omitted,
        "allowed": sum(1 for i, row in enumerate(m.allowed) for j, p in enumerate(row) if p and i != j),
        "pairs": n * (n - 1),
    }


_BOX_W, _BOX_H, _GAP, _LANE = 250, 34, 60, 56


def _paths_geometry(paths: Sequence[PathPicture]) -> dict[str, Any]:
    """One lane per path: the subject, then a box per step's result, arrows between them."""
    lanes = []
    widest = 0
    for k, p in enumerate(paths):
        y = 8 + k * _LANE
        labels = [p.source, *(to for _, _, to in p.steps)]
        boxes = [
            {"x": 4 + i * (_BOX_W + _GAP), "y": y, "label": _clip(t, 36), "full": t, "target": i == len(labels) - 1}
            for i, t in enumerate(labels)
        ]
        arrows = [
            {
                "x1": 4 + i * (_BOX_W + _GAP) + _BOX_W,
                "x2": 4 + (i + 1) * (_BOX_W + _GAP) - 4,
                "y": y + _BOX_H // 2,
                "n": i + 1,
                "title": f"{action} (via {via})",
            }
            for i, (action, via, _to) in enumerate(p.steps)
        ]
        widest = max(widest, 8 + len(labels) * (_BOX_W + _GAP) - _GAP)
        lanes.append({"boxes": boxes, "arrows": arrows, "source": p.source, "steps": p.steps})
    return {"lanes": lanes, "width": widest, "height": 12 + len(lanes) * _LANE, "box_w": _BOX_W, "box_h": _BOX_H}


def _template_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("kubefort.reporters", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _asset(name: str) -> str:
    return (resources.files("kubefort.reporters") / "templates" / name).read_text(encoding="utf-8")


def csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


class HtmlReporter:
    """Renders a :class:`Report` as one HTML file (see the module docstring)."""

    def __init__(self, title: str = "kubefort report", views: ReportViews | None = None) -> None:
        self.title = title
        self.views = views or ReportViews()

    def render(self, report: Report, out: IO[str]) -> None:
        out.write(self.html(report))

    def data(self, report: Report) -> dict[str, Any]:
        """What the page shows, as plain data (the JSON block the script pages, and the template's context)."""
        rank = {sev: -int(sev) for sev in Severity}
        active = sorted(report.active_findings, key=lambda f: rank[f.severity])  # most severe first, then input order
        sources = _Sources(report)
        rules: dict[str, int] = {}
        rule_rows: list[list[str]] = []
        rows: list[list[Any]] = []
        root = report.root
        shown: dict[str, str] = {}  # file -> as displayed (relpath is slow, files repeat)
        for f in active:
            r = rules.get(f.rule.id)
            if r is None:
                r = rules[f.rule.id] = len(rule_rows)
                m = f.rule
                rule_rows.append([m.id, m.title, m.area, m.rationale, m.remediation])
            o = f.object
            rows.append(
                [
                    int(f.severity),
                    r,
                    o.kind,
                    o.namespace or "",
                    o.name,
                    f.message,
                    f.path_str,
                    shown.get(f.location.file)
                    or shown.setdefault(f.location.file, display_path(f.location.file, root)),
                    f.location.line or 0,
                    sources.snippet(f),
                ]
            )
        return {
            "severities": [s.label for s in Severity],
            "rules": rule_rows,
            "findings": rows,
            "snippets": sources.snippets,
            "snippets_dropped": sources.dropped,
            "page_size": PAGE_SIZE,
        }

    def html(self, report: Report) -> str:
        data = self.data(report)
        s = report.summary()
        active = report.active_findings
        by_ns = Counter(f.object.namespace or "(cluster)" for f in active)
        by_obj = Counter(
            f"{f.object.kind}/{f.object.namespace + '/' if f.object.namespace else ''}{f.object.name}" for f in active
        )
        titles = {f.rule.id: f.rule.title for f in active}
        by_rule = Counter(f.rule.id for f in active)
        sev_chart = _bars((sev.label, s["by_severity"][sev.label], _COLORS[sev]) for sev in _SEVERITIES)
        area_chart = _bars((a, n, "#4a6fa5") for a, n in sorted(s["by_area"].items(), key=lambda x: (-x[1], x[0])))
        res = s["results"]
        result_chart = _bars(
            [
                ("passed", res["pass"], "#2e8b57"),
                ("failed", res["fail"], "#d9381e"),
                ("suppressed", res["suppressed"], "#999999"),
                ("not evaluated", res["not_evaluated"], "#c98a00"),
                ("errors", res["error"], "#8b0000"),
            ]
        )
        cis: Counter[str] = Counter()
        vulns: Counter[Severity] = Counter()
        for f in active:
            for ref in f.rule.refs.get("cis", ()):
                cis[".".join(ref.split(".")[:2])] += 1
            if f.rule.area == "VULN":
                vulns[f.severity] += 1
        cis_chart = _bars((f"CIS {k}", n, "#6a5acd") for k, n in sorted(cis.items(), key=lambda x: _section_key(x[0])))
        vuln_chart = _bars((sev.label, vulns[sev], _COLORS[sev]) for sev in _SEVERITIES) if vulns else None
        inv = report.inventory
        unreadable = dict(sorted(inv.unreadable.items())) if inv is not None and inv.unreadable else {}
        partial = inv.partial if inv is not None else None
        not_evaluated = Counter(r.rule.id for r in report.results if r.status is Status.NOT_EVALUATED)
        script = _asset("report.js")
        first = data["findings"][: data["page_size"]]
        ctx = {
            "title": self.title,
            "version": __version__,
            "summary": s,
            "root": report.root or "",
            "severities": [(sev.label, s["by_severity"][sev.label], _COLORS[sev]) for sev in _SEVERITIES],
            "sev_chart": sev_chart,
            "area_chart": area_chart,
            "result_chart": result_chart,
            "cis_chart": cis_chart,
            "vuln_chart": vuln_chart,
            "top_rules": [
                (rid, titles[rid], n) for rid, n in sorted(by_rule.items(), key=lambda x: (-x[1], x[0]))[:TOP]
            ],
            "top_namespaces": sorted(by_ns.items(), key=lambda x: (-x[1], x[0]))[:TOP],
            "top_objects": sorted(by_obj.items(), key=lambda x: (-x[1], x[0]))[:TOP],
            "unreadable": unreadable,
            "partial": partial,
            "errors": [e.diagnostics() for e in report.errors],
            "rule_errors": [f"{r.rule.id} on {r.object}: {r.detail}" for r in report.rule_errors],
            "not_evaluated": sorted(not_evaluated.items(), key=lambda x: (-x[1], x[0]))[:TOP],
            "not_evaluated_total": sum(not_evaluated.values()),
            "first_rows": [self._row(data, row) for row in first],
            "total": len(data["findings"]),
            "page_size": data["page_size"],
            "snippets_dropped": data["snippets_dropped"],
            "max_snippets": MAX_SNIPPETS,
            "filters": {
                "area": sorted({r[2] for r in data["rules"]}),
                "rule": sorted(r[0] for r in data["rules"]),
                "namespace": sorted({row[3] for row in data["findings"]}),
                "kind": sorted({row[2] for row in data["findings"]}),
            },
            "matrices": [_matrix_geometry(m) for m in self.views.matrices],
            "paths": _paths_geometry(self.views.paths),
            "paths_total": self.views.paths_total,
            "attack": _paths_geometry(self.views.attack),
            "attack_total": self.views.attack_total,
            "view_notes": list(self.views.notes),
            "data_json": script_json(data),
            "script": script,
            "style": _asset("report.css"),
            "script_hash": csp_hash(script),
        }
        return _template_env().get_template("report.html.j2").render(ctx)

    @staticmethod
    def _row(data: dict[str, Any], row: list[Any]) -> dict[str, Any]:
        rule = data["rules"][row[1]]
        snip = data["snippets"][row[9]] if row[9] >= 0 else None
        lines = []
        if snip is not None:
            for i, text in enumerate(snip[1]):
                lines.append((snip[0] + i, text, snip[0] + i == row[8]))
        return {
            "severity": data["severities"][row[0]],
            "rule_id": rule[0],
            "title": rule[1],
            "area": rule[2],
            "rationale": rule[3],
            "remediation": rule[4],
            "kind": row[2],
            "namespace": row[3],
            "name": row[4],
            "message": row[5],
            "path": row[6],
            "file": row[7],
            "line": row[8],
            "lines": lines,
        }
