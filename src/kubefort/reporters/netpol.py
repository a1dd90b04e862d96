"""``kubefort netpol`` output: a can-reach verdict (text, JSON), the connection matrix (table, CSV,
JSON, Graphviz dot), a policy diff (text, JSON), policies generated from flows (YAML, JSON) with
their proof, plus the warnings about left-out objects.

Refs, policy names and reasons come from the scanned manifests: every text format shows their
control characters as ``\\xNN`` (:func:`kubefort.reporters.printable`), JSON escapes them, and dot
quotes and escapes every identifier and label.

An answer about a cluster that could not be read whole (a kind the engine reads was not listed) is
marked *incomplete* with the kinds and why: a line in text and table output, an ``incomplete`` object
(kind -> reason) in JSON, a comment in dot; CSV has no place for it (the stderr warning says it).
"""

from __future__ import annotations

import collections
import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

import yaml

from ..analysis.netpol.engine import Verdict
from ..analysis.netpol.generate import Difference, Generated, Proof
from ..analysis.netpol.queries import Change, Matrix, MatrixNode, NetpolDiff
from ..errors import KubefortError
from . import printable

MATRIX_FORMATS = ("table", "csv", "json", "dot")


def _json(doc: Any, out: IO[str]) -> None:
    json.dump(doc, out, indent=2)
    out.write("\n")


def _lines(lines: Iterable[str], out: IO[str]) -> None:
    for line in lines:
        out.write(printable(line) + "\n")


def incomplete_line(incomplete: Iterable[tuple[str, str]]) -> str:
    """``Incomplete: could not read NetworkPolicy (cannot list networkpolicies: forbidden); ...``"""
    kinds = "; ".join(f"{k} ({why})" for k, why in sorted(incomplete))
    return f"Incomplete: could not read {kinds}; the answer may be wrong."


def _incomplete_doc(doc: dict[str, Any], incomplete: Iterable[tuple[str, str]]) -> dict[str, Any]:
    gaps: Mapping[str, str] = dict(sorted(incomplete))
    if gaps:
        doc["incomplete"] = gaps
    return doc


# ---------------------------------------------------------------------------------- can-reach


def write_verdict(verdict: Verdict, fmt: str, out: IO[str]) -> None:
    """``ALLOWED``/``DENIED`` with the reasons (text), or the verdict's JSON document."""
    if fmt == "json":
        _json(verdict.to_dict(), out)
        return
    head = "ALLOWED" if verdict.allowed else "DENIED"
    ports = f" on {verdict.ports}" if verdict.allowed else ""
    q = f" ({verdict.query})" if verdict.query else ""
    _lines(
        [f"{head}: {verdict.source} -> {verdict.destination}{q}{ports}", *(f"  - {r}" for r in verdict.reasons)], out
    )
    if verdict.incomplete:
        _lines([incomplete_line(verdict.incomplete.items())], out)


# ---------------------------------------------------------------------------------- matrix


def matrix_document(m: Matrix) -> dict[str, Any]:
    """The JSON contract of ``netpol matrix -o json`` (docs/netpol.md)."""
    doc: dict[str, Any] = {
        "connections": [{"from": c.source, "to": c.destination, "ports": c.ports.render()} for c in m.connections],
        "workloads": m.workloads,
        "problems": [{"object": r, "reason": why} for r, why in m.problems],
    }
    if m.notes:  # AdminNetworkPolicies (modelled) and CNI policies (not) in the input
        doc["other_policies"] = list(m.notes)
    return _incomplete_doc(doc, m.incomplete)


def write_matrix(m: Matrix, fmt: str, out: IO[str]) -> None:
    """The matrix as ``table``, ``csv``, ``json`` or Graphviz ``dot``."""
    if fmt == "json":
        _json(matrix_document(m), out)
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["from", "to", "ports"])
        for c in m.connections:
            w.writerow([printable(c.source), printable(c.destination), " ".join(c.ports.render())])
    elif fmt == "dot":
        out.writelines(_dot(m))
    else:
        out.writelines(_table(m))


def _count(k: int, word: str) -> str:
    return f"{k} {word}" if k == 1 else f"{k} {word[:-1]}ies" if word.endswith("y") else f"{k} {word}s"


def _table(m: Matrix) -> Iterator[str]:
    rows = [(printable(c.source), printable(c.destination), ", ".join(c.ports.render())) for c in m.connections]
    if rows:
        wa = max(4, *(len(a) for a, _, _ in rows))
        wb = max(2, *(len(b) for _, b, _ in rows))
        yield f"{'FROM':<{wa}}  {'TO':<{wb}}  PORTS\n"
        for a, b, p in rows:
            yield f"{a:<{wa}}  {b:<{wb}}  {p}\n"
    scoped = [n for n in m.nodes if n.in_scope]
    iso_in = sum(1 for n in scoped if n.ingress_isolated)
    iso_eg = sum(1 for n in scoped if n.egress_isolated)
    scope = f" in {printable(', '.join(m.namespaces))}" if m.namespaces else ""
    yield (
        f"\n{_count(len(rows), 'allowed connection')} between workloads{scope} (pairs not listed are denied); "
        f"{_count(len(scoped), 'workload')}, {iso_in} isolated for ingress, {iso_eg} for egress; "
        f"{_count(m.policies, 'NetworkPolicy')}.\n"
    )
    for note in m.notes:
        yield f"Other policies, {printable(note)}.\n"
    if m.incomplete:
        yield printable(incomplete_line(m.incomplete)) + "\n"


