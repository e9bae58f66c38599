"""OCPI wire models → the domain: Locations as stations, EVSE status, access methods, tariffs.

Registry ids come from the configured operator and the CiString ids of the payload in canonical
form (:func:`~chargemesh.protocols.ocpi.models.ci`), so ``LOC1``, ``loc1`` and ``" Loc1 "`` are one
station whoever sends them: :func:`location_key`, :func:`evse_key` and :func:`connector_key` are
the only rules, also used by the eMSP receiver on the ids in its URL paths.

Coordinates: OCPI gives WGS-84. A location in mainland China (``country`` CHN *and* inside the
GCJ-02 box) is converted to GCJ-02, the registry's canonical datum there; anywhere else (Hong Kong,
Macau, Taiwan, or a neighbour inside the rough box) WGS-84 is kept, as GCJ-02 only applies in the
mainland.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import Final

from chargemesh.domain import (
    AccessMethod,
    Capability,
    ConnectorStandard,
    ConnectorStatus,
    CurrentType,
    Operator,
    Station,
    StationType,
    Tariff,
    TariffPeriod,
    child_id,
    station_id,
)
from chargemesh.domain import Connector as DomainConnector
from chargemesh.domain import Evse as DomainEvse
from chargemesh.geo.coords import out_of_china, wgs84_to_gcj02
from chargemesh.geo.counties import CountyTable
from chargemesh.protocols.common import county_adcode, positive, text
from chargemesh.protocols.ocpi import enums
from chargemesh.protocols.ocpi.models import (
    Connector,
    DisplayText,
    Evse,
    Hours,
    Location,
    PriceComponent,
    TariffRestrictions,
    ci,
)
from chargemesh.protocols.ocpi.models import Tariff as OcpiTariff

__all__ = [
    "access_methods",
    "connector_key",
    "connector_power_kw",
    "connector_standard",
    "country_alpha2",
    "evse_key",
    "evse_status_updates",
    "is_listed",
    "location_key",
    "opening_hours",
    "parking_text",
    "tariff_key",
    "to_connector",
    "to_evse",
    "to_station",
    "to_tariff",
]

# ----------------------------------------------------------------------------- ids


# OCPI 2.2.1 EVSE Status (mod_locations, Status enum).
STATUS: dict[str, ConnectorStatus] = {
    "AVAILABLE": ConnectorStatus.AVAILABLE,
    "BLOCKED": ConnectorStatus.OCCUPIED,  # parked in front of / blocked: not usable, not charging
    "CHARGING": ConnectorStatus.CHARGING,
    "INOPERATIVE": ConnectorStatus.OFFLINE,  # not active or temporarily unavailable, not broken
    "OUTOFORDER": ConnectorStatus.FAULTED,
    "PLANNED": ConnectorStatus.OFFLINE,
    "REMOVED": ConnectorStatus.OFFLINE,
    "RESERVED": ConnectorStatus.RESERVED,
    "UNKNOWN": ConnectorStatus.UNKNOWN,
}


def connector_status(code: object) -> ConnectorStatus:
    """The unified status of an OCPI EVSE status code; case-insensitive, anything unrecognised
    is UNKNOWN."""
    if not isinstance(code, str):
        return ConnectorStatus.UNKNOWN
    return STATUS.get(code.strip().upper(), ConnectorStatus.UNKNOWN)


def location_key(operator_id: str, location_id: str) -> str:
    """Registry station id of an OCPI Location."""
    return station_id(operator_id, ci(location_id))


def evse_key(operator_id: str, location_id: str, evse_uid: str) -> str:
    """Registry EVSE id of an OCPI EVSE (by its ``uid``, not its ``evse_id``)."""
    return child_id(location_key(operator_id, location_id), ci(evse_uid))


def connector_key(operator_id: str, location_id: str, evse_uid: str, connector_id: str) -> str:
    """Registry connector id of an OCPI Connector."""
    return child_id(evse_key(operator_id, location_id, evse_uid), ci(connector_id))


def tariff_key(operator_id: str, tariff_id: str) -> str:
    """Registry tariff id of an OCPI Tariff, as referenced by a Connector's ``tariff_ids``."""
    return f"{operator_id}:{ci(tariff_id)}"


