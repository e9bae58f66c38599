"""The unit of work: one transaction over one repository per area, with the events it causes.

``with store.unit_of_work() as uow:`` (or ``async with``) opens one transaction; what the body
does through ``uow.registry``, ``uow.status``, ``uow.ocpi`` and ``uow.sessions`` commits
together on exit (rolls back on error), and the events the body ``collect``\\ s are written to the
outbox in that same transaction, so a change and the news of it are kept or lost together.

The repositories are narrow ports (the methods the use cases need), so a service written
against them runs on the SQL store or on an in-memory fake (tests/fakes.py) alike. The SQL
store's repositories are its existing SQL, joined to the open transaction.

The body of an ``async with`` does not await: the transaction holds the store's connection, and
a body that yielded to the loop mid-transaction would let other tasks queue behind it. Work
that must not block the loop runs the sync form in ``asyncio.to_thread``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from chargemesh.domain import Operator, Station, StationRemoved, Tariff, Token
from chargemesh.domain.events import Event
from chargemesh.domain.session import ChargeSession, Vehicle
from chargemesh.store.repository import (
    OcpiObject,
    StatusResult,
    StatusUpdate,
    UpsertResult,
)


class RegistryRepository(Protocol):
    """Operators and their stations."""

    def get_operator(self, operator_id: str) -> Operator | None: ...

    def upsert_stations(self, stations: Iterable[Station], *, at: datetime) -> UpsertResult: ...

    def upsert_tariffs(self, tariffs: Iterable[Tariff]) -> int: ...

    def remove_stations(
        self, station_ids: Iterable[str], *, at: datetime
    ) -> list[StationRemoved]: ...


class StatusRepository(Protocol):
    """Connector status and its history."""

    def apply_status_updates(
        self, updates: Sequence[StatusUpdate], *, objects: Sequence[OcpiObject] = ()
    ) -> StatusResult: ...


class OcpiRepository(Protocol):
    """The OCPI objects parties sent us, and the tokens we own."""

    def put_ocpi_objects(self, objects: Sequence[OcpiObject]) -> None: ...

    def upsert_tokens(self, tokens: Iterable[Token]) -> int: ...


class InboxRepository(Protocol):
    """The protocol messages we acknowledged, kept for their consumers."""

    def append_inbox(
        self,
        operator_id: str,
        protocol: str,
        message: str,
        payload: Mapping[str, Any],
        *,
        at: datetime,
    ) -> int: ...


class SessionRepository(Protocol):
    """Charging sessions and the drivers' vehicles."""

    def get_session(self, session_id: str) -> ChargeSession | None: ...

    def create_session(self, session: ChargeSession) -> tuple[ChargeSession, bool]:
        """Insert ``session``, or find the one its idempotency key made: (session, created)."""

    def session_for_update(self, session_id: str) -> ChargeSession | None:
        """The session, held against concurrent changes until the unit of work ends (a row
        lock on PostgreSQL, the write lock on SQLite): what serializes a session's changes
        across tasks and processes."""

    def save_session(self, session: ChargeSession) -> None: ...

    def get_vehicle(self, vehicle_id: str) -> Vehicle | None: ...

    def save_vehicle(self, vehicle: Vehicle) -> None: ...


class UnitOfWork(ABC):
    registry: RegistryRepository
    status: StatusRepository
    ocpi: OcpiRepository
    inbox: InboxRepository
    sessions: SessionRepository

    def __init__(self) -> None:
        self.events: list[Event] = []

    def collect(self, events: Iterable[Event]) -> None:
        """Events this unit causes: written to the outbox with its changes, published after."""
        self.events.extend(events)

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None:
        """Write the collected events and commit the transaction."""

    @abstractmethod
    def _rollback(self, exc: BaseException) -> None: ...

    def __enter__(self) -> Self:
        self.events = []
        self._begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self._commit()
        else:
            self._rollback(exc)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, exc, tb)
