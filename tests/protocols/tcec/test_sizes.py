"""The T/CEC sizes on input (:mod:`chargemesh.protocols.tcec.sizes`): ids at the standard's
length, free text at about twice it, lists bounded, integers within 32 bits, floats finite,
coordinates on the globe, money below a billion yuan. A payload beyond them is refused by
:func:`parse` with Ret 4004 naming the wire field and the bound, never quoting the value."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chargemesh.protocols.tcec.charging import (
    CheckChargeOrdersRequest,
    NotificationChargeOrderInfoRequest,
    NotificationEquipChargeStatusRequest,
    NotificationPlugAndChargeRequest,
    QueryEquipBusinessPolicyResponse,
)
from chargemesh.protocols.tcec.codec import (
    CHINA_TZ,
    Ret,
    Secrets,
    TcecError,
    open_request,
    seal_request,
)
from chargemesh.protocols.tcec.sizes import (
    MAX_CONNECTORS_PER_EQUIPMENT,
    MAX_EQUIPMENT_PER_STATION,
    MAX_PICTURES,
)
from chargemesh.protocols.tcec.stations import (
    NotificationStationStatusRequest,
    QueryStationsInfoResponse,
    StationInfo,
)
from chargemesh.protocols.tcec.token import QueryTokenRequest
from chargemesh.protocols.tcec.wire import WireModel, parse
from tests.protocols.tcec import samples

Path = tuple[str | int, ...]


def with_value(raw: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(raw)
    here: Any = out
    for step in path[:-1]:
        here = here[step]
    here[path[-1]] = value
    return out


def refused(model: type[WireModel], payload: dict[str, Any]) -> str:
    with pytest.raises(TcecError) as caught:
        parse(model, payload)
    assert caught.value.ret is Ret.INVALID_PARAMETER
    return str(caught.value)


def status_push() -> dict[str, Any]:
    return {"ConnectorStatusInfo": samples.connector_status_info()}


#: (model, sample, wire path, the most characters allowed)
STRINGS: list[tuple[type[WireModel], Any, Path, int]] = [
    (StationInfo, samples.station_info, ("StationID",), 20),
    (StationInfo, samples.station_info, ("OperatorID",), 9),
    (StationInfo, samples.station_info, ("EquipmentOwnerID",), 9),
    (StationInfo, samples.station_info, ("StationName",), 100),
    (StationInfo, samples.station_info, ("CountryCode",), 3),
    (StationInfo, samples.station_info, ("AreaCode",), 20),
    (StationInfo, samples.station_info, ("Address",), 256),
    (StationInfo, samples.station_info, ("StationTel",), 64),
    (StationInfo, samples.station_info, ("ServiceTel",), 64),
    (StationInfo, samples.station_info, ("SiteGuide",), 256),
    (StationInfo, samples.station_info, ("Pictures", 0), 512),
    (StationInfo, samples.station_info, ("BusineHours",), 256),
    (StationInfo, samples.station_info, ("ElectricityFee",), 512),
    (StationInfo, samples.station_info, ("Payment",), 64),
    (StationInfo, samples.station_info, ("Remark",), 256),
    (StationInfo, samples.station_info, ("EquipmentInfos", 0, "EquipmentID"), 23),
    (StationInfo, samples.station_info, ("EquipmentInfos", 0, "ManufacturerID"), 9),
    (StationInfo, samples.station_info, ("EquipmentInfos", 0, "ManufacturerName"), 100),
    (StationInfo, samples.station_info, ("EquipmentInfos", 0, "EquipmentModel"), 64),
    (StationInfo, samples.station_info, ("EquipmentInfos", 0, "EquipmentName"), 100),
    (
        StationInfo,
        samples.station_info,
        ("EquipmentInfos", 0, "ConnectorInfos", 0, "ConnectorID"),
        26,
    ),
    (
        StationInfo,
        samples.station_info,
        ("EquipmentInfos", 0, "ConnectorInfos", 0, "ConnectorName"),
        100,
    ),
    (StationInfo, samples.station_info, ("EquipmentInfos", 0, "ConnectorInfos", 0, "ParkNo"), 64),
    (NotificationStationStatusRequest, status_push, ("ConnectorStatusInfo", "ConnectorID"), 26),
    (NotificationChargeOrderInfoRequest, samples.charge_order_info, ("StartChargeSeq",), 27),
    (NotificationChargeOrderInfoRequest, samples.charge_order_info, ("StartTime",), 32),
    (
        NotificationChargeOrderInfoRequest,
        samples.charge_order_info,
        ("ChargeDetails", 0, "DetailEndTime"),
        32,
    ),
    (CheckChargeOrdersRequest, samples.check_charge_orders, ("CheckOrderSeq",), 27),
    (
        CheckChargeOrdersRequest,
        samples.check_charge_orders,
        ("ChargeOrders", 0, "StartChargeSeq"),
        27,
    ),
]


@pytest.mark.parametrize(
    ("model", "sample", "path", "length"),
    STRINGS,
    ids=[".".join(map(str, p)) for _, _, p, _ in STRINGS],
)
def test_a_field_is_held_to_its_size(
    model: type[WireModel], sample: Any, path: Path, length: int
) -> None:
    raw = sample()
    parse(model, with_value(raw, path, "9" * length))
    message = refused(model, with_value(raw, path, "9" * (length + 1)))
    assert ".".join(map(str, path)) in message
    assert f"at most {length} characters" in message
    assert "9999999999" not in message


def test_a_5_mb_station_name_is_refused_in_a_short_message() -> None:
    message = refused(
        StationInfo, with_value(samples.station_info(), ("StationName",), "长" * 5_000_000)
    )
    assert message == "StationName: String should have at most 100 characters"


def test_a_vin_is_17_characters_once_stripped() -> None:
    raw = {"PlugAndChargeSeq": "x", "ConnectorID": "c", "VIN": " ltmm3e1b6rb244103 "}
    assert parse(NotificationPlugAndChargeRequest, raw).vin == "LTMM3E1B6RB244103"
    assert "VIN" in refused(NotificationPlugAndChargeRequest, raw | {"VIN": "L" * 18})


def test_an_operator_secret_is_bounded() -> None:
    raw = {"OperatorID": samples.OPERATOR_ID, "OperatorSecret": "s" * 256}
    parse(QueryTokenRequest, raw)
    assert "OperatorSecret" in refused(QueryTokenRequest, raw | {"OperatorSecret": "s" * 100_000})


LISTS: list[tuple[type[WireModel], Any, Path, int]] = [
    (StationInfo, samples.station_info, ("EquipmentInfos",), MAX_EQUIPMENT_PER_STATION),
    (
        StationInfo,
        samples.station_info,
        ("EquipmentInfos", 0, "ConnectorInfos"),
        MAX_CONNECTORS_PER_EQUIPMENT,
    ),
    (StationInfo, samples.station_info, ("Pictures",), MAX_PICTURES),
]


@pytest.mark.parametrize(
    ("model", "sample", "path", "bound"), LISTS, ids=[".".join(map(str, p)) for _, _, p, _ in LISTS]
)
def test_a_list_is_bounded(model: type[WireModel], sample: Any, path: Path, bound: int) -> None:
    raw = sample()
    here: Any = raw
    for step in path:
        here = here[step]
    parse(model, with_value(raw, path, [here[0]] * bound))
    message = refused(model, with_value(raw, path, [here[0]] * (bound + 1)))
    assert ".".join(map(str, path)) in message
    assert f"at most {bound} items" in message


def test_many_price_periods_and_charge_details_are_bounded() -> None:
    policy = samples.business_policy()
    periods = policy["PolicyInfos"] * 250
    parse(QueryEquipBusinessPolicyResponse, policy | {"PolicyInfos": periods})
    assert "PolicyInfos" in refused(
        QueryEquipBusinessPolicyResponse, policy | {"PolicyInfos": [*periods, periods[0]]}
    )
    status = samples.charge_status()
    details = status["ChargeDetails"] * 1001
    assert "ChargeDetails" in refused(
        NotificationEquipChargeStatusRequest, status | {"ChargeDetails": details}
    )


@pytest.mark.parametrize(
    ("model", "sample", "path", "value"),
    [
        (NotificationStationStatusRequest, status_push, ("ConnectorStatusInfo", "Status"), 2**31),
        (
            NotificationStationStatusRequest,
            status_push,
            ("ConnectorStatusInfo", "Status"),
            "9" * 4000,
        ),
        (NotificationStationStatusRequest, status_push, ("ConnectorStatusInfo", "SOC"), "Infinity"),
        (NotificationStationStatusRequest, status_push, ("ConnectorStatusInfo", "CurrentA"), "NaN"),
        (StationInfo, samples.station_info, ("StationLng",), 180.5),
        (StationInfo, samples.station_info, ("StationLat",), -90.5),
        (StationInfo, samples.station_info, ("EquipmentInfos", 0, "EquipmentLat"), 1e300),
        (StationInfo, samples.station_info, ("ParkNums",), -(2**31) - 1),
        (
            NotificationChargeOrderInfoRequest,
            samples.charge_order_info,
            ("TotalMoney",),
            "1e999999",
        ),
        (NotificationChargeOrderInfoRequest, samples.charge_order_info, ("TotalPower",), 1e999),
        (NotificationChargeOrderInfoRequest, samples.charge_order_info, ("TotalMoney",), -1e10),
    ],
)
def test_numbers_beyond_sense_are_refused(
    model: type[WireModel], sample: Any, path: Path, value: Any
) -> None:
    assert path[-1] in refused(model, with_value(sample(), path, value))


def test_the_bounds_hold_for_a_pulled_page_station_by_station() -> None:
    """A partner's page is validated per station (the client leaves a bad one out): each
    station is held to the same sizes."""
    big = with_value(samples.station_info(), ("StationName",), "长" * 101)
    with pytest.raises(ValidationError):
        StationInfo.model_validate(big)
    with pytest.raises(TcecError):
        parse(
            QueryStationsInfoResponse, samples.stations_info_response(samples.station_info(), big)
        )


SECRETS = Secrets("op-secret-00001", "data-key-0000001", "data-iv-00000001", "sig-secret")


@pytest.mark.parametrize(("field", "bound"), [("Seq", 32), ("OperatorID", 32), ("Sig", 64)])
def test_an_oversized_envelope_field_is_malformed(field: str, bound: int) -> None:
    """The Seq of every accepted request is kept by the replay guard: a signed request may not
    carry a huge one (nor a huge OperatorID or Sig)."""
    long = "1" * 100_000
    sealed = seal_request(
        long if field == "OperatorID" else samples.OPERATOR_ID,
        {"A": 1},
        SECRETS,
        seq=long if field == "Seq" else "0001",
        timestamp=datetime.now(CHINA_TZ),
    )
    if field == "Sig":
        sealed["Sig"] = long
    with pytest.raises(TcecError) as caught:
        open_request(sealed, lambda _: SECRETS)
    assert caught.value.ret is Ret.MALFORMED
    assert str(caught.value) == f"envelope field {field}: at most {bound} characters"
    at = datetime.now(CHINA_TZ)
    fine = seal_request(samples.OPERATOR_ID, {"A": 1}, SECRETS, seq="9" * 32, timestamp=at)
    assert open_request(fine, lambda _: SECRETS).seq == "9" * 32
