"""``kubefort netpol``: can-reach, matrix and diff; exit codes and the JSON contracts of docs/netpol.md."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from kubefort.cli import cli

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "netpol"
WORKLOADS = str(FIX / "workloads.yaml")
BEFORE = str(FIX / "before")
AFTER = str(FIX / "after")

PORT = {"type": "string", "pattern": r"^(\*|(TCP|UDP|SCTP)/(\*|\d+(-\d+)?)|other)$"}
MATRIX_SCHEMA = {
    "type": "object",
    "required": ["connections"],
    "properties": {
        "connections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["from", "to", "ports"],
                "additionalProperties": False,
                "properties": {
                    "from": {"type": "string", "pattern": "^[^/]+/[^/]+/[^/]+$"},
                    "to": {"type": "string", "pattern": "^[^/]+/[^/]+/[^/]+$"},
                    "ports": {"type": "array", "minItems": 1, "items": PORT},
                },
            },
        },
        "workloads": {"type": "array", "items": {"type": "string"}},
        "problems": {"type": "array"},
    },
}
CAN_REACH_SCHEMA = {
    "type": "object",
    "required": ["allowed", "ports", "reasons"],
    "properties": {
        "allowed": {"type": "boolean"},
        "ports": {"type": "array", "items": PORT},
        "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "from": {"type": "string"},
        "to": {"type": "string"},
        "egress": {"type": "object"},
        "ingress": {"type": "object"},
    },
}
DIFF_SCHEMA = {
    "type": "object",
    "required": ["opened", "closed", "added_workloads", "removed_workloads"],
    "properties": {k: {"type": "array"} for k in ("opened", "closed", "added_workloads", "removed_workloads")},
}


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, ["netpol", *args], input=input, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_can_reach_allowed_exit_0_and_json() -> None:
    code, out, err = run(
        "can-reach", "shop/Deployment/api", "shop/StatefulSet/postgres", "-f", WORKLOADS, "-f", BEFORE, "-o", "json"
    )
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, CAN_REACH_SCHEMA)
    assert doc["allowed"] is True and doc["ports"] == ["TCP/5432"]
    assert doc["egress"]["allowed_by"] == [{"rule": "shop/api egress[0]", "ports": ["TCP/5432"]}]
    assert doc["ingress"]["policies"] == ["shop/default-deny", "shop/postgres"]


def test_can_reach_denied_exit_1() -> None:
    code, out, _ = run("can-reach", "shop/deploy/frontend", "shop/sts/postgres", WORKLOADS, BEFORE)
    assert code == 1
    assert out.startswith("DENIED: shop/Deployment/frontend -> shop/StatefulSet/postgres")
    assert "no egress rule allows traffic to shop/StatefulSet/postgres" in out


def test_can_reach_port_query() -> None:
    args = ["shop/deploy/api", "shop/sts/postgres", "-f", WORKLOADS, "-f", BEFORE]
    assert run("can-reach", *args, "--port", "5432/TCP")[0] == 0
    assert run("can-reach", *args, "--port", "5432/UDP")[0] == 1
    assert run("can-reach", *args, "--port", "pg")[0] == 0
    code, out, _ = run("can-reach", *args, "--port", "6432", "-o", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["allowed"] is False and doc["ports"] == []
    assert "allowed ports between them: TCP/5432" in doc["reasons"][-1]


def test_can_reach_cidr() -> None:
    args = ["-f", WORKLOADS, "-f", BEFORE]
    assert run("can-reach", "203.0.113.0/24", "shop/deploy/frontend", *args, "--port", "8080")[0] == 0
    assert run("can-reach", "10.1.2.3", "shop/deploy/frontend", *args)[0] == 1  # excepted
    assert run("can-reach", "0.0.0.0/0", "shop/deploy/frontend", *args)[0] == 1  # only part of it
    assert run("can-reach", "monitoring/deploy/prometheus", "8.8.8.8", *args)[0] == 0  # not isolated


def test_can_reach_stdin() -> None:
    text = Path(WORKLOADS).read_text() + "\n---\n" + (FIX / "before" / "policies.yaml").read_text()
    assert run("can-reach", "shop/deploy/api", "shop/sts/postgres", "-f", "-", input=text)[0] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (["shop/deploy/nope", "shop/sts/postgres"], "no workload shop/deploy/nope"),
        (["10.0.0.0/8", "192.168.0.0/16"], "both CIDRs"),
        (["shop/deploy/api", "shop/sts/postgres", "--port", "99999"], "--port"),
        (["shop/deploy/api", "shop/sts/postgres", "--port", "nosuch"], "no container port named"),
        (["shop/deploy/api", "garbage"], "neither NAMESPACE/KIND/NAME nor a CIDR"),
    ],
)
def test_can_reach_usage_errors(args: list[str], message: str) -> None:
    code, _out, err = run("can-reach", *args, "-f", WORKLOADS, "-f", BEFORE)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_nothing_to_read() -> None:
    code, _, err = run("matrix")
    assert code == 2 and "nothing to read" in err


def test_matrix_json_contract() -> None:
    code, out, _ = run("matrix", "-f", WORKLOADS, "-f", BEFORE, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, MATRIX_SCHEMA)
    assert doc["connections"] == [
        {"from": "monitoring/Deployment/prometheus", "to": "shop/Deployment/api", "ports": ["TCP/9102"]},
        {"from": "shop/Deployment/api", "to": "shop/StatefulSet/postgres", "ports": ["TCP/5432"]},
        {"from": "shop/Deployment/frontend", "to": "shop/Deployment/api", "ports": ["TCP/9000"]},
    ]
    assert len(doc["workloads"]) == 4


def test_matrix_without_policies_allows_everything() -> None:
    _code, out, _ = run("matrix", WORKLOADS, "-o", "json")
    doc = json.loads(out)
    assert len(doc["connections"]) == 4 * 3
    assert {tuple(c["ports"]) for c in doc["connections"]} == {("*",)}


def test_matrix_namespace_filter() -> None:
    _code, out, _ = run("matrix", "-f", WORKLOADS, "-f", BEFORE, "-n", "monitoring", "-o", "json")
    doc = json.loads(out)
    assert [(c["from"], c["to"]) for c in doc["connections"]] == [
        ("monitoring/Deployment/prometheus", "shop/Deployment/api")
    ]
    assert doc["workloads"] == ["monitoring/Deployment/prometheus"]


def test_matrix_table_csv_dot() -> None:
    code, out, _ = run("matrix", "-f", WORKLOADS, "-f", BEFORE)
    assert code == 0
    assert out.splitlines()[0].split() == ["FROM", "TO", "PORTS"]
    assert "3 allowed connections" in out
    code, out, _ = run("matrix", "-f", WORKLOADS, "-f", BEFORE, "-o", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert (
        rows[0] == ["from", "to", "ports"] and ["shop/Deployment/api", "shop/StatefulSet/postgres", "TCP/5432"] in rows
    )
    code, out, _ = run("matrix", "-f", WORKLOADS, "-f", BEFORE, "-o", "dot")
    assert out.startswith("digraph netpol {") and out.rstrip().endswith("}")
    assert '"shop/Deployment/api" -> "shop/StatefulSet/postgres" [label="TCP/5432"];' in out
    assert "subgraph cluster_" in out


def test_matrix_output_file(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    code, out, _ = run("matrix", "-f", WORKLOADS, "-f", BEFORE, "-o", "json", "--output", str(target))
    assert code == 0 and out == ""
    jsonschema.validate(json.loads(target.read_text()), MATRIX_SCHEMA)


def test_diff() -> None:
    code, out, _ = run("diff", BEFORE, AFTER, "-f", WORKLOADS, "-o", "json")
    assert code == 1
    doc: dict[str, Any] = json.loads(out)
    jsonschema.validate(doc, DIFF_SCHEMA)
    assert doc["opened"] == [
        {
            "from": "shop/Deployment/frontend",
            "to": "shop/StatefulSet/postgres",
            "ports": ["TCP/5432"],
            "now": ["TCP/5432"],
        }
    ]
    assert doc["closed"] == [
        {"from": "monitoring/Deployment/prometheus", "to": "shop/Deployment/api", "ports": ["TCP/9102"], "now": []}
    ]
    code, out, _ = run("diff", BEFORE, AFTER, "-f", WORKLOADS)
    assert "Opened (1):" in out and "Closed (1):" in out


def test_diff_no_change_exit_0() -> None:
    code, out, _ = run("diff", BEFORE, BEFORE, "-f", WORKLOADS)
    assert code == 0 and "No connection" in out


def test_diff_workloads_added() -> None:
    _code, out, _ = run("diff", BEFORE, WORKLOADS, "-o", "json")
    doc = json.loads(out)
    assert len(doc["added_workloads"]) == 4 and not doc["opened"]


def test_invalid_policy_warning(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: shop}\n"
        "spec:\n  podSelector: {}\n  ingress:\n  - from:\n    - {}\n"
    )
    code, out, err = run("matrix", "-f", WORKLOADS, "-f", str(bad), "-o", "json")
    assert code == 0
    assert "NetworkPolicy/shop/bad is left out: the API server would reject it" in err
    assert json.loads(out)["problems"][0]["object"] == "NetworkPolicy/shop/bad"


# --- control characters from the manifests never reach the terminal ---------------------------------

HOSTILE_WORKLOADS = r"""
apiVersion: apps/v1
kind: Deployment
metadata: {name: "web\e[31m", namespace: shop}
spec:
  selector: {matchLabels: {app: "web\e[2J"}}
  template:
    metadata: {labels: {app: "web\e[2J"}}
    spec: {containers: [{name: c, image: "nginx:1.0"}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c, image: "postgres:16", ports: [{name: pg, containerPort: 5432}]}]}
