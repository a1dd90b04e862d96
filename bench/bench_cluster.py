"""Cluster-mode benchmarks: a cluster read through the test API server, and a cluster at Kubernetes' limits.

1. ``python bench/bench_cluster.py``: a generated 10k-object cluster (``gen_corpus.py --objects N``)
   served by the test API server (tests/kubeapi) in its own process, so the figures are kubefort's
   alone: the time spent reading (discovery and paginated lists through the official client,
   parsing, cleaning) and judging (inventory, owner resolution, every rule), the requests made, the
   peak memory of the scanning process, and the size of a snapshot of the same read.

2. ``python bench/bench_cluster.py --scale``: a cluster at Kubernetes' documented scalability limits
   (https://kubernetes.io/docs/setup/best-practices/cluster-large/: 5,000 nodes, 150,000 pods, 10,000
   namespaces; ``--nodes``/``--pods``/``--namespaces`` change them), generated as a real one is shaped
   (:class:`ClusterGen`: Pods made by ReplicaSets made by Deployments, DaemonSets on every node,
   StatefulSets, CronJobs, Nodes with their status, RBAC, NetworkPolicies, quotas) and written
   directly as a snapshot. Then ``kubefort scan --snapshot FILE -o json`` runs in a fresh process:
   wall time, CPU time and peak memory (``os.wait4``), and, in another, the phases (load, inventory
   and owners, judging) with the peak memory after each. ``--serve`` also serves the objects through
   the test API server and reads them as a live scan does (requests, read time).

    python bench/bench_cluster.py                                  # 10k objects through the test server
    python bench/bench_cluster.py --objects 2000 --qps 1000 --burst 1000
    python bench/bench_cluster.py --scale                          # 5,000 nodes, 150,000 pods, 10,000 namespaces
    python bench/bench_cluster.py --scale --pods 15000 --nodes 500 --namespaces 1000 --serve
    python bench/bench_cluster.py --scale --keep /tmp/scale.json.gz --kubefort-src /path/to/other/src
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
    ap.add_argument("--objects", type=int, default=10_000, help="served cluster: gen_corpus.py --objects")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--qps", type=float, default=50.0, help="kubefort's client-side limit (default: as the CLI)")
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--scale", action="store_true", help="a cluster at Kubernetes' limits, as a snapshot")
    ap.add_argument("--nodes", type=int, default=5_000)
    ap.add_argument("--pods", type=int, default=150_000)
    ap.add_argument("--namespaces", type=int, default=10_000)
    ap.add_argument("--keep", metavar="FILE", help="--scale: write the snapshot here (reused when it exists)")
    ap.add_argument("--serve", action="store_true", help="--scale: also read it through the test API server")
    ap.add_argument("--workers", type=int, default=None, help="--scale: kubefort scan --workers (default: the CLI's)")
    ap.add_argument("--kubefort-src", default=str(ROOT / "src"), help="--scale: measure the kubefort under this src")
    args = ap.parse_args()
    return scale(args) if args.scale else served(args)


def served(args: argparse.Namespace) -> int:
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
        server = start_server(["--fixtures", str(corpus)], kubeconfig)
        try:
            assert server.stdout is not None
            ready = server.stdout.readline().split()
            if not ready or ready[0] != "ready":
                raise SystemExit(f"the test server did not start: {ready}")
            count = int(ready[2])
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
            stop_server(server)

    print(f"cluster: {count} objects served by the test API server (gen_corpus --objects {args.objects})")
    print(
        f"read:    {t1 - t0:6.2f} s  {read.object_count()} objects of {len(read.lists)} types, "
        f"{read.stats.requests} requests ({read.stats.retries} retried), {read.stats.bytes / 2**20:.1f} MiB, "
        f"{read.stats.throttled_seconds:.2f} s waiting for --qps {args.qps:g}/--burst {args.burst}"
    )
    print(f"judge:   {t2 - t1:6.2f} s  {len(report.rules)} rules, {len(report.findings)} findings")
    print(f"snapshot:{t3 - t2:6.2f} s  {snap_mib:.1f} MiB gzip")
    print(f"memory:  peak {peak_rss_mib():.0f} MiB (after imports {base_rss:.0f} MiB)")
    return 0


def start_server(args: list[str], kubeconfig: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])}
    return subprocess.Popen(
        [sys.executable, "-m", "kubeapi.server", *args, "--kubeconfig", str(kubeconfig)],
        cwd=ROOT / "tests",
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_server(server: subprocess.Popen[str]) -> None:
    if server.stdin is not None:
        server.stdin.close()
    server.wait(timeout=120)


# -- --scale -----------------------------------------------------------------------------------------------


def scale(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="kubefort-bench-scale-") as tmp:
        snap = Path(args.keep) if args.keep else Path(tmp) / "scale.json.gz"
        if not snap.exists():
            t0 = time.perf_counter()
            gen = ClusterGen(args.nodes, args.pods, args.namespaces, seed=args.seed)
            gen.generate()
            counts = gen.write(str(snap))
            del gen
            print(
                f"generated in {time.perf_counter() - t0:.1f} s: "
                + ", ".join(f"{k} {n:,}" for k, n in sorted(counts.items()))
            )
        raw = measure_uncompressed(snap)
        print(f"snapshot: {snap.stat().st_size / 2**20:.1f} MiB gzip, {raw / 2**20:.0f} MiB of JSON")
        src = args.kubefort_src
        cmd = [sys.executable, "-c", "from kubefort.cli import main; main()", "scan", "--snapshot", str(snap)]
        cmd += ["-o", "json", "--output", os.devnull, "--fail-on", "critical"]
        if args.workers is not None:
            cmd += ["--workers", str(args.workers)]
        wall, cpu, rss, code = run_measured(cmd, src)
        print(f"kubefort scan --snapshot -o json: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {rss:.0f} MiB (exit {code})")
        phases = subprocess.run(
            [sys.executable, "-c", PHASES, str(snap)],
            env={**os.environ, "PYTHONPATH": src},
            capture_output=True,
            text=True,
        )
        print(phases.stdout.rstrip() or phases.stderr[-2000:])
        if args.serve:
            serve_snapshot(snap, Path(tmp), args)
    return 0


def measure_uncompressed(path: Path) -> int:
    import gzip

    n = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 24):
            n += len(chunk)
    return n


def run_measured(cmd: list[str], src: str) -> tuple[float, float, float, int]:
    """Wall and CPU seconds and peak RSS (MiB, the largest process of the run) of a command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env={**os.environ, "PYTHONPATH": src}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace").strip()
        if err:
            print("  stderr: " + err[-500:].replace("\n", "\n  stderr: "))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


