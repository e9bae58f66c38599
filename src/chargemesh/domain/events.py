"""What happened in the registry. Handlers (search index, live views, analytics) subscribe.

Every event travels through the outbox (store/outbox_sql.py): ``event_id`` is its outbox row's
id, set when it is relayed, so a handler that must not act twice ignores a repeat by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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


Event = (
    StationAdded | StationChanged | StationRemoved | StatusChanged | StatusConfirmed
    | SessionUpdated
)  # fmt: skip
