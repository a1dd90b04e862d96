"""``kubefort fix``: apply the rules' declared fixes to manifests, keeping their formatting."""

from __future__ import annotations

import sys

import click

from ..reporters import fix_report
from .options import split_values


@click.command("fix")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--diff/--write", "show_diff", default=True, help="Print a unified diff (default) or edit in place.")
@click.option("--rules", multiple=True, metavar="IDS", help="Fix only these rules' findings (comma-separated).")
@click.option("--skip-rules", multiple=True, metavar="IDS", help="Do not fix these rules' findings.")
@click.option("--min-severity", default=None, metavar="LEVEL", help="Fix only findings of this severity or above.")
@click.option(
    "--include-opt-in",
    "--unsafe",
    "include_opt_in",
    is_flag=True,
    help="Also apply fixes that can stop a workload from starting (runAsNonRoot, read-only root filesystem...).",
)
@click.option("--config", default=None, metavar="FILE", help="kubefort config file (default: found as scan finds it).")
@click.option("--values", "helm_values", multiple=True, metavar="FILE", help="Values file for the Helm charts.")
@click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace assumed for objects that name none."
)
@click.option(
    "-o",
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document on stdout (the fields edited per file, findings removed, appeared and left "
    "for a human) instead of the diff and the report.",
)
def fix_cmd(
    paths: tuple[str, ...],
    show_diff: bool,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    min_severity: str | None,
    include_opt_in: bool,
    config: str | None,
    namespace: str,
    helm_values: tuple[str, ...],
    fmt: str,
) -> None:
    """Fix the findings of PATH... whose rules declare a mechanical fix, then scan the result again.

    A Helm chart directory is not edited: the template lines (and the values keys they read) to change
    are printed. A Kustomize directory gets a patch file for its patches: list, never an edited base.

    Prints the edits as a diff unless --write; reports the findings removed, any that appeared, and those
    that need a human and why. Exit code 1 when a finding appeared, 2 on input errors, else 0.
    """
    from ..fix import FixOptions, fix_paths

    opts = FixOptions(
        paths=list(paths),
        rules=split_values(rules),
        skip_rules=split_values(skip_rules),
        min_severity=min_severity,
        include_opt_in=include_opt_in,
        config=config,
        namespace=namespace,
        helm_values=list(helm_values),
    )
    result = fix_paths(opts, write=not show_diff)
    if fmt == "json":
        sys.stdout.write(fix_report.as_json(result, written=not show_diff))
    else:
        if show_diff:
            sys.stdout.write(fix_report.diff(result))
        for line in fix_report.summary_lines(result, written=not show_diff):
            click.echo(line, err=True)
    if result.errors:
        sys.exit(2)
    if result.appeared:
        sys.exit(1)