def dot_id(text: str) -> str:
    """``text`` as a quoted Graphviz ID: control characters as ``\\xNN`` (shown, never sent), then
    backslashes and quotes escaped."""
    return '"' + printable(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(m: Matrix) -> Iterator[str]:
    for note in m.notes:
        yield f"// other policies, {printable(note)}\n"
    if m.incomplete:
        yield f"// {printable(incomplete_line(m.incomplete))}\n"
    yield (
        "digraph netpol {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=Helvetica];\n"
        "  edge [fontname=Helvetica, fontsize=10];\n"
    )
    by_ns: dict[str, list[MatrixNode]] = {}
    for n in m.nodes:
        by_ns.setdefault(n.namespace, []).append(n)
    for i, (ns, nodes) in enumerate(sorted(by_ns.items())):
        yield f"  subgraph cluster_{i} {{\n    label={dot_id('namespace ' + ns)};\n    style=dashed;\n"
        for n in nodes:
            iso_in, iso_eg = n.ingress_isolated, n.egress_isolated
            color = "black" if iso_in and iso_eg else "darkorange" if iso_in or iso_eg else "red"
            label = dot_id(n.kind)[:-1] + "\\n" + dot_id(n.name)[1:]
            yield f"    {dot_id(n.ref)} [label={label}, color={color}];\n"
        yield "  }\n"
    for c in m.connections:
        label = "all" if c.ports.is_all else "\\n".join(c.ports.render())
        yield f'  {dot_id(c.source)} -> {dot_id(c.destination)} [label="{label}"];\n'
    yield "}\n"


# ---------------------------------------------------------------------------------- diff


def diff_document(d: NetpolDiff) -> dict[str, Any]:
    """The JSON contract of ``netpol diff -o json`` (docs/netpol.md)."""

    def changes(items: tuple[Change, ...]) -> list[dict[str, Any]]:
        return [
            {"from": c.source, "to": c.destination, "ports": c.ports.render(), "now": c.now.render()} for c in items
        ]

    doc = {
        "opened": changes(d.opened),
        "closed": changes(d.closed),
        "added_workloads": list(d.added_workloads),
        "removed_workloads": list(d.removed_workloads),
    }
    return _incomplete_doc(doc, d.incomplete)


def write_diff(d: NetpolDiff, fmt: str, out: IO[str]) -> None:
    """The connections opened and closed (text), or the diff's JSON document."""
    if fmt == "json":
        _json(diff_document(d), out)
    else:
        _lines(_diff_text(d), out)


def _diff_text(d: NetpolDiff) -> Iterator[str]:
    def lines(items: tuple[Change, ...], sign: str) -> Iterator[str]:
        for c in items:
            now = ", ".join(c.now.render()) or "nothing"
            yield f"  {sign} {c.source} -> {c.destination}  {', '.join(c.ports.render())}  (now: {now})"

    if d.opened:
        yield f"Opened ({len(d.opened)}):"
        yield from lines(d.opened, "+")
    if d.closed:
        yield f"Closed ({len(d.closed)}):"
        yield from lines(d.closed, "-")
    for refs, what in (
        (d.added_workloads, "Workloads only in AFTER"),
        (d.removed_workloads, "Workloads only in BEFORE"),
    ):
        if refs:
            yield f"{what} (their connections are not compared): {', '.join(refs)}"
    if not d.changed:
        yield "No connection between workloads is opened or closed."
    if d.incomplete:
        yield incomplete_line(d.incomplete)


# ---------------------------------------------------------------------------------- stderr


def problem_lines(problems: Iterable[tuple[str, str]], errors: Iterable[KubefortError], label: str = "") -> list[str]:
    """The stderr lines about inputs that could not be read and objects the analysis left out."""
    out = [f"kubefort: error: {label}{printable(e.diagnostics())}" for e in errors]
    # one line per cause: an object copied in many files is left out once per extra copy
    counts = collections.Counter(problems)
    out += [
        f"kubefort: warning: {label}{printable(ref)} is left out: {printable(why)}" + (f" ({n} times)" if n > 1 else "")
        for (ref, why), n in counts.items()
    ]
    return out


# ----------------------------------------------------------------------------------- generate

GENERATE_FORMATS = ("yaml", "json")


def write_generated(gen: Generated, fmt: str, out: IO[str], header: str = "") -> None:
    """The generated policies: YAML documents (with a comment header) or a JSON ``List``."""
    docs = json.loads(json.dumps(list(gen.policies)))  # plain copies: no YAML anchors for shared lists
    if fmt == "json":
        _json({"apiVersion": "v1", "kind": "List", "items": docs}, out)
        return
    for line in header.splitlines():
        out.write(f"# {printable(line)}\n")
    out.write(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=200))


def proof_lines(proof: Proof, flows: int) -> list[str]:
    """``equal: ...`` or one line per extra or missing connection with the reasons indented."""
    if proof.equal:
        return [
            f"equal: the generated policies allow exactly the {flows} intended flow(s) "
            f"({proof.pairs} ordered pairs of {len(proof.endpoints)} endpoints compared by the engine)"
        ]
    out = [f"not equal: {len(proof.extra)} extra, {len(proof.missing)} missing ({proof.pairs} pairs compared)"]
    for word, diffs in (("extra", proof.extra), ("missing", proof.missing)):
        for d in diffs:
            out.append(f"{word}: {d.source} -> {d.destination} {d.ports}")
            out.extend(f"  - {why}" for why in d.why)
    for ref, why in proof.problems:
        out.append(f"left out by the engine: {ref}: {why}")
    return [printable(line) for line in out]


def proof_document(proof: Proof) -> dict[str, Any]:
    def diff(d: Difference) -> dict[str, Any]:
        return {"from": d.source, "to": d.destination, "ports": d.ports.render(), "why": list(d.why)}

    return {
        "equal": proof.equal,
        "pairs": proof.pairs,
        "extra": [diff(d) for d in proof.extra],
        "missing": [diff(d) for d in proof.missing],
    }
