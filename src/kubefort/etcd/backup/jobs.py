"""Running the volume Jobs of :mod:`.volumes` in a cluster and reading back what they did.

Why through the Job's own status and its Pod's: that is what a real cluster offers without any agent
of kubefort's. A Job ends with a ``Complete`` or ``Failed`` condition (its reason: ``BackoffLimitExceeded``,
``DeadlineExceeded``...); its Pods carry the label ``job-name``; a container that ends writes its
termination message into the Pod's status (the ``report`` container writes the volume's file count and
digest there; restic's own error lines become restic's message through ``FallbackToLogsOnError``); the
snapshot ID is the summary line ``restic backup --json`` prints, read from the restic container's log.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...loading.cluster.transport import ApiError, ClusterError, Transport
from .volumes import parse_report, restic_summary


@dataclass(slots=True, kw_only=True)
class VolumeRun:
    """One claim's Job: whether it succeeded (or why not) and what it reported."""

    namespace: str
    claim: str
    job: str
    ok: bool = False
    reason: str = ""
    snapshot: str | None = None
    files: int | None = None
    sha256: str | None = None
    bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"namespace": self.namespace, "claim": self.claim, "job": self.job, "ok": self.ok}
        for k in ("reason", "snapshot", "files", "sha256", "bytes"):
            v = getattr(self, k)
            if v not in (None, ""):
                doc[k] = v
        return doc


def _job_path(ns: str, name: str = "") -> str:
    return f"/apis/batch/v1/namespaces/{ns}/jobs" + (f"/{name}" if name else "")


def _condition(job: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True":
            return c
    return None


def _statuses(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    st = pod.get("status") or {}
    return [s for s in [*(st.get("initContainerStatuses") or ()), *(st.get("containerStatuses") or ())] if s]


def _pods(transport: Transport, ns: str, job: str) -> list[dict[str, Any]]:
    got = transport.get(f"/api/v1/namespaces/{ns}/pods", [("labelSelector", f"job-name={job}")]).json()
    pods = [p for p in got.get("items") or () if isinstance(p, dict)]
    return sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))


def _pod_problem(pod: Mapping[str, Any]) -> str:
    """Why a Pod did not finish: the container that failed with its termination message, or what a
    container waits for (an image pull, a claim that cannot be mounted), or the Pod's phase."""
    for s in _statuses(pod):
        term = (s.get("state") or {}).get("terminated")
        if term and term.get("exitCode", 0) != 0:
            msg = " ".join(str(term.get("message") or "").split())[-300:]
            return f"container {s.get('name')} {term.get('reason') or 'Error'} (exit {term.get('exitCode')})" + (
                f": {msg}" if msg else ""
            )
    for s in _statuses(pod):
        wait = (s.get("state") or {}).get("waiting")
        if wait:
            return f"container {s.get('name')} waiting: {wait.get('reason')}"
    st = pod.get("status") or {}
    return f"pod {st.get('phase') or 'Pending'}" + (f": {st.get('message')}" if st.get("message") else "")


def _read_results(transport: Transport, run: VolumeRun, pod: Mapping[str, Any]) -> None:
    """The report container's termination message and restic's summary line (from its log)."""
    for s in _statuses(pod):
        term = (s.get("state") or {}).get("terminated") or {}
        if s.get("name") == "report" and term.get("exitCode") == 0:
            report = parse_report(str(term.get("message") or ""))
            if report is None:
                run.ok, run.reason = False, "the report container's termination message is not a volume report"
                return
            run.files, run.sha256 = report["files"], report["sha256"]
    md = pod.get("metadata") or {}
    try:
        log = transport.get(
            f"/api/v1/namespaces/{md.get('namespace')}/pods/{md.get('name')}/log",
            [("container", "restic")],
            accept="text/plain",
        ).body.decode("utf-8", "replace")
    except ApiError:
        log = ""
    summary = restic_summary(log)
    if summary is not None:
        run.snapshot = str(summary.get("snapshot_id") or "") or None
        run.bytes = summary.get("total_bytes_processed")


