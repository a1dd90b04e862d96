"""Kubernetes OpenAPI definitions compiled into the compact form kubefort bundles, and loaded back.

The same compiler serves the bundle generator (``scripts/gen_schema_bundle.py``, from the JSON schemas of
a pinned release) and is meant for live mode, where a cluster's own ``/openapi/v2`` definitions or
``/openapi/v3`` component schemas are compiled the same way (``$ref`` to ``#/definitions/`` or
``#/components/schemas/``, a reference wrapped in ``allOf``): a :class:`Bundle` does not care where its
definitions came from.

Compact form::

    {"kubernetes": "1.37", "source": "...", "names": [definition names],
     "types": [one compiled entry per definition, in the order of names],
     "kinds": {"apps/v1": {"Deployment": <index>}, "v1": {...}}}

A type reference is an index into ``types``, a primitive name (:data:`.types.PRIMITIVES`), or
``["list", ref]`` / ``["map", ref]``. A compiled definition is a type reference, a struct
``{"fields": {name: ref}, "required": [...]}``, or ``["or", "boolean"|"list"|"string-list", ref]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .types import PRIMITIVES, ListOf, MapOf, OrProps, Struct

#: definitions whose Go type decodes any JSON value (a custom UnmarshalJSON keeping the raw bytes)
ANY_TYPES = frozenset(
    {
        "io.k8s.apimachinery.pkg.runtime.RawExtension",
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    }
)
#: definitions with decoding rules of their own
SPECIAL = {
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "int-or-string",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "date-time",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "micro-time",
}
PROPS = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
OR_TYPES = {PROPS + "OrBool": "boolean", PROPS + "OrArray": "list", PROPS + "OrStringArray": "string-list"}
#: request bodies registered under every group, never objects of their own
NOT_OBJECTS = frozenset({"DeleteOptions", "WatchEvent"})


def _types(schema: Mapping[str, Any]) -> set[str]:
    t = schema.get("type")
    if t is None:
        return set()
    return {t} if isinstance(t, str) else set(t)


def _ref_name(schema: Mapping[str, Any]) -> str | None:
    ref = schema.get("$ref")
    if ref is None:
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
            ref = all_of[0].get("$ref")
    return ref.rsplit("/", 1)[1] if isinstance(ref, str) else None


class _Compiler:
    def __init__(self, defs: Mapping[str, Mapping[str, Any]]) -> None:
        self.defs = defs
        self.names = sorted(defs)
        self.index = {n: i for i, n in enumerate(self.names)}

    def ref(self, schema: Mapping[str, Any]) -> Any:
        """The type reference of a property, item or map-value schema."""
        name = _ref_name(schema)
        if name is not None:
            return self.index.get(name, "any")
        if schema.get("x-kubernetes-int-or-string"):
            return "int-or-string"
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return "any"
        types = _types(schema) - {"null"}
        fmt = str(schema.get("format") or "")
        if types == {"string"}:
            return {"byte": "byte", "date-time": "date-time", "int-or-string": "int-or-string"}.get(fmt, "string")
        if types == {"boolean"}:
            return "boolean"
        if types == {"integer"}:
            return "int32" if fmt == "int32" else "int64"
        if types == {"number"}:
            return "number"
        if types == {"array"}:
            return ["list", self.ref(schema.get("items") or {})]
        if types == {"object"} and "properties" not in schema:
            ap = schema.get("additionalProperties")
            return ["map", self.ref(ap)] if isinstance(ap, Mapping) else "any"
        return "any"  # an inline struct or a union the decoder does not type: not checked

    def definition(self, name: str) -> Any:
        if name in ANY_TYPES:
            return "any"
        if name in SPECIAL:
            return SPECIAL[name]
        if name in OR_TYPES:
            return ["or", OR_TYPES[name], self.index[PROPS]]
        d = self.defs[name]
        if "properties" not in d:
            if _types(d) - {"null"} == {"object"} and "additionalProperties" not in d:
                return {"fields": {}, "required": []}  # a struct without fields: any field is unknown
            return self.ref(d)
        # a Go struct: closed under strict decoding, whatever additionalProperties says
        fields = {k: self.ref(v) for k, v in sorted(d["properties"].items())}
        return {"fields": fields, "required": sorted(d.get("required") or [])}

    def kinds(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for name in self.names:
            d = self.defs[name]
            for gvk in d.get("x-kubernetes-group-version-kind") or ():
                if gvk["kind"] in NOT_OBJECTS or "properties" not in d:
                    continue
                gv = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                out.setdefault(gv, {})[gvk["kind"]] = self.index[name]
        return {gv: dict(sorted(k.items())) for gv, k in sorted(out.items())}


def compile_definitions(defs: Mapping[str, Mapping[str, Any]], *, kubernetes: str, source: str) -> dict[str, Any]:
    """The compact form of OpenAPI ``definitions`` (name -> schema)."""
    c = _Compiler(defs)
    return {
        "kubernetes": kubernetes,
        "source": source,
        "names": c.names,
        "types": [c.definition(n) for n in c.names],
        "kinds": c.kinds(),
    }


@dataclass(eq=False, slots=True)
class Bundle:
    """The built-in types of one Kubernetes version, ready to validate with."""

    kubernetes: str
    source: str
    kinds: dict[str, dict[str, Struct]]  # apiVersion -> kind -> type
    structs: dict[str, Struct] = field(default_factory=dict)  # definition name -> struct

    def kind(self, api_version: str, kind: str) -> Struct | None:
        by_kind = self.kinds.get(api_version)
        return by_kind.get(kind) if by_kind is not None else None

    @property
    def object_meta(self) -> Struct:
        return self.structs["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]

    @classmethod
    def from_compact(cls, data: Mapping[str, Any]) -> Bundle:
        names: list[str] = data["names"]
        entries: list[Any] = data["types"]
        # structs first (empty), so references, recursive ones included, resolve to the same objects
        resolved: list[Any] = [Struct(n) if isinstance(e, dict) else None for n, e in zip(names, entries)]

        def ref(r: Any) -> Any:
            if isinstance(r, int):
                return entry(r)
            if isinstance(r, str):
                return PRIMITIVES[r]
            if r[0] == "list":
                return ListOf(ref(r[1]))
            return MapOf(ref(r[1]))

        def entry(i: int) -> Any:
            if resolved[i] is None:
                e = entries[i]
                if isinstance(e, list) and e[0] == "or":
                    props = entry(e[2])
                    assert isinstance(props, Struct)
                    resolved[i] = OrProps(e[1], props)
                else:
                    resolved[i] = ref(e)
            return resolved[i]

        for i, e in enumerate(entries):
            if isinstance(e, dict):
                s = resolved[i]
                s.fields = {k: ref(v) for k, v in e["fields"].items()}
                s.required = tuple(e["required"])
        kinds = {gv: {k: entry(i) for k, i in by_kind.items()} for gv, by_kind in data["kinds"].items()}
        structs = {n: s for n, s in zip(names, resolved) if isinstance(s, Struct)}
        return cls(kubernetes=data["kubernetes"], source=data["source"], kinds=kinds, structs=structs)
