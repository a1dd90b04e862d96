"""What a rule is: declarative metadata plus one pure function over the model."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Any

from ..model.kinds import WORKLOAD_KINDS, distinct_unreadable, split_group_kind
from ..model.objects import Path
from ..model.workloads import ContainerSet
from .fixes import RuleFix

if TYPE_CHECKING:
    from ..model.inventory import Inventory


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}: choose from {', '.join(s.label for s in cls)}") from None

    def lower(self) -> Severity:
        return Severity(max(0, self - 1))


_LABELS = ("info", "low", "medium", "high", "critical")


class Scope(str, Enum):
    OBJECT = "object"  # fn(obj, ctx): once per object of the rule's kinds
    POD = "pod"  # fn(pod, ctx): once per pod spec of a pod-bearing object
    CONTAINER = "container"  # fn(container, ctx): once per container of the rule's container set
    NAMESPACE = "namespace"  # fn(ns: NamespaceView, ctx): once per namespace of the input (Namespace object or not)
    # fn(inventory, ctx): once per scan, about the cluster as a whole ("no backup mechanism"); findings point
    # at a stand-in Cluster object (runner.cluster_anchor). Always a whole-cluster rule.
    CLUSTER = "cluster"


class PssLevel(str, Enum):
    BASELINE = "baseline"
    RESTRICTED = "restricted"


@dataclass(frozen=True, slots=True, kw_only=True)
class PssControl:
    """The Pod Security Standards control a rule implements (name as in the standard, PSA check ID)."""

    level: PssLevel
    control: str
    check_id: str


@dataclass(frozen=True, slots=True)
class Violation:
    """What a rule yields: a field path (from the object root), a message and, optionally, a sub-code
    with its own severity, and a JSON patch that fixes it."""

    path: Path
    message: str
    severity: Severity | None = field(default=None, kw_only=True)
    subcode: str | None = field(default=None, kw_only=True)
    fix: tuple[Mapping[str, Any], ...] | None = field(default=None, kw_only=True)


class NotEvaluated(Exception):
    """Raised by a rule that cannot judge this object (e.g. the objects it needs are not in the input)."""


#: Why a whole-cluster rule (catalogue input ``cluster``) is not evaluated on manifests: a set of files is
#: not the whole cluster, so "no backup Schedule" or "no RuntimeClass named x" cannot be concluded from it.
NEEDS_CLUSTER = "needs a whole cluster: run with --cluster or --snapshot"


class NotInScope(Exception):
    """Raised by a rule that is not about this object in this scan, when that depends on more than the
    object (``applies`` sees only the object): a role rule on a binding of a manifest scan, where the
    role is judged instead. The object gets no result at all: neither a pass nor not evaluated."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleMeta:
    id: str
    slug: str
    title: str
    severity: Severity
    area: str
    scope: Scope
    remediation: str
    rationale: str
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    kinds: frozenset[str] | None = None  # None: every pod-bearing kind (POD/CONTAINER) or every kind (OBJECT)
    # kind -> the API groups the rule judges it in, for a kind of ``kinds`` it names group-qualified
    # (``kinds=["Policy.config.kio.kasten.io"]``): objects of that kind in other groups are not about it.
    # ``kinds`` holds the kind alone (what the engine dispatches on and the catalogue shows)
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    containers: ContainerSet = ContainerSet.ALL
    params: Mapping[str, Any] = field(default_factory=dict)  # parameter name -> default
    pss: tuple[PssControl, ...] = ()
    cross_object: bool = False  # needs other objects of the inventory (not evaluated at admission)
    # kinds on which the rule needs other objects, when it judges its other kinds from the object alone
    # (KF-IMG-008: a Tiller Deployment by itself, a Service by the Tiller pods it selects): the webhook
    # evaluates it on the other kinds only
    cross_object_kinds: frozenset[str] | None = None
    enabled: bool = True  # rules off by default run only when selected by ID or enabled in config
    requires: str | None = None  # a parameter that must be set (truthy) for the rule to run at all
    modes: frozenset[str] | None = None  # scan modes the rule applies to (manifest, cluster, admission); None: all
    applies: Callable[[Any], bool] | None = None  # narrower than kinds: which objects the rule is about at all
    aliases: tuple[str, ...] = ()
    # kinds the rule reads from the inventory besides the objects it judges (KF-NET-001 reads the
    # NetworkPolicies that select a pod): a cluster scan lists them, and when one could not be read the
    # rule is not evaluated rather than passed. None: not declared (see ``reads_unknown``). On a rule
    # that is not cross_object: what it reads only for what its findings say (``reads_others``). A kind
    # several API groups serve is named with its group (``Policy.kyverno.io``: model.kinds.split_group_kind)
    needs: frozenset[str] | None = None
    # judges a whole cluster (catalogue input ``cluster``): evaluated on a live inventory (a cluster scan or a
    # snapshot of one) only; on manifests the engine reports it not evaluated (NEEDS_CLUSTER), never passed
    # or failed. Implies cross_object; every CLUSTER-scope rule is one.
    whole_cluster: bool = False
    # the rule's mechanical fix as data (engine.fixes): applied by ``kubefort fix`` and the mutating policy
    # export; None: fixing needs a human (the remediation says how)
    fix: RuleFix | None = None
    # whether what the rule says about an object may depend on container images (of that object or of those
    # it reads). False: it never reads an image (the attack graph, NetworkPolicy and RBAC rules): the scan
    # cache keeps its results when only images changed (tests/unit/test_scan_cache.py checks it on the
    # fixtures with every image replaced)
    reads_images: bool = True

    def needs_others(self, kind: str) -> bool:
        """Whether judging an object of ``kind`` needs other objects than that one."""
        return (
            self.whole_cluster
            or self.cross_object
            or (self.cross_object_kinds is not None and kind in self.cross_object_kinds)
        )

    def reads_others(self, kind: str) -> bool:
        """Whether results on an object of ``kind`` may depend on other objects than that one: the rule
        needs them to judge (:meth:`needs_others`), or it declares ``needs`` without being cross-object:
        it judges the object alone (the webhook evaluates it on the object under review) but reads those
        kinds for what its findings say (whom a role is bound to, whether a ServiceAccount mounts its
        token). The scan cache keeps such results only while those kinds are unchanged."""
        return self.needs_others(kind) or bool(self.needs)

    def own_kinds(self) -> frozenset[str]:
        """The kinds whose objects the rule judges, as far as they can be named (an OBJECT rule on every
        kind names none: it judges whatever the other rules make a scan read), group-qualified where the
        rule names them so (``groups``)."""
        if self.kinds is not None:
            if not self.groups:
                return self.kinds
            return frozenset(f"{k}.{g}" for k in self.kinds if k in self.groups for g in self.groups[k]) | frozenset(
                k for k in self.kinds if k not in self.groups
            )
        if self.scope is Scope.NAMESPACE:
            return frozenset({"Namespace"})
        if self.scope in (Scope.POD, Scope.CONTAINER):
            return WORKLOAD_KINDS
        return frozenset()

    def reads_unknown(self, kind: str | None = None) -> bool:
        """True when the rule reads other objects than the one it judges (on ``kind``; None: on any kind)
        without declaring which: then any kind that could not be read leaves it not evaluated."""
        if self.needs is not None:
            return False
        if self.scope in (Scope.NAMESPACE, Scope.CLUSTER) or self.cross_object:
            return True
        return self.cross_object_kinds is not None and (kind is None or kind in self.cross_object_kinds)

    def blocked_by(self, unreadable: Mapping[str, str], kind: str | None = None) -> str | None:
        """Why the rule cannot judge an object of ``kind`` when the kinds of ``unreadable`` (kind -> why)
        could not be read; None when it can."""
        if not unreadable:
            return None
        if self.needs is not None:
            missing = {n: why for n in self.needs if (why := _unread_need(n, unreadable)) is not None}
        elif self.reads_unknown(kind):
            missing = distinct_unreadable(unreadable)
        else:
            return None
        if not missing:
            return None
        return "; ".join(f"needs {k}: {missing[k]}" for k in sorted(missing))


