"""The test API server's ``/openapi/v3``: OpenAPI 3.0 documents per group-version, as a cluster publishes them.

Shaped as the API reference documents it (https://kubernetes.io/docs/concepts/overview/kubernetes-api/
#openapi-v3): ``GET /openapi/v3`` is a discovery document listing every group-version path with the
URL of its document, whose ``hash`` query parameter names its content::

    {"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=4C8B..."},
               "apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=..."}}}

and ``GET /openapi/v3/apis/apps/v1?hash=...`` the group-version's document (``openapi: 3.0.0``), whose
``components.schemas`` hold every definition its kinds reach, each kind's with
``x-kubernetes-group-version-kind``, references as ``allOf: [{$ref: "#/components/schemas/..."}]``.

- built-in group-versions: generated from kubefort's bundled schema data of the server's minor (a
  subset of the real documents: names, types, required fields; enough to compile back to the same
  types, which ``test_cluster_schema`` checks);
- custom resources: the schema of each served version of their CustomResourceDefinition, published
  as the apiextensions server does: ``metadata`` a reference to ObjectMeta, ``apiVersion``/``kind``
  strings, the name the group reversed (``io.cert-manager.v1.Certificate``) and a ``...List`` type;
- other group-versions (an aggregated API without a schema here) and groups whose discovery is down
  are not published.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

from .store import Store

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"
LIST_META = META + "ListMeta"

_PRIMITIVES: Mapping[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"},
    "number": {"type": "number", "format": "double"},
    "byte": {"type": "string", "format": "byte"},
    "date-time": {"type": "string", "format": "date-time"},
    "micro-time": {"type": "string", "format": "date-time"},
    "int-or-string": {"type": "string", "format": "int-or-string"},
    "quantity": {"type": "string"},
    "any": {},
}


@cache
def compact(minor: str) -> dict[str, Any]:
    """kubefort's bundled schema data of one minor (``scripts/gen_schema_bundle.py``'s compact form)."""
    data = resources.files("kubefort").joinpath("data", "schemas", f"v{minor}.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))  # type: ignore[no-any-return]


def bundled_minor(minor: str) -> str:
    index = json.loads(resources.files("kubefort").joinpath("data", "schemas", "index.json").read_text())
    versions: list[str] = index["versions"]
    return minor if minor in versions else versions[-1]


class _Builtin:
    """Components of the built-in group-versions, from the compact form back to OpenAPI v3."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.names: list[str] = data["names"]
        self.types: list[Any] = data["types"]
        self.kinds: Mapping[str, Mapping[str, int]] = data["kinds"]

    def ref(self, r: Any) -> dict[str, Any]:
        if isinstance(r, int):
            target = f"#/components/schemas/{self.names[r]}"
            if isinstance(self.types[r], dict):  # a struct: wrapped, as the API server writes it
                return {"default": {}, "allOf": [{"$ref": target}]}
            return {"$ref": target}
        if isinstance(r, str):
            return dict(_PRIMITIVES[r])
        if r[0] == "list":
            return {"type": "array", "items": self.ref(r[1])}
        return {"type": "object", "additionalProperties": self.ref(r[1])}

    def definition(self, i: int) -> dict[str, Any]:
        e = self.types[i]
        if isinstance(e, dict):
            d: dict[str, Any] = {"type": "object"}
            if e["fields"]:
                d["properties"] = {k: self.ref(v) for k, v in e["fields"].items()}
            if e["required"]:
                d["required"] = list(e["required"])
            return d
        if isinstance(e, list) and e[0] == "or":
            return {}  # JSONSchemaPropsOrBool and the like: known by name
        return self.ref(e)

    def reached(self, roots: Iterable[int]) -> list[int]:
        seen: set[int] = set()
        todo = list(roots)
        while todo:
            i = todo.pop()
            if i in seen:
                continue
            seen.add(i)
            todo.extend(_refs(self.types[i]))
        return sorted(seen)

    def components(self, gv: str) -> dict[str, Any]:
        kinds = self.kinds.get(gv) or {}
        out = {self.names[i]: self.definition(i) for i in self.reached(kinds.values())}
        group, _, version = gv.rpartition("/")
        for kind, i in kinds.items():
            out[self.names[i]]["x-kubernetes-group-version-kind"] = [{"group": group, "version": version, "kind": kind}]
        return out

    def meta(self) -> dict[str, Any]:
        """ObjectMeta, ListMeta and what they reach (every custom resource document has them)."""
        roots = [self.names.index(OBJECT_META), self.names.index(LIST_META)]
        return {self.names[i]: self.definition(i) for i in self.reached(roots)}


