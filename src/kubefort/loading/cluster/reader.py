"""Read what a scan needs from a cluster: one paginated LIST per resource type, cleaned on arrival.

The caller names the kinds (the rules' kinds and needs, :func:`kubefort.engine.rule.kinds_read`):
this layer knows nothing of rules. Each type is listed with ``limit`` and ``continue``; a 410 on a
continue token (the server compacted past the list's resourceVersion) starts that list again; a type
the server refuses (403) or keeps failing on is recorded as *unreadable* with the reason, and the
rules that need it are then not evaluated. Items arrive without ``apiVersion``/``kind`` in typed lists
(the API server omits them): they are set from the list. ``managedFields`` are dropped, and Secrets
keep only their metadata and data keys unless their values are asked for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ...model.inventory import Inventory
from ...model.objects import REDACTED, K8sObject, Source
from ..compact import Compactor
from .discovery import Discovery, ResourceType, discover
from .openapi import OpenAPIDocs, read_openapi
from .transport import ApiError, ClusterError, Endpoint, RequestLimits, Transport, load_client

log = logging.getLogger(__name__)

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: progress(types done, types in all, the type being read, objects read so far)
Progress = Callable[[int, int, str, int], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSource:
    """Where and how to read a cluster (the ``--cluster`` options)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None  # read namespaced types in this namespace only (cluster-scoped ones whole)
    qps: float = 50.0
    burst: int = 100
    request_timeout: float = 60.0
    secret_values: bool = False  # keep Secret values in memory (secret-content rules); never written out
    page_size: int = 500
    max_objects: int = 2_000_000  # a type that would take the total past this is not read
    max_pages: int = 100_000  # per list: a server that never stops paginating
    relists: int = 3  # lists started again after a 410 on their continue token


@dataclass(slots=True, kw_only=True)
class TypeList:
    """Every object of one type, as listed: the list's resourceVersion and the cleaned items."""

    type: ResourceType
    resource_version: str
    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreadable:
    type: ResourceType
    status: int  # HTTP status (0: transport failure)
    reason: str  # "cannot list networkpolicies: forbidden"


@dataclass(slots=True, kw_only=True)
class ReadStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    throttled_seconds: float = 0.0  # waited for the client-side rate limit


@dataclass(slots=True, kw_only=True)
class ClusterRead:
    """What was read from a cluster (or a snapshot of it): the content of a snapshot file."""

    context: str
    server: str
    namespace: str | None
    server_version: dict[str, Any]
    discovery: Discovery
    kinds: list[str]  # the kinds asked for
    lists: list[TypeList] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    secret_values: bool = False
    openapi: OpenAPIDocs = field(default_factory=OpenAPIDocs)  # the schemas of the custom resources read
    stats: ReadStats = field(default_factory=ReadStats)

    @property
    def label(self) -> str:
        """Where findings on these objects point: the cluster, by its kubeconfig context."""
        return f"cluster:{self.context}"

    def unreadable_kinds(self) -> dict[str, str]:
        """Why each kind could not be read, by the name it was asked for (``Policy``, or
        ``Policy.kyverno.io`` when one group's was asked for)."""
        asked = set(self.kinds)
        out: dict[str, str] = {}
        for u in self.unreadable:
            t = u.type
            for name in [n for n in (t.kind, f"{t.kind}.{t.group}") if n in asked] or [t.kind]:
                out[name] = f"{out[name]}; {u.reason}" if name in out else u.reason
        return out

    def object_count(self) -> int:
        return sum(len(t.items) for t in self.lists)

    def inventory(self) -> Inventory:
        """The objects as the model's :class:`Inventory` of a live cluster."""
        source = Source(file=self.label, live=True)
        objects = [
            K8sObject.from_raw(item, source, cluster_scoped=not t.type.namespaced)
            for t in self.lists
            for item in t.items
        ]
        inventory = Inventory(objects, live=True, unreadable=self.unreadable_kinds())
        inventory.openapi = self.openapi.by_group_version()
        return inventory


def read_cluster(
    source: ClusterSource,
    kinds: Iterable[str],
    progress: Progress | None = None,
    *,
    schemas: Callable[[str], bool] | None = None,
) -> ClusterRead:
    """Connect with ``source``, discover, and list every served type of ``kinds``; with ``schemas`` (a
    predicate on API groups), also read the cluster's OpenAPI v3 documents of the group-versions listed
    whose group it accepts (:mod:`.openapi`)."""
    api, endpoint = load_client(source.kubeconfig, source.context)
    transport = Transport(
        api, qps=source.qps, burst=source.burst, limits=RequestLimits(request_timeout=source.request_timeout)
    )
    try:
        return read_with(transport, endpoint, source, kinds, progress, schemas=schemas)
    finally:
        transport.close()


