"""Nearby over an index of several segments (a station added after the build lives in a newer
one): the nearest first across segments, each station once, its summary read column-wise as
one station's summary reads it, and distances as the great circle gives them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chargemesh.bus import EventBus
from chargemesh.domain import ConnectorStandard
from chargemesh.search.filters import SearchFilter
from chargemesh.search.index import StationIndex
from chargemesh.search.queries import nearby, station_summaries, station_summary
from chargemesh.search.segment import EARTH_KM
from chargemesh.store import open_store
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
