"""The own network end to end, over real websockets, for OCPP 1.6J and 2.0.1: the platform with
its CSMS on loopback ports, chargers registered through the ops API, the simulator's charge
points (their own event loop, in a thread) connecting with their passwords.

Shown: boot and status on the map; a charge started by ``POST /api/v1/sessions`` reaching the
charger, meter values growing the session, stop, the bill agreeing with the readings and the
tariff; plug-and-charge by VIN (1.6) and eMAID (2.0.1); a driver's RFID card (only once it is
in their account, home chargers only for their owner's cards); a wrong password refused at the
handshake; an invalid message answered with a CALLERROR and nothing applied; a charger dropped
mid-charge replaying its queued messages, counted once; the platform restarted mid-charge and
the charge finishing with its bill; a home charger invisible to anonymous search and to other
accounts."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.config import CsmsConfig
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.codec import CHINA_TZ
from chargemesh.sim.charging import SimVehicle, make_vehicle
from chargemesh.sim.country.own import OwnCharger, OwnConnector
from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint
from chargemesh.store import Store
from tests.drivers import Driver, signed_up
from tests.helpers import free_port, wait_for

T = TypeVar("T")
OPERATOR = "CN-CMX"
PASSWORD = "s3cret-charger-pass-0001"
VERSIONS = ["1.6", "2.0.1"]


class Loop:
    """An event loop in a thread of its own: where the simulated chargers live."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class World:
    store: Store
    http: httpx.Client
    ops: dict[str, str]
    platform: Platform
    server: LoopbackServer
    csms_url: str
    chargers: Loop
    points: list[SimChargePoint]

    def register(self, charger: OwnCharger) -> None:
        body = {
            "id": charger.id, "password": charger.password, "kind": charger.kind,
            "name": charger.name, "lat": charger.lat, "lon": charger.lon, "owner": charger.owner,
            "site": charger.site,
            "connectors": [{"standard": c.standard, "max_power_kw": c.max_power_kw}
                           for c in charger.connectors],
        }  # fmt: skip
        made = self.http.post("/api/v1/ops/chargers", json=body, headers=self.ops)
        assert made.status_code == 201, made.text

    def connect(self, charger: OwnCharger, **kw: Any) -> SimChargePoint:
        point = SimChargePoint(charger, self.csms_url, time_scale=120, meter_interval_s=30,
                               backoff_s=(0.2, 1.0), **kw)  # fmt: skip
        self.points.append(point)
        self.chargers.call(lambda: asyncio.ensure_future(point.run()))
        self.chargers.run(point.wait_online(15))
        return point

    def station(self, charger_id: str, auth: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(f"/api/v1/stations/{OPERATOR}:{charger_id}", headers=auth or {})

    def connector_status(self, charger_id: str, n: int = 1) -> str:
        body = self.station(charger_id).json()
        return str(body["evses"][n - 1]["connectors"][0]["status"])

    def session(self, driver: Driver, sid: str) -> dict[str, Any]:
        answer = self.http.get(f"/api/v1/sessions/{sid}", headers=driver.auth)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


def supercharger(cid: str, version: str, connectors: int = 2) -> OwnCharger:
    return OwnCharger(
        id=cid, password=PASSWORD, kind="supercharger", name=f"Supercharge {cid}",
        lat=39.9087, lon=116.3975, connectors=tuple(OwnConnector("gbt_dc", 600.0)
                                                    for _ in range(connectors)),
        owner=None, vendor="Ymir", model="LC-600" if version == "1.6" else "LC-600X",
        firmware="3.1.0", ocpp=version, serial=f"SN-{cid}",  # type: ignore[arg-type]
    )  # fmt: skip


def home_charger(cid: str, owner: str) -> OwnCharger:
    return OwnCharger(
        id=cid, password=PASSWORD, kind="home", name="Home", lat=31.2304, lon=121.4737,
        connectors=(OwnConnector("gbt_ac", 7.0),), owner=owner, vendor="Ymir", model="H7",
        firmware="1.0.2", ocpp="1.6", serial=f"SN-{cid}",
    )  # fmt: skip


def start_platform(
    store: Store, port: int, csms_port: int, **csms: Any
) -> tuple[Platform, LoopbackServer]:
    config = CsmsConfig(port=csms_port, heartbeat_s=30, **csms)
    # where chargers download firmware from: this server
    settings = OcpiSettings(public_url=f"http://127.0.0.1:{port}")
    platform = assemble(store, csms=config, ocpi=settings)
    server = LoopbackServer(platform.app(), port=port).start()
    return platform, server


def own_world(store: Store, **csms: Any) -> Iterator[World]:
    """The platform with its CSMS (``csms``: more of its settings) and an ops key, and a loop
    for simulated chargers."""
    port, csms_port = free_port(), free_port()
    platform, server = start_platform(store, port, csms_port, **csms)
    _, key = platform.ops_keys.create("test ops")
    loop = Loop()
    world = World(
        store, httpx.Client(base_url=server.url, timeout=20), {"Authorization": f"Bearer {key}"},
        platform, server, f"ws://127.0.0.1:{csms_port}/ocpp", loop, [],
    )  # fmt: skip
    try:
        yield world
    finally:
        for point in world.points:
            try:  # a charger's task may still wait on a CSMS answer: not past a few seconds
                loop.run(asyncio.wait_for(point.aclose(), 5), timeout_s=10)
            except TimeoutError:
                loop.call(point.stop)
        loop.close()
        world.http.close()
        world.server.stop()


@pytest.fixture
def w(store: Store) -> Iterator[World]:
    yield from own_world(store)


def car(n: int, *, emaid: bool = False) -> SimVehicle:
    return make_vehicle(16, n, model="yc-aster", soc=30, target_soc=95, emaid=emaid)


def plug(w: World, point: SimChargePoint, connector: int, vehicle: SimVehicle) -> None:
    w.chargers.run(point.plug_in(connector, vehicle))


def money(x: Any) -> Decimal:
    return Decimal(str(x))


def charged_kwh(point: SimChargePoint, connector: int) -> float:
    """What the charger's own register says it delivered in its last transaction there."""
    tx = [t for t in point.transactions if t.connector == connector][-1]
    return (point.connectors[connector].meter_wh - tx.meter_start_wh) / 1000


def period_of(tariff: dict[str, Any], at: str) -> dict[str, Any]:
    local = datetime.fromisoformat(at).astimezone(CHINA_TZ).strftime("%H:%M")
    for p in tariff["periods"]:
        start, end = p["start"], p["end"]
        inside = (start <= local < end) if start < end else (local >= start or local < end)
        if inside or start == end:
            return dict(p)
    raise AssertionError(f"no period at {local}")


@pytest.mark.parametrize("version", VERSIONS)
def test_an_app_start_charges_meters_stops_and_bills(w: World, version: str) -> None:
    cid = f"SC-{version.replace('.', '')}-01"
    w.register(supercharger(cid, version))
    point = w.connect(supercharger(cid, version))
    wait_for(lambda: w.connector_status(cid) == "available")
    booted = next(c for c in w.http.get("/api/v1/ops/chargers", headers=w.ops).json()
                  if c["id"] == cid)  # fmt: skip
    assert (booted["model"], booted["firmware"], booted["ocpp_version"]) == (
        supercharger(cid, version).model,
        "3.1.0",
        version,
    )
    assert booted["connected"] is True
    driver = signed_up(w.http)
    plug(w, point, 1, car(1))
    connector = f"{OPERATOR}:{cid}:1:1"
    preview = w.http.post("/api/v1/sessions/preview", json={"connector_id": connector},
                          headers=driver.auth).json()  # fmt: skip
    assert preview["startable"] is True, preview
    started = w.http.post("/api/v1/sessions", json={"connector_id": connector},
                          headers=driver.auth)  # fmt: skip
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    live = wait_for(lambda: (s := w.session(driver, sid))["state"] == "charging"
                    and s["kwh"] > 1 and s, timeout_s=20)  # fmt: skip
    assert live["kw"] > 0
    assert live["soc"] > 30
    assert money(live["cost"]) > 0
    # 1.6 says Charging; 2.0.1's StatusNotification knows only Occupied
    wait_for(lambda: w.connector_status(cid) == ("charging" if version == "1.6" else "occupied"))
    later = wait_for(lambda: (s := w.session(driver, sid))["kwh"] > live["kwh"] and s)
    assert money(later["cost"]) >= money(live["cost"])
    stopped = w.http.post(f"/api/v1/sessions/{sid}/stop", headers=driver.auth)
    assert stopped.status_code == 200, stopped.text
    done = wait_for(lambda: (s := w.session(driver, sid))["state"] == "completed" and s,
                    timeout_s=20)  # fmt: skip
    bill = done["bill"]
    assert bill["kwh"] == pytest.approx(charged_kwh(point, 1), abs=0.001)
    assert done["kwh"] == pytest.approx(bill["kwh"], abs=0.001)
    assert money(bill["total"]) == money(bill["energy_cost"]) + money(bill["service_cost"])
    # the bill is the tariff's price per kWh, period by period: within one period, exactly
    began, ended = (period_of(preview["tariff"], done[k]) for k in ("started_at", "ended_at"))
    if began == ended:  # electricity and service fees each to the cent, as the bill shows them
        kwh, cent = money(bill["kwh"]), Decimal("0.01")
        energy = (kwh * money(began["electricity_fee"])).quantize(cent, ROUND_HALF_UP)
        service = (kwh * money(began["service_fee"])).quantize(cent, ROUND_HALF_UP)
        assert (money(bill["energy_cost"]), money(bill["service_cost"])) == (energy, service)
    assert done["stop_code"] == "driver"
    wait_for(lambda: w.connector_status(cid) in ("occupied", "available"))


@pytest.mark.parametrize("version", VERSIONS)
def test_plug_and_charge_starts_in_the_owners_account(w: World, version: str) -> None:
    cid = f"PNC-{version.replace('.', '')}"
    w.register(supercharger(cid, version, connectors=1))
    point = w.connect(supercharger(cid, version, connectors=1))
    driver = signed_up(w.http)
    vehicle = car(2, emaid=version == "2.0.1")
    made = w.http.post("/api/v1/vehicles", headers=driver.auth, json={
        "vin": vehicle.vin, "model": vehicle.model.id, "emaid": vehicle.emaid,
    })  # fmt: skip
    assert made.status_code == 201, made.text
    # not switched on yet: the charger's Authorize is refused and nothing starts
    plug(w, point, 1, vehicle)
    time.sleep(1.0)
    assert w.http.get("/api/v1/sessions", headers=driver.auth).json() == []
    w.chargers.call(lambda: point.unplug(1))
    on = w.http.put(f"/api/v1/vehicles/{made.json()['id']}/plug-and-charge", headers=driver.auth)
    assert OPERATOR in on.json()["plug_and_charge_networks"], on.text
    plug(w, point, 1, vehicle)

    def charging() -> list[dict[str, Any]]:
        held = w.http.get("/api/v1/sessions", headers=driver.auth).json()
        return [s for s in held if s["state"] == "charging" and s["kwh"] > 0]

    mine = wait_for(charging, timeout_s=20)
    assert mine[0]["method"] == "plug_and_charge"
    assert mine[0]["vehicle_id"] == made.json()["id"]
    other = signed_up(w.http)
    assert w.http.get("/api/v1/sessions", headers=other.auth).json() == []


CARD = "04:5a:c1:22:9b:7e:81"


def swipe(w: World, point: SimChargePoint, connector: int, uid: str) -> bool:
    """Hold a card to the reader; whether the charge started."""
    return w.chargers.run(point.swipe(connector, uid)) is not None


@pytest.mark.parametrize("version", VERSIONS)
def test_a_charge_card_starts_a_charge_in_its_account(w: World, version: str) -> None:
    cid = f"RFID-{version.replace('.', '')}"
    w.register(supercharger(cid, version, connectors=1))
    point = w.connect(supercharger(cid, version, connectors=1))
    driver = signed_up(w.http)
    plug(w, point, 1, car(3))
    # a card nobody registered: the charger's Authorize is refused and nothing starts
    assert swipe(w, point, 1, CARD) is False
    assert w.http.get("/api/v1/sessions", headers=driver.auth).json() == []
    added = w.http.post("/api/v1/me/cards", json={"uid": CARD, "label": "fob"},
                        headers=driver.auth)  # fmt: skip
    assert added.status_code == 201, added.text
    assert swipe(w, point, 1, CARD) is True

    def charging() -> list[dict[str, Any]]:
        held = w.http.get("/api/v1/sessions", headers=driver.auth).json()
        return [s for s in held if s["state"] == "charging" and s["kwh"] > 0]

    mine = wait_for(charging, timeout_s=20)
    assert (mine[0]["method"], mine[0]["vehicle_id"]) == ("rfid", None)
    assert mine[0]["connector_id"] == f"{OPERATOR}:{cid}:1:1"
    # the driver ends it at the charger: the bill comes, agreeing with the charger's register
    w.chargers.call(lambda: point.stop_charge(1))
    sid = mine[0]["id"]
    done = wait_for(lambda: (s := w.session(driver, sid))["state"] == "completed" and s,
                    timeout_s=20)  # fmt: skip
    assert done["bill"]["kwh"] == pytest.approx(charged_kwh(point, 1), abs=0.001)
    assert money(done["bill"]["total"]) > 0
    # removed from the account, the card starts nothing
    w.chargers.call(lambda: point.unplug(1))
    removed = w.http.delete(f"/api/v1/me/cards/{added.json()['uid']}", headers=driver.auth)
    assert removed.status_code == 204
    plug(w, point, 1, car(3))
    assert swipe(w, point, 1, CARD) is False
    assert len(w.http.get("/api/v1/sessions", headers=driver.auth).json()) == 1


def test_a_home_charger_takes_its_owners_cards_only(w: World) -> None:
    owner, other = signed_up(w.http), signed_up(w.http)
    w.register(home_charger("HOME-CARD", owner.email))
    point = w.connect(home_charger("HOME-CARD", owner.email))
    guest_card, owner_card = "DEADBEEF", "04112233445566778899"
    for driver, uid in ((other, guest_card), (owner, owner_card)):
        made = w.http.post("/api/v1/me/cards", json={"uid": uid}, headers=driver.auth)
        assert made.status_code == 201, made.text
    plug(w, point, 1, car(4))
    assert swipe(w, point, 1, guest_card) is False  # a registered card, but not the owner's
    assert w.http.get("/api/v1/sessions", headers=other.auth).json() == []
    assert swipe(w, point, 1, owner_card) is True
    held = wait_for(lambda: w.http.get("/api/v1/sessions", headers=owner.auth).json())
    assert held[0]["method"] == "rfid"


def test_a_wrong_password_or_unknown_charger_is_refused_at_the_handshake(w: World) -> None:
    w.register(supercharger("SC-AUTH", "1.6"))

    async def status_of(cid: str, password: str) -> int:
        token = base64.b64encode(f"{cid}:{password}".encode()).decode()
        try:
            async with connect(f"{w.csms_url}/{cid}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                               additional_headers={"Authorization": f"Basic {token}"}):  # fmt: skip
                return 101
        except websockets.InvalidStatus as exc:
            return int(exc.response.status_code)

    assert w.chargers.run(status_of("SC-AUTH", "not-the-password-at-all")) == 401
    assert w.chargers.run(status_of("SC-NOBODY", PASSWORD)) == 401
    assert w.chargers.run(status_of("SC-AUTH", PASSWORD)) == 101


@pytest.mark.parametrize("version", VERSIONS)
def test_an_invalid_message_gets_a_callerror_and_changes_nothing(w: World, version: str) -> None:
    cid = f"SC-BAD-{version.replace('.', '')}"
    w.register(supercharger(cid, version, connectors=1))
    token = base64.b64encode(f"{cid}:{PASSWORD}".encode()).decode()
    status = ({"connectorId": 1, "errorCode": "NoError", "status": "Charging!"}
              if version == "1.6" else
              {"timestamp": "2026-12-06T08:00:00Z", "connectorStatus": "Charging!",
               "evseId": 1, "connectorId": 1})  # fmt: skip

    async def exchange() -> list[Any]:
        protocols: Any = [f"ocpp{version}"]
        auth = {"Authorization": f"Basic {token}"}
        async with connect(f"{w.csms_url}/{cid}", subprotocols=protocols,
                           additional_headers=auth) as ws:  # fmt: skip
            await ws.send(json.dumps([2, "m1", "StatusNotification", status]))
            return json.loads(await asyncio.wait_for(ws.recv(), 10))  # type: ignore[no-any-return]

    answer = w.chargers.run(exchange())
    assert answer[0] == 4, answer  # CALLERROR
    assert answer[1] == "m1"
    assert answer[2] in ("FormationViolation", "PropertyConstraintViolation",
                         "TypeConstraintViolation", "FormatViolation")  # fmt: skip
    assert w.connector_status(cid) == "unknown"  # nothing applied


def test_a_dropped_charger_replays_its_queue_and_each_message_counts_once(w: World) -> None:
    cid = "SC-DROP-201"
    w.register(supercharger(cid, "2.0.1", connectors=1))
    point = w.connect(supercharger(cid, "2.0.1", connectors=1))
    point.replay_acknowledged = True  # the last acknowledged message is sent once more
    driver = signed_up(w.http)
    plug(w, point, 1, car(3))
    sid = w.http.post("/api/v1/sessions", json={"connector_id": f"{OPERATOR}:{cid}:1:1"},
                      headers=driver.auth).json()["id"]  # fmt: skip
    wait_for(lambda: w.session(driver, sid)["kwh"] > 0.5, timeout_s=20)
    w.chargers.call(lambda: point.drop(offline_s=1.5))  # meter values queue meanwhile
    time.sleep(2.0)
    w.chargers.run(point.wait_online(15))
    assert wait_for(lambda: point.replays, timeout_s=10)  # an acknowledged one, sent again
    w.http.post(f"/api/v1/sessions/{sid}/stop", headers=driver.auth)
    done = wait_for(lambda: (s := w.session(driver, sid))["state"] == "completed" and s,
                    timeout_s=20)  # fmt: skip
    [tx] = point.transactions
    assert any(m.offline for m in tx.sent)  # readings were queued while it was away
    assert done["bill"]["kwh"] == pytest.approx(charged_kwh(point, 1), abs=0.001)
    assert done["kwh"] == pytest.approx(done["bill"]["kwh"], abs=0.001)


def test_the_platform_restarted_mid_charge_still_bills_it(w: World) -> None:
    cid = "SC-RESTART"
    w.register(supercharger(cid, "1.6", connectors=1))
    point = w.connect(supercharger(cid, "1.6", connectors=1))
    driver = signed_up(w.http)
    plug(w, point, 1, car(4))
    sid = w.http.post("/api/v1/sessions", json={"connector_id": f"{OPERATOR}:{cid}:1:1"},
                      headers=driver.auth).json()["id"]  # fmt: skip
    wait_for(lambda: w.session(driver, sid)["kwh"] > 0.5, timeout_s=20)
    port = w.server.port
    csms_port = int(w.csms_url.rsplit(":", 1)[1].split("/")[0])
    w.server.stop()  # the platform goes away mid-charge; the charger queues its readings
    time.sleep(0.5)
    w.platform, w.server = start_platform(w.store, port, csms_port)
    w.chargers.run(point.wait_online(20))
    w.http.post(f"/api/v1/sessions/{sid}/stop", headers=driver.auth)
    done = wait_for(lambda: (s := w.session(driver, sid))["state"] == "completed" and s,
                    timeout_s=30)  # fmt: skip
    assert done["bill"]["kwh"] == pytest.approx(charged_kwh(point, 1), abs=0.001)


def test_a_home_charger_is_its_owners_alone(w: World) -> None:
    owner, other = signed_up(w.http), signed_up(w.http)
    w.register(home_charger("HOME-1", owner.email))
    w.connect(home_charger("HOME-1", owner.email))
    wait_for(lambda: w.station("HOME-1", owner.auth).status_code == 200)
    assert w.station("HOME-1").status_code == 404  # anonymous
    assert w.station("HOME-1", other.auth).status_code == 404
    mine = w.http.get("/api/v1/me/chargers", headers=owner.auth).json()
    assert [c["id"] for c in mine] == ["HOME-1"]
    assert w.http.get("/api/v1/me/chargers", headers=other.auth).json() == []
    near = w.http.get("/api/v1/stations/nearby",
                      params={"lat": 31.2304, "lon": 121.4737, "radius_km": 5}).json()  # fmt: skip
    assert all("HOME-1" not in s["id"] for s in near["stations"])
    connector = mine[0]["connectors"][0]["id"]
    refused = w.http.post("/api/v1/sessions/preview", json={"connector_id": connector},
                          headers=other.auth)  # fmt: skip
    assert refused.status_code == 422
    allowed = w.http.post("/api/v1/sessions/preview", json={"connector_id": connector},
                          headers=owner.auth)  # fmt: skip
    assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize("version", VERSIONS)
def test_a_car_that_fills_up_ends_its_charge_battery_full(w: World, version: str) -> None:
    cid = f"SC-FULL-{version.replace('.', '')}"
    w.register(supercharger(cid, version, connectors=1))
    point = w.connect(supercharger(cid, version, connectors=1))
    driver = signed_up(w.http)
    nearly_full = make_vehicle(16, 5, model="yc-aster", soc=93, target_soc=96)
    plug(w, point, 1, nearly_full)
    sid = w.http.post("/api/v1/sessions", json={"connector_id": f"{OPERATOR}:{cid}:1:1"},
                      headers=driver.auth).json()["id"]  # fmt: skip
    done = wait_for(lambda: (s := w.session(driver, sid))["state"] == "completed" and s,
                    timeout_s=40)  # nobody stops it: the car does  # fmt: skip
    assert (done["stop_code"], done["stop_reason"]) == ("battery_full", "battery full")
    assert done["bill"]["kwh"] == pytest.approx(charged_kwh(point, 1), abs=0.001)
