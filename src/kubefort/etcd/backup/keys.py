"""The backup key file: an AES-256 encryption key and an Ed25519 signing key, in one JSON file (0600).

Format (``kubefort backup keygen``)::

    {
      "kind": "kubefort-backup-key",
      "version": 1,
      "key_id": "3f0c9a1e5b2d7c44",            # first 8 bytes (hex) of SHA-256(Ed25519 public key)
      "created": "2026-11-23T10:00:00Z",
      "encryption": {"algorithm": "AES-256-GCM", "key": "<base64, 32 bytes>"},
      "signing": {"algorithm": "Ed25519", "private_key": "<base64 seed, 32 bytes>", "public_key": "<base64, 32 bytes>"}
    }

Whoever holds the file can read and sign backups: keep it off the cluster (a vault, an offline copy).
The public key alone (``signing.public_key``) is enough to check the manifest chain.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import stat
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from ...errors import UsageError

KIND = "kubefort-backup-key"


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BackupKey:
    encryption_key: bytes
    signing_key: Ed25519PrivateKey | None  # None: verify-only (public key alone)
    public_key: Ed25519PublicKey

    @property
    def public_raw(self) -> bytes:
        return self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    def sign(self, data: bytes) -> bytes:
        if self.signing_key is None:
            raise UsageError("this key file holds no signing key")
        return self.signing_key.sign(data)

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            self.public_key.verify(signature, data)
            return True
        except InvalidSignature:
            return False


def generate() -> BackupKey:
    sk = Ed25519PrivateKey.generate()
    return BackupKey(encryption_key=os.urandom(32), signing_key=sk, public_key=sk.public_key())


def to_json(key: BackupKey) -> dict[str, object]:
    assert key.signing_key is not None
    seed = key.signing_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {
        "kind": KIND,
        "version": 1,
        "key_id": key.key_id,
        "created": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "encryption": {"algorithm": "AES-256-GCM", "key": base64.b64encode(key.encryption_key).decode()},
        "signing": {
            "algorithm": "Ed25519",
            "private_key": base64.b64encode(seed).decode(),
            "public_key": base64.b64encode(key.public_raw).decode(),
        },
    }


def write_key_file(key: BackupKey, path: str, *, force: bool = False) -> None:
    """Write the key file with mode 0600; never overwrite an existing file unless ``force``."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UsageError(f"{path}: exists; refusing to overwrite a key (backups made with it would be lost)") from None
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        json.dump(to_json(key), fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())


def _b64(d: dict[str, object], field: str, size: int, path: str) -> bytes:
    try:
        raw = base64.b64decode(str(d[field]), validate=True)
    except (KeyError, binascii.Error, TypeError):
        raise UsageError(f"{path}: not a kubefort backup key file (bad {field})") from None
    if len(raw) != size:
        raise UsageError(f"{path}: {field} must be {size} bytes, not {len(raw)}")
    return raw


def _secret_volume_file(path: str) -> bool:
    """Whether ``path`` is a file of a Secret volume as the kubelet writes it (``KEY -> ..data/KEY``).
    Such a file belongs to root; a non-root container (kubefort's CronJobs) reads it through the Pod's
    ``fsGroup``, which makes it group-readable whatever ``defaultMode`` says: there, and only there,
    group read is accepted (the group is the Pod's own; no write, nothing for others)."""
    try:
        return os.path.islink(path) and os.readlink(path).startswith("..data/")
    except OSError:
        return False


def load_key_file(path: str) -> BackupKey:
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such key file (make one with 'kubefort backup keygen --out FILE')") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"{path}: cannot read key file: {e}") from None
    allowed = stat.S_IRGRP if _secret_volume_file(path) else 0
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO) & ~allowed:
        raise UsageError(
            f"{path}: key file is accessible by group/others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it"
        )
    if not isinstance(data, dict) or data.get("kind") != KIND or data.get("version") != 1:
        raise UsageError(f"{path}: not a kubefort backup key file (kind/version)")
    enc = data.get("encryption") or {}
    sig = data.get("signing") or {}
    ek = _b64(enc, "key", 32, path)
    seed = _b64(sig, "private_key", 32, path)
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    key = BackupKey(encryption_key=ek, signing_key=sk, public_key=sk.public_key())
    pub = sig.get("public_key")
    if pub is not None and _b64(sig, "public_key", 32, path) != key.public_raw:
        raise UsageError(f"{path}: public_key does not match private_key")
    if data.get("key_id") not in (None, key.key_id):
        raise UsageError(f"{path}: key_id does not match the signing key")
    return key
