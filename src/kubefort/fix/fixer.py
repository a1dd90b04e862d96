"""``kubefort fix``: apply the fixes rules declare (``RuleMeta.fix``) to the files they judged, then judge
the result again.

The scan before and after is one ``api.scan_inventory`` over every input with every rule of the config
(``--rules``/``--skip-rules``/``--min-severity`` choose what is *fixed*, not what is judged), so the
report can say which findings the edits removed, that none appeared anywhere, and which are left for a
human and why. Nothing is written unless asked (``write``); the caller shows the diff otherwise.

A finding is fixed at the node its rule's fix names: the container the finding's path points into, the
object's pod spec (``POD_SPEC_PATHS``) or the object. Manifests rendered from a Helm chart or a
Kustomize directory are not edited (the text that produced them is a template or a base): their edits
are returned as hints, in words, naming the template.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from ..api import ScanOptions, load_inputs, resolve_config, scan_inventory
from ..engine.findings import Finding, Report, format_path
from ..engine.fixes import FixAt, RuleFix, apply_edits
from ..engine.rule import Severity
from ..engine.runner import origin_of
from ..errors import LoadError, UsageError
from ..loading.compact import unshared
from ..loading.loader import load_text
from ..model.inventory import Inventory
from ..model.kinds import POD_SPEC_PATHS
from ..model.objects import K8sObject, ObjectRef
from ..rules import default_registry
from .yamledit import EditableFile, append, new_map, new_seq, put

_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
#: how the loader names the objects of a rendered Kustomize directory (api.load_inputs)
RENDERED_SUFFIX = "/kustomization.yaml (rendered)"
#: the patch ``kubefort fix`` writes into a Kustomize directory, for its ``patches:``
KUSTOMIZE_PATCH = "kubefort-fix-patch.yaml"


@dataclass(slots=True, kw_only=True)
class FixOptions:
    paths: list[str]
    rules: list[str] = field(default_factory=list)  # which findings to fix (IDs, slugs, KF-AREA-*)
    skip_rules: list[str] = field(default_factory=list)
    min_severity: str | None = None
    include_opt_in: bool = False  # also apply fixes that could break a workload (RuleFix.opt_in)
    config: str | None = None
    namespace: str = "default"
    helm_values: list[str] = field(default_factory=list)  # values files for the Helm charts among paths


@dataclass(frozen=True, slots=True)
class FileChange:
    """One edited file: its text before and after, with the file's own line endings."""

    file: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class FieldEdit:
    """One field a fix set (or a list it extended) in a file, for ``kubefort fix -o json``: the rule, the
    object, the field's path from the object's root, and its line in the file before and after the edit.
    A field that did not exist before has the line of its closest existing parent as ``before_line``."""

    file: str
    rule: str
    object: ObjectRef
    path: tuple[str | int, ...]
    before_line: int | None
    after_line: int | None = None


@dataclass(frozen=True, slots=True)
class Unfixed:
    """A finding left for a human, and why no edit removed it."""

    finding: Finding
    why: str


@dataclass(slots=True)
class FixResult:
    changes: list[FileChange] = field(default_factory=list)
    edits: list[FieldEdit] = field(default_factory=list)  # the fields edited in the changed files, in file order
    fixed: list[Finding] = field(default_factory=list)  # in the scan before, gone from the scan after
    appeared: list[Finding] = field(default_factory=list)  # in the scan after only (should stay empty)
    unfixed: list[Unfixed] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # edits to make in Helm templates or Kustomize overlays
    errors: list[LoadError] = field(default_factory=list)
    before: int = 0  # findings before (not suppressed)
    after: int = 0


def _finding_key(f: Finding) -> tuple[str, str, str, str]:
    """A finding's identity across the edit: lines move, and so do paths when a fix adds the mapping a
    finding pointed next to (a container's new securityContext); the rule, object and sub-code do not."""
    return (f.rule.id, str(f.object), f.subcode or "", f.message)


