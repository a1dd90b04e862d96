"""JUnit XML: one test case per rule and object, passes included, so CI dashboards show coverage."""

from __future__ import annotations

from collections import defaultdict
from typing import IO
from xml.etree import ElementTree as ET

from ..engine.findings import Finding, Report, Status


class JunitReporter:
    def render(self, report: Report, out: IO[str]) -> None:
        suites: dict[str, list[ET.Element]] = defaultdict(list)
        by_pair: dict[tuple[str, str], list[Finding]] = defaultdict(list)
        for f in report.findings:
            by_pair[(f.rule.id, str(f.object))].append(f)
        for r in report.results:
            name = f"{r.rule.id} {r.object}"
            case = ET.Element("testcase", classname=f"kubefort.{r.rule.area}.{r.rule.id}", name=name)
            fs = by_pair.get((r.rule.id, str(r.object)), [])
            if r.status is Status.FAIL:
                active = [f for f in fs if not f.suppressed]
                el = ET.SubElement(
                    case,
                    "failure",
                    message=f"{r.rule.title}",
                    type=max(f.severity for f in active).label if active else r.rule.severity.label,
                )
                el.text = "\n".join(
                    f"{f.location.file}:{f.location.line or '-'} {f.path_str}: {f.message}. Fix: {f.rule.remediation}"
                    for f in active
                )
            elif r.status is Status.SUPPRESSED:
                ET.SubElement(
                    case, "skipped", message="suppressed: " + "; ".join(sorted({f.suppression or "" for f in fs}))
                )
            elif r.status is Status.NOT_EVALUATED:
                ET.SubElement(case, "skipped", message=f"not evaluated: {r.detail}")
            elif r.status is Status.ERROR:
                el = ET.SubElement(case, "error", message=r.detail or "rule error")
            suites[r.rule.area].append(case)
        for meta, ref, _ in report.passes:
            suites[meta.area].append(
                ET.Element("testcase", classname=f"kubefort.{meta.area}.{meta.id}", name=f"{meta.id} {ref}")
            )
        root = ET.Element("testsuites", name="kubefort")
        for e in report.errors:
            s = ET.SubElement(root, "testsuite", name="input", tests="1", failures="0", errors="1")
            c = ET.SubElement(s, "testcase", classname="kubefort.input", name=e.file)
            ET.SubElement(c, "error", message=e.diagnostics())
        for area in sorted(suites):
            cases = suites[area]
            s = ET.SubElement(
                root,
                "testsuite",
                name=f"kubefort.{area}",
                tests=str(len(cases)),
                failures=str(sum(1 for c in cases if c.find("failure") is not None)),
                errors=str(sum(1 for c in cases if c.find("error") is not None)),
                skipped=str(sum(1 for c in cases if c.find("skipped") is not None)),
            )
            s.extend(cases)
        ET.indent(root)
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(ET.tostring(root, encoding="unicode"))
        out.write("\n")
