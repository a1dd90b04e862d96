"""The values of the attack graph: vertices, edges with the reasons behind them, the single changes
that remove a reason, and attack paths. Plain frozen values, so that reporters format them without
going back to the graph."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: vertex kinds
INTERNET = "internet"
TARGET = "target"
EXPOSURE = "exposure"  # a Service, an Ingress or a Gateway route that the internet reaches
WORKLOAD = "workload"
HUB = "hub"  # the unrestricted pod network: pods no NetworkPolicy isolates
NODE = "node"
SERVICE_ACCOUNT = "serviceaccount"
USER = "user"  # an identity an RBAC step gives (impersonation, a client certificate)
GROUP = "group"
GRANT = "grant"  # a role an RBAC step binds to the attacker (bind, escalate), in a scope
RBAC_LINK = "rbac-link"  # what one RBAC step gives several identities ("any ServiceAccount of namespace X")
IDENTITIES = (SERVICE_ACCOUNT, USER, GROUP)
SECRETS = "secrets"  # the Secrets of one namespace
SECRET = "secret"

#: target vertices
CLUSTER_ADMIN = "cluster-admin"
ALL_SECRETS = "all-secrets"
ALL_NODES = "all-nodes"
TARGETS = (CLUSTER_ADMIN, ALL_SECRETS, ALL_NODES)
INTERNET_ID = "internet"
HUB_ID = "pod-network"


@dataclass(frozen=True, slots=True)
class Vertex:
    """One vertex: ``id`` is unique (``workload:shop/Deployment/web``), ``label`` is for people."""

    id: str
    kind: str
    label: str


@dataclass(frozen=True, slots=True, order=True)
class Remedy:
    """One change to the input that removes a reason for an edge: ``action`` (``remove-binding``,
    ``drop-capability``...), the object it changes (``shop/Deployment/web``) and what exactly."""

    action: str
    target: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.action} {self.target}" + (f" ({self.detail})" if self.detail else "")

    def to_dict(self) -> dict[str, str]:
        return {"action": self.action, "object": self.target, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an edge exists: the explanation, the objects and rule IDs behind it, and the changes each of
    which removes this reason (an edge goes when every one of its reasons has gone)."""

    why: str
    objects: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    cuts: frozenset[Remedy] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "why": self.why,
            "objects": list(self.objects),
            "rules": list(self.rules),
            "cuts": [c.to_dict() for c in sorted(self.cuts)],
        }


@dataclass(frozen=True, slots=True)
class Edge:
    """A step an attacker can take from ``src`` to ``dst``; ``weight`` 0 for a step that only names
    what the previous one gave (a namespace's Secrets to one of them)."""

    src: str
    dst: str
    kind: str
    reasons: tuple[Reason, ...]
    weight: int = 1

    def cut_by(self, change: Remedy) -> bool:
        """Whether ``change`` alone removes the edge (it removes every reason)."""
        return all(change in r.cuts for r in self.reasons)

    @property
    def why(self) -> str:
        return "; ".join(r.why for r in self.reasons)

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(x for r in self.reasons for x in r.rules))

    @property
    def objects(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(x for r in self.reasons for x in r.objects))

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.src,
            "to": self.dst,
            "kind": self.kind,
            "why": self.why,
            "objects": list(self.objects),
            "rules": list(self.rules),
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class AttackPath:
    """A shortest path from ``source`` to ``target`` (vertex ids), step by step."""

    source: str
    target: str
    steps: tuple[Edge, ...]

    @property
    def length(self) -> int:
        return sum(e.weight for e in self.steps)

    @property
    def vertices(self) -> tuple[str, ...]:
        return (self.source, *(e.dst for e in self.steps))

    def to_dict(self, labels: dict[str, str] | None = None) -> dict[str, Any]:
        lab = labels or {}
        return {
            "from": self.source,
            "to": self.target,
            "length": self.length,
            "steps": [{**e.to_dict(), "to_label": lab.get(e.dst, e.dst)} for e in self.steps],
        }


@dataclass(frozen=True, slots=True)
class CutResult:
    """One single change and the paths (indexes into the list asked about) that it cuts."""

    change: Remedy
    cut: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.change.to_dict(), "paths_cut": len(self.cut), "paths": list(self.cut)}
