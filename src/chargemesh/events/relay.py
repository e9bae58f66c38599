"""The outbox relay: what a unit of work committed reaches the event bus, at least once.

In-process, the events of each commit are handed over as it commits (no read back) and
published on the event loop right away; ``flush`` publishes what is waiting now, for a caller
that answers only once the change is visible (the status writer). The relay's position (the last
outbox id published) is saved every ``save_every_s``, not per event; a process that stops (or is
killed) between a commit and the next save publishes everything after the saved position again
when it starts, so nothing committed is lost and a handler may see an event twice: the bus drops
repeats by event id. A bus that forwards to a broker (NATS) tells how far the broker has
stored (``stored``): the position is saved no further, so what a broker away did not take is
published again by the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from chargemesh.bus import EventBus
from chargemesh.domain.events import Event
from chargemesh.store import Store
from chargemesh.store.unit_of_work import UnitOfWork

T = TypeVar("T")

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        *,
        name: str = "local",
        save_every_s: float = 1.0,
        stored: Callable[[int], int] | None = None,
        new_from_end: bool = False,
    ) -> None:
        self.store = store
        self.bus = bus
        self.name = name
        self.save_every_s = save_every_s
        self.stored = stored  # a position → as far as the bus's broker has stored of it
        #: a relay name never saved starts at the outbox's end (a worker process: no process
        #: of its name ever committed, so none left anything unpublished; the others' events
        #: reach it as the others', through the tail)
        self.new_from_end = new_from_end
        self.position = 0  # the last outbox id published
        self.resumed_at = 0  # the outbox's end when this relay started (its backlog published)
        self._saved = 0
        self._waiting: deque[Sequence[tuple[int, Event]]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        store.watch_outbox(self._committed)

    # --- from the committing thread ---------------------------------------------------------------
    def _committed(self, rows: Sequence[tuple[int, Event]]) -> None:
        self._waiting.append(rows)
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: flush or a start takes it
                loop.call_soon_threadsafe(wake.set)

    # --- on the event loop ------------------------------------------------------------------------
    async def start(self) -> None:
        """Publish what was committed after the saved position (a previous process may have
        died before publishing it), then keep publishing as commits come."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._saved = self.position = await asyncio.to_thread(self.store.outbox_position, self.name)
        if self.position == 0 and self.new_from_end:
            self.position = await asyncio.to_thread(self.store.outbox_end)
        while backlog := await asyncio.to_thread(self.store.outbox_after, self.position):
            self._publish(backlog)
        self.resumed_at = self.position
        self.flush()
        self._task = asyncio.create_task(self._run(), name="outbox relay")

    async def stop(self) -> None:
        self._loop = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
        await self._save()

    async def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """``work`` in one unit of work of the store, off the event loop; the events it
        collected are published before this returns (what a writer that reports the change
        visible, or carries on with the next page, expects)."""

        def unit() -> T:
            with self.store.unit_of_work() as uow:
                return work(uow)

        done = await asyncio.to_thread(unit)
        self.flush()
        return done

    def flush(self) -> None:
        """Publish every commit handed over so far (safe from any thread: each commit is
        taken once)."""
        while True:
            try:
                rows = self._waiting.popleft()
            except IndexError:
                return
            self._publish(rows)

    def _publish(self, rows: Sequence[tuple[int, Event]]) -> None:
        self.bus.publish(dataclasses.replace(event, event_id=i) for i, event in rows)
        self.position = max(self.position, rows[-1][0])

    async def _save(self) -> None:
        position = self.position if self.stored is None else self.stored(self.position)
        if position > self._saved:
            await asyncio.to_thread(self.store.save_outbox_position, self.name, position)
            self._saved = position

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        saved_at = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.save_every_s)
            self._wake.clear()
            self.flush()
            if loop.time() - saved_at >= self.save_every_s:
                saved_at = loop.time()
                try:
                    await self._save()
                except Exception:  # the next save covers it; publishing goes on
                    log.exception("saving the outbox relay's position failed")
