"""Imports go one way: cli -> api -> reporters/rules/analysis -> engine -> loading -> model."""

from __future__ import annotations

import ast
from pathlib import Path

import kubefort

SRC = Path(kubefort.__file__).parent
# package -> packages it must never import
FORBIDDEN = {
    "model": {"loading", "engine", "rules", "reporters", "cli", "api", "analysis", "admission"},
    "loading": {"engine", "rules", "reporters", "cli", "api", "analysis", "admission"},
    "engine": {"rules", "reporters", "cli", "api", "admission"},
    "rules": {"reporters", "cli", "api", "admission"},
    "reporters": {"rules", "cli", "api", "admission"},
    "analysis": {"reporters", "cli", "api", "admission"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg_parts = path.relative_to(SRC).parts[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                mod = (node.module or "").split(".")
                full = base + [m for m in mod if m]
            else:
                full = (node.module or "").split(".")
                if full[0] != "kubefort":
                    continue
                full = full[1:]
            if full:
                out.add(full[0])
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "kubefort" and len(parts) > 1:
                    out.add(parts[1])
    return out


def test_layering() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).parts
        if len(rel) < 2 or rel[0] not in FORBIDDEN:
            continue
        for imp in _imports(path) & FORBIDDEN[rel[0]]:
            bad.append(f"{'/'.join(rel)} imports kubefort.{imp}")
    assert not bad, bad


def test_public_api() -> None:
    assert sorted(kubefort.__all__) == sorted(
        [
            "Finding",
            "Inventory",
            "K8sObject",
            "ObjectRef",
            "Report",
            "ScanOptions",
            "Severity",
            "Status",
            "scan",
            "scan_inventory",
            "__version__",
        ]
    )
    for name in kubefort.__all__:
        assert hasattr(kubefort, name)
