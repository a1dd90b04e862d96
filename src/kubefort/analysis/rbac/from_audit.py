"""The smallest RBAC that allows what an API server audit log records for one subject (anchor: audit2rbac),
and how it compares with what the subject is granted now.

- **Input**: JSON lines of ``audit.k8s.io/v1`` ``Event`` objects (what ``--audit-log-path`` writes;
  an ``EventList`` line is read item by item). A request appears once per stage; each ``auditID`` counts
  once. The subject of a request is ``impersonatedUser`` when the request was impersonated (what the
  authorizer judged), else ``user``.
- **Attributes**: ``verb`` (the RBAC verb the API server computed), ``objectRef`` ``apiGroup``,
  ``resource``, ``subresource``, ``namespace``; a request without ``objectRef`` is a non-resource
  request on the path of ``requestURI`` (query string dropped). Denied requests (403) are kept: the
  subject needed them.
- **Roles**: requests in a namespace go into a Role (and RoleBinding) of that namespace; requests
  without a namespace (cluster-scoped resources, lists across all namespaces, non-resource URLs) into
  one ClusterRole (and ClusterRoleBinding). No ``resourceNames`` (list, watch and create cannot be
  limited by name, and names seen once are rarely the names of tomorrow). Rules are grouped into the
  fewest: one rule per API group and verb set, listing the resources that share exactly those verbs.
- **Diff**: the subject's current grants (``RbacIndex.permissions``) expanded to (verb, group,
  resource) entries where written out; entries no recorded request used are *never used* (a
  wildcard entry is listed as written). Recorded requests the current grants do not allow are
  listed too (``RbacIndex.decide``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...model.inventory import Inventory
from .index import PermissionRow, RbacIndex
from .resources import Request
from .subjects import Subject

RBAC_GROUP = "rbac.authorization.k8s.io"


class AuditLogError(ValueError):
    """A line of the audit log that is not an audit Event; the message names the line."""


@dataclass(frozen=True, slots=True)
class AuditedRequest:
    """One request of the log: who made it and the attributes RBAC judged."""

    username: str
    verb: str
    group: str
    resource: str  # with "/subresource" when there is one; "" for a non-resource request
    namespace: str | None
    path: str | None  # non-resource requests
    code: int | None  # responseStatus.code

    def request(self) -> Request:
        if self.path is not None:
            return Request(verb=self.verb, path=self.path)
        res, _, sub = self.resource.partition("/")
        return Request(
            verb=self.verb, group=self.group, resource=res, subresource=sub or None, namespace=self.namespace
        )

    def describe(self) -> str:
        if self.path is not None:
            return f"{self.verb} {self.path}"
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {res}" + (f" in {self.namespace}" if self.namespace else " (cluster-wide)")


_STAGE_RANK = {"ResponseComplete": 0, "Panic": 1, "ResponseStarted": 2, "RequestReceived": 3}


def _events(text: str, origin: str) -> Iterable[tuple[int, Mapping[str, Any]]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise AuditLogError(f"{origin}:{n}: not JSON: {e.msg}") from None
        if not isinstance(doc, dict):
            raise AuditLogError(f"{origin}:{n}: not an audit Event")
        if doc.get("kind") == "EventList":
            for item in doc.get("items") or ():
                if isinstance(item, dict):
                    yield n, item
            continue
        if doc.get("kind") not in (None, "Event") or "verb" not in doc:
            raise AuditLogError(f"{origin}:{n}: not an audit.k8s.io Event (kind {doc.get('kind')!r})")
        yield n, doc


def parse_audit_log(text: str, origin: str = "audit.log") -> list[AuditedRequest]:
    """Every request of an audit log, once per ``auditID`` (the most complete stage). Raises AuditLogError."""
    best: dict[str, tuple[int, AuditedRequest]] = {}
    order: list[str] = []
    for n, ev in _events(text, origin):
        user = ev.get("impersonatedUser") or ev.get("user") or {}
        username = user.get("username") if isinstance(user, dict) else None
        verb = ev.get("verb")
        if not isinstance(username, str) or not isinstance(verb, str) or not verb:
            raise AuditLogError(f"{origin}:{n}: an Event without user.username or verb")
        ref = ev.get("objectRef")
        status = ev.get("responseStatus")
        code = status.get("code") if isinstance(status, dict) else None
        if isinstance(ref, dict) and ref.get("resource"):
            sub = ref.get("subresource")
            resource = str(ref["resource"]) + (f"/{sub}" if sub else "")
            ns = ref.get("namespace") or None
            req = AuditedRequest(username, verb, str(ref.get("apiGroup") or ""), resource, ns, None, code)
        else:
            uri = ev.get("requestURI")
            if not isinstance(uri, str) or not uri:
                raise AuditLogError(f"{origin}:{n}: an Event with neither objectRef nor requestURI")
            req = AuditedRequest(username, verb, "", "", None, uri.split("?", 1)[0], code)
        audit_id = str(ev.get("auditID") or f"line-{n}")
        rank = _STAGE_RANK.get(str(ev.get("stage")), 4)
        if audit_id not in best:
            order.append(audit_id)
        if audit_id not in best or rank < best[audit_id][0]:
            best[audit_id] = (rank, req)
    return [best[a][1] for a in order]


def of_subject(requests: Iterable[AuditedRequest], subject: Subject) -> list[AuditedRequest]:
    name = subject.username
    return [r for r in requests if r.username == name]


@dataclass(frozen=True, slots=True)
class Needed:
    """The requests a role must allow, and those left out of it and why."""

    requests: tuple[AuditedRequest, ...]
    denied: tuple[AuditedRequest, ...]  # answered 403: the subject did without them (unless included)
    by_default: tuple[AuditedRequest, ...]  # every cluster allows them (discovery, /version, self reviews)


def needed(requests: Sequence[AuditedRequest], subject: Subject, *, include_denied: bool = False) -> Needed:
    """Split the subject's requests: what a role must allow; the denied ones (kept only with
    ``include_denied``: granting what was refused widens access, e.g. a Secret the app tried to read);
    and what the bootstrap bindings of every cluster already allow (``RbacIndex.build(defaults=True)``)."""
    defaults = RbacIndex.build(Inventory([]), defaults=True)
    keep, denied, default = [], [], []
    for r in requests:
        if defaults.decide(subject, r.request()).allowed:
            default.append(r)
        elif r.code == 403 and not include_denied:
            denied.append(r)
        else:
            keep.append(r)
    return Needed(tuple(keep), tuple(denied), tuple(default))


@dataclass(frozen=True, slots=True)
class MinimalRole:
    """The rules one Role (``namespace``) or the ClusterRole (``namespace`` None) needs."""

    namespace: str | None
    rules: tuple[dict[str, Any], ...]


def minimal_roles(requests: Sequence[AuditedRequest]) -> list[MinimalRole]:
    """The fewest rules allowing exactly the recorded (verb, group, resource) per namespace, and the
    cluster-wide and non-resource requests in one ClusterRole (listed first)."""
    scopes: dict[str | None, dict[tuple[str, str], set[str]]] = defaultdict(lambda: defaultdict(set))
    urls: dict[str, set[str]] = defaultdict(set)
    for r in requests:
        if r.path is not None:
            urls[r.path].add(r.verb)
        else:
            scopes[r.namespace][(r.group, r.resource)].add(r.verb)
    if urls:
        scopes.setdefault(None, defaultdict(set))
    out = []
    for ns in sorted(scopes, key=lambda s: (s is not None, s or "")):
        grouped: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
        for (group, resource), verbs in scopes[ns].items():
            grouped[(group, tuple(sorted(verbs)))].append(resource)
        rules: list[dict[str, Any]] = [
            {"apiGroups": [group], "resources": sorted(res), "verbs": list(verbs)}
            for (group, verbs), res in sorted(grouped.items(), key=lambda kv: (kv[0][0], sorted(kv[1]), kv[0][1]))
        ]
        if ns is None:
            by_verbs: dict[tuple[str, ...], list[str]] = defaultdict(list)
            for path, verbs in urls.items():
                by_verbs[tuple(sorted(verbs))].append(path)
            rules += [
                {"nonResourceURLs": sorted(paths), "verbs": list(verbs)}
                for verbs, paths in sorted(by_verbs.items(), key=lambda kv: sorted(kv[1]))
            ]
        out.append(MinimalRole(ns, tuple(rules)))
    return out


def _subject_entry(subject: Subject) -> dict[str, Any]:
    if subject.kind == "ServiceAccount":
        return {"kind": "ServiceAccount", "name": subject.name, "namespace": subject.namespace}
    return {"apiGroup": RBAC_GROUP, "kind": subject.kind, "name": subject.name}


def manifests(roles: Sequence[MinimalRole], subject: Subject, name: str) -> list[dict[str, Any]]:
    """Role + RoleBinding per namespace, ClusterRole + ClusterRoleBinding for the cluster-wide part."""
    out: list[dict[str, Any]] = []
    labels = {"app.kubernetes.io/managed-by": "kubefort"}
    for role in roles:
        kind = "Role" if role.namespace is not None else "ClusterRole"
        md: dict[str, Any] = {"name": name, "labels": labels}
        if role.namespace is not None:
            md = {"name": name, "namespace": role.namespace, "labels": labels}
        out.append({"apiVersion": f"{RBAC_GROUP}/v1", "kind": kind, "metadata": dict(md), "rules": list(role.rules)})
        out.append(
            {
                "apiVersion": f"{RBAC_GROUP}/v1",
                "kind": f"{kind}Binding",
                "metadata": dict(md),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": kind, "name": name},
                "subjects": [_subject_entry(subject)],
            }
        )
    return out


# ----------------------------------------------------------------------------------- diff


@dataclass(frozen=True, slots=True)
class Unused:
    """Entries of one current grant that no recorded request used."""

    binding: str  # "RoleBinding shop/ci" ("system:masters" for the built-in row)
    role: str
    namespace: str | None
    entries: tuple[str, ...]  # "delete deployments.apps", "* *" (a wildcard as written)


def _match(pattern: str, value: str) -> bool:
    return pattern == "*" or pattern == value


def _used(row: PermissionRow, verb: str, group: str, resource: str, requests: Sequence[AuditedRequest]) -> bool:
    for r in requests:
        if r.path is not None:
            continue
        if row.namespace is not None and r.namespace != row.namespace:
            continue
        res = r.resource
        if not _match(verb, r.verb) or not _match(group, r.group):
            continue
        if resource == "*" or resource == res:
            return True
        if resource.startswith("*/") and "/" in res and res.split("/", 1)[1] == resource[2:]:
            return True
    return False


def unused_grants(index: RbacIndex, subject: Subject, requests: Sequence[AuditedRequest]) -> list[Unused]:
    """Per current grant of ``subject``, the (verb, resource) entries no request of ``requests`` used."""
    out = []
    for row in index.permissions(subject):
        if row.binding is not None and row.binding.name.startswith("system:"):
            continue  # Kubernetes' own bindings (discovery, basic-user...): every subject has them
        entries = []
        for group in row.api_groups:
            for resource in row.resources:
                for verb in row.verbs:
                    if not _used(row, verb, group, resource, requests):
                        res = f"{resource}.{group}" if group not in ("", "*") else resource
                        if group == "*" and resource != "*":
                            res = f"{resource}.*"
                        entries.append(f"{verb} {res}")
        for url in row.non_resource_urls:
            for verb in row.verbs:
                if not any(r.path is not None and _match(verb, r.verb) and _url_match(url, r.path) for r in requests):
                    entries.append(f"{verb} {url}")
        if entries:
            binding = f"{row.binding}" if row.binding is not None else "system:masters"
            role = f"{row.role}" if row.role is not None else "(authorized before RBAC)"
            out.append(Unused(binding, role, row.namespace, tuple(entries)))
    return out


def _url_match(pattern: str, path: str) -> bool:
    return pattern == "*" or pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1]))


def denied_now(index: RbacIndex, subject: Subject, requests: Sequence[AuditedRequest]) -> list[AuditedRequest]:
    """The distinct recorded requests the current grants do not allow."""
    seen: dict[str, AuditedRequest] = {}
    for r in requests:
        if r.describe() in seen:
            continue
        if not index.decide(subject, r.request()).allowed:
            seen[r.describe()] = r
    return [seen[k] for k in sorted(seen)]
