"""OCPP 1.6J: the CSMS side of one charger's connection (``ocpp.v16.ChargePoint``).

Handlers map the wire to :mod:`.messages` and answer from the CSMS's :class:`ChargerSide`;
they never ``await self.call`` (the library would deadlock: its receive loop waits for the
handler). Commands to the charger are methods awaited from other tasks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.exceptions import NotImplementedError, NotSupportedError
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call
from ocpp.v16 import call_result as result
from ocpp.v16.enums import (
    Action,
    AvailabilityType,
    RegistrationStatus,
    ResetType,
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

VERSION = "1.6"


def _value(sv: dict[str, Any]) -> float | None:
    return scaled(number(sv.get("value")), sv.get("unit"))


def readings(meter_value: list[dict[str, Any]] | None) -> tuple[Reading, ...]:
    return meter_readings(meter_value, _value)


class Charger16(ChargePoint):  # type: ignore[misc]
    """One 1.6J charger's connection, answered by ``side``."""

    def __init__(self, charger_id: str, connection: Any, side: ChargerSide) -> None:
        super().__init__(charger_id, connection, response_timeout=30)
        self.side = side
        self.version = VERSION

    @staticmethod
    def _now() -> str:
        return wire_time(datetime.now(UTC))

    # --- what the charger tells us -------------------------------------------------------
    @on(Action.boot_notification)
    async def on_boot(self, charge_point_vendor: str, charge_point_model: str,
                      **kw: Any) -> result.BootNotification:  # fmt: skip
        answer = await self.side.boot(self.id, VERSION, Boot(
            charge_point_vendor, charge_point_model,
            kw.get("charge_point_serial_number") or kw.get("charge_box_serial_number"),
            kw.get("firmware_version"),
        ))  # fmt: skip
        status = RegistrationStatus.accepted if answer.accepted else RegistrationStatus.pending
        return result.BootNotification(self._now(), answer.interval_s, status)

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> result.Heartbeat:
        await self.side.heartbeat(self.id)
        return result.Heartbeat(self._now())

    @on(Action.status_notification)
    async def on_status(self, connector_id: int, error_code: str, status: str,
                        **kw: Any) -> result.StatusNotification:  # fmt: skip
        at = parse_time(kw.get("timestamp"))
        await self.side.status(self.id, StatusReport(connector_id, status, at, error_code))
        return result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> result.Authorize:
        status = await self.side.authorize(self.id, TokenCheck(id_tag, "idTag"))
        return result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    async def on_start(self, connector_id: int, id_tag: str, meter_start: int, timestamp: str,
                       **kw: Any) -> result.StartTransaction:  # fmt: skip
        answer = await self.side.transaction(self.id, TransactionMessage(
            "Started", None, connector_id, parse_time(timestamp), TokenCheck(id_tag, "idTag"),
            meter_wh=float(meter_start),
        ))  # fmt: skip
        return result.StartTransaction(
            transaction_id=int(answer.transaction_id or 0),
            id_tag_info={"status": answer.authorized},
        )

    @on(Action.meter_values)
    async def on_meter(self, connector_id: int, meter_value: list[dict[str, Any]],
                       **kw: Any) -> result.MeterValues:  # fmt: skip
        transaction = kw.get("transaction_id")
        samples = readings(meter_value)
        if transaction is not None and samples:
            await self.side.transaction(self.id, TransactionMessage(
                "Updated", str(transaction), connector_id, samples[-1].at, readings=samples,
            ))  # fmt: skip
        return result.MeterValues()

    @on(Action.stop_transaction)
    async def on_stop(self, meter_stop: int, timestamp: str, transaction_id: int,
                      **kw: Any) -> result.StopTransaction:  # fmt: skip
        token = TokenCheck(kw["id_tag"], "idTag") if kw.get("id_tag") else None
        answer = await self.side.transaction(self.id, TransactionMessage(
            "Ended", str(transaction_id), None, parse_time(timestamp), token,
            readings=readings(kw.get("transaction_data")), meter_wh=float(meter_stop),
            stopped_reason=kw.get("reason") or "Local",
        ))  # fmt: skip
        info = {"status": answer.authorized} if token else None
        return result.StopTransaction(id_tag_info=info)

    @on(Action.firmware_status_notification)
    async def on_firmware(self, status: str) -> result.FirmwareStatusNotification:
        await self.side.firmware(self.id, FirmwareReport(status))
        return result.FirmwareStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware(
        self, status: str, request_id: int | None = None, **_: Any
    ) -> result.SignedFirmwareStatusNotification:
        await self.side.firmware(self.id, FirmwareReport(status, request_id))
        return result.SignedFirmwareStatusNotification()

    @on(Action.security_event_notification)
    async def on_security(self, **_: Any) -> result.SecurityEventNotification:
        return result.SecurityEventNotification()

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics(self, status: str) -> result.DiagnosticsStatusNotification:
        return result.DiagnosticsStatusNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kw: Any) -> result.DataTransfer:
        return result.DataTransfer(status="UnknownVendorId")

    # --- what we ask the charger (from other tasks, never from a handler) ----------------
    async def remote_start(self, connector: int, token: str, remote_start_id: int) -> bool:
        answer = await self.call(call.RemoteStartTransaction(id_tag=token, connector_id=connector))
        return answer is not None and answer.status == "Accepted"

    async def remote_stop(self, transaction_id: str) -> bool:
        answer = await self.call(call.RemoteStopTransaction(transaction_id=int(transaction_id)))
        return answer is not None and answer.status == "Accepted"

    async def change_availability(self, connector: int, operative: bool) -> str | None:
        kind = AvailabilityType.operative if operative else AvailabilityType.inoperative
        answer = await self.call(call.ChangeAvailability(connector_id=connector, type=kind))
        return None if answer is None else str(answer.status)

    async def reset(self, hard: bool) -> str | None:
        kind = ResetType.hard if hard else ResetType.soft
        answer = await self.call(call.Reset(type=kind))
        return None if answer is None else str(answer.status)

    async def unlock(self, connector: int) -> str | None:
        answer = await self.call(call.UnlockConnector(connector_id=connector))
        return None if answer is None else str(answer.status)

    async def update_firmware(self, request: FirmwareRequest) -> FirmwareAnswer:
        """A signed update (the security extension) when there is a signature; a charger that
        answers it ``NotImplemented``/``NotSupported`` (1.6 core only) gets ``UpdateFirmware``,
        which has no answer but its acknowledgement. ``OCPPError`` for other refusals."""
        r = request
        if r.signature is not None and r.signing_certificate is not None:
            try:
                firmware = {
                    "location": r.location, "retrieve_date_time": wire_time(r.retrieve_at),
                    "signing_certificate": r.signing_certificate, "signature": r.signature,
                }  # fmt: skip
                answer = await self.call(call.SignedUpdateFirmware(
                    request_id=r.request_id, retries=r.retries, retry_interval=r.retry_interval_s,
                    firmware=firmware,
                ), suppress=False)  # fmt: skip
                return FirmwareAnswer(str(answer.status), "SignedUpdateFirmware")
            except (NotImplementedError, NotSupportedError):
                pass  # 1.6 core: the plain update
        await self.call(call.UpdateFirmware(
            location=r.location, retrieve_date=wire_time(r.retrieve_at), retries=r.retries,
            retry_interval=r.retry_interval_s,
        ), suppress=False)  # fmt: skip
        return FirmwareAnswer("Accepted", "UpdateFirmware")
