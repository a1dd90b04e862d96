"""Source locations: which file and line an object, or a field of it, came from.

Documents are parsed by a fast parser that gives no positions. Lines are found lazily, only for the
fields that findings point at, by :class:`DocumentText.line_of`: a walk over the block-style YAML of
the document (what nearly every manifest is), with a fall-back to PyYAML's composer (which has
positions for every node) when the walk meets something it does not read (flow style, anchors,
complex keys, JSON). ``tests/unit/test_source.py`` checks the walk against the composer on the
whole real-world corpus.

Line numbers count line breaks as YAML does: LF, CR LF and a lone CR each end a line (YAML 1.2
§5.4; JSON counts CR as white space, where no line number depends on it). The text of a document is
kept with LF breaks only (:func:`normalize_newlines`), so the walk, the document splitter and the
composer agree on lines for files written on Windows (CR LF) or old Macs (CR).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

#: A field path from an object's root: keys and list indexes (``("spec", "containers", 0, "image")``).
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A place in a file: 1-based line, or the object reference alone for live objects."""

    file: str
    line: int | None = None
    template: str | None = None  # Helm template the document was rendered from ("# Source:")


def normalize_newlines(text: str) -> str:
    """``text`` with every CR LF and lone CR turned into LF.

    YAML reads all three as one line break and folds each to LF inside scalars, so the data parsed
    from the result is the same; only the positions become simple to count. Other characters that
    YAML 1.1 read as breaks (NEL, LS, PS) are content in YAML 1.2 and are left alone.
    """
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


_KEY_RE = re.compile(r"""(?:"((?:[^"\\]|\\.)*)"|'((?:[^']|'')*)'|([^\s#'"{\[&*!|>%@`?][^#]*?))[ \t]*:(?:[ \t]|$)""")


class _Unsure(Exception):
    """The block walk met something it does not read; use the composer."""


