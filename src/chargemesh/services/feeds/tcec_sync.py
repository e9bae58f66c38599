"""Sync one T/CEC operator into the registry: all station pages, then a status poll.

The poll (``query_station_status`` in batches of 50) is also what keeps statuses fresh between
pushes: the platform's refresher (services/feeds/freshness.py) runs :func:`poll_tcec_status`
alone, on a schedule, through the StatusWriter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chargemesh.domain import Operator, Station, Tariff
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.tcec import mapping
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.services.feeds.prefetch import prefetch
from chargemesh.services.feeds.status import apply_statuses
from chargemesh.store import StatusResult, StatusUpdate, Store, UpsertResult
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

POLL_SLICE = 2000  # stations polled (in batches of 50) and applied per transaction
#: how a poll's observations are written (the StatusWriter's ``apply``, or a direct write)
ApplyStatuses = Callable[[Sequence[StatusUpdate]], Awaitable[StatusResult]]


@dataclass(slots=True)
class SyncReport:
    operator_id: str
    pages: int = 0
    stations: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    statuses: int = 0
    status_changes: int = 0
    unknown_connectors: int = 0
    station_ids: list[str] = field(default_factory=list)  # the operator's own StationIDs seen


async def sync_tcec_operator(
    client: TcecClient,
    operator: Operator,
    store: Store,
    relay: OutboxRelay,
    *,
    since: datetime | None = None,
    page_size: int = 100,
    poll_status: bool = True,
    on_page: Callable[[int, int | None], None] | None = None,
) -> SyncReport:
    """One sync: every page of stations (changed since ``since``, or all), then a status poll.
    ``on_page(stations so far, total or None)`` is called after each page (progress bars).
    Each page (its tariffs, its stations and their events) is one unit of work."""
    report = SyncReport(operator.id)
    at = datetime.now(UTC)
    await asyncio.to_thread(store.upsert_operator, operator)
    async for page in prefetch(client.station_pages(since, page_size=page_size)):
        report.pages += 1
        stations = [mapping.to_station(info, operator) for info in page.station_infos]
        tariffs = [
            t
            for info in page.station_infos
            if (t := mapping.tariff_from_station(info, operator.id)) is not None
        ]
        result = await relay.write(_keep_page(tariffs, stations, at))
        report.stations += len(stations)
        report.added += len(result.added)
        report.changed += len(result.changed)
        report.unchanged += result.unchanged
        report.station_ids.extend(info.station_id for info in page.station_infos)
        if on_page is not None:
            on_page(report.stations, page.item_size)
    if poll_status and report.station_ids:
        await poll_tcec_status(client, operator, store, relay, report.station_ids, report=report)
    log.info(
        "synced %s: %d stations in %d pages (%d added, %d changed), %d statuses",
        operator.id, report.stations, report.pages, report.added, report.changed,
        report.statuses,
    )  # fmt: skip
    return report


def _keep_page(
    tariffs: Sequence[Tariff], stations: Sequence[Station], at: datetime
) -> Callable[[UnitOfWork], UpsertResult]:
    """A unit's work for one page: its tariffs, its stations and their events."""

    def work(uow: UnitOfWork) -> UpsertResult:
        if tariffs:
            uow.registry.upsert_tariffs(tariffs)
        result = uow.registry.upsert_stations(stations, at=at)
        uow.collect([*result.added, *result.changed])
        return result

    return work


async def poll_tcec_status(
    client: TcecClient,
    operator: Operator,
    store: Store,
    relay: OutboxRelay,
    station_ids: Iterable[str],
    *,
    report: SyncReport | None = None,
    apply: ApplyStatuses | None = None,
) -> SyncReport:
    """Poll the stations' connector status; each answer is an observation at the poll's start
    (a status unchanged is a confirmation: only its observation time moves). ``apply`` writes
    them (default: straight to the store, one unit of work per slice)."""
    report = report or SyncReport(operator.id)

    async def write(updates: Sequence[StatusUpdate]) -> StatusResult:
        return await relay.write(apply_statuses(updates))

    observed = datetime.now(UTC)
    ids = list(dict.fromkeys(station_ids))
    # In slices, each applied as it comes: a national operator's whole answer (hundreds of
    # thousands of connectors) held at once is what made a sync's memory spike.
    for start in range(0, len(ids), POLL_SLICE):
        reported = [
            update
            for answer in await client.station_status(ids[start : start + POLL_SLICE])
            for _, update in mapping.status_updates(answer)
        ]
        ours = await asyncio.to_thread(
            store.connector_ids_by_source, operator.id, [u.connector_source_id for u in reported]
        )
        updates = [
            StatusUpdate(
                ours[u.connector_source_id], u.status, observed, "tcec:poll", u.source_code
            )
            for u in reported
            if u.connector_source_id in ours
        ]
        report.unknown_connectors += len(reported) - len(updates)
        result = await (apply or write)(updates)
        report.statuses += len(updates)
        report.status_changes += len(result.changed)
    return report
