"""Row ↔ domain conversion shared by both backends (pure functions, no connections)."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from chargemesh.domain import (
    AccessMethod,
    Capability,
    Connector,
    ConnectorStandard,
    ConnectorStatus,
    CurrentType,
    Evse,
    Operator,
    OperatorProtocol,
    Station,
    StationType,
    Tariff,
    TariffPeriod,
)

E = TypeVar("E", bound=StrEnum)

STATION_COLUMNS = (
    "id", "operator_id", "source_id", "name", "address", "country_code", "lon", "lat",
    "county_adcode", "highway_service_area", "station_type", "opening_hours", "parking",
    "tariff_id", "updated_at", "fingerprint", "removed_at",
)  # fmt: skip
EVSE_COLUMNS = (
    "id", "station_id", "source_id", "position", "manufacturer", "model", "firmware",
    "max_power_kw", "evse_code", "dc", "access_methods",
)  # fmt: skip
CONNECTOR_COLUMNS = (
    "id", "evse_id", "station_id", "operator_id", "source_id", "position", "standard",
    "current_type", "max_power_kw", "max_voltage", "max_current", "access_methods",
    "status", "status_at", "status_since",
)  # fmt: skip
# Columns a re-sync may overwrite on an existing connector: never its live status.
CONNECTOR_STATIC_COLUMNS = tuple(
    c for c in CONNECTOR_COLUMNS if c not in ("status", "status_at", "status_since")
)


def require_aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"timestamp {at.isoformat()} has no time zone")
    return at.astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def join_set(values: frozenset[StrEnum]) -> str:
    """A set of enum members as sorted comma-separated text (cached: feeds reuse few sets)."""
    return ",".join(sorted(str(v) for v in values))


def split_set(text: str, kind: type[E]) -> frozenset[E]:
    return frozenset(kind(v) for v in text.split(",") if v)


def fingerprint(station: Station) -> str:
    """A digest of a station's static content: what a re-sync compares to skip unchanged rows.

    Connector status and the source's ``updated_at`` are left out: status moves through the
    status path, and a bumped timestamp alone is not a change of the station.
    """
    key = (
        station.operator_id, station.source_id, station.name, station.address,
        station.country_code, station.lon, station.lat, station.county_adcode,
        station.highway_service_area, str(station.station_type), station.opening_hours,
        station.parking, station.tariff_id,
        tuple(
            (
                e.id, e.source_id, e.manufacturer, e.model, e.firmware, e.max_power_kw,
                e.evse_code,
                tuple(
                    (
                        c.id, c.source_id, str(c.standard), str(c.current_type),
                        c.max_power_kw, c.max_voltage, c.max_current,
                        join_set(c.access_methods),
                    )
                    for c in e.connectors
                ),
            )
            for e in station.evses
        ),
    )  # fmt: skip
    return hashlib.blake2b(repr(key).encode(), digest_size=16).hexdigest()


def station_row(station: Station, digest: str, updated_at: Any) -> tuple[Any, ...]:
    return (
        station.id, station.operator_id, station.source_id, station.name, station.address,
        station.country_code, station.lon, station.lat, station.county_adcode,
        station.highway_service_area, str(station.station_type), station.opening_hours,
        station.parking, station.tariff_id, updated_at, digest, None,
    )  # fmt: skip


def evse_row(station_id: str, position: int, evse: Evse) -> tuple[Any, ...]:
    """An EVSE's row; ``dc`` and ``access_methods`` summarise its connectors (for analytics:
    power classes and access counts are EVSE-level and must not need the connectors)."""
    access: frozenset[StrEnum] = frozenset(m for c in evse.connectors for m in c.access_methods)
    dc = int(any(c.current_type == "dc" for c in evse.connectors))
    return (
        evse.id, station_id, evse.source_id, position, evse.manufacturer, evse.model,
        evse.firmware, evse.max_power_kw, evse.evse_code, dc, join_set(access),
    )  # fmt: skip


def connector_row(
    station: Station, evse: Evse, position: int, c: Connector, status_at: Any, since: Any
) -> tuple[Any, ...]:
    """A connector's row. ``since`` defaults to ``status_at``: a first sight starts the clock."""
    return (
        c.id, evse.id, station.id, station.operator_id, c.source_id, position,
        str(c.standard), str(c.current_type), c.max_power_kw, c.max_voltage, c.max_current,
        join_set(c.access_methods), str(c.status), status_at,
        status_at if since is None else since,
    )  # fmt: skip


def evse_from_row(row: Sequence[Any], connectors: tuple[Connector, ...]) -> Evse:
    # row: id, source_id, manufacturer, model, firmware, max_power_kw, evse_code
    return Evse(
        id=row[0],
        source_id=row[1],
        manufacturer=row[2],
        model=row[3],
        firmware=row[4],
        max_power_kw=row[5],
        evse_code=row[6],
        connectors=connectors,
    )


def connector_from_row(
    row: Sequence[Any], status_at: datetime | None, status_since: datetime | None
) -> Connector:
    # row: id, source_id, standard, current_type, max_power_kw, max_voltage, max_current,
    #      access_methods, status
    return Connector(
        id=row[0],
        source_id=row[1],
        standard=ConnectorStandard(row[2]),
        current_type=CurrentType(row[3]),
        max_power_kw=row[4],
        max_voltage=row[5],
        max_current=row[6],
        access_methods=split_set(row[7], AccessMethod),
        status=ConnectorStatus(row[8]),
        status_at=status_at,
        status_since=status_since,
    )


def operator_row(op: Operator) -> tuple[Any, ...]:
    return (
        op.id,
        op.name,
        op.protocol.value,
        join_set(op.capabilities),
        int(op.status_freshness.total_seconds()),
    )


def operator_from_row(row: Sequence[Any]) -> Operator:
    return Operator(
        id=row[0],
        name=row[1],
        protocol=OperatorProtocol(row[2]),
        capabilities=split_set(row[3], Capability),
        status_freshness=timedelta(seconds=row[4]),
    )


def tariff_row(t: Tariff) -> tuple[Any, ...]:
    periods = [
        [p.start.isoformat(), p.end.isoformat(), str(p.energy_price), str(p.service_price)]
        for p in t.periods
    ]
    return (t.id, t.operator_id, t.currency, json.dumps(periods), t.parking_fee, t.description)


def tariff_from_row(row: Sequence[Any], fetched_at: datetime | None = None) -> Tariff:
    periods = tuple(
        TariffPeriod(time.fromisoformat(s), time.fromisoformat(e), Decimal(ep), Decimal(sp))
        for s, e, ep, sp in json.loads(row[3])
    )
    return Tariff(
        id=row[0],
        operator_id=row[1],
        currency=row[2],
        periods=periods,
        parking_fee=row[4],
        description=row[5],
        fetched_at=fetched_at,
    )


def station_from_row(
    row: Sequence[Any], evses: tuple[Evse, ...], updated_at: datetime | None
) -> Station:
    return Station(
        id=row[0],
        operator_id=row[1],
        source_id=row[2],
        name=row[3],
        address=row[4],
        country_code=row[5],
        lon=row[6],
        lat=row[7],
        county_adcode=row[8],
        highway_service_area=bool(row[9]),
        station_type=StationType(row[10]),
        opening_hours=row[11],
        parking=row[12],
        tariff_id=row[13],
        updated_at=updated_at,
        evses=evses,
    )
