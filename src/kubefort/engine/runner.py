"""Run rules over an inventory: expand scopes, isolate crashes, apply suppressions."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Container, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..model.inventory import Inventory
from ..model.kinds import WORKLOAD_KINDS
from ..model.objects import InvalidField, K8sObject, Source
from ..model.source import Location
from ..model.workloads import ContainerSet, ContainerView, pod_spec
from .findings import Finding, Report, Result, SharedParts, Status, is_specific
from .rule import NEEDS_CLUSTER, Context, NotEvaluated, NotInScope, PssLevel, Rule, RuleMeta, Scope, Severity
from .suppression import Suppressor

log = logging.getLogger(__name__)


def rule_params(rule: Rule, params: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's declared parameters with configured values (global name, or ``{RULE-ID: {name: v}}``)."""
    out = dict(rule.meta.params)
    per_rule = params.get(rule.meta.id)
    for name in out:
        if name in params:
            out[name] = params[name]
        if isinstance(per_rule, dict) and name in per_rule:
            out[name] = per_rule[name]
    return out


# step kinds of a plan: how the engine calls a rule's function on an object
_OBJECT, _POD, _CONTAINER = 0, 1, 2
_SCOPE_CODE = {Scope.OBJECT: _OBJECT, Scope.POD: _POD, Scope.CONTAINER: _CONTAINER}


