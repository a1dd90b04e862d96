#!/usr/bin/env python3
"""Schema validation (KF-SCHEMA-*): what it adds to a scan, with and without it, in the same run.

    .venv/bin/python bench/bench_schema.py                       # .cache/bench/syn-10000 (made if missing)
    .venv/bin/python bench/bench_schema.py --corpus DIR [...] --repeat 3

Per corpus, best of --repeat runs:
- in one process (CPU seconds): parsing (load_paths), validating every object against the API schema
  (what runs before the rules), and the rules (scan_inventory, one worker) without the schema rules
  (``--skip-rules 'KF-SCHEMA-*'``: objects judged as written) and with them (the default);
- the command a user runs, ``kubefort scan DIR -o json --output /dev/null``, with and without the
  schema rules (wall seconds, default workers).
Synthetic corpora come from ../shared/bench/gen_corpus.py --objects N --seed 1.
"""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "src"))

from kubefort.api import ScanOptions, scan_inventory  # noqa: E402
from kubefort.loading.loader import load_paths  # noqa: E402
from kubefort.model.inventory import Inventory  # noqa: E402
from kubefort.rules import default_registry  # noqa: E402
from kubefort.rules.schema import validate_inventory  # noqa: E402

SKIP = ["KF-SCHEMA-*"]


def _default_corpus() -> str:
    path = os.path.join(ROOT, ".cache", "bench", "syn-10000")
    if not os.path.isdir(path):
        gen = os.path.join(os.path.dirname(ROOT), "shared", "bench", "gen_corpus.py")
        subprocess.run([sys.executable, gen, "--objects", "10000", "--seed", "1", "--out", path], check=True)
    return path


def _best(fn: Callable[[], Any], repeat: int, prepare: Callable[[], Any] | None = None) -> float:
    """Best CPU seconds of ``fn(prepare())`` (``prepare`` untimed: objects are marked by validation,
    so each run gets freshly loaded ones)."""
    best = float("inf")
    for _ in range(repeat):
        arg = prepare() if prepare else None
        gc.collect()
        gc.disable()
        t0 = time.process_time()
        fn(arg) if prepare else fn()
        best = min(best, time.process_time() - t0)
        gc.enable()
    return best


def _wall(cmd: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.monotonic() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="*", help="directories to scan (default: syn-10000)")
    ap.add_argument("--repeat", type=int, default=3)
    ns = ap.parse_args()
    registry = default_registry(plugins=False)
    kubefort = os.path.join(os.path.dirname(sys.executable), "kubefort")
    print(f"command: {shlex.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])}; load {os.getloadavg()[0]:.2f}")
    print()
    print("| corpus | objects | parse | validate | rules without schema | rules with schema | CLI without | CLI with |")
    print("|---|---|---|---|---|---|---|---|")
    for corpus in ns.corpus or [_default_corpus()]:
        objects = len(load_paths([corpus]).objects)

        def fresh(corpus: str = corpus) -> Inventory:
            return Inventory(load_paths([corpus]).objects)

        parse = _best(lambda corpus=corpus: load_paths([corpus]), ns.repeat)
        validate = _best(lambda inv: validate_inventory(inv, {}), ns.repeat, fresh)
        without = _best(
            lambda inv: scan_inventory(inv, ScanOptions(skip_rules=SKIP, keep_passes=False), registry=registry),
            ns.repeat,
            fresh,
        )
        with_ = _best(
            lambda inv: scan_inventory(inv, ScanOptions(keep_passes=False), registry=registry), ns.repeat, fresh
        )
        base = [kubefort, "scan", corpus, "-o", "json", "--output", "/dev/null", "--fail-on", "critical"]
        cli_without = _wall([*base, "--skip-rules", "KF-SCHEMA-*"], ns.repeat)
        cli_with = _wall(base, ns.repeat)
        print(
            f"| {os.path.basename(corpus.rstrip('/'))} | {objects} | {parse:.2f} s | {validate:.2f} s | "
            f"{without:.2f} s | {with_:.2f} s ({with_ / without:.2f}x) | {cli_without:.2f} s | "
            f"{cli_with:.2f} s ({cli_with / cli_without:.2f}x) |"
        )
    print()
    print("parse, validate and rules: CPU seconds in one process; CLI: wall seconds of `kubefort scan`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
