"""``kubefort backup schedule``: the in-cluster schedule of namespace backups and of a weekly restore
drill, as manifests to review and apply (kubefort applies nothing itself here).

Two CronJobs run kubefort's own image: ``backup namespace NS...`` (daily by default) and ``backup
restore latest --to-context in-cluster --namespace-map NS=<drill prefix>NS`` (weekly), whose exit
code fails the Job when an object is missing after the restore. Least privilege, spelt out:

- reading: per backed-up namespace a Role with ``get``/``list`` on every resource (a namespace backup
  reads every type, Secrets included: that is what it is for); cluster-wide only ``get`` on the kinds
  a backup depends on (CRDs, ClusterRoles, PersistentVolumes, StorageClasses, IngressClasses) and
  ``list`` on VolumeSnapshotClasses;
- the drill runs as another ServiceAccount and writes only into its scratch namespaces (a Role there
  with ``get``/``create``/``patch`` on the same resources) and those Namespace objects, by name (it
  cannot delete them: its Roles live in them, so ``--replace-namespaces`` is for drills run by hand; the
  scheduled drill restores volume data with ``--replace-volume-data``, which empties each scratch claim
  first, so last week's files do not make it differ);
- no wildcard: the built-in namespaced resources are named (:data:`RESOURCES`), custom resources are
  added by name; a type not granted is recorded as skipped (forbidden) in the backup's manifest;
- what kubefort's rules flag in these grants (reading Secrets, writing workloads in the scratch
  namespaces) is what a backup and a drill must do: each such finding is suppressed on the object
  with its reason (``kubefort.io/ignore``), so it is reported as suppressed, never hidden;
- the key file and the bucket credentials are files of Secrets, mounted read-only.

With ``restic_repository`` the backup CronJob also backs up the claims' data (``backup namespace ...
--restic-repository``: restic Jobs kubefort creates in each namespace and waits for) and the drill
restores it and compares each volume's file count and digest. The rights that takes are a Role of
their own per namespace (:func:`volume_rules`): server-side apply of the Jobs, their ServiceAccount and
NetworkPolicy (``patch``, and ``create`` for an apply that creates: the API server authorizes that as
``create`` with the object's name, so the ServiceAccount and NetworkPolicy, whose names are fixed, are
granted by name; the Jobs, snapshots and clones are named anew each run and cannot be), ``get`` on the
Jobs, ``list`` on Pods, ``get`` on ``pods/log``; with snapshots, ``create``/``patch``/``delete`` on
VolumeSnapshots and PersistentVolumeClaims (the clones it makes and deletes). The restic password and
the bucket credentials the Jobs mount are a Secret of each namespace, never in the CronJob.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ...errors import UsageError
from .volumes import SERVICE_ACCOUNT

#: the Secret of each backed-up namespace the volume Jobs mount (``backup namespace --secret``'s default)
VOLUME_SECRET = "kubefort-volume-backup"

LABELS = {"app.kubernetes.io/managed-by": "kubefort", "app.kubernetes.io/component": "app-backup"}
ACCOUNT = "kubefort-app-backup"
DRILL_ACCOUNT = "kubefort-app-drill"

#: the built-in namespaced resources a backup reads and a drill writes, by API group (no wildcard: a
#: type not granted is recorded in the backup's manifest as skipped, forbidden); custom resources are
#: added with ``--resource GROUP/RESOURCE``
RESOURCES: dict[str, tuple[str, ...]] = {
    "": (
        "configmaps",
        "secrets",
        "serviceaccounts",
        "services",
        "persistentvolumeclaims",
        "pods",
        "replicationcontrollers",
        "limitranges",
        "resourcequotas",
        "podtemplates",
    ),
    "apps": ("deployments", "statefulsets", "daemonsets", "replicasets", "controllerrevisions"),
    "batch": ("jobs", "cronjobs"),
    "networking.k8s.io": ("networkpolicies", "ingresses"),
    "rbac.authorization.k8s.io": ("roles", "rolebindings"),
    "policy": ("poddisruptionbudgets",),
    "autoscaling": ("horizontalpodautoscalers",),
}

#: what kubefort's rules say about these grants, and why a backup or a drill needs each (suppressions
#: with their reasons: the findings are reported as suppressed, never hidden)
WHY_READ = (
    "KF-RBAC-007=a namespace backup reads the namespace's Secrets (stored encrypted in the repository), "
    "KF-RBAC-035=the backup reads every object of the namespaces it backs up, Secrets included"
)
WHY_TOKEN = "KF-RBAC-025=kubefort talks to the API server with this token (projected, one hour)"
WHY_DRILL = (
    "KF-RBAC-007=the drill restores the backup's Secrets into its scratch namespace, "
    "KF-RBAC-010=the drill restores the backup's workloads into its scratch namespace, "
    "KF-RBAC-014=the drill restores the backup's RoleBindings into its scratch namespace, "
    "KF-RBAC-031=the drill restores the backup's ConfigMaps into its scratch namespace, "
    "KF-RBAC-032=the drill restores the backup's Services and NetworkPolicies into its scratch namespace, "
    "KF-RBAC-033=the drill restores the backup's objects into its scratch namespace, "
    "KF-RBAC-035=the drill restores workloads into its scratch namespaces only"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSpec:
    namespaces: tuple[str, ...]
    repo: str  # s3://BUCKET/PREFIX
    image: str  # kubefort's image, pinned by digest
    namespace: str = "kubefort-backup"  # where the CronJobs run
    schedule: str = "0 2 * * *"
    drill_schedule: str = "0 4 * * 0"
    drill_prefix: str = "drill-"
    object_lock_days: int = 30
    s3_endpoint: str | None = None
    key_secret: str = "kubefort-backup-key"  # key: key.json
    s3_secret: str = "kubefort-backup-s3"  # key: credentials (AWS shared-credentials file)
    resources: tuple[str, ...] = ()  # GROUP/RESOURCE of custom resources to back up too
    #: volume data (``backup namespace --restic-repository``): the restic repository (an S3 bucket with
    #: Object Lock), the restic image pinned by digest, the Secret of each namespace the Jobs mount
    #: (keys ``password``, ``credentials``), the UID the Jobs run as, whether CSI snapshots are used
    restic_repository: str | None = None
    restic_image: str | None = None
    volume_secret: str = VOLUME_SECRET
    volume_user: int = 65532
    snapshots: bool = True


def _rules(spec: ScheduleSpec, verbs: list[str]) -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = {g: list(r) for g, r in RESOURCES.items()}
    for extra in spec.resources:
        group, sep, resource = extra.rpartition("/")
        if not sep or not resource or "*" in extra:
            raise UsageError(f"--resource {extra}: expected GROUP/RESOURCE (no wildcard)")
        groups.setdefault(group, []).append(resource)
    return [{"apiGroups": [g], "resources": sorted(set(r)), "verbs": list(verbs)} for g, r in groups.items()]


WHY_VOLUMES = (
    "KF-RBAC-010=the backup creates the restic Jobs that back up the namespace's volumes, "
    "KF-RBAC-032=the backup applies the NetworkPolicy of its restic Jobs (by name), "
    "KF-RBAC-035=the backup runs restic Jobs in the namespaces it backs up"
)
WHY_DRILL_VOLUMES = (
    "KF-RBAC-010=the drill creates the restic Jobs that restore the volumes into its scratch namespace, "
    "KF-RBAC-032=the drill applies the NetworkPolicy of its restic Jobs (by name), "
    "KF-RBAC-035=the drill runs restic Jobs in its scratch namespaces only"
)
#: ``--secret`` names the Secret the volume Jobs mount; it carries no value
WHY_SECRET_NAME = "KF-SEC-006=--secret names the Secret of each namespace the restic Jobs mount, it holds no value"
WHY_SNAPSHOTS = (
    ", KF-RBAC-030=the backup deletes the VolumeSnapshots and the claims cloned from them it made for its Jobs"
)


def volume_rules(*, snapshots: bool) -> list[dict[str, Any]]:
    """What running the volume Jobs of :mod:`.jobs` takes in a namespace, nothing more: server-side
    apply (``patch``; ``create`` when the apply creates the object, authorized with its name) of the
    Jobs, their ServiceAccount and NetworkPolicy (those two by name), ``get`` on the Jobs (their
    status), ``list`` on Pods (found by ``job-name``), ``get`` on ``pods/log`` (restic's summary);
    with ``snapshots``, the VolumeSnapshots and the claims cloned from them (applied, then deleted)."""
    out: list[dict[str, Any]] = [
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "create", "patch"]},
        {
            "apiGroups": [""],
            "resources": ["serviceaccounts"],
            "verbs": ["create", "patch"],
            "resourceNames": [SERVICE_ACCOUNT],
        },
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["create", "patch"],
            "resourceNames": [SERVICE_ACCOUNT],
        },
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    if snapshots:
        out += [
            {
                "apiGroups": ["snapshot.storage.k8s.io"],
                "resources": ["volumesnapshots"],
                "verbs": ["create", "patch", "delete"],
            },
            {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["create", "patch", "delete"]},
        ]
    return out


def _md(name: str, ns: str | None = None, notes: dict[str, str] | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if ns:
        md["namespace"] = ns
    if notes:
        md["annotations"] = notes
    return md


def schedule_manifests(spec: ScheduleSpec) -> list[dict[str, Any]]:
    """The ServiceAccount, RBAC, NetworkPolicy and the two CronJobs of a backup schedule."""
    if not spec.namespaces:
        raise UsageError("name at least one namespace to back up")
    if "@sha256:" not in spec.image:
        raise UsageError(f"--image {spec.image}: pin kubefort's image by digest (IMAGE@sha256:...)")
    if not spec.repo.startswith("s3://"):
        raise UsageError(f"--repo {spec.repo}: a schedule writes to an S3 bucket with Object Lock (s3://BUCKET/PREFIX)")
    if spec.restic_repository is not None:
        if not spec.restic_repository.startswith("s3:"):
            raise UsageError(
                f"--restic-repository {spec.restic_repository}: a schedule keeps volume data in an S3 bucket "
                "with Object Lock (s3:ENDPOINT/BUCKET/PREFIX)"
            )
        if not spec.restic_image:
            raise UsageError("--restic-repository needs --restic-image IMAGE@sha256:...")
        if "@sha256:" not in spec.restic_image:
            raise UsageError(f"--restic-image {spec.restic_image}: pin restic's image by digest (IMAGE@sha256:...)")
    elif spec.restic_image:
        raise UsageError("--restic-image is for volume data: give --restic-repository")
    ns = spec.namespace
    drills = [f"{spec.drill_prefix}{n}" for n in spec.namespaces]
    rbac = "rbac.authorization.k8s.io/v1"
    subject = [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": ns}]
    drill_subject = [{"kind": "ServiceAccount", "name": DRILL_ACCOUNT, "namespace": ns}]
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _md(ACCOUNT, ns),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _md(DRILL_ACCOUNT, ns),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": _md("kubefort-app-backup-dependencies"),
            "rules": [
                {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get"]},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get"]},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get"]},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": ["get"]},
                {"apiGroups": ["snapshot.storage.k8s.io"], "resources": ["volumesnapshotclasses"], "verbs": ["list"]},
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    "verbs": ["get"],
                    "resourceNames": list(spec.namespaces),
                },
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": _md("kubefort-app-backup-dependencies"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "kubefort-app-backup-dependencies",
            },
            "subjects": subject,
        },
        {
            # the drill into the same cluster: the cluster-scoped objects exist (read only), its namespaces are applied
            "apiVersion": rbac,
            "kind": "ClusterRole",
            "metadata": _md("kubefort-app-drill"),
            "rules": [
                {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"], "verbs": ["get"]},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get"]},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": ["get"]},
                {"apiGroups": ["networking.k8s.io"], "resources": ["ingressclasses"], "verbs": ["get"]},
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    "verbs": ["get", "create", "patch"],
                    "resourceNames": drills,
                },
            ],
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": _md("kubefort-app-drill"),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubefort-app-drill"},
            "subjects": drill_subject,
        },
    ]
    for n in spec.namespaces:
        out += [
            {
                "apiVersion": rbac,
                "kind": "Role",
                "metadata": _md("kubefort-app-backup-read", n, {"kubefort.io/ignore": WHY_READ}),
                "rules": _rules(spec, ["get", "list"]),
            },
            {
                "apiVersion": rbac,
                "kind": "RoleBinding",
                "metadata": _md("kubefort-app-backup-read", n, {"kubefort.io/ignore": WHY_READ}),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "kubefort-app-backup-read",
                },
                "subjects": subject,
            },
        ]
    if spec.restic_repository is not None:
        why = WHY_VOLUMES + (WHY_SNAPSHOTS if spec.snapshots else "")
        for n in spec.namespaces:
            out += _role_and_binding(
                "kubefort-app-backup-volumes", n, volume_rules(snapshots=spec.snapshots), subject, why
            )
        for d in drills:  # the restore Jobs of the drill: no snapshots, no deletes
            out += _role_and_binding(
                "kubefort-app-drill-volumes", d, volume_rules(snapshots=False), drill_subject, WHY_DRILL_VOLUMES
            )
    for d in drills:
        out += [
            {
                "apiVersion": rbac,
                "kind": "Role",
                "metadata": _md("kubefort-app-drill", d, {"kubefort.io/ignore": WHY_DRILL}),
                "rules": _rules(spec, ["get", "create", "patch"]),
            },
            {
                "apiVersion": rbac,
                "kind": "RoleBinding",
                "metadata": _md("kubefort-app-drill", d, {"kubefort.io/ignore": WHY_DRILL}),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubefort-app-drill"},
                "subjects": drill_subject,
            },
        ]
    out.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _md("default-deny", ns),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        }
    )
    out.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _md("kubefort-app-backup", ns),
            "spec": {
                "podSelector": {"matchLabels": dict(LABELS)},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": [
                    {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                    {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
                ],
            },
        }
    )
    common = ["--repo", spec.repo, "--key-file", "/keys/key.json", "--object-lock-days", str(spec.object_lock_days)]
    if spec.s3_endpoint:
        common += ["--s3-endpoint", spec.s3_endpoint]
    volumes: list[str] = []
    if spec.restic_repository is not None:
        volumes = [
            "--restic-repository",
            spec.restic_repository,
            "--restic-image",
            str(spec.restic_image),
            "--kubefort-image",
            spec.image,
            "--volume-user",
            str(spec.volume_user),
        ]
        if spec.volume_secret != VOLUME_SECRET:  # a name, not a value: said on the CronJobs
            volumes += ["--secret", spec.volume_secret]
    backup = ["backup", "namespace", *spec.namespaces, *common, *volumes]
    if volumes and not spec.snapshots:
        backup.append("--no-snapshots")
    # the drill restores into the same scratch claims every week: each is emptied first (restic leaves files
    # the backup does not have); it cannot delete the scratch namespaces themselves (its Roles live in them)
    drill = ["backup", "restore", "latest", *common, "--to-context", "in-cluster", *volumes]
    if volumes:
        drill.append("--replace-volume-data")
    for n, d in zip(spec.namespaces, drills, strict=True):
        drill += ["--namespace-map", f"{n}={d}"]
    named = f", {WHY_SECRET_NAME}" if "--secret" in volumes else ""
    out.append(_cronjob("kubefort-app-backup", ACCOUNT, spec.schedule, backup, spec, WHY_READ + named))
    out.append(_cronjob("kubefort-app-drill", DRILL_ACCOUNT, spec.drill_schedule, drill, spec, WHY_DRILL + named))
    return out


def _role_and_binding(
    name: str, ns: str, rules: list[dict[str, Any]], subjects: list[dict[str, Any]], why: str
) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _md(name, ns, {"kubefort.io/ignore": why}),
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _md(name, ns, {"kubefort.io/ignore": why}),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subjects,
        },
    ]


def _cronjob(
    name: str, account: str, schedule: str, args: Sequence[str], spec: ScheduleSpec, why: str
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _md(name, spec.namespace, {"kubefort.io/ignore": f"{why}, {WHY_TOKEN}"}),
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 1,
                    "template": {
                        "metadata": {"labels": dict(LABELS)},
                        "spec": {
                            "restartPolicy": "Never",
                            "serviceAccountName": account,
                            "automountServiceAccountToken": False,
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": 65532,
                                "runAsGroup": 65532,
                                "fsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [
                                {
                                    "name": "kubefort",
                                    "image": spec.image,
                                    "imagePullPolicy": "Always",
                                    "args": list(args),
                                    "env": [{"name": "AWS_SHARED_CREDENTIALS_FILE", "value": "/s3/credentials"}],
                                    "securityContext": {
                                        "allowPrivilegeEscalation": False,
                                        "readOnlyRootFilesystem": True,
                                        "privileged": False,
                                        "capabilities": {"drop": ["ALL"]},
                                    },
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "256Mi"},
                                        "limits": {"cpu": "1", "memory": "1Gi"},
                                    },
                                    "volumeMounts": [
                                        {"name": "keys", "mountPath": "/keys", "readOnly": True},
                                        {"name": "s3", "mountPath": "/s3", "readOnly": True},
                                        {
                                            "name": "token",
                                            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                                            "readOnly": True,
                                        },
                                        {"name": "tmp", "mountPath": "/tmp"},
                                    ],
                                }
                            ],
                            "volumes": [
                                {"name": "keys", "secret": {"secretName": spec.key_secret, "defaultMode": 0o440}},
                                {"name": "s3", "secret": {"secretName": spec.s3_secret, "defaultMode": 0o440}},
                                {
                                    # the API token, projected with a short expiry, only into this container
                                    "name": "token",
                                    "projected": {
                                        "sources": [
                                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                                            {
                                                "configMap": {
                                                    "name": "kube-root-ca.crt",
                                                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                                }
                                            },
                                            {
                                                "downwardAPI": {
                                                    "items": [
                                                        {
                                                            "path": "namespace",
                                                            "fieldRef": {"fieldPath": "metadata.namespace"},
                                                        }
                                                    ]
                                                }
                                            },
                                        ]
                                    },
                                },
                                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                            ],
                        },
                    },
                }
            },
        },
    }
