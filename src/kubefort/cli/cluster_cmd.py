"""``kubefort cluster``: work on a live cluster as a whole (``snapshot save``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import click

from ..api import ClusterSource, Progress, ScanOptions, save_cluster_snapshot, unread_summary
from ..model.kinds import distinct_unreadable
from ..reporters import printable
from .options import cluster_options
from .progress import StatusLine, enabled


def progress_printer(line: StatusLine | None = None) -> Callable[[int, int, str, int], None]:
    """Progress of a cluster read on ``line`` (standard error; the callers check :func:`progress.enabled`)."""
    start = time.monotonic()
    line = line or StatusLine()

    def show(done: int, total: int, name: str, objects: int) -> None:
        what = f"reading {printable(name)}" if name else "read"
        line.show(f"kubefort: {what} ({done}/{total} types, {objects} objects, {time.monotonic() - start:.1f}s)")

    return show


T = TypeVar("T")


def read_live(opts: ScanOptions, read: Callable[[ScanOptions, Progress | None], tuple[T, list[str]]]) -> T | None:
    """What ``read`` takes from the cluster or snapshot of ``opts`` (None: files only), with progress on a
    terminal and what could not be read or discovered as warnings on stderr."""
    if opts.cluster is None and opts.snapshot is None:
        return None
    line = StatusLine() if opts.cluster is not None and enabled() else None
    got, notes = read(opts, progress_printer(line) if line else None)
    if line:
        line.clear()
    for note in notes:
        click.echo(f"kubefort: warning: {printable(note)}", err=True)
    return got


def unread_line(unreadable: Mapping[str, str]) -> str:
    """The summary line of what could not be read (kind -> reason)."""
    unreadable = distinct_unreadable(unreadable)
    reasons = "; ".join(unreadable[k] for k in sorted(unreadable))
    return f"kubefort: could not read {len(unreadable)} kinds ({printable(reasons)}): the rules that need them are not evaluated"


def undiscovered_line(undiscovered: Mapping[str, str]) -> str:
    """The summary line of the API groups whose discovery failed (group -> why)."""
    reasons = "; ".join(undiscovered[g] for g in sorted(undiscovered))
    return f"kubefort: could not discover {len(undiscovered)} API groups ({printable(reasons)}): what they serve is unknown"


@click.group("cluster")
def cluster_group() -> None:
    """Read a live cluster as a whole."""


@cluster_group.group("snapshot")
def snapshot_group() -> None:
    """Save what kubefort reads from a cluster, to scan it offline (kubefort scan --snapshot FILE)."""


@snapshot_group.command("save")
@click.argument("file", type=click.Path(dir_okay=False, writable=True))
@cluster_options(flag=False, namespace=True)
def snapshot_save(file: str, cluster: ClusterSource, namespace: str | None) -> None:
    """Read every resource type any rule needs and write it to FILE (gzip JSON, docs/cluster.md).

    Secret values are never written: the snapshot holds their keys only.
    """
    line = StatusLine() if enabled() else None
    read = save_cluster_snapshot(cluster, file, progress=progress_printer(line) if line else None)
    if line:
        line.clear()
    click.echo(
        f"kubefort: saved {read.object_count()} objects of {len(read.lists)} resource types from "
        f"{printable(read.context)} to {printable(file)} ({read.stats.requests} requests, {read.stats.seconds:.1f}s)",
        err=True,
    )
    if read.discovery.failed:
        click.echo(undiscovered_line(read.discovery.failed_groups()), err=True)
    if read.unreadable:
        click.echo(f"kubefort: could not read: {printable(unread_summary(read))}", err=True)
