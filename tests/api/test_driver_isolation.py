"""One driver never reads or changes another's data: for every driver route, account B gets
404 (or its own, empty view) where account A's session or car is concerned, and nothing of A's
changes; without a token every driver route is 401. Both stores, over loopback HTTP."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chargemesh.bootstrap import Platform, assemble
from chargemesh.domain import Capability, Operator, OperatorProtocol
from chargemesh.domain.events import SessionUpdated
from chargemesh.domain.session import ChargeSession, SessionState, StartMethod
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import Store
from tests.drivers import Driver, signed_up
from tests.factories import make_operator, make_station, valid_emaid, valid_vin

PNC_OPERATOR = "MA59PNC01"
CARD = "04A25B1C9D3E80"


@dataclass
class Two:
    http: httpx.Client
    platform: Platform
    store: Store
    a: Driver
    b: Driver
    session_id: str
    vehicle_id: str


@pytest.fixture
def two(store: Store) -> Iterator[Two]:
    store.upsert_operator(make_operator())
    store.upsert_operator(
        Operator(PNC_OPERATOR, "Plugin Power", OperatorProtocol.TCEC,
                 frozenset({Capability.REALTIME, Capability.PLUG_AND_CHARGE}))
    )  # fmt: skip
    station = make_station()
    store.upsert_stations([station], at=station.evses[0].connectors[0].status_at)
    platform = assemble(store)
    with (
        LoopbackServer(platform.app()) as server,
        httpx.Client(base_url=server.url, timeout=20) as http,
    ):
        a, b = signed_up(http), signed_up(http)
        car = http.post(
            "/api/v1/vehicles", headers=a.auth,
            json={"vin": valid_vin(1), "model": "yc-aster", "emaid": valid_emaid(1)},
        )  # fmt: skip
        assert car.status_code == 201, car.text
        now = datetime.now(UTC)
        connector = station.evses[0].connectors[0]
        charging = ChargeSession(
            id="a-session", account_id=a.account_id, operator_id=station.operator_id,
            protocol="tcec", connector_id=connector.id, station_id=station.id,
            method=StartMethod.QR_SCAN, state=SessionState.CHARGING, created_at=now,
            updated_at=now, started_at=now - timedelta(minutes=5), kwh=4.2, kw=50.0,
            idempotency_key="tap-1", vehicle_id=car.json()["id"],
        )  # fmt: skip
        store.create_session(charging)
        yield Two(http, platform, store, a, b, charging.id, car.json()["id"])


def test_b_cannot_read_a_session_or_its_history(two: Two) -> None:
    http, a, b, sid = two.http, two.a, two.b, two.session_id
    assert http.get(f"/api/v1/sessions/{sid}", headers=a.auth).json()["kwh"] == 4.2
    theirs = http.get(f"/api/v1/sessions/{sid}", headers=b.auth)
    missing = http.get("/api/v1/sessions/no-such", headers=b.auth)
    assert (theirs.status_code, missing.status_code) == (404, 404)
    # answered exactly as a session that does not exist: nothing tells B it exists
    assert theirs.json() == json.loads(missing.text.replace("no-such", sid))
    assert http.get("/api/v1/sessions", headers=b.auth).json() == []
    assert [s["id"] for s in http.get("/api/v1/sessions", headers=a.auth).json()] == [sid]
    assert http.get("/api/v1/me", headers=b.auth).json()["sessions"] == 0
    assert http.get("/api/v1/me", headers=a.auth).json()["sessions"] == 1


def test_b_cannot_stop_a_session(two: Two) -> None:
    answer = two.http.post(f"/api/v1/sessions/{two.session_id}/stop", headers=two.b.auth)
    assert answer.status_code == 404
    kept = two.store.get_session(two.session_id)
    assert kept is not None
    assert kept.state is SessionState.CHARGING


def test_b_cannot_start_with_a_car_or_reuse_a_tap(two: Two) -> None:
    body = {"connector_id": make_station().evses[0].connectors[0].id,
            "vehicle_id": two.vehicle_id}  # fmt: skip
    answer = two.http.post("/api/v1/sessions", json=body, headers=two.b.auth)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["code"] == "unknown_vehicle"
    # A's Idempotency-Key is A's: B's request with it is not answered with A's session
    again = two.http.post(
        "/api/v1/sessions", json={"qr": "no such code"},
        headers={**two.b.auth, "Idempotency-Key": "tap-1"},
    )  # fmt: skip
    assert again.status_code == 422
    assert two.session_id not in again.text


def test_b_cannot_follow_a_session_live(two: Two) -> None:
    url = f"/api/v1/events?session={two.session_id}"
    assert two.http.get(url).status_code == 401
    assert two.http.get(url, headers=two.b.auth).status_code == 404
    # the owner's stream carries the session's updates
    got: list[dict[str, object]] = []
    ready = threading.Event()

    def read() -> None:
        with two.http.stream("GET", url, headers=two.a.auth) as response:
            assert response.status_code == 200
            ready.set()
            for line in response.iter_lines():
                if line.startswith("data: "):
                    got.append(json.loads(line[6:]))
                    return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(10)
    kept = two.store.get_session(two.session_id)
    assert kept is not None
    update = SessionUpdated(kept)
    for _ in range(50):  # until the stream is registered and takes it
        two.platform.bus.publish([update])
        reader.join(0.1)
        if got:
            break
    assert got[0]["id"] == two.session_id
    assert got[0]["kwh"] == 4.2


def test_b_cannot_see_or_change_a_car(two: Two) -> None:
    http, a, b, vid = two.http, two.a, two.b, two.vehicle_id
    assert http.get("/api/v1/vehicles", headers=b.auth).json() == []
    assert [v["id"] for v in http.get("/api/v1/vehicles", headers=a.auth).json()] == [vid]
    assert http.get(f"/api/v1/vehicles/{vid}", headers=b.auth).status_code == 404
    for method, path in [
        ("DELETE", f"/api/v1/vehicles/{vid}"),
        ("PUT", f"/api/v1/vehicles/{vid}/plug-and-charge"),
        ("DELETE", f"/api/v1/vehicles/{vid}/plug-and-charge"),
        ("PUT", f"/api/v1/vehicles/{vid}/plug-and-charge/{PNC_OPERATOR}"),
    ]:
        assert http.request(method, path, headers=b.auth).status_code == 404, path
    kept = two.store.get_vehicle(vid)
    assert kept is not None
    assert kept.networks == frozenset()
    # the owner can; B registering A's VIN is a conflict that changes nothing
    on = http.put(f"/api/v1/vehicles/{vid}/plug-and-charge", headers=a.auth)
    assert on.json()["plug_and_charge_networks"] == [PNC_OPERATOR]
    taken = http.post("/api/v1/vehicles", headers=b.auth,
                      json={"vin": valid_vin(1), "model": "other"})  # fmt: skip
    assert taken.status_code == 409
    assert two.store.vehicle_by_vin(valid_vin(1)) == two.store.get_vehicle(vid)
    # the owner removes it: gone, and its plug-and-charge with it
    assert http.delete(f"/api/v1/vehicles/{vid}", headers=a.auth).status_code == 204
    assert two.store.get_vehicle(vid) is None
    assert http.get("/api/v1/vehicles", headers=a.auth).json() == []


DRIVER_ROUTES = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/me/chargers"),
    ("GET", "/api/v1/me/cards"),
    ("POST", "/api/v1/me/cards"),
    ("DELETE", "/api/v1/me/cards/x"),
    ("GET", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions"),
    ("POST", "/api/v1/sessions/preview"),
    ("GET", "/api/v1/sessions/a-session"),
    ("POST", "/api/v1/sessions/a-session/stop"),
    ("GET", "/api/v1/vehicles"),
    ("POST", "/api/v1/vehicles"),
    ("GET", "/api/v1/vehicles/x"),
    ("DELETE", "/api/v1/vehicles/x"),
    ("PUT", "/api/v1/vehicles/x/plug-and-charge"),
    ("DELETE", "/api/v1/vehicles/x/plug-and-charge"),
    ("PUT", f"/api/v1/vehicles/x/plug-and-charge/{PNC_OPERATOR}"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/events?session=a-session"),
]


def test_every_driver_route_needs_a_token_and_ignores_x_account_id(two: Two) -> None:
    body = {"qr": "x", "vin": valid_vin(2), "model": "m", "refresh_token": "r", "uid": CARD}
    for method, path in DRIVER_ROUTES:
        answer = two.http.request(
            method, path, json=body, headers={"X-Account-ID": two.a.account_id}
        )
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json()["detail"]["code"] == "not_signed_in"
    assert two.store.vehicle_by_vin(valid_vin(2)) is None
    assert two.store.card_by_uid(CARD) is None
    paths = {path.split("?")[0] for _, path in DRIVER_ROUTES}
    documented = two.http.get("/openapi.json").json()["paths"]
    for path, operations in documented.items():
        if path.startswith(("/api/v1/sessions", "/api/v1/vehicles", "/api/v1/me")):
            concrete = path.replace("{session_id}", "a-session").replace("{vehicle_id}", "x")
            concrete = concrete.replace("{uid}", "x")
            concrete = concrete.replace("{operator_id}", PNC_OPERATOR)
            assert concrete in paths, f"{path} ({sorted(operations)}) is not checked here"


def test_b_cannot_see_remove_or_take_a_card(two: Two) -> None:
    http, a, b = two.http, two.a, two.b
    added = http.post("/api/v1/me/cards", headers=a.auth,
                      json={"uid": "04:a2:5b:1c:9d:3e:80", "label": "work"})  # fmt: skip
    assert added.status_code == 201, added.text
    assert added.json()["uid"] == CARD
    assert http.get("/api/v1/me/cards", headers=b.auth).json() == []
    mine = http.get("/api/v1/me/cards", headers=a.auth).json()
    assert [(c["uid"], c["label"]) for c in mine] == [(CARD, "work")]
    # B removing A's card is answered as a card that does not exist, and changes nothing
    theirs = http.delete(f"/api/v1/me/cards/{CARD}", headers=b.auth)
    missing = http.delete("/api/v1/me/cards/0011223344", headers=b.auth)
    assert (theirs.status_code, missing.status_code) == (404, 404)
    # B registering A's card is a conflict that does not say whose it is
    taken = http.post("/api/v1/me/cards", headers=b.auth, json={"uid": CARD})
    assert taken.status_code == 409
    assert a.account_id not in taken.text
    kept = two.store.card_by_uid(CARD)
    assert kept is not None
    assert kept.account_id == a.account_id
    # the owner removes it
    assert http.delete("/api/v1/me/cards/04-A2-5B-1C-9D-3E-80", headers=a.auth).status_code == 204
    assert two.store.card_by_uid(CARD) is None
    again = http.post("/api/v1/me/cards", headers=b.auth, json={"uid": CARD})
    assert again.status_code == 201
