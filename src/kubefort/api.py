"""The library entry point shared by the CLI, the live-cluster scan and the admission webhook."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .analysis.rbac.index import RbacIndex
from .engine.config import Config, find_config, load_config
from .engine.findings import Report
from .engine.registry import Registry
from .engine.rule import PssLevel, Rule, RuleMeta, Scope, Severity, kinds_read
from .engine.runner import evaluate
from .engine.suppression import Suppressor, load_baseline
from .errors import ConfigError, RenderError, UsageError
from .loading.cluster import ClusterRead, ResourceType, load_snapshot, read_cluster, save_snapshot
from .loading.cluster import ClusterSource as ClusterSource  # re-exported: the CLI builds one
from .loading.cluster import Progress as Progress
from .loading.loader import LoadResult, input_root, load_paths, load_text, no_objects_error, repository_root
from .loading.render import render_helm, render_kustomize
from .model.inventory import Inventory
from .rules import default_registry

if TYPE_CHECKING:
    import datetime as dt

    from .analysis.netpol.engine import NetpolEngine
    from .analysis.node.collect import NodeAudit
    from .analysis.node.results import NodeAuditResult, VersionsResult
    from .analysis.node.versions import VersionSpec
    from .model.etcd import EtcdEndpoint


@dataclass(slots=True, kw_only=True)
class ScanOptions:
    paths: list[str] = field(default_factory=list)
    helm: list[str] = field(default_factory=list)
    helm_values: list[str] = field(default_factory=list)
    kustomize: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    skip_rules: list[str] = field(default_factory=list)
    min_severity: str | None = None
    fail_on: str | None = None
    config: str | None = None
    baseline: str | None = None
    pss: str | None = None
    namespace: str = "default"
    keep_passes: bool = True
    workers: int = 1  # processes for rule evaluation (fork): only for callers that own the process
    cluster: ClusterSource | None = None  # read the objects from a live cluster instead of files
    snapshot: str | None = None  # ... or from a snapshot of one (kubefort cluster snapshot save)
    kube_version: str | None = None  # Kubernetes version whose API schema objects are validated against
    schema_dir: str | None = None  # CRDs or JSON schemas (kubeconform layout) for custom resources
    allow_empty: bool = False  # an input without any Kubernetes object is not an error (scan)


def load_inputs(opts: ScanOptions) -> LoadResult:
    """Read every input of a scan (files, dirs, stdin, Helm, Kustomize). Render failures are errors."""
    result = (
        load_paths(opts.paths, default_namespace=opts.namespace, workers=opts.workers, charts=opts.helm)
        if opts.paths
        else LoadResult()
    )
    for chart in opts.helm:
        try:
            text = render_helm(chart, opts.helm_values, namespace=None)
        except RenderError as e:
            raise UsageError(str(e)) from None
        result.extend(
            load_text(
                text, chart, rendered_by="helm", source_root=os.path.normpath(chart), default_namespace=opts.namespace
            )
        )
    for d in opts.kustomize:
        try:
            text = render_kustomize(d)
        except RenderError as e:
            raise UsageError(str(e)) from None
        result.extend(
            load_text(
                text,
                f"{d.rstrip('/')}/kustomization.yaml (rendered)",
                rendered_by="kustomize",
                default_namespace=opts.namespace,
            )
        )
    return result


def check_schema_options(opts: ScanOptions) -> None:
    """Refuse an unknown --kube-version or a missing --schema-dir before loading anything."""
    from .analysis.schema.bundle import bundle_index

    bundle_index().resolve(opts.kube_version)
    if opts.schema_dir and not os.path.isdir(opts.schema_dir):
        raise UsageError(f"--schema-dir {opts.schema_dir!r}: no such directory")


def resolve_config(opts: ScanOptions) -> Config:
    path = opts.config or find_config(opts.paths)
    if opts.config and not os.path.isfile(opts.config):
        raise ConfigError("config file not found", opts.config)
    return load_config(path) if path else Config()


def _severity(value: str | None, default: Severity, what: str) -> Severity:
    if value is None:
        return default
    try:
        return Severity.parse(str(value))
    except ValueError as e:
        raise UsageError(f"{what}: {e}") from None


def check_params(rules: Iterable[Rule], registry: Registry, params: dict[str, Any], where: str) -> None:
    known = {name for r in registry for name in r.meta.params}
    for key, value in params.items():
        if key.startswith("KF-"):
            rule = registry.get(key)
            if not isinstance(value, dict) or set(value) - set(rule.meta.params):
                raise ConfigError(
                    f"params.{key}: {rule.meta.id} takes {', '.join(sorted(rule.meta.params)) or 'no parameters'}",
                    where,
                )
        elif key not in known:
            raise ConfigError(f"params.{key}: unknown parameter; known: {', '.join(sorted(known))}", where)


def select_rules(opts: ScanOptions, cfg: Config, registry: Registry) -> list[Rule]:
    pss = None
    if opts.pss:
        try:
            pss = PssLevel(opts.pss)
        except ValueError:
            raise UsageError(f"--pss: unknown level {opts.pss!r}: choose baseline or restricted") from None
    return registry.select(only=opts.rules, skip=[*opts.skip_rules, *cfg.disable], enable=cfg.enable, pss=pss)


def scan_inventory(
    inventory: Inventory,
    opts: ScanOptions,
    *,
    registry: Registry | None = None,
    cfg: Config | None = None,
    mode: str = "manifest",
) -> Report:
    registry = registry or default_registry()
    cfg = cfg if cfg is not None else resolve_config(opts)
    check_params([], registry, cfg.params, cfg.path or "config")
    rules = select_rules(opts, cfg, registry)
    # --pss judges as admission does: any violation is a rejected pod, so any fails unless a threshold is set
    fail_on = _severity(opts.fail_on or cfg.fail_on, Severity.INFO if opts.pss else Severity.HIGH, "--fail-on")
    min_sev = _severity(opts.min_severity or cfg.min_severity, Severity.INFO, "--min-severity")
    baseline = load_baseline(opts.baseline) if opts.baseline else None
    params = dict(cfg.params)
    pss = PssLevel(opts.pss) if opts.pss else None
    if pss is not None:
        params.setdefault("pss_strict", True)
    if opts.kube_version:
        params["kube_version"] = opts.kube_version
        params.setdefault("target_version", opts.kube_version)  # KF-VER-006 judges the same version
    if opts.schema_dir:
        params["schema_dir"] = opts.schema_dir
    notes = []
    if mode in ("manifest", "cluster") and _validating(registry, opts, cfg, mode):
        from .rules.schema import validate_inventory

        notes = validate_inventory(inventory, params)
    report = evaluate(
        rules,
        inventory,
        params=params,
        suppressor=Suppressor(cfg.exceptions, baseline),
        mode=mode,
        pss=pss,
        min_severity=min_sev,
        fail_on=fail_on,
        keep_passes=opts.keep_passes,
        workers=opts.workers,
    )
    report.notes.extend(notes)
    return report


def _validating(registry: Registry, opts: ScanOptions, cfg: Config, mode: str = "manifest") -> bool:
    """Whether objects are validated against the API schema before the rules judge them: always in a
    manifest or cluster scan (live: custom resources only, analysis.schema.live), unless every KF-SCHEMA
    rule of that mode is skipped (then objects are judged as written)."""
    skipped = {r.meta.id for r in registry.resolve([*opts.skip_rules, *cfg.disable])}
    return any(
        r.meta.id.startswith("KF-SCHEMA-")
        and r.meta.id not in skipped
        and (r.meta.modes is None or mode in r.meta.modes)
        for r in registry
    )


def default_workers() -> int:
    """Worker processes for a CLI scan: the CPUs this process may run on, at most 4 (beyond that the
    merging and copy-on-write costs eat the gain). One on macOS, where fork() without exec is unsafe
    once system frameworks are loaded (Python itself stopped forking there by default)."""
    if sys.platform == "darwin":
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector during a scan.

    A scan allocates millions of small, acyclic objects (parsed documents, views, findings); the
    collector would walk them again and again for nothing: pausing it makes loading 2.5x and rule
    evaluation 1.5x faster on 10k objects. Reference counting still frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def scan(opts: ScanOptions, *, registry: Registry | None = None, progress: Progress | None = None) -> Report:
    """Load the inputs and run the selected rules. Raises UsageError/ConfigError for bad options.

    An input without any Kubernetes object is an input error (exit code 2) naming what was read,
    unless ``opts.allow_empty``: a mistyped path in CI must not pass forever.
    """
    registry = registry or default_registry()
    if opts.cluster is not None or opts.snapshot is not None:
        return scan_cluster(opts, registry=registry, progress=progress)
    cfg = resolve_config(opts)
    # validate selection before the (possibly long) load
    select_rules(opts, cfg, registry)
    check_schema_options(opts)
    with batch_gc():
        loaded = load_inputs(opts)
        report = scan_inventory(Inventory(loaded.objects), opts, registry=registry, cfg=cfg)
    report.errors.extend(loaded.errors)
    inputs = [*("<stdin>" if p == "-" else p for p in opts.paths), *opts.helm, *opts.kustomize]
    if not loaded.objects and not loaded.errors and not opts.allow_empty:
        report.errors.append(no_objects_error(loaded, inputs))
    report.notes[:0] = loaded.notes
    report.files = loaded.files
    report.root = input_root([*opts.paths, *opts.helm, *opts.kustomize])
    report.repo_root = repository_root(report.root) if report.root is not None else None
    return report


# -- node audit and versions: the node rules through the same engine, then kube-bench style statuses
# (the analysis.node imports are local: ``kubefort scan`` does not pay for them)


def audit_node(audit: NodeAudit, opts: ScanOptions, *, registry: Registry | None = None) -> NodeAuditResult:
    """Judge a collected node (``kubefort node audit``): the node rules (``opts.rules`` when given) run
    like a scan, then one status per rule and object it is about."""
    from .analysis.node.results import NodeAuditResult, check_results
    from .analysis.node.targets import node_rule_ids

    registry = registry or default_registry()
    if not opts.rules:
        opts = dataclasses.replace(opts, rules=node_rule_ids(registry))
    inventory = Inventory(audit.objects)
    report = scan_inventory(inventory, opts, registry=registry, mode="node")
    report.errors.extend(audit.errors)
    report.notes[:0] = audit.notes
    report.files = audit.files
    return NodeAuditResult(audit, report, check_results(report, inventory))


def check_versions(
    spec: VersionSpec,
    opts: ScanOptions,
    *,
    today: dt.date,
    read_from: str | None = None,
    registry: Registry | None = None,
) -> VersionsResult:
    """Judge a cluster's component versions (``kubefort versions``) as of ``today``: the VER rules on
    the ClusterVersions object built from ``spec``, each version's support status, the upgrade plan."""
    from .analysis.node.results import VersionsResult, check_results
    from .analysis.node.targets import versions_rule_ids
    from .analysis.node.versions import component_statuses, release_table, upgrade_plan, versions_object

    registry = registry or default_registry()
    if not opts.rules:
        opts = dataclasses.replace(opts, rules=versions_rule_ids(registry))
    cfg = resolve_config(opts)
    cfg = dataclasses.replace(cfg, params={**cfg.params, "today": today.isoformat()})
    inventory = Inventory([versions_object(spec)])
    report = scan_inventory(inventory, opts, registry=registry, cfg=cfg, mode="versions")
    return VersionsResult(
        today=today,
        table=release_table(),
        components=component_statuses(spec, today),
        upgrade=upgrade_plan(spec, today),
        report=report,
        checks=check_results(report, inventory),
        read_from=read_from,
    )


