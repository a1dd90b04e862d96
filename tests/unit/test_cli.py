"""The CLI: exit codes, formats, stdin, errors as one line, SARIF/JUnit structure."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from kubefort.cli import cli

PRIV = """\
apiVersion: v1
kind: Pod
metadata:
  name: priv
  namespace: shop
spec:
  containers:
  - name: app
    image: registry.example.com/app:1.0
    securityContext:
      privileged: true
"""
CLEAN = PRIV.replace("priv\n", "clean\n").replace("privileged: true", "privileged: false")


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, list(args), input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "priv.yaml").write_text(PRIV)
    (tmp_path / "clean.yaml").write_text(CLEAN)
    return tmp_path


def test_exit_codes_and_threshold(tree: Path) -> None:
    code, out, _ = run("scan", str(tree), "--rules", "KF-POD-001", "--no-color")
    assert code == 1 and "KF-POD-001" in out and "priv.yaml:11" in out
    code, _, _ = run("scan", str(tree / "clean.yaml"), "--rules", "KF-POD-001")
    assert code == 0


def test_unknown_rule_is_usage_error(tree: Path) -> None:
    code, _, err = run("scan", str(tree), "--rules", "KF-NOPE-999")
    assert code == 2 and "unknown rule" in err and "Traceback" not in err


def test_bad_option_value_is_usage_error(tree: Path) -> None:
    code, _, _err = run("scan", str(tree), "--fail-on", "severe")
    assert code == 2


def test_bad_file_exit_2_and_rest_scanned(tree: Path) -> None:
    (tree / "broken.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n")
    code, out, err = run("scan", str(tree), "--rules", "KF-POD-001", "-o", "json")
    assert code == 2
    data = json.loads(out)
    assert [f["object"]["name"] for f in data["findings"]] == ["priv"]
    assert len(data["errors"]) == 1 and data["errors"][0]["file"].endswith("broken.yaml")
    line = [ln for ln in err.splitlines() if "broken.yaml" in ln]
    assert len(line) == 1 and line[0].startswith("kubefort: error: ")


def test_stdin_and_output_file(tmp_path: Path) -> None:
    out_file = tmp_path / "r.json"
    code, _, _ = run("scan", "-", "--rules", "KF-POD-001", "-o", "json", "--output", str(out_file), input=PRIV)
    assert code == 1
    data = json.loads(out_file.read_text())
    assert data["findings"][0]["location"] == {"file": "<stdin>", "line": 11}


def test_sarif_structure(tree: Path) -> None:
    _code, out, _ = run("scan", str(tree), "--rules", "KF-POD-001", "-o", "sarif")
    doc = json.loads(out)
    assert doc["version"] == "2.1.0" and "sarif" in doc["$schema"]
    run0 = doc["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    assert rules[0]["id"] == "KF-POD-001" and rules[0]["help"]["text"]
    assert rules[0]["properties"]["security-severity"]
    res = run0["results"][0]
    assert res["ruleId"] == rules[res["ruleIndex"]]["id"]
    assert res["level"] in ("none", "note", "warning", "error")
    phys = res["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"].endswith("priv.yaml") and phys["region"]["startLine"] == 11
    assert res["message"]["text"]


def test_junit_lists_passes(tree: Path) -> None:
    _code, out, _ = run("scan", str(tree), "--rules", "KF-POD-001", "-o", "junit")
    root = ET.fromstring(out)
    cases = root.findall(".//testcase")
    names = {c.get("name"): c for c in cases}
    assert names["KF-POD-001 Pod/shop/priv"].find("failure") is not None
    assert names["KF-POD-001 Pod/shop/clean"].find("failure") is None


def test_rules_list_and_show() -> None:
    code, out, _ = run("rules", "list")
    assert code == 0 and "KF-POD-001" in out
    code, out, _ = run("rules", "show", "privileged-container")
    assert code == 0 and "Why:" in out and "Fix:" in out
    code, _, _err = run("rules", "show", "KF-NOPE-001")
    assert code == 2


def test_help_mentions_exit_codes() -> None:
    code, out, _ = run("scan", "--help")
    assert code == 0 and "Exit codes" in out and "--fail-on" in out


def test_nothing_to_scan_is_usage_error() -> None:
    code, _, _err = run("scan")
    assert code == 2


def test_docs_rules_md_is_generated_from_the_registry() -> None:
    """docs/rules.md is `kubefort rules list --format markdown`: regenerate with `make docs`."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    code, out, _ = run("rules", "list", "--format", "markdown")
    assert code == 0
    assert doc.read_text() == out, "docs/rules.md is stale: run 'make docs'"


def test_machine_formats_report_input_errors_on_stderr_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "bad\x1b[2J.yaml"
    bad.write_text("kind: [unclosed\n")
    (tmp_path / "priv.yaml").write_text(PRIV)
    code, out, err = run("scan", str(tmp_path), "-o", "json")
    assert code == 2
    json.loads(out)
    assert "\x1b" not in err and "bad\\x1b[2J.yaml" in err
    assert err.startswith("kubefort: error: ")
