"""Keeping connector statuses fresh between pushes, and telling when a feed's go stale.

Operators push changes, not confirmations: a connector that stays available for an hour is not
pushed for an hour, while its status expires after the feed's freshness limit (900 s by default).
So every serving platform polls each feed on a schedule well inside that limit:

* T/CEC: ``query_station_status`` for every live station of the operator, in batches of 50,
  spread evenly over the interval (a national operator's 5,300 batches in 300 s are ~18 a second,
  never one burst). Each answer is an observation made when the poll was sent.
* OCPI: an incremental Locations pull (``date_from`` = where the previous pull ended). A
  successful pull is the CPO's statement that nothing else changed since then, so every
  connector of the feed it did not return is *confirmed* at the time the pull began: its
  observation time moves, its status and status-since time stay. The confirmation is
  conditional (``StatusUpdate.only_confirms``): a status changed meanwhile by a push is kept.

Every poll's observations go through the
:class:`~chargemesh.services.feeds.status.StatusWriter`, the one status path (history, events,
the search index). How each feed's polls are doing is kept here (:class:`PollHealth`) and, with
the share of its connectors that went stale, makes its ``feed.state`` in ``/api/v1/operators``
(:func:`feed_state`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from chargemesh.config import Config, OperatorConfig
from chargemesh.domain import Operator
from chargemesh.protocols.tcec.client import TcecClient, client_from_config
from chargemesh.protocols.tcec.stations import MAX_STATUS_STATION_IDS
from chargemesh.services.errors import one_line
from chargemesh.services.feeds.ingest import OcpiSide
from chargemesh.services.feeds.ocpi_sync import pulled_before, sync_ocpi_operator
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.services.feeds.tcec_sync import poll_tcec_status
from chargemesh.store import StatusUpdate, Store

log = logging.getLogger(__name__)

TICK_S = 1.0  # a T/CEC round's batches are sent in ticks of about this
POLLS_PER_FRESHNESS = 3  # a feed is polled at least this often within its freshness limit
CONFIRM_CHUNK = 5000  # OCPI confirmations handed to the StatusWriter at a time
NOT_YET_S = 10.0  # a feed not synced yet (nothing to poll) is looked at again this soon


def poll_interval(configured_s: float, freshness: timedelta) -> float:
    """How often a feed is polled: the configured interval, but at least
    ``POLLS_PER_FRESHNESS`` times within its freshness limit (so one failed poll does not let its
    statuses expire)."""
    return min(configured_s, freshness.total_seconds() / POLLS_PER_FRESHNESS)


def spread(batches: int, ticks: int) -> list[int]:
    """How many of ``batches`` go in each of ``ticks`` ticks: as even as integers allow (the
    counts differ by at most one, the larger ones spread out, never bunched at the start)."""
    ticks = max(1, ticks)
    return [batches * (t + 1) // ticks - batches * t // ticks for t in range(ticks)]


def batches_of(station_ids: Sequence[str], size: int = MAX_STATUS_STATION_IDS) -> list[list[str]]:
    return [list(station_ids[i : i + size]) for i in range(0, len(station_ids), size)]


@dataclass(slots=True)
class PollHealth:
    """How one feed's status polls are doing (since this process started)."""

    last_poll: datetime | None = None  # when the last poll that succeeded was sent
    errors: int = 0  # polls failed in a row (0 after a success)
    last_error: str | None = None
    polls: int = 0  # polls that succeeded
    observations: int = 0  # statuses they observed or confirmed
    failed_at: datetime | None = None  # when the last poll that failed was sent (not when
    # it gave up: a sync that finished meanwhile re-registered and read everything after it)

    def outdated_by(self, synced: datetime | None) -> bool:
        """Whether a full sync that succeeded since the last failed poll has brought every
        status anew, so the failures say nothing about the feed now (e.g. a poll of a peer's
        old address while the sync re-registers with it)."""
        return bool(self.errors and synced and self.failed_at and self.failed_at < synced)

    def succeeded(self, at: datetime, observations: int) -> None:
        self.last_poll, self.errors, self.last_error = at, 0, None
        self.polls += 1
        self.observations += observations

    def failed(self, exc: BaseException, at: datetime | None = None) -> None:
        self.failed_at = at or datetime.now(UTC)
        self.errors += 1
        self.last_error = one_line(exc)


def feed_state(
    state: str,
    *,
    connectors: int,
    stale: int,
    freshness: timedelta,
    poll: PollHealth | None,
    degraded_stale_share: float,
) -> tuple[str, str | None]:
    """A feed's state and, when degraded, why: its last sync's state, made ``degraded`` when its
    status polls fail or more than ``degraded_stale_share`` of its connectors have no status
    newer than the freshness limit. A quiet feed whose statuses polling confirms stays ``ok``."""
    if state == "failed":  # the contract's word for a feed whose last sync failed
        return "failing", None
    if state not in ("ok", "running"):
        return state, None
    reasons = []
    if poll is not None and poll.errors:
        reasons.append(f"status polls failing ({poll.errors} in a row): {poll.last_error}")
    if connectors and stale / connectors > degraded_stale_share:
        reasons.append(
            f"{stale:,} of {connectors:,} connectors ({stale / connectors:.0%}) have no status "
            f"newer than the freshness limit ({freshness.total_seconds():g} s)"
        )
    return ("degraded", "; ".join(reasons)) if reasons else (state, None)


