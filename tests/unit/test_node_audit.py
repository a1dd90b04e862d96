"""``kubefort node audit`` on kubeadm-shaped node trees: every check on a hardened and an insecure
node, file modes and owners (set here: git keeps neither), processes, symlinks, reporters."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from kubefort.analysis.node import results as res
from kubefort.analysis.node.collect import RootFS, collect_node
from kubefort.analysis.node.targets import AUDIT_SECTIONS, NodeTarget, node_rule_ids, target_of, versions_rule_ids
from kubefort.api import ScanOptions, audit_node
from kubefort.cli import cli
from kubefort.engine.registry import Registry
from kubefort.loading.loader import load_paths
from kubefort.rules import control_plane, default_registry, encryption, etcd_config, node, versions

NODE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "node"
ROOT = os.geteuid() == 0


def _module(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"node_fixture_{name}", NODE_FIXTURES / f"{name}.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


modes = _module("modes")
REGISTRY = default_registry(plugins=False)


def audit(root: Path, *, proc: str | None = None) -> tuple[dict[str, str], list[res.CheckResult], object]:
    a = collect_node(str(root), proc=proc)
    result = audit_node(a, ScanOptions(rules=node_rule_ids(REGISTRY)), registry=REGISTRY)
    report, checks = result.report, result.checks
    worst = {}
    for c in checks:
        order = ("error", "fail", "warn", "manual", "pass", "skip")
        prev = worst.get(c.rule.id)
        if prev is None or order.index(c.status) < order.index(prev):
            worst[c.rule.id] = c.status
    return worst, checks, report


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return modes.prepare("hardened", tmp_path_factory.mktemp("node") / "hardened")


@pytest.fixture(scope="module")
def insecure(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return modes.prepare("insecure", tmp_path_factory.mktemp("node") / "insecure")


@pytest.fixture(scope="module")
def hardened_result(hardened: Path):  # type: ignore[no-untyped-def]
    return audit(hardened)


@pytest.fixture(scope="module")
def insecure_result(insecure: Path):  # type: ignore[no-untyped-def]
    return audit(insecure)


def test_every_node_rule_is_checked(hardened_result) -> None:  # type: ignore[no-untyped-def]
    statuses, _, _ = hardened_result
    expected = set(node_rule_ids(REGISTRY))
    assert set(statuses) == expected
    assert len(expected) == 56 + 24 + 10 + 7 + 1  # CP, NODE, ETCD, SEC (encryption), ADM-006


def test_hardened_node_passes_everything(hardened_result) -> None:  # type: ignore[no-untyped-def]
    statuses, checks, report = hardened_result
    bad = {k: v for k, v in statuses.items() if v not in ("pass", "skip")}
    assert bad == {}, [
        f"{c.rule.id}: {[f.message for f in c.findings] or c.reason}" for c in checks if c.rule.id in bad
    ]
    # kube-proxy runs as a DaemonSet on kubeadm nodes: not on the node's files
    assert {k for k, v in statuses.items() if v == "skip"} == {"KF-NODE-017", "KF-NODE-019"}
    assert report.exit_code() == 0


INSECURE_FAIL = {
    "KF-ADM-006",
    "KF-CP-001",
    "KF-CP-002",
    "KF-CP-004",
    "KF-CP-006",
    "KF-CP-011",
    "KF-CP-013",
    "KF-CP-019",
    "KF-CP-021",
    "KF-CP-022",
    "KF-CP-023",
    "KF-CP-024",
    "KF-CP-025",
    "KF-CP-026",
    "KF-CP-034",
    "KF-CP-035",
    "KF-CP-036",
    "KF-CP-037",
    "KF-CP-038",
    "KF-CP-040",
    "KF-CP-041",
    "KF-CP-042",
    "KF-CP-043",
    "KF-CP-044",
    "KF-CP-045",
    "KF-CP-046",
    "KF-CP-047",
    "KF-CP-048",
    "KF-CP-049",
    "KF-CP-050",
    "KF-CP-051",
    "KF-CP-052",
    "KF-CP-055",
    "KF-ETCD-002",
    "KF-ETCD-003",
    "KF-ETCD-004",
    "KF-ETCD-005",
    "KF-ETCD-006",
    "KF-ETCD-007",
    "KF-ETCD-008",
    "KF-ETCD-009",
    "KF-NODE-001",
    "KF-NODE-002",
    "KF-NODE-003",
    "KF-NODE-005",
    "KF-NODE-006",
    "KF-NODE-007",
    "KF-NODE-008",
    "KF-NODE-009",
    "KF-NODE-010",
    "KF-NODE-011",
    "KF-NODE-013",
    "KF-NODE-014",
    "KF-NODE-015",
    "KF-NODE-016",
    "KF-NODE-018",
    "KF-NODE-020",
    "KF-NODE-022",
    "KF-NODE-023",
    "KF-NODE-024",
    "KF-SEC-008",
    "KF-SEC-011",
    "KF-SEC-012",
    "KF-SEC-014",
}
# owners are only set when the tests run as root
INSECURE_FAIL_AS_ROOT = {"KF-CP-053", "KF-ETCD-010"}


def test_insecure_node_statuses(insecure_result) -> None:  # type: ignore[no-untyped-def]
    statuses, _, report = insecure_result
    fails = {k for k, v in statuses.items() if v == "fail"}
    expected = INSECURE_FAIL | (INSECURE_FAIL_AS_ROOT if ROOT else set())
    assert fails - INSECURE_FAIL_AS_ROOT == INSECURE_FAIL
    assert fails >= expected
    assert statuses["KF-CP-056"] == "manual"  # no OIDC: a person must review how users log in
    assert {k for k, v in statuses.items() if v == "skip"} == {"KF-NODE-017", "KF-NODE-019"}
    assert report.exit_code() == 1


def _messages(checks: list[res.CheckResult], rule_id: str) -> list[str]:
    return [f.message for c in checks if c.rule.id == rule_id for f in c.findings]


def test_insecure_findings_explain_themselves(insecure_result) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = insecure_result
    # flag in /etc/default/kubelet beats the config file's anonymous.enabled: false
    (msg,) = _messages(checks, "KF-NODE-001")
    assert msg == "kubelet: flag --anonymous-auth is true: anonymous requests are allowed"
    loc = next(c for c in checks if c.rule.id == "KF-NODE-001").findings[0].location
    assert loc.file.endswith("etc/default/kubelet") and loc.line == 2
    # last occurrence wins: --profiling=false then --profiling=true
    assert _messages(checks, "KF-CP-019") == ["kube-apiserver: --profiling=true: /debug/pprof is served"]
    # etcd trusts the cluster CA; client certificates are required only implicitly
    assert any("same file as kube-apiserver --client-ca-file" in m for m in _messages(checks, "KF-ETCD-007"))
    etcd2 = [f for c in checks if c.rule.id == "KF-ETCD-002" for f in c.findings]
    assert [f.subcode for f in etcd2] == ["implicit"]
    certs = _messages(checks, "KF-NODE-023") + _messages(checks, "KF-NODE-024")
    assert any("front-proxy-client.crt" in m and "expired on 2025-06-01" in m for m in certs)
    assert any("RSA key of 1024 bits" in m for m in certs) and any("signed with SHA1" in m for m in certs)
    assert any("self-signed leaf certificate" in m and "kubelet.crt" in m for m in certs)
    assert any('aescbc key "key1" is 16 bytes' in m for m in _messages(checks, "KF-SEC-012"))
    # never a key in a message
    assert not any("bm90LWEtcmVhbC1rZXkhIQ" in m for c in checks for m in _messages([c], c.rule.id))


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_ownership_findings(insecure_result) -> None:  # type: ignore[no-untyped-def]
    _, checks, _ = insecure_result
    owners = [f for c in checks if c.rule.id == "KF-CP-053" for f in c.findings]
    assert [f.message for f in owners] == [
        "PKI file /etc/kubernetes/pki/front-proxy-client.key is owned by vagrant:vagrant, not root:root"
    ]
    cni = _messages(checks, "KF-CP-049")
    assert "CNI plugin path /opt/cni/bin/flannel is owned by vagrant:vagrant, not root:root" in cni
    assert any("super-admin.conf is owned by vagrant:root" in m for m in _messages(checks, "KF-CP-050"))
    assert _messages(checks, "KF-ETCD-010") == [
        "etcd data directory /var/lib/etcd is owned by root:root, not etcd:etcd (this host has an etcd user)"
    ]


@pytest.mark.skipif(not ROOT, reason="chown needs root")
def test_numeric_owner_without_passwd(tmp_path: Path) -> None:
    root = modes.prepare("hardened", tmp_path / "n")
    (root / "etc/passwd").unlink()
    (root / "etc/group").unlink()
    os.chown(root / "etc/kubernetes/admin.conf", 4242, 4242)
    statuses, checks, _ = audit(root)
    assert _messages(checks, "KF-CP-050") == [
        "admin kubeconfig /etc/kubernetes/admin.conf is owned by 4242:4242, not root:root"
    ]
    assert statuses["KF-CP-045"] == "pass"  # uid 0 is root without names


def test_modes_are_read_from_disk(tmp_path: Path) -> None:
    root = modes.prepare("hardened", tmp_path / "n")
    os.chmod(root / "etc/kubernetes/pki/sa.key", 0o644)
    os.chmod(root / "etc/kubernetes/manifests/etcd.yaml", 0o640)
    os.chmod(root / "var/lib/etcd", 0o750)
    os.chmod(root / "etc/kubernetes/enc/encryption-config.yaml", 0o604)
    statuses, checks, _ = audit(root)
    assert _messages(checks, "KF-CP-055") == [
        "private key /etc/kubernetes/pki/sa.key has mode 0644, more permissive than 0600"
    ]
    assert _messages(checks, "KF-CP-048") == [
        "etcd manifest /etc/kubernetes/manifests/etcd.yaml has mode 0640, more permissive than 0600"
    ]
    assert statuses["KF-ETCD-009"] == "fail" and statuses["KF-SEC-014"] == "fail"
    assert statuses["KF-CP-045"] == "pass"


def test_kubelet_config_dir_drop_ins(tmp_path: Path) -> None:
    """kubelet --config-dir: *.conf drop-ins merged over the config file, findings point at the drop-in."""
    root = modes.prepare("hardened", tmp_path / "n")
    (root / "etc/default/kubelet").write_text("KUBELET_EXTRA_ARGS=--config-dir=/etc/kubernetes/kubelet.conf.d\n")
    d = root / "etc/kubernetes/kubelet.conf.d"
    d.mkdir()
    (d / "20-metrics.conf").write_text(
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nreadOnlyPort: 10255\n"
    )
    (d / "README").write_text("only *.conf files are read\n")
    statuses, checks, _ = audit(root)
    assert statuses["KF-NODE-005"] == "fail" and statuses["KF-NODE-001"] == "pass"
    f = next(c for c in checks if c.rule.id == "KF-NODE-005").findings[0]
    assert f.location.file.endswith("kubelet.conf.d/20-metrics.conf") and f.location.line == 3


def test_certificate_expiring_soon(tmp_path: Path) -> None:
    pytest.importorskip("cryptography")
    pki = _module("pki")
    root = modes.prepare("hardened", tmp_path / "n")
    shutil.rmtree(root / "etc/kubernetes/pki")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    pki.write_pki(root, "hardened", expiring=soon)
    modes.apply(root, "hardened")
    statuses, checks, _ = audit(root)
    found = [f for c in checks if c.rule.id == "KF-NODE-023" for f in c.findings]
    assert len(found) == 1 and found[0].subcode == "expiring" and "apiserver.crt" in found[0].message
    assert "(in 9 days)" in found[0].message or "(in 10 days)" in found[0].message
    assert statuses["KF-NODE-024"] == "pass"


def test_symlinks_resolve_inside_the_root(tmp_path: Path) -> None:
    root = modes.prepare("hardened", tmp_path / "n")
    fs = RootFS(str(root))
    link = "/var/lib/kubelet/pki/kubelet-client-current.pem"
    # an absolute link target is taken inside the root, not on the host
    assert fs.host(link) == str(root / "var/lib/kubelet/pki/kubelet-client-2026-01-01-00-00-00.pem")
    a = collect_node(str(root))
    snap = next(o for o in a.objects if o.kind == "NodeSnapshot")
    used = {c["path"] for c in snap.raw["certificates"] if "kubelet --kubeconfig (client certificate)" in c["usedBy"]}
    assert used == {link}


def test_missing_referenced_file_warns(tmp_path: Path) -> None:
    root = modes.prepare("hardened", tmp_path / "n")
    (root / "etc/kubernetes/enc/encryption-config.yaml").unlink()
    (root / "etc/kubernetes/audit/policy.yaml").unlink()
    statuses, _checks, report = audit(root)
    assert statuses["KF-SEC-014"] == "warn"
    assert statuses["KF-SEC-008"] == "skip"  # no EncryptionConfiguration to read
    assert any("--encryption-provider-config names" in n for n in report.notes)


def test_worker_node_skips_control_plane_checks(tmp_path: Path) -> None:
    root = modes.prepare("hardened", tmp_path / "w")
    shutil.rmtree(root / "etc/kubernetes/manifests")
    for name in ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"):
        (root / "etc/kubernetes" / name).unlink()
    statuses, checks, report = audit(root)
    assert statuses["KF-CP-001"] == "skip" and statuses["KF-ETCD-001"] == "skip"
    assert statuses["KF-CP-045"] == "skip" and statuses["KF-CP-050"] == "skip"
    reason = next(c.reason for c in checks if c.rule.id == "KF-CP-001")
    assert reason and "no kube-apiserver on this node" in reason
    assert statuses["KF-NODE-001"] == "pass" and statuses["KF-NODE-020"] == "pass"
    assert report.exit_code() == 0


def test_processes_without_manifests(tmp_path: Path) -> None:
    """A control plane run as processes (no static pods): read /proc/<pid>/cmdline and environ."""
    root = modes.prepare("hardened", tmp_path / "n")
    shutil.rmtree(root / "etc/kubernetes/manifests")
    proc = tmp_path / "proc"

    def process(pid: int, argv: list[str], env: dict[str, str] | None = None) -> None:
        d = proc / str(pid)
        d.mkdir(parents=True)
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
        (d / "environ").write_bytes(b"\0".join(f"{k}={v}".encode() for k, v in (env or {}).items()))

    process(1, ["/sbin/init"])
    process(
        812,
        [
            "/usr/local/bin/kube-apiserver",
            "--anonymous-auth=false",
            "--profiling=true",
            "--authorization-mode=Node,RBAC",
        ],
    )
    process(
        901,
        ["/usr/local/bin/etcd", "--name=etcd-0"],
        {
            "ETCD_CLIENT_CERT_AUTH": "true",
            "ETCD_TRUSTED_CA_FILE": "/etc/etcd/ca.crt",
            "ETCD_CERT_FILE": "/etc/etcd/server.crt",
            "ETCD_KEY_FILE": "/etc/etcd/server.key",
            "HOME": "/root",
        },
    )
    process(950, ["/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", "--read-only-port=10255"])
    a = collect_node(str(root), proc=str(proc))
    assert a.found["kube-apiserver"] == "process 812" and a.found["kubelet"] == "process 950"
    statuses, checks, _ = audit(root, proc=str(proc))
    assert _messages(checks, "KF-CP-019") == ["kube-apiserver: --profiling=true: /debug/pprof is served"]
    loc = next(c for c in checks if c.rule.id == "KF-CP-019").findings[0].location
    assert loc.file == f"{proc}/812/cmdline"
    assert statuses["KF-ETCD-001"] == "pass" and statuses["KF-ETCD-002"] == "pass"  # from ETCD_* variables
    assert statuses["KF-NODE-005"] == "fail"  # the process's flag, not the systemd unit's


def test_systemd_units_for_components(tmp_path: Path) -> None:
    """Kubernetes the hard way: kube-proxy as a systemd service with a config file."""
    root = modes.prepare("hardened", tmp_path / "n")
    units = root / "etc/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    (units / "kube-proxy.service").write_text(
        "[Unit]\nDescription=Kubernetes Kube Proxy\n\n[Service]\n"
        "ExecStart=/usr/local/bin/kube-proxy \\\n  --config=/var/lib/kube-proxy/kube-proxy-config.yaml\nRestart=on-failure\n"
    )
    kp = root / "var/lib/kube-proxy"
    kp.mkdir(parents=True)
    (kp / "kube-proxy-config.yaml").write_text(
        "kind: KubeProxyConfiguration\napiVersion: kubeproxy.config.k8s.io/v1alpha1\nclientConnection:\n"
        "  kubeconfig: /var/lib/kube-proxy/kubeconfig\nmode: iptables\nclusterCIDR: 10.200.0.0/16\n"
        "metricsBindAddress: 0.0.0.0:10249\n"
    )
    (kp / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    os.chmod(kp / "kubeconfig", 0o644)
    statuses, checks, _ = audit(root)
    assert statuses["KF-NODE-017"] == "fail" and statuses["KF-NODE-019"] == "fail"
    f = next(c for c in checks if c.rule.id == "KF-NODE-017" and c.findings).findings[0]
    assert f.location.file.endswith("kube-proxy-config.yaml") and f.location.line == 7


def test_dump_is_scannable_again(insecure: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshot.yaml"
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["node", "audit", "--root", str(insecure), "--dump", str(out), "-o", "json"]
    )
    assert r.exit_code == 1, r.stderr
    loaded = load_paths([str(out)])
    assert not loaded.errors and [o.kind for o in loaded.objects] == ["NodeSnapshot"]
    snap = loaded.objects[0]
    assert snap.raw["kubelet"]["args"][-1] == "--hostname-override=cp-legacy.internal"
    assert snap.raw["files"]["/etc/kubernetes/admin.conf"]["mode"] == "0666"
    # no key material in the snapshot
    assert "PRIVATE KEY" not in out.read_text() and "client-key-data" not in out.read_text()


class TestCli:
    def run(self, *args: str) -> tuple[int, str, str]:
        r = CliRunner(mix_stderr=False).invoke(cli, list(args), catch_exceptions=False)
        return r.exit_code, r.stdout, r.stderr

    def test_json_contract(self, insecure: Path) -> None:
        code, out, _ = self.run("node", "audit", "--root", str(insecure), "-o", "json")
        assert code == 1
        doc = json.loads(out)
        assert doc["schema"] == "kubefort/v1" and doc["kind"] == "node-audit" and doc["node"] == "cp-legacy"
        assert doc["components"]["kube-apiserver"]["version"] == "1.31.2"
        by_id: dict[str, list[dict]] = {}
        for r in doc["results"]:
            by_id.setdefault(r["rule_id"], []).append(r)
            assert r["status"] in ("pass", "fail", "warn", "manual", "skip", "error")
            assert {
                "rule_id",
                "slug",
                "severity",
                "title",
                "message",
                "remediation",
                "refs",
                "object",
                "location",
            } <= set(r)
        cp001 = by_id["KF-CP-001"][0]
        assert cp001["status"] == "fail" and cp001["refs"]["cis"] == ["1.2.1"]
        assert cp001["location"]["line"] == 18 and cp001["path"] == "spec.containers[0].command[3]"
        assert by_id["KF-CP-003"][0]["status"] == "pass" and by_id["KF-CP-003"][0]["message"] == "passed"
        skipped = by_id["KF-NODE-017"][0]
        assert skipped["status"] == "skip" and "DaemonSet" in skipped["reason"]
        assert all(f["status"] in ("fail", "warn", "manual") for f in doc["findings"])
        assert doc["summary"]["checks"]["manual"] == 1

    def test_table_and_exit_codes(self, hardened: Path, insecure: Path) -> None:
        code, out, _ = self.run("node", "audit", "--root", str(hardened), "--no-color")
        assert code == 0 and "result: PASS" in out and "[PASS]   KF-CP-001" in out
        code, out, _ = self.run("node", "audit", "--root", str(insecure), "--no-color", "--rules", "KF-NODE-*")
        assert code == 1 and "KF-CP-001" not in out
        assert "[FAIL]   KF-NODE-001  CIS 4.2.1" in out and "fix: Set authentication.anonymous.enabled: false" in out
        code, out, _ = self.run(
            "node", "audit", "--root", str(insecure), "--fail-on", "critical", "--rules", "KF-CP-019,KF-CP-043"
        )
        assert code == 0

    def test_sarif_and_junit(self, insecure: Path) -> None:
        _, out, _ = self.run("node", "audit", "--root", str(insecure), "-o", "sarif")
        sarif = json.loads(out)
        ids = {r["ruleId"] for r in sarif["runs"][0]["results"]}
        assert {"KF-CP-001", "KF-NODE-001", "KF-SEC-008", "KF-ETCD-003"} <= ids
        _code, out, _ = self.run("node", "audit", "--root", str(insecure), "-o", "junit")
        root = ET.fromstring(out)
        names = [c.get("name") for c in root.iter("testcase")]
        # passes are listed only for the objects a rule is about
        assert "KF-CP-003 Pod/kube-system/kube-apiserver" in names
        assert "KF-CP-003 Pod/kube-system/etcd" not in names
        skipped = [c for c in root.iter("testcase") if c.find("skipped") is not None]
        assert any("not applicable" in (c.find("skipped").get("message") or "") for c in skipped)  # type: ignore[union-attr]

    def test_usage_errors(self, tmp_path: Path) -> None:
        code, _, err = self.run("node", "audit", "--root", str(tmp_path / "nope"))
        assert code == 2 and "not a directory" in err
        code, _, err = self.run("node", "audit", "--root", str(tmp_path), "--proc", str(tmp_path / "nope"))
        assert code == 2 and "--proc" in err

    def test_empty_root_says_so(self, tmp_path: Path) -> None:
        code, out, _ = self.run("node", "audit", "--root", str(tmp_path), "--no-color", "-v")
        assert code == 0 and "no Kubernetes component found" in out

    def test_scanned_text_cannot_drive_the_terminal(self, tmp_path: Path) -> None:
        """A node name (or any scanned text) with an escape sequence is shown as \\xNN, never emitted."""
        code, out, _ = self.run("node", "audit", "--root", str(tmp_path), "--node-name", "cp\x1b[2J", "--no-color")
        assert code == 0 and "\x1b" not in out and "node cp\\x1b[2J" in out


def test_static_pod_manifest_scanned_directly() -> None:
    """The same CP rules run on a kube-apiserver.yaml given to kubefort scan (catalogue legend)."""
    r = CliRunner(mix_stderr=False).invoke(
        cli, ["scan", str(NODE_FIXTURES / "insecure/etc/kubernetes/manifests"), "-o", "json", "--rules", "KF-CP-*"]
    )
    doc = json.loads(r.stdout)
    ids = {f["rule_id"] for f in doc["findings"]}
    assert {"KF-CP-001", "KF-CP-019", "KF-CP-044"} <= ids
    assert "KF-CP-045" not in ids  # file permissions need a node snapshot


def test_registry_lists_node_rules_once() -> None:
    reg = Registry(list(REGISTRY))
    ids = node_rule_ids(reg)
    assert len(ids) == len(set(ids)) and ids[:2] == ["KF-ADM-006", "KF-CP-001"]


def test_audits_select_their_rules_by_target() -> None:
    """The node audit runs the rules whose declared target is a node section: exactly the CP, NODE and
    ETCD areas, the EncryptionConfiguration rules and the PodSecurity admission configuration rule;
    ``kubefort versions`` the ClusterVersions rules."""
    node_areas = [
        r.meta.id
        for r in REGISTRY
        if r.meta.area in ("CP", "NODE", "ETCD")
        or r.meta.id in {f"KF-SEC-{n:03d}" for n in range(8, 15)} | {"KF-ADM-006"}
    ]
    assert node_rule_ids(REGISTRY) == node_areas
    assert versions_rule_ids(REGISTRY) == [f"KF-VER-{n:03d}" for n in range(1, 6)]
    for rid in node_areas:
        t = target_of(REGISTRY.get(rid).meta)
        assert isinstance(t, NodeTarget) and t.section in AUDIT_SECTIONS and t.missing, rid


@pytest.mark.parametrize("module", [control_plane, node, etcd_config, encryption, versions])
def test_rule_ids_are_literal(module) -> None:  # type: ignore[no-untyped-def]
    """``grep KF-NODE-005`` finds the declaration: every ID is written out in its module."""
    source = Path(module.__file__).read_text()
    for r in module.RULES:
        assert source.count(f'id="{r.meta.id}"') == 1, r.meta.id


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
