"""Property-based fuzzing of the whole scan over real manifests (issue 22).

Real documents (the examples and the schema fixtures) are mutated: values replaced by values of
another type, keys deleted or added, lists blown up, sub-trees shared through YAML anchors and
aliases, keys repeated. Every mutant is scanned with every rule. The test fails on a rule error (a
traceback inside a rule), on an exception out of the scan, on a scan that takes too long, or on
memory out of proportion to the file.
"""

from __future__ import annotations

import copy
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubefort.api import ScanOptions, scan_inventory
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "examples" / "insecure-app").glob("*.yaml")),
    *sorted((ROOT / "examples" / "hardened-app").glob("*.yaml"))[:3],
    ROOT / "tests" / "rules" / "fixtures" / "KF-SCHEMA-002" / "pass-legal-oddities.yaml",
    ROOT / "tests" / "rules" / "fixtures" / "KF-SCHEMA-006" / "pass-against-crd.yaml",
]
DOCS = [d for p in SOURCES for d in yaml.safe_load_all(p.read_text()) if isinstance(d, dict)]
REGISTRY = default_registry(plugins=False)

WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "true", "0644", "1e3", "500m", "x" * 5000, "${VAR}", "- a", "*", "&a"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["name", "a", "securityContext", "1"]), st.integers(), max_size=3),
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, path + (k,)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, path + (i,)))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        doc = doc[step]
    return doc


@st.composite
def mutants(draw: st.DrawFn) -> str:
    doc = copy.deepcopy(draw(st.sampled_from(DOCS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(doc) if p and p[0] not in ("apiVersion", "kind")]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["wrong", "delete", "add", "blow-up", "share"]))
        if action == "wrong":
            parent[key] = draw(WRONG)
        elif action == "delete":
            del parent[key]
        elif action == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.sampled_from(["runAsNonroot", "spec", "x" * 300, "privileged"]))] = draw(WRONG)
        elif action == "blow-up" and isinstance(parent[key], list) and parent[key]:
            parent[key] = parent[key] * draw(st.integers(min_value=2, max_value=300))
        elif action == "share" and isinstance(parent[key], (dict, list)):
            # the same object in several places: PyYAML writes it once with an anchor, then aliases
            spec = doc.setdefault("spec", {})
            if isinstance(spec, dict):
                spec["shared"] = [parent[key]] * draw(st.integers(min_value=2, max_value=50))
    text = yaml.safe_dump(doc, sort_keys=False, width=10_000)
    if draw(st.booleans()):  # a repeated key: the first line of a mapping entry, written twice
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        if ":" in lines[i] and not lines[i].lstrip().startswith("-"):
            lines.insert(i, lines[i])
        text = "".join(lines)
    return text


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutants())
def test_scans_of_mutated_manifests_never_crash_hang_or_balloon(text: str) -> None:
    tracemalloc.start()
    t = time.monotonic()
    try:
        loaded = load_text(text, "fuzz.yaml")
        report = scan_inventory(Inventory(loaded.objects), ScanOptions(keep_passes=False), registry=REGISTRY)
        secs = time.monotonic() - t
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not report.rule_errors, [(r.rule.id, r.detail) for r in report.rule_errors]
    assert secs < 10, f"scan took {secs:.1f} s"
    assert peak < 40 * 1024 * 1024 + 400 * len(text), f"peak {peak} bytes for {len(text)} bytes of input"
    for f in report.findings:
        assert len(f.message) < 2000, f.message[:200]
