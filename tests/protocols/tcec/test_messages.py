"""Wire models of every interface in tcec.md §2: parsing, dialects, round trips, bad input."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from chargemesh.protocols.tcec import (
    DIALECTS,
    INTERFACES,
    ConnectorStatusInfo,
    Interface,
    NotificationChargeOrderInfoRequest,
    NotificationEquipChargeStatusRequest,
    NotificationPlugAndChargeRequest,
    NotificationPlugAndChargeResponse,
    NotificationStartChargeResultRequest,
    PlugAndChargeRefusal,
    PolicyInfo,
    QueryEquipBusinessPolicyResponse,
    QueryEquipChargeStatusResponse,
    QueryStationsInfoRequest,
    QueryStationsInfoResponse,
    QueryStationStatusRequest,
    QueryTokenRequest,
    QueryTokenResponse,
    Ret,
    StartFailure,
    TcecError,
    WireModel,
    dialect_of,
    dump,
    endpoint_url,
    parse,
    paths,
)
from chargemesh.protocols.tcec.charging import START_FAILURE_TEXT
from tests.protocols.tcec import samples
from tests.protocols.tcec.samples import OPERATOR_ID, PLATFORM_ID

SEQ = PLATFORM_ID + "202611010800000001"
CONNECTOR = "MA1FY5992310112000100101"

# One realistic request and response payload per interface (CEC spelling).
EXAMPLES: dict[Interface, tuple[dict[str, Any], dict[str, Any]]] = {
    Interface.QUERY_TOKEN: (
        {"OperatorID": PLATFORM_ID, "OperatorSecret": "op-secret-2"},
        {
            "OperatorID": OPERATOR_ID,
            "SuccStat": 0,
            "AccessToken": "7f3c9e1ab2",
            "TokenAvailableTime": 7200,
            "FailReason": 0,
        },
    ),
    Interface.QUERY_STATIONS_INFO: (
        {"LastQueryTime": "2026-10-31 00:00:00", "PageNo": 2, "PageSize": 50},
        samples.stations_info_response(samples.station_info(), samples.highway_station_info()),
    ),
    Interface.NOTIFICATION_STATION_STATUS: (
        {"ConnectorStatusInfo": samples.connector_status_info()},
        {"Status": 0},
    ),
    Interface.QUERY_STATION_STATUS: (
        {"StationIDs": ["3101120001", "G2-YCH-N"]},
        {
            "Total": 1,
            "StationStatusInfos": [
                {
                    "StationID": "3101120001",
                    "ConnectorStatusInfos": [
                        {"ConnectorID": CONNECTOR, "Status": 1, "ParkStatus": 10, "LockStatus": 0},
                        {"ConnectorID": "MA1FY5992310112000100102", "Status": 21501},
                    ],
                }
            ],
        },
    ),
    Interface.QUERY_STATION_STATS: (
        {"StationID": "3101120001", "StartTime": "2026-10-01", "EndTime": "2026-10-31"},
        {
            "StationStats": {
                "StationID": "3101120001",
                "StartTime": "2026-10-01",
                "EndTime": "2026-10-31",
                "StationElectricity": 18234.5,
                "EquipmentStatsInfos": [
                    {
                        "EquipmentID": "31011200010010",
                        "EquipmentElectricity": 12034.1,
                        "ConnectorStatsInfos": [
                            {"ConnectorID": CONNECTOR, "ConnectorElectricity": 6020.3}
                        ],
                    }
                ],
            }
        },
    ),
    Interface.QUERY_EQUIP_AUTH: (
        {"EquipAuthSeq": PLATFORM_ID + "202611010759500001", "ConnectorID": CONNECTOR},
        {
            "EquipAuthSeq": PLATFORM_ID + "202611010759500001",
            "ConnectorID": CONNECTOR,
            "SuccStat": 0,
            "FailReason": 0,
        },
    ),
    Interface.QUERY_EQUIP_BUSINESS_POLICY: (
        {"EquipBizSeq": PLATFORM_ID + "202611010759000001", "ConnectorID": CONNECTOR},
        samples.business_policy(),
    ),
    Interface.QUERY_START_CHARGE: (
        {
            "StartChargeSeq": SEQ,
            "ConnectorID": CONNECTOR,
            "QRCode": "https://qr.example.cn/c?id=" + CONNECTOR,
        },
        {
            "StartChargeSeq": SEQ,
            "StartChargeSeqStat": 1,
            "ConnectorID": CONNECTOR,
            "SuccStat": 0,
            "FailReason": 0,
        },
    ),
    Interface.NOTIFICATION_START_CHARGE_RESULT: (
        {
            "StartChargeSeq": SEQ,
            "StartChargeSeqStat": 2,
            "ConnectorID": CONNECTOR,
            "StartTime": "2026-11-01 08:00:05",
            "IdentCode": "482913",
        },
        {"StartChargeSeq": SEQ, "SuccStat": 0, "FailReason": 0},
    ),
    Interface.QUERY_EQUIP_CHARGE_STATUS: ({"StartChargeSeq": SEQ}, samples.charge_status()),
    Interface.NOTIFICATION_PLUG_AND_CHARGE: (
        {
            "PlugAndChargeSeq": OPERATOR_ID + "202611010800010001",
            "ConnectorID": CONNECTOR,
            "VIN": "LTMM3E1B6RB244103",
        },
        {
            "PlugAndChargeSeq": OPERATOR_ID + "202611010800010001",
            "ConnectorID": CONNECTOR,
            "SuccStat": 0,
            "FailReason": 0,
            "StartChargeSeq": SEQ,
        },
    ),
    Interface.NOTIFICATION_EQUIP_CHARGE_STATUS: (
        samples.charge_status(elec_money_name="ElecMoney"),
        {"StartChargeSeq": SEQ, "SuccStat": 0},
    ),
    Interface.QUERY_STOP_CHARGE: (
        {"StartChargeSeq": SEQ, "ConnectorID": CONNECTOR},
        {"StartChargeSeq": SEQ, "StartChargeSeqStat": 3, "SuccStat": 0, "FailReason": 0},
    ),
    Interface.NOTIFICATION_STOP_CHARGE_RESULT: (
        {
            "StartChargeSeq": SEQ,
            "StartChargeSeqStat": 4,
            "ConnectorID": CONNECTOR,
            "SuccStat": 0,
            "FailReason": 0,
        },
        {"StartChargeSeq": SEQ, "SuccStat": 0, "FailReason": 0},
    ),
    Interface.NOTIFICATION_CHARGE_ORDER_INFO: (
        samples.charge_order_info(),
        {"StartChargeSeq": SEQ, "ConnectorID": CONNECTOR, "ConfirmResult": 0},
    ),
    Interface.CHECK_CHARGE_ORDERS: (
        samples.check_charge_orders(),
        {
            "CheckOrderSeq": OPERATOR_ID + "20261101",
            "StartTime": "2026-11-01 00:00:00",
            "EndTime": "2026-11-01 23:59:59",
            "TotalDisputeOrder": 1,
            "TotalDisputePower": 21.36,
            "TotalDisputeMoney": 32.04,
            "DisputeOrders": [
                {
                    "StartChargeSeq": PLATFORM_ID + "202611011530000002",
                    "TotalPower": 21.36,
                    "TotalMoney": 32.04,
                    "DisputeReason": 1,
                }
            ],
        },
    ),
}

CASES = [
    pytest.param(model, payload, id=f"{name}-{kind}")
    for name, (request, response) in EXAMPLES.items()
    for kind, model, payload in (
        ("request", INTERFACES[name].request, request),
        ("response", INTERFACES[name].response, response),
    )
]


def to_xiaoju(value: Any) -> Any:
    """The same payload with Xiaoju's ``Service…`` spellings."""
    if isinstance(value, dict):
        return {k.replace("Sevice", "Service"): to_xiaoju(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_xiaoju(v) for v in value]
    return value


def keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


def test_every_interface_of_the_reference_is_modelled() -> None:
    assert set(INTERFACES) == set(Interface) == set(EXAMPLES)
    assert len(INTERFACES) == 16  # the 15 of the reference and our plug-and-charge extension
    implementers = {name: spec.implementer for name, spec in INTERFACES.items()}
    assert implementers[Interface.QUERY_TOKEN] == "both"
    assert implementers[Interface.NOTIFICATION_STATION_STATUS] == "platform"
    assert implementers[Interface.CHECK_CHARGE_ORDERS] == "platform"
    assert implementers[Interface.QUERY_STATION_STATUS] == "operator"
    assert implementers[Interface.NOTIFICATION_PLUG_AND_CHARGE] == "platform"


@pytest.mark.parametrize(("model", "payload"), CASES)
@pytest.mark.parametrize("spelling", ["cec", "xiaoju"])
def test_both_spellings_parse_alike(
    model: type[WireModel], payload: dict[str, Any], spelling: str
) -> None:
    given = payload if spelling == "cec" else to_xiaoju(payload)
    assert model.model_validate(given) == model.model_validate(payload)


@pytest.mark.parametrize(("model", "payload"), CASES)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_dump_parse_round_trip(
    model: type[WireModel], payload: dict[str, Any], dialect: Any
) -> None:
    parsed = model.model_validate(payload)
    dumped = dump(parsed, dialect)
    json.dumps(dumped)  # plain JSON types only
    assert model.model_validate(dumped) == parsed
    expected = payload if dialect == "cec" else to_xiaoju(payload)
    # Everything we were given comes back under the same names (except empty text we dropped).
    assert keys(dumped) <= keys(expected)


@pytest.mark.parametrize(("model", "payload"), CASES)
def test_unknown_fields_are_ignored(model: type[WireModel], payload: dict[str, Any]) -> None:
    extended = payload | {"ElectricityTax": 0.13, "ConnectorUniqueID": "ZJ-1", "Extra": {"a": [1]}}
    parsed = model.model_validate(extended)
    assert parsed == model.model_validate(payload)
    assert "ConnectorUniqueID" not in dump(parsed)


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        (QueryEquipBusinessPolicyResponse, samples.business_policy()),
        (QueryEquipChargeStatusResponse, samples.charge_status()),
        (NotificationChargeOrderInfoRequest, samples.charge_order_info()),
    ],
)
def test_dump_is_strict_in_the_dialect(model: type[WireModel], payload: dict[str, Any]) -> None:
    parsed = model.model_validate(to_xiaoju(payload))  # read the Xiaoju spelling …
    cec, xiaoju = keys(dump(parsed, "cec")), keys(dump(parsed, "xiaoju"))  # … write either
    assert {k for k in cec if "Sevice" in k}
    assert not {k for k in cec if "Service" in k}
    assert {k for k in xiaoju if "Service" in k}
    assert not {k for k in xiaoju if "Sevice" in k}
    assert dump(parsed) == dump(parsed, "cec")


