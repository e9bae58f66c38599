"""OCPP 2.0.1: the CSMS side of one charger's connection (``ocpp.v201.ChargePoint``).

Same shape as :mod:`.v16`: handlers map the wire to :mod:`.messages`, answer from the CSMS's
:class:`ChargerSide`, and never ``await self.call``; commands are methods for other tasks.
EVSE *n* connector 1 is the charger's connector *n*."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call
from ocpp.v201 import call_result as result
from ocpp.v201.enums import (
    Action,
    OperationalStatusEnumType,
    RegistrationStatusEnumType,
    ResetEnumType,
)

from chargemesh.protocols.ocpp.common import number, parse_time, scaled, wire_time
from chargemesh.protocols.ocpp.common import readings as meter_readings
from chargemesh.protocols.ocpp.messages import (
    Boot,
    ChargerSide,
    FirmwareAnswer,
    FirmwareReport,
    FirmwareRequest,
    Reading,
    StatusReport,
    TokenCheck,
    TransactionMessage,
)

VERSION = "2.0.1"


def _value(sv: dict[str, Any]) -> float | None:
    unit = sv.get("unit_of_measure") or {}
    raw = number(sv.get("value"))
    return None if raw is None else scaled(raw * 10 ** unit.get("multiplier", 0), unit.get("unit"))


def readings(meter_value: list[dict[str, Any]] | None) -> tuple[Reading, ...]:
    return meter_readings(meter_value, _value)


def _token(id_token: dict[str, Any] | None) -> TokenCheck | None:
    if not id_token:
        return None
    return TokenCheck(str(id_token.get("id_token", "")), str(id_token.get("type", "")))


class Charger201(ChargePoint):  # type: ignore[misc]
    """One 2.0.1 charger's connection, answered by ``side``."""

    def __init__(self, charger_id: str, connection: Any, side: ChargerSide) -> None:
        super().__init__(charger_id, connection, response_timeout=30)
        self.side = side
        self.version = VERSION

    @staticmethod
    def _now() -> str:
        return wire_time(datetime.now(UTC))

    # --- what the charger tells us -------------------------------------------------------
    @on(Action.boot_notification)
    async def on_boot(self, charging_station: dict[str, Any], reason: str,
                      **kw: Any) -> result.BootNotification:  # fmt: skip
        answer = await self.side.boot(self.id, VERSION, Boot(
            charging_station.get("vendor_name"), charging_station.get("model"),
            charging_station.get("serial_number"), charging_station.get("firmware_version"),
        ))  # fmt: skip
        status = (
            RegistrationStatusEnumType.accepted if answer.accepted
            else RegistrationStatusEnumType.pending
        )  # fmt: skip
        return result.BootNotification(self._now(), answer.interval_s, status)

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> result.Heartbeat:
        await self.side.heartbeat(self.id)
        return result.Heartbeat(self._now())

    @on(Action.status_notification)
    async def on_status(self, timestamp: str, connector_status: str, evse_id: int,
                        connector_id: int, **kw: Any) -> result.StatusNotification:  # fmt: skip
        report = StatusReport(evse_id, connector_status, parse_time(timestamp))
        await self.side.status(self.id, report)
        return result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **kw: Any) -> result.Authorize:
        check = _token(id_token)
        assert check is not None
        status = await self.side.authorize(self.id, check)
        return result.Authorize(id_token_info={"status": status})

    @on(Action.transaction_event)
    async def on_transaction(self, event_type: str, timestamp: str, trigger_reason: str,
                             seq_no: int, transaction_info: dict[str, Any],
                             **kw: Any) -> result.TransactionEvent:  # fmt: skip
        token = _token(kw.get("id_token"))
        evse = kw.get("evse") or {}
        answer = await self.side.transaction(self.id, TransactionMessage(
            event_type, str(transaction_info["transaction_id"]), evse.get("id"),
            parse_time(timestamp), token, readings(kw.get("meter_value")), seq_no,
            bool(kw.get("offline", False)), transaction_info.get("stopped_reason"),
            transaction_info.get("remote_start_id"),
        ))  # fmt: skip
        if token is None:
            return result.TransactionEvent()
        return result.TransactionEvent(id_token_info={"status": answer.authorized})

    @on(Action.meter_values)
    async def on_meter(self, evse_id: int, meter_value: list[dict[str, Any]],
                       **kw: Any) -> result.MeterValues:  # fmt: skip
        return result.MeterValues()  # outside transactions: nothing a session needs

    @on(Action.firmware_status_notification)
    async def on_firmware(self, status: str, **kw: Any) -> result.FirmwareStatusNotification:
        await self.side.firmware(self.id, FirmwareReport(status, kw.get("request_id")))
        return result.FirmwareStatusNotification()

    @on(Action.notify_report)
    async def on_report(self, **kw: Any) -> result.NotifyReport:
        return result.NotifyReport()

    @on(Action.notify_event)
    async def on_event(self, **kw: Any) -> result.NotifyEvent:
        return result.NotifyEvent()

    @on(Action.security_event_notification)
    async def on_security(self, **kw: Any) -> result.SecurityEventNotification:
        return result.SecurityEventNotification()

    # --- what we ask the charger (from other tasks, never from a handler) ----------------
    async def remote_start(self, connector: int, token: str, remote_start_id: int) -> bool:
        answer = await self.call(call.RequestStartTransaction(
            id_token={"id_token": token, "type": "Central"}, remote_start_id=remote_start_id,
            evse_id=connector,
        ))  # fmt: skip
        return answer is not None and answer.status == "Accepted"

    async def remote_stop(self, transaction_id: str) -> bool:
        answer = await self.call(call.RequestStopTransaction(transaction_id=transaction_id))
        return answer is not None and answer.status == "Accepted"

    async def change_availability(self, connector: int, operative: bool) -> str | None:
        kind = (OperationalStatusEnumType.operative if operative
                else OperationalStatusEnumType.inoperative)  # fmt: skip
        answer = await self.call(call.ChangeAvailability(
            operational_status=kind, evse={"id": connector} if connector else None,
        ))  # fmt: skip
        return None if answer is None else str(answer.status)

    async def reset(self, hard: bool) -> str | None:
        kind = ResetEnumType.immediate if hard else ResetEnumType.on_idle
        answer = await self.call(call.Reset(type=kind))
        return None if answer is None else str(answer.status)

    async def unlock(self, connector: int) -> str | None:
        answer = await self.call(call.UnlockConnector(evse_id=connector, connector_id=1))
        return None if answer is None else str(answer.status)

    async def update_firmware(self, request: FirmwareRequest) -> FirmwareAnswer:
        """``UpdateFirmware`` (signed: L01.FR.11 wants the certificate); ``OCPPError`` when the
        charger refuses it with a CALLERROR."""
        r = request
        firmware: dict[str, Any] = {"location": r.location,
                                    "retrieve_date_time": wire_time(r.retrieve_at)}  # fmt: skip
        if r.signature is not None:
            firmware["signature"] = r.signature
            firmware["signing_certificate"] = r.signing_certificate
        answer = await self.call(call.UpdateFirmware(
            request_id=r.request_id, firmware=firmware, retries=r.retries,
            retry_interval=r.retry_interval_s,
        ), suppress=False)  # fmt: skip
        return FirmwareAnswer(str(answer.status), "UpdateFirmware")
