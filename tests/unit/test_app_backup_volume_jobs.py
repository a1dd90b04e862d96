"""Namespace backups with their volume data, end to end: ``kubefort backup namespace --restic-repository``
creates the restic Jobs in the (test) cluster and waits for them, ``kubefort backup restore`` restores
the data into the new claims of an empty second cluster before the workloads, and the drill compares
each volume's file count and digest with the backup's.

Real components: restic (Debian's package) writing to moto's S3 server with Object Lock in compliance
mode, and kubefort's report command, both run by the job runner stand-in (``kubeapi.jobs``) with the
arguments, environment and mounts of the Jobs kubefort generated (directories stand in for the claims,
the restic password and bucket credentials are the Secret's keys as files). Not real: the API servers
(``kubeapi.server``), the Job controller, the kubelet and the CSI snapshotter (``kubeapi.jobs``)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import S3_CREDS
from kubeapi.jobs import JobRunner, kubefort_image, restic_image
from kubeapi.server import KubeAPIServer
from kubeapi.store import Store
from kubefort.cli import cli
from kubefort.etcd.backup.keys import generate, write_key_file
from kubefort.etcd.backup.volumes import restic_env, restic_init, tree_digest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed (make tools)"),
]

PASSWORD = "restic-volume-password"
RESTIC = "registry.example.com/restic/restic@sha256:" + "a" * 64
KUBEFORT = "registry.example.com/kubefort@sha256:" + "c" * 64


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def objects() -> list[dict[str, Any]]:
    """A database namespace: a claim of a class with a VolumeSnapshotClass (backed up from a snapshot),
    one without (mounted read-only), the Secret the Jobs mount, and the workloads using the claims."""
    creds = f"[default]\naws_access_key_id = {S3_CREDS['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = {S3_CREDS['AWS_SECRET_ACCESS_KEY']}\n"

    def claim(name: str, sc: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "db"},
            "spec": {
                "storageClassName": sc,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        }

    pod = {
        "containers": [
            {"name": "pg", "image": "postgres:16", "volumeMounts": [{"name": "d", "mountPath": "/var/lib/pg"}]}
        ],
        "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data-pg-0"}}],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "db"}},
        claim("data-pg-0", "csi"),
        claim("uploads", "nfs"),
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "csi"},
            "provisioner": "ebs.csi.aws.com",
        },
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": "nfs"},
            "provisioner": "nfs.io/x",
        },
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": "ebs"},
            "driver": "ebs.csi.aws.com",
            "deletionPolicy": "Retain",
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "kubefort-volume-backup", "namespace": "db"},
            "type": "Opaque",
            "data": {"password": b64(PASSWORD), "credentials": b64(creds)},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "pg", "namespace": "db"},
            "spec": {
                "serviceName": "pg",
                "selector": {"matchLabels": {"app": "pg"}},
                "template": {"metadata": {"labels": {"app": "pg"}}, "spec": pod},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "pg", "namespace": "db"},
            "spec": {"clusterIP": "None", "selector": {"app": "pg"}, "ports": [{"port": 5432}]},
        },
    ]


def cluster(with_objects: bool) -> Store:
    store = Store(writable=True)
    store.load_cluster(objects() if with_objects else [], {"VolumeSnapshotClass": False})
    # the snapshot API is served (the external snapshotter's CRDs are installed)
    store.type_for("snapshot.storage.k8s.io/v1", "VolumeSnapshot", namespaced=True)
    store.type_for("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", namespaced=False)
    return store


def fill(root: Path, seed: int) -> Path:
    """A directory standing in for a volume: nested files, an empty one, binary content."""
    rng = __import__("random").Random(seed)
    (root / "base" / "16384").mkdir(parents=True)
    for i in range(12):
        (root / "base" / "16384" / str(i)).write_bytes(rng.randbytes(3000 + 100 * i) + b"\0" * 4000)
    (root / "PG_VERSION").write_text("16\n")
    (root / "empty").write_bytes(b"")
    return root


class World:
    """Two test API servers (the source with the application, an empty target), each with a job runner,
    a repository and a key, a locked bucket for restic."""

    def __init__(self, tmp: Path, endpoint: str, s3: Any, bucket: str) -> None:
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}},
            },
        )
        self.restic_repo = f"s3:{endpoint}/{bucket}/restic"
        (tmp / "restic-password").write_text(PASSWORD)
        self.env = restic_env(self.restic_repo, PASSWORD)
        restic_init(self.env)
        self.tmp = tmp
        write_key_file(generate(), str(tmp / "key.json"))
        self.common = ["--repo", str(tmp / "repo"), "--key-file", str(tmp / "key.json")]
        self.volume_args = [
            "--restic-repository",
            self.restic_repo,
            "--restic-image",
            RESTIC,
            "--kubefort-image",
            KUBEFORT,
        ]
        self.verify_args = [
            "--restic-repository",
            self.restic_repo,
            "--restic-password-file",
            str(tmp / "restic-password"),
        ]
        self.source, self.target = cluster(True), cluster(False)
        self.data = fill(tmp / "vol-pg", 1)
        self.uploads = fill(tmp / "vol-uploads", 2)

    def __enter__(self) -> World:
        images = {RESTIC: restic_image(), KUBEFORT: kubefort_image()}
        self.src_api = KubeAPIServer(self.source).start()
        self.dst_api = KubeAPIServer(self.target).start()
        self.src_runner = JobRunner(self.src_api, images, self.tmp / "src-node").__enter__()
        self.dst_runner = JobRunner(self.dst_api, images, self.tmp / "dst-node").__enter__()
        self.src_runner.volumes[("db", "data-pg-0")] = self.data
        self.src_runner.volumes[("db", "uploads")] = self.uploads
        self.src = self.src_api.kubeconfig(self.tmp / "src.kubeconfig")
        self.dst = self.dst_api.kubeconfig(self.tmp / "dst.kubeconfig")
        return self

    def __exit__(self, *exc: object) -> None:
        self.src_runner.__exit__()
        self.dst_runner.__exit__()
        self.src_api.stop()
        self.dst_api.stop()

    def backup(self) -> dict[str, Any]:
        r = CliRunner().invoke(
            cli,
            ["backup", "namespace", "db", "--kubeconfig", self.src, *self.common, *self.volume_args, "-o", "json"],
        )
        assert r.exit_code == 0, r.output
        rec: dict[str, Any] = json.loads(r.stdout)
        return rec

    def restore(self, backup_id: str, *extra: str) -> Any:
        return CliRunner().invoke(
            cli,
            [
                "backup",
                "restore",
                backup_id,
                "--kubeconfig",
                self.dst,
                "--to-context",
                "cert",
                *self.common,
                "--namespace-map",
                "db=db-restored",
                *self.volume_args,
                *extra,
            ],
        )

    def verify(self) -> Any:
        return CliRunner().invoke(cli, ["backup", "verify", *self.common, *self.verify_args])


def test_volumes_backed_up_restored_and_drilled(s3: Any, endpoint: str, tmp_path: Path) -> None:
    with World(tmp_path, endpoint, s3, "volumes-e2e") as w:
        rec = w.backup()
        assert rec["app"]["volumes"] == {"backed_up": 2, "failed": 0}
        vols = {v["claim"]: v for v in rec["volumes"]}
        for claim, d in (("data-pg-0", w.data), ("uploads", w.uploads)):
            files, digest = tree_digest(str(d))
            assert vols[claim]["ok"] and (vols[claim]["files"], vols[claim]["sha256"]) == (files, digest), vols[claim]
            assert vols[claim]["snapshot"]
        assert vols["data-pg-0"]["files"] == 14
        # the claim of a class with a VolumeSnapshotClass was read from a snapshot's clone, which is gone now
        ran = [j for _, j in w.src_runner.ran]
        assert len(ran) == 2 and all(j.startswith("kubefort-backup-") for j in ran)
        assert not w.source.types[("snapshot.storage.k8s.io", "volumesnapshots")].objects
        assert set(w.source.types[("", "persistentvolumeclaims")].objects) == {("db", "data-pg-0"), ("db", "uploads")}
        # restic recorded the volume's own paths (relative), under the namespace as host and the claim as tag
        snaps = json.loads(
            __import__("subprocess")
            .run(["restic", "snapshots", "--json"], env=w.env, capture_output=True, check=True)
            .stdout
        )
        by_id = {s["id"]: s for s in snaps}
        snap = next(s for i, s in by_id.items() if i.startswith(vols["uploads"]["snapshot"]))
        assert snap["hostname"] == "db" and snap["tags"] == ["pvc=uploads"]
        assert w.verify().exit_code == 0

        r = w.restore(rec["id"], "--dry-run")
        assert r.exit_code == 0 and "would restore db-restored/uploads from snapshot" in r.stdout, r.output
        assert not w.target.types[("batch", "jobs")].objects  # nothing run in a dry run
        r = w.restore(rec["id"])
        assert r.exit_code == 0, r.output
        assert "volumes    restored     db-restored/uploads" in r.stdout and "volumes 2/2 equal" in r.stdout
        # the data is in the new claims, equal to the source volumes
        for claim, d in (("data-pg-0", w.data), ("uploads", w.uploads)):
            assert tree_digest(str(w.dst_runner.volumes[("db-restored", claim)])) == tree_digest(str(d))
        # the restore Jobs ran after the claims were applied and before the workloads
        events = [(e.rtype.kind, e.obj["metadata"]["name"], e.type) for e in w.target.events if e.type == "ADDED"]
        order = [k for k, _, _ in events]
        first_job = order.index("Job")
        assert order.index("PersistentVolumeClaim") < first_job < order.index("StatefulSet")
        assert order.index("Secret") < first_job  # the Jobs mount the restored Secret
        # the JSON report of a drill
        r = w.restore(rec["id"], "-o", "json")
        doc = json.loads(r.stdout)
        assert doc["ok"] and doc["drill"]["volumes_equal"] == doc["drill"]["volumes_checked"] == 2
        # a claim the target refuses: its data is not restored (no Job waits for a claim that is not there)
        w.dst_api.faults.forbidden.add("persistentvolumeclaims")
        jobs = len(w.dst_runner.ran)
        r = w.restore(rec["id"], "--namespace-map", "db=db-3", "-o", "json")
        doc = json.loads(r.stdout)
        assert r.exit_code == 1 and not doc["ok"]
        assert {(v["claim"], v["action"], v["detail"]) for v in doc["volumes"]} == {
            ("db-3/data-pg-0", "not restored", "its claim was not applied"),
            ("db-3/uploads", "not restored", "its claim was not applied"),
        }
        assert len(w.dst_runner.ran) == jobs


def test_flipped_byte_and_deleted_snapshot_are_detected(s3: Any, endpoint: str, tmp_path: Path) -> None:
    bucket = "volumes-tamper"
    with World(tmp_path, endpoint, s3, bucket) as w:
        rec = w.backup()
        vols = {v["claim"]: v for v in rec["volumes"]}
        # a deleted snapshot: restic forget puts a delete marker on the (locked) snapshot object, which is
        # allowed, and the snapshot is no longer listed: verify names it, the restore Job fails on it
        gone = vols["uploads"]["snapshot"]
        __import__("subprocess").run(["restic", "forget", gone], env=w.env, capture_output=True, check=True)
        r = w.verify()
        assert (
            r.exit_code == 1
            and f"volume db/uploads: restic snapshot {gone[:12]} is not in the restic repository" in r.output
        )
        r = w.restore(rec["id"])
        assert r.exit_code == 1, r.output
        line = next(ln for ln in r.stdout.splitlines() if "db-restored/uploads" in ln and ln.startswith("volumes"))
        assert "failed" in line and "BackoffLimitExceeded" in line and "container restic Error" in line, line
        assert "result: FAILED" in r.stdout
        assert "volumes    restored     db-restored/data-pg-0" in r.stdout  # the other claim is restored
        # a flipped byte in a pack of the restic repository (a new version on top of the locked one)
        packs = [v for v in s3.list_object_versions(Bucket=bucket, Prefix="restic/data/")["Versions"] if v["IsLatest"]]
        for p in packs:
            body = bytearray(s3.get_object(Bucket=bucket, Key=p["Key"])["Body"].read())
            body[len(body) // 2] ^= 1
            s3.put_object(Bucket=bucket, Key=p["Key"], Body=bytes(body))
        r = w.verify()
        assert r.exit_code == 1 and "volume data: restic check failed" in r.output, r.output
        r = w.restore(rec["id"], "--namespace-map", "db=db-again")
        assert r.exit_code == 1, r.output
        line = next(ln for ln in r.stdout.splitlines() if "db-again/data-pg-0" in ln and ln.startswith("volumes"))
        assert "failed" in line or "DIFFERS" in line, line


def test_failed_and_stuck_jobs_are_reported_per_claim(s3: Any, endpoint: str, tmp_path: Path) -> None:
    with World(tmp_path, endpoint, s3, "volumes-fail") as w:
        # the Secret the Jobs mount holds a wrong restic password: restic fails, its error is the reason
        secret = w.source.types[("", "secrets")].objects[("db", "kubefort-volume-backup")]
        w.source.upsert({**secret, "data": {**secret["data"], "password": b64("wrong")}})
        r = CliRunner().invoke(
            cli, ["backup", "namespace", "db", "--kubeconfig", w.src, *w.common, *w.volume_args, "-o", "json"]
        )
        assert r.exit_code == 1, r.output
        rec = json.loads(r.stdout)
        assert rec["app"]["volumes"] == {"backed_up": 0, "failed": 2}
        for v in rec["volumes"]:
            assert "BackoffLimitExceeded" in v["reason"] and "wrong password" in v["reason"], v
        # the backup of the objects is made: a restore says the data is not in it
        r = w.restore(rec["id"])
        assert r.exit_code == 1 and "not restored" in r.stdout
        # a Job whose Pod cannot start (its Secret is gone): the timeout names what it waits for
        w.source.delete("", "secrets", "db", "kubefort-volume-backup")
        r = CliRunner().invoke(
            cli,
            ["backup", "namespace", "db", "--kubeconfig", w.src, *w.common, *w.volume_args, "--volume-timeout", "2"],
        )
        assert r.exit_code == 1
        assert "not done after 2s (container restic waiting: ContainerCreating)" in r.stdout, r.output
        # options: volume data needs both images, pinned
        r = CliRunner().invoke(
            cli, ["backup", "namespace", "db", "--kubeconfig", w.src, *w.common, "--restic-repository", w.restic_repo]
        )
        assert r.exit_code == 2 and "--restic-image" in r.output
        assert os.path.isdir(w.data)


def test_object_lock_of_the_restic_bucket_is_checked_before_the_backup(s3: Any, endpoint: str, tmp_path: Path) -> None:
    with World(tmp_path, endpoint, s3, "volumes-locked") as w:
        s3.create_bucket(Bucket="apps-locked", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket="apps-locked",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}},
            },
        )
        repo = ["--repo", "s3://apps-locked/apps", "--key-file", str(tmp_path / "key.json"), "--s3-endpoint", endpoint]
        args = ["backup", "namespace", "db", "--kubeconfig", w.src, *repo, "--object-lock-days", "2"]
        r = CliRunner().invoke(cli, [*args, *w.volume_args, "--volume-user", "999", "--no-snapshots"])
        assert r.exit_code == 0, r.output
        mounted = set()
        for job in w.source.types[("batch", "jobs")].objects.values():  # the application's UID reads its files
            ctx = job["spec"]["template"]["spec"]["securityContext"]
            assert (ctx["runAsUser"], ctx["runAsGroup"], ctx["fsGroup"], ctx["runAsNonRoot"]) == (999, 999, 999, True)
            mounted.add(str(job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]))
        # --no-snapshots: each claim mounted (read-only) by its own Job, no snapshot, no clone
        assert mounted == {"data-pg-0", "uploads"}
        assert not [e for e in w.source.events if e.rtype.kind == "VolumeSnapshot"]
        # a longer policy than the restic bucket keeps: refused before any Job runs
        jobs = len(w.src_runner.ran)
        s3.create_bucket(Bucket="restic-unlocked")
        unlocked = ["--restic-repository", f"s3:{endpoint}/restic-unlocked/r", *w.volume_args[2:]]
        r = CliRunner().invoke(cli, [*args, *unlocked])
        assert r.exit_code == 2 and "refusing to back up: bucket restic-unlocked" in r.output, r.output
        r = CliRunner().invoke(cli, [*args, "--restic-repository", str(tmp_path / "local-restic"), *w.volume_args[2:]])
        assert r.exit_code == 2 and "not an S3 bucket" in r.output, r.output
        assert len(w.src_runner.ran) == jobs


def _job_from(cronjob: dict[str, Any], name: str) -> dict[str, Any]:
    """The Job a CronJob's schedule makes (what ``kubectl create job --from=cronjob/...`` makes now)."""
    md = cronjob["metadata"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": md["namespace"], "labels": dict(md["labels"])},
        "spec": cronjob["spec"]["jobTemplate"]["spec"],
    }


