"""Deploying the webhook: certificates, manifests (which must pass kubefort's own scan), the CLI."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from kubefort.admission import certs, manifests
from kubefort.admission.config import AdmissionPolicy
from kubefort.api import ScanOptions, load_inputs, scan_inventory
from kubefort.cli import cli
from kubefort.engine.config import Config
from kubefort.engine.rule import Severity
from kubefort.model.inventory import Inventory
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parent.parent.parent
FIX = ROOT / "tests" / "fixtures" / "admission"
REGISTRY = default_registry(plugins=False)
POLICY = AdmissionPolicy.build(registry=REGISTRY, cfg=Config())


def test_certificates(tmp_path: Path) -> None:
    issued = certs.issue("kubefort-admission", "kubefort-system", days=30)
    paths = certs.write(issued, str(tmp_path))
    ca = x509.load_pem_x509_certificate(Path(paths["ca.crt"]).read_bytes())
    leaf = x509.load_pem_x509_certificate(Path(paths["tls.crt"]).read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == [
        "kubefort-admission",
        "kubefort-admission.kubefort-system",
        "kubefort-admission.kubefort-system.svc",
        "kubefort-admission.kubefort-system.svc.cluster.local",
    ]
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    leaf.verify_directly_issued_by(ca)
    assert leaf.issuer == ca.subject
    assert 29 <= (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days <= 31
    # the caBundle is the CA certificate, PEM, base64
    bundle = Path(paths["ca-bundle.b64"]).read_text().strip()
    assert base64.b64decode(bundle) == Path(paths["ca.crt"]).read_bytes() == issued.ca_cert_pem
    for key in ("ca.key", "tls.key"):
        assert stat.S_IMODE(os.stat(paths[key]).st_mode) == 0o600


def test_certs_cli(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "admission",
            "certs",
            "--service",
            "guard",
            "--namespace",
            "sec",
            "--out",
            str(tmp_path / "c"),
            "--dns",
            "guard.example.com",
            "--ip",
            "10.0.0.7",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "guard.sec.svc.cluster.local" in res.output and (tmp_path / "c" / "tls.key").exists()
    leaf = x509.load_pem_x509_certificate((tmp_path / "c" / "tls.crt").read_bytes())
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "guard.example.com" in san.get_values_for_type(x509.DNSName)
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7"]
    res = CliRunner().invoke(
        cli, ["admission", "certs", "--service", "a", "--namespace", "b", "--out", str(tmp_path), "--ip", "not-an-ip"]
    )
    assert res.exit_code == 2 and "not an IP address" in res.output


def _docs(opts: manifests.ManifestOptions | None = None) -> list[dict]:
    opts = opts or manifests.ManifestOptions()
    return list(yaml.safe_load_all(manifests.render(manifests.build(POLICY.rules, opts))))


def test_manifests_shape() -> None:
    docs = _docs(manifests.ManifestOptions(ca_bundle="Q0E="))
    by_kind = {d["kind"]: d for d in docs}
    assert {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ValidatingWebhookConfiguration",
    } <= set(by_kind)
    dep = by_kind["Deployment"]
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False and c["securityContext"]["privileged"] is False
    assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"]
    assert by_kind["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    (hook,) = by_kind["ValidatingWebhookConfiguration"]["webhooks"]
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None" and hook["timeoutSeconds"] == 5
    assert hook["admissionReviewVersions"] == ["v1"] and hook["clientConfig"]["caBundle"] == "Q0E="
    assert hook["clientConfig"]["service"] == {
        "name": "kubefort-admission",
        "namespace": "kubefort-system",
        "path": "/validate",
        "port": 443,
    }
    (ns_sel, _optout) = hook["namespaceSelector"]["matchExpressions"]
    assert ns_sel["operator"] == "NotIn" and set(ns_sel["values"]) == {"kube-system", "kubefort-system"}
    resources = {r for rule in hook["rules"] for r in rule["resources"]}
    assert {"pods", "pods/ephemeralcontainers", "deployments", "cronjobs", "daemonsets"} <= resources
    assert "secrets" not in resources
    assert all(set(rule["operations"]) == {"CREATE", "UPDATE"} for rule in hook["rules"])


@pytest.mark.parametrize(
    "opts",
    [
        manifests.ManifestOptions(),
        manifests.ManifestOptions(
            image="registry.example.com/sec/kubefort@sha256:" + "0" * 64, failure_policy="Ignore"
        ),
        manifests.ManifestOptions(cert_manager_issuer="kubefort-ca", namespace="policy"),
    ],
    ids=["default", "pinned-image", "cert-manager"],
)
def test_own_manifests_pass_kubefort_scan(tmp_path: Path, opts: manifests.ManifestOptions) -> None:
    """No finding at medium or above; every low (or info) finding suppressed in the manifest with a reason."""
    path = tmp_path / "webhook.yaml"
    path.write_text(manifests.render(manifests.build(POLICY.rules, opts)))
    loaded = load_inputs(ScanOptions(paths=[str(path)]))
    assert not loaded.errors
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=Config(), registry=REGISTRY)
    active = [f"{f.rule.id} {f.object}: {f.message}" for f in report.active_findings if f.severity >= Severity.LOW]
    assert active == []
    assert not report.rule_errors
    for f in report.findings:
        if f.suppressed:
            assert f.suppression.startswith("annotation: ") and len(f.suppression) > len("annotation: ") + 10


def test_committed_deploy_manifests_pass_and_cover_the_rules() -> None:
    path = ROOT / "deploy" / "kubefort-admission.yaml"
    loaded = load_inputs(ScanOptions(paths=[str(path)]))
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=Config(), registry=REGISTRY)
    assert [f.rule.id for f in report.active_findings if f.severity >= Severity.LOW] == []
    (vwc,) = [o for o in loaded.objects if o.kind == "ValidatingWebhookConfiguration"]
    have = {(g, r) for rule in vwc.raw["webhooks"][0]["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    want = {
        (g, r) for rule in manifests.webhook_rules(POLICY.rules) for g in rule["apiGroups"] for r in rule["resources"]
    }
    assert want <= have, f"regenerate deploy/: kubefort admission manifests --output {path.relative_to(ROOT)}"


def test_manifests_cli(tmp_path: Path) -> None:
    bundle = tmp_path / "ca-bundle.b64"
    bundle.write_text("Q0FCVU5ETEU=\n")
    res = CliRunner().invoke(cli, ["admission", "manifests", "--ca-bundle", str(bundle), "--namespace", "guard"])
    assert res.exit_code == 0, res.output
    docs = [d for d in yaml.safe_load_all(res.output) if d]
    vwc = next(d for d in docs if d["kind"] == "ValidatingWebhookConfiguration")
    assert vwc["webhooks"][0]["clientConfig"]["caBundle"] == "Q0FCVU5ETEU="
    res = CliRunner().invoke(cli, ["admission", "manifests", "--ca-bundle", str(bundle), "--cert-manager-issuer", "x"])
    assert res.exit_code == 2


def test_rules_cli_lists_evaluated_and_skipped() -> None:
    res = CliRunner().invoke(cli, ["admission", "rules", "-o", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    skipped = {s["id"]: s["reason"] for s in data["skipped"]}
    for r in REGISTRY:
        if r.meta.cross_object and r.meta.enabled:
            # a rule that also waits for a parameter (KF-VULN-002: scan --images) is skipped for that first
            assert ("inactive: set the parameter" if r.meta.requires else "cross-object") in skipped[r.meta.id]
    assert "KF-POD-001" in {e["id"] for e in data["evaluated"]}
    assert data["fail_on"] == "high"
    res = CliRunner().invoke(cli, ["admission", "rules"])
    assert res.exit_code == 0 and "Skipped at admission" in res.output


def test_review_cli() -> None:
    r = CliRunner().invoke(cli, ["admission", "review", str(FIX / "create-pod-privileged.json")])
    assert r.exit_code == 1 and json.loads(r.output)["response"]["allowed"] is False
    r = CliRunner().invoke(cli, ["admission", "review", str(FIX / "create-deployment-hardened.json")])
    assert r.exit_code == 0
    r = CliRunner().invoke(cli, ["admission", "review", "-"], input='{"apiVersion": "v1"}')
    assert r.exit_code == 2 and "admission.k8s.io/v1" in r.output
    r = CliRunner().invoke(cli, ["admission", "review", "-"], input="{nope")
    assert r.exit_code == 2 and "not valid JSON" in r.output


def test_serve_cli_rejects_bad_certificates(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        cli, ["admission", "serve", "--cert", str(tmp_path / "no.crt"), "--key", str(tmp_path / "no.key")]
    )
    assert r.exit_code == 2 and "no such file" in r.output
    (tmp_path / "bad.crt").write_text("not a certificate")
    (tmp_path / "bad.key").write_text("not a key")
    r = CliRunner().invoke(
        cli, ["admission", "serve", "--cert", str(tmp_path / "bad.crt"), "--key", str(tmp_path / "bad.key")]
    )
    assert r.exit_code == 2 and "cannot load the certificate" in r.output
