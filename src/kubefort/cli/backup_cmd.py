"""``kubefort backup keygen|create|namespace|list|verify|prune|restore|drill``.

Exit codes: 0 done; 1 a verification or drill failure, or a manifest chain that does not verify
(list); 2 usage error or etcd unreachable.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from ..reporters import Format
from .etcd_cmd import tls_options
from .options import Command, cluster_options
from .progress import StatusLine, bytes_printer, enabled, no_progress_option

if TYPE_CHECKING:
    from ..etcd.backup.repo import Repository
    from ..etcd.backup.volumes import VolumeTarget
    from ..loading.cluster import ClusterSource

FORMAT = click.Choice(["table", "json"])


def repo_options(fn: Command) -> Command:
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


def _repo(repo: str, key_file: str, s3_endpoint: str | None, object_lock_days: int) -> Repository:
    from ..etcd.backup.ops import open_repository

    return open_repository(repo, key_file, s3_endpoint=s3_endpoint, object_lock_days=object_lock_days)


def volume_options(fn: Command) -> Command:
    """Where the volume Jobs' restic writes and reads, and the images they run (``backup namespace`` and
    ``backup restore``: given, kubefort runs the Jobs and waits for them)."""
    opts = [
        click.option(
            "--restic-repository",
            default=None,
            metavar="s3:ENDPOINT/BUCKET/PREFIX",
            help="Volume data: the restic repository the Jobs use (a bucket with Object Lock). Given, the "
            "claims' data is backed up (restored) by Jobs kubefort creates and waits for.",
        ),
        click.option(
            "--restic-image", default=None, metavar="IMAGE@sha256:...", help="restic image, pinned by digest."
        ),
        click.option(
            "--kubefort-image",
            default=None,
            metavar="IMAGE@sha256:...",
            help="kubefort's image, pinned by digest: the Jobs' report container (file count, digest).",
        ),
        click.option(
            "--secret",
            "volume_secret",
            default="kubefort-volume-backup",
            show_default=True,
            help="Secret of each namespace with restic's password and the bucket credentials (files).",
        ),
        click.option(
            "--volume-user",
            type=click.IntRange(1),
            default=65532,
            show_default=True,
            help="UID (and GID, fsGroup) the volume Jobs run as: one that can read the application's files.",
        ),
        click.option(
            "--volume-timeout",
            type=float,
            default=3600.0,
            show_default=True,
            help="Seconds to wait for the volume Jobs.",
        ),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return no_progress_option(fn)


def _volume_target(
    restic_repository: str | None,
    restic_image: str | None,
    kubefort_image: str | None,
    secret: str,
    user: int,
    snapshots: bool = True,
    replace_data: bool = False,
) -> VolumeTarget | None:
    from ..etcd.backup.volumes import VolumeTarget

    if restic_repository is None:
        if restic_image or kubefort_image:
            raise UsageError("--restic-image and --kubefort-image are for volume data: give --restic-repository")
        return None
    for opt, image in (("--restic-image", restic_image), ("--kubefort-image", kubefort_image)):
        if not image:
            raise UsageError(f"--restic-repository needs {opt} IMAGE@sha256:...")
        if "@sha256:" not in image:
            raise UsageError(f"{opt} {image}: pin it by digest (IMAGE@sha256:...)")
    return VolumeTarget(
        repository=restic_repository,
        image=str(restic_image),
        report_image=str(kubefort_image),
        secret=secret,
        run_as_user=user,
        snapshots=snapshots,
        replace_data=replace_data,
    )


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
      kubefort backup namespace shop db --repo s3://bucket/apps --key-file ... --object-lock-days 30
      kubefort backup restore latest --to-context staging --namespace-map shop=shop2 --repo ... --key-file ...
    """


