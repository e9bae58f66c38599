"""The CSMS's rules at the door and in operation, over real websockets: security profiles (wss
with the configured certificate; plain ws refused off loopback), a newer connection replacing
the older, boots paced under a storm (Pending with a back-off), silent chargers shown offline
(never available), the lenient escape hatch for known non-compliant firmware, registration's
refusals, and the operations commands."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from websockets.asyncio.client import ClientConnection, connect

from chargemesh.bootstrap import assemble
from chargemesh.config import CsmsConfig
from chargemesh.csms.gateway import CsmsConfigError, tls_context
from chargemesh.csms.provisioning import Provisioning
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpp.messages import Boot
from chargemesh.store import Store
from tests.drivers import signed_up
from tests.helpers import free_port, wait_for
from tests.peers.test_csms_end_to_end import (  # the world of own chargers, shared
    PASSWORD,
    Loop,
    World,
    own_world,
    supercharger,
)

BOOT16 = {"chargePointVendor": "Ymir", "chargePointModel": "LC-600"}


@pytest.fixture
def w(store: Store) -> Iterator[World]:
    yield from own_world(store)


def _auth(cid: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{cid}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _call(ws: ClientConnection, action: str, payload: dict[str, Any]) -> list[Any]:
    await ws.send(json.dumps([2, f"id-{action}", action, payload]))
    answer: list[Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return answer


def _open(url: str, cid: str, version: str = "ocpp1.6", **kw: Any) -> Any:
    protocols: Any = [version]
    return connect(f"{url}/{cid}", subprotocols=protocols, additional_headers=_auth(cid), **kw)


def test_plain_ws_is_refused_off_loopback_unless_allowed() -> None:
    with pytest.raises(CsmsConfigError, match="tls_cert"):
        tls_context(CsmsConfig(host="0.0.0.0"))  # noqa: S104 - the address being refused
    assert tls_context(CsmsConfig(host="0.0.0.0", allow_insecure=True)) is None  # noqa: S104
    assert tls_context(CsmsConfig(host="127.0.0.1")) is None
    with pytest.raises(ValueError, match="go together"):
        CsmsConfig(tls_cert=Path("a.pem"))


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "csms.pem", tmp / "csms.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))  # fmt: skip
    return cert_path, key_path


def test_security_profile_2_wss_with_the_configured_certificate(
    store: Store, tmp_path: Path
) -> None:
    cert, key = _self_signed(tmp_path)
    csms_port = free_port()
    platform = assemble(store, csms=CsmsConfig(port=csms_port, tls_cert=cert, tls_key=key))
    loop = Loop()
    with LoopbackServer(platform.app()) as server:
        _, ops = platform.ops_keys.create("ops")
        charger = supercharger("SC-TLS", "1.6")
        body = {"id": charger.id, "password": PASSWORD, "kind": "supercharger", "name": "TLS",
                "lat": 39.9, "lon": 116.4, "connectors": [{"standard": "gbt_dc",
                                                           "max_power_kw": 600}]}  # fmt: skip
        made = httpx.post(f"{server.url}/api/v1/ops/chargers", json=body,
                          headers={"Authorization": f"Bearer {ops}"})  # fmt: skip
        assert made.status_code == 201, made.text
        trusted = ssl.create_default_context(cafile=str(cert))

        async def boot_over(url: str, context: ssl.SSLContext | None) -> list[Any]:
            async with _open(url, "SC-TLS", ssl=context) as ws:
                return await _call(ws, "BootNotification", BOOT16)

        answer = loop.run(boot_over(f"wss://127.0.0.1:{csms_port}/ocpp", trusted))
        assert answer[0] == 3
        assert answer[2]["status"] == "Accepted"
        with pytest.raises(Exception):  # noqa: B017, PT011 - plain ws to a TLS port: no handshake
            loop.run(boot_over(f"ws://127.0.0.1:{csms_port}/ocpp", None), timeout_s=15)
    loop.close()


def test_a_newer_connection_replaces_the_older(w: World) -> None:
    w.register(supercharger("SC-TWICE", "1.6"))

    async def twice() -> tuple[int | None, list[Any]]:
        first = await _open(w.csms_url, "SC-TWICE")
        await _call(first, "BootNotification", BOOT16)
        second = await _open(w.csms_url, "SC-TWICE")
        await asyncio.wait_for(first.wait_closed(), 10)
        answer = await _call(second, "Heartbeat", {})
        await second.close()
        return first.close_code, answer

    code, answer = w.chargers.run(twice())
    assert code == 1000
    assert answer[0] == 3  # the newer one is served


def test_boots_beyond_the_pace_are_told_to_come_back() -> None:
    clock = [0.0]

    async def silent(_: str) -> None:
        return None

    class NoStore:
        store = None

        async def get(self, _cid: str) -> None:
            return None

    provisioning = Provisioning(NoStore(), heartbeat_s=60, boots_per_s=2,  # type: ignore[arg-type]
                                on_silent=silent, clock=lambda: clock[0])  # fmt: skip
    boot = Boot("v", "m", None, None)
    answers = [asyncio.run(provisioning.boot(f"c{i}", "1.6", boot)) for i in range(5)]
    assert [a.accepted for a in answers] == [True, True, False, False, False]
    assert all(10 <= a.interval_s <= 60 for a in answers if not a.accepted)
    clock[0] += 1.0  # a second later, two more
    assert asyncio.run(provisioning.boot("c9", "1.6", boot)).accepted


def test_a_silent_charger_goes_offline_never_available(w: World) -> None:
    w.register(supercharger("SC-QUIET", "1.6", connectors=1))
    point = w.connect(supercharger("SC-QUIET", "1.6", connectors=1))
    wait_for(lambda: w.connector_status("SC-QUIET") == "available")
    csms = w.platform.csms
    assert csms is not None
    w.chargers.call(lambda: point.drop(offline_s=30))  # gone, and not coming back soon
    # the watchdog's clock jumps past the heartbeat interval (30 s) and its grace
    later = csms.provisioning.clock() + 30 * 1.5 + 11
    csms.provisioning.clock = lambda: later
    silent = w.server.call(csms.provisioning.sweep())
    assert "SC-QUIET" in silent
    assert w.connector_status("SC-QUIET") == "offline"


def test_known_non_compliant_firmware_is_let_through_and_no_other(store: Store) -> None:
    csms_port = free_port()
    config = CsmsConfig(port=csms_port, lenient_models=["Ymir/LC-600-OLD"])
    platform = assemble(store, csms=config)
    loop = Loop()
    with LoopbackServer(platform.app()) as server:
        _, ops = platform.ops_keys.create("ops")
        for cid in ("SC-OLD", "SC-NEW"):
            body = {"id": cid, "password": PASSWORD, "kind": "supercharger", "name": cid,
                    "lat": 39.9, "lon": 116.4, "connectors": [{"standard": "gbt_dc",
                                                               "max_power_kw": 600}]}  # fmt: skip
            made = httpx.post(f"{server.url}/api/v1/ops/chargers", json=body,
                              headers={"Authorization": f"Bearer {ops}"})  # fmt: skip
            assert made.status_code == 201
        url = f"ws://127.0.0.1:{csms_port}/ocpp"
        too_long = {**BOOT16, "chargePointSerialNumber": "S" * 26}  # the schema allows 25

        async def boot(cid: str, model: str, payload: dict[str, Any]) -> list[Any]:
            async with _open(url, cid) as ws:
                return await _call(ws, "BootNotification", {**payload, "chargePointModel": model})

        # first boots tell the CSMS what each charger is
        assert loop.run(boot("SC-OLD", "LC-600-OLD", BOOT16))[0] == 3
        assert loop.run(boot("SC-NEW", "LC-600", BOOT16))[0] == 3
        platform.csms.chargers.forget("SC-OLD")  # type: ignore[union-attr]
        platform.csms.chargers.forget("SC-NEW")  # type: ignore[union-attr]
        old = loop.run(boot("SC-OLD", "LC-600-OLD", too_long))
        new = loop.run(boot("SC-NEW", "LC-600", too_long))
    loop.close()
    assert old[0] == 3, old  # its known quirk is let through
    assert new[0] == 4, new  # anyone else's malformed boot is a CALLERROR
    assert new[2] in ("FormationViolation", "PropertyConstraintViolation",
                      "TypeConstraintViolation", "FormatViolation")  # fmt: skip


def test_registration_refuses_what_is_wrong_and_changes_nothing(w: World) -> None:
    good = {"id": "SC-REG", "password": PASSWORD, "kind": "supercharger", "name": "Reg",
            "lat": 39.9, "lon": 116.4,
            "connectors": [{"standard": "gbt_dc", "max_power_kw": 600}]}  # fmt: skip
    post = lambda body, headers=w.ops: w.http.post("/api/v1/ops/chargers", json=body,  # noqa: E731
                                                   headers=headers)  # fmt: skip
    assert post(good, {}).status_code == 401
    driver = signed_up(w.http)
    assert post(good, driver.auth).status_code == 403
    for bad, why in [
        ({"password": "short"}, "password"),
        ({"kind": "home"}, "owner"),
        ({"kind": "home", "owner": "nobody@example.com"}, "no account"),
        ({"owner": driver.email}, "no owner"),
        ({"connectors": [{"standard": "warp", "max_power_kw": 600}]}, "standard"),
        ({"id": "has/slash"}, "charger id"),
    ]:
        answer = post({**good, **bad})
        assert answer.status_code == 422, (bad, answer.text)
        assert why in answer.text, (bad, answer.text)
    assert w.store.own_chargers() == []
    assert post(good).status_code == 201
    assert post(good).status_code == 409
    assert [c.id for c in w.store.own_chargers()] == ["SC-REG"]
    assert w.store.own_chargers()[0].password_hash.startswith("sha256$")
    assert PASSWORD not in w.http.get("/api/v1/ops/chargers", headers=w.ops).text


def test_operations_commands_reach_the_charger(w: World) -> None:
    w.register(supercharger("SC-OPS", "2.0.1", connectors=2))
    point = w.connect(supercharger("SC-OPS", "2.0.1", connectors=2))
    base = "/api/v1/ops/chargers/SC-OPS"
    off = w.http.post(f"{base}/availability", json={"connector": 2, "operative": False},
                      headers=w.ops)  # fmt: skip
    assert off.json() == {"status": "Accepted"}, off.text
    wait_for(lambda: w.connector_status("SC-OPS", 2) == "offline")
    unlock = w.http.post(f"{base}/unlock", json={"connector": 1}, headers=w.ops)
    assert unlock.status_code == 200, unlock.text
    reset = w.http.post(f"{base}/reset", json={"hard": False}, headers=w.ops)
    assert reset.json()["status"] == "Accepted", reset.text
    wait_for(lambda: point.boots >= 2, timeout_s=15)  # it rebooted and booted again
    assert w.http.post("/api/v1/ops/chargers/NOPE/reset", json={},
                       headers=w.ops).status_code == 404  # fmt: skip
    w.register(supercharger("SC-DARK", "1.6"))
    dark = w.http.post("/api/v1/ops/chargers/SC-DARK/reset", json={}, headers=w.ops)
    assert dark.status_code == 409
    assert dark.json()["detail"]["code"] == "charger_offline"
