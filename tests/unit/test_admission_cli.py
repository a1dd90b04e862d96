"""``kubefort admission`` and ``kubefort policy export`` on a terminal: values from the input (object
names, labels, file names, rule texts) never reach it as control sequences."""

from __future__ import annotations

import io
import json
from pathlib import Path

from click.testing import CliRunner

from kubefort.admission.config import EvaluatedRule, RuleListing, SkippedRule
from kubefort.cli import cli
from kubefort.reporters import admission as report

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "admission"
ESC_NAME = "debug\x1b[2J\x1b]0;owned\x07"


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, list(args), input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def _no_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, text


def test_review_of_an_object_named_with_escape_sequences() -> None:
    doc = json.loads((FIX / "create-pod-privileged.json").read_text())
    req = doc["request"]
    req["name"] = req["object"]["metadata"]["name"] = ESC_NAME
    req["object"]["metadata"]["labels"] = {"run": "x\x1b[31m"}
    code, out, err = run("admission", "review", input=json.dumps(doc))
    assert code == 1, err
    _no_control(out + err)
    resp = json.loads(out)["response"]
    assert f"Pod shop/{ESC_NAME} violates" in resp["status"]["message"]  # exact once decoded
    assert "\\u001b[2J" in out


def test_errors_quoting_the_input_show_control_characters_escaped(tmp_path: Path) -> None:
    bad = tmp_path / "policy\x1b[2J.yaml"
    bad.write_text("fail_on: [unclosed\n")
    code, out, err = run("admission", "rules", "--policy", str(bad))
    assert code == 2
    _no_control(out + err)
    assert err.startswith("kubefort: error: ") and "policy\\x1b[2J.yaml: invalid YAML" in err


def test_rules_table_escapes_rule_texts() -> None:
    listing = RuleListing(
        fail_on="high",
        evaluated=(
            EvaluatedRule(
                id="KF-X-001",
                title="evil\x1b[2J",
                severity="high",
                mode="enforce",
                denies_from="high",
                not_on_kinds=("Ki\x1bnd",),
            ),
        ),
        skipped=(SkippedRule(id="KF-X-002", title="t", severity="low", reason="because\x07\nsecond line"),),
    )
    out = io.StringIO()
    report.write_rules(listing, "table", out)
    text = out.getvalue()
    _no_control(text)
    assert "  KF-X-001     high     deny from high     evil\\x1b[2J (not on Ki\\x1bnd: needs other objects)\n" in text
    assert "because\\x07\\x0asecond line\n" in text
    out = io.StringIO()
    report.write_rules(listing, "json", out)
    _no_control(out.getvalue())
    assert json.loads(out.getvalue())["evaluated"][0]["title"] == "evil\x1b[2J"


def test_rules_listing_matches_the_policy() -> None:
    code, out, _ = run("admission", "rules", "-o", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["fail_on"] == "high" and doc["evaluated"] and doc["skipped"]
    assert all(e["denies_from"] == "high" and e["mode"] == "enforce" for e in doc["evaluated"])
    code, text, _ = run("admission", "rules")
    assert text.startswith(f"Evaluated at admission ({len(doc['evaluated'])}): ")
    assert f"\n\nSkipped at admission ({len(doc['skipped'])}): 'kubefort scan' reports them.\n" in text
    # which evaluated rules also export as native CEL policies, which with their fix, and why not the others
    native = doc["native_policies"]
    evaluated = {e["id"] for e in doc["evaluated"]}
    assert set(native["cel"]) | {n["id"] for n in native["not_cel"]} == evaluated
    assert "KF-POD-001" in native["cel"] and "KF-POD-002" in native["fixes"]
    assert all(n["reason"].startswith(("cannot: ", "not yet: ")) for n in native["not_cel"])
    assert f"\n\nNative admission policies ('kubefort policy export'): {len(native['cel'])} of the " in text


def test_certs_and_export_lines_escape_what_they_quote() -> None:
    lines = report.certs_written(
        {"tls.crt": "out\x1b/tls.crt", "tls.key": "out\x1b/tls.key"}, ["svc", "svc.ns\x07"], "ns\x07"
    )
    _no_control("\n".join(lines))
    assert (
        lines[-1]
        == "next: kubectl -n ns\\x07 create secret tls <secret> --cert out\\x1b/tls.crt --key out\\x1b/tls.key"
    )
    lines = report.export_summary("vap", ["KF-POD-001"], [("KF-X-001", "cannot: \x1b[2J")])
    _no_control("\n".join(lines))
    assert lines == [
        "kubefort: exported 1 rule(s) as vap: KF-POD-001",
        "kubefort: 1 rule(s) cannot be expressed as vap:",
        "  KF-X-001: cannot: \\x1b[2J",
    ]


def test_policy_export_selects_rules() -> None:
    code, out, err = run("policy", "export", "--format", "vap", "--rules", "KF-POD-001,KF-SEC-001")
    assert code == 0
    assert "# Exported (1): KF-POD-001\n" in out
    assert err.splitlines()[0] == "kubefort: exported 1 rule(s) as vap: KF-POD-001"
    assert err.splitlines()[2].startswith("  KF-SEC-001: cannot: ")
