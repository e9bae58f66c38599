"""Fictional OCPI sample network shared by the OCPI peer tests: "Lanting Charging" (兰亭充电,
party CN*LTC) sites in ten Chinese cities, WGS-84 coordinates as OCPI strings, GB/T DC and AC
connectors, ``last_updated`` one hour apart from :data:`T0` (location ``n`` at ``T0 + n h``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargemesh.protocols.ocpi.models import Location, Tariff, Token, parse
from chargemesh.protocols.ocpi.transport import format_datetime

CPO_PARTY = ("CN", "LTC")
EMSP_PARTY = ("CN", "CMS")

TOKEN_A = "cpo-registration-token-a-0001"
EMSP_TOKEN_A = "emsp-registration-token-a-0001"

T0 = datetime(2026, 1, 10, 0, 0, 0, tzinfo=UTC)
STEP = timedelta(hours=1)

# (city, district address, WGS-84 latitude, longitude, postal code)
CITIES = (
    ("北京市", "朝阳区望京街10号", 39.990475, 116.481499, "100102"),
    ("上海市", "浦东新区陆家嘴环路1000号", 31.237920, 121.501654, "200120"),
    ("深圳市", "南山区科技园南区深南大道9988号", 22.540503, 113.934528, "518057"),
    ("广州市", "天河区珠江新城花城大道85号", 23.119133, 113.321465, "510623"),
    ("杭州市", "西湖区文三路478号", 30.279032, 120.128945, "310013"),
    ("成都市", "武侯区天府大道北段1700号", 30.572815, 104.066801, "610041"),
    ("武汉市", "洪山区珞喻路1037号", 30.513270, 114.413470, "430074"),
    ("西安市", "雁塔区高新路52号", 34.223620, 108.892770, "710075"),
    ("南京市", "玄武区中山路18号", 32.043160, 118.784410, "210008"),
    ("重庆市", "渝北区金开大道1号", 29.660540, 106.571330, "401122"),
)


def location_id(n: int) -> str:
    return f"LOC{n:04d}"


def location_updated(n: int) -> datetime:
    return T0 + n * STEP


def location_json(n: int) -> dict[str, Any]:
    """Location ``n`` (1-based): a 2-connector 120 kW GB/T DC EVSE and a 7 kW GB/T AC EVSE."""
    city, address, lat, lng, postal = CITIES[(n - 1) % len(CITIES)]
    # spread sites of the same city a few hundred metres apart, deterministically
    shift = ((n - 1) // len(CITIES)) * 0.0031
    stamp = format_datetime(location_updated(n))
    cc, pid = CPO_PARTY
    dc_connectors = [
        {
            "id": str(gun),
            "standard": "GBT_DC",
            "format": "CABLE",
            "power_type": "DC",
            "max_voltage": 750,
            "max_amperage": 250,
            "max_electric_power": 120000,
            "tariff_ids": ["TOU-DC"],
            "last_updated": stamp,
        }
        for gun in (1, 2)
    ]
    ac_connector = {
        "id": "1",
        "standard": "GBT_AC",
        "format": "SOCKET",
        "power_type": "AC_1_PHASE",
        "max_voltage": 220,
        "max_amperage": 32,
        "max_electric_power": 7000,
        "tariff_ids": ["TOU-AC"],
        "last_updated": stamp,
    }
    return {
        "country_code": cc,
        "party_id": pid,
        "id": location_id(n),
        "publish": True,
        "name": f"兰亭充电 {city}{n:02d}号站",
        "address": address,
        "city": city,
        "postal_code": postal,
        "country": "CHN",
        "coordinates": {"latitude": f"{lat + shift:.6f}", "longitude": f"{lng + shift:.6f}"},
        "parking_type": "PARKING_LOT",
        "evses": [
            {
                "uid": f"{location_id(n)}-DC",
                "evse_id": f"CN*LTC*E{n:04d}1",
                "status": "AVAILABLE",
                "capabilities": ["REMOTE_START_STOP_CAPABLE", "RFID_READER"],
                "connectors": dc_connectors,
                "last_updated": stamp,
            },
            {
                "uid": f"{location_id(n)}-AC",
                "evse_id": f"CN*LTC*E{n:04d}2",
                "status": "AVAILABLE",
                "capabilities": ["REMOTE_START_STOP_CAPABLE"],
                "connectors": [ac_connector],
                "last_updated": stamp,
            },
        ],
        "operator": {"name": "兰亭充电 Lanting Charging"},
        "time_zone": "Asia/Shanghai",
        "last_updated": stamp,
    }


def location(n: int) -> Location:
    return parse(Location, location_json(n))


def locations(count: int) -> list[Location]:
    return [location(n) for n in range(1, count + 1)]


def tariff(n: int) -> Tariff:
    """A flat-energy CNY tariff, ``last_updated`` at ``T0 + n h``."""
    cc, pid = CPO_PARTY
    return parse(
        Tariff,
        {
            "country_code": cc,
            "party_id": pid,
            "id": f"TARIFF{n:02d}",
            "currency": "CNY",
            "elements": [
                {"price_components": [{"type": "ENERGY", "price": 1.2 + n / 100, "step_size": 1}]}
            ],
            "last_updated": format_datetime(T0 + n * STEP),
        },
    )


def token(uid: str, *, kind: str = "APP_USER") -> Token:
    cc, pid = EMSP_PARTY
    return parse(
        Token,
        {
            "country_code": cc,
            "party_id": pid,
            "uid": uid,
            "type": kind,
            "contract_id": f"CN-CMS-C{uid[-6:]}",
            "issuer": "ChargeMesh",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": format_datetime(T0),
        },
    )