#: what ``kubefort versions --cluster`` reads: Nodes (their nodeInfo), the control plane's static Pods and
#: the kube-proxy DaemonSet (both in kube-system)
VERSION_KINDS = ("DaemonSet", "Node", "Pod")


@dataclass(frozen=True, slots=True)
class ClusterVersionsRead:
    """The versions of a live cluster (or snapshot): the spec ``check_versions`` judges, where they were
    read from, and notes on what could not be read or told."""

    spec: dict[str, list[Any]]
    read_from: str
    notes: tuple[str, ...]


def read_cluster_versions(source: ClusterSource | None, snapshot: str | None = None) -> ClusterVersionsRead:
    """Read a cluster's component versions (``kubefort versions --cluster`` / ``--snapshot``): ``/version``,
    every Node's ``status.nodeInfo`` and the image tags of the control plane's static Pods, as
    :func:`~kubefort.analysis.node.versions.cluster_versions` reads them."""
    from .analysis.node.versions import CONTROL_PLANE_NAMESPACE, cluster_versions

    if snapshot is not None:

        def control_plane(t: ResourceType, item: dict[str, Any]) -> bool:
            md = item.get("metadata")
            return not t.namespaced or (isinstance(md, dict) and md.get("namespace") == CONTROL_PLANE_NAMESPACE)

        read = load_snapshot(snapshot, kinds=VERSION_KINDS, select=control_plane)
        where = f"snapshot {snapshot} (cluster {read.context})"
    elif source is not None:
        read = read_cluster(dataclasses.replace(source, namespace=CONTROL_PLANE_NAMESPACE), VERSION_KINDS)
        where = f"cluster {read.context} ({read.server})"
    else:
        raise UsageError("nothing to read: no cluster and no snapshot")
    found = cluster_versions(read.server_version, read.inventory())
    notes = [f"could not read {u.type.name}: {u.reason}" for u in read.unreadable if u.type.kind in VERSION_KINDS]
    notes += [f"could not discover {gv}: {why}" for gv, why in sorted(read.discovery.failed.items())]
    missing = sorted(set(VERSION_KINDS) - set(read.kinds))
    if missing:
        notes.append(f"the snapshot holds no {', '.join(missing)}")
    return ClusterVersionsRead(spec=found.spec, read_from=where, notes=(*notes, *found.notes))


