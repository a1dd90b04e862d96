"""Requests to a Kubernetes API server through the official client, answers read as raw JSON.

The official ``kubernetes`` client does everything about *who* we are: kubeconfig files (``KUBECONFIG``
lists merged), contexts, client certificates, bearer tokens, exec credential plugins, OIDC, the
in-cluster service account, and the refresh of expiring credentials. kubefort never builds an
``Authorization`` header itself: each request is serialised by the client's ``param_serialize`` with
the ``BearerToken`` auth setting, exactly as its generated API methods do, and sent with ``call_api``.

What this module adds is *how* we read, for a scanner facing servers it does not trust:

- responses are streamed, never preloaded, and read up to ``max_response_bytes`` (after
  decompression), then parsed with orjson (3-5x faster than building the client's model objects);
- every request has a deadline (``request_timeout`` covers connecting, waiting and the whole body: a
  server that drips one byte a second cannot hold a scan);
- 429 and 5xx answers, dropped connections and timeouts are retried with exponential backoff and
  jitter, honouring ``Retry-After`` (capped), a bounded number of times;
- a client-side token bucket limits requests to ``qps`` per second with bursts of ``burst``;
- a watch (:meth:`Transport.stream`) is read line by line, with an idle timeout instead of a deadline.

The same transport carries the few writes kubefort makes (server-side apply and delete of its own
reports, :mod:`kubefort.publish`): writing is not the loading layer's business, but the connection is.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ...errors import KubefortError

log = logging.getLogger(__name__)

#: ``Accept`` for JSON answers (the API server would otherwise pick JSON too, but says so explicitly)
JSON = "application/json"


class ClusterError(KubefortError):
    """The cluster cannot be read at all: no kubeconfig, an unknown context, discovery failing."""


class ApiError(Exception):
    """A request that failed for good: an error status from the server (with its ``Status`` reason and
    message when it sent one), or the transport (``status`` 0: timeout, refused, TLS)."""

    def __init__(self, status: int, reason: str, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason  # the Status ``reason`` (Forbidden, Expired, TooManyRequests...) or a transport word
        self.message = message
        self.retry_after = retry_after

    def short(self) -> str:
        """``forbidden``, ``not found``, ``timed out``: what a summary line says about a failed list."""
        words = {
            401: "unauthorized",
            403: "forbidden",
            404: "not found",
            405: "method not allowed",
            410: "expired",
            429: "too many requests",
        }
        if self.status in words:
            return words[self.status]
        if self.status >= 500:
            return f"server error {self.status}"
        return self.reason or "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestLimits:
    """How far kubefort trusts a server."""

    request_timeout: float = 60.0  # seconds for one request, connection to last byte
    max_response_bytes: int = 512 * 1024 * 1024  # one page (decompressed); a page of 500 objects is a few MB
    retries: int = 5  # further attempts after a 429, a 5xx or a transport failure
    backoff: float = 0.5  # first wait; doubles each attempt (with jitter)
    max_backoff: float = 30.0
    max_retry_after: float = 60.0  # a Retry-After longer than this is not honoured in full


class RateLimiter:
    """A token bucket: ``qps`` tokens a second, at most ``burst`` saved (client-go's default limiter)."""

    def __init__(self, qps: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = max(qps, 0.001)
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._last = clock()
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting, for the benchmark

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.qps)
            self._last = now
            self._tokens -= 1.0
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
        if wait > 0:
            self.waited += wait
            time.sleep(wait)


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as e:
            raise ApiError(self.status, "InvalidResponse", f"not JSON: {e}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """What the kubeconfig (or the pod's service account) names: context, server, default namespace."""

    context: str
    server: str
    namespace: str | None


def load_client(kubeconfig: str | None, context: str | None, *, connections: int | None = None) -> tuple[Any, Endpoint]:
    """An ``ApiClient`` for the kubeconfig (``KUBECONFIG``, then ``~/.kube/config``) and context, or for
    the in-cluster service account when there is no kubeconfig and we run in a pod. ``connections``:
    how many connections to keep open at once (a watch holds one per type)."""
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException

    config: Any = importlib.import_module("kubernetes.config")  # untyped functions

    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    in_cluster = (
        kubeconfig is None
        and not os.environ.get("KUBECONFIG")
        and not os.path.exists(path)
        and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )
    try:
        if in_cluster:
            if context:
                raise ClusterError("--context: no kubeconfig to choose a context from (running in a pod)")
            config.load_incluster_config(client_configuration=cfg)
            ns_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
            ns = open(ns_file).read().strip() if os.path.exists(ns_file) else None
            endpoint = Endpoint(context="in-cluster", server=str(cfg.host), namespace=ns or None)
        else:
            if kubeconfig and not os.path.exists(kubeconfig):
                raise ClusterError(f"kubeconfig {kubeconfig}: no such file")
            contexts, current = config.list_kube_config_contexts(config_file=path)
            chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
            if chosen is None:
                names = ", ".join(sorted(str(c.get("name")) for c in contexts)) or "none"
                raise ClusterError(f"--context {context}: no such context in the kubeconfig (contexts: {names})")
            # persist_config=False: a scanner never rewrites the user's kubeconfig (refreshed OIDC tokens)
            config.load_kube_config(
                config_file=path, context=chosen.get("name"), client_configuration=cfg, persist_config=False
            )
            ctx_ns = (chosen.get("context") or {}).get("namespace")
            endpoint = Endpoint(context=str(chosen.get("name")), server=str(cfg.host), namespace=ctx_ns or None)
    except ConfigException as e:
        raise ClusterError(f"kubeconfig: {e}") from None
    except OSError as e:
        raise ClusterError(f"kubeconfig {path}: {e.strerror or e}") from None
    # kubefort retries itself (with Retry-After and a deadline); urllib3 must not retry underneath it
    cfg.retries = False
    cfg.client_go_retries = False
    if connections is not None:
        cfg.connection_pool_maxsize = max(connections, cfg.connection_pool_maxsize or 0)
    return client.ApiClient(cfg), endpoint


class Transport:
    """Rate-limited, retried, bounded requests to one API server: GETs for reading, :meth:`request`
    for the writes of :mod:`kubefort.publish`, :meth:`stream` for watches. Thread-safe for the rate
    limit; the counters are for one reader (a scan reads from one thread)."""

    def __init__(
        self,
        api_client: Any,
        *,
        qps: float = 50.0,
        burst: int = 100,
        limits: RequestLimits = RequestLimits(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api_client
        self.limits = limits
        self.limiter = RateLimiter(qps, burst)
        self._sleep = sleep
        self.requests = 0  # every attempt sent, retries included
        self.retried = 0
        self.bytes_read = 0

    def close(self) -> None:
        self.api.close()

    def get(
        self,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        *,
        accept: str = JSON,
        ok: Sequence[int] = (200,),
        retries: int | None = None,
    ) -> Response:
        """GET ``path`` and return the answer whose status is in ``ok``; raise :class:`ApiError` otherwise
        (after retrying what is worth retrying, ``retries`` times instead of the limits' when given)."""
        return self.request("GET", path, query, accept=accept, ok=ok, retries=retries)

    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        accept: str = JSON,
        ok: Sequence[int] = (200,),
        retries: int | None = None,
    ) -> Response:
        """``method`` on ``path`` (``body`` sent as is, with ``content_type``), retried like a GET: the
        writes kubefort makes (server-side apply, delete by name) are idempotent, so repeating one after
        a 429, a 5xx or a dropped connection is safe."""
        retries = self.limits.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                resp = self._once(method, path, query, accept, body, content_type)
            except ApiError as e:
                if e.status not in (0, 429) and e.status < 500:
                    raise
                failure = e
            else:
                if resp.status in ok:
                    return resp
                failure = _status_error(resp)
                if resp.status != 429 and resp.status < 500:
                    raise failure
            if attempt >= retries:
                raise failure
            delay = min(self.limits.max_backoff, self.limits.backoff * (2**attempt)) * (0.5 + random.random() / 2)
            if failure.retry_after is not None:
                delay = max(delay, min(failure.retry_after, self.limits.max_retry_after))
            log.debug("%s %s: %s; retrying in %.2fs", method, path, failure, delay)
            attempt += 1
            self.retried += 1
            self._sleep(delay)

    def _send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        accept: str,
        body: bytes | None,
        content_type: str | None,
        timeout: tuple[float, float],
    ) -> Any:
        """One request through the official client (its authentication, TLS and proxy settings); the raw
        urllib3 response, not yet read."""
        import urllib3

        self.limiter.acquire()
        self.requests += 1
        headers = {"Accept": accept, "Accept-Encoding": "gzip"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        method, url, headers, data, post = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            return self.api.call_api(
                method, url, header_params=headers, body=data, post_params=post, _request_timeout=timeout
            ).response
        except urllib3.exceptions.HTTPError as e:
            raise ApiError(0, _transport_word(e), str(e)) from None
        except Exception as e:  # the client wraps TLS failures in its ApiException (status 0)
            status = getattr(e, "status", 0)
            raise ApiError(status if isinstance(status, int) else 0, "ConnectionFailed", str(e)) from None

    def _once(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]],
        accept: str,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Response:
        import urllib3

        lim = self.limits
        deadline = time.monotonic() + lim.request_timeout
        raw = self._send(method, path, query, accept, body, content_type, (lim.request_timeout, lim.request_timeout))
        chunks: list[bytes] = []
        size, complete = 0, False
        try:
            while True:
                if time.monotonic() > deadline:
                    raise ApiError(0, "Timeout", f"no complete answer within {lim.request_timeout:g}s")
                chunk = raw.read(256 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if size > lim.max_response_bytes:
                    raise ApiError(raw.status, "ResponseTooLarge", f"answer larger than {lim.max_response_bytes} bytes")
                chunks.append(chunk)
            complete = True
        except urllib3.exceptions.HTTPError as e:
            raise ApiError(0, _transport_word(e), str(e)) from None
        finally:
            if complete:
                raw.release_conn()
            else:
                raw.close()  # an unread rest must not be reused on a pooled connection
        self.bytes_read += size
        return Response(raw.status, dict(raw.headers), b"".join(chunks))

    @contextlib.contextmanager
    def stream(
        self, path: str, query: Sequence[tuple[str, str]] = (), *, idle_timeout: float = 60.0
    ) -> Iterator[Iterator[bytes]]:
        """A long GET read line by line (a watch: one JSON event a line), not retried: the caller
        resumes from what it has seen. ``idle_timeout``: the longest silence between two reads before
        the connection counts as dropped (servers send bookmarks meanwhile). Raises :class:`ApiError`
        for an error status (with its ``Status``) and for a transport failure, also while iterating;
        a line longer than ``max_response_bytes`` is an error too."""
        import urllib3

        lim = self.limits
        raw = self._send("GET", path, query, JSON, None, None, (lim.request_timeout, idle_timeout))
        try:
            if raw.status != 200:
                body = raw.read(min(lim.max_response_bytes, 1024 * 1024))
                raise _status_error(Response(raw.status, dict(raw.headers), body))

            def lines() -> Iterator[bytes]:
                pending = b""
                try:
                    for chunk in raw.stream(64 * 1024, decode_content=True):
                        self.bytes_read += len(chunk)
                        pending += chunk
                        while (cut := pending.find(b"\n")) >= 0:
                            line, pending = pending[:cut], pending[cut + 1 :]
                            if line.strip():
                                yield line
                        if len(pending) > lim.max_response_bytes:
                            raise ApiError(
                                200, "ResponseTooLarge", f"a line longer than {lim.max_response_bytes} bytes"
                            )
                except urllib3.exceptions.HTTPError as e:
                    raise ApiError(0, _transport_word(e), str(e)) from None
                except OSError as e:  # a socket timeout surfaces as such on some Python versions
                    raise ApiError(0, "ConnectionDropped", str(e)) from None
                if pending.strip():
                    yield pending

            yield lines()
        finally:
            raw.close()  # a watch is never read to its end by choice: the connection is not reused


def _transport_word(e: Exception) -> str:
    import urllib3

    if isinstance(e, urllib3.exceptions.TimeoutError):
        return "Timeout"
    if isinstance(e, urllib3.exceptions.ProtocolError):
        return "ConnectionDropped"
    return "ConnectionFailed"


def _status_error(resp: Response) -> ApiError:
    """The error of a non-2xx answer, with the reason and message of its ``Status`` body when it has one."""
    reason, message = "", ""
    try:
        st = orjson.loads(resp.body) if resp.body else None
    except orjson.JSONDecodeError:
        st = None
    if isinstance(st, dict) and st.get("kind") == "Status":
        reason = str(st.get("reason") or "")
        message = str(st.get("message") or "")[:500]
    retry_after = None
    value = next((v for k, v in resp.headers.items() if k.lower() == "retry-after"), None)
    if value is not None:
        try:
            retry_after = max(0.0, float(value))
        except ValueError:
            retry_after = None
    return ApiError(resp.status, reason or f"HTTP{resp.status}", message, retry_after)
