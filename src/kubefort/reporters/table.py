"""Human output: root causes grouped by object, coloured by severity, with line and a one-line fix.

Each object is a heading with its file (relative to the scanned root, :func:`display_path`) and line;
its findings follow as root causes (:func:`kubefort.engine.findings.root_causes`): one line per
cause, the most severe rule first, the other rules that report the same value listed with it. The
machine formats keep every rule's finding. Errors are not part of the table: the CLI writes them to
standard error (:func:`kubefort.reporters.error_lines`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..engine.findings import Finding, Report, RootCause, root_causes
from ..engine.rule import RuleMeta, Severity
from ..model.objects import ObjectRef
from ..model.source import Location
from . import display_path, printable  # control characters from the scanned data never reach the terminal
from .json_report import pod_counts

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
# the same styles as SGR codes, for the findings themselves: written directly, since rich's markup
# parsing and rendering cost ~0.1 ms a line (20 s for the 50k findings of a 10k-object scan)
Paint = Callable[[str, str], str]  # (SGR code, text) -> text, styled when colours are on

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
            no_color=True if self.color is False else None,  # None: rich reads NO_COLOR
            width=max(100, Console(file=out).width),
            highlight=False,
            soft_wrap=True,
        )
        causes = root_causes(report.active_findings)
        shown: list[RootCause] = list(causes)
        if self.verbose:  # suppressed findings, each on its own
            shown += [RootCause(f) for f in report.findings if f.suppressed]
        # one heading per object: the same kind/namespace/name in two files is two objects
        groups: dict[tuple[ObjectRef, Location | None], list[RootCause]] = defaultdict(list)
        for c in shown:
            groups[(c.head.object, c.head.origin)].append(c)

        def where(cs: list[RootCause]) -> Location:
            return cs[0].head.origin or min((c.head.location for c in cs), key=lambda loc: loc.line or 0)

        def group_key(item: tuple[tuple[ObjectRef, Location | None], list[RootCause]]) -> tuple[str, int, str]:
            loc = where(item[1])
            return (loc.file, loc.line or 0, str(item[0][0]))

        color = con.color_system is not None and not con.no_color

        def sgr(code: str, text: str) -> str:
            return f"\x1b[{code}m{text}\x1b[0m" if color else text

        root = report.root
        pods = pod_counts(report)  # cluster mode: the Pods a workload stands for
        lines: list[str] = []
        for (obj, _), cs in sorted(groups.items(), key=group_key):
            loc = where(cs)
            file = display_path(loc.file, root)
            head = f"{file}:{loc.line}" if loc.line and cs[0].head.origin else file
            stands_for = pods.get(obj)
            count = f" ({stands_for} pod{'s' if stands_for > 1 else ''})" if stands_for else ""
            lines.append(f"{sgr('1', printable(str(obj)))}{count}  {sgr('2', printable(head))}")
            for c in sorted(cs, key=lambda x: (-x.head.severity, x.head.location.line or 0, x.head.rule.id)):
                lines += self._cause(c, loc.file, root, sgr)
            lines.append("")
            if len(lines) > 4000:
                out.write("\n".join(lines) + "\n")
                lines.clear()
        if lines:
            out.write("\n".join(lines) + "\n")
        out.flush()
        if self.verbose:
            for n in report.notes:
                con.print(f"[dim]note: {escape(printable(n))}[/]")
        self._summary(con, report, causes)

    @staticmethod
    def _cause(c: RootCause, file: str, root: str | None, paint: Paint) -> list[str]:
        f = c.head
        loc = f.location
        if loc.file != file:  # not the object's own file (never for the engine's findings)
            at = display_path(loc.file, root) + (f":{loc.line}" if loc.line else "")
        else:
            at = f"line {loc.line}" if loc.line else ""
        pss = " " + paint("35", f"PSS {f.pss.level.value}: {printable(f.pss.control)}") if f.pss else ""
        sup = " " + paint("2", f"(suppressed: {printable(f.suppression or '')})") if f.suppressed else ""
        out = [
            f"  {paint(_SGR[f.severity], f'{f.severity.label.upper():<8}')} {paint('1', f.rule.id)} "
            f"{printable(f.message)}{pss}{sup}",
            f"           {paint('2', printable(f'at {at}  {f.path_str}' if at else f'at {f.path_str}'))}",
        ]
        also = [a for a in _distinct_rules(c.also) if a.rule.id != f.rule.id]
        if also:
            out.append(
                f"           {paint('2', 'same cause: ' + ', '.join(f'{a.rule.id} ({a.severity.label})' for a in also))}"
            )
        out.append(f"           {paint('32', 'fix:')} {printable(f.rule.remediation)}")
        return out

    def _summary(self, con: Console, report: Report, causes: list[RootCause]) -> None:
        s = report.summary(causes)
        t = Table(title="Summary", show_header=True, header_style="bold", title_justify="left")
        t.add_column("severity")
        t.add_column("causes", justify="right")
        t.add_column("findings", justify="right")
        for sev in sorted(Severity, reverse=True):
            t.add_row(
                f"[{_STYLE[sev]}]{sev.label}[/]",
                str(s["root_causes"]["by_severity"][sev.label]),
                str(s["by_severity"][sev.label]),
            )
        con.print(t)
        if s["by_area"]:
            con.print("by area: " + ", ".join(f"{a} {n}" for a, n in s["by_area"].items()))
        self._by_rule(con, report, causes)
        res = s["results"]
        under = f" under {escape(printable(report.root))}" if report.root else ""
        con.print(
            f"{s['objects']} objects in {s['files']} files{under}, {s['rules']} rules: "
            f"[green]{res['pass']} passed[/], [red]{res['fail']} failed[/], {res['suppressed']} suppressed, "
            f"{res['not_evaluated']} not evaluated, {res['error']} errors"
            + (
                f"; {s['hidden_below_min_severity']} findings below --min-severity hidden"
                if s["hidden_below_min_severity"]
                else ""
            )
        )
        if s["root_causes"]["total"] != s["findings"]:
            con.print(
                f"{s['root_causes']['total']} root causes: {s['findings'] - s['root_causes']['total']} findings "
                "report the same value as a more severe one of the same object, and are listed with it "
                "(JSON and SARIF keep every finding)"
            )
        if report.duplicates:
            con.print(
                f"{report.duplicates} objects are defined more than once (same kind, namespace and name): each "
                "copy is shown with its file; rules that look across objects use the first copy"
                + ("" if self.verbose else " (-v lists them)")
            )
        if report.notes and not self.verbose:
            con.print(
                f"[dim]{len(report.notes)} notes (skipped documents, duplicates, expired exceptions...): use -v to see them[/]"
            )
        code = s["exit_code"]
        errors = f"{s['errors']} input errors" if s["errors"] else ""
        verdict = {
            0: "[green]PASS[/]",
            1: f"[red]FAIL[/]: findings at or above {s['fail_on']}",
            2: f"[red]ERROR[/]: some input could not be read ({errors}, on standard error)",
            3: f"[red]ERROR[/]: a rule crashed ({s['rule_errors']} rule errors, on standard error)",
        }[code]
        con.print(f"result: {verdict} (exit code {code})")

    @staticmethod
    def _by_rule(con: Console, report: Report, causes: list[RootCause]) -> None:
        """Per rule: the causes it heads and all its findings (plain lines: no padding to the width)."""
        heads = Counter(c.head.rule.id for c in causes)
        findings = Counter(f.rule.id for f in report.active_findings)
        metas: dict[str, RuleMeta] = {f.rule.id: f.rule for f in report.active_findings}
        if not metas:
            return
        lines = [f"{'rule':<12} {'causes':>6} {'findings':>8}  title"]
        for rid in sorted(metas, key=lambda r: (-heads[r], -findings[r], r)):
            lines.append(f"{rid:<12} {heads[rid]:>6} {findings[rid]:>8}  {printable(metas[rid].title)}")
        con.file.write("\n".join(lines) + "\n")


def _distinct_rules(fs: tuple[Finding, ...]) -> list[Finding]:
    """One finding per rule (a rule can report the same value twice, e.g. for two sub-codes)."""
    seen: set[str] = set()
    out = []
    for f in fs:
        if f.rule.id not in seen:
            seen.add(f.rule.id)
            out.append(f)
    return out
