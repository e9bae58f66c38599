"""The simulator's own chargers update their firmware for real: OCPP 1.6 core ``UpdateFirmware``,
1.6 ``SignedUpdateFirmware`` (security extension) and 2.0.1 ``UpdateFirmware``, the image
downloaded in ``Range`` chunks from a loopback HTTP server, its SHA-256, ECDSA signature and model
checked, installed and booted into — and the configured faults of ``own.FIRMWARE_FAULTS``.

The CSMS is the ``ocpp``-library stand-in of ``tests/sim/ocpp_csms_stub`` with the firmware
status notifications added; the image server is ``http.server`` in a thread."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.server
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from chargemesh.sim.charging import make_vehicle
from chargemesh.sim.country.own import (
    FIRMWARE_FAULTS,
    OWN_MODELS,
    OwnCharger,
    OwnConnector,
    charger_password,
    own_network,
)
from chargemesh.sim.firmware import FirmwareFault, build_image, read_header, signature_valid
from chargemesh.sim.peers.ocpp import SimChargePoint
from tests.helpers import free_port
from tests.sim.ocpp_csms_stub import Csms16, Csms201, CsmsStub, until

Kind = Literal["1.6", "1.6-signed", "2.0.1"]
KINDS: tuple[Kind, ...] = ("1.6", "1.6-signed", "2.0.1")
MODEL = "CMX-SC600-L2"
OLD, NEW = "1.5.3", "1.6.1"
CHUNK = 16 * 1024
SIZE = 40_000  # three chunks: 0-16383, 16384-32767, 32768-39999
CP_OPTIONS: dict[str, Any] = {
    "backoff_s": (0.05, 0.4),
    "reboot_s": 0.1,
    "install_s": 0.05,
    "download_chunk_bytes": CHUNK,
    "firmware_faults": {},
}
SECURE_OK = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "InstallRebooting",
             "Installed"]  # fmt: skip
CORE_OK = ["Downloading", "Downloaded", "Installing", "Installed"]


# ----------------------------------------------------------------------------- signing


class Signer:
    """A P-256 key and its self-signed certificate, as a firmware campaign signs with."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chargemesh firmware test")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.certificate = cert.public_bytes(serialization.Encoding.PEM).decode()

    def sign(self, image: bytes) -> str:
        return base64.b64encode(self.key.sign(image, ec.ECDSA(hashes.SHA256()))).decode()


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


# ----------------------------------------------------------------------------- image server


