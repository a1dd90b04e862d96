"""Facts about Kubernetes kinds that the model needs: scope and where pod specs live."""

from __future__ import annotations

from collections.abc import Mapping

#: Kinds that are cluster-scoped (no namespace). Everything else is treated as namespaced, unless a
#: CustomResourceDefinition in the input says ``scope: Cluster`` for it.
CLUSTER_SCOPED_KINDS: frozenset[str] = frozenset(
    {
        # core and built-in API groups
        "Namespace",
        "Node",
        "PersistentVolume",
        "ComponentStatus",
        "ClusterRole",
        "ClusterRoleBinding",
        "StorageClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "VolumeAttributesClass",
        "CustomResourceDefinition",
        "APIService",
        "PriorityClass",
        "RuntimeClass",
        "IngressClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "CertificateSigningRequest",
        "ClusterTrustBundle",
        "PodSecurityPolicy",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "IPAddress",
        "ServiceCIDR",
        "DeviceClass",
        # common add-ons
        "ClusterIssuer",
        "ClusterPolicy",
        "ClusterPolicyReport",
        "ClusterCleanupPolicy",
        "ClusterImagePolicy",
        "ConstraintTemplate",
        "GlobalNetworkPolicy",
        "GlobalNetworkSet",
        "ClusterSecretStore",
        "ClusterExternalSecret",
        "ClusterSPIFFEID",
        "ClusterFederatedTrustDomain",
        "ImageValidatingPolicy",
        "ValidatingPolicy",
        "MutatingPolicy",
        "GeneratingPolicy",
        "ClusterAdmissionPolicy",
    }
)

#: API groups whose kinds are all cluster-scoped (Gatekeeper constraints).
CLUSTER_SCOPED_GROUPS: frozenset[str] = frozenset({"constraints.gatekeeper.sh", "kubefort.io"})

#: Where the pod template lives in each pod-bearing kind: (path to the pod metadata, path to the pod spec).
POD_SPEC_PATHS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Pod": (("metadata",), ("spec",)),
    "Deployment": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "ReplicaSet": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "ReplicationController": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "StatefulSet": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "DaemonSet": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "Job": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "CronJob": (
        ("spec", "jobTemplate", "spec", "template", "metadata"),
        ("spec", "jobTemplate", "spec", "template", "spec"),
    ),
    "PodTemplate": (("template", "metadata"), ("template", "spec")),
    # extended kinds (catalogue legend 1)
    "DeploymentConfig": (("spec", "template", "metadata"), ("spec", "template", "spec")),
    "Rollout": (("spec", "template", "metadata"), ("spec", "template", "spec")),
}

WORKLOAD_KINDS: frozenset[str] = frozenset(POD_SPEC_PATHS)


def is_cluster_scoped(api_version: str, kind: str) -> bool:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return kind in CLUSTER_SCOPED_KINDS or group in CLUSTER_SCOPED_GROUPS


def split_group_kind(name: str) -> tuple[str, str | None]:
    """A kind as a rule names it (``kinds``, ``needs``): ``Policy``, objects of that kind in any API
    group, or ``Policy.kyverno.io`` (Kubernetes' GroupKind notation), of that group only -> (kind,
    group or None). Rules qualify a kind that several API groups serve with different meanings (the
    audit Policy file, Kyverno's and Kasten K10's Policy): a cluster scan then lists that group's
    resource alone, and ``kubefort deploy manifests`` grants that one."""
    kind, dot, group = name.partition(".")
    return kind, (group if dot else None)


def names_kind(name: str, kind: str, group: str | None = None) -> bool:
    """Whether ``name`` (``Kind`` or ``Kind.group``) names objects of ``kind`` in API ``group`` (None:
    the group is not known, any matches)."""
    k, g = split_group_kind(name)
    return k == kind and (g is None or group is None or g == group)


def distinct_unreadable(unreadable: Mapping[str, str]) -> dict[str, str]:
    """``unreadable`` (kind -> why it could not be read) with each failure once: a kind asked for both alone
    (``NetworkPolicy``) and with its group (``NetworkPolicy.networking.k8s.io``) is the same failure, named
    by its group."""
    qualified = {split_group_kind(k)[0] for k in unreadable if split_group_kind(k)[1] is not None}
    return {k: v for k, v in unreadable.items() if split_group_kind(k)[1] is not None or k not in qualified}
