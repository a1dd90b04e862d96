"""``kubefort rbac``: who can do what, what a subject can do, and how subjects escalate to cluster-admin.

Every command reads manifests like ``kubefort scan`` (-f, --helm, --kustomize), or a live cluster
(``--cluster``) or a snapshot of one (``--snapshot FILE``), and answers with Kubernetes RBAC authorizer
semantics (see docs/rbac.md). ``-n`` is both the namespace of the query and, as with kubectl, the
namespace of manifests that name none; a cluster is always read whole.

Exit codes: 0 answered (``can``: allowed); 1 ``can``: denied; 2 usage error, unreadable input, or an
answer marked incomplete (a kind it depends on could not be read from the cluster).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

import click

from ..analysis.rbac.escalation import EscalationGraph
from ..analysis.rbac.index import RbacIndex, as_subject
from ..analysis.rbac.subjects import Subject
from ..api import batch_gc, load_rbac
from ..errors import UsageError
from ..loading.loader import LoadResult
from ..reporters import printable
from ..reporters import rbac as report
from .cluster_cmd import progress_printer
from .options import Command, Inputs, cluster_options, input_options
from .progress import StatusLine, enabled


def _query_options(fn: Command) -> Command:
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


def _output_options(*formats: str) -> Callable[[Command], Command]:
    def deco(fn: Command) -> Command:
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
    inputs: Inputs,
    no_builtin: bool,
    paths: tuple[str, ...] = (),
    *,
    defaults: bool = False,
    escalation: bool = False,
) -> tuple[RbacIndex, LoadResult]:
    if inputs.live and (inputs.files or paths):
        raise click.UsageError("--cluster/--snapshot read no files: give either, not both")
    opts = inputs.scan_options(paths, required=False)  # load_rbac says what is missing in its own words
    line = StatusLine() if inputs.cluster is not None and enabled() else None
    index, loaded = load_rbac(
        opts,
        builtin_roles=False if no_builtin else None,
        defaults=defaults,
        escalation=escalation,
        progress=progress_printer(line) if line else None,
    )
    if line:
        line.clear()
    return index, loaded


def _subject(text: str, what: str = "SUBJECT") -> Subject:
    try:
        return as_subject(text)
    except UsageError as e:
        raise UsageError(f"{what}: {e}") from None


def _finish(index: RbacIndex, loaded: LoadResult, fmt: str, code: int = 0, incomplete: bool = False) -> None:
    """Warnings and errors on stderr, then exit: 2 on unreadable input or an incomplete answer."""
    if fmt == "table":
        for line in report.warning_lines(index.problems):
            click.echo(line, err=True)
    for note in loaded.notes if index.inventory.live else ():
        click.echo(f"kubefort: warning: {printable(note)}", err=True)
    for e in loaded.errors:
        click.echo(f"kubefort: error: {printable(e.diagnostics())}", err=True)
    sys.exit(2 if loaded.errors or incomplete else code)


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
      kubefort rbac who-can get secrets -n shop --cluster --context prod
      kubefort rbac paths --snapshot prod.json.gz
    """


@rbac_group.command("who-can")
@click.argument("verb")
@click.argument("resource")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@_query_options
@input_options
@cluster_options(whole=True, packed=True)
@_output_options("table", "json")
def who_can_cmd(
    verb: str,
    resource: str,
    paths: tuple[str, ...],
    name: str | None,
    subresource: str | None,
    api_group: str | None,
    all_namespaces: bool,
    inputs: Inputs,
    fmt: str,
    no_builtin: bool,
) -> None:
    """List the subjects allowed to VERB RESOURCE, with the bindings and roles that allow it.

    -n is the namespace of the request (and, as with kubectl, of manifests that name none); -A asks
    about a request without namespace. Members of group system:masters, allowed everything without
    a binding, are not listed. PATHS (or -f) are the manifests to read.
    """
    index, loaded = _load(inputs, no_builtin, paths)
    req = index.request(verb, resource, _query_ns(inputs.namespace, all_namespaces), name, subresource, api_group)
    gaps = index.incomplete()
    click.echo(report.WHO_CAN[fmt](req, index.who_can_request(req), index.problems, gaps))
    _finish(index, loaded, fmt, incomplete=bool(gaps))


