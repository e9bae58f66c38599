"""T/CEC wire models → the domain: stations, piles, connectors, live status and tariffs.

Registry ids come from the *configured* operator, never from the payload's ``OperatorID``
(an aggregating operator may list stations whose ``OperatorID`` is a sub-operator's).

The GB/T edition of a connector (``NationalStandard`` 1 = 2011, 2 = 2015) has no place in the
domain ``Connector`` yet: the standard stays ``GBT_AC``/``GBT_DC`` and :func:`gbt_edition` reads
the edition off the wire model for whoever needs it (compatibility reports).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import time
from typing import Final, Literal

from chargemesh.domain import (
    AccessMethod,
    Capability,
    Connector,
    ConnectorStandard,
    ConnectorStatus,
    CurrentType,
    Evse,
    Operator,
    Station,
    StationType,
    Tariff,
    TariffPeriod,
    child_id,
    station_id,
)
from chargemesh.geo.counties import CountyTable
from chargemesh.protocols.common import county_adcode
from chargemesh.protocols.common import positive as _positive
from chargemesh.protocols.common import text as _text
from chargemesh.protocols.tcec.charging import PolicyInfo
from chargemesh.protocols.tcec.stations import (
    ConnectorInfo,
    ConnectorStatusInfo,
    EquipmentInfo,
    QueryStationStatusResponse,
    StationInfo,
)

__all__ = [
    "HIGHWAY_SERVICE_AREA",
    "ReportedStatus",
    "access_methods",
    "county_adcode",
    "gbt_edition",
    "opening_hours",
    "station_tariff_id",
    "status_update",
    "status_updates",
    "tariff_from_policies",
    "tariff_from_station",
    "to_connector",
    "to_evse",
    "to_station",
]

#: ``Construction`` code of an intercity highway service area (城际高速服务区).
HIGHWAY_SERVICE_AREA: Final = 11

#: Above this power a connector of unknown kind is taken for DC (public AC tops out at 22 kW).
AC_MAX_POWER_KW: Final = 22.0

STATION_TYPES: Final[dict[int, StationType]] = {
    1: StationType.PUBLIC,
    50: StationType.PRIVATE,
    100: StationType.BUS,
    101: StationType.SANITATION,
    102: StationType.LOGISTICS,
    103: StationType.TAXI,
    255: StationType.OTHER,
}

CONNECTOR_STANDARDS: Final[dict[int, ConnectorStandard]] = {
    1: ConnectorStandard.DOMESTIC,  # household socket, mode 2
    2: ConnectorStandard.GBT_AC,  # AC socket, mode 3 connection B
    3: ConnectorStandard.GBT_AC,  # AC tethered plug, mode 3 connection C
    4: ConnectorStandard.GBT_DC,  # DC tethered gun, mode 4
    5: ConnectorStandard.WIRELESS,
    6: ConnectorStandard.OTHER,
}

_EQUIPMENT_DC, _EQUIPMENT_AC, _EQUIPMENT_WIRELESS = 1, 2, 4

_ALL_DAY = re.compile(r"^0?0[:：]00\s*[-~～至到—–]+\s*(24[:：]00|23[:：]59)$")
_ALL_DAY_WORDS: Final = frozenset(
    {"24小时", "全天", "全天24小时", "24小时营业", "全天候", "7*24", "7*24小时", "7×24小时", "24h"}
)


# T/CEC 102 ConnectorStatusInfo.Status.
STATUS: dict[int, ConnectorStatus] = {
    0: ConnectorStatus.OFFLINE,
    1: ConnectorStatus.AVAILABLE,
    2: ConnectorStatus.OCCUPIED,  # 占用（未充电）
    3: ConnectorStatus.CHARGING,  # 占用（充电中）
    4: ConnectorStatus.RESERVED,  # 占用（预约锁定）
    255: ConnectorStatus.FAULTED,
}


def connector_status(code: object) -> ConnectorStatus:
    """The unified status of a T/CEC connector status code (an int or a numeric string);
    unknown or private codes (operators use e.g. 21501 "upgrading") are UNKNOWN, never an error."""
    if isinstance(code, bool):
        return ConnectorStatus.UNKNOWN
    if isinstance(code, str):
        try:
            code = int(code.strip())
        except ValueError:
            return ConnectorStatus.UNKNOWN
    if not isinstance(code, int):
        return ConnectorStatus.UNKNOWN
    return STATUS.get(code, ConnectorStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class ReportedStatus:
    """A connector's reported status: the operator's ConnectorID, ours, and the raw code."""

    connector_source_id: str
    status: ConnectorStatus
    source_code: str


# ----------------------------------------------------------------------------- helpers


def access_methods(capabilities: Iterable[Capability]) -> frozenset[AccessMethod]:
    """How drivers can start a charge at this operator's connectors through the platform.

    A scan start is a ``query_start_charge`` with the connector's id, so the app can send it
    without a scan as well. An operator with no way to start is view-only.
    """
    caps = frozenset(capabilities)
    methods: set[AccessMethod] = set()
    if Capability.VIEW_ONLY not in caps:
        if Capability.SCAN in caps:
            methods |= {AccessMethod.SCAN, AccessMethod.APP_START}
        if Capability.PLUG_AND_CHARGE in caps:
            methods.add(AccessMethod.PLUG_AND_CHARGE)
    return frozenset(methods) or frozenset({AccessMethod.VIEW_ONLY})


def opening_hours(busine_hours: str | None) -> str | None:
    """``BusineHours`` as published, or ``"24/7"`` for the usual ways of saying round the clock."""
    text = _text(busine_hours)
    if text is None:
        return None
    if _ALL_DAY.match(text) or text.replace(" ", "").lower() in _ALL_DAY_WORDS:
        return "24/7"
    return text


def _parking(info: StationInfo) -> str | None:
    parts = [p for p in (_text(info.park_info), _text(info.park_fee)) if p]
    return "; ".join(dict.fromkeys(parts)) or None


def gbt_edition(connector: ConnectorInfo) -> Literal[2011, 2015] | None:
    """The GB/T 20234 edition from ``NationalStandard`` (1 → 2011, 2 → 2015), else ``None``."""
    if connector.national_standard == 1:
        return 2011
    if connector.national_standard == 2:
        return 2015
    return None


# ----------------------------------------------------------------------------- chargers


def _standard(connector: ConnectorInfo, equipment_type: int | None) -> ConnectorStandard:
    if connector.connector_type is not None and connector.connector_type in CONNECTOR_STANDARDS:
        return CONNECTOR_STANDARDS[connector.connector_type]
    return {
        _EQUIPMENT_DC: ConnectorStandard.GBT_DC,
        _EQUIPMENT_AC: ConnectorStandard.GBT_AC,
        _EQUIPMENT_WIRELESS: ConnectorStandard.WIRELESS,
    }.get(equipment_type or 0, ConnectorStandard.UNKNOWN)


def _current_type(
    connector: ConnectorInfo, equipment_type: int | None, power_kw: float
) -> CurrentType:
    if connector.connector_type in (1, 2, 3):
        return CurrentType.AC
    if connector.connector_type == 4:
        return CurrentType.DC
    if equipment_type == _EQUIPMENT_DC:
        return CurrentType.DC
    if equipment_type == _EQUIPMENT_AC:
        return CurrentType.AC
    # wireless, other, combined or unknown: the power decides
    return CurrentType.DC if power_kw > AC_MAX_POWER_KW else CurrentType.AC


def to_connector(
    connector: ConnectorInfo,
    equipment: EquipmentInfo,
    evse_id: str,
    methods: frozenset[AccessMethod],
) -> Connector:
    """A ``ConnectorInfo`` under its pile; power falls back to the pile's rating."""
    power = _positive(connector.power) or _positive(equipment.power) or 0.0
    return Connector(
        id=child_id(evse_id, connector.connector_id),
        source_id=connector.connector_id,
        standard=_standard(connector, equipment.equipment_type),
        current_type=_current_type(connector, equipment.equipment_type, power),
        max_power_kw=power,
        max_voltage=_positive(connector.voltage_upper_limits),
        max_current=_positive(connector.current),
        access_methods=methods,
    )