#: the phases of a snapshot scan, in one process (workers=1), with the peak memory after each
PHASES = r"""
import sys, time, gc
from pathlib import Path
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
from kubefort.api import ScanOptions, scan_cluster
from kubefort.loading.cluster import load_snapshot
from kubefort.rules import default_registry
registry = default_registry()
base = rss()
gc.disable()
t0 = time.perf_counter()
read = load_snapshot(sys.argv[1])
t1 = time.perf_counter()
m1 = rss()
n = read.object_count()
report = scan_cluster(ScanOptions(snapshot=sys.argv[1], workers=1, keep_passes=False), registry=registry, read=read)
t2 = time.perf_counter()
m2 = rss()
judged = len(report.inventory.judged()) if report.inventory is not None else 0
print(f"phases (one process): load {t1 - t0:.1f} s (peak {m1:.0f} MiB, {n:,} objects), "
      f"inventory and judging {t2 - t1:.1f} s (peak {m2:.0f} MiB; {judged:,} objects judged, "
      f"{len(report.findings):,} findings); after imports {base:.0f} MiB")
"""


def serve_snapshot(snap: Path, tmp: Path, args: argparse.Namespace) -> None:
    """Serve the snapshot's objects through the test API server and read them as a live scan does."""
    from kubefort.api import ScanOptions, cluster_kinds, scan_cluster
    from kubefort.loading.cluster import ClusterSource, read_cluster
    from kubefort.rules import default_registry

    kubeconfig = tmp / "kubeconfig"
    server = start_server(["--snapshot", str(snap)], kubeconfig)
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if not ready or ready[0] != "ready":
            raise SystemExit(f"the test server did not start: {ready}")
        registry = default_registry()
        source = ClusterSource(kubeconfig=str(kubeconfig), qps=args.qps, burst=args.burst)
        t0 = time.perf_counter()
        read = read_cluster(source, cluster_kinds(list(registry), registry))
        t1 = time.perf_counter()
        report = scan_cluster(ScanOptions(cluster=source, workers=1), registry=registry, read=read)
        t2 = time.perf_counter()
    finally:
        stop_server(server)
    print(
        f"served: read {t1 - t0:.1f} s ({read.object_count():,} objects, {read.stats.requests} requests, "
        f"{read.stats.bytes / 2**20:.0f} MiB, {read.stats.throttled_seconds:.1f} s waiting for --qps {args.qps:g}), "
        f"judge {t2 - t1:.1f} s ({len(report.findings):,} findings); peak {peak_rss_mib():.0f} MiB"
    )