def _missing_from(these: list[Finding], others: list[Finding]) -> list[Finding]:
    """The findings of ``these`` that ``others`` does not have (as many times as they occur): matched by
    message first, then by rule and object alone, since a rule may word the same finding differently
    once a fix changed a neighbouring field (KF-POD-018 mentions runAsNonRoot when it is set; KF-RBAC-024
    loses its ``with_token`` sub-code when the token is no longer mounted): "nothing appeared" means no
    rule fails more often on any object than before."""
    exact = Counter(_finding_key(f) for f in others)
    rest: list[Finding] = []
    for f in these:
        k = _finding_key(f)
        if exact[k] > 0:
            exact[k] -= 1
        else:
            rest.append(f)
    loose = Counter(k[:2] for k, n in exact.items() for _ in range(n))
    out = []
    for f in rest:
        r = _finding_key(f)[:2]
        if loose[r] > 0:
            loose[r] -= 1
        else:
            out.append(f)
    return out


def _open(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if not f.suppressed]


def _split_inputs(paths: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """Plain paths, Helm chart directories, Kustomize directories."""
    plain, helm, kustomize = [], [], []
    for p in paths:
        if os.path.isfile(os.path.join(p, "Chart.yaml")):
            helm.append(p)
        elif any(os.path.isfile(os.path.join(p, k)) for k in ("kustomization.yaml", "kustomization.yml")):
            kustomize.append(p)
        else:
            plain.append(p)
    return plain, helm, kustomize


def _container_prefix(path: Sequence[str | int]) -> tuple[str | int, ...] | None:
    """The path of the container a finding's path points into (``...containers.2``), or None."""
    for i in range(len(path) - 2, -1, -1):
        if path[i] in _CONTAINER_LISTS and isinstance(path[i + 1], int):
            return tuple(path[: i + 2])
    return None


def _target_path(fx: RuleFix, obj: K8sObject, f: Finding) -> tuple[str | int, ...] | None:
    if fx.at is FixAt.OBJECT:
        return ()
    if fx.at is FixAt.POD:
        paths = POD_SPEC_PATHS.get(obj.kind)
        return tuple(paths[1]) if paths is not None else None
    return _container_prefix(f.path)


def _apply(
    fx: RuleFix,
    obj: K8sObject,
    root: Any,
    target: MutableMapping[str, Any],
    target_path: Sequence[str | int],
    **how: Any,
) -> list[tuple[str | int, ...]]:
    """Apply ``fx`` at ``target`` (found at ``target_path`` under ``root``) and its pod-spec edits at the pod
    spec; the paths, from the object's root, of the fields that changed."""
    edits, on_pod = fx.split()
    changed = [tuple(target_path) + e.path for e in apply_edits(target, edits, **how)]
    if on_pod:
        paths = POD_SPEC_PATHS.get(obj.kind)
        pod = _walk(root, paths[1]) if paths is not None else None
        if paths is not None and pod is not None:
            changed += [tuple(paths[1]) + e.path for e in apply_edits(pod, on_pod, **how)]
    return changed


def _walk(node: Any, path: Sequence[str | int]) -> MutableMapping[str, Any] | None:
    for key in path:
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node if isinstance(node, MutableMapping) else None


def _describe_target(fx: RuleFix, obj: K8sObject, f: Finding) -> str:
    if fx.at is FixAt.CONTAINER:
        prefix = _container_prefix(f.path)
        if prefix is not None:
            c = _walk(obj.raw, prefix)
            name = c.get("name") if c is not None else None
            return f'container "{name}"' if isinstance(name, str) else "the container"
        return "the container"
    return "the pod spec" if fx.at is FixAt.POD else "the object"


def fix_paths(opts: FixOptions, *, write: bool = False) -> FixResult:
    """Fix the findings ``opts`` selects in the files of ``opts.paths``; write them when ``write``."""
    registry = default_registry()
    plain, helm, kustomize = _split_inputs(opts.paths)
    scan_opts = ScanOptions(
        paths=plain,
        helm=helm,
        helm_values=opts.helm_values,
        kustomize=kustomize,
        config=opts.config,
        namespace=opts.namespace,
        keep_passes=False,
    )
    cfg = resolve_config(scan_opts)
    selected = {r.meta.id for r in registry.select(only=opts.rules, skip=opts.skip_rules, enable=cfg.enable)}
    try:
        min_sev = Severity.parse(opts.min_severity) if opts.min_severity else Severity.INFO
    except ValueError as e:
        raise UsageError(f"--min-severity: {e}") from None
    loaded = load_inputs(scan_opts)
    result = FixResult(errors=list(loaded.errors))
    report = scan_inventory(Inventory(loaded.objects), scan_opts, registry=registry, cfg=cfg)
    before = _open(report.findings)
    result.before = len(before)
    objects = {(o.ref, origin_of(o)): o for o in loaded.objects}
    files: dict[str, EditableFile] = {}
    attempted: dict[tuple[str, str, str, str], Finding] = {}
    located: dict[int, tuple[str, int]] = {}  # id(finding) -> (file, first line of its document) edited
    rendered: dict[int, tuple[K8sObject, dict[str, Any]]] = {}  # id(object) -> (object, its edited copy)
    edits: list[tuple[K8sObject, FieldEdit]] = []  # the fields edited in files, with their original object
    for f in sorted(before, key=lambda f: (f.rule.id, f.location.file, f.location.line or 0)):
        if f.rule.id not in selected or f.severity < min_sev:
            continue
        why = _apply_one(f, objects, files, rendered, opts, result, located, edits)
        if why is None:
            attempted[_finding_key(f)] = f
        else:
            result.unfixed.append(Unfixed(f, why))
    _kustomize_patches(rendered, kustomize, result)
    read_back: dict[int, K8sObject] = {}  # id(original object) -> the object read back from its edited file
    after_report = _rescan(loaded.objects, files, rendered, scan_opts, registry, cfg, result, read_back)
    result.edits = _edits_after(edits, files, read_back)
    after = _open(after_report.findings)
    result.after = len(after)
    result.fixed = _missing_from(before, after)
    result.appeared = _missing_from(after, before)
    after_keys = {_finding_key(f) for f in after}
    for key, f in attempted.items():
        file_doc = located.get(id(f))
        refused = files[file_doc[0]].refused(file_doc[1]) if file_doc is not None else None
        if refused is not None:
            result.unfixed.append(Unfixed(f, refused))
        elif key in after_keys:
            result.unfixed.append(
                Unfixed(f, f"the declared fix did not remove it (another setting decides): {f.rule.remediation}")
            )
    if write:
        for ch in result.changes:
            with open(ch.file, "w", encoding="utf-8", newline="") as fh:
                fh.write(ch.after)
    return result


def _apply_one(
    f: Finding,
    objects: dict[Any, K8sObject],
    files: dict[str, EditableFile],
    rendered: dict[int, tuple[K8sObject, dict[str, Any]]],
    opts: FixOptions,
    result: FixResult,
    located: dict[int, tuple[str, int]],
    edits: list[tuple[K8sObject, FieldEdit]],
) -> str | None:
    """Apply the fix of ``f``'s rule; None when edits were made (or nothing needed changing), else why not.
    The fields edited in a file are added to ``edits`` with their object."""
    fx = f.rule.fix
    if fx is None:
        return f"no mechanical fix: {f.rule.remediation}"
    if f.subcode is not None and f.subcode in fx.skip_subcodes:
        return f"not fixed for this case ({f.subcode}): the workload needs what the fix removes"
    if fx.opt_in is not None and not opts.include_opt_in:
        return f"opt-in fix, not applied: {fx.opt_in} (--include-opt-in applies it)"
    obj = objects.get((f.object, f.origin)) if f.origin is not None else None
    if obj is None or obj.source.doc is None:
        return "the finding's object could not be found in the input"
    target_path = _target_path(fx, obj, f)
    if target_path is None:
        return "the finding does not point into a container or pod spec the fix could edit"
    if obj.source.template is not None or obj.source.file.endswith(RENDERED_SUFFIX):
        return _fix_rendered(f, fx, obj, target_path, rendered, result)
    if obj.source.file == "-" or obj.source.file.endswith(".json"):
        return "only YAML files are edited (this is stdin or JSON)"
    ef = files.get(obj.source.file)
    if ef is None:
        with open(obj.source.file, encoding="utf-8", newline="") as fh:
            ef = files[obj.source.file] = EditableFile(obj.source.file, fh.read())
    root, why = ef.root(obj.source.doc.start_line, obj.source.prefix)
    if root is None:
        return why
    target = _walk(root, target_path)
    if target is None:
        return "the node the fix edits is not a mapping in the file"
    blocked = fx.blocked(target)
    if blocked is not None:
        return blocked
    located[id(f)] = (obj.source.file, obj.source.doc.start_line)
    changed = _apply(fx, obj, root, target, target_path, new_map=new_map, new_seq=new_seq, put=put, append=append)
    if changed:
        ef.touch(obj.source.doc.start_line)
        edits.extend((obj, FieldEdit(obj.source.file, f.rule.id, obj.ref, p, obj.locate(p).line)) for p in changed)
    return None


def _rescan(
    objects: list[K8sObject],
    files: dict[str, EditableFile],
    rendered: dict[int, tuple[K8sObject, dict[str, Any]]],
    scan_opts: ScanOptions,
    registry: Any,
    cfg: Any,
    result: FixResult,
    read_back: dict[int, K8sObject],
) -> Report:
    """Judge the edited files in memory with every other input unchanged; rendered objects as the
    template or overlay change would render them. ``read_back`` gets, for each object of an edited file, the
    object read back from the edited text."""
    changed: dict[str, str] = {}
    for path, ef in files.items():
        after = ef.render()
        if after != ef.original:
            changed[path] = after
            result.changes.append(FileChange(path, ef.original, after))
    # the objects in their original order (a rule may speak once, on the input's first object: KF-POD-039)
    reloaded: dict[str, list[K8sObject]] = {}
    for path, text in changed.items():
        again = load_text(text, path, default_namespace=scan_opts.namespace)
        reloaded[path] = list(reversed(again.objects))
        result.errors.extend(again.errors)
    kept: list[K8sObject] = []
    for o in objects:
        if id(o) in rendered:
            edited = rendered[id(o)][1]
            text = yaml.safe_dump(edited, sort_keys=False)
            kept.extend(load_text(text, o.source.file, default_namespace=scan_opts.namespace).objects)
        elif o.source.file in reloaded and not o.source.template and reloaded[o.source.file]:
            read_back[id(o)] = reloaded[o.source.file].pop()
            kept.append(read_back[id(o)])
        else:
            kept.append(o)
    for rest in reloaded.values():
        kept.extend(reversed(rest))
    return scan_inventory(Inventory(kept), scan_opts, registry=registry, cfg=cfg)


def _edits_after(
    edits: list[tuple[K8sObject, FieldEdit]], files: dict[str, EditableFile], read_back: dict[int, K8sObject]
) -> list[FieldEdit]:
    """The edits that reached the files (not those of a document refused when written), with their line in
    the edited text, in file and line order."""
    out = []
    for obj, e in edits:
        doc = obj.source.doc
        if doc is None or files[e.file].refused(doc.start_line) is not None:
            continue
        new = read_back.get(id(obj))
        out.append(replace(e, after_line=new.locate(e.path).line if new is not None else None))
    return sorted(out, key=lambda e: (e.file, e.before_line or 0, format_path(e.path)))


def _fix_rendered(
    f: Finding,
    fx: RuleFix,
    obj: K8sObject,
    target_path: tuple[str | int, ...],
    rendered: dict[int, tuple[K8sObject, dict[str, Any]]],
    result: FixResult,
) -> str | None:
    """A rendered object: the fix is applied to a copy (for the re-scan and a Kustomize patch) and, for a
    Helm template, said in words with the values keys the template reads for that field."""
    _, edited = rendered.setdefault(id(obj), (obj, unshared(obj.raw)))  # parts of loaded objects are shared
    target = _walk(edited, target_path)
    if target is None:
        return "the node the fix edits is not a mapping"
    blocked = fx.blocked(target)
    if blocked is not None:
        return blocked
    _apply(fx, obj, edited, target, target_path)
    if obj.source.template is None:
        return None  # Kustomize: the patch file carries it
    hint = f"{obj.source.file}: {obj.ref}, {_describe_target(fx, obj, f)}: {fx.describe()} [{f.rule.id}]"
    keys = _values_keys(obj.source.file, fx)
    if keys:
        hint += f"; the template reads {', '.join('.Values.' + k for k in keys)}: set it in the values"
    if hint not in result.hints:
        result.hints.append(hint)
    return None


def _values_keys(template: str, fx: RuleFix) -> list[str]:
    """The ``.Values`` keys a chart template reads for the first field of the fix's edits (charts name
    them ``securityContext``/``podSecurityContext``, ``image.pullPolicy``...)."""
    try:
        with open(template, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return []
    fields = [p.lower() for p in fx.edits[0].path]
    out = []
    for key in dict.fromkeys(re.findall(r"\.Values\.([\w.]+)", text)):
        last = key.rsplit(".", 1)[-1].lower()
        if not any(last.endswith(f) or (len(last) > 5 and f.endswith(last)) for f in fields):
            continue
        if (fx.at is FixAt.POD) == ("pod" in key.lower()) or fx.at is FixAt.OBJECT:
            out.append(key)
    return out


_SAME = object()


def _patch_of(before: Any, after: Any) -> Any:
    """A strategic merge patch from ``before`` to ``after`` (edits only add or change fields): container
    lists merge by name, as their patch strategy says; lists of scalars are replaced."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = {}
        for k, v in after.items():
            d = _patch_of(before[k], v) if k in before else v
            if d is not _SAME:
                out[k] = d
        return out or _SAME
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and all(isinstance(x, dict) and "name" in x for x in after)
    ):
        items = []
        for b, a in zip(before, after, strict=True):
            d = _patch_of(b, a)
            if d is not _SAME:
                items.append({"name": a["name"], **d})
        return items or _SAME
    return _SAME if before == after else after


def _kustomize_patches(
    rendered: dict[int, tuple[K8sObject, dict[str, Any]]], directories: list[str], result: FixResult
) -> None:
    """One patch file per Kustomize directory with the edits of its objects, for its ``patches:``."""
    for d in directories:
        label = f"{d.rstrip('/')}{RENDERED_SUFFIX}"
        docs = []
        for obj, edited in rendered.values():
            if obj.source.file != label:
                continue
            diff = _patch_of(obj.raw, edited)
            if diff is _SAME:
                continue
            meta: dict[str, Any] = {"name": obj.name}
            docs.append({"apiVersion": obj.api_version, "kind": obj.kind, "metadata": meta, **diff})
        if not docs:
            continue
        path = os.path.join(d, KUSTOMIZE_PATCH)
        before = ""
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                before = fh.read()
        header = "# written by kubefort fix: the rules' declared fixes as a patch of this overlay\n"
        after = header + yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True)
        if after != before:
            result.changes.append(FileChange(path, before, after))
        result.hints.append(f"{d}: list the patch in kustomization.yaml: patches: [{{path: {KUSTOMIZE_PATCH}}}]")
