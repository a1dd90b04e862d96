"""``kubefort scan --images``: the images of the scanned workloads are judged too, and a workload's
finding says which of its images carries which vulnerability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort.cli import cli

from .build import AppImage

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: storefront
  namespace: shop
spec:
  selector:
    matchLabels: {app: storefront}
  template:
    metadata:
      labels: {app: storefront}
    spec:
      containers:
        - name: web
          image: kubefort-test/app:1
        - name: sidecar
          image: registry.example.com/ops/missing:1.0
"""


def test_scan_images_from_cache(app_image: AppImage, vulndb: str, tmp_path: Path) -> None:
    (tmp_path / "deploy.yaml").write_text(DEPLOYMENT)
    args = ["scan", str(tmp_path), "--images", "--image-cache", str(app_image.docker_archive.parent)]
    r = CliRunner(mix_stderr=False).invoke(
        cli, [*args, "--no-pull", "--db", vulndb, "-o", "json", "--rules", "KF-VULN-*"], catch_exceptions=False
    )
    assert r.exit_code == 1, r.stderr
    doc = json.loads(r.stdout)
    on_deploy = [f for f in doc["findings"] if f["object"]["kind"] == "Deployment"]
    minimist = next(f for f in on_deploy if f["subcode"] == "GHSA-xvch-5gv4-984h")
    assert minimist["severity"] == "critical"
    assert minimist["path"] == "spec.template.spec.containers[0].image" and minimist["location"]["line"] == 15
    assert minimist["message"].startswith(
        'container "web" runs image kubefort-test/app:1, which carries GHSA-xvch-5gv4-984h'
    )
    assert "npm package minimist 1.2.5" in minimist["message"]
    assert {f["object"]["kind"] for f in doc["findings"]} == {"Deployment", "ContainerImage"}
    # the image that could not be read: a note; a workload none of whose images was read: not evaluated
    assert "image registry.example.com/ops/missing:1.0: not in the image cache (and --no-pull)" in doc["notes"]
    assert doc["not_evaluated"] == []
    (tmp_path / "deploy.yaml").write_text(DEPLOYMENT.replace("kubefort-test/app:1", "registry.example.com/ops/other:2"))
    r = CliRunner(mix_stderr=False).invoke(
        cli, [*args, "--no-pull", "--db", vulndb, "-o", "json", "--rules", "KF-VULN-*"], catch_exceptions=False
    )
    ne = json.loads(r.stdout)["not_evaluated"]
    assert len(ne) == 1 and "was not scanned: not in the image cache" in ne[0]["reason"]
    # without --images the workload rule does not run at all
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", str(tmp_path), "-o", "json", "--rules", "KF-VULN-*"])
    assert json.loads(r.stdout)["findings"] == [] and json.loads(r.stdout)["not_evaluated"] == []


def test_image_reads_show_progress_on_a_terminal(
    app_image: AppImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pulling and reading images is long work: on a terminal a status line names the image being read
    # (scan --images and image scan alike); off a terminal nothing is drawn and the report is the same
    from kubefort.cli import progress

    (tmp_path / "deploy.yaml").write_text(DEPLOYMENT)
    scan = ["scan", str(tmp_path), "--images", "--image-cache", str(app_image.docker_archive.parent), "--no-pull"]
    image = ["image", "scan", str(app_image.docker_archive)]
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    for args, shown in ((scan, "reading image 1/2: kubefort-test/app:1"), (image, "reading image 1/1: ")):
        outputs = []
        for terminal in (True, False):
            monkeypatch.setattr(progress, "_stderr_is_terminal", lambda t=terminal: t)
            r = CliRunner(mix_stderr=False).invoke(cli, [*args, "-o", "json", "--rules", "KF-OCI-*"])
            assert r.exit_code in (0, 1), r.stderr
            assert (shown in r.stderr) is terminal
            doc = json.loads(r.stdout)
            doc.pop("generated", None)
            outputs.append(doc)
        assert outputs[0] == outputs[1]
