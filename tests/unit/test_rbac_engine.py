"""RBAC index and escalation engine: Kubernetes RBAC authorizer semantics, case by case."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubefort.analysis.rbac.escalation import escalation_paths
from kubefort.analysis.rbac.index import BindingRef, RbacIndex, RoleRef, written_rules
from kubefort.analysis.rbac.subjects import Subject
from kubefort.errors import UsageError
from kubefort.loading.loader import load_paths, load_text
from kubefort.model.inventory import Inventory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rbac"

HEAD = "apiVersion: rbac.authorization.k8s.io/v1\n"


def index_of(text: str, *, namespace: str = "default", live: bool = False, builtin: bool | None = None) -> RbacIndex:
    loaded = load_text(text, "test.yaml", default_namespace=namespace)
    assert not loaded.errors, loaded.errors
    return RbacIndex.build(Inventory(loaded.objects, live=live), builtin_roles=builtin)


def cluster_role(name: str, rules: str, labels: str = "", extra: str = "") -> str:
    lab = f"\n  labels:\n{labels}" if labels else ""
    return f"{HEAD}kind: ClusterRole\nmetadata:\n  name: {name}{lab}\n{extra}rules:\n{rules}\n---\n"


def crb(name: str, role: str, subjects: str) -> str:
    return (
        f"{HEAD}kind: ClusterRoleBinding\nmetadata:\n  name: {name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n"
        f"  kind: ClusterRole\n  name: {role}\nsubjects:\n{subjects}\n---\n"
    )


def rb(name: str, ns: str, kind: str, role: str, subjects: str) -> str:
    return (
        f"{HEAD}kind: RoleBinding\nmetadata:\n  name: {name}\n  namespace: {ns}\nroleRef:\n"
        f"  apiGroup: rbac.authorization.k8s.io\n  kind: {kind}\n  name: {role}\nsubjects:\n{subjects}\n---\n"
    )


USER_ANN = "  - {kind: User, name: ann}"


@pytest.fixture(scope="module")
def shop() -> RbacIndex:
    loaded = load_paths([str(FIXTURES)])
    assert not loaded.errors
    return RbacIndex.build(Inventory(loaded.objects))


# --------------------------------------------------------------------------- aggregation

AGGREGATION = (
    cluster_role(
        "parent",
        "  - {apiGroups: [''], resources: [configmaps], verbs: [delete]}",
        extra="aggregationRule:\n  clusterRoleSelectors:\n    - matchLabels: {team: parent}\n",
    )
    + cluster_role("child-a", "  - {apiGroups: [''], resources: [pods], verbs: [get]}", labels="    team: parent")
    + cluster_role(
        "child-b",
        "  []",
        labels="    team: parent",
        extra="aggregationRule:\n  clusterRoleSelectors:\n    - matchExpressions:\n"
        "        - {key: tier, operator: In, values: [grandchild]}\n",
    )
    + cluster_role(
        "grandchild", "  - {apiGroups: [apps], resources: [deployments], verbs: [list]}", labels="    tier: grandchild"
    )
    + cluster_role("unlabelled", "  - {apiGroups: [''], resources: [secrets], verbs: [get]}")
    + cluster_role("everything", "  []", extra="aggregationRule:\n  clusterRoleSelectors:\n    - {}\n")
    + cluster_role(
        "broken",
        "  - {apiGroups: [''], resources: [services], verbs: [get]}",
        extra="aggregationRule:\n  clusterRoleSelectors:\n    - matchExpressions:\n"
        "        - {key: tier, operator: Between}\n",
    )
    + cluster_role(
        "loop-a",
        "  []",
        labels="    loop: b",
        extra="aggregationRule:\n  clusterRoleSelectors:\n    - matchLabels: {loop: a}\n",
    )
    + cluster_role(
        "loop-b",
        "  []",
        labels="    loop: a",
        extra="aggregationRule:\n  clusterRoleSelectors:\n    - matchLabels: {loop: b}\n",
    )
    + cluster_role("loop-base", "  - {apiGroups: [''], resources: [endpoints], verbs: [watch]}", labels="    loop: a")
)


@pytest.mark.parametrize(
    "role,verb,resource,expected",
    [
        ("parent", "get", "pods", True),  # direct member
        ("parent", "list", "deployments", True),  # transitive: parent <- child-b <- grandchild
        ("parent", "delete", "configmaps", False),  # the aggregated role's own rules are replaced
        ("parent", "get", "secrets", False),  # not selected
        ("child-b", "list", "deployments", True),
        ("child-b", "get", "pods", False),
        ("everything", "get", "secrets", True),  # {} selects every other ClusterRole
        ("everything", "list", "deployments", True),
        ("broken", "get", "services", True),  # invalid selector: the controller leaves the rules as written
        ("loop-a", "watch", "endpoints", True),  # cycle: least fixed point reaches loop-base through loop-b
        ("loop-b", "watch", "endpoints", True),
        ("loop-a", "get", "pods", False),
    ],
)
def test_aggregation(role: str, verb: str, resource: str, expected: bool) -> None:
    idx = index_of(AGGREGATION + crb("b", role, USER_ANN))
    assert idx.can("User:ann", verb, resource, "default").allowed is expected
    if role == "broken":
        assert any("aggregationRule" in str(p) for p in idx.problems)


def test_aggregation_is_skipped_in_live_inventories() -> None:
    idx = index_of(AGGREGATION + crb("b", "parent", USER_ANN), live=True)
    assert idx.can("User:ann", "delete", "configmaps", "x").allowed  # the stored rules are the controller's result
    assert not idx.can("User:ann", "get", "pods", "x").allowed


def test_builtin_roles_aggregate_labelled_input_roles() -> None:
    text = cluster_role(
        "orders-reader",
        "  - {apiGroups: [shop.example.com], resources: [orders], verbs: [get]}",
        labels='    rbac.authorization.k8s.io/aggregate-to-view: "true"',
    )
    text += rb("v", "shop", "ClusterRole", "view", USER_ANN) + rb(
        "a", "ops", "ClusterRole", "admin", "  - {kind: User, name: bo}"
    )
    idx = index_of(text)
    assert idx.can("User:ann", "get", "orders.shop.example.com", "shop").allowed
    assert idx.can("User:ann", "list", "pods", "shop").allowed
    assert not idx.can("User:ann", "get", "secrets", "shop").allowed  # view never reads secrets
    # admin <- edit <- view <- orders-reader: transitive through the built-in chain
    assert idx.can("User:bo", "get", "orders.shop.example.com", "ops").allowed
    assert idx.can("User:bo", "create", "rolebindings.rbac.authorization.k8s.io", "ops").allowed
    assert set(idx.roles[RoleRef("ClusterRole", "view")].aggregated_from) == {
        "orders-reader",
        "system:aggregate-to-view",
    }


def test_builtin_roles_can_be_turned_off() -> None:
    idx = index_of(rb("v", "shop", "ClusterRole", "view", USER_ANN), builtin=False)
    assert not idx.can("User:ann", "get", "pods", "shop").allowed
    assert [str(p) for p in idx.problems] == [
        "RoleBinding/shop/v: references ClusterRole/view, which does not exist: grants nothing"
    ]


def test_input_definition_wins_over_builtin() -> None:
    idx = index_of(
        cluster_role("view", "  - {apiGroups: [''], resources: [secrets], verbs: [get]}")
        + rb("v", "shop", "ClusterRole", "view", USER_ANN)
    )
    assert idx.can("User:ann", "get", "secrets", "shop").allowed
    assert not idx.can("User:ann", "get", "pods", "shop").allowed
    assert not idx.roles[RoleRef("ClusterRole", "view")].builtin


# --------------------------------------------------------------------------- rule matching through the index

RULES = (
    cluster_role(
        "named", "  - {apiGroups: [''], resources: [secrets], resourceNames: [tls], verbs: [get, list, watch]}"
    )
    + cluster_role("any-group-secrets", "  - {apiGroups: ['*'], resources: [secrets], verbs: [get]}")
    + cluster_role("scale", "  - {apiGroups: ['*'], resources: ['*/scale'], verbs: [update]}")
    + cluster_role("pods-star", "  - {apiGroups: [''], resources: ['pods/*'], verbs: [get]}")
    + cluster_role("all", "  - {apiGroups: ['apps'], resources: ['*'], verbs: ['*']}")
    + crb("named", "named", "  - {kind: User, name: named}")
    + crb("any-group-secrets", "any-group-secrets", "  - {kind: User, name: wild}")
    + crb("scale", "scale", "  - {kind: User, name: scaler}")
    + crb("pods-star", "pods-star", "  - {kind: User, name: star}")
    + crb("all", "all", "  - {kind: User, name: apps}")
)


@pytest.mark.parametrize(
    "user,args,kw,expected",
    [
        ("named", ("get", "secrets", "ns"), {"name": "tls"}, True),
        ("named", ("get", "secrets", "ns"), {"name": "other"}, False),
        ("named", ("get", "secrets", "ns"), {}, False),
        ("named", ("list", "secrets", "ns"), {}, False),  # list has no name...
        ("named", ("list", "secrets", "ns"), {"name": "tls"}, True),  # ...unless a metadata.name field selector
        ("named", ("watch", "secrets", "ns"), {"name": "tls"}, True),
        ("named", ("create", "secrets", "ns"), {}, False),
        ("wild", ("get", "secrets", "ns"), {}, True),  # apiGroups * covers the core group
        ("wild", ("get", "secrets.example.com", "ns"), {}, True),  # ...and any other group
        ("wild", ("get", "configmaps", "ns"), {}, False),
        ("scaler", ("update", "deployments/scale", "ns"), {}, True),  # */scale
        ("scaler", ("update", "statefulsets", "ns"), {"subresource": "scale"}, True),
        ("scaler", ("update", "deployments", "ns"), {}, False),
        ("scaler", ("update", "deployments/status", "ns"), {}, False),
        ("star", ("get", "pods/log", "ns"), {}, False),  # there is no pods/*
        ("apps", ("delete", "deployments", "ns"), {}, True),
        ("apps", ("patch", "deployments/scale", "ns"), {}, True),  # resources * includes subresources
        ("apps", ("delete", "pods", "ns"), {}, False),  # only the apps group
    ],
)
def test_rule_matching(user: str, args: tuple[str, ...], kw: dict[str, str], expected: bool) -> None:
    idx = index_of(RULES)
    assert idx.can(f"User:{user}", *args, **kw).allowed is expected
    who = {g.subject.name for g in idx.who_can(*args, **kw)}
    assert (user in who) is expected


# --------------------------------------------------------------------------- binding scope

SCOPE = (
    cluster_role(
        "reader",
        "  - {apiGroups: [''], resources: [pods, nodes, namespaces], verbs: [get, list]}\n"
        "  - {nonResourceURLs: [/metrics], verbs: [get]}",
    )
    + rb("local", "team-a", "ClusterRole", "reader", "  - {kind: User, name: local}")
    + crb("global", "reader", "  - {kind: User, name: global}")
    + f"{HEAD}kind: Role\nmetadata: {{name: r, namespace: team-a}}\nrules:\n  - {{apiGroups: [''], resources: [configmaps], verbs: [get]}}\n---\n"
    + rb("role-local", "team-a", "Role", "r", "  - {kind: User, name: local}")
)


@pytest.mark.parametrize(
    "user,verb,resource,ns,kw,expected",
    [
        ("local", "get", "pods", "team-a", {}, True),
        ("local", "get", "pods", "team-b", {}, False),  # a RoleBinding grants only in its namespace
        ("local", "list", "pods", None, {}, False),  # ...never across all namespaces
        ("local", "get", "nodes", "team-a", {}, False),  # ...never cluster-scoped resources, whatever -n says
        ("local", "get", "/metrics", None, {}, False),  # ...never non-resource URLs
        ("local", "get", "namespaces", None, {"name": "team-a"}, True),  # its own namespace, requested by name
        ("local", "get", "namespaces", None, {"name": "team-b"}, False),
        ("local", "list", "namespaces", None, {}, False),
        ("local", "get", "configmaps", "team-a", {}, True),  # a Role of the binding's namespace
        ("global", "get", "pods", "team-b", {}, True),
        ("global", "list", "pods", None, {}, True),
        ("global", "get", "nodes", None, {}, True),
        ("global", "get", "/metrics", None, {}, True),
        ("global", "get", "/metrics/cadvisor", None, {}, False),
        ("global", "get", "configmaps", "team-a", {}, False),
    ],
)
def test_binding_scope(user: str, verb: str, resource: str, ns: str | None, kw: dict[str, str], expected: bool) -> None:
    idx = index_of(SCOPE)
    assert idx.can(f"User:{user}", verb, resource, ns, **kw).allowed is expected
    assert (user in {g.subject.name for g in idx.who_can(verb, resource, ns, **kw)}) is expected


def test_role_of_another_namespace_grants_nothing() -> None:
    text = (
        f"{HEAD}kind: Role\nmetadata: {{name: r, namespace: a}}\nrules:\n  - {{apiGroups: [''], resources: [pods], verbs: [get]}}\n---\n"
        + rb("x", "b", "Role", "r", USER_ANN)
    )
    idx = index_of(text)
    assert not idx.can("User:ann", "get", "pods", "a").allowed and not idx.can("User:ann", "get", "pods", "b").allowed
    assert [str(p) for p in idx.problems] == [
        "RoleBinding/b/x: references Role/b/r, which does not exist: grants nothing"
    ]


# --------------------------------------------------------------------------- subjects

SUBJECTS = (
    cluster_role("r", "  - {apiGroups: [''], resources: [pods], verbs: [get]}")
    + rb("sa-default-ns", "shop", "ClusterRole", "r", "  - {kind: ServiceAccount, name: ci}")
    + rb("sa-other-ns", "shop", "ClusterRole", "r", "  - {kind: ServiceAccount, name: bot, namespace: tools}")
    + rb("all-sas", "sas", "ClusterRole", "r", "  - {kind: Group, name: system:serviceaccounts}")
    + rb("ns-sas", "nssas", "ClusterRole", "r", "  - {kind: Group, name: 'system:serviceaccounts:tools'}")
    + rb("authn", "authn", "ClusterRole", "r", "  - {kind: Group, name: system:authenticated}")
    + rb("unauthn", "public", "ClusterRole", "r", "  - {kind: Group, name: system:unauthenticated}")
    + rb("sa-as-user", "user-form", "ClusterRole", "r", "  - {kind: User, name: 'system:serviceaccount:tools:bot'}")
    + rb("group", "devs", "ClusterRole", "r", "  - {kind: Group, name: devs}")
    + crb("orphan", "r", "  - {kind: ServiceAccount, name: orphan}")
)


@pytest.mark.parametrize(
    "subject,ns,expected",
    [
        ("ServiceAccount:shop:ci", "shop", True),  # namespace defaulted to the RoleBinding's
        ("ServiceAccount:default:ci", "shop", False),
        ("ServiceAccount:tools:bot", "shop", True),  # explicit namespace
        ("ServiceAccount:shop:bot", "shop", False),
        ("ServiceAccount:any:one", "sas", True),  # system:serviceaccounts
        ("User:alice", "sas", False),
        ("ServiceAccount:tools:x", "nssas", True),  # system:serviceaccounts:<ns>
        ("ServiceAccount:shop:x", "nssas", False),
        ("User:alice", "authn", True),  # system:authenticated
        ("ServiceAccount:a:b", "authn", True),
        ("Group:devs", "authn", False),  # a group query: only that group's bindings
        ("User:system:anonymous", "authn", False),
        ("User:system:anonymous", "public", True),  # system:unauthenticated
        ("User:alice", "public", False),
        ("system:serviceaccount:tools:bot", "user-form", True),  # User subject with a service account's user name
        ("Group:devs", "devs", True),
        ("ServiceAccount:default:orphan", "default", False),  # ClusterRoleBinding SA without namespace: nobody
    ],
)
def test_subject_matching(subject: str, ns: str, expected: bool) -> None:
    idx = index_of(SUBJECTS)
    assert idx.can(subject, "get", "pods", ns).allowed is expected


def test_extra_groups_and_system_masters() -> None:
    idx = index_of(SUBJECTS)
    assert idx.can("User:alice", "get", "pods", "devs", groups=["devs"]).allowed
    d = idx.can("Group:system:masters", "delete", "nodes")
    assert d.allowed and not d.via and "system:masters" in d.reason
    assert idx.can("User:root", "escalate", "clusterroles", groups=["system:masters"]).allowed
    assert idx.permissions("Group:system:masters")[0].binding is None


def test_who_can_lists_subjects_as_bound() -> None:
    idx = index_of(SUBJECTS)
    grants = idx.who_can("get", "pods", "shop")
    assert [(str(g.subject), str(g.binding), str(g.role)) for g in grants] == [
        ("ServiceAccount:shop:ci", "RoleBinding/shop/sa-default-ns", "ClusterRole/r"),
        ("ServiceAccount:tools:bot", "RoleBinding/shop/sa-other-ns", "ClusterRole/r"),
    ]
    assert "ClusterRoleBinding/orphan: ServiceAccount subject 'orphan' has no namespace: it matches nobody" in [
        str(p) for p in idx.problems
    ]


def test_missing_and_invalid_role_refs() -> None:
    text = (
        rb("missing", "shop", "Role", "ghost", USER_ANN)
        + crb("missing-cr", "ghost", USER_ANN)
        + f"{HEAD}kind: ClusterRoleBinding\nmetadata: {{name: to-role}}\nroleRef: {{kind: Role, name: r}}\nsubjects:\n{USER_ANN}\n"
    )
    idx = index_of(text)
    assert [str(p) for p in idx.problems] == [
        "RoleBinding/shop/missing: references Role/shop/ghost, which does not exist: grants nothing",
        "ClusterRoleBinding/missing-cr: references ClusterRole/ghost, which does not exist: grants nothing",
        "ClusterRoleBinding/to-role: invalid roleRef (must name a ClusterRole): grants nothing",
    ]
    assert idx.permissions("User:ann") == []
    assert idx.who_can("*", "*", "shop") == []


# --------------------------------------------------------------------------- request syntax


@pytest.mark.parametrize(
    "resource,kw,expected",
    [
        ("pods", {}, ("", "pods", None)),
        ("pods/exec", {}, ("", "pods", "exec")),
        ("pods", {"subresource": "log"}, ("", "pods", "log")),
        ("deployments", {}, ("apps", "deployments", None)),
        ("deploy", {}, ("apps", "deployments", None)),
        ("deployments.apps", {}, ("apps", "deployments", None)),
        ("deployments.v1.apps/scale", {}, ("apps", "deployments", "scale")),
        ("orders.shop.example.com", {}, ("shop.example.com", "orders", None)),
        ("widgets", {}, ("widgets.example.com", "widgets", None)),  # from a CRD of the input
        ("gadgets", {}, ("", "gadgets", None)),  # unknown: core group, as kubectl does
        ("*", {}, ("*", "*", None)),
        ("secrets", {"group": "custom.io"}, ("custom.io", "secrets", None)),
    ],
)
def test_request_parsing(resource: str, kw: dict[str, str], expected: tuple[str, str, str | None]) -> None:
    crd = (
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.widgets.example.com}\n"
        "spec: {group: widgets.example.com, scope: Cluster, names: {plural: widgets, kind: Widget}}\n"
    )
    idx = index_of(crd)
    req = idx.request("get", resource, "ns", **kw)
    assert (req.group, req.resource, req.subresource) == expected
    if resource == "widgets":
        assert req.namespace is None  # cluster-scoped custom resource


@pytest.mark.parametrize(
    "verb,resource,kw",
    [
        ("get pods", "pods", {}),
        ("get", "pods//x", {}),
        ("get", "pods/exec", {"subresource": "log"}),
        ("get", "Pods!", {}),
        ("get", "/metrics", {"name": "x"}),
        ("get", "deployments.apps", {"group": "extensions"}),
    ],
)
def test_bad_requests(verb: str, resource: str, kw: dict[str, str]) -> None:
    with pytest.raises(UsageError):
        index_of("").request(verb, resource, "ns", **kw)


def test_bad_subject() -> None:
    with pytest.raises(UsageError):
        index_of("").can("Robot:r2d2", "get", "pods", "ns")


# --------------------------------------------------------------------------- permissions


def test_permissions_rows(shop: RbacIndex) -> None:
    rows = shop.permissions("User:alice")
    # the namespaced binding of node-reader keeps only what it can grant: namespaces (its own), not nodes or /healthz
    assert [(r.namespace, r.resources, r.non_resource_urls, str(r.binding)) for r in rows] == [
        ("shop", ("namespaces",), (), "RoleBinding/shop/node-readers"),
        ("shop", ("*/scale",), (), "RoleBinding/shop/scalers"),
    ]
    bob = shop.permissions("User:bob")
    assert [(r.namespace, r.resources, r.non_resource_urls) for r in bob] == [
        (None, ("nodes", "namespaces"), ()),
        (None, (), ("/healthz",)),
        ("shop", ("*/scale",), ()),
    ]
    assert str(bob[-1].subject) == "Group:system:authenticated"


def test_shop_fixture_queries(shop: RbacIndex) -> None:
    assert [str(p) for p in shop.problems] == [
        "RoleBinding/shop/dangling: references Role/shop/does-not-exist, which does not exist: grants nothing",
        "ClusterRoleBinding/broken-sa-subject: ServiceAccount subject 'orphan' has no namespace: it matches nobody",
    ]
    assert {str(g.subject) for g in shop.who_can("get", "/metrics")} == {
        "Group:platform-admins",
        "ServiceAccount:kube-system:legacy-admin",
        "ServiceAccount:shop:payments-operator",
        "ServiceAccount:monitoring:prometheus",
    }
    # transitive aggregation on real-looking roles
    assert shop.can("ServiceAccount:monitoring:prometheus", "list", "endpointslices.discovery.k8s.io", None).allowed
    assert not shop.can("ServiceAccount:monitoring:prometheus", "delete", "configmaps", "shop").allowed
    assert not shop.can("User:carol", "get", "pods", "shop").allowed
    assert shop.can("User:carol", "update", "deployments/scale", "shop").allowed  # system:authenticated in shop


def test_for_inventory_is_cached() -> None:
    inv = Inventory(load_text(SUBJECTS, "t.yaml").objects)
    assert RbacIndex.for_inventory(inv) is RbacIndex.for_inventory(inv)


def test_for_inventory_is_kept_by_the_inventory_per_option_set() -> None:
    inv = Inventory(load_text(SUBJECTS, "t.yaml").objects)
    default = RbacIndex.for_inventory(inv)
    assert RbacIndex.for_inventory(inv, builtin_roles=True, aggregate=True) is default  # the defaults, spelled out
    bare = RbacIndex.for_inventory(inv, builtin_roles=False)
    assert bare is not default and RoleRef("ClusterRole", "view") not in bare.roles
    inv.add(load_text(crb("late", "r", USER_ANN), "u.yaml").objects[0])  # a new object: indexes are rebuilt
    assert RbacIndex.for_inventory(inv) is not default
    assert not hasattr(RbacIndex, "_cache")  # no index outside its inventory


def test_index_does_not_import_escalation() -> None:
    """escalation builds on the index, never the reverse (no import cycle)."""
    import ast

    import kubefort.analysis.rbac.index as index_module

    tree = ast.parse(Path(index_module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "escalation" not in imported and not any(m and m.endswith(".escalation") for m in imported)


# --------------------------------------------------------------------------- provenance, for the rules

PROVENANCE = (
    AGGREGATION
    + cluster_role("parent", "  - {apiGroups: [''], resources: [nodes], verbs: [get]}")  # a later duplicate
    + crb("to-parent", "parent", "  - {kind: ServiceAccount, name: ci, namespace: shop}\n  - {kind: Group, name: devs}")
    + crb("to-child-b", "child-b", "  - {kind: Group, name: system:serviceaccounts}")
    + rb(
        "to-grandchild", "shop", "ClusterRole", "grandchild", "  - {kind: User, name: 'system:serviceaccount:shop:ci'}"
    )
    + rb("to-grandchild", "shop", "ClusterRole", "grandchild", "  - {kind: ServiceAccount, name: ci}")  # duplicate
    + rb("bad-ref", "shop", "Widget", "x", "  - {kind: ServiceAccount, name: ci}")
)


def test_effective_rules_keep_the_role_and_position_that_write_them() -> None:
    idx = index_of(PROVENANCE)
    parent = idx.roles[RoleRef("ClusterRole", "parent")]
    assert parent.aggregated and parent.aggregated_from == ("child-a", "child-b")
    assert [(e.source.name, e.index) for e in parent.sources] == [("child-a", 0), ("grandchild", 0)]
    assert parent.rules == tuple(e.rule for e in parent.sources)
    assert [(e.source.name, e.index, e.rule.verbs) for e in parent.written] == [("parent", 0, ("delete",))]
    pods = idx.roles[RoleRef("ClusterRole", "child-a")]
    assert not pods.aggregated and pods.sources == pods.written


def test_role_lookups_for_objects() -> None:
    idx = index_of(PROVENANCE)
    objs = {(o.kind, o.name, i): o for i, o in enumerate(idx.inventory.objects)}
    parents = [
        o for (k, n, _), o in sorted(objs.items(), key=lambda kv: kv[0][2]) if (k, n) == ("ClusterRole", "parent")
    ]
    first, later = parents
    assert idx.role_of(first) is idx.roles[RoleRef("ClusterRole", "parent")]
    assert idx.role_of(later) is None  # the first definition counts
    assert [e.rule.resources for e in written_rules(later)] == [("nodes",)]
    bad = next(o for o in idx.inventory.objects if o.name == "bad-ref")
    assert idx.role_for(bad) == (None, None)
    to_parent = next(o for o in idx.inventory.objects if o.name == "to-parent")
    assert idx.role_for(to_parent) == (RoleRef("ClusterRole", "parent"), idx.roles[RoleRef("ClusterRole", "parent")])


def test_aggregators_and_the_bindings_granting_a_role() -> None:
    idx = index_of(PROVENANCE)
    # depth first, in name order: child-b and everything select grandchild, parent selects child-b
    assert idx.aggregators_of(RoleRef("ClusterRole", "grandchild")) == [
        RoleRef("ClusterRole", "child-b"),
        RoleRef("ClusterRole", "everything"),
        RoleRef("ClusterRole", "parent"),
    ]
    assert idx.aggregators_of(RoleRef("Role", "grandchild", "shop")) == []
    granting = [str(b.ref) for b in idx.bindings_granting(RoleRef("ClusterRole", "grandchild"))]
    # its own bindings (the duplicate definition too), then those of child-b, everything (none), parent
    assert granting == [
        "RoleBinding/shop/to-grandchild",
        "RoleBinding/shop/to-grandchild",
        "ClusterRoleBinding/to-child-b",
        "ClusterRoleBinding/to-parent",
    ]


def test_subject_bindings_list_every_entry_that_applies() -> None:
    idx = index_of(PROVENANCE)
    ci = Subject("ServiceAccount", "ci", "shop")
    got = [(str(b.ref), i, b.duplicate) for b, i in idx.subject_bindings(ci)]
    # in input order (RoleBindings, then ClusterRoleBindings) within each part; the second definition of
    # RoleBinding/shop/to-grandchild is not listed: a binding defined twice counts once (issue 12, item 3)
    assert got == [
        ("ClusterRoleBinding/to-parent", 0, False),  # ServiceAccount entries first
        ("RoleBinding/shop/to-grandchild", 0, False),  # then User entries with its user name
        ("ClusterRoleBinding/to-child-b", 0, False),  # then its groups
    ]
    assert [str(b.ref) for b, _ in idx.subject_bindings(ci, implicit_groups=False)] == [
        "ClusterRoleBinding/to-parent",
        "RoleBinding/shop/to-grandchild",
    ]
    assert [(str(b.ref), i) for b, i in idx.subject_bindings(Subject("Group", "devs"))] == [
        ("ClusterRoleBinding/to-parent", 1)
    ]
    # the authorizer's view merges: the duplicate definition is not a second binding
    assert [str(b.ref) for b, _ in idx.bindings_of(ci)] == [
        "RoleBinding/shop/to-grandchild",
        "ClusterRoleBinding/to-parent",
        "ClusterRoleBinding/to-child-b",
    ]
    assert [str(b.ref) for b in idx.bindings] == [
        "RoleBinding/shop/to-grandchild",
        "ClusterRoleBinding/to-parent",
        "ClusterRoleBinding/to-child-b",
    ]
    assert len(idx.binding_objects) == 4


def test_duplicate_definitions_are_reported() -> None:
    text = cluster_role("r", "  - {apiGroups: [''], resources: [pods], verbs: [get]}") * 2 + crb("b", "r", USER_ANN) * 2
    idx = index_of(text)
    assert [str(p) for p in idx.problems] == [
        "ClusterRole/r: defined more than once; the first definition is used",
        "ClusterRoleBinding/b: defined more than once; the first definition is used",
    ]
    assert len(idx.who_can("get", "pods", "x")) == 1


# --------------------------------------------------------------------------- escalation


@pytest.mark.parametrize(
    "subject,steps,first",
    [
        ("Group:platform-admins", 1, "is bound to ClusterRole cluster-admin"),
        ("ServiceAccount:shop:payments-operator", 1, "is bound to ClusterRole cluster-admin"),
        ("User:erin", 1, "impersonate any group: Group system:masters"),
        ("User:hank", 1, "update ClusterRole/role-editor, which you hold cluster-wide"),
        ("Group:auditors", 2, "read Secrets in every namespace: Secret kube-system/legacy-admin-token holds a token"),
        (
            "ServiceAccount:shop:ci",
            2,
            "create a Deployment in namespace shop: its pods run as ServiceAccount shop:payments-operator",
        ),
        ("Group:shop-devs", 2, "create a Deployment in namespace shop"),
        ("User:dave", 2, "exec into pods in namespace shop: Deployment shop/payments-operator runs as ServiceAccount"),
        ("User:ivan", 2, "get nodes/proxy"),
        ("User:judy", 2, "register a mutating admission webhook"),
        ("User:kim", 2, "request a token for ServiceAccount shop:payments-operator"),
        ("User:liam", 2, "create a kubernetes.io/service-account-token Secret named minted-token in namespace shop"),
        (
            "User:frank",
            2,
            "create, approve and read a CertificateSigningRequest for signer kubernetes.io/kube-apiserver-client",
        ),
        ("User:gina", 3, "create a RoleBinding in namespace shop granting yourself ClusterRole/cluster-admin"),
    ],
)
def test_escalation_paths(shop: RbacIndex, subject: str, steps: int, first: str) -> None:
    paths = {str(p.source): p for p in escalation_paths(shop)}
    p = paths[subject]
    assert len(p.steps) == steps
    assert p.steps[0].action.startswith(first) or first in p.steps[0].action, p.steps[0].action
    assert p.steps[-1].to == "cluster-admin" and p.target == "cluster-admin"
    assert all(s.via for s in p.steps)
    single = escalation_paths(shop, from_subject=subject)
    assert len(single) == 1 and len(single[0].steps) == steps


def test_escalation_paths_are_sorted_and_exclude_the_powerless(shop: RbacIndex) -> None:
    paths = escalation_paths(shop)
    assert [len(p.steps) for p in paths] == sorted(len(p.steps) for p in paths)
    sources = {str(p.source) for p in paths}
    # storefront's token is not mounted (automount off), mia only views, alice reads nodes
    for s in (
        "ServiceAccount:shop:storefront",
        "User:mia",
        "User:alice",
        "User:bob",
        "User:carol",
        "ServiceAccount:monitoring:prometheus",
        "Group:system:authenticated",
    ):
        assert s not in sources
    assert escalation_paths(shop, from_subject="User:mia") == []


def test_escalation_to_a_subject(shop: RbacIndex) -> None:
    paths = escalation_paths(shop, to="ServiceAccount:shop:payments-operator", from_subject="User:dave")
    assert len(paths) == 1 and paths[0].target == "ServiceAccount:shop:payments-operator"
    assert [s.to for s in paths[0].steps] == ["ServiceAccount:shop:payments-operator"]
    everyone = {str(p.source) for p in escalation_paths(shop, to="User:bob")}
    assert "User:erin" in everyone and "Group:platform-admins" in everyone and "User:bob" not in everyone
    with pytest.raises(UsageError):
        escalation_paths(shop, to="admin-please")


ESCALATION_CASES = [
    # (description, manifests, subject, reachable)
    (
        "bind + create rolebindings needs both",
        cluster_role("binder", "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}")
        + rb("b", "x", "ClusterRole", "binder", USER_ANN),
        "User:ann",
        False,
    ),
    (
        "escalate without update does nothing",
        cluster_role(
            "esc", "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [escalate]}"
        )
        + crb("b", "esc", USER_ANN),
        "User:ann",
        False,
    ),
    (
        "group impersonation needs user impersonation",
        cluster_role("grp", "  - {apiGroups: [''], resources: [groups], verbs: [impersonate]}")
        + crb("b", "grp", USER_ANN),
        "User:ann",
        False,
    ),
    (
        "named group impersonation of system:masters",
        cluster_role(
            "grp",
            "  - {apiGroups: [''], resources: [groups], resourceNames: ['system:masters'], verbs: [impersonate]}\n"
            "  - {apiGroups: [''], resources: [users], resourceNames: [nobody], verbs: [impersonate]}",
        )
        + crb("b", "grp", USER_ANN),
        "User:ann",
        True,
    ),
    (
        "create clusterrolebindings + bind cluster-admin",
        cluster_role(
            "crb",
            "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings], verbs: [create]}\n"
            "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind], resourceNames: [cluster-admin]}",
        )
        + crb("b", "crb", USER_ANN),
        "User:ann",
        True,
    ),
    (
        "patch an existing ClusterRoleBinding to cluster-admin with bind",
        cluster_role(
            "p",
            "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings], verbs: [patch], resourceNames: [admins]}\n"
            "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [bind]}",
        )
        + crb("b", "p", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: Group, name: ops}"),
        "User:ann",
        True,
    ),
    (
        "patch bindings without bind: the API server's escalation check stops it",
        cluster_role(
            "p", "  - {apiGroups: [rbac.authorization.k8s.io], resources: [clusterrolebindings], verbs: [patch]}"
        )
        + crb("b", "p", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: Group, name: ops}"),
        "User:ann",
        False,
    ),
    (
        "exec into a pod that does not mount its token",
        cluster_role("x", "  - {apiGroups: [''], resources: [pods/exec], verbs: [create]}")
        + rb("b", "app", "ClusterRole", "x", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}")
        + "apiVersion: v1\nkind: Pod\nmetadata: {name: op, namespace: app}\nspec:\n  serviceAccountName: op\n"
        "  automountServiceAccountToken: false\n  containers: [{name: c, image: op:1}]\n---\n",
        "User:ann",
        False,
    ),
    (
        "exec into a pod that mounts its token",
        cluster_role("x", "  - {apiGroups: [''], resources: [pods/exec], verbs: [get]}")
        + rb("b", "app", "ClusterRole", "x", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}")
        + "apiVersion: v1\nkind: Pod\nmetadata: {name: op, namespace: app}\nspec:\n  serviceAccountName: op\n"
        "  containers: [{name: c, image: op:1}]\n---\n",
        "User:ann",
        True,
    ),
    (
        "exec restricted to other pod names",
        cluster_role("x", "  - {apiGroups: [''], resources: [pods/exec], verbs: [create], resourceNames: [web]}")
        + rb("b", "app", "ClusterRole", "x", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}")
        + "apiVersion: v1\nkind: Pod\nmetadata: {name: op, namespace: app}\nspec:\n  serviceAccountName: op\n"
        "  containers: [{name: c, image: op:1}]\n---\n",
        "User:ann",
        False,
    ),
    (
        "pods in another namespace than the powerful service account",
        cluster_role("x", "  - {apiGroups: [''], resources: [pods], verbs: [create]}")
        + rb("b", "other", "ClusterRole", "x", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}"),
        "User:ann",
        False,
    ),
    (
        "create pods through a ClusterRoleBinding reaches every namespace",
        cluster_role("x", "  - {apiGroups: [''], resources: [pods], verbs: [create]}")
        + crb("b", "x", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}"),
        "User:ann",
        True,
    ),
    (
        "escalate + update a Role you hold gives its namespace",
        f"{HEAD}kind: Role\nmetadata: {{name: mine, namespace: app}}\nrules:\n"
        "  - {apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [escalate, update], resourceNames: [mine]}\n---\n"
        + rb("b", "app", "Role", "mine", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}"),
        "User:ann",
        True,
    ),
    (
        "validating webhooks see token Secrets as they are written",
        cluster_role(
            "w",
            "  - {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], verbs: [create]}",
        )
        + crb("b", "w", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}")
        + "apiVersion: v1\nkind: Secret\nmetadata:\n  name: op-token\n  namespace: app\n"
        "  annotations: {kubernetes.io/service-account.name: op}\ntype: kubernetes.io/service-account-token\n---\n",
        "User:ann",
        True,
    ),
    (
        "CSR approval for a kubelet signer only",
        cluster_role(
            "c",
            "  - {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [create, get]}\n"
            "  - {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}\n"
            "  - {apiGroups: [certificates.k8s.io], resources: [signers], verbs: [approve], "
            "resourceNames: [kubernetes.io/kube-apiserver-client-kubelet]}",
        )
        + crb("b", "c", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: User, name: root}"),
        "User:ann",
        False,
    ),
    (
        "CSR approval with a signer-domain wildcard",
        cluster_role(
            "c",
            "  - {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [create, get]}\n"
            "  - {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [patch]}\n"
            "  - {apiGroups: [certificates.k8s.io], resources: [signers], verbs: [approve], resourceNames: ['kubernetes.io/*']}",
        )
        + crb("b", "c", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: User, name: root}"),
        "User:ann",
        True,
    ),
    (
        "list secrets of a namespace without token Secrets",
        cluster_role("s", "  - {apiGroups: [''], resources: [secrets], verbs: [list]}")
        + rb("b", "app", "ClusterRole", "s", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}"),
        "User:ann",
        False,
    ),
    (
        "create secrets, but the only readable name is taken",
        f"{HEAD}kind: Role\nmetadata: {{name: s, namespace: app}}\nrules:\n"
        "  - {apiGroups: [''], resources: [secrets], verbs: [create]}\n"
        "  - {apiGroups: [''], resources: [secrets], verbs: [get], resourceNames: [db]}\n---\n"
        + rb("b", "app", "Role", "s", USER_ANN)
        + crb("admins", "cluster-admin", "  - {kind: ServiceAccount, name: op, namespace: app}")
        + "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: app}\n---\n",
        "User:ann",
        False,
    ),
]


@pytest.mark.parametrize("case", ESCALATION_CASES, ids=[c[0] for c in ESCALATION_CASES])
def test_escalation_cases(case: tuple[str, str, str, bool]) -> None:
    _, text, subject, reachable = case
    idx = index_of(text)
    assert bool(escalation_paths(idx, from_subject=subject)) is reachable
    assert (subject in {str(p.source) for p in escalation_paths(idx)}) is reachable


def test_path_json_shape(shop: RbacIndex) -> None:
    d = escalation_paths(shop, from_subject="User:gina")[0].to_dict()
    assert d["from"] == "User:gina" and d["to"] == "cluster-admin"
    assert [s["to"] for s in d["steps"]] == [
        "full control in namespace shop",
        "ServiceAccount:shop:payments-operator",
        "cluster-admin",
    ]
    assert set(d["steps"][0]) == {"action", "via", "to"}


def test_subject_and_refs_render() -> None:
    assert str(BindingRef("ClusterRoleBinding", "x")) == "ClusterRoleBinding/x"
    assert str(BindingRef("RoleBinding", "x", "ns")) == "RoleBinding/ns/x"
    assert str(RoleRef("Role", "r", "ns")) == "Role/r" and RoleRef("Role", "r", "ns").qualified == "Role/ns/r"
    assert str(Subject.parse("ServiceAccount:a:b")) == "ServiceAccount:a:b"
