"""Pulling an image from a registry through the OCI distribution API (read only, streaming).

Authentication as the docker client does it: anonymous first; on a ``401`` the ``WWW-Authenticate``
challenge says ``Basic`` (credentials sent as they are) or ``Bearer`` (a token asked from the
challenge's realm for ``repository:<name>:pull``, with the credentials when there are any). The
credentials are, in order: ``--username``/``--password-stdin``; the docker ``config.json``
(``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``): ``auths`` entries (``auth`` or
``username``/``password``, or an ``identitytoken`` traded for a token with the OAuth2 refresh grant),
``credHelpers``/``credsStore`` through ``docker-credential-<helper> get``. A custom CA (``--ca-file``)
verifies registries with private certificates. Manifests and the config are read whole (bounded) and
checked against their digests; layers are streamed to the layer reader, which checks theirs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx

from ...errors import LoadError
from ...model.images import parse_image
from .layers import ImageLimits, ImageRefused, MiB
from .source import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    ImageSource,
    Platform,
    check_digest,
    config_platform,
    layer_blobs,
    parse_json_blob,
    select_manifest,
)

ACCEPT = ", ".join(sorted(INDEX_TYPES | MANIFEST_TYPES))
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryOptions:
    """How to reach registries: credentials, trust, time."""

    username: str | None = None
    password: str | None = None  # given on stdin (--password-stdin), never on the command line
    docker_config: str | None = None  # a config.json; None: $DOCKER_CONFIG/config.json or ~/.docker/config.json
    ca_file: str | None = None  # PEM bundle of CAs trusted for the registries (besides the system's)
    timeout: float = 60.0

    def credentials(self, host: str) -> tuple[str, str] | None:
        """(username, secret) for ``host``; the username ``<token>`` means the secret is an identity token."""
        if self.username is not None:
            return self.username, self.password or ""
        return docker_config_credentials(host, self.docker_config)


def _config_path(explicit: str | None) -> str:
    if explicit:
        return explicit
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _config_keys(host: str) -> list[str]:
    if host in ("docker.io", DOCKER_HUB_API, "index.docker.io"):
        return [DOCKER_HUB_CONFIG_KEY, "docker.io", "index.docker.io", "registry-1.docker.io"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def docker_config_credentials(host: str, path: str | None = None) -> tuple[str, str] | None:
    """Credentials for ``host`` from a docker ``config.json``, as the docker client reads it."""
    cfg_path = _config_path(path)
    try:
        with open(cfg_path, encoding="utf-8") as fh:
            cfg = json.load(fh)
    except FileNotFoundError:
        if path:
            raise LoadError(path, "docker config file not found") from None
        return None
    except (OSError, ValueError) as e:
        raise LoadError(cfg_path, f"unreadable docker config ({e})") from None
    if not isinstance(cfg, dict):
        return None
    keys = _config_keys(host)
    helpers: dict[str, Any] = cfg["credHelpers"] if isinstance(cfg.get("credHelpers"), dict) else {}
    for k in keys:
        if k in helpers:
            return _credential_helper(str(helpers[k]), k, cfg_path)
    auths: dict[str, Any] = cfg["auths"] if isinstance(cfg.get("auths"), dict) else {}
    for k in keys:
        entry = auths.get(k)
        if not isinstance(entry, dict):
            continue
        if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
            return "<token>", entry["identitytoken"]
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise LoadError(cfg_path, f"auths[{k!r}].auth is not base64 of user:password") from None
            return user, secret
        if isinstance(entry.get("username"), str):
            return entry["username"], str(entry.get("password") or "")
    store = cfg.get("credsStore")
    if isinstance(store, str) and store:
        return _credential_helper(store, keys[0], cfg_path)
    return None


def _credential_helper(helper: str, server: str, cfg_path: str) -> tuple[str, str] | None:
    exe = shutil.which(f"docker-credential-{helper}")
    if exe is None:
        raise LoadError(cfg_path, f"credential helper docker-credential-{helper} not found on PATH")
    try:
        proc = subprocess.run([exe, "get"], input=server.encode(), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LoadError(cfg_path, f"docker-credential-{helper} failed ({type(e).__name__})") from None
    if proc.returncode != 0:
        return None  # "credentials not found": anonymous
    try:
        doc = json.loads(proc.stdout)
        return str(doc["Username"]), str(doc["Secret"])
    except (ValueError, KeyError, TypeError):
        raise LoadError(cfg_path, f"docker-credential-{helper} gave no Username/Secret") from None


class _ResponseStream(io.RawIOBase):
    """A streamed HTTP response body as a file (the layer reader checks the digest)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self.response = response
        self._chunks: Iterator[bytes] = response.iter_raw(1 * MiB)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
            except httpx.HTTPError as e:
                raise LoadError(str(self.response.url), f"download failed ({type(e).__name__})") from None
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self.response.close()
        super().close()


