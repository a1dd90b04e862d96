"""Schema validation in cluster mode: the cluster's own /openapi/v3 (docs/schema.md, "Live clusters").

The test API server publishes /openapi/v3 as the API reference documents it (tests/kubeapi/openapi.py):
built-in group-versions from kubefort's bundled schema data, custom resources from their CRDs. A
cluster scan reads the documents of the custom resources it read (and no other), keeps them by hash
in a snapshot, and KF-SCHEMA-006 reports the stored custom resources that a changed CRD now rejects.
Built-in objects are not validated: the API server decoded them."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeapi import openapi as published
from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.analysis.schema.bundle import load_bundle
from kubefort.analysis.schema.crd import CrdIndex
from kubefort.analysis.schema.live import custom_resource_schema
from kubefort.analysis.schema.live import published as published_crds
from kubefort.analysis.schema.openapi import Bundle, compile_definitions
from kubefort.analysis.schema.types import ListOf, MapOf, OrProps, Struct
from kubefort.api import ScanOptions, scan
from kubefort.engine.findings import Report, Status
from kubefort.loading.cluster import ClusterSource, load_snapshot, read_cluster, save_snapshot
from kubefort.loading.cluster.openapi import read_openapi
from kubefort.loading.cluster.transport import RequestLimits, Transport, load_client

GROUP = "security.istio.io"
#: a PeerAuthentication CRD as an Istio upgrade leaves it: mode now an enum, selector labels strings
PA_SCHEMA = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "selector": {
                    "type": "object",
                    "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}},
                },
                "mtls": {
                    "type": "object",
                    "properties": {"mode": {"type": "string", "enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}},
                },
                "portLevelMtls": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "mode": {"type": "string", "enum": ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]}
                        },
                    },
                },
            },
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "peerauthentications.security.istio.io"},
    "spec": {
        "group": GROUP,
        "names": {"kind": "PeerAuthentication", "plural": "peerauthentications"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": PA_SCHEMA},
                "subresources": {"status": {}},
            }
        ],
    },
}


def pa(name: str, mode: Any, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"mtls": {"mode": mode}, **extra},
        "status": {"validationMessages": [{"anything": "goes"}]},
    }


def objects() -> list[dict[str, Any]]:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                # a real API server would have dropped this field: the test server serves it as written
                "spec": {
                    "containers": [{"name": "web", "image": "nginx:1.27", "securityContext": {"runAsNonroot": True}}]
                },
            },
        },
    }
    return [
        CRD,
        deployment,
        pa("strict", "STRICT"),
        pa("off", "DISABLE"),
        # stored before the CRD said mode is an enum, and selector labels strings
        pa("legacy", "disable"),
        pa("typed", "STRICT", selector={"matchLabels": {"version": 2}}),
    ]


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    store = Store()
    store.load_cluster(objects(), {"PeerAuthentication": True})
    with KubeAPIServer(store) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig")


def transport(kubeconfig: str) -> Transport:
    client, _ = load_client(kubeconfig, None)
    return Transport(client, limits=RequestLimits(request_timeout=5, backoff=0.01))


def schema_results(report: Report) -> list[tuple[str, str, str]]:
    out = [
        (f.object.name, "fail", f"{f.path_str}: {f.message}") for f in report.findings if f.rule.id == "KF-SCHEMA-006"
    ]
    out += [
        (r.object.name, r.status.value, r.detail or "")
        for r in report.results
        if r.rule.id == "KF-SCHEMA-006" and r.status is not Status.FAIL
    ]
    out += [(ref.name, "pass", "") for m, ref, _ in report.passes if m.id == "KF-SCHEMA-006"]
    return sorted(out)


EXPECTED = [
    (
        "legacy",
        "fail",
        'spec.mtls.mode: "disable" is not one of the allowed values ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")',
    ),
    ("off", "pass", ""),
    ("strict", "pass", ""),
    ("typed", "fail", "spec.selector.matchLabels.version: expected a string, found an integer"),
]


# -- the documents, as served ----------------------------------------------------------------------------


def test_openapi_v3_discovery_and_documents_are_shaped_as_documented(api: KubeAPIServer, kubeconfig: str) -> None:
    t = transport(kubeconfig)
    index = t.get("/openapi/v3").json()
    paths = index["paths"]
    assert {"api/v1", "apis/apps/v1", f"apis/{GROUP}/v1"} <= set(paths)
    url = paths["apis/apps/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/apps/v1?hash=") and len(url.rsplit("=", 1)[1]) == 128
    doc = t.get("/openapi/v3/apis/apps/v1", [("hash", url.rsplit("=", 1)[1])]).json()
    assert doc["openapi"] == "3.0.0" and doc["info"]["version"] == "v1.33.0-kubefort-test"
    schemas = doc["components"]["schemas"]
    deploy = schemas["io.k8s.api.apps.v1.Deployment"]
    assert deploy["x-kubernetes-group-version-kind"] == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert deploy["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert "io.k8s.api.core.v1.PodSpec" in schemas  # everything its kinds reach
    custom = t.get(paths[f"apis/{GROUP}/v1"]["serverRelativeURL"].split("?")[0], [("hash", "stale")], ok=(301,))
    assert custom.headers["Location"] == paths[f"apis/{GROUP}/v1"]["serverRelativeURL"]  # an old hash: moved
    api.faults.openapi = False
    with pytest.raises(Exception, match="404"):
        t.get("/openapi/v3")


def test_the_compiler_reads_the_published_documents_as_the_bundle(api: KubeAPIServer, kubeconfig: str) -> None:
    """What the design promised (analysis/schema/openapi.py): a cluster's /openapi/v3 compiles into the
    same types as the bundled data, for every built-in group-version the server publishes."""
    bundle = load_bundle("1.33")
    t = transport(kubeconfig)
    paths = t.get("/openapi/v3").json()["paths"]
    checked = 0
    for key, entry in paths.items():
        gv = key.split("/", 1)[1]
        if gv not in bundle.kinds:
            continue
        doc = t.get(key and f"/openapi/v3/{key}", [("hash", entry["serverRelativeURL"].rsplit("=", 1)[1])]).json()
        compiled = Bundle.from_compact(
            compile_definitions(doc["components"]["schemas"], kubernetes="1.33", source="live")
        )
        assert set(compiled.kinds[gv]) == set(bundle.kinds[gv])
        for kind, struct in compiled.kinds[gv].items():
            assert _shape(struct) == _shape(bundle.kinds[gv][kind]), (gv, kind)
            checked += 1
    assert checked > 50


def _shape(t: Any, depth: int = 0, seen: frozenset[str] = frozenset()) -> Any:
    if isinstance(t, Struct):
        if t.name in seen or depth > 6:
            return t.name
        inner = seen | {t.name}
        return (t.name, tuple(t.required), tuple((k, _shape(v, depth + 1, inner)) for k, v in sorted(t.fields.items())))
    if isinstance(t, ListOf):
        return ("list", _shape(t.item, depth, seen))
    if isinstance(t, MapOf):
        return ("map", _shape(t.value, depth, seen))
    if isinstance(t, OrProps):
        return ("or", t.alt)
    return t


# -- validation -------------------------------------------------------------------------------------------


def test_stored_custom_resources_are_checked_against_the_crd_the_cluster_publishes(
    api: KubeAPIServer, kubeconfig: str
) -> None:
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig)))
    assert schema_results(report) == EXPECTED
    # only the documents of the custom resources read: not those of the built-in group-versions
    fetched = [r.path for r in api.requests if r.path.startswith("/openapi/v3")]
    assert fetched == ["/openapi/v3", f"/openapi/v3/apis/{GROUP}/v1"]
    # the invalid field leaves the rules that read it not evaluated, as in a manifest
    legacy = [r for r in report.results if r.object.name == "legacy" and r.rule.id == "KF-MTLS-002"]
    assert [r.status for r in legacy] == [Status.NOT_EVALUATED]
    assert "field spec.mtls.mode is invalid" in (legacy[0].detail or "")
    assert [f.object.name for f in report.findings if f.rule.id == "KF-MTLS-002"] == ["off"]


def test_built_in_objects_are_not_validated_in_cluster_mode(api: KubeAPIServer, kubeconfig: str) -> None:
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig)))
    assert {m.id for m in report.rules if m.id.startswith("KF-SCHEMA-")} == {"KF-SCHEMA-006"}
    assert not [f for f in report.findings if f.object.kind == "Deployment" and f.rule.area == "SCHEMA"]
    web = next(o for o in report.inventory or () if o.kind == "Deployment")
    assert web.invalid is None  # judged as served


def test_a_snapshot_keeps_the_documents_by_hash_and_validates_offline(
    api: KubeAPIServer, kubeconfig: str, tmp_path: Path
) -> None:
    read = read_cluster(ClusterSource(kubeconfig=kubeconfig), ["PeerAuthentication"], schemas=lambda g: g == GROUP)
    snap = tmp_path / "s.json.gz"
    save_snapshot(read, str(snap))
    doc = json.loads(gzip.decompress(snap.read_bytes()))
    [digest] = doc["openapi"]["documents"]
    assert doc["openapi"]["paths"] == {f"{GROUP}/v1": digest} and len(digest) == 128
    assert load_snapshot(str(snap)).openapi.by_group_version()[f"{GROUP}/v1"]["openapi"] == "3.0.0"
    full = tmp_path / "full.json.gz"
    live = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig)))
    from kubefort.api import save_cluster_snapshot

    save_cluster_snapshot(ClusterSource(kubeconfig=kubeconfig), str(full))
    api.stop()  # offline
    offline = scan(ScanOptions(snapshot=str(full)))
    assert schema_results(offline) == schema_results(live) == EXPECTED


def test_without_openapi_v3_the_crds_read_are_used(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.openapi = False
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig)))
    assert schema_results(report) == EXPECTED
    # and without the CRDs either (a read-only role without them): not evaluated, with the reason
    api.faults.forbidden.add("customresourcedefinitions")
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), rules=["KF-SCHEMA-006"]))
    got = schema_results(report)
    assert [s for _, s, _ in got] == ["not_evaluated"] * 4
    assert got[0][2] == (
        f"no schema for {GROUP}/v1 PeerAuthentication: the cluster publishes none in /openapi/v3 and its CRD was not read"
    )


def test_with_openapi_v3_the_crds_need_not_be_readable(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.forbidden.add("customresourcedefinitions")
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), rules=["KF-SCHEMA-006"]))
    assert schema_results(report) == EXPECTED


def test_read_openapi_records_what_it_cannot_read(api: KubeAPIServer, kubeconfig: str) -> None:
    t = transport(kubeconfig)
    got = read_openapi(t, [f"{GROUP}/v1", "nothere.example.com/v1"])
    assert list(got.paths) == [f"{GROUP}/v1"]
    assert got.failed == {"nothere.example.com/v1": "nothere.example.com/v1 is not published in /openapi/v3"}
    api.faults.openapi = False
    assert read_openapi(t, [f"{GROUP}/v1"]).failed == {
        "": "the server does not publish /openapi/v3 (Kubernetes 1.27+ does)"
    }


def test_aggregated_api_types_are_served_not_validated() -> None:
    """A kind whose published schema refers to named types is the Go type of an aggregated API server."""
    go_typed = {
        "type": "object",
        "properties": {
            "metadata": {"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]},
            "spec": {"allOf": [{"$ref": "#/components/schemas/io.kasten.k10.RunActionSpec"}]},
        },
        "x-kubernetes-group-version-kind": [
            {"group": "actions.kio.kasten.io", "version": "v1alpha1", "kind": "RunAction"}
        ],
    }
    crd_like = copy.deepcopy(PA_SCHEMA) | {
        "x-kubernetes-group-version-kind": [{"group": GROUP, "version": "v1", "kind": "PeerAuthentication"}]
    }
    assert not custom_resource_schema(go_typed) and custom_resource_schema(crd_like)
    docs = {
        "actions.kio.kasten.io/v1alpha1": {"components": {"schemas": {"io.kasten.k10.RunAction": go_typed}}},
        f"{GROUP}/v1": {"components": {"schemas": published.published(GROUP, "v1", "PeerAuthentication", PA_SCHEMA)}},
    }
    crds = CrdIndex()
    served, _ = published_crds(docs, crds, frozenset({"", "apps"}))
    assert served == {("actions.kio.kasten.io", "v1alpha1", "RunAction")}
    assert list(crds.by_kind) == [(GROUP, "PeerAuthentication")]  # its List type left out


def test_skipping_kf_schema_006_turns_live_validation_off(api: KubeAPIServer, kubeconfig: str) -> None:
    report = scan(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig), skip_rules=["KF-SCHEMA-006"]))
    assert not [r for r in api.requests if r.path.startswith("/openapi/v3")]  # nothing read for it
    legacy = [r for r in report.results if r.object.name == "legacy" and r.rule.id == "KF-MTLS-002"]
    assert not legacy  # judged as stored: "disable" is not DISABLE, so it passes
    assert ("KF-MTLS-002", "legacy") in {(m.id, ref.name) for m, ref, _ in report.passes}
