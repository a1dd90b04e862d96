"""``kubefort graph``: attack paths over the joined engines (paths, cuts). See docs/graph.md.

The objects come from files (PATH..., -f, --helm, --kustomize), or from a live cluster (``--cluster``)
or a snapshot of one (``--snapshot FILE``), read whole; files given with a cluster are applied on top of
it. Exit codes: 0 no attack path, 1 some path, 2 usage or input error, or an incomplete answer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..analysis.graph.search import cuts, is_cidr, resolve, shortest_paths
from ..api import graph_reads, load_graph, read_objects
from ..reporters import graph as report
from ..reporters.netpol import problem_lines
from .cluster_cmd import read_live
from .options import Inputs, cluster_options, input_options

if TYPE_CHECKING:
    from ..analysis.graph.build import AttackGraph

F = TypeVar("F", bound=Callable[..., Any])


def _load(paths: tuple[str, ...], inputs: Inputs, source: str = "internet") -> tuple[AttackGraph, bool]:
    opts = inputs.scan_options(paths)
    live = read_live(opts, lambda o, progress: read_objects(o, graph_reads(), progress))
    graph, loaded = load_graph(opts, cluster=live, origin=source.strip() if is_cidr(source) else None)
    for line in problem_lines(graph.netpol.problems, loaded.errors):
        click.echo(line, err=True)
    return graph, bool(loaded.errors)


def _query_options(fn: F) -> F:
    fn = click.option(
        "--from",
        "source",
        default="internet",
        show_default=True,
        metavar="internet|CIDR|any-pod|NS/KIND/NAME",
        help="Where the attacker starts: the internet, the addresses of a CIDR (NetworkPolicy ipBlocks and "
        "loadBalancerSourceRanges judged for them), any pod, or one workload (kubectl short kinds).",
    )(fn)
    fn = click.option(
        "--to",
        "target",
        default="cluster-admin",
        show_default=True,
        metavar="cluster-admin|all-secrets|nodes|secret NS/NAME",
        help="What the attacker wants.",
    )(fn)
    return fn


@click.group("graph")
def graph_group() -> None:
    """Attack paths: exposure, network reachability, container escape, node credentials and RBAC, joined.

    \b
    Examples:
      kubefort graph paths k8s/                                  # internet -> cluster-admin
      kubefort graph paths k8s/ --from any-pod --to all-secrets
      kubefort graph paths k8s/ --from shop/deploy/web --to "secret shop/db-pass" -o dot | dot -Tsvg > p.svg
      kubefort graph cuts k8s/ --to nodes
      kubefort graph paths --snapshot prod.json.gz
    """


@graph_group.command("paths")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@cluster_options(whole=True, packed=True)
@_query_options
@click.option("-o", "--format", "fmt", type=click.Choice(report.FORMATS), default="table", show_default=True)
def paths_cmd(
    paths: tuple[str, ...],
    inputs: Inputs,
    source: str,
    target: str,
    fmt: str,
) -> None:
    """Shortest attack paths from --from to --to, each step with why it is possible.

    \b
    Exit codes: 0 no path, 1 some path, 2 usage or input error, or an incomplete answer.
    """
    graph, errors = _load(paths, inputs, source)
    q = resolve(graph, source, target)
    found = shortest_paths(graph, q)
    report.write_paths(
        found, graph.vertices, fmt, sys.stdout, source=source, target=target, incomplete=graph.incomplete
    )
    if errors or graph.incomplete:
        sys.exit(2)
    sys.exit(1 if found else 0)


@graph_group.command("cuts")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@cluster_options(whole=True, packed=True)
@_query_options
@click.option("-o", "--format", "fmt", type=click.Choice(("table", "json")), default="table", show_default=True)
def cuts_cmd(
    paths: tuple[str, ...],
    inputs: Inputs,
    source: str,
    target: str,
    fmt: str,
) -> None:
    """Single changes (drop a binding, a capability, a privileged flag; add a NetworkPolicy...) ranked by
    how many of the shortest attack paths each cuts.

    \b
    Exit codes: 0 no path, 1 some path, 2 usage or input error, or an incomplete answer.
    """
    graph, errors = _load(paths, inputs, source)
    q = resolve(graph, source, target)
    found = shortest_paths(graph, q)
    ranked = cuts(graph, q, found)
    report.write_cuts(
        ranked, found, graph.vertices, fmt, sys.stdout, source=source, target=target, incomplete=graph.incomplete
    )
    if errors or graph.incomplete:
        sys.exit(2)
    sys.exit(1 if found else 0)
