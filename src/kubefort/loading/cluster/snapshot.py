"""Snapshot files: what a cluster scan read, saved for offline analysis (docs/cluster.md, "Snapshots").

A snapshot is one gzip-compressed JSON document::

    {"format": "kubefort.io/cluster-snapshot", "version": 1,
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

Loading it gives back the :class:`ClusterRead` the live scan judged, so the results are the same.
Secret values are never written: a snapshot of a scan that read them holds the placeholder instead.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import tempfile
from typing import Any

import orjson

from ...errors import LoadError
from .discovery import Discovery, ResourceType
from .openapi import OpenAPIDocs
from .reader import ClusterRead, TypeList, Unreadable, clean

FORMAT = "kubefort.io/cluster-snapshot"
VERSION = 1
#: a snapshot larger than this once decompressed is refused (a gzip bomb, or not ours)
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024 * 1024


def save_snapshot(read: ClusterRead, path: str, *, kubefort_version: str = "") -> None:
    """Write ``read`` to ``path`` (atomically: a temporary file renamed into place)."""
    head = {
        "format": FORMAT,
        "version": VERSION,
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
            body = orjson.dumps(head)
            out.write(body[:-1] + b',"lists":[')
            for i, t in enumerate(read.lists):
                if i:
                    out.write(b",")
                _write_list(out, t, read.secret_values)
            out.write(b"]}")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _write_list(out: gzip.GzipFile, t: TypeList, had_values: bool) -> None:
    items = [clean(dict(i), t.type, secret_values=False) for i in t.items] if had_values else t.items
    doc = {
        "apiVersion": t.type.api_version,
        "kind": f"{t.type.kind}List",
        "metadata": {"resourceVersion": t.resource_version},
        "resource": t.type.to_dict(),
        "items": items,
    }
    out.write(orjson.dumps(doc))


def load_snapshot(path: str) -> ClusterRead:
    """Read a snapshot file; :class:`LoadError` when it is not one kubefort can read."""
    try:
        with gzip.open(path, "rb") as fh:
            data = fh.read(MAX_SNAPSHOT_BYTES + 1)
    except FileNotFoundError:
        raise LoadError(path, "no such file") from None
    except (OSError, EOFError) as e:
        raise LoadError(path, f"not a kubefort snapshot (gzip: {e})") from None
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise LoadError(path, f"snapshot larger than {MAX_SNAPSHOT_BYTES} bytes uncompressed")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise LoadError(path, f"not a kubefort snapshot (JSON: {e})") from None
    del data
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LoadError(path, "not a kubefort snapshot (no format marker)")
    if doc.get("version") != VERSION:
        raise LoadError(path, f"snapshot format version {doc.get('version')!r}; this kubefort reads version {VERSION}")
    try:
        return _from_doc(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LoadError(path, f"malformed snapshot ({type(e).__name__}: {e})") from None


def _from_doc(doc: dict[str, Any]) -> ClusterRead:
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
    for lst in doc.get("lists") or ():
        t = ResourceType.from_dict(lst["resource"])
        items = [i for i in lst.get("items") or () if isinstance(i, dict)]
        md = lst.get("metadata") or {}
        read.lists.append(TypeList(type=t, resource_version=str(md.get("resourceVersion") or ""), items=items))
    return read
