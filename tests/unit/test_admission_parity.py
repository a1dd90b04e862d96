"""What CI flags and what the cluster blocks never disagree.

For every object of every rule fixture (tests/rules/fixtures/<RULE-ID>/) whose rule is evaluated at
admission, the webhook's denial lists exactly the rule IDs that ``kubefort scan`` reports at or above
the threshold for that object, and its warnings exactly those below it (rules skipped at admission,
which ``kubefort admission rules`` lists, set aside).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefort.admission.config import AdmissionPolicy, split_for_admission
from kubefort.admission.review import review_detailed
from kubefort.api import ScanOptions, load_inputs, scan_inventory
from kubefort.engine.config import Config
from kubefort.engine.rule import Scope, Severity
from kubefort.model.inventory import Inventory
from kubefort.rules import default_registry

FIXTURES = Path(__file__).resolve().parent.parent / "rules" / "fixtures"
REGISTRY = default_registry(plugins=False)


def _params(path: Path) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for cand in (path.parent / "params.yaml", path.with_suffix(".params.yaml")):
        if cand.exists():
            params.update(yaml.safe_load(cand.read_text()) or {})
    return params


def _cases() -> list[Any]:
    out = []
    for r in REGISTRY:
        if r.meta.cross_object:
            continue
        d = FIXTURES / r.meta.id
        if not d.is_dir():
            continue
        for f in sorted(d.glob("*.yaml")):
            if f.name.startswith(("pass-", "fail-")) and not f.name.endswith(".params.yaml"):
                out.append(pytest.param(f, id=f"{r.meta.id}/{f.name}"))
    return out


def _admission_review(obj: Any, uid: str) -> dict[str, Any]:
    raw = json.loads(json.dumps(obj.raw, default=str))  # as the API server sends it: JSON
    group, _, version = obj.api_version.rpartition("/")
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": obj.kind},
            "name": obj.name,
            "namespace": obj.namespace or "",
            "operation": "CREATE",
            "userInfo": {"username": "ci@example.com", "groups": ["system:authenticated"]},
            "object": raw,
            "dryRun": False,
        },
    }


@pytest.mark.parametrize("path", _cases())
def test_denial_equals_scan(path: Path) -> None:
    cfg = Config(params=_params(path))
    loaded = load_inputs(ScanOptions(paths=[str(path)]))
    assert not loaded.errors
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=cfg, registry=REGISTRY)
    # objects the API server refuses to decode (issue 22: KF-SCHEMA-002, -003, -005) never reach a webhook
    refused = {f.object for f in report.findings if f.rule.id in ("KF-SCHEMA-002", "KF-SCHEMA-003", "KF-SCHEMA-005")}
    for threshold in ("high", "medium"):
        policy = AdmissionPolicy.build(registry=REGISTRY, cfg=cfg, fail_on=threshold, policy={"exempt_namespaces": []})
        skipped = {m.id for m, _ in policy.skipped}
        fail_on = Severity.parse(threshold)
        for i, obj in enumerate(loaded.objects):
            if not policy.applies_to(obj.kind) or obj.ref in refused:
                continue
            mine = [
                f
                for f in report.active_findings
                if f.object == obj.ref and f.rule.id not in skipped and not f.rule.needs_others(obj.kind)
            ]
            want_deny = {f.rule.id for f in mine if f.severity >= fail_on}
            want_warn = {f.rule.id for f in mine if f.severity < fail_on}
            d = review_detailed(_admission_review(obj, f"uid-{i}"), policy)
            assert d.judged, d.reason
            assert set(d.denied) == want_deny, (
                f"fail_on {threshold}: {obj.ref}: webhook denies {sorted(d.denied)}, scan reports {sorted(want_deny)}"
            )
            # a rule with findings on both sides of the threshold denies and also warns about the lower ones
            assert set(d.warned) == want_warn, (
                f"fail_on {threshold}: {obj.ref}: warnings {sorted(d.warned)} vs {sorted(want_warn)}"
            )
            assert d.allowed is (not want_deny)


def test_skipped_rules_are_exactly_the_cross_object_and_non_admission_ones() -> None:
    policy = AdmissionPolicy.build(registry=REGISTRY, cfg=Config())
    selected = [r for r in REGISTRY if r.meta.enabled]
    expected = {
        r.meta.id
        for r in selected
        if r.meta.cross_object
        or r.meta.scope is Scope.NAMESPACE
        or (r.meta.modes is not None and "admission" not in r.meta.modes)
        or (r.meta.requires and not r.meta.params.get(r.meta.requires))
    }
    assert {m.id for m, _ in policy.skipped} == expected
    assert {r.meta.id for r in policy.rules} == {r.meta.id for r in selected} - expected
    chosen, _skipped = split_for_admission(selected, {})
    assert [r.meta.id for r in chosen] == [r.meta.id for r in policy.rules]
    # partly cross-object rules are evaluated on the kinds they judge alone, and only on those
    evaluated = {r.meta.id for r in policy.rules}
    for rid, local, other in (
        ("KF-IMG-008", "Deployment", "Service"),
        ("KF-IMG-009", "Deployment", "ClusterRoleBinding"),
    ):
        assert rid in evaluated
        assert rid in {r.meta.id for r in policy.plan.for_kind(local)}
        assert rid not in {r.meta.id for r in policy.plan.for_kind(other)}


def compressed_ids(ids: list[str]) -> str:
    """``KF-NET-001..005, 009, KF-POD-035``: rule IDs per area, runs of three or more as ranges (the
    form docs/admission.md lists them in)."""
    parts: list[str] = []
    by_area: dict[str, list[int]] = {}
    for rid in ids:
        area, _, num = rid.rpartition("-")
        by_area.setdefault(area, []).append(int(num))
    for area, nums in by_area.items():
        nums.sort()
        runs: list[list[int]] = []
        for n in nums:
            if runs and n == runs[-1][-1] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        words = []
        for run in runs:
            words += [f"{run[0]:03d}..{run[-1]:03d}"] if len(run) >= 3 else [f"{n:03d}" for n in run]
        parts.append(f"{area}-{words[0]}" + "".join(f", {w}" for w in words[1:]))
    return ", ".join(parts)


def test_the_docs_list_the_rules_skipped_at_admission() -> None:
    """docs/admission.md states how many rules are skipped at admission because they read other objects,
    and which: the default catalogue decides (regenerate the sentence from this test's message)."""
    _, skipped = split_for_admission(REGISTRY.select(), {})
    ids = sorted((m.id for m, why in skipped if why.startswith("cross-object")), key=lambda i: (i.rsplit("-", 1)[0], i))
    doc = (Path(__file__).resolve().parents[2] / "docs" / "admission.md").read_text()
    want = f"({len(ids)} with today's catalogue: {compressed_ids(ids)}"
    assert want + ")" in doc or want + ";" in doc, f"docs/admission.md, 'Rules skipped at admission': say {want})"
