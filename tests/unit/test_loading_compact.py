"""Files' objects are compacted as they are loaded (kubefort.loading.compact): what repeats is kept once.

Sharing parts between objects is only sound while nothing writes into an object once it is read: the
first test runs every rule (those off by default too) over every rule fixture and the examples and
checks that every object is still equal to a deep copy taken before the scan. The others check that
the report does not change and that the memory does fall."""

from __future__ import annotations

import copy
import datetime as dt
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from kubefort import api
from kubefort.loading import loader
from kubefort.loading.compact import Compactor
from kubefort.model.inventory import Inventory
from kubefort.reporters.json_report import JsonReporter
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
PATHS = [str(ROOT / "tests" / "rules" / "fixtures"), str(ROOT / "examples")]


def _every_rule() -> list[str]:
    return [r.meta.id for r in default_registry(plugins=False)]


def test_no_rule_writes_into_the_objects_it_reads() -> None:
    opts = api.ScanOptions(paths=PATHS, rules=_every_rule(), keep_passes=True)
    loaded = api.load_inputs(opts)
    before = [copy.deepcopy(o.raw) for o in loaded.objects]
    report = api.scan_inventory(Inventory(loaded.objects), opts)
    assert report.findings and report.passes
    changed = [o.ref for o, raw in zip(loaded.objects, before) if o.raw != raw]
    assert not changed, f"objects written into while judged: {changed[:5]}"


def _json(opts: api.ScanOptions) -> str:
    out = io.StringIO()
    JsonReporter().render(api.scan(opts), out)
    return out.getvalue()


def test_compacted_objects_give_the_same_report(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = api.ScanOptions(paths=PATHS, rules=_every_rule())
    compacted = _json(opts)

    class Plain(Compactor):
        def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
            return item

    monkeypatch.setattr(loader, "Compactor", Plain)
    assert _json(opts) == compacted


def _size(x: Any, seen: set[int]) -> int:
    if id(x) in seen:
        return 0
    seen.add(id(x))
    n = sys.getsizeof(x)
    if isinstance(x, dict):
        n += sum(_size(k, seen) + _size(v, seen) for k, v in x.items())
    elif isinstance(x, list):
        n += sum(_size(v, seen) for v in x)
    return n


def test_loaded_manifests_share_what_repeats(tmp_path: Path) -> None:
    doc = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web-%d, namespace: shop, labels: {app: web, tier: front}}
spec:
  template:
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.2.3
        imagePullPolicy: IfNotPresent
        ports: [{containerPort: 8080, protocol: TCP}]
        resources: {limits: {cpu: 500m, memory: 256Mi}}
        securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false}
"""
    (tmp_path / "all.yaml").write_text("---\n".join(doc % i for i in range(200)))
    objs = loader.load_paths([str(tmp_path)]).objects
    assert len(objs) == 200
    a, b = (o.raw["spec"]["template"]["spec"]["containers"][0] for o in objs[:2])
    assert a == b and a is not b  # containers themselves are not shared (they hold mappings)
    assert a["securityContext"] is b["securityContext"] and a["ports"] is b["ports"]
    assert objs[0].raw["metadata"]["labels"] is objs[1].raw["metadata"]["labels"]
    seen: set[int] = set()
    shared = sum(_size(o.raw, seen) for o in objs)
    copies = [copy.deepcopy(o.raw) for o in objs]  # one deepcopy per object: nothing shared between them
    seen = set()
    plain = sum(_size(c, seen) for c in copies)
    assert shared < 0.8 * plain  # keys are not shared (see compact.py): a quarter less here


def test_only_json_scalars_are_shared_by_value() -> None:
    c = Compactor()
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    x = c({"a": {"at": when}, "b": ["x", when], "c": {"n": 1}})
    y = c({"a": {"at": when}, "b": ["x", when], "c": {"n": 1}})
    assert x == y
    assert x["a"] is not y["a"] and x["b"] is not y["b"]
    assert x["c"] is y["c"]
    assert c({"n": 1.0})["n"] == 1.0 and type(c({"v": {"n": True}})["v"]["n"]) is bool


def test_deep_nesting_is_left_as_it_is_below_the_depth_walked() -> None:
    from kubefort.loading.compact import MAX_DEPTH

    def nested(n: int) -> dict[str, Any]:
        d: dict[str, Any] = {"leaf": {"x": "y"}}
        for i in range(n):  # mappings and lists in turn, nothing aliased
            d = {"k": [d]} if i % 2 else {"k": d}
        return d

    c = Compactor()
    deep = c(nested(3 * MAX_DEPTH))  # no RecursionError, whatever the stack left
    assert deep == nested(3 * MAX_DEPTH)
    a, b = c({"s": {"n": 1}}), c({"s": {"n": 1}})
    assert a["s"] is b["s"]  # shallow parts are still shared
