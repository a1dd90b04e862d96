"""``kubefort image scan``, ``kubefort vulndb import``, ``kubefort dockerfile lint``."""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from ..api import ImageOptions, ScanOptions, import_advisories, scan, scan_images
from ..reporters import Format, error_lines, get_reporter, printable
from .options import Command, judging_options, split_values
from .progress import StatusLine, count_printer, enabled, no_progress_option


def report_options(fn: Command) -> Command:
    """The selection, severity, config and output options every judging command shares."""
    opts = [
        click.option(
            "-o",
            "--format",
            "fmt",
            type=click.Choice([f.value for f in Format]),
            default=None,
            help="Output format (cyclonedx and spdx: an SBOM of the images).  [default: table]",
        ),
        click.option("--output", type=click.File("w"), default=None, help="Write the report to this file."),
        click.option("--no-color", is_flag=True, help="No colours in table output."),
        click.option("-v", "--verbose", is_flag=True, help="Also show suppressed findings and notes."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return judging_options(rules="Run only these rules (comma-separated).")(fn)


def image_source_options(fn: Command) -> Command:
    """How images are pulled and matched (shared by ``image scan`` and ``scan --images``)."""
    opts = [
        click.option("--username", default=None, help="Registry user name (with --password-stdin)."),
        click.option("--password-stdin", is_flag=True, help="Read the registry password from standard input."),
        click.option(
            "--docker-config",
            type=click.Path(dir_okay=False),
            default=None,
            help="Docker config.json with registry credentials.  [default: $DOCKER_CONFIG/config.json, ~/.docker/config.json]",
        ),
        click.option(
            "--ca-file",
            type=click.Path(dir_okay=False, exists=True),
            default=None,
            help="PEM file of CA certificates to trust for registries.",
        ),
        click.option(
            "--platform", default=None, metavar="OS/ARCH[/VARIANT]", help="Platform of a multi-platform image."
        ),
        click.option(
            "--db",
            type=click.Path(dir_okay=False),
            default=None,
            help="Advisory database (kubefort vulndb import).  [default: ~/.cache/kubefort/vulndb.sqlite]",
        ),
        click.option(
            "--vex", multiple=True, type=click.Path(dir_okay=False, exists=True), help="OpenVEX document (repeatable)."
        ),
        click.option("--no-secrets", is_flag=True, help="Do not scan layer files for credentials."),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def image_options(kw: dict[str, Any]) -> ImageOptions:
    """The ImageOptions of the options of :func:`image_source_options` (popped from ``kw``)."""
    password = None
    if kw.pop("password_stdin"):
        if kw.get("username") is None:
            raise click.UsageError("--password-stdin needs --username")
        password = sys.stdin.readline().rstrip("\r\n")
    elif kw.get("username") is not None:
        raise click.UsageError("--username needs --password-stdin (passwords are never taken on the command line)")
    return ImageOptions(
        username=kw.pop("username"),
        password=password,
        docker_config=kw.pop("docker_config"),
        ca_file=kw.pop("ca_file"),
        platform=kw.pop("platform"),
        db=kw.pop("db"),
        vex=list(kw.pop("vex")),
        secrets=not kw.pop("no_secrets"),
    )


def _render(report: Any, fmt: str | None, output: IO[str] | None, no_color: bool, verbose: bool) -> None:
    fmt = fmt or Format.TABLE.value
    get_reporter(Format(fmt), color=False if no_color else None, verbose=verbose).render(report, output or sys.stdout)
    if fmt != Format.TABLE.value:
        for line in error_lines(report):
            click.echo(line, err=True)
    sys.exit(report.exit_code())


def _scan_options(kw: dict[str, Any], **extra: Any) -> ScanOptions:
    return ScanOptions(
        rules=split_values(kw.pop("rules")),
        skip_rules=split_values(kw.pop("skip_rules")),
        min_severity=kw.pop("min_severity"),
        fail_on=kw.pop("fail_on"),
        config=kw.pop("config"),
        baseline=kw.pop("baseline"),
        keep_passes=kw.get("fmt") == Format.JUNIT.value,
        **extra,
    )


@click.group("image")
def image_group() -> None:
    """Container images: package inventory, SBOM, known vulnerabilities, configuration and secrets."""


@image_group.command("scan")
@click.argument("images", nargs=-1, required=True)
@image_source_options
@report_options
@no_progress_option
def image_scan(images: tuple[str, ...], **kw: Any) -> None:
    """Scan images: docker-archive tarballs, OCI layouts (directory or tar, PATH:TAG), or registry
    references (registry.example.com/team/app:1.2, name@sha256:...).

    \b
    Examples:
      kubefort image scan app.tar                          a docker save tarball
      kubefort image scan oci:build/layout:1.2 -o cyclonedx  an SBOM of an OCI layout
      kubefort image scan ghcr.io/acme/api:2 --vex vex.json  pull, match, apply VEX
    Exit codes: 0 no finding at or above --fail-on; 1 there are; 2 an image could not be read.
    """
    opts = image_options(kw)
    fmt, output, no_color, verbose = kw["fmt"], kw.pop("output"), kw.pop("no_color"), kw.pop("verbose")
    line = StatusLine() if enabled() else None
    try:
        report = scan_images(list(images), _scan_options(kw), opts, count_printer(line, "image") if line else None)
    finally:
        if line:
            line.clear()
    _render(report, fmt, output, no_color, verbose)


@click.group("vulndb")
def vulndb_group() -> None:
    """The local advisory database (OSV) that image scans match packages against, offline."""


@vulndb_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="Database file.  [default: ~/.cache/kubefort/vulndb.sqlite]",
)
def vulndb_import(paths: tuple[str, ...], db: str | None) -> None:
    """Import OSV advisories: the per-ecosystem zip archives osv.dev publishes (e.g. Debian, PyPI,
    npm, Go, Maven all.zip), directories of OSV JSON files, or single JSON files. A record imported
    again replaces the older one; withdrawn records are removed."""
    path, stats, (advisories, affected) = import_advisories(list(paths), db)
    click.echo(
        f"imported {stats.advisories} advisories ({stats.affected} affected packages) from {stats.files} files"
        f" into {printable(path)}; {stats.withdrawn} withdrawn, {stats.skipped} skipped;"
        f" the database holds {advisories} advisories, {affected} affected packages"
    )


@click.group("dockerfile")
def dockerfile_group() -> None:
    """Dockerfiles (kubefort scan judges those it meets too)."""


@dockerfile_group.command("lint")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@report_options
def dockerfile_lint(paths: tuple[str, ...], **kw: Any) -> None:
    """Judge Dockerfiles (files, or directories searched for Dockerfile, *.Dockerfile, Containerfile)
    with the KF-DOCKER rules."""
    fmt, output, no_color, verbose = kw["fmt"], kw.pop("output"), kw.pop("no_color"), kw.pop("verbose")
    opts = _scan_options(kw, paths=list(paths))
    if not opts.rules:
        opts.rules = ["KF-DOCKER-*"]
    report = scan(opts)
    _render(report, fmt, output, no_color, verbose)
