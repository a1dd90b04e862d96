"""`kubefort etcd probe` and `kubefort etcd secrets` against real etcd servers on 127.0.0.1.

Servers (plain, mutual TLS, TLS without client auth, auto-TLS) are started once for the module on free
ports with temporary data directories and stopped afterwards. Certificates are made at test time.
Skips cleanly when etcd/etcdctl are not installed (scripts/ensure-etcd.sh installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
from click.testing import CliRunner

from kubefort.cli import cli
from kubefort.etcd.client import EtcdClient, TLSFiles
from kubefort.etcd.pki import IssuedKeyPair, LocalPKI, issue, make_ca, make_test_pki
from kubefort.etcd.probe import probe_and_judge, probe_endpoint
from kubefort.etcd.server import LocalEtcd, ServerTLS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "etcd"))
import genuine as g

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("etcd") and shutil.which("etcdctl")),
        reason="etcd/etcdctl not installed (scripts/ensure-etcd.sh)",
    ),
]

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "etcd" / "secrets.schema.json").read_text())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LocalPKI:
    return make_test_pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def good(pki: LocalPKI) -> TLSFiles:
    return TLSFiles(pki.ca, pki.client_cert, pki.client_key)


@pytest.fixture(scope="module")
def servers(pki: LocalPKI, good: TLSFiles) -> Iterator[dict[str, LocalEtcd]]:
    specs = {
        "plain": None,
        "mtls": ServerTLS(pki.server_cert, pki.server_key, pki.ca, client_cert_auth=True),
        "trusted_ca_only": ServerTLS(pki.server_cert, pki.server_key, pki.ca, client_cert_auth=False),
        "tls_only": ServerTLS(pki.server_cert, pki.server_key),
        "auto_tls": ServerTLS(auto_tls=True),
    }
    started: dict[str, LocalEtcd] = {}
    try:
        for name, tls in specs.items():
            started[name] = LocalEtcd(tls=tls).start(ready_tls=good if tls and tls.trusted_ca else None)
        yield started
    finally:
        for s in started.values():
            s.stop()


@pytest.fixture(scope="module")
def populated(servers: dict[str, LocalEtcd], good: TLSFiles) -> dict[bytes, tuple[bytes, str, str | None]]:
    """Every storage format written into the mutual-TLS etcd, as the API server would."""
    samples = g.sample_values()
    with servers["mtls"].client(good) as c:
        for k, (v, _s, _n) in samples.items():
            c.put(k, v)
        c.put(
            b"/registry/configmaps/default/app-config",
            g.k8s_protobuf("v1", "ConfigMap", g.configmap_proto("app-config", "default", {"LOG_LEVEL": "info"})),
        )
        c.put(
            b"/registry/configmaps/default/enc-config",
            g.aesgcm(b"k8s\x00cm", b"/registry/configmaps/default/enc-config"),
        )
        c.put(b"/registry/secretsfoo/not-a-secret", b"outside the prefix")
    return samples


def _run(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, args, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def _tls_args(t: TLSFiles) -> list[str]:
    return ["--cacert", str(t.cacert), "--cert", str(t.cert), "--key", str(t.key)]


# -- etcd secrets --------------------------------------------------------------------------------


def test_secrets_live_json_contract(servers: dict[str, LocalEtcd], good: TLSFiles, populated: dict) -> None:
    code, out, _ = _run(["etcd", "secrets", "--endpoints", servers["mtls"].client_url, *_tls_args(good), "-o", "json"])
    assert code == 1  # plaintext secrets exist
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    got = {k["key"]: (k["storage"], k["key_name"]) for k in doc["keys"]}
    want = {k.decode(): (s, n) for k, (_v, s, n) in populated.items()}
    assert got == want
    assert doc["summary"] == {
        "identity": 3,
        "aescbc": 2,
        "aesgcm": 1,
        "secretbox": 1,
        "kms-v1": 1,
        "kms-v2": 3,
        "unknown": 1,
    }
    assert doc["key_names"]["aescbc"] == {"key1": 1, "key0-2024": 1}
    assert g.SECRET_VALUE.decode() not in out and "czNjcjN0" not in out  # never a value


def test_secrets_table_and_resources(servers: dict[str, LocalEtcd], good: TLSFiles, populated: dict) -> None:
    code, out, _ = _run(
        ["etcd", "secrets", "--endpoints", servers["mtls"].client_url, *_tls_args(good), "--resource", "configmaps"]
    )
    assert code == 1
    assert "/registry/configmaps/default/app-config" in out and "identity" in out
    assert "/registry/configmaps/default/enc-config" in out and "aesgcm" in out
    assert "/registry/secrets/" not in out
    assert "UNENCRYPTED: 1 value(s)" in out
    code, out, _ = _run(["etcd", "secrets", "--endpoints", servers["mtls"].client_url, *_tls_args(good)])
    assert "summary: identity 3, aescbc 2, aesgcm 1, secretbox 1, kms-v1 1, kms-v2 3, unknown 1 (total 12)" in out
    assert "/registry/secretsfoo" not in out
    assert g.SECRET_VALUE.decode() not in out


def test_secrets_from_snapshot_matches_live(
    servers: dict[str, LocalEtcd], good: TLSFiles, populated: dict, tmp_path: Path
) -> None:
    snap = tmp_path / "snap.db"
    with servers["mtls"].client(good) as c:
        snap.write_bytes(b"".join(c.snapshot()))
    code, out, _ = _run(["etcd", "secrets", "--snapshot", str(snap), "-o", "json"])
    assert code == 1
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    assert {k["key"]: k["storage"] for k in doc["keys"]} == {k.decode(): s for k, (_v, s, _n) in populated.items()}
    assert doc["source"] == f"snapshot:{snap}"


def test_secrets_all_encrypted_exits_zero(servers: dict[str, LocalEtcd]) -> None:
    with servers["plain"].client() as c:
        c.put(b"/registry/secrets/prod/a", g.secretbox(g.plain_secret("a", "prod")))
        c.put(
            b"/registry/secrets/prod/b",
            g.KMSv2Writer().encrypt(g.plain_secret("b", "prod"), b"/registry/secrets/prod/b"),
        )
    code, out, _ = _run(["etcd", "secrets", "--endpoints", servers["plain"].client_url, "-o", "json"])
    assert code == 0, out
    assert json.loads(out)["summary"]["identity"] == 0


def test_secrets_usage_errors() -> None:
    code, _, err = _run(["etcd", "secrets"])
    assert code == 2 and "exactly one of --endpoints or --snapshot" in err
    code, _, err = _run(["etcd", "secrets", "--endpoints", "127.0.0.1:2379"])
    assert code == 2 and "needs a scheme" in err


def test_secrets_wrong_ca_is_a_clear_error(servers: dict[str, LocalEtcd], tmp_path: Path, good: TLSFiles) -> None:
    other = make_ca("someone-else")
    ca, _ = other.write(str(tmp_path), "other-ca")
    code, _, err = _run(
        [
            "etcd",
            "secrets",
            "--endpoints",
            servers["mtls"].client_url,
            "--cacert",
            ca,
            "--cert",
            str(good.cert),
            "--key",
            str(good.key),
        ]
    )
    assert code == 2 and "not trusted" in err


# -- etcd probe ----------------------------------------------------------------------------------


def _ids(report) -> dict[str, tuple[str, str | None]]:
    return {f.rule.id: (f.severity.label, f.subcode) for f in report.findings}


def test_probe_plain_http(servers: dict[str, LocalEtcd]) -> None:
    results, report = probe_and_judge([servers["plain"].client_url])
    p = results[0]
    assert p.plain_http.accepted and p.plain_http.data_readable and not p.speaks_tls
    assert p.version["etcdserver"].startswith("3.")
    assert p.auth == "disabled"
    # no client certificate over plain HTTP and the data was read: critical, on loopback too (every process
    # and hostNetwork pod of the node reaches it); its traffic on the node's lo is capturable: medium
    assert _ids(report) == {
        "KF-ETCD-001": ("high", None),
        "KF-ETCD-002": ("critical", "plain_http"),
        "KF-ETCD-008": ("medium", "loopback"),
    }


def test_probe_mutual_tls_is_clean(servers: dict[str, LocalEtcd], good: TLSFiles) -> None:
    results, report = probe_and_judge([servers["mtls"].client_url], tls=good)
    p = results[0]
    assert p.speaks_tls and not p.plain_http.accepted
    assert p.no_cert.tried and not p.no_cert.accepted
    assert p.wrong_ca.tried and not p.wrong_ca.accepted
    assert p.with_cert is not None and p.with_cert.accepted and p.with_cert.data_readable
    assert p.server_cert is not None and p.server_cert.trusted is True and not p.server_cert.auto_tls
    assert "CN=kubefort-test-ca" in p.server_cert.issuer
    assert report.findings == [] and report.exit_code() == 0


def test_trusted_ca_file_alone_enforces_client_certs(servers: dict[str, LocalEtcd], good: TLSFiles) -> None:
    """Real etcd 3.4: --trusted-ca-file without --client-cert-auth still requires a valid client certificate."""
    results, report = probe_and_judge([servers["trusted_ca_only"].client_url], tls=good)
    assert not results[0].no_cert.accepted and not results[0].wrong_ca.accepted
    assert report.findings == []


def test_probe_tls_without_client_auth(servers: dict[str, LocalEtcd], good: TLSFiles) -> None:
    results, report = probe_and_judge([servers["tls_only"].client_url], tls=TLSFiles(good.cacert))
    p = results[0]
    assert p.no_cert.accepted and p.no_cert.data_readable
    assert _ids(report) == {"KF-ETCD-002": ("critical", None)}
    assert report.exit_code() == 1
    assert "without a certificate and served key-value data" in report.findings[0].message


def test_probe_auto_tls(servers: dict[str, LocalEtcd], good: TLSFiles) -> None:
    results, report = probe_and_judge([servers["auto_tls"].client_url], tls=TLSFiles(good.cacert))
    p = results[0]
    assert p.server_cert is not None and p.server_cert.auto_tls and p.server_cert.self_signed
    assert p.server_cert.trusted is False
    assert set(_ids(report)) == {"KF-ETCD-002", "KF-ETCD-003"}


def test_probe_foreign_cert_from_the_same_ca(
    servers: dict[str, LocalEtcd], pki: LocalPKI, good: TLSFiles, tmp_path: Path
) -> None:
    """A kubelet-like certificate signed by the CA etcd trusts is accepted: etcd shares its CA (KF-ETCD-007)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    ca = IssuedKeyPair(  # the test PKI's CA, reloaded from its files
        x509.load_pem_x509_certificate(Path(pki.ca).read_bytes()),
        serialization.load_pem_private_key((Path(pki.dir) / "ca.key").read_bytes(), None),
    )
    crt, key = issue(ca, "system:node:worker-1", client=True).write(str(tmp_path), "kubelet")
    _, report = probe_and_judge([servers["mtls"].client_url], tls=good, foreign=TLSFiles(None, crt, key))
    assert _ids(report) == {"KF-ETCD-007": ("medium", None)}
    other = make_ca("cluster-ca")
    crt2, key2 = issue(other, "system:node:worker-1", client=True).write(str(tmp_path), "kubelet2")
    _, report = probe_and_judge([servers["mtls"].client_url], tls=good, foreign=TLSFiles(None, crt2, key2))
    assert report.findings == []


