"""SEC rules on the EncryptionConfiguration (KF-SEC-008..014): how Secrets are stored in etcd.

SEC-008..013 judge an ``EncryptionConfiguration`` object: the file ``kubefort node audit`` finds
through kube-apiserver ``--encryption-provider-config``, or one given to ``kubefort scan``. SEC-014
judges the file's mode and owner on the ``NodeSnapshot``. Messages name providers and key names,
never key material. (Whether the flag is set at all is KF-CP-033.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..analysis.node.encryption import (
    LOCAL_KEY_PROVIDERS,
    entries,
    entry_for,
    is_encryption_config,
    key_problems,
)
from ..analysis.node.flags import APISERVER, component
from ..analysis.node.targets import NotApplicable, on_kind, on_snapshot
from ..engine.rule import Context, Rule, Scope, Severity, Violation, rule
from ..model.objects import K8sObject
from .control_plane import COMPONENT_KINDS, existing, file_violations, node_of

NSA = "NSA/CISA: secrets"
KINDS = ["EncryptionConfiguration"]
# What each rule is about (its ``applies=``, which the node audit also reads: see analysis.node.targets)
ENC = on_kind(
    "encryption at rest",
    "EncryptionConfiguration",
    "apiserver.config.k8s.io/",
    "no EncryptionConfiguration in use (see KF-CP-033)",
)
ENC_FILE = on_snapshot("encryption at rest")
#: Metadata shared by the rules of one target.
ON_ENCRYPTION_CONFIG: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": KINDS, "applies": ENC}
ON_ENCRYPTION_FILE: dict[str, Any] = {"scope": Scope.OBJECT, "kinds": ["NodeSnapshot"], "applies": ENC_FILE}
K8S_DOC = "https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/"


def _cfg(obj: K8sObject) -> bool:
    return is_encryption_config(obj)


@rule(
    id="KF-SEC-008",
    slug="encryption-identity-first",
    title="EncryptionConfiguration stores secrets unencrypted",
    severity=Severity.CRITICAL,
    rationale="The first provider encrypts new writes: with identity first, every Secret written from now on "
    "is stored in clear in etcd, whatever keys are listed after it.",
    remediation="Put the encrypting provider (kms v2, aescbc or secretbox) first and keep identity last, then rewrite all Secrets (kubectl get secrets -A -o json | kubectl replace -f -).",
    refs={"cis": "1.2.28", "kubescape": "C-0142", "checkov": "CKV_K8S_104", "nsa": NSA, "k8s": K8S_DOC},
    **ON_ENCRYPTION_CONFIG,
)
def encryption_identity_first(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _cfg(obj):
        return
    e = entry_for(obj.raw)
    if e is not None and e.first is not None and e.first.type == "identity":
        yield Violation(
            e.first.path,
            f"resources[{e.index}] covers secrets and its first provider is identity: new "
            "Secrets are written in plain text",
        )


@rule(
    id="KF-SEC-009",
    slug="encryption-secrets-not-covered",
    title="Secrets not covered by any encryption resource entry",
    severity=Severity.HIGH,
    rationale="A resource that no entry names is stored with the identity provider: an EncryptionConfiguration "
    "that lists only other resources leaves Secrets in clear.",
    remediation="Add an entry whose resources list contains secrets (or *.) with an encrypting provider first.",
    refs={"cis": "1.2.28", "kubescape": "C-0142", "nsa": NSA, "k8s": K8S_DOC},
    **ON_ENCRYPTION_CONFIG,
)
def encryption_secrets_not_covered(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _cfg(obj):
        return
    if entry_for(obj.raw) is None:
        listed = sorted({n for e in entries(obj.raw) for n in e.resources})
        what = ", ".join(listed) if listed else "nothing"
        yield Violation(
            ("resources",), f"no entry covers secrets (the entries name {what}): Secrets are stored in clear"
        )


@rule(
    id="KF-SEC-010",
    slug="encryption-weak-provider",
    title="Weak or discouraged primary encryption provider",
    severity=Severity.MEDIUM,
    params={"aesgcm_rotation_automated": False},
    rationale="aesgcm uses random nonces: past about 200,000 writes with one key nonces may repeat and break "
    "confidentiality, so keys must be rotated often; aescbc is open to padding-oracle attacks and "
    "discouraged upstream.",
    remediation="Use kms (apiVersion v2) or secretbox as the first provider for secrets; with aesgcm, automate key rotation.",
    refs={"cis": "1.2.28", "kubescape": "C-0142", "nsa": NSA, "k8s": K8S_DOC},
    **ON_ENCRYPTION_CONFIG,
)
def encryption_weak_provider(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _cfg(obj):
        return
    e = entry_for(obj.raw)
    if e is None or e.first is None:
        return
    first = e.first
    if first.type == "aesgcm" and not ctx.param("aesgcm_rotation_automated"):
        yield Violation(
            first.path,
            f"resources[{e.index}] encrypts secrets with aesgcm: keys must be rotated before "
            "about 200,000 writes (set aesgcm_rotation_automated when rotation is automated)",
            subcode="aesgcm",
        )
    elif first.type == "aescbc":
        yield Violation(
            first.path,
            f"resources[{e.index}] encrypts secrets with aescbc, which upstream discourages (CBC padding oracle)",
            severity=Severity.LOW,
            subcode="aescbc",
        )


@rule(
    id="KF-SEC-011",
    slug="encryption-kms-v1",
    title="KMS v1 provider used",
    severity=Severity.MEDIUM,
    rationale="KMS v1 is deprecated since 1.28 and disabled by default since 1.29 (an upgrade can leave data "
    "unreadable); the KMS plugin must be reached over a local unix socket, never over the network.",
    remediation="Migrate the kms provider to apiVersion: v2 (new name, then rewrite the data) and use a unix:// endpoint.",
    refs={"nsa": NSA, "k8s": "https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/"},
    **ON_ENCRYPTION_CONFIG,
)
def encryption_kms_v1(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _cfg(obj):
        return
    for e in entries(obj.raw):
        for p in e.providers:
            if p.type != "kms":
                continue
            if p.kms_version != "v2":
                yield Violation(
                    p.path,
                    f'resources[{e.index}] uses KMS {p.kms_version} provider "{p.name}" '
                    "(deprecated; off by default since 1.29)",
                    subcode="v1",
                )
            endpoint = p.config.get("endpoint")
            if isinstance(endpoint, str) and not endpoint.startswith("unix://"):
                yield Violation(
                    p.path + ("endpoint",),
                    f'KMS provider "{p.name}" endpoint {endpoint} is not a unix:// socket',
                    subcode="endpoint",
                )


@rule(
    id="KF-SEC-012",
    slug="encryption-invalid-key",
    title="Invalid or short encryption key",
    severity=Severity.HIGH,
    rationale="An invalid key stops the API server (or the provider) from starting; a 16- or 24-byte AES key is "
    "weaker than the 32 bytes recommended; a key reused under two names defeats rotation.",
    remediation="Generate keys with head -c 32 /dev/urandom | base64 and give each its own name.",
    refs={"nsa": NSA, "k8s": K8S_DOC},
    **ON_ENCRYPTION_CONFIG,
)
def encryption_invalid_key(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _cfg(obj):
        return
    sev = {"invalid": None, "short": Severity.MEDIUM, "duplicate_name": Severity.LOW, "duplicate_secret": Severity.LOW}
    for e in entries(obj.raw):
        for p in e.providers:
            for kp in key_problems(p):
                yield Violation(
                    kp.path,
                    f"resources[{e.index}]: {kp.message}",
                    severity=sev[kp.kind],
                    subcode=None if kp.kind == "invalid" else kp.kind,
                )


@rule(
    id="KF-SEC-013",
    slug="encryption-local-keys",
    title="Local encryption keys stored on disk",
    severity=Severity.INFO,
    rationale="With aescbc, aesgcm or secretbox the key sits in the config file on every control-plane node "
    "(and in its backups) next to the data it protects; a KMS keeps it outside the cluster.",
    remediation="Move to a KMS v2 provider backed by an external key manager.",
    refs={"nsa": NSA, "k8s": "https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/"},
    **ON_ENCRYPTION_CONFIG,
)
def encryption_local_keys(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if not _cfg(obj):
        return
    e = entry_for(obj.raw)
    if e is not None and e.first is not None and e.first.type in LOCAL_KEY_PROVIDERS:
        yield Violation(
            e.first.path,
            f"resources[{e.index}] encrypts secrets with {e.first.type}: the key is stored "
            "in this file on every control-plane node",
        )


@rule(
    id="KF-SEC-014",
    slug="encryption-config-permissions",
    title="EncryptionConfiguration file too permissive",
    severity=Severity.HIGH,
    cross_object=True,
    rationale="The EncryptionConfiguration holds the keys (or the KMS endpoint) that protect every Secret; "
    "whoever reads it can decrypt an etcd backup.",
    remediation="Run chmod 600 and chown root:root on the file named by --encryption-provider-config.",
    refs={"nsa": NSA, "k8s": K8S_DOC},
    **ON_ENCRYPTION_FILE,
)
def encryption_config_permissions(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    node = node_of(obj)
    paths = []
    for o in ctx.inventory.of_kind(*COMPONENT_KINDS):
        c = component(o, APISERVER)
        if c is not None and c.value("encryption-provider-config"):
            paths.append(c.value("encryption-provider-config") or "")
    if not paths:
        raise NotApplicable("no kube-apiserver with --encryption-provider-config on this node")
    for f in existing(
        node, paths, "EncryptionConfiguration file", named_by="kube-apiserver --encryption-provider-config"
    ):
        yield from file_violations(f, 0o600, "EncryptionConfiguration")


RULES: list[Rule] = [
    encryption_identity_first,
    encryption_secrets_not_covered,
    encryption_weak_provider,
    encryption_kms_v1,
    encryption_invalid_key,
    encryption_local_keys,
    encryption_config_permissions,
]
