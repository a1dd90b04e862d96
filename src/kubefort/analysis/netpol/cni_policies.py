"""Network policies of CNI plugins: which pods they select, and in which direction they isolate them.

Cilium and Calico enforce their own policy APIs besides Kubernetes NetworkPolicy. kubefort does not
model their rules (L7, DNS names, entities, tiers, ``Pass`` between tiers, host endpoints...), but it
knows which pods they select and that a selected pod is no longer open to everything: the coverage
rules count them, and the ``netpol`` answers say that they exist and are not modelled.

Selection, per API (what the CNI documents):

- ``CiliumNetworkPolicy`` (``cilium.io``, namespaced) and ``CiliumClusterwideNetworkPolicy``: each rule
  (``spec``, or every item of ``specs``) selects with ``endpointSelector``, a label selector over the
  pod's labels, where a key may carry a source prefix (``k8s:``, ``any:``) and
  ``io.kubernetes.pod.namespace`` is the pod's namespace and ``io.cilium.k8s.namespace.labels.KEY``
  its namespace's labels. A namespaced policy selects in its own namespace only. A rule with a
  ``nodeSelector`` is a host policy (it selects nodes, not pods). A selected pod is isolated in a
  direction when the rule has rules for it (``ingress``/``ingressDeny``, ``egress``/``egressDeny``)
  and ``enableDefaultDeny`` does not turn that off.
- Calico ``NetworkPolicy`` (``projectcalico.org`` or ``crd.projectcalico.org``, namespaced) and
  ``GlobalNetworkPolicy``: ``selector`` is a Calico selector expression (default ``all()``) over the
  pod's labels plus ``projectcalico.org/namespace`` and ``projectcalico.org/orchestrator: k8s``; a
  global policy's ``namespaceSelector`` selects namespaces (their labels plus
  ``projectcalico.org/name``). ``types`` defaults to Ingress, plus Egress when there are egress rules
  (Egress alone when there are only egress rules). A pod a policy of its tier selects is dropped at the
  end of the tier unless a rule allowed the traffic: it is isolated. ``preDNAT``/``doNotTrack``
  policies apply to host endpoints only.

When a selector uses something a manifest does not tell (the pod's ServiceAccount, the cluster's
name, Cilium's reserved labels) or cannot be parsed, whether it selects a pod is unknown (None).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ...model.objects import K8sObject
from ...model.selectors import label_selector_matches
from .model import NS_NAME_LABEL as NAME_LABEL

CILIUM = "cilium.io"
CALICO_GROUPS = ("projectcalico.org", "crd.projectcalico.org")
#: (group, kind) -> how the policy is named in messages
KINDS: dict[tuple[str, str], str] = {
    (CILIUM, "CiliumNetworkPolicy"): "CiliumNetworkPolicy",
    (CILIUM, "CiliumClusterwideNetworkPolicy"): "CiliumClusterwideNetworkPolicy",
    **{(g, "NetworkPolicy"): "Calico NetworkPolicy" for g in CALICO_GROUPS},
    **{(g, "GlobalNetworkPolicy"): "Calico GlobalNetworkPolicy" for g in CALICO_GROUPS},
}

#: (namespace, pod labels, namespace labels or None when unknown) -> selected? (None: cannot tell)
Selects = Callable[[str, Mapping[str, str], Mapping[str, str] | None], "bool | None"]


@dataclass(frozen=True, slots=True)
class CniRule:
    """One selecting part of a CNI policy (a Cilium rule, or a Calico policy as a whole)."""

    selects: Selects
    ingress: bool  # isolates the pods it selects for ingress
    egress: bool
    whole_namespace: Callable[[str, Mapping[str, str] | None], bool]  # selects every pod of a namespace


@dataclass(frozen=True, slots=True)
class CniPolicy:
    """A policy of a CNI plugin, as far as kubefort models it: who it selects, not what it allows."""

    obj: K8sObject
    label: str  # "CiliumNetworkPolicy", "Calico GlobalNetworkPolicy"...
    namespace: str | None  # None: cluster-wide
    rules: tuple[CniRule, ...]

    @property
    def key(self) -> str:
        return f"{self.label} {self.namespace}/{self.obj.name}" if self.namespace else f"{self.label} {self.obj.name}"


def is_cni_policy(obj: K8sObject) -> bool:
    return (obj.group, obj.kind) in KINDS


def parse_cni_policy(obj: K8sObject) -> CniPolicy | None:
    """The policy of a CNI object; None when ``obj`` is none."""
    label = KINDS.get((obj.group, obj.kind))
    if label is None:
        return None
    namespaced = obj.kind in ("CiliumNetworkPolicy", "NetworkPolicy")
    ns = (obj.namespace or "default") if namespaced else None
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    if obj.group == CILIUM:
        items = [spec] if spec else []
        specs = obj.get("specs")
        items += [s for s in (specs if isinstance(specs, list) else []) if isinstance(s, dict)]
        rules = tuple(r for s in items if (r := _cilium_rule(s, ns)) is not None)
    else:
        calico = _calico_rule(spec, ns, global_policy=not namespaced)
        rules = (calico,) if calico is not None else ()
    return CniPolicy(obj=obj, label=label, namespace=ns, rules=rules)


# ------------------------------------------------------------------------------------------- Cilium

_NS_KEY = "io.kubernetes.pod.namespace"
_NS_LABEL_PREFIX = "io.cilium.k8s.namespace.labels."
_UNKNOWN_KEYS = ("io.cilium.k8s.policy.serviceaccount", "io.cilium.k8s.policy.cluster")


def _cilium_key(key: str) -> str | None:
    """A selector key without its source prefix; None for a source manifests do not tell (reserved:...)."""
    source, sep, rest = key.partition(":")
    if not sep or "/" in source or "." in source:
        return key  # no source prefix (a plain label key may contain ':' only after a '/' or '.')
    return rest if source in ("k8s", "any") else None


def _has_rules(spec: Mapping[str, Any], *fields: str) -> bool:
    return any(isinstance(spec.get(f), list) and spec.get(f) for f in fields)


def _default_deny(spec: Mapping[str, Any], direction: str) -> bool:
    dd = spec.get("enableDefaultDeny")
    return not (isinstance(dd, dict) and dd.get(direction) is False)


def _cilium_rule(spec: Mapping[str, Any], ns: str | None) -> CniRule | None:
    if spec.get("nodeSelector") is not None:
        return None  # a host policy: it selects nodes
    sel = spec.get("endpointSelector")
    if not isinstance(sel, dict):
        return None
    ingress = _has_rules(spec, "ingress", "ingressDeny") and _default_deny(spec, "ingress")
    egress = _has_rules(spec, "egress", "egressDeny") and _default_deny(spec, "egress")
    requirements = _requirements(sel)
    keys = [_cilium_key(k) for k, _ in requirements]
    unknown = any(k is None or k in _UNKNOWN_KEYS for k in keys)
    normalised = _rekey(sel)

    def view(pod_ns: str, labels: Mapping[str, str], ns_labels: Mapping[str, str] | None) -> dict[str, str]:
        out = dict(labels)
        out[_NS_KEY] = pod_ns
        for k, v in (ns_labels or {}).items():
            out[_NS_LABEL_PREFIX + k] = v
        return out

    ns_keys = {k[len(_NS_LABEL_PREFIX) :] for k in keys if k and k.startswith(_NS_LABEL_PREFIX)}

    def selects(pod_ns: str, labels: Mapping[str, str], ns_labels: Mapping[str, str] | None) -> bool | None:
        if ns is not None and pod_ns != ns:
            return False
        if unknown or normalised is None:
            return None
        if ns_labels is None and ns_keys - {NAME_LABEL}:
            return None  # the namespace's labels are not in the input
        return label_selector_matches(normalised, view(pod_ns, labels, ns_labels or {NAME_LABEL: pod_ns}))

    def whole(pod_ns: str, ns_labels: Mapping[str, str] | None) -> bool:
        if ns is not None and pod_ns != ns:
            return False
        if unknown or normalised is None:
            return False
        pod_keys = [k for k in keys if k != _NS_KEY and not (k or "").startswith(_NS_LABEL_PREFIX)]
        return not pod_keys and selects(pod_ns, {}, ns_labels) is True

    return CniRule(selects=selects, ingress=ingress, egress=egress, whole_namespace=whole)


def _requirements(sel: Mapping[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    ml = sel.get("matchLabels")
    if isinstance(ml, dict):
        out += [(str(k), v) for k, v in ml.items()]
    exprs = sel.get("matchExpressions")
    for e in exprs if isinstance(exprs, list) else []:
        if isinstance(e, dict) and isinstance(e.get("key"), str):
            out.append((e["key"], e))
    return out


def _rekey(sel: Mapping[str, Any]) -> dict[str, Any] | None:
    """The selector with source prefixes taken off its keys (None when a key has an unknown source)."""
    out: dict[str, Any] = {}
    ml = sel.get("matchLabels")
    if isinstance(ml, dict):
        labels = {}
        for k, v in ml.items():
            key = _cilium_key(str(k))
            if key is None:
                return None
            labels[key] = v
        out["matchLabels"] = labels
    exprs = sel.get("matchExpressions")
    if isinstance(exprs, list):
        items = []
        for e in exprs:
            if not isinstance(e, dict) or not isinstance(e.get("key"), str):
                return None
            key = _cilium_key(e["key"])
            if key is None:
                return None
            items.append({**e, "key": key})
        out["matchExpressions"] = items
    return out


# ------------------------------------------------------------------------------------------- Calico

_CALICO_NS = "projectcalico.org/namespace"
_CALICO_NAME = "projectcalico.org/name"
_CALICO_SA = "projectcalico.org/serviceaccount"


def _calico_types(spec: Mapping[str, Any]) -> tuple[bool, bool]:
    types = spec.get("types")
    if isinstance(types, list) and types:
        return "Ingress" in types, "Egress" in types
    ingress, egress = _has_rules(spec, "ingress"), _has_rules(spec, "egress")
    if egress and not ingress:
        return False, True
    return True, egress


def _calico_rule(spec: Mapping[str, Any], ns: str | None, *, global_policy: bool) -> CniRule | None:
    if spec.get("preDNAT") is True or spec.get("doNotTrack") is True:
        return None  # host endpoints only
    ingress, egress = _calico_types(spec)
    pod_sel = compile_selector(spec.get("selector"))
    ns_sel = compile_selector(spec.get("namespaceSelector")) if global_policy else _ALL
    sa_sel = spec.get("serviceAccountSelector")
    sa_unknown = isinstance(sa_sel, str) and re.sub(r"\s+", "", sa_sel) not in ("", "all()")

    def ns_ok(pod_ns: str, ns_labels: Mapping[str, str] | None) -> bool | None:
        if ns_sel is None:
            return None
        if ns_sel.selects_all:
            return True
        if ns_labels is None and ns_sel.keys - {NAME_LABEL, _CALICO_NAME}:
            return None  # the namespace's labels are not in the input
        return ns_sel({**(ns_labels or {NAME_LABEL: pod_ns}), _CALICO_NAME: pod_ns})

    def selects(pod_ns: str, labels: Mapping[str, str], ns_labels: Mapping[str, str] | None) -> bool | None:
        if ns is not None and pod_ns != ns:
            return False
        if pod_sel is None or sa_unknown:
            return None
        in_ns = ns_ok(pod_ns, ns_labels)
        if not in_ns:
            return in_ns
        return pod_sel({**labels, _CALICO_NS: pod_ns, "projectcalico.org/orchestrator": "k8s"})

    def whole(pod_ns: str, ns_labels: Mapping[str, str] | None) -> bool:
        if ns is not None and pod_ns != ns:
            return False
        if pod_sel is None or sa_unknown or not pod_sel.selects_all:
            return False
        return ns_ok(pod_ns, ns_labels) is True

    return CniRule(selects=selects, ingress=ingress, egress=egress, whole_namespace=whole)


class CalicoSelector:
    """A compiled Calico selector expression: called with labels, True/False (None: it tests the
    ServiceAccount, which a manifest's pod does not carry as a label)."""

    __slots__ = ("fn", "keys", "selects_all", "uses_sa")

    def __init__(
        self, fn: Callable[[Mapping[str, str]], bool], *, selects_all: bool, keys: frozenset[str] = frozenset()
    ) -> None:
        self.fn, self.selects_all, self.keys = fn, selects_all, keys
        self.uses_sa = _CALICO_SA in keys

    def __call__(self, labels: Mapping[str, str]) -> bool | None:
        if self.uses_sa:
            return None
        return self.fn(labels)


_ALL = CalicoSelector(lambda _labels: True, selects_all=True)
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"[^"]*"|'[^']*')|(?P<op>&&|\|\||==|!=|!|\(|\)|\{|\}|,)|(?P<word>[A-Za-z0-9_./\-]+))"""
)