# ----------------------------------------------------------------------------- small tables

#: ISO 3166-1 alpha-3 → alpha-2 for the countries our peers are in; others fall back to the
#: party's ``country_code``.
ALPHA3_TO_ALPHA2: Final[dict[str, str]] = {
    "CHN": "CN",
    "HKG": "HK",
    "MAC": "MO",
    "TWN": "TW",
    "SGP": "SG",
    "MYS": "MY",
    "THA": "TH",
    "JPN": "JP",
    "KOR": "KR",
    "AUS": "AU",
    "NZL": "NZ",
    "USA": "US",
    "CAN": "CA",
    "GBR": "GB",
    "IRL": "IE",
    "FRA": "FR",
    "DEU": "DE",
    "NLD": "NL",
    "BEL": "BE",
    "LUX": "LU",
    "AUT": "AT",
    "CHE": "CH",
    "ITA": "IT",
    "ESP": "ES",
    "PRT": "PT",
    "DNK": "DK",
    "SWE": "SE",
    "NOR": "NO",
    "FIN": "FI",
    "POL": "PL",
    "CZE": "CZ",
    "HUN": "HU",
}

CONNECTOR_STANDARDS: Final[dict[str, ConnectorStandard]] = {
    enums.ConnectorType.GBT_AC: ConnectorStandard.GBT_AC,
    enums.ConnectorType.GBT_DC: ConnectorStandard.GBT_DC,
    enums.ConnectorType.CHAOJI: ConnectorStandard.CHAOJI,
    enums.ConnectorType.IEC_62196_T2_COMBO: ConnectorStandard.CCS2,
    enums.ConnectorType.IEC_62196_T1_COMBO: ConnectorStandard.CCS1,
    enums.ConnectorType.IEC_62196_T2: ConnectorStandard.TYPE2,
    enums.ConnectorType.IEC_62196_T1: ConnectorStandard.TYPE1,
    enums.ConnectorType.CHADEMO: ConnectorStandard.CHADEMO,
    enums.ConnectorType.TESLA_R: ConnectorStandard.NACS,
    enums.ConnectorType.TESLA_S: ConnectorStandard.NACS,
}

_WEEKDAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_DAY_OF_WEEK: Final[dict[str, int]] = {d.value: n for n, d in enumerate(enums.DayOfWeek)}
_HHMM: Final = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
#: Line-to-line voltages start around here; OCPI asks for line-to-neutral on AC_3_PHASE.
_LINE_TO_LINE_MIN_V: Final = 250.0
#: A split-phase voltage above this is the 240 V between the two hot legs, not one leg's 120 V.
_SPLIT_PHASE_LEG_MAX_V: Final = 150.0


def country_alpha2(location: Location) -> str:
    """The location's ISO alpha-2 country: from its alpha-3 ``country`` (an alpha-2 given by
    mistake is taken as is), else the party's ``country_code``."""
    country = ci(location.country)
    if country in ALPHA3_TO_ALPHA2:
        return ALPHA3_TO_ALPHA2[country]
    if len(country) == 2 and country.isalpha():
        return country
    return ci(location.country_code)


def connector_standard(value: str) -> ConnectorStandard:
    """The domain standard of an OCPI ConnectorType. Household sockets (DOMESTIC_*, and the
    North-American NEMA outlets) are DOMESTIC; other known types (IEC 60309, Type 3,
    pantographs) are OTHER; values not in the spec are UNKNOWN."""
    member = enums.open_value(enums.ConnectorType, str(value))
    if not isinstance(member, enums.ConnectorType):
        return ConnectorStandard.UNKNOWN
    if member in CONNECTOR_STANDARDS:
        return CONNECTOR_STANDARDS[member]
    if member.value.startswith(("DOMESTIC_", "NEMA_")):
        return ConnectorStandard.DOMESTIC
    return ConnectorStandard.OTHER


# ----------------------------------------------------------------------------- chargers


