"""Application backups: the objects of namespaces (and the cluster-scoped objects they depend on), kept
in the same repository as the etcd backups, and restored into another cluster with a drill report.

Why here and not in a package of its own: the repository (blobs, encryption, signed chain) is
:mod:`.repo` and :mod:`.ops`; a namespace backup is one more kind of backup record in it (kind
``namespaces``, one blob of role ``namespaces``), listed, verified and pruned like the others. The
cluster is read and written through :mod:`kubefort.loading.cluster` (discovery, paginated lists, the
official client's authentication, retries and rate limit), as scans and ``scan --apply`` do.

What a backup holds (a tar, encrypted and signed like every blob of the repository):

- ``kubefort-app-manifest.json``: the namespaces, every object included (kind, namespace, name, file)
  and every object or type skipped, with why;
- ``<namespace or _cluster>/<Kind[.group]>/<name>.json``: each object, cleaned of what the API server
  sets (:func:`clean_object`), so that it can be applied to another cluster.

Secrets are included with their values: the repository has no unencrypted mode (AES-256-GCM, key
file), so a Secret is never stored in clear; their values are never printed (the manifest lists
names only).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ...errors import UsageError
from ...loading.cluster.discovery import Discovery, ResourceType, discover
from ...loading.cluster.reader import ClusterSource, Unreadable, list_type
from ...loading.cluster.transport import ApiError, ClusterError, RequestLimits, Transport, load_client
from ...loading.compact import unshared
from .jobs import VolumeRun, run_volume_jobs
from .ops import DEFAULT_LEVEL, open_blob, seal_and_commit
from .repo import ChainState, RepoIssue, Repository
from .volumes import (
    VolumeTarget,
    restic_check,
    restic_lock_issues,
    restic_snapshot_ids,
    volume_jobs,
    volume_restore_jobs,
)

APP_ROLE = "namespaces"
APP_KIND = "namespaces"
MANIFEST = "kubefort-app-manifest.json"
FIELD_MANAGER = "kubefort-restore"
VOLUME_FIELD_MANAGER = "kubefort-volume-jobs"
APPLY_PATCH = "application/apply-patch+yaml"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

#: metadata fields the API server sets: never applied back
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
#: annotations that bind a claim to one volume of one cluster (the PV controller sets them)
PVC_BINDING_ANNOTATIONS = (
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
)
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"

#: types never backed up, with why: the cluster derives them from other objects
DERIVED_TYPES: Mapping[tuple[str, str], str] = {
    ("", "Event"): "derived: events record the past and are recreated by the cluster",
    ("events.k8s.io", "Event"): "derived: events record the past and are recreated by the cluster",
    ("", "Endpoints"): "derived: the endpoints controller rebuilds them from the Services",
    ("discovery.k8s.io", "EndpointSlice"): "derived: the EndpointSlice controller rebuilds them from the Services",
    ("metrics.k8s.io", "PodMetrics"): "not stored: metrics are measured, not kept",
    ("coordination.k8s.io", "Lease"): "derived: leases are held by running processes and renewed by them",
    ("authorization.k8s.io", "LocalSubjectAccessReview"): "not stored: a request, not an object",
}

#: the order of a restore: kind -> phase (anything else: OTHERS)
PHASES: Mapping[str, int] = {
    "CustomResourceDefinition": 0,
    "Namespace": 1,
    "ServiceAccount": 2,
    "ClusterRole": 2,
    "Role": 2,
    "RoleBinding": 2,
    "ConfigMap": 3,
    "Secret": 3,
    "StorageClass": 4,
    "PersistentVolume": 4,
    "PersistentVolumeClaim": 4,
    "Service": 5,
    "Deployment": 6,
    "StatefulSet": 6,
    "DaemonSet": 6,
    "ReplicaSet": 6,
    "ReplicationController": 6,
    "Job": 6,
    "CronJob": 6,
    "Pod": 6,
}
OTHERS = 7
PHASE_NAMES = ("CRDs", "namespaces", "RBAC", "config", "storage", "services", "workloads", "others")


def type_key(api_version: str, kind: str) -> tuple[str, str]:
    """(group, kind) of an object's apiVersion and kind."""
    return (api_version.rpartition("/")[0], kind)


def kind_name(api_version: str, kind: str) -> str:
    group = api_version.rpartition("/")[0]
    return f"{kind}.{group}" if group else kind


