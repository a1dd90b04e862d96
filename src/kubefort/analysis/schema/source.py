"""Where a scan's schemas come from, and each object's validation (once per object and schema set).

A :class:`SchemaSet` joins the built-in types of one Kubernetes version (a :class:`.openapi.Bundle`:
bundled, or in live mode compiled from the cluster's own OpenAPI) with the custom resource schemas of
the input's CustomResourceDefinitions and of a schema directory (``--schema-dir``: CRD manifests, or
JSON schemas in kubeconform's layout ``[<group>/]<kind>_<version>.json``).

:func:`validation` validates an object once and records the fields it found invalid on the object
(:meth:`kubefort.model.objects.K8sObject.mark_invalid`): every rule that reads one of them is then not
evaluated on that object, whatever the order the rules run in.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import UsageError
from ...model.inventory import Inventory
from ...model.objects import K8sObject
from .bundle import bundle_index, load_bundle
from .crd import CrdIndex, CrdVersion, validate_custom
from .openapi import Bundle
from .validate import SchemaIssue, validate_builtin

CRD_API_VERSIONS = ("apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1")
_SCHEMA_FILE = re.compile(r"^(?P<kind>[A-Za-z0-9]+)_(?P<version>v[0-9][A-Za-z0-9]*)\.json$")

# what a validation found the object to be
BUILTIN = "builtin"  # a built-in type of the version: validated
CUSTOM = "custom"  # a custom resource with a known schema: validated
UNSERVED = "unserved"  # a built-in API group that does not serve the kind at this version (KF-SCHEMA-005)
UNKNOWN = "unknown"  # no schema known (a custom resource without its CRD): not validated
CONFIG = "config"  # a configuration file (kubelet, API server, kubefort's own inputs): not an API object
SERVED = "served"  # live: decoded into its Go type by the API server serving it (built-in, aggregated API)

#: groups of configuration files that kubefort's node and control-plane rules read, never sent to the
#: API server: no API schema applies to them
CONFIG_GROUPS = frozenset(
    {
        "apiserver.k8s.io",
        "audit.k8s.io",
        "client.authentication.k8s.io",
        "credentialprovider.kubelet.k8s.io",
        "eventratelimit.admission.k8s.io",
        "imagepolicy.k8s.io",
        "kubeadm.k8s.io",
        "kubefort.io",
    }
)


def config_file(obj: K8sObject) -> bool:
    """A component configuration file (``*.config.k8s.io``, audit policy, kubeconfig) or one of kubefort's
    own input kinds, rather than an API object."""
    group = obj.group
    return (
        group in CONFIG_GROUPS or group.endswith(".config.k8s.io") or (obj.api_version == "v1" and obj.kind == "Config")
    )


@dataclass(frozen=True, slots=True)
class Validation:
    """What validating one object found."""

    status: str  # BUILTIN | CUSTOM | UNSERVED | UNKNOWN | CONFIG | SERVED
    issues: tuple[SchemaIssue, ...] = ()
    against: str = ""  # what it was validated against, or why not


@dataclass(eq=False, slots=True)
class SchemaSet:
    """The schemas one scan validates with (identity-hashed: a validation memo key)."""

    kubernetes: str
    builtin: Bundle
    crds: CrdIndex = field(default_factory=CrdIndex)
    schema_dir: str | None = None
    live: bool = False  # the objects were read from a cluster: only custom resources are validated
    served: frozenset[tuple[str, str, str]] = frozenset()  # live: (group, version, kind) of aggregated APIs

    @classmethod
    def for_inventory(cls, inventory: Inventory, kubernetes: str | None, schema_dir: str | None) -> SchemaSet:
        """The schemas of a scan, computed once per inventory, version and schema directory (of a live
        inventory: the cluster's own, :meth:`for_cluster`)."""
        version = bundle_index().resolve(kubernetes)
        if inventory.live:
            return inventory.cached(
                ("kubefort.schema.live", version, schema_dir or None),
                lambda: cls.for_cluster(inventory, version, schema_dir),
            )

        def build() -> SchemaSet:
            crds = CrdIndex()
            if schema_dir:
                load_schema_dir(schema_dir, crds)
            for o in inventory.of_kind("CustomResourceDefinition"):
                if o.api_version in CRD_API_VERSIONS:
                    crds.add_crd(o.raw)
            return cls(version, load_bundle(version), crds, schema_dir)

        return inventory.cached(("kubefort.schema", version, schema_dir or None), build)

    @classmethod
    def for_cluster(cls, inventory: Inventory, version: str, schema_dir: str | None) -> SchemaSet:
        """A live cluster's schemas (:mod:`.live`): the custom resources' as the cluster publishes them in
        /openapi/v3, then those of ``--schema-dir`` and of the CustomResourceDefinitions read (for the
        group-versions whose document could not be read)."""
        from .live import meta_bundle, published

        crds = CrdIndex()
        served, meta = published(inventory.openapi, crds, builtin_groups())
        if schema_dir:
            load_schema_dir(schema_dir, crds)
        for o in inventory.of_kind("CustomResourceDefinition"):
            if o.api_version in CRD_API_VERSIONS:
                crds.add_crd(o.raw)
        builtin = meta_bundle(meta, load_bundle(version), version)
        return cls(version, builtin, crds, schema_dir, live=True, served=frozenset(served))


def load_schema_dir(path: str, crds: CrdIndex) -> None:
    """CRDs (YAML or JSON manifests) and JSON schema files below ``path``."""
    from ...errors import LoadError
    from ...loading.loader import iter_files, parse_text, read_text
    from ...loading.yamlparse import Limits

    if not os.path.isdir(path):
        raise UsageError(f"--schema-dir {path!r}: no such directory")
    limits = Limits()
    for file in iter_files([path], []):  # the directory exists: nothing to report
        try:
            text = read_text(file, limits)
        except (OSError, LoadError):  # unreadable files are skipped, as in a scan
            continue
        docs, _ = parse_text(text, file, limits)
        for d in docs:
            data = d.data
            if not isinstance(data, Mapping):
                continue
            if data.get("kind") == "CustomResourceDefinition":
                crds.add_crd(data)
            elif file.endswith(".json") and ("properties" in data or "type" in data):
                _add_schema_file(file, path, data, crds)


def _add_schema_file(file: str, root: str, data: Mapping[str, Any], crds: CrdIndex) -> None:
    gvks = data.get("x-kubernetes-group-version-kind")
    if isinstance(gvks, list):
        for gvk in gvks:
            if isinstance(gvk, Mapping) and all(isinstance(gvk.get(k), str) for k in ("group", "version", "kind")):
                crds.add(
                    CrdVersion(
                        name=file,
                        group=gvk["group"],
                        version=gvk["version"],
                        kind=gvk["kind"],
                        schema=data,
                        closed=False,
                    )
                )
        return
    m = _SCHEMA_FILE.match(os.path.basename(file))
    if m is None:
        return
    rel = os.path.relpath(os.path.dirname(file), root)
    cv = CrdVersion(
        name=file, group="" if rel == "." else rel.split(os.sep)[0], version=m["version"], kind=m["kind"], schema=data
    )
    cv = replace(cv, closed=False)  # JSON schemas close an object only with additionalProperties: false
    if rel == ".":
        crds.loose[(m["kind"].lower(), m["version"])] = cv
    else:  # <group>/<kind>_<version>.json: the kind is lower case in file names; matched case-insensitively
        crds.loose.setdefault((m["kind"].lower(), m["version"]), cv)
        crds.by_kind.setdefault((cv.group, f"\0{m['kind'].lower()}"), {})[m["version"]] = cv


@functools.cache
def deprecated_kinds() -> frozenset[tuple[str, str]]:
    """The (apiVersion, kind) pairs of KF-VER-006's table: deprecated or removed, its findings."""
    from ..node.versions import deprecated_apis

    return frozenset(deprecated_apis())


@functools.cache
def builtin_groups() -> frozenset[str]:
    """Kubernetes' own API groups: served by a bundled version, or removed (extensions, ...); "core" is
    how people mistakenly write the core group (apiVersion ``v1``)."""
    removed = {api.rsplit("/", 1)[0] if "/" in api else "" for api, _ in deprecated_kinds()}
    return bundle_index().groups | removed | {"core"}


def builtin_group(group: str) -> bool:
    return group in builtin_groups()


_MEMO = "kubefort.schema.validation"


@functools.cache
def builtin_schemas(kubernetes: str) -> SchemaSet:
    """The built-in types of Kubernetes ``kubernetes`` alone (a version :meth:`BundleIndex.resolve` gave):
    what a built-in object is validated against, whatever CRDs the input holds. The built-in schema
    rules (KF-SCHEMA-001/002/003/005) judge with it, so that they read nothing but the object they judge
    (the scan cache keeps their results per object)."""
    return SchemaSet(kubernetes, load_bundle(kubernetes))


def validation(obj: K8sObject, schemas: SchemaSet) -> Validation:
    """The validation of ``obj`` against ``schemas``, computed once; marks the invalid fields on ``obj``.

    A built-in object of a manifest is validated against the built-in types alone, so its validation is
    kept under them (``schemas.builtin``, one per version): any schema set of that version, with or
    without CRDs (:func:`builtin_schemas`), finds it."""
    builtin = not schemas.live and not config_file(obj) and schemas.builtin.kind(obj.api_version, obj.kind) is not None
    key = (_MEMO, schemas.builtin if builtin else schemas)
    hit: Validation | None = obj.memo.get(key)
    if hit is None:
        hit = _validate(obj, schemas)
        reasons = {i.path: i.reason for i in hit.issues if i.invalid}
        if reasons:
            obj.mark_invalid(reasons)
        obj.memo[key] = hit
    return hit


def _from_json(obj: K8sObject) -> bool:
    doc = obj.source.doc
    return doc is not None and doc.is_json


def _validate(obj: K8sObject, schemas: SchemaSet) -> Validation:
    if config_file(obj):
        return Validation(CONFIG, (), "a configuration file, not an API object")
    if schemas.live:
        return _validate_live(obj, schemas)
    api, kind = obj.api_version, obj.kind
    t = schemas.builtin.kind(api, kind)
    if t is not None:
        issues = validate_builtin(obj.raw, t, from_json=_from_json(obj))
        return Validation(BUILTIN, tuple(issues), f"{api} {kind} (Kubernetes {schemas.kubernetes})")
    group = obj.group
    version = api.rsplit("/", 1)[-1]
    if builtin_group(group):
        return Validation(UNSERVED, (), f"{api} {kind} is not served by Kubernetes {schemas.kubernetes}")
    cv = schemas.crds.find(group, version, kind) or _by_file(schemas.crds, group, version, kind)
    meta = schemas.builtin.object_meta
    if cv is None:
        known = schemas.crds.versions(group, kind)
        if known:
            served = ", ".join(v for v, c in known.items() if c.served) or "none"
            crd = next(iter(known.values())).name
            issue = SchemaIssue(
                "version", ("apiVersion",), f"{version} is not a version of CRD {crd} (served: {served})", False, True
            )
            return Validation(CUSTOM, (issue,), f"CRD {crd}")
        return Validation(UNKNOWN, (), f"no schema for {api} {kind}")
    if not cv.served:
        issue = SchemaIssue(
            "version", ("apiVersion",), f"version {version} of CRD {cv.name} is not served", False, True
        )
        return Validation(CUSTOM, (issue,), f"CRD {cv.name}")
    issues = validate_custom(obj.raw, cv, meta, from_json=_from_json(obj))
    return Validation(CUSTOM, tuple(issues), f"CRD {cv.name} {cv.version}")


@functools.lru_cache(maxsize=4096)
def _served(api: str, kind: str, server: str) -> Validation:
    """One validation per served kind, shared by its objects (a cluster has 100,000s of them)."""
    return Validation(SERVED, (), f"{api} {kind} was decoded by {server}")


def _validate_live(obj: K8sObject, schemas: SchemaSet) -> Validation:
    """An object read from a cluster: only custom resources are validated (see :mod:`.live`)."""
    api, kind, group = obj.api_version, obj.kind, obj.group
    if builtin_group(group):
        return _served(api, kind, "the API server")
    version = api.rsplit("/", 1)[-1]
    if (group, version, kind) in schemas.served:
        return _served(api, kind, "the aggregated API server serving it")
    cv = schemas.crds.find(group, version, kind) or _by_file(schemas.crds, group, version, kind)
    if cv is None:
        return Validation(
            UNKNOWN,
            (),
            f"no schema for {api} {kind}: the cluster publishes none in /openapi/v3 and its CRD was not read",
        )
    issues = validate_custom(obj.raw, cv, schemas.builtin.object_meta, from_json=True)
    return Validation(CUSTOM, tuple(issues), f"CRD {cv.name} {cv.version}")


def _by_file(crds: CrdIndex, group: str, version: str, kind: str) -> CrdVersion | None:
    return crds.by_kind.get((group, f"\0{kind.lower()}"), {}).get(version)
