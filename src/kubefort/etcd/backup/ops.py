"""Backup operations: create, list, verify, restore, drill, prune.

Pipeline of ``create``: snapshot stream (etcd maintenance API) -> SHA-256 of the snapshot -> gzip
(stdlib zlib) -> KFB1 chunked AES-256-GCM -> a scratch file -> fsync -> content-addressed blob ->
signed manifest entry (the commit point) -> HEAD.

Why gzip and not zstd: zstd is faster, but needs a compiled dependency (``zstandard``) on the
control-plane nodes this runs on; gzip is in the standard library, a decrypted payload opens with any
``gzip -d``, and at level 3 a backup of a 600 MB snapshot takes about as long as the classic
``etcdctl snapshot save | gzip | openssl enc`` pipeline (``bench/bench_etcd.py``). Higher levels barely
help: encrypted Secrets are incompressible.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import shutil
import struct
import subprocess
import tarfile
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import yaml

from ...errors import UsageError
from ..client import EtcdClient, EtcdError, TLSFiles, connect
from ..server import LocalEtcd, etcdctl_restore
from .crypto import DEFAULT_CHUNK, ENCRYPTION_NAME, EncryptingWriter, IntegrityError, decrypt_stream
from .keys import load_key_file
from .repo import ChainState, RepoIssue, Repository, blob_name, iso, parse_iso, utcnow
from .storage import StorageError, open_storage

COMPRESSION = "gzip"
DEFAULT_LEVEL = 3
SNAPSHOT_ROLE = "etcd-snapshot"
OBJECTS_ROLE = "objects"


def open_repository(
    url: str, key_file: str, *, s3_endpoint: str | None = None, object_lock_days: int = 0
) -> Repository:
    """The repository at ``url`` (a directory or ``s3://BUCKET/PREFIX``) with the key of ``key_file``."""
    key = load_key_file(key_file)
    opts: dict[str, Any] = {}
    if url.startswith("s3://"):
        opts = {"endpoint_url": s3_endpoint, "object_lock_days": object_lock_days}
    return Repository(open_storage(url, **opts), key)


# -- keyspace digest ---------------------------------------------------------------------------------

DIGEST_MODES = ("revisions", "full", "none")


def keyspace_digest(client: EtcdClient, revision: int, *, mode: str = "revisions", page: int = 0) -> dict[str, Any]:
    """SHA-256 over every key at ``revision``, in key order: the key, its create/mod revision and version
    (``revisions``), and with ``full`` also its value; length-prefixed. What a restore must reproduce.

    ``revisions`` is cheap (keys-only reads) and still pins every value: in etcd's MVCC a key and its
    mod revision name exactly one write, and the values themselves are covered by the snapshot's
    SHA-256. ``full`` re-reads every value through the gateway (about the cost of a second snapshot)."""
    if mode not in ("revisions", "full"):
        raise UsageError(f"key-space digest mode {mode!r}: revisions or full")
    values = mode == "full"
    h = hashlib.sha256()
    n = 0
    for kv in client.iter_range(
        b"\x00", revision=revision, page=page or (2000 if values else 10000), keys_only=not values
    ):
        h.update(struct.pack(">I", len(kv.key)))
        h.update(kv.key)
        h.update(struct.pack(">QQQ", kv.create_revision, kv.mod_revision, kv.version))
        if values:
            h.update(struct.pack(">I", len(kv.value)))
            h.update(kv.value)
        n += 1
    return {"revision": revision, "keys": n, "mode": mode, "sha256": h.hexdigest()}


# -- create ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class BlobResult:
    sha256: str
    size: int
    plain_sha256: str
    plain_size: int
    path: str


def _seal(
    chunks: Iterable[bytes],
    scratch: str,
    key_raw: bytes,
    key_id: str,
    *,
    level: int = DEFAULT_LEVEL,
    chunk_size: int = DEFAULT_CHUNK,
    on_plain: Callable[[bytes], None] | None = None,
) -> BlobResult:
    """Compress and encrypt a stream into a scratch file (fsynced). Returns hashes and sizes.

    Two stages: this thread pulls the stream (network, JSON, base64: holds the GIL); a worker thread
    hashes, compresses and encrypts (zlib, hashlib and AES-GCM run without the GIL on large buffers),
    so a 2-core machine overlaps both."""
    fd, path = tempfile.mkstemp(dir=scratch, prefix="blob-")
    plain = hashlib.sha256()
    sizes = [0]
    q: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
    failure: list[BaseException] = []

    def work(w: EncryptingWriter) -> None:
        z = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip container
        try:
            while (c := q.get()) is not None:
                plain.update(c)
                sizes[0] += len(c)
                if on_plain:
                    on_plain(c)
                w.write(z.compress(c))
            w.write(z.flush())
            w.close()
        except BaseException as e:
            failure.append(e)
            while q.get() is not None:  # drain so the producer never blocks
                pass

    try:
        with os.fdopen(fd, "wb") as out:
            w = EncryptingWriter(out, key_raw, key_id, chunk_size=chunk_size)
            t = threading.Thread(target=work, args=(w,), name="kubefort-seal", daemon=True)
            t.start()
            try:
                buf = bytearray()
                for c in chunks:
                    buf += c
                    if len(buf) >= _BATCH:
                        q.put(bytes(buf))
                        buf.clear()
                if buf:
                    q.put(bytes(buf))
            finally:
                q.put(None)
                t.join()
            if failure:
                raise failure[0]
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    return BlobResult(w.sha256, w.size, plain.hexdigest(), sizes[0], path)


_BATCH = 1 << 20


class _SnapshotCheck:
    """Keeps the last 32 bytes of a snapshot stream and hashes the rest: etcd appends the SHA-256 of
    the database to every snapshot it streams."""

    def __init__(self, progress: Callable[[str, int], None] | None = None) -> None:
        self.h = hashlib.sha256()
        self.tail = b""
        self.size = 0
        self.progress = progress

    def __call__(self, data: bytes) -> None:
        self.size += len(data)
        if self.progress is not None:
            self.progress("etcd snapshot", self.size)
        buf = self.tail + data
        self.h.update(buf[:-32])
        self.tail = buf[-32:]

    @property
    def ok(self) -> bool:
        return len(self.tail) == 32 and self.h.digest() == self.tail


def export_objects(paths: Sequence[str], namespace: str = "default") -> tuple[bytes, dict[str, Any]]:
    """Read Kubernetes objects (files/dirs, as ``scan -f``) and pack them as a tar of
    ``<namespace or _cluster>/<kind>/<name>.yaml`` (one object per file)."""
    from ...api import ScanOptions, load_inputs

    res = load_inputs(ScanOptions(paths=list(paths), namespace=namespace))
    if res.errors:
        raise UsageError(f"--objects: {res.errors[0].diagnostics()}")
    buf = io.BytesIO()
    counts: dict[str, int] = {}
    seen: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for o in res.objects:
            ns = o.namespace or "_cluster"
            group = o.api_version.split("/")[0] if "/" in o.api_version else ""
            kind = f"{o.kind}.{group}" if group else o.kind
            safe = o.name.replace("/", "_")
            name = f"{ns}/{kind}/{safe}.yaml"
            i = 1
            while name in seen:
                i += 1
                name = f"{ns}/{kind}/{safe}~{i}.yaml"
            seen.add(name)
            data = yaml.safe_dump(dict(o.raw), sort_keys=False, allow_unicode=True).encode("utf-8")
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o600, 0
            tar.addfile(ti, io.BytesIO(data))
            counts[ns] = counts.get(ns, 0) + 1
    return buf.getvalue(), {"objects": len(res.objects), "namespaces": dict(sorted(counts.items())), "format": "tar"}


def _etcdctl_snapshot(client: EtcdClient, scratch: str) -> Iterator[bytes]:
    """``etcdctl snapshot save`` (gRPC, faster than the JSON gateway) into the repository's private
    scratch directory, streamed back and removed: the plaintext snapshot touches the disk briefly."""
    etcdctl = shutil.which("etcdctl")
    if not etcdctl:
        raise UsageError("--snapshot-via etcdctl: etcdctl not found on PATH")
    fd, path = tempfile.mkstemp(dir=scratch, prefix="snap-", suffix=".db")
    os.close(fd)
    os.unlink(path)  # etcdctl writes <path>.part then renames
    cmd = [etcdctl, "--endpoints", client.endpoint, "snapshot", "save", path]
    tls = client.tls
    if tls is not None:
        cmd += [f"--{k}={v}" for k, v in (("cacert", tls.cacert), ("cert", tls.cert), ("key", tls.key)) if v]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    env["ETCDCTL_API"] = "3"
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=3600)
        if p.returncode != 0:
            lines = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
            raise EtcdError(f"etcdctl snapshot save failed: {lines[-1] if lines else p.returncode}")
        with open(path, "rb") as fh:
            while data := fh.read(1 << 20):
                yield data
    finally:
        for f in (path, path + ".part"):
            with contextlib.suppress(OSError):
                os.unlink(f)


