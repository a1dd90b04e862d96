"""Backups: the KFB1 blob format, the key file, the signed hash-chain repository (tampering, deletion,
reordering, wrong key, interrupted writes), retention, and end to end against a real etcd (backup,
alter, restore, drill, compare)."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubefort.cli import cli
from kubefort.errors import UsageError
from kubefort.etcd.backup import ops
from kubefort.etcd.backup.crypto import FRAME, HEADER, EncryptingWriter, IntegrityError, decrypt_stream
from kubefort.etcd.backup.keys import generate, load_key_file, write_key_file
from kubefort.etcd.backup.repo import Repository, RepositoryError, blob_name, entry_name
from kubefort.etcd.backup.storage import LocalStorage
from kubefort.etcd.server import LocalEtcd

OBJECTS = str(Path(__file__).resolve().parents[1] / "fixtures" / "etcd" / "objects")
HAVE_ETCD = bool(shutil.which("etcd") and shutil.which("etcdctl"))
needs_etcd = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_ETCD, reason="etcd/etcdctl not installed (scripts/ensure-etcd.sh)"),
]


def _run(args: list[str]) -> tuple[int, str, str]:
    r = CliRunner(mix_stderr=False).invoke(cli, args, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


# -- KFB1 chunked AEAD ---------------------------------------------------------------------------

KEY = generate()


def _seal(data: bytes, chunk: int = 64) -> bytes:
    buf = io.BytesIO()
    w = EncryptingWriter(buf, KEY.encryption_key, KEY.key_id, chunk_size=chunk)
    for i in range(0, len(data), 7):
        w.write(data[i : i + 7])
    w.close()
    return buf.getvalue()


def _open(blob: bytes, key: bytes | None = None) -> bytes:
    return b"".join(decrypt_stream(io.BytesIO(blob), key or KEY.encryption_key))


def _frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    head, rest, out = blob[: HEADER.size], blob[HEADER.size :], []
    while rest:
        (n,) = FRAME.unpack(rest[:4])
        out.append(rest[: 4 + n])
        rest = rest[4 + n :]
    return head, out


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 200, 256])
def test_blob_roundtrip(size: int) -> None:
    data = os.urandom(size)
    blob = _seal(data)
    assert _open(blob) == data
    assert len(_frames(blob)[1]) == max(1, -(-size // 64))  # full chunks, the last one flagged final


def test_blob_tampering_is_detected() -> None:
    data = os.urandom(300)
    blob = _seal(data)
    head, frames = _frames(blob)
    flipped = bytearray(blob)
    flipped[HEADER.size + 10] ^= 1
    cases = {
        "flipped byte": bytes(flipped),
        "reordered chunks": head + frames[1] + frames[0] + b"".join(frames[2:]),
        "dropped chunk": head + frames[0] + b"".join(frames[2:]),
        "truncated at a chunk boundary": head + b"".join(frames[:-1]),
        "truncated inside a chunk": blob[:-5],
        "appended chunk": blob + frames[1],
        "chunk size changed in header": blob[:12] + struct.pack(">I", 128) + blob[16:],
    }
    for what, bad in cases.items():
        with pytest.raises(IntegrityError):
            _open(bad)
            pytest.fail(what)
    with pytest.raises(IntegrityError, match="another key"):
        _open(blob, generate().encryption_key)


def test_nonces_are_fresh_per_blob() -> None:
    a, b = _seal(b"x" * 100), _seal(b"x" * 100)
    assert a[: HEADER.size] != b[: HEADER.size] and a[HEADER.size :] != b[HEADER.size :]


# -- key file ------------------------------------------------------------------------------------


def test_keygen_file(tmp_path: Path) -> None:
    p = tmp_path / "k.json"
    code, out, _ = _run(["backup", "keygen", "--out", str(p)])
    assert code == 0 and "key id" in out
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    doc = json.loads(p.read_text())
    assert doc["kind"] == "kubefort-backup-key" and doc["encryption"]["algorithm"] == "AES-256-GCM"
    assert doc["signing"]["algorithm"] == "Ed25519"
    k = load_key_file(str(p))
    assert k.key_id == doc["key_id"] and len(k.encryption_key) == 32
    code, _, err = _run(["backup", "keygen", "--out", str(p)])
    assert code == 2 and "refusing to overwrite" in err
    p.chmod(0o644)
    with pytest.raises(UsageError, match="chmod 600"):
        load_key_file(str(p))
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "something"}')
    bad.chmod(0o600)
    with pytest.raises(UsageError, match="not a kubefort backup key file"):
        load_key_file(str(bad))


# -- repository (objects-only backups: no etcd needed) ------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Repository:
    key = generate()
    write_key_file(key, str(tmp_path / "key.json"))
    return Repository(LocalStorage(str(tmp_path / "repo")), key)


def _three(repo: Repository) -> list[str]:
    ids = []
    for i in range(3):
        rec = ops.create_backup(repo, objects=[OBJECTS], now=ops.utcnow().replace(second=i))
        ids.append(rec["id"])
    return ids


def _messages(repo: Repository, bid: str | None = None) -> tuple[bool, str]:
    res = ops.verify(repo, bid)
    return res.ok, "\n".join(f"{i.level}: {i.message}" for i in res.all_issues())


def test_clean_repository_verifies(repo: Repository) -> None:
    ids = _three(repo)
    ok, msg = _messages(repo)
    assert ok and msg == ""
    items, _ = ops.list_backups(repo)
    assert [i["id"] for i in items] == ids and {i["kind"] for i in items} == {"objects"}


def test_flipped_byte_in_a_blob(repo: Repository) -> None:
    ids = _three(repo)
    rec = repo.backup(ids[1])
    p = Path(repo.storage.root) / blob_name(rec["blobs"][0]["sha256"])
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0x40
    p.write_bytes(bytes(data))
    ok, msg = _messages(repo)
    assert not ok and f"backup {ids[1]}:" in msg and "does not authenticate" in msg
    assert _messages(repo, ids[0])[0]  # the others still verify


def test_deleted_blob(repo: Repository) -> None:
    ids = _three(repo)
    os.unlink(Path(repo.storage.root) / blob_name(repo.backup(ids[0])["blobs"][0]["sha256"]))
    ok, msg = _messages(repo)
    assert not ok and f"backup {ids[0]}: objects blob is missing (deleted)" in msg


def test_deleted_manifest_entry(repo: Repository) -> None:
    _three(repo)
    os.unlink(Path(repo.storage.root) / entry_name(2))
    ok, msg = _messages(repo)
    assert not ok and "manifest entry 2 is missing (deleted)" in msg


def test_deleted_newest_entry(repo: Repository) -> None:
    _three(repo)
    os.unlink(Path(repo.storage.root) / entry_name(3))
    ok, msg = _messages(repo)
    assert not ok and "HEAD names entry 3 but the manifest ends at 2" in msg


def test_reordered_chain(repo: Repository) -> None:
    _three(repo)
    root = Path(repo.storage.root)
    a, b = root / entry_name(2), root / entry_name(3)
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    ok, msg = _messages(repo)
    assert not ok and "entries were reordered or renamed" in msg


def test_altered_entry(repo: Repository) -> None:
    ids = _three(repo)
    p = Path(repo.storage.root) / entry_name(2)
    doc = json.loads(p.read_bytes())
    doc["backup"]["created"] = "2020-01-01T00:00:00Z"
    p.write_text(json.dumps(doc))
    ok, msg = _messages(repo)
    assert not ok and "manifest entry 2: signature does not verify" in msg
    with pytest.raises(UsageError, match="does not verify"):
        ops.create_backup(repo, objects=[OBJECTS])  # never builds on a broken chain
    assert ids


def test_wrong_key(repo: Repository, tmp_path: Path) -> None:
    _three(repo)
    other = Repository(repo.storage, generate())
    with pytest.raises(RepositoryError, match="wrong --key-file"):
        ops.verify(other)
    kf = tmp_path / "other.json"
    write_key_file(other.key, str(kf))
    code, _, err = _run(["backup", "verify", "--repo", repo.storage.root, "--key-file", str(kf)])
    assert code == 2 and "repository belongs to key" in err


def test_interrupted_backup_leaves_no_backup(repo: Repository) -> None:
    """A crash between storing the blob and writing the manifest entry (a forked process that dies
    there): nothing is listed, verify flags the orphan blob, the next backup and prune work."""
    _three(repo)
    pid = os.fork()
    if pid == 0:  # child: die right where the manifest entry would be written
        try:
            Repository._write_entry = lambda self, seq, raw: os._exit(9)  # type: ignore[method-assign]
            ops.create_backup(repo, objects=[OBJECTS])
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    items, chain = ops.list_backups(repo)
    assert len(items) == 3 and chain.ok
    ok, msg = _messages(repo)
    assert ok and "referenced by no manifest entry: an interrupted backup" in msg
    ops.create_backup(repo, objects=[OBJECTS])
    res = ops.prune(repo, keep_daily=30, keep_weekly=0)
    assert res["deleted_blobs"] == 1 + len(res["pruned"])  # the orphan and the pruned backups (same day: newest kept)
    assert _messages(repo) == (True, "")


def test_interrupted_head_update_is_repaired(repo: Repository) -> None:
    _three(repo)
    head = Path(repo.storage.root) / "HEAD"
    old = head.read_bytes()
    ops.create_backup(repo, objects=[OBJECTS])
    head.write_bytes(old)  # as if the process died between the entry and HEAD
    ok, msg = _messages(repo)
    assert ok and "HEAD is at entry 3, the manifest at 4" in msg
    ops.create_backup(repo, objects=[OBJECTS])
    assert _messages(repo) == (True, "")


def test_prune_records_and_verifies(repo: Repository) -> None:
    base = ops.utcnow().replace(hour=12, minute=0, second=0)
    import datetime as dt

    made = [
        ops.create_backup(repo, objects=[OBJECTS], now=base - dt.timedelta(days=d, hours=h))["id"]
        for d in range(12, -1, -1)
        for h in (3, 0)
    ]
    res = ops.prune(repo, keep_daily=3, keep_weekly=2, dry_run=True)
    assert len(res["pruned"]) == len(made) - len(res["kept"]) and res["deleted_blobs"] == 0
    res = ops.prune(repo, keep_daily=3, keep_weekly=2)
    items, _ = ops.list_backups(repo)
    kept = {i["id"] for i in items}
    assert kept == set(res["kept"])
    assert 3 <= len(kept) <= 5 and made[-1] in kept
    assert _messages(repo) == (True, "")
    with pytest.raises(UsageError, match="was pruned"):
        ops.verify(repo, res["pruned"][0])
    # a prune entry cannot be dropped silently: removing it makes the chain fail
    last = max(int(p.stem) for p in (Path(repo.storage.root) / "manifest").iterdir())
    os.unlink(Path(repo.storage.root) / entry_name(last))
    assert not _messages(repo)[0]


def test_select_keep() -> None:
    recs = {
        f"b{i}": {"id": f"b{i}", "created": t}
        for i, t in enumerate(
            [
                "2026-11-23T10:00:00Z",
                "2026-11-23T02:00:00Z",
                "2026-11-22T10:00:00Z",
                "2026-11-20T10:00:00Z",
                "2026-11-16T10:00:00Z",
                "2026-11-09T10:00:00Z",
                "2026-11-01T10:00:00Z",
            ]
        )
    }
    assert ops.select_keep(recs, 2, 0) == {"b0", "b2"}
    assert ops.select_keep(recs, 0, 3) == {"b0", "b2", "b5"}  # ISO weeks 48 (Mon 23), 47 (Sun 22 newest), 46
    assert ops.select_keep(recs, 1, 1) == {"b0"}


def test_cli_list_json_and_verify(repo: Repository, tmp_path: Path) -> None:
    _three(repo)
    args = ["--repo", repo.storage.root, "--key-file", str(tmp_path / "key.json")]
    code, out, _ = _run(["backup", "list", *args, "--format", "json"])
    assert code == 0
    doc = json.loads(out)
    assert list(doc) == ["backups"] and len(doc["backups"]) == 3
    assert all(set(b) == {"id", "created", "size", "kind"} and b["size"] > 0 for b in doc["backups"])
    code, out, _ = _run(["backup", "verify", *args])
    assert code == 0 and "3 backup(s) verified" in out and "result: OK" in out
    os.unlink(Path(repo.storage.root) / entry_name(1))
    code, out, _ = _run(["backup", "verify", *args])
    assert code == 1 and "ERROR: manifest entry 1 is missing (deleted)" in out and "result: FAILED" in out


def test_objects_export_and_restore(repo: Repository, tmp_path: Path) -> None:
    rec = ops.create_backup(repo, objects=[OBJECTS])
    assert rec["objects"]["namespaces"] == {"_cluster": 2, "default": 1, "shop": 3}
    res = ops.restore(repo, rec["id"], str(tmp_path / "unused"), objects_dir=str(tmp_path / "out"))
    files = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.yaml"))
    assert files == [
        "_cluster/ClusterRole.rbac.authorization.k8s.io/shop-reader.yaml",
        "_cluster/Namespace/shop.yaml",
        "default/ServiceAccount/checkout.yaml",
        "shop/ConfigMap/checkout-config.yaml",
        "shop/Deployment.apps/checkout.yaml",
        "shop/Secret/checkout-db.yaml",
    ]
    assert res["objects"] == 6 and not (tmp_path / "unused").exists()


# -- end to end against a real etcd --------------------------------------------------------------


@pytest.fixture(scope="module")
def etcd() -> Iterator[LocalEtcd]:
    if not HAVE_ETCD:
        pytest.skip("etcd not installed")
    with LocalEtcd() as srv:
        srv.start()
        yield srv


def _dump(srv_url: str) -> dict[bytes, tuple[bytes, int, int]]:
    from kubefort.etcd.client import EtcdClient

    with EtcdClient(srv_url) as c:
        return {kv.key: (kv.value, kv.create_revision, kv.mod_revision) for kv in c.iter_range(b"\x00")}


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ETCD, reason="etcd/etcdctl not installed (scripts/ensure-etcd.sh)")
def test_backup_alter_restore_drill(etcd: LocalEtcd, tmp_path: Path) -> None:
    with etcd.client() as c:
        for i in range(300):
            c.put(
                f"/registry/secrets/ns{i % 7}/s{i}".encode(), os.urandom(i % 50) + b"k8s\x00" + bytes([i % 256]) * 400
            )
        c.put(b"/registry/configmaps/default/bin", bytes(range(256)))
    before = _dump(etcd.client_url)
    kf = tmp_path / "key.json"
    _run(["backup", "keygen", "--out", str(kf)])
    args = ["--repo", str(tmp_path / "repo"), "--key-file", str(kf)]
    code, out, err = _run(
        ["backup", "create", "--etcd", etcd.client_url, *args, "--keyspace-digest", "full", "-o", "json"]
    )
    assert code == 0, err
    rec = json.loads(out)
    assert rec["kind"] == "etcd" and rec["etcd"]["keyspace"]["keys"] == len(before)
    assert rec["etcd"]["keyspace"]["mode"] == "full"
    # alter the live data after the backup
    with etcd.client() as c:
        c.delete_prefix(b"/registry/secrets/ns3/")
        c.put(b"/registry/secrets/ns1/s1", b"changed")
    assert _dump(etcd.client_url) != before
    # restore into a new (empty) data dir, start etcd on it, compare every key, value and revision
    data = tmp_path / "restored"
    data.mkdir()
    srv = LocalEtcd(str(data), name="kf-restored", workdir=str(tmp_path))
    code, out, err = _run(
        [
            "backup",
            "restore",
            rec["id"],
            *args,
            "--data-dir",
            str(data),
            "--name",
            "kf-restored",
            "--initial-advertise-peer-urls",
            srv.peer_url,
        ]
    )
    assert code == 0, err
    assert f"restored backup {rec['id']}" in out
    with srv:
        srv.start()
        assert _dump(srv.client_url) == before
    code, _, err = _run(["backup", "restore", rec["id"], *args, "--data-dir", str(data)])
    assert code == 2 and "not empty" in err
    # drill: restore into a temporary etcd, check every key and revision against the recorded digest
    code, out, err = _run(["backup", "drill", rec["id"], *args, "-o", "json"])
    assert code == 0, out + err
    d = json.loads(out)
    assert d["ok"] and d["recovery_time_s"] > 0
    assert any(ch["check"].startswith("every key, value and revision") and ch["ok"] for ch in d["checks"])


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ETCD, reason="etcd/etcdctl not installed (scripts/ensure-etcd.sh)")
def test_drill_fails_on_tampered_snapshot(etcd: LocalEtcd, tmp_path: Path) -> None:
    key = generate()
    repo = Repository(LocalStorage(str(tmp_path / "repo")), key)
    with etcd.client() as c:
        c.put(b"/registry/secrets/default/x", b"k8s\x00x")
        rec = ops.create_backup(repo, client=c)
    p = Path(repo.storage.root) / blob_name(rec["blobs"][0]["sha256"])
    b = bytearray(p.read_bytes())
    b[-20] ^= 1
    p.write_bytes(bytes(b))
    res = ops.drill(repo, rec["id"])
    assert not res.ok and any(c == "decrypt + integrity" and not ok for c, ok, _ in res.checks)
    with pytest.raises(IntegrityError):
        ops.restore(repo, rec["id"], str(tmp_path / "d"))
    assert not (tmp_path / "d").exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ETCD, reason="etcd/etcdctl not installed (scripts/ensure-etcd.sh)")
def test_interrupted_etcd_backup(etcd: LocalEtcd, tmp_path: Path) -> None:
    key = generate()
    repo = Repository(LocalStorage(str(tmp_path / "repo")), key)
    with etcd.client() as c:
        first = ops.create_backup(repo, client=c)
    pid = os.fork()
    if pid == 0:
        try:
            Repository._write_entry = lambda self, seq, raw: os._exit(9)  # type: ignore[method-assign]
            with etcd.client() as c:
                ops.create_backup(repo, client=c)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9
    items, _ = ops.list_backups(repo)
    assert [i["id"] for i in items] == [first["id"]]
    d = ops.drill(repo, first["id"])  # default digest: every key and revision
    assert d.ok and any(c.startswith("every key and revision") and ok for c, ok, _ in d.checks), d.checks
    res = ops.verify(repo)
    assert res.ok and any("interrupted backup" in i.message for i in res.issues)
    assert (
        len([p for p in (Path(repo.storage.root) / "blobs").rglob("*") if p.is_file()]) == 2
    )  # the orphan is harmless


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_ETCD, reason="etcd/etcdctl not installed (scripts/ensure-etcd.sh)")
def test_drill_reports_a_keyspace_mismatch(etcd: LocalEtcd, tmp_path: Path) -> None:
    """A snapshot that does not hold what the live etcd held at the recorded revision fails the drill."""
    repo = Repository(LocalStorage(str(tmp_path / "repo")), generate())
    with etcd.client() as c:
        rec = ops.create_backup(repo, client=c)
    forged = json.loads(json.dumps(rec))
    forged["id"] = rec["id"] + "-x"
    forged["etcd"]["keyspace"]["keys"] += 1  # as if a key had been lost on the way
    repo.append("backup", forged)
    d = ops.drill(repo, forged["id"])
    assert not d.ok
    assert any(not ok and "recorded" in detail for _c, ok, detail in d.checks), d.checks
    code, out, _ = _run(
        ["backup", "drill", forged["id"], "--repo", repo.storage.root, "--key-file", _keyfile(repo, tmp_path)]
    )
    assert code == 1 and "FAIL" in out and "result: FAILED" in out


def _keyfile(repo: Repository, tmp_path: Path) -> str:
    p = tmp_path / "drill-key.json"
    if not p.exists():
        write_key_file(repo.key, str(p))
    return str(p)


def test_progress_on_a_terminal_only(etcd: LocalEtcd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a snapshot can be gigabytes: on a terminal the status line counts what streamed in; the record on
    # standard output is the same, and off a terminal (CI logs, pipes) nothing is drawn
    from kubefort.cli import progress

    with etcd.client() as c:
        c.put(b"/registry/configmaps/default/big", os.urandom(300_000))
    kf = tmp_path / "key.json"
    _run(["backup", "keygen", "--out", str(kf)])
    args = ["--etcd", etcd.client_url, "--repo", str(tmp_path / "repo"), "--key-file", str(kf), "-o", "json"]
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: True)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    code, out, err = _run(["backup", "create", *args])
    assert code == 0, err
    assert "kubefort: etcd snapshot: " in err and " MiB (" in err
    assert json.loads(out)["kind"] == "etcd"
    code, _, err = _run(["backup", "create", *args, "--no-progress"])
    assert code == 0 and "etcd snapshot" not in err
    monkeypatch.setattr(progress, "_stderr_is_terminal", lambda: False)
    code, _, err = _run(["backup", "create", *args])
    assert code == 0 and "etcd snapshot" not in err


def test_key_file_mode_and_the_kubelets_secret_volumes(tmp_path: Path) -> None:
    """A key file must be its owner's alone, except in a Secret volume as the kubelet writes it
    (``KEY -> ..data/KEY``, owned by root): a non-root Pod reads it through its fsGroup, so group read
    is accepted there, and nothing more."""
    write_key_file(generate(), str(tmp_path / "plain.json"))
    (tmp_path / "plain.json").chmod(0o640)
    with pytest.raises(UsageError, match="accessible by group/others"):
        load_key_file(str(tmp_path / "plain.json"))
    vol = tmp_path / "keys"
    stamp = vol / "..2026_12_08_00_00_00.000000"
    stamp.mkdir(parents=True)
    (stamp / "key.json").write_bytes((tmp_path / "plain.json").read_bytes())
    (vol / "..data").symlink_to(stamp.name)
    (vol / "key.json").symlink_to("..data/key.json")
    for mode, ok in ((0o440, True), (0o400, True), (0o460, False), (0o444, False)):
        os.chmod(stamp / "key.json", mode)
        if ok:
            assert load_key_file(str(vol / "key.json")).key_id
        else:
            with pytest.raises(UsageError, match="accessible by group/others"):
                load_key_file(str(vol / "key.json"))
    # a symlink of another shape is judged as the file it points to
    (tmp_path / "link.json").symlink_to(stamp / "key.json")
    os.chmod(stamp / "key.json", 0o440)
    with pytest.raises(UsageError, match="accessible by group/others"):
        load_key_file(str(tmp_path / "link.json"))
