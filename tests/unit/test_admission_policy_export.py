"""``kubefort policy export``: the exported CEL agrees with the Python rule on every fixture object.

The expressions are evaluated with cel-python (``celpy``), with the policy's variables bound in order
as the API server and Kyverno bind them. An evaluation error counts as a denial, as the exported
policies use ``failurePolicy: Fail``. Objects are passed as the API server would have decoded them:
JSON, with null fields dropped.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubefort.admission import policy_export as pe
from kubefort.cli import cli
from kubefort.engine.runner import evaluate
from kubefort.loading.loader import load_paths
from kubefort.model.inventory import Inventory
from kubefort.rules import default_registry

celpy = pytest.importorskip("celpy")

FIXTURES = Path(__file__).resolve().parent.parent / "rules" / "fixtures"
REGISTRY = default_registry(plugins=False)
ENV = celpy.Environment()


@cache
def _program(expr: str) -> Any:
    return ENV.program(ENV.compile(expr))


def _api_decoded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _api_decoded(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_api_decoded(v) for v in value]
    return value


def cel_allows(expression: str, variables: list[tuple[str, str]], obj: Any) -> bool:
    """The policy's verdict: True (allowed) when the expression is true; an error denies (failurePolicy Fail)."""
    raw = _api_decoded(json.loads(json.dumps(obj, default=str)))
    bound: dict[Any, Any] = {}
    act: dict[str, Any] = {"object": celpy.json_to_cel(raw)}
    try:
        for name, expr in variables:
            act["variables"] = celpy.celtypes.MapType(bound)
            bound[celpy.celtypes.StringType(name)] = _program(expr).evaluate(act)
        act["variables"] = celpy.celtypes.MapType(bound)
        result = _program(expression).evaluate(act)
    except celpy.CELEvalError:
        return False
    if isinstance(result, celpy.CELEvalError):
        return False
    assert isinstance(result, celpy.celtypes.BoolType), f"not a boolean: {result!r}"
    return bool(result)


def _exported(fmt: str) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """rule ID -> (expression, variables), read back from the exported YAML."""
    result = pe.export(list(REGISTRY), fmt)
    out = {}
    for doc in yaml.safe_load_all(result.yaml):
        if doc["kind"] in ("ValidatingAdmissionPolicy", "ValidatingPolicy"):
            spec = doc["spec"]
            (val,) = spec["validations"]
            out[doc["metadata"]["labels"]["kubefort.io/rule"]] = (
                val["expression"],
                [(v["name"], v["expression"]) for v in spec.get("variables", [])],
            )
        elif doc["kind"] == "ClusterPolicy":
            (r,) = doc["spec"]["rules"]
            cel = r["validate"]["cel"]
            (e,) = cel["expressions"]
            out[doc["metadata"]["labels"]["kubefort.io/rule"]] = (
                e["expression"],
                [(v["name"], v["expression"]) for v in cel.get("variables", [])],
            )
    return out


FORMATS = ("vap", "kyverno", "kyverno-legacy")
EXPORTED = {fmt: _exported(fmt) for fmt in FORMATS}
MUST_EXPORT = (
    "KF-POD-001",
    "KF-POD-002",
    "KF-POD-003",
    "KF-POD-004",
    "KF-POD-005",
    "KF-POD-006",
    "KF-POD-011",
    "KF-POD-012",
    "KF-POD-016",
    "KF-POD-022",
    "KF-IMG-001",
    # the most used pod security rules and the RBAC ones that judge one role or binding
    "KF-POD-007",
    "KF-POD-008",
    "KF-POD-009",
    "KF-POD-024",
    "KF-POD-028",
    "KF-POD-030",
    "KF-RBAC-001",
    "KF-RBAC-003",
    "KF-RBAC-006",
    "KF-RBAC-010",
    "KF-RBAC-013",
    "KF-NET-006",
)


def _cases() -> list[Any]:
    out = []
    for rid in sorted(pe.CHECKS):
        for f in sorted((FIXTURES / rid).glob("*.yaml")):
            if f.name.startswith(("pass-", "fail-")) and not f.name.endswith(".params.yaml"):
                out.append(pytest.param(rid, f, id=f"{rid}/{f.name}"))
    return out


def _matched(match: pe.Match, obj: Any) -> bool:
    """Whether the policy sees the object: its kind, and for kinds other than the pod-bearing ones (which
    the API server converts between their groups' versions) its API group."""
    if obj.kind not in match.kinds:
        return False
    return match is pe.WORKLOAD_MATCH or obj.group in {g for g, _ in match.resources}


def test_the_valuable_rules_are_exported() -> None:
    for fmt in FORMATS:
        assert set(MUST_EXPORT) <= set(EXPORTED[fmt])
        assert set(EXPORTED[fmt]) == set(pe.CHECKS)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("rule_id,path", _cases())
def test_cel_agrees_with_the_rule(rule_id: str, path: Path, fmt: str) -> None:
    rule = REGISTRY.get(rule_id)
    expression, variables = EXPORTED[fmt][rule_id]
    loaded = load_paths([str(path)])
    judged = 0
    match = pe.CHECKS[rule_id].match
    for obj in loaded.objects:
        if not _matched(match, obj):
            continue
        report = evaluate([rule], Inventory([obj]))  # default parameters, as exported
        rule_allows = not any(f.object == obj.ref for f in report.findings)
        assert cel_allows(expression, variables, obj.raw) is rule_allows, (
            f"{path.name}: {obj.ref}: CEL {'allows' if not rule_allows else 'denies'}, {rule_id} "
            f"{'passes' if rule_allows else 'fails'}"
        )
        judged += 1
    assert judged or "fail-" not in path.name


