"""Edit a YAML file the way its author wrote it, with ruamel.yaml's round-trip mode.

The file is cut into documents exactly as the loader cuts it (``split_documents``), so a finding's object
(its ``Source.doc.start_line`` and ``prefix``) names its document without guessing. Only the documents an
edit touches are written again; the others are kept byte for byte. Before a document is edited it is
loaded and dumped unchanged once: when that already changes a line (indentation ruamel cannot reproduce,
such as block sequences indented two ways in one document), the document is refused rather than
reformatted, so that an edit never changes more lines than the fix itself.

Comments, key order, quoting (``preserve_quotes``), flow and block style, document separators and the
indentation (guessed per document) are ruamel's round trip; CR LF line endings and a UTF-8 byte order mark
are taken off before and put back after, and lines are never folded (``width``).
"""

from __future__ import annotations

import io
from collections.abc import MutableMapping, MutableSequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from ..loading.yamlparse import split_documents
from ..model.source import normalize_newlines

_BOM = "\ufeff"


class _Doc:
    """One document of the file: its text, and once asked for, its round-trip data."""

    __slots__ = ("body", "data", "dirty", "refused", "tail", "text", "yaml")

    def __init__(self, text: str) -> None:
        self.text = text
        # blank lines before the next separator are kept as written (ruamel would drop them)
        end = text.find("\n", len(text.rstrip(" \t\n")))
        self.body = text if end < 0 else text[: end + 1]
        self.tail = text[len(self.body) :]
        self.data: Any = None
        self.yaml: YAML | None = None
        self.refused: str | None = None
        self.dirty = False

    def load(self) -> None:
        if self.yaml is not None or self.refused is not None:
            return
        try:
            _, indent, seq_indent = load_yaml_guess_indent(self.body)
            for mapping, sequence in _layouts(indent, seq_indent):
                y = _round_trip(mapping, sequence, explicit_start=self.body.startswith("---"))
                data = y.load(self.body)
                if self._dump(y, data) == self.body:
                    break
            else:
                self.refused = (
                    "kubefort cannot rewrite this document without changing lines the fix does not touch "
                    "(indentation written two ways, or another layout the YAML library does not keep)"
                )
                return
        except (YAMLError, ValueError) as e:
            self.refused = f"the YAML library cannot read this document for editing ({type(e).__name__})"
            return
        self.yaml, self.data = y, data

    def _dump(self, y: YAML, data: Any) -> str:
        out = io.StringIO()
        y.dump(data, out)
        text = out.getvalue()
        if not self.body.endswith("\n") and text.endswith("\n"):
            text = text[:-1]
        return text

    def render(self) -> str:
        if not self.dirty or self.yaml is None:
            return self.text
        return self._dump(self.yaml, self.data) + self.tail


def _layouts(indent: int | None, seq_indent: int | None) -> list[tuple[int, int]]:
    """(mapping indent, sequence indent) to try, the guessed ones first: ruamel's guess reads the indent
    of a mapping inside a sequence item as the mapping indent, so the usual layouts are tried too."""
    guessed = (indent or 2, (indent or 2) + (seq_indent or 0)) if indent else (2, 2)
    out = [guessed]
    for m in (2, 4, 3):
        for seq in (m, m + 2, 2, 4):
            if (m, seq) not in out:
                out.append((m, seq))
    return out


def _round_trip(mapping: int, sequence: int, *, explicit_start: bool) -> YAML:
    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    y.width = 1 << 16  # never fold a line
    y.indent(mapping=mapping, sequence=sequence, offset=max(0, sequence - 2))
    y.explicit_start = explicit_start
    return y


class EditableFile:
    """A YAML file being fixed: its documents, by the line each starts on (as the loader counts)."""

    def __init__(self, path: str, raw: str) -> None:
        self.path = path
        self.original = raw
        self.bom = raw.startswith(_BOM)
        text = raw[1:] if self.bom else raw
        self.crlf = "\r\n" in text
        self.docs: dict[int, _Doc] = {}
        self.order: list[_Doc] = []
        for _, line, chunk in split_documents(normalize_newlines(text)):
            doc = _Doc(chunk)
            self.docs[line] = doc
            self.order.append(doc)

    def root(self, start_line: int, prefix: tuple[str | int, ...]) -> tuple[MutableMapping[str, Any] | None, str]:
        """The editable mapping of the object whose document starts on ``start_line`` (``prefix``: inside a
        List), or None and why not."""
        doc = self.docs.get(start_line)
        if doc is None:
            return None, "the document could not be found again in the file (was it changed meanwhile?)"
        doc.load()
        if doc.refused is not None:
            return None, doc.refused
        node: Any = doc.data
        for key in prefix:
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                return None, "the object could not be found again in its document"
        if not isinstance(node, MutableMapping):
            return None, "the object is not a mapping"
        return node, ""

    def touch(self, start_line: int) -> None:
        self.docs[start_line].dirty = True

    def render(self) -> str:
        text = "".join(d.render() for d in self.order)
        if self.crlf:
            text = text.replace("\n", "\r\n")
        return (_BOM if self.bom else "") + text


def put(parent: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Set ``key``; a new key goes where a person would write it and where no comment is attached: after
    ``image`` in a container (after ``name`` without one), last in an object, first elsewhere (ruamel
    keeps a comment written after a mapping's last entry with that entry, so appending a key would put
    it below a comment about the next field)."""
    if key in parent or not isinstance(parent, CommentedMap):
        parent[key] = value
        return
    keys = list(parent)
    if "apiVersion" in keys and "kind" in keys:
        pos = len(keys)
    elif "image" in keys:
        pos = keys.index("image") + 1
    elif "name" in keys:
        pos = keys.index("name") + 1
    else:
        pos = 0
    parent.insert(pos, key, value)


def append(items: MutableSequence[Any], item: Any) -> None:
    """Append ``item`` quoted as the list's other items are (``drop: ["NET_RAW", "ALL"]``)."""
    if isinstance(item, str) and items:
        last = items[-1]
        if isinstance(last, DoubleQuotedScalarString):
            item = DoubleQuotedScalarString(item)
        elif isinstance(last, SingleQuotedScalarString):
            item = SingleQuotedScalarString(item)
    items.append(item)


def new_map() -> MutableMapping[str, Any]:
    return CommentedMap()


def new_seq() -> CommentedSeq:
    return CommentedSeq()