"""
HOSTILE_POLICIES = r"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: "db\e]0;owned\a", namespace: shop}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: "web\e[2J"}}}]
    ports: [{port: 5432}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: "bad\e[5m", namespace: shop}
spec:
  podSelector: {}
  ingress: [{from: [{}]}]
"""
WEB = "shop/deploy/web\x1b[31m"


def _no_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text, text


@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "before").mkdir()
    (tmp_path / "after").mkdir()
    (tmp_path / "before" / "none.yaml").write_text("")
    (tmp_path / "after" / "policies.yaml").write_text(HOSTILE_POLICIES)
    (tmp_path / "workloads.yaml").write_text(HOSTILE_WORKLOADS)
    (tmp_path / "broken\x1b[2J.yaml").write_text("kind: [unclosed\n")
    return {k: str(tmp_path / k) for k in ("before", "after", "workloads.yaml")} | {
        "broken": str(tmp_path / "broken\x1b[2J.yaml")
    }


def test_can_reach_text_shows_control_characters_escaped(hostile: dict[str, str]) -> None:
    args = ["-f", hostile["workloads.yaml"], "-f", hostile["after"]]
    code, out, err = run("can-reach", WEB, "shop/deploy/db", *args)
    assert code == 0, err
    _no_control(out)
    _no_control(err)
    assert out.startswith("ALLOWED: shop/Deployment/web\\x1b[31m -> shop/Deployment/db on TCP/5432\n")
    assert "isolated by shop/db\\x1b]0;owned\\x07" in out
    assert "NetworkPolicy/shop/bad\\x1b[5m is left out" in err
    # JSON escapes them itself and keeps the names exact
    code, out, _ = run("can-reach", WEB, "shop/deploy/db", *args, "-o", "json")
    _no_control(out)
    assert json.loads(out)["from"] == "shop/Deployment/web\x1b[31m"


