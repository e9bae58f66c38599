"""The chargers connected to this node: one live connection per charger id (a newer one
replaces the older, which is closed), and what can be asked of each."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from chargemesh.protocols.ocpp.messages import FirmwareAnswer, FirmwareRequest

log = logging.getLogger(__name__)


class ChargerLink(Protocol):
    """A connected charger (``protocols.ocpp.v16.Charger16`` or ``v201.Charger201``)."""

    id: str
    version: str

    async def remote_start(self, connector: int, token: str, remote_start_id: int) -> bool: ...

    async def remote_stop(self, transaction_id: str) -> bool: ...

    async def change_availability(self, connector: int, operative: bool) -> str | None: ...

    async def reset(self, hard: bool) -> str | None: ...

    async def unlock(self, connector: int) -> str | None: ...

    async def update_firmware(self, request: FirmwareRequest) -> FirmwareAnswer: ...


class Links:
    def __init__(self) -> None:
        self._links: dict[str, tuple[ChargerLink, Any]] = {}

    def __len__(self) -> int:
        """Chargers connected to this node."""
        return len(self._links)

    async def start(self) -> None:
        """Nothing to start on one node (a cluster's links connect to NATS: csms/cluster.py)."""

    async def stop(self) -> None:
        """Nothing to stop on one node."""

    def elsewhere(self, charger_id: str) -> bool:
        """Whether another node holds the charger (never, on one node)."""
        return False

    def get(self, charger_id: str) -> ChargerLink | None:
        held = self._links.get(charger_id)
        return held[0] if held else None

    async def attach(self, link: ChargerLink, socket: Any) -> None:
        """``link`` is the charger's connection now; an older one is closed."""
        older = self._links.get(link.id)
        self._links[link.id] = (link, socket)
        if older is not None:
            log.info("charger %s connected again: closing its older connection", link.id)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(older[1].close(1000, "replaced by a newer connection"), 5)

    def detach(self, link: ChargerLink) -> bool:
        """Forget ``link`` if it is still the charger's connection (an older one closing must
        not forget the newer); whether it was."""
        held = self._links.get(link.id)
        if held is not None and held[0] is link:
            del self._links[link.id]
            return True
        return False
