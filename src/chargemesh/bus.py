"""Events between parts: in-process by default (NATS when scaled out, later).

Handlers run synchronously in publish order; a failing handler is logged and does not stop the
others, so one broken subscriber cannot block status from reaching drivers. Events come from the
outbox relay at least once: one already delivered (same ``event_id``) is dropped, so handlers
see each event once however often the relay repeats it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from chargemesh.domain.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]

REMEMBERED = 100_000  # event ids kept to recognise a repeat (a relay replays a few seconds' worth)


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        self._local_only: set[int] = set()  # id() of handlers for this node's events only
        self._seen: OrderedDict[int, None] = OrderedDict()

    def subscribe(
        self, kind: type[E], handler: Callable[[E], None], *, local_only: bool = False
    ) -> None:
        """``handler`` gets every event of ``kind``; with ``local_only`` only those this node
        committed (on several nodes: work a message asks for is done once, by the node that
        received it — see events/handlers.py)."""
        self._handlers[kind].append(handler)
        if local_only:
            self._local_only.add(id(handler))

    def unsubscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[kind].remove(handler)

    def publish(self, events: Iterable[Event], *, remote: bool = False) -> None:
        """Hand ``events`` to their handlers; ``remote``: committed by another node (the
        ``local_only`` handlers skip them)."""
        for event in events:
            if self._repeated(event.event_id):
                continue
            for handler in tuple(self._handlers.get(type(event), ())):
                if remote and id(handler) in self._local_only:
                    continue
                try:
                    handler(event)
                except Exception:
                    log.exception("event handler %r failed on %s", handler, type(event).__name__)

    def _repeated(self, event_id: int | None) -> bool:
        if event_id is None:
            return False
        if event_id in self._seen:
            return True
        self._seen[event_id] = None
        if len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)
        return False