class _Parser:
    """Recursive descent over Calico's selector grammar: ``all()``, ``global()``, ``has(k)``,
    ``k == "v"``, ``k != "v"``, ``k in {...}``, ``k not in {...}``, ``k contains|starts with|ends with
    "s"``, ``!``, ``&&``, ``||``, parentheses."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise ValueError(f"unexpected {text[pos : pos + 10]!r}")
            kind = m.lastgroup or ""
            value = m.group(kind)
            self.tokens.append((kind, value[1:-1] if kind == "str" else value))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0
        self.keys: set[str] = set()

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, kind: str | None = None, value: str | None = None) -> str:
        if self.i >= len(self.tokens):
            raise ValueError("unexpected end")
        k, v = self.tokens[self.i]
        if (kind and k != kind) or (value and v != value):
            raise ValueError(f"unexpected {v!r}")
        self.i += 1
        return v

    def parse(self) -> Callable[[Mapping[str, str]], bool]:
        if not self.tokens:
            return lambda _labels: True  # an empty selector is all()
        fn = self.expr_or()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")
        return fn

    def expr_or(self) -> Callable[[Mapping[str, str]], bool]:
        left = self.expr_and()
        while self.peek("||"):
            self.take()
            right = self.expr_and()
            left = (lambda a, b: lambda labels: a(labels) or b(labels))(left, right)
        return left

    def expr_and(self) -> Callable[[Mapping[str, str]], bool]:
        left = self.unary()
        while self.peek("&&"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda labels: a(labels) and b(labels))(left, right)
        return left

    def unary(self) -> Callable[[Mapping[str, str]], bool]:
        if self.peek("!"):
            self.take()
            inner = self.unary()
            return lambda labels: not inner(labels)
        if self.peek("("):
            self.take()
            inner = self.expr_or()
            self.take(value=")")
            return inner
        word = self.take("word")
        if word in ("all", "global") and self.peek("("):
            self.take()
            self.take(value=")")
            return lambda _labels: True
        if word == "has" and self.peek("("):
            self.take()
            key = self.take("word")
            self.take(value=")")
            self.keys.add(key)
            return lambda labels: key in labels
        key = word
        self.keys.add(key)
        op = self.take()
        if op == "==":
            v = self.take("str")
            return lambda labels: labels.get(key) == v
        if op == "!=":
            v = self.take("str")
            return lambda labels: labels.get(key) != v
        if op == "in" or (op == "not" and self.take(value="in")):
            values = self.values()
            if op == "in":
                return lambda labels: key in labels and labels[key] in values
            return lambda labels: labels.get(key) not in values
        if op == "contains":
            v = self.take("str")
            return lambda labels: key in labels and v in labels[key]
        if op in ("starts", "ends"):
            self.take(value="with")
            v = self.take("str")
            if op == "starts":
                return lambda labels: key in labels and labels[key].startswith(v)
            return lambda labels: key in labels and labels[key].endswith(v)
        raise ValueError(f"unknown operator {op!r}")

    def values(self) -> frozenset[str]:
        self.take(value="{")
        out: set[str] = set()
        while not self.peek("}"):
            out.add(self.take("str"))
            if self.peek(","):
                self.take()
        self.take(value="}")
        return frozenset(out)


def compile_selector(text: Any) -> CalicoSelector | None:
    """A Calico selector; missing or empty is ``all()``; None when it cannot be parsed."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return _ALL
    if not isinstance(text, str):
        return None
    try:
        parser = _Parser(text)
        fn = parser.parse()
    except ValueError:
        return None
    compact = re.sub(r"\s+", "", text)
    return CalicoSelector(fn, selects_all=compact in ("all()", ""), keys=frozenset(parser.keys))


def cni_policies(objects: Iterator[K8sObject] | list[K8sObject]) -> list[CniPolicy]:
    """The CNI policies among ``objects``, in input order."""
    return [p for o in objects if (p := parse_cni_policy(o)) is not None]
