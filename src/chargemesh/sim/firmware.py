"""The simulated chargers' firmware images, as the platform's firmware campaigns distribute them,
and how a simulated charger checks one (the simulator, its tests, the demo and the bench build
images here; the platform treats them as opaque bytes).

An image is one header line — ``CMXFW1 `` and compact JSON ``{"version": ..., "models": [...]}``
— then deterministic pseudo-random payload bytes. A charger installs an image only if its model
is among ``models``, and boots with ``version`` afterwards.

A campaign signs the whole image: ECDSA P-256 over SHA-256, DER-encoded, base64, with the PEM
X.509 certificate whose public key verifies it (OCPP 2.0.1 ``UpdateFirmware``, 1.6 security
extension ``SignedUpdateFirmware``); :func:`signature_valid` checks that.

:data:`FirmwareFault` names what a firmware version can do wrong on a model (``own.FIRMWARE_FAULTS``
lists which ones do).
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from collections.abc import Sequence
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = [
    "DEFAULT_IMAGE_BYTES",
    "MAGIC",
    "FirmwareFault",
    "build_image",
    "read_header",
    "signature_valid",
]

#: The first bytes of every simulated image.
MAGIC: Final = b"CMXFW1 "
DEFAULT_IMAGE_BYTES: Final = 64 * 1024
#: The longest header line a charger looks for.
_HEADER_MAX: Final = 4096

#: What a firmware version does wrong on a model: its signature is refused
#: (``invalid_signature``), its check fails (``verification_failed``), its installation fails
#: (``installation_failed``), it never downloads (``download_failed``), the charger reboots
#: into the old version (``boot_loop``), or reports it installed and is never heard of again
#: (``silent``).
FirmwareFault = Literal[
    "invalid_signature",
    "verification_failed",
    "installation_failed",
    "download_failed",
    "boot_loop",
    "silent",
]


def build_image(
    version: str, models: Sequence[str], size: int = DEFAULT_IMAGE_BYTES, seed: int = 0
) -> bytes:
    """An image of ``version`` for ``models``, ``size`` bytes in all (deterministic for the
    arguments). ``ValueError`` when the header alone is longer than ``size``."""
    header = MAGIC + json.dumps(
        {"version": version, "models": list(models)}, separators=(",", ":")
    ).encode() + b"\n"  # fmt: skip
    if len(header) > min(size, _HEADER_MAX):
        raise ValueError(f"an image of {size} bytes cannot hold its {len(header)}-byte header")
    payload = random.Random(f"cmxfw/{seed}/{version}/{','.join(models)}")
    return header + payload.randbytes(size - len(header))


def read_header(image: bytes) -> tuple[str, tuple[str, ...]] | None:
    """(version, models) of an image, or ``None`` if ``image`` does not start like one."""
    if not image.startswith(MAGIC):
        return None
    end = image.find(b"\n", 0, _HEADER_MAX)
    if end < 0:
        return None
    try:
        header = json.loads(image[len(MAGIC) : end])
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    version, models = header.get("version"), header.get("models")
    if not isinstance(version, str) or not isinstance(models, list):
        return None
    if not all(isinstance(m, str) for m in models):
        return None
    return version, tuple(models)


def signature_valid(image: bytes, certificate_pem: str, signature_b64: str) -> bool:
    """Whether ``signature_b64`` (DER ECDSA, base64) signs ``image`` with SHA-256 under the
    P-256 key of ``certificate_pem``; ``False`` for anything malformed."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        signature = base64.b64decode(signature_b64, validate=True)
    except (ValueError, binascii.Error):
        return False
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False
    try:
        key.verify(signature, image, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
