"""Cluster mode against the test API server (tests/kubeapi), driven by the official client through a
kubeconfig exactly as a real cluster would be: discovery, pagination, each fault switch, each way of
authenticating, Secrets, snapshots, the CLI, and the equivalence with a file scan of the same objects."""

from __future__ import annotations

import base64
import collections
import gzip
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeapi.server import KubeAPIServer, load_manifests
from kubeapi.store import Store
from kubefort.api import ScanOptions, scan
from kubefort.engine.findings import Report, Status
from kubefort.loading.cluster import ClusterError, ClusterSource, load_snapshot, read_cluster, save_snapshot
from kubefort.loading.cluster.transport import ApiError, RateLimiter, RequestLimits, Transport, load_client
from kubefort.model.objects import REDACTED
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
EXEC_PLUGIN = ROOT / "tests" / "kubeapi" / "exec_plugin.py"
SECRET_VALUE = "hunter2-not-for-your-eyes"
KINDS = ["ConfigMap", "Deployment", "Namespace", "NetworkPolicy", "Pod", "ReplicaSet", "Secret", "Service"]


def _extra_objects() -> list[dict[str, Any]]:
    from test_cluster_model import cluster_objects

    applied = json.dumps({"apiVersion": "v1", "kind": "Secret", "stringData": {"password": SECRET_VALUE}})
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "shop",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied},
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:data": {}}}],
        },
        "type": "Opaque",
        "data": {"password": base64.b64encode(SECRET_VALUE.encode()).decode(), "user": "YWRtaW4="},
    }
    cms = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i:02d}", "namespace": "shop"},
            "data": {"k": "v"},
        }
        for i in range(12)
    ]
    for o in cms:
        o["metadata"]["managedFields"] = [{"manager": "kube-controller-manager", "operation": "Update"}]
    return [*cluster_objects(), secret, *cms]


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    objects, scopes = load_manifests([str(ROOT / "examples" / "insecure-app")])
    store = Store()
    store.load_cluster([*objects, *_extra_objects()], scopes)
    with KubeAPIServer(store) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig", exec_command=[sys.executable, str(EXEC_PLUGIN), "exec-token"])


def source(kubeconfig: str, **kw: Any) -> ClusterSource:
    return ClusterSource(kubeconfig=kubeconfig, **kw)


def fast(kubeconfig: str, **kw: Any) -> Transport:
    client, _ = load_client(kubeconfig, None)
    return Transport(client, limits=RequestLimits(request_timeout=kw.pop("timeout", 5.0), backoff=0.01, **kw))


# -- discovery and lists --------------------------------------------------------------------------------


def test_reads_each_type_once_with_aggregated_discovery(api: KubeAPIServer, kubeconfig: str) -> None:
    read = read_cluster(source(kubeconfig), KINDS)
    paths = [r.path for r in api.requests]
    assert paths[:3] == ["/version", "/api", "/apis"]
    assert read.discovery.aggregated
    assert not [p for p in paths if p.startswith("/apis/") and p.count("/") == 3]  # no per-group documents
    listed = [r.path for r in api.lists()]
    assert len(listed) == len(set(listed)) == len(read.lists)
    assert {t.type.kind for t in read.lists} == set(KINDS)
    assert all(r.query.get("limit") == "500" for r in api.lists())
    pods = next(t for t in read.lists if t.type.kind == "Pod")
    assert pods.resource_version and all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in pods.items)


