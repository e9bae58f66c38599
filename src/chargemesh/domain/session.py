"""A charging session as the driver's account sees it, whatever protocol runs it, and the
charge attempt each start leaves behind for the compatibility lab.

The state machine::

    requested → starting → charging → stopping → completed
         ╲          ╲          ╲          ╲
          → failed    → failed   → failed   → failed      (always with a reason)

``starting → completed`` is allowed too (a session that ended before we heard it had begun,
e.g. a bill that overtakes the start notification), and ``starting → stopping`` (the driver
stops before the operator confirmed). Completed and failed are final.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class SessionState(StrEnum):
    REQUESTED = "requested"
    STARTING = "starting"
    CHARGING = "charging"
    STOPPING = "stopping"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (SessionState.COMPLETED, SessionState.FAILED)


_NEXT: dict[SessionState, frozenset[SessionState]] = {
    SessionState.REQUESTED: frozenset({SessionState.STARTING, SessionState.FAILED}),
    SessionState.STARTING: frozenset(
        {SessionState.CHARGING, SessionState.STOPPING, SessionState.COMPLETED, SessionState.FAILED}
    ),
    SessionState.CHARGING: frozenset(
        {SessionState.STOPPING, SessionState.COMPLETED, SessionState.FAILED}
    ),
    SessionState.STOPPING: frozenset({SessionState.COMPLETED, SessionState.FAILED}),
    SessionState.COMPLETED: frozenset(),
    SessionState.FAILED: frozenset(),
}


class StartMethod(StrEnum):
    QR_SCAN = "qr_scan"
    APP = "app"  # started from the map or the station page, without scanning
    PLUG_AND_CHARGE = "plug_and_charge"
    RFID = "rfid"  # the driver's charge card held to the charger's reader


class InvalidTransition(ValueError):
    pass


class StopCode(StrEnum):
    """Why a charge ended, in a closed vocabulary (``ChargeSession.stop_code``)."""

    BATTERY_FULL = "battery_full"  # the car (its BMS) ended it: it reached its target charge
    DRIVER = "driver"  # the driver stopped it: from the app (our stop), or at the charger
    OPERATOR = "operator"  # the operator ended it without a fault
    FAULT = "fault"  # the charger or the car failed; the detail carries the operator's code
    UNPLUGGED = "unplugged"  # the cable was pulled while charging


STOP_TEXT: dict[StopCode, str] = {
    StopCode.BATTERY_FULL: "battery full",
    StopCode.DRIVER: "stopped by the driver",
    StopCode.OPERATOR: "stopped by the operator",
    StopCode.FAULT: "fault",
    StopCode.UNPLUGGED: "unplugged",
}


def stop_text(code: StopCode, detail: str | None = None) -> str:
    """The driver's words for ``code``, with the operator's ``detail`` (e.g. its fault code)."""
    return f"{STOP_TEXT[code]} ({detail})" if detail else STOP_TEXT[code]


@dataclass(frozen=True, slots=True)
class Bill:
    """What the operator billed (T/CEC ``notification_charge_order_info``, OCPI CDR)."""

    kwh: float
    total: Decimal
    currency: str = "CNY"
    energy_cost: Decimal | None = None
    service_cost: Decimal | None = None
    reference: str | None = None  # the operator's bill id (CDR id, StartChargeSeq)


@dataclass(frozen=True, slots=True)
class ChargeSession:
    id: str
    account_id: str
    operator_id: str
    protocol: str  # "tcec", "ocpi"
    connector_id: str  # ours
    station_id: str
    method: StartMethod
    state: SessionState
    created_at: datetime
    updated_at: datetime
    vehicle_id: str | None = None
    idempotency_key: str | None = None
    protocol_ref: str | None = None  # T/CEC StartChargeSeq, OCPI authorization_reference
    remote_id: str | None = None  # OCPI: the CPO's session id
    failure_reason: str | None = None
    stop_reason: str | None = None  # the driver's words: stop_text(stop_code, detail)
    deadline: datetime | None = None  # when the current step times out
    started_at: datetime | None = None
    ended_at: datetime | None = None
    kwh: float = 0.0
    kw: float | None = None
    soc: float | None = None
    cost: Decimal | None = None  # so far, as the operator reports it
    currency: str = "CNY"
    bill: Bill | None = None
    qr: str | None = None  # the code scanned, as scanned
    stop_code: StopCode | None = None
    #: Charging time by the operator's clock (its own start time to that of its last reading,
    #: or to its end time): the time ``kwh`` and ``cost`` belong to.
    charged_s: float | None = None

    def moved(self, state: SessionState, at: datetime, **changes: object) -> ChargeSession:
        """This session in ``state`` (checked against the state machine) with ``changes``."""
        if state is not self.state and state not in _NEXT[self.state]:
            raise InvalidTransition(f"a {self.state} session cannot become {state}")
        return replace(self, state=state, updated_at=at, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Vehicle:
    id: str
    account_id: str
    vin: str  # 17 characters
    model: str
    emaid: str | None = None  # ISO 15118 contract id, for OCPI plug-and-charge
    networks: frozenset[str] = field(default_factory=frozenset)  # operators with PnC enabled


@dataclass(frozen=True, slots=True)
class ChargeAttempt:
    """One start attempt, for the compatibility lab: who, where, on what, and how it went."""

    id: str
    at: datetime
    operator_id: str
    start_method: StartMethod
    outcome: str  # "success" or "failure"
    session_id: str | None = None
    vehicle_model: str | None = None
    charger_manufacturer: str | None = None
    charger_model: str | None = None
    firmware: str | None = None
    connector_standard: str | None = None
    failure_reason: str | None = None
    source: str = "session"  # "session", or a test campaign's name
