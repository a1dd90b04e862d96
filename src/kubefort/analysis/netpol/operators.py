"""Pods that operators create from custom resources of the input, as NetworkPolicy sees them.

A NetworkPolicy written for the pods of a ``Prometheus`` or ``Alertmanager`` resource selects pods that
no pod template of the input describes: the operator makes a StatefulSet for the resource when it is
applied. To judge such a policy (does its selector match any pod?) and to answer reachability questions
about those pods, the engine adds one workload per resource, with the labels and named container ports
the operator gives its pods.

Known recipes (what the operator's code sets; the resource's ``spec.podMetadata.labels`` come first and
the operator's own labels win over them):

- Prometheus Operator (``monitoring.coreos.com``), from ``pkg/prometheus``, ``pkg/alertmanager`` and
  ``pkg/thanos`` (v0.60 and later):

  - ``Prometheus`` NAME: ``app.kubernetes.io/name: prometheus``, ``app.kubernetes.io/managed-by:
    prometheus-operator``, ``app.kubernetes.io/instance: NAME``, ``prometheus: NAME``,
    ``operator.prometheus.io/name: NAME``, ``operator.prometheus.io/shard: "0"`` (the first shard);
    ports ``web`` 9090 (``spec.portName``), ``reloader-web`` 8080.
  - ``PrometheusAgent`` NAME: the same with ``app.kubernetes.io/name: prometheus-agent`` and no
    ``prometheus`` label.
  - ``Alertmanager`` NAME: ``app.kubernetes.io/name: alertmanager``, ``app.kubernetes.io/managed-by:
    prometheus-operator``, ``app.kubernetes.io/instance: NAME``, ``alertmanager: NAME``; ports ``web``
    9093 (``spec.portName``), ``mesh-tcp`` 9094/TCP, ``mesh-udp`` 9094/UDP, ``reloader-web`` 8080.
  - ``ThanosRuler`` NAME: ``app.kubernetes.io/name: thanos-ruler``, ``app.kubernetes.io/managed-by:
    prometheus-operator``, ``app.kubernetes.io/instance: NAME``, ``thanos-ruler: NAME``; ports ``grpc``
    10901, ``web`` 10902.

  Every one also carries ``app.kubernetes.io/version`` when ``spec.version`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ...model.objects import K8sObject
from .model import NamedPorts, Workload

MONITORING = "monitoring.coreos.com"
MANAGED_BY = "prometheus-operator"


def _pod_metadata_labels(obj: K8sObject) -> dict[str, str]:
    md = obj.get("spec", "podMetadata")
    labels = md.get("labels") if isinstance(md, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {str(k): ("" if v is None else str(v)) for k, v in labels.items()}


def _port_name(obj: K8sObject) -> str:
    name = obj.get("spec", "portName")
    return name if isinstance(name, str) and name else "web"


def _labels(obj: K8sObject, app: str, own: Mapping[str, str]) -> dict[str, str]:
    out = _pod_metadata_labels(obj)
    version = obj.get("spec", "version")
    if isinstance(version, str) and version:
        out.setdefault("app.kubernetes.io/version", version.lstrip("v"))
    out.update(
        {
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "app.kubernetes.io/instance": obj.name,
            **own,
        }
    )
    return out


def _prometheus(obj: K8sObject) -> tuple[dict[str, str], NamedPorts]:
    own = {"prometheus": obj.name, "operator.prometheus.io/name": obj.name, "operator.prometheus.io/shard": "0"}
    ports = frozenset({(_port_name(obj), "TCP", 9090), ("reloader-web", "TCP", 8080)})
    return _labels(obj, "prometheus", own), ports


def _prometheus_agent(obj: K8sObject) -> tuple[dict[str, str], NamedPorts]:
    own = {"operator.prometheus.io/name": obj.name, "operator.prometheus.io/shard": "0"}
    ports = frozenset({(_port_name(obj), "TCP", 9090), ("reloader-web", "TCP", 8080)})
    return _labels(obj, "prometheus-agent", own), ports


def _alertmanager(obj: K8sObject) -> tuple[dict[str, str], NamedPorts]:
    ports = frozenset(
        {
            (_port_name(obj), "TCP", 9093),
            ("mesh-tcp", "TCP", 9094),
            ("mesh-udp", "UDP", 9094),
            ("reloader-web", "TCP", 8080),
        }
    )
    return _labels(obj, "alertmanager", {"alertmanager": obj.name}), ports


def _thanos_ruler(obj: K8sObject) -> tuple[dict[str, str], NamedPorts]:
    ports = frozenset({("grpc", "TCP", 10901), (_port_name(obj), "TCP", 10902)})
    return _labels(obj, "thanos-ruler", {"thanos-ruler": obj.name}), ports


#: (API group, kind) -> the labels and named ports of the pods the operator makes for a resource
RECIPES: dict[tuple[str, str], Callable[[K8sObject], tuple[dict[str, str], NamedPorts]]] = {
    (MONITORING, "Prometheus"): _prometheus,
    (MONITORING, "PrometheusAgent"): _prometheus_agent,
    (MONITORING, "Alertmanager"): _alertmanager,
    (MONITORING, "ThanosRuler"): _thanos_ruler,
}
#: the kinds whose resources make pods, for the reporters' notes
OPERATOR_KINDS = frozenset(kind for _, kind in RECIPES)
#: the same, group-qualified as rules declare what they read (``needs``)
OPERATOR_NEEDS = frozenset(f"{kind}.{group}" for group, kind in RECIPES)


def operator_workload(obj: K8sObject) -> Workload | None:
    """The pods an operator makes for ``obj``, as one workload; None when ``obj`` is no such resource."""
    recipe = RECIPES.get((obj.group, obj.kind))
    if recipe is None or obj.namespace is None:
        return None
    replicas: Any = obj.get("spec", "replicas")
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas == 0:
        return None  # scaled to zero: no pod
    labels, ports = recipe(obj)
    return Workload(obj=obj, namespace=obj.namespace, kind=obj.kind, name=obj.name, labels=labels, named_ports=ports)