class Plan:
    """The selected rules compiled for one configuration: parameters resolved, inactive rules set
    aside, and per kind the exact steps to run. Building it is the fixed cost of a scan; the
    admission webhook keeps one per policy so a request pays only for the rules of its kind.
    """

    __slots__ = (
        "_derived",
        "_judged",
        "_steps",
        "_templates",
        "cluster_rules",
        "inactive",
        "keep",
        "local_only",
        "metas",
        "mode",
        "ns_rules",
        "params",
        "pss",
        "rules",
    )

    def __init__(
        self,
        rules: Iterable[Rule],
        params: Mapping[str, Any] | None = None,
        *,
        mode: str = "manifest",
        pss: PssLevel | None = None,
        local_only: bool = False,
    ) -> None:
        """``local_only``: leave out, kind by kind, the rules that need other objects than the one they
        judge (the webhook sees one object at a time)."""
        params = params or {}
        self.mode, self.pss, self.local_only = mode, pss, local_only
        self.keep: Callable[[RuleMeta, str], bool] | None = None  # a part of a plan: which steps it keeps
        self.params: dict[str, Mapping[str, Any]] = {}
        self.inactive: list[Rule] = []
        self.rules: list[Rule] = []
        for r in rules:
            m = r.meta
            # rules without parameters share one empty mapping, so that a run makes one Context for them all
            p = self.params[m.id] = rule_params(r, params) or _NO_PARAMS
            # rules whose activating parameter is not set do not run (KF-IMG-005 without allowed_registries)
            if m.requires and not p.get(m.requires):
                self.inactive.append(r)
            # and rules meant for other modes are not applicable ("Secret committed" on a cluster)
            elif m.modes is None or mode in m.modes:
                self.rules.append(r)
        self.metas = [r.meta for r in self.rules]  # shared by every report of the plan: read-only
        self.ns_rules = [r for r in self.rules if r.meta.scope is Scope.NAMESPACE]
        # once per scan, about the whole cluster: nothing the webhook (one object at a time) can judge
        self.cluster_rules = [] if local_only else [r for r in self.rules if r.meta.scope is Scope.CLUSTER]
        self._steps: dict[str, tuple[Rule, ...]] = {}
        self._templates: dict[str, tuple[tuple[Any, ...], ...]] = {}
        self._judged: dict[
            tuple[str, bool, str | None, frozenset[tuple[str, str]] | None], tuple[tuple[Any, ...], ...]
        ] = {}
        self._derived: dict[int, dict[Any, Any]] = {}  # per parameters (by identity): Context.derived values

    def for_kind(self, kind: str) -> tuple[Rule, ...]:
        """The rules that run on objects of ``kind``, in selection order (computed once per kind)."""
        hit = self._steps.get(kind)
        if hit is None:
            out = []
            for r in self.rules:
                m = r.meta
                if m.scope in (Scope.NAMESPACE, Scope.CLUSTER) or (self.local_only and m.needs_others(kind)):
                    continue
                if self.keep is not None and not self.keep(m, kind):
                    continue
                if m.kinds is None:
                    if m.scope is Scope.OBJECT or kind in WORKLOAD_KINDS:
                        out.append(r)
                elif kind in m.kinds:
                    out.append(r)
            hit = self._steps[kind] = tuple(out)
        return hit

    def part(self, keep: Callable[[RuleMeta, str], bool]) -> Plan:
        """The object steps of this plan that ``keep`` (rule, kind) selects, with the same rules and
        parameters, without namespace or cluster rules. The scan cache (:mod:`kubefort.engine.cache`)
        keeps apart the results of the steps that judge an object alone and of those that need other
        objects: only the second depend on the rest of the input."""
        p = Plan.__new__(Plan)
        p.mode, p.pss, p.params, p.inactive, p.rules, p.metas = (
            self.mode,
            self.pss,
            self.params,
            self.inactive,
            self.rules,
            self.metas,
        )
        p.local_only, p.keep = self.local_only, keep
        p.ns_rules, p.cluster_rules = [], []
        p._steps, p._templates, p._judged = {}, {}, {}
        p._derived = self._derived  # the same parameters
        return p

    def memo(self, params: Mapping[str, Any]) -> dict[Any, Any]:
        """What :meth:`Context.derived` keeps for ``params`` (one of this plan's): the values rules derive
        from their parameters, computed once per plan (a scan, or every request of a webhook policy)."""
        hit = self._derived.get(id(params))
        if hit is None:
            hit = self._derived[id(params)] = {}
        return hit

    def templates(self, kind: str) -> tuple[tuple[Any, ...], ...]:
        """Per rule of ``kind``: (meta, fn, step kind, container set, applies, API groups or None),
        computed once per kind."""
        hit = self._templates.get(kind)
        if hit is None:
            hit = self._templates[kind] = tuple(
                (r.meta, r.fn, _SCOPE_CODE[r.meta.scope], r.meta.containers, r.meta.applies, r.meta.groups.get(kind))
                for r in self.for_kind(kind)
            )
        return hit

    def steps(self, kind: str, inventory: Inventory) -> tuple[tuple[Any, ...], ...]:
        """The steps of ``kind`` on ``inventory``, in rule order, as runs of consecutive rules that share
        their target test and API groups (the control-plane flag rules share one ``applies``): per run
        (applies or None, API groups or None, steps), each step (meta, fn, step kind, container set, why
        the rule cannot judge on ``inventory`` or None, the rule's parameters). An object a run's test
        rejects skips the run at once.

        Why a rule cannot judge depends on the inventory only through whether it is a whole cluster and
        what could not be read, so the steps are kept per plan for each such state: the webhook, judging
        one object per request with a fresh inventory, compiles its steps once."""
        key = (
            kind,
            inventory.live,
            inventory.partial,
            frozenset(inventory.unreadable.items()) if inventory.unreadable else None,
        )
        hit = self._judged.get(key)
        if hit is None:
            runs: list[tuple[Any, Any, list[tuple[Any, ...]]]] = []
            for meta, fn, code, cset, applies, groups in self.templates(kind):
                step = (meta, fn, code, cset, blocked(meta, inventory, kind), self.params[meta.id])
                if runs and runs[-1][0] is applies and runs[-1][1] == groups:
                    runs[-1][2].append(step)
                else:
                    runs.append((applies, groups, [step]))
            hit = self._judged[key] = tuple((a, g, tuple(st)) for a, g, st in runs)
        return hit


#: the parameters of a rule that declares none (shared, read-only)
_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})

#: below this many objects a scan runs in one process: forking costs more than it saves
PARALLEL_MIN_OBJECTS = 1000


