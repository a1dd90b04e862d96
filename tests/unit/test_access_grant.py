"""``kubefort access grant``: the key, CSR and RBAC objects parsed back and checked against what the
Kubernetes API requires (certificates.k8s.io/v1, the kube-apiserver-client signer), file modes, and the
scan of what was written."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubefort.access import grant
from kubefort.analysis.rbac.index import RbacIndex
from kubefort.api import ScanOptions, load_inputs, scan_inventory
from kubefort.cli import cli
from kubefort.errors import UsageError
from kubefort.model.inventory import Inventory


def _grant(tmp_path: Path, *args: str) -> tuple[Any, Path]:
    out = tmp_path / "kit"
    r = CliRunner(mix_stderr=False).invoke(cli, ["access", "grant", *args, "--out", str(out)])
    return r, out


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_grant_writes_a_kit_parsed_back(tmp_path: Path) -> None:
    r, out = _grant(tmp_path, "jane@example.com", "-n", "shop", "--group", "devs", "--group", "shop", "--expires", "8h")
    assert r.exit_code == 0, r.output
    slug = "jane-example.com"
    key_pem = (out / f"{slug}.key").read_bytes()
    assert key_pem.decode() not in r.stdout and "PRIVATE KEY" not in r.stdout + r.stderr  # never printed
    # file modes: the key and the kubeconfig naming it are the owner's only
    assert stat.S_IMODE(os.stat(out / f"{slug}.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out / "kubeconfig").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(out / "csr.yaml").st_mode) == 0o644
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    # the CertificateSigningRequest object, as certificates.k8s.io/v1 validates it
    [csr_obj] = _docs(out / "csr.yaml")
    assert csr_obj["apiVersion"] == "certificates.k8s.io/v1" and csr_obj["kind"] == "CertificateSigningRequest"
    spec = csr_obj["spec"]
    assert spec["signerName"] == "kubernetes.io/kube-apiserver-client"
    assert spec["usages"] == ["client auth"]
    assert spec["expirationSeconds"] == 8 * 3600
    csr = x509.load_pem_x509_csr(base64.b64decode(spec["request"]))
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "jane@example.com"
    assert [a.value for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["devs", "shop"]
    assert csr.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    assert (out / f"{slug}.csr").read_bytes() == base64.b64decode(spec["request"])
    # the kubeconfig names the certificate the approval produces and the key
    kc = yaml.safe_load((out / "kubeconfig").read_text())
    assert kc["users"][0]["user"] == {"client-certificate": f"{slug}.crt", "client-key": f"{slug}.key"}
    assert kc["contexts"][0]["context"]["namespace"] == "shop"
    assert "client-key-data" not in (out / "kubeconfig").read_text()
    assert f"kubectl certificate approve {csr_obj['metadata']['name']}" in r.stdout


def test_view_role_is_read_only_without_secrets(tmp_path: Path) -> None:
    r, out = _grant(tmp_path, "jane", "-n", "shop")
    assert r.exit_code == 0, r.output
    role, binding = _docs(out / "rbac.yaml")
    assert role["kind"] == "Role" and role["metadata"]["namespace"] == "shop"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "jane-view"}
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]
    for rule in role["rules"]:
        assert rule["verbs"] == ["get", "list", "watch"]
        assert "*" not in rule["resources"] + rule["apiGroups"]
    # the RBAC engine: what jane can do, and not do, in shop and elsewhere
    loaded = load_inputs(ScanOptions(paths=[str(out / "rbac.yaml")]))
    idx = RbacIndex.build(Inventory(loaded.objects))
    jane = "User:jane"
    assert idx.can(jane, "list", "pods", namespace="shop").allowed
    assert idx.can(jane, "get", "deployments.apps", namespace="shop").allowed
    assert not idx.can(jane, "get", "secrets", namespace="shop").allowed
    assert not idx.can(jane, "create", "pods/exec", namespace="shop").allowed
    assert not idx.can(jane, "delete", "pods", namespace="shop").allowed
    assert not idx.can(jane, "list", "pods", namespace="other").allowed


def test_written_objects_scan_clean(tmp_path: Path) -> None:
    """kubefort scan of the kit (view): no failing finding at all."""
    r, out = _grant(tmp_path, "jane", "-n", "shop", "--group", "devs")
    assert r.exit_code == 0
    loaded = load_inputs(ScanOptions(paths=[str(out)]))
    assert not loaded.errors
    assert {o.kind for o in loaded.objects} == {"CertificateSigningRequest", "Role", "RoleBinding"}
    report = scan_inventory(Inventory(loaded.objects), ScanOptions())
    assert [(f.rule.id, f.object.name) for f in report.findings] == []


def test_edit_role_writes_but_not_secrets_rbac_or_exec(tmp_path: Path) -> None:
    r, out = _grant(tmp_path, "bob", "-n", "shop", "--role", "edit")
    assert r.exit_code == 0, r.output
    loaded = load_inputs(ScanOptions(paths=[str(out / "rbac.yaml")]))
    idx = RbacIndex.build(Inventory(loaded.objects))
    bob = "User:bob"
    assert idx.can(bob, "create", "deployments.apps", namespace="shop").allowed
    assert idx.can(bob, "delete", "pods", namespace="shop").allowed
    for verb, res in [
        ("get", "secrets"),
        ("create", "secrets"),
        ("create", "pods/exec"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("create", "serviceaccounts/token"),
    ]:
        assert not idx.can(bob, verb, res, namespace="shop").allowed, (verb, res)
    # what the RBAC rules report is what "edit" means (deploy pods, change config and Services), nothing more
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(rules=["KF-RBAC-*"]))
    assert {f.rule.id for f in report.findings} == {"KF-RBAC-010", "KF-RBAC-030", "KF-RBAC-031", "KF-RBAC-032"}


def test_existing_role_bound_as_is(tmp_path: Path) -> None:
    r, out = _grant(tmp_path, "ops", "-n", "shop", "--role", "ClusterRole/view")
    assert r.exit_code == 0
    [binding] = _docs(out / "rbac.yaml")
    assert binding["roleRef"]["kind"] == "ClusterRole" and binding["roleRef"]["name"] == "view"
    assert binding["metadata"] == {
        "name": "ops-view",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "kubefort", "kubefort.io/access-user": "ops"},
    }


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["system:admin", "-n", "x"], "reserved"),
        (["jane", "-n", "x", "--group", "system:masters"], "bypasses RBAC"),
        (["jane", "-n", "x", "--expires", "5m"], "minimum is 10m"),
        (["jane", "-n", "x", "--expires", "soon"], "duration"),
        (["jane", "-n", "x", "--role", "Thing/x"], "--role"),
        (["jane", "-n", "Shop_1"], "not a valid namespace name"),
    ],
)
def test_refused(tmp_path: Path, args: list[str], msg: str) -> None:
    r, out = _grant(tmp_path, *args)
    assert r.exit_code == 2 and msg in r.stderr and r.stderr.count("\n") == 1
    assert not out.exists()


def test_existing_key_not_overwritten(tmp_path: Path) -> None:
    r, out = _grant(tmp_path, "jane", "-n", "shop")
    before = (out / "jane.key").read_bytes()
    r, _ = _grant(tmp_path, "jane", "-n", "shop")
    assert r.exit_code == 2 and "exists" in r.stderr
    assert (out / "jane.key").read_bytes() == before
    r, _ = _grant(tmp_path, "jane", "-n", "shop", "--force")
    assert r.exit_code == 0 and (out / "jane.key").read_bytes() != before


def test_durations() -> None:
    assert grant.parse_duration("24h") == 86400
    assert grant.parse_duration("7d") == 7 * 86400
    assert grant.parse_duration("1h30m") == 5400
    assert grant.parse_duration("900") == 900
    with pytest.raises(UsageError):
        grant.parse_duration("")


def test_kit_repr_hides_key() -> None:
    kit = grant.build("jane", "shop", now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert "PRIVATE" not in repr(kit) and kit.csr_name == "jane-20260102030405"
