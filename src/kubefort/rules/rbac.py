"""RBAC rules: roles, bindings, service accounts and the permissions workloads inherit.

Semantics (Kubernetes RBAC authorizer, ``pkg/apis/rbac/v1/evaluation_helpers.go``; catalogue legend 6):

- A PolicyRule grants verb V on ``resource[/subresource]`` in group G exactly as
  :class:`kubefort.analysis.rbac.policy.PolicyRule` matches it (``*``, ``*/sub``, no ``pods/*``).
  A rule with ``resourceNames`` grants only for those names: it is reported with sub-code ``named``
  one severity lower. Name-less requests (``create`` of an object, ``deletecollection``) never match
  a rule with ``resourceNames``, so such a rule grants nothing for them.
- A Role, and a ClusterRole bound by a RoleBinding, applies inside one namespace: it cannot grant
  cluster-scoped resources (nodes, persistentvolumes, clusterroles, clusterrolebindings, CSRs,
  signers, admission configurations, user/group/uid/userextra impersonation). The one exception is
  ``bind`` on ``clusterroles``: a RoleBinding of a ClusterRole is authorized against the binding's
  namespace, so a Role can delegate binding ClusterRoles there.
- An aggregated ClusterRole (``aggregationRule``) holds the union of the rules of every other
  ClusterRole whose labels match one of its ``clusterRoleSelectors`` (transitively; its own written
  rules are overwritten by the controller). Role-level findings judge rules as written; cluster mode
  also judges the rules a ClusterRole aggregates. Bindings are judged on the aggregated rules.
- The default ClusterRoles ``cluster-admin``, ``admin``, ``edit``, ``view`` (and a few ``system:``
  roles commonly bound by add-ons) are known from the Kubernetes bootstrap policy, so bindings to
  them are judged even when the input does not contain them.
- Roles named ``system:*`` and the default ``cluster-admin``/``admin``/``edit``/``view`` ClusterRoles are
  skipped at role level unless the parameter ``include_system`` is true; bindings to them are judged.
- In cluster mode every binding of a failing role is reported too, with its subjects (KF-RBAC-001 and
  -002 aside: the bindings of wildcard roles are KF-RBAC-005). In manifest mode only the rules that say
  so report bindings (KF-RBAC-007 for ServiceAccount/Node subjects, KF-RBAC-008 for all subjects).
- A binding whose role is not in the input (and not a known default role) cannot be judged: not
  evaluated in manifest mode; in cluster mode a dangling ``roleRef`` grants nothing.

The RBAC model (roleRefs, aggregation with the provenance of every rule, default roles, subjects,
scoping, PolicyRule matching) is :mod:`kubefort.analysis.rbac`; this module holds what each rule looks
for and how it says so. A rule's scope is a namespace, or None for cluster-wide (a ClusterRole, a
ClusterRoleBinding), as in the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.rbac.index import Binding, RbacIndex, Role, RoleRef, RoleRule, written_role_ref, written_rules
from ..analysis.rbac.policy import GrantCoverage, PolicyRule
from ..analysis.rbac.subjects import SA_PREFIX, Subject, names_service_account_or_node
from ..engine.fixes import FixAt, SetField, fix
from ..engine.rule import Context, NotEvaluated, NotInScope, Scope, Severity, Violation, rule
from ..model.objects import K8sObject, Path
from ..model.workloads import ContainerSet, PodSpecView

NSA = "NSA/CISA: authentication & authorization"
RBAC = "rbac.authorization.k8s.io"
AUTHN = "authentication.k8s.io"
CERTS = "certificates.k8s.io"
ADMREG = "admissionregistration.k8s.io"
ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
RBAC_KINDS = ROLE_KINDS + BINDING_KINDS
#: what the RBAC index reads (:meth:`RbacIndex.build`): roles, bindings, and CRDs (custom resources' scope)
_INDEX_READS = (*RBAC_KINDS, "CustomResourceDefinition")
DEFAULT_USER_ROLES = frozenset({"cluster-admin", "admin", "edit", "view"})
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
INCLUDE_SYSTEM = {"include_system": False}


# --------------------------------------------------------------------------------------------
# what a check asks about, and what one rule allows of it


@dataclass(frozen=True, slots=True)
class ApiResource:
    """A resource a check asks about: API group, resource and subresource (``any_sub``: every
    subresource at once, as ``userextras/*``)."""

    group: str
    resource: str
    sub: str | None = None
    any_sub: bool = False

    @property
    def label(self) -> str:
        if self.any_sub:
            return f"{self.resource}/*"
        return f"{self.resource}/{self.sub}" if self.sub else self.resource


@dataclass(frozen=True, slots=True)
class Allowed:
    """What one PolicyRule allows of the verbs and resources a check asks about; ``named``: only for
    the objects of its resourceNames (``names``)."""

    verbs: tuple[str, ...]
    resources: tuple[ApiResource, ...]
    named: bool
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Risk:
    """A risky permission found in one rule of a role."""

    what: str
    field: str | None = None  # the field of the rule entry the finding points at
    severity: Severity | None = None
    subcode: str | None = None
    verb: str = "grants"  # how the role-level message says it: 'Role "x" grants ...'


#: judges one rule of a role: (the rule, its scope, the context, every rule of the role) -> a risk or None
Judge = Callable[[RoleRule, str | None, Context, Sequence[PolicyRule]], Risk | None]


def _res(spec: str) -> ApiResource:
    """``"group:resource[/sub]"`` -> ApiResource (group may be empty)."""
    group, _, res = spec.rpartition(":")
    resource, _, sub = res.partition("/")
    return ApiResource(group, resource, sub or None)


def resources_of(*specs: str) -> tuple[ApiResource, ...]:
    return tuple(_res(s) for s in specs)


def _coverage(pr: PolicyRule, verb: str, t: ApiResource, scope: str | None) -> GrantCoverage:
    return pr.coverage(verb, t.group, t.resource, t.sub, namespaced=scope is not None, any_subresource=t.any_sub)


def _allowed(pr: PolicyRule, verbs: Sequence[str], wanted: Sequence[ApiResource], scope: str | None) -> Allowed | None:
    # prefilter on the cheap dimensions: most rules grant none of the verbs or groups asked about
    verbs = [v for v in verbs if pr.verb_matches(v)]
    if not verbs:
        return None
    wanted = [t for t in wanted if pr.group_matches(t.group)]
    if not wanted:
        return None
    namespaced = scope is not None
    gv: list[str] = []
    gt: list[ApiResource] = []
    best = GrantCoverage.NONE
    for v in verbs:
        for t in wanted:
            cov = pr.coverage(v, t.group, t.resource, t.sub, namespaced=namespaced, any_subresource=t.any_sub)
            if cov:
                best = max(best, cov)
                if v not in gv:
                    gv.append(v)
                if t not in gt:
                    gt.append(t)
    if not best:
        return None
    named = best is GrantCoverage.NAMED
    return Allowed(tuple(gv), tuple(gt), named=named, names=pr.resource_names if named else ())


def _describe(pr: PolicyRule, g: Allowed) -> str:
    verbs = "* (every verb)" if "*" in pr.verbs else ", ".join(g.verbs)
    res = ", ".join(dict.fromkeys(t.label for t in g.resources))
    if "*" in pr.resources:
        res = f"* (every resource, including {res})"
    text = f"{verbs} on {res}"
    if g.named:
        text += f" (only resourceNames {', '.join(g.names)})"
    return text


def _risk(
    pr: PolicyRule,
    verbs: Sequence[str],
    wanted: Sequence[ApiResource],
    scope: str | None,
    base: Severity,
    field: str = "verbs",
) -> Risk | None:
    g = _allowed(pr, verbs, wanted, scope)
    if g is None:
        return None
    if g.named:
        return Risk(_describe(pr, g), field, base.lower(), "named")
    return Risk(_describe(pr, g), field)


def _scope_subcode(scope: str | None) -> str:
    return "cluster" if scope is None else "namespace"


def _in_kube_system(scope: str | None) -> bool:
    return scope is None or scope == "kube-system"


# --------------------------------------------------------------------------------------------
# the RBAC index of the inventory, and the objects as the rules see them


def _index(ctx: Context) -> RbacIndex:
    """The RBAC index of the scan's inventory (kept by the inventory). Default roles are assumed and
    aggregation is computed even for a live cluster, so that a rule judges the same permissions from
    a cluster as from its manifests."""
    return RbacIndex.for_inventory(ctx.inventory, builtin_roles=True, aggregate=True)


def _is_cluster(ctx: Context) -> bool:
    return ctx.mode == "cluster" or ctx.inventory.live


def _subjects(binding: K8sObject) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The subject entries of a binding object as written, with their positions (findings point at them)."""
    subs = binding.get("subjects")
    if isinstance(subs, list):
        for i, s in enumerate(subs):
            if isinstance(s, dict):
                yield i, s


def _subject_ns(binding: K8sObject) -> str | None:
    return binding.namespace if binding.kind == "RoleBinding" else None


def _subject_text(s: Mapping[str, Any], binding: K8sObject) -> str:
    kind, name = s.get("kind"), s.get("name")
    if kind == "ServiceAccount":
        ns = s.get("namespace") or _subject_ns(binding) or "?"
        return f'ServiceAccount "{ns}/{name}"'
    return f'{kind} "{name}"'


def _role_label(role: Role) -> str:
    builtin = " (default role)" if role.builtin else ""
    return f'{role.ref.kind} "{role.ref.name}"{builtin}'


def _ref_label(binding: K8sObject) -> str:
    kind, name = written_role_ref(binding)
    return f'{kind or "role"} "{name}"'


def _gathered(e: RoleRule, role_name: str) -> str:
    """Where a rule comes from when an aggregated ClusterRole gathers it from another ClusterRole."""
    return f' (aggregated from ClusterRole "{e.source.name}")' if e.source.name != role_name else ""


def _binding_scope(binding: K8sObject) -> str | None:
    return None if binding.kind == "ClusterRoleBinding" else binding.namespace


def _skip_role(role: K8sObject, ctx: Context) -> bool:
    if ctx.params.get("include_system") is True:
        return False
    return role.name.startswith("system:") or (role.kind == "ClusterRole" and role.name in DEFAULT_USER_ROLES)


def _resolve(binding: K8sObject, ctx: Context) -> Role | None:
    """The role a binding grants (its effective rules are ``sources``). None when it grants nothing (a
    dangling roleRef in cluster mode, a roleRef the API server rejects). NotEvaluated when the input
    lacks it."""
    ref, role = _index(ctx).role_for(binding)
    if ref is None:
        return None  # rejected by the API server: grants nothing
    if role is None:
        if _is_cluster(ctx):
            return None  # a dangling roleRef grants nothing
        raise NotEvaluated(f'{ref.kind} "{ref.name}" referenced by roleRef is not in the input')
    if role.aggregated and not role.sources and not _is_cluster(ctx):
        raise NotEvaluated(
            f"{_role_label(role)} is aggregated and none of the ClusterRoles it aggregates is in the input"
        )
    return role


# --------------------------------------------------------------------------------------------
# the generic role rule: judge Role/ClusterRole rule entries, and bindings of failing roles


def _role_violations(role: K8sObject, ctx: Context, judge: Judge) -> Iterator[tuple[RoleRule, Risk, Path]]:
    scope = None if role.kind == "ClusterRole" else role.namespace
    written = written_rules(role)
    extra: Sequence[RoleRule] = ()
    if _is_cluster(ctx) and role.kind == "ClusterRole":
        effective = _index(ctx).role_of(role)
        if effective is not None and effective.aggregated:
            own = {e.rule for e in written}
            extra = [e for e in effective.sources if e.rule not in own]
    prs = [e.rule for e in written] + [e.rule for e in extra]
    for e in written:
        hit = judge(e, scope, ctx, prs)
        if hit is not None:
            yield e, hit, ("rules", e.index) + ((hit.field,) if hit.field else ())
    for e in extra:
        hit = judge(e, scope, ctx, prs)
        if hit is not None:
            yield e, hit, ("aggregationRule",)


def _judge_role(role: K8sObject, ctx: Context, judge: Judge) -> Iterator[Violation]:
    if _skip_role(role, ctx):
        raise NotInScope  # a default or system: role, left out unless include_system is set
    for e, hit, path in _role_violations(role, ctx, judge):
        yield Violation(
            path,
            f'{role.kind} "{role.name}" {hit.verb} {hit.what}{_gathered(e, role.name)}',
            severity=hit.severity,
            subcode=hit.subcode,
        )


def _binding_hits(binding: K8sObject, ctx: Context, judge: Judge) -> tuple[Role, list[tuple[RoleRule, Risk]]] | None:
    role = _resolve(binding, ctx)
    if role is None:
        return None
    scope = _binding_scope(binding)
    hits = [(e, h) for e in role.sources if (h := judge(e, scope, ctx, role.rules)) is not None]
    return role, hits


def _hits_text(role: Role, hits: Sequence[tuple[RoleRule, Risk]]) -> str:
    return "; ".join(h.what + _gathered(e, role.ref.name) for e, h in hits)


def _worst(hits: Sequence[tuple[RoleRule, Risk]], base: Severity) -> tuple[Severity | None, str | None]:
    best = max(hits, key=lambda eh: eh[1].severity if eh[1].severity is not None else base)
    return best[1].severity, best[1].subcode


def _judge_binding(binding: K8sObject, ctx: Context, judge: Judge, base: Severity, policy: str) -> Iterator[Violation]:
    """policy: ``cluster`` (reported in cluster mode only), ``sa_node`` (ServiceAccount/Node subjects in
    manifest mode, every subject in cluster mode), ``all`` (every subject), ``sa_node_always``."""
    cluster = _is_cluster(ctx)
    if policy == "cluster" and not cluster:
        raise NotInScope  # a manifest scan judges the role itself, not each binding of it
    only_sa_node = policy == "sa_node_always" or (policy == "sa_node" and not cluster)
    written = list(_subjects(binding))
    subjects = [(i, s) for i, s in written if not only_sa_node or names_service_account_or_node(s)]
    if not subjects:
        if written:
            raise NotInScope  # only ServiceAccount and Node subjects are judged here
        return  # a binding without subjects grants nothing
    found = _binding_hits(binding, ctx, judge)
    if found is None or not found[1]:
        return
    role, hits = found
    sev, sub = _worst(hits, base)
    perms = _hits_text(role, hits)
    for i, s in subjects:
        yield Violation(
            ("subjects", i),
            f'{binding.kind} "{binding.name}" binds {_subject_text(s, binding)} to '
            f"{_role_label(role)}, which grants {perms}",
            severity=sev,
            subcode=sub,
        )


def _role_rule(
    judge: Judge, base: Severity, policy: str = "cluster"
) -> Callable[[K8sObject, Context], Iterator[Violation]]:
    def fn(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
        if obj.kind in ROLE_KINDS:
            yield from _judge_role(obj, ctx, judge)
        elif obj.kind in BINDING_KINDS:
            yield from _judge_binding(obj, ctx, judge, base, policy)

    return fn


def _simple(verbs: Sequence[str], wanted: Sequence[ApiResource], base: Severity, field: str = "verbs") -> Judge:
    def judge(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
        return _risk(e.rule, verbs, wanted, scope, base, field)

    return judge


def _refs(**kw: Any) -> dict[str, Any]:
    return {**kw, "nsa": NSA}


# --------------------------------------------------------------------------------------------
# KF-RBAC-001 .. 004: wildcards


def _full_wildcard(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    pr = e.rule
    if "*" in pr.api_groups and "*" in pr.resources and "*" in pr.verbs:
        if pr.resource_names:
            return Risk(
                f"every verb on every resource of every API group, limited to resourceNames "
                f"{', '.join(pr.resource_names)}",
                None,
                Severity.CRITICAL.lower(),
                "named",
            )
        return Risk('full access: apiGroups "*", resources "*", verbs "*"')
    if scope is None and "*" in pr.non_resource_urls and "*" in pr.verbs:
        return Risk('every verb on every non-resource URL (nonResourceURLs "*", verbs "*")', "nonResourceURLs")
    return None


@rule(
    id="KF-RBAC-001",
    slug="role-full-wildcard",
    title="Role grants full wildcard access",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=ROLE_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="A rule with every verb on every resource of every API group is cluster-admin (or namespace-admin) "
    "power, including writing RBAC, reading every Secret and running privileged pods.",
    remediation="List the API groups, resources and verbs the subject needs instead of '*'.",
    refs=_refs(trivy="KSV-0044"),
)
def role_full_wildcard(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _judge_role(obj, ctx, _full_wildcard)


_WILDCARD_FIELDS = (("apiGroups", "api_groups"), ("resources", "resources"), ("verbs", "verbs"))


def _wildcards(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    fields = [f for f, attr in _WILDCARD_FIELDS if "*" in getattr(e.rule, attr)]
    if not fields:
        return None
    return Risk(f'"*" in {", ".join(fields)}', fields[0], None, "+".join(fields), verb="has a rule with")


@rule(
    id="KF-RBAC-002",
    slug="rbac-wildcard",
    title="Wildcard used in RBAC rules",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=ROLE_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="A wildcard grants every current and future verb, resource or API group, including CRDs installed "
    "later: the role silently grows.",
    remediation="Replace '*' in verbs, resources and apiGroups with explicit lists.",
    refs=_refs(cis="5.1.3", kubescape="C-0187", checkov="CKV_K8S_49", **{"kube-linter": "wildcard-in-rules"}),
)
def rbac_wildcard(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _judge_role(obj, ctx, _wildcards)


SENSITIVE = resources_of(
    ":secrets",
    ":pods",
    "apps:deployments",
    "apps:daemonsets",
    "apps:statefulsets",
    ":replicationcontrollers",
    "apps:replicasets",
    "batch:cronjobs",
    "batch:jobs",
    f"{RBAC}:roles",
    f"{RBAC}:clusterroles",
    f"{RBAC}:rolebindings",
    f"{RBAC}:clusterrolebindings",
    ":users",
    ":groups",
)


def _any_verb_sensitive(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    if "*" not in e.rule.verbs:
        return None
    return _risk(e.rule, ["*"], SENSITIVE, scope, Severity.HIGH)


_RUN_003 = _role_rule(_any_verb_sensitive, Severity.HIGH)


@rule(
    id="KF-RBAC-003",
    slug="any-verb-sensitive-resource",
    title="Any verb on a sensitive resource",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Every verb on Secrets, workloads or RBAC objects includes the ones that read credentials, run "
    "code in the namespace or rewrite permissions.",
    remediation="Grant only the verbs needed (for example get, list, watch) on these resources.",
    refs=_refs(trivy="KSV-0045"),
)
def any_verb_sensitive(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_003(obj, ctx)


# the catalogue's verbs plus watch (streams full objects, Secrets included) and patch (modifies like update)
ALL_RESOURCE_VERBS = (
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "impersonate",
    "*",
)


#: API groups that serve read-only metrics and nothing else (the resource metrics API, custom and
#: external metrics): resources "*" there reaches no object of the cluster, Secrets or RBAC included.
METRICS_GROUPS = frozenset({"metrics.k8s.io", "custom.metrics.k8s.io", "external.metrics.k8s.io"})


def _all_resources(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    pr = e.rule
    if "*" not in pr.resources:
        return None
    if pr.api_groups and all(g in METRICS_GROUPS for g in pr.api_groups):
        return None  # every resource of the metrics APIs is a read-only metric, not "all resources"
    verbs = ["*"] if "*" in pr.verbs else [v for v in ALL_RESOURCE_VERBS if v in pr.verbs]
    if not verbs:
        return None
    groups = ", ".join(f'"{g}"' for g in pr.api_groups) or "none"
    what = f'{", ".join(verbs)} on every resource (resources "*") of apiGroups {groups}'
    if pr.resource_names:
        return Risk(
            what + f" (only resourceNames {', '.join(pr.resource_names)})", "resources", Severity.HIGH.lower(), "named"
        )
    return Risk(what, "resources", None, _scope_subcode(scope))


_RUN_004 = _role_rule(_all_resources, Severity.HIGH)


@rule(
    id="KF-RBAC-004",
    slug="access-all-resources",
    title="Access to all resources",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="resources '*' covers Secrets, RBAC objects and every custom resource, present and future.",
    remediation="List the resources the subject needs instead of '*'.",
    refs=_refs(trivy=("KSV-0046", "KSV-0112")),
)
def access_all_resources(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_004(obj, ctx)


# --------------------------------------------------------------------------------------------
# KF-RBAC-005, 006: cluster-admin bindings and system:masters

_BROAD_GROUPS = ("system:authenticated", "system:unauthenticated", "system:serviceaccounts")


def _admin_allowed(ctx: Context) -> set[str]:
    """kube-system ServiceAccount names allowed by ``rbac_admin_allow`` (``name``, ``kube-system/name``,
    ``kube-system:name`` or ``system:serviceaccount:kube-system:name``)."""
    out = set()
    for entry in ctx.params.get("rbac_admin_allow") or []:
        if not isinstance(entry, str):
            continue
        text = entry.strip()
        if text.startswith(SA_PREFIX):
            text = text[len(SA_PREFIX) :]
        for sep in ("/", ":"):
            if sep in text:
                ns, _, name = text.partition(sep)
                if ns == "kube-system" and name:
                    out.add(name)
                break
        else:
            if text:
                out.add(text)
    return out


def _admin_exempt(s: Mapping[str, Any], binding: K8sObject, allowed: set[str]) -> bool:
    """system:-prefixed users and groups (except everyone-groups and service accounts), and kube-system
    ServiceAccounts listed in rbac_admin_allow."""
    kind, name = s.get("kind"), s.get("name")
    if not isinstance(name, str):
        return True  # not a subject: grants nothing
    if kind == "ServiceAccount":
        ns = s.get("namespace") or _subject_ns(binding)
        return ns == "kube-system" and name in allowed
    if kind == "User" and name.startswith(SA_PREFIX):
        ns, _, sa = name[len(SA_PREFIX) :].partition(":")
        return ns == "kube-system" and sa in allowed
    if kind in ("User", "Group"):
        if name in _BROAD_GROUPS or name == "system:anonymous" or name.startswith("system:serviceaccounts:"):
            return False
        return name.startswith("system:")
    return True


def _listed_admin(binding: K8sObject, ctx: Context) -> str | None:
    """The reason when a binding references a ClusterRole listed in ``admin_roles`` (no need to resolve it)."""
    kind, name = written_role_ref(binding)
    if kind == "ClusterRole" and name in (ctx.params.get("admin_roles") or []):
        return "an admin role listed in admin_roles"
    return None


def _full_access(role: Role | None) -> str | None:
    """The reason when a role's effective rules hold full wildcard access (None: it grants nothing)."""
    if role is None:
        return None
    for e in role.sources:
        pr = e.rule
        if "*" in pr.api_groups and "*" in pr.resources and "*" in pr.verbs and not pr.resource_names:
            src = f' via aggregated ClusterRole "{e.source.name}"' if e.source.name != role.ref.name else ""
            return f"its rules grant full wildcard access{src}"
    return None


@rule(
    id="KF-RBAC-005",
    slug="cluster-admin-binding",
    title="Binding grants cluster-admin equivalent power",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    params={"admin_roles": ["cluster-admin"], "rbac_admin_allow": []},
    cross_object=True,
    needs=_INDEX_READS,
    rationale="Whoever holds cluster-admin (or a role with full wildcard access) controls every workload, Secret "
    "and permission of the cluster, or of the namespace for a RoleBinding.",
    remediation="Bind a least-privilege role instead; keep cluster-admin for break-glass users and built-in "
    "system components.",
    refs=_refs(
        cis="5.1.1",
        kubescape=("C-0185", "C-0035"),
        trivy="KSV-0111",
        polaris=("clusterrolebindingClusterAdmin", "rolebindingClusterAdminClusterRole", "rolebindingClusterAdminRole"),
        **{"kube-linter": "cluster-admin-role-binding"},
    ),
)
def cluster_admin_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    allowed = _admin_allowed(ctx)
    subjects = [(i, s) for i, s in _subjects(obj) if not _admin_exempt(s, obj, allowed)]
    if not subjects:
        return
    reason = _listed_admin(obj, ctx) or _full_access(_resolve(obj, ctx))
    if reason is None:
        return
    where = "cluster-wide" if obj.kind == "ClusterRoleBinding" else f'in namespace "{obj.namespace}"'
    for i, s in subjects:
        yield Violation(
            ("subjects", i),
            f'{obj.kind} "{obj.name}" grants {_ref_label(obj)} {where} to {_subject_text(s, obj)} ({reason})',
        )


@rule(
    id="KF-RBAC-006",
    slug="system-masters-binding",
    title="Binding to the system:masters group",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    rationale="Members of system:masters bypass RBAC entirely and the grant cannot be revoked without "
    "rotating credentials; the group must never be used in bindings.",
    remediation="Remove the system:masters subject and bind named users or groups to least-privilege roles.",
    refs=_refs(cis="5.1.7", kubescape="C-0246", trivy="KSV-0123"),
)
def system_masters_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if (
        obj.kind == "ClusterRoleBinding"
        and obj.name == "cluster-admin"
        and obj.labels.get("kubernetes.io/bootstrapping") == "rbac-defaults"
        and written_role_ref(obj) == ("ClusterRole", "cluster-admin")
    ):
        return  # the bootstrap binding every cluster has (system:masters is authorized before RBAC anyway)
    for i, s in _subjects(obj):
        if s.get("kind") == "Group" and s.get("name") == "system:masters":
            yield Violation(
                ("subjects", i),
                f'{obj.kind} "{obj.name}" binds {_ref_label(obj)} to Group '
                '"system:masters" (members bypass RBAC authorization entirely)',
            )


# --------------------------------------------------------------------------------------------
# KF-RBAC-007 .. 019: dangerous permissions


SECRETS = resources_of(":secrets")


def _secret_read(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    verbs = [v for v in (ctx.params.get("secret_verbs") or ["get", "list", "watch"]) if isinstance(v, str)]
    g = _allowed(e.rule, verbs, SECRETS, scope)
    if g is None:
        return None
    if g.named:
        return Risk(_describe(e.rule, g), "verbs", Severity.HIGH.lower(), "named")
    return Risk(_describe(e.rule, g), "verbs", None, _scope_subcode(scope))


_RUN_007 = _role_rule(_secret_read, Severity.HIGH, "sa_node")


@rule(
    id="KF-RBAC-007",
    slug="secrets-read-access",
    title="Read access to Secrets",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params={**INCLUDE_SYSTEM, "secret_verbs": ["get", "list", "watch"]},
    cross_object=True,  # bindings are judged on the roles they reference
    needs=_INDEX_READS,
    rationale="Secrets hold service account tokens, TLS keys and credentials; reading them is usually a step "
    "to other identities and systems (list and watch return the values too).",
    remediation="Limit Secret access to the named Secrets the workload needs (resourceNames, get only), or mount "
    "them instead of reading them through the API.",
    refs=_refs(
        cis="5.1.2",
        kubescape=("C-0015", "C-0186"),
        checkov="CKV2_K8S_5",
        trivy=("KSV-0041", "KSV-0113"),
        **{"kube-linter": "access-to-secrets"},
    ),
)
def secrets_read_access(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_007(obj, ctx)


_exec = _simple(("create", "get"), resources_of(":pods/exec", ":pods/attach"), Severity.HIGH)


_RUN_008 = _role_rule(_exec, Severity.HIGH, "all")


@rule(
    id="KF-RBAC-008",
    slug="pods-exec-attach",
    title="Exec or attach into pods",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    cross_object=True,  # bindings are judged on the roles they reference
    needs=_INDEX_READS,
    rationale="Exec and attach run commands inside running containers, with their Secrets, tokens and network "
    "position; get is enough for websocket-based exec.",
    remediation="Remove create/get on pods/exec and pods/attach, or keep them in a break-glass role.",
    refs=_refs(
        kubescape="C-0002",
        checkov="CKV2_K8S_2",
        trivy=("KSV-0053", "KSV-0054"),
        polaris=(
            "clusterrolePodExecAttach",
            "rolePodExecAttach",
            "clusterrolebindingPodExecAttach",
            "rolebindingClusterRolePodExecAttach",
            "rolebindingRolePodExecAttach",
        ),
    ),
)
def pods_exec_attach(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_008(obj, ctx)


_RUN_009 = _role_rule(_simple(("create", "get"), resources_of(":pods/portforward"), Severity.MEDIUM), Severity.MEDIUM)


@rule(
    id="KF-RBAC-009",
    slug="pods-portforward",
    title="Port-forward into pods",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Port-forward reaches any port of a pod from the client, bypassing NetworkPolicies and Services.",
    remediation="Remove create/get on pods/portforward from roles that do not need debugging access.",
    refs=_refs(kubescape="C-0063"),
)
def pods_portforward(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_009(obj, ctx)


POD_CONTROLLERS = resources_of(
    ":pods",
    "apps:deployments",
    "apps:replicasets",
    "apps:statefulsets",
    "apps:daemonsets",
    "batch:jobs",
    "batch:cronjobs",
    ":replicationcontrollers",
    ":podtemplates",
)
_pod_write = _simple(("create", "update", "patch"), POD_CONTROLLERS, Severity.HIGH)


_RUN_010 = _role_rule(_pod_write, Severity.HIGH)


@rule(
    id="KF-RBAC-010",
    slug="pods-create-modify",
    title="Create or modify pods and pod controllers",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Whoever can create pods (directly or through a controller) can mount any Secret or "
    "ServiceAccount of the namespace and, without admission control, run privileged containers.",
    remediation="Grant pod and controller writes only to deployment tooling, with Pod Security admission enforced.",
    refs=_refs(cis="5.1.4", kubescape="C-0188", trivy="KSV-0048", **{"kube-linter": "access-to-create-pods"}),
)
def pods_create_modify(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_010(obj, ctx)


RBAC_ROLES = resources_of(f"{RBAC}:roles", f"{RBAC}:clusterroles")
BINDINGS = resources_of(f"{RBAC}:rolebindings", f"{RBAC}:clusterrolebindings")
_escalate = _simple(("escalate",), RBAC_ROLES, Severity.CRITICAL)


_RUN_011 = _role_rule(_escalate, Severity.CRITICAL)


@rule(
    id="KF-RBAC-011",
    slug="rbac-escalate",
    title="escalate verb on roles",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="escalate lifts RBAC's privilege-escalation check: the holder can write roles with permissions it "
    "does not have, up to cluster-admin.",
    remediation="Remove escalate (and '*') on roles and clusterroles.",
    refs=_refs(cis="5.1.8", kubescape="C-0191", checkov="CKV_K8S_158", trivy="KSV-0050"),
)
def rbac_escalate(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_011(obj, ctx)


def _bind(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    hit = _risk(e.rule, ("bind",), RBAC_ROLES, scope, Severity.CRITICAL)
    if hit is None or hit.subcode == "named":
        return hit
    creates = [t.label for t in BINDINGS if any(_coverage(p, "create", t, scope) is GrantCoverage.EVERY for p in prs)]
    if creates:
        return Risk(
            f"{hit.what}, with create on {', '.join(creates)} in the same role", hit.field, None, "with_binding_create"
        )
    return hit


_RUN_012 = _role_rule(_bind, Severity.CRITICAL)


@rule(
    id="KF-RBAC-012",
    slug="rbac-bind",
    title="bind verb on roles",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="bind lets the holder create bindings to roles with permissions it does not have; with create on "
    "bindings it can grant itself any role it may bind.",
    remediation="Remove bind (and '*') on roles and clusterroles, or limit it with resourceNames to low-privilege roles.",
    refs=_refs(cis="5.1.8", kubescape="C-0191", checkov="CKV_K8S_157", trivy=("KSV-0050", "KSV-0051", "KSV-0052")),
)
def rbac_bind(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_012(obj, ctx)


IMPERSONATION = (
    _res(":users"),
    _res(":groups"),
    _res(":serviceaccounts"),
    _res(f"{AUTHN}:uids"),
    ApiResource(AUTHN, "userextras", any_sub=True),
)


def _impersonate(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    g = _allowed(e.rule, ("impersonate",), IMPERSONATION, scope)
    if g is None:
        return None
    what = _describe(e.rule, g)
    groups = any(t.resource == "groups" for t in g.resources)
    if g.named and not (groups and "system:masters" in g.names):
        return Risk(what, "verbs", Severity.CRITICAL.lower(), "named")
    return Risk(what, "verbs", None, "groups" if groups else None)


_RUN_013 = _role_rule(_impersonate, Severity.CRITICAL)


@rule(
    id="KF-RBAC-013",
    slug="rbac-impersonate",
    title="impersonate permission",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Impersonation acts as another user, group or service account; impersonating a group such as "
    "system:masters is cluster-admin.",
    remediation="Remove impersonate, or limit it with resourceNames to the identities a tool must act as.",
    refs=_refs(cis="5.1.8", kubescape=("C-0065", "C-0191"), checkov="CKV2_K8S_3", trivy="KSV-0043"),
)
def rbac_impersonate(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_013(obj, ctx)


_binding_write = _simple(("create", "update", "patch"), BINDINGS, Severity.HIGH)


@rule(
    id="KF-RBAC-014",
    slug="rolebinding-write",
    title="Write access to role bindings",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    # whether a role fails is the role's alone; its message names the ServiceAccounts and nodes bound to it
    needs=_INDEX_READS,
    rationale="Writing bindings grants roles to any subject (within the bind/escalate checks); in the hands of a "
    "ServiceAccount or node it is a path to privilege escalation from a compromised pod.",
    remediation="Keep binding writes to humans and RBAC tooling; never to workload ServiceAccounts.",
    refs=_refs(checkov="CKV2_K8S_1", trivy="KSV-0055"),
)
def rolebinding_write(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.kind in BINDING_KINDS:
        yield from _judge_binding(obj, ctx, _binding_write, Severity.HIGH, "cluster")
        return
    if _skip_role(obj, ctx):
        raise NotInScope
    found = list(_role_violations(obj, ctx, _binding_write))
    if not found:
        return
    holders: list[str] = []
    for b in _index(ctx).bindings_granting(RoleRef.of(obj)):
        holders.extend(
            f'{_subject_text(s, b.obj)} (via {b.obj.kind} "{b.obj.name}")'
            for _, s in _subjects(b.obj)
            if names_service_account_or_node(s)
        )
    for e, hit, path in found:
        msg = f'{obj.kind} "{obj.name}" grants {hit.what}{_gathered(e, obj.name)}'
        if holders:
            yield Violation(
                path,
                f"{msg}; it is bound to {', '.join(holders)}",
                severity=hit.severity,
                subcode="sa_or_node" if hit.subcode != "named" else hit.subcode,
            )
        else:
            yield Violation(path, msg, severity=hit.severity, subcode=hit.subcode)


_nodes_proxy = _simple(("get", "create"), resources_of(":nodes/proxy"), Severity.HIGH)


_RUN_015 = _role_rule(_nodes_proxy, Severity.HIGH)


@rule(
    id="KF-RBAC-015",
    slug="nodes-proxy",
    title="Access to nodes/proxy",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="nodes/proxy reaches the kubelet API directly (exec into any pod of the node), bypassing audit "
    "logging and admission control.",
    remediation="Grant nodes/metrics or nodes/stats for monitoring instead of nodes/proxy.",
    refs=_refs(cis="5.1.10", kubescape="C-0279", checkov="CKV2_K8S_2", trivy="KSV-0047"),
)
def nodes_proxy(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_015(obj, ctx)


def _csr_approve(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    """Approving a CSR takes both ``update`` on ``certificatesigningrequests/approval`` and ``approve`` on
    the CSR's signer (``signers``, by signer name): the API server checks the second on every approval.
    A role with the first alone approves nothing, so it is not reported."""
    hit = _risk(
        e.rule, ("update", "patch"), resources_of(f"{CERTS}:certificatesigningrequests/approval"), scope, Severity.HIGH
    )
    if hit is None:
        return None
    signers: list[str] = []
    for p in prs:
        if _coverage(p, "approve", _res(f"{CERTS}:signers"), scope):
            signers.extend(p.resource_names or ["*"])
    if not signers:
        return None
    if hit.subcode != "named":
        return Risk(
            f"{hit.what}, with approve on signers {', '.join(dict.fromkeys(signers))} in the same role",
            hit.field,
            None,
            "with_signer",
        )
    return hit


_RUN_016 = _role_rule(_csr_approve, Severity.HIGH)


@rule(
    id="KF-RBAC-016",
    slug="csr-approval",
    title="Approve CertificateSigningRequests",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Approving CSRs issues client certificates signed by the cluster CA, for example for a "
    "system:masters identity through the kube-apiserver-client signer.",
    remediation="Leave CSR approval to the controller manager and to narrowly-scoped approvers limited by signer name.",
    refs=_refs(cis="5.1.11", kubescape="C-0280", checkov="CKV_K8S_156"),
)
def csr_approval(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_016(obj, ctx)


_RUN_017 = _role_rule(_simple(("create",), resources_of(":serviceaccounts/token"), Severity.HIGH), Severity.HIGH)


@rule(
    id="KF-RBAC-017",
    slug="serviceaccount-token-create",
    title="Create service account tokens",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Creating tokens (TokenRequest) for a ServiceAccount yields credentials with all of its permissions, "
    "valid for up to the maximum token lifetime.",
    remediation="Remove create on serviceaccounts/token, or limit it with resourceNames.",
    refs=_refs(cis="5.1.13", kubescape="C-0282"),
)
def serviceaccount_token_create(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_017(obj, ctx)


ADMISSION_CONFIG = resources_of(
    f"{ADMREG}:validatingwebhookconfigurations",
    f"{ADMREG}:mutatingwebhookconfigurations",
    f"{ADMREG}:validatingadmissionpolicies",
    f"{ADMREG}:validatingadmissionpolicybindings",
    f"{ADMREG}:mutatingadmissionpolicies",
    f"{ADMREG}:mutatingadmissionpolicybindings",
)
_admission_write = _simple(("create", "update", "patch", "delete", "deletecollection"), ADMISSION_CONFIG, Severity.HIGH)


_RUN_018 = _role_rule(_admission_write, Severity.HIGH)


@rule(
    id="KF-RBAC-018",
    slug="admission-config-write",
    title="Modify admission webhook configurations",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Admission webhooks and policies see and can change every object written to the cluster; whoever "
    "edits them can disable policy enforcement or intercept Secrets.",
    remediation="Limit writes on admission configurations to the cluster administrators and the one controller that "
    "owns each (resourceNames).",
    refs=_refs(cis="5.1.12", kubescape="C-0281", checkov="CKV_K8S_155", trivy="KSV-0114"),
)
def admission_config_write(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_018(obj, ctx)


PERSISTENT_VOLUMES = resources_of(":persistentvolumes")
CONFIGMAPS = resources_of(":configmaps")


def _pv_create(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    if scope is not None:
        return None
    return _risk(e.rule, ("create",), PERSISTENT_VOLUMES, scope, Severity.MEDIUM)


_RUN_019 = _role_rule(_pv_create, Severity.MEDIUM)


@rule(
    id="KF-RBAC-019",
    slug="persistentvolume-create",
    title="Create PersistentVolumes",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=("ClusterRole", "ClusterRoleBinding"),
    params=INCLUDE_SYSTEM,
    rationale="A PersistentVolume can point at a hostPath; bound to a claim it mounts the node's filesystem into "
    "a pod.",
    remediation="Leave PersistentVolume creation to storage provisioners (dynamic provisioning).",
    refs=_refs(cis="5.1.9", kubescape="C-0278"),
)
def persistentvolume_create(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_019(obj, ctx)


# --------------------------------------------------------------------------------------------
# KF-RBAC-020 .. 022: who is bound


@rule(
    id="KF-RBAC-020",
    slug="anonymous-binding",
    title="Permissions granted to anonymous or unauthenticated users",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    rationale="Anything granted to system:anonymous or system:unauthenticated is available to whoever reaches the "
    "API server, without credentials.",
    remediation="Remove the anonymous subjects; only the built-in system:public-info-viewer binding needs them.",
    refs=_refs(kubescape="C-0262", trivy="KSV-0122"),
)
def anonymous_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if (
        obj.kind == "ClusterRoleBinding"
        and obj.name == "system:public-info-viewer"
        and written_role_ref(obj) == ("ClusterRole", "system:public-info-viewer")
    ):
        return
    for i, s in _subjects(obj):
        kind, name = s.get("kind"), s.get("name")
        if (kind, name) in (("User", "system:anonymous"), ("Group", "system:unauthenticated")):
            yield Violation(
                ("subjects", i),
                f'{obj.kind} "{obj.name}" grants {_ref_label(obj)} to {kind} "{name}" '
                "(any client, without credentials)",
            )


AUTHENTICATED_DEFAULTS = ("system:basic-user", "system:discovery", "system:public-info-viewer")


@rule(
    id="KF-RBAC-021",
    slug="authenticated-binding",
    title="Permissions granted to all authenticated users",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    params={"authenticated_bindings_allow": []},
    rationale="system:authenticated includes every ServiceAccount and, on managed clusters, possibly any account "
    "of the identity provider.",
    remediation="Bind named groups instead of system:authenticated.",
    refs=_refs(kubescape="C-0265", trivy="KSV-01011"),
)
def authenticated_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if (
        obj.kind == "ClusterRoleBinding"
        and obj.name in AUTHENTICATED_DEFAULTS
        and written_role_ref(obj) == ("ClusterRole", obj.name)
    ):
        return
    if obj.name in (ctx.params.get("authenticated_bindings_allow") or []):
        return
    for i, s in _subjects(obj):
        if s.get("kind") == "Group" and s.get("name") == "system:authenticated":
            yield Violation(
                ("subjects", i),
                f'{obj.kind} "{obj.name}" grants {_ref_label(obj)} to Group '
                '"system:authenticated" (every authenticated user and ServiceAccount)',
            )


@rule(
    id="KF-RBAC-022",
    slug="default-serviceaccount-binding",
    title="Role bound to a default service account",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    rationale="Every pod that names no ServiceAccount runs as 'default': permissions bound to it go to all of them.",
    remediation="Create a dedicated ServiceAccount for the workload that needs the role and bind that instead.",
    refs=_refs(cis="5.1.5", kubescape="C-0189", checkov="CKV_K8S_42"),
)
def default_serviceaccount_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, s in _subjects(obj):
        kind, name = s.get("kind"), s.get("name")
        if kind == "ServiceAccount" and name == "default":
            ns = s.get("namespace") or _subject_ns(obj) or "?"
        elif kind == "User" and isinstance(name, str) and name.startswith(SA_PREFIX) and name.endswith(":default"):
            ns = name[len(SA_PREFIX) :].rpartition(":")[0]
        else:
            continue
        yield Violation(
            ("subjects", i),
            f'{obj.kind} "{obj.name}" binds {_ref_label(obj)} to the default ServiceAccount of namespace "{ns}"',
        )


# --------------------------------------------------------------------------------------------
# KF-RBAC-023 .. 027: service accounts of workloads


def _sa_of(pod: PodSpecView) -> tuple[str, Path | None]:
    """The ServiceAccount a pod runs as (serviceAccountName wins over the deprecated serviceAccount)."""
    for f in ("serviceAccountName", "serviceAccount"):
        v = pod.spec.get(f)
        if isinstance(v, str) and v:
            return v, pod.at(f)
    return "default", None


def _namespace_complete(ctx: Context, namespace: str | None) -> bool:
    """Whether the input holds every ServiceAccount of a namespace: cluster mode, a namespace the input
    creates (its Namespace object is in the input), or one listed in ``complete_namespaces``."""
    if namespace is None:
        return False
    if _is_cluster(ctx):
        return True
    if namespace in (ctx.params.get("complete_namespaces") or []):
        return True
    return ctx.inventory.get("Namespace", None, namespace) is not None


@rule(
    id="KF-RBAC-023",
    slug="default-serviceaccount-automount",
    title="Default service account automounts its token",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=("ServiceAccount",),
    applies=lambda obj: obj.name == "default",
    rationale="Pods that name no ServiceAccount get the default one's token mounted; with automount on, every such "
    "pod carries an API credential it does not need.",
    remediation="Set automountServiceAccountToken: false on the default ServiceAccount of every namespace.",
    refs=_refs(cis="5.1.5", kubescape="C-0189", checkov="CKV_K8S_41"),
    fix=fix(
        FixAt.OBJECT,
        SetField(("automountServiceAccountToken",), False),
        opt_in="pods that name no ServiceAccount and call the API lose their token",
    ),
)
def default_serviceaccount_automount(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    value = obj.get("automountServiceAccountToken")
    if value is False:
        return
    if "automountServiceAccountToken" in obj.raw:
        yield Violation(
            ("automountServiceAccountToken",),
            f'the default ServiceAccount of namespace "{obj.namespace}" '
            f"sets automountServiceAccountToken to {_yaml_value(value)}, not false",
        )
    else:
        yield Violation(
            ("metadata", "name"),
            f'the default ServiceAccount of namespace "{obj.namespace}" does not set '
            "automountServiceAccountToken: false (tokens are mounted by default)",
        )


def _yaml_value(value: Any) -> str:
    return "true" if value is True else "null" if value is None else repr(value)


def _token_mounts(pod: PodSpecView) -> Iterator[tuple[Path, str]]:
    """Container mounts of a projected ServiceAccount token at the default token path."""
    projected = set()
    for _, v in pod.volumes():
        proj = v.get("projected")
        sources = proj.get("sources") if isinstance(proj, dict) else None
        if isinstance(sources, list) and any(isinstance(s, dict) and "serviceAccountToken" in s for s in sources):
            projected.add(v.get("name"))
    if not projected:
        return
    for c in pod.containers(ContainerSet.ALL):
        mounts = c.raw.get("volumeMounts")
        if not isinstance(mounts, list):
            continue
        for j, m in enumerate(mounts):
            if not isinstance(m, dict) or m.get("name") not in projected:
                continue
            mp = m.get("mountPath")
            if isinstance(mp, str) and (mp.rstrip("/") == TOKEN_PATH or mp.startswith(TOKEN_PATH + "/")):
                yield c.at("volumeMounts", j), f'{c.label} mounts a projected ServiceAccount token at "{mp}"'


def _automount_violations(pod: PodSpecView, ctx: Context) -> list[Violation]:
    sa, _ = _sa_of(pod)
    ns = pod.obj.namespace
    value = pod.spec.get("automountServiceAccountToken")
    out: list[Violation] = []
    if value is True:
        out.append(
            Violation(
                pod.at("automountServiceAccountToken"),
                f'pod spec sets automountServiceAccountToken: true (ServiceAccount "{ns}/{sa}")',
            )
        )
    elif value is not False:
        acct = ctx.inventory.get("ServiceAccount", ns, sa) if ns else None
        if acct is None:
            out.append(
                Violation(
                    pod.path,
                    "pod spec does not set automountServiceAccountToken: false and ServiceAccount "
                    f'"{ns}/{sa}" is not in the input: the token is mounted by default',
                )
            )
        elif acct.get("automountServiceAccountToken") is not False:
            out.append(
                Violation(
                    pod.path,
                    "pod spec does not set automountServiceAccountToken and ServiceAccount "
                    f'"{ns}/{sa}" does not set it to false: the token is mounted',
                )
            )
    if not out:
        out.extend(Violation(path, msg) for path, msg in _token_mounts(pod))
    return out


@rule(
    id="KF-RBAC-024",
    reads_images=False,
    slug="default-serviceaccount-used",
    title="Workload runs under the default service account",
    severity=Severity.LOW,
    scope=Scope.POD,
    needs=("ServiceAccount",),  # whether its token is mounted (sub-code with_token): the ServiceAccount's say
    rationale="The default ServiceAccount is shared by every workload of the namespace that names none: its "
    "permissions and token are not tied to this workload.",
    remediation="Create a dedicated ServiceAccount for the workload and set serviceAccountName.",
    refs=_refs(
        **{"kube-linter": "default-service-account", "kubeaudit": "asat/AutomountServiceAccountTokenTrueAndDefaultSA"}
    ),
)
def default_serviceaccount_used(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    sa, path = _sa_of(pod)
    if sa != "default":
        return
    where = path or pod.path
    what = 'names the "default" ServiceAccount' if path else 'names no ServiceAccount (it runs as "default")'
    if _automount_violations(pod, ctx):
        yield Violation(where, f"pod spec {what} and its token is mounted", subcode="with_token")
    else:
        yield Violation(where, f"pod spec {what}")


@rule(
    id="KF-RBAC-025",
    reads_images=False,
    slug="serviceaccount-token-automount",
    title="Service account token automounted",
    severity=Severity.MEDIUM,
    scope=Scope.POD,
    cross_object=True,  # the ServiceAccount's automountServiceAccountToken decides when the pod does not
    needs=(*_INDEX_READS, "ServiceAccount"),
    rationale="A mounted token is an API credential in every container: code execution in the pod becomes "
    "access to the API with the ServiceAccount's permissions.",
    remediation="Set automountServiceAccountToken: false on the pod (or its ServiceAccount) unless it talks to the "
    "API server; then mount a projected token with an audience and short expiry.",
    refs=_refs(
        cis="5.1.6",
        kubescape=("C-0034", "C-0190", "C-0261"),
        checkov="CKV_K8S_38",
        trivy="KSV-0036",
        polaris="automountServiceAccountToken",
        kubeaudit="asat/AutomountServiceAccountTokenTrueAndDefaultSA",
    ),
    fix=fix(
        FixAt.POD,
        SetField(("automountServiceAccountToken",), False),
        opt_in="the input binds the ServiceAccount to no role, but the cluster may: a workload that calls the API "
        "loses its token",
        skip_subcodes=("uses_api",),
    ),
)
def serviceaccount_token_automount(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    """A workload whose ServiceAccount the input binds to roles calls the API on purpose: it needs its
    token, so that is said at info level (sub-code ``uses_api``), apart from the pods that never use theirs."""
    found = _automount_violations(pod, ctx)
    if not found:
        return
    sa, _ = _sa_of(pod)
    ns = pod.obj.namespace
    bound = _bindings_naming(ns, sa, ctx) if ns else []
    if not bound:
        yield from found
        return
    shown = ", ".join(bound[:3]) + (f" and {len(bound) - 3} more" if len(bound) > 3 else "")
    for v in found:
        yield Violation(
            v.path,
            f'{v.message}; the input binds ServiceAccount "{ns}/{sa}" to roles ({shown}), so the workload '
            "calls the API and needs a token: prefer a projected one with an audience and a short expiry",
            severity=Severity.INFO,
            subcode="uses_api",
        )


def _bindings_naming(ns: str, sa: str, ctx: Context) -> list[str]:
    """The bindings of the input that name the ServiceAccount itself (not one of its groups)."""
    out = []
    for b, _ in _index(ctx).subject_bindings(Subject("ServiceAccount", sa, ns), implicit_groups=False):
        name = f"{b.obj.namespace}/{b.obj.name}" if b.obj.kind == "RoleBinding" else b.obj.name
        text = f'{b.obj.kind} "{name}"'
        if text not in out:
            out.append(text)
    return out


@rule(
    id="KF-RBAC-026",
    slug="deprecated-serviceaccount-field",
    title="Deprecated serviceAccount field used",
    severity=Severity.INFO,
    scope=Scope.POD,
    rationale="serviceAccount is a deprecated alias that serviceAccountName overrides: a differing value is "
    "ignored and misleads readers.",
    remediation="Use serviceAccountName only.",
    refs=_refs(
        kubescape="C-0294",
        **{
            "kube-linter": "deprecated-service-account-field",
            "kubeaudit": "asat/AutomountServiceAccountTokenDeprecated",
        },
    ),
)
def deprecated_serviceaccount_field(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    old = pod.spec.get("serviceAccount")
    if not isinstance(old, str) or not old:
        return
    new = pod.spec.get("serviceAccountName")
    if not isinstance(new, str) or not new:
        yield Violation(
            pod.at("serviceAccount"),
            f'pod spec uses the deprecated serviceAccount field ("{old}") instead of serviceAccountName',
        )
    elif new != old:
        yield Violation(
            pod.at("serviceAccount"),
            f'pod spec sets the deprecated serviceAccount ("{old}"), which serviceAccountName ("{new}") overrides',
        )


@rule(
    id="KF-RBAC-027",
    reads_images=False,
    slug="missing-serviceaccount",
    title="Workload references a missing service account",
    severity=Severity.LOW,
    scope=Scope.POD,
    params={"complete_namespaces": []},
    cross_object=True,
    needs=("ServiceAccount", "Namespace"),
    rationale="Pods naming a ServiceAccount that does not exist are rejected at creation; the workload never "
    "runs, or picks up an account created later by someone else.",
    remediation="Create the ServiceAccount with the workload, or fix serviceAccountName.",
    refs=_refs(kubescape="C-0307", **{"kube-linter": "non-existent-service-account"}),
)
def missing_serviceaccount(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    sa, path = _sa_of(pod)
    ns = pod.obj.namespace
    if sa == "default" or path is None or ns is None:
        return  # the default ServiceAccount is created in every namespace
    if ctx.inventory.get("ServiceAccount", ns, sa) is not None:
        return
    if not _namespace_complete(ctx, ns):
        raise NotEvaluated(
            f'ServiceAccount "{ns}/{sa}" is not in the input and the input does not hold namespace '
            f'"{ns}" completely (add its Namespace object or list it in complete_namespaces)'
        )
    yield Violation(path, f'pod spec names ServiceAccount "{sa}", which does not exist in namespace "{ns}"')


# --------------------------------------------------------------------------------------------
# KF-RBAC-028 .. 034: cover-up, deletion and network permissions


_RUN_028 = _role_rule(
    _simple(("delete", "deletecollection"), resources_of(":events", "events.k8s.io:events"), Severity.LOW), Severity.LOW
)


@rule(
    id="KF-RBAC-028",
    slug="events-delete",
    title="Delete Kubernetes events",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Deleting events erases the trace of what happened in the namespace (failed pulls, evictions, "
    "exec'd pods).",
    remediation="Remove delete and deletecollection on events; events expire on their own.",
    refs=_refs(kubescape="C-0031"),
)
def events_delete(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_028(obj, ctx)


_RUN_029 = _role_rule(_simple(("delete", "deletecollection"), resources_of(":pods/log"), Severity.LOW), Severity.LOW)


@rule(
    id="KF-RBAC-029",
    slug="pod-logs-delete",
    title="Delete pod logs",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="A role asking to delete pod logs signals an intent to hide activity (the API serves pods/log "
    "read-only, so the grant itself deletes nothing).",
    remediation="Remove delete and deletecollection on pods/log.",
    refs=_refs(trivy="KSV-0042"),
)
def pod_logs_delete(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_029(obj, ctx)


DELETABLE = resources_of(
    ":pods",
    "apps:deployments",
    "apps:statefulsets",
    "apps:daemonsets",
    "apps:replicasets",
    "batch:jobs",
    "batch:cronjobs",
    ":secrets",
    ":configmaps",
    ":services",
    ":persistentvolumeclaims",
    ":persistentvolumes",
    ":namespaces",
)


_RUN_030 = _role_rule(_simple(("delete", "deletecollection"), DELETABLE, Severity.LOW), Severity.LOW)


@rule(
    id="KF-RBAC-030",
    slug="broad-delete",
    title="Broad delete rights",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Delete rights on workloads, storage or namespaces let a compromised identity take services down "
    "or destroy data.",
    remediation="Grant delete only to the controllers and people that own those objects.",
    refs=_refs(kubescape="C-0007"),
)
def broad_delete(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_030(obj, ctx)


def _configmap_write(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    g = _allowed(e.rule, ("create", "update", "patch", "delete"), CONFIGMAPS, scope)
    if g is None:
        return None
    what = _describe(e.rule, g)
    if _in_kube_system(scope) and (not g.named or "coredns" in g.names):
        where = "cluster-wide" if scope is None else "in kube-system"
        return Risk(f"{what} {where} (including the CoreDNS configuration)", "verbs", Severity.HIGH, "coredns")
    if g.named:
        return Risk(what, "verbs", Severity.MEDIUM.lower(), "named")
    return Risk(what, "verbs")


_RUN_031 = _role_rule(_configmap_write, Severity.MEDIUM)


@rule(
    id="KF-RBAC-031",
    slug="configmap-write",
    title="Modify ConfigMaps (incl. CoreDNS)",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="ConfigMaps configure applications; in kube-system the coredns ConfigMap controls name resolution "
    "for the whole cluster.",
    remediation="Limit ConfigMap writes with resourceNames to the workload's own ConfigMaps, outside kube-system.",
    refs=_refs(kubescape="C-0037", trivy="KSV-0049"),
)
def configmap_write(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_031(obj, ctx)


NETWORKING = resources_of(
    ":services",
    ":endpoints",
    "discovery.k8s.io:endpointslices",
    "networking.k8s.io:networkpolicies",
    "networking.k8s.io:ingresses",
)


_RUN_032 = _role_rule(
    _simple(("create", "update", "patch", "delete", "deletecollection"), NETWORKING, Severity.MEDIUM), Severity.MEDIUM
)


@rule(
    id="KF-RBAC-032",
    slug="networking-write",
    title="Manage networking objects",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="Writing Services, endpoints, Ingresses or NetworkPolicies redirects or exposes traffic and can "
    "remove network isolation.",
    remediation="Grant networking writes to the controllers that own them and to deployment tooling only.",
    refs=_refs(trivy="KSV-0056"),
)
def networking_write(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_032(obj, ctx)


_services_status = _simple(("update", "patch"), resources_of(":services/status"), Severity.MEDIUM)


@rule(
    id="KF-RBAC-033",
    slug="services-status-write",
    title="Modify services/status (CVE-2020-8554)",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    cross_object=True,
    needs=_INDEX_READS,
    rationale="Whoever can set status.loadBalancer.ingress.ip of a Service can make cluster traffic for that IP "
    "go to the Service (CVE-2020-8554); a ServiceAccount or node holding it turns a pod compromise into "
    "traffic interception.",
    remediation="Grant update/patch on services/status only to the load-balancer controller.",
    refs=_refs(checkov="CKV2_K8S_4"),
)
def services_status_write(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _judge_binding(obj, ctx, _services_status, Severity.MEDIUM, "sa_node_always")


def _aws_auth(e: RoleRule, scope: str | None, ctx: Context, prs: Sequence[PolicyRule]) -> Risk | None:
    if not _in_kube_system(scope):
        return None
    g = _allowed(e.rule, ("update", "patch", "delete"), CONFIGMAPS, scope)
    if g is None or (g.named and "aws-auth" not in g.names):
        return None
    where = "cluster-wide" if scope is None else "in kube-system"
    return Risk(f"{_describe(e.rule, g)} {where}, which covers the aws-auth ConfigMap", "verbs")


_RUN_034 = _role_rule(_aws_auth, Severity.HIGH)


@rule(
    id="KF-RBAC-034",
    slug="aws-auth-write",
    title="Modify the EKS aws-auth ConfigMap",
    severity=Severity.HIGH,
    scope=Scope.OBJECT,
    kinds=RBAC_KINDS,
    params=INCLUDE_SYSTEM,
    rationale="On EKS the kube-system/aws-auth ConfigMap maps IAM roles to Kubernetes users and groups: editing "
    "it can map any IAM identity to system:masters.",
    remediation="Use EKS access entries, and keep aws-auth writes to cluster administrators.",
    refs=_refs(trivy="KSV-0115"),
)
def aws_auth_write(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    yield from _RUN_034(obj, ctx)


# --------------------------------------------------------------------------------------------
# KF-RBAC-035: what a workload's identity can do

_TAKEOVER: tuple[tuple[str, str, Judge], ...] = (
    ("KF-RBAC-001", "full wildcard access", _full_wildcard),
    ("KF-RBAC-007", "read Secrets", _secret_read),
    ("KF-RBAC-010", "create or modify pods and pod controllers", _pod_write),
    ("KF-RBAC-011", "escalate on roles", _escalate),
    ("KF-RBAC-012", "bind roles", _bind),
    ("KF-RBAC-013", "impersonate", _impersonate),
    ("KF-RBAC-015", "nodes/proxy", _nodes_proxy),
)


def _inherited(binding: K8sObject, subject: Mapping[str, Any], ctx: Context) -> tuple[list[tuple[str, str]], bool]:
    """The takeover-grade rules a binding passes on to one of its subjects: ([(rule id, what)], unknown role)."""
    out: list[tuple[str, str]] = []
    unknown = False
    role: Role | None
    try:
        role = _resolve(binding, ctx)
    except NotEvaluated:
        role, unknown = None, True
    if not _admin_exempt(subject, binding, _admin_allowed(ctx)) and (_listed_admin(binding, ctx) or _full_access(role)):
        out.append(("KF-RBAC-005", "cluster-admin equivalent binding"))
    if role is not None:
        scope = _binding_scope(binding)
        for rid, what, judge in _TAKEOVER:
            if any((h := judge(e, scope, ctx, role.rules)) is not None and h.subcode != "named" for e in role.sources):
                out.append((rid, what))
    out.sort()
    return out, unknown


@dataclass(frozen=True, slots=True)
class _Held:
    """What some binding subject entries pass on to an identity: the first message parts (as many as a
    message shows) and how many there are, the rule IDs, and the bindings whose role is not in the input.
    Only the parts a message shows are kept: a group bound in every namespace passes a part per namespace
    on to every ServiceAccount, and keeping them all is quadratic in the cluster's size."""

    parts: tuple[str, ...] = ()
    count: int = 0
    rules: frozenset[str] = frozenset()
    unknown: frozenset[str] = frozenset()

    def __add__(self, other: _Held) -> _Held:
        if not other.count and not other.unknown:
            return self
        if not self.count and not self.unknown:
            return other
        return _Held(
            (self.parts + other.parts)[:_TAKEOVER_SHOWN],
            self.count + other.count,
            self.rules | other.rules,
            self.unknown | other.unknown,
        )


@dataclass(frozen=True, slots=True)
class _TakeoverMemo:
    """KF-RBAC-035's results for one inventory and parameter set, kept by the inventory: workloads share
    ServiceAccounts, and ServiceAccounts share the bindings of their groups."""

    accounts: dict[tuple[str, str], _Held] = field(default_factory=dict)
    groups: dict[str, _Held] = field(default_factory=dict)
    entries: dict[tuple[Binding, int], _Held] = field(default_factory=dict)


def _entry_held(b: Binding, i: int, ctx: Context) -> _Held:
    binding = b.obj
    subject = binding.raw["subjects"][i]
    inherited, missing = _inherited(binding, subject, ctx)
    unknown = frozenset((f'{binding.kind} "{binding.name}"',)) if missing else frozenset()
    if not inherited:
        return _Held(unknown=unknown)
    via = "" if subject.get("kind") == "ServiceAccount" else f" through {_subject_text(subject, binding)}"
    bname = f"{binding.namespace}/{binding.name}" if binding.kind == "RoleBinding" else binding.name
    part = f'{binding.kind} "{bname}" -> {_ref_label(binding)}{via}: ' + ", ".join(
        f"{what} ({rid})" for rid, what in inherited
    )
    return _Held((part,), 1, frozenset(r for r, _ in inherited), unknown)


def _passed_on(entries: Sequence[tuple[Binding, int]], ctx: Context, memo: _TakeoverMemo) -> _Held:
    held = _Held()
    for b, i in entries:
        got = memo.entries.get((b, i))
        if got is None:
            got = memo.entries[(b, i)] = _entry_held(b, i, ctx)
        held += got
    return held


def _account_permissions(ns: str, sa: str, ctx: Context) -> _Held:
    """What the bindings pass on to one ServiceAccount, in the order of :meth:`RbacIndex.subject_bindings`
    (entries naming it, then those of each of its groups); computed once per ServiceAccount and group."""
    pkey = (
        tuple(ctx.params.get("secret_verbs") or ()),
        tuple(ctx.params.get("admin_roles") or ()),
        tuple(ctx.params.get("rbac_admin_allow") or ()),
        _is_cluster(ctx),
    )
    memo = ctx.inventory.cached(("KF-RBAC-035", pkey), _TakeoverMemo)
    cached = memo.accounts.get((ns, sa))
    if cached is not None:
        return cached
    idx = _index(ctx)
    account = Subject("ServiceAccount", sa, ns)
    held = _passed_on(idx.subject_bindings(account, implicit_groups=False), ctx, memo)
    for g in account.groups():
        got = memo.groups.get(g)
        if got is None:
            got = memo.groups[g] = _passed_on(idx.subject_bindings(Subject("Group", g)), ctx, memo)
        held += got
    memo.accounts[(ns, sa)] = held
    return held


@rule(
    id="KF-RBAC-035",
    reads_images=False,
    slug="workload-takeover-permissions",
    title="Workload identity holds takeover-grade permissions",
    severity=Severity.HIGH,
    scope=Scope.POD,
    params={"secret_verbs": ["get", "list", "watch"], "admin_roles": ["cluster-admin"], "rbac_admin_allow": []},
    cross_object=True,
    needs=_INDEX_READS,
    rationale="Code execution in the pod (a vulnerable dependency, an exposed debug endpoint) hands over the "
    "ServiceAccount's permissions: with these, the namespace or the cluster.",
    remediation="Give the workload its own ServiceAccount bound to the few permissions it needs, and disable token "
    "automount where it does not call the API.",
    refs=_refs(kubescape=("C-0267", "C-0272", "C-0053")),
)
def workload_takeover_permissions(pod: PodSpecView, ctx: Context) -> Iterator[Violation]:
    ns = pod.obj.namespace
    if ns is None:
        return
    sa, path = _sa_of(pod)
    if not ctx.inventory.of_kind(*BINDING_KINDS) and not _is_cluster(ctx):
        raise NotEvaluated(
            "the input has no RoleBinding or ClusterRoleBinding to judge the ServiceAccount's permissions"
        )
    held = _account_permissions(ns, sa, ctx)
    if not held.parts:
        if held.unknown:
            raise NotEvaluated(
                f'the roles of {", ".join(sorted(set(held.unknown)))} (bound to ServiceAccount "{ns}/{sa}") '
                "are not in the input"
            )
        return
    # the first few grants, then a count: a group binding repeated in every namespace (system:authenticated)
    # would otherwise make each workload's message as long as the cluster is large
    shown = "; ".join(held.parts)
    if held.count > len(held.parts):
        shown += f"; and {held.count - len(held.parts)} more (kubefort rbac permissions lists them)"
    yield Violation(
        path or pod.path,
        f'workload runs as ServiceAccount "{ns}/{sa}", which holds takeover-grade permissions: {shown}',
        subcode="+".join(sorted(held.rules)),
    )


#: grants a KF-RBAC-035 message names before it counts the rest
_TAKEOVER_SHOWN = 5


# --------------------------------------------------------------------------------------------
# KF-RBAC-036: legacy token Secrets


@rule(
    id="KF-RBAC-036",
    slug="legacy-serviceaccount-token-secret",
    title="Legacy long-lived service account token Secret",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=("Secret",),
    applies=lambda obj: obj.get("type") == SA_TOKEN_TYPE,
    params={"complete_namespaces": []},
    # a token of a ServiceAccount the input lacks, in a namespace it creates, is orphaned (sub-code)
    needs=("ServiceAccount", "Namespace"),
    rationale="A service-account-token Secret holds a token that never expires and survives pod deletion; "
    "leaked once, it works until the Secret is deleted.",
    remediation="Delete the Secret and use short-lived tokens (projected volumes or the TokenRequest API).",
    refs={"cis": "3.1.2 (related, see KF-CP-056)", "nsa": NSA},
)
def legacy_serviceaccount_token_secret(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    sa = obj.annotations.get("kubernetes.io/service-account.name", "")
    ns = obj.namespace
    label = (
        f'ServiceAccount "{ns}/{sa}"' if sa else "a ServiceAccount (no kubernetes.io/service-account.name annotation)"
    )
    if sa and ns and ctx.inventory.get("ServiceAccount", ns, sa) is None and _namespace_complete(ctx, ns):
        yield Violation(
            ("type",), f"Secret holds a long-lived token for {label}, which does not exist", subcode="orphaned"
        )
        return
    yield Violation(("type",), f"Secret holds a long-lived, non-expiring token for {label}")


# --------------------------------------------------------------------------------------------
# KF-RBAC-037 .. 039: people and their client certificates (kubefort access audit)

APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"

#: the rules ``kubefort access audit`` runs: people with cluster-admin power, system:masters, anonymous and
#: all-authenticated grants, person bindings, client certificate requests, authenticators
ACCESS_IDS: tuple[str, ...] = (
    "KF-RBAC-005",
    "KF-RBAC-006",
    "KF-RBAC-020",
    "KF-RBAC-021",
    "KF-RBAC-037",
    "KF-RBAC-038",
    "KF-RBAC-039",
    "KF-CP-056",
)


@rule(
    id="KF-RBAC-037",
    slug="person-group-or-cluster-binding",
    title="Rights bound to a person's group or cluster-wide",
    severity=Severity.LOW,
    scope=Scope.OBJECT,
    kinds=BINDING_KINDS,
    rationale="A client certificate carries its groups until it expires and cannot be revoked: rights bound to "
    "a group cannot be taken from one member, and a user bound cluster-wide keeps every namespace.",
    remediation="Bind people by user name with RoleBindings in the namespaces they work in (kubefort access grant); "
    "to cut a person off, delete the bindings of that name.",
    refs=_refs(cis="5.1.1 (related)"),
)
def person_group_or_cluster_binding(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    for i, s in _subjects(obj):
        kind, name = s.get("kind"), s.get("name")
        if not isinstance(name, str) or not name or name.startswith("system:"):
            continue  # Kubernetes' own identities (system:masters is KF-RBAC-006)
        if kind == "Group":
            yield Violation(
                ("subjects", i),
                f'{obj.kind} "{obj.name}" binds {_ref_label(obj)} to Group "{name}": a certificate carries its '
                "groups until it expires, so one member cannot be removed from these rights",
                subcode="group",
            )
        elif kind == "User" and obj.kind == "ClusterRoleBinding":
            yield Violation(
                ("subjects", i),
                f'ClusterRoleBinding "{obj.name}" gives User "{name}" {_ref_label(obj)} in every namespace',
                subcode="cluster",
            )


def _csr_subject(obj: K8sObject) -> Any:
    """The subject of a CSR object's ``spec.request`` (base64 of a PEM PKCS#10 request)."""
    import base64
    import binascii

    from cryptography import x509

    req = obj.get("spec", "request")
    if not isinstance(req, str) or not req:
        raise NotEvaluated("spec.request is missing")
    try:
        return x509.load_pem_x509_csr(base64.b64decode(req, validate=True)).subject
    except (ValueError, binascii.Error):
        raise NotEvaluated("spec.request is not a base64 PEM certificate request") from None


@rule(
    id="KF-RBAC-038",
    slug="client-certificate-long-expiry",
    title="Client certificate request without a short expiry",
    severity=Severity.MEDIUM,
    scope=Scope.OBJECT,
    kinds=("CertificateSigningRequest",),
    params={"max_client_cert_seconds": 604800},
    rationale="A client certificate cannot be revoked: it works until it expires, so its lifetime is the time "
    "a lost laptop or a departed person keeps access.",
    remediation="Set spec.expirationSeconds to hours or days (kubefort access grant --expires 24h) and issue a new "
    "certificate when it runs out.",
    refs=_refs(cis="3.1.1 (related, see KF-CP-056)"),
)
def client_certificate_long_expiry(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    if obj.get("spec", "signerName") != APISERVER_CLIENT_SIGNER:
        return
    conditions = obj.get("status", "conditions")
    approved = isinstance(conditions, list) and any(
        isinstance(c, dict) and c.get("type") == "Approved" for c in conditions
    )
    state = " (approved: the certificate is issued)" if approved else ""
    seconds = obj.get("spec", "expirationSeconds")
    limit = ctx.param("max_client_cert_seconds")
    if seconds is None:
        yield Violation(
            ("spec", "expirationSeconds"),
            f'CertificateSigningRequest "{obj.name}" has no expirationSeconds: the client certificate lives as long '
            f"as the signer allows (one year by default){state}",
            subcode="no_expiry",
        )
    elif isinstance(seconds, int) and not isinstance(seconds, bool) and isinstance(limit, int) and seconds > limit:
        yield Violation(
            ("spec", "expirationSeconds"),
            f'CertificateSigningRequest "{obj.name}" asks for a client certificate valid {seconds / 3600:g} h, '
            f"more than max_client_cert_seconds ({limit / 3600:g} h){state}",
            subcode="long",
        )


@rule(
    id="KF-RBAC-039",
    slug="client-certificate-system-masters",
    title="Client certificate request for system:masters",
    severity=Severity.CRITICAL,
    scope=Scope.OBJECT,
    kinds=("CertificateSigningRequest",),
    rationale="A certificate with O=system:masters is authorized for everything before RBAC is consulted, and "
    "cannot be revoked: only rotating the cluster CA takes it back.",
    remediation="Deny the request (kubectl certificate deny NAME) and issue a certificate without that group, "
    "bound to a least-privilege role.",
    refs=_refs(cis="5.1.7 (related, see KF-RBAC-006)"),
)
def client_certificate_system_masters(obj: K8sObject, ctx: Context) -> Iterator[Violation]:
    from cryptography.x509.oid import NameOID

    subject = _csr_subject(obj)
    groups = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if "system:masters" in groups:
        cn = [str(a.value) for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        yield Violation(
            ("spec", "request"),
            f'CertificateSigningRequest "{obj.name}" asks for a certificate of '
            f'"{cn[0] if cn else "?"}" in group system:masters (bypasses RBAC, cannot be revoked)',
        )


RULES = [
    role_full_wildcard,
    rbac_wildcard,
    any_verb_sensitive,
    access_all_resources,
    cluster_admin_binding,
    system_masters_binding,
    secrets_read_access,
    pods_exec_attach,
    pods_portforward,
    pods_create_modify,
    rbac_escalate,
    rbac_bind,
    rbac_impersonate,
    rolebinding_write,
    nodes_proxy,
    csr_approval,
    serviceaccount_token_create,
    admission_config_write,
    persistentvolume_create,
    anonymous_binding,
    authenticated_binding,
    default_serviceaccount_binding,
    default_serviceaccount_automount,
    default_serviceaccount_used,
    serviceaccount_token_automount,
    deprecated_serviceaccount_field,
    missing_serviceaccount,
    events_delete,
    pod_logs_delete,
    broad_delete,
    configmap_write,
    networking_write,
    services_status_write,
    aws_auth_write,
    workload_takeover_permissions,
    legacy_serviceaccount_token_secret,
    person_group_or_cluster_binding,
    client_certificate_long_expiry,
    client_certificate_system_masters,
]
