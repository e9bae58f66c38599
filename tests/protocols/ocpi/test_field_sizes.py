"""The OCPI 2.2.1 sizes on input: every string its spec length, every list a finite bound, numbers
and coordinates sane; lenient about what is not a size (unknown fields, fewer decimals).

Each case takes an official example, sets one field to its spec length (accepted) and to one more
(refused with OCPI 2001 naming the field's path and the bound).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel

from chargemesh.protocols.ocpi.models import (
    MAX_ENUM_LENGTH,
    MAX_EVSES,
    MAX_FEW,
    MAX_MANY,
    Cdr,
    Credentials,
    Location,
    Session,
    Tariff,
    Token,
    parse,
    parse_list,
)
from chargemesh.protocols.ocpi.transport import OcpiError, StatusCode
from tests.protocols.ocpi import example

Path = tuple[str | int, ...]


def with_value(raw: Any, path: Path, value: Any) -> Any:
    out = copy.deepcopy(raw)
    here = out
    for step in path[:-1]:
        here = here[step]
    here[path[-1]] = value
    return out


def refusal(model_cls: type[BaseModel], raw: Any) -> str:
    with pytest.raises(OcpiError) as caught:
        parse(model_cls, raw)
    assert caught.value.status_code == StatusCode.INVALID_PARAMETERS
    assert caught.value.http_status == 400
    return str(caught.value)


def dotted(path: Path) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out


LOCATION = "location_example.json"
#: location_example.json with the optional members the examples leave out.
FULL_LOCATION = "location_example.json, full"
TARIFF = "tariff_2_alt_text.json"


def source(name: str) -> Any:
    raw = example(LOCATION if name == FULL_LOCATION else name)
    if name == FULL_LOCATION:
        raw["directions"] = [{"language": "en", "text": "Second floor, left of the lifts"}]
        raw["images"] = [
            {"url": "https://cpo.example/i/1.jpg", "category": "ENTRANCE", "type": "jpeg"}
        ]
        raw["facilities"] = ["CAFE"]
    return raw


#: (model, example, field path, spec length)
STRINGS: list[tuple[type[BaseModel], str, Path, int]] = [
    (Location, LOCATION, ("country_code",), 2),
    (Location, LOCATION, ("party_id",), 3),
    (Location, LOCATION, ("id",), 36),
    (Location, LOCATION, ("name",), 255),
    (Location, LOCATION, ("address",), 45),
    (Location, LOCATION, ("city",), 45),
    (Location, LOCATION, ("postal_code",), 10),
    (Location, LOCATION, ("state",), 20),
    (Location, LOCATION, ("country",), 3),
    (Location, LOCATION, ("time_zone",), 255),
    (Location, LOCATION, ("operator", "name"), 100),
    (Location, LOCATION, ("operator", "website"), 255),
    (Location, LOCATION, ("evses", 0, "uid"), 36),
    (Location, LOCATION, ("evses", 0, "evse_id"), 48),
    (Location, LOCATION, ("evses", 0, "floor_level"), 4),
    (Location, LOCATION, ("evses", 0, "physical_reference"), 16),
    (Location, LOCATION, ("evses", 0, "connectors", 0, "id"), 36),
    (Location, LOCATION, ("evses", 0, "connectors", 0, "tariff_ids", 0), 36),
    (Location, LOCATION, ("evses", 0, "connectors", 0, "terms_and_conditions"), 255),
    (Location, FULL_LOCATION, ("directions", 0, "text"), 512),
    (Location, FULL_LOCATION, ("directions", 0, "language"), 2),
    (Location, FULL_LOCATION, ("images", 0, "url"), 255),
    (Location, FULL_LOCATION, ("images", 0, "type"), 4),
    (Token, "token_example_2_full_rfid.json", ("uid",), 36),
    (Token, "token_example_2_full_rfid.json", ("contract_id",), 36),
    (Token, "token_example_2_full_rfid.json", ("visual_number",), 64),
    (Token, "token_example_2_full_rfid.json", ("issuer",), 64),
    (Token, "token_example_2_full_rfid.json", ("group_id",), 36),
    (Token, "token_example_2_full_rfid.json", ("language",), 2),
    (Session, "session_example_1_simple_start.json", ("id",), 36),
    (Session, "session_example_1_simple_start.json", ("location_id",), 36),
    (Session, "session_example_1_simple_start.json", ("cdr_token", "contract_id"), 36),
    (Session, "session_example_1_simple_start.json", ("currency",), 3),
    (Cdr, "cdr_example.json", ("id",), 39),
    (Cdr, "cdr_example.json", ("cdr_location", "address"), 45),
    (Cdr, "cdr_example.json", ("cdr_location", "evse_id"), 48),
    (Tariff, TARIFF, ("id",), 36),
    (Tariff, TARIFF, ("tariff_alt_text", 0, "text"), 512),
    (Credentials, "credentials_example.json", ("token",), 64),
    (Credentials, "credentials_example.json", ("url",), 255),
    (Credentials, "credentials_example.json", ("roles", 0, "party_id"), 3),
    (Credentials, "credentials_example.json", ("roles", 0, "country_code"), 2),
    (Credentials, "credentials_example.json", ("roles", 0, "business_details", "name"), 100),
]


@pytest.mark.parametrize(
    ("model_cls", "name", "path", "length"),
    STRINGS,
    ids=[f"{m.__name__}.{dotted(p)}" for m, _, p, _ in STRINGS],
)
def test_a_string_is_held_to_its_spec_length(
    model_cls: type[BaseModel], name: str, path: Path, length: int
) -> None:
    raw = source(name)
    parse(model_cls, with_value(raw, path, "A" * length))
    message = refusal(model_cls, with_value(raw, path, "A" * (length + 1)))
    assert f"{dotted(path)}: at most {length} characters" in message
    assert "AAAA" not in message


def test_a_5_mb_name_is_refused_with_a_short_message() -> None:
    message = refusal(Location, with_value(example(LOCATION), ("name",), "x" * 5_000_000))
    assert message == "invalid Location: name: at most 255 characters"


def evses(count: int) -> list[dict[str, Any]]:
    evse = example(LOCATION)["evses"][0]
    return [evse | {"uid": f"E{n}"} for n in range(count)]


#: (model, example, list path, its bound)
LISTS: list[tuple[type[BaseModel], str, Path, int]] = [
    (Location, LOCATION, ("evses",), MAX_EVSES),
    (Location, LOCATION, ("evses", 0, "connectors"), MAX_FEW),
    (Location, FULL_LOCATION, ("facilities",), MAX_FEW),
    (Location, LOCATION, ("evses", 0, "capabilities"), MAX_FEW),
    (Location, LOCATION, ("evses", 0, "connectors", 0, "tariff_ids"), MAX_FEW),
    (Session, "session_example_2_short_finished.json", ("charging_periods",), MAX_MANY),
    (Tariff, TARIFF, ("elements",), MAX_MANY),
]


@pytest.mark.parametrize(
    ("model_cls", "name", "path", "bound"),
    LISTS,
    ids=[f"{m.__name__}.{dotted(p)}" for m, _, p, _ in LISTS],
)
def test_a_list_is_bounded(model_cls: type[BaseModel], name: str, path: Path, bound: int) -> None:
    raw = source(name)
    here = raw
    for step in path:
        here = here[step]
    assert isinstance(here, list)
    first = here[0]
    if path == ("evses",):
        parse(model_cls, with_value(raw, path, evses(bound)))
        too_many = evses(bound + 1)
    else:
        parse(model_cls, with_value(raw, path, [first] * bound))
        too_many = [first] * (bound + 1)
    message = refusal(model_cls, with_value(raw, path, too_many))
    assert f"{dotted(path)}: at most {bound} items" in message


def test_an_unknown_enum_value_is_kept_up_to_its_bound() -> None:
    raw = example(LOCATION)
    kept = parse(Location, with_value(raw, ("evses", 0, "status"), "S" * MAX_ENUM_LENGTH))
    assert kept.evses is not None
    assert kept.evses[0].status == "S" * MAX_ENUM_LENGTH
    message = refusal(Location, with_value(raw, ("evses", 0, "status"), "S" * 100_000))
    assert f"evses[0].status: at most {MAX_ENUM_LENGTH} characters" in message


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("evses", 0, "connectors", 0, "max_voltage"), "1" + "0" * 40, "expected a number"),
        (("evses", 0, "connectors", 0, "max_amperage"), "1." + "0" * 1000, "expected a number"),
        (("last_updated",), "2015-06-29T20:39:09." + "0" * 100 + "Z", "invalid DateTime"),
    ],
)
def test_numbers_and_datetimes_sent_as_huge_text_are_refused(
    path: Path, value: str, problem: str
) -> None:
    message = refusal(Location, with_value(example(LOCATION), path, value))
    assert f"{dotted(path)}: {problem}" in message


LENIENT_COORDINATES = [
    ("51.047599", "3.729944"),  # the spec's 6 decimals
    ("51.0", "3.7"),  # 2.1.1 peers and real CPOs send fewer
    ("51", "-3"),
    ("-89.9999999999", "179.123456789012"),
    (" 51.047599 ", "+3.729944"),
]


@pytest.mark.parametrize(
    ("coordinates", "problem"),
    [
        ({"latitude": "5e1", "longitude": "3.7"}, "latitude is not a decimal number"),
        ({"latitude": "51.0", "longitude": "1_0"}, "longitude is not a decimal number"),
        ({"latitude": "51." + "0" * 5_000_000, "longitude": "3.7"}, "latitude is not a decimal"),
        ({"latitude": "51.0", "longitude": "0" * 40 + "3.7"}, "longitude is not a decimal"),
    ],
)
def test_coordinates_are_lenient_on_digits_but_only_plain_short_decimals(
    coordinates: dict[str, Any], problem: str
) -> None:
    for latitude, longitude in LENIENT_COORDINATES:
        lenient = {"latitude": latitude, "longitude": longitude}
        parsed = parse(Location, with_value(example(LOCATION), ("coordinates",), lenient))
        assert parsed.coordinates.latitude == latitude.strip()
    raw = with_value(example(LOCATION), ("coordinates",), coordinates)
    assert problem in refusal(Location, raw)


def test_a_pulled_page_is_held_to_the_same_sizes() -> None:
    """What a partner answers to our pulls parses with the same models: its 5 MB name is named
    by its place in the page, never stored."""
    good = example(LOCATION)
    bad = with_value(good, ("name",), "x" * 5_000_000)
    with pytest.raises(OcpiError) as caught:
        parse_list(Location, [good, bad])
    assert str(caught.value) == "invalid Location list: [1] name: at most 255 characters"
