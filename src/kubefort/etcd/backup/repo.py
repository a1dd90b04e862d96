"""The backup repository: content-addressed encrypted blobs and a signed hash-chain manifest.

Layout (same names on a directory and under an S3 prefix)::

    kubefort-backup-repo.json          {"kind": "kubefort-backup-repository", "version": 1, "key_id": ..., "public_key": ...}
    blobs/sha256/<2 hex>/<64 hex>      encrypted blobs (KFB1 format), named by the SHA-256 of their bytes
    manifest/<seq, 10 digits>.json     one signed entry per backup or prune, never rewritten
    HEAD                               signed pointer to the newest entry: {"v", "seq", "hash", "sig"}

An entry is canonical JSON (sorted keys, no spaces, UTF-8)::

    {"v": 1, "seq": 3, "prev": "<sha256 of entry 2's bytes>", "time": "...", "key_id": "...",
     "op": "backup", "backup": {...}, "sig": "<base64 Ed25519 over the entry without sig>"}

``prev`` of entry 1 is 64 zeros. Deleting an entry leaves a gap in ``seq`` (or, for the newest ones,
a HEAD that points past the end); reordering or replacing entries breaks ``prev``; altering one breaks
its signature; deleting or altering a blob breaks its SHA-256 and its authenticated encryption.
Rolling the whole repository (entries and HEAD together) back to an older state is the one change a
signed chain cannot reveal alone: compare ``HEAD`` with a copy kept elsewhere (``backup verify`` prints
it) when that matters.

The commit point of a backup is its manifest entry: the blob is stored first, so a crash leaves at
worst an unreferenced blob (reported by ``verify`` as an interrupted backup, never listed).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import KubefortError, UsageError
from .keys import BackupKey
from .storage import ExistsError, NotFound, Storage

ZERO = "0" * 64
CONFIG = "kubefort-backup-repo.json"
HEAD = "HEAD"


class RepositoryError(KubefortError):
    """The repository is missing, foreign, or its chain does not verify."""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def blob_name(sha: str) -> str:
    return f"blobs/sha256/{sha[:2]}/{sha}"


def entry_name(seq: int) -> str:
    return f"manifest/{seq:010d}.json"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


@dataclass(slots=True)
class LogEntry:
    seq: int
    body: dict[str, Any]  # with sig
    raw: bytes
    name: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def op(self) -> str:
        return str(self.body.get("op"))


@dataclass(slots=True)
class RepoIssue:
    level: str  # error | warning
    message: str


@dataclass(slots=True)
class ChainState:
    entries: list[LogEntry] = field(default_factory=list)
    issues: list[RepoIssue] = field(default_factory=list)
    head_seq: int = 0
    head_hash: str = ""

    @property
    def ok(self) -> bool:
        return not any(i.level == "error" for i in self.issues)

    def backups(self) -> dict[str, dict[str, Any]]:
        """Backup ID -> backup record, in chain order, minus pruned ones."""
        out: dict[str, dict[str, Any]] = {}
        for e in self.entries:
            if e.op == "backup":
                b = e.body.get("backup") or {}
                out[str(b.get("id"))] = b
            elif e.op == "prune":
                for bid in (e.body.get("prune") or {}).get("ids", []):
                    out.pop(bid, None)
        return out

    def pruned(self) -> set[str]:
        return {bid for e in self.entries if e.op == "prune" for bid in (e.body.get("prune") or {}).get("ids", [])}

    def all_backups(self) -> dict[str, dict[str, Any]]:
        return {str((e.body.get("backup") or {}).get("id")): e.body["backup"] for e in self.entries if e.op == "backup"}


class Repository:
    def __init__(self, storage: Storage, key: BackupKey) -> None:
        self.storage = storage
        self.key = key

    # -- config ------------------------------------------------------------------
    def init_or_check(self) -> None:
        """Create the repository on first use; otherwise check it belongs to this key."""
        try:
            cfg = json.loads(self.storage.get_bytes(CONFIG))
        except NotFound:
            init = getattr(self.storage, "init", None)
            if init:
                init()
            cfg = {
                "kind": "kubefort-backup-repository",
                "version": 1,
                "key_id": self.key.key_id,
                "public_key": base64.b64encode(self.key.public_raw).decode(),
                "created": iso(utcnow()),
            }
            try:
                self.storage.put_bytes(CONFIG, canonical(cfg), exclusive=True)
            except ExistsError:
                cfg = json.loads(self.storage.get_bytes(CONFIG))
        self._check_config(cfg)

    def _check_config(self, cfg: Any) -> None:
        if not isinstance(cfg, dict) or cfg.get("kind") != "kubefort-backup-repository":
            raise RepositoryError(f"{self.storage.url}: not a kubefort backup repository")
        if cfg.get("key_id") != self.key.key_id:
            raise RepositoryError(
                f"{self.storage.url}: repository belongs to key {cfg.get('key_id')}, "
                f"but the key file holds key {self.key.key_id} (wrong --key-file?)"
            )

    def check_exists(self) -> None:
        try:
            cfg = json.loads(self.storage.get_bytes(CONFIG))
        except NotFound:
            raise RepositoryError(f"{self.storage.url}: no backup repository here") from None
        except ValueError:
            raise RepositoryError(f"{self.storage.url}: {CONFIG} is not JSON") from None
        self._check_config(cfg)

    # -- signing -----------------------------------------------------------------
    def _sign(self, body: dict[str, Any]) -> bytes:
        unsigned = {k: v for k, v in body.items() if k != "sig"}
        signed = dict(unsigned, sig=base64.b64encode(self.key.sign(canonical(unsigned))).decode())
        return canonical(signed)

    def _sig_ok(self, body: dict[str, Any]) -> bool:
        sig = body.get("sig")
        if not isinstance(sig, str):
            return False
        try:
            raw = base64.b64decode(sig, validate=True)
        except ValueError:
            return False
        return self.key.verify(raw, canonical({k: v for k, v in body.items() if k != "sig"}))

    # -- chain -------------------------------------------------------------------
    def load_chain(self) -> ChainState:
        """Read and check the whole manifest chain and HEAD. Problems are collected, not raised."""
        st = ChainState()
        names = [n for n in self.storage.list("manifest") if n.endswith(".json")]
        by_seq: dict[int, str] = {}
        for n in names:
            stem = n.rsplit("/", 1)[-1][:-5]
            if not stem.isdigit():
                st.issues.append(RepoIssue("error", f"{n}: unexpected file in the manifest"))
                continue
            by_seq[int(stem)] = n
        last = max(by_seq) if by_seq else 0
        prev_hash = ZERO
        for seq in range(1, last + 1):
            name = by_seq.get(seq)
            if name is None:
                st.issues.append(RepoIssue("error", f"manifest entry {seq} is missing (deleted): the chain is broken"))
                prev_hash = ""
                continue
            raw = self.storage.get_bytes(name)
            try:
                body = json.loads(raw)
                if not isinstance(body, dict):
                    raise ValueError
            except ValueError:
                st.issues.append(RepoIssue("error", f"manifest entry {seq} is not JSON (altered)"))
                prev_hash = ""
                continue
            e = LogEntry(seq, body, raw, name)
            if not self._sig_ok(body):
                st.issues.append(
                    RepoIssue(
                        "error", f"manifest entry {seq}: signature does not verify (altered, or signed by another key)"
                    )
                )
            elif body.get("seq") != seq:
                st.issues.append(
                    RepoIssue(
                        "error",
                        f"manifest entry file {seq} holds entry {body.get('seq')}: entries were reordered or renamed",
                    )
                )
            elif prev_hash and body.get("prev") != prev_hash:
                st.issues.append(
                    RepoIssue(
                        "error",
                        f"manifest entry {seq} does not follow entry {seq - 1}: the chain was reordered, "
                        "or an entry was replaced",
                    )
                )
            elif body.get("key_id") != self.key.key_id:
                st.issues.append(
                    RepoIssue("error", f"manifest entry {seq} names key {body.get('key_id')}, not {self.key.key_id}")
                )
            else:
                st.entries.append(e)
            prev_hash = e.hash
        self._check_head(st, last, by_seq)
        return st

    def _check_head(self, st: ChainState, last: int, by_seq: dict[int, str]) -> None:
        try:
            head = json.loads(self.storage.get_bytes(HEAD))
        except NotFound:
            if last:
                st.issues.append(RepoIssue("error", "HEAD is missing while the manifest has entries"))
            return
        except ValueError:
            st.issues.append(RepoIssue("error", "HEAD is not JSON (altered)"))
            return
        if not isinstance(head, dict) or not self._sig_ok(head):
            st.issues.append(RepoIssue("error", "HEAD signature does not verify (altered)"))
            return
        st.head_seq, st.head_hash = int(head.get("seq", 0)), str(head.get("hash", ""))
        if st.head_seq > last:
            st.issues.append(
                RepoIssue(
                    "error",
                    f"HEAD names entry {st.head_seq} but the manifest ends at {last}: the newest entries were deleted",
                )
            )
            return
        if st.head_seq:
            name = by_seq.get(st.head_seq)
            if name is None or hashlib.sha256(self.storage.get_bytes(name)).hexdigest() != st.head_hash:
                st.issues.append(
                    RepoIssue("error", f"HEAD does not match manifest entry {st.head_seq} (altered or replaced)")
                )
                return
        if st.head_seq < last:
            st.issues.append(
                RepoIssue(
                    "warning",
                    f"HEAD is at entry {st.head_seq}, the manifest at {last}: an interrupted "
                    "write (the next backup or prune updates HEAD)",
                )
            )

    def append(self, op: str, payload: dict[str, Any], *, chain: ChainState | None = None) -> LogEntry:
        """Append a signed entry after the verified end of the chain (refuses on a broken chain), then move HEAD."""
        st = chain or self.load_chain()
        if not st.ok:
            first = next(i.message for i in st.issues if i.level == "error")
            raise RepositoryError(f"refusing to write to a repository that does not verify: {first}")
        last = st.entries[-1] if st.entries else None
        seq = (last.seq if last else 0) + 1
        body = {
            "v": 1,
            "seq": seq,
            "prev": last.hash if last else ZERO,
            "time": iso(utcnow()),
            "key_id": self.key.key_id,
            "op": op,
            op: payload,
        }
        raw = self._sign(body)
        self._write_entry(seq, raw)
        e = LogEntry(seq, json.loads(raw), raw, entry_name(seq))
        self._write_head(e)
        return e

    def _write_entry(self, seq: int, raw: bytes) -> None:
        try:
            self.storage.put_bytes(entry_name(seq), raw, exclusive=True)
        except ExistsError:
            raise RepositoryError(f"manifest entry {seq} appeared meanwhile: another writer? retry") from None

    def _write_head(self, e: LogEntry) -> None:
        self.storage.put_bytes(HEAD, self._sign({"v": 1, "seq": e.seq, "hash": e.hash}))

    def repair_head(self, st: ChainState) -> None:
        """After an interrupted write: point HEAD at the last verified entry."""
        if st.ok and st.entries and st.head_seq < st.entries[-1].seq:
            self._write_head(st.entries[-1])

    def backup(self, bid: str, st: ChainState | None = None) -> dict[str, Any]:
        st = st or self.load_chain()
        b = st.backups().get(bid)
        if b is None:
            if bid in st.pruned():
                raise UsageError(f"backup {bid} was pruned")
            matches = [k for k in st.backups() if k.startswith(bid)]
            if len(matches) == 1:
                return st.backups()[matches[0]]
            raise UsageError(f"no backup {bid!r} in {self.storage.url} (see 'kubefort backup list')")
        return b