def access_methods(
    evse_capabilities: Iterable[str] | None, operator: Operator
) -> frozenset[AccessMethod]:
    """How drivers can start a charge at an EVSE through the platform.

    * a VIEW_ONLY operator: view only, whatever the EVSE says;
    * ``REMOTE_START_STOP_CAPABLE``: a START_SESSION command works, so scanning the pile's QR code
      and starting from the app both do — unless the operator is configured with capabilities
      and SCAN is not among them (an operator configured without capabilities does not restrict);
    * ``RFID_READER``: RFID;
    * an operator with PLUG_AND_CHARGE: plug and charge;
    * nothing of the above: view only.
    """
    caps = {ci(c) for c in evse_capabilities or ()}
    if operator.can(Capability.VIEW_ONLY):
        return frozenset({AccessMethod.VIEW_ONLY})
    methods: set[AccessMethod] = set()
    remote_allowed = not operator.capabilities or operator.can(Capability.SCAN)
    if enums.Capability.REMOTE_START_STOP_CAPABLE.value in caps and remote_allowed:
        methods |= {AccessMethod.SCAN, AccessMethod.APP_START}
    if enums.Capability.RFID_READER.value in caps:
        methods.add(AccessMethod.RFID)
    if operator.can(Capability.PLUG_AND_CHARGE):
        methods.add(AccessMethod.PLUG_AND_CHARGE)
    return frozenset(methods) or frozenset({AccessMethod.VIEW_ONLY})


def connector_power_kw(connector: Connector) -> float:
    """Rated power: ``max_electric_power`` (W) when given, else voltage × current × phases.

    OCPI's ``max_voltage`` is line-to-neutral for AC_3_PHASE, so three phases give 3·U·I; some
    CPOs send the line-to-line voltage (400 V) instead, recognised by being above 250 V, and then
    √3·U·I is the same power. AC_2_PHASE is 2·U·I; AC_2_PHASE_SPLIT is U·I across the two hot
    legs (240 V), or 2·U·I if one leg's 120 V is given. AC_1_PHASE and DC are U·I.
    """
    rated = positive(connector.max_electric_power)
    if rated is not None:
        return rated / 1000.0
    volts = positive(connector.max_voltage)
    amps = positive(connector.max_amperage)
    if volts is None or amps is None:
        return 0.0
    factor = 1.0
    if connector.power_type == enums.PowerType.AC_3_PHASE:
        factor = math.sqrt(3) if volts > _LINE_TO_LINE_MIN_V else 3.0
    elif connector.power_type == enums.PowerType.AC_2_PHASE:
        factor = 2.0
    elif connector.power_type == enums.PowerType.AC_2_PHASE_SPLIT:
        factor = 1.0 if volts > _SPLIT_PHASE_LEG_MAX_V else 2.0
    return round(volts * amps * factor / 1000.0, 3)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


def _status(evse: Evse) -> ConnectorStatus:
    return connector_status(str(evse.status))


def to_connector(
    connector: Connector,
    evse: Evse,
    evse_reg_id: str,
    methods: frozenset[AccessMethod],
) -> DomainConnector:
    """A Connector under its EVSE: the status is the EVSE's, observed at its ``last_updated``."""
    return DomainConnector(
        id=child_id(evse_reg_id, ci(connector.id)),
        source_id=connector.id,
        standard=connector_standard(str(connector.standard)),
        current_type=CurrentType.DC
        if connector.power_type == enums.PowerType.DC
        else CurrentType.AC,
        max_power_kw=connector_power_kw(connector),
        max_voltage=_float(positive(connector.max_voltage)),
        max_current=_float(positive(connector.max_amperage)),
        access_methods=methods,
        status=_status(evse),
        status_at=evse.last_updated,
    )


def to_evse(evse: Evse, station_reg_id: str, operator: Operator) -> DomainEvse:
    evse_reg_id = child_id(station_reg_id, ci(evse.uid))
    methods = access_methods(evse.capabilities, operator)
    connectors = tuple(to_connector(c, evse, evse_reg_id, methods) for c in evse.connectors)
    return DomainEvse(
        id=evse_reg_id,
        source_id=evse.uid,
        connectors=connectors,
        max_power_kw=positive(max((c.max_power_kw for c in connectors), default=0.0)),
        evse_code=text(evse.evse_id),
    )


