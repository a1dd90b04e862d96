"""``kubefort versions`` output: each component's support status, the checks of the VER rules and the
upgrade path, as a table or a JSON document. SARIF and JUnit are the reporters of ``kubefort scan``
on the engine's report."""

from __future__ import annotations

import json
from typing import IO, Protocol

from rich.console import Console
from rich.markup import escape

from ..analysis.node import results as res
from ..analysis.node.results import VersionsResult
from . import Format, get_reporter, printable
from .node import SEV_STYLE, STATUS_STYLE, EngineReportOnly, console, flatten, safe

_COMPONENT_STYLE = {"supported": "green", "maintenance": "yellow", "end_of_life": "bold red", "unknown": "dim"}


class VersionsReporter(Protocol):
    def render(self, result: VersionsResult, out: IO[str]) -> None: ...


class VersionsJsonReporter:
    def render(self, result: VersionsResult, out: IO[str]) -> None:
        table, day = result.table, result.today
        items, found = flatten(result.checks)
        doc = {
            "schema": "kubefort/v1",
            "kind": "versions",
            "today": day.isoformat(),
            "release_table": {
                "source": table.source,
                "as_of": table.as_of.isoformat(),
                "stale": result.stale,
                "supported": [r.minor for r in table.supported(day)],
            },
            "read_from": result.read_from,
            "components": result.components,
            "results": items,
            "findings": found,
            "upgrade": result.upgrade,
            "summary": {"checks": res.counts(result.checks), **result.report.summary()},
        }
        out.write(json.dumps(doc, indent=2, default=str) + "\n")


class VersionsTableReporter:
    def __init__(self, color: bool | None = None) -> None:
        self.color = color

    def render(self, result: VersionsResult, out: IO[str]) -> None:
        con = console(out, self.color)
        day, table = result.today, result.table
        con.print(
            f"[bold]kubefort versions[/]  today {day}, release table {escape(table.source)} as of {table.as_of}"
            + (f"  [dim](read from {safe(result.read_from)})[/]" if result.read_from else "")
        )
        if result.stale:
            con.print("[yellow]the release table is more than 120 days old: update kubefort/data/k8s_releases.yaml[/]")
        con.print(
            "supported minors: "
            + ", ".join(
                f"{r.minor} (latest {r.latest_patch}, EOL {r.end_of_life}"
                + (", maintenance mode" if r.maintenance_mode and r.maintenance_mode <= day else "")
                + ")"
                for r in reversed(table.supported(day))
            )
        )
        con.print()
        for s in result.components:
            self._component(con, s)
        con.print()
        for c in result.checks:
            if c.status == "skip":
                continue
            st = f"[{STATUS_STYLE[c.status]}]{'[' + c.status.upper() + ']':<8}[/]"
            con.print(f"  {st} [bold]{c.rule.id}[/] {escape(c.rule.title)}")
            for f in c.findings:
                con.print(f"           [{SEV_STYLE[f.severity]}]{f.severity.label}[/]: {safe(f.message)}")
            if c.findings:
                con.print(f"           [green]fix:[/] {escape(c.rule.remediation)}")
            elif c.reason and c.status != "pass":
                con.print(f"           [dim]why: {safe(c.reason)}[/]")
        con.print()
        self._upgrade(con, result)

    def _component(self, con: Console, s: dict[str, object]) -> None:
        st = s.get("status")
        name = f" ({s['name']})" if s.get("name") else ""
        # padded first, then made safe: the columns line up as the text is shown
        line = escape(f"  {printable(str(s['component']) + name):<34} {printable(str(s['version'])):<10}")
        if isinstance(st, str):
            extra = {
                "end_of_life": f"end of life since {s.get('end_of_life')}",
                "maintenance": f"maintenance mode, end of life {s.get('end_of_life')}",
                "supported": f"supported until {s.get('end_of_life')}",
                "unknown": "newer than the release table",
            }[st]
            line += f" [{_COMPONENT_STYLE[st]}]{extra}[/]"
            if s.get("patches_behind"):
                line += f", {s['patches_behind']} patch(es) behind {s['latest_patch']}"
        con.print(line)

    def _upgrade(self, con: Console, result: VersionsResult) -> None:
        plan, report = result.upgrade, result.report
        if plan["path"]:
            con.print(
                "[bold]upgrade path[/] (the API server never skips a minor; take the latest patch of each): "
                + " -> ".join(
                    f"{p['minor']}" + (f" ({p['latest_patch']})" if p["latest_patch"] else "") for p in plan["path"]
                )
            )
            for b in plan["blockers"]:
                con.print(f"  [yellow]blocker:[/] {safe(b)}")
        elif any(s["component"] == "kube-apiserver" for s in result.components):
            con.print("[bold]upgrade path[/]: already on the newest supported minor")
        con.print("[bold]order for each step[/]: " + "; ".join(f"{i}. {o}" for i, o in enumerate(plan["order"], 1)))
        code = report.exit_code()
        verdict = {
            0: "[green]PASS[/]",
            1: f"[red]FAIL[/]: findings at or above {report.fail_on.label}",
            2: "[red]ERROR[/]",
            3: "[red]ERROR[/]: a rule crashed",
        }[code]
        con.print(f"result: {verdict} (exit code {code})")


def versions_reporter(fmt: Format, *, color: bool | None = None) -> VersionsReporter:
    if fmt is Format.TABLE:
        return VersionsTableReporter(color=color)
    if fmt is Format.JSON:
        return VersionsJsonReporter()
    return EngineReportOnly(get_reporter(fmt, color=color))
