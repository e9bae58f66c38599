"""One client cannot make an answer unbounded nor stall the others (issue 19, item 8): the
clusters of a viewport hold at most ``MAX_FEATURES`` features however far the map is zoomed in
on the whole world, and the heavy searches run off the event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chargemesh.api import search as search_api
from chargemesh.bootstrap import assemble
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.search import queries
from chargemesh.store import Store
from tests.factories import make_operator, make_station

OP = "313744932"
GRID = 20  # 400 stations, spread over China on a grid


@pytest.fixture
def url(store: Store) -> Iterator[str]:
    store.upsert_operator(make_operator(OP))
    stations = [make_station(OP, f"S{i}-{j}", lon=80 + i * 2.0, lat=20 + j * 1.2)
                for i in range(GRID) for j in range(GRID)]  # fmt: skip
    store.upsert_stations(stations, at=datetime.now(UTC))
    with LoopbackServer(assemble(store).app()) as server:
        yield server.url


def world(url: str, zoom: int) -> dict[str, Any]:
    answer = httpx.get(f"{url}/api/v1/map/clusters", timeout=30,
                       params={"bbox": "-180,-85,180,85", "zoom": zoom})  # fmt: skip
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def stations_in(features: list[dict[str, Any]]) -> int:
    return sum(f["properties"].get("count", 1) for f in features)


def test_the_whole_world_at_street_level_is_clustered_to_a_bounded_answer(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = world(url, 22)  # within the bound: every station on its own
    assert every["stations"] == GRID * GRID
    assert len(every["features"]) == GRID * GRID
    assert {f["properties"]["kind"] for f in every["features"]} == {"station"}

    monkeypatch.setattr(queries, "MAX_FEATURES", 50)
    for zoom in (22, 16, 12, 8):
        bounded = world(url, zoom)
        assert bounded["stations"] == GRID * GRID
        assert 0 < len(bounded["features"]) <= 50, zoom
        assert stations_in(bounded["features"]) == GRID * GRID  # nothing dropped, only grouped
        assert any(f["properties"]["kind"] == "cluster" for f in bounded["features"])


def test_a_heavy_search_does_not_stall_an_unrelated_request(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = queries.clusters

    def slow_clusters(*args: Any) -> Any:  # stands for a whole country's viewport under load
        time.sleep(1.5)
        return real(*args)

    monkeypatch.setattr(search_api, "clusters", slow_clusters)
    heavy = threading.Thread(target=world, args=(url, 5))
    heavy.start()
    time.sleep(0.2)  # the heavy request is being worked on
    began = time.monotonic()
    answer = httpx.get(f"{url}/api/v1/stations/nearby", params={"lat": 30, "lon": 100},
                       timeout=10)  # fmt: skip
    took = time.monotonic() - began
    assert answer.status_code == 200
    assert heavy.is_alive(), "the heavy request ended first: nothing shown"
    assert took < 1.0, f"an unrelated nearby waited {took:.2f} s behind a clusters request"
    heavy.join()
