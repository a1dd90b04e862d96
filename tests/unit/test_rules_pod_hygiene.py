"""Helpers of the hygiene and runtime rules whose edge cases are easier to list than to write as manifests."""

from __future__ import annotations

from typing import Any

import pytest

from kubefort.engine.findings import Status
from kubefort.engine.runner import evaluate
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source
from kubefort.rules import default_registry
from kubefort.rules.pod_hygiene import _credential_match, _sudo_in_shell
from kubefort.rules.runtime import _parse_selector

REGISTRY = default_registry(plugins=False)


@pytest.mark.parametrize(
    "script",
    [
        "apt-get update && sudo make install",
        "sudo -u app ./run",
        "cd /app; exec sudo -E node server.js",
        "echo 1 | LANG=C sudo tee /proc/sys/vm/overcommit_memory",
        "if [ -w /data ]; then echo ok; else sudo chown 1000 /data; fi",
        "x=$(sudo cat /etc/shadow)",
        "env -i PATH=/usr/bin /usr/bin/sudo id",
        "true || 'sudo' id",
    ],
)
def test_sudo_found(script: str) -> None:
    assert _sudo_in_shell(script)


@pytest.mark.parametrize(
    "script",
    [
        "apt-get install -y sudo",
        "echo 'remember to use sudo' > /tmp/notes",
        "visudo -c -f /etc/sudoers.d/app",
        "cat /etc/sudoers && pseudo-run",
        "grep sudo /etc/group | wc -l",
    ],
)
def test_sudo_not_found(script: str) -> None:
    assert not _sudo_in_shell(script)


@pytest.mark.parametrize(
    "path",
    [
        "/home/ubuntu/.aws",
        "/root/.aws/credentials",
        "/root/.kube/",
        "//root//.kube",
        "/home/me/.config/gcloud",
        "/etc/kubernetes/azure.json",
        "/etc/kubernetes",
        "/etc",
        "/var/lib/kubelet",
        "/",
        "/home",
        "/home/ci",
        "/etc/gcp/creds.json",
        "C:\\Users\\admin\\.azure",
    ],
)
def test_credential_paths(path: str) -> None:
    assert _credential_match(path) is not None


@pytest.mark.parametrize(
    "path",
    [
        "/var/log",
        "/opt/.awsvault",
        "/srv/.kube-cache",
        "/etc/kubernetes/pki",
        "/var/lib/kubelet/pods",
        "/home/ci/projects",
        "/etc/gcpx",
    ],
)
def test_not_credential_paths(path: str) -> None:
    assert _credential_match(path) is None


def test_selector_parsing() -> None:
    assert _parse_selector("kubefort.io/untrusted=true") == [("kubefort.io/untrusted", "true")]
    assert _parse_selector("tier==sandbox, untrusted") == [("tier", "sandbox"), ("untrusted", None)]
    assert _parse_selector("") == []


def _obj(raw: dict[str, Any], live: bool = False) -> K8sObject:
    return K8sObject.from_raw(raw, Source(file="<live>" if live else "<test>", live=live))


def test_ssh_service_named_port_unresolved_is_judged_in_cluster_mode() -> None:
    """A named targetPort with no selected pod: not evaluated for manifests, a pass for a whole cluster."""
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]},
    }
    rule = REGISTRY.get("KF-POD-035")
    manifest = evaluate([rule], Inventory([_obj(svc)]))
    assert [r.status for r in manifest.results] == [Status.NOT_EVALUATED]
    cluster = evaluate([rule], Inventory([_obj(svc, live=True)], live=True), mode="cluster")
    assert not cluster.results and not cluster.findings


def test_default_namespace_follows_cli_namespace() -> None:
    """Objects without metadata.namespace loaded with ``-n prod`` are not in the default namespace."""
    raw = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {}}
    rule = REGISTRY.get("KF-POD-039")
    prod = K8sObject.from_raw(raw, Source(file="<test>"), default_namespace="prod")
    assert not evaluate([rule], Inventory([prod])).findings
    default = K8sObject.from_raw(raw, Source(file="<test>"))
    assert evaluate([rule], Inventory([default])).findings
