"""``kubefort access``: access kits for people (grant). See docs/access.md."""

from __future__ import annotations

import sys

import click

from ..reporters import access as report
from ..reporters import error_lines, printable
from .cluster_cmd import progress_printer
from .options import Inputs, cluster_options, input_options
from .progress import StatusLine, enabled


@click.group("access")
def access_group() -> None:
    """Give people least-privilege access with client certificates, and audit who has it.

    \b
    Examples:
      kubefort access grant jane -n shop --out kits/jane
      kubefort access grant ci-bot -n shop --role edit --expires 8h --group shop-devs --out kits/ci
      kubefort access audit k8s/
      kubefort access audit --cluster -o json
    """


@access_group.command("grant")
@click.argument("user")
@click.option("-n", "--namespace", required=True, help="The namespace the user may work in.")
@click.option("--group", "groups", multiple=True, metavar="G", help="A group for the certificate's O= (repeatable).")
@click.option(
    "--role",
    default="view",
    show_default=True,
    metavar="view|edit|Role/NAME|ClusterRole/NAME",
    help="view: read-only, no Secrets; edit: also write the application's objects; or bind an existing role.",
)
@click.option("--expires", default="24h", show_default=True, help="Certificate lifetime (expirationSeconds): 8h, 7d...")
@click.option(
    "--server",
    default="https://KUBERNETES-API-SERVER:6443",
    show_default=True,
    help="API server URL for the kubeconfig.",
)
@click.option("--cluster-name", default="kubernetes", show_default=True, help="Cluster name in the kubeconfig.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write the kit into."
)
@click.option("--force", is_flag=True, help="Overwrite an existing key in --out.")
def grant_cmd(
    user: str,
    namespace: str,
    groups: tuple[str, ...],
    role: str,
    expires: str,
    server: str,
    cluster_name: str,
    out_dir: str,
    force: bool,
) -> None:
    """Write an access kit for USER in one namespace: an ECDSA P-256 key (mode 0600, never printed),
    a CertificateSigningRequest for the kube-apiserver-client signer with expirationSeconds, a Role and
    RoleBinding with the least privilege of --role, and a kubeconfig template.

    \b
    Exit codes: 0 written, 2 usage error.
    """
    from ..access import grant

    seconds = grant.parse_duration(expires)
    kit = grant.build(
        user, namespace, groups=groups, role=role, expiration_seconds=seconds, server=server, cluster=cluster_name
    )
    try:
        paths = grant.write(kit, out_dir, force=force)
    except OSError as e:
        click.echo(f"kubefort: error: {out_dir}: cannot write: {e.strerror or e}", err=True)
        sys.exit(2)
    report.write_grant(user, paths, grant.next_steps(kit, out_dir), sys.stdout)


@access_group.command("audit")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@cluster_options(whole=True, packed=True)
@click.option("-o", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--fail-on",
    default=None,
    metavar="SEVERITY",
    help="Exit 1 when a finding is at or above this severity (default: the scan's, high).",
)
def audit_cmd(
    paths: tuple[str, ...],
    inputs: Inputs,
    fmt: str,
    fail_on: str | None,
) -> None:
    """Who can reach the cluster as a person: the User and Group subjects of the bindings (and what
    each binding gives them), system:masters, client certificate requests with long or no expiry, and
    how to revoke, with the findings of the access rules (KF-RBAC-005/006/020/021/037/038/039,
    KF-CP-056) from the rule engine.

    \b
    Exit codes: 0 no finding at or above --fail-on, 1 findings, 2 usage or input error.
    """
    from ..access.audit import certificate_requests, guidance, people
    from ..api import audit_access

    opts = inputs.scan_options(paths, fail_on=fail_on)
    status = StatusLine() if inputs.cluster is not None and enabled() else None
    result, inventory = audit_access(opts, progress=progress_printer(status) if status else None)
    if status:
        status.clear()
    found, requests = people(inventory), certificate_requests(inventory)
    report.write_audit(found, requests, result, guidance(found, requests), fmt, sys.stdout)
    sys.stdout.flush()
    for note in result.notes:
        if note.startswith("could not"):
            click.echo(f"kubefort: warning: {printable(note)}", err=True)
    for line in error_lines(result):
        click.echo(line, err=True)
    sys.exit(result.exit_code())
