"""Snapshot files: what a cluster scan read, saved for offline analysis (docs/cluster.md, "Snapshots").

A snapshot is one gzip-compressed JSON document::

    {"format": "kubefort.io/cluster-snapshot", "version": 1, "layout": "lines",
     "created": "2026-05-01T12:00:00Z", "kubefort": "0.1.0",
     "cluster": {"context": ..., "server": ..., "namespace": null, "serverVersion": {...}},
     "secretValues": false,
     "kinds": ["ClusterRole", ...],
     "discovery": {"aggregated": true, "resources": [...], "failed": {...}},
     "unreadable": [{"group": ..., "version": ..., "resource": ..., "kind": ..., "status": 403, "reason": ...}],
     "lists": [{"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "123"},
                "resource": {"group": "", "version": "v1", "resource": "pods", "kind": "Pod",
                             "namespaced": true, "verbs": [...]},
                "items": [...]}]}

written one object a line (``layout: lines``): the head up to ``"lists":[`` on the first line, then
each list's head up to ``"items":[`` on a line, each item on a line (a comma ends all but the last), and
``]}`` (``]},``) closing each list, a last ``]}`` the document. It stays one JSON document that any
JSON reader takes whole, and kubefort reads it a line at a time, holding only the objects it keeps:
never the decompressed file (a cluster at Kubernetes' limits is about a gigabyte of JSON). Files in
another layout are read whole. ``openapi`` holds the cluster's OpenAPI v3 documents of the custom
resources read, by hash (:mod:`.openapi`).

Loading it gives back the :class:`ClusterRead` the live scan judged, so the results are the same.
Secret values are never written: a snapshot of a scan that read them holds the placeholder instead.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import tempfile
import zlib
from collections.abc import Callable, Collection
from typing import Any, Protocol

import orjson

from ...errors import LoadError
from ..compact import Compactor
from .discovery import Discovery, ResourceType
from .openapi import OpenAPIDocs
from .reader import ClusterRead, TypeList, Unreadable, clean

FORMAT = "kubefort.io/cluster-snapshot"
VERSION = 1
#: a snapshot larger than this once decompressed is refused (a gzip bomb, or not ours)
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024 * 1024


#: the layout of the file: one JSON document, one object per line (see the module docstring)
LAYOUT = "lines"
_LISTS = b',"lists":['
_ITEMS = b',"items":['


def save_snapshot(read: ClusterRead, path: str, *, kubefort_version: str = "") -> None:
    """Write ``read`` to ``path`` (atomically: a temporary file renamed into place), one object a line."""
    head = {
        "format": FORMAT,
        "version": VERSION,
        "layout": LAYOUT,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kubefort": kubefort_version,
        "cluster": {
            "context": read.context,
            "server": read.server,
            "namespace": read.namespace,
            "serverVersion": read.server_version,
        },
        "secretValues": False,
        "kinds": read.kinds,
        "discovery": read.discovery.to_dict(),
        "unreadable": [{**u.type.to_dict(), "status": u.status, "reason": u.reason} for u in read.unreadable],
        "openapi": read.openapi.to_dict(),
    }
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".kubefort-snapshot-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
            out.write(orjson.dumps(head)[:-1] + _LISTS + b"\n")
            for i, t in enumerate(read.lists):
                _write_list(out, t, read.secret_values)
                out.write(b"]},\n" if i < len(read.lists) - 1 else b"]}\n")
            out.write(b"]}\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _write_list(out: gzip.GzipFile, t: TypeList, had_values: bool) -> None:
    doc = {
        "apiVersion": t.type.api_version,
        "kind": f"{t.type.kind}List",
        "metadata": {"resourceVersion": t.resource_version},
        "resource": t.type.to_dict(),
    }
    out.write(orjson.dumps(doc)[:-1] + _ITEMS + b"\n")
    buf: list[bytes] = []
    last = len(t.items) - 1
    for i, item in enumerate(t.items):
        if had_values:
            item = clean(dict(item), t.type, secret_values=False)
        buf.append(orjson.dumps(item) + (b",\n" if i < last else b"\n"))
        if len(buf) >= 1000:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))


#: (resource type, item) -> whether to keep the item (``load_snapshot(select=...)``)
ItemFilter = Callable[[ResourceType, dict[str, Any]], bool]


def load_snapshot(path: str, *, kinds: Collection[str] | None = None, select: ItemFilter | None = None) -> ClusterRead:
    """Read a snapshot file; :class:`LoadError` when it is not one kubefort can read.

    Files in the line layout (what :func:`save_snapshot` writes) are read a line at a time: the
    decompressed file is never in memory, only the objects kept, and those share what repeats
    (:class:`kubefort.loading.compact.Compactor`). ``kinds``: keep the lists of these kinds only (the others are
    skipped unparsed); ``select``: keep only the items it accepts."""
    try:
        with gzip.open(path, "rb") as fh:
            return _load(path, fh, kinds, select)
    except FileNotFoundError:
        raise LoadError(path, "no such file") from None
    except (OSError, EOFError, zlib.error) as e:
        raise LoadError(path, f"not a kubefort snapshot (gzip: {e})") from None


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...


class _SnapshotBudget:
    """The bytes left before the snapshot is too large (a gzip bomb, or not ours)."""

    def __init__(self, path: str) -> None:
        self.path, self.left = path, MAX_SNAPSHOT_BYTES

    def line(self, fh: _Lines) -> bytes:
        data = fh.readline(self.left + 1)
        self.left -= len(data)
        if self.left < 0:
            raise LoadError(self.path, f"snapshot larger than {MAX_SNAPSHOT_BYTES} bytes uncompressed")
        return data


def _load(path: str, fh: _Lines, kinds: Collection[str] | None, select: ItemFilter | None) -> ClusterRead:
    budget = _SnapshotBudget(path)
    first = budget.line(fh)
    head_line = first.rstrip(b"\n")
    if first.endswith(b"\n") and head_line.endswith(_LISTS):
        try:
            head = orjson.loads(head_line[: -len(_LISTS)] + b"}")
        except orjson.JSONDecodeError:
            head = None
        if isinstance(head, dict) and head.get("layout") == LAYOUT:
            read = _head(path, head)
            try:
                _stream(fh, budget, read, kinds, select)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise LoadError(path, f"malformed snapshot ({type(e).__name__}: {e})") from None
            return read
    # one JSON document in any other layout (hand-made, or written before the line layout)
    rest = fh.read(budget.left + 1)
    if len(rest) > budget.left:
        raise LoadError(path, f"snapshot larger than {MAX_SNAPSHOT_BYTES} bytes uncompressed")
    try:
        doc = orjson.loads(first + rest)
    except orjson.JSONDecodeError as e:
        raise LoadError(path, f"not a kubefort snapshot (JSON: {e})") from None
    del first, rest
    read = _head(path, doc)
    compact = Compactor()
    try:
        for lst in doc.get("lists") or ():
            t = ResourceType.from_dict(lst["resource"])
            if kinds is not None and not t.named_in(kinds):
                continue
            items = [
                compact(i) for i in lst.get("items") or () if isinstance(i, dict) and (select is None or select(t, i))
            ]
            md = lst.get("metadata") or {}
            read.lists.append(TypeList(type=t, resource_version=str(md.get("resourceVersion") or ""), items=items))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LoadError(path, f"malformed snapshot ({type(e).__name__}: {e})") from None
    return read


def _stream(
    fh: _Lines, budget: _SnapshotBudget, read: ClusterRead, kinds: Collection[str] | None, select: ItemFilter | None
) -> None:
    """The lists of a snapshot in the line layout, after its first line."""
    compact = Compactor()
    while True:
        line = budget.line(fh).rstrip(b"\n")
        if line == b"]}":
            return
        if not line.endswith(_ITEMS):
            raise ValueError("a list does not start where one should" if line else "the file ends in the middle")
        lst = orjson.loads(line[: -len(_ITEMS)] + b"}")
        t = ResourceType.from_dict(lst["resource"])
        keep = kinds is None or t.named_in(kinds)
        items: list[dict[str, Any]] = []
        while True:
            line = budget.line(fh).rstrip(b"\n")
            if line in (b"]},", b"]}"):
                break
            if not line:
                raise ValueError("the file ends in the middle of a list")
            if keep:
                item = orjson.loads(line[:-1] if line.endswith(b",") else line)
                if isinstance(item, dict) and (select is None or select(t, item)):
                    items.append(compact(item))
        if keep:
            md = lst.get("metadata") or {}
            read.lists.append(TypeList(type=t, resource_version=str(md.get("resourceVersion") or ""), items=items))


def _head(path: str, doc: Any) -> ClusterRead:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LoadError(path, "not a kubefort snapshot (no format marker)")
    if doc.get("version") != VERSION:
        raise LoadError(path, f"snapshot format version {doc.get('version')!r}; this kubefort reads version {VERSION}")
    try:
        cluster = doc.get("cluster") or {}
        read = ClusterRead(
            context=str(cluster.get("context") or ""),
            server=str(cluster.get("server") or ""),
            namespace=cluster.get("namespace") or None,
            server_version=dict(cluster.get("serverVersion") or {}),
            discovery=Discovery.from_dict(doc.get("discovery") or {}),
            kinds=[str(k) for k in doc.get("kinds") or ()],
            secret_values=False,
            openapi=OpenAPIDocs.from_dict(doc.get("openapi") or {}),
        )
        for u in doc.get("unreadable") or ():
            read.unreadable.append(
                Unreadable(type=ResourceType.from_dict(u), status=int(u.get("status") or 0), reason=str(u["reason"]))
            )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LoadError(path, f"malformed snapshot ({type(e).__name__}: {e})") from None
    return read
