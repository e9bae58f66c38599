"""Station data and live connector status: ``query_stations_info``, ``notification_stationStatus``,
``query_station_status`` and ``query_station_stats`` (T/CEC 102 Part 3; field names as in the CEC
text and the public validators' schemas).

Enum codes (``StationType``, ``Construction``, ``ConnectorType``, ``Status`` …) stay ``int``: the
mapping to the domain turns unknown codes into "unknown". Only ``StationID``, ``StationName`` and
the coordinates are required of a station (without them it cannot be placed on a map); everything
the standard marks mandatory but we can live without is optional, as operators omit it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from chargemesh.protocols.tcec.sizes import (
    AreaCode,
    ConnectorId,
    ConnectorsOfEquipment,
    ConnectorsOfStation,
    CountryCode,
    Description,
    EquipmentId,
    EquipmentOfStation,
    Int32,
    Latitude,
    Longitude,
    Name,
    OperatorId,
    Pictures,
    ShortText,
    StationId,
    StationsOfAnswer,
    Telephone,
    Text,
    Time,
)
from chargemesh.protocols.tcec.wire import WireModel, wire

__all__ = [
    "MAX_STATUS_STATION_IDS",
    "ConnectorInfo",
    "ConnectorStats",
    "ConnectorStatusInfo",
    "EquipmentInfo",
    "EquipmentStats",
    "NotificationStationStatusRequest",
    "NotificationStationStatusResponse",
    "QueryStationStatsRequest",
    "QueryStationStatsResponse",
    "QueryStationStatusRequest",
    "QueryStationStatusResponse",
    "QueryStationsInfoRequest",
    "QueryStationsInfoResponse",
    "StationInfo",
    "StationStats",
    "StationStatusInfo",
]

#: ``query_station_status`` takes at most this many StationIDs per request.
MAX_STATUS_STATION_IDS = 50


class ConnectorInfo(WireModel):
    """A connector (gun). ``ConnectorType``: 1 household socket, 2 AC socket, 3 AC tethered plug,
    4 DC tethered gun, 5 wireless pad, 6 other. ``NationalStandard``: 1 GB/T 2011, 2 GB/T 2015.
    ``AuxPower`` (12/24 V BMS auxiliary supply) is a validator extension."""

    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    connector_name: Annotated[Name | None, wire("ConnectorName")] = None
    connector_type: Annotated[Int32 | None, wire("ConnectorType")] = None
    voltage_upper_limits: Annotated[float | None, wire("VoltageUpperLimits")] = None
    voltage_lower_limits: Annotated[float | None, wire("VoltageLowerLimits")] = None
    current: Annotated[float | None, wire("Current")] = None  # A
    power: Annotated[float | None, wire("Power")] = None  # kW
    park_no: Annotated[ShortText | None, wire("ParkNo")] = None
    national_standard: Annotated[Int32 | None, wire("NationalStandard")] = None
    aux_power: Annotated[Int32 | None, wire("AuxPower")] = None


class EquipmentInfo(WireModel):
    """A pile. ``EquipmentType``: 1 DC, 2 AC, 3 AC/DC combined, 4 wireless, 5 other."""

    equipment_id: Annotated[EquipmentId, wire("EquipmentID")]
    manufacturer_id: Annotated[OperatorId | None, wire("ManufacturerID")] = None
    manufacturer_name: Annotated[Name | None, wire("ManufacturerName")] = None
    equipment_model: Annotated[ShortText | None, wire("EquipmentModel")] = None
    production_date: Annotated[ShortText | None, wire("ProductionDate")] = None
    equipment_type: Annotated[Int32 | None, wire("EquipmentType")] = None
    connector_infos: Annotated[ConnectorsOfEquipment[ConnectorInfo], wire("ConnectorInfos")] = ()
    equipment_lng: Annotated[Longitude | None, wire("EquipmentLng")] = None
    equipment_lat: Annotated[Latitude | None, wire("EquipmentLat")] = None
    power: Annotated[float | None, wire("Power")] = None  # kW
    equipment_name: Annotated[Name | None, wire("EquipmentName")] = None
    # Our extension (docs/tcec-extensions.md): 1 the pile reads the car's VIN and takes part in
    # plug-and-charge, 0 it does not; absent: as the operator's agreement says for all piles.
    plug_and_charge: Annotated[Int32 | None, wire("PlugAndCharge")] = None


class StationInfo(WireModel):
    """A station. ``StationLng``/``StationLat`` are GCJ-02; ``AreaCode`` is the GB/T 2260 county
    code; ``Construction`` 11 is an intercity highway service area."""

    station_id: Annotated[StationId, wire("StationID")]
    operator_id: Annotated[OperatorId | None, wire("OperatorID")] = None
    equipment_owner_id: Annotated[OperatorId | None, wire("EquipmentOwnerID")] = None
    station_name: Annotated[Name, wire("StationName")]
    country_code: Annotated[CountryCode | None, wire("CountryCode")] = None
    area_code: Annotated[AreaCode | None, wire("AreaCode")] = None
    address: Annotated[Text | None, wire("Address")] = None
    station_tel: Annotated[Telephone | None, wire("StationTel")] = None
    service_tel: Annotated[Telephone | None, wire("ServiceTel")] = None
    station_type: Annotated[Int32 | None, wire("StationType")] = None
    station_status: Annotated[Int32 | None, wire("StationStatus")] = None
    park_nums: Annotated[Int32 | None, wire("ParkNums")] = None
    station_lng: Annotated[Longitude, wire("StationLng")]
    station_lat: Annotated[Latitude, wire("StationLat")]
    site_guide: Annotated[Text | None, wire("SiteGuide")] = None
    construction: Annotated[Int32 | None, wire("Construction")] = None
    pictures: Annotated[Pictures, wire("Pictures")] = ()
    match_cars: Annotated[Text | None, wire("MatchCars")] = None
    park_info: Annotated[Text | None, wire("ParkInfo")] = None
    busine_hours: Annotated[Text | None, wire("BusineHours")] = None
    electricity_fee: Annotated[Description | None, wire("ElectricityFee")] = None
    service_fee: Annotated[Text | None, wire("ServiceFee")] = None
    park_fee: Annotated[Text | None, wire("ParkFee")] = None
    payment: Annotated[ShortText | None, wire("Payment")] = None
    support_order: Annotated[Int32 | None, wire("SupportOrder")] = None
    remark: Annotated[Text | None, wire("Remark")] = None
    equipment_infos: Annotated[EquipmentOfStation[EquipmentInfo], wire("EquipmentInfos")] = ()


class QueryStationsInfoRequest(WireModel):
    """``LastQueryTime`` (``yyyy-MM-dd HH:mm:ss``) asks only for stations changed since then."""

    last_query_time: Annotated[Time | None, wire("LastQueryTime")] = None
    page_no: Annotated[Int32, wire("PageNo"), Field(ge=1)] = 1
    page_size: Annotated[Int32, wire("PageSize"), Field(ge=1)] = 10


class QueryStationsInfoResponse(WireModel):
    """``PageCount`` is the number of pages, ``ItemSize`` the number of stations in all pages."""

    page_no: Annotated[Int32, wire("PageNo")] = 1
    page_count: Annotated[Int32, wire("PageCount")] = 0
    item_size: Annotated[Int32, wire("ItemSize")] = 0
    station_infos: Annotated[StationsOfAnswer[StationInfo], wire("StationInfos")] = ()


class ConnectorStatusInfo(WireModel):
    """``Status``: 0 offline, 1 idle, 2 occupied not charging, 3 charging, 4 reserved/locked,
    255 fault, private codes possible. ``ParkStatus`` 0/10 free/50 occupied, ``LockStatus``
    0/10 unlocked/50 locked. The live phase values and SoC appear in CEC Part 4 Appendix C.3
    (``SOC`` there; ``Soc`` is accepted too)."""

    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    status: Annotated[Int32, wire("Status")]
    park_status: Annotated[Int32 | None, wire("ParkStatus")] = None
    lock_status: Annotated[Int32 | None, wire("LockStatus")] = None
    current_a: Annotated[float | None, wire("CurrentA")] = None
    current_b: Annotated[float | None, wire("CurrentB")] = None
    current_c: Annotated[float | None, wire("CurrentC")] = None
    voltage_a: Annotated[float | None, wire("VoltageA")] = None
    voltage_b: Annotated[float | None, wire("VoltageB")] = None
    voltage_c: Annotated[float | None, wire("VoltageC")] = None
    soc: Annotated[float | None, wire("SOC", "Soc")] = None


class NotificationStationStatusRequest(WireModel):
    """One connector per push."""

    connector_status_info: Annotated[ConnectorStatusInfo, wire("ConnectorStatusInfo")]


class NotificationStationStatusResponse(WireModel):
    """``Status`` 0 accepted, 1 rejected (the meaning of 1 is **unverified**)."""

    status: Annotated[Int32, wire("Status")] = 0


class QueryStationStatusRequest(WireModel):
    station_ids: Annotated[
        tuple[StationId, ...],
        wire("StationIDs"),
        Field(min_length=1, max_length=MAX_STATUS_STATION_IDS),
    ]


class StationStatusInfo(WireModel):
    station_id: Annotated[StationId, wire("StationID")]
    connector_status_infos: Annotated[
        ConnectorsOfStation[ConnectorStatusInfo], wire("ConnectorStatusInfos")
    ] = ()


class QueryStationStatusResponse(WireModel):
    total: Annotated[Int32, wire("Total")] = 0
    station_status_infos: Annotated[
        StationsOfAnswer[StationStatusInfo], wire("StationStatusInfos")
    ] = ()


class QueryStationStatsRequest(WireModel):
    """Energy statistics of one station; dates as ``yyyy-MM-dd``."""

    station_id: Annotated[StationId, wire("StationID")]
    start_time: Annotated[Time, wire("StartTime")]
    end_time: Annotated[Time, wire("EndTime")]


class ConnectorStats(WireModel):
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    connector_electricity: Annotated[float, wire("ConnectorElectricity")] = 0.0  # kWh


class EquipmentStats(WireModel):
    equipment_id: Annotated[EquipmentId, wire("EquipmentID")]
    equipment_electricity: Annotated[float, wire("EquipmentElectricity")] = 0.0  # kWh
    connector_stats_infos: Annotated[
        ConnectorsOfEquipment[ConnectorStats], wire("ConnectorStatsInfos")
    ] = ()


class StationStats(WireModel):
    station_id: Annotated[StationId, wire("StationID")]
    start_time: Annotated[Time | None, wire("StartTime")] = None
    end_time: Annotated[Time | None, wire("EndTime")] = None
    station_electricity: Annotated[float, wire("StationElectricity")] = 0.0  # kWh
    equipment_stats_infos: Annotated[
        EquipmentOfStation[EquipmentStats], wire("EquipmentStatsInfos")
    ] = ()


class QueryStationStatsResponse(WireModel):
    station_stats: Annotated[StationStats, wire("StationStats")]