def _refs(e: Any) -> Iterable[int]:
    if isinstance(e, int):
        yield e
    elif isinstance(e, dict):
        for v in e["fields"].values():
            yield from _refs(v)
    elif isinstance(e, list):
        yield from _refs(e[-1])


def reversed_group(group: str) -> str:
    """``cert-manager.io`` -> ``io.cert-manager``: how the apiextensions server names published schemas."""
    return ".".join(reversed(group.split(".")))


def crd_versions(store: Store) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """group/version -> [(kind, openAPIV3Schema)] of the CustomResourceDefinitions the store holds."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    crds = store.types.get(("apiextensions.k8s.io", "customresourcedefinitions"))
    for crd in sorted((crds.objects.values() if crds else ()), key=lambda o: o["metadata"]["name"]):
        spec = crd.get("spec") if isinstance(crd.get("spec"), dict) else {}
        group, names = spec.get("group"), spec.get("names") if isinstance(spec.get("names"), dict) else {}
        kind = names.get("kind")
        if not isinstance(group, str) or not isinstance(kind, str):
            continue
        for v in spec.get("versions") or ():
            schema = ((v.get("schema") or {}).get("openAPIV3Schema")) if isinstance(v, dict) else None
            if isinstance(schema, dict) and v.get("served") is not False and isinstance(v.get("name"), str):
                out.setdefault(f"{group}/{v['name']}", []).append((kind, schema))
    return out


def published(group: str, version: str, kind: str, schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A CRD version's schema as the cluster publishes it: the kind and its list type."""
    name = f"{reversed_group(group)}.{version}.{kind}"
    body = copy.deepcopy(dict(schema))
    props = dict(body.get("properties") or {})
    props["apiVersion"] = {"type": "string"}
    props["kind"] = {"type": "string"}
    props["metadata"] = {"allOf": [{"$ref": f"#/components/schemas/{OBJECT_META}"}]}
    body["properties"] = props
    body.setdefault("type", "object")
    gvk = {"group": group, "version": version, "kind": kind}
    body["x-kubernetes-group-version-kind"] = [gvk]
    lst = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"allOf": [{"$ref": f"#/components/schemas/{name}"}]}},
            "metadata": {"allOf": [{"$ref": f"#/components/schemas/{LIST_META}"}]},
        },
        "x-kubernetes-group-version-kind": [{**gvk, "kind": f"{kind}List"}],
    }
    return {name: body, f"{name}List": lst}


def _document(
    gv: str, schemas: Mapping[str, Any], resources_: Iterable[tuple[str, bool]], version: str
) -> dict[str, Any]:
    group, _, v = gv.rpartition("/")
    base = f"/apis/{gv}" if group else f"/api/{v}"
    paths = {}
    for resource, namespaced in resources_:
        url = f"{base}/namespaces/{{namespace}}/{resource}" if namespaced else f"{base}/{resource}"
        paths[url] = {"get": {"operationId": f"list{resource}", "responses": {"200": {"description": "OK"}}}}
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}},
        },
    }


def documents(store: Store, server_version: Mapping[str, str], down: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Every published group-version's document, by its path (``api/v1``, ``apis/apps/v1``)."""
    minor = bundled_minor(f"{server_version.get('major', '1')}.{str(server_version.get('minor', '')).rstrip('+')}")
    builtin = _Builtin(compact(minor))
    git = str(server_version.get("gitVersion") or "")
    crds = crd_versions(store)
    skip = set(down)
    out: dict[str, dict[str, Any]] = {}
    for group, versions in store.groups().items():
        if group in skip:
            continue
        for v in versions:
            gv = f"{group}/{v}" if group else v
            served = [(t.resource, t.namespaced) for t in store.types.values() if t.group == group and v in t.versions]
            if gv in builtin.kinds:
                schemas = builtin.components(gv)
            elif gv in crds:
                schemas = builtin.meta()
                for kind, schema in crds[gv]:
                    schemas.update(published(group, v, kind, schema))
            else:
                continue
            key = f"apis/{gv}" if group else f"api/{v}"
            out[key] = _document(gv, schemas, sorted(served), git)
    return out


def digest(doc: Mapping[str, Any]) -> str:
    """The ``hash`` of a document's URL: sha512 of its bytes, as upper-case hex (like the API server's)."""
    return hashlib.sha512(encode(doc)).hexdigest().upper()


def encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def discovery(docs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {"paths": {k: {"serverRelativeURL": f"/openapi/v3/{k}?hash={digest(d)}"} for k, d in sorted(docs.items())}}