def evaluate(
    rules: list[Rule] | Plan,
    inventory: Inventory,
    *,
    params: Mapping[str, Any] | None = None,
    suppressor: Suppressor | None = None,
    mode: str = "manifest",
    pss: PssLevel | None = None,
    min_severity: Severity = Severity.INFO,
    fail_on: Severity = Severity.HIGH,
    keep_passes: bool = True,
    workers: int = 1,
    cache: Any = None,
) -> Report:
    """Run ``rules`` (or a prepared :class:`Plan`, whose params/mode/pss then apply) on ``inventory``.

    With ``workers`` > 1 and a large inventory, the objects are shared out among forked worker
    processes (:mod:`kubefort.engine.parallel`); the report is the same, in the same order, as a
    single-process run. Only callers that own the process (the CLI) should ask for workers.

    ``cache`` (a :class:`kubefort.engine.cache.ScanCache`, manifests only) keeps each object's results
    between scans and gives them back when neither the object nor what its rules read has changed.
    """
    plan = rules if isinstance(rules, Plan) else Plan(rules, params, mode=mode, pss=pss)
    suppressor = suppressor or Suppressor()
    suppressor.prime(inventory)
    report = Report(
        rules=plan.metas,
        fail_on=fail_on,
        min_severity=min_severity,
        objects=len(inventory),
        pss=plan.pss.value if plan.pss else None,
        inventory=inventory,
    )
    report.notes.extend(
        f"{r.meta.id} is inactive: set the parameter {r.meta.requires} to use it" for r in plan.inactive
    )
    run = Run(plan, inventory, report, suppressor, min_severity, keep_passes)
    # a cluster's Pods and ReplicaSets are judged on the workload that owns them (its pod template)
    objs = inventory.judged() if inventory.live else inventory.objects
    if cache is not None and not inventory.live:
        cache.objects(run, objs, workers if hasattr(os, "fork") else 1)
    elif workers > 1 and len(objs) >= PARALLEL_MIN_OBJECTS and hasattr(os, "fork"):
        from .parallel import run_sharded

        run_sharded(run, list(objs), workers)
    else:
        run.objects(objs)
    run.namespaces()
    run.cluster()
    dups = inventory.duplicates()
    report.duplicates = len(dups)
    report.notes.extend(duplicate_note(copies) for copies in dups)
    report.notes.extend(suppressor.notes)
    return report


def duplicate_note(copies: list[K8sObject]) -> str:
    """What a report says about an identity defined more than once (``copies``, the first one used)."""

    def at(o: K8sObject) -> str:
        loc = origin_of(o)
        return f"{loc.file}:{loc.line}" if loc.line else loc.file

    others = [at(o) for o in copies[1:4]]
    more = f" and {len(copies) - 4} more" if len(copies) > 4 else ""
    return (
        f"{copies[0].ref} is defined {len(copies)} times: each copy is judged where it is; rules that look "
        f"across objects (RBAC, NetworkPolicy, namespace counts) use the first, at {at(copies[0])} "
        f"(others: {', '.join(others)}{more})"
    )


def blocked(meta: RuleMeta, inventory: Inventory, kind: str | None = None) -> str | None:
    """Why ``meta`` cannot judge on ``inventory`` (objects of ``kind``): a whole-cluster rule on less than a
    whole cluster, or a kind it needs that could not be read; None when it can."""
    if meta.whole_cluster:
        gap = cluster_gap(inventory)
        if gap is not None:
            return gap
    return meta.blocked_by(inventory.unreadable, kind)


def cluster_gap(inventory: Inventory) -> str | None:
    """Why ``inventory`` is not a whole cluster for the whole-cluster rules (``RuleMeta.whole_cluster``):
    manifests are not one, and neither is a cluster scan restricted to one namespace; None when it is."""
    if not inventory.live:
        return NEEDS_CLUSTER
    if inventory.partial is not None:
        return f"needs the whole cluster: {inventory.partial}"
    return None


#: The stand-in object findings about the cluster as a whole point at (docs/cluster.md)
CLUSTER_ANCHOR_API, CLUSTER_ANCHOR_KIND = "kubefort.io/v1", "Cluster"


