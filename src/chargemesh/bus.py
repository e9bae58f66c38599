"""Events between parts: in-process by default (NATS when scaled out, later).

Handlers run synchronously in publish order; a failing handler is logged and does not stop the
others, so one broken subscriber cannot block status from reaching drivers.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from chargemesh.domain.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[kind].append(handler)

    def unsubscribe(self, kind: type[E], handler: Callable[[E], None]) -> None:
        self._handlers[kind].remove(handler)

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            for handler in tuple(self._handlers.get(type(event), ())):
                try:
                    handler(event)
                except Exception:
                    log.exception("event handler %r failed on %s", handler, type(event).__name__)
