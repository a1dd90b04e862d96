"""Results as OpenReports and PolicyReports (``-o openreports``, ``-o policyreport``) and ``scan --apply``.

The documents are validated against the published CRD schemas (vendored in tests/fixtures/report-crds,
strict: a field the CRD does not declare would be pruned by the API server, so it fails here), and by
kubefort's own schema checks (``--schema-dir``). ``--apply`` runs against the test API server, which
implements server-side apply and delete as the API documents them (tests/kubeapi/server.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

from kubeapi.crds import CRD_DIR, crd_schema, report_crds, validation_errors
from kubeapi.server import KubeAPIServer, load_manifests
from kubeapi.store import Store
from kubefort.api import ScanOptions, scan
from kubefort.cli import cli
from kubefort.engine.findings import Report, Status
from kubefort.engine.rule import Severity
from kubefort.loading.cluster import ClusterError, ClusterSource
from kubefort.loading.cluster.transport import ApiError, RequestLimits, Transport, load_client
from kubefort.publish import MANAGED_SELECTOR, ReportWriter
from kubefort.reporters import Format, get_reporter
from kubefort.reporters.openreports import MAX_REPORT_BYTES, OPENREPORTS, documents, part_name
from kubefort.reporters.policyreport import POLICYREPORT

ROOT = Path(__file__).resolve().parents[2]
INSECURE = ROOT / "examples" / "insecure-app"
NOW = dt.datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=dt.UTC)
FORMATS = [OPENREPORTS, POLICYREPORT]


def file_report(**kw: Any) -> Report:
    return scan(ScanOptions(paths=[str(INSECURE)], keep_passes=True, **kw))


def web_objects() -> list[dict[str, Any]]:
    """A second namespace with a bare privileged Pod and a ConfigMap."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "debug", "namespace": "web"},
        "spec": {"containers": [{"name": "sh", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "web"}, "data": {}}
    return [pod, cm]


def cluster_store(*, crds: bool = True) -> Store:
    objects, scopes = load_manifests([str(INSECURE)])
    store = Store()
    store.load_cluster([*objects, *web_objects()], scopes)
    if crds:
        for crd in report_crds():
            store.add_crd(crd)
    return store


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    with KubeAPIServer(cluster_store()) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig")


def transport(kubeconfig: str) -> Transport:
    client, _ = load_client(kubeconfig, None)
    return Transport(client, limits=RequestLimits(request_timeout=5.0, backoff=0.01))


def stored_reports(api: KubeAPIServer, group: str, resource: str) -> dict[tuple[str, str], dict[str, Any]]:
    return dict(api.store.types[(group, resource)].objects)


# -- the documents ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.kind)
def test_documents_validate_against_the_published_crds(fmt: Any) -> None:
    report = file_report()
    docs = documents(report, fmt, now=NOW)
    assert docs, "the insecure example has results"
    for doc in docs:
        assert validation_errors(doc) == [], doc["metadata"]
    kinds = [(d["kind"], d["metadata"].get("namespace")) for d in docs]
    assert kinds == [(fmt.cluster_kind, None), (fmt.kind, "shop")]  # the cluster report first
    assert all(d["apiVersion"] == fmt.api_version for d in docs)
    assert all(d["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubefort"} for d in docs)
    assert all(d["metadata"]["name"] == "kubefort" for d in docs)
    assert ("source" in docs[0]) is fmt.report_source
    for doc in docs:
        counts = {
            k: sum(1 for r in doc["results"] if r["result"] == k) for k in ("pass", "fail", "warn", "error", "skip")
        }
        assert doc["summary"] == counts


def test_strict_validation_catches_fields_the_crd_would_prune() -> None:
    doc = documents(file_report(), POLICYREPORT, now=NOW)[1]
    assert validation_errors(doc) == []
    bad = json.loads(json.dumps(doc))
    bad["source"] = "kubefort"  # v1alpha2 has no report-level source: the API server would drop it
    bad["results"][0]["severity"] = "urgent"
    errors = validation_errors(bad)
    assert any(e.startswith("<root>: Additional properties") for e in errors)
    assert any(e.startswith("results.0.severity") for e in errors)
    assert crd_schema("wgpolicyk8s.io/v1alpha2", "PolicyReport")["properties"]["results"]["items"]["required"] == [
        "policy"
    ]


def test_results_map_kubefort_statuses() -> None:
    report = file_report(fail_on="high")
    docs = documents(report, OPENREPORTS, now=NOW)
    results = [r for d in docs for r in d["results"]]
    active = [f for f in report.findings if not f.suppressed]
    assert sum(r["result"] == "fail" for r in results) == sum(f.severity >= Severity.HIGH for f in active)
    assert sum(r["result"] == "warn" for r in results) == sum(f.severity < Severity.HIGH for f in active)
    assert sum(r["result"] == "pass" for r in results) == len(report.passes) == report.counts[Status.PASS]
    for r in results:
        assert r["source"] == "kubefort" and r["policy"].startswith("KF-") and r["rule"]
        assert r["scored"] is (r["result"] != "warn")
        assert r["timestamp"] == {"seconds": int(NOW.timestamp()), "nanos": 250_000_000}
        (res,) = r["resources"]
        assert set(res) <= {"apiVersion", "kind", "namespace", "name", "uid"}
    priv = next(r for r in results if r["policy"] == "KF-ADM-002")
    assert priv["result"] == "fail" and priv["severity"] == "high" and priv["category"] == "ADM"
    assert priv["properties"]["path"] == 'metadata.labels["pod-security.kubernetes.io/enforce"]'
    assert priv["properties"]["location"] == f"{INSECURE.relative_to(ROOT)}/namespace.yaml:6" or priv["properties"][
        "location"
    ].endswith("namespace.yaml:6")
    # --fail-on low: what was a warning fails
    strict = [r for d in documents(file_report(fail_on="low"), OPENREPORTS, now=NOW) for r in d["results"]]
    assert sum(r["result"] == "warn" for r in strict) == sum(f.severity < Severity.LOW for f in active)


def test_suppressed_findings_are_skipped_with_their_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "kubefort.yaml"
    cfg.write_text("exceptions:\n  - rules: [KF-ADM-002]\n    reason: the namespace is a sandbox\n")
    docs = documents(file_report(config=str(cfg)), OPENREPORTS, now=NOW)
    (skip,) = [r for d in docs for r in d["results"] if r["policy"] == "KF-ADM-002"]
    assert skip["result"] == "skip" and "sandbox" in skip["properties"]["suppression"]


def test_split_by_results_with_deterministic_names() -> None:
    report = file_report()
    whole = documents(report, OPENREPORTS, now=NOW)
    parts = documents(report, OPENREPORTS, now=NOW, max_bytes=12_000)
    shop = [d for d in parts if d["metadata"].get("namespace") == "shop"]
    assert len(shop) > 3
    assert [d["metadata"]["name"] for d in shop] == [part_name(i) for i in range(len(shop))]
    assert [d["metadata"]["name"] for d in shop][:3] == ["kubefort", "kubefort-2", "kubefort-3"]
    for d in parts:
        assert len(orjson.dumps(d)) <= 12_000 and validation_errors(d) == []
        # every result is counted once (not evaluated results, on files too since issue 12/13, are "error")
        assert sum(d["summary"].values()) == len(d["results"])
        assert d["summary"]["error"] == sum(r["result"] == "error" for r in d["results"])
    by_ns = lambda docs: {  # noqa: E731
        ns: [r for d in docs if d["metadata"].get("namespace") == ns for r in d["results"]] for ns in (None, "shop")
    }
    assert by_ns(parts) == by_ns(whole)  # same results, same order
    assert documents(report, OPENREPORTS, now=NOW, max_bytes=12_000) == parts  # deterministic


def test_large_namespace_stays_under_the_request_limit(tmp_path: Path) -> None:
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"p-{i:04d}", "namespace": "big"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]},
        }
        for i in range(250)
    ]
    path = tmp_path / "pods.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods}))
    report = scan(ScanOptions(paths=[str(path)], keep_passes=True, rules=["KF-POD-*", "KF-IMG-*"]))
    docs = documents(report, OPENREPORTS, now=NOW)
    assert len(docs) > 1
    assert all(len(orjson.dumps(d)) <= MAX_REPORT_BYTES for d in docs)
    assert sum(len(d["results"]) for d in docs) == len(report.findings) + len(report.passes)


