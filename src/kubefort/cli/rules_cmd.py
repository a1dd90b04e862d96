"""``kubefort rules``: list and explain the rules (the specification of every rule, implemented or
planned, is docs/catalogue.md)."""

from __future__ import annotations

import click

from ..engine.declaration import declaration
from ..reporters import rules as report
from ..rules import default_registry


@click.group("rules")
def rules_group() -> None:
    """The rule catalogue."""


@rules_group.command("list")
@click.option(
    "-o", "--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True
)
def list_cmd(fmt: str) -> None:
    """List every rule with its ID, severity and title."""
    metas = [r.meta for r in default_registry()]
    render = {"json": report.list_json, "markdown": report.list_markdown}.get(fmt, report.list_table)
    click.echo(render(metas), nl=False)


@rules_group.command("show")
@click.argument("rule_id")
def show_cmd(rule_id: str) -> None:
    """Explain one rule: what it checks, why it matters, how to fix it, where it is declared and tested."""
    rule = default_registry().get(rule_id)
    click.echo(report.show(rule.meta, declaration(rule)), nl=False)
