"""``kubefort node audit`` (control-plane and worker node checks, kube-bench style) and
``kubefort versions`` (end-of-life, patch level, version skew, upgrade order)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import defaultdict
from typing import IO, Any

import click
import yaml
from rich.console import Console
from rich.markup import escape

from ..analysis.node import results as res
from ..analysis.node.collect import NodeAudit, collect_node
from ..analysis.node.targets import AUDIT_SECTIONS, node_rule_ids, versions_rule_ids
from ..analysis.node.versions import (
    FIELDS,
    UPGRADE_ORDER,
    Version,
    kubelet_max_gap,
    release_table,
    today_of,
    upgrade_path,
    versions_object,
)
from ..api import ScanOptions, batch_gc, resolve_config, scan_inventory
from ..engine.findings import Finding, Report
from ..engine.registry import Registry
from ..engine.rule import Severity
from ..errors import LoadError, UsageError
from ..model.inventory import Inventory
from ..reporters import Format, get_reporter
from ..reporters.json_report import finding_dict
from ..rules import default_registry

#: Report sections in the order an operator reads them.
SECTION_ORDER = AUDIT_SECTIONS
_STATUS_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "warn": "yellow",
    "manual": "cyan",
    "skip": "dim",
    "error": "bold magenta",
}
_SEV_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _split(values: tuple[str, ...]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def run_audit(audit: NodeAudit, opts: ScanOptions, registry: Registry) -> tuple[Report, list[res.CheckResult]]:
    cfg = resolve_config(opts)
    inventory = Inventory(audit.objects)
    report = scan_inventory(inventory, opts, registry=registry, cfg=cfg, mode="node")
    report.errors.extend(audit.errors)
    report.notes[:0] = audit.notes
    report.files = audit.files
    checks = res.check_results(report, inventory)
    return report, checks


# -- rendering -----------------------------------------------------------------------------------------


def result_dict(c: res.CheckResult) -> dict[str, Any]:
    """One check in the finding contract of ``kubefort scan`` plus ``status`` (and ``reason``)."""
    meta = c.rule
    if c.findings:
        out = []
        for f in c.findings:
            d = finding_dict(f)
            d["status"] = c.status
            out.append(d)
        return {"items": out}
    d: dict[str, Any] = {
        "rule_id": meta.id,
        "slug": meta.slug,
        "severity": meta.severity.label,
        "title": meta.title,
        "message": c.reason or ("passed" if c.status == "pass" else c.status),
        "rationale": meta.rationale,
        "remediation": meta.remediation,
        "object": c.object.to_dict() if c.object else None,
        "location": {"file": c.location.file, "line": c.location.line} if c.location else None,
        "path": "",
        "refs": {k: list(v) for k, v in meta.refs.items()},
        "suppressed": False,
        "status": c.status,
    }
    if c.reason:
        d["reason"] = c.reason
    return {"items": [d]}


def _flatten(checks: list[res.CheckResult]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(every result, the results that are findings in the scan sense)."""
    out: list[dict[str, Any]] = []
    found: list[dict[str, Any]] = []
    for c in checks:
        for item in result_dict(c)["items"]:
            item["section"] = c.section
            out.append(item)
            if c.findings:
                found.append(item)
    return out, found


def render_json(audit: NodeAudit, report: Report, checks: list[res.CheckResult], out: IO[str]) -> None:
    items, found = _flatten(checks)
    doc = {
        "schema": "kubefort/v1",
        "kind": "node-audit",
        "node": audit.node,
        "root": audit.root,
        "components": {k: {"source": v, "version": audit.versions.get(k)} for k, v in sorted(audit.found.items())},
        "results": items,
        "findings": found,
        "summary": {
            "checks": res.counts(_merge_per_rule(checks)),
            "results_by_status": res.counts(checks),
            **report.summary(),
        },
        "rule_errors": [
            {"rule_id": r.rule.id, "object": r.object.to_dict(), "error": r.detail} for r in report.rule_errors
        ],
        "errors": [{"file": e.file, "line": e.line, "message": str(e)} for e in report.errors],
        "notes": report.notes,
    }
    out.write(json.dumps(doc, indent=2, default=str) + "\n")