def to_evse(
    equipment: EquipmentInfo, station_reg_id: str, methods: frozenset[AccessMethod]
) -> Evse:
    evse_id = child_id(station_reg_id, equipment.equipment_id)
    if equipment.plug_and_charge == 0:  # our extension: this pile does not, whatever the rest
        methods = methods - {AccessMethod.PLUG_AND_CHARGE} or frozenset({AccessMethod.VIEW_ONLY})
    return Evse(
        id=evse_id,
        source_id=equipment.equipment_id,
        connectors=tuple(
            to_connector(c, equipment, evse_id, methods) for c in equipment.connector_infos
        ),
        manufacturer=_text(equipment.manufacturer_name) or _text(equipment.manufacturer_id),
        model=_text(equipment.equipment_model),
        max_power_kw=_positive(equipment.power),
    )


def to_station(
    info: StationInfo,
    operator: Operator,
    *,
    counties: CountyTable | None = None,
) -> Station:
    """A ``StationInfo`` as a registry station of ``operator`` (ids from ``operator.id``).

    ``tariff_id`` is always the station's own tariff (:func:`station_tariff_id`): fee text from
    the listing (:func:`tariff_from_station`), time-of-use periods from the business policy
    (:func:`tariff_from_policies`) once the platform has asked for them.
    Connector status is left unknown: it comes from the status feed.
    """
    reg_id = station_id(operator.id, info.station_id)
    methods = access_methods(operator.capabilities)
    return Station(
        id=reg_id,
        operator_id=operator.id,
        source_id=info.station_id,
        name=info.station_name.strip(),
        lon=info.station_lng,
        lat=info.station_lat,
        evses=tuple(to_evse(e, reg_id, methods) for e in info.equipment_infos),
        address=_text(info.address),
        country_code=(_text(info.country_code) or "CN").upper(),
        county_adcode=county_adcode(info.area_code, info.station_lng, info.station_lat, counties),
        highway_service_area=info.construction == HIGHWAY_SERVICE_AREA,
        station_type=(
            StationType.PUBLIC
            if info.station_type is None
            else STATION_TYPES.get(info.station_type, StationType.OTHER)
        ),
        opening_hours=opening_hours(info.busine_hours),
        parking=_parking(info),
        tariff_id=station_tariff_id(reg_id),
    )


