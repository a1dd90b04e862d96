"""Volume data of namespace backups: restic (an existing, trusted backup engine: encrypted, deduplicated)
into an S3 bucket with Object Lock; kubefort writes no data mover of its own.

- :func:`volume_jobs`: for each PersistentVolumeClaim of a namespace backup, the Job that backs it up
  in the cluster: restic mounting the claim read-only or, when the claim's StorageClass has a
  VolumeSnapshotClass of the same CSI driver, a VolumeSnapshot, a claim made from it and the Job
  reading that clone (the application keeps writing meanwhile);
- :func:`volume_restore_jobs`: the Jobs restoring each claim's recorded snapshot into the restored
  claim; with ``VolumeTarget.report_image`` every Job ends with kubefort's ``report`` container
  (:func:`digest_report` as its termination message), which :mod:`.jobs` reads back;
- :func:`restic_backup` / :func:`restic_restore` / :func:`tree_digest`: restic run on a directory
  (the tests and the benchmark use a directory standing in for a volume) and the file count and
  checksum a restore must reproduce;
- :func:`object_lock_issues`: the bucket's Object Lock (enabled, default retention, mode) against a
  retention policy, what ``backup verify`` checks before it trusts an S3 repository to be immutable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from .repo import RepoIssue

MANAGED_BY = {"app.kubernetes.io/managed-by": "kubefort", "app.kubernetes.io/component": "volume-backup"}
SERVICE_ACCOUNT = "kubefort-volume-backup"


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeTarget:
    """Where and how restic writes: ``repository`` is ``s3:<endpoint>/<bucket>/<prefix>``; ``image`` a
    restic image pinned by digest (from the operator's registry: kubefort names none); the credentials
    are files of a Secret of the namespace (``password``: restic's repository password,
    ``credentials``: an AWS shared-credentials file), mounted read-only, never environment values."""

    repository: str
    image: str
    secret: str = "kubefort-volume-backup"
    run_as_user: int = 65532
    #: kubefort's own image (pinned by digest): when given, restic runs as an init container and a
    #: ``report`` container (``kubefort backup volume-digest /data``) writes the volume's file count and
    #: SHA-256 tree digest as its termination message, which kubefort reads back from the Pod's status
    report_image: str = ""
    #: back up from CSI VolumeSnapshots where the claim's class has a VolumeSnapshotClass (False: every
    #: claim is mounted read-only itself, and the backup needs no right on snapshots and claims)
    snapshots: bool = True
    #: restore Jobs first empty the claim (an init container ``kubefort backup volume-clear /data`` of
    #: ``report_image``): restic restores over what a claim holds and leaves files the backup does not
    #: have, so a drill restoring into last week's scratch claims would differ (``--replace-volume-data``)
    replace_data: bool = False


#: where the claim is mounted in the Jobs' containers (restic backs up ``.`` from there, so snapshots
#: hold paths relative to the volume and restore into any mount point)
DATA = "/data"


def volume_jobs(
    objects: Iterable[Mapping[str, Any]],
    target: VolumeTarget,
    snapshot_drivers: Iterable[str] = (),
    *,
    run: str = "",
) -> list[dict[str, Any]]:
    """The manifests that back up the claims among ``objects`` (the objects of a namespace backup).
    ``snapshot_drivers``: the CSI drivers that have a VolumeSnapshotClass in the cluster. ``run``: a
    suffix for the names of the per-claim objects (a Job cannot be created twice under one name: each
    backup that kubefort runs itself gets its own)."""
    objs = list(objects)
    classes = {
        o["metadata"]["name"]: str(o.get("provisioner") or "")
        for o in objs
        if o.get("kind") == "StorageClass" and str(o.get("apiVersion", "")).startswith("storage.k8s.io/")
    }
    drivers = set(snapshot_drivers)
    out: list[dict[str, Any]] = []
    namespaces: list[str] = []
    for o in objs:
        if o.get("kind") != "PersistentVolumeClaim" or o.get("apiVersion") != "v1":
            continue
        md, spec = o["metadata"], o.get("spec") or {}
        ns, claim = str(md["namespace"]), str(md["name"])
        if ns not in namespaces:
            namespaces.append(ns)
            out += _namespace_objects(ns)
        sc = spec.get("storageClassName")
        mount = claim
        if sc in classes and classes[sc] in drivers:
            snap = _name(f"kubefort-{claim}", run)
            out.append(
                {
                    "apiVersion": "snapshot.storage.k8s.io/v1",
                    "kind": "VolumeSnapshot",
                    "metadata": {"name": snap, "namespace": ns, "labels": dict(MANAGED_BY)},
                    "spec": {"source": {"persistentVolumeClaimName": claim}},
                }
            )
            mount = _name(f"kubefort-{claim}-clone", run)
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": mount, "namespace": ns, "labels": dict(MANAGED_BY)},
                    "spec": {
                        "storageClassName": sc,
                        "accessModes": ["ReadOnlyMany"]
                        if "ReadOnlyMany" in spec.get("accessModes", [])
                        else ["ReadWriteOnce"],
                        "resources": spec.get("resources") or {},
                        "dataSource": {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": snap},
                    },
                }
            )
        out.append(_job(ns, claim, mount, target, name=_name(f"kubefort-backup-{claim}", run)))
    return out


def _name(base: str, run: str) -> str:
    """``base`` with the run suffix, within the 63 characters of a label value (Jobs label their Pods
    with their name)."""
    if not run:
        return base[:63]
    return f"{base[: 62 - len(run)].rstrip('-.')}-{run}"


def _namespace_objects(ns: str) -> list[dict[str, Any]]:
    """The Jobs' own ServiceAccount (no API rights, no token mounted) and a NetworkPolicy: no ingress,
    egress to DNS and HTTPS (the bucket) only."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns, "labels": dict(MANAGED_BY)},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "kubefort-volume-backup", "namespace": ns, "labels": dict(MANAGED_BY)},
            "spec": {
                "podSelector": {"matchLabels": dict(MANAGED_BY)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [
                    {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {"ports": [{"protocol": "TCP", "port": 443}]},
                ],
            },
        },
    ]


def volume_restore_jobs(
    objects: Iterable[Mapping[str, Any]],
    target: VolumeTarget,
    namespace_map: Mapping[str, str] | None = None,
    *,
    snapshots: Mapping[tuple[str, str], str] | None = None,
    run: str = "",
) -> list[dict[str, Any]]:
    """The Jobs that restore each claim's restic snapshot into the restored claim, to run after the claims
    are applied and before the workloads: the claim is mounted read-write at ``/data`` and restic
    restores the snapshot there. ``snapshots``: (namespace at backup time, claim) -> the snapshot ID
    the backup recorded; a claim without one gets its newest snapshot (host: its namespace at backup
    time, tag ``pvc=<claim>``)."""
    mapping = dict(namespace_map or {})
    recorded = dict(snapshots or {})
    out: list[dict[str, Any]] = []
    namespaces: list[str] = []
    for o in objects:
        if o.get("kind") != "PersistentVolumeClaim" or o.get("apiVersion") != "v1":
            continue
        old_ns, claim = str(o["metadata"]["namespace"]), str(o["metadata"]["name"])
        ns = mapping.get(old_ns, old_ns)
        if ns not in namespaces:
            namespaces.append(ns)
            out += _namespace_objects(ns)
        snap = recorded.get((old_ns, claim))
        out.append(
            _job(ns, claim, claim, target, name=_name(f"kubefort-restore-{claim}", run), restore=snap or "latest")
        )
        if snap is None:
            pod = out[-1]["spec"]["template"]["spec"]
            restic = next(c for c in (*pod.get("initContainers", ()), *pod["containers"]) if c["name"] == "restic")
            restic["args"] = ["restore", "latest", "--host", old_ns, "--tag", f"pvc={claim}", "--target", DATA]
    return out


def _job(ns: str, claim: str, mount: str, target: VolumeTarget, *, name: str, restore: str = "") -> dict[str, Any]:
    """A Job running restic on the claim ``mount`` (backing up ``claim``), or with ``restore`` (a
    snapshot ID) restoring that snapshot into it; with ``target.report_image``, followed by the
    ``report`` container that writes the volume's file count and digest as its termination message."""
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    if restore:
        args = ["restore", restore, "--target", DATA]
    else:
        args = ["backup", ".", "--host", ns, "--tag", f"pvc={claim}", "--json"]
    restic: dict[str, Any] = {
        "name": "restic",
        "image": target.image,
        "imagePullPolicy": "Always",
        "args": args,
        "workingDir": DATA,
        "env": [
            {"name": "RESTIC_REPOSITORY", "value": target.repository},
            {"name": "RESTIC_CACHE_DIR", "value": "/cache"},
            {"name": "RESTIC_PASSWORD_FILE", "value": "/secrets/password"},
            {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/secrets/credentials"},
        ],
        # restic's last error lines become the termination message when it fails: the reason kubefort reports
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": dict(security),
        "resources": {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "1Gi"},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": DATA, **({} if restore else {"readOnly": True})},
            {"name": "cache", "mountPath": "/cache"},
            {"name": "secrets", "mountPath": "/secrets", "readOnly": True},
        ],
    }
    claim_volume: dict[str, Any] = {"claimName": mount} if restore else {"claimName": mount, "readOnly": True}
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": target.run_as_user,
            "runAsGroup": target.run_as_user,
            "fsGroup": target.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [restic],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": claim_volume},
            {"name": "cache", "emptyDir": {"sizeLimit": "2Gi"}},
            {"name": "secrets", "secret": {"secretName": target.secret, "defaultMode": 0o440}},
        ],
    }
    if target.report_image:
        pod["initContainers"] = [restic]
        if restore and target.replace_data:
            clear = {
                "name": "clear",
                "image": target.report_image,
                "imagePullPolicy": "Always",
                "args": ["backup", "volume-clear", DATA],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": dict(security),
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "256Mi"},
                },
                "volumeMounts": [{"name": "data", "mountPath": DATA}],
            }
            pod["initContainers"] = [clear, restic]
        pod["containers"] = [
            {
                "name": "report",
                "image": target.report_image,
                "imagePullPolicy": "Always",
                "args": ["backup", "volume-digest", DATA, "--termination-log", TERMINATION_LOG],
                "terminationMessagePath": TERMINATION_LOG,
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "securityContext": dict(security),
                "resources": {
                    "requests": {"cpu": "100m", "memory": "64Mi"},
                    "limits": {"cpu": "1", "memory": "256Mi"},
                },
                "volumeMounts": [{"name": "data", "mountPath": DATA, "readOnly": True}],
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED_BY)},
        "spec": {
            "backoffLimit": 2,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": dict(MANAGED_BY)}, "spec": pod},
        },
    }


