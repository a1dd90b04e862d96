"""``kubefort access grant``: everything one person needs to reach one namespace, with the least privilege.

- **Key**: ECDSA P-256 (what the API server and kubectl accept, small and fast), PKCS#8 PEM, written
  with mode 0600 and never printed.
- **CertificateSigningRequest** (``certificates.k8s.io/v1``): signer
  ``kubernetes.io/kube-apiserver-client`` (the API server trusts what it signs for client
  authentication), ``usages: [client auth]``, ``expirationSeconds`` from ``--expires`` (24 h by
  default: a certificate cannot be revoked, only waited out). Subject CN = the user, O = the groups;
  ``system:`` names are refused (``system:masters`` bypasses RBAC altogether).
- **Role and RoleBinding** in the namespace: ``view`` = get/list/watch on the namespace's common
  resources *except Secrets* (and no ``pods/exec``, ``pods/attach``, ``pods/portforward``,
  ``serviceaccounts/token``); ``edit`` adds create/update/patch/delete on the application resources
  (still no Secrets, no RBAC objects, no exec). Another role: ``--role Role/NAME`` or
  ``ClusterRole/NAME`` binds it as is (no Role written). Only the User is bound, never the groups:
  removing this one binding takes the rights away.
- **kubeconfig** template naming the certificate file the approval will produce.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ..errors import UsageError

SIGNER = "kubernetes.io/kube-apiserver-client"
MIN_EXPIRATION = 600  # the API server's minimum for expirationSeconds (10 minutes)

#: (apiGroup, resources) a namespace's users commonly read; Secrets are never among them
VIEW_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "",
        (
            "configmaps",
            "endpoints",
            "events",
            "limitranges",
            "persistentvolumeclaims",
            "pods",
            "pods/log",
            "replicationcontrollers",
            "resourcequotas",
            "serviceaccounts",
            "services",
        ),
    ),
    ("apps", ("daemonsets", "deployments", "replicasets", "statefulsets")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("batch", ("cronjobs", "jobs")),
    ("discovery.k8s.io", ("endpointslices",)),
    ("networking.k8s.io", ("ingresses", "networkpolicies")),
    ("policy", ("poddisruptionbudgets",)),
)
READ_VERBS = ("get", "list", "watch")
#: what ``edit`` may also write: the application's own objects (no Secrets, ServiceAccounts, RBAC, quotas)
EDIT_RESOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("configmaps", "persistentvolumeclaims", "pods", "services")),
    ("apps", ("deployments", "statefulsets", "daemonsets")),
    ("autoscaling", ("horizontalpodautoscalers",)),
    ("batch", ("cronjobs", "jobs")),
    ("networking.k8s.io", ("ingresses",)),
    ("policy", ("poddisruptionbudgets",)),
)
WRITE_VERBS = ("create", "update", "patch", "delete")

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_NAME_OK = re.compile(r"[^a-z0-9.-]+")


def parse_duration(text: str) -> int:
    """``24h``, ``7d``, ``1h30m``, ``900s`` (or plain seconds) -> seconds (at least 600). Raises UsageError."""
    t = text.strip().lower()
    if t.isdigit():
        seconds = int(t)
    else:
        m = _DURATION.match(t)
        if not t or m is None:
            raise UsageError(f"--expires {text!r}: use a duration such as 24h, 7d, 1h30m or 900s")
        d, h, mi, s = (int(x) if x else 0 for x in m.groups())
        seconds = ((d * 24 + h) * 60 + mi) * 60 + s
    if seconds < MIN_EXPIRATION:
        raise UsageError(f"--expires {text!r}: the API server's minimum is 10m (600 seconds)")
    return seconds


def object_name(text: str) -> str:
    """A DNS-subdomain object name made from a user name (``jane@example.com`` -> ``jane-example.com``)."""
    name = _NAME_OK.sub("-", text.lower()).strip("-.")[:200]
    return name or "user"


@dataclass(frozen=True, slots=True)
class RoleChoice:
    """``view``/``edit`` (a Role kubefort writes) or an existing Role/ClusterRole to bind."""

    kind: str  # "Role" | "ClusterRole"
    name: str
    rules: tuple[Mapping[str, Any], ...] | None  # None: an existing role, bound as is


def role_choice(text: str, user_slug: str) -> RoleChoice:
    t = text.strip()
    if t in ("view", "edit"):
        rules = [{"apiGroups": [g], "resources": list(r), "verbs": list(READ_VERBS)} for g, r in VIEW_RESOURCES]
        if t == "edit":
            rules += [{"apiGroups": [g], "resources": list(r), "verbs": list(WRITE_VERBS)} for g, r in EDIT_RESOURCES]
        return RoleChoice("Role", f"{user_slug}-{t}", tuple(rules))
    kind, sep, name = t.partition("/")
    if not sep:
        kind, name = "Role", t
    if kind not in ("Role", "ClusterRole") or not name:
        raise UsageError(f"--role {text!r}: use view, edit, Role/NAME or ClusterRole/NAME")
    return RoleChoice(kind, name, None)


@dataclass(frozen=True, slots=True)
class AccessKit:
    """What ``grant`` writes. ``key_pem`` is the private key: written with mode 0600, never printed."""

    user: str
    groups: tuple[str, ...]
    namespace: str
    csr_name: str
    expiration_seconds: int
    key_pem: bytes
    csr_pem: bytes
    documents: tuple[dict[str, Any], ...]  # the CertificateSigningRequest, the Role (if any), the RoleBinding
    kubeconfig: dict[str, Any]
    role: RoleChoice

    def __repr__(self) -> str:  # never the key
        return f"AccessKit(user={self.user!r}, namespace={self.namespace!r}, csr={self.csr_name!r})"


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _check_names(user: str, groups: Sequence[str], namespace: str) -> None:
    if not _DNS_LABEL.match(namespace):
        raise UsageError(f"namespace {namespace!r} is not a valid namespace name (a DNS label: a-z, 0-9, '-')")
    if not user.strip():
        raise UsageError("USER must not be empty")
    if user.startswith("system:"):
        raise UsageError(f"user {user!r}: names starting with 'system:' are reserved for Kubernetes components")
    for g in groups:
        if g == "system:masters":
            raise UsageError("group system:masters bypasses RBAC entirely (no binding can limit it): refused")
        if g.startswith("system:") or not g.strip():
            raise UsageError(f"group {g!r}: 'system:' groups are Kubernetes' own (and empty names are invalid)")


def build(
    user: str,
    namespace: str,
    *,
    groups: Sequence[str] = (),
    role: str = "view",
    expiration_seconds: int = 86400,
    server: str = "https://KUBERNETES-API-SERVER:6443",
    cluster: str = "kubernetes",
    now: dt.datetime | None = None,
) -> AccessKit:
    """The key, CSR, RBAC objects and kubeconfig for ``user`` in ``namespace``. Raises UsageError."""
    _check_names(user, groups, namespace)
    slug = object_name(user)
    choice = role_choice(role, slug)
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, user)]
    subject += [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in dict.fromkeys(groups)]
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject)).sign(key, hashes.SHA256())
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    csr_name = f"{slug}-{now.strftime('%Y%m%d%H%M%S')}"
    labels = {"app.kubernetes.io/managed-by": "kubefort", "kubefort.io/access-user": slug[:63].strip("-.")}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": csr_name, "labels": labels},
            "spec": {
                "request": base64.b64encode(csr_pem).decode(),
                "signerName": SIGNER,
                "expirationSeconds": expiration_seconds,
                "usages": ["client auth"],
            },
        }
    ]
    binding = choice.name if choice.rules is not None else f"{slug}-{object_name(choice.name)}"[:253]
    if choice.rules is not None:
        docs.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": choice.name, "namespace": namespace, "labels": labels},
                "rules": [dict(r) for r in choice.rules],
            }
        )
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": binding, "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": choice.kind, "name": choice.name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
    )
    context = f"{slug}@{cluster}"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority": "ca.crt"}}],
        "users": [{"name": slug, "user": {"client-certificate": f"{slug}.crt", "client-key": f"{slug}.key"}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": slug, "namespace": namespace}}],
        "current-context": context,
    }
    return AccessKit(
        user=user,
        groups=tuple(dict.fromkeys(groups)),
        namespace=namespace,
        csr_name=csr_name,
        expiration_seconds=expiration_seconds,
        key_pem=key_pem,
        csr_pem=csr_pem,
        documents=tuple(docs),
        kubeconfig=kubeconfig,
        role=choice,
    )


def _write(path: str, data: bytes, mode: int) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)  # whatever the umask
    os.replace(tmp, path)  # never a half-written key in place


def write(kit: AccessKit, out_dir: str, *, force: bool = False) -> dict[str, str]:
    """Write the kit into ``out_dir``: ``USER.key`` (0600), ``USER.csr``, ``csr.yaml``, ``rbac.yaml``
    and ``kubeconfig`` (0600: it names the key). An existing key is not overwritten unless ``force``
    (it may belong to an issued certificate). Returns file name -> path."""
    slug = object_name(kit.user)
    os.makedirs(out_dir, exist_ok=True)
    key_path = os.path.join(out_dir, f"{slug}.key")
    if os.path.exists(key_path) and not force:
        raise UsageError(f"{key_path} exists (it may belong to an issued certificate): use another --out or --force")
    csr_doc = [d for d in kit.documents if d["kind"] == "CertificateSigningRequest"]
    rbac_docs = [d for d in kit.documents if d["kind"] != "CertificateSigningRequest"]
    files = {
        f"{slug}.key": (kit.key_pem, 0o600),
        f"{slug}.csr": (kit.csr_pem, 0o644),
        "csr.yaml": (yaml.safe_dump_all(csr_doc, sort_keys=False).encode(), 0o644),
        "rbac.yaml": (yaml.safe_dump_all(rbac_docs, sort_keys=False).encode(), 0o644),
        "kubeconfig": (yaml.safe_dump(kit.kubeconfig, sort_keys=False).encode(), 0o600),
    }
    paths = {}
    for name, (data, mode) in files.items():
        path = os.path.join(out_dir, name)
        _write(path, data, mode)
        paths[name] = path
    return paths


def next_steps(kit: AccessKit, out_dir: str) -> list[str]:
    """The commands that register the kit (an administrator runs them) and how to take it back."""
    slug = object_name(kit.user)
    d = out_dir.rstrip("/") or "."
    hours = kit.expiration_seconds / 3600
    return [
        f"kubectl apply -f {d}/csr.yaml",
        f"kubectl certificate approve {kit.csr_name}",
        f"kubectl get csr {kit.csr_name} -o jsonpath='{{.status.certificate}}' | base64 -d > {d}/{slug}.crt",
        f"kubectl apply -f {d}/rbac.yaml",
        f"# copy the cluster CA certificate to {d}/ca.crt and set the server in {d}/kubeconfig, then:",
        f"KUBECONFIG={d}/kubeconfig kubectl auth can-i --list -n {kit.namespace}",
        f"# the certificate is valid for {hours:g} h and cannot be revoked: to cut access sooner,",
        f"# kubectl delete rolebinding -n {kit.namespace} "
        + next(d["metadata"]["name"] for d in kit.documents if d["kind"] == "RoleBinding"),
    ]