def test_probe_detects_etcd_auth(tmp_path: Path) -> None:
    with LocalEtcd() as srv:
        srv.start()
        h = httpx.Client(base_url=srv.client_url, trust_env=False)
        for path, body in (
            ("/v3/auth/role/add", {"name": "root"}),
            ("/v3/auth/user/add", {"name": "root", "password": "pw"}),
            ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
            ("/v3/auth/enable", {}),
        ):
            assert h.post(path, json=body).status_code == 200
        h.close()
        p = probe_endpoint(srv.client_url)
        assert p.plain_http.accepted and p.plain_http.auth_required and not p.plain_http.data_readable
        assert p.auth == "enabled"


def test_probe_cli_json_and_exit_codes(servers: dict[str, LocalEtcd], good: TLSFiles) -> None:
    urls = f"{servers['mtls'].client_url},{servers['tls_only'].client_url}"
    code, out, _ = _run(["etcd", "probe", "--endpoints", urls, *_tls_args(good), "-o", "json"])
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "kubefort/v1"
    assert [f["rule_id"] for f in doc["findings"]] == ["KF-ETCD-002"]
    assert doc["findings"][0]["object"]["name"] == servers["tls_only"].client_url
    assert [e["endpoint"] for e in doc["endpoints"]] == urls.split(",")
    assert doc["endpoints"][0]["tls_without_client_cert"]["accepted"] is False
    code, out, _ = _run(["etcd", "probe", "--endpoints", servers["mtls"].client_url, *_tls_args(good), "--no-color"])
    assert code == 0
    assert "TLS, no client cert" in out and "rejected" in out and "result: PASS" in out
    code, out, _ = _run(
        ["etcd", "probe", "--endpoints", servers["plain"].client_url, "--fail-on", "critical", "-o", "sarif"]
    )
    assert code == 1 and json.loads(out)["runs"][0]["results"]  # KF-ETCD-002 is critical


