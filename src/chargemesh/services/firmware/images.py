"""Firmware images: uploaded with a version and the models they fit, kept by content (sha256),
signed when the platform has a signing key, and served to chargers by the platform itself
through download links that name one charger and expire (an HMAC over the image, the charger
and the expiry, with a secret every node shares)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlencode

from chargemesh.domain.firmware import FirmwareImage
from chargemesh.services.firmware.signing import Signer
from chargemesh.store import Store

MAX_IMAGE_BYTES: Final = 64 * 1024 * 1024
LINK_SECRET: Final = "firmware-links"  # noqa: S105 - the name the secret is kept under
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._+\-]{0,49}")
_MODEL = re.compile(r"[0-9A-Za-z][0-9A-Za-z ._/\-]{0,49}")


class ImageRefused(Exception):
    """Why an upload is refused; ``status`` says it in HTTP."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def add_image(
    store: Store, content: bytes, version: str, models: str, signer: Signer | None, at: datetime
) -> FirmwareImage:
    """Keep an uploaded image (sync: run it in a thread): ``models`` comma-separated. 422 for
    an empty or oversized file or a malformed version or model, 409 for bytes kept already."""
    version = version.strip()
    fits = tuple(dict.fromkeys(m.strip() for m in models.split(",") if m.strip()))
    if not content:
        raise ImageRefused(422, "the file is empty")
    if len(content) > MAX_IMAGE_BYTES:
        raise ImageRefused(422, f"an image is at most {MAX_IMAGE_BYTES // 2**20} MiB")
    if not _VERSION.fullmatch(version):
        raise ImageRefused(422, "version: 1-50 letters, digits and . _ + -")
    if not fits or not all(_MODEL.fullmatch(m) for m in fits):
        raise ImageRefused(422, "models: comma-separated charger models (1-50 characters each)")
    sha256 = hashlib.sha256(content).hexdigest()
    image = FirmwareImage(
        id="fw-" + secrets.token_hex(6), version=version, models=fits, sha256=sha256,
        size=len(content), created_at=at,
        signature=signer.sign(content) if signer else None,
        signing_certificate=signer.certificate_pem if signer else None,
    )  # fmt: skip
    if not store.add_firmware(image, content):
        held = store.firmware_by_sha256(sha256)
        raise ImageRefused(409, f"this image is uploaded already as {held.id if held else '?'}")
    return image


@dataclass(frozen=True, slots=True)
class DownloadLinks:
    """Links to an image for one charger, valid until they expire."""

    base_url: str  # the platform's public URL
    secret: bytes

    def _mac(self, sha256: str, charger_id: str, expires: int) -> str:
        message = f"{sha256}\n{charger_id}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def link(self, sha256: str, charger_id: str, expires_at: datetime) -> str:
        expires = int(expires_at.timestamp())
        query = urlencode(
            {"charger": charger_id, "expires": expires,
             "sig": self._mac(sha256, charger_id, expires)}
        )  # fmt: skip
        return f"{self.base_url.rstrip('/')}/firmware/{sha256}?{query}"

    def valid(self, sha256: str, charger_id: str, expires: int, sig: str, now: datetime) -> bool:
        if expires < now.timestamp():
            return False
        return hmac.compare_digest(self._mac(sha256, charger_id, expires), sig)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes a ``Range`` header asks for (one range, RFC 9110), the whole
    image without one; ``ValueError`` for a range the image cannot satisfy."""
    if header is None:
        return None
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if match is None or match.groups() == ("", ""):
        raise ValueError(header)
    first_s, last_s = match.groups()
    if first_s == "":  # the last n bytes
        n = int(last_s)
        if n == 0:
            raise ValueError(header)
        return max(0, size - n), size - 1
    first = int(first_s)
    last = min(int(last_s), size - 1) if last_s else size - 1
    if first >= size or last < first:
        raise ValueError(header)
    return first, last
