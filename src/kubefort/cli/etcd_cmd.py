"""``kubefort etcd probe|secrets``.

Exit codes: 0 clean; 1 findings at or above --fail-on (probe), a value stored unencrypted (secrets);
2 usage error or etcd unreachable; 3 a rule crashed (probe).
"""

from __future__ import annotations

import sys

import click

from ..errors import UsageError
from ..reporters import Format, error_lines
from .options import Command, judging_options


def tls_options(fn: Command) -> Command:
    opts = [
        click.option(
            "--cacert",
            type=click.Path(dir_okay=False),
            default=None,
            help="CA bundle that signs etcd's server certificate.",
        ),
        click.option("--cert", type=click.Path(dir_okay=False), default=None, help="Client certificate (PEM)."),
        click.option("--key", type=click.Path(dir_okay=False), default=None, help="Client private key (PEM)."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


@click.group("etcd")
def etcd_group() -> None:
    """Check a live etcd: TLS and client authentication, and how Secrets are stored (encryption at rest).

    \b
    Examples:
      kubefort etcd probe --endpoints https://10.0.0.5:2379 --cacert ca.crt --cert c.crt --key c.key
      kubefort etcd secrets --endpoints https://10.0.0.5:2379 --cacert ca.crt --cert c.crt --key c.key
      kubefort etcd secrets --snapshot backup.db --resource secrets --resource configmaps -o json
    """


@etcd_group.command("probe")
@click.option("--endpoints", required=True, metavar="URL[,URL]", help="etcd client URLs (https://HOST:2379).")
@tls_options
@click.option(
    "--foreign-cert",
    type=click.Path(dir_okay=False),
    default=None,
    help="A client certificate from another CA (e.g. one the cluster CA signed): accepted = KF-ETCD-007.",
)
@click.option("--foreign-key", type=click.Path(dir_okay=False), default=None, help="Key of --foreign-cert.")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds per connection attempt.")
@judging_options(
    config="Config file (.kubefort.yaml): exceptions (kind EtcdEndpoint, names = endpoint URLs), fail_on...",
    selection=False,
)
@click.option(
    "-o",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "sarif", "junit", "html"]),
    default="table",
    show_default=True,
)
@click.option("--no-color", is_flag=True, help="No colours in table output.")
@click.option("-v", "--verbose", is_flag=True, help="Also show suppressed findings and notes.")
def probe_cmd(
    endpoints: str,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    foreign_cert: str | None,
    foreign_key: str | None,
    timeout: float,
    fail_on: str | None,
    min_severity: str | None,
    config: str | None,
    baseline: str | None,
    fmt: str,
    no_color: bool,
    verbose: bool,
) -> None:
    """Knock on etcd client endpoints the way an attacker would and report what they accept.

    Per endpoint: plain HTTP? TLS, and which server certificate (auto-TLS)? A client without a
    certificate? A certificate from a CA made on the spot? (--foreign-cert: from the cluster CA?)
    etcd auth on? Version. Findings carry the catalogue IDs KF-ETCD-001/002/003/007/008. Only
    /version and a count-only range request are sent: no key or value is read.
    """
    from ..api import ScanOptions
    from ..etcd.client import TLSFiles, parse_endpoints, tls_files
    from ..etcd.probe import probe_and_judge
    from ..reporters.etcd import render_probe

    eps = parse_endpoints(endpoints)
    if bool(foreign_cert) != bool(foreign_key):
        raise UsageError("--foreign-cert and --foreign-key go together")
    opts = ScanOptions(
        fail_on=fail_on, min_severity=min_severity, config=config, baseline=baseline, keep_passes=fmt == "junit"
    )
    found, report = probe_and_judge(
        eps,
        opts,
        tls=tls_files(cacert, cert, key),
        foreign=TLSFiles(None, foreign_cert, foreign_key) if foreign_cert else None,
        timeout=timeout,
    )
    render_probe(found, report, Format(fmt), sys.stdout, color=False if no_color else None, verbose=verbose)
    for line in error_lines(report):  # rule errors: on standard error, whatever the format
        click.echo(line, err=True)
    sys.exit(report.exit_code())


@etcd_group.command("secrets")
@click.option("--endpoints", default=None, metavar="URL[,URL]", help="etcd client URLs.")
@click.option(
    "--snapshot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Read an etcd snapshot file instead (restored into a temporary local etcd; needs etcd and etcdctl).",
)
@tls_options
@click.option(
    "--resource",
    "resources",
    multiple=True,
    metavar="RESOURCE",
    help="Resources to read (repeatable): secrets (default), configmaps, GROUP/RESOURCE...",
)
@click.option("--etcd-prefix", default="/registry", show_default=True, help="kube-apiserver --etcd-prefix.")
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def secrets_cmd(
    endpoints: str | None,
    snapshot: str | None,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    resources: tuple[str, ...],
    etcd_prefix: str,
    fmt: str,
) -> None:
    """Classify how every stored value is protected, from its bytes: identity (plaintext protobuf/JSON),
    aescbc, aesgcm, secretbox, kms-v1, kms-v2 or unknown, with the key name. Values are never shown.

    Exit 1 when a value is stored unencrypted (identity) or in no known format.
    """
    from ..etcd.client import parse_endpoints, tls_files
    from ..etcd.storage_scan import scan_endpoints, scan_snapshot
    from ..reporters.etcd import render_storage

    if bool(endpoints) == bool(snapshot):
        raise UsageError("give exactly one of --endpoints or --snapshot")
    res = list(resources) or ["secrets"]
    if snapshot:
        rep = scan_snapshot(snapshot, res, etcd_prefix=etcd_prefix)
    else:
        rep = scan_endpoints(
            parse_endpoints(endpoints or ""), tls_files(cacert, cert, key), res, etcd_prefix=etcd_prefix
        )
    render_storage(rep.to_dict(), Format(fmt), sys.stdout)
    sys.exit(rep.exit_code())