@backup_group.command("keygen")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the key file (mode 0600).")
@click.option(
    "--force", is_flag=True, help="Overwrite an existing file (backups made with the old key become unreadable)."
)
def keygen_cmd(out: str, force: bool) -> None:
    """Make a backup key file: an AES-256 encryption key and an Ed25519 signing key."""
    from ..etcd.backup.keys import generate, write_key_file
    from ..reporters.backup import render_keygen

    k = generate()
    write_key_file(k, out, force=force)
    render_keygen(out, k.key_id, sys.stdout)


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
@click.option("-o", "--format", "fmt", type=FORMAT, default="table", show_default=True)
@no_progress_option
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
    from ..etcd.backup.ops import backup_etcd
    from ..etcd.client import parse_endpoints, tls_files
    from ..reporters.backup import render_created

    if objects and not filenames:
        raise UsageError("--objects needs the objects to export: -f FILE|DIR")
    if filenames and not objects:
        raise UsageError("-f is for --objects")
    line = StatusLine() if enabled() else None
    try:
        rec = backup_etcd(
            _repo(repo, key_file, s3_endpoint, object_lock_days),
            parse_endpoints(etcd_endpoints) if etcd_endpoints else [],
            tls_files(cacert, cert, key),
            objects=list(filenames),
            namespace=namespace,
            level=compress_level,
            digest=keyspace_digest,
            snapshot_via=snapshot_via,
            progress=bytes_printer(line) if line else None,
        )
    finally:
        if line:
            line.clear()
    render_created(rec, Format(fmt), sys.stdout)


@backup_group.command("namespace")
@click.argument("namespaces", nargs=-1, required=True)
@cluster_options(flag=False, whole=True)
@repo_options
@click.option("--compress-level", type=click.IntRange(1, 9), default=3, show_default=True, help="gzip level.")
@click.option("-o", "--format", "fmt", type=FORMAT, default="table", show_default=True)
@volume_options
@click.option(
    "--snapshots/--no-snapshots",
    default=True,
    show_default=True,
    help="Volume data: back up from a CSI VolumeSnapshot where the claim's class has a VolumeSnapshotClass "
    "(--no-snapshots: mount every claim read-only itself; no rights on snapshots and claims needed).",
)
def namespace_cmd(
    namespaces: tuple[str, ...],
    cluster: ClusterSource,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    compress_level: int,
    fmt: str,
    restic_repository: str | None,
    restic_image: str | None,
    kubefort_image: str | None,
    volume_secret: str,
    volume_user: int,
    volume_timeout: float,
    snapshots: bool,
) -> None:
    """Back up the objects of NAMESPACES (every listable namespaced type) and the cluster-scoped objects
    they depend on, cleaned of server-set fields, into the repository (encrypted, signed). Objects the
    cluster derives (Events, Endpoints, Pods of controllers...) are skipped; the backup's manifest says
    which and why. With --restic-repository, the claims' data too: restic Jobs created in the cluster
    and waited for; exit 1 when one failed (each claim is reported with its Job's reason). See
    docs/app-backup.md."""
    from ..etcd.backup.app import backup_namespaces
    from ..reporters.backup import render_app_backup

    target = _volume_target(restic_repository, restic_image, kubefort_image, volume_secret, volume_user, snapshots)
    line = StatusLine() if target is not None and enabled() else None
    try:
        rec = backup_namespaces(
            _repo(repo, key_file, s3_endpoint, object_lock_days),
            cluster,
            list(namespaces),
            level=compress_level,
            lock_days=object_lock_days,
            volumes=target,
            volume_timeout=volume_timeout,
            progress=line.show if line else None,
        )
    finally:
        if line:
            line.clear()
    render_app_backup(rec, Format(fmt), sys.stdout)
    sys.exit(0 if all(v["ok"] for v in rec.get("volumes") or ()) else 1)


