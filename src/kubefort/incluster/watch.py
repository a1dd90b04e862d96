"""``kubefort watch``: list once, watch every type, judge again only what changed, keep the reports
current, and serve ``/metrics`` and ``/healthz`` (docs/cluster.md, "Watch").

1. **List once**: discovery and one LIST per type the selected rules read (the cluster scan's reader),
   then every object is judged and every report written (a *full sync*: apply all, delete kubefort's
   reports without results). ``--once`` stops here (the CronJob of ``kubefort deploy manifests``).
2. **Watch**: one watch per listed type from its list's resourceVersion (bookmarks, a relist on 410,
   resumption after a dropped connection: :mod:`kubefort.loading.cluster.watch`). Events are batched
   (``--debounce``) and applied to the held objects.
3. **Judge what changed.** For a batch that changes the objects ``C`` (kinds ``K``, namespaces ``N``):

   - *the changed objects themselves*: every object and pod rule runs again on each changed object
     that is judged (in a cluster, a Pod made by a Deployment is judged on the Deployment), on the
     controllers of the changed objects before and after the change (their pod count, which Pods
     they stand for), and on objects that became judged (a ReplicaSet whose Deployment went away);
     objects no longer judged lose their results;
   - *the rules that read other objects*: a rule depends on a kind when its ``needs`` name it, and on
     every kind when it reads other objects without saying which (cross-object rules without
     ``needs``, namespace rules without ``needs``: ``RuleMeta.reads_unknown``). Each rule that depends
     on a kind of ``K`` runs again on every object it judges, in every namespace: what a rule declares
     is the kinds it reads, not where (RBAC bindings grant across namespaces, NetworkPolicies select
     peers by namespace labels), so the whole inventory is the only safe extent;
   - *namespace rules*: a namespace rule judges a namespace's objects and labels, so the namespaces of
     ``N`` (for a Namespace object, the namespace it is) are judged again by every namespace rule;
     one that depends on a kind of ``K`` is run on every namespace (above);
   - *cluster rules* (``Scope.CLUSTER``: one result about the whole cluster, on the ``Cluster`` anchor)
     judge nothing but what they read, so one runs again exactly when it depends on a kind of ``K``.
     Whole-cluster rules of the other scopes are object or namespace rules like any other: they run
     again per their ``needs``; on less than a whole cluster (``-n``) they are not evaluated, as in
     a scan (``Inventory.partial``).

   A rule that raises ``NotInScope`` leaves no result: re-running it removes the result it had.

   Results are kept per object and rule (per namespace and rule for namespace rules); a re-run
   replaces exactly the pairs it covered, so the held results always equal a full scan of the held
   objects (tests/unit/test_watch.py checks it against ``kubefort scan --cluster`` after each change).
4. **Keep the reports current**: a report (one namespace, or the cluster report) is written again only
   when its results changed (compared without their timestamps), parts no longer needed are deleted,
   and a report without results is deleted. ``--resync`` repeats the full sync periodically.

An application like the admission webhook (layers: above the reporters, whose documents it writes,
below the CLI).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api import (
    ClusterSource,
    Judging,
    ScanOptions,
    cluster_kinds,
    judging,
    partial_read,
    resolve_config,
    skipped_rules,
)
from ..engine.findings import Finding, Report, Result
from ..engine.registry import Registry
from ..engine.rule import Rule, RuleMeta, Scope
from ..engine.runner import Plan, Run
from ..loading.cluster import ClusterRead, ResourceType
from ..loading.cluster.reader import read_with
from ..loading.cluster.transport import ApiError, RequestLimits, Transport, load_client
from ..loading.cluster.watch import DELETED, RELISTED, TypeWatcher, WatchEvent, wait_all
from ..model.inventory import Inventory
from ..model.kinds import names_kind
from ..model.objects import K8sObject, ObjectRef, Source
from ..publish import PublishResult, ReportWriter, describe
from ..reporters.openreports import MAX_REPORT_BYTES, OPENREPORTS, ReportFormat, documents
from ..rules import default_registry
from .metrics import MetricsServer, WatchMetrics

log = logging.getLogger(__name__)

#: connections kept open to the API server: one per watched type (a few dozen), and the writes
WATCH_CONNECTIONS = 128
#: an object as the watch holds it: (API group, kind, namespace or None, name)
ObjKey = tuple[str, str, str | None, str]
#: a report: the namespace whose report it is, None for the cluster report
Bucket = str | None


def ref_key(ref: ObjectRef) -> ObjKey:
    group = ref.api_version.rpartition("/")[0] if "/" in ref.api_version else ""
    return (group, ref.kind, ref.namespace, ref.name)


def obj_key(obj: K8sObject) -> ObjKey:
    return ref_key(obj.ref)


def _namespace_of(obj: K8sObject) -> str | None:
    """The namespace whose namespace rules an object's change concerns."""
    if obj.kind == "Namespace" and obj.namespace is None:
        return obj.name
    return obj.namespace


