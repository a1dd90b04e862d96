#!/usr/bin/env python3
"""RBAC engine benchmark: index build, who-can/can queries and escalation paths on a synthetic cluster.

    .venv/bin/python bench/bench_rbac.py [--namespaces 500] [--roles 5000] [--bindings 50000] [--seed 1]

The cluster is generated here, in memory (no YAML parsing is timed): ``--namespaces`` namespaces,
``--roles`` roles (80% Roles, 20% ClusterRoles, 2% of those aggregated), ``--bindings`` bindings
(90% RoleBindings, 10% ClusterRoleBindings) whose 1-3 subjects are ServiceAccounts (40 per
namespace), users (2,000) and groups (200), plus 10 Deployments per namespace and a handful of
cluster-admin bindings so that escalation paths exist. Rules are drawn from a pool of realistic
rules (readers, deployers, secret readers, exec, impersonation, bind/escalate, wildcards...).

Prints a markdown table of the figures against the targets (build < 3 s, who-can < 50 ms,
escalation paths for every subject < 30 s) and the command that produced it.
(Not to be confused with bench/bench_rbac_rules.py, which times the KF-RBAC rule pack.)
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))

from kubefort.analysis.rbac.escalation import escalation_paths  # noqa: E402
from kubefort.analysis.rbac.index import RbacIndex  # noqa: E402
from kubefort.model.inventory import Inventory  # noqa: E402
from kubefort.model.objects import K8sObject, Source  # noqa: E402

RBAC = "rbac.authorization.k8s.io/v1"
SRC = Source(file="<bench>")

RULE_POOL: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": [""], "resources": ["configmaps", "services", "endpoints"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "replicasets", "statefulsets"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create", "update", "patch", "delete"]},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["get", "list", "create"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["tls", "db-credentials"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods/exec", "pods/attach"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
    {"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get", "update"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses", "networkpolicies"], "verbs": ["*"]},
    {"apiGroups": ["monitoring.example.com"], "resources": ["*"], "verbs": ["*"]},
    {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
    {"nonResourceURLs": ["/metrics", "/healthz/*"], "verbs": ["get"]},
]
RARE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["users", "groups"], "verbs": ["impersonate"]},
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind", "escalate", "update"],
    },
    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
]


def obj(raw: dict[str, Any]) -> K8sObject:
    return K8sObject.from_raw(raw, SRC)


def generate(namespaces: int, roles: int, bindings: int, seed: int) -> list[K8sObject]:
    rnd = random.Random(seed)
    nss = [f"ns-{i:03d}" for i in range(namespaces)]
    out: list[K8sObject] = [obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}) for n in nss]

    def rules(k: int) -> list[dict[str, Any]]:
        picked = rnd.sample(RULE_POOL, k)
        if rnd.random() < 0.02:
            picked.append(rnd.choice(RARE_RULES))
        return picked

    n_cluster = roles // 5
    cluster_roles = [f"cr-{i:04d}" for i in range(n_cluster)]
    for i, name in enumerate(cluster_roles):
        raw: dict[str, Any] = {
            "apiVersion": RBAC,
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"agg": f"a{i % 10}"}},
            "rules": rules(rnd.randint(2, 5)),
        }
        if i % 50 == 0:  # aggregated roles select one of ten label values
            raw["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {"agg": f"a{(i // 50) % 10}"}}]}
            raw["rules"] = []
            raw["metadata"]["labels"] = {"agg": "top"}
        out.append(obj(raw))
    role_names: dict[str, list[str]] = {n: [] for n in nss}
    for i in range(roles - n_cluster):
        ns = nss[i % namespaces]
        name = f"role-{i:05d}"
        role_names[ns].append(name)
        out.append(
            obj(
                {
                    "apiVersion": RBAC,
                    "kind": "Role",
                    "metadata": {"name": name, "namespace": ns},
                    "rules": [r for r in rules(rnd.randint(2, 4)) if "nonResourceURLs" not in r],
                }
            )
        )

    def subjects(ns: str | None) -> list[dict[str, str]]:
        out_s = []
        for _ in range(rnd.randint(1, 3)):
            x = rnd.random()
            if x < 0.6:
                sns = ns or rnd.choice(nss)
                out_s.append({"kind": "ServiceAccount", "name": f"sa-{rnd.randrange(40):02d}", "namespace": sns})
            elif x < 0.9:
                out_s.append({"kind": "User", "name": f"user-{rnd.randrange(2000):04d}"})
            else:
                out_s.append({"kind": "Group", "name": f"group-{rnd.randrange(200):03d}"})
        return out_s

    n_crb = bindings // 10
    for i in range(n_crb):
        role = "cluster-admin" if i % 1000 == 0 else rnd.choice(cluster_roles)
        out.append(
            obj(
                {
                    "apiVersion": RBAC,
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": f"crb-{i:05d}"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": subjects(None),
                }
            )
        )
    for i in range(bindings - n_crb):
        ns = nss[i % namespaces]
        if rnd.random() < 0.5 and role_names[ns]:
            ref = {"kind": "Role", "name": rnd.choice(role_names[ns])}
        else:
            ref = {"kind": "ClusterRole", "name": rnd.choice(cluster_roles + ["view", "edit", "admin"])}
        out.append(
            obj(
                {
                    "apiVersion": RBAC,
                    "kind": "RoleBinding",
                    "metadata": {"name": f"rb-{i:05d}", "namespace": ns},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", **ref},
                    "subjects": subjects(ns),
                }
            )
        )
    for ns in nss:
        for d in range(10):
            spec: dict[str, Any] = {
                "serviceAccountName": f"sa-{rnd.randrange(40):02d}",
                "containers": [{"name": "app", "image": f"registry.example.com/app-{d}:1.0"}],
            }
            if d % 4 == 0:
                spec["automountServiceAccountToken"] = False
            out.append(
                obj(
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": f"app-{d}", "namespace": ns},
                        "spec": {
                            "selector": {"matchLabels": {"app": f"app-{d}"}},
                            "template": {"metadata": {"labels": {"app": f"app-{d}"}}, "spec": spec},
                        },
                    }
                )
            )
    return out


QUERIES = [
    ("get", "pods", "ns-123", None, None),
    ("create", "deployments.apps", "ns-007", None, None),
    ("get", "secrets", "ns-250", "tls", None),
    ("list", "secrets", None, None, None),
    ("create", "pods", "ns-499", None, "exec"),
    ("update", "deployments", "ns-042", None, "scale"),
    ("get", "/metrics", None, None, None),
    ("impersonate", "users", None, None, None),
    ("delete", "nodes", None, None, None),
    ("*", "*", "ns-300", None, None),
]


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[float, Any]:
    t = time.perf_counter()
    r = fn(*args, **kw)
    return time.perf_counter() - t, r


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--namespaces", type=int, default=500)
    ap.add_argument("--roles", type=int, default=5000)
    ap.add_argument("--bindings", type=int, default=50000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    gc.disable()  # as the CLI does during a run (kubefort.api.batch_gc)
    t_gen, objects = timed(generate, a.namespaces, a.roles, a.bindings, a.seed)
    inv = Inventory(objects)

    def build(inv: Inventory) -> RbacIndex:
        idx = RbacIndex.build(inv)
        idx.who_can("get", "pods", "ns-001")  # the who-can lookup tables are built on first use: count them here
        return idx

    t_build, idx = timed(build, inv)
    who: list[float] = []
    sizes: list[int] = []
    for _ in range(3):
        for verb, res, ns, name, sub in QUERIES:
            t, grants = timed(idx.who_can, verb, res, ns, name, sub)
            who.append(t)
            sizes.append(len(grants))
    subjects = idx.subjects()
    rnd = random.Random(a.seed)
    can: list[float] = []
    for s in rnd.sample(subjects, min(200, len(subjects))):
        verb, res, ns, name, sub = rnd.choice(QUERIES)
        t, _ = timed(idx.can, s, verb, res, ns or "ns-001", name, sub)
        can.append(t)
    perm: list[float] = []
    for s in rnd.sample(subjects, min(50, len(subjects))):
        t, _ = timed(idx.permissions, s)
        perm.append(t)
    t_paths, paths = timed(escalation_paths, idx)
    one = rnd.choice([p.source for p in paths]) if paths else subjects[0]
    fresh = RbacIndex.build(inv)
    t_from, _ = timed(escalation_paths, fresh, "cluster-admin", one)

    def ms(x: float) -> str:
        return f"{x * 1000:.1f} ms"

    def ok(v: float, target: float) -> str:
        return "yes" if v < target else "**NO**"

    print(
        f"## RBAC engine ({a.namespaces} namespaces, {len(idx.roles)} roles incl. built-in, {len(idx.bindings)} bindings, "
        f"{len(subjects)} subjects, {len(objects)} objects)\n"
    )
    print("| measure | value | target | met |")
    print("|---|---:|---:|---|")
    print(f"| generate objects (not part of kubefort) | {t_gen:.2f} s | | |")
    print(f"| index build (`RbacIndex.build` and the who-can tables) | {t_build:.2f} s | < 3 s | {ok(t_build, 3)} |")
    print(
        f"| who-can, median of {len(who)} queries | {ms(statistics.median(who))} | < 50 ms | {ok(statistics.median(who), 0.05)} |"
    )
    print(f"| who-can, slowest query | {ms(max(who))} | < 50 ms | {ok(max(who), 0.05)} |")
    print(f"| who-can, subjects returned (median / max) | {int(statistics.median(sizes))} / {max(sizes)} | | |")
    print(f"| can, median / slowest of {len(can)} | {ms(statistics.median(can))} / {ms(max(can))} | | |")
    print(f"| permissions, median / slowest of {len(perm)} | {ms(statistics.median(perm))} / {ms(max(perm))} | | |")
    print(f"| escalation paths for every subject (graph + BFS) | {t_paths:.2f} s | < 30 s | {ok(t_paths, 30)} |")
    print(f"| subjects with a path to cluster-admin | {len(paths)} of {len(subjects)} | | |")
    print(f"| escalation path from one subject (fresh index) | {ms(t_from)} | | |")
    print(
        f"\nCommand: `.venv/bin/python bench/bench_rbac.py --namespaces {a.namespaces} --roles {a.roles} "
        f"--bindings {a.bindings} --seed {a.seed}` (Python {platform.python_version()}, {platform.machine()})"
    )


if __name__ == "__main__":
    main()
