"""``kubefort policy export``: kubefort rules as ValidatingAdmissionPolicies or Kyverno ClusterPolicies."""

from __future__ import annotations

import sys
from typing import IO

import click

from ..reporters import admission as report
from .options import split_values


@click.group("policy")
def policy_group() -> None:
    """Export kubefort rules as native admission policies (ValidatingAdmissionPolicy, Kyverno,
    MutatingAdmissionPolicy)."""


@policy_group.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["vap", "kyverno", "kyverno-legacy", "mutating"]),
    required=True,
    help="vap: ValidatingAdmissionPolicy + binding (CEL); kyverno: Kyverno CEL ValidatingPolicy "
    "(policies.kyverno.io/v1); kyverno-legacy: Kyverno ClusterPolicy (kyverno.io/v1); mutating: "
    "MutatingAdmissionPolicy + binding applying the rules' safe fixes to pods (--action does not apply).",
)
@click.option(
    "--rules", "rules", multiple=True, metavar="IDS", help="Only these rules (comma-separated; default: all)."
)
@click.option(
    "--action",
    type=click.Choice(["deny", "warn", "audit"]),
    default="deny",
    show_default=True,
    help="What the policies do on a violation (validationActions / Kyverno failureAction).",
)
@click.option("--output", type=click.File("w"), default=None, help="Write the YAML to this file instead of stdout.")
def export_cmd(fmt: str, rules: tuple[str, ...], action: str, output: IO[str] | None) -> None:
    """Write policies for every selected rule that the format can express; list the others on stderr."""
    from ..admission.policy_export import export_selected

    result = export_selected(split_values(rules) if rules else None, fmt, action=action)
    (output or sys.stdout).write(result.yaml)
    for line in report.export_summary(fmt, result.exported, result.unsupported):
        click.echo(line, err=True)
