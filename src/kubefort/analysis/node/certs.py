"""Certificate facts for the node snapshot (never key material): subject, issuer, validity, key type
and size, signature hash, CA flag, self-signed. Uses ``cryptography``."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from typing import Any

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+.*?-----END CERTIFICATE-----", re.S)


def _facts(cert: Any) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        ktype, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        ktype, bits = "EC", key.curve.key_size
    elif isinstance(key, ed25519.Ed25519PublicKey):
        ktype, bits = "Ed25519", 256
    elif isinstance(key, ed448.Ed448PublicKey):
        ktype, bits = "Ed448", 456
    elif isinstance(key, dsa.DSAPublicKey):
        ktype, bits = "DSA", key.key_size
    else:
        ktype, bits = type(key).__name__, None
    try:
        h = cert.signature_hash_algorithm
        sig = h.name if h is not None else None
    except Exception:  # unsupported algorithm
        sig = None
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = bool(bc.ca)
    except x509.ExtensionNotFound:
        is_ca = False
    self_signed = False
    if cert.issuer == cert.subject:
        try:
            cert.verify_directly_issued_by(cert)
            self_signed = True
        except Exception:
            self_signed = False
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "notBefore": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notAfter": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "keyType": ktype,
        "keyBits": bits,
        "signatureHash": sig,
        "ca": is_ca,
        "selfSigned": self_signed,
    }


def certificate_facts(
    data: bytes, *, path: str, within: str | None = None, used_by: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Facts of every certificate in ``data`` (PEM with one or more CERTIFICATE blocks, or DER).
    A file that holds no certificate gives one entry with ``error``."""
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - cryptography is a dependency
        return [{"path": path, "within": within, "error": "the cryptography package is not installed"}]
    certs = []
    blocks = _PEM_CERT.findall(data)
    try:
        if blocks:
            certs = [x509.load_pem_x509_certificate(b) for b in blocks]
        elif data[:1] == b"\x30":
            certs = [x509.load_der_x509_certificate(data)]
    except Exception as e:  # malformed certificate: report it, never its bytes
        return [
            {
                "path": path,
                "within": within,
                "usedBy": list(used_by),
                "error": f"unreadable certificate ({type(e).__name__})",
            }
        ]
    if not certs:
        return [{"path": path, "within": within, "usedBy": list(used_by), "error": "no certificate in the file"}]
    out = []
    for i, c in enumerate(certs):
        where = within
        if len(certs) > 1:
            where = (
                f"{within}, certificate {i + 1} of {len(certs)}" if within else f"certificate {i + 1} of {len(certs)}"
            )
        facts = {"path": path, "within": where, "usedBy": list(used_by)}
        facts.update(_facts(c))
        out.append(facts)
    return out


def decode_b64(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value.strip(), validate=False)
    except (ValueError, TypeError):
        return None
