"""The index upkeep paces whole rebuilds: while stations keep arriving in bulk (a national first
sync), one rebuild is followed by a rest of ``REBUILD_PACE`` times its duration, not by the next
rebuild a tick later — back to back, their cost (growing with the registry) made a sync
quadratic. Once the bulk is over, what is pending still reaches search."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path

from chargemesh.search.index import BuildReport, StationIndex
from chargemesh.search.upkeep import REBUILD_PACE, keep_index
from chargemesh.store import Store, open_store
from tests.factories import make_operator, make_station

BUILD_S = 1.0  # what each rebuild takes here, as a big registry's would


class SlowIndex(StationIndex):
    """A real index over a real store whose rebuilds take ``BUILD_S``, counted."""

    builds = 0

    def build(self) -> BuildReport:
        time.sleep(BUILD_S)
        self.builds += 1
        report = super().build()
        self.last_build = BuildReport(report.stations, report.connectors, BUILD_S)
        return report


async def _upkeep_while_stations_arrive(index: SlowIndex, store: Store, seconds: float) -> None:
    task = asyncio.create_task(keep_index(index, lambda: None))
    stop = time.monotonic() + seconds
    n = 0
    while time.monotonic() < stop:  # a bulk sync: more than rebuild_above changed every tick
        stations = [
            make_station(source_id=f"B{n + i:05d}", evses=1, connectors=1) for i in range(3)
        ]
        n += 3
        store.upsert_stations(stations, at=datetime.now(UTC))
        for s in stations:
            index._pending.add(s.id)  # what a StationAdded event does
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.5 + REBUILD_PACE * BUILD_S)  # the bulk is over: the rest runs out
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_rebuilds_rest_between_them_while_stations_pour_in(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'registry.db'}") as store:  # pacing, not SQL
        store.upsert_operator(make_operator())
        index = SlowIndex(store)
        index.build()
        index.builds = 0
        index.rebuild_above = 1  # every tick's arrivals are "many": each would rebuild
        asyncio.run(_upkeep_while_stations_arrive(index, store, 8.0))
        # 13.5 s in all. Unpaced: a rebuild every tick (1 s) plus its 1 s, about 6. Paced: each
        # is followed by 3 s of rest: one at the start, one mid-bulk, one for what is left.
        assert 1 <= index.builds <= 3, index.builds
        # nothing is lost: every station that arrived is found once the bulk is over
        assert not index._pending
        assert index.stations == len(store.station_ids("313744932"))