@backup_group.command("volume-digest", hidden=True)
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--termination-log", type=click.Path(dir_okay=False), default=None, help="Also write the report to this file."
)
def volume_digest_cmd(directory: str, termination_log: str | None) -> None:
    """The report container of the volume Jobs: the file count and SHA-256 tree digest of DIRECTORY as
    JSON, also written to --termination-log (the Pod's termination message kubefort reads back)."""
    import json

    from ..etcd.backup.volumes import digest_report

    text = json.dumps(digest_report(directory), sort_keys=True)
    if termination_log:
        with open(termination_log, "w", encoding="utf-8") as f:
            f.write(text)
    sys.stdout.write(text + "\n")


@backup_group.command("volume-clear", hidden=True)
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
def volume_clear_cmd(directory: str) -> None:
    """The first container of a restore Job with --replace-volume-data: delete everything under
    DIRECTORY (the claim's mount), so that restic restores into an empty volume."""
    from ..etcd.backup.volumes import clear_tree

    try:
        n = clear_tree(directory)
    except (OSError, ValueError) as e:
        raise UsageError(f"volume-clear: {e}") from None
    sys.stdout.write(f"cleared {directory}: {n} entries removed\n")


@backup_group.command("volume-jobs")
@click.argument("backup_id")
@repo_options
@click.option(
    "--restic-repository",
    required=True,
    metavar="s3:ENDPOINT/BUCKET/PREFIX",
    help="restic repository the Jobs write to (a bucket with Object Lock).",
)
@click.option("--restic-image", required=True, metavar="IMAGE@sha256:...", help="restic image, pinned by digest.")
@click.option(
    "--secret", default="kubefort-volume-backup", show_default=True, help="Secret with password, credentials."
)
@click.option(
    "--snapshot-driver",
    "snapshot_drivers",
    multiple=True,
    metavar="DRIVER",
    help="CSI drivers with a VolumeSnapshotClass.  [default: those the backup found in the cluster]",
)
@click.option("--restore", is_flag=True, help="The Jobs restoring the data into the restored claims instead.")
@click.option("--namespace-map", multiple=True, metavar="OLD=NEW", help="With --restore: as given to 'backup restore'.")
def volume_jobs_cmd(
    backup_id: str,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    restic_repository: str,
    restic_image: str,
    secret: str,
    snapshot_drivers: tuple[str, ...],
    restore: bool,
    namespace_map: tuple[str, ...],
) -> None:
    """Print the manifests that back up the volume data of a namespace backup's claims with restic:
    per claim a Job mounting it read-only, or a VolumeSnapshot, a claim cloned from it and a Job reading
    the clone when its StorageClass's driver has a VolumeSnapshotClass; per namespace the Jobs'
    ServiceAccount (no token) and NetworkPolicy (DNS and HTTPS out only). With --restore: the Jobs that
    restore each claim's newest snapshot into the restored claim (run them before the workloads)."""
    import yaml

    from ..etcd.backup.app import load_archive, parse_map
    from ..etcd.backup.volumes import VolumeTarget, volume_jobs, volume_restore_jobs

    if "@sha256:" not in restic_image:
        raise UsageError(f"--restic-image {restic_image}: pin it by digest (IMAGE@sha256:...)")
    _, archive = load_archive(_repo(repo, key_file, s3_endpoint, object_lock_days), backup_id)
    drivers = list(snapshot_drivers) or list(archive.manifest.get("volume_snapshot_drivers") or [])
    target = VolumeTarget(repository=restic_repository, image=restic_image, secret=secret)
    if restore:
        docs = volume_restore_jobs(archive.objects, target, parse_map(namespace_map, "--namespace-map"))
    else:
        docs = volume_jobs(archive.objects, target, drivers)
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))


