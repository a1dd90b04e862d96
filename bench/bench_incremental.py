#!/usr/bin/env python3
"""Incremental scans (``kubefort scan --cache DIR``, issue 15): what a re-scan costs next to a full scan,
in the same run on the same machine.

    .venv/bin/python bench/bench_incremental.py                 # .cache/bench/syn-10000 (made if missing)
    .venv/bin/python bench/bench_incremental.py --corpus DIR --repeat 3

On a copy of the corpus, the command a user runs (``kubefort scan DIR -o json --output FILE``, default
workers), best of --repeat runs each:
- the full scan (no cache);
- a cold-cache scan (empty cache directory: the full scan plus writing the cache);
- a warm scan with nothing changed;
- a warm scan after one file changed (a namespace file: one image tag changed, a new tag each run).
Wall and CPU seconds (all processes), each row's ratio to the full scan, whether each report is
byte-identical to a full scan of the same tree, and for the one-change scan what the cache took and
judged again (``--debug``'s ``scan cache`` line). Synthetic corpora come from
../shared/bench/gen_corpus.py --objects N --seed 1.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench import run_measured  # noqa: E402


def _default_corpus() -> str:
    path = os.path.join(ROOT, ".cache", "bench", "syn-10000")
    if not os.path.isdir(path):
        gen = os.path.join(os.path.dirname(ROOT), "shared", "bench", "gen_corpus.py")
        subprocess.run([sys.executable, gen, "--objects", "10000", "--seed", "1", "--out", path], check=True)
    return path


def kubefort(*args: str) -> list[str]:
    return [sys.executable, "-c", "from kubefort.cli import main; main()", *args]


def change_image(path: str, n: int) -> None:
    """Give the first image of ``path`` a tag it never had (``n``: the run)."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    m = re.search(r"image: (\S+)", text)
    if m is None:
        raise SystemExit(f"{path}: no image to change")
    image = m.group(1).split("@", 1)[0]
    base = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text[: m.start(1)] + f"{base}:bench-{n}" + text[m.end(1) :])


def measure(cmd: list[str], out: str, repeat: int, before: Any = None) -> dict[str, Any]:
    """Best of ``repeat`` runs of ``cmd`` by wall time (``before(i)`` runs untimed before each)."""
    best: dict[str, Any] | None = None
    env = {"PYTHONPATH": os.path.join(ROOT, "src")}
    for i in range(repeat):
        if before is not None:
            before(i)
        r = run_measured(cmd, env=env, stdout_path=None)
        if r.get("rc") not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)}: exit {r.get('rc')}: {r.get('stderr_tail', '')[-500:]}")
        r["cpu_s"] = r["user_s"] + r["sys_s"]
        if best is None or r["wall_s"] < best["wall_s"]:
            best = r
    assert best is not None
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=None, help="directory to scan (default: .cache/bench/syn-10000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per row (best wall time kept)")
    ap.add_argument("--file", default="ns-0001.yaml", help="the file of the corpus changed")
    args = ap.parse_args()
    corpus = args.corpus or _default_corpus()
    work = tempfile.mkdtemp(prefix="kf-incremental-")
    try:
        tree = os.path.join(work, "tree")
        shutil.copytree(corpus, tree, ignore=shutil.ignore_patterns("expected.json"))
        cache = os.path.join(work, "cache")
        out = {k: os.path.join(work, f"{k}.json") for k in ("full", "cold", "warm", "changed", "full-changed")}
        changed_file = os.path.join(tree, args.file)

        def scan(name: str, *extra: str) -> list[str]:
            return kubefort("scan", tree, "-o", "json", "--output", out[name], *extra)

        def wipe(_: int) -> None:
            shutil.rmtree(cache, ignore_errors=True)

        rows: list[tuple[str, dict[str, Any]]] = []
        rows.append(("full scan (no cache)", measure(scan("full"), out["full"], args.repeat)))
        rows.append(("cold cache", measure(scan("cold", "--cache", cache), out["cold"], args.repeat, wipe)))
        rows.append(("warm, nothing changed", measure(scan("warm", "--cache", cache), out["warm"], args.repeat)))
        changed = measure(
            kubefort("--debug", *scan("changed", "--cache", cache)[3:]),
            out["changed"],
            args.repeat,
            lambda i: change_image(changed_file, i),
        )
        rows.append((f"warm, one file changed ({args.file}: one image tag)", changed))
        measure(scan("full-changed"), out["full-changed"], 1)  # the full scan of the changed tree
        same = {
            "cold": filecmp.cmp(out["full"], out["cold"], shallow=False),
            "warm": filecmp.cmp(out["full"], out["warm"], shallow=False),
            "changed": filecmp.cmp(out["full-changed"], out["changed"], shallow=False),
        }
        full = rows[0][1]
        print(f"corpus: {corpus} (kubefort scan DIR -o json --output FILE; best of {args.repeat})")
        print("| scan | wall s | CPU s (all processes) | wall / full | CPU / full |")
        print("|---|---|---|---|---|")
        for name, r in rows:
            print(
                f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                f"{r['wall_s'] / full['wall_s']:.2f} | {r['cpu_s'] / full['cpu_s']:.2f} |"
            )
        print("same report as a full scan: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
        line = next((x for x in changed["stderr_tail"].splitlines() if "scan cache" in x), "")
        print("one-change scan, cache:", line.split(": ", 2)[-1] if line else "(no --debug line)")
        return 0 if all(same.values()) else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
