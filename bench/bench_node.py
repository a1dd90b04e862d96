#!/usr/bin/env python3
"""Node audit and version checks: how long they take, and what the node rules cost a manifest scan.

    .venv/bin/python bench/bench_node.py [--corpus DIR] [--repeat 5]

Prints a markdown table:
  * ``kubefort node audit`` in-process on the kubeadm fixture trees (hardened and insecure, modes
    applied in a temporary copy): collect (read the node) and rules, best of --repeat;
  * the same as a subprocess (the console script, as a user runs it): wall time;
  * ``kubefort versions`` as a subprocess;
  * the CPU time the 104 CP/NODE/ETCD/SEC-008..014/VER rules add to a manifest scan of --corpus
    (default: a 10,000-object synthetic corpus from ../shared/bench/gen_corpus.py), where they find
    nothing: the price every ``kubefort scan`` pays for them.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "tests", "fixtures", "node")


def _modes():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("node_modes", os.path.join(FIXTURES, "modes.py"))
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def cpu(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    out = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        out = min(out, time.process_time() - t)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="manifest directory for the scan-overhead row")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    sys.path.insert(0, os.path.join(REPO, "src"))
    from kubefort.analysis.node.collect import collect_node
    from kubefort.analysis.node.targets import node_rule_ids
    from kubefort.api import ScanOptions, audit_node, batch_gc
    from kubefort.engine.runner import evaluate
    from kubefort.loading.loader import load_paths
    from kubefort.model.inventory import Inventory
    from kubefort.rules import builtin_rules, default_registry

    rows: list[tuple[str, str, str]] = []
    registry = default_registry(plugins=False)
    ids = node_rule_ids(registry)
    exe = os.path.join(os.path.dirname(sys.executable), "kubefort")
    with tempfile.TemporaryDirectory() as tmp:
        modes = _modes()
        for profile in ("hardened", "insecure"):
            root = modes.prepare(profile, os.path.join(tmp, profile))
            t_collect = best(lambda root=root: collect_node(str(root)), args.repeat)
            audit = collect_node(str(root))
            t_rules = (
                best(
                    lambda root=root: audit_node(collect_node(str(root)), ScanOptions(rules=ids), registry=registry),
                    args.repeat,
                )
                - t_collect
            )
            checks = audit_node(audit, ScanOptions(rules=ids), registry=registry).checks
            rows.append(
                (
                    f"node audit, {profile} kubeadm node (in-process)",
                    f"collect {t_collect * 1000:.0f} ms + rules {max(t_rules, 0) * 1000:.0f} ms",
                    f"{len(audit.objects)} objects, {len(ids)} rules, {len(checks)} results",
                )
            )
            t_cli = best(
                lambda root=root: subprocess.run(
                    [exe, "node", "audit", "--root", str(root), "-o", "json"], capture_output=True, check=False
                ),
                max(1, args.repeat // 2),
            )
            rows.append(
                (f"kubefort node audit --root <{profile}> -o json (subprocess)", f"{t_cli * 1000:.0f} ms", "wall time")
            )
        t_start = best(
            lambda: subprocess.run([exe, "--version"], capture_output=True, check=False), max(1, args.repeat // 2)
        )
        rows.append(
            (
                "kubefort --version (interpreter start and imports, for reference)",
                f"{t_start * 1000:.0f} ms",
                "wall time",
            )
        )
        t_ver = best(
            lambda: subprocess.run(
                [
                    exe,
                    "versions",
                    "--apiserver",
                    "1.33.2",
                    "--kubelet",
                    "1.30.14",
                    "--scheduler",
                    "1.34.1",
                    "-o",
                    "json",
                ],
                capture_output=True,
                check=False,
            ),
            max(1, args.repeat // 2),
        )
        rows.append(("kubefort versions ... -o json (subprocess)", f"{t_ver * 1000:.0f} ms", "wall time"))
        corpus = args.corpus
        if corpus is None:
            gen = os.path.join(REPO, "..", "shared", "bench", "gen_corpus.py")
            if os.path.exists(gen):
                corpus = os.path.join(tmp, "syn-10k")
                subprocess.run(
                    [sys.executable, gen, "--objects", "10000", "--seed", "1", "--out", corpus],
                    check=True,
                    capture_output=True,
                )
        if corpus:
            with batch_gc():
                inv = Inventory(load_paths([corpus]).objects)
            rules = [r for r in builtin_rules() if r.meta.enabled]
            node_ids = set(ids)  # the node audit's rules, by their targets; and every VER rule
            mine = [r for r in rules if r.meta.id in node_ids or r.meta.area == "VER"]
            others = [r for r in rules if r not in mine]

            def run(rs):  # type: ignore[no-untyped-def]
                for o in inv:
                    o.memo.clear()
                with batch_gc():
                    evaluate(rs, inv)

            t_mine = cpu(lambda: run(mine), 3)
            t_others = cpu(lambda: run(others), 3)
            rows.append(
                (
                    f"scan overhead of the {len(mine)} node/version rules on {len(inv)} manifest objects",
                    f"{t_mine * 1000:.0f} ms CPU",
                    f"vs {t_others * 1000:.0f} ms CPU for the other {len(others)} rules "
                    f"(+{100 * t_mine / t_others:.0f}%)",
                )
            )
    print("| measurement | time | notes |\n|---|---:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    print(
        f"\ncommand: {sys.executable} bench/bench_node.py --repeat {args.repeat}"
        + (f" --corpus {args.corpus}" if args.corpus else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
