"""``kubefort rbac``: JSON contracts, exit codes and one-line usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from kubefort.cli import cli

FIXTURES = str(Path(__file__).resolve().parent.parent / "fixtures" / "rbac")


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner(mix_stderr=False).invoke(cli, ["rbac", *args], input=input)


def run_json(*args: str) -> dict:  # type: ignore[type-arg]
    r = run(*args, "-f", FIXTURES, "-o", "json")
    assert r.exit_code in (0, 1), (r.exit_code, r.stdout, r.stderr)
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def test_who_can_json_contract() -> None:
    data = run_json("who-can", "create", "deployments", "-n", "shop")
    assert data["request"] == {
        "verb": "create",
        "apiGroup": "apps",
        "resource": "deployments",
        "subresource": None,
        "name": None,
        "namespace": "shop",
    }
    subjects = {(s["kind"], s["namespace"], s["name"]): s["via"] for s in data["subjects"]}
    assert subjects[("ServiceAccount", "shop", "ci")] == [
        {"binding": "RoleBinding/shop/deployers", "role": "Role/deployer"}
    ]
    assert subjects[("Group", None, "shop-devs")] == [
        {"binding": "RoleBinding/shop/deployers", "role": "Role/deployer"}
    ]
    assert subjects[("Group", None, "platform-admins")] == [
        {"binding": "ClusterRoleBinding/platform-admins", "role": "ClusterRole/cluster-admin"}
    ]
    assert all(set(s) == {"kind", "name", "namespace", "via"} for s in data["subjects"])
    assert (
        "RoleBinding/shop/dangling: references Role/shop/does-not-exist, which does not exist: grants nothing"
        in data["warnings"]
    )


def test_who_can_all_namespaces_and_subresources() -> None:
    everywhere = run_json("who-can", "list", "pods", "-A")
    names = {s["name"] for s in everywhere["subjects"]}
    assert "system:serviceaccounts:shop" in names and "mia" not in names  # mia's view is a RoleBinding
    assert everywhere["request"]["namespace"] is None
    exec_ = run_json("who-can", "create", "pods", "--subresource", "exec", "-n", "shop")
    assert "dave" in {s["name"] for s in exec_["subjects"]}
    assert run_json("who-can", "create", "pods/exec", "-n", "shop")["subjects"] == exec_["subjects"]
    named = run_json("who-can", "get", "secrets", "-n", "shop", "--name", "storefront-tls")
    assert "storefront" in {s["name"] for s in named["subjects"]}
    assert "storefront" not in {s["name"] for s in run_json("who-can", "get", "secrets", "-n", "shop")["subjects"]}


def test_who_can_table() -> None:
    r = run("who-can", "get", "nodes", "-f", FIXTURES)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "Who can get nodes cluster-wide:"
    assert lines[1].split() == ["KIND", "NAMESPACE", "NAME", "VIA"]
    assert any(line.split()[:2] == ["User", "bob"] for line in lines)
    assert not any("alice" in line for line in lines)
    assert "kubefort: warning: RoleBinding/shop/dangling" in r.stderr


@pytest.mark.parametrize(
    "args,code,allowed",
    [
        (("ServiceAccount:shop:ci", "create", "deployments.apps", "-n", "shop"), 0, True),
        (("ServiceAccount:shop:ci", "create", "deployments.apps", "-n", "other"), 1, False),
        (("system:serviceaccount:shop:ci", "create", "deploy", "-n", "shop"), 0, True),
        (("User:alice", "get", "nodes", "-n", "shop"), 1, False),
        (("User:bob", "get", "nodes"), 0, True),
        (("User:bob", "get", "/healthz"), 0, True),
        (("User:alice", "get", "namespaces", "--name", "shop"), 0, True),
        (("User:nobody", "get", "pods", "-n", "shop", "--as-group", "platform-admins"), 0, True),
        (("Group:system:masters", "delete", "nodes"), 0, True),
    ],
)
def test_can_exit_codes_and_json(args: tuple[str, ...], code: int, allowed: bool) -> None:
    r = run("can", *args, "-f", FIXTURES, "-o", "json")
    assert r.exit_code == code, r.stderr
    data = json.loads(r.stdout)
    assert data["allowed"] is allowed
    assert isinstance(data["via"], list) and isinstance(data["reason"], str)
    if allowed and not args[0].endswith("masters"):
        assert data["via"] and set(data["via"][0]) == {"binding", "role", "subject"}
    if not allowed:
        assert data["via"] == []


def test_can_table() -> None:
    r = run("can", "ServiceAccount:shop:ci", "create", "deployments", "-n", "shop", "-f", FIXTURES)
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["yes", "  allowed by RoleBinding/shop/deployers (Role/deployer)"]
    r = run("can", "User:alice", "get", "nodes", "-f", FIXTURES)
    assert r.exit_code == 1
    assert r.stdout.splitlines() == ["no", "  no RBAC rule allows User:alice to get nodes cluster-wide"]


def test_permissions() -> None:
    data = run_json("permissions", "User:alice")
    assert data["subject"] == "User:alice"
    assert data["permissions"] == [
        {
            "namespace": "shop",
            "verbs": ["get", "list"],
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": [],
            "nonResourceURLs": [],
            "binding": "RoleBinding/shop/node-readers",
            "role": "ClusterRole/node-reader",
            "matchedSubject": "User:alice",
        },
        {
            "namespace": "shop",
            "verbs": ["get", "update", "patch"],
            "apiGroups": ["*"],
            "resources": ["*/scale"],
            "resourceNames": [],
            "nonResourceURLs": [],
            "binding": "RoleBinding/shop/scalers",
            "role": "ClusterRole/scaler",
            "matchedSubject": "Group:system:authenticated",
        },
    ]
    r = run("permissions", "ServiceAccount:monitoring:prometheus", "-f", FIXTURES)
    assert r.exit_code == 0
    assert r.stdout.splitlines()[1].split() == ["SCOPE", "VERBS", "APIGROUPS", "RESOURCES", "NAMES", "VIA"]
    assert any(line.startswith("*") and "/metrics" in line for line in r.stdout.splitlines())


def test_paths_json_contract() -> None:
    data = run_json("paths")
    paths = data["paths"]
    assert [len(p["steps"]) for p in paths] == sorted(len(p["steps"]) for p in paths)
    gina = next(p for p in paths if p["from"] == "User:gina")
    assert gina["to"] == "cluster-admin"
    assert [set(s) for s in gina["steps"]] == [{"action", "via", "to"}] * 3
    assert gina["steps"][0]["via"] == "RoleBinding/shop/binders (ClusterRole/role-binder)"
    assert {p["from"] for p in paths} >= {"User:erin", "User:hank", "ServiceAccount:shop:ci", "Group:auditors"}
    only = run_json("paths", "--from", "ServiceAccount:shop:ci")
    assert [p["from"] for p in only["paths"]] == ["ServiceAccount:shop:ci"]
    to_sa = run_json("paths", "--to", "ServiceAccount:shop:payments-operator", "--from", "User:kim")
    assert to_sa["paths"][0]["to"] == "ServiceAccount:shop:payments-operator"


def test_paths_table_and_dot() -> None:
    r = run("paths", "--from", "User:dave", "-f", FIXTURES)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Includes the ") and "--no-defaults" in lines[0]  # said first (issue 12)
    assert lines[2] == "User:dave -> cluster-admin (2 steps)"
    assert lines[3].startswith("  1. exec into pods in namespace shop")
    assert lines[4] == "     via RoleBinding/shop/debuggers (ClusterRole/exec-only)"
    r = run("paths", "--from", "User:dave", "-f", FIXTURES, "-o", "dot")
    assert r.exit_code == 0
    head, body = r.stdout.split("\n", 1)
    assert head.startswith("// Includes the ")
    assert body.startswith("digraph escalation {") and r.stdout.rstrip().endswith("}")
    assert '"User:dave" -> "ServiceAccount:shop:payments-operator"' in r.stdout
    assert '"ServiceAccount:shop:payments-operator" -> "cluster-admin"' in r.stdout
    r = run("paths", "--from", "User:mia", "-f", FIXTURES)
    assert r.exit_code == 0 and "no escalation path found" in r.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (("can", "alice", "get", "pods"), "SUBJECT: bad subject 'alice'"),
        (("can", "ServiceAccount:only-name", "get", "pods"), "SUBJECT: bad subject"),
        (("permissions", "Robot:r2"), "SUBJECT: bad subject kind 'Robot'"),
        (("who-can", "get pods", "pods"), "bad verb 'get pods'"),
        (("who-can", "get", "pods//exec"), "bad resource 'pods//exec'"),
        (
            ("who-can", "get", "pods/exec", "--subresource", "log"),
            "names subresource 'exec' but --subresource says 'log'",
        ),
        (("paths", "--to", "root"), "--to: bad subject 'root'"),
        (("paths", "--from", "x"), "--from: bad subject 'x'"),
    ],
)
def test_usage_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    r = run(*args, "-f", FIXTURES)
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kubefort: error: ") and message in lines[0], r.stderr


def test_no_input_is_a_usage_error() -> None:
    r = run("who-can", "get", "pods")
    assert r.exit_code == 2 and r.stderr.strip().startswith("kubefort: error: nothing to read")


def test_unreadable_input_exits_2_after_answering(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("kind: Role\nmetadata: [unclosed\n")
    r = run("who-can", "get", "pods", "-f", FIXTURES, "-f", str(bad), "-o", "json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["subjects"]  # the readable files are still analysed
    assert "broken.yaml" in r.stderr


def test_stdin_and_namespace_default() -> None:
    manifest = """
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: readers}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: app}]
"""
    r = run("can", "ServiceAccount:team:app", "list", "pods", "-n", "team", "-f", "-", input=manifest)
    assert r.exit_code == 0, r.stderr  # -n places the binding (and its SA subject) in team, as kubectl apply -n would
    r = run(
        "can", "ServiceAccount:team:app", "list", "pods", "-n", "team", "--no-builtin-roles", "-f", "-", input=manifest
    )
    assert r.exit_code == 1 and "which does not exist" in r.stderr


def test_control_characters_of_the_input_are_escaped_on_the_terminal() -> None:
    manifest = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "evil\\u001b[31m"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: "bob\\u001b[2J"}, {kind: Robot, name: r}]
"""
    for args in (("who-can", "get", "pods"), ("permissions", "User:bob\x1b[2J"), ("paths",), ("paths", "-o", "dot")):
        r = run(*args, "-f", "-", input=manifest)
        assert r.exit_code == 0, (args, r.stderr)
        assert "\x1b" not in r.stdout + r.stderr and "\\x1b[" in r.stdout, (args, r.stdout)
    r = run("who-can", "get", "pods", "-f", "-", input=manifest)
    assert "ClusterRoleBinding/evil\\x1b[31m: subject 1 (kind 'Robot')" in r.stderr
    data = json.loads(run("who-can", "get", "pods", "-f", "-", "-o", "json", input=manifest).stdout)
    assert data["subjects"][0]["name"] == "bob\x1b[2J"  # JSON keeps the value (escaped by the encoder)