TERMINATION_LOG = "/dev/termination-log"


def digest_report(root: str) -> dict[str, Any]:
    """What the ``report`` container writes as its termination message (well under the kubelet's 4096
    bytes): the volume's file count and :func:`tree_digest`."""
    files, digest = tree_digest(root)
    return {"files": files, "sha256": digest}


def parse_report(message: str) -> dict[str, Any] | None:
    """The report of a ``report`` container's termination message, or None when it is not one."""
    try:
        doc = json.loads(message)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), int) or not isinstance(doc.get("sha256"), str):
        return None
    return {"files": doc["files"], "sha256": doc["sha256"]}


def restic_summary(log: str) -> dict[str, Any] | None:
    """The summary line ``restic backup --json`` ends its output with (``snapshot_id``, file and byte
    counts), from a container's log; None when there is none."""
    found = None
    for line in log.splitlines():
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict) and doc.get("message_type") == "summary":
                found = doc
    return found


# -- restic on a directory ---------------------------------------------------------------------------


def _restic(args: list[str], env: Mapping[str, str], *, timeout: float = 3600) -> str:
    exe = shutil.which("restic")
    if exe is None:
        raise UsageError("restic not found on PATH (Debian: apt-get install restic)")
    p = subprocess.run([exe, *args], env=dict(env), capture_output=True, text=True, timeout=timeout, check=False)
    if p.returncode != 0:
        lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
        raise UsageError(f"restic {args[0]} failed: {lines[-1] if lines else p.returncode}")
    return p.stdout


