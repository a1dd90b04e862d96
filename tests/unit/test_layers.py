"""Imports go one way (the layer contract in pyproject.toml), and the public API is what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubefort

ROOT = Path(__file__).resolve().parents[2]


def test_layering() -> None:
    """The layer contract (pyproject.toml ``[tool.importlinter]``, also run by ``make lint``) holds: nothing
    below imports from above. One contract, checked by import-linter, so pytest alone catches a break too."""
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


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


def test_one_meaning_per_name() -> None:
    """No two modules define a class or a type alias of the same name (``Grant``, ``Target``, ``Decision``,
    ``Check`` and ``Path`` each once meant two things): a name read anywhere means one thing."""
    import ast

    src = Path(kubefort.__file__).parent
    seen: dict[str, list[str]] = {}
    for path in sorted(src.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            name = None
            if isinstance(node, ast.ClassDef):
                name = node.name
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                value = node.value
                generic = isinstance(value, ast.Subscript) and isinstance(value.value, ast.Name)
                if generic and value.value.id in ("tuple", "Callable"):  # type: ignore[union-attr]
                    name = node.targets[0].id
            if name is not None:
                seen.setdefault(name, []).append(str(path.relative_to(src)))
    twice = {n: where for n, where in seen.items() if len(where) > 1}
    assert not twice, twice