def cluster_anchor(inventory: Inventory) -> K8sObject:
    """Where the results of CLUSTER-scope rules point ("no backup mechanism", "no policy engine"): a
    stand-in ``kubefort.io/v1`` ``Cluster`` object, named after the kubeconfig context the cluster was
    read from (a live object's source is ``cluster:<context>``), else ``cluster``; located in the source
    of the inventory's first object, without a line."""
    first = inventory.objects[0].source.file if inventory.objects else "cluster"
    name = first.split(":", 1)[1] if first.startswith("cluster:") and len(first) > len("cluster:") else "cluster"
    raw = {"apiVersion": CLUSTER_ANCHOR_API, "kind": CLUSTER_ANCHOR_KIND, "metadata": {"name": name}}
    return K8sObject.from_raw(raw, Source(file=first, live=inventory.live), cluster_scoped=True)


class Run:
    """One evaluation: a plan bound to an inventory, filling a report."""

    def __init__(
        self,
        plan: Plan,
        inventory: Inventory,
        report: Report,
        suppressor: Suppressor,
        min_severity: Severity,
        keep_passes: bool,
    ) -> None:
        self.plan, self.inventory, self.report, self.suppressor = plan, inventory, report, suppressor
        self.min_severity, self.keep_passes = min_severity, keep_passes
        # by the identity of a rule's parameters (rules without any share one): what rules may read
        self.contexts: dict[int, Context] = {}
        self.shared = SharedParts()  # what equal findings share (messages, paths, locations)

    def fresh(self) -> Run:
        """The same evaluation with an empty report (a shard of the objects)."""
        r = self.report
        sub = Run(
            self.plan,
            self.inventory,
            Report(rules=r.rules, fail_on=r.fail_on, min_severity=r.min_severity, pss=r.pss),
            self.suppressor,
            self.min_severity,
            self.keep_passes,
        )
        sub.contexts, sub.shared = self.contexts, self.shared
        return sub

    def blocked(self, meta: RuleMeta, kind: str | None = None) -> str | None:
        """Why ``meta`` cannot judge here (on objects of ``kind``); None when it can."""
        return blocked(meta, self.inventory, kind)

    def context(self, meta: Any) -> Context:
        plan = self.plan
        params = plan.params[meta.id]
        ctx = self.contexts.get(id(params))
        if ctx is None:
            ctx = self.contexts[id(params)] = Context(params, self.inventory, plan.mode, plan.pss, plan.memo(params))
        return ctx

    def objects(self, objs: Iterable[K8sObject], marks: list[tuple[int, int, int]] | None = None) -> None:
        """Run the object, pod and container rules on ``objs``. With ``marks``, append after each object
        how many findings, results and passes the report then holds (to merge shards in input order)."""
        report, suppressor, pss, min_severity = self.report, self.suppressor, self.plan.pss, self.min_severity
        plan, inventory, contexts, shared = self.plan, self.inventory, self.contexts, self.shared
        mode = plan.mode
        compiled: dict[str, tuple[tuple[Any, ...], ...]] = {}
        passes = report.passes if self.keep_passes else None
        findings, results = report.findings, report.results
        n_pass = 0
        for obj in objs:
            kind = obj.kind
            steps = compiled.get(kind)
            if steps is None:
                steps = compiled[kind] = plan.steps(kind, inventory)
            judged = obj.invalid is not None  # fields found invalid: reading them makes a rule not evaluated
            if judged:
                obj.judging(True)
            pod = pod_spec(obj) if steps and kind in WORKLOAD_KINDS else None
            # the containers of each set, taken once per object (pod.containers keeps them in the memo too)
            sets: dict[ContainerSet, tuple[ContainerView, ...]] = {}
            memo = obj.memo
            group = obj.group
            origin = None
            for applies, groups, run in steps:
                if groups is not None and group not in groups:
                    continue  # the rules name this kind in other API groups (a Kyverno Policy for a K10 rule)
                if applies is not None:
                    # many rules share one target test (every kube-apiserver flag rule): judged once
                    ok = memo.get(applies)
                    if ok is None:
                        try:
                            ok = bool(applies(obj))
                        except InvalidField:  # cannot tell what the object is: the rule is not about it
                            ok = False
                        memo[applies] = ok
                    if not ok:
                        continue  # not about this object (the kube-apiserver flag rules on an nginx Deployment)
                for meta, fn, code, cset, why, params in run:
                    if why is not None:  # not a whole cluster, or a kind it reads could not be read: never a pass
                        _failed_to_judge(report, meta, obj, NotEvaluated(why))
                        continue
                    ctx = contexts.get(id(params))
                    if ctx is None:
                        ctx = contexts[id(params)] = Context(params, inventory, mode, pss)
                    try:
                        if code == _OBJECT:
                            violations = list(fn(obj, ctx))
                        elif pod is None:
                            continue  # a pod-bearing kind without a pod spec: nothing to judge
                        elif code == _POD:
                            violations = list(fn(pod, ctx))
                        else:
                            cs = sets.get(cset)
                            if cs is None:
                                cs = sets[cset] = pod.containers(cset)
                            if len(cs) == 1:
                                violations = list(fn(cs[0], ctx))
                            else:
                                violations = []
                                for c in cs:
                                    violations.extend(fn(c, ctx))
                    except Exception as e:  # NotEvaluated, or a crash: neither stops the scan
                        _failed_to_judge(report, meta, obj, e)
                        continue
                    if not violations:
                        n_pass += 1
                        if passes is not None:
                            if origin is None:
                                origin = origin_of(obj)
                            passes.append((meta, obj.ref, origin))
                        continue
                    _record(report, meta, obj, violations, suppressor, pss, min_severity, shared)
            if judged:
                obj.judging(False)
            src = obj.source
            if src.doc is not None and not src.prefix:  # one object per document: its lines are found
                src.doc.release()
            if marks is not None:
                marks.append((len(findings), len(results), len(passes) if passes is not None else 0))
        report.counts[Status.PASS] += n_pass

    def namespaces(self, only: Container[str] | None = None) -> None:
        """Run the namespace rules (after the objects: they are few and read the whole inventory); on
        the namespaces ``only`` names when given (``kubefort watch`` judges a changed namespace again)."""
        if not self.plan.ns_rules:
            return
        why_not = {r.meta.id: self.blocked(r.meta) for r in self.plan.ns_rules}
        for ns in self.inventory.namespace_views():
            if only is not None and ns.name not in only:
                continue
            for r in self.plan.ns_rules:
                why = why_not[r.meta.id]
                if why is not None:
                    _failed_to_judge(self.report, r.meta, ns.anchor, NotEvaluated(why))
                    continue
                _run_one(
                    self.report,
                    r,
                    ns.anchor,
                    ns,
                    self.context(r.meta),
                    self.suppressor,
                    self.plan.pss,
                    self.min_severity,
                    self.keep_passes,
                    self.shared,
                )

    def cluster(self) -> None:
        """Run the CLUSTER-scope rules, once each, on the whole inventory (results on :func:`cluster_anchor`)."""
        if not self.plan.cluster_rules:
            return
        anchor = cluster_anchor(self.inventory)
        for r in self.plan.cluster_rules:
            why = self.blocked(r.meta)
            if why is not None:
                _failed_to_judge(self.report, r.meta, anchor, NotEvaluated(why))
                continue
            _run_one(
                self.report,
                r,
                anchor,
                self.inventory,
                self.context(r.meta),
                self.suppressor,
                self.plan.pss,
                self.min_severity,
                self.keep_passes,
                self.shared,
            )


