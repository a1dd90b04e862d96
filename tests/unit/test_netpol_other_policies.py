"""AdminNetworkPolicy / BaselineAdminNetworkPolicy (modelled exactly) and CNI policies (selection only)
in the NetworkPolicy engine (issue 12 item 23). Verdicts worked out by hand from the API's rules."""

from __future__ import annotations

import pytest

from kubefort.analysis.netpol.cni_policies import compile_selector
from kubefort.analysis.netpol.engine import NetpolEngine
from kubefort.analysis.netpol.queries import matrix
from kubefort.analysis.netpol.sets import AddrSet, PortSet
from kubefort.loading.loader import load_text
from kubefort.model.inventory import Inventory


def _ns(name: str, team: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}, labels: {{team: {team}}}}}\n"


def _deploy(ns: str, name: str, port: int = 8080) -> str:
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: c, image: ghcr.io/acme/{name}:1.0.0, ports: [{{name: http, containerPort: {port}}}]}}]
"""


TIERS = "---\n".join(
    [
        _ns("a", "a"),
        _ns("b", "b"),
        _ns("mon", "mon"),
        _deploy("a", "web"),
        _deploy("b", "api"),
        _deploy("mon", "prom", 9090),
        # NetworkPolicy: a/web accepts only app=web-client (no such pod)
        """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: a}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: web-client}}}]}]
""",
        """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: allow-monitoring}
spec:
  priority: 5
  subject: {namespaces: {}}
  ingress:
  - name: scrape
    action: Allow
    from: [{namespaces: {matchLabels: {team: mon}}}]
    ports: [{namedPort: http}]
  egress:
  - name: imds
    action: Deny
    to: [{networks: [169.254.169.254/32]}]
""",
        """apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: tenant-a}
spec:
  priority: 10
  subject: {pods: {namespaceSelector: {matchLabels: {team: a}}, podSelector: {}}}
  ingress:
  - action: Deny
    from: [{namespaces: {matchLabels: {team: b}}}]
  - action: Pass
    from: [{namespaces: {matchLabels: {team: mon}}}]
""",
        """apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
  subject: {namespaces: {}}
  ingress:
  - action: Deny
    from: [{namespaces: {}}]
""",
    ]
)


@pytest.fixture(scope="module")
def eng() -> NetpolEngine:
    return NetpolEngine(Inventory(load_text(TIERS, "tiers.yaml").objects))


def _ports(eng: NetpolEngine, src: str, dst: str) -> PortSet:
    return eng.ports(eng.find(src), eng.find(dst))


def test_allow_wins_over_network_policy(eng: NetpolEngine) -> None:
    # allow-monitoring's Allow (named port http = 8080 on a/web) decides before the NetworkPolicy
    assert _ports(eng, "mon/deploy/prom", "a/deploy/web") == PortSet.of("TCP", 8080, 8080)
    v = eng.explain(eng.find("mon/deploy/prom"), eng.find("a/deploy/web"), ("TCP", 9090))
    assert not v.allowed  # Pass (tenant-a) hands 9090 to the NetworkPolicy, which isolates web: denied
    assert any("tenant-a" in r and "(Pass)" in r for r, _ in v.ingress.admin)


def test_deny_and_baseline(eng: NetpolEngine) -> None:
    assert not _ports(eng, "b/deploy/api", "a/deploy/web")  # tenant-a Deny
    assert not _ports(eng, "a/deploy/web", "b/deploy/api")  # no NetworkPolicy on api: the baseline denies
    assert _ports(eng, "mon/deploy/prom", "b/deploy/api") == PortSet.of("TCP", 8080, 8080)  # Allow first
    assert not _ports(eng, "a/deploy/web", "mon/deploy/prom")  # baseline


def test_egress_to_networks_is_exact(eng: NetpolEngine) -> None:
    web = eng.find("a/deploy/web")
    assert not eng.egress_to(web, AddrSet.cidr("169.254.169.254/32"))
    assert eng.egress_to(web, AddrSet.cidr("8.8.8.8/32"))
    assert not eng.egress_to(web, AddrSet.cidr("0.0.0.0/0"))  # not for every address of it
    assert eng.egress_to(web, AddrSet.cidr("10.0.0.0/8")).is_all


def test_matrix_uses_the_tiers_and_says_what_is_modelled(eng: NetpolEngine) -> None:
    m = matrix(eng)
    pairs = {(c.source, c.destination) for c in m.connections}
    assert pairs == {("mon/Deployment/prom", "a/Deployment/web"), ("mon/Deployment/prom", "b/Deployment/api")}
    assert any(n.startswith("modelled: AdminNetworkPolicy/allow-monitoring") for n in m.notes)


CNI = "---\n".join(
    [
        _deploy("shop", "web"),
        _deploy("shop", "api"),
        """apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {"any:app": web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: api}}]}]
  enableDefaultDeny: {egress: false}
""",
        """apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  selector: "app == 'api' && !has(canary)"
  egress: [{action: Allow}]
""",
    ]
)


def test_cni_policies_select_but_are_not_modelled() -> None:
    eng = NetpolEngine(Inventory(load_text(CNI, "cni.yaml").objects))
    web, api = eng.find("shop/deploy/web"), eng.find("shop/deploy/api")
    assert eng.cni_selecting(web, "ingress") == (["CiliumNetworkPolicy shop/web"], [])
    assert eng.cni_selecting(web, "egress") == ([], [])
    # Calico's types default: egress rules only -> Egress only
    assert eng.cni_selecting(api, "egress") == (["Calico NetworkPolicy shop/api"], [])
    assert eng.cni_selecting(api, "ingress") == ([], [])
    v = eng.explain(api, web)
    assert v.allowed and any("does not model" in n for n in v.notes)
    assert any(n.startswith("not modelled: 1 Calico NetworkPolicy, 1 CiliumNetworkPolicy") for n in matrix(eng).notes)


@pytest.mark.parametrize(
    "expr,labels,want",
    [
        ("all()", {}, True),
        ("app == 'web'", {"app": "web"}, True),
        ("app != 'web'", {}, True),
        ("has(tier) && tier in {'a', 'b'}", {"tier": "b"}, True),
        ("tier not in {'a'} || !has(x)", {"tier": "a", "x": "1"}, False),
        ("name starts with 'pay' && name ends with 'ts'", {"name": "payments"}, True),
        ('(env == "prod") && zone contains "eu"', {"env": "prod", "zone": "eu-west"}, True),
    ],
)
def test_calico_selector_grammar(expr: str, labels: dict[str, str], want: bool) -> None:
    sel = compile_selector(expr)
    assert sel is not None and sel(labels) is want


def test_calico_selector_unparseable_is_unknown() -> None:
    assert compile_selector("app === 'web'") is None
