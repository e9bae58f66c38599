"""Sample T/CEC payloads written from the field lists in shared/reference/tcec.md §2 and §4.

Every builder returns a fresh dict so tests may change it. Values are realistic: a Shanghai
transport-hub station (DC + AC piles), a G2 highway service area, Xiaoju spellings where noted.
"""

from __future__ import annotations

from typing import Any

OPERATOR_ID = "MA1FY5992"
PLATFORM_ID = "MA01H3BQ2"

# CEC Part 4 Appendix C.3 / Xiaoju doc 11/14 published vectors (tcec.md §3).
VECTOR_SECRET = "1234567890abcdef"
VECTOR_OPERATOR_ID = "123456789"
VECTOR_TIMESTAMP = "20180120165755"
VECTOR_SEQ = "0001"
VECTOR_DATA = (
    "mYvffpNoFf4E/ZTC1tOw41TC5OlkEobfAYCm5N8hEusaLUaUIqOrXtdbMrSck0DSmfM7mRuOGMoCQzH0nWPGuw=="
)
VECTOR_SIG = "D2D584A14F3F284445DF85D0E8C0697C"
VECTOR_PLAINTEXT = '{"OperatorID":"123456789",\n"OperatorSecret":"1234567890abcdef"}'


def dc_connector(connector_id: str = "MA1FY5992310112000100101") -> dict[str, Any]:
    return {
        "ConnectorID": connector_id,
        "ConnectorName": "1号枪",
        "ConnectorType": 4,
        "VoltageUpperLimits": 750,
        "VoltageLowerLimits": 200,
        "Current": 250,
        "Power": 120.0,
        "ParkNo": "P9-017",
        "NationalStandard": 2,
    }


def ac_connector(connector_id: str = "MA1FY5992310112000200101") -> dict[str, Any]:
    return {
        "ConnectorID": connector_id,
        "ConnectorName": "交流枪",
        "ConnectorType": 3,
        "VoltageUpperLimits": 220,
        "VoltageLowerLimits": 220,
        "Current": 32,
        "Power": 7.0,
        "NationalStandard": 2,
    }


def dc_pile() -> dict[str, Any]:
    return {
        "EquipmentID": "31011200010010",
        "ManufacturerID": "MA5DAXPS1",
        "ManufacturerName": "华信电力",
        "EquipmentModel": "HX-DC240",
        "ProductionDate": "2023-05-18",
        "EquipmentType": 1,
        "ConnectorInfos": [
            dc_connector("MA1FY5992310112000100101"),
            dc_connector("MA1FY5992310112000100102"),
        ],
        "EquipmentLng": 121.319901,
        "EquipmentLat": 31.194112,
        "Power": 240.0,
        "EquipmentName": "P9直流1号桩",
    }


def ac_pile() -> dict[str, Any]:
    return {
        "EquipmentID": "31011200020010",
        "ManufacturerName": "华信电力",
        "EquipmentModel": "HX-AC7",
        "EquipmentType": 2,
        "ConnectorInfos": [ac_connector()],
        "Power": 7.0,
    }


def station_info() -> dict[str, Any]:
    return {
        "StationID": "3101120001",
        "OperatorID": OPERATOR_ID,
        "EquipmentOwnerID": OPERATOR_ID,
        "StationName": "虹桥枢纽P9充电站",
        "CountryCode": "CN",
        "AreaCode": "310112",
        "Address": "上海市闵行区申虹路9号P9停车库B2",
        "StationTel": "021-62680000",
        "ServiceTel": "4008280000",
        "StationType": 1,
        "StationStatus": 50,
        "ParkNums": 40,
        "StationLng": 121.319812,
        "StationLat": 31.194037,
        "SiteGuide": "P9停车库B2层东侧",
        "Construction": 6,
        "Pictures": ["https://img.example.cn/s/3101120001/1.jpg"],
        "MatchCars": "所有国标车型",
        "ParkInfo": "地下二层，限高2.2米",
        "BusineHours": "00:00-24:00",
        "ElectricityFee": "峰时1.0元/度；平时0.7元/度；谷时0.3元/度",
        "ServiceFee": "0.8元/度",
        "ParkFee": "充电免费停车2小时",
        "Payment": "线上支付",
        "SupportOrder": 0,
        "Remark": "",
        "EquipmentInfos": [dc_pile(), ac_pile()],
    }


