"""The HTTPS server of the webhook (starlette + uvicorn). The decision itself is :func:`.review.review`.

Endpoints:

- ``POST /validate``: an ``admission.k8s.io/v1`` AdmissionReview in, the AdmissionReview response out.
  Bodies over ``max_body`` bytes get 413 before anything is parsed (from ``Content-Length``, or while
  reading a chunked body); invalid JSON, a wrong apiVersion/kind or a missing ``request`` get 400, a
  non-JSON content type 415, other methods 405; an unexpected failure 500. The server never crashes
  on a request.
- ``GET /healthz`` (liveness), ``GET /readyz`` (readiness: 503 while shutting down or when the
  serving certificate could not be (re)loaded), ``GET /metrics`` (Prometheus text format).

One JSON line per decision goes to stdout (the audit log): uid, operation, kind, namespace, name,
user, decision, rule IDs, latency; never a field value of the object. TLS 1.2 is the minimum, with
forward-secret AEAD cipher suites only; the certificate and key are re-read when their files change
(cert-manager or a Secret update rotates them without a restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import ssl
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .config import AdmissionPolicy
from .review import ReviewError, review_detailed

log = logging.getLogger("kubefort.admission")

DEFAULT_MAX_BODY = 3 * 1024 * 1024  # the API server's own limit on request bodies is 3 MiB
DEFAULT_PORT = 8443
INLINE_BODY = 128 * 1024  # larger bodies are judged in a worker thread
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"  # TLS 1.2; TLS 1.3 suites are all AEAD with forward secrecy
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_JSON_TYPES = ("application/json", "application/json;", "application/json ")


# -- metrics ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Metrics:
    """Counters and a latency histogram, rendered in the Prometheus text format (0.0.4)."""

    requests: Counter[tuple[str, str, str, str]] = field(
        default_factory=Counter
    )  # (operation, kind, decision, dry_run)
    denials: Counter[str] = field(default_factory=Counter)  # rule ID
    warnings: Counter[str] = field(default_factory=Counter)
    audits: Counter[str] = field(default_factory=Counter)
    rule_errors: Counter[str] = field(default_factory=Counter)
    bad_requests: Counter[int] = field(default_factory=Counter)  # HTTP status
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    latency_sum: float = 0.0
    latency_count: int = 0
    cert_reloads: int = 0

    def observe(self, seconds: float) -> None:
        self.latency_sum += seconds
        self.latency_count += 1
        for i, b in enumerate(BUCKETS):
            if seconds <= b:
                self.buckets[i] += 1
                break

    def render(self, policy: AdmissionPolicy) -> str:
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        family(
            "kubefort_admission_requests_total",
            "counter",
            "Admission reviews answered, by operation, kind and decision.",
        )
        for (op, kind, decision, dry), n in sorted(self.requests.items()):
            out.append(
                f'kubefort_admission_requests_total{{operation="{_esc(op)}",kind="{_esc(kind)}",'
                f'decision="{decision}",dry_run="{dry}"}} {n}'
            )
        for name, counter, help_ in (
            ("kubefort_admission_denials_total", self.denials, "Denied requests, by rule that denied them."),
            ("kubefort_admission_warnings_total", self.warnings, "Requests allowed with a warning, by rule."),
            ("kubefort_admission_audits_total", self.audits, "Findings of rules in audit mode, by rule."),
            ("kubefort_admission_rule_errors_total", self.rule_errors, "Rules that failed on a request, by rule."),
        ):
            family(name, "counter", help_)
            for rid, n in sorted(counter.items()):
                out.append(f'{name}{{rule="{_esc(rid)}"}} {n}')
        family(
            "kubefort_admission_bad_requests_total", "counter", "Requests refused with an HTTP error, by status code."
        )
        for code, n in sorted(self.bad_requests.items()):
            out.append(f'kubefort_admission_bad_requests_total{{code="{code}"}} {n}')
        family(
            "kubefort_admission_request_duration_seconds",
            "histogram",
            "Time to answer an admission review (body read, decision, response).",
        )
        cum = 0
        for b, n in zip(BUCKETS, self.buckets):
            cum += n
            out.append(f'kubefort_admission_request_duration_seconds_bucket{{le="{b}"}} {cum}')
        out.append(f'kubefort_admission_request_duration_seconds_bucket{{le="+Inf"}} {self.latency_count}')
        out.append(f"kubefort_admission_request_duration_seconds_sum {self.latency_sum:.6f}")
        out.append(f"kubefort_admission_request_duration_seconds_count {self.latency_count}")
        family("kubefort_admission_rules", "gauge", "Rules of the policy, evaluated at admission or skipped.")
        out.append(f'kubefort_admission_rules{{state="evaluated"}} {len(policy.rules)}')
        out.append(f'kubefort_admission_rules{{state="skipped"}} {len(policy.skipped)}')
        family(
            "kubefort_admission_certificate_reloads_total",
            "counter",
            "Serving certificate reloads after a file change.",
        )
        out.append(f"kubefort_admission_certificate_reloads_total {self.cert_reloads}")
        return "\n".join(out) + "\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# -- TLS ----------------------------------------------------------------------------------------


class CertStore:
    """The server's SSLContext (TLS 1.2+), reloaded in place when the certificate or key file changes.

    New connections use the new certificate; open ones keep theirs."""

    def __init__(self, cert: str, key: str) -> None:
        self.cert, self.key = cert, key
        self.context = make_ssl_context(cert, key)
        self._stamp = self._files_stamp()
        self.healthy = True

    def _files_stamp(self) -> tuple[float, float, int, int]:
        c, k = os.stat(self.cert), os.stat(self.key)
        return (c.st_mtime, k.st_mtime, c.st_size, k.st_size)

    def maybe_reload(self) -> bool:
        try:
            stamp = self._files_stamp()
            if stamp == self._stamp:
                return False
            self.context.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as e:
            # a half-written pair (cert updated, key not yet): keep serving the old one, retry later
            log.warning("cannot reload the serving certificate: %s", type(e).__name__)
            self.healthy = False
            return False
        self._stamp = stamp
        self.healthy = True
        return True


def make_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHERS)
    ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_COMPRESSION
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.load_cert_chain(cert, key)
    return ctx


# -- application --------------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    draining: bool = False


def create_app(
    policy: AdmissionPolicy,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    audit_out: IO[str] | None = None,
    metrics: Metrics | None = None,
    certs: CertStore | None = None,
    reload_interval: float = 10.0,
) -> Starlette:
    """The ASGI application. ``audit_out``: where the audit log lines go (default stdout)."""
    metrics = metrics or Metrics()
    state = _State()
    big_reviews = anyio.CapacityLimiter(1)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

    def emit(record: dict[str, Any]) -> None:
        out = audit_out or sys.stdout
        try:
            out.write(dumps(record) + "\n")
            out.flush()
        except (OSError, ValueError):  # a closed or full stdout must not fail the request
            pass

    def error(code: int, message: str, *, close: bool = False) -> Response:
        metrics.bad_requests[code] += 1
        body = {"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "message": message}
        headers = {"connection": "close"} if close else None
        return Response(dumps(body), status_code=code, media_type="application/json", headers=headers)

    async def validate(request: Request) -> Response:
        t0 = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return error(400, "invalid Content-Length", close=True)
            if n > max_body:
                return error(413, f"request body of {n} bytes is over the limit of {max_body} bytes", close=True)
        ctype = request.headers.get("content-type", "application/json").lower()
        if not (ctype == "application/json" or ctype.startswith(_JSON_TYPES) or ctype.endswith("+json")):
            return error(415, "expected Content-Type: application/json")
        chunks = bytearray()
        try:
            async for chunk in request.stream():
                chunks += chunk
                if len(chunks) > max_body:
                    return error(413, f"request body is over the limit of {max_body} bytes", close=True)
        except ClientDisconnect:
            return error(400, "the client went away before sending the whole body", close=True)
        try:
            data = json.loads(chunks)
        except (ValueError, UnicodeDecodeError):
            return error(400, "the body is not valid JSON")
        except RecursionError:
            return error(400, "the body is nested too deeply")
        try:
            if len(chunks) > INLINE_BODY:
                # a large object can take seconds to judge: do it in a worker thread (one at a time) so that
                # the event loop keeps answering small reviews and the probes meanwhile
                decision = await anyio.to_thread.run_sync(review_detailed, data, policy, limiter=big_reviews)
            else:
                decision = review_detailed(data, policy)
        except ReviewError as e:
            return error(e.code, str(e))
        except RecursionError:
            return error(400, "the object is nested too deeply")
        except Exception:  # a bug: answer 500 (the API server applies failurePolicy), keep serving
            log.exception("internal error while reviewing a request")
            return error(500, "internal error while reviewing the request (see the webhook's log)")
        body = dumps(decision.response)
        latency = time.perf_counter() - t0
        metrics.observe(latency)
        kind = decision.kind if decision.kind in policy.kinds else "other"  # bounded label values
        metrics.requests[(decision.operation, kind, decision.outcome, "true" if decision.dry_run else "false")] += 1
        for rid in decision.denied:
            metrics.denials[rid] += 1
        for rid in decision.warned:
            metrics.warnings[rid] += 1
        for rid in decision.audited:
            metrics.audits[rid] += 1
        for rid in decision.rule_errors:
            metrics.rule_errors[rid] += 1
        emit(decision.log_record(latency))
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response("ok\n", media_type="text/plain")

    async def readyz(request: Request) -> Response:
        if state.draining:
            return Response("shutting down\n", status_code=503, media_type="text/plain")
        if certs is not None and not certs.healthy:
            return Response("serving certificate could not be reloaded\n", status_code=503, media_type="text/plain")
        return Response(f"ok: {len(policy.rules)} rules\n", media_type="text/plain")

    async def metrics_ep(request: Request) -> Response:
        return Response(metrics.render(policy), media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything built so far (modules, rules, the policy) lives as long as the process: move it out
        # of the cyclic collector's reach, so that its full collections, which would walk it all, do not
        # pause a request for ~10 ms now and then (measured: the slowest of 20k reviews 10.5 ms -> 1.3 ms).
        gc.collect()
        gc.freeze()
        task = None
        if certs is not None:

            async def watch() -> None:
                while True:
                    await asyncio.sleep(reload_interval)
                    if certs.maybe_reload():
                        metrics.cert_reloads += 1
                        log.warning("serving certificate reloaded")

            task = asyncio.create_task(watch())
        try:
            yield
        finally:
            state.draining = True
            if task is not None:
                task.cancel()

    app = Starlette(
        routes=[
            Route("/validate", validate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_ep, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.certs = certs
    return app


def make_server(
    policy: AdmissionPolicy,
    *,
    cert: str,
    key: str,
    host: str = "0.0.0.0",
    port: int = DEFAULT_PORT,
    max_body: int = DEFAULT_MAX_BODY,
    audit_out: IO[str] | None = None,
    log_level: str = "warning",
    reload_interval: float = 10.0,
    http: str = "auto",
    graceful_timeout: int = 25,
) -> Any:
    """A ``uvicorn.Server`` serving the webhook over HTTPS; ``.run()`` it, or start it in a thread."""
    import uvicorn

    certs = CertStore(cert, key)
    app = create_app(policy, max_body=max_body, audit_out=audit_out, certs=certs, reload_interval=reload_interval)

    def ssl_factory(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return certs.context

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_context_factory=ssl_factory,
        access_log=False,
        log_level=log_level,
        ws="none",
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        http=http,
        timeout_keep_alive=30,  # the API server keeps connections to webhooks open
        h11_max_incomplete_event_size=64 * 1024,
        timeout_graceful_shutdown=graceful_timeout,  # below the pod's terminationGracePeriodSeconds (30)
    )
    return uvicorn.Server(config)


# -- several worker processes -------------------------------------------------------------------
#
# One Python process evaluates rules on one core. ``serve --workers N`` runs N processes on the same
# socket (uvicorn's supervisor restarts a worker that dies). Each worker keeps its own metrics
# counters: in a cluster prefer more replicas of one worker each.

_WORKER_ENV = "KUBEFORT_ADMISSION_WORKER"
#: the serving certificate of this worker process (uvicorn imports the app once per worker)
_WORKER_CERTS: list[CertStore] = []


def _settings() -> dict[str, Any]:
    settings: dict[str, Any] = json.loads(os.environ[_WORKER_ENV])
    return settings


def _certs_of_worker() -> CertStore:
    if not _WORKER_CERTS:
        s = _settings()
        _WORKER_CERTS.append(CertStore(s["cert"], s["key"]))
    return _WORKER_CERTS[0]


def worker_ssl_context(config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    return _certs_of_worker().context


def worker_app() -> Starlette:
    """The application of one worker process (an ASGI factory), from the settings in the environment."""
    s = _settings()
    policy = AdmissionPolicy.from_files(
        config_path=s.get("config"),
        policy_path=s.get("policy"),
        rules=s.get("rules") or (),
        skip_rules=s.get("skip_rules") or (),
        fail_on=s.get("fail_on"),
    )
    return create_app(policy, max_body=s.get("max_body", DEFAULT_MAX_BODY), certs=_certs_of_worker())


def worker_settings(
    *,
    cert: str,
    key: str,
    config: str | None,
    policy: str | None,
    rules: Sequence[str],
    skip_rules: Sequence[str],
    fail_on: str | None,
    max_body: int,
) -> dict[str, Any]:
    """The settings of :func:`serve_workers`: what ``kubefort admission serve`` was given, paths made
    absolute so that every worker process finds the same files."""
    return {
        "cert": os.path.abspath(cert),
        "key": os.path.abspath(key),
        "config": config and os.path.abspath(config),
        "policy": policy and os.path.abspath(policy),
        "rules": list(rules),
        "skip_rules": list(skip_rules),
        "fail_on": fail_on,
        "max_body": max_body,
    }


def serve_workers(
    settings: dict[str, Any],
    *,
    workers: int,
    host: str,
    port: int,
    log_level: str = "warning",
    graceful_timeout: int = 25,
) -> None:
    """Serve with ``workers`` processes; ``settings``: cert, key, config, policy, rules, skip_rules,
    fail_on, max_body (what ``kubefort admission serve`` was given)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[_WORKER_ENV] = json.dumps(settings)
    config = uvicorn.Config(
        "kubefort.admission.server:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        ssl_context_factory=worker_ssl_context,
        access_log=False,
        log_level=log_level,
        ws="none",
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_keep_alive=30,
        h11_max_incomplete_event_size=64 * 1024,
        timeout_graceful_shutdown=graceful_timeout,
    )
    sock = config.bind_socket()
    Multiprocess(config, sockets=[sock]).run()