def _where(c: res.CheckResult | Finding) -> str:
    loc = c.location
    if loc is None:
        return ""
    return f"{loc.file}:{loc.line}" if loc.line else loc.file


_WORST = ("error", "fail", "warn", "manual", "pass", "skip")


def _merge_per_rule(checks: list[res.CheckResult]) -> list[res.CheckResult]:
    """One line per rule in the table: a rule judged on several objects (the audit Policy and the
    API server's flag) shows its worst status with every finding."""
    merged: dict[str, res.CheckResult] = {}
    order: list[str] = []
    for c in checks:
        m = merged.get(c.rule.id)
        if m is None:
            merged[c.rule.id] = res.CheckResult(
                c.rule, c.status, c.section, c.object, c.location, list(c.findings), c.reason
            )
            order.append(c.rule.id)
            continue
        if _WORST.index(c.status) < _WORST.index(m.status):
            m.status, m.reason = c.status, c.reason or m.reason
        m.findings.extend(c.findings)
    return [merged[k] for k in order]


def render_table(
    audit: NodeAudit, report: Report, checks: list[res.CheckResult], out: IO[str], *, color: bool | None, verbose: bool
) -> None:
    con = Console(
        file=out,
        force_terminal=color if color is not None else None,
        no_color=color is False,
        width=max(100, Console(file=out).width),
        highlight=False,
        soft_wrap=True,
    )
    con.print(f"[bold]kubefort node audit[/]: node [bold]{escape(audit.node)}[/]  (root {escape(audit.root)})")
    if audit.found:
        for comp in sorted(audit.found, key=lambda k: SECTION_ORDER.index(k) if k in SECTION_ORDER else 99):
            v = audit.versions.get(comp)
            con.print(f"  {comp:<24} {escape(audit.found[comp])}" + (f"  [dim]v{v}[/]" if v else ""))
    else:
        con.print("  [yellow]no Kubernetes component found[/]")
    sections: dict[str, list[res.CheckResult]] = defaultdict(list)
    for c in _merge_per_rule(checks):
        sections[c.section].append(c)
    order = sorted(sections, key=lambda s: (SECTION_ORDER.index(s) if s in SECTION_ORDER else 99, s))
    for sec in order:
        cs = sections[sec]
        shown = [c for c in cs if verbose or c.status != "skip"]
        if not shown:
            continue
        con.print()
        con.print(f"[bold underline]{escape(sec)}[/]")
        for c in shown:
            st = f"[{_STATUS_STYLE[c.status]}]{'[' + c.status.upper() + ']':<8}[/]"
            cis = f"CIS {c.cis}" if c.cis else ""
            con.print(f"  {st} [bold]{c.rule.id:<12}[/] [dim]{cis:<18}[/] {escape(c.rule.title)}")
            if c.status in ("pass",):
                continue
            if c.findings:
                for f in sorted(c.findings, key=lambda x: (-x.severity, x.location.line or 0)):
                    sev = f"[{_SEV_STYLE[f.severity]}]{f.severity.label}[/]"
                    sup = f" [dim](suppressed: {escape(f.suppression or '')})[/]" if f.suppressed else ""
                    con.print(f"           {sev}: {escape(f.message)}{sup}")
                    w = _where(f)
                    if w:
                        con.print(f"           [dim]at {escape(w)}[/]")
                con.print(f"           [green]fix:[/] {escape(c.rule.remediation)}")
            elif c.reason:
                label = "why" if c.status in ("warn", "error") else "skipped"
                con.print(f"           [dim]{label}: {escape(c.reason)}[/]")
    con.print()
    n = res.counts(_merge_per_rule(checks))
    sev_fail: dict[str, int] = defaultdict(int)
    for c in checks:
        if c.status == "fail":
            for f in c.findings:
                if not f.suppressed:
                    sev_fail[f.severity.label] += 1
    con.print(
        f"[bold]Summary[/]: [green]{n['pass']} pass[/], [red]{n['fail']} fail[/], [yellow]{n['warn']} warn[/], "
        f"[cyan]{n['manual']} manual[/], {n['skip']} not applicable"
        + (f", [magenta]{n['error']} error[/]" if n["error"] else "")
        + ("" if verbose or not n["skip"] else " [dim](-v lists them)[/]")
    )
    if sev_fail:
        con.print(
            "findings by severity: "
            + ", ".join(f"{s} {sev_fail[s]}" for s in ("critical", "high", "medium", "low", "info") if sev_fail.get(s))
        )
    for e in report.errors:
        con.print(f"[bold red]error[/] {escape(e.diagnostics())}")
    for r in report.rule_errors:
        con.print(f"[bold red]rule error[/] {r.rule.id} on {escape(str(r.object))}: {escape(r.detail or '')}")
    if report.notes:
        if verbose:
            for note in report.notes:
                con.print(f"[dim]note: {escape(note)}[/]")
        else:
            con.print(f"[dim]{len(report.notes)} notes: use -v to see them[/]")
    code = report.exit_code()
    verdict = {
        0: "[green]PASS[/]",
        1: f"[red]FAIL[/]: findings at or above {report.fail_on.label}",
        2: "[red]ERROR[/]: some input could not be read",
        3: "[red]ERROR[/]: a rule crashed",
    }[code]
    con.print(f"result: {verdict} (exit code {code})")