class RegistryClient:
    """One repository of one registry, with the token that reading it needs."""

    def __init__(self, host: str, repository: str, options: RegistryOptions, name: str) -> None:
        self.host = DOCKER_HUB_API if host == "docker.io" else host
        self.config_host = host
        self.repository = repository
        self.options = options
        self.name = name
        verify: ssl.SSLContext | bool = True
        if options.ca_file:
            try:
                verify = ssl.create_default_context(cafile=options.ca_file)
            except (OSError, ssl.SSLError) as e:
                raise LoadError(options.ca_file, f"cannot read the CA file ({e})") from None
        self.http = httpx.Client(
            verify=verify,
            timeout=options.timeout,
            follow_redirects=True,  # blob storage redirects; httpx drops Authorization across origins
            headers={"User-Agent": "kubefort"},
        )
        self.auth_header: str | None = None
        self._challenged = False

    def close(self) -> None:
        self.http.close()

    def url(self, kind: str, ref: str) -> str:
        return f"https://{self.host}/v2/{self.repository}/{kind}/{ref}"

    def get(self, url: str, accept: str | None = None, *, stream: bool = False) -> httpx.Response:
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            if self.auth_header:
                headers["Authorization"] = self.auth_header
            try:
                req = self.http.build_request("GET", url, headers=headers)
                resp = self.http.send(req, stream=stream)
            except httpx.HTTPError as e:
                raise LoadError(self.name, f"cannot reach registry {self.host}: {_why(e)}") from None
            if resp.status_code == 401 and attempt == 0:
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.close()
                self._authenticate(challenge)
                continue
            if resp.status_code >= 400:
                status = resp.status_code
                detail = _error_detail(resp)
                resp.close()
                what = {401: "authentication failed", 403: "access denied", 404: "not found"}.get(status, "error")
                raise LoadError(self.name, f"registry {self.host} answered {status} ({what}){detail}")
            return resp
        raise AssertionError("unreachable")

    def _authenticate(self, challenge: str) -> None:
        if self._challenged:
            raise LoadError(self.name, f"registry {self.host}: authentication failed")
        self._challenged = True
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_RE.findall(params_text))
        creds = self.options.credentials(self.config_host)
        if scheme.lower() == "basic":
            if creds is None:
                raise LoadError(
                    self.name, f"registry {self.host} requires credentials (--username, docker config.json)"
                )
            basic = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            self.auth_header = f"Basic {basic}"
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise LoadError(self.name, f"registry {self.host}: unsupported authentication challenge {scheme!r}")
        scope = params.get("scope") or f"repository:{self.repository}:pull"
        query = {"scope": scope}
        if "service" in params:
            query["service"] = params["service"]
        try:
            if creds is not None and creds[0] == "<token>":  # an identity token: the OAuth2 refresh grant
                resp = self.http.post(
                    params["realm"],
                    data={**query, "grant_type": "refresh_token", "refresh_token": creds[1], "client_id": "kubefort"},
                )
            else:
                auth = (creds[0], creds[1]) if creds is not None else None
                resp = self.http.get(params["realm"], params=query, auth=auth)
        except httpx.HTTPError as e:
            raise LoadError(self.name, f"cannot reach the token service of {self.host}: {_why(e)}") from None
        if resp.status_code >= 400:
            raise LoadError(
                self.name, f"token service of {self.host} answered {resp.status_code} (authentication failed)"
            )
        token: Any = None
        try:
            doc = resp.json()
            if isinstance(doc, dict):
                token = doc.get("token") or doc.get("access_token")
        except ValueError:
            pass
        if not isinstance(token, str) or not token:
            raise LoadError(self.name, f"token service of {self.host} gave no token")
        self.auth_header = f"Bearer {token}"

    def read_manifest(self, ref: str, limits: ImageLimits) -> tuple[dict[str, Any], str, str]:
        """(document, media type, digest) of a manifest or index, by tag or digest."""
        resp = self.get(self.url("manifests", ref), ACCEPT, stream=True)
        try:
            data = _read_bounded(resp, limits.max_json_bytes, "manifest", self.name)
        finally:
            resp.close()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise ImageRefused(self.name, f"manifest content does not match its digest {ref}; refused")
        doc = parse_json_blob(data, "manifest", self.name)
        media = str(doc.get("mediaType") or resp.headers.get("Content-Type", "").split(";")[0])
        return doc, media, digest

    def read_blob(self, digest: str, limits: ImageLimits, what: str) -> bytes:
        resp = self.get(self.url("blobs", digest), stream=True)
        try:
            data = _read_bounded(resp, limits.max_json_bytes, what, self.name)
        finally:
            resp.close()
        if digest.startswith("sha256:") and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageRefused(self.name, f"{what} does not match its digest {digest}; refused")
        return data

    def open_blob(self, digest: str) -> BinaryIO:
        return io.BufferedReader(_ResponseStream(self.get(self.url("blobs", digest), stream=True)), 1 * MiB)


