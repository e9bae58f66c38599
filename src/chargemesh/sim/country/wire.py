"""A station as the protocol's wire model the simulated servers hand out: a T/CEC
``StationInfo`` or an OCPI ``Location``, and the Tariff every simulated CPO publishes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from chargemesh.geo.coords import gcj02_to_wgs84
from chargemesh.protocols.ocpi.models import Location, Tariff
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.sim.country.chargers import AC, FAMILIES, MODEL_FAMILY, STANDARDS
from chargemesh.sim.country.columns import Country
from chargemesh.sim.country.ids import operator_and_number, station_id
from chargemesh.sim.country.names import PLACES, county_of, name_and_address, place_kind

_HIGHWAY: Final = 11  # T/CEC Construction: intercity highway service area


def _changed(country: Country, i: int) -> datetime:
    return datetime.fromtimestamp(float(country.station_changed[i]), tz=UTC)


def tcec_station(country: Country, i: int) -> StationInfo:
    """Station ``i`` of a T/CEC operator as a ``StationInfo`` (coordinates GCJ-02)."""
    op, _ = operator_and_number(country, i)
    if op.protocol != "tcec":
        raise ValueError(f"{op.id} does not speak T/CEC")
    sid = station_id(country, i)
    name, address = name_and_address(country, i)
    s = int(country.station_source[i])
    highway = bool(country.station_highway[i])
    first, last = int(country.station_first_evse[i]), int(country.station_first_evse[i + 1])
    equipment: list[dict[str, Any]] = []
    for k, e in enumerate(range(first, last)):
        fam = FAMILIES[int(MODEL_FAMILY[country.evse_model[e]])]
        eid = f"{sid}{k + 1:03d}"
        dc = fam.cls != AC
        guns = [
            {
                "ConnectorID": f"{eid}{g + 1:02d}",
                "ConnectorName": f"{g + 1}号枪",
                "ConnectorType": 4 if dc else 3,
                "VoltageUpperLimits": fam.voltage_max,
                "VoltageLowerLimits": fam.voltage_min,
                "Current": fam.current,
                "Power": fam.power_kw,
                "NationalStandard": fam.national_standard,
            }
            for g in range(int(country.evse_connectors[e]))
        ]
        pile: dict[str, Any] = {
            "EquipmentID": eid,
            "ManufacturerName": fam.manufacturer,
            "EquipmentModel": fam.model,
            "EquipmentType": 1 if dc else 2,
            "Power": fam.power_kw,
            "EquipmentName": f"{k + 1}号桩",
            "ConnectorInfos": guns,
        }
        if "plug_and_charge" in op.capabilities:  # our extension: which piles take part
            pile["PlugAndCharge"] = int(bool(country.evse_pnc[e]))
        equipment.append(pile)
    copy = s != i
    return StationInfo.model_validate(
        {
            "StationID": sid,
            "OperatorID": op.id,
            "EquipmentOwnerID": None if copy else op.id,
            "StationName": name,
            "CountryCode": "CN",
            "AreaCode": f"{int(country.station_county[i]):06d}",
            "Address": address,
            "ServiceTel": op.service_tel,
            "StationType": 1,
            "StationStatus": 50,
            "ParkNums": last - first,
            "StationLng": float(country.station_lon[i]),
            "StationLat": float(country.station_lat[i]),
            "Construction": _HIGHWAY if highway else PLACES[place_kind(country, s)][1],
            "BusineHours": "00:00-24:00",
            "Remark": f"合作网络：{country.operators[int(country.station_operator[s])].name}"
            if copy
            else None,
            "EquipmentInfos": equipment,
        }
    )


#: The Tariff every simulated OCPI CPO publishes and names on each of its connectors: its CPO
#: bills by it. 1.20 CNY per kWh excl. VAT at 13 % (1.356 as drivers pay it), all day.
OCPI_TARIFF_ID: Final = "STANDARD"


def ocpi_tariff(party: tuple[str, str]) -> Tariff:
    """The CPO ``party``'s published Tariff (:data:`OCPI_TARIFF_ID`)."""
    energy = {"type": "ENERGY", "price": 1.2, "vat": 13.0, "step_size": 1}
    return Tariff.model_validate(
        {
            "country_code": party[0],
            "party_id": party[1],
            "id": OCPI_TARIFF_ID,
            "currency": "CNY",
            "type": "REGULAR",
            "tariff_alt_text": [{"language": "zh", "text": "充电费（含增值税13%）"}],
            "elements": [{"price_components": [energy]}],
            "last_updated": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )


def ocpi_location(country: Country, i: int, statuses: Sequence[str] | None = None) -> Location:
    """Station ``i`` of an OCPI operator as a ``Location`` (coordinates WGS-84, 7 decimals).

    ``statuses`` gives each EVSE's status in order (default all ``AVAILABLE``)."""
    op, local = operator_and_number(country, i)
    if op.protocol != "ocpi":
        raise ValueError(f"{op.id} does not speak OCPI")
    cc, party = op.party
    loc_id = station_id(country, i)
    name, address = name_and_address(country, i)
    s = int(country.station_source[i])
    county = county_of(country, i)
    stamp = _changed(country, i)
    wlon, wlat = gcj02_to_wgs84(float(country.station_lon[i]), float(country.station_lat[i]))
    first, last = int(country.station_first_evse[i]), int(country.station_first_evse[i + 1])
    evses: list[dict[str, Any]] = []
    for k, e in enumerate(range(first, last)):
        fam = FAMILIES[int(MODEL_FAMILY[country.evse_model[e]])]
        dc = fam.cls != AC
        if dc:
            power_type, volts, amps = "DC", fam.voltage_max, fam.current
        elif fam.phases == 3:
            power_type, volts = "AC_3_PHASE", 230
            amps = round(fam.power_kw * 1000 / (3 * 230))
        else:
            power_type, volts, amps = "AC_1_PHASE", 220, fam.current
        connectors = [
            {
                "id": str(g + 1),
                "standard": STANDARDS[fam.standard],
                "format": "CABLE",
                "power_type": power_type,
                "max_voltage": volts,
                "max_amperage": amps,
                "max_electric_power": round(fam.power_kw * 1000),
                "tariff_ids": [OCPI_TARIFF_ID],
                "last_updated": stamp,
            }
            for g in range(int(country.evse_connectors[e]))
        ]
        evses.append(
            {
                "uid": f"{loc_id}-{k + 1:02d}",
                "evse_id": f"{cc}*{party}*E{local + 1:07d}{k + 1:02d}",
                "status": statuses[k] if statuses is not None else "AVAILABLE",
                "capabilities": ["REMOTE_START_STOP_CAPABLE"] if country.evse_scan[e] else [],
                "connectors": connectors,
                "physical_reference": f"{k + 1}号桩",
                "last_updated": stamp,
            }
        )
    highway = bool(country.station_highway[i])
    return Location.model_validate(
        {
            "country_code": cc,
            "party_id": party,
            "id": loc_id,
            "publish": True,
            "name": name,
            "address": address,
            "city": county.city if not county.city.endswith("直辖") else county.name,
            "state": county.province,
            "country": "CHN",
            "coordinates": {"latitude": f"{wlat:.7f}", "longitude": f"{wlon:.7f}"},
            "parking_type": "ALONG_MOTORWAY" if highway else PLACES[place_kind(country, s)][2],
            "evses": evses,
            "operator": {"name": op.name},
            "time_zone": "Asia/Shanghai",
            "opening_times": {"twentyfourseven": True},
            "last_updated": stamp,
        }
    )
