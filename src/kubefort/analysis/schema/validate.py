"""Built-in objects checked the way the API server decodes them under strict field validation.

What the API server does with a manifest (``kubectl apply``, Helm, the API itself): YAML becomes JSON
(sigs.k8s.io/yaml, go-yaml v2), then JSON is decoded into the Go type with a case-sensitive, strict
decoder that reports unknown and duplicate fields; a value of the wrong JSON type is an error. So:

- ``null`` is accepted for every field: the field keeps its zero value (and a required field is then
  missing). A ``null`` item of a list of structs becomes an empty struct.
- Integers: int32/int64 ranges. A YAML float with an integral value (``replicas: 1.0``, ``1e3``) is
  accepted, because the YAML-to-JSON step writes it as ``1``/``1000``; from a JSON file it is not.
- IntOrString: a string, or an integer in int32. Quantity: a number, or a string in quantity syntax
  (``500m``, ``1.5Gi``, ``1e3``); anything else fails to parse and the object is refused.
- Time: an RFC 3339 string (MicroTime: with exactly six fractional digits); ``byte``: base64 text.
- RawExtension, JSON and FieldsV1 take any value; every other struct is closed: a field it does not
  define is an unknown field (a struct without fields included).
- ``required`` (from the OpenAPI schema) is not checked under the top-level ``status``: the API server
  resets the status of an object it creates.

Map keys that YAML reads as numbers or booleans become strings in JSON, so they are accepted as such.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...engine.findings import format_path
from ...model.objects import Path
from .types import (
    ANY,
    BOOLEAN,
    BYTE,
    DATE_TIME,
    INT32,
    INT64,
    INT_OR_STRING,
    MICRO_TIME,
    NUMBER,
    QUANTITY,
    REVEALED,
    STRING,
    ListOf,
    MapOf,
    OrProps,
    Struct,
    expected,
    found,
    quote,
)

INT32_RANGE = (-(2**31), 2**31 - 1)
INT64_RANGE = (-(2**63), 2**63 - 1)
_RANGES = {INT32: INT32_RANGE, INT64: INT64_RANGE, INT_OR_STRING: INT32_RANGE}
MAX_DEPTH = 200  # fields deeper than this are not checked (recursive types, hostile nesting)

# resource.ParseQuantity: sign, digits with at most one point, then a suffix: binary (Ki..Ei),
# decimal SI (n u m k M G T P E) or a decimal exponent (e3, E-2); surrounding spaces are trimmed
_QUANTITY = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))",
)


@dataclass(frozen=True, slots=True)
class SchemaIssue:
    """One thing the API server would refuse (or drop) in an object."""

    code: str  # unknown | type | required | value (a CRD constraint) | version (not a version of the CRD)
    path: Path
    message: str
    invalid: bool  # the value cannot be judged: rules that read it are not evaluated
    custom: bool = False  # found against a CustomResourceDefinition's schema (KF-SCHEMA-006)

    @property
    def reason(self) -> str:
        """What a rule that read the field says when it is not evaluated."""
        return f"field {format_path(self.path) or '(the object)'} is invalid: {self.message}"


def is_quantity(text: str) -> bool:
    return _QUANTITY.fullmatch(text.strip()) is not None


def is_time(text: str, micro: bool = False) -> bool:
    """Go ``time.Parse(time.RFC3339, s)`` (``RFC3339Micro``: exactly six fractional digits)."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        return False
    frac = m.group(7)
    if micro and (frac is None or len(frac) != 7):
        return False
    y, mo, d, h, mi, sec = (int(m.group(i)) for i in range(1, 7))
    try:
        datetime.datetime(y, mo, d, h, mi, sec)
    except ValueError:
        return False
    return m.group(9) is None or (int(m.group(9)) < 24 and int(m.group(10)) < 60)


