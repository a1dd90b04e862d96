"""Snapshots at scale: the line layout read a line at a time, lists skipped unparsed, objects compacted
(what repeats kept once), with the same results as the objects read whole (docs/cluster.md, "Scale")."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from kubeapi.server import KubeAPIServer, load_manifests
from kubeapi.store import Store
from kubefort.api import ScanOptions, save_cluster_snapshot, scan_cluster
from kubefort.engine.findings import Report
from kubefort.errors import LoadError
from kubefort.loading.cluster import ClusterSource, load_snapshot
from kubefort.loading.cluster import snapshot as snapshot_module
from kubefort.loading.cluster.reader import TypeList
from kubefort.loading.compact import Compactor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of the examples and the cluster fixtures served as one cluster."""
    from test_cluster_model import cluster_objects

    objects, scopes = load_manifests([str(ROOT / "examples")])
    store = Store()
    store.load_cluster([*objects, *cluster_objects()], scopes)
    path = tmp_path_factory.mktemp("scale") / "cluster.json.gz"
    with KubeAPIServer(store) as server:
        kc = server.kubeconfig(path.parent / "kubeconfig")
        save_cluster_snapshot(ClusterSource(kubeconfig=kc), str(path))
    return path


def _normal(report: Report) -> list[tuple[str, ...]]:
    return sorted((f.rule.id, str(f.object), f.path_str, f.message) for f in report.findings) + sorted(
        (r.rule.id, str(r.object), r.status.value, r.detail or "") for r in report.results
    )


def test_the_line_layout_is_one_json_document(snapshot: Path) -> None:
    text = gzip.decompress(snapshot.read_bytes())
    doc = json.loads(text)  # any JSON reader takes it whole
    assert doc["layout"] == "lines" and doc["lists"]
    lines = text.split(b"\n")
    assert lines[0].endswith(b'"lists":[') and lines[-2] == b"]}" and lines[-1] == b""
    # one object a line: as many item lines as items
    items = sum(len(lst["items"]) for lst in doc["lists"])
    assert sum(1 for line in lines if line.startswith(b'{"apiVersion"') and not line.endswith(b'"items":[')) >= items


def test_read_a_line_at_a_time_as_the_whole_document(snapshot: Path, tmp_path: Path) -> None:
    streamed = load_snapshot(str(snapshot))
    # the same document written in one piece (another layout): read whole, the same objects
    doc = json.loads(gzip.decompress(snapshot.read_bytes()))
    del doc["layout"]
    whole = tmp_path / "whole.json.gz"
    whole.write_bytes(gzip.compress(json.dumps(doc).encode()))
    again = load_snapshot(str(whole))
    assert [(t.type, t.items) for t in streamed.lists] == [(t.type, t.items) for t in again.lists]
    assert streamed.kinds == again.kinds and streamed.discovery.to_dict() == again.discovery.to_dict()
    # kinds and select
    pods = load_snapshot(str(snapshot), kinds={"Pod"}, select=lambda t, i: i["metadata"]["namespace"] == "shop")
    assert {t.type.kind for t in pods.lists} == {"Pod"}
    assert pods.lists[0].items and {i["metadata"]["namespace"] for i in pods.lists[0].items} == {"shop"}


def test_broken_and_oversized_snapshots_are_load_errors(
    snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = gzip.decompress(snapshot.read_bytes())
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(gzip.compress(text[: len(text) // 2]))
    with pytest.raises(LoadError, match=r"malformed snapshot|ends in the middle"):
        load_snapshot(str(cut))
    monkeypatch.setattr(snapshot_module, "MAX_SNAPSHOT_BYTES", len(text) // 3)
    with pytest.raises(LoadError, match="larger than"):
        load_snapshot(str(snapshot))


def test_compactor_shares_equal_parts_and_keeps_types_apart() -> None:
    c = Compactor()
    a: dict[str, Any] = {"kind": "Pod", "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "flags": [1, True, 1.0]}}
    b: dict[str, Any] = {"kind": "Pod", "spec": {"ports": [{"port": 80, "protocol": "TCP"}], "flags": [True, 1, 1.0]}}
    before_a, before_b = orjson.loads(orjson.dumps(a)), orjson.loads(orjson.dumps(b))
    c(a), c(b)
    assert a == before_a and b == before_b  # equal to what was read
    assert a["spec"]["ports"] is b["spec"]["ports"] and a["spec"]["ports"][0] is b["spec"]["ports"][0]
    assert a["spec"]["flags"] is not b["spec"]["flags"]  # 1, True and 1.0 are not the same value
    assert [type(x) for x in a["spec"]["flags"]] == [int, bool, float]
    assert a is not b and a["spec"] is not b["spec"]  # objects, and what holds more than scalars, are their own
    d = {"x": {"port": 80, "protocol": "TCP"}}
    c(d)
    assert d["x"] is a["spec"]["ports"][0]
    # empty, and equal in content but not in kind: a dict stays a dict, a list a list
    e: dict[str, Any] = {"x": {}, "y": [], "z": [{}], "w": {"k": []}}
    f: dict[str, Any] = {"x": [], "y": {}, "z": [[]], "w": {"k": {}}}
    c(e), c(f)
    assert e == {"x": {}, "y": [], "z": [{}], "w": {"k": []}} and f == {"x": [], "y": {}, "z": [[]], "w": {"k": {}}}


def test_compacted_objects_give_the_same_report(snapshot: Path) -> None:
    registry_opts = ScanOptions(snapshot=str(snapshot), workers=1)
    compacted = scan_cluster(registry_opts, read=load_snapshot(str(snapshot)))
    # the same read, its items as the JSON parser made them (nothing shared)
    plain = load_snapshot(str(snapshot))
    doc = orjson.loads(gzip.decompress(snapshot.read_bytes()))
    by_type = {(lst["resource"]["group"], lst["resource"]["resource"]): lst["items"] for lst in doc["lists"]}
    plain.lists = [
        TypeList(type=t.type, resource_version=t.resource_version, items=by_type[(t.type.group, t.type.resource)])
        for t in plain.lists
    ]
    uncompacted = scan_cluster(registry_opts, read=plain)
    assert compacted.findings and _normal(compacted) == _normal(uncompacted)
