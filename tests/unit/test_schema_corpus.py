"""The schema findings on ``../shared/corpus`` (6,600 real documents), pinned one per line.

Each was read against the Kubernetes API reference (docs/schema.md summarises them): a change in this
list is a change in what kubefort says about real manifests, and must be explained. After a deliberate
change, rewrite the list with ``python tests/unit/test_schema_corpus.py`` and review the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kubefort.api import ScanOptions, scan

PINNED = Path(__file__).with_name("schema_corpus_findings.txt")
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"


def findings(corpus: Path) -> list[str]:
    rep = scan(ScanOptions(paths=[str(corpus)], rules=["KF-SCHEMA-*"], keep_passes=False))
    assert not rep.rule_errors and not rep.errors
    out = []
    for f in rep.findings:
        where = f"{Path(f.location.file).relative_to(corpus)}:{f.location.line}"
        sub = f"/{f.subcode}" if f.subcode else ""
        out.append(f"{f.rule.id}{sub} {where} {f.object} {f.path_str}: {f.message}")
    return sorted(out)


def test_schema_findings_on_the_corpus_are_pinned() -> None:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not beside the repository")
    got = findings(CORPUS)
    want = PINNED.read_text().splitlines()
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not extra, "\n".join(["no longer found:", *missing, "new:", *extra][:80])


if __name__ == "__main__":
    lines = findings(CORPUS)
    PINNED.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} findings to {PINNED}", file=sys.stderr)
