"""The lazy line locator agrees with PyYAML's composer (which knows every node's line)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import yaml

from kubefort.loading.yamlparse import parse_yaml_stream
from kubefort.model.source import DocumentText


def _paths(data: Any, prefix: tuple = (), depth: int = 0) -> Iterator[tuple]:
    yield prefix
    if depth > 12:
        return
    if isinstance(data, dict):
        for k, v in data.items():
            if isinstance(k, str):
                yield from _paths(v, prefix + (k,), depth + 1)
    elif isinstance(data, list):
        for i, v in enumerate(data[:50]):
            yield from _paths(v, prefix + (i,), depth + 1)


def _compare(text: str, name: str) -> int:
    docs, _ = parse_yaml_stream(text, name)
    n = 0
    for d in docs:
        fast = d.text
        slow = DocumentText(fast.text, fast.start_line, is_json=True)  # forces the composer
        for p in itertools.islice(_paths(d.data), 300):
            assert fast.line_of(p) == slow.line_of(p), (name, p)
            n += 1
    return n


def test_block_walk_matches_composer_on_examples() -> None:
    text = """\
# comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    "quoted.key/x": 'v'
    multi: |
      spec:
        containers:
      - name: fake
spec:
  template:
    spec:
      containers:
      - name: a
        image: x
        args:
          - --flag
          -   --other
        env: [{name: A, value: b}]
      -
        name: b
        securityContext:
          privileged: true
      initContainers:
        - name: i
          ports:
          - containerPort: 80
---
kind: Pod
apiVersion: v1
metadata: {name: p}
spec:
  containers:
  - {name: c, image: d}
"""
    assert _compare(text, "inline") > 20


def test_missing_field_points_at_parent() -> None:
    text = "kind: Pod\nspec:\n  containers:\n  - name: a\n    image: x\n"
    doc = DocumentText(text, 1)
    assert doc.line_of(("spec", "containers", 0, "securityContext", "privileged")) == 4
    assert doc.line_of(("spec", "containers", 0, "image")) == 5
    assert doc.line_of(("spec", "hostPID")) == 2


def test_start_line_offsets_documents() -> None:
    text = "a: 1\n---\nkind: Pod\nspec:\n  hostPID: true\n"
    docs, _ = parse_yaml_stream(text, "f")
    assert docs[1].text.line_of(("spec", "hostPID")) == 5


def test_block_walk_matches_composer_on_corpus(shared_dir) -> None:
    files = sorted((shared_dir / "corpus").rglob("*.y*ml"))
    assert files
    checked = 0
    for f in files:
        text = f.read_text(errors="replace")
        try:
            list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        checked += _compare(text, str(f))
    assert checked > 10000
