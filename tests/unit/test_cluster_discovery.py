"""Discovery failures in cluster mode, against the test API server: a group whose (aggregated) API server
is down answers 503, or is ``Stale`` in the aggregated discovery; the kinds it may serve are unknown, so
the rules that need them are not evaluated (never passed), and the summary line names the group."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.api import ScanOptions, builtin_kinds, scan
from kubefort.engine.findings import Report, Status
from kubefort.loading.cluster import ClusterSource, Discovery, ResourceType, read_cluster

ACTIONS = "actions.kio.kasten.io"
DOWN_WHY = "cannot discover actions.kio.kasten.io/v1alpha1: discovery is stale (the API service is unavailable)"


def k10_objects() -> list[dict[str, Any]]:
    """A Kasten K10 backup Policy (a CRD kind), a RunAction of it (an aggregated API kind), a PodMetrics."""
    policy = {
        "apiVersion": "config.kio.kasten.io/v1alpha1",
        "kind": "Policy",
        "metadata": {"name": "daily", "namespace": "kasten-io"},
        "spec": {
            "frequency": "@daily",
            "selector": {
                "matchExpressions": [{"key": "k10.kasten.io/appNamespace", "operator": "In", "values": ["shop"]}]
            },
            "actions": [{"action": "backup"}],
            "retention": {"daily": 7},
        },
    }
    run = {
        "apiVersion": "actions.kio.kasten.io/v1alpha1",
        "kind": "RunAction",
        "metadata": {"name": "daily-run", "namespace": "kasten-io"},
        "spec": {"subject": {"kind": "Policy", "name": "daily", "namespace": "kasten-io"}},
        "status": {"state": "Complete"},
    }
    metrics = {
        "apiVersion": "metrics.k8s.io/v1beta1",
        "kind": "PodMetrics",
        "metadata": {"name": "web", "namespace": "shop"},
        "containers": [],
    }
    web = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:latest"}]}}},
    }
    return [policy, run, metrics, web]


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    store = Store()
    store.load_cluster(k10_objects())
    with KubeAPIServer(store) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig")


def _status(report: Report, rule_id: str) -> list[tuple[Status, str]]:
    return [(r.status, r.detail or "") for r in report.results if r.rule.id == rule_id]


def test_a_down_aggregated_api_leaves_only_its_kinds_unknown(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.discovery_down |= {ACTIONS, "metrics.k8s.io"}
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), rules=["KF-BAK-*", "KF-IMG-001"]))
    inv = report.inventory
    assert inv is not None
    assert inv.undiscovered == {
        ACTIONS: DOWN_WHY,
        "metrics.k8s.io": "cannot discover metrics.k8s.io/v1beta1: discovery is stale (the API service is unavailable)",
    }
    assert inv.unreadable == {f"RunAction.{ACTIONS}": DOWN_WHY}  # PodMetrics: no rule needs it
    # KF-BAK-002 reads RunActions (the runs of a policy): not evaluated on the policy, with the reason
    assert _status(report, "KF-BAK-002") == [(Status.NOT_EVALUATED, f"needs RunAction.{ACTIONS}: {DOWN_WHY}")]
    # rules that need nothing of the down groups are evaluated: K10 policies are CRDs, still read
    assert not _status(report, "KF-BAK-001")
    assert [ref.name for m, ref, _ in report.passes if m.id == "KF-BAK-001"] == [
        "cert"
    ]  # the Cluster stand-in, named after the context
    assert any(f.rule.id == "KF-IMG-001" for f in report.findings)
    assert f"could not discover {ACTIONS}/v1alpha1: discovery is stale (the API service is unavailable)" in report.notes
    # the group was not listed: the stale discovery listed no resources of it
    assert not [r for r in api.lists() if "kio.kasten.io/v1alpha1/" in r.path and "actions" in r.path]


def test_per_group_discovery_answering_503(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.aggregated = False
    api.faults.discovery_down.add(ACTIONS)
    read = read_cluster(ClusterSource(kubeconfig=kubeconfig), ["Policy", "RunAction"])
    tries = [r for r in api.requests if r.path == f"/apis/{ACTIONS}/v1alpha1"]
    assert [r.status for r in tries] == [503, 503]  # retried once, not five times: the server is down
    assert read.discovery.failed == {f"{ACTIONS}/v1alpha1": f"cannot read /apis/{ACTIONS}/v1alpha1: server error 503"}
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), rules=["KF-BAK-002"]))
    assert _status(report, "KF-BAK-002") == [
        (
            Status.NOT_EVALUATED,
            f"needs RunAction.{ACTIONS}: cannot discover {ACTIONS}/v1alpha1: cannot read /apis/{ACTIONS}/v1alpha1: server error 503",
        )
    ]


def test_an_unknown_group_down_may_serve_any_kind_but_the_built_in_ones(api: KubeAPIServer, kubeconfig: str) -> None:
    api.store.load(
        [{"apiVersion": "things.example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}}]
    )
    api.faults.discovery_down.add("things.example.com")
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), rules=["KF-BAK-001", "KF-IMG-001"]))
    inv = report.inventory
    assert inv is not None
    why = "cannot discover things.example.com/v1: discovery is stale (the API service is unavailable)"
    # Argo Rollouts and OpenShift DeploymentConfigs (rules name them without a group) could be served by
    # it; built-in kinds cannot, nor kinds rules name with their own group (Velero's Schedule.velero.io,
    # K10's Policy.config.kio.kasten.io: a down things.example.com serves none of them)
    assert set(inv.unreadable.values()) == {why}
    assert {"Rollout", "DeploymentConfig"} <= set(inv.unreadable)
    assert not {"Deployment", "CronJob", "Pod", "Namespace"} & set(inv.unreadable)
    assert not [k for k in inv.unreadable if "." in k]
    assert all(status is not Status.NOT_EVALUATED for status, _ in _status(report, "KF-BAK-001"))
    assert any(f.rule.id == "KF-IMG-001" for f in report.findings)


def test_undiscovered_attribution_without_a_server() -> None:
    t = ResourceType(group="apps", version="v1", resource="deployments", kind="Deployment", namespaced=True)
    d = Discovery(resources=[t], failed={"apps/v1": "cannot read /apis/apps/v1: server error 503"})
    known = builtin_kinds()
    # a built-in group listed (a stale discovery) is listed as usual; its other kinds are unknown
    got = d.undiscovered(["Deployment", "StatefulSet", "Pod", "Schedule"], known)
    assert got == {"StatefulSet": "cannot discover apps/v1: cannot read /apis/apps/v1: server error 503"}
    assert Discovery(resources=[t]).undiscovered(["StatefulSet"], known) == {}


def test_summary_lines(api: KubeAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    from kubefort.cli import cli

    api.faults.discovery_down |= {ACTIONS, "metrics.k8s.io"}
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["scan", "--cluster", "--kubeconfig", kubeconfig, "--rules", "KF-BAK-002", "-o", "json"]
    )
    assert r.exit_code in (0, 1), r.stderr
    assert (
        "kubefort: could not discover 2 API groups (cannot discover actions.kio.kasten.io/v1alpha1: discovery is "
        "stale (the API service is unavailable); cannot discover metrics.k8s.io/v1beta1:" in r.stderr
    )
    assert f"kubefort: could not read 1 kinds ({DOWN_WHY})" in r.stderr
    snap = str(tmp_path / "s.json.gz")
    r = CliRunner(mix_stderr=False).invoke(cli, ["cluster", "snapshot", "save", snap, "--kubeconfig", kubeconfig])
    assert r.exit_code == 0 and "could not discover 2 API groups" in r.stderr
    # the snapshot says the same: the same kinds unknown offline
    offline = scan(ScanOptions(snapshot=snap, rules=["KF-BAK-002"]))
    assert _status(offline, "KF-BAK-002") == [(Status.NOT_EVALUATED, f"needs RunAction.{ACTIONS}: {DOWN_WHY}")]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
