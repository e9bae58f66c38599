"""Nearby over an index of several segments (a station added after the build lives in a newer
one): the nearest first across segments, each station once, its summary read column-wise as
one station's summary reads it, and distances as the great circle gives them."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest

from chargemesh.api.search import _hits_out, nearby_json
from chargemesh.api.search_params import Coords
from chargemesh.bus import EventBus
from chargemesh.domain import AccessMethod, ConnectorStandard
from chargemesh.search.filters import SearchFilter
from chargemesh.search.index import StationIndex
from chargemesh.search.queries import Hit, nearby, station_summaries, station_summary
from chargemesh.search.segment import EARTH_KM, SegmentBuilder
from chargemesh.store import open_store
from chargemesh.store.codec import join_set
from tests.factories import make_operator, make_station

LON, LAT = 116.4039, 39.9101


def _great_circle_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


@pytest.fixture
def index(tmp_path: Path) -> Iterator[StationIndex]:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.upsert_operator(make_operator())
    now = datetime.now(UTC)
    store.upsert_stations(
        [make_station(source_id=f"A{i}", lon=LON + 0.01 * i, lat=LAT) for i in range(0, 8, 2)],
        at=now,
    )
    index = StationIndex(store)
    bus = EventBus()
    index.subscribe(bus)
    index.build()
    later = [make_station(source_id=f"B{i}", lon=LON + 0.01 * i, lat=LAT) for i in range(1, 8, 2)]
    bus.publish(store.upsert_stations(later, at=now).added)
    index.apply_pending()
    assert len(index.segments) == 2
    yield index
    store.close()


def test_nearby_takes_the_nearest_of_every_segment_in_order(index: StationIndex) -> None:
    hits = nearby(index, LON, LAT, 100.0, 5, SearchFilter())
    ids = [h.segment.ids[h.row].rsplit(":", 1)[1] for h in hits]
    assert ids == ["A0", "B1", "A2", "B3", "A4"]
    for hit in hits:
        lon, lat = float(hit.segment.lon[hit.row]), float(hit.segment.lat[hit.row])
        assert hit.distance_km == pytest.approx(_great_circle_km(LON, LAT, lon, lat), abs=1e-6)
    assert [h.segment for h in nearby(index, LON, LAT, 100.0, 1, SearchFilter())] == [
        hits[0].segment
    ]  # one wanted: the tree's scalar answer
    assert nearby(index, LON, LAT, 0.5, 5, SearchFilter()) == hits[:1]  # the radius holds
    only_dc = SearchFilter(standards=frozenset({ConnectorStandard.GBT_DC}), min_kw=60)
    assert nearby(index, LON, LAT, 100.0, 3, only_dc) == hits[:3]  # all have a 120 kW DC gun


def test_summaries_read_column_wise_are_each_stations_summary(index: StationIndex) -> None:
    hits = nearby(index, LON, LAT, 100.0, 8, SearchFilter())
    assert len({id(h.segment) for h in hits}) == 2
    assert station_summaries(index, hits) == [station_summary(index, h) for h in hits]
    assert station_summaries(index, hits[::-1]) == [station_summary(index, h) for h in hits[::-1]]
    first = station_summaries(index, hits)[0]
    assert all(type(first[k]) is float for k in ("lon", "lat", "max_power_kw"))
    assert all(type(first[k]) is int for k in ("connectors", "available"))
    assert type(first["highway_service_area"]) is bool
    assert station_summaries(index, []) == []


def test_the_answer_written_from_cached_parts_is_what_orjson_writes_of_the_summaries(
    index: StationIndex,
) -> None:
    """The nearby body is written from each station's parts cached as bytes: byte for byte
    the dicts of ``_hits_out`` as orjson writes them, in both coordinate systems, with a
    compatibility warning, and with the live count read anew after the parts were cached."""
    store = index.store
    odd = make_station(source_id="Q1", lon=LON + 0.005, lat=LAT + 0.001,
                       name='青穹 "quoted" \\ back\tslash ☃ ,"available":0,"access_methods":'
                            ' ,"distance_km":0}')  # fmt: skip
    bus = EventBus()
    index.subscribe(bus)
    bus.publish(store.upsert_stations([odd], at=datetime.now(UTC)).added)
    index.apply_pending()

    def orjson_of(hits: list[Hit], coords: Coords) -> bytes:
        stations = _hits_out(index, hits, coords, route=False)
        return orjson.dumps({"coords": coords, "count": len(stations), "stations": stations})

    for coords in ("gcj02", "wgs84"):
        hits = nearby(index, LON, LAT, 100.0, 20, SearchFilter())
        assert len(hits) == 9
        assert nearby_json(index, hits, coords) == orjson_of(hits, coords)
        hits[2] = dataclasses.replace(hits[2], warning='fails with this car\'s "firmware"')
        assert nearby_json(index, hits, coords) == orjson_of(hits, coords)
        assert nearby_json(index, [], coords) == orjson_of([], coords)
    kept = [p for seg in index.segments for p in seg.json_parts if p is not None]
    assert len(kept) == 9  # the plain GCJ-02 answer was written from kept parts
    assert any(b"quoted" in head for head, _ in kept)
    # a connector turns available after the parts were cached: the count is read anew
    hit = nearby(index, LON, LAT, 100.0, 1, SearchFilter())[0]
    before = json.loads(nearby_json(index, [hit], "gcj02"))["stations"][0]["available"]
    hit.segment.available[hit.row] += 1
    after = json.loads(nearby_json(index, [hit], "gcj02"))["stations"][0]["available"]
    assert after == before + 1
    assert nearby_json(index, [hit], "gcj02") == orjson_of([hit], "gcj02")


def test_the_filters_read_off_station_columns_pass_the_stations_a_connector_check_passes() -> None:
    """Random stations and connectors, random filters: the stations :meth:`Segment.pass_rows`
    keeps (read off per-station columns first, checked connector by connector only where
    several conditions must hold on one connector) are those with a connector that passes
    every connector filter."""
    rng = random.Random(19)
    standards = ["gbt_dc", "gbt_ac", "ccs2", "chademo"]
    accesses = [a.value for a in AccessMethod]
    stations, connectors = [], []
    for s in range(400):
        sid = f"OP:{s}"
        stations.append((sid, "OP", f"S{s}", 116 + rng.random(), 39 + rng.random(), False, None))
        for c in range(rng.randint(0, 5)):
            access = join_set(frozenset(rng.sample(accesses, rng.randint(0, 3))))
            connectors.append((
                f"{sid}:{c}", sid, rng.choice(standards), rng.choice([7.0, 60.0, 120.0, 250.0]),
                access, rng.choice(["available", "charging", "faulted"]), datetime.now(UTC),
                None, None, None,
            ))  # fmt: skip
    builder = SegmentBuilder(stations, {"OP": 0}, {})
    builder.add_connectors(connectors)
    seg = builder.build()
    seg.refresh_available(datetime.now(UTC).timestamp(), np.array([900.0]))
    rows = np.arange(len(seg), dtype=np.int64)
    no_operators = np.zeros(0, np.int16)
    for _ in range(300):
        f = SearchFilter(
            standards=frozenset(ConnectorStandard(x) for x in rng.sample(standards,
                                                                          rng.randint(0, 2))),
            min_kw=rng.choice([0.0, 0.0, 60.0, 120.0, 200.0]),
            available=rng.random() < 0.4,
            access=frozenset(AccessMethod(a) for a in rng.sample(accesses, rng.randint(0, 2))),
        )  # fmt: skip
        ok = seg.connector_mask(None, f)
        wanted = np.array([ok[seg.c_start[r] : seg.c_start[r + 1]].any() for r in rows])
        if not f.on_connectors:  # no connector filter: every station, connectors or none
            wanted[:] = True
        assert (seg.pass_rows(rows, f, no_operators) == wanted).all(), f
        assert (seg.pass_rows(rows[::3], f, no_operators) == wanted[::3]).all(), f
