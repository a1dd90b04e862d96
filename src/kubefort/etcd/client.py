"""A small etcd v3 client over the JSON gateway (``/v3/...``) with httpx.

Why not gRPC: the gateway ships with every etcd >= 3.3, needs no protobuf/grpc dependency, carries
binary keys and values (base64) and works with mutual TLS. Two pitfalls are handled here:

- httpx given ``verify="ca.pem"`` (a path) silently ignores ``cert=``; we always pass an
  :class:`ssl.SSLContext` with the client chain loaded.
- The environment may set ``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``, proxies...: the client is built
  with ``trust_env=False`` so only what the user passed counts.

64-bit numbers come back from the gateway as JSON strings; :class:`KeyValue` turns them into ints.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import KubefortError, UsageError


class EtcdError(KubefortError):
    """etcd could not be reached or answered with an error."""


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """Client-side TLS material: the CA that signs the server certificate, and a client certificate."""

    cacert: str | None = None
    cert: str | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if bool(self.cert) != bool(self.key):
            raise UsageError("--cert and --key go together")

    @property
    def has_client_cert(self) -> bool:
        return bool(self.cert and self.key)


def tls_files(cacert: str | None, cert: str | None, key: str | None) -> TLSFiles | None:
    """The TLS options of a command (``--cacert``, ``--cert``, ``--key``); None when none is given."""
    return TLSFiles(cacert, cert, key) if (cacert or cert or key) else None


def ssl_context(tls: TLSFiles | None, *, verify: bool = True, client_cert: bool = True) -> ssl.SSLContext:
    """An SSLContext for one connection attempt. ``verify=False`` accepts any server certificate (the
    probe uses it to learn what the server does before judging its certificate)."""
    tls = tls or TLSFiles()
    try:
        if verify:
            ctx = ssl.create_default_context(cafile=tls.cacert) if tls.cacert else ssl.create_default_context()
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if client_cert and tls.has_client_cert:
            ctx.load_cert_chain(tls.cert, tls.key)  # type: ignore[arg-type]
    except (OSError, ssl.SSLError) as e:
        raise UsageError(f"cannot load TLS files: {e}") from None
    return ctx


def parse_endpoints(text: str | Sequence[str]) -> list[str]:
    """``https://a:2379,https://b:2379`` -> a list of base URLs (scheme and host:port checked)."""
    items = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        for part in item.split(","):
            part = part.strip().rstrip("/")
            if not part:
                continue
            if "://" not in part:
                raise UsageError(f"endpoint {part!r} needs a scheme: http://HOST:PORT or https://HOST:PORT")
            u = urlsplit(part)
            if u.scheme not in ("http", "https") or not u.hostname or u.port is None:
                raise UsageError(f"endpoint {part!r} is not http(s)://HOST:PORT")
            out.append(f"{u.scheme}://{u.netloc}")
    if not out:
        raise UsageError("no etcd endpoint given")
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that selects every key starting with ``prefix`` (etcd's GetPrefixRangeEnd)."""
    p = bytearray(prefix)
    for i in range(len(p) - 1, -1, -1):
        if p[i] < 0xFF:
            p[i] += 1
            return bytes(p[: i + 1])
    return b"\x00"  # every key


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KeyValue:
        return cls(
            key=base64.b64decode(d.get("key", "")),
            value=base64.b64decode(d.get("value", "")),
            create_revision=int(d.get("create_revision", 0)),
            mod_revision=int(d.get("mod_revision", 0)),
            version=int(d.get("version", 0)),
        )


class EtcdClient:
    """One etcd endpoint. Use as a context manager (closes the connection pool)."""

    def __init__(
        self,
        endpoint: str,
        tls: TLSFiles | None = None,
        *,
        timeout: float = 10.0,
        verify: bool = True,
        client_cert: bool = True,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.tls = tls
        kwargs: dict[str, Any] = {"base_url": self.endpoint, "timeout": timeout, "trust_env": False}
        if self.endpoint.startswith("https://"):
            kwargs["verify"] = ssl_context(tls, verify=verify, client_cert=client_cert)
        self._http = httpx.Client(**kwargs)

    def __enter__(self) -> EtcdClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------
    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = self._http.post(path, json=body)
        except httpx.HTTPError as e:
            raise EtcdError(f"{self.endpoint}{path}: {_describe(e)}") from None
        return self._decode(path, r)

    def _decode(self, path: str, r: httpx.Response) -> dict[str, Any]:
        try:
            data = r.json()
        except ValueError:
            raise EtcdError(f"{self.endpoint}{path}: HTTP {r.status_code}, not an etcd answer") from None
        if r.status_code != 200 or (isinstance(data, dict) and "error" in data and "header" not in data):
            msg = data.get("message") or data.get("error") if isinstance(data, dict) else None
            raise EtcdError(f"{self.endpoint}{path}: {msg or f'HTTP {r.status_code}'}")
        if not isinstance(data, dict):
            raise EtcdError(f"{self.endpoint}{path}: unexpected answer")
        return data

    def get_json(self, path: str) -> dict[str, Any]:
        try:
            r = self._http.get(path)
        except httpx.HTTPError as e:
            raise EtcdError(f"{self.endpoint}{path}: {_describe(e)}") from None
        return self._decode(path, r)

    # -- API ---------------------------------------------------------------------
    def version(self) -> dict[str, str]:
        """``{"etcdserver": "3.4.23", "etcdcluster": "3.4.0"}`` (``GET /version``)."""
        return {k: str(v) for k, v in self.get_json("/version").items()}

    def health(self) -> bool:
        try:
            return str(self.get_json("/health").get("health")) == "true"
        except EtcdError:
            return False

    def status(self) -> dict[str, Any]:
        """Maintenance status: version, dbSize, leader, raftIndex, header (cluster_id, member_id, revision)."""
        return self._post("/v3/maintenance/status", {})

    def auth_status(self) -> bool | None:
        """Whether etcd's own RBAC (``etcdctl auth enable``) is on; None when this etcd cannot say
        (``/v3/auth/status`` exists from etcd 3.5)."""
        try:
            r = self._http.post("/v3/auth/status", json={})
        except httpx.HTTPError as e:
            raise EtcdError(f"{self.endpoint}/v3/auth/status: {_describe(e)}") from None
        if r.status_code == 404 or r.status_code == 501:
            return None
        try:
            data = r.json()
        except ValueError:
            return None
        if r.status_code != 200:
            return None
        return bool(data.get("enabled", False))

    def put(self, key: bytes, value: bytes) -> int:
        return int(self._post("/v3/kv/put", {"key": b64(key), "value": b64(value)})["header"]["revision"])

    def delete_prefix(self, prefix: bytes) -> int:
        d = self._post("/v3/kv/deleterange", {"key": b64(prefix), "range_end": b64(prefix_end(prefix))})
        return int(d.get("deleted", 0))

    def range(
        self,
        key: bytes,
        range_end: bytes | None = None,
        *,
        revision: int = 0,
        limit: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"key": b64(key)}
        if range_end is not None:
            body["range_end"] = b64(range_end)
        if revision:
            body["revision"] = revision
        if limit:
            body["limit"] = limit
        if keys_only:
            body["keys_only"] = True
        if count_only:
            body["count_only"] = True
        return self._post("/v3/kv/range", body)

    def get(self, key: bytes) -> KeyValue | None:
        kvs = self.range(key).get("kvs") or []
        return KeyValue.from_json(kvs[0]) if kvs else None

    def count(self, prefix: bytes = b"\x00", *, revision: int = 0) -> tuple[int, int]:
        """(number of keys under ``prefix`` (b"\\x00": every key), revision of the answer)."""
        end = b"\x00" if prefix == b"\x00" else prefix_end(prefix)
        d = self.range(prefix, end, revision=revision, count_only=True)
        return int(d.get("count", 0)), int(d["header"]["revision"])

    def iter_range(
        self, prefix: bytes = b"\x00", *, revision: int = 0, page: int = 1000, keys_only: bool = False
    ) -> Iterator[KeyValue]:
        """Every key under ``prefix`` in key order, in pages, all read at one revision (the first
        page's, unless ``revision`` is given) so the listing is a consistent view."""
        end = b"\x00" if prefix == b"\x00" else prefix_end(prefix)
        start = prefix
        while True:
            d = self.range(start, end, revision=revision, limit=page, keys_only=keys_only)
            if not revision:
                revision = int(d["header"]["revision"])
            kvs = d.get("kvs") or []
            last = None
            for raw in kvs:
                kv = KeyValue.from_json(raw)
                last = kv.key
                yield kv
            if not d.get("more") or last is None:
                return
            start = last + b"\x00"

    def hash_kv(self, revision: int = 0) -> dict[str, int]:
        """``HashKV``: etcd's own hash of the MVCC key space up to ``revision`` (0: current)."""
        d = self._post("/v3/maintenance/hash", {"revision": revision} if revision else {})
        return {
            "hash": int(d.get("hash", 0)),
            "compact_revision": int(d.get("compact_revision", 0)),
            "revision": int(d["header"]["revision"]),
        }

    def _snapshot_line(self, line: bytes) -> bytes:
        if not line.strip():
            return b""
        msg = json.loads(line)
        if "error" in msg:
            err = msg["error"]
            raise EtcdError(f"{self.endpoint}: snapshot: {err.get('message') if isinstance(err, dict) else err}")
        blob = msg.get("result", {}).get("blob")
        return base64.b64decode(blob) if blob else b""

    def snapshot(self) -> Iterator[bytes]:
        """Stream a snapshot of the backend (``Maintenance.Snapshot``): the bbolt database followed by
        its 32-byte SHA-256, exactly the bytes ``etcdctl snapshot save`` writes."""
        try:
            with self._http.stream(
                "POST", "/v3/maintenance/snapshot", json={}, timeout=httpx.Timeout(60.0, read=300.0)
            ) as r:
                if r.status_code != 200:
                    r.read()
                    self._decode("/v3/maintenance/snapshot", r)
                    raise EtcdError(f"{self.endpoint}: snapshot failed with HTTP {r.status_code}")
                buf = b""
                for data in r.iter_bytes(1 << 20):
                    buf += data
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        blob = self._snapshot_line(line)
                        if blob:
                            yield blob
                blob = self._snapshot_line(buf)
                if blob:
                    yield blob
        except httpx.HTTPError as e:
            raise EtcdError(f"{self.endpoint}/v3/maintenance/snapshot: {_describe(e)}") from None


def _describe(e: httpx.HTTPError) -> str:
    """A one-line reason for a transport error (TLS alerts and refusals in words)."""
    text = str(e) or type(e).__name__
    for needle, words in (
        ("CERTIFICATE_VERIFY_FAILED", "the server certificate is not trusted (give --cacert)"),
        ("certificate required", "the server requires a client certificate"),
        ("bad certificate", "TLS alert bad_certificate: the server refused the client certificate or its absence"),
        ("unknown ca", "the server does not trust the client certificate's CA"),
        ("Connection refused", "connection refused"),
        ("WRONG_VERSION_NUMBER", "the endpoint does not speak TLS"),
        ("Server disconnected without sending a response", "the connection was closed without an answer"),
    ):
        if needle.lower() in text.lower():
            return words
    return text.splitlines()[0][:200]


def connect(endpoints: Sequence[str], tls: TLSFiles | None = None, *, timeout: float = 10.0) -> EtcdClient:
    """A client for the first endpoint that answers ``/version``; EtcdError listing why each failed."""
    reasons = []
    for ep in endpoints:
        c = EtcdClient(ep, tls, timeout=timeout)
        try:
            c.version()
            return c
        except EtcdError as e:
            reasons.append(str(e))
            c.close()
    raise EtcdError("no etcd endpoint answered: " + "; ".join(reasons))
