"""The firmware signing key: ECDSA P-256, its certificate sent to chargers with each signed
update (OCPP 2.0.1 and the 1.6 security extension: ``signingCertificate`` + ``signature``, the
base64 of a DER ECDSA-SHA256 signature over the whole image).

``chargemesh ops firmware signing-key --out DIR`` makes the pair (:func:`make_signing_key`);
``[csms] firmware_signing_key`` and ``firmware_signing_cert`` in the config point at it.
Chargers trust the certificate (in the field: the manufacturer's or the operator's firmware
signing CA)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_FILE = "firmware-signing.key"
CERT_FILE = "firmware-signing.pem"


@dataclass(frozen=True, slots=True)
class Signer:
    key: ec.EllipticCurvePrivateKey
    certificate_pem: str

    def sign(self, image: bytes) -> str:
        return base64.b64encode(self.key.sign(image, ec.ECDSA(hashes.SHA256()))).decode()

    @classmethod
    def load(cls, key_file: Path, cert_file: Path) -> Signer:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file} is not an ECDSA key")
        pem = cert_file.read_text("ascii")
        public = x509.load_pem_x509_certificate(pem.encode()).public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or (
            public.public_numbers() != key.public_key().public_numbers()
        ):
            raise ValueError(f"{cert_file} is not the certificate of {key_file}")
        return cls(key, pem)


def verify(image: bytes, signature: str, certificate_pem: str) -> bool:
    """Whether ``signature`` over ``image`` is by the key of ``certificate_pem``."""
    public = x509.load_pem_x509_certificate(certificate_pem.encode()).public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    try:
        public.verify(base64.b64decode(signature), image, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def make_signing_key(out: Path, common_name: str, years: int = 5) -> tuple[Path, Path]:
    """A new ECDSA P-256 key (``firmware-signing.key``, mode 0600, never overwritten) and its
    self-signed code-signing certificate (``firmware-signing.pem``) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = out / KEY_FILE, out / CERT_FILE
    if key_file.exists():
        raise FileExistsError(f"{key_file} exists: a signing key is never overwritten")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    key_file.touch(mode=0o600)
    key_file.write_bytes(pem)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file