class _NewBackup:
    """One backup being added: blobs sealed into scratch files, then stored and committed with one signed
    manifest entry (every kind of backup goes through this, so they share checks and commit point)."""

    def __init__(self, repo: Repository, chain: ChainState) -> None:
        self.repo, self.chain = repo, chain
        self.started = time.monotonic()
        self.blobs: list[dict[str, Any]] = []
        self.pending: list[tuple[str, str]] = []  # scratch file, sha256: removed if the backup fails

    def seal(
        self,
        role: str,
        chunks: Iterable[bytes],
        *,
        level: int,
        chunk_size: int,
        on_plain: Callable[[bytes], None] | None = None,
    ) -> BlobResult:
        key = self.repo.key
        res = _seal(
            chunks,
            self.repo.storage.scratch(),
            key.encryption_key,
            key.key_id,
            level=level,
            chunk_size=chunk_size,
            on_plain=on_plain,
        )
        self.pending.append((res.path, res.sha256))
        self.blobs.append(_blob_record(role, res, level, chunk_size))
        return res

    def commit(self, record: dict[str, Any], kind: str, now: Any = None) -> dict[str, Any]:
        """Store the blobs (complete files, atomically), then commit ``record`` as the manifest entry."""
        for path, sha in self.pending:
            self.repo.storage.put_file(blob_name(sha), path)
        self.pending.clear()
        created = now or utcnow()
        record.update(
            {
                "id": f"{created:%Y%m%dT%H%M%SZ}-{self.blobs[0]['sha256'][:8]}",
                "created": iso(created),
                "kind": kind,
                "size": sum(b["size"] for b in self.blobs),
                "blobs": self.blobs,
                "duration_s": round(time.monotonic() - self.started, 3),
            }
        )
        self.repo.append("backup", record, chain=self.chain)
        return record


