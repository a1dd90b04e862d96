#!/usr/bin/env python3
"""kubefort vs checkov vs trivy: wall time, peak memory and throughput on Kubernetes manifest corpora.

Run through ``make bench`` (bench/run.sh installs the peers and generates the corpora), or directly:

    .venv/bin/python bench/bench.py --corpus .cache/bench/syn-10000 --peers .cache/bench-peers/bin

For every corpus:
  * kubefort as a subprocess (the installed console script, exactly as a user runs it): wall time,
    peak RSS of that process (os.wait4 rusage), best of --repeat runs (1 run at >= --big objects);
  * kubefort in-process, in a fresh interpreter: parse (load_paths), rules (scan_inventory) and
    report (JSON reporter) times, best of the same number of runs;
  * checkov and trivy on the same directory, one run each, each with a time cap; a run the previous
    corpus predicts to exceed the cap is not started at all. A missing or failing peer never stops
    kubefort's measurement: its table cell says what went wrong.

Prints a markdown table, the command lines, the targets check, and writes the lot as JSON (--json).
Everything is offline: trivy uses --skip-check-update and its embedded checks; checkov runs
without an API key, with --skip-download, mapping/update checks off and short network timeouts.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TARGET_10K_WALL_S = 2.0
TARGET_10K_PEAK_MB = 300.0

CHECKOV_ENV = {
    "BC_SKIP_MAPPING": "TRUE",  # no download of the check-ID/guideline mapping
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "CHECKOV_REQUEST_CONNECT_TIMEOUT": "1",
    "CHECKOV_REQUEST_READ_TIMEOUT": "2",
    "CHECKOV_REQUEST_RETRIES": "0",
    "REQUEST_MAX_TRIES": "1",
    "SLEEP_BETWEEN_REQUEST_TRIES": "0",
    "LOG_LEVEL": "WARNING",
    # checkov drops every path with a component starting with '.', and the corpora live in .cache/
    "CKV_IGNORE_HIDDEN_DIRECTORIES": "false",
}


# --------------------------------------------------------------------------- process measurement
def source_fingerprint() -> str:
    """A short hash of kubefort's sources, to tell whether the code changed during a (long) run."""
    import hashlib

    h = hashlib.sha256()
    src = os.path.join(ROOT, "src", "kubefort")
    for base, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                path = os.path.join(base, f)
                h.update(os.path.relpath(path, src).encode())
                try:
                    with open(path, "rb") as fh:
                        h.update(fh.read())
                except OSError:
                    pass
    return h.hexdigest()[:12]


def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                for child in fh.read().split():
                    out.extend(_tree(int(child)))
    except OSError:
        pass
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    stdout_path: str | None = None,
    sample_tree: bool = False,
) -> dict[str, Any]:
    """Run cmd; wall time, peak RSS (MB) of it (and of its waited-for children), rc, stderr tail.

    Peak RSS comes from os.wait4() for this one child, so earlier (bigger) runs do not leak into
    it the way getrusage(RUSAGE_CHILDREN) would. On a timeout the whole process group is killed.
    With ``sample_tree``, the memory of the process and all its children together is sampled every
    10 ms as the sum of their PSS (shared pages counted once, split among the sharers): the honest
    peak of a command that forks workers, where the largest single RSS would understate it.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    err = tempfile.TemporaryFile()
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env, start_new_session=True
        )
    except OSError as e:
        err.close()
        if stdout_path:
            out.close()  # type: ignore[union-attr]
        return {"ok": False, "error": f"cannot start: {e.strerror or e}", "cmd": cmd}
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, _kill) if timeout else None
    if timer:
        timer.start()
    tree_peak = [0]
    done = threading.Event()

    def _sample() -> None:
        while not done.is_set():
            tree_peak[0] = max(tree_peak[0], sum(_pss_kb(p) for p in _tree(proc.pid)))
            done.wait(0.01)

    sampler = threading.Thread(target=_sample, daemon=True) if sample_tree else None
    if sampler:
        sampler.start()
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    finally:
        done.set()
        if timer:
            timer.cancel()
        if sampler:
            sampler.join()
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if stdout_path:
        out.close()  # type: ignore[union-attr]
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    err.close()
    return {
        "cmd": cmd,
        "wall_s": round(wall, 3),
        "peak_mb": round(ru.ru_maxrss / 1024, 1),  # Linux: KiB
        **({"tree_pss_mb": round(tree_peak[0] / 1024, 1)} if sample_tree else {}),
        "user_s": round(ru.ru_utime, 3),
        "sys_s": round(ru.ru_stime, 3),
        "rc": proc.returncode,
        "timed_out": timed_out.is_set(),
        "stderr_tail": stderr[-2000:],
        "ok": not timed_out.is_set(),
    }


def problem_line(text: str) -> str:
    """The most telling line of a peer's log: its FATAL/Error line, without the timestamp."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for key in ("FATAL", "Traceback", "Error", "ERROR"):
        hits = [ln for ln in lines if key in ln]
        if hits:
            line = hits[-1] if key != "Traceback" else lines[-1]
            return re.sub(r"^\S*\d{4}-\d\d-\d\dT\S+\s+", "", line)[:200]
    return last_line(text)


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""


