"""The attack graph (kubefort.analysis.graph): hand-built clusters with known answers, and a property
test comparing path existence with a brute-force closure over small random clusters."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubefort.analysis.graph import AttackGraph
from kubefort.analysis.graph.search import cuts, resolve, shortest_paths, to_networkx
from kubefort.errors import UsageError
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source


def inv(docs: list[dict[str, Any]]) -> Inventory:
    return Inventory([K8sObject.from_raw(copy.deepcopy(d), Source(file="test.yaml")) for d in docs])


def deploy(
    name: str,
    ns: str = "shop",
    *,
    sa: str | None = None,
    sc: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
    automount: bool | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": f"registry.example.com/{name}:1.0"}
    if sc is not None:
        container["securityContext"] = sc
    pod: dict[str, Any] = {"containers": [container], **(spec or {})}
    if sa:
        pod["serviceAccountName"] = sa
    if automount is not None:
        pod["automountServiceAccountToken"] = automount
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod},
        },
    }


def lb(name: str, app: str, ns: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"type": "LoadBalancer", "selector": {"app": app}, "ports": [{"port": 80}]},
    }


def crb(name: str, sa_ns: str, sa: str, role: str = "cluster-admin") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}],
    }


def deny_ingress(name: str, app: str, ns: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": {"matchLabels": {"app": app}}, "policyTypes": ["Ingress"]},
    }


def node(name: str, labels: dict[str, str], taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints or []},
    }


PRIV = {"privileged": True}


def base(db_sc: dict[str, Any] | None = None, **db: Any) -> list[dict[str, Any]]:
    """web is exposed; db (reachable from web) can escape; deployer's token (cluster-admin) may share db's node."""
    return [
        deploy("web"),
        lb("web", "web"),
        deploy("db", sc=PRIV if db_sc is None else db_sc, **db),
        deploy("deployer", "ops", sa="deployer"),
        crb("deployer-admin", "ops", "deployer"),
        deny_ingress("deployer-deny", "deployer", "ops"),  # nobody connects to the deployer itself
    ]


def paths(docs: list[dict[str, Any]], src: str = "internet", dst: str = "cluster-admin") -> list[Any]:
    g = AttackGraph(inv(docs))
    return shortest_paths(g, resolve(g, src, dst))


def test_the_path_exists_step_by_step() -> None:
    (p,) = paths(base())
    assert p.vertices == (
        "internet",
        "service:shop/web",
        "workload:shop/Deployment/web",
        "pod-network",
        "workload:shop/Deployment/db",
        "node:*",
        "serviceaccount:ops/deployer",
        "cluster-admin",
    )
    kinds = [e.kind for e in p.steps]
    assert kinds == ["exposure", "exposure", "network", "network", "escape", "node-token", "rbac"]
    assert "KF-POD-001" in p.steps[4].rules
    assert "ClusterRoleBinding/deployer-admin" in p.steps[-1].objects
    assert p.length == 6  # the step into the pod network adds nothing


def test_names_are_never_parsed_back() -> None:
    # a name the API server would refuse (a "/" in it) still builds the graph: workloads are held, not
    # looked up again by their "namespace/Kind/name" text
    docs = base()
    docs[2]["metadata"]["name"] = "d/b</script>"
    docs[2]["metadata"]["namespace"] = "<b>shop</b>"
    g = AttackGraph(inv(docs))
    assert "workload:<b>shop</b>/Deployment/d/b</script>" in g.vertices


def test_from_a_cidr() -> None:
    # web is exposed by a load balancer that admits 10.0.0.0/8 only, and its NetworkPolicy admits the
    # same block: from the internet as a whole no path (not every address may enter), from inside the
    # block the path exists, from another block the load balancer refuses it
    docs = base(db_sc=PRIV)
    docs[1]["spec"]["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
    docs.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-corp", "namespace": "shop"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}],
            },
        }
    )
    inventory = inv(docs)
    whole = AttackGraph(inventory)
    assert shortest_paths(whole, resolve(whole, "internet", "cluster-admin")) == []
    inside = AttackGraph(inventory, origin="10.1.0.0/16")
    (p,) = shortest_paths(inside, resolve(inside, "10.1.0.0/16", "cluster-admin"))
    assert inside.vertices[p.vertices[0]].label == "addresses 10.1.0.0/16" and p.vertices[-1] == "cluster-admin"
    outside = AttackGraph(inventory, origin="203.0.113.0/24")
    assert shortest_paths(outside, resolve(outside, "203.0.113.0/24", "cluster-admin")) == []
    assert any("admits 10.0.0.0/8 only" in n for n in outside.notes)
    with pytest.raises(UsageError):
        resolve(AttackGraph(inventory), "10.1.0.0/16", "cluster-admin")  # a graph of the whole internet


def test_a_network_policy_cuts_it() -> None:
    assert paths(base() + [deny_ingress("db-deny", "db")]) == []
    # and the graph's own cut ranking names that change, checked against the rebuilt graph
    g = AttackGraph(inv(base()))
    q = resolve(g, "internet", "cluster-admin")
    ranked = {str(c.change) for c in cuts(g, q)}
    assert "restrict-ingress shop/Deployment/db (an ingress NetworkPolicy)" in ranked


def test_dropping_a_capability_cuts_it() -> None:
    docs = base({"capabilities": {"add": ["SYS_ADMIN"]}})
    (p,) = paths(docs)
    assert "KF-POD-012" in p.steps[4].rules
    g = AttackGraph(inv(docs))
    ranked = cuts(g, resolve(g, "internet", "cluster-admin"))
    assert any(c.change.action == "drop-capability" and "SYS_ADMIN" in c.change.detail for c in ranked)
    assert paths(base({"capabilities": {"add": ["NET_BIND_SERVICE"]}})) == []
    # a user namespace keeps the capability inside the pod
    assert paths(base({"capabilities": {"add": ["SYS_ADMIN"]}}, spec={"hostUsers": False})) == []
    # SYS_PTRACE escapes only with the node's processes in sight
    assert paths(base({"capabilities": {"add": ["SYS_PTRACE"]}})) == []
    assert paths(base({"capabilities": {"add": ["SYS_PTRACE"]}}, spec={"hostPID": True}))


def test_a_token_on_a_node_reachable_only_through_a_privileged_pod() -> None:
    # without the privileged pod, nothing reaches the deployer's node
    assert paths(base({})) == []
    # from any pod: only db escapes; web gets there through db
    starts = {p.source for p in paths(base(), "any-pod")}
    assert starts == {"workload:shop/Deployment/db", "workload:shop/Deployment/web", "workload:ops/Deployment/deployer"}
    # the deployer token is cut by not mounting it
    docs = base()
    docs[3] = deploy("deployer", "ops", sa="deployer", automount=False)
    assert paths(docs) == []


def test_nodes_taints_and_selectors_decide_who_shares_a_node() -> None:
    nodes = [
        node("n1", {"pool": "a"}),
        node("n2", {"pool": "b"}, [{"key": "dedicated", "value": "ops", "effect": "NoSchedule"}]),
    ]
    ops = {
        "nodeSelector": {"pool": "b"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    }
    docs = [
        deploy("web"),
        lb("web", "web"),
        deploy("deployer", "ops", sa="deployer", spec=ops),
        crb("x", "ops", "deployer"),
        deny_ingress("d", "deployer", "ops"),
    ]
    # db on pool a: never with the deployer
    assert (
        paths([*docs, deploy("db", sc=PRIV, spec={"nodeSelector": {"pool": "b"}}), *nodes]) == []
    )  # taint keeps it off n2
    assert paths([*docs, deploy("db", sc=PRIV, spec={"nodeSelector": {"pool": "a"}}), *nodes]) == []
    (p,) = paths([*docs, deploy("db", sc=PRIV, spec=ops), *nodes])
    assert "node:n2" in p.vertices
    # without Node objects, selectors that ask one label two ways never meet
    assert paths([*docs, deploy("db", sc=PRIV, spec={"nodeSelector": {"pool": "a"}})]) == []
    assert paths([*docs, deploy("db", sc=PRIV, spec={"nodeSelector": {"zone": "x"}})])


def test_node_tokens_grow_with_nodes_plus_accounts_not_their_product() -> None:
    """Pods that may run on many nodes leave their tokens on each: one vertex of those pods, which every
    node reaches at no cost, instead of an edge per node and ServiceAccount; the escape still leads to
    every token, one step after the node, as before."""

    def graph_with(n: int) -> AttackGraph:
        nodes = [node(f"n{i}", {"pool": "a"}) for i in range(n)]
        apps = [deploy(f"w{i}", sa=f"s{i}") for i in range(n)]
        return AttackGraph(inv([*nodes, *apps, deploy("db", sc=PRIV), crb("x", "shop", "s7")]))

    small, large = graph_with(20), graph_with(40)
    tokens = [len([e for e in g.edges.values() if e.kind == "node-token"]) for g in (small, large)]
    assert tokens[1] <= 2.2 * tokens[0], tokens
    (p,) = paths(
        [
            *(node(f"n{i}", {"pool": "a"}) for i in range(3)),
            deploy("db", sc=PRIV),
            lb("db", "db"),
            deploy("w", sa="s7"),
            crb("x", "shop", "s7"),
        ]
    )
    assert p.vertices[-2:] == ("serviceaccount:shop/s7", "cluster-admin")
    assert any(v.startswith("node:n") for v in p.vertices) and any(v.startswith("node-pods:") for v in p.vertices)


def test_escapes_grow_with_workloads_plus_nodes_not_their_product() -> None:
    """A pod that escapes reaches every node it may run on: one vertex of those nodes, which the escape
    reaches and which reaches each node at no cost, instead of an edge per escaping workload and node;
    the path and its length are as before, with that vertex between the workload and the node."""

    def graph_with(n: int) -> AttackGraph:
        nodes = [node(f"n{i}", {"pool": "a"}) for i in range(n)]
        escaping = [deploy(f"p{i}", sc=PRIV) for i in range(n)]
        return AttackGraph(inv([*nodes, *escaping, deploy("w", sa="s7"), crb("x", "shop", "s7")]))

    small, large = graph_with(20), graph_with(40)
    escapes = [len([e for e in g.edges.values() if e.kind in ("escape", "scheduled")]) for g in (small, large)]
    assert escapes[1] <= 2.2 * escapes[0], escapes
    (p,) = paths([*(node(f"n{i}", {"pool": "a"}) for i in range(3)), *base()])
    i = p.vertices.index("workload:shop/Deployment/db")
    assert p.vertices[i + 1].startswith("escape-nodes:") and p.vertices[i + 2].startswith("node:n")
    assert [e.kind for e in p.steps[i : i + 2]] == ["escape", "scheduled"] and "KF-POD-001" in p.steps[i].rules
    assert p.length == 6  # the step from the escape's vertex to the node adds nothing
    # one node: the escape goes to it directly
    (p,) = paths([node("n0", {"pool": "a"}), *base()])
    assert "node:n0" in p.vertices and not any(v.startswith("escape-nodes:") for v in p.vertices)


def test_a_binding_cut_is_checked_by_the_rbac_engine() -> None:
    docs = base()
    g = AttackGraph(inv(docs))
    ranked = {str(c.change): len(c.cut) for c in cuts(g, resolve(g, "internet", "cluster-admin"))}
    assert ranked.get("remove-binding ClusterRoleBinding/deployer-admin") == 1
    # a second binding keeps the escalation: removing one cuts nothing
    g = AttackGraph(inv([*docs, crb("deployer-admin-2", "ops", "deployer")]))
    ranked = {str(c.change): len(c.cut) for c in cuts(g, resolve(g, "internet", "cluster-admin"))}
    assert not any(k.startswith("remove-binding") for k in ranked)


def test_secrets_and_token_secrets() -> None:
    reader = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "secret-reader"},
        "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-pass", "namespace": "shop"},
        "type": "Opaque",
    }
    docs = [deploy("web", sa="web"), lb("web", "web"), reader, crb("web-reads", "shop", "web", "secret-reader"), secret]
    (p,) = paths(docs, dst="all-secrets")
    assert p.vertices[-1] == "all-secrets" and p.steps[-1].kind == "read-secrets"
    (p,) = paths(docs, dst="secret shop/db-pass")
    assert p.vertices[-1] == "secret:shop/db-pass"
    assert paths(docs) == []  # reading Secrets is not cluster-admin when no token Secret is among them
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "admin-token",
            "namespace": "kube-system",
            "annotations": {"kubernetes.io/service-account.name": "boss"},
        },
        "type": "kubernetes.io/service-account-token",
    }
    (p,) = paths([*docs, token, crb("boss", "kube-system", "boss")])
    # the RBAC engine models reading a token Secret as an escalation step itself
    assert p.steps[-1].kind == "rbac" and "admin-token" in p.steps[-1].why
    with pytest.raises(UsageError):
        paths(docs, dst="secret shop/nope")


def test_exposure_through_ingress_and_host_network() -> None:
    ing = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {
            "rules": [
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    }
                }
            ]
        },
    }
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}},
    }
    docs = [deploy("web", sc=PRIV), svc, ing, *base()[3:]]
    (p,) = paths(docs)
    assert p.vertices[:3] == ("internet", "ingress:shop/shop", "workload:shop/Deployment/web")
    # an ingress NetworkPolicy that admits no internet address stops the exposure
    assert paths([*docs, deny_ingress("web-deny", "web")]) == []
    hn = [
        deploy("web", sc=PRIV, spec={"hostNetwork": True}),
        deploy("deployer", "ops", sa="deployer"),
        crb("d", "ops", "deployer"),
    ]
    (p,) = paths([*hn, deny_ingress("web-deny", "web")])  # NetworkPolicies do not apply to the host network
    assert p.steps[0].kind == "exposure" and "KF-POD-005" in p.steps[0].rules


# ----------------------------------------------------------------------------- property test

flags = st.fixed_dictionaries(
    {
        "exposed": st.booleans(),
        "priv": st.booleans(),
        "automount": st.booleans(),
        "admin": st.booleans(),
        "isolated": st.booleans(),
        "maker": st.booleans(),  # its ServiceAccount may create pods in shop: it becomes every ServiceAccount there
        "reader": st.booleans(),  # its ServiceAccount may read the Secrets of shop
    }
)
DB_SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "shop"}, "type": "Opaque"}


def cluster_role(name: str, resource: str, verbs: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [{"apiGroups": [""], "resources": [resource], "verbs": verbs}],
    }


def rb(name: str, ns: str, sa_ns: str, sa: str, role: str, kind: str = "ClusterRole") -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": sa_ns}],
    }


def _cluster(ws: list[dict[str, bool]]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        cluster_role("pod-maker", "pods", ["create"]),
        cluster_role("secret-reader", "secrets", ["get", "list"]),
        DB_SECRET,
    ]
    for i, f in enumerate(ws):
        name = f"w{i}"
        docs.append(deploy(name, sa=name, sc=PRIV if f["priv"] else None, automount=f["automount"]))
        if f["exposed"]:
            docs.append(lb(name, name))
        if f["admin"]:
            docs.append(crb(name, "shop", name))
        if f["isolated"]:
            docs.append(deny_ingress(name, name))
        if f["maker"]:
            docs.append(rb(f"{name}-maker", "shop", "shop", name, "pod-maker"))
        if f["reader"]:
            docs.append(rb(f"{name}-reader", "shop", "shop", name, "secret-reader"))
    return docs


def _brute_force(ws: list[dict[str, bool]], target: str = "cluster-admin") -> bool:
    """Does the internet reach ``target`` (cluster-admin, or Secret shop/db)? A fixpoint over the
    documented semantics, no graph."""
    owned = {i for i, f in enumerate(ws) if f["exposed"] and not f["isolated"]}
    tokens: set[int] = set()
    node = False
    while True:
        before = (set(owned), set(tokens), node)
        if owned:
            owned |= {i for i, f in enumerate(ws) if not f["isolated"]}  # the open pod network
        tokens |= {i for i in owned if ws[i]["automount"]}
        node = node or any(ws[i]["priv"] for i in owned)
        if node:
            tokens |= {i for i, f in enumerate(ws) if f["automount"]}
        if any(ws[i]["maker"] for i in tokens):  # a pod of its own, as any ServiceAccount of shop
            tokens |= set(range(len(ws)))
        if (owned, tokens, node) == before:
            break
    admin = any(ws[i]["admin"] for i in tokens)
    return admin if target == "cluster-admin" else admin or any(ws[i]["reader"] for i in tokens)


@settings(max_examples=60, deadline=None)
@given(st.lists(flags, min_size=1, max_size=5))
def test_path_existence_matches_a_brute_force_closure(ws: list[dict[str, bool]]) -> None:
    docs = _cluster(ws)
    for target in ("cluster-admin", "secret shop/db"):
        found = paths(docs, dst=target)
        assert bool(found) == _brute_force(ws, target), (target, yaml.safe_dump_all(docs))
        g = AttackGraph(inv(docs))
        q = resolve(g, "internet", target)
        if target == "cluster-admin":  # the steps between identities change no shortest path to cluster-admin
            steps = [k for k, e in g.edges.items() if e.kind == "rbac" and e.dst != "cluster-admin"]
            without = shortest_paths(g, q, nxg=to_networkx(g, steps))
            assert [p.vertices for p in without] == [p.vertices for p in found]
        # every change the ranking names, made to the manifests: the paths it says it cuts are gone, and
        # (for the changes that do exactly what the ranking assumes) the others remain
        for c in cuts(g, q, found):
            assert 0 < len(c.cut) <= len(found)
            after = {p.steps[0].dst for p in paths(_apply(docs, c.change), dst=target)}
            claimed = {found[i].steps[0].dst for i in c.cut}
            assert not claimed & after, (c.change, yaml.safe_dump_all(docs))
            if c.change.action not in ("restrict-ingress", "deny-internet"):  # a deny-all policy does more
                assert {p.steps[0].dst for p in found} - claimed <= after, c.change


def _apply(docs: list[dict[str, Any]], change: Any) -> list[dict[str, Any]]:
    """The manifests after ``change`` (a Remedy of the graph), for the changes the random clusters offer."""
    out = copy.deepcopy(docs)
    name = change.target.rsplit("/", 1)[-1]
    kind = {"make-internal": "Service", "remove-secret": "Secret"}.get(change.action, "Deployment")
    if change.action == "remove-binding":
        kind = change.target.split("/", 1)[0]
    (doc,) = [d for d in out if d["kind"] == kind and d["metadata"]["name"] == name]
    pod = doc["spec"]["template"]["spec"] if kind == "Deployment" else None
    if change.action == "unprivileged":
        assert pod is not None
        pod["containers"][0]["securityContext"] = {"privileged": False}
    elif change.action == "no-automount":
        assert pod is not None
        pod["automountServiceAccountToken"] = False
    elif change.action in ("remove-binding", "remove-secret"):
        out.remove(doc)
    elif change.action == "make-internal":
        doc["spec"]["type"] = "ClusterIP"
    elif change.action in ("restrict-ingress", "deny-internet"):
        out.append(deny_ingress(f"cut-{name}", name))
    elif change.action == "restrict-egress":
        pol = deny_ingress(f"cut-{name}", name)
        pol["spec"]["policyTypes"] = ["Egress"]
        out.append(pol)
    else:
        raise AssertionError(f"unexpected change {change}")
    return out


# ----------------------------------------------------------------------------- the command


def _run(tmp_path: Any, docs: list[dict[str, Any]], *args: str) -> Any:
    from click.testing import CliRunner

    from kubefort.cli import cli

    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump_all(docs))
    return CliRunner(mix_stderr=False).invoke(cli, ["graph", *args, str(f)], catch_exceptions=False)


def test_cli_paths_table_json_dot_and_exit_codes(tmp_path: Any) -> None:
    import json

    r = _run(tmp_path, base(), "paths")
    assert r.exit_code == 1, r.stderr
    assert "1 attack path from internet to cluster-admin" in r.stdout and "KF-POD-001" in r.stdout
    doc = json.loads(_run(tmp_path, base(), "paths", "-o", "json").stdout)
    assert doc["paths"][0]["steps"][-1]["to"] == "cluster-admin"
    dot = _run(tmp_path, base(), "paths", "-o", "dot").stdout
    assert dot.startswith("digraph") and '"node:*" -> "serviceaccount:ops/deployer"' in dot
    assert _run(tmp_path, base({}), "paths").exit_code == 0
    r = _run(tmp_path, base(), "paths", "--from", "shop/deploy/nope")
    assert r.exit_code == 2 and "no workload shop/deploy/nope" in r.stderr and "Traceback" not in r.stderr


def test_cli_cuts(tmp_path: Any) -> None:
    r = _run(tmp_path, base(), "cuts", "--from", "any-pod")
    assert r.exit_code == 1
    first = r.stdout.splitlines()[1]
    # the deployer's token, or its binding, is on every path: the top change cuts them all
    assert first.split()[0] == "3/3", r.stdout


# ----------------------------------------------------------------------------- network edges = the engine's matrix

_APPS = ("a", "b", "c")


@st.composite
def _netpol_cluster(draw: Any) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for ns in ("shop", "ops"):
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": ns}}})
        for app in draw(st.lists(st.sampled_from(_APPS), min_size=1, max_size=3, unique=True)):
            docs.append(deploy(f"{ns}-{app}", ns))
    peer = st.one_of(
        st.fixed_dictionaries(
            {
                "podSelector": st.fixed_dictionaries(
                    {
                        "matchLabels": st.fixed_dictionaries(
                            {"app": st.sampled_from([f"{n}-{a}" for n in ("shop", "ops") for a in _APPS])}
                        )
                    }
                )
            }
        ),
        st.fixed_dictionaries(
            {
                "namespaceSelector": st.sampled_from(
                    [{}, {"matchLabels": {"team": "ops"}}, {"matchLabels": {"team": "shop"}}]
                )
            }
        ),
    )
    rule = st.fixed_dictionaries({"peers": st.lists(peer, max_size=2), "port": st.sampled_from([None, 80, 443])})
    for i in range(draw(st.integers(0, 4))):
        ns = draw(st.sampled_from(["shop", "ops"]))
        sel = draw(st.sampled_from([{}, {"matchLabels": {"app": f"{ns}-{draw(st.sampled_from(_APPS))}"}}]))
        types = draw(st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
        spec: dict[str, Any] = {"podSelector": sel, "policyTypes": types}
        for t, key, peer_key in (("Ingress", "ingress", "from"), ("Egress", "egress", "to")):
            if t in types:
                items = []
                for r in draw(st.lists(rule, max_size=2)):
                    item: dict[str, Any] = {}
                    if r["peers"]:
                        item[peer_key] = r["peers"]
                    if r["port"]:
                        item["ports"] = [{"port": r["port"]}]
                    items.append(item)
                spec[key] = items
        docs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"p{i}", "namespace": ns},
                "spec": spec,
            }
        )
    return docs


@settings(max_examples=80, deadline=None)
@given(_netpol_cluster())
def test_network_edges_reach_exactly_what_the_engine_allows(docs: list[dict[str, Any]]) -> None:
    g = AttackGraph(inv(docs))
    wanted = {(a.ref, b.ref) for a, b, _ in g.netpol.connections()}
    got = set()
    for w in g.netpol.workloads:
        start = f"workload:{w.ref}"
        seen, work = {start}, [start]
        while work:
            v = work.pop()
            for e in g.out.get(v, ()):
                if e.kind != "network" or e.dst in seen:
                    continue
                seen.add(e.dst)
                if g.vertices[e.dst].kind == "workload":
                    if e.dst != start:
                        got.add((w.ref, e.dst.removeprefix("workload:")))
                else:
                    work.append(e.dst)
    assert got == wanted, yaml.safe_dump_all(docs)


def test_cli_bad_input_is_one_line_naming_the_file(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from kubefort.cli import cli

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    r = CliRunner(mix_stderr=False).invoke(cli, ["graph", "paths", str(bad)], catch_exceptions=False)
    assert r.exit_code == 2
    (line,) = r.stderr.splitlines()
    assert line.startswith("kubefort: error: ") and "bad.yaml:3" in line


def test_cli_from_a_cidr(tmp_path: Any) -> None:
    docs = base()
    docs[1]["spec"]["loadBalancerSourceRanges"] = ["10.0.0.0/8"]
    r = _run(tmp_path, docs, "paths", "--from", "10.1.0.0/16")
    assert r.exit_code == 1 and "from 10.1.0.0/16 to cluster-admin" in r.stdout, (r.stdout, r.stderr)
    assert _run(tmp_path, docs, "paths", "--from", "203.0.113.7").exit_code == 0
    assert _run(tmp_path, docs, "cuts", "--from", "10.1.0.0/16").exit_code in (0, 1)


# ----------------------------------------------------------------------------- RBAC steps between identities


def role(name: str, ns: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": ns},
        "rules": rules,
    }


def sa(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns}}


def opaque(name: str, ns: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns}, "type": "Opaque"}


def token_secret(name: str, ns: str, account: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "annotations": {"kubernetes.io/service-account.name": account}},
        "type": "kubernetes.io/service-account-token",
    }


def hop(extra: list[dict[str, Any]], reads: str = "all") -> list[dict[str, Any]]:
    """web (exposed, ServiceAccount shop/a) and ServiceAccount x/b, which reads the Secrets of every
    namespace (``reads="all"``) or of x alone; Secrets shop/db and x/s1; ``extra`` lets a become b."""
    read = (
        crb("b-reads", "x", "b", "secret-reader") if reads == "all" else rb("b-reads", "x", "x", "b", "secret-reader")
    )
    return [
        deploy("web", sa="a"),
        lb("web", "web"),
        sa("b", "x"),
        cluster_role("secret-reader", "secrets", ["get", "list"]),
        cluster_role("pod-maker", "pods", ["create"]),
        read,
        opaque("db", "shop"),
        opaque("s1", "x"),
        *extra,
    ]


A_MAKES_PODS_IN_X = rb("a-pods", "x", "shop", "a", "pod-maker")


def test_an_identity_that_becomes_another_reaching_every_secret() -> None:
    docs = hop([A_MAKES_PODS_IN_X])
    (p,) = paths(docs, dst="all-secrets")
    assert p.vertices == (
        "internet",
        "service:shop/web",
        "workload:shop/Deployment/web",
        "serviceaccount:shop/a",
        "rbac:anysa/x/pod",
        "serviceaccount:x/b",
        "all-secrets",
    )
    step = p.steps[3]
    assert step.kind == "rbac" and step.rules == ("KF-RBAC-010",) and step.objects == ("RoleBinding/x/a-pods",)
    assert "create a pod in namespace x" in step.why
    assert p.steps[4].weight == 0 and p.length == 5  # "any ServiceAccount of x" names what the step gave
    (p,) = paths(docs, dst="secret shop/db")
    assert "serviceaccount:x/b" in p.vertices
    assert paths(docs) == []  # nobody becomes cluster-admin
    assert paths(hop([]), dst="all-secrets") == []  # without the binding, a stays a
    # removing the binding cuts the path, and the ranking says so
    g = AttackGraph(inv(docs))
    ranked = {str(c.change): c.cut for c in cuts(g, resolve(g, "internet", "all-secrets"))}
    assert ranked["remove-binding RoleBinding/x/a-pods"] == (0,)
    assert ranked["remove-binding ClusterRoleBinding/b-reads"] == (0,)
    # a second binding that allows the same step: removing one cuts nothing (the RBAC engine re-checks)
    twin = copy.deepcopy(A_MAKES_PODS_IN_X)
    twin["metadata"]["name"] = "a-pods-2"
    g = AttackGraph(inv([*docs, twin]))
    ranked = {str(c.change): c.cut for c in cuts(g, resolve(g, "internet", "all-secrets"))}
    assert not any(k.startswith("remove-binding RoleBinding") for k in ranked)
    assert ranked["remove-binding ClusterRoleBinding/b-reads"] == (0,)


def test_a_namespace_scoped_read_gives_that_namespace_only() -> None:
    docs = hop([A_MAKES_PODS_IN_X], reads="x")
    (p,) = paths(docs, dst="secret x/s1")
    assert p.vertices[-3:] == ("serviceaccount:x/b", "secrets:x", "secret:x/s1")
    assert paths(docs, dst="secret shop/db") == []
    assert paths(docs, dst="all-secrets") == []


_X = "x"
STEPS: dict[str, tuple[list[dict[str, Any]], str, str]] = {
    # name: (what lets a become someone who reads x's Secrets, a rule ID of the step, a vertex on the path)
    "create a pod": ([A_MAKES_PODS_IN_X], "KF-RBAC-010", "rbac:anysa/x/pod"),
    "create a Deployment": (
        [
            role("deployer", _X, [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["create"]}]),
            rb("a-deploys", _X, "shop", "a", "deployer", "Role"),
        ],
        "KF-RBAC-010",
        "rbac:anysa/x/workload",
    ),
    "exec": (
        [
            deploy("job", _X, sa="b"),
            role("exec", _X, [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]),
            rb("a-exec", _X, "shop", "a", "exec", "Role"),
        ],
        "KF-RBAC-008",
        "rbac:pods/x",
    ),
    "token request": (
        [
            role("tokens", _X, [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]),
            rb("a-tokens", _X, "shop", "a", "tokens", "Role"),
        ],
        "KF-RBAC-017",
        "rbac:anysa/x/token",
    ),
    "named token request": (
        [
            role(
                "tokens",
                _X,
                [
                    {
                        "apiGroups": [""],
                        "resources": ["serviceaccounts/token"],
                        "verbs": ["create"],
                        "resourceNames": ["b"],
                    }
                ],
            ),
            rb("a-tokens", _X, "shop", "a", "tokens", "Role"),
        ],
        "KF-RBAC-017",
        "serviceaccount:x/b",
    ),
    "impersonate": (
        [
            role("imp", _X, [{"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["impersonate"]}]),
            rb("a-imp", _X, "shop", "a", "imp", "Role"),
        ],
        "KF-RBAC-013",
        "rbac:anysa/x/impersonate",
    ),
    "read a token Secret": (
        [
            token_secret("b-token", _X, "b"),
            role(
                "peek",
                _X,
                [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["b-token"]}],
            ),
            rb("a-peek", _X, "shop", "a", "peek", "Role"),
        ],
        "KF-RBAC-036",
        "serviceaccount:x/b",
    ),
    "bind a role to yourself": (
        [
            role(
                "binder",
                _X,
                [
                    {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
                    {
                        "apiGroups": ["rbac.authorization.k8s.io"],
                        "resources": ["clusterroles"],
                        "verbs": ["bind"],
                        "resourceNames": ["secret-reader"],
                    },
                ],
            ),
            rb("a-binds", _X, "shop", "a", "binder", "Role"),
        ],
        "KF-RBAC-012",
        "rbac-grant:ClusterRole/secret-reader@x",
    ),
    "impersonate a user": (
        [
            cluster_role("imp-users", "users", ["impersonate"]),
            crb("a-imp-users", "shop", "a", "imp-users"),
            {  # user alice reads the Secrets of x
                **rb("alice-reads", _X, _X, "b", "secret-reader"),
                "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
            },
        ],
        "KF-RBAC-013",
        "user:alice",
    ),
}


@pytest.mark.parametrize("step", sorted(STEPS))
def test_every_escalation_step_the_rbac_engine_models_is_a_hop(step: str) -> None:
    extra, rule_id, vertex = STEPS[step]
    docs = hop(extra, reads="x")
    (p,) = paths(docs, dst="secret x/s1")
    assert vertex in p.vertices, p.vertices
    assert any(rule_id in e.rules for e in p.steps if e.kind == "rbac"), [(e.kind, e.rules) for e in p.steps]
    assert paths(docs, dst="secret shop/db") == []
    # every binding the step names is a cut, and removing it (from the manifests) removes the path
    g = AttackGraph(inv(docs))
    found = shortest_paths(g, resolve(g, "internet", "secret x/s1"))
    for c in cuts(g, resolve(g, "internet", "secret x/s1"), found):
        if c.change.action == "remove-binding":
            assert paths(_apply(docs, c.change), dst="secret x/s1") == [], c.change
    # every RBAC step carries the rule IDs of what allows it
    for e in g.edges.values():
        if e.kind == "rbac" and e.weight:
            assert e.rules, e.why


def test_cluster_admin_is_still_one_rbac_edge_per_service_account() -> None:
    docs = hop([A_MAKES_PODS_IN_X, crb("b-admin", "x", "b")])
    (p,) = paths(docs)
    assert p.vertices[-2:] == ("serviceaccount:shop/a", "cluster-admin")
    assert p.steps[-1].rules == ("KF-RBAC-035",) and "create a pod in namespace x" in p.steps[-1].why
    assert set(p.steps[-1].objects) == {"RoleBinding/x/a-pods", "ClusterRoleBinding/b-admin"}


def test_a_step_a_group_allows_is_one_edge_from_the_group() -> None:
    group = rb("all-make-pods", "x", "shop", "a", "pod-maker")
    group["subjects"] = [{"kind": "Group", "name": "system:serviceaccounts", "apiGroup": "rbac.authorization.k8s.io"}]
    docs = hop([group, *(deploy(f"w{i}", sa=f"s{i}") for i in range(5))])
    g = AttackGraph(inv(docs))
    into = [e for e in g.edges.values() if e.dst == "rbac:anysa/x/pod"]
    assert [e.src for e in into] == ["group:system:serviceaccounts"]
    members = [e for e in g.edges.values() if e.dst == "group:system:serviceaccounts"]
    assert len(members) >= 7 and all(e.weight == 0 for e in members)
    (p,) = paths(docs, dst="all-secrets")
    assert p.vertices[3:6] == ("serviceaccount:shop/a", "group:system:serviceaccounts", "rbac:anysa/x/pod")
    assert p.length == 5


# ----------------------------------------------------------------------------- property test: identity hops

_NSS = ("n0", "n1")
_STEP_KINDS = ("pods", "exec", "token", "impersonate", "read-ns", "read-all", "group-pods", "bind-read")


@st.composite
def _rbac_cluster(draw: Any) -> dict[str, Any]:
    """ServiceAccounts s0.. in n0/n1, each with a workload (token mounted or not) and maybe a legacy token
    Secret, and RBAC steps between them (each one Role or ClusterRole and one binding)."""
    n = draw(st.integers(2, 5))
    accounts = [
        {"ns": draw(st.sampled_from(_NSS)), "automount": i == 0 or draw(st.booleans()), "token": draw(st.booleans())}
        for i in range(n)
    ]  # w0, where the paths start, holds its token
    steps = draw(
        st.lists(
            st.tuples(
                st.one_of(st.just(0), st.integers(0, n - 1)),  # steps from w0's account are the interesting ones
                st.sampled_from(_STEP_KINDS),
                st.integers(0, n - 1),  # the account a named step names (token, impersonate)
                st.sampled_from(_NSS),  # the namespace a namespaced step is granted in
            ),
            min_size=1,
            max_size=8,
        )
    )
    return {"accounts": accounts, "steps": steps}


def _rbac_docs(c: dict[str, Any]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [opaque("db", "n0"), cluster_role("secret-reader", "secrets", ["get", "list"])]
    for ns in _NSS:  # no pod reaches another: only RBAC steps join the accounts
        docs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "deny", "namespace": ns},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
            }
        )
    for i, a in enumerate(c["accounts"]):
        docs += [sa(f"s{i}", a["ns"]), deploy(f"w{i}", a["ns"], sa=f"s{i}", automount=a["automount"])]
        if a["token"]:
            docs.append(token_secret(f"s{i}-token", a["ns"], f"s{i}"))
    for k, (i, kind, j, ns) in enumerate(c["steps"]):
        who, target = c["accounts"][i]["ns"], c["accounts"][j]["ns"]
        rules = {
            "pods": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}],
            "exec": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
            "token": [
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts/token"],
                    "verbs": ["create"],
                    "resourceNames": [f"s{j}"],
                }
            ],
            "impersonate": [
                {
                    "apiGroups": [""],
                    "resources": ["serviceaccounts"],
                    "verbs": ["impersonate"],
                    "resourceNames": [f"s{j}"],
                }
            ],
            "read-ns": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}],
            "read-all": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
            "group-pods": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}],
            "bind-read": [
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
                {
                    "apiGroups": ["rbac.authorization.k8s.io"],
                    "resources": ["clusterroles"],
                    "verbs": ["bind"],
                    "resourceNames": ["secret-reader"],
                },
            ],
        }[kind]
        where = target if kind in ("token", "impersonate") else ns
        if kind == "read-all":
            docs.append(cluster_role(f"r{k}", "secrets", ["list"]))
            docs.append(crb(f"b{k}", who, f"s{i}", f"r{k}"))
        else:
            docs.append(role(f"r{k}", where, rules))
            docs.append(rb(f"b{k}", where, who, f"s{i}", f"r{k}", "Role"))
        if kind == "group-pods":  # every ServiceAccount of s{i}'s namespace may create pods in ns
            group = f"system:serviceaccounts:{who}"
            docs[-1]["subjects"] = [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}]
    return docs


def _rbac_brute_force(c: dict[str, Any], steps: list[Any]) -> tuple[bool, bool]:
    """From workload w0: (reaches every Secret, reaches Secret n0/db), by a fixpoint over the documented
    step semantics, no graph."""
    acc = c["accounts"]
    n = len(acc)
    held = {0} if acc[0]["automount"] else set()
    while True:
        before = set(held)
        for i, kind, j, ns in steps:
            if i not in held and kind != "group-pods":
                continue
            if kind == "pods":  # a pod as any ServiceAccount of ns (the "default" one reads nothing here)
                held |= {x for x in range(n) if acc[x]["ns"] == ns}
            elif kind == "group-pods":  # granted to every ServiceAccount of i's namespace
                if any(acc[x]["ns"] == acc[i]["ns"] for x in held):
                    held |= {x for x in range(n) if acc[x]["ns"] == ns}
            elif kind == "exec":  # the running pods of ns that mount their token
                held |= {x for x in range(n) if acc[x]["ns"] == ns and acc[x]["automount"]}
            elif kind in ("token", "impersonate"):
                held.add(j)
            elif kind in ("read-ns", "bind-read"):  # legacy token Secrets of ns (bind: a role that reads them)
                held |= {x for x in range(n) if acc[x]["ns"] == ns and acc[x]["token"]}
            elif kind == "read-all":
                held |= {x for x in range(n) if acc[x]["token"]}
        if held == before:
            break
    every = any(i in held and kind == "read-all" for i, kind, _, _ in steps)
    db = every or any(i in held and kind in ("read-ns", "bind-read") and ns == "n0" for i, kind, _, ns in steps)
    return every, db


@settings(max_examples=200, deadline=None)
@given(_rbac_cluster())
def test_identity_hops_match_a_brute_force_closure(c: dict[str, Any]) -> None:
    docs = _rbac_docs(c)
    every, db = _rbac_brute_force(c, c["steps"])
    start = f"{c['accounts'][0]['ns']}/deploy/w0"
    assert bool(paths(docs, start, "all-secrets")) == every, yaml.safe_dump_all(docs)
    found = paths(docs, start, "secret n0/db")
    assert bool(found) == db, yaml.safe_dump_all(docs)
    if not found:
        return
    # each binding the ranking says cuts the path: without it (manifests and brute force) no path remains
    g = AttackGraph(inv(docs))
    for cut in cuts(g, resolve(g, start, "secret n0/db"), found):
        if cut.change.action != "remove-binding":
            continue
        k = int(cut.change.target.rsplit("/", 1)[-1][1:])
        assert not _rbac_brute_force(c, [s for x, s in enumerate(c["steps"]) if x != k])[1], cut.change
        assert paths(_apply(docs, cut.change), start, "secret n0/db") == [], cut.change


def test_kf_graph_002_follows_an_identity_hop() -> None:
    from kubefort.api import ScanOptions, scan_inventory

    def found(docs: list[dict[str, Any]]) -> list[str]:
        report = scan_inventory(inv(docs), ScanOptions(rules=["KF-GRAPH-002"]))
        return [f.message for f in report.findings if f.rule.id == "KF-GRAPH-002"]

    (msg,) = found(hop([A_MAKES_PODS_IN_X]))
    assert "ServiceAccount x/b" in msg and "(rbac)" in msg, msg
    assert found(hop([])) == []
    assert found(hop([A_MAKES_PODS_IN_X], reads="x")) == []  # x's Secrets are not every Secret


def test_every_step_kind_of_the_rbac_engine_carries_rule_ids() -> None:
    """One ServiceAccount per kind of step the RBAC engine models: each step the graph draws names the rules
    behind it (STEP_RULES), so that a new kind of step in the engine cannot come without them."""

    def rule_(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> Any:
        r: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
        if names:
            r["resourceNames"] = names
        return r

    rbac, certs, adm = "rbac.authorization.k8s.io", "certificates.k8s.io", "admissionregistration.k8s.io"
    kinds: dict[str, list[Any]] = {
        "pods": [rule_([""], ["pods"], ["create"])],
        "patch-deploy": [rule_(["apps"], ["deployments"], ["patch"])],
        "ephemeral": [rule_([""], ["pods/ephemeralcontainers"], ["patch"])],
        "replace-image": [rule_([""], ["pods"], ["update"])],
        "exec": [rule_([""], ["pods/exec"], ["get"])],
        "exec-named": [rule_([""], ["pods/exec"], ["create"], ["runner"])],
        "attach": [rule_([""], ["pods/attach"], ["create"])],
        "mint": [rule_([""], ["secrets"], ["create", "list"])],
        "read-named": [rule_([""], ["secrets"], ["get"], ["b-token"])],
        "watch": [rule_([""], ["secrets"], ["watch"])],
        "tokens": [rule_([""], ["serviceaccounts/token"], ["create"])],
        "impersonate": [rule_([""], ["serviceaccounts", "users", "groups"], ["impersonate"])],
        "bind": [
            rule_([rbac], ["rolebindings", "clusterrolebindings"], ["create"]),
            rule_([rbac], ["clusterroles"], ["bind"], ["r-pods"]),
        ],
        "patch-binding": [rule_([rbac], ["rolebindings"], ["patch"]), rule_([rbac], ["clusterroles"], ["bind"])],
        "escalate": [
            rule_([rbac], ["roles"], ["escalate", "update"])
        ],  # a Role held in shop (cluster-wide: cluster-admin)
        "nodes-proxy": [rule_([""], ["nodes/proxy"], ["get"])],
        "csr": [
            rule_([certs], ["certificatesigningrequests"], ["create", "get"]),
            rule_([certs], ["certificatesigningrequests/approval"], ["update"]),
            rule_([certs], ["signers"], ["approve"], ["kubernetes.io/kube-apiserver-client"]),
        ],
        "mutating": [rule_([adm], ["mutatingwebhookconfigurations"], ["create"])],
        "validating": [rule_([adm], ["validatingwebhookconfigurations"], ["create"])],
    }
    docs: list[dict[str, Any]] = [
        deploy("runner", "x", sa="b"),
        {
            **deploy("runner", "x", sa="b"),
            "kind": "Pod",
            "spec": deploy("runner", "x", sa="b")["spec"]["template"]["spec"],
        },
        token_secret("b-token", "x", "b"),
        rb("b-binding", "x", "x", "b", "r-pods"),
    ]
    for k, rules in kinds.items():
        if k == "escalate":
            docs += [role(f"r-{k}", "shop", rules), rb(f"b-{k}", "shop", "shop", k, f"r-{k}", "Role")]
        else:
            docs += [{**cluster_role(f"r-{k}", "pods", ["get"]), "rules": rules}, crb(f"b-{k}", "shop", k, f"r-{k}")]
        docs.append(sa(k, "shop"))
    g = AttackGraph(inv(docs))
    drawn = [e for e in g.edges.values() if e.kind == "rbac" and e.weight and e.dst != "cluster-admin"]
    for k in kinds:
        assert any(e.src == f"serviceaccount:shop/{k}" for e in drawn), k
    for e in drawn:
        assert e.rules, e.why
