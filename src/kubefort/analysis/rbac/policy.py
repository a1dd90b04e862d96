"""One PolicyRule, matched exactly as the Kubernetes RBAC authorizer matches it.

Kubernetes ``pkg/apis/rbac/v1/evaluation_helpers.go``:

- verbs: the verb, or ``*``;
- apiGroups: the group (``""`` is core), or ``*``;
- resources: ``*``; the resource, or ``resource/subresource`` when a subresource is requested; or
  ``*/subresource``. There is no ``pods/*``: a rule naming ``pods`` does not grant ``pods/exec``.
- resourceNames: empty means every name; otherwise the request must name one of them. Requests
  without a name (``list``, ``watch``, ``create``, ``deletecollection``) never match a rule with
  resourceNames, except list/watch narrowed to one name by a ``metadata.name`` field selector.
- nonResourceURLs: ``*``, the exact path, or a prefix ending in ``*`` (``/healthz/*``); only
  ClusterRoles bound by ClusterRoleBindings grant them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


@dataclass(frozen=True, slots=True)
class PolicyRule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...]
    non_resource_urls: tuple[str, ...]

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any]) -> PolicyRule:
        return cls(
            verbs=_strs(raw.get("verbs")),
            api_groups=_strs(raw.get("apiGroups")),
            resources=_strs(raw.get("resources")),
            resource_names=_strs(raw.get("resourceNames")),
            non_resource_urls=_strs(raw.get("nonResourceURLs")),
        )

    def verb_matches(self, verb: str) -> bool:
        return "*" in self.verbs or verb in self.verbs

    def group_matches(self, group: str) -> bool:
        return "*" in self.api_groups or group in self.api_groups

    def resource_matches(self, resource: str, subresource: str | None = None) -> bool:
        combined = f"{resource}/{subresource}" if subresource else resource
        for r in self.resources:
            if r == "*" or r == combined:
                return True
            if subresource and r == f"*/{subresource}":
                return True
        return False

    def name_matches(self, name: str | None) -> bool:
        if not self.resource_names:
            return True
        return name is not None and name in self.resource_names

    def grants(
        self, verb: str, group: str, resource: str, subresource: str | None = None, name: str | None = None
    ) -> bool:
        """Whether this rule allows the resource request (verb, group, resource[/subresource], name)."""
        return (
            self.verb_matches(verb)
            and self.group_matches(group)
            and self.resource_matches(resource, subresource)
            and self.name_matches(name)
        )

    def grants_url(self, verb: str, path: str) -> bool:
        """Whether this rule allows a non-resource request (e.g. get /metrics)."""
        if not self.verb_matches(verb):
            return False
        return any(
            u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in self.non_resource_urls
        )


def rules_of(role_raw: Mapping[str, Any]) -> list[PolicyRule]:
    rules = role_raw.get("rules")
    if not isinstance(rules, list):
        return []
    return [PolicyRule.from_raw(r) for r in rules if isinstance(r, dict)]
