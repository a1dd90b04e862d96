"""The ``kubefort`` command line: parse arguments, call the library, pick a reporter, set the exit code.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or input error, 3 internal/rule error.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .. import __version__
from ..errors import KubefortError

#: command name -> (module, attribute): a command's module is imported only when it runs (or for
#: --help), so ``kubefort scan`` does not pay for the etcd, RBAC and node command modules.
COMMANDS = {
    "scan": ("scan", "scan_cmd"),
    "rules": ("rules_cmd", "rules_group"),
    "rbac": ("rbac_cmd", "rbac_group"),
    "etcd": ("etcd_cmd", "etcd_group"),
    "backup": ("backup_cmd", "backup_group"),
    "netpol": ("netpol_cmd", "netpol_group"),
    "access": ("access_cmd", "access_group"),
    "graph": ("graph_cmd", "graph_group"),
    "node": ("node_cmd", "node_group"),
    "versions": ("node_cmd", "versions_cmd"),
    "admission": ("admission_cmd", "admission_group"),
    "policy": ("policy_cmd", "policy_group"),
    "cluster": ("cluster_cmd", "cluster_group"),
    "deploy": ("deploy_cmd", "deploy_group"),
    "watch": ("watch_cmd", "watch_cmd"),
    "image": ("image_cmd", "image_group"),
    "vulndb": ("image_cmd", "vulndb_group"),
    "dockerfile": ("image_cmd", "dockerfile_group"),
    "completion": ("completion_cmd", "completion_cmd"),
    "fix": ("fix_cmd", "fix_cmd"),
}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in COMMANDS and name not in self.commands:
            module, attr = COMMANDS[name]
            cmd = getattr(importlib.import_module(f".{module}", __name__), attr)
            assert cmd.name == name, (cmd.name, name)
            self.add_command(cmd)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)
        except KubefortError as e:
            from ..reporters import printable  # messages quote file names and values of the input

            click.echo(f"kubefort: error: {printable(e.diagnostics())}", err=True)
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


def main(prog_name: str = "kubefort") -> None:
    try:
        cli.main(prog_name=prog_name, standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("kubefort: interrupted", err=True)
        _hard_exit(130)
    except SystemExit as e:
        _hard_exit(e.code)
    _hard_exit(0)


def kubectl_main() -> None:
    """``kubectl-kubefort``: kubectl runs an executable ``kubectl-NAME`` on the PATH as ``kubectl NAME``
    (its plugin convention), so ``kubectl kubefort scan ...`` is ``kubefort scan ...``."""
    main(prog_name="kubectl kubefort")


def _hard_exit(code: int | str | None) -> None:
    """Exit without tearing the heap down object by object.

    After a large scan the interpreter's shutdown (a final garbage collection, then freeing millions
    of parsed nodes, views and findings one by one) takes about a second for 10k objects, longer than
    the rule evaluation of some inputs. Everything that matters at exit is done here instead: atexit
    handlers (logging, temporary directories), then the standard streams are flushed (mypy's
    ``hard_exit`` does the same).
    """
    if isinstance(code, str):
        click.echo(code, err=True)
        code = 1
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed pipe (| head) or closed stream: nothing more to write
            code = code or 0
    os._exit(code or 0)
