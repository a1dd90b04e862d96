"""``kubefort node audit`` (control-plane and worker node checks, kube-bench style) and
``kubefort versions`` (end-of-life, patch level, version skew, upgrade order).

Only the command line: the audits live in :func:`kubefort.api.audit_node` and
:func:`kubefort.api.check_versions`, their output in :mod:`kubefort.reporters.node` and
:mod:`kubefort.reporters.versions`.
"""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import click

from ..analysis.node.collect import collect_node
from ..analysis.node.versions import Version, today_of
from ..api import ClusterSource, ScanOptions, audit_node, batch_gc, check_versions, read_cluster_versions
from ..errors import LoadError, UsageError
from ..reporters import Format, printable
from ..reporters.node import audit_reporter, write_dump
from ..reporters.versions import versions_reporter
from .options import cluster_options, judging_options, split_values

# -- commands --------------------------------------------------------------------------------------------


@click.group("node")
def node_group() -> None:
    """Audit a Kubernetes node: component flags, config files, file permissions, certificates."""


_FORMATS = click.Choice([f.value for f in Format])


@node_group.command("audit")
@click.option(
    "--root",
    default="/",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Read the node's files under this directory (a copy of a node's /, or / itself).",
)
@click.option(
    "--proc",
    "proc_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Read running components from this /proc (default: /proc when --root is /).",
)
@click.option("--no-proc", is_flag=True, help="Do not read processes, even with --root /.")
@click.option("--node-name", default=None, help="Name of the node in the report (default: <root>/etc/hostname).")
@judging_options(config="Config file (.kubefort.yaml): parameters, exceptions.", baseline=None)
@click.option("-o", "--format", "fmt", type=_FORMATS, default=None, help="Output format.  [default: table]")
@click.option("--output", type=click.File("w"), default=None, help="Write the report to this file instead of stdout.")
@click.option(
    "--dump",
    "dump",
    type=click.File("w"),
    default=None,
    help="Also write the node snapshot and synthetic Pods as YAML (scan them again with 'kubefort scan').",
)
@click.option("--no-color", is_flag=True, help="No colours in table output.")
@click.option("-v", "--verbose", is_flag=True, help="Also list checks that do not apply, and notes.")
def audit_cmd(
    root: str,
    proc_dir: str | None,
    no_proc: bool,
    node_name: str | None,
    rules: tuple[str, ...],
    skip_rules: tuple[str, ...],
    min_severity: str | None,
    fail_on: str | None,
    config: str | None,
    fmt: str | None,
    output: IO[str] | None,
    dump: IO[str] | None,
    no_color: bool,
    verbose: bool,
) -> None:
    """Check a control-plane or worker node like kube-bench: every CP, NODE and ETCD rule and the
    EncryptionConfiguration rules (KF-SEC-008..014), each PASS / FAIL / WARN / MANUAL with its CIS ID
    and a one-line fix.

    \b
    Reads static pod manifests, the kubelet's systemd unit, drop-ins and config file, kubeconfigs,
    /etc/kubernetes/pki, and the files the API server points at. With --root DIR the same audit
    runs on a copy of a node's files (paths in flags are resolved under DIR).

    \b
    Exit codes: 0 no finding at or above --fail-on; 1 there are; 2 usage error or unreadable
    input; 3 a rule crashed.
    """
    if not os.path.isdir(root):
        raise UsageError(f"--root {root}: not a directory")
    proc = None if no_proc else (proc_dir or ("/proc" if os.path.abspath(root) == "/" else None))
    if proc is not None and not os.path.isdir(proc):
        raise UsageError(f"--proc {proc}: not a directory")
    opts = ScanOptions(
        rules=split_values(rules),
        skip_rules=split_values(skip_rules),
        min_severity=min_severity,
        fail_on=fail_on,
        config=config,
    )
    try:
        audit = collect_node(root, proc=proc, node=node_name)
    except LoadError as e:
        raise UsageError(e.diagnostics()) from None
    with batch_gc():
        result = audit_node(audit, opts)
    if dump is not None:
        write_dump(audit, dump)
    out_fmt = Format(fmt or Format.TABLE.value)
    audit_reporter(out_fmt, color=False if no_color else None, verbose=verbose).render(result, output or sys.stdout)
    if out_fmt is not Format.TABLE:
        for err in result.report.errors:
            click.echo(f"kubefort: error: {printable(err.diagnostics())}", err=True)
    sys.exit(result.report.exit_code())


# -- kubefort versions -------------------------------------------------------------------------------------

_VERSION_OPTS = (
    ("apiserver", "kube-apiserver"),
    ("controller_manager", "kube-controller-manager"),
    ("scheduler", "kube-scheduler"),
    ("cloud_controller_manager", "cloud-controller-manager"),
    ("kubelet", "kubelet"),
    ("kube_proxy", "kube-proxy"),
    ("kubectl", "kubectl"),
    ("etcd", "etcd"),
    ("containerd", "containerd"),
    ("kernel", "kernel"),
)


