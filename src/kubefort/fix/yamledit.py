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

import difflib
import io
import itertools
import re
from collections.abc import MutableMapping, MutableSequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from ..loading.yamlparse import split_documents
from ..model.source import normalize_newlines

_BOM = "\ufeff"


class _Doc:
    """One document of the file: its text, and once asked for, its round-trip data."""

    __slots__ = ("body", "data", "dirty", "noop", "refused", "tail", "text", "yaml")

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
        self.noop = ""  # the document as ruamel writes it back unedited

    def load(self) -> None:
        if self.yaml is not None or self.refused is not None:
            return
        explicit = self.body.startswith("---")
        try:
            # loaded once: the indentation is a setting of the dump, tried from the likeliest layout on
            data = _round_trip(2, 2, explicit_start=explicit).load(self.body)
            best: tuple[int, YAML, str] | None = None
            for mapping, sequence in _layouts(*_guess_layout(self.body)):
                y = _round_trip(mapping, sequence, explicit_start=explicit)
                dumped = self._dump(y, data)
                if dumped == self.body:
                    best = (0, y, dumped)
                    break
                changed = _changed_lines(self.body, dumped)
                if best is None or changed < best[0]:
                    best = (changed, y, dumped)
        except (YAMLError, ValueError) as e:
            self.refused = f"the YAML library cannot read this document for editing ({type(e).__name__})"
            return
        assert best is not None
        _, self.yaml, self.noop = best
        self.data = data

    def _dump(self, y: YAML, data: Any) -> str:
        out = io.StringIO()
        y.dump(data, out)
        text = out.getvalue()
        if not self.body.endswith("\n") and text.endswith("\n"):
            text = text[:-1]
        return text

    def render(self) -> str:
        """The document's new text. Lines ruamel writes differently from the author (``null`` as an empty
        value, extra spaces) are put back as written unless an edit touches them; when that cannot be
        done exactly, the document is refused and kept as it was."""
        if not self.dirty or self.yaml is None:
            return self.text
        edited = self._dump(self.yaml, self.data)
        if self.noop == self.body:
            return edited + self.tail
        merged = _merge3(self.body, self.noop, edited)
        if merged is None or not self._same_data(merged):
            self.refused = (
                "kubefort cannot rewrite this document without changing lines the fix does not touch "
                "(the YAML library writes a line the fix edits differently from its author)"
            )
            return self.text
        return merged + self.tail

    def _same_data(self, text: str) -> bool:
        """Whether ``text`` reads as the edited data (the merge only restored formatting)."""
        try:
            return bool(_plain(YAML(typ="safe", pure=True).load(text)) == _plain(self.data))
        except (YAMLError, ValueError):
            return False


def _plain(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def _changed_lines(a: str, b: str) -> int:
    sm = difflib.SequenceMatcher(None, a.splitlines(), b.splitlines(), autojunk=False)
    return sum(max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal")


def _merge3(original: str, noop: str, edited: str) -> str | None:
    """``original`` with the changes from ``noop`` (ruamel's rewrite of it) to ``edited`` (the rewrite with
    the fix), so that lines ruamel reformats but the fix does not touch stay as their author wrote them.
    None when an edit falls on or inside a reformatted block (the caller refuses the document)."""
    o, n, e = (t.splitlines(keepends=True) for t in (original, noop, edited))
    # segments of n: (n start, n end, the original lines they stand for, whether they are the same)
    segments: list[tuple[int, int, list[str], bool]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, o, n, autojunk=False).get_opcodes():
        if op == "equal":
            segments.extend((j1 + k, j1 + k + 1, [o[i1 + k]], True) for k in range(j2 - j1))
        else:
            segments.append((j1, j2, o[i1:i2], False))
    out: list[str] = []
    seg = 0

    def emit_until(stop: int) -> bool:
        """Emit the original text of the segments before n index ``stop``; False when one straddles it."""
        nonlocal seg
        while seg < len(segments) and segments[seg][1] <= stop:
            out.extend(segments[seg][2])
            seg += 1
        return not (seg < len(segments) and segments[seg][0] < stop)

    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, n, e, autojunk=False).get_opcodes():
        if op == "equal":
            if not emit_until(i2):
                return None
            continue
        if not emit_until(i1):
            return None
        while seg < len(segments) and segments[seg][0] < i2:  # the n lines the edit replaces
            if not segments[seg][3] or segments[seg][1] > i2:
                return None  # ruamel reformatted a line the edit touches
            seg += 1
        out.extend(e[j1:j2])
    if not emit_until(len(n)):
        return None
    return "".join(out)


_KEY_LINE = re.compile(r"^( *)(- +)?[^\s#-][^:#]*:(\s+(#.*)?)?$")


def _guess_layout(text: str) -> tuple[int, int]:
    """(mapping indent, sequence indent as ruamel counts it: the dash's offset + 2) read from the text: the
    first block mapping nested under a key, and the first block sequence under a key."""
    mapping = sequence = 0
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for prev, cur in itertools.pairwise(lines):
        m = _KEY_LINE.match(prev)
        if m is None:
            continue
        parent = len(m.group(1)) + len(m.group(2) or "")
        indent = len(cur) - len(cur.lstrip(" "))
        if indent < parent or (indent == parent and not cur.lstrip().startswith("- ")):
            continue
        if cur.lstrip().startswith("- "):
            sequence = sequence or indent - parent + 2
        else:
            mapping = mapping or indent - parent
        if mapping and sequence:
            break
    return mapping or 2, sequence or (mapping or 2)


def _layouts(mapping: int, sequence: int) -> list[tuple[int, int]]:
    """(mapping indent, sequence indent) to try, the ones read from the text first, then the usual ones."""
    out = [(mapping, sequence)]
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

    def refused(self, start_line: int) -> str | None:
        """Why the document starting on ``start_line`` was not edited after all (known after render)."""
        doc = self.docs.get(start_line)
        return doc.refused if doc is not None else None

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
