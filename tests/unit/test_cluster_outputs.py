"""Outputs of a cluster scan: the Pods a workload stands for (owner resolution), in the table and the JSON.
File scans' outputs do not change (tests/golden)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.api import ScanOptions, scan
from kubefort.reporters.json_report import JsonReporter, pod_counts, report_dict
from kubefort.reporters.table import TableReporter


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[str]:
    from test_cluster_model import cluster_objects

    store = Store()
    store.load_cluster(cluster_objects())
    with KubeAPIServer(store) as server:
        yield server.kubeconfig(tmp_path / "kubeconfig")


def test_pod_counts_in_json_and_table(kubeconfig: str) -> None:
    from kubefort.loading.cluster import ClusterSource

    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), rules=["KF-IMG-001", "KF-POD-*"]))
    counts = {str(ref): n for ref, n in pod_counts(report).items()}
    # the Deployment stands for its ReplicaSet's 3 Pods, the CronJob for its Job's, the StatefulSet for 2
    assert counts == {
        "Deployment/shop/web": 3,
        "CronJob/shop/backup": 1,
        "StatefulSet/shop/db": 2,
        "DaemonSet/shop/agent": 1,
    }
    out = io.StringIO()
    JsonReporter().render(report, out)
    doc = json.loads(out.getvalue())
    assert doc == json.loads(json.dumps(report_dict(report), default=str))  # the streamed JSON is the dict
    objects = {(o["kind"], o["name"]): o for f in doc["findings"] for o in [f["object"]]}
    assert objects[("Deployment", "web")]["pods"] == 3
    assert objects[("StatefulSet", "db")]["pods"] == 2
    assert "pods" not in objects[("Pod", "bare")]  # a bare Pod is itself
    table = io.StringIO()
    TableReporter(color=False).render(report, table)
    text = table.getvalue()
    assert "Deployment/shop/web (3 pods)  cluster:cert" in text
    assert "DaemonSet/shop/agent (1 pod)  cluster:cert" in text
    assert "Pod/shop/bare  cluster:cert" in text


def test_file_scans_say_no_pod_count(tmp_path: Path) -> None:
    from test_cluster_model import cluster_objects

    path = tmp_path / "objs.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": cluster_objects()}))
    report = scan(ScanOptions(paths=[str(path)], rules=["KF-IMG-001"]))
    assert pod_counts(report) == {}
    assert all("pods" not in f["object"] for f in report_dict(report)["findings"])