def _version_items(values: tuple[str, ...], what: str) -> list[Any]:
    """``1.31.2`` or ``name=1.31.2`` (an instance or node name), comma-separated or repeated."""
    out: list[Any] = []
    for v in split_values(values):
        name, sep, ver = v.rpartition("=")
        text = ver if sep else v
        if Version.parse(text) is None:
            raise UsageError(f"--{what}: {text!r} is not a version (expected e.g. 1.31.2)")
        out.append({"version": text, "name": name} if sep and name else text)
    return out


@click.command("versions")
@click.option(
    "--apiserver",
    multiple=True,
    metavar="VERSION",
    help="kube-apiserver version(s), one per instance (repeat or comma-separate; NAME=VERSION to name it).",
)
@click.option(
    "--controller-manager",
    "controller_manager",
    multiple=True,
    metavar="VERSION",
    help="kube-controller-manager version(s).",
)
@click.option("--scheduler", multiple=True, metavar="VERSION", help="kube-scheduler version(s).")
@click.option(
    "--cloud-controller-manager",
    "cloud_controller_manager",
    multiple=True,
    metavar="VERSION",
    help="cloud-controller-manager version(s).",
)
@click.option(
    "--kubelet",
    multiple=True,
    metavar="VERSION",
    help="kubelet version(s), one per node (NODE=VERSION to name the node).",
)
@click.option(
    "--kube-proxy",
    "kube_proxy",
    multiple=True,
    metavar="VERSION",
    help="kube-proxy version(s) (NODE=VERSION pairs them with kubelets).",
)
@click.option("--kubectl", multiple=True, metavar="VERSION", help="kubectl client version(s).")
@click.option("--etcd", multiple=True, metavar="VERSION", help="etcd version (shown; not judged).")
@click.option("--containerd", multiple=True, metavar="VERSION", help="containerd version(s), for known CVEs.")
@click.option("--kernel", multiple=True, metavar="VERSION", help="node kernel version(s), for known CVEs.")
@click.option(
    "--root",
    default=None,
    type=click.Path(file_okay=False),
    help="Also read versions from a node (image tags of its static pods) under this root.",
)
@click.option("--today", default=None, metavar="YYYY-MM-DD", help="Judge end of life as of this date (default: today).")
@judging_options(selection=False, min_severity=None, baseline=None)
@click.option("-o", "--format", "fmt", type=_FORMATS, default=None, help="Output format.  [default: table]")
@click.option("--output", type=click.File("w"), default=None, help="Write the report to this file instead of stdout.")
@click.option("--no-color", is_flag=True, help="No colours in table output.")
@cluster_options()
def versions_cmd(
    cluster: ClusterSource | None,
    snapshot: str | None,
    root: str | None,
    today: str | None,
    fail_on: str | None,
    config: str | None,
    fmt: str | None,
    output: IO[str] | None,
    no_color: bool,
    **given: tuple[str, ...],
) -> None:
    """End of life, patch level and version skew of a cluster's components, and the upgrade order.

    \b
    Examples:
      kubefort versions --apiserver 1.31.2 --kubelet 1.28.5,1.31.2 --scheduler 1.31.0
      kubefort versions --root /            # image tags of this node's static pods
      kubefort versions --apiserver cp-1=1.33.2 --apiserver cp-2=1.34.1 -o json
      kubefort versions --cluster           # /version, every Node, the control plane's static pods
      kubefort versions --snapshot prod.json.gz

    \b
    The release and end-of-life dates come from the bundled table kubefort/data/k8s_releases.yaml
    (dated; see its header to update it). Exit codes as for kubefort scan.
    """
    try:
        day = today_of(today)
    except ValueError:
        raise UsageError(f"--today {today!r}: expected YYYY-MM-DD") from None
    spec: dict[str, list[Any]] = {}
    for opt, comp in _VERSION_OPTS:
        items = _version_items(given.get(opt) or (), opt.replace("_", "-"))
        if items:
            spec[comp] = items
    found_from = None
    if root is not None:
        if not os.path.isdir(root):
            raise UsageError(f"--root {root}: not a directory")
        audit = collect_node(root, proc="/proc" if os.path.abspath(root) == "/" else None)
        found_from = audit.root
        for comp, v in audit.versions.items():
            spec.setdefault(comp, [v])
    if cluster is not None or snapshot is not None:
        try:
            live = read_cluster_versions(cluster, snapshot)
        except LoadError as e:
            raise UsageError(e.diagnostics()) from None
        found_from = live.read_from if found_from is None else f"{found_from}; {live.read_from}"
        for comp, items in live.spec.items():
            spec.setdefault(comp, items)  # versions given on the command line win
        for note in live.notes:
            click.echo(f"kubefort: {printable(note)}", err=True)
    if not spec:
        raise UsageError("give at least one version (e.g. --apiserver 1.31.2), --root, --cluster or --snapshot")
    opts = ScanOptions(fail_on=fail_on, config=config)
    result = check_versions(spec, opts, today=day, read_from=found_from)
    versions_reporter(Format(fmt or Format.TABLE.value), color=False if no_color else None).render(
        result, output or sys.stdout
    )
    sys.exit(result.report.exit_code())
