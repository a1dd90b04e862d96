"""Every rule is declared with its literal ID, and ``kubefort rules show`` names that file and line
and the rule's fixture directory (docs/writing-rules.md)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort.cli import cli
from kubefort.engine import declaration as decl_mod
from kubefort.engine.declaration import declaration
from kubefort.engine.rule import Rule, Scope, Severity, Violation, rule
from kubefort.reporters.rules import show
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
RULES = list(default_registry(plugins=False))


def _show(key: str) -> str:
    r = CliRunner(mix_stderr=False).invoke(cli, ["rules", "show", key], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("r", RULES, ids=lambda r: r.meta.id)
def test_rule_declared_with_literal_id_and_shown(r: Rule) -> None:
    source = Path(inspect.getsourcefile(r.fn) or "").resolve()
    literal = f'id="{r.meta.id}"'
    lines = [n for n, text in enumerate(source.read_text().splitlines(), start=1) if literal in text]
    assert lines, f"{literal} is not written in {source.relative_to(ROOT)}: grep {r.meta.id} cannot find it"
    out = _show(r.meta.id)
    shown = next(line for line in out.splitlines() if line.startswith("Source: "))
    file, _, line = shown.removeprefix("Source: ").partition(":")
    assert file == source.relative_to(ROOT).as_posix() and int(line) in lines, shown
    assert f"Fixtures: tests/rules/fixtures/{r.meta.id}/\n" in out


def test_show_keeps_what_it_printed_before() -> None:
    out = _show("privileged-container")
    assert out.startswith("KF-POD-001 (privileged-container) [critical]\nPrivileged container\n\nWhy: ")
    assert "\nFix: " in out and "\ncis: 5.2.2\n" in out


def _probe_rule() -> Rule:
    @rule(
        id="KF-TEST-001",
        slug="test-rule",
        title="Test rule",
        severity=Severity.LOW,
        scope=Scope.OBJECT,
        rationale="Why.",
        remediation="Fix.",
    )
    def fn(obj: object, ctx: object) -> list[Violation]:
        return []

    return fn


def test_declaration_of_a_literal_id_nearest_the_function() -> None:
    r = _probe_rule()
    d = declaration(r)
    assert d.file == Path(__file__).resolve() and d.literal
    assert 'id="KF-TEST-001"' in Path(__file__).read_text().splitlines()[d.line - 1]  # type: ignore[operator]
    assert d.fixtures is None  # no tests/rules/fixtures/KF-TEST-001
    assert d.checkout == ROOT
    text = show(r.meta, d)
    assert f"Source: tests/rules/test_declarations.py:{d.line}\n" in text
    assert text.endswith("Fixtures: not in this installation\n")


def test_declaration_falls_back_to_the_function(tmp_path: Path) -> None:
    """An ID built from fragments cannot be found: the function's first line is named instead."""
    mod = tmp_path / "fragmented.py"
    mod.write_text(
        "from kubefort.engine.rule import Scope, Severity, rule\n"
        "NUM = '001'\n"
        "@rule(id=f'KF-FRAG-{NUM}', slug='frag', title='Frag', severity=Severity.LOW, scope=Scope.OBJECT,\n"
        "      rationale='Why.', remediation='Fix.')\n"
        "def frag(obj, ctx):\n"
        "    return []\n"
    )
    ns: dict[str, object] = {"__name__": "fragmented"}
    exec(compile(mod.read_text(), str(mod), "exec"), ns)
    r = ns["frag"]
    assert isinstance(r, Rule)
    d = declaration(r)
    assert d.file == mod.resolve() and not d.literal and d.line == 3
    assert 'id="KF-FRAG-001" is not written literally' in show(r.meta, d)


def test_installed_package_has_no_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decl_mod, "source_checkout", lambda: None)
    r = default_registry(plugins=False).get("KF-POD-001")
    d = declaration(r)
    assert d.fixtures is None and d.checkout is None and d.literal
    text = show(r.meta, d)
    assert f"Source: {d.file.as_posix()}:{d.line}\n" in text  # type: ignore[union-attr]
    assert text.endswith("Fixtures: not in this installation\n")


def test_function_without_source() -> None:
    r = Rule(_probe_rule().meta, len)  # type: ignore[arg-type]
    d = declaration(r)
    assert d.file is None and d.line is None and not d.literal
    assert "Source: unknown" in show(r.meta, d)
