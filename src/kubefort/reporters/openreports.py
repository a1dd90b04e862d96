"""OpenReports (``openreports.io/v1alpha1`` ``Report`` and ``ClusterReport``): results where the
Kubernetes policy ecosystem reads them (Kyverno, Policy Reporter and others).

One report per namespace (the results on its objects) and one cluster report (the results on
cluster-scoped objects), each split into parts named ``kubefort``, ``kubefort-2``, ``kubefort-3``...
so that no object comes near the API server's request size limit (:data:`MAX_REPORT_BYTES`). The
same documents serve ``-o openreports`` (a YAML stream ``kubectl apply -f`` takes) and ``scan --apply``
/ ``kubefort watch`` (:mod:`kubefort.publish` writes them); :mod:`.policyreport` formats the same
results as ``wgpolicyk8s.io/v1alpha2`` PolicyReports.

How kubefort's results map (docs/cluster.md, "Reports"):

- ``policy`` is the rule ID (``KF-POD-001``), ``rule`` its slug, ``category`` its area, ``source``
  ``kubefort``: Policy Reporter groups by source, policy and rule;
- a finding is ``fail`` (``scored: true``) at or above ``--fail-on`` and ``warn`` (``scored:
  false``) below it: what would and would not fail the scan; a suppressed finding is ``skip``, with
  its reason in ``properties.suppression``; a rule that could not judge the object (a kind it needs
  could not be read, an invalid field) or crashed on it is ``error``; a rule that passed is ``pass``
  (one per rule and object);
- ``resources`` names the object (apiVersion, kind, namespace, name, and uid when the object was read
  from a cluster); ``properties`` carry the rule title, the field path, the subcode and, for files,
  the location;
- ``timestamp`` is the time of the scan; results are sorted (object, rule, path) so that the same
  scan gives the same documents.

Reporters only format: the Report decides what failed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import orjson
import yaml

from ..engine.findings import Finding, Report, Status
from ..engine.rule import RuleMeta
from ..model.objects import ObjectRef

SOURCE = "kubefort"
#: the label that marks the reports kubefort writes (and may delete when they have no results left)
MANAGED_BY = "app.kubernetes.io/managed-by"
#: the name of a report's first part; further parts are ``kubefort-2``, ``kubefort-3``...
REPORT_NAME = "kubefort"
#: JSON bytes of one report object at most. The API server refuses request bodies over 3 MiB and etcd
#: objects over 1.5 MiB (``--max-request-bytes``); the stored object also carries the metadata the
#: server adds (``managedFields``, a few hundred bytes: ``results`` is an atomic list), so 1 MiB of
#: results keeps every part well inside both limits.
MAX_REPORT_BYTES = 1024 * 1024
#: result values in the order a report lists them for one object and rule
RESULT_ORDER = {"fail": 0, "warn": 1, "error": 2, "skip": 3, "pass": 4}


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFormat:
    """What distinguishes one report API from another: its group/version, kinds, and whether the
    report itself names its source (OpenReports does; PolicyReport v1alpha2 only per result)."""

    api_version: str
    kind: str  # namespaced
    cluster_kind: str
    report_source: bool

    def kinds(self) -> tuple[tuple[str, str], ...]:
        """(apiVersion, kind) of both report types: what ``--apply`` writes and cleans up."""
        return ((self.api_version, self.kind), (self.api_version, self.cluster_kind))


OPENREPORTS = ReportFormat(
    api_version="openreports.io/v1alpha1", kind="Report", cluster_kind="ClusterReport", report_source=True
)


def result_entries(
    report: Report, *, now: dt.datetime | None = None
) -> list[tuple[str | None, tuple[Any, ...], dict[str, Any]]]:
    """Every result of ``report`` as (namespace or None, sort key, result), unsorted."""
    when = now or dt.datetime.now(dt.UTC)
    stamp = {"seconds": int(when.timestamp()), "nanos": when.microsecond * 1000}
    uid = _uids(report.inventory)
    refs: dict[ObjectRef, list[dict[str, Any]]] = {}

    def resources(ref: ObjectRef) -> list[dict[str, Any]]:
        hit = refs.get(ref)
        if hit is None:
            r: dict[str, Any] = {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name}
            if ref.namespace:
                r["namespace"] = ref.namespace
            u = uid(ref)
            if u:
                r["uid"] = u
            hit = refs[ref] = [r]
        return hit

    out: list[tuple[str | None, tuple[Any, ...], dict[str, Any]]] = []

    def add(
        meta: RuleMeta,
        ref: ObjectRef,
        result: str,
        severity: str,
        message: str,
        props: dict[str, str],
        path: str = "",
    ) -> None:
        entry: dict[str, Any] = {
            "source": SOURCE,
            "policy": meta.id,
            "rule": meta.slug,
            "category": meta.area,
            "severity": severity,
            "result": result,
            "scored": result != "warn",
            "message": message,
            "resources": resources(ref),
            "timestamp": stamp,
            "properties": {"title": meta.title, **props},
        }
        key = (ref.kind, ref.namespace or "", ref.name, meta.id, RESULT_ORDER[result], path, message)
        out.append((ref.namespace, key, entry))

    for f in report.findings:
        if f.suppressed:
            result = "skip"
        else:
            result = "fail" if f.severity >= report.fail_on else "warn"
        add(f.rule, f.object, result, f.severity.label, f.message, _finding_properties(f), f.path_str)
    for r in report.results:
        if r.status in (Status.NOT_EVALUATED, Status.ERROR):
            why = r.detail or ("not evaluated" if r.status is Status.NOT_EVALUATED else "rule error")
            props = {"status": r.status.value}
            add(r.rule, r.object, "error", r.rule.severity.label, why, props)
    for meta, ref, _ in report.passes:
        add(meta, ref, "pass", meta.severity.label, meta.title, {})
    return out


def _finding_properties(f: Finding) -> dict[str, str]:
    props: dict[str, str] = {}
    if f.path_str:
        props["path"] = f.path_str
    if f.subcode:
        props["subcode"] = f.subcode
    if f.suppression:
        props["suppression"] = f.suppression
    loc = f.location
    if loc.line is not None:
        props["location"] = f"{loc.file}:{loc.line}"
    if loc.template:
        props["template"] = loc.template
    return props


def _uids(inventory: Any) -> Callable[[ObjectRef], str | None]:
    """The uid of a scanned object (objects read from a cluster have one; manifests rarely do)."""
    if inventory is None or not hasattr(inventory, "get"):
        return lambda ref: None

    def uid(ref: ObjectRef) -> str | None:
        obj = inventory.get(ref.kind, ref.namespace, ref.name)
        if obj is None:
            return None
        md = obj.raw.get("metadata")
        value = md.get("uid") if isinstance(md, dict) else None
        return value if isinstance(value, str) and value else None

    return uid


def grouped_results(report: Report, *, now: dt.datetime | None = None) -> dict[str | None, list[dict[str, Any]]]:
    """The results of ``report`` by namespace (None: cluster-scoped objects), each list sorted."""
    by_ns: dict[str | None, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {}
    for ns, key, entry in result_entries(report, now=now):
        by_ns.setdefault(ns, []).append((key, entry))
    return {ns: [e for _, e in sorted(items, key=lambda kv: kv[0])] for ns, items in by_ns.items()}


def summary(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(("pass", "fail", "warn", "error", "skip"), 0)
    for r in results:
        counts[r["result"]] += 1
    return counts


def part_name(index: int) -> str:
    """``kubefort`` for the first part, ``kubefort-2`` for the second...: the first part keeps its name
    whether or not the report is split."""
    return REPORT_NAME if index == 0 else f"{REPORT_NAME}-{index + 1}"


def report_documents(
    fmt: ReportFormat,
    namespace: str | None,
    results: list[dict[str, Any]],
    *,
    max_bytes: int = MAX_REPORT_BYTES,
) -> list[dict[str, Any]]:
    """The report objects for one namespace (None: the cluster report), split by results so that each
    object's JSON stays within ``max_bytes`` (a single result larger than that gets a part alone)."""

    def document(index: int, part: list[dict[str, Any]]) -> dict[str, Any]:
        md: dict[str, Any] = {"name": part_name(index)}
        if namespace is not None:
            md["namespace"] = namespace
        md["labels"] = {MANAGED_BY: SOURCE}
        doc: dict[str, Any] = {
            "apiVersion": fmt.api_version,
            "kind": fmt.kind if namespace is not None else fmt.cluster_kind,
            "metadata": md,
        }
        if fmt.report_source:
            doc["source"] = SOURCE
        doc["summary"] = summary(part)
        doc["results"] = part
        return doc

    # the skeleton's size with room for the part number and counts of any size
    base = len(orjson.dumps(document(0, []))) + 64
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = base
    for r in results:
        n = len(orjson.dumps(r)) + 1
        if current and size + n > max_bytes:
            parts.append(current)
            current, size = [], base
        current.append(r)
        size += n
    parts.append(current)
    return [document(i, p) for i, p in enumerate(parts)]


