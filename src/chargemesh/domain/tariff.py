"""Prices. T/CEC splits electricity fee and service fee per time-of-day period; OCPI has
per-kWh/time/flat components. Both reduce to periods with an energy and a service price."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class TariffPeriod:
    start: time  # local time of day, inclusive
    end: time  # exclusive; time(0, 0) as end means midnight
    energy_price: Decimal  # per kWh, tariff currency
    service_price: Decimal = Decimal(0)  # per kWh

    @property
    def price_per_kwh(self) -> Decimal:
        return self.energy_price + self.service_price

    def covers(self, at: time) -> bool:
        if self.end == time(0, 0) or self.end <= self.start:  # runs to / past midnight
            return at >= self.start or (self.end != time(0, 0) and at < self.end)
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    operator_id: str
    currency: str = "CNY"
    periods: tuple[TariffPeriod, ...] = ()
    parking_fee: str | None = None  # operators publish parking fees as free text
    description: str | None = None
    #: When the periods were last fetched from the operator (T/CEC business policy), so they
    #: can be asked again once they age; ``None`` for published ones (OCPI Tariffs, fee text).
    fetched_at: datetime | None = None

    def period_at(self, at: time) -> TariffPeriod | None:
        return next((p for p in self.periods if p.covers(at)), None)
