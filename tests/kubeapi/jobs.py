"""A stand-in for the Job controller, the CSI snapshotter and the kubelet, for kubefort's volume Jobs.

No kubelet runs where kubefort is tested, so the Jobs kubefort creates in the test API server would
never run. :class:`JobRunner` watches the server's store for Jobs labelled
``app.kubernetes.io/managed-by=kubefort`` and runs them as a node would, with the **real** programs of
their containers, and writes back what a cluster writes:

- a Pod per attempt (labels ``job-name``, ``batch.kubernetes.io/job-name``, ``controller-uid``; owner
  reference to the Job), up to ``backoffLimit`` retries;
- volumes: a ``persistentVolumeClaim`` is a directory standing in for the claim's volume
  (:attr:`JobRunner.volumes`; a claim that exists in the store but has no directory yet is provisioned
  empty, or, with a ``dataSource`` naming a VolumeSnapshot, as a copy of the snapshot's source claim:
  what a CSI driver's clone gives); a ``secret`` volume is a directory of the Secret's keys as files
  (decoded, as the kubelet projects them); an ``emptyDir`` an empty directory. A claim or Secret that
  does not exist leaves the Pod ``Pending`` with its containers waiting in ``ContainerCreating``, as a
  failed mount does;
- containers: init containers one after the other, then the containers; each is ``command`` (or the
  image's entrypoint, from :attr:`JobRunner.images`) + ``args``, run as a local process whose mount
  paths, ``workingDir`` and environment values are rewritten to the directories above (a path under a
  ``mountPath`` becomes the same path under its directory); its environment is the image's and the
  container's only;
- the termination message: the file at ``terminationMessagePath`` (``/dev/termination-log``), or with
  ``FallbackToLogsOnError`` and a non-zero exit the end of the output (80 lines, 2048 bytes), at most
  4096 bytes, in ``status.containerStatuses[].state.terminated.message``; the output is kept as the
  container's log (``GET pods/NAME/log?container=C``);
- the Job's status: ``succeeded``/``failed`` counts and the ``Complete`` or ``Failed``
  (``BackoffLimitExceeded``) condition with their ``SuccessCriteriaMet``/``FailureTarget`` forerunners.

What it does not do: isolation (no container, no user switch, ``readOnly`` mounts not enforced; the
processes run as the test's user), image pulls, resource limits, ``activeDeadlineSeconds``.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .server import KubeAPIServer

MANAGED = ("app.kubernetes.io/managed-by", "kubefort")
DEFAULT_TERMINATION_LOG = "/dev/termination-log"


@dataclass
class Image:
    """What a container image gives a process: its entrypoint and environment."""

    entrypoint: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Pending(Exception):
    """The Pod cannot start: (container waiting reason, message)."""


class JobRunner:
    """``with JobRunner(api, images, workdir) as runner: runner.volumes[(ns, claim)] = path``."""

    def __init__(self, api: KubeAPIServer, images: Mapping[str, Image], workdir: Path) -> None:
        self.api = api
        self.store = api.store
        self.images = dict(images)
        self.workdir = workdir
        self.volumes: dict[tuple[str, str], Path] = {}  # (namespace, claim) -> the directory of its volume
        self.ran: list[tuple[str, str]] = []  # (namespace, job) in the order they ran
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> JobRunner:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    # -- the controller loop -------------------------------------------------------------------------
    def _loop(self) -> None:
        jobs = self.store.types[("batch", "jobs")]
        while not self._stop.is_set():
            with self.store.cond:
                todo = [
                    o
                    for o in jobs.objects.values()
                    if (o["metadata"].get("labels") or {}).get(MANAGED[0]) == MANAGED[1]
                    and o["metadata"]["uid"] not in self._seen
                ]
                for o in todo:
                    self._seen.add(o["metadata"]["uid"])
            for job in todo:
                self._run_job(job)
            self._stop.wait(0.05)

    def _run_job(self, job: dict[str, Any]) -> None:
        md = job["metadata"]
        ns, name = md["namespace"], md["name"]
        self.ran.append((ns, name))
        status: dict[str, Any] = {"startTime": _now(), "active": 1}
        self._set_status(job, status)
        limit = int(job["spec"].get("backoffLimit", 6))
        failed = 0
        while True:
            phase = self._run_pod(job)
            if phase == "Pending":
                return  # stays active, as a Pod that cannot mount its volumes does
            if phase == "Succeeded":
                now = _now()
                status = {
                    "startTime": status["startTime"],
                    "completionTime": now,
                    "succeeded": 1,
                    "failed": failed,
                    "conditions": [
                        {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
                        {"type": "Complete", "status": "True", "lastTransitionTime": now},
                    ],
                }
                break
            failed += 1
            if failed > limit:
                now = _now()
                message = "Job has reached the specified backoff limit"
                status = {
                    "startTime": status["startTime"],
                    "failed": failed,
                    "conditions": [
                        {
                            "type": "FailureTarget",
                            "status": "True",
                            "reason": "BackoffLimitExceeded",
                            "message": message,
                            "lastTransitionTime": now,
                        },
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "BackoffLimitExceeded",
                            "message": message,
                            "lastTransitionTime": now,
                        },
                    ],
                }
                break
        self._set_status(job, status)

    def _set_status(self, job: dict[str, Any], status: dict[str, Any]) -> None:
        md = job["metadata"]
        with self.store.cond:
            current = self.store.types[("batch", "jobs")].objects.get((md["namespace"], md["name"]))
            if current is None:
                return
            self.store.upsert({**current, "status": status})

    # -- a Pod on a node -----------------------------------------------------------------------------
    def _run_pod(self, job: dict[str, Any]) -> str:
        md = job["metadata"]
        ns = md["namespace"]
        spec = job["spec"]["template"]["spec"]
        pod_name = f"{md['name'][:57]}-{uuid.uuid4().hex[:5]}"
        labels = {
            **(job["spec"]["template"].get("metadata", {}).get("labels") or {}),
            "job-name": md["name"],
            "batch.kubernetes.io/job-name": md["name"],
            "controller-uid": md["uid"],
            "batch.kubernetes.io/controller-uid": md["uid"],
        }
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": ns,
                "labels": labels,
                "creationTimestamp": _now(),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": md["name"],
                        "uid": md["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {"phase": "Pending"},
        }
        self.store.upsert(pod)
        inits = list(spec.get("initContainers") or ())
        mains = list(spec.get("containers") or ())
        scratch = self.workdir / pod_name
        scratch.mkdir(parents=True)
        try:
            mounts = self._volumes(ns, spec.get("volumes") or (), scratch)
        except _Pending as e:
            reason, message = e.args
            waiting = {"waiting": {"reason": reason, "message": message}}
            pod["status"] = {
                "phase": "Pending",
                "initContainerStatuses": [{"name": c["name"], "state": waiting, "ready": False} for c in inits],
                "containerStatuses": [{"name": c["name"], "state": waiting, "ready": False} for c in mains],
            }
            self.store.upsert(pod)
            return "Pending"
        init_status: list[dict[str, Any]] = []
        main_status: list[dict[str, Any]] = []
        phase = "Succeeded"
        for c in inits:
            st = self._run_container(ns, pod_name, c, mounts, scratch)
            init_status.append(st)
            if st["state"]["terminated"]["exitCode"] != 0:
                phase = "Failed"
                break
        if phase == "Failed":
            waiting = {"waiting": {"reason": "PodInitializing"}}
            main_status = [{"name": c["name"], "state": waiting, "ready": False} for c in mains]
        else:
            for c in mains:
                st = self._run_container(ns, pod_name, c, mounts, scratch)
                main_status.append(st)
                if st["state"]["terminated"]["exitCode"] != 0:
                    phase = "Failed"
        pod["status"] = {"phase": phase, "initContainerStatuses": init_status, "containerStatuses": main_status}
        self.store.upsert(pod)
        return phase

    def _volumes(self, ns: str, volumes: Sequence[Mapping[str, Any]], scratch: Path) -> dict[str, Path]:
        """volume name -> the directory standing in for it."""
        out: dict[str, Path] = {}
        for v in volumes:
            if "persistentVolumeClaim" in v:
                out[v["name"]] = self._claim(ns, str(v["persistentVolumeClaim"]["claimName"]))
            elif "secret" in v:
                secret = self.store.types[("", "secrets")].objects.get((ns, v["secret"]["secretName"]))
                if secret is None:
                    raise _Pending(
                        "ContainerCreating", f'MountVolume.SetUp failed: secret "{v["secret"]["secretName"]}" not found'
                    )
                d = scratch / "volumes" / v["name"]
                d.mkdir(parents=True)
                for k, b64 in (secret.get("data") or {}).items():
                    (d / k).write_bytes(base64.b64decode(b64))
                out[v["name"]] = d
            elif "emptyDir" in v:
                d = scratch / "volumes" / v["name"]
                d.mkdir(parents=True)
                out[v["name"]] = d
        return out

    def _claim(self, ns: str, claim: str) -> Path:
        """The directory of a claim's volume: known, provisioned now (empty, or cloned from a snapshot's
        source claim), or the Pod cannot start."""
        have = self.volumes.get((ns, claim))
        if have is not None:
            return have
        pvc = self.store.types[("", "persistentvolumeclaims")].objects.get((ns, claim))
        if pvc is None:
            raise _Pending("ContainerCreating", f'persistentvolumeclaim "{claim}" not found')
        d = self.workdir / "pv" / f"{ns}-{claim}-{uuid.uuid4().hex[:6]}"
        source = (pvc.get("spec") or {}).get("dataSource") or {}
        if source.get("kind") == "VolumeSnapshot":
            snaps = self.store.types.get(("snapshot.storage.k8s.io", "volumesnapshots"))
            snap = snaps.objects.get((ns, source.get("name"))) if snaps is not None else None
            origin = ((snap or {}).get("spec") or {}).get("source", {}).get("persistentVolumeClaimName")
            if origin is None or (ns, origin) not in self.volumes:
                raise _Pending("ContainerCreating", f"volume snapshot {source.get('name')} is not ready")
            shutil.copytree(self.volumes[(ns, origin)], d, symlinks=True)
        else:
            d.mkdir(parents=True)
        self.volumes[(ns, claim)] = d
        return d

    def _run_container(
        self, ns: str, pod: str, c: Mapping[str, Any], volumes: Mapping[str, Path], scratch: Path
    ) -> dict[str, Any]:
        image = self.images.get(str(c.get("image")))
        if image is None:
            raise AssertionError(f"the job runner knows no image {c.get('image')}")
        term_path = str(c.get("terminationMessagePath") or DEFAULT_TERMINATION_LOG)
        term_file = scratch / f"{c['name']}.termination-log"
        term_file.write_bytes(b"")
        table = sorted(
            [(str(m["mountPath"]), str(volumes[m["name"]])) for m in c.get("volumeMounts") or ()]
            + [(term_path, str(term_file))],
            key=lambda p: -len(p[0]),
        )

        def local(value: str) -> str:
            for path, where in table:
                if value == path or value.startswith(path.rstrip("/") + "/"):
                    return where + value[len(path) :]
            return value

        argv = [*(c.get("command") or image.entrypoint), *(local(str(a)) for a in c.get("args") or ())]
        env = dict(image.env)
        env.update({str(e["name"]): local(str(e.get("value", ""))) for e in c.get("env") or ()})
        cwd = local(str(c["workingDir"])) if c.get("workingDir") else str(scratch)
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=600, check=False)
        log = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.api.pod_logs[(ns, pod, str(c["name"]))] = log
        message = term_file.read_text(errors="replace")
        if not message and p.returncode != 0 and c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = "\n".join(log.splitlines()[-80:])[-2048:]
        terminated: dict[str, Any] = {
            "exitCode": p.returncode,
            "reason": "Completed" if p.returncode == 0 else "Error",
            "startedAt": _now(),
            "finishedAt": _now(),
        }
        if message:
            terminated["message"] = message[:4096]
        return {"name": c["name"], "state": {"terminated": terminated}, "ready": False, "restartCount": 0}


def kubefort_image() -> Image:
    """kubefort's image: this checkout's kubefort, run by this interpreter."""
    import kubefort

    src = str(Path(kubefort.__file__).resolve().parents[1])
    return Image([sys.executable, "-c", "from kubefort.cli import main; main()"], {"PYTHONPATH": src})


def restic_image() -> Image:
    """A restic image: Debian's restic on the PATH."""
    exe = shutil.which("restic")
    if exe is None:
        raise RuntimeError("restic not installed")
    return Image([exe], {"PATH": os.environ.get("PATH", "")})
