"""The RBAC index: every role, binding and subject of an inventory, built once, queried in milliseconds.

Semantics are those of the Kubernetes RBAC authorizer (``plugin/pkg/auth/authorizer/rbac``):

- A request is allowed when some binding that applies to the requesting user names a role with a
  rule that grants it (:mod:`.policy` has the rule matching). RBAC only allows; nothing denies.
- A ClusterRoleBinding applies everywhere: every namespace, cluster-scoped resources and
  non-resource URLs. A RoleBinding applies only to resource requests *in its namespace*; when it
  references a ClusterRole, that role's rules count in the binding's namespace only, never for
  cluster-scoped resources nor non-resource URLs. A RoleBinding may reference a Role of its own
  namespace or a ClusterRole; a ClusterRoleBinding only a ClusterRole.
- Subjects (:mod:`.subjects`): User, Group, ServiceAccount (its namespace defaults to the
  RoleBinding's; a ClusterRoleBinding's ServiceAccount subject without namespace matches nobody).
  A request carries the user's groups: service accounts are in ``system:serviceaccounts``,
  ``system:serviceaccounts:<ns>`` and ``system:authenticated``; users in ``system:authenticated``;
  ``system:anonymous`` in ``system:unauthenticated``. A query *as a Group* asks what a member of
  only that group may do. Members of ``system:masters`` are allowed everything: the API server
  authorizes them before RBAC is asked.
- Aggregated ClusterRoles (``aggregationRule.clusterRoleSelectors``) get, as the aggregation
  controller gives them, the union of the rules of every *other* ClusterRole matched by any
  selector, transitively (aggregated roles matching aggregated roles); the rules written in the
  aggregated role itself are replaced. Cycles resolve to the least fixed point. In a live
  inventory the stored rules are the controller's result and are used as they are (unless the
  index is built with ``aggregate=True``).
- A binding whose role does not exist grants nothing; it is listed in :attr:`RbacIndex.problems`.
- The default roles of every cluster (``cluster-admin``, ``admin``, ``edit``, ``view``...,
  :mod:`.bootstrap`) are assumed to exist unless the input defines them, or the inventory is live
  (unless the index is built with ``builtin_roles=True``).
- An object defined twice (same kind, namespace and name) counts once, as first defined, for the
  authorizer's answers; every definition is kept for the rule pack, which judges and cites objects.

Provenance, for messages that say where a permission comes from:

- every effective rule of a role is a :class:`RoleRule`: the rule, the role that writes it (another
  ClusterRole for a rule gathered by aggregation) and its position in that role's ``rules``
  (:attr:`Role.sources`; :attr:`Role.written` are the role's own rules);
- :func:`written_rules` parses a role object's own rules once; :meth:`RbacIndex.role_for` resolves a
  binding object's ``roleRef``; :meth:`RbacIndex.bindings_granting` lists the bindings that pass a
  role's rules on (those of the ClusterRoles aggregating it included, :meth:`RbacIndex.aggregators_of`);
  :meth:`RbacIndex.subject_bindings` lists every binding object with the position of each subject
  entry that applies to an identity (a service account...).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import UsageError
from ...model.inventory import Inventory
from ...model.objects import K8sObject, Source
from ...model.selectors import label_selector_matches
from .bootstrap import (
    BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
    BOOTSTRAP_CLUSTER_ROLES,
    BOOTSTRAP_CONTROLLER_ROLES,
    BOOTSTRAP_ROLES,
)
from .policy import PolicyRule, rules_of
from .resources import CustomResource, Request, custom_resources, is_cluster_scoped, make_request
from .subjects import Subject

RBAC_GROUP = "rbac.authorization.k8s.io"
CLUSTER_ADMIN = "cluster-admin"
MASTERS = "system:masters"
_BUILTIN_SOURCE = Source(file="<kubernetes default roles>")


@dataclass(frozen=True, slots=True, order=True)
class RoleRef:
    """A Role (namespace set) or a ClusterRole. ``str()`` is ``Kind/name``."""

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def of(cls, role: K8sObject) -> RoleRef:
        """The reference of a Role or ClusterRole object."""
        return cls(role.kind, role.name, role.namespace if role.kind == "Role" else None)

    @property
    def qualified(self) -> str:
        """``Role/namespace/name`` or ``ClusterRole/name``."""
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True, order=True)
class BindingRef:
    """A RoleBinding or ClusterRoleBinding. ``str()`` is ``RoleBinding/ns/name`` or ``ClusterRoleBinding/name``."""

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class RoleRule:
    """One PolicyRule and where it is written: ``rules[index]`` of the role ``source``.

    A rule an aggregated ClusterRole gathers keeps the ClusterRole that writes it, so that a message
    can say which role a permission comes from.
    """

    rule: PolicyRule
    source: RoleRef
    index: int


@dataclass(frozen=True, slots=True, eq=False)
class Role:
    """A role with its effective rules (aggregation applied). ``obj`` is None for a built-in default role.

    ``sources`` are the effective rules with their provenance (``rules`` is their PolicyRules, for the
    queries); ``written`` are the role's own rules. They differ for an aggregated ClusterRole
    (``aggregated``), whose effective rules are those it gathers: from manifests, a lower bound, since
    other ClusterRoles of the cluster may match its selectors.
    """

    ref: RoleRef
    rules: tuple[PolicyRule, ...]
    obj: K8sObject | None
    aggregated_from: tuple[str, ...] = ()  # ClusterRoles whose rules it gathers (directly)
    written: tuple[RoleRule, ...] = ()
    sources: tuple[RoleRule, ...] = ()
    aggregated: bool = False

    @property
    def builtin(self) -> bool:
        return self.obj is None or self.obj.source is _BUILTIN_SOURCE


@dataclass(frozen=True, slots=True, eq=False)
class Binding:
    """A RoleBinding or ClusterRoleBinding. ``role`` is None when the referenced role does not exist.

    ``positions`` is the index, in the object's ``subjects`` list, of each of ``subjects``.
    ``duplicate``: a later definition of the same binding, which the authorizer's answers ignore.
    """

    ref: BindingRef
    role_ref: RoleRef
    role: Role | None
    subjects: tuple[Subject, ...]  # valid subjects, ServiceAccount namespaces defaulted
    obj: K8sObject
    positions: tuple[int, ...] = ()
    duplicate: bool = False

    @property
    def namespace(self) -> str | None:
        """Where the binding grants: its namespace, or None (everywhere) for a ClusterRoleBinding."""
        return self.ref.namespace

    @property
    def builtin(self) -> bool:
        """A default binding of every cluster (``RbacIndex.build(defaults=True)``), not from the input."""
        return self.obj.source is _BUILTIN_SOURCE

    def applies_to(self, req: Request) -> bool:
        """Whether the binding's grants count for this request (scope only, not the rules)."""
        if self.ref.namespace is None:
            return True
        return req.path is None and req.namespace == self.ref.namespace


