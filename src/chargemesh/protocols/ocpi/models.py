"""OCPI 2.2.1 wire models (Pydantic v2): lenient on input, strict on output.

Input: unknown fields are ignored, ``null`` is accepted for every optional field, enum fields are
OpenEnums (an unknown value is kept as ``str``, see :func:`.enums.open_value`), numbers sent where
a string belongs (``"physical_reference": 3``, a latitude as a JSON number) are kept as their
text, DateTimes without a zone are UTC. A few cheap 2.1.1 spellings are lifted to 2.2.1
(Connector ``tariff_id``, Location ``type``, Token ``auth_id``); 2.3.0 additions are ignored.
Required fields stay required: :func:`parse` turns any failure into an ``OcpiError`` 2001.

Output: :func:`dump` gives spec JSON: no ``null`` members, DateTimes in UTC with ``Z``, numbers
as JSON numbers (an int stays an int), enum members as their strings.

Field names are the OCPI JSON names; the spec's types are noted where Python's are looser.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
    model_validator,
)

from chargemesh.protocols.ocpi.enums import (
    AllowedType,
    AuthMethod,
    Capability,
    CdrDimensionType,
    CommandResponseType,
    CommandResultType,
    ConnectorFormat,
    ConnectorType,
    DayOfWeek,
    EnergySourceCategory,
    EnvironmentalImpactCategory,
    Facility,
    ImageCategory,
    InterfaceRole,
    ModuleID,
    ParkingRestriction,
    ParkingType,
    PowerType,
    ProfileType,
    ReservationRestrictionType,
    Role,
    SessionStatus,
    Status,
    TariffDimensionType,
    TariffType,
    TokenType,
    VersionNumber,
    WhitelistType,
    open_value,
)
from chargemesh.protocols.ocpi.transport import (
    OcpiError,
    StatusCode,
    format_datetime,
    parse_datetime,
)

__all__ = [
    "AdditionalGeoLocation",
    "AuthorizationInfo",
    "BusinessDetails",
    "CancelReservation",
    "Cdr",
    "CdrDimension",
    "CdrLocation",
    "CdrToken",
    "ChargingPeriod",
    "CommandResponse",
    "CommandResult",
    "Connector",
    "Credentials",
    "CredentialsRole",
    "DisplayText",
    "EnergyContract",
    "EnergyMix",
    "EnergySource",
    "EnvironmentalImpact",
    "Evse",
    "ExceptionalPeriod",
    "GeoLocation",
    "Hours",
    "Image",
    "Location",
    "LocationReferences",
    "OcpiModel",
    "Price",
    "PriceComponent",
    "PublishTokenType",
    "RegularHours",
    "ReserveNow",
    "Session",
    "SignedData",
    "SignedValue",
    "StartSession",
    "StatusSchedule",
    "StopSession",
    "Tariff",
    "TariffElement",
    "TariffRestrictions",
    "Token",
    "UnlockConnector",
    "Version",
    "VersionDetails",
    "ci",
    "dump",
    "merge_patch",
    "parse",
    "parse_list",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

#: At most this many validation problems are named in an error message.
MAX_REPORTED_ERRORS: Final = 3


def ci(value: str) -> str:
    """The canonical form of a CiString, for comparisons and keys: stripped, upper-case."""
    return value.strip().upper()


# ----------------------------------------------------------------------------- field types


def _open(enum_cls: type[E]) -> PlainValidator:
    def validate(value: object) -> E | str:
        if isinstance(value, enum_cls):
            return value
        if isinstance(value, str):
            return open_value(enum_cls, value)
        raise ValueError(f"expected a {enum_cls.__name__} string")

    return PlainValidator(validate, json_schema_input_type=str)


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            raise ValueError("invalid DateTime, expected e.g. 2015-06-29T20:39:09Z") from None
    raise ValueError("expected a DateTime string")


def _number(value: object) -> int | float:
    """A JSON number, kept as int or float as sent; numeric strings are tolerated."""
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            number = float(text)
        except ValueError:
            raise ValueError("expected a number") from None
        if math.isfinite(number):
            return number
    raise ValueError("expected a number")


def _coordinate(limit: float, name: str) -> Callable[[object], str]:
    """Latitude/longitude: a decimal-degrees string on the wire; a JSON number is accepted and
    kept as its text. Any precision is accepted (the spec asks for 5–7 decimals)."""

    def validate(value: object) -> str:
        if isinstance(value, bool):
            raise ValueError(f"expected a {name} string")
        if isinstance(value, int | float):
            text = repr(value) if isinstance(value, float) else str(value)
        elif isinstance(value, str):
            text = value.strip()
        else:
            raise ValueError(f"expected a {name} string")
        try:
            degrees = float(text)
        except ValueError:
            raise ValueError(f"{name} is not a decimal number") from None
        if not (math.isfinite(degrees) and -limit <= degrees <= limit):
            raise ValueError(f"{name} out of range")
        return text

    return validate


def _lenient_int(value: object) -> int:
    """An integer; a JSON number with a fraction (``230.0``, ``229.9``) is rounded."""
    number = _number(value)
    return number if isinstance(number, int) else round(number)


DateTime = Annotated[
    datetime,
    PlainValidator(_datetime, json_schema_input_type=str),
    PlainSerializer(format_datetime, return_type=str, when_used="json"),
]
Number = Annotated[int | float, PlainValidator(_number, json_schema_input_type=float)]
Int = Annotated[int, PlainValidator(_lenient_int, json_schema_input_type=int)]
Latitude = Annotated[str, PlainValidator(_coordinate(90.0, "latitude"), json_schema_input_type=str)]
Longitude = Annotated[
    str, PlainValidator(_coordinate(180.0, "longitude"), json_schema_input_type=str)
]
#: A list the spec marks ``+`` (one or more).
NonEmpty = Annotated[list[T], Field(min_length=1)]
#: CiString(36): the ids of Locations, EVSEs (uid), Connectors, Sessions, Tariffs and Tokens.
Id36 = Annotated[str, StringConstraints(min_length=1, max_length=36)]

OAllowedType = Annotated[AllowedType | str, _open(AllowedType)]
OAuthMethod = Annotated[AuthMethod | str, _open(AuthMethod)]
OCapability = Annotated[Capability | str, _open(Capability)]
OCdrDimensionType = Annotated[CdrDimensionType | str, _open(CdrDimensionType)]
OCommandResponseType = Annotated[CommandResponseType | str, _open(CommandResponseType)]
OCommandResultType = Annotated[CommandResultType | str, _open(CommandResultType)]
OConnectorFormat = Annotated[ConnectorFormat | str, _open(ConnectorFormat)]
OConnectorType = Annotated[ConnectorType | str, _open(ConnectorType)]
ODayOfWeek = Annotated[DayOfWeek | str, _open(DayOfWeek)]
OEnergySourceCategory = Annotated[EnergySourceCategory | str, _open(EnergySourceCategory)]
OEnvironmentalImpactCategory = Annotated[
    EnvironmentalImpactCategory | str, _open(EnvironmentalImpactCategory)
]
OFacility = Annotated[Facility | str, _open(Facility)]
OImageCategory = Annotated[ImageCategory | str, _open(ImageCategory)]
OInterfaceRole = Annotated[InterfaceRole | str, _open(InterfaceRole)]
OModuleID = Annotated[ModuleID | str, _open(ModuleID)]
OParkingRestriction = Annotated[ParkingRestriction | str, _open(ParkingRestriction)]
OParkingType = Annotated[ParkingType | str, _open(ParkingType)]
OPowerType = Annotated[PowerType | str, _open(PowerType)]
OProfileType = Annotated[ProfileType | str, _open(ProfileType)]
OReservationRestrictionType = Annotated[
    ReservationRestrictionType | str, _open(ReservationRestrictionType)
]
ORole = Annotated[Role | str, _open(Role)]
OSessionStatus = Annotated[SessionStatus | str, _open(SessionStatus)]
OStatus = Annotated[Status | str, _open(Status)]
OTariffDimensionType = Annotated[TariffDimensionType | str, _open(TariffDimensionType)]
OTariffType = Annotated[TariffType | str, _open(TariffType)]
OTokenType = Annotated[TokenType | str, _open(TokenType)]
OVersionNumber = Annotated[VersionNumber | str, _open(VersionNumber)]
OWhitelistType = Annotated[WhitelistType | str, _open(WhitelistType)]


class OcpiModel(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        coerce_numbers_to_str=True,
        allow_inf_nan=False,
    )


# ----------------------------------------------------------------------------- versions


class Version(OcpiModel):
    version: OVersionNumber
    url: str


class Endpoint(OcpiModel):
    identifier: OModuleID
    role: OInterfaceRole
    url: str


class VersionDetails(OcpiModel):
    version: OVersionNumber
    endpoints: NonEmpty[Endpoint]


class Image(OcpiModel):
    url: str
    thumbnail: str | None = None
    category: OImageCategory
    type: str  # string(4), e.g. "jpeg"
    width: Int | None = None
    height: Int | None = None


class BusinessDetails(OcpiModel):
    name: str
    website: str | None = None
    logo: Image | None = None


class CredentialsRole(OcpiModel):
    role: ORole
    business_details: BusinessDetails
    party_id: str  # CiString(3)
    country_code: str  # CiString(2)


class Credentials(OcpiModel):
    token: str  # string(64)
    url: str
    roles: NonEmpty[CredentialsRole]
    hub_party_id: str | None = None  # 2.3.0


# ----------------------------------------------------------------------------- shared types


class DisplayText(OcpiModel):
    language: str  # string(2)
    text: str  # string(512)


class GeoLocation(OcpiModel):
    latitude: Latitude
    longitude: Longitude


class AdditionalGeoLocation(OcpiModel):
    latitude: Latitude
    longitude: Longitude
    name: DisplayText | None = None


class Price(OcpiModel):
    excl_vat: Number
    incl_vat: Number | None = None


class EnergySource(OcpiModel):
    source: OEnergySourceCategory
    percentage: Number


class EnvironmentalImpact(OcpiModel):
    category: OEnvironmentalImpactCategory
    amount: Number


class EnergyMix(OcpiModel):
    is_green_energy: bool
    energy_sources: list[EnergySource] | None = None
    environ_impact: list[EnvironmentalImpact] | None = None
    supplier_name: str | None = None
    energy_product_name: str | None = None


# ----------------------------------------------------------------------------- locations


class RegularHours(OcpiModel):
    weekday: Int  # 1 = Monday … 7 = Sunday
    period_begin: str  # "HH:MM"
    period_end: str


class ExceptionalPeriod(OcpiModel):
    period_begin: DateTime
    period_end: DateTime


class Hours(OcpiModel):
    twentyfourseven: bool
    regular_hours: list[RegularHours] | None = None
    exceptional_openings: list[ExceptionalPeriod] | None = None
    exceptional_closings: list[ExceptionalPeriod] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_2_1_1(cls, data: Any) -> Any:
        # 2.1.1: either regular_hours or twentyfourseven=true, the flag may be left out.
        if (
            isinstance(data, dict)
            and data.get("twentyfourseven") is None
            and data.get("regular_hours")
        ):
            return {**data, "twentyfourseven": False}
        return data


class StatusSchedule(OcpiModel):
    period_begin: DateTime
    period_end: DateTime | None = None
    status: OStatus


class Connector(OcpiModel):
    id: Id36
    standard: OConnectorType
    format: OConnectorFormat
    power_type: OPowerType
    max_voltage: Int
    max_amperage: Int
    max_electric_power: Int | None = None  # W
    tariff_ids: list[str] | None = None
    terms_and_conditions: str | None = None
    last_updated: DateTime

    @model_validator(mode="before")
    @classmethod
    def _from_2_1_1(cls, data: Any) -> Any:
        # 2.1.1 had a single tariff_id.
        if isinstance(data, dict) and data.get("tariff_ids") is None and data.get("tariff_id"):
            return {**data, "tariff_ids": [data["tariff_id"]]}
        return data


class Evse(OcpiModel):
    uid: Id36
    evse_id: Annotated[str, StringConstraints(max_length=48)] | None = None
    status: OStatus
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[OCapability] | None = None
    connectors: NonEmpty[Connector]
    floor_level: str | None = None
    coordinates: GeoLocation | None = None
    physical_reference: str | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[OParkingRestriction] | None = None
    images: list[Image] | None = None
    last_updated: DateTime


class PublishTokenType(OcpiModel):
    uid: str | None = None
    type: OTokenType | None = None
    visual_number: str | None = None
    issuer: str | None = None
    group_id: str | None = None


#: 2.1.1 LocationType values that have a 2.2.1 ParkingType of the same name.
_LOCATION_TYPES_2_1_1: Final = frozenset(
    {"ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT"}
)


class Location(OcpiModel):
    country_code: str  # CiString(2)
    party_id: str  # CiString(3)
    id: Id36
    publish: bool
    publish_allowed_to: list[PublishTokenType] | None = None
    name: str | None = None
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str  # ISO 3166-1 alpha-3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    parking_type: OParkingType | None = None
    evses: list[Evse] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[OFacility] | None = None
    time_zone: str
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime

    @model_validator(mode="before")
    @classmethod
    def _from_2_1_1(cls, data: Any) -> Any:
        if (
            isinstance(data, dict)
            and data.get("parking_type") is None
            and isinstance(data.get("type"), str)
            and data["type"].upper() in _LOCATION_TYPES_2_1_1
        ):
            return {**data, "parking_type": data["type"].upper()}
        return data


# ----------------------------------------------------------------------------- tariffs


class PriceComponent(OcpiModel):
    type: OTariffDimensionType
    price: Number  # excl. VAT
    vat: Number | None = None  # percent
    step_size: Int


class TariffRestrictions(OcpiModel):
    start_time: str | None = None  # "HH:MM", local time of the Location
    end_time: str | None = None
    start_date: str | None = None  # "YYYY-MM-DD"
    end_date: str | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: Int | None = None  # seconds
    max_duration: Int | None = None
    day_of_week: list[ODayOfWeek] | None = None
    reservation: OReservationRestrictionType | None = None


class TariffElement(OcpiModel):
    price_components: NonEmpty[PriceComponent]
    restrictions: TariffRestrictions | None = None


class Tariff(OcpiModel):
    country_code: str
    party_id: str
    id: Id36
    currency: str  # ISO 4217
    type: OTariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: NonEmpty[TariffElement]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


# ----------------------------------------------------------------------------- sessions, CDRs


class CdrToken(OcpiModel):
    country_code: str
    party_id: str
    uid: Id36
    type: OTokenType
    contract_id: str


class CdrDimension(OcpiModel):
    type: OCdrDimensionType
    volume: Number


class ChargingPeriod(OcpiModel):
    start_date_time: DateTime
    dimensions: NonEmpty[CdrDimension]
    tariff_id: str | None = None


class Session(OcpiModel):
    country_code: str
    party_id: str
    id: Id36
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: Number
    cdr_token: CdrToken
    auth_method: OAuthMethod
    authorization_reference: str | None = None
    location_id: str
    evse_uid: str
    connector_id: str
    meter_id: str | None = None
    currency: str
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: OSessionStatus
    last_updated: DateTime


class CdrLocation(OcpiModel):
    id: str
    name: str | None = None
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str
    coordinates: GeoLocation
    evse_uid: str
    evse_id: str
    connector_id: str
    connector_standard: OConnectorType
    connector_format: OConnectorFormat
    connector_power_type: OPowerType


class SignedValue(OcpiModel):
    nature: str
    plain_data: str
    signed_data: str


class SignedData(OcpiModel):
    encoding_method: str
    encoding_method_version: Int | None = None
    public_key: str | None = None
    signed_values: NonEmpty[SignedValue]
    url: str | None = None


class Cdr(OcpiModel):
    country_code: str
    party_id: str
    id: Annotated[str, StringConstraints(min_length=1, max_length=39)]
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: str | None = None
    cdr_token: CdrToken
    auth_method: OAuthMethod
    authorization_reference: str | None = None
    cdr_location: CdrLocation
    meter_id: str | None = None
    currency: str
    tariffs: list[Tariff] | None = None
    charging_periods: NonEmpty[ChargingPeriod]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Number  # kWh
    total_energy_cost: Price | None = None
    total_time: Number  # hours
    total_time_cost: Price | None = None
    total_parking_time: Number | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: str | None = None
    invoice_reference_id: str | None = None
    credit: bool | None = None
    credit_reference_id: str | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime


# ----------------------------------------------------------------------------- tokens


class EnergyContract(OcpiModel):
    supplier_name: str
    contract_id: str | None = None


class Token(OcpiModel):
    country_code: str
    party_id: str
    uid: Id36
    type: OTokenType
    contract_id: str
    visual_number: str | None = None
    issuer: str
    group_id: str | None = None
    valid: bool
    whitelist: OWhitelistType
    language: str | None = None
    default_profile_type: OProfileType | None = None
    energy_contract: EnergyContract | None = None
    last_updated: DateTime

    @model_validator(mode="before")
    @classmethod
    def _from_2_1_1(cls, data: Any) -> Any:
        # 2.1.1 called the contract id auth_id.
        if isinstance(data, dict) and data.get("contract_id") is None and data.get("auth_id"):
            return {**data, "contract_id": data["auth_id"]}
        return data


class LocationReferences(OcpiModel):
    location_id: str
    evse_uids: list[str] | None = None


class AuthorizationInfo(OcpiModel):
    allowed: OAllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: str | None = None
    info: DisplayText | None = None


# ----------------------------------------------------------------------------- commands


class StartSession(OcpiModel):
    response_url: str
    token: Token
    location_id: str
    evse_uid: str | None = None
    connector_id: str | None = None
    authorization_reference: str | None = None


class StopSession(OcpiModel):
    response_url: str
    session_id: str


class ReserveNow(OcpiModel):
    response_url: str
    token: Token
    expiry_date: DateTime
    reservation_id: str
    location_id: str
    evse_uid: str | None = None
    authorization_reference: str | None = None


class CancelReservation(OcpiModel):
    response_url: str
    reservation_id: str


class UnlockConnector(OcpiModel):
    response_url: str
    location_id: str
    evse_uid: str
    connector_id: str


class CommandResponse(OcpiModel):
    result: OCommandResponseType
    timeout: Int  # seconds
    message: list[DisplayText] | None = None


class CommandResult(OcpiModel):
    result: OCommandResultType
    message: list[DisplayText] | None = None


# ----------------------------------------------------------------------------- parse, dump, PATCH


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(object)"


def _message(model_cls: type[BaseModel], exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        msg = str(error["msg"]).removeprefix("Value error, ")
        msg = msg[:1].lower() + msg[1:]
        problems.append(f"{_path(tuple(error['loc']))}: {msg}")
    shown = "; ".join(problems[:MAX_REPORTED_ERRORS])
    more = len(problems) - MAX_REPORTED_ERRORS
    if more > 0:
        shown += f" (and {more} more)"
    return f"invalid {model_cls.__name__}: {shown}"


def parse(model_cls: type[M], data: Any) -> M:
    """``data`` (decoded JSON) as ``model_cls``; ``OcpiError`` 2001 (HTTP 400) naming the first
    offending field paths if it is not one. The message never quotes the payload."""
    if not isinstance(data, Mapping):
        raise OcpiError(
            StatusCode.INVALID_PARAMETERS, f"invalid {model_cls.__name__}: expected a JSON object"
        )
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise OcpiError(StatusCode.INVALID_PARAMETERS, _message(model_cls, exc)) from None


def parse_list(model_cls: type[M], data: Any) -> list[M]:
    """A JSON array of ``model_cls`` objects; errors name the index, e.g. ``[3].evses[0].uid``."""
    if not isinstance(data, list):
        raise OcpiError(
            StatusCode.INVALID_PARAMETERS,
            f"invalid {model_cls.__name__} list: expected a JSON array",
        )
    out: list[M] = []
    for index, item in enumerate(data):
        try:
            out.append(parse(model_cls, item))
        except OcpiError as exc:
            name = model_cls.__name__
            detail = str(exc).removeprefix(f"invalid {name}: ")
            raise OcpiError(
                StatusCode.INVALID_PARAMETERS, f"invalid {name} list: [{index}] {detail}"
            ) from None
    return out


def dump(model: BaseModel) -> dict[str, Any]:
    """Spec JSON of ``model``: no nulls, ``Z`` DateTimes, JSON numbers, enum values as strings."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def merge_patch(
    stored: Mapping[str, Any], patch: Mapping[str, Any], *, append: Iterable[str] = ()
) -> dict[str, Any]:
    """OCPI PATCH: a new dict with each top-level member of ``patch`` replacing the stored one.

    Lists and nested objects are replaced whole (a Location PATCH with ``evses``, an EVSE PATCH
    with ``connectors``, ``coordinates``, ``total_cost`` …), except the members named in
    ``append``, whose lists are appended to (a Session PATCH's ``charging_periods``). A ``null``
    in the patch removes the member, which is how peers that write ``null`` for "no value" mean
    it; re-parsing the merged object rejects a removed required field.
    """
    merged = copy.deepcopy(dict(stored))
    appended = frozenset(append)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif key in appended and isinstance(value, list) and isinstance(merged.get(key), list):
            merged[key] = [*merged[key], *copy.deepcopy(value)]
        else:
            merged[key] = copy.deepcopy(value)
    return merged