def _present(evses: Sequence[Evse] | None) -> list[Evse]:
    return [e for e in evses or () if e.status != enums.Status.REMOVED]


def is_listed(location: Location) -> bool:
    """Whether the location belongs on the map: published, with an EVSE that is not REMOVED."""
    return location.publish and bool(_present(location.evses))


def _clock(value: str | None) -> time | None:
    """``HH:MM`` as a time; ``24:00`` is midnight (``time(0, 0)``); ``None`` if malformed."""
    match = _HHMM.match((value or "").strip())
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24:
        return time(0, 0) if minute == 0 else None
    return time(hour, minute)


def _day_ranges(days: list[int]) -> str:
    """Weekday numbers (0 = Monday) as ``Mo-Fr,Su``."""
    runs: list[list[int]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        _WEEKDAYS[r[0]] if len(r) == 1 else f"{_WEEKDAYS[r[0]]}-{_WEEKDAYS[r[-1]]}" for r in runs
    )


def opening_hours(hours: Hours | None) -> str | None:
    """``"24/7"``, or the regular hours compactly (``"Mo-Fr 08:00-20:00; Sa 10:00-14:00"``,
    consecutive days with the same periods merged); ``None`` when not published.
    Exceptional openings and closings are dated and left out."""
    if hours is None:
        return None
    if hours.twentyfourseven:
        return "24/7"
    periods: dict[int, list[str]] = {}
    for regular in hours.regular_hours or ():
        if not 1 <= regular.weekday <= 7:
            continue
        span = f"{regular.period_begin.strip()}-{regular.period_end.strip()}"
        periods.setdefault(regular.weekday - 1, []).append(span)
    if not periods:
        return None
    if len(periods) == 7 and all(
        spans in (["00:00-24:00"], ["00:00-00:00"], ["00:00-23:59"]) for spans in periods.values()
    ):
        return "24/7"
    groups: list[tuple[str, list[int]]] = []
    for day in sorted(periods):
        spans = ",".join(sorted(periods[day]))
        if groups and groups[-1][0] == spans and groups[-1][1][-1] == day - 1:
            groups[-1][1].append(day)
        else:
            groups.append((spans, [day]))
    return "; ".join(f"{_day_ranges(days)} {spans}" for spans, days in groups)


def _label(value: str) -> str:
    return str(value).strip().lower().replace("_", " ")


def parking_text(location: Location) -> str | None:
    """Parking type, the EVSEs' parking restrictions and the facilities as one short line, e.g.
    ``"parking garage; restrictions: customers; facilities: cafe, wifi"``."""
    parts: list[str] = []
    if location.parking_type is not None:
        parts.append(_label(location.parking_type))
    restrictions = dict.fromkeys(
        _label(r) for e in _present(location.evses) for r in e.parking_restrictions or ()
    )
    if restrictions:
        parts.append("restrictions: " + ", ".join(restrictions))
    facilities = dict.fromkeys(_label(f) for f in location.facilities or ())
    if facilities:
        parts.append("facilities: " + ", ".join(facilities))
    return "; ".join(parts) or None


def _address(location: Location) -> str | None:
    address, city = text(location.address), text(location.city)
    if address and city and city.casefold() not in address.casefold():
        return f"{address}, {city}"
    return address or city


