"""Pull one OCPI CPO's Locations and Tariffs into the registry.

Incremental: a completed pull remembers when it *started*, and the next one asks for
``date_from`` = that time (inclusive), so a change made during a pull is fetched again rather than
missed. Resumable: the client retries a failing page; if it keeps failing, the offset where the
pull stopped is kept with the connection, and the next pull continues from there with the same
``date_from`` instead of starting over.

Pull is the source of truth (the spec: pushes are best effort); the ingest skips any location we
hold a newer copy of, so a pull never undoes a push that raced it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chargemesh.config import OperatorConfig
from chargemesh.protocols.ocpi.client import OcpiPeerError
from chargemesh.protocols.ocpi.models import Location, Tariff
from chargemesh.protocols.ocpi.transport import format_datetime, parse_datetime
from chargemesh.services.feeds.ocpi_connections import OcpiConnections, _find
from chargemesh.services.feeds.ocpi_locations import LocationIngest
from chargemesh.services.feeds.ocpi_objects import ObjectIngest
from chargemesh.store import OcpiParty

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OcpiSyncReport:
    operator_id: str
    pages: int = 0
    locations: int = 0
    evses: int = 0
    rejected: int = 0
    stale: int = 0
    removed: int = 0
    status_changes: int = 0
    tariffs: int = 0
    resumed_at: int | None = None  # the offset a previous, failed pull left off at
    full: bool = False  # the whole listing (no date_from): what the delisting rule may use
    error: str | None = None
    location_ids: list[str] = field(default_factory=list)


class OcpiSyncError(Exception):
    """A pull that stopped; ``report`` says how far it got (the next pull resumes there)."""

    def __init__(self, message: str, report: OcpiSyncReport) -> None:
        super().__init__(message)
        self.report = report


async def ensure_registered(
    connections: OcpiConnections, op: OperatorConfig, *, refused: bool = False
) -> OcpiParty:
    """The operator's connection, registering with its token A first if there is none — or
    anew when the configured versions URL is no longer the one registered (the CPO moved) or
    the CPO ``refused`` the token it gave us (it forgot or revoked the connection)."""
    party = await connections.party(op.id)
    anew = False
    if party is not None and party.registered:
        moved = op.token_a is not None and party.versions_url not in (None, op.url)
        if not moved and not (refused and op.token_a is not None):
            return party
        anew = True
        log.info("OCPI %s: registering anew (%s)", op.id,
                 "its versions URL changed" if moved else "it refused our token")  # fmt: skip
    if op.token_a is None:
        raise OcpiPeerError(f"{op.id} is not registered and has no token_a", url=op.url)
    return await connections.register_with(op.id, op.url, op.token_a.get_secret_value(), anew=anew)


async def sync_ocpi_operator(
    connections: OcpiConnections,
    locations: LocationIngest,
    objects: ObjectIngest,
    party_id: str,
    *,
    full: bool = False,
    limit: int | None = None,
    tariffs: bool = True,
    on_page: Callable[[int, int | None], None] | None = None,
    full_every: timedelta | None = None,
) -> OcpiSyncReport:
    """One pull. ``full`` ignores the remembered ``date_from``. A pull that fails keeps where it
    stopped and raises :class:`OcpiSyncError` with the report so far."""
    party = await connections.party(party_id)
    if party is None or not party.registered or party.token_out is None:
        raise OcpiPeerError(f"{party_id} is not registered", url="")
    operator = connections.operator(party)
    await asyncio.to_thread(locations.store.upsert_operator, operator)  # its name may have changed
    report = OcpiSyncReport(operator.id)
    client = connections.client_for(party)
    cc, _, pid = party.id.partition("-")
    state: dict[str, Any] = dict(party.sync_state.get("locations") or {})
    resume: dict[str, Any] | None = state.get("resume")
    if resume is not None:  # finish the pull that stopped, as it began
        report.resumed_at = int(resume["offset"])
        started = _when(resume.get("started")) or datetime.now(UTC)
        date_from = _when(resume.get("date_from"))
    else:
        started = datetime.now(UTC)
        # The pull is the source of truth (the spec): a full listing at least every
        # ``full_every`` lets the delisting rule see what a CPO silently dropped.
        previous_full = _when(state.get("last_full"))
        if full_every is not None and (
            previous_full is None or started - previous_full >= full_every
        ):
            full = True
        date_from = None if full else _when(state.get("date_from"))

    def stopped_at(offset: int) -> dict[str, Any]:
        return {
            **state,
            "resume": {"offset": offset, "date_from": _text(date_from), "started": _text(started)},
        }

    url = _find(party.endpoints, "locations", "SENDER")
    seen: set[str] = set()
    # A resumed pull lists only what came after the resume point: not the whole listing.
    report.full = date_from is None and report.resumed_at is None
    registered: OcpiParty = party

    async def pull(since: datetime | None, until: datetime | None, offset: int) -> None:
        async for page in client.pages(
            url, Location, date_from=since, date_to=until, limit=limit, offset=offset,
            to_party=(cc, pid),
        ):  # fmt: skip
            fresh = [loc for loc in page.items if loc.id.upper() not in seen or until is None]
            seen.update(loc.id.upper() for loc in fresh)
            result = await locations.ingest_page(operator, fresh)
            report.pages += 1 if page.items or until is not None else 0
            report.locations += len(fresh)
            report.evses += sum(len(loc.evses or []) for loc in fresh)
            report.rejected += page.rejected
            report.stale += result.stale
            report.removed += result.removed
            report.status_changes += result.status_changes
            report.location_ids.extend(loc.id for loc in fresh)
            if on_page is not None:
                on_page(report.locations, page.total)
            if page.next_offset is not None and until is not None:
                await _keep(connections, registered, stopped_at(page.next_offset))

    # The pull is bounded by its start (date_to, exclusive): a location that changes while it
    # runs moves to the end of the (last_updated, id) order and would shift the pages under
    # us; it is fetched by the catch-up below instead.
    offset = report.resumed_at or 0
    try:
        await pull(date_from, started, offset)
    except OcpiPeerError as exc:
        where = exc.resume_offset if exc.resume_offset is not None else offset
        await _keep(connections, party, stopped_at(where))
        report.error = str(exc)
        raise OcpiSyncError(str(exc), report) from exc
    full_at = _text(started) if report.full else state.get("last_full")
    party = await _keep(connections, party, {"date_from": _text(started), "last_full": full_at})
    caught_up = datetime.now(UTC)
    try:  # what changed while the pull ran (small; not resumable, not bounded)
        await pull(started, None, 0)
    except OcpiPeerError as exc:
        report.error = str(exc)
        raise OcpiSyncError(str(exc), report) from exc
    # Done: the next pull asks for what changed since the catch-up began.
    party = await _keep(connections, party, {"date_from": _text(caught_up), "last_full": full_at})
    if tariffs and (tariffs_url := _maybe(party, "tariffs")) is not None:
        async for tariff_page in client.pages(tariffs_url, Tariff, to_party=(cc, pid)):
            report.tariffs += await objects.ingest_tariffs(operator, tariff_page.items)
    log.info(
        "OCPI synced %s: %d locations, %d EVSEs in %d pages (%d stale, %d rejected), %d tariffs",
        operator.id, report.locations, report.evses, report.pages, report.stale,
        report.rejected, report.tariffs,
    )  # fmt: skip
    return report


def _maybe(party: OcpiParty, module: str) -> str | None:
    try:
        return _find(party.endpoints, module, "SENDER")
    except OcpiPeerError:
        return None


def _when(text: Any) -> datetime | None:
    return parse_datetime(text) if isinstance(text, str) and text else None


def _text(at: datetime | None) -> str | None:
    return format_datetime(at) if at else None


async def _keep(
    connections: OcpiConnections, party: OcpiParty, locations_state: dict[str, Any]
) -> OcpiParty:
    fresh = await connections.party(party.id) or party
    return await connections.save(
        replace(fresh, sync_state={**fresh.sync_state, "locations": locations_state})
    )


def pulled_before(party: OcpiParty) -> datetime | None:
    """Where the next incremental pull of the party's Locations starts (``date_from``); None
    while no pull has completed."""
    return _when(dict(party.sync_state.get("locations") or {}).get("date_from"))
