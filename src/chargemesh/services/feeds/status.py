"""Group commit for connector status: many pushes, one transaction.

Each protocol endpoint hands its observations to ``StatusWriter.apply`` and answers the operator
only after the batch holding them is committed, so an acknowledged status is never lost; batching
concurrent pushes into one transaction is what lets a single process take thousands per second.
Each batch is one unit of work: the statuses and the events they cause go to the outbox in the
same commit, and the relay has published them before the writers are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chargemesh.bus import EventBus
from chargemesh.events.relay import OutboxRelay
from chargemesh.store import OcpiObject, Outcome, StatusResult, StatusUpdate, Store
from chargemesh.store.codec import require_aware
from chargemesh.store.unit_of_work import UnitOfWork


@dataclass(slots=True)
class _Pending:
    updates: Sequence[StatusUpdate]
    objects: Sequence[OcpiObject] = ()
    done: asyncio.Future[StatusResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def apply_statuses(
    updates: Sequence[StatusUpdate], objects: Sequence[OcpiObject] = ()
) -> Callable[[UnitOfWork], StatusResult]:
    """A unit's work: apply observations (and keep the protocol objects they came in),
    collecting the events they cause."""

    def work(uow: UnitOfWork) -> StatusResult:
        result = uow.status.apply_status_updates(updates, objects=objects)
        uow.collect(result.events)
        return result

    return work


class StatusWriter:
    def __init__(
        self, store: Store, events: OutboxRelay | EventBus, *, max_batch: int = 5000
    ) -> None:
        """``events``: the platform's relay; given a bus alone (callers not yet wired to a
        relay), a relay of its own that publishes to it."""
        self._store = store
        self.relay = events if isinstance(events, OutboxRelay) else OutboxRelay(store, events)
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # how many transactions were written (for tests and metrics)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="status-writer")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def apply(
        self, updates: Sequence[StatusUpdate], *, objects: Sequence[OcpiObject] = ()
    ) -> StatusResult:
        """Queue observations (and the protocol objects they came in, kept in the same
        transaction); return their outcome once committed (raises if the write failed)."""
        for u in updates:  # refuse bad input here, so it cannot fail other callers' batch
            require_aware(u.at)
        if self._task is None:
            raise RuntimeError("StatusWriter is not started")
        pending = _Pending(updates, objects)
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0].updates)
            while size < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
                size += len(batch[-1].updates)
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Pending]) -> None:
        updates = [u for p in batch for u in p.updates]
        objects = [o for p in batch for o in p.objects]
        try:
            result = await self.relay.write(apply_statuses(updates, objects))
        except Exception as exc:
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(exc)
            return
        self.batches += 1
        offset = 0
        changed = iter(result.changed)
        for p in batch:
            outcomes = result.outcomes[offset : offset + len(p.updates)]
            offset += len(p.updates)
            mine = StatusResult(outcomes=outcomes)
            for u, outcome in zip(p.updates, outcomes, strict=True):
                if outcome is Outcome.CHANGED:
                    mine.changed.append(next(changed))
                elif outcome is Outcome.CONFIRMED:
                    mine.confirmed += 1
                elif outcome is Outcome.STALE:
                    mine.stale += 1
                else:
                    mine.unknown.append(u.connector_id)
            if not p.done.done():
                p.done.set_result(mine)
