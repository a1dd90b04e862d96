"""Findings of one scan share their equal parts (messages, paths, an object's locations: SharedParts),
in one process and across worker processes, while every finding stays an object of its own; the
report is the same as without any sharing."""

from __future__ import annotations

import io
from typing import Any

import pytest

from kubefort.api import ScanOptions, scan_inventory
from kubefort.engine import parallel, runner
from kubefort.engine.findings import Finding, Report, SharedParts, format_path
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.reporters.json_report import JsonReporter

DOC = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: team-{ns}
  annotations: {ann}
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.25
"""

IGNORE = '{"kubefort.io/ignore": "KF-POD-002=legacy agent, KF-POD-014=legacy agent"}'


def _inventory(n: int = 40) -> Inventory:
    docs = [DOC.format(i=i, ns=i % 3, ann=IGNORE if i == 5 else "{}") for i in range(n)]
    loaded = load_text("---\n".join(docs), "apps.yaml")
    assert not loaded.errors
    return Inventory(loaded.objects)


def _scan(workers: int) -> Report:
    return scan_inventory(_inventory(), ScanOptions(keep_passes=False, workers=workers))


def _json(report: Report) -> str:
    out = io.StringIO()
    JsonReporter().render(report, out)
    return out.getvalue()


def _one_per_value(values: list[Any]) -> bool:
    """Equal values are one object."""
    return len({id(v) for v in values}) == len(set(values))


@pytest.fixture
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Go parallel on small inputs, in small chunks."""
    monkeypatch.setattr(runner, "PARALLEL_MIN_OBJECTS", 10)
    monkeypatch.setattr(parallel, "CHUNK", 7)


@pytest.mark.parametrize("workers", [1, 2])
def test_equal_parts_are_one_object(small_units: None, workers: int) -> None:
    report = _scan(workers)
    fs = report.findings
    assert len(fs) > 100
    assert len({id(f) for f in fs}) == len(fs)  # every finding its own object
    messages = [f.message for f in fs]
    assert len(set(messages)) < len(messages) / 5  # 40 copies of one Deployment say the same things
    assert _one_per_value(messages)
    assert _one_per_value([f.path for f in fs]) and _one_per_value([f.path_str for f in fs])
    assert _one_per_value([f.subcode for f in fs if f.subcode is not None])
    for f in fs:
        assert f.path_str == format_path(f.path)
    deployments = [f for f in fs if f.object.kind == "Deployment"]  # not the namespaces' findings
    by_object: dict[Any, list[Finding]] = {}
    for f in deployments:
        by_object.setdefault(f.origin, []).append(f)
    assert len(by_object) == 40
    for own in by_object.values():
        locations = [f.location for f in own]
        assert len(set(locations)) < len(locations)  # several rules point at one line of a Deployment
        assert _one_per_value(locations)
        assert all(loc.file == "apps.yaml" and loc.line is not None for loc in locations)
    # a location is never shared between objects: each copy's lines are its own
    owners: dict[int, Any] = {}
    for f in deployments:
        assert owners.setdefault(id(f.location), f.origin) == f.origin
    for r in report.results:
        assert r.location is r.findings[0].origin if r.findings else True


def test_a_suppression_stays_on_its_own_findings(small_units: None) -> None:
    for workers in (1, 2):
        fs = _scan(workers).findings
        suppressed = [f for f in fs if f.suppressed]
        assert suppressed and {f.object.name for f in suppressed} == {"app-5"}
        assert {f.rule.id for f in suppressed} == {"KF-POD-002", "KF-POD-014"}
        same_message = [f for f in fs if f.message == suppressed[0].message and f.object.name != "app-5"]
        assert same_message and not any(f.suppressed for f in same_message)


def test_same_report_as_without_sharing(small_units: None, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = {w: _json(_scan(w)) for w in (1, 2)}
    assert shared[1] == shared[2]
    monkeypatch.setattr(SharedParts, "text", lambda self, text: text)
    monkeypatch.setattr(SharedParts, "path", lambda self, path: (path, format_path(path)))
    monkeypatch.setattr(SharedParts, "location", lambda self, owner, location, origin: location)
    unshared = _scan(1)
    assert not _one_per_value([f.message for f in unshared.findings])
    assert _json(unshared) == shared[1]
