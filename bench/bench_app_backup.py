"""Application backups: objects per second of a namespace backup and of its restore (with the drill),
through two test API servers; restic's throughput on volume data through kubefort's runner, through the
volume Jobs kubefort runs (``backup namespace --restic-repository``, ``backup restore``: Jobs run by the
test API server's job runner stand-in) and restic run directly, on the same data, into the same moto
S3 server with Object Lock, in the same run.

    python bench/bench_app_backup.py [--objects 10000] [--namespaces 10] [--mib 64]

The test API servers run in this process (threads): their JSON encoding shares the GIL with kubefort's
reading, so the objects/s figures are a lower bound of what kubefort does against a real API server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from kubeapi.server import KubeAPIServer  # noqa: E402
from kubeapi.store import Store  # noqa: E402
from kubefort.etcd.backup import app  # noqa: E402
from kubefort.etcd.backup.keys import generate  # noqa: E402
from kubefort.etcd.backup.repo import Repository  # noqa: E402
from kubefort.etcd.backup.storage import LocalStorage  # noqa: E402
from kubefort.loading.cluster import ClusterSource  # noqa: E402

CREDS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}


def objects(n: int, namespaces: int) -> list[dict[str, Any]]:
    """``n`` objects: per application a Deployment, a Service, a ConfigMap and a Secret."""
    out: list[dict[str, Any]] = []
    for i in range(n // 4):
        ns, name = f"app-{i % namespaces}", f"svc-{i}"
        labels = {"app": name}
        out += [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns, "labels": labels},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "app", "image": f"registry.example.com/{name}:1.0"}]},
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"selector": labels, "ports": [{"port": 80}], "clusterIP": f"10.96.{i // 250}.{i % 250}"},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns},
                "data": {"k": "v" * 200},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": ns},
                "data": {"p": "cGFzcw=="},
            },
        ]
    return out


def bench_objects(args: argparse.Namespace, tmp: Path) -> None:
    src = Store()
    src.load_cluster(objects(args.objects, args.namespaces))
    dst = Store(writable=True)
    dst.load_cluster([])
    repo = Repository(LocalStorage(str(tmp / "repo")), generate())
    names = [f"app-{i}" for i in range(args.namespaces)]
    with KubeAPIServer(src) as s, KubeAPIServer(dst) as d:
        skc, dkc = s.kubeconfig(tmp / "s.kubeconfig"), d.kubeconfig(tmp / "d.kubeconfig")
        fast = {"qps": 5000.0, "burst": 5000}
        t0 = time.perf_counter()
        rec = app.backup_namespaces(repo, ClusterSource(kubeconfig=skc, **fast), names)
        t1 = time.perf_counter()
        res = app.restore_namespaces(repo, rec["id"], ClusterSource(kubeconfig=dkc, **fast))
        t2 = time.perf_counter()
    n = rec["app"]["objects"]
    print(
        f"namespace backup:  {n} objects in {t1 - t0:.2f} s = {n / (t1 - t0):,.0f} objects/s ({rec['size'] / 2**10:.0f} KiB stored)"
    )
    ok = "all present" if res.ok else "NOT all present"
    print(
        f"restore + drill:   {len(res.objects)} objects in {t2 - t1:.2f} s = {len(res.objects) / (t2 - t1):,.0f} objects/s ({ok})"
    )


def bench_restic(args: argparse.Namespace, tmp: Path) -> None:
    if shutil.which("restic") is None:
        print("restic: not installed (make tools), skipped")
        return
    import boto3
    from moto.server import ThreadedMotoServer

    from kubefort.etcd.backup.volumes import restic_backup, restic_env, restic_init, restic_restore

    data = tmp / "volume"
    data.mkdir()
    chunk = 4 * 2**20
    for i in range(max(1, args.mib // 4)):  # half random (incompressible), half repetitive
        (data / f"f{i}").write_bytes(os.urandom(chunk // 2) + bytes(chunk // 2))
    size = sum(p.stat().st_size for p in data.iterdir()) / 2**20
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            **{k.lower(): v for k, v in CREDS.items() if k != "AWS_DEFAULT_REGION"},
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="bench", ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(
            Bucket="bench",
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
            },
        )
        times: dict[str, float] = {}
        times.update(_through_jobs(tmp, data, endpoint))
        for how in ("restic", "kubefort"):
            env = restic_env(f"s3:{endpoint}/bench/{how}", "bench-password", CREDS)
            out = tmp / f"out-{how}"
            if how == "restic":
                subprocess.run(["restic", "init"], env=env, check=True, capture_output=True)
                t0 = time.perf_counter()
                subprocess.run(["restic", "backup", str(data), "--json"], env=env, check=True, capture_output=True)
                t1 = time.perf_counter()
                subprocess.run(
                    ["restic", "restore", "latest", "--target", str(out)], env=env, check=True, capture_output=True
                )
                t2 = time.perf_counter()
            else:
                restic_init(env)
                t0 = time.perf_counter()
                summary = restic_backup(str(data), env)
                t1 = time.perf_counter()
                restic_restore(summary["snapshot_id"], str(out), env)
                t2 = time.perf_counter()
            times[f"{how} backup"], times[f"{how} restore"] = t1 - t0, t2 - t1
    finally:
        server.stop()
    for op in ("backup", "restore"):
        k, r = times[f"kubefort {op}"], times[f"restic {op}"]
        print(
            f"volume {op:<8} {size:.0f} MiB: kubefort {size / k:6.1f} MB/s, restic directly {size / r:6.1f} MB/s "
            f"(ratio {r / k:.2f}; moto S3 with Object Lock)"
        )
    for op in ("backup", "restore"):
        j, r = times[f"jobs {op}"], times[f"restic {op}"]
        print(
            f"volume {op:<8} {size:.0f} MiB through the Jobs: {size / j:6.1f} MB/s (ratio {r / j:.2f} of restic directly; "
            "the job runner stand-in, the report container's digest, 1 s polling)"
        )


def _through_jobs(tmp: Path, data: Path, endpoint: str) -> dict[str, float]:
    """``backup namespace --restic-repository`` and ``backup restore`` of one claim holding ``data``:
    the Jobs kubefort creates, run by the test API server's job runner stand-in (restic and kubefort's
    report container for real), waited for, and (restore) drilled."""
    import base64

    from kubeapi.jobs import JobRunner, kubefort_image, restic_image
    from kubefort.etcd.backup.volumes import VolumeTarget, restic_env, restic_init

    b64 = lambda t: base64.b64encode(t.encode()).decode()  # noqa: E731
    creds = f"[default]\naws_access_key_id = {CREDS['AWS_ACCESS_KEY_ID']}\naws_secret_access_key = {CREDS['AWS_SECRET_ACCESS_KEY']}\n"
    source = Store(writable=True)
    source.load_cluster(
        [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "vol"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "kubefort-volume-backup", "namespace": "vol"},
                "data": {"password": b64("bench-password"), "credentials": b64(creds)},
            },
        ]
    )
    target = Store(writable=True)
    target.load_cluster([])
    restic_init(restic_env(f"s3:{endpoint}/bench/jobs", "bench-password", CREDS))
    images = {"restic@sha256:0": restic_image(), "kubefort@sha256:0": kubefort_image()}
    volumes = VolumeTarget(
        repository=f"s3:{endpoint}/bench/jobs", image="restic@sha256:0", report_image="kubefort@sha256:0"
    )
    repo = Repository(LocalStorage(str(tmp / "jobs-repo")), generate())
    with (
        KubeAPIServer(source) as src,
        KubeAPIServer(target) as dst,
        JobRunner(src, images, tmp / "src-node") as src_node,
        JobRunner(dst, images, tmp / "dst-node"),
    ):
        src_node.volumes[("vol", "data")] = data
        t0 = time.perf_counter()
        rec = app.backup_namespaces(
            repo, ClusterSource(kubeconfig=src.kubeconfig(tmp / "src.kubeconfig")), ["vol"], volumes=volumes
        )
        t1 = time.perf_counter()
        res = app.restore_namespaces(
            repo,
            rec["id"],
            ClusterSource(kubeconfig=dst.kubeconfig(tmp / "dst.kubeconfig")),
            namespace_map={"vol": "vol2"},
            volumes=volumes,
        )
        t2 = time.perf_counter()
    if not all(v["ok"] for v in rec["volumes"]) or not res.ok:
        raise SystemExit(f"the volume Jobs failed: {rec['volumes']} {res.to_dict()['volumes']}")
    return {"jobs backup": t1 - t0, "jobs restore": t2 - t1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=2000)
    ap.add_argument("--namespaces", type=int, default=10)
    ap.add_argument("--mib", type=int, default=32)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubefort-bench-app-") as d:
        bench_objects(args, Path(d))
        bench_restic(args, Path(d))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