_ORIGIN = object()  # key of an object's own location in its memo


def origin_of(obj: K8sObject) -> Location:
    """Where ``obj`` starts (file and first line), computed once per object: what tells apart
    objects of the same kind, namespace and name in different files or documents."""
    loc: Location | None = obj.memo.get(_ORIGIN)
    if loc is None:
        loc = obj.memo[_ORIGIN] = obj.locate()
    return loc


def _failed_to_judge(report: Report, meta: Any, anchor: K8sObject, e: Exception) -> None:
    if isinstance(e, NotInScope):  # not about this object: no result, like an ``applies`` that says no
        return
    if isinstance(e, (NotEvaluated, InvalidField)):  # InvalidField: the rule read a field found invalid
        report.counts[Status.NOT_EVALUATED] += 1
        report.results.append(
            Result(rule=meta, object=anchor.ref, status=Status.NOT_EVALUATED, detail=str(e), location=origin_of(anchor))
        )
        return
    log.debug("rule %s crashed on %s", meta.id, anchor.ref, exc_info=True)
    report.counts[Status.ERROR] += 1
    report.results.append(
        Result(rule=meta, object=anchor.ref, status=Status.ERROR, detail=_crash_detail(e), location=origin_of(anchor))
    )


def _crash_detail(e: BaseException) -> str:
    """The exception type and where it was raised, never its message: messages can quote the object's
    data, secrets included (``KeyError('hunter2')``). ``--debug`` logs the full traceback."""
    tb = e.__traceback__
    where = ""
    while tb is not None:
        code = tb.tb_frame.f_code
        if "kubefort" in code.co_filename:
            where = f" at {code.co_filename.rsplit('kubefort/', 1)[-1]}:{tb.tb_lineno} in {code.co_name}"
        tb = tb.tb_next
    return f"{type(e).__name__}{where} (run with --debug for the traceback)"