# --------------------------------------------------------------------------- kubefort
def kubefort_cmd(kubefort: str, corpus: str, jobs: int | None = None) -> list[str]:
    return [
        kubefort,
        "scan",
        corpus,
        "-o",
        "json",
        "--output",
        "/dev/null",
        "--fail-on",
        "critical",
        *(["--jobs", str(jobs)] if jobs else []),
    ]


def bench_kubefort(kubefort: str, corpus: str, repeat: int, jobs: int | None = None) -> dict[str, Any]:
    """Best of ``repeat`` runs with the default --jobs (``jobs`` None) or the given one."""
    runs = []
    for _ in range(repeat):
        r = run_measured(kubefort_cmd(kubefort, corpus, jobs))
        # 0 clean, 1 findings >= --fail-on, 2 unreadable input, 3 a rule crashed on some object:
        # in all four the whole input was scanned, so the timing stands (rc is reported).
        r["ok"] = r.get("ok", False) and r.get("rc") in (0, 1, 2, 3)
        runs.append(r)
        if not r["ok"]:
            break
    good = [r for r in runs if r["ok"]]
    if not good:
        bad = runs[-1]
        return {
            "ok": False,
            "error": bad.get("error") or f"rc {bad.get('rc')}: {last_line(bad.get('stderr_tail', ''))}",
            "cmd": kubefort_cmd(kubefort, corpus, jobs),
        }
    best = min(good, key=lambda r: r["wall_s"])
    # memory in a run of its own: reading /proc/*/smaps_rollup every 10 ms takes CPU from the run
    mem = run_measured(kubefort_cmd(kubefort, corpus, jobs), sample_tree=True)
    return {
        "ok": True,
        "cmd": best["cmd"],
        "runs": len(good),
        "wall_s": best["wall_s"],
        "wall_all_s": [r["wall_s"] for r in good],
        "peak_mb": max(r["peak_mb"] for r in good),
        "tree_pss_mb": mem.get("tree_pss_mb", 0),
        "user_s": best["user_s"],
        "cpu_s": round(best["user_s"] + best["sys_s"], 3),
        "rc": best["rc"],
        "stderr_lines": len(best["stderr_tail"].splitlines()),
    }


SPLIT_CODE = r"""
import gc, json, sys, time
t0 = time.perf_counter()
from kubefort.api import ScanOptions, scan_inventory
from kubefort.loading.loader import load_paths
from kubefort.model.inventory import Inventory
from kubefort.reporters import Format, get_reporter
import kubefort
t_import = time.perf_counter() - t0
corpus, repeat = sys.argv[1], int(sys.argv[2])
best = None
for _ in range(repeat):
    gc.collect()
    gc.disable()  # as the CLI does
    c0, t0 = time.process_time(), time.perf_counter()
    loaded = load_paths([corpus])
    c1, t1 = time.process_time(), time.perf_counter()
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(keep_passes=False))  # as the CLI for -o json
    report.errors.extend(loaded.errors)
    report.notes[:0] = loaded.notes
    report.files = loaded.files
    c2, t2 = time.process_time(), time.perf_counter()
    with open("/dev/null", "w") as out:
        get_reporter(Format("json"), color=False, verbose=False).render(report, out)
    c3, t3 = time.process_time(), time.perf_counter()
    run = {"parse_s": t1 - t0, "rules_s": t2 - t1, "report_s": t3 - t2,
           "parse_cpu_s": c1 - c0, "rules_cpu_s": c2 - c1, "report_cpu_s": c3 - c2}
    if best is None or t3 - t0 < best["parse_s"] + best["rules_s"] + best["report_s"]:
        best = run
    objects, files, errors = len(loaded.objects), loaded.files, len(loaded.errors)
    rules = len(report.rules)
    findings = len(report.findings)
    rule_errors = len(report.rule_errors)
    del loaded, report
    gc.enable()
print(json.dumps({"import_s": t_import, **best, "objects": objects, "files": files, "load_errors": errors,
                  "rules": rules, "findings": findings, "rule_errors": rule_errors, "version": getattr(kubefort, "__version__", "?")}))
"""