@dataclass(frozen=True, slots=True)
class Grant:
    """``subject`` is allowed through ``binding`` (as written in it), which references ``role``."""

    subject: Subject
    binding: BindingRef
    role: RoleRef

    @property
    def via(self) -> str:
        return f"{self.binding} ({self.role})"


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """The answer to ``can``: allowed or not, every grant that allows it, and the reason in words."""

    allowed: bool
    via: tuple[Grant, ...]
    reason: str
    request: Request

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True, slots=True)
class PermissionRow:
    """One effective rule of a subject: where it applies (None = cluster-wide) and what grants it.

    ``binding``/``role`` are None for the built-in ``system:masters`` row.
    """

    namespace: str | None
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...]
    non_resource_urls: tuple[str, ...]
    binding: BindingRef | None
    role: RoleRef | None
    subject: Subject | None = None  # the binding subject that matched (a group, the user...)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the RBAC objects that grants nothing or less than it seems (missing role...)."""

    ref: str
    message: str
    obj: K8sObject | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.ref}: {self.message}"


def subject_key(s: Subject) -> tuple[str, str] | None:
    """How a binding subject is matched: by user name (users and service accounts) or group name."""
    if s.kind == "Group":
        return ("g", s.name)
    if s.kind == "ServiceAccount":
        return ("u", f"system:serviceaccount:{s.namespace}:{s.name}") if s.namespace else None
    return ("u", s.name)


def subject_order(s: Subject) -> tuple[str, str, str]:
    """Sort key: kind, then namespace, then name."""
    return (s.kind, s.namespace or "", s.name)


def as_subject(subject: Subject | str) -> Subject:
    if isinstance(subject, Subject):
        return subject
    try:
        return Subject.parse(subject)
    except ValueError as e:
        raise UsageError(str(e)) from None


