"""The catalogue's contract (docs/catalogue.md): every registered rule has its row there, with the same
title, severity and peer references, and the Status column says exactly which rules are implemented."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubefort.engine.rule import Rule, Scope
from kubefort.rules import default_registry

REGISTRY = default_registry(plugins=False)
RULES = list(REGISTRY)
ALL_RULES = [pytest.param(r, id=r.meta.id) for r in RULES]
CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "catalogue.md"
SEVERITIES = ("critical", "high", "medium", "low", "info")
STATUSES = ("implemented", "planned")

#: Refs column prefix -> metadata ``refs`` key, for the references the two must agree on (peer tools,
#: Pod Security Standards, CIS, the NSA/CISA guide topic).
PEERS = {
    "PSS:": "pss",
    "CIS": "cis",
    "kubescape": "kubescape",
    "checkov": "checkov",
    "trivy": "trivy",
    "polaris": "polaris",
    "kube-score": "kube-score",
    "kube-linter": "kube-linter",
    "kubeaudit": "kubeaudit",
    "NSA/CISA:": "nsa",
    "kubeconform": "kubeconform",
    "kubectl": "kubectl",
    "hadolint": "hadolint",
    "kubehound": "kubehound",
}
#: metadata keys that point at upstream documentation rather than at a peer check: not in the catalogue
DOC_KEYS = {"k8s", "istio", "linkerd", "kyverno", "gatekeeper", "kubefort"}
#: Refs entries that name no peer check
NON_PEER = re.compile(r"^(\(no peer equivalent\)|none \(kubefort\))$")

#: Known differences between a rule's metadata refs and its catalogue row, (ID, key, value) -> reason.
#: The metadata refs appear in the JSON, SARIF and Markdown reports, which are pinned byte for byte
#: (tests/golden), so they are not changed to hide a difference.
KNOWN: dict[tuple[str, str, str], str] = {
    ("KF-POD-001", "kube-linter", "scc-deny-privileged-container"): (
        "catalogue only: the OpenShift SecurityContextConstraints variant the row describes is not implemented"
    ),
    ("KF-ADM-002", "pss", "Pod Security admission enforce label"): (
        "metadata only: names the Pod Security admission feature the rule is about; the catalogue's PSS "
        "references name Pod Security Standards controls, and this rule implements none"
    ),
    ("KF-ADM-003", "pss", "Pod Security Standards restricted level"): "metadata only: as KF-ADM-002",
    ("KF-ADM-004", "pss", "Pod Security admission namespace labels"): "metadata only: as KF-ADM-002",
    ("KF-ADM-005", "pss", "Pod Security admission namespace labels"): "metadata only: as KF-ADM-002",
}


@dataclass(frozen=True)
class Row:
    title: str
    severity: str
    input: str
    status: str
    condition: str
    refs: str


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _rows() -> dict[str, Row]:
    out: dict[str, Row] = {}
    for line in CATALOGUE.read_text().splitlines():
        if re.match(r"^\| KF-[A-Z]+-\d{3} \|", line):
            cells = _cells(line)
            assert len(cells) == 7, f"catalogue row with {len(cells)} cells: {line[:60]}"
            assert cells[0] not in out, f"{cells[0]} has two catalogue rows"
            out[cells[0]] = Row(*cells[1:])
    return out


ROWS = _rows()


def _split(text: str) -> list[str]:
    """Split on ", " outside parentheses: ``3.1.2 (related, see KF-CP-056)`` stays whole."""
    out, depth, cur = [], 0, ""
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0 and text[i + 1 : i + 2] == " ":
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [*out, cur.strip()] if cur.strip() else out


def catalogue_refs(refs: str) -> dict[str, set[str]]:
    """The Refs column as metadata keys and values (``PSS: Seccomp (restricted, `x`)`` -> pss)."""
    out: dict[str, set[str]] = {}
    for item in refs.split("; "):
        item = item.strip()
        if item.startswith("NSA/CISA:"):
            out["nsa"] = {item}
            continue
        word, _, rest = item.partition(" ")
        if word in PEERS:
            out[PEERS[word]] = set(_split(rest.replace("`", "")))
        else:
            assert NON_PEER.match(item), f"unknown entry in a Refs column: {item!r}"
    return out


def metadata_refs(rule: Rule) -> dict[str, set[str]]:
    return {k: set(v) for k, v in rule.meta.refs.items() if k not in DOC_KEYS}


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


@pytest.mark.parametrize("rule", ALL_RULES)
def test_rule_matches_catalogue(rule: Rule) -> None:
    assert rule.meta.id in ROWS, f"{rule.meta.id} is not in docs/catalogue.md"
    row = ROWS[rule.meta.id]
    assert rule.meta.title == row.title
    assert rule.meta.severity.label == row.severity


@pytest.mark.parametrize("rule", ALL_RULES)
def test_rule_refs_match_catalogue(rule: Rule) -> None:
    """Each peer reference of the metadata is in the catalogue row, and each of the row's is in the
    metadata, except the known differences of :data:`KNOWN`."""
    rid = rule.meta.id
    assert set(rule.meta.refs) <= set(PEERS.values()) | DOC_KEYS, "a new refs key: add it to PEERS or DOC_KEYS"
    cat, meta = catalogue_refs(ROWS[rid].refs), metadata_refs(rule)
    only_meta = {(rid, k, v) for k, vs in meta.items() for v in vs - cat.get(k, set())}
    only_cat = {(rid, k, v) for k, vs in cat.items() for v in vs - meta.get(k, set())}
    assert not only_meta - KNOWN.keys(), "in the rule's refs but not in its docs/catalogue.md row"
    assert not only_cat - KNOWN.keys(), "in the docs/catalogue.md row but not in the rule's refs"


def test_known_ref_differences_are_still_differences() -> None:
    """An entry of :data:`KNOWN` that no longer differs must leave the list."""
    by_id = {r.meta.id: r for r in RULES}
    for rid, key, value in KNOWN:
        in_cat = value in catalogue_refs(ROWS[rid].refs).get(key, set())
        in_meta = value in metadata_refs(by_id[rid]).get(key, set())
        assert in_cat != in_meta, f"{(rid, key, value)} is no longer a difference: remove it from KNOWN"


def test_catalogue_rows_well_formed() -> None:
    for rid, row in ROWS.items():
        assert row.severity in SEVERITIES, rid
        assert row.status in STATUSES, rid
        assert row.title and row.input and row.condition and row.refs, rid
        catalogue_refs(row.refs)  # every Refs entry is a known peer or a known note


def test_status_column_is_the_registry() -> None:
    """``implemented`` exactly for the registered rules: implementing a rule means updating its row."""
    implemented = {rid for rid, row in ROWS.items() if row.status == "implemented"}
    registered = {r.meta.id for r in RULES}
    assert registered - implemented == set(), "registered but marked planned (or missing) in docs/catalogue.md"
    assert implemented - registered == set(), "marked implemented in docs/catalogue.md but not registered"


def test_area_headings_count_their_rows() -> None:
    """``## POD - ... (45 rules)`` counts the rows of its table."""
    area = None
    counts: dict[str, tuple[int, int]] = {}
    for line in CATALOGUE.read_text().splitlines():
        m = re.match(r"^## ([A-Z]+) - .*\((\d+) rules\)$", line)
        if m:
            area = m.group(1)
            counts[area] = (int(m.group(2)), 0)
        elif line.startswith("## "):
            area = None
        elif area and line.startswith(f"| KF-{area}-"):
            declared, seen = counts[area]
            counts[area] = (declared, seen + 1)
    assert counts and all(d == s for d, s in counts.values()), counts
    assert sum(d for d, _ in counts.values()) == len(ROWS)
