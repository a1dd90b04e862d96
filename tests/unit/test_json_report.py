"""The streamed JSON report is exactly the ``kubefort/v1`` dict form, finding by finding."""

from __future__ import annotations

import io
import json
from pathlib import Path

from kubefort import api
from kubefort.engine.findings import Finding, Report
from kubefort.engine.rule import PssControl, PssLevel
from kubefort.model.source import Location
from kubefort.reporters.json_report import JsonReporter, _Encoder, finding_dict, report_dict

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "rules" / "fixtures"


def _scan(*paths: Path, pss: str | None = None) -> Report:
    return api.scan(api.ScanOptions(paths=[str(p) for p in paths], pss=pss))


def test_stream_equals_dict_form_on_every_fixture() -> None:
    report = _scan(FIXTURES, ROOT / "examples" / "insecure-app", pss="restricted")
    assert len(report.findings) > 500
    buf = io.StringIO()
    JsonReporter().render(report, buf)
    doc = json.loads(buf.getvalue())
    assert doc == json.loads(json.dumps(report_dict(report), default=str))


def test_encoder_is_byte_identical_to_json_dumps_on_odd_values() -> None:
    base = _scan(ROOT / "examples" / "insecure-app").findings[0]
    enc = _Encoder()
    variants = [
        base,
        Finding(
            rule=base.rule,
            object=base.object,
            path=("metadata", "annotations", 'we"ird/ké\\y', 0),
            message='quote " backslash \\ newline \n tab \t unicode é ☃ \u2028 control \x01',
            severity=base.severity,
            location=Location(file='dir/fi"le ☃.yaml', line=None, template="t/x.yaml"),
            subcode="sub",
            fix=({"op": "add", "path": "/spec/x", "value": {"a": [1, None, True]}},),
            suppressed=True,
            suppression='annotation: reason with "quotes"',
            pss=PssControl(level=PssLevel.BASELINE, control="Privileged Containers", check_id="privileged"),
        ),
    ]
    ref = json.JSONEncoder(default=str, ensure_ascii=False).encode
    for f in variants:
        assert enc.finding(f) == ref(finding_dict(f))
        assert enc.finding(f) == ref(finding_dict(f))  # cached pieces give the same text
