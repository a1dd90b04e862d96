"""ETCD checks judged on a live answer: what an etcd client endpoint did when ``kubefort etcd probe``
knocked (plain HTTP, TLS without a client certificate, a certificate of another CA, its server
certificate). Each function judges one ``EtcdEndpoint`` object (:mod:`kubefort.model.etcd`, the
shape documented there); an endpoint that never answered is not evaluated.

These are not rules of their own: each is the live half of the one rule of its ID, declared with the
configuration half in ``rules/etcd_config.py``, which hands it every ``EtcdEndpoint`` object. The
metadata (slug, title, rationale, remediation, refs) is that rule's. ``kubefort etcd probe`` runs the
rules of :data:`LIVE_IDS` from the default registry, through the engine like any scan.

Real etcd behaviour the conditions rely on (checked against etcd 3.4.23):

- A client listener with ``--client-cert-auth`` OR ``--trusted-ca-file`` requires and verifies a
  client certificate at the TLS handshake (no certificate and a certificate of another CA are both
  rejected with a TLS alert). So the live answer, not a flag, is what decides KF-ETCD-002 here.
- ``--auto-tls`` serves a self-signed certificate whose subject and issuer are both ``O=etcd`` (no CN),
  EKU serverAuth, one year validity.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..engine.rule import NotEvaluated, Severity, Violation
from ..model.etcd import Attempt, EtcdEndpoint
from ..model.objects import K8sObject

#: The IDs whose rule judges ``EtcdEndpoint`` objects too: the ones ``kubefort etcd probe`` runs.
LIVE_IDS: tuple[str, ...] = ("KF-ETCD-001", "KF-ETCD-002", "KF-ETCD-003", "KF-ETCD-007", "KF-ETCD-008")


def _answered(obj: K8sObject) -> EtcdEndpoint:
    """The endpoint, when it answered at all (there is nothing to judge on one that did not)."""
    p = EtcdEndpoint.of(obj)
    if not p.reachable:
        raise NotEvaluated(f"unreachable ({'; '.join(p.errors) or 'no answer'})")
    return p


def no_server_tls(obj: K8sObject) -> Iterator[Violation]:
    """KF-ETCD-001: the endpoint answers plain HTTP and no TLS handshake is possible."""
    p = _answered(obj)
    if not p.speaks_tls and p.plain_http.accepted:
        yield Violation(
            ("status", "tls"), f"{p.endpoint} answers etcd requests without TLS (no TLS handshake possible)"
        )


def _refused(a: Attempt) -> bool:
    """etcd's own authentication refused the client the data: a user name and password still guard the
    keys, so the finding is high rather than critical (sub-code ``etcd_auth``)."""
    return not a.data_readable and a.auth_required is True


def client_cert_not_required(obj: K8sObject) -> Iterator[Violation]:
    """KF-ETCD-002: a client without a certificate was served: over plain HTTP (no certificate can be
    asked for there), over TLS without one, or with a certificate of an unknown CA.

    Plain HTTP on a loopback address fails as well, at the same severity: loopback is the node's, so
    every process and every hostNetwork pod of the node reaches it, and one compromised DaemonSet pod or
    container escape on a control-plane node is then enough to read every Secret."""
    p = _answered(obj)
    if p.plain_http.accepted:
        a = p.plain_http
        where = (
            " on a loopback address, which every process and hostNetwork pod of the node reaches" if p.loopback else ""
        )
        if a.data_readable:
            what = "a client without any credentials read key-value data"
        elif _refused(a):
            what = "only etcd's own authentication refused a client without credentials the data"
        else:
            what = "a client without any credentials was served"
        yield Violation(
            ("status", "listen", "scheme"),
            f"{p.endpoint} answers plain HTTP{where}: no client certificate is asked for there, and {what}",
            severity=Severity.HIGH if _refused(a) else None,
            subcode="etcd_auth" if _refused(a) else "plain_http",
        )
    elif p.no_cert.accepted:
        data = " and served key-value data" if p.no_cert.data_readable else ""
        yield Violation(
            ("status", "tls", "clientAuth"),
            f"{p.endpoint} accepted a TLS client without a certificate{data}",
            severity=Severity.HIGH if _refused(p.no_cert) else None,
            subcode="etcd_auth" if _refused(p.no_cert) else None,
        )
    elif p.wrong_ca.accepted:
        yield Violation(
            ("status", "tls", "clientAuth", "trustedCA"),
            f"{p.endpoint} accepted a client certificate signed by an unknown, freshly made CA",
            subcode="unverified-ca",
        )


def auto_tls(obj: K8sObject) -> Iterator[Violation]:
    """KF-ETCD-003: the server certificate has the shape of etcd's auto-TLS one."""
    p = _answered(obj)
    c = p.server_cert
    if c is not None and c.auto_tls:
        yield Violation(
            ("status", "tls", "serverCertificate"),
            f'{p.endpoint} serves a self-signed certificate issued by "{c.issuer}" (etcd auto-TLS)',
        )


def shared_ca(obj: K8sObject) -> Iterator[Violation]:
    """KF-ETCD-007: a certificate of the other CA given with ``--foreign-cert`` was accepted (when a
    client without any certificate gets in, that is KF-ETCD-002, not a question of CAs)."""
    p = _answered(obj)
    if p.foreign_cert is not None and p.foreign_cert.accepted and not p.no_cert.accepted:
        yield Violation(
            ("status", "tls", "clientAuth", "trustedCA"),
            f"{p.endpoint} accepted the client certificate of another CA given with --foreign-cert",
        )


_LOOPBACK_NOTE = "loopback"
#: Why plain HTTP on loopback is still reported (KF-ETCD-002 and -008, live and configured): loopback is
#: not the etcd process's own; it is the node's network namespace.
LOOPBACK_REASON = (
    "every hostNetwork pod of the node shares that address and, with the default NET_RAW capability, can "
    "capture its traffic"
)


def plaintext(obj: K8sObject) -> Iterator[Violation]:
    """KF-ETCD-008: the endpoint answers plain HTTP.

    On a loopback address the traffic never crosses the network, but it is not private: every
    hostNetwork pod of the node shares that loopback and, with NET_RAW (in the runtime's default
    capability set), can capture the API server's requests, Secrets included. So it is medium, not
    information (who can connect without credentials is KF-ETCD-002's finding)."""
    p = _answered(obj)
    if not p.plain_http.accepted:
        return
    if p.loopback:
        yield Violation(
            ("status", "listen", "scheme"),
            f"{p.endpoint} answers plain HTTP on a loopback address: {LOOPBACK_REASON}",
            severity=Severity.MEDIUM,
            subcode=_LOOPBACK_NOTE,
        )
    else:
        yield Violation(("status", "listen", "scheme"), f"{p.endpoint} answers plain HTTP on a non-loopback address")