def load_netpol(opts: ScanOptions) -> tuple[NetpolEngine, LoadResult]:
    """Load the inputs (``kubefort netpol``) and build the NetworkPolicy reachability engine over them;
    inputs that cannot be read are in the LoadResult's errors, as for a scan."""
    from .analysis.netpol.engine import engine_for  # on use: most commands never build one

    with batch_gc():
        loaded = load_inputs(opts)
        return engine_for(Inventory(loaded.objects)), loaded


def judge_etcd_endpoints(endpoints: Sequence[EtcdEndpoint], opts: ScanOptions | None = None) -> Report:
    """Judge probed etcd endpoints (``EtcdEndpoint`` objects, made by ``kubefort.etcd.probe``) with the
    ETCD rules that judge live answers (:data:`~kubefort.rules.etcd_live.LIVE_IDS`), through the engine
    as a scan in mode ``probe``: config exceptions, --min-severity, --fail-on, crash isolation."""
    from .rules.etcd_live import LIVE_IDS

    opts = dataclasses.replace(opts or ScanOptions(), rules=list(LIVE_IDS))
    inventory = Inventory([e.to_object() for e in endpoints])
    return scan_inventory(inventory, opts, mode="probe")


# -- live clusters and snapshots (docs/cluster.md) ---------------------------------------------------


