"""Chunked authenticated encryption of a backup blob (format ``KFB1``), a STREAM-like construction.

Layout::

    header   "KFBACKUP" | version=1 (u8) | reserved=0 (u8) | chunk_size (u32 BE) | key_id (8 bytes) | salt (32 bytes)
    chunk*   length of ciphertext (u32 BE) | AES-256-GCM ciphertext+tag of one plaintext chunk

- File key = HKDF-SHA256(encryption key, salt, info = "kubefort backup v1" | header): a fresh key per
  blob, so nonces can be counters and the header (chunk size, key id) cannot be changed unnoticed.
- Nonce of chunk *i* = 4 zero bytes | *i* (u64 BE). AAD = "KFB1" | *i* (u64 BE) | final flag (u8).
  The index stops reordering and dropping chunks; the final flag, set on the last chunk only, stops
  truncation at a chunk boundary (a stream that ends on a non-final chunk is rejected) and appending.
- Every chunk except the last holds exactly ``chunk_size`` plaintext bytes; the last one holds 1 to
  ``chunk_size`` bytes (0 only for an empty blob).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ...errors import KubefortError

MAGIC = b"KFBACKUP"
VERSION = 1
HEADER = struct.Struct(">8sBBI8s32s")
FRAME = struct.Struct(">I")
TAG = 16
DEFAULT_CHUNK = 4 * 1024 * 1024
MAX_CHUNK = 64 * 1024 * 1024
ENCRYPTION_NAME = "kfb1-aes-256-gcm-chunked"


class IntegrityError(KubefortError):
    """A blob does not decrypt: wrong key, altered, truncated or reordered."""


def _file_key(master: bytes, header: bytes, salt: bytes) -> AESGCM:
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"kubefort backup v1" + header).derive(master)
    return AESGCM(k)


def _nonce(i: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack(">Q", i)


def _aad(i: int, final: bool) -> bytes:
    return b"KFB1" + struct.pack(">QB", i, 1 if final else 0)


class EncryptingWriter:
    """Buffers plaintext, writes encrypted chunks to ``out``; ``close()`` writes the final chunk. The
    SHA-256 and size of everything written (the stored blob) are in ``sha256``/``size``."""

    def __init__(self, out: BinaryIO, master_key: bytes, key_id: str, *, chunk_size: int = DEFAULT_CHUNK) -> None:
        if not 0 < chunk_size <= MAX_CHUNK:
            raise ValueError("chunk size out of range")
        self.out = out
        self.chunk_size = chunk_size
        salt = os.urandom(32)
        self.header = HEADER.pack(MAGIC, VERSION, 0, chunk_size, bytes.fromhex(key_id), salt)
        self._aead = _file_key(master_key, self.header, salt)
        self._buf = bytearray()
        self._index = 0
        self._hash = hashlib.sha256()
        self.size = 0
        self.closed = False
        self._write(self.header)

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self._hash.update(data)
        self.size += len(data)

    def _emit(self, chunk: bytes, final: bool) -> None:
        ct = self._aead.encrypt(_nonce(self._index), chunk, _aad(self._index, final))
        self._write(FRAME.pack(len(ct)))
        self._write(ct)
        self._index += 1

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._buf += data
        # keep at least one full chunk's worth back until close (the last chunk must be flagged final)
        while len(self._buf) > self.chunk_size:
            self._emit(bytes(self._buf[: self.chunk_size]), False)
            del self._buf[: self.chunk_size]

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buf), True)
            self._buf.clear()
            self.closed = True

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def read_header(fh: BinaryIO) -> tuple[bytes, int, str, bytes]:
    raw = fh.read(HEADER.size)
    if len(raw) != HEADER.size:
        raise IntegrityError("blob shorter than its header")
    magic, version, _reserved, chunk_size, key_id, salt = HEADER.unpack(raw)
    if magic != MAGIC:
        raise IntegrityError("not a kubefort backup blob (bad magic)")
    if version != VERSION:
        raise IntegrityError(f"unsupported blob format version {version}")
    if not 0 < chunk_size <= MAX_CHUNK:
        raise IntegrityError("corrupt header (chunk size)")
    return raw, chunk_size, key_id.hex(), salt


def decrypt_stream(fh: BinaryIO, master_key: bytes, *, expect_key_id: str | None = None) -> Iterator[bytes]:
    """Yield the plaintext chunks of a blob; IntegrityError on any alteration, truncation or wrong key."""
    header, chunk_size, key_id, salt = read_header(fh)
    if expect_key_id and key_id != expect_key_id:
        raise IntegrityError(f"blob was encrypted with key {key_id}, not {expect_key_id}")
    aead = _file_key(master_key, header, salt)
    i = 0
    frame = fh.read(FRAME.size)
    while True:
        if len(frame) != FRAME.size:
            raise IntegrityError("blob truncated (no final chunk)")
        (n,) = FRAME.unpack(frame)
        if n < TAG or n > chunk_size + TAG:
            raise IntegrityError(f"corrupt chunk {i} length")
        ct = fh.read(n)
        if len(ct) != n:
            raise IntegrityError(f"blob truncated inside chunk {i}")
        frame = fh.read(FRAME.size)
        final = not frame
        try:
            pt = aead.decrypt(_nonce(i), ct, _aad(i, final))
        except InvalidTag:
            if final:
                raise IntegrityError(
                    f"chunk {i} does not authenticate as the final chunk: blob truncated, altered "
                    "or encrypted with another key"
                ) from None
            raise IntegrityError(
                f"chunk {i} does not authenticate: blob altered, chunks reordered, or another key"
            ) from None
        if not final and len(pt) != chunk_size:
            raise IntegrityError(f"chunk {i} is short but not final")
        yield pt
        if final:
            return
        i += 1