def _unread_need(need: str, unreadable: Mapping[str, str]) -> str | None:
    """Why the kind ``need`` names could not be read, None when it was. A group-qualified need is also
    unread when its kind was asked for alone and failed, and never for that kind in another group (a
    snapshot saved before a rule named the group has the kind alone only)."""
    if need in unreadable:
        return unreadable[need]
    kind, group = split_group_kind(need)
    if group is None:
        return next((why for k, why in sorted(unreadable.items()) if split_group_kind(k)[0] == kind), None)
    if kind in unreadable and not any(split_group_kind(k)[0] == kind and k != kind for k in unreadable):
        return unreadable[kind]
    return None


def kinds_read(metas: Iterable[RuleMeta]) -> frozenset[str]:
    """The kinds a scan with these rules must read: what each judges and what each needs."""
    out: set[str] = set()
    for m in metas:
        out.update(m.own_kinds())
        out.update(m.needs or ())
    return frozenset(out)


@dataclass(slots=True)  # not frozen: made for every rule of every scan and admission request (3x cheaper)
class Context:
    """What a rule may read besides its object: parameters, the inventory, the scan mode."""

    params: Mapping[str, Any]
    inventory: Inventory
    mode: str = "manifest"  # manifest | cluster | admission | node | probe | versions
    pss: PssLevel | None = None  # set when the scan judges Pod Security Standards exactly
    # values derived from ``params`` alone (see derived); the engine shares one per plan and parameters
    memo: dict[Any, Any] = field(default_factory=dict)

    def param(self, name: str) -> Any:
        return self.params[name]

    def derived(self, make: Callable[..., Any], *names: str) -> Any:
        """``make(*values)`` of the parameters ``names`` (as :meth:`param` reads them), computed once per plan
        rather than once per object: a registry allow-list normalised, an allow-list of names compiled.
        ``make`` must be a pure function of the values, and its result is shared: read-only. A ``make``
        that raises raises every time (the rule errs on each object, as without the memo)."""
        key = (make, names)
        memo = self.memo
        if key in memo:
            return memo[key]
        params = self.params
        value = memo[key] = make(*[params[n] for n in names])
        return value