def bench_split(python: str, corpus: str, repeat: int) -> dict[str, Any]:
    cmd = [python, "-c", SPLIT_CODE, corpus, str(repeat)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "in-process split timed out"}
    if p.returncode != 0:
        return {"ok": False, "error": f"rc {p.returncode}: {last_line(p.stderr)}"}
    try:
        data = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": f"unreadable output: {p.stdout[-200:]!r}"}
    data = {k: round(v, 3) if isinstance(v, float) else v for k, v in data.items()}
    data["ok"] = True
    return data


# --------------------------------------------------------------------------- peers
def checkov_cmd(checkov: str, corpus: str) -> list[str]:
    return [checkov, "-d", corpus, "--framework", "kubernetes", "--quiet", "--compact", "-o", "json", "--skip-download"]


def trivy_cmd(trivy: str, corpus: str, cap: float = 600.0) -> list[str]:
    # trivy's own --timeout (default 5m) would end a long scan with "context deadline exceeded"
    # before our cap: lift it just past the cap, so the cap decides.
    return [
        trivy,
        "config",
        "--skip-check-update",
        "--timeout",
        f"{int(cap) + 30}s",
        "-f",
        "json",
        "-o",
        "/dev/null",
        corpus,
    ]


def peer_version(exe: str, args: list[str]) -> str:
    try:
        p = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e})"
    return (p.stdout.strip() or p.stderr.strip()).splitlines()[0] if (p.stdout or p.stderr) else "unknown"


