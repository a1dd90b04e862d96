"""A real registry: Debian's docker-registry (the CNCF distribution registry) on loopback, with TLS
from a CA made here and htpasswd (bcrypt) authentication; images pushed with skopeo. A scan by
reference must equal the scan of the tarball."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubefort.analysis.image.build import ImageAnalysisOptions, analyse_image
from kubefort.analysis.vulndb.store import VulnDB
from kubefort.cli import cli
from kubefort.errors import LoadError
from kubefort.loading.image import Platform, RegistryOptions

from .build import AppImage
from .conftest import need, small_image
from .pack import Entry, Image, layer_tar, write_oci_layout

USER, PASSWORD = "ci-bot", "s3cret-registry-pass"


def _pki(d: Path) -> tuple[Path, Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubefort test registry CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (d / "ca.pem").write_bytes(ca.public_bytes(pem))
    (d / "cert.pem").write_bytes(cert.public_bytes(pem))
    (d / "key.pem").write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    certs = d / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(ca.public_bytes(pem))
    return d / "ca.pem", d / "cert.pem", d / "key.pem"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    def __init__(self, root: Path, port: int, ca: Path) -> None:
        self.root, self.port, self.ca = root, port, ca
        self.host = f"127.0.0.1:{port}"

    def push(self, source: str, repo: str, *extra: str) -> None:
        subprocess.run(
            [
                "skopeo",
                "copy",
                "-q",
                *extra,
                "--dest-creds",
                f"{USER}:{PASSWORD}",
                "--dest-cert-dir",
                str(self.root / "certs.d"),
                source,
                f"docker://{self.host}/{repo}",
            ],
            check=True,
            timeout=300,
        )


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    need("docker-registry", "skopeo", "htpasswd")
    root = tmp_path_factory.mktemp("registry")
    ca, cert, key = _pki(root)
    htpasswd = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True).stdout
    (root / "htpasswd").write_text(htpasswd)
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}},
        "http": {"addr": f"127.0.0.1:{port}", "tls": {"certificate": str(cert), "key": str(key)}},
        "auth": {"htpasswd": {"realm": "kubefort-test", "path": str(root / "htpasswd")}},
    }
    (root / "config.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(root / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not start: {proc.stderr.read()!r}") from None  # type: ignore[union-attr]
                time.sleep(0.1)
        yield Registry(root, port, ca)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


def _options(reg: Registry, **kw: Any) -> ImageAnalysisOptions:
    return ImageAnalysisOptions(registry=RegistryOptions(ca_file=str(reg.ca), **kw))


def _comparable(obj: Any) -> dict[str, Any]:
    status = obj.get("status")
    return {
        "packages": status["packages"],
        "vulnerabilities": status["vulnerabilities"],
        "secrets": status["secrets"],
        "config": status["config"],
        "history": status["history"],
        "os": status["os"],
        "diffIDs": [layer["diffID"] for layer in status["layers"]],
    }


def test_scan_by_reference_equals_tarball(registry: Registry, app_image: AppImage, vulndb: str) -> None:
    registry.push(f"docker-archive:{app_image.docker_archive}", "team/app:1")
    ref = f"{registry.host}/team/app:1"
    with VulnDB(vulndb) as db:
        pulled = analyse_image(ref, _options(registry, username=USER, password=PASSWORD), db=db)
        local = analyse_image(str(app_image.docker_archive), ImageAnalysisOptions(), db=db)
    assert _comparable(pulled) == _comparable(local)
    assert pulled.get("spec", "transport") == "registry" and pulled.get("spec", "digest").startswith("sha256:")
    # by digest too
    by_digest = f"{registry.host}/team/app@{pulled.get('spec', 'digest')}"
    with VulnDB(vulndb) as db:
        again = analyse_image(by_digest, _options(registry, username=USER, password=PASSWORD), db=db)
    assert _comparable(again) == _comparable(local)


def test_cli_reference_scan_same_findings(registry: Registry, app_image: AppImage, vulndb: str) -> None:
    registry.push(f"docker-archive:{app_image.docker_archive}", "team/cli:1")
    ref = f"{registry.host}/team/cli:1"
    runner = CliRunner(mix_stderr=False)

    def findings(*args: str, input: str | None = None) -> list[tuple[str, str, str, str]]:
        r = runner.invoke(
            cli, ["image", "scan", *args, "--db", vulndb, "-o", "json"], input=input, catch_exceptions=False
        )
        assert r.exit_code == 1, r.stderr
        doc = json.loads(r.stdout)
        name = doc["findings"][0]["object"]["name"]
        return sorted(
            (f["rule_id"], f.get("subcode") or "", f["path"], f["message"].replace(name, "IMAGE"))
            for f in doc["findings"]
        )

    by_ref = findings(ref, "--username", USER, "--password-stdin", "--ca-file", str(registry.ca), input=PASSWORD + "\n")
    assert by_ref == findings(str(app_image.docker_archive))
    # docker config.json credentials, as the docker client writes them
    cfg = registry.root / "docker-config.json"
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    cfg.write_text(json.dumps({"auths": {registry.host: {"auth": auth}}}))
    assert findings(ref, "--docker-config", str(cfg), "--ca-file", str(registry.ca)) == by_ref


def test_registry_refusals(registry: Registry, app_image: AppImage) -> None:
    registry.push(f"docker-archive:{app_image.docker_archive}", "team/auth:1")
    ref = f"{registry.host}/team/auth:1"
    empty = registry.root / "empty-docker-config.json"
    empty.write_text("{}")
    with pytest.raises(LoadError, match="requires credentials"):
        analyse_image(ref, _options(registry, docker_config=str(empty)))
    with pytest.raises(LoadError, match="authentication failed"):
        analyse_image(ref, _options(registry, username=USER, password="wrong"))
    with pytest.raises(LoadError, match=r"not trusted \(give its CA with --ca-file\)"):
        analyse_image(ref, ImageAnalysisOptions(registry=RegistryOptions(username=USER, password=PASSWORD)))
    with pytest.raises(LoadError, match=r"answered 404 \(not found\)"):
        analyse_image(f"{registry.host}/team/missing:1", _options(registry, username=USER, password=PASSWORD))


def test_multi_platform_pull(registry: Registry, tmp_path: Path) -> None:
    amd = small_image()
    arm = Image(
        layers=[
            layer_tar(
                [Entry("etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n"), Entry("etc/alpine-release", b"3.19.1\n")]
            )
        ],
        platform=("linux", "arm64"),
    )
    layout = write_oci_layout([amd, arm], tmp_path / "multi", index=True)
    registry.push(f"oci:{layout}:1", "team/multi:1", "--all")
    ref = f"{registry.host}/team/multi:1"
    creds = {"username": USER, "password": PASSWORD}
    arm_obj = analyse_image(
        ref,
        ImageAnalysisOptions(
            registry=RegistryOptions(ca_file=str(registry.ca), **creds), platform=Platform.parse("linux/arm64")
        ),
    )
    amd_obj = analyse_image(
        ref,
        ImageAnalysisOptions(
            registry=RegistryOptions(ca_file=str(registry.ca), **creds), platform=Platform.parse("linux/amd64")
        ),
    )
    assert arm_obj.get("spec", "platform") == "linux/arm64" and arm_obj.get("status", "os", "id") == "alpine"
    assert amd_obj.get("spec", "platform") == "linux/amd64" and amd_obj.get("status", "os", "id") == "debian"
