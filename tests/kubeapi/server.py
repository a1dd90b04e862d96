"""A test Kubernetes API server: the parts of the API protocol kubefort uses, over HTTPS.

No kube-apiserver can run on the machines kubefort is developed and tested on, so the live mode is
tested against this server, driven by the official ``kubernetes`` client through a kubeconfig file
exactly as a real cluster would be. What it serves is shaped as the API reference documents it:

- discovery: ``/version``, ``/api`` (``APIVersions``), ``/apis`` (``APIGroupList``), ``/api/v1`` and
  ``/apis/<group>/<version>`` (``APIResourceList``), and the aggregated discovery documents
  (``APIGroupDiscoveryList``, apidiscovery.k8s.io/v2) when the client's ``Accept`` asks for them;
- lists: ``kind: <Kind>List`` with ``metadata.resourceVersion``, ``limit``/``continue`` pagination
  (opaque tokens naming the list's resourceVersion and the next key) and ``remainingItemCount``;
  items of built-in types without ``apiVersion``/``kind``, custom resources with them;
- errors as ``Status`` objects: 401 Unauthorized, 403 Forbidden, 404 NotFound, 410 Expired (continue
  token or watch resourceVersion older than the last compaction), 429 TooManyRequests with
  ``Retry-After`` and ``details.retryAfterSeconds``, 500 InternalError;
- ``watch=true``: a chunked stream of ``{"type": ..., "object": ...}`` lines (ADDED, MODIFIED, DELETED,
  BOOKMARK, ERROR) with ``resourceVersion`` semantics (unset or "0": the current state as ADDED
  events first; N: the changes after N; older than the history: an ERROR event with a 410 Status),
  ``allowWatchBookmarks``, ``sendInitialEvents`` (ending with the ``k8s.io/initial-events-end``
  bookmark) and ``timeoutSeconds``;
- ``/openapi/v3``: the discovery document of the group-versions' OpenAPI documents and each document,
  by hash (:mod:`.openapi`: built-in types from kubefort's bundled data, custom resources from their
  CustomResourceDefinitions, as the apiextensions server publishes them);
- ``pods/NAME/log?container=C``: a container's output as ``text/plain``, what the job runner stand-in
  (:mod:`.jobs`, which runs kubefort's volume Jobs as a kubelet would) kept in ``pod_logs``;
- authentication: client certificates signed by the cluster CA (the CN is the user) or bearer
  tokens (a ServiceAccount's from :meth:`KubeAPIServer.service_account_token`); anything else gets 401;
- ``DELETE`` of an object: gone at once (no finalizers); a Namespace's objects go with it (what the
  namespace controller does), and an object made again under the same name gets a new uid;
- authorization, when ``rbac`` is set: RBAC over the store's Roles and bindings (:mod:`.rbac`), every
  resource request checked with its verb (``get``, ``list``, ``watch``, ``patch``, ``delete``; an apply
  that creates the object also as ``create``, with its name, as the API server's patch handler does),
  ``pods/log`` as that subresource; 403 Forbidden otherwise. The ``superusers`` (the test's own
  certificate and token users) are not checked, as members of system:masters.

Fault switches (:class:`Faults`) make a type answer 403, 429 with Retry-After, 5xx, 410 on continue,
slow answers and dropped connections, a group's discovery fail with 503 (an aggregated API server that
is down), and /openapi/v3 absent. ``python -m kubeapi.server --fixtures DIR`` (from ``tests/``)
serves a directory of manifests (``--snapshot FILE``: the objects of a kubefort snapshot) and writes a
kubeconfig for it (the cluster benchmark uses it).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from . import openapi
from .pki import CA, Pair
from .rbac import Attributes, allowed
from .store import LabelSelector, ResourceType, Store, served

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
MAX_REQUEST_BYTES = 3 * 1024 * 1024  # the API server's limit on a request body
MAX_OBJECT_BYTES = 1536 * 1024  # etcd's --max-request-bytes default: the largest object it stores


@dataclass
class Faults:
    """Switches, per resource name (``networkpolicies``, ``deployments.apps``, or ``*`` for every type).
    Counts say how many answers get the fault (-1: all of them)."""

    forbidden: set[str] = field(default_factory=set)  # 403 on list and watch
    throttle: dict[str, int] = field(default_factory=dict)  # 429 with Retry-After
    retry_after: float = 1.0
    errors: dict[str, int] = field(default_factory=dict)  # 500
    expire_continue: dict[str, int] = field(default_factory=dict)  # 410 on a request with a continue token
    slow: dict[str, int] = field(default_factory=dict)  # answers delayed by ``delay`` seconds
    delay: float = 2.0
    drop: dict[str, int] = field(default_factory=dict)  # the connection closed half-way through the body
    aggregated: bool = True  # serve the aggregated discovery documents
    # API groups whose (aggregated) API server is down: 503 on their discovery document and lists, and
    # ``freshness: Stale`` without resources in the aggregated discovery (never discovered)
    discovery_down: set[str] = field(default_factory=set)
    openapi: bool = True  # serve /openapi/v3 (False: 404, as servers before 1.24 without the feature)
    max_limit: int | None = None  # serve at most this many items a page, whatever the client asks

    def take(self, table: dict[str, int], t: ResourceType | None) -> bool:
        for key in ((t.resource, t.name) if t is not None else ()) + ("*",):
            n = table.get(key)
            if n:
                if n > 0:
                    table[key] = n - 1
                return True
        return False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    user: str | None
    status: int = 0


class KubeAPIServer:
    """The server: ``with KubeAPIServer(store) as api: api.kubeconfig(path)``."""

    def __init__(self, store: Store | None = None, *, tokens: Mapping[str, str] | None = None) -> None:
        self.store = store or Store()
        self.faults = Faults()
        self.tokens = dict(tokens or {"kubefort-test-token": "token-user"})  # token -> user
        # RBAC (``.rbac``): off, every authenticated user may do everything; on, every request but those of
        # ``superusers`` (as system:masters) is authorized by the Roles and bindings of the store
        self.rbac = False
        self.superusers = {"cert-user", "token-user"}
        self.requests: list[Request] = []
        # (namespace, pod, container) -> its output, served by GET pods/NAME/log (see .jobs)
        self.pod_logs: dict[tuple[str, str, str], str] = {}
        self.ca = CA()
        self.server_pair = self.ca.issue("kube-apiserver", server=True)
        self.client_pair = self.ca.issue("cert-user", orgs=("system:authenticated",))
        # what /version answers (and the minor whose bundled schemas /openapi/v3 publishes)
        self.version: dict[str, str] = {
            "major": "1",
            "minor": "33",
            "gitVersion": "v1.33.0-kubefort-test",
            "platform": "linux/amd64",
        }
        self._openapi: tuple[Any, dict[str, dict[str, Any]]] | None = None
        self.bookmark_interval = 0.2
        self.watch_timeout = 60.0
        self._tmp = tempfile.TemporaryDirectory(prefix="kubeapi-")
        self._watches: set[socket.socket] = set()  # the connections of open watches
        self._watch_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> KubeAPIServer:
        d = Path(self._tmp.name)
        (d / "server.crt").write_bytes(self.server_pair.cert_pem)
        (d / "server.key").write_bytes(self.server_pair.key_pem)
        (d / "ca.crt").write_bytes(self.ca.pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "server.crt", d / "server.key")
        ctx.load_verify_locations(cafile=d / "ca.crt")
        ctx.verify_mode = ssl.CERT_OPTIONAL  # client certificate or bearer token
        api = self

        class Handler(_Handler):
            server_api = api

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        with self.store.cond:
            self.store.cond.notify_all()
        self._tmp.cleanup()

    def __enter__(self) -> KubeAPIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"https://127.0.0.1:{self._httpd.server_address[1]}"

    def service_account_token(self, namespace: str, name: str) -> str:
        """A new bearer token for the ServiceAccount (what the kubelet projects into a Pod)."""
        token = f"sa-{namespace}-{name}-{uuid.uuid4().hex}"
        self.tokens[token] = f"system:serviceaccount:{namespace}:{name}"
        return token

    # -- client configuration ------------------------------------------------------------------------
    def kubeconfig(
        self, path: str | os.PathLike[str], *, current: str = "cert", exec_command: list[str] | None = None
    ) -> str:
        """Write a kubeconfig with one context per way in: ``cert`` (client certificate), ``token``
        (bearer token), ``exec`` (an exec credential plugin, when given), ``anonymous`` (nothing)."""
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        cluster = {"server": self.url, "certificate-authority-data": b64(self.ca.pem)}
        users: list[dict[str, Any]] = [
            {
                "name": "cert",
                "user": {
                    "client-certificate-data": b64(self.client_pair.cert_pem),
                    "client-key-data": b64(self.client_pair.key_pem),
                },
            },
            {"name": "token", "user": {"token": next(iter(self.tokens))}},
            {"name": "anonymous", "user": {}},
        ]
        if exec_command:
            users.append(
                {
                    "name": "exec",
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1",
                            "command": exec_command[0],
                            "args": exec_command[1:],
                            "interactiveMode": "Never",
                        }
                    },
                }
            )
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": cluster}],
            "users": users,
            "contexts": [{"name": u["name"], "context": {"cluster": "test", "user": u["name"]}} for u in users],
            "current-context": current,
        }
        Path(path).write_text(yaml.safe_dump(doc))
        return str(path)

    def openapi_documents(self) -> dict[str, dict[str, Any]]:
        """The /openapi/v3 documents by path, made again when the objects or the faults change."""
        key = (self.store.rv, frozenset(self.faults.discovery_down), tuple(sorted(self.version.items())))
        if self._openapi is None or self._openapi[0] != key:
            self._openapi = (key, openapi.documents(self.store, self.version, self.faults.discovery_down))
        return self._openapi[1]

    def drop_watches(self) -> int:
        """Cut every open watch connection now, without the end of the chunked stream (a dropped
        connection, as a load balancer or a restarting API server gives); returns how many."""
        with self._watch_lock:
            socks = list(self._watches)
            self._watches.clear()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return len(socks)

    def open_watches(self) -> int:
        """How many watch connections are open now."""
        with self._watch_lock:
            return len(self._watches)

    def watches(self, resource: str | None = None) -> list[Request]:
        """The watch requests made (of one resource when given)."""
        return [
            r
            for r in self.requests
            if r.query.get("watch") == "true" and (resource is None or _resource_of(r.path) == resource)
        ]

    def lists(self, resource: str | None = None) -> list[Request]:
        """The LIST requests made (of one resource when given)."""
        return [
            r
            for r in self.requests
            if r.query.get("watch") != "true"
            and _resource_of(r.path) is not None
            and (resource is None or _resource_of(r.path) == resource)
        ]


def _resource_of(path: str) -> str | None:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 3:
        rest = parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        rest = parts[3:]
    else:
        return None
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return rest[0] if len(rest) == 1 else None


def status(code: int, reason: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        doc["details"] = dict(details)
    return doc


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str] | None:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(doc["rv"]), str(doc["start"])
    except (ValueError, KeyError, TypeError):
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_api: KubeAPIServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle's algorithm holds the body until
        # the client's delayed ACK (40 ms a request on Linux), which no real API server does
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            raise

    def handle(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ------------------------------------------------------------------------------------
    def _send(
        self, code: int, body: Any, *, content_type: str = "application/json", headers: Mapping[str, str] = {}
    ) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._record.status = code
        t = self._type
        drop = t is not None and self.server_api.faults.take(self.server_api.faults.drop, t)
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if drop:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(data)

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return self.server_api.tokens.get(auth[len("Bearer ") :].strip())
        cert = self.connection.getpeercert()
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return str(v)
        return None

    # -- routing -------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._serve("GET")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        api = self.server_api
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        self._type: ResourceType | None = None
        self._record = Request(method, url.path, query, None)
        api.requests.append(self._record)
        body = self._read_body() if method != "GET" else b""
        if body is None:
            return None
        user = self._record.user = self._user()
        if user is None:
            return self._send(401, status(401, "Unauthorized", "Unauthorized"))
        parts = [p for p in url.path.split("/") if p]
        if method == "GET" and parts == ["version"]:
            return self._send(200, api.version)
        if method == "GET" and parts[:2] == ["openapi", "v3"]:
            return self._openapi_v3("/".join(parts[2:]), query.get("hash"))
        if method == "GET" and (parts == ["api"] or parts == ["apis"]):
            return self._discovery(parts[0])
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
        if not rest and method == "GET":
            if group in api.faults.discovery_down:
                return self._unavailable(group, version)
            return self._resource_list(group, version)
        namespace = None
        if rest and rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        t = api.store.lookup(group, version, rest[0]) if rest else None
        if method == "GET" and t is not None and t.resource == "pods" and len(rest) == 3 and rest[2] == "log":
            if not self._authorized(user, "get", t, namespace, rest[1], "log"):
                return None
            return self._pod_log(namespace or "", rest[1], query.get("container"))
        if t is None or len(rest) > 2:
            return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
        if group in api.faults.discovery_down:
            return self._unavailable(group, version)
        self._type = t
        if namespace is not None and not t.namespaced:
            return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
        verb = {"PATCH": "patch", "DELETE": "delete"}.get(method) or (
            "get" if len(rest) == 2 else "watch" if query.get("watch") in ("true", "1") else "list"
        )
        if method != "GET" and (len(rest) != 2 or verb not in t.verbs):
            return self._send(
                405,
                status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"),
            )
        name = rest[1] if len(rest) == 2 else ""
        if not self._authorized(user, verb, t, namespace, name):
            return None
        # an apply that creates the object is authorized as a create too, with the object's name
        creates = method == "PATCH" and api.rbac and (namespace or "", name) not in t.objects
        if creates and not self._authorized(user, "create", t, namespace, name):
            return None
        faults = api.faults
        if faults.take(faults.slow, t):
            time.sleep(faults.delay)
        if t.resource in faults.forbidden or t.name in faults.forbidden or "*" in faults.forbidden:
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            return self._send(
                403,
                status(
                    403,
                    "Forbidden",
                    f'{t.name} is forbidden: User "{user}" cannot {verb} resource "{t.resource}" in API group '
                    f'"{t.group}" {scope}',
                    {"group": t.group, "kind": t.resource},
                ),
            )
        if faults.take(faults.throttle, t):
            secs = faults.retry_after
            return self._send(
                429,
                status(
                    429,
                    "TooManyRequests",
                    "Too many requests, please try again later.",
                    {"retryAfterSeconds": int(secs) or 1},
                ),
                headers={"Retry-After": f"{secs:g}"},
            )
        if faults.take(faults.errors, t):
            return self._send(500, status(500, "InternalError", "Internal error occurred: etcdserver: leader changed"))
        if method == "PATCH":
            return self._apply(t, version, namespace, rest[1], query, body)
        if method == "DELETE":
            return self._delete(t, namespace, rest[1])
        if len(rest) == 2:
            return self._get(t, version, namespace, rest[1])
        if query.get("watch") in ("true", "1"):
            return self._watch(t, version, namespace, query)
        return self._list(t, version, namespace, query)

    def _authorized(
        self, user: str, verb: str, t: ResourceType, namespace: str | None, name: str, sub: str = ""
    ) -> bool:
        """RBAC's answer (when the server enforces it); a 403 is sent when it says no."""
        api = self.server_api
        if not api.rbac or user in api.superusers:
            return True
        a = Attributes(user, verb, t.group, t.resource, sub, namespace or "", name)
        if allowed(api.store, a):
            return True
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        what = f"{t.resource}/{sub}" if sub else t.resource
        self._send(
            403,
            status(
                403,
                "Forbidden",
                f'{t.name} "{name}" is forbidden: User "{user}" cannot {verb} resource "{what}" in API group '
                f'"{t.group}" {scope}'
                if name
                else f'{t.name} is forbidden: User "{user}" cannot {verb} resource "{what}" in API group '
                f'"{t.group}" {scope}',
                {"group": t.group, "kind": t.resource, **({"name": name} if name else {})},
            ),
        )
        return False

    def _read_body(self) -> bytes | None:
        """The request body (None when it was refused: too large, the answer is sent)."""
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_REQUEST_BYTES:
            self._type = None
            self._send(
                413,
                status(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_REQUEST_BYTES}"),
            )
            self.close_connection = True
            return None
        return self.rfile.read(size) if size else b""

    # -- discovery -----------------------------------------------------------------------------------
    def _discovery(self, root: str) -> None:
        api = self.server_api
        groups = api.store.groups()
        wants_aggregated = "as=APIGroupDiscoveryList" in self.headers.get("Accept", "")
        if wants_aggregated and api.faults.aggregated:
            items = []
            for g, versions in groups.items():
                if (root == "api") != (g == ""):
                    continue
                down = g in api.faults.discovery_down
                items.append(
                    {
                        "metadata": {"name": g} if g else {},
                        "versions": [
                            {
                                "version": v,
                                "resources": [] if down else [self._agg_resource(t, v) for t in self._types(g, v)],
                                "freshness": "Stale" if down else "Current",
                            }
                            for v in versions
                        ],
                    }
                )
            body = {
                "kind": "APIGroupDiscoveryList",
                "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {},
                "items": items,
            }
            return self._send(200, body, content_type=AGGREGATED)
        if root == "api":
            return self._send(
                200,
                {
                    "kind": "APIVersions",
                    "versions": groups.get("", ["v1"]),
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
                },
            )
        out = []
        for g, versions in groups.items():
            if g == "":
                continue
            gvs = [{"groupVersion": f"{g}/{v}", "version": v} for v in versions]
            out.append({"name": g, "versions": gvs, "preferredVersion": gvs[0]})
        return self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": out})

    def _openapi_v3(self, path: str, digest: str | None) -> None:
        api = self.server_api
        if not api.faults.openapi:
            return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
        docs = api.openapi_documents()
        if not path:
            return self._send(200, openapi.discovery(docs))
        doc = docs.get(path)
        if doc is None:
            return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
        current = openapi.digest(doc)
        if digest != current:  # an old or missing hash: where the document is now
            return self._send(
                301, {}, headers={"Location": f"/openapi/v3/{path}?hash={current}", "Cache-Control": "no-cache"}
            )
        return self._send(200, doc, headers={"Cache-Control": "public, immutable"})

    def _unavailable(self, group: str, version: str) -> None:
        """What the aggregator answers for an APIService whose server is down."""
        return self._send(
            503,
            status(
                503, "ServiceUnavailable", f"the server is currently unable to handle the request ({group}/{version})"
            ),
        )

    def _types(self, group: str, version: str) -> list[ResourceType]:
        return sorted(
            (t for t in self.server_api.store.types.values() if t.group == group and version in t.versions),
            key=lambda t: t.resource,
        )

    @staticmethod
    def _agg_resource(t: ResourceType, version: str) -> dict[str, Any]:
        return {
            "resource": t.resource,
            "responseKind": {"group": t.group, "version": version, "kind": t.kind},
            "scope": "Namespaced" if t.namespaced else "Cluster",
            "singularResource": t.kind.lower(),
            "verbs": list(t.verbs),
        }

    def _resource_list(self, group: str, version: str) -> None:
        types = self._types(group, version)
        if not types:
            return self._send(404, status(404, "NotFound", "the server could not find the requested resource"))
        gv = f"{group}/{version}" if group else version
        resources = [
            {
                "name": t.resource,
                "singularName": t.kind.lower(),
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": list(t.verbs),
            }
            for t in types
        ]
        return self._send(
            200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
        )

    # -- objects -------------------------------------------------------------------------------------
    def _pod_log(self, namespace: str, name: str, container: str | None) -> None:
        """``GET pods/NAME/log?container=C``: a container's output as ``text/plain`` (what the kubelet
        kept, here :attr:`KubeAPIServer.pod_logs`, written by the job runner stand-in); a Pod of more
        than one container needs ``container`` (400, as the API server answers)."""
        api = self.server_api
        pod = api.store.types[("", "pods")].objects.get((namespace, name))
        if pod is None:
            return self._send(404, status(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"}))
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]]
        if container is None:
            if len(spec.get("containers") or ()) != 1:
                return self._send(
                    400,
                    status(
                        400, "BadRequest", f"a container name must be specified for pod {name}, choose one of: {names}"
                    ),
                )
            container = str(spec["containers"][0].get("name"))
        if container not in names:
            return self._send(400, status(400, "BadRequest", f"container {container} is not valid for pod {name}"))
        data = api.pod_logs.get((namespace, name, container), "").encode()
        self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return None

    def _get(self, t: ResourceType, version: str, namespace: str | None, name: str) -> None:
        obj = t.objects.get((namespace or "", name))
        if obj is None:
            return self._send(
                404,
                status(
                    404,
                    "NotFound",
                    f'{t.name} "{name}" not found',
                    {"name": name, "group": t.group, "kind": t.resource},
                ),
            )
        return self._send(200, served(obj, t, version, with_kind=True))

    def _apply(
        self, t: ResourceType, version: str, namespace: str | None, name: str, query: Mapping[str, str], body: bytes
    ) -> None:
        """Server-side apply (``PATCH``, ``application/apply-patch+yaml``), as the API concepts page
        documents it: ``fieldManager`` is required; the applied configuration creates the object (201)
        or updates it (200); fields another manager owns with another value are a 409 ``Conflict``
        unless ``force=true``, which takes them over. Ownership is tracked per top-level field in
        ``metadata.managedFields`` (operation ``Apply``); two managers applying the same value share
        the field. kubefort's reports have one owner, so finer tracking would change nothing. Custom resources are validated against their CRD schema (422
        ``Invalid``) and pruned of fields it does not declare; an object over etcd's 1.5 MiB limit is
        refused (413)."""
        store = self.server_api.store
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype != "application/apply-patch+yaml":
            return self._send(
                415,
                status(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml (got {ctype!r})",
                ),
            )
        manager = query.get("fieldManager") or ""
        if not manager:
            return self._send(
                400,
                status(
                    400,
                    "BadRequest",
                    "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests",
                ),
            )
        force = query.get("force") == "true"
        try:
            text = body.decode()
            try:
                config = json.loads(text)  # JSON is YAML (what kubefort and kubectl send), and faster to read
            except ValueError:
                config = yaml.safe_load(text)
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            return self._send(400, status(400, "BadRequest", f"error decoding YAML: {e}"))
        gv = f"{t.group}/{version}" if t.group else version
        md = config.get("metadata") if isinstance(config, dict) else None
        if not isinstance(md, dict) or config.get("apiVersion") != gv or config.get("kind") != t.kind:
            return self._send(
                400,
                status(400, "BadRequest", f"the object must be a {gv} {t.kind} with metadata (apply configuration)"),
            )
        if md.get("name") != name or (md.get("namespace") or namespace) != namespace:
            return self._send(
                400,
                status(
                    400,
                    "BadRequest",
                    "the name or namespace of the object does not match the name or namespace of the request",
                ),
            )
        schema = t.schemas.get(version)
        if schema is not None:
            import jsonschema

            from .crds import json_schema, prune

            errors = sorted(
                jsonschema.Draft7Validator(json_schema(schema, strict=False)).iter_errors(config),
                key=lambda e: list(e.absolute_path),
            )
            if errors:
                causes = [
                    {
                        "reason": "FieldValueInvalid",
                        "message": e.message,
                        "field": ".".join(str(p) for p in e.absolute_path),
                    }
                    for e in errors[:20]
                ]
                return self._send(
                    422,
                    status(
                        422,
                        "Invalid",
                        f'{t.kind}.{t.group} "{name}" is invalid: '
                        + ", ".join(f"{c['field']}: {c['message']}" for c in causes),
                        {"name": name, "group": t.group, "kind": t.kind, "causes": causes},
                    ),
                )
            config = prune(config, schema)
        key = (namespace or "", name)
        with store.cond:
            old = t.objects.get(key)
            owners: dict[str, set[str]] = {}
            for entry in (old or {}).get("metadata", {}).get("managedFields") or []:
                owners[entry["manager"]] = {f[2:] for f in entry.get("fieldsV1", {}) if f.startswith("f:")}
            fields = {k for k in config if k not in ("apiVersion", "kind", "metadata")}
            conflicts = sorted(
                (other, f)
                for other, owned in owners.items()
                if other != manager
                for f in owned & fields
                if old is not None and old.get(f) != config.get(f)
            )
            if conflicts and not force:
                causes = [
                    {"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": f".{f}"}
                    for m, f in conflicts
                ]
                return self._send(
                    409,
                    status(
                        409,
                        "Conflict",
                        f"Apply failed with {len(conflicts)} conflict{'s' if len(conflicts) > 1 else ''}: "
                        + "; ".join(f'conflict with "{m}": .{f}' for m, f in conflicts),
                        {"causes": causes},
                    ),
                )
            new: dict[str, Any] = {"apiVersion": gv, "kind": t.kind}
            taken = {f for _, f in conflicts}  # forced: the conflicting fields change owner
            for other, owned in owners.items():
                if other != manager and old is not None:
                    for f in owned - fields:  # what others own and this configuration does not set
                        if f in old:
                            new[f] = old[f]
                    owners[other] = owned - taken  # the same value applied by two managers: owned by both
            new.update({k: v for k, v in config.items() if k not in ("apiVersion", "kind", "metadata")})
            owners[manager] = fields
            meta = {
                k: v for k, v in md.items() if k in ("name", "namespace", "labels", "annotations", "ownerReferences")
            }
            if old is not None:
                for k in ("uid", "creationTimestamp"):
                    meta[k] = old["metadata"][k]
            meta["managedFields"] = [
                {
                    "manager": m,
                    "operation": "Apply",
                    "apiVersion": gv,
                    "time": "2026-01-01T00:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {f"f:{f}": {} for f in sorted(owned)},
                }
                for m, owned in sorted(owners.items())
                if owned
            ]
            new["metadata"] = meta
            if len(json.dumps(new, separators=(",", ":"))) > MAX_OBJECT_BYTES:
                return self._send(413, status(413, "RequestEntityTooLarge", "etcdserver: request is too large"))
            if (
                old is not None
                and {k: v for k, v in old.items() if k != "metadata"}
                == {k: v for k, v in new.items() if k != "metadata"}
                and old["metadata"].get("labels") == meta.get("labels")
            ):
                return self._send(200, served(old, t, version, with_kind=True))  # no change: no new resourceVersion
            stored = store.upsert(new)
            if t.group == "apiextensions.k8s.io" and t.kind == "CustomResourceDefinition":
                store.add_crd(stored)  # the apiextensions server serves the custom resource it declares
        return self._send(201 if old is None else 200, served(stored, t, version, with_kind=True))

    def _delete(self, t: ResourceType, namespace: str | None, name: str) -> None:
        """``DELETE`` of one object (no finalizers here: it is gone at once): 200 with a ``Status`` of
        ``status: Success``, or 404 ``NotFound``. A Namespace takes what it holds with it, at once (what
        the namespace controller does before the Namespace itself goes)."""
        store = self.server_api.store
        with store.cond:
            if t.group == "" and t.resource == "namespaces" and ("", name) in t.objects:
                for other in list(store.types.values()):
                    if other.namespaced:
                        for key in [k for k in other.objects if k[0] == name]:
                            store.delete(other.group, other.resource, name, key[1])
            if (namespace or "", name) not in t.objects:
                return self._send(
                    404,
                    status(
                        404,
                        "NotFound",
                        f'{t.name} "{name}" not found',
                        {"name": name, "group": t.group, "kind": t.resource},
                    ),
                )
            gone = store.delete(t.group, t.resource, namespace or "", name)
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {"name": name, "group": t.group, "kind": t.resource, "uid": gone["metadata"].get("uid")},
        }
        return self._send(200, body)

    def _list(self, t: ResourceType, version: str, namespace: str | None, query: Mapping[str, str]) -> None:
        store = self.server_api.store
        selector = LabelSelector.parse(query["labelSelector"]) if query.get("labelSelector") else None
        items = store.items(t, namespace, selector)
        list_rv = store.rv
        start = ""
        token = query.get("continue")
        if token:
            decoded = decode_continue(token)
            if decoded is None:
                return self._send(400, status(400, "BadRequest", "continue key is not valid: illegal base64 data"))
            rv, start = decoded
            if rv < store.compacted or self.server_api.faults.take(self.server_api.faults.expire_continue, t):
                return self._send(
                    410,
                    status(
                        410,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    ),
                )
            list_rv = rv
        keyed = [(f"{k[0]}/{k[1]}", o) for k, o in items]
        if start:
            keyed = [(k, o) for k, o in keyed if k >= start]
        limit = int(query.get("limit") or 0)
        cap = self.server_api.faults.max_limit
        if cap:
            limit = min(limit, cap) if limit else cap
        page = keyed[:limit] if limit > 0 else keyed
        rest = keyed[len(page) :]
        meta: dict[str, Any] = {"resourceVersion": str(list_rv)}
        if rest:
            meta["continue"] = encode_continue(list_rv, rest[0][0])
            meta["remainingItemCount"] = len(rest)
        gv = f"{t.group}/{version}" if t.group else version
        body = {
            "kind": f"{t.kind}List",
            "apiVersion": gv,
            "metadata": meta,
            "items": [served(o, t, version, with_kind=not t.builtin) for _, o in page],
        }
        return self._send(200, body)

    # -- watch ---------------------------------------------------------------------------------------
    def _watch(self, t: ResourceType, version: str, namespace: str | None, query: Mapping[str, str]) -> None:
        api, store = self.server_api, self.server_api.store
        rv_param = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks") == "true"
        initial = query.get("sendInitialEvents") == "true"
        timeout = float(query.get("timeoutSeconds") or api.watch_timeout)
        self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        gv = f"{t.group}/{version}" if t.group else version
        with api._watch_lock:
            api._watches.add(self.connection)

        def emit(kind: str, obj: Mapping[str, Any]) -> None:
            line = json.dumps({"type": kind, "object": obj}, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        def bookmark(rv: int, *, end_of_initial: bool = False) -> None:
            md: dict[str, Any] = {"resourceVersion": str(rv)}
            if end_of_initial:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            emit("BOOKMARK", {"kind": t.kind, "apiVersion": gv, "metadata": md})

        try:
            with store.cond:
                if rv_param in ("", "0") or initial:
                    since = store.rv
                    for _, obj in store.items(t, namespace):
                        emit("ADDED", served(obj, t, version, with_kind=True))
                    if initial and bookmarks:
                        bookmark(since, end_of_initial=True)
                else:
                    try:
                        since = int(rv_param)
                    except ValueError:
                        since = -1
                    if since < store.compacted:
                        emit(
                            "ERROR",
                            status(410, "Expired", f"too old resource version: {rv_param} ({store.compacted})"),
                        )
                        return self._end_chunks()
            deadline = time.monotonic() + timeout
            last_bookmark = time.monotonic()
            while time.monotonic() < deadline and api._httpd is not None:
                if self.connection not in api._watches:  # dropped (drop_watches)
                    self.close_connection = True
                    return None
                with store.cond:
                    events = [
                        e
                        for e in store.events_after(since)
                        if e.rtype is t and (namespace is None or e.obj["metadata"].get("namespace") == namespace)
                    ]
                    if not events:
                        store.cond.wait(timeout=min(api.bookmark_interval, max(0.0, deadline - time.monotonic())))
                for e in events:
                    emit(e.type, served(e.obj, t, version, with_kind=True))
                    since = e.rv
                if bookmarks and time.monotonic() - last_bookmark >= api.bookmark_interval:
                    bookmark(max(since, store.rv) if not events else since)
                    last_bookmark = time.monotonic()
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            with api._watch_lock:
                api._watches.discard(self.connection)

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# -- fixtures ----------------------------------------------------------------------------------------


def load_manifests(paths: list[str]) -> tuple[list[dict[str, Any]], dict[str, bool]]:
    """Objects of manifest files (with kubefort's loader: Lists expanded, namespaces as written) and
    the scope of kinds their CustomResourceDefinitions declare (kind -> namespaced)."""
    from kubefort.loading.loader import load_paths

    loaded = load_paths(paths)
    objects = [dict(o.raw) for o in loaded.objects]
    scopes: dict[str, bool] = {}
    for o in objects:
        if o.get("kind") == "CustomResourceDefinition":
            spec = o.get("spec") if isinstance(o.get("spec"), dict) else {}
            names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
            if isinstance(names.get("kind"), str):
                scopes[names["kind"]] = spec.get("scope") != "Cluster"
    return objects, scopes


def load_snapshot_objects(store: Store, path: str) -> int:
    """The objects of a kubefort snapshot, stored as its cluster held them (each list a type of its own
    resource name and scope); how many."""
    from kubefort.loading.cluster import load_snapshot

    read = load_snapshot(path)
    n = 0
    for lst in read.lists:
        t = lst.type
        rt = store.types.get((t.group, t.resource))
        if rt is None:
            rt = store.types[(t.group, t.resource)] = ResourceType(
                t.group, t.kind, t.resource, t.namespaced, [t.version]
            )
        for obj in lst.items:
            md = obj.get("metadata") or {}
            rt.objects[((md.get("namespace") or "") if t.namespaced else "", md.get("name") or "")] = obj
            n += 1
        lst.items = []  # the store holds them now
    store.rv = max(store.rv, 1) + 1
    store.compacted = store.rv
    return n


@contextmanager
def serve_manifests(paths: list[str]) -> Iterator[KubeAPIServer]:
    store = Store()
    objects, scopes = load_manifests(paths)
    store.load_cluster(objects, scopes)
    with KubeAPIServer(store) as api:
        yield api


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", action="append", default=[], help="manifest file or directory (repeatable)")
    ap.add_argument("--snapshot", help="serve the objects of a kubefort snapshot (as its cluster served them)")
    ap.add_argument("--kubeconfig", required=True, help="write a kubeconfig for the server here")
    ap.add_argument("--context", default="cert", choices=["cert", "token"])
    args = ap.parse_args(argv)
    store = Store()
    if args.snapshot:
        kept = load_snapshot_objects(store, args.snapshot)
    else:
        objects, scopes = load_manifests(args.fixtures)
        kept = store.load_cluster(objects, scopes)
    with KubeAPIServer(store) as api:
        api.kubeconfig(args.kubeconfig, current=args.context)
        print(f"ready {api.url} {kept}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()  # serve until stdin closes
        print(f"requests {len(api.requests)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

__all__ = ["Faults", "KubeAPIServer", "Pair", "Store", "serve_manifests", "status"]
