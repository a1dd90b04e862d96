#!/usr/bin/env python3
"""Benchmark: kubefort backup create / restore / drill of an etcd holding N keys (default 100k keys,
~500 MB), next to `etcdctl snapshot save` + `gzip` + `openssl enc` doing the same, in the same run.

    .venv/bin/python bench/bench_etcd.py                    # 100k keys x 5000 B (~500 MB of values)
    .venv/bin/python bench/bench_etcd.py --keys 20000       # quicker

Values: half random bytes (like encrypted Secrets, incompressible), half protobuf-like text (like
plain objects, compressible). Writes go through transactions of 512 puts. Everything runs on
127.0.0.1 in a temporary directory that is removed afterwards. Prints a markdown table.
MB = 10^6 bytes; throughput = snapshot size / wall time of the step.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import httpx

from kubefort.etcd.backup import ops
from kubefort.etcd.backup.keys import generate
from kubefort.etcd.backup.repo import Repository
from kubefort.etcd.backup.storage import LocalStorage
from kubefort.etcd.server import LocalEtcd, etcdctl_restore

TXN = 512  # puts per transaction (the bench etcd runs with --max-txn-ops 1024)


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def load(url: str, keys: int, size: int) -> float:
    text = (
        b"k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12" + b"metadata: name=app-config namespace=shop labels=tier:web "
        b"data: LOG_LEVEL=info FEATURE_FLAGS=a,b,c "
    ) * (size // 90 + 1)

    def batch(start: int) -> None:
        ops_ = []
        for i in range(start, min(start + TXN, keys)):
            v = os.urandom(size) if i % 2 else text[:size]
            ops_.append(
                {"request_put": {"key": b64(f"/registry/secrets/ns{i % 97}/obj-{i:07d}".encode()), "value": b64(v)}}
            )
        with httpx.Client(base_url=url, trust_env=False, timeout=60) as c:
            r = c.post("/v3/kv/txn", json={"success": ops_})
            r.raise_for_status()

    t = time.monotonic()
    with ThreadPoolExecutor(4) as ex:
        list(ex.map(batch, range(0, keys, TXN)))
    return time.monotonic() - t


def sh(cmd: str, env: dict[str, str]) -> float:
    t = time.monotonic()
    subprocess.run(cmd, shell=True, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=5000)
    ap.add_argument("--level", type=int, default=ops.DEFAULT_LEVEL, help="gzip level for both pipelines")
    a = ap.parse_args()
    if not (shutil.which("etcd") and shutil.which("etcdctl") and shutil.which("openssl")):
        sys.exit("needs etcd, etcdctl and openssl (scripts/ensure-etcd.sh)")
    work = tempfile.mkdtemp(prefix="kubefort-bench-etcd-")
    env = {**os.environ, "ETCDCTL_API": "3"}
    rows: list[tuple[str, str, str, str]] = []
    try:
        srv = LocalEtcd(
            os.path.join(work, "data"),
            workdir=work,
            extra_args=[
                "--quota-backend-bytes",
                str(8 * 2**30),
                "--max-txn-ops",
                "1024",
                "--max-request-bytes",
                str(16 * 2**20),
            ],
        )
        srv.start()
        t_load = load(srv.client_url, a.keys, a.value_size)
        with srv.client(timeout=300) as c:
            status = c.status()
            db = int(status["dbSize"])
            repo = Repository(LocalStorage(os.path.join(work, "repo")), generate())
            t = time.monotonic()
            rec_nd = ops.create_backup(repo, client=c, level=a.level, digest="none")
            t_create_nd = time.monotonic() - t
            t = time.monotonic()
            rec_ctl = ops.create_backup(repo, client=c, level=a.level, digest="none", snapshot_via="etcdctl")
            t_create_ctl = time.monotonic() - t
            t = time.monotonic()
            rec = ops.create_backup(repo, client=c, level=a.level, digest="revisions")
            t_create = time.monotonic() - t
            t = time.monotonic()
            full = ops.keyspace_digest(c, rec["etcd"]["revision"], mode="full")
            t_full = time.monotonic() - t
        snap = rec["blobs"][0]["plain_size"]
        mb = snap / 1e6
        rows.append(
            (
                "kubefort backup create (snapshot API, gzip, AES-256-GCM, signed manifest)",
                f"{t_create_nd:.1f}",
                f"{mb / t_create_nd:.0f}",
                f"stored {rec_nd['size'] / 1e6:.0f} MB",
            )
        )
        rows.append(
            (
                "kubefort backup create --snapshot-via etcdctl",
                f"{t_create_ctl:.1f}",
                f"{mb / t_create_ctl:.0f}",
                f"stored {rec_ctl['size'] / 1e6:.0f} MB",
            )
        )
        rows.append(
            (
                "kubefort backup create (default: + key/revision digest that drills compare with)",
                f"{t_create:.1f}",
                f"{mb / t_create:.0f}",
                f"{rec['etcd']['keyspace']['keys']} keys digested",
            )
        )
        rows.append(
            (
                "  extra time of --keyspace-digest full (every value read again)",
                f"{t_full:.1f}",
                f"{mb / t_full:.0f}",
                f"{full['keys']} keys",
            )
        )
        t = time.monotonic()
        res = ops.verify(repo, rec["id"])
        t_verify = time.monotonic() - t
        assert res.ok
        rows.append(("kubefort backup verify ID (decrypt + all hashes)", f"{t_verify:.1f}", f"{mb / t_verify:.0f}", ""))
        t = time.monotonic()
        ops.restore(repo, rec["id"], os.path.join(work, "restored"))
        t_restore = time.monotonic() - t
        rows.append(
            (
                "kubefort backup restore (decrypt, check, etcdctl snapshot restore)",
                f"{t_restore:.1f}",
                f"{mb / t_restore:.0f}",
                "",
            )
        )
        t = time.monotonic()
        d = ops.drill(repo, rec["id"])
        t_drill = time.monotonic() - t
        assert d.ok, d.checks
        rows.append(
            (
                "kubefort backup drill (restore, start etcd, compare every key)",
                f"{t_drill:.1f}",
                f"{mb / t_drill:.0f}",
                f"recovery time {d.timings['recovery']:.1f}s, compare {d.timings['compare']:.1f}s",
            )
        )
        # the classic pipeline, same data, same run
        pw = os.path.join(work, "pass")
        Path(pw).write_text(base64.b64encode(os.urandom(32)).decode())
        snapf, enc = os.path.join(work, "snap.db"), os.path.join(work, "snap.db.gz.enc")
        t1 = sh(f"etcdctl --endpoints={srv.client_url} snapshot save {snapf}", env)
        t2 = sh(f"gzip -{a.level} -c {snapf} | openssl enc -aes-256-ctr -pbkdf2 -pass file:{pw} -out {enc}", env)
        enc_size = os.path.getsize(enc)
        rows.append(("etcdctl snapshot save", f"{t1:.1f}", f"{mb / t1:.0f}", ""))
        rows.append(
            (
                f"etcdctl snapshot save + gzip -{a.level} + openssl enc -aes-256-ctr",
                f"{t1 + t2:.1f}",
                f"{mb / (t1 + t2):.0f}",
                f"stored {enc_size / 1e6:.0f} MB; no authentication, no manifest",
            )
        )
        os.unlink(snapf)
        t3 = sh(f"openssl enc -d -aes-256-ctr -pbkdf2 -pass file:{pw} -in {enc} | gunzip -c > {snapf}", env)
        t4 = time.monotonic()
        etcdctl_restore(snapf, os.path.join(work, "restored2"), name="b", peer_url="http://127.0.0.1:2380")
        t4 = time.monotonic() - t4
        rows.append(
            ("openssl enc -d + gunzip + etcdctl snapshot restore", f"{t3 + t4:.1f}", f"{mb / (t3 + t4):.0f}", "")
        )
        srv.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"## etcd backup benchmark ({a.keys} keys x {a.value_size} B, snapshot {snap / 1e6:.0f} MB, "
        f"etcd dbSize {db / 1e6:.0f} MB, gzip level {a.level}; load took {t_load:.0f}s)\n"
    )
    print("| step | seconds | MB/s | notes |")
    print("|---|---:|---:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |")
    print(
        f"\nCommand: `.venv/bin/python bench/bench_etcd.py --keys {a.keys} --value-size {a.value_size} --level {a.level}` "
        f"({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
