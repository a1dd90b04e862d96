"""The table output: colours only on terminals, and nothing from the scanned data reaches the terminal
as a control sequence."""

from __future__ import annotations

import io
import re

from kubefort.api import ScanOptions, scan_inventory
from kubefort.engine.config import Config
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.reporters.table import TableReporter

HOSTILE = """\
apiVersion: v1
kind: Pod
metadata:
  name: trap
  namespace: shop
spec:
  containers:
  - name: app
    image: "evil.example.com/app:1.0\\e[2J\\e]0;owned\\a"
    securityContext:
      privileged: true
"""


def _render(color: bool | None) -> str:
    loaded = load_text(HOSTILE, "trap.yaml")
    assert not loaded.errors
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=Config())
    out = io.StringIO()
    TableReporter(color=color).render(report, out)
    return out.getvalue()


def test_plain_output_has_no_escape_sequences() -> None:
    text = _render(False)
    assert "KF-POD-001" in text and "Pod/shop/trap  trap.yaml:1\n" in text and "at line 11 " in text
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J" in text  # the image's escape shown, not sent


def test_coloured_output_sends_only_its_own_styles() -> None:
    text = _render(True)
    assert "\x1b[1;37;41mCRITICAL" in text
    # every escape in the output starts an SGR sequence of ours; the data's are neutralised
    assert not re.search(r"\x1b(?!\[[0-9;]*m)", text)
    assert "\x07" not in text and "\\x1b]0;owned" in text


def test_errors_and_notes_show_control_characters_escaped() -> None:
    """Load errors, rule errors and notes quote file names and values of the input too. Errors are
    not part of the table: the CLI writes ``error_lines`` to standard error for every format."""
    from kubefort.engine.findings import Result, Status
    from kubefort.errors import LoadError
    from kubefort.reporters import error_lines

    loaded = load_text(HOSTILE + "---\n- not\n- an object\n", "trap\x1b[2J.yaml")
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=Config())
    report.errors.append(LoadError("bad\x1b]0;owned\x07.yaml", "not UTF-8 text (byte 3)"))
    report.notes[:0] = loaded.notes
    first = report.findings[0]
    report.results.append(
        Result(rule=first.rule, object=first.object, status=Status.ERROR, detail="KeyError at x\x1b[5m.py:1")
    )
    out = io.StringIO()
    TableReporter(color=False, verbose=True).render(report, out)
    text = out.getvalue()
    errors = "\n".join(error_lines(report))
    assert "\x1b" not in text and "\x07" not in text
    assert "\x1b" not in errors and "\x07" not in errors
    assert "error: bad\\x1b]0;owned\\x07.yaml: not UTF-8 text (byte 3)" in errors
    assert "note: trap\\x1b[2J.yaml" in text
    assert "KeyError at x\\x1b[5m.py:1" in errors
    assert "not UTF-8" not in text and "KeyError" not in text  # not in the table on standard output