def bench_checkov(checkov: str, corpus: str, cap: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-checkov-") as tmp:
        out = os.path.join(tmp, "out.json")
        r = run_measured(checkov_cmd(checkov, corpus), env=CHECKOV_ENV, timeout=cap, stdout_path=out)
        if r.get("error"):
            return r
        if r["timed_out"]:
            return {**r, "ok": False, "error": f"timeout >{cap:.0f} s"}
        # rc 1 = failed checks were found (normal)
        summary: dict[str, Any] = {}
        try:
            with open(out, encoding="utf-8") as fh:
                data = json.load(fh)
            for part in data if isinstance(data, list) else [data]:
                if isinstance(part, dict) and part.get("check_type") == "kubernetes":
                    summary = part.get("summary", {})
        except (OSError, ValueError):
            pass
        if r["rc"] not in (0, 1) or not summary:
            return {
                **r,
                "ok": False,
                "error": f"rc {r['rc']}: {problem_line(r['stderr_tail']) or 'no kubernetes results'}",
            }
        return {
            **r,
            "resources": summary.get("resource_count"),
            "failed_checks": summary.get("failed"),
            "parsing_errors": summary.get("parsing_errors"),
        }


def bench_trivy(trivy: str, corpus: str, cap: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-trivy-cache-") as cache:
        r = run_measured(
            trivy_cmd(trivy, corpus, cap), env={"TRIVY_CACHE_DIR": cache, "TRIVY_NO_PROGRESS": "true"}, timeout=cap
        )
    if r.get("error"):
        return r
    if r["timed_out"]:
        return {**r, "ok": False, "error": f"timeout >{cap:.0f} s"}
    if r["rc"] != 0:
        if "context deadline exceeded" in r["stderr_tail"]:
            return {**r, "ok": False, "error": f"timeout >{r['wall_s']:.0f} s (trivy --timeout)"}
        return {**r, "ok": False, "error": f"rc {r['rc']}: {problem_line(r['stderr_tail'])}"}
    m = re.search(r"Detected config files\s+num=(\d+)", r["stderr_tail"])
    return {**r, "config_files": int(m.group(1)) if m else None}


def predicted_timeout(
    prev: dict[str, Any] | None, prev_objects: int | None, objects: int | None, cap: float
) -> str | None:
    """Skip a peer run that the previous (smaller) corpus predicts would exceed the cap (linear scaling)."""
    if not prev or not prev_objects or not objects or objects <= prev_objects:
        return None
    if prev.get("timed_out") or str(prev.get("error", "")).startswith("timeout"):
        return f"timeout >{cap:.0f} s (not run: the smaller corpus already timed out)"
    if not prev.get("ok"):
        return None
    est = prev["wall_s"] * objects / prev_objects
    if est > 1.25 * cap:
        return f"timeout >{cap:.0f} s (not run: est. ~{est:.0f} s, linear from {prev_objects} objects)"
    return None


# --------------------------------------------------------------------------- output
def fmt_s(v: float | None) -> str:
    return "–" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def cell(peer: dict[str, Any] | None) -> str:
    if peer is None:
        return "n/a"
    if peer.get("ok"):
        return fmt_s(peer["wall_s"])
    return str(peer.get("error", "failed")).replace("|", "/")


def speedup(peer: dict[str, Any] | None, kf_wall: float | None, cap: float) -> str:
    if not peer or not kf_wall:
        return "–"
    if peer.get("ok"):
        return (
            f"{peer['wall_s'] / kf_wall:.0f}×" if peer["wall_s"] / kf_wall >= 10 else f"{peer['wall_s'] / kf_wall:.1f}×"
        )
    if str(peer.get("error", "")).startswith("timeout"):
        return f">{cap / kf_wall:.0f}×"
    return "–"


def corpus_name(path: str) -> str:
    base = os.path.basename(os.path.normpath(path))
    m = re.fullmatch(r"syn-(\d+)", base)
    if m:
        n = int(m.group(1))
        return f"syn-{n // 1000}k" if n % 1000 == 0 else base
    return "shared/corpus" if base == "corpus" else base


def render(results: dict[str, Any]) -> str:
    cap = results["settings"]["checkov_cap_s"]
    tcap = results["settings"]["trivy_cap_s"]
    lines = [
        "| corpus | objects | kubefort wall s | kubefort peak MB | wall s, 1 process (`--jobs 1`) | peak MB, 1 process "
        "| parse CPU s | rules CPU s | checkov s | trivy s | speed-up vs checkov | vs trivy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in results["corpora"]:
        kf, sp, j1 = c["kubefort"], c["split"], c.get("kubefort_j1") or {}
        kf_wall = kf["wall_s"] if kf.get("ok") else None
        lines.append(
            "| "
            + " | ".join(
                [
                    c["name"],
                    str(c.get("objects") or "?"),
                    fmt_s(kf_wall) if kf.get("ok") else f"FAILED: {kf.get('error')}",
                    f"{kf['tree_pss_mb']:.0f}" if kf.get("ok") else "–",
                    fmt_s(j1.get("wall_s")) if j1.get("ok") else "–",
                    f"{j1['tree_pss_mb']:.0f}" if j1.get("ok") else "–",
                    fmt_s(sp.get("parse_cpu_s")) if sp.get("ok") else sp.get("error", "–"),
                    fmt_s(sp.get("rules_cpu_s")) if sp.get("ok") else "–",
                    cell(c.get("checkov")),
                    cell(c.get("trivy")),
                    speedup(c.get("checkov"), kf_wall, cap),
                    speedup(c.get("trivy"), kf_wall, tcap),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def render_details(results: dict[str, Any]) -> str:
    out = [
        "",
        "Details: kubefort CPU seconds (user+sys; steadier than wall time on a busy machine), the in-process "
        "split in CPU s (parse / rules / JSON report; startup = CLI CPU minus those three), rules loaded, "
        "findings; peers' CPU s, peak MB and their own object counts:",
        "",
    ]
    out.append(
        "| corpus | files | CLI runs (wall s) | CLI CPU s | startup CPU s | parse CPU s | rules CPU s | report CPU s | rules | findings | obj/s (wall) | obj/s (CLI CPU) | obj/s (parse+rules CPU) | checkov CPU s / peak MB / resources | trivy CPU s / peak MB / files |"
    )
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for c in results["corpora"]:
        kf, sp, ck, tv = c["kubefort"], c["split"], c.get("checkov") or {}, c.get("trivy") or {}
        out.append(
            "| "
            + " | ".join(
                [
                    c["name"],
                    str(sp.get("files", "?")),
                    ", ".join(fmt_s(w) for w in kf.get("wall_all_s", [])) or "–",
                    fmt_s(kf.get("cpu_s")),
                    ("~0" if (c.get("startup_cpu_s") or 0) < 0 else fmt_s(c.get("startup_cpu_s"))),
                    fmt_s(sp.get("parse_cpu_s")),
                    fmt_s(sp.get("rules_cpu_s")),
                    fmt_s(sp.get("report_cpu_s")),
                    str(sp.get("rules", "?")),
                    str(sp.get("findings", "?")),
                    f"{c['obj_per_s_wall']:,.0f}" if c.get("obj_per_s_wall") else "–",
                    f"{c['obj_per_cpu_s']:,.0f}" if c.get("obj_per_cpu_s") else "–",
                    f"{c['obj_per_s_work']:,.0f}" if c.get("obj_per_s_work") else "–",
                    f"{ck['user_s'] + ck['sys_s']:.1f} / {ck['peak_mb']:.0f} / {ck.get('resources')}"
                    if ck.get("ok")
                    else "–",
                    f"{tv['user_s'] + tv['sys_s']:.1f} / {tv['peak_mb']:.0f} / {tv.get('config_files')}"
                    if tv.get("ok")
                    else "–",
                ]
            )
            + " |"
        )
    return "\n".join(out)


def targets(results: dict[str, Any]) -> list[str]:
    lines = ["", "Targets:"]
    by = {c["name"]: c for c in results["corpora"]}
    c10 = by.get("syn-10k")
    verdict: dict[str, Any] = {}
    if c10 and c10["kubefort"].get("ok"):
        w, m = c10["kubefort"]["wall_s"], c10["kubefort"]["tree_pss_mb"]
        verdict["10k_wall"] = w < TARGET_10K_WALL_S
        verdict["10k_peak"] = m < TARGET_10K_PEAK_MB
        cpu = c10["kubefort"].get("cpu_s")
        j1 = c10.get("kubefort_j1") or {}
        lines.append(
            f"- syn-10k wall {w:.2f} s < {TARGET_10K_WALL_S:.0f} s: {'MET' if verdict['10k_wall'] else 'NOT MET'}"
            f" (CPU time of all processes {cpu:.2f} s; in one process, --jobs 1: "
            f"{fmt_s(j1.get('wall_s'))} s wall)"
        )
        lines.append(
            f"- syn-10k peak {m:.0f} MB (all processes) < {TARGET_10K_PEAK_MB:.0f} MB: "
            f"{'MET' if verdict['10k_peak'] else 'NOT MET'}"
        )
    else:
        lines.append("- syn-10k: not measured")
    syn = [by[n] for n in ("syn-1k", "syn-10k", "syn-50k") if n in by and by[n].get("obj_per_s_work")]
    if len(syn) >= 2:
        rates_wall = ", ".join(f"{c['name']} {c['obj_per_s_wall']:,.0f}" for c in syn if c.get("obj_per_s_wall"))
        rates_work = ", ".join(f"{c['name']} {c['obj_per_s_work']:,.0f}" for c in syn)
        # startup dominates at 1k, so judge linearity on in-process parse+rules throughput,
        # between the two largest corpora (and from the smallest as information).
        hi, lo = syn[-1]["obj_per_s_work"], max(c["obj_per_s_work"] for c in syn[:-1])
        ratio = hi / lo
        verdict["linear"] = ratio >= 0.7
        verdict["linear_ratio"] = round(ratio, 2)
        lines.append(f"- throughput, objects/s by wall time: {rates_wall}")
        lines.append(
            "- throughput, objects/s per CLI CPU second: "
            + ", ".join(f"{c['name']} {c['obj_per_cpu_s']:,.0f}" for c in syn if c.get("obj_per_cpu_s"))
        )
        lines.append(f"- throughput, objects/s per CPU second of parse+rules in-process: {rates_work}")
        lines.append(
            f"- roughly linear (largest corpus keeps >= 70% of the best smaller-corpus parse+rules rate): "
            f"{'YES' if verdict['linear'] else 'NO'} (ratio {ratio:.2f})"
        )
    results["targets"] = verdict
    return lines


def command_lines(results: dict[str, Any]) -> list[str]:
    lines = ["", "Command lines (one corpus shown; the same for each):", ""]
    s = results["settings"]
    ex = results["corpora"][0]["path"] if results["corpora"] else "DIR"
    lines.append(f"    {shlex.join(kubefort_cmd(s['kubefort'], ex))}")
    lines.append(
        f"    {s['python']} -c '<load_paths / scan_inventory / JSON reporter timer>' {ex} N   # parse/rules split"
    )
    if s.get("checkov"):
        envs = " ".join(f"{k}={v}" for k, v in CHECKOV_ENV.items())
        lines.append(f"    {envs} {shlex.join(checkov_cmd(s['checkov'], ex))}")
    if s.get("trivy"):
        lines.append(
            f"    TRIVY_CACHE_DIR=$(mktemp -d) TRIVY_NO_PROGRESS=true {shlex.join(trivy_cmd(s['trivy'], ex, s['trivy_cap_s']))}"
        )
    lines.append("")
    lines.append(
        f"kubefort: best of {s['repeat']} runs below {s['big']} objects, 1 run at or above; peers: 1 run each, "
        f"checkov cap {s['checkov_cap_s']:.0f} s, trivy cap {s['trivy_cap_s']:.0f} s. "
        "kubefort peak MB = the highest sum of PSS over the process and its workers (sampled every 10 ms "
        "in one more run, not timed); peers' peak MB = max RSS of the process (os.wait4). "
        "Parse/rules CPU s: in one process, in-process timer. "
        "CPU s = user+sys of the process and its children: less sensitive than wall time to other load "
        "on the machine (see load avg above)."
    )
    return lines


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", action="append", default=[], help="a directory to scan (repeatable)")
    ap.add_argument("--kubefort", default=os.path.join(ROOT, ".venv", "bin", "kubefort"))
    ap.add_argument(
        "--python",
        default=os.path.join(ROOT, ".venv", "bin", "python"),
        help="interpreter with kubefort importable (for the parse/rules split)",
    )
    ap.add_argument(
        "--peers",
        default=os.path.join(ROOT, ".cache", "bench-peers", "bin"),
        help="bin/ directory holding checkov and trivy",
    )
    ap.add_argument("--no-peers", action="store_true", help="measure kubefort only")
    ap.add_argument("--only", choices=["checkov", "trivy"], action="append", help="run only this peer")
    ap.add_argument("--repeat", type=int, default=3, help="kubefort runs per small corpus (best is kept)")
    ap.add_argument("--big", type=int, default=30000, help="corpora with at least this many objects run once")
    ap.add_argument("--checkov-cap", type=float, default=600.0, help="seconds before checkov is abandoned")
    ap.add_argument(
        "--trivy-cap", type=float, default=None, help="seconds before trivy is abandoned (default: checkov's)"
    )
    ap.add_argument(
        "--no-predict",
        action="store_true",
        help="always start peer runs, even those the previous corpus predicts to exceed the cap",
    )
    ap.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    args = ap.parse_args()
    if not args.corpus:
        ap.error("give at least one --corpus")
    tcap = args.trivy_cap if args.trivy_cap is not None else args.checkov_cap

    checkov = trivy = None
    if not args.no_peers:
        want = set(args.only or ["checkov", "trivy"])
        checkov = shutil.which("checkov", path=args.peers) if "checkov" in want else None
        trivy = shutil.which("trivy", path=args.peers) if "trivy" in want else None
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "settings": {
            "kubefort": args.kubefort,
            "python": args.python,
            "checkov": checkov,
            "trivy": trivy,
            "repeat": args.repeat,
            "big": args.big,
            "checkov_cap_s": args.checkov_cap,
            "trivy_cap_s": tcap,
        },
        "versions": {},
        "src_fingerprint_start": source_fingerprint(),
        "corpora": [],
    }
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "src"], capture_output=True, text=True
        )
        results["git"] = rev.stdout.strip() + ("+dirty(src)" if dirty.stdout.strip() else "")
    except OSError:
        pass
    if checkov:
        results["versions"]["checkov"] = peer_version(checkov, ["--version"])
    if trivy:
        results["versions"]["trivy"] = peer_version(trivy, ["--version"])
    peers_note = []
    if not args.no_peers:
        for name, exe in (("checkov", checkov), ("trivy", trivy)):
            if not exe and name in set(args.only or ["checkov", "trivy"]):
                peers_note.append(f"{name}: not found in {args.peers}")

    prev: dict[str, tuple[int | None, dict[str, Any] | None]] = {}
    for path in args.corpus:
        name = corpus_name(path)
        path = os.path.abspath(path)
        entry: dict[str, Any] = {"name": name, "path": path}
        results["corpora"].append(entry)
        if not os.path.isdir(path):
            entry.update(kubefort={"ok": False, "error": "no such directory"}, split={"ok": False}, objects=None)
            continue
        print(f"[{time.strftime('%H:%M:%S')}] {name}: kubefort in-process split ...", file=sys.stderr, flush=True)
        split = bench_split(args.python, path, 1)
        objects = split.get("objects")
        repeat = 1 if (objects or 0) >= args.big else args.repeat
        if repeat > 1 and split.get("ok"):
            split = bench_split(args.python, path, repeat)
        entry["split"] = split
        entry["objects"] = objects
        print(f"[{time.strftime('%H:%M:%S')}] {name}: kubefort CLI x{repeat} ...", file=sys.stderr, flush=True)
        kf = bench_kubefort(args.kubefort, path, repeat)
        entry["kubefort"] = kf
        print(f"[{time.strftime('%H:%M:%S')}] {name}: kubefort CLI --jobs 1 x{repeat} ...", file=sys.stderr, flush=True)
        entry["kubefort_j1"] = bench_kubefort(args.kubefort, path, repeat, jobs=1)
        if kf.get("ok") and objects:
            entry["obj_per_s_wall"] = round(objects / kf["wall_s"], 1)
        if kf.get("ok") and objects and kf.get("cpu_s"):
            entry["obj_per_cpu_s"] = round(objects / kf["cpu_s"], 1)
        if split.get("ok") and objects:
            work = split["parse_cpu_s"] + split["rules_cpu_s"]
            entry["obj_per_s_work"] = round(objects / work, 1) if work else None
            if kf.get("ok"):
                # what the CLI spends besides parse+rules+report: interpreter start, imports, config
                # (negative = within noise, or the code changed between the two measurements: shown as ~0)
                entry["startup_cpu_s"] = round(kf["cpu_s"] - work - split["report_cpu_s"], 3)
        for peer, exe, fn, pcap in (
            ("checkov", checkov, bench_checkov, args.checkov_cap),
            ("trivy", trivy, bench_trivy, tcap),
        ):
            if args.no_peers or (args.only and peer not in args.only):
                continue
            if not exe:
                entry[peer] = {"ok": False, "error": "not installed"}
                continue
            skip = (
                None
                if args.no_predict
                else predicted_timeout(prev.get(peer, (None, None))[1], prev.get(peer, (None, None))[0], objects, pcap)
            )
            if skip:
                entry[peer] = {"ok": False, "error": skip, "skipped": True}
                print(f"[{time.strftime('%H:%M:%S')}] {name}: {peer} skipped: {skip}", file=sys.stderr, flush=True)
                continue
            print(f"[{time.strftime('%H:%M:%S')}] {name}: {peer} (cap {pcap:.0f} s) ...", file=sys.stderr, flush=True)
            try:
                res = fn(exe, path, pcap)
            except Exception as e:  # a peer must never abort the benchmark
                res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            entry[peer] = res
            if name.startswith("syn-"):
                prev[peer] = (objects, res)
        # keep the JSON small: drop the peers' stderr unless they failed
        for peer in ("checkov", "trivy"):
            p = entry.get(peer)
            if isinstance(p, dict) and p.get("ok"):
                p.pop("stderr_tail", None)
        print(f"[{time.strftime('%H:%M:%S')}] {name}: done", file=sys.stderr, flush=True)

    results["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    results["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    results["src_fingerprint_end"] = source_fingerprint()
    text = [
        f"kubefort benchmark, {results['started']} (git {results.get('git', '?')}), "
        f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
        f"load avg {results['machine']['loadavg_start'][0]} at start, {results['machine']['loadavg_end'][0]} at end"
    ]
    if results["versions"]:
        text.append("peers: " + "; ".join(f"{k} {v}" for k, v in results["versions"].items()))
    text += [f"note: {n}" for n in peers_note]
    if results["src_fingerprint_start"] != results["src_fingerprint_end"]:
        text.append(
            f"note: kubefort's sources changed during the run (src {results['src_fingerprint_start']} -> "
            f"{results['src_fingerprint_end']}): corpora measured at different times ran different code"
        )
    text += ["", render(results), render_details(results)]
    text += targets(results)
    text += command_lines(results)
    report = "\n".join(text)
    results["markdown"] = report
    print(report)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1)
            fh.write("\n")
        print(f"\nwritten: {args.json}")
    return 0 if all(c["kubefort"].get("ok") for c in results["corpora"]) else 1


if __name__ == "__main__":
    sys.exit(main())
