"""The platform's own chargers (run through its OCPP CSMS, docs/csms.md) and their transactions.

A charger's password is never held: only its salted SHA-256 (``password_hash``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class ChargerKind(StrEnum):
    SUPERCHARGER = "supercharger"  # public, on the map as the own network
    HOME = "home"  # private: only its owner sees and starts it


@dataclass(frozen=True, slots=True)
class OwnCharger:
    id: str  # the OCPP charge point id (the last segment of its websocket URL)
    password_hash: str
    kind: ChargerKind
    name: str
    station_id: str  # its station in the registry
    connectors: int  # 1.6 connectorId 1..n, 2.0.1 EVSE 1..n connector 1
    created_at: datetime
    owner_account_id: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    ocpp_version: str | None = None  # "1.6" or "2.0.1", as it last connected
    last_boot_at: datetime | None = None
    site: str | None = None  # a supercharger site's chargers share one: a campaign spares it


@dataclass(frozen=True, slots=True)
class OcppTransaction:
    """A transaction on an own charger: the session it belongs to and its meter; the cost so
    far is priced reading by reading at the tariff period each interval began in."""

    charger_id: str
    transaction_id: str
    connector: int
    id_token: str
    session_ref: str
    meter_start_wh: float
    meter_wh: float
    meter_at: datetime
    energy_cost: Decimal
    service_cost: Decimal
    started_at: datetime
    ended_at: datetime | None = None

    @property
    def kwh(self) -> float:
        return round(max(0.0, self.meter_wh - self.meter_start_wh) / 1000, 3)