def to_station(
    location: Location,
    operator: Operator,
    *,
    counties: CountyTable | None = None,
) -> Station:
    """A Location as a registry station of ``operator``. EVSEs with status REMOVED are left out.

    ``tariff_id`` is the registry id of the first tariff a connector names. ``station_type`` is
    PUBLIC for a published location, PRIVATE otherwise (OCPI has no finer distinction).
    """
    reg_id = location_key(operator.id, location.id)
    lon = float(location.coordinates.longitude)
    lat = float(location.coordinates.latitude)
    country = country_alpha2(location)
    county: str | None = None
    if country == "CN" and not out_of_china(lon, lat):
        lon, lat = wgs84_to_gcj02(lon, lat)
        county = county_adcode(None, lon, lat, counties)
    evses = _present(location.evses)
    tariff_id = next(
        (t for e in evses for c in e.connectors for t in c.tariff_ids or () if t.strip()), None
    )
    return Station(
        id=reg_id,
        operator_id=operator.id,
        source_id=location.id,
        name=text(location.name) or text(location.address) or location.id,
        lon=lon,
        lat=lat,
        evses=tuple(to_evse(e, reg_id, operator) for e in evses),
        address=_address(location),
        country_code=country,
        county_adcode=county,
        highway_service_area=location.parking_type == enums.ParkingType.ALONG_MOTORWAY,
        station_type=StationType.PUBLIC if location.publish else StationType.PRIVATE,
        opening_hours=opening_hours(location.opening_times),
        parking=parking_text(location),
        tariff_id=tariff_key(operator.id, tariff_id) if tariff_id is not None else None,
        updated_at=location.last_updated,
    )


# ----------------------------------------------------------------------------- status


def evse_status_updates(
    operator_id: str, location_id: str, evse: Evse
) -> list[tuple[str, ConnectorStatus, str, datetime]]:
    """(registry connector id, status, raw OCPI status, observed at) for each connector of an
    EVSE: OCPI reports status per EVSE, so its connectors share it."""
    status = _status(evse)
    return [
        (
            connector_key(operator_id, location_id, evse.uid, c.id),
            status,
            str(evse.status),
            evse.last_updated,
        )
        for c in evse.connectors
    ]


# ----------------------------------------------------------------------------- tariffs

_MONEY_PLACES: Final = Decimal("0.0001")
#: Restrictions a domain TariffPeriod can express (the time of day); any other makes an element
#: conditional.
_TIME_OF_DAY: Final = frozenset({"start_time", "end_time"})


def _decimal(value: float) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:  # pragma: no cover - the model only admits finite numbers
        return Decimal(0)


def _gross(component: PriceComponent) -> Decimal:
    """The component's price including VAT when the tariff gives the rate (OCPI prices are
    excluding VAT; drivers pay, and T/CEC operators publish, VAT-inclusive prices)."""
    price = _decimal(component.price)
    if component.vat is not None:
        price *= 1 + _decimal(component.vat) / 100
    return price.quantize(_MONEY_PLACES) + 0  # "+ 0" drops a negative zero


def _money(amount: Decimal) -> str:
    """``0.25`` → ``"0.25"``, ``2`` → ``"2.00"``, ``0.2750`` → ``"0.275"``."""
    cents = amount.quantize(Decimal("0.01"))
    return str(cents) if cents == amount else str(amount.normalize())


def _restricted_fields(restrictions: TariffRestrictions | None) -> set[str]:
    if restrictions is None:
        return set()
    return {name for name, value in restrictions if value is not None}


def _window(restrictions: TariffRestrictions | None) -> tuple[time, time] | None:
    """The element's time-of-day window; ``None`` if a bound is malformed."""
    if restrictions is None:
        return time(0, 0), time(0, 0)
    start = _clock(restrictions.start_time) if restrictions.start_time else time(0, 0)
    end = _clock(restrictions.end_time) if restrictions.end_time else time(0, 0)
    if start is None or end is None:
        return None
    return start, end


