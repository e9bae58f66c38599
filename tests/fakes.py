"""An in-memory unit of work: service tests run on it without a database. Its repositories
keep plain dicts; a unit that fails leaves them as they were, as a rolled-back transaction."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from chargemesh.domain import Operator, Station, StationRemoved, Tariff, Token
from chargemesh.domain.events import Event
from chargemesh.domain.session import ChargeSession, Vehicle
from chargemesh.store.repository import OcpiObject, StatusResult, StatusUpdate, UpsertResult
from chargemesh.store.unit_of_work import UnitOfWork


class FakeRepositories:
    def __init__(self) -> None:
        self.operators: dict[str, Operator] = {}
        self.stations: dict[str, Station] = {}
        self.tariffs: dict[str, Tariff] = {}
        self.objects: dict[tuple[str, str, str, str], OcpiObject] = {}
        self.tokens: dict[str, Token] = {}
        self.sessions: dict[str, ChargeSession] = {}
        self.vehicles: dict[str, Vehicle] = {}
        self.messages: list[tuple[str, str, str, dict[str, Any]]] = []  # the inbox

    # registry
    def get_operator(self, operator_id: str) -> Operator | None:
        return self.operators.get(operator_id)

    def upsert_stations(self, stations: Iterable[Station], *, at: datetime) -> UpsertResult:
        result = UpsertResult()
        for s in stations:
            self.stations[s.id] = s
        return result

    def upsert_tariffs(self, tariffs: Iterable[Tariff]) -> int:
        kept = {t.id: t for t in tariffs}
        self.tariffs.update(kept)
        return len(kept)

    def remove_stations(self, station_ids: Iterable[str], *, at: datetime) -> list[StationRemoved]:
        gone = [self.stations.pop(i) for i in station_ids if i in self.stations]
        return [StationRemoved(s.id, s.operator_id, at) for s in gone]

    # status
    def apply_status_updates(
        self, updates: Sequence[StatusUpdate], *, objects: Sequence[OcpiObject] = ()
    ) -> StatusResult:
        self.put_ocpi_objects(objects)
        return StatusResult()

    # ocpi
    def put_ocpi_objects(self, objects: Sequence[OcpiObject]) -> None:
        for o in objects:
            self.objects[(o.module, o.country_code, o.party_id, o.object_id)] = o

    def upsert_tokens(self, tokens: Iterable[Token]) -> int:
        n = 0
        for t in tokens:
            self.tokens[t.uid.upper()] = t
            n += 1
        return n

    # inbox
    def append_inbox(
        self,
        operator_id: str,
        protocol: str,
        message: str,
        payload: Mapping[str, Any],
        *,
        at: datetime,
    ) -> int:
        self.messages.append((operator_id, protocol, message, dict(payload)))
        return len(self.messages)

    # sessions
    def get_session(self, session_id: str) -> ChargeSession | None:
        return self.sessions.get(session_id)

    session_for_update = get_session

    def create_session(self, session: ChargeSession) -> tuple[ChargeSession, bool]:
        for held in self.sessions.values():
            if session.idempotency_key is not None and (held.account_id, held.idempotency_key) == (
                session.account_id, session.idempotency_key
            ):  # fmt: skip
                return held, False
        self.sessions[session.id] = session
        return session, True

    def save_session(self, session: ChargeSession) -> None:
        self.sessions[session.id] = session

    def get_vehicle(self, vehicle_id: str) -> Vehicle | None:
        return self.vehicles.get(vehicle_id)

    def save_vehicle(self, vehicle: Vehicle) -> None:
        if vehicle.emaid and any(
            v.emaid == vehicle.emaid and v.id != vehicle.id for v in self.vehicles.values()
        ):
            raise ValueError("this EMAID is another vehicle's")
        self.vehicles[vehicle.id] = vehicle


class FakeUnitOfWork(UnitOfWork):
    def __init__(self, data: FakeRepositories | None = None) -> None:
        super().__init__()
        self.data = data or FakeRepositories()
        self.registry = self.status = self.ocpi = self.inbox = self.sessions = self.data
        self.committed: list[list[Event]] = []  # the events of each commit (the outbox)
        self._before: dict[str, Any] = {}

    def _begin(self) -> None:
        self._before = copy.deepcopy(vars(self.data))

    def _commit(self) -> None:
        self.committed.append(list(self.events))

    def _rollback(self, exc: BaseException) -> None:
        vars(self.data).update(self._before)