@rbac_group.command("can")
@click.argument("subject")
@click.argument("verb")
@click.argument("resource")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@_query_options
@click.option(
    "--as-group",
    "as_groups",
    multiple=True,
    metavar="GROUP",
    help="A group the subject is in, besides its implicit ones (repeatable), like kubectl --as-group.",
)
@input_options
@cluster_options(whole=True, packed=True)
@_output_options("table", "json")
def can_cmd(
    subject: str,
    verb: str,
    resource: str,
    paths: tuple[str, ...],
    name: str | None,
    subresource: str | None,
    api_group: str | None,
    all_namespaces: bool,
    as_groups: tuple[str, ...],
    inputs: Inputs,
    fmt: str,
    no_builtin: bool,
) -> None:
    """Whether SUBJECT may VERB RESOURCE: prints yes or no with the reason.

    -n is the namespace of the request (and of manifests that name none); -A asks about a request
    without namespace. Exit code 0 when allowed, 1 when denied (like kubectl auth can-i), 2 on
    usage or input errors. PATHS (or -f) are the manifests to read.
    """
    s = _subject(subject)
    index, loaded = _load(inputs, no_builtin, paths)
    req = index.request(verb, resource, _query_ns(inputs.namespace, all_namespaces), name, subresource, api_group)
    d = index.decide(s, req, as_groups)
    gaps = {} if d.allowed else index.incomplete()  # RBAC only allows: an allowed request stays allowed
    click.echo(report.CAN[fmt](s, d, index.problems, gaps))
    _finish(index, loaded, fmt, 0 if d.allowed else 1, incomplete=bool(gaps))


@rbac_group.command("permissions")
@click.argument("subject")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "--as-group",
    "as_groups",
    multiple=True,
    metavar="GROUP",
    help="A group the subject is in, besides its implicit ones (repeatable).",
)
@input_options
@cluster_options(whole=True, packed=True)
@_output_options("table", "json")
def permissions_cmd(
    subject: str,
    paths: tuple[str, ...],
    as_groups: tuple[str, ...],
    inputs: Inputs,
    fmt: str,
    no_builtin: bool,
) -> None:
    """The effective permissions of SUBJECT: one row per rule, where it applies and what grants it.

    SCOPE * means cluster-wide (a ClusterRoleBinding); rows of RoleBindings omit what they cannot
    grant (cluster-scoped resources, non-resource URLs). PATHS (or -f) are the manifests to read.
    """
    s = _subject(subject)
    index, loaded = _load(inputs, no_builtin, paths)
    gaps = index.incomplete()
    click.echo(report.PERMISSIONS[fmt](s, index.permissions(s, as_groups), index.problems, gaps))
    _finish(index, loaded, fmt, incomplete=bool(gaps))


@rbac_group.command("paths")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@click.option(
    "--to",
    "to",
    default="cluster-admin",
    show_default=True,
    metavar="TARGET",
    help="cluster-admin, or a SUBJECT whose identity to reach.",
)
@click.option("--from", "from_", default=None, metavar="SUBJECT", help="Only the path of this subject.")
@click.option(
    "--no-defaults",
    "no_defaults",
    is_flag=True,
    help="Leave out the bindings every cluster has (system:controller:* accounts, cluster-admin to "
    "system:masters...): paths through the input's own bindings only.",
)
@input_options
@cluster_options(whole=True, packed=True)
@_output_options("table", "json", "dot")
def paths_cmd(
    paths: tuple[str, ...],
    to: str,
    from_: str | None,
    no_defaults: bool,
    inputs: Inputs,
    fmt: str,
    no_builtin: bool,
) -> None:
    """Privilege-escalation paths: the shortest way each subject can become TARGET, shortest first.

    Each step names the action and the bindings that allow it (see docs/rbac.md for the steps modelled).
    The default bindings of every cluster (the bootstrap policy's: the controllers' ServiceAccounts in
    kube-system and their roles) are included, as a real cluster has them; --no-defaults leaves them out.
    A cluster (--cluster, --snapshot) is read with its own.
    """
    if to != "cluster-admin":
        to = str(_subject(to, "--to"))
    src = _subject(from_, "--from") if from_ else None
    index, loaded = _load(inputs, no_builtin, paths, defaults=not no_defaults, escalation=True)
    with batch_gc():
        graph = EscalationGraph(index)
        found = graph.paths(to, src)
    gaps = graph.incomplete()
    defaults = None if index.inventory.live else index.defaults  # a cluster has its own
    click.echo(report.PATHS[fmt](found, to, src, index.problems, defaults, gaps))
    _finish(index, loaded, fmt, incomplete=bool(gaps))


