"""The library entry point shared by the CLI, the live-cluster scan and the admission webhook."""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .engine.config import Config, find_config, load_config
from .engine.findings import Report
from .engine.registry import Registry
from .engine.rule import PssLevel, Rule, Severity
from .engine.runner import evaluate
from .engine.suppression import Suppressor, load_baseline
from .errors import ConfigError, RenderError, UsageError
from .loading.loader import LoadResult, load_paths, load_text
from .loading.render import render_helm, render_kustomize
from .model.inventory import Inventory
from .rules import default_registry


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
    kube_version: str | None = None  # Kubernetes version whose API schema objects are validated against
    schema_dir: str | None = None  # CRDs or JSON schemas (kubeconform layout) for custom resources


def load_inputs(opts: ScanOptions) -> LoadResult:
    """Read every input of a scan (files, dirs, stdin, Helm, Kustomize). Render failures are errors."""
    result = (
        load_paths(opts.paths, default_namespace=opts.namespace, workers=opts.workers) if opts.paths else LoadResult()
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
    fail_on = _severity(opts.fail_on or cfg.fail_on, Severity.HIGH, "--fail-on")
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
    if mode == "manifest" and _validating(registry, opts, cfg):
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


def _validating(registry: Registry, opts: ScanOptions, cfg: Config) -> bool:
    """Whether objects are validated against the API schema before the rules judge them: always in a
    manifest scan, unless every KF-SCHEMA rule is skipped (then objects are judged as written)."""
    skipped = {r.meta.id for r in registry.resolve([*opts.skip_rules, *cfg.disable])}
    return any(r.meta.id.startswith("KF-SCHEMA-") and r.meta.id not in skipped for r in registry)


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


def scan(opts: ScanOptions, *, registry: Registry | None = None) -> Report:
    """Load the inputs and run the selected rules. Raises UsageError/ConfigError for bad options."""
    registry = registry or default_registry()
    cfg = resolve_config(opts)
    # validate selection before the (possibly long) load
    select_rules(opts, cfg, registry)
    check_schema_options(opts)
    with batch_gc():
        loaded = load_inputs(opts)
        report = scan_inventory(Inventory(loaded.objects), opts, registry=registry, cfg=cfg)
    report.errors.extend(loaded.errors)
    report.notes[:0] = loaded.notes
    report.files = loaded.files
    return report
