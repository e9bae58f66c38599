"""Station (location) → EVSE (pile) → Connector (gun): the registry's canonical shape.

Coordinates are GCJ-02, canonical for China as published by Chinese operators and maps;
outside China GCJ-02 equals WGS-84. WGS-84 is derived, never stored as the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chargemesh.domain.status import ConnectorStatus
from chargemesh.geo.coords import gcj02_to_wgs84

ID_SEPARATOR = ":"


class ConnectorStandard(StrEnum):
    GBT_AC = "gbt_ac"  # GB/T 20234.2
    GBT_DC = "gbt_dc"  # GB/T 20234.3
    CHAOJI = "chaoji"  # GB/T 20234.4 (2023) / ChaoJi
    CCS2 = "ccs2"  # IEC 62196 Type 2 combo
    CCS1 = "ccs1"
    TYPE2 = "type2"  # IEC 62196 Type 2
    TYPE1 = "type1"
    CHADEMO = "chademo"
    NACS = "nacs"  # SAE J3400 / Tesla
    DOMESTIC = "domestic"  # household socket
    WIRELESS = "wireless"
    OTHER = "other"
    UNKNOWN = "unknown"


class CurrentType(StrEnum):
    AC = "ac"
    DC = "dc"


class AccessMethod(StrEnum):
    SCAN = "scan"  # QR code on the pile
    PLUG_AND_CHARGE = "plug_and_charge"
    APP_START = "app_start"  # remote start from the app without scanning
    RFID = "rfid"
    VIEW_ONLY = "view_only"  # shown, but cannot be started through the platform


class StationType(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    BUS = "bus"
    SANITATION = "sanitation"
    LOGISTICS = "logistics"
    TAXI = "taxi"
    OTHER = "other"


def station_id(operator_id: str, source_id: str) -> str:
    """The registry id of a station: the operator's id and the operator's own station id."""
    return f"{operator_id}{ID_SEPARATOR}{source_id}"


def child_id(parent_id: str, source_id: str) -> str:
    """The registry id of an EVSE under a station, or of a connector under an EVSE."""
    return f"{parent_id}{ID_SEPARATOR}{source_id}"


@dataclass(frozen=True, slots=True)
class Connector:
    id: str
    source_id: str
    standard: ConnectorStandard
    current_type: CurrentType
    max_power_kw: float
    max_voltage: float | None = None
    max_current: float | None = None
    access_methods: frozenset[AccessMethod] = field(default_factory=frozenset)
    status: ConnectorStatus = ConnectorStatus.UNKNOWN
    status_at: datetime | None = None  # when the status was last observed
    status_since: datetime | None = None  # when it last changed (the store fills it in)


@dataclass(frozen=True, slots=True)
class Evse:
    id: str
    source_id: str
    connectors: tuple[Connector, ...]
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    max_power_kw: float | None = None
    evse_code: str | None = None  # the id printed on the pile, e.g. OCPI evse_id CN*ABC*E123*1

    @property
    def power_kw(self) -> float:
        """The pile's rated power, or the best of its connectors when the feed omits it."""
        if self.max_power_kw is not None:
            return self.max_power_kw
        return max((c.max_power_kw for c in self.connectors), default=0.0)


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    operator_id: str
    source_id: str
    name: str
    lon: float  # GCJ-02 inside China
    lat: float
    evses: tuple[Evse, ...] = ()
    address: str | None = None
    country_code: str = "CN"
    county_adcode: str | None = None  # GB/T 2260 6-digit code
    highway_service_area: bool = False
    station_type: StationType = StationType.PUBLIC
    opening_hours: str | None = None  # "24/7" or the operator's own text
    parking: str | None = None  # parking information and fees as published
    tariff_id: str | None = None
    updated_at: datetime | None = None  # the source's last_updated, when it gives one

    @property
    def wgs84(self) -> tuple[float, float]:
        """(lon, lat) in WGS-84, derived from the canonical GCJ-02 position."""
        return gcj02_to_wgs84(self.lon, self.lat)

    @property
    def connectors(self) -> tuple[Connector, ...]:
        return tuple(c for e in self.evses for c in e.connectors)
