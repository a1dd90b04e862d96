"""Subjects (users, groups, service accounts) and how bindings apply to them.

Kubernetes ``pkg/registry/rbac/validation`` (``appliesToUser``): a User subject matches the user
name; a Group subject matches any of the user's groups; a ServiceAccount subject matches the user
``system:serviceaccount:<ns>:<name>``, its namespace defaulting to the binding's namespace.
Service accounts are implicitly in ``system:serviceaccounts``, ``system:serviceaccounts:<ns>`` and
``system:authenticated``; every authenticated user is in ``system:authenticated``; the anonymous
user ``system:anonymous`` is in ``system:unauthenticated``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SA_PREFIX = "system:serviceaccount:"
NODE_PREFIX = "system:node:"


def names_service_account_or_node(raw: Mapping[str, Any]) -> bool:
    """Whether a binding's subject entry (as written) names a ServiceAccount or a node: what a
    compromised pod or node holds. ServiceAccounts, users ``system:serviceaccount:...`` and
    ``system:node:...``, groups ``system:nodes``, ``system:serviceaccounts[:<ns>]``."""
    kind, name = raw.get("kind"), raw.get("name")
    if not isinstance(name, str):
        return False
    if kind == "ServiceAccount":
        return True
    if kind == "User":
        return name.startswith((SA_PREFIX, NODE_PREFIX))
    if kind == "Group":
        return name in ("system:nodes", "system:serviceaccounts") or name.startswith("system:serviceaccounts:")
    return False


@dataclass(frozen=True, slots=True, order=True)
class Subject:
    """A principal: kind is User, Group or ServiceAccount (namespace only for service accounts)."""

    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def parse(cls, text: str) -> Subject:
        """``User:NAME``, ``Group:NAME``, ``ServiceAccount:NS:NAME`` or ``system:serviceaccount:NS:NAME``."""
        t = text.strip()
        if t.startswith(SA_PREFIX):
            rest = t[len(SA_PREFIX) :]
            ns, sep, name = rest.partition(":")
            if not sep or not ns or not name:
                raise ValueError(
                    f"bad service account user name {text!r}: expected system:serviceaccount:NAMESPACE:NAME"
                )
            return cls("ServiceAccount", name, ns)
        kind, sep, rest = t.partition(":")
        if not sep or not rest:
            raise ValueError(f"bad subject {text!r}: write User:NAME, Group:NAME or ServiceAccount:NAMESPACE:NAME")
        k = {"user": "User", "group": "Group", "serviceaccount": "ServiceAccount", "sa": "ServiceAccount"}.get(
            kind.lower()
        )
        if k is None:
            raise ValueError(f"bad subject kind {kind!r}: use User, Group or ServiceAccount")
        if k == "ServiceAccount":
            ns, sep2, name = rest.partition(":")
            if not sep2 or not ns or not name:
                raise ValueError(f"bad subject {text!r}: write ServiceAccount:NAMESPACE:NAME")
            return cls(k, name, ns)
        return cls(k, rest)

    @classmethod
    def from_binding_subject(cls, raw: Mapping[str, Any], binding_namespace: str | None) -> Subject | None:
        kind, name = raw.get("kind"), raw.get("name")
        if not isinstance(kind, str) or not isinstance(name, str) or not name:
            return None
        if kind == "ServiceAccount":
            ns = raw.get("namespace") or binding_namespace
            return cls("ServiceAccount", name, ns if isinstance(ns, str) else None)
        if kind in ("User", "Group"):
            return cls(kind, name)
        return None

    @property
    def username(self) -> str | None:
        if self.kind == "User":
            return self.name
        if self.kind == "ServiceAccount":
            return f"{SA_PREFIX}{self.namespace}:{self.name}"
        return None

    def groups(self) -> tuple[str, ...]:
        """The groups a request by this subject carries (implicit groups included)."""
        if self.kind == "Group":
            return (self.name,)
        if self.kind == "ServiceAccount":
            return ("system:serviceaccounts", f"system:serviceaccounts:{self.namespace}", "system:authenticated")
        if self.name == "system:anonymous":
            return ("system:unauthenticated",)
        return ("system:authenticated",)

    def matched_by(self, binding_subject: Subject) -> bool:
        """Whether a binding's subject applies to a request made as this subject."""
        if binding_subject.kind == "Group":
            return binding_subject.name in self.groups()
        if binding_subject.kind == "User":
            return self.username == binding_subject.name
        return self.kind == "ServiceAccount" and (self.namespace, self.name) == (
            binding_subject.namespace,
            binding_subject.name,
        )

    def __str__(self) -> str:
        if self.kind == "ServiceAccount":
            return f"ServiceAccount:{self.namespace}:{self.name}"
        return f"{self.kind}:{self.name}"