@pytest.mark.parametrize("fmt", [Format.OPENREPORTS, Format.POLICYREPORT])
def test_cli_formats_and_kubefort_own_schema_check(tmp_path: Path, fmt: Format) -> None:
    res = CliRunner().invoke(cli, ["scan", str(INSECURE), "-o", fmt.value])
    assert res.exit_code == 1, res.output  # the exit code is the scan's
    docs = [d for d in yaml.safe_load_all(res.output) if d]
    assert {d["kind"] for d in docs} == {
        "Report" if fmt is Format.OPENREPORTS else "PolicyReport",
        "ClusterReport" if fmt is Format.OPENREPORTS else "ClusterPolicyReport",
    }
    assert all(validation_errors(d) == [] for d in docs)
    out = tmp_path / "reports.yaml"
    out.write_text(res.output)
    # kubefort's own validator, with the CRDs as the schemas of these custom resources
    check = CliRunner().invoke(
        cli, ["scan", str(out), "--schema-dir", str(CRD_DIR), "--rules", "KF-SCHEMA-*", "-o", "json"]
    )
    data = json.loads(check.output)
    assert data["findings"] == [] and data["not_evaluated"] == [], check.output[:2000]
    assert get_reporter(fmt).__class__.__name__.endswith("Reporter")


# -- --apply against the test API server ---------------------------------------------------------------------


