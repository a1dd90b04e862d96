"""Kubernetes manifests that deploy the webhook (``kubefort admission manifests``).

Choices (documented in docs/admission.md):

- ``failurePolicy: Fail`` by default: kubefort is a security control, and failing open would let any
  object through whenever the webhook is down or slow. Availability comes from 2 replicas spread
  over nodes, a PodDisruptionBudget (``minAvailable: 1``), a short ``timeoutSeconds`` (5) and a
  ``namespaceSelector`` that leaves out kube-system and kubefort's own namespace, so the webhook can
  always be restarted and the control plane never waits on it. ``--failure-policy Ignore`` is
  available for a trial period.
- ``sideEffects: None`` (dry-run requests are sent and judged the same way), ``matchPolicy:
  Equivalent`` (every version of a resource is judged), ``admissionReviewVersions: [v1]``.
- Resources: the kinds the admission rules apply to, as found in the rule registry; Secrets are
  left out on purpose (no admission rule needs them, and the webhook then never receives their data).
- The pod runs non-root (UID 65532), with a read-only root filesystem, no privilege escalation, all
  capabilities dropped, the RuntimeDefault seccomp profile, no service account token (the webhook
  never calls the API server), resource requests and limits; ingress only on the HTTPS port and no
  egress (NetworkPolicy); the namespace enforces the restricted Pod Security level.

The TLS Secret is not part of the output (a private key does not belong in a manifest file): create
it from ``kubefort admission certs`` with ``kubectl create secret tls``, or let cert-manager issue it
(``--cert-manager-issuer``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from ..engine.rule import Rule, Scope
from ..model.kinds import WORKLOAD_KINDS

DEFAULT_IMAGE = "ghcr.io/kubefort/kubefort:0.1.0"
IGNORE = "kubefort.io/ignore"
APP = "kubefort-admission"

#: kind -> (API group, resource); the kinds kubefort's admission rules can apply to.
RESOURCES: dict[str, tuple[str, str]] = {
    "Pod": ("", "pods"),
    "PodTemplate": ("", "podtemplates"),
    "ReplicationController": ("", "replicationcontrollers"),
    "Service": ("", "services"),
    "ConfigMap": ("", "configmaps"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Namespace": ("", "namespaces"),
    "Deployment": ("apps", "deployments"),
    "ReplicaSet": ("apps", "replicasets"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ClusterRole": ("rbac.authorization.k8s.io", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "PeerAuthentication": ("security.istio.io", "peerauthentications"),
    "AuthorizationPolicy": ("security.istio.io", "authorizationpolicies"),
    "DestinationRule": ("networking.istio.io", "destinationrules"),
    "Rollout": ("argoproj.io", "rollouts"),
    "DeploymentConfig": ("apps.openshift.io", "deploymentconfigs"),
}
#: never routed to the webhook: the webhook would receive secret data that no admission rule needs
EXCLUDED_KINDS = frozenset({"Secret"})


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestOptions:
    namespace: str = "kubefort-system"
    service: str = APP
    image: str = DEFAULT_IMAGE
    ca_bundle: str | None = None  # base64 PEM; None: a placeholder (or cert-manager injection)
    failure_policy: str = "Fail"
    timeout_seconds: int = 5
    replicas: int = 2
    tls_secret: str = "kubefort-admission-tls"
    cert_manager_issuer: str | None = None  # an Issuer in the namespace: cert-manager injects the caBundle
    fail_on: str | None = None


def webhook_rules(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """The ValidatingWebhookConfiguration ``rules``: one entry per API group, resources sorted."""
    kinds: set[str] = set()
    for r in rules:
        m = r.meta
        if m.kinds is None:
            if m.scope in (Scope.POD, Scope.CONTAINER):
                kinds.update(WORKLOAD_KINDS)
            # OBJECT rules for every kind (e.g. secrets in annotations) ride along on the resources above
        else:
            kinds.update(m.kinds)
    by_group: dict[str, set[str]] = {}
    for k in sorted(kinds - EXCLUDED_KINDS):
        if k in RESOURCES:
            group, resource = RESOURCES[k]
            by_group.setdefault(group, set()).add(resource)
            if k == "Pod":
                by_group[group].add("pods/ephemeralcontainers")
    return [
        {
            "apiGroups": [g],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": sorted(res),
            "scope": "*",
        }
        for g, res in sorted(by_group.items())
    ]


def build(rules: Iterable[Rule], opts: ManifestOptions = ManifestOptions()) -> list[dict[str, Any]]:
    if opts.failure_policy not in ("Fail", "Ignore"):
        raise ValueError("failure policy must be Fail or Ignore")
    ns, svc = opts.namespace, opts.service
    labels = {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/part-of": "kubefort",
        "app.kubernetes.io/component": "admission-webhook",
    }
    selector = {"app.kubernetes.io/name": APP}
    pinned = "@sha256:" in opts.image
    pod_ignores = (
        []
        if pinned
        else [
            "KF-IMG-002=release images are referenced by their immutable version tag; pass --image REPO@sha256:DIGEST to pin the digest you verified",
        ]
    )
    if opts.image.startswith("ghcr.io/") or "/" not in opts.image.split("@")[0].split(":")[0]:
        pod_ignores.append("KF-IMG-006=the published kubefort image; mirror it to your registry and pass --image")
    args = ["admission", "serve", "--cert", "/tls/tls.crt", "--key", "/tls/tls.key", "--port", "8443"]
    if opts.fail_on:
        args += ["--fail-on", opts.fail_on]
    container = {
        "name": "webhook",
        "image": opts.image,
        "imagePullPolicy": "Always",
        "args": args,
        "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}, {"name": "PYTHONUNBUFFERED", "value": "1"}],
        "ports": [{"name": "https", "containerPort": 8443, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 5,
            "failureThreshold": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "https", "scheme": "HTTPS"},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        },
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
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
        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_annotations = {IGNORE: ", ".join(pod_ignores)} if pod_ignores else {}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": svc,
            "namespace": ns,
            "labels": labels,
            **({"annotations": pod_annotations} if pod_annotations else {}),
        },
        "spec": {
            "replicas": opts.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": svc,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65532,
                        "runAsGroup": 65532,
                        "fsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "topologyKey": "kubernetes.io/hostname",
                                        "labelSelector": {"matchLabels": selector},
                                    },
                                }
                            ]
                        }
                    },
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [
                        {"name": "tls", "secret": {"secretName": opts.tls_secret, "defaultMode": 0o440}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
                    ],
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
        "metadata": {"name": svc, "namespace": ns, "labels": labels},
        "automountServiceAccountToken": False,
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc, "namespace": ns, "labels": labels},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": svc, "namespace": ns, "labels": labels},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }
    netpol = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": svc, "namespace": ns, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": selector},
            "policyTypes": ["Ingress", "Egress"],
            # the API server (often on the host network, address unknown here) calls the webhook: the
            # port is the only thing to restrict; the webhook itself calls nobody
            "ingress": [{"ports": [{"protocol": "TCP", "port": 8443}]}],
            "egress": [],
        },
    }
    default_deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny", "namespace": ns, "labels": labels},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "kubefort", "namespace": ns, "labels": labels},
        "spec": {
            "hard": {
                "pods": "10",
                "requests.cpu": "2",
                "requests.memory": "2Gi",
                "limits.cpu": "8",
                "limits.memory": "4Gi",
            }
        },
    }
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "kubefort", "namespace": ns, "labels": labels},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                }
            ]
        },
    }
    client: dict[str, Any] = {"service": {"name": svc, "namespace": ns, "path": "/validate", "port": 443}}
    vwc_meta: dict[str, Any] = {"name": "kubefort-admission", "labels": labels}
    if opts.cert_manager_issuer:
        vwc_meta["annotations"] = {"cert-manager.io/inject-ca-from": f"{ns}/{svc}"}
    else:
        client["caBundle"] = opts.ca_bundle or "REPLACE_WITH_CA_BUNDLE_FROM_kubefort_admission_certs"
        if not opts.ca_bundle:  # not base64 on purpose: the API server refuses the manifest until it is replaced
            vwc_meta["annotations"] = {
                IGNORE: "KF-SCHEMA-002=caBundle is a placeholder for the output of kubefort admission certs, "
                "invalid on purpose so that the manifest is refused until it is replaced"
            }
    vwc = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": vwc_meta,
        "webhooks": [
            {
                "name": "validate.kubefort.io",
                "admissionReviewVersions": ["v1"],
                "clientConfig": client,
                "rules": webhook_rules(rules),
                "failurePolicy": opts.failure_policy,
                "matchPolicy": "Equivalent",
                "sideEffects": "None",
                "timeoutSeconds": opts.timeout_seconds,
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "NotIn",
                            "values": sorted({"kube-system", ns}),
                        },
                        {"key": "kubefort.io/admission", "operator": "NotIn", "values": ["disabled"]},
                    ]
                },
            }
        ],
    }
    docs: list[dict[str, Any]] = [
        namespace,
        service_account,
        deployment,
        service,
        pdb,
        netpol,
        default_deny,
        quota,
        limits,
    ]
    if opts.cert_manager_issuer:
        docs.append(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": svc, "namespace": ns, "labels": labels},
                "spec": {
                    "secretName": opts.tls_secret,
                    "dnsNames": [f"{svc}.{ns}.svc", f"{svc}.{ns}.svc.cluster.local"],
                    "issuerRef": {"name": opts.cert_manager_issuer, "kind": "Issuer"},
                    "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                },
            }
        )
    docs.append(vwc)
    return docs


def read_ca_bundle(path: str) -> str:
    """The base64 CA bundle in ``path`` (``ca-bundle.b64`` of ``kubefort admission certs``); ValueError
    saying why it cannot be read."""
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(getattr(e, "strerror", None) or "not a base64 text file") from None


def render(docs: list[dict[str, Any]]) -> str:
    header = (
        "# kubefort admission webhook; generated by 'kubefort admission manifests'.\n"
        "# Create the TLS Secret first:  kubefort admission certs --service {svc} --namespace {ns} --out certs/\n"
        "#   kubectl -n {ns} create secret tls {secret} --cert certs/tls.crt --key certs/tls.key\n"
    )
    dep = next(d for d in docs if d["kind"] == "Deployment")
    secret = dep["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"]
    text = header.format(svc=dep["metadata"]["name"], ns=dep["metadata"]["namespace"], secret=secret)
    return text + yaml.dump_all(docs, Dumper=NoAliasDumper, sort_keys=False, default_flow_style=False, width=200)


class NoAliasDumper(yaml.SafeDumper):
    """Shared label maps are written out in full, not as YAML anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True
