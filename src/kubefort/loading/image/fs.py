"""The file tree an image's layers make together, without unpacking anything.

Layers are applied in order with the OCI whiteout rules (``.wh.NAME`` deletes ``NAME`` of the
layers below, ``.wh..wh..opq`` empties a directory of what the layers below put there). A node keeps
the layer it came from and, when an analysis asked for it, what that analysis kept of its content.
Every content taken is also kept in :attr:`FileSystem.taken`, in layer order, whether a later layer
replaced or deleted the file or not: a package database as each layer left it tells which layer
installed a package, and a secret in a file a later layer deleted is still in the image.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .layers import ImageRefused, LayerEntry


@dataclass(slots=True)
class FileNode:
    """A path of the merged tree: the entry that put it there and what an analysis kept of it."""

    entry: LayerEntry
    content: Any = None  # what the analysis's ``take`` returned; None when not read
    taken: bool = False

    @property
    def path(self) -> str:
        return self.entry.path

    @property
    def layer(self) -> int:
        return self.entry.layer


@dataclass(slots=True)
class FileSystem:
    """The merged tree: ``nodes`` by path (relative to the root, no leading ``/``)."""

    name: str  # the image, for error messages
    max_hops: int = 40
    nodes: dict[str, FileNode] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    taken: list[FileNode] = field(default_factory=list)  # every content taken, in layer order
    links: set[str] = field(default_factory=set)  # paths of the symbolic links of the tree
    notes: list[str] = field(default_factory=list)

    # -- building -------------------------------------------------------------------------------------
    def apply(self, entry: LayerEntry, content: Any = None, taken: bool = False) -> FileNode | None:
        """Apply one entry of layer ``entry.layer``; whiteouts remove what lower layers put there."""
        if self.links:
            placed = self._placed(entry.path)
            if placed != entry.path:
                entry = replace(entry, path=placed)
        if entry.type == "whiteout":
            self._remove(entry.path, below=entry.layer)
            return None
        if entry.type == "opaque":
            for child in list(self.children.get(entry.path, ())):
                self._remove(child, below=entry.layer)
            return None
        path = entry.path
        old = self.nodes.get(path)
        if old is not None and old.entry.type == "dir" and entry.type != "dir":
            self._remove(path, below=entry.layer + 1)
        node = FileNode(entry, content, taken)
        self.nodes[path] = node
        if entry.type == "symlink":
            self.links.add(path)
        elif old is not None and old.entry.type == "symlink":
            self.links.discard(path)
        if path:
            parent = posixpath.dirname(path)
            self.children.setdefault(parent, set()).add(path)
            while parent and parent not in self.nodes:  # tar may leave out parent directories
                self.nodes[parent] = FileNode(
                    LayerEntry(layer=entry.layer, path=parent, type="dir", size=0, mode=0o755)
                )
                grand = posixpath.dirname(parent)
                self.children.setdefault(grand, set()).add(parent)
                parent = grand
        if taken:
            self.taken.append(node)
        return node

    def _placed(self, path: str) -> str:
        """Where an entry lands: its parent directories resolved through symbolic links (the entry
        itself is not followed), as the runtimes extract layers (containerd resolves each path in
        the root): ``lib/x`` lands in ``usr/lib/x`` when ``lib`` links to ``usr/lib``. Directories
        that do not exist yet are created where the links lead; a dangling link leaves the path."""
        parent, _, base = path.rpartition("/")
        if not parent:
            return path
        parts = parent.split("/")
        done = ""
        for i, part in enumerate(parts):
            cand = f"{done}/{part}" if done else part
            node = self.nodes.get(cand)
            if node is None:
                rest = "/".join(parts[i:])
                done = f"{done}/{rest}" if done else rest
                break
            if node.entry.type == "symlink":
                real = self.resolve(cand)
                if real is None:
                    return path
                cand = real
            done = cand
        return f"{done}/{base}" if done else base

    def _remove(self, path: str, *, below: int) -> None:
        node = self.nodes.get(path)
        if node is None or node.layer >= below:
            return
        for child in list(self.children.get(path, ())):
            self._remove(child, below=below)
        if not self.children.get(path):
            self.children.pop(path, None)
            del self.nodes[path]
            self.links.discard(path)
            parent = posixpath.dirname(path)
            siblings = self.children.get(parent)
            if siblings is not None:
                siblings.discard(path)

    # -- reading --------------------------------------------------------------------------------------
    def resolve(self, path: str) -> str | None:
        """``path`` with every symbolic link on the way followed, inside the image (``..`` at the root
        stays at the root, as in a chroot); None when it does not exist. A loop is refused."""
        return self._resolve(path.strip("/"), 0, ())

    def _resolve(self, path: str, hops: int, chain: tuple[str, ...]) -> str | None:
        done = ""
        parts = [p for p in path.split("/") if p and p != "."]
        i = 0
        while i < len(parts):
            part = parts[i]
            i += 1
            if part == "..":
                done = posixpath.dirname(done)
                continue
            cand = f"{done}/{part}" if done else part
            node = self.nodes.get(cand)
            if node is None:
                return None
            if node.entry.type == "hardlink":
                node = self.nodes.get(node.entry.target, node)
                cand = node.path
            if node.entry.type == "symlink":
                hops += 1
                if hops > self.max_hops:
                    shown = " -> ".join((*chain, cand)[-6:])
                    raise ImageRefused(self.name, f"symbolic link loop at /{cand} ({shown}); refused")
                target = node.entry.target
                base = "" if target.startswith("/") else posixpath.dirname(cand)
                rest = "/".join(parts[i:])
                joined = f"{base}/{target}" if base else target
                return self._resolve(f"{joined}/{rest}" if rest else joined, hops, (*chain, cand))
            done = cand
        return done

    def get(self, path: str) -> FileNode | None:
        """The node at ``path`` after following symbolic links (hard links too), or None."""
        real = self.resolve(path)
        if real is None:
            return None
        node = self.nodes.get(real)
        if node is not None and node.entry.type == "hardlink":
            node = self.nodes.get(node.entry.target)
        return node

    def check_links(self) -> None:
        """Refuse the image when any symbolic link loops (resolving each once)."""
        for path, node in self.nodes.items():
            if node.entry.type == "symlink":
                self.resolve(path)

    def files(self) -> Iterator[FileNode]:
        """Regular files of the merged tree."""
        for node in self.nodes.values():
            if node.entry.type == "file":
                yield node

    def listdir(self, path: str) -> list[str]:
        real = self.resolve(path)
        if real is None:
            return []
        return sorted(self.children.get(real, ()))