def run_volume_jobs(
    transport: Transport,
    apply: Callable[[Mapping[str, Any]], None],
    docs: Iterable[Mapping[str, Any]],
    claims: Mapping[str, str],
    *,
    timeout: float = 3600.0,
    poll: float = 1.0,
    progress: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[VolumeRun]:
    """Apply ``docs`` (from :func:`.volumes.volume_jobs` or :func:`.volumes.volume_restore_jobs`), wait up
    to ``timeout`` seconds for every Job to end, and return each claim's result. ``claims``: Job name
    -> the claim it serves. The VolumeSnapshots and cloned claims made for the backup are deleted
    afterwards (the Jobs stay until their ``ttlSecondsAfterFinished``, for ``kubectl logs``)."""
    docs = list(docs)
    runs: dict[tuple[str, str], VolumeRun] = {}
    refused: dict[str, str] = {}  # namespace -> why an object the Jobs need could not be made
    for d in docs:
        md = d["metadata"]
        key = (str(md.get("namespace")), str(md["name"]))
        run = None
        if d["kind"] == "Job":
            run = runs[key] = VolumeRun(namespace=key[0], claim=claims.get(key[1], key[1]), job=key[1])
            if key[0] in refused:
                run.reason = refused[key[0]]
                continue
        try:
            apply(d)
        except (ApiError, ClusterError) as e:
            why = f"cannot create {d['kind']} {md['name']}: {e}"
            if run is not None:
                run.reason = why
            else:
                refused.setdefault(key[0], why)
    pending = [r for r in runs.values() if not r.reason]
    deadline = time.monotonic() + timeout
    total = len(runs)
    while pending:
        for r in list(pending):
            try:
                job = transport.get(_job_path(r.namespace, r.job)).json()
            except ApiError as e:
                r.reason = f"job {r.job}: {e}"
                pending.remove(r)
                continue
            done, failed = _condition(job, "Complete"), _condition(job, "Failed")
            if not done and not failed:
                continue
            pending.remove(r)
            pods = _pods(transport, r.namespace, r.job)
            if done:
                good = [p for p in pods if (p.get("status") or {}).get("phase") == "Succeeded"]
                r.ok = True
                if good:
                    _read_results(transport, r, good[-1])
                if r.ok and r.files is None:
                    r.ok, r.reason = False, "the Job completed without a volume report"
            else:
                assert failed is not None
                why = f"{failed.get('reason') or 'Failed'}: {failed.get('message') or ''}".rstrip(": ")
                r.reason = f"job {r.job} failed ({why})" + (f"; {_pod_problem(pods[-1])}" if pods else "")
        if progress is not None:
            progress(f"volume jobs: {total - len(pending)}/{total} done")
        if not pending:
            break
        if time.monotonic() > deadline:
            for r in pending:
                try:
                    pods = _pods(transport, r.namespace, r.job)
                except ApiError:
                    pods = []
                state = _pod_problem(pods[-1]) if pods else "no pod created"
                r.reason = f"job {r.job} not done after {timeout:g}s ({state})"
            break
        sleep(poll)
    for d in docs:  # the snapshot and its clone only served the Job
        md = d["metadata"]
        if d["kind"] in ("VolumeSnapshot", "PersistentVolumeClaim"):
            group = "/apis/snapshot.storage.k8s.io/v1" if d["kind"] == "VolumeSnapshot" else "/api/v1"
            plural = "volumesnapshots" if d["kind"] == "VolumeSnapshot" else "persistentvolumeclaims"
            with contextlib.suppress(ApiError):
                transport.request(
                    "DELETE", f"{group}/namespaces/{md['namespace']}/{plural}/{md['name']}", ok=(200, 202)
                )
    return list(runs.values())
