"""The rules' safe fixes as MutatingAdmissionPolicies (``kubefort policy export --format mutating``).

The fix a rule declares as data (``RuleMeta.fix``, :mod:`kubefort.engine.fixes`) is the same one
``kubefort fix`` writes into files; here it becomes a MutatingAdmissionPolicy
(``admissionregistration.k8s.io/v1``) with a binding, so that the API server applies it to every pod
admitted. One translation, from the same data: a container fix becomes, for each container list, an
``ApplyConfiguration`` that server-side-apply merges into the containers it names (containers are a
list keyed by name), restricted by CEL to the containers that need it and are not excluded by the fix's
``skip_when``; a pod fix becomes one ``ApplyConfiguration`` on the pod spec, or an empty one when the
pod does not need it.

Only pods are mutated, on CREATE: every workload's pods are admitted as Pods, a pod spec cannot be
changed after creation, and mutating Deployments would make the cluster differ from the manifests that
GitOps tools compare with. Only safe fixes are exported (an opt-in fix could stop a workload from
starting without anyone having asked for it), and only for rules that judge a pod by itself.
``tests/unit/test_admission_mutating_export.py`` applies each exported mutation to the pods of the
rule's fixtures with a CEL evaluator and checks that the rule passes on the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..engine.fixes import AddEntry, AddItem, CopyField, FixAt, RuleFix, SetField, SkipWhen
from ..engine.rule import Rule, Scope
from ..model.workloads import ContainerSet

#: the container lists of a pod each container set covers (ephemeral containers are added through the
#: pods/ephemeralcontainers subresource, which a pod-CREATE policy does not see)
_LISTS = {
    ContainerSet.ALL: ("containers", "initContainers"),
    ContainerSet.CI: ("containers", "initContainers"),
    ContainerSet.C: ("containers", "initContainers"),
}
WINDOWS = "has(object.spec.os) && has(object.spec.os.name) && object.spec.os.name == 'windows'"


def _cel(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _has(root: str, path: Sequence[str]) -> str:
    return " && ".join(f"has({root}.{'.'.join(path[: i + 1])})" for i in range(len(path)))


def _holds(root: str, s: SkipWhen) -> str:
    field = f"{root}.{'.'.join(s.path)}"
    test = f"{_cel(s.value)} in {field}" if isinstance(s.value, str) else f"{field} == {_cel(s.value)}"
    return f"({_has(root, s.path)} && {test})"


def _unless(cond: str, root: str, skips: Sequence[SkipWhen]) -> str:
    """``cond`` and none of ``skips`` holds at ``root``."""
    if not skips:
        return cond
    return f"{cond} && !({' || '.join(_holds(root, s) for s in skips)})"


def _needs(root: str, edits: Iterable[SetField | AddItem | CopyField]) -> str:
    """CEL: some edit would change ``root``."""
    parts = []
    for e in edits:
        field = f"{root}.{'.'.join(e.path)}"
        if isinstance(e, SetField):
            if e.only_if_absent:
                parts.append(f"!({_has(root, e.path)})")
            else:
                parts.append(f"!({_has(root, e.path)} && {field} == {_cel(e.value)})")
        elif isinstance(e, AddItem):
            parts.append(f"!({_has(root, e.path)} && {_cel(e.item)} in {field})")
    return " || ".join(f"({p})" for p in parts) or "false"


def _value(root: str, e: SetField | AddItem) -> str:
    if isinstance(e, SetField):
        return _cel(e.value)
    field = f"{root}.{'.'.join(e.path)}"
    has = _has(root, e.path)
    return f"(({has} && {_cel(e.item)} in {field}) ? {field} : (({has}) ? {field} : []) + [{_cel(e.item)}])"


def _construct(type_name: str, root: str, edits: Sequence[SetField | AddItem], extra: dict[str, str]) -> str:
    """``Type{k: Type.k{...}, ...}``: the nested apply configuration setting each edit's path."""
    tree: dict[str, Any] = {}
    for e in edits:
        node = tree
        for key in e.path[:-1]:
            node = node.setdefault(key, {})
        node[e.path[-1]] = _value(root, e)

    def build(name: str, node: dict[str, Any]) -> str:
        fields = [f"{k}: {build(f'{name}.{k}', v) if isinstance(v, dict) else v}" for k, v in node.items()]
        return f"{name}{{{', '.join(fields)}}}"

    fields = [f"{k}: {v}" for k, v in extra.items()]
    fields += [f"{k}: {build(f'{type_name}.{k}', v) if isinstance(v, dict) else v}" for k, v in tree.items()]
    return f"{type_name}{{{', '.join(fields)}}}"


