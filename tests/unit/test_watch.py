"""``kubefort watch`` end to end against the test API server: list once, watch, judge again what
changed, keep the reports and metrics current; a 410 relists; a dropped connection resumes.

After every change the watch's results are compared with a full ``kubefort scan --cluster`` of the
server's objects: re-running only what a change can affect must give the same results as judging
everything again.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_cluster_reports import cluster_store

from kubeapi.server import KubeAPIServer
from kubefort.api import ClusterSource, ScanOptions, scan
from kubefort.cli import cli
from kubefort.engine.rule import Scope
from kubefort.incluster.watch import ClusterJudge, WatchApp, WatchOptions
from kubefort.loading.cluster import ResourceType
from kubefort.loading.cluster.watch import TypeWatcher, WatchEvent
from kubefort.reporters.openreports import OPENREPORTS, documents

PODS = ("", "pods")
REPORTS = ("openreports.io", "reports")


def pod(name: str, ns: str = "web", *, privileged: bool = True, image: str = "busybox") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": image, "securityContext": {"privileged": privileged}}]},
    }


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or cond}")


def results_of(docs: list[dict[str, Any]]) -> dict[Any, list[str]]:
    """Results by report (kind, namespace), without timestamps, as a sorted list (parts merged)."""
    out: dict[Any, list[str]] = {}
    for d in docs:
        key = (d["kind"], d["metadata"].get("namespace"))
        for r in d["results"]:
            r = {k: v for k, v in r.items() if k != "timestamp"}
            out.setdefault(key, []).append(json.dumps(r, sort_keys=True))
    return {k: sorted(v) for k, v in out.items()}


class Running:
    def __init__(self, app: WatchApp, thread: threading.Thread) -> None:
        self.app, self.thread = app, thread

    @property
    def port(self) -> int:
        assert self.app.server is not None
        return self.app.server.port

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, line_start: str) -> float | None:
        _, text = self.get("/metrics")
        for line in text.splitlines():
            if line.startswith(line_start + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def settle(self, change: Callable[[], None]) -> None:
        """Make a change in the server and wait until the watch judged it."""
        before = self.app.batches
        change()
        wait_for(lambda: self.app.batches > before, what="the watch to judge the change")
        # events of one change can straddle two batches: wait until no batch comes for a while
        last = self.app.batches
        while True:
            time.sleep(0.4)
            if self.app.batches == last and self.app.events.empty():
                return
            last = self.app.batches

    def equals_full_scan(self, kubeconfig: str) -> None:
        fresh = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), keep_passes=True))
        judge = self.app.judge
        assert judge is not None
        assert results_of(documents(judge.report(), OPENREPORTS)) == results_of(documents(fresh, OPENREPORTS))


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    with KubeAPIServer(cluster_store()) as server:
        server.bookmark_interval = 0.1
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def running(api: KubeAPIServer, kubeconfig: str) -> Iterator[Running]:
    opts = WatchOptions(
        source=ClusterSource(kubeconfig=kubeconfig),
        scan=ScanOptions(keep_passes=True),
        port=0,
        host="127.0.0.1",
        debounce=0.1,
        resync=0,
        watch_timeout=30,
        idle_timeout=10,
    )
    app = WatchApp(opts)
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    assert app.synced.wait(60), "first sync"
    wait_for(lambda: api.open_watches() >= len(app.watchers) > 0, what="every type watched")
    yield Running(app, thread)
    app.stop()
    thread.join(15)
    assert not thread.is_alive()


def reports(api: KubeAPIServer) -> dict[tuple[str, str], dict[str, Any]]:
    return dict(api.store.types[REPORTS].objects)


def results_for(api: KubeAPIServer, ns: str, name: str) -> list[dict[str, Any]]:
    rep = reports(api).get((ns, "kubefort"))
    return [r for r in (rep or {}).get("results", []) if r["resources"][0]["name"] == name]


# -- end to end --------------------------------------------------------------------------------------------


def test_first_sync_writes_what_a_scan_gives(running: Running, api: KubeAPIServer, kubeconfig: str) -> None:
    assert {ns for ns, _ in reports(api)} == {"kube-system", "shop", "web"}
    running.equals_full_scan(kubeconfig)
    assert running.get("/healthz") == (200, "ok\n")
    assert running.metric("kubefort_last_full_sync_timestamp_seconds") > time.time() - 120
    assert running.metric('kubefort_objects_watched{kind="Pod"}') == len(api.store.types[PODS].objects)
    status, text = running.get("/metrics")
    assert status == 200 and "# TYPE kubefort_findings gauge" in text
    assert 'kubefort_findings{namespace="web",rule="KF-POD-001",severity="critical"} 1' in text
    assert running.get("/nothing")[0] == 404
    watches = api.watches()
    assert watches and all(
        w.query.get("allowWatchBookmarks") == "true" and w.query.get("resourceVersion") for w in watches
    )


def test_changes_follow_into_reports_and_metrics(running: Running, api: KubeAPIServer, kubeconfig: str) -> None:
    # a new privileged Pod: its results appear in its namespace's report
    running.settle(lambda: api.store.upsert(pod("evil")))
    fails = {r["policy"] for r in results_for(api, "web", "evil") if r["result"] == "fail"}
    assert "KF-POD-001" in fails
    assert running.metric('kubefort_findings{namespace="web",rule="KF-POD-001",severity="critical"}') == 2
    running.equals_full_scan(kubeconfig)
    # fixed: the finding goes, the pass comes
    running.settle(lambda: api.store.upsert(pod("evil", privileged=False)))
    evil = {r["policy"]: r["result"] for r in results_for(api, "web", "evil")}
    assert evil["KF-POD-001"] == "pass"
    assert running.metric('kubefort_findings{namespace="web",rule="KF-POD-001",severity="critical"}') == 1
    running.equals_full_scan(kubeconfig)
    # a new namespace gets a report; deleting everything in it deletes the report
    running.settle(lambda: api.store.upsert(pod("lone", "solo")))
    assert ("solo", "kubefort") in reports(api)
    running.equals_full_scan(kubeconfig)
    running.settle(lambda: api.store.delete("", "pods", "solo", "lone"))
    assert ("solo", "kubefort") not in reports(api)
    assert running.metric("kubefort_reports_deleted_total") >= 1
    running.equals_full_scan(kubeconfig)

    # a namespace label (Pod Security) changes results held on the cluster report
    def relabel() -> None:
        ns = json.loads(json.dumps(api.store.types[("", "namespaces")].objects[("", "shop")]))
        ns["metadata"].setdefault("labels", {})["pod-security.kubernetes.io/enforce"] = "restricted"
        api.store.upsert(ns)

    running.settle(relabel)
    running.equals_full_scan(kubeconfig)
    assert running.metric("kubefort_evaluations_total") >= 5


def cluster_result(api: KubeAPIServer, rule_id: str) -> str | None:
    """The result of a CLUSTER-scope rule in the cluster report (on the kubefort.io/v1 Cluster anchor)."""
    rep = api.store.types[("openreports.io", "clusterreports")].objects.get(("", "kubefort")) or {}
    hits = [r["result"] for r in rep.get("results", []) if r["policy"] == rule_id]
    return hits[0] if hits else None


def test_cluster_rules_follow_the_kinds_they_read(running: Running, api: KubeAPIServer, kubeconfig: str) -> None:
    """A rule about the whole cluster runs again when a kind it reads changes: a CronJob taking etcd
    snapshots is a backup (KF-BAK-001), a gVisor RuntimeClass a sandbox (KF-RT-003)."""
    found = ("fail", "warn")  # warn: a finding below --fail-on
    assert cluster_result(api, "KF-BAK-001") in found and cluster_result(api, "KF-RT-003") in found
    backup = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "etcd-backup", "namespace": "kube-system"},
        "spec": {
            "schedule": "0 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "containers": [
                                {
                                    "name": "backup",
                                    "image": "registry.k8s.io/etcd:3.5.15-0",
                                    "command": ["etcdctl", "snapshot", "save", "/backup/etcd.db"],
                                }
                            ],
                        }
                    }
                }
            },
        },
    }
    running.settle(lambda: api.store.upsert(backup))
    assert cluster_result(api, "KF-BAK-001") == "pass"
    running.equals_full_scan(kubeconfig)
    gvisor = {
        "apiVersion": "node.k8s.io/v1",
        "kind": "RuntimeClass",
        "metadata": {"name": "gvisor"},
        "handler": "runsc",
    }
    running.settle(lambda: api.store.upsert(gvisor))
    assert cluster_result(api, "KF-RT-003") == "pass"
    running.equals_full_scan(kubeconfig)
    running.settle(lambda: api.store.delete("batch", "cronjobs", "kube-system", "etcd-backup"))
    assert cluster_result(api, "KF-BAK-001") in found
    running.equals_full_scan(kubeconfig)


def test_only_unchanged_reports_are_left_alone(running: Running, api: KubeAPIServer) -> None:
    before = {k: v["metadata"]["resourceVersion"] for k, v in reports(api).items()}
    running.settle(lambda: api.store.upsert(pod("evil")))
    after = {k: v["metadata"]["resourceVersion"] for k, v in reports(api).items()}
    assert after[("web", "kubefort")] != before[("web", "kubefort")]
    assert after[("shop", "kubefort")] == before[("shop", "kubefort")]  # its results did not change
    assert after[("kube-system", "kubefort")] == before[("kube-system", "kubefort")]


def test_410_relists(running: Running, api: KubeAPIServer, kubeconfig: str) -> None:
    relists = lambda: running.metric('kubefort_relists_total{resource="pods"}') or 0  # noqa: E731
    assert relists() == 0
    # the watches drop, changes happen, the history is compacted: resuming from the old
    # resourceVersion gets 410, so the type is listed again, and the change is not lost
    n_lists = len(api.lists("pods"))
    api.drop_watches()
    api.store.upsert(pod("during-outage"))
    api.store.compact()
    wait_for(lambda: relists() >= 1, what="a relist of pods")
    wait_for(lambda: results_for(api, "web", "during-outage"), what="the change made during the outage")
    assert len(api.lists("pods")) > n_lists
    assert running.metric('kubefort_watch_errors_total{resource="pods"}') >= 1
    # a batch of the relist may be what settle sees first, and on a loaded machine the new event can
    # come later than its quiet period: wait for the change itself
    running.settle(lambda: api.store.upsert(pod("after", image="nginx")))
    wait_for(lambda: results_for(api, "web", "after"), what="the change made after the relist")
    running.equals_full_scan(kubeconfig)


def test_dropped_connection_resumes_without_missing_events(running: Running, api: KubeAPIServer) -> None:
    n_lists = len(api.lists("pods"))
    assert api.drop_watches() > 0
    api.store.upsert(pod("while-dropped"))
    wait_for(lambda: results_for(api, "web", "while-dropped"), what="the event sent while the watch was down")
    assert len(api.lists("pods")) == n_lists  # resumed from its resourceVersion: no relist
    resumed = api.watches("pods")
    # resumed from the last resourceVersion it saw (an event's or a bookmark's), never from scratch
    assert len(resumed) >= 2 and int(resumed[-1].query["resourceVersion"]) >= int(resumed[0].query["resourceVersion"])
    assert running.metric('kubefort_watch_errors_total{resource="pods"}') >= 1
    assert (running.metric('kubefort_relists_total{resource="pods"}') or 0) == 0


def test_watch_once_cli(api: KubeAPIServer, kubeconfig: str) -> None:
    res = CliRunner().invoke(cli, ["watch", "--once", "--kubeconfig", kubeconfig])
    assert res.exit_code == 0, res.output  # findings do not fail it: they are in the reports
    assert {ns for ns, _ in reports(api)} == {"kube-system", "shop", "web"}
    assert not api.watches()
    api.faults.forbidden.add("reports.openreports.io")
    res = CliRunner().invoke(cli, ["watch", "--once", "--kubeconfig", kubeconfig, "--reports", "openreports"])
    assert res.exit_code == 2


# -- the dependency, precisely --------------------------------------------------------------------------------


def test_a_change_reruns_the_object_and_the_rules_that_read_its_kind(kubeconfig: str) -> None:
    app = WatchApp(WatchOptions(source=ClusterSource(kubeconfig=kubeconfig), port=None, once=True))
    assert app.run() == 0
    judge = app.judge
    assert isinstance(judge, ClusterJudge)
    calls: list[tuple[set[str], int, Any]] = []
    real_run = judge._run

    def spy(plan: Any, objs: list[Any], namespaces: Any) -> Any:
        calls.append(({r.meta.id for r in plan.rules}, len(objs), namespaces))
        return real_run(plan, objs, namespaces)

    judge._run = spy  # type: ignore[method-assign]
    cm = next(o for o in judge.objects.values() if o.kind == "ConfigMap" and o.namespace == "shop")
    raw = json.loads(json.dumps(dict(cm.raw)))
    raw["data"] = {"changed": "yes"}
    t = ResourceType(group="", version="v1", resource="configmaps", kind="ConfigMap", namespaced=True)
    judge.change({("", "ConfigMap", "shop", cm.name): judge.object_from(raw, t)})
    plan = judge.plan
    object_rules = {r.meta.id for r in plan.rules if r.meta.scope is not Scope.NAMESPACE}
    dependents = {r.meta.id for r in plan.rules if judge.depends(r, "ConfigMap")}
    # 1. every object rule on the changed ConfigMap alone
    assert calls[0] == (object_rules, 1, False)
    # 2. the rules that read ConfigMaps (or read anything) on every judged object
    dep_obj = {i for i in dependents if plan_rule(plan, i).meta.scope is not Scope.NAMESPACE}
    assert calls[1][0] == dep_obj and calls[1][1] == len(judge.inventory.judged())
    for rid in dep_obj:
        m = plan_rule(plan, rid).meta
        assert (m.needs is not None and "ConfigMap" in m.needs) or m.reads_unknown()
    # 3. namespace rules: on the changed namespace (or everywhere for those that read ConfigMaps)
    ns_local = [c for c in calls[2:] if c[2] is not True]
    assert ns_local and all(c[2] == {"shop"} for c in ns_local)


def plan_rule(plan: Any, rid: str) -> Any:
    return next(r for r in plan.rules if r.meta.id == rid)


def test_type_watcher_protocol(api: KubeAPIServer, kubeconfig: str) -> None:
    """The watcher alone: events in order, bookmarks move the resourceVersion, an ERROR 410 relists."""
    from kubefort.loading.cluster import read_cluster
    from kubefort.loading.cluster.transport import RequestLimits, Transport, load_client

    source = ClusterSource(kubeconfig=kubeconfig)
    read = read_cluster(source, ["Pod"])
    (listed,) = read.lists
    client, _ = load_client(kubeconfig, None)
    transport = Transport(client, limits=RequestLimits(request_timeout=5))
    got: list[WatchEvent] = []
    w = TypeWatcher(transport, listed, source, got.append, timeout_seconds=2, idle_timeout=5).start()
    try:
        api.store.upsert(pod("a"))
        api.store.upsert(pod("a", privileged=False))
        api.store.delete("", "pods", "web", "a")
        wait_for(lambda: len(got) >= 3, what="three events")
        assert [(e.action, e.object["metadata"]["name"]) for e in got[:3]] == [
            ("ADDED", "a"),
            ("MODIFIED", "a"),
            ("DELETED", "a"),
        ]
        assert got[0].object["kind"] == "Pod" and "managedFields" not in got[0].object["metadata"]
        wait_for(lambda: w.stats.bookmarks > 0, what="a bookmark")
        assert int(w.resource_version) >= api.store.events[-1].rv  # bookmarks moved it on
        # the server's watch timeout ends the stream: the next one starts from the last resourceVersion
        wait_for(lambda: len(api.watches("pods")) >= 2, timeout=10, what="a second watch")
        api.store.compact()
        api.drop_watches()
        api.store.upsert(pod("b"))
        api.store.compact()
        wait_for(lambda: any(e.action == "RELISTED" for e in got), what="a relist")
        relisted = next(e for e in got if e.action == "RELISTED")
        assert "b" in {i["metadata"]["name"] for i in relisted.items or ()}
    finally:
        w.stop()
        w.join(10)
        transport.close()
