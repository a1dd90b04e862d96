"""The stable JSON contract ``kubefort/v1`` (documented in the README)."""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _str
from typing import IO, Any

from ..engine.findings import Finding, Report, RootCause
from ..model.objects import ObjectRef


def pod_counts(report: Report) -> dict[ObjectRef, int]:
    """How many Pods each workload of a live cluster stands for (owner resolution: its ReplicaSets' Pods,
    its Jobs' Pods), for the workloads that stand for any. Empty for manifests: nothing is resolved."""
    inv = report.inventory
    if inv is None or not inv.live:
        return {}
    return {o.ref: n for o in inv.objects if (n := inv.pod_count(o) or 0) > 0}


def object_dict(ref: ObjectRef, pods: dict[ObjectRef, int]) -> dict[str, Any]:
    """An object reference of the JSON, with ``pods`` (how many Pods it stands for) in cluster mode."""
    d = ref.to_dict()
    n = pods.get(ref)
    if n:
        d["pods"] = n
    return d


def finding_dict(f: Finding, pods: dict[ObjectRef, int] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "rule_id": f.rule.id,
        "slug": f.rule.slug,
        "severity": f.severity.label,
        "title": f.rule.title,
        "message": f.message,
        "rationale": f.rule.rationale,
        "remediation": f.rule.remediation,
        "object": object_dict(f.object, pods or {}),
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
    pods = pod_counts(report)
    d = _tail(report, pods)
    return {"schema": "kubefort/v1", "findings": [finding_dict(f, pods) for f in report.findings], **d}


def cause_links(report: Report, causes: list[RootCause]) -> list[dict[str, Any]]:
    """``root_causes`` of the JSON: each cause of more than one finding, as indexes into ``findings``
    (``finding`` the most severe, ``also`` the others). A finding not listed is a cause of its own."""
    index = {id(f): i for i, f in enumerate(report.findings)}
    return [
        {"finding": index[id(c.head)], "also": [index[id(f)] for f in c.also]}
        for c in causes
        if c.also and id(c.head) in index
    ]


def _tail(report: Report, pods: dict[ObjectRef, int]) -> dict[str, Any]:
    causes = report.root_causes()
    return {
        "summary": report.summary(causes),
        "root_causes": cause_links(report, causes),
        "not_evaluated": [
            {"rule_id": r.rule.id, "object": object_dict(r.object, pods), "reason": r.detail}
            for r in report.results
            if r.status.value == "not_evaluated"
        ],
        "rule_errors": [
            {"rule_id": r.rule.id, "object": object_dict(r.object, pods), "error": r.detail} for r in report.rule_errors
        ],
        "errors": [{"file": e.file, "line": e.line, "message": str(e)} for e in report.errors],
        "notes": report.notes,
    }


class _Encoder:
    """``json`` text of :func:`finding_dict`, byte for byte as the encoder would write it, built from
    pieces: what belongs to the rule (title, rationale, remediation, refs) and to the object is
    encoded once, not once per finding (a large scan has thousands of findings per rule)."""

    def __init__(self, pods: dict[ObjectRef, int] | None = None) -> None:
        self.enc = json.JSONEncoder(default=str, ensure_ascii=False).encode
        self.pods = pods or {}
        self._rules: dict[str, tuple[str, str, str, str]] = {}
        self._objects: dict[Any, str] = {}
        self._files: dict[tuple[str, str | None], tuple[str, str]] = {}

    def finding(self, f: Finding) -> str:
        enc = self.enc
        meta = f.rule
        parts = self._rules.get(meta.id)
        if parts is None:
            parts = self._rules[meta.id] = (
                '{"rule_id": ' + _str(meta.id) + ', "slug": ' + _str(meta.slug) + ', "severity": ',
                ', "title": ' + _str(meta.title) + ', "message": ',
                ', "rationale": '
                + _str(meta.rationale)
                + ', "remediation": '
                + _str(meta.remediation)
                + ', "object": ',
                ', "refs": ' + enc({k: list(v) for k, v in meta.refs.items()}) + ', "suppressed": ',
            )
        obj = self._objects.get(f.object)
        if obj is None:
            obj = self._objects[f.object] = enc(object_dict(f.object, self.pods))
        loc = f.location
        fkey = (loc.file, loc.template)
        file_parts = self._files.get(fkey)
        if file_parts is None:
            tmpl = ', "template": ' + _str(loc.template) if loc.template else ""
            file_parts = self._files[fkey] = (', "location": {"file": ' + _str(loc.file) + ', "line": ', tmpl + "}")
        out = [
            parts[0],
            _str(f.severity.label),
            parts[1],
            _str(f.message),
            parts[2],
            obj,
            file_parts[0],
            "null" if loc.line is None else str(loc.line),
            file_parts[1],
            ', "path": ',
            _str(f.path_str),
            parts[3],
            "true" if f.suppressed else "false",
        ]
        if f.subcode:
            out += ', "subcode": ', _str(f.subcode)
        if f.suppression:
            out += ', "suppression": ', _str(f.suppression)
        if f.pss:
            out += ', "pss": ', enc({"level": f.pss.level.value, "control": f.pss.control, "check": f.pss.check_id})
        if f.fix:
            out += ', "fix": ', enc(list(f.fix))
        out.append("}")
        return "".join(out)


class JsonReporter:
    """Streams the report: one finding per line, encoded by the C encoder (an indented dump of a
    large report is several times slower and holds the whole text in memory)."""

    def render(self, report: Report, out: IO[str]) -> None:
        pods = pod_counts(report)
        enc = _Encoder(pods).finding
        out.write('{\n"schema": "kubefort/v1",\n"findings": [')
        buf: list[str] = []
        for i, f in enumerate(report.findings):
            buf.append(("\n  " if i == 0 else ",\n  ") + enc(f))
            if len(buf) >= 2000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))
        out.write("\n],\n")
        tail = _tail(report, pods)
        out.write(",\n".join(f"{json.dumps(k)}: {json.dumps(v, indent=2, default=str)}" for k, v in tail.items()))
        out.write("\n}\n")
