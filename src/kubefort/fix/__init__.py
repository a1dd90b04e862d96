"""Fixing what kubefort finds: the fixes rules declare as data (``kubefort.engine.fixes``), applied to
the files they judged with the author's formatting kept (docs/fix.md)."""

from __future__ import annotations

from .fixer import FieldEdit, FileChange, FixOptions, FixResult, Unfixed, fix_paths

__all__ = ["FieldEdit", "FileChange", "FixOptions", "FixResult", "Unfixed", "fix_paths"]
