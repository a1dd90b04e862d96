"""``EtcdEndpoint``: what ``kubefort etcd probe`` observed on one etcd client endpoint, as a
Kubernetes-shaped object, so the rule engine judges it like any other object (suppressions,
``--min-severity``, crash isolation, every reporter) and rules need nothing from the prober.

The probe (``kubefort.etcd.probe``, which does the network work) makes one per endpoint; a YAML file
of the same shape loads as well (the rule tests do that). Every field may be missing when read
(missing means "not observed"); the shape, with what each field means::

    apiVersion: kubefort.io/v1alpha1
    kind: EtcdEndpoint
    metadata:
      name: https://10.0.0.5:2379          # the endpoint as given
    spec:                                   # what was asked
      url: https://10.0.0.5:2379
      host: 10.0.0.5
      port: 2379
      loopback: false                       # the host is a loopback address
    status:                                 # what was observed
      reachable: true                       # it answered TLS or plain HTTP
      errors: []                            # why not, or why a TLS handshake failed
      version: {etcdserver: 3.5.15, etcdcluster: 3.5.0}   # etcd's /version document
      listen:
        scheme: https                       # http: answers plain HTTP; https: TLS only; absent: neither
        plainHTTP: ATTEMPT                  # plain HTTP on the same port
      tls:
        enabled: true                       # a TLS handshake succeeded
        serverCertificate:                  # absent without TLS
          subject: CN=etcd-server
          issuer: CN=etcd-ca
          notAfter: "2027-11-23T00:00:00Z"
          selfSigned: false
          autoTLS: false                    # the etcd --auto-tls shape: self-signed, O=etcd, no CN
          trusted: true                     # verified against --cacert; null: not verified
          trustDetail: ""                   # why not trusted, or why the chain was not judged
        clientAuth:
          noCertificate: ATTEMPT            # TLS without a client certificate
          givenCertificate: ATTEMPT         # with the user's --cert (tried: false without one)
          trustedCA:
            unknownCA: ATTEMPT              # a certificate of a CA made on the spot
            foreignCA: ATTEMPT              # --foreign-cert, e.g. one the cluster CA signed
      auth:
        state: enabled                      # etcd's own authentication: enabled | disabled | unknown
        detail: from /v3/auth/status

    ATTEMPT:                                # one way of connecting and what came of it
      tried: true
      accepted: false                       # etcd answered /version
      dataReadable: null                    # a count-only range request succeeded (null: not asked)
      authRequired: null                    # the range request was refused by etcd auth
      detail: TLS alert bad_certificate     # why rejected or refused

Findings of the live rules point at ``status.listen.scheme``, ``status.tls``,
``status.tls.serverCertificate``, ``status.tls.clientAuth`` and ``status.tls.clientAuth.trustedCA``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .objects import K8sObject, Source

API_VERSION = "kubefort.io/v1alpha1"
KIND = "EtcdEndpoint"
_MEMO = "etcd-endpoint"  # the typed view, made once per object (K8sObject.memo)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _bool_or_none(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One way of connecting and what came of it."""

    tried: bool = False
    accepted: bool = False  # etcd answered /version
    data_readable: bool | None = None  # a range request succeeded (None: not asked)
    auth_required: bool | None = None  # the range request was refused by etcd auth
    detail: str = ""

    def to_raw(self) -> dict[str, Any]:
        if not self.tried:
            return {"tried": False}
        return {
            "tried": True,
            "accepted": self.accepted,
            "dataReadable": self.data_readable,
            "authRequired": self.auth_required,
            "detail": self.detail,
        }

    @classmethod
    def from_raw(cls, raw: Any) -> Attempt:
        m = _map(raw)
        return cls(
            tried=m.get("tried") is True,
            accepted=m.get("accepted") is True,
            data_readable=_bool_or_none(m.get("dataReadable")),
            auth_required=_bool_or_none(m.get("authRequired")),
            detail=str(m.get("detail") or ""),
        )