@backup_group.command("schedule")
@click.argument("namespaces", nargs=-1, required=True)
@click.option("--repo", required=True, metavar="s3://BUCKET/PREFIX", help="Repository (S3 with Object Lock).")
@click.option("--image", required=True, metavar="IMAGE@sha256:...", help="kubefort's image, pinned by digest.")
@click.option(
    "--namespace", "run_namespace", default="kubefort-backup", show_default=True, help="Where the CronJobs run."
)
@click.option("--schedule", "cron", default="0 2 * * *", show_default=True, help="Cron schedule of the backups.")
@click.option("--drill-schedule", default="0 4 * * 0", show_default=True, help="Cron schedule of the restore drill.")
@click.option("--drill-prefix", default="drill-", show_default=True, help="Scratch namespace of NS: PREFIX+NS.")
@click.option(
    "--object-lock-days", type=int, default=30, show_default=True, help="Retention policy checked by the jobs."
)
@click.option("--s3-endpoint", default=None, help="S3-compatible endpoint URL.")
@click.option(
    "--resource", "resources", multiple=True, metavar="GROUP/RESOURCE", help="Custom resources to back up too."
)
@click.option(
    "--restic-repository",
    default=None,
    metavar="s3:ENDPOINT/BUCKET/PREFIX",
    help="Volume data too: the restic repository of the Jobs the backup runs (a bucket with Object Lock); the "
    "drill restores it and compares every volume.",
)
@click.option("--restic-image", default=None, metavar="IMAGE@sha256:...", help="restic image, pinned by digest.")
@click.option(
    "--secret",
    "volume_secret",
    default="kubefort-volume-backup",
    show_default=True,
    help="Secret of each backed-up namespace with restic's password and the bucket credentials (files).",
)
@click.option(
    "--volume-user",
    type=click.IntRange(1),
    default=65532,
    show_default=True,
    help="UID (and GID, fsGroup) the volume Jobs run as: one that can read the application's files.",
)
@click.option(
    "--snapshots/--no-snapshots",
    default=True,
    show_default=True,
    help="Back up from CSI VolumeSnapshots where the class has a VolumeSnapshotClass (--no-snapshots: no "
    "rights on snapshots and claims are granted).",
)
def schedule_cmd(
    namespaces: tuple[str, ...],
    repo: str,
    image: str,
    run_namespace: str,
    cron: str,
    drill_schedule: str,
    drill_prefix: str,
    object_lock_days: int,
    s3_endpoint: str | None,
    resources: tuple[str, ...],
    restic_repository: str | None,
    restic_image: str | None,
    volume_secret: str,
    volume_user: int,
    snapshots: bool,
) -> None:
    """Print the CronJobs (namespace backups; a weekly restore drill into scratch namespaces) and their
    least-privilege RBAC, as YAML to review and apply. With --restic-repository the volume data too. See
    docs/app-backup.md."""
    import yaml

    from ..etcd.backup.schedule import ScheduleSpec, schedule_manifests

    spec = ScheduleSpec(
        namespaces=namespaces,
        repo=repo,
        image=image,
        namespace=run_namespace,
        schedule=cron,
        drill_schedule=drill_schedule,
        drill_prefix=drill_prefix,
        object_lock_days=object_lock_days,
        s3_endpoint=s3_endpoint,
        resources=resources,
        restic_repository=restic_repository,
        restic_image=restic_image,
        volume_secret=volume_secret,
        volume_user=volume_user,
        snapshots=snapshots,
    )
    sys.stdout.write(yaml.safe_dump_all(schedule_manifests(spec), sort_keys=False))


@backup_group.command("list")
@repo_options
@click.option("--format", "-o", "fmt", type=FORMAT, default="table", show_default=True)
def list_cmd(repo: str, key_file: str, s3_endpoint: str | None, object_lock_days: int, fmt: str) -> None:
    """List the backups of a repository (pruned ones excluded; the chain is checked)."""
    from ..etcd.backup.ops import list_backups
    from ..reporters.backup import render_issues, render_list

    items, chain = list_backups(_repo(repo, key_file, s3_endpoint, object_lock_days))
    render_list(items, Format(fmt), sys.stdout)
    render_issues(chain.issues, sys.stderr)
    sys.exit(0 if chain.ok else 1)


