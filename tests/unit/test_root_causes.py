"""Root causes: findings of one object that report the same value are one cause in the table and
the summary, headed by the most severe, with the other rule IDs listed; JSON and SARIF keep every
finding (docs/outputs.md, "Root causes")."""

from __future__ import annotations

import io
import json

from kubefort.api import ScanOptions, scan_inventory
from kubefort.engine.config import Config
from kubefort.engine.findings import Report, is_specific, root_causes
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.reporters.json_report import JsonReporter
from kubefort.reporters.table import TableReporter

# modelled on kube-prometheus' node-exporter (SYS_TIME) and a role with "*" on secrets
MANIFESTS = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-exporter
  namespace: monitoring
spec:
  selector:
    matchLabels: {app: node-exporter}
  template:
    metadata:
      labels: {app: node-exporter}
    spec:
      automountServiceAccountToken: false
      containers:
      - name: node-exporter
        image: registry.example.com/node-exporter:1.8.2
        securityContext:
          capabilities:
            add: [SYS_TIME]
          readOnlyRootFilesystem: true
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: vault-sync
  namespace: monitoring
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: ["*"]
"""


def _report(text: str = MANIFESTS, file: str = "m.yaml") -> Report:
    loaded = load_text(text, file)
    return scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=Config())


def test_one_capability_is_one_cause_under_the_most_severe_rule() -> None:
    report = _report()
    add = ("spec", "template", "spec", "containers", 0, "securityContext", "capabilities", "add", 0)
    on_cap = [f for f in report.findings if f.path == add]
    assert {f.rule.id for f in on_cap} == {"KF-POD-011", "KF-POD-012", "KF-POD-015"}  # every rule kept
    (cause,) = [c for c in report.root_causes() if c.head.path == add]
    assert cause.head.rule.id == "KF-POD-012" and cause.head.severity.label == "critical"
    assert [f.rule.id for f in cause.also] == ["KF-POD-011", "KF-POD-015"]


def test_wildcard_verbs_on_secrets_is_one_cause() -> None:
    report = _report()
    role = [f for f in report.findings if f.object.kind == "Role"]
    assert len(role) >= 4 and {"KF-RBAC-002", "KF-RBAC-003", "KF-RBAC-007"} <= {f.rule.id for f in role}
    causes = [c for c in report.root_causes() if c.head.object.kind == "Role"]
    assert len(causes) == 1 and len(causes[0].findings) == len(role)


def test_missing_fields_named_at_their_parent_stay_separate_causes() -> None:
    """ "no memory limit", "no CPU limit", "no liveness probe" all point at the container: different fixes."""
    report = _report()
    container = ("spec", "template", "spec", "containers", 0)
    at_container = [f for f in report.findings if f.path == container]
    assert {"KF-POD-041", "KF-POD-042", "KF-POD-045"} <= {f.rule.id for f in at_container}
    assert all(not f.specific for f in at_container)
    heads = [c.head for c in report.root_causes() if c.head.path == container]
    assert len(heads) == len(at_container)


def test_copies_in_two_files_are_never_one_cause() -> None:
    one, two = _report(file="a.yaml"), _report(file="b.yaml")
    both = [*one.active_findings, *two.active_findings]
    assert len(root_causes(both)) == 2 * len(one.root_causes())


def test_is_specific() -> None:
    raw = {"spec": {"a": [1, 2], "m": {"x": 1}, "l": [{"x": 1}], "n": None, "s": "v"}}
    assert is_specific(raw, ("spec", "a")) and is_specific(raw, ("spec", "a", 0)) and is_specific(raw, ("spec", "s"))
    assert is_specific(raw, ("spec", "absent", "deeper"))  # a rule naming the field it wants
    assert not is_specific(raw, ("spec", "m")) and not is_specific(raw, ("spec", "l"))
    assert not is_specific(raw, ("spec", "n")) and not is_specific(raw, ())


def test_table_lists_causes_and_json_keeps_every_finding() -> None:
    report = _report()
    out = io.StringIO()
    TableReporter(color=False).render(report, out)
    text = out.getvalue()
    assert "KF-POD-012 container" in text and "KF-POD-011 container" not in text
    assert "same cause: KF-POD-011 (high), KF-POD-015 (medium)" in text
    summary = report.summary()
    assert summary["root_causes"]["total"] == len(report.root_causes()) < summary["findings"]
    assert summary["by_rule"]["KF-POD-011"] == 1 and summary["by_rule"]["KF-POD-012"] == 1
    assert f"{summary['root_causes']['total']} root causes:" in text

    buf = io.StringIO()
    JsonReporter().render(report, buf)
    doc = json.loads(buf.getvalue())
    assert len(doc["findings"]) == len(report.findings)  # machines get every rule's result
    links = {
        doc["findings"][c["finding"]]["rule_id"]: [doc["findings"][i]["rule_id"] for i in c["also"]]
        for c in doc["root_causes"]
    }
    assert links["KF-POD-012"] == ["KF-POD-011", "KF-POD-015"]
