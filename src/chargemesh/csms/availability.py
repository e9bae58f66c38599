"""Availability: a charger's StatusNotification goes through the same status path as every
other network's (the group-commit writer: the charger is answered only after the commit) into
the registry, the search index and the event stream."""

from __future__ import annotations

from datetime import UTC, datetime

from chargemesh.csms.chargers import Chargers
from chargemesh.csms.network import OwnNetwork
from chargemesh.domain import ConnectorStatus
from chargemesh.protocols.ocpp.messages import StatusReport, status_of
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.store.repository import StatusUpdate

SOURCE = "ocpp"


class Availability:
    def __init__(self, network: OwnNetwork, chargers: Chargers, writer: StatusWriter) -> None:
        self.network = network
        self.chargers = chargers
        self.writer = writer

    async def status(self, charger_id: str, report: StatusReport) -> None:
        charger = await self.chargers.get(charger_id)
        if charger is None:
            return
        status = status_of(report.status)
        if report.connector == 0:  # 1.6: the whole charger; only "out of order" concerns them all
            if status not in (ConnectorStatus.OFFLINE, ConnectorStatus.FAULTED):
                return
            connectors = range(1, charger.connectors + 1)
        elif 1 <= report.connector <= charger.connectors:
            connectors = range(report.connector, report.connector + 1)
        else:
            return  # a connector it was not registered with: nothing of ours to change
        await self.writer.apply([
            StatusUpdate(self.network.connector_id(charger_id, n), status, report.at, SOURCE,
                         source_code=report.status)
            for n in connectors
        ])  # fmt: skip

    async def offline(self, charger_id: str) -> None:
        """A charger gone silent: its connectors are shown offline."""
        charger = await self.chargers.get(charger_id)
        if charger is None:
            return
        now = datetime.now(UTC)
        await self.writer.apply([
            StatusUpdate(self.network.connector_id(charger_id, n), ConnectorStatus.OFFLINE, now,
                         f"{SOURCE}:silent")
            for n in range(1, charger.connectors + 1)
        ])  # fmt: skip
