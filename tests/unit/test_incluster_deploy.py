"""``kubefort deploy manifests``: the manifests scan clean with kubefort itself, the ClusterRole grants
exactly what the pod's scan reads (checked against the test API server with everything else
forbidden), and deploy/kubefort-incluster.yaml is what the command prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from test_cluster_reports import cluster_store

from kubeapi.server import KubeAPIServer
from kubefort.api import ScanOptions, cluster_kinds, load_inputs, scan_inventory, select_rules, skipped_rules
from kubefort.cli import cli
from kubefort.engine.config import Config
from kubefort.engine.rule import Severity
from kubefort.incluster.manifests import (
    NOT_SERVED,
    RESOURCES,
    DeployOptions,
    check_schedule,
    deployment,
    read_grants,
    render,
    secret_readers,
)
from kubefort.model.inventory import Inventory
from kubefort.reporters.policyreport import POLICYREPORT
from kubefort.rules import default_registry

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = default_registry(plugins=False)
VARIANTS = {
    "cronjob": DeployOptions(),
    "watch": DeployOptions(watch=True),
    "with-secrets": DeployOptions(with_secrets=True, watch=True),
    "policyreport-pinned": DeployOptions(
        reports=POLICYREPORT,
        image="registry.example.com/sec/kubefort@sha256:" + "0" * 64,
        api_server_cidrs=("10.96.0.1/32", "172.18.0.2/32"),
        namespace="security",
        schedule="@daily",
    ),
    "some-rules": DeployOptions(rules=("KF-POD-*", "KF-NET-*"), skip_rules=("KF-NET-004",)),
}


def docs_of(opts: DeployOptions) -> list[dict[str, Any]]:
    docs, _ = deployment(opts, REGISTRY)
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_manifests_scan_clean_with_kubefort(tmp_path: Path, name: str) -> None:
    """No finding at low or above; what remains by design is suppressed in the manifests, with a reason."""
    opts = VARIANTS[name]
    docs, grants = deployment(opts, REGISTRY)
    path = tmp_path / "kubefort.yaml"
    path.write_text(render(docs, grants))
    loaded = load_inputs(ScanOptions(paths=[str(path)]))
    assert not loaded.errors
    report = scan_inventory(Inventory(loaded.objects), ScanOptions(), cfg=Config(), registry=REGISTRY)
    active = [f"{f.rule.id} {f.object}: {f.message}" for f in report.active_findings if f.severity >= Severity.LOW]
    assert active == []
    assert not report.rule_errors
    assert not [n for n in report.notes if "kubefort.io/ignore" in n], report.notes  # every suppression parses
    for f in report.findings:
        if f.suppressed:
            assert f.suppression.startswith("annotation: ") and len(f.suppression) > len("annotation: ") + 10


@pytest.mark.parametrize("name", list(VARIANTS))
def test_cluster_role_grants_exactly_what_the_rules_read(name: str) -> None:
    opts = VARIANTS[name]
    docs, grants = deployment(opts, REGISTRY)
    secret_rules = [] if opts.with_secrets else secret_readers(REGISTRY)
    scan = ScanOptions(rules=list(opts.rules), skip_rules=[*opts.skip_rules, *secret_rules])
    kinds = cluster_kinds(select_rules(scan, Config(), REGISTRY), REGISTRY, skip=skipped_rules(scan, Config()))
    assert grants.kinds == kinds
    assert grants.unknown == ()  # every kind the rules read is mapped, or known not to be served
    want = {gr for k in kinds for gr in RESOURCES.get(k, ())}
    (reader,) = [d for d in by_kind(docs, "ClusterRole") if d["metadata"]["name"] == "kubefort-read"]
    have = {(g, r) for rule in reader["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert have == want
    assert all(rule["verbs"] == ["get", "list", "watch"] for rule in reader["rules"])
    assert (("", "secrets") in have) is opts.with_secrets
    (writer,) = [d for d in by_kind(docs, "ClusterRole") if d["metadata"]["name"] == "kubefort-reports"]
    group = opts.reports.api_version.split("/")[0]
    assert writer["rules"] == [
        {
            "apiGroups": [group],
            "resources": sorted(f"{k.lower()}s" for k in (opts.reports.kind, opts.reports.cluster_kind)),
            "verbs": ["get", "list", "patch", "delete"],
        }
    ]
    for b in by_kind(docs, "ClusterRoleBinding"):
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": "kubefort", "namespace": opts.namespace}]
    # the pod runs with the selection the role was derived from
    (pod_args,) = [c["args"] for w in docs for c in _containers(w)]
    if not opts.with_secrets:
        assert pod_args[pod_args.index("--skip-rules") + 1].split(",")[-len(secret_rules) :] == secret_rules
    else:
        assert "--secret-values" in pod_args


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] == "CronJob":
        return list(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"])
    if doc["kind"] == "Deployment":
        return list(doc["spec"]["template"]["spec"]["containers"])
    return []


def test_every_kind_is_known() -> None:
    """A rule that starts reading a new kind must say how it is served (RESOURCES) or that it is not."""
    kinds = cluster_kinds(list(REGISTRY), REGISTRY)
    assert read_grants(kinds).unknown == ()
    assert not set(RESOURCES) & set(NOT_SERVED)


def test_workload_and_network_policy() -> None:
    cron = docs_of(DeployOptions())
    (job,) = by_kind(cron, "CronJob")
    assert job["spec"]["schedule"] == "17 * * * *" and job["spec"]["concurrencyPolicy"] == "Forbid"
    (c,) = _containers(job)
    assert c["args"][0] == "watch" and c["args"][-1] == "--once"
    assert not by_kind(cron, "Deployment") and not by_kind(cron, "Service")
    watch = docs_of(DeployOptions(watch=True))
    (dep,) = by_kind(watch, "Deployment")
    (c,) = _containers(dep)
    assert c["args"][-2:] == ["--port", "8080"] and c["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert dep["spec"]["replicas"] == 1
    (svc,) = by_kind(watch, "Service")
    assert svc["spec"]["ports"][0]["port"] == 8080
    for docs, ingress in ((cron, []), (watch, [{"ports": [{"protocol": "TCP", "port": 8080}]}])):
        (netpol,) = [d for d in by_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "kubefort"]
        spec = netpol["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"] and spec["ingress"] == ingress
        api, dns = spec["egress"]
        assert {p["port"] for p in api["ports"]} == {443, 6443} and "to" not in api
        assert {p["port"] for p in dns["ports"]} == {53}
        assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    pinned = docs_of(VARIANTS["policyreport-pinned"])
    (netpol,) = [d for d in by_kind(pinned, "NetworkPolicy") if d["metadata"]["name"] == "kubefort"]
    assert netpol["spec"]["egress"][0]["to"] == [
        {"ipBlock": {"cidr": "10.96.0.1/32"}},
        {"ipBlock": {"cidr": "172.18.0.2/32"}},
    ]
    (ns,) = by_kind(pinned, "Namespace")
    assert ns["metadata"]["name"] == "security"
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_schedule_is_checked() -> None:
    assert check_schedule("*/15 * * * *") == "*/15 * * * *"
    assert check_schedule("@hourly") == "@hourly"
    for bad in ("", "every hour", "* * * *", "@sometimes"):
        with pytest.raises(ValueError):
            check_schedule(bad)
    res = CliRunner().invoke(cli, ["deploy", "manifests", "--schedule", "often"])
    assert res.exit_code == 2 and "--schedule" in res.output


def test_committed_deploy_file_is_what_the_command_prints() -> None:
    res = CliRunner().invoke(cli, ["deploy", "manifests"])
    assert res.exit_code == 0, res.output
    path = ROOT / "deploy" / "kubefort-incluster.yaml"
    assert path.read_text() == res.output, f"regenerate: kubefort deploy manifests --output {path.relative_to(ROOT)}"
    docs = [d for d in yaml.safe_load_all(res.output) if d]
    assert [d["kind"] for d in docs][:2] == ["Namespace", "ServiceAccount"]


@pytest.mark.parametrize("name", ["cronjob", "with-secrets"])
def test_the_pod_can_do_its_work_with_exactly_these_permissions(tmp_path: Path, name: str) -> None:
    """The test API server forbids every type the ClusterRoles do not grant; the pod's own command (the
    CronJob's arguments) then reads every type it lists and writes its reports."""
    opts = VARIANTS[name]
    docs = docs_of(opts)
    granted = {
        (g, r)
        for d in by_kind(docs, "ClusterRole")
        for rule in d["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
    }
    store = cluster_store()
    with KubeAPIServer(store) as api:
        for t in store.types.values():
            if (t.group, t.resource) not in granted:
                api.faults.forbidden.add(t.name)
        kubeconfig = api.kubeconfig(tmp_path / "kubeconfig")
        (c,) = [c for d in docs for c in _containers(d)]
        args = [a for a in c["args"] if a not in ("--port", "8080")]
        if "--once" not in args:
            args.append("--once")
        res = CliRunner().invoke(cli, [*args, "--kubeconfig", kubeconfig])
        assert res.exit_code == 0, res.output
        forbidden = [r for r in api.requests if r.status == 403]
        assert forbidden == [], [(r.method, r.path) for r in forbidden]
        listed = {r.path.split("/")[-1] for r in api.lists()}
        assert ("secrets" in listed) is opts.with_secrets
        assert store.types[("openreports.io", "reports")].objects