@contextlib.contextmanager
def _new_backup(repo: Repository) -> Iterator[_NewBackup]:
    """Lock ``repo``, refuse to add to one that does not verify, and hand out the backup being added;
    its scratch files are removed whatever happens."""
    with repo.storage.lock():
        repo.init_or_check()
        chain = repo.load_chain()
        if not chain.ok:
            first = next(i.message for i in chain.issues if i.level == "error")
            raise UsageError(
                f"the repository does not verify, refusing to add to it: {first} (run 'kubefort backup verify')"
            )
        repo.repair_head(chain)
        new = _NewBackup(repo, chain)
        try:
            yield new
        finally:
            for path, _ in new.pending:
                with contextlib.suppress(OSError):
                    os.unlink(path)


def create_backup(
    repo: Repository,
    *,
    client: EtcdClient | None = None,
    objects: Sequence[str] = (),
    namespace: str = "default",
    level: int = DEFAULT_LEVEL,
    chunk_size: int = DEFAULT_CHUNK,
    digest: str = "revisions",
    now: Any = None,
    snapshot_via: str = "api",
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Take one backup (etcd snapshot and/or exported objects). Returns the manifest record.
    ``progress``: called (stage, plaintext bytes so far) as the snapshot streams in (it can be gigabytes).

    ``snapshot_via``: ``api`` streams the snapshot through the JSON gateway (plaintext only in memory);
    ``etcdctl`` runs ``etcdctl snapshot save`` (gRPC, faster) into the repository's scratch directory."""
    if client is None and not objects:
        raise UsageError("nothing to back up: give --etcd and/or --objects -f FILES")
    if digest not in DIGEST_MODES:
        raise UsageError(f"digest {digest!r}: one of {', '.join(DIGEST_MODES)}")
    if snapshot_via not in ("api", "etcdctl"):
        raise UsageError(f"snapshot_via {snapshot_via!r}: api or etcdctl")
    record: dict[str, Any] = {}
    with _new_backup(repo) as new:
        if client is not None:
            status = client.status()
            revision = int(status["header"]["revision"])
            check = _SnapshotCheck(progress)
            stream = client.snapshot() if snapshot_via == "api" else _etcdctl_snapshot(client, repo.storage.scratch())
            new.seal(SNAPSHOT_ROLE, stream, level=level, chunk_size=chunk_size, on_plain=check)
            if not check.ok:
                raise EtcdError("the snapshot stream does not end with a matching SHA-256: incomplete snapshot")
            etcd_info: dict[str, Any] = {
                "endpoint": client.endpoint,
                "snapshot_via": snapshot_via,
                "version": status.get("version"),
                "cluster_id": status["header"].get("cluster_id"),
                "member_id": status["header"].get("member_id"),
                "revision": revision,
                "db_size": int(status.get("dbSize", 0)),
            }
            if digest != "none":
                etcd_info["keyspace"] = keyspace_digest(client, revision, mode=digest)
            record["etcd"] = etcd_info
        if objects:
            tar_bytes, info = export_objects(objects, namespace)
            new.seal(OBJECTS_ROLE, [tar_bytes], level=level, chunk_size=chunk_size)
            record["objects"] = info
        kind = "+".join(r for r, present in (("etcd", client is not None), ("objects", bool(objects))) if present)
        return new.commit(record, kind, now)


def backup_etcd(
    repo: Repository,
    endpoints: Sequence[str] = (),
    tls: TLSFiles | None = None,
    *,
    objects: Sequence[str] = (),
    namespace: str = "default",
    level: int = DEFAULT_LEVEL,
    digest: str = "revisions",
    snapshot_via: str = "api",
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """:func:`create_backup` of the first of ``endpoints`` that answers (none: objects only)."""
    client = connect(endpoints, tls) if endpoints else None
    try:
        return create_backup(
            repo,
            client=client,
            objects=objects,
            namespace=namespace,
            level=level,
            digest=digest,
            snapshot_via=snapshot_via,
            progress=progress,
        )
    finally:
        if client:
            client.close()


def _blob_record(role: str, res: BlobResult, level: int, chunk_size: int) -> dict[str, Any]:
    return {
        "role": role,
        "sha256": res.sha256,
        "size": res.size,
        "plain_sha256": res.plain_sha256,
        "plain_size": res.plain_size,
        "compression": f"{COMPRESSION}-{level}",
        "encryption": ENCRYPTION_NAME,
        "chunk_size": chunk_size,
    }


# -- reading blobs -----------------------------------------------------------------------------------


def open_blob(repo: Repository, blob: dict[str, Any]) -> Iterator[bytes]:
    """Plaintext chunks of a stored blob, checked end to end: stored SHA-256, authenticated
    decryption, gzip integrity and the plaintext SHA-256 (IntegrityError on any mismatch)."""
    name = blob_name(blob["sha256"])
    stored = hashlib.sha256()
    plain = hashlib.sha256()
    size = 0

    class _Tee(io.RawIOBase):
        def __init__(self, fh: BinaryIO) -> None:
            self.fh = fh

        def read(self, n: int = -1) -> bytes:
            d = self.fh.read(n)
            stored.update(d)
            return d

    with repo.storage.open_read(name) as fh:
        tee = _Tee(fh)
        z = zlib.decompressobj(31)
        try:
            for ct_chunk in decrypt_stream(tee, repo.key.encryption_key, expect_key_id=repo.key.key_id):  # type: ignore[arg-type]
                out = z.decompress(ct_chunk)
                if out:
                    plain.update(out)
                    size += len(out)
                    yield out
            out = z.flush()
        except zlib.error as e:
            raise IntegrityError(f"blob {blob['sha256'][:12]}: decompression failed: {e}") from None
        if out:
            plain.update(out)
            size += len(out)
            yield out
        if not z.eof:
            raise IntegrityError(f"blob {blob['sha256'][:12]}: compressed stream incomplete")
        rest = fh.read(1)
        if rest:
            raise IntegrityError(f"blob {blob['sha256'][:12]}: data after the final chunk")
    if stored.hexdigest() != blob["sha256"]:
        raise IntegrityError(f"blob {blob['sha256'][:12]}: stored bytes do not match their SHA-256 (altered)")
    if plain.hexdigest() != blob["plain_sha256"] or size != blob["plain_size"]:
        raise IntegrityError(f"blob {blob['sha256'][:12]}: content does not match the manifest")


def _blob(record: dict[str, Any], role: str) -> dict[str, Any] | None:
    return next((b for b in record.get("blobs", []) if b.get("role") == role), None)


# -- verify ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class VerifyResult:
    chain: ChainState
    issues: list[RepoIssue] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and not any(i.level == "error" for i in self.issues)

    def all_issues(self) -> list[RepoIssue]:
        return [*self.chain.issues, *self.issues]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "head": {"seq": self.chain.head_seq, "hash": self.chain.head_hash},
            "verified": self.checked,
            "issues": [{"level": i.level, "message": i.message} for i in self.all_issues()],
        }


def verify(
    repo: Repository,
    backup_id: str | None = None,
    *,
    deep: bool = True,
    lock_days: int = 0,
    restic: Mapping[str, str] | None = None,
) -> VerifyResult:
    """Check the chain, then every backup (or one): blob present, SHA-256, decryption, content hash;
    also report blobs no entry references (interrupted backups) as warnings. ``lock_days``: the
    retention policy; the repository must then be an S3 bucket with Object Lock whose default
    retention, and every blob's, lasts that long (:func:`object_lock_check`). ``restic``: the
    environment restic runs with for the volume data of namespace backups: every snapshot their
    manifests record must still be in the restic repository, and (``deep``) ``restic check
    --read-data`` must pass (:func:`.app.volume_issues`)."""
    repo.check_exists()
    chain = repo.load_chain()
    res = VerifyResult(chain)
    if lock_days > 0:
        res.issues.extend(object_lock_check(repo, chain, lock_days))
    live = chain.backups()
    if backup_id is not None:
        rec = repo.backup(backup_id, chain)
        targets = {str(rec["id"]): rec}
    else:
        targets = live
    for bid, rec in targets.items():
        problems = 0
        for b in rec.get("blobs", []):
            name = blob_name(b["sha256"])
            if not repo.storage.exists(name):
                res.issues.append(RepoIssue("error", f"backup {bid}: {b['role']} blob is missing (deleted)"))
                problems += 1
                continue
            if repo.storage.size(name) != b["size"]:
                res.issues.append(
                    RepoIssue(
                        "error",
                        f"backup {bid}: {b['role']} blob has {repo.storage.size(name)} bytes, "
                        f"the manifest says {b['size']} (truncated or altered)",
                    )
                )
                problems += 1
                continue
            if deep:
                try:
                    check = _SnapshotCheck() if b["role"] == SNAPSHOT_ROLE else None
                    for chunk in open_blob(repo, b):
                        if check:
                            check(chunk)
                    if check and not check.ok:
                        res.issues.append(
                            RepoIssue("error", f"backup {bid}: the snapshot's own SHA-256 trailer does not match")
                        )
                        problems += 1
                except IntegrityError as e:
                    res.issues.append(RepoIssue("error", f"backup {bid}: {e}"))
                    problems += 1
        if not problems:
            res.checked.append(bid)
    if restic is not None:
        from .app import volume_issues

        res.issues.extend(volume_issues(repo, targets, restic, deep=deep, skip=set(targets) - set(res.checked)))
    if backup_id is None:
        referenced = {b["sha256"] for rec in chain.all_backups().values() for b in rec.get("blobs", [])}
        live_blobs = {b["sha256"] for rec in live.values() for b in rec.get("blobs", [])}
        for name in repo.storage.list("blobs"):
            sha = name.rsplit("/", 1)[-1]
            if sha not in referenced:
                res.issues.append(
                    RepoIssue(
                        "warning",
                        f"blob {sha[:12]} is referenced by no manifest entry: an interrupted "
                        "backup (it is not a backup; 'backup prune' removes it)",
                    )
                )
            elif sha not in live_blobs:
                res.issues.append(
                    RepoIssue("warning", f"blob {sha[:12]} belongs to a pruned backup ('backup prune' removes it)")
                )
    return res


def object_lock_check(repo: Repository, chain: ChainState, days: int) -> list[RepoIssue]:
    """Immutability of the repository for ``days``: an S3 bucket with Object Lock and a default retention
    of at least ``days``, and each live backup's blobs retained ``days`` after the backup was made."""
    from .storage import S3Storage
    from .volumes import object_lock_issues, retention_issue

    storage = repo.storage
    if not isinstance(storage, S3Storage):
        return [
            RepoIssue(
                "error", f"{storage.url}: a directory cannot enforce a retention of {days} days (use S3 Object Lock)"
            )
        ]
    issues = object_lock_issues(storage.s3, storage.bucket, days)
    for bid, rec in chain.backups().items():
        for b in rec.get("blobs", []):
            try:
                head = storage.s3.head_object(Bucket=storage.bucket, Key=storage._key(blob_name(b["sha256"])))
            except Exception:
                continue  # a missing blob is reported by the blob checks
            issue = retention_issue(head, parse_iso(rec["created"]), days, f"backup {bid}: {b['role']} blob")
            if issue is not None:
                issues.append(issue)
    return issues


# -- list --------------------------------------------------------------------------------------------


def list_backups(repo: Repository) -> tuple[list[dict[str, Any]], ChainState]:
    repo.check_exists()
    chain = repo.load_chain()
    out = [
        {
            "id": bid,
            "created": r["created"],
            "size": r["size"],
            "kind": r["kind"],
            "revision": (r.get("etcd") or {}).get("revision"),
            "keys": ((r.get("etcd") or {}).get("keyspace") or {}).get("keys"),
        }
        for bid, r in chain.backups().items()
    ]
    return out, chain


# -- restore / drill -----------------------------------------------------------------------------------


def _decrypt_to(repo: Repository, blob: dict[str, Any], path: str) -> None:
    with open(path, "wb") as out:
        for chunk in open_blob(repo, blob):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def restore(
    repo: Repository,
    backup_id: str,
    data_dir: str,
    *,
    name: str = "default",
    peer_url: str = "http://localhost:2380",
    cluster_token: str = "etcd-cluster",
    objects_dir: str | None = None,
) -> dict[str, Any]:
    """Decrypt and check the snapshot, then ``etcdctl snapshot restore`` it into ``data_dir`` (which must
    not exist or be empty). With ``objects_dir``, also unpack the exported objects there."""
    repo.check_exists()
    chain = repo.load_chain()
    if not chain.ok:
        first = next(i.message for i in chain.issues if i.level == "error")
        raise UsageError(f"the repository does not verify: {first}")
    rec = repo.backup(backup_id, chain)
    snap = _blob(rec, SNAPSHOT_ROLE)
    objs = _blob(rec, OBJECTS_ROLE)
    if snap is None and (objs is None or objects_dir is None):
        raise UsageError(f"backup {rec['id']} holds no etcd snapshot" + ("; give --objects-dir" if objs else ""))
    t0 = time.monotonic()
    out: dict[str, Any] = {"id": rec["id"]}
    if snap is not None:
        if os.path.exists(data_dir) and (not os.path.isdir(data_dir) or os.listdir(data_dir)):
            raise UsageError(f"--data-dir {data_dir}: exists and is not empty (etcd would mix two databases)")
        parent = os.path.dirname(os.path.abspath(data_dir))
        os.makedirs(parent, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".kubefort-restore-", dir=parent) as tmp:
            path = os.path.join(tmp, "snapshot.db")
            _decrypt_to(repo, snap, path)
            if os.path.isdir(data_dir):
                os.rmdir(data_dir)  # empty: etcdctl refuses an existing directory
            etcdctl_restore(path, data_dir, name=name, peer_url=peer_url, cluster_token=cluster_token)
        out.update(
            {
                "data_dir": data_dir,
                "name": name,
                "peer_url": peer_url,
                "revision": (rec.get("etcd") or {}).get("revision"),
            }
        )
    if objs is not None and objects_dir is not None:
        out["objects_dir"] = objects_dir
        out["objects"] = unpack_objects(repo, objs, objects_dir)
    out["seconds"] = round(time.monotonic() - t0, 3)
    return out


def unpack_objects(repo: Repository, blob: dict[str, Any], dest: str) -> int:
    if os.path.exists(dest) and os.listdir(dest):
        raise UsageError(f"--objects-dir {dest}: exists and is not empty")
    data = b"".join(open_blob(repo, blob))
    os.makedirs(dest, mode=0o700, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        tar.extractall(dest, filter="data")
    return len(members)


@dataclass(slots=True)
class DrillResult:
    id: str
    ok: bool
    checks: list[tuple[str, bool, str]]
    timings: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ok": self.ok,
            "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in self.checks],
            "timings_s": self.timings,
            "recovery_time_s": self.timings.get("recovery", 0.0),
        }


def drill(repo: Repository, backup_id: str) -> DrillResult:
    """Restore a backup into a temporary etcd on loopback, start it, compare every key and revision
    with the digest recorded at backup time, time it, stop it, remove it."""
    repo.check_exists()
    chain = repo.load_chain()
    rec = repo.backup(backup_id, chain)
    snap = _blob(rec, SNAPSHOT_ROLE)
    if snap is None:
        raise UsageError(f"backup {rec['id']} holds no etcd snapshot to drill")
    checks: list[tuple[str, bool, str]] = []
    timings: dict[str, float] = {}
    checks.append(
        (
            "manifest chain",
            chain.ok,
            "verified" if chain.ok else next(i.message for i in chain.issues if i.level == "error"),
        )
    )
    work = tempfile.mkdtemp(prefix="kubefort-drill-")
    t0 = time.monotonic()
    try:
        path = os.path.join(work, "snapshot.db")
        try:
            _decrypt_to(repo, snap, path)
            checks.append(("decrypt + integrity", True, f"{snap['plain_size']} bytes, SHA-256 as recorded"))
        except IntegrityError as e:
            checks.append(("decrypt + integrity", False, str(e)))
            return DrillResult(rec["id"], False, checks, timings)
        timings["decrypt"] = round(time.monotonic() - t0, 3)
        srv = LocalEtcd(os.path.join(work, "data"), name="kubefort-drill", workdir=work)
        t1 = time.monotonic()
        etcdctl_restore(path, srv.data_dir, name=srv.name, peer_url=srv.peer_url)
        timings["restore"] = round(time.monotonic() - t1, 3)
        os.unlink(path)
        t2 = time.monotonic()
        with srv:
            srv.start()
            timings["start"] = round(time.monotonic() - t2, 3)
            timings["recovery"] = round(time.monotonic() - t0, 3)
            with srv.client(timeout=60.0) as c:
                expect = (rec.get("etcd") or {}).get("keyspace")
                t3 = time.monotonic()
                if expect:
                    mode = expect.get("mode", "full")
                    got = keyspace_digest(c, int(expect["revision"]), mode=mode)
                    same = got["sha256"] == expect["sha256"] and got["keys"] == expect["keys"]
                    what = "every key, value and revision" if mode == "full" else "every key and revision"
                    checks.append(
                        (
                            f"{what} at revision {expect['revision']}",
                            same,
                            f"{got['keys']} keys, digest matches"
                            if same
                            else f"{got['keys']} keys (recorded {expect['keys']}), digest {got['sha256'][:12]} "
                            f"!= recorded {expect['sha256'][:12]}",
                        )
                    )
                else:
                    n, rev = c.count()
                    checks.append(("keys readable", True, f"{n} keys at revision {rev} (no digest was recorded)"))
                timings["compare"] = round(time.monotonic() - t3, 3)
                st = c.status()
                rev_ok = int(st["header"]["revision"]) >= int((rec.get("etcd") or {}).get("revision", 0))
                checks.append(
                    (
                        "revision",
                        rev_ok,
                        f"restored revision {st['header']['revision']}, "
                        f"recorded {(rec.get('etcd') or {}).get('revision')}",
                    )
                )
    except EtcdError as e:
        checks.append(("restore and start", False, str(e)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timings["total"] = round(time.monotonic() - t0, 3)
    return DrillResult(rec["id"], all(ok for _, ok, _ in checks), checks, timings)


# -- prune -------------------------------------------------------------------------------------------


def select_keep(backups: dict[str, dict[str, Any]], keep_daily: int, keep_weekly: int) -> set[str]:
    """Grandfather-father-son: the newest backup of each of the ``keep_daily`` most recent days that have
    a backup, and of each of the ``keep_weekly`` most recent ISO weeks; the newest backup always."""
    ordered = sorted(backups.values(), key=lambda r: (r["created"], r["id"]), reverse=True)
    keep: set[str] = set()
    if ordered:
        keep.add(ordered[0]["id"])
    periods_of: tuple[tuple[int, Callable[[Any], object]], ...] = (
        (keep_daily, lambda t: t.date()),
        (keep_weekly, lambda t: t.isocalendar()[:2]),
    )
    for n, keyfn in periods_of:
        periods: list[Any] = []
        for r in ordered:
            p = keyfn(parse_iso(r["created"]))
            if p in periods:
                continue
            if len(periods) >= n:
                break
            periods.append(p)
            keep.add(r["id"])
    return keep


def prune(repo: Repository, *, keep_daily: int, keep_weekly: int, dry_run: bool = False) -> dict[str, Any]:
    if keep_daily < 0 or keep_weekly < 0 or keep_daily + keep_weekly == 0:
        raise UsageError("give --keep-daily and/or --keep-weekly (at least one above 0)")
    with repo.storage.lock():
        repo.check_exists()
        chain = repo.load_chain()
        if not chain.ok:
            first = next(i.message for i in chain.issues if i.level == "error")
            raise UsageError(f"the repository does not verify, refusing to prune: {first}")
        live = chain.backups()
        keep = select_keep(live, keep_daily, keep_weekly)
        drop = sorted(set(live) - keep)
        result: dict[str, Any] = {"kept": sorted(keep), "pruned": drop, "deleted_blobs": 0, "dry_run": dry_run}
        if dry_run:
            return result
        repo.repair_head(chain)
        if drop:
            repo.append("prune", {"ids": drop, "keep_daily": keep_daily, "keep_weekly": keep_weekly}, chain=chain)
            chain = repo.load_chain()
        live_blobs = {b["sha256"] for r in chain.backups().values() for b in r.get("blobs", [])}
        for name in repo.storage.list("blobs"):
            if name.rsplit("/", 1)[-1] not in live_blobs:
                try:
                    repo.storage.delete(name)
                    result["deleted_blobs"] += 1
                except StorageError as e:  # e.g. S3 Object Lock retention not over yet
                    result.setdefault("retained", []).append(str(e))
        return result


# -- other kinds of backup ---------------------------------------------------------------------------


def seal_and_commit(
    repo: Repository,
    parts: Sequence[tuple[str, bytes]],
    info: dict[str, Any],
    *,
    kind: str,
    level: int = DEFAULT_LEVEL,
    chunk_size: int = DEFAULT_CHUNK,
    now: Any = None,
) -> dict[str, Any]:
    """Store ``parts`` (role, plaintext) as the blobs of one new backup of ``kind`` and commit it with a
    signed manifest entry holding ``info``: the same pipeline, checks and commit point as
    :func:`create_backup` (a namespace backup, :mod:`.app`, is one more kind of record)."""
    with _new_backup(repo) as new:
        for role, data in parts:
            new.seal(role, [data], level=level, chunk_size=chunk_size)
        return new.commit(dict(info), kind, now)
