"""What other tools call: the pre-commit hook definition, the kubectl plugin entry point, shell
completion (click's), and the CI examples of docs/ci.md."""

from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubefort.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def test_pre_commit_hook_shape() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(hooks, list)
    (hook,) = [h for h in hooks if h["id"] == "kubefort"]
    # the keys pre-commit requires, and the ones that make it a manifest check
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["entry"] == "kubefort scan" and hook["language"] == "python"
    assert hook["types"] == ["yaml"]
    assert hook.get("pass_filenames", True) is True
    # the console script the entry names is declared
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert shlex.split(hook["entry"])[0] in scripts


def _hook_run(*files: Path) -> tuple[int, str]:
    hook = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())[0]
    argv = shlex.split(hook["entry"])[1:] + list(hook.get("args", [])) + [str(f) for f in files]
    r = CliRunner(mix_stderr=False).invoke(cli, argv)
    return r.exit_code, r.stdout


def test_pre_commit_hook_runs_as_pre_commit_would(tmp_path: Path) -> None:
    ci = tmp_path / "workflow.yaml"
    ci.write_text("on: push\njobs: {}\n")
    assert _hook_run(ci)[0] == 0  # YAML that is not Kubernetes: nothing to judge, not an error
    insecure = sorted((ROOT / "examples" / "insecure-app").glob("*.yaml"))
    code, out = _hook_run(ci, *insecure)
    assert code == 1 and "KF-POD-001" in out
    assert _hook_run(*sorted((ROOT / "examples" / "hardened-app").glob("*.yaml")))[0] == 0


def test_kubectl_plugin_entry_point() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubefort"] == "kubefort.cli:main"
    module, attr = scripts["kubectl-kubefort"].split(":")
    assert callable(getattr(importlib.import_module(module), attr))
    # kubectl finds plugins by file name: kubectl-<name>, `kubectl kubefort` runs it
    r = CliRunner().invoke(cli, ["--help"], prog_name="kubectl kubefort")
    assert r.exit_code == 0 and "Usage: kubectl kubefort" in r.output


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(shell: str) -> None:
    r = CliRunner().invoke(cli, ["completion", shell])
    assert r.exit_code == 0
    assert "_KUBEFORT_COMPLETE" in r.output and f"{shell}_complete" in r.output
    if shell == "bash":
        assert "complete -o nosort -F _kubefort_completion kubefort" in r.output
    if shell == "zsh":
        assert r.output.startswith("#compdef kubefort")


def test_completion_unknown_shell() -> None:
    r = CliRunner(mix_stderr=False).invoke(cli, ["completion", "tcsh"])
    assert r.exit_code == 2 and "tcsh" in r.stderr


def _complete(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_KUBEFORT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    r = CliRunner().invoke(cli, [], env=env, prog_name="kubefort")
    return [line.split(",", 1)[1] for line in r.output.splitlines() if line.startswith("plain,")]


def test_completion_answers() -> None:
    assert "scan" in _complete("kubefort sc") and "completion" in _complete("kubefort ")
    assert {"html", "sarif", "json", "junit"} <= set(_complete("kubefort scan -o "))
    assert "--no-progress" in _complete("kubefort scan --no-")
    assert {"bash", "zsh", "fish"} == set(_complete("kubefort completion "))


def test_ci_doc_examples() -> None:
    """The workflows in docs/ci.md are valid YAML and use what kubefort offers."""
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    docs = [yaml.safe_load(b) for b in blocks]
    gh = next(d for d in docs if isinstance(d, dict) and "jobs" in d)
    steps = [s for job in gh["jobs"].values() for s in job["steps"]]
    uses = " ".join(str(s.get("uses", "")) for s in steps)
    runs = " ".join(str(s.get("run", "")) for s in steps)
    assert "github/codeql-action/upload-sarif" in uses and "actions/upload-artifact" in uses
    assert "-o sarif" in runs and "-o html" in runs
    gl = next(
        d for d in docs if isinstance(d, dict) and any(isinstance(v, dict) and "artifacts" in v for v in d.values())
    )
    job = next(v for v in gl.values() if isinstance(v, dict) and "artifacts" in v)
    assert "junit" in job["artifacts"]["reports"]
    assert any("-o junit" in line for line in job["script"])
    for d in docs:  # every kubefort format named exists
        for fmt in re.findall(r"-o (\w+)", yaml.safe_dump(d)):
            assert fmt in _complete("kubefort scan -o ")