def written_role_ref(binding: K8sObject) -> tuple[str, str]:
    """``roleRef`` kind and name of a binding object as written ("" when missing or not a string)."""
    ref = binding.raw.get("roleRef")
    if not isinstance(ref, dict):
        return "", ""
    kind, name = ref.get("kind"), ref.get("name")
    return (kind if isinstance(kind, str) else ""), (name if isinstance(name, str) else "")


def role_ref_of(binding: K8sObject) -> RoleRef | None:
    """The role a RoleBinding or ClusterRoleBinding object references; None when the API server would
    reject its roleRef (no name, not a Role or ClusterRole, a ClusterRoleBinding naming a Role): such a
    binding grants nothing. A RoleBinding's Role is in the binding's namespace."""
    kind, name = written_role_ref(binding)
    if not name or kind not in ("Role", "ClusterRole") or (kind == "Role" and binding.kind == "ClusterRoleBinding"):
        return None
    return RoleRef("Role", name, binding.namespace) if kind == "Role" else RoleRef("ClusterRole", name)


def _is_rbac(obj: K8sObject) -> bool:
    return obj.group == RBAC_GROUP


def _selector_valid(sel: Any) -> bool:
    if not isinstance(sel, dict):
        return False
    ml = sel.get("matchLabels")
    if ml is not None and not isinstance(ml, dict):
        return False
    exprs = sel.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return False
    for e in exprs:
        if not isinstance(e, dict):
            return False
        op, values = e.get("operator"), e.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                return False
        elif op in ("Exists", "DoesNotExist"):
            if values:
                return False
        else:
            return False
    return True


def written_rules(role: K8sObject) -> tuple[RoleRule, ...]:
    """The rules of a Role or ClusterRole object as written, with their positions; parsed once per object
    (kept in its ``memo``: the index and every rule that judges the role share them)."""
    memo = role.memo
    rules: tuple[RoleRule, ...] | None = memo.get("rbac.rules")
    if rules is None:
        ref = RoleRef.of(role)
        rules = memo["rbac.rules"] = tuple(RoleRule(rule, ref, i) for i, rule in rules_of(role.raw))
    return rules


#: the default roles (:mod:`.bootstrap`) as objects: constants, made (and their rules parsed) once
_BUILTIN_CLUSTER_ROLES = {
    raw["metadata"]["name"]: K8sObject.from_raw(raw, _BUILTIN_SOURCE, cluster_scoped=True)
    for raw in BOOTSTRAP_CLUSTER_ROLES
}
_BUILTIN_ROLES = {
    (raw["metadata"]["namespace"], raw["metadata"]["name"]): K8sObject.from_raw(raw, _BUILTIN_SOURCE)
    for raw in BOOTSTRAP_ROLES
}
#: the defaults that grant (``defaults=True``): the controllers' ClusterRoles and the bootstrap bindings
_DEFAULT_CLUSTER_ROLES = {
    raw["metadata"]["name"]: K8sObject.from_raw(raw, _BUILTIN_SOURCE, cluster_scoped=True)
    for raw in BOOTSTRAP_CONTROLLER_ROLES
}
_DEFAULT_BINDINGS = tuple(
    K8sObject.from_raw(raw, _BUILTIN_SOURCE, cluster_scoped=True) for raw in BOOTSTRAP_CLUSTER_ROLE_BINDINGS
)


#: the kinds the index is built from: what ``kubefort rbac --cluster`` lists, and the kinds its answers
#: depend on (:meth:`RbacIndex.incomplete`)
READS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
#: read too, when a cluster serves them, to know the custom resources a request names; no answer
#: depends on them (a request for an unknown resource is parsed as a namespaced one)
READS_FOR_REQUESTS = frozenset({"CustomResourceDefinition"})


