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


async def keep_index(index: StationIndex, refresh_compatibility: Callable[[], None]) -> None:
    """Stations added or changed reach the index within ``INDEX_TICK_S``; availability that
    aged out is retired every ``SWEEP_EVERY_S``; many small segments are compacted; the
    compatibility lab's flags are read again every ``COMPATIBILITY_EVERY_S``. Every process
    keeps its own index: this runs in each, not only in the leader."""
    swept = checked = time.monotonic()
    while True:
        await asyncio.sleep(INDEX_TICK_S)
        try:
            await asyncio.to_thread(index.apply_pending)
            if index.needs_compaction():
                await asyncio.to_thread(index.build)
            if time.monotonic() - swept >= SWEEP_EVERY_S:
                swept = time.monotonic()
                await asyncio.to_thread(index.sweep)
            if time.monotonic() - checked >= COMPATIBILITY_EVERY_S:
                checked = time.monotonic()
                await asyncio.to_thread(refresh_compatibility)
        except Exception:  # keep serving what the index holds; try again next tick
            log.exception("search index upkeep failed")
