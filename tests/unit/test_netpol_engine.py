"""Table-driven tests of the NetworkPolicy reachability engine: one row per semantic rule.

Each case builds a tiny inventory, asks "can SRC reach DST?" and compares the allowed ports
(rendered like the JSON output: "*", "TCP/80", "UDP/53-60", "TCP/*"); [] means denied.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubefort.analysis.netpol import AddrSet, NetpolEngine, PortSet, parse_port_query
from kubefort.analysis.netpol.engine import engine_for, ports_covering
from kubefort.analysis.netpol.model import effective_policy_types
from kubefort.analysis.netpol.sets import ALL_PORTS, NO_PORTS
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source

# ----------------------------------------------------------------------------- tiny object builders


def obj(raw: dict[str, Any]) -> K8sObject:
    return K8sObject.from_raw(raw, Source(file="test.yaml"))


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def _containers(ports: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    return [
        {
            "name": "app",
            "image": "registry.example.com/app:1.0",
            "ports": [{"name": n, "containerPort": p, "protocol": pr} for n, p, pr in ports],
        }
    ]


def deploy(
    name: str,
    namespace: str,
    labels: dict[str, str],
    ports: list[tuple[str, int, str]] = (),  # type: ignore[assignment]
    kind: str = "Deployment",
) -> dict[str, Any]:
    tmpl = {"metadata": {"labels": labels}, "spec": {"containers": _containers(list(ports))}}
    if kind == "Pod":
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": tmpl["spec"],
        }
    if kind == "CronJob":
        return {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": tmpl}}},
        }
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": labels}, "template": tmpl},
    }


def np(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def engine(*raws: dict[str, Any]) -> NetpolEngine:
    return NetpolEngine(Inventory([obj(r) for r in raws]))


def reach(eng: NetpolEngine, src: str, dst: str, port: str | None = None) -> list[str]:
    v = eng.explain(eng.find(src), eng.find(dst), parse_port_query(port) if port else None)
    assert v.allowed == bool(v.ports)
    return v.ports.render()


# ----------------------------------------------------------------------------- a shared little world

WORLD = [
    ns("shop", team="payments", env="prod"),
    ns("ops", team="platform", env="prod"),
    ns("dev", team="payments", env="dev"),
    deploy("web", "shop", {"app": "web", "tier": "frontend"}, [("http", 8080, "TCP")]),
    deploy("api", "shop", {"app": "api", "tier": "backend"}, [("http", 9000, "TCP"), ("grpc", 9090, "TCP")]),
    deploy("db", "shop", {"app": "db", "tier": "data"}, [("pg", 5432, "TCP"), ("metrics", 9187, "TCP")]),
    deploy("dns", "shop", {"app": "dns"}, [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")]),
    deploy("prom", "ops", {"app": "prometheus", "tier": "backend"}),
    deploy("web", "dev", {"app": "web", "tier": "frontend"}, [("http", 8080, "TCP")]),
    deploy("api", "dev", {"app": "api", "tier": "backend"}),
]

DENY_IN = np("deny-in", "shop", {"podSelector": {}, "policyTypes": ["Ingress"]})
DENY_OUT = np("deny-out", "shop", {"podSelector": {}, "policyTypes": ["Egress"]})


def db_from(peers: list[dict[str, Any]] | None, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if peers is not None:
        rule["from"] = peers
    if ports is not None:
        rule["ports"] = ports
    return np("db-in", "shop", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": [rule]})


CASES: list[tuple[str, list[dict[str, Any]], str, str, str | None, list[str]]] = [
    # --- isolation
    ("no policy: everything allowed", [], "shop/Deployment/web", "shop/Deployment/db", None, ["*"]),
    ("default-deny ingress isolates", [DENY_IN], "shop/Deployment/web", "shop/Deployment/db", None, []),
    ("default-deny ingress leaves egress open", [DENY_IN], "shop/Deployment/web", "ops/Deployment/prom", None, ["*"]),
    ("default-deny egress isolates", [DENY_OUT], "shop/Deployment/web", "ops/Deployment/prom", None, []),
    ("default-deny egress leaves ingress open", [DENY_OUT], "ops/Deployment/prom", "shop/Deployment/web", None, ["*"]),
    (
        "policy of another namespace does not isolate",
        [np("deny", "ops", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "policy selecting other pods does not isolate",
        [np("x", "shop", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"]})],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "missing spec.podSelector selects every pod",
        [np("deny", "shop", {"policyTypes": ["Ingress"]})],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "ingress: [] denies everything",
        [np("deny", "shop", {"podSelector": {}, "ingress": []})],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    # --- policyTypes defaulting
    (
        "omitted policyTypes with egress rules: Egress too",
        [
            np(
                "e",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}]}],
                },
            )
        ],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "omitted policyTypes with egress rules: listed destination allowed",
        [
            np(
                "e",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}]}],
                },
            )
        ],
        "shop/Deployment/web",
        "shop/Deployment/api",
        None,
        ["*"],
    ),
    (
        "omitted policyTypes with egress rules: still Ingress",
        [
            np(
                "e",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "api"}}}]}],
                },
            )
        ],
        "shop/Deployment/api",
        "shop/Deployment/web",
        None,
        [],
    ),
    (
        "omitted policyTypes with egress: [] is Ingress only",
        [np("e", "shop", {"podSelector": {}, "ingress": [{}], "egress": []})],
        "shop/Deployment/web",
        "ops/Deployment/prom",
        None,
        ["*"],
    ),
    (
        "policyTypes [Egress] ignores ingress rules (no ingress isolation)",
        [np("e", "shop", {"podSelector": {}, "policyTypes": ["Egress"], "ingress": []})],
        "ops/Deployment/prom",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    # --- both ends must allow
    (
        "egress allows, ingress denies",
        [
            DENY_IN,
            np(
                "out",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]}],
                },
            ),
        ],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "ingress allows, egress denies",
        [DENY_OUT, db_from([{"podSelector": {"matchLabels": {"app": "web"}}}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "both allow: intersection of ports",
        [
            DENY_OUT,
            db_from([{"podSelector": {"matchLabels": {"app": "web"}}}], [{"port": 5432}, {"port": 9187}]),
            np(
                "out",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"port": 5000, "endPort": 6000}]}],
                },
            ),
        ],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["TCP/5432"],
    ),
    (
        "rules of several policies add up",
        [
            db_from([{"podSelector": {"matchLabels": {"app": "web"}}}], [{"port": 5432}]),
            np(
                "db-metrics",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "db"}},
                    "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 9187}]}],
                },
            ),
        ],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["TCP/5432", "TCP/9187"],
    ),
    # --- peers
    (
        "podSelector peer: same namespace",
        [db_from([{"podSelector": {"matchLabels": {"app": "web"}}}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "podSelector peer: not another namespace",
        [db_from([{"podSelector": {"matchLabels": {"app": "web"}}}])],
        "dev/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "namespaceSelector peer: every pod there",
        [db_from([{"namespaceSelector": {"matchLabels": {"team": "platform"}}}])],
        "ops/Deployment/prom",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "namespaceSelector peer: not the policy's own namespace unless selected",
        [db_from([{"namespaceSelector": {"matchLabels": {"team": "platform"}}}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "namespace AND pod selector in one peer: both must match (match)",
        [
            db_from(
                [
                    {
                        "namespaceSelector": {"matchLabels": {"team": "payments"}},
                        "podSelector": {"matchLabels": {"tier": "backend"}},
                    }
                ]
            )
        ],
        "dev/Deployment/api",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "namespace AND pod selector in one peer: both must match (pod label differs)",
        [
            db_from(
                [
                    {
                        "namespaceSelector": {"matchLabels": {"team": "payments"}},
                        "podSelector": {"matchLabels": {"tier": "backend"}},
                    }
                ]
            )
        ],
        "dev/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "namespace AND pod selector in one peer: both must match (namespace differs)",
        [
            db_from(
                [
                    {
                        "namespaceSelector": {"matchLabels": {"team": "payments"}},
                        "podSelector": {"matchLabels": {"tier": "backend"}},
                    }
                ]
            )
        ],
        "ops/Deployment/prom",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "two peers are OR: pod in own namespace",
        [
            db_from(
                [
                    {"namespaceSelector": {"matchLabels": {"team": "platform"}}},
                    {"podSelector": {"matchLabels": {"tier": "backend"}}},
                ]
            )
        ],
        "shop/Deployment/api",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "two peers are OR: any pod of selected namespace",
        [
            db_from(
                [
                    {"namespaceSelector": {"matchLabels": {"team": "platform"}}},
                    {"podSelector": {"matchLabels": {"tier": "backend"}}},
                ]
            )
        ],
        "ops/Deployment/prom",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "two peers are OR: backend pod of another namespace not selected",
        [
            db_from(
                [
                    {"namespaceSelector": {"matchLabels": {"team": "platform"}}},
                    {"podSelector": {"matchLabels": {"tier": "backend"}}},
                ]
            )
        ],
        "dev/Deployment/api",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "empty podSelector peer: every pod of the policy namespace",
        [db_from([{"podSelector": {}}])],
        "shop/Deployment/dns",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "empty podSelector peer: no other namespace",
        [db_from([{"podSelector": {}}])],
        "dev/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "empty namespaceSelector peer: every namespace",
        [db_from([{"namespaceSelector": {}}])],
        "dev/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "empty namespaceSelector: not external",
        [db_from([{"namespaceSelector": {}}])],
        "203.0.113.7",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "from: [] matches every source, external included",
        [db_from([])],
        "203.0.113.0/24",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    ("rule {} allows everything", [db_from(None)], "dev/Deployment/web", "shop/Deployment/db", None, ["*"]),
    # --- matchExpressions
    (
        "In matches",
        [
            db_from(
                [
                    {
                        "podSelector": {
                            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "backend"]}]
                        }
                    }
                ]
            )
        ],
        "shop/Deployment/api",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "In does not match a missing key",
        [db_from([{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]}}])],
        "shop/Deployment/dns",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "NotIn matches a missing key",
        [
            db_from(
                [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}}]
            )
        ],
        "shop/Deployment/dns",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "NotIn excludes listed value",
        [
            db_from(
                [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]}}]
            )
        ],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "Exists",
        [db_from([{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}])],
        "shop/Deployment/dns",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "DoesNotExist",
        [db_from([{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}}])],
        "shop/Deployment/dns",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "namespace matchExpressions NotIn",
        [
            db_from(
                [{"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]}}]
            )
        ],
        "dev/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "matchLabels and matchExpressions are ANDed",
        [
            db_from(
                [
                    {
                        "podSelector": {
                            "matchLabels": {"app": "api"},
                            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}],
                        }
                    }
                ]
            )
        ],
        "shop/Deployment/api",
        "shop/Deployment/db",
        None,
        [],
    ),
    # --- automatic namespace label
    (
        "kubernetes.io/metadata.name is automatic",
        [db_from([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}])],
        "ops/Deployment/prom",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    # --- ports
    (
        "numeric port, default protocol TCP",
        [db_from(None, [{"port": 5432}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["TCP/5432"],
    ),
    (
        "UDP port",
        [db_from(None, [{"port": 53, "protocol": "UDP"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["UDP/53"],
    ),
    (
        "SCTP port",
        [db_from(None, [{"port": 3868, "protocol": "SCTP"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["SCTP/3868"],
    ),
    (
        "protocol without port: every port of it",
        [db_from(None, [{"protocol": "UDP"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["UDP/*"],
    ),
    (
        "endPort range",
        [db_from(None, [{"port": 30000, "endPort": 30100, "protocol": "UDP"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["UDP/30000-30100"],
    ),
    (
        "adjacent ranges merge",
        [db_from(None, [{"port": 80, "endPort": 89}, {"port": 90, "endPort": 99}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["TCP/80-99"],
    ),
    (
        "ports: [] means every port",
        [db_from([{"podSelector": {}}], [])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "named port resolves on the destination (ingress)",
        [db_from(None, [{"port": "pg"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["TCP/5432"],
    ),
    (
        "named port needs the same protocol",
        [db_from(None, [{"port": "pg", "protocol": "UDP"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "named port missing on the destination allows nothing",
        [db_from(None, [{"port": "http"}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "named egress port resolves on the destination pod",
        [
            np(
                "out",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}, {"port": "pg"}]}],
                },
            )
        ],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["TCP/5432"],
    ),
    (
        "named egress port resolves on each destination separately",
        [
            np(
                "out",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"port": "dns", "protocol": "UDP"}, {"port": "pg"}]}],
                },
            )
        ],
        "shop/Deployment/web",
        "shop/Deployment/dns",
        None,
        ["UDP/53"],
    ),
    (
        "named egress port allows nothing to a CIDR",
        [
            np(
                "out",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"port": "http"}, {"port": 443}]}],
                },
            )
        ],
        "shop/Deployment/web",
        "198.51.100.0/24",
        None,
        ["TCP/443"],
    ),
    (
        "port query allowed",
        [db_from(None, [{"port": 5432}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        "5432/TCP",
        ["TCP/5432"],
    ),
    (
        "port query denied (protocol)",
        [db_from(None, [{"port": 5432}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        "5432/UDP",
        [],
    ),
    (
        "named port query",
        [db_from(None, [{"port": 5432}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        "pg",
        ["TCP/5432"],
    ),
    # --- ipBlock and external endpoints
    (
        "ipBlock admits an external source",
        [db_from([{"ipBlock": {"cidr": "203.0.113.0/24"}}])],
        "203.0.113.9",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "ipBlock except excludes",
        [db_from([{"ipBlock": {"cidr": "203.0.113.0/24", "except": ["203.0.113.0/28"]}}])],
        "203.0.113.9",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "ipBlock outside the range",
        [db_from([{"ipBlock": {"cidr": "203.0.113.0/24"}}])],
        "198.51.100.1",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "CIDR source only partly covered is denied",
        [db_from([{"ipBlock": {"cidr": "10.0.0.0/9"}}])],
        "10.0.0.0/8",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "two ipBlocks together cover a CIDR",
        [db_from([{"ipBlock": {"cidr": "10.0.0.0/9"}}, {"ipBlock": {"cidr": "10.128.0.0/9"}}])],
        "10.0.0.0/8",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "coverage per port across rules",
        [
            np(
                "db-in",
                "shop",
                {
                    "podSelector": {"matchLabels": {"app": "db"}},
                    "ingress": [
                        {"from": [{"ipBlock": {"cidr": "10.0.0.0/9"}}], "ports": [{"port": 80, "endPort": 90}]},
                        {"from": [{"ipBlock": {"cidr": "10.128.0.0/9"}}], "ports": [{"port": 85, "endPort": 95}]},
                        {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]},
                    ],
                },
            )
        ],
        "10.0.0.0/8",
        "shop/Deployment/db",
        None,
        ["TCP/85-90", "TCP/443"],
    ),
    (
        "ipBlock 0.0.0.0/0 does not match pods",
        [db_from([{"ipBlock": {"cidr": "0.0.0.0/0"}}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "podSelector {} does not match external",
        [db_from([{"podSelector": {}}])],
        "10.1.2.3",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "IPv6 ipBlock",
        [db_from([{"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}}])],
        "2001:db8:2::1",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "IPv6 except",
        [db_from([{"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}}])],
        "2001:db8:1::1",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "IPv4 ipBlock does not cover IPv6",
        [db_from([{"ipBlock": {"cidr": "0.0.0.0/0"}}])],
        "2001:db8::1",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "egress to external via ipBlock",
        [
            DENY_OUT,
            np(
                "out",
                "shop",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
                },
            ),
        ],
        "shop/Deployment/web",
        "8.8.8.8",
        None,
        ["*"],
    ),
    (
        "egress except blocks metadata address",
        [
            DENY_OUT,
            np(
                "out",
                "shop",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
                },
            ),
        ],
        "shop/Deployment/web",
        "169.254.169.254",
        None,
        [],
    ),
    ("egress to external not isolated", [DENY_IN], "shop/Deployment/web", "169.254.169.254", None, ["*"]),
    # --- invalid policies are left out (the API server rejects them)
    (
        "peer without selector or ipBlock is invalid",
        [DENY_IN, np("bad", "shop", {"podSelector": {}, "ingress": [{"from": [{}]}]})],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        [],
    ),
    (
        "ipBlock with a selector is invalid",
        [db_from([{"ipBlock": {"cidr": "0.0.0.0/0"}, "podSelector": {}}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "endPort with a named port is invalid",
        [db_from(None, [{"port": "pg", "endPort": 6000}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
    (
        "except outside the cidr is invalid",
        [db_from([{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}}])],
        "shop/Deployment/web",
        "shop/Deployment/db",
        None,
        ["*"],
    ),
]


@pytest.mark.parametrize("name,extra,src,dst,port,expected", CASES, ids=[c[0] for c in CASES])
def test_reachability(
    name: str, extra: list[dict[str, Any]], src: str, dst: str, port: str | None, expected: list[str]
) -> None:
    eng = engine(*WORLD, *extra)
    assert reach(eng, src, dst, port) == expected


def test_class_matrix_agrees_with_explain() -> None:
    """The bitset matrix and the per-pair explanation are two code paths: they must agree everywhere."""
    for _, extra, *_ in CASES:
        eng = engine(*WORLD, *extra)
        got = {(a.ref, b.ref): p for a, b, p in eng.connections(include_self=True)}
        for a in eng.workloads:
            for b in eng.workloads:
                assert got.get((a.ref, b.ref), NO_PORTS) == eng.explain(a, b).ports, (a.ref, b.ref, extra)


# ----------------------------------------------------------------------------- namespaces and workloads


def test_namespace_without_object_has_only_automatic_label() -> None:
    eng = engine(
        deploy("db", "shop", {"app": "db"}),
        deploy("job", "batch", {"app": "job"}),
        db_from(
            [
                {"namespaceSelector": {"matchLabels": {"team": "platform"}}},
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "batch"}},
                    "podSelector": {"matchLabels": {"app": "job"}},
                },
            ],
            [{"port": 5432}],
        ),
    )
    assert eng.namespaces["batch"].labels == {"kubernetes.io/metadata.name": "batch"}
    assert not eng.namespaces["batch"].known
    v = eng.explain(eng.find("batch/Deployment/job"), eng.find("shop/Deployment/db"))
    assert v.ports.render() == ["TCP/5432"]
    assert any("no Namespace object" in r for r in v.reasons)


def test_namespace_object_label_overrides_cannot_fake_metadata_name() -> None:
    eng = engine(ns("shop", **{"kubernetes.io/metadata.name": "other"}), deploy("db", "shop", {"app": "db"}))
    assert eng.namespaces["shop"].labels["kubernetes.io/metadata.name"] == "shop"


def test_workload_kinds_and_owned_objects() -> None:
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-5d8f",
            "namespace": "shop",
            "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": True}],
        },
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}},
    }
    tmpl = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "t", "namespace": "shop"},
        "template": {"metadata": {"labels": {"app": "t"}}, "spec": {"containers": []}},
    }
    eng = engine(
        deploy("web", "shop", {"app": "web"}),
        rs,
        tmpl,
        deploy("one", "shop", {"app": "one"}, kind="Pod"),
        deploy("nightly", "shop", {"app": "nightly"}, kind="CronJob"),
        deploy("cache", "shop", {"app": "cache"}, kind="StatefulSet"),
    )
    assert [w.ref for w in eng.workloads] == [
        "shop/CronJob/nightly",
        "shop/Deployment/web",
        "shop/Pod/one",
        "shop/StatefulSet/cache",
    ]


def test_equivalence_classes() -> None:
    raws = [deploy(f"web-{i}", "shop", {"app": "web"}, [("http", 8080, "TCP")]) for i in range(50)]
    raws += [
        deploy("web-other-port", "shop", {"app": "web"}, [("http", 9090, "TCP")]),
        deploy("web", "dev", {"app": "web"}, [("http", 8080, "TCP")]),
        DENY_IN,
        np(
            "in", "shop", {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": "http"}]}]}
        ),
    ]
    eng = engine(*raws)
    assert len(eng.workloads) == 52
    assert len(eng.classes) == 3  # same labels but different named port, other namespace
    conns = eng.connections()
    assert len(conns) == 51 * 50 + 51  # within shop (no self pairs), and shop -> dev/web (not isolated)
    assert {p.render()[0] for a, b, p in conns if b.name == "web-other-port"} == {"TCP/9090"}


def test_connections_namespace_filter_and_self() -> None:
    eng = engine(*WORLD, DENY_IN)
    all_refs = {(a.ref, b.ref) for a, b, _ in eng.connections()}
    ops = {(a.ref, b.ref) for a, b, _ in eng.connections(["ops"])}
    assert ops == {p for p in all_refs if p[0].startswith("ops/") or p[1].startswith("ops/")}
    assert ("ops/Deployment/prom", "ops/Deployment/prom") not in all_refs
    assert ("ops/Deployment/prom", "ops/Deployment/prom") in {
        (a.ref, b.ref) for a, b, _ in eng.connections(include_self=True)
    }


def test_invalid_policies_are_reported() -> None:
    eng = engine(
        *WORLD,
        np("bad", "shop", {"podSelector": {}, "ingress": [{"from": [{}]}]}),
        np("bad-port", "shop", {"podSelector": {}, "ingress": [{"ports": [{"port": "80"}]}]}),
        np("bad-types", "shop", {"podSelector": {}, "policyTypes": ["Inbound"]}),
    )
    assert [p[0] for p in eng.problems] == [
        "NetworkPolicy/shop/bad",
        "NetworkPolicy/shop/bad-port",
        "NetworkPolicy/shop/bad-types",
    ]
    assert not eng.policies


def test_find() -> None:
    eng = engine(*WORLD)
    assert eng.find("shop/deploy/web").ref == "shop/Deployment/web"
    assert eng.find("shop/deployment/web").ref == "shop/Deployment/web"
    assert eng.find("10.0.0.0/8").ref == "10.0.0.0/8"
    assert eng.find("2001:db8::/32").ref == "2001:db8::/32"
    with pytest.raises(LookupError, match="did you mean shop/Deployment/web"):
        eng.find("shop/StatefulSet/web")
    with pytest.raises(LookupError):
        eng.find("nonsense")


def test_reasons_name_the_policies() -> None:
    eng = engine(*WORLD, DENY_IN, db_from([{"podSelector": {"matchLabels": {"app": "web"}}}], [{"port": 5432}]))
    v = eng.explain(eng.find("shop/Deployment/web"), eng.find("shop/Deployment/db"))
    assert v.allowed
    assert v.ingress.policies == ["shop/deny-in", "shop/db-in"]
    assert v.ingress.allowed_by == [("shop/db-in ingress[0]", PortSet.of("TCP", 5432, 5432))]
    assert "not isolated" in v.reasons[0]
    d = v.to_dict()
    assert d["allowed"] is True and d["ports"] == ["TCP/5432"]
    v = eng.explain(eng.find("shop/Deployment/api"), eng.find("shop/Deployment/db"))
    assert not v.allowed
    assert "no ingress rule allows traffic from shop/Deployment/api" in v.reasons[1]


def test_engine_cached_per_inventory() -> None:
    inv = Inventory([obj(r) for r in WORLD])
    assert engine_for(inv) is engine_for(inv)
    assert engine_for(Inventory([obj(r) for r in WORLD])) is not engine_for(inv)


def test_engine_is_kept_by_the_inventory() -> None:
    """No module-level cache: the inventory owns its engine and drops it when an object is added."""
    import kubefort.analysis.netpol.engine as engine_module

    inv = Inventory([obj(r) for r in WORLD])
    eng = engine_for(inv)
    assert inv.cached(NetpolEngine, lambda: None) is eng
    inv.add(obj(WORLD[0]))
    assert engine_for(inv) is not eng
    assert not hasattr(engine_module, "_CACHE")


# ----------------------------------------------------------------------------- sets


@pytest.mark.parametrize(
    "types,egress,expected",
    [
        (None, None, (True, False)),
        (None, [{}], (True, True)),
        (None, [], (True, False)),
        ([], [{}], (True, True)),
        (["Egress"], None, (False, True)),
        (["Ingress", "Egress"], None, (True, True)),
    ],
)
def test_effective_policy_types(types: Any, egress: Any, expected: tuple[bool, bool]) -> None:
    spec: dict[str, Any] = {"podSelector": {}}
    if types is not None:
        spec["policyTypes"] = types
    if egress is not None:
        spec["egress"] = egress
    assert effective_policy_types(spec) == expected


def test_portset_render_and_algebra() -> None:
    assert ALL_PORTS.render() == ["*"]
    tcp = PortSet.of("TCP")
    udp = PortSet.of("UDP", 53, 60)
    assert (tcp | udp).render() == ["TCP/*", "UDP/53-60"]
    assert (tcp | PortSet.of("UDP") | PortSet.of("SCTP")).render() == ["TCP/*", "UDP/*", "SCTP/*"]
    assert ((tcp | udp) & PortSet.of("UDP", 55, 100)).render() == ["UDP/55-60"]
    assert (ALL_PORTS & udp) == udp
    assert not (tcp & udp)
    assert (PortSet.of("TCP", 1, 100) - PortSet.of("TCP", 10, 20)).render() == ["TCP/1-9", "TCP/21-100"]


def test_addrset() -> None:
    a = AddrSet.cidr("10.0.0.0/8") - AddrSet.cidr("10.1.0.0/16")
    assert a.render()[0] == "10.0.0.0/16"
    assert not a.covers(AddrSet.cidr("10.1.2.3"))
    assert a.covers(AddrSet.cidr("10.2.0.0/16"))
    assert AddrSet.cidr("10.0.0.5/8") == AddrSet.cidr("10.0.0.0/8")  # host bits ignored
    assert str(AddrSet.cidr("2001:db8::/32")) == "2001:db8::/32"


def test_ports_covering() -> None:
    x = AddrSet.cidr("10.0.0.0/8")
    lo, hi = AddrSet.cidr("10.0.0.0/9"), AddrSet.cidr("10.128.0.0/9")
    assert ports_covering(x, [(lo, ALL_PORTS)]) == NO_PORTS
    assert ports_covering(x, [(lo, ALL_PORTS), (hi, PortSet.of("TCP", 80, 80))]).render() == ["TCP/80"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("5432/TCP", ("TCP", 5432)),
        ("53/udp", ("UDP", 53)),
        ("8080", ("TCP", 8080)),
        ("TCP/443", ("TCP", 443)),
        ("http", ("TCP", "http")),
        ("dns/UDP", ("UDP", "dns")),
    ],
)
def test_parse_port_query(text: str, expected: tuple[str, Any]) -> None:
    assert parse_port_query(text) == expected


@pytest.mark.parametrize("text", ["0", "70000/TCP", "80/ICMP", "/TCP"])
def test_parse_port_query_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_port_query(text)


@pytest.mark.parametrize("bits", [0, 1, 0b1010, (1 << 200) | 5, (1 << 64) - 1])
def test_iter_bits(bits: int) -> None:
    from kubefort.analysis.netpol.engine import iter_bits

    assert iter_bits(bits) == [i for i in range(bits.bit_length()) if bits >> i & 1]


def test_iter_bits_of_few_high_bits() -> None:
    """A namespace's classes sit high in a large cluster's bitset: their indexes come out exact."""
    from kubefort.analysis.netpol.engine import iter_bits

    assert iter_bits(1 << 90_000) == [90_000]
    assert iter_bits((0b1011 << 90_000) | (1 << 120_000)) == [90_000, 90_001, 90_003, 120_000]
