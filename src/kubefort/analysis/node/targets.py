"""What each node rule is about, so that ``kubefort node audit`` can report per check (kube-bench
style) and say "not applicable" instead of counting a pass on every unrelated object.

The engine calls a rule on every object of its kinds; a kube-apiserver rule judging an etcd Pod
would yield nothing. A :class:`NodeTarget` names the objects a rule is *about*. It is the rule's
``applies=`` metadata: the engine calls the rule only on those objects, and the audit reads the
same metadata to place the rule in a report section and to report a rule whose target is absent
(no API server on a worker node) as skipped, with the reason. The audits select their rules by
that metadata too (:func:`node_rule_ids`, :func:`versions_rule_ids`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...engine.rule import NotEvaluated, Rule, RuleMeta
from ...model.objects import K8sObject
from .flags import component
from .snapshot import is_kubelet_config, is_snapshot, kubelet_view


# eq=False: hashed by identity, like the plain functions ``applies`` used to be (the engine memoises
# the test per object and target: every kube-apiserver flag rule shares one test)
@dataclass(frozen=True, slots=True, eq=False)
class NodeTarget:
    """A rule's ``applies=`` predicate that also says where the node audit reports the rule."""

    section: str  # heading in the audit report: "kube-apiserver", "kubelet", "control-plane files"...
    test: Callable[[K8sObject], bool]
    missing: str  # why the rule is not applicable when no object of the input is about it

    def __call__(self, obj: K8sObject) -> bool:
        return self.test(obj)


#: The sections of ``kubefort node audit``, in the order an operator reads them. The audit runs
#: every rule whose target is in one of them.
AUDIT_SECTIONS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "cloud-controller-manager",
    "etcd",
    "control-plane files",
    "encryption at rest",
    "kubelet",
    "kube-proxy",
    "node files",
    "certificates",
)
#: The section of ``kubefort versions``: the rules judging a ClusterVersions object.
VERSIONS_SECTION = "versions"


def on_component(name: str, *extra: Callable[[K8sObject], bool]) -> NodeTarget:
    def test(obj: K8sObject) -> bool:
        return component(obj, name) is not None or any(f(obj) for f in extra)

    return NodeTarget(name, test, f"no {name} on this node (no static pod manifest, process or systemd unit)")


def on_snapshot(section: str, missing: str = "no node snapshot in the input") -> NodeTarget:
    return NodeTarget(section, is_snapshot, missing)


def on_kubelet() -> NodeTarget:
    def test(obj: K8sObject) -> bool:
        return is_kubelet_config(obj) or (is_snapshot(obj) and kubelet_view(obj) is not None)

    return NodeTarget("kubelet", test, "no kubelet on this node (no kubelet process or systemd unit)")


def on_kind(section: str, kind: str, group_prefix: str, missing: str) -> NodeTarget:
    def test(obj: K8sObject) -> bool:
        return obj.kind == kind and obj.api_version.startswith(group_prefix)

    return NodeTarget(section, test, missing)


def target_of(meta: RuleMeta) -> NodeTarget | None:
    """The node target a rule declares, if any."""
    return meta.applies if isinstance(meta.applies, NodeTarget) else None


def rule_ids_in(rules: Iterable[Rule], sections: Iterable[str]) -> list[str]:
    """The IDs of the rules (in the given order) whose target is in one of ``sections``."""
    wanted = frozenset(sections)
    return [r.meta.id for r in rules if (t := target_of(r.meta)) is not None and t.section in wanted]


def node_rule_ids(rules: Iterable[Rule]) -> list[str]:
    """The rules of ``kubefort node audit``: every CP, NODE and ETCD rule and the
    EncryptionConfiguration rules of the SEC area, as their targets say."""
    return rule_ids_in(rules, AUDIT_SECTIONS)


def versions_rule_ids(rules: Iterable[Rule]) -> list[str]:
    """The rules of ``kubefort versions``: those about the ClusterVersions object."""
    return rule_ids_in(rules, (VERSIONS_SECTION,))


class NotApplicable(NotEvaluated):
    """The rule does not apply here (no such file, no such component): ``kubefort node audit`` reports
    it as skipped; a plain scan lists it as not evaluated, with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{NOT_APPLICABLE}{reason}")


NOT_APPLICABLE = "not applicable: "
