"""Label selectors with Kubernetes' semantics, including the empty and missing cases peers get wrong.

- A ``LabelSelector`` (``matchLabels`` + ``matchExpressions``, e.g. NetworkPolicy ``podSelector``,
  Deployment ``selector``): ``{}`` selects everything; a missing (null) selector selects nothing.
- ``matchExpressions`` operators: ``In`` (key present with one of the values), ``NotIn`` (key absent,
  or present with none of the values), ``Exists``, ``DoesNotExist``. An invalid selector (unknown
  operator, ``In`` without values) selects nothing, as the API server would have rejected it.
- A Service ``spec.selector`` is a plain map: empty or missing means the Service has no selector
  and selects no pods (its endpoints are managed by hand).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_EMPTY: Mapping[str, str] = {}


def label_selector_matches(selector: Any, labels: Mapping[str, Any] | None) -> bool:
    """Whether a metav1.LabelSelector selects an object with ``labels``."""
    if selector is None or not isinstance(selector, dict):
        return False
    labels = labels or _EMPTY
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, dict):
        return False
    for k, v in match_labels.items():
        if k not in labels or str(labels[k]) != str(v):
            return False
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return False
    for e in exprs:
        if not isinstance(e, dict):
            return False
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if not isinstance(key, str) or not isinstance(values, list):
            return False
        values = [str(v) for v in values]
        present = key in labels
        if op == "In":
            if not values or not present or str(labels[key]) not in values:
                return False
        elif op == "NotIn":
            if not values or (present and str(labels[key]) in values):
                return False
        elif op == "Exists":
            if values or not present:
                return False
        elif op == "DoesNotExist":
            if values or present:
                return False
        else:
            return False
    return True


class LabelIndex:
    """The objects of a fixed list (by position) that label selectors match, as bitsets (bit ``i``: the
    ``i``-th labels), found from postings of each ``key=value`` instead of testing every object.

    ``match`` answers exactly what :func:`label_selector_matches` answers for each object, in time that
    grows with the selector and the size of the answer, not with the objects times the selectors:
    NetworkPolicy peers of a large cluster name thousands of distinct selectors over thousands of pod
    classes and namespaces.
    """

    __slots__ = ("_all", "_has", "_memo", "_values")

    def __init__(self, labels: Sequence[Mapping[str, Any] | None]) -> None:
        self._all = (1 << len(labels)) - 1
        self._values: dict[tuple[Any, str], int] = {}
        self._has: dict[Any, int] = {}
        for i, ls in enumerate(labels):
            bit = 1 << i
            for k, v in (ls or _EMPTY).items():
                self._values[(k, str(v))] = self._values.get((k, str(v)), 0) | bit
                self._has[k] = self._has.get(k, 0) | bit
        self._memo: dict[str, int] = {}

    def match(self, selector: Any, key: str | None = None) -> int:
        """Bitset of the objects ``selector`` selects; ``key`` (a canonical text of it) memoises the answer."""
        if key is not None:
            hit = self._memo.get(key)
            if hit is None:
                hit = self._memo[key] = self._match(selector)
            return hit
        return self._match(selector)

    def _match(self, selector: Any) -> int:
        if selector is None or not isinstance(selector, dict):
            return 0
        match_labels = selector.get("matchLabels") or {}
        if not isinstance(match_labels, dict):
            return 0
        values = self._values
        bits = self._all
        for k, v in match_labels.items():
            bits &= values.get((k, str(v)), 0)
        exprs = selector.get("matchExpressions") or []
        if not isinstance(exprs, list):
            return 0
        for e in exprs:
            if not isinstance(e, dict):
                return 0
            key, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
            if not isinstance(key, str) or not isinstance(vals, list):
                return 0
            texts = [str(v) for v in vals]
            if op in ("In", "NotIn"):
                if not texts:
                    return 0
                some = 0
                for t in texts:
                    some |= values.get((key, t), 0)
                bits = bits & some if op == "In" else bits & ~some
            elif op in ("Exists", "DoesNotExist"):
                if texts:
                    return 0
                has = self._has.get(key, 0)
                bits = bits & has if op == "Exists" else bits & ~has
            else:
                return 0
        return bits


def selects_everything(selector: Any) -> bool:
    """``{}`` (or only empty matchLabels/matchExpressions): selects every object."""
    return isinstance(selector, dict) and not (selector.get("matchLabels") or selector.get("matchExpressions"))


def service_selector_matches(selector: Any, labels: Mapping[str, Any] | None) -> bool:
    """Whether a Service's ``spec.selector`` map selects a pod. Empty or missing selects nothing."""
    if not isinstance(selector, dict) or not selector:
        return False
    labels = labels or _EMPTY
    return all(k in labels and str(labels[k]) == str(v) for k, v in selector.items())
