"""The CSMS assembled: the gateway, the functional blocks answering chargers (this class is the
protocol layer's :class:`ChargerSide`), and the silence watchdog. Started and stopped by the
platform's lifespan (``bootstrap.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging

from chargemesh.config import CsmsConfig
from chargemesh.csms.authorization import Authorization
from chargemesh.csms.availability import Availability
from chargemesh.csms.campaigns import Campaigns
from chargemesh.csms.chargers import Chargers
from chargemesh.csms.gateway import Gateway
from chargemesh.csms.links import Links
from chargemesh.csms.network import OwnNetwork
from chargemesh.csms.provisioning import Provisioning
from chargemesh.csms.remote import Commands
from chargemesh.csms.transactions import Transactions
from chargemesh.protocols.ocpp.messages import (
    Boot,
    BootAnswer,
    FirmwareReport,
    StatusReport,
    TokenCheck,
    TransactionAnswer,
    TransactionMessage,
)
from chargemesh.services.charging.sessions import SessionService
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.services.firmware.signing import Signer
from chargemesh.store import Store

log = logging.getLogger(__name__)

SWEEP_S = 5.0
COLLECT_AFTER_CLOSED = 500


class Csms:
    def __init__(
        self,
        config: CsmsConfig,
        store: Store,
        writer: StatusWriter,
        network: OwnNetwork,
        links: Links,
        chargers: Chargers,
    ) -> None:
        self.config = config
        self.store = store
        self.network = network
        self.links = links
        self.chargers = chargers
        self.availability = Availability(network, chargers, writer)
        self.provisioning = Provisioning(
            chargers, heartbeat_s=config.heartbeat_s, boots_per_s=config.boots_per_s,
            on_silent=self._silent,
        )  # fmt: skip
        self.authorization = Authorization(store, network.operator_id)
        self.commands = Commands(links)
        self.transactions: Transactions | None = None
        self.gateway = Gateway(
            config, chargers, links, self, on_message=self.provisioning.seen,
            on_closed=self._closed,
        )  # fmt: skip
        self.closed_since_collect = 0
        self._watchdog: asyncio.Task[None] | None = None
        self.campaigns: Campaigns | None = None  # firmware campaigns (see serve_campaigns)
        self.signer: Signer | None = None  # signs uploaded firmware
        self._reports: set[asyncio.Task[None]] = set()

    def serve_campaigns(self, campaigns: Campaigns, signer: Signer | None) -> None:
        """The firmware campaigns this CSMS's chargers report to, and the firmware signer."""
        self.campaigns = campaigns
        self.signer = signer

    def serve_sessions(self, sessions: SessionService) -> None:
        """The sessions this CSMS's transactions belong to (made after the adapter, which the
        sessions need: see bootstrap)."""
        self.transactions = Transactions(
            self.store, self.network, self.chargers, self.authorization, sessions
        )

    # --- life ----------------------------------------------------------------------------------
    async def _silent(self, charger_id: str) -> None:
        """Silent here too long: offline, unless it talks to another node of the cluster."""
        if not self.links.elsewhere(charger_id):
            await self.availability.offline(charger_id)

    def _closed(self, charger_id: str) -> None:
        self.closed_since_collect += 1
        if self.campaigns is not None:  # a soak broken by a lost connection
            task = asyncio.get_running_loop().create_task(self._disconnected(charger_id))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)

    async def _disconnected(self, charger_id: str) -> None:
        assert self.campaigns is not None
        try:
            await self.campaigns.disconnected(charger_id)
        except Exception:
            log.exception("campaigns: could not note %s disconnected", charger_id)

    async def _upkeep(self) -> None:
        """The watchdog's sweeps, and the garbage of closed connections collected after many
        close (the CLI tunes the collector for bulk syncs: left alone, a reconnect storm of
        20,000 chargers left ~1 GB of closed connections uncollected)."""
        while True:
            await asyncio.sleep(SWEEP_S)
            await self.provisioning.sweep()
            if self.closed_since_collect >= COLLECT_AFTER_CLOSED:
                self.closed_since_collect = 0
                gc.collect()

    async def start(self) -> None:
        registered = await asyncio.to_thread(self.store.own_chargers)
        self.provisioning.watch([c.id for c in registered])
        await self.links.start()
        await self.gateway.start()
        self._watchdog = asyncio.create_task(self._upkeep(), name="csms watchdog")

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        await self.gateway.stop()
        await self.links.stop()

    # --- ChargerSide -----------------------------------------------------------------------------
    async def boot(self, charger_id: str, version: str, boot: Boot) -> BootAnswer:
        answer = await self.provisioning.boot(charger_id, version, boot)
        if answer.accepted and self.campaigns is not None:
            await self.campaigns.booted(charger_id, boot.firmware)
        return answer

    async def heartbeat(self, charger_id: str) -> None:
        await self.provisioning.heartbeat(charger_id)

    async def status(self, charger_id: str, report: StatusReport) -> None:
        await self.availability.status(charger_id, report)

    async def authorize(self, charger_id: str, check: TokenCheck) -> str:
        charger = await self.chargers.get(charger_id)
        if charger is None:
            return "Invalid"
        return (await self.authorization.check(charger, check)).status

    async def transaction(self, charger_id: str, message: TransactionMessage) -> TransactionAnswer:
        assert self.transactions is not None, "serve_sessions first"
        return await self.transactions.handle(charger_id, message)

    async def firmware(self, charger_id: str, report: FirmwareReport) -> None:
        log.info("charger %s firmware: %s", charger_id, report.status)
        if self.campaigns is not None:
            await self.campaigns.reported(charger_id, report)
