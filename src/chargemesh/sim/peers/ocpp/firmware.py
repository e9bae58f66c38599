"""A simulated charge point updates its firmware for real: OCPP 1.6 ``UpdateFirmware`` (core),
1.6 ``SignedUpdateFirmware`` (security extension) and 2.0.1 ``UpdateFirmware``.

Once its answer has gone out (:meth:`~.charge_point.SimChargePoint.update_firmware`) the charger
waits for the retrieve time, then **downloads** the image from ``location`` with ``httpx`` in
``Range`` chunks (a failed chunk is asked again from the byte where it stopped, at most
``retries`` times in all, ``retryInterval`` seconds apart), **checks** it — the signature against
the signing certificate (signed updates only: 1.6 core cannot check one), its SHA-256 against
the 64-hex last path segment of the URL and that the image header lists the charger's model —,
waits for running charges to end (OCPP L01.FR.06), **installs** it (``install_s`` real seconds),
**reboots** (2.0.1 boot reason ``FirmwareUpdate``) and boots with the image's version, then
reports ``Installed``.

Status notifications: 1.6 core ``FirmwareStatusNotification`` ``Downloading``, ``Downloaded``,
``Installing``, ``Installed``; signed 1.6 (``SignedFirmwareStatusNotification``) and 2.0.1
(``FirmwareStatusNotification``), with the ``requestId``, add ``SignatureVerified`` and
``InstallRebooting`` (and ``DownloadScheduled`` / ``InstallScheduled`` for a time ahead). A
failure ends the update with ``DownloadFailed``, ``InstallVerificationFailed`` (SHA-256),
``InvalidSignature`` or ``InstallationFailed`` (1.6 core says ``InstallationFailed`` for all but
the first); the charger keeps running its old version and does not reboot.

The charger's ``firmware_faults`` ((model, image version) → :data:`~chargemesh.sim.firmware.
FirmwareFault`) make a version go wrong on purpose: a refused signature, a failed verification or
installation, downloads that always break, a reboot into the old version that reports nothing
more (``boot_loop``), or ``Installed`` followed by silence until the charger is power-cycled.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx

from chargemesh.sim.firmware import FirmwareFault, read_header, signature_valid

if TYPE_CHECKING:
    from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_INTERVAL_S",
    "DownloadFailed",
    "FirmwareRequest",
    "download",
    "run_update",
]

DEFAULT_CHUNK_BYTES: Final = 256 * 1024
#: Failed chunk downloads a charger tries again when the CSMS does not say.
DEFAULT_RETRIES: Final = 3
DEFAULT_RETRY_INTERVAL_S: Final = 10.0
#: A time ahead by more than this is reported as scheduled (signed updates).
_SCHEDULED_S: Final = 1.0
#: What 1.6 core (``FirmwareStatusNotification`` without the extension) says instead.
_CORE: Final = {
    "InvalidSignature": "InstallationFailed",
    "InstallVerificationFailed": "InstallationFailed",
}
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def ocpp_when(text: str) -> datetime:
    """An OCPP date-time (``Z`` or an offset; none means UTC)."""
    at = datetime.fromisoformat(text)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FirmwareRequest:
    """A firmware update the CSMS asked for. ``request_id`` is that of a signed update (2.0.1,
    1.6 ``SignedUpdateFirmware``), ``None`` for 1.6 core ``UpdateFirmware``."""

    location: str
    retrieve_at: datetime
    retries: int | None = None
    retry_interval_s: float | None = None
    request_id: int | None = None
    install_at: datetime | None = None
    certificate: str | None = None
    signature: str | None = None

    @classmethod
    def signed(
        cls,
        request_id: int,
        firmware: Mapping[str, Any],
        retries: int | None,
        retry_interval: int | None,
    ) -> FirmwareRequest:
        """From a signed update's ``firmware`` (the ``ocpp`` library's snake_case keys)."""
        install = firmware.get("install_date_time")
        return cls(
            location=str(firmware["location"]),
            retrieve_at=ocpp_when(str(firmware["retrieve_date_time"])),
            retries=retries,
            retry_interval_s=retry_interval,
            request_id=request_id,
            install_at=ocpp_when(str(install)) if install else None,
            certificate=str(firmware["signing_certificate"]),
            signature=str(firmware["signature"]),
        )

    @property
    def secure(self) -> bool:
        """A signed update: its signature is checked, its statuses carry the request id."""
        return self.request_id is not None

    @property
    def sha256(self) -> str | None:
        """The image's SHA-256 the URL names (its last path segment), if it names one."""
        last = urlsplit(self.location).path.rsplit("/", 1)[-1].lower()
        return last if _SHA256.fullmatch(last) else None


class DownloadFailed(Exception):
    """The image could not be downloaded within the retries."""


class _Refused(Exception):
    """The server's answer to a chunk was not the bytes asked for."""


async def _fetch_chunk(
    client: httpx.AsyncClient, url: str, data: bytearray, chunk_bytes: int, ranges: list[str]
) -> int | None:
    """Append the next chunk to ``data`` (as far as it arrives); the image's size if known."""
    start = len(data)
    asked = f"bytes={start}-{start + chunk_bytes - 1}"
    ranges.append(asked)
    async with client.stream("GET", url, headers={"Range": asked}) as r:
        if r.status_code == 200:  # the server sent it all
            data.clear()
            async for part in r.aiter_bytes():
                data += part
            return len(data)
        if r.status_code != 206:
            raise _Refused(f"HTTP {r.status_code}")
        m = _CONTENT_RANGE.fullmatch(r.headers.get("content-range", ""))
        if m is None or int(m[1]) != start:
            raise _Refused(f"asked {asked}, got {r.headers.get('content-range')!r}")
        async for part in r.aiter_bytes():
            data += part
    total = int(m[3])
    if len(data) == start and start < total:
        raise _Refused(f"nothing in {asked}")
    return total