def cluster_kinds(rules: Iterable[Rule], registry: Registry) -> frozenset[str]:
    """The kinds a cluster scan with ``rules`` reads: what those that run in cluster mode judge and need
    (the manifest-only rules, KF-SCHEMA-001..005 on every built-in kind among them, read nothing). A rule
    on every kind (KF-SEC-004, annotations of any object) judges what a scan with every rule reads."""

    def live(m: RuleMeta) -> bool:
        return m.modes is None or "cluster" in m.modes

    metas = [r.meta for r in rules if live(r.meta)]
    kinds = kinds_read(metas)
    if any(m.kinds is None and m.scope is Scope.OBJECT for m in metas):
        kinds |= kinds_read(r.meta for r in registry if live(r.meta))
    return kinds


def read_for_rules(
    source: ClusterSource,
    rules: Iterable[Rule],
    registry: Registry,
    progress: Progress | None = None,
    *,
    schemas: bool = True,
) -> ClusterRead:
    """Read from the cluster every kind that ``rules`` judge or need (one LIST per resource type), and,
    with ``schemas``, the cluster's OpenAPI v3 documents of the custom resources read (to validate them)."""
    from .analysis.schema.source import builtin_group

    def custom(group: str) -> bool:
        return not builtin_group(group)

    return read_cluster(source, cluster_kinds(rules, registry), progress, schemas=custom if schemas else None)


