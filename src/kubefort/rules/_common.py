"""Helpers shared by rule modules."""

from __future__ import annotations

from ..engine.rule import PssControl, PssLevel

BASELINE = PssLevel.BASELINE
RESTRICTED = PssLevel.RESTRICTED


def pss(level: PssLevel, control: str, check_id: str) -> PssControl:
    return PssControl(level=level, control=control, check_id=check_id)


def truthy(value: object) -> bool:
    """Kubernetes booleans: only a real ``true`` counts (strings were rejected by the API server)."""
    return value is True
