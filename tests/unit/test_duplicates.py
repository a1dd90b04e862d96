"""Objects of the same identity (API group, kind, namespace, name) in several files: the install
variants of ingress-nginx (one deploy.yaml per cloud provider) and argo-cd (install.yaml and
ha/namespace-install.yaml). Each copy is judged where it is; analyses across objects see one copy
and the report says so (docs/outputs.md, "Duplicate objects")."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kubefort import api
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.reporters.table import TableReporter

VARIANT = """\
apiVersion: v1
kind: Namespace
metadata:
  name: edge
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: edge-controller
  namespace: edge
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: edge-controller
  namespace: edge
rules:
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: edge-controller
  namespace: edge
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: edge-controller
subjects:
- kind: ServiceAccount
  name: edge-controller
  namespace: edge
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: edge-controller
  namespace: edge
spec:
  selector:
    matchLabels: {app: edge}
  template:
    metadata:
      labels: {app: edge}
    spec:
      serviceAccountName: edge-controller
      containers:
      - name: controller
        image: registry.example.com/edge/controller:1.15.1
"""
PROVIDERS = ("aws", "cloud", "kind")


@pytest.fixture
def variants(tmp_path: Path) -> Path:
    for p in PROVIDERS:
        (tmp_path / p).mkdir()
        (tmp_path / p / "deploy.yaml").write_text(VARIANT)
    return tmp_path


def test_cross_object_messages_name_each_grant_once(variants: Path) -> None:
    report = api.scan(api.ScanOptions(paths=[str(variants)]))
    takeover = [f for f in report.findings if f.rule.id == "KF-RBAC-035"]
    assert len(takeover) == 3  # one per Deployment copy, each in its own file
    assert sorted(f.location.file for f in takeover) == [str(variants / p / "deploy.yaml") for p in PROVIDERS]
    for f in takeover:
        assert f.message.count('RoleBinding "edge/edge-controller"') == 1, f.message


def test_namespace_counts_count_identities_not_copies(variants: Path) -> None:
    report = api.scan(api.ScanOptions(paths=[str(variants)]))
    quota = [f.message for f in report.findings if f.rule.id == "KF-POD-044"]
    assert quota and all('namespace "edge" runs 1 workload ' in m for m in quota), quota


def test_report_says_which_copy_cross_object_rules_use(variants: Path) -> None:
    report = api.scan(api.ScanOptions(paths=[str(variants)]))
    assert report.duplicates == 5 and report.summary()["duplicate_identities"] == 5
    note = next(n for n in report.notes if n.startswith("Deployment/edge/edge-controller "))
    first = str(variants / "aws" / "deploy.yaml")
    assert "is defined 3 times" in note and f"use the first, at {first}:36" in note
    assert str(variants / "kind" / "deploy.yaml") + ":36" in note


def test_table_keeps_each_copy_under_its_own_file(variants: Path) -> None:
    report = api.scan(api.ScanOptions(paths=[str(variants)]))
    out = io.StringIO()
    TableReporter(color=False).render(report, out)
    text = out.getvalue()
    for p in PROVIDERS:
        assert f"Deployment/edge/edge-controller  {p}/deploy.yaml:36\n" in text
    assert "5 objects are defined more than once" in text


def test_inventory_lookups_hold_one_object_per_identity() -> None:
    two = VARIANT + "---\n" + VARIANT
    objs = load_text(two, "twice.yaml").objects
    inv = Inventory(objs)
    assert len(inv) == len(inv.objects) == 10  # every copy is an object of the input
    assert [o.locate().line for o in inv.of_kind("Deployment")] == [36]
    assert inv.get("Deployment", "edge", "edge-controller") is objs[4]
    assert len(inv.in_namespace("edge")) == 4
    dups = inv.duplicates()
    assert [len(d) for d in dups] == [2] * 5 and dups[0][0] is objs[0] and dups[0][1] is objs[5]


def test_objects_without_identity_are_never_merged() -> None:
    text = """\
apiVersion: batch/v1
kind: Job
metadata: {generateName: migrate-, namespace: app}
---
apiVersion: batch/v1
kind: Job
metadata: {generateName: migrate-, namespace: app}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: app}
---
apiVersion: crd.projectcalico.org/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: app}
"""
    inv = Inventory(load_text(text, "x.yaml").objects)
    assert len(inv.of_kind("Job")) == 2  # generateName: each is a new object
    assert len(inv.of_kind("NetworkPolicy")) == 2  # another API group: another object
    assert inv.duplicates() == []