@dataclass(slots=True)
class Outcome:
    """How one rule ended on one object (or one namespace): the engine's findings, results and passes."""

    bucket: Bucket
    findings: list[Finding] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    passes: list[tuple[RuleMeta, ObjectRef, Any]] = field(default_factory=list)

    def signature(self) -> tuple[Any, ...]:
        """What a report shows of it (no location, no timestamp): equal signatures, equal results."""
        return (
            tuple(
                (f.severity, f.message, f.path_str, f.subcode, f.suppressed, f.suppression, str(f.object))
                for f in self.findings
            ),
            tuple((r.status, r.detail, str(r.object)) for r in self.results),
            tuple(str(p[1]) for p in self.passes),
        )


def _signature(outcomes: Mapping[str, Outcome] | None) -> tuple[Any, ...]:
    return tuple(sorted((rid, o.signature()) for rid, o in (outcomes or {}).items()))


class ClusterJudge:
    """The held objects of a cluster and the results of the selected rules on them, kept equal to a
    full scan of those objects by re-running only what a change can affect (module docstring)."""

    def __init__(
        self,
        j: Judging,
        *,
        label: str,
        unreadable: Mapping[str, str] | None = None,
        partial: str | None = None,
    ) -> None:
        """``unreadable``: kinds that could not be read (kind -> why); ``partial``: why the objects are not
        a whole cluster (``Inventory.partial``: the watch reads one namespace), None when they are."""
        self.judging = j
        self.label = label
        self.unreadable = dict(unreadable or {})
        self.partial = partial
        self.plan = Plan(j.rules, j.params, mode="cluster", pss=j.pss)
        self._plans: dict[frozenset[str], Plan] = {}
        self.objects: dict[ObjKey, K8sObject] = {}
        self.inventory = self._rebuild()
        self.outcomes: dict[ObjKey, dict[str, Outcome]] = {}
        self.ns_outcomes: dict[str, dict[str, Outcome]] = {}
        # the results of the CLUSTER-scope rules, on the Cluster anchor (keyed by the anchor, one entry)
        self.cluster_outcomes: dict[ObjKey, dict[str, Outcome]] = {}
        self.dirty: set[Bucket] = set()  # reports whose results changed since taken
        self.evaluated = 0  # objects judged again, in all

    # -- objects -----------------------------------------------------------------------------------------
    def object_from(self, item: Mapping[str, Any], t: ResourceType) -> K8sObject:
        return K8sObject.from_raw(item, Source(file=self.label, live=True), cluster_scoped=not t.namespaced)

    def _rebuild(self) -> Inventory:
        inv = Inventory(self.objects.values(), live=True, unreadable=self.unreadable)
        inv.partial = self.partial
        self.inventory = inv
        return inv

    # -- evaluation --------------------------------------------------------------------------------------
    def _plan_for(self, rules: Iterable[Rule]) -> Plan:
        rules = list(rules)
        key = frozenset(r.meta.id for r in rules)
        plan = self._plans.get(key)
        if plan is None:
            j = self.judging
            plan = self._plans[key] = Plan(rules, j.params, mode="cluster", pss=j.pss)
        return plan

    def _evaluation(self, plan: Plan) -> Run:
        j, inv = self.judging, self.inventory
        report = Report(
            rules=plan.metas, fail_on=j.fail_on, min_severity=j.min_severity, objects=len(inv), inventory=inv
        )
        return Run(plan, inv, report, j.suppressor(), j.min_severity, keep_passes=True)

    def _run(self, plan: Plan, objs: list[K8sObject], namespaces: Collection[str] | bool | None) -> Report:
        """``plan`` on ``objs``, and its namespace rules on ``namespaces`` (True: all, False: none). Its
        CLUSTER-scope rules judge no object: :meth:`_run_cluster` runs them."""
        run = self._evaluation(plan)
        report = run.report
        run.objects(objs)
        self.evaluated += len(objs)
        if namespaces is True:
            run.namespaces()
        elif namespaces is not False and namespaces is not None:
            run.namespaces(only=set(namespaces))
        return report

    def _run_cluster(self, plan: Plan) -> dict[ObjKey, dict[str, Outcome]]:
        """The CLUSTER-scope rules of ``plan`` on the held objects, grouped on their anchor."""
        run = self._evaluation(plan)
        run.cluster()
        return self._group(run.report)[2]

    @staticmethod
    def _group(
        report: Report,
    ) -> tuple[dict[ObjKey, dict[str, Outcome]], dict[str, dict[str, Outcome]], dict[ObjKey, dict[str, Outcome]]]:
        """The report's findings, results and passes per object, per namespace (namespace rules) and on the
        Cluster anchor (CLUSTER-scope rules), each per rule."""
        objs: dict[ObjKey, dict[str, Outcome]] = {}
        nss: dict[str, dict[str, Outcome]] = {}
        cluster: dict[ObjKey, dict[str, Outcome]] = {}

        def slot(meta: RuleMeta, ref: ObjectRef) -> Outcome:
            if meta.scope is Scope.NAMESPACE:  # anchored on the namespace (its object, or one made for it)
                per = nss.setdefault(ref.name, {})
            elif meta.scope is Scope.CLUSTER:
                per = cluster.setdefault(ref_key(ref), {})
            else:
                per = objs.setdefault(ref_key(ref), {})
            hit = per.get(meta.id)
            if hit is None:
                hit = per[meta.id] = Outcome(bucket=ref.namespace)
            return hit

        for f in report.findings:
            slot(f.rule, f.object).findings.append(f)
        for r in report.results:
            slot(r.rule, r.object).results.append(r)
        for p in report.passes:
            slot(p[0], p[1]).passes.append(p)
        return objs, nss, cluster

    def _store(self, table: dict[Any, dict[str, Outcome]], key: Any, new: dict[str, Outcome]) -> None:
        old = table.get(key)
        if _signature(old) != _signature(new):
            self.dirty.update(o.bucket for o in (old or {}).values())
            self.dirty.update(o.bucket for o in new.values())
        if new:
            table[key] = new
        else:
            table.pop(key, None)

    def load(self, objects: Iterable[K8sObject]) -> None:
        """Hold ``objects`` (replacing what was held) and judge all of them: a full evaluation."""
        self.objects = {}
        for o in objects:
            self.objects.setdefault(obj_key(o), o)
        inv = self._rebuild()
        report = self._run(self.plan, list(inv.judged()), True)
        objs, nss, _ = self._group(report)
        cluster = self._run_cluster(self.plan)
        for table in (self.outcomes, self.ns_outcomes, self.cluster_outcomes):
            self.dirty.update(o.bucket for per in table.values() for o in per.values())
        self.outcomes, self.ns_outcomes, self.cluster_outcomes = objs, nss, cluster
        for new in (objs, nss, cluster):
            self.dirty.update(o.bucket for per in new.values() for o in per.values())

    def depends(self, rule: Rule, kind: str, group: str | None = None) -> bool:
        """Whether ``rule``'s results on other objects can change when an object of ``kind`` (in API
        ``group``; None: in any) changes."""
        m = rule.meta
        if m.needs is not None:
            return any(names_kind(name, kind, group) for name in m.needs)
        return m.reads_unknown()

    def change(self, changes: Mapping[ObjKey, K8sObject | None]) -> int:
        """Apply ``changes`` (key -> the object now, None: deleted) and judge again what they can
        affect (module docstring); returns how many objects were judged again."""
        if not changes:
            return 0
        old_inv = self.inventory
        old_judged = {obj_key(o) for o in old_inv.judged()}
        before = {k: self.objects.get(k) for k in changes}
        for k, obj in changes.items():
            if obj is None:
                self.objects.pop(k, None)
            else:
                self.objects[k] = obj
        inv = self._rebuild()
        judged = {obj_key(o): o for o in inv.judged()}
        local: set[ObjKey] = set()
        kinds: set[tuple[str, str]] = set()  # (kind, API group) of the changed objects
        namespaces: set[str] = set()
        for k, new in changes.items():
            old = before[k]
            for obj, where in ((old, old_inv), (new, inv)):
                if obj is None:
                    continue
                kinds.add((obj.kind, obj.group))
                ns = _namespace_of(obj)
                if ns is not None:
                    namespaces.add(ns)
                local.add(obj_key(obj))
                top = where.controller(obj)
                if top is not None:
                    local.add(obj_key(top))
            old_uid = old.raw.get("metadata", {}).get("uid") if old is not None else None
            new_uid = new.raw.get("metadata", {}).get("uid") if new is not None else None
            if old_uid != new_uid:  # the same name, another object: the reports name its uid
                self.dirty.update(o.namespace for o in (old, new) if o is not None)
        local |= judged.keys() - old_judged
        for k in old_judged - judged.keys():
            self._store(self.outcomes, k, {})

        plan = self.plan
        dependents = [r for r in plan.rules if any(self.depends(r, kind, group) for kind, group in kinds)]
        dep_ids = {r.meta.id for r in dependents}
        # (the CLUSTER-scope rules among the object rules judge no object: they are run on their own below)
        dep_objects = [r for r in dependents if r.meta.scope is not Scope.NAMESPACE]
        dep_namespaces = [r for r in dependents if r.meta.scope is Scope.NAMESPACE]
        dep_cluster = [r for r in dependents if r.meta.scope is Scope.CLUSTER]
        local_ns_rules = [r for r in plan.ns_rules if r.meta.id not in dep_ids]
        object_rules = [r for r in plan.rules if r.meta.scope is not Scope.NAMESPACE]

        # the changed objects (and their controllers): every object rule
        targets = [judged[k] for k in sorted(local, key=_sort_key) if k in judged]
        new_objs, _, _ = self._group(self._run(self._plan_for(object_rules), targets, False))
        for obj in targets:
            k = obj_key(obj)
            self._store(self.outcomes, k, new_objs.get(k, {}))
        # the rules that read a changed kind: on every object they judge
        if dep_objects:
            ids = {r.meta.id for r in dep_objects}
            again, _, _ = self._group(self._run(self._plan_for(dep_objects), list(judged.values()), False))
            for k in judged:
                current = {rid: o for rid, o in self.outcomes.get(k, {}).items() if rid not in ids}
                current.update(again.get(k, {}))
                self._store(self.outcomes, k, current)
        # namespace rules: those that read a changed kind on every namespace, the others on the changed ones
        scopes: tuple[tuple[list[Rule], set[str] | bool], ...] = ((dep_namespaces, True), (local_ns_rules, namespaces))
        for rules, scope in scopes:
            if not rules or not scope:
                continue
            ids = {r.meta.id for r in rules}
            _, again_ns, _ = self._group(self._run(self._plan_for(rules), [], scope))
            names = set(self.ns_outcomes) | set(again_ns) if scope is True else set(scope) if scope else set()
            for name in names:
                current = {rid: o for rid, o in self.ns_outcomes.get(name, {}).items() if rid not in ids}
                current.update(again_ns.get(name, {}))
                self._store(self.ns_outcomes, name, current)
        # the cluster rules that read a changed kind: once each, on the whole cluster
        if dep_cluster:
            ids = {r.meta.id for r in dep_cluster}
            again_cluster = self._run_cluster(self._plan_for(dep_cluster))
            for key in set(self.cluster_outcomes) | set(again_cluster):
                current = {rid: o for rid, o in self.cluster_outcomes.get(key, {}).items() if rid not in ids}
                current.update(again_cluster.get(key, {}))
                self._store(self.cluster_outcomes, key, current)
        return len(targets) + (len(judged) if dep_objects else 0)

    # -- what the reports and metrics show ---------------------------------------------------------------
    def outcomes_in(self, buckets: Collection[Bucket] | None = None) -> Iterable[Outcome]:
        for table in (self.outcomes, self.ns_outcomes, self.cluster_outcomes):
            for per in table.values():
                for o in per.values():
                    if buckets is None or o.bucket in buckets:
                        yield o

    def report(self, buckets: Collection[Bucket] | None = None) -> Report:
        """The held results (of ``buckets`` only, when given) as a Report for the reporters."""
        j = self.judging
        rep = Report(
            rules=self.plan.metas,
            fail_on=j.fail_on,
            min_severity=j.min_severity,
            objects=len(self.inventory),
            inventory=self.inventory,
        )
        for o in self.outcomes_in(buckets):
            rep.findings.extend(o.findings)
            rep.results.extend(o.results)
            rep.passes.extend(o.passes)
        return rep

    def buckets(self) -> set[Bucket]:
        return {o.bucket for o in self.outcomes_in()}