def _read_bounded(resp: httpx.Response, limit: int, what: str, name: str) -> bytes:
    out = bytearray()
    for chunk in resp.iter_raw(64 * 1024):
        out += chunk
        if len(out) > limit:
            raise ImageRefused(name, f"{what} is larger than {limit} bytes; refused")
    return bytes(out)


def _why(e: Exception) -> str:
    text = str(e)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "the server's certificate is not trusted (give its CA with --ca-file)"
    return text or type(e).__name__


def _error_detail(resp: httpx.Response) -> str:
    try:
        resp.read()
        errors = resp.json().get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return f": {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()
    except (ValueError, httpx.HTTPError, AttributeError):
        pass
    return ""


def open_registry(
    reference: str,
    *,
    options: RegistryOptions = RegistryOptions(),
    platform: Platform | None = None,
    limits: ImageLimits = ImageLimits(),
) -> ImageSource:
    """Open ``registry/repository[:tag][@digest]`` (no registry: Docker Hub) for reading."""
    ref = parse_image(reference)
    if not ref.repository:
        raise LoadError(reference, "not an image reference")
    if ref.digest is not None:
        check_digest(ref.digest, reference)
    client = RegistryClient(ref.registry, ref.repository, options, reference)
    try:
        want = ref.digest or ref.tag or "latest"
        doc, media, digest = client.read_manifest(want, limits)
        depth = 0
        while media in INDEX_TYPES or (not media and "manifests" in doc):
            depth += 1
            if depth > 4:
                raise ImageRefused(reference, "image indexes nested more than 4 deep; refused")
            desc = select_manifest(doc, platform, reference)
            doc, media, digest = client.read_manifest(check_digest(desc.get("digest"), reference), limits)
        if media and media not in MANIFEST_TYPES:
            raise LoadError(reference, f"unsupported manifest type {media!r} (schema 1 manifests are not read)")
        cdesc = doc.get("config")
        if not isinstance(cdesc, Mapping):
            raise LoadError(reference, "the manifest has no config")
        config_digest = check_digest(cdesc.get("digest"), reference)
        config = parse_json_blob(client.read_blob(config_digest, limits, "image config"), "image config", reference)
        notes: list[str] = []
        layers = layer_blobs(doc, config, lambda d: lambda: client.open_blob(d), reference, notes)
        src = ImageSource(
            name=reference,
            transport="registry",
            reference=reference,
            config=config,
            layers=layers,
            manifest_digest=digest,
            config_digest=config_digest,
            platform=config_platform(config),
            notes=notes,
        )
        src.closer.callback(client.close)
        return src
    except BaseException:
        client.close()
        raise
