"""OCPI wire → domain: stations from the official examples and from variants built on them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

import pytest

from chargemesh.domain import (
    AccessMethod,
    Capability,
    ConnectorStandard,
    ConnectorStatus,
    CurrentType,
    Operator,
    OperatorProtocol,
    StationType,
)
from chargemesh.geo.coords import wgs84_to_gcj02
from chargemesh.protocols.ocpi.mapping import (
    access_methods,
    connector_key,
    connector_power_kw,
    connector_standard,
    evse_key,
    evse_status_updates,
    is_listed,
    location_key,
    opening_hours,
    tariff_key,
    to_station,
    to_tariff,
)
from chargemesh.protocols.ocpi.models import (
    Connector,
    Evse,
    Hours,
    Location,
    Tariff,
    merge_patch,
    parse,
)
from tests.protocols.ocpi import example

OPERATOR = Operator(
    id="ocpi-bec",
    name="BeCharged",
    protocol=OperatorProtocol.OCPI,
    capabilities=frozenset({Capability.REALTIME, Capability.SCAN}),
)
UNCONFIGURED = Operator(id="ocpi-x", name="X", protocol=OperatorProtocol.OCPI)

#: 天安门, WGS-84 (what an OCPI CPO sends).
TIANANMEN_WGS84 = (116.397499, 39.908722)


def location(raw: dict[str, Any] | None = None) -> Location:
    return parse(Location, raw if raw is not None else example("location_example.json"))


def in_beijing(raw: dict[str, Any] | None = None) -> dict[str, Any]:
    raw = raw if raw is not None else example("location_example.json")
    lon, lat = TIANANMEN_WGS84
    raw["country"] = "CHN"
    raw["country_code"] = "CN"
    raw["coordinates"] = {"latitude": f"{lat:.6f}", "longitude": f"{lon:.6f}"}
    return raw


def gbt_dc_connector(**changes: Any) -> dict[str, Any]:
    return {
        "id": "1",
        "standard": "GBT_DC",
        "format": "CABLE",
        "power_type": "DC",
        "max_voltage": 750,
        "max_amperage": 250,
        "max_electric_power": 120000,
        "tariff_ids": ["tou-1"],
        "last_updated": "2026-11-01T08:00:00Z",
        **changes,
    }


def connector(**changes: Any) -> Connector:
    return parse(Connector, gbt_dc_connector(**changes))


# ----------------------------------------------------------------------------- ids


def test_keys_are_case_insensitive() -> None:
    assert location_key("op", "loc1") == location_key("op", " LOC1 ") == "op:LOC1"
    assert evse_key("op", "loc1", "ab-c") == "op:LOC1:AB-C"
    assert connector_key("op", "Loc1", "ab-c", "x1") == "op:LOC1:AB-C:X1"
    assert tariff_key("op", "t1") == tariff_key("op", "T1") == "op:T1"


def test_ids_match_the_keys() -> None:
    raw = example("location_example.json")
    raw["id"] = "loc1"
    station = to_station(location(raw), OPERATOR)
    assert station.id == location_key(OPERATOR.id, "LOC1") == "ocpi-bec:LOC1"
    assert station.source_id == "loc1"
    evse = station.evses[0]
    assert evse.id == evse_key(OPERATOR.id, "LOC1", "3256")
    assert evse.connectors[1].id == connector_key(OPERATOR.id, "loc1", "3256", "2")
    assert evse.connectors[1].source_id == "2"


# ----------------------------------------------------------------------------- stations


def test_location_example() -> None:
    station = to_station(location(), OPERATOR)
    assert station.operator_id == "ocpi-bec"
    assert station.name == "Gent Zuid"
    assert station.address == "F.Rooseveltlaan 3A, Gent"
    assert (station.lon, station.lat) == (3.729944, 51.047599)  # outside China: unchanged
    assert station.country_code == "BE"
    assert station.county_adcode is None
    assert station.highway_service_area is False
    assert station.station_type is StationType.PUBLIC
    assert station.parking == "on street"
    assert station.opening_hours is None
    assert station.tariff_id == "ocpi-bec:11"
    assert station.updated_at == datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)

    assert [e.source_id for e in station.evses] == ["3256", "3257"]
    first, second = station.evses
    assert first.evse_code == "BE*BEC*E041503001"
    gun = first.connectors[0]
    assert gun.standard is ConnectorStandard.TYPE2
    assert gun.current_type is CurrentType.AC
    assert gun.max_power_kw == pytest.approx(10.56)  # 3 × 220 V × 16 A
    assert (gun.max_voltage, gun.max_current) == (220.0, 16.0)
    assert gun.status is ConnectorStatus.AVAILABLE
    assert gun.status_at == datetime(2015, 6, 28, 8, 12, 1, tzinfo=UTC)  # the EVSE's
    assert second.connectors[0].status is ConnectorStatus.RESERVED
    assert second.connectors[0].status_at == datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)
    assert first.max_power_kw == pytest.approx(10.56)
    # RESERVABLE only: the platform cannot start a charge here.
    assert gun.access_methods == frozenset({AccessMethod.VIEW_ONLY})


def test_beijing_gets_gcj02_and_a_county() -> None:
    station = to_station(location(in_beijing()), OPERATOR)
    expected = wgs84_to_gcj02(*TIANANMEN_WGS84)
    assert (station.lon, station.lat) == pytest.approx(expected, abs=1e-12)
    assert (station.lon, station.lat) != pytest.approx(TIANANMEN_WGS84, abs=1e-4)  # ~500 m shift
    assert station.wgs84 == pytest.approx(TIANANMEN_WGS84, abs=1e-8)
    assert station.county_adcode == "110101"  # 东城区
    assert station.country_code == "CN"


@pytest.mark.parametrize(
    ("country", "lon", "lat", "alpha2"),
    [
        ("HKG", 114.158, 22.285, "HK"),  # inside the GCJ box, but GCJ-02 is a mainland rule
        ("KOR", 126.978, 37.566, "KR"),  # Seoul, inside the rough box
        ("TWN", 121.565, 25.033, "TW"),
    ],
)
def test_no_gcj02_outside_mainland(country: str, lon: float, lat: float, alpha2: str) -> None:
    raw = example("location_example.json")
    raw["country"] = country
    raw["coordinates"] = {"latitude": str(lat), "longitude": str(lon)}
    station = to_station(location(raw), OPERATOR)
    assert (station.lon, station.lat) == (lon, lat)
    assert station.county_adcode is None
    assert station.country_code == alpha2


def test_country_fallbacks() -> None:
    raw = example("location_example.json")
    raw["country"] = "ZZZ"  # not in our table: the party's country
    assert to_station(location(raw), OPERATOR).country_code == "BE"
    raw["country"] = "nl"  # an alpha-2 sent by mistake
    assert to_station(location(raw), OPERATOR).country_code == "NL"


def test_removed_evse_left_out() -> None:
    raw = example("location_example.json")
    raw["evses"][0]["status"] = "REMOVED"
    station = to_station(location(raw), OPERATOR)
    assert [e.source_id for e in station.evses] == ["3257"]
    assert station.tariff_id == "ocpi-bec:12"  # the first tariff of what is left
    assert is_listed(location(raw))
    raw["evses"][1]["status"] = "removed"
    assert not is_listed(location(raw))
    assert to_station(location(raw), OPERATOR).evses == ()


def test_is_listed() -> None:
    assert is_listed(location())
    assert not is_listed(
        location(example("location_example_uc3_destination_charger_not_published.json"))
    )
    raw = example("location_example.json")
    del raw["evses"]
    assert not is_listed(location(raw))


def test_gbt_dc_station() -> None:
    raw = in_beijing()
    raw["evses"][0]["connectors"] = [
        gbt_dc_connector(),
        gbt_dc_connector(
            id="2",
            standard="GBT_AC",
            power_type="AC_1_PHASE",
            max_voltage=220,
            max_amperage=32,
            max_electric_power=None,
        ),
    ]
    raw["evses"][0]["capabilities"] = ["REMOTE_START_STOP_CAPABLE", "RFID_READER"]
    station = to_station(location(raw), OPERATOR)
    dc, ac = station.evses[0].connectors
    assert dc.standard is ConnectorStandard.GBT_DC
    assert dc.current_type is CurrentType.DC
    assert dc.max_power_kw == 120.0
    assert ac.standard is ConnectorStandard.GBT_AC
    assert ac.current_type is CurrentType.AC
    assert ac.max_power_kw == pytest.approx(7.04)
    assert station.evses[0].max_power_kw == 120.0
    assert station.evses[0].power_kw == 120.0
    assert dc.access_methods == frozenset(
        {AccessMethod.SCAN, AccessMethod.APP_START, AccessMethod.RFID}
    )
    assert station.tariff_id == "ocpi-bec:TOU-1"


def test_name_falls_back_to_address() -> None:
    raw = example("location_example_uc5_home_charge_point.json")
    station = to_station(location(raw), OPERATOR)
    assert station.name == "Krautwigstraße 283A"
    assert station.station_type is StationType.PRIVATE  # publish false
    assert station.parking == "on driveway"


def test_highway_and_parking_text() -> None:
    raw = example("location_example_uc2_destination_charger.json")
    raw["parking_type"] = "ALONG_MOTORWAY"
    raw["facilities"] = ["RESTAURANT", "WIFI", "FUEL_STATION"]
    station = to_station(location(raw), OPERATOR)
    assert station.highway_service_area is True
    assert station.parking == (
        "along motorway; restrictions: customers; facilities: restaurant, wifi, fuel station"
    )
    raw["parking_type"] = "PARKING_LOT"
    assert to_station(location(raw), OPERATOR).highway_service_area is False


def test_station_opening_hours() -> None:
    raw = example("location_example_parking_garage_opening_hours.json")
    assert to_station(location(raw), OPERATOR).opening_hours == "Mo-Su 07:00-18:00"


# ----------------------------------------------------------------------------- opening hours


def hours(raw: dict[str, Any]) -> Hours:
    return parse(Hours, raw)


def test_opening_hours_examples() -> None:
    assert opening_hours(None) is None
    regular = hours(example("location_regularhours_example.json")["opening_times"])
    assert opening_hours(regular) == "Mo-Fr 08:00-20:00"
    always = hours(example("location_hours_247_open_exception_closing.json"))
    assert opening_hours(always) == "24/7"
    nights = hours(example("location_hours_opening_hours_with_exceptional_closing.json"))
    assert opening_hours(nights) == "Mo-Tu 01:00-06:00"


def test_opening_hours_compact() -> None:
    def day(weekday: int, begin: str, end: str) -> dict[str, Any]:
        return {"weekday": weekday, "period_begin": begin, "period_end": end}

    split = [day(d, "08:00", "12:00") for d in (1, 2, 3)] + [
        day(d, "13:00", "18:00") for d in (1, 2, 3)
    ]
    raw = {
        "twentyfourseven": False,
        "regular_hours": [*split, day(4, "08:00", "18:00"), day(6, "10:00", "14:00")],
    }
    assert (
        opening_hours(hours(raw)) == "Mo-We 08:00-12:00,13:00-18:00; Th 08:00-18:00; Sa 10:00-14:00"
    )
    whole = {
        "twentyfourseven": False,
        "regular_hours": [day(d, "00:00", "24:00") for d in range(1, 8)],
    }
    assert opening_hours(hours(whole)) == "24/7"
    assert opening_hours(hours({"twentyfourseven": False})) is None


# ----------------------------------------------------------------------------- connectors


@pytest.mark.parametrize(
    ("standard", "expected"),
    [
        ("GBT_AC", ConnectorStandard.GBT_AC),
        ("GBT_DC", ConnectorStandard.GBT_DC),
        ("CHAOJI", ConnectorStandard.CHAOJI),
        ("IEC_62196_T2_COMBO", ConnectorStandard.CCS2),
        ("IEC_62196_T1_COMBO", ConnectorStandard.CCS1),
        ("IEC_62196_T2", ConnectorStandard.TYPE2),
        ("IEC_62196_T1", ConnectorStandard.TYPE1),
        ("CHADEMO", ConnectorStandard.CHADEMO),
        ("TESLA_R", ConnectorStandard.NACS),
        ("TESLA_S", ConnectorStandard.NACS),
        ("DOMESTIC_A", ConnectorStandard.DOMESTIC),
        ("DOMESTIC_O", ConnectorStandard.DOMESTIC),
        ("NEMA_5_20", ConnectorStandard.DOMESTIC),
        ("IEC_60309_2_three_32", ConnectorStandard.OTHER),
        ("PANTOGRAPH_TOP_DOWN", ConnectorStandard.OTHER),
        ("gbt_dc", ConnectorStandard.GBT_DC),
        ("MCS", ConnectorStandard.UNKNOWN),
    ],
)
def test_connector_standard(standard: str, expected: ConnectorStandard) -> None:
    assert connector_standard(standard) is expected


@pytest.mark.parametrize(
    ("changes", "kw"),
    [
        ({}, 120.0),  # max_electric_power wins
        ({"max_electric_power": None}, 187.5),  # DC: 750 V × 250 A
        ({"max_electric_power": 0, "max_voltage": 500}, 125.0),  # 0 W means unknown
        (
            {
                "max_electric_power": None,
                "power_type": "AC_1_PHASE",
                "max_voltage": 230,
                "max_amperage": 32,
            },
            7.36,
        ),
        (
            {
                "max_electric_power": None,
                "power_type": "AC_3_PHASE",
                "max_voltage": 230,
                "max_amperage": 32,
            },
            22.08,  # line-to-neutral, as the spec asks: 3·U·I
        ),
        (
            {
                "max_electric_power": None,
                "power_type": "AC_3_PHASE",
                "max_voltage": 400,
                "max_amperage": 32,
            },
            round(math.sqrt(3) * 400 * 32 / 1000, 3),  # line-to-line sent: √3·U·I
        ),
        (
            {
                "max_electric_power": None,
                "power_type": "AC_2_PHASE",
                "max_voltage": 230,
                "max_amperage": 16,
            },
            7.36,
        ),
        (
            {
                "max_electric_power": None,
                "power_type": "AC_2_PHASE_SPLIT",
                "max_voltage": 240,
                "max_amperage": 40,
            },
            9.6,
        ),
        (
            {
                "max_electric_power": None,
                "power_type": "AC_2_PHASE_SPLIT",
                "max_voltage": 120,
                "max_amperage": 40,
            },
            9.6,
        ),
        ({"max_electric_power": None, "max_voltage": 0}, 0.0),
    ],
)
def test_connector_power(changes: dict[str, Any], kw: float) -> None:
    assert connector_power_kw(connector(**changes)) == pytest.approx(kw)


def test_unknown_power_type_is_ac() -> None:
    raw = example("location_example.json")
    raw["evses"][0]["connectors"][0]["power_type"] = "AC_4_PHASE"
    gun = to_station(location(raw), OPERATOR).evses[0].connectors[0]
    assert gun.current_type is CurrentType.AC
    assert gun.max_power_kw == pytest.approx(3.52)  # unknown phases: U·I


# ----------------------------------------------------------------------------- access methods

REMOTE = ["REMOTE_START_STOP_CAPABLE"]


def op(*caps: Capability) -> Operator:
    return Operator(id="o", name="o", protocol=OperatorProtocol.OCPI, capabilities=frozenset(caps))


@pytest.mark.parametrize(
    ("evse_caps", "operator", "expected"),
    [
        (REMOTE, op(Capability.SCAN), {AccessMethod.SCAN, AccessMethod.APP_START}),
        (REMOTE, op(), {AccessMethod.SCAN, AccessMethod.APP_START}),  # nothing configured
        (REMOTE, op(Capability.REALTIME), {AccessMethod.VIEW_ONLY}),  # configured without SCAN
        (REMOTE, op(Capability.SCAN, Capability.VIEW_ONLY), {AccessMethod.VIEW_ONLY}),
        (["RFID_READER"], op(Capability.REALTIME), {AccessMethod.RFID}),
        (
            [*REMOTE, "RFID_READER"],
            op(Capability.SCAN, Capability.PLUG_AND_CHARGE),
            {
                AccessMethod.SCAN,
                AccessMethod.APP_START,
                AccessMethod.RFID,
                AccessMethod.PLUG_AND_CHARGE,
            },
        ),
        (None, op(Capability.PLUG_AND_CHARGE), {AccessMethod.PLUG_AND_CHARGE}),
        (["RESERVABLE", "UNLOCK_CAPABLE"], op(Capability.SCAN), {AccessMethod.VIEW_ONLY}),
        ([], op(Capability.SCAN), {AccessMethod.VIEW_ONLY}),
        (None, op(), {AccessMethod.VIEW_ONLY}),
        (
            ["remote_start_stop_capable"],
            op(Capability.SCAN),
            {AccessMethod.SCAN, AccessMethod.APP_START},
        ),
    ],
)
def test_access_methods(
    evse_caps: list[str] | None, operator: Operator, expected: set[AccessMethod]
) -> None:
    assert access_methods(evse_caps, operator) == frozenset(expected)


# ----------------------------------------------------------------------------- status pushes


def test_evse_status_updates_from_a_patch() -> None:
    stored = example("location_example.json")["evses"][1]
    evse = parse(Evse, merge_patch(stored, example("location_patch_example_status.json")))
    updates = evse_status_updates(OPERATOR.id, "loc1", evse)
    assert updates == [
        (
            "ocpi-bec:LOC1:3257:1",
            ConnectorStatus.CHARGING,
            "CHARGING",
            datetime(2019, 6, 24, 12, 39, 9, tzinfo=UTC),
        )
    ]
    # The same connector id the full mapping gives.
    station = to_station(location(), OPERATOR)
    assert updates[0][0] == station.evses[1].connectors[0].id


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("AVAILABLE", ConnectorStatus.AVAILABLE),
        ("BLOCKED", ConnectorStatus.OCCUPIED),
        ("OUTOFORDER", ConnectorStatus.FAULTED),
        ("INOPERATIVE", ConnectorStatus.OFFLINE),
        ("charging", ConnectorStatus.CHARGING),
        ("EXPLODED", ConnectorStatus.UNKNOWN),
    ],
)
def test_evse_status_codes(code: str, status: ConnectorStatus) -> None:
    raw = example("location_example.json")["evses"][0]
    raw["status"] = code
    updates = evse_status_updates("o", "L", parse(Evse, raw))
    assert [u[0] for u in updates] == ["o:L:3256:1", "o:L:3256:2"]
    assert {u[1] for u in updates} == {status}
    assert updates[0][2].upper() == code.upper()
    if status is ConnectorStatus.UNKNOWN:
        assert updates[0][2] == "EXPLODED"  # the raw code is kept for audits


# ----------------------------------------------------------------------------- tariffs


def tariff(raw: dict[str, Any]) -> Tariff:
    return parse(Tariff, raw)


def price_component(kind: str, price: float, vat: float | None = None) -> dict[str, Any]:
    component: dict[str, Any] = {"type": kind, "price": price, "step_size": 1}
    if vat is not None:
        component["vat"] = vat
    return component


def tou_tariff() -> dict[str, Any]:
    """A Chinese time-of-use tariff: valley, peak, valley, CNY, 13 % VAT."""

    def element(start: str, end: str, price: float) -> dict[str, Any]:
        return {
            "price_components": [price_component("ENERGY", price, 13)],
            "restrictions": {"start_time": start, "end_time": end},
        }

    return {
        "country_code": "CN",
        "party_id": "TLD",
        "id": "tou-1",
        "currency": "CNY",
        "tariff_alt_text": [
            {"language": "en", "text": "Time of use"},
            {"language": "zh", "text": "分时电价"},
        ],
        "elements": [
            element("00:00", "08:00", 0.40),
            element("08:00", "22:00", 1.00),
            element("22:00", "00:00", 0.40),
        ],
        "last_updated": "2026-11-01T00:00:00Z",
    }


def test_time_of_use_tariff() -> None:
    domain = to_tariff(tariff(tou_tariff()), OPERATOR.id)
    assert domain.id == "ocpi-bec:TOU-1"
    assert domain.operator_id == OPERATOR.id
    assert domain.currency == "CNY"
    assert [(p.start, p.end) for p in domain.periods] == [
        (time(0, 0), time(8, 0)),
        (time(8, 0), time(22, 0)),
        (time(22, 0), time(0, 0)),
    ]
    assert [p.energy_price for p in domain.periods] == [
        Decimal("0.452"),  # 0.40 + 13 % VAT
        Decimal("1.13"),
        Decimal("0.452"),
    ]
    assert all(p.service_price == 0 for p in domain.periods)
    peak = domain.period_at(time(12, 0))
    assert peak is not None
    assert peak.price_per_kwh == Decimal("1.13")
    night = domain.period_at(time(23, 30))
    assert night is not None
    assert night.price_per_kwh == Decimal("0.452")
    assert domain.description == "分时电价"  # zh preferred over en
    assert domain.parking_fee is None


def test_station_and_tariff_ids_agree() -> None:
    raw = in_beijing()
    raw["evses"][0]["connectors"] = [gbt_dc_connector(tariff_ids=["tou-1"])]
    station = to_station(location(raw), OPERATOR)
    upper = {**tou_tariff(), "id": "TOU-1"}
    assert station.tariff_id == to_tariff(tariff(upper), OPERATOR.id).id


def test_simple_energy_tariff_all_day() -> None:
    domain = to_tariff(tariff(example("tariff_8_simple_025kwh.json")), "op")
    assert len(domain.periods) == 1
    (period,) = domain.periods
    assert (period.start, period.end) == (time(0, 0), time(0, 0))
    assert period.energy_price == Decimal("0.275")  # 0.25 + 10 % VAT
    assert domain.period_at(time(3, 0)) is period
    assert domain.currency == "EUR"
    assert domain.description is None


def test_flat_time_and_parking_are_text() -> None:
    domain = to_tariff(tariff(example("tariff_10_025kwh_parking_start.json")), "op")
    assert [p.energy_price for p in domain.periods] == [Decimal("0.275")]
    assert domain.parking_fee == "2.40 EUR/h"  # 2.00 + 20 % VAT per hour
    assert domain.description == "start fee 0.60 EUR"

    timed = to_tariff(tariff(example("tariff_1_simple_2hour.json")), "op")
    assert timed.periods == ()  # no per-kWh price at all
    assert timed.description == "charging time 2.20 EUR/h"


def test_alt_text_english_when_no_chinese() -> None:
    domain = to_tariff(tariff(example("tariff_2_alt_text.json")), "op")
    assert domain.description is not None
    assert domain.description.splitlines()[0] == "2.00 euro p/hour including VAT."


def test_conditional_energy_prices_are_not_periods() -> None:
    domain = to_tariff(tariff(example("tariffrestriction_example_max_power.json")), "op")
    # Only the unconditional fallback can be a per-time-of-day price.
    assert [p.energy_price for p in domain.periods] == [Decimal("0.6")]
    assert domain.description == (
        "energy 0.24 EUR/kWh (below 16 kW); energy 0.42 EUR/kWh (below 32 kW)"
    )


def test_element_after_an_unconditional_one_never_applies() -> None:
    raw = tou_tariff()
    raw["elements"].insert(0, {"price_components": [price_component("ENERGY", 2.0)]})
    raw["elements"].append({"price_components": [price_component("FLAT", 1.0)]})
    domain = to_tariff(tariff(raw), "op")
    assert [(p.start, p.end, p.energy_price) for p in domain.periods] == [
        (time(0, 0), time(0, 0), Decimal("2"))
    ]
    # FLAT is another dimension: the first element did not price it, so it still applies.
    assert domain.description == "分时电价\nstart fee 1.00 CNY"


def test_complex_tariff_summary() -> None:
    domain = to_tariff(tariff(example("tariff_4_complex.json")), "op")
    assert domain.periods == ()
    assert domain.parking_fee == "5.50 EUR/h (09:00-18:00, Mo-Fr); 6.60 EUR/h (10:00-17:00, Sa)"
    assert domain.description is not None
    lines = domain.description.splitlines()
    assert lines[0].startswith("start fee 2.875 EUR; charging time 1.20 EUR/h (below 32 A)")
    assert "charging time 1.50 EUR/h (Sa-Su, from 32 A)" in lines[0]
    assert lines[1] == "https://company.com/tariffs/14"


def test_min_max_price_and_reservation() -> None:
    capped = to_tariff(tariff(example("tariff_6_025kwh_start_max_price.json")), "op")
    assert capped.description == "start fee 0.60 EUR; maximum price 11.00 EUR"
    reserved = to_tariff(tariff(example("tariff_15_reservation_5_euro_per_hour.json")), "op")
    assert [p.energy_price for p in reserved.periods] == [Decimal("0.275")]
    assert reserved.description == "charging time 6.00 EUR/h (while reserved); start fee 0.60 EUR"
