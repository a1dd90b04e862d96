"""``kubefort scan --cache DIR``: a scan through the cache gives exactly the report of a full scan (the
same bytes in every format), after any edit of the input, and a cache that cannot be written or read
never stops a scan (docs/performance.md, "Incremental scans")."""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubefort import api
from kubefort.cli import cli
from kubefort.engine import cache as cache_mod
from kubefort.engine.findings import Report
from kubefort.engine.rule import Rule, Scope, Severity
from kubefort.engine.runner import Plan, Run
from kubefort.engine.suppression import Suppressor
from kubefort.model.inventory import Inventory
from kubefort.model.workloads import ContainerSet, pod_spec
from kubefort.reporters import Format, get_reporter
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "rules" / "fixtures"
GEN = ROOT.parent / "shared" / "bench" / "gen_corpus.py"

FORMATS = (Format.JSON, Format.SARIF, Format.JUNIT, Format.TABLE)


def render(tree: Path, cache: Path | None, fmt: Format, stats: dict[str, int] | None = None, workers: int = 1) -> str:
    """The report of a scan of ``tree`` in ``fmt`` (through ``cache`` when given)."""
    opts = api.ScanOptions(
        paths=[str(tree)], workers=workers, keep_passes=fmt is Format.JUNIT, cache=str(cache) if cache else None
    )
    if stats is not None:
        seen: list[cache_mod.ScanCache] = []
        orig = cache_mod.ScanCache.save

        def save(self: cache_mod.ScanCache) -> None:
            seen.append(self)
            orig(self)

        cache_mod.ScanCache.save = save  # type: ignore[method-assign]
        try:
            report = api.scan(opts)
        finally:
            cache_mod.ScanCache.save = orig  # type: ignore[method-assign]
        stats.update(seen[0].stats)
    else:
        report = api.scan(opts)
    out = io.StringIO()
    get_reporter(fmt, color=False).render(report, out)
    return out.getvalue()


