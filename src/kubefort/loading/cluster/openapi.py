"""The cluster's own OpenAPI v3 documents, for the group-versions a scan validates (docs/schema.md, "Live").

``GET /openapi/v3`` lists every group-version's document with a URL whose ``hash`` names its content
(Kubernetes 1.27+ by default, 1.24+ with the feature gate); kubefort then reads only the documents of
the group-versions the caller asks for (those of the custom resources read), by their hashed URL.
What was read is kept by hash, so a snapshot carries the same schemas and a ``--snapshot`` scan
validates exactly as the live one did. A server without ``/openapi/v3``, or a document that cannot be
read, is recorded with the reason: the objects of that group-version are then validated against their
CustomResourceDefinition when it was read, else not at all (a note, never an error).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .transport import ApiError, Transport

log = logging.getLogger(__name__)

DISCOVERY_PATH = "/openapi/v3"


@dataclass(slots=True, kw_only=True)
class OpenAPIDocs:
    """OpenAPI v3 documents of some group-versions of one cluster, stored once per hash."""

    paths: dict[str, str] = field(default_factory=dict)  # group/version ("v1", "apps/v1") -> document hash
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # hash -> document
    failed: dict[str, str] = field(default_factory=dict)  # group/version ("" for /openapi/v3 itself) -> why

    def by_group_version(self) -> dict[str, dict[str, Any]]:
        """group/version -> its document."""
        return {gv: self.documents[h] for gv, h in sorted(self.paths.items()) if h in self.documents}

    def to_dict(self) -> dict[str, Any]:
        return {"paths": dict(self.paths), "documents": dict(self.documents), "failed": dict(self.failed)}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> OpenAPIDocs:
        docs = d.get("documents") or {}
        return OpenAPIDocs(
            paths={str(k): str(v) for k, v in (d.get("paths") or {}).items()},
            documents={str(k): v for k, v in docs.items() if isinstance(v, dict)},
            failed={str(k): str(v) for k, v in (d.get("failed") or {}).items()},
        )


def _path_key(gv: str) -> str:
    """The key of a group-version in the /openapi/v3 discovery: ``api/v1``, ``apis/apps/v1``."""
    return f"apis/{gv}" if "/" in gv else f"api/{gv}"


def read_openapi(transport: Transport, group_versions: Iterable[str]) -> OpenAPIDocs:
    """The documents of ``group_versions`` (``cert-manager.io/v1``) that the server publishes."""
    out = OpenAPIDocs()
    wanted = sorted(set(group_versions))
    if not wanted:
        return out
    try:
        index = transport.get(DISCOVERY_PATH).json()
    except ApiError as e:
        why = (
            "the server does not publish /openapi/v3 (Kubernetes 1.27+ does)"
            if e.status == 404
            else f"cannot read {DISCOVERY_PATH}: {e.short()}"
        )
        out.failed[""] = why
        return out
    paths = index.get("paths") if isinstance(index, dict) else None
    if not isinstance(paths, dict):
        out.failed[""] = f"cannot read {DISCOVERY_PATH}: not an OpenAPI v3 discovery document"
        return out
    for gv in wanted:
        entry = paths.get(_path_key(gv))
        url = entry.get("serverRelativeURL") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url.startswith(DISCOVERY_PATH + "/"):
            out.failed[gv] = f"{gv} is not published in {DISCOVERY_PATH}"
            continue
        parts = urlsplit(url)
        digest = (parse_qs(parts.query).get("hash") or [""])[-1]
        if digest and digest in out.documents:
            out.paths[gv] = digest
            continue
        try:
            resp = transport.get(parts.path, [("hash", digest)] if digest else [])
            doc = resp.json()
        except ApiError as e:
            out.failed[gv] = f"cannot read {parts.path}: {e.short()}"
            continue
        components = doc.get("components") if isinstance(doc, dict) else None
        if not isinstance(components, dict) or not isinstance(components.get("schemas"), dict):
            out.failed[gv] = f"{parts.path} is not an OpenAPI v3 document"
            continue
        digest = digest or hashlib.sha512(resp.body).hexdigest().upper()
        out.documents[digest] = doc
        out.paths[gv] = digest
        log.debug("read the OpenAPI v3 document of %s (%d schemas)", gv, len(components["schemas"]))
    return out
