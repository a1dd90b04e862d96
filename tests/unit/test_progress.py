"""Progress on standard error: only on a terminal, off with --no-progress or TERM=dumb, no escape
sequence with NO_COLOR; the report on standard output is the same either way."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort.cli import cli, progress

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "examples" / "hardened-app")


def _scan(*args: str) -> tuple[str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", APP, "-o", "json", *args], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return r.stdout, r.stderr


def test_no_progress_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: False)
    _, err = _scan()
    assert "scanning" not in err and "scanned" not in err


def test_progress_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out, err = _scan()
    assert "kubefort: scanning..." in err and "\r\x1b[Kkubefort: scanned " in err
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: False)
    assert _scan()[0] == out  # the report does not depend on the progress line


def test_no_progress_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    _, err = _scan("--no-progress")
    assert "scann" not in err


def test_dumb_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    monkeypatch.setenv("TERM", "dumb")
    assert "scann" not in _scan()[1]


def test_no_color_means_no_escape_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    _, err = _scan()
    assert "kubefort: scanned " in err and "\x1b" not in err


def test_status_line_overwrites_with_spaces_under_no_color(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    line = progress.StatusLine()
    line.show("kubefort: reading pods (1/9 types)")
    line.show("kubefort: read")
    line.clear()
    err = capsys.readouterr().err
    assert "\x1b" not in err
    assert "\rkubefort: read" + " " * (len("kubefort: reading pods (1/9 types)") - len("kubefort: read")) in err


def test_every_cluster_command_has_no_progress() -> None:
    for args in (["scan"], ["rbac", "who-can"], ["netpol", "matrix"], ["cluster", "snapshot", "save"]):
        r = CliRunner().invoke(cli, [*args, "--help"])
        assert "--no-progress" in r.output, args


def test_table_respects_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from kubefort.api import ScanOptions, scan
    from kubefort.reporters.table import TableReporter

    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "")
    report = scan(ScanOptions(paths=[str(ROOT / "examples" / "insecure-app")]))

    colour = re.compile(r"\x1b\[[0-9;]*(?:3[0-7]|4[0-7]|9[0-7])m")  # foreground/background colours
    buf = io.StringIO()
    TableReporter(color=True).render(report, buf)  # a terminal
    assert not colour.search(buf.getvalue())
    monkeypatch.delenv("NO_COLOR")
    buf = io.StringIO()
    TableReporter(color=True).render(report, buf)
    assert colour.search(buf.getvalue())