class RbacIndex:
    """RBAC of one inventory, indexed for queries. Build with :meth:`build` (or :meth:`for_inventory`).

    Public attributes: ``roles`` (RoleRef -> Role), ``bindings`` (list of Binding, the first definition
    of each), ``binding_objects`` (every definition, duplicates included, in input order),
    ``problems`` (missing roles, subjects that match nobody, ...), ``inventory``.
    """

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        self.roles: dict[RoleRef, Role] = {}
        self.bindings: list[Binding] = []
        self.binding_objects: list[Binding] = []
        self.problems: list[Problem] = []
        self._custom: dict[str, CustomResource] = {}
        self._aggregators: dict[str, list[str]] = {}  # ClusterRole -> ClusterRoles selecting it, by name
        self._by_subject: dict[tuple[str, str], list[tuple[Binding, Subject, int]]] = defaultdict(list)
        self._by_role: dict[RoleRef, list[Binding]] = defaultdict(list)  # every definition
        # id(object) -> the index's role or binding for it: the rules look objects up for every rule
        self._objects: dict[int, Role | Binding] = {}
        self._queries: _QueryIndex | None = None
        self.defaults: list[Binding] = []  # the default bindings added by build(defaults=True)

    def incomplete(self) -> dict[str, str]:
        """The kinds of :data:`READS` that a cluster read could not list (kind -> why), sorted: RBAC only
        allows, so an answer may then miss subjects and permissions, and a denial may be wrong (an
        allowed request is allowed whatever else exists). Empty for manifests."""
        return {k: v for k, v in sorted(self.inventory.unreadable.items()) if k in READS}

    # ------------------------------------------------------------------ building

    @classmethod
    def for_inventory(
        cls,
        inventory: Inventory,
        *,
        builtin_roles: bool | None = None,
        aggregate: bool | None = None,
        defaults: bool = False,
    ) -> RbacIndex:
        """The index of an inventory, built on first use and then kept by the inventory
        (:meth:`Inventory.cached`), one per set of options (see :meth:`build`)."""
        builtin = not inventory.live if builtin_roles is None else builtin_roles
        agg = not inventory.live if aggregate is None else aggregate
        dflt = defaults and not inventory.live
        return inventory.cached(
            ("rbac-index", builtin, agg) + (("defaults",) if dflt else ()),
            lambda: cls.build(inventory, builtin_roles=builtin, aggregate=agg, defaults=dflt),
        )

    @classmethod
    def build(
        cls,
        inventory: Inventory,
        *,
        builtin_roles: bool | None = None,
        aggregate: bool | None = None,
        defaults: bool = False,
    ) -> RbacIndex:
        """Index the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings of ``inventory``.

        ``builtin_roles`` (default: True unless the inventory is a live cluster) adds the default
        roles every cluster has when the input does not define them. ``aggregate`` (default: True
        unless the inventory is a live cluster, whose stored rules are the aggregation controller's
        result) computes the rules of aggregated ClusterRoles from the ClusterRoles they select.
        ``defaults`` (never for a live cluster, which has its own) also adds what every cluster grants:
        the controllers' ClusterRoles and the bootstrap ClusterRoleBindings (``system:controller:*`` to
        the controllers' ServiceAccounts in kube-system, ``cluster-admin`` to ``system:masters``...),
        each unless the input defines one of that name; they are listed in :attr:`defaults`.
        """
        self = cls(inventory)
        if builtin_roles is None:
            builtin_roles = not inventory.live
        if aggregate is None:
            aggregate = not inventory.live
        defaults = defaults and not inventory.live
        self._custom = custom_resources(o.raw for o in inventory.of_kind("CustomResourceDefinition"))
        self._load_roles(builtin_roles, aggregate, defaults)
        self._load_bindings(defaults)
        self._index()
        return self

    def _load_roles(self, builtin: bool, aggregate: bool, defaults: bool = False) -> None:
        crs: dict[str, K8sObject] = {}
        for o in self.inventory.of_kind("ClusterRole", copies=True):
            if not _is_rbac(o):
                continue
            if o.name in crs:
                self.problems.append(
                    Problem(f"ClusterRole/{o.name}", "defined more than once; the first definition is used", o)
                )
                continue
            crs[o.name] = o
        if builtin:
            for name, o in _BUILTIN_CLUSTER_ROLES.items():
                crs.setdefault(name, o)
        if defaults:
            for name, o in _DEFAULT_CLUSTER_ROLES.items():
                crs.setdefault(name, o)
        base: dict[str, tuple[RoleRule, ...]] = {}
        aggregating: dict[str, list[str]] = {}
        for name, o in crs.items():
            base[name] = written_rules(o)
            agg = o.raw.get("aggregationRule")
            if isinstance(agg, dict) and aggregate:
                selectors = agg.get("clusterRoleSelectors")
                selectors = selectors if isinstance(selectors, list) else []
                # a null list entry decodes to an empty selector, which selects every ClusterRole
                selectors = [{} if s is None else s for s in selectors]
                if not all(_selector_valid(s) for s in selectors):
                    self.problems.append(
                        Problem(
                            f"ClusterRole/{name}",
                            "invalid aggregationRule selector: the aggregation controller leaves its rules as written",
                            o,
                        )
                    )
                    continue
                aggregating[name] = sorted(
                    other
                    for other, oo in crs.items()
                    if other != name and any(label_selector_matches(s, oo.labels) for s in selectors)
                )
        aggregators: dict[str, list[str]] = defaultdict(list)
        for name in sorted(aggregating):
            for src in aggregating[name]:
                aggregators[src].append(name)
        self._aggregators = dict(aggregators)
        # least fixed point of: rules(A) = union of rules(C) for the ClusterRoles C that A selects; a rule
        # gathered twice keeps its first source (sources in name order)
        current: dict[str, tuple[RoleRule, ...]] = dict.fromkeys(aggregating, ())
        for _ in range(len(aggregating) + 1):
            changed = False
            for name, selected in aggregating.items():
                seen: dict[PolicyRule, RoleRule] = {}
                for src in selected:
                    for r in current[src] if src in current else base[src]:
                        seen.setdefault(r.rule, r)
                new = tuple(seen.values())
                if new != current[name]:
                    current[name] = new
                    changed = True
            if not changed:
                break
        for name, o in crs.items():
            ref = RoleRef("ClusterRole", name)
            effective = current.get(name, base[name])
            self.roles[ref] = Role(
                ref,
                tuple(r.rule for r in effective),
                o,
                tuple(aggregating.get(name, ())),
                base[name],
                effective,
                name in aggregating,
            )
        roles: dict[tuple[str, str], K8sObject] = {}
        for o in self.inventory.of_kind("Role", copies=True):
            if not _is_rbac(o) or o.namespace is None:
                continue
            if (o.namespace, o.name) in roles:
                self.problems.append(
                    Problem(f"Role/{o.namespace}/{o.name}", "defined more than once; the first definition is used", o)
                )
                continue
            roles[(o.namespace, o.name)] = o
        if builtin:
            for key, o in _BUILTIN_ROLES.items():
                roles.setdefault(key, o)
        for (ns, name), o in roles.items():
            ref = RoleRef("Role", name, ns)
            written = written_rules(o)
            self.roles[ref] = Role(ref, tuple(r.rule for r in written), o, (), written, written)

    def _load_bindings(self, defaults: bool = False) -> None:
        seen: set[BindingRef] = set()
        objects = list(self.inventory.of_kind("RoleBinding", "ClusterRoleBinding", copies=True))
        if defaults:
            written = {o.name for o in objects if o.kind == "ClusterRoleBinding" and _is_rbac(o)}
            # a default binding the input redefines is the input's; one whose role is unknown grants nothing
            objects += [
                o
                for o in _DEFAULT_BINDINGS
                if o.name not in written and RoleRef("ClusterRole", o.raw["roleRef"]["name"]) in self.roles
            ]
        for o in objects:
            if not _is_rbac(o):
                continue
            cluster = o.kind == "ClusterRoleBinding"
            if not cluster and o.namespace is None:
                continue
            ref = BindingRef(o.kind, o.name, None if cluster else o.namespace)
            # a later definition is kept for the rules (they judge every object) but reports nothing more
            duplicate = ref in seen
            problems: list[Problem] = [] if duplicate else self.problems
            if duplicate:
                self.problems.append(Problem(str(ref), "defined more than once; the first definition is used", o))
            seen.add(ref)
            role_ref = role_ref_of(o)
            if role_ref is None:
                what = "a ClusterRole" if cluster else "a Role or ClusterRole"
                problems.append(Problem(str(ref), f"invalid roleRef (must name {what}): grants nothing", o))
                continue
            role = self.roles.get(role_ref)
            if role is None:
                problems.append(
                    Problem(str(ref), f"references {role_ref.qualified}, which does not exist: grants nothing", o)
                )
            subjects: list[Subject] = []
            positions: list[int] = []
            raw_subjects = o.raw.get("subjects")
            for i, rs in enumerate(raw_subjects if isinstance(raw_subjects, list) else []):
                s = Subject.from_binding_subject(rs, ref.namespace) if isinstance(rs, dict) else None
                if s is None:
                    kind = rs.get("kind") if isinstance(rs, dict) else None
                    problems.append(
                        Problem(
                            str(ref),
                            f"subject {i} (kind {kind!r}) is not a User, Group or ServiceAccount with a name: ignored",
                            o,
                        )
                    )
                    continue
                if s.kind == "ServiceAccount" and not s.namespace:
                    problems.append(
                        Problem(str(ref), f"ServiceAccount subject {s.name!r} has no namespace: it matches nobody", o)
                    )
                    continue
                subjects.append(s)
                positions.append(i)
            b = Binding(ref, role_ref, role, tuple(subjects), o, tuple(positions), duplicate)
            self.binding_objects.append(b)
            if not duplicate:
                self.bindings.append(b)
            if b.builtin:
                self.defaults.append(b)

    def _index(self) -> None:
        for role in self.roles.values():
            if role.obj is not None:
                self._objects[id(role.obj)] = role
        for b in self.binding_objects:
            self._objects[id(b.obj)] = b
            self._by_role[b.role_ref].append(b)
            for s, i in zip(b.subjects, b.positions, strict=True):
                key = subject_key(s)
                if key is not None:
                    self._by_subject[key].append((b, s, i))

    def _query_index(self) -> _QueryIndex:
        """The structures of who-can queries, built on first use (the rule pack never needs them)."""
        if self._queries is None:
            self._queries = _QueryIndex(self)
        return self._queries

    # ------------------------------------------------------------------ roles and bindings, for the rules

    def role(self, ref: RoleRef) -> Role | None:
        return self.roles.get(ref)

    def role_for(self, binding: K8sObject) -> tuple[RoleRef | None, Role | None]:
        """The roleRef of a binding object (None: rejected by the API server, it grants nothing) and the
        role it names (None when there is no such role)."""
        known = self._objects.get(id(binding))
        if isinstance(known, Binding) and known.obj is binding:
            return known.role_ref, known.role
        ref = role_ref_of(binding)
        return ref, (self.roles.get(ref) if ref is not None else None)

    def role_of(self, obj: K8sObject) -> Role | None:
        """The index's role for a Role or ClusterRole object; None when ``obj`` is not the definition the
        index uses (a later duplicate, or not an RBAC object)."""
        known = self._objects.get(id(obj))
        return known if isinstance(known, Role) and known.obj is obj else None

    def aggregators_of(self, ref: RoleRef) -> list[RoleRef]:
        """The ClusterRoles that gather ``ref``'s rules by aggregation, directly or through other
        aggregated ClusterRoles (depth first, in name order)."""
        if ref.kind != "ClusterRole":
            return []
        out: list[RoleRef] = []
        seen = {ref.name}
        stack = [ref.name]
        while stack:
            for name in self._aggregators.get(stack.pop(), ()):
                if name not in seen:
                    seen.add(name)
                    out.append(RoleRef("ClusterRole", name))
                    stack.append(name)
        return out

    def bindings_granting(self, ref: RoleRef) -> list[Binding]:
        """Every binding object that passes ``ref``'s rules on: those referencing it, then those of the
        ClusterRoles that aggregate it (duplicate definitions included)."""
        out = list(self._by_role.get(ref, ()))
        for agg in self.aggregators_of(ref):
            out.extend(self._by_role.get(agg, ()))
        return out

    def subject_bindings(self, subject: Subject, *, implicit_groups: bool = True) -> list[tuple[Binding, int]]:
        """Every binding object with the position, in its ``subjects``, of an entry that applies to
        requests made as ``subject``: entries naming it (ServiceAccount entries first, then User entries
        with its user name), then entries naming each of its groups (unless ``implicit_groups`` is
        False; a Group subject is its own group). Repeated entries are each listed (the rules cite
        positions); a binding defined more than once counts once, by its first definition, as an API
        server holds one (docs/outputs.md, duplicate identities); :meth:`bindings_of` gives the
        authorizer's view."""
        out: list[tuple[Binding, int]] = []
        if subject.username is not None:
            named = self._by_subject.get(("u", subject.username), ())
            out.extend((b, i) for b, s, i in named if s.kind == "ServiceAccount" and not b.duplicate)
            out.extend((b, i) for b, s, i in named if s.kind != "ServiceAccount" and not b.duplicate)
        if implicit_groups or subject.kind == "Group":
            for g in subject.groups():
                out.extend((b, i) for b, _, i in self._by_subject.get(("g", g), ()) if not b.duplicate)
        return out

    # ------------------------------------------------------------------ queries

    def request(
        self,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        group: str | None = None,
    ) -> Request:
        """The authorization attributes of a query (see :mod:`.resources`); raises UsageError on bad syntax."""
        return make_request(verb, resource, namespace, name, subresource, group, self._custom)

    def is_cluster_scoped(self, group: str, resource: str) -> bool:
        return is_cluster_scoped(group, resource, self._custom)

    def who_can(
        self,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        group: str | None = None,
    ) -> list[Grant]:
        """Every (subject, binding, role) that allows the request, sorted by subject then binding.

        ``namespace=None`` asks about a request without namespace: a cluster-scoped resource, or a
        namespaced resource across all namespaces (only ClusterRoleBindings grant those). Subjects
        are listed as the bindings name them (groups such as ``system:authenticated`` included);
        ``system:masters``, which needs no binding, is not listed.
        """
        return self.who_can_request(self.request(verb, resource, namespace, name, subresource, group))

    def who_can_request(self, req: Request) -> list[Grant]:
        return self._query_index().who_can(req)

    def bindings_of(
        self, subject: Subject | str, groups: Iterable[str] = (), *, skip_groups: Iterable[str] = ()
    ) -> list[tuple[Binding, Subject]]:
        """Bindings that apply to requests made as ``subject`` (with its implicit groups and ``groups``,
        less the bindings of ``skip_groups``), each with the binding subject that matched (the user, the
        service account or a group)."""
        s = as_subject(subject)
        keys: list[tuple[str, str]] = []
        if s.username is not None:
            keys.append(("u", s.username))
        skip = set(skip_groups)
        keys.extend(("g", g) for g in dict.fromkeys((*s.groups(), *groups)) if g not in skip)
        out: list[tuple[Binding, Subject]] = []
        seen: set[tuple[int, Subject]] = set()
        for k in keys:
            for b, bs, _ in self._by_subject.get(k, ()):
                if not b.duplicate and (id(b), bs) not in seen:
                    seen.add((id(b), bs))
                    out.append((b, bs))
        return out

    @staticmethod
    def is_privileged(subject: Subject, groups: Iterable[str] = ()) -> bool:
        """Members of system:masters pass authorization before RBAC is consulted."""
        return MASTERS in subject.groups() or MASTERS in set(groups)

    def can(
        self,
        subject: Subject | str,
        verb: str,
        resource: str,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
        group: str | None = None,
        *,
        groups: Iterable[str] = (),
    ) -> AccessDecision:
        """Whether ``subject`` may make the request, as ``kubectl auth can-i --as`` would answer.

        ``groups`` adds groups the subject is known to be in (``--as-group``).
        """
        s = as_subject(subject)
        return self.decide(s, self.request(verb, resource, namespace, name, subresource, group), groups)

    def decide(self, s: Subject, req: Request, groups: Iterable[str] = ()) -> AccessDecision:
        groups = tuple(groups)
        if self.is_privileged(s, groups):
            return AccessDecision(
                True,
                (),
                "members of group system:masters are allowed every request "
                "(the API server authorizes them before RBAC)",
                req,
            )
        grants: list[Grant] = []
        for b, bs in self.bindings_of(s, groups):
            if b.role is None or not b.applies_to(req):
                continue
            for rule in b.role.rules:
                ok = (
                    rule.grants_url(req.verb, req.path)
                    if req.path is not None
                    else rule.grants(req.verb, req.group, req.resource, req.subresource, req.name)
                )
                if ok:
                    grants.append(Grant(bs, b.ref, b.role_ref))
                    break
        grants.sort(key=lambda g: (g.binding, g.role, g.subject))
        if grants:
            reason = "allowed by " + ", ".join(g.via for g in grants)
        else:
            reason = f"no RBAC rule allows {s} to {req.describe()}"
        return AccessDecision(bool(grants), tuple(grants), reason, req)

    def permissions(self, subject: Subject | str, groups: Iterable[str] = ()) -> list[PermissionRow]:
        """The subject's effective rules, one row per rule and binding; cluster-wide rows first.

        Rows of a RoleBinding drop what it cannot grant: non-resource URLs and cluster-scoped
        resources (``namespaces`` stays: it lets one read the binding's own namespace).
        """
        s = as_subject(subject)
        groups = tuple(groups)
        rows: list[PermissionRow] = []
        if self.is_privileged(s, groups):
            rows.append(PermissionRow(None, ("*",), ("*",), ("*",), (), ("*",), None, None, Subject("Group", MASTERS)))
        for b, bs in self.bindings_of(s, groups):
            if b.role is None:
                continue
            ns = b.ref.namespace
            for rule in b.role.rules:
                resources = rule.resources
                urls = rule.non_resource_urls
                if ns is not None:
                    urls = ()
                    resources = tuple(r for r in resources if not self._only_cluster_scoped(rule.api_groups, r))
                    if not resources:
                        continue
                if not resources and not urls:
                    continue
                rows.append(
                    PermissionRow(
                        ns,
                        rule.verbs,
                        rule.api_groups if resources else (),
                        resources,
                        rule.resource_names,
                        urls,
                        b.ref,
                        b.role_ref,
                        bs,
                    )
                )
        rows.sort(
            key=lambda r: (
                r.namespace is not None,
                r.namespace or "",
                r.binding is not None,
                r.binding or BindingRef("", ""),
                r.role or RoleRef("", ""),
            )
        )
        return rows

    def _only_cluster_scoped(self, groups: Sequence[str], resource: str) -> bool:
        base = resource.split("/", 1)[0]
        if base in ("*", "namespaces") or not groups:
            return False
        return all(self.is_cluster_scoped(g, base) for g in groups)

    def subjects(self) -> list[Subject]:
        """Every subject named by a binding (valid ones), sorted."""
        return sorted({s for b in self.bindings for s in b.subjects}, key=subject_order)