# -- a cluster at Kubernetes' documented limits ----------------------------------------------------------


class ClusterGen:
    """A deterministic cluster shaped as a real one: every Pod made by a controller (ReplicaSets made by
    Deployments, DaemonSets on every node, StatefulSets, a CronJob's Jobs), Nodes with their status,
    Namespaces with their ServiceAccounts, ConfigMaps, Secrets, RBAC, NetworkPolicies and quotas.

    Objects are written as the API server serves them (uid, resourceVersion, creationTimestamp, the
    status controllers fill in) less ``managedFields`` (kubefort drops them on read), so the snapshot's
    size is what ``kubefort cluster snapshot save`` would write for such a cluster."""

    IMAGES = (
        "nginx:1.27.3",
        "redis:7.4.1",
        "postgres:16.6",
        "python:3.12-slim",
        "node:22-alpine",
        "ghcr.io/acme/api:2.14.0",
        "ghcr.io/acme/worker:2.14.0",
        "envoyproxy/envoy:v1.32.2",
        "grafana/grafana:11.4.0",
        "busybox:latest",
    )

    def __init__(self, nodes: int, pods: int, namespaces: int, seed: int = 1) -> None:
        import random

        self.r = random.Random(seed)
        self.n_nodes, self.n_pods, self.n_namespaces = nodes, pods, namespaces
        self.rv = 1000
        self.nodes = [f"cp-{i}" for i in range(min(3, nodes))] + [f"node-{i:05d}" for i in range(max(0, nodes - 3))]
        self.namespaces = ["kube-system", "monitoring"] + [f"team-{i:05d}" for i in range(max(0, namespaces - 2))]
        self.lists: dict[tuple[str, str, str, bool], list[dict[str, Any]]] = {}

    # -- plumbing ------------------------------------------------------------------------------------------
    def uid(self) -> str:
        import uuid

        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def meta(self, name: str, namespace: str | None, **extra: Any) -> dict[str, Any]:
        self.rv += 1
        md: dict[str, Any] = {"name": name}
        if namespace is not None:
            md["namespace"] = namespace
        md.update(uid=self.uid(), resourceVersion=str(self.rv), creationTimestamp="2026-03-01T10:00:00Z")
        md.update(extra)
        return md

    def add(self, group: str, version: str, resource: str, kind: str, namespaced: bool, obj: dict[str, Any]) -> None:
        self.lists.setdefault((group, version, resource, namespaced), []).append(
            {"apiVersion": f"{group}/{version}" if group else version, "kind": kind, **obj}
        )

    @staticmethod
    def owner(api: str, kind: str, name: str, uid: str) -> list[dict[str, Any]]:
        return [
            {"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}
        ]

    def suffix(self, n: int = 5) -> str:
        return "".join(self.r.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    # -- pod templates and pods ------------------------------------------------------------------------------
    def template(self, app: str, image: str, *, hardened: bool) -> dict[str, Any]:
        c: dict[str, Any] = {
            "name": app,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "env": [{"name": "APP_NAME", "value": app}, {"name": "LOG_LEVEL", "value": "info"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
        if hardened:
            c["securityContext"] = {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            }
            c["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10}
        spec: dict[str, Any] = {
            "containers": [c],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default" if not hardened else app,
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}} if hardened else {},
            "schedulerName": "default-scheduler",
        }
        return {"metadata": {"labels": {"app": app}}, "spec": spec}

    def pod(
        self,
        name: str,
        ns: str,
        tmpl: dict[str, Any],
        owner: list[dict[str, Any]],
        extra_labels: dict[str, str],
        node: str | None = None,
    ) -> None:
        import copy

        spec = copy.deepcopy(tmpl["spec"])
        token = f"kube-api-access-{self.suffix()}"
        spec["volumes"] = [
            {
                "name": token,
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    }
                                ]
                            }
                        },
                    ],
                },
            }
        ]
        for c in spec["containers"]:
            c["volumeMounts"] = [
                {"name": token, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
            ]
        node = node or self.r.choice(self.nodes)
        spec.update(
            nodeName=node,
            enableServiceLinks=True,
            preemptionPolicy="PreemptLowerPriority",
            priority=0,
            tolerations=[
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        )
        ip = f"10.{self.r.randrange(64, 128)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        t = "2026-03-01T10:00:05Z"
        status = {
            "phase": "Running",
            "conditions": [
                {"type": kind, "status": "True", "lastProbeTime": None, "lastTransitionTime": t}
                for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": f"192.168.{self.r.randrange(20)}.{self.r.randrange(1, 250)}",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": t,
            "containerStatuses": [
                {
                    "name": c["name"],
                    "state": {"running": {"startedAt": t}},
                    "lastState": {},
                    "ready": True,
                    "restartCount": self.r.choice((0, 0, 0, 1, 3)),
                    "image": c["image"],
                    "imageID": f"docker.io/library/{c['image'].split(':')[0]}@sha256:{self.r.getrandbits(256):064x}",
                    "containerID": f"containerd://{self.r.getrandbits(256):064x}",
                    "started": True,
                }
                for c in spec["containers"]
            ],
            "qosClass": "Burstable",
        }
        md = self.meta(name, ns, labels={**tmpl["metadata"]["labels"], **extra_labels}, ownerReferences=owner)
        if owner and owner[0]["kind"] == "ReplicaSet":
            md["generateName"] = name.rsplit("-", 1)[0] + "-"
        self.add("", "v1", "pods", "Pod", True, {"metadata": md, "spec": spec, "status": status})

    # -- workloads --------------------------------------------------------------------------------------------
    def deployment(self, ns: str, app: str, replicas: int, *, hardened: bool) -> None:
        tmpl = self.template(app, self.r.choice(self.IMAGES), hardened=hardened)
        d_md = self.meta(
            app, ns, labels={"app": app}, generation=3, annotations={"deployment.kubernetes.io/revision": "2"}
        )
        self.add(
            "apps",
            "v1",
            "deployments",
            "Deployment",
            True,
            {
                "metadata": d_md,
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": app}},
                    "template": tmpl,
                    "strategy": {
                        "type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                    },
                    "revisionHistoryLimit": 10,
                    "progressDeadlineSeconds": 600,
                },
                "status": {
                    "observedGeneration": 3,
                    "replicas": replicas,
                    "updatedReplicas": replicas,
                    "readyReplicas": replicas,
                    "availableReplicas": replicas,
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True",
                            "reason": "MinimumReplicasAvailable",
                            "lastUpdateTime": "2026-03-01T10:00:10Z",
                            "lastTransitionTime": "2026-03-01T10:00:10Z",
                        }
                    ],
                },
            },
        )
        owner = self.owner("apps/v1", "Deployment", app, d_md["uid"])
        revisions = [(1, 0), (2, replicas)] if self.r.random() < 0.6 else [(2, replicas)]
        for rev, n in revisions:
            h = self.suffix(10)
            labels = {"app": app, "pod-template-hash": h}
            rs_tmpl = {"metadata": {"labels": labels}, "spec": tmpl["spec"]}
            rs_md = self.meta(
                f"{app}-{h}",
                ns,
                labels=labels,
                ownerReferences=owner,
                annotations={
                    "deployment.kubernetes.io/revision": str(rev),
                    "deployment.kubernetes.io/desired-replicas": str(replicas),
                },
            )
            self.add(
                "apps",
                "v1",
                "replicasets",
                "ReplicaSet",
                True,
                {
                    "metadata": rs_md,
                    "spec": {"replicas": n, "selector": {"matchLabels": labels}, "template": rs_tmpl},
                    "status": {
                        "replicas": n,
                        "fullyLabeledReplicas": n,
                        "readyReplicas": n,
                        "availableReplicas": n,
                        "observedGeneration": 1,
                    },
                },
            )
            rs_owner = self.owner("apps/v1", "ReplicaSet", rs_md["name"], rs_md["uid"])
            for _ in range(n):
                self.pod(f"{app}-{h}-{self.suffix()}", ns, rs_tmpl, rs_owner, {})

    def statefulset(self, ns: str, app: str, replicas: int) -> None:
        tmpl = self.template(app, "postgres:16.6", hardened=True)
        md = self.meta(app, ns, labels={"app": app})
        self.add(
            "apps",
            "v1",
            "statefulsets",
            "StatefulSet",
            True,
            {
                "metadata": md,
                "spec": {
                    "replicas": replicas,
                    "serviceName": app,
                    "selector": {"matchLabels": {"app": app}},
                    "template": tmpl,
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}},
                        }
                    ],
                },
                "status": {
                    "replicas": replicas,
                    "readyReplicas": replicas,
                    "currentReplicas": replicas,
                    "updatedReplicas": replicas,
                },
            },
        )
        owner = self.owner("apps/v1", "StatefulSet", app, md["uid"])
        for i in range(replicas):
            self.pod(f"{app}-{i}", ns, tmpl, owner, {"statefulset.kubernetes.io/pod-name": f"{app}-{i}"})
            self.add(
                "",
                "v1",
                "persistentvolumeclaims",
                "PersistentVolumeClaim",
                True,
                {
                    "metadata": self.meta(f"data-{app}-{i}", ns, labels={"app": app}),
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "10Gi"}},
                        "storageClassName": "standard",
                        "volumeMode": "Filesystem",
                        "volumeName": f"pvc-{self.uid()}",
                    },
                    "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}},
                },
            )

    def daemonset(self, ns: str, app: str, image: str, *, privileged: bool) -> None:
        tmpl = self.template(app, image, hardened=not privileged)
        if privileged:
            tmpl["spec"]["hostNetwork"] = True
            tmpl["spec"]["containers"][0]["securityContext"] = {"privileged": True}
        md = self.meta(app, ns, labels={"app": app})
        n = len(self.nodes)
        self.add(
            "apps",
            "v1",
            "daemonsets",
            "DaemonSet",
            True,
            {
                "metadata": md,
                "spec": {
                    "selector": {"matchLabels": {"app": app}},
                    "template": tmpl,
                    "updateStrategy": {"type": "RollingUpdate"},
                },
                "status": {
                    "currentNumberScheduled": n,
                    "desiredNumberScheduled": n,
                    "numberReady": n,
                    "numberAvailable": n,
                },
            },
        )
        owner = self.owner("apps/v1", "DaemonSet", app, md["uid"])
        for node in self.nodes:
            self.pod(f"{app}-{self.suffix()}", ns, tmpl, owner, {}, node=node)

    def cronjob(self, ns: str, app: str) -> None:
        tmpl = self.template(app, "busybox:1.37", hardened=True)
        tmpl["spec"]["restartPolicy"] = "OnFailure"
        md = self.meta(app, ns)
        self.add(
            "batch",
            "v1",
            "cronjobs",
            "CronJob",
            True,
            {
                "metadata": md,
                "spec": {
                    "schedule": "0 3 * * *",
                    "concurrencyPolicy": "Forbid",
                    "jobTemplate": {"spec": {"template": tmpl}},
                },
                "status": {"lastScheduleTime": "2026-03-02T03:00:00Z"},
            },
        )
        job = f"{app}-29012345"
        j_md = self.meta(job, ns, ownerReferences=self.owner("batch/v1", "CronJob", app, md["uid"]))
        self.add(
            "batch",
            "v1",
            "jobs",
            "Job",
            True,
            {
                "metadata": j_md,
                "spec": {"template": tmpl, "backoffLimit": 6, "completions": 1, "parallelism": 1},
                "status": {
                    "succeeded": 1,
                    "startTime": "2026-03-02T03:00:00Z",
                    "completionTime": "2026-03-02T03:00:20Z",
                },
            },
        )
        self.pod(f"{job}-{self.suffix()}", ns, tmpl, self.owner("batch/v1", "Job", job, j_md["uid"]), {"job-name": job})

    def static_pods(self) -> None:
        for cp in self.nodes[:3]:
            for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                tag = "3.5.21-0" if comp == "etcd" else "v1.33.4"
                self.add(
                    "",
                    "v1",
                    "pods",
                    "Pod",
                    True,
                    {
                        "metadata": self.meta(
                            f"{comp}-{cp}",
                            "kube-system",
                            labels={"component": comp, "tier": "control-plane"},
                            ownerReferences=[
                                {"apiVersion": "v1", "kind": "Node", "name": cp, "uid": self.uid(), "controller": True}
                            ],
                        ),
                        "spec": {
                            "nodeName": cp,
                            "hostNetwork": True,
                            "priorityClassName": "system-node-critical",
                            "containers": [
                                {
                                    "name": comp,
                                    "image": f"registry.k8s.io/{comp}:{tag}",
                                    "command": [comp, "--anonymous-auth=false", "--profiling=false"],
                                }
                            ],
                        },
                        "status": {"phase": "Running"},
                    },
                )

    def node(self, name: str, i: int) -> None:
        control = name.startswith("cp-")
        labels = {
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/zone": f"zone-{i % 3}",
            "node.kubernetes.io/instance-type": "m6i.2xlarge",
        }
        if control:
            labels["node-role.kubernetes.io/control-plane"] = ""
        images = [
            {
                "names": [
                    f"registry.example.com/img-{j}@sha256:{self.r.getrandbits(256):064x}",
                    f"registry.example.com/img-{j}:1.{j}",
                ],
                "sizeBytes": self.r.randrange(10**6, 10**9),
            }
            for j in range(25)
        ]
        self.add(
            "",
            "v1",
            "nodes",
            "Node",
            False,
            {
                "metadata": self.meta(
                    name,
                    None,
                    labels=labels,
                    annotations={
                        "node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                    },
                ),
                "spec": {
                    "podCIDR": f"10.{64 + i // 256}.{i % 256}.0/24",
                    "providerID": f"aws:///zone/i-{self.r.getrandbits(64):016x}",
                    **(
                        {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
                        if control
                        else {}
                    ),
                },
                "status": {
                    "capacity": {"cpu": "8", "memory": "32386200Ki", "pods": "110", "ephemeral-storage": "101430960Ki"},
                    "allocatable": {
                        "cpu": "7910m",
                        "memory": "31186200Ki",
                        "pods": "110",
                        "ephemeral-storage": "93478772582",
                    },
                    "conditions": [
                        {
                            "type": t,
                            "status": "False" if t != "Ready" else "True",
                            "lastHeartbeatTime": "2026-03-02T10:00:00Z",
                            "lastTransitionTime": "2026-03-01T10:00:00Z",
                            "reason": f"Kubelet{t}",
                            "message": "ok",
                        }
                        for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": f"192.168.{i // 250}.{i % 250 + 1}"},
                        {"type": "Hostname", "address": name},
                    ],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                    "nodeInfo": {
                        "machineID": f"{self.r.getrandbits(128):032x}",
                        "systemUUID": self.uid(),
                        "bootID": self.uid(),
                        "kernelVersion": "6.8.0-1021-aws",
                        "osImage": "Ubuntu 24.04.1 LTS",
                        "containerRuntimeVersion": "containerd://1.7.24",
                        "kubeletVersion": "v1.33.4" if i % 10 else "v1.31.9",
                        "kubeProxyVersion": "",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                    },
                    "images": images,
                },
            },
        )

    def namespace(self, ns: str, i: int, pod_budget: int) -> None:
        self.add(
            "",
            "v1",
            "namespaces",
            "Namespace",
            False,
            {
                "metadata": self.meta(
                    ns,
                    None,
                    labels={
                        "kubernetes.io/metadata.name": ns,
                        **({"pod-security.kubernetes.io/enforce": "restricted"} if i % 3 == 0 else {}),
                    },
                ),
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )
        self.add("", "v1", "serviceaccounts", "ServiceAccount", True, {"metadata": self.meta("default", ns)})
        self.add(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            True,
            {
                "metadata": self.meta(
                    "kube-root-ca.crt",
                    ns,
                    annotations={
                        "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."
                    },
                ),
                "data": {
                    "ca.crt": "-----BEGIN CERTIFICATE-----\n"
                    + "MIIDBTCCAe2gAwIBAgIIB" * 50
                    + "\n-----END CERTIFICATE-----\n"
                },
            },
        )
        if ns in ("kube-system", "monitoring"):
            return
        apps = []
        left = pod_budget
        while left > 0:
            n = min(left, self.r.choice((1, 2, 2, 3, 3, 4, 6)))
            apps.append(n)
            left -= n
        for j, n in enumerate(apps):
            app = f"app-{j}"
            hardened = self.r.random() < 0.7
            if hardened:
                self.add(
                    "",
                    "v1",
                    "serviceaccounts",
                    "ServiceAccount",
                    True,
                    {"metadata": self.meta(app, ns), "automountServiceAccountToken": False},
                )
            self.deployment(ns, app, n, hardened=hardened)
            self.add(
                "",
                "v1",
                "services",
                "Service",
                True,
                {
                    "metadata": self.meta(app, ns, labels={"app": app}),
                    "spec": {
                        "type": "ClusterIP",
                        "selector": {"app": app},
                        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                        "clusterIP": f"10.96.{self.r.randrange(256)}.{self.r.randrange(1, 255)}",
                        "sessionAffinity": "None",
                        "ipFamilies": ["IPv4"],
                    },
                    "status": {"loadBalancer": {}},
                },
            )
        self.add(
            "",
            "v1",
            "configmaps",
            "ConfigMap",
            True,
            {"metadata": self.meta("app-config", ns), "data": {"settings.yaml": "feature: on\nlevel: 3\n"}},
        )
        self.add(
            "",
            "v1",
            "secrets",
            "Secret",
            True,
            {
                "metadata": self.meta("app-credentials", ns),
                "type": "Opaque",
                "data": {"username": "<redacted>", "password": "<redacted>"},
            },
        )
        self.add(
            "networking.k8s.io",
            "v1",
            "networkpolicies",
            "NetworkPolicy",
            True,
            {
                "metadata": self.meta("default-deny", ns),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            },
        )
        if i % 2:
            self.add(
                "networking.k8s.io",
                "v1",
                "networkpolicies",
                "NetworkPolicy",
                True,
                {
                    "metadata": self.meta("allow-http", ns),
                    "spec": {
                        "podSelector": {"matchLabels": {"app": "app-0"}},
                        "policyTypes": ["Ingress"],
                        "ingress": [
                            {
                                "from": [
                                    {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
                                ],
                                "ports": [{"port": 8080, "protocol": "TCP"}],
                            }
                        ],
                    },
                },
            )
        rules = [{"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list", "watch"]}]
        if i % 7 == 0:
            rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]})
        self.add(
            "rbac.authorization.k8s.io",
            "v1",
            "roles",
            "Role",
            True,
            {"metadata": self.meta("app-reader", ns), "rules": rules},
        )
        self.add(
            "rbac.authorization.k8s.io",
            "v1",
            "rolebindings",
            "RoleBinding",
            True,
            {
                "metadata": self.meta("app-reader", ns),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "app-reader"},
                "subjects": [
                    {"kind": "ServiceAccount", "name": "app-0", "namespace": ns},
                    {"kind": "Group", "name": f"team-{i % 50}"},
                ],
            },
        )
        if i % 2 == 0:
            self.add(
                "",
                "v1",
                "resourcequotas",
                "ResourceQuota",
                True,
                {
                    "metadata": self.meta("quota", ns),
                    "spec": {"hard": {"requests.cpu": "20", "requests.memory": "64Gi", "pods": "200"}},
                    "status": {
                        "hard": {"requests.cpu": "20", "requests.memory": "64Gi", "pods": "200"},
                        "used": {"pods": "12"},
                    },
                },
            )
            self.add(
                "",
                "v1",
                "limitranges",
                "LimitRange",
                True,
                {
                    "metadata": self.meta("defaults", ns),
                    "spec": {
                        "limits": [
                            {
                                "type": "Container",
                                "default": {"memory": "256Mi"},
                                "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                            }
                        ]
                    },
                },
            )

    def generate(self) -> None:
        from kubefort.analysis.rbac.bootstrap import BOOTSTRAP_CLUSTER_ROLES

        for i, name in enumerate(self.nodes):
            self.node(name, i)
        self.static_pods()
        self.daemonset("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.33.4", privileged=True)
        self.daemonset("kube-system", "calico-node", "docker.io/calico/node:v3.29.1", privileged=True)
        self.daemonset("monitoring", "node-exporter", "quay.io/prometheus/node-exporter:v1.8.2", privileged=False)
        self.deployment("kube-system", "coredns", 2, hardened=True)
        for role in BOOTSTRAP_CLUSTER_ROLES:
            self.add(
                "rbac.authorization.k8s.io",
                "v1",
                "clusterroles",
                "ClusterRole",
                False,
                {k: v for k, v in role.items() if k not in ("apiVersion", "kind")},
            )
        self.add(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            "ClusterRoleBinding",
            False,
            {
                "metadata": self.meta("cluster-admins", None),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "Group", "name": "platform-admins"}],
            },
        )
        teams = self.namespaces[2:]
        used = len(self.nodes) * 3 + 12 + 2
        stateful = teams[::10]
        cron = teams[::20]
        used += len(stateful) * 3 + len(cron)
        budget = max(0, self.n_pods - used)
        per, extra = divmod(budget, max(1, len(teams)))
        for i, ns in enumerate(self.namespaces):
            self.namespace(ns, i, 0 if i < 2 else per + (1 if i - 2 < extra else 0))
        for ns in stateful:
            self.statefulset(ns, "db", 3)
        for ns in cron:
            self.cronjob(ns, "nightly")

    def write(self, path: str) -> dict[str, int]:
        """Write the snapshot as ``kubefort cluster snapshot save`` does; the objects per kind."""
        from kubefort.engine.rule import kinds_read
        from kubefort.loading.cluster import ClusterRead, Discovery, ResourceType, save_snapshot
        from kubefort.loading.cluster.reader import TypeList
        from kubefort.rules import default_registry

        registry = default_registry()
        read = ClusterRead(
            context="scale",
            server="https://scale.example:6443",
            namespace=None,
            server_version={"major": "1", "minor": "33", "gitVersion": "v1.33.4"},
            discovery=Discovery(aggregated=True),
            # every kind any rule names (more than a cluster scan reads now), so that an older kubefort
            # measured on the same file finds every kind it reads, as in a snapshot it saved itself
            kinds=sorted(kinds_read(r.meta for r in registry)),
        )
        for (group, version, resource, namespaced), items in sorted(self.lists.items()):
            t = ResourceType(
                group=group,
                version=version,
                resource=resource,
                kind=items[0]["kind"],
                namespaced=namespaced,
                verbs=("get", "list", "watch"),
            )
            read.discovery.resources.append(t)
            read.lists.append(TypeList(type=t, resource_version=str(self.rv), items=items))
        save_snapshot(read, path)
        return {t.type.kind: len(t.items) for t in read.lists}


if __name__ == "__main__":
    raise SystemExit(main())
