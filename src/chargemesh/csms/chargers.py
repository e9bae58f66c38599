"""The registered chargers a node serves, read from the store and kept a short while: a
connection, its boot and its messages need the charger's record without a query each."""

from __future__ import annotations

import asyncio
import time
from typing import Final

from chargemesh.domain.own import OwnCharger
from chargemesh.store import Store

TTL_S: Final = 30.0


class Chargers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._held: dict[str, tuple[float, OwnCharger]] = {}

    async def get(self, charger_id: str, *, fresh: bool = False) -> OwnCharger | None:
        held = self._held.get(charger_id)
        now = time.monotonic()
        if held is not None and not fresh and now - held[0] < TTL_S:
            return held[1]
        found = await asyncio.to_thread(self.store.own_charger, charger_id)
        if found is not None:  # unknown ids are not kept: anyone may knock with any id
            self._held[charger_id] = (now, found)
        return found

    def forget(self, charger_id: str) -> None:
        self._held.pop(charger_id, None)
