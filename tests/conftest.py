from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TOOLS_BIN = ROOT / ".cache" / "tools" / "bin"


def tool(name: str) -> str | None:
    """An external binary from .cache/tools (make tools) or PATH."""
    cand = TOOLS_BIN / name
    if cand.exists():
        return str(cand)
    return shutil.which(name)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED


@pytest.fixture
def with_tools_path(monkeypatch: pytest.MonkeyPatch) -> None:
    if TOOLS_BIN.is_dir():
        monkeypatch.setenv("PATH", f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
