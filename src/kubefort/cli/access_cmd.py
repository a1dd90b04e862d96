"""``kubefort access``: access kits for people (grant). See docs/access.md."""

from __future__ import annotations

import sys

import click

from ..reporters import access as report


@click.group("access")
def access_group() -> None:
    """Give people least-privilege access with client certificates, and audit who has it.

    \b
    Examples:
      kubefort access grant jane -n shop --out kits/jane
      kubefort access grant ci-bot -n shop --role edit --expires 8h --group shop-devs --out kits/ci
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
