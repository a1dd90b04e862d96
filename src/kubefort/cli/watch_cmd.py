"""``kubefort watch``: keep a cluster's reports current (docs/cluster.md, "Watch")."""

from __future__ import annotations

import signal
import sys
import threading

import click

from ..api import ClusterSource, ScanOptions
from ..incluster.watch import WatchApp, WatchOptions
from ..reporters.openreports import OPENREPORTS
from ..reporters.policyreport import POLICYREPORT
from .options import cluster_options, judging_options, split_values


@click.command("watch")
@cluster_options(flag=False, namespace=True)
@click.option("--secret-values", is_flag=True, help="Keep Secret values in memory for the secret-content rules.")
@judging_options(
    rules="Run only these rules (comma-separated).",
    min_severity="Leave out findings below this severity.",
    fail_on="Findings at or above it are 'fail' in the reports, below it 'warn'.  [default: high]",
    baseline=None,
)
@click.option("--pss", type=click.Choice(["baseline", "restricted"]), default=None, help="Judge Pod Security exactly.")
@click.option(
    "--reports",
    type=click.Choice(["openreports", "policyreport"]),
    default="openreports",
    show_default=True,
    help="The report API written.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="/metrics and /healthz port."
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address the metrics server listens on.")
@click.option(
    "--debounce",
    type=click.FloatRange(min=0.0),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Gather events this long after the first before judging them.",
)
@click.option(
    "--resync",
    type=click.FloatRange(min=0.0),
    default=3600.0,
    show_default=True,
    metavar="SECONDS",
    help="Judge everything and rewrite every report this often (0: never).",
)
@click.option("--once", is_flag=True, help="Read, judge and write the reports once, then exit (a CronJob).")
def watch_cmd(
    cluster: ClusterSource,
    namespace: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    min_severity: str | None,
    fail_on: str | None,
    pss: str | None,
    config: str | None,
    reports: str,
    port: int,
    host: str,
    debounce: float,
    resync: float,
    once: bool,
) -> None:
    """List the cluster once, then watch every resource type the rules read; judge again only what
    changed, keep the reports (OpenReports or PolicyReports) current, and serve Prometheus /metrics
    and /healthz.

    \b
    Exit codes: 0 stopped (or, with --once, every report written); 2 the cluster could not be read
    or (with --once) some report could not be written. Findings never change the exit code: they
    are in the reports.
    """
    opts = WatchOptions(
        source=cluster,  # --secret-values is read into it by cluster_options
        scan=ScanOptions(
            rules=split_values(rules),
            skip_rules=split_values(skip_rules),
            min_severity=min_severity,
            fail_on=fail_on,
            pss=pss,
            config=config,
            keep_passes=True,
        ),
        fmt=POLICYREPORT if reports == "policyreport" else OPENREPORTS,
        host=host,
        port=None if once else port,
        debounce=debounce,
        resync=resync,
        once=once,
    )
    app = WatchApp(opts)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: app.stop())
    code = app.run()
    judge = app.judge
    if judge is not None:
        namespaces = sum(1 for bucket in app.written if bucket is not None)
        click.echo(f"kubefort: {len(judge.objects)} objects judged; reports for {namespaces} namespaces", err=True)
    sys.exit(code)
