"""SCHEMA rules: objects checked against the Kubernetes API schema before they are judged.

An object the API server would refuse cannot run, and a field it would drop (unknown, misspelled,
misplaced) does nothing: judging such an object as written reports protections that do not exist.
These rules report what the API server's strict field validation would say, against the schema of the
target version (``kube_version``, ``--kube-version``; the newest bundled by default) for built-in
types, and against CustomResourceDefinitions (from the input, or ``schema_dir``/``--schema-dir``) for
custom resources. See :mod:`kubefort.analysis.schema` for the exact semantics.

Each object is validated once (:func:`validate_inventory` runs before any rule; a rule that finds no
validation yet makes it), and the fields found invalid are marked on the object: every other rule that
reads one is *not evaluated* on that object, with the reason naming the field, never passed.

In cluster mode (a live cluster or a snapshot of one) only KF-SCHEMA-006 runs: built-in objects were
decoded by the API server, but stored custom resources can be invalid against a CRD that changed
since they were written; they are checked against the schema the cluster publishes in /openapi/v3
(:mod:`kubefort.analysis.schema.live`).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from ..analysis.schema.bundle import bundle_index
from ..analysis.schema.source import (
    UNKNOWN,
    UNSERVED,
    SchemaSet,
    builtin_group,
    builtin_schemas,
    config_file,
    deprecated_kinds,
    validation,
)
from ..analysis.schema.types import quote
from ..engine.rule import Context, NotEvaluated, Scope, Severity, Violation, rule
from ..model.inventory import Inventory
from ..model.objects import K8sObject

SCHEMA_DOC = "https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation"
PARAMS = {"kube_version": "", "schema_dir": ""}
MANIFEST = ("manifest",)  # live objects and admission requests were decoded by the API server already
#: stored custom resources can drift from a CRD that changed since they were written (analysis.schema.live)
MANIFEST_AND_CLUSTER = ("manifest", "cluster")


def schemas_for(inventory: Inventory, params: Mapping[str, Any]) -> SchemaSet:
    return SchemaSet.for_inventory(inventory, params.get("kube_version") or None, params.get("schema_dir") or None)


def validate_inventory(inventory: Inventory, params: Mapping[str, Any]) -> list[str]:
    """Validate every object before the rules run (so each rule sees the invalid fields marked,
    whatever its order); the notes for kinds without a known schema."""
    schemas = schemas_for(inventory, params)
    unknown: Counter[tuple[str, str]] = Counter()
    for obj in inventory:
        if validation(obj, schemas).status == UNKNOWN:
            unknown[(obj.api_version, obj.kind)] += 1
    hint = (
        "the cluster publishes none in /openapi/v3 and its CustomResourceDefinition was not read"
        if schemas.live
        else "give its CustomResourceDefinition in the input or with --schema-dir"
    )
    return [
        f"no schema known for {api} {kind} ({n} object{'s' if n > 1 else ''}): not validated; {hint}"
        for (api, kind), n in sorted(unknown.items())
    ]


def _served_builtin(obj: K8sObject) -> bool:
    """A built-in apiVersion and kind, served by at least one bundled Kubernetes version."""
    return bool(bundle_index().serves(obj.api_version, obj.kind))


def _builtin(params: Mapping[str, Any]) -> SchemaSet:
    """The built-in types of the target version alone: what KF-SCHEMA-001/002/003/005 judge with. They read
    no other object than the one they judge (a built-in object's validation does not depend on the CRDs
    of the input), so the scan cache keeps their results per object."""
    return builtin_schemas(bundle_index().resolve(params.get("kube_version") or None))


def _builtin_issues(obj: K8sObject, ctx: Context, code: str) -> Iterator[Violation]:
    v = validation(obj, _builtin(ctx.params))
    if v.status == UNSERVED:
        raise NotEvaluated(f"{v.against} (KF-SCHEMA-005): not validated")
    for i in v.issues:
        if i.code == code and not i.custom:
            yield Violation(i.path, i.message)


_REFS_STRICT = {
    "kubeconform": "-strict",
    "kube-linter": "schema-validation",
    "kubectl": "--validate=strict",
    "k8s": SCHEMA_DOC,
}


@rule(
    id="KF-SCHEMA-001",
    slug="schema-unknown-field",
    title="Unknown field",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=bundle_index().kinds,
    applies=_served_builtin,
    params=PARAMS,
    modes=MANIFEST,
    rationale="The API server drops a field its type does not define (or refuses the object under strict "
    "field validation): a misspelled or misplaced security setting such as runAsNonroot, or "
    "allowPrivilegeEscalation at pod level, looks hardened and does nothing.",
    remediation="Spell the field as the API reference does and put it where its type defines it (the message "
    "names the probable intent); check with kubectl apply --dry-run=server --validate=strict.",
    refs=_REFS_STRICT,
)
def unknown_field(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _builtin_issues(obj, ctx, "unknown")


@rule(
    id="KF-SCHEMA-002",
    slug="schema-wrong-type",
    title="Wrong type or out of range",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=bundle_index().kinds,
    applies=_served_builtin,
    params=PARAMS,
    modes=MANIFEST,
    rationale='The API server refuses a value of the wrong type (privileged: "true", a map where a list '
    'belongs, a port beyond int32): the object never runs, and a scanner that reads the string "true" as '
    "not privileged, or sees no containers, judges something that does not exist.",
    remediation="Give the value the type the API reference gives the field (booleans and numbers unquoted, "
    "lists as lists); quantities may be numbers or strings such as 500m, IntOrString fields either.",
    refs={"kubeconform": "type errors", "kube-linter": "schema-validation", "k8s": SCHEMA_DOC},
)
def wrong_type(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _builtin_issues(obj, ctx, "type")


@rule(
    id="KF-SCHEMA-003",
    slug="schema-required-field",
    title="Required field missing",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=bundle_index().kinds,
    applies=_served_builtin,
    params=PARAMS,
    modes=MANIFEST,
    rationale="An object without a field its schema requires (a container without name, a Deployment "
    "without selector, a RoleBinding without roleRef, a rule without verbs) is refused: it does not run, "
    "and what a scanner concludes from its absence is wrong.",
    remediation="Add the required field (the message names it); the API reference marks required fields.",
    refs={"kubeconform": "required", "kube-linter": "schema-validation", "k8s": SCHEMA_DOC},
)
def required_field(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _builtin_issues(obj, ctx, "required")


@rule(
    id="KF-SCHEMA-004",
    slug="schema-duplicate-field",
    title="Duplicate field",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    modes=MANIFEST,
    rationale="A key written twice in one mapping is refused by strict clients (kubectl --validate=strict, "
    "the API server's strict field validation); lenient ones keep the last value, which silently replaces "
    "the first (a second securityContext hiding the one that was reviewed).",
    remediation="Keep one occurrence of the key, merging what both said.",
    refs={"kubectl": "--validate=strict (duplicate field)", "k8s": SCHEMA_DOC},
)
def duplicate_field(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for d in obj.source.duplicates:
        key = d.path[-1]
        where = f" (lines {', '.join(map(str, d.lines))})" if d.lines else ""
        yield Violation(
            d.path,
            f"key {quote(str(key))} appears {max(len(d.lines), 2)} times{where}: the last value is used, "
            "and strict clients refuse the object",
        )


def _builtin_group_object(obj: K8sObject) -> bool:
    """Objects of Kubernetes' own API groups, other than those KF-VER-006 reports (removed or deprecated
    apiVersions), client-side ``List`` wrappers and configuration files (a kubeconfig is ``v1 Config``)."""
    if obj.kind == "List" or (obj.api_version, obj.kind) in deprecated_kinds() or config_file(obj):
        return False
    return builtin_group(obj.group)


@rule(
    id="KF-SCHEMA-005",
    slug="schema-kind-not-served",
    title="Kind not served by its API group",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    applies=_builtin_group_object,
    params={"kube_version": ""},
    modes=MANIFEST,
    rationale="An object whose kind its apiVersion does not serve (a misspelled kind such as Deployent, a "
    "kind in the wrong group, a version the target Kubernetes does not serve) cannot be created: "
    '"no matches for kind". Nothing in it runs, whatever it says.',
    remediation="Use the apiVersion and kind the API reference gives (the message says which serve the kind); "
    "for removed versions see KF-VER-006.",
    refs={"kubeconform": "missing schema", "kubectl": "no matches for kind", "k8s": SCHEMA_DOC},
)
def kind_not_served(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    schemas = _builtin(ctx.params)
    kinds = schemas.builtin.kinds
    api, kind, version = obj.api_version, obj.kind, schemas.kubernetes
    if schemas.builtin.kind(api, kind) is not None:
        return
    group = obj.group
    if group == "core":
        yield Violation(
            ("apiVersion",),
            f"{quote(api)} is not an apiVersion: the core group is written {quote('v1' if api.endswith('/v1') else api.split('/', 1)[1])}",
        )
        return
    elsewhere = sorted(gv for gv, by_kind in kinds.items() if kind in by_kind)
    served_as = f"{kind} is served as {', '.join(elsewhere)}" if elsewhere else ""
    served_in = sorted(bundle_index().serves(api, kind), key=lambda v: tuple(map(int, v.split("."))))
    was = f" ({kind} in {api} is served by Kubernetes {', '.join(served_in)})" if served_in else ""
    if api in kinds:  # the group/version exists: the kind is wrong
        close = difflib.get_close_matches(kind, list(kinds[api]), n=1, cutoff=0.75)
        if served_as:
            msg = f"{api} does not serve {kind} in Kubernetes {version}{was}: {served_as}"
        else:
            msg = f"{api} has no kind {quote(kind)}" + (f"; did you mean {quote(close[0])}?" if close else "")
        yield Violation(("kind",) if not served_as else ("apiVersion",), msg)
        return
    msg = f"{api} is not served by Kubernetes {version}{was}"
    if served_as:
        msg += f"; {served_as}"
    else:
        group_versions = sorted(gv for gv in kinds if (gv.rsplit("/", 1)[0] if "/" in gv else "") == group)
        if group_versions:
            msg += f"; the {group or 'core'} group serves {', '.join(group_versions)}"
    yield Violation(("apiVersion",), msg)


def _custom_resource(obj: K8sObject) -> bool:
    return not builtin_group(obj.group) and not config_file(obj)


@rule(
    id="KF-SCHEMA-006",
    slug="schema-custom-resource-invalid",
    title="Custom resource invalid against its CRD",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    applies=_custom_resource,
    params=PARAMS,
    modes=MANIFEST_AND_CLUSTER,
    cross_object=True,
    # the CRDs it reads are the input's (or, live, /openapi/v3 first): without a schema for an object it
    # says so itself (not evaluated, with the reason), so an unreadable kind does not block it
    needs=[],
    rationale="A custom resource its CustomResourceDefinition's schema rejects is refused, and fields the "
    "schema does not define are pruned: the operator never sees the setting (a misspelled TLS or policy "
    "field of a cert-manager, Istio or Kyverno resource does nothing).",
    remediation="Fix the field as the message says (name, type, allowed values), against the CRD version the "
    "object's apiVersion names.",
    refs={
        "kubeconform": "CRD schemas (-schema-location)",
        "k8s": "https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation",
    },
)
def custom_resource_invalid(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    schemas = schemas_for(ctx.inventory, ctx.params)
    v = validation(obj, schemas)
    if v.status == UNKNOWN:
        raise NotEvaluated(
            v.against
            if schemas.live
            else f"{v.against}: give its CustomResourceDefinition in the input or with --schema-dir"
        )
    for i in v.issues:
        if i.custom:
            yield Violation(i.path, i.message, subcode=i.code)


RULES = (unknown_field, wrong_type, required_field, duplicate_field, kind_not_served, custom_resource_invalid)