def _when(restrictions: TariffRestrictions | None) -> str:
    """Restrictions as a short English condition (empty when there are none)."""
    if restrictions is None:
        return ""
    r = restrictions
    parts: list[str] = []
    if r.start_time or r.end_time:
        parts.append(f"{r.start_time or '00:00'}-{r.end_time or '24:00'}")
    if r.day_of_week:
        days = [_DAY_OF_WEEK[str(d)] for d in r.day_of_week if str(d) in _DAY_OF_WEEK]
        if days:
            parts.append(_day_ranges(days))
    if r.start_date or r.end_date:
        parts.append(f"{r.start_date or '…'} to {r.end_date or '…'}")
    bounds = (
        ("kWh", r.min_kwh, r.max_kwh),
        ("A", r.min_current, r.max_current),
        ("kW", r.min_power, r.max_power),
    )
    for unit, low, high in bounds:
        if low is not None:
            parts.append(f"from {low:g} {unit}")
        if high is not None:
            parts.append(f"below {high:g} {unit}")
    if r.min_duration is not None:
        parts.append(f"after {r.min_duration // 60} min")
    if r.max_duration is not None:
        parts.append(f"up to {r.max_duration // 60} min")
    if r.reservation is not None:
        parts.append("while reserved" if r.reservation == "RESERVATION" else "expired reservation")
    return ", ".join(parts)


def _alt_text(texts: Sequence[DisplayText] | None) -> str | None:
    """The tariff's own description: Chinese preferred, then English, then the first given."""
    candidates = [t for t in texts or () if text(t.text)]
    for language in ("zh", "en"):
        for item in candidates:
            if item.language.strip().lower().startswith(language):
                return item.text.strip()
    return candidates[0].text.strip() if candidates else None


def to_tariff(tariff: OcpiTariff, operator_id: str) -> Tariff:
    """An OCPI Tariff as a domain tariff of per-kWh periods, prices including VAT.

    OCPI applies the first element whose restrictions all hold. The domain can only say "this
    per-kWh price at this time of day", so: an element with ENERGY components and no restriction
    but a time of day becomes a period (no window = all day, 00:00–00:00); an element after one
    that applies all day can never apply and is dropped. Everything the periods cannot say is
    kept as text: ENERGY prices under other conditions (power, duration, weekday …), FLAT, TIME
    and reservation prices, min/max price go to ``description`` after the tariff's own alt text
    (Chinese, else English); PARKING_TIME prices go to ``parking_fee``.
    """
    currency = tariff.currency.strip().upper()
    periods: list[TariffPeriod] = []
    notes: list[str] = []
    parking: list[str] = []
    settled: set[str] = set()  # dimensions an earlier unrestricted element always prices
    for element in tariff.elements:
        restricted = _restricted_fields(element.restrictions)
        window = _window(element.restrictions) if restricted <= _TIME_OF_DAY else None
        condition = _when(element.restrictions)
        suffix = f" ({condition})" if condition else ""
        energy_in_period = False
        for component in element.price_components:
            kind = str(component.type)
            if kind in settled:
                continue  # OCPI takes the first element per dimension: this one never applies
            price = f"{_money(_gross(component))} {currency}"
            if kind == enums.TariffDimensionType.ENERGY:
                if window is not None and not energy_in_period:
                    periods.append(TariffPeriod(window[0], window[1], _gross(component)))
                    energy_in_period = True
                else:
                    notes.append(f"energy {price}/kWh{suffix}")
            elif kind == enums.TariffDimensionType.FLAT:
                notes.append(f"start fee {price}{suffix}")
            elif kind == enums.TariffDimensionType.TIME:
                notes.append(f"charging time {price}/h{suffix}")
            elif kind == enums.TariffDimensionType.PARKING_TIME:
                parking.append(f"{price}/h{suffix}")
            else:
                notes.append(f"{_label(kind)} {price}{suffix}")
        if not restricted:
            settled.update(str(c.type) for c in element.price_components)
    for label, limit in (("minimum", tariff.min_price), ("maximum", tariff.max_price)):
        if limit is not None:
            amount = limit.incl_vat if limit.incl_vat is not None else limit.excl_vat
            notes.append(f"{label} price {_money(_decimal(amount))} {currency}")
    description = "\n".join(
        p
        for p in (_alt_text(tariff.tariff_alt_text), "; ".join(notes), text(tariff.tariff_alt_url))
        if p
    )
    return Tariff(
        id=tariff_key(operator_id, tariff.id),
        operator_id=operator_id,
        currency=currency,
        periods=tuple(periods),
        parking_fee="; ".join(parking) or None,
        description=description or None,
    )
