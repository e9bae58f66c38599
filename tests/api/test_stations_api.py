"""``GET /api/v1/stations/{id}`` over HTTP on loopback: live status with the feed's freshness
limit applied (a stale "available" is shown as unknown), coordinates, sources, bad input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from chargemesh.bootstrap import assemble
from chargemesh.domain import ConnectorStatus, OperatorProtocol
from chargemesh.geo.coords import gcj02_to_wgs84
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.services.charging.qr import resolve
from chargemesh.store import StatusUpdate, Store
from tests.factories import make_operator, make_station


def test_a_status_older_than_the_feeds_limit_is_shown_as_unknown(store: Store) -> None:
    operator = make_operator()  # freshness: 15 minutes
    store.upsert_operator(operator)
    station = make_station(evses=1, connectors=2)  # observed at T0, long ago
    now = datetime.now(UTC)
    store.upsert_stations([station], at=now)
    fresh, stale = station.evses[0].connectors
    store.apply_status_updates([StatusUpdate(fresh.id, ConnectorStatus.AVAILABLE, now, "test")])
    with LoopbackServer(assemble(store).app()) as server:
        answer = httpx.get(f"{server.url}/api/v1/stations/{station.id}", timeout=10)
        wgs = httpx.get(f"{server.url}/api/v1/stations/{station.id}?coords=wgs84", timeout=10)
        missing = httpx.get(f"{server.url}/api/v1/stations/313744932:nope", timeout=10)
        bad = httpx.get(f"{server.url}/api/v1/stations/{station.id}?coords=bd09", timeout=10)
    assert answer.status_code == 200
    body = answer.json()
    by_id = {c["id"]: c for e in body["evses"] for c in e["connectors"]}
    assert by_id[fresh.id]["status"] == "available"
    assert by_id[stale.id]["reported_status"] == "available"
    assert by_id[stale.id]["status"] == "unknown"  # 2026-11-01 is older than 15 minutes
    assert body["available_connectors"] == 1
    assert body["sources"] == [
        {"station_id": station.id, "operator_id": operator.id, "rule": "self"}
    ]
    assert (body["lon"], body["lat"]) == (station.lon, station.lat)
    lon, lat = gcj02_to_wgs84(station.lon, station.lat)
    assert abs(wgs.json()["lon"] - lon) < 1e-9
    assert abs(wgs.json()["lat"] - lat) < 1e-9
    assert missing.status_code == 404
    assert bad.status_code == 422


def test_every_connector_carries_its_printed_code_and_the_code_starts_it(store: Store) -> None:
    """``qr`` is what the connector's QR code carries: scanning it finds that connector again
    (an OCPI EVSE id finds its EVSE, whose connectors cannot charge at once)."""
    tcec = make_operator()
    ocpi = replace(make_operator("CN-TLN", "Tianlan"), protocol=OperatorProtocol.OCPI)
    for op in (tcec, ocpi):
        store.upsert_operator(op)
    with_codes = make_station("CN-TLN", "L1", evses=2)
    coded = replace(with_codes.evses[0], evse_code="CN*TLN*E1001")
    ocpi_station = replace(with_codes, evses=(coded, with_codes.evses[1]))  # one without a code
    tcec_station = make_station(evses=2, connectors=2)
    store.upsert_stations([tcec_station, ocpi_station], at=datetime.now(UTC))
    with LoopbackServer(assemble(store).app()) as server:
        bodies = [
            httpx.get(f"{server.url}/api/v1/stations/{s.id}", timeout=10).json()
            for s in (tcec_station, ocpi_station)
        ]
    codes = {
        c["id"]: (e["id"], c["qr"]) for b in bodies for e in b["evses"] for c in e["connectors"]
    }
    assert len(codes) == 8
    first_tcec = tcec_station.evses[0].connectors[0]
    assert codes[first_tcec.id][1] == f"hlht://{first_tcec.source_id}.{tcec.id}/"
    assert codes[coded.connectors[0].id][1] == "CN*TLN*E1001"
    uncoded = ocpi_station.evses[1].connectors[0]
    assert codes[uncoded.id][1] == f"chargemesh://c/{quote(uncoded.id, safe='')}"
    for connector_id, (evse_id, code) in codes.items():
        found = resolve(store, code).connector
        if code.startswith("CN*"):
            assert found.evse_id == evse_id
        else:
            assert found.id == connector_id, code
