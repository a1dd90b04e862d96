"""Image benchmarks (issue 14), in one run:

1. ``kubefort image scan`` (inventory, layer secrets, configuration rules; CycloneDX out) against
   ``trivy image`` (CycloneDX SBOM, its default analysers) on the same images: the test application
   image as a docker-archive tarball and as an OCI layout, plus the Debian base alone. Both are run as
   commands, best of N, wall-clock; kubefort also with vulnerability matching against the OSV fixtures.
2. Matching 5,000 installed packages (Debian, PyPI, npm, Go, Maven) against a generated database of
   200,000 OSV advisories: import time (from zip archives, as osv.dev publishes them), database size,
   matching time.

Run: ``python bench/bench_images.py`` (builds the test image first if it is not cached; needs
``scripts/ensure-image-tools.sh``). Prints a Markdown table and writes bench/results/images.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.images.build import app_image  # noqa: E402

TRIVY = ROOT / ".cache" / "tools" / "bin" / "trivy"


def best(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t)
    return min(times)


def bench_scan(runs: int, tmp: Path) -> list[dict[str, object]]:
    img = app_image()
    kubefort = [str(Path(sys.executable).with_name("kubefort"))]
    env = {**os.environ, "TRIVY_CACHE_DIR": str(tmp / "trivy-cache"), "PYTHONPATH": str(ROOT / "src")}
    env["XDG_CACHE_HOME"] = str(tmp)  # no default advisory database: the first kubefort column lists only
    db = tmp / "osv.sqlite"
    subprocess.run(
        [*kubefort, "vulndb", "import", str(ROOT / "tests/images/osv"), "--db", str(db)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    rows = []
    targets = [
        ("app, docker-archive", str(img.docker_archive), img.docker_archive),
        ("app, OCI layout (gzip layers)", f"oci:{img.oci_layout}:1", img.oci_layout),
    ]
    for label, kf_arg, path in targets:
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        scan = [*kubefort, "image", "scan", kf_arg, "-o", "cyclonedx", "--output", os.devnull]
        kf = best(scan, runs, env)
        kf_vuln = best([*scan, "--db", str(db)], runs, env)
        # --cache-backend memory: Trivy caches each layer's analysis on disk by digest; every run here
        # starts cold, as kubefort's does
        trivy = [str(TRIVY), "image", "--quiet", "--cache-backend", "memory", "--skip-files", "app/lib/*.jar"]
        trivy += ["--input", str(path)]
        tr = best([*trivy, "--format", "cyclonedx", "-o", os.devnull], runs, env)
        rows.append(
            {
                "image": label,
                "bytes": size,
                "kubefort_s": round(kf, 2),
                "kubefort_with_vulndb_s": round(kf_vuln, 2),
                "trivy_sbom_s": round(tr, 2),
            }
        )
    return rows


ECOSYSTEMS = ("Debian:12", "PyPI", "npm", "Go", "Maven")
TYPES = {"Debian:12": "deb", "PyPI": "pypi", "npm": "npm", "Go": "golang", "Maven": "maven"}


def _name(eco: str, i: int) -> str:
    return {
        "Debian:12": f"libpkg{i}",
        "PyPI": f"py-pkg-{i}",
        "npm": f"js-pkg-{i}",
        "Go": f"example.com/mod{i}/v2",
        "Maven": f"org.example{i % 97}:artifact{i}",
    }[eco]


def _version(eco: str, a: int, b: int) -> str:
    if eco == "Debian:12":
        return f"{a}.{b}.0-{b % 4 + 1}+deb12u{b % 3}"
    if eco == "Go":
        return f"{a}.{b}.0"
    return f"{a}.{b}.{b % 7}"


def bench_matching(tmp: Path, advisories: int, packages: int, seed: int) -> dict[str, object]:
    from kubefort.analysis.image.ospkg import OsInfo
    from kubefort.analysis.image.packages import InstalledPackage, with_purl
    from kubefort.analysis.vulndb.match import Matcher
    from kubefort.analysis.vulndb.store import VulnDB

    rnd = random.Random(seed)
    names_per_eco = 8_000  # 40,000 package names in all: 5 advisories per name on average
    zips = []
    per_eco = advisories // len(ECOSYSTEMS)
    t = time.perf_counter()
    for eco in ECOSYSTEMS:
        path = tmp / f"{eco.replace(':', '-')}-all.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for n in range(per_eco):
                i = rnd.randrange(names_per_eco)
                a, b = rnd.randrange(1, 6), rnd.randrange(0, 30)
                events = [
                    {"introduced": "0" if rnd.random() < 0.3 else _version(eco, a, 0)},
                    {"fixed": _version(eco, a, b + 1)},
                ]
                rid = f"GEN-{eco.split(':')[0].upper()}-{n}"
                rec = {
                    "id": rid,
                    "modified": "2026-01-01T00:00:00Z",
                    "aliases": [f"CVE-2026-{n + 100000}"],
                    "summary": f"generated advisory {n}",
                    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]
                    if n % 2
                    else [],
                    "affected": [
                        {
                            "package": {"ecosystem": eco, "name": _name(eco, i)},
                            "ranges": [{"type": "ECOSYSTEM", "events": events}],
                        }
                    ],
                }
                zf.writestr(f"{rid}.json", json.dumps(rec))
        zips.append(str(path))
    generate_s = time.perf_counter() - t
    db_path = tmp / "gen.sqlite"
    t = time.perf_counter()
    with VulnDB(str(db_path), create=True) as db:
        stats = db.import_paths(zips)
    import_s = time.perf_counter() - t
    osinfo = OsInfo(id="debian", version_id="12", version="12.15")
    pkgs = []
    for k in range(packages):
        eco = ECOSYSTEMS[k % len(ECOSYSTEMS)]
        i = rnd.randrange(names_per_eco)
        v = _version(eco, rnd.randrange(1, 6), rnd.randrange(0, 30))
        if eco == "Go":
            v = "v" + v
        name = _name(eco, i)
        src = {"source_name": name, "source_version": v} if eco.startswith("Debian") else {}
        pkgs.append(with_purl(InstalledPackage(name=name, version=v, type=TYPES[eco], **src), "debian-12.15", "debian"))  # type: ignore[arg-type]
    with VulnDB(str(db_path)) as db:
        t = time.perf_counter()
        matches = Matcher(db).match(pkgs, osinfo)
        match_s = time.perf_counter() - t
        t = time.perf_counter()
        again = Matcher(db).match(pkgs, osinfo)  # a second image scan in the same process: warm caches
        warm_s = time.perf_counter() - t
    assert len(again) == len(matches)
    return {
        "advisories": stats.advisories,
        "affected_rows": stats.affected,
        "packages": packages,
        "matches": len(matches),
        "generate_s": round(generate_s, 2),
        "import_s": round(import_s, 2),
        "db_mb": round(db_path.stat().st_size / 1e6, 1),
        "match_s": round(match_s, 2),
        "match_warm_s": round(warm_s, 2),
    }


def main() -> None:
    # byte-compile first, as the Makefile does (these machines set PYTHONDONTWRITEBYTECODE)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src" / "kubefort")], check=True)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--advisories", type=int, default=200_000)
    ap.add_argument("--packages", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubefort-bench-images-") as d:
        tmp = Path(d)
        scans = bench_scan(args.runs, tmp)
        match = bench_matching(tmp, args.advisories, args.packages, args.seed)
    print("| image | size MB | kubefort s | kubefort + vulndb s | trivy SBOM s |")
    print("|---|---:|---:|---:|---:|")
    for r in scans:
        print(
            f"| {r['image']} | {int(r['bytes']) / 1e6:.0f} | {r['kubefort_s']} | {r['kubefort_with_vulndb_s']} | {r['trivy_sbom_s']} |"
        )
    print()
    print(
        f"matching {match['packages']} packages against {match['advisories']} advisories ({match['affected_rows']} affected rows, "
        f"{match['db_mb']} MB): {match['match_s']} s cold, {match['match_warm_s']} s warm, {match['matches']} matches; "
        f"import {match['import_s']} s (generating the zips {match['generate_s']} s)"
    )
    out = ROOT / "bench" / "results" / "images.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"scans": scans, "matching": match, "runs": args.runs}, indent=2) + "\n")


if __name__ == "__main__":
    main()
