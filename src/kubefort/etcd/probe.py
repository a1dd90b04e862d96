"""``kubefort etcd probe``: how an etcd client endpoint answers, asked the way an attacker would.

For each endpoint: does it answer plain HTTP? Does it speak TLS, and with which server certificate?
Does it accept a TLS client without a certificate, or with a certificate from a CA it cannot know
(made on the spot)? With a certificate of another CA the user names (``--foreign-cert``, e.g. one the
cluster CA signed)? Is etcd's own auth on? Which version? The answers form one
:class:`~kubefort.model.etcd.EtcdEndpoint` per endpoint: a Kubernetes-shaped object the rule engine
judges like any other: :func:`probe_and_judge` hands them to ``kubefort.api.judge_etcd_endpoints``,
which runs the ETCD rules that judge live answers (checks in ``rules/etcd_live.py``) on them.

An attempt is "accepted" when etcd returned its ``/version`` document; the data question is then
asked with a one-key, count-only range request (no key or value is read).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import tempfile
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..api import ScanOptions, judge_etcd_endpoints
from ..engine.findings import Report
from ..model.etcd import NOT_TRIED, Attempt, EtcdEndpoint, ServerCertificate
from .client import EtcdClient, EtcdError, TLSFiles
from .pki import issue, make_ca

AUTH_ERRORS = ("user name is empty", "permission denied", "invalid auth token", "authentication failed")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _name(n: x509.Name) -> str:
    return n.rfc4514_string() or "(empty)"


def _server_cert(
    host: str, port: int, timeout: float, cacert: str | None
) -> tuple[bool, ServerCertificate | None, str]:
    """TLS handshake without verification to see whether the port speaks TLS, and its certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            ctx.wrap_socket(raw, server_hostname=host) as s,
        ):
            der = s.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError) as e:
        return False, None, str(e).splitlines()[0][:160] if str(e) else type(e).__name__
    if not der:
        return True, None, "no server certificate"
    cert = x509.load_der_x509_certificate(der)
    self_signed = cert.issuer == cert.subject
    if self_signed:
        try:
            cert.verify_directly_issued_by(cert)
        except Exception:
            self_signed = False
    orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    auto = self_signed and orgs == ["etcd"] and not cns
    trusted: bool | None = None
    detail = ""
    if cacert:
        vctx = ssl.create_default_context(cafile=cacert)
        try:
            with (
                socket.create_connection((host, port), timeout=timeout) as raw,
                vctx.wrap_socket(raw, server_hostname=host),
            ):
                trusted = True
        except ssl.SSLCertVerificationError as e:
            trusted, detail = False, e.verify_message or str(e)
        except (ssl.SSLError, OSError) as e:
            # the handshake failed for another reason (e.g. the server wants a client certificate and
            # TLS 1.2 aborts early): the chain itself was not judged
            detail = str(e).splitlines()[0][:160]
    return (
        True,
        ServerCertificate(
            subject=_name(cert.subject),
            issuer=_name(cert.issuer),
            not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            self_signed=self_signed,
            auto_tls=auto,
            trusted=trusted,
            trust_detail=detail,
        ),
        "",
    )


def _attempt(
    url: str, tls: TLSFiles | None, timeout: float, *, verify: bool = False
) -> tuple[Attempt, dict[str, str], EtcdClient | None]:
    """Connect one way: the attempt, etcd's /version (empty if refused) and the open client (if accepted)."""
    c = EtcdClient(url, tls, timeout=timeout, verify=verify)
    try:
        version = c.version()
    except EtcdError as e:
        c.close()
        return Attempt(tried=True, detail=str(e).split(": ", 1)[-1]), {}, None
    if "etcdserver" not in version:
        c.close()
        return Attempt(tried=True, detail="answered, but not with etcd's /version"), {}, None
    try:
        c.range(b"\x00", b"\x00", limit=1, count_only=True)
        return Attempt(tried=True, accepted=True, data_readable=True, auth_required=False), version, c
    except EtcdError as e:
        msg = str(e)
        a = Attempt(
            tried=True,
            accepted=True,
            data_readable=False,
            auth_required=any(s in msg for s in AUTH_ERRORS),
            detail=msg.split(": ", 1)[-1],
        )
        return a, version, c