@backup_group.command("verify")
@click.argument("backup_id", required=False)
@repo_options
@click.option("--quick", is_flag=True, help="Check presence and sizes only, do not decrypt.")
@click.option("-o", "--format", "fmt", type=FORMAT, default="table", show_default=True)
@click.option(
    "--restic-repository",
    default=None,
    metavar="s3:ENDPOINT/BUCKET/PREFIX",
    help="Volume data: check that every restic snapshot the namespace backups record is in this restic "
    "repository (and, unless --quick, 'restic check --read-data'). S3 credentials: restic's environment.",
)
@click.option(
    "--restic-password-file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="The restic repository's password file.",
)
def verify_cmd(
    backup_id: str | None,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    quick: bool,
    fmt: str,
    restic_repository: str | None,
    restic_password_file: str | None,
) -> None:
    """Verify the manifest chain (signatures, order, HEAD) and every backup (or BACKUP_ID): blob present,
    SHA-256, authenticated decryption, content hash. With --object-lock-days N (the retention policy):
    the bucket's Object Lock and every blob's retention must last N days. With --restic-repository: the
    volume data's snapshots are all there and sound. Exit 1 on any problem."""
    from ..etcd.backup.ops import verify
    from ..etcd.backup.volumes import restic_env
    from ..reporters.backup import render_verify

    env = None
    if restic_repository is not None:
        if restic_password_file is None:
            raise UsageError("--restic-repository needs --restic-password-file")
        env = restic_env(restic_repository, "", {"RESTIC_PASSWORD_FILE": restic_password_file})
        env.pop("RESTIC_PASSWORD", None)
    elif restic_password_file is not None:
        raise UsageError("--restic-password-file is for --restic-repository")
    res = verify(
        _repo(repo, key_file, s3_endpoint, object_lock_days),
        backup_id,
        deep=not quick,
        lock_days=object_lock_days,
        restic=env,
    )
    render_verify(res.to_dict(), Format(fmt), sys.stdout)
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
@click.option("-o", "--format", "fmt", type=FORMAT, default="table", show_default=True)
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
    from ..reporters.backup import render_prune

    res = prune(
        _repo(repo, key_file, s3_endpoint, object_lock_days),
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        dry_run=dry_run,
    )
    render_prune(res, Format(fmt), sys.stdout, sys.stderr)