NOT_TRIED = Attempt()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerCertificate:
    subject: str
    issuer: str
    not_after: str
    self_signed: bool
    auto_tls: bool  # etcd --auto-tls shape: self-signed, subject and issuer O=etcd without CN
    trusted: bool | None  # verified against --cacert (None: no --cacert given)
    trust_detail: str = ""

    def to_raw(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "notAfter": self.not_after,
            "selfSigned": self.self_signed,
            "autoTLS": self.auto_tls,
            "trusted": self.trusted,
            "trustDetail": self.trust_detail,
        }

    @classmethod
    def from_raw(cls, raw: Any) -> ServerCertificate | None:
        if not isinstance(raw, Mapping):
            return None
        return cls(
            subject=str(raw.get("subject") or ""),
            issuer=str(raw.get("issuer") or ""),
            not_after=str(raw.get("notAfter") or ""),
            self_signed=raw.get("selfSigned") is True,
            auto_tls=raw.get("autoTLS") is True,
            trusted=_bool_or_none(raw.get("trusted")),
            trust_detail=str(raw.get("trustDetail") or ""),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcdEndpoint:
    """The typed view of an ``EtcdEndpoint`` object (:meth:`of`), and how the probe makes one
    (:meth:`to_object`)."""

    endpoint: str
    host: str
    port: int
    loopback: bool
    reachable: bool = False
    speaks_tls: bool = False
    plain_http: Attempt = NOT_TRIED
    no_cert: Attempt = NOT_TRIED
    wrong_ca: Attempt = NOT_TRIED
    foreign_cert: Attempt | None = None  # None: no --foreign-cert given
    with_cert: Attempt | None = None  # None: no client certificate given
    server_cert: ServerCertificate | None = None
    version: Mapping[str, str] = field(default_factory=dict)
    auth: str = "unknown"  # enabled | disabled | unknown
    auth_detail: str = ""
    errors: tuple[str, ...] = ()

    @property
    def scheme(self) -> str | None:
        """``http`` when the port answers plain HTTP, ``https`` when it speaks TLS only."""
        if self.plain_http.accepted:
            return "http"
        return "https" if self.speaks_tls else None

    def to_raw(self) -> dict[str, Any]:
        listen: dict[str, Any] = {"plainHTTP": self.plain_http.to_raw()}
        if self.scheme is not None:
            listen = {"scheme": self.scheme, **listen}
        tls: dict[str, Any] = {"enabled": self.speaks_tls}
        if self.server_cert is not None:
            tls["serverCertificate"] = self.server_cert.to_raw()
        tls["clientAuth"] = {
            "noCertificate": self.no_cert.to_raw(),
            "givenCertificate": (self.with_cert or NOT_TRIED).to_raw(),
            "trustedCA": {
                "unknownCA": self.wrong_ca.to_raw(),
                "foreignCA": (self.foreign_cert or NOT_TRIED).to_raw(),
            },
        }
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.endpoint},
            "spec": {"url": self.endpoint, "host": self.host, "port": self.port, "loopback": self.loopback},
            "status": {
                "reachable": self.reachable,
                "errors": list(self.errors),
                "version": dict(self.version),
                "listen": listen,
                "tls": tls,
                "auth": {"state": self.auth, "detail": self.auth_detail},
            },
        }

    def to_object(self) -> K8sObject:
        """The object the engine judges: located at the endpoint (a live object, no file)."""
        return K8sObject.from_raw(self.to_raw(), Source(file=self.endpoint, live=True), cluster_scoped=True)

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> EtcdEndpoint:
        spec, status = _map(raw.get("spec")), _map(raw.get("status"))
        listen, tls, auth = _map(status.get("listen")), _map(status.get("tls")), _map(status.get("auth"))
        client_auth = _map(tls.get("clientAuth"))
        trusted_ca = _map(client_auth.get("trustedCA"))
        name = _map(raw.get("metadata")).get("name")
        port = spec.get("port")
        errors = status.get("errors")

        def optional(value: Any) -> Attempt | None:
            a = Attempt.from_raw(value)
            return a if a.tried else None

        return cls(
            endpoint=str(spec.get("url") or name or ""),
            host=str(spec.get("host") or ""),
            port=port if isinstance(port, int) and not isinstance(port, bool) else 0,
            loopback=spec.get("loopback") is True,
            reachable=status.get("reachable") is True,
            speaks_tls=tls.get("enabled") is True,
            plain_http=Attempt.from_raw(listen.get("plainHTTP")),
            no_cert=Attempt.from_raw(client_auth.get("noCertificate")),
            wrong_ca=Attempt.from_raw(trusted_ca.get("unknownCA")),
            foreign_cert=optional(trusted_ca.get("foreignCA")),
            with_cert=optional(client_auth.get("givenCertificate")),
            server_cert=ServerCertificate.from_raw(tls.get("serverCertificate")),
            version={str(k): str(v) for k, v in _map(status.get("version")).items()},
            auth=str(auth.get("state") or "unknown"),
            auth_detail=str(auth.get("detail") or ""),
            errors=tuple(str(e) for e in errors) if isinstance(errors, list) else (),
        )

    @classmethod
    def of(cls, obj: K8sObject) -> EtcdEndpoint:
        """The typed view of an ``EtcdEndpoint`` object (read once per object)."""
        view = obj.memo.get(_MEMO)
        if view is None:
            view = obj.memo[_MEMO] = cls.from_raw(obj.raw)
        assert isinstance(view, EtcdEndpoint)
        return view


def is_etcd_endpoint(obj: K8sObject) -> bool:
    return obj.kind == KIND and obj.api_version == API_VERSION