def probe_endpoint(
    endpoint: str, tls: TLSFiles | None = None, *, foreign: TLSFiles | None = None, timeout: float = 5.0
) -> EtcdEndpoint:
    u = urlsplit(endpoint)
    host, port = u.hostname or "", int(u.port or 2379)
    version: dict[str, str] = {}
    errors: list[str] = []
    no_cert = wrong_ca = NOT_TRIED
    foreign_cert = with_cert = None
    clients: list[tuple[EtcdClient, Attempt, bool]] = []  # (client, attempt, presented a certificate)
    try:
        # 1. plain HTTP on the same port
        plain, ver, c = _attempt(f"http://{u.netloc}", None, timeout)
        if c:
            clients.append((c, plain, False))
            version = version or ver
        # 2. TLS: handshake and server certificate
        speaks_tls, server_cert, why = _server_cert(host, port, timeout, tls.cacert if tls else None)
        if not speaks_tls and why and not plain.accepted:
            errors.append(f"TLS: {why}")
        if speaks_tls:
            base = f"https://{u.netloc}"
            # 3. no client certificate
            no_cert, ver, c = _attempt(base, None, timeout)
            if c:
                clients.append((c, no_cert, False))
                version = version or ver
            # 4. a certificate from a CA made just now (nobody can trust it)
            with tempfile.TemporaryDirectory(prefix="kubefort-probe-") as d:
                ca = make_ca("kubefort-probe-untrusted-ca", days=1)
                crt, key = issue(ca, "kubefort-probe", client=True, days=1).write(d, "client")
                wrong_ca, ver, c = _attempt(base, TLSFiles(None, crt, key), timeout)
            if c:
                clients.append((c, wrong_ca, True))
            # 5. a certificate of another, real CA (e.g. the cluster CA)
            if foreign is not None:
                foreign_cert, ver, c = _attempt(base, TLSFiles(None, foreign.cert, foreign.key), timeout)
                if c:
                    clients.append((c, foreign_cert, True))
            # 6. the user's own certificate
            if tls is not None and tls.has_client_cert:
                with_cert, ver, c = _attempt(base, tls, timeout, verify=bool(tls.cacert))
                if c:
                    clients.append((c, with_cert, True))
                    version = ver or version
        reachable = speaks_tls or plain.accepted
        if not reachable and not errors:
            errors.append(plain.detail or "no answer")
        auth, auth_detail = _judge_auth(clients)
    finally:
        for c, _, _ in clients:
            c.close()
    return EtcdEndpoint(
        endpoint=endpoint,
        host=host,
        port=port,
        loopback=_is_loopback(host),
        reachable=reachable,
        speaks_tls=speaks_tls,
        plain_http=plain,
        no_cert=no_cert,
        wrong_ca=wrong_ca,
        foreign_cert=foreign_cert,
        with_cert=with_cert,
        server_cert=server_cert,
        version=version,
        auth=auth,
        auth_detail=auth_detail,
        errors=tuple(errors),
    )


def _judge_auth(clients: list[tuple[EtcdClient, Attempt, bool]]) -> tuple[str, str]:
    """Whether etcd's own authentication is on, and how that is known: (enabled|disabled|unknown, why)."""
    if not clients:
        return "unknown", "no connection was accepted"
    for c, _, _ in clients:
        try:
            st = c.auth_status()
        except EtcdError:
            st = None
        if st is not None:
            return ("enabled" if st else "disabled"), "from /v3/auth/status"
    # etcd < 3.5 has no AuthStatus: infer from a range request
    for _, a, _with_cert in clients:
        if a.auth_required:
            return "enabled", "a request without credentials was refused by etcd auth"
    for _, a, with_cert in clients:
        if a.data_readable and not with_cert:
            return "disabled", "a request without credentials read data"
    return (
        "unknown",
        "a request with a client certificate read data: auth is off, or the certificate's CN is an "
        "etcd user allowed to read",
    )


def probe(
    endpoints: list[str], tls: TLSFiles | None = None, *, foreign: TLSFiles | None = None, timeout: float = 5.0
) -> list[EtcdEndpoint]:
    """Probe every endpoint, in order. Judging the answers is the engine's (:func:`probe_and_judge`)."""
    return [probe_endpoint(ep, tls, foreign=foreign, timeout=timeout) for ep in endpoints]


def probe_and_judge(
    endpoints: Sequence[str],
    opts: ScanOptions | None = None,
    *,
    tls: TLSFiles | None = None,
    foreign: TLSFiles | None = None,
    timeout: float = 5.0,
) -> tuple[list[EtcdEndpoint], Report]:
    """``kubefort etcd probe``: knock on each endpoint, then judge the answers through the scanning API
    (:func:`kubefort.api.judge_etcd_endpoints`). EtcdError when no endpoint answered."""
    found = probe(list(endpoints), tls, foreign=foreign, timeout=timeout)
    if not any(e.reachable for e in found):
        raise EtcdError("no endpoint answered: " + "; ".join(f"{e.endpoint}: {'; '.join(e.errors)}" for e in found))
    return found, judge_etcd_endpoints(found, opts)
