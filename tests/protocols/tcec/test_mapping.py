"""Wire → domain: stations, piles, connectors, status and tariffs from realistic payloads."""

from __future__ import annotations

from datetime import time
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
    TariffPeriod,
    child_id,
    station_id,
)
from chargemesh.protocols.tcec import (
    ConnectorInfo,
    ConnectorStatusInfo,
    EquipmentInfo,
    PolicyInfo,
    QueryEquipBusinessPolicyResponse,
    QueryStationStatusResponse,
    StationInfo,
)
from chargemesh.protocols.tcec.mapping import (
    access_methods,
    county_adcode,
    gbt_edition,
    opening_hours,
    status_update,
    status_updates,
    tariff_from_policies,
    tariff_from_station,
    to_connector,
    to_station,
)
from tests.protocols.tcec import samples
from tests.protocols.tcec.samples import OPERATOR_ID

SCAN_OPERATOR = Operator(
    id=OPERATOR_ID,
    name="申虹充电",
    protocol=OperatorProtocol.TCEC,
    capabilities=frozenset({Capability.REALTIME, Capability.SCAN}),
)
SCAN_START = frozenset({AccessMethod.SCAN, AccessMethod.APP_START})


def station(payload: dict[str, Any] | None = None, operator: Operator = SCAN_OPERATOR) -> Any:
    return to_station(StationInfo.model_validate(payload or samples.station_info()), operator)


def minimal_station(**fields: Any) -> dict[str, Any]:
    return {
        "StationID": "S1",
        "StationName": "测试站",
        "StationLng": 121.319812,
        "StationLat": 31.194037,
    } | fields


# ----------------------------------------------------------------------------- station


def test_station_fields() -> None:
    s = station()
    assert s.id == station_id(OPERATOR_ID, "3101120001") == f"{OPERATOR_ID}:3101120001"
    assert (s.operator_id, s.source_id) == (OPERATOR_ID, "3101120001")
    assert s.name == "虹桥枢纽P9充电站"
    assert (s.lon, s.lat) == (121.319812, 31.194037)  # GCJ-02, as given
    assert s.address == "上海市闵行区申虹路9号P9停车库B2"
    assert s.country_code == "CN"
    assert s.county_adcode == "310112"
    assert s.highway_service_area is False
    assert s.station_type is StationType.PUBLIC
    assert s.opening_hours == "24/7"
    assert s.parking == "地下二层，限高2.2米; 充电免费停车2小时"
    assert s.tariff_id == f"{OPERATOR_ID}:3101120001:tariff"
    assert len(s.evses) == 2
    assert len(s.connectors) == 3


def test_registry_ids_come_from_the_configured_operator() -> None:
    payload = samples.station_info() | {"OperatorID": "MA0000SUB"}
    s = station(payload)
    assert s.operator_id == OPERATOR_ID
    assert s.id.startswith(OPERATOR_ID + ":")


def test_dc_pile_and_its_guns() -> None:
    s = station()
    dc = s.evses[0]
    assert dc.id == child_id(s.id, "31011200010010")
    assert dc.source_id == "31011200010010"
    assert (dc.manufacturer, dc.model, dc.max_power_kw) == ("华信电力", "HX-DC240", 240.0)
    gun = dc.connectors[0]
    assert gun.id == child_id(dc.id, "MA1FY5992310112000100101")
    assert gun.source_id == "MA1FY5992310112000100101"
    assert gun.standard is ConnectorStandard.GBT_DC
    assert gun.current_type is CurrentType.DC
    assert (gun.max_power_kw, gun.max_voltage, gun.max_current) == (120.0, 750.0, 250.0)
    assert gun.access_methods == SCAN_START
    assert gun.status is ConnectorStatus.UNKNOWN  # status comes from the status feed


def test_ac_pile() -> None:
    ac = station().evses[1]
    assert (ac.max_power_kw, ac.model) == (7.0, "HX-AC7")
    (gun,) = ac.connectors
    assert gun.standard is ConnectorStandard.GBT_AC
    assert gun.current_type is CurrentType.AC
    assert (gun.max_power_kw, gun.max_voltage, gun.max_current) == (7.0, 220.0, 32.0)


def test_highway_service_area_and_county_from_coordinates() -> None:
    s = station(samples.highway_station_info())
    assert s.highway_service_area is True
    assert s.county_adcode == "320507"  # 相城区, Suzhou: no AreaCode, point in polygon
    assert s.opening_hours == "24/7"


