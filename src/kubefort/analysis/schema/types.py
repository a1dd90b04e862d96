"""The compiled schema types the validator walks, and the words messages use for values.

A built-in Kubernetes type is one of: a primitive (a small int code below, checked by how the API server
decodes that Go type), a :class:`Struct` (a Go struct: strict decoding refuses any field it does not
define), a :class:`ListOf`, a :class:`MapOf` or an :class:`OrProps` (the apiextensions
``JSONSchemaPropsOr*`` types, which decode either a schema or something else).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# primitive type codes: compared by identity in the validator's hot loop
STRING = 0
BOOLEAN = 1
INT32 = 2
INT64 = 3
NUMBER = 4
INT_OR_STRING = 5
QUANTITY = 6
DATE_TIME = 7
MICRO_TIME = 8
BYTE = 9
ANY = 10

#: the primitive names of the compact bundle format (scripts/gen_schema_bundle.py)
PRIMITIVES = {
    "string": STRING,
    "boolean": BOOLEAN,
    "int32": INT32,
    "int64": INT64,
    "number": NUMBER,
    "int-or-string": INT_OR_STRING,
    "quantity": QUANTITY,
    "date-time": DATE_TIME,
    "micro-time": MICRO_TIME,
    "byte": BYTE,
    "any": ANY,
}

EXPECTED = {
    STRING: "a string",
    BOOLEAN: "a boolean",
    INT32: "an integer (int32)",
    INT64: "an integer (int64)",
    NUMBER: "a number",
    INT_OR_STRING: "an integer or a string",
    QUANTITY: "a quantity (a number, or a string such as 500m or 2Gi)",
    DATE_TIME: "a date-time string (RFC 3339, e.g. 2024-01-31T12:00:00Z)",
    MICRO_TIME: "a date-time string with microseconds (e.g. 2024-01-31T12:00:00.000000Z)",
    BYTE: "base64-encoded data",
    ANY: "any value",
}


@dataclass(eq=False, slots=True)
class Struct:
    """A Go struct: its JSON fields and the ones the OpenAPI schema marks required."""

    name: str  # the definition name, e.g. io.k8s.api.core.v1.Container
    fields: dict[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]


@dataclass(frozen=True, eq=False, slots=True)
class ListOf:
    item: Any


@dataclass(frozen=True, eq=False, slots=True)
class MapOf:
    value: Any


@dataclass(frozen=True, eq=False, slots=True)
class OrProps:
    """``JSONSchemaPropsOrBool`` (a boolean or a schema), ``...OrArray`` (a schema or a list of schemas),
    ``...OrStringArray`` (a schema or a list of strings)."""

    alt: str  # boolean | list | string-list
    props: Struct


def expected(t: Any) -> str:
    """How a message names what a type expects."""
    if isinstance(t, int):
        return EXPECTED[t]
    if isinstance(t, Struct):
        return f"an object ({t.short})"
    if isinstance(t, ListOf):
        return "a list"
    if isinstance(t, MapOf):
        return "a map"
    if isinstance(t, OrProps):
        other = {"boolean": "a boolean", "list": "a list of schemas", "string-list": "a list of strings"}[t.alt]
        return f"a schema object or {other}"
    return "a value"


QUOTE_MAX = 40  # characters of a quoted value a message shows

#: types whose values messages may quote: structural settings (privileged, replicas, ports, cpu), never
#: free text, where secrets live
REVEALED = frozenset({BOOLEAN, INT32, INT64, NUMBER, INT_OR_STRING, QUANTITY, DATE_TIME, MICRO_TIME})


def quote(value: Any) -> str:
    """A value as messages quote it: JSON-like, and cut when long (hostile input can be huge)."""
    if isinstance(value, str):
        if len(value) > QUOTE_MAX:
            return json.dumps(value[:QUOTE_MAX], ensure_ascii=False)[:-1] + f'…" ({len(value)} characters)'
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= QUOTE_MAX else text[:QUOTE_MAX] + f"… ({len(text)} digits)"
    return ""


def found(value: Any, reveal: bool = True) -> str:
    """How a message names a value that has the wrong type: ``a string ("true")``. With ``reveal``
    False only its type: values of free-text fields (env values, data, annotations) may be secrets,
    and reports never quote those."""
    shown = f" ({quote(value)})" if reveal else ""
    if isinstance(value, bool):
        return f"a boolean{shown}"
    if isinstance(value, str):
        return f"a string{shown}"
    if isinstance(value, int):
        return f"an integer{shown}"
    if isinstance(value, float):
        return f"a number{shown}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return f"a {type(value).__name__}"
