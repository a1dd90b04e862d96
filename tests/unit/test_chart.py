"""The Helm chart charts/kubefort: its templates are generated from the manifests code
(scripts/gen_chart.py) and must be up to date; ``helm lint`` passes; ``helm template`` renders exactly
the objects of ``kubefort admission manifests`` / ``kubefort deploy manifests`` given the same
settings; the rendered chart scans clean at ``--fail-on medium`` (suppressions carry reasons) and
passes the schema rules (KF-SCHEMA)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from tests.conftest import tool

from kubefort.cli import cli

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubefort"
CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJmakNDQVNTZ0F3SUJBZ0lVRXhhbXBsZQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg=="

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def helm() -> str:
    exe = tool("helm")
    if exe is None:
        pytest.skip("helm not installed (make tools)")
    return exe


def _key(d: dict[str, Any]) -> tuple[str, str, str]:
    return (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"])


def _objects(text: str) -> list[dict[str, Any]]:
    return sorted((d for d in yaml.safe_load_all(text) if d), key=_key)


def _render(helm: str, *args: str) -> str:
    r = subprocess.run([helm, "template", "kubefort", str(CHART), *args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _kubefort(*args: str) -> str:
    r = CliRunner(mix_stderr=False).invoke(cli, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    return r.output


def test_templates_are_generated_from_the_manifests_code() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_chart.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr


def test_helm_lint(helm: str) -> None:
    for args in ([], ["--set", "scanner.enabled=true", "--set", "admission.certManager.issuer=ca"]):
        r = subprocess.run([helm, "lint", "--strict", str(CHART), *args], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_chart_version_and_default_image_are_this_release() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == version
    assert values["image"] == f"ghcr.io/kubefort/kubefort:{version}"


def test_default_values_render_the_admission_manifests(helm: str) -> None:
    rendered = _objects(_render(helm))
    assert rendered == _objects(_kubefort("admission", "manifests"))
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "PodDisruptionBudget", "Service", "ValidatingWebhookConfiguration"} <= kinds
    dep = next(d for d in rendered if d["kind"] == "Deployment")
    assert dep["spec"]["replicas"] >= 2


def test_values_render_what_the_commands_render_with_the_same_settings(helm: str) -> None:
    selector = {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "sec"]},
            {"key": "kubefort.io/admission", "operator": "NotIn", "values": ["disabled"]},
        ]
    }
    rendered = _render(
        helm,
        "--set",
        "admission.namespace=sec",
        "--set",
        "admission.failurePolicy=Ignore",
        "--set",
        "admission.timeoutSeconds=10",
        "--set",
        "admission.certManager.issuer=sec-ca",
        "--set",
        "admission.failOn=medium",
        "--set-json",
        f"admission.namespaceSelector={json.dumps(selector)}",
        "--set",
        "scanner.enabled=true",
        "--set",
        "scanner.namespace=scan",
        "--set",
        "scanner.schedule=@daily",
    )
    admission = _kubefort(
        "admission",
        "manifests",
        "--namespace",
        "sec",
        "--failure-policy",
        "Ignore",
        "--timeout",
        "10",
        "--cert-manager-issuer",
        "sec-ca",
        "--fail-on",
        "medium",
    )
    deploy = _kubefort("deploy", "manifests", "--namespace", "scan", "--schedule", "@daily")
    assert _objects(rendered) == _objects(admission + "---\n" + deploy)
    # with a CA: in the webhook, no cert-manager annotation, no placeholder
    vwc = next(d for d in _objects(_render(helm, "--set", f"admission.caBundle={CA}")) if d["kind"].startswith("Valid"))
    assert vwc["webhooks"][0]["clientConfig"]["caBundle"] == CA and "annotations" not in vwc["metadata"]
    assert _objects(_render(helm, "--set", f"admission.caBundle={CA}")) == _objects(
        _kubefort("admission", "manifests", "--ca-bundle", str(_write_ca(CA)))
    )


def _write_ca(text: str) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp()) / "ca-bundle.b64"
    path.write_text(text)
    return path


def test_policy_values_are_mounted_and_passed(helm: str) -> None:
    policy = {"modes": [{"rules": ["KF-IMG-006"], "mode": "audit"}]}
    objs = _objects(_render(helm, "--set-json", f"admission.policy={json.dumps(policy)}"))
    cm = next(d for d in objs if d["kind"] == "ConfigMap")
    assert yaml.safe_load(cm["data"]["policy.yaml"]) == policy
    pod = next(d for d in objs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--policy") + 1] == "/etc/kubefort/policy.yaml"
    assert {"name": "policy", "mountPath": "/etc/kubefort", "readOnly": True} in pod["containers"][0]["volumeMounts"]
    assert {"name": "policy", "configMap": {"name": cm["metadata"]["name"]}} in pod["volumes"]


def test_rendered_chart_scans_clean(helm: str, tmp_path: Path) -> None:
    (tmp_path / "default.yaml").write_text(_render(helm))
    (tmp_path / "full.yaml").write_text(
        _render(
            helm,
            "--set",
            f"admission.caBundle={CA}",
            "--set",
            "scanner.enabled=true",
            "--set",
            "admission.failOn=medium",
        )
    )
    (tmp_path / "cert-manager.yaml").write_text(_render(helm, "--set", "admission.certManager.issuer=ca"))
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["scan", str(tmp_path), "--fail-on", "medium", "-o", "json"], catch_exceptions=False
    )
    assert r.exit_code == 0, r.output[-3000:]
    doc = json.loads(r.output)
    assert doc["summary"]["results"]["fail"] == 0 and doc["summary"]["results"]["error"] == 0
    for f in doc["findings"]:  # only suppressed ones, each with its reason
        assert f["suppressed"] is True, f
        source, _, reason = str(f.get("suppression", "")).partition(": ")
        assert source and reason.strip(), f
    # the schema rules: nothing at all in the objects with a real CA
    schema = [
        f for f in doc["findings"] if f["rule_id"].startswith("KF-SCHEMA") and "full.yaml" in f["location"]["file"]
    ]
    assert schema == []


def test_pods_match_the_image_build() -> None:
    """The user and port the image is built with are the ones the manifests (and so the chart) run:
    a mismatch would only show in a cluster."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_image
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    objs = _objects(_kubefort("admission", "manifests")) + _objects(_kubefort("deploy", "manifests"))
    pods = [d["spec"]["template"]["spec"] for d in objs if d["kind"] == "Deployment"]
    pods += [d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for d in objs if d["kind"] == "CronJob"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["securityContext"]["runAsUser"] == build_image.UID
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    webhook = next(d for d in objs if d["kind"] == "Deployment" and d["metadata"]["name"] == "kubefort-admission")
    (container,) = webhook["spec"]["template"]["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == build_image.PORT


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/kubefort/kubefort@sha256:" + "ab" * 32,  # pinned, a private mirror: no suppression
        "registry.example.com/kubefort/kubefort:0.1.0",  # a mirror by tag: KF-IMG-002 only
        "ghcr.io/kubefort/kubefort@sha256:" + "cd" * 32,  # pinned, the published registry: KF-IMG-006 only
        "kubefort:0.1.0",  # no registry: both
    ],
)
def test_image_value_gives_the_commands_suppressions(helm: str, image: str) -> None:
    rendered = _render(helm, "--set", f"image={image}", "--set", "scanner.enabled=true")
    expected = _kubefort("admission", "manifests", "--image", image) + "---\n"
    expected += _kubefort("deploy", "manifests", "--image", image)
    assert _objects(rendered) == _objects(expected)


@pytest.mark.parametrize(
    "bad",
    [
        "admission.failurePolicy=Never",  # the API server knows Fail and Ignore only
        "admission.timeoutSeconds=31",  # the API server's maximum is 30
        "admission.failOn=severe",
        "admission.namespace=Kube_Fort",  # not a DNS label
        "admission.replicaCount=3",  # a misspelt value is an error, not silently ignored
    ],
)
def test_values_schema_refuses_bad_values(helm: str, bad: str) -> None:
    r = subprocess.run([helm, "template", "kubefort", str(CHART), "--set", bad], capture_output=True, text=True)
    assert r.returncode != 0 and "values don't meet the specifications of the schema" in r.stderr, r.stderr