class ImageServer:
    """Serves images at ``/firmware/<name>`` with ``Range`` support (206 + Content-Range, 200
    without one, 404 for an unknown name) and records every ``Range`` asked. ``cut_at``: the
    next response for a range that does not start at 0 is cut after that many bytes."""

    def __init__(self) -> None:
        self.images: dict[str, bytes] = {}
        self.ranges: list[str] = []
        self.cut_at: int | None = None
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.serve(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add(self, image: bytes, name: str | None = None) -> str:
        """Serve ``image`` (by default under its SHA-256, as the platform does); its URL."""
        name = name or hashlib.sha256(image).hexdigest()
        self.images[name] = image
        return self.url(name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/firmware/{name}?charger=T&expires=9999999999&sig=00"

    def serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        image = self.images.get(h.path.split("?")[0].rsplit("/", 1)[-1])
        asked = h.headers.get("Range")
        self.ranges.append(asked or "")
        if image is None:
            h.send_error(404)
            return
        if asked is None:
            h.send_response(200)
            h.send_header("Content-Length", str(len(image)))
            h.end_headers()
            h.wfile.write(image)
            return
        first, last = (int(x) for x in asked.removeprefix("bytes=").split("-"))
        body = image[first : last + 1]
        h.send_response(206)
        h.send_header("Content-Range", f"bytes {first}-{first + len(body) - 1}/{len(image)}")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if first > 0 and self.cut_at is not None:
            body, self.cut_at = body[: self.cut_at], None
            h.close_connection = True
        h.wfile.write(body)

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with ImageServer() as server:
        yield server


# ----------------------------------------------------------------------------- the CSMS


class Fw16(Csms16):
    @on(Action16.firmware_status_notification)
    def on_firmware_status(self, **kw: Any) -> Any:
        self.record("FirmwareStatusNotification", kw)
        return result16.FirmwareStatusNotification()

    @on(Action16.signed_firmware_status_notification)
    def on_signed_firmware_status(self, **kw: Any) -> Any:
        self.record("SignedFirmwareStatusNotification", kw)
        return result16.SignedFirmwareStatusNotification()


class Fw201(Csms201):
    @on(Action201.firmware_status_notification)
    def on_firmware_status(self, **kw: Any) -> Any:
        self.record("FirmwareStatusNotification", kw)
        return result201.FirmwareStatusNotification()


class FirmwareCsms(CsmsStub):
    """The stand-in, hearing firmware statuses too."""

    async def _handle(self, ws: ServerConnection) -> None:
        cp_id = ws.request.path.rstrip("/").split("/")[-1] if ws.request else "?"
        cp = (Fw16 if ws.subprotocol == "ocpp1.6" else Fw201)(cp_id, ws)
        cp.stub = self
        self.links[cp_id] = cp
        with contextlib.suppress(ConnectionClosed):
            await cp.start()

    def firmware(self, cp_id: str) -> list[tuple[str, int | None]]:
        """(status, requestId) of every firmware status notification, in arrival order."""
        return [
            (str(p["status"]), p.get("request_id"))
            for i, a, p in self.messages
            if i == cp_id and a.endswith("FirmwareStatusNotification")
        ]

    def actions(self, cp_id: str) -> list[str]:
        return [a for i, a, _ in self.messages if i == cp_id]

    def booted_firmware(self, cp_id: str) -> list[str]:
        out = []
        for p in self.of(cp_id, "BootNotification"):
            station = p.get("charging_station")
            out.append(str(station["firmware_version"] if station else p["firmware_version"]))
        return out

    async def update(
        self, cp_id: str, kind: Kind, url: str, signer: Signer | None, image: bytes, **kw: Any
    ) -> Any:
        """Send the update of ``kind`` for ``image`` at ``url``; the charger's answer."""
        link = self.links[cp_id]
        now = datetime.now(UTC).isoformat()
        retrieve = kw.pop("retrieve", now)
        if kind == "1.6":
            return await link.call(
                call16.UpdateFirmware(location=url, retrieve_date=retrieve, **kw), suppress=False
            )
        assert signer is not None
        firmware = {
            "location": url,
            "retrieve_date_time": retrieve,
            "signing_certificate": signer.certificate,
            "signature": signer.sign(image),
        }
        cls = call16.SignedUpdateFirmware if kind == "1.6-signed" else call201.UpdateFirmware
        return await link.call(cls(request_id=42, firmware=firmware, **kw), suppress=False)


def charger(kind: Kind, *, model: str = MODEL, connectors: int = 1) -> OwnCharger:
    cid = f"FW{kind.replace('.', '').replace('-signed', 'S')}"
    return OwnCharger(
        id=cid,
        password=charger_password(7, cid),
        kind="supercharger",
        name=f"test {cid}",
        lat=31.2,
        lon=121.5,
        connectors=tuple(OwnConnector("gbt_dc", 600) for _ in range(connectors)),
        owner=None,
        vendor="CMX Power",
        model=model,
        firmware=OLD,
        ocpp="2.0.1" if kind == "2.0.1" else "1.6",
        serial="CMX0000000001",
        security_extension=kind == "1.6-signed",
    )


def run(
    scenario: Callable[[FirmwareCsms, SimChargePoint], Awaitable[None]],
    c: OwnCharger,
    *,
    accepted: set[str] | None = None,
    **cp_options: Any,
) -> FirmwareCsms:
    """Run ``scenario`` with one charge point against the stand-in; the stand-in afterwards."""
    port = free_port()
    stub = FirmwareCsms({c.id: c.password}, accepted=accepted)

    async def main() -> None:
        await stub.start(port)
        cp = SimChargePoint(c, f"ws://127.0.0.1:{port}/ocpp", **{**CP_OPTIONS, **cp_options})
        task = asyncio.create_task(cp.run())
        try:
            await cp.wait_online()
            await asyncio.wait_for(scenario(stub, cp), 30)
        finally:
            await cp.aclose()
            await asyncio.gather(task, return_exceptions=True)
            await stub.stop()

    asyncio.run(main())
    return stub


def expected_ids(kind: Kind, statuses: list[str]) -> list[tuple[str, int | None]]:
    return [(s, None if kind == "1.6" else 42) for s in statuses]


# ----------------------------------------------------------------------------- images


def test_images_carry_their_version_and_models_and_are_deterministic(signer: Signer) -> None:
    image = build_image(NEW, [MODEL, "CMX-SC600-L1"], size=SIZE, seed=3)
    assert len(image) == SIZE
    assert image == build_image(NEW, [MODEL, "CMX-SC600-L1"], size=SIZE, seed=3)
    assert image != build_image(NEW, [MODEL, "CMX-SC600-L1"], size=SIZE, seed=4)
    assert image.startswith(
        b'CMXFW1 {"version":"1.6.1","models":["CMX-SC600-L2","CMX-SC600-L1"]}\n'
    )
    assert read_header(image) == (NEW, (MODEL, "CMX-SC600-L1"))
    assert read_header(b"MZ\x90\x00" + image) is None
    assert read_header(b'CMXFW1 {"version": 1}\n') is None
    with pytest.raises(ValueError, match="cannot hold its"):
        build_image(NEW, [MODEL], size=20)
    signature = signer.sign(image)
    assert signature_valid(image, signer.certificate, signature)
    assert not signature_valid(image[:-1] + b"\x00", signer.certificate, signature)
    assert not signature_valid(image, Signer().certificate, signature)
    assert not signature_valid(image, "not a certificate", signature)


def test_the_truth_lists_the_firmware_faults_and_the_security_extension() -> None:
    truth = own_network(0.01, 7).truth()
    models = {m.model: m for m in OWN_MODELS}
    faults = truth["firmware_faults"]
    assert len(faults) == len(FIRMWARE_FAULTS) >= 3
    assert {f["fault"] for f in faults} >= {"boot_loop", "silent", "verification_failed"}
    for f in faults:  # coming versions of real models
        assert f["version"] not in models[f["model"]].firmwares
    one_six = [c for c in truth["own_chargers"] if c["ocpp"] == "1.6"]
    assert {c["security_extension"] for c in one_six} == {True, False}
    assert not any(c["security_extension"] for c in truth["own_chargers"] if c["ocpp"] == "2.0.1")
    for c in truth["own_chargers"]:
        assert c["security_extension"] == models[c["model"]].security_extension


# ----------------------------------------------------------------------------- updates


@pytest.mark.parametrize("kind", KINDS)
def test_a_good_image_is_downloaded_in_ranges_installed_and_booted_into(
    kind: Kind, images: ImageServer, signer: Signer
) -> None:
    c = charger(kind)
    image = build_image(NEW, ["CMX-SC600-L1", MODEL], size=SIZE)
    url = images.add(image)
    done = CORE_OK if kind == "1.6" else SECURE_OK

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        answer = await stub.update(c.id, kind, url, signer, image)
        if kind != "1.6":
            assert answer.status == "Accepted"
        await until(lambda: len(stub.firmware(c.id)) == len(done))
        assert cp.firmware == NEW

    stub = run(scenario, c)
    assert stub.firmware(c.id) == expected_ids(kind, done)
    assert images.ranges == ["bytes=0-16383", "bytes=16384-32767", "bytes=32768-49151"]
    assert stub.booted_firmware(c.id) == [OLD, NEW]
    actions = stub.actions(c.id)  # it booted with the new version before saying Installed
    last_status = max(k for k, a in enumerate(actions) if a.endswith("StatusNotification")
                      and "Firmware" in a)  # fmt: skip
    assert actions.index("BootNotification", 1) < last_status
    if kind == "2.0.1":
        assert [b["reason"] for b in stub.of(c.id, "BootNotification")] == [
            "PowerUp", "FirmwareUpdate"]  # fmt: skip


@pytest.mark.parametrize("kind", ["1.6-signed", "2.0.1"])
def test_an_image_changed_after_signing_is_refused_and_the_version_stays(
    kind: Kind, images: ImageServer, signer: Signer
) -> None:
    c = charger(kind)
    image = build_image(NEW, [MODEL], size=SIZE)
    tampered = image[:-10] + bytes(10)  # served under its own SHA-256: only the signature tells

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        await stub.update(c.id, kind, images.add(tampered), signer, image)
        await until(lambda: len(stub.firmware(c.id)) == 3)

    stub = run(scenario, c)
    assert stub.firmware(c.id) == expected_ids(
        kind, ["Downloading", "Downloaded", "InvalidSignature"])  # fmt: skip
    assert stub.booted_firmware(c.id) == [OLD]


@pytest.mark.parametrize(
    ("kind", "served", "status"),
    [
        ("2.0.1", "other_sha", "InstallVerificationFailed"),
        ("1.6-signed", "other_sha", "InstallVerificationFailed"),
        ("1.6", "other_sha", "InstallationFailed"),
        ("2.0.1", "other_model", "InstallationFailed"),
        ("1.6", "other_model", "InstallationFailed"),
    ],
)
def test_an_image_that_fails_its_checks_is_not_installed(
    kind: Kind, served: str, status: str, images: ImageServer, signer: Signer
) -> None:
    c = charger(kind)
    models = ["WC-HOME11"] if served == "other_model" else [MODEL]
    image = build_image(NEW, models, size=SIZE)
    name = hashlib.sha256(b"another image").hexdigest() if served == "other_sha" else None
    url = images.add(image, name)

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        await stub.update(c.id, kind, url, signer, image)
        await until(lambda: stub.firmware(c.id)[-1:] == expected_ids(kind, [status]))

    stub = run(scenario, c)
    checked = ["Downloading", "Downloaded"]
    if served == "other_model" and kind != "1.6":
        checked.append("SignatureVerified")
    assert stub.firmware(c.id) == expected_ids(kind, [*checked, status])
    assert stub.booted_firmware(c.id) == [OLD]


def test_a_download_that_keeps_failing_ends_with_download_failed(
    images: ImageServer, signer: Signer
) -> None:
    c = charger("2.0.1")
    image = build_image(NEW, [MODEL], size=SIZE)
    url = images.url(hashlib.sha256(image).hexdigest())  # never added: 404

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        await stub.update(c.id, "2.0.1", url, signer, image, retries=2, retry_interval=0)
        await until(lambda: len(stub.firmware(c.id)) == 2)

    stub = run(scenario, c)
    assert stub.firmware(c.id) == [("Downloading", 42), ("DownloadFailed", 42)]
    assert images.ranges == ["bytes=0-16383"] * 3  # the first try and two retries


def test_a_cut_download_resumes_from_the_byte_where_it_stopped(
    images: ImageServer, signer: Signer
) -> None:
    c = charger("2.0.1")
    image = build_image(NEW, [MODEL], size=SIZE)
    url = images.add(image)
    images.cut_at = 1000  # the second chunk breaks after 1000 bytes, once

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        await stub.update(c.id, "2.0.1", url, signer, image, retries=1, retry_interval=0)
        await until(lambda: len(stub.firmware(c.id)) == len(SECURE_OK))

    stub = run(scenario, c)
    assert stub.firmware(c.id) == expected_ids("2.0.1", SECURE_OK)
    assert images.ranges[:3] == ["bytes=0-16383", "bytes=16384-32767", "bytes=17384-33767"]
    assert stub.booted_firmware(c.id) == [OLD, NEW]


# ----------------------------------------------------------------------------- faults

FAULT_STATUSES: dict[tuple[FirmwareFault, str], list[str]] = {
    ("invalid_signature", "secure"): ["Downloading", "Downloaded", "InvalidSignature"],
    ("invalid_signature", "core"): ["Downloading", "Downloaded", "InstallationFailed"],
    ("verification_failed", "secure"): ["Downloading", "Downloaded",
                                        "InstallVerificationFailed"],
    ("verification_failed", "core"): ["Downloading", "Downloaded", "InstallationFailed"],
    ("installation_failed", "secure"): ["Downloading", "Downloaded", "SignatureVerified",
                                        "Installing", "InstallationFailed"],
    ("installation_failed", "core"): ["Downloading", "Downloaded", "Installing",
                                      "InstallationFailed"],
    ("download_failed", "secure"): ["Downloading", "DownloadFailed"],
    ("download_failed", "core"): ["Downloading", "DownloadFailed"],
    ("boot_loop", "secure"): ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                              "InstallRebooting"],
    ("boot_loop", "core"): ["Downloading", "Downloaded", "Installing"],
    ("silent", "secure"): SECURE_OK,
    ("silent", "core"): CORE_OK,
}  # fmt: skip
FAULTS: tuple[FirmwareFault, ...] = (
    "invalid_signature", "verification_failed", "installation_failed", "download_failed",
    "boot_loop", "silent",
)  # fmt: skip


@pytest.mark.parametrize("kind", ["1.6", "2.0.1"])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_configured_fault_goes_wrong_as_specified(
    kind: Kind, fault: FirmwareFault, images: ImageServer, signer: Signer
) -> None:
    c = charger(kind)
    image = build_image(NEW, [MODEL], size=SIZE)
    url = images.add(image)
    statuses = FAULT_STATUSES[fault, "core" if kind == "1.6" else "secure"]
    rebooting = fault in ("boot_loop", "silent")

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        await stub.update(c.id, kind, url, signer, image, retries=2, retry_interval=0)
        await until(lambda: len(stub.firmware(c.id)) == len(statuses))
        if rebooting:
            await until(lambda: len(stub.of(c.id, "BootNotification")) == 2)
        await asyncio.sleep(0.3)  # > reboot_s: long enough for anything more to come
        if fault == "silent":
            assert not cp.online  # it went quiet after saying Installed and stays so
            cp.power_cycle()
            await until(lambda: len(stub.of(c.id, "BootNotification")) == 3)
            await cp.wait_online()

    stub = run(scenario, c, firmware_faults={(MODEL, NEW): fault})
    assert stub.firmware(c.id) == expected_ids(kind, statuses)
    booted = {"boot_loop": [OLD, OLD], "silent": [OLD, NEW, OLD]}.get(fault, [OLD])
    assert stub.booted_firmware(c.id) == booted
    if fault == "download_failed":  # every try broke: three times the first chunk
        assert images.ranges == ["bytes=0-16383"] * 3
    if fault == "silent" and kind == "2.0.1":
        reasons = [b["reason"] for b in stub.of(c.id, "BootNotification")]
        assert reasons == ["PowerUp", "FirmwareUpdate", "PowerUp"]


# ----------------------------------------------------------------------------- while busy


def test_a_running_charge_delays_the_install_until_it_ends(
    images: ImageServer, signer: Signer
) -> None:
    c = charger("2.0.1", connectors=2)
    image = build_image(NEW, [MODEL], size=SIZE)
    url = images.add(image)
    first, second = (make_vehicle(7, n, model="lh-s5", soc=20, emaid=True) for n in (1, 2))

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        assert await cp.plug_in(1, first) is not None
        await stub.update(c.id, "2.0.1", url, signer, image)
        await until(lambda: "SignatureVerified" in cp.firmware_log)
        await asyncio.sleep(0.2)  # > install_s: it would have installed by now
        assert cp.firmware_log[-1] == "SignatureVerified"
        assert await cp.plug_in(2, second) is None  # no new charge while it waits to install
        cp.stop_charge(1)
        await until(lambda: cp.firmware_log == SECURE_OK)

    stub = run(scenario, c, accepted={str(first.emaid), str(second.emaid)}, time_scale=60.0)
    assert stub.firmware(c.id) == expected_ids("2.0.1", SECURE_OK)
    ended = next(
        k for k, (_, a, p) in enumerate(stub.messages)
        if a == "TransactionEvent" and p["event_type"] == "Ended"
    )  # fmt: skip
    installing = next(
        k for k, (_, a, p) in enumerate(stub.messages)
        if a == "FirmwareStatusNotification" and p["status"] == "Installing"
    )  # fmt: skip
    assert ended < installing
    assert len(stub.of(c.id, "Authorize")) == 1  # the second car was not even asked about


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_update_while_one_is_under_way_is_refused(
    kind: Kind, images: ImageServer, signer: Signer
) -> None:
    c = charger(kind)
    image = build_image(NEW, [MODEL], size=SIZE)
    other = build_image("1.7.0", [MODEL], size=SIZE)
    url, other_url = images.add(image), images.add(other)
    later = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    done = CORE_OK if kind == "1.6" else ["DownloadScheduled", *SECURE_OK]

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        await stub.update(c.id, kind, url, signer, image, retrieve=later)
        again = await stub.update(c.id, kind, other_url, signer, other)
        if kind != "1.6":  # 1.6 core answers nothing and ignores it
            assert again.status == "Rejected"
        await until(lambda: len(stub.firmware(c.id)) == len(done))
        assert datetime.now(UTC) >= datetime.fromisoformat(later)

    stub = run(scenario, c)
    assert stub.firmware(c.id) == expected_ids(kind, done)
    assert stub.booted_firmware(c.id) == [OLD, NEW]
    assert len(images.ranges) == 3  # the first image only


def test_a_charger_without_the_security_extension_answers_signed_updates_not_implemented(
    images: ImageServer, signer: Signer
) -> None:
    c = charger("1.6")
    image = build_image(NEW, [MODEL], size=SIZE)
    url = images.add(image)

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        with pytest.raises(OcppNotImplemented):
            await stub.update(c.id, "1.6-signed", url, signer, image)
        assert cp.online
        assert cp.firmware_log == []
        await stub.update(c.id, "1.6", url, None, image)  # what the platform falls back to
        await until(lambda: len(stub.firmware(c.id)) == len(CORE_OK))

    stub = run(scenario, c)
    assert stub.firmware(c.id) == expected_ids("1.6", CORE_OK)
    assert stub.booted_firmware(c.id) == [OLD, NEW]


@pytest.mark.parametrize("kind", ["1.6", "2.0.1"])
def test_a_power_cycle_ends_the_running_charge_and_boots_again(kind: Kind) -> None:
    c = charger(kind)
    vehicle = make_vehicle(7, 3, model="lh-s5", soc=20, emaid=True)
    token = vehicle.vin if kind == "1.6" else vehicle.emaid

    def ended(stub: FirmwareCsms) -> list[dict[str, Any]]:
        if kind == "1.6":
            return stub.of(c.id, "StopTransaction")
        return [e for e in stub.of(c.id, "TransactionEvent") if e["event_type"] == "Ended"]

    async def scenario(stub: FirmwareCsms, cp: SimChargePoint) -> None:
        assert await cp.plug_in(1, vehicle) is not None
        cp.power_cycle()
        await until(lambda: len(stub.of(c.id, "BootNotification")) == 2)
        await until(lambda: ended(stub))

    stub = run(scenario, c, accepted={str(token)}, time_scale=60.0)
    (stop,) = ended(stub)
    if kind == "1.6":
        assert stop["reason"] == "PowerLoss"
    else:
        assert stop["transaction_info"]["stopped_reason"] == "PowerLoss"
        assert [b["reason"] for b in stub.of(c.id, "BootNotification")] == ["PowerUp", "PowerUp"]
    assert stub.booted_firmware(c.id) == [OLD, OLD]
