"""``kubefort rbac``: who can do what, what a subject can do, and how subjects escalate to cluster-admin.

Every command reads manifests like ``kubefort scan`` (-f, --helm, --kustomize) and answers with
Kubernetes RBAC authorizer semantics (see docs/rbac.md). ``-n`` is both the namespace of the query
and, as with kubectl, the namespace of manifests that name none.

Exit codes: 0 answered (``can``: allowed); 1 ``can``: denied; 2 usage error or unreadable input.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import click

from ..analysis.rbac.escalation import EscalationPath, escalation_paths
from ..analysis.rbac.index import Grant, PermissionRow, RbacIndex, as_subject
from ..analysis.rbac.resources import Request
from ..analysis.rbac.subjects import Subject
from ..api import ScanOptions, batch_gc, load_inputs
from ..errors import LoadError, UsageError
from ..model.inventory import Inventory
from .options import input_options

F = Callable[..., Any]


def _query_options(fn: F) -> F:
    opts = [
        click.option("--name", default=None, metavar="NAME", help="The object's name (for rules with resourceNames)."),
        click.option("--subresource", default=None, metavar="SUB", help="Subresource, e.g. exec, log, scale, token."),
        click.option(
            "--api-group",
            "api_group",
            default=None,
            metavar="GROUP",
            help="API group of the resource (default: from RESOURCE.GROUP, else the built-in resource's group).",
        ),
        click.option(
            "-A",
            "--all-namespaces",
            "all_namespaces",
            is_flag=True,
            help="Ask about a request without namespace (across all namespaces): only ClusterRoleBindings grant it.",
        ),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _output_options(*formats: str) -> Callable[[F], F]:
    def deco(fn: F) -> F:
        fn = click.option(
            "--no-builtin-roles",
            "no_builtin",
            is_flag=True,
            help="Do not assume the default roles of every cluster (cluster-admin, admin, edit, view...).",
        )(fn)
        return click.option(
            "-o",
            "--format",
            "fmt",
            type=click.Choice(list(formats)),
            default="table",
            show_default=True,
            help="Output format.",
        )(fn)

    return deco


def _load(
    filenames: Sequence[str],
    helm: Sequence[str],
    helm_values: Sequence[str],
    kustomize: Sequence[str],
    namespace: str,
    no_builtin: bool,
) -> tuple[RbacIndex, list[LoadError]]:
    if not filenames and not helm and not kustomize:
        raise UsageError("nothing to read: give -f FILE|DIR ('-' for stdin), --helm CHART or --kustomize DIR")
    opts = ScanOptions(
        paths=list(filenames),
        helm=list(helm),
        helm_values=list(helm_values),
        kustomize=list(kustomize),
        namespace=namespace,
    )
    with batch_gc():
        loaded = load_inputs(opts)
        index = RbacIndex.build(Inventory(loaded.objects), builtin_roles=False if no_builtin else None)
    return index, loaded.errors


def _subject(text: str, what: str = "SUBJECT") -> Subject:
    try:
        return as_subject(text)
    except UsageError as e:
        raise UsageError(f"{what}: {e}") from None


def _finish(index: RbacIndex, errors: list[LoadError], fmt: str, code: int = 0) -> None:
    if fmt == "table":
        for p in index.problems:
            click.echo(f"kubefort: warning: {p}", err=True)
    for e in errors:
        click.echo(f"kubefort: error: {e.diagnostics()}", err=True)
    sys.exit(2 if errors else code)


def _request_dict(req: Request) -> dict[str, Any]:
    if req.path is not None:
        return {"verb": req.verb, "nonResourceURL": req.path}
    return {
        "verb": req.verb,
        "apiGroup": req.group,
        "resource": req.resource,
        "subresource": req.subresource,
        "name": req.name,
        "namespace": req.namespace,
    }


def _via(g: Grant) -> dict[str, str]:
    return {"binding": str(g.binding), "role": str(g.role)}


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    rows = [list(headers)] + [list(r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


def _query_ns(namespace: str, all_namespaces: bool) -> str | None:
    return None if all_namespaces else namespace


@click.group("rbac")
def rbac_group() -> None:
    """RBAC analysis with the Kubernetes authorizer's semantics.

    \b
    SUBJECT is User:NAME, Group:NAME, ServiceAccount:NAMESPACE:NAME or system:serviceaccount:NS:NAME.
    RESOURCE is pods, pods/exec, deployments.apps, a short name (deploy), or a URL path (/metrics).
    Examples:
      kubefort rbac who-can create pods -n shop -f deploy/
      kubefort rbac can ServiceAccount:shop:ci create deployments.apps -n shop -f deploy/
      kubefort rbac permissions User:alice -f deploy/
      kubefort rbac paths --to cluster-admin -f deploy/ -o dot | dot -Tsvg > paths.svg
    """


@rbac_group.command("who-can")
@click.argument("verb")
@click.argument("resource")
@_query_options
@input_options
@_output_options("table", "json")
def who_can_cmd(
    verb: str,
    resource: str,
    name: str | None,
    subresource: str | None,
    api_group: str | None,
    all_namespaces: bool,
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    fmt: str,
    no_builtin: bool,
) -> None:
    """List the subjects allowed to VERB RESOURCE, with the bindings and roles that allow it.

    -n is the namespace of the request (and, as with kubectl, of manifests that name none); -A asks
    about a request without namespace. Members of group system:masters, allowed everything without
    a binding, are not listed.
    """
    index, errors = _load(filenames, helm, helm_values, kustomize, namespace, no_builtin)
    req = index.request(verb, resource, _query_ns(namespace, all_namespaces), name, subresource, api_group)
    grants = index.who_can_request(req)
    by_subject: dict[Subject, list[Grant]] = {}
    for g in grants:
        by_subject.setdefault(g.subject, []).append(g)
    if fmt == "json":
        _dump(
            {
                "request": _request_dict(req),
                "subjects": [
                    {"kind": s.kind, "name": s.name, "namespace": s.namespace, "via": [_via(g) for g in gs]}
                    for s, gs in by_subject.items()
                ],
                "warnings": [str(p) for p in index.problems],
            }
        )
    else:
        click.echo(f"Who can {req.describe()}:")
        if not by_subject:
            click.echo("  nobody (no binding grants it)")
        else:
            click.echo(
                _table(
                    ["KIND", "NAMESPACE", "NAME", "VIA"],
                    [[s.kind, s.namespace or "", s.name, ", ".join(g.via for g in gs)] for s, gs in by_subject.items()],
                )
            )
        click.echo("(members of group system:masters are always allowed)")
    _finish(index, errors, fmt)


@rbac_group.command("can")
@click.argument("subject")
@click.argument("verb")
@click.argument("resource")
@_query_options
@click.option(
    "--as-group",
    "as_groups",
    multiple=True,
    metavar="GROUP",
    help="A group the subject is in, besides its implicit ones (repeatable), like kubectl --as-group.",
)
@input_options
@_output_options("table", "json")
def can_cmd(
    subject: str,
    verb: str,
    resource: str,
    name: str | None,
    subresource: str | None,
    api_group: str | None,
    all_namespaces: bool,
    as_groups: tuple[str, ...],
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    fmt: str,
    no_builtin: bool,
) -> None:
    """Whether SUBJECT may VERB RESOURCE: prints yes or no with the reason.

    -n is the namespace of the request (and of manifests that name none); -A asks about a request
    without namespace. Exit code 0 when allowed, 1 when denied (like kubectl auth can-i), 2 on
    usage or input errors.
    """
    s = _subject(subject)
    index, errors = _load(filenames, helm, helm_values, kustomize, namespace, no_builtin)
    req = index.request(verb, resource, _query_ns(namespace, all_namespaces), name, subresource, api_group)
    d = index.decide(s, req, as_groups)
    if fmt == "json":
        _dump(
            {
                "allowed": d.allowed,
                "subject": str(s),
                "request": _request_dict(req),
                "via": [{**_via(g), "subject": str(g.subject)} for g in d.via],
                "reason": d.reason,
                "warnings": [str(p) for p in index.problems],
            }
        )
    else:
        click.echo("yes" if d.allowed else "no")
        click.echo(f"  {d.reason}")
    _finish(index, errors, fmt, 0 if d.allowed else 1)


def _row_dict(r: PermissionRow) -> dict[str, Any]:
    return {
        "namespace": r.namespace,
        "verbs": list(r.verbs),
        "apiGroups": list(r.api_groups),
        "resources": list(r.resources),
        "resourceNames": list(r.resource_names),
        "nonResourceURLs": list(r.non_resource_urls),
        "binding": str(r.binding) if r.binding else None,
        "role": str(r.role) if r.role else None,
        "matchedSubject": str(r.subject) if r.subject else None,
    }


def _cell(values: Sequence[str], empty: str = "") -> str:
    return ",".join('""' if v == "" else v for v in values) or empty


@rbac_group.command("permissions")
@click.argument("subject")
@click.option(
    "--as-group",
    "as_groups",
    multiple=True,
    metavar="GROUP",
    help="A group the subject is in, besides its implicit ones (repeatable).",
)
@input_options
@_output_options("table", "json")
def permissions_cmd(
    subject: str,
    as_groups: tuple[str, ...],
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    fmt: str,
    no_builtin: bool,
) -> None:
    """The effective permissions of SUBJECT: one row per rule, where it applies and what grants it.

    SCOPE * means cluster-wide (a ClusterRoleBinding); rows of RoleBindings omit what they cannot
    grant (cluster-scoped resources, non-resource URLs).
    """
    s = _subject(subject)
    index, errors = _load(filenames, helm, helm_values, kustomize, namespace, no_builtin)
    rows = index.permissions(s, as_groups)
    if fmt == "json":
        _dump(
            {
                "subject": str(s),
                "permissions": [_row_dict(r) for r in rows],
                "warnings": [str(p) for p in index.problems],
            }
        )
    else:
        click.echo(f"Permissions of {s}:")
        if not rows:
            click.echo("  none (no binding applies)")
        else:
            click.echo(
                _table(
                    ["SCOPE", "VERBS", "APIGROUPS", "RESOURCES", "NAMES", "VIA"],
                    [
                        [
                            r.namespace or "*",
                            _cell(r.verbs),
                            _cell(r.api_groups),
                            _cell(r.resources + r.non_resource_urls),
                            _cell(r.resource_names, "*"),
                            f"{r.binding} ({r.role})" + (f" as {r.subject}" if r.subject and r.subject != s else "")
                            if r.binding
                            else "group system:masters (built-in)",
                        ]
                        for r in rows
                    ],
                )
            )
    _finish(index, errors, fmt)


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _dot(paths: Sequence[EscalationPath]) -> str:
    lines = [
        "digraph escalation {",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    seen: set[tuple[str, str, str]] = set()
    targets = {p.target for p in paths}
    for t in sorted(targets):
        lines.append(f'  "{_dot_escape(t)}" [style=filled, fillcolor="#f4cccc"];')
    for p in paths:
        src = str(p.source)
        for st in p.steps:
            key = (src, st.to, st.action)
            if key not in seen:
                seen.add(key)
                label = st.action if len(st.action) <= 90 else st.action[:87] + "..."
                lines.append(f'  "{_dot_escape(src)}" -> "{_dot_escape(st.to)}" [label="{_dot_escape(label)}"];')
            src = st.to
    lines.append("}")
    return "\n".join(lines)


@rbac_group.command("paths")
@click.option(
    "--to",
    "to",
    default="cluster-admin",
    show_default=True,
    metavar="TARGET",
    help="cluster-admin, or a SUBJECT whose identity to reach.",
)
@click.option("--from", "from_", default=None, metavar="SUBJECT", help="Only the path of this subject.")
@input_options
@_output_options("table", "json", "dot")
def paths_cmd(
    to: str,
    from_: str | None,
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    fmt: str,
    no_builtin: bool,
) -> None:
    """Privilege-escalation paths: the shortest way each subject can become TARGET, shortest first.

    Each step names the action and the bindings that allow it (see docs/rbac.md for the steps modelled).
    """
    if to != "cluster-admin":
        to = str(_subject(to, "--to"))
    src = _subject(from_, "--from") if from_ else None
    index, errors = _load(filenames, helm, helm_values, kustomize, namespace, no_builtin)
    with batch_gc():
        paths = escalation_paths(index, to, src)
    if fmt == "json":
        _dump({"paths": [p.to_dict() for p in paths], "warnings": [str(p) for p in index.problems]})
    elif fmt == "dot":
        click.echo(_dot(paths))
    else:
        if not paths:
            who = str(src) if src else "no subject"
            click.echo(f"{who} can become {to}: no escalation path found" if src else f"No subject can become {to}.")
        for p in paths:
            n = len(p.steps)
            click.echo(f"{p.source} -> {p.target} ({n} step{'s' if n != 1 else ''})")
            for i, st in enumerate(p.steps, 1):
                click.echo(f"  {i}. {st.action}")
                if st.via:
                    click.echo(f"     via {st.via}")
        if paths and not src:
            click.echo(f"\n{len(paths)} subject{'s' if len(paths) != 1 else ''} can become {to}.")
    _finish(index, errors, fmt)
