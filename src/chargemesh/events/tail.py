"""The other worker processes' events, read from the shared outbox (``[server] workers``).

Each worker's relay hands its own commits to its bus at once (:mod:`chargemesh.events.relay`).
What the other workers commit reaches it here: the outbox is read after the last id seen every
``every_s`` and handed to the bus as another node's (``remote``: the handlers kept for the
committing process's own events skip it). Before each hand-over the relay is flushed, so this
process's own commits, read back here too, have already reached the bus as its own; the bus
drops them as repeats (same event id).

On PostgreSQL, ids come from a sequence and commits may become visible out of id order (a
transaction that took id 41 commits after the one that took 42). An id skipped over is kept as
a gap and asked for again until it appears or ``GAP_WAIT_S`` has passed (a rolled-back
transaction's id never appears).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from chargemesh.bus import EventBus
from chargemesh.domain.events import Event
from chargemesh.events.relay import OutboxRelay
from chargemesh.store import Store

log = logging.getLogger(__name__)

TAIL_EVERY_S = 0.02  # another worker's status reaches this one's index within about this
PAGE = 2_000
GAP_WAIT_S = 5.0  # an id missing this long was rolled back, not committed late


class OutboxTail:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        relay: OutboxRelay,
        *,
        after: int,
        every_s: float = TAIL_EVERY_S,
    ) -> None:
        self.store = store
        self.bus = bus
        self.relay = relay
        self.position = after  # the newest id read
        self.every_s = every_s
        self.gaps: dict[int, float] = {}  # ids skipped over → when first missed
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outbox tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                full = await self.read()
            except Exception:  # the store away for a moment: read again next time
                log.exception("reading the other workers' events failed")
                full = False
            if not full:
                await asyncio.sleep(self.every_s)

    async def read(self) -> bool:
        """Hand what was committed since the last read to the bus; True if a whole page came
        (more may wait)."""
        rows = await asyncio.to_thread(self.store.outbox_after, self.position, PAGE)
        late: list[tuple[int, Event]] = []
        if self.gaps:
            late = await asyncio.to_thread(self.store.outbox_rows, sorted(self.gaps))
        now = time.monotonic()
        expected = self.position + 1
        for outbox_id, _ in rows:
            for missing in range(expected, outbox_id):
                self.gaps[missing] = now
            expected = outbox_id + 1
        for outbox_id, _ in late:
            self.gaps.pop(outbox_id, None)
        for missing, since in list(self.gaps.items()):
            if now - since > GAP_WAIT_S:
                del self.gaps[missing]
        if rows:
            self.position = rows[-1][0]
        if rows or late:
            self.relay.flush()  # this process's own commits first, as its own
            self.bus.publish((event for _, event in late + rows), remote=True)
        return len(rows) == PAGE