def test_cec_and_xiaoju_spellings_of_the_bill() -> None:
    order = NotificationChargeOrderInfoRequest.model_validate(
        samples.charge_order_info(xiaoju=True)
    )
    assert order.total_service_money == Decimal("34.5")
    assert dump(order, "cec")["TotalSeviceMoney"] == 34.5
    assert dump(order, "xiaoju")["TotalServiceMoney"] == 34.5
    assert order.charge_details[0].detail_service_money == Decimal("17.09")


def test_elect_money_and_elec_money() -> None:
    query = QueryEquipChargeStatusResponse.model_validate(samples.charge_status())
    push = NotificationEquipChargeStatusRequest.model_validate(
        samples.charge_status(elec_money_name="ElecMoney")
    )
    assert query.elec_money == push.elec_money == Decimal("14.95")
    assert "ElectMoney" in dump(query)
    assert "ElecMoney" not in dump(query)
    assert "ElecMoney" in dump(push)
    assert "ElectMoney" not in dump(push)
    # Either spelling is read by either message.
    swapped = NotificationEquipChargeStatusRequest.model_validate(samples.charge_status())
    assert swapped.elec_money == Decimal("14.95")


def test_money_is_exact_decimal() -> None:
    policy = QueryEquipBusinessPolicyResponse.model_validate(samples.business_policy())
    assert [p.elec_price for p in policy.policy_infos] == [
        Decimal("0.3"),
        Decimal("0.7"),
        Decimal("1.0"),
        Decimal("0.7"),
    ]


