"""Release table, version skew, upgrade order and ``kubefort versions``."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from kubefort.analysis.node.versions import (
    Version,
    component_status,
    component_statuses,
    cve_table,
    deprecated_apis,
    in_ranges,
    kubelet_max_gap,
    minor_gap,
    release_table,
    upgrade_path,
    upgrade_plan,
)
from kubefort.api import ScanOptions, check_versions
from kubefort.cli import cli

TODAY = "2026-11-23"


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, list(args), catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


class TestTables:
    def test_release_table_is_complete_and_ordered(self) -> None:
        t = release_table()
        minors = [r.minor for r in t.releases]
        assert minors[:8] == ["1.37", "1.36", "1.35", "1.34", "1.33", "1.32", "1.31", "1.30"]
        assert t.as_of == dt.date(2026, 9, 15) and t.source.startswith("https://kubernetes.io/releases")
        for r in t.releases:
            assert r.latest_patch is not None and r.latest_patch.minor_key == r.minor
            assert r.end_of_life is not None and r.released is not None and r.released < r.end_of_life
            if r.maintenance_mode:
                assert r.released < r.maintenance_mode < r.end_of_life
        eols = [r.end_of_life for r in t.releases]
        assert eols == sorted(eols, reverse=True)

    def test_supported_minors_on_the_reference_day(self) -> None:
        t = release_table()
        assert [r.minor for r in t.supported(dt.date(2026, 11, 23))] == ["1.37", "1.36", "1.35"]
        # 1.34 reached end of life on 2026-10-27
        assert [r.minor for r in t.supported(dt.date(2026, 10, 26))] == ["1.37", "1.36", "1.35", "1.34"]

    def test_versions_parse(self) -> None:
        assert Version.parse("v1.29.15-eks-bc803b4") == Version(1, 29, 15)
        assert Version.parse("containerd://1.7.13") == Version(1, 7, 13)
        assert Version.parse("1.31") == Version(1, 31, 0)
        assert Version.parse("latest") is None

    def test_cve_ranges(self) -> None:
        cve = {c["id"]: c for c in cve_table()}["CVE-2021-25741"]
        assert in_ranges(Version(1, 22, 1), cve["affected"]) is not None
        assert in_ranges(Version(1, 22, 2), cve["affected"]) is None
        assert in_ranges(Version(1, 19, 14), cve["affected"]) is not None
        assert in_ranges(Version(1, 20, 11), cve["affected"]) is None

    def test_deprecated_api_table(self) -> None:
        apis = deprecated_apis()
        assert apis[("extensions/v1beta1", "Ingress")]["removed"] == "1.22"
        assert apis[("batch/v1beta1", "CronJob")]["removed"] == "1.25"
        assert apis[("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema")]["removed"] == "1.32"
        assert ("apps/v1", "Deployment") not in apis


class TestSkew:
    def test_kubelet_skew_limits(self) -> None:
        assert kubelet_max_gap(Version(1, 25, 0)) == 3 and kubelet_max_gap(Version(1, 24, 17)) == 2
        assert minor_gap(Version(1, 33, 0), Version(1, 36, 4)) == 3
        assert minor_gap(Version(1, 36, 0), Version(1, 35, 1)) == -1

    def test_upgrade_path_one_minor_at_a_time(self) -> None:
        steps = upgrade_path(Version(1, 33, 2), release_table(), dt.date(2026, 11, 23))
        assert [s.minor for s in steps] == ["1.34", "1.35", "1.36", "1.37"]
        assert steps[-1].latest_patch == "1.37.1"
        assert upgrade_path(Version(1, 37, 0), release_table(), dt.date(2026, 11, 23)) == []

    def test_upgrade_plan_names_the_kubelets_to_upgrade_first(self) -> None:
        spec = {"kube-apiserver": ["1.34.1"], "kubelet": [{"version": "1.31.0", "name": "w1"}]}
        plan = upgrade_plan(spec, dt.date(2026, 11, 23))
        assert [p["minor"] for p in plan["path"]] == ["1.35", "1.36", "1.37"]
        assert plan["blockers"] == [
            "before kube-apiserver 1.35: upgrade kubelet 1.31.0 (w1) to at least 1.32 "
            "(and keep it within 3 minors at every later step)"
        ]
        assert plan["order"][0] == "etcd" and upgrade_plan({"kubelet": ["1.31.0"]}, dt.date(2026, 11, 23))["path"] == []

    def test_component_statuses_in_upgrade_order(self) -> None:
        spec = {"kubelet": [{"version": "1.31.0", "name": "w1"}], "etcd": ["3.5.15"], "kube-apiserver": ["1.37.0"]}
        got = component_statuses(spec, dt.date(2026, 11, 23))
        assert [(s["component"], s.get("status"), s.get("name")) for s in got] == [
            ("etcd", None, None),
            ("kube-apiserver", "supported", None),
            ("kubelet", "end_of_life", "w1"),
        ]
        assert component_status("kubectl", "1.99.0", dt.date(2026, 11, 23))["status"] == "unknown"


class TestLibrary:
    def test_check_versions_runs_the_ver_rules_through_the_engine(self) -> None:
        spec = {"kube-apiserver": ["1.34.1"], "kubelet": ["1.31.0"]}
        result = check_versions(spec, ScanOptions(), today=dt.date(2026, 11, 23))
        assert [c.rule.id for c in result.checks] == [f"KF-VER-{n:03d}" for n in range(1, 6)]
        assert {c.rule.id: c.status for c in result.checks}["KF-VER-001"] == "fail"
        assert result.report.exit_code() == 1 and not result.stale and result.upgrade["path"]
        # the engine's options apply: a skipped rule is not judged
        skipped = check_versions(spec, ScanOptions(skip_rules=["KF-VER-001"]), today=dt.date(2026, 11, 23))
        assert "KF-VER-001" not in {c.rule.id for c in skipped.checks}


class TestCommand:
    def test_table(self) -> None:
        code, out, _ = run(
            "versions",
            "--apiserver",
            "1.33.2",
            "--kubelet",
            "worker-1=1.30.14,worker-2=1.33.2",
            "--scheduler",
            "1.34.1",
            "--today",
            TODAY,
            "--no-color",
        )
        assert code == 1  # 1.33 is end of life: high
        assert "kube-apiserver                     1.33.2     end of life since 2026-06-28" in out
        assert "KF-VER-004" in out and "kube-scheduler 1.34.1 is newer than kube-apiserver 1.33.2" in out
        assert "upgrade path" in out and "1.34 (1.34.9) -> 1.35 (1.35.9) -> 1.36 (1.36.4) -> 1.37 (1.37.1)" in out
        assert "blocker: before kube-apiserver 1.34: upgrade kubelet 1.30.14 (worker-1) to at least 1.31" in out
        assert "1. etcd; 2. kube-apiserver; 3. kube-controller-manager; 4. kube-scheduler" in out

    def test_json(self) -> None:
        code, out, _ = run(
            "versions",
            "--apiserver",
            "cp-1=1.36.4",
            "--apiserver",
            "cp-2=1.36.1",
            "--kubelet",
            "1.36.4",
            "--today",
            TODAY,
            "-o",
            "json",
        )
        doc = json.loads(out)
        assert code == 0 and doc["kind"] == "versions" and doc["today"] == TODAY
        assert doc["release_table"]["supported"] == ["1.37", "1.36", "1.35"]
        st = {(c["component"], c.get("name")): c for c in doc["components"]}
        assert st[("kube-apiserver", "cp-2")] == {
            "component": "kube-apiserver",
            "version": "1.36.1",
            "name": "cp-2",
            "minor": "1.36",
            "end_of_life": "2027-06-28",
            "status": "supported",
            "latest_patch": "1.36.4",
            "patches_behind": 3,
        }
        res = {r["rule_id"]: r for r in doc["results"]}
        assert res["KF-VER-001"]["status"] == "pass"
        assert (
            res["KF-VER-002"]["status"] == "fail" and "3 patch releases behind 1.36.4" in res["KF-VER-002"]["message"]
        )
        assert doc["upgrade"]["path"] == [{"minor": "1.37", "latest_patch": "1.37.1"}]

    def test_cve_needs_trigger_is_a_warning(self) -> None:
        code, out, _ = run("versions", "--apiserver", "1.36.4", "--kubelet", "1.30.1", "--today", TODAY, "-o", "json")
        doc = json.loads(out)
        (cve,) = [r for r in doc["results"] if r["rule_id"] == "KF-VER-005"]
        assert cve["status"] == "warn" and "CVE-2024-10220" in cve["message"] and code == 0

    def test_from_node_tree(self) -> None:
        from pathlib import Path

        root = Path(__file__).resolve().parents[1] / "fixtures" / "node" / "insecure"
        code, out, _ = run("versions", "--root", str(root), "--today", TODAY, "-o", "json")
        doc = json.loads(out)
        got = {c["component"]: c["version"] for c in doc["components"]}
        assert got == {
            "etcd": "3.5.15",
            "kube-apiserver": "1.31.2",
            "kube-controller-manager": "1.30.6",
            "kube-scheduler": "1.32.0",
        }
        assert code == 1

    @pytest.mark.parametrize(
        "args,msg",
        [
            ((), "give at least one version"),
            (("--apiserver", "one.two"), "not a version"),
            (("--apiserver", "1.31.2", "--today", "yesterday"), "YYYY-MM-DD"),
        ],
    )
    def test_usage_errors(self, args: tuple[str, ...], msg: str) -> None:
        code, _, err = run("versions", *args)
        assert code == 2 and msg in err

    def test_stale_table_warning(self) -> None:
        _code, out, _ = run("versions", "--apiserver", "1.37.1", "--today", "2027-09-01", "--no-color")
        assert "more than 120 days old" in out
