"""The catalogue's contract: IDs, slugs, severities and titles as in ../shared/catalogue.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubefort.engine.rule import Rule, Scope
from kubefort.rules import default_registry

REGISTRY = default_registry(plugins=False)
RULES = list(REGISTRY)
CATALOGUE = Path(__file__).resolve().parents[3] / "shared" / "catalogue.md"


def _catalogue() -> dict[str, tuple[str, str]]:
    if not CATALOGUE.exists():
        pytest.skip("../shared/catalogue.md not beside the repository")
    out = {}
    for line in CATALOGUE.read_text().splitlines():
        m = re.match(r"^\| (KF-[A-Z]+-\d{3}) \| (.*?) \| (critical|high|medium|low|info) \|", line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def test_ids_and_slugs_unique() -> None:
    ids = [r.meta.id for r in RULES]
    slugs = [r.meta.slug for r in RULES]
    assert len(ids) == len(set(ids))
    assert len(slugs) == len(set(slugs))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.meta.id)
def test_rule_metadata(rule: Rule) -> None:
    m = rule.meta
    assert re.fullmatch(r"KF-[A-Z]+-\d{3}", m.id)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", m.slug), m.slug
    assert m.remediation.endswith("."), "remediation must be a sentence ending with a period"
    assert m.rationale.endswith("."), "rationale must be a sentence ending with a period"
    assert m.refs, "every rule names at least one reference"
    assert m.area == m.id.split("-")[1]
    if m.scope is not Scope.OBJECT:
        assert m.kinds is None or m.kinds


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.meta.id)
def test_rule_matches_catalogue(rule: Rule) -> None:
    cat = _catalogue()
    assert rule.meta.id in cat, f"{rule.meta.id} is not in the catalogue"
    title, sev = cat[rule.meta.id]
    assert rule.meta.title == title
    assert rule.meta.severity.label == sev
