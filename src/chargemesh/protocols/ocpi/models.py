"""OCPI 2.2.1 wire models (Pydantic v2): lenient on input, strict on output.

Input: unknown fields are ignored, ``null`` is accepted for every optional field, enum fields are
OpenEnums (an unknown value is kept as ``str``, see :func:`.enums.open_value`), numbers sent where
a string belongs (``"physical_reference": 3``, a latitude as a JSON number) are kept as their
text, DateTimes without a zone are UTC. A few cheap 2.1.1 spellings are lifted to 2.2.1
(Connector ``tariff_id``, Location ``type``, Token ``auth_id``); 2.3.0 additions are ignored.
Required fields stay required: :func:`parse` turns any failure into an ``OcpiError`` 2001.

Sizes are strict: every string has the spec's length (``CiString(36)``, ``string(255)`` …), every
list a generous but finite bound, numbers and coordinates must be sane. A partner's 5 MB ``name``
is refused at the door (a pushed object with OCPI 2001, a pulled one left out), so it never
reaches the registry or the answers built from it. Open enums are bounded too.

Output: :func:`dump` gives spec JSON: no ``null`` members, DateTimes in UTC with ``Z``, numbers
as JSON numbers (an int stays an int), enum members as their strings.

Field names are the OCPI JSON names; the spec's types are noted where Python's are looser.
"""

from __future__ import annotations

import copy
import math
import re
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
    "MAX_ENUM_LENGTH",
    "MAX_EVSES",
    "MAX_FEW",
    "MAX_MANY",
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

#: Lists that hold a handful per object (the languages of a text, images, capabilities and
#: facilities, the connectors of an EVSE, the tariffs of a connector, price components, energy
#: sources): real ones hold under ten; 100 leaves room and still bounds the object.
MAX_FEW: Final = 100
#: EVSEs of one Location: the largest hubs have a few hundred; each EVSE is about 1 kB of JSON,
#: so 2,000 keeps a Location (and every nearby or cluster answer around it) near 2 MB at worst.
MAX_EVSES: Final = 2_000
#: Lists that grow with time or with a site's rules: the charging periods of a long Session or a
#: CDR (one per tariff change or meter interval), tariff elements, opening hours and exceptional
#: periods, status schedules, related locations, the roles of a hub, signed meter values.
MAX_MANY: Final = 10_000
#: The longest value an open enum keeps: the spec's longest member is under 40 characters; an
#: unknown value beyond this is not a newer version's member but garbage.
MAX_ENUM_LENGTH: Final = 64
#: A number sent as text (``"230"``) or a coordinate: longer text is not a number we would use.
MAX_NUMBER_TEXT: Final = 32
#: A DateTime's text: the spec's string(25), with room for microseconds and an offset.
MAX_DATETIME_TEXT: Final = 40


def ci(value: str) -> str:
    """The canonical form of a CiString, for comparisons and keys: stripped, upper-case."""
    return value.strip().upper()


# ----------------------------------------------------------------------------- field types


