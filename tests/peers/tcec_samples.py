"""Fictional T/CEC sample network shared by the peer tests: "Lanting Charging" (兰亭充电) sites
in Beijing and Shanghai, GCJ-02 coordinates, 6-digit GB/T 2260 area codes."""

from __future__ import annotations

from datetime import datetime

from chargemesh.protocols.tcec.codec import CHINA_TZ, Secrets
from chargemesh.protocols.tcec.stations import StationInfo

OPERATOR_ID = "MA6LTCD01"  # Lanting Charging, fictional
PLATFORM_ID = "MACMESH01"  # us
OTHER_PLATFORM_ID = "MAOTHER02"

# Issued by the operator to each platform (platform → operator calls).
PLATFORM_SECRETS = Secrets("lt-op-secret-001", "lt-data-key-0001", "lt-data-iv-00001", "lt-sig-01")
OTHER_SECRETS = Secrets("lt-op-secret-002", "lt-data-key-0002", "lt-data-iv-00002", "lt-sig-02")
# Issued by our platform to the operator (operator → platform pushes).
PUSH_SECRETS = Secrets("cm-op-secret-001", "cm-data-key-0001", "cm-data-iv-00001", "cm-sig-01")
SECRET_TEXTS = [
    text
    for s in (PLATFORM_SECRETS, OTHER_SECRETS, PUSH_SECRETS)
    for text in (s.operator_secret, s.data_secret, s.data_secret_iv, s.sig_secret)
]

T0 = datetime(2026, 1, 10, 8, 0, 0, tzinfo=CHINA_TZ)
T1 = datetime(2026, 1, 12, 9, 30, 0, tzinfo=CHINA_TZ)
STATION_COUNT = 23

# (name, AreaCode, GCJ-02 lng, lat, Construction)
SITES = (
    ("兰亭充电 望京SOHO站", "110105", 116.481499, 39.990475, 4),
    ("兰亭充电 中关村站", "110108", 116.310316, 39.992957, 9),
    ("兰亭充电 东单站", "110101", 116.417854, 39.917988, 10),
    ("兰亭充电 陆家嘴站", "310115", 121.506377, 31.245105, 4),
    ("兰亭充电 徐家汇站", "310104", 121.436525, 31.188523, 9),
    ("兰亭充电 虹桥枢纽站", "310112", 121.319901, 31.194112, 6),
    ("兰亭充电 安亭服务区站", "310114", 121.160521, 31.296327, 11),
)


def connector_id(n: int, pile: int, gun: int) -> str:
    return f"{OPERATOR_ID}{n:04d}{pile:02d}{gun:03d}"


def station(n: int, *, name_suffix: str = "") -> StationInfo:
    """Station ``n``: a 2-gun 120 kW DC pile and a 7 kW AC pile at one of the sample sites."""
    name, area, lng, lat, construction = SITES[n % len(SITES)]
    dc_guns = [
        {
            "ConnectorID": connector_id(n, 1, gun),
            "ConnectorName": f"{gun}号枪",
            "ConnectorType": 4,
            "VoltageUpperLimits": 750,
            "VoltageLowerLimits": 200,
            "Current": 250,
            "Power": 120.0,
            "NationalStandard": 2,
        }
        for gun in (1, 2)
    ]
    ac_gun = {
        "ConnectorID": connector_id(n, 2, 1),
        "ConnectorType": 3,
        "Current": 32,
        "Power": 7.0,
        "NationalStandard": 2,
    }
    return StationInfo.model_validate(
        {
            "StationID": f"LT{n:06d}",
            "OperatorID": OPERATOR_ID,
            "EquipmentOwnerID": OPERATOR_ID,
            "StationName": f"{name} {n:02d}{name_suffix}",
            "CountryCode": "CN",
            "AreaCode": area,
            "Address": f"{name}地面停车场",
            "ServiceTel": "400-000-0000",
            "StationType": 1,
            "StationStatus": 50,
            "ParkNums": 3,
            "StationLng": round(lng + n * 0.0007, 6),
            "StationLat": round(lat - n * 0.0005, 6),
            "Construction": construction,
            "BusineHours": "00:00-24:00",
            "EquipmentInfos": [
                {"EquipmentID": f"LT{n:06d}01", "EquipmentType": 1, "Power": 240.0,
                 "ConnectorInfos": dc_guns},
                {"EquipmentID": f"LT{n:06d}02", "EquipmentType": 2, "Power": 7.0,
                 "ConnectorInfos": [ac_gun]},
            ],
        }
    )  # fmt: skip
