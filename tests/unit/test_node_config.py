"""EncryptionConfiguration, audit policy and kubelet configuration semantics."""

from __future__ import annotations

import pytest
import yaml

from kubefort.analysis.node.configs import audit_rules, coverage
from kubefort.analysis.node.encryption import covers, entries, entry_for, key_problems
from kubefort.analysis.node.snapshot import Anchor, KubeletView, NodeSource
from kubefort.model.objects import K8sObject, Source
from kubefort.model.source import DocumentText


class TestEncryption:
    @pytest.mark.parametrize(
        "name,hit",
        [
            ("secrets", True),
            ("*.", True),
            ("*.*", True),
            ("secrets.", True),
            ("Secrets", True),
            ("configmaps", False),
            ("*.apps", False),
            ("secrets.example.com", False),
        ],
    )
    def test_covers_core_secrets(self, name: str, hit: bool) -> None:
        assert covers(name, "secrets") is hit

    def test_first_entry_naming_the_resource_wins(self) -> None:
        raw = yaml.safe_load("""
resources:
  - resources: [configmaps]
    providers: [{identity: {}}]
  - resources: [secrets, configmaps]
    providers: [{secretbox: {keys: [{name: k, secret: a3ViZWZvcnQgdGVzdCBmaXh0dXJlLCBubyBzZWNyZXQ=}]}}, {identity: {}}]
  - resources: ["*.*"]
    providers: [{identity: {}}]
""")
        e = entry_for(raw)
        assert e is not None and e.index == 1 and e.first is not None and e.first.type == "secretbox"
        assert e.first.path == ("resources", 1, "providers", 0, "secretbox")
        assert entry_for(raw, "deployments", "apps").index == 2  # type: ignore[union-attr]

    def test_key_problems_never_show_keys(self) -> None:
        raw = yaml.safe_load("""
resources:
  - resources: [secrets]
    providers:
      - aesgcm:
          keys:
            - {name: a, secret: a3ViZWZvcnQgZml4dHVyZSAyNCBieXRl}
            - {name: a, secret: "%%%"}
            - {name: c, secret: a3ViZWZvcnQgZml4dHVyZSAyNCBieXRl}
            - {name: d, secret: dGhyZWU=}
""")
        (e,) = entries(raw)
        problems = list(key_problems(e.providers[0]))
        assert [p.kind for p in problems] == [
            "short",
            "duplicate_name",
            "invalid",
            "short",
            "duplicate_secret",
            "invalid",
        ]
        assert all("a3Vi" not in p.message and "dGhy" not in p.message for p in problems)
        assert problems[-1].message == 'aesgcm key "d" is 5 bytes; AES needs 16, 24 or 32'


class TestAuditPolicy:
    def rules(self, text: str):  # type: ignore[no-untyped-def]
        return audit_rules(yaml.safe_load(text))

    def test_first_match_and_subresources(self) -> None:
        rules = self.rules("""
rules:
  - level: None
    users: ["system:kube-proxy"]
    resources: [{group: "", resources: [secrets]}]
  - level: RequestResponse
    resources: [{group: "", resources: ["pods"]}]
  - level: Metadata
    resources: [{group: "", resources: ["pods/*"]}]
  - level: Request
""")
        sec = coverage(rules, "", "secrets")
        assert sec.level == "Request" and sec.rule == 3 and sec.louder == ((3, "Request"),)
        assert coverage(rules, "", "pods").level == "RequestResponse"
        assert coverage(rules, "", "pods", "exec").level == "Metadata"  # "pods" does not match pods/exec

    def test_non_resource_rules_and_named_objects_do_not_cover(self) -> None:
        rules = self.rules("""
rules:
  - level: Metadata
    nonResourceURLs: ["/api*"]
  - level: Metadata
    resources: [{group: "", resources: [secrets], resourceNames: [db-password]}]
""")
        assert coverage(rules, "", "secrets").level == "None"
        assert coverage(rules, "rbac.authorization.k8s.io", "roles").rule is None


class TestKubelet:
    def snapshot(self, args: list[str], config: dict | None) -> K8sObject:
        raw = {
            "apiVersion": "kubefort.io/v1alpha1",
            "kind": "NodeSnapshot",
            "metadata": {"name": "n"},
            "kubelet": {"args": args, **({"config": config} if config is not None else {})},
        }
        return K8sObject.from_raw(raw, Source(file="s.yaml"), cluster_scoped=True)

    def view(self, args: list[str], config: dict | None) -> KubeletView:
        return KubeletView.from_snapshot(self.snapshot(args, config), self.snapshot(args, config).raw["kubelet"])

    def test_flag_over_config_over_default(self) -> None:
        k = self.view(
            ["--config=/var/lib/kubelet/config.yaml", "--read-only-port=10255"],
            {"readOnlyPort": 0, "authentication": {"anonymous": {"enabled": True}}},
        )
        s = k.effective("readOnlyPort")
        assert (s.value, s.source, s.path) == (10255, "flag", ("kubelet", "args", 1))
        s = k.effective("authentication.anonymous.enabled")
        assert (s.value, s.source, s.path) == (
            True,
            "config",
            ("kubelet", "config", "authentication", "anonymous", "enabled"),
        )
        s = k.effective("authorization.mode")
        assert (s.value, s.source) == ("Webhook", "default")  # config-file default

    def test_legacy_defaults_without_config(self) -> None:
        k = self.view(["--kubeconfig=/etc/kubernetes/kubelet.conf"], None)
        assert k.effective("authentication.anonymous.enabled").value is True
        assert k.effective("authorization.mode").value == "AlwaysAllow"
        assert k.effective("readOnlyPort").value == 10255

    def test_feature_gates_merge_flag_over_file(self) -> None:
        k = self.view(["--config=/c.yaml", "--feature-gates=B=false"], {"featureGates": {"A": True, "B": True}})
        assert k.effective("featureGates").value == {"A": True, "B": False}


def test_node_source_maps_paths_to_files() -> None:
    doc = DocumentText("kind: KubeletConfiguration\nreadOnlyPort: 10255\n", 1)
    src = NodeSource(
        file="/root",
        anchors={
            ("kubelet", "config"): Anchor(file="/root/var/lib/kubelet/config.yaml", doc=doc),
            ("kubelet", "args", 2): Anchor(file="/root/etc/default/kubelet", line=3),
            ("files", "/etc/x"): Anchor(file="/root/etc/x"),
        },
    )
    assert (
        src.locate(("kubelet", "config", "readOnlyPort")).file,
        src.locate(("kubelet", "config", "readOnlyPort")).line,
    ) == ("/root/var/lib/kubelet/config.yaml", 2)
    assert src.locate(("kubelet", "args", 2)).line == 3
    assert src.locate(("files", "/etc/x")).file == "/root/etc/x"
    assert src.locate(("certificates", 0)).file == "/root"
