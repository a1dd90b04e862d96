"""Privilege escalation: how a subject can gain the power of another subject, or of cluster-admin.

The graph's nodes are identities (User, Group, ServiceAccount), the target ``cluster-admin``, and a
few intermediate nodes ("a role bound to you in namespace X", "any service account of namespace X").
An edge is one action the RBAC rules of its source allow, explained with the bindings that grant
it. Edges (each needs every permission named; "in X" means in namespace X, or everywhere through a
ClusterRoleBinding):

==========================================  =================================================================
permissions                                 gives
==========================================  =================================================================
``*`` on ``*`` in every group, cluster-wide  cluster-admin (as does a ClusterRoleBinding to ``cluster-admin``,
                                            and membership of ``system:masters``)
create pods in X                            every ServiceAccount of X (a pod may name any SA of its
                                            namespace and mount its token)
create/update/patch deployments,            every ServiceAccount of X (the pod template names the SA)
daemonsets, statefulsets, replicasets,
jobs, cronjobs, replicationcontrollers
create/get pods/exec, pods/attach;          the ServiceAccounts of the pods running in X (the workloads of
update/patch pods/ephemeralcontainers, pods the input), when their token is mounted
get (every name)/list/watch secrets in X    the ServiceAccounts whose legacy token Secrets the input has
create + any read of secrets in X           every ServiceAccount of X (a service-account-token Secret the
                                            token controller fills in)
create serviceaccounts/token in X           those ServiceAccounts (resourceNames) or all of X
impersonate serviceaccounts / users /       those identities; groups need user impersonation too, and group
groups                                      ``system:masters`` is cluster-admin
bind + create (or update/patch) bindings    the bound role, for yourself, in X or cluster-wide
escalate + update/patch a role you hold     full control where you hold it (add ``*`` rules to it)
get/create nodes/proxy                      every ServiceAccount whose pods (in the input) mount a token, via
                                            the kubelet API
create CSRs + update .../approval +         any user or group except ``system:masters`` (CertificateSubject-
approve signer kube-apiserver-client + get  Restriction admission), via a client certificate
create/update/patch mutatingwebhook-        the ServiceAccounts of every workload (the webhook rewrites pods)
configurations
create/update/patch validatingwebhook-      the ServiceAccounts whose token Secrets the input has (the webhook
configurations                              receives Secrets as they are written)
==========================================  =================================================================

The search is a breadth-first search over this graph built once (plain Python, no graph library):
a reverse BFS from the target gives every subject's shortest path in one pass. "Fan-out" nodes
(any ServiceAccount of X, any user...) add no length: their edge is merged into the step before.
Combinations of permissions held *after* a step are not mixed with those held before it (e.g. a
role you bind to yourself is judged alone); the result can miss such combined paths, never invent one.

Use :func:`escalation_paths` (or :class:`EscalationGraph` to ask several questions of one index): the
graph builds on an :class:`~.index.RbacIndex`, which knows nothing of it.

Speed: each role is reduced once to the escalation "atoms" it grants (:data:`ATOMS`, e.g. create
pods, get secrets with these names), so a node's checks are dict lookups over the union of its
bindings; a node with cluster-admin power only gets the target edge and "impersonate anyone"
(every other step is dominated); gaining a role that opens no step adds no node.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ...errors import UsageError
from ...model.kinds import WORKLOAD_KINDS
from ...model.objects import K8sObject
from ...model.workloads import pod_spec
from .index import CLUSTER_ADMIN, MASTERS, RBAC_GROUP, Binding, RbacIndex, RoleRef, as_subject
from .index import READS as INDEX_READS
from .policy import PolicyRule
from .subjects import Subject

TARGET = ("T",)
#: groups every ServiceAccount or every user is in: their bindings' steps are computed once for all members
_SHARED_GROUPS = frozenset({"system:authenticated", "system:serviceaccounts"})
#: the node of the steps shared by the members of such groups (``("G", groups)``)
SHARED = "G"
ANY_NS = "\x00every-namespace"  # scope of a role bound with RoleBindings in every namespace
_FULL = (PolicyRule(("*",), ("*",), ("*",), (), ()),)
_CLUSTER_ADMIN_REF = RoleRef("ClusterRole", CLUSTER_ADMIN)

#: (API group, resource, kind) of the pod controllers whose pod template names a ServiceAccount.
WORKLOAD_RESOURCES = (
    ("apps", "deployments", "Deployment"),
    ("apps", "daemonsets", "DaemonSet"),
    ("apps", "statefulsets", "StatefulSet"),
    ("apps", "replicasets", "ReplicaSet"),
    ("batch", "jobs", "Job"),
    ("batch", "cronjobs", "CronJob"),
    ("", "replicationcontrollers", "ReplicationController"),
)
_CSR_SIGNER = "kubernetes.io/kube-apiserver-client"
_CERTS = "certificates.k8s.io"
_ADMREG = "admissionregistration.k8s.io"

Atom = tuple[str, str, str, "str | None"]  # (verb, API group, resource, subresource)
#: Every (verb, group, resource, subresource) an escalation step asks about. Each role is reduced
#: once to what it grants of these (every name, or some names), so that checks are dict lookups.
ATOMS: tuple[Atom, ...] = (
    ("create", "", "pods", None),
    ("patch", "", "pods", None),
    ("update", "", "pods", None),
    *((v, g, r, None) for g, r, _ in WORKLOAD_RESOURCES for v in ("create", "patch", "update")),
    ("create", "", "pods", "exec"),
    ("get", "", "pods", "exec"),
    ("create", "", "pods", "attach"),
    ("get", "", "pods", "attach"),
    ("patch", "", "pods", "ephemeralcontainers"),
    ("update", "", "pods", "ephemeralcontainers"),
    ("get", "", "secrets", None),
    ("list", "", "secrets", None),
    ("watch", "", "secrets", None),
    ("create", "", "secrets", None),
    ("create", "", "serviceaccounts", "token"),
    ("impersonate", "", "serviceaccounts", None),
    ("impersonate", "", "users", None),
    ("impersonate", "", "groups", None),
    *((v, RBAC_GROUP, r, None) for r in ("roles", "clusterroles") for v in ("bind", "escalate", "patch", "update")),
    *((v, RBAC_GROUP, r, None) for r in ("rolebindings", "clusterrolebindings") for v in ("create", "patch", "update")),
    ("get", "", "nodes", "proxy"),
    ("create", "", "nodes", "proxy"),
    *((v, _CERTS, "certificatesigningrequests", None) for v in ("create", "get", "list", "watch")),
    ("update", _CERTS, "certificatesigningrequests", "approval"),
    ("patch", _CERTS, "certificatesigningrequests", "approval"),
    ("approve", _CERTS, "signers", None),
    *(
        (v, _ADMREG, r, None)
        for r in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations")
        for v in ("create", "patch", "update")
    ),
)
_ATOMS_BY_RESOURCE: dict[str, list[Atom]] = defaultdict(list)
for _a in ATOMS:
    _ATOMS_BY_RESOURCE[f"{_a[2]}/{_a[3]}" if _a[3] else _a[2]].append(_a)
    if _a[3]:
        _ATOMS_BY_RESOURCE[f"*/{_a[3]}"].append(_a)
_ATOMS_BY_RESOURCE["*"] = list(ATOMS)
_ATOM_SET = frozenset(ATOMS)
_RUN_ATOMS = frozenset(a for a in ATOMS if a[2] == "pods" or a[2] in {r for _, r, _ in WORKLOAD_RESOURCES})
_SECRET_ATOMS = frozenset(a for a in ATOMS if a[2] == "secrets")
_SA_ATOMS = frozenset(a for a in ATOMS if a[2] == "serviceaccounts")
_RBAC_NS_ATOMS = frozenset(a for a in ATOMS if a[1] == RBAC_GROUP and a[2] in ("roles", "rolebindings", "clusterroles"))
_CLUSTER_ATOMS = frozenset(
    a
    for a in ATOMS
    if a[2]
    in (
        "clusterroles",
        "clusterrolebindings",
        "users",
        "groups",
        "nodes",
        "certificatesigningrequests",
        "signers",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    )
)


@dataclass(frozen=True, slots=True)
class RoleAtoms:
    """What a role grants of the escalation atoms: atom -> (every name, the names otherwise)."""

    atoms: Mapping[Atom, tuple[bool, frozenset[str]]]
    admin: bool  # a rule with * verbs on * resources of * groups, for every name

    @classmethod
    def of(cls, rules: Iterable[PolicyRule]) -> RoleAtoms:
        every: dict[Atom, bool] = {}
        names: dict[Atom, set[str]] = defaultdict(set)
        admin = False
        for rule in rules:
            if "*" in rule.verbs and "*" in rule.api_groups and "*" in rule.resources and not rule.resource_names:
                admin = True
            for res in rule.resources:
                for atom in _ATOMS_BY_RESOURCE.get(res, ()):
                    verb, group, resource, sub = atom
                    if (
                        every.get(atom)
                        or not rule.verb_matches(verb)
                        or not rule.group_matches(group)
                        or not rule.resource_matches(resource, sub)
                    ):
                        continue
                    if rule.resource_names:
                        names[atom].update(rule.resource_names)
                    else:
                        every[atom] = True
        atoms: dict[Atom, tuple[bool, frozenset[str]]] = {a: (True, frozenset()) for a in every}
        for a, ns in names.items():
            if a not in atoms:
                atoms[a] = (False, frozenset(ns))
        return cls(atoms, admin)


Node = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """One action: what to do, the bindings that allow it, and what it gives (``to``)."""

    action: str
    via: str
    to: str


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """A shortest way for ``source`` to become ``target`` (``cluster-admin`` or a subject)."""

    source: Subject
    target: str
    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": str(self.source),
            "to": self.target,
            "steps": [{"action": s.action, "via": s.via, "to": s.to} for s in self.steps],
        }


#: The RBAC rules that name each escalation step, by how the step's action starts (first match wins):
#: the attack graph ties each RBAC edge to them. A test checks that every step the graph makes has some.
STEP_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("create a pod in", ("KF-RBAC-010",)),
    ("create a RoleBinding", ("KF-RBAC-012", "KF-RBAC-014")),
    ("create a ClusterRoleBinding", ("KF-RBAC-012", "KF-RBAC-014")),
    ("create a kubernetes.io/service-account-token Secret", ("KF-RBAC-007", "KF-RBAC-036")),
    ("create, approve and read a CertificateSigningRequest", ("KF-RBAC-016",)),
    ("create a ", ("KF-RBAC-010",)),  # a pod controller
    ("exec into", ("KF-RBAC-008",)),
    ("attach to", ("KF-RBAC-008",)),
    ("add an ephemeral container", ("KF-RBAC-010",)),
    ("replace the image", ("KF-RBAC-010",)),
    ("read Secrets", ("KF-RBAC-007",)),
    ("read Secret ", ("KF-RBAC-007", "KF-RBAC-036")),
    ("request", ("KF-RBAC-017",)),
    ("impersonate", ("KF-RBAC-013",)),
    ("register a", ("KF-RBAC-018",)),
    ("get nodes/proxy", ("KF-RBAC-015",)),
    ("create nodes/proxy", ("KF-RBAC-015",)),
)


def step_rules(action: str) -> tuple[str, ...]:
    """The rule IDs of one escalation step, from its action (:data:`STEP_RULES`); the steps that patch
    or update a binding (KF-RBAC-014) or a role you hold (KF-RBAC-011) are told by what they change."""
    for prefix, rules in STEP_RULES:
        if action.startswith(prefix):
            return rules
    if action.startswith(("patch ", "update ")):
        if "adding a rule for every verb" in action:
            return ("KF-RBAC-011",)
        if "to add yourself as a subject" in action:
            return ("KF-RBAC-012", "KF-RBAC-014")
        if "the pod template" in action:
            return ("KF-RBAC-010",)
    return ()


class _Edge(NamedTuple):
    dst: Node
    weight: int  # 0 for the second half of a fan-out (merged into the previous step)
    action: str
    via: str


class _Perms:
    """What a node may do, by scope: cluster-wide, in every namespace, or per namespace."""

    __slots__ = ("admin", "any_ns", "by_ns", "cluster", "granted", "held")

    def __init__(self) -> None:
        self.granted: set[Atom] = set()  # the atoms granted in any scope: most lookups ask for others
        self.cluster: dict[Atom, list[Any]] = {}  # atom -> [every, names, via]
        self.any_ns: dict[Atom, list[Any]] = {}
        self.by_ns: dict[str, dict[Atom, list[Any]]] = defaultdict(dict)
        self.held: list[tuple[RoleRef, str | None, str]] = []  # every role held: (role, scope, via)
        self.admin: str | None = None  # via of cluster-wide * on * in every group

    def add(self, role: RoleAtoms, scope: str | None, via: str) -> None:
        if role.admin and scope is None and self.admin is None:
            self.admin = via
        if not role.atoms:
            return
        target = self.cluster if scope is None else self.any_ns if scope == ANY_NS else self.by_ns[scope]
        self.granted.update(role.atoms)
        for atom, (every, names) in role.atoms.items():
            cur = target.get(atom)
            if cur is None:
                target[atom] = [every, set(names), via]
            elif every and not cur[0]:
                cur[0], cur[2] = True, via
            elif not every:
                cur[1].update(names)

    def empty(self) -> bool:
        return not (self.cluster or self.any_ns or self.by_ns or self.admin)

    def union(self, other: _Perms, namespaces: Iterable[str] | None = None) -> _Perms:
        """These permissions and ``other``'s: all of them, or (``namespaces``) ``other``'s cluster-wide ones
        and those in ``namespaces`` only, with the roles held there."""
        out = _Perms()
        out.admin = self.admin or other.admin
        keep = None if namespaces is None else set(namespaces)
        for src in (self, other):
            _merge_atoms(out.cluster, src.cluster)
            _merge_atoms(out.any_ns, src.any_ns)
            for ns, atoms in src.by_ns.items():
                if src is self or keep is None or ns in keep:
                    _merge_atoms(out.by_ns[ns], atoms)
            out.held.extend(h for h in src.held if src is self or keep is None or h[1] is None or h[1] in keep)
            out.granted |= src.granted
        return out

    def names(
        self,
        verb: str,
        group: str,
        resource: str,
        sub: str | None = None,
        *,
        ns: str | None = None,
        cluster_scoped: bool = False,
    ) -> tuple[bool, set[str], str | None]:
        """(every name allowed, the names allowed otherwise, a via). ``ns=None``: in every namespace."""
        atom = (verb, group, resource, sub)
        if atom not in self.granted:
            assert atom in _ATOM_SET, atom
            return False, set(), None
        scopes = (
            (self.cluster,)
            if cluster_scoped
            else (self.cluster, self.any_ns, self.by_ns[ns])
            if ns is not None and ns in self.by_ns
            else (self.cluster, self.any_ns)
        )
        names: set[str] = set()
        first: str | None = None
        for d in scopes:
            cur = d.get(atom)
            if cur is None:
                continue
            if cur[0]:
                return True, names, cur[2]
            names |= cur[1]
            first = first or cur[2]
        return False, names, first

    def find(
        self,
        verb: str,
        group: str,
        resource: str,
        sub: str | None = None,
        *,
        ns: str | None = None,
        cluster_scoped: bool = False,
    ) -> str | None:
        """Via of a grant for requests that name no object (create, list...), or None."""
        every, _, via = self.names(verb, group, resource, sub, ns=ns, cluster_scoped=cluster_scoped)
        return via if every else None

    def admin_via(self) -> str | None:
        return self.admin


def _merge_atoms(dst: dict[Atom, list[Any]], src: Mapping[Atom, list[Any]]) -> None:
    """Add the grants of ``src`` to ``dst`` as :meth:`_Perms.add` does (the first via of a grant stays)."""
    for atom, (every, names, via) in src.items():
        cur = dst.get(atom)
        if cur is None:
            dst[atom] = [every, set(names), via]
        elif every and not cur[0]:
            cur[0], cur[2] = True, via
        elif not every:
            cur[1].update(names)


def _join(*vias: str | None) -> str:
    return "; ".join(dict.fromkeys(v for v in vias if v))


def _where(ns: str | None) -> str:
    return f"namespace {ns}" if ns else "every namespace"


def escalation_paths(
    index: RbacIndex, to: str | Subject = CLUSTER_ADMIN, from_subject: Subject | str | None = None
) -> list[EscalationPath]:
    """Shortest ways for subjects to become ``to`` (``cluster-admin`` or a SUBJECT), shortest first; one
    path per starting subject (only ``from_subject`` when given)."""
    return EscalationGraph(index).paths(to, from_subject)


#: every kind the graph reads besides the RBAC index's: who runs as which ServiceAccount (the
#: workloads), the ServiceAccounts, and the Secrets that hold their tokens (their metadata and type)
READS = INDEX_READS | WORKLOAD_KINDS | {"ServiceAccount", "Secret"}


class EscalationGraph:
    """Escalation edges of an :class:`RbacIndex`, computed once per node on demand.

    In a live inventory the pods a workload made (through its ReplicaSets, or a CronJob's Jobs) are
    represented by the workload, with their count, as a scan judges them (``Inventory.controller``).
    """

    def __init__(self, index: RbacIndex) -> None:
        self.index = index
        inv = index.inventory
        self._atoms: dict[RoleRef, RoleAtoms] = {}
        self._edges: dict[Node, list[_Edge]] = {}
        # identities and workloads of the input
        self.sas: dict[str, set[str]] = defaultdict(set)
        self.users: set[str] = set()
        self.groups: set[str] = set()
        for b in index.bindings:
            if not b.builtin:
                for s in b.subjects:
                    self._add_identity(s)
        for o in inv.of_kind("ServiceAccount"):
            if o.namespace:
                self.sas[o.namespace].add(o.name)
        self.workloads: dict[str, list[tuple[K8sObject, str]]] = defaultdict(list)  # ns -> (object, SA), token mounted
        self.workload_names: dict[tuple[str | None, str], set[str]] = defaultdict(set)  # (ns or None, kind) -> names
        self.pods_by_name: dict[str, list[tuple[K8sObject, str]]] = defaultdict(list)  # every Pod (exec by name)
        mounted: list[tuple[K8sObject, str]] = []
        for o in inv.objects:
            if o.namespace is None:
                continue
            view = pod_spec(o)
            if view is None:
                continue
            spec = view.spec
            sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
            if not isinstance(sa, str):
                continue
            self.sas[o.namespace].add(sa)
            self.workload_names[(o.namespace, o.kind)].add(o.name)
            self.workload_names[(None, o.kind)].add(o.name)
            if self._token_mounted(o, spec, sa):
                mounted.append((o, sa))
                if o.kind == "Pod":
                    self.pods_by_name[o.name].append((o, sa))
        # a live cluster's Pods, ReplicaSets and Jobs count once, on the workload that made them (which says
        # how many pods it has); those that run as another ServiceAccount than it (an older pod template)
        # once per ServiceAccount, on a ReplicaSet or Job rather than a Pod
        held: dict[tuple[int, str], tuple[K8sObject, str]] = {}
        pods: dict[tuple[int, str], int] = defaultdict(int)
        for o, sa in mounted:
            top = inv.controller(o)
            key = (id(o if top is None else top), sa)
            pods[key] += o.kind == "Pod"
            rank = 0 if top is None else 1 if o.kind != "Pod" else 2
            kept = held.get(key)
            if kept is None or rank < (0 if inv.controller(kept[0]) is None else 1 if kept[0].kind != "Pod" else 2):
                held[key] = (o, sa)
        # live: how many of the pods a workload stands for run as that ServiceAccount, for the messages
        self._pod_count: dict[tuple[int, str], int] = {}
        for key, (o, sa) in held.items():
            self.workloads[str(o.namespace)].append((o, sa))
            if inv.live and o.kind != "Pod" and pods[key]:
                self._pod_count[(id(o), sa)] = pods[key]
        self.token_secrets: dict[str, list[tuple[str, str]]] = defaultdict(list)  # ns -> (secret, SA)
        self.secret_names: dict[str, set[str]] = defaultdict(set)
        for o in inv.of_kind("Secret"):
            if o.namespace:
                self.secret_names[o.namespace].add(o.name)
            if o.namespace and o.raw.get("type") == "kubernetes.io/service-account-token":
                sa = o.annotations.get("kubernetes.io/service-account.name")
                if sa:
                    self.token_secrets[o.namespace].append((o.name, sa))
                    self.sas[o.namespace].add(sa)
        for ns in list(self.sas):
            self.sas[ns].add("default")
        # the identities only the default bindings of every cluster name (kube-system's controllers): steps
        # of paths, never listed as where a path starts (unless asked with --from)
        named = set(self._all_subject_nodes())
        for b in index.bindings:
            if b.builtin:
                for s in b.subjects:
                    self._add_identity(s)
        self._defaults_only = frozenset(n for n in self._all_subject_nodes() if n not in named)
        self._rbs_by_ns: dict[str, list[Binding]] = defaultdict(list)
        self._rb_by_key: dict[tuple[str, str], Binding] = {}
        for b in index.bindings:
            if b.ref.namespace is not None and b.role is not None:
                self._rbs_by_ns[b.ref.namespace].append(b)
                self._rb_by_key[(b.ref.namespace, b.ref.name)] = b
        self._crbs = [b for b in index.bindings if b.ref.namespace is None and b.role is not None]
        self._crb_by_name = {b.ref.name: b for b in self._crbs}
        self._roles_by_ns: dict[str, list[RoleRef]] = defaultdict(list)
        for ref in index.roles:
            if ref.namespace is not None:
                self._roles_by_ns[ref.namespace].append(ref)
        self._via: dict[int, str] = {}
        # per tuple of shared groups: what their bindings grant and their direct steps (cluster-admin bindings)
        self._shared: dict[tuple[str, ...], tuple[_Perms, list[_Edge]]] = {}
        self._spots: dict[tuple[str, ...], dict[str, set[str]]] = {}

    def incomplete(self) -> dict[str, str]:
        """The kinds of :data:`READS` that a cluster read could not list (kind -> why), sorted: the paths
        found exist, but some may be missing (steps through what could not be read)."""
        return {k: v for k, v in sorted(self.index.inventory.unreadable.items()) if k in READS}

    def _add_identity(self, s: Subject) -> None:
        if s.kind == "ServiceAccount" and s.namespace:
            self.sas[s.namespace].add(s.name)
        elif s.kind == "User":
            if s.name.startswith("system:serviceaccount:"):
                self._add_identity(Subject.parse(s.name))
            else:
                self.users.add(s.name)
        elif s.kind == "Group":
            self.groups.add(s.name)

    def _token_mounted(self, o: K8sObject, spec: Mapping[str, Any], sa: str) -> bool:
        vols = spec.get("volumes")
        for v in vols if isinstance(vols, list) else []:
            srcs = (
                v.get("projected", {}).get("sources")
                if isinstance(v, dict) and isinstance(v.get("projected"), dict)
                else None
            )
            if isinstance(srcs, list) and any(isinstance(x, dict) and "serviceAccountToken" in x for x in srcs):
                return True
        auto = spec.get("automountServiceAccountToken")
        if auto is None:
            sa_obj = self.index.inventory.get("ServiceAccount", o.namespace, sa)
            auto = sa_obj.raw.get("automountServiceAccountToken") if sa_obj is not None else None
        return auto is not False

    # ------------------------------------------------------------------ node labels

    @staticmethod
    def label(node: Node) -> str:
        kind = node[0]
        if kind == "T":
            return CLUSTER_ADMIN
        if kind == "S":
            return str(node[1])
        if kind == "grant":
            ref, scope = node[1], node[2]
            what = "full control" if ref == _CLUSTER_ADMIN_REF else ref.qualified
            where = (
                "cluster-wide"
                if scope is None
                else "in every namespace"
                if scope == ANY_NS
                else f"in namespace {scope}"
            )
            return f"{what} {where}"
        if kind == "anyrole":
            return "any Role of any namespace, bound to yourself"
        if kind == "heldesc":
            return f"the Roles you hold as a member of {' and '.join(node[1])}, rewritten"
        if kind == "rebind":
            return f"the {'Roles' if node[2] == 'roles' else 'ClusterRoles'} of the RoleBindings you {node[1]}"
        return "/".join(str(x) for x in node)

    # ------------------------------------------------------------------ edges

    def _role_atoms(self, ref: RoleRef) -> RoleAtoms:
        atoms = self._atoms.get(ref)
        if atoms is None:
            role = self.index.roles.get(ref)
            rules = role.rules if role else _FULL if ref == _CLUSTER_ADMIN_REF else ()
            atoms = self._atoms[ref] = RoleAtoms.of(rules)
        return atoms

    def edges(self, node: Node) -> list[_Edge]:
        out = self._edges.get(node)
        if out is None:
            out = self._edges[node] = self._compute(node)
        return out

    def _compute(self, node: Node) -> list[_Edge]:
        kind = node[0]
        if kind == "T":
            return []
        if kind == "S":
            return self._subject_edges(node[1])
        if kind == SHARED:
            return self._shared_edges(node[1])
        if kind == "grant":
            ref, scope = node[1], node[2]
            perms = _Perms()
            via = f"{ref.qualified} (bound to yourself)"
            perms.add(self._role_atoms(ref), scope, via)
            perms.held.append((ref, scope, via))
            return self._perm_edges(perms, "you")
        return list(self._fanout(node))

    def _subject_edges(self, s: Subject) -> list[_Edge]:
        """The steps open to ``s``: what the union of its bindings allows, scope by scope.

        Bindings to the groups every ServiceAccount or user is in (``system:authenticated``,
        ``system:serviceaccounts``) are everyone's: were their steps repeated on every subject, a binding
        of ``system:authenticated`` in each of N namespaces would give each of the cluster's M subjects
        N steps (N x M edges, quadratic in the cluster's size). Their steps are computed once, on a node
        of those groups that members enter at no cost (:meth:`_shared_edges`); the subject's own steps
        are computed cluster-wide and in the namespaces its own bindings reach, from the union of all it
        holds there, so that a step needing one permission from each side is still found. A subject whose
        own bindings reach every namespace (a ClusterRoleBinding) is judged on the whole union.
        """
        out: list[_Edge] = []
        if MASTERS in s.groups():
            out.append(
                _Edge(
                    TARGET,
                    1,
                    f"{s} is in group system:masters, which the API server allows everything",
                    "built-in privileged group",
                )
            )
        groups = () if s.kind == "Group" else tuple(sorted(g for g in s.groups() if g in _SHARED_GROUPS))
        own = self._binding_perms(self.index.bindings_of(s, skip_groups=groups), str(s), out)
        shared = self._shared_perms(groups)
        if shared.empty():
            if not own.empty():
                out.extend(self._perm_edges(own, str(s)))
            return out
        if own.admin:
            out.extend(self._perm_edges(own.union(shared, ()), str(s)))  # every other step is dominated
            return out
        if self.edges((SHARED, groups)):
            out.append(_Edge((SHARED, groups), 0, f"{s} is in {' and '.join(groups)}", ""))
        if own.empty():
            return out
        if own.cluster or own.any_ns:
            # judged cluster-wide on the whole union; in the namespaces of the groups' bindings only the
            # steps that need something from each side (the groups' own steps there are on their node)
            partial = self._combined(own, groups, out)
            p = own.union(shared, set(own.by_ns) | partial.keys())
            if p.cluster.keys() & _CLUSTER_ATOMS:
                p.held = [*own.held, *shared.held]  # cluster-wide RBAC writes judge every role held anywhere
            out.extend(self._perm_edges(p, str(s), {ns: h for ns, h in partial.items() if ns not in own.by_ns}))
            return out
        p = own.union(shared, own.by_ns)
        if p.cluster.keys() & _CLUSTER_ATOMS:
            p = own.union(shared)  # cluster-wide RBAC writes judge every role held anywhere
        done: set[str] = set()
        if p.cluster or p.any_ns:
            self._namespaced_edges(p, None, out, done, p.cluster.keys() | p.any_ns.keys())
        for ns in sorted(own.by_ns):
            self._namespaced_edges(p, ns, out, done, p.cluster.keys() | p.any_ns.keys() | p.by_ns[ns].keys())
        if p.cluster.keys() & _CLUSTER_ATOMS:
            self._cluster_edges(p, out)
        return out

    def _binding_perms(self, bindings: Iterable[tuple[Binding, Subject]], who: str, out: list[_Edge]) -> _Perms:
        """What ``bindings`` grant; a cluster-wide binding to cluster-admin is also a step to it."""
        perms = _Perms()
        for b, _bs in bindings:
            via = self._via.get(id(b))
            if via is None:
                default = ", a default of every cluster" if b.builtin else ""
                via = self._via[id(b)] = f"{b.ref} ({b.role_ref}{default})"
            if b.ref.namespace is None and b.role_ref == _CLUSTER_ADMIN_REF:
                out.append(_Edge(TARGET, 1, f"{who} is bound to ClusterRole cluster-admin", via))
            if b.role is None:
                continue
            perms.held.append((b.role_ref, b.ref.namespace, via))
            perms.add(self._role_atoms(b.role_ref), b.ref.namespace, via)
        return perms

    def _shared_perms(self, groups: tuple[str, ...]) -> _Perms:
        """What the bindings of ``groups`` (of :data:`_SHARED_GROUPS`) grant every member (computed once)."""
        hit = self._shared.get(groups)
        if hit is None:
            seen: dict[int, tuple[Binding, Subject]] = {}
            for g in groups:
                for b, bs in self.index.bindings_of(Subject("Group", g)):
                    seen.setdefault(id(b), (b, bs))
            steps: list[_Edge] = []
            hit = self._shared[groups] = (
                self._binding_perms(seen.values(), f"every member of {' and '.join(groups)}", steps),
                steps,
            )
        return hit[0]

    def _shared_edges(self, groups: tuple[str, ...]) -> list[_Edge]:
        """The steps the bindings of ``groups`` open to every member."""
        perms = self._shared_perms(groups)
        out = list(self._shared[groups][1])
        if not perms.empty():
            out.extend(self._perm_edges(perms, f"every member of {' and '.join(groups)}"))
        return out

    def _grant_node(self, ref: RoleRef, scope: str | None) -> Node:
        if scope is None and ref == _CLUSTER_ADMIN_REF:
            return TARGET
        return ("grant", ref, scope)

    def _combined(self, own: _Perms, groups: tuple[str, ...], steps: list[_Edge]) -> dict[str, frozenset[Atom]]:
        """The namespaces where ``own``'s cluster-wide and every-namespace grants may combine with what the
        bindings of ``groups`` grant there into a step neither side opens alone, with the atoms of the
        sections of steps where they may (ns -> atoms). Only steps that need two grants combine: minting a
        token Secret (create, and list or get), binding a role (create or rewrite a RoleBinding, and
        bind), rewriting a Role you hold (escalate and patch, and the Role held); every other step needs
        one grant, which one side holds alone. Steps that need no namespace pass go to ``steps``."""
        wide = own.cluster.keys() | own.any_ns.keys()
        spots = self._shared_spots(groups)
        out: dict[str, set[Atom]] = defaultdict(set)
        if not wide.isdisjoint(_SECRET_ATOMS):
            for ns in spots["secrets"]:
                out[ns] |= _SECRET_ATOMS
        if not wide.isdisjoint(_RBAC_NS_ATOMS):
            escalate = any(a[0] == "escalate" and a[2] == "roles" for a in wide)
            if escalate and self._escalate_held(own, groups, steps):
                escalate = False  # every Role the groups hold: one step to their node
            for ns in spots["rbac"] | (spots["held"] if escalate else set()):
                out[ns] |= _RBAC_NS_ATOMS
        return {ns: frozenset(a) for ns, a in out.items()}

    def _escalate_held(self, own: _Perms, groups: tuple[str, ...], steps: list[_Edge]) -> bool:
        """With escalate and patch (or update) on every Role in every namespace, rewriting any Role the
        bindings of ``groups`` hold is one step to the node of those Roles; False when ``own`` does not
        allow that for every Role."""
        esc_all, _, esc_via = own.names("escalate", RBAC_GROUP, "roles", ns=None)
        if not esc_all:
            return False
        for verb in ("patch", "update"):
            every, _, via = own.names(verb, RBAC_GROUP, "roles", ns=None)
            if every:
                if self.edges(("heldesc", groups)):
                    steps.append(
                        _Edge(
                            ("heldesc", groups),
                            1,
                            f"{verb} a Role you hold as a member of {' and '.join(groups)}, adding a rule for every "
                            "verb and resource",
                            _join(via, esc_via),
                        )
                    )
                return True
        return False

    def _shared_spots(self, groups: tuple[str, ...]) -> dict[str, set[str]]:
        """Where the bindings of ``groups`` grant something a combined step may use (computed once)."""
        hit = self._spots.get(groups)
        if hit is None:
            perms = self._shared_perms(groups)
            hit = self._spots[groups] = {
                "secrets": {ns for ns, a in perms.by_ns.items() if not _SECRET_ATOMS.isdisjoint(a)},
                "rbac": {ns for ns, a in perms.by_ns.items() if not _RBAC_NS_ATOMS.isdisjoint(a)},
                "held": {scope for ref, scope, _ in perms.held if ref.kind == "Role" and scope},
            }
        return hit

    def _perm_edges(self, p: _Perms, who: str, partial: Mapping[str, frozenset[Atom]] | None = None) -> list[_Edge]:
        """The steps ``p`` opens; in a namespace of ``partial`` only those of the sections of its atoms."""
        out: list[_Edge] = []
        via = p.admin_via()
        if via:
            verb = "hold" if who == "you" else "holds"
            out.append(
                _Edge(TARGET, 1, f"{who} {verb} every verb on every resource of every API group, cluster-wide", via)
            )
            # cluster-admin power: every other step is dominated by impersonating the identity wanted
            out.append(_Edge(("anyuser",), 1, "impersonate any user", via))
            out.append(_Edge(("anygroup",), 1, "impersonate any group", via))
            out.append(_Edge(("anysa", None, "impersonate"), 1, "impersonate service accounts in every namespace", via))
            return out
        done: set[str] = set()
        if p.cluster or p.any_ns:
            self._namespaced_edges(p, None, out, done, p.cluster.keys() | p.any_ns.keys())
        for ns in sorted(p.by_ns):
            held = p.cluster.keys() | p.any_ns.keys() | p.by_ns[ns].keys()
            if partial is not None and ns in partial:
                held &= partial[ns]
            self._namespaced_edges(p, ns, out, done, held)
        if p.cluster.keys() & _CLUSTER_ATOMS:
            self._cluster_edges(p, out)
        return out

    def _namespaced_edges(self, p: _Perms, ns: str | None, out: list[_Edge], done: set[str], held: set[Atom]) -> None:
        """Edges from permissions on namespaced resources in ``ns`` (None: in every namespace).

        ``held`` is the set of atoms granted in this scope: sections whose atoms are absent are skipped.
        """
        where = _where(ns)

        def add(cap: str, dst: Node, action: str, via: str | None) -> None:
            if via and cap not in done:
                out.append(_Edge(dst, 1, action, via))
                if ns is None:
                    done.add(cap)

        if not held.isdisjoint(_RUN_ATOMS):
            self._run_edges(p, ns, where, add, out, done)
        if not held.isdisjoint(_SECRET_ATOMS):
            self._secret_edges(p, ns, where, add, out, done)
        if not held.isdisjoint(_SA_ATOMS):
            self._sa_edges(p, ns, where, add, out, done)
        if not held.isdisjoint(_RBAC_NS_ATOMS):
            self._rbac_ns_edges(p, ns, where, add, out, done)

    def _run_edges(self, p: _Perms, ns: str | None, where: str, add: Any, out: list[_Edge], done: set[str]) -> None:
        # run pods as any service account of the namespace
        add("pods", ("anysa", ns, "pod"), f"create a pod in {where}", p.find("create", "", "pods", ns=ns))
        for group, res, kind in WORKLOAD_RESOURCES:
            add(
                f"create-{res}",
                ("anysa", ns, "workload"),
                f"create a {kind} in {where}",
                p.find("create", group, res, ns=ns),
            )
            for verb in ("patch", "update"):
                every, names, via = p.names(verb, group, res, ns=ns)
                if every or (names and not names.isdisjoint(self.workload_names.get((ns, kind), ()))):
                    add(
                        f"{verb}-{res}",
                        ("anysa", ns, "workload"),
                        f"{verb} the pod template of a {kind} in {where}",
                        via,
                    )
        # run commands in running pods
        for verbs, sub, action in (
            (("create", "get"), "exec", "exec into"),
            (("create", "get"), "attach", "attach to"),
            (("patch", "update"), "ephemeralcontainers", "add an ephemeral container to"),
            (("patch", "update"), None, "replace the image of"),
        ):
            for verb in verbs:
                every, names, via = p.names(verb, "", "pods", sub, ns=ns)
                if every:
                    add(f"pods-{sub}", ("pods", ns), f"{action} pods in {where}", via)
                elif names and f"pods-{sub}" not in done:
                    for name in sorted(names):
                        for o, sa in self.pods_by_name.get(name, ()):
                            if ns is None or o.namespace == ns:
                                out.append(
                                    _Edge(
                                        ("S", Subject("ServiceAccount", sa, o.namespace)),
                                        1,
                                        f"{action} Pod {o.namespace}/{name}, which runs as ServiceAccount "
                                        f"{o.namespace}:{sa} and mounts its token",
                                        via or "",
                                    )
                                )

    def _secret_edges(self, p: _Perms, ns: str | None, where: str, add: Any, out: list[_Edge], done: set[str]) -> None:
        every, names, get_via = p.names("get", "", "secrets", ns=ns)
        list_via = p.find("list", "", "secrets", ns=ns) or p.find("watch", "", "secrets", ns=ns)
        if every or list_via:
            add("read-secrets", ("secrets", ns), f"read Secrets in {where}", list_via or get_via)
        elif names and "read-secrets" not in done:
            for secret, sa, sns in self._token_secrets_in(ns):
                if secret in names:
                    out.append(
                        _Edge(
                            ("S", Subject("ServiceAccount", sa, sns)),
                            1,
                            f"read Secret {sns}/{secret}, a token of ServiceAccount {sns}:{sa}",
                            get_via or "",
                        )
                    )
        create_via = p.find("create", "", "secrets", ns=ns)
        # the new Secret must be readable: any name if list/watch/get-all, else a name not taken in the input
        free = names - self.secret_names.get(ns, set()) if ns else names
        if create_via and (every or free or list_via):
            named = "" if every or list_via else f" named {sorted(free)[0]}"
            add(
                "mint-secret",
                ("anysa", ns, "secret"),
                f"create a kubernetes.io/service-account-token Secret{named} in {where}",
                _join(create_via, list_via or get_via),
            )

    def _sa_edges(self, p: _Perms, ns: str | None, where: str, add: Any, out: list[_Edge], done: set[str]) -> None:
        # token requests and impersonation of service accounts
        for verb, res, sub, how, action, named in (
            (
                "create",
                "serviceaccounts",
                "token",
                "token",
                "request tokens (serviceaccounts/token)",
                "request a token for",
            ),
            ("impersonate", "serviceaccounts", None, "impersonate", "impersonate service accounts", "impersonate"),
        ):
            every, names, via = p.names(verb, "", res, sub, ns=ns)
            if every:
                add(f"sa-{how}", ("anysa", ns, how), f"{action} in {where}", via)
            elif names and f"sa-{how}" not in done:
                for sns in [ns] if ns else sorted(self.sas):
                    for name in sorted(names):
                        if ns or name in self.sas.get(sns, ()):
                            out.append(
                                _Edge(
                                    ("S", Subject("ServiceAccount", name, sns)),
                                    1,
                                    f"{named} ServiceAccount {sns}:{name}",
                                    via or "",
                                )
                            )

    def _rbac_ns_edges(self, p: _Perms, ns: str | None, where: str, add: Any, out: list[_Edge], done: set[str]) -> None:
        # bind roles to yourself with a RoleBinding
        create_rb = p.find("create", RBAC_GROUP, "rolebindings", ns=ns)
        scope = ns if ns is not None else ANY_NS
        full = False  # may bind cluster-admin in this scope: every other role gained here is dominated
        if create_rb:
            full = p.names("bind", RBAC_GROUP, "clusterroles", ns=ns)[0]
            for ref, via in self._bindable(p, ns, "clusterroles", None):
                add(
                    f"bind-{ref}",
                    self._grant_node(ref, scope),
                    f"create a RoleBinding in {where} granting yourself {ref}",
                    _join(create_rb, via),
                )
            if ns is None and not full:
                bind_all, _, bind_via = p.names("bind", RBAC_GROUP, "roles", ns=None)
                if bind_all and self.edges(("anyrole",)):
                    add(
                        "bind-any-role",
                        ("anyrole",),
                        "create a RoleBinding granting yourself a Role of its namespace, in any namespace",
                        _join(create_rb, bind_via),
                    )
            if ns is not None and not full and "bind-any-role" not in done:
                for ref, via in self._bindable(p, ns, "roles", ns):
                    add(
                        f"bind-{ref.qualified}",
                        self._grant_node(ref, scope),
                        f"create a RoleBinding in {where} granting yourself {ref.qualified}",
                        _join(create_rb, via),
                    )
        for verb in ("patch", "update"):
            every, names, via = p.names(verb, RBAC_GROUP, "rolebindings", ns=ns)
            if full or (not every and not names):
                continue
            # rewriting every RoleBinding of the cluster with bind on every role of a kind: one step to the
            # node of the roles those bindings reference (computed once, not once per such identity)
            fanned: set[str] = set()
            for res in ("roles", "clusterroles"):
                if f"{verb}-rebind-{res}" in done:
                    fanned.add(res)
                elif every and ns is None:
                    bind_all, _, bind_via = p.names("bind", RBAC_GROUP, res, ns=None)
                    if bind_all:
                        fanned.add(res)
                        kind = "Role" if res == "roles" else "ClusterRole"
                        if self.edges(("rebind", verb, res)):
                            add(
                                f"{verb}-rebind-{res}",
                                ("rebind", verb, res),
                                f"{verb} a RoleBinding of any namespace that references a {kind} to add yourself as a subject",
                                _join(via, bind_via),
                            )
            if every:
                candidates = self._rbs_by_ns.get(ns, []) if ns else [b for bs in self._rbs_by_ns.values() for b in bs]
            else:
                candidates = [
                    self._rb_by_key[(bns, n)]
                    for n in sorted(names)
                    for bns in ([ns] if ns else self._rbs_by_ns)
                    if (bns, n) in self._rb_by_key
                ]
            bind_cache: dict[tuple[str, str], tuple[bool, set[str], str | None]] = {}
            gained: set[tuple[RoleRef, str | None]] = set()
            for b in candidates:
                res = "roles" if b.role_ref.kind == "Role" else "clusterroles"
                if res in fanned:
                    continue
                if (b.role_ref, b.ref.namespace) in gained or not self._role_atoms(b.role_ref).atoms:
                    continue  # the same role in the same namespace, or a role that opens no further step
                key = (b.ref.namespace or "", res)
                if key not in bind_cache:
                    bind_cache[key] = p.names("bind", RBAC_GROUP, res, ns=b.ref.namespace)
                bind_all, bind_names, bind_via = bind_cache[key]
                if bind_all or b.role_ref.name in bind_names:
                    gained.add((b.role_ref, b.ref.namespace))
                    add(
                        f"{verb}-{b.ref}",
                        self._grant_node(b.role_ref, b.ref.namespace),
                        f"{verb} {b.ref} to add yourself as a subject",
                        _join(via, bind_via),
                    )
        # escalate: rewrite a namespaced Role you hold
        if ns is not None:
            esc_all, esc_names, esc_via = p.names("escalate", RBAC_GROUP, "roles", ns=ns)
            if esc_all or esc_names:
                for verb in ("patch", "update"):
                    every, names, via = p.names(verb, RBAC_GROUP, "roles", ns=ns)
                    for ref, _scope, held_via in p.held:
                        if (
                            ref.kind == "Role"
                            and ref.namespace == ns
                            and (every or ref.name in names)
                            and (esc_all or ref.name in esc_names)
                        ):
                            add(
                                f"escalate-{ref.qualified}",
                                self._grant_node(_CLUSTER_ADMIN_REF, ns),
                                f"{verb} {ref.qualified}, which you hold, adding a rule for every verb and resource",
                                _join(via, esc_via, held_via),
                            )

    def _bindable(
        self, p: _Perms, ns: str | None, res: str, role_ns: str | None
    ) -> Iterator[tuple[RoleRef, str | None]]:
        """Roles that ``bind`` allows referencing from a binding in ``ns`` (None: cluster-wide)."""
        every, names, via = p.names("bind", RBAC_GROUP, res, ns=ns)
        kind = "ClusterRole" if res == "clusterroles" else "Role"
        if every:
            if kind == "ClusterRole":
                yield _CLUSTER_ADMIN_REF, via
            else:
                for ref in self._roles_by_ns.get(role_ns or "", ()):
                    if self._role_atoms(ref).atoms:
                        yield ref, via
            return
        for name in sorted(names):
            ref = RoleRef(kind, name, role_ns)
            if ref in self.index.roles and (self._role_atoms(ref).atoms or self._role_atoms(ref).admin):
                yield ref, via

    def _cluster_edges(self, p: _Perms, out: list[_Edge]) -> None:
        """Edges from permissions on cluster-scoped resources (ClusterRoleBindings only)."""
        if not p.cluster:
            return

        def find(verb: str, group: str, res: str, sub: str | None = None) -> str | None:
            return p.find(verb, group, res, sub, cluster_scoped=True)

        def names(verb: str, group: str, res: str, sub: str | None = None) -> tuple[bool, set[str], str | None]:
            return p.names(verb, group, res, sub, cluster_scoped=True)

        # bind a ClusterRole to yourself with a ClusterRoleBinding
        create_crb = find("create", RBAC_GROUP, "clusterrolebindings")
        every, bnames, bind_via = names("bind", RBAC_GROUP, "clusterroles")
        if create_crb and (every or bnames):
            refs = [_CLUSTER_ADMIN_REF] if every else [RoleRef("ClusterRole", n) for n in sorted(bnames)]
            for ref in refs:
                if ref in self.index.roles or ref == _CLUSTER_ADMIN_REF:
                    out.append(
                        _Edge(
                            self._grant_node(ref, None),
                            1,
                            f"create a ClusterRoleBinding granting yourself {ref}",
                            _join(create_crb, bind_via),
                        )
                    )
        for verb in ("patch", "update"):
            upd_all, unames, upd_via = names(verb, RBAC_GROUP, "clusterrolebindings")
            if (create_crb and every) or not (upd_all or unames) or not (every or bnames):
                continue  # nothing to patch, or dominated by creating a ClusterRoleBinding to cluster-admin
            gained: set[RoleRef] = set()
            for b in (
                self._crbs if upd_all else [self._crb_by_name[n] for n in sorted(unames) if n in self._crb_by_name]
            ):
                if b.role_ref in gained or not (every or b.role_ref.name in bnames):
                    continue
                atoms = self._role_atoms(b.role_ref)
                if not atoms.atoms and not atoms.admin:
                    continue
                gained.add(b.role_ref)
                out.append(
                    _Edge(
                        self._grant_node(b.role_ref, None),
                        1,
                        f"{verb} {b.ref} to add yourself as a subject",
                        _join(upd_via, bind_via),
                    )
                )
        # escalate: rewrite a ClusterRole you hold
        esc_all, esc_names, esc_via = names("escalate", RBAC_GROUP, "clusterroles")
        if esc_all or esc_names:
            for verb in ("patch", "update"):
                every_u, unames_u, via = names(verb, RBAC_GROUP, "clusterroles")
                for ref, scope, held_via in p.held:
                    if (
                        ref.kind == "ClusterRole"
                        and (every_u or ref.name in unames_u)
                        and (esc_all or ref.name in esc_names)
                    ):
                        where = (
                            "cluster-wide"
                            if scope is None
                            else "in every namespace"
                            if scope == ANY_NS
                            else f"in namespace {scope}"
                        )
                        out.append(
                            _Edge(
                                self._grant_node(_CLUSTER_ADMIN_REF, scope),
                                1,
                                f"{verb} {ref}, which you hold {where}, adding a rule for every verb and resource",
                                _join(via, esc_via, held_via),
                            )
                        )
        # impersonation of users and groups
        u_all, u_names, u_via = names("impersonate", "", "users")
        if u_all:
            out.append(_Edge(("anyuser",), 1, "impersonate any user", u_via or ""))
        else:
            for n in sorted(u_names):
                out.append(_Edge(("S", Subject("User", n)), 1, f"impersonate user {n}", u_via or ""))
        g_all, g_names, g_via = names("impersonate", "", "groups")
        can_user = (
            u_all
            or u_names
            or p.names("impersonate", "", "serviceaccounts")[0]
            or any(p.names("impersonate", "", "serviceaccounts", ns=n)[0] for n in p.by_ns)
        )
        if can_user and (g_all or g_names):
            if g_all:
                out.append(_Edge(("anygroup",), 1, "impersonate any group", _join(g_via, u_via)))
            for n in sorted(g_names):
                dst = TARGET if n == MASTERS else ("S", Subject("Group", n))
                out.append(_Edge(dst, 1, f"impersonate group {n}", _join(g_via, u_via)))
        # the kubelet API
        for verb in ("get", "create"):
            every, nnames, via = names(verb, "", "nodes", "proxy")
            if every or nnames:
                out.append(
                    _Edge(
                        ("pods", None),
                        1,
                        f"{verb} nodes/proxy: run commands in pods through the kubelet API",
                        via or "",
                    )
                )
                break
        # client certificates through a CertificateSigningRequest
        csr_create = find("create", "certificates.k8s.io", "certificatesigningrequests")
        approve_all, approve_names, approve_via = names("approve", "certificates.k8s.io", "signers")
        approval = None
        for verb in ("update", "patch"):
            a_all, a_names, a_via = names(verb, "certificates.k8s.io", "certificatesigningrequests", "approval")
            if a_all or a_names:
                approval = a_via
                break
        r_all, r_names, r_via = names("get", "certificates.k8s.io", "certificatesigningrequests")
        read = (
            r_via
            if (r_all or r_names)
            else find("list", "certificates.k8s.io", "certificatesigningrequests")
            or find("watch", "certificates.k8s.io", "certificatesigningrequests")
        )
        if (
            csr_create
            and approval
            and read
            and (approve_all or _CSR_SIGNER in approve_names or "kubernetes.io/*" in approve_names)
        ):
            out.append(
                _Edge(
                    ("anyid",),
                    1,
                    f"create, approve and read a CertificateSigningRequest for signer {_CSR_SIGNER} "
                    "(a client certificate for any identity but group system:masters)",
                    _join(csr_create, approval, approve_via, read),
                )
            )
        # admission webhooks
        webhooks: tuple[tuple[str, Node, str], ...] = (
            (
                "mutatingwebhookconfigurations",
                ("pods", None),
                "register a mutating admission webhook that rewrites pods as they are created",
            ),
            (
                "validatingwebhookconfigurations",
                ("secrets", None),
                "register a validating admission webhook that receives Secrets as they are written",
            ),
        )
        for res, dst, action in webhooks:
            via = find("create", "admissionregistration.k8s.io", res)
            if not via:
                for verb in ("update", "patch"):
                    every, wnames, v = names(verb, "admissionregistration.k8s.io", res)
                    if every or wnames:
                        via = v
                        break
            if via:
                out.append(_Edge(dst, 1, action, via))

    def _token_secrets_in(self, ns: str | None) -> Iterator[tuple[str, str, str]]:
        for sns in [ns] if ns else sorted(self.token_secrets):
            for secret, sa in self.token_secrets.get(sns, ()):
                yield secret, sa, sns

    def _fanout(self, node: Node) -> Iterator[_Edge]:
        kind = node[0]
        if kind == "anysa":
            ns, how = node[1], node[2]
            tail = {
                "pod": "it runs as ServiceAccount {sa} and mounts its token",
                "workload": "its pods run as ServiceAccount {sa} and mount its token",
                "secret": "the token controller fills in a token of ServiceAccount {sa}, which you read",
                "token": "one for ServiceAccount {sa}",
                "impersonate": "ServiceAccount {sa}",
            }[how]
            for sns in [ns] if ns else sorted(self.sas):
                for name in sorted(self.sas.get(sns, ())):
                    s = Subject("ServiceAccount", name, sns)
                    yield _Edge(("S", s), 0, tail.format(sa=f"{sns}:{name}"), "")
        elif kind == "pods":
            ns = node[1]
            for sns in [ns] if ns else sorted(self.workloads):
                seen: set[str] = set()
                for o, sa in self.workloads.get(sns, ()):
                    if sa in seen:
                        continue
                    seen.add(sa)
                    n = self._pod_count.get((id(o), sa))  # live workloads: how many of their pods run as sa
                    pods = f" ({n} pod{'s' if n != 1 else ''})" if n else ""
                    yield _Edge(
                        ("S", Subject("ServiceAccount", sa, sns)),
                        0,
                        f"{o.kind} {sns}/{o.name}{pods} runs as ServiceAccount {sns}:{sa} and mounts its token",
                        "",
                    )
        elif kind == "anyrole":  # every Role of every namespace that opens a step, bound to yourself there
            for rns in sorted(self._roles_by_ns):
                for ref in self._roles_by_ns[rns]:
                    if self._role_atoms(ref).atoms:
                        yield _Edge(self._grant_node(ref, rns), 0, ref.qualified, "")
        elif kind == "heldesc":  # the Roles the shared groups hold, each rewritten to grant everything
            reached: set[str] = set()
            for ref, scope, held_via in self._shared_perms(node[1]).held:
                if ref.kind == "Role" and scope and scope != ANY_NS and scope not in reached:
                    reached.add(scope)
                    yield _Edge(self._grant_node(_CLUSTER_ADMIN_REF, scope), 0, ref.qualified, held_via)
        elif kind == "rebind":  # the roles of every RoleBinding referencing a kind of role, rewritten
            ref_kind = "Role" if node[2] == "roles" else "ClusterRole"
            gained: set[tuple[RoleRef, str | None]] = set()
            for bs in self._rbs_by_ns.values():
                for b in bs:
                    key = (b.role_ref, b.ref.namespace)
                    if b.role_ref.kind != ref_kind or key in gained or not self._role_atoms(b.role_ref).atoms:
                        continue
                    gained.add(key)
                    yield _Edge(self._grant_node(b.role_ref, b.ref.namespace), 0, str(b.ref), "")
        elif kind == "secrets":
            for secret, sa, sns in self._token_secrets_in(node[1]):
                yield _Edge(
                    ("S", Subject("ServiceAccount", sa, sns)),
                    0,
                    f"Secret {sns}/{secret} holds a token of ServiceAccount {sns}:{sa}",
                    "",
                )
        elif kind in ("anyuser", "anygroup", "anyid"):
            if kind in ("anyuser", "anyid"):
                for u in sorted(self.users):
                    yield _Edge(("S", Subject("User", u)), 0, f"User {u}", "")
            if kind in ("anygroup", "anyid"):
                for g in sorted(self.groups):
                    if g == MASTERS:
                        if kind == "anygroup":
                            yield _Edge(TARGET, 0, f"Group {MASTERS}, which the API server allows everything", "")
                        continue
                    yield _Edge(("S", Subject("Group", g)), 0, f"Group {g}", "")
                if kind == "anygroup" and MASTERS not in self.groups:
                    yield _Edge(TARGET, 0, f"Group {MASTERS}, which the API server allows everything", "")
            if kind == "anyid":
                for sns in sorted(self.sas):
                    for name in sorted(self.sas[sns]):
                        yield _Edge(("S", Subject("ServiceAccount", name, sns)), 0, f"ServiceAccount {sns}:{name}", "")

    # ------------------------------------------------------------------ search

    def _target(self, to: str | Subject) -> Node:
        if isinstance(to, Subject):
            s = to
        elif to == CLUSTER_ADMIN:
            return TARGET
        else:
            try:
                s = Subject.parse(to)
            except ValueError as e:
                raise UsageError(f"--to: {e} (or write cluster-admin)") from None
        self._add_identity(s)
        self._edges.clear()  # fan-outs may now include the new identity
        return ("S", s)

    def _all_subject_nodes(self) -> list[Node]:
        nodes: dict[Node, None] = {}
        for u in sorted(self.users):
            nodes[("S", Subject("User", u))] = None
        for g in sorted(self.groups):
            nodes[("S", Subject("Group", g))] = None
        for ns in sorted(self.sas):
            for n in sorted(self.sas[ns]):
                nodes[("S", Subject("ServiceAccount", n, ns))] = None
        return list(nodes)

    def paths(
        self, to: str | Subject = CLUSTER_ADMIN, from_subject: Subject | str | None = None
    ) -> list[EscalationPath]:
        """Shortest escalation path of every subject (or only ``from_subject``) to ``to``, shortest first."""
        target = self._target(to)
        if from_subject is not None:
            src = as_subject(from_subject)
            self._add_identity(src)
            path = self._forward(("S", src), target)
            return [path] if path else []
        nxt = self._reverse_bfs(target)
        out = []
        for node in self._all_subject_nodes():
            if node != target and node in nxt and node not in self._defaults_only:
                out.append(self._path(node, target, nxt))
        out.sort(key=lambda p: (len(p.steps), str(p.source)))
        return out

    def _reverse_bfs(self, target: Node) -> dict[Node, _Edge]:
        """Build every edge, then 0-1 BFS backwards from the target: node -> first edge of its shortest path."""
        rev: dict[Node, list[tuple[Node, _Edge]]] = defaultdict(list)
        work = deque(self._all_subject_nodes())
        seen = set(work)
        while work:
            node = work.popleft()
            for e in self.edges(node):
                rev[e.dst].append((node, e))
                if e.dst not in seen:
                    seen.add(e.dst)
                    work.append(e.dst)
        dist: dict[Node, int] = {target: 0}
        nxt: dict[Node, _Edge] = {}
        dq: deque[Node] = deque([target])
        while dq:
            v = dq.popleft()
            dv = dist[v]
            for u, e in rev.get(v, ()):
                du = dv + e.weight
                if du < dist.get(u, 1 << 30):
                    dist[u] = du
                    nxt[u] = e
                    if e.weight == 0:
                        dq.appendleft(u)
                    else:
                        dq.append(u)
        return nxt

    def _forward(self, src: Node, target: Node) -> EscalationPath | None:
        dist: dict[Node, int] = {src: 0}
        prev: dict[Node, tuple[Node, _Edge]] = {}
        dq: deque[Node] = deque([src])
        done: set[Node] = set()
        while dq:
            u = dq.popleft()
            if u in done:
                continue
            done.add(u)
            if u == target:
                break
            for e in self.edges(u):
                dv = dist[u] + e.weight
                if dv < dist.get(e.dst, 1 << 30):
                    dist[e.dst] = dv
                    prev[e.dst] = (u, e)
                    if e.weight == 0:
                        dq.appendleft(e.dst)
                    else:
                        dq.append(e.dst)
        if target not in prev or src == target:
            return None
        chain: list[_Edge] = []
        node = target
        while node != src:
            u, e = prev[node]
            chain.append(e)
            node = u
        chain.reverse()
        return EscalationPath(src[1], self.label(target), self._steps(chain))

    def _path(self, node: Node, target: Node, nxt: dict[Node, _Edge]) -> EscalationPath:
        chain: list[_Edge] = []
        cur = node
        while cur != target:
            e = nxt[cur]
            chain.append(e)
            cur = e.dst
        return EscalationPath(node[1], self.label(target), self._steps(chain))

    def _steps(self, chain: list[_Edge]) -> tuple[Step, ...]:
        steps: list[Step] = []
        for e in chain:
            if e.dst[0] == SHARED:
                continue  # entering the shared groups' node: the next step names their binding
            if e.weight == 0 and steps:
                last = steps[-1]
                steps[-1] = Step(f"{last.action}: {e.action}", _join(last.via, e.via), self.label(e.dst))
            else:
                steps.append(Step(e.action, e.via, self.label(e.dst)))
        return tuple(steps)