def _sort_key(k: ObjKey) -> tuple[str, str, str, str]:
    return (k[0], k[1], k[2] or "", k[3])


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchOptions:
    source: ClusterSource
    scan: ScanOptions = field(default_factory=ScanOptions)
    fmt: ReportFormat = OPENREPORTS
    host: str = "0.0.0.0"
    port: int | None = 8080  # None: no metrics server
    debounce: float = 1.0  # seconds to gather a batch of events after the first
    resync: float = 3600.0  # seconds between full syncs (0: never)
    once: bool = False  # one full sync, then exit (the CronJob)
    watch_timeout: int = 300  # timeoutSeconds of each watch request
    idle_timeout: float = 120.0  # silence on a watch that counts as a dropped connection
    max_report_bytes: int = MAX_REPORT_BYTES


@dataclass(slots=True, kw_only=True)
class SyncSummary:
    objects: int = 0
    applied: int = 0
    deleted: int = 0
    failed: list[str] = field(default_factory=list)


class WatchApp:
    """The watch: ``run()`` blocks until ``stop()`` (or returns after the first sync with ``once``)."""

    def __init__(self, opts: WatchOptions, *, registry: Registry | None = None) -> None:
        self.opts = opts
        self.registry = registry or default_registry()
        self.metrics = WatchMetrics()
        self.events: queue.Queue[WatchEvent] = queue.Queue()
        self.judge: ClusterJudge | None = None
        self.writer: ReportWriter | None = None
        self.watchers: list[TypeWatcher] = []
        self.server: MetricsServer | None = None
        self.synced = threading.Event()
        self.stopped = threading.Event()
        self.heartbeat = time.monotonic()
        self.last_full_sync = 0.0
        self.written: dict[Bucket, dict[str, dict[str, Any]]] = {}  # bucket -> name -> document (no timestamps)
        self.read: ClusterRead | None = None
        self.batches = 0  # batches of events judged (tests wait on it)
        self._transport: Transport | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def stop(self) -> None:
        self.stopped.set()

    def healthy(self) -> tuple[bool, str]:
        if not self.synced.is_set():
            return False, "not synced yet"
        if self.stopped.is_set():
            return False, "stopping"
        if time.monotonic() - self.heartbeat > 300:  # a full sync of a large cluster takes a while
            return False, "the event loop is stuck"
        return True, "ok"

    def start_server(self) -> MetricsServer | None:
        if self.opts.port is not None and self.server is None:
            self.server = MetricsServer(self.metrics, self.healthy, self.opts.host, self.opts.port).start()
        return self.server

    def run(self) -> int:
        """0, or 2 when the first sync could not write every report (``once``)."""
        opts, src = self.opts, self.opts.source
        client, endpoint = load_client(src.kubeconfig, src.context, connections=WATCH_CONNECTIONS)
        transport = self._transport = Transport(
            client, qps=src.qps, burst=src.burst, limits=RequestLimits(request_timeout=src.request_timeout)
        )
        try:
            cfg = resolve_config(opts.scan)
            j = judging(opts.scan, self.registry, cfg)
            kinds = cluster_kinds(j.rules, self.registry, skip=skipped_rules(opts.scan, cfg))
            if not opts.once:
                self.start_server()
            self.writer = ReportWriter(transport, opts.fmt.kinds())
            read = self.read = read_with(transport, endpoint, src, kinds)
            self.judge = ClusterJudge(
                j, label=read.label, unreadable=read.unreadable_kinds(), partial=partial_read(read)
            )
            summary = self.full_sync(list(read.inventory()))
            self.synced.set()
            if opts.once:
                return 0 if not summary.failed else 2
            for listed in read.lists:
                self.watchers.append(
                    TypeWatcher(
                        transport,
                        listed,
                        src,
                        self.events.put,
                        on_error=self._watch_error,
                        timeout_seconds=opts.watch_timeout,
                        idle_timeout=opts.idle_timeout,
                    ).start()
                )
            self._loop()
            return 0
        finally:
            wait_all(self.watchers, 5.0)
            if self.server is not None:
                self.server.stop()
                self.server = None
            transport.close()

    def _watch_error(self, t: ResourceType, why: str) -> None:
        self.metrics.inc("kubefort_watch_errors_total", resource=t.name)
        if why.startswith("relist"):
            return
        log.info("%s (resuming)", why)

    # -- the loop ----------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopped.is_set():
            self.heartbeat = time.monotonic()
            if self.opts.resync and time.monotonic() - self.last_full_sync >= self.opts.resync:
                assert self.judge is not None
                self.full_sync(list(self.judge.objects.values()))
            try:
                first = self.events.get(timeout=0.5)
            except queue.Empty:
                self._retry_dirty()
                continue
            batch = [first]
            deadline = time.monotonic() + self.opts.debounce
            while (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(self.events.get(timeout=left))
                except queue.Empty:
                    break
            self.apply_events(batch)

    def apply_events(self, batch: list[WatchEvent]) -> None:
        """Fold a batch of events into the held objects, judge what changed, write the changed reports."""
        judge = self.judge
        assert judge is not None
        changes: dict[ObjKey, K8sObject | None] = {}
        for ev in batch:
            if ev.action == RELISTED:
                self.metrics.inc("kubefort_relists_total", resource=ev.type.name)
                fresh = {}
                for item in ev.items or ():
                    obj = judge.object_from(item, ev.type)
                    fresh[obj_key(obj)] = obj
                group, kind = ev.type.group, ev.type.kind
                for k in list(judge.objects):
                    if k[0] == group and k[1] == kind and k not in fresh:
                        changes[k] = None
                changes.update(fresh)
            elif ev.object is not None:
                obj = judge.object_from(ev.object, ev.type)
                changes[obj_key(obj)] = None if ev.action == DELETED else obj
        n = judge.change(changes)
        self.metrics.inc("kubefort_evaluations_total")
        self.metrics.inc("kubefort_objects_evaluated_total", n)
        self.metrics.set("kubefort_last_evaluation_timestamp_seconds", time.time())
        self.publish(set(judge.dirty))
        self.batches += 1

    def _retry_dirty(self) -> None:
        if self.judge is not None and self.judge.dirty:
            self.publish(set(self.judge.dirty))

    # -- reports -----------------------------------------------------------------------------------------
    def full_sync(self, objects: list[K8sObject]) -> SyncSummary:
        """Judge every object and write every report: apply all, delete kubefort's stale reports."""
        judge, writer = self.judge, self.writer
        assert judge is not None and writer is not None
        judge.load(objects)
        docs = self._documents(None)
        result = writer.sync(docs, namespace=self.opts.source.namespace)
        self._count(result)
        self.written = {}
        failed = set(result.failed_keys)
        judge.dirty.clear()
        for doc in docs:
            ns = doc["metadata"].get("namespace")
            if _doc_key(doc) in failed:
                judge.dirty.add(ns)  # tried again by the loop
                continue
            self.written.setdefault(ns, {})[doc["metadata"]["name"]] = _content(doc)
        self.last_full_sync = time.monotonic()
        self.metrics.set("kubefort_last_full_sync_timestamp_seconds", time.time())
        self._gauges()
        return SyncSummary(
            objects=len(objects), applied=len(result.applied), deleted=len(result.deleted), failed=result.failed
        )

    def _documents(self, buckets: Collection[Bucket] | None) -> list[dict[str, Any]]:
        judge = self.judge
        assert judge is not None
        now = dt.datetime.now(dt.UTC)
        return documents(judge.report(buckets), self.opts.fmt, now=now, max_bytes=self.opts.max_report_bytes)

    def publish(self, buckets: set[Bucket]) -> None:
        """Write the reports of ``buckets`` whose content changed; delete parts and reports that have no
        results left. A bucket whose write fails stays dirty and is tried again."""
        judge, writer = self.judge, self.writer
        assert judge is not None and writer is not None
        if not buckets:
            self._gauges()
            return
        judge.dirty -= buckets
        docs = self._documents(buckets)
        by_bucket: dict[Bucket, list[dict[str, Any]]] = {}
        for d in docs:
            by_bucket.setdefault(d["metadata"].get("namespace"), []).append(d)
        fmt = self.opts.fmt
        for b in sorted(buckets, key=lambda x: (x is not None, x or "")):
            if self.opts.source.namespace is not None and b not in (None, self.opts.source.namespace):
                continue
            written = self.written.get(b, {})
            now: dict[str, dict[str, Any]] = {}
            ok = True
            for doc in by_bucket.get(b, []):
                name, content = doc["metadata"]["name"], _content(doc)
                if written.get(name) == content:
                    now[name] = content
                    continue
                try:
                    writer.apply(doc)
                except ApiError as e:
                    ok = False
                    self.metrics.inc("kubefort_report_errors_total")
                    log.warning("cannot apply %s: %s", describe(_doc_key(doc)), e)
                    if name in written:
                        now[name] = written[name]
                    continue
                self.metrics.inc("kubefort_reports_applied_total")
                now[name] = content
            kind = fmt.kind if b is not None else fmt.cluster_kind
            for name in sorted(set(written) - set(now)):
                try:
                    writer.delete((fmt.api_version, kind, b, name))
                except ApiError as e:
                    ok = False
                    self.metrics.inc("kubefort_report_errors_total")
                    log.warning("cannot delete %s %s/%s: %s", kind, b, name, e)
                    now[name] = written[name]
                    continue
                self.metrics.inc("kubefort_reports_deleted_total")
            if now:
                self.written[b] = now
            else:
                self.written.pop(b, None)
            if not ok:
                judge.dirty.add(b)
        self._gauges()

    def _count(self, result: PublishResult) -> None:
        self.metrics.inc("kubefort_reports_applied_total", len(result.applied))
        self.metrics.inc("kubefort_reports_deleted_total", len(result.deleted))
        self.metrics.inc("kubefort_report_errors_total", len(result.failed))

    def _gauges(self) -> None:
        judge = self.judge
        assert judge is not None
        findings: dict[tuple[tuple[str, str], ...], float] = {}
        results: dict[tuple[tuple[str, str], ...], float] = {}
        fail_on = judge.judging.fail_on
        for o in judge.outcomes_in():
            for f in o.findings:
                if f.suppressed:
                    value = "skip"
                else:
                    key = (("namespace", f.object.namespace or ""), ("rule", f.rule.id), ("severity", f.severity.label))
                    findings[key] = findings.get(key, 0) + 1
                    value = "fail" if f.severity >= fail_on else "warn"
                rk = (("result", value),)
                results[rk] = results.get(rk, 0) + 1
            for _ in o.results:
                results[(("result", "error"),)] = results.get((("result", "error"),), 0) + 1
            if o.passes:
                results[(("result", "pass"),)] = results.get((("result", "pass"),), 0) + len(o.passes)
        self.metrics.replace("kubefort_findings", findings)
        self.metrics.replace("kubefort_results", results)
        kinds: dict[tuple[tuple[str, str], ...], float] = {}
        for k in judge.objects:
            kinds[(("kind", k[1]),)] = kinds.get((("kind", k[1]),), 0) + 1
        self.metrics.replace("kubefort_objects_watched", kinds)


def _doc_key(doc: Mapping[str, Any]) -> tuple[str, str, str | None, str]:
    md = doc["metadata"]
    return (str(doc["apiVersion"]), str(doc["kind"]), md.get("namespace"), str(md["name"]))


def _content(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A report without its results' timestamps: what decides whether it must be written again."""
    out = dict(doc)
    out["results"] = [{k: v for k, v in r.items() if k != "timestamp"} for r in doc.get("results") or ()]
    return out
