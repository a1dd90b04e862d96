"""KF-MTLS-003 in cluster mode: a meshed namespace that falls back to Istio's PERMISSIVE default."""

from __future__ import annotations

from typing import Any

from kubefort.engine.runner import evaluate
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import default_registry

RULE = default_registry(plugins=False).get("KF-MTLS-003")


def _obj(raw: dict[str, Any]) -> K8sObject:
    return K8sObject.from_raw(raw, Source(file="<live>", live=True))


def _ns(name: str, **labels: str) -> K8sObject:
    return _obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})


def _pa(namespace: str, mode: str | None, selector: dict[str, str] | None = None) -> K8sObject:
    spec: dict[str, Any] = {}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return _obj(
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": namespace},
            "spec": spec,
        }
    )


ISTIOD = _obj(
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"}},
        "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "istio/pilot:1.24.2"}]}}},
    }
)


def _failed(objects: list[K8sObject], mode: str = "cluster") -> set[str]:
    report = evaluate([RULE], Inventory(objects, live=mode == "cluster"), mode=mode)
    assert not report.rule_errors
    return {str(f.object) for f in report.findings}


def test_meshed_namespace_without_any_mode_fails() -> None:
    objs = [
        ISTIOD,
        _ns("shop", **{"istio-injection": "enabled"}),
        _ns("ambient-apps", **{"istio.io/dataplane-mode": "ambient"}),
        _ns("tools"),
    ]
    assert _failed(objs) == {"Namespace/shop", "Namespace/ambient-apps"}


def test_mesh_wide_or_namespace_strict_passes() -> None:
    shop = _ns("shop", **{"istio.io/rev": "1-24"})
    assert _failed([ISTIOD, shop, _pa("istio-system", "STRICT")]) == set()
    assert _failed([ISTIOD, shop, _pa("shop", "STRICT")]) == set()


def test_unset_and_selector_policies_do_not_count() -> None:
    shop = _ns("shop", **{"istio-injection": "enabled"})
    objs = [ISTIOD, shop, _pa("istio-system", "UNSET"), _pa("shop", "STRICT", {"app": "cart"})]
    assert _failed(objs) == {"Namespace/shop"}


def test_explicit_permissive_is_reported_on_the_policy_only() -> None:
    shop = _ns("shop", **{"istio-injection": "enabled"})
    assert _failed([ISTIOD, shop, _pa("shop", "PERMISSIVE")]) == {"PeerAuthentication/shop/default"}


def test_manifest_mode_and_no_istio_do_not_judge_namespaces() -> None:
    shop = _ns("shop", **{"istio-injection": "enabled"})
    assert _failed([ISTIOD, shop], mode="manifest") == set()
    assert _failed([shop]) == set()
