"""``kubefort netpol``: NetworkPolicy reachability (can-reach, matrix, diff). See docs/netpol.md."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from typing import IO, Any

import click
from click.core import ParameterSource

from ..analysis.netpol import NO_PORTS, NetpolEngine, PortSet, parse_port_query
from ..analysis.netpol.model import Workload
from ..api import ScanOptions, batch_gc, load_inputs
from ..errors import UsageError
from ..loading.loader import LoadResult
from ..model.inventory import Inventory
from .options import input_options


def _load(
    paths: list[str], helm: tuple[str, ...], helm_values: tuple[str, ...], kustomize: tuple[str, ...], namespace: str
) -> tuple[NetpolEngine, LoadResult]:
    if not paths and not helm and not kustomize:
        raise UsageError("nothing to read: give files or directories (-f), '-' for stdin, --helm or --kustomize")
    opts = ScanOptions(
        paths=paths, helm=list(helm), helm_values=list(helm_values), kustomize=list(kustomize), namespace=namespace
    )
    with batch_gc():
        loaded = load_inputs(opts)
        eng = NetpolEngine(Inventory(loaded.objects))
    return eng, loaded


def _warn(eng: NetpolEngine, loaded: LoadResult, label: str = "") -> None:
    for e in loaded.errors:
        click.echo(f"kubefort: error: {label}{e.diagnostics()}", err=True)
    for ref, why in eng.problems:
        click.echo(f"kubefort: warning: {label}{ref} is left out: {why}", err=True)


def _namespace_filter(ctx: click.Context, namespace: str) -> list[str] | None:
    """``-n NS`` given explicitly also restricts the output to NS (kubectl-like)."""
    src = ctx.get_parameter_source("namespace")
    return [namespace] if src is not None and src is not ParameterSource.DEFAULT else None


@click.group("netpol")
def netpol_group() -> None:
    """NetworkPolicy reachability: who can talk to whom, on which ports, and why.

    \b
    Examples:
      kubefort netpol can-reach shop/deploy/web shop/sts/db -f k8s/ --port 5432/TCP
      kubefort netpol can-reach 0.0.0.0/0 shop/deploy/web -f k8s/
      kubefort netpol matrix -f k8s/ -n shop --format dot | dot -Tsvg > shop.svg
      kubefort netpol diff k8s-main/ k8s-branch/
    """


@netpol_group.command("can-reach")
@click.argument("src")
@click.argument("dst")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@click.option(
    "--port",
    "port",
    default=None,
    metavar="PORT[/PROTO]",
    help="Ask about one port: 5432/TCP, 53/UDP, 8080 (TCP) or a named port of DST.",
)
@click.option("-o", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def can_reach_cmd(
    src: str,
    dst: str,
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    port: str | None,
    fmt: str,
) -> None:
    """Can SRC open a connection to DST? SRC and DST are NAMESPACE/KIND/NAME (kind as in the
    manifest or a kubectl short name: deploy, sts, ds, po, cj) or a CIDR / IP address outside the cluster.

    \b
    Exit codes: 0 allowed, 1 denied, 2 usage or input error.
    """
    query = None
    if port is not None:
        try:
            query = parse_port_query(port)
        except ValueError as e:
            raise UsageError(f"--port: {e}") from None
    eng, loaded = _load([*paths, *filenames], helm, helm_values, kustomize, namespace)
    try:
        a, b = eng.find(src), eng.find(dst)
        if not isinstance(a, Workload) and not isinstance(b, Workload):
            raise UsageError("SRC and DST are both CIDRs: at least one must be a workload (NAMESPACE/KIND/NAME)")
        verdict = eng.explain(a, b, query)
    except LookupError as e:
        raise UsageError(str(e.args[0])) from None
    if fmt == "json":
        click.echo(json.dumps(verdict.to_dict(), indent=2))
    else:
        head = "ALLOWED" if verdict.allowed else "DENIED"
        ports = f" on {verdict.ports}" if verdict.allowed else ""
        q = f" ({verdict.query})" if verdict.query else ""
        click.echo(f"{head}: {verdict.source} -> {verdict.destination}{q}{ports}")
        for r in verdict.reasons:
            click.echo(f"  - {r}")
    _warn(eng, loaded)
    if loaded.errors:
        sys.exit(2)
    sys.exit(0 if verdict.allowed else 1)


def _rows(eng: NetpolEngine, namespaces: list[str] | None) -> list[tuple[str, str, PortSet]]:
    return [(a.ref, b.ref, p) for a, b, p in eng.connections(namespaces)]


def _workloads(eng: NetpolEngine, namespaces: list[str] | None) -> list[str]:
    return [w.ref for w in eng.workloads if namespaces is None or w.namespace in namespaces]


def render_matrix(eng: NetpolEngine, fmt: str, out: IO[str], namespaces: list[str] | None = None) -> int:
    """Write the workload matrix; return the number of allowed connections."""
    rows = _rows(eng, namespaces)
    if fmt == "json":
        doc = {
            "connections": [{"from": a, "to": b, "ports": p.render()} for a, b, p in rows],
            "workloads": _workloads(eng, namespaces),
            "problems": [{"object": r, "reason": why} for r, why in eng.problems],
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(["from", "to", "ports"])
        for a, b, p in rows:
            w.writerow([a, b, " ".join(p.render())])
    elif fmt == "dot":
        _dot(eng, rows, namespaces, out)
    else:
        _table(eng, rows, namespaces, out)
    return len(rows)


def _table(eng: NetpolEngine, rows: list[tuple[str, str, PortSet]], namespaces: list[str] | None, out: IO[str]) -> None:
    names = _workloads(eng, namespaces)
    if rows:
        wa = max(4, *(len(a) for a, _, _ in rows))
        wb = max(2, *(len(b) for _, b, _ in rows))
        out.write(f"{'FROM':<{wa}}  {'TO':<{wb}}  PORTS\n")
        for a, b, p in rows:
            out.write(f"{a:<{wa}}  {b:<{wb}}  {', '.join(p.render())}\n")
    n = len(names)
    iso_in = sum(1 for w in eng.workloads if (namespaces is None or w.namespace in namespaces) and eng.isolated(w)[0])
    iso_eg = sum(1 for w in eng.workloads if (namespaces is None or w.namespace in namespaces) and eng.isolated(w)[1])
    scope = f" in {', '.join(namespaces)}" if namespaces else ""

    def count(k: int, word: str) -> str:
        return f"{k} {word}" if k == 1 else f"{k} {word[:-1]}ies" if word.endswith("y") else f"{k} {word}s"

    out.write(
        f"\n{count(len(rows), 'allowed connection')} between workloads{scope} (pairs not listed are denied); "
        f"{count(n, 'workload')}, {iso_in} isolated for ingress, {iso_eg} for egress; "
        f"{count(len(eng.policies), 'NetworkPolicy')}.\n"
    )


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot(eng: NetpolEngine, rows: list[tuple[str, str, PortSet]], namespaces: list[str] | None, out: IO[str]) -> None:
    out.write(
        "digraph netpol {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=Helvetica];\n"
        "  edge [fontname=Helvetica, fontsize=10];\n"
    )
    shown = set(_workloads(eng, namespaces))
    for a, b, _ in rows:
        shown.update((a, b))
    by_ns: dict[str, list[Workload]] = {}
    for w in eng.workloads:
        if w.ref in shown:
            by_ns.setdefault(w.namespace, []).append(w)
    for i, (ns, ws) in enumerate(sorted(by_ns.items())):
        out.write(f"  subgraph cluster_{i} {{\n    label={_dot_id('namespace ' + ns)};\n    style=dashed;\n")
        for w in ws:
            iso_in, iso_eg = eng.isolated(w)
            color = "black" if iso_in and iso_eg else "darkorange" if iso_in or iso_eg else "red"
            label = _dot_id(w.kind)[:-1] + "\\n" + _dot_id(w.name)[1:]
            out.write(f"    {_dot_id(w.ref)} [label={label}, color={color}];\n")
        out.write("  }\n")
    for a, b, p in rows:
        label = "all" if p.is_all else "\\n".join(p.render())
        out.write(f'  {_dot_id(a)} -> {_dot_id(b)} [label="{label}"];\n')
    out.write("}\n")


@netpol_group.command("matrix")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@click.option(
    "-o",
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json", "dot"]),
    default="table",
    show_default=True,
    help='table, csv, json ({"connections": [...]}) or Graphviz dot.',
)
@click.option("--output", type=click.File("w"), default=None, help="Write to this file instead of stdout.")
@click.pass_context
def matrix_cmd(
    ctx: click.Context,
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    fmt: str,
    output: IO[str] | None,
) -> None:
    """Workload-to-workload connectivity with ports: every allowed (from, to) pair; a pair that is not
    listed is denied. With -n NS only connections from or to NS are shown.

    \b
    Exit codes: 0 done, 2 usage or input error.
    """
    eng, loaded = _load([*paths, *filenames], helm, helm_values, kustomize, namespace)
    render_matrix(eng, fmt, output or sys.stdout, _namespace_filter(ctx, namespace))
    _warn(eng, loaded)
    sys.exit(2 if loaded.errors else 0)


def diff_engines(before: NetpolEngine, after: NetpolEngine, namespaces: list[str] | None = None) -> dict[str, Any]:
    """Connections a change opens and closes, between workloads present on both sides."""
    old = {(a, b): p for a, b, p in _rows(before, namespaces)}
    new = {(a, b): p for a, b, p in _rows(after, namespaces)}
    old_w, new_w = set(_workloads(before, namespaces)), set(_workloads(after, namespaces))
    both = old_w & new_w
    opened, closed = [], []
    for pair in sorted(set(old) | set(new)):
        if pair[0] not in both or pair[1] not in both:
            continue
        o = old.get(pair, NO_PORTS)
        n = new.get(pair, NO_PORTS)
        if n - o:
            opened.append({"from": pair[0], "to": pair[1], "ports": (n - o).render(), "now": n.render()})
        if o - n:
            closed.append({"from": pair[0], "to": pair[1], "ports": (o - n).render(), "now": n.render()})
    return {
        "opened": opened,
        "closed": closed,
        "added_workloads": sorted(new_w - old_w),
        "removed_workloads": sorted(old_w - new_w),
    }


@netpol_group.command("diff")
@click.argument("before", type=click.Path(allow_dash=True))
@click.argument("after", type=click.Path(allow_dash=True))
@input_options
@click.option("-o", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def diff_cmd(
    ctx: click.Context,
    before: str,
    after: str,
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    fmt: str,
) -> None:
    """Which connections a policy change opens or closes: BEFORE and AFTER are files or directories
    (e.g. two checkouts). Inputs given with -f/--helm/--kustomize are added to both sides (e.g. the
    workloads, when BEFORE and AFTER hold only NetworkPolicies).

    \b
    Exit codes: 0 no change, 1 connections opened or closed, 2 usage or input error.
    """
    shared = list(filenames)
    eb, lb = _load([before, *shared], helm, helm_values, kustomize, namespace)
    ea, la = _load([after, *shared], helm, helm_values, kustomize, namespace)
    result = diff_engines(eb, ea, _namespace_filter(ctx, namespace))
    if fmt == "json":
        click.echo(json.dumps(result, indent=2))
    else:
        _diff_text(result)
    _warn(eb, lb, "before: ")
    _warn(ea, la, "after: ")
    if lb.errors or la.errors:
        sys.exit(2)
    sys.exit(1 if result["opened"] or result["closed"] else 0)


def _diff_text(result: dict[str, Any]) -> None:
    def lines(items: Iterable[dict[str, Any]], sign: str) -> None:
        for e in items:
            now = ", ".join(e["now"]) or "nothing"
            click.echo(f"  {sign} {e['from']} -> {e['to']}  {', '.join(e['ports'])}  (now: {now})")

    if result["opened"]:
        click.echo(f"Opened ({len(result['opened'])}):")
        lines(result["opened"], "+")
    if result["closed"]:
        click.echo(f"Closed ({len(result['closed'])}):")
        lines(result["closed"], "-")
    for key, what in (
        ("added_workloads", "Workloads only in AFTER"),
        ("removed_workloads", "Workloads only in BEFORE"),
    ):
        if result[key]:
            click.echo(f"{what} (their connections are not compared): {', '.join(result[key])}")
    if not result["opened"] and not result["closed"]:
        click.echo("No connection between workloads is opened or closed.")