RuleFn = Callable[[Any, Context], Iterable[Violation]]


@dataclass(frozen=True, slots=True)
class Rule:
    meta: RuleMeta
    fn: RuleFn

    @property
    def id(self) -> str:
        return self.meta.id


def rule(
    *,
    id: str,
    slug: str,
    title: str,
    severity: Severity,
    scope: Scope,
    remediation: str,
    rationale: str,
    area: str | None = None,
    refs: Mapping[str, tuple[str, ...] | str] | None = None,
    kinds: Iterable[str] | None = None,
    containers: ContainerSet = ContainerSet.ALL,
    params: Mapping[str, Any] | None = None,
    pss: Iterable[PssControl] = (),
    cross_object: bool = False,
    cross_object_kinds: Iterable[str] | None = None,
    enabled: bool = True,
    requires: str | None = None,
    modes: Iterable[str] | None = None,
    applies: Callable[[Any], bool] | None = None,
    aliases: Iterable[str] = (),
    needs: Iterable[str] | None = None,
    whole_cluster: bool = False,
    fix: RuleFix | None = None,
    reads_images: bool = True,
) -> Callable[[RuleFn], Rule]:
    """Decorator that turns a function into a :class:`Rule`. It registers nothing: rule modules list
    their rules in ``RULES`` and :func:`kubefort.rules.default_registry` collects them.

    ``kinds`` and ``needs`` name kinds alone (``Schedule``: in any API group) or with their group
    (``Schedule.velero.io``) when several groups serve the kind with different meanings; the engine
    judges a group-qualified kind's objects of that group only (``RuleMeta.groups``).

    ``whole_cluster`` (implied by ``Scope.CLUSTER``): the rule judges a whole cluster, and is not evaluated
    on manifests (see :data:`NEEDS_CLUSTER`); such a rule reads other objects, so it is ``cross_object``.

    ``fix``: the rule's mechanical fix as data (:mod:`kubefort.engine.fixes`), when there is one.

    ``reads_images=False``: what the rule says never depends on a container image (see ``RuleMeta``).
    """
    whole_cluster = whole_cluster or scope is Scope.CLUSTER
    plain, groups = _split_kinds(kinds) if kinds is not None else (None, {})

    def wrap(fn: RuleFn) -> Rule:
        norm_refs = {k: ((v,) if isinstance(v, str) else tuple(v)) for k, v in (refs or {}).items()}
        meta = RuleMeta(
            id=id,
            slug=slug,
            title=title,
            severity=severity,
            area=area or id.split("-")[1],
            scope=scope,
            remediation=remediation,
            rationale=rationale,
            refs=norm_refs,
            kinds=plain,
            groups=groups,
            containers=containers,
            params=dict(params or {}),
            pss=tuple(pss),
            cross_object=cross_object or whole_cluster,
            cross_object_kinds=frozenset(cross_object_kinds) if cross_object_kinds is not None else None,
            enabled=enabled,
            requires=requires,
            modes=frozenset(modes) if modes is not None else None,
            applies=applies,
            aliases=tuple(aliases),
            needs=frozenset(needs) if needs is not None else None,
            whole_cluster=whole_cluster,
            fix=fix,
            reads_images=reads_images,
        )
        return Rule(meta, fn)

    return wrap


def _split_kinds(names: Iterable[str]) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """``kinds`` as declared -> (the kinds alone, kind -> groups for kinds named only group-qualified)."""
    anywhere: set[str] = set()
    qualified: dict[str, set[str]] = {}
    for name in names:
        kind, group = split_group_kind(name)
        if group is None:
            anywhere.add(kind)
        else:
            qualified.setdefault(kind, set()).add(group)
    groups = {k: frozenset(gs) for k, gs in qualified.items() if k not in anywhere}
    return frozenset(anywhere | set(qualified)), groups
