"""The job runner stand-in (``kubeapi.jobs``) keeps the read-only mounts of a Pod read-only, as a kubelet
does: a Job whose container writes into the claim it mounts with ``readOnly`` fails, and the claim's
data is unchanged; the same write into a read-write mount succeeds. Both ways the runner enforces it are
tested: a read-only bind mount in a mount namespace of the process's own (root with ``unshare``; the
write fails with "Read-only file system") and the copy checked afterwards (anyone)."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest

from kubeapi.jobs import Image, JobRunner, can_mount_read_only
from kubeapi.server import KubeAPIServer
from kubeapi.store import Store

SH = "registry.example.com/busybox@sha256:" + "b" * 64
MANAGED = {"app.kubernetes.io/managed-by": "kubefort"}


def job(name: str, script: str, *, read_only: bool, claim_read_only: bool = False) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": "data", "mountPath": "/data"}
    if read_only:
        mount["readOnly"] = True
    claim: dict[str, Any] = {"claimName": "data"}
    if claim_read_only:
        claim["readOnly"] = True
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "db", "labels": dict(MANAGED)},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "writer",
                            "image": SH,
                            "args": ["-c", script, "sh", "/data", "/secrets"],  # $1, $2: the mounts
                            "workingDir": "/data",
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "volumeMounts": [mount, {"name": "creds", "mountPath": "/secrets"}],
                        }
                    ],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": claim},
                        {"name": "creds", "secret": {"secretName": "creds"}},
                    ],
                }
            },
        },
    }


def wait(store: Store, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        obj = store.types[("batch", "jobs")].objects.get(("db", name)) or {}
        for c in (obj.get("status") or {}).get("conditions") or ():
            if c["type"] in ("Complete", "Failed") and c["status"] == "True":
                pods = [
                    p
                    for p in store.types[("", "pods")].objects.values()
                    if p["metadata"]["labels"].get("job-name") == name
                ]
                return {"condition": c["type"], "pod": pods[-1]}
        time.sleep(0.05)
    raise AssertionError(f"job {name} did not end")


MODES = [
    "copy",
    pytest.param("mount", marks=pytest.mark.skipif(not can_mount_read_only(), reason="needs root and unshare")),
]


@pytest.mark.parametrize("mode", MODES)
def test_read_only_mounts_are_read_only(tmp_path: Path, mode: str) -> None:
    store = Store(writable=True)
    store.load_cluster(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "db"}},
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "db"}},
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "db"},
                "data": {"password": base64.b64encode(b"s3cret").decode()},
            },
        ]
    )
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "PG_VERSION").write_text("16\n")
    with (
        KubeAPIServer(store) as api,
        JobRunner(api, {SH: Image(["/bin/sh"])}, tmp_path / "node", readonly=mode) as runner,
    ):
        runner.volumes[("db", "data")] = volume
        # reading a read-only mount works
        store.upsert(job("reader", "cat PG_VERSION $2/password", read_only=True))
        got = wait(store, "reader")
        assert got["condition"] == "Complete", got["pod"]["status"]
        assert api.pod_logs[("db", got["pod"]["metadata"]["name"], "writer")] == "16\ns3cret"
        # a container that writes into the claim it mounts read-only fails, and the claim is unchanged
        for name, script, ro, claim_ro in (
            ("relative", "echo x > new-file", True, False),
            ("absolute", "rm $1/PG_VERSION", True, False),
            ("claim-ro", "echo 17 > PG_VERSION", False, True),  # the volume's own readOnly: every mount
            ("secret", "echo x > $2/password", False, False),  # Secret volumes are read-only
        ):
            store.upsert(job(name, script, read_only=ro, claim_read_only=claim_ro))
            got = wait(store, name)
            assert got["condition"] == "Failed", name
            term = got["pod"]["status"]["containerStatuses"][0]["state"]["terminated"]
            assert term["exitCode"] != 0
            expected = "Read-only file system" if mode == "mount" else "wrote into the read-only mount"
            assert expected in term["message"], term
            assert sorted(p.name for p in volume.iterdir()) == ["PG_VERSION"], name
            assert (volume / "PG_VERSION").read_text() == "16\n"
        # the same write into a read-write mount reaches the volume
        store.upsert(job("rw", "echo x > new-file", read_only=False))
        assert wait(store, "rw")["condition"] == "Complete"
        assert (volume / "new-file").read_text() == "x\n"


@pytest.mark.parametrize("mode", MODES)
def test_a_backup_job_that_writes_into_its_claim_fails(tmp_path: Path, mode: str) -> None:
    """kubefort's own backup Job (``volumes.volume_jobs``): its restic container mounts the claim it backs
    up read-only; a restic that wrote into it would fail the Job, and the claim keeps its data."""
    from kubefort.etcd.backup.volumes import VolumeTarget, volume_jobs

    restic = "registry.example.com/restic@sha256:" + "a" * 64
    report = "registry.example.com/kubefort@sha256:" + "c" * 64
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "db"},
        "spec": {"accessModes": ["ReadWriteOnce"]},
    }
    store = Store(writable=True)
    store.load_cluster(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "db"}},
            claim,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "kubefort-volume-backup", "namespace": "db"},
                "data": {"password": base64.b64encode(b"pw").decode()},
            },
        ]
    )
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "PG_VERSION").write_text("16\n")
    images = {restic: Image(["/bin/sh", "-c", "echo x > restic-was-here"]), report: Image(["/bin/true"])}
    target = VolumeTarget(repository="s3:https://s3.example.com/b/r", image=restic, report_image=report)
    with (
        KubeAPIServer(store) as api,
        JobRunner(api, images, tmp_path / "node", readonly=mode) as runner,
    ):
        runner.volumes[("db", "data")] = volume
        for doc in volume_jobs([claim], target, run="t1"):
            store.upsert(doc)
        got = wait(store, "kubefort-backup-data-t1")
        assert got["condition"] == "Failed"
        term = got["pod"]["status"]["initContainerStatuses"][0]["state"]["terminated"]
        assert term["exitCode"] != 0 and "restic-was-here" in term["message"], term
        assert sorted(p.name for p in volume.iterdir()) == ["PG_VERSION"]
