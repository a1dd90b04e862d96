"""Reporters for ``kubefort rbac``: who-can, can, permissions and escalation paths as text tables, JSON or DOT.

They only format what :mod:`kubefort.analysis.rbac` answers. Names, namespaces and reasons come from the
scanned manifests: in text and DOT they pass through :func:`~kubefort.reporters.printable` (JSON escapes
control characters itself). Each command has one renderer per format, all with the same signature, in
:data:`WHO_CAN`, :data:`CAN`, :data:`PERMISSIONS` and :data:`PATHS`; a renderer returns the whole output
without its final newline.

An answer about a cluster that could not be read whole (``--cluster``/``--snapshot`` with a kind of
RBAC, or of what ``paths`` reads, not listed) is marked *incomplete* with the kinds and why: a table
line, an ``incomplete`` object (kind -> reason) in JSON, a comment in DOT. Answers about files never are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..analysis.rbac.escalation import EscalationPath
from ..analysis.rbac.from_audit import AuditedRequest, Needed, Unused
from ..analysis.rbac.index import AccessDecision, Binding, Grant, PermissionRow, Problem
from ..analysis.rbac.resources import Request
from ..analysis.rbac.subjects import Subject
from . import printable


def warning_lines(problems: Iterable[Problem]) -> list[str]:
    """What the index found wrong in the RBAC objects, as ``kubefort: warning:`` lines for stderr."""
    return [f"kubefort: warning: {printable(str(p))}" for p in problems]


def _json(data: Any) -> str:
    return json.dumps(data, indent=2)


#: no kind left unread: the answer is complete
COMPLETE: Mapping[str, str] = {}


def incomplete_line(incomplete: Mapping[str, str], consequence: str) -> str:
    """``Incomplete: could not read RoleBinding (cannot list rolebindings: forbidden); <consequence>.``"""
    kinds = "; ".join(f"{k} ({why})" for k, why in sorted(incomplete.items()))
    return printable(f"Incomplete: could not read {kinds}; {consequence}.")


def _with_incomplete(doc: dict[str, Any], incomplete: Mapping[str, str]) -> dict[str, Any]:
    if incomplete:
        doc["incomplete"] = dict(sorted(incomplete.items()))
    return doc


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    cells = [list(headers)] + [[printable(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)


def _request_dict(req: Request) -> dict[str, Any]:
    if req.path is not None:
        return {"verb": req.verb, "nonResourceURL": req.path}
    return {
        "verb": req.verb,
        "apiGroup": req.group,
        "resource": req.resource,
        "subresource": req.subresource,
        "name": req.name,
        "namespace": req.namespace,
    }


def _via(g: Grant) -> dict[str, str]:
    return {"binding": str(g.binding), "role": str(g.role)}


def _by_subject(grants: Iterable[Grant]) -> dict[Subject, list[Grant]]:
    out: dict[Subject, list[Grant]] = {}
    for g in grants:
        out.setdefault(g.subject, []).append(g)
    return out


# ---------------------------------------------------------------------------------------------- who-can


def who_can_table(
    req: Request, grants: Sequence[Grant], problems: Sequence[Problem], incomplete: Mapping[str, str] = COMPLETE
) -> str:
    by_subject = _by_subject(grants)
    lines = [f"Who can {printable(req.describe())}:"]
    if not by_subject:
        lines.append("  nobody (no binding grants it)")
    else:
        lines.append(
            _table(
                ["KIND", "NAMESPACE", "NAME", "VIA"],
                [[s.kind, s.namespace or "", s.name, ", ".join(g.via for g in gs)] for s, gs in by_subject.items()],
            )
        )
    lines.append("(members of group system:masters are always allowed)")
    if incomplete:
        lines.append(incomplete_line(incomplete, "subjects that what could not be read allows are missing"))
    return "\n".join(lines)


def who_can_json(
    req: Request, grants: Sequence[Grant], problems: Sequence[Problem], incomplete: Mapping[str, str] = COMPLETE
) -> str:
    return _json(
        _with_incomplete(
            {
                "request": _request_dict(req),
                "subjects": [
                    {"kind": s.kind, "name": s.name, "namespace": s.namespace, "via": [_via(g) for g in gs]}
                    for s, gs in _by_subject(grants).items()
                ],
                "warnings": [str(p) for p in problems],
            },
            incomplete,
        )
    )


WHO_CAN: dict[str, Callable[[Request, Sequence[Grant], Sequence[Problem], Mapping[str, str]], str]] = {
    "table": who_can_table,
    "json": who_can_json,
}


# ---------------------------------------------------------------------------------------------- can


#: what a denial that could not read everything may miss (an allowed request is allowed whatever else exists)
_CAN_MISS = "a binding among them may allow it"


def can_table(
    subject: Subject, d: AccessDecision, problems: Sequence[Problem], incomplete: Mapping[str, str] = COMPLETE
) -> str:
    out = f"{'yes' if d.allowed else 'no'}\n  {printable(d.reason)}"
    return f"{out}\n  {incomplete_line(incomplete, _CAN_MISS)}" if incomplete else out


def can_json(
    subject: Subject, d: AccessDecision, problems: Sequence[Problem], incomplete: Mapping[str, str] = COMPLETE
) -> str:
    return _json(
        _with_incomplete(
            {
                "allowed": d.allowed,
                "subject": str(subject),
                "request": _request_dict(d.request),
                "via": [{**_via(g), "subject": str(g.subject)} for g in d.via],
                "reason": d.reason,
                "warnings": [str(p) for p in problems],
            },
            incomplete,
        )
    )


CAN: dict[str, Callable[[Subject, AccessDecision, Sequence[Problem], Mapping[str, str]], str]] = {
    "table": can_table,
    "json": can_json,
}


# ---------------------------------------------------------------------------------------------- permissions


def _cell(values: Sequence[str], empty: str = "") -> str:
    return ",".join('""' if v == "" else v for v in values) or empty


def _row_dict(r: PermissionRow) -> dict[str, Any]:
    return {
        "namespace": r.namespace,
        "verbs": list(r.verbs),
        "apiGroups": list(r.api_groups),
        "resources": list(r.resources),
        "resourceNames": list(r.resource_names),
        "nonResourceURLs": list(r.non_resource_urls),
        "binding": str(r.binding) if r.binding else None,
        "role": str(r.role) if r.role else None,
        "matchedSubject": str(r.subject) if r.subject else None,
    }


def _row_via(r: PermissionRow, subject: Subject) -> str:
    if not r.binding:
        return "group system:masters (built-in)"
    return f"{r.binding} ({r.role})" + (f" as {r.subject}" if r.subject and r.subject != subject else "")


def permissions_table(
    subject: Subject,
    rows: Sequence[PermissionRow],
    problems: Sequence[Problem],
    incomplete: Mapping[str, str] = COMPLETE,
) -> str:
    lines = [f"Permissions of {printable(str(subject))}:"]
    if not rows:
        lines.append("  none (no binding applies)")
    else:
        lines.append(
            _table(
                ["SCOPE", "VERBS", "APIGROUPS", "RESOURCES", "NAMES", "VIA"],
                [
                    [
                        r.namespace or "*",
                        _cell(r.verbs),
                        _cell(r.api_groups),
                        _cell(r.resources + r.non_resource_urls),
                        _cell(r.resource_names, "*"),
                        _row_via(r, subject),
                    ]
                    for r in rows
                ],
            )
        )
    if incomplete:
        lines.append(incomplete_line(incomplete, "permissions that what could not be read grants are missing"))
    return "\n".join(lines)


def permissions_json(
    subject: Subject,
    rows: Sequence[PermissionRow],
    problems: Sequence[Problem],
    incomplete: Mapping[str, str] = COMPLETE,
) -> str:
    return _json(
        _with_incomplete(
            {
                "subject": str(subject),
                "permissions": [_row_dict(r) for r in rows],
                "warnings": [str(p) for p in problems],
            },
            incomplete,
        )
    )


PERMISSIONS: dict[str, Callable[[Subject, Sequence[PermissionRow], Sequence[Problem], Mapping[str, str]], str]] = {
    "table": permissions_table,
    "json": permissions_json,
}


# ---------------------------------------------------------------------------------------------- paths


#: what escalation paths may miss when a kind could not be read (the paths found exist)
_PATHS_MISS = "paths through what could not be read are missing"


def defaults_line(defaults: Sequence[Binding] | None) -> str:
    """What ``rbac paths`` assumed besides the input: the default bindings every cluster has (None: the
    input is a cluster, whose own default bindings were read with the rest)."""
    if defaults is None:
        return "Bindings as read from the cluster (its default bindings included); none assumed."
    if not defaults:
        return "Default bindings of a cluster: not included (--no-defaults); paths use the input's bindings only."
    controllers = sum(1 for b in defaults if b.ref.name.startswith("system:controller:"))
    return (
        f"Includes the {len(defaults)} default ClusterRoleBindings every cluster has ({controllers} "
        "system:controller:* ServiceAccounts in kube-system, cluster-admin to system:masters...), "
        "marked 'a default of every cluster'; --no-defaults leaves them out."
    )


def paths_table(
    paths: Sequence[EscalationPath],
    to: str,
    source: Subject | None,
    problems: Sequence[Problem],
    defaults: Sequence[Binding] | None = (),
    incomplete: Mapping[str, str] = COMPLETE,
) -> str:
    lines: list[str] = [defaults_line(defaults), ""]
    if not paths:
        lines.append(
            f"{printable(str(source))} can become {printable(to)}: no escalation path found"
            if source
            else f"No subject can become {printable(to)}."
        )
    for p in paths:
        n = len(p.steps)
        lines.append(f"{printable(str(p.source))} -> {printable(p.target)} ({n} step{'s' if n != 1 else ''})")
        for i, st in enumerate(p.steps, 1):
            lines.append(f"  {i}. {printable(st.action)}")
            if st.via:
                lines.append(f"     via {printable(st.via)}")
    if paths and not source:
        lines.append(f"\n{len(paths)} subject{'s' if len(paths) != 1 else ''} can become {printable(to)}.")
    if incomplete:
        lines.append(incomplete_line(incomplete, _PATHS_MISS))
    return "\n".join(lines)


def paths_json(
    paths: Sequence[EscalationPath],
    to: str,
    source: Subject | None,
    problems: Sequence[Problem],
    defaults: Sequence[Binding] | None = (),
    incomplete: Mapping[str, str] = COMPLETE,
) -> str:
    return _json(
        _with_incomplete(
            {
                "paths": [p.to_dict() for p in paths],
                "defaults": {"included": bool(defaults), "bindings": [str(b.ref) for b in defaults or ()]},
                "warnings": [str(p) for p in problems],
            },
            incomplete,
        )
    )


def _dot_escape(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace('"', '\\"')


def paths_dot(
    paths: Sequence[EscalationPath],
    to: str,
    source: Subject | None,
    problems: Sequence[Problem],
    defaults: Sequence[Binding] | None = (),
    incomplete: Mapping[str, str] = COMPLETE,
) -> str:
    """Graphviz: one node per identity, an edge per step (label cut at 90 characters)."""
    lines = [
        f"// {_dot_escape(defaults_line(defaults))}",
        *([f"// {_dot_escape(incomplete_line(incomplete, _PATHS_MISS))}"] if incomplete else []),
        "digraph escalation {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    seen: set[tuple[str, str, str]] = set()
    for t in sorted({p.target for p in paths}):
        lines.append(f'  "{_dot_escape(t)}" [style=filled, fillcolor="#f4cccc"];')
    for p in paths:
        src = str(p.source)
        for st in p.steps:
            key = (src, st.to, st.action)
            if key not in seen:
                seen.add(key)
                label = st.action if len(st.action) <= 90 else st.action[:87] + "..."
                lines.append(f'  "{_dot_escape(src)}" -> "{_dot_escape(st.to)}" [label="{_dot_escape(label)}"];')
            src = st.to
    lines.append("}")
    return "\n".join(lines)


PATHS: dict[
    str,
    Callable[
        [
            Sequence[EscalationPath],
            str,
            Subject | None,
            Sequence[Problem],
            Sequence[Binding] | None,
            Mapping[str, str],
        ],
        str,
    ],
] = {
    "table": paths_table,
    "json": paths_json,
    "dot": paths_dot,
}


# ----------------------------------------------------------------------------------- from-audit


def write_from_audit(docs: Sequence[Mapping[str, Any]], fmt: str, out: Any, header: str = "") -> None:
    """The Roles and bindings ``rbac from-audit`` proposes: YAML documents (comment header) or a JSON List."""
    import yaml

    plain = json.loads(json.dumps(list(docs)))  # no YAML anchors for shared maps
    if fmt == "json":
        out.write(json.dumps({"apiVersion": "v1", "kind": "List", "items": plain}, indent=2) + "\n")
        return
    for line in header.splitlines():
        out.write(f"# {printable(line)}\n")
    out.write(yaml.safe_dump_all(plain, sort_keys=False, default_flow_style=False, width=200))


def from_audit_lines(
    subject: str,
    need: Needed,
    rules: int,
    unused: Sequence[Unused] | None,
    denied: Sequence[AuditedRequest] | None,
) -> list[str]:
    """The summary (stderr): requests seen, rules proposed, what was left out, and the diff with the
    current grants."""
    out = [f"{subject}: {len(need.requests)} request(s) to allow, {rules} rule(s) proposed"]
    if need.denied:
        out.append(f"left out, denied (403) when recorded ({len(need.denied)}; --include-denied grants them):")
        out.extend(f"  {d}" for d in sorted({r.describe() for r in need.denied}))
    if need.by_default:
        out.append(f"left out, allowed to every subject by the bootstrap bindings: {len(need.by_default)}")
    if unused is not None:
        total = sum(len(u.entries) for u in unused)
        out.append(f"current grants: {total} verb/resource entr{'y' if total == 1 else 'ies'} never used")
        for u in unused:
            where = f"namespace {u.namespace}" if u.namespace else "cluster-wide"
            out.append(f"  {u.binding} -> {u.role} ({where}): {', '.join(u.entries)}")
    if denied is not None:
        out.append(f"recorded requests the current grants do not allow: {len(denied)}")
        out.extend(f"  {r.describe()}" for r in denied)
    return [printable(line) for line in out]
