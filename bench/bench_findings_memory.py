#!/usr/bin/env python3
"""The memory a scan's findings and results hold (issue 15 "Memory", issue 13 "Scale").

    PYTHONPATH=src python bench/bench_findings_memory.py                      # .cache/bench/syn-50000
    PYTHONPATH=src python bench/bench_findings_memory.py --corpus .cache/bench/syn-10000 --sites 12
    PYTHONPATH=src python bench/bench_findings_memory.py --no-trace           # CPU alone, no tracemalloc

Loads the corpus (``load_paths``, one process), builds the Inventory, then runs
``api.scan_inventory(inventory, ScanOptions(keep_passes=False))`` in this process (``--workers 1``) with
``tracemalloc`` tracing from just before the scan. The memory the report's findings and results hold
is what is freed when they are let go (``report.findings`` and ``report.results`` emptied, then a full
collection): what stays (the inventory, its caches, the attack graph, the per-object origins) is not
counted. Prints the findings, the results, the bytes held in total and per finding, and the CPU seconds
(``process_time``, this process only) of the scan. ``--workers 2`` measures what the
parent holds when a worker judged part of the objects (its findings are unpickled in the parent). tracemalloc slows allocation-heavy code: ``--no-trace`` times the scan
without it (and measures no memory). ``--sites N`` lists the N allocation sites holding the most of it.
Synthetic corpora come from ../shared/bench/gen_corpus.py --objects N --seed 1.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _default_corpus() -> str:
    for base in (ROOT, os.path.join(os.path.dirname(os.path.dirname(ROOT)), "main")):
        path = os.path.join(base, ".cache", "bench", "syn-50000")
        if os.path.isdir(path):
            return path
    return os.path.join(ROOT, ".cache", "bench", "syn-50000")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=_default_corpus(), help="a directory of manifests (default: syn-50000)")
    ap.add_argument("--no-trace", action="store_true", help="time the scan without tracemalloc (no memory figure)")
    ap.add_argument("--sites", type=int, default=0, help="list the N allocation sites holding the most")
    ap.add_argument("--workers", type=int, default=1, help="processes of the scan (the parent unpacks the rest)")
    args = ap.parse_args()
    if not os.path.isdir(args.corpus):
        print(f"{args.corpus}: no such directory (make it with ../shared/bench/gen_corpus.py)", file=sys.stderr)
        return 2

    from kubefort.api import ScanOptions, scan_inventory
    from kubefort.loading.loader import load_paths
    from kubefort.model.inventory import Inventory

    gc.disable()  # as the CLI scans (api.batch_gc): no collection pauses in the timings
    loaded = load_paths([args.corpus])
    inventory = Inventory(loaded.objects)
    gc.collect()
    trace = not args.no_trace
    if trace:
        tracemalloc.start(3 if args.sites else 1)
    cpu0 = time.process_time()
    report = scan_inventory(inventory, ScanOptions(paths=[args.corpus], keep_passes=False, workers=args.workers))
    cpu = time.process_time() - cpu0
    n_findings, n_results = len(report.findings), len(report.results)
    print(f"corpus {args.corpus}: {len(inventory)} objects, {n_findings} findings, {n_results} results")
    print(f"scan CPU {cpu:.2f} s" + (" (under tracemalloc)" if trace else ""))
    if not trace:
        return 0
    gc.collect()
    held_snap = tracemalloc.take_snapshot() if args.sites else None
    held0, _ = tracemalloc.get_traced_memory()
    report.findings = []
    report.results = []
    gc.collect()
    held1, _ = tracemalloc.get_traced_memory()
    held = held0 - held1
    print(f"findings and results hold {held / 1e6:.1f} MB: {held / max(n_findings, 1):.0f} bytes per finding")
    if held_snap is not None:
        after = tracemalloc.take_snapshot()
        for stat in held_snap.compare_to(after, "traceback")[: args.sites]:
            frames = " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno}" for f in reversed(list(stat.traceback)))
            print(f"  {stat.size_diff / 1e6:8.1f} MB {stat.count_diff:9d} blocks  {frames}")
    tracemalloc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
