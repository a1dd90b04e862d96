"""Writing kubefort's reports into a cluster (``scan --apply``, ``kubefort watch``).

The loading layer reads; this module is the one place kubefort writes to an API server, and it writes
only its own report objects (the documents :mod:`kubefort.reporters.openreports` formats):

- each report is written with **server-side apply** (``PATCH`` with ``Content-Type:
  application/apply-patch+yaml``, ``fieldManager=kubefort``, ``force=true``): the API server creates
  the object or updates the fields kubefort owns, in one idempotent request, and ``force`` takes
  over fields another manager set (a report is kubefort's alone);
- every object carries the label ``app.kubernetes.io/managed-by: kubefort``; after applying, the
  reports with that label that are not among the documents just written (a namespace whose objects
  are gone, a part no longer needed) are deleted. A namespace-restricted scan (``-n NS``) cleans up
  only in that namespace; the cluster-scoped report is always its own;
- requests go through the cluster transport (the official client's authentication, retries on 429
  and 5xx, the rate limit): apply and delete by name are idempotent, so a retried request is safe.

It sits below :mod:`kubefort.api` beside the rules (import-linter layers): it knows the transport
and the resource types discovery reports, nothing of rules or formats.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .loading.cluster.discovery import ResourceType, discover
from .loading.cluster.transport import ApiError, ClusterError, Transport

log = logging.getLogger(__name__)

FIELD_MANAGER = "kubefort"
APPLY_PATCH = "application/apply-patch+yaml"  # JSON is YAML: the body is sent as JSON
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_SELECTOR = f"{MANAGED_BY}={FIELD_MANAGER}"


ObjectKey = tuple[str, str, str | None, str]  # (apiVersion, kind, namespace, name)


@dataclass(slots=True, kw_only=True)
class PublishResult:
    """What one write did: objects applied and deleted (``Report shop/kubefort``), and what failed, why."""

    applied: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    failed_keys: list[ObjectKey] = field(default_factory=list)  # the reports that could not be written

    @property
    def ok(self) -> bool:
        return not self.failed


def object_key(doc: Mapping[str, Any]) -> ObjectKey:
    md = doc.get("metadata") or {}
    return (str(doc["apiVersion"]), str(doc["kind"]), md.get("namespace") or None, str(md["name"]))


def describe(key: ObjectKey) -> str:
    _, kind, ns, name = key
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


class ReportWriter:
    """Applies and deletes report objects of the given kinds on one cluster. The resource types are
    looked up once (API discovery): a kind the cluster does not serve is a :class:`ClusterError` that
    says which CRDs to install."""

    def __init__(self, transport: Transport, kinds: Iterable[tuple[str, str]]) -> None:
        self.transport = transport
        self.kinds = tuple(kinds)
        disc = discover(transport)
        self.types: dict[tuple[str, str], ResourceType] = {}
        for api_version, kind in self.kinds:
            group, _, version = api_version.rpartition("/")
            served = next((t for t in disc.resources if t.group == group and t.kind == kind), None)
            if served is None:
                raise ClusterError(
                    f"the cluster does not serve {api_version} {kind}: install its CustomResourceDefinition "
                    "(docs/cluster.md, Reports) before writing reports"
                )
            # the plural and scope from discovery, the version kubefort writes (a CRD serves several)
            self.types[(api_version, kind)] = dataclasses.replace(served, version=version)

    def _type(self, api_version: str, kind: str) -> ResourceType:
        try:
            return self.types[(api_version, kind)]
        except KeyError:
            raise ValueError(f"not a report kind this writer handles: {api_version} {kind}") from None

    def apply(self, doc: Mapping[str, Any]) -> None:
        """Server-side apply of one report; :class:`ApiError` when the server refuses it."""
        api_version, kind, ns, name = object_key(doc)
        md = doc.get("metadata") or {}
        if (md.get("labels") or {}).get(MANAGED_BY) != FIELD_MANAGER:
            raise ValueError(f"{describe(object_key(doc))}: a report kubefort writes carries {MANAGED_SELECTOR}")
        t = self._type(api_version, kind)
        self.transport.request(
            "PATCH",
            f"{t.path(ns)}/{name}",
            [("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=orjson.dumps(doc),
            content_type=APPLY_PATCH,
            ok=(200, 201),
        )

    def delete(self, key: ObjectKey) -> bool:
        """Delete one report; False when it was already gone."""
        api_version, kind, ns, name = key
        t = self._type(api_version, kind)
        try:
            self.transport.request("DELETE", f"{t.path(ns)}/{name}", ok=(200, 202))
        except ApiError as e:
            if e.status == 404:
                return False
            raise
        return True

    def managed(self, namespace: str | None = None) -> set[ObjectKey]:
        """The reports labelled as kubefort's (of this writer's kinds), in ``namespace`` only when given
        (cluster-scoped kinds: all of them)."""
        out: set[ObjectKey] = set()
        for (api_version, kind), t in self.types.items():
            token = ""
            for _ in range(10_000):
                query = [("labelSelector", MANAGED_SELECTOR), ("limit", "500")]
                if token:
                    query.append(("continue", token))
                body = self.transport.get(t.path(namespace), query).json()
                for item in body.get("items") or () if isinstance(body, dict) else ():
                    md = item.get("metadata") if isinstance(item, dict) else None
                    if isinstance(md, dict) and isinstance(md.get("name"), str):
                        ns = md.get("namespace") if t.namespaced else None
                        out.add((api_version, kind, ns or None, md["name"]))
                meta = body.get("metadata") if isinstance(body, dict) else None
                token = str((meta or {}).get("continue") or "")
                if not token:
                    break
        return out

    def sync(self, docs: Sequence[Mapping[str, Any]], *, namespace: str | None = None) -> PublishResult:
        """Apply ``docs``, then delete kubefort's reports that are not among them (in ``namespace``
        only when given). A report that fails to apply is recorded and the rest still written; the
        clean-up runs only when every apply succeeded (a report that could not be rewritten is never
        removed for it)."""
        result = PublishResult()
        wanted = {object_key(d) for d in docs}
        for doc in docs:
            key = object_key(doc)
            try:
                self.apply(doc)
            except ApiError as e:
                result.failed.append(f"cannot apply {describe(key)}: {e}")
                result.failed_keys.append(key)
            else:
                result.applied.append(describe(key))
        if result.failed:
            return result
        try:
            stale = self.managed(namespace) - wanted
        except ApiError as e:
            result.failed.append(f"cannot list kubefort's reports: {e}")
            return result
        for key in sorted(stale, key=lambda k: (k[1], k[2] or "", k[3])):
            try:
                if self.delete(key):
                    result.deleted.append(describe(key))
            except ApiError as e:
                result.failed.append(f"cannot delete {describe(key)}: {e}")
        return result
