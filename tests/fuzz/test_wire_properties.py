"""Property tests of what crosses the wire (hypothesis, bounded: a few hundred inputs each).

- T/CEC (protocols/tcec/codec.py): any payload sealed by an operator opens back to itself;
  ``Data`` decrypts to what was encrypted; any bytes, or any JSON, posted as an envelope is
  refused with a ``TcecError`` (a Ret to answer), never a crash or another exception type.
- OCPI (protocols/ocpi/models.py): what we dump parses back equal; an official example with
  any member replaced by any JSON either parses (and then round-trips) or is refused with an
  ``OcpiError`` 2001 — nothing else, whatever a partner sends.
- OCPP (protocols/ocpp): timestamps we write parse back to the same instant; meter values as
  the schemas let them through (any text for a value, any units) give readings, never an
  exception; what the CSMS asks a charger validates against the library's schemas for 1.6
  and 2.0.1 and unpacks to what was asked.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ocpp.charge_point import ChargePoint
from ocpp.exceptions import TypeConstraintViolationError
from ocpp.messages import unpack, validate_payload
from pydantic import BaseModel

from chargemesh.protocols.ocpi.enums import Capability, ConnectorType, Facility, Status
from chargemesh.protocols.ocpi.models import (
    Cdr,
    Credentials,
    Location,
    Session,
    Tariff,
    Token,
    dump,
    parse,
)
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode
from chargemesh.protocols.ocpp import v16, v201
from chargemesh.protocols.ocpp.common import parse_time, wire_time
from chargemesh.protocols.ocpp.v16 import Charger16
from chargemesh.protocols.ocpp.v201 import Charger201
from chargemesh.protocols.tcec.codec import (
    Ret,
    Secrets,
    TcecError,
    decrypt_data,
    encrypt_data,
    open_request,
    request_sig,
    seal_request,
)
from tests.protocols.ocpi import example

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same inputs on every run: CI fails only for a change
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ----------------------------------------------------------------------------- JSON values

#: JSON scalars as a decoder gives them (finite floats: JSON has no NaN)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
#: any JSON value, a few levels deep
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=8)

# ----------------------------------------------------------------------------- T/CEC

#: secrets as an operator agrees them: 16-byte AES key and IV, any signing secret
ascii16 = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=16, max_size=16
)
secrets_ = st.builds(
    Secrets,
    operator_secret=st.text(min_size=1, max_size=20),
    data_secret=ascii16,
    data_secret_iv=ascii16,
    sig_secret=st.text(min_size=1, max_size=32),
)
operator_ids = st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=9, max_size=9)
stamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
seqs = st.integers(min_value=1, max_value=9999).map(lambda n: f"{n:04d}")


@BOUNDED
@given(payload=json_objects, secrets=secrets_, operator_id=operator_ids, at=stamps, seq=seqs)
def test_tcec_any_payload_sealed_opens_back_to_itself(
    payload: dict[str, Any], secrets: Secrets, operator_id: str, at: datetime, seq: str
) -> None:
    envelope = seal_request(operator_id, payload, secrets, seq=seq, timestamp=at)
    assert envelope["Sig"] == request_sig(
        operator_id, envelope["Data"], envelope["TimeStamp"], seq, secrets
    )
    assert len(envelope["Sig"]) == 32
    assert envelope["Sig"] == envelope["Sig"].upper()
    body = json.dumps(envelope).encode()
    opened = open_request(body, lambda oid: secrets if oid == operator_id else None)
    assert opened.payload == payload
    assert json.dumps(opened.payload, sort_keys=True) == json.dumps(payload, sort_keys=True)
    assert opened.operator_id == operator_id
    assert opened.seq == seq
    assert opened.timestamp == at.replace(microsecond=0)


@BOUNDED
@given(plaintext=st.binary(max_size=300), secrets=secrets_)
def test_tcec_data_decrypts_to_what_was_encrypted(plaintext: bytes, secrets: Secrets) -> None:
    assert decrypt_data(encrypt_data(plaintext, secrets), secrets) == plaintext


def _refused(body: bytes | str | dict[str, Any], secrets: Secrets, operator_id: str) -> None:
    """Nothing but a correctly signed envelope opens; the rest is a Ret to answer."""
    with pytest.raises(TcecError) as refused:
        open_request(body, lambda oid: secrets if oid == operator_id else None)
    assert refused.value.ret in (Ret.MALFORMED, Ret.BAD_SIGNATURE), repr(refused.value)


@BOUNDED
@given(body=st.binary(max_size=400), secrets=secrets_)
def test_tcec_any_bytes_are_refused_cleanly(body: bytes, secrets: Secrets) -> None:
    _refused(body, secrets, "313744932")


envelope_fields = st.fixed_dictionaries(
    {},
    optional={
        "OperatorID": st.just("313744932") | json_values,
        "Data": st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/=", max_size=64)
        | json_values,
        "TimeStamp": st.just("20261101080000") | json_values,
        "Seq": st.just("0001") | json_values,
        "Sig": st.text(alphabet="0123456789ABCDEF", min_size=32, max_size=32) | json_values,
    },
)


@BOUNDED
@given(envelope=envelope_fields | json_values, secrets=secrets_, as_text=st.booleans())
def test_tcec_any_json_envelope_is_refused_cleanly(
    envelope: Any, secrets: Secrets, as_text: bool
) -> None:
    body = json.dumps(envelope) if as_text else json.dumps(envelope).encode()
    _refused(body, secrets, "313744932")


@BOUNDED
@given(
    payload=json_objects,
    secrets=secrets_,
    at=stamps,
    field=st.sampled_from(["OperatorID", "Data", "TimeStamp", "Seq", "Sig"]),
    junk=json_values,
)
def test_tcec_a_sealed_envelope_with_any_field_changed_is_refused_cleanly(
    payload: dict[str, Any], secrets: Secrets, at: datetime, field: str, junk: Any
) -> None:
    envelope: dict[str, Any] = seal_request("313744932", payload, secrets, seq="0001", timestamp=at)
    if envelope[field] == junk or (field == "Seq" and str(junk) == "0001"):
        return  # unchanged: it opens, as it should
    envelope[field] = junk
    _refused(json.dumps(envelope).encode(), secrets, "313744932")


# ----------------------------------------------------------------------------- OCPI

#: official examples, one object of each model a partner sends us or we send
OCPI_EXAMPLES: list[tuple[type[BaseModel], str]] = [
    (Location, "location_example.json"),
    (Location, "location_example_uc2_destination_charger.json"),
    (Location, "location_example_parking_garage_opening_hours.json"),
    (Session, "session_example_2_short_finished.json"),
    (Cdr, "cdr_example.json"),
    (Tariff, "tariff_4_complex.json"),
    (Token, "token_example_2_full_rfid.json"),
    (Credentials, "credentials_example.json"),
]


def _object(name: str) -> dict[str, Any]:
    raw = example(name)
    data = raw.get("data", raw) if isinstance(raw, dict) and "status_code" in raw else raw
    assert isinstance(data, dict), name
    return data


def _parsed_or_refused(model_cls: type[BaseModel], raw: Any) -> BaseModel | None:
    """The model, or None when it was refused as OCPI says (2001); any other error fails."""
    try:
        parsed = parse(model_cls, raw)
    except OcpiError as exc:
        refused = exc
    else:
        event("parsed")
        return parsed
    event("refused")
    assert refused.status_code == StatusCode.INVALID_PARAMETERS, repr(refused)
    return None


def _round_trips(model: BaseModel) -> None:
    out = dump(model)
    again = parse(type(model), json.loads(json.dumps(out)))
    assert again == model
    assert dump(again) == out


@settings(BOUNDED, max_examples=300)
@given(
    which=st.sampled_from(OCPI_EXAMPLES),
    path=st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=3),
    junk=json_values,
)
def test_ocpi_any_member_replaced_by_any_json_parses_or_is_refused(
    which: tuple[type[BaseModel], str], path: list[int], junk: Any
) -> None:
    model_cls, name = which
    raw = _object(name)
    # walk down ``path`` (an index into each level's members) and replace what is found there
    node: Any = raw
    for step in path:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = keys[step % len(keys)]
        if isinstance(node[key], dict | list) and node[key] and step != path[-1]:
            node = node[key]
            continue
        node[key] = junk
        break
    parsed = _parsed_or_refused(model_cls, raw)
    if parsed is not None:
        _round_trips(parsed)


@BOUNDED
@given(which=st.sampled_from([m for m, _ in OCPI_EXAMPLES]), raw=json_values)
def test_ocpi_any_json_parses_or_is_refused(which: type[BaseModel], raw: Any) -> None:
    parsed = _parsed_or_refused(which, raw)
    if parsed is not None:
        _round_trips(parsed)


#: OCPI DateTimes as partners send them, at most milliseconds (what we dump keeps)
ocpi_times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=at.microsecond // 1000 * 1000))


def _wire_time(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _text(most: int, least: int = 0) -> st.SearchStrategy[str]:
    return st.text(min_size=least, max_size=most)


def _degrees(limit: int) -> st.SearchStrategy[str]:
    return st.decimals(min_value=-limit, max_value=limit, places=6).map(lambda d: f"{d:.6f}")


def _open_enum(members: type[StrEnum]) -> st.SearchStrategy[str]:
    """A member, or a value a newer partner might send (kept as text)."""
    return st.sampled_from([m.value for m in members]) | st.from_regex(
        r"[A-Z_]{1,20}", fullmatch=True
    )


points = st.fixed_dictionaries({"latitude": _degrees(90), "longitude": _degrees(180)})
connectors = st.fixed_dictionaries(
    {
        "id": _text(36, 1),
        "standard": _open_enum(ConnectorType),
        "format": st.sampled_from(["SOCKET", "CABLE"]),
        "power_type": st.sampled_from(["AC_1_PHASE", "AC_3_PHASE", "DC"]),
        "max_voltage": st.integers(0, 1500),
        "max_amperage": st.integers(0, 1000),
        "last_updated": ocpi_times.map(_wire_time),
    },
    optional={
        "max_electric_power": st.integers(0, 1_000_000),
        "tariff_ids": st.lists(_text(36, 1), max_size=3),
    },
)
evses = st.fixed_dictionaries(
    {
        "uid": _text(36, 1),
        "status": _open_enum(Status),
        "connectors": st.lists(connectors, min_size=1, max_size=3),
        "last_updated": ocpi_times.map(_wire_time),
    },
    optional={
        "evse_id": _text(48),
        "capabilities": st.lists(_open_enum(Capability), max_size=3),
        "physical_reference": _text(16),
        "floor_level": _text(4),
        "coordinates": st.fixed_dictionaries(
            {"latitude": _degrees(90), "longitude": _degrees(180)}
        ),
    },
)
locations = st.fixed_dictionaries(
    {
        "country_code": _text(2, 2),
        "party_id": _text(3, 3),
        "id": _text(36, 1),
        "publish": st.booleans(),
        "address": _text(45),
        "city": _text(45),
        "country": _text(3, 3),
        "coordinates": st.fixed_dictionaries(
            {"latitude": _degrees(90), "longitude": _degrees(180)}
        ),
        "time_zone": st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "UTC"]),
        "last_updated": ocpi_times.map(_wire_time),
    },
    optional={
        "name": _text(255),
        "postal_code": _text(10),
        "evses": st.lists(evses, max_size=3),
        "facilities": st.lists(_open_enum(Facility), max_size=3),
        "charging_when_closed": st.booleans(),
    },
)


@BOUNDED
@given(raw=locations)
def test_ocpi_a_location_we_dump_parses_back_equal(raw: dict[str, Any]) -> None:
    location = parse(Location, raw)
    _round_trips(location)
    assert dump(location)["id"] == raw["id"]
    assert len(dump(location).get("evses", [])) == len(raw.get("evses", []))


def test_ocpi_every_example_round_trips() -> None:
    for model_cls, name in OCPI_EXAMPLES:
        _round_trips(parse(model_cls, _object(name)))


# ----------------------------------------------------------------------------- OCPP


@BOUNDED
@given(
    at=st.datetimes(
        min_value=datetime(2000, 1, 2),
        max_value=datetime(2099, 12, 30),
        timezones=st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    )
)
def test_ocpp_a_time_we_write_parses_back_to_the_same_millisecond(at: datetime) -> None:
    written = wire_time(at)
    assert written.endswith("Z")
    back = parse_time(written)
    assert back.tzinfo is not None
    assert abs(back - at) < timedelta(milliseconds=1)
    assert wire_time(back) == written


class _Charger:
    """The charger's end of the websocket: records what the CSMS sends and answers each call
    as a willing charger would (a payload valid for its action)."""

    ANSWERS: Final = {"UnlockConnector": {"status": "Unlocked"}}

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.csms: ChargePoint | None = None

    async def send(self, text: str) -> None:
        self.sent.append(text)
        message = json.loads(text)
        if message[0] != 2:  # an answer to the charger's own call
            return
        assert self.csms is not None
        answer = self.ANSWERS.get(message[2], {"status": "Accepted"})
        reply = json.dumps([3, message[1], answer])
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self.csms.route_message(reply))  # type: ignore[union-attr]
        )

    async def recv(self) -> str:
        await asyncio.sleep(3600)
        return ""


class _Side:
    """The CSMS side behind the connection: records what it is asked (nothing, here)."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        async def asked(*_: Any) -> Any:
            self.asked.append(name)
            raise AssertionError(f"the CSMS side was asked {name}")

        return asked