def highway_station_info() -> dict[str, Any]:
    """阳澄湖服务区 on the G2 Beijing–Shanghai expressway: Construction 11, no AreaCode."""
    return {
        "StationID": "G2-YCH-N",
        "OperatorID": OPERATOR_ID,
        "StationName": "G2京沪高速阳澄湖服务区(北区)",
        "StationType": 1,
        "StationStatus": 50,
        "StationLng": 120.778,
        "StationLat": 31.431,
        "Construction": 11,
        "BusineHours": "24小时",
        "EquipmentInfos": [dc_pile()],
    }


def stations_info_response(*stations: dict[str, Any]) -> dict[str, Any]:
    infos = list(stations) or [station_info()]
    return {"PageNo": 1, "PageCount": 3, "ItemSize": 25, "StationInfos": infos}


def connector_status_info(status: int = 3) -> dict[str, Any]:
    return {
        "ConnectorID": "MA1FY5992310112000100101",
        "Status": status,
        "ParkStatus": 50,
        "LockStatus": 0,
        "CurrentA": 181.5,
        "VoltageA": 402.6,
        "SOC": 47.0,
    }


def charge_status(*, xiaoju: bool = False, elec_money_name: str = "ElectMoney") -> dict[str, Any]:
    service = "ServiceMoney" if xiaoju else "SeviceMoney"
    service_price = "ServicePrice" if xiaoju else "SevicePrice"
    detail_service = "DetailServiceMoney" if xiaoju else "DetailSeviceMoney"
    return {
        "StartChargeSeq": PLATFORM_ID + "202611010800000001",
        "StartChargeSeqStat": 2,
        "ConnectorID": "MA1FY5992310112000100101",
        "ConnectorStatus": 3,
        "CurrentA": 181.5,
        "VoltageA": 402.6,
        "Soc": 47.0,
        "StartTime": "2026-11-01 08:00:05",
        "EndTime": "2026-11-01 08:20:05",
        "TotalPower": 21.36,
        elec_money_name: 14.95,
        service: 17.09,
        "TotalMoney": 32.04,
        "SumPeriod": 1,
        "ChargeDetails": [
            {
                "DetailStartTime": "2026-11-01 08:00:05",
                "DetailEndTime": "2026-11-01 08:20:05",
                "ElecPrice": 0.7,
                service_price: 0.8,
                "DetailPower": 21.36,
                "DetailElecMoney": 14.95,
                detail_service: 17.09,
            }
        ],
    }


def charge_order_info(*, xiaoju: bool = False) -> dict[str, Any]:
    status = charge_status(xiaoju=xiaoju)
    return {
        "StartChargeSeq": status["StartChargeSeq"],
        "ConnectorID": status["ConnectorID"],
        "StartTime": "2026-11-01 08:00:05",
        "EndTime": "2026-11-01 08:41:17",
        "TotalPower": 43.12,
        "TotalElecMoney": 30.18,
        ("TotalServiceMoney" if xiaoju else "TotalSeviceMoney"): 34.50,
        "TotalMoney": 64.68,
        "StopReason": 2,
        "SumPeriod": 1,
        "ChargeDetails": status["ChargeDetails"],
    }


def business_policy(*, xiaoju: bool = False) -> dict[str, Any]:
    service = "ServicePrice" if xiaoju else "SevicePrice"
    return {
        "EquipBizSeq": PLATFORM_ID + "202611010759000001",
        "ConnectorID": "MA1FY5992310112000100101",
        "SuccStat": 0,
        "FailReason": 0,
        "SumPeriod": 4,
        "PolicyInfos": [
            {"StartTime": "000000", "ElecPrice": 0.3, service: 0.6},
            {"StartTime": "080000", "ElecPrice": 0.7, service: 0.8},
            {"StartTime": "100000", "ElecPrice": 1.0, service: 0.8},
            {"StartTime": "220000", "ElecPrice": 0.7, service: 0.8},
        ],
    }


def check_charge_orders() -> dict[str, Any]:
    return {
        "CheckOrderSeq": OPERATOR_ID + "20261101",
        "StartTime": "2026-11-01 00:00:00",
        "EndTime": "2026-11-01 23:59:59",
        "OrderCount": 2,
        "TotalOrderPower": 64.48,
        "TotalOrderMoney": 96.72,
        "ChargeOrders": [
            {
                "StartChargeSeq": PLATFORM_ID + "202611010800000001",
                "TotalPower": 43.12,
                "TotalMoney": 64.68,
            },
            {
                "StartChargeSeq": PLATFORM_ID + "202611011530000002",
                "TotalPower": 21.36,
                "TotalMoney": 32.04,
            },
        ],
    }