def apply_scan(kubeconfig: str, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["scan", "--cluster", "--kubeconfig", kubeconfig, "--apply", *extra])


def test_apply_writes_one_report_per_namespace_with_server_side_apply(api: KubeAPIServer, kubeconfig: str) -> None:
    res = apply_scan(kubeconfig, "-o", "json")
    assert res.exit_code == 1, res.output  # findings
    reports = stored_reports(api, "openreports.io", "reports")
    namespaces = {ns for ns, _ in reports}
    assert {"shop", "web"} <= namespaces
    assert set(stored_reports(api, "openreports.io", "clusterreports")) == {("", "kubefort")}
    patches = [r for r in api.requests if r.method == "PATCH"]
    assert patches and all(r.query == {"fieldManager": "kubefort", "force": "true"} for r in patches)
    assert all(r.status == 201 for r in patches)
    for obj in reports.values():
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubefort"
        assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubefort"]
        assert obj["metadata"]["managedFields"][0]["operation"] == "Apply"
        served = {k: v for k, v in obj.items() if k != "metadata"}
        assert validation_errors({**served, "metadata": {"name": "x"}}) == []
    web = reports[("web", "kubefort")]
    debug = [r for r in web["results"] if r["resources"][0]["name"] == "debug"]
    assert any(r["policy"] == "KF-POD-001" and r["result"] == "fail" for r in debug)
    uid = api.store.types[("", "pods")].objects[("web", "debug")]["metadata"]["uid"]
    assert all(r["resources"][0]["uid"] == uid for r in debug)  # the object read from the cluster has its uid
    assert "applied" in res.output  # the stderr summary line (CliRunner mixes the streams)
    # again: the same objects are updated in place (200), none created or deleted
    n = len(api.requests)
    res = apply_scan(kubeconfig)
    assert res.exit_code == 1
    again = [r for r in api.requests[n:] if r.method in ("PATCH", "DELETE")]
    assert again and all(r.method == "PATCH" and r.status == 200 for r in again)
    assert set(stored_reports(api, "openreports.io", "reports")) == set(reports)


