"""Scans over several processes give the same report, in the same order, as one process; a worker
that fails loses nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from kubefort import api, forkpool
from kubefort.engine import parallel, runner
from kubefort.engine.findings import Report
from kubefort.loading import loader
from kubefort.reporters.json_report import JsonReporter

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "rules" / "fixtures"


def _render(report: Report) -> tuple[str, list[tuple[str, object]], dict[str, int]]:
    """The JSON report, every pass (what JUnit lists) and the counts."""
    out = io.StringIO()
    JsonReporter().render(report, out)
    return out.getvalue(), [(m.id, ref) for m, ref, _ in report.passes], {s.value: n for s, n in report.counts.items()}


def _scan(paths: list[Path], workers: int, **kw: object) -> tuple[object, ...]:
    opts = api.ScanOptions(paths=[str(p) for p in paths], workers=workers, keep_passes=True, **kw)  # type: ignore[arg-type]
    return _render(api.scan(opts))


@pytest.fixture
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Go parallel on small inputs, in many small chunks."""
    monkeypatch.setattr(runner, "PARALLEL_MIN_OBJECTS", 10)
    monkeypatch.setattr(parallel, "CHUNK", 7)
    monkeypatch.setattr(loader, "PARALLEL_MIN_BYTES", 1)


def test_fixtures_same_report_with_workers(small_units: None) -> None:
    paths = [FIXTURES, ROOT / "examples"]
    one = _scan(paths, 1)
    assert '"rule_id"' in one[0] and one[1]
    assert _scan(paths, 2) == one
    assert _scan(paths, 3) == one


def test_pss_mode_and_suppressions_same_with_workers(small_units: None) -> None:
    paths = [FIXTURES]
    assert _scan(paths, 2, pss="restricted") == _scan(paths, 1, pss="restricted")


def test_real_world_corpus_same_report_with_workers(shared_dir: Path) -> None:
    corpus = shared_dir / "corpus"
    assert _scan([corpus], 2) == _scan([corpus], 1)


def test_a_failing_worker_loses_nothing(small_units: None, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [FIXTURES]
    one = _scan(paths, 1)
    parent = os.getpid()
    real = runner.Run.objects

    def dies_in_worker(self, objs, marks=None):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            os._exit(7)
        return real(self, objs, marks)

    monkeypatch.setattr(runner.Run, "objects", dies_in_worker)
    real_parse = loader._read_and_parse

    def parse_dies_in_worker(path, limits):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            raise MemoryError
        return real_parse(path, limits)

    monkeypatch.setattr(loader, "_read_and_parse", parse_dies_in_worker)
    assert _scan(paths, 2) == one


def test_unreadable_worker_results_are_redone(small_units: None, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [FIXTURES]
    one = _scan(paths, 1)
    monkeypatch.setattr(parallel, "_unpack", lambda *a: (_ for _ in ()).throw(ValueError("bad")))
    assert _scan(paths, 2) == one


def test_parallel_load_same_objects_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "PARALLEL_MIN_BYTES", 1)
    (tmp_path / "bad.yaml").write_text("a: [\n")
    (tmp_path / "dup.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: false\n  hostPID: true\n"
    )
    (tmp_path / "on.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  on: yes\n")
    (tmp_path / "list.json").write_text(
        '{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "j"}}]}'
    )
    (tmp_path / "notk8s.yaml").write_text("just: data\n")
    paths = [str(tmp_path), str(FIXTURES)]

    def facts(r: loader.LoadResult) -> tuple[object, ...]:
        return (
            [
                (o.ref, o.raw, o.source.file, o.locate(), o.locate(("metadata", "name")), o.source.duplicates)
                for o in r.objects
            ],
            [e.diagnostics() for e in r.errors],
            r.notes,
            r.files,
        )

    one = loader.load_paths(paths, workers=1)
    two = loader.load_paths(paths, workers=2)
    assert len(one.errors) >= 1
    assert any(o.source.duplicates for o in one.objects)  # issue 22: repeated keys are findings, not errors
    assert facts(two) == facts(one)


def test_share_out_gives_every_item_once() -> None:
    def work(take):  # type: ignore[no-untyped-def]
        return [i * i for i in take]

    own, done, remote = forkpool.share_out(50, work, 3)
    got = dict(zip(done, own))
    for d, data in remote:
        import pickle

        got.update(zip(d, pickle.loads(data)))
    assert got == {i: i * i for i in range(50)}
    assert forkpool.missing(50, done, *(d for d, _ in remote)) == []


def test_share_out_reports_items_of_a_failed_worker_missing() -> None:
    parent = os.getpid()

    def work(take):  # type: ignore[no-untyped-def]
        out = list(take)
        if os.getpid() != parent:
            raise RuntimeError("worker failure")
        return out

    _own, done, remote = forkpool.share_out(40, work, 2)
    assert remote == []
    assert sorted(done + forkpool.missing(40, done)) == list(range(40))
