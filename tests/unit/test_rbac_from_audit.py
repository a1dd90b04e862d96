"""``kubefort rbac from-audit``: the smallest RBAC for what a hand-written audit log records, checked with the
RBAC engine (every recorded request allowed, nothing else of note), and the diff with the current grants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kubefort.analysis.rbac.from_audit import (
    AuditLogError,
    denied_now,
    manifests,
    minimal_roles,
    needed,
    of_subject,
    parse_audit_log,
    unused_grants,
)
from kubefort.analysis.rbac.index import RbacIndex
from kubefort.analysis.rbac.subjects import Subject
from kubefort.api import ScanOptions, load_inputs
from kubefort.cli import cli
from kubefort.model.inventory import Inventory
from kubefort.model.objects import K8sObject, Source

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "rbac_audit"
LOG = str(FIX / "audit.log")
GRANTS = str(FIX / "grants.yaml")
SA = Subject("ServiceAccount", "deployer", "ci")


def _requests() -> list:  # type: ignore[type-arg]
    return of_subject(parse_audit_log(Path(LOG).read_text(), "audit.log"), SA)


def test_parse_dedupes_stages_and_follows_impersonation() -> None:
    all_requests = parse_audit_log(Path(LOG).read_text())
    assert len(all_requests) == 12  # 12 auditIDs, most of them logged at two stages
    mine = _requests()
    assert len(mine) == 11  # the impersonated "list services" counts for the deployer, jane's delete does not
    assert [r.describe() for r in mine if r.code == 403] == ["get secrets in shop"]
    assert "list services in shop" in [r.describe() for r in mine]
    assert any(r.path == "/version" for r in mine)
    logs = [r for r in mine if r.resource == "pods/log"]
    assert logs and logs[0].namespace == "shop"


def test_minimal_roles_by_hand() -> None:
    need = needed(_requests(), SA)
    assert [r.describe() for r in need.denied] == ["get secrets in shop"]
    assert [r.path for r in need.by_default] == ["/version"]  # system:public-info-viewer, every cluster
    roles = {r.namespace: list(r.rules) for r in minimal_roles(need.requests)}
    assert roles == {
        None: [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]}],
        "shop": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["services"], "verbs": ["list"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        ],
        "staging": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    with_denied = needed(_requests(), SA, include_denied=True)
    shop = next(r for r in minimal_roles(with_denied.requests) if r.namespace == "shop")
    assert {"apiGroups": [""], "resources": ["pods/log", "secrets"], "verbs": ["get"]} in shop.rules


def test_generated_rbac_allows_exactly_what_was_recorded() -> None:
    need = needed(_requests(), SA)
    docs = manifests(minimal_roles(need.requests), SA, "deployer-from-audit")
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterRole", None),
        ("ClusterRoleBinding", None),
        ("Role", "shop"),
        ("RoleBinding", "shop"),
        ("Role", "staging"),
        ("RoleBinding", "staging"),
    ]
    assert docs[1]["subjects"] == [{"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}]
    idx = RbacIndex.build(Inventory([K8sObject.from_raw(d, Source(file="t")) for d in docs]), builtin_roles=False)
    for r in need.requests:
        assert idx.decide(SA, r.request()).allowed, r.describe()
    sa = "ServiceAccount:ci:deployer"
    for verb, res, ns in [
        ("get", "secrets", "shop"),  # denied when recorded: not granted
        ("delete", "deployments.apps", "shop"),
        ("create", "pods", "shop"),
        ("get", "pods", "shop"),  # list and watch only were used
        ("list", "pods", "staging"),
        ("get", "configmaps", "shop"),
        ("get", "nodes", None),
    ]:
        assert not idx.can(sa, verb, res, namespace=ns).allowed, (verb, res, ns)


def test_diff_with_current_grants() -> None:
    loaded = load_inputs(ScanOptions(paths=[GRANTS]))
    idx = RbacIndex.build(Inventory(loaded.objects), defaults=True)
    reqs = _requests()
    [apps, core] = unused_grants(idx, SA, reqs)
    assert apps.binding == "RoleBinding/shop/deployer" and apps.namespace == "shop"
    assert "delete deployments.apps" in apps.entries and "patch deployments.apps" not in apps.entries
    assert len(apps.entries) == 19  # 21 (3 resources x 7 verbs) less get and patch on deployments
    assert core.entries == ("get pods", "list pods/log", "watch pods/log", "get services", "watch services")
    assert [r.describe() for r in denied_now(idx, SA, reqs)] == [
        "get configmaps in staging",
        "get secrets in shop",
        "list namespaces (cluster-wide)",
    ]


def test_cli(tmp_path: Path) -> None:
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["rbac", "from-audit", LOG, "--serviceaccount", "ci:deployer", "-f", GRANTS]
    )
    assert r.exit_code == 0, r.output
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert [d["kind"] for d in docs] == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Role",
        "RoleBinding",
    ]
    assert docs[2]["metadata"] == {
        "name": "deployer-from-audit",
        "namespace": "shop",
        "labels": {"app.kubernetes.io/managed-by": "kubefort"},
    }
    err = r.stderr
    assert "current grants: 24 verb/resource entries never used" in err
    assert "get secrets in shop" in err and "--include-denied" in err
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["rbac", "from-audit", LOG, "--user", "jane", "-o", "json", "--name", "jane-ops"]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [d["kind"] for d in doc["items"]] == ["Role", "RoleBinding"]
    assert doc["items"][0]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]
    assert doc["items"][1]["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ([], "--user NAME or --serviceaccount"),
        (["--user", "a", "--serviceaccount", "b:c"], "--user NAME or --serviceaccount"),
        (["--user", "nobody"], "no request by User nobody"),
    ],
)
def test_cli_errors(args: list[str], msg: str) -> None:
    r = CliRunner(mix_stderr=False).invoke(cli, ["rbac", "from-audit", LOG, *args])
    assert r.exit_code == 2 and msg in r.stderr


def test_bad_log(tmp_path: Path) -> None:
    bad = tmp_path / "audit.log"
    bad.write_text('{"kind": "Event", "verb": "get", "user": {"username": "a"}, "requestURI": "/x"}\n{nope\n')
    with pytest.raises(AuditLogError, match=r"audit.log:2: not JSON"):
        parse_audit_log(bad.read_text(), "audit.log")
    r = CliRunner(mix_stderr=False).invoke(cli, ["rbac", "from-audit", str(bad), "--user", "a"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and ":2: not JSON" in r.stderr