# ----------------------------------------------------------------------------- status


def status_update(info: ConnectorStatusInfo) -> ReportedStatus:
    """Private and unknown codes (21501 "upgrading" …) become ``UNKNOWN``; the code is kept."""
    return ReportedStatus(info.connector_id, connector_status(info.status), str(info.status))


def status_updates(response: QueryStationStatusResponse) -> Iterator[tuple[str, ReportedStatus]]:
    """(operator's StationID, update) for every connector in a ``query_station_status`` answer."""
    for station in response.station_status_infos:
        for connector in station.connector_status_infos:
            yield station.station_id, status_update(connector)


# ----------------------------------------------------------------------------- tariffs


def _clock(hhmmss: str) -> time:
    return time(int(hhmmss[0:2]), int(hhmmss[2:4]), int(hhmmss[4:6]))


def tariff_from_policies(
    policies: Sequence[PolicyInfo],
    *,
    tariff_id: str,
    operator_id: str,
    currency: str = "CNY",
) -> Tariff:
    """Time-of-use periods from ``query_equip_business_policy``'s ``PolicyInfos``.

    Each ``StartTime`` opens a period that runs to the next one; the last wraps round to the
    first (``time(0, 0)`` as an end means midnight). Order on the wire does not matter; of two
    policies with the same start the first listed wins. No policies give a tariff without periods.
    """
    by_start: dict[time, PolicyInfo] = {}
    for policy in policies:
        by_start.setdefault(_clock(policy.start_time), policy)
    starts = sorted(by_start)
    periods = tuple(
        TariffPeriod(
            start=start,
            end=starts[(i + 1) % len(starts)],
            energy_price=by_start[start].elec_price,
            service_price=by_start[start].service_price,
        )
        for i, start in enumerate(starts)
    )
    return Tariff(id=tariff_id, operator_id=operator_id, currency=currency, periods=periods)


def station_tariff_id(station_reg_id: str) -> str:
    """The id of a T/CEC station's tariff: the station's registry id + ``:tariff`` (T/CEC
    networks price per station; the platform keeps one tariff for each)."""
    return child_id(station_reg_id, "tariff")


def tariff_from_station(info: StationInfo, operator_id: str) -> Tariff | None:
    """The fees a station publishes as free text (``ElectricityFee``, ``ServiceFee``,
    ``ParkFee``), kept as text; ``None`` when it publishes none. Its id is the station's
    registry id + ``:tariff``."""
    electricity, service, park = (
        _text(info.electricity_fee),
        _text(info.service_fee),
        _text(info.park_fee),
    )
    if not (electricity or service or park):
        return None
    description = "\n".join(
        f"{label}: {text}" for label, text in (("电费", electricity), ("服务费", service)) if text
    )
    return Tariff(
        id=station_tariff_id(station_id(operator_id, info.station_id)),
        operator_id=operator_id,
        parking_fee=park,
        description=description or None,
    )
