"""Config files the API server points at (``--authentication-config``, ``--authorization-config``,
``--audit-policy-file``, ``--encryption-provider-config``, ``--admission-control-config-file``): found
among the objects of the input, and read with the API server's semantics.

Admission configuration (``k8s.io/apiserver/pkg/admission/config.go``): the first ``plugins[]`` entry
named after a plugin configures it; a nested ``configuration`` wins over a ``path``, and a relative
``path`` is relative to the AdmissionConfiguration's directory. PodSecurity's configuration is a
``PodSecurityConfiguration`` (``pod-security.admission.config.k8s.io``): ``defaults`` (``enforce``
defaulting to privileged) and ``exemptions`` (usernames, runtimeClasses, namespaces); without one the
plugin runs with those defaults.

Audit policy (``audit.k8s.io/v1`` Policy, ``staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go``):
the first rule that matches a request decides its level. A rule matches when each of its non-empty
lists matches: ``users``, ``userGroups``, ``verbs``, ``namespaces``, ``resources`` (group, resources,
resourceNames) and ``nonResourceURLs``; a rule with ``nonResourceURLs`` only never matches a resource
request, and a rule with neither matches everything. In ``resources``: ``pods`` matches pods but not
``pods/exec``; ``pods/*`` matches every subresource of pods; ``*/scale`` every scale subresource;
``*`` everything. No matching rule means level None.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...model.inventory import Inventory
from ...model.objects import K8sObject, Path

APISERVER_CONFIG_GROUP = "apiserver.config.k8s.io/"
AUDIT_GROUP = "audit.k8s.io/"

LEVELS = ("None", "Metadata", "Request", "RequestResponse")


def config_object(inventory: Inventory, kind: str, group_prefix: str, node_path: str | None) -> K8sObject | None:
    """The object of ``kind`` read from ``node_path`` (the flag's value): the one whose file is that
    path (under any ``--root``), else the only such object of the input, else one with the same file
    name. None when the input has none."""
    cands = [o for o in inventory.of_kind(kind) if o.api_version.startswith(group_prefix)]
    if not cands:
        return None
    if node_path:
        norm = posixpath.normpath(node_path)
        for o in cands:
            f = o.source.file.replace("\\", "/")
            if f == norm or f.endswith(norm if norm.startswith("/") else "/" + norm):
                return o
    if len(cands) == 1:
        return cands[0]
    if node_path:
        base = posixpath.basename(node_path)
        for o in cands:
            if posixpath.basename(o.source.file) == base:
                return o
    return None


# -- admission configuration ----------------------------------------------------------------------------

ADMISSION_CONFIG_GROUPS = (APISERVER_CONFIG_GROUP, "apiserver.k8s.io/")  # v1, and the old v1alpha1 group
PSA_CONFIG_GROUP = "pod-security.admission.config.k8s.io/"
POD_SECURITY = "PodSecurity"


def is_admission_config(obj: K8sObject) -> bool:
    return obj.kind == "AdmissionConfiguration" and obj.api_version.startswith(ADMISSION_CONFIG_GROUPS)


def is_pod_security_config(obj: K8sObject) -> bool:
    return obj.kind == "PodSecurityConfiguration" and obj.api_version.startswith(PSA_CONFIG_GROUP)


def admission_config(inventory: Inventory, node_path: str | None) -> K8sObject | None:
    """The AdmissionConfiguration read from ``node_path`` (see :func:`config_object`)."""
    for group in ADMISSION_CONFIG_GROUPS:
        found = config_object(inventory, "AdmissionConfiguration", group, node_path)
        if found is not None:
            return found
    return None


def pod_security_settings(cfg: K8sObject, inventory: Inventory) -> tuple[K8sObject, Path, Mapping[str, Any]] | str:
    """The PodSecurityConfiguration an AdmissionConfiguration gives the plugin: (the object holding it,
    the path to it there, its content), or the file its ``path`` names when that file is not in the
    input. Without a PodSecurity entry (or one with neither), the content is empty: the defaults."""
    plugins = cfg.get("plugins")
    for i, entry in enumerate(plugins if isinstance(plugins, list) else []):
        if not isinstance(entry, dict) or entry.get("name") != POD_SECURITY:
            continue
        nested = entry.get("configuration")
        if isinstance(nested, dict):
            return cfg, ("plugins", i, "configuration"), nested
        named = entry.get("path")
        if isinstance(named, str) and named:
            full = named if named.startswith("/") else posixpath.join(posixpath.dirname(cfg.source.file), named)
            found = config_object(inventory, "PodSecurityConfiguration", PSA_CONFIG_GROUP, full)
            return (found, (), found.raw) if found is not None else named
        return cfg, ("plugins", i), {}
    return cfg, ("plugins",), {}


def default_enforce(settings: Mapping[str, Any]) -> str:
    """The enforce level of a PodSecurityConfiguration's defaults (privileged when unset)."""
    defaults = settings.get("defaults")
    level = defaults.get("enforce") if isinstance(defaults, dict) else None
    return level if isinstance(level, str) and level else "privileged"


def is_audit_policy(obj: K8sObject) -> bool:
    return obj.kind == "Policy" and obj.api_version.startswith(AUDIT_GROUP)


# -- audit policy ---------------------------------------------------------------------------------------


def _strs(v: Any) -> list[str]:
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []


@dataclass(frozen=True, slots=True)
class AuditRule:
    index: int
    level: str
    conditional: bool  # restricted to some users, groups, verbs or namespaces
    raw: Mapping[str, Any]

    def matches_resource(self, group: str, resource: str, sub: str | None) -> bool:
        res = self.raw.get("resources")
        non_res = _strs(self.raw.get("nonResourceURLs"))
        if not isinstance(res, list) or not res:
            return not non_res  # no resources: every request, unless it is for non-resource URLs only
        for gr in res:
            if not isinstance(gr, dict):
                continue
            g = gr.get("group")
            if (g or "") != group and g != "*":
                continue
            if _strs(gr.get("resourceNames")):
                continue  # only named objects: not an arbitrary request
            names = _strs(gr.get("resources"))
            if not names:
                return True
            for n in names:
                if n == "*":
                    return True
                if sub is None and n == resource:
                    return True
                if sub is not None and (n == f"{resource}/{sub}" or n == f"{resource}/*" or n == f"*/{sub}"):
                    return True
        return False


def audit_rules(policy: Mapping[str, Any]) -> list[AuditRule]:
    out: list[AuditRule] = []
    rules = policy.get("rules")
    if not isinstance(rules, list):
        return out
    for i, r in enumerate(rules):
        if not isinstance(r, dict):
            continue
        level = r.get("level") if r.get("level") in LEVELS else "None"
        cond = any(_strs(r.get(k)) for k in ("users", "userGroups", "verbs", "namespaces"))
        out.append(AuditRule(i, str(level), cond, r))
    return out


@dataclass(frozen=True, slots=True)
class AuditCoverage:
    level: str  # the level an arbitrary request gets (first unconditional matching rule), None if none
    rule: int | None  # index of that rule
    louder: tuple[tuple[int, str], ...]  # reachable rules (before it, or it) logging at Request or more


def coverage(rules: list[AuditRule], group: str, resource: str, sub: str | None = None) -> AuditCoverage:
    louder: list[tuple[int, str]] = []
    for r in rules:
        if not r.matches_resource(group, resource, sub):
            continue
        if r.level in ("Request", "RequestResponse"):
            louder.append((r.index, r.level))
        if not r.conditional:
            return AuditCoverage(r.level, r.index, tuple(louder))
    return AuditCoverage("None", None, tuple(louder))


def at_least_metadata(level: str) -> bool:
    return level in ("Metadata", "Request", "RequestResponse")


def rule_path(index: int | None) -> Path:
    return ("rules", index) if index is not None else ("rules",)