async def _sent(version: str, ask: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    """What the CSMS of ``version`` sent to a charger for ``ask``: each message checked by the
    library's schema for its version, and unpacked back."""
    wire = _Charger()
    csms = (Charger16 if version == "1.6" else Charger201)("CP-1", wire, _Side())
    wire.csms = csms
    await ask(csms)
    out = []
    for text in wire.sent:
        message = unpack(text)
        await validate_payload(message, version)  # raises on anything off-schema
        out.append(message)
    return out


tokens = st.text(alphabet="0123456789abcdef", min_size=1, max_size=20)
connector_numbers = st.integers(min_value=1, max_value=99)


@settings(BOUNDED, max_examples=40)  # ten messages over two fake connections each
@given(
    connector=connector_numbers,
    token=tokens,
    remote_start_id=st.integers(min_value=1, max_value=2**31 - 1),
    transaction=st.integers(min_value=1, max_value=2**31 - 1),
    operative=st.booleans(),
    hard=st.booleans(),
)
def test_ocpp_what_the_csms_asks_validates_and_parses_back(
    connector: int, token: str, remote_start_id: int, transaction: int, operative: bool, hard: bool
) -> None:
    async def ask(csms: Any) -> None:
        assert await csms.remote_start(connector, token, remote_start_id)
        assert await csms.remote_stop(str(transaction))
        assert await csms.change_availability(connector, operative) == "Accepted"
        assert await csms.reset(hard) == "Accepted"
        assert await csms.unlock(connector) == "Unlocked"

    old = asyncio.run(_sent("1.6", ask))
    assert [m.action for m in old] == [
        "RemoteStartTransaction", "RemoteStopTransaction", "ChangeAvailability", "Reset",
        "UnlockConnector",
    ]  # fmt: skip
    assert old[0].payload == {"idTag": token, "connectorId": connector}
    assert old[1].payload == {"transactionId": transaction}
    assert old[2].payload["connectorId"] == connector
    assert old[2].payload["type"] == ("Operative" if operative else "Inoperative")
    assert old[3].payload == {"type": "Hard" if hard else "Soft"}
    new = asyncio.run(_sent("2.0.1", ask))
    assert [m.action for m in new] == [
        "RequestStartTransaction", "RequestStopTransaction", "ChangeAvailability", "Reset",
        "UnlockConnector",
    ]  # fmt: skip
    start = new[0].payload
    assert start["idToken"] == {"idToken": token, "type": "Central"}
    assert (start["remoteStartId"], start["evseId"]) == (remote_start_id, connector)
    assert new[1].payload == {"transactionId": str(transaction)}
    assert new[4].payload == {"evseId": connector, "connectorId": 1}


@BOUNDED
@given(text=st.text(max_size=40))
def test_ocpp_any_timestamp_text_is_a_time_or_a_type_constraint_violation(text: str) -> None:
    try:
        at = parse_time(text)
    except TypeConstraintViolationError:
        return
    assert at.tzinfo is not None


async def _answer(version: str, action: str, payload: dict[str, Any]) -> list[Any]:
    """What the CSMS of ``version`` answers a charger's ``action`` with ``payload``."""
    wire, side = _Charger(), _Side()
    csms = (Charger16 if version == "1.6" else Charger201)("CP-1", wire, side)
    await csms.route_message(json.dumps([2, "m-1", action, payload]))
    assert side.asked == []
    return [json.loads(text) for text in wire.sent]


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("1.6", "StatusNotification",
         {"connectorId": 1, "errorCode": "NoError", "status": "Available",
          "timestamp": "yesterday"}),
        ("1.6", "StopTransaction",
         {"meterStop": 1200, "timestamp": "2026-13-45T99:00:00Z", "transactionId": 7}),
        ("2.0.1", "StatusNotification",
         {"timestamp": "soon", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
    ],
)  # fmt: skip
def test_ocpp_a_charger_s_unreadable_timestamp_is_its_error_not_ours(
    version: str, action: str, payload: dict[str, Any]
) -> None:
    """The schemas let any text through as a date-time: the charger hears that its message
    broke a type constraint (and the CSMS side never sees it), not an internal error."""
    sent = asyncio.run(_answer(version, action, payload))
    assert len(sent) == 1
    kind, message_id, code = sent[0][:3]
    assert (kind, message_id, code) == (4, "m-1", "TypeConstraintViolation")


multipliers = st.integers(-3, 3)
#: sampled values as a charger may send them (1.6 and 2.0.1 after the library's snake_case)
sampled = st.fixed_dictionaries(
    {"value": st.one_of(st.text(max_size=12), st.floats(allow_nan=True)).map(str)},
    optional={
        "measurand": st.sampled_from(
            ["Energy.Active.Import.Register", "Power.Active.Import", "SoC", "Voltage"]
        ),
        "unit": st.sampled_from(["Wh", "kWh", "W", "kW", "Percent"]),
        "unit_of_measure": st.fixed_dictionaries(
            {},
            optional={
                "unit": st.sampled_from(["Wh", "kWh", "W", "kW"]),
                "multiplier": st.integers(-3, 3),
            },
        ),
    },
)
meter_values = st.lists(
    st.fixed_dictionaries(
        {"sampled_value": st.lists(sampled, max_size=4)},
        optional={"timestamp": ocpi_times.map(wire_time)},
    ),
    max_size=4,
)


@BOUNDED
@given(meter_value=meter_values)
def test_ocpp_any_meter_values_give_readings(meter_value: list[dict[str, Any]]) -> None:
    for version in (v16, v201):
        got = version.readings(meter_value)
        assert len(got) == len(meter_value)
        for reading in got:
            assert reading.at.tzinfo is not None