def describe(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{obj.get('kind')} {ns}/{md.get('name')}" if ns else f"{obj.get('kind')} {md.get('name')}"


# -- cleaning ------------------------------------------------------------------------------------------


def clean_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` without what the API server or the controllers of one cluster set: the server's
    metadata (:data:`SERVER_METADATA`), ``status``, kubectl's last-applied annotation, the uids of
    owner references (a uid names an object of one cluster: the restore finds the owner again), a
    Service's cluster IPs (allocated by the cluster; ``None``, a headless Service, is kept), a claim's
    binding to a volume (``volumeName`` and the PV controller's annotations: the restored claim gets
    a volume of the target cluster), a PV's binding to a claim's uid, and a Pod's node."""
    out: dict[str, Any] = unshared(obj)
    out.pop("status", None)
    md = out.setdefault("metadata", {})
    for k in SERVER_METADATA:
        md.pop(k, None)
    notes = md.get("annotations")
    applied: Any = None
    if isinstance(notes, dict):
        try:
            applied = json.loads(notes.get(LAST_APPLIED) or "null")
        except ValueError:
            applied = None
        notes.pop(LAST_APPLIED, None)
        if out.get("kind") == "PersistentVolumeClaim":
            for k in PVC_BINDING_ANNOTATIONS:
                notes.pop(k, None)
        if not notes:
            md.pop("annotations", None)
    refs = md.get("ownerReferences")
    if isinstance(refs, list):
        md["ownerReferences"] = [{k: v for k, v in r.items() if k != "uid"} for r in refs if isinstance(r, dict)]
    spec = out.get("spec")
    kind, group = out.get("kind"), type_key(str(out.get("apiVersion", "")), "")[0]
    if isinstance(spec, dict) and group == "":
        if kind == "Service":
            if spec.get("clusterIP") != "None":
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            _node_ports(spec, applied)
        elif kind == "PersistentVolumeClaim":
            spec.pop("volumeName", None)
        elif kind == "PersistentVolume":
            ref = spec.get("claimRef")
            if isinstance(ref, dict):
                for k in ("uid", "resourceVersion"):
                    ref.pop(k, None)
        elif kind == "Pod":
            spec.pop("nodeName", None)
    labels = md.get("labels")
    if kind == "Namespace" and isinstance(labels, dict):
        labels.pop("kubernetes.io/metadata.name", None)  # the API server sets it to the (new) name
        if not labels:
            md.pop("labels", None)
    return out


def _node_ports(spec: dict[str, Any], applied: Any) -> None:
    """Node ports are allocated by the cluster unless the user chose them: keep those that kubectl's
    last applied configuration names (as Velero does), drop the others (they may be taken in the
    target cluster)."""
    chosen: set[int] = set()
    aspec = applied.get("spec") if isinstance(applied, dict) else None
    if isinstance(aspec, dict):
        chosen = {p["nodePort"] for p in aspec.get("ports") or () if isinstance(p, dict) and "nodePort" in p}
        if "healthCheckNodePort" in aspec:
            chosen.add(aspec["healthCheckNodePort"])
    for p in spec.get("ports") or ():
        if isinstance(p, dict) and p.get("nodePort") not in chosen:
            p.pop("nodePort", None)
    if spec.get("healthCheckNodePort") not in chosen:
        spec.pop("healthCheckNodePort", None)


def derived_reason(obj: Mapping[str, Any], t: ResourceType) -> str | None:
    """Why ``obj`` is not backed up (the cluster makes it again from another object, or it is kubefort's
    own backup machinery, which the schedule and the restore make again), or None."""
    why = DERIVED_TYPES.get((t.group, t.kind))
    if why is not None:
        return why
    md = obj.get("metadata") or {}
    controller = next(
        (r for r in md.get("ownerReferences") or () if isinstance(r, dict) and r.get("controller")),
        None,
    )
    if controller is not None and t.group in ("", "apps", "batch") and t.kind in ("Pod", "ReplicaSet", "Job"):
        return f"derived: made by its controller, {controller.get('kind')} {controller.get('name')}"
    if t.group == "apps" and t.kind == "ControllerRevision" and controller is not None:
        return f"derived: a revision kept by {controller.get('kind')} {controller.get('name')}"
    if t.group == "" and t.kind == "ConfigMap" and md.get("name") == "kube-root-ca.crt":
        return "derived: published in every namespace by the root CA controller"
    if t.group == "" and t.kind == "Secret" and obj.get("type") == "kubernetes.io/service-account-token":
        return "derived: a service account token, issued again by the cluster"
    labels = md.get("labels") or {}
    if labels.get("app.kubernetes.io/managed-by") == "kubefort" and labels.get("app.kubernetes.io/component") in (
        "app-backup",
        "volume-backup",
    ):
        # restored, the schedule's Roles would grant the backup's account rights in the drill's namespace
        # (and fail the escalation check), and old volume Jobs would run again there
        return "kubefort's own: the backup's RBAC (kubefort backup schedule) or volume Jobs, made again by them"
    return None


# -- the archive ---------------------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class AppArchive:
    """The content of a namespace backup: the manifest and the cleaned objects, in file order."""

    manifest: dict[str, Any]
    objects: list[dict[str, Any]] = field(default_factory=list)


def pack(archive: AppArchive) -> bytes:
    """The tar of an archive: the manifest first, then one JSON file per object (mtime 0, mode 0600)."""
    buf = io.BytesIO()

    def add(name: str, data: bytes) -> None:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = len(data), 0o600, 0
        tar.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w") as tar:
        add(MANIFEST, orjson.dumps(archive.manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
        for entry, obj in zip(archive.manifest["included"], archive.objects, strict=True):
            add(entry["file"], orjson.dumps(obj, option=orjson.OPT_SORT_KEYS))
    return buf.getvalue()


def unpack(data: bytes) -> AppArchive:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        files: dict[str, bytes] = {}
        for m in tar.getmembers():
            fh = tar.extractfile(m) if m.isfile() else None
            if fh is not None:
                files[m.name] = fh.read()
    if MANIFEST not in files:
        raise UsageError(f"the backup holds no {MANIFEST}: not a namespace backup")
    manifest = json.loads(files[MANIFEST])
    objects = [orjson.loads(files[e["file"]]) for e in manifest["included"]]
    return AppArchive(manifest=manifest, objects=objects)


def _file_name(obj: Mapping[str, Any], seen: set[str]) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or "_cluster"
    base = f"{ns}/{kind_name(str(obj['apiVersion']), str(obj['kind']))}/{str(md.get('name')).replace('/', '_')}"
    name, i = f"{base}.json", 1
    while name in seen:
        i += 1
        name = f"{base}~{i}.json"
    seen.add(name)
    return name


# -- backup --------------------------------------------------------------------------------------------


def _connect(source: ClusterSource) -> tuple[Transport, str]:
    api, endpoint = load_client(source.kubeconfig, source.context)
    transport = Transport(
        api, qps=source.qps, burst=source.burst, limits=RequestLimits(request_timeout=source.request_timeout)
    )
    return transport, endpoint.context


def _get(transport: Transport, t: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
    try:
        obj = transport.get(f"{t.path(namespace)}/{name}").json()
    except ApiError as e:
        if e.status == 404:
            return None
        raise
    if not isinstance(obj, dict):
        return None
    if "kind" not in obj:
        obj = {"apiVersion": t.api_version, "kind": t.kind, **obj}
    return obj


def _type(disc: Discovery, group: str, kind: str) -> ResourceType | None:
    return next((t for t in disc.resources if t.group == group and t.kind == kind), None)


def read_namespaces(
    transport: Transport,
    namespaces: Sequence[str],
    *,
    page_size: int = 500,
    progress: Callable[[str], None] | None = None,
) -> AppArchive:
    """Read every listable namespaced type of ``namespaces`` (discovery: not only the kinds rules read),
    skip what the cluster derives, add the cluster-scoped objects they depend on, clean them all."""
    disc = discover(transport)
    namespaced = [t for t in disc.resources if t.namespaced]
    types = disc.for_kinds({t.kind for t in namespaced})
    types = [t for t in types if t.namespaced]
    included: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen_files: set[str] = set()
    seen_keys: set[tuple[str, str, str, str]] = set()
    raw_kept: list[dict[str, Any]] = []

    def keep(obj: dict[str, Any]) -> None:
        md = obj.get("metadata") or {}
        key = (*type_key(str(obj["apiVersion"]), str(obj["kind"])), md.get("namespace") or "", str(md.get("name")))
        if key in seen_keys:
            return
        seen_keys.add(key)
        raw_kept.append(obj)
        cleaned = clean_object(obj)
        objects.append(cleaned)
        included.append(
            {
                "apiVersion": obj["apiVersion"],
                "kind": obj["kind"],
                "namespace": md.get("namespace"),
                "name": md.get("name"),
                "file": _file_name(cleaned, seen_files),
            }
        )

    ns_type = _type(disc, "", "Namespace")
    missing = []
    for ns in namespaces:
        obj = _get(transport, ns_type, None, ns) if ns_type is not None else None
        if obj is None:
            missing.append(ns)
            continue
        keep(obj)
    if missing:
        raise UsageError(f"no namespace {', '.join(missing)} in the cluster")
    for ns in namespaces:
        source = ClusterSource(namespace=ns, secret_values=True, page_size=page_size)
        for t in types:
            if progress is not None:
                progress(f"{ns}/{t.name}")
            if (t.group, t.kind) in DERIVED_TYPES:
                skipped.append({"type": t.name, "namespace": ns, "reason": DERIVED_TYPES[(t.group, t.kind)]})
                continue
            stale = disc.failed.get(t.api_version)
            if stale is not None:
                skipped.append({"type": t.name, "namespace": ns, "reason": f"not read: {stale}"})
                continue
            got = list_type(transport, t, source, 10_000_000)
            if isinstance(got, Unreadable):
                skipped.append({"type": t.name, "namespace": ns, "reason": f"not read: {got.reason}"})
                continue
            for item in got.items:
                why = derived_reason(item, t)
                md = item.get("metadata") or {}
                if why is not None:
                    skipped.append({"kind": t.kind, "namespace": ns, "name": md.get("name"), "reason": why})
                else:
                    keep(unshared(item))
    _dependencies(transport, disc, list(raw_kept), keep, skipped)
    manifest = {
        "format": "kubefort-app-backup",
        "version": 1,
        "namespaces": list(namespaces),
        "included": included,
        "skipped": skipped,
        "volume_snapshot_drivers": _snapshot_drivers(transport, disc),
    }
    return AppArchive(manifest=manifest, objects=objects)


def _dependencies(
    transport: Transport,
    disc: Discovery,
    kept: list[dict[str, Any]],
    keep: Callable[[dict[str, Any]], None],
    skipped: list[dict[str, Any]],
) -> None:
    """The cluster-scoped objects the namespaces' objects depend on: the CRDs of their custom resources,
    the ClusterRoles their RoleBindings bind, their claims' PersistentVolumes, StorageClasses and
    IngressClasses."""
    wanted: list[tuple[str, str, str, str]] = []  # (group, kind, name, why)
    builtin_groups = {t.group for t in disc.resources if t.group == "" or t.group.endswith(".k8s.io")}
    builtin_groups |= {"apps", "batch", "autoscaling", "policy"}
    for obj in kept:
        api_version, kind = str(obj["apiVersion"]), str(obj["kind"])
        group = api_version.rpartition("/")[0]
        spec: dict[str, Any] = obj["spec"] if isinstance(obj.get("spec"), dict) else {}
        if group not in builtin_groups:
            t = _type(disc, group, kind)
            if t is not None:
                wanted.append(("apiextensions.k8s.io", "CustomResourceDefinition", f"{t.resource}.{group}", kind))
        if group == "rbac.authorization.k8s.io" and kind == "RoleBinding":
            ref = obj.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole" and ref.get("name"):
                wanted.append(("rbac.authorization.k8s.io", "ClusterRole", str(ref["name"]), "RoleBinding"))
        if group == "" and kind == "PersistentVolumeClaim":
            if spec.get("volumeName"):
                wanted.append(("", "PersistentVolume", str(spec["volumeName"]), "claim"))
            if spec.get("storageClassName"):
                wanted.append(("storage.k8s.io", "StorageClass", str(spec["storageClassName"]), "claim"))
        if group == "" and kind == "PersistentVolume" and spec.get("storageClassName"):
            wanted.append(("storage.k8s.io", "StorageClass", str(spec["storageClassName"]), "volume"))
        if group == "networking.k8s.io" and kind == "Ingress" and spec.get("ingressClassName"):
            wanted.append(("networking.k8s.io", "IngressClass", str(spec["ingressClassName"]), "Ingress"))
    done: set[tuple[str, str, str]] = set()
    i = 0
    while i < len(wanted):  # a PV found through a claim may name a StorageClass in turn
        group, kind, name, why = wanted[i]
        i += 1
        if (group, kind, name) in done:
            continue
        done.add((group, kind, name))
        t = _type(disc, group, kind)
        try:
            dep = _get(transport, t, None, name) if t is not None else None
        except ApiError as e:
            skipped.append({"kind": kind, "name": name, "reason": f"not read: {e.short()}"})
            continue
        if dep is None:
            if kind != "CustomResourceDefinition":  # a type of an aggregated API server has no CRD
                skipped.append({"kind": kind, "name": name, "reason": f"named by a {why} but absent from the cluster"})
            continue
        keep(dep)
        dep_spec = dep.get("spec")
        if kind == "PersistentVolume" and isinstance(dep_spec, dict) and dep_spec.get("storageClassName"):
            wanted.append(("storage.k8s.io", "StorageClass", str(dep_spec["storageClassName"]), "volume"))


def _snapshot_drivers(transport: Transport, disc: Discovery) -> list[str]:
    """The CSI drivers with a VolumeSnapshotClass: their claims are backed up from a snapshot."""
    t = _type(disc, "snapshot.storage.k8s.io", "VolumeSnapshotClass")
    if t is None:
        return []
    got = list_type(transport, t, ClusterSource(), 10_000)
    if isinstance(got, Unreadable):
        return []
    return sorted({str(i.get("driver")) for i in got.items if i.get("driver")})


def immutability_issues(repo: Repository, days: int) -> list[RepoIssue]:
    """The bucket-level Object Lock checks of ``backup verify`` (:func:`.volumes.object_lock_issues`)."""
    from .storage import S3Storage
    from .volumes import object_lock_issues

    storage = repo.storage
    if not isinstance(storage, S3Storage):
        return [
            RepoIssue(
                "error", f"{storage.url}: a directory cannot enforce a retention of {days} days (use S3 Object Lock)"
            )
        ]
    return object_lock_issues(storage.s3, storage.bucket, days)


def backup_namespaces(
    repo: Repository,
    source: ClusterSource,
    namespaces: Sequence[str],
    *,
    level: int = DEFAULT_LEVEL,
    now: Any = None,
    lock_days: int = 0,
    volumes: VolumeTarget | None = None,
    volume_timeout: float = 3600.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Read ``namespaces`` from the cluster of ``source`` and store them as one backup of ``repo``.
    Returns the manifest record (counts; the object names are in the encrypted blob only). With
    ``lock_days`` (the retention policy), the repository must be an S3 bucket whose Object Lock
    keeps objects that long, checked first.

    With ``volumes`` (where restic writes, its image and kubefort's for the report), the claims' data
    is backed up too: the Jobs of :func:`.volumes.volume_jobs` are created in the cluster and waited
    for (``volume_timeout`` seconds), and each claim's restic snapshot ID, file count and digest go
    into the encrypted manifest (``volumes``). A claim whose Job failed is recorded with the reason
    and the backup is still made (its objects are good); the returned record's ``volumes`` lists every
    claim with ``ok`` and the reason, for the caller to report and fail on."""
    if not namespaces:
        raise UsageError("name at least one namespace to back up")
    if volumes is not None and not volumes.report_image:
        raise UsageError("volume backups need kubefort's image for the report container")
    if lock_days > 0:  # immutability is checked before every backup, not found missing afterwards
        issues = immutability_issues(repo, lock_days)
        if volumes is not None:  # the volume data's bucket too
            issues += restic_lock_issues(volumes.repository, lock_days)
        problems = [i.message for i in issues if i.level == "error"]
        if problems:
            raise UsageError(f"refusing to back up: {problems[0]}")
    started = time.monotonic()
    transport, context = _connect(source)
    runs: list[VolumeRun] = []
    try:
        archive = read_namespaces(transport, namespaces, page_size=source.page_size)
        read_s = time.monotonic() - started
        if volumes is not None:
            runs = _back_up_volumes(transport, archive, volumes, volume_timeout, progress)
            archive.manifest["volumes"] = [r.to_dict() for r in runs]
    finally:
        transport.close()
    data = pack(archive)
    kinds: dict[str, int] = {}
    for e in archive.manifest["included"]:
        k = kind_name(e["apiVersion"], e["kind"])
        kinds[k] = kinds.get(k, 0) + 1
    reasons: dict[str, int] = {}
    for s in archive.manifest["skipped"]:
        reasons[s["reason"].split(":")[0]] = reasons.get(s["reason"].split(":")[0], 0) + 1
    info: dict[str, Any] = {
        "context": context,
        "namespaces": list(namespaces),
        "objects": len(archive.objects),
        "kinds": dict(sorted(kinds.items())),
        "skipped": dict(sorted(reasons.items())),
        "read_s": round(read_s, 3),
    }
    if volumes is not None:  # counts only: the claims' names are in the encrypted manifest
        info["volumes"] = {"backed_up": sum(1 for r in runs if r.ok), "failed": sum(1 for r in runs if not r.ok)}
    rec = seal_and_commit(repo, [(APP_ROLE, data)], {"app": info}, kind=APP_KIND, level=level, now=now)
    if volumes is not None:
        rec = {**rec, "volumes": [r.to_dict() for r in runs]}
    return rec


def _back_up_volumes(
    transport: Transport,
    archive: AppArchive,
    target: VolumeTarget,
    timeout: float,
    progress: Callable[[str], None] | None,
) -> list[VolumeRun]:
    """Run the backup Jobs of the archive's claims in the cluster (snapshot first where the claim's
    StorageClass has a VolumeSnapshotClass) and return each claim's result."""
    run = os.urandom(4).hex()  # each run's Jobs get their own names
    drivers = (archive.manifest.get("volume_snapshot_drivers") or []) if target.snapshots else []
    docs = volume_jobs(archive.objects, target, drivers, run=run)
    claims = {str(d["metadata"]["name"]): _claim_of(d) for d in docs if d["kind"] == "Job"}
    applier = _Applier(transport)
    return run_volume_jobs(transport, applier.create, docs, claims, timeout=timeout, progress=progress)


def _claim_of(job: Mapping[str, Any]) -> str:
    """The claim a volume Job serves: its restic ``--tag pvc=<claim>`` (a backup from a clone mounts the
    clone) or, for a restore Job, the claim it mounts."""
    spec = job["spec"]["template"]["spec"]
    restic = (spec.get("initContainers") or spec["containers"])[0]
    args = list(restic.get("args") or ())
    for a in args:
        if a.startswith("pvc="):
            return str(a[4:])
    return str(spec["volumes"][0]["persistentVolumeClaim"]["claimName"])


def volume_issues(
    repo: Repository,
    backups: Mapping[str, dict[str, Any]],
    env: Mapping[str, str],
    *,
    deep: bool,
    skip: Iterable[str] = (),
) -> list[RepoIssue]:
    """The volume data of the namespace backups among ``backups`` (ID -> record; ``skip``: those whose
    blob is already reported broken): every restic snapshot a manifest records must still be listed by
    the restic repository of ``env`` (a snapshot forgotten or deleted, an object hidden behind an S3
    delete marker, is an error), and with ``deep`` ``restic check --read-data`` must pass (a flipped
    byte in a pack)."""
    wanted: list[tuple[str, str, str]] = []  # (backup, "ns/claim", snapshot)
    for bid, rec in backups.items():
        if rec.get("kind") != APP_KIND or bid in set(skip) or not (rec.get("app") or {}).get("volumes"):
            continue
        blob = next((b for b in rec.get("blobs", []) if b.get("role") == APP_ROLE), None)
        if blob is None:
            continue
        manifest = unpack(b"".join(open_blob(repo, blob))).manifest
        for v in manifest.get("volumes") or ():
            if v.get("ok") and v.get("snapshot"):
                wanted.append((bid, f"{v['namespace']}/{v['claim']}", str(v["snapshot"])))
    if not wanted:
        return []
    try:
        have = restic_snapshot_ids(env)
    except UsageError as e:
        return [RepoIssue("error", f"volume data: cannot list the restic repository's snapshots: {e}")]
    out = [
        RepoIssue(
            "error",
            f"backup {bid}: volume {claim}: restic snapshot {snap[:12]} is not in the restic repository "
            "(forgotten or deleted): its data cannot be restored",
        )
        for bid, claim, snap in wanted
        if snap not in have
    ]
    if deep:
        problem = restic_check(env, read_data=True)
        if problem is not None:
            out.append(RepoIssue("error", f"volume data: {problem}"))
    return out


def find_backup(repo: Repository, backup_id: str, chain: ChainState | None = None) -> dict[str, Any]:
    """The record of ``backup_id`` (an ID or a unique prefix), or with ``latest`` the newest namespace
    backup (what a scheduled drill restores)."""
    chain = chain or repo.load_chain()
    if backup_id == "latest":
        newest = [r for r in chain.backups().values() if r.get("kind") == APP_KIND]
        if not newest:
            raise UsageError(f"no namespace backup in {repo.storage.url}")
        return max(newest, key=lambda r: (str(r["created"]), str(r["id"])))
    return repo.backup(backup_id, chain)


def load_archive(repo: Repository, backup_id: str) -> tuple[dict[str, Any], AppArchive]:
    """The record and the content of a namespace backup, decrypted and checked end to end."""
    repo.check_exists()
    chain = repo.load_chain()
    if not chain.ok:
        first = next(i.message for i in chain.issues if i.level == "error")
        raise UsageError(f"the repository does not verify: {first}")
    rec = find_backup(repo, backup_id, chain)
    blob = next((b for b in rec.get("blobs", []) if b.get("role") == APP_ROLE), None)
    if blob is None:
        raise UsageError(f"backup {rec['id']} is not a namespace backup (kind {rec.get('kind')})")
    return rec, unpack(b"".join(open_blob(repo, blob)))


# -- restore -------------------------------------------------------------------------------------------


def parse_map(pairs: Iterable[str], what: str) -> dict[str, str]:
    """``old=new`` pairs of ``--namespace-map``/``--storage-class-map``."""
    out: dict[str, str] = {}
    for p in pairs:
        old, sep, new = p.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"{what} {p!r}: expected OLD=NEW")
        out[old] = new
    return out


def remap(obj: Mapping[str, Any], namespaces: Mapping[str, str], classes: Mapping[str, str]) -> dict[str, Any]:
    """``obj`` moved to the mapped namespace (its own, a Namespace's name, RoleBinding subjects, a PV's
    claim) and storage class (claims and volumes)."""
    out: dict[str, Any] = unshared(obj)
    md = out["metadata"]
    kind, group = str(out["kind"]), type_key(str(out["apiVersion"]), "")[0]
    if md.get("namespace") in namespaces:
        md["namespace"] = namespaces[md["namespace"]]
    if kind == "Namespace" and group == "" and md.get("name") in namespaces:
        md["name"] = namespaces[md["name"]]
    if kind in ("RoleBinding", "ClusterRoleBinding") and group == "rbac.authorization.k8s.io":
        for s in out.get("subjects") or ():
            if isinstance(s, dict) and s.get("namespace") in namespaces:
                s["namespace"] = namespaces[s["namespace"]]
    spec = out.get("spec")
    if isinstance(spec, dict) and group == "" and kind in ("PersistentVolumeClaim", "PersistentVolume"):
        if spec.get("storageClassName") in classes:
            spec["storageClassName"] = classes[spec["storageClassName"]]
        ref = spec.get("claimRef")
        if isinstance(ref, dict) and ref.get("namespace") in namespaces:
            ref["namespace"] = namespaces[ref["namespace"]]
    return out


def phase(obj: Mapping[str, Any]) -> int:
    return PHASES.get(str(obj.get("kind")), OTHERS)


@dataclass(slots=True, kw_only=True)
class RestoredObject:
    """One object of a restore: what was done with it and, after the drill, whether it is there."""

    key: str  # "Deployment shop/frontend"
    phase: str
    action: str  # applied | would apply | exists | skipped | failed
    detail: str = ""
    present: bool | None = None  # the drill's answer (None: not checked)
    differences: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class RestoredVolume:
    """One claim's data in a restore: what the backup recorded, what the restore Job reported."""

    claim: str  # "db-restored/data-pg-0" (where it was restored)
    source: str  # "db/data-pg-0" (the claim backed up)
    snapshot: str | None
    action: str  # restored | would restore | failed | not restored
    detail: str = ""
    files: int | None = None  # the backup's
    sha256: str | None = None
    got_files: int | None = None  # the restore Job's report
    got_sha256: str | None = None

    @property
    def equal(self) -> bool | None:
        """The drill's answer: same file count and digest as at backup time (None: not checked)."""
        if self.action != "restored":
            return None if self.action == "would restore" else False
        return self.got_files == self.files and self.got_sha256 == self.sha256

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "source": self.source,
            "snapshot": self.snapshot,
            "action": self.action,
            "detail": self.detail,
            "equal": self.equal,
            "backup": {"files": self.files, "sha256": self.sha256},
            "restored": {"files": self.got_files, "sha256": self.got_sha256},
        }


@dataclass(slots=True, kw_only=True)
class AppRestoreResult:
    backup_id: str
    context: str
    dry_run: bool
    objects: list[RestoredObject] = field(default_factory=list)
    volumes: list[RestoredVolume] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)  # target namespaces deleted first (--replace-namespaces)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.action != "failed" and o.present is not False for o in self.objects) and all(
            v.equal is not False for v in self.volumes
        )

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for o in self.objects:
            counts[o.action] = counts.get(o.action, 0) + 1
        checked = [o for o in self.objects if o.present is not None]
        return {
            "id": self.backup_id,
            "context": self.context,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "counts": dict(sorted(counts.items())),
            "drill": {
                "checked": len(checked),
                "present": sum(1 for o in checked if o.present),
                "missing_or_different": [o.key for o in checked if not o.present],
                "volumes_checked": sum(1 for v in self.volumes if v.equal is not None),
                "volumes_equal": sum(1 for v in self.volumes if v.equal),
            },
            "volumes": [v.to_dict() for v in self.volumes],
            "replaced_namespaces": list(self.replaced),
            "seconds": round(self.seconds, 3),
            "objects": [
                {
                    "object": o.key,
                    "phase": o.phase,
                    "action": o.action,
                    "detail": o.detail,
                    "present": o.present,
                    "differences": o.differences,
                }
                for o in self.objects
            ],
        }


def contained(want: Any, got: Any, path: str = "") -> list[str]:
    """Where ``got`` (read back from the cluster) does not hold ``want`` (what was applied): every field
    applied must be there with its value; fields the API server adds (defaults) are allowed."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [path or "."]
        out: list[str] = []
        for k, v in want.items():
            if k not in got:
                out.append(f"{path}.{k}")
            else:
                out.extend(contained(v, got[k], f"{path}.{k}"))
        return out
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [path]
        return [d for i, (w, g) in enumerate(zip(want, got, strict=True)) for d in contained(w, g, f"{path}[{i}]")]
    return [] if want == got else [path]


class _Applier:
    """Server-side apply of restored objects through the cluster transport, types from discovery."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.disc = discover(transport)

    def refresh(self, kinds: set[tuple[str, str]], wait: float = 30.0) -> None:
        """Discover again until ``kinds`` are served (a CRD just applied takes a moment to be)."""
        deadline = time.monotonic() + wait
        while True:
            self.disc = discover(self.transport)
            served = {(t.group, t.kind) for t in self.disc.resources}
            if kinds <= served or time.monotonic() > deadline:
                return
            time.sleep(0.5)

    def type_of(self, obj: Mapping[str, Any]) -> ResourceType:
        group, kind = type_key(str(obj["apiVersion"]), str(obj["kind"]))
        version = str(obj["apiVersion"]).rpartition("/")[2]
        t = _type(self.disc, group, kind)
        if t is None:
            raise ClusterError(f"the target cluster does not serve {obj['apiVersion']} {kind}")
        return ResourceType(
            group=t.group, version=version, resource=t.resource, kind=t.kind, namespaced=t.namespaced, verbs=t.verbs
        )

    def get(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        md = obj["metadata"]
        return _get(self.transport, self.type_of(obj), md.get("namespace"), str(md["name"]))

    def apply(self, obj: Mapping[str, Any]) -> None:
        t = self.type_of(obj)
        md = obj["metadata"]
        self.transport.request(
            "PATCH",
            f"{t.path(md.get('namespace'))}/{md['name']}",
            [("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=orjson.dumps(obj),
            content_type=APPLY_PATCH,
            ok=(200, 201),
        )

    def create(self, obj: Mapping[str, Any]) -> None:
        """Server-side apply of the objects kubefort runs (the volume Jobs and what they need)."""
        t = self.type_of(obj)
        md = obj["metadata"]
        self.transport.request(
            "PATCH",
            f"{t.path(md.get('namespace'))}/{md['name']}",
            [("fieldManager", VOLUME_FIELD_MANAGER), ("force", "true")],
            body=orjson.dumps(obj),
            content_type=APPLY_PATCH,
            ok=(200, 201),
        )

    def owners(self, obj: dict[str, Any]) -> list[str]:
        """Fill the uids of ``obj``'s owner references from the owners in the target cluster; references
        to owners that are not there are dropped (the garbage collector would delete the object)."""
        md = obj["metadata"]
        refs, kept, dropped = md.get("ownerReferences") or [], [], []
        for r in refs:
            owner = {"apiVersion": r.get("apiVersion"), "kind": r.get("kind"), "metadata": {"name": r.get("name")}}
            try:
                if self.type_of(owner).namespaced:
                    owner["metadata"]["namespace"] = md.get("namespace")
                found = self.get(owner)
            except (ClusterError, ApiError):
                found = None
            if found is None:
                dropped.append(f"{r.get('kind')} {r.get('name')}")
            else:
                kept.append({**r, "uid": found["metadata"].get("uid")})
        if kept:
            md["ownerReferences"] = kept
        else:
            md.pop("ownerReferences", None)
        return dropped


def restore_namespaces(
    repo: Repository,
    backup_id: str,
    target: ClusterSource,
    *,
    namespace_map: Mapping[str, str] | None = None,
    storage_class_map: Mapping[str, str] | None = None,
    dry_run: bool = False,
    volumes: VolumeTarget | None = None,
    volume_timeout: float = 3600.0,
    progress: Callable[[str], None] | None = None,
    replace_namespaces: bool = False,
    replace_timeout: float = 600.0,
) -> AppRestoreResult:
    """Apply a namespace backup to the cluster of ``target`` in dependency order (CRDs, namespaces, RBAC,
    config, storage, services, workloads, others; objects with owners last, their owners' uids found
    again), then read every applied object back and compare it, cleaned, with what was applied.

    Cluster-scoped objects the target already has (a StorageClass, a ClusterRole such as ``view``) are
    left as they are: a restore does not rewrite what other namespaces of that cluster use.
    Dynamically provisioned PersistentVolumes are not applied: the claim gets a new volume of its
    (mapped) StorageClass. ``dry_run``: nothing is written, the plan is reported.

    Volume data (a backup whose manifest records ``volumes``): once the claims are applied and before
    the services and workloads, the restore Jobs of :func:`.volumes.volume_restore_jobs` restore each
    claim's recorded restic snapshot into the new claim (``volumes``: where restic reads, its image
    and kubefort's) and are waited for; the drill then compares each claim's file count and digest,
    as the Job's report container measured them, with the backup's. Without ``volumes`` such a
    restore reports the data as not restored, and fails.

    ``replace_namespaces`` (a drill into scratch namespaces, run again and again): every target
    namespace is deleted first and waited for (up to ``replace_timeout`` seconds) until the cluster has
    removed it with what it held, so the drill restores into empty namespaces and claims (restic does
    not remove files the backup no longer has). Refused unless every namespace of the backup is mapped
    to another name: it never deletes a namespace the backup was made from."""
    started = time.monotonic()
    namespaces = dict(namespace_map or {})
    classes = dict(storage_class_map or {})
    rec, archive = load_archive(repo, backup_id)
    unknown = sorted(set(namespaces) - set(archive.manifest["namespaces"]))
    if unknown:
        raise UsageError(f"--namespace-map {', '.join(unknown)}: not a namespace of backup {rec['id']}")
    targets = [namespaces.get(ns, ns) for ns in archive.manifest["namespaces"]]
    if replace_namespaces:
        same = [ns for ns in archive.manifest["namespaces"] if namespaces.get(ns, ns) == ns]
        if same:
            raise UsageError(
                f"--replace-namespaces deletes the target namespaces: map {', '.join(same)} to a scratch "
                "namespace (--namespace-map OLD=NEW)"
            )
    transport, context = _connect(target)
    result = AppRestoreResult(backup_id=str(rec["id"]), context=context, dry_run=dry_run)
    try:
        if replace_namespaces:
            result.replaced = targets if dry_run else _replace_namespaces(transport, targets, replace_timeout)
        applier = _Applier(transport)
        docs = [remap(o, namespaces, classes) for o in archive.objects]
        order = sorted(
            range(len(docs)), key=lambda i: (1 if docs[i]["metadata"].get("ownerReferences") else 0, phase(docs[i]))
        )
        applied: list[tuple[RestoredObject, dict[str, Any]]] = []
        crd_kinds: set[tuple[str, str]] = set()
        refreshed = False
        data_done = False
        for i in order:
            doc = docs[i]
            if not data_done and (phase(doc) >= PHASES["Service"] or doc["metadata"].get("ownerReferences")):
                data_done = True  # the claims are there, nothing that mounts them has started yet
                result.volumes = _restore_volumes(
                    transport, archive, namespaces, volumes, _claims(applied), dry_run, volume_timeout, progress
                )
            item = RestoredObject(key=describe(doc), phase=PHASE_NAMES[phase(doc)], action="applied")
            result.objects.append(item)
            if doc["kind"] == "CustomResourceDefinition":
                spec = doc.get("spec") or {}
                crd_kinds.add((str(spec.get("group")), str((spec.get("names") or {}).get("kind"))))
            elif crd_kinds and not refreshed and not dry_run:
                applier.refresh(crd_kinds)
                refreshed = True
            try:
                skip = _skip_reason(doc, applier, classes)
                if skip is not None:
                    item.action, item.detail = skip
                    continue
                if doc["metadata"].get("ownerReferences") and not dry_run:
                    dropped = applier.owners(doc)
                    if dropped:
                        item.detail = f"owner not in the target cluster, reference dropped: {', '.join(dropped)}"
                if dry_run:
                    item.action = "would apply"
                    continue
                applier.apply(doc)
                applied.append((item, doc))
            except (ApiError, ClusterError) as e:
                item.action, item.detail = "failed", str(e)
        if not data_done:
            result.volumes = _restore_volumes(
                transport, archive, namespaces, volumes, _claims(applied), dry_run, volume_timeout, progress
            )
        for item, doc in applied:  # the drill: read back, clean, compare
            try:
                got = applier.get(doc)
            except (ApiError, ClusterError) as e:
                item.present, item.differences = False, [f"cannot read back: {e}"]
                continue
            if got is None:
                item.present, item.differences = False, ["absent"]
                continue
            # what was applied (cleaned) must be in what the server holds; what it adds (defaults, its
            # own metadata, owners' uids) is allowed
            diffs = contained(clean_object(doc), got)
            item.present, item.differences = not diffs, diffs[:10]
    finally:
        transport.close()
    result.seconds = time.monotonic() - started
    return result


def _replace_namespaces(transport: Transport, names: Sequence[str], timeout: float) -> list[str]:
    """Delete the namespaces ``names`` (those that exist) and wait until the cluster has removed them
    (the namespace controller deletes what they hold first); the ones deleted."""
    deleted = []
    for ns in names:
        try:
            transport.request("DELETE", f"/api/v1/namespaces/{ns}", ok=(200, 202))
            deleted.append(ns)
        except ApiError as e:
            if e.status != 404:
                raise ClusterError(f"cannot delete namespace {ns} before the restore: {e}") from None
    deadline = time.monotonic() + timeout
    for ns in deleted:
        while True:
            try:
                transport.get(f"/api/v1/namespaces/{ns}")
            except ApiError as e:
                if e.status == 404:
                    break
                raise ClusterError(f"namespace {ns}: {e}") from None
            if time.monotonic() > deadline:
                raise ClusterError(f"namespace {ns} still terminating after {timeout:g}s: nothing restored")
            time.sleep(1.0)
    return deleted


def _claims(applied: Iterable[tuple[RestoredObject, dict[str, Any]]]) -> set[str]:
    """``namespace/name`` of the claims applied so far."""
    return {
        f"{doc['metadata'].get('namespace')}/{doc['metadata']['name']}"
        for _, doc in applied
        if doc["kind"] == "PersistentVolumeClaim" and doc["apiVersion"] == "v1"
    }


def _restore_volumes(
    transport: Transport,
    archive: AppArchive,
    namespaces: Mapping[str, str],
    target: VolumeTarget | None,
    claims_applied: set[str],
    dry_run: bool,
    timeout: float,
    progress: Callable[[str], None] | None,
) -> list[RestoredVolume]:
    """Restore the data of the claims the backup recorded into the restored claims (those applied), by
    Jobs, and set each claim's result beside what the backup recorded."""
    recorded = [v for v in archive.manifest.get("volumes") or () if isinstance(v, dict)]
    if not recorded:
        return []
    out: dict[tuple[str, str], RestoredVolume] = {}
    for v in recorded:
        ns, claim = str(v["namespace"]), str(v["claim"])
        out[(ns, claim)] = RestoredVolume(
            claim=f"{namespaces.get(ns, ns)}/{claim}",
            source=f"{ns}/{claim}",
            snapshot=v.get("snapshot"),
            action="would restore" if dry_run else "restored",
            files=v.get("files"),
            sha256=v.get("sha256"),
        )
        if not v.get("ok") or not v.get("snapshot"):
            out[(ns, claim)].action = "not restored"
            out[(ns, claim)].detail = f"not in the backup: {v.get('reason') or 'no snapshot recorded'}"
        elif not dry_run and out[(ns, claim)].claim not in claims_applied:
            out[(ns, claim)].action = "not restored"
            out[(ns, claim)].detail = "its claim was not applied"
    todo = {k for k, r in out.items() if r.action == "restored"}
    if dry_run or not todo:
        return list(out.values())
    if target is None:
        for k in todo:
            out[k].action, out[k].detail = "not restored", "no restic repository given (--restic-repository)"
        return list(out.values())
    claims = [
        o
        for o in archive.objects
        if o.get("kind") == "PersistentVolumeClaim"
        and o.get("apiVersion") == "v1"
        and (str(o["metadata"]["namespace"]), str(o["metadata"]["name"])) in todo
    ]
    snapshots = {k: str(out[k].snapshot) for k in todo}
    docs = volume_restore_jobs(claims, target, namespaces, snapshots=snapshots, run=os.urandom(4).hex())
    jobs = {str(d["metadata"]["name"]): _claim_of(d) for d in docs if d["kind"] == "Job"}
    back = {namespaces.get(ns, ns): ns for ns, _ in todo}
    runs = run_volume_jobs(transport, _Applier(transport).create, docs, jobs, timeout=timeout, progress=progress)
    for r in runs:
        item = out[(back.get(r.namespace, r.namespace), r.claim)]
        if not r.ok:
            item.action, item.detail = "failed", r.reason
            continue
        item.got_files, item.got_sha256 = r.files, r.sha256
        if not item.equal:
            item.detail = f"{r.files} files, digest {str(r.sha256)[:12]}: not what was backed up"
    return list(out.values())


def _skip_reason(doc: Mapping[str, Any], applier: _Applier, classes: Mapping[str, str]) -> tuple[str, str] | None:
    """(action, why) for an object the restore does not apply, or None."""
    kind, md = str(doc["kind"]), doc["metadata"]
    if kind == "StorageClass" and md.get("name") in classes:
        return "skipped", f"mapped to StorageClass {classes[md['name']]}"
    if kind == "PersistentVolume" and PROVISIONED_BY in (md.get("annotations") or {}):
        return "skipped", "dynamically provisioned: the claim gets a new volume of its StorageClass"
    if md.get("namespace") is None and kind != "Namespace":
        try:
            exists = applier.get(doc) is not None
        except ClusterError:
            exists = False  # a CRD not served yet (dry run): it would be created
        if exists:
            return "exists", "cluster-scoped, already in the target cluster: left as it is"
    return None
