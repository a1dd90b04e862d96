"""Render Helm charts and Kustomize directories with the users' own binaries."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from ..errors import RenderError

HELM_INSTALL = "install Helm 3 (https://helm.sh/docs/intro/install/) and make sure 'helm' is on PATH"
KUSTOMIZE_INSTALL = "install kubectl (which has 'kubectl kustomize' built in) or the standalone 'kustomize' binary"


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    except subprocess.TimeoutExpired:
        raise RenderError(f"{what}: timed out after 300 s") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise RenderError(f"{what} failed: {err[-1] if err else f'exit code {proc.returncode}'}")
    return proc.stdout


def render_helm(
    chart_dir: str, values: list[str] | None = None, release: str = "release", namespace: str | None = None
) -> str:
    helm = shutil.which("helm")
    if helm is None:
        raise RenderError(f"--helm needs the 'helm' binary, which is not on PATH: {HELM_INSTALL}")
    if not os.path.isdir(chart_dir):
        raise RenderError(f"--helm {chart_dir}: not a directory")
    cmd = [helm, "template", release, chart_dir]
    for v in values or []:
        cmd += ["--values", v]
    if namespace:
        cmd += ["--namespace", namespace]
    with tempfile.TemporaryDirectory(prefix="kubefort-helm-") as home:
        env = dict(os.environ)
        # keep helm's config and cache out of the user's home, and never touch the network
        env.update(HELM_CONFIG_HOME=home, HELM_CACHE_HOME=home, HELM_DATA_HOME=home)
        return _run(cmd, f"helm template {chart_dir}", env)


def render_kustomize(directory: str) -> str:
    if not os.path.isdir(directory):
        raise RenderError(f"--kustomize {directory}: not a directory")
    kustomize = shutil.which("kustomize")
    if kustomize:
        return _run([kustomize, "build", directory], f"kustomize build {directory}")
    kubectl = shutil.which("kubectl")
    if kubectl:
        return _run([kubectl, "kustomize", directory], f"kubectl kustomize {directory}")
    raise RenderError(f"--kustomize needs 'kustomize' or 'kubectl' on PATH, and neither is: {KUSTOMIZE_INSTALL}")
