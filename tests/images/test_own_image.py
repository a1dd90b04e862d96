"""kubefort's own container image (``make image``, scripts/build_image.py): built once per session
(cached under ``.cache/image-build/test/<key of its inputs>``), unpacked, and run with ``chroot`` as
the image's user 65532 on a read-only root filesystem with only ``/tmp`` writable, as the chart's
Deployment runs it. docs/image-build.md.

- the config: user, entrypoint, webhook port, OCI labels; the size budget (250 MiB unpacked); no
  package manager, compiler, pip cache, log or timestamp-checked bytecode in it;
- ``kubefort --version``, a scan of examples/insecure-app giving the host's findings, ``admission
  serve`` answering AdmissionReviews over TLS on loopback (a privileged Pod denied, a hardened
  Deployment allowed);
- kubefort scans its own image: no secret, no root user;
- reproducible: a second build (the base layer from the cache, the application layer packed again)
  gives the same image digest and the same archive bytes. ``make image-repro`` is the uncached check.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubefort.admission import certs

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "scripts" / "build_image.py"
CACHE = ROOT / ".cache" / "image-build" / "test"
FIX = ROOT / "tests" / "fixtures" / "admission"
UID = 65532
MIB = 1024 * 1024
BUDGET = 250 * MIB
#: kubefort on the host, from the sources under test
HOST_KUBEFORT = (sys.executable, "-c", "from kubefort.cli import main; main()")

pytestmark = pytest.mark.slow


def _epoch() -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _inputs_key() -> str:
    """Everything the image is made of: sources, project metadata, the lock, the build script."""
    h = hashlib.sha256(_epoch().encode())
    files = [ROOT / "pyproject.toml", ROOT / "README.md", BUILD, *sorted((ROOT / "image").iterdir())]
    files += sorted(p for p in (ROOT / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in files:
        h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def _build(out: Path) -> str:
    env = {**os.environ, "SOURCE_DATE_EPOCH": _epoch()}
    r = subprocess.run(
        [sys.executable, str(BUILD), "--output", str(out)], env=env, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]


def _unpack(archive: Path, dest: Path) -> dict[str, Any]:
    """The layers applied in order (this image has no whiteouts); returns the image config."""
    with tarfile.open(archive) as tf:

        def blob(digest: str) -> bytes:
            f = tf.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            assert f is not None
            return f.read()

        index = json.loads(tf.extractfile("index.json").read())  # type: ignore[union-attr]
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for layer in manifest["layers"]:
            f = tf.extractfile(f"blobs/sha256/{layer['digest'].split(':', 1)[1]}")
            with tarfile.open(fileobj=f, mode="r|gz") as lt:
                lt.extractall(tmp, filter="fully_trusted")
        tmp.rename(dest)
        return {"index": index, "manifest": manifest, "config": json.loads(blob(manifest["config"]["digest"]))}


class Image:
    def __init__(self, archive: Path, digest: str, rootfs: Path, meta: dict[str, Any]) -> None:
        self.archive, self.digest, self.rootfs = archive, digest, rootfs
        self.config: dict[str, Any] = meta["config"]
        self.manifest: dict[str, Any] = meta["manifest"]

    def command(self, tmp: Path, *args: str) -> list[str]:
        """``kubefort ARGS`` in the image: its own mount namespace, the root filesystem read-only,
        ``tmp`` (a host directory) as the only writable place, ``/tmp``, and the image's user."""
        r = str(self.rootfs)
        script = (
            f'mount --bind "{r}" "{r}" && mount -o remount,bind,ro "{r}" && '
            f'mount --bind /dev "{r}/dev" && mount --bind /proc "{r}/proc" && mount --bind "{tmp}" "{r}/tmp" && '
            f'exec chroot --userspec={UID}:{UID} "{r}" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin '
            f'PYTHONDONTWRITEBYTECODE=1 HOME=/tmp "$@"'
        )
        entry = self.config["config"]["Entrypoint"]
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *entry, *args]

    def run(self, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(tmp, *args), capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def image() -> Image:
    missing = [t for t in ("mmdebstrap", "umoci", "skopeo", "unshare", "chroot") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"image tools missing: {', '.join(missing)} (make tools / scripts/ensure-image-tools.sh)")
    if os.geteuid() != 0:
        pytest.skip("the image build and chroot need root")
    key = _inputs_key()
    out = CACHE / key
    archive, rootfs = out / "kubefort-image.tar", out / "rootfs"
    if not (out / "digest").exists():
        shutil.rmtree(CACHE, ignore_errors=True)  # images of other inputs
        out.mkdir(parents=True)
        (out / "digest").write_text(_build(archive))
    digest = (out / "digest").read_text()
    if not rootfs.exists():
        meta = _unpack(archive, rootfs)
        (out / "meta.json").write_text(json.dumps(meta))
    return Image(archive, digest, rootfs, json.loads((out / "meta.json").read_text()))


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    """The image's /tmp: writable by its user."""
    tmp_path.chmod(0o1777)
    return tmp_path


# -- the image as built --------------------------------------------------------------------------


def test_config_user_entrypoint_port_labels(image: Image) -> None:
    import tomllib

    cfg = image.config["config"]
    assert cfg["User"] == f"{UID}:{UID}"
    assert cfg["Entrypoint"] == ["/usr/local/bin/kubefort"]
    assert "8443/tcp" in cfg["ExposedPorts"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.version"] == version
    assert labels["org.opencontainers.image.revision"] == head.strip()
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    # the image's own time is the commit's, not the build's
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(_epoch())))
    assert image.config["created"] == created == labels["org.opencontainers.image.created"]
    assert all(h["created"] <= created for h in image.config["history"])