@pytest.mark.parametrize("construction", [None, 1, 6, 10, 255, 12])
def test_only_construction_eleven_is_a_highway(construction: int | None) -> None:
    assert station(minimal_station(Construction=construction)).highway_service_area is False


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (1, StationType.PUBLIC),
        (50, StationType.PRIVATE),
        (100, StationType.BUS),
        (101, StationType.SANITATION),
        (102, StationType.LOGISTICS),
        (103, StationType.TAXI),
        (255, StationType.OTHER),
        (7, StationType.OTHER),  # unknown code
        (None, StationType.PUBLIC),  # not given
    ],
)
def test_station_type(code: int | None, expected: StationType) -> None:
    assert station(minimal_station(StationType=code)).station_type is expected


def test_missing_optional_fields() -> None:
    s = station(minimal_station())
    assert s.evses == ()
    assert s.address is None
    assert s.opening_hours is None
    assert s.parking is None
    assert s.tariff_id == f"{s.id}:tariff"  # its own, priced by business policy when asked
    assert s.country_code == "CN"
    assert s.county_adcode == "310112"  # from the coordinates


def test_blank_text_is_none() -> None:
    s = station(minimal_station(Address="  ", BusineHours="", ParkInfo=" ", ParkFee=""))
    assert (s.address, s.opening_hours, s.parking) == (None, None, None)


# ----------------------------------------------------------------------------- county


@pytest.mark.parametrize(
    ("area_code", "lon", "lat", "expected"),
    [
        ("310112", 121.319812, 31.194037, "310112"),  # AreaCode wins
        ("310112", 116.397128, 39.916527, "310112"),  # … even against the coordinates
        ("310112000000", 0.0, 0.0, "310112"),  # 12-digit code, first six used
        ("540422", 0.0, 0.0, "540481"),  # former code of 米林县 → 米林市
        ("310100", 116.397128, 39.916527, "110101"),  # a city code: fall back to the point
        ("999999", 116.397128, 39.916527, "110101"),  # unknown code: fall back
        ("上海", 116.397128, 39.916527, "110101"),  # junk
        (None, 116.397128, 39.916527, "110101"),  # missing: 东城区 by point in polygon
        (None, 123.5, 30.0, None),  # East China Sea
        (None, float("nan"), 30.0, None),
    ],
)
def test_county_adcode(area_code: str | None, lon: float, lat: float, expected: str | None) -> None:
    assert county_adcode(area_code, lon, lat) == expected


def test_station_with_former_area_code() -> None:
    payload = minimal_station(AreaCode="540422", StationLng=94.214, StationLat=29.22)
    assert station(payload).county_adcode == "540481"


# ----------------------------------------------------------------------------- connectors


def connector(
    connector_type: int | None, equipment_type: int | None, power: float | None = 60.0
) -> Any:
    equipment = EquipmentInfo.model_validate(
        {"EquipmentID": "E1", "EquipmentType": equipment_type, "Power": 120.0}
    )
    info = ConnectorInfo.model_validate(
        {"ConnectorID": "C1", "ConnectorType": connector_type, "Power": power}
    )
    return to_connector(info, equipment, "OP:S1:E1", SCAN_START)


@pytest.mark.parametrize(
    ("connector_type", "equipment_type", "power", "standard", "current"),
    [
        (1, 2, 3.5, ConnectorStandard.DOMESTIC, CurrentType.AC),  # household socket
        (2, 2, 7.0, ConnectorStandard.GBT_AC, CurrentType.AC),
        (3, 2, 7.0, ConnectorStandard.GBT_AC, CurrentType.AC),
        (3, 3, 7.0, ConnectorStandard.GBT_AC, CurrentType.AC),  # AC gun of a combined pile
        (4, 3, 60.0, ConnectorStandard.GBT_DC, CurrentType.DC),  # DC gun of a combined pile
        (4, 1, 120.0, ConnectorStandard.GBT_DC, CurrentType.DC),
        (5, 4, 11.0, ConnectorStandard.WIRELESS, CurrentType.AC),
        (6, 1, 30.0, ConnectorStandard.OTHER, CurrentType.DC),
        (6, 5, 60.0, ConnectorStandard.OTHER, CurrentType.DC),  # other/other: power decides
        (None, 1, 60.0, ConnectorStandard.GBT_DC, CurrentType.DC),  # from EquipmentType
        (None, 2, 7.0, ConnectorStandard.GBT_AC, CurrentType.AC),
        (None, 4, 7.0, ConnectorStandard.WIRELESS, CurrentType.AC),
        (9, None, 7.0, ConnectorStandard.UNKNOWN, CurrentType.AC),  # unknown codes
        (9, 3, 60.0, ConnectorStandard.UNKNOWN, CurrentType.DC),
    ],
)
def test_connector_type(
    connector_type: int | None,
    equipment_type: int | None,
    power: float,
    standard: ConnectorStandard,
    current: CurrentType,
) -> None:
    c = connector(connector_type, equipment_type, power)
    assert (c.standard, c.current_type, c.max_power_kw) == (standard, current, power)