def test_probe_unreachable(tmp_path: Path) -> None:
    from kubefort.etcd.server import free_port

    code, _, err = _run(["etcd", "probe", "--endpoints", f"https://127.0.0.1:{free_port()}", "--timeout", "1"])
    assert code == 2 and "no endpoint answered" in err


def test_probe_cli_suppressions_and_thresholds(servers: dict[str, LocalEtcd], tmp_path: Path) -> None:
    """The probe is judged by the engine: config exceptions, --min-severity, --baseline and -v as for scan."""
    plain = servers["plain"].client_url
    code, out, _ = _run(["etcd", "probe", "--endpoints", plain, "--min-severity", "high", "--no-color"])
    assert code == 1 and "KF-ETCD-001" in out and "KF-ETCD-008" not in out and "1 findings below" in out
    cfg = tmp_path / "kubefort.yaml"
    cfg.write_text(
        "exceptions:\n  - rules: [KF-ETCD-001, KF-ETCD-002]\n    kinds: [EtcdEndpoint]\n"
        f"    names: ['{plain}']\n    reason: lab\n"
    )
    code, out, _ = _run(["etcd", "probe", "--endpoints", plain, "--config", str(cfg), "-o", "json"])
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["suppressed"] == 2
    assert [(f["rule_id"], f.get("suppression")) for f in doc["findings"]] == [
        ("KF-ETCD-001", "config: lab"),
        ("KF-ETCD-002", "config: lab"),
        ("KF-ETCD-008", None),
    ]
    code, out, _ = _run(["etcd", "probe", "--endpoints", plain, "--config", str(cfg), "--no-color", "-v"])
    assert code == 0 and "(suppressed: config: lab)" in out
    base = tmp_path / "base.json"
    base.write_text(_run(["etcd", "probe", "--endpoints", plain, "-o", "json"])[1])
    code, out, _ = _run(["etcd", "probe", "--endpoints", plain, "--baseline", str(base), "-o", "json"])
    assert code == 0 and all(f["suppressed"] for f in json.loads(out)["findings"])


