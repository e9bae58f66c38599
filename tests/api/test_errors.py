"""Every 4xx of our API in one documented shape (docs/api-errors.md): ``detail`` with ``code``,
``reason``, ``advice`` and ``errors`` — whether an endpoint refused, a lookup found nothing, or
the request itself did not validate. The protocol endpoints keep their protocols' errors."""

from __future__ import annotations

from typing import Any

import httpx

from chargemesh.bootstrap import assemble
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import Store
from tests.drivers import bearer
from tests.factories import make_operator, make_station

SHAPE = {"code", "reason", "advice", "errors"}


def _detail(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"detail"}, body
    detail: dict[str, Any] = body["detail"]
    assert set(detail) == SHAPE, detail
    assert isinstance(detail["code"], str)
    assert detail["code"]
    assert isinstance(detail["reason"], str)
    assert detail["reason"]
    return detail


def test_every_4xx_of_the_api_has_one_shape(store: Store) -> None:
    store.upsert_operator(make_operator())
    station = make_station()
    store.upsert_stations([station], at=station.evses[0].connectors[0].status_at)
    vin = "LDC6144E4K0000019"
    platform = assemble(store)
    with (
        LoopbackServer(platform.app()) as server,
        httpx.Client(base_url=server.url, timeout=10, headers=bearer(platform)) as http,
    ):
        missing = _detail(http.get("/api/v1/stations/313744932:nope"), 404)
        bad_query = _detail(http.get("/api/v1/stations/nearby?lat=north&lon=116"), 422)
        bad_bbox = _detail(http.get("/api/v1/map/clusters?bbox=1,2,3&zoom=4"), 422)
        no_session = _detail(http.get("/api/v1/sessions/nope"), 404)
        unknown_code = _detail(http.post("/api/v1/sessions", json={"qr": "hello"}), 422)
        bad_body = _detail(http.post("/api/v1/vehicles", json={"vin": vin}), 422)
        bad_vin = _detail(http.post("/api/v1/vehicles", json={"vin": "x", "model": "m"}), 422)
        first = http.post("/api/v1/vehicles", json={"vin": vin, "model": "yc-aster"})
        assert first.status_code == 201, first.text
        again = _detail(http.post("/api/v1/vehicles", json={"vin": vin, "model": "m"}), 409)
        emaid = "CN-CMH-C12345678-T"
        mine = {"vin": vin, "model": "m", "emaid": emaid}
        ok = http.post("/api/v1/vehicles", json={**mine, "vin": "LDC6144E3K0000027"})
        assert ok.status_code == 201, ok.text
        other = {**mine, "vin": "LDC6144E2K0000035"}
        taken = _detail(
            http.post("/api/v1/vehicles", json=other, headers=bearer(platform, "b")), 409
        )  # the EMAID is another account's car: a conflict, not a 500
        anonymous = _detail(http.get("/api/v1/sessions", headers={"Authorization": ""}), 401)
        # a protocol endpoint keeps its protocol: T/CEC answers with its own envelope
        tcec = http.post("/tcec/v1/notification_stationStatus", content=b"{}")
    assert missing["code"] == "not_found"
    assert "nope" in missing["reason"]
    assert bad_query["code"] == "invalid_request"
    assert [e["field"] for e in bad_query["errors"]] == ["query.lat"]
    assert "query.lat" in bad_query["reason"]
    assert bad_bbox["code"] == "invalid_request"
    assert "bbox" in bad_bbox["reason"]
    assert no_session["code"] == "not_found"
    assert unknown_code["code"] == "unknown_code"
    assert [e["field"] for e in bad_body["errors"]] == ["body.model"]
    assert bad_vin["code"] == "invalid_request"
    assert "VIN" in bad_vin["reason"]
    assert again["code"] == "conflict"
    assert "already registered" in again["reason"]
    assert taken["code"] == "conflict"
    assert store.vehicle_by_vin("LDC6144E2K0000035") is None  # nothing was written
    assert anonymous["code"] == "not_signed_in"
    assert "detail" not in tcec.json()
