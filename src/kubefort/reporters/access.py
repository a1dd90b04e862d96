"""``kubefort access`` output: what a grant wrote and the steps that register it (never a key)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from typing import IO

from . import printable


def write_grant(user: str, paths: Mapping[str, str], steps: Sequence[str], out: IO[str]) -> None:
    """The files written (with their modes) and the next steps."""
    out.write(printable(f"Access kit for {user}:") + "\n")
    for name, path in paths.items():
        mode = stat.S_IMODE(os.stat(path).st_mode)
        what = " (private key: keep it, never share it)" if name.endswith(".key") else ""
        out.write(printable(f"  {path}  {mode:04o}{what}") + "\n")
    out.write("Next steps (an administrator registers the request):\n")
    for line in steps:
        out.write(printable(f"  {line}") + "\n")