def _dump(audit: NodeAudit, out: IO[str]) -> None:
    docs = [
        dict(o.raw)
        for o in audit.objects
        if o.kind == "NodeSnapshot"
        or (
            isinstance(o.raw.get("metadata"), dict)
            and "kubefort.io/source" in (o.raw["metadata"].get("annotations") or {})
        )
    ]
    out.write(yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False))


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
@click.option("--rules", "rules", multiple=True, metavar="IDS", help="Run only these rules (IDs, slugs or KF-AREA-*).")
@click.option("--skip-rules", multiple=True, metavar="IDS", help="Do not run these rules (comma-separated).")
@click.option(
    "--min-severity",
    type=click.Choice(["info", "low", "medium", "high", "critical"]),
    default=None,
    help="Hide findings below this severity.  [default: info]",
)
@click.option(
    "--fail-on",
    type=click.Choice(["info", "low", "medium", "high", "critical"]),
    default=None,
    help="Exit 1 when a finding is at or above this severity.  [default: high]",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Config file (.kubefort.yaml): parameters, exceptions.",
)
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
    registry = default_registry()
    chosen = _split(rules) or node_rule_ids(registry)
    opts = ScanOptions(
        rules=chosen, skip_rules=_split(skip_rules), min_severity=min_severity, fail_on=fail_on, config=config
    )
    try:
        audit = collect_node(root, proc=proc, node=node_name)
    except LoadError as e:
        raise UsageError(e.diagnostics()) from None
    with batch_gc():
        report, checks = run_audit(audit, opts, registry)
    if dump is not None:
        _dump(audit, dump)
    out = output or sys.stdout
    fmt = fmt or Format.TABLE.value
    color = False if no_color else None
    if fmt == Format.TABLE.value:
        render_table(audit, report, checks, out, color=color, verbose=verbose)
    elif fmt == Format.JSON.value:
        render_json(audit, report, checks, out)
    else:
        get_reporter(Format(fmt), color=color, verbose=verbose).render(report, out)
    if fmt != Format.TABLE.value:
        for e in report.errors:
            click.echo(f"kubefort: error: {e.diagnostics()}", err=True)
    sys.exit(report.exit_code())


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
    for v in _split(values):
        name, sep, ver = v.rpartition("=")
        text = ver if sep else v
        if Version.parse(text) is None:
            raise UsageError(f"--{what}: {text!r} is not a version (expected e.g. 1.31.2)")
        out.append({"version": text, "name": name} if sep and name else text)
    return out


