"""OCPP 1.6J for a simulated charge point (GB/T piles: plug-and-charge by the car's VIN as the
``idTag``): the client ``ChargePoint`` answering the CSMS's commands and the messages it sends.

Firmware: core ``UpdateFirmware`` on every charger; ``SignedUpdateFirmware`` (the security
extension, whitepaper ed. 2) only on a charger that has it — the others answer it with the
CALLERROR ``NotImplemented``, as a charger without the extension does.

Every handler answers at once and acts afterwards (``@after``): a CALL sent from inside an ``@on``
handler would wait for an answer the receive loop cannot read until the handler returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ocpp.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    NotImplementedError as OcppNotImplemented,
)
from ocpp.routing import after, on  # type: ignore[import-untyped, unused-ignore]
from ocpp.v16 import ChargePoint, call, call_result  # type: ignore[import-untyped, unused-ignore]
from ocpp.v16.enums import Action  # type: ignore[import-untyped, unused-ignore]

from chargemesh.sim.charging import SimVehicle
from chargemesh.sim.country.own import OwnCharger
from chargemesh.sim.peers.ocpp.dialect import Then
from chargemesh.sim.peers.ocpp.firmware import FirmwareRequest, ocpp_when
from chargemesh.sim.peers.ocpp.transaction import Reading, Token, TxMessage, ocpp_time

if TYPE_CHECKING:
    from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint

__all__ = ["Dialect16", "Link16"]

_REASONS: Final = {
    "remote": "Remote",
    "full": "Local",  # the BMS ended the charge; the pile stops it locally
    "unplugged": "EVDisconnected",
    "reset_soft": "SoftReset",
    "reset_hard": "HardReset",
    "power_loss": "PowerLoss",
    "unlock": "UnlockCommand",
    "deauthorized": "DeAuthorized",
    "local": "Local",
}
_UNLOCK: Final = {"unlocked": "Unlocked", "failed": "UnlockFailed", "unknown": "NotSupported"}


class Link16(ChargePoint):  # type: ignore[misc]
    """The charger's side of one OCPP 1.6J connection."""

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

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        status, then = self.sim.remote_start(connector_id, Token(id_tag), None)
        self._answer(then)
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    def after_remote_start(self, **_: Any) -> None:
        self._after()

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        status, then = self.sim.remote_stop(transaction_id)
        self._answer(then)
        return call_result.RemoteStopTransaction(status=status)

    @after(Action.remote_stop_transaction)
    def after_remote_stop(self, **_: Any) -> None:
        self._after()

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        status, then = self.sim.change_availability(connector_id, type == "Operative")
        self._answer(then)
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, **_: Any) -> None:
        self._after()

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        status, then = self.sim.reset(hard=type == "Hard")
        self._answer(then)
        return call_result.Reset(status=status)

    @after(Action.reset)
    def after_reset(self, **_: Any) -> None:
        self._after()

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> Any:
        status, then = self.sim.unlock(connector_id, stop_running=True)
        self._answer(then)
        return call_result.UnlockConnector(status=_UNLOCK[status])

    @after(Action.unlock_connector)
    def after_unlock_connector(self, **_: Any) -> None:
        self._after()

    @on(Action.update_firmware)
    def on_update_firmware(
        self,
        location: str,
        retrieve_date: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> Any:
        request = FirmwareRequest(location, ocpp_when(retrieve_date), retries, retry_interval)
        _status, then = self.sim.update_firmware(request)  # one under way: this one is ignored
        self._answer(then)
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, **_: Any) -> None:
        self._after()

    @on(Action.signed_update_firmware)
    def on_signed_update_firmware(
        self,
        request_id: int,
        firmware: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
        **_: Any,
    ) -> Any:
        if not self.sim.charger.security_extension:
            raise OcppNotImplemented(details={"cause": "no OCPP 1.6 security extension"})
        request = FirmwareRequest.signed(request_id, firmware, retries, retry_interval)
        status, then = self.sim.update_firmware(request)
        self._answer(then)
        return call_result.SignedUpdateFirmware(status=status)

    @after(Action.signed_update_firmware)
    def after_signed_update_firmware(self, **_: Any) -> None:
        self._after()


def _sample(reading: Reading, context: str) -> dict[str, Any]:
    return {
        "timestamp": ocpp_time(reading.at),
        "sampled_value": [
            {"value": str(reading.energy_wh), "context": context,
             "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(reading.power_w), "context": context,
             "measurand": "Power.Active.Import", "unit": "W"},
            {"value": f"{reading.soc:.1f}", "context": context, "measurand": "SoC",
             "location": "EV", "unit": "Percent"},
        ],
    }  # fmt: skip


class Dialect16:
    """OCPP 1.6J: connector *n* is ``connectorId`` *n*; the CSMS numbers transactions."""

    version: Final = "1.6"
    subprotocol: Final = "ocpp1.6"

    def link(self, cp: SimChargePoint, connection: Any) -> Link16:
        return Link16(cp, connection)

    def boot(self, c: OwnCharger, firmware: str, reason: str) -> Any:
        return call.BootNotification(  # 1.6 gives no reason
            charge_point_model=c.model,
            charge_point_vendor=c.vendor,
            charge_point_serial_number=c.serial,
            firmware_version=firmware,
        )

    def heartbeat(self) -> Any:
        return call.Heartbeat()

    def wire_status(self, state: str) -> str:
        return state

    def status(self, connector: int, state: str, at: str) -> Any:
        return call.StatusNotification(
            connector_id=connector,
            error_code="OtherError" if state == "Faulted" else "NoError",
            status=state,
            timestamp=at,
        )

    def pnc_token(self, vehicle: SimVehicle) -> Token | None:
        return Token(vehicle.vin)  # GB/T: the pile reads the VIN from the BMS

    def card_token(self, uid: str) -> Token:
        return Token(uid)  # the card's UID as the idTag

    def authorize(self, token: Token) -> Any:
        return call.Authorize(id_tag=token.value)

    def accepted(self, result: Any) -> bool:
        return bool(result.id_tag_info.get("status") == "Accepted")

    def message(self, msg: TxMessage) -> Any | None:
        tx, r = msg.tx, msg.reading
        if msg.stage == "start":
            return call.StartTransaction(
                connector_id=tx.connector,
                id_tag=tx.token.value,
                meter_start=r.energy_wh,
                timestamp=ocpp_time(r.at),
            )
        if not isinstance(tx.transaction_id, int):
            return None  # the CSMS never numbered it (its StartTransaction was refused)
        if msg.stage == "meter":
            return call.MeterValues(
                connector_id=tx.connector,
                transaction_id=tx.transaction_id,
                meter_value=[_sample(r, "Sample.Periodic")],
            )
        return call.StopTransaction(
            meter_stop=r.energy_wh,
            timestamp=ocpp_time(r.at),
            transaction_id=tx.transaction_id,
            reason=_REASONS[msg.reason or "local"],
            transaction_data=[_sample(r, "Transaction.End")],
        )

    def on_result(self, msg: TxMessage, result: Any) -> None:
        if msg.stage != "start":
            return
        if result is None:
            msg.tx.deauthorized = True
            return
        msg.tx.transaction_id = int(result.transaction_id)
        if result.id_tag_info.get("status") != "Accepted":
            msg.tx.deauthorized = True

    def firmware_status(self, status: str, request_id: int | None) -> Any:
        if request_id is None:
            return call.FirmwareStatusNotification(status=status)
        return call.SignedFirmwareStatusNotification(status=status, request_id=request_id)
