"""Every output grows linearly with the findings, however many objects share a kind, namespace and
name (kyverno's policies hold 113 copies of ``Pod/default/badpod01``: the JUnit report was 1.3 GB)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kubefort import api
from kubefort.reporters import Format, get_reporter

BAD_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: badpod01
spec:
  hostPID: true
  containers:
  - name: container01
    image: dummyimagename
    securityContext:
      privileged: true
      capabilities:
        add: [SYS_ADMIN]
"""


def _sizes(tmp_path: Path, copies: int) -> dict[str, int]:
    d = tmp_path / f"n{copies}"
    d.mkdir()
    for i in range(copies):
        (d / f"resource-{i:04d}.yaml").write_text(BAD_POD)
    report = api.scan(api.ScanOptions(paths=[str(d)], keep_passes=True))
    assert report.objects == copies and report.findings
    sizes = {}
    for fmt in Format:
        out = io.StringIO()
        get_reporter(fmt, color=False).render(report, out)
        sizes[fmt.value] = len(out.getvalue())
    return sizes


def test_outputs_grow_linearly_with_duplicate_objects(tmp_path: Path) -> None:
    small, large = _sizes(tmp_path, 10), _sizes(tmp_path, 40)
    for fmt in small:
        ratio = large[fmt] / small[fmt]
        # 4x the objects: ~4x the output (plus a fixed part); quadratic growth would give ~16x
        assert ratio < 4.5, (fmt, small[fmt], large[fmt], ratio)


@pytest.mark.parametrize("fmt", ["junit"])
def test_each_copy_lists_only_its_own_findings(tmp_path: Path, fmt: str) -> None:
    import xml.etree.ElementTree as ET

    for i in range(3):
        (tmp_path / f"copy-{i}.yaml").write_text(BAD_POD)
    report = api.scan(api.ScanOptions(paths=[str(tmp_path)], keep_passes=True))
    out = io.StringIO()
    get_reporter(Format(fmt)).render(report, out)
    cases = ET.fromstring(out.getvalue()).findall(".//testcase")
    failing = [c for c in cases if c.find("failure") is not None and c.get("name", "").startswith("KF-POD-001 ")]
    assert len(failing) == 3
    for i, c in enumerate(sorted(failing, key=lambda c: c.get("name", ""))):
        text = c.find("failure").text or ""  # type: ignore[union-attr]
        assert text.count("\n") == 0 and f"copy-{i}.yaml:11 " in text  # one finding: its own
        assert c.get("name") == f"KF-POD-001 Pod/default/badpod01 (copy-{i}.yaml:1)"