def component_status(component: str, version: Any, today: Any) -> dict[str, Any]:
    v = Version.parse(version)
    d: dict[str, Any] = {"component": component, "version": str(version)}
    if v is None or component not in (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "cloud-controller-manager",
        "kubelet",
        "kube-proxy",
        "kubectl",
    ):
        return d
    table = release_table()
    rel = table.get(v.minor_key)
    d["minor"] = v.minor_key
    if rel is None:
        newest = table.newest
        newer = (v.major, v.minor) > tuple(int(x) for x in newest.minor.split("."))
        d["status"] = "unknown" if newer else "end_of_life"
        return d
    d["end_of_life"] = str(rel.end_of_life) if rel.end_of_life else None
    if rel.end_of_life and rel.end_of_life <= today:
        d["status"] = "end_of_life"
    elif rel.maintenance_mode and rel.maintenance_mode <= today:
        d["status"] = "maintenance"
    else:
        d["status"] = "supported"
    if rel.latest_patch is not None:
        d["latest_patch"] = str(rel.latest_patch)
        d["patches_behind"] = max(0, rel.latest_patch.patch - v.patch)
    return d


def upgrade_plan(spec: dict[str, list[Any]], today: Any) -> dict[str, Any]:
    def vers(comp: str) -> list[tuple[str, Any]]:
        out = []
        for it in spec.get(comp, []):
            text = it["version"] if isinstance(it, dict) else it
            name = it.get("name") if isinstance(it, dict) else None
            v = Version.parse(text)
            if v is not None:
                out.append((f"{comp} {text}" + (f" ({name})" if name else ""), v))
        return out

    apis = vers("kube-apiserver")
    plan: dict[str, Any] = {"order": list(UPGRADE_ORDER), "path": [], "blockers": []}
    if not apis:
        return plan
    table = release_table()
    oldest = min(v for _, v in apis)
    steps = upgrade_path(oldest, table, today)
    plan["path"] = [{"minor": s.minor, "latest_patch": s.latest_patch} for s in steps]
    # the first step at which each kubelet or kube-proxy would fall outside the skew policy
    for lab, v in vers("kubelet") + vers("kube-proxy"):
        for s in steps:
            major, minor = (int(x) for x in s.minor.split("."))
            if (major - v.major) * 1000 + (minor - v.minor) > kubelet_max_gap(v):
                need = f"{major}.{minor - kubelet_max_gap(v)}" if major == v.major else s.minor
                plan["blockers"].append(
                    f"before kube-apiserver {s.minor}: upgrade {lab} to at least {need} "
                    "(and keep it within 3 minors at every later step)"
                )
                break
    return plan


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
@click.option(
    "--fail-on",
    type=click.Choice(["info", "low", "medium", "high", "critical"]),
    default=None,
    help="Exit 1 when a finding is at or above this severity.  [default: high]",
)
@click.option("--config", type=click.Path(dir_okay=False), default=None, help="Config file (.kubefort.yaml).")
@click.option("-o", "--format", "fmt", type=_FORMATS, default=None, help="Output format.  [default: table]")
@click.option("--output", type=click.File("w"), default=None, help="Write the report to this file instead of stdout.")
@click.option("--no-color", is_flag=True, help="No colours in table output.")
def versions_cmd(
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
    if not spec:
        raise UsageError("give at least one version (e.g. --apiserver 1.31.2) or --root")
    obj = versions_object(spec)
    registry = default_registry()
    opts = ScanOptions(rules=versions_rule_ids(registry), fail_on=fail_on, config=config)
    cfg = resolve_config(opts)
    cfg = dataclasses.replace(cfg, params={**cfg.params, "today": day.isoformat()})
    inventory = Inventory([obj])
    report = scan_inventory(inventory, opts, registry=registry, cfg=cfg, mode="versions")
    checks = res.check_results(report, inventory)
    order = {c: i for i, c in enumerate(FIELDS)}
    statuses = [
        component_status(comp, it["version"] if isinstance(it, dict) else it, day)
        | ({"name": it["name"]} if isinstance(it, dict) else {})
        for comp, items in sorted(spec.items(), key=lambda kv: order.get(kv[0], 99))
        for it in items
    ]
    plan = upgrade_plan(spec, day)
    table = release_table()
    out = output or sys.stdout
    fmt = fmt or Format.TABLE.value
    stale = (day - table.as_of).days > 120
    if fmt == Format.JSON.value:
        items, found = _flatten(checks)
        doc = {
            "schema": "kubefort/v1",
            "kind": "versions",
            "today": day.isoformat(),
            "release_table": {
                "source": table.source,
                "as_of": table.as_of.isoformat(),
                "stale": stale,
                "supported": [r.minor for r in table.supported(day)],
            },
            "read_from": found_from,
            "components": statuses,
            "results": items,
            "findings": found,
            "upgrade": plan,
            "summary": {"checks": res.counts(checks), **report.summary()},
        }
        out.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif fmt == Format.TABLE.value:
        _render_versions(
            out, day, table, statuses, checks, plan, report, stale, found_from, color=False if no_color else None
        )
    else:
        get_reporter(Format(fmt), color=False if no_color else None).render(report, out)
    sys.exit(report.exit_code())


def _render_versions(
    out: IO[str],
    day: Any,
    table: Any,
    statuses: list[dict[str, Any]],
    checks: list[res.CheckResult],
    plan: dict[str, Any],
    report: Report,
    stale: bool,
    found_from: str | None,
    *,
    color: bool | None,
) -> None:
    con = Console(
        file=out,
        force_terminal=color if color is not None else None,
        no_color=color is False,
        width=max(100, Console(file=out).width),
        highlight=False,
        soft_wrap=True,
    )
    con.print(
        f"[bold]kubefort versions[/]  today {day}, release table {escape(table.source)} as of {table.as_of}"
        + (f"  [dim](read from {escape(found_from)})[/]" if found_from else "")
    )
    if stale:
        con.print("[yellow]the release table is more than 120 days old: update kubefort/data/k8s_releases.yaml[/]")
    sup = table.supported(day)
    con.print(
        "supported minors: "
        + ", ".join(
            f"{r.minor} (latest {r.latest_patch}, EOL {r.end_of_life}"
            + (", maintenance mode" if r.maintenance_mode and r.maintenance_mode <= day else "")
            + ")"
            for r in reversed(sup)
        )
    )
    con.print()
    style = {"supported": "green", "maintenance": "yellow", "end_of_life": "bold red", "unknown": "dim"}
    for s in statuses:
        st = s.get("status")
        name = f" ({s['name']})" if s.get("name") else ""
        line = f"  {s['component'] + name:<34} {s['version']:<10}"
        if st:
            extra = {
                "end_of_life": f"end of life since {s.get('end_of_life')}",
                "maintenance": f"maintenance mode, end of life {s.get('end_of_life')}",
                "supported": f"supported until {s.get('end_of_life')}",
                "unknown": "newer than the release table",
            }[st]
            line += f" [{style[st]}]{extra}[/]"
            if s.get("patches_behind"):
                line += f", {s['patches_behind']} patch(es) behind {s['latest_patch']}"
        con.print(line)
    con.print()
    for c in checks:
        if c.status == "skip":
            continue
        st = f"[{_STATUS_STYLE[c.status]}]{'[' + c.status.upper() + ']':<8}[/]"
        con.print(f"  {st} [bold]{c.rule.id}[/] {escape(c.rule.title)}")
        for f in c.findings:
            con.print(f"           [{_SEV_STYLE[f.severity]}]{f.severity.label}[/]: {escape(f.message)}")
        if c.findings:
            con.print(f"           [green]fix:[/] {escape(c.rule.remediation)}")
        elif c.reason and c.status != "pass":
            con.print(f"           [dim]why: {escape(c.reason)}[/]")
    con.print()
    if plan["path"]:
        con.print(
            "[bold]upgrade path[/] (the API server never skips a minor; take the latest patch of each): "
            + " -> ".join(
                f"{p['minor']}" + (f" ({p['latest_patch']})" if p["latest_patch"] else "") for p in plan["path"]
            )
        )
        for b in plan["blockers"]:
            con.print(f"  [yellow]blocker:[/] {escape(b)}")
    elif any(s["component"] == "kube-apiserver" for s in statuses):
        con.print("[bold]upgrade path[/]: already on the newest supported minor")
    con.print("[bold]order for each step[/]: " + "; ".join(f"{i}. {o}" for i, o in enumerate(plan["order"], 1)))
    code = report.exit_code()
    verdict = {
        0: "[green]PASS[/]",
        1: f"[red]FAIL[/]: findings at or above {report.fail_on.label}",
        2: "[red]ERROR[/]",
        3: "[red]ERROR[/]: a rule crashed",
    }[code]
    con.print(f"result: {verdict} (exit code {code})")
