"""``/metrics`` (Prometheus text exposition format 0.0.4) and ``/healthz`` of ``kubefort watch``.

Metrics (docs/cluster.md, "Watch"):

- ``kubefort_findings{severity,rule,namespace}``: active (not suppressed) findings now; ``namespace``
  is empty for cluster-scoped objects;
- ``kubefort_results{result}``: results by report value (pass, fail, warn, error, skip);
- ``kubefort_objects_watched{kind}``: objects held, by kind;
- ``kubefort_last_full_sync_timestamp_seconds``: when everything was last judged and every report
  written (the start, then each ``--resync``);
- ``kubefort_last_evaluation_timestamp_seconds``, ``kubefort_evaluations_total``,
  ``kubefort_objects_evaluated_total``: the incremental re-evaluations;
- ``kubefort_watch_errors_total{resource}``, ``kubefort_relists_total{resource}``: failed or dropped
  watches (each is resumed) and lists made again after a 410;
- ``kubefort_reports_applied_total``, ``kubefort_reports_deleted_total``, ``kubefort_report_errors_total``.

``/healthz`` answers 200 once the first full sync is done and while the event loop runs, 503 otherwise
(a readiness and liveness probe in one).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: name -> (type, help)
HELP: Mapping[str, tuple[str, str]] = {
    "kubefort_findings": ("gauge", "Active (not suppressed) findings, by severity, rule and namespace."),
    "kubefort_results": ("gauge", "Results in the reports, by value (pass, fail, warn, error, skip)."),
    "kubefort_objects_watched": ("gauge", "Objects kept current by the watches, by kind."),
    "kubefort_last_full_sync_timestamp_seconds": (
        "gauge",
        "Unix time of the last full sync (every object judged, every report written).",
    ),
    "kubefort_last_evaluation_timestamp_seconds": ("gauge", "Unix time of the last re-evaluation of changes."),
    "kubefort_evaluations_total": ("counter", "Re-evaluations of changed objects."),
    "kubefort_objects_evaluated_total": ("counter", "Objects judged again after a change."),
    "kubefort_watch_errors_total": ("counter", "Watches that failed or were dropped (then resumed), by resource."),
    "kubefort_relists_total": ("counter", "Lists made again after a watch expired (410), by resource."),
    "kubefort_reports_applied_total": ("counter", "Reports written with server-side apply."),
    "kubefort_reports_deleted_total": ("counter", "Reports deleted because they had no results left."),
    "kubefort_report_errors_total": ("counter", "Report writes or deletions that failed."),
}

Labels = tuple[tuple[str, str], ...]


class WatchMetrics:
    """Thread-safe values: watch threads count errors, the event loop sets the rest, the HTTP server reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = {name: {} for name in HELP}

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._values[name][tuple(sorted(labels.items()))] = value

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def replace(self, name: str, series: Mapping[Labels, float]) -> None:
        """All series of ``name`` at once (a gauge recomputed from the current state)."""
        with self._lock:
            self._values[name] = dict(series)

    def get(self, name: str, **labels: str) -> float | None:
        with self._lock:
            return self._values[name].get(tuple(sorted(labels.items())))

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, (kind, text) in HELP.items():
                lines.append(f"# HELP {name} {text}")
                lines.append(f"# TYPE {name} {kind}")
                for labels, value in sorted(self._values[name].items()):
                    lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class MetricsServer:
    """``/metrics`` and ``/healthz`` on ``host:port`` (port 0: any free port), in a daemon thread."""

    def __init__(self, metrics: WatchMetrics, healthy: Callable[[], tuple[bool, str]], host: str, port: int) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    outer.scrapes += 1
                    self._answer(200, metrics.render(), CONTENT_TYPE)
                elif path in ("/healthz", "/readyz"):
                    ok, why = healthy()
                    self._answer(200 if ok else 503, why + "\n", "text/plain; charset=utf-8")
                else:
                    self._answer(404, "not found\n", "text/plain; charset=utf-8")

            def _answer(self, code: int, text: str, ctype: str) -> None:
                body = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.scrapes = 0
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