def is_base64(text: str) -> bool:
    """Go's ``base64.StdEncoding`` as encoding/json decodes ``[]byte``: padded, newlines ignored."""
    try:
        base64.b64decode(text.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def json_key(key: Any) -> str:
    """The JSON key a YAML mapping key becomes (sigs.k8s.io/yaml writes scalars as strings)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


class Walker:
    """Walks one object against its type and collects :class:`SchemaIssue` s."""

    __slots__ = ("custom", "from_json", "issues", "no_required", "root")

    def __init__(self, root: Struct, *, from_json: bool = False, custom: bool = False) -> None:
        self.root = root
        self.from_json = from_json  # JSON input: numbers are decoded as written (no float -> int)
        self.custom = custom
        self.issues: list[SchemaIssue] = []
        self.no_required = False

    # -- issues ---------------------------------------------------------------------------------
    def add(self, code: str, path: Path, message: str, invalid: bool) -> None:
        self.issues.append(SchemaIssue(code, path, message, invalid, self.custom))

    def wrong(self, value: Any, t: Any, path: Path, detail: str | None = None) -> None:
        reveal = isinstance(t, int) and t in REVEALED
        self.add("type", path, detail or f"expected {expected(t)}, found {found(value, reveal)}", True)

    # -- walking ----------------------------------------------------------------------------------
    def value(self, v: Any, t: Any, path: Path) -> None:
        if v is None:
            return
        tt = type(t)
        if tt is int:
            self.primitive(v, t, path)
        elif tt is Struct:
            self.struct(v, t, path)
        elif tt is ListOf:
            self.list(v, t, path)
        elif tt is MapOf:
            self.map(v, t, path)
        elif tt is OrProps:
            self.or_props(v, t, path)

    def struct(self, v: Any, t: Struct, path: Path) -> None:
        if not isinstance(v, dict):
            self.wrong(v, t, path)
            return
        if len(path) > MAX_DEPTH:
            return
        fields = t.fields
        for k, x in v.items():
            ft = fields.get(k)
            if ft is None:
                if type(k) is not str and json_key(k) in fields:
                    ft = fields[json_key(k)]
                else:
                    self.unknown(k, t, path)
                    continue
            if x is None:
                continue
            tf = type(ft)
            if tf is int:
                # the common cases inline; anything else takes the full check
                if (
                    (ft is STRING and type(x) is str)
                    or (ft is BOOLEAN and type(x) is bool)
                    or (ft is INT32 and type(x) is int and -2147483648 <= x <= 2147483647)
                    or ft is ANY
                ):
                    continue
                self.primitive(x, ft, path + (k,))
            elif tf is Struct:
                if not path and k == "status":
                    # the API server resets the status of an object it creates: nothing there is required
                    self.no_required, before = True, self.no_required
                    self.struct(x, ft, ("status",))
                    self.no_required = before
                else:
                    self.struct(x, ft, path + (k,))
            elif tf is ListOf:
                self.list(x, ft, path + (k,))
            elif tf is MapOf:
                self.map(x, ft, path + (k,))
            else:
                self.value(x, ft, path + (k,))
        if t.required and not self.no_required:
            for r in t.required:
                if v.get(r) is None:
                    state = "null" if r in v else "missing"
                    self.add("required", path + (r,), f"required field {quote(r)} is {state}", True)

    def list(self, v: Any, t: ListOf, path: Path) -> None:
        if not isinstance(v, list):
            self.wrong(v, t, path)
            return
        item = t.item
        if type(item) is int:
            if item is ANY:
                return
            for i, x in enumerate(v):
                if x is not None and not (item is STRING and type(x) is str):
                    self.primitive(x, item, path + (i,))
        elif type(item) is Struct:
            for i, x in enumerate(v):
                self.struct({} if x is None else x, item, path + (i,))
        else:
            for i, x in enumerate(v):
                self.value(x, item, path + (i,))

    def map(self, v: Any, t: MapOf, path: Path) -> None:
        if not isinstance(v, dict):
            self.wrong(v, t, path)
            return
        vt = t.value
        if vt is STRING:
            for k, x in v.items():
                if x is not None and type(x) is not str:
                    self.primitive(x, STRING, path + (k if type(k) is str else json_key(k),))
        elif vt is not ANY:
            for k, x in v.items():
                self.value(x, vt, path + (k if type(k) is str else json_key(k),))

    def or_props(self, v: Any, t: OrProps, path: Path) -> None:
        if isinstance(v, dict):
            self.struct(v, t.props, path)
        elif t.alt == "boolean" and type(v) is bool:
            return
        elif t.alt == "list" and isinstance(v, list):
            for i, x in enumerate(v):
                self.struct({} if x is None else x, t.props, path + (i,))
        elif t.alt == "string-list" and isinstance(v, list):
            for i, x in enumerate(v):
                self.value(x, STRING, path + (i,))
        else:
            self.wrong(v, t, path)

    def integer(self, v: Any) -> int | None:
        """The integer the API server decodes from ``v``, or None when it refuses it."""
        if type(v) is int:
            return v
        if type(v) is float and not self.from_json and v.is_integer() and abs(v) < 1e21:
            return int(v)
        return None

    def primitive(self, v: Any, t: int, path: Path) -> None:
        if t is STRING:
            if type(v) is not str:
                self.wrong(v, t, path)
        elif t is BOOLEAN:
            if type(v) is not bool:
                self.wrong(v, t, path)
        elif t is INT32 or t is INT64 or t is INT_OR_STRING:
            if t is INT_OR_STRING and type(v) is str:
                return
            n = self.integer(v)
            if n is None:
                self.wrong(v, t, path)
                return
            lo, hi = _RANGES[t]
            if not lo <= n <= hi:
                bits = "int64" if t is INT64 else "int32"
                self.wrong(v, t, path, f"{quote(v)} is out of range for {bits} ({lo} to {hi})")
        elif t is NUMBER:
            if type(v) not in (int, float) or (type(v) is float and not math.isfinite(v)):
                self.wrong(v, t, path)
        elif t is QUANTITY:
            if type(v) is str:
                if not is_quantity(v):
                    self.wrong(v, t, path, f"{quote(v)} is not a quantity (e.g. 500m, 1.5, 2Gi, 1e3)")
            elif type(v) not in (int, float) or (type(v) is float and not math.isfinite(v)):
                self.wrong(v, t, path)
        elif t is DATE_TIME or t is MICRO_TIME:
            if type(v) is not str or not is_time(v, t is MICRO_TIME):
                self.wrong(v, t, path)
        elif t is BYTE:
            if type(v) is not str:
                self.wrong(v, t, path)
            elif not is_base64(v):
                self.wrong(v, t, path, "not valid base64 data (padded standard alphabet)")

    # -- unknown fields ---------------------------------------------------------------------------------
    def unknown(self, key: Any, t: Struct, path: Path) -> None:
        k = json_key(key)
        hint = suggest(k, t, self.parent_of(path))
        message = f"unknown field {quote(k)}"
        message += f"; {hint}" if hint else f" ({t.short} has no such field)"
        self.add("unknown", path + (k,), message, False)

    def parent_of(self, path: Path) -> Struct | None:
        """The struct that holds the struct at ``path`` (for hints about fields one level off)."""
        if not path:
            return None
        steps = path[:-1]
        while steps and isinstance(steps[-1], int):
            steps = steps[:-1]  # the struct holding a list of structs
        t: Any = self.root
        for step in steps:
            if isinstance(t, Struct):
                t = t.fields.get(step) if isinstance(step, str) else None
            elif isinstance(t, (ListOf, MapOf)):
                t = t.item if isinstance(t, ListOf) else t.value
            if t is None:
                return None
            while isinstance(t, ListOf):
                t = t.item
        return t if isinstance(t, Struct) else None


def _structs_in(t: Any) -> Struct | None:
    while isinstance(t, (ListOf, MapOf)):
        t = t.item if isinstance(t, ListOf) else t.value
    return t if isinstance(t, Struct) else None


def suggest(key: str, t: Struct, parent: Struct | None) -> str | None:
    """Which field was probably meant by an unknown ``key`` in ``t`` (None: no good guess)."""
    names = list(t.fields)
    lower = {n.lower(): n for n in names}
    if key.lower() in lower:
        return f"did you mean {quote(lower[key.lower()])}?"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
    if close:
        return f"did you mean {quote(close[0])}?"
    if t.short == "PodSecurityContext" and parent is not None:
        sc = _sibling(parent, "SecurityContext")
        if sc is not None and key in sc.fields:
            return f"{quote(key)} is not a pod-level setting: set it in each container's securityContext"
    for name, ft in t.fields.items():
        child = _structs_in(ft)
        if child is not None and key in child.fields:
            sep = "[]." if isinstance(ft, ListOf) else "."
            return f"did you mean {quote(name + sep + key)}? (it is a field of {name})"
    if parent is not None and key in parent.fields:
        return f"{quote(key)} belongs one level up (a field of {parent.short}, not of {t.short})"
    return None


def _sibling(t: Struct, short: str) -> Struct | None:
    """The struct named ``short`` of ``t``'s API package reachable from ``t`` (core/v1 SecurityContext)."""
    pkg = t.name.rsplit(".", 1)[0]
    for ft in _walk_fields(t):
        if isinstance(ft, Struct) and ft.name == f"{pkg}.{short}":
            return ft
    return None


def _walk_fields(t: Struct, depth: int = 3) -> list[Any]:
    out: list[Any] = []
    todo: list[tuple[Any, int]] = [(t, 0)]
    seen: set[int] = set()
    while todo:
        cur, d = todo.pop()
        if id(cur) in seen or d > depth:
            continue
        seen.add(id(cur))
        out.append(cur)
        if isinstance(cur, Struct):
            todo.extend((ft, d + 1) for ft in cur.fields.values())
        elif isinstance(cur, (ListOf, MapOf)):
            todo.append((cur.item if isinstance(cur, ListOf) else cur.value, d))
    return out


def validate_builtin(raw: Mapping[str, Any], t: Struct, *, from_json: bool = False) -> list[SchemaIssue]:
    """The issues of an object of built-in type ``t``."""
    w = Walker(t, from_json=from_json)
    w.struct(raw, t, ())
    return w.issues