def restic_env(repository: str, password: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment restic runs with: the caller's, the repository and password, ``extra`` (S3 keys)."""
    return {**os.environ, "RESTIC_REPOSITORY": repository, "RESTIC_PASSWORD": password, **(extra or {})}


def restic_init(env: Mapping[str, str]) -> None:
    """Create the restic repository unless it exists."""
    try:
        _restic(["cat", "config"], env)
    except UsageError:
        _restic(["init"], env)


def restic_backup(path: str, env: Mapping[str, str], *, tags: Iterable[str] = ()) -> dict[str, Any]:
    """``restic backup path``: the summary restic prints (``snapshot_id``, ``total_bytes_processed``...)."""
    args = ["backup", path, "--json"]
    for t in tags:
        args += ["--tag", t]
    summary: dict[str, Any] = {}
    for line in _restic(args, env).splitlines():
        with_type = json.loads(line) if line.startswith("{") else {}
        if with_type.get("message_type") == "summary":
            summary = with_type
    if not summary:
        raise UsageError("restic backup printed no summary")
    return summary


def clear_tree(root: str) -> int:
    """Delete everything under the directory ``root`` (not ``root`` itself; symbolic links are removed,
    never followed): the claim a restore Job restores into with ``replace_data``. The number of entries
    removed at the top. Refuses ``/`` and anything that is not a directory."""
    real = os.path.realpath(root)
    if real == os.path.sep or not os.path.isdir(real) or os.path.islink(root):
        raise ValueError(f"{root}: not a volume directory to clear")
    n = 0
    with os.scandir(real) as it:
        entries = list(it)
    for e in entries:
        if e.is_dir(follow_symlinks=False):
            shutil.rmtree(e.path)
        else:
            os.unlink(e.path)
        n += 1
    return n


def restic_restore(snapshot: str, target: str, env: Mapping[str, str]) -> None:
    _restic(["restore", snapshot, "--target", target], env)


def restic_snapshot_ids(env: Mapping[str, str]) -> set[str]:
    """The IDs (full and short) of every snapshot the restic repository lists: a snapshot a backup
    recorded and restic no longer lists was forgotten or deleted."""
    out: set[str] = set()
    for snap in json.loads(_restic(["snapshots", "--json", "--no-lock"], env) or "[]") or []:
        out.update(str(snap[k]) for k in ("id", "short_id") if snap.get(k))
    return out


def restic_check(env: Mapping[str, str], *, read_data: bool) -> str | None:
    """``restic check`` (with ``--read-data``: every pack read and its blobs' hashes checked): None when
    the repository is sound, else restic's last error line."""
    try:
        _restic(["check", *(["--read-data"] if read_data else [])], env)
    except UsageError as e:
        return str(e)
    return None


def tree_digest(root: str) -> tuple[int, str]:
    """(file count, SHA-256 over every file's path relative to ``root`` and its content, in path order):
    what a restored volume must reproduce."""
    h = hashlib.sha256()
    n = 0
    paths = []
    for d, _dirs, files in os.walk(root):
        paths += [os.path.join(d, f) for f in files]
    for p in sorted(paths):
        rel = os.path.relpath(p, root).encode()
        h.update(len(rel).to_bytes(4, "big") + rel)
        fh = hashlib.sha256()
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                fh.update(chunk)
        h.update(fh.digest())
        n += 1
    return n, h.hexdigest()


# -- Object Lock -------------------------------------------------------------------------------------


def object_lock_issues(s3: Any, bucket: str, days: int) -> list[RepoIssue]:
    """What keeps ``bucket`` from holding backups immutably for ``days``: Object Lock not enabled, no
    default retention or a shorter one (errors); GOVERNANCE mode, which a principal with
    ``s3:BypassGovernanceRetention`` can lift (warning: COMPLIANCE cannot be lifted by anyone)."""
    try:
        cfg = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration") or {}
    except Exception as e:
        return [
            RepoIssue("error", f"bucket {bucket}: no Object Lock configuration ({_code(e)}): backups can be deleted")
        ]
    if cfg.get("ObjectLockEnabled") != "Enabled":
        return [RepoIssue("error", f"bucket {bucket}: Object Lock is not enabled: backups can be deleted")]
    rule = (cfg.get("Rule") or {}).get("DefaultRetention") or {}
    have = int(rule.get("Days") or 0) + 365 * int(rule.get("Years") or 0)
    out = []
    if have < days:
        what = f"{have} days" if have else "none"
        out.append(RepoIssue("error", f"bucket {bucket}: default retention is {what}, the policy asks for {days} days"))
    if rule and rule.get("Mode") != "COMPLIANCE":
        out.append(
            RepoIssue(
                "warning",
                f"bucket {bucket}: retention mode {rule.get('Mode')}: lifted by whoever holds "
                "s3:BypassGovernanceRetention (COMPLIANCE cannot be lifted)",
            )
        )
    return out


def restic_bucket(repository: str) -> tuple[str, str] | None:
    """(endpoint URL, bucket) of a restic ``s3:`` repository (``s3:https://host/bucket/prefix``,
    ``s3:host/bucket``: HTTPS), or None for another backend."""
    if not repository.startswith("s3:"):
        return None
    rest, scheme = repository[3:], "https"
    if "://" in rest:
        scheme, _, rest = rest.partition("://")
    host, _, path = rest.partition("/")
    bucket = path.split("/")[0]
    if not host or not bucket:
        raise UsageError(f"restic repository {repository}: expected s3:ENDPOINT/BUCKET[/PREFIX]")
    return f"{scheme}://{host}", bucket


def restic_lock_issues(repository: str, days: int, client: Any = None) -> list[RepoIssue]:
    """:func:`object_lock_issues` for the bucket of a restic repository (the volume data must be as
    immutable as the objects); another backend cannot enforce a retention. ``client``: a boto3 S3
    client (default: one for the repository's endpoint, credentials from the environment)."""
    where = restic_bucket(repository)
    if where is None:
        return [RepoIssue("error", f"restic repository {repository}: not an S3 bucket, it cannot enforce a retention")]
    endpoint, bucket = where
    if client is None:
        try:
            import boto3
        except ImportError:
            raise UsageError("checking the restic bucket's Object Lock needs boto3: pip install boto3") from None
        client = boto3.client("s3", endpoint_url=endpoint)
    return object_lock_issues(client, bucket, days)


def retention_issue(head: Mapping[str, Any], created: dt.datetime, days: int, name: str) -> RepoIssue | None:
    """The object of ``head`` (an S3 HeadObject answer) must be retained ``days`` after ``created``."""
    until = head.get("ObjectLockRetainUntilDate")
    if until is None:
        return RepoIssue("error", f"{name}: no Object Lock retention: it can be deleted")
    if until < created + dt.timedelta(days=days) - dt.timedelta(hours=1):
        return RepoIssue(
            "error", f"{name}: retained until {until:%Y-%m-%dT%H:%M:%SZ}, shorter than the policy of {days} days"
        )
    return None


def _code(e: Exception) -> str:
    resp = getattr(e, "response", None)
    return str(((resp or {}).get("Error") or {}).get("Code") or type(e).__name__)
