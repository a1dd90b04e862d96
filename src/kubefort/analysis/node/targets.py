"""What each node rule looks at, so that ``kubefort node audit`` can report per check (kube-bench
style) and say "not applicable" instead of counting a pass on every unrelated object.

The engine calls a rule on every object of its kinds; a kube-apiserver rule judging an etcd Pod
yields nothing. :class:`Target` names the objects a rule is *about*; the node command keeps only
those results, and reports a rule whose target is absent (no API server on a worker node) as
skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ...engine.rule import NotEvaluated, Rule, RuleFn, rule
from ...model.objects import K8sObject
from .flags import component
from .snapshot import is_kubelet_config, is_snapshot, kubelet_view


@dataclass(frozen=True, slots=True)
class Target:
    section: str  # heading in the audit report: "kube-apiserver", "kubelet", "control-plane files"...
    applies: Callable[[K8sObject], bool]
    missing: str  # why the rule is not applicable when no object of the input applies


def on_component(name: str, *extra: Callable[[K8sObject], bool]) -> Target:
    def applies(obj: K8sObject) -> bool:
        return component(obj, name) is not None or any(f(obj) for f in extra)

    return Target(name, applies, f"no {name} on this node (no static pod manifest, process or systemd unit)")


def on_snapshot(section: str, missing: str = "no node snapshot in the input") -> Target:
    return Target(section, is_snapshot, missing)


def on_kubelet() -> Target:
    def applies(obj: K8sObject) -> bool:
        return is_kubelet_config(obj) or (is_snapshot(obj) and kubelet_view(obj) is not None)

    return Target("kubelet", applies, "no kubelet on this node (no kubelet process or systemd unit)")


def on_kind(section: str, kind: str, group_prefix: str, missing: str) -> Target:
    def applies(obj: K8sObject) -> bool:
        return obj.kind == kind and obj.api_version.startswith(group_prefix)

    return Target(section, applies, missing)


class TargetTable(dict[str, Target]):
    """rule ID -> Target for the rules of one module, filled by :meth:`rule`; ``rules`` lists the
    module's rules in definition order (the module's ``RULES``)."""

    def __init__(self) -> None:
        super().__init__()
        self.rules: list[Rule] = []

    def rule(self, target: Target, **meta: Any) -> Callable[[RuleFn], Rule]:
        deco = rule(applies=target.applies, **meta)

        def wrap(fn: RuleFn) -> Rule:
            r = deco(fn)
            self[r.meta.id] = target
            self.rules.append(r)
            return r

        return wrap


def merge(tables: Iterable[dict[str, Target]]) -> dict[str, Target]:
    out: dict[str, Target] = {}
    for t in tables:
        out.update(t)
    return out


class NotApplicable(NotEvaluated):
    """The rule does not apply here (no such file, no such component): ``kubefort node audit`` reports
    it as skipped; a plain scan lists it as not evaluated, with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{NOT_APPLICABLE}{reason}")


NOT_APPLICABLE = "not applicable: "
