"""The image installs exactly image/requirements.lock: it must hold every runtime dependency that
pyproject.toml needs (a dependency added without the lock makes the
image's rules fail with ModuleNotFoundError, which only the slow image tests would show)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_image_lock_is_current() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "image-lock.py"), "--check"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
