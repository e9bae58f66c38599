"""The wire models against the 59 official OCPI 2.2.1 examples, plus malformed and lenient input.

Every example must survive ``dump(parse(M, raw))`` unchanged, compared both as Python objects and
as canonical JSON text (so an int turned into a float, or a number into a string, also fails).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from chargemesh.protocols.ocpi import enums
from chargemesh.protocols.ocpi.enums import (
    Capability,
    ConnectorType,
    Facility,
    ModuleID,
    ParkingType,
    Status,
    TokenType,
    VersionNumber,
)
from chargemesh.protocols.ocpi.models import (
    Cdr,
    CommandResponse,
    CommandResult,
    Connector,
    Credentials,
    DisplayText,
    EnergyMix,
    Evse,
    Hours,
    Location,
    Session,
    StartSession,
    StopSession,
    Tariff,
    Token,
    Version,
    VersionDetails,
    ci,
    dump,
    merge_patch,
    parse,
    parse_list,
)
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode, parse_datetime
from tests.protocols.ocpi import (
    EXAMPLE_COUNT,
    EXAMPLES_ROOT,
    example,
    example_names,
    examples_dir,
)


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def assert_round_trip(model_cls: type[BaseModel], raw: Any) -> BaseModel:
    parsed = parse(model_cls, raw)
    out = dump(parsed)
    assert out == raw
    assert canonical(out) == canonical(raw)
    return parsed


def assert_list_round_trip(model_cls: type[BaseModel], raw: Any) -> list[BaseModel]:
    parsed: list[BaseModel] = list(parse_list(model_cls, raw))
    out = [dump(item) for item in parsed]
    assert canonical(out) == canonical(raw)
    return parsed


def invalid(model_cls: type[BaseModel], raw: Any) -> OcpiError:
    with pytest.raises(OcpiError) as caught:
        parse(model_cls, raw)
    assert caught.value.status_code == StatusCode.INVALID_PARAMETERS
    assert caught.value.http_status == 400
    return caught.value


# ----------------------------------------------------------------------------- per-file checks


def check_patch(
    base: str,
    patch_name: str,
    model_cls: type[BaseModel],
    pick: Callable[[Any], Any] = lambda raw: raw,
    append: tuple[str, ...] = (),
) -> tuple[Any, BaseModel]:
    """A partial body: merged onto the matching full example, the result must parse and
    round-trip, and every patched member must be in it."""
    stored = pick(example(base))
    patch = example(patch_name)
    merged = merge_patch(stored, patch, append=append)
    parsed = assert_round_trip(model_cls, merged)
    for key, value in patch.items():
        if key not in append:
            assert merged[key] == value
    return merged, parsed


def _location_patch(raw: Any) -> None:
    _, parsed = check_patch(
        "location_example.json", "location_patch_example_location.json", Location
    )
    assert isinstance(parsed, Location)
    assert parsed.name == "Interparking Gent Zuid"
    assert parsed.last_updated == datetime(2019, 6, 24, 12, 39, 9, tzinfo=UTC)
    assert parsed.evses is not None
    assert len(parsed.evses) == 2


def _evse_status_patch(raw: Any) -> None:
    _, parsed = check_patch(
        "location_example.json",
        "location_patch_example_status.json",
        Evse,
        lambda loc: loc["evses"][0],
    )
    assert isinstance(parsed, Evse)
    assert parsed.status is Status.CHARGING
    assert parsed.uid == "3256"


def _evse_remove_patch(raw: Any) -> None:
    _, parsed = check_patch(
        "location_example.json",
        "location_patch_example_remove_evse.json",
        Evse,
        lambda loc: loc["evses"][1],
    )
    assert isinstance(parsed, Evse)
    assert parsed.status is Status.REMOVED


def _connector_tariff_patch(raw: Any) -> None:
    _, parsed = check_patch(
        "location_example.json",
        "location_patch_example_tariff.json",
        Connector,
        lambda loc: loc["evses"][0]["connectors"][0],
    )
    assert isinstance(parsed, Connector)
    assert parsed.tariff_ids == ["15"]


def _session_charging_period_patch(raw: Any) -> None:
    base = example("session_example_2_short_finished.json")
    merged, parsed = check_patch(
        "session_example_2_short_finished.json",
        "session_patch_example_charging_period.json",
        Session,
        append=("charging_periods",),
    )
    assert isinstance(parsed, Session)
    # A Session PATCH appends charging periods (a PUT would replace them).
    assert parsed.charging_periods is not None
    assert len(parsed.charging_periods) == len(base["charging_periods"]) + 1
    assert merged["charging_periods"][-1] == raw["charging_periods"][0]
    assert parsed.kwh == 15.0


def _session_total_cost_patch(raw: Any) -> None:
    _, parsed = check_patch(
        "session_example_1_simple_start.json", "session_patch_example_total_cost.json", Session
    )
    assert isinstance(parsed, Session)
    assert parsed.total_cost is not None
    assert (parsed.total_cost.excl_vat, parsed.total_cost.incl_vat) == (0.60, 0.66)


def _token_patch(raw: Any) -> None:
    _, parsed = check_patch("token_example_1_app_user.json", "token_patch_example.json", Token)
    assert isinstance(parsed, Token)
    assert parsed.valid is False


def _envelope(data_check: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(raw: Any) -> None:
        assert set(raw) <= {"data", "status_code", "status_message", "timestamp"}
        assert raw["status_code"] == StatusCode.SUCCESS
        assert isinstance(raw["status_code"], int)
        assert isinstance(raw["status_message"], str)
        assert parse_datetime(raw["timestamp"]).tzinfo is not None
        data_check(raw["data"])

    return check


def _fragment(key: str, model_cls: type[BaseModel]) -> Callable[[Any], None]:
    """Files that show one member of a Location (``{"energy_mix": …}``)."""

    def check(raw: Any) -> None:
        assert list(raw) == [key]
        assert_round_trip(model_cls, raw[key])

    return check


def _full(model_cls: type[BaseModel]) -> Callable[[Any], None]:
    def check(raw: Any) -> None:
        assert_round_trip(model_cls, raw)

    return check


def _list(model_cls: type[BaseModel]) -> Callable[[Any], None]:
    def check(raw: Any) -> None:
        assert isinstance(raw, list)
        assert raw
        assert_list_round_trip(model_cls, raw)

    return check


def _evse_put_example(raw: Any) -> None:
    """The official EVSE PUT example leaves out four required Connector fields (``power_type``,
    ``max_voltage``, ``max_amperage``, ``last_updated``), has a ``floor`` member that is not in the
    spec (``floor_level`` is) and a numeric ``physical_reference``. Required stays required; the
    repaired object round-trips, with the number kept as its text."""
    error = invalid(Evse, raw)
    for field in ("power_type", "max_voltage", "max_amperage"):
        assert f"connectors[0].{field}: field required" in str(error)
    assert "(and 1 more)" in str(error)  # the fourth: last_updated

    repaired = {k: v for k, v in raw.items() if k != "floor"}
    repaired["connectors"][0].update(
        power_type="AC_3_PHASE",
        max_voltage=230,
        max_amperage=16,
        last_updated=raw["last_updated"],
    )
    parsed = parse(Evse, repaired)
    assert parsed.physical_reference == "3"
    assert dump(parsed) == {**repaired, "physical_reference": "3"}


def _tariff_put_example(raw: Any) -> None:
    """The official Tariff PUT example has no ``last_updated``, which is required."""
    error = invalid(Tariff, raw)
    assert str(error) == "invalid Tariff: last_updated: field required"
    assert_round_trip(Tariff, {**raw, "last_updated": "2015-06-29T20:39:09Z"})


#: Exact file name or prefix → check. Longest match wins; every example must match one.
CHECKS: dict[str, Callable[[Any], None]] = {
    "cdr_example": _full(Cdr),
    "credentials_example": _full(Credentials),
    "location_energymix_example_": _fragment("energy_mix", EnergyMix),
    "location_example": _full(Location),
    "location_hours_": _full(Hours),
    "location_patch_example_location": _location_patch,
    "location_patch_example_remove_evse": _evse_remove_patch,
    "location_patch_example_status": _evse_status_patch,
    "location_patch_example_tariff": _connector_tariff_patch,
    "location_put_example_add_evse": _evse_put_example,
    "location_regularhours_example": _fragment("opening_times", Hours),
    "session_example_": _full(Session),
    "session_patch_example_charging_period": _session_charging_period_patch,
    "session_patch_example_total_cost": _session_total_cost_patch,
    "tariff_": _full(Tariff),
    "tariff_put_example": _tariff_put_example,
    "tariffrestriction_example_": _full(Tariff),
    "token_example_": _full(Token),
    "token_patch_example": _token_patch,
    "token_put_example": _full(Token),
    "transport_and_format_get_token_example": _envelope(_full(Token)),
    "transport_and_format_get_token_list_example": _envelope(_list(Token)),
    "transport_and_format_version_details_example": _envelope(_full(VersionDetails)),
    "transport_and_format_version_info_example": _envelope(_list(Version)),
    "type_displaytext_example": _full(DisplayText),
    "version_details_example": _full(VersionDetails),
    "versions_info_example": _list(Version),
}


def check_for(name: str) -> Callable[[Any], None]:
    matches = [prefix for prefix in CHECKS if name.startswith(prefix)]
    assert matches, f"no check for example {name}"
    return CHECKS[max(matches, key=len)]


def test_examples_present() -> None:
    assert len(example_names()) == EXAMPLE_COUNT, f"expected the examples in {examples_dir()}"


def test_examples_are_the_official_files() -> None:
    """CC BY-ND: the copies in the repository stay byte for byte what upstream published."""
    sums = (EXAMPLES_ROOT / "SHA256SUMS").read_text(encoding="utf-8").split("\n")
    expected = dict(reversed(line.split("  ", 1)) for line in sums if line)
    assert len(expected) == EXAMPLE_COUNT
    for name, digest in expected.items():
        data = (examples_dir() / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, f"{name} differs from upstream"


@pytest.mark.parametrize("name", example_names())
def test_example(name: str) -> None:
    check_for(name)(example(name))


def test_example_values() -> None:
    """Spot checks that parsing gives typed values, not just a faithful echo."""
    location = parse(Location, example("location_example.json"))
    assert location.parking_type is ParkingType.ON_STREET
    assert location.coordinates.latitude == "51.047599"
    assert location.evses is not None
    connector = location.evses[0].connectors[0]
    assert connector.standard is ConnectorType.IEC_62196_T2
    assert connector.max_voltage == 220
    assert isinstance(connector.max_voltage, int)
    assert location.evses[0].capabilities == [Capability.RESERVABLE]
    assert location.last_updated == datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)

    cdr = parse(Cdr, example("cdr_example.json"))
    assert (cdr.total_cost.excl_vat, cdr.total_cost.incl_vat) == (4.0, 4.4)
    assert cdr.cdr_token.type is TokenType.RFID

    details = parse(VersionDetails, example("version_details_example2.json"))
    assert details.version is VersionNumber.V2_2
    assert [e.identifier for e in details.endpoints][:3] == [
        ModuleID.CREDENTIALS,
        ModuleID.LOCATIONS,
        ModuleID.TOKENS,
    ]


# ----------------------------------------------------------------------------- malformed input


def test_missing_required_field() -> None:
    raw = example("location_example.json")
    del raw["coordinates"]
    error = invalid(Location, raw)
    assert str(error) == "invalid Location: coordinates: field required"


def test_null_required_field() -> None:
    raw = example("location_example.json")
    raw["evses"][1]["connectors"][0]["standard"] = None
    error = invalid(Location, raw)
    assert "evses[1].connectors[0].standard" in str(error)


def test_wrong_type_names_the_path_not_the_value() -> None:
    raw = example("location_example.json")
    raw["evses"][0]["connectors"][1]["max_voltage"] = "lots-of-volts"
    error = invalid(Location, raw)
    assert "evses[0].connectors[1].max_voltage: expected a number" in str(error)
    assert "lots-of-volts" not in str(error)


def test_bad_datetime() -> None:
    raw = example("session_example_2_short_finished.json")
    raw["charging_periods"][2]["start_date_time"] = "last tuesday"
    error = invalid(Session, raw)
    assert "charging_periods[2].start_date_time: invalid DateTime" in str(error)
    assert "tuesday" not in str(error)


@pytest.mark.parametrize("data", [None, [], "LOC1", 42, [{"id": "LOC1"}]])
def test_not_an_object(data: Any) -> None:
    error = invalid(Location, data)
    assert str(error) == "invalid Location: expected a JSON object"


def test_parse_list_names_the_index() -> None:
    raw = example("versions_info_example.json")
    del raw[1]["url"]
    with pytest.raises(OcpiError) as caught:
        parse_list(Version, raw)
    assert caught.value.status_code == StatusCode.INVALID_PARAMETERS
    assert str(caught.value) == "invalid Version list: [1] url: field required"
    with pytest.raises(OcpiError, match="expected a JSON array"):
        parse_list(Version, {"version": "2.2.1"})


def test_evse_needs_a_connector() -> None:
    raw = example("location_example.json")
    raw["evses"][0]["connectors"] = []
    assert "evses[0].connectors" in str(invalid(Location, raw))


@pytest.mark.parametrize(
    ("coordinates", "problem"),
    [
        ({"latitude": "91.000000", "longitude": "3.729944"}, "latitude out of range"),
        ({"latitude": "51.047599", "longitude": "east"}, "longitude is not a decimal number"),
        ({"latitude": True, "longitude": "3.729944"}, "expected a latitude string"),
        ({"latitude": "51.047599", "longitude": "NaN"}, "longitude out of range"),
    ],
)
def test_bad_coordinates(coordinates: dict[str, Any], problem: str) -> None:
    raw = {**example("location_example.json"), "coordinates": coordinates}
    assert problem in str(invalid(Location, raw))


def test_id_length_limit() -> None:
    raw = {**example("location_example.json"), "id": "L" * 37}
    assert "id: at most 36 characters" in str(invalid(Location, raw))
    assert parse(Location, {**raw, "id": "L" * 36}).id == "L" * 36


def test_error_message_is_bounded() -> None:
    raw = example("location_example.json")
    for key in ("address", "city", "country", "time_zone", "coordinates"):
        del raw[key]
    message = str(invalid(Location, raw))
    assert message.count("field required") == 3
    assert message.endswith("(and 2 more)")


def test_commands() -> None:
    token = example("token_example_1_app_user.json")
    start = {
        "response_url": "https://emsp.example/ocpi/emsp/2.2.1/commands/START_SESSION/42",
        "token": token,
        "location_id": "LOC1",
        "evse_uid": "3256",
    }
    assert_round_trip(StartSession, start)
    assert "location_id: field required" in str(
        invalid(StartSession, {k: v for k, v in start.items() if k != "location_id"})
    )
    assert_round_trip(StopSession, {"response_url": "https://e/x", "session_id": "101"})
    response = parse(CommandResponse, {"result": "ACCEPTED", "timeout": 30})
    assert response.result is enums.CommandResponseType.ACCEPTED
    assert dump(response) == {"result": "ACCEPTED", "timeout": 30}
    result = {"result": "EVSE_OCCUPIED", "message": [{"language": "en", "text": "busy"}]}
    assert parse(CommandResult, result).result is enums.CommandResultType.EVSE_OCCUPIED
    assert_round_trip(CommandResult, result)


# ----------------------------------------------------------------------------- lenient input


@pytest.fixture
def fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enums, "_SEEN_UNKNOWN", set())


@pytest.mark.usefixtures("fresh_memo")
def test_unknown_enum_value_kept_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    raw = example("location_example.json")
    raw["facilities"] = ["SPACEPORT", "CAFE", "SPACEPORT"]
    raw["evses"][0]["status"] = "ON_FIRE"
    with caplog.at_level(logging.WARNING, logger="chargemesh.protocols.ocpi.enums"):
        first = parse(Location, raw)
        second = parse(Location, raw)
    assert first.facilities == ["SPACEPORT", Facility.CAFE, "SPACEPORT"]
    assert type(first.facilities[0]) is str
    assert first.evses is not None
    assert first.evses[0].status == "ON_FIRE"
    assert dump(second) == raw
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert any("Facility" in w and "SPACEPORT" in w for w in warnings)
    assert any("Status" in w and "ON_FIRE" in w for w in warnings)


@pytest.mark.usefixtures("fresh_memo")
def test_enum_case_insensitive(caplog: pytest.LogCaptureFixture) -> None:
    raw = example("location_example.json")
    raw["parking_type"] = "on_street"
    raw["evses"][0]["connectors"][0]["standard"] = "iec_62196_t2"
    raw["evses"][1]["connectors"][0]["standard"] = "IEC_60309_2_single_16"
    with caplog.at_level(logging.WARNING):
        parsed = parse(Location, raw)
    assert parsed.parking_type is ParkingType.ON_STREET
    assert parsed.evses is not None
    assert parsed.evses[0].connectors[0].standard is ConnectorType.IEC_62196_T2
    assert parsed.evses[1].connectors[0].standard is ConnectorType.IEC_60309_2_SINGLE_16
    out = dump(parsed)
    assert out["parking_type"] == "ON_STREET"  # strict on output
    assert out["evses"][1]["connectors"][0]["standard"] == "IEC_60309_2_single_16"
    assert not caplog.records


def test_null_optional_fields() -> None:
    raw = example("location_example.json")
    nulls = {"name": None, "postal_code": None, "opening_times": None, "facilities": None}
    raw.update(nulls)
    raw["evses"][0].update(evse_id=None, capabilities=None, floor_level=None)
    raw["evses"][0]["connectors"][0].update(max_electric_power=None, tariff_ids=None)
    parsed = parse(Location, raw)
    assert parsed.name is None
    assert parsed.evses is not None
    assert parsed.evses[0].evse_id is None
    out = dump(parsed)
    for key in nulls:
        assert key not in out
    assert "evse_id" not in out["evses"][0]
    assert "tariff_ids" not in out["evses"][0]["connectors"][0]
    assert "null" not in json.dumps(out)


def test_unknown_fields_ignored() -> None:
    raw = example("location_example.json")
    raw["help_phone"] = "+32 9 000 00 00"  # 2.3.0
    raw["evses"][0]["parking"] = [{"parking_id": "P1"}]  # 2.3.0
    raw["evses"][0]["connectors"][0]["capabilities"] = ["ISO_15118_2_PLUG_AND_CHARGE"]
    assert dump(parse(Location, raw)) == example("location_example.json")


def test_numbers_where_strings_belong() -> None:
    raw = example("location_example.json")
    raw["coordinates"] = {"latitude": 51.047599, "longitude": 3}
    raw["evses"][0]["physical_reference"] = 1
    raw["evses"][0]["connectors"][0]["id"] = 1
    parsed = parse(Location, raw)
    assert parsed.coordinates.latitude == "51.047599"
    assert parsed.coordinates.longitude == "3"
    assert parsed.evses is not None
    assert parsed.evses[0].physical_reference == "1"
    assert parsed.evses[0].connectors[0].id == "1"
    assert dump(parsed)["coordinates"] == {"latitude": "51.047599", "longitude": "3"}


def test_numbers_keep_their_kind() -> None:
    raw = example("cdr_example.json")
    raw["total_energy"] = 15
    raw["charging_periods"][0]["dimensions"][0]["volume"] = "1.973"  # a string is tolerated
    out = dump(parse(Cdr, raw))
    assert out["total_energy"] == 15
    assert isinstance(out["total_energy"], int)
    assert out["total_time"] == 1.973
    assert isinstance(out["total_time"], float)
    assert out["charging_periods"][0]["dimensions"][0]["volume"] == 1.973
    raw["total_energy"] = True
    assert "total_energy: expected a number" in str(invalid(Cdr, raw))


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("2015-06-29T20:39:09Z", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09", "2015-06-29T20:39:09Z"),  # no zone: UTC
        ("2015-06-29T22:39:09+02:00", "2015-06-29T20:39:09Z"),
        ("2015-06-29T20:39:09.123456Z", "2015-06-29T20:39:09.123Z"),
        ("2015-06-29t20:39:09z", "2015-06-29T20:39:09Z"),
    ],
)
def test_datetimes_out_in_utc(sent: str, expected: str) -> None:
    raw = {**example("token_example_1_app_user.json"), "last_updated": sent}
    assert dump(parse(Token, raw))["last_updated"] == expected


def test_2_1_1_spellings() -> None:
    raw = example("location_example.json")
    del raw["parking_type"]
    raw["type"] = "PARKING_GARAGE"
    connector = raw["evses"][0]["connectors"][0]
    del connector["tariff_ids"]
    connector["tariff_id"] = "11"
    parsed = parse(Location, raw)
    assert parsed.parking_type is ParkingType.PARKING_GARAGE
    assert parsed.evses is not None
    assert parsed.evses[0].connectors[0].tariff_ids == ["11"]

    token = example("token_example_1_app_user.json")
    token["auth_id"] = token.pop("contract_id")
    assert parse(Token, token).contract_id == "DE8ACC12E46L89"

    hours = {"regular_hours": [{"weekday": 1, "period_begin": "08:00", "period_end": "18:00"}]}
    assert parse(Hours, hours).twentyfourseven is False
    assert "twentyfourseven: field required" in str(invalid(Hours, {}))


# ----------------------------------------------------------------------------- ci, merge_patch


@pytest.mark.parametrize(("value", "expected"), [("loc1", "LOC1"), (" Bec ", "BEC"), ("", "")])
def test_ci(value: str, expected: str) -> None:
    assert ci(value) == expected


def test_merge_patch_is_a_new_dict() -> None:
    stored = example("location_example.json")
    before = json.dumps(stored)
    merged = merge_patch(stored, {"name": "New", "last_updated": "2020-01-01T00:00:00Z"})
    assert json.dumps(stored) == before
    assert merged["name"] == "New"
    merged["evses"][0]["status"] = "CHARGING"  # no structure shared with stored
    assert stored["evses"][0]["status"] == "AVAILABLE"


def test_merge_patch_replaces_lists_whole() -> None:
    stored = example("location_example.json")
    new_evse = example("location_example.json")["evses"][1]
    merged = merge_patch(stored, {"evses": [new_evse], "last_updated": "2020-01-01T00:00:00Z"})
    assert [e["uid"] for e in merged["evses"]] == ["3257"]

    evse = stored["evses"][0]
    connector = {**evse["connectors"][0], "id": "9"}
    merged_evse = merge_patch(evse, {"connectors": [connector]})
    assert [c["id"] for c in merged_evse["connectors"]] == ["9"]


def test_merge_patch_null_and_append() -> None:
    stored = example("session_example_2_short_finished.json")
    patch = {"end_date_time": None, "charging_periods": [{"x": 1}]}
    replaced = merge_patch(stored, patch)
    assert "end_date_time" not in replaced
    assert replaced["charging_periods"] == [{"x": 1}]
    appended = merge_patch(stored, patch, append=["charging_periods"])
    assert len(appended["charging_periods"]) == 4
    # Appending to a member the stored object does not have yet simply sets it.
    assert merge_patch({}, patch, append=["charging_periods"]) == {"charging_periods": [{"x": 1}]}
    # Removing a required member is caught when the merged object is parsed.
    patched = merge_patch(stored, {"kwh": None})
    assert "kwh: field required" in str(invalid(Session, patched))
