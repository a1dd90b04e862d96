"""Kubernetes manifests that run kubefort inside a cluster (``kubefort deploy manifests``).

What they hold, and why (docs/cluster.md, "Running in the cluster"):

- a namespace (Pod Security ``restricted`` enforced), a ServiceAccount, and a pod that runs non-root
  with a read-only root filesystem, no privilege escalation, every capability dropped, the
  RuntimeDefault seccomp profile, resource requests and limits;
- a read-only ClusterRole: ``get``/``list``/``watch`` of exactly the resource types the selected
  rules read, computed by :func:`kubefort.api.cluster_kinds` (what a cluster scan with those rules
  lists) and mapped to API groups and resources by :data:`RESOURCES`. Secrets are left out unless
  ``--with-secrets``: the rules that read them are then skipped (``--skip-rules`` in the pod's
  arguments), so the scan never asks for what it may not read;
- a second ClusterRole to write its reports: ``get``/``list``/``patch``/``delete`` of the report
  kinds (server-side apply creates with ``patch``), nothing else;
- a CronJob that runs ``kubefort watch --once`` (read, judge, apply the reports, delete stale ones,
  exit 0 unless reading or writing failed: findings are in the reports, not in a failed Job), or with
  ``--watch`` a Deployment running ``kubefort watch`` with ``/metrics`` and ``/healthz``;
- NetworkPolicies: the namespace denies all traffic by default; kubefort's pods may reach the API
  server (TCP 443 and 6443, or ``--api-server-cidr``) and DNS, nothing else; with ``--watch`` the
  metrics port accepts connections.

The manifests scan clean with kubefort itself (tests/unit/test_incluster_deploy.py); findings that
remain by design are suppressed in the manifests with the reason (``kubefort.io/ignore``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from ..admission.manifests import DEFAULT_IMAGE, IGNORE, NoAliasDumper
from ..api import ScanOptions, cluster_kinds, select_rules, skipped_rules
from ..engine.config import Config
from ..engine.registry import Registry
from ..reporters.openreports import OPENREPORTS, ReportFormat
from ..reporters.policyreport import POLICYREPORT

APP = "kubefort"
CORE, APPS, BATCH, RBAC = "", "apps", "batch", "rbac.authorization.k8s.io"
METRICS_PORT = 8080

#: kind -> the (API group, resource) it is served as: what the ClusterRole grants for a kind the rules read.
#: Rules name a kind that several API groups serve with different meanings with its group
#: (``Policy.kyverno.io``, ``Schedule.velero.io``: model.kinds.split_group_kind), and a cluster scan lists
#: that group's alone; a kind named alone is listed in every group serving it, and is mapped here to the
#: group that serves it in Kubernetes (or the one add-on that defines it).
RESOURCES: Mapping[str, tuple[tuple[str, str], ...]] = {
    "Pod": ((CORE, "pods"),),
    "PodTemplate": ((CORE, "podtemplates"),),
    "ReplicationController": ((CORE, "replicationcontrollers"),),
    "Service": ((CORE, "services"),),
    "ConfigMap": ((CORE, "configmaps"),),
    "Secret": ((CORE, "secrets"),),
    "ServiceAccount": ((CORE, "serviceaccounts"),),
    "Namespace": ((CORE, "namespaces"),),
    "Node": ((CORE, "nodes"),),
    "LimitRange": ((CORE, "limitranges"),),
    "ResourceQuota": ((CORE, "resourcequotas"),),
    "PersistentVolume": ((CORE, "persistentvolumes"),),
    "PersistentVolumeClaim": ((CORE, "persistentvolumeclaims"),),
    "Endpoints": ((CORE, "endpoints"),),
    "Deployment": ((APPS, "deployments"),),
    "ReplicaSet": ((APPS, "replicasets"),),
    "StatefulSet": ((APPS, "statefulsets"),),
    "DaemonSet": ((APPS, "daemonsets"),),
    "Job": ((BATCH, "jobs"),),
    "CronJob": ((BATCH, "cronjobs"),),
    "Role": ((RBAC, "roles"),),
    "RoleBinding": ((RBAC, "rolebindings"),),
    "ClusterRole": ((RBAC, "clusterroles"),),
    "ClusterRoleBinding": ((RBAC, "clusterrolebindings"),),
    "Ingress": (("networking.k8s.io", "ingresses"),),
    "IngressClass": (("networking.k8s.io", "ingressclasses"),),
    "EndpointSlice": (("discovery.k8s.io", "endpointslices"),),
    "RuntimeClass": (("node.k8s.io", "runtimeclasses"),),
    "StorageClass": (("storage.k8s.io", "storageclasses"),),
    "CSIDriver": (("storage.k8s.io", "csidrivers"),),
    "PodDisruptionBudget": (("policy", "poddisruptionbudgets"),),
    "PriorityClass": (("scheduling.k8s.io", "priorityclasses"),),
    "HorizontalPodAutoscaler": (("autoscaling", "horizontalpodautoscalers"),),
    "CustomResourceDefinition": (("apiextensions.k8s.io", "customresourcedefinitions"),),
    "APIService": (("apiregistration.k8s.io", "apiservices"),),
    "ValidatingWebhookConfiguration": (("admissionregistration.k8s.io", "validatingwebhookconfigurations"),),
    "MutatingWebhookConfiguration": (("admissionregistration.k8s.io", "mutatingwebhookconfigurations"),),
    "ValidatingAdmissionPolicy": (("admissionregistration.k8s.io", "validatingadmissionpolicies"),),
    "ValidatingAdmissionPolicyBinding": (("admissionregistration.k8s.io", "validatingadmissionpolicybindings"),),
    "CertificateSigningRequest": (("certificates.k8s.io", "certificatesigningrequests"),),
    # add-ons whose objects the rules judge
    "PeerAuthentication.security.istio.io": (("security.istio.io", "peerauthentications"),),
    "AuthorizationPolicy.security.istio.io": (("security.istio.io", "authorizationpolicies"),),  # not Linkerd's
    "DestinationRule.networking.istio.io": (("networking.istio.io", "destinationrules"),),
    "ServiceEntry.networking.istio.io": (("networking.istio.io", "serviceentries"),),
    "Rollout": (("argoproj.io", "rollouts"),),
    "DeploymentConfig": (("apps.openshift.io", "deploymentconfigs"),),
    "Sandbox": (("agents.x-k8s.io", "sandboxes"),),
    "SandboxTemplate": (("extensions.agents.x-k8s.io", "sandboxtemplates"),),
    "SealedSecret": (("bitnami.com", "sealedsecrets"),),
    "ExternalSecret": (("external-secrets.io", "externalsecrets"),),
    # group-qualified: the Prometheus Operator's resources, whose pods the NetworkPolicy engine models
    # (analysis.netpol.operators)
    "Prometheus.monitoring.coreos.com": (("monitoring.coreos.com", "prometheuses"),),
    "PrometheusAgent.monitoring.coreos.com": (("monitoring.coreos.com", "prometheusagents"),),
    "Alertmanager.monitoring.coreos.com": (("monitoring.coreos.com", "alertmanagers"),),
    "ThanosRuler.monitoring.coreos.com": (("monitoring.coreos.com", "thanosrulers"),),
    # group-qualified: backups (Velero, Kasten K10, Stash, KubeStash)
    "Schedule.velero.io": (("velero.io", "schedules"),),
    "Backup.velero.io": (("velero.io", "backups"),),
    "BackupStorageLocation.velero.io": (("velero.io", "backupstoragelocations"),),
    "Policy.config.kio.kasten.io": (("config.kio.kasten.io", "policies"),),
    "RunAction.actions.kio.kasten.io": (("actions.kio.kasten.io", "runactions"),),
    "BackupConfiguration.stash.appscode.com": (("stash.appscode.com", "backupconfigurations"),),
    "BackupConfiguration.core.kubestash.com": (("core.kubestash.com", "backupconfigurations"),),
    # group-qualified: policy engines and image verifiers (Kyverno, Gatekeeper, Kubewarden, jsPolicy,
    # the sigstore policy-controller, Ratify)
    "ClusterPolicy.kyverno.io": (("kyverno.io", "clusterpolicies"),),
    "Policy.kyverno.io": (("kyverno.io", "policies"),),
    "ValidatingPolicy.policies.kyverno.io": (("policies.kyverno.io", "validatingpolicies"),),
    "ImageValidatingPolicy.policies.kyverno.io": (("policies.kyverno.io", "imagevalidatingpolicies"),),
    "ConstraintTemplate.templates.gatekeeper.sh": (("templates.gatekeeper.sh", "constrainttemplates"),),
    "ClusterAdmissionPolicy.policies.kubewarden.io": (("policies.kubewarden.io", "clusteradmissionpolicies"),),
    "AdmissionPolicy.policies.kubewarden.io": (("policies.kubewarden.io", "admissionpolicies"),),
    "ClusterAdmissionPolicyGroup.policies.kubewarden.io": (("policies.kubewarden.io", "clusteradmissionpolicygroups"),),
    "AdmissionPolicyGroup.policies.kubewarden.io": (("policies.kubewarden.io", "admissionpolicygroups"),),
    "JsPolicy.policy.jspolicy.com": (("policy.jspolicy.com", "jspolicies"),),
    "ClusterImagePolicy.policy.sigstore.dev": (("policy.sigstore.dev", "clusterimagepolicies"),),
    "Verifier.config.ratify.deislabs.io": (("config.ratify.deislabs.io", "verifiers"),),
    # group-qualified: network policies (the NetworkPolicy engine: Kubernetes, AdminNetworkPolicy, Cilium, Calico)
    "NetworkPolicy.networking.k8s.io": (("networking.k8s.io", "networkpolicies"),),
    "AdminNetworkPolicy.policy.networking.k8s.io": (("policy.networking.k8s.io", "adminnetworkpolicies"),),
    "BaselineAdminNetworkPolicy.policy.networking.k8s.io": (
        ("policy.networking.k8s.io", "baselineadminnetworkpolicies"),
    ),
    "CiliumNetworkPolicy.cilium.io": (("cilium.io", "ciliumnetworkpolicies"),),
    "CiliumClusterwideNetworkPolicy.cilium.io": (("cilium.io", "ciliumclusterwidenetworkpolicies"),),
    "NetworkPolicy.projectcalico.org": (("projectcalico.org", "networkpolicies"),),
    "NetworkPolicy.crd.projectcalico.org": (("crd.projectcalico.org", "networkpolicies"),),
    "GlobalNetworkPolicy.projectcalico.org": (("projectcalico.org", "globalnetworkpolicies"),),
    "GlobalNetworkPolicy.crd.projectcalico.org": (("crd.projectcalico.org", "globalnetworkpolicies"),),
    # group-qualified: Flux (SOPS decryption)
    "Kustomization.kustomize.toolkit.fluxcd.io": (("kustomize.toolkit.fluxcd.io", "kustomizations"),),
}

#: kinds rules judge that no API server serves: files given to a component, and kubefort's own records
#: of what it probed. A cluster scan finds none of them; nothing to grant.
NOT_SERVED: Mapping[str, str] = {
    "ClusterVersions": "kubefort's record of component versions (kubefort versions)",
    "EtcdEndpoint": "kubefort's record of a probed etcd endpoint (kubefort etcd probe)",
    "NodeSnapshot": "kubefort's record of a node audit (kubefort node audit)",
    "KubeletConfiguration": "the kubelet's configuration file",
    "KubeProxyConfiguration": "kube-proxy's configuration file",
    "EncryptionConfiguration": "the API server's --encryption-provider-config file",
    "AdmissionConfiguration": "the API server's --admission-control-config-file",
    "PodSecurityConfiguration": "the PodSecurity plugin's configuration, in the AdmissionConfiguration file",
    "Policy.audit.k8s.io": "the audit policy file (--audit-policy-file) given to the API server",
}

_CRON_FIELD = r"[0-9*/,\-A-Za-z?LW#]+"
_CRON = re.compile(rf"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|({_CRON_FIELD}\s+){{4}}{_CRON_FIELD})$")


def check_schedule(schedule: str) -> str:
    """``schedule`` if it reads as a CronJob schedule (five fields or a macro); ValueError otherwise."""
    text = schedule.strip()
    if not _CRON.match(text):
        raise ValueError(f"not a cron schedule (five fields, or @hourly, @daily...): {schedule!r}")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class DeployOptions:
    namespace: str = "kubefort"
    image: str = DEFAULT_IMAGE
    schedule: str = "17 * * * *"  # hourly, off the top of the hour
    watch: bool = False  # a Deployment running ``kubefort watch`` instead of the CronJob
    with_secrets: bool = False
    reports: ReportFormat = OPENREPORTS
    rules: tuple[str, ...] = ()  # --rules passed on to the scan (and the ClusterRole derived from them)
    skip_rules: tuple[str, ...] = ()
    api_server_cidrs: tuple[str, ...] = ()  # where the API server is; () = any address, ports 443 and 6443


@dataclass(frozen=True, slots=True, kw_only=True)
class Grants:
    """What the read-only ClusterRole grants, and the kinds the rules read that it does not."""

    rules: list[dict[str, Any]]
    kinds: frozenset[str]  # the kinds read, as api.cluster_kinds computes them
    not_served: tuple[str, ...]  # kinds no API server serves (NOT_SERVED)
    unknown: tuple[str, ...]  # kinds with no entry in RESOURCES: not granted (a scan gets 403 on them)


def read_grants(kinds: Iterable[str]) -> Grants:
    """``get``/``list``/``watch`` of the resources of ``kinds``, one PolicyRule per API group."""
    wanted = frozenset(kinds)
    by_group: dict[str, set[str]] = {}
    for kind in wanted:
        for group, resource in RESOURCES.get(kind, ()):
            by_group.setdefault(group, set()).add(resource)
    rules = [
        {"apiGroups": [group], "resources": sorted(resources), "verbs": ["get", "list", "watch"]}
        for group, resources in sorted(by_group.items())
    ]
    return Grants(
        rules=rules,
        kinds=wanted,
        not_served=tuple(sorted(k for k in wanted if k in NOT_SERVED)),
        unknown=tuple(sorted(k for k in wanted if k not in RESOURCES and k not in NOT_SERVED)),
    )


def report_grants(fmt: ReportFormat) -> list[dict[str, Any]]:
    group = fmt.api_version.rpartition("/")[0]
    plurals = sorted(f"{k.lower()}s" for k in (fmt.kind, fmt.cluster_kind))
    return [{"apiGroups": [group], "resources": plurals, "verbs": ["get", "list", "patch", "delete"]}]


def scan_args(opts: DeployOptions, secret_rules: Sequence[str]) -> list[str]:
    """The rule selection the pod's kubefort runs with (the same the ClusterRole was derived from)."""
    args: list[str] = []
    if opts.rules:
        args += ["--rules", ",".join(opts.rules)]
    skip = [*opts.skip_rules, *([] if opts.with_secrets else secret_rules)]
    if skip:
        args += ["--skip-rules", ",".join(dict.fromkeys(skip))]
    if opts.with_secrets:
        args.append("--secret-values")
    if opts.reports is POLICYREPORT:
        args += ["--reports", "policyreport"]
    return args


