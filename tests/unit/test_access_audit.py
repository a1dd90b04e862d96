"""``kubefort access audit``: the people of the bindings, the certificate requests parsed back, the findings
of the access rules through the engine, and the revocation steps."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubefort.access.audit import certificate_requests, guidance, people
from kubefort.api import ScanOptions, audit_access
from kubefort.cli import cli

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "access"


def test_people_and_requests() -> None:
    report, inventory = audit_access(ScanOptions(paths=[str(FIX)]))
    found = {(p.kind, p.name): p for p in people(inventory)}
    # Kubernetes' own identities and ServiceAccounts are not people; system:masters is listed
    assert sorted(found) == [("Group", "shop-devs"), ("Group", "system:masters"), ("User", "bob"), ("User", "jane")]
    jane = found[("User", "jane")]
    assert [(b.binding, b.role, b.namespace, b.shared) for b in jane.bindings] == [
        ("RoleBinding shop/devs-edit", "ClusterRole edit", "shop", True),
        ("RoleBinding shop/jane-view", "ClusterRole view", "shop", False),
    ]
    assert jane.bindings[1].revoke == "kubectl delete rolebinding -n shop jane-view"
    assert jane.bindings[0].revoke.startswith("kubectl edit rolebinding -n shop devs-edit")  # shared: edit, not delete
    assert found[("User", "bob")].bindings[0].namespace is None
    assert "new cluster CA" in found[("Group", "system:masters")].bindings[0].revoke
    reqs = {r.name: r for r in certificate_requests(inventory)}
    assert (reqs["jane-20261207"].user, reqs["jane-20261207"].groups) == ("jane", ("shop-devs",))
    assert reqs["jane-20261207"].approved and reqs["jane-20261207"].issued
    assert reqs["jane-20261207"].expiration_seconds == 86400
    assert reqs["bob-forever"].expiration_seconds is None and not reqs["bob-forever"].issued
    assert reqs["ops-masters"].groups == ("system:masters",)
    # the findings come from the engine, with the access rules only
    got = sorted((f.rule.id, str(f.object), f.subcode or "") for f in report.active_findings)
    assert got == [
        ("KF-RBAC-005", "ClusterRoleBinding/bob-admin", ""),
        ("KF-RBAC-006", "ClusterRoleBinding/break-glass", ""),
        ("KF-RBAC-037", "ClusterRoleBinding/bob-admin", "cluster"),
        ("KF-RBAC-037", "RoleBinding/shop/devs-edit", "group"),
        ("KF-RBAC-038", "CertificateSigningRequest/bob-forever", "no_expiry"),
        ("KF-RBAC-039", "CertificateSigningRequest/ops-masters", ""),
    ]
    steps = guidance(people(inventory), certificate_requests(inventory))
    assert any("cannot revoke a client certificate" in s for s in steps)
    assert any("new cluster CA" in s for s in steps)


def test_guidance_without_masters() -> None:
    assert not any("system:masters" in s for s in guidance([], []))


def test_cli_text_and_json() -> None:
    r = CliRunner(mix_stderr=False).invoke(cli, ["access", "audit", str(FIX)])
    assert r.exit_code == 1, r.output  # critical and high findings (default --fail-on high)
    out = r.stdout
    assert "People with bindings (4):" in out and "  User jane" in out
    assert "revoke: kubectl delete rolebinding -n shop jane-view" in out
    assert (
        "bob-forever: CN=bob, signer kubernetes.io/kube-apiserver-client, no expiry set (signer maximum), approved"
        in out
    )
    assert "critical KF-RBAC-039  CertificateSigningRequest/ops-masters" in out
    assert "Revoking access:" in out
    r = CliRunner(mix_stderr=False).invoke(cli, ["access", "audit", str(FIX), "-o", "json", "--fail-on", "critical"])
    doc = json.loads(r.stdout)
    assert r.exit_code == 1
    assert set(doc) == {"people", "certificate_requests", "findings", "revocation"}
    assert {f["rule_id"] for f in doc["findings"]} == {
        "KF-RBAC-005",
        "KF-RBAC-006",
        "KF-RBAC-037",
        "KF-RBAC-038",
        "KF-RBAC-039",
    }


def test_cli_clean_kit_and_errors(tmp_path: Path) -> None:
    """A kit from access grant audits clean: one user, one RoleBinding, a 24 h request."""
    kit = tmp_path / "kit"
    assert CliRunner().invoke(cli, ["access", "grant", "jane", "-n", "shop", "--out", str(kit)]).exit_code == 0
    r = CliRunner(mix_stderr=False).invoke(cli, ["access", "audit", str(kit), "--fail-on", "info"])
    assert r.exit_code == 0, r.output
    assert "Findings (0):" in r.stdout and "  User jane" in r.stdout
    r = CliRunner(mix_stderr=False).invoke(cli, ["access", "audit"])
    assert r.exit_code == 2 and "nothing to read" in r.stderr
    r = CliRunner(mix_stderr=False).invoke(cli, ["access", "audit", str(tmp_path / "missing.yaml")])
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_cluster_answer_equals_the_files_answer(tmp_path: Path) -> None:
    """--cluster against the test API server (tests/kubeapi) lists the people and requests the files
    give, and the same findings."""
    from kubeapi.server import KubeAPIServer, load_manifests
    from kubeapi.store import Store

    objects, scopes = load_manifests([str(FIX)])
    store = Store()
    store.load_cluster(objects, scopes)
    with KubeAPIServer(store) as api:
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        live = CliRunner(mix_stderr=False).invoke(
            cli, ["access", "audit", "--cluster", "--kubeconfig", kubeconfig, "-o", "json"]
        )
    files = CliRunner(mix_stderr=False).invoke(cli, ["access", "audit", str(FIX), "-o", "json"])
    assert live.exit_code == files.exit_code == 1, live.output
    a, b = json.loads(live.stdout), json.loads(files.stdout)
    assert a["people"] == b["people"] and a["certificate_requests"] == b["certificate_requests"]
    key = sorted((f["rule_id"], f["object"]) for f in a["findings"])
    assert key == sorted((f["rule_id"], f["object"]) for f in b["findings"])
