#!/usr/bin/env python3
"""Which rules grow faster than the input: each rule's CPU per object judged on a small and a large input,
in the same run (issue 15, "time linear in the input").

    .venv/bin/python bench/bench_rule_scaling.py .cache/bench/syn-50000 .cache/bench/syn-200000
    .venv/bin/python bench/bench_rule_scaling.py /tmp/small.json.gz /tmp/large.json.gz   # cluster snapshots

Every rule function is wrapped in a CPU timer (``time.process_time``); each input is loaded and judged in
its own process (one process, no workers), one after the other. A row per rule: CPU seconds and calls on
each input, and the growth: (large CPU / small CPU) / (large objects / small objects). 1.0 is linear;
the first call of a cross-object rule carries the engine it builds (the attack graph for KF-GRAPH-001),
so its row shows that engine's growth too. Rows are sorted by the large input's CPU; ``--top`` of them
are printed, then the rules whose growth exceeds ``--flag`` (default 1.3) among those above 0.1 s.
Directories are read as ``kubefort scan DIR``; ``*.json.gz`` files as ``kubefort scan --snapshot FILE``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import collections, gc, json, sys, time
from kubefort.api import ScanOptions, scan_inventory
from kubefort.rules import default_registry
pt = time.process_time
gc.disable()
path = sys.argv[1]
spent, calls = collections.Counter(), collections.Counter()
registry = default_registry()
for r in registry:
    def timed(*a, _fn=r.fn, _id=r.meta.id, **k):
        t = pt()
        try:
            return list(_fn(*a, **k))
        finally:
            spent[_id] += pt() - t
            calls[_id] += 1
    object.__setattr__(r, "fn", timed)
c0 = pt()
if path.endswith(".json.gz"):
    from kubefort.loading.cluster.snapshot import load_snapshot
    inventory, mode = load_snapshot(path).inventory(), "cluster"
else:
    from kubefort.loading.loader import load_paths
    from kubefort.model.inventory import Inventory
    inventory, mode = Inventory(load_paths([path]).objects), "manifest"
c1 = pt()
report = scan_inventory(inventory, ScanOptions(keep_passes=False), registry=registry, mode=mode)
c2 = pt()
print(json.dumps({"objects": len(inventory.objects), "load": c1 - c0, "judge": c2 - c1,
                  "findings": len(report.findings), "rules": {k: [v, calls[k]] for k, v in spent.items()}}))
"""


def measure(python: str, path: str) -> dict:  # type: ignore[type-arg]
    p = subprocess.run([python, "-c", CHILD, path], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        sys.exit(
            f"bench_rule_scaling: {path}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}"
        )
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("small", help="the small input (directory or cluster snapshot)")
    ap.add_argument("large", help="the large input, of the same shape")
    ap.add_argument("--python", default=sys.executable, help="interpreter with kubefort importable")
    ap.add_argument("--top", type=int, default=15, help="rows printed, by the large input's CPU")
    ap.add_argument("--flag", type=float, default=1.3, help="growth above which a rule is listed again")
    a = ap.parse_args()
    small, large = measure(a.python, a.small), measure(a.python, a.large)
    scale = large["objects"] / small["objects"]
    print(f"small: {small['objects']:,} objects, load {small['load']:.2f} s, judging {small['judge']:.2f} s CPU")
    print(f"large: {large['objects']:,} objects, load {large['load']:.2f} s, judging {large['judge']:.2f} s CPU")
    print(f"objects x{scale:.2f}; judging per object x{large['judge'] / small['judge'] / scale:.2f}\n")
    rows = []
    for rid, (cpu, n) in large["rules"].items():
        s_cpu, s_n = small["rules"].get(rid, [0.0, 0])
        growth = cpu / s_cpu / scale if s_cpu > 0 else float("inf")
        rows.append((cpu, rid, n, s_cpu, s_n, growth))
    rows.sort(reverse=True)
    print("| rule | large CPU s | calls | small CPU s | calls | growth per object |")
    print("|---|---:|---:|---:|---:|---:|")
    for cpu, rid, n, s_cpu, s_n, growth in rows[: a.top]:
        print(f"| {rid} | {cpu:.3f} | {n:,} | {s_cpu:.3f} | {s_n:,} | {growth:.2f} |")
    flagged = [r for r in rows if r[5] > a.flag and r[0] > 0.1]
    print(f"\nabove {a.flag}x per object (and 0.1 s): " + (", ".join(f"{r[1]} {r[5]:.2f}x" for r in flagged) or "none"))


if __name__ == "__main__":
    main()