def test_live_values_in_connector_status() -> None:
    info = ConnectorStatusInfo.model_validate(samples.connector_status_info())
    assert (info.current_a, info.voltage_a, info.soc) == (181.5, 402.6, 47.0)
    assert info.current_b is None
    assert (
        ConnectorStatusInfo.model_validate({"ConnectorID": "c", "Status": 1, "Soc": 80}).soc == 80
    )


def test_unknown_codes_and_numeric_ids_are_accepted() -> None:
    info = ConnectorStatusInfo.model_validate({"ConnectorID": 310112000100101, "Status": "21501"})
    assert info.connector_id == "310112000100101"
    assert info.status == 21501
    station = samples.station_info() | {"StationType": 7, "Construction": 99, "StationID": 42}
    parsed = QueryStationsInfoResponse.model_validate(samples.stations_info_response(station))
    assert parsed.station_infos[0].station_type == 7
    assert parsed.station_infos[0].station_id == "42"


def test_missing_optional_fields() -> None:
    minimal = {"StationID": "S1", "StationName": "站", "StationLng": 116.4, "StationLat": 39.9}
    parsed = QueryStationsInfoResponse.model_validate({"StationInfos": [minimal]})
    station = parsed.station_infos[0]
    assert station.area_code is None
    assert station.equipment_infos == ()
    assert dump(station) == minimal | {"Pictures": [], "EquipmentInfos": []}