def why_not_mutating(rule: Rule) -> str | None:
    """Why the rule's fix is not exported as a mutation; None when it is."""
    fx = rule.meta.fix
    if fx is None:
        return "cannot: the rule declares no mechanical fix"
    if not fx.safe:
        return f"not exported: opt-in fix ({fx.opt_in})"
    if rule.meta.needs_others("Pod"):
        return "cannot: whether to fix depends on other objects than the pod (cross-object)"
    if rule.meta.scope not in (Scope.CONTAINER, Scope.POD) or fx.at is FixAt.OBJECT:
        return "cannot: the fix is not on a pod or its containers"
    if any(isinstance(e, (CopyField, AddEntry)) for e in fx.edits):
        return "not yet: copying a field or adding a list entry is not translated"
    return None


def mutations(rule: Rule) -> tuple[list[tuple[str, str]], list[str]]:
    """The policy's variables and ApplyConfiguration expressions for the rule's fix: for a container fix,
    one variable per container list holding the containers to fix and one mutation merging the fix into
    them by name; for a pod fix, one mutation (an empty apply configuration when the pod needs none)."""
    fx = rule.meta.fix
    assert fx is not None
    edits = [e for e in fx.edits if isinstance(e, (SetField, AddItem))]
    if fx.at is FixAt.POD:
        cond = _unless(f"({_needs('object.spec', edits)})", "object.spec", fx.skip_when)
        config = _construct("Object", "object.spec", [], {"spec": _construct("Object.spec", "object.spec", edits, {})})
        return [], [f"{cond} ? {config} : Object{{}}"]
    variables, exprs = [], []
    for lst in _LISTS[rule.meta.containers]:
        cond = _unless(f"({_needs('c', edits)})", "c", fx.skip_when)
        if rule.meta.containers is ContainerSet.C and lst == "initContainers":
            cond = f"has(c.restartPolicy) && c.restartPolicy == 'Always' && {cond}"  # sidecars only
        var = f"fix_{lst}"
        variables.append((var, f"has(object.spec.{lst}) ? object.spec.{lst}.filter(c, {cond}) : []"))
        item = _construct(f"Object.spec.{lst}", "c", edits, {"name": "c.name"})
        exprs.append(
            f"size(variables.{var}) > 0 ? Object{{spec: Object.spec{{{lst}: variables.{var}.map(c, {item})}}}} "
            ": Object{}"
        )
    return variables, exprs


def _fix_touches_security_context(fx: RuleFix) -> bool:
    return any(e.path[0] == "securityContext" for e in fx.edits)


def mutating(rule: Rule, name: str, meta: dict[str, Any]) -> list[dict[str, Any]]:
    """The MutatingAdmissionPolicy and its binding for ``rule``'s fix."""
    fx = rule.meta.fix
    assert fx is not None
    variables, exprs = mutations(rule)
    conditions = []
    if _fix_touches_security_context(fx):
        # Linux-only fields: the API server rejects several of them on Windows pods, and the rules exempt them
        conditions.append({"name": "not-windows", "expression": f"!({WINDOWS})"})
    policy: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": meta,
        "spec": {
            "failurePolicy": "Fail",
            "reinvocationPolicy": "IfNeeded",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}
                ]
            },
            **({"matchConditions": conditions} if conditions else {}),
            **({"variables": [{"name": n, "expression": e} for n, e in variables]} if variables else {}),
            "mutations": [
                {"patchType": "ApplyConfiguration", "applyConfiguration": {"expression": expr}} for expr in exprs
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": meta["labels"]},
        "spec": {
            "policyName": name,
            "matchResources": {
                "namespaceSelector": {
                    "matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
                    ]
                }
            },
        },
    }
    return [policy, binding]
