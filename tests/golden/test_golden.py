"""Every pinned output is byte-for-byte what ``tests/golden/expected.json`` holds (see golden.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import golden

EXPECTED = json.loads(golden.EXPECTED.read_text())
CASES = list(golden.cases())


@pytest.fixture(scope="module")
def node_roots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    yield golden.prepare_nodes(tmp_path_factory.mktemp("golden"))


def test_every_case_is_pinned() -> None:
    assert golden.CORPUS.is_dir(), (
        f"{golden.CORPUS} is missing: the golden corpus cases need ../shared beside the repository"
    )
    assert sorted(c.name for c in CASES) == sorted(EXPECTED), "run tests/golden/golden.py --update and review the diff"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_output_unchanged(case: golden.Case, node_roots: dict[str, str]) -> None:
    got = golden.record(golden.run_case(case, node_roots))
    msg = golden.compare(case.name, EXPECTED.get(case.name, {}), got)
    assert msg is None, msg
