"""Volume data of namespace backups: restic for real (Debian's package) on a directory standing in for a
volume, into moto's S3 server (``ThreadedMotoServer``) with Object Lock in compliance mode; the Object
Lock checks of ``backup verify``; the backup Jobs kubefort generates for claims.

The Jobs running (restic and kubefort's report container, by the test API server's job runner stand-in:
no kubelet, no CSI driver on this machine) are tested in ``test_app_backup_volume_jobs.py``."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import S3_CREDS
from kubefort.api import ScanOptions, scan
from kubefort.etcd.backup import ops
from kubefort.etcd.backup.keys import generate
from kubefort.etcd.backup.repo import Repository, blob_name
from kubefort.etcd.backup.storage import S3Storage
from kubefort.etcd.backup.volumes import (
    VolumeTarget,
    object_lock_issues,
    restic_backup,
    restic_env,
    restic_init,
    restic_restore,
    tree_digest,
    volume_jobs,
    volume_restore_jobs,
)

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")
pytestmark = pytest.mark.slow

OBJECTS = str(Path(__file__).resolve().parents[1] / "fixtures" / "etcd" / "objects")


def locked_bucket(s3: Any, name: str, days: int | None, mode: str = "COMPLIANCE") -> str:
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    if days:
        s3.put_object_lock_configuration(
            Bucket=name,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}},
            },
        )
    return name


def volume(root: Path) -> Path:
    """A directory standing in for a volume: nested files, an empty one, binary and repetitive content."""
    data = root / "volume"
    (data / "pgdata" / "base").mkdir(parents=True)
    for i in range(30):
        (data / "pgdata" / "base" / f"{16384 + i}").write_bytes(os.urandom(20_000) + b"\0" * 50_000)
    (data / "pgdata" / "PG_VERSION").write_text("16\n")
    (data / "empty").write_bytes(b"")
    return data


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed (make tools)")
def test_restic_volume_roundtrip_with_object_lock(s3: Any, endpoint: str, tmp_path: Path) -> None:
    bucket = locked_bucket(s3, "volumes-roundtrip", 2)
    assert object_lock_issues(s3, bucket, 2) == []
    # credentials as the Jobs get them: files of a Secret, not environment values
    creds = tmp_path / "credentials"
    creds.write_text(
        f"[default]\naws_access_key_id = {S3_CREDS['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {S3_CREDS['AWS_SECRET_ACCESS_KEY']}\n"
    )
    password = tmp_path / "password"
    password.write_text("restic-test-password")
    env = restic_env(f"s3:{endpoint}/{bucket}/restic", "", {"AWS_SHARED_CREDENTIALS_FILE": str(creds)})
    for k in ("RESTIC_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(k, None)
    env["RESTIC_PASSWORD_FILE"] = str(password)
    restic_init(env)
    data = volume(tmp_path)
    summary = restic_backup(str(data), env, tags=["pvc=data-pg-0"])
    assert summary["total_files_processed"] == 32
    # the restore Job's selection: the newest snapshot of the claim's tag and namespace (host)
    args = volume_restore_jobs(claims(), TARGET)[-1]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["restore", "latest"] and "pvc=uploads" in args
    from kubefort.etcd.backup.volumes import _restic

    restic_backup(str(tmp_path), env, tags=["pvc=other"])  # a newer snapshot of another claim
    _restic(["restore", "latest", "--tag", "pvc=data-pg-0", "--target", str(tmp_path / "out")], env)
    restored = tmp_path / "out" / data.relative_to("/")  # restic restores the absolute path under --target
    assert tree_digest(str(restored)) == tree_digest(str(data))
    assert tree_digest(str(data))[0] == 32
    # every pack restic wrote is under compliance retention: its deletion is refused by the store
    packs = s3.list_object_versions(Bucket=bucket, Prefix="restic/data/")["Versions"]
    assert packs
    head = s3.head_object(Bucket=bucket, Key=packs[0]["Key"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with pytest.raises(Exception, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=packs[0]["Key"], VersionId=packs[0]["VersionId"])
    # a flipped byte in a pack is found by restic's own check
    key = packs[0]["Key"]
    body = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    body[len(body) // 2] ^= 1
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body))  # a new version on top (the old one is locked)
    with pytest.raises(Exception, match="restic check failed"):
        _restic(["check", "--read-data"], env)
    assert restic_restore  # the runner the benchmark uses


def test_verify_fails_without_enough_object_lock(s3: Any, endpoint: str, tmp_path: Path) -> None:
    key = generate()
    cases = {
        "lock-none": (None, "no Object Lock configuration|not enabled|default retention is none"),
        "lock-short": (1, "default retention is 1 days, the policy asks for 7"),
        "lock-ok": (7, None),
    }
    for bucket, (days, problem) in cases.items():
        if days is None:
            s3.create_bucket(Bucket=bucket)
        else:
            locked_bucket(s3, bucket, days)
        repo = Repository(S3Storage(f"s3://{bucket}/apps", client=s3, object_lock_days=days or 0), key)
        ops.create_backup(repo, objects=[OBJECTS])
        res = ops.verify(repo, lock_days=7)
        errors = [i.message for i in res.issues if i.level == "error"]
        if problem is None:
            assert res.ok, errors
        else:
            assert not res.ok
            import re

            assert any(re.search(problem, m) for m in errors), errors
    # blobs written with a shorter retention than the policy: each is named
    repo = Repository(S3Storage("s3://lock-short/apps", client=s3, object_lock_days=1), key)
    res = ops.verify(repo, lock_days=7)
    assert any("blob: retained until" in i.message for i in res.issues)
    # a directory cannot be immutable
    from kubefort.etcd.backup.storage import LocalStorage

    local = Repository(LocalStorage(str(tmp_path / "r")), key)
    ops.create_backup(local, objects=[OBJECTS])
    assert not ops.verify(local, lock_days=7).ok
    assert ops.verify(local).ok
    assert blob_name  # the layout the checks walk


def test_governance_mode_is_a_warning(s3: Any) -> None:
    bucket = locked_bucket(s3, "lock-governance", 7, mode="GOVERNANCE")
    issues = object_lock_issues(s3, bucket, 7)
    assert [i.level for i in issues] == ["warning"] and "COMPLIANCE" in issues[0].message


KUBEFORT_IMAGE = "registry.example.com/kubefort@sha256:" + "c" * 64
TARGET = VolumeTarget(
    repository="s3:https://s3.example.com/backups/restic",
    image="registry.example.com/restic/restic@sha256:" + "a" * 64,
)


def claims() -> list[dict[str, Any]]:
    return [
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
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-pg-0", "namespace": "db"},
            "spec": {
                "storageClassName": "csi",
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "uploads", "namespace": "db"},
            "spec": {
                "storageClassName": "nfs",
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    ]


def test_volume_jobs_snapshot_first_and_scan_clean(tmp_path: Path) -> None:
    docs = volume_jobs(claims(), TARGET, ["ebs.csi.aws.com"])
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("ServiceAccount", "kubefort-volume-backup"),
        ("NetworkPolicy", "kubefort-volume-backup"),
        ("VolumeSnapshot", "kubefort-data-pg-0"),
        ("PersistentVolumeClaim", "kubefort-data-pg-0-clone"),
        ("Job", "kubefort-backup-data-pg-0"),
        ("Job", "kubefort-backup-uploads"),
    ]
    jobs = [d for d in docs if d["kind"] == "Job"]
    vols = [j["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"] for j in jobs]
    assert vols == [
        {"claimName": "kubefort-data-pg-0-clone", "readOnly": True},
        {"claimName": "uploads", "readOnly": True},
    ]
    assert docs[3]["spec"]["dataSource"]["name"] == "kubefort-data-pg-0"
    for j in jobs:
        c = j["spec"]["template"]["spec"]["containers"][0]
        assert {"name": "data", "mountPath": "/data", "readOnly": True} in c["volumeMounts"]
        assert {e["name"] for e in c["env"]} == {
            "RESTIC_REPOSITORY",
            "RESTIC_CACHE_DIR",
            "RESTIC_PASSWORD_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
        }
    restores = volume_restore_jobs(claims(), TARGET, {"db": "db2"})
    assert [(d["kind"], d["metadata"]["namespace"]) for d in restores][-1] == ("Job", "db2")
    pod = restores[-1]["spec"]["template"]["spec"]
    assert pod["volumes"][0] == {"name": "data", "persistentVolumeClaim": {"claimName": "uploads"}}
    assert pod["containers"][0]["args"][:4] == ["restore", "latest", "--host", "db"]  # host: the source namespace
    # with kubefort's image: restic runs first (init container), then the report container, which reads
    # the claim read-only and writes the file count and digest as its termination message
    reported = VolumeTarget(repository=TARGET.repository, image=TARGET.image, report_image=KUBEFORT_IMAGE)
    run_jobs = [d for d in volume_jobs(claims(), reported, ["ebs.csi.aws.com"], run="r1") if d["kind"] == "Job"]
    assert [j["metadata"]["name"] for j in run_jobs] == ["kubefort-backup-data-pg-0-r1", "kubefort-backup-uploads-r1"]
    pod = run_jobs[0]["spec"]["template"]["spec"]
    assert [c["name"] for c in pod["initContainers"]] == ["restic"] and [c["name"] for c in pod["containers"]] == [
        "report"
    ]
    assert pod["initContainers"][0]["args"][:2] == ["backup", "."] and pod["initContainers"][0]["workingDir"] == "/data"
    assert pod["containers"][0]["terminationMessagePath"] == "/dev/termination-log"
    assert pod["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    run_restores = volume_restore_jobs(claims(), reported, {"db": "db2"}, snapshots={("db", "uploads"): "abc123"})
    rpod = run_restores[-1]["spec"]["template"]["spec"]
    assert rpod["initContainers"][0]["args"] == ["restore", "abc123", "--target", "/data"]
    assert {"name": "data", "mountPath": "/data"} in rpod["initContainers"][0]["volumeMounts"]  # read-write
    docs = docs + restores + run_jobs + run_restores
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    report = scan(ScanOptions(paths=[str(path)]))
    # the namespace's own findings (no default-deny policy of the application) are not the Jobs'
    failed = [(f.rule.id, f.object.name, f.message) for f in report.findings if f.object.kind != "Namespace"]
    assert failed == [], failed


def test_schedule_least_privilege_and_scan_clean(tmp_path: Path) -> None:
    from kubefort.etcd.backup.schedule import ScheduleSpec, schedule_manifests

    image = "registry.example.com/kubefort@sha256:" + "c" * 64
    spec = ScheduleSpec(
        namespaces=("shop", "db"), repo="s3://backups/apps", image=image, resources=("example.com/databases",)
    )
    docs = schedule_manifests(spec)
    by = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    backup = by[("CronJob", "kubefort-backup", "kubefort-app-backup")]
    drill = by[("CronJob", "kubefort-backup", "kubefort-app-drill")]
    args = backup["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:4] == ["backup", "namespace", "shop", "db"] and "--object-lock-days" in args
    dargs = drill["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert dargs[:3] == ["backup", "restore", "latest"] and "shop=drill-shop" in dargs and "db=drill-db" in dargs
    assert drill["spec"]["schedule"] == "0 4 * * 0"  # weekly
    # the BAK rules recognise kubefort's own schedule: a backup mechanism naming these namespaces
    from kubefort.model.objects import K8sObject, Source
    from kubefort.rules.backup import kubefort_namespaces

    cron = K8sObject.from_raw(backup, Source(file="schedule.yaml"))
    assert kubefort_namespaces(cron) == {"shop", "db"}
    assert kubefort_namespaces(K8sObject.from_raw(drill, Source(file="schedule.yaml"))) is None
    # no wildcard anywhere; the backup account only reads; the drill writes only in drill-* namespaces
    for d in docs:
        for r in d.get("rules") or ():
            assert "*" not in r["apiGroups"] + r["resources"] + r["verbs"]
    read = by[("Role", "shop", "kubefort-app-backup-read")]
    assert {v for r in read["rules"] for v in r["verbs"]} == {"get", "list"}
    assert {"apiGroups": ["example.com"], "resources": ["databases"], "verbs": ["get", "list"]} in read["rules"]
    writers = {
        (d["metadata"].get("namespace"), d["metadata"]["name"])
        for d in docs
        if d["kind"] == "Role" and any(set(r["verbs"]) & {"create", "patch"} for r in d["rules"])
    }
    assert writers == {("drill-shop", "kubefort-app-drill"), ("drill-db", "kubefort-app-drill")}
    dep = by[("ClusterRole", None, "kubefort-app-backup-dependencies")]
    assert {v for r in dep["rules"] for v in r["verbs"]} == {"get", "list"}
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    report = scan(ScanOptions(paths=[str(path)]))
    open_findings = [(f.rule.id, f.object.name) for f in report.findings if not f.suppressed]
    assert open_findings == [], open_findings
    # every suppression says why
    assert all(f.suppression for f in report.findings if f.suppressed)
    with pytest.raises(Exception, match="pin kubefort's image by digest"):
        schedule_manifests(ScheduleSpec(namespaces=("a",), repo="s3://b/p", image="kubefort:latest"))
    with pytest.raises(Exception, match="no wildcard"):
        schedule_manifests(ScheduleSpec(namespaces=("a",), repo="s3://b/p", image=image, resources=("x/*",)))


def test_restic_results_and_bucket_parsing() -> None:
    from kubefort.etcd.backup.volumes import parse_report, restic_bucket, restic_summary

    assert restic_bucket("s3:https://s3.example.com/backups/restic") == ("https://s3.example.com", "backups")
    assert restic_bucket("s3:http://127.0.0.1:9000/b") == ("http://127.0.0.1:9000", "b")
    assert restic_bucket("s3:s3.amazonaws.com/bucket/p/q") == ("https://s3.amazonaws.com", "bucket")
    assert restic_bucket("/srv/restic") is None and restic_bucket("b2:bucket:path") is None
    with pytest.raises(Exception, match="expected s3:ENDPOINT/BUCKET"):
        restic_bucket("s3:https://host-only")
    log = '{"message_type":"status","percent_done":0.5}\nscan finished\n{"message_type":"summary","snapshot_id":"c0f67ebf","total_files_processed":3}\n'
    assert restic_summary(log) == {"message_type": "summary", "snapshot_id": "c0f67ebf", "total_files_processed": 3}
    assert restic_summary("Fatal: wrong password\n") is None
    assert parse_report('{"files": 3, "sha256": "ab"}') == {"files": 3, "sha256": "ab"}
    assert parse_report("Fatal: boom") is None and parse_report('{"files": "3"}') is None


def _rules_of(docs: list[dict[str, Any]], ns: str, name: str) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """(group, resource, verb, resourceNames) of a Role: what it grants, one verb at a time."""
    role = next(
        d for d in docs if d["kind"] == "Role" and (d["metadata"]["namespace"], d["metadata"]["name"]) == (ns, name)
    )
    return {
        (g, r, v, tuple(rule.get("resourceNames") or ()))
        for rule in role["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_schedule_with_volume_data_grants_exactly_what_the_jobs_need(tmp_path: Path) -> None:
    from kubefort.etcd.backup.schedule import ScheduleSpec, schedule_manifests
    from kubefort.model.objects import K8sObject, Source
    from kubefort.rules.backup import kubefort_volume_data

    image = "registry.example.com/kubefort@sha256:" + "c" * 64
    restic = "registry.example.com/restic@sha256:" + "a" * 64
    repo = "s3:https://s3.example.com/volumes/restic"
    spec = ScheduleSpec(
        namespaces=("shop", "db"), repo="s3://backups/apps", image=image, restic_repository=repo, restic_image=restic
    )
    docs = schedule_manifests(spec)
    by = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs}
    cron = by[("CronJob", "kubefort-backup", "kubefort-app-backup")]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    volume_args = [
        "--restic-repository",
        repo,
        "--restic-image",
        restic,
        "--kubefort-image",
        image,
        "--volume-user",
        "65532",
    ]
    assert args[:4] == ["backup", "namespace", "shop", "db"] and args[-len(volume_args) :] == volume_args
    drill = by[("CronJob", "kubefort-backup", "kubefort-app-drill")]
    dargs = drill["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert (
        dargs[:3] == ["backup", "restore", "latest"] and dargs[dargs.index("--restic-repository") :][:8] == volume_args
    )
    # the arguments parse: the CLI takes them as they are (checked by click, not run here)
    from kubefort.cli import cli

    for a in (args, dargs):
        ctx = cli.make_context("kubefort", list(a), resilient_parsing=True)
        sub = ctx.command.get_command(ctx, a[0])  # type: ignore[attr-defined]
        sctx = sub.make_context(a[0], list(a[1:]), parent=ctx, resilient_parsing=True)
        cmd = sctx.command.get_command(sctx, a[1])
        params = cmd.make_context(a[1], list(a[2:]), parent=sctx).params
        assert params["restic_repository"] == repo and params["restic_image"] == restic
        assert params["kubefort_image"] == image and params["volume_secret"] == "kubefort-volume-backup"
    # no secret value in the CronJobs: the restic password and bucket keys are a Secret of each namespace
    assert "password" not in yaml.safe_dump(cron) and "--restic-password" not in " ".join(args)
    assert {v.get("secret", {}).get("secretName") for v in pod["volumes"]} >= {
        "kubefort-backup-key",
        "kubefort-backup-s3",
    }
    # per backed-up namespace exactly what running the volume Jobs takes
    job_rights = {
        ("batch", "jobs", "get", ()),
        ("batch", "jobs", "create", ()),
        ("batch", "jobs", "patch", ()),
        ("", "serviceaccounts", "create", ("kubefort-volume-backup",)),
        ("", "serviceaccounts", "patch", ("kubefort-volume-backup",)),
        ("networking.k8s.io", "networkpolicies", "create", ("kubefort-volume-backup",)),
        ("networking.k8s.io", "networkpolicies", "patch", ("kubefort-volume-backup",)),
        ("", "pods", "list", ()),
        ("", "pods/log", "get", ()),
    }
    snapshot_rights = {("snapshot.storage.k8s.io", "volumesnapshots", v, ()) for v in ("create", "patch", "delete")} | {
        ("", "persistentvolumeclaims", v, ()) for v in ("create", "patch", "delete")
    }
    for ns in ("shop", "db"):
        assert _rules_of(docs, ns, "kubefort-app-backup-volumes") == job_rights | snapshot_rights
        binding = by[("RoleBinding", ns, "kubefort-app-backup-volumes")]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "kubefort-app-backup", "namespace": "kubefort-backup"}
        ]
        # the drill's account: in the scratch namespaces only, no snapshots, no deletes
        assert _rules_of(docs, f"drill-{ns}", "kubefort-app-drill-volumes") == job_rights
        assert (
            by[("RoleBinding", f"drill-{ns}", "kubefort-app-drill-volumes")]["subjects"][0]["name"]
            == "kubefort-app-drill"
        )
    volume_roles = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in docs
        if d["kind"] == "Role" and "volumes" in d["metadata"]["name"]
    }
    assert volume_roles == {
        ("shop", "kubefort-app-backup-volumes"),
        ("db", "kubefort-app-backup-volumes"),
        ("drill-shop", "kubefort-app-drill-volumes"),
        ("drill-db", "kubefort-app-drill-volumes"),
    }
    # nothing cluster-wide is added for volume data
    assert [d for d in docs if d["kind"].startswith("Cluster")] == [
        d
        for d in schedule_manifests(ScheduleSpec(namespaces=("shop", "db"), repo="s3://backups/apps", image=image))
        if d["kind"].startswith("Cluster")
    ]
    # the rules count this CronJob as covering the namespaces' volume data; the drill's does not back up
    assert kubefort_volume_data(K8sObject.from_raw(cron, Source(file="s.yaml")))
    assert not kubefort_volume_data(K8sObject.from_raw(drill, Source(file="s.yaml")))
    # everything scans clean, what is flagged is suppressed on its object with the reason
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    report = scan(ScanOptions(paths=[str(path)]))
    assert [(f.rule.id, f.object.name) for f in report.findings if not f.suppressed] == []
    assert all(f.suppression for f in report.findings if f.suppressed)
    suppressed = {(f.rule.id, f.object.kind, f.object.namespace) for f in report.findings if f.suppressed}
    assert ("KF-RBAC-030", "Role", "db") in suppressed  # the snapshot clones' deletion, said why
    # without snapshots: no right on snapshots or claims, and the backup is told not to use them
    plain = schedule_manifests(
        ScheduleSpec(
            namespaces=("db",),
            repo="s3://backups/apps",
            image=image,
            restic_repository=repo,
            restic_image=restic,
            snapshots=False,
            volume_secret="db-restic",
        )
    )
    assert _rules_of(plain, "db", "kubefort-app-backup-volumes") == job_rights
    pcron = next(d for d in plain if d["kind"] == "CronJob" and d["metadata"]["name"] == "kubefort-app-backup")
    pargs = pcron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert pargs[-1] == "--no-snapshots" and pargs[pargs.index("--secret") + 1] == "db-restic"
    path.write_text(yaml.safe_dump_all(plain))
    report = scan(ScanOptions(paths=[str(path)]))
    assert [(f.rule.id, f.object.name) for f in report.findings if not f.suppressed] == []
    # pinned images, an S3 repository with Object Lock
    with pytest.raises(Exception, match="pin restic's image by digest"):
        schedule_manifests(
            ScheduleSpec(
                namespaces=("a",), repo="s3://b/p", image=image, restic_repository=repo, restic_image="restic:0.16"
            )
        )
    with pytest.raises(Exception, match="S3 bucket with Object Lock"):
        schedule_manifests(
            ScheduleSpec(
                namespaces=("a",), repo="s3://b/p", image=image, restic_repository="/srv/restic", restic_image=restic
            )
        )
    with pytest.raises(Exception, match="needs --restic-image"):
        schedule_manifests(ScheduleSpec(namespaces=("a",), repo="s3://b/p", image=image, restic_repository=repo))
    with pytest.raises(Exception, match="give --restic-repository"):
        schedule_manifests(ScheduleSpec(namespaces=("a",), repo="s3://b/p", image=image, restic_image=restic))


def test_restore_jobs_empty_the_claim_first_only_when_asked() -> None:
    import dataclasses

    with_report = dataclasses.replace(TARGET, report_image="registry.example.com/kubefort@sha256:" + "b" * 64)
    plain = [d for d in volume_restore_jobs(claims(), with_report) if d["kind"] == "Job"]
    assert plain and all(
        [c["name"] for c in d["spec"]["template"]["spec"]["initContainers"]] == ["restic"] for d in plain
    )
    replacing = dataclasses.replace(with_report, replace_data=True)
    jobs = [d for d in volume_restore_jobs(claims(), replacing) if d["kind"] == "Job"]
    for d in jobs:
        first, restic = d["spec"]["template"]["spec"]["initContainers"]
        assert first["name"] == "clear" and restic["name"] == "restic"
        assert restic["args"][:2] == ["restore", "latest"]  # no recorded snapshot: the claim's newest
        assert first["args"] == ["backup", "volume-clear", "/data"] and first["image"] == with_report.report_image
        assert first["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
        assert first["securityContext"]["readOnlyRootFilesystem"] is True
    # a backup Job never empties anything
    backups = [d for d in volume_jobs(claims(), replacing) if d["kind"] == "Job"]
    assert backups and all(
        "clear" not in [c["name"] for c in d["spec"]["template"]["spec"]["initContainers"]] for d in backups
    )


def test_clear_tree_empties_the_volume_and_follows_no_link(tmp_path: Path) -> None:
    from kubefort.etcd.backup.volumes import clear_tree

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    vol = tmp_path / "vol"
    (vol / "a" / "b").mkdir(parents=True)
    (vol / "a" / "b" / "f").write_text("1")
    (vol / ".hidden").write_text("2")
    (vol / "link").symlink_to(outside, target_is_directory=True)
    (vol / "a" / "dirlink").symlink_to(outside, target_is_directory=True)
    assert clear_tree(str(vol)) == 3
    assert vol.is_dir() and list(vol.iterdir()) == []
    assert (outside / "keep").read_text() == "x"
    for bad in ("/", str(vol / "missing"), str(vol.parent / "outside" / "keep")):
        with pytest.raises(ValueError):
            clear_tree(bad)
    (tmp_path / "volink").symlink_to(vol, target_is_directory=True)
    with pytest.raises(ValueError):
        clear_tree(str(tmp_path / "volink"))
