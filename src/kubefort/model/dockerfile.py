"""``Dockerfile``: a Dockerfile as a Kubernetes-shaped object, so the Dockerfile rules run through the
same engine as every other rule (suppressions, baselines, every reporter), with findings at the line
of the instruction. :mod:`kubefort.loading.dockerfile` makes one per file; the shape::

    apiVersion: kubefort.io/v1alpha1
    kind: Dockerfile
    metadata:
      name: build/Dockerfile                  # the file
    spec:
      instructions:
        - instruction: FROM                   # upper-case
          value: "python:3.12-slim AS build"  # the arguments as written (continuations joined)
          flags: {platform: linux/amd64}      # --name=value flags before the arguments
          args: ["python:3.12-slim", "AS", "build"]   # shell words, or the JSON form's items
          json: false                         # written in the JSON (exec) form
          heredocs: ["..."]                   # bodies of <<EOF here-documents
          line: 1                             # first and last line in the file
          endLine: 1
          stage: 0                            # index of the build stage it belongs to (-1 before FROM)
      stages:
        - {name: build, image: python:3.12-slim, instruction: 0, line: 1}
      args: {PY: "3.12"}                      # ARG defaults declared before the first FROM

Findings point at ``spec.instructions[i]`` (and deeper), located at the instruction's first line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .objects import K8sObject, Source
from .source import DocumentText

API_VERSION = "kubefort.io/v1alpha1"
KIND = "Dockerfile"


class DockerfileText(DocumentText):
    """The text of a Dockerfile, locating ``spec.instructions[i]...`` at the instruction's line."""

    __slots__ = ("instruction_lines",)

    def __init__(self, text: str, instruction_lines: Sequence[int]) -> None:
        super().__init__(text, 1)
        self.instruction_lines = tuple(instruction_lines)

    def line_of(self, path: Sequence[str | int]) -> int:
        if (
            len(path) >= 3
            and path[0] == "spec"
            and path[1] == "instructions"
            and isinstance(path[2], int)
            and 0 <= path[2] < len(self.instruction_lines)
        ):
            return self.instruction_lines[path[2]]
        return 1


def dockerfile_object(raw: Mapping[str, Any], file: str, text: str) -> K8sObject:
    instructions = raw.get("spec", {}).get("instructions", [])
    lines = [int(i.get("line", 1)) for i in instructions if isinstance(i, Mapping)]
    return K8sObject.from_raw(raw, Source(file=file, doc=DockerfileText(text, lines)), cluster_scoped=True)


def is_dockerfile(obj: K8sObject) -> bool:
    return obj.kind == KIND and obj.api_version == API_VERSION
