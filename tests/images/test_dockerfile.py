"""Dockerfiles: the parser (directives, continuations, here-documents, JSON form, flags, stages,
build arguments), discovery by ``kubefort scan``, ``kubefort dockerfile lint``."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubefort.cli import cli
from kubefort.loading.dockerfile import is_dockerfile_name, parse_dockerfile
from kubefort.loading.loader import load_paths

TEXT = """# syntax=docker/dockerfile:1
# escape=\\
ARG BASE=python:3.12-slim
FROM --platform=linux/amd64 ${BASE} AS build
# a comment between instructions
RUN apt-get update \\
    # a comment inside a continuation is dropped
    && apt-get install -y gcc \\

    && rm -rf /var/lib/apt/lists/*
COPY --chown=app:app ["src/", "/app/"]
RUN <<EOF
set -e
curl -fsSL https://example.com/x.sh | sh
EOF
ENV A=1 B="two words"
FROM build
USER 10001
CMD ["python", "-m", "app"]
"""


def test_parser() -> None:
    spec = parse_dockerfile(TEXT)
    ins = spec["instructions"]
    assert [i["instruction"] for i in ins] == ["ARG", "FROM", "RUN", "COPY", "RUN", "ENV", "FROM", "USER", "CMD"]
    assert spec["args"] == {"BASE": "python:3.12-slim"}
    assert ins[1]["flags"] == {"platform": "linux/amd64"} and ins[1]["args"] == ["${BASE}", "AS", "build"]
    assert (ins[2]["line"], ins[2]["endLine"]) == (6, 10)
    assert ins[2]["args"][0].startswith("apt-get update") and "rm -rf /var/lib/apt/lists/*" in ins[2]["args"][0]
    assert ins[3]["json"] and ins[3]["args"] == ["src/", "/app/"] and ins[3]["flags"] == {"chown": "app:app"}
    assert "curl -fsSL https://example.com/x.sh | sh" in ins[4]["heredocs"][0] and ins[4]["endLine"] == 15
    assert ins[5]["args"] == ["A=1", "B=two words"] and ins[5]["line"] == 16
    assert [s["name"] for s in spec["stages"]] == ["build", ""] and ins[8]["stage"] == 1


def test_escape_directive_and_odd_input() -> None:
    spec = parse_dockerfile("# escape=`\nFROM alpine:3.19\nRUN echo a `\n  b\nRUN 'unbalanced\n\x00garbage\n")
    assert spec["instructions"][1]["args"] == ["echo a b"]
    assert [i["instruction"] for i in spec["instructions"]] == ["FROM", "RUN", "RUN"]


def test_names() -> None:
    for name in ("Dockerfile", "Dockerfile.prod", "api.Dockerfile", "Containerfile", "build/dockerfile"):
        assert is_dockerfile_name(name), name
    for name in ("Dockerfile.yaml", "docker-compose.yml", ".dockerignore", "Dockerfile.md", "README"):
        assert not is_dockerfile_name(name), name


def test_scan_discovers_dockerfiles(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "Dockerfile").write_text("FROM nginx:latest\nRUN curl https://x.example/i.sh | bash\n")
    (tmp_path / "deploy.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    loaded = load_paths([str(tmp_path)])
    assert loaded.files == 2 and {o.kind for o in loaded.objects} == {"ConfigMap", "Dockerfile"}
    r = CliRunner(mix_stderr=False).invoke(cli, ["scan", str(tmp_path), "-o", "json"], catch_exceptions=False)
    doc = json.loads(r.stdout)
    hits = {(f["rule_id"], f["location"]["line"]) for f in doc["findings"] if f["object"]["kind"] == "Dockerfile"}
    assert {("KF-DOCKER-002", 1), ("KF-DOCKER-008", 2), ("KF-DOCKER-001", 1)} <= hits


def test_dockerfile_lint(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM registry.example.com/base/app:1.2@sha256:" + "a" * 64 + "\nUSER 1000\n")
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["dockerfile", "lint", str(tmp_path), "-o", "json"], catch_exceptions=False
    )
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["summary"]["rules"] == 9  # KF-DOCKER-004 waits for allowed_registries
    (tmp_path / "Dockerfile").write_text("FROM ubuntu\nENV GITHUB_TOKEN=ghp_T3stT0kenK8bef0rtIm4geScanR0ck5xyzw1\n")
    r = CliRunner(mix_stderr=False).invoke(cli, ["dockerfile", "lint", str(tmp_path)], catch_exceptions=False)
    assert r.exit_code == 1 and "KF-DOCKER-009" in r.stdout and "ghp_" not in r.stdout