class _QueryIndex:
    """Who-can lookups of an index: the rules of bound roles by resource, and the bindings by role.

    A rule is filed under each resource it names; a request looks up its ``resource[/sub]``, ``*``
    and ``*/sub`` in its namespace and cluster-wide, so that a query touches only the rules that
    may match instead of every rule of every role.
    """

    __slots__ = ("buckets", "crbs", "grants", "rbs", "url_rules")

    def __init__(self, index: RbacIndex) -> None:
        # (role namespace or None for ClusterRoles, resource entry of a rule) -> [(role, rule)]
        self.buckets: dict[tuple[str | None, str], list[tuple[RoleRef, PolicyRule]]] = defaultdict(list)
        self.url_rules: list[tuple[RoleRef, PolicyRule]] = []
        self.crbs: dict[str, list[Binding]] = defaultdict(list)  # ClusterRole name -> ClusterRoleBindings
        self.rbs: dict[tuple[RoleRef, str], list[Binding]] = defaultdict(list)  # (role, ns) -> RoleBindings
        self.grants: dict[Binding, list[tuple[tuple[str, ...], Grant]]] = {}  # sort key and grant per subject
        bound: dict[RoleRef, None] = {}
        for b in index.bindings:
            self.grants[b] = [
                (
                    (
                        s.kind,
                        s.namespace or "",
                        s.name,
                        b.ref.kind,
                        b.ref.namespace or "",
                        b.ref.name,
                        b.role_ref.kind,
                        b.role_ref.name,
                    ),
                    Grant(s, b.ref, b.role_ref),
                )
                for s in b.subjects
            ]
            if b.role is None:
                continue
            if b.ref.namespace is None:
                self.crbs[b.role_ref.name].append(b)
            else:
                self.rbs[(b.role_ref, b.ref.namespace)].append(b)
            bound[b.role_ref] = None
        for ref in bound:
            role = index.roles[ref]
            for rule in role.rules:
                for r in dict.fromkeys(rule.resources):
                    self.buckets[(ref.namespace, r)].append((ref, rule))
                if rule.non_resource_urls and ref.kind == "ClusterRole" and ref.name in self.crbs:
                    self.url_rules.append((ref, rule))

    def matching_roles(self, req: Request) -> dict[RoleRef, PolicyRule]:
        out: dict[RoleRef, PolicyRule] = {}
        if req.path is not None:
            for ref, rule in self.url_rules:
                if ref not in out and rule.grants_url(req.verb, req.path):
                    out[ref] = rule
            return out
        combined = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
        keys = [combined, "*"] + ([f"*/{req.subresource}"] if req.subresource else [])
        scopes: list[str | None] = [None] + ([req.namespace] if req.namespace else [])
        for sc in scopes:
            for k in keys:
                for ref, rule in self.buckets.get((sc, k), ()):
                    if (
                        ref not in out
                        and rule.verb_matches(req.verb)
                        and rule.group_matches(req.group)
                        and rule.name_matches(req.name)
                    ):
                        out[ref] = rule
        return out

    def who_can(self, req: Request) -> list[Grant]:
        items: list[tuple[tuple[str, ...], Grant]] = []
        for ref in self.matching_roles(req):
            if ref.kind == "ClusterRole":
                bindings = list(self.crbs.get(ref.name, ()))
                if req.namespace and req.path is None:
                    bindings.extend(self.rbs.get((ref, req.namespace), ()))
            else:
                bindings = list(self.rbs.get((ref, req.namespace), ())) if req.namespace and req.path is None else []
            for b in bindings:
                items.extend(self.grants[b])
        items = list(dict.fromkeys(items))
        items.sort(key=lambda item: item[0])
        return [g for _, g in items]
