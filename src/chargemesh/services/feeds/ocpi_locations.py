"""OCPI Locations into the registry: pulled pages, and PUT/PATCH pushes of a Location, an EVSE
or a Connector.

The party's object is kept in its wire form (``ocpi_objects``) so that a PATCH can be merged into
it and a GET answered; the registry holds the mapped :class:`~chargemesh.domain.Station`.

Ordering: an update whose ``last_updated`` is older than the object we hold is ignored (a late
push or a pull page that raced a push can never roll a status back). Pushes and pulls of one
location are serialised by a per-location lock. Connector status reaches the registry through the
group-commit :class:`StatusWriter`, observed when it reached us; the push is answered only after
that commit, so an acknowledged status is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from chargemesh.domain import Operator
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.enums import Status, open_value
from chargemesh.protocols.ocpi.models import (
    MAX_ENUM_LENGTH,
    Location,
    ci,
    dump,
    merge_patch,
    parse,
)
from chargemesh.protocols.ocpi.transport import (
    OcpiError,
    StatusCode,
    format_datetime,
    parse_datetime,
)
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.store import OcpiObject, StatusResult, StatusUpdate, Store
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

MODULE: Final = "locations"
LOCK_STRIPES: Final = 1024
STATUS_ONLY: Final = frozenset({"status", "last_updated"})


@dataclass(frozen=True, slots=True)
class Applied:
    """What became of one push: ``stale`` when it was older than what we hold."""

    stale: bool = False
    status_changes: int = 0


@dataclass(slots=True)
class PageResult:
    stations: int = 0
    removed: int = 0
    stale: int = 0
    status_changes: int = 0


def patch_time(patch: dict[str, Any]) -> datetime:
    value = patch.get("last_updated")
    if not isinstance(value, str):
        raise OcpiError(StatusCode.INVALID_PARAMETERS, "a PATCH must carry last_updated")
    try:
        return parse_datetime(value)
    except ValueError:
        raise OcpiError(
            StatusCode.INVALID_PARAMETERS, "last_updated is not an OCPI DateTime"
        ) from None


def _find(items: list[dict[str, Any]], key: str, wanted: str) -> int | None:
    return next((n for n, item in enumerate(items) if ci(str(item.get(key, ""))) == wanted), None)


def _stamped(raw: dict[str, Any], at: datetime) -> dict[str, Any]:
    """``raw`` with ``last_updated`` bumped to ``at`` if that is later (the spec's cascade)."""
    held = raw.get("last_updated")
    if not isinstance(held, str) or parse_datetime(held) < at:
        raw = {**raw, "last_updated": format_datetime(at)}
    return raw


class LocationIngest:
    def __init__(self, store: Store, writer: StatusWriter, relay: OutboxRelay) -> None:
        self.store = self._store = store
        self._writer = writer
        self._relay = relay
        # Striped: a bounded set of locks, one location always maps to the same one.
        self._locks = [asyncio.Lock() for _ in range(LOCK_STRIPES)]

    def _locked(self, cc: str, pid: str, location_id: str) -> asyncio.Lock:
        return self._locks[hash((ci(cc), ci(pid), ci(location_id))) % LOCK_STRIPES]

    # --- reads ------------------------------------------------------------------------------
    async def _held(self, owner: str, cc: str, pid: str, location_id: str) -> OcpiObject | None:
        """The location we hold, if the connection ``owner`` sent it. Another connection's
        object is answered as unknown: nobody reads or overwrites what another party sent."""
        held = await asyncio.to_thread(self._store.get_ocpi_object, MODULE, cc, pid, location_id)
        if held is not None and held.owner != owner.upper():
            raise OcpiError.not_found("unknown location", StatusCode.UNKNOWN_LOCATION)
        return held

    async def get(
        self,
        owner: str,
        cc: str,
        pid: str,
        location_id: str,
        evse_uid: str | None,
        connector_id: str | None,
    ) -> dict[str, Any]:
        held = await self._held(owner, cc, pid, location_id)
        if held is None:
            raise OcpiError.not_found("unknown location", StatusCode.UNKNOWN_LOCATION)
        raw: dict[str, Any] = held.payload
        if evse_uid is None:
            return raw
        evses = raw.get("evses") or []
        n = _find(evses, "uid", ci(evse_uid))
        if n is None:
            raise OcpiError.not_found("unknown EVSE", StatusCode.UNKNOWN_LOCATION)
        evse: dict[str, Any] = evses[n]
        if connector_id is None:
            return evse
        connectors = evse.get("connectors") or []
        m = _find(connectors, "id", ci(connector_id))
        if m is None:
            raise OcpiError.not_found("unknown connector", StatusCode.UNKNOWN_LOCATION)
        connector: dict[str, Any] = connectors[m]
        return connector

    # --- pushes -----------------------------------------------------------------------------
    async def put(
        self,
        operator: Operator,
        owner: str,
        cc: str,
        pid: str,
        location_id: str,
        evse_uid: str | None,
        connector_id: str | None,
        body: Any,
    ) -> Applied:
        """PUT of a whole Location, EVSE or Connector."""
        if not isinstance(body, dict):
            raise OcpiError(StatusCode.INVALID_PARAMETERS, "the body must be a JSON object")
        async with self._locked(cc, pid, location_id):
            held = await self._held(owner, cc, pid, location_id)
            if evse_uid is None:
                location = parse(Location, body)
                url_ids = (ci(cc), ci(pid), ci(location_id))
                if (ci(location.country_code), ci(location.party_id), ci(location.id)) != url_ids:
                    raise OcpiError(
                        StatusCode.INVALID_PARAMETERS,
                        "country_code, party_id and id must match the URL",
                    )
                if held is not None and held.last_updated > location.last_updated:
                    return Applied(stale=True)
                return await self._save(operator, location)
            if held is None:
                raise OcpiError.not_found(
                    "unknown location: PUT the Location first", StatusCode.UNKNOWN_LOCATION
                )
            key, wanted = ("uid", evse_uid) if connector_id is None else ("id", connector_id)
            if ci(str(body.get(key, ""))) != ci(wanted):
                raise OcpiError(StatusCode.INVALID_PARAMETERS, f"{key} must match the URL")
            raw = _changed(
                held.payload, evse_uid, connector_id, patch_time(body), lambda _: body, create=True
            )
            if raw is None:
                return Applied(stale=True)
            return await self._save(operator, parse(Location, raw))

    async def patch(
        self,
        operator: Operator,
        owner: str,
        cc: str,
        pid: str,
        location_id: str,
        evse_uid: str | None,
        connector_id: str | None,
        body: Any,
    ) -> Applied:
        """PATCH of a Location, EVSE or Connector: only the fields sent, with ``last_updated``.
        A PATCH of an EVSE's status alone touches the registry's status and nothing else."""
        if not isinstance(body, dict):
            raise OcpiError(StatusCode.INVALID_PARAMETERS, "the body must be a JSON object")
        at = patch_time(body)
        async with self._locked(cc, pid, location_id):
            held = await self._held(owner, cc, pid, location_id)
            if held is None:
                raise OcpiError.not_found("unknown location", StatusCode.UNKNOWN_LOCATION)
            if evse_uid is not None and connector_id is None and set(body) <= STATUS_ONLY:
                code = _status_code(body)
                if code != Status.REMOVED:  # REMOVED takes the EVSE off: the full path below
                    return await self._status_patch(operator, held, evse_uid, code, at)
            raw = _changed(
                held.payload,
                evse_uid,
                connector_id,
                at,
                lambda old: merge_patch(old or {}, body),
                create=False,
            )
            if raw is None:
                return Applied(stale=True)
            return await self._save(operator, parse(Location, raw))

    async def _status_patch(
        self, operator: Operator, held: OcpiObject, evse_uid: str, code: str, at: datetime
    ) -> Applied:
        """The hot path: an EVSE's status alone. The stored object is edited in place of a
        full parse and dump (it was valid when stored; only ``status`` and ``last_updated``
        change), and the object and the connectors' status are committed together."""
        raw = _changed(
            held.payload, evse_uid, None, at,
            lambda old: {**(old or {}), "status": code, "last_updated": format_datetime(at)},
            create=False,
        )  # fmt: skip
        if raw is None:
            return Applied(stale=True)
        evse = next(e for e in raw["evses"] if ci(str(e.get("uid", ""))) == ci(evse_uid))
        state = mapping.connector_status(code)
        now = datetime.now(UTC)
        updates = [
            StatusUpdate(
                mapping.connector_key(operator.id, held.object_id, str(evse["uid"]), str(c["id"])),
                state, now, "ocpi:push", code,
            )
            for c in evse.get("connectors") or []
        ]  # fmt: skip
        record = OcpiObject(
            MODULE, held.country_code, held.party_id, held.object_id, held.owner,
            max(held.last_updated, at), raw,
        )  # fmt: skip
        result = await self._writer.apply(updates, objects=[record])
        return Applied(status_changes=len(result.changed))

    async def _save(self, operator: Operator, location: Location) -> Applied:
        """Keep the wire object, the registry's station (delisted when it is no longer
        published) and its connectors' status: one unit of work, so a PUT is kept whole."""
        kept = await self._relay.write(_keep(operator, [location], "ocpi:push"))
        return Applied(status_changes=kept.status_changes)

    # --- pulls ------------------------------------------------------------------------------
    async def ingest_page(self, operator: Operator, locations: Sequence[Location]) -> PageResult:
        """A pulled page: locations we hold a newer copy of (pushed meanwhile) are skipped."""
        report = PageResult()
        if not locations:
            return report
        fresh: list[Location] = []
        by_party: defaultdict[tuple[str, str], list[Location]] = defaultdict(list)
        for loc in locations:
            by_party[(ci(loc.country_code), ci(loc.party_id))].append(loc)
        for (cc, pid), locs in by_party.items():
            held = await asyncio.to_thread(
                self._store.ocpi_last_updated, MODULE, cc, pid, [loc.id for loc in locs]
            )
            for loc in locs:
                before = held.get(ci(loc.id))
                if before is not None and before > loc.last_updated:
                    report.stale += 1
                else:
                    fresh.append(loc)
        kept = await self._relay.write(_keep(operator, fresh, "ocpi:pull"))
        report.stations, report.removed = kept.stations, kept.removed
        report.status_changes = kept.status_changes
        return report


def _keep(
    operator: Operator, locations: Sequence[Location], source: str
) -> Callable[[UnitOfWork], PageResult]:
    """A unit's work for locations a CPO sent (a PUT, a pulled page): the wire objects, the
    registry's stations (delisted when no longer published) and their connectors' status, with
    their events, kept whole or not at all."""
    now = datetime.now(UTC)
    objects = [
        OcpiObject(
            MODULE, loc.country_code, loc.party_id, loc.id, operator.id, loc.last_updated,
            dump(loc),
        )
        for loc in locations
    ]  # fmt: skip
    stations = [mapping.to_station(loc, operator) for loc in locations if mapping.is_listed(loc)]
    gone = [
        mapping.location_key(operator.id, loc.id) for loc in locations if not mapping.is_listed(loc)
    ]
    updates = [
        u for loc in locations for u in _status_updates(operator, loc, loc.evses or [], now, source)
    ]

    def work(uow: UnitOfWork) -> PageResult:
        uow.ocpi.put_ocpi_objects(objects)
        result = uow.registry.upsert_stations(stations, at=now)
        removed = uow.registry.remove_stations(gone, at=now) if gone else []
        uow.collect([*result.added, *result.changed, *removed])
        status = uow.status.apply_status_updates(updates) if updates else StatusResult()
        uow.collect(status.events)
        return PageResult(len(stations), len(removed), 0, len(status.changed))

    return work


Change = Callable[[dict[str, Any] | None], dict[str, Any]]


def _changed(
    location: dict[str, Any],
    evse_uid: str | None,
    connector_id: str | None,
    at: datetime,
    change: Change,
    *,
    create: bool,
) -> dict[str, Any] | None:
    """``location`` with the Location itself, one EVSE or one Connector replaced by
    ``change(old)``, ``last_updated`` cascading up (a Connector bumps its EVSE and the Location,
    an EVSE the Location). ``None`` when the change is older than the object it targets; an
    unknown EVSE or Connector is created when ``create`` (PUT), else OCPI 2003."""
    if evse_uid is None:
        return None if _older(at, location) else _stamped(change(location), at)
    evses = [dict(e) for e in location.get("evses") or []]
    n = _find(evses, "uid", ci(evse_uid))
    if connector_id is None:
        child = _replace(evses, n, at, change, create=create, what="EVSE")
        if child is None:
            return None
    else:
        if n is None:
            raise OcpiError.not_found("unknown EVSE", StatusCode.UNKNOWN_LOCATION)
        connectors = [dict(c) for c in evses[n].get("connectors") or []]
        m = _find(connectors, "id", ci(connector_id))
        if _replace(connectors, m, at, change, create=create, what="connector") is None:
            return None
        evses[n] = _stamped({**evses[n], "connectors": connectors}, at)
    return _stamped({**location, "evses": evses}, at)


def _replace(
    items: list[dict[str, Any]], n: int | None, at: datetime, change: Change, *, create: bool,
    what: str,
) -> dict[str, Any] | None:  # fmt: skip
    if n is None and not create:
        raise OcpiError.not_found(f"unknown {what}", StatusCode.UNKNOWN_LOCATION)
    if n is not None and _older(at, items[n]):
        return None
    child = change(items[n] if n is not None else None)
    if n is None:
        items.append(child)
    else:
        items[n] = child
    return child


def _status_code(body: dict[str, Any]) -> str:
    """The EVSE Status a status PATCH carries (an unknown value kept as sent); OCPI 2001 if
    there is none."""
    status = body.get("status")
    if not isinstance(status, str) or not status.strip():
        raise OcpiError(StatusCode.INVALID_PARAMETERS, "status must be an EVSE Status")
    if len(status) > MAX_ENUM_LENGTH:  # the Location model's bound, on this path that skips it
        raise OcpiError(
            StatusCode.INVALID_PARAMETERS, f"status: at most {MAX_ENUM_LENGTH} characters"
        )
    return str(open_value(Status, status))


def _older(at: datetime, raw: dict[str, Any]) -> bool:
    held = raw.get("last_updated")
    return isinstance(held, str) and parse_datetime(held) > at


def _status_updates(
    operator: Operator, location: Location, evses: Sequence[Any], now: datetime, source: str
) -> Iterator[StatusUpdate]:
    for evse in evses:
        if str(evse.status) == "REMOVED":
            continue
        for connector_id, status, code, _ in mapping.evse_status_updates(
            operator.id, location.id, evse
        ):
            yield StatusUpdate(connector_id, status, now, source, code)
