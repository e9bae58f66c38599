"""``GET /api/v1/stations/{id}``: one station with every EVSE and connector, their live status as
a driver may trust it, and every feed that lists it.

Freshness: a connector whose last observed status is older than its operator's
``status_freshness`` is reported as ``unknown`` — never as the ``available`` it may once have
been (``chargemesh.domain.effective_status``). The status as last reported is kept beside it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel

from chargemesh.api.auth import Credentials, Guards
from chargemesh.domain import (
    ConnectorStatus,
    Operator,
    Station,
    StationType,
    Tariff,
    effective_status,
)
from chargemesh.geo.coords import gcj02_to_wgs84
from chargemesh.services.charging.prices import Prices
from chargemesh.services.charging.qr import printed_code
from chargemesh.store import Store


class ConnectorOut(BaseModel):
    id: str
    standard: str
    current_type: str
    max_power_kw: float
    access_methods: list[str]
    qr: str  # the code printed on the connector, what its QR code carries (docs/sessions.md)
    status: ConnectorStatus  # what a driver is shown: unknown once it is too old
    reported_status: ConnectorStatus  # as the feed last reported it
    status_observed_at: datetime | None
    status_since: datetime | None


class EvseOut(BaseModel):
    id: str
    evse_code: str | None
    max_power_kw: float
    manufacturer: str | None
    model: str | None
    connectors: list[ConnectorOut]


class SourceOut(BaseModel):
    station_id: str
    operator_id: str
    rule: str  # how it was found to be this station: self, source_ref, name_address, nearby


class OperatorRef(BaseModel):
    id: str
    name: str
    capabilities: list[str]


class TariffPeriodOut(BaseModel):
    start: str  # local time of day, "HH:MM"
    end: str  # exclusive; "00:00" is midnight
    electricity_fee: float  # per kWh
    service_fee: float  # per kWh
    price_per_kwh: float


class TariffOut(BaseModel):
    id: str
    currency: str
    periods: list[TariffPeriodOut]
    price_now: float | None  # per kWh at the station's local time (China time) now
    parking_fee: str | None
    description: str | None


class StationOut(BaseModel):
    id: str
    operator_id: str
    operator: OperatorRef | None
    name: str
    address: str | None
    lon: float
    lat: float
    coords: Literal["gcj02", "wgs84"]
    county_adcode: str | None
    highway_service_area: bool
    opening_hours: str | None
    tariff: TariffOut | None  # the price the driver will pay
    available_connectors: int
    evses: list[EvseOut]
    sources: list[SourceOut]


CHINA_TIME = timezone(timedelta(hours=8))


def tariff_out(tariff: Tariff | None, now: datetime) -> TariffOut | None:
    if tariff is None:
        return None
    current = tariff.period_at(now.astimezone(CHINA_TIME).time())
    return TariffOut(
        id=tariff.id,
        currency=tariff.currency,
        periods=[
            TariffPeriodOut(
                start=p.start.strftime("%H:%M"),
                end=p.end.strftime("%H:%M"),
                electricity_fee=float(p.energy_price),
                service_fee=float(p.service_price),
                price_per_kwh=float(p.price_per_kwh),
            )
            for p in tariff.periods
        ],
        price_now=float(current.price_per_kwh) if current is not None else None,
        parking_fee=tariff.parking_fee,
        description=tariff.description,
    )


def station_out(
    station: Station,
    operator: Operator | None,
    sources: list[SourceOut],
    now: datetime,
    coords: Literal["gcj02", "wgs84"],
    tariff: Tariff | None = None,
) -> StationOut:
    freshness = operator.status_freshness if operator else None
    protocol = operator.protocol if operator else None
    lon, lat = (
        (station.lon, station.lat)
        if coords == "gcj02"
        else gcj02_to_wgs84(station.lon, station.lat)
    )
    evses = []
    for e in station.evses:
        connectors = [
            ConnectorOut(
                id=c.id,
                standard=str(c.standard),
                current_type=str(c.current_type),
                max_power_kw=c.max_power_kw,
                access_methods=sorted(str(m) for m in c.access_methods),
                qr=printed_code(protocol, station.operator_id, e, c),
                status=(
                    effective_status(c.status, c.status_at, now, freshness)
                    if freshness is not None
                    else ConnectorStatus.UNKNOWN
                ),
                reported_status=c.status,
                status_observed_at=c.status_at,
                status_since=c.status_since,
            )
            for c in e.connectors
        ]
        evses.append(
            EvseOut(
                id=e.id,
                evse_code=e.evse_code,
                max_power_kw=e.power_kw,
                manufacturer=e.manufacturer,
                model=e.model,
                connectors=connectors,
            )
        )
    return StationOut(
        id=station.id,
        operator_id=station.operator_id,
        operator=(
            OperatorRef(
                id=operator.id,
                name=operator.name,
                capabilities=sorted(str(c) for c in operator.capabilities),
            )
            if operator
            else None
        ),
        name=station.name,
        address=station.address,
        lon=lon,
        lat=lat,
        coords=coords,
        county_adcode=station.county_adcode,
        highway_service_area=station.highway_service_area,
        opening_hours=station.opening_hours,
        tariff=tariff_out(tariff, now),
        available_connectors=sum(
            c.status is ConnectorStatus.AVAILABLE for e in evses for c in e.connectors
        ),
        evses=evses,
        sources=sources,
    )


def stations_router(
    store: Store, prices: Prices | None = None, guards: Guards | None = None
) -> APIRouter:
    """``prices`` finds the price a station shows (T/CEC: asked from the operator when first
    needed); without it, only the stored tariff is shown. ``guards``: who is asking, for the
    own network's home chargers (their owner only; without guards, nobody)."""
    router = APIRouter(prefix="/api/v1", tags=["stations"])

    async def owner_may_see(
        station: Station, credentials: HTTPAuthorizationCredentials | None
    ) -> bool:
        if station.station_type is not StationType.PRIVATE:
            return True
        own = await asyncio.to_thread(store.own_charger_at_station, station.id)
        if own is None or own.owner_account_id is None:
            return True  # a partner's private station: listed by its operator
        if guards is None or credentials is None:
            return False
        try:
            return await guards.driver(credentials) == own.owner_account_id
        except HTTPException:
            return False

    @router.get("/stations/{station_id}", response_model=StationOut)
    async def station(
        station_id: str,
        credentials: Credentials,
        coords: Literal["gcj02", "wgs84"] = Query("gcj02", description="coordinate system"),
    ) -> StationOut:
        """A station with every EVSE and connector, live status (unknown once older than its
        feed's freshness limit), and every feed listing it (merged across feeds). A home
        charger of the own network is shown to its owner only (404 for anyone else)."""
        found = await asyncio.to_thread(store.get_station, station_id)
        if found is None or not await owner_may_see(found, credentials):
            raise HTTPException(status_code=404, detail=f"no station {station_id!r}")
        operator, group, tariff = await asyncio.gather(
            asyncio.to_thread(store.get_operator, found.operator_id),
            asyncio.to_thread(store.station_sources, station_id),
            prices.of_station(found) if prices is not None
            else asyncio.to_thread(store.get_tariff, found.tariff_id) if found.tariff_id
            else asyncio.sleep(0, None),
        )  # fmt: skip
        owners = {}
        if group:
            stations = await asyncio.gather(
                *(asyncio.to_thread(store.get_station, s.station_id) for s in group)
            )
            owners = {s.id: s.operator_id for s in stations if s is not None}
        sources = [
            SourceOut(
                station_id=s.station_id, operator_id=owners.get(s.station_id, ""), rule=s.rule
            )
            for s in group
        ] or [SourceOut(station_id=found.id, operator_id=found.operator_id, rule="self")]
        return station_out(found, operator, sources, datetime.now(UTC), coords, tariff)

    return router
