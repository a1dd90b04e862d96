"""``kubefort completion bash|zsh|fish``: the shell's completion script, from click's shell completion.

The script calls ``kubefort`` back with ``_KUBEFORT_COMPLETE=<shell>_complete`` in the environment;
click answers with the commands, options and choices of the current command line (commands are
imported lazily, so completing is as fast as ``kubefort --help``).
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")


def complete_var(prog_name: str) -> str:
    """The environment variable click's completion uses for ``prog_name`` (``_KUBEFORT_COMPLETE``)."""
    return "_{}_COMPLETE".format(prog_name.replace("-", "_").replace(" ", "_").upper())


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def completion_cmd(shell: str) -> None:
    """Print the shell completion script for SHELL.

    \b
    bash:  eval "$(kubefort completion bash)"        (in ~/.bashrc)
    zsh:   eval "$(kubefort completion zsh)"         (in ~/.zshrc, after compinit)
    fish:  kubefort completion fish > ~/.config/fish/completions/kubefort.fish
    """
    ctx = click.get_current_context()
    root = ctx.find_root()
    prog = "kubefort"
    cls = get_completion_class(shell)
    assert cls is not None  # the choice holds only shells click knows
    click.echo(cls(root.command, {}, prog, complete_var(prog)).source())
