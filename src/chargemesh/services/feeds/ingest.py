"""Sync every configured feed into the registry, in parallel, recording each feed's health.

A feed that fails does not stop the others: its error is recorded (``feed_health``: state
"failed", errors in a row, the last error's one-line text) and the next sync tries again — an
OCPI pull resumes at the page where it stopped. Each feed runs through its own protocol's sync
(:func:`sync_tcec_operator`, :func:`sync_ocpi_operator`); OCPI feeds register first if they are
not yet (which needs our endpoints served at ``server.public_url`` while the sync runs).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import httpx

from chargemesh.config import Config, OperatorConfig
from chargemesh.domain import station_id
from chargemesh.events.relay import OutboxRelay
from chargemesh.metrics import SYNCS
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.client import OcpiPeerError
from chargemesh.protocols.tcec.client import client_from_config
from chargemesh.services.analytics.coverage import snapshot as coverage_snapshot
from chargemesh.services.errors import one_line
from chargemesh.services.feeds.delisting import DelistingReport, DelistingRules, apply_delisting
from chargemesh.services.feeds.merge import MergeRules, merge_stations
from chargemesh.services.feeds.ocpi_connections import OcpiConnections
from chargemesh.services.feeds.ocpi_locations import LocationIngest
from chargemesh.services.feeds.ocpi_objects import ObjectIngest
from chargemesh.services.feeds.ocpi_sync import ensure_registered, sync_ocpi_operator
from chargemesh.services.feeds.tcec_sync import sync_tcec_operator
from chargemesh.store import FeedHealth, Store
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_DELISTING = DelistingRules()


def merge_rules_of(config: Config) -> MergeRules:
    m = config.merge
    return MergeRules(
        nearby_m=m.nearby_m, corroborate_m=m.corroborate_m, resellers=frozenset(m.resellers)
    )


def delisting_rules_of(config: Config) -> DelistingRules:
    d = config.delisting
    return DelistingRules(
        suspect_below=d.suspect_below,
        misses_to_delist=d.misses_to_delist,
        min_missing=timedelta(hours=d.min_missing_h),
    )


#: progress(operator id, records so far, total or None)
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class FeedResult:
    operator_id: str
    ok: bool
    records: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True, slots=True)
class OcpiSide:
    """What an OCPI pull needs of the running platform."""

    connections: OcpiConnections
    locations: LocationIngest
    objects: ObjectIngest


async def sync_feed(
    config: Config,
    op: OperatorConfig,
    store: Store,
    relay: OutboxRelay,
    http: httpx.AsyncClient,
    ocpi: OcpiSide | None,
    progress: Progress | None = None,
    delisting_rules: DelistingRules = DEFAULT_DELISTING,
) -> FeedResult:
    """One feed's sync, its health recorded before and after; never raises for a feed error.
    After a full listing, stations it no longer lists go through the delisting rule."""
    held = (await asyncio.to_thread(store.feed_health)).get(op.id) or FeedHealth(op.id)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    await asyncio.to_thread(
        store.save_feed_health, replace(held, state="running", last_started=started)
    )

    def on_page(done: int, total: int | None) -> None:
        if progress is not None:
            progress(op.id, done, total)

    live = await asyncio.to_thread(store.station_ids, op.id)  # before: for the delisting rule
    try:
        if op.protocol == "tcec":
            client = client_from_config(config, op.id, http)
            tcec = await sync_tcec_operator(client, op.to_operator(), store, relay, on_page=on_page)
            records, full = tcec.stations, True  # T/CEC syncs here are always the full listing
            listed = {station_id(op.id, sid) for sid in tcec.station_ids}
        else:
            if ocpi is None:
                raise RuntimeError("OCPI feeds need the platform's OCPI endpoints running")
            party = await ensure_registered(ocpi.connections, op)
            pull = functools.partial(
                sync_ocpi_operator, ocpi.connections, ocpi.locations, ocpi.objects, op.id,
                on_page=on_page, full_every=timedelta(seconds=config.sync.full_every_s),
            )  # fmt: skip
            try:
                report = await pull()
            except OcpiPeerError as exc:  # our token refused: register anew once, pull again
                if not exc.unauthorized or op.token_a is None:
                    raise
                party = await ensure_registered(ocpi.connections, op, refused=True)
                report = await pull()
            records, full = report.locations, report.full
            listed = {mapping.location_key(party.id, lid) for lid in report.location_ids}

        def delist(uow: UnitOfWork) -> DelistingReport:  # the missing list and the delistings
            done = apply_delisting(store, op.id, live, listed, full=full, rules=delisting_rules)
            uow.collect(done.events)
            return done

        delisting = await relay.write(delist)
        if delisting.warning:
            log.warning("%s: %s", op.id, delisting.warning)
    except Exception as exc:  # a feed's failure is recorded, never the others' problem
        error = one_line(exc)
        log.warning("sync of %s failed: %s", op.id, error)
        seconds = time.perf_counter() - clock
        await asyncio.to_thread(
            store.save_feed_health,
            replace(
                held,
                state="failed",
                last_started=started,
                last_finished=datetime.now(UTC),
                errors=held.errors + 1,
                last_error=error,
                duration_s=seconds,
            ),
        )
        SYNCS.labels(op.id, "failed").inc()
        return FeedResult(op.id, False, 0, seconds, error)
    seconds = time.perf_counter() - clock
    finished = datetime.now(UTC)
    await asyncio.to_thread(
        store.save_feed_health,
        FeedHealth(
            op.id,
            state="ok",
            last_started=started,
            last_finished=finished,
            last_success=finished,
            records=records,
            errors=0,
            listed=len(listed) if full else held.listed,
            duration_s=seconds,
        ),
    )
    SYNCS.labels(op.id, "ok").inc()
    return FeedResult(op.id, True, records, seconds)


async def sync_all(
    config: Config,
    store: Store,
    relay: OutboxRelay,
    *,
    ocpi: OcpiSide | None,
    operators: Sequence[str] | None = None,
    progress: Progress | None = None,
    parallel: int = 8,
    timeout_s: float = 30.0,
    delisting_rules: DelistingRules | None = None,
    merge: bool = True,
) -> list[FeedResult]:
    """Every configured feed (or those named), at most ``parallel`` at a time; then the merge
    of stations listed by several feeds (``merge``)."""
    chosen = [config.operator(o) for o in operators] if operators else list(config.operators)
    delisting_rules = delisting_rules or delisting_rules_of(config)
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=5.0)) as http:

        async def one(op: OperatorConfig) -> FeedResult:
            async with gate:
                return await sync_feed(
                    config, op, store, relay, http, ocpi, progress, delisting_rules
                )

        results = list(await asyncio.gather(*(one(op) for op in chosen)))
    if merge and any(r.ok for r in results):
        merged = await asyncio.to_thread(merge_stations, store, rules=merge_rules_of(config))
        log.info("merge: %s", merged)
    if any(r.ok for r in results):  # a point of the coverage timeline
        taken = await asyncio.to_thread(coverage_snapshot, store)
        log.info("coverage: %d operators, %d EVSEs, %d counties", taken.operators,
                 taken.evses, taken.counties)  # fmt: skip
    return results