def test_falls_back_to_per_group_discovery(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.aggregated = False
    read = read_cluster(source(kubeconfig), KINDS)
    assert not read.discovery.aggregated
    assert "/api/v1" in [r.path for r in api.requests]
    assert "/apis/apps/v1" in [r.path for r in api.requests]
    api.faults.aggregated = True
    again = read_cluster(source(kubeconfig), KINDS)
    assert sorted(t.to_dict().items() for t in read.discovery.resources) == sorted(
        t.to_dict().items() for t in again.discovery.resources
    )


def test_pagination_follows_continue_tokens(api: KubeAPIServer, kubeconfig: str) -> None:
    read = read_cluster(source(kubeconfig, page_size=5), ["ConfigMap"])
    names = [c["metadata"]["name"] for c in read.lists[0].items]
    assert len(names) == len(set(names)) == len(api.store.types[("", "configmaps")].objects)
    calls = api.lists("configmaps")
    assert len(calls) == -(-len(names) // 5)
    assert "continue" not in calls[0].query and all("continue" in c.query for c in calls[1:])
    # the pages themselves: a List with resourceVersion, continue and remainingItemCount, as documented
    body = fast(kubeconfig).get("/api/v1/configmaps", [("limit", "5")]).json()
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert body["metadata"]["remainingItemCount"] == len(names) - 5 and body["metadata"]["continue"]
    assert "kind" not in body["items"][0]  # typed lists carry the kind once, on the list


def test_namespace_restricts_namespaced_types(api: KubeAPIServer, kubeconfig: str) -> None:
    read = read_cluster(source(kubeconfig, namespace="shop"), ["ConfigMap", "Namespace"])
    assert "/api/v1/namespaces/shop/configmaps" in [r.path for r in api.lists()]
    assert "/api/v1/namespaces" in [r.path for r in api.lists()]  # cluster-scoped types are read whole
    assert {c["metadata"]["namespace"] for t in read.lists if t.type.kind == "ConfigMap" for c in t.items} == {"shop"}


# -- faults -----------------------------------------------------------------------------------------------


def test_forbidden_type_is_unreadable_and_its_rules_not_evaluated(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.forbidden.add("networkpolicies")
    report = scan(ScanOptions(cluster=source(kubeconfig)))
    # by the name the rules ask for it: networking.k8s.io's NetworkPolicy (Calico's is another API)
    assert report.inventory.unreadable == {"NetworkPolicy.networking.k8s.io": "cannot list networkpolicies: forbidden"}
    net = [r for r in report.results if r.rule.id in ("KF-NET-001", "KF-NET-004")]
    assert net and all(r.status is Status.NOT_EVALUATED for r in net)
    assert all("cannot list networkpolicies: forbidden" in (r.detail or "") for r in net)
    assert not [p for p in report.passes if p[0].id in ("KF-NET-001", "KF-NET-004")]
    assert "could not read from the cluster: networkpolicies.networking.k8s.io (forbidden)" in report.notes
    # rules that need nothing unreadable still run
    assert any(f.rule.id == "KF-IMG-001" for f in report.findings)


def test_429_is_retried_honouring_retry_after(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.throttle["pods"] = 2
    api.faults.retry_after = 0.3
    start = time.monotonic()
    read = read_cluster(source(kubeconfig), ["Pod"])
    assert time.monotonic() - start >= 0.6
    assert [r.status for r in api.lists("pods")] == [429, 429, 200]
    assert not read.unreadable and read.stats.retries == 2


def test_5xx_and_dropped_connections_are_retried(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.errors["deployments"] = 2
    api.faults.drop["pods"] = 1
    read = read_cluster(source(kubeconfig), ["Deployment", "Pod"])
    assert not read.unreadable
    assert [r.status for r in api.lists("deployments")] == [500, 500, 200]
    assert len(api.lists("pods")) == 2  # the dropped answer, then the whole one
    assert len(next(t for t in read.lists if t.type.kind == "Pod").items) == len(api.store.types[("", "pods")].objects)


def test_410_on_continue_relists_from_scratch(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.expire_continue["configmaps"] = 1
    read = read_cluster(source(kubeconfig, page_size=5), ["ConfigMap"])
    calls = api.lists("configmaps")
    assert [c.status for c in calls][:2] == [200, 410]
    assert "continue" not in calls[2].query  # started again
    names = [c["metadata"]["name"] for c in read.lists[0].items]
    assert len(names) == len(set(names)) == len(api.store.types[("", "configmaps")].objects)
    # a real compaction expires old tokens the same way
    t = fast(kubeconfig)
    first = t.get("/api/v1/configmaps", [("limit", "5")]).json()
    api.store.upsert({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late", "namespace": "shop"}})
    api.store.compact()
    with pytest.raises(ApiError) as e:
        t.get("/api/v1/configmaps", [("limit", "5"), ("continue", first["metadata"]["continue"])])
    assert e.value.status == 410 and e.value.reason == "Expired"


def test_slow_answers_time_out_and_are_retried(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.slow["services"] = 1
    api.faults.delay = 1.5
    read = read_cluster(source(kubeconfig, request_timeout=0.5), ["Service"])
    assert not read.unreadable and read.stats.retries >= 1
    api.faults.slow["services"] = -1  # always slow: the type ends unreadable, the scan does not hang
    t = fast(kubeconfig, timeout=0.3, retries=1)
    start = time.monotonic()
    with pytest.raises(ApiError) as e:
        t.get("/api/v1/services")
    assert e.value.status == 0 and time.monotonic() - start < 5


def test_bounds_on_hostile_servers(api: KubeAPIServer, kubeconfig: str) -> None:
    t = fast(kubeconfig, max_response_bytes=2000)
    with pytest.raises(ApiError, match="larger than 2000 bytes"):
        t.get("/api/v1/configmaps")
    read = read_cluster(source(kubeconfig, max_objects=5), ["ConfigMap"])
    assert read.unreadable and "more objects than the limit" in read.unreadable[0].reason


def test_rate_limit_spaces_requests() -> None:
    now = [0.0]
    limiter = RateLimiter(qps=2, burst=2, clock=lambda: now[0])
    limiter.acquire()
    limiter.acquire()
    assert limiter.waited == 0
    t0 = time.monotonic()
    limiter.acquire()  # the bucket is empty: half a second at 2 qps
    assert limiter.waited == pytest.approx(0.5) and time.monotonic() - t0 >= 0.45


def test_qps_limits_a_live_read(api: KubeAPIServer, kubeconfig: str) -> None:
    read = read_cluster(source(kubeconfig, qps=10, burst=1), ["ConfigMap", "Pod", "Service"])
    # /version, /api, /apis and three lists: 6 requests, at most one every 0.1 s after the first
    assert read.stats.requests == 6 and read.stats.throttled_seconds >= 0.4


# -- authentication ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("context", "user"), [("cert", "cert-user"), ("token", "token-user"), ("exec", "exec-user")])
def test_authentication_modes(api: KubeAPIServer, kubeconfig: str, context: str, user: str) -> None:
    api.tokens["exec-token"] = "exec-user"
    read = read_cluster(source(kubeconfig, context=context), ["Namespace"])
    assert read.context == context and read.lists
    assert {r.user for r in api.requests} == {user}
    if context != "cert":  # the bearer token travels in the Authorization header, set by the client
        assert all(r.user == user for r in api.requests)


def test_unauthenticated_and_unknown_context_fail_clearly(api: KubeAPIServer, kubeconfig: str) -> None:
    with pytest.raises(ClusterError, match="unauthorized"):
        read_cluster(source(kubeconfig, context="anonymous"), ["Namespace"])
    with pytest.raises(ClusterError, match="no such context"):
        read_cluster(source(kubeconfig, context="nope"), ["Namespace"])
    with pytest.raises(ClusterError, match="no such file"):
        read_cluster(ClusterSource(kubeconfig="/nonexistent/kubeconfig"), ["Namespace"])


# -- what is kept ------------------------------------------------------------------------------------------


def test_managed_fields_dropped_and_secret_values_not_kept(api: KubeAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    read = read_cluster(source(kubeconfig), ["ConfigMap", "Secret"])
    items = [i for t in read.lists for i in t.items]
    assert all("managedFields" not in i["metadata"] for i in items)
    secret = next(i for i in items if i["kind"] == "Secret")
    assert secret["data"] == {"password": REDACTED, "user": REDACTED}
    assert secret["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == REDACTED
    report = scan(ScanOptions(cluster=source(kubeconfig), rules=["KF-SEC-004"]))
    on_secret = [r for r in report.results if str(r.object) == "Secret/shop/db"]
    assert [r.status for r in on_secret] == [Status.NOT_EVALUATED]
    # asked for: the values are read (and the rule judges them), but a snapshot never holds them
    with_values = read_cluster(source(kubeconfig, secret_values=True), ["Secret"])
    assert with_values.lists[0].items[0]["data"]["user"] == "YWRtaW4="
    judged = scan(ScanOptions(cluster=source(kubeconfig, secret_values=True), rules=["KF-SEC-004"]))
    assert [f.object.name for f in judged.findings] == ["db"]
    save_snapshot(with_values, str(tmp_path / "s.json.gz"))
    raw = gzip.decompress((tmp_path / "s.json.gz").read_bytes())
    assert SECRET_VALUE.encode() not in raw and b"YWRtaW4=" not in raw
    assert SECRET_VALUE not in json.dumps(
        judged.to_dict() if hasattr(judged, "to_dict") else [f.message for f in judged.findings]
    )


def test_owner_resolution_live(api: KubeAPIServer, kubeconfig: str) -> None:
    report = scan(ScanOptions(cluster=source(kubeconfig), rules=["KF-IMG-001"]))
    objects = {str(f.object) for f in report.findings}
    assert "Deployment/shop/web" in objects
    assert not {o for o in objects if o.startswith(("Pod/shop/web-", "ReplicaSet/"))}
    web = next(o for o in report.inventory if o.name == "web" and o.kind == "Deployment")
    assert report.inventory.pod_count(web) == 3


# -- snapshots -------------------------------------------------------------------------------------------


def _normal(report: Report) -> list[tuple[str, ...]]:
    return sorted(
        (f.rule.id, str(f.object), f.path_str, f.message, f.location.file, str(f.suppressed)) for f in report.findings
    ) + sorted((r.rule.id, str(r.object), r.status.value, r.detail or "") for r in report.results)


def test_snapshot_scan_is_identical_to_the_live_scan(api: KubeAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    api.faults.forbidden.add("networkpolicies")
    snap = str(tmp_path / "cluster.json.gz")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    kf = [sys.executable, "-c", "from kubefort.cli import main; main()"]
    saved = subprocess.run(
        [*kf, "cluster", "snapshot", "save", snap, "--kubeconfig", kubeconfig], capture_output=True, text=True, env=env
    )
    assert saved.returncode == 0, saved.stderr
    assert "saved" in saved.stderr and "could not read: networkpolicies.networking.k8s.io (forbidden)" in saved.stderr
    live = subprocess.run(
        [*kf, "scan", "--cluster", "--kubeconfig", kubeconfig, "-o", "json"], capture_output=True, text=True, env=env
    )
    offline = subprocess.run([*kf, "scan", "--snapshot", snap, "-o", "json"], capture_output=True, text=True, env=env)
    assert live.returncode == offline.returncode == 1
    assert live.stdout == offline.stdout  # byte for byte
    assert "could not read 1 kinds (cannot list networkpolicies: forbidden)" in live.stderr
    assert "could not read 1 kinds" in offline.stderr
    # the format, as documented
    doc = json.loads(gzip.decompress(Path(snap).read_bytes()))
    assert doc["format"] == "kubefort.io/cluster-snapshot" and doc["version"] == 1
    assert doc["unreadable"][0]["resource"] == "networkpolicies" and doc["unreadable"][0]["status"] == 403
    assert {lst["kind"] for lst in doc["lists"]} >= {"PodList", "DeploymentList", "NamespaceList"}
    assert doc["discovery"]["aggregated"] is True and doc["cluster"]["serverVersion"]["gitVersion"]


def test_snapshot_without_a_kind_leaves_its_rules_not_evaluated(
    api: KubeAPIServer, kubeconfig: str, tmp_path: Path
) -> None:
    read = read_cluster(source(kubeconfig), ["Deployment", "Namespace", "Pod", "ReplicaSet", "StatefulSet"])
    path = str(tmp_path / "small.json.gz")
    save_snapshot(read, path)
    report = scan(ScanOptions(snapshot=path, rules=["KF-NET-001"]))
    assert report.results and all(r.status is Status.NOT_EVALUATED for r in report.results)
    assert "not in the snapshot" in (report.results[0].detail or "")


def test_not_a_snapshot_is_a_load_error(tmp_path: Path) -> None:
    from kubefort.errors import LoadError

    bad = tmp_path / "x.gz"
    bad.write_bytes(gzip.compress(b'{"format": "something-else"}'))
    with pytest.raises(LoadError, match="not a kubefort snapshot"):
        load_snapshot(str(bad))
    newer = tmp_path / "y.gz"
    newer.write_bytes(gzip.compress(b'{"format": "kubefort.io/cluster-snapshot", "version": 99}'))
    with pytest.raises(LoadError, match="version 99"):
        load_snapshot(str(newer))


# -- CLI --------------------------------------------------------------------------------------------------


def test_cli_options(api: KubeAPIServer, kubeconfig: str) -> None:
    from click.testing import CliRunner

    from kubefort.cli import cli

    runner = CliRunner()
    r = runner.invoke(
        cli, ["scan", "--cluster", "--kubeconfig", kubeconfig, "-n", "shop", "-o", "json", "--rules", "KF-IMG-001"]
    )
    assert r.exit_code == 0, r.output
    assert {f["object"]["namespace"] for f in json.loads(r.stdout)["findings"]} == {"shop"}
    r = runner.invoke(cli, ["scan", "--cluster", "-n", "shop", "-A"])
    assert r.exit_code == 2 and "choose one" in r.output
    r = runner.invoke(cli, ["scan", "--cluster", "--snapshot", "x.gz"])
    assert r.exit_code == 2 and "choose one" in r.output
    r = runner.invoke(cli, ["scan", "deploy/", "--cluster"])
    assert r.exit_code == 2
    r = runner.invoke(cli, ["scan", "examples/", "--qps", "3"])
    assert r.exit_code == 2 and "--qps applies to --cluster only" in r.output
    r = runner.invoke(cli, ["scan", "--cluster", "--kubeconfig", "/nonexistent"])
    assert r.exit_code == 2


# -- watch ------------------------------------------------------------------------------------------------


def _watch(kubeconfig: str, path: str, query: list[tuple[str, str]], until: int) -> list[dict[str, Any]]:
    """Events of a watch, read with the official client's transport (raw lines, as kubectl reads them)."""
    client, _ = load_client(kubeconfig, None)
    method, url, headers, _body, _post = client.param_serialize(
        method="GET",
        resource_path=path,
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    resp = client.call_api(method, url, header_params=headers, _request_timeout=(5, 5)).response
    events: list[dict[str, Any]] = []
    buf = b""
    for chunk in resp.stream(1024):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            events.append(json.loads(line))
        if len(events) >= until:
            break
    resp.release_conn()
    return events


def test_watch_streams_changes_with_resource_version_semantics(api: KubeAPIServer, kubeconfig: str) -> None:
    import threading

    api.bookmark_interval = 0.1
    lst = fast(kubeconfig).get("/api/v1/namespaces/shop/configmaps").json()
    rv = lst["metadata"]["resourceVersion"]

    def change() -> None:
        time.sleep(0.3)
        api.store.upsert({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "shop"}})
        api.store.upsert(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "new", "namespace": "shop"},
                "data": {"a": "b"},
            }
        )
        api.store.delete("", "configmaps", "shop", "new")

    threading.Thread(target=change).start()
    events = _watch(
        kubeconfig,
        "/api/v1/namespaces/shop/configmaps",
        [("watch", "true"), ("resourceVersion", rv), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "5")],
        until=5,
    )
    changes = [(e["type"], e["object"]["metadata"]["name"]) for e in events if e["type"] != "BOOKMARK"]
    assert changes[:3] == [("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "new")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events if e["type"] != "BOOKMARK"]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    assert any(e["type"] == "BOOKMARK" for e in events)
    bm = next(e for e in events if e["type"] == "BOOKMARK")["object"]
    assert bm["kind"] == "ConfigMap" and set(bm["metadata"]) == {"resourceVersion"}
    # resourceVersion unset: the current state first, as ADDED events; with sendInitialEvents, a bookmark ends it
    n = len(api.store.items(api.store.types[("", "configmaps")], "shop"))
    initial = _watch(
        kubeconfig,
        "/api/v1/namespaces/shop/configmaps",
        [("watch", "true"), ("sendInitialEvents", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "2")],
        until=n + 1,
    )
    assert [e["type"] for e in initial] == ["ADDED"] * n + ["BOOKMARK"]
    assert initial[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # older than the history: an ERROR event with a 410 Status
    api.store.compact()
    expired = _watch(kubeconfig, "/api/v1/configmaps", [("watch", "true"), ("resourceVersion", rv)], until=1)
    assert expired[0]["type"] == "ERROR"
    assert expired[0]["object"]["kind"] == "Status" and expired[0]["object"]["code"] == 410


# -- equivalence with a file scan ---------------------------------------------------------------------------

#: rules whose results depend on facts only a cluster has, by design
CLUSTER_ONLY = {
    "KF-SEC-005": "manifest mode only: live Secrets are not 'committed'",
    "KF-NET-009": "a live inventory is a whole cluster (rules/network.py _cluster_inventory)",
    "KF-NET-011": "a live inventory is a whole cluster (rules/network.py _cluster_inventory)",
    "KF-NET-017": "a live inventory is a whole cluster (rules/network.py _cluster_inventory)",
    "KF-MTLS-003": "namespaces default to PERMISSIVE only in a cluster (rules/mtls.py)",
    "KF-POD-035": "a Service selecting no pod of a cluster is judged (rules/pod_hygiene.py)",
    "KF-IMG-008": "a Service selecting no pod of a cluster is judged (rules/images.py)",
}
#: RBAC rules judge each binding in a cluster (rules/rbac.py _is_cluster), each role in manifests
RBAC_BINDINGS_IN_CLUSTER = "bindings judged as in a cluster (rules/rbac.py _is_cluster)"


def _comparable(report: Report, skip: set[str]) -> collections.Counter[tuple[str, ...]]:
    """Findings and not-evaluated results, less the rules that judge cluster-only facts: those of
    :data:`CLUSTER_ONLY`, and the rules that judge a whole cluster (``RuleMeta.whole_cluster``: not
    evaluated on files by design, tests/unit/test_rules_cluster.py)."""
    out: collections.Counter[tuple[str, ...]] = collections.Counter()
    for f in report.findings:
        if f.rule.id in CLUSTER_ONLY or f.rule.whole_cluster or f.rule.area in ("RBAC", "SCHEMA"):
            continue
        if str(f.object) in skip:
            continue
        out[(str(f.object), f.rule.id, f.path_str, f.message)] += 1
    for r in report.results:
        if str(r.object) in skip or r.rule.whole_cluster:
            continue
        if r.status is Status.NOT_EVALUATED and r.rule.id not in CLUSTER_ONLY and r.rule.area not in ("RBAC", "SCHEMA"):
            out[(str(r.object), r.rule.id, "not evaluated", r.detail or "")] += 1
    return out


def _counted_once(
    results: collections.Counter[tuple[str, ...]], controlled: collections.Counter[str]
) -> collections.Counter[tuple[str, ...]]:
    """File-scan results with KF-POD-044's workload count of each namespace less its ``controlled`` objects."""
    out: collections.Counter[tuple[str, ...]] = collections.Counter()
    for key, n in results.items():
        obj, rule_id, path, message = key
        ns = obj.removeprefix("Namespace/")
        if rule_id == "KF-POD-044" and obj.startswith("Namespace/") and controlled[ns]:
            m = re.fullmatch(r'(namespace "[^"]*" runs )(\d+)( workloads?)(.*)', message)
            assert m is not None, message
            count = int(m[2]) - controlled[ns]
            noun = " workload" if count == 1 else " workloads"
            key = (obj, rule_id, path, f"{m[1]}{count}{noun}{m[4]}")
        out[key] += n
    return out


def test_cluster_scan_of_the_corpus_equals_a_file_scan_of_the_same_objects(shared_dir: Path, tmp_path: Path) -> None:
    objects, scopes = load_manifests([str(shared_dir / "corpus")])
    store = Store()
    store.load_cluster(objects, scopes)
    with KubeAPIServer(store) as server:
        kc = server.kubeconfig(tmp_path / "kubeconfig")
        live = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kc, secret_values=True), workers=1))
    inv = live.inventory
    assert live.objects > 2000 and not inv.unreadable
    kinds = {o.kind for o in inv}
    served = [o for o in store.served_objects() if o["kind"] in kinds]
    (tmp_path / "objects.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": served}))
    files = scan(ScanOptions(paths=[str(tmp_path / "objects.json")], workers=1))
    assert files.objects == live.objects
    controlled = {str(o.ref) for o in inv if inv.controller(o) is not None}
    # objects the API schema rejects (KF-SCHEMA): an API server would have refused them, so a real cluster
    # never holds them; the test server serves the corpus as written, so they are left out of the comparison
    assert files.inventory is not None
    refused = {str(o.ref) for o in files.inventory if o.invalid is not None}
    refused |= {str(f.object) for f in files.findings if f.rule.area == "SCHEMA"}
    a, b = _comparable(live, controlled | refused), _comparable(files, controlled | refused)
    assert sum(a.values()) > 20000
    # the one count that differs by design: KF-POD-044 counts a namespace's workloads, and in a cluster the
    # Jobs, ReplicaSets and Pods a controller made count once, as that controller
    per_ns = collections.Counter(str(o.namespace) for o in inv if inv.controller(o) is not None)
    assert per_ns and sum(per_ns.values()) == len(controlled)
    b = _counted_once(b, per_ns)
    assert a - b == collections.Counter() and b - a == collections.Counter()
    # the RBAC rules agree on every role-level judgement too: both report the same (object, rule) pairs
    # for roles, while bindings are judged only in a cluster
    rbac_roles = lambda rep: {  # noqa: E731
        (str(f.object), f.rule.id, f.message)
        for f in rep.findings
        if f.rule.area == "RBAC" and f.object.kind.endswith("Role")
    }
    assert rbac_roles(live) == rbac_roles(files)
    assert default_registry().get("KF-SEC-005").meta.modes == frozenset({"manifest"})
