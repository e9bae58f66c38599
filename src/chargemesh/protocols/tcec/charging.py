"""Prices, sessions, bills and reconciliation: ``query_equip_auth``,
``query_equip_business_policy``, ``query_start_charge`` / ``notification_start_charge_result``,
``query_equip_charge_status`` / ``notification_equip_charge_status``, ``query_stop_charge`` /
``notification_stop_charge_result``, ``notification_charge_order_info``, ``check_charge_orders``.

Field names follow the CEC text and the Xiaoju 1.4.0 contract; where only one public source gave
them (``query_equip_auth``, the acknowledgements' ``SuccStat``/``FailReason``/``ConfirmResult``,
the reconciliation totals) they are **unverified** against the standard and say so below.

``StartChargeSeq`` is the platform's OperatorID (9) + 18 unique characters. ``StartChargeSeqStat``:
1 starting, 2 charging, 3 stopping, 4 ended, 5 unknown. ``StopReason``: 0 user, 1 platform, 2 BMS,
3 charger fault, 4 connector unplugged. Times are ``yyyy-MM-dd HH:mm:ss`` text in China time.

Our extensions (docs/tcec-extensions.md): ``notification_plug_and_charge`` (the operator asks the
platform whether a plugged-in VIN may charge) and ``FailReason``/``FailReasonMsg`` on
``notification_start_charge_result`` (why a start failed at the pile, :class:`StartFailure`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import IntEnum
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import field_validator

from chargemesh.protocols.tcec.sizes import (
    ChargeDetails,
    ChargeOrders,
    ConnectorId,
    Int32,
    PolicyPeriods,
    Seq,
    ShortText,
    Text,
    Time,
    Vin,
)
from chargemesh.protocols.tcec.wire import Money, WireModel, service_wire, wire

__all__ = [
    "START_FAILURE_TEXT",
    "ChargeDetail",
    "ChargeOrder",
    "CheckChargeOrdersRequest",
    "CheckChargeOrdersResponse",
    "DisputeOrder",
    "NotificationChargeOrderInfoRequest",
    "NotificationChargeOrderInfoResponse",
    "NotificationEquipChargeStatusRequest",
    "NotificationEquipChargeStatusResponse",
    "NotificationPlugAndChargeRequest",
    "NotificationPlugAndChargeResponse",
    "NotificationStartChargeResultRequest",
    "NotificationStartChargeResultResponse",
    "NotificationStopChargeResultRequest",
    "NotificationStopChargeResultResponse",
    "PlugAndChargeRefusal",
    "PolicyInfo",
    "QueryEquipAuthRequest",
    "QueryEquipAuthResponse",
    "QueryEquipBusinessPolicyRequest",
    "QueryEquipBusinessPolicyResponse",
    "QueryEquipChargeStatusRequest",
    "QueryEquipChargeStatusResponse",
    "QueryStartChargeRequest",
    "QueryStartChargeResponse",
    "QueryStopChargeRequest",
    "QueryStopChargeResponse",
    "StartChargeRefusal",
    "StartFailure",
    "StopChargeRefusal",
]

_CLOCK = re.compile(r"^(\d{1,2}):?(\d{2})(?::?(\d{2}))?$")


# ----------------------------------------------------------------------------- authorisation


class QueryEquipAuthRequest(WireModel):
    """Can this connector be started now? (field names **unverified**)"""

    equip_auth_seq: Annotated[Seq, wire("EquipAuthSeq")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]


class QueryEquipAuthResponse(WireModel):
    """``SuccStat`` 0 yes / 1 no, ``FailReason`` the operator's code (**unverified** names)."""

    equip_auth_seq: Annotated[Seq | None, wire("EquipAuthSeq")] = None
    connector_id: Annotated[ConnectorId | None, wire("ConnectorID")] = None
    succ_stat: Annotated[Int32, wire("SuccStat")]
    fail_reason: Annotated[Int32, wire("FailReason")] = 0


# ----------------------------------------------------------------------------- prices


class PolicyInfo(WireModel):
    """One time-of-use price from ``StartTime`` (``HHmmss``) until the next period's start.

    ``HH:mm:ss``, ``HHmm`` and ``HH:mm`` are accepted and normalised to ``HHmmss``.
    """

    start_time: Annotated[Time, wire("StartTime")]
    elec_price: Annotated[Money, wire("ElecPrice")]
    service_price: Annotated[Money, service_wire("SevicePrice")]

    @field_validator("start_time", mode="after")
    @classmethod
    def _clock(cls, value: str) -> str:
        match = _CLOCK.match(value.strip())
        if match is None:
            raise ValueError("must be a time of day HHmmss")
        hour, minute, second = (int(part or 0) for part in match.groups())
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError("must be a time of day HHmmss")
        return f"{hour:02d}{minute:02d}{second:02d}"