def read_with(
    transport: Transport,
    endpoint: Endpoint,
    source: ClusterSource,
    kinds: Iterable[str],
    progress: Progress | None = None,
    *,
    schemas: Callable[[str], bool] | None = None,
) -> ClusterRead:
    start = time.monotonic()
    try:
        version = transport.get("/version").json()
    except ApiError as e:
        if e.status in (401, 403):
            raise ClusterError(f"the API server refuses kubefort ({e.short()}): {e.message or e.reason}") from None
        if e.status == 0:
            raise ClusterError(f"cannot reach the API server at {endpoint.server}: {e.message or e.reason}") from None
        version = {}  # /version is informative only
    disc = discover(transport)
    wanted = sorted(set(kinds))
    read = ClusterRead(
        context=endpoint.context,
        server=endpoint.server,
        namespace=source.namespace,
        server_version=version if isinstance(version, dict) else {},
        discovery=disc,
        kinds=wanted,
        secret_values=source.secret_values,
    )
    types = disc.for_kinds(wanted)
    compact = Compactor()  # what repeats across the objects is kept once (kubefort.loading.compact)
    total = 0
    for i, t in enumerate(types):
        if progress is not None:
            progress(i, len(types), t.name, total)
        stale = disc.failed.get(t.api_version)
        if stale is not None:  # listed by a stale discovery: its API server is down, a list would fail too
            read.unreadable.append(Unreadable(type=t, status=503, reason=f"cannot list {t.resource}: {stale}"))
            continue
        got = list_type(transport, t, source, source.max_objects - total, compact)
        if isinstance(got, Unreadable):
            read.unreadable.append(got)
        else:
            total += len(got.items)
            read.lists.append(got)
    if schemas is not None:
        read.openapi = read_openapi(transport, {t.type.api_version for t in read.lists if schemas(t.type.group)})
    if progress is not None:
        progress(len(types), len(types), "", total)
    read.stats = ReadStats(
        requests=transport.requests,
        retries=transport.retried,
        bytes=transport.bytes_read,
        seconds=time.monotonic() - start,
        throttled_seconds=transport.limiter.waited,
    )
    return read


def list_type(
    transport: Transport, t: ResourceType, source: ClusterSource, room: int, compact: Compactor | None = None
) -> TypeList | Unreadable:
    """Every object of ``t`` (at most ``room``), page by page, listed again from the start when a
    continue token expires; or why the type cannot be read. The watch relists with it too. ``compact``
    shares what repeats across the objects (kubefort.loading.compact)."""
    keep = compact if compact is not None else Compactor()
    path = t.path(source.namespace)
    for _ in range(source.relists + 1):
        items: list[dict[str, Any]] = []
        resource_version = ""
        token: str | None = None
        seen: set[str] = set()
        for _page in range(source.max_pages):
            query = [("limit", str(source.page_size))]
            if token:
                query.append(("continue", token))
            try:
                body = transport.get(path, query).json()
            except ApiError as e:
                if e.status == 410 and token:
                    log.debug("list %s: continue token expired; listing again", t.name)
                    break  # relist from the start: the items so far may be from an older state
                return Unreadable(type=t, status=e.status, reason=f"cannot list {t.resource}: {e.short()}")
            page = body.get("items") if isinstance(body, dict) else None
            if not isinstance(page, list) or not str(body.get("kind", "")).endswith("List"):
                return Unreadable(type=t, status=200, reason=f"cannot list {t.resource}: the answer is not a list")
            if len(items) + len(page) > room:
                return Unreadable(
                    type=t, status=200, reason=f"cannot list {t.resource}: more objects than the limit of the scan"
                )
            for item in page:
                if isinstance(item, dict):
                    items.append(keep(clean(item, t, source.secret_values)))
            md = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
            if not resource_version:
                resource_version = str(md.get("resourceVersion") or "")
            token = md.get("continue") or None
            if not isinstance(token, str) or not token:
                return TypeList(type=t, resource_version=resource_version, items=items)
            if token in seen:
                return Unreadable(type=t, status=200, reason=f"cannot list {t.resource}: the server repeats a page")
            seen.add(token)
        else:
            return Unreadable(type=t, status=200, reason=f"cannot list {t.resource}: more pages than the limit")
    return Unreadable(type=t, status=410, reason=f"cannot list {t.resource}: the list kept expiring")


def clean(item: dict[str, Any], t: ResourceType, secret_values: bool) -> dict[str, Any]:
    """An item as kubefort keeps it: ``apiVersion``/``kind`` set, no ``managedFields`` (often half of an
    object's bytes, and nothing a rule reads) and, unless ``secret_values``, no Secret values."""
    if "kind" not in item:
        item = {"apiVersion": t.api_version, "kind": t.kind, **item}
    md = item.get("metadata")
    if isinstance(md, dict):
        md.pop("managedFields", None)
    if t.kind == "Secret" and t.group == "" and not secret_values:
        for key in ("data", "stringData"):
            values = item.get(key)
            if isinstance(values, dict):
                item[key] = dict.fromkeys(values, REDACTED)
        notes = md.get("annotations") if isinstance(md, dict) else None
        if isinstance(notes, dict) and LAST_APPLIED in notes:
            notes[LAST_APPLIED] = REDACTED  # kubectl apply repeats the values there, in clear
    return item
