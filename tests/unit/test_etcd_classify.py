"""The keyless classifier on genuine bytes: real ciphertexts in the API server's layouts (no etcd needed)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubefort.etcd.classify import STORAGES, classify, resource_of, summarize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "etcd"))
import genuine as g

KEY = b"/registry/secrets/payments/stripe"


def test_every_sample_classified() -> None:
    samples = g.sample_values()
    for key, (value, storage, key_name) in samples.items():
        sv = classify(key, value)
        assert sv.storage == storage, key
        assert sv.key_name == key_name, key
        if storage != "unknown":
            assert sv.problem is None, (key, sv.problem)
    assert summarize(classify(k, v[0]) for k, v in samples.items()) == {
        "identity": 3,
        "aescbc": 2,
        "aesgcm": 1,
        "secretbox": 1,
        "kms-v1": 1,
        "kms-v2": 3,
        "unknown": 1,
    }


def test_genuine_ciphertexts_decrypt_with_their_keys() -> None:
    """The fixtures are real: each one decrypts back to the protobuf Secret under the key it names."""
    pt = g.plain_secret("stripe", "payments")
    v = g.aescbc(pt)
    payload = v[len(b"k8s:enc:aescbc:v1:key1:") :]
    d = Cipher(algorithms.AES(g.AESCBC_KEY), modes.CBC(payload[:16])).decryptor()
    u = padding.PKCS7(128).unpadder()
    assert u.update(d.update(payload[16:]) + d.finalize()) + u.finalize() == pt

    v = g.aesgcm(pt, KEY)
    payload = v[len(b"k8s:enc:aesgcm:v1:key1:") :]
    assert AESGCM(g.AESGCM_KEY).decrypt(payload[:12], payload[12:], KEY) == pt
    with pytest.raises(InvalidTag):  # AAD binds the value to its etcd key
        AESGCM(g.AESGCM_KEY).decrypt(payload[:12], payload[12:], b"/registry/secrets/default/other")

    v = g.secretbox(pt)
    payload = v[len(b"k8s:enc:secretbox:v1:key1:") :]
    assert g.secretbox_open(g.SECRETBOX_KEY, payload) == pt

    v = g.kms_v1(pt, KEY)
    payload = v[len(b"k8s:enc:kms:v1:vault-kms:") :]
    n = int.from_bytes(payload[:2], "big")
    edek, data = payload[2 : 2 + n], payload[2 + n :]
    dek = AESGCM(g.KMS_KEK).decrypt(edek[:12], edek[12:], b"kms")
    assert AESGCM(dek).decrypt(data[:12], data[12:], KEY) == pt

    for seed in (False, True):
        w = g.KMSv2Writer(seed=seed)
        assert g.kms_v2_unwrap(w.encrypt(pt, KEY), KEY) == pt


def test_pure_python_secretbox_matches_nacl() -> None:
    nacl = pytest.importorskip("nacl.secret")
    for n in (0, 1, 63, 64, 65, 300):
        msg, nonce = os.urandom(n), os.urandom(24)
        ref = bytes(nacl.SecretBox(g.SECRETBOX_KEY).encrypt(msg, nonce))
        assert g.secretbox_seal(g.SECRETBOX_KEY, nonce, msg) == ref
        assert g.secretbox_open(g.SECRETBOX_KEY, ref) == msg


def test_identity_protobuf_gives_type_not_values() -> None:
    v = g.plain_secret("db", "default")
    sv = classify(b"/registry/secrets/default/db", v)
    assert sv.storage == "identity"
    assert sv.detail["apiVersion"] == "v1" and sv.detail["kind"] == "Secret"
    assert g.SECRET_VALUE not in repr(sv).encode() and g.SECRET_VALUE.decode() not in str(sv.to_dict())


def test_configmap_identity() -> None:
    v = g.k8s_protobuf("v1", "ConfigMap", g.configmap_proto("cfg", "default", {"a": "b"}))
    sv = classify("/registry/configmaps/default/cfg", v)
    assert (sv.storage, sv.detail["kind"]) == ("identity", "ConfigMap")


def test_kms_v2_metadata_in_the_clear() -> None:
    w = g.KMSv2Writer("aws-kms", key_id="arn:aws:kms:eu-west-1:1:key/abc", seed=True)
    sv = classify(KEY, w.encrypt(b"k8s\x00x", KEY))
    assert sv.storage == "kms-v2" and sv.key_name == "aws-kms"
    assert sv.detail["key_id"] == "arn:aws:kms:eu-west-1:1:key/abc"
    assert sv.detail["encrypted_dek_source_type"] == "HKDF_SHA256_XNONCE_AES_GCM_SEED"
    assert sv.detail["annotations"] == ["version.encryption.example.com"]
    assert classify(KEY, g.KMSv2Writer().encrypt(b"x", KEY)).detail["encrypted_dek_source_type"] == "AES_GCM_KEY"


def test_sizes_reveal_plaintext_length_only() -> None:
    pt = b"k8s\x00" + b"x" * 100
    assert classify(KEY, g.aesgcm(pt, KEY)).detail["plaintext"] == len(pt)
    assert classify(KEY, g.secretbox(pt)).detail["plaintext"] == len(pt)


@pytest.mark.parametrize(
    "value,storage,problem",
    [
        (b"k8s:enc:aescbc:v1:key1:" + b"\x00" * 33, "aescbc", "multiple of 16"),
        (b"k8s:enc:aescbc:v1:key1:" + b"\x00" * 16, "aescbc", "multiple of 16"),
        (b"k8s:enc:aesgcm:v1:key1:" + b"\x00" * 27, "aesgcm", "shorter"),
        (b"k8s:enc:secretbox:v1:k:" + b"\x00" * 39, "secretbox", "shorter"),
        (b"k8s:enc:kms:v1:p:" + b"\x00\x05abc", "kms-v1", "encrypted DEK"),
        (b"k8s:enc:kms:v2:p:" + b"\xff\xff", "kms-v2", "not an EncryptedObject"),
        (b"k8s:enc:kms:v2:p:" + g.ld(1, b"x" * 40), "kms-v2", "without keyID"),
        (b"k8s:enc:aesgcm:v1", "unknown", "without provider"),
        (b"k8s:enc:rot13:v1:k:abc", "unknown", "unknown provider rot13:v1"),
        (b"k8s:enc:aescbc:v9:k:" + b"\x00" * 32, "unknown", "unknown provider aescbc:v9"),
        (b"k8s\x00\xff\xff\xff", "identity", "not a runtime.Unknown"),
        (b"", "unknown", "empty"),
        (b"hello", "unknown", "no known prefix"),
    ],
)
def test_structural_problems(value: bytes, storage: str, problem: str) -> None:
    sv = classify(KEY, value)
    assert sv.storage == storage
    assert sv.problem and problem in sv.problem


def test_key_name_is_first_colon_field() -> None:
    sv = classify(KEY, b"k8s:enc:aesgcm:v1:key:with:colons:" + b"\x00" * 40)
    assert sv.key_name == "key"  # a keyless reader can only guess at the first ':' (documented)


def test_binary_key_text_is_safe() -> None:
    assert classify(b"/registry/secrets/ns/\xff", b"{}").key == "/registry/secrets/ns/\\xff"


def test_resource_of() -> None:
    assert resource_of("/registry/secrets/ns/n") == "secrets"
    assert resource_of("/registry/example.com/widgets/ns/n") == "example.com/widgets"
    assert set(STORAGES) >= {"identity", "kms-v2", "unknown"}