class QueryEquipBusinessPolicyRequest(WireModel):
    equip_biz_seq: Annotated[Seq, wire("EquipBizSeq")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]


class QueryEquipBusinessPolicyResponse(WireModel):
    equip_biz_seq: Annotated[Seq | None, wire("EquipBizSeq")] = None
    connector_id: Annotated[ConnectorId | None, wire("ConnectorID")] = None
    succ_stat: Annotated[Int32, wire("SuccStat")] = 0
    fail_reason: Annotated[Int32, wire("FailReason")] = 0
    sum_period: Annotated[Int32 | None, wire("SumPeriod")] = None
    policy_infos: Annotated[PolicyPeriods[PolicyInfo], wire("PolicyInfos")] = ()


# ----------------------------------------------------------------------------- start / stop


class StartChargeRefusal(IntEnum):
    """``FailReason`` of a refused ``query_start_charge`` (``SuccStat`` 1). 1 and 2 are the CEC
    text's (**unverified**); 3–99 are operator-defined, these are the simulator's."""

    NO_SUCH_DEVICE = 1
    OFFLINE = 2
    NO_VEHICLE = 3  # nothing plugged in
    BUSY = 4  # already charging, or another session holds the connector
    FAULTED = 5
    DUPLICATE_SEQ = 6  # this StartChargeSeq already names a session on another connector


class StopChargeRefusal(IntEnum):
    """``FailReason`` of a refused ``query_stop_charge``; 3 is operator-defined (simulator)."""

    NO_SUCH_DEVICE = 1
    OFFLINE = 2
    NO_SUCH_SESSION = 3


class StartFailure(IntEnum):
    """Extension: ``FailReason`` of a ``notification_start_charge_result`` with
    ``StartChargeSeqStat`` 4 — why the pile could not start the car (docs/tcec-extensions.md)."""

    BMS_HANDSHAKE_TIMEOUT = 1
    BMS_PARAMETER_MISMATCH = 2
    INSULATION_CHECK_FAILED = 3
    CC1_VOLTAGE_OUT_OF_RANGE = 4
    PRECHARGE_FAILED = 5
    CHARGER_OUTPUT_FAULT = 6
    CP_SIGNAL_ABNORMAL = 7
    GUN_LOCK_FAILED = 8
    VEHICLE_DISCONNECTED = 9
    OTHER = 99


#: The ``FailReasonMsg`` sent with each :class:`StartFailure`.
START_FAILURE_TEXT: Final[Mapping[StartFailure, str]] = MappingProxyType(
    {
        StartFailure.BMS_HANDSHAKE_TIMEOUT: "BMS handshake timeout (BHM/BRM not received)",
        StartFailure.BMS_PARAMETER_MISMATCH: "BMS charging parameters out of the charger's range",
        StartFailure.INSULATION_CHECK_FAILED: "insulation check failed",
        StartFailure.CC1_VOLTAGE_OUT_OF_RANGE: "CC1 voltage out of range",
        StartFailure.PRECHARGE_FAILED: "precharge failed",
        StartFailure.CHARGER_OUTPUT_FAULT: "charger output fault",
        StartFailure.CP_SIGNAL_ABNORMAL: "control pilot signal abnormal",
        StartFailure.GUN_LOCK_FAILED: "connector lock failed",
        StartFailure.VEHICLE_DISCONNECTED: "vehicle disconnected before the charge began",
        StartFailure.OTHER: "start failed",
    }
)


class QueryStartChargeRequest(WireModel):
    """``QRCode`` is the raw string scanned from the pile, when the start came from a scan."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    qr_code: Annotated[Text | None, wire("QRCode")] = None


class QueryStartChargeResponse(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    start_charge_seq_stat: Annotated[Int32 | None, wire("StartChargeSeqStat")] = None
    connector_id: Annotated[ConnectorId | None, wire("ConnectorID")] = None
    succ_stat: Annotated[Int32, wire("SuccStat")]
    fail_reason: Annotated[Int32, wire("FailReason")] = 0


class NotificationStartChargeResultRequest(WireModel):
    """``FailReason`` (a :class:`StartFailure` code) and ``FailReasonMsg`` are our extension,
    sent with ``StartChargeSeqStat`` 4; partners without it leave them out."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    start_charge_seq_stat: Annotated[Int32, wire("StartChargeSeqStat")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    start_time: Annotated[Time | None, wire("StartTime")] = None
    ident_code: Annotated[ShortText | None, wire("IdentCode")] = None
    fail_reason: Annotated[Int32 | None, wire("FailReason")] = None
    fail_reason_msg: Annotated[Text | None, wire("FailReasonMsg")] = None


