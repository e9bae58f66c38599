"""The platform ``chargemesh sync`` builds (``search=False``) keeps no search index of what it
syncs. With one, every station the sync wrote was read back into the index and the whole index
rebuilt from the store again and again as the registry filled: the sync's CPU grew with the
square of the country and its memory with everything synced (issue 13, item 11)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from chargemesh.bootstrap import assemble
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import Store
from tests.factories import T0, make_operator, make_station
from tests.helpers import wait_for

OP = "313744932"
LON, LAT = 116.4039, 39.9101
SYNCED = 20


def _nearby(url: str) -> set[str]:
    answer = httpx.get(
        f"{url}/api/v1/stations/nearby",
        params={"lon": LON, "lat": LAT, "radius_km": 50, "limit": 100},
        timeout=10,
    )
    assert answer.status_code == 200
    return {s["id"] for s in answer.json()["stations"]}


@pytest.mark.parametrize("search", [True, False])
def test_only_a_searching_platform_indexes_the_registry_and_what_is_synced(
    store: Store, search: bool
) -> None:
    store.upsert_operator(make_operator(OP))
    store.upsert_stations([make_station(OP, "HELD", lon=LON, lat=LAT)], at=T0)  # before start
    platform = assemble(store, search=search)
    with LoopbackServer(platform.app()) as server:
        synced = [make_station(OP, f"S{i}", lon=LON + 0.001 * i, lat=LAT) for i in range(SYNCED)]
        added = store.upsert_stations(synced, at=datetime.now(UTC)).added
        assert len(added) == SYNCED
        platform.bus.publish(added)  # what a sync publishes for each page it writes
        if search:
            wait_for(lambda: len(_nearby(server.url)) == SYNCED + 1)
            return
        # nothing read at start, nothing queued for the index, nothing built since
        assert platform.index.apply_pending() == 0
        assert platform.index.segments == []
        assert _nearby(server.url) == set()
        assert httpx.get(f"{server.url}/readyz", timeout=10).json()["index"] is False