@rbac_group.command("from-audit")
@click.argument("audit_log", metavar="AUDIT.log", type=click.Path(allow_dash=True))
@click.option("--user", default=None, metavar="NAME", help="The user whose requests to grant.")
@click.option("--serviceaccount", default=None, metavar="NS:NAME", help="The ServiceAccount whose requests to grant.")
@click.option("--name", "role_name", default=None, help="Name of the Roles and bindings (default: SUBJECT-from-audit).")
@click.option("--include-denied", is_flag=True, help="Also grant requests the log shows were denied (403).")
@input_options
@cluster_options(whole=True, packed=True)
@click.option("-o", "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def from_audit_cmd(
    audit_log: str,
    user: str | None,
    serviceaccount: str | None,
    role_name: str | None,
    include_denied: bool,
    inputs: Inputs,
    fmt: str,
) -> None:
    """The smallest Roles/ClusterRole and bindings that allow exactly the requests an API server audit
    log (JSON lines of audit.k8s.io/v1 Events) records for one subject. With the current RBAC (-f
    FILES, --cluster or --snapshot), also what the subject is granted and never used, and what it did
    that its grants do not allow (on stderr).

    \b
    Exit codes: 0 done, 2 usage or input error (no request of the subject in the log included).
    """
    from ..analysis.rbac.from_audit import (
        AuditLogError,
        denied_now,
        manifests,
        minimal_roles,
        needed,
        of_subject,
        parse_audit_log,
        unused_grants,
    )

    if (user is None) == (serviceaccount is None):
        raise UsageError("give --user NAME or --serviceaccount NS:NAME")
    subject = Subject("User", user) if user is not None else Subject.parse(f"ServiceAccount:{serviceaccount}")
    try:
        with click.open_file(audit_log, "r", encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{audit_log}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    try:
        requests = of_subject(parse_audit_log(text, audit_log), subject)
    except AuditLogError as e:
        raise UsageError(str(e)) from None
    label = f"{subject.kind} {subject.namespace + '/' if subject.namespace else ''}{subject.name}"
    if not requests:
        raise UsageError(f"{audit_log}: no request by {label} ({subject.username})")
    need = needed(requests, subject, include_denied=include_denied)
    if not need.requests:
        raise UsageError(f"{audit_log}: every request by {label} is denied or allowed to everyone: nothing to grant")
    roles = minimal_roles(need.requests)
    slug = re.sub(r"[^a-z0-9.-]+", "-", subject.name.lower()).strip("-.") or "subject"
    docs = manifests(roles, subject, role_name or f"{slug}-from-audit")
    header = f"kubefort rbac from-audit {audit_log}: {len(requests)} request(s) by {label}"
    report.write_from_audit(docs, fmt, sys.stdout, header)
    unused = denied = None
    loaded = None
    if inputs.files or inputs.live:
        index, loaded = _load(inputs, False, defaults=True)
        unused, denied = unused_grants(index, subject, requests), denied_now(index, subject, requests)
    sys.stdout.flush()
    rules = sum(len(r.rules) for r in roles)
    for line in report.from_audit_lines(label, need, rules, unused, denied):
        click.echo(line, err=True)
    if loaded is not None:
        for problem in loaded.errors:
            click.echo(f"kubefort: error: {printable(problem.diagnostics())}", err=True)
        sys.exit(2 if loaded.errors else 0)
