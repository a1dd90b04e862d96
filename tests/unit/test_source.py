"""The lazy line locator agrees with PyYAML's composer (which knows every node's line)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
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


# -- line breaks: CR LF (Windows) and lone CR are one line break each, as in YAML -----------------------

WINDOWS_POD = """\
# a Pod saved on Windows
apiVersion: v1
kind: Pod
metadata:
  name: agent
spec:
  containers:
  - name: agent
    image: registry.example.com/agent:3.1
    env:
    - name: ACCESS_KEY
      value: placeholder
    securityContext:
      privileged: true
---
apiVersion: v1
kind: Service
metadata:
  name: agent
spec:
  ports:
  - port: 80
"""


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lines_count_every_yaml_line_break(newline: str) -> None:
    from kubefort.loading.loader import load_text

    text = WINDOWS_POD.replace("\n", newline)
    pod, svc = load_text(text, "agent.yaml").objects
    assert pod.locate(("spec", "containers", 0, "env", 0, "value")).line == 12
    assert pod.locate(("spec", "containers", 0, "securityContext", "privileged")).line == 14
    assert svc.locate(("spec", "ports", 0, "port")).line == 22
    assert pod.get("spec", "containers", 0, "env", 0, "value") == "placeholder"  # data unchanged


def test_document_text_normalises_line_breaks_itself() -> None:
    doc = DocumentText("kind: Pod\r\nspec:\r\n  hostPID: true\r\n", 3)
    assert doc.line_of(("spec", "hostPID")) == 5
    assert "\r" not in doc.text


def test_crlf_block_scalars_keep_their_content() -> None:
    from kubefort.loading.loader import load_text

    text = (
        "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: c\r\ndata:\r\n  a: |\r\n    x\r\n    y\r\n  b: z\r\n"
    )
    (cm,) = load_text(text, "c.yaml").objects
    assert cm.get("data") == {"a": "x\ny\n", "b": "z"}
    assert cm.locate(("data", "b")).line == 9
