"""How large a T/CEC field may be: the standard's lengths, refused on input when exceeded.

T/CEC 102 fixes the ids' lengths (OperatorID 9 characters, StationID ≤ 20, EquipmentID ≤ 23,
ConnectorID ≤ 26, a StartChargeSeq 27: the OperatorID and 18 unique characters) and gives the
free text a length too (StationName ≤ 50, Address ≤ 50, ServiceTel ≤ 30 …). Ids are held to
the standard: they become keys of ours and every operator we know keeps to them. Free text is
allowed about twice the standard, as operators write longer names and directions than the text
foresaw and a longer name is not an attack; what is refused is the 5 MB name that would be
stored and served with every nearby answer around the station.

Lists get generous but finite bounds, integers fit 32 bits (they are codes, counts and
seconds), floats must be finite and coordinates on the globe. The models use these types in
place of bare ``str``/``int``; a payload beyond them fails validation like any malformed one:
a push is refused with Ret 4004, a pulled station is left out of its page.
"""

from __future__ import annotations

from typing import Annotated, Final, TypeVar

from pydantic import Field, StringConstraints

__all__ = [
    "MAX_CHARGE_DETAILS",
    "MAX_CHARGE_ORDERS",
    "MAX_CONNECTORS_PER_EQUIPMENT",
    "MAX_CONNECTORS_PER_STATION",
    "MAX_EQUIPMENT_PER_STATION",
    "MAX_PICTURES",
    "MAX_POLICY_PERIODS",
    "MAX_STATIONS_PER_ANSWER",
    "AreaCode",
    "ChargeDetails",
    "ChargeOrders",
    "ConnectorId",
    "ConnectorsOfEquipment",
    "ConnectorsOfStation",
    "CountryCode",
    "Description",
    "EquipmentId",
    "EquipmentOfStation",
    "Int32",
    "Latitude",
    "Longitude",
    "Name",
    "OperatorId",
    "Picture",
    "Pictures",
    "PolicyPeriods",
    "Secret",
    "Seq",
    "ShortText",
    "StationId",
    "StationsOfAnswer",
    "Telephone",
    "Text",
    "Time",
    "Vin",
]

T = TypeVar("T")

# --- ids: the standard's lengths -----------------------------------------------------------
#: OperatorID, EquipmentOwnerID, ManufacturerID: an organisation code, 9 characters.
OperatorId = Annotated[str, StringConstraints(max_length=9)]
StationId = Annotated[str, StringConstraints(max_length=20)]
EquipmentId = Annotated[str, StringConstraints(max_length=23)]
ConnectorId = Annotated[str, StringConstraints(max_length=26)]
#: StartChargeSeq, EquipAuthSeq, EquipBizSeq, PlugAndChargeSeq, CheckOrderSeq: the sender's
#: OperatorID (9) and 18 unique characters.
Seq = Annotated[str, StringConstraints(max_length=27)]
#: A car's VIN (ISO 3779): 17 characters, once the blanks around it are stripped.
Vin = Annotated[str, StringConstraints(strip_whitespace=True, max_length=17)]

# --- codes, times, secrets -----------------------------------------------------------------
#: CountryCode: ISO 3166 alpha-2 in the standard; alpha-3 is tolerated.
CountryCode = Annotated[str, StringConstraints(max_length=3)]
#: AreaCode: the GB/T 2260 county code (6 digits), 20 in the standard.
AreaCode = Annotated[str, StringConstraints(max_length=20)]
#: ``yyyy-MM-dd HH:mm:ss`` (19), ``yyyy-MM-dd`` or ``HHmmss``; room for milliseconds.
Time = Annotated[str, StringConstraints(max_length=32)]
#: OperatorSecret (16 in the standard) and AccessToken: opaque, bounded.
Secret = Annotated[str, StringConstraints(max_length=256)]

# --- free text: about twice the standard ---------------------------------------------------
#: StationTel, ServiceTel (30): a number or two.
Telephone = Annotated[str, StringConstraints(max_length=64)]
#: ParkNo (10), Payment (20), ProductionDate, EquipmentModel (20), IdentCode: short labels.
ShortText = Annotated[str, StringConstraints(max_length=64)]
#: StationName (50), EquipmentName, ConnectorName, ManufacturerName (30).
Name = Annotated[str, StringConstraints(max_length=100)]
#: Address (50), SiteGuide, MatchCars, ParkInfo, BusineHours, ServiceFee, ParkFee, Remark (100),
#: FailReasonMsg, QRCode: a sentence or a URL.
Text = Annotated[str, StringConstraints(max_length=256)]
#: ElectricityFee (256): a whole time-of-use price table written out.
Description = Annotated[str, StringConstraints(max_length=512)]
#: One of a station's Pictures: a URL.
Picture = Annotated[str, StringConstraints(max_length=512)]

# --- numbers -------------------------------------------------------------------------------
#: T/CEC's integers are codes (private ones like 21501 included), counts and seconds.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
#: Degrees (GCJ-02 in China): on the globe.
Longitude = Annotated[float, Field(ge=-180.0, le=180.0)]
Latitude = Annotated[float, Field(ge=-90.0, le=90.0)]

# --- lists ---------------------------------------------------------------------------------
#: Stations in one answer: a page of query_stations_info (we ask for far fewer) or the answer
#: to query_station_status (at most 50 asked).
MAX_STATIONS_PER_ANSWER: Final = 10_000
#: Piles of one station: the largest hubs have a few hundred.
MAX_EQUIPMENT_PER_STATION: Final = 2_000
#: Guns of one pile: two at most in practice.
MAX_CONNECTORS_PER_EQUIPMENT: Final = 64
#: Guns of one station in a status answer.
MAX_CONNECTORS_PER_STATION: Final = 10_000
#: A station's pictures.
MAX_PICTURES: Final = 64
#: Time-of-use price periods of a day (SumPeriod; 48 half hours at most in practice) and the
#: price periods of one session's bill.
MAX_POLICY_PERIODS: Final = 1_000
MAX_CHARGE_DETAILS: Final = 1_000
#: Bills of one day in check_charge_orders: a large operator's day with the platform.
MAX_CHARGE_ORDERS: Final = 100_000

StationsOfAnswer = Annotated[tuple[T, ...], Field(max_length=MAX_STATIONS_PER_ANSWER)]
EquipmentOfStation = Annotated[tuple[T, ...], Field(max_length=MAX_EQUIPMENT_PER_STATION)]
ConnectorsOfEquipment = Annotated[tuple[T, ...], Field(max_length=MAX_CONNECTORS_PER_EQUIPMENT)]
ConnectorsOfStation = Annotated[tuple[T, ...], Field(max_length=MAX_CONNECTORS_PER_STATION)]
Pictures = Annotated[tuple[Picture, ...], Field(max_length=MAX_PICTURES)]
PolicyPeriods = Annotated[tuple[T, ...], Field(max_length=MAX_POLICY_PERIODS)]
ChargeDetails = Annotated[tuple[T, ...], Field(max_length=MAX_CHARGE_DETAILS)]
ChargeOrders = Annotated[tuple[T, ...], Field(max_length=MAX_CHARGE_ORDERS)]