async def download(
    url: str,
    *,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    retries: int = DEFAULT_RETRIES,
    retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
    timeout_s: float = 30.0,
    ranges: list[str] | None = None,
    breaks: Callable[[bytes], bool] | None = None,
) -> bytes:
    """The image at ``url``, fetched in ``Range`` chunks of ``chunk_bytes``; a chunk that fails
    (transport error, an answer other than 206 or 200, a cut) is asked again from where it
    stopped, ``retry_interval_s`` later, at most ``retries`` times in all, then
    :class:`DownloadFailed`. Each ``Range`` asked is appended to ``ranges``. ``breaks`` (the
    bytes so far → bool) makes a chunk that arrived count as broken: it is thrown away."""
    data = bytearray()
    total: int | None = None
    failures = 0
    asked = ranges if ranges is not None else []
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        while total is None or len(data) < total:
            start = len(data)
            try:
                total = await _fetch_chunk(client, url, data, chunk_bytes, asked)
                if breaks is not None and breaks(bytes(data)):
                    del data[start:]
                    raise _Refused("the transfer broke")
            except (httpx.HTTPError, _Refused) as e:
                failures += 1
                if failures > retries:
                    raise DownloadFailed(f"{url}: {e}") from e
                await asyncio.sleep(retry_interval_s)
    return bytes(data)


async def run_update(cp: SimChargePoint, request: FirmwareRequest) -> None:
    """The update procedure of the module docstring on ``cp`` (run as its task)."""

    async def report(status: str) -> None:
        if not request.secure:
            status = _CORE.get(status, status)
        cp.firmware_log.append(status)
        await cp.send(cp.dialect.firmware_status(status, request.request_id))

    await _wait_until(request.retrieve_at, request, report, "DownloadScheduled")
    await report("Downloading")

    def fault_of(image: bytes) -> FirmwareFault | None:
        header = read_header(image)
        return None if header is None else cp.firmware_faults.get((cp.charger.model, header[0]))

    try:
        image = await download(
            request.location,
            chunk_bytes=cp.download_chunk_bytes,
            retries=DEFAULT_RETRIES if request.retries is None else request.retries,
            retry_interval_s=(
                DEFAULT_RETRY_INTERVAL_S
                if request.retry_interval_s is None
                else request.retry_interval_s
            ),
            timeout_s=cp.response_timeout_s,
            ranges=cp.firmware_ranges,
            breaks=lambda data: fault_of(data) == "download_failed",
        )
    except DownloadFailed:
        await report("DownloadFailed")
        return
    await report("Downloaded")
    fault = fault_of(image)
    refusal = _refusal(request, image, fault)
    if refusal is not None:
        await report(refusal)
        return
    if request.secure:
        await report("SignatureVerified")
    header = read_header(image)
    if header is None or cp.charger.model not in header[1]:
        await report("InstallationFailed")  # not an image for this charger
        return
    await _wait_until(request.install_at, request, report, "InstallScheduled")
    await _install(cp, request, header[0], fault, report)


async def _wait_until(
    at: datetime | None,
    request: FirmwareRequest,
    report: Callable[[str], Any],
    scheduled: str,
) -> None:
    ahead = 0.0 if at is None else (at - datetime.now(UTC)).total_seconds()
    if ahead > _SCHEDULED_S and request.secure:
        await report(scheduled)
    if ahead > 0:
        await asyncio.sleep(ahead)


def _refusal(request: FirmwareRequest, image: bytes, fault: FirmwareFault | None) -> str | None:
    """Why the charger refuses ``image`` on checking it (the status to report), or ``None``. A
    signed update is judged by its signature first (bytes changed after signing are an
    ``InvalidSignature``, OCPP L01); 1.6 core, which cannot carry one, by the SHA-256 in the
    URL."""
    if fault == "invalid_signature":
        return "InvalidSignature"  # its trust store refuses the certificate
    if request.secure and not signature_valid(
        image, request.certificate or "", request.signature or ""
    ):
        return "InvalidSignature"
    expected = request.sha256
    if fault == "verification_failed" or (
        expected is not None and hashlib.sha256(image).hexdigest() != expected
    ):
        return "InstallVerificationFailed"
    return None


async def _install(
    cp: SimChargePoint,
    request: FirmwareRequest,
    version: str,
    fault: FirmwareFault | None,
    report: Callable[[str], Any],
) -> None:
    old = cp.firmware
    cp.firmware_installing = True  # no new charge starts from here until the reboot
    try:
        await cp.charges_ended()
        await report("Installing")
        await asyncio.sleep(cp.install_s)
        if fault == "installation_failed":
            await report("InstallationFailed")
            return
        if request.secure:
            await report("InstallRebooting")
        booting = old if fault == "boot_loop" else version
        await cp.reboot(reason="FirmwareUpdate", firmware=booting)
    finally:
        cp.firmware_installing = False
    await cp.wait_online(None)
    if fault == "boot_loop":
        return  # it came back with the old version and says nothing more about it
    await report("Installed")
    if fault == "silent":
        cp.go_silent(old)