def test_unreadable_input_named_with_control_characters(hostile: dict[str, str]) -> None:
    code, out, err = run("can-reach", WEB, "shop/deploy/db", "-f", hostile["workloads.yaml"], "-f", hostile["broken"])
    assert code == 2
    _no_control(out + err)
    assert "broken\\x1b[2J.yaml" in err and err.startswith("kubefort: error: ")


@pytest.mark.parametrize("fmt", ["table", "csv", "dot", "json"])
def test_matrix_shows_control_characters_escaped(hostile: dict[str, str], fmt: str) -> None:
    code, out, err = run("matrix", "-f", hostile["workloads.yaml"], "-f", hostile["after"], "-o", fmt)
    assert code == 0
    _no_control(out)
    _no_control(err)
    if fmt == "json":
        assert "shop/Deployment/web\x1b[31m" in json.loads(out)["workloads"]
    elif fmt == "dot":
        assert '"shop/Deployment/web\\\\x1b[31m" -> "shop/Deployment/db" [label="TCP/5432"];' in out
        assert '[label="Deployment\\nweb\\\\x1b[31m"' in out
    else:
        assert "shop/Deployment/web\\x1b[31m" in out


def test_dot_quotes_and_escapes_identifiers(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(
        'apiVersion: v1\nkind: Pod\nmetadata: {name: "a\\"b\\\\c", namespace: shop}\n'
        "spec: {containers: [{name: c, image: 'nginx:1.0'}]}\n"
    )
    _code, out, _ = run("matrix", "-f", str(tmp_path / "w.yaml"), "-o", "dot")
    assert '    "shop/Pod/a\\"b\\\\c" [label="Pod\\na\\"b\\\\c", color=red];' in out


def test_diff_text_shows_control_characters_escaped(hostile: dict[str, str]) -> None:
    code, out, err = run("diff", hostile["before"], hostile["after"], "-f", hostile["workloads.yaml"])
    assert code == 1
    _no_control(out)
    _no_control(err)
    assert "  - shop/Deployment/web\\x1b[31m -> shop/Deployment/db  TCP/1-5431" in out
    assert "after: NetworkPolicy/shop/bad\\x1b[5m is left out" in err
