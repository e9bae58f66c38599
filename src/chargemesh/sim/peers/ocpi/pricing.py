"""What a simulated CPO's session costs under its OCPI Tariff: the charging periods as priced,
ENERGY per kWh, TIME per hour, FLAT once, with the elements' restrictions (time of day in the
location's time zone, weekday, dates, kWh, power and duration; not ``step_size``) and VAT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chargemesh.protocols.ocpi.enums import CdrDimensionType, TariffDimensionType
from chargemesh.protocols.ocpi.models import (
    CdrDimension,
    ChargingPeriod,
    Price,
    PriceComponent,
    Tariff,
    TariffElement,
    TariffRestrictions,
)

__all__ = ["Costs", "PricedPeriod", "price", "session_costs"]


@dataclass(frozen=True, slots=True)
class PricedPeriod:
    """One charging period, as priced: its simulated start, length, energy, mean power, and the
    session's energy and duration before it."""

    start: datetime
    hours: float
    kwh: float
    kw: float
    soc: float
    kwh_before: float
    seconds_before: float

    def period(self, tariff_id: str | None) -> ChargingPeriod:
        dimensions = [
            CdrDimension(type=CdrDimensionType.ENERGY, volume=round(self.kwh, 4)),
            CdrDimension(type=CdrDimensionType.POWER, volume=round(self.kw, 2)),
            CdrDimension(type=CdrDimensionType.TIME, volume=round(self.hours, 4)),
            CdrDimension(type=CdrDimensionType.STATE_OF_CHARGE, volume=round(self.soc, 1)),
        ]
        return ChargingPeriod(
            start_date_time=self.start, dimensions=dimensions, tariff_id=tariff_id
        )


@dataclass(frozen=True, slots=True)
class Costs:
    """A session's cost by part, excl. and incl. VAT."""

    energy: tuple[float, float] = (0.0, 0.0)
    time: tuple[float, float] = (0.0, 0.0)
    fixed: tuple[float, float] = (0.0, 0.0)

    @property
    def total(self) -> Price:
        excl = self.energy[0] + self.time[0] + self.fixed[0]
        incl = self.energy[1] + self.time[1] + self.fixed[1]
        return price(excl, incl)


def price(excl: float, incl: float) -> Price:
    return Price(excl_vat=round(excl, 2), incl_vat=round(incl, 2))


def _clock(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    hours, _, minutes = text.strip().partition(":")
    try:
        return int(hours) % 24, int(minutes or 0)
    except ValueError:
        return None


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _applies(r: TariffRestrictions | None, piece: PricedPeriod, zone: tzinfo) -> bool:
    """Whether a tariff element's restrictions hold for a charging period (at its start)."""
    if r is None:
        return True
    if r.reservation is not None:
        return False  # a reservation price: no reservations here
    local = piece.start.astimezone(zone)
    begin, end = _clock(r.start_time), _clock(r.end_time)
    now = (local.hour, local.minute)
    if begin is not None and end is not None:
        inside = begin <= now < end if begin < end else (now >= begin or now < end)
    else:
        inside = (begin is None or now >= begin) and (end is None or now < end)
    if not inside:
        return False
    first, last = _day(r.start_date), _day(r.end_date)
    if (first is not None and local.date() < first) or (last is not None and local.date() >= last):
        return False
    if r.day_of_week and local.strftime("%A").upper() not in {str(d) for d in r.day_of_week}:
        return False
    bounds = (
        (r.min_kwh, r.max_kwh, piece.kwh_before),
        (r.min_power, r.max_power, piece.kw),
        (r.min_duration, r.max_duration, piece.seconds_before),
    )
    for low, high, value in bounds:
        if low is not None and value < float(low):
            return False
        if high is not None and value >= float(high):
            return False
    return True


def _component(
    elements: list[TariffElement], kind: TariffDimensionType, piece: PricedPeriod, zone: tzinfo
) -> PriceComponent | None:
    """OCPI's rule: per dimension, the first element that applies and prices it."""
    for element in elements:
        for component in element.price_components:
            if str(component.type) == kind.value and _applies(element.restrictions, piece, zone):
                return component
    return None


def _gross(amount: float, component: PriceComponent) -> tuple[float, float]:
    vat = float(component.vat) if component.vat is not None else 0.0
    return amount, amount * (1.0 + vat / 100.0)


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def session_costs(tariff: Tariff, slices: list[PricedPeriod], time_zone: str | None) -> Costs:
    """What ``slices`` (charging periods) cost under ``tariff``: ENERGY per kWh, TIME per hour,
    FLAT once."""
    zone = _zone(time_zone)
    energy = [0.0, 0.0]
    hours = [0.0, 0.0]
    fixed = [0.0, 0.0]
    flat_done = False
    for piece in slices:
        for kind, volume, into in (
            (TariffDimensionType.ENERGY, piece.kwh, energy),
            (TariffDimensionType.TIME, piece.hours, hours),
        ):
            component = _component(tariff.elements, kind, piece, zone)
            if component is not None:
                excl, incl = _gross(volume * float(component.price), component)
                into[0] += excl
                into[1] += incl
        if not flat_done:
            flat = _component(tariff.elements, TariffDimensionType.FLAT, piece, zone)
            if flat is not None:
                fixed[0], fixed[1] = _gross(float(flat.price), flat)
                flat_done = True
    return Costs((energy[0], energy[1]), (hours[0], hours[1]), (fixed[0], fixed[1]))
