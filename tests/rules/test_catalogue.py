"""Every rule runs on its own failing and passing fixtures.

Layout: ``tests/rules/fixtures/<RULE-ID>/`` holds ``fail-*.yaml`` and ``pass-*.yaml``, and may hold
``not-evaluated-*.yaml`` (inputs that lack what the rule needs to judge).
- In a fail file, every object the rule applies to must fail it; in a pass file, every such object
  must be judged and pass (not "not evaluated", and not left unjudged: passing is a judgement); in a
  not-evaluated file, every such object must be reported not evaluated. Other objects are context (a
  Namespace, a RuntimeClass...). An object annotated
  ``kubefort.test/expect: pass|fail|not_evaluated|skip|context`` overrides that (``skip``: the rule is
  not about the object at all and gives it no result).
- ``<file>.params.yaml`` (or ``params.yaml`` for the whole directory) sets rule parameters.
- ``expected.yaml`` (optional): a list of ``{file, name, path, line}`` (line optional), compared
  exactly with the findings of the fail files.
- ``<file>`` may set ``kubefort.test/mode: pss-baseline|pss-restricted`` as a top comment to judge
  with exact Pod Security admission semantics, or ``kubefort.test/mode: cluster``: the file is a whole
  cluster (a live inventory, judged in cluster mode), as the rules whose catalogue input is ``cluster``
  need. A whole-cluster rule is also run on each of its cluster files as manifests: there it must be not
  evaluated, never passed or failed.
- A CLUSTER-scope rule judges no object of the file but the cluster (its stand-in anchor): a fail file
  must fail it, a pass file pass it, unless a top comment ``kubefort.test/expect: not_evaluated`` (or
  pass, fail) says otherwise; the file's objects are context.

Run one rule's cases with ``pytest -k KF-POD-001``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefort.engine.findings import Report, Status
from kubefort.engine.rule import NEEDS_CLUSTER, PssLevel, Rule, Scope
from kubefort.engine.runner import cluster_anchor, evaluate
from kubefort.loading.loader import load_paths
from kubefort.model.inventory import Inventory
from kubefort.model.kinds import WORKLOAD_KINDS
from kubefort.model.objects import K8sObject
from kubefort.rules import default_registry

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = default_registry(plugins=False)
EXPECT = "kubefort.test/expect"
#: file name prefix -> what every object the rule applies to must get
PREFIXES = ("pass-", "fail-", "not-evaluated-")


def _rules() -> list[Rule]:
    return list(REGISTRY)


def _applies(rule: Rule, obj: K8sObject) -> bool:
    """Whether the rule is about ``obj`` (its kinds, in the API groups it names them with, and its
    ``applies`` test when it declares one)."""
    if rule.meta.scope is Scope.CLUSTER:
        return False  # it judges the cluster (its anchor), not the objects
    kinds, kind = rule.meta.kinds, obj.kind
    if kinds is None:
        ok = rule.meta.scope is Scope.OBJECT or kind in WORKLOAD_KINDS
    else:
        ok = kind in kinds and (kind not in rule.meta.groups or obj.group in rule.meta.groups[kind])
    return ok and (rule.meta.applies is None or rule.meta.scope is Scope.NAMESPACE or bool(rule.meta.applies(obj)))


def _params(path: Path) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for cand in (path.parent / "params.yaml", path.with_suffix(".params.yaml")):
        if cand.exists():
            params.update(yaml.safe_load(cand.read_text()) or {})
    return params


def _head(path: Path, key: str) -> str | None:
    """The value of a ``# kubefort.test/<key>: value`` comment in the first lines of a fixture."""
    for line in path.read_text().split("\n", 3)[:3]:
        if line.startswith("#") and f"kubefort.test/{key}:" in line:
            return line.split(f"kubefort.test/{key}:", 1)[1].strip()
    return None


def _mode(path: Path) -> PssLevel | None:
    mode = _head(path, "mode")
    return PssLevel(mode.removeprefix("pss-")) if mode and mode.startswith("pss-") else None


def _is_cluster(path: Path) -> bool:
    return _head(path, "mode") == "cluster"


def run_file(rule: Rule, path: Path, *, as_cluster: bool | None = None) -> tuple[Report, Inventory]:
    """Judge ``path`` with ``rule``: as a whole cluster when the file says so (or ``as_cluster``)."""
    loaded = load_paths([str(path)])
    assert not loaded.errors, [e.diagnostics() for e in loaded.errors]
    live = _is_cluster(path) if as_cluster is None else as_cluster
    inv = Inventory(loaded.objects, live=live)
    pss = _mode(path)
    params = _params(path)
    if pss is not None:
        params.setdefault("pss_strict", True)
    return evaluate([rule], inv, params=params, pss=pss, mode="cluster" if live else "manifest"), inv