def stale_by_operator(
    store: Store, operators: Iterable[Operator], now: datetime
) -> dict[str, tuple[int, int]]:
    """Per operator: (its live connectors not observed within its freshness limit, all its live
    connectors); one query per distinct limit (usually one)."""
    limits: dict[timedelta, set[str]] = {}
    for op in operators:
        limits.setdefault(op.status_freshness, set()).add(op.id)
    stale: dict[str, tuple[int, int]] = {}
    for limit, ids in limits.items():
        counts = store.stale_connectors(now - limit)
        stale.update({op: counts.get(op, (0, 0)) for op in ids})
    return stale


Sleep = Callable[[float], Awaitable[None]]


class StatusRefresher:
    """Polls every configured feed's statuses on a schedule (see the module's docstring); one
    task per feed, a feed's failure never the others' problem."""

    def __init__(
        self,
        config: Config,
        store: Store,
        writer: StatusWriter,
        http: httpx.AsyncClient,
        ocpi: OcpiSide | None,
    ) -> None:
        self.config = config
        self._store = store
        self._writer = writer
        self._http = http
        self._ocpi = ocpi
        self.health: dict[str, PollHealth] = {op.id: PollHealth() for op in config.operators}

    def interval(self, op: OperatorConfig) -> float:
        return poll_interval(self.config.status.poll_interval_s, op.to_operator().status_freshness)

    async def run(self) -> None:
        """Poll every feed until cancelled."""
        if self.config.status.poll_interval_s <= 0:
            return
        feeds = [
            self._tcec_rounds(op) if op.protocol == "tcec" else self._ocpi_rounds(op)
            for op in self.config.operators
        ]
        tasks = [asyncio.create_task(feed, name="status refresher") for feed in feeds]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # --- T/CEC: query_station_status, batches of 50 spread over the interval -------------------
    async def _tcec_rounds(self, op: OperatorConfig) -> None:
        while True:
            await self.tcec_round(op)

    async def tcec_round(self, op: OperatorConfig, sleep: Sleep | None = None) -> int:
        """One round over the operator's live stations, in ticks of about ``TICK_S`` spread over
        the interval; returns the stations polled."""
        loop = asyncio.get_running_loop()
        interval = self.interval(op)
        ticks = max(1, round(interval / TICK_S))
        started = loop.time()
        ids = await asyncio.to_thread(self._store.station_source_ids, op.id)
        if not ids:  # not synced yet: look again soon rather than after a whole interval
            await (sleep or asyncio.sleep)(min(interval, NOT_YET_S))
            return 0
        batches = batches_of(ids)
        client = client_from_config(self.config, op.id, self._http)
        operator = op.to_operator()
        taken = 0
        for tick, count in enumerate(spread(len(batches), ticks)):
            chunk = [sid for batch in batches[taken : taken + count] for sid in batch]
            taken += count
            if chunk:
                await self._poll_tcec(op.id, operator, client, chunk)
            wait = started + (tick + 1) * interval / ticks - loop.time()
            await (sleep or asyncio.sleep)(max(0.0, wait))
        return len(ids)

    async def _poll_tcec(
        self, op_id: str, operator: Operator, client: TcecClient, chunk: list[str]
    ) -> None:
        sent = datetime.now(UTC)
        try:
            report = await poll_tcec_status(
                client, operator, self._store, self._writer.relay, chunk, apply=self._writer.apply
            )
        except Exception as exc:  # the operator is down or refuses: the feed is degraded
            self.health[op_id].failed(exc, at=sent)
            log.warning("status poll of %s failed: %s", op_id, one_line(exc))
            return
        self.health[op_id].succeeded(sent, report.statuses)

    # --- OCPI: incremental Locations pulls, silence confirmed ----------------------------------
    async def _ocpi_rounds(self, op: OperatorConfig) -> None:
        while True:
            pulled = await self.ocpi_refresh(op)
            interval = self.interval(op)
            await asyncio.sleep(interval if pulled is not None else min(interval, NOT_YET_S))

    async def ocpi_refresh(self, op: OperatorConfig) -> int | None:
        """One incremental pull of the CPO's Locations, then every connector of the feed it did
        not change confirmed as observed when the pull began; returns how many were confirmed
        (0 when the pull failed; None: the feed was never pulled whole, so there is nothing to
        pull from yet)."""
        if self._ocpi is None:
            return None
        side = self._ocpi
        party = await side.connections.party(op.id)
        if party is None or not party.registered or pulled_before(party) is None:
            return None  # the scheduled sync registers and pulls it first
        began = datetime.now(UTC)
        try:
            report = await sync_ocpi_operator(
                side.connections, side.locations, side.objects, op.id, tariffs=False
            )
            held = await asyncio.to_thread(
                self._store.statuses_observed_before, report.operator_id, began
            )
            confirmations = [
                StatusUpdate(cid, status, began, "ocpi:pull", only_confirms=True)
                for cid, status in held
            ]
            for i in range(0, len(confirmations), CONFIRM_CHUNK):
                await self._writer.apply(confirmations[i : i + CONFIRM_CHUNK])
        except Exception as exc:  # the CPO is down or refuses: the feed is degraded
            self.health[op.id].failed(exc, at=began)
            log.warning("status pull of %s failed: %s", op.id, one_line(exc))
            return 0
        self.health[op.id].succeeded(began, report.evses + len(confirmations))
        return len(confirmations)
