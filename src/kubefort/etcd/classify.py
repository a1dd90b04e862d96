"""How a value stored in etcd by kube-apiserver is protected, told from its bytes without any key.

Layouts (Kubernetes ``staging/src/k8s.io/apiserver/pkg/storage/value/encrypt``):

- identity: no prefix. Built-in types are protobuf: ``k8s\\x00`` then a ``runtime.Unknown``; JSON
  objects (custom resources) start with ``{``.
- ``k8s:enc:aescbc:v1:<key>:`` IV(16) + CBC ciphertext (PKCS#7, multiple of 16).
- ``k8s:enc:aesgcm:v1:<key>:`` nonce(12) + ciphertext + tag(16); AAD = the etcd key.
- ``k8s:enc:secretbox:v1:<key>:`` nonce(24) + tag(16) + ciphertext.
- ``k8s:enc:kms:v1:<name>:`` uint16 BE length + encrypted DEK + data (AES-GCM, or AES-CBC before 1.25).
- ``k8s:enc:kms:v2:<name>:`` protobuf ``EncryptedObject`` {1 encryptedData, 2 keyID, 3 encryptedDEKSource,
  4 annotations, 5 encryptedDEKSourceType}.

Nothing here ever returns or prints a stored value: only its shape (storage, key name, sizes, the
kind of an unencrypted object, KMS key IDs, which are not secret).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

STORAGES = ("identity", "aescbc", "aesgcm", "secretbox", "kms-v1", "kms-v2", "unknown")
ENCRYPTED = frozenset({"aescbc", "aesgcm", "secretbox", "kms-v1", "kms-v2"})
PROTOBUF_MAGIC = b"k8s\x00"
ENC_PREFIX = b"k8s:enc:"

_PROVIDERS = {
    (b"aescbc", b"v1"): "aescbc",
    (b"aesgcm", b"v1"): "aesgcm",
    (b"secretbox", b"v1"): "secretbox",
    (b"kms", b"v1"): "kms-v1",
    (b"kms", b"v2"): "kms-v2",
}


@dataclass(slots=True)
class StoredValue:
    """The classification of one stored value."""

    key: str
    storage: str  # one of STORAGES
    key_name: str | None = None  # encryption key name / KMS provider name
    problem: str | None = None  # structurally invalid for its claimed format
    detail: dict[str, Any] = field(default_factory=dict)  # sizes, kind, KMS keyID... (never values)

    @property
    def encrypted(self) -> bool:
        return self.storage in ENCRYPTED

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key, "storage": self.storage, "key_name": self.key_name}
        if self.problem:
            d["problem"] = self.problem
        return d


def _key_text(key: bytes) -> str:
    return key.decode("utf-8", errors="backslashreplace")


def classify(key: bytes | str, value: bytes) -> StoredValue:
    k = key if isinstance(key, str) else _key_text(key)
    if value.startswith(ENC_PREFIX):
        return _encrypted(k, value)
    if value.startswith(PROTOBUF_MAGIC):
        sv = StoredValue(k, "identity", detail={"encoding": "protobuf", "size": len(value)})
        tm = _unknown_type_meta(value[len(PROTOBUF_MAGIC) :])
        if tm is None:
            sv.problem = "starts with the protobuf magic but is not a runtime.Unknown message"
        else:
            sv.detail.update({"apiVersion": tm[0], "kind": tm[1]})
        return sv
    if value[:1] == b"{":
        return StoredValue(k, "identity", detail={"encoding": "json", "size": len(value)})
    return StoredValue(
        k,
        "unknown",
        detail={"size": len(value)},
        problem="empty value" if not value else "no known prefix (not k8s protobuf, JSON or k8s:enc:)",
    )


def _encrypted(k: str, value: bytes) -> StoredValue:
    # k8s:enc:<provider>:<version>:<name>:<payload>; names may in principle contain ':' - a keyless
    # reader can only take the first one (the API server matches configured names instead).
    parts = value.split(b":", 5)
    if len(parts) < 6:
        return StoredValue(
            k, "unknown", problem="k8s:enc: prefix without provider, version and key name", detail={"size": len(value)}
        )
    provider, version, name, payload = parts[2], parts[3], parts[4], parts[5]
    storage = _PROVIDERS.get((provider, version))
    name_text = _key_text(name)
    if storage is None:
        return StoredValue(
            k,
            "unknown",
            key_name=name_text,
            problem=f"unknown provider {_key_text(provider)}:{_key_text(version)}",
            detail={"provider": _key_text(provider), "version": _key_text(version), "size": len(value)},
        )
    sv = StoredValue(k, storage, key_name=name_text, detail={"payload": len(payload)})
    n = len(payload)
    if storage == "aescbc":
        if n < 32 or n % 16:
            sv.problem = f"aescbc payload of {n} bytes: expected IV(16) + a non-empty multiple of 16"
        else:
            sv.detail["plaintext_max"] = n - 17
    elif storage == "aesgcm":
        if n < 28:
            sv.problem = f"aesgcm payload of {n} bytes: shorter than nonce(12) + tag(16)"
        else:
            sv.detail["plaintext"] = n - 28
    elif storage == "secretbox":
        if n < 40:
            sv.problem = f"secretbox payload of {n} bytes: shorter than nonce(24) + tag(16)"
        else:
            sv.detail["plaintext"] = n - 40
    elif storage == "kms-v1":
        if n < 2:
            sv.problem = "kms v1 payload without the encrypted DEK length"
        else:
            dek = int.from_bytes(payload[:2], "big")
            rest = n - 2 - dek
            if dek == 0 or rest < 28:
                sv.problem = f"kms v1 payload: encrypted DEK of {dek} bytes leaves {rest} bytes of data"
            else:
                sv.detail.update({"encrypted_dek": dek, "data": rest})
    elif storage == "kms-v2":
        obj = _parse_encrypted_object(payload)
        if isinstance(obj, str):
            sv.problem = f"kms v2 payload is not an EncryptedObject: {obj}"
        else:
            sv.detail.update(obj)
            if not obj.get("key_id"):
                sv.problem = "kms v2 EncryptedObject without keyID"
            elif not obj.get("encrypted_data"):
                sv.problem = "kms v2 EncryptedObject without encryptedData"
            elif not obj.get("encrypted_dek_source"):
                sv.problem = "kms v2 EncryptedObject without encryptedDEKSource"
    return sv


# -- a tiny protobuf reader (varint, length-delimited fields only) ------------------------------------


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


def _fields(buf: bytes) -> Iterable[tuple[int, int, Any]]:
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        num, wire = tag >> 3, tag & 7
        if num == 0:
            raise ValueError("field number 0")
        if wire == 0:
            v, i = _varint(buf, i)
            yield num, wire, v
        elif wire == 2:
            ln, i = _varint(buf, i)
            if i + ln > len(buf):
                raise ValueError("truncated field")
            yield num, wire, buf[i : i + ln]
            i += ln
        elif wire == 1:
            i += 8
            yield num, wire, None
        elif wire == 5:
            i += 4
            yield num, wire, None
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if i != len(buf):
        raise ValueError("truncated message")


def _unknown_type_meta(buf: bytes) -> tuple[str, str] | None:
    """(apiVersion, kind) of a runtime.Unknown, or None when it does not parse."""
    try:
        api = kind = ""
        seen_raw = False
        for num, wire, v in _fields(buf):
            if num == 1 and wire == 2:
                for n2, w2, v2 in _fields(v):
                    if n2 == 1 and w2 == 2:
                        api = v2.decode("utf-8")
                    elif n2 == 2 and w2 == 2:
                        kind = v2.decode("utf-8")
            elif num == 2 and wire == 2:
                seen_raw = True
        if not kind and not seen_raw:
            return None
        return api, kind
    except (ValueError, UnicodeDecodeError):
        return None


def _parse_encrypted_object(buf: bytes) -> dict[str, Any] | str:
    out: dict[str, Any] = {"encrypted_dek_source_type": 0, "annotations": []}
    try:
        for num, wire, v in _fields(buf):
            if num == 1 and wire == 2:
                out["encrypted_data"] = len(v)
            elif num == 2 and wire == 2:
                out["key_id"] = v.decode("utf-8")
            elif num == 3 and wire == 2:
                out["encrypted_dek_source"] = len(v)
            elif num == 4 and wire == 2:
                for n2, w2, v2 in _fields(v):
                    if n2 == 1 and w2 == 2:
                        out["annotations"].append(v2.decode("utf-8"))
            elif num == 5 and wire == 0:
                out["encrypted_dek_source_type"] = v
    except (ValueError, UnicodeDecodeError) as e:
        return str(e)
    if out["encrypted_dek_source_type"] not in (0, 1):
        return f"unknown encryptedDEKSourceType {out['encrypted_dek_source_type']}"
    out["encrypted_dek_source_type"] = ("AES_GCM_KEY", "HKDF_SHA256_XNONCE_AES_GCM_SEED")[
        out["encrypted_dek_source_type"]
    ]
    return out


# -- summaries ------------------------------------------------------------------------------------


def resource_of(key: str, prefix: str = "/registry") -> str:
    """``/registry/secrets/ns/name`` -> ``secrets``; ``/registry/apps.example.com/widgets/...`` -> group/resource."""
    rest = key[len(prefix) :].lstrip("/") if key.startswith(prefix) else key.lstrip("/")
    parts = rest.split("/")
    if len(parts) >= 2 and "." in parts[0]:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def summarize(values: Iterable[StoredValue]) -> dict[str, int]:
    c = Counter(v.storage for v in values)
    return {s: c.get(s, 0) for s in STORAGES}
