"""Watch one resource type after listing it: the events that keep a read cluster current.

The protocol as the API concepts page documents it ("Efficient detection of changes"):

- a watch starts from the ``resourceVersion`` of the list (or of the last event seen), with
  ``allowWatchBookmarks=true`` (the server then sends ``BOOKMARK`` events that only move the
  resourceVersion on, so a quiet type never falls behind the compaction window) and
  ``timeoutSeconds`` (the server ends the stream; kubefort starts the next one where it stopped);
- ``ADDED``, ``MODIFIED`` and ``DELETED`` carry the object (cleaned as the lists are:
  :func:`.reader.clean`); an ``ERROR`` event carries a ``Status``;
- **410 Gone** (an ``ERROR`` event with code 410, or a 410 answer): the resourceVersion is older than
  the server's history. The type is listed again from scratch (:func:`.reader.list_type`) and the
  whole new list is delivered (``RELISTED``); the watch resumes from that list;
- a dropped connection (an error, or a stream that ends before ``timeoutSeconds``), a timeout or a
  5xx: the watch resumes from the last resourceVersion seen, after a backoff (doubling, capped);
  nothing is missed, as the server replays what came after it.

Events go to a callback from the watcher's thread; the caller serialises them (kubefort watch puts
them on a queue). This layer knows nothing of rules: it keeps objects current, no more.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from .discovery import ResourceType
from .reader import ClusterSource, TypeList, Unreadable, clean, list_type
from .transport import ApiError, Transport

log = logging.getLogger(__name__)

ADDED, MODIFIED, DELETED, RELISTED = "ADDED", "MODIFIED", "DELETED", "RELISTED"


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchEvent:
    """One change of a watched type: an object added, modified or deleted, or (``RELISTED``) the whole
    list again after the watch fell out of the server's history."""

    type: ResourceType
    action: str  # ADDED | MODIFIED | DELETED | RELISTED
    object: dict[str, Any] | None = None
    items: list[dict[str, Any]] | None = None  # RELISTED: every object of the type now


@dataclass(slots=True, kw_only=True)
class WatchStats:
    events: int = 0
    bookmarks: int = 0
    relists: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)  # the most recent failures, newest last


class TypeWatcher:
    """Watches one resource type from a list's resourceVersion, in a thread of its own."""

    def __init__(
        self,
        transport: Transport,
        listed: TypeList,
        source: ClusterSource,
        deliver: Callable[[WatchEvent], None],
        *,
        on_error: Callable[[ResourceType, str], None] | None = None,
        timeout_seconds: int = 300,
        idle_timeout: float = 120.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.transport = transport
        self.type = listed.type
        self.source = source
        self.resource_version = listed.resource_version
        self.deliver = deliver
        self.on_error = on_error
        self.timeout_seconds = timeout_seconds
        self.idle_timeout = idle_timeout
        self.max_backoff = max_backoff
        self.stats = WatchStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> TypeWatcher:
        self._thread = threading.Thread(target=self.run, name=f"watch-{self.type.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                started = time.monotonic()
                self._watch_once()
                failures = 0
                lasted = time.monotonic() - started
                if not self._stop.is_set() and lasted < 0.9 * self.timeout_seconds:
                    # the server ends a watch after timeoutSeconds: an earlier end is a dropped connection
                    # (a proxy, a restarting API server), resumed from the last resourceVersion
                    self.stats.reconnects += 1
                    self._failed(f"watch {self.type.name}: the connection ended after {lasted:.1f}s (resuming)")
                if lasted < 1.0:  # a server that ends every watch at once: no busy loop
                    self._stop.wait(1.0)
            except ApiError as e:
                if e.status == 410:
                    if self._relist():
                        failures = 0
                        continue
                    e = ApiError(410, "Expired", "the list kept expiring")
                failures += 1
                self._failed(f"watch {self.type.name}: {e}")
            except Exception as e:  # a bug or a surprise must not end the watch of this type for good
                log.debug("watch %s", self.type.name, exc_info=True)
                failures += 1
                self._failed(f"watch {self.type.name}: {type(e).__name__}")
            else:
                continue
            self.stats.reconnects += 1
            delay = min(self.max_backoff, 0.2 * (2 ** min(failures, 8))) * (0.5 + random.random() / 2)
            self._stop.wait(delay)

    def _failed(self, why: str) -> None:
        log.debug("%s", why)
        self.stats.errors = [*self.stats.errors[-19:], why]
        if self.on_error is not None:
            self.on_error(self.type, why)

    def _watch_once(self) -> None:
        """One watch request, read to its end; raises ApiError (410 included) on failure."""
        query = [
            ("watch", "true"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.timeout_seconds)),
        ]
        if self.resource_version:
            query.append(("resourceVersion", self.resource_version))
        path = self.type.path(self.source.namespace)
        with self.transport.stream(path, query, idle_timeout=self.idle_timeout) as lines:
            for line in lines:
                if self._stop.is_set():
                    return
                try:
                    event = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise ApiError(200, "InvalidResponse", f"watch event is not JSON: {e}") from None
                self._handle(event)

    def _handle(self, event: Any) -> None:
        if not isinstance(event, dict):
            raise ApiError(200, "InvalidResponse", "watch event is not an object")
        action, obj = event.get("type"), event.get("object")
        if not isinstance(obj, dict):
            raise ApiError(200, "InvalidResponse", "watch event without an object")
        md = obj.get("metadata")
        rv = str(md.get("resourceVersion") or "") if isinstance(md, dict) else ""
        if action == "BOOKMARK":
            self.stats.bookmarks += 1
            if rv:
                self.resource_version = rv
            return
        if action == "ERROR":
            code = obj.get("code")
            raise ApiError(
                code if isinstance(code, int) else 500, str(obj.get("reason") or "Error"), str(obj.get("message") or "")
            )
        if action not in (ADDED, MODIFIED, DELETED):
            raise ApiError(200, "InvalidResponse", f"unknown watch event type {action!r}")
        item = clean(obj, self.type, self.source.secret_values)
        self.stats.events += 1
        self.deliver(WatchEvent(type=self.type, action=str(action), object=item))
        if rv:
            self.resource_version = rv

    def _relist(self) -> bool:
        """List the type again (after a 410) and deliver the whole list; False when it cannot be listed."""
        self.stats.relists += 1
        got = list_type(self.transport, self.type, self.source, self.source.max_objects)
        if isinstance(got, Unreadable):
            self._failed(f"relist {self.type.name}: {got.reason}")
            return False
        self.resource_version = got.resource_version
        self.deliver(WatchEvent(type=self.type, action=RELISTED, items=got.items))
        return True


def wait_all(watchers: list[TypeWatcher], timeout: float) -> None:
    """Stop and join ``watchers`` (each ends at its next event, bookmark or idle timeout)."""
    for w in watchers:
        w.stop()
    deadline = time.monotonic() + timeout
    for w in watchers:
        w.join(max(0.0, deadline - time.monotonic()))
