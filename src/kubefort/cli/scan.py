"""``kubefort scan``."""

from __future__ import annotations

import gc
import sys
from typing import IO, Any

import click

from ..api import ClusterSource, ScanOptions, cache_unused, default_workers, scan
from ..engine.findings import Report
from ..reporters import Format, error_lines, get_reporter, printable
from .cluster_cmd import progress_printer, undiscovered_line, unread_line
from .image_cmd import image_options, image_source_options
from .options import cluster_options, input_options, judging_options, split_values
from .progress import StatusLine, count_printer, enabled


@click.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(allow_dash=True))
@input_options
@cluster_options()
@judging_options(
    fail_on="Exit 1 when a finding is at or above this severity.  [default: high; with --pss: info, any violation]",
    config="Config file (default: .kubefort.yaml in the scanned directory).",
)
@click.option(
    "--pss",
    type=click.Choice(["baseline", "restricted"]),
    default=None,
    help="Judge the Pod Security Standards level exactly as Pod Security admission does.",
)
@click.option(
    "--kube-version",
    default=None,
    metavar="VERSION",
    help="Kubernetes version whose API schema objects are validated against (KF-SCHEMA-*).  [default: newest bundled]",
)
@click.option(
    "--schema-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="CRDs, or JSON schemas in kubeconform's layout, to validate custom resources against.",
)
@click.option(
    "-o",
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    default=None,
    help="Output format.  [default: table]",
)
@click.option("--output", type=click.File("w"), default=None, help="Write the report to this file instead of stdout.")
@click.option(
    "--apply",
    "apply_as",
    type=click.Choice([Format.OPENREPORTS.value, Format.POLICYREPORT.value]),
    is_flag=False,
    flag_value=Format.OPENREPORTS.value,
    default=None,
    help="With --cluster: also write the results into the cluster as reports (server-side apply), and "
    "delete kubefort's reports that have no results left.  [--apply alone: openreports]",
)
@click.option("--no-color", is_flag=True, help="No colours in table output.")
@click.option("-v", "--verbose", is_flag=True, help="Also show suppressed findings and notes (skipped documents...).")
@click.option(
    "--allow-empty",
    is_flag=True,
    help="An input without any Kubernetes object is not an error (by default it exits 2).",
)
@click.option(
    "--images",
    "scan_images",
    is_flag=True,
    help="Also scan the images the workloads run (pulled, or from --image-cache) and report their vulnerabilities.",
)
@click.option(
    "--image-cache",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Directory of saved images (docker save tarballs, OCI layouts) read before pulling (with --images).",
)
@click.option("--no-pull", is_flag=True, help="With --images: read images only from --image-cache.")
@image_source_options
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    show_default=False,
    help="Processes for rule evaluation on large inputs (1000+ objects).  [default: 0 = one per CPU, at most 4]",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False),
    envvar="KUBEFORT_CACHE",
    default=None,
    metavar="DIR",
    help="Keep parses and results in DIR between scans of files and directories: files that did not "
    "change are not parsed or judged again, and the report is the one a full scan gives. Trust DIR like "
    "kubefort's own installation. Not used with --cluster, --snapshot, --helm, --kustomize, stdin or "
    "--images (said on stderr). See docs/performance.md.  [env: KUBEFORT_CACHE]",
)
def scan_cmd(
    paths: tuple[str, ...],
    filenames: tuple[str, ...],
    helm: tuple[str, ...],
    helm_values: tuple[str, ...],
    kustomize: tuple[str, ...],
    namespace: str,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    min_severity: str | None,
    fail_on: str | None,
    pss: str | None,
    kube_version: str | None,
    schema_dir: str | None,
    config: str | None,
    baseline: str | None,
    fmt: str | None,
    output: IO[str] | None,
    no_color: bool,
    verbose: bool,
    allow_empty: bool,
    jobs: int,
    apply_as: str | None,
    cluster: ClusterSource | None,
    snapshot: str | None,
    scan_images: bool,
    image_cache: str | None,
    no_pull: bool,
    cache_dir: str | None,
    **image_kw: Any,
) -> None:
    """Scan Kubernetes manifests (files, directories, '-' for stdin, Helm charts, Kustomize dirs).

    \b
    Exit codes: 0 no finding at or above --fail-on (with --pss: no violation); 1 there
    are; 2 usage error, unreadable input (the rest is still scanned), a Helm chart
    without --helm, or no Kubernetes object at all (unless --allow-empty); 3 a rule
    crashed on some object. Errors are written to standard error, one line each.
    Suppress with the annotation  kubefort.io/ignore: "KF-POD-001=reason, ..."
    or with exceptions in .kubefort.yaml (see the README).
    """
    all_paths = [*paths, *filenames]
    live = cluster is not None or snapshot is not None
    if live and (all_paths or helm or kustomize):
        raise click.UsageError("--cluster/--snapshot read no files: give either, not both")
    if apply_as is not None and cluster is None:
        raise click.UsageError("--apply writes reports into the cluster it scans: use it with --cluster")
    if not all_paths and not helm and not kustomize and not live:
        raise click.UsageError("nothing to scan: give files or directories, '-' for stdin, --helm or --kustomize")
    fmt = fmt or Format.TABLE.value
    images = None
    if scan_images:
        images = image_options(image_kw)
        images.cache_dir, images.pull = image_cache, not no_pull
    elif image_cache or no_pull:
        raise click.UsageError("--image-cache and --no-pull apply to --images")
    opts = ScanOptions(
        paths=all_paths,
        helm=list(helm),
        helm_values=list(helm_values),
        kustomize=list(kustomize),
        rules=split_values(rules),
        skip_rules=split_values(skip_rules),
        min_severity=min_severity,
        fail_on=fail_on,
        config=config,
        baseline=baseline,
        pss=pss,
        kube_version=kube_version,
        schema_dir=schema_dir,
        namespace=namespace,
        # the formats that list each pass (and the reports --apply writes)
        keep_passes=apply_as is not None
        or fmt in (Format.JUNIT.value, Format.OPENREPORTS.value, Format.POLICYREPORT.value),
        workers=jobs or default_workers(),
        cluster=cluster,
        snapshot=snapshot,
        allow_empty=allow_empty,
        images=images,
        cache=cache_dir or None,
    )
    unused = cache_unused(opts)
    if unused is not None:
        click.echo(f"kubefort: note: {unused}", err=True)
    out = output or sys.stdout
    # A scan allocates millions of small objects and frees almost nothing before the process ends
    # (kubefort exits without tearing the heap down): the cyclic collector would walk them again and
    # again for no garbage (0.3 s on 10k objects). It stays off for the rest of this short process.
    gc.disable()
    status = StatusLine() if enabled() else None
    if status:
        status.show("kubefort: scanning...")
    report = scan(
        opts,
        progress=progress_printer(status) if status and cluster is not None else None,
        image_progress=count_printer(status, "image") if status and images is not None else None,
    )
    if status:
        if live:
            status.done(f"kubefort: scanned {report.objects} objects from the cluster.")
        else:
            status.done(f"kubefort: scanned {report.objects} objects in {report.files} files.")
    if live and report.inventory is not None and report.inventory.undiscovered:
        click.echo(undiscovered_line(report.inventory.undiscovered), err=True)
    if live and report.inventory is not None and report.inventory.unreadable:
        click.echo(unread_line(report.inventory.unreadable), err=True)
    color = False if no_color else None
    if fmt == Format.HTML.value:  # the page also draws what the analysis engines see of the input
        from ..api import report_views
        from ..reporters.html import HtmlReporter

        HtmlReporter(views=report_views(report)).render(report, out)
    else:
        get_reporter(Format(fmt), color=color, verbose=verbose).render(report, out)
    for line in error_lines(report):
        click.echo(line, err=True)
    code = report.exit_code()
    if apply_as is not None and cluster is not None:
        code = max(code, apply_cluster_reports(report, cluster, Format(apply_as)))
    sys.exit(code)


def apply_cluster_reports(report: Report, cluster: ClusterSource, fmt: Format) -> int:
    """Write the report into the cluster as ``fmt`` reports; 0, or 2 when some write failed (said on stderr)."""
    from ..api import apply_reports
    from ..reporters.openreports import OpenReportsReporter
    from ..reporters.policyreport import PolicyReportReporter

    reporter = PolicyReportReporter() if fmt is Format.POLICYREPORT else OpenReportsReporter()
    result = apply_reports(cluster, reporter.documents(report), reporter.fmt.kinds())
    click.echo(
        f"kubefort: applied {len(result.applied)} reports, deleted {len(result.deleted)} reports kubefort wrote "
        "earlier that have no results left",
        err=True,
    )
    for line in result.failed:
        click.echo(f"kubefort: error: {printable(line)}", err=True)
    return 0 if result.ok else 2
