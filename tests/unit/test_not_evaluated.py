"""Issue 12 item 6: a rule that needs objects or facts the input does not have says "not evaluated",
with the reason, and never "pass". One input that lacks them all (plain manifests: no Nodes, no
workloads behind the Services and policies, bindings to roles elsewhere), scanned with every rule."""

from __future__ import annotations

import pytest

from kubefort.engine.findings import Report, Status
from kubefort.engine.runner import evaluate
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.rules import default_registry

LACKING = """\
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: ghcr.io/acme/web:1.2.3}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: billing}
spec:
  type: LoadBalancer
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: billing}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: frontend}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: api, namespace: billing}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: defined-elsewhere}
subjects: [{kind: ServiceAccount, name: api, namespace: billing}]
"""

#: (rule, object) -> what the input lacks
LACKS = {
    ("KF-NET-011", "Namespace/kube-system"): "the network plugin (a cluster's Nodes and kube-system)",
    ("KF-NET-017", "Namespace/shop"): "Nodes telling the cloud provider",
    ("KF-IMG-008", "Service/billing/api"): "the pods the Service selects",
    ("KF-NET-016", "Service/billing/api"): "the pods the Service selects",
    ("KF-POD-035", "Service/billing/api"): "the pods resolving the named targetPort",
    ("KF-NET-009", "NetworkPolicy/billing/api"): "the workloads of the namespace",
    ("KF-NET-010", "NetworkPolicy/billing/api"): "the workloads of the namespace",
    ("KF-RBAC-005", "RoleBinding/billing/api"): "the bound Role",
    ("KF-RBAC-007", "RoleBinding/billing/api"): "the bound Role",
    ("KF-RBAC-008", "RoleBinding/billing/api"): "the bound Role",
    ("KF-RBAC-033", "RoleBinding/billing/api"): "the bound Role",
    ("KF-RBAC-027", "Deployment/shop/web"): "the ServiceAccount and the whole namespace",
}
#: the same Deployment alone: no binding at all to judge its ServiceAccount's permissions by
ALONE = LACKING.split("---\napiVersion: v1\nkind: Service\n")[0]
LACKS_ALONE = {("KF-RBAC-035", "Deployment/shop/web"): "any RoleBinding or ClusterRoleBinding"}


def _scan(text: str) -> Report:
    inv = Inventory(load_text(text, "lacking.yaml").objects)
    return evaluate(list(default_registry(plugins=False)), inv)


@pytest.fixture(scope="module")
def report() -> Report:
    return _scan(LACKING)


@pytest.mark.parametrize(
    "text,rule_id,ref",
    [(LACKING, *k) for k in sorted(LACKS)] + [(ALONE, *k) for k in sorted(LACKS_ALONE)],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else "input",
)
def test_not_evaluated_never_passed(text: str, rule_id: str, ref: str) -> None:
    report = _scan(text)
    passed = {(m.id, str(o)) for m, o, _ in report.passes}
    not_eval = {(r.rule.id, str(r.object)): r.detail for r in report.results if r.status is Status.NOT_EVALUATED}
    lacks = {**LACKS, **LACKS_ALONE}[(rule_id, ref)]
    assert (rule_id, ref) not in passed, f"{rule_id} passed {ref}, though the input lacks {lacks}"
    assert (rule_id, ref) in not_eval, f"{rule_id} did not say it could not judge {ref}"
    assert not_eval[(rule_id, ref)], "a reason is given"


def test_rules_not_about_an_object_give_it_no_result(report: Report) -> None:
    """A manifest scan judges roles, not each binding of them: the role rules give the binding no result
    (neither pass nor not evaluated); a Dashboard rule gives none to bindings when no Dashboard runs."""
    judged = {(m.id, str(o)) for m, o, _ in report.passes} | {(r.rule.id, str(r.object)) for r in report.results}
    for rid in ("KF-RBAC-003", "KF-RBAC-004", "KF-RBAC-010", "KF-RBAC-014", "KF-IMG-009"):
        assert (rid, "RoleBinding/billing/api") not in judged, rid
