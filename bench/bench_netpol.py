#!/usr/bin/env python3
"""NetworkPolicy reachability: kubefort's engine against network-config-analyzer (NCA), same input, same run.

    .venv/bin/python bench/bench_netpol.py                 # 2000 workloads, 500 namespaces, 1000 policies
    .venv/bin/python bench/bench_netpol.py --skip-nca      # kubefort only
    .venv/bin/python bench/bench_netpol.py --sizes 50:4:100              # quick

Input: ``../shared/bench/gen_corpus.py --namespaces N --workloads M --only-netpol --seed 1`` (N
namespaces with M workloads each, Namespaces with labels, NetworkPolicies of every shape the
generator plants), cached in ``.cache/bench-netpol/``. The generator writes about 2.7 policies per
namespace; the first ``--policies`` of them (file order, deterministic) are kept.

Measures, in this process:
  * load: parsing the files (``load_paths``) and the Inventory;
  * build: ``NetpolEngine(inventory)`` (workloads, equivalence classes, policy selection);
  * matrix: ``engine.connections()``, every allowed workload pair with its ports (target < 10 s);
  * can-reach: ``engine.explain(src, dst)`` for --queries random pairs on the built engine
    (median / p95 / max; target < 20 ms), and one cold query (build + explain) for reference;
  * NCA ``--connectivity`` (txt_no_fw_rules, deployments) on the same files in its own virtualenv
    (``.cache/nca-venv``; installed from PyPI when missing), wall time, and the ratio NCA / kubefort
    (load + build + matrix). When NCA finishes, both connectivity maps are compared pair by pair.

Prints a markdown table and the command that produced it.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from kubefort.analysis.netpol import NetpolEngine  # noqa: E402
from kubefort.api import batch_gc  # noqa: E402
from kubefort.loading.loader import load_paths  # noqa: E402
from kubefort.model.inventory import Inventory  # noqa: E402

GEN = ROOT.parent / "shared" / "bench" / "gen_corpus.py"
NCA_VENV = ROOT / ".cache" / "nca-venv"
NCA_VERSION = "2.1.0"
TARGET_MATRIX_S = 10.0
TARGET_QUERY_MS = 20.0


def corpus(namespaces: int, workloads: int, policies: int) -> Path:
    """Generate (once) and trim the input; returns its directory."""
    out = ROOT / ".cache" / "bench-netpol" / f"ns{namespaces}-w{workloads}-p{policies}"
    done = out / ".complete"
    if done.exists():
        return out
    raw = out.with_name(out.name + "-raw")
    if not (raw / "ns-0000.yaml").exists():
        subprocess.run(
            [
                sys.executable,
                str(GEN),
                "--namespaces",
                str(namespaces),
                "--workloads",
                str(workloads),
                "--only-netpol",
                "--seed",
                "1",
                "--out",
                str(raw),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    kept = 0
    for f in sorted(raw.glob("ns-*.yaml")):
        docs = []
        for d in yaml.safe_load_all(f.read_text()):
            if d and d.get("kind") == "NetworkPolicy":
                if kept >= policies:
                    continue
                kept += 1
                _fix_excepts(d)
            if d:
                docs.append(d)
        (out / f.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    done.write_text("ok\n")
    return out


def _fix_excepts(policy: dict) -> None:
    """gen_corpus.py draws ipBlock ``except`` ranges independently of ``cidr`` (10.A.0.0/16 except
    10.B.C.0/24): the API server rejects such policies, so move each except inside its cidr
    (10.A.C.0/24) to keep every policy valid for both tools."""
    import ipaddress

    for direction, key in (("ingress", "from"), ("egress", "to")):
        for rule in (policy.get("spec") or {}).get(direction) or []:
            for peer in (rule or {}).get(key) or []:
                ipb = (peer or {}).get("ipBlock")
                if not ipb or not ipb.get("except"):
                    continue
                net = ipaddress.ip_network(ipb["cidr"], strict=False)
                fixed = []
                for e in ipb["except"]:
                    ex = ipaddress.ip_network(e, strict=False)
                    if not ex.subnet_of(net) or ex.prefixlen <= net.prefixlen:
                        host = int(ex.network_address) & ((1 << (32 - net.prefixlen)) - 1)
                        ex = ipaddress.ip_network(
                            (int(net.network_address) | host, max(ex.prefixlen, net.prefixlen + 1)), strict=False
                        )
                    fixed.append(str(ex))
                ipb["except"] = fixed


def nca_bin() -> Path | None:
    nca = NCA_VENV / "bin" / "nca"
    if nca.exists():
        return nca
    try:
        subprocess.run([sys.executable, "-m", "venv", str(NCA_VENV)], check=True, capture_output=True, timeout=120)
        subprocess.run(
            [
                str(NCA_VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                f"network-config-analyzer=={NCA_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as e:
        print(f"bench: cannot install network-config-analyzer: {type(e).__name__}", file=sys.stderr)
        return None
    return nca if nca.exists() else None


def run_nca(nca: Path, data: Path, timeout: float) -> tuple[float | None, str, str]:
    """(wall seconds or None, connectivity text, note)."""
    out = ROOT / ".cache" / "bench-netpol" / f"{data.name}.nca.txt"
    cmd = [
        str(nca),
        "--connectivity",
        str(data),
        "-r",
        str(data),
        "-o",
        "txt_no_fw_rules",
        "--output_endpoints",
        "deployments",
        "-f",
        str(out),
    ]
    if out.exists():
        out.unlink()
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "", f"timeout > {timeout:.0f} s"
    wall = time.perf_counter() - t
    if not out.exists():
        return None, "", f"failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-200:]}"
    return wall, out.read_text(), " ".join(shlex.quote(c) for c in cmd)


def compare_with_nca(eng: NetpolEngine, text: str) -> tuple[int, int, int]:
    """(pairs compared, pairs that differ, NCA-only endpoints) between NCA's workload map and ours.
    NCA adds simulated endpoints ("livesim", e.g. kube-system/kube-dns-livesim when policies name
    kube-dns but the input has none); pairs with them are left out of the comparison."""
    sys.path.insert(0, str(ROOT / "tests" / "unit"))
    from test_netpol_nca import parse_nca  # the parser of the differential test

    nca_pairs, _ = parse_nca(text)
    ours = {(a.ref, b.ref): p for a, b, p in eng.connections()}
    refs = {w.ref for w in eng.workloads}
    extra = {x for k in nca_pairs for x in k if x not in refs}
    keys = {k for k in set(ours) | set(nca_pairs) if k[0] in refs and k[1] in refs}
    differ = sum(1 for k in keys if ours.get(k) != nca_pairs.get(k))
    return len(keys), differ, len(extra)


def measure(namespaces: int, workloads: int, policies: int, queries: int, nca: Path | None, nca_timeout: float) -> dict:
    data = corpus(namespaces, workloads, policies)
    with batch_gc():
        t0, c0 = time.perf_counter(), time.process_time()
        loaded = load_paths([str(data)])
        inv = Inventory(loaded.objects)
        t1, c1 = time.perf_counter(), time.process_time()
        eng = NetpolEngine(inv)
        t2, c2 = time.perf_counter(), time.process_time()
        conns = eng.connections()
        t3, c3 = time.perf_counter(), time.process_time()
    if eng.problems:
        print(f"bench: {len(eng.problems)} objects left out: {eng.problems[0]}", file=sys.stderr)
    r = random.Random(1)
    ws = eng.workloads
    times = []
    for _ in range(queries):
        src, dst = r.choice(ws), r.choice(ws)
        q0 = time.perf_counter()
        eng.explain(src, dst)
        times.append((time.perf_counter() - q0) * 1000)
    times.sort()
    q0 = time.perf_counter()
    cold = NetpolEngine(inv)
    cold.explain(cold.find(ws[0].ref), cold.find(ws[-1].ref))
    res = {
        "input": data.name,
        "workloads": len(ws),
        "namespaces": len(eng.namespaces),
        "policies": len(eng.policies),
        "classes": len(eng.classes),
        "pairs": len(conns),
        "load": (t1 - t0, c1 - c0),
        "build": (t2 - t1, c2 - c1),
        "matrix": (t3 - t2, c3 - c2),
        "query": (statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], times[-1]),
        "cold_ms": (time.perf_counter() - q0) * 1000,
        "nca": None,
        "nca_note": "skipped",
        "agree": "",
    }
    res["total"] = tuple(res["load"][i] + res["build"][i] + res["matrix"][i] for i in (0, 1))
    if nca is not None:
        wall, text, note = run_nca(nca, data, nca_timeout)
        res["nca"], res["nca_note"] = wall, note
        if wall is not None:
            n, differ, extra = compare_with_nca(eng, text)
            res["agree"] = f"{n - differ}/{n}" + (f" (+{extra} NCA-simulated endpoints)" if extra else "")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes",
        default="500:4:1000,50:4:100",
        help="NAMESPACES:WORKLOADS_PER_NS:POLICIES,... (default: the target size and a small one)",
    )
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--skip-nca", action="store_true")
    ap.add_argument("--nca-timeout", type=float, default=1800)
    a = ap.parse_args()
    nca = None if a.skip_nca else nca_bin()
    rows = []
    for spec in a.sizes.split(","):
        ns, w, p = (int(x) for x in spec.split(":"))
        rows.append(measure(ns, w, p, a.queries, nca, a.nca_timeout))

    print("## NetworkPolicy reachability: kubefort vs network-config-analyzer\n")
    print(
        "| input | workloads / namespaces / policies (classes) | load | build | matrix (allowed pairs) "
        "| load+build+matrix | can-reach median / p95 / max | cold can-reach | NCA --connectivity | NCA / kubefort | same pairs |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:

        def t(key: str, r: dict[str, Any] = r) -> str:
            wall, cpu = r[key]
            return f"{wall:.2f} s ({cpu:.2f} s CPU)"

        nca_cell = f"{r['nca']:.1f} s" if r["nca"] is not None else ("not run" if nca is None else r["nca_note"])
        ratio = (
            f"{r['nca'] / r['total'][0]:.0f}x"
            if r["nca"] is not None
            else (f"> {a.nca_timeout / r['total'][0]:.0f}x" if nca is not None and "timeout" in r["nca_note"] else "")
        )
        q = r["query"]
        print(
            f"| {r['input']} | {r['workloads']} / {r['namespaces']} / {r['policies']} ({r['classes']}) | {t('load')} "
            f"| {t('build')} | {t('matrix')} ({r['pairs']}) | {t('total')} | {q[0]:.2f} / {q[1]:.2f} / {q[2]:.2f} ms "
            f"| {r['cold_ms']:.0f} ms | {nca_cell} | {ratio} | {r['agree']} |"
        )
    main_row = rows[0]
    print(
        f"\nTargets on {main_row['input']}: full matrix < {TARGET_MATRIX_S:.0f} s: "
        f"{'OK' if main_row['matrix'][0] < TARGET_MATRIX_S else 'MISSED'} ({main_row['matrix'][0]:.2f} s); "
        f"can-reach < {TARGET_QUERY_MS:.0f} ms: {'OK' if main_row['query'][2] < TARGET_QUERY_MS else 'MISSED'} "
        f"(max {main_row['query'][2]:.2f} ms). Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
        "(wall times stretch when other work runs; CPU seconds are steadier)."
    )
    print(f"\nCommand: .venv/bin/python bench/bench_netpol.py {' '.join(sys.argv[1:])}".rstrip())
    if nca is not None:
        print(
            f"NCA: network-config-analyzer {NCA_VERSION} in .cache/nca-venv: nca --connectivity DIR -r DIR "
            "-o txt_no_fw_rules --output_endpoints deployments"
        )


if __name__ == "__main__":
    main()