def test_apply_deletes_kubefort_reports_that_have_no_results_left(api: KubeAPIServer, kubeconfig: str) -> None:
    stale = {
        "apiVersion": "openreports.io/v1alpha1",
        "kind": "Report",
        "metadata": {"name": "kubefort-7", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "kubefort"}},
        "results": [],
    }
    foreign = {
        "apiVersion": "openreports.io/v1alpha1",
        "kind": "Report",
        "metadata": {"name": "kyverno-abc", "namespace": "shop", "labels": {"app.kubernetes.io/managed-by": "kyverno"}},
        "results": [],
    }
    api.store.upsert(stale)
    api.store.upsert(foreign)
    assert apply_scan(kubeconfig).exit_code == 1
    reports = stored_reports(api, "openreports.io", "reports")
    assert ("shop", "kubefort-7") not in reports and ("shop", "kyverno-abc") in reports
    deletes = [r for r in api.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == ["/apis/openreports.io/v1alpha1/namespaces/shop/reports/kubefort-7"]
    assert all(r.status == 200 for r in deletes)
    lists = [r for r in api.requests if r.query.get("labelSelector")]
    assert lists and all(r.query["labelSelector"] == MANAGED_SELECTOR for r in lists)
    # the namespace's objects go away: its report goes with them
    for key in list(api.store.types[("", "pods")].objects):
        if key[0] == "web":
            api.store.delete("", "pods", *key)
    for key in list(api.store.types[("", "configmaps")].objects):
        if key[0] == "web":
            api.store.delete("", "configmaps", *key)
    assert apply_scan(kubeconfig).exit_code == 1
    assert ("web", "kubefort") not in stored_reports(api, "openreports.io", "reports")


def test_apply_in_one_namespace_cleans_up_only_there(api: KubeAPIServer, kubeconfig: str) -> None:
    assert apply_scan(kubeconfig).exit_code == 1
    api.store.upsert(
        {
            "apiVersion": "openreports.io/v1alpha1",
            "kind": "Report",
            "metadata": {
                "name": "kubefort-9",
                "namespace": "web",
                "labels": {"app.kubernetes.io/managed-by": "kubefort"},
            },
        }
    )
    assert apply_scan(kubeconfig, "-n", "shop").exit_code == 1
    reports = stored_reports(api, "openreports.io", "reports")
    assert ("web", "kubefort-9") in reports and ("web", "kubefort") in reports and ("shop", "kubefort") in reports


def test_apply_policyreports(api: KubeAPIServer, kubeconfig: str) -> None:
    res = CliRunner().invoke(cli, ["scan", "--cluster", "--kubeconfig", kubeconfig, "--apply", "policyreport"])
    assert res.exit_code == 1, res.output
    assert ("shop", "kubefort") in stored_reports(api, "wgpolicyk8s.io", "policyreports")
    assert ("", "kubefort") in stored_reports(api, "wgpolicyk8s.io", "clusterpolicyreports")
    assert not stored_reports(api, "openreports.io", "reports")


def test_apply_needs_the_crds_and_a_cluster(tmp_path: Path) -> None:
    with KubeAPIServer(cluster_store(crds=False)) as server:
        kc = server.kubeconfig(tmp_path / "kc")
        res = apply_scan(kc)
        assert res.exit_code == 2
        assert "does not serve openreports.io/v1alpha1 Report" in res.output
    res = CliRunner().invoke(cli, ["scan", str(INSECURE), "--apply"])
    assert res.exit_code == 2 and "--cluster" in res.output


def test_writer_against_the_documented_answers(api: KubeAPIServer, kubeconfig: str) -> None:
    """The test server answers apply and delete as the API reference documents (201/200, 404, 409,
    413, 415, 422), and the writer reads them right."""
    t = transport(kubeconfig)
    writer = ReportWriter(t, OPENREPORTS.kinds())
    doc = documents(file_report(), OPENREPORTS, now=NOW)[1]
    writer.apply(doc)
    assert api.requests[-1].status == 201
    writer.apply(doc)
    assert api.requests[-1].status == 200
    key = ("openreports.io/v1alpha1", "Report", "shop", "kubefort")
    assert writer.delete(key) is True
    assert writer.delete(key) is False  # 404: already gone
    assert api.requests[-1].status == 404
    path = "/apis/openreports.io/v1alpha1/namespaces/shop/reports/kubefort"
    body = orjson.dumps(doc)
    # another field manager owns the results: a non-forced apply conflicts, kubefort's (forced) wins
    t.request(
        "PATCH", path, [("fieldManager", "someone")], body=body, content_type="application/apply-patch+yaml", ok=(201,)
    )
    changed = {**doc, "summary": {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0}}
    with pytest.raises(ApiError) as conflict:
        t.request(
            "PATCH",
            path,
            [("fieldManager", "kubefort")],
            body=orjson.dumps(changed),
            content_type="application/apply-patch+yaml",
        )
    assert conflict.value.status == 409 and conflict.value.reason == "Conflict" and "someone" in conflict.value.message
    writer.apply(changed)
    stored = api.store.types[("openreports.io", "reports")].objects[("shop", "kubefort")]
    assert stored["summary"]["pass"] == 0
    assert {m["manager"] for m in stored["metadata"]["managedFields"]} == {"kubefort", "someone"}
    # what the server refuses
    with pytest.raises(ApiError) as bad:
        t.request("PATCH", path, [("force", "true")], body=body, content_type="application/apply-patch+yaml")
    assert bad.value.status == 400  # no fieldManager
    with pytest.raises(ApiError) as media:
        t.request("PATCH", path, [("fieldManager", "kubefort")], body=body, content_type="application/yaml")
    assert media.value.status == 415
    invalid = json.loads(body)
    invalid["results"][0]["result"] = "maybe"
    with pytest.raises(ApiError) as inv:
        writer.apply(invalid)
    assert inv.value.status == 422 and inv.value.reason == "Invalid" and "results.0.result" in inv.value.message
    # one report of every result, unsplit, is more than etcd stores: the split is what makes it fit
    huge = json.loads(body)
    huge["results"] = huge["results"] * (2 * MAX_REPORT_BYTES // len(body) + 2)
    with pytest.raises(ApiError) as large:
        writer.apply(huge)
    assert large.value.status == 413
    # unknown fields are pruned, as a structural schema does
    t.request(
        "PATCH",
        path,
        [("fieldManager", "kubefort"), ("force", "true")],
        body=orjson.dumps({**doc, "extra": 1}),
        content_type="application/apply-patch+yaml",
    )
    assert "extra" not in api.store.types[("openreports.io", "reports")].objects[("shop", "kubefort")]
    with pytest.raises(ValueError, match="managed-by"):
        writer.apply({**doc, "metadata": {"name": "x", "namespace": "shop"}})
    t.close()


def test_apply_failure_is_exit_2_and_keeps_reports(api: KubeAPIServer, kubeconfig: str) -> None:
    assert apply_scan(kubeconfig).exit_code == 1
    before = set(stored_reports(api, "openreports.io", "reports"))
    api.faults.forbidden.add("reports.openreports.io")
    res = apply_scan(kubeconfig)
    assert res.exit_code == 2 and "cannot apply Report" in res.output and "forbidden" in res.output
    api.faults.forbidden.clear()
    assert set(stored_reports(api, "openreports.io", "reports")) == before


def test_report_crds_are_served_as_custom_resources(api: KubeAPIServer, kubeconfig: str) -> None:
    src = ClusterSource(kubeconfig=kubeconfig)
    t = transport(kubeconfig)
    try:
        writer = ReportWriter(t, POLICYREPORT.kinds())
        assert writer.types[("wgpolicyk8s.io/v1alpha2", "PolicyReport")].path("shop") == (
            "/apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports"
        )
        assert not writer.types[("wgpolicyk8s.io/v1alpha2", "ClusterPolicyReport")].namespaced
        assert writer.managed() == set()
    finally:
        t.close()
    assert src.namespace is None
    with pytest.raises(ClusterError):
        ReportWriter(transport(kubeconfig), [("example.com/v1", "Nothing")])