class NotificationStartChargeResultResponse(WireModel):
    """``SuccStat`` 0 received / 1 rejected (**unverified**)."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    succ_stat: Annotated[Int32, wire("SuccStat")] = 0
    fail_reason: Annotated[Int32, wire("FailReason")] = 0


class QueryStopChargeRequest(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]


class QueryStopChargeResponse(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    start_charge_seq_stat: Annotated[Int32 | None, wire("StartChargeSeqStat")] = None
    succ_stat: Annotated[Int32, wire("SuccStat")]
    fail_reason: Annotated[Int32, wire("FailReason")] = 0


class NotificationStopChargeResultRequest(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    start_charge_seq_stat: Annotated[Int32, wire("StartChargeSeqStat")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    succ_stat: Annotated[Int32, wire("SuccStat")] = 0
    fail_reason: Annotated[Int32, wire("FailReason")] = 0


class NotificationStopChargeResultResponse(WireModel):
    """``SuccStat`` 0 received / 1 rejected (**unverified**)."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    succ_stat: Annotated[Int32, wire("SuccStat")] = 0
    fail_reason: Annotated[Int32, wire("FailReason")] = 0


# ----------------------------------------------------------------------------- plug-and-charge


class PlugAndChargeRefusal(IntEnum):
    """Extension: ``FailReason`` of a refused ``notification_plug_and_charge``."""

    VIN_NOT_REGISTERED = 1
    NOT_ENABLED_ON_NETWORK = 2
    ACCOUNT_CANNOT_CHARGE = 3