def documents(
    report: Report,
    fmt: ReportFormat = OPENREPORTS,
    *,
    now: dt.datetime | None = None,
    max_bytes: int = MAX_REPORT_BYTES,
) -> list[dict[str, Any]]:
    """Every report object for ``report``: the cluster report first, then the namespaces in order.
    Namespaces without results have no report (and none is written for the cluster without results)."""
    grouped = grouped_results(report, now=now)
    out: list[dict[str, Any]] = []
    for ns in sorted(grouped, key=lambda n: (n is not None, n or "")):
        out.extend(report_documents(fmt, ns, grouped[ns], max_bytes=max_bytes))
    return out


def render_documents(docs: list[dict[str, Any]], out: IO[str]) -> None:
    """A YAML stream of ``docs`` (what ``kubectl apply -f`` reads). Text from scanned objects is
    escaped by the YAML emitter (control characters as ``\\xNN``)."""
    if not docs:
        out.write("# kubefort: no results, no reports\n")
        return
    yaml.dump_all(
        docs, out, Dumper=ReportDumper, sort_keys=False, default_flow_style=False, width=200, allow_unicode=True
    )


_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the C emitter when PyYAML has it


class ReportDumper(_BaseDumper):  # type: ignore[misc]
    """Results share their resource list and timestamp: written out in full, never as YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class OpenReportsReporter:
    """``-o openreports``: ``Report`` per namespace and a ``ClusterReport``, as a YAML stream."""

    fmt = OPENREPORTS

    def __init__(self, *, now: dt.datetime | None = None, max_bytes: int = MAX_REPORT_BYTES) -> None:
        self.now = now
        self.max_bytes = max_bytes

    def documents(self, report: Report) -> list[dict[str, Any]]:
        return documents(report, self.fmt, now=self.now, max_bytes=self.max_bytes)

    def render(self, report: Report, out: IO[str]) -> None:
        render_documents(self.documents(report), out)