def test_size_budget_and_no_build_leftovers(image: Image) -> None:
    root = image.rootfs
    total = sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    assert total <= BUDGET, f"{total / MIB:.1f} MiB unpacked, over the 250 MiB budget"
    for tool in ("apt", "apt-get", "pip", "pip3", "gcc", "cc", "make", "curl", "wget"):
        assert not (root / "usr/bin" / tool).exists(), tool
    assert not list((root / "var/log").iterdir())
    assert not (root / "var/cache/apt").exists() and not (root / "root/.cache").exists()
    site = root / "usr/local/lib/python3.11/dist-packages"
    assert (site / "kubefort").is_dir() and not (site / "kubernetes" / "aio").exists()
    assert not list(site.glob("*.dist-info/direct_url.json")) and not (site / "bin").exists()
    assert not [p for pattern in ("tests", "test", "*/tests", "*/test") for p in site.glob(pattern)]
    for record in site.glob("*.dist-info/RECORD"):  # RECORD lists what is there (nothing removed is listed)
        for line in record.read_text().splitlines():
            path = line.rsplit(",", 2)[0]
            assert (site / path).exists() or "__pycache__" in path or path.startswith("../"), (record, path)
    # bytecode in unchecked-hash mode only (flags 0b01): no source time in it, never rewritten
    pycs = list(root.glob("usr/**/__pycache__/*.pyc"))
    # the Kubernetes client ships as bytecode alone (its sources are a fifth of the image), importable
    sourceless = list((site / "kubernetes").rglob("*.pyc"))
    assert len(sourceless) > 900 and not list((site / "kubernetes").rglob("*.py"))
    assert (site / "kubernetes" / "client" / "__init__.pyc").is_file()
    pycs += sourceless
    assert len(pycs) > 2000
    assert {int.from_bytes(p.read_bytes()[4:8], "little") for p in pycs} == {1}
    # one user: kubefort's numeric one, no login shell
    assert f"kubefort:x:{UID}:{UID}:" in (root / "etc/passwd").read_text()


# -- kubefort running in it ----------------------------------------------------------------------