class NotificationPlugAndChargeRequest(WireModel):
    """Extension (operator → platform): a car identified by its VIN (from the BMS's BRM message)
    was plugged into ``ConnectorID``; may it charge on the platform's account?
    ``PlugAndChargeSeq`` is the operator's OperatorID (9) + 18 unique characters."""

    plug_and_charge_seq: Annotated[Seq, wire("PlugAndChargeSeq")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    vin: Annotated[Vin, wire("VIN")]

    @field_validator("vin", mode="after")
    @classmethod
    def _vin(cls, value: str) -> str:
        return value.strip().upper()


class NotificationPlugAndChargeResponse(WireModel):
    """``SuccStat`` 0: go ahead, the operator starts the session under ``StartChargeSeq`` (the
    platform's, as in ``query_start_charge``); 1: refused, ``FailReason`` a
    :class:`PlugAndChargeRefusal` code."""

    plug_and_charge_seq: Annotated[Seq, wire("PlugAndChargeSeq")]
    connector_id: Annotated[ConnectorId | None, wire("ConnectorID")] = None
    succ_stat: Annotated[Int32, wire("SuccStat")]
    fail_reason: Annotated[Int32, wire("FailReason")] = 0
    start_charge_seq: Annotated[Seq | None, wire("StartChargeSeq")] = None


# ----------------------------------------------------------------------------- live session


class ChargeDetail(WireModel):
    """Energy and money of one price period within a session."""

    detail_start_time: Annotated[Time, wire("DetailStartTime")]
    detail_end_time: Annotated[Time, wire("DetailEndTime")]
    elec_price: Annotated[Money | None, wire("ElecPrice")] = None
    service_price: Annotated[Money | None, service_wire("SevicePrice")] = None
    detail_power: Annotated[float, wire("DetailPower")] = 0.0  # kWh
    detail_elec_money: Annotated[Money | None, wire("DetailElecMoney")] = None
    detail_service_money: Annotated[Money | None, service_wire("DetailSeviceMoney")] = None


class _ChargeStatus(WireModel):
    """The live session as reported by ``query_equip_charge_status`` and its push.

    The two messages differ in the electricity money's name (``ElectMoney`` in the query's
    answer, ``ElecMoney`` in the push): each subclass writes its own, both read either.
    ``ConnectorStatus`` uses the ``ConnectorStatusInfo.Status`` codes.
    """

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    start_charge_seq_stat: Annotated[Int32, wire("StartChargeSeqStat")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    connector_status: Annotated[Int32 | None, wire("ConnectorStatus")] = None
    current_a: Annotated[float | None, wire("CurrentA")] = None
    current_b: Annotated[float | None, wire("CurrentB")] = None
    current_c: Annotated[float | None, wire("CurrentC")] = None
    voltage_a: Annotated[float | None, wire("VoltageA")] = None
    voltage_b: Annotated[float | None, wire("VoltageB")] = None
    voltage_c: Annotated[float | None, wire("VoltageC")] = None
    soc: Annotated[float | None, wire("Soc", "SOC")] = None
    start_time: Annotated[Time | None, wire("StartTime")] = None
    end_time: Annotated[Time | None, wire("EndTime")] = None
    total_power: Annotated[float, wire("TotalPower")] = 0.0  # kWh so far
    service_money: Annotated[Money | None, service_wire("SeviceMoney")] = None
    total_money: Annotated[Money | None, wire("TotalMoney")] = None
    sum_period: Annotated[Int32 | None, wire("SumPeriod")] = None
    charge_details: Annotated[ChargeDetails[ChargeDetail], wire("ChargeDetails")] = ()


class QueryEquipChargeStatusRequest(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]


class QueryEquipChargeStatusResponse(_ChargeStatus):
    elec_money: Annotated[Money | None, wire("ElectMoney", "ElecMoney")] = None


class NotificationEquipChargeStatusRequest(_ChargeStatus):
    elec_money: Annotated[Money | None, wire("ElecMoney", "ElectMoney")] = None


class NotificationEquipChargeStatusResponse(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    succ_stat: Annotated[Int32, wire("SuccStat")] = 0


# ----------------------------------------------------------------------------- bill


class NotificationChargeOrderInfoRequest(WireModel):
    """The final bill of a session. ``TotalPower`` is energy in kWh."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    connector_id: Annotated[ConnectorId, wire("ConnectorID")]
    start_time: Annotated[Time, wire("StartTime")]
    end_time: Annotated[Time, wire("EndTime")]
    total_power: Annotated[float, wire("TotalPower")]
    total_elec_money: Annotated[Money, wire("TotalElecMoney")]
    total_service_money: Annotated[Money, service_wire("TotalSeviceMoney")]
    total_money: Annotated[Money, wire("TotalMoney")]
    stop_reason: Annotated[Int32 | None, wire("StopReason")] = None
    sum_period: Annotated[Int32 | None, wire("SumPeriod")] = None
    charge_details: Annotated[ChargeDetails[ChargeDetail], wire("ChargeDetails")] = ()


class NotificationChargeOrderInfoResponse(WireModel):
    """``ConfirmResult`` 0 agreed, otherwise disputed (**unverified** name and codes)."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    connector_id: Annotated[ConnectorId | None, wire("ConnectorID")] = None
    confirm_result: Annotated[Int32, wire("ConfirmResult")] = 0


# ----------------------------------------------------------------------------- reconciliation


class ChargeOrder(WireModel):
    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    total_power: Annotated[float, wire("TotalPower")]
    total_money: Annotated[Money, wire("TotalMoney")]


class CheckChargeOrdersRequest(WireModel):
    """The operator's daily list of bills; totals' names are **unverified**."""

    check_order_seq: Annotated[Seq, wire("CheckOrderSeq")]
    start_time: Annotated[Time, wire("StartTime")]
    end_time: Annotated[Time, wire("EndTime")]
    order_count: Annotated[Int32, wire("OrderCount")] = 0
    total_order_power: Annotated[float, wire("TotalOrderPower")] = 0.0
    total_order_money: Annotated[Money | None, wire("TotalOrderMoney")] = None
    charge_orders: Annotated[ChargeOrders[ChargeOrder], wire("ChargeOrders")] = ()


class DisputeOrder(WireModel):
    """A bill we disagree with; ``DisputeReason`` codes are partner-defined (**unverified**)."""

    start_charge_seq: Annotated[Seq, wire("StartChargeSeq")]
    total_power: Annotated[float, wire("TotalPower")] = 0.0
    total_money: Annotated[Money | None, wire("TotalMoney")] = None
    dispute_reason: Annotated[Int32 | None, wire("DisputeReason")] = None


class CheckChargeOrdersResponse(WireModel):
    """The platform's answer: the orders in dispute (none when the books agree)."""

    check_order_seq: Annotated[Seq, wire("CheckOrderSeq")]
    start_time: Annotated[Time | None, wire("StartTime")] = None
    end_time: Annotated[Time | None, wire("EndTime")] = None
    total_dispute_order: Annotated[Int32, wire("TotalDisputeOrder")] = 0
    total_dispute_power: Annotated[float, wire("TotalDisputePower")] = 0.0
    total_dispute_money: Annotated[Money | None, wire("TotalDisputeMoney")] = None
    dispute_orders: Annotated[ChargeOrders[DisputeOrder], wire("DisputeOrders")] = ()
