"""``kubefort netpol``: NetworkPolicy reachability (can-reach, matrix, diff). See docs/netpol.md."""

from __future__ import annotations

import sys
from typing import IO

import click
from click.core import ParameterSource

from ..analysis.netpol import NetpolEngine, parse_port_query
from ..analysis.netpol.queries import diff, matrix, reach
from ..api import ScanOptions, load_netpol
from ..errors import UsageError
from ..loading.loader import LoadResult
from ..reporters import netpol as report
from .options import input_options


def _load(
    paths: list[str], helm: tuple[str, ...], helm_values: tuple[str, ...], kustomize: tuple[str, ...], namespace: str
) -> tuple[NetpolEngine, LoadResult]:
    if not paths and not helm and not kustomize:
        raise UsageError("nothing to read: give files or directories (-f), '-' for stdin, --helm or --kustomize")
    opts = ScanOptions(
        paths=paths, helm=list(helm), helm_values=list(helm_values), kustomize=list(kustomize), namespace=namespace
    )
    return load_netpol(opts)


def _warn(eng: NetpolEngine, loaded: LoadResult, label: str = "") -> None:
    sys.stdout.flush()  # the report before the warnings, as on a terminal
    for line in report.problem_lines(eng.problems, loaded.errors, label):
        click.echo(line, err=True)


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
        verdict = reach(eng, src, dst, query)
    except LookupError as e:
        raise UsageError(str(e.args[0])) from None
    report.write_verdict(verdict, fmt, sys.stdout)
    _warn(eng, loaded)
    if loaded.errors:
        sys.exit(2)
    sys.exit(0 if verdict.allowed else 1)


@netpol_group.command("matrix")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@click.option(
    "-o",
    "--format",
    "fmt",
    type=click.Choice(report.MATRIX_FORMATS),
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
    report.write_matrix(matrix(eng, _namespace_filter(ctx, namespace)), fmt, output or sys.stdout)
    _warn(eng, loaded)
    sys.exit(2 if loaded.errors else 0)


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
    result = diff(eb, ea, _namespace_filter(ctx, namespace))
    report.write_diff(result, fmt, sys.stdout)
    _warn(eb, lb, "before: ")
    _warn(ea, la, "after: ")
    if lb.errors or la.errors:
        sys.exit(2)
    sys.exit(1 if result.changed else 0)
