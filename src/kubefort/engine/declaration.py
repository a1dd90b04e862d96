"""Where a rule is declared: the source line of its literal ID and its fixture directory.

Every rule is declared with its literal ID (``id="KF-NODE-005"``) so that ``grep KF-NODE-005`` finds it;
``kubefort rules show`` prints the file and line, and the directory of its test cases, so a
contributor goes from an ID to the code and the fixtures in one step (docs/writing-rules.md).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from .rule import Rule

#: Where the rule fixtures live in a source checkout (tests/rules/test_catalogue.py runs them).
FIXTURES = Path("tests", "rules", "fixtures")


@dataclass(frozen=True, slots=True)
class Declaration:
    """The source of one rule. ``line`` holds its literal ``id="..."`` when ``literal``; otherwise it is
    the first line of the rule's function (an ID built from fragments cannot be found by grep)."""

    file: Path | None  # None: the function has no Python source (a built-in or generated callable)
    line: int | None
    literal: bool
    fixtures: Path | None  # tests/rules/fixtures/<ID>/ when kubefort runs from a checkout that has it
    checkout: Path | None  # the source checkout kubefort runs from, if any


def source_checkout() -> Path | None:
    """The root of the source checkout this kubefort is imported from (``src/kubefort`` under a
    directory with ``pyproject.toml`` and the rule fixtures), or None for an installed package."""
    here = Path(__file__).resolve()
    src, root = here.parents[2], here.parents[3]
    if src.name == "src" and (root / "pyproject.toml").is_file() and (root / FIXTURES).is_dir():
        return root
    return None


def literal_id_pattern(rule_id: str) -> re.Pattern[str]:
    """``id="KF-..."`` (or with single quotes) for exactly this ID, as written in a ``@rule(...)`` call."""
    return re.compile(r"""\bid\s*=\s*(["'])""" + re.escape(rule_id) + r"\1")


def declaration(rule: Rule) -> Declaration:
    """Find ``rule``'s declaration by reading the module source of its function."""
    fn = inspect.unwrap(rule.fn)
    checkout = source_checkout()
    fixtures = checkout / FIXTURES / rule.id if checkout is not None else None
    if fixtures is not None and not fixtures.is_dir():
        fixtures = None
    try:
        name = inspect.getsourcefile(fn)
    except TypeError:
        name = None
    if name is None:
        return Declaration(None, None, False, fixtures, checkout)
    file = Path(name).resolve()
    code = getattr(fn, "__code__", None)
    first = code.co_firstlineno if code is not None else None
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return Declaration(file, first, False, fixtures, checkout)
    pattern = literal_id_pattern(rule.id)
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if pattern.search(line)]
    if not hits:
        return Declaration(file, first, False, fixtures, checkout)
    # A module may also quote the ID elsewhere (a docstring example): take the one nearest the function.
    near = min(hits, key=lambda n: abs(n - first)) if first is not None else hits[0]
    return Declaration(file, near, True, fixtures, checkout)
