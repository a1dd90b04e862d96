"""Fast, bounded parsing of YAML and JSON streams into documents.

The parser is ``yaml-rs`` (Rust): about 8x faster than PyYAML's C loader here, with hard limits on
alias expansion and flow nesting, so hostile input cannot hang or exhaust memory. It implements
YAML 1.2, while Kubernetes (sigs.k8s.io/yaml, go-yaml v2) reads plain ``yes``/``no``/``on``/``off``
as booleans and ``0644`` as octal, like YAML 1.1. A document holding any plain scalar that YAML 1.1
reads differently (or a ``<<`` merge key) is therefore parsed with PyYAML's safe loader instead,
which has the YAML 1.1 semantics; timestamps stay strings, as in Kubernetes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
import yaml_rs

from ..errors import LoadError
from ..model.source import DocumentText

#: Document markers at column 0 split a stream; they cannot occur inside any scalar (YAML 1.2 §9.1.4).
_DOC_START = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r]|$)", re.M)

#: Plain scalars that go-yaml v2 (what Kubernetes uses) reads differently from YAML 1.2 (yaml-rs).
#: In yaml-rs output they survive as strings, except leading-zero octals, which become decimal ints.
_BOOL_WORDS = frozenset(
    ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF"]
)
_NUMERIC_11 = re.compile(r"[-+]?(?:0b[01_]+|[0-9][0-9_]*_[0-9_]*(?:\.[0-9_]*)?)")
_OCTAL_TEXT = re.compile(r"0[0-7_]+(?=[ \t]*(?:$|[,\]}]|[ \t]#))", re.M)


def _needs_yaml11(data: Any, text: str) -> bool:
    """True when a plain scalar of the document means something else to go-yaml v2 than to YAML 1.2.

    Strings in the parsed data that YAML 1.1 would have resolved (``yes``, ``off``, ``0b11``,
    ``1_000``, a ``<<`` merge key) or a leading-zero octal token in the text mean the document is
    parsed again with YAML 1.1 rules. Quoted ``"yes"`` also triggers it, harmlessly (PyYAML keeps
    it a string).
    """
    for m in _OCTAL_TEXT.finditer(text):
        i = m.start() - 1
        while i >= 0 and text[i] in "+-":
            i -= 1
        if i < 0 or text[i] in " \t[,{\n":
            return True
    return _data_needs_yaml11(data)


def _data_needs_yaml11(data: Any) -> bool:
    stack = [data]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            for k, v in cur.items():
                if k == "<<" or (type(k) is str and k in _BOOL_WORDS):
                    return True
                if type(v) is str:
                    if v in _BOOL_WORDS or (v and v[0] in "+-0123456789" and _NUMERIC_11.fullmatch(v)):
                        return True
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(cur, list):
            for v in cur:
                if type(v) is str:
                    if v in _BOOL_WORDS or (v and v[0] in "+-0123456789" and _NUMERIC_11.fullmatch(v)):
                        return True
                elif isinstance(v, (dict, list)):
                    stack.append(v)
    return False


@dataclass(frozen=True, slots=True)
class Limits:
    """Guards against hostile input."""

    max_file_bytes: int = 64 * 1024 * 1024
    max_doc_bytes: int = 16 * 1024 * 1024
    max_alias_events: int = 200_000  # total nodes replayed through aliases per document
    max_depth: int = 256  # nesting depth accepted in flow collections (yaml-rs limit)
    # alias amplification (see _aliasing): the text aliases expand a document to, at most this many
    # times the document's own size, beyond a floor that ordinary anchors never reach
    max_alias_expansion: int = 10
    alias_expansion_floor: int = 1024 * 1024


class _Loader11(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """PyYAML safe loader with timestamps kept as strings (as Kubernetes does)."""


_Loader11.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
# go-yaml v2 resolves y/Y/n/N as booleans too (PyYAML does not), and has no sexagesimal numbers.
_Loader11.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
for _first in "yYnN":
    _Loader11.yaml_implicit_resolvers[_first] = [
        r for r in _Loader11.yaml_implicit_resolvers.get(_first, []) if r[0] != "tag:yaml.org,2002:bool"
    ]
_Loader11.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
    list("yYnNtTfFoO"),
)


# go-yaml v2 reads a plain scalar as a float by its own pattern (yamlStyleFloat: "1e3", "1.", ".5e-3"),
# where PyYAML's YAML 1.1 float needs a dot ("1e3" would stay a string); checked after the int resolver.
for _first in "0123456789-+.":
    _Loader11.yaml_implicit_resolvers.setdefault(_first, []).append(
        ("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\.[0-9_]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$"))
    )


def _construct_bool(loader: Any, node: Any) -> bool:
    return loader.construct_scalar(node) in ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")


_Loader11.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


#: a key repeated in one mapping: its path from the document root and the file line of each occurrence
Duplicate = tuple[tuple[str | int, ...], tuple[int, ...]]


@dataclass(slots=True)
class ParsedDoc:
    data: Any
    text: DocumentText
    duplicates: tuple[Duplicate, ...] = ()  # parsers keep the last value; KF-SCHEMA-004 reports them


def split_documents(text: str) -> list[tuple[int, int, str]]:
    """(start offset, 1-based start line, text) of each document chunk of a YAML stream."""
    starts = [m.start() for m in _DOC_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    out = []
    line = 1
    prev = 0
    for i, s in enumerate(starts):
        line += text.count("\n", prev, s)
        prev = s
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        out.append((s, line, text[s:end]))
    return out


def _error_summary(exc: Exception) -> tuple[str, int | None]:
    """A one-line problem statement and a line number, never echoing source text (it may hold secrets)."""
    msg = str(exc)
    line = None
    m = re.search(r"line (\d+)", msg)
    if m:
        line = int(m.group(1))
    if isinstance(exc, yaml.MarkedYAMLError):
        line = exc.problem_mark.line + 1 if exc.problem_mark else line
        problem = exc.problem or "invalid YAML"
        return problem, line
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    # yaml-rs: "YAML parse error at line L, column C", snippet lines "N | text", caret line, problem.
    problem = lines[-1] if lines else "invalid YAML"
    if "|" in problem or problem.startswith("^"):
        problem = "invalid YAML"
    if problem.startswith(("YAML parse error", "YAML ")):
        problem = re.sub(r" at line \d+, column \d+", "", problem)
    return problem, line


def parse_yaml_stream(text: str, file: str, limits: Limits = Limits()) -> tuple[list[ParsedDoc], list[LoadError]]:
    docs: list[ParsedDoc] = []
    errors: list[LoadError] = []
    alias_limits = yaml_rs.AliasLimits(max_total_replayed_events=limits.max_alias_events)
    for _, start_line, chunk in split_documents(text):
        if not chunk.strip():
            continue
        if len(chunk) > limits.max_doc_bytes:
            errors.append(LoadError(file, f"document larger than {limits.max_doc_bytes} bytes, skipped", start_line))
            continue
        refused = _aliasing(chunk, limits)
        if refused is not None:
            errors.append(LoadError(file, refused, start_line))
            continue
        try:
            data, dup = _parse_chunk(chunk, alias_limits)
        except (yaml_rs.YAMLDecodeError, yaml.YAMLError, ValueError, RecursionError) as e:
            problem, rel = _error_summary(e)
            line = start_line + rel - 1 if rel else start_line
            errors.append(LoadError(file, problem, line))
            continue
        if data is None:
            continue
        # Repeated keys: scanned anyway (the last value wins, as lenient decoders do) and reported as
        # findings (KF-SCHEMA-004), so that suppressions and baselines apply to them as to any other.
        duplicates = _duplicate_keys(chunk, start_line) if dup is not None else ()
        docs.append(ParsedDoc(data, DocumentText(chunk, start_line), duplicates))
    return docs, errors


def _duplicate_keys(chunk: str, start_line: int) -> tuple[Duplicate, ...]:
    """Every key repeated within one mapping, with its path and lines (yaml-rs does not say where)."""
    try:
        root = yaml.compose(chunk, Loader=_Loader11)
    except yaml.YAMLError:
        return ()
    out: list[Duplicate] = []
    seen_nodes: set[int] = set()  # an alias repeats a node: walk it once
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())] if root is not None else []
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, list[int]] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                    lines.setdefault(k.value, []).append(start_line + int(k.start_mark.line))
                    stack.append((v, path + (k.value,)))
            out.extend((path + (k,), tuple(ls)) for k, ls in lines.items() if len(ls) > 1)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, path + (i,)) for i, v in enumerate(node.value))
    return tuple(sorted(out, key=lambda d: d[1]))


_ANCHOR = re.compile(r"(?:^|[\s\[{,])&[^\s,\[\]{}]")


def _aliasing(chunk: str, limits: Limits) -> str | None:
    """Why a document is refused for excessive aliasing, or None.

    As sigs.k8s.io/yaml does (its fix for CVE-2019-11253): past 100 alias-expanded nodes out of 1,000
    decoded, at most 99% of the decoded nodes may come from alias expansion (down to 10% for documents
    of millions of nodes). Counting nodes misses aliases of one huge scalar, so the text the aliases
    expand the document to is bounded too: ``max_alias_expansion`` times the document's size (beyond
    ``alias_expansion_floor``). Counted on PyYAML's event stream, which never expands an alias, and
    only for documents that have an anchor.
    """
    if "&" not in chunk or "*" not in chunk or _ANCHOR.search(chunk) is None:
        return None
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, bytes) its alias decodes to
    stack: list[list[Any]] = [[None, 0, 0]]  # open collections: [anchor, nodes, bytes]
    decoded = aliased = expanded = 0
    limit = max(limits.alias_expansion_floor, limits.max_alias_expansion * len(chunk))
    events: Iterator[Any] = yaml.parse(chunk, Loader=_Loader11)
    try:
        for ev in events:
            cls = type(ev)
            if cls is yaml.ScalarEvent:
                n, b = 1, len(ev.value) + 1
                decoded += 1
                expanded += b
                if ev.anchor:
                    anchors[ev.anchor] = (n, b)
            elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
                decoded += 1
                expanded += 1
                stack.append([ev.anchor, 1, 1])
                continue
            elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
                anchor, n, b = stack.pop()
                if anchor:
                    anchors[anchor] = (n, b)
            elif cls is yaml.AliasEvent:
                tn, tb = anchors.get(ev.anchor, (0, 0))
                n, b = 1 + tn, 1 + tb
                decoded += n
                aliased += tn
                expanded += b
                if aliased > 100 and decoded > 1000 and aliased / decoded > _allowed_alias_ratio(decoded):
                    return "excessive aliasing (as the Kubernetes API server refuses it): document not loaded"
                if expanded > limit:
                    return (
                        f"excessive aliasing: aliases expand the document to over {expanded:,} bytes, more than "
                        f"{limits.max_alias_expansion} times its {len(chunk):,}: document not loaded"
                    )
            else:
                continue
            top = stack[-1]
            top[1] += n
            top[2] += b
    except yaml.YAMLError:
        return None  # not YAML that PyYAML reads: the parser reports the problem (with its alias limits)
    return None


def _allowed_alias_ratio(decoded: int) -> float:
    """go-yaml v2 ``allowedAliasRatio``: 99% up to 400,000 decoded nodes, down to 10% at 4,000,000."""
    if decoded <= 400_000:
        return 0.99
    if decoded >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (decoded - 400_000) / 3_600_000


def _parse_chunk(chunk: str, alias_limits: Any) -> tuple[Any, Exception | None]:
    """Parse one document; returns the data and the duplicate-key error, if there was one.

    yaml-rs always runs first, for its depth and alias guards: PyYAML's composer recurses in C and
    would crash on deep nesting. The YAML 1.1 re-parse therefore only ever sees bounded input.
    """
    dup: Exception | None = None
    try:
        data = yaml_rs.loads(chunk, parse_datetime=False, alias_limits=alias_limits)
    except yaml_rs.YAMLDecodeError as e:
        if "duplicate mapping key" not in str(e):
            raise
        dup = e
        data = yaml_rs.loads(
            chunk,
            parse_datetime=False,
            alias_limits=alias_limits,
            duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.LastWins,
        )
    if _needs_yaml11(data, chunk):
        data = yaml.load(chunk, Loader=_Loader11)
    return data, dup


def parse_json(text: str, file: str) -> tuple[list[ParsedDoc], list[LoadError]]:
    repeated: list[bool] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(items)
        if len(d) != len(items):
            repeated.append(True)
        return d

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        return [], [LoadError(file, e.msg, e.lineno)]
    except RecursionError:
        return [], [LoadError(file, "JSON nested too deeply", None)]
    duplicates = _json_duplicates(text) if repeated else ()
    return [ParsedDoc(data, DocumentText(text, 1, is_json=True), duplicates)], []


def _json_duplicates(text: str) -> tuple[Duplicate, ...]:
    """The repeated keys of a JSON document, with lines when PyYAML reads it (JSON is YAML, mostly)."""
    found = _duplicate_keys(text, 1)
    if found:
        return found
    out: list[Duplicate] = []

    def walk(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, _Pairs):
            counts: dict[str, int] = {}
            for k, v in node:
                counts[k] = counts.get(k, 0) + 1
                walk(v, path + (k,))
            out.extend((path + (k,), ()) for k, n in counts.items() if n > 1)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))

    try:
        walk(json.loads(text, object_pairs_hook=_Pairs), ())
    except (ValueError, RecursionError):
        return ()
    return tuple(out)


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, repeated keys kept."""