KUBE_PROMETHEUS_LIKE = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: metrics-operator, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: metrics-operator}
rules:
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: ["*"]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metrics-operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: metrics-operator}
subjects: [{kind: ServiceAccount, name: metrics-operator, namespace: monitoring}]
"""


def test_paths_include_the_default_bindings_of_every_cluster(tmp_path: Path) -> None:
    """Issue 12: an operator that writes and reads Secrets everywhere mints a token for the kube-system
    ServiceAccount of the ClusterRole aggregation controller, whose default role may escalate ClusterRoles:
    cluster-admin in two steps. Without the defaults (--no-defaults) no path exists, and both say which."""
    f = tmp_path / "operator.yaml"
    f.write_text(KUBE_PROMETHEUS_LIKE)
    doc = json.loads(run("paths", "-f", str(f), "-o", "json").stdout)
    assert doc["defaults"]["included"] is True
    assert "ClusterRoleBinding/system:controller:clusterrole-aggregation-controller" in doc["defaults"]["bindings"]
    (path,) = doc["paths"]  # the controllers' own accounts are steps, not listed as starting points
    assert path["from"] == "ServiceAccount:monitoring:metrics-operator" and path["to"] == "cluster-admin"
    assert "kube-system:clusterrole-aggregation-controller" in path["steps"][0]["action"]
    assert "a default of every cluster" in path["steps"][1]["via"]
    table = run("paths", "-f", str(f)).stdout
    assert table.startswith("Includes the ") and "1 subject can become cluster-admin." in table
    none = json.loads(run("paths", "--no-defaults", "-f", str(f), "-o", "json").stdout)
    assert none["paths"] == [] and none["defaults"] == {"included": False, "bindings": []}
    assert "not included (--no-defaults)" in run("paths", "--no-defaults", "-f", str(f)).stdout


@pytest.mark.parametrize(
    "args",
    [
        ("who-can", "create", "deployments", "-n", "shop"),
        ("can", "system:serviceaccount:shop:ci", "create", "deployments", "-n", "shop"),
        ("permissions", "system:serviceaccount:shop:ci"),
        ("paths",),
    ],
)
def test_paths_as_arguments_read_like_f(args: tuple[str, ...]) -> None:
    """PATH arguments after the query read the manifests as -f does (as scan, netpol and graph take them)."""
    positional = run(*args, FIXTURES, "-o", "json")
    flagged = run(*args, "-f", FIXTURES, "-o", "json")
    assert positional.exit_code == flagged.exit_code, (positional.stderr, flagged.stderr)
    assert positional.stdout == flagged.stdout and json.loads(positional.stdout)
