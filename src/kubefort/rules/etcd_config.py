"""ETCD rules on etcd's configuration: flags, ``ETCD_*`` environment variables and ``--config-file``
(KF-ETCD-001..008), and its data directory on the node (KF-ETCD-009/010).

How etcd reads its settings (etcd.io/docs/v3.5/op-guide/configuration, checked against etcd 3.4):

- A flag wins over its ``ETCD_<FLAG>`` environment variable.
- With ``--config-file`` (or ``ETCD_CONFIG_FILE``) every other flag and environment variable is
  ignored: the YAML file alone counts. (The catalogue's legend 9, "the flag overrides the file", is
  not how etcd behaves; this module follows etcd.) TLS settings sit under
  ``client-transport-security`` / ``peer-transport-security`` in the file.
- ``--trusted-ca-file`` alone already makes etcd require and verify client certificates, whatever
  ``--client-cert-auth`` says (same for the peer pair). KF-ETCD-002/005 therefore fail hard only
  without a trusted CA, and report a missing explicit ``--client-cert-auth`` as a low sub-code.

KF-ETCD-001/002/003/007/008 also judge what a live endpoint answered (``EtcdEndpoint`` objects, made by
``kubefort etcd probe``): one rule per ID, whose function hands an ``EtcdEndpoint`` to its live check in
``rules/etcd_live.py`` and anything else to the configuration check here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..analysis.node.flags import APISERVER, ETCD, Component, component, parse_bool, split_list
from ..analysis.node.snapshot import FileFact, NodeView, is_loopback_host, is_unspecified_host, snapshots
from ..analysis.node.targets import on_component, on_snapshot
from ..engine.rule import Context, NotEvaluated, Rule, Scope, Severity, Violation, rule
from ..model.etcd import KIND as ENDPOINT
from ..model.etcd import is_etcd_endpoint
from ..model.objects import K8sObject, Path
from . import etcd_live as live
from .control_plane import COMPONENT_KINDS, existing, node_of
from .etcd_live import LOOPBACK_REASON

NSA = "NSA/CISA: control plane hardening (etcd)"
# What each rule is about (its ``applies=``, which the node audit also reads: see analysis.node.targets)
ETCD_T = on_component(ETCD)
ETCD_FILES = on_snapshot("etcd")
ETCD_OR_ENDPOINT = on_component(ETCD, is_etcd_endpoint)
#: Metadata shared by the rules of one target: the configuration rules judge etcd wherever it runs
#: (and read its --config-file from the NodeSnapshot), the data-directory rules the NodeSnapshot.
ON_ETCD: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": COMPONENT_KINDS, "cross_object": True, "applies": ETCD_T}
#: ... and the rules of the IDs ``kubefort etcd probe`` also judges on a live endpoint (an ``EtcdEndpoint``
#: object: :data:`kubefort.rules.etcd_live.LIVE_IDS`)
ON_ETCD_OR_ENDPOINT: dict[str, Any] = {**ON_ETCD, "kinds": (*COMPONENT_KINDS, ENDPOINT), "applies": ETCD_OR_ENDPOINT}
ON_ETCD_FILES: dict[str, Any] = {
    "scope": Scope.OBJECT,
    "kinds": ["NodeSnapshot"],
    "cross_object": True,
    "applies": ETCD_FILES,
}

#: Flag -> path of the setting in etcd's YAML config file.
CONFIG_KEYS: dict[str, tuple[str, ...]] = {
    "cert-file": ("client-transport-security", "cert-file"),
    "key-file": ("client-transport-security", "key-file"),
    "client-cert-auth": ("client-transport-security", "client-cert-auth"),
    "trusted-ca-file": ("client-transport-security", "trusted-ca-file"),
    "auto-tls": ("client-transport-security", "auto-tls"),
    "peer-cert-file": ("peer-transport-security", "cert-file"),
    "peer-key-file": ("peer-transport-security", "key-file"),
    "peer-client-cert-auth": ("peer-transport-security", "client-cert-auth"),
    "peer-trusted-ca-file": ("peer-transport-security", "trusted-ca-file"),
    "peer-auto-tls": ("peer-transport-security", "auto-tls"),
}


@dataclass(frozen=True, slots=True)
class EtcdSetting:
    value: Any  # str, bool or None
    path: Path
    text: str  # how to name it: "--cert-file", "ETCD_CERT_FILE", "client-transport-security.cert-file in <file>"


class EtcdSettings:
    def __init__(self, c: Component, ctx: Context) -> None:
        self.c = c
        self.config_file: str | None = None
        self.config: Mapping[str, Any] | None = None
        env = c.env("ETCD_CONFIG_FILE")
        cfg = c.value("config-file") or (env[0] if env else None)
        if cfg:
            self.config_file = cfg
            for node in snapshots(ctx.inventory.of_kind("NodeSnapshot")):
                found = node.config(cfg)
                if found is not None:
                    self.config = found
                    break
            if self.config is None:
                raise NotEvaluated(
                    f"etcd reads its settings from --config-file {cfg} (flags and ETCD_* variables are "
                    "then ignored), and that file is not in the input"
                )

    def get(self, flag: str) -> EtcdSetting:
        if self.config_file is not None and self.config is not None:
            key = CONFIG_KEYS.get(flag, (flag,))
            cur: Any = self.config
            for k in key:
                cur = cur.get(k) if isinstance(cur, dict) else None
            path = self.c.at("config-file") if self.c.is_set("config-file") else self.c.anchor
            return EtcdSetting(cur, path, f"{'.'.join(key)} in {self.config_file}")
        f = self.c.flags.get(flag)
        if f is not None:
            return EtcdSetting(self.c.value(flag), self.c.at(flag), f"--{flag}")
        env_name = "ETCD_" + flag.upper().replace("-", "_")
        env = self.c.env(env_name)
        if env is not None:
            return EtcdSetting(env[0], env[1], env_name)
        return EtcdSetting(None, self.c.anchor, f"--{flag}")

    def is_set(self, flag: str) -> bool:
        v = self.get(flag).value
        return v is not None and v is not False and str(v).strip() != ""

    def bool(self, flag: str) -> bool:
        v = self.get(flag).value
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        return parse_bool(str(v)) is True

    def urls(self, flag: str) -> list[str]:
        v = self.get(flag).value
        if isinstance(v, list):
            return [str(x) for x in v]
        return split_list(str(v)) if v else []


def _etcd(obj: K8sObject, ctx: Context) -> EtcdSettings | None:
    c = component(obj, ETCD)
    return EtcdSettings(c, ctx) if c is not None else None


def _missing(s: EtcdSettings, flags: tuple[str, ...], what: str) -> Iterator[Violation]:
    for f in flags:
        if not s.is_set(f):
            st = s.get(f)
            yield Violation(st.path, f"etcd: {st.text} is not set: {what}")


@rule(
    id="KF-ETCD-001",
    slug="etcd-server-tls",
    title="etcd server TLS certificate not configured",
    severity=Severity.HIGH,
    rationale="Without a server certificate etcd's client listener speaks plaintext: every Secret of the cluster "
    "crosses the network readable and alterable.",
    remediation="Set --cert-file and --key-file (kubeadm: /etc/kubernetes/pki/etcd/server.crt/.key) and https:// in --listen-client-urls.",
    refs={"cis": "2.1", "kubescape": "C-0153", "checkov": "CKV_K8S_116", "trivy": "KCV-0042", "nsa": NSA},
    aliases=["etcd-live-no-server-tls"],
    **ON_ETCD_OR_ENDPOINT,
)
def etcd_server_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_etcd_endpoint(obj):
        yield from live.no_server_tls(obj)
        return
    s = _etcd(obj, ctx)
    if s is not None:
        yield from _missing(s, ("cert-file", "key-file"), "clients connect without TLS")


def _client_auth(s: EtcdSettings, auth: str, ca: str, who: str) -> Iterator[Violation]:
    if not s.is_set(ca):
        st = s.get(ca)
        extra = f" (--{auth} alone verifies against the system's roots)" if s.bool(auth) else ""
        yield Violation(
            st.path, f"etcd: {st.text} is not set: {who} certificates are not verified against a cluster CA{extra}"
        )
    elif not s.bool(auth):
        st = s.get(auth)
        yield Violation(
            st.path,
            f"etcd: {st.text} is not true; {who} certificates are still required because "
            f"{s.get(ca).text} is set, but say so explicitly",
            severity=Severity.LOW,
            subcode="implicit",
        )


@rule(
    id="KF-ETCD-002",
    slug="etcd-client-cert-auth",
    title="etcd client certificate authentication disabled",
    severity=Severity.CRITICAL,
    rationale="Without client certificate verification anyone who reaches port 2379 can read and write every object of "
    "the cluster, Secrets included, bypassing RBAC and admission.",
    remediation="Set --client-cert-auth=true and --trusted-ca-file to etcd's own CA (kubeadm: /etc/kubernetes/pki/etcd/ca.crt).",
    refs={"cis": "2.2", "kubescape": "C-0154", "checkov": "CKV_K8S_117", "trivy": "KCV-0043", "nsa": NSA},
    aliases=["etcd-live-client-cert-not-required"],
    **ON_ETCD_OR_ENDPOINT,
)
def etcd_client_cert_auth(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_etcd_endpoint(obj):
        yield from live.client_cert_not_required(obj)
        return
    s = _etcd(obj, ctx)
    if s is not None:
        yield from _plain_http_clients(s)
        yield from _client_auth(s, "client-cert-auth", "trusted-ca-file", "client")


def _plain_http_clients(s: EtcdSettings) -> Iterator[Violation]:
    """An ``http://`` client listener serves without TLS, so no client certificate is ever asked for
    there, whatever --client-cert-auth says: whoever reaches it is served (as the live check finds)."""
    st = s.get("listen-client-urls")
    for url in s.urls("listen-client-urls"):
        parts = urlsplit(url)
        if parts.scheme != "http":
            continue
        where = (
            "a loopback address, which every process and hostNetwork pod of the node reaches"
            if is_loopback_host(parts.hostname or "")
            else "the network"
        )
        yield Violation(
            st.path,
            f"etcd: {st.text} serves plain HTTP on {url}: clients there are never asked for a certificate, "
            f"so anyone who reaches {where} reads and writes every key",
            subcode="plain_http",
        )


@rule(
    id="KF-ETCD-003",
    slug="etcd-auto-tls",
    title="etcd client auto-TLS enabled",
    severity=Severity.HIGH,
    rationale="--auto-tls makes etcd serve a self-signed certificate that no client can verify.",
    remediation="Remove --auto-tls and configure --cert-file/--key-file from a CA.",
    refs={"cis": "2.3", "kubescape": "C-0155", "checkov": "CKV_K8S_118", "trivy": "KCV-0044", "nsa": NSA},
    aliases=["etcd-live-auto-tls"],
    **ON_ETCD_OR_ENDPOINT,
)
def etcd_auto_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_etcd_endpoint(obj):
        yield from live.auto_tls(obj)
        return
    s = _etcd(obj, ctx)
    if s is not None and s.bool("auto-tls"):
        st = s.get("auto-tls")
        yield Violation(st.path, f"etcd: {st.text} is true: clients get a self-signed certificate")


def _has_peers(s: EtcdSettings) -> bool:
    members = [m for m in s.urls("initial-cluster") if "=" in m]
    return bool(s.urls("listen-peer-urls")) or len(members) > 1


@rule(
    id="KF-ETCD-004",
    slug="etcd-peer-tls",
    title="etcd peer TLS certificate not configured",
    severity=Severity.HIGH,
    rationale="Without peer certificates etcd members replicate the whole data set, Secrets included, in plaintext.",
    remediation="Set --peer-cert-file and --peer-key-file (kubeadm: /etc/kubernetes/pki/etcd/peer.crt/.key).",
    refs={"cis": "2.4", "kubescape": "C-0156", "checkov": "CKV_K8S_119", "trivy": "KCV-0045", "nsa": NSA},
    **ON_ETCD,
)
def etcd_peer_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    s = _etcd(obj, ctx)
    if s is not None and _has_peers(s):
        yield from _missing(s, ("peer-cert-file", "peer-key-file"), "peers replicate without TLS")


@rule(
    id="KF-ETCD-005",
    slug="etcd-peer-client-cert-auth",
    title="etcd peer client certificate authentication disabled",
    severity=Severity.HIGH,
    rationale="Without peer certificate verification anyone who reaches port 2380 can join as a member or pose as one "
    "and receive the replicated data.",
    remediation="Set --peer-client-cert-auth=true and --peer-trusted-ca-file to etcd's CA.",
    refs={"cis": "2.5", "kubescape": "C-0157", "checkov": "CKV_K8S_121", "trivy": "KCV-0046", "nsa": NSA},
    **ON_ETCD,
)
def etcd_peer_client_cert_auth(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    s = _etcd(obj, ctx)
    if s is not None and _has_peers(s):
        yield from _client_auth(s, "peer-client-cert-auth", "peer-trusted-ca-file", "peer")


@rule(
    id="KF-ETCD-006",
    slug="etcd-peer-auto-tls",
    title="etcd peer auto-TLS enabled",
    severity=Severity.HIGH,
    rationale="--peer-auto-tls gives members self-signed certificates, so members cannot authenticate each other.",
    remediation="Remove --peer-auto-tls and configure peer certificates from etcd's CA.",
    refs={"cis": "2.6", "kubescape": "C-0158", "trivy": "KCV-0047", "nsa": NSA},
    **ON_ETCD,
)
def etcd_peer_auto_tls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    s = _etcd(obj, ctx)
    if s is not None and s.bool("peer-auto-tls"):
        st = s.get("peer-auto-tls")
        yield Violation(st.path, f"etcd: {st.text} is true: peers use self-signed certificates")


@rule(
    id="KF-ETCD-007",
    slug="etcd-dedicated-ca",
    title="etcd does not use a dedicated CA",
    severity=Severity.MEDIUM,
    rationale="If etcd trusts the cluster CA, every client certificate of the cluster (kubelets, users, controllers) "
    "is also a key to etcd and all its data.",
    remediation="Give etcd its own CA (kubeadm: /etc/kubernetes/pki/etcd/ca.crt) distinct from the API server's --client-ca-file.",
    refs={"cis": "2.7", "kubescape": "C-0159", "nsa": NSA},
    aliases=["etcd-live-shared-ca"],
    **ON_ETCD_OR_ENDPOINT,
)
def etcd_dedicated_ca(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_etcd_endpoint(obj):
        yield from live.shared_ca(obj)
        return
    s = _etcd(obj, ctx)
    if s is None:
        return
    ca = s.get("trusted-ca-file")
    if not ca.value:
        return  # no CA at all is KF-ETCD-002
    apis = [c for o in ctx.inventory.of_kind(*COMPONENT_KINDS) if (c := component(o, APISERVER)) is not None]
    client_cas = [c.value("client-ca-file") for c in apis if c.value("client-ca-file")]
    if not client_cas:
        raise NotEvaluated("no kube-apiserver with --client-ca-file in the input to compare etcd's CA with")
    etcd_ca = posixpath.normpath(str(ca.value))
    digests = _digests(ctx)
    for api_ca in client_cas:
        a = posixpath.normpath(str(api_ca))
        same_file = a == etcd_ca
        same_content = digests.get(a) is not None and digests.get(a) == digests.get(etcd_ca)
        if same_file or same_content:
            how = "the same file" if same_file else "the same certificate"
            yield Violation(
                ca.path,
                f"etcd: {ca.text}={ca.value} is {how} as kube-apiserver --client-ca-file={api_ca}: "
                "any cluster client certificate is accepted by etcd",
            )
            return


def _digests(ctx: Context) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in snapshots(ctx.inventory.of_kind("NodeSnapshot")):
        files = node.raw.get("files")
        if isinstance(files, dict):
            for p, f in files.items():
                if isinstance(f, dict) and isinstance(f.get("sha256"), str):
                    out[posixpath.normpath(str(p))] = f["sha256"]
    return out


@rule(
    id="KF-ETCD-008",
    slug="etcd-listen-urls",
    title="etcd listens in plaintext or on all interfaces",
    severity=Severity.HIGH,
    rationale="Plain-HTTP listeners on the network expose the data and accept unauthenticated clients; binding all "
    "interfaces puts etcd on networks that only the API server should reach.",
    remediation="Use https:// for --listen-client-urls and --listen-peer-urls on explicit addresses (loopback plus the node IP) and keep --listen-metrics-urls on loopback.",
    refs={"nsa": NSA},
    aliases=["etcd-live-plaintext"],
    **ON_ETCD_OR_ENDPOINT,
)
def etcd_listen_urls(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if is_etcd_endpoint(obj):
        yield from live.plaintext(obj)
        return
    s = _etcd(obj, ctx)
    if s is None:
        return
    for flag, sub_all in (("listen-client-urls", True), ("listen-peer-urls", False)):
        st = s.get(flag)
        for url in s.urls(flag):
            parts = urlsplit(url)
            host = parts.hostname or ""
            if parts.scheme == "http" and not is_loopback_host(host):
                yield Violation(st.path, f"etcd: {st.text} serves plain HTTP on {url}", subcode="plaintext")
            elif parts.scheme == "http" and sub_all:
                yield Violation(
                    st.path,
                    f"etcd: {st.text} serves plain HTTP on the loopback address {url}: {LOOPBACK_REASON}",
                    severity=Severity.MEDIUM,
                    subcode="loopback",
                )
            elif sub_all and is_unspecified_host(host):
                yield Violation(
                    st.path,
                    f"etcd: {st.text} binds every interface ({url})",
                    severity=Severity.MEDIUM,
                    subcode="all_interfaces",
                )
    st = s.get("listen-metrics-urls")
    for url in s.urls("listen-metrics-urls"):
        parts = urlsplit(url)
        if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
            yield Violation(
                st.path,
                f"etcd: {st.text} serves metrics over plain HTTP on {url}",
                severity=Severity.LOW,
                subcode="metrics",
            )


# ---------------------------------------------------------------------------------------------------
# data directory (NodeSnapshot)


def _data_dirs(ctx: Context) -> list[str]:
    dirs = []
    for o in ctx.inventory.of_kind(*COMPONENT_KINDS):
        c = component(o, ETCD)
        if c is None:
            continue
        env = c.env("ETCD_DATA_DIR")
        dirs.append(c.value("data-dir") or (env[0] if env else None) or "/var/lib/etcd")
    return dirs or ["/var/lib/etcd"]


def _data_dir(obj: K8sObject, ctx: Context) -> tuple[NodeView, list[FileFact]]:
    node = node_of(obj)
    return node, existing(node, _data_dirs(ctx), "etcd data directory")


@rule(
    id="KF-ETCD-009",
    slug="etcd-data-dir-permissions",
    title="etcd data directory permissions too open",
    severity=Severity.MEDIUM,
    rationale="The data directory holds the whole cluster state, Secrets included, unencrypted unless encryption "
    "at rest is on: other local users must not read it.",
    remediation="Run chmod 700 on the etcd data directory (--data-dir, e.g. /var/lib/etcd).",
    refs={"cis": "1.1.11", "kubescape": "C-0102", "trivy": "KCV-0058", "nsa": NSA},
    **ON_ETCD_FILES,
)
def etcd_data_dir_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    _, facts = _data_dir(obj, ctx)
    for f in facts:
        if f.too_open(0o700):
            yield Violation(
                ("files", f.path), f"etcd data directory {f.path} has mode {f.mode_text}, more permissive than 0700"
            )


@rule(
    id="KF-ETCD-010",
    slug="etcd-data-dir-ownership",
    title="etcd data directory not owned by etcd",
    severity=Severity.LOW,
    rationale="When etcd runs as its own user, its data should belong to that user alone; on kubeadm hosts "
    "without an etcd user, root owns it.",
    remediation="Run chown -R etcd:etcd on the data directory (or root:root on hosts without an etcd user).",
    refs={"cis": "1.1.12", "kubescape": "C-0103", "trivy": "KCV-0059", "nsa": NSA},
    **ON_ETCD_FILES,
)
def etcd_data_dir_ownership(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node, facts = _data_dir(obj, ctx)
    has_etcd = node.user_exists("etcd")
    for f in facts:
        if has_etcd:
            if not f.owned_by("etcd", "etcd", node.uid_of("etcd"), node.gid_of("etcd")):
                yield Violation(
                    ("files", f.path),
                    f"etcd data directory {f.path} is owned by {f.owner_text}, not "
                    "etcd:etcd (this host has an etcd user)",
                )
        elif not f.owned_by("root", "root"):
            yield Violation(
                ("files", f.path),
                f"etcd data directory {f.path} is owned by {f.owner_text}, not root:root (this host has no etcd user)",
            )


RULES: list[Rule] = [
    etcd_server_tls,
    etcd_client_cert_auth,
    etcd_auto_tls,
    etcd_peer_tls,
    etcd_peer_client_cert_auth,
    etcd_peer_auto_tls,
    etcd_dedicated_ca,
    etcd_listen_urls,
    etcd_data_dir_permissions,
    etcd_data_dir_ownership,
]
