"""Tables of async event handlers: what reacts to what operators told us (a Session, a CDR, a
T/CEC notification, an authorization, a command's result), wired once in bootstrap.

A table is a plain dict of event type → async handlers (as Cosmic Python's
``EVENT_HANDLERS``). :class:`HandlerRunner` subscribes it to the bus and runs the handlers one
event at a time, in the order the events were published (a Session's readings before its CDR,
as they came), each handler's failure logged and the next one run. Events come from the outbox
at least once, so a handler whose repeat would do harm (a second plug-and-charge session)
checks first whether it already did it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from chargemesh.bus import EventBus
from chargemesh.domain.events import Event

log = logging.getLogger(__name__)

AsyncHandler = Callable[[Any], Awaitable[None]]
#: event type → its handlers, in the order they run
EventHandlers = Mapping[type, Sequence[AsyncHandler]]


class HandlerRunner:
    def __init__(
        self, handlers: EventHandlers, bus: EventBus, *, everywhere: frozenset[type] = frozenset()
    ) -> None:
        self.handlers = handlers
        self._queue: asyncio.Queue[Event] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._early: list[Event] = []  # published before the runner started
        for kind in handlers:  # once in a cluster: on the node that committed the event;
            # ``everywhere``: news every node's handler needs (a result a sender waits for)
            bus.subscribe(kind, self._heard, local_only=kind not in everywhere)

    def _heard(self, event: Event) -> None:
        """From the bus (on whichever thread published): queue it for the loop."""
        loop, queue = self._loop, self._queue
        if loop is None or queue is None:
            self._early.append(event)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            queue.put_nowait(event)
        else:
            with contextlib.suppress(RuntimeError):  # the loop closed: the outbox keeps it
                loop.call_soon_threadsafe(queue.put_nowait, event)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        for event in self._early:
            self._queue.put_nowait(event)
        self._early.clear()
        self._task = asyncio.create_task(self._run(), name="event handlers")

    async def stop(self) -> None:
        """Handle what is queued, then stop."""
        if self._task is None or self._queue is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = self._loop = self._queue = None

    async def handle(self, event: Event) -> None:
        for handler in self.handlers.get(type(event), ()):
            try:
                await handler(event)
            except Exception:
                log.exception("event handler %r failed on %s", handler, type(event).__name__)

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            event = await self._queue.get()
            try:
                await self.handle(event)
            finally:
                self._queue.task_done()
