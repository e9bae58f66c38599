"""Provisioning: BootNotification (registered chargers Accepted and their model, vendor,
serial and firmware recorded; ``Pending`` with a jittered back-off beyond ``boots_per_s``, so a
reconnect storm of 20,000 chargers is admitted at a pace), heartbeats, and the watchdog that
shows a silent charger's connectors offline — never available — after its heartbeat interval."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final

from chargemesh.csms.chargers import Chargers
from chargemesh.protocols.ocpp.messages import Boot, BootAnswer

log = logging.getLogger(__name__)

#: a charger is silent once this many heartbeat intervals passed without a message from it
SILENT_AFTER: Final = 1.5
GRACE_S: Final = 10.0
PENDING_S: Final = (10, 60)  # the back-off a Pending boot is told, jittered


class Provisioning:
    def __init__(
        self,
        chargers: Chargers,
        *,
        heartbeat_s: int,
        boots_per_s: float,
        on_silent: Callable[[str], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chargers = chargers
        self.heartbeat_s = heartbeat_s
        self.boots_per_s = boots_per_s
        self.on_silent = on_silent
        self.clock = clock
        self.last_seen: dict[str, float] = {}  # connected or recently silent chargers
        self._silent: set[str] = set()  # already shown offline
        self._tokens = boots_per_s
        self._refilled = clock()
        self.pending = 0  # boots told to come back (for tests and metrics)

    def _admit(self) -> bool:
        now = self.clock()
        self._tokens = min(
            self.boots_per_s, self._tokens + (now - self._refilled) * self.boots_per_s
        )
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def boot(self, charger_id: str, version: str, boot: Boot) -> BootAnswer:
        self.seen(charger_id)
        if not self._admit():
            self.pending += 1
            return BootAnswer(False, random.randint(*PENDING_S))
        charger = await self.chargers.get(charger_id)
        if charger is not None:
            await asyncio.to_thread(
                self.chargers.store.charger_booted, charger_id, at=datetime.now(UTC),
                vendor=boot.vendor, model=boot.model, serial=boot.serial,
                firmware=boot.firmware, ocpp_version=version,
            )  # fmt: skip
            self.chargers.forget(charger_id)
        return BootAnswer(True, self.heartbeat_s)

    def seen(self, charger_id: str) -> None:
        """Any message from the charger: it is alive."""
        self.last_seen[charger_id] = self.clock()
        self._silent.discard(charger_id)

    async def heartbeat(self, charger_id: str) -> None:
        self.seen(charger_id)

    def watch(self, charger_ids: list[str]) -> None:
        """Chargers to watch from now although they have not spoken (e.g. every registered
        charger when the CSMS starts): silent ones go offline after the interval."""
        now = self.clock()
        for cid in charger_ids:
            self.last_seen.setdefault(cid, now)

    async def sweep(self) -> list[str]:
        """Show the chargers silent for longer than their interval offline (once each)."""
        limit = self.heartbeat_s * SILENT_AFTER + GRACE_S
        now = self.clock()
        silent = [cid for cid, at in self.last_seen.items()
                  if now - at > limit and cid not in self._silent]  # fmt: skip
        for cid in silent:
            try:
                await self.on_silent(cid)
            except Exception:  # the next sweep tries again
                log.exception("could not mark charger %s offline", cid)
                continue
            self._silent.add(cid)
        return silent