def test_request_defaults() -> None:
    assert dump(QueryStationsInfoRequest()) == {"PageNo": 1, "PageSize": 10}
    assert QueryStationsInfoRequest.model_validate({}).page_size == 10


def test_token_secrets_are_not_in_repr() -> None:
    request = QueryTokenRequest(operator_id=PLATFORM_ID, operator_secret="op-secret-2")
    response = QueryTokenResponse.model_validate(EXAMPLES[Interface.QUERY_TOKEN][1])
    assert "op-secret-2" not in repr(request)
    assert "7f3c9e1ab2" not in repr(response)
    assert dump(request) == {"OperatorID": PLATFORM_ID, "OperatorSecret": "op-secret-2"}


@pytest.mark.parametrize(
    ("given", "expected"),
    [("080000", "080000"), ("08:00:00", "080000"), ("0800", "080000"), ("8:30", "083000")],
)
def test_policy_start_time_is_normalised(given: str, expected: str) -> None:
    policy = PolicyInfo.model_validate({"StartTime": given, "ElecPrice": 1, "ServicePrice": 0})
    assert policy.start_time == expected


# ----------------------------------------------------------------------------- malformed


def test_more_than_fifty_station_ids_is_refused() -> None:
    assert len(QueryStationStatusRequest(station_ids=tuple(map(str, range(50)))).station_ids) == 50
    with pytest.raises(ValidationError, match="StationIDs") as caught:
        QueryStationStatusRequest.model_validate({"StationIDs": [str(i) for i in range(51)]})
    assert "at most 50" in str(caught.value)
    with pytest.raises(TcecError, match="StationIDs") as err:
        parse(QueryStationStatusRequest, {"StationIDs": []})
    assert err.value.ret is Ret.INVALID_PARAMETER


def test_missing_required_field_names_it() -> None:
    station = samples.station_info()
    del station["StationID"]
    with pytest.raises(TcecError) as caught:
        parse(QueryStationsInfoResponse, samples.stations_info_response(station))
    assert caught.value.ret is Ret.MALFORMED
    assert str(caught.value) == "StationInfos.0.StationID: Field required"


def test_wrong_type_names_the_field_without_echoing_it() -> None:
    station = samples.station_info()
    station["EquipmentInfos"][0]["ConnectorInfos"][1]["Power"] = "fast-secret-value"
    with pytest.raises(TcecError) as caught:
        parse(QueryStationsInfoResponse, samples.stations_info_response(station))
    assert caught.value.ret is Ret.INVALID_PARAMETER
    message = str(caught.value)
    assert message.startswith("StationInfos.0.EquipmentInfos.0.ConnectorInfos.1.Power:")
    assert "fast-secret-value" not in message


def test_bad_policy_start_time_names_the_field() -> None:
    payload = samples.business_policy()
    payload["PolicyInfos"][2]["StartTime"] = "250000"
    with pytest.raises(ValidationError) as caught:
        QueryEquipBusinessPolicyResponse.model_validate(payload)
    assert caught.value.errors()[0]["loc"] == ("PolicyInfos", 2, "StartTime")


def test_missing_dialect_field_names_the_cec_spelling() -> None:
    with pytest.raises(TcecError, match="SevicePrice: Field required"):
        parse(PolicyInfo, {"StartTime": "000000", "ElecPrice": 1})


# ----------------------------------------------------------------------------- dialects, paths


