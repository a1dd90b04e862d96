"""Progress on standard error: one status line redrawn in place, for long work (large scans, cluster
reads), and only when someone watches it.

Shown only when standard error is a terminal: never in CI logs, pipes or files. ``--no-progress``
turns it off on a terminal too (recordings, screen readers), and so does ``TERM=dumb``. With
``NO_COLOR`` set (https://no-color.org) the line is redrawn with a carriage return and spaces only,
no escape sequence at all. The report itself never depends on any of this: it goes to standard output.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

_META = "kubefort.no_progress"


def _set_no_progress(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_META] = True


def no_progress_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--no-progress`` (kept in the click context: the command function does not take it)."""
    return click.option(
        "--no-progress",
        is_flag=True,
        expose_value=False,
        callback=_set_no_progress,
        help="No progress line on standard error (it is shown only on a terminal anyway).",
    )(fn)


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def enabled() -> bool:
    """Whether to show progress: stderr is a terminal, not ``TERM=dumb``, and no ``--no-progress``."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().meta.get(_META):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    return _stderr_is_terminal()


class StatusLine:
    """A line on standard error rewritten in place (``show``), then ended (``done``) or wiped (``clear``)."""

    def __init__(self) -> None:
        self.plain = bool(os.environ.get("NO_COLOR"))
        self.width = 0

    @staticmethod
    def _write(text: str) -> None:
        # not click.echo: it strips escape sequences whenever it judges the stream not a terminal
        sys.stderr.write(text)
        sys.stderr.flush()

    def show(self, text: str) -> None:
        if self.plain:  # no escape sequence: overwrite the previous text with spaces
            self._write("\r" + text + " " * max(0, self.width - len(text)))
        else:
            self._write("\r\033[K" + text)
        self.width = len(text)

    def done(self, text: str) -> None:
        self.show(text)
        self._write("\n")
        self.width = 0

    def clear(self) -> None:
        if self.width:
            self.show("")
            self._write("\r")
        self.width = 0


def count_printer(line: StatusLine, noun: str) -> Callable[[int, int, str, int], None]:
    """A progress callback (done, total, name, _) that shows ``reading image 2/5: NAME (3.1s)``."""
    import time

    start = time.monotonic()

    def show(done: int, total: int, name: str, _count: int) -> None:
        from ..reporters import printable

        what = f"reading {noun} {done + 1}/{total}: {printable(name)}" if name else f"read {total} {noun}s"
        line.show(f"kubefort: {what} ({time.monotonic() - start:.1f}s)")

    return show


def bytes_printer(line: StatusLine) -> Callable[[str, int], None]:
    """A progress callback (stage, bytes so far) that shows ``etcd snapshot: 120.5 MiB (3.1s)``, at most
    five times a second."""
    import time

    start = time.monotonic()
    last = [0.0]

    def show(stage: str, done: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2:
            return
        last[0] = now
        line.show(f"kubefort: {stage}: {done / 2**20:.1f} MiB ({now - start:.1f}s)")

    return show
