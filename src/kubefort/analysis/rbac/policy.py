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

:meth:`PolicyRule.coverage` answers the question the rule pack asks of one rule: does it grant a verb
on a resource for every object, only for the objects it names, or not at all, where it applies (a rule
that applies in one namespace grants nothing on cluster-scoped resources).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .resources import grantable_in_namespace

#: verbs of requests that never carry an object name (``create`` of an object, ``deletecollection``)
NAMELESS_VERBS = frozenset({"create", "deletecollection"})


class GrantCoverage(IntEnum):
    """How much of a (verb, resource) a rule grants: ordered, so ``max`` picks the broadest."""

    NONE = 0
    NAMED = 1  # only the objects listed in resourceNames
    EVERY = 2  # every object


def _strs(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple([v for v in value if isinstance(v, str)])


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

    def coverage(
        self,
        verb: str,
        group: str,
        resource: str,
        subresource: str | None = None,
        *,
        namespaced: bool = False,
        any_subresource: bool = False,
    ) -> GrantCoverage:
        """How much of ``verb`` on ``resource[/subresource]`` in ``group`` this rule grants.

        ``namespaced``: the rule applies in one namespace (a Role, or a ClusterRole bound by a
        RoleBinding), where cluster-scoped resources cannot be granted
        (:func:`~.resources.grantable_in_namespace`). ``any_subresource``: asks about every
        subresource of ``resource`` at once (``userextras/*``), met by ``*``, ``resource/...`` or
        ``*/...``. A rule limited by resourceNames covers NAMED, except for name-less requests
        (:data:`NAMELESS_VERBS` without a subresource), which it never matches.
        """
        if not (self.verb_matches(verb) and self.group_matches(group)):
            return GrantCoverage.NONE
        if namespaced and not grantable_in_namespace(verb, group, resource):
            return GrantCoverage.NONE
        if any_subresource:
            if not any(r == "*" or r.startswith((f"{resource}/", "*/")) for r in self.resources):
                return GrantCoverage.NONE
        elif not self.resource_matches(resource, subresource):
            return GrantCoverage.NONE
        if not self.resource_names:
            return GrantCoverage.EVERY
        if subresource is None and not any_subresource and verb in NAMELESS_VERBS:
            return GrantCoverage.NONE
        return GrantCoverage.NAMED

    def grants_url(self, verb: str, path: str) -> bool:
        """Whether this rule allows a non-resource request (e.g. get /metrics)."""
        if not self.verb_matches(verb):
            return False
        return any(
            u == "*" or u == path or (u.endswith("*") and path.startswith(u[:-1])) for u in self.non_resource_urls
        )


def rules_of(role_raw: Mapping[str, Any]) -> list[tuple[int, PolicyRule]]:
    """The rules of a Role or ClusterRole as written, each with its position in ``rules`` (entries
    that are not mappings are skipped but keep their position: findings point at ``rules[i]``)."""
    rules = role_raw.get("rules")
    if not isinstance(rules, list):
        return []
    return [(i, PolicyRule.from_raw(r)) for i, r in enumerate(rules) if isinstance(r, dict)]
