"""``kubefort versions --cluster`` / ``--snapshot`` through the test API server: /version, every Node's
``status.nodeInfo`` and the control plane's static Pods, judged by the VER rules and the upgrade plan."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.analysis.node.versions import cluster_versions, node_group_name
from kubefort.api import ClusterSource, ScanOptions, check_versions, read_cluster_versions, save_cluster_snapshot
from kubefort.cli import cli
from kubefort.model.objects import K8sObject, Source

TODAY = "2026-11-23"


def node(
    name: str, kubelet: str, *, proxy: str = "", runtime: str = "containerd://1.7.13", kernel: str = "6.8.0-1017-aws"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {
            "nodeInfo": {
                "kubeletVersion": kubelet,
                "kubeProxyVersion": proxy,
                "containerRuntimeVersion": runtime,
                "kernelVersion": kernel,
                "osImage": "Ubuntu 24.04 LTS",
                "architecture": "amd64",
            }
        },
    }


def static_pod(component: str, node_name: str, tag: str) -> dict[str, Any]:
    image = f"registry.k8s.io/{component}:{tag}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"{component}-{node_name}",
            "namespace": "kube-system",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": node_name, "uid": "n", "controller": True}
            ],
        },
        "spec": {"nodeName": node_name, "containers": [{"name": component, "image": image, "command": [component]}]},
    }


def objects() -> list[dict[str, Any]]:
    out = [node("cp-1", "v1.34.2"), node("cp-2", "v1.34.2")]
    out += [node(f"worker-{i}", "v1.31.4", kernel="5.15.0-1051-azure") for i in range(5)]
    out += [node("old-1", "v1.30.1", runtime="cri-o://1.30.0")]
    for cp in ("cp-1", "cp-2"):
        out += [static_pod("kube-apiserver", cp, "v1.34.2"), static_pod("kube-scheduler", cp, "v1.34.1")]
        out += [static_pod("kube-controller-manager", cp, "v1.34.2"), static_pod("etcd", cp, "3.5.21-0")]
    out.append(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "kube-proxy",
                                "image": "registry.k8s.io/kube-proxy:v1.34.2",
                                "command": ["/usr/local/bin/kube-proxy"],
                            }
                        ]
                    }
                }
            },
        }
    )
    # a user's workload elsewhere, running an etcd image: not the control plane
    user = static_pod("etcd", "worker-0", "3.4.0")
    user["metadata"] = {"name": "my-etcd", "namespace": "shop"}
    return [*out, user]


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    store = Store()
    store.load_cluster(objects())
    with KubeAPIServer(store) as server:
        server.version = {"major": "1", "minor": "34", "gitVersion": "v1.34.2", "platform": "linux/amd64"}
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig")


EXPECTED_SPEC = {
    "etcd": [{"version": "3.5.21", "name": "cp-1"}, {"version": "3.5.21", "name": "cp-2"}],
    "kube-apiserver": [{"version": "1.34.2", "name": "cp-1"}, {"version": "1.34.2", "name": "cp-2"}],
    "kube-controller-manager": [{"version": "1.34.2", "name": "cp-1"}, {"version": "1.34.2", "name": "cp-2"}],
    "kube-scheduler": [{"version": "1.34.1", "name": "cp-1"}, {"version": "1.34.1", "name": "cp-2"}],
    "kubelet": [
        {"version": "1.30.1", "name": "old-1"},
        {"version": "1.31.4", "name": "worker-0, worker-1 and 3 more nodes"},
        {"version": "1.34.2", "name": "cp-1, cp-2"},
    ],
    # kube-proxy: nodes report none (deprecated field): the DaemonSet's image tag, per kubelet group
    "kube-proxy": [
        {"version": "1.34.2", "name": "old-1"},
        {"version": "1.34.2", "name": "worker-0, worker-1 and 3 more nodes"},
        {"version": "1.34.2", "name": "cp-1, cp-2"},
    ],
    "containerd": [{"version": "1.7.13", "name": "cp-1, cp-2 and 5 more nodes"}],
    "kernel": [
        {"version": "5.15.0-1051-azure", "name": "worker-0, worker-1 and 3 more nodes"},
        {"version": "6.8.0-1017-aws", "name": "cp-1, cp-2, old-1"},
    ],
}


def test_node_group_names() -> None:
    assert node_group_name(["b", "a"]) == "a, b"
    assert node_group_name([f"n{i:04d}" for i in range(5000)]) == "n0000, n0001 and 4998 more nodes"


def test_read_from_the_cluster(api: KubeAPIServer, kubeconfig: str) -> None:
    got = read_cluster_versions(ClusterSource(kubeconfig=kubeconfig))
    assert got.spec == EXPECTED_SPEC
    assert got.notes == ("container runtime cri-o://1.30.0 on old-1: only containerd is judged",)
    assert got.read_from.startswith("cluster cert (https://127.0.0.1:")
    # Pods of kube-system only, Nodes whole: not every Pod of the cluster
    lists = {r.path for r in api.lists()}
    assert lists == {
        "/api/v1/nodes",
        "/api/v1/namespaces/kube-system/pods",
        "/apis/apps/v1/namespaces/kube-system/daemonsets",
    }


def test_judged_with_the_ver_rules_and_the_upgrade_plan(api: KubeAPIServer, kubeconfig: str) -> None:
    got = read_cluster_versions(ClusterSource(kubeconfig=kubeconfig))
    result = check_versions(got.spec, ScanOptions(), today=dt.date.fromisoformat(TODAY), read_from=got.read_from)
    messages = [f.message for f in result.report.findings]
    # 1.34 reached end of life on 2026-10-27; the 1.30 kubelet is four minors behind the API server
    assert any(m.startswith("kube-apiserver 1.34.2 (cp-1): Kubernetes 1.34 reached end of life") for m in messages)
    assert any("kubelet 1.30.1 (old-1)" in m for m in messages if "minor" in m)
    assert not any("worker-0, worker-1 and 3 more nodes" in m and "kube-proxy" in m for m in messages)
    assert [p["minor"] for p in result.upgrade["path"]] == ["1.35", "1.36", "1.37"]
    assert any("kubelet 1.30.1 (old-1)" in b for b in result.upgrade["blockers"])


def test_managed_control_plane_uses_version(api: KubeAPIServer, kubeconfig: str) -> None:
    for key in list(api.store.types[("", "pods")].objects):
        if key[0] == "kube-system":
            del api.store.types[("", "pods")].objects[key]
    got = read_cluster_versions(ClusterSource(kubeconfig=kubeconfig))
    assert got.spec["kube-apiserver"] == [{"version": "1.34.2", "name": "/version"}]
    assert "etcd" not in got.spec
    assert any("managed control plane" in n for n in got.notes)


def test_forbidden_nodes_are_said(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.forbidden.add("nodes")
    got = read_cluster_versions(ClusterSource(kubeconfig=kubeconfig))
    assert "kubelet" not in got.spec and got.spec["kube-apiserver"][0]["name"] == "cp-1"
    assert got.notes[0] == "could not read nodes: cannot list nodes: forbidden"
    assert "no Node read: no kubelet, kube-proxy, container runtime or kernel version" in got.notes


def test_cli_cluster_and_snapshot_agree(api: KubeAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    runner = CliRunner(mix_stderr=False)
    live = runner.invoke(cli, ["versions", "--cluster", "--kubeconfig", kubeconfig, "--today", TODAY, "-o", "json"])
    assert live.exit_code == 1, live.stderr
    doc = json.loads(live.stdout)
    assert doc["read_from"].startswith("cluster cert")
    assert {c["component"] for c in doc["components"]} == set(EXPECTED_SPEC)
    assert "only containerd is judged" in live.stderr
    snap = tmp_path / "c.json.gz"
    save_cluster_snapshot(ClusterSource(kubeconfig=kubeconfig), str(snap))
    offline = runner.invoke(cli, ["versions", "--snapshot", str(snap), "--today", TODAY, "-o", "json"])
    assert offline.exit_code == 1, offline.stderr
    off = json.loads(offline.stdout)
    assert off["read_from"] == f"snapshot {snap} (cluster cert)"
    del doc["read_from"], off["read_from"]
    assert off == doc  # the same judgement offline
    # the table: one line per group of nodes, the upgrade path, the verdict
    table = runner.invoke(cli, ["versions", "--cluster", "--kubeconfig", kubeconfig, "--today", TODAY, "--no-color"])
    assert "kubelet (worker-0, worker-1 and 3 more nodes)" in table.stdout
    assert "upgrade path" in table.stdout and "result: FAIL" in table.stdout
    # given versions win over the cluster's
    given = runner.invoke(
        cli,
        ["versions", "--cluster", "--kubeconfig", kubeconfig, "--apiserver", "1.37.1", "--today", TODAY, "-o", "json"],
    )
    assert [c["version"] for c in json.loads(given.stdout)["components"] if c["component"] == "kube-apiserver"] == [
        "1.37.1"
    ]
    bad = runner.invoke(cli, ["versions", "--snapshot", str(tmp_path / "nope.json.gz")])
    assert bad.exit_code == 2


def test_cluster_versions_without_a_server() -> None:
    src = Source(file="cluster:x", live=True)
    objs = [K8sObject.from_raw(o, src, cluster_scoped=o["kind"] == "Node") for o in objects()]
    got = cluster_versions({"gitVersion": "v1.34.2"}, objs)
    assert got.spec == EXPECTED_SPEC
