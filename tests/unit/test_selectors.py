from __future__ import annotations

import pytest

from kubefort.model.selectors import label_selector_matches, selects_everything, service_selector_matches

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
