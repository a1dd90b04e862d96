"""ETCD rules judged on a live answer: what an etcd client endpoint did when ``kubefort etcd probe``
knocked (plain HTTP, TLS without a client certificate, a certificate of another CA, its server
certificate). Each function judges one ``EtcdEndpoint`` object (:mod:`kubefort.model.etcd`, the
shape documented there); an endpoint that never answered is not evaluated.

The same catalogue IDs are judged on configuration (flags, config file) by ``rules/etcd_config.py``,
and a registry holds one rule per ID, so these rules are not in the default registry yet
(``docs/etcd.md`` says how the two join into one rule per ID). :func:`probe_registry` is the default
registry with these rules standing in for the configuration ones; ``kubefort etcd probe`` runs the
rules of :data:`LIVE_IDS` from it, through the engine like any scan. The metadata (titles,
severities, refs) is the catalogue's.

Real etcd behaviour the conditions rely on (checked against etcd 3.4.23):

- A client listener with ``--client-cert-auth`` OR ``--trusted-ca-file`` requires and verifies a
  client certificate at the TLS handshake (no certificate and a certificate of another CA are both
  rejected with a TLS alert). So the live answer, not a flag, is what decides KF-ETCD-002 here.
- ``--auto-tls`` serves a self-signed certificate whose subject and issuer are both ``O=etcd`` (no CN),
  EKU serverAuth, one year validity.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from ..engine.registry import Registry
from ..engine.rule import Context, NotEvaluated, Rule, Scope, Severity, Violation, rule
from ..model.etcd import KIND, EtcdEndpoint
from ..model.objects import K8sObject

NSA = "NSA/CISA: control plane hardening (etcd)"


def _answered(obj: K8sObject) -> EtcdEndpoint:
    """The endpoint, when it answered at all (there is nothing to judge on one that did not)."""
    p = EtcdEndpoint.of(obj)
    if not p.reachable:
        raise NotEvaluated(f"unreachable ({'; '.join(p.errors) or 'no answer'})")
    return p


@rule(
    id="KF-ETCD-001",
    slug="etcd-live-no-server-tls",
    title="etcd server TLS certificate not configured",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=[KIND],
    modes=["probe"],
    rationale="Without a server certificate the client listener speaks plaintext: etcd holds every Secret of the "
    "cluster, and its traffic (including Secret values and credentials) can be read and altered on the network.",
    remediation="Serve clients over TLS: set --cert-file and --key-file and use https:// in --listen-client-urls.",
    refs={"cis": "2.1", "kubescape": "C-0153", "checkov": "CKV_K8S_116", "trivy": "KCV-0042", "nsa": NSA},
)
def no_server_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    p = _answered(obj)
    if not p.speaks_tls and p.plain_http.accepted:
        yield Violation(
            ("status", "tls"), f"{p.endpoint} answers etcd requests without TLS (no TLS handshake possible)"
        )


@rule(
    id="KF-ETCD-002",
    slug="etcd-live-client-cert-not-required",
    title="etcd client certificate authentication disabled",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=[KIND],
    modes=["probe"],
    rationale="etcd accepted a client that presented no certificate (or one no trusted CA signed): anyone who can "
    "reach the port can read every Secret and rewrite any object, bypassing Kubernetes authorization.",
    remediation="Require client certificates: set --client-cert-auth=true and --trusted-ca-file to a CA dedicated to etcd.",
    refs={"cis": "2.2", "kubescape": "C-0154", "checkov": "CKV_K8S_117", "trivy": "KCV-0043", "nsa": NSA},
)
def client_cert_not_required(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    p = _answered(obj)
    if p.no_cert.accepted:
        data = " and served key-value data" if p.no_cert.data_readable else ""
        yield Violation(
            ("status", "tls", "clientAuth"), f"{p.endpoint} accepted a TLS client without a certificate{data}"
        )
    elif p.wrong_ca.accepted:
        yield Violation(
            ("status", "tls", "clientAuth", "trustedCA"),
            f"{p.endpoint} accepted a client certificate signed by an unknown, freshly made CA",
            subcode="unverified-ca",
        )


@rule(
    id="KF-ETCD-003",
    slug="etcd-live-auto-tls",
    title="etcd client auto-TLS enabled",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=[KIND],
    modes=["probe"],
    rationale="With --auto-tls etcd makes itself a self-signed certificate: clients cannot verify the server (any "
    "impostor's certificate looks the same) and auto-TLS does not verify clients either.",
    remediation="Set --auto-tls=false and configure --cert-file/--key-file from a CA dedicated to etcd.",
    refs={"cis": "2.3", "kubescape": "C-0155", "checkov": "CKV_K8S_118", "trivy": "KCV-0044", "nsa": NSA},
)
def auto_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    p = _answered(obj)
    c = p.server_cert
    if c is not None and c.auto_tls:
        yield Violation(
            ("status", "tls", "serverCertificate"),
            f'{p.endpoint} serves a self-signed certificate issued by "{c.issuer}" (etcd auto-TLS)',
        )


@rule(
    id="KF-ETCD-007",
    slug="etcd-live-shared-ca",
    title="etcd does not use a dedicated CA",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=[KIND],
    modes=["probe"],
    rationale="etcd accepted a client certificate issued by the cluster CA: every certificate that CA signs (kubelets, "
    "users, controllers) can then open etcd and read every Secret.",
    remediation="Give etcd its own CA (--trusted-ca-file) that signs only etcd peers and the API server's etcd client certificate.",
    refs={"cis": "2.7", "kubescape": "C-0159", "nsa": NSA},
)
def shared_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    p = _answered(obj)
    if p.foreign_cert is not None and p.foreign_cert.accepted and not p.no_cert.accepted:
        yield Violation(
            ("status", "tls", "clientAuth", "trustedCA"),
            f"{p.endpoint} accepted the client certificate of another CA given with --foreign-cert",
        )


_LOOPBACK_NOTE = "loopback"


@rule(
    id="KF-ETCD-008",
    slug="etcd-live-plaintext",
    title="etcd listens in plaintext or on all interfaces",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=[KIND],
    modes=["probe"],
    rationale="etcd answered plain HTTP: its API, with every Secret of the cluster, is readable and writable in the clear "
    "by whoever reaches the port.",
    remediation="Listen with https:// only (--listen-client-urls, --listen-peer-urls), on the node's own address rather than 0.0.0.0.",
    refs={"nsa": NSA},
)
def plaintext(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    p = _answered(obj)
    if not p.plain_http.accepted:
        return
    if p.loopback:
        # The catalogue condition fails plaintext only off loopback; a loopback listener is still reachable by
        # every hostNetwork pod of that node, so it is reported, as information.
        yield Violation(
            ("status", "listen", "scheme"),
            f"{p.endpoint} answers plain HTTP on a loopback address",
            severity=Severity.INFO,
            subcode=_LOOPBACK_NOTE,
        )
    else:
        yield Violation(("status", "listen", "scheme"), f"{p.endpoint} answers plain HTTP on a non-loopback address")


RULES: list[Rule] = [no_server_tls, client_cert_not_required, auto_tls, shared_ca, plaintext]


#: The IDs ``kubefort etcd probe`` judges.
LIVE_IDS: tuple[str, ...] = tuple(r.id for r in RULES)


def probe_registry(*, plugins: bool = True) -> Registry:
    """The default registry with the live rules in place of the configuration rules of the same IDs
    (answering to their slugs too, so a ``.kubefort.yaml`` that names them by slug works for both):
    what the registry will be once each ID is one rule judging both kinds of object."""
    from . import default_registry

    live = {r.id: r for r in RULES}
    rules: list[Rule] = []
    for r in default_registry(plugins=plugins):
        stand_in = live.pop(r.id, None)
        if stand_in is None:
            rules.append(r)
        else:
            names = tuple(n for n in (r.meta.slug, *r.meta.aliases) if n != stand_in.meta.slug)
            meta = dataclasses.replace(stand_in.meta, aliases=(*stand_in.meta.aliases, *names))
            rules.append(Rule(meta, stand_in.fn))
    rules.extend(live.values())
    return Registry(rules)