def test_has_guards_are_complete() -> None:
    """Kubernetes CEL errors on has(a.b.c) when a.b is missing (cel-python does not): every has() of a
    nested field must come after the has() of its parent."""
    for expression, variables in EXPORTED["vap"].values():
        for text in [expression, *(e for _, e in variables)]:
            guarded = set()
            for m in re.finditer(r"has\(([\w.]+)\)", text):
                path = m.group(1)
                parts = path.split(".")
                root = 2 if parts[0] == "variables" else 1
                parent = ".".join(parts[:-1])
                if len(parts) - 1 > root and parent not in guarded and parent not in ("c", "v", "object.spec"):
                    pytest.fail(f"has({path}) without has({parent}) before it in {text[:120]}")
                guarded.add(path)


def test_vap_documents() -> None:
    result = pe.export(
        [
            REGISTRY.get("KF-POD-001"),
            REGISTRY.get("KF-SEC-001"),
        ],
        "vap",
        action="warn",
    )
    docs = list(yaml.safe_load_all(result.yaml))
    policy, binding = docs
    assert policy["kind"] == "ValidatingAdmissionPolicy" and policy["metadata"]["name"] == "kubefort-kf-pod-001"
    assert policy["spec"]["failurePolicy"] == "Fail"
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert {r for rr in rules for r in rr["resources"]} >= {
        "pods",
        "deployments",
        "cronjobs",
        "pods/ephemeralcontainers",
    }
    assert "Fix:" in policy["spec"]["validations"][0]["message"]
    assert (
        binding["kind"] == "ValidatingAdmissionPolicyBinding" and binding["spec"]["policyName"] == "kubefort-kf-pod-001"
    )
    assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    assert result.exported == ["KF-POD-001"] and len(result.unsupported) == 1


def test_every_rule_is_exported_or_explained() -> None:
    result = pe.export(list(REGISTRY), "kyverno-legacy")
    assert set(result.exported) | {r for r, _ in result.unsupported} == {r.meta.id for r in REGISTRY}
    for rid, why in result.unsupported:
        assert why.startswith(("cannot: ", "not yet: ")), (rid, why)
        rule = REGISTRY.get(rid)
        if rule.meta.cross_object:
            assert "cross-object" in why
    docs = list(yaml.safe_load_all(result.yaml))
    assert all(d["kind"] == "ClusterPolicy" for d in docs)
    assert docs[0]["spec"]["rules"][0]["validate"]["failureAction"] == "Enforce"


def test_kyverno_is_a_cel_validating_policy() -> None:
    """--format kyverno: Kyverno's CEL ValidatingPolicy (policies.kyverno.io/v1), the VAP's CEL and match in
    one object (no binding): kube-system excluded by namespace selector, every workload kind matched."""
    result = pe.export([REGISTRY.get("KF-POD-001"), REGISTRY.get("KF-SEC-001")], "kyverno", action="warn")
    (policy,) = yaml.safe_load_all(result.yaml)
    assert (policy["apiVersion"], policy["kind"]) == ("policies.kyverno.io/v1", "ValidatingPolicy")
    spec = policy["spec"]
    assert spec["validationActions"] == ["Warn", "Audit"]
    vap_policy = next(yaml.safe_load_all(pe.export([REGISTRY.get("KF-POD-001")], "vap").yaml))
    assert spec["validations"] == vap_policy["spec"]["validations"]
    assert spec["variables"] == vap_policy["spec"]["variables"]
    assert spec["matchConstraints"]["resourceRules"] == vap_policy["spec"]["matchConstraints"]["resourceRules"]
    assert spec["matchConstraints"]["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system"]
    assert result.exported == ["KF-POD-001"] and result.unsupported[0][0] == "KF-SEC-001"


def test_cli_export(tmp_path: Path) -> None:
    out = tmp_path / "vap.yaml"
    res = CliRunner().invoke(
        cli, ["policy", "export", "--format", "vap", "--rules", "KF-POD-001,KF-SEC-001", "--output", str(out)]
    )
    assert res.exit_code == 0, res.output
    kinds = [d["kind"] for d in yaml.safe_load_all(out.read_text())]
    assert kinds == ["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
    assert "KF-SEC-001: cannot:" in res.output
    res = CliRunner().invoke(cli, ["policy", "export", "--format", "opa"])
    assert res.exit_code == 2


EDGES = Path(__file__).resolve().parent.parent / "fixtures" / "policy-export" / "edges.yaml"


@pytest.mark.parametrize("rule_id", sorted(pe.CHECKS))
def test_cel_agrees_on_the_edges(rule_id: str) -> None:
    """Spellings the rules' fixtures do not all show (host paths with repeated or trailing slashes, ``.``
    segments and blanks, Windows paths, Docker Hub aliases, the kubelet's sysctl spelling, loopback probe
    hosts with and without hostNetwork, resourceNames on name-less verbs, cluster-scoped resources in a Role,
    default roles, label edges): each exported policy gives every object it matches its rule's verdict."""
    rule = REGISTRY.get(rule_id)
    expression, variables = EXPORTED["vap"][rule_id]
    for obj in load_paths([str(EDGES)]).objects:
        if not _matched(pe.CHECKS[rule_id].match, obj):
            continue
        report = evaluate([rule], Inventory([obj]))
        rule_allows = not any(f.object == obj.ref for f in report.findings)
        assert cel_allows(expression, variables, obj.raw) is rule_allows, f"{obj.ref}: {rule_id}"
