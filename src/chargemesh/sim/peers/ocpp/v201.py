"""OCPP 2.0.1 for a simulated charge point (ISO 15118 plug-and-charge by the car's EMAID): the
client ``ChargePoint`` answering the CSMS's commands and the messages it sends.

Connector *n* of the charger is EVSE *n*, connector 1. The charger numbers its transactions
itself (a UUID) and each one's events with a gap-free ``seqNo``. Every handler answers at once
and acts afterwards (``@after``), never calling the CSMS from inside an ``@on`` handler.
``UpdateFirmware`` is always signed (:mod:`.firmware`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ocpp.routing import after, on  # type: ignore[import-untyped, unused-ignore]
from ocpp.v201 import ChargePoint, call, call_result  # type: ignore[import-untyped, unused-ignore]
from ocpp.v201.enums import Action  # type: ignore[import-untyped, unused-ignore]

from chargemesh.sim.charging import SimVehicle
from chargemesh.sim.country.own import OwnCharger
from chargemesh.sim.peers.ocpp.dialect import Then
from chargemesh.sim.peers.ocpp.firmware import FirmwareRequest
from chargemesh.sim.peers.ocpp.transaction import Reading, Token, TxMessage, ocpp_time

if TYPE_CHECKING:
    from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint

__all__ = ["Dialect201", "Link201"]

#: Neutral stop cause → (stoppedReason, triggerReason).
_ENDED: Final = {
    "remote": ("Remote", "RemoteStop"),
    "full": ("SOCLimitReached", "ChargingStateChanged"),  # the car reached its target SoC
    "unplugged": ("EVDisconnected", "EVCommunicationLost"),
    "reset_soft": ("ImmediateReset", "ResetCommand"),
    "reset_hard": ("ImmediateReset", "ResetCommand"),
    "power_loss": ("PowerLoss", "AbnormalCondition"),
    "unlock": ("Other", "UnlockCommand"),
    "deauthorized": ("DeAuthorized", "Deauthorized"),
    "local": ("Local", "StopAuthorized"),
}
_STARTED: Final = {"authorized": "Authorized", "remote_start": "RemoteStart"}
_UNLOCK: Final = {
    "unlocked": "Unlocked",
    "failed": "UnlockFailed",
    "unknown": "UnknownConnector",
    "ongoing": "OngoingAuthorizedTransaction",
}
_OCCUPIED: Final = {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"}


class Link201(ChargePoint):  # type: ignore[misc]
    """The charger's side of one OCPP 2.0.1 connection."""

    def __init__(self, cp: SimChargePoint, connection: Any) -> None:
        super().__init__(cp.id, connection, response_timeout=cp.response_timeout_s)
        self.sim = cp
        self._then: Then | None = None

    def _answer(self, then: Then | None) -> None:
        self._then = then

    def _after(self) -> None:
        then, self._then = self._then, None
        if then is not None:
            then()

    @on(Action.request_start_transaction)
    def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> Any:
        token = Token(id_token["id_token"], id_token["type"])
        status, then = self.sim.remote_start(evse_id, token, remote_start_id)
        self._answer(then)
        return call_result.RequestStartTransaction(status=status)

    @after(Action.request_start_transaction)
    def after_request_start(self, **_: Any) -> None:
        self._after()

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        status, then = self.sim.remote_stop(transaction_id)
        self._answer(then)
        return call_result.RequestStopTransaction(status=status)

    @after(Action.request_stop_transaction)
    def after_request_stop(self, **_: Any) -> None:
        self._after()

    @on(Action.change_availability)
    def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        connector = int(evse["id"]) if evse else 0
        status, then = self.sim.change_availability(connector, operational_status == "Operative")
        self._answer(then)
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, **_: Any) -> None:
        self._after()

    @on(Action.reset)
    def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        if evse_id is not None:
            self._answer(None)  # resetting one EVSE is not something these chargers do
            return call_result.Reset(status="Rejected")
        status, then = self.sim.reset(hard=type == "Immediate")
        self._answer(then)
        return call_result.Reset(status=status)

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self._after()

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        if connector_id != 1:
            self._answer(None)
            return call_result.UnlockConnector(status="UnknownConnector")
        status, then = self.sim.unlock(evse_id, stop_running=False)
        self._answer(then)
        return call_result.UnlockConnector(status=_UNLOCK[status])

    @after(Action.unlock_connector)
    def after_unlock_connector(self, **_: Any) -> None:
        self._after()

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> Any:
        request = FirmwareRequest.signed(request_id, firmware, retries, retry_interval)
        status, then = self.sim.update_firmware(request)
        self._answer(then)
        return call_result.UpdateFirmware(status=status)

    @after(Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        self._after()


def _sample(reading: Reading, context: str) -> dict[str, Any]:
    return {
        "timestamp": ocpp_time(reading.at),
        "sampled_value": [
            {"value": reading.energy_wh, "context": context,
             "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}},
            {"value": reading.power_w, "context": context, "measurand": "Power.Active.Import",
             "unit_of_measure": {"unit": "W"}},
            {"value": reading.soc, "context": context, "measurand": "SoC", "location": "EV",
             "unit_of_measure": {"unit": "Percent"}},
        ],
    }  # fmt: skip


class Dialect201:
    """OCPP 2.0.1: EVSE *n* connector 1 is the charger's connector *n*."""

    version: Final = "2.0.1"
    subprotocol: Final = "ocpp2.0.1"

    def link(self, cp: SimChargePoint, connection: Any) -> Link201:
        return Link201(cp, connection)

    def boot(self, c: OwnCharger, firmware: str, reason: str) -> Any:
        return call.BootNotification(
            charging_station={
                "model": c.model,
                "vendor_name": c.vendor,
                "serial_number": c.serial,
                "firmware_version": firmware,
            },
            reason=reason,
        )

    def heartbeat(self) -> Any:
        return call.Heartbeat()

    def wire_status(self, state: str) -> str:
        return "Occupied" if state in _OCCUPIED else state

    def status(self, connector: int, state: str, at: str) -> Any:
        return call.StatusNotification(
            timestamp=at,
            connector_status=self.wire_status(state),
            evse_id=connector,
            connector_id=1,
        )

    def pnc_token(self, vehicle: SimVehicle) -> Token | None:
        return Token(vehicle.emaid, "eMAID") if vehicle.emaid else None

    def card_token(self, uid: str) -> Token:
        return Token(uid, "ISO14443")

    def authorize(self, token: Token) -> Any:
        return call.Authorize(id_token={"id_token": token.value, "type": token.kind})

    def accepted(self, result: Any) -> bool:
        return bool(result.id_token_info.get("status") == "Accepted")

    def message(self, msg: TxMessage) -> Any | None:
        tx, r = msg.tx, msg.reading
        info: dict[str, Any] = {"transaction_id": str(tx.transaction_id)}
        extra: dict[str, Any] = {}
        if msg.stage == "start":
            event, trigger, context = "Started", _STARTED[msg.trigger], "Transaction.Begin"
            info["charging_state"] = "Charging"
            if tx.remote_start_id is not None:
                info["remote_start_id"] = tx.remote_start_id
            extra["id_token"] = {"id_token": tx.token.value, "type": tx.token.kind}
            extra["evse"] = {"id": tx.connector, "connector_id": 1}
        elif msg.stage == "meter":
            event, trigger, context = "Updated", "MeterValuePeriodic", "Sample.Periodic"
            info["charging_state"] = "Charging"
        else:
            reason, trigger = _ENDED[msg.reason or "local"]
            event, context = "Ended", "Transaction.End"
            info["stopped_reason"] = reason
            info["charging_state"] = "EVConnected" if msg.reason != "unplugged" else "Idle"
        return call.TransactionEvent(
            event_type=event,
            timestamp=ocpp_time(r.at),
            trigger_reason=trigger,
            seq_no=msg.seq_no,
            transaction_info=info,
            meter_value=[_sample(r, context)],
            offline=True if msg.offline else None,
            **extra,
        )

    def on_result(self, msg: TxMessage, result: Any) -> None:
        if msg.stage == "stop":
            return
        info = getattr(result, "id_token_info", None) if result is not None else None
        refused = info is not None and info.get("status") not in (None, "Accepted")
        if refused or (msg.stage == "start" and result is None):
            msg.tx.deauthorized = True

    def firmware_status(self, status: str, request_id: int | None) -> Any:
        return call.FirmwareStatusNotification(status=status, request_id=request_id)
