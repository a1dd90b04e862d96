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
    # the table names the file once per object (relative to the scanned root), then each finding's line
    assert code == 1 and "KF-POD-001" in out and "Pod/shop/priv  priv.yaml:1\n" in out and "at line 11 " in out
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
    assert "kubefort fix: set securityContext.privileged: false (in the container); opt-in (--include-opt-in): " in out
    code, out, _ = run("rules", "show", "KF-POD-002")
    assert (
        "kubefort fix: set securityContext.allowPrivilegeEscalation: false (in the container); applied by default"
        in out
    )
    code, out, _ = run("rules", "show", "KF-POD-045")
    assert "kubefort fix:" not in out
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


# -- issue 12: outputs, locations and exit codes a CI gate can trust ----------------------------------


def test_sarif_uris_are_repository_relative_with_absolute_inputs(tmp_path: Path) -> None:
    """Absolute input paths still give URIs relative to %SRCROOT% (the repository), which
    originalUriBaseIds resolves: code scanning maps them onto the repository."""
    repo = tmp_path / "my repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "deploy" / "base").mkdir(parents=True)
    (repo / "deploy" / "base" / "priv pod.yaml").write_text(PRIV)
    _code, out, _ = run("scan", str((repo / "deploy").resolve()), "--rules", "KF-POD-001", "-o", "sarif")
    run0 = json.loads(out)["runs"][0]
    art = run0["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "deploy/base/priv%20pod.yaml", "uriBaseId": "%SRCROOT%"}
    assert run0["originalUriBaseIds"] == {"%SRCROOT%": {"uri": repo.resolve().as_uri() + "/"}}


def test_sarif_outside_a_repository_is_relative_to_the_scanned_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "priv.yaml").write_text(PRIV)
    _code, out, _ = run("scan", str(tmp_path / "a"), "--rules", "KF-POD-001", "-o", "sarif")
    run0 = json.loads(out)["runs"][0]
    art = run0["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uriBaseId"] == "%SRCROOT%" and art["uri"] in ("priv.yaml", "a/priv.yaml")


def test_table_paths_once_per_object_and_counts_per_rule(tree: Path) -> None:
    (tree / "sub").mkdir()
    (tree / "sub" / "deep.yaml").write_text(PRIV.replace("priv\n", "deep\n"))
    _code, out, _ = run("scan", str(tree), "--rules", "KF-POD-001,KF-POD-002", "--no-color")
    assert str(tree) not in out.split("objects in")[0]  # no absolute path on the finding lines
    assert "Pod/shop/deep  sub/deep.yaml:1\n" in out and "Pod/shop/priv  priv.yaml:1\n" in out
    assert f"under {tree}" in out
    rows = {ln.split()[0]: ln.split()[1:3] for ln in out.splitlines() if ln.startswith("KF-POD-00")}
    pod1 = sum(1 for ln in out.splitlines() if " KF-POD-001 " in ln)
    pod2 = sum(1 for ln in out.splitlines() if " KF-POD-002 " in ln)
    assert pod1 == 2 and pod2 >= 2
    assert rows == {"KF-POD-001": ["2", "2"], "KF-POD-002": [str(pod2), str(pod2)]}


@pytest.mark.parametrize(
    ("files", "expect"),
    [
        ({}, "no .yaml, .yml or .json file"),
        (
            {"docker-compose.yaml": "services:\n  web:\n    image: nginx\n"},
            "no Kubernetes object in 1 file (docker-compose.yaml): 1 document, none with apiVersion and kind",
        ),
        ({"values.yaml": "replicaCount: 1\nimage: {repository: nginx}\n"}, "(values.yaml)"),
        ({"empty.yaml": "# nothing yet\n"}, "no YAML or JSON document"),
    ],
)
def test_input_without_objects_is_an_error(tmp_path: Path, files: dict[str, str], expect: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    for fmt in ("table", "json"):
        code, out, err = run("scan", str(tmp_path), "-o", fmt, "--no-color")
        lines = err.splitlines()
        assert code == 2, (fmt, out, err)
        assert len(lines) == 1 and lines[0].startswith(f"kubefort: error: {tmp_path}: ") and expect in lines[0]
        assert "--allow-empty" in lines[0]
    code, out, err = run("scan", str(tmp_path), "--allow-empty", "--no-color")
    assert code == 0 and err == "" and "PASS" in out


def test_pss_mode_fails_on_any_violation_unless_fail_on_is_given(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(CLEAN)  # runs as root, no seccomp...: restricted violations, all medium or below
    code, out, _ = run("scan", str(f), "--pss", "restricted", "-o", "json")
    data = json.loads(out)
    assert data["findings"] and max(x["severity"] for x in data["findings"]) != "critical"
    assert code == 1 and data["summary"]["fail_on"] == "info"
    code, _, _ = run("scan", str(f), "--pss", "restricted", "--fail-on", "critical")
    assert code == 0
    code, _, _ = run("scan", str(f), "--rules", "KF-POD-002")  # outside --pss the default stays high
    assert code == 0


def test_missing_path_is_one_line_on_stderr_and_the_rest_is_scanned(tree: Path) -> None:
    missing = tree / "nope.yaml"
    code, out, err = run("scan", str(missing), str(tree / "priv.yaml"), "--rules", "KF-POD-001", "--no-color")
    assert code == 2
    assert err.splitlines() == [f"kubefort: error: {missing}: no such file or directory"]
    assert "nope.yaml" not in out  # not inside the table
    assert "KF-POD-001" in out and "Pod/shop/priv" in out  # the rest is still scanned


CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "values.yaml": "replicaCount: 1\n",
    "templates/service.yaml": (
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  ports:\n  {{- range .Values.ports }}\n  - port: {{ . }}\n  {{- end }}\n"
    ),
}


def test_helm_chart_without_helm_says_so(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "web"
    for name, text in CHART.items():
        (chart / name).parent.mkdir(parents=True, exist_ok=True)
        (chart / name).write_text(text)
    (tmp_path / "priv.yaml").write_text(PRIV)
    code, out, err = run("scan", str(tmp_path), "-o", "json")
    assert code == 2
    assert err.splitlines() == [
        f"kubefort: error: {chart}: this is a Helm chart (Chart.yaml): its templates are not manifests; "
        f"use --helm {chart}"
    ]
    data = json.loads(out)
    assert {f["location"]["file"] for f in data["findings"]} == {str(tmp_path / "priv.yaml")}  # no template
    assert not any("<unnamed>" in json.dumps(f["object"]) for f in data["findings"])
    code, out, err = run("scan", str(chart), "--no-color")
    assert code == 2 and "use --helm" in err and "<unnamed>" not in out
