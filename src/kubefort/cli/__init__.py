"""The ``kubefort`` command line: parse arguments, call the library, pick a reporter, set the exit code.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 internal/rule error.
"""

from __future__ import annotations

import logging
import sys

import click

from .. import __version__
from ..errors import KubefortError
from .etcd_cmd import backup_group, etcd_group
from .rbac_cmd import rbac_group
from .rules_cmd import rules_group
from .admission_cmd import admission_group, policy_group
from .netpol_cmd import netpol_group
from .node_cmd import node_group, versions_cmd
from .scan import scan_cmd


class _Group(click.Group):
    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KubefortError as e:
            click.echo(f"kubefort: error: {e.diagnostics()}", err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kubefort")
@click.option("--debug", is_flag=True, help="Log debugging details to stderr.")
def cli(debug: bool) -> None:
    """kubefort: Kubernetes security checks for manifests, charts and clusters.

    \b
    Examples:
      kubefort scan deploy/                     scan every YAML/JSON file below deploy/
      kubefort scan --helm charts/app -o json   render a Helm chart and scan it, JSON output
      kubefort scan --pss restricted app.yaml   judge Pod Security Standards like the admission controller
      kubefort rules list                       the rule catalogue
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


cli.add_command(scan_cmd)
cli.add_command(rules_group)
cli.add_command(rbac_group)
cli.add_command(etcd_group)
cli.add_command(backup_group)
cli.add_command(netpol_group)
cli.add_command(node_group)
cli.add_command(versions_cmd)
cli.add_command(admission_group)
cli.add_command(policy_group)


def main() -> None:
    try:
        cli.main(prog_name="kubefort", standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("kubefort: interrupted", err=True)
        sys.exit(130)
