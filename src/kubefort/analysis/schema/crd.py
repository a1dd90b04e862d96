"""Custom resources checked against their CustomResourceDefinition, as the API server does.

The CRD's ``openAPIV3Schema`` (a structural schema) decides, per version:

- unknown fields: an object schema with ``properties`` and no ``additionalProperties`` has exactly those
  fields; others are pruned (dropped), and reported as unknown under strict field validation, unless
  ``x-kubernetes-preserve-unknown-fields: true``. ``metadata`` is always ObjectMeta;
  ``x-kubernetes-embedded-resource`` objects carry their own apiVersion, kind and metadata.
- ``null``: allowed where ``nullable: true``; elsewhere the field is pruned (so a required one is missing).
- types, ``x-kubernetes-int-or-string``, ``enum``, ``minimum``/``maximum`` (and exclusive forms),
  ``minLength``/``maxLength``, ``pattern``, ``minItems``/``maxItems``, ``minProperties``/``maxProperties``,
  ``required``, ``allOf``/``anyOf``/``oneOf``/``not``. CEL rules (``x-kubernetes-validations``) and
  formats are not checked.
- with the status subresource, ``status`` is ignored on create.

Schemas of plain JSON-schema files (kubeconform's layout, from ``--schema-dir``) are read the same way,
except that an object is closed only by an explicit ``additionalProperties: false``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...model.objects import Path
from .types import Struct, found, quote
from .validate import SchemaIssue, Walker, json_key

_TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
}
#: a quantified group repeated without bound ("(a+)+", "(a|a*){2,}"): backtracking that can take
#: exponential time in Python's re (Go's RE2, which the API server uses, never backtracks)
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\})")
MAX_PATTERN_INPUT = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class CrdVersion:
    """The schema of one version of a custom resource kind."""

    name: str  # the CRD (certificates.cert-manager.io) or the schema file it came from
    group: str
    version: str
    kind: str
    schema: Mapping[str, Any] | None  # None: no schema (anything goes, as with a v1beta1 CRD without one)
    served: bool = True
    status_subresource: bool = False
    closed: bool = True  # structural semantics: properties close an object (False for plain JSON schemas)


@dataclass(slots=True)
class CrdIndex:
    """Custom resource schemas by group, kind and version (from CRDs and schema files)."""

    by_kind: dict[tuple[str, str], dict[str, CrdVersion]] = field(default_factory=dict)
    loose: dict[tuple[str, str], CrdVersion] = field(default_factory=dict)  # (kind lower, version): group unknown

    def add(self, cv: CrdVersion) -> None:
        self.by_kind.setdefault((cv.group, cv.kind), {}).setdefault(cv.version, cv)

    def add_crd(self, raw: Mapping[str, Any]) -> int:
        """Add the versions of a CustomResourceDefinition (apiextensions.k8s.io v1, or v1beta1); how many."""
        spec = raw.get("spec")
        if not isinstance(spec, Mapping):
            return 0
        group, names = spec.get("group"), spec.get("names")
        kind = names.get("kind") if isinstance(names, Mapping) else None
        if not isinstance(group, str) or not isinstance(kind, str):
            return 0
        md = raw.get("metadata")
        name = md.get("name") if isinstance(md, Mapping) else None
        name = name if isinstance(name, str) else f"{group}/{kind}"
        top_schema = _openapi(spec.get("validation"))  # v1beta1: one schema for every version
        top_status = _has_status(spec.get("subresources"))
        versions = spec.get("versions")
        items = [v for v in versions if isinstance(v, Mapping)] if isinstance(versions, list) else []
        if not items and isinstance(spec.get("version"), str):
            items = [{"name": spec["version"], "served": True}]
        n = 0
        for v in items:
            vname = v.get("name")
            if not isinstance(vname, str):
                continue
            schema = _openapi(v.get("schema")) or top_schema
            status = _has_status(v.get("subresources")) if "subresources" in v else top_status
            self.add(
                CrdVersion(
                    name=name,
                    group=group,
                    version=vname,
                    kind=kind,
                    schema=schema,
                    served=v.get("served") is not False,
                    status_subresource=status,
                )
            )
            n += 1
        return n

    def versions(self, group: str, kind: str) -> dict[str, CrdVersion] | None:
        return self.by_kind.get((group, kind))

    def find(self, group: str, version: str, kind: str) -> CrdVersion | None:
        cv = self.by_kind.get((group, kind), {}).get(version)
        if cv is None:
            cv = self.loose.get((kind.lower(), version))
        return cv


def _openapi(validation: Any) -> Mapping[str, Any] | None:
    if isinstance(validation, Mapping):
        s = validation.get("openAPIV3Schema")
        if isinstance(s, Mapping):
            return s
    return None


def _has_status(sub: Any) -> bool:
    return isinstance(sub, Mapping) and "status" in sub


def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    if isinstance(t, list):
        return [x for x in t if isinstance(x, str)]
    return []


class SchemaWalker:
    """Checks values against one custom resource schema; issues go to a :class:`Walker` (for ObjectMeta)."""

    def __init__(self, walker: Walker, cv: CrdVersion, meta: Struct) -> None:
        self.w = walker
        self.cv = cv
        self.meta = meta
        self.root = cv.schema or {}
        self.patterns: dict[str, re.Pattern[str] | None] = {}

    def add(self, code: str, path: Path, message: str, invalid: bool = True) -> None:
        self.w.add(code, path, message, invalid)

    def resolve(self, s: Any, depth: int = 0) -> Any:
        """Follow a local ``$ref`` (``#/definitions/x``, ``#/$defs/x``) in a schema file."""
        while isinstance(s, Mapping) and isinstance(s.get("$ref"), str) and depth < 20:
            ref = s["$ref"]
            if not ref.startswith("#/"):
                return {}
            cur: Any = self.root
            for part in ref[2:].split("/"):
                cur = cur.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(cur, Mapping) else None
            s, depth = cur if isinstance(cur, Mapping) else {}, depth + 1
        return s

    def check(self, v: Any, s: Any, path: Path, *, open_: bool = False) -> None:
        """Check ``v`` at ``path`` against schema ``s``; ``open_``: unknown fields are not reported (value
        validations of ``anyOf``/``oneOf``/``not`` cannot declare fields)."""
        s = self.resolve(s)
        if not isinstance(s, Mapping) or len(path) > 200:
            return
        types = _types(s)
        if v is None:
            return  # nullable, or pruned: a required field is then missing (checked by the parent)
        if s.get("x-kubernetes-int-or-string"):
            if not (isinstance(v, str) or self.w.integer(v) is not None):
                self.add("type", path, f"expected an integer or a string, found {found(v)}")
                return
        elif types and not any(self._is(v, t) for t in types if t != "null"):
            words = " or ".join(_TYPE_WORDS.get(t, t) for t in types if t != "null")
            reveal = all(t in ("integer", "number", "boolean") for t in types if t != "null")
            self.add("type", path, f"expected {words}, found {found(v, reveal)}")
            return
        if "enum" in s and isinstance(s["enum"], list) and not any(_same(v, e) for e in s["enum"]):
            choices = ", ".join(quote(e) or "null" for e in s["enum"][:8]) + (", …" if len(s["enum"]) > 8 else "")
            self.add("value", path, f"{quote(v) or found(v)} is not one of the allowed values ({choices})")
        if isinstance(v, str):
            self._string(v, s, path)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            self._number(v, s, path)
        elif isinstance(v, list):
            self._array(v, s, path, open_)
        elif isinstance(v, dict):
            self._object(v, s, path, open_)
        for sub in s.get("allOf") or ():
            self.check(v, sub, path, open_=True)
        for key, want in (("anyOf", "any"), ("oneOf", "exactly one")):
            subs = s.get(key)
            if isinstance(subs, list) and subs:
                ok = sum(1 for sub in subs if self._passes(v, sub, path))
                if (ok == 0) if want == "any" else (ok != 1):
                    self.add("value", path, f"matches {ok} of the {key} schemas, must match {want}")
        if isinstance(s.get("not"), Mapping) and self._passes(v, s["not"], path):
            self.add("value", path, "matches the schema under 'not'")

    def _is(self, v: Any, t: str) -> bool:
        if t == "object":
            return isinstance(v, dict)
        if t == "array":
            return isinstance(v, list)
        if t == "string":
            return isinstance(v, str)
        if t == "boolean":
            return isinstance(v, bool)
        if t == "integer":
            return self.w.integer(v) is not None
        if t == "number":
            return isinstance(v, (int, float)) and not isinstance(v, bool)
        return True

    def _passes(self, v: Any, s: Any, path: Path) -> bool:
        sub = Walker(self.w.root, from_json=self.w.from_json, custom=True)
        SchemaWalker(sub, self.cv, self.meta).check(v, s, path, open_=True)
        return not sub.issues

    def _string(self, v: str, s: Mapping[str, Any], path: Path) -> None:
        lo, hi = s.get("minLength"), s.get("maxLength")
        if isinstance(hi, int) and len(v) > hi:
            self.add("value", path, f"{len(v)} characters, more than {hi}")
        if isinstance(lo, int) and len(v) < lo:
            self.add("value", path, f"{len(v)} characters, fewer than {lo}")
        pattern = s.get("pattern")
        if isinstance(pattern, str) and len(v) <= MAX_PATTERN_INPUT:
            rx = self._pattern(pattern)
            if rx is not None and rx.search(v) is None:
                self.add("value", path, f"the value does not match the pattern {quote(pattern)}")

    def _pattern(self, pattern: str) -> re.Pattern[str] | None:
        if pattern not in self.patterns:
            rx = None
            if not _NESTED_QUANTIFIER.search(pattern):  # Go's RE2 never backtracks; Python's re can
                try:
                    rx = re.compile(pattern)
                except (re.error, RecursionError, OverflowError):
                    rx = None
            self.patterns[pattern] = rx
        return self.patterns[pattern]

    def _number(self, v: float, s: Mapping[str, Any], path: Path) -> None:
        lo, hi = s.get("minimum"), s.get("maximum")
        if (
            isinstance(lo, (int, float))
            and not isinstance(lo, bool)
            and (v < lo or (s.get("exclusiveMinimum") is True and v == lo))
        ):
            rel = "greater than" if s.get("exclusiveMinimum") is True else "at least"
            self.add("value", path, f"{quote(v)} must be {rel} {quote(lo)}")
        if (
            isinstance(hi, (int, float))
            and not isinstance(hi, bool)
            and (v > hi or (s.get("exclusiveMaximum") is True and v == hi))
        ):
            rel = "less than" if s.get("exclusiveMaximum") is True else "at most"
            self.add("value", path, f"{quote(v)} must be {rel} {quote(hi)}")
        m = s.get("multipleOf")
        if isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0 and (v / m) % 1 != 0:
            self.add("value", path, f"{quote(v)} is not a multiple of {quote(m)}")

    def _array(self, v: list[Any], s: Mapping[str, Any], path: Path, open_: bool) -> None:
        lo, hi = s.get("minItems"), s.get("maxItems")
        if isinstance(hi, int) and len(v) > hi:
            self.add("value", path, f"has {len(v)} items, at most {hi} allowed")
        if isinstance(lo, int) and len(v) < lo:
            self.add("value", path, f"has {len(v)} items, at least {lo} required")
        items = s.get("items")
        if isinstance(items, Mapping):
            for i, x in enumerate(v):
                self.check(x, items, path + (i,), open_=open_)

    def _object(self, v: dict[Any, Any], s: Mapping[str, Any], path: Path, open_: bool) -> None:
        props = s.get("properties")
        props = props if isinstance(props, Mapping) else {}
        ap = s.get("additionalProperties")
        preserve = s.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = s.get("x-kubernetes-embedded-resource") is True
        closed = not (open_ or preserve or ap is True) and (
            ap is False or (self.cv.closed and not isinstance(ap, Mapping))
        )
        for k, x in v.items():
            key = k if type(k) is str else json_key(k)
            sub = props.get(key)
            if sub is not None:
                self.check(x, sub, path + (key,), open_=open_)
            elif embedded and key == "metadata":
                if x is not None:
                    self.w.struct(x, self.meta, path + (key,))
            elif embedded and key in ("apiVersion", "kind"):
                if x is not None and not isinstance(x, str):
                    self.add("type", path + (key,), f"expected a string, found {found(x)}")
            elif isinstance(ap, Mapping):
                self.check(x, ap, path + (key,), open_=open_)
            elif closed:
                self.add("unknown", path + (key,), f"unknown field {quote(key)}" + _hint(key, props), False)
        for r in s.get("required") or ():
            if isinstance(r, str) and v.get(r) is None:
                self.add("required", path + (r,), f"required field {quote(r)} is {'null' if r in v else 'missing'}")
        lo, hi = s.get("minProperties"), s.get("maxProperties")
        if isinstance(hi, int) and len(v) > hi:
            self.add("value", path, f"has {len(v)} fields, at most {hi} allowed")
        if isinstance(lo, int) and len(v) < lo:
            self.add("value", path, f"has {len(v)} fields, at least {lo} required")
        if embedded and not open_:
            for r in ("apiVersion", "kind"):
                if not v.get(r):
                    self.add("required", path + (r,), f"embedded object: required field {quote(r)} is missing")


def _hint(key: str, props: Iterable[str]) -> str:
    import difflib

    names = list(props)
    lower = {n.lower(): n for n in names}
    if key.lower() in lower:
        return f"; did you mean {quote(lower[key.lower()])}?"
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.8)
    return f"; did you mean {quote(close[0])}?" if close else ""


def _same(a: Any, b: Any) -> bool:
    """JSON equality: a boolean is not the number 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return bool(a == b)


def validate_custom(
    raw: Mapping[str, Any], cv: CrdVersion, meta: Struct, *, from_json: bool = False
) -> list[SchemaIssue]:
    """The issues of a custom resource against one version of its CRD (or schema file)."""
    w = Walker(meta, from_json=from_json, custom=True)
    md = raw.get("metadata")
    if md is not None:
        w.struct(md, meta, ("metadata",))
    if cv.schema is None:
        return w.issues
    sw = SchemaWalker(w, cv, meta)
    root = sw.resolve(cv.schema)
    body = {
        k: v
        for k, v in raw.items()
        if k not in ("apiVersion", "kind", "metadata") and not (k == "status" and cv.status_subresource)
    }
    if isinstance(root, Mapping):
        props = root.get("properties")
        props = (
            {k: v for k, v in props.items() if k not in ("apiVersion", "kind", "metadata")}
            if isinstance(props, Mapping)
            else {}
        )
        required = [r for r in root.get("required") or () if r not in ("apiVersion", "kind", "metadata")]
        sw.check(body, {**root, "properties": props, "required": required}, ())
    return w.issues
