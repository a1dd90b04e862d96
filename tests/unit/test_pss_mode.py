"""`kubefort scan --pss LEVEL`: the PSS rules only, judged as Pod Security admission, control names on findings."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubefort.cli import cli

BASELINE_OK_RESTRICTED_NOT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  template:
    spec:
      containers:
      - name: api
        image: registry.example.com/api:1.0
        securityContext:
          runAsUser: 1000
"""

RESTRICTED_OK = """\
apiVersion: v1
kind: Pod
metadata:
  name: ok
  namespace: shop
spec:
  securityContext:
    runAsNonRoot: true
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: app
    image: registry.example.com/app:1.0
    securityContext:
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
"""


def _scan(tmp_path: Path, text: str, level: str) -> dict:
    f = tmp_path / "w.yaml"
    f.write_text(text)
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", str(f), "--pss", level, "-o", "json", "--fail-on", "critical"])
    assert r.exit_code in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_baseline_passes_restricted_fails(tmp_path: Path) -> None:
    assert _scan(tmp_path, BASELINE_OK_RESTRICTED_NOT, "baseline")["findings"] == []
    data = _scan(tmp_path, BASELINE_OK_RESTRICTED_NOT, "restricted")
    controls = {f["pss"]["control"] for f in data["findings"]}
    # runAsUser 1000 alone does not satisfy "Running as Non-root" under PSA
    assert {"Privilege Escalation", "Running as Non-root", "Seccomp", "Capabilities"} <= controls
    assert all(f["pss"]["level"] in ("baseline", "restricted") for f in data["findings"])
    assert {f["rule_id"] for f in data["findings"]} <= set(_pss_rule_ids())


def test_restricted_compliant_pod(tmp_path: Path) -> None:
    assert _scan(tmp_path, RESTRICTED_OK, "restricted")["findings"] == []


def _pss_rule_ids() -> set[str]:
    from kubefort.rules import default_registry

    return {r.meta.id for r in default_registry() if r.meta.pss}
