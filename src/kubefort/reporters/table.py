"""Human output: findings grouped by object, coloured by severity, with file:line and a one-line fix."""

from __future__ import annotations

from collections import defaultdict
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..engine.findings import Finding, Report
from ..engine.rule import Severity
from . import printable  # control characters from the scanned data never reach the terminal

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
# the same styles as SGR codes, for the findings themselves: written directly, since rich's markup
# parsing and rendering cost ~0.1 ms a line (20 s for the 50k findings of a 10k-object scan)
_SGR = {
    Severity.CRITICAL: "1;37;41",
    Severity.HIGH: "1;31",
    Severity.MEDIUM: "33",
    Severity.LOW: "36",
    Severity.INFO: "2",
}


class TableReporter:
    def __init__(self, color: bool | None = None, verbose: bool = False) -> None:
        self.color = color
        self.verbose = verbose

    def render(self, report: Report, out: IO[str]) -> None:
        con = Console(
            file=out,
            force_terminal=self.color if self.color is not None else None,
            no_color=self.color is False,
            width=max(100, Console(file=out).width),
            highlight=False,
            soft_wrap=True,
        )
        groups: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            if f.suppressed and not self.verbose:
                continue
            groups[str(f.object)].append(f)

        def group_key(item: tuple[str, list[Finding]]) -> tuple[str, int]:
            fs = item[1]
            return (fs[0].location.file, min(f.location.line or 0 for f in fs))

        color = con.color_system is not None and not con.no_color

        def sgr(code: str, text: str) -> str:
            return f"\x1b[{code}m{text}\x1b[0m" if color else text

        lines: list[str] = []
        for obj, fs in sorted(groups.items(), key=group_key):
            first = fs[0]
            lines.append(f"{sgr('1', printable(obj))}  {sgr('2', printable(first.location.file))}")
            for f in sorted(fs, key=lambda x: (-x.severity, x.location.line or 0, x.rule.id)):
                where = f"{f.location.file}:{f.location.line}" if f.location.line else f.location.file
                pss = " " + sgr("35", f"PSS {f.pss.level.value}: {printable(f.pss.control)}") if f.pss else ""
                sup = " " + sgr("2", f"(suppressed: {printable(f.suppression or '')})") if f.suppressed else ""
                lines.append(
                    f"  {sgr(_SGR[f.severity], f'{f.severity.label.upper():<8}')} {sgr('1', f.rule.id)} "
                    f"{printable(f.message)}{pss}{sup}"
                )
                lines.append(f"           {sgr('2', f'at {printable(where)}  {printable(f.path_str)}')}")
                lines.append(f"           {sgr('32', 'fix:')} {printable(f.rule.remediation)}")
            lines.append("")
            if len(lines) > 4000:
                out.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            out.write("\n".join(lines) + "\n")
        out.flush()
        for r in report.rule_errors:
            con.print(
                f"[bold red]rule error[/] {r.rule.id} on {escape(printable(str(r.object)))}: "
                f"{escape(printable(r.detail or ''))}"
            )
        for e in report.errors:
            con.print(f"[bold red]error[/] {escape(printable(e.diagnostics()))}")
        if self.verbose:
            for n in report.notes:
                con.print(f"[dim]note: {escape(printable(n))}[/]")
        self._summary(con, report)

    def _summary(self, con: Console, report: Report) -> None:
        s = report.summary()
        t = Table(title="Summary", show_header=True, header_style="bold", title_justify="left")
        t.add_column("severity")
        t.add_column("findings", justify="right")
        for sev in sorted(Severity, reverse=True):
            n = s["by_severity"][sev.label]
            t.add_row(f"[{_STYLE[sev]}]{sev.label}[/]", str(n))
        con.print(t)
        if s["by_area"]:
            con.print("by area: " + ", ".join(f"{a} {n}" for a, n in s["by_area"].items()))
        res = s["results"]
        con.print(
            f"{s['objects']} objects in {s['files']} files, {s['rules']} rules: "
            f"[green]{res['pass']} passed[/], [red]{res['fail']} failed[/], {res['suppressed']} suppressed, "
            f"{res['not_evaluated']} not evaluated, {res['error']} errors"
            + (
                f"; {s['hidden_below_min_severity']} findings below --min-severity hidden"
                if s["hidden_below_min_severity"]
                else ""
            )
        )
        if report.notes and not self.verbose:
            con.print(
                f"[dim]{len(report.notes)} notes (skipped documents, expired exceptions...): use -v to see them[/]"
            )
        code = s["exit_code"]
        verdict = {
            0: "[green]PASS[/]",
            1: f"[red]FAIL[/]: findings at or above {s['fail_on']}",
            2: "[red]ERROR[/]: some input could not be read",
            3: "[red]ERROR[/]: a rule crashed",
        }[code]
        con.print(f"result: {verdict} (exit code {code})")
