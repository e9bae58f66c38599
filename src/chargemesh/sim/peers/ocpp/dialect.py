"""What differs between OCPP 1.6J and 2.0.1 for a simulated charge point, behind one interface:
the ``ocpp`` library's client class for a connection (:class:`Link`) and the messages the
charger sends (:class:`Dialect`), built from version-neutral facts.

The neutral vocabulary: connector states are 1.6's ``ChargePointStatus`` names (``Available``,
``Preparing``, ``Charging``, ``SuspendedEV``, ``Finishing``, ``Unavailable``, ``Faulted``; 2.0.1
sends ``Occupied`` for the middle ones); why a charge ended is a :data:`StopCause`; how one
started is ``"authorized"`` (plug-and-charge or a card) or ``"remote_start"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from chargemesh.sim.charging import SimVehicle
from chargemesh.sim.country.own import OwnCharger
from chargemesh.sim.peers.ocpp.transaction import Token, TxMessage

if TYPE_CHECKING:
    from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint

__all__ = ["STATES", "Answer", "Dialect", "Link", "StopCause", "Then"]

#: The connector states a simulated charger goes through (1.6 names).
STATES: Final = (
    "Available", "Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing",
    "Reserved", "Unavailable", "Faulted",
)  # fmt: skip
StopCause = Literal[
    "remote",
    "full",
    "unplugged",
    "reset_soft",
    "reset_hard",
    "unlock",
    "deauthorized",
    "local",
    "power_loss",
]
#: What the charger does once its answer to the CSMS has gone out (never inside the handler).
Then = Callable[[], None]
#: A neutral answer to a CSMS command and what to do after sending it.
Answer = tuple[str, Then | None]


class Link(Protocol):
    """One websocket connection as the ``ocpp`` library's ``ChargePoint`` (client side)."""

    async def start(self) -> None: ...

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any: ...


class Dialect(Protocol):
    """One OCPP version's messages for a simulated charge point."""

    @property
    def version(self) -> str: ...

    @property
    def subprotocol(self) -> str: ...

    def link(self, cp: SimChargePoint, connection: Any) -> Link: ...

    def boot(self, charger: OwnCharger, firmware: str, reason: str) -> Any: ...

    def heartbeat(self) -> Any: ...

    def wire_status(self, state: str) -> str: ...

    def status(self, connector: int, state: str, at: str) -> Any: ...

    def pnc_token(self, vehicle: SimVehicle) -> Token | None: ...

    def card_token(self, uid: str) -> Token: ...

    def authorize(self, token: Token) -> Any: ...

    def accepted(self, result: Any) -> bool: ...

    def message(self, msg: TxMessage) -> Any | None: ...

    def on_result(self, msg: TxMessage, result: Any) -> None: ...

    def firmware_status(self, status: str, request_id: int | None) -> Any:
        """A firmware update's status (``request_id``: that of a signed update, else ``None``)."""
        ...
