"""The search API over HTTP on loopback, against both stores: nearby, clusters, route, every
filter, ``coords=wgs84``, the index kept current from events, and bad parameters → 422."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chargemesh.bootstrap import Platform, assemble
from chargemesh.domain import AccessMethod, ConnectorStatus, Station
from chargemesh.domain.session import ChargeAttempt, StartMethod
from chargemesh.geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.search.queries import encode_polyline
from chargemesh.store import StatusUpdate, Store
from tests.factories import make_operator, make_station
from tests.helpers import wait_for

OP, OTHER = "313744932", "MA7QYEV02"
# Along a line east of Tiananmen: 0, ~1.7, ~4.3 and ~8.5 km away (0.02° of lon ≈ 1.7 km here)
BEIJING = (116.4039, 39.9101)
SHANGHAI = (121.4737, 31.2304)


def _station(source_id: str, lon: float, lat: float, op: str = OP, **kw: Any) -> Station:
    return make_station(op, source_id, lon=lon, lat=lat, **kw)


def _ac_only(station: Station) -> Station:
    """The station with only its AC pile (7 kW GB/T AC)."""
    return replace(station, evses=station.evses[1:])


@dataclass
class Api:
    url: str
    store: Store
    platform: Platform

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=10)

    def nearby(self, **params: Any) -> list[str]:
        answer = self.get("/api/v1/stations/nearby", **params)
        assert answer.status_code == 200, answer.text
        return [s["id"] for s in answer.json()["stations"]]


@pytest.fixture
def api(store: Store) -> Iterator[Api]:
    store.upsert_operator(make_operator(OP))
    store.upsert_operator(make_operator(OTHER, "Qiyuan Charging"))
    now = datetime.now(UTC)
    lon, lat = BEIJING
    stations = [
        _station("S0", lon, lat),  # DC 120 kW + AC 7 kW
        _station("S1", lon + 0.02, lat),
        _ac_only(_station("S2", lon + 0.05, lat)),
        _station("S3", lon + 0.10, lat, op=OTHER),
        _station("SH", *SHANGHAI),
    ]
    store.upsert_stations(stations, at=now)
    # S1's DC gun is available and fresh; everything else was observed at T0 (stale).
    fresh = stations[1].evses[0].connectors[0]
    store.apply_status_updates([StatusUpdate(fresh.id, ConnectorStatus.AVAILABLE, now, "test")])
    platform = assemble(store)
    with LoopbackServer(platform.app()) as server:
        yield Api(server.url, store, platform)


def test_nearby_is_sorted_by_distance_within_the_radius(api: Api) -> None:
    lon, lat = BEIJING
    answer = api.get("/api/v1/stations/nearby", lon=lon, lat=lat, radius_km=20, limit=10)
    body = answer.json()
    ids = [s["id"] for s in body["stations"]]
    assert ids == [f"{OP}:S0", f"{OP}:S1", f"{OP}:S2", f"{OTHER}:S3"]
    distances = [s["distance_km"] for s in body["stations"]]
    assert distances[0] < 0.01
    assert 1.6 < distances[1] < 1.8  # 0.02° of longitude at 39.9° N
    assert distances == sorted(distances)
    first = body["stations"][1]
    assert first["operator_id"] == OP
    assert first["max_power_kw"] == 120.0
    assert first["connectors"] == 4
    assert first["available"] == 1  # only the fresh one; stale "available" is not counted
    assert sorted(first["access_methods"]) == ["app_start", "scan"]
    assert api.nearby(lon=lon, lat=lat, radius_km=5) == [f"{OP}:S0", f"{OP}:S1", f"{OP}:S2"]
    assert api.nearby(lon=lon, lat=lat, radius_km=20, limit=2) == [f"{OP}:S0", f"{OP}:S1"]
    assert api.nearby(lon=SHANGHAI[0], lat=SHANGHAI[1], radius_km=1) == [f"{OP}:SH"]


def test_nearby_filters_hold_on_one_connector(api: Api) -> None:
    lon, lat = BEIJING
    near = {"lon": lon, "lat": lat, "radius_km": 20}
    every = [f"{OP}:S0", f"{OP}:S1", f"{OP}:S2", f"{OTHER}:S3"]
    assert api.nearby(**near, connector="gbt_dc") == [s for s in every if s != f"{OP}:S2"]
    assert api.nearby(**near, connector="gbt_ac") == every
    assert api.nearby(**near, connector="gbt_ac", min_kw=60) == []  # AC guns are 7 kW
    assert api.nearby(**near, min_kw=60) == [s for s in every if s != f"{OP}:S2"]
    assert api.nearby(**near, available="true") == [f"{OP}:S1"]  # fresh and available
    assert api.nearby(**near, available="true", connector="gbt_ac") == []
    assert api.nearby(**near, operator=OTHER) == [f"{OTHER}:S3"]
    assert api.nearby(**near, access="scan") == every
    assert api.nearby(**near, access="plug_and_charge") == []
    # several values of a filter: any of them
    assert api.nearby(**near, operator=[OP, OTHER]) == every


def test_wgs84_coordinates_in_and_out(api: Api) -> None:
    wlon, wlat = gcj02_to_wgs84(*BEIJING)
    answer = api.get(
        "/api/v1/stations/nearby", lon=wlon, lat=wlat, radius_km=1, limit=1, coords="wgs84"
    ).json()
    assert answer["coords"] == "wgs84"
    [hit] = answer["stations"]
    assert hit["id"] == f"{OP}:S0"
    assert hit["distance_km"] < 0.01
    assert abs(hit["lon"] - wlon) < 1e-6
    assert abs(hit["lat"] - wlat) < 1e-6
    # GCJ-02 is ~500 m off WGS-84 in Beijing: the same numbers read as GCJ-02 miss S0
    gcj = api.get("/api/v1/stations/nearby", lon=wlon, lat=wlat, radius_km=0.1).json()
    assert gcj["stations"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lat": 91, "lon": 116, "radius_km": 5}, "lat"),
        ({"lat": 39, "lon": 181, "radius_km": 5}, "lon"),
        ({"lat": 39, "lon": 116, "radius_km": 0}, "radius_km"),
        ({"lat": 39, "lon": 116, "radius_km": 501}, "radius_km"),
        ({"lat": 39, "lon": 116, "limit": 0}, "limit"),
        ({"lat": 39, "lon": 116, "connector": "tesla_v1"}, "gbt_dc"),  # lists what is allowed
        ({"lat": 39, "lon": 116, "access": "magic"}, "plug_and_charge"),
        ({"lat": 39, "lon": 116, "min_kw": -1}, "min_kw"),
        ({"lat": 39, "lon": 116, "operator": "NOPE"}, "unknown operator 'NOPE'"),
        ({"lat": 39, "lon": 116, "coords": "bd09"}, "wgs84"),
        ({"lon": 116}, "lat"),
    ],
)
def test_bad_nearby_parameters_are_422_with_a_clear_message(
    api: Api, params: dict[str, Any], message: str
) -> None:
    answer = api.get("/api/v1/stations/nearby", **params)
    assert answer.status_code == 422
    assert message in answer.text


def test_clusters_group_by_zoom_and_split_as_it_grows(api: Api) -> None:
    china = "73,18,135,54"
    low = api.get("/api/v1/map/clusters", bbox=china, zoom=3)
    assert low.status_code == 200
    body = low.json()
    assert body["type"] == "FeatureCollection"
    assert body["stations"] == 5
    kinds = sorted(
        (f["properties"]["kind"], f["properties"].get("count")) for f in body["features"]
    )
    assert kinds == [("cluster", 4), ("station", None)]  # Beijing's four; Shanghai alone
    cluster = next(f for f in body["features"] if f["properties"]["kind"] == "cluster")
    lon, lat = cluster["geometry"]["coordinates"]
    assert BEIJING[0] < lon < BEIJING[0] + 0.1  # the mean of its stations
    assert abs(lat - BEIJING[1]) < 1e-9
    assert cluster["properties"]["connectors"] == 4 + 4 + 2 + 4
    assert cluster["properties"]["available"] == 1
    assert cluster["properties"]["expansion_zoom"] > 3
    high = api.get("/api/v1/map/clusters", bbox="116,39.5,117,40.5", zoom=16).json()
    assert sorted(f["properties"]["id"] for f in high["features"]) == [
        f"{OP}:S0", f"{OP}:S1", f"{OP}:S2", f"{OTHER}:S3"
    ]  # fmt: skip
    station = next(f for f in high["features"] if f["properties"]["id"] == f"{OP}:S1")
    assert station["properties"]["name"] == "Station S1"
    assert station["geometry"]["coordinates"] == [BEIJING[0] + 0.02, BEIJING[1]]
    filtered = api.get("/api/v1/map/clusters", bbox=china, zoom=3, min_kw=60).json()
    assert filtered["stations"] == 4  # the AC-only station is gone
    wgs = api.get("/api/v1/map/clusters", bbox="121,31,122,32", zoom=16, coords="wgs84").json()
    [sh] = wgs["features"]  # bbox read as WGS-84 still holds Shanghai
    assert sh["geometry"]["coordinates"] == pytest.approx(list(gcj02_to_wgs84(*SHANGHAI)))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bbox": "1,2,3", "zoom": 4}, "four numbers"),
        ({"bbox": "a,b,c,d", "zoom": 4}, "four numbers"),
        ({"bbox": "120,30,110,40", "zoom": 4}, "west < east"),
        ({"bbox": "110,30,120,95", "zoom": 4}, "latitudes"),
        ({"bbox": "110,30,190,40", "zoom": 4}, "longitudes"),
        ({"bbox": "110,30,120,40", "zoom": 23}, "zoom"),
        ({"bbox": "110,30,120,40", "zoom": "x"}, "zoom"),
        ({"bbox": "110,30,120,40"}, "zoom"),
        ({"bbox": "110,30,120,40", "zoom": 4, "connector": "xyz"}, "gbt_ac"),
    ],
)
def test_bad_cluster_parameters_are_422_with_a_clear_message(
    api: Api, params: dict[str, Any], message: str
) -> None:
    answer = api.get("/api/v1/map/clusters", **params)
    assert answer.status_code == 422
    assert message in answer.text


def test_route_keeps_the_corridor_in_order_along_the_route(api: Api) -> None:
    lon, lat = BEIJING
    # westward from east of S3 to west of S0, passing 0.5 km north of the line of stations
    north = lat + 0.0045
    route = encode_polyline([(lon + 0.2, north), (lon - 0.1, north)])
    answer = api.get("/api/v1/route/stations", polyline=route, corridor_km=1)
    assert answer.status_code == 200
    body = answer.json()
    assert [s["id"] for s in body["stations"]] == [
        f"{OTHER}:S3", f"{OP}:S2", f"{OP}:S1", f"{OP}:S0"
    ]  # fmt: skip
    assert all(0.45 < s["distance_km"] < 0.55 for s in body["stations"])
    along = [s["along_km"] for s in body["stations"]]
    assert along == sorted(along)
    assert 25 < body["route_km"] < 26  # 0.3° of longitude at 39.9° N
    assert (
        api.get("/api/v1/route/stations", polyline=route, corridor_km=0.4).json()["stations"] == []
    )
    dc = api.get("/api/v1/route/stations", polyline=route, corridor_km=1, connector="gbt_dc")
    assert f"{OP}:S2" not in [s["id"] for s in dc.json()["stations"]]
    # the same route given in WGS-84
    wgs = encode_polyline([gcj02_to_wgs84(lon + 0.2, north), gcj02_to_wgs84(lon - 0.1, north)])
    again = api.get("/api/v1/route/stations", polyline=wgs, corridor_km=1, coords="wgs84")
    assert [s["id"] for s in again.json()["stations"]] == [s["id"] for s in body["stations"]]


@pytest.mark.parametrize(
    ("polyline", "message"),
    [("_p~iF~ps|U_ulL", "ends in the middle"), ("_p~iF", "ends in the middle"),
     ("??", "at least two points"), ("~~~~~~~~~~~~~~~~~~~~~~~~", "polyline")],
)  # fmt: skip
def test_a_bad_polyline_is_422(api: Api, polyline: str, message: str) -> None:
    answer = api.get("/api/v1/route/stations", polyline=polyline)
    assert answer.status_code == 422
    assert message in answer.text


def test_the_index_follows_status_and_station_events_without_a_rebuild(api: Api) -> None:
    lon, lat = BEIJING
    near = {"lon": lon, "lat": lat, "radius_km": 20}
    builds = api.platform.index.segments[0]
    s0 = api.store.get_station(f"{OP}:S0")
    assert s0 is not None
    first, second = s0.evses[0].connectors
    now = datetime.now(UTC)

    def apply(*updates: StatusUpdate) -> None:  # as the status writer does for a push
        api.platform.bus.publish(api.store.apply_status_updates(list(updates)).events)

    # a change is seen by the next query…
    apply(StatusUpdate(first.id, ConnectorStatus.CHARGING, now, "test"))
    assert api.nearby(**near, connector="gbt_dc", available="true") == [f"{OP}:S1"]
    # …and so is a stale "available" confirmed now (no change: only its time moved)
    apply(StatusUpdate(second.id, ConnectorStatus.AVAILABLE, now, "test"))
    assert api.nearby(**near, available="true") == [f"{OP}:S0", f"{OP}:S1"]
    apply(StatusUpdate(second.id, ConnectorStatus.FAULTED, now, "test"))
    assert api.nearby(**near, available="true") == [f"{OP}:S1"]
    # a new station reaches search within the index's tick; a removed one leaves it
    lon4, lat4 = wgs84_to_gcj02(116.45, 39.95)
    added = api.store.upsert_stations([_station("S4", lon4, lat4)], at=datetime.now(UTC))
    api.platform.bus.publish(added.added)
    wait_for(lambda: f"{OP}:S4" in api.nearby(**near), timeout_s=5.0, poll_s=0.05)
    api.platform.bus.publish(api.store.remove_stations([f"{OP}:S1"], at=datetime.now(UTC)))
    assert f"{OP}:S1" not in api.nearby(**near)
    assert api.platform.index.segments[0] is builds  # no rebuild: the base segment is the same


def test_a_stale_available_is_retired_by_the_sweep(api: Api) -> None:
    lon, lat = BEIJING
    assert api.nearby(lon=lon, lat=lat, radius_km=20, available="true") == [f"{OP}:S1"]
    api.platform.index.sweep(now=time.time() + 16 * 60)  # 16 minutes on: past the 15 allowed
    assert api.nearby(lon=lon, lat=lat, radius_km=20, available="true") == []


def test_the_station_detail_has_the_operator_and_the_price(api: Api) -> None:
    body = api.get(f"/api/v1/stations/{OP}:S0").json()
    assert body["operator"] == {"id": OP, "name": "Lanting Charging",
                                "capabilities": ["realtime", "scan"]}  # fmt: skip
    assert body["tariff"] is None  # the factory's stations have none


def test_the_openapi_schema_documents_the_search_endpoints(api: Api) -> None:
    schema = api.get("/openapi.json").json()
    for path in ("/api/v1/stations/nearby", "/api/v1/map/clusters", "/api/v1/route/stations",
                 "/api/v1/events", "/api/v1/stations/{station_id}"):  # fmt: skip
        assert "get" in schema["paths"][path], path
    nearby = schema["paths"]["/api/v1/stations/nearby"]["get"]
    names = {p["name"] for p in nearby["parameters"]}
    assert {"lat", "lon", "radius_km", "limit", "connector", "min_kw", "available",
            "operator", "access", "coords"} <= names  # fmt: skip
    ok = nearby["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/NearbyOut"}
    assert AccessMethod.PLUG_AND_CHARGE.value in str(schema["components"])


@pytest.mark.parametrize(
    ("params", "message"),
    [({"bbox": "1,2,3"}, "four numbers"), ({"bbox": "10,10,5,20"}, "west < east"),
     ({"coords": "bd09"}, "wgs84")],
)  # fmt: skip
def test_a_bad_event_stream_request_is_422(api: Api, params: dict[str, Any], message: str) -> None:
    answer = api.get("/api/v1/events", **params)
    assert answer.status_code == 422
    assert message in answer.text


def test_a_vehicle_is_steered_away_from_chargers_known_to_fail_with_it(api: Api) -> None:
    lon, lat = BEIJING
    # the lab: "Aurora S7" fails on Huaxin HX-120 firmware 2.4.1 (the DC piles here), 40 of 100
    attempts = [
        ChargeAttempt(
            f"a{i}", datetime.now(UTC), OP, StartMethod.QR_SCAN,
            "failure" if i < 40 else "success", vehicle_model="aurora-s7",
            charger_manufacturer="Huaxin Power", charger_model="HX-120", firmware="2.4.1",
            failure_reason="BMS handshake timeout" if i < 40 else None, source="lab",
        )
        for i in range(100)
    ]  # fmt: skip
    api.store.add_attempts(attempts)
    api.platform.refresh_compatibility()
    near = {"lon": lon, "lat": lat, "radius_km": 20}
    plain = api.nearby(**near, connector="gbt_dc")
    assert plain == [f"{OP}:S0", f"{OP}:S1", f"{OTHER}:S3"]
    body = api.get("/api/v1/stations/nearby", **near, connector="gbt_dc", vehicle="aurora-s7")
    stations = body.json()["stations"]
    assert [s["id"] for s in stations] == plain  # every DC gun here is an HX-120 on 2.4.1…
    assert all("60% of 100 test starts" in s["compatibility_warning"] for s in stations)
    # …but with AC allowed, the stations' 7 kW guns work: no warning, and they come first
    mixed = api.get("/api/v1/stations/nearby", **near, vehicle="aurora-s7").json()["stations"]
    assert all("compatibility_warning" not in s for s in mixed)
    other_car = api.get("/api/v1/stations/nearby", **near, connector="gbt_dc", vehicle="kestrel")
    assert all("compatibility_warning" not in s for s in other_car.json()["stations"])


def test_many_stations_at_once_are_taken_in_by_a_rebuild(api: Api) -> None:
    lon, lat = BEIJING
    index = api.platform.index
    index.rebuild_above = 1  # two stations at once: more than the index reads one by one
    base = index.segments[0]
    news = [_station(f"N{i}", lon + 0.001 * i, lat + 0.01) for i in range(2)]
    api.platform.bus.publish(api.store.upsert_stations(news, at=datetime.now(UTC)).added)
    near = {"lon": lon, "lat": lat, "radius_km": 20, "limit": 20}
    wait_for(lambda: {f"{OP}:N0", f"{OP}:N1"} <= set(api.nearby(**near)))
    assert index.segments[0] is not base  # rebuilt
    assert len(index.segments) == 1
