"""The schemas of a live cluster: its own ``/openapi/v3`` (docs/schema.md, "Live clusters").

What validation means for objects an API server already accepted:

- built-in objects, and those of aggregated API servers (metrics.k8s.io, Kasten K10's actions), were
  decoded into their Go type and encoded back by the server that serves them: they match their schema
  by construction. They are not validated (status :data:`.source.SERVED`), and KF-SCHEMA-001..005
  (unknown field, wrong type, required field, duplicate key, kind not served) stay manifest-only;
- custom resources are stored as JSON and validated against their CRD's schema only when written. A
  CRD that changes (an operator upgrade that tightens a type, adds an enum or a required field) leaves
  the objects stored before it as they were: the API server prunes fields the new schema does not know,
  but does not validate the rest again, and validation ratcheting lets updates keep the invalid
  values. Those objects are what KF-SCHEMA-006 reports in cluster mode, against the schema the cluster
  publishes now; their invalid fields leave the rules that read them not evaluated, as in manifests
  (the operator decodes them with the same types, and a recreate, a restore or a GitOps re-apply
  would be refused).

The cluster publishes each custom resource's schema in the document of its group-version, as the
apiextensions server derives it from the CRD (``metadata`` a reference to ObjectMeta, everything
else inline). A kind whose published schema refers to other named types is a Go type of an aggregated
API server: served, not validated. The objects' ``status`` is the controllers' output, written through
the status subresource: not validated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .crd import CrdIndex, CrdVersion
from .openapi import Bundle, compile_definitions

#: the meta/v1 types (ObjectMeta, ListMeta, Time...): a custom resource's published schema refers to these only
META_PREFIX = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META_PREFIX + "ObjectMeta"
SOURCE = "the cluster's /openapi/v3"


def _refs(schema: Any) -> Iterator[str]:
    """Every ``$ref`` target in a schema (iteratively: published schemas nest deep)."""
    todo = [schema]
    while todo:
        s = todo.pop()
        if isinstance(s, Mapping):
            ref = s.get("$ref")
            if isinstance(ref, str):
                yield ref
            todo.extend(s.values())
        elif isinstance(s, list):
            todo.extend(s)


def custom_resource_schema(schema: Mapping[str, Any]) -> bool:
    """Whether a published kind's schema is a custom resource's (inline, referring to meta/v1 types only)
    rather than the Go type of an aggregated API server (referring to its own named types)."""
    return all(r.rsplit("/", 1)[-1].startswith(META_PREFIX) for r in _refs(schema))


def _gvks(schema: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for gvk in schema.get("x-kubernetes-group-version-kind") or ():
        if isinstance(gvk, Mapping) and all(isinstance(gvk.get(k), str) for k in ("group", "version", "kind")):
            out.append((gvk["group"], gvk["version"], gvk["kind"]))
    return out


def published(
    documents: Mapping[str, Mapping[str, Any]], crds: CrdIndex, builtin: frozenset[str]
) -> tuple[set[tuple[str, str, str]], dict[str, Any]]:
    """Add the custom resource schemas of ``documents`` (group/version -> OpenAPI v3 document) to ``crds``;
    the (group, version, kind) of the aggregated API types found, and the meta/v1 definitions met.
    Kinds of ``builtin`` groups are left out (never validated live)."""
    served: set[tuple[str, str, str]] = set()
    meta: dict[str, Any] = {}
    for gv, doc in sorted(documents.items()):
        components = doc.get("components")
        schemas = components.get("schemas") if isinstance(components, Mapping) else None
        if not isinstance(schemas, Mapping):
            continue
        local = {n: s for n, s in schemas.items() if isinstance(n, str) and n.startswith(META_PREFIX)}
        meta.update(local)
        for _, schema in sorted(schemas.items()):
            if not isinstance(schema, Mapping):
                continue
            for group, version, kind in _gvks(schema):
                if group in builtin or f"{group}/{version}" != gv or _is_list(schema, kind):
                    continue
                if not custom_resource_schema(schema):
                    served.add((group, version, kind))
                    continue
                crds.add(
                    CrdVersion(
                        name=f"{kind}.{group} from /openapi/v3",
                        group=group,
                        version=version,
                        kind=kind,
                        # references resolve in the document's meta/v1 definitions (.crd.SchemaWalker.resolve)
                        schema={**schema, "components": {"schemas": local}},
                        status_subresource=True,
                    )
                )
    return served, meta


def _is_list(schema: Mapping[str, Any], kind: str) -> bool:
    props = schema.get("properties")
    return kind.endswith("List") and isinstance(props, Mapping) and "items" in props


def meta_bundle(meta: Mapping[str, Any], fallback: Bundle, kubernetes: str) -> Bundle:
    """A bundle of the cluster's meta/v1 types (ObjectMeta for the custom resources' metadata), without
    kinds: no object is validated as a built-in type in cluster mode. ``fallback``'s when there are none."""
    if OBJECT_META in meta:
        compiled = Bundle.from_compact(compile_definitions(meta, kubernetes=kubernetes, source=SOURCE))
        if OBJECT_META in compiled.structs:
            return Bundle(kubernetes=kubernetes, source=SOURCE, kinds={}, structs=compiled.structs)
    return Bundle(kubernetes=kubernetes, source=fallback.source, kinds={}, structs=fallback.structs)
