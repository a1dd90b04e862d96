"""``kubefort netpol``: NetworkPolicy reachability (can-reach, matrix, diff). See docs/netpol.md.

The objects come from files (PATH..., -f, --helm, --kustomize), or from a live cluster (``--cluster``)
or a snapshot of one (``--snapshot FILE``), always read whole; files given with a cluster are applied
on top of it, as ``kubectl apply`` would (``diff --cluster AFTER``: what AFTER would open on the
cluster). An answer is marked incomplete, and exits 2, when a kind the engine reads could not be read.
"""

from __future__ import annotations

import sys
from typing import IO

import click
from click.core import ParameterSource

from ..analysis.netpol import NetpolEngine, parse_port_query
from ..analysis.netpol.queries import diff, matrix, reach
from ..api import ScanOptions, apply_objects, load_inputs, load_netpol, read_for_netpol
from ..errors import UsageError
from ..loading.loader import LoadResult
from ..model.inventory import Inventory
from ..reporters import netpol as report
from ..reporters import printable
from .cluster_cmd import read_live
from .options import Inputs, cluster_options, input_options


def _read(opts: ScanOptions) -> Inventory | None:
    """The cluster of ``opts`` (None: files only), with what could not be read or discovered on stderr."""
    return read_live(opts, read_for_netpol)


