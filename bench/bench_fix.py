#!/usr/bin/env python3
"""``kubefort fix`` on real manifests: what changes, what does not, and how long it takes.

Copies corpus projects (default: ../shared/corpus, every project) into a temporary directory, runs
``kubefort fix --write`` on each copy, then compares every file with its original line by line:

  * files edited, findings before and after the re-scan, findings that appeared (must be 0);
  * every original line that no longer appears (only the lines a fix replaces may), every added line
    (only the fixes' own lines may), counted by text as multisets per file (the unit tests check order);
  * a second run must edit nothing (idempotence);
  * wall time of the first run, and its ratio to a plain ``kubefort scan`` of the same copy (fix scans
    twice and writes, so about 2 is expected).

    .venv/bin/python bench/bench_fix.py [--corpus ../shared/corpus] [PROJECT...]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", "from kubefort.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return time.perf_counter() - t, p.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "corpus"))
    ap.add_argument("projects", nargs="*")
    a = ap.parse_args()
    corpus = Path(a.corpus)
    projects = a.projects or sorted(p.name for p in corpus.iterdir() if p.is_dir())
    removed: collections.Counter[str] = collections.Counter()
    added: collections.Counter[str] = collections.Counter()
    bad = 0
    print("| project | files edited | findings before | after | appeared | fix s | scan s | ratio | 2nd run edits |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in projects:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / name
            shutil.copytree(corpus / name, copy)
            scan_s, _ = run(["scan", str(copy), "-o", "json", "--output", str(Path(tmp) / "r.json"), "--jobs", "1"])
            fix_s, err = run(["fix", str(copy), "--write"])
            m = re.search(r"finds (\d+) finding\(s\) where there were (\d+): \d+ removed, (\d+) appeared", err)
            edited = re.search(r"edited (\d+) file", err)
            _, err2 = run(["fix", str(copy), "--write"])
            again = re.search(r"edited (\d+) file", err2)
            after, before, appeared = (m.group(1), m.group(2), m.group(3)) if m else ("?", "?", "?")
            for p in copy.rglob("*"):
                if not p.is_file():
                    continue
                o = (corpus / name / p.relative_to(copy)).read_bytes()
                if o == p.read_bytes():
                    continue
                # as multisets: a diff aligns repeated lines (many similar documents) arbitrarily
                before_lines = collections.Counter(x.strip() for x in o.decode().splitlines())
                after_lines = collections.Counter(x.strip() for x in p.read_bytes().decode().splitlines())
                removed += before_lines - after_lines
                added += after_lines - before_lines
            bad += appeared not in ("0", "?") or (again is not None and again.group(1) != "0")
            print(
                f"| {name} | {edited.group(1) if edited else '?'} | {before} | {after} | {appeared} | {fix_s:.1f} "
                f"| {scan_s:.1f} | {fix_s / scan_s:.1f} | {again.group(1) if again else '?'} |"
            )
    print("\nlines replaced (original text, count):")
    for line, n in removed.most_common():
        print(f"  {n:5}  {line}")
    print("lines added (count):")
    for line, n in added.most_common():
        print(f"  {n:5}  {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
