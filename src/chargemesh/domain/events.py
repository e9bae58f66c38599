"""What happened in the registry. Handlers (search index, live views, analytics) subscribe.

Every event travels through the outbox (store/outbox_sql.py): ``event_id`` is its outbox row's
id, set when it is relayed, so a handler that must not act twice ignores a repeat by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chargemesh.domain.session import ChargeSession
from chargemesh.domain.status import ConnectorStatus


@dataclass(frozen=True, slots=True)
class StationAdded:
    station_id: str
    operator_id: str
    at: datetime
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StationChanged:
    station_id: str
    operator_id: str
    at: datetime
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StationRemoved:
    station_id: str
    operator_id: str
    at: datetime
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    connector_id: str
    station_id: str
    operator_id: str
    previous: ConnectorStatus
    status: ConnectorStatus
    at: datetime  # when the operator observed it
    source: str  # which feed reported it, e.g. "tcec:push", "ocpi:patch", "tcec:poll"
    source_code: str | None = None  # the protocol's own code, kept for audits and metrics
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class StatusConfirmed:
    """Connectors whose feed confirmed their status unchanged: only when it was last observed
    moved (what keeps a status fresh). One event per applied batch."""

    connectors: tuple[tuple[str, str, datetime], ...]  # (connector_id, station_id, observed at)
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SessionUpdated:
    """A charging session changed (state, live reading or bill)."""

    session: ChargeSession
    event_id: int | None = field(default=None, compare=False)


# --- what operators told us about charging, kept in its wire form (the payload as JSON) -------
# Published to the handler tables (events/handlers.py) instead of being handed on by callback;
# the protocol's own code reads the payload.


@dataclass(frozen=True, slots=True)
class TcecNotificationReceived:
    """A T/CEC operator's charging notification (``interface``: its interface name), kept."""

    operator_id: str
    interface: str
    payload: dict[str, Any]
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OcpiSessionReceived:
    """A CPO's OCPI Session (PUT, or PATCH merged into what we held), kept."""

    operator_id: str
    session: dict[str, Any]
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OcpiCdrReceived:
    """A CPO's OCPI CDR, kept (once: CDRs are immutable)."""

    operator_id: str
    cdr: dict[str, Any]
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OcpiTokenAuthorized:
    """We answered ALLOWED to a CPO's real-time authorization of one of our tokens, under
    ``reference`` (at ``location``: its OCPI LocationReferences, when it said)."""

    operator_id: str
    token_uid: str
    reference: str
    location: dict[str, Any] | None
    event_id: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class OcpiCommandResult:
    """A CPO's CommandResult for command ``uid`` we sent it: ``result`` (ACCEPTED, FAILED,
    …) and its first message's text. Whichever process received it, the sender waits for
    this event."""

    party_id: str
    uid: str
    command: str
    result: str
    message: str | None = None
    event_id: int | None = field(default=None, compare=False)


Event = (
    StationAdded | StationChanged | StationRemoved | StatusChanged | StatusConfirmed
    | SessionUpdated | TcecNotificationReceived | OcpiSessionReceived | OcpiCdrReceived
    | OcpiTokenAuthorized | OcpiCommandResult
)  # fmt: skip
