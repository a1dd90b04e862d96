"""``kubefort policy export --format mutating``: the MutatingAdmissionPolicies apply the same fixes as
``kubefort fix``, and the pods they admit pass the rule.

Every exported mutation is evaluated with cel-python (``celpy``) on the pod of every fixture workload
(the pod its controller creates, which is what the policy mutates), its variables bound in order as the
API server binds them, and its apply configuration merged as server-side apply merges it (containers
are a list keyed by name, other lists are atomic). celpy has no Kubernetes object types, so the typed
constructors (``Object.spec.containers{...}``) are evaluated as one message type: only their fields
matter to the merge.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefort.admission import policy_export as pe
from kubefort.engine.fixes import FixAt, apply_edits
from kubefort.engine.runner import evaluate
from kubefort.loading.loader import load_paths, load_text
from kubefort.model.inventory import Inventory
from kubefort.model.kinds import POD_SPEC_PATHS
from kubefort.model.workloads import ContainerSet
from kubefort.rules import default_registry

celpy = pytest.importorskip("celpy")

FIXTURES = Path(__file__).resolve().parent.parent / "rules" / "fixtures"
REGISTRY = default_registry(plugins=False)


class _Msg(celpy.celtypes.MessageType):  # type: ignore[misc]
    pass


ENV = celpy.Environment(annotations={"Obj": _Msg})
_TYPED = re.compile(r"\bObject(?:\.\w+)*\{")


@cache
def _program(expr: str) -> Any:
    return ENV.program(ENV.compile(_TYPED.sub("Obj{", expr)))


def _py(v: Any) -> Any:
    if isinstance(v, celpy.celtypes.BoolType):
        return bool(v)
    if isinstance(v, celpy.celtypes.IntType):
        return int(v)
    if isinstance(v, celpy.celtypes.StringType):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _py(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_py(x) for x in v]
    raise AssertionError(f"unexpected CEL value {v!r}")


def _merge(obj: dict[str, Any], patch: dict[str, Any]) -> None:
    """Server-side apply of an apply configuration, for the fields fixes set."""
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(obj.get(k), dict):
            _merge(obj[k], v)
        elif k in ("containers", "initContainers") and isinstance(obj.get(k), list):
            by_name = {c["name"]: c for c in obj[k]}
            for item in v:
                target = by_name.get(item["name"])
                if target is None:
                    obj[k].append(item)
                else:
                    _merge(target, item)
        else:
            obj[k] = v


def _policies() -> dict[str, dict[str, Any]]:
    result = pe.export(list(REGISTRY), "mutating")
    docs = list(yaml.safe_load_all(result.yaml))
    return {d["metadata"]["labels"]["kubefort.io/rule"]: d for d in docs if d["kind"] == "MutatingAdmissionPolicy"}


POLICIES = _policies()


def mutate(policy: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    raw = json.loads(json.dumps(pod))
    act: dict[str, Any] = {"object": celpy.json_to_cel(raw)}
    for cond in policy["spec"].get("matchConditions", []):
        if not bool(_program(cond["expression"]).evaluate(act)):
            return raw
    bound: dict[Any, Any] = {}
    for v in policy["spec"].get("variables", []):
        act["variables"] = celpy.celtypes.MapType(bound)
        bound[celpy.celtypes.StringType(v["name"])] = _program(v["expression"]).evaluate(act)
    act["variables"] = celpy.celtypes.MapType(bound)
    out = copy.deepcopy(raw)
    for m in policy["spec"]["mutations"]:
        assert m["patchType"] == "ApplyConfiguration"
        config = _program(m["applyConfiguration"]["expression"]).evaluate(act)
        assert not isinstance(config, celpy.CELEvalError), config
        _merge(out, _py(config))
    return out


def _engine_fixed(rule_id: str, pod: dict[str, Any]) -> dict[str, Any]:
    """The pod as ``kubefort fix`` edits it: the declared edits on every container (or the pod spec) the
    fix may touch; edits leave alone what needs no change."""
    meta = REGISTRY.get(rule_id).meta
    fx = meta.fix
    assert fx is not None
    out = copy.deepcopy(pod)
    if (out["spec"].get("os") or {}).get("name") == "windows":
        return out
    if fx.at is FixAt.POD:
        targets = [out["spec"]]
    else:
        targets = list(out["spec"].get("containers") or [])
        inits = out["spec"].get("initContainers") or []
        targets += [c for c in inits if meta.containers is not ContainerSet.C or c.get("restartPolicy") == "Always"]
    for t in targets:
        if fx.blocked(t) is None:
            apply_edits(t, fx.edits)
    return out


def _pods(path: Path) -> list[dict[str, Any]]:
    """The pods the fixture's workloads would create (a Pod is its own)."""
    out = []
    for obj in load_paths([str(path)]).objects:
        paths = POD_SPEC_PATHS.get(obj.kind)
        if paths is None:
            continue
        meta_path, spec_path = paths
        spec, meta = obj.get(*spec_path), obj.get(*meta_path) if meta_path else None
        if not isinstance(spec, dict):
            continue
        meta = dict(meta) if isinstance(meta, dict) else {}
        meta.update({"name": f"{obj.name}-pod", "namespace": obj.namespace or "default"})
        out.append({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": copy.deepcopy(dict(spec))})
    return out


def _fails(rule_id: str, pod: dict[str, Any]) -> int:
    objs = load_text(yaml.safe_dump(pod), "pod.yaml").objects
    report = evaluate([REGISTRY.get(rule_id)], Inventory(objs))
    return len(report.findings)


def _cases() -> list[Any]:
    out = []
    for rid in sorted(POLICIES):
        for f in sorted((FIXTURES / rid).glob("*.yaml")):
            if f.name.startswith(("pass-", "fail-")) and not f.name.endswith(".params.yaml"):
                out.append(pytest.param(rid, f, id=f"{rid}/{f.name}"))
    return out


def test_the_safe_fixes_are_exported() -> None:
    assert {"KF-POD-002", "KF-POD-014", "KF-POD-022", "KF-IMG-003"} <= set(POLICIES)
    result = pe.export(list(REGISTRY), "mutating")
    why = dict(result.unsupported)
    assert why["KF-POD-021"].startswith("not exported: opt-in fix")  # could break a workload
    assert "cross-object" in why["KF-RBAC-025"] or "opt-in" in why["KF-RBAC-025"]
    kinds = [d["kind"] for d in yaml.safe_load_all(result.yaml)]
    assert kinds == ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"] * len(result.exported)
    policy = POLICIES["KF-POD-002"]
    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["pods"]


@pytest.mark.parametrize("rule_id,path", _cases())
def test_mutation_is_the_declared_fix_and_the_pod_passes(rule_id: str, path: Path) -> None:
    judged = 0
    for pod in _pods(path):
        mutated = mutate(POLICIES[rule_id], pod)
        assert mutated == _engine_fixed(rule_id, pod), f"{path.name}: {pod['metadata']['name']}"
        assert mutate(POLICIES[rule_id], mutated) == mutated, "reinvoked, the policy changes nothing"
        before, after = _fails(rule_id, pod), _fails(rule_id, mutated)
        assert after <= before
        if path.name.startswith("pass-"):
            assert after == 0
        judged += 1
    assert judged or "fail-" not in path.name


def test_failing_fixtures_mostly_pass_after_mutation() -> None:
    """Across each rule's failing fixtures, the mutation turns failing pods into passing ones (those left
    are the cases the fix declares it leaves alone: privileged containers, capabilities added back...)."""
    for rid in POLICIES:
        fixed = failing = 0
        for f in sorted((FIXTURES / rid).glob("fail-*.yaml")):
            for pod in _pods(f):
                if _fails(rid, pod):
                    failing += 1
                    fixed += _fails(rid, mutate(POLICIES[rid], pod)) == 0
        assert failing and fixed * 2 >= failing, (rid, fixed, failing)
