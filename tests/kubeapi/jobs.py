"""A stand-in for the Job controller, the CSI snapshotter and the kubelet, for kubefort's volume Jobs.

No kubelet runs where kubefort is tested, so the Jobs kubefort creates in the test API server would
never run. :class:`JobRunner` watches the server's store for Jobs labelled
``app.kubernetes.io/managed-by=kubefort`` and runs them as a node would, with the **real** programs of
their containers, and writes back what a cluster writes:

- a Pod per attempt (labels ``job-name``, ``batch.kubernetes.io/job-name``, ``controller-uid``; owner
  reference to the Job), up to ``backoffLimit`` retries;
- volumes: a ``persistentVolumeClaim`` is a directory standing in for the claim's volume
  (:attr:`JobRunner.volumes`; a claim that exists in the store but has no directory yet, or whose
  directory was provisioned for an earlier claim of that name, is provisioned empty, or, with a
  ``dataSource`` naming a VolumeSnapshot, as a copy of the snapshot's source claim: what a CSI
  driver's clone gives); a ``secret`` volume is laid out as the kubelet's AtomicWriter writes it
  (``KEY -> ..data/KEY`` symlinks, ``defaultMode`` or the item's ``mode``, with the Pod's ``fsGroup``
  as group and group read); a ``projected`` volume holds the Pod's ServiceAccount token (one the test
  API server takes for that account), ConfigMap keys (``kube-root-ca.crt``: the cluster CA) and the
  namespace; an ``emptyDir`` is an empty directory. A claim or Secret that does not exist leaves the
  Pod ``Pending`` with its containers waiting in ``ContainerCreating``, as a failed mount does;
- containers: init containers one after the other, then the containers; each is ``command`` (or the
  image's entrypoint, from :attr:`JobRunner.images`) + ``args``, run as a local process whose mount
  paths, ``workingDir`` and environment values are rewritten to the directories above (a path under a
  ``mountPath`` becomes the same path under its directory); its environment is the image's and the
  container's only, and ``KUBECONFIG`` when it mounts a ServiceAccount token at
  ``/var/run/secrets/kubernetes.io/serviceaccount``: a kubeconfig naming the same projected token and
  CA (the in-cluster configuration, whose fixed path a process here cannot see); each Job runs on a
  thread of its own (a CronJob's kubefort waits for the Jobs it creates);
- the termination message: the file at ``terminationMessagePath`` (``/dev/termination-log``), or with
  ``FallbackToLogsOnError`` and a non-zero exit the end of the output (80 lines, 2048 bytes), at most
  4096 bytes, in ``status.containerStatuses[].state.terminated.message``; the output is kept as the
  container's log (``GET pods/NAME/log?container=C``);
- the Job's status: ``succeeded``/``failed`` counts and the ``Complete`` or ``Failed``
  (``BackoffLimitExceeded``) condition with their ``SuccessCriteriaMet``/``FailureTarget`` forerunners;
- read-only mounts: a mount with ``readOnly: true``, every mount of a ``persistentVolumeClaim`` volume
  with ``readOnly: true`` and every ``secret`` volume (the kubelet mounts those read-only) are read-only
  for the container's process. ``readonly="mount"`` (the default when the runner may: root with
  ``unshare``): the process runs in a mount namespace of its own where each such directory is
  bind-mounted read-only over itself, so a write fails as in a Pod (``EROFS``, "Read-only file
  system"). ``readonly="copy"`` (the fallback): the process gets a copy of the directory; a change
  found in the copy when it ends fails the container (exit 1, termination message ``wrote into the
  read-only mount ...``) and never reaches the volume: the write itself is not refused as it happens.

What it does not do: isolation (no container: the processes see the machine's file system, network and
processes), the user the containers run as (``runAsUser``, ``runAsGroup``, ``fsGroup`` are not applied:
the processes run as the test's user; switching to another UID would need root, and kubefort's image
here is this interpreter, which other UIDs may not be able to run, e.g. a pyenv under ``/root``), image
pulls, resource limits, ``activeDeadlineSeconds``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Collection, Mapping, Sequence
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

    def __init__(
        self, api: KubeAPIServer, images: Mapping[str, Image], workdir: Path, *, readonly: str = "auto"
    ) -> None:
        if readonly not in ("auto", "mount", "copy"):
            raise ValueError(f"readonly={readonly!r}: auto, mount or copy")
        self.readonly = ("mount" if can_mount_read_only() else "copy") if readonly == "auto" else readonly
        self.api = api
        self.store = api.store
        self.images = dict(images)
        self.workdir = workdir
        self.volumes: dict[tuple[str, str], Path] = {}  # (namespace, claim) -> the directory of its volume
        # (namespace, claim) -> the uid of the claim a volume was provisioned for: a claim deleted and made
        # again (a namespace replaced) gets a new, empty volume
        self._provisioned: dict[tuple[str, str], str] = {}
        self.ran: list[tuple[str, str]] = []  # (namespace, job) in the order they ran
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs: list[threading.Thread] = []  # each Job runs on its own, as on a node with room for all

    def __enter__(self) -> JobRunner:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        for t in self._jobs:
            t.join(timeout=60)

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
            for job in todo:  # a Job whose process waits for other Jobs (kubefort's CronJobs) must not block them
                t = threading.Thread(target=self._run_job, args=(job,), daemon=True)
                self._jobs.append(t)
                t.start()
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
            mounts = self._volumes(
                ns,
                spec.get("volumes") or (),
                scratch,
                str(spec.get("serviceAccountName") or "default"),
                (spec.get("securityContext") or {}).get("fsGroup"),
            )
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
        ro = {
            str(v["name"])
            for v in spec.get("volumes") or ()
            if "secret" in v or (v.get("persistentVolumeClaim") or {}).get("readOnly") is True
        }
        for c in inits:
            st = self._run_container(ns, pod_name, c, mounts, scratch, ro)
            init_status.append(st)
            if st["state"]["terminated"]["exitCode"] != 0:
                phase = "Failed"
                break
        if phase == "Failed":
            waiting = {"waiting": {"reason": "PodInitializing"}}
            main_status = [{"name": c["name"], "state": waiting, "ready": False} for c in mains]
        else:
            for c in mains:
                st = self._run_container(ns, pod_name, c, mounts, scratch, ro)
                main_status.append(st)
                if st["state"]["terminated"]["exitCode"] != 0:
                    phase = "Failed"
        pod["status"] = {"phase": phase, "initContainerStatuses": init_status, "containerStatuses": main_status}
        self.store.upsert(pod)
        return phase

    def _volumes(
        self, ns: str, volumes: Sequence[Mapping[str, Any]], scratch: Path, account: str, fs_group: int | None
    ) -> dict[str, Path]:
        """volume name -> the directory standing in for it."""
        out: dict[str, Path] = {}
        for v in volumes:
            if "projected" in v:
                d = scratch / "volumes" / v["name"]
                d.mkdir(parents=True)
                for source in v["projected"].get("sources") or ():
                    self._project(ns, account, source, d)
                out[v["name"]] = d
                continue
            if "persistentVolumeClaim" in v:
                out[v["name"]] = self._claim(ns, str(v["persistentVolumeClaim"]["claimName"]))
            elif "secret" in v:
                secret = self.store.types[("", "secrets")].objects.get((ns, v["secret"]["secretName"]))
                if secret is None:
                    raise _Pending(
                        "ContainerCreating", f'MountVolume.SetUp failed: secret "{v["secret"]["secretName"]}" not found'
                    )
                d = scratch / "volumes" / v["name"]
                files = {k: base64.b64decode(b64) for k, b64 in (secret.get("data") or {}).items()}
                _atomic_writer(d, files, v["secret"], fs_group)
                out[v["name"]] = d
            elif "emptyDir" in v:
                d = scratch / "volumes" / v["name"]
                d.mkdir(parents=True)
                out[v["name"]] = d
        return out

    def _project(self, ns: str, account: str, source: Mapping[str, Any], d: Path) -> None:
        """One source of a projected volume: the Pod's ServiceAccount token (one the API server takes for
        that account), a ConfigMap's keys (``kube-root-ca.crt``: the cluster CA, as the root-CA
        publisher puts it in every namespace), the Pod's namespace from the downward API."""
        if "serviceAccountToken" in source:
            token = self.api.service_account_token(ns, account)
            (d / str(source["serviceAccountToken"].get("path") or "token")).write_text(token)
        elif "configMap" in source:
            name = str(source["configMap"]["name"])
            cm = self.store.types[("", "configmaps")].objects.get((ns, name))
            data = dict((cm or {}).get("data") or {})
            if cm is None and name == "kube-root-ca.crt":
                data = {"ca.crt": self.api.ca.pem.decode()}
            items = source["configMap"].get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                (d / str(item["path"])).write_text(data[item["key"]])
        elif "downwardAPI" in source:
            for item in source["downwardAPI"].get("items") or ():
                field_path = (item.get("fieldRef") or {}).get("fieldPath")
                if field_path != "metadata.namespace":
                    raise AssertionError(f"the job runner projects no {field_path}")
                (d / str(item["path"])).write_text(ns)
        else:
            raise AssertionError(f"the job runner projects no {sorted(source)}")

    def _claim(self, ns: str, claim: str) -> Path:
        """The directory of a claim's volume: known, provisioned now (empty, or cloned from a snapshot's
        source claim), or the Pod cannot start."""
        pvc = self.store.types[("", "persistentvolumeclaims")].objects.get((ns, claim))
        have = self.volumes.get((ns, claim))
        if have is not None and (pvc is None or self._provisioned.get((ns, claim)) in (None, pvc["metadata"]["uid"])):
            return have  # the test's volume, or the one provisioned for this claim (not for a deleted one)
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
        self._provisioned[(ns, claim)] = pvc["metadata"]["uid"]
        return d

    def _run_container(
        self,
        ns: str,
        pod: str,
        c: Mapping[str, Any],
        volumes: Mapping[str, Path],
        scratch: Path,
        ro_volumes: Collection[str] = (),
    ) -> dict[str, Any]:
        image = self.images.get(str(c.get("image")))
        if image is None:
            raise AssertionError(f"the job runner knows no image {c.get('image')}")
        term_path = str(c.get("terminationMessagePath") or DEFAULT_TERMINATION_LOG)
        term_file = scratch / f"{c['name']}.termination-log"
        term_file.write_bytes(b"")
        mounts: list[tuple[str, str]] = []
        read_only: list[tuple[str, Path, Path]] = []  # (mountPath, the volume's directory, what the process sees)
        for m in c.get("volumeMounts") or ():
            where = volumes[m["name"]]
            if m.get("readOnly") is True or m["name"] in ro_volumes:
                seen = where
                if self.readonly == "copy":
                    seen = scratch / "read-only" / f"{c['name']}-{m['name']}"
                    shutil.copytree(where, seen, symlinks=True)
                read_only.append((str(m["mountPath"]), where, seen))
                where = seen
            mounts.append((str(m["mountPath"]), str(where)))
        table = sorted([*mounts, (term_path, str(term_file))], key=lambda p: -len(p[0]))

        def local(value: str) -> str:
            for path, where in table:
                if value == path or value.startswith(path.rstrip("/") + "/"):
                    return where + value[len(path) :]
            return value

        argv = [*(c.get("command") or image.entrypoint), *(local(str(a)) for a in c.get("args") or ())]
        if read_only and self.readonly == "mount":
            argv = [*READ_ONLY_WRAPPER, str(len(read_only)), *(str(d) for _, d, _ in read_only), *argv]
        env = dict(image.env)
        env.update({str(e["name"]): local(str(e.get("value", ""))) for e in c.get("env") or ()})
        account = next((where for path, where in mounts if path == SERVICE_ACCOUNT_DIR), None)
        if account is not None:
            env["KUBECONFIG"] = self._in_cluster_config(Path(account), scratch / f"{c['name']}.kubeconfig")
        cwd = local(str(c["workingDir"])) if c.get("workingDir") else str(scratch)
        p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=600, check=False)
        log = (p.stdout + p.stderr).decode("utf-8", "replace")
        code = p.returncode
        if self.readonly == "copy":
            written = [f"{path} ({', '.join(d[:3])})" for path, vol, seen in read_only if (d := _changes(vol, seen))]
            if written:
                code = code or 1
                log += f"wrote into the read-only mount {'; '.join(written)}\n"
                term_file.write_text(f"wrote into the read-only mount {'; '.join(written)}")
        self.api.pod_logs[(ns, pod, str(c["name"]))] = log
        message = term_file.read_text(errors="replace")
        if not message and code != 0 and c.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            message = "\n".join(log.splitlines()[-80:])[-2048:]
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": _now(),
            "finishedAt": _now(),
        }
        if message:
            terminated["message"] = message[:4096]
        return {"name": c["name"], "state": {"terminated": terminated}, "ready": False, "restartCount": 0}

    def _in_cluster_config(self, account: Path, path: Path) -> str:
        """The in-cluster configuration of a container that mounts its ServiceAccount's token, as a
        kubeconfig: a client in a Pod finds the API server from ``KUBERNETES_SERVICE_HOST`` and reads
        the token and CA at the fixed path :data:`SERVICE_ACCOUNT_DIR`, which a process here cannot see
        (it is the path of no directory of ours); the kubeconfig names the same projected files."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "in-cluster",
                    "cluster": {"server": self.api.url, "certificate-authority": str(account / "ca.crt")},
                }
            ],
            "users": [{"name": "service-account", "user": {"tokenFile": str(account / "token")}}],
            "contexts": [{"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account"}}],
            "current-context": "in-cluster",
        }
        path.write_text(json.dumps(doc))
        return str(path)


def _atomic_writer(d: Path, files: Mapping[str, bytes], source: Mapping[str, Any], fs_group: int | None) -> None:
    """A Secret volume as the kubelet writes it (its AtomicWriter): the files in a timestamped directory,
    ``..data`` a symlink to it, each key a symlink ``KEY -> ..data/KEY``; the mode ``defaultMode``
    (0644 unless set) or the item's ``mode``; with the Pod's ``fsGroup`` the files and directories
    belong to that group and are group-readable (a read-only volume's ownership: ``mode | 0440``,
    directories also setgid and group-searchable), as ``SetVolumeOwnership`` does."""
    items = source.get("items") or [{"key": k, "path": k} for k in sorted(files)]
    stamp = d / f"..{dt.datetime.now(dt.UTC):%Y_%m_%d_%H_%M_%S.%f}"
    stamp.mkdir(parents=True)
    for item in items:
        target = stamp / str(item["path"])
        target.write_bytes(files[item["key"]])
        mode = int(item.get("mode", source.get("defaultMode", 0o644)))
        if fs_group is not None:
            with contextlib.suppress(PermissionError):  # a user may give its files only to its own groups
                os.lchown(target, -1, int(fs_group))
            mode |= 0o440
        target.chmod(mode)
    (d / "..data").symlink_to(stamp.name)
    for item in items:
        (d / str(item["path"])).symlink_to(f"..data/{item['path']}")
    if fs_group is not None:
        for sub in (d, stamp):
            with contextlib.suppress(PermissionError):
                os.lchown(sub, -1, int(fs_group))
            sub.chmod(sub.stat().st_mode | 0o2550)


#: where a Pod's ServiceAccount token, CA and namespace are mounted
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

#: ``unshare -m`` (a mount namespace of the process's own) running a shell that bind-mounts each of the
#: first N arguments read-only over itself, then executes the rest: what a kubelet's read-only bind
#: mount does to the container's view
READ_ONLY_WRAPPER = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind -o ro "$1" "$1" || exit 125; shift; n=$((n-1)); done; '
    # the working directory again through the new mounts (the process's was taken before them)
    'cd "$(pwd -P)" || exit 125; exec "$@"',
    "read-only-mounts",
)


def can_mount_read_only() -> bool:
    """Whether this process may run :data:`READ_ONLY_WRAPPER`: root, ``unshare`` installed and mount
    namespaces allowed (a container without ``CAP_SYS_ADMIN`` refuses them)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        probe = [*READ_ONLY_WRAPPER, "1", d, "sh", "-c", f"! touch {d}/probe 2>/dev/null"]
        return subprocess.run(probe, capture_output=True, timeout=30, check=False).returncode == 0


def _changes(volume: Path, seen: Path) -> list[str]:
    """The paths that differ between a volume and the copy a container saw (content, type, mode; added or
    removed), relative to the volume."""

    def tree(root: Path) -> dict[str, tuple[int, bytes]]:
        out = {}
        for d, dirs, files in os.walk(root):
            for n in dirs + files:
                p = Path(d) / n
                st = p.lstat()
                if p.is_symlink():
                    data = os.readlink(p).encode()
                elif p.is_file():
                    with p.open("rb") as f:
                        data = hashlib.file_digest(f, "sha256").digest()
                else:
                    data = b""
                out[str(p.relative_to(root))] = (st.st_mode, data)
        return out

    a, b = tree(volume), tree(seen)
    return sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))


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
