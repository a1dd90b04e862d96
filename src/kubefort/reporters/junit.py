"""JUnit XML: one test case per rule and object, passes included, so CI dashboards show coverage.

A failing case lists its own findings (``Result.findings``), so the output grows with the results
and findings, however many objects share a name; objects of the same kind, namespace and name in
several files are separate cases, named with their file and line so that dashboards keep them apart.
The XML is written case by case as ``ElementTree.indent`` + ``tostring`` would lay it out (the
element tree of a large scan took 600 MB).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import IO

from ..engine.findings import Report, Result, Status
from ..engine.rule import RuleMeta
from ..model.objects import ObjectRef
from ..model.source import Location
from . import display_path

Pass = tuple[RuleMeta, ObjectRef, "Location | None"]
CaseName = Callable[[str, ObjectRef, "Location | None"], str]


def _text(s: str) -> str:
    """Character data, escaped as ElementTree does."""
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    return s


def _attr(s: str) -> str:
    """An attribute value, escaped as ElementTree does (line breaks and tabs as character references)."""
    s = _text(s)
    if '"' in s:
        s = s.replace('"', "&quot;")
    if "\r" in s:
        s = s.replace("\r", "&#13;")
    if "\n" in s:
        s = s.replace("\n", "&#10;")
    if "\t" in s:
        s = s.replace("\t", "&#09;")
    return s


def _tag(name: str, attrs: dict[str, str], indent: str, text: str | None = None, open_: bool = False) -> str:
    a = "".join(f' {k}="{_attr(v)}"' for k, v in attrs.items())
    if open_:
        return f"{indent}<{name}{a}>"
    if text:
        return f"{indent}<{name}{a}>{_text(text)}</{name}>"
    return f"{indent}<{name}{a} />"


class JunitReporter:
    def render(self, report: Report, out: IO[str]) -> None:
        origins: dict[str, set[Location | None]] = defaultdict(set)
        suites: dict[str, list[Result | Pass]] = defaultdict(list)
        for r in report.results:
            origins[str(r.object)].add(r.location)
            suites[r.rule.area].append(r)
        for p in report.passes:
            origins[str(p[1])].add(p[2])
            suites[p[0].area].append(p)

        def case_name(rule_id: str, ref: ObjectRef, loc: Location | None) -> str:
            name = f"{rule_id} {ref}"
            if loc is not None and len(origins[str(ref)]) > 1:  # the same name elsewhere too
                name += f" ({display_path(loc.file, report.root)}{f':{loc.line}' if loc.line else ''})"
            return name

        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        if not report.errors and not suites:
            out.write('<testsuites name="kubefort" />\n')
            return
        out.write('<testsuites name="kubefort">\n')
        for e in report.errors:
            out.write(
                "\n".join(
                    [
                        _tag(
                            "testsuite",
                            {"name": "input", "tests": "1", "failures": "0", "errors": "1"},
                            "  ",
                            open_=True,
                        ),
                        _tag("testcase", {"classname": "kubefort.input", "name": e.file}, "    ", open_=True),
                        _tag("error", {"message": e.diagnostics()}, "      "),
                        "    </testcase>",
                        "  </testsuite>\n",
                    ]
                )
            )
        for area in sorted(suites):
            cases = suites[area]
            status = [c.status for c in cases if isinstance(c, Result)]
            attrs = {
                "name": f"kubefort.{area}",
                "tests": str(len(cases)),
                "failures": str(status.count(Status.FAIL)),
                "errors": str(status.count(Status.ERROR)),
                "skipped": str(sum(1 for s in status if s in (Status.SUPPRESSED, Status.NOT_EVALUATED))),
            }
            out.write(_tag("testsuite", attrs, "  ", open_=True) + "\n")
            buf: list[str] = []
            for c in cases:
                buf.extend(self._case(c, case_name))
                if len(buf) >= 4000:
                    out.write("\n".join(buf) + "\n")
                    buf.clear()
            if buf:
                out.write("\n".join(buf) + "\n")
            out.write("  </testsuite>\n")
        out.write("</testsuites>\n")

    @staticmethod
    def _case(c: Result | Pass, case_name: CaseName) -> Iterator[str]:
        if not isinstance(c, Result):
            meta, ref, loc = c
            yield _tag(
                "testcase",
                {"classname": f"kubefort.{meta.area}.{meta.id}", "name": case_name(meta.id, ref, loc)},
                "    ",
            )
            return
        r = c
        attrs = {"classname": f"kubefort.{r.rule.area}.{r.rule.id}", "name": case_name(r.rule.id, r.object, r.location)}
        fs = r.findings
        if r.status is Status.FAIL:
            active = [f for f in fs if not f.suppressed]
            text = "\n".join(
                f"{f.location.file}:{f.location.line or '-'} {f.path_str}: {f.message}. Fix: {f.rule.remediation}"
                for f in active
            )
            sev = max(f.severity for f in active).label if active else r.rule.severity.label
            child = _tag("failure", {"message": r.rule.title, "type": sev}, "      ", text)
        elif r.status is Status.SUPPRESSED:
            reasons = "; ".join(sorted({f.suppression or "" for f in fs}))
            child = _tag("skipped", {"message": "suppressed: " + reasons}, "      ")
        elif r.status is Status.NOT_EVALUATED:
            child = _tag("skipped", {"message": f"not evaluated: {r.detail}"}, "      ")
        elif r.status is Status.ERROR:
            child = _tag("error", {"message": r.detail or "rule error"}, "      ")
        else:
            yield _tag("testcase", attrs, "    ")
            return
        yield _tag("testcase", attrs, "    ", open_=True)
        yield child
        yield "    </testcase>"
