"""``kubefort etcd probe|secrets`` and ``kubefort backup keygen|create|list|verify|prune|restore|drill``.

Exit codes: 0 clean; 1 findings at or above --fail-on (probe), a value stored unencrypted (secrets),
a verification or drill failure (backup); 2 usage error or etcd unreachable.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import IO, Any

import click

from ..engine.rule import Severity
from ..errors import UsageError

F = Callable[..., Any]  # the etcd modules (httpx, cryptography) are imported when a command runs


def tls_options(fn: F) -> F:
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


def _tls(cacert: str | None, cert: str | None, key: str | None) -> Any:
    from ..etcd.client import TLSFiles

    return TLSFiles(cacert, cert, key) if (cacert or cert or key) else None


def _echo_json(obj: Any, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(json.dumps(obj, indent=2) + "\n")


# ==================================================================================================
# kubefort etcd


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
@click.option(
    "--fail-on",
    type=click.Choice(["info", "low", "medium", "high", "critical"]),
    default="high",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
@click.option(
    "-o", "--format", "fmt", type=click.Choice(["table", "json", "sarif", "junit"]), default="table", show_default=True
)
@click.option("--no-color", is_flag=True, help="No colours in table output.")
def probe_cmd(
    endpoints: str,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    foreign_cert: str | None,
    foreign_key: str | None,
    timeout: float,
    fail_on: str,
    fmt: str,
    no_color: bool,
) -> None:
    """Knock on etcd client endpoints the way an attacker would and report what they accept.

    Per endpoint: plain HTTP? TLS, and which server certificate (auto-TLS)? A client without a
    certificate? A certificate from a CA made on the spot? (--foreign-cert: from the cluster CA?)
    etcd auth on? Version. Findings carry the catalogue IDs KF-ETCD-001/002/003/007/008. Only
    /version and a count-only range request are sent: no key or value is read.
    """
    from ..etcd.client import EtcdError, TLSFiles, parse_endpoints
    from ..etcd.probe import probe
    from ..reporters import Format, get_reporter
    from ..reporters.json_report import report_dict

    eps = parse_endpoints(endpoints)
    if bool(foreign_cert) != bool(foreign_key):
        raise UsageError("--foreign-cert and --foreign-key go together")
    foreign = TLSFiles(None, foreign_cert, foreign_key) if foreign_cert else None
    results, report = probe(eps, _tls(cacert, cert, key), foreign=foreign, timeout=timeout)
    report.fail_on = Severity.parse(fail_on)
    if not any(r.reachable for r in results):
        raise EtcdError("no endpoint answered: " + "; ".join(f"{r.endpoint}: {'; '.join(r.errors)}" for r in results))
    if fmt == "json":
        d = report_dict(report)
        d["endpoints"] = [r.to_dict() for r in results]
        _echo_json(d)
    elif fmt == "table":
        for r in results:
            click.echo(f"{r.endpoint}")
            rows = [
                ("etcd version", r.version.get("etcdserver", "?")),
                ("plain HTTP", r.plain_http.label),
                ("speaks TLS", "yes" if r.speaks_tls else "no"),
            ]
            if r.server_cert:
                c = r.server_cert
                trust = {
                    True: "trusted by --cacert",
                    False: f"NOT trusted by --cacert ({c.trust_detail})",
                    None: "not verified (no --cacert)",
                }
                rows.append(
                    (
                        "server certificate",
                        f"{c.subject} issued by {c.issuer}, until {c.not_after}; {trust[c.trusted]}"
                        + ("; etcd auto-TLS" if c.auto_tls else ""),
                    )
                )
            if r.speaks_tls:
                rows += [("TLS, no client cert", r.no_cert.label), ("TLS, unknown-CA cert", r.wrong_ca.label)]
                if r.foreign_cert:
                    rows.append(("TLS, --foreign-cert", r.foreign_cert.label))
                if r.with_cert:
                    rows.append(("TLS, your cert", r.with_cert.label))
            rows.append(("etcd auth", f"{r.auth} ({r.auth_detail})"))
            for k, v in rows:
                click.echo(f"  {k:<22} {v}")
            click.echo()
        report.notes.clear()  # the facts above are the notes
        get_reporter(Format.TABLE, color=False if no_color else None).render(report, sys.stdout)
    else:
        get_reporter(Format(fmt)).render(report, sys.stdout)
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
    from ..etcd.client import connect, parse_endpoints
    from ..etcd.storage_scan import scan_snapshot, scan_storage

    if bool(endpoints) == bool(snapshot):
        raise UsageError("give exactly one of --endpoints or --snapshot")
    res = list(resources) or ["secrets"]
    if snapshot:
        rep = scan_snapshot(snapshot, res, etcd_prefix=etcd_prefix)
    else:
        with connect(parse_endpoints(endpoints or ""), _tls(cacert, cert, key)) as c:
            rep = scan_storage(c, res, etcd_prefix=etcd_prefix)
    if fmt == "json":
        _echo_json(rep.to_dict())
    else:
        width = max([len(v.key) for v in rep.values] + [3])
        click.echo(f"{'KEY':<{width}}  {'STORAGE':<10} KEY NAME")
        for v in rep.values:
            flag = f"  ! {v.problem}" if v.problem else ""
            click.echo(f"{v.key:<{width}}  {v.storage:<10} {v.key_name or '-'}{flag}")
        click.echo()
        s = rep.summary()
        click.echo(f"source: {rep.source} at revision {rep.revision}; resources: {', '.join(rep.resources)}")
        click.echo("summary: " + ", ".join(f"{k} {n}" for k, n in s.items()) + f" (total {len(rep.values)})")
        for storage, names in rep.key_names().items():
            click.echo(f"  {storage} keys: " + ", ".join(f"{k} ({n})" for k, n in sorted(names.items())))
        if rep.unencrypted:
            click.echo(f"UNENCRYPTED: {len(rep.unencrypted)} value(s) stored in plaintext (identity):")
            for v in rep.unencrypted:
                click.echo(f"  {v.key}")
        unknown = [v for v in rep.values if v.storage == "unknown"]
        if unknown:
            click.echo(f"UNKNOWN FORMAT: {len(unknown)} value(s)")
    sys.exit(rep.exit_code())


# ==================================================================================================
# kubefort backup


def repo_options(fn: F) -> F:
    opts = [
        click.option(
            "--repo",
            required=True,
            envvar="KUBEFORT_BACKUP_REPO",
            metavar="DIR|s3://BUCKET/PREFIX",
            help="Backup repository (env KUBEFORT_BACKUP_REPO).",
        ),
        click.option(
            "--key-file",
            required=True,
            envvar="KUBEFORT_BACKUP_KEY",
            type=click.Path(dir_okay=False),
            help="Key file from 'backup keygen' (env KUBEFORT_BACKUP_KEY).",
        ),
        click.option("--s3-endpoint", default=None, envvar="KUBEFORT_S3_ENDPOINT", help="S3-compatible endpoint URL."),
        click.option(
            "--object-lock-days",
            type=int,
            default=0,
            show_default=True,
            help="S3: Object Lock retention for new objects, when the bucket supports it.",
        ),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _repo(repo: str, key_file: str, s3_endpoint: str | None, object_lock_days: int) -> Any:
    from ..etcd.backup.keys import load_key_file
    from ..etcd.backup.repo import Repository
    from ..etcd.backup.storage import open_storage

    key = load_key_file(key_file)
    opts: dict[str, Any] = {}
    if repo.startswith("s3://"):
        opts = {"endpoint_url": s3_endpoint, "object_lock_days": object_lock_days}
    return Repository(open_storage(repo, **opts), key)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.group("backup")
def backup_group() -> None:
    """Encrypted, signed, tamper-evident backups of etcd (and of Kubernetes objects), with tested restores.

    \b
    Examples:
      kubefort backup keygen --out /secure/kubefort-backup.key
      kubefort backup create --etcd https://10.0.0.5:2379 --cacert ca.crt --cert c.crt --key c.key \\
          --repo /backups/etcd --key-file /secure/kubefort-backup.key
      kubefort backup verify --repo /backups/etcd --key-file /secure/kubefort-backup.key
      kubefort backup drill 20261123T101500Z-1a2b3c4d --repo /backups/etcd --key-file ...
      kubefort backup restore 20261123T101500Z-1a2b3c4d --data-dir /var/lib/etcd-restored --repo ... --key-file ...
    """


@backup_group.command("keygen")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the key file (mode 0600).")
@click.option(
    "--force", is_flag=True, help="Overwrite an existing file (backups made with the old key become unreadable)."
)
def keygen_cmd(out: str, force: bool) -> None:
    """Make a backup key file: an AES-256 encryption key and an Ed25519 signing key."""
    from ..etcd.backup.keys import generate, write_key_file

    k = generate()
    write_key_file(k, out, force=force)
    click.echo(f"wrote {out} (key id {k.key_id}); keep it off the cluster: whoever holds it can read the backups")


@backup_group.command("create")
@click.option("--etcd", "etcd_endpoints", default=None, metavar="URL[,URL]", help="etcd client URLs to snapshot.")
@tls_options
@repo_options
@click.option("--objects", is_flag=True, help="Also export the Kubernetes objects given with -f, per namespace.")
@click.option(
    "-f", "--filename", "filenames", multiple=True, metavar="PATH", help="Objects for --objects (files/dirs, '-')."
)
@click.option("-n", "--namespace", default="default", show_default=True, help="Namespace of objects that name none.")
@click.option("--compress-level", type=click.IntRange(1, 9), default=3, show_default=True, help="gzip level.")
@click.option(
    "--keyspace-digest",
    type=click.Choice(["revisions", "full", "none"]),
    default="revisions",
    show_default=True,
    help="Digest of the key space that drills compare with: every key and revision (cheap), also every "
    "value (reads everything again), or none.",
)
@click.option(
    "--snapshot-via",
    type=click.Choice(["api", "etcdctl"]),
    default="api",
    show_default=True,
    help="api: stream through etcd's JSON gateway, plaintext only in memory; etcdctl: 'etcdctl snapshot save' "
    "(gRPC, faster) into the repository's private scratch directory.",
)
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def create_cmd(
    etcd_endpoints: str | None,
    cacert: str | None,
    cert: str | None,
    key: str | None,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    objects: bool,
    filenames: tuple[str, ...],
    namespace: str,
    compress_level: int,
    keyspace_digest: str,
    snapshot_via: str,
    fmt: str,
) -> None:
    """Take a backup: etcd snapshot (maintenance API) -> gzip -> AES-256-GCM (chunked) -> content-addressed
    blob -> signed manifest entry. A crash leaves no backup that looks complete."""
    from ..etcd.backup.ops import create_backup
    from ..etcd.client import connect, parse_endpoints

    if objects and not filenames:
        raise UsageError("--objects needs the objects to export: -f FILE|DIR")
    if filenames and not objects:
        raise UsageError("-f is for --objects")
    r = _repo(repo, key_file, s3_endpoint, object_lock_days)
    client = connect(parse_endpoints(etcd_endpoints), _tls(cacert, cert, key)) if etcd_endpoints else None
    try:
        rec = create_backup(
            r,
            client=client,
            objects=list(filenames),
            namespace=namespace,
            level=compress_level,
            digest=keyspace_digest,
            snapshot_via=snapshot_via,
        )
    finally:
        if client:
            client.close()
    if fmt == "json":
        _echo_json(rec)
    else:
        e = rec.get("etcd") or {}
        ks = e.get("keyspace") or {}
        extra = f", revision {e['revision']}, {ks.get('keys', '?')} keys" if e else ""
        if rec.get("objects"):
            extra += f", {rec['objects']['objects']} objects"
        click.echo(
            f"backup {rec['id']} ({rec['kind']}): {_size(rec['size'])} stored{extra}, in {rec['duration_s']:.2f}s"
        )


@backup_group.command("list")
@repo_options
@click.option("--format", "-o", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_cmd(repo: str, key_file: str, s3_endpoint: str | None, object_lock_days: int, fmt: str) -> None:
    """List the backups of a repository (pruned ones excluded; the chain is checked)."""
    from ..etcd.backup.ops import list_backups

    items, chain = list_backups(_repo(repo, key_file, s3_endpoint, object_lock_days))
    if fmt == "json":
        _echo_json({"backups": [{k: it[k] for k in ("id", "created", "size", "kind")} for it in items]})
    else:
        click.echo(f"{'ID':<27} {'CREATED':<21} {'SIZE':>10}  {'KIND':<13} REVISION")
        for it in items:
            click.echo(
                f"{it['id']:<27} {it['created']:<21} {_size(it['size']):>10}  {it['kind']:<13} {it['revision'] or '-'}"
            )
    for i in chain.issues:
        click.echo(f"kubefort: {i.level}: {i.message}", err=True)
    sys.exit(0 if chain.ok else 1)


@backup_group.command("verify")
@click.argument("backup_id", required=False)
@repo_options
@click.option("--quick", is_flag=True, help="Check presence and sizes only, do not decrypt.")
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def verify_cmd(
    backup_id: str | None,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    quick: bool,
    fmt: str,
) -> None:
    """Verify the manifest chain (signatures, order, HEAD) and every backup (or BACKUP_ID): blob present,
    SHA-256, authenticated decryption, content hash. Exit 1 on any problem."""
    from ..etcd.backup.ops import verify

    res = verify(_repo(repo, key_file, s3_endpoint, object_lock_days), backup_id, deep=not quick)
    issues = res.all_issues()
    if fmt == "json":
        _echo_json(
            {
                "ok": res.ok,
                "head": {"seq": res.chain.head_seq, "hash": res.chain.head_hash},
                "verified": res.checked,
                "issues": [{"level": i.level, "message": i.message} for i in issues],
            }
        )
    else:
        for i in issues:
            click.echo(f"{i.level.upper()}: {i.message}")
        click.echo(
            f"{len(res.checked)} backup(s) verified; manifest HEAD at entry {res.chain.head_seq} "
            f"({res.chain.head_hash[:16] or '-'})"
        )
        click.echo("result: OK" if res.ok else "result: FAILED")
    sys.exit(0 if res.ok else 1)


@backup_group.command("prune")
@repo_options
@click.option(
    "--keep-daily", type=int, default=0, show_default=True, help="Keep the newest backup of each of the last N days."
)
@click.option(
    "--keep-weekly", type=int, default=0, show_default=True, help="Keep the newest backup of each of the last M weeks."
)
@click.option("--dry-run", is_flag=True, help="Only say what would be pruned.")
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def prune_cmd(
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    keep_daily: int,
    keep_weekly: int,
    dry_run: bool,
    fmt: str,
) -> None:
    """Forget backups outside the retention (a signed 'prune' entry records which), then delete their blobs."""
    from ..etcd.backup.ops import prune

    res = prune(
        _repo(repo, key_file, s3_endpoint, object_lock_days),
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        dry_run=dry_run,
    )
    if fmt == "json":
        _echo_json(res)
    else:
        verb = "would prune" if dry_run else "pruned"
        click.echo(
            f"kept {len(res['kept'])}, {verb} {len(res['pruned'])}: {', '.join(res['pruned']) or '-'}"
            + ("" if dry_run else f"; {res['deleted_blobs']} blob(s) deleted")
        )
        for r in res.get("retained", []):
            click.echo(f"kubefort: warning: {r}", err=True)


@backup_group.command("restore")
@click.argument("backup_id")
@repo_options
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="New etcd data directory (must not exist or be empty).",
)
@click.option("--name", default="default", show_default=True, help="Member name of the restored etcd.")
@click.option(
    "--initial-advertise-peer-urls",
    "peer_url",
    default="http://localhost:2380",
    show_default=True,
    help="Peer URL of the restored member (one-member cluster).",
)
@click.option("--initial-cluster-token", default="etcd-cluster", show_default=True)
@click.option(
    "--objects-dir", type=click.Path(file_okay=False), default=None, help="Also unpack the exported objects here."
)
def restore_cmd(
    backup_id: str,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    data_dir: str,
    name: str,
    peer_url: str,
    initial_cluster_token: str,
    objects_dir: str | None,
) -> None:
    """Decrypt and check a backup, then 'etcdctl snapshot restore' it into --data-dir."""
    from ..etcd.backup.ops import restore

    res = restore(
        _repo(repo, key_file, s3_endpoint, object_lock_days),
        backup_id,
        data_dir,
        name=name,
        peer_url=peer_url,
        cluster_token=initial_cluster_token,
        objects_dir=objects_dir,
    )
    if "data_dir" in res:
        click.echo(
            f"restored backup {res['id']} into {res['data_dir']} (member {res['name']}, peer {res['peer_url']}, "
            f"revision {res['revision']}) in {res['seconds']:.2f}s"
        )
        click.echo(
            f"start it with: etcd --name {res['name']} --data-dir {res['data_dir']} "
            f"--initial-advertise-peer-urls {res['peer_url']} --listen-peer-urls {res['peer_url']} ..."
        )
    if "objects_dir" in res:
        click.echo(f"unpacked {res['objects']} objects into {res['objects_dir']}")


@backup_group.command("drill")
@click.argument("backup_id")
@repo_options
@click.option("-o", "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def drill_cmd(
    backup_id: str, repo: str, key_file: str, s3_endpoint: str | None, object_lock_days: int, fmt: str
) -> None:
    """Restore a backup into a temporary etcd on 127.0.0.1, start it, compare every key, value and revision
    with the digest recorded at backup time, report the recovery time, stop and remove it."""
    from ..etcd.backup.ops import drill

    res = drill(_repo(repo, key_file, s3_endpoint, object_lock_days), backup_id)
    if fmt == "json":
        _echo_json(res.to_dict())
    else:
        for c, ok, d in res.checks:
            click.echo(f"{'OK  ' if ok else 'FAIL'} {c}: {d}")
        t = res.timings
        click.echo(
            f"recovery time {t.get('recovery', 0):.2f}s (decrypt {t.get('decrypt', 0):.2f}s, restore {t.get('restore', 0):.2f}s, "
            f"start {t.get('start', 0):.2f}s); compare {t.get('compare', 0):.2f}s"
        )
        click.echo("result: OK" if res.ok else "result: FAILED")
    sys.exit(0 if res.ok else 1)