class DocumentText:
    """The text of one YAML/JSON document and the means to find a field's line in it.

    ``start_line`` is the 1-based file line of the first line of ``text``; ``text`` is kept with LF
    line breaks (CR LF and CR are normalised, see :func:`normalize_newlines`).
    """

    __slots__ = ("_composed", "_indents", "_lines", "_memo", "_nodes", "is_json", "start_line", "text")

    def __init__(self, text: str, start_line: int, is_json: bool = False) -> None:
        self.text = normalize_newlines(text)
        self.start_line = start_line
        self.is_json = is_json
        self._lines: list[str] | None = None
        self._indents: list[int] | None = None
        self._composed: dict[Path, int] | None = None
        self._memo: dict[Path, tuple[int, int, int, int]] | None = None
        # (line, column) of a block mapping -> {key: (line, content, match)}; of a block sequence ->
        # [line of each item]: each node is read once however many of its fields findings point at
        self._nodes: dict[tuple[int, int], Any] = {}

    # -- public -----------------------------------------------------------------
    def line_of(self, path: Sequence[str | int]) -> int:
        """File line of the deepest prefix of ``path`` present in the document."""
        if not self.is_json:
            memo = self._memo
            if memo is not None:
                hit = memo.get(path if type(path) is tuple else tuple(path))
                if hit is not None:
                    return self.start_line + hit[2]
            try:
                return self.start_line + self._walk(tuple(path))
            except _Unsure:
                pass
        composed = self._compose()
        p = tuple(path)
        while p and p not in composed:
            p = p[:-1]
        return self.start_line + composed.get(p, 0)

    def release(self) -> None:
        """Forget what finding lines built (the split lines, the nodes read, the composer's map).

        The engine calls it once the object of a one-object document is judged: its findings hold their
        lines by then, and a later question (a namespace rule anchored on it) builds them again. Kept,
        they were about half the memory a scan adds to the parsed input.
        """
        self._lines = self._indents = None
        self._composed = self._memo = None
        self._nodes = {}

    # -- block walk ---------------------------------------------------------------
    def _prepare(self) -> tuple[list[str], list[int]]:
        if self._lines is None:
            lines = self.text.split("\n")
            stripped = [ln.lstrip(" ") for ln in lines]
            # indent of each line; -1 for blank and comment lines
            indents = [len(ln) - len(s) if s and s[0] != "#" else -1 for ln, s in zip(lines, stripped)]
            if "\t" in self.text and any(s[0] == "\t" for s, n in zip(stripped, indents) if n >= 0):
                raise _Unsure()  # tab-indented content: the composer knows
            self._lines, self._indents = lines, indents
        assert self._indents is not None
        return self._lines, self._indents

    def _first_content(self) -> int:
        lines, ind = self._prepare()
        for i, n in enumerate(ind):
            if n < 0:
                continue
            s = lines[i][n:]
            if s.startswith("%"):
                continue
            if s.startswith("---"):
                rest = s[3:].strip()
                if rest and not rest.startswith("#"):
                    raise _Unsure()
                continue
            return i
        raise _Unsure()

    def _walk(self, path: Path) -> int:
        """0-based line (relative to the document) of the deepest prefix of ``path``.

        Findings of one object share long prefixes (``spec.template.spec.containers[0]``), so the
        state after each prefix is memoised: (line, column, line found, end) where end is 0 (can go
        deeper), 1 (missing or scalar: deeper paths stop here) or 2 (flow collection: ask the composer).
        """
        memo = self._memo
        if memo is None:
            i = self._first_content()
            memo = self._memo = {(): (i, self._indents[i], i, 0)}  # type: ignore[index]
        k = len(path)
        while k and path[:k] not in memo:
            k -= 1
        i, col, found, end = memo[path[:k]]
        for n in range(k, len(path)):
            if end == 1:
                return found
            if end == 2:
                raise _Unsure()
            step = path[n]
            if isinstance(step, int):
                nxt = self._seq_item(i, col, step)
                if nxt is None:
                    end = 1
                else:
                    i, col = nxt
                    found = i
            else:
                hit = self._map_key(i, col, step)
                if hit is None:
                    end = 1
                else:
                    key_line, value_line, value_col = hit
                    found = key_line
                    if value_line is None:
                        end = 2 if value_col < 0 else 1
                    else:
                        i, col = value_line, value_col
            memo[path[: n + 1]] = (i, col, found, end)
        return found

    def _block_end(self, start: int, col: int) -> int:
        """First line after ``start`` whose indent is below ``col`` (end of the node)."""
        _, ind = self._prepare()
        j = start + 1
        n = len(ind)
        while j < n:
            k = ind[j]
            if k >= 0 and k < col:
                return j
            j += 1
        return n

    def _node_lines(self, start: int, col: int) -> list[tuple[int, str]]:
        """(line index, content) of the lines that start at exactly ``col`` within the node."""
        lines, ind = self._prepare()
        out = [(start, lines[start][col:])]
        end = self._block_end(start, col)
        for j in range(start + 1, end):
            if ind[j] == col:
                out.append((j, lines[j][col:]))
        return out

    def _keys_of(self, i: int, col: int) -> dict[str, tuple[int, str, re.Match[str]]]:
        keys = self._nodes.get((i, col))
        if keys is not None:
            return keys  # type: ignore[no-any-return]
        lines, _ind = self._prepare()
        first = lines[i][col:]
        if first.startswith(("{", "[", "&", "*", "!", "?", "|", ">", "- ")) or first == "-":
            raise _Unsure()
        keys = {}
        for j, content in self._node_lines(i, col):
            m = _KEY_RE.match(content)
            if m is None:
                if content.startswith(("?", "{", "[", "&", "!", "*")):
                    raise _Unsure()
                continue
            if m.group(1) is not None:
                k = m.group(1).encode().decode("unicode_escape") if "\\" in m.group(1) else m.group(1)
            elif m.group(2) is not None:
                k = m.group(2).replace("''", "'")
            else:
                k = m.group(3)
            keys[k] = (j, content, m)  # the last one wins, as with duplicate keys in the parsers
        self._nodes[(i, col)] = keys
        return keys

    def _map_key(self, i: int, col: int, key: str) -> tuple[int, int | None, int] | None:
        hit = self._keys_of(i, col).get(key)
        if hit is None:
            return None
        lines, ind = self._prepare()
        j, content, m = hit
        rest = content[m.end() :].split(" #", 1)[0].strip()
        if rest.startswith("#"):
            rest = ""
        if rest:
            if rest.startswith(("&", "!", "*")):
                raise _Unsure()
            if rest.startswith(("{", "[")):
                return j, None, -1  # flow collection: the composer finds what is inside
            return j, None, 0  # scalar (plain, quoted or block) starting on the key line
        # the value is on the following lines
        for v in range(j + 1, len(ind)):
            if ind[v] >= 0:
                if ind[v] < col or (ind[v] == col and not lines[v][col:].startswith("-")):
                    return j, None, 0  # empty value (null)
                return j, v, ind[v]  # nested node (a compact sequence may sit at the key's indent)
        return j, None, 0

    def _seq_item(self, i: int, col: int, index: int) -> tuple[int, int] | None:
        items = self._nodes.get((i, col))
        if items is None:
            lines, _ = self._prepare()
            first = lines[i][col:]
            if not (first.startswith(("- ", "-\t")) or first == "-"):
                raise _Unsure()
            items = []
            for j, content in self._node_lines(i, col):
                if content == "-" or content.startswith("- "):
                    items.append(j)
                else:
                    break  # a key at the indent of a compact sequence ("containers:\n- name: a\nvolumes:")
            self._nodes[(i, col)] = items
        if not 0 <= index < len(items):
            return None
        j = items[index]
        lines, ind = self._prepare()
        rest = lines[j][col + 1 :]
        stripped = rest.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            # item content on the next lines
            for v in range(j + 1, len(ind)):
                if ind[v] >= 0:
                    if ind[v] <= col:
                        return None
                    return v, ind[v]
            return None
        if stripped.startswith(("- ", "&", "!", "*", "?")):
            raise _Unsure()
        return j, col + 1 + (len(rest) - len(stripped))

    # -- composer fall-back -------------------------------------------------------
    def _compose(self) -> dict[Path, int]:
        if self._composed is None:
            out: dict[Path, int] = {}
            try:
                node = yaml.compose(self.text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            except yaml.YAMLError:
                node = None
            if node is not None:
                _index_node(node, (), out, 0)
            self._composed = out
        return self._composed


def _index_node(node: Any, path: Path, out: dict[Path, int], depth: int) -> None:
    if depth > 200:
        return
    if path not in out:
        out[path] = node.start_mark.line
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                p = path + (k.value,)
                out[p] = k.start_mark.line
                _index_node(v, p, out, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for idx, v in enumerate(node.value):
            _index_node(v, path + (idx,), out, depth + 1)