def assert_same(tree: Path, cache: Path, formats: tuple[Format, ...] = FORMATS) -> Counter[str]:
    """Each format: the cached scan's report equals the full scan's; returns the cache's counts of the
    first format's scan."""
    stats: Counter[str] = Counter()
    for i, fmt in enumerate(formats):
        full = render(tree, None, fmt)
        cached = render(tree, cache, fmt, stats if i == 0 else None)
        assert cached == full, f"{fmt.value} differs"
    return stats


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not GEN.is_file():
        pytest.skip("../shared/bench/gen_corpus.py is not beside the repository")
    out = tmp_path_factory.mktemp("corpus") / "syn"
    subprocess.run(
        [sys.executable, str(GEN), "--objects", "500", "--seed", "1", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    (out / "expected.json").unlink(missing_ok=True)  # the generator's own summary, not a manifest
    return out


def test_the_rule_fixtures_cold_and_warm_give_the_full_report(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, tree)
    cache = tmp_path / "cache"
    cold = assert_same(tree, cache, (Format.JSON,))
    assert cold["local hit"] == 0 and cold["local miss"] > 1000
    warm = assert_same(tree, cache)
    assert warm["local miss"] == 0 and warm["cross miss"] == 0 and warm["parse miss"] == 0
    # nothing changed: one whole block per object, its parts not looked at
    assert warm["whole hit"] == cold["whole miss"] and warm["whole miss"] == 0 and warm["local hit"] == 0


def _docs(path: Path) -> list[str]:
    return path.read_text().split("\n---\n")


def _write_docs(path: Path, docs: list[str]) -> None:
    path.write_text("\n---\n".join(docs))


def change_image_tag(tree: Path) -> None:
    p = tree / "ns-0001.yaml"
    text = p.read_text()
    i = text.index("image: ")
    end = text.index("\n", i)
    p.write_text(text[:i] + text[i:end].rsplit(":", 1)[0] + ":9.9.9-changed" + text[end:])


PRIVILEGED = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: added-privileged
  namespace: ns-0002
spec:
  selector:
    matchLabels: {app: added}
  template:
    metadata:
      labels: {app: added}
    spec:
      serviceAccountName: sa-0
      containers:
      - name: c
        image: busybox:1.36
        securityContext:
          privileged: true
"""

NETPOL = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: added-deny-all
  namespace: ns-0003
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
"""


def add_privileged_container(tree: Path) -> None:
    p = tree / "ns-0002.yaml"
    _write_docs(p, [*_docs(p), PRIVILEGED])


def delete_role_binding(tree: Path) -> None:
    p = tree / "ns-0000.yaml"
    docs = _docs(p)
    i = next(i for i, d in enumerate(docs) if "\nkind: RoleBinding\n" in "\n" + d)
    _write_docs(p, docs[:i] + docs[i + 1 :])


def add_network_policy(tree: Path) -> None:
    p = tree / "ns-0003.yaml"
    _write_docs(p, [NETPOL, *_docs(p)])  # first in its file: every later object moves


def duplicate_a_deployment(tree: Path) -> None:
    """The same Deployment defined again, first in another file (cross-object rules use the first copy)."""
    doc = next(d for d in _docs(tree / "ns-0004.yaml") if "\nkind: Deployment\n" in "\n" + d)
    p = tree / "ns-0000.yaml"
    _write_docs(p, [doc, *_docs(p)])


def widen_a_role(tree: Path) -> None:
    """A Role that can now read Secrets and create pods (RBAC rules, escalation paths, the attack graph)."""
    p = tree / "ns-0001.yaml"
    docs = _docs(p)
    i = next(i for i, d in enumerate(docs) if "\nkind: Role\n" in "\n" + d)
    docs[i] = docs[i].replace(
        "rules:\n",
        "rules:\n- apiGroups: ['']\n  resources: [secrets, pods]\n  verbs: [get, list, create]\n",
        1,
    )
    _write_docs(p, docs)


def rename_a_file(tree: Path) -> None:
    (tree / "ns-0002.yaml").rename(tree / "ns-0002-renamed.yaml")


EDITS = [
    change_image_tag,
    add_privileged_container,
    delete_role_binding,
    add_network_policy,
    duplicate_a_deployment,
    widen_a_role,
    rename_a_file,
]


@pytest.mark.parametrize("edit", EDITS, ids=lambda e: e.__name__)
def test_one_edited_file_gives_the_full_report(corpus: Path, tmp_path: Path, edit: Callable[[Path], None]) -> None:
    tree = tmp_path / "syn"
    shutil.copytree(corpus, tree)
    cache = tmp_path / "cache"
    render(tree, cache, Format.JSON)  # cold: fills the cache
    before = render(tree, None, Format.JSON)
    edit(tree)
    stats = assert_same(tree, cache, (Format.JSON, Format.SARIF))
    assert render(tree, None, Format.JSON) != before  # the edit shows in the report
    # only the edited file was parsed again, and objects judged alone were taken from the cache
    assert stats["parse miss"] == 1 or edit is rename_a_file
    assert stats["local hit"] > 5 * stats["local miss"]
    if edit is change_image_tag:  # what reads no image is given back, the edited object's included
        assert stats["blind hit"] > 1000 and stats["blind miss"] == 0
    if edit is widen_a_role:  # the rules reading RBAC objects are judged again, and nothing kept wrongly
        assert stats["blind miss"] > 100


def test_edits_in_sequence_and_back(corpus: Path, tmp_path: Path) -> None:
    tree = tmp_path / "syn"
    shutil.copytree(corpus, tree)
    cache = tmp_path / "cache"
    original = {p: p.read_bytes() for p in tree.iterdir()}
    for edit in EDITS:
        edit(tree)
        assert_same(tree, cache, (Format.JSON,))
    for p in tree.iterdir():
        p.unlink()
    for p, data in original.items():  # everything back as it was
        p.write_bytes(data)
    assert_same(tree, cache, (Format.JSON,))


def test_options_that_change_results_are_in_the_key(corpus: Path, tmp_path: Path) -> None:
    tree = tmp_path / "syn"
    shutil.copytree(corpus, tree)
    cache = tmp_path / "cache"
    render(tree, cache, Format.JSON)
    for opts in (
        {"min_severity": "high"},
        {"pss": "restricted"},
        {"skip_rules": ["KF-POD-001"]},
        {"namespace": "other"},
    ):
        for c in (None, str(cache)):
            o = api.ScanOptions(paths=[str(tree)], workers=1, keep_passes=False, cache=c, **opts)  # type: ignore[arg-type]
            out = io.StringIO()
            get_reporter(Format.JSON).render(api.scan(o), out)
            if c is None:
                full = out.getvalue()
            else:
                assert out.getvalue() == full, opts
    (tree / ".kubefort.yaml").write_text("exceptions:\n- rules: [KF-POD-001]\n  reason: accepted\n")
    assert_same(tree, cache, (Format.JSON,))
    assert len([d for d in cache.iterdir() if d.name.startswith("run-")]) <= cache_mod.KEEP_RUNS


def test_a_corrupt_entry_is_computed_again(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(FIXTURES / "KF-POD-001", tree)
    cache = tmp_path / "cache"
    render(tree, cache, Format.JSON)
    entries = [p for d in cache.iterdir() if d.is_dir() for p in d.iterdir()]
    assert entries
    for i, p in enumerate(entries):  # garbage, an empty file, a valid pickle of something else
        p.write_bytes([b"\x80\x05garbage", b"", b"\x80\x04K\x01."][i % 3])
    stats = assert_same(tree, cache, (Format.JSON, Format.SARIF))
    assert stats["local hit"] == 0 and stats["parse hit"] == 0
    stats = assert_same(tree, cache, (Format.JSON,))  # and written again
    assert stats["local miss"] == 0


def test_a_cache_that_cannot_be_written_warns_and_the_scan_goes_on(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(FIXTURES / "KF-POD-001", tree)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    c = cache_mod.ScanCache(str(blocker / "cache"), "k" * 64)
    assert not c.writable and "cannot write" in c.problems[0]
    assert_same(tree, blocker / "cache", (Format.JSON,))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from kubefort.cli import main; main()",
            "scan",
            str(tree),
            "-o",
            "json",
            "--cache",
            str(blocker / "cache"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert result.returncode in (0, 1)
    assert "cannot write" in result.stderr and "the scan goes on" in result.stderr
    assert result.stdout == render(tree, None, Format.JSON)


def test_the_cli_option_and_inputs_it_does_not_apply_to(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(FIXTURES / "KF-POD-001", tree)
    runner = CliRunner(mix_stderr=False)
    cache = tmp_path / "cache"
    first = runner.invoke(cli, ["scan", str(tree), "-o", "json", "--cache", str(cache)])
    second = runner.invoke(cli, ["scan", str(tree), "-o", "json"], env={"KUBEFORT_CACHE": str(cache)})
    assert first.exit_code == second.exit_code == 1
    assert first.stdout == second.stdout
    assert any(d.name.startswith("run-") for d in cache.iterdir())
    text = (tree / "fail-privileged.yaml").read_text()
    stdin = runner.invoke(cli, ["scan", "-", "-o", "json", "--cache", str(cache)], input=text)
    assert "--cache is not used with standard input" in stdin.stderr
    assert "--cache DIR" in runner.invoke(cli, ["scan", "--help"]).stdout


class _Spy:
    """An inventory that records which rule reads what of it (besides whether it is a live cluster)."""

    def __init__(self, inventory: Inventory, reading: list[str | None], readers: set[str]) -> None:
        self._inventory, self._reading, self._readers = inventory, reading, readers

    def __getattr__(self, name: str) -> Any:
        if self._reading[0] is not None and name not in ("live", "partial", "unreadable"):
            self._readers.add(self._reading[0])
        return getattr(self._inventory, name)

    def __len__(self) -> int:
        return len(self._inventory)


def _spied(r: Rule, reading: list[str | None]) -> Rule:
    def fn(obj: Any, ctx: Any, _fn: Any = r.fn, _id: str = r.meta.id) -> list[Any]:
        reading[0] = _id
        try:
            return list(_fn(obj, ctx))
        finally:
            reading[0] = None

    return dataclasses.replace(r, fn=fn)


def test_rules_kept_per_object_alone_read_no_other_object() -> None:
    """The cache keeps the results of a rule that reads no other object (``RuleMeta.reads_others``) per
    object alone: such a rule must not read the inventory at all. Every rule runs on every fixture with an
    inventory that records who reads it."""
    loaded = api.load_inputs(api.ScanOptions(paths=[str(FIXTURES)]))
    inventory = Inventory(loaded.objects)
    reading: list[str | None] = [None]
    readers: set[str] = set()
    plan = Plan([_spied(r, reading) for r in default_registry()])
    spy = _Spy(inventory, reading, readers)
    alone = plan.part(lambda m, k: not m.reads_others(k))
    Run(alone, spy, Report(rules=plan.metas), Suppressor(), Severity.INFO, True).objects(inventory.objects)  # type: ignore[arg-type]
    assert not readers, sorted(readers)
    others = plan.part(lambda m, k: m.reads_others(k))
    Run(others, spy, Report(rules=plan.metas), Suppressor(), Severity.INFO, True).objects(inventory.objects)  # type: ignore[arg-type]
    # the spy sees reads: the rules that read others only for what they say, and cross-object ones
    assert {"KF-RBAC-014", "KF-RBAC-024", "KF-RBAC-036", "KF-GRAPH-001"} <= readers


def _outcomes(report: Report, rule_id: str) -> list[tuple[Any, ...]]:
    return [
        (repr(r.object), r.status.value, r.detail, [(f.path, f.message, f.subcode) for f in r.findings])
        for r in report.results
        if r.rule.id == rule_id
    ] + [repr(ref) for m, ref, _ in report.passes if m.id == rule_id]


def test_declared_reads_are_all_a_rule_reads() -> None:
    """The cache keeps a rule's results on an object while the objects of the kinds it declares it reads
    (``cache.kinds_read_on``: its ``needs``, its own kinds, the object's kind) are unchanged: a rule must
    judge every fixture object the same with the other kinds taken out of the inventory."""
    loaded = api.load_inputs(api.ScanOptions(paths=[str(FIXTURES)]))
    objects = loaded.objects
    full = Inventory(objects)
    kinds = sorted({o.kind for o in objects})
    # (rule, kind) pairs by what they read: one restricted inventory for each
    by_read: dict[frozenset[str], dict[str, list[Rule]]] = {}
    for r in default_registry():
        if r.meta.scope in (Scope.NAMESPACE, Scope.CLUSTER):
            continue
        for kind in kinds:
            read = cache_mod.kinds_read_on(r.meta, kind)
            if read:  # reads nothing else (the test above), or everything (not declared)
                by_read.setdefault(read, {}).setdefault(kind, []).append(r)
    checked = 0
    for read, per_kind in by_read.items():
        kept = Inventory([o for o in objects if o.kind in read or o.kind == "CustomResourceDefinition"])
        rules = {r.meta.id: r for rs in per_kind.values() for r in rs}
        plan = Plan(list(rules.values()))
        plan = plan.part(lambda m, k, per_kind=per_kind: any(r.meta is m for r in per_kind.get(k, ())))
        judged = [o for o in full.objects if o.kind in per_kind]
        want = Report(rules=plan.metas)
        Run(plan, full, want, Suppressor(), Severity.INFO, True).objects(judged)
        got = Report(rules=plan.metas)
        Run(plan, kept, got, Suppressor(), Severity.INFO, True).objects(judged)
        for rid in rules:
            assert _outcomes(got, rid) == _outcomes(want, rid), (rid, sorted(read))
        checked += sum(map(len, per_kind.values()))
    assert checked > 50


def _replace_images(objects: list[Any]) -> int:
    """Give every container of ``objects`` another image, or none (in place); how many changed."""
    n = 0
    for o in objects:
        pod = pod_spec(o)
        if pod is None:
            continue
        for c in pod.containers(ContainerSet.ALL):
            if n % 3 == 2:
                c.raw.pop("image", None)
            else:
                c.raw["image"] = f"mutated.example/other-{n}:{n}@sha256:{n:064x}"
            n += 1
    return n


def test_rules_that_read_no_image_say_the_same_with_other_images() -> None:
    """``reads_images=False`` lets the cache keep a rule's results when only images changed (in the object
    or in those it reads): every such rule must judge the fixtures the same with every image replaced."""
    blind = [r for r in default_registry() if not r.meta.reads_images]
    assert {"KF-GRAPH-001", "KF-NET-004"} <= {r.meta.id for r in blind}
    before = Inventory(api.load_inputs(api.ScanOptions(paths=[str(FIXTURES)])).objects)
    objects = api.load_inputs(api.ScanOptions(paths=[str(FIXTURES)])).objects
    assert _replace_images(objects) > 500
    after = Inventory(objects)
    plan = Plan(blind)
    want, got = Report(rules=plan.metas), Report(rules=plan.metas)
    Run(plan, before, want, Suppressor(), Severity.INFO, True).objects(before.objects)
    Run(plan, after, got, Suppressor(), Severity.INFO, True).objects(after.objects)
    assert want.findings
    for r in blind:
        assert _outcomes(got, r.meta.id) == _outcomes(want, r.meta.id), r.meta.id


CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"""

WIDGET = """apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  namespace: default
spec:
  size: "three"
"""


def test_a_changed_crd_in_another_file_judges_its_custom_resources_again(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "crd.yaml").write_text(CRD)
    (tree / "widget.yaml").write_text(WIDGET)
    cache = tmp_path / "cache"
    before = render(tree, cache, Format.JSON)
    assert "expected an integer" in before
    (tree / "crd.yaml").write_text(CRD.replace("{type: integer}", "{type: string}"))
    assert_same(tree, cache, (Format.JSON, Format.SARIF))
    assert "expected an integer" not in render(tree, cache, Format.JSON)


def test_what_is_judged_again_in_worker_processes_gives_the_same_report(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many misses are judged in forked workers (each sends back its objects' blocks): the report, and
    what is kept for the next scan, are those of one process."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    monkeypatch.setattr(cache_mod, "PARALLEL_MIN_OBJECTS", 10)
    monkeypatch.setattr(cache_mod, "CHUNK", 7)
    tree = tmp_path / "syn"
    shutil.copytree(corpus, tree)
    cache = tmp_path / "cache"
    full = render(tree, None, Format.SARIF)
    assert render(tree, cache, Format.SARIF, workers=2) == full  # cold: everything judged in workers
    stats: Counter[str] = Counter()
    assert render(tree, cache, Format.SARIF, stats, workers=2) == full  # warm: what the workers kept
    assert stats["local miss"] == 0 and stats["cross miss"] == 0
    change_image_tag(tree)
    assert render(tree, cache, Format.JSON, workers=2) == render(tree, None, Format.JSON)


def test_entries_of_files_not_read_for_a_long_time_are_deleted(tmp_path: Path) -> None:
    tree = tmp_path / "fixtures"
    shutil.copytree(FIXTURES / "KF-POD-001", tree)
    cache = tmp_path / "cache"
    render(tree, cache, Format.JSON)
    (run_dir,) = [d for d in cache.iterdir() if d.is_dir()]
    kept = set(run_dir.iterdir())
    old = run_dir / ("0" * 40)
    old.write_bytes(b"an entry of a file deleted long ago")
    long_ago = time.time() - (cache_mod.STALE_DAYS + 1) * 86400
    os.utime(old, (long_ago, long_ago))
    for p in kept:  # read by every scan: they stay, however old
        os.utime(p, (long_ago, long_ago))
    (tree / "pass-unprivileged.yaml").write_text((tree / "pass-unprivileged.yaml").read_text() + "\n")
    render(tree, cache, Format.JSON)
    assert not old.exists()
    assert kept <= set(run_dir.iterdir())
