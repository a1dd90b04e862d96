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

from collections.abc import Mapping
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


def selects_everything(selector: Any) -> bool:
    """``{}`` (or only empty matchLabels/matchExpressions): selects every object."""
    return isinstance(selector, dict) and not (selector.get("matchLabels") or selector.get("matchExpressions"))


def service_selector_matches(selector: Any, labels: Mapping[str, Any] | None) -> bool:
    """Whether a Service's ``spec.selector`` map selects a pod. Empty or missing selects nothing."""
    if not isinstance(selector, dict) or not selector:
        return False
    labels = labels or _EMPTY
    return all(k in labels and str(labels[k]) == str(v) for k, v in selector.items())