def test_version(image: Image, tmp_dir: Path) -> None:
    r = image.run(tmp_dir, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "kubefort, version 0.1.0"
    assert not list(tmp_dir.iterdir())  # wrote nothing, not even bytecode


def _findings(doc: dict[str, Any]) -> list[tuple[str, str, str, str, str | None]]:
    return sorted(
        (
            f["rule_id"],
            f["object"].get("kind", ""),
            f["object"].get("namespace") or "",
            f["object"].get("name", ""),
            f.get("path"),
        )
        for f in doc["findings"]
    )


def test_scan_gives_the_host_findings(image: Image, tmp_dir: Path) -> None:
    shutil.copytree(ROOT / "examples" / "insecure-app", tmp_dir / "insecure-app")
    inside = image.run(tmp_dir, "scan", "/tmp/insecure-app", "-o", "json")
    assert inside.returncode == 1, inside.stderr  # findings at the default --fail-on
    host = subprocess.run(
        [*HOST_KUBEFORT, "scan", str(ROOT / "examples" / "insecure-app"), "-o", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert host.returncode == 1, host.stderr
    a, b = json.loads(inside.stdout), json.loads(host.stdout)
    assert _findings(a) == _findings(b) and len(a["findings"]) > 50
    assert a["summary"] == b["summary"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def webhook(image: Image, tmp_dir: Path) -> Iterator[tuple[int, str]]:
    issued = certs.issue("kubefort-admission", "kubefort-system", ip_addresses=("127.0.0.1",))
    tls = tmp_dir / "tls"
    tls.mkdir()
    paths = certs.write(issued, str(tls))
    for p in tls.iterdir():
        p.chmod(0o644)  # the test's own throwaway key, readable by the image's user
    port = _free_port()
    args = ["admission", "serve", "--cert", "/tmp/tls/tls.crt", "--key", "/tmp/tls/tls.key"]
    args += ["--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(image.command(tmp_dir, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ctx = ssl.create_default_context(cafile=paths["ca.crt"])
        for _ in range(300):  # bounded wait for start-up
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            try:
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
            finally:
                c.close()
        else:
            pytest.fail("the webhook in the image did not become ready")
        yield port, paths["ca.crt"]
    finally:
        proc.terminate()  # the chain of execs leaves kubefort itself as the process
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise


def _review(port: int, ca: str, fixture: str) -> dict[str, Any]:
    body = json.loads((FIX / fixture).read_text())
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca), timeout=10)
    try:
        c.request("POST", "/validate", json.dumps(body), {"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 200
        out: dict[str, Any] = json.loads(r.read())["response"]
    finally:
        c.close()
    assert out["uid"] == body["request"]["uid"]
    return out


def test_admission_serve_in_the_image(webhook: tuple[int, str]) -> None:
    port, ca = webhook
    denied = _review(port, ca, "create-pod-privileged.json")
    assert denied["allowed"] is False and denied["status"]["code"] == 403
    assert "KF-POD-001" in denied["status"]["message"]
    allowed = _review(port, ca, "create-deployment-hardened.json")
    assert allowed["allowed"] is True


# -- kubefort scans its own image ----------------------------------------------------------------


def test_self_scan_no_secret_no_root(image: Image) -> None:
    r = subprocess.run(
        [*HOST_KUBEFORT, "image", "scan", str(image.archive), "-o", "json", "--fail-on", "medium"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    doc = json.loads(r.stdout)
    ids = sorted(f["rule_id"] for f in doc["findings"])
    # KF-OCI-005 (no HEALTHCHECK, low): Kubernetes ignores it; the manifests and the chart set probes
    assert ids == ["KF-OCI-005"], ids
    assert not doc["errors"] and not doc["rule_errors"]


# -- reproducible ----------------------------------------------------------------------------------


def test_second_build_gives_the_same_digest(image: Image, tmp_path: Path) -> None:
    again = tmp_path / "again.tar"
    assert _build(again) == image.digest
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(image.archive.read_bytes()).digest()


def test_push_keeps_the_digest(image: Image, tmp_path: Path) -> None:
    """What docs/image-build.md tells users: push the archive with skopeo, and the registry serves the
    digest ``make image`` printed (Debian's docker-registry on loopback, plain HTTP)."""
    if shutil.which("docker-registry") is None:
        pytest.skip("docker-registry missing (scripts/ensure-image-tools.sh)")
    port = _free_port()
    (tmp_path / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n"
    )
    reg = subprocess.Popen(
        ["docker-registry", "serve", str(tmp_path / "config.yml")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):  # bounded wait for start-up
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        ref = f"docker://127.0.0.1:{port}/kubefort/kubefort:0.1.0"
        subprocess.run(
            ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci-archive:{image.archive}", ref], check=True
        )
        r = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", ref],
            capture_output=True,
            text=True,
            check=True,
        )
        assert r.stdout.strip() == image.digest
    finally:
        reg.terminate()
        reg.wait(10)
