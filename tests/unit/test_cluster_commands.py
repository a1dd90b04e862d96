"""``kubefort rbac`` and ``kubefort netpol`` on a cluster (``--cluster``, ``--snapshot``) against the test API
server (tests/kubeapi), driven through a kubeconfig as a real cluster would be: the same answer as the
same objects given as files, only the kinds each command needs are listed, a kind that cannot be read
marks the answers that depend on it incomplete (exit 2), and a controller's Pods count once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from kubeapi.server import KubeAPIServer, load_manifests
from kubeapi.store import Store
from kubefort.analysis.netpol.engine import READS as NETPOL_READS
from kubefort.analysis.rbac.escalation import READS as PATHS_READS
from kubefort.analysis.rbac.escalation import EscalationGraph
from kubefort.analysis.rbac.index import READS as RBAC_READS
from kubefort.api import ClusterSource, ScanOptions, apply_objects, load_netpol, load_rbac, read_objects
from kubefort.cli import cli
from kubefort.engine.runner import evaluate
from kubefort.loading.cluster import read_cluster, save_snapshot
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests" / "fixtures"
NETPOL = FIX / "netpol"
CLUSTER_INPUTS = [str(FIX / "rbac"), str(NETPOL / "workloads.yaml"), str(NETPOL / "before")]


def run(*args: str) -> Result:
    return CliRunner(mix_stderr=False).invoke(cli, list(args))


def serve(objects: list[dict[str, Any]], scopes: dict[str, bool] | None = None) -> KubeAPIServer:
    store = Store()
    store.load_cluster(objects, scopes or {})
    return KubeAPIServer(store)


@pytest.fixture
def api() -> Iterator[KubeAPIServer]:
    objects, scopes = load_manifests(CLUSTER_INPUTS)
    with serve(objects, scopes) as server:
        yield server


@pytest.fixture
def kubeconfig(api: KubeAPIServer, tmp_path: Path) -> str:
    return api.kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def as_files(api: KubeAPIServer, tmp_path: Path) -> str:
    """Every object the server holds, as one file: what a file answer is compared with."""
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": api.store.served_objects()}))
    return str(path)


def listed(api: KubeAPIServer) -> set[str]:
    return {str(r.path).rsplit("/", 1)[-1] for r in api.lists()}


# -- the same answers as files ----------------------------------------------------------------------------

RBAC_QUERIES = [
    ("who-can", "create", "deployments", "-n", "shop"),
    ("who-can", "get", "nodes", "-A"),
    ("who-can", "get", "secrets", "-n", "kube-system"),
    ("can", "ServiceAccount:shop:ci", "create", "deployments.apps", "-n", "shop"),
    ("can", "User:alice", "get", "nodes", "-A"),
    ("permissions", "User:alice"),
    ("permissions", "ServiceAccount:shop:ci"),
    ("paths",),
    ("paths", "--to", "ServiceAccount:kube-system:legacy-admin"),
]


@pytest.mark.parametrize("query", RBAC_QUERIES, ids=lambda q: "-".join(q[:2]))
def test_rbac_cluster_answer_equals_the_file_answer(kubeconfig: str, as_files: str, query: tuple[str, ...]) -> None:
    # the cluster has its own default roles and bindings: the files are the same objects, nothing assumed
    extra = ("--no-defaults",) if query[0] == "paths" else ()
    live = run("rbac", *query, "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
    files = run("rbac", *query, "-f", as_files, *extra, "-o", "json")
    assert live.exit_code == files.exit_code and live.exit_code in (0, 1), (live.stderr, files.stderr)
    assert json.loads(live.stdout) == json.loads(files.stdout)
    assert "incomplete" not in json.loads(live.stdout)
    if query[0] == "paths":  # the answer is not trivial
        assert json.loads(live.stdout)["paths"]


NETPOL_QUERIES = [
    ("can-reach", "shop/deploy/api", "shop/sts/postgres", "--port", "5432/TCP"),
    ("can-reach", "shop/deploy/frontend", "shop/sts/postgres"),
    ("can-reach", "0.0.0.0/0", "shop/deploy/frontend"),
    ("matrix",),
    ("matrix", "-n", "shop"),
]


@pytest.mark.parametrize("query", NETPOL_QUERIES, ids=lambda q: "-".join(q[:2]))
def test_netpol_cluster_answer_equals_the_file_answer(kubeconfig: str, as_files: str, query: tuple[str, ...]) -> None:
    live = run("netpol", *query, "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
    files = run("netpol", *query, "-f", as_files, "-o", "json")
    assert live.exit_code == files.exit_code and live.exit_code in (0, 1), (live.stderr, files.stderr)
    assert json.loads(live.stdout) == json.loads(files.stdout)
    if query[0] == "matrix":
        assert json.loads(live.stdout)["connections"]


def test_netpol_diff_of_the_cluster_and_a_change(kubeconfig: str, tmp_path: Path) -> None:
    """``diff --cluster AFTER``: the cluster holds the policies of BEFORE; AFTER applied on top of it gives
    what ``diff BEFORE AFTER`` gives for files."""
    after = str(NETPOL / "after")
    files = run("netpol", "diff", str(NETPOL / "before"), after, "-f", str(NETPOL / "workloads.yaml"), "-o", "json")
    live = run("netpol", "diff", after, "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
    assert files.exit_code == live.exit_code == 1, live.stderr
    got, want = json.loads(live.stdout), json.loads(files.stdout)
    assert got["opened"] == want["opened"] and got["closed"] == want["closed"]
    assert got["opened"] or got["closed"]
    # the same change, from a snapshot, and as text
    snap = str(tmp_path / "s.json.gz")
    assert run("cluster", "snapshot", "save", snap, "--kubeconfig", kubeconfig).exit_code == 0
    offline = run("netpol", "diff", after, "--snapshot", snap, "-o", "json")
    assert offline.exit_code == 1 and json.loads(offline.stdout) == got
    # applying the cluster's own state changes nothing
    same = run("netpol", "diff", str(NETPOL / "before"), "--cluster", "--kubeconfig", kubeconfig)
    assert same.exit_code == 0 and "No connection between workloads is opened or closed." in same.stdout
    # one side only with a cluster, two without
    assert run("netpol", "diff", after, str(NETPOL / "before"), "--cluster").exit_code == 2
    assert run("netpol", "diff", after).exit_code == 2


def test_files_are_applied_on_top_of_the_cluster(kubeconfig: str) -> None:
    """can-reach with files and --cluster: the answer after kubectl apply of the files (AFTER opens
    frontend -> postgres on 5432)."""
    q = ("netpol", "can-reach", "shop/deploy/frontend", "shop/sts/postgres", "--port", "5432/TCP", "-o", "json")
    now = run(*q, "--cluster", "--kubeconfig", kubeconfig)
    assert now.exit_code == 1 and not json.loads(now.stdout)["allowed"]
    after = run(*q, "--cluster", "--kubeconfig", kubeconfig, "-f", str(NETPOL / "after"))
    files = run(*q, "-f", str(NETPOL / "workloads.yaml"), "-f", str(NETPOL / "after"))
    assert after.exit_code == files.exit_code == 0
    assert json.loads(after.stdout) == json.loads(files.stdout)


def test_snapshot_answers_equal_the_cluster_answers(kubeconfig: str, tmp_path: Path) -> None:
    snap = str(tmp_path / "s.json.gz")
    assert run("cluster", "snapshot", "save", snap, "--kubeconfig", kubeconfig).exit_code == 0
    for args in (
        ("rbac", "who-can", "create", "deployments", "-n", "shop"),
        ("rbac", "paths"),
        ("netpol", "matrix"),
    ):
        live = run(*args, "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
        offline = run(*args, "--snapshot", snap, "-o", "json")
        assert live.exit_code == offline.exit_code == 0 and live.stdout == offline.stdout, offline.stderr


# -- only what each command needs --------------------------------------------------------------------------


def test_each_command_lists_only_the_kinds_it_needs(api: KubeAPIServer, kubeconfig: str) -> None:
    assert run("rbac", "who-can", "get", "pods", "--cluster", "--kubeconfig", kubeconfig).exit_code == 0
    rbac = listed(api)
    assert {"roles", "rolebindings", "clusterroles", "clusterrolebindings"} <= rbac
    assert not rbac & {"pods", "secrets", "serviceaccounts", "deployments", "networkpolicies", "configmaps"}
    api.requests.clear()
    assert run("rbac", "paths", "--cluster", "--kubeconfig", kubeconfig).exit_code == 0
    assert {"pods", "deployments", "secrets", "serviceaccounts", "rolebindings"} <= listed(api)
    assert not listed(api) & {"networkpolicies", "configmaps", "services", "namespaces"}
    api.requests.clear()
    assert run("netpol", "matrix", "--cluster", "--kubeconfig", kubeconfig).exit_code == 0
    net = listed(api)
    assert {"networkpolicies", "namespaces", "pods", "deployments", "statefulsets"} <= net
    assert not net & {"secrets", "rolebindings", "roles", "configmaps", "serviceaccounts"}
    assert all(r.query.get("limit") == "500" for r in api.lists())
    # what they read is what they declare
    assert RBAC_READS < PATHS_READS and "Secret" in PATHS_READS and "NetworkPolicy" in NETPOL_READS


def test_a_cluster_is_read_whole_whatever_n_means(api: KubeAPIServer, kubeconfig: str) -> None:
    """-n is the namespace of the query (rbac) or of the output (netpol), never a restriction of the read."""
    r = run("rbac", "who-can", "create", "deployments", "-n", "shop", "--cluster", "--kubeconfig", kubeconfig)
    assert r.exit_code == 0
    assert all("/namespaces/" not in r.path for r in api.lists())
    r = run("netpol", "matrix", "-n", "shop", "--cluster", "--kubeconfig", kubeconfig)
    assert r.exit_code == 0
    assert all("/namespaces/" not in r.path for r in api.lists())


# -- what could not be read ---------------------------------------------------------------------------------


def test_forbidden_rolebindings_make_rbac_answers_incomplete(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.forbidden.add("rolebindings")
    base = ("--cluster", "--kubeconfig", kubeconfig)
    r = run("rbac", "who-can", "create", "deployments", "-n", "shop", *base, "-o", "json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["incomplete"] == {"RoleBinding": "cannot list rolebindings: forbidden"}
    assert "could not read from the cluster: rolebindings.rbac.authorization.k8s.io (forbidden)" in r.stderr
    table = run("rbac", "who-can", "create", "deployments", "-n", "shop", *base)
    assert table.exit_code == 2
    assert "Incomplete: could not read RoleBinding (cannot list rolebindings: forbidden)" in table.stdout
    # a denial may be wrong (a RoleBinding may allow it): incomplete; an allowed request stays allowed
    denied = run("rbac", "can", "ServiceAccount:shop:ci", "create", "deployments.apps", "-n", "shop", *base)
    assert denied.exit_code == 2 and denied.stdout.startswith("no\n") and "Incomplete" in denied.stdout
    allowed = run("rbac", "can", "User:bob", "get", "nodes", "-A", *base, "-o", "json")
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["allowed"]
    assert "incomplete" not in json.loads(allowed.stdout)
    perms = run("rbac", "permissions", "User:alice", *base, "-o", "json")
    assert perms.exit_code == 2 and "RoleBinding" in json.loads(perms.stdout)["incomplete"]


def test_forbidden_secrets_make_paths_incomplete_not_rbac(api: KubeAPIServer, kubeconfig: str) -> None:
    """Secrets matter to escalation paths only (legacy token Secrets); who-can does not read them."""
    api.faults.forbidden.add("secrets")
    base = ("--cluster", "--kubeconfig", kubeconfig)
    paths = run("rbac", "paths", *base, "-o", "json")
    assert paths.exit_code == 2
    doc = json.loads(paths.stdout)
    assert doc["incomplete"] == {"Secret": "cannot list secrets: forbidden"} and doc["paths"]
    dot = run("rbac", "paths", *base, "-o", "dot")
    assert dot.stdout.splitlines()[1].startswith("// Incomplete: could not read Secret")
    assert run("rbac", "who-can", "get", "pods", "-n", "shop", *base).exit_code == 0


def test_forbidden_networkpolicies_make_netpol_answers_incomplete(api: KubeAPIServer, kubeconfig: str) -> None:
    api.faults.forbidden.add("networkpolicies")
    base = ("--cluster", "--kubeconfig", kubeconfig)
    r = run("netpol", "can-reach", "shop/deploy/frontend", "shop/sts/postgres", *base)
    assert r.exit_code == 2 and r.stdout.startswith("ALLOWED")  # nothing isolates what was read...
    assert "Incomplete: could not read NetworkPolicy (cannot list networkpolicies: forbidden)" in r.stdout
    j = run("netpol", "can-reach", "shop/deploy/frontend", "shop/sts/postgres", *base, "-o", "json")
    assert j.exit_code == 2 and json.loads(j.stdout)["incomplete"] == {
        "NetworkPolicy": "cannot list networkpolicies: forbidden"
    }
    m = run("netpol", "matrix", *base, "-o", "json")
    assert m.exit_code == 2 and "NetworkPolicy" in json.loads(m.stdout)["incomplete"]
    csv = run("netpol", "matrix", *base, "-o", "csv")  # no place for it in CSV: stderr says it
    assert csv.exit_code == 2 and "Incomplete" not in csv.stdout and "Incomplete: could not read" in csv.stderr
    dot = run("netpol", "matrix", *base, "-o", "dot")
    assert "// Incomplete: could not read NetworkPolicy" in dot.stdout
    d = run("netpol", "diff", str(NETPOL / "after"), *base)
    assert d.exit_code == 2 and "Incomplete: could not read NetworkPolicy" in d.stdout


def test_a_snapshot_without_a_kind_the_command_needs(api: KubeAPIServer, kubeconfig: str, tmp_path: Path) -> None:
    read = read_cluster(ClusterSource(kubeconfig=kubeconfig), ["Deployment", "Namespace", "Pod", "StatefulSet"])
    snap = str(tmp_path / "small.json.gz")
    save_snapshot(read, snap)
    m = run("netpol", "matrix", "--snapshot", snap, "-o", "json")
    assert m.exit_code == 2
    assert json.loads(m.stdout)["incomplete"]["NetworkPolicy"] == "not in the snapshot (cannot list NetworkPolicy)"
    # kinds the cluster does not serve (no Cilium, no Prometheus Operator) are not missing
    assert not set(json.loads(m.stdout)["incomplete"]) & {"CiliumNetworkPolicy", "Prometheus"}
    # a snapshot of one namespace: the namespaced kinds are incomplete
    one = read_cluster(ClusterSource(kubeconfig=kubeconfig, namespace="shop"), sorted(RBAC_READS))
    save_snapshot(one, str(tmp_path / "shop.json.gz"))
    r = run("rbac", "who-can", "get", "pods", "--snapshot", str(tmp_path / "shop.json.gz"), "-o", "json")
    assert r.exit_code == 2
    assert json.loads(r.stdout)["incomplete"] == {
        "Role": "namespace shop only was read (cannot list Role of other namespaces)",
        "RoleBinding": "namespace shop only was read (cannot list RoleBinding of other namespaces)",
    }


def test_cli_usage(kubeconfig: str) -> None:
    r = run("rbac", "who-can", "get", "pods", "-f", str(FIX / "rbac"), "--cluster", "--kubeconfig", kubeconfig)
    assert r.exit_code == 2 and "read no files" in r.stderr
    r = run("rbac", "who-can", "get", "pods", "--cluster", "--snapshot", "x.gz")
    assert r.exit_code == 2 and "choose one" in r.stderr
    r = run("netpol", "matrix", "-f", str(NETPOL / "workloads.yaml"), "--qps", "3")
    assert r.exit_code == 2 and "--qps applies to --cluster only" in r.stderr
    r = run("netpol", "matrix", "--cluster", "--kubeconfig", "/nonexistent")
    assert r.exit_code == 2 and "kubefort: error:" in r.stderr
    r = run("netpol", "matrix")
    assert r.exit_code == 2 and "--cluster or --snapshot FILE" in r.stderr
    # rbac's own -A (a request without namespace) is not the cluster options'
    r = run("rbac", "who-can", "get", "nodes", "-A", "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["request"]["namespace"] is None


# -- a controller's pods count once --------------------------------------------------------------------------


def _workload(kind: str, name: str, sa: str, owner: tuple[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "shop", "uid": f"uid-{kind}-{name}", "labels": {"app": "web"}}
    if owner is not None:
        md["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": owner[0],
                "name": owner[1],
                "uid": f"uid-{owner[0]}-{owner[1]}",
                "controller": True,
            }
        ]
    pod = {
        "serviceAccountName": sa,
        "containers": [{"name": "c", "image": "nginx:1", "ports": [{"containerPort": 80}]}],
    }
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": md, "spec": pod, **extra}
    template = {"metadata": {"labels": {"app": "web"}}, "spec": pod}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": md, "spec": {"template": template}, **extra}


def owned_objects() -> list[dict[str, Any]]:
    """Deployment web (ServiceAccount web) with a ReplicaSet and 3 Pods, a Pod of its previous template
    still running as ServiceAccount old, a ServiceAccount debugger that may exec into pods of shop, and
    cluster-admin for web and old."""
    out = [_workload("Deployment", "web", "web"), _workload("ReplicaSet", "web-1", "web", ("Deployment", "web"))]
    out += [_workload("Pod", f"web-1-{i}", "web", ("ReplicaSet", "web-1")) for i in range(3)]
    out += [_workload("ReplicaSet", "web-0", "old", ("Deployment", "web"))]
    out += [_workload("Pod", "web-0-a", "old", ("ReplicaSet", "web-0"))]
    rbac = "rbac.authorization.k8s.io/v1"
    out += [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": n, "namespace": "shop"}}
        for n in ("web", "old", "debugger")
    ]
    out += [
        {
            "apiVersion": rbac,
            "kind": "Role",
            "metadata": {"name": "exec", "namespace": "shop"},
            "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}],
        },
        {
            "apiVersion": rbac,
            "kind": "RoleBinding",
            "metadata": {"name": "debugger-exec", "namespace": "shop"},
            "subjects": [{"kind": "ServiceAccount", "name": "debugger", "namespace": "shop"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "exec"},
        },
        {
            "apiVersion": rbac,
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "web-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": n, "namespace": "shop"} for n in ("web", "old")],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        },
    ]
    return out


def test_escalation_counts_a_controllers_pods_once(tmp_path: Path) -> None:
    with serve(owned_objects()) as server:
        kc = server.kubeconfig(tmp_path / "kubeconfig")
        index, _ = load_rbac(ScanOptions(cluster=ClusterSource(kubeconfig=kc)), escalation=True)
    graph = EscalationGraph(index)
    held = sorted((o.kind, o.name, sa) for o, sa in graph.workloads["shop"])
    # the Deployment for its pods; the ReplicaSet of the old template, whose pod runs as another ServiceAccount
    assert held == [("Deployment", "web", "web"), ("ReplicaSet", "web-0", "old")]
    steps = [s.action for p in graph.paths(from_subject="ServiceAccount:shop:debugger") for s in p.steps]
    assert any("Deployment shop/web (3 pods) runs as ServiceAccount shop:web" in s for s in steps), steps
    # exec into a pod by name still knows every pod
    assert {o.name for o, _ in graph.pods_by_name.get("web-1-0", [])} == {"web-1-0"}
    # the same objects as files: each as written, no pod count
    files = Inventory([K8sObject.from_raw(o, Source(file="x.yaml")) for o in owned_objects()])
    from kubefort.analysis.rbac.index import RbacIndex

    fg = EscalationGraph(RbacIndex.build(files))
    assert len(fg.workloads["shop"]) == 7


def test_netpol_answers_for_a_controlled_pod_with_its_controller(tmp_path: Path) -> None:
    with serve(owned_objects()) as server:
        kc = server.kubeconfig(tmp_path / "kubeconfig")
        eng, _ = load_netpol(ScanOptions(cluster=ClusterSource(kubeconfig=kc)))
        r = run("netpol", "can-reach", "shop/pod/web-1-2", "10.0.0.0/8", "--cluster", "--kubeconfig", kc, "-o", "json")
    assert [w.ref for w in eng.workloads] == ["shop/Deployment/web"]
    assert r.exit_code == 0 and json.loads(r.stdout)["from"] == "shop/Deployment/web"


def test_namespace_quota_rule_counts_workloads_once() -> None:
    objs = [*owned_objects(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}]
    rules = default_registry().select(only=["KF-POD-044"])

    def messages(live: bool) -> set[str]:
        src = Source(file="cluster:test", live=True) if live else Source(file="x.yaml")
        inv = Inventory([K8sObject.from_raw(o, src) for o in objs], live=live)
        return {f.message for f in evaluate(rules, inv, mode="cluster" if live else "manifest").findings}

    assert messages(live=True) == {
        'namespace "shop" runs 1 workload but has no ResourceQuota',
        'namespace "shop" runs 1 workload but has no LimitRange',
    }
    assert 'namespace "shop" runs 7 workloads but has no ResourceQuota' in messages(live=False)


# -- the library ---------------------------------------------------------------------------------------------


def test_read_objects_and_apply_objects(kubeconfig: str) -> None:
    inv, notes = read_objects(ScanOptions(cluster=ClusterSource(kubeconfig=kubeconfig)), ["NetworkPolicy", "Pod"])
    assert inv.live and not notes and {o.kind for o in inv} <= {"NetworkPolicy", "Pod"}
    pol = next(o for o in inv if o.kind == "NetworkPolicy")
    changed = dict(pol.raw, spec={"podSelector": {}, "policyTypes": ["Ingress"]})
    new = K8sObject.from_raw(changed, Source(file="after.yaml"))
    applied = apply_objects(inv, [new])
    assert applied.live and len(applied) == len(inv)
    assert applied.get("NetworkPolicy", pol.namespace, pol.name) is new


# -- the attack graph ---------------------------------------------------------------------------------------


def test_graph_answers_from_the_cluster_a_snapshot_and_files_agree(
    api: KubeAPIServer, kubeconfig: str, as_files: str, tmp_path: Path
) -> None:
    snap = str(tmp_path / "s.json.gz")
    assert run("cluster", "snapshot", "save", snap, "--kubeconfig", kubeconfig).exit_code == 0
    for q in (("paths", "--from", "any-pod", "--to", "nodes"), ("paths",), ("cuts", "--from", "any-pod")):
        api.requests.clear()
        live = run("graph", *q, "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
        assert {"services", "nodes", "networkpolicies", "rolebindings", "deployments"} <= listed(api)
        offline = run("graph", *q, "--snapshot", snap, "-o", "json")
        files = run("graph", *q, "-f", as_files, "-o", "json")
        assert live.exit_code == offline.exit_code == files.exit_code, (live.stderr, offline.stderr, files.stderr)
        assert live.exit_code in (0, 1), live.stderr
        assert json.loads(live.stdout) == json.loads(offline.stdout) == json.loads(files.stdout)
        if "any-pod" in q:  # the payments operator's token leads to cluster-admin (nothing is exposed)
            assert json.loads(files.stdout)["paths"]
