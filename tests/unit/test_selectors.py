from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubefort.model.selectors import LabelIndex, label_selector_matches, selects_everything, service_selector_matches

L = {"app": "web", "tier": "frontend"}


@pytest.mark.parametrize(
    "selector,labels,expected",
    [
        ({}, L, True),  # empty selector: everything
        ({}, {}, True),
        (None, L, False),  # null selector: nothing
        ({"matchLabels": {"app": "web"}}, L, True),
        ({"matchLabels": {"app": "db"}}, L, False),
        ({"matchLabels": {"app": "web", "x": "y"}}, L, False),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}, L, True),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}, L, False),  # invalid
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}, L, True),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, L, True),  # absent key
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, L, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, L, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, L, False),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, L, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, L, False),
        ({"matchExpressions": [{"key": "app", "operator": "Bogus", "values": ["web"]}]}, L, False),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["backend"]}],
            },
            L,
            False,
        ),
    ],
)
def test_label_selector(selector, labels, expected) -> None:  # type: ignore[no-untyped-def]
    assert label_selector_matches(selector, labels) is expected


def test_selects_everything() -> None:
    assert selects_everything({}) and selects_everything({"matchLabels": {}})
    assert not selects_everything(None) and not selects_everything({"matchLabels": {"a": "b"}})


def test_service_selector_empty_selects_nothing() -> None:
    assert not service_selector_matches({}, L)
    assert not service_selector_matches(None, L)
    assert service_selector_matches({"app": "web"}, L)
    assert not service_selector_matches({"app": "web", "v": "2"}, L)


# --------------------------------------------------------------------------- LabelIndex

_KEYS = st.sampled_from(["app", "tier", "team", "x"])
_VALUES = st.one_of(st.sampled_from(["a", "b", "c", "1", ""]), st.integers(0, 2), st.booleans())
_LABELS = st.one_of(st.none(), st.dictionaries(_KEYS, _VALUES, max_size=3))
_EXPRESSION = st.one_of(
    st.fixed_dictionaries(
        {
            "key": st.one_of(_KEYS, st.integers(0, 1)),
            "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Equals"]),
        },
        optional={"values": st.one_of(st.lists(_VALUES, max_size=3), st.just("a"))},
    ),
    st.just("not a mapping"),
)
_SELECTOR = st.one_of(
    st.none(),
    st.just("nope"),
    st.fixed_dictionaries(
        {},
        optional={
            "matchLabels": st.one_of(st.dictionaries(_KEYS, _VALUES, max_size=2), st.just(["a"])),
            "matchExpressions": st.one_of(st.lists(_EXPRESSION, max_size=3), st.just({"a": 1})),
        },
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LABELS, max_size=8), st.lists(_SELECTOR, min_size=1, max_size=4))
def test_label_index_matches_what_each_object_matches(labels: list[Any], selectors: list[Any]) -> None:
    index = LabelIndex(labels)
    for sel in selectors:
        want = sum(1 << i for i, ls in enumerate(labels) if label_selector_matches(sel, ls))
        assert index.match(sel) == want, (sel, labels)
        assert index.match(sel, key=repr(sel)) == want
