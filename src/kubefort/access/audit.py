"""``kubefort access audit``: who can reach the cluster as a person, and how to take it back.

The findings come from the rule engine (the rules of :data:`kubefort.rules.rbac.ACCESS_IDS`, through
``api.audit_access``); this module lists what they are about: the non-``system:`` User and Group
subjects of the bindings with what each binding gives them, the client certificate requests, and
the revocation steps. A certificate cannot be revoked: what can be removed is the bindings of its
name and groups (the certificate then authenticates a name with no rights) or, for ``system:masters``
(authorized before RBAC), only the cluster CA itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from ..model.inventory import Inventory
from ..model.objects import K8sObject

MASTERS = "system:masters"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"


@dataclass(frozen=True, slots=True)
class PersonBinding:
    """One binding naming a person: the binding, the role it gives, where, and whether other subjects share it."""

    binding: str  # "RoleBinding shop/jane-view"
    role: str  # "Role jane-view"
    namespace: str | None  # None: every namespace (ClusterRoleBinding)
    shared: bool  # the binding has other subjects too
    revoke: str  # the command that takes this binding away from the person


@dataclass(frozen=True, slots=True)
class Person:
    """A User or Group subject that is not one of Kubernetes' own (``system:`` names)."""

    kind: str
    name: str
    bindings: tuple[PersonBinding, ...]


@dataclass(frozen=True, slots=True)
class CertificateRequest:
    """A CertificateSigningRequest: who it names (CN, O from ``spec.request``), for which signer, how long."""

    name: str
    signer: str
    user: str | None  # CN; None when the request cannot be parsed
    groups: tuple[str, ...]
    expiration_seconds: int | None
    approved: bool
    issued: bool


def _binding_label(obj: K8sObject) -> str:
    return f"{obj.kind} {obj.namespace}/{obj.name}" if obj.namespace else f"{obj.kind} {obj.name}"


def _revoke(obj: K8sObject, shared: bool) -> str:
    where = f" -n {obj.namespace}" if obj.namespace else ""
    if shared:
        return f"kubectl edit {obj.kind.lower()}{where} {obj.name}  # remove the subject (others share the binding)"
    return f"kubectl delete {obj.kind.lower()}{where} {obj.name}"


def people(inventory: Inventory) -> list[Person]:
    """Every User and Group subject of the bindings whose name does not start with ``system:``, plus the
    ``system:masters`` group when a binding names it, sorted by kind then name."""
    found: dict[tuple[str, str], list[PersonBinding]] = {}
    for b in inventory.of_kind("RoleBinding", "ClusterRoleBinding"):
        subs = b.get("subjects")
        if not isinstance(subs, list):
            continue
        ref = b.get("roleRef")
        role = f"{ref.get('kind')} {ref.get('name')}" if isinstance(ref, dict) else "?"
        entries = [s for s in subs if isinstance(s, dict)]
        for s in entries:
            kind, name = s.get("kind"), s.get("name")
            if kind not in ("User", "Group") or not isinstance(name, str) or not name:
                continue
            if name.startswith("system:") and name != MASTERS:
                continue
            shared = len(entries) > 1
            revoke = (
                "nothing to delete: system:masters is authorized before RBAC; only a new cluster CA revokes its certificates"
                if name == MASTERS
                else _revoke(b, shared)
            )
            pb = PersonBinding(_binding_label(b), role, b.namespace, shared, revoke)
            found.setdefault((str(kind), name), []).append(pb)
    return [
        Person(kind, name, tuple(sorted(bs, key=lambda x: x.binding))) for (kind, name), bs in sorted(found.items())
    ]


def _subject(obj: K8sObject) -> tuple[str | None, tuple[str, ...]]:
    req = obj.get("spec", "request")
    if not isinstance(req, str):
        return None, ()
    try:
        csr = x509.load_pem_x509_csr(base64.b64decode(req, validate=True))
    except (ValueError, binascii.Error):
        return None, ()
    cn = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    groups = tuple(str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return (cn[0] if cn else ""), groups


def certificate_requests(inventory: Inventory) -> list[CertificateRequest]:
    """The CertificateSigningRequests of the inventory, sorted by name."""
    out = []
    for obj in inventory.of_kind("CertificateSigningRequest"):
        user, groups = _subject(obj)
        conditions = obj.get("status", "conditions")
        approved = isinstance(conditions, list) and any(
            isinstance(c, dict) and c.get("type") == "Approved" for c in conditions
        )
        seconds = obj.get("spec", "expirationSeconds")
        out.append(
            CertificateRequest(
                name=obj.name,
                signer=str(obj.get("spec", "signerName") or ""),
                user=user,
                groups=groups,
                expiration_seconds=seconds if isinstance(seconds, int) and not isinstance(seconds, bool) else None,
                approved=approved,
                issued=bool(obj.get("status", "certificate")),
            )
        )
    return sorted(out, key=lambda c: c.name)


def guidance(found: Iterable[Person], requests: Iterable[CertificateRequest]) -> list[str]:
    """What to do when a person's certificate must be revoked."""
    out = [
        "Kubernetes cannot revoke a client certificate: it authenticates until it expires.",
        "To cut a person off now, remove every binding of their user name and of each group their "
        "certificate carries (the commands above); the certificate then authenticates a name with no rights.",
        "A group binding cannot be taken from one member: move the others to per-user RoleBindings "
        "(kubefort access grant) before deleting it.",
    ]
    if any(p.kind == "Group" and p.name == MASTERS for p in found) or any(MASTERS in r.groups for r in requests):
        out.append(
            "system:masters is authorized before RBAC: no binding can be removed to stop it. Only a new "
            "cluster CA (and new certificates for everything else) revokes a system:masters certificate."
        )
    out.append("Issue short-lived certificates (expirationSeconds: hours) so that waiting them out is an option.")
    return out