def _wait_job(store: Store, ns: str, name: str, timeout: float = 300) -> tuple[str, dict[str, Any]]:
    """(``Complete`` or ``Failed``, the Job's last Pod)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = store.types[("batch", "jobs")].objects.get((ns, name)) or {}
        for c in (job.get("status") or {}).get("conditions") or ():
            if c["type"] in ("Complete", "Failed") and c["status"] == "True":
                pods = [
                    p
                    for p in store.types[("", "pods")].objects.values()
                    if p["metadata"]["labels"].get("job-name") == name
                ]
                return c["type"], pods[-1]
        time.sleep(0.2)
    raise AssertionError(f"job {ns}/{name} did not end in {timeout}s")


def test_scheduled_backup_and_drill_run_with_the_rights_the_schedule_grants(
    s3: Any, endpoint: str, tmp_path: Path
) -> None:
    """The CronJobs of ``backup schedule --restic-repository`` run as their ServiceAccounts, with the
    RBAC the schedule prints enforced by the test API server: the daily backup backs up the objects and
    both volumes (one from a snapshot), the weekly drill restores them into ``drill-db`` and compares
    every object and volume; neither needed a right it was not granted."""
    from kubefort.etcd.backup.schedule import ScheduleSpec, schedule_manifests

    for bucket in ("sched-apps", "sched-restic"):
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}},
            },
        )
    restic_repo = f"s3:{endpoint}/sched-restic/restic"
    restic_init(restic_env(restic_repo, PASSWORD))  # once, before the first backup (see docs/app-backup.md)
    spec = ScheduleSpec(
        namespaces=("db",),
        repo="s3://sched-apps/apps",
        image=KUBEFORT,
        object_lock_days=2,
        s3_endpoint=endpoint,
        restic_repository=restic_repo,
        restic_image=RESTIC,
    )
    docs = schedule_manifests(spec)
    crons = {d["metadata"]["name"]: d for d in docs if d["kind"] == "CronJob"}
    write_key_file(generate(), str(tmp_path / "key.json"))
    creds = (
        f"[default]\naws_access_key_id = {S3_CREDS['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {S3_CREDS['AWS_SECRET_ACCESS_KEY']}\n"
    )
    store = cluster(True)
    store.load(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubefort-backup"}},
            *docs,
            {  # what the operator creates next to the schedule (docs/app-backup.md): the key, the S3 keys
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "kubefort-backup-key", "namespace": "kubefort-backup"},
                "data": {"key.json": base64.b64encode((tmp_path / "key.json").read_bytes()).decode()},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "kubefort-backup-s3", "namespace": "kubefort-backup"},
                "data": {"credentials": b64(creds)},
            },
        ]
    )
    data, uploads = fill(tmp_path / "vol-pg", 1), fill(tmp_path / "vol-uploads", 2)
    images = {RESTIC: restic_image(), KUBEFORT: kubefort_image()}
    backup_user = "system:serviceaccount:kubefort-backup:kubefort-app-backup"
    drill_user = "system:serviceaccount:kubefort-backup:kubefort-app-drill"
    with KubeAPIServer(store) as api, JobRunner(api, images, tmp_path / "node") as runner:
        api.rbac = True
        runner.volumes[("db", "data-pg-0")] = data
        runner.volumes[("db", "uploads")] = uploads

        store.upsert(_job_from(crons["kubefort-app-backup"], "kubefort-app-backup-1"))
        state, pod = _wait_job(store, "kubefort-backup", "kubefort-app-backup-1")
        log = api.pod_logs[("kubefort-backup", pod["metadata"]["name"], "kubefort")]
        assert state == "Complete", log
        # both claims backed up by the Jobs the backup ran (one from a snapshot's clone, deleted since)
        backups = [j for ns, j in runner.ran if ns == "db"]
        assert len(backups) == 2 and all(j.startswith("kubefort-backup-") for j in backups), runner.ran
        assert not store.types[("snapshot.storage.k8s.io", "volumesnapshots")].objects
        snaps = json.loads(
            __import__("subprocess")
            .run(
                ["restic", "snapshots", "--json"],
                env=restic_env(restic_repo, PASSWORD),
                capture_output=True,
                check=True,
            )
            .stdout
        )
        assert sorted(s["tags"][0] for s in snaps) == ["pvc=data-pg-0", "pvc=uploads"]
        # as its ServiceAccount, refused nothing but the lists of types it is not granted (recorded as
        # skipped, forbidden): every write, Job status, Pod list and log read was allowed
        mine = [r for r in api.requests if r.user == backup_user]
        assert {r.method for r in mine} == {"GET", "PATCH", "DELETE"}
        refused = [r for r in mine if r.status == 403]
        lists = {r.path for r in refused if r.method == "GET" and r.path.split("/namespaces/db/")[-1].count("/") == 0}
        assert refused and {r.path for r in refused} == lists, [(r.method, r.path) for r in refused]
        assert "/apis/snapshot.storage.k8s.io/v1/namespaces/db/volumesnapshots" in lists  # not granted: skipped
        assert all(r.status in (200, 201) for r in mine if r.method != "GET"), [
            (r.method, r.path, r.status) for r in mine if r.method != "GET"
        ]
        assert any(r.path.endswith("/log") and r.status == 200 for r in mine)

        store.upsert(_job_from(crons["kubefort-app-drill"], "kubefort-app-drill-1"))
        state, pod = _wait_job(store, "kubefort-backup", "kubefort-app-drill-1")
        log = api.pod_logs[("kubefort-backup", pod["metadata"]["name"], "kubefort")]
        assert state == "Complete", log
        assert "volumes 2/2 equal" in log, log
        for claim, d in (("data-pg-0", data), ("uploads", uploads)):
            assert tree_digest(str(runner.volumes[("drill-db", claim)])) == tree_digest(str(d))
        drill = [r for r in api.requests if r.user == drill_user]
        assert drill and all(r.status in (200, 201) for r in drill if r.method != "GET"), [
            (r.method, r.path, r.status) for r in drill if r.status >= 400
        ]
        assert not [r for r in drill if r.method == "DELETE"]  # drill-db did not exist yet: nothing to replace
        # the schedule's own RBAC in db is kubefort's machinery, not the application: not restored
        roles = store.types[("rbac.authorization.k8s.io", "roles")].objects
        assert ("drill-db", "kubefort-app-backup-read") not in roles
        assert ("drill-db", "kubefort-app-drill-volumes") in roles  # the schedule's own, for the drill

        # a week later: the application deleted and wrote files. The scheduled drill restores over its
        # first scratch namespace: its restore Jobs empty each scratch claim first (--replace-volume-data;
        # restic alone would leave the deleted file there), so the drill is equal again, in the same claims.
        # Run by hand with --replace-namespaces (an account that may delete drill-db), the namespace is
        # deleted first and the drill is equal too, in new claims.
        first_drill_volume = runner.volumes[("drill-db", "uploads")]
        assert (first_drill_volume / "PG_VERSION").exists()
        (uploads / "PG_VERSION").unlink()
        (data / "base" / "16384" / "new").write_bytes(b"x" * 5000)
        for n in ("kubefort-app-backup-2", "kubefort-app-drill-2"):
            store.upsert(_job_from(crons[n.rsplit("-", 1)[0]], n))
            state, pod = _wait_job(store, "kubefort-backup", n)
            log = api.pod_logs[("kubefort-backup", pod["metadata"]["name"], "kubefort")]
        assert state == "Complete" and "volumes 2/2 equal" in log, log
        assert runner.volumes[("drill-db", "uploads")] == first_drill_volume  # the same claim, emptied first
        assert not (first_drill_volume / "PG_VERSION").exists()
        for claim, d in (("data-pg-0", data), ("uploads", uploads)):
            assert tree_digest(str(runner.volumes[("drill-db", claim)])) == tree_digest(str(d))
        kubeconfig = api.kubeconfig(tmp_path / "admin.kubeconfig")
        drill_args = crons["kubefort-app-drill"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
            "args"
        ]
        args = [a if a != "/keys/key.json" else str(tmp_path / "key.json") for a in drill_args]
        args[args.index("in-cluster")] = "cert"
        r = CliRunner().invoke(cli, [*args, "--kubeconfig", kubeconfig, "--replace-namespaces"])
        assert r.exit_code == 0, r.output
        assert "namespaces deleted first drill-db" in r.stdout and "volumes 2/2 equal" in r.stdout, r.stdout
        assert runner.volumes[("drill-db", "uploads")] != first_drill_volume  # a new claim, a new volume
        for claim, d in (("data-pg-0", data), ("uploads", uploads)):
            assert tree_digest(str(runner.volumes[("drill-db", claim)])) == tree_digest(str(d))
        # it never deletes a namespace the backup was made from
        r = CliRunner().invoke(
            cli, [*args[: args.index("--namespace-map")], "--kubeconfig", kubeconfig, "--replace-namespaces"]
        )
        assert r.exit_code == 2 and "map db to a scratch namespace" in r.output, r.output
        assert ("", "db") in store.types[("", "namespaces")].objects

        # the enforcement is real: without the volume Role's binding the backup's Jobs are refused
        store.delete("rbac.authorization.k8s.io", "rolebindings", "db", "kubefort-app-backup-volumes")
        store.upsert(_job_from(crons["kubefort-app-backup"], "kubefort-app-backup-3"))
        state, pod = _wait_job(store, "kubefort-backup", "kubefort-app-backup-3")
        log = api.pod_logs[("kubefort-backup", pod["metadata"]["name"], "kubefort")]
        assert state == "Failed" and "forbidden" in log and backup_user in log, log
