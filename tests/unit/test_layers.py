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
