"""Throw-away X.509 material made with ``cryptography``: the probe's "certificate from another CA",
and the CA/server/client certificates of local test etcd servers. ECDSA P-256, short validity."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class IssuedKeyPair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def write(self, directory: str, stem: str) -> tuple[str, str]:
        """Write ``stem.crt`` and ``stem.key`` (0600) into ``directory``; return their paths."""
        crt, key = os.path.join(directory, f"{stem}.crt"), os.path.join(directory, f"{stem}.key")
        with open(crt, "wb") as fh:
            fh.write(self.cert_pem())
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.key_pem())
        return crt, key


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(cn: str = "kubefort-test-ca", days: int = 2) -> IssuedKeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return IssuedKeyPair(cert, key)


def issue(
    ca: IssuedKeyPair,
    cn: str,
    *,
    server: bool = False,
    client: bool = False,
    ips: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    days: int = 2,
) -> IssuedKeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
        [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
    )
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    sans += [x509.DNSName(d) for d in dns]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return IssuedKeyPair(b.sign(ca.key, hashes.SHA256()), key)


@dataclass(frozen=True, slots=True)
class LocalPKI:
    """Files of a CA, an etcd server certificate for 127.0.0.1/localhost and a client certificate."""

    dir: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def make_test_pki(directory: str, *, ca_cn: str = "kubefort-test-ca") -> LocalPKI:
    ca = make_ca(ca_cn)
    ca_crt, _ = ca.write(directory, "ca")
    s_crt, s_key = issue(ca, "etcd-server", server=True, client=True, ips=("127.0.0.1",), dns=("localhost",)).write(
        directory, "server"
    )
    c_crt, c_key = issue(ca, "kube-apiserver-etcd-client", client=True).write(directory, "client")
    return LocalPKI(directory, ca_crt, s_crt, s_key, c_crt, c_key)
