"""A private CA and the webhook's serving certificate (``kubefort admission certs``).

The API server calls the webhook at ``https://NAME.NS.svc:443``; the serving certificate carries the
DNS names NAME, NAME.NS, NAME.NS.svc and NAME.NS.svc.cluster.local, and the CA certificate goes,
base64-encoded, into the ValidatingWebhookConfiguration's ``clientConfig.caBundle``. Keys are ECDSA
P-256 (fast handshakes), written with mode 0600.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT, CA_KEY = "ca.crt", "ca.key"
TLS_CERT, TLS_KEY = "tls.crt", "tls.key"
CA_BUNDLE = "ca-bundle.b64"


@dataclass(frozen=True, slots=True)
class Issued:
    ca_cert_pem: bytes
    ca_key_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def ca_bundle(self) -> str:
        """The CA certificate, PEM then base64, as ``caBundle`` wants it."""
        return base64.b64encode(self.ca_cert_pem).decode()


def service_dns_names(service: str, namespace: str) -> list[str]:
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def requested_names(service: str, namespace: str, extra_dns: Sequence[str] = (), ips: Sequence[str] = ()) -> list[str]:
    """The subject alternative names asked for: the Service's DNS names, then the extra ones as given."""
    return service_dns_names(service, namespace) + list(extra_dns) + list(ips)


def issue(
    service: str,
    namespace: str,
    *,
    days: int = 365,
    extra_dns: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
    now: dt.datetime | None = None,
) -> Issued:
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)  # clock skew between this machine and the API server
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kubefort admission CA ({service}.{namespace})")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=days + 365))  # the CA outlives its leaf: rotate the leaf only
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    dns = service_dns_names(service, namespace) + [d for d in extra_dns if d]
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dict.fromkeys(dns)]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{service}.{namespace}.svc")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    pkcs8 = serialization.PrivateFormat.PKCS8
    none = serialization.NoEncryption()
    return Issued(
        ca_cert_pem=ca_cert.public_bytes(pem),
        ca_key_pem=ca_key.private_bytes(pem, pkcs8, none),
        cert_pem=cert.public_bytes(pem),
        key_pem=key.private_bytes(pem, pkcs8, none),
    )


def write(issued: Issued, out_dir: str) -> dict[str, str]:
    """Write ca.crt, ca.key, tls.crt, tls.key and ca-bundle.b64 into ``out_dir``; keys with mode 0600."""
    os.makedirs(out_dir, exist_ok=True)
    files = {
        CA_CERT: (issued.ca_cert_pem, 0o644),
        CA_KEY: (issued.ca_key_pem, 0o600),
        TLS_CERT: (issued.cert_pem, 0o644),
        TLS_KEY: (issued.key_pem, 0o600),
        CA_BUNDLE: ((issued.ca_bundle + "\n").encode(), 0o644),
    }
    paths = {}
    for name, (data, mode) in files.items():
        path = os.path.join(out_dir, name)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)  # never a half-written key in place
        paths[name] = path
    return paths
