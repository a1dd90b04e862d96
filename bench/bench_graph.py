#!/usr/bin/env python3
"""Attack graph: building it and every shortest path, against parsing the same files, same run.

    .venv/bin/python bench/bench_graph.py                  # 10k objects (gen_corpus --objects 10000 --seed 1)
    .venv/bin/python bench/bench_graph.py --objects 1000   # quick

Input: ``../shared/bench/gen_corpus.py --objects N --seed 1`` cached in ``.cache/bench-graph/``.
Measures, in this process:
  * parse: ``load_paths`` of the files and the Inventory (what every command pays first);
  * graph: ``AttackGraph(inventory)`` (NetworkPolicy engine, RBAC index and escalation paths included),
    and the part of it that joins the RBAC engine's steps between identities (``_rbac_steps``);
  * paths: the shortest path of every start, for internet and any-pod to cluster-admin, all-secrets, nodes;
and prints the graph's size (vertices, edges against objects: linear, not quadratic) and the ratio
(graph + paths) / parse.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from kubefort.analysis.graph.build import AttackGraph  # noqa: E402
from kubefort.analysis.graph.search import resolve, shortest_paths, to_networkx  # noqa: E402
from kubefort.loading.loader import load_paths  # noqa: E402
from kubefort.model.inventory import Inventory  # noqa: E402

GEN = ROOT.parent / "shared" / "bench" / "gen_corpus.py"


def corpus(objects: int) -> Path:
    out = ROOT / ".cache" / "bench-graph" / f"objects-{objects}"
    if not (out / "cluster.yaml").exists():
        subprocess.run(
            [sys.executable, str(GEN), "--objects", str(objects), "--seed", "1", "--out", str(out)], check=True
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=10000)
    args = ap.parse_args()
    d = corpus(args.objects)
    files = sorted(str(p) for p in d.glob("*.yaml"))
    t0, c0 = time.perf_counter(), time.process_time()
    loaded = load_paths(files, workers=1)
    inv = Inventory(loaded.objects)
    t1, c1 = time.perf_counter(), time.process_time()
    hops = [0.0]
    joined = getattr(AttackGraph, "_rbac_steps", None)  # absent before RBAC steps between identities

    def timed(self: AttackGraph) -> None:
        t = time.perf_counter()
        assert joined is not None
        joined(self)
        hops[0] += time.perf_counter() - t

    if joined is not None:
        setattr(AttackGraph, "_rbac_steps", timed)  # noqa: B010 (timing one phase of the build)
    g = AttackGraph(inv)
    t2, c2 = time.perf_counter(), time.process_time()
    nxg = to_networkx(g)
    counts = {}
    for src in ("internet", "any-pod"):
        for dst in ("cluster-admin", "all-secrets", "nodes"):
            counts[f"{src}->{dst}"] = len(shortest_paths(g, resolve(g, src, dst), nxg=nxg))
    t3, c3 = time.perf_counter(), time.process_time()
    parse, build, paths = t1 - t0, t2 - t1, t3 - t2
    cparse, cbuild, cpaths = c1 - c0, c2 - c1, c3 - c2
    print(
        f"objects: {len(inv.objects)}  workloads: {len(g.netpol.workloads)}  vertices: {len(g.vertices)}  edges: {len(g.edges)}"
    )
    print("paths found: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print("| step | seconds | CPU seconds (this process: steadier on a shared machine) |")
    print("|---|---|---|")
    print(f"| parse (load_paths + Inventory) | {parse:.2f} | {cparse:.2f} |")
    print(f"| attack graph (engines included) | {build:.2f} | {cbuild:.2f} |")
    print(f"| of which RBAC steps between identities | {hops[0]:.2f} | |")
    print(f"| all shortest paths (6 questions) | {paths:.2f} | {cpaths:.2f} |")
    print(f"| ratio (graph + paths) / parse | {(build + paths) / parse:.2f} | {(cbuild + cpaths) / cparse:.2f} |")
    print(f"| ratio RBAC steps between identities / graph | {hops[0] / build:.2f} | |")
    print(f"command: python bench/bench_graph.py --objects {args.objects}")


if __name__ == "__main__":
    main()
