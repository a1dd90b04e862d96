"""Cluster-mode benchmark: a generated cluster served by the test API server, read and judged by kubefort.

The server (tests/kubeapi) runs in its own process, so the figures are kubefort's alone: the time
spent reading (discovery and paginated lists through the official client, parsing, cleaning) and
judging (building the inventory, owner resolution, every rule), the requests made, and the peak
memory of the scanning process. Also the size of a snapshot of the same read.

    python bench/bench_cluster.py                 # 10k objects (gen_corpus.py --objects 10000)
    python bench/bench_cluster.py --objects 2000 --qps 1000 --burst 1000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GEN = ROOT.parent / "shared" / "bench" / "gen_corpus.py"
sys.path[:0] = [str(ROOT / "src")]


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--qps", type=float, default=50.0, help="kubefort's client-side limit (default: as the CLI)")
    ap.add_argument("--burst", type=int, default=100)
    args = ap.parse_args()

    from kubefort.api import ScanOptions, cluster_kinds, scan_cluster
    from kubefort.loading.cluster import ClusterSource, read_cluster, save_snapshot
    from kubefort.rules import default_registry

    with tempfile.TemporaryDirectory(prefix="kubefort-bench-cluster-") as tmp:
        corpus = Path(tmp) / "corpus"
        subprocess.run(
            [sys.executable, str(GEN), "--objects", str(args.objects), "--seed", str(args.seed), "--out", str(corpus)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        kubeconfig = Path(tmp) / "kubeconfig"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
        server = subprocess.Popen(
            [sys.executable, "-m", "kubeapi.server", "--fixtures", str(corpus), "--kubeconfig", str(kubeconfig)],
            cwd=ROOT / "tests",
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None and server.stdin is not None
            ready = server.stdout.readline().split()
            if not ready or ready[0] != "ready":
                raise SystemExit(f"the test server did not start: {ready}")
            served = int(ready[2])
            registry = default_registry()
            rules = list(registry)
            source = ClusterSource(kubeconfig=str(kubeconfig), qps=args.qps, burst=args.burst)
            base_rss = peak_rss_mib()
            t0 = time.perf_counter()
            read = read_cluster(source, cluster_kinds(rules, registry))
            t1 = time.perf_counter()
            report = scan_cluster(ScanOptions(cluster=source, workers=1), registry=registry, read=read)
            t2 = time.perf_counter()
            snap = Path(tmp) / "snapshot.json.gz"
            save_snapshot(read, str(snap))
            t3 = time.perf_counter()
            snap_mib = snap.stat().st_size / 2**20
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=30)

    print(f"cluster: {served} objects served by the test API server (gen_corpus --objects {args.objects})")
    print(
        f"read:    {t1 - t0:6.2f} s  {read.object_count()} objects of {len(read.lists)} types, "
        f"{read.stats.requests} requests ({read.stats.retries} retried), {read.stats.bytes / 2**20:.1f} MiB, "
        f"{read.stats.throttled_seconds:.2f} s waiting for --qps {args.qps:g}/--burst {args.burst}"
    )
    print(f"judge:   {t2 - t1:6.2f} s  {len(report.rules)} rules, {len(report.findings)} findings")
    print(f"snapshot:{t3 - t2:6.2f} s  {snap_mib:.1f} MiB gzip")
    print(f"memory:  peak {peak_rss_mib():.0f} MiB (after imports {base_rss:.0f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
