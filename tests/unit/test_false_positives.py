"""Issue 12, false positives judged against Kubernetes semantics: what the fixtures in
``tests/rules/fixtures`` cannot say (messages, severities, sub-codes)."""

from __future__ import annotations

from kubefort.analysis.netpol.engine import NetpolEngine
from kubefort.engine.findings import Report
from kubefort.engine.rule import Severity
from kubefort.engine.runner import evaluate
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory
from kubefort.rules import default_registry

REGISTRY = default_registry(plugins=False)


def _scan(text: str, *ids: str) -> Report:
    inv = Inventory(load_text(text, "input.yaml").objects)
    return evaluate([REGISTRY.get(i) for i in ids], inv)


NON_ROOT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: adapter, namespace: monitoring}
spec:
  selector: {matchLabels: {app: adapter}}
  template:
    metadata: {labels: {app: adapter}}
    spec:
      securityContext: {runAsNonRoot: true}
      containers: [{name: adapter, image: registry.example.com/adapter:0.12.0}]
"""


def test_pod_018_does_not_claim_uid_0_under_run_as_non_root() -> None:
    """With runAsNonRoot: true the kubelet refuses UID 0, so "often 0" is wrong; the image's user may still
    be a low UID (the finding stays, its message changes)."""
    (f,) = _scan(NON_ROOT, "KF-POD-018").findings
    assert "often 0" not in f.message and "runAsNonRoot: true rules out 0" in f.message
    (g,) = _scan(
        NON_ROOT.replace("securityContext: {runAsNonRoot: true}", "securityContext: {}"), "KF-POD-018"
    ).findings
    assert "often 0" in g.message


BOUND = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: operator, namespace: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: operator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: operator}
subjects: [{kind: ServiceAccount, name: operator, namespace: monitoring}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: operator, namespace: monitoring}
spec:
  selector: {matchLabels: {app: operator}}
  template:
    metadata: {labels: {app: operator}}
    spec:
      serviceAccountName: operator
      automountServiceAccountToken: true
      containers: [{name: operator, image: quay.io/acme/operator:v0.80.1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: monitoring}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: quay.io/acme/web:1.0.0}]
"""


def test_rbac_025_tells_api_clients_apart() -> None:
    """A pod whose ServiceAccount the input binds uses the API on purpose: information, sub-code uses_api;
    a pod whose ServiceAccount nothing binds keeps the medium finding."""
    by_name = {f.object.name: f for f in _scan(BOUND, "KF-RBAC-025").findings}
    assert by_name["operator"].severity is Severity.INFO and by_name["operator"].subcode == "uses_api"
    assert 'ClusterRoleBinding "operator"' in by_name["operator"].message
    assert by_name["web"].severity is Severity.MEDIUM and by_name["web"].subcode is None


ALERTMANAGER = """\
apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata: {name: main, namespace: monitoring}
spec:
  replicas: 3
  podMetadata: {labels: {app.kubernetes.io/part-of: kube-prometheus}}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s, namespace: monitoring}
spec: {replicas: 2, version: v3.1.0}
"""


def test_operator_pods_are_workloads_of_the_netpol_engine() -> None:
    eng = NetpolEngine(Inventory(load_text(ALERTMANAGER, "in.yaml").objects))
    am = eng.find("monitoring/alertmanager/main")
    prom = eng.find("monitoring/prometheus/k8s")
    assert am.labels["alertmanager"] == "main" and am.labels["app.kubernetes.io/part-of"] == "kube-prometheus"
    assert ("web", "TCP", 9093) in am.named_ports
    assert prom.labels["prometheus"] == "k8s" and prom.labels["app.kubernetes.io/version"] == "3.1.0"
    assert eng.ports(prom, am)  # no policy: open