def _cases() -> list[Any]:
    out = []
    for r in _rules():
        d = FIXTURES / r.meta.id
        files = sorted([*d.glob("*.yaml"), *d.glob("*.Dockerfile")]) if d.is_dir() else []
        files = [f for f in files if f.name.startswith(PREFIXES) and not f.name.endswith(".params.yaml")]
        for f in files:
            out.append(pytest.param(r, f, id=f"{r.meta.id}/{f.name}"))
    return out


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r.meta.id)
def test_rule_has_pass_and_fail_fixtures(rule: Rule) -> None:
    d = FIXTURES / rule.meta.id
    assert d.is_dir(), f"{rule.meta.id}: no fixture directory {d}"
    names = [f.name for f in [*d.glob("*.yaml"), *d.glob("*.Dockerfile")] if not f.name.endswith(".params.yaml")]
    assert any(n.startswith("fail-") for n in names), f"{rule.meta.id}: no fail-*.yaml fixture"
    assert any(n.startswith("pass-") for n in names), f"{rule.meta.id}: no pass-*.yaml fixture"


@pytest.mark.parametrize("rule,path", _cases())
def test_fixture(rule: Rule, path: Path) -> None:
    report, inv = run_file(rule, path)
    assert not report.rule_errors, [r.detail for r in report.rule_errors]
    failed = {str(f.object) for f in report.findings}
    not_eval = {str(r.object) for r in report.results if r.status is Status.NOT_EVALUATED}
    passed = {str(p[1]) for p in report.passes}
    default = {"fail-": "fail", "pass-": "pass"}.get(path.name[:5], "not_evaluated")
    checked = 0
    judged = list(inv)
    if rule.meta.scope is Scope.CLUSTER:  # the cluster itself, with the file's expectation
        judged.append(cluster_anchor(inv))
    for obj in judged:
        if obj.kind == "Cluster" and obj.api_version == "kubefort.io/v1":
            expect = _head(path, "expect") or default
        else:
            expect = obj.annotations.get(EXPECT) or (default if _applies(rule, obj) else "context")
        ref = str(obj.ref)
        if expect == "context":
            continue
        checked += 1
        if expect == "fail":
            assert ref in failed, f"{path.name}: {ref} should fail {rule.meta.id}"
        elif expect == "pass":
            assert ref not in failed, f"{path.name}: {ref} should pass {rule.meta.id}: " + "; ".join(
                f.message for f in report.findings if str(f.object) == ref
            )
            assert ref not in not_eval, f"{path.name}: {ref} was not evaluated by {rule.meta.id}, expected pass"
            assert ref in passed, f"{path.name}: {ref} was never judged by {rule.meta.id}, expected pass"
        elif expect == "not_evaluated":
            assert ref in not_eval, f"{path.name}: {ref} should be not evaluated by {rule.meta.id}"
        elif expect == "skip":  # the rule is not about this object at all (RuleMeta.applies): no result
            seen = failed | not_eval | {str(p[1]) for p in report.passes}
            assert ref not in seen, f"{path.name}: {ref} should not be judged by {rule.meta.id} at all"
        else:
            raise AssertionError(f"{path.name}: bad {EXPECT} value {expect!r}")
    assert checked, f"{path.name}: no object that {rule.meta.id} applies to"
    expected_file = path.parent / "expected.yaml"
    if default == "fail" and expected_file.exists():
        expected = [e for e in yaml.safe_load(expected_file.read_text()) if e["file"] == path.name]
        if expected:
            # a Dockerfile object is named by its path: expected.yaml names it by the file name
            got = sorted(
                (
                    os.path.basename(f.object.name) if f.object.kind == "Dockerfile" else f.object.name,
                    f.path_str,
                    f.location.line,
                )
                for f in report.findings
            )
            assert sorted((n, p) for n, p, _ in got) == sorted((e["name"], e["path"]) for e in expected)
            for e in expected:
                if e.get("line") is not None:
                    assert (e["name"], e["path"], e["line"]) in got, f"{e} not found in {got}"


def _cluster_cases() -> list[Any]:
    out = []
    for r in _rules():
        if not r.meta.whole_cluster:
            continue
        d = FIXTURES / r.meta.id
        for f in sorted(d.glob("*.yaml")) if d.is_dir() else []:
            if f.name.startswith(("pass-", "fail-")) and not f.name.endswith(".params.yaml") and _is_cluster(f):
                out.append(pytest.param(r, f, id=f"{r.meta.id}/{f.name}"))
    return out


@pytest.mark.parametrize("rule", [r for r in _rules() if r.meta.whole_cluster], ids=lambda r: r.meta.id)
def test_whole_cluster_rule_has_cluster_fixtures(rule: Rule) -> None:
    """A rule that judges a whole cluster is tested on whole clusters: its fixtures say they are one."""
    d = FIXTURES / rule.meta.id
    names = [f.name for f in d.glob("*.yaml") if _is_cluster(f)]
    assert any(n.startswith("fail-") for n in names), f"{rule.meta.id}: no fail fixture in cluster mode"
    assert any(n.startswith("pass-") for n in names), f"{rule.meta.id}: no pass fixture in cluster mode"


@pytest.mark.parametrize("rule,path", _cluster_cases())
def test_whole_cluster_rule_not_evaluated_on_manifests(rule: Rule, path: Path) -> None:
    """The same objects given as manifests are not a whole cluster: the rule neither passes nor fails
    anything, and says why."""
    report, _ = run_file(rule, path, as_cluster=False)
    assert not report.findings and not report.passes and not report.rule_errors
    assert report.results, f"{path.name}: {rule.meta.id} gave no result at all on manifests"
    assert {(r.status, r.detail) for r in report.results} == {(Status.NOT_EVALUATED, NEEDS_CLUSTER)}
