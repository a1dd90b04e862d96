"""Rule evaluation over several processes (``kubefort scan --jobs``).

Rules are pure functions of an object and the inventory, so a scan splits cleanly: the objects are
cut into chunks that :func:`kubefort.forkpool.share_out` hands to forked workers as they get free.
Workers send back their findings, results and passes as plain tuples (rule metadata holds functions
and is not sent: rules travel as indexes into the plan); the parent works on chunks too, then
merges chunk by chunk, so the report is identical, in content and order, to a single-process run.

Per-inventory caches (the NetworkPolicy engine, the RBAC view, built lazily by the first rule that
needs them) are built before the fork, so that workers inherit them instead of each building its
own: the parent first evaluates one object of each kind and throws the results away.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator, Sequence
from typing import Any

from ..forkpool import MAX_ITEMS, missing, share_out
from ..model.objects import K8sObject
from ..model.source import Location
from .findings import Finding, Report, Result, SharedParts, Status
from .rule import Severity
from .runner import origin_of

log = logging.getLogger(__name__)

Marks = list[tuple[int, int, int]]

_WITH_FINDINGS = (Status.FAIL.value, Status.SUPPRESSED.value)

#: objects per unit of work: small enough to balance the processes, large enough to cost nothing
CHUNK = 200


def run_sharded(run: Any, objs: Sequence[K8sObject], workers: int) -> None:
    """Evaluate ``objs`` with ``run`` (a :class:`~kubefort.engine.runner.Run`) over ``workers`` processes."""
    metas = run.report.rules
    rule_index = {m.id: i for i, m in enumerate(metas)}
    size = max(CHUNK, -(-len(objs) // MAX_ITEMS))
    chunks = [(lo, min(lo + size, len(objs))) for lo in range(0, len(objs), size)]
    warm: dict[str, K8sObject] = {}
    for obj in objs:
        warm.setdefault(obj.kind, obj)
    run.fresh().objects(warm.values())  # builds the shared caches; the results are thrown away

    def work(take: Iterator[int]) -> tuple[Report, Marks]:
        sub = run.fresh()
        marks: Marks = []
        for i in take:
            lo, hi = chunks[i]
            sub.objects(objs[lo:hi], marks)
        return sub.report, marks

    def dumps(result: tuple[Report, Marks]) -> bytes:
        return pickle.dumps(_pack(result[0], result[1], rule_index), protocol=pickle.HIGHEST_PROTOCOL)

    (own, own_marks), own_done, remote = share_out(len(chunks), work, workers, dumps=dumps)
    shares = [(own, own_done, own_marks)]
    remote.reverse()
    while remote:  # each worker's bytes are let go once read
        done, data = remote.pop()
        try:
            report, marks = _unpack(pickle.loads(data), done, objs, chunks, metas, run.shared)
        except Exception:
            log.debug("unreadable worker results", exc_info=True)
            continue
        finally:
            del data
        shares.append((report, done, marks))
    redo = missing(len(chunks), *(d for _, d, _ in shares))
    if redo:
        report, marks = work(iter(redo))
        shares.append((report, redo, marks))
    _merge(run.report, shares, chunks)


def _pack(report: Any, marks: Marks, rule_index: dict[str, int]) -> dict[str, Any]:
    loc = _line
    return {
        "findings": [
            (
                rule_index[f.rule.id],
                f.path,
                f.path_str,
                f.message,
                int(f.severity),
                loc(f.location),
                f.subcode,
                f.fix,
                f.suppressed,
                f.suppression,
                f.rule.pss.index(f.pss) if f.pss is not None else -1,
                f.specific,
            )
            for f in report.findings
        ],
        "results": [(rule_index[r.rule.id], r.status.value, r.detail, loc(r.location)) for r in report.results],
        "passes": [rule_index[m.id] for m, _, _ in report.passes],
        "marks": marks,
        "counts": {s.value: c for s, c in report.counts.items()},
        "hidden": report.hidden,
        "notes": report.notes,
    }


def _line(location: Location | None) -> int | bool | None:
    """The line of a location; False when there is no location at all."""
    return False if location is None else location.line


def _unpack(
    data: dict[str, Any],
    done: list[int],
    objs: Sequence[K8sObject],
    chunks: list[tuple[int, int]],
    metas: Sequence[Any],
    shared: SharedParts | None = None,
) -> tuple[Report, Marks]:
    """The report of a worker's packed results (:func:`_pack`). Equal messages, paths and locations are
    made one object with ``shared`` (the run's, so that they are one across workers): pickling keeps
    the sharing within one worker's results only."""
    report = Report()
    shared = shared if shared is not None else SharedParts()
    text, share_path, place = shared.text, shared.path, shared.location
    findings, results, passes = data["findings"], data["results"], data["passes"]
    marks = data["marks"]
    seq = [obj for i in done for obj in objs[chunks[i][0] : chunks[i][1]]]
    if len(seq) != len(marks):
        raise ValueError("results do not match their objects")
    fi = ri = pi = 0
    for obj, (f_end, r_end, p_end) in zip(seq, marks):
        if (fi, ri, pi) == (f_end, r_end, p_end):
            continue  # nothing recorded for this object
        src = obj.source
        ref = obj.ref
        origin = origin_of(obj)
        if src.doc is not None and not src.prefix:
            src.doc.release()  # as the runner does once an object is judged (the line is all that is needed)
        own: dict[int, list[Finding]] = {}  # this object's findings by rule, for its results
        for rule, path, path_str, message, sev, line, subcode, fix, suppressed, suppression, pss, specific in findings[
            fi:f_end
        ]:
            meta = metas[rule]
            path, text_of_path = share_path(path)
            f = Finding(
                rule=meta,
                object=ref,
                path=path,
                path_str=text_of_path if text_of_path == path_str else text(path_str),
                message=text(message),
                severity=Severity(sev),
                location=place(obj, Location(file=src.file, line=line, template=src.template), origin),
                subcode=None if subcode is None else text(subcode),
                fix=fix,
                suppressed=suppressed,
                suppression=suppression,
                pss=meta.pss[pss] if pss >= 0 else None,
                origin=origin,
                specific=specific,
            )
            report.findings.append(f)
            own.setdefault(rule, []).append(f)
        for rule, status, detail, line in results[ri:r_end]:
            report.results.append(
                Result(
                    rule=metas[rule],
                    object=ref,
                    status=Status(status),
                    detail=detail,
                    location=None
                    if line is False
                    else place(obj, Location(file=src.file, line=line, template=src.template), origin),
                    findings=own.get(rule, []) if status in _WITH_FINDINGS else [],
                )
            )
        report.passes.extend((metas[rule], ref, origin) for rule in passes[pi:p_end])
        fi, ri, pi = f_end, r_end, p_end
    if (fi, ri, pi) != (len(findings), len(results), len(passes)):
        raise ValueError("results do not match their objects")
    for status, count in data["counts"].items():
        report.counts[Status(status)] += count
    report.hidden = data["hidden"]
    report.notes = data["notes"]
    return report, marks


def _merge(report: Any, shares: Sequence[tuple[Any, list[int], Marks]], chunks: list[tuple[int, int]]) -> None:
    """Append the shares' results to ``report`` chunk by chunk, in input order."""
    where: dict[int, tuple[Any, tuple[int, int, int], tuple[int, int, int]]] = {}
    for share, done, marks in shares:
        start = (0, 0, 0)
        k = 0
        for i in done:
            k += chunks[i][1] - chunks[i][0]
            end = marks[k - 1] if k else start
            where[i] = (share, start, end)
            start = end
    findings, results, passes = report.findings, report.results, report.passes
    for i in range(len(chunks)):
        share, (f0, r0, p0), (f1, r1, p1) = where[i]
        findings.extend(share.findings[f0:f1])
        results.extend(share.results[r0:r1])
        passes.extend(share.passes[p0:p1])
    for share, _, _ in shares:
        report.counts.update(share.counts)
        report.hidden += share.hidden
        for note in share.notes:
            if note not in report.notes:
                report.notes.append(note)