def test_dialect_of() -> None:
    assert dialect_of(None) == "cec"
    assert dialect_of("xiaoju") == "xiaoju"
    with pytest.raises(ValueError, match="unknown T/CEC dialect"):
        dialect_of("teld")
    with pytest.raises(ValueError, match="unknown T/CEC dialect"):
        dump(QueryStationsInfoRequest(), "teld")  # type: ignore[arg-type]


def test_cec_paths_are_interface_names() -> None:
    cec = paths("cec")
    assert set(cec) == set(Interface)
    assert all(path == str(name) for name, path in cec.items())
    assert cec[Interface.NOTIFICATION_STATION_STATUS] == "notification_stationStatus"


def test_xiaoju_paths() -> None:
    xiaoju = paths("xiaoju")
    assert xiaoju[Interface.QUERY_TOKEN] == "/evcs/sdk/query_token"
    assert xiaoju[Interface.QUERY_STATIONS_INFO] == "/evcs/v1/query_stations_info"
    assert xiaoju[Interface.QUERY_STOP_CHARGE] == "/evcs/v1/query_stop_charge"
    assert xiaoju[Interface.NOTIFICATION_STATION_STATUS] == "/notification_stationStatus"
    assert xiaoju[Interface.CHECK_CHARGE_ORDERS] == "/check_charge_orders"
    operator_side = [n for n, s in INTERFACES.items() if s.implementer == "operator"]
    assert all(xiaoju[n] == f"/evcs/v1/{n}" for n in operator_side)


def test_endpoint_url() -> None:
    assert (
        endpoint_url("https://op.example.cn/evcs/v20160701", "query_stations_info", "cec")
        == "https://op.example.cn/evcs/v20160701/query_stations_info"
    )
    assert (
        endpoint_url("https://op.example.cn/evcs/v1/", Interface.QUERY_TOKEN, "xiaoju")
        == "https://op.example.cn/evcs/sdk/query_token"
    )
    assert (
        endpoint_url("https://op.example.cn", Interface.QUERY_STATION_STATUS, "xiaoju")
        == "https://op.example.cn/evcs/v1/query_station_status"
    )


# ----------------------------------------------------------------------------- our extensions


def test_plug_and_charge_paths_and_vin() -> None:
    assert paths("cec")[Interface.NOTIFICATION_PLUG_AND_CHARGE] == "notification_plug_and_charge"
    assert (
        paths("xiaoju")[Interface.NOTIFICATION_PLUG_AND_CHARGE] == "/notification_plug_and_charge"
    )
    request = parse(
        NotificationPlugAndChargeRequest,
        {"PlugAndChargeSeq": "x", "ConnectorID": CONNECTOR, "VIN": " ltmm3e1b6rb244103 "},
    )
    assert request.vin == "LTMM3E1B6RB244103"
    refused = NotificationPlugAndChargeResponse.model_validate(
        {"PlugAndChargeSeq": "x", "SuccStat": 1, "FailReason": 1}
    )
    assert refused.fail_reason == PlugAndChargeRefusal.VIN_NOT_REGISTERED
    assert refused.start_charge_seq is None
    assert dump(refused, "xiaoju") == {"PlugAndChargeSeq": "x", "SuccStat": 1, "FailReason": 1}
    with pytest.raises(TcecError) as missing:
        parse(NotificationPlugAndChargeRequest, {"PlugAndChargeSeq": "x", "ConnectorID": "c"})
    assert missing.value.ret is Ret.MALFORMED
    assert "VIN" in str(missing.value)


def test_start_result_failure_extension() -> None:
    failed = parse(
        NotificationStartChargeResultRequest,
        {
            "StartChargeSeq": SEQ,
            "StartChargeSeqStat": 4,
            "ConnectorID": CONNECTOR,
            "FailReason": 3,
            "FailReasonMsg": "insulation check failed",
        },
    )
    assert StartFailure(failed.fail_reason) is StartFailure.INSULATION_CHECK_FAILED
    assert failed.fail_reason_msg == START_FAILURE_TEXT[StartFailure.INSULATION_CHECK_FAILED]
    plain = parse(
        NotificationStartChargeResultRequest,
        {"StartChargeSeq": SEQ, "StartChargeSeqStat": 2, "ConnectorID": CONNECTOR},
    )
    assert (plain.fail_reason, plain.fail_reason_msg) == (None, None)
    assert "FailReason" not in dump(plain)  # partners without the extension see nothing new
    assert set(START_FAILURE_TEXT) == set(StartFailure)