@backup_group.command("restore")
@click.argument("backup_id")
@repo_options
@click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="etcd backups: new etcd data directory (must not exist or be empty).",
)
@click.option(
    "--to-context",
    default=None,
    metavar="NAME",
    help="Namespace backups: restore into the cluster of this kubeconfig context (required for them; "
    "'in-cluster': the pod's service account).",
)
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None, help="Namespace backups: kubeconfig file.")
@click.option(
    "--namespace-map", multiple=True, metavar="OLD=NEW", help="Namespace backups: restore namespace OLD as NEW."
)
@click.option(
    "--storage-class-map", multiple=True, metavar="OLD=NEW", help="Namespace backups: claims of class OLD get NEW."
)
@click.option("--dry-run", is_flag=True, help="Namespace backups: only say what would be applied.")
@click.option(
    "--replace-namespaces",
    is_flag=True,
    help="Namespace backups, drills into scratch namespaces: delete every target namespace first and wait "
    "until it is gone (every namespace must be mapped to another name with --namespace-map).",
)
@click.option(
    "--replace-volume-data",
    is_flag=True,
    help="Namespace backups with --restic-repository: the restore Jobs first empty each claim (restic leaves "
    "files the backup does not have), as a weekly drill into the same scratch namespaces needs.",
)
@click.option("-o", "--format", "fmt", type=FORMAT, default="table", show_default=True)
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
@volume_options
def restore_cmd(
    backup_id: str,
    repo: str,
    key_file: str,
    s3_endpoint: str | None,
    object_lock_days: int,
    data_dir: str | None,
    to_context: str | None,
    kubeconfig: str | None,
    namespace_map: tuple[str, ...],
    storage_class_map: tuple[str, ...],
    dry_run: bool,
    replace_namespaces: bool,
    replace_volume_data: bool,
    fmt: str,
    name: str,
    peer_url: str,
    initial_cluster_token: str,
    objects_dir: str | None,
    restic_repository: str | None,
    restic_image: str | None,
    kubefort_image: str | None,
    volume_secret: str,
    volume_user: int,
    volume_timeout: float,
) -> None:
    """Restore a backup. etcd: decrypt and check it, then 'etcdctl snapshot restore' it into --data-dir.
    Namespaces: apply the objects to the cluster of --to-context in dependency order (CRDs, namespaces,
    RBAC, config, storage, services, workloads, others) with server-side apply, then read every object
    back and compare it (the drill report); exit 1 when one is missing or different."""
    from ..etcd.backup.app import APP_KIND, find_backup, parse_map, restore_namespaces
    from ..etcd.backup.ops import restore
    from ..loading.cluster import ClusterSource
    from ..reporters.backup import render_app_restore, render_restore

    backups = _repo(repo, key_file, s3_endpoint, object_lock_days)
    if backup_id == "latest" or find_backup(backups, backup_id).get("kind") == APP_KIND:
        if to_context is None:
            raise UsageError(f"backup {backup_id} is a namespace backup: give --to-context CONTEXT")
        if to_context == "in-cluster" and kubeconfig:
            raise UsageError("--to-context in-cluster uses the pod's service account: no --kubeconfig")
        if replace_volume_data and restic_repository is None:
            raise UsageError("--replace-volume-data is for volume data: give --restic-repository")
        target = _volume_target(
            restic_repository,
            restic_image,
            kubefort_image,
            volume_secret,
            volume_user,
            replace_data=replace_volume_data,
        )
        line = StatusLine() if target is not None and enabled() else None
        try:
            res = restore_namespaces(
                backups,
                backup_id,
                ClusterSource(kubeconfig=kubeconfig, context=None if to_context == "in-cluster" else to_context),
                namespace_map=parse_map(namespace_map, "--namespace-map"),
                storage_class_map=parse_map(storage_class_map, "--storage-class-map"),
                dry_run=dry_run,
                volumes=target,
                volume_timeout=volume_timeout,
                progress=line.show if line else None,
                replace_namespaces=replace_namespaces,
            )
        finally:
            if line:
                line.clear()
        render_app_restore(res.to_dict(), Format(fmt), sys.stdout)
        sys.exit(0 if res.ok else 1)
    if data_dir is None:
        raise UsageError(f"backup {backup_id} is an etcd backup: give --data-dir DIR")
    if to_context or namespace_map or storage_class_map or dry_run or restic_repository or replace_namespaces:
        raise UsageError(
            "--to-context, --namespace-map, --storage-class-map, --dry-run, --restic-repository and "
            "--replace-namespaces are for namespace backups"
        )
    res_etcd = restore(
        backups,
        backup_id,
        data_dir,
        name=name,
        peer_url=peer_url,
        cluster_token=initial_cluster_token,
        objects_dir=objects_dir,
    )
    render_restore(res_etcd, sys.stdout)


@backup_group.command("drill")
@click.argument("backup_id")
@repo_options
@click.option("-o", "--format", "fmt", type=FORMAT, default="table", show_default=True)
def drill_cmd(
    backup_id: str, repo: str, key_file: str, s3_endpoint: str | None, object_lock_days: int, fmt: str
) -> None:
    """Restore a backup into a temporary etcd on 127.0.0.1, start it, compare every key, value and revision
    with the digest recorded at backup time, report the recovery time, stop and remove it."""
    from ..etcd.backup.ops import drill
    from ..reporters.backup import render_drill

    res = drill(_repo(repo, key_file, s3_endpoint, object_lock_days), backup_id)
    render_drill(res.to_dict(), Format(fmt), sys.stdout)
    sys.exit(0 if res.ok else 1)
