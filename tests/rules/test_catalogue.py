"""Every rule runs on its own failing and passing fixtures.

Layout: ``tests/rules/fixtures/<RULE-ID>/`` holds ``fail-*.yaml`` and ``pass-*.yaml``.
- In a fail file, every object the rule applies to must fail it; in a pass file, every such object
  must pass (not "not evaluated": passing is a judgement). Other objects are context (a Namespace, a
  RuntimeClass...). An object annotated ``kubefort.test/expect: pass|fail|not_evaluated|context``
  overrides that.
- ``<file>.params.yaml`` (or ``params.yaml`` for the whole directory) sets rule parameters.
- ``expected.yaml`` (optional): a list of ``{file, name, path, line}`` (line optional), compared
  exactly with the findings of the fail files.
- ``<file>`` may set ``kubefort.test/mode: pss-baseline|pss-restricted`` as a top comment to judge
  with exact Pod Security admission semantics.

Run one rule's cases with ``pytest -k KF-POD-001``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefort.engine.findings import Report, Status
from kubefort.engine.rule import PssLevel, Rule, Scope
from kubefort.engine.runner import evaluate
from kubefort.loading.loader import load_paths
from kubefort.model.inventory import Inventory
from kubefort.model.kinds import WORKLOAD_KINDS
from kubefort.rules import default_registry

FIXTURES = Path(__file__).parent / "fixtures"
REGISTRY = default_registry(plugins=False)
EXPECT = "kubefort.test/expect"


def _rules() -> list[Rule]:
    return list(REGISTRY)


def _applies(rule: Rule, kind: str) -> bool:
    kinds = rule.meta.kinds
    if kinds is None:
        return rule.meta.scope is Scope.OBJECT or kind in WORKLOAD_KINDS
    return kind in kinds


def _params(path: Path) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for cand in (path.parent / "params.yaml", path.with_suffix(".params.yaml")):
        if cand.exists():
            params.update(yaml.safe_load(cand.read_text()) or {})
    return params


def _mode(path: Path) -> PssLevel | None:
    head = path.read_text().split("\n", 3)[:3]
    for line in head:
        if "kubefort.test/mode: pss-" in line:
            return PssLevel(line.rsplit("pss-", 1)[1].strip())
    return None


def run_file(rule: Rule, path: Path) -> tuple[Report, Inventory]:
    loaded = load_paths([str(path)])
    assert not loaded.errors, [e.diagnostics() for e in loaded.errors]
    inv = Inventory(loaded.objects)
    pss = _mode(path)
    params = _params(path)
    if pss is not None:
        params.setdefault("pss_strict", True)
    return evaluate([rule], inv, params=params, pss=pss), inv


def _cases() -> list[Any]:
    out = []
    for r in _rules():
        d = FIXTURES / r.meta.id
        files = sorted([*d.glob("*.yaml"), *d.glob("*.Dockerfile")]) if d.is_dir() else []
        files = [f for f in files if f.name.startswith(("pass-", "fail-")) and not f.name.endswith(".params.yaml")]
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
    default = "fail" if path.name.startswith("fail-") else "pass"
    checked = 0
    for obj in inv:
        expect = obj.annotations.get(EXPECT) or (default if _applies(rule, obj.kind) else "context")
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
        elif expect == "not_evaluated":
            assert ref in not_eval, f"{path.name}: {ref} should be not evaluated by {rule.meta.id}"
        elif expect == "skip":  # the rule is not about this object at all (RuleMeta.applies): no result
            judged = failed | not_eval | {str(p[1]) for p in report.passes}
            assert ref not in judged, f"{path.name}: {ref} should not be judged by {rule.meta.id} at all"
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