def test_client_never_uses_environment_ca_bundles(
    servers: dict[str, LocalEtcd], good: TLSFiles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """REQUESTS_CA_BUNDLE/SSL_CERT_FILE pointing elsewhere must not change what --cacert says."""
    bogus = tmp_path / "bundle.pem"
    bogus.write_bytes(make_ca("bogus").cert_pem())
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(var, str(bogus) if "PROXY" not in var.upper() else "http://127.0.0.1:9")
    with EtcdClient(servers["mtls"].client_url, good) as c:
        assert c.version()["etcdserver"]


def test_backup_over_mutual_tls_both_snapshot_paths(
    servers: dict[str, LocalEtcd], good: TLSFiles, populated: dict, tmp_path: Path
) -> None:
    kf = tmp_path / "key.json"
    assert _run(["backup", "keygen", "--out", str(kf)])[0] == 0
    args = ["--repo", str(tmp_path / "repo"), "--key-file", str(kf)]
    sizes = []
    for via in ("api", "etcdctl"):
        code, out, err = _run(
            [
                "backup",
                "create",
                "--etcd",
                servers["mtls"].client_url,
                *_tls_args(good),
                *args,
                "--snapshot-via",
                via,
                "-o",
                "json",
            ]
        )
        assert code == 0, err
        rec = json.loads(out)
        assert rec["etcd"]["snapshot_via"] == via and rec["etcd"]["keyspace"]["keys"] >= len(populated)
        sizes.append(rec["blobs"][0]["plain_size"])
    assert sizes[0] == sizes[1]  # the same database either way
    code, out, _ = _run(["backup", "verify", *args])
    assert code == 0 and "2 backup(s) verified" in out
    assert not list((tmp_path / "repo" / "tmp").iterdir())  # no plaintext snapshot left behind


# -- pinned command outputs -------------------------------------------------------------------------
#
# The etcd and backup commands need live servers, so the golden cases (tests/golden) cannot cover them:
# their whole outputs (every format, stdout and stderr, exit codes) are pinned here instead, in
# tests/fixtures/etcd/cli-outputs.txt, with what varies from run to run (ports, temporary paths, times,
# backup IDs, hashes, snapshot sizes) replaced by placeholders. A change of that file is a change of
# what users see: review its diff. KUBEFORT_PIN_ETCD_OUTPUTS=1 rewrites it.

PINNED = Path(__file__).resolve().parents[1] / "fixtures" / "etcd" / "cli-outputs.txt"


def _normalise(text: str, ports: dict[int, str], tmp: Path) -> str:
    import re

    names = {str(p): n for p, n in ports.items()}
    t = text.replace(str(tmp), "<tmp>")
    t = re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:<{names.get(m.group(1), 'closed')}>", t)
    # backup IDs are not numbered: backups of the same second sort by their random part
    t = re.sub(r"\d{8}T\d{6}Z-[0-9a-f]{8}", "<id>", t)
    t = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", t)
    t = re.sub(r"[0-9a-f]{16,}", "<hex>", t)
    t = re.sub(r"\d+\.\d+s\b", "<t>s", t)
    t = re.sub(r'"(duration_s|decrypt|restore|start|recovery|compare|total|recovery_time_s)": [\d.]+', r'"\1": <t>', t)
    t = re.sub(r'"(cluster_id|member_id)": "\d+"', r'"\1": <n>', t)
    t = re.sub(r"\d+(\.\d)? (B|KiB|MiB) ", "<size> ", t)  # etcd snapshots differ by a few pages
    t = re.sub(r'"(size|db_size|plain_size)": \d+', r'"\1": <n>', t)
    return re.sub(r"\d+ bytes, SHA-256", "<n> bytes, SHA-256", t)


def test_command_outputs_pinned(
    servers: dict[str, LocalEtcd], pki: LocalPKI, good: TLSFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from kubefort.etcd.server import free_port

    monkeypatch.chdir(tmp_path)  # no .kubefort.yaml of the developer's
    closed = free_port()
    ca = IssuedKeyPair(
        x509.load_pem_x509_certificate(Path(pki.ca).read_bytes()),
        serialization.load_pem_private_key((Path(pki.dir) / "ca.key").read_bytes(), None),
    )
    fcrt, fkey = issue(ca, "system:node:worker-1", client=True).write(str(tmp_path), "kubelet")
    tls, ca_only = _tls_args(good), ["--cacert", str(good.cacert)]
    url = {n: s.client_url for n, s in servers.items()}
    ports = {s.client_port: n for n, s in servers.items()}
    outputs: list[str] = []

    def run(name: str, args: list[str]) -> str:
        code, out, err = _run(args)
        outputs.append(
            f"=== {name}: exit {code}\n--- stdout\n{_normalise(out, ports, tmp_path)}"
            f"--- stderr\n{_normalise(err, ports, tmp_path)}"
        )
        return out

    probes = {
        "plain": ["--endpoints", url["plain"]],
        "mtls": ["--endpoints", url["mtls"], *tls],
        "mtls-no-cacert": ["--endpoints", url["mtls"], "--cert", str(good.cert), "--key", str(good.key)],
        "trusted-ca-only": ["--endpoints", url["trusted_ca_only"], *tls],
        "tls-only": ["--endpoints", url["tls_only"], *ca_only],
        "auto-tls": ["--endpoints", url["auto_tls"], *ca_only],
        "foreign": ["--endpoints", url["mtls"], *tls, "--foreign-cert", fcrt, "--foreign-key", fkey],
        "multi": [
            "--endpoints",
            f"{url['mtls']},{url['tls_only']},{url['plain']},https://127.0.0.1:{closed}",
            *tls,
            "--timeout",
            "2",
        ],
    }
    for name, args in probes.items():
        run(f"probe {name}", ["etcd", "probe", *args, "--no-color"])
        for fmt in ("json", "sarif", "junit") if name in ("plain", "tls-only", "multi") else ("json",):
            run(f"probe {name} -o {fmt}", ["etcd", "probe", *args, "-o", fmt])
    run("probe plain --fail-on critical", ["etcd", "probe", *probes["plain"], "--fail-on", "critical", "--no-color"])
    run("probe unreachable", ["etcd", "probe", "--endpoints", f"https://127.0.0.1:{closed}", "--timeout", "1"])
    run("probe --foreign-cert alone", ["etcd", "probe", *probes["mtls"], "--foreign-cert", fcrt])

    with LocalEtcd() as sec:
        sec.start()
        ports[sec.client_port] = "secrets"
        with sec.client() as c:
            for k, (v, _s, _n) in g.sample_values().items():
                c.put(k, v)
            c.put(
                b"/registry/configmaps/default/app-config",
                g.k8s_protobuf("v1", "ConfigMap", g.configmap_proto("app-config", "default", {"LOG_LEVEL": "info"})),
            )
            c.put(
                b"/registry/configmaps/default/enc-config",
                g.aesgcm(b"k8s\x00cm", b"/registry/configmaps/default/enc-config"),
            )
            c.put(b"/registry/secrets/default/evil\x1b[31m", b"k8s\x00\x0a\x0cplain")  # would recolour a terminal
            snap = tmp_path / "snap.db"
            snap.write_bytes(b"".join(c.snapshot()))
        ep = ["--endpoints", sec.client_url]
        for fmt in ("table", "json"):
            run(f"secrets -o {fmt}", ["etcd", "secrets", *ep, "-o", fmt])
            both = ["--resource", "configmaps", "--resource", "secrets"]
            run(f"secrets configmaps+secrets -o {fmt}", ["etcd", "secrets", *ep, *both, "-o", fmt])
        run("secrets --snapshot", ["etcd", "secrets", "--snapshot", str(snap)])
        run("secrets, no source", ["etcd", "secrets"])

        kf = tmp_path / "bk.key"
        r = ["--repo", str(tmp_path / "repo"), "--key-file", str(kf)]
        run("backup keygen", ["backup", "keygen", "--out", str(kf)])
        run("backup create", ["backup", "create", "--etcd", sec.client_url, *r])
        created = json.loads(
            run("backup create -o json", ["backup", "create", "--etcd", sec.client_url, *r, "-o", "json"])
        )
        objs = tmp_path / "objs.yaml"
        objs.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\ndata: {k: v}\n")
        time.sleep(1.05 - time.time() % 1)  # a second later: the newest backup, the one pruning keeps
        run("backup create --objects", ["backup", "create", "--objects", "-f", str(objs), *r])
        for fmt in ("table", "json"):
            run(f"backup list -o {fmt}", ["backup", "list", *r, "-o", fmt])
            run(f"backup verify -o {fmt}", ["backup", "verify", *r, "-o", fmt])
            run(f"backup verify --quick -o {fmt}", ["backup", "verify", *r, "--quick", "-o", fmt])
            run(
                f"backup prune --dry-run -o {fmt}", ["backup", "prune", *r, "--keep-daily", "1", "--dry-run", "-o", fmt]
            )
        run("backup drill", ["backup", "drill", created["id"], *r])
        run("backup drill -o json", ["backup", "drill", created["id"], *r, "-o", "json"])
        run("backup restore", ["backup", "restore", created["id"], *r, "--data-dir", str(tmp_path / "restored")])
        run("backup prune", ["backup", "prune", *r, "--keep-daily", "1"])
        run("backup list, after the prune", ["backup", "list", *r])
        run("backup verify, no such backup", ["backup", "verify", "nope", *r])
    got = "\n".join(outputs)
    if os.environ.get("KUBEFORT_PIN_ETCD_OUTPUTS") == "1":
        PINNED.write_text(got)
    assert got == PINNED.read_text()