def _warn(eng: NetpolEngine, loaded: LoadResult, label: str = "", *, incomplete: bool = True) -> None:
    sys.stdout.flush()  # the report before the warnings, as on a terminal
    for line in report.problem_lines(eng.problems, loaded.errors, label):
        click.echo(line, err=True)
    if incomplete and eng.incomplete:
        click.echo(f"kubefort: warning: {printable(report.incomplete_line(eng.incomplete.items()))}", err=True)


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
      kubefort netpol matrix --cluster -n shop
      kubefort netpol diff --snapshot prod.json.gz k8s-branch/policies/
    """


@netpol_group.command("can-reach")
@click.argument("src")
@click.argument("dst")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@cluster_options(whole=True, packed=True)
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
    inputs: Inputs,
    port: str | None,
    fmt: str,
) -> None:
    """Can SRC open a connection to DST? SRC and DST are NAMESPACE/KIND/NAME (kind as in the
    manifest or a kubectl short name: deploy, sts, ds, po, cj) or a CIDR / IP address outside the cluster.
    In a cluster a Pod made by a workload (through a ReplicaSet...) answers for that workload.

    \b
    Exit codes: 0 allowed, 1 denied, 2 usage or input error, or an incomplete answer (a kind
    could not be read from the cluster).
    """
    query = None
    if port is not None:
        try:
            query = parse_port_query(port)
        except ValueError as e:
            raise UsageError(f"--port: {e}") from None
    opts = inputs.scan_options(paths)
    eng, loaded = load_netpol(opts, cluster=_read(opts))
    try:
        verdict = reach(eng, src, dst, query)
    except LookupError as e:
        raise UsageError(str(e.args[0])) from None
    report.write_verdict(verdict, fmt, sys.stdout)
    _warn(eng, loaded)
    if loaded.errors or verdict.incomplete:
        sys.exit(2)
    sys.exit(0 if verdict.allowed else 1)


@netpol_group.command("matrix")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@cluster_options(whole=True, packed=True)
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
    inputs: Inputs,
    fmt: str,
    output: IO[str] | None,
) -> None:
    """Workload-to-workload connectivity with ports: every allowed (from, to) pair; a pair that is not
    listed is denied. With -n NS only connections from or to NS are shown.

    \b
    Exit codes: 0 done, 2 usage or input error, or an incomplete answer.
    """
    opts = inputs.scan_options(paths)
    eng, loaded = load_netpol(opts, cluster=_read(opts))
    m = matrix(eng, _namespace_filter(ctx, inputs.namespace))
    report.write_matrix(m, fmt, output or sys.stdout)
    _warn(eng, loaded)
    sys.exit(2 if loaded.errors or m.incomplete else 0)


@netpol_group.command("diff")
@click.argument("sides", nargs=-1, type=click.Path(allow_dash=True), metavar="[BEFORE] AFTER")
@input_options
@cluster_options(whole=True, packed=True)
@click.option("-o", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def diff_cmd(
    ctx: click.Context,
    sides: tuple[str, ...],
    inputs: Inputs,
    fmt: str,
) -> None:
    """Which connections a policy change opens or closes: BEFORE and AFTER are files or directories
    (e.g. two checkouts). Inputs given with -f/--helm/--kustomize are added to both sides (e.g. the
    workloads, when BEFORE and AFTER hold only NetworkPolicies).

    With --cluster or --snapshot FILE, BEFORE is the cluster and AFTER (files or directories) is
    applied on top of it as kubectl apply would: what the change would open or close on the cluster.

    \b
    Exit codes: 0 no change, 1 connections opened or closed, 2 usage or input error, or an
    incomplete answer (a kind could not be read from the cluster).
    """
    live = inputs.live
    want = 1 if live else 2
    if len(sides) != want:
        raise click.UsageError(
            "with --cluster/--snapshot give AFTER only (BEFORE is the cluster)" if live else "give BEFORE and AFTER"
        )
    base = _read(inputs.only_cluster().scan_options()) if live else None
    files = inputs.only_files()  # -f, --helm, --kustomize: added to both sides
    eb, lb = load_netpol(files.scan_options([] if live else [sides[0]], required=not live), cluster=base)
    ea, la = load_netpol(files.scan_options([sides[-1]]), cluster=base)
    result = diff(eb, ea, _namespace_filter(ctx, inputs.namespace))
    report.write_diff(result, fmt, sys.stdout)
    _warn(eb, lb, "before: ", incomplete=False)
    _warn(ea, la, "after: ")
    if lb.errors or la.errors or result.incomplete:
        sys.exit(2)
    sys.exit(1 if result.changed else 0)


@netpol_group.command("generate")
@click.argument("flows_file", metavar="FLOWS", type=click.Path(allow_dash=True))
@click.option(
    "-m",
    "--manifests",
    "manifests",
    multiple=True,
    metavar="PATH",
    help="The workloads' manifests: file or directory (repeatable; '-' for stdin).",
)
@input_options
@cluster_options(whole=True, packed=True)
@click.option(
    "--from-flows",
    "observed",
    is_flag=True,
    help="FLOWS is observed traffic: Hubble flow JSON lines (hubble observe -o json), not a flows file.",
)
@click.option("-o", "--format", "fmt", type=click.Choice(report.GENERATE_FORMATS), default="yaml", show_default=True)
@click.option("--output", type=click.File("w"), default=None, help="Write the policies to this file instead of stdout.")
def generate_cmd(
    flows_file: str,
    manifests: tuple[str, ...],
    inputs: Inputs,
    observed: bool,
    fmt: str,
    output: IO[str] | None,
) -> None:
    """NetworkPolicies that allow exactly the FLOWS between the workloads of the manifests: a
    default deny (ingress and egress) per namespace and allow policies with minimal label selectors,
    then the proof (the reachability engine's answer for the manifests plus the policies, compared
    with the flows) on stderr.

    \b
    FLOWS lines ('#' comments):
      frontend -> backend:8080/TCP        NAME, NAMESPACE/NAME or NAMESPACE/KIND/NAME
      backend -> db:5432                  TCP by default; several ports: db:5432,5433
      * -> kube-dns:53/UDP                * every workload of the covered namespaces; NS/* one namespace
      ingress-nginx -> frontend:8080      kube-dns, ingress-nginx: well-known when not in the manifests
      backend -> 0.0.0.0/0:443            CIDRs outside the cluster ([2001:db8::/32]:443 for IPv6)

    \b
    The workloads come from the manifests (-m, -f, --helm, --kustomize) or from a cluster
    (--cluster) or snapshot (--snapshot FILE), with the manifests applied on top.

    \b
    Exit codes: 0 the policies allow exactly the flows, 1 they do not (the difference and why on
    stderr), 2 usage or input error.
    """
    from ..analysis.netpol.generate import FlowError, flows_from_hubble, generate, parse_flows, prove

    opts = inputs.scan_options(manifests)
    base = _read(opts)  # the workloads of a cluster or snapshot (the manifests are applied on top)
    loaded = load_inputs(opts)
    if loaded.errors:
        for line in report.problem_lines((), loaded.errors):
            click.echo(line, err=True)
        sys.exit(2)
    objects = list(loaded.objects if base is None else apply_objects(base, loaded.objects).objects)
    try:
        with click.open_file(flows_file, "r", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{flows_file}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    notes: list[str] = []
    try:
        if observed:
            flows, notes = flows_from_hubble(text, objects, flows_file)
        else:
            flows = parse_flows(text, flows_file)
        if not flows:
            raise UsageError(f"{flows_file}: no flows")
        gen = generate(objects, flows)
    except FlowError as e:
        raise UsageError(str(e)) from None
    proof = prove(objects, gen)
    header = f"kubefort netpol generate {flows_file}: {len(gen.policies)} NetworkPolicies for {len(flows)} flow(s)"
    if observed:
        header += "\nflows observed:\n" + "\n".join(f"  {f.text()}" for f in flows)
    report.write_generated(gen, fmt, output or sys.stdout, header)
    sys.stdout.flush()
    for note in [*notes, *gen.notes]:
        click.echo(f"kubefort: note: {printable(note)}", err=True)
    for line in report.proof_lines(proof, len(flows)):
        click.echo(line, err=True)
    sys.exit(0 if proof.equal else 1)
