"""``kubefort etcd probe``: how an etcd client endpoint answers, asked the way an attacker would.

For each endpoint: does it answer plain HTTP? Does it speak TLS, and with which server certificate?
Does it accept a TLS client without a certificate, or with a certificate from a CA it cannot know
(made on the spot)? With a certificate of another CA the user names (``--foreign-cert``, e.g. one the
cluster CA signed)? Is etcd's own auth on? Which version? The answers form an :class:`EndpointProbe`;
the rules of ``rules/etcd_live.py`` turn them into findings of a normal :class:`Report`.

An attempt is "accepted" when etcd returned its ``/version`` document; the data question is then
asked with a one-key, count-only range request (no key or value is read).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..engine.findings import Finding, Report, Status
from ..engine.rule import Context, Severity
from ..model.inventory import Inventory
from ..model.objects import ObjectRef
from ..model.source import Location
from .client import EtcdClient, EtcdError, TLSFiles
from .pki import issue, make_ca

AUTH_ERRORS = ("user name is empty", "permission denied", "invalid auth token", "authentication failed")


@dataclass(slots=True)
class Attempt:
    """One way of connecting and what came of it."""

    tried: bool = False
    accepted: bool = False  # etcd answered /version
    data_readable: bool | None = None  # a range request succeeded (None: not asked)
    auth_required: bool | None = None  # the range request was refused by etcd auth
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        if not self.tried:
            return {"tried": False}
        return {
            "tried": True,
            "accepted": self.accepted,
            "data_readable": self.data_readable,
            "auth_required": self.auth_required,
            "detail": self.detail,
        }

    @property
    def label(self) -> str:
        if not self.tried:
            return "not tried"
        if not self.accepted:
            return f"rejected ({self.detail})" if self.detail else "rejected"
        if self.data_readable:
            return "ACCEPTED, data readable"
        if self.auth_required:
            return "accepted, data refused by etcd auth"
        return "ACCEPTED"


@dataclass(slots=True)
class ServerCert:
    subject: str
    issuer: str
    not_after: str
    self_signed: bool
    auto_tls: bool  # etcd --auto-tls shape: self-signed, subject and issuer O=etcd without CN
    trusted: bool | None  # verified against --cacert (None: no --cacert given)
    trust_detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after,
            "self_signed": self.self_signed,
            "auto_tls": self.auto_tls,
            "trusted": self.trusted,
            "trust_detail": self.trust_detail,
        }


@dataclass(slots=True)
class EndpointProbe:
    endpoint: str
    host: str
    port: int
    loopback: bool
    reachable: bool = False
    speaks_tls: bool = False
    plain_http: Attempt = field(default_factory=Attempt)
    no_cert: Attempt = field(default_factory=Attempt)
    wrong_ca: Attempt = field(default_factory=Attempt)
    foreign_cert: Attempt | None = None
    with_cert: Attempt | None = None
    server_cert: ServerCert | None = None
    version: dict[str, str] = field(default_factory=dict)
    auth: str = "unknown"  # enabled | disabled | unknown
    auth_detail: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef(api_version="", kind="EtcdEndpoint", namespace=None, name=self.endpoint)

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "reachable": self.reachable,
            "speaks_tls": self.speaks_tls,
            "plain_http": self.plain_http.to_dict(),
            "tls_without_client_cert": self.no_cert.to_dict(),
            "tls_with_unknown_ca_cert": self.wrong_ca.to_dict(),
            "tls_with_foreign_cert": self.foreign_cert.to_dict() if self.foreign_cert else {"tried": False},
            "tls_with_given_cert": self.with_cert.to_dict() if self.with_cert else {"tried": False},
            "server_certificate": self.server_cert.to_dict() if self.server_cert else None,
            "version": self.version,
            "auth": self.auth,
            "auth_detail": self.auth_detail,
            "errors": self.errors,
        }


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _name(n: x509.Name) -> str:
    return n.rfc4514_string() or "(empty)"


def _server_cert(host: str, port: int, timeout: float, cacert: str | None) -> tuple[bool, ServerCert | None, str]:
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
        ServerCert(
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
    a = Attempt(tried=True)
    c = EtcdClient(url, tls, timeout=timeout, verify=verify)
    try:
        version = c.version()
    except EtcdError as e:
        c.close()
        a.detail = str(e).split(": ", 1)[-1]
        return a, {}, None
    if "etcdserver" not in version:
        c.close()
        a.detail = "answered, but not with etcd's /version"
        return a, {}, None
    a.accepted = True
    try:
        c.range(b"\x00", b"\x00", limit=1, count_only=True)
        a.data_readable, a.auth_required = True, False
    except EtcdError as e:
        msg = str(e)
        a.data_readable = False
        a.auth_required = any(s in msg for s in AUTH_ERRORS)
        a.detail = msg.split(": ", 1)[-1]
    return a, version, c


def probe_endpoint(
    endpoint: str, tls: TLSFiles | None = None, *, foreign: TLSFiles | None = None, timeout: float = 5.0
) -> EndpointProbe:
    u = urlsplit(endpoint)
    host, port = u.hostname or "", int(u.port or 2379)
    p = EndpointProbe(endpoint=endpoint, host=host, port=port, loopback=_is_loopback(host))
    clients: list[tuple[EtcdClient, Attempt, bool]] = []  # (client, attempt, presented a certificate)
    try:
        # 1. plain HTTP on the same port
        a, ver, c = _attempt(f"http://{u.netloc}", None, timeout)
        p.plain_http = a
        if c:
            clients.append((c, a, False))
            p.version = p.version or ver
        # 2. TLS: handshake and server certificate
        p.speaks_tls, p.server_cert, why = _server_cert(host, port, timeout, tls.cacert if tls else None)
        if not p.speaks_tls and why and not a.accepted:
            p.errors.append(f"TLS: {why}")
        if p.speaks_tls:
            base = f"https://{u.netloc}"
            # 3. no client certificate
            a, ver, c = _attempt(base, None, timeout)
            p.no_cert = a
            if c:
                clients.append((c, a, False))
                p.version = p.version or ver
            # 4. a certificate from a CA made just now (nobody can trust it)
            with tempfile.TemporaryDirectory(prefix="kubefort-probe-") as d:
                ca = make_ca("kubefort-probe-untrusted-ca", days=1)
                crt, key = issue(ca, "kubefort-probe", client=True, days=1).write(d, "client")
                a, ver, c = _attempt(base, TLSFiles(None, crt, key), timeout)
            p.wrong_ca = a
            if c:
                clients.append((c, a, True))
            # 5. a certificate of another, real CA (e.g. the cluster CA)
            if foreign is not None:
                a, ver, c = _attempt(base, TLSFiles(None, foreign.cert, foreign.key), timeout)
                p.foreign_cert = a
                if c:
                    clients.append((c, a, True))
            # 6. the user's own certificate
            if tls is not None and tls.has_client_cert:
                a, ver, c = _attempt(base, tls, timeout, verify=bool(tls.cacert))
                p.with_cert = a
                if c:
                    clients.append((c, a, True))
                    p.version = ver or p.version
        p.reachable = p.speaks_tls or p.plain_http.accepted
        if not p.reachable and not p.errors:
            p.errors.append(p.plain_http.detail or "no answer")
        _judge_auth(p, clients)
    finally:
        for c, _, _ in clients:
            c.close()
    return p


def _judge_auth(p: EndpointProbe, clients: list[tuple[EtcdClient, Attempt, bool]]) -> None:
    if not clients:
        p.auth_detail = "no connection was accepted"
        return
    for c, _, _ in clients:
        try:
            st = c.auth_status()
        except EtcdError:
            st = None
        if st is not None:
            p.auth, p.auth_detail = ("enabled" if st else "disabled"), "from /v3/auth/status"
            return
    # etcd < 3.5 has no AuthStatus: infer from a range request
    for _, a, _with_cert in clients:
        if a.auth_required:
            p.auth, p.auth_detail = "enabled", "a request without credentials was refused by etcd auth"
            return
    for _, a, with_cert in clients:
        if a.data_readable and not with_cert:
            p.auth, p.auth_detail = "disabled", "a request without credentials read data"
            return
    p.auth_detail = (
        "a request with a client certificate read data: auth is off, or the certificate's CN is an "
        "etcd user allowed to read"
    )


def probe(
    endpoints: list[str], tls: TLSFiles | None = None, *, foreign: TLSFiles | None = None, timeout: float = 5.0
) -> tuple[list[EndpointProbe], Report]:
    """Probe every endpoint and judge the answers with the live ETCD rules."""
    results = [probe_endpoint(ep, tls, foreign=foreign, timeout=timeout) for ep in endpoints]
    return results, judge(results)


def judge(results: list[EndpointProbe], *, fail_on: Severity = Severity.HIGH) -> Report:
    from ..rules.etcd_live import probe_registry

    rules = list(probe_registry())
    report = Report(rules=[r.meta for r in rules], objects=len(results), files=0, fail_on=fail_on)
    ctx = Context(params={}, inventory=Inventory([]), mode="probe")
    counts: Counter[Status] = Counter()
    for p in results:
        loc = Location(file=p.endpoint)
        if not p.reachable:
            report.notes.append(f"{p.endpoint}: unreachable ({'; '.join(p.errors)})")
        for r in rules:
            vs = list(r.fn(p, ctx))
            if not p.reachable:
                counts[Status.NOT_EVALUATED] += 1
                continue
            if not vs:
                counts[Status.PASS] += 1
                report.passes.append((r.meta, p.ref, loc))
            for v in vs:
                counts[Status.FAIL] += 1
                report.findings.append(
                    Finding(
                        rule=r.meta,
                        object=p.ref,
                        path=v.path,
                        message=v.message,
                        severity=r.meta.severity if v.severity is None else v.severity,
                        location=loc,
                        subcode=v.subcode,
                    )
                )
        if p.reachable:
            report.notes.append(_facts(p))
    report.counts = counts
    return report


def _facts(p: EndpointProbe) -> str:
    ver = p.version.get("etcdserver", "?")
    cert = ""
    if p.server_cert:
        trust = {
            True: "trusted by --cacert",
            False: f"NOT trusted by --cacert ({p.server_cert.trust_detail})",
            None: "not verified",
        }[p.server_cert.trusted]
        cert = f"; server certificate {p.server_cert.subject} issued by {p.server_cert.issuer}, {trust}"
    return (
        f"{p.endpoint}: etcd {ver}; plain HTTP {p.plain_http.label}; TLS {'yes' if p.speaks_tls else 'no'}; "
        f"no client cert: {p.no_cert.label}; unknown-CA cert: {p.wrong_ca.label}; etcd auth {p.auth}"
        f" ({p.auth_detail}){cert}"
    )


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
