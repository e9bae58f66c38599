"""Keeping a process's search index current between the events it applies at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from chargemesh.search.index import StationIndex

log = logging.getLogger(__name__)

INDEX_TICK_S = 1.0  # stations added or changed reach search within about this
SWEEP_EVERY_S = 5.0  # availability that aged past its feed's freshness is retired this often
COMPATIBILITY_EVERY_S = 300.0  # the lab's flags reach search this often
#: after a whole rebuild, changed stations wait up to this many times its duration, so a bulk
#: sync (a national first sync) is not followed by rebuild after rebuild: their cost grows with
#: the registry, and back to back they would make the sync quadratic
REBUILD_PACE = 3.0


async def keep_index(index: StationIndex, refresh_compatibility: Callable[[], None]) -> None:
    """Stations added or changed reach the index within ``INDEX_TICK_S``; availability that
    aged out is retired every ``SWEEP_EVERY_S``; many small segments are compacted, and after a
    whole rebuild the next waits ``REBUILD_PACE`` times its duration; the
    compatibility lab's flags are read again every ``COMPATIBILITY_EVERY_S``. Every process
    keeps its own index: this runs in each, not only in the leader."""
    swept = checked = time.monotonic()
    resting_until = 0.0
    while True:
        await asyncio.sleep(INDEX_TICK_S)
        try:
            if time.monotonic() >= resting_until:
                built = index.last_build
                await asyncio.to_thread(index.apply_pending)
                if index.needs_compaction():
                    await asyncio.to_thread(index.build)
                if index.last_build is not built and index.last_build is not None:
                    resting_until = time.monotonic() + REBUILD_PACE * index.last_build.seconds
            if time.monotonic() - swept >= SWEEP_EVERY_S:
                swept = time.monotonic()
                await asyncio.to_thread(index.sweep)
            if time.monotonic() - checked >= COMPATIBILITY_EVERY_S:
                checked = time.monotonic()
                await asyncio.to_thread(refresh_compatibility)
        except Exception:  # keep serving what the index holds; try again next tick
            log.exception("search index upkeep failed")
