"""The bundled schema against a second source: the official Kubernetes Python client's models.

The bundle comes from kubernetes-json-schema (via the kubernetes-validate wheel); the client
(``kubernetes==37.0.3``, Kubernetes 1.37) generates its pydantic models from the upstream OpenAPI
document by another tool. For every struct of the 1.37 bundle the client's model must have the same
JSON field names, the same required fields, and field types of the same kind.
"""

from __future__ import annotations

import datetime
import typing
from typing import Any

import pytest

from kubefort.analysis.schema import types as st
from kubefort.analysis.schema.bundle import load_bundle

models = pytest.importorskip("kubernetes.client.models")
pydantic = pytest.importorskip("pydantic")

BUNDLE = load_bundle("1.37")


def _classes() -> dict[str, Any]:
    out = {}
    for name in dir(models):
        cls = getattr(models, name)
        if name[:1].isupper() and isinstance(cls, type) and issubclass(cls, pydantic.BaseModel):
            out[name] = cls
    return out


CLASSES = _classes()


def _model(definition: str) -> Any:
    """The client's class for a definition: ``V1Container``, or ``CoreV1EndpointPort`` when two groups
    define the same name."""
    *_, group, version, kind = definition.split(".")
    for name in (f"{group.replace('-', '').capitalize()}{version.capitalize()}{kind}", f"{version.capitalize()}{kind}"):
        if name in CLASSES:
            return CLASSES[name]
    return None


def _unwrap(a: Any) -> Any:
    while typing.get_origin(a) is typing.Annotated:
        a = typing.get_args(a)[0]
    if typing.get_origin(a) is typing.Union:
        args = [x for x in typing.get_args(a) if x is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
        return frozenset(_unwrap(x) for x in args)
    return a


# how the client types each primitive of the bundle
PRIMITIVE = {
    st.STRING: str,
    st.BOOLEAN: bool,
    st.INT32: int,
    st.INT64: int,
    st.NUMBER: frozenset({float, int}),
    st.INT_OR_STRING: frozenset({int, str}),
    st.QUANTITY: str,
    st.DATE_TIME: datetime.datetime,
    st.MICRO_TIME: datetime.datetime,
    st.BYTE: frozenset({bytes, str}),
}


def _same_kind(ours: Any, theirs: Any) -> bool:
    theirs = _unwrap(theirs)
    origin = typing.get_origin(theirs)
    if isinstance(ours, int):
        if ours == st.ANY:
            return theirs is Any or origin is dict
        return PRIMITIVE[ours] == theirs
    if isinstance(ours, st.ListOf):
        return origin is list and _same_kind(ours.item, typing.get_args(theirs)[0])
    if isinstance(ours, st.MapOf):
        return origin is dict and _same_kind(ours.value, typing.get_args(theirs)[1])
    if isinstance(ours, st.OrProps):
        return True  # the client keeps JSONSchemaPropsOr* as free objects
    if isinstance(ours, st.Struct):
        if not ours.fields:
            return origin is dict  # a struct without fields: the client has no class, a free object
        return isinstance(theirs, type) and theirs is _model(ours.name)
    return False


def test_every_struct_has_the_clients_fields_required_fields_and_types() -> None:
    checked, problems = 0, []
    for name, struct in sorted(BUNDLE.structs.items()):
        cls = _model(name)
        if cls is None:
            assert not struct.fields, f"{name}: no client model"  # only structs without fields lack one
            continue
        checked += 1
        fields = {f.serialization_alias or k: f for k, f in cls.model_fields.items()}
        if set(fields) != set(struct.fields):
            problems.append(f"{name}: fields differ: {sorted(set(fields) ^ set(struct.fields))}")
            continue
        required = {k for k, f in fields.items() if f.is_required()}
        if required != set(struct.required):
            problems.append(f"{name}: required {sorted(struct.required)} vs client {sorted(required)}")
        for k, t in struct.fields.items():
            if not _same_kind(t, fields[k].annotation):
                problems.append(f"{name}.{k}: {st.expected(t)} vs client {fields[k].annotation}")
    assert not problems, "\n".join(problems[:40])
    assert checked > 800


def test_the_served_kinds_have_client_models() -> None:
    missing = [
        f"{gv} {kind}"
        for gv, kinds in BUNDLE.kinds.items()
        for kind, struct in kinds.items()
        if _model(struct.name) is None
    ]
    assert not missing