def build(grants: Grants, opts: DeployOptions, secret_rules: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The manifests, in the order ``kubectl apply`` needs them (namespace first)."""
    check_schedule(opts.schedule)
    ns = opts.namespace
    component = "watch" if opts.watch else "scanner"
    labels = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": APP}
    selector = {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}
    reader, writer = f"{APP}-read", f"{APP}-reports"

    pinned = "@sha256:" in opts.image
    ignores = (
        []
        if pinned
        else [
            "KF-IMG-002=release images are referenced by their immutable version tag; pass --image REPO@sha256:DIGEST to pin the digest you verified"
        ]
    )
    if opts.image.startswith("ghcr.io/") or "/" not in opts.image.split("@")[0].split(":")[0]:
        ignores.append("KF-IMG-006=the published kubefort image; mirror it to your registry and pass --image")
    # (a reason holds no comma: the annotation separates its entries with commas)
    ignores.append(
        "KF-RBAC-025=kubefort reads the cluster through the API server: a projected token that expires within the "
        "hour and grants read-only access and the writing of its own reports"
    )
    secrets_reason = (
        "deployed with --with-secrets: the secret-content rules read Secret values (kept in memory and never "
        "written to a report)"
    )
    if opts.with_secrets:
        ignores.append(f"KF-RBAC-035={secrets_reason}")
    secret_ann: dict[str, Any] = {"annotations": {IGNORE: f"KF-RBAC-007={secrets_reason}"}} if opts.with_secrets else {}

    args = ["watch", *scan_args(opts, secret_rules)]
    if opts.watch:
        args += ["--port", str(METRICS_PORT)]
    else:
        args.append("--once")
    container: dict[str, Any] = {
        "name": "kubefort",
        "image": opts.image,
        "imagePullPolicy": "Always",
        "args": args,
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "api-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if opts.watch:
        container["ports"] = [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}]
        container["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        }
        container["livenessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
            "failureThreshold": 3,
            "timeoutSeconds": 5,
        }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": APP,
        # the token is mounted explicitly (a short-lived projected token), not by automount
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "fsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {
                "name": "api-token",
                "projected": {
                    "defaultMode": 0o440,
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                        {
                            "downwardAPI": {
                                "items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]
                            }
                        },
                    ],
                },
            },
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        ],
    }

    def meta(name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "namespace": ns, "labels": labels, **extra}

    ann = {"annotations": {IGNORE: ", ".join(ignores)}}
    workload: dict[str, Any]
    if opts.watch:
        pod_spec["terminationGracePeriodSeconds"] = 30
        workload = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(APP, **ann),
            "spec": {
                "replicas": 1,  # one writer of the reports
                "revisionHistoryLimit": 3,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        }
    else:
        pod_spec["restartPolicy"] = "Never"
        workload = {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta(APP, **ann),
            "spec": {
                "schedule": opts.schedule,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "backoffLimit": 2,
                        "activeDeadlineSeconds": 3600,
                        "ttlSecondsAfterFinished": 86400,
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                    },
                },
            },
        }

    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            },
        },
    }
    service_account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(APP),
        "automountServiceAccountToken": False,
    }
    cluster_labels: dict[str, Any] = {k: v for k, v in labels.items() if k != "app.kubernetes.io/component"}
    read_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": reader, "labels": cluster_labels, **secret_ann},
        "rules": grants.rules,
    }
    write_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": writer, "labels": cluster_labels},
        "rules": report_grants(opts.reports),
    }
    no_ann: dict[str, Any] = {}

    def binding_meta(role: str) -> dict[str, Any]:
        name = f"{role}-{ns}" if ns != APP else role
        return {"name": name, "labels": cluster_labels, **(secret_ann if role == reader else no_ann)}

    bindings: list[dict[str, Any]] = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": binding_meta(role),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": APP, "namespace": ns}],
        }
        for role in (reader, writer)
    ]
    api_peers: list[dict[str, Any]] = [{"ipBlock": {"cidr": cidr}} for cidr in opts.api_server_cidrs]
    api_egress: dict[str, Any] = {
        "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}],
    }
    if api_peers:
        api_egress["to"] = api_peers
    dns_egress = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    netpol_spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": METRICS_PORT}]}] if opts.watch else [],
        "egress": [api_egress, dns_egress],
    }
    netpol = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(APP),
        "spec": netpol_spec,
    }
    default_deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta(APP),
        "spec": {
            "hard": {
                "pods": "5",
                "requests.cpu": "1",
                "requests.memory": "2Gi",
                "limits.cpu": "4",
                "limits.memory": "4Gi",
            }
        },
    }
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta(APP),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "512Mi"},
                    "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
                }
            ]
        },
    }
    docs: list[dict[str, Any]] = [namespace, service_account, read_role, write_role, *bindings, workload]
    if opts.watch:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta(f"{APP}-metrics"),
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector,
                    "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}],
                },
            }
        )
    docs += [netpol, default_deny, quota, limits]
    return docs


def secret_readers(registry: Registry) -> list[str]:
    """The rules that read Secrets on a cluster (judge them or need them): skipped without
    ``--with-secrets``, so that nothing kubefort runs asks for Secrets."""
    return sorted(
        r.meta.id
        for r in registry
        if (r.meta.modes is None or "cluster" in r.meta.modes)
        and "Secret" in (r.meta.own_kinds() | (r.meta.needs or frozenset()))
    )


def deployment(opts: DeployOptions, registry: Registry) -> tuple[list[dict[str, Any]], Grants]:
    """The manifests for ``opts`` and what their ClusterRole grants: the kinds a cluster scan with the
    pod's rule selection reads (:func:`kubefort.api.cluster_kinds`, the same computation)."""
    secret_rules = [] if opts.with_secrets else secret_readers(registry)
    scan = ScanOptions(rules=list(opts.rules), skip_rules=[*opts.skip_rules, *secret_rules])
    cfg = Config()
    rules = select_rules(scan, cfg, registry)
    kinds = cluster_kinds(rules, registry, skip=skipped_rules(scan, cfg))
    if not opts.with_secrets and "Secret" in kinds:  # a rule reads Secrets without saying so: refuse
        raise ValueError("the selected rules read Secrets: pass --with-secrets or skip them")
    grants = read_grants(kinds)
    return build(grants, opts, secret_rules), grants


def render(docs: list[dict[str, Any]], grants: Grants) -> str:
    header = ["# kubefort in the cluster; generated by 'kubefort deploy manifests'."]
    header.append(
        f"# Read-only access to the {len(grants.kinds) - len(grants.not_served) - len(grants.unknown)} kinds "
        "the selected rules read (kubefort rules list); reports are written with server-side apply."
    )
    if grants.unknown:
        header.append(f"# Not granted (no known API resource): {', '.join(grants.unknown)}")
    text = "\n".join(header) + "\n"
    return text + yaml.dump_all(docs, Dumper=NoAliasDumper, sort_keys=False, default_flow_style=False, width=200)