def builtin_kinds() -> dict[str, frozenset[str]]:
    """API group -> the kinds Kubernetes serves in it (any bundled version): a group whose discovery
    fails hides those kinds only (:meth:`~kubefort.loading.cluster.Discovery.undiscovered`)."""
    from .analysis.schema.bundle import bundle_index

    out: dict[str, set[str]] = {}
    for gv, kinds in bundle_index().served.items():
        out.setdefault(gv.rsplit("/", 1)[0] if "/" in gv else "", set()).update(kinds)
    return {g: frozenset(k) for g, k in out.items()}


def save_cluster_snapshot(
    source: ClusterSource, path: str, *, registry: Registry | None = None, progress: Progress | None = None
) -> ClusterRead:
    """Read what every rule of the registry could need, and write it to the snapshot file ``path``."""
    from . import __version__

    registry = registry or default_registry()
    read = read_for_rules(source, list(registry), registry, progress)
    save_snapshot(read, path, kubefort_version=__version__)
    return read


def scan_cluster(
    opts: ScanOptions,
    *,
    registry: Registry | None = None,
    progress: Progress | None = None,
    read: ClusterRead | None = None,
) -> Report:
    """Scan a live cluster (``opts.cluster``) or a snapshot (``opts.snapshot``); ``read``: what was
    already read. The objects are judged in cluster mode, on their owning workloads."""
    registry = registry or default_registry()
    cfg = resolve_config(opts)
    rules = select_rules(opts, cfg, registry)
    if read is None:
        if opts.snapshot is not None:
            read = load_snapshot(opts.snapshot, kinds=cluster_kinds(rules, registry))  # the others unparsed
        elif opts.cluster is not None:
            read = read_for_rules(opts.cluster, rules, registry, progress, schemas=_validating(registry, opts, cfg, "cluster"))
        else:
            raise UsageError("nothing to scan: no cluster and no snapshot")
    inventory = read.inventory()
    if read.namespace is not None:
        inventory.partial = f"the scan read namespace {read.namespace} only"
    needed = cluster_kinds(rules, registry)
    # kinds a group whose discovery failed may serve are unknown: neither present nor absent
    inventory.undiscovered = read.discovery.failed_groups()
    for kind, why in read.discovery.undiscovered(needed, builtin_kinds()).items():
        inventory.unreadable.setdefault(kind, why)
    # kinds these rules need that the snapshot was not saved with are as unread as forbidden ones
    for kind in sorted(needed - set(read.kinds)):
        inventory.unreadable.setdefault(kind, f"not in the snapshot (cannot list {kind})")
    with batch_gc():
        report = scan_inventory(inventory, opts, registry=registry, cfg=cfg, mode="cluster")
    if read.unreadable:
        report.notes.insert(0, f"could not read from the cluster: {unread_summary(read)}")
    for gv, why in sorted(read.discovery.failed.items()):
        report.notes.insert(0, f"could not discover {gv}: {why}")
    return report


def unread_summary(read: ClusterRead) -> str:
    """``networkpolicies (forbidden), secrets (forbidden)``: the one line saying what could not be read."""
    return ", ".join(f"{u.type.name} ({u.reason.rsplit(': ', 1)[-1]})" for u in read.unreadable)


def load_rbac(opts: ScanOptions, *, builtin_roles: bool | None = None) -> tuple[RbacIndex, LoadResult]:
    """Read the inputs like a scan and index their RBAC (``kubefort rbac``): the index, and the load
    result whose errors the caller reports. ``builtin_roles``: see :meth:`RbacIndex.build`."""
    if not opts.paths and not opts.helm and not opts.kustomize:
        raise UsageError("nothing to read: give -f FILE|DIR ('-' for stdin), --helm CHART or --kustomize DIR")
    with batch_gc():
        loaded = load_inputs(opts)
        index = RbacIndex.build(Inventory(loaded.objects), builtin_roles=builtin_roles)
    return index, loaded
