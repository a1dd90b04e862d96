"""``kubefort deploy``: manifests that run kubefort inside a cluster (docs/cluster.md)."""

from __future__ import annotations

import sys
from typing import IO

import click

from ..incluster.manifests import DeployOptions, check_schedule, deployment, render
from ..reporters.openreports import OPENREPORTS
from ..reporters.policyreport import POLICYREPORT
from ..rules import default_registry
from .options import split_values


@click.group("deploy")
def deploy_group() -> None:
    """Run kubefort inside a cluster: scheduled scans or a watch that keeps reports current."""


@deploy_group.command("manifests")
@click.option("--namespace", default="kubefort", show_default=True, help="Namespace kubefort runs in.")
@click.option(
    "--image", default=DeployOptions().image, show_default=True, help="kubefort image (pin it: REPO@sha256:DIGEST)."
)
@click.option(
    "--schedule",
    default="17 * * * *",
    show_default=True,
    metavar="CRON",
    help="When the CronJob scans and applies the reports.",
)
@click.option("--watch", "watch", is_flag=True, help="A Deployment running 'kubefort watch' instead of the CronJob.")
@click.option(
    "--with-secrets",
    is_flag=True,
    help="Let kubefort read Secrets (the secret-content rules); without it, no Secret access and those rules are skipped.",
)
@click.option(
    "--reports",
    type=click.Choice(["openreports", "policyreport"]),
    default="openreports",
    show_default=True,
    help="The report API written: openreports.io Reports or wgpolicyk8s.io PolicyReports.",
)
@click.option("--rules", multiple=True, metavar="IDS", help="Run only these rules (the ClusterRole follows).")
@click.option("--skip-rules", multiple=True, metavar="IDS", help="Do not run these rules (the ClusterRole follows).")
@click.option(
    "--api-server-cidr",
    multiple=True,
    metavar="CIDR",
    help="Where the API server is, for the NetworkPolicy (repeatable).  [default: any address, ports 443 and 6443]",
)
@click.option("--output", type=click.File("w"), default=None, help="Write the manifests to this file.")
def deploy_manifests(
    namespace: str,
    image: str,
    schedule: str,
    watch: bool,
    with_secrets: bool,
    reports: str,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    api_server_cidr: tuple[str, ...],
    output: IO[str] | None,
) -> None:
    """Print the manifests that run kubefort in a cluster: a namespace, a ServiceAccount, a read-only
    ClusterRole for exactly the resource types the rules read, the permissions to write its reports,
    a CronJob that scans and applies the reports (or, with --watch, a Deployment running kubefort
    watch), and NetworkPolicies (egress to the API server and DNS only).

    \b
    The report CRDs must be installed (OpenReports, or wgpolicyk8s.io PolicyReports).
    """
    try:
        check_schedule(schedule)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--schedule") from None
    opts = DeployOptions(
        namespace=namespace,
        image=image,
        schedule=schedule,
        watch=watch,
        with_secrets=with_secrets,
        reports=POLICYREPORT if reports == "policyreport" else OPENREPORTS,
        rules=tuple(split_values(rules)),
        skip_rules=tuple(split_values(skip_rules)),
        api_server_cidrs=api_server_cidr,
    )
    try:
        docs, grants = deployment(opts, default_registry())
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    (output or sys.stdout).write(render(docs, grants))