def _run_one(
    report: Report,
    r: Rule,
    anchor: K8sObject,
    arg: Any,
    ctx: Context,
    suppressor: Suppressor,
    pss: PssLevel | None,
    min_severity: Severity,
    keep_passes: bool,
    shared: SharedParts,
) -> None:
    """Run a rule whose findings belong to ``anchor`` on ``arg`` (namespace- and cluster-scope rules)."""
    try:
        violations = list(r.fn(arg, ctx))
    except Exception as e:
        _failed_to_judge(report, r.meta, anchor, e)
        return
    if not violations:
        report.counts[Status.PASS] += 1
        if keep_passes:
            report.passes.append((r.meta, anchor.ref, origin_of(anchor)))
        return
    _record(report, r.meta, anchor, violations, suppressor, pss, min_severity, shared)


def _record(
    report: Report,
    meta: Any,
    obj: K8sObject,
    violations: list[Any],
    suppressor: Suppressor,
    pss: PssLevel | None,
    min_severity: Severity,
    shared: SharedParts,
) -> None:
    ref = obj.ref
    pss_control = None
    if pss is not None and meta.pss:
        pss_control = meta.pss[0] if len(meta.pss) == 1 else next((c for c in meta.pss if c.level is pss), meta.pss[0])
    any_active = False
    kept: list[Finding] = []
    origin = origin_of(obj)
    raw = obj.raw
    # without the document's text (a live object, an admission request) every field is where the object
    # is: its file, no line; one Location serves them all (not so for a node snapshot's NodeSource)
    src = obj.source
    textless = src.doc is None and type(src) is Source
    for v in violations:
        sev = v.severity if v.severity is not None else meta.severity
        if sev < min_severity:
            continue
        # equal messages, paths and locations are one object each (SharedParts): most findings repeat others'
        path, path_str = shared.path(tuple(v.path))
        f = Finding(
            rule=meta,
            object=ref,
            path=path,
            path_str=path_str,
            message=shared.text(v.message),
            severity=sev,
            location=origin if textless else shared.location(obj, obj.locate(path), origin),
            subcode=None if v.subcode is None else shared.text(v.subcode),
            fix=v.fix,
            pss=pss_control,
            origin=origin,
            specific=is_specific(raw, path),
        )
        reason = suppressor.reason(meta, obj, f)
        if reason is not None:
            f.suppressed, f.suppression = True, reason
        else:
            any_active = True
        kept.append(f)
    if not kept:
        # failed, but every finding is below --min-severity: counted as a failure, not listed
        report.counts[Status.FAIL] += 1
        report.hidden += len(violations)
        return
    report.findings.extend(kept)
    status = Status.FAIL if any_active else Status.SUPPRESSED
    report.counts[status] += 1
    report.results.append(Result(rule=meta, object=ref, status=status, location=origin, findings=kept))
