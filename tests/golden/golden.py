"""Pinned outputs: every command's output on the fixtures, the examples and ``../shared/corpus``.

The redesign of issue 11 (and any refactoring after it) must not change a single byte of what users
see. This module runs a fixed list of cases through the real ``kubefort`` executable and compares
each output with ``tests/golden/expected.json``:

- small outputs are stored whole (``text``), so a change shows as a diff;
- large ones (the corpus reports) are stored as a SHA-256 with per-rule counts of the findings, so a
  change names the rules whose findings moved.

A deliberate change of output (a fixed false positive, a new field) regenerates the file::

    .venv/bin/python tests/golden/golden.py --update          # every case
    .venv/bin/python tests/golden/golden.py --update scan-corpus-argoproj__argo-cd-json

and the diff of ``expected.json`` goes into the same commit, so a reviewer sees what moved.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
#: the corpus as the commands are given it: relative to the checkout (they run there), so the outputs do
#: not depend on where the checkout is
CORPUS_ARG = "../shared/corpus"
EXPECTED = Path(__file__).with_name("expected.json")
FIX = ROOT / "tests" / "fixtures"
#: outputs larger than this are pinned by hash and per-rule counts instead of whole
INLINE_LIMIT = 160 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    stdin: str | None = None
    needs: str | None = None  # "corpus" or "node": what must be prepared
    env: tuple[tuple[str, str], ...] = field(default=())


def _kubefort() -> str:
    exe = Path(sys.executable).with_name("kubefort")
    return str(exe) if exe.exists() else shutil.which("kubefort") or "kubefort"


def cases() -> Iterator[Case]:
    fmts = ("table", "json", "sarif", "junit")
    for ex in ("insecure-app", "hardened-app"):
        for f in fmts:
            yield Case(
                f"scan-example-{ex}-{f}",
                ("scan", f"examples/{ex}", "-o", f, "--no-color", "--min-severity", "info", "-v"),
            )
    yield Case(
        "scan-example-insecure-pss-restricted",
        ("scan", "examples/insecure-app", "--pss", "restricted", "--no-color", "-o", "json"),
    )
    for f in ("json", "table", "sarif"):
        yield Case(f"scan-rule-fixtures-{f}", ("scan", "tests/rules/fixtures", "-o", f, "--no-color", "-j", "1"))
    for f in ("json", "table"):
        yield Case(
            f"scan-fixtures-rbac-netpol-{f}",
            ("scan", "tests/fixtures/rbac", "tests/fixtures/netpol", "-o", f, "--no-color"),
        )
    for project in sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) if CORPUS.is_dir() else ():
        for f in ("json", "sarif", "table"):
            yield Case(
                f"scan-corpus-{project}-{f}", ("scan", f"{CORPUS_ARG}/{project}", "-o", f, "--no-color"), needs="corpus"
            )
    yield Case("scan-corpus-argo-cd-junit", ("scan", f"{CORPUS_ARG}/argoproj__argo-cd", "-o", "junit"), needs="corpus")
    yield Case("rules-list", ("rules", "list"))
    yield Case("rules-list-markdown", ("rules", "list", "--format", "markdown"))

    rbac = ("-f", "tests/fixtures/rbac")
    for f in ("table", "json"):
        yield Case(f"rbac-who-can-secrets-{f}", ("rbac", "who-can", "get", "secrets", "-n", "shop", *rbac, "-o", f))
        yield Case(f"rbac-who-can-pods-all-{f}", ("rbac", "who-can", "create", "pods", "-A", *rbac, "-o", f))
        yield Case(f"rbac-paths-{f}", ("rbac", "paths", "--to", "cluster-admin", *rbac, "-o", f))
        yield Case(f"rbac-permissions-{f}", ("rbac", "permissions", "ServiceAccount:shop:ci", *rbac, "-o", f))
        yield Case(
            f"rbac-can-{f}",
            ("rbac", "can", "ServiceAccount:shop:ci", "create", "deployments.apps", "-n", "shop", *rbac, "-o", f),
        )
    yield Case("rbac-paths-dot", ("rbac", "paths", "--to", "cluster-admin", *rbac, "-o", "dot"))

    net = ("-f", "tests/fixtures/netpol/workloads.yaml", "-f", "tests/fixtures/netpol/before")
    for f in ("text", "json"):
        yield Case(
            f"netpol-can-reach-{f}",
            ("netpol", "can-reach", "shop/deploy/api", "shop/sts/postgres", *net, "--port", "5432/TCP", "-o", f),
        )
        yield Case(
            f"netpol-can-reach-ext-{f}", ("netpol", "can-reach", "0.0.0.0/0", "shop/deploy/frontend", *net, "-o", f)
        )
        yield Case(f"netpol-matrix-{f}", ("netpol", "matrix", *net, "-o", "table" if f == "text" else f))
        yield Case(
            f"netpol-diff-{f}",
            (
                "netpol",
                "diff",
                "tests/fixtures/netpol/before",
                "tests/fixtures/netpol/after",
                "-f",
                "tests/fixtures/netpol/workloads.yaml",
                "-o",
                f,
            ),
        )
    yield Case("netpol-matrix-dot", ("netpol", "matrix", *net, "-o", "dot"))

    for profile in ("hardened", "insecure"):
        for f in fmts:
            yield Case(
                f"node-audit-{profile}-{f}",
                ("node", "audit", "--root", f"{{node:{profile}}}", "-o", f, "--no-color"),
                needs="node",
            )
    yield Case(
        "node-audit-insecure-verbose", ("node", "audit", "--root", "{node:insecure}", "--no-color", "-v"), needs="node"
    )
    ver = (
        "--apiserver",
        "cp-1=1.31.2",
        "--apiserver",
        "cp-2=1.33.1",
        "--kubelet",
        "n1=1.28.5,n2=1.31.2",
        "--kube-proxy",
        "n1=1.28.5",
        "--scheduler",
        "1.31.0",
        "--controller-manager",
        "1.30.4",
        "--containerd",
        "1.7.2",
        "--kernel",
        "5.15.0",
        "--kubectl",
        "1.34.0",
        "--today",
        "2026-12-01",
    )
    for f in fmts:
        yield Case(f"versions-{f}", ("versions", *ver, "-o", f, "--no-color"))
    yield Case(
        "versions-node-root",
        ("versions", "--root", "{node:insecure}", "--today", "2026-12-01", "--no-color"),
        needs="node",
    )

    for review in sorted((FIX / "admission").glob("*.json")):
        yield Case(f"admission-review-{review.stem}", ("admission", "review", str(review.relative_to(ROOT))))
    yield Case("admission-rules", ("admission", "rules"))
    yield Case("policy-export-vap", ("policy", "export", "--format", "vap"))
    yield Case("policy-export-kyverno", ("policy", "export", "--format", "kyverno"))
    yield Case("policy-export-kyverno-legacy", ("policy", "export", "--format", "kyverno-legacy"))
    yield Case("policy-export-mutating", ("policy", "export", "--format", "mutating"))
    yield Case("admission-manifests", ("admission", "manifests", "--cert-manager-issuer", "ca-issuer"))


_NODE_TMP = re.compile(r"/tmp/[^\s\"'<>]*?/node-(hardened|insecure)")
#: SARIF names the absolute directory its paths are relative to (originalUriBaseIds): the checkout's
#: place on this machine, shown as a placeholder so that outputs do not depend on it
_CHECKOUT_URIS = ((ROOT.as_uri() + "/", "file://<checkout>/"), (ROOT.parent.as_uri() + "/", "file://<checkout>/../"))


def _normalise(text: str) -> str:
    for uri, placeholder in _CHECKOUT_URIS:
        text = text.replace(uri, placeholder)
    return _NODE_TMP.sub(r"<node:\1>", text)


@dataclass
class Outcome:
    code: int
    stdout: str | None  # None when larger than INLINE_LIMIT: then only the digest below
    stderr: str
    sha256: str = ""
    size: int = 0
    rule_mentions: dict[str, int] = field(default_factory=dict)


_RULE_ID = re.compile(r"KF-[A-Z]+-\d{3}")


def run_case(case: Case, node_roots: dict[str, str]) -> Outcome:
    """Run one case with its output streamed to a file: the large reports (125 MB) are digested line by
    line, never held in memory (the test process must stay small: other tests measure their children)."""
    args = [re.sub(r"\{node:(\w+)\}", lambda m: node_roots[m.group(1)], a) for a in case.args]
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1", **dict(case.env))
    env.pop("FORCE_COLOR", None)
    with tempfile.TemporaryFile() as out:
        p = subprocess.run(
            [_kubefort(), *args],
            input=case.stdin,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=600,
        )
        out.seek(0)
        digest, size, mentions, small = hashlib.sha256(), 0, Counter[str](), []
        for raw in out:
            line = _normalise(raw.decode()).encode()
            digest.update(line)
            size += len(line)
            mentions.update(_RULE_ID.findall(line.decode()))
            if size <= INLINE_LIMIT:
                small.append(line)
    text = b"".join(small).decode() if size <= INLINE_LIMIT else None
    return Outcome(p.returncode, text, _normalise(p.stderr), digest.hexdigest(), size, dict(sorted(mentions.items())))


def record(out: Outcome) -> dict[str, object]:
    entry: dict[str, object] = {"exit": out.code, "stderr": out.stderr}
    if out.stdout is not None:
        entry["text"] = out.stdout
    else:
        entry["sha256"] = out.sha256
        entry["bytes"] = out.size
        entry["rule_mentions"] = out.rule_mentions
    return entry


def prepare_nodes(tmp: Path) -> dict[str, str]:
    sys.path.insert(0, str(FIX / "node"))
    import modes

    return {p: str(modes.prepare(p, tmp / f"node-{p}")) for p in ("hardened", "insecure")}


def compare(name: str, want: dict[str, object], got: dict[str, object]) -> str | None:
    """A readable description of how ``got`` differs from ``want``, or None."""
    if want == got:
        return None
    lines = [f"{name}: output changed"]
    for key in ("exit", "stderr"):
        if want.get(key) != got.get(key):
            lines.append(f"  {key}: {want.get(key)!r} -> {got.get(key)!r}")
    if "text" in want or "text" in got:
        import difflib

        diff = difflib.unified_diff(
            str(want.get("text", "")).splitlines(),
            str(got.get("text", "")).splitlines(),
            "expected",
            "now",
            lineterm="",
            n=1,
        )
        lines.extend(list(diff)[:60])
    else:
        wc, gc = want.get("rule_mentions", {}), got.get("rule_mentions", {})
        assert isinstance(wc, dict) and isinstance(gc, dict)
        moved = {k: (wc.get(k, 0), gc.get(k, 0)) for k in set(wc) | set(gc) if wc.get(k) != gc.get(k)}
        lines.append(f"  sha256 differs; bytes {want.get('bytes')} -> {got.get('bytes')}")
        lines.append(f"  rule mentions moved: {dict(sorted(moved.items())) or 'none (same counts, other bytes)'}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--update", action="store_true", help="rewrite expected.json with today's outputs")
    ap.add_argument("names", nargs="*", help="only these cases (default: all)")
    ns = ap.parse_args()
    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    selected = [c for c in cases() if not ns.names or c.name in ns.names]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        nodes = prepare_nodes(Path(tmp)) if any(c.needs == "node" for c in selected) else {}
        for c in selected:
            got = record(run_case(c, nodes))
            if ns.update:
                expected[c.name] = got
            elif (msg := compare(c.name, expected.get(c.name, {}), got)) is not None:
                failures.append(msg)
    if ns.update:
        EXPECTED.write_text(json.dumps(dict(sorted(expected.items())), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {len(selected)} cases to {EXPECTED.relative_to(ROOT)}")
        return 0
    print("\n\n".join(failures) or f"{len(selected)} cases unchanged")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