def _open(enum_cls: type[E]) -> PlainValidator:
    def validate(value: object) -> E | str:
        if isinstance(value, enum_cls):
            return value
        if isinstance(value, str):
            if len(value) > MAX_ENUM_LENGTH:
                raise ValueError(f"at most {MAX_ENUM_LENGTH} characters")
            return open_value(enum_cls, value)
        raise ValueError(f"expected a {enum_cls.__name__} string")

    return PlainValidator(validate, json_schema_input_type=str)


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        if len(value) > MAX_DATETIME_TEXT:
            raise ValueError("invalid DateTime, expected e.g. 2015-06-29T20:39:09Z")
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
        if len(text) > MAX_NUMBER_TEXT:
            raise ValueError("expected a number")
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
    kept as its text. Any precision is accepted (the spec asks for 5–7 decimals; 2.1.1 peers and
    real CPOs send fewer), but only plain decimals within range and at most
    :data:`MAX_NUMBER_TEXT` characters: no exponents, no huge strings."""

    def validate(value: object) -> str:
        if isinstance(value, bool):
            raise ValueError(f"expected a {name} string")
        if isinstance(value, int | float):
            text = repr(value) if isinstance(value, float) else str(value)
        elif isinstance(value, str):
            text = value.strip()
            if len(text) > MAX_NUMBER_TEXT:
                raise ValueError(f"{name} is not a decimal number")
        else:
            raise ValueError(f"expected a {name} string")
        try:
            degrees = float(text)
        except ValueError:
            raise ValueError(f"{name} is not a decimal number") from None
        if not (math.isfinite(degrees) and -limit <= degrees <= limit):
            raise ValueError(f"{name} out of range")
        if isinstance(value, str) and _DECIMAL_DEGREES.fullmatch(text) is None:
            raise ValueError(f"{name} is not a decimal number")
        return text

    return validate


#: Decimal degrees as text: the spec's ``-?[0-9]{1,3}\.[0-9]{5,7}`` with any number of decimals.
_DECIMAL_DEGREES: Final = re.compile(r"[-+]?[0-9]{1,3}(\.[0-9]*)?")


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
#: A list of at most :data:`MAX_FEW` items; ``OneOrFew`` is one the spec marks ``+``.
Few = Annotated[list[T], Field(max_length=MAX_FEW)]
OneOrFew = Annotated[list[T], Field(min_length=1, max_length=MAX_FEW)]
#: A list of at most :data:`MAX_MANY` items; ``OneOrMany`` is one the spec marks ``+``.
Many = Annotated[list[T], Field(max_length=MAX_MANY)]
OneOrMany = Annotated[list[T], Field(min_length=1, max_length=MAX_MANY)]
#: CiString(36): the ids of Locations, EVSEs (uid), Connectors, Sessions, Tariffs and Tokens.
Id36 = Annotated[str, StringConstraints(min_length=1, max_length=36)]
#: The spec's CiString(n) (case-insensitive ASCII) and string(n) (UTF-8 text), n characters at
#: most; the character set is not checked (lenient), the length is (strict).
CiString2 = Annotated[str, StringConstraints(max_length=2)]
CiString3 = Annotated[str, StringConstraints(max_length=3)]
CiString4 = Annotated[str, StringConstraints(max_length=4)]
CiString32 = Annotated[str, StringConstraints(max_length=32)]
CiString36 = Annotated[str, StringConstraints(max_length=36)]
CiString39 = Annotated[str, StringConstraints(max_length=39)]
CiString48 = Annotated[str, StringConstraints(max_length=48)]
CiString64 = Annotated[str, StringConstraints(max_length=64)]
String2 = Annotated[str, StringConstraints(max_length=2)]
String3 = Annotated[str, StringConstraints(max_length=3)]
String4 = Annotated[str, StringConstraints(max_length=4)]
String5 = Annotated[str, StringConstraints(max_length=5)]
String10 = Annotated[str, StringConstraints(max_length=10)]
String16 = Annotated[str, StringConstraints(max_length=16)]
String20 = Annotated[str, StringConstraints(max_length=20)]
String45 = Annotated[str, StringConstraints(max_length=45)]
String64 = Annotated[str, StringConstraints(max_length=64)]
String100 = Annotated[str, StringConstraints(max_length=100)]
String255 = Annotated[str, StringConstraints(max_length=255)]
String512 = Annotated[str, StringConstraints(max_length=512)]
String5000 = Annotated[str, StringConstraints(max_length=5000)]
#: The spec's URL: string(255).
Url = String255

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
    url: Url


class Endpoint(OcpiModel):
    identifier: OModuleID
    role: OInterfaceRole
    url: Url


class VersionDetails(OcpiModel):
    version: OVersionNumber
    endpoints: OneOrFew[Endpoint]


class Image(OcpiModel):
    url: Url
    thumbnail: Url | None = None
    category: OImageCategory
    type: CiString4  # e.g. "jpeg"
    width: Int | None = None
    height: Int | None = None


class BusinessDetails(OcpiModel):
    name: String100
    website: Url | None = None
    logo: Image | None = None


class CredentialsRole(OcpiModel):
    role: ORole
    business_details: BusinessDetails
    party_id: CiString3
    country_code: CiString2


class Credentials(OcpiModel):
    token: String64
    url: Url
    roles: OneOrMany[CredentialsRole]
    hub_party_id: CiString36 | None = None  # 2.3.0


# ----------------------------------------------------------------------------- shared types


class DisplayText(OcpiModel):
    language: String2
    text: String512


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
    energy_sources: Few[EnergySource] | None = None
    environ_impact: Few[EnvironmentalImpact] | None = None
    supplier_name: String64 | None = None
    energy_product_name: String64 | None = None


# ----------------------------------------------------------------------------- locations


class RegularHours(OcpiModel):
    weekday: Int  # 1 = Monday … 7 = Sunday
    period_begin: String5  # "HH:MM"
    period_end: String5


class ExceptionalPeriod(OcpiModel):
    period_begin: DateTime
    period_end: DateTime


class Hours(OcpiModel):
    twentyfourseven: bool
    regular_hours: Many[RegularHours] | None = None
    exceptional_openings: Many[ExceptionalPeriod] | None = None
    exceptional_closings: Many[ExceptionalPeriod] | None = None

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
    tariff_ids: Few[CiString36] | None = None
    terms_and_conditions: Url | None = None
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
    evse_id: CiString48 | None = None
    status: OStatus
    status_schedule: Many[StatusSchedule] | None = None
    capabilities: Few[OCapability] | None = None
    connectors: OneOrFew[Connector]
    floor_level: String4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: String16 | None = None
    directions: Few[DisplayText] | None = None
    parking_restrictions: Few[OParkingRestriction] | None = None
    images: Few[Image] | None = None
    last_updated: DateTime


class PublishTokenType(OcpiModel):
    uid: CiString36 | None = None
    type: OTokenType | None = None
    visual_number: String64 | None = None
    issuer: String64 | None = None
    group_id: CiString36 | None = None


#: 2.1.1 LocationType values that have a 2.2.1 ParkingType of the same name.
_LOCATION_TYPES_2_1_1: Final = frozenset(
    {"ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT"}
)


class Location(OcpiModel):
    country_code: CiString2
    party_id: CiString3
    id: Id36
    publish: bool
    publish_allowed_to: Many[PublishTokenType] | None = None
    name: String255 | None = None
    address: String45
    city: String45
    postal_code: String10 | None = None
    state: String20 | None = None
    country: String3  # ISO 3166-1 alpha-3
    coordinates: GeoLocation
    related_locations: Many[AdditionalGeoLocation] | None = None
    parking_type: OParkingType | None = None
    evses: Annotated[list[Evse], Field(max_length=MAX_EVSES)] | None = None
    directions: Few[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: Few[OFacility] | None = None
    time_zone: String255
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: Few[Image] | None = None
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
    start_time: String5 | None = None  # "HH:MM", local time of the Location
    end_time: String5 | None = None
    start_date: String10 | None = None  # "YYYY-MM-DD"
    end_date: String10 | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: Int | None = None  # seconds
    max_duration: Int | None = None
    day_of_week: Few[ODayOfWeek] | None = None
    reservation: OReservationRestrictionType | None = None


class TariffElement(OcpiModel):
    price_components: OneOrFew[PriceComponent]
    restrictions: TariffRestrictions | None = None


class Tariff(OcpiModel):
    country_code: CiString2
    party_id: CiString3
    id: Id36
    currency: String3  # ISO 4217
    type: OTariffType | None = None
    tariff_alt_text: Few[DisplayText] | None = None
    tariff_alt_url: Url | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: OneOrMany[TariffElement]
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


# ----------------------------------------------------------------------------- sessions, CDRs


class CdrToken(OcpiModel):
    country_code: CiString2
    party_id: CiString3
    uid: Id36
    type: OTokenType
    contract_id: CiString36


class CdrDimension(OcpiModel):
    type: OCdrDimensionType
    volume: Number


class ChargingPeriod(OcpiModel):
    start_date_time: DateTime
    dimensions: OneOrFew[CdrDimension]
    tariff_id: CiString36 | None = None


class Session(OcpiModel):
    country_code: CiString2
    party_id: CiString3
    id: Id36
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: Number
    cdr_token: CdrToken
    auth_method: OAuthMethod
    authorization_reference: CiString36 | None = None
    location_id: CiString36
    evse_uid: CiString36
    connector_id: CiString36
    meter_id: String255 | None = None
    currency: String3
    charging_periods: Many[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: OSessionStatus
    last_updated: DateTime


class CdrLocation(OcpiModel):
    id: CiString36
    name: String255 | None = None
    address: String45
    city: String45
    postal_code: String10 | None = None
    state: String20 | None = None
    country: String3
    coordinates: GeoLocation
    evse_uid: CiString36
    evse_id: CiString48
    connector_id: CiString36
    connector_standard: OConnectorType
    connector_format: OConnectorFormat
    connector_power_type: OPowerType


class SignedValue(OcpiModel):
    nature: CiString32
    plain_data: String512
    signed_data: String5000


class SignedData(OcpiModel):
    encoding_method: CiString36
    encoding_method_version: Int | None = None
    public_key: String512 | None = None
    signed_values: OneOrMany[SignedValue]
    url: String512 | None = None


class Cdr(OcpiModel):
    country_code: CiString2
    party_id: CiString3
    id: Annotated[str, StringConstraints(min_length=1, max_length=39)]
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: CiString36 | None = None
    cdr_token: CdrToken
    auth_method: OAuthMethod
    authorization_reference: CiString36 | None = None
    cdr_location: CdrLocation
    meter_id: String255 | None = None
    currency: String3
    tariffs: Few[Tariff] | None = None
    charging_periods: OneOrMany[ChargingPeriod]
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
    remark: String255 | None = None
    invoice_reference_id: CiString39 | None = None
    credit: bool | None = None
    credit_reference_id: CiString39 | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime


# ----------------------------------------------------------------------------- tokens


class EnergyContract(OcpiModel):
    supplier_name: String64
    contract_id: CiString64 | None = None


class Token(OcpiModel):
    country_code: CiString2
    party_id: CiString3
    uid: Id36
    type: OTokenType
    contract_id: CiString36
    visual_number: String64 | None = None
    issuer: String64
    group_id: CiString36 | None = None
    valid: bool
    whitelist: OWhitelistType
    language: String2 | None = None
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
    location_id: CiString36
    evse_uids: Many[CiString36] | None = None


class AuthorizationInfo(OcpiModel):
    allowed: OAllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: CiString36 | None = None
    info: DisplayText | None = None


# ----------------------------------------------------------------------------- commands


class StartSession(OcpiModel):
    response_url: Url
    token: Token
    location_id: CiString36
    evse_uid: CiString36 | None = None
    connector_id: CiString36 | None = None
    authorization_reference: CiString36 | None = None


class StopSession(OcpiModel):
    response_url: Url
    session_id: CiString36


class ReserveNow(OcpiModel):
    response_url: Url
    token: Token
    expiry_date: DateTime
    reservation_id: CiString36
    location_id: CiString36
    evse_uid: CiString36 | None = None
    authorization_reference: CiString36 | None = None


class CancelReservation(OcpiModel):
    response_url: Url
    reservation_id: CiString36


class UnlockConnector(OcpiModel):
    response_url: Url
    location_id: CiString36
    evse_uid: CiString36
    connector_id: CiString36


class CommandResponse(OcpiModel):
    result: OCommandResponseType
    timeout: Int  # seconds
    message: Few[DisplayText] | None = None


class CommandResult(OcpiModel):
    result: OCommandResultType
    message: Few[DisplayText] | None = None


# ----------------------------------------------------------------------------- parse, dump, PATCH


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(object)"


#: Pydantic's size errors, said the way the spec states the bound.
_TOO_LONG: Final = {"string_too_long": "characters", "too_long": "items"}


def _message(model_cls: type[BaseModel], exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        unit = _TOO_LONG.get(error["type"])
        bound = error.get("ctx", {}).get("max_length")
        if unit is not None and isinstance(bound, int):
            msg = f"at most {bound} {unit}"
        else:
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