def test_connector_power_falls_back_to_the_pile() -> None:
    assert connector(4, 1, power=None).max_power_kw == 120.0
    assert connector(4, 1, power=0).max_power_kw == 120.0


def test_zero_ratings_are_unknown() -> None:
    payload = samples.station_info()
    pile = payload["EquipmentInfos"][0]
    pile["Power"] = 0
    pile["ManufacturerName"] = ""
    pile["ConnectorInfos"][0] |= {"VoltageUpperLimits": 0, "Current": 0}
    evse = station(payload).evses[0]
    assert evse.max_power_kw is None
    assert evse.power_kw == 120.0  # from its connectors
    assert evse.manufacturer == "MA5DAXPS1"  # ManufacturerID when the name is missing
    assert (evse.connectors[0].max_voltage, evse.connectors[0].max_current) == (None, None)


@pytest.mark.parametrize(("code", "edition"), [(1, 2011), (2, 2015), (3, None), (None, None)])
def test_gbt_edition(code: int | None, edition: int | None) -> None:
    info = ConnectorInfo.model_validate({"ConnectorID": "C1", "NationalStandard": code})
    assert gbt_edition(info) == edition


@pytest.mark.parametrize(
    ("capabilities", "methods"),
    [
        ({Capability.SCAN}, SCAN_START),
        ({Capability.REALTIME, Capability.SCAN}, SCAN_START),
        ({Capability.PLUG_AND_CHARGE}, {AccessMethod.PLUG_AND_CHARGE}),
        (
            {Capability.SCAN, Capability.PLUG_AND_CHARGE},
            {AccessMethod.SCAN, AccessMethod.APP_START, AccessMethod.PLUG_AND_CHARGE},
        ),
        ({Capability.REALTIME}, {AccessMethod.VIEW_ONLY}),
        ({Capability.VIEW_ONLY}, {AccessMethod.VIEW_ONLY}),
        (set(), {AccessMethod.VIEW_ONLY}),
    ],
)
def test_access_methods(capabilities: set[Capability], methods: set[AccessMethod]) -> None:
    assert access_methods(capabilities) == frozenset(methods)


def test_view_only_operator_connectors() -> None:
    viewer = Operator(
        id=OPERATOR_ID,
        name="只读",
        protocol=OperatorProtocol.TCEC,
        capabilities=frozenset({Capability.REALTIME}),
    )
    s = station(operator=viewer)
    assert {m for c in s.connectors for m in c.access_methods} == {AccessMethod.VIEW_ONLY}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("00:00-24:00", "24/7"),
        ("0:00~24:00", "24/7"),
        ("00:00-23:59", "24/7"),
        ("00:00至24:00", "24/7"),
        ("24小时", "24/7"),
        ("全天24小时", "24/7"),
        ("7*24小时", "24/7"),
        ("08:00-22:00", "08:00-22:00"),
        (" 周一至周五 08:00-20:00 ", "周一至周五 08:00-20:00"),
        ("", None),
        (None, None),
    ],
)
def test_opening_hours(text: str | None, expected: str | None) -> None:
    assert opening_hours(text) == expected


# ----------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (0, ConnectorStatus.OFFLINE),
        (1, ConnectorStatus.AVAILABLE),
        (2, ConnectorStatus.OCCUPIED),
        (3, ConnectorStatus.CHARGING),
        (4, ConnectorStatus.RESERVED),
        (255, ConnectorStatus.FAULTED),
        (21501, ConnectorStatus.UNKNOWN),  # private "upgrading"
        (21503, ConnectorStatus.UNKNOWN),
        (7, ConnectorStatus.UNKNOWN),
    ],
)
def test_status_update(code: int, status: ConnectorStatus) -> None:
    info = ConnectorStatusInfo.model_validate(samples.connector_status_info(code))
    update = status_update(info)
    assert update.connector_source_id == "MA1FY5992310112000100101"
    assert update.status is status
    assert update.source_code == str(code)


