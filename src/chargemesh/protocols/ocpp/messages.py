"""What chargers tell the CSMS and what it asks them, whatever their OCPP version.

Connector *n* is OCPP 1.6 ``connectorId`` *n*, or 2.0.1 EVSE *n* connector 1. Statuses keep
their wire names (``Charging``, ``Occupied``…): :func:`status_of` is their meaning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from chargemesh.domain import ConnectorStatus

V16: Final = "ocpp1.6"
V201: Final = "ocpp2.0.1"
SUBPROTOCOLS: Final = (V201, V16)  # ours, most preferred first
VERSIONS: Final = {V16: "1.6", V201: "2.0.1"}

_STATUS: Final = {
    "Available": ConnectorStatus.AVAILABLE,
    "Preparing": ConnectorStatus.OCCUPIED,
    "Charging": ConnectorStatus.CHARGING,
    "SuspendedEV": ConnectorStatus.CHARGING,  # a session holds it: not free
    "SuspendedEVSE": ConnectorStatus.CHARGING,
    "Finishing": ConnectorStatus.OCCUPIED,
    "Occupied": ConnectorStatus.OCCUPIED,
    "Reserved": ConnectorStatus.RESERVED,
    "Unavailable": ConnectorStatus.OFFLINE,
    "Faulted": ConnectorStatus.FAULTED,
}


def status_of(wire: str) -> ConnectorStatus:
    """The registry's status for a connector status as 1.6 or 2.0.1 names it."""
    return _STATUS.get(wire, ConnectorStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class Boot:
    vendor: str | None
    model: str | None
    serial: str | None
    firmware: str | None


@dataclass(frozen=True, slots=True)
class BootAnswer:
    accepted: bool  # False: Pending, come back after ``interval_s``
    interval_s: int


@dataclass(frozen=True, slots=True)
class StatusReport:
    connector: int  # 0: the whole charger (1.6)
    status: str  # as on the wire
    at: datetime
    error_code: str | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of a transaction's meter (None where the charger did not send it)."""

    at: datetime
    wh: float | None = None  # Energy.Active.Import.Register
    w: float | None = None  # Power.Active.Import
    soc: float | None = None  # %


@dataclass(frozen=True, slots=True)
class TokenCheck:
    token: str
    kind: str  # "idTag" (1.6), or the 2.0.1 idToken type: Central, eMAID, ISO14443…


@dataclass(frozen=True, slots=True)
class TransactionMessage:
    """A transaction's start, reading or end (1.6 Start/MeterValues/StopTransaction, 2.0.1
    TransactionEvent). ``transaction_id`` None: a 1.6 start (the CSMS gives the id)."""

    event: str  # "Started", "Updated", "Ended"
    transaction_id: str | None
    connector: int | None
    at: datetime
    token: TokenCheck | None = None
    readings: tuple[Reading, ...] = ()
    seq_no: int | None = None  # 2.0.1: a replay of a seen seqNo counts once
    offline: bool = False
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    meter_wh: float | None = None  # 1.6 meterStart / meterStop


@dataclass(frozen=True, slots=True)
class TransactionAnswer:
    authorized: str  # the authorization status: Accepted, Invalid, Blocked…
    transaction_id: str | None = None  # 1.6 start: the id the CSMS gives


@dataclass(frozen=True, slots=True)
class FirmwareReport:
    status: str
    request_id: int | None = None


@dataclass(frozen=True, slots=True)
class FirmwareRequest:
    """An update we ask a charger for: OCPP 2.0.1 ``UpdateFirmware`` and the 1.6 security
    extension's ``SignedUpdateFirmware`` carry all of it; 1.6 core ``UpdateFirmware`` only the
    location, the retrieve date and the retries."""

    location: str
    retrieve_at: datetime
    request_id: int
    retries: int
    retry_interval_s: int
    signature: str | None = None
    signing_certificate: str | None = None


@dataclass(frozen=True, slots=True)
class FirmwareAnswer:
    status: str  # Accepted, Rejected, AcceptedCanceled, InvalidCertificate, RevokedCertificate
    message: str  # what was sent: UpdateFirmware (1.6 core or 2.0.1) or SignedUpdateFirmware


class ChargerSide(Protocol):
    """What the CSMS answers a charger (``charger_id``), version-neutral. Each call returns
    only after what it changed is committed: the charger is answered after that."""

    async def boot(self, charger_id: str, version: str, boot: Boot) -> BootAnswer: ...

    async def heartbeat(self, charger_id: str) -> None: ...

    async def status(self, charger_id: str, report: StatusReport) -> None: ...

    async def authorize(self, charger_id: str, check: TokenCheck) -> str: ...

    async def transaction(
        self, charger_id: str, message: TransactionMessage
    ) -> TransactionAnswer: ...

    async def firmware(self, charger_id: str, report: FirmwareReport) -> None: ...
