"""The S3 repository backend against a local S3-compatible server (moto's server on 127.0.0.1), with
Object Lock. Skips when boto3/moto are not installed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort.cli import cli
from kubefort.etcd.backup import ops
from kubefort.etcd.backup.keys import generate, write_key_file
from kubefort.etcd.backup.repo import Repository, blob_name, entry_name
from kubefort.etcd.backup.storage import S3Storage
from kubefort.etcd.server import free_port

boto3 = pytest.importorskip("boto3")
pytest.importorskip("moto.server")
pytestmark = pytest.mark.slow

OBJECTS = str(Path(__file__).resolve().parents[1] / "fixtures" / "etcd" / "objects")
CREDS = {
    "AWS_ACCESS_KEY_ID": "kubefort-test",
    "AWS_SECRET_ACCESS_KEY": "kubefort-test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BUCKET = "kubefort-backups"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **CREDS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.skip("moto server did not start")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the whole group: moto's server may fork a worker
        proc.wait(10)


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    for k in ("AWS_PROFILE", "AWS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(k, raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in names:
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    return client


def test_s3_repository_with_object_lock(s3, request: pytest.FixtureRequest) -> None:
    prefix = f"clusters/{request.node.name}"
    repo = Repository(S3Storage(f"s3://{BUCKET}/{prefix}", client=s3, object_lock_days=1), generate())
    ids = [ops.create_backup(repo, objects=[OBJECTS], now=ops.utcnow().replace(second=i))["id"] for i in range(3)]
    items, chain = ops.list_backups(repo)
    assert [i["id"] for i in items] == ids and chain.ok
    assert ops.verify(repo).ok
    # every object carries Object Lock retention
    head = s3.head_object(Bucket=BUCKET, Key=f"{prefix}/{entry_name(1)}")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"]
    # a locked version cannot be destroyed
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=f"{prefix}/{entry_name(1)}")["Versions"]
    with pytest.raises(Exception, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=f"{prefix}/{entry_name(1)}", VersionId=versions[0]["VersionId"])
    # overwriting a blob with an altered copy is detected
    key = f"{prefix}/{blob_name(repo.backup(ids[1])['blobs'][0]['sha256'])}"
    data = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    data[100] ^= 1
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(data))
    res = ops.verify(repo)
    assert not res.ok and any(ids[1] in i.message for i in res.issues)
    # a manifest entry hidden by a delete marker breaks the chain
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix}/{entry_name(2)}")
    assert any("entry 2 is missing" in i.message for i in ops.verify(repo).chain.issues)


def test_s3_cli(s3, s3_endpoint: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    kf = tmp_path / "key.json"
    write_key_file(generate(), str(kf))
    args = ["--repo", f"s3://{BUCKET}/cli-{request.node.name}", "--key-file", str(kf), "--s3-endpoint", s3_endpoint]
    run = CliRunner(mix_stderr=False)
    r = run.invoke(cli, ["backup", "create", *args, "--objects", "-f", OBJECTS], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    r = run.invoke(cli, ["backup", "list", *args, "--format", "json"], catch_exceptions=False)
    assert r.exit_code == 0 and len(json.loads(r.stdout)["backups"]) == 1
    r = run.invoke(cli, ["backup", "verify", *args], catch_exceptions=False)
    assert r.exit_code == 0 and "result: OK" in r.stdout