def test_status_updates_of_a_status_query() -> None:
    response = QueryStationStatusResponse.model_validate(
        {
            "Total": 2,
            "StationStatusInfos": [
                {
                    "StationID": "3101120001",
                    "ConnectorStatusInfos": [
                        {"ConnectorID": "C1", "Status": 1},
                        {"ConnectorID": "C2", "Status": 21502},
                    ],
                },
                {
                    "StationID": "G2-YCH-N",
                    "ConnectorStatusInfos": [{"ConnectorID": "C9", "Status": 3}],
                },
            ],
        }
    )
    found = [(sid, u.connector_source_id, u.status) for sid, u in status_updates(response)]
    assert found == [
        ("3101120001", "C1", ConnectorStatus.AVAILABLE),
        ("3101120001", "C2", ConnectorStatus.UNKNOWN),
        ("G2-YCH-N", "C9", ConnectorStatus.CHARGING),
    ]


# ----------------------------------------------------------------------------- tariffs


def policies(*rows: tuple[str, str, str]) -> list[PolicyInfo]:
    return [
        PolicyInfo.model_validate({"StartTime": t, "ElecPrice": e, "SevicePrice": s})
        for t, e, s in rows
    ]


def test_tariff_from_business_policy() -> None:
    response = QueryEquipBusinessPolicyResponse.model_validate(samples.business_policy(xiaoju=True))
    tariff = tariff_from_policies(response.policy_infos, tariff_id="T1", operator_id=OPERATOR_ID)
    assert (tariff.id, tariff.operator_id, tariff.currency) == ("T1", OPERATOR_ID, "CNY")
    assert tariff.periods == (
        TariffPeriod(time(0), time(8), Decimal("0.3"), Decimal("0.6")),
        TariffPeriod(time(8), time(10), Decimal("0.7"), Decimal("0.8")),
        TariffPeriod(time(10), time(22), Decimal("1.0"), Decimal("0.8")),
        TariffPeriod(time(22), time(0), Decimal("0.7"), Decimal("0.8")),
    )
    peak = tariff.period_at(time(12, 30))
    assert peak is not None
    assert peak.price_per_kwh == Decimal("1.8")
    night = tariff.period_at(time(23, 59, 59))
    assert night is not None
    assert night.start == time(22)


def test_last_period_wraps_to_the_first() -> None:
    rows = policies(("220000", "0.3", "0.5"), ("080000", "1.0", "0.8"))  # unordered on the wire
    tariff = tariff_from_policies(rows, tariff_id="T", operator_id=OPERATOR_ID)
    assert [(p.start, p.end) for p in tariff.periods] == [(time(8), time(22)), (time(22), time(8))]
    early = tariff.period_at(time(3))
    assert early is not None
    assert early.energy_price == Decimal("0.3")


def test_single_policy_covers_the_whole_day() -> None:
    tariff = tariff_from_policies(
        policies(("060000", "0.9", "0.6")), tariff_id="T", operator_id=OPERATOR_ID
    )
    assert all(tariff.period_at(time(h)) is not None for h in range(24))


def test_duplicate_start_keeps_the_first() -> None:
    rows = policies(("000000", "0.5", "0.5"), ("000000", "9.9", "9.9"), ("120000", "1", "1"))
    tariff = tariff_from_policies(rows, tariff_id="T", operator_id=OPERATOR_ID)
    assert len(tariff.periods) == 2
    assert tariff.periods[0].energy_price == Decimal("0.5")


def test_no_policy_no_periods() -> None:
    assert tariff_from_policies([], tariff_id="T", operator_id=OPERATOR_ID).periods == ()


def test_station_fee_text_stays_text() -> None:
    tariff = tariff_from_station(StationInfo.model_validate(samples.station_info()), OPERATOR_ID)
    assert tariff is not None
    assert tariff.id == f"{OPERATOR_ID}:3101120001:tariff"
    assert tariff.periods == ()
    assert tariff.description == "电费: 峰时1.0元/度；平时0.7元/度；谷时0.3元/度\n服务费: 0.8元/度"
    assert tariff.parking_fee == "充电免费停车2小时"


def test_station_without_fee_text_has_no_tariff() -> None:
    assert tariff_from_station(StationInfo.model_validate(minimal_station()), OPERATOR_ID) is None
