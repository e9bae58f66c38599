"""The repository in SQL, shared by the SQLite and PostgreSQL backends.

Statements are written once with ``?`` placeholders and the standard upsert form
(``INSERT … ON CONFLICT … DO UPDATE SET c = excluded.c``) that both databases speak; a backend
supplies only what really differs: connecting, transactions, time values and the bulk path.
"""

from __future__ import annotations

import json
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from itertools import islice
from typing import Any

from chargemesh.domain import (
    ConnectorStatus,
    Evse,
    Operator,
    Station,
    StationAdded,
    StationChanged,
    StationRemoved,
    StatusChanged,
    Tariff,
)
from chargemesh.store import codec
from chargemesh.store.accounts_sql import AccountTables
from chargemesh.store.coverage_sql import CoverageTables
from chargemesh.store.csms_sql import CsmsTables
from chargemesh.store.firmware_sql import FirmwareTables
from chargemesh.store.health_sql import HealthTables
from chargemesh.store.ingest_sql import IngestTables
from chargemesh.store.ocpi_sql import OcpiTables
from chargemesh.store.outbox_sql import OutboxTables, OutboxWatcher
from chargemesh.store.reliability_sql import ReliabilityTables
from chargemesh.store.repository import (
    InboxMessage,
    OcpiObject,
    Outcome,
    RegistryCounts,
    StatusRecord,
    StatusResult,
    StatusUpdate,
    Store,
    StoreError,
    UpsertResult,
)
from chargemesh.store.search_sql import PHYSICAL_STATION, SearchTables
from chargemesh.store.sessions_sql import SessionTables
from chargemesh.store.sql_unit import AMBIENT as _AMBIENT
from chargemesh.store.sql_unit import SqlUnitOfWork
from chargemesh.store.tcec_sql import TcecTables

CHUNK = 2000  # stations per write batch
ID_BATCH = 500  # ids per IN (…) lookup


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _upsert_sql(table: str, columns: Sequence[str], update: Sequence[str]) -> str:
    sets = ", ".join(f"{c} = excluded.{c}" for c in update)
    marks = ", ".join("?" for _ in columns)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) "
        f"ON CONFLICT (id) DO UPDATE SET {sets}"
    )


_KEEP_FETCHED = "excluded.fetched_at IS NULL AND tariffs.fetched_at IS NOT NULL"
_UPSERT_TARIFF = (
    "INSERT INTO tariffs (id, operator_id, currency, periods, parking_fee, description, "
    "fetched_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    "operator_id = excluded.operator_id, parking_fee = excluded.parking_fee, "
    "description = excluded.description, "
    + ", ".join(
        f"{c} = CASE WHEN {_KEEP_FETCHED} THEN tariffs.{c} ELSE excluded.{c} END"
        for c in ("currency", "periods", "fetched_at")
    )
)

HISTORY_COLUMNS = (
    "connector_id", "status", "source_code", "at", "source", "previous", "previous_since",
)  # fmt: skip


_STATUSES: dict[str, ConnectorStatus] = {s.value: s for s in ConnectorStatus}


class _TimeMemo:
    """``time_in`` and the aware check, each done once per distinct datetime of a batch."""

    def __init__(self, time_in: Callable[[datetime | None], Any]) -> None:
        self._time_in = time_in
        self._out: dict[datetime | None, Any] = {}
        self._aware: dict[datetime, datetime] = {}

    def __call__(self, at: datetime | None) -> Any:
        try:
            return self._out[at]
        except KeyError:
            value = self._out[at] = self._time_in(at)
            return value

    def aware(self, at: datetime) -> datetime:
        try:
            return self._aware[at]
        except KeyError:
            value = self._aware[at] = codec.require_aware(at)
            return value


class _Rows:
    """The rows one batch writes, keyed by id so a duplicated EVSE or connector is written once."""

    def __init__(self) -> None:
        self.stations: list[tuple[Any, ...]] = []
        self.evses: dict[str, tuple[Any, ...]] = {}
        self.connectors: dict[str, tuple[Any, ...]] = {}

    def add(self, station: Station, digest: str, time_in: Callable[[datetime | None], Any]) -> None:
        self.stations.append(codec.station_row(station, digest, time_in(station.updated_at)))
        for ep, evse in enumerate(station.evses):
            self.evses[evse.id] = codec.evse_row(station.id, ep, evse)
            for cp, c in enumerate(evse.connectors):
                self.connectors[c.id] = codec.connector_row(
                    station, evse, cp, c, time_in(c.status_at), time_in(c.status_since)
                )


class SqlStore(
    AccountTables,
    CsmsTables,
    FirmwareTables,
    HealthTables,
    IngestTables,
    OcpiTables,
    SearchTables,
    SessionTables,
    CoverageTables,
    ReliabilityTables,
    TcecTables,
    OutboxTables,
    Store,
):
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._uow_thread: int | None = None  # the thread an open unit of work runs on
        self._outbox_watchers: list[OutboxWatcher] = []

    # --- transactions: one per call, or the open unit of work's ------------------------
    def _transaction(self) -> AbstractContextManager[Any]:
        """The cursor of the unit of work open in this context (its statements join that
        transaction), else a transaction of the call's own."""
        held = _AMBIENT.get()
        if held is not None and held[0] is self:
            return nullcontext(held[1])
        if self._uow_thread == threading.get_ident():
            raise StoreError(
                "a unit of work is open on this thread in another task: its body must not await"
            )
        return self._new_transaction()

    def _reading(self) -> AbstractContextManager[Any]:
        held = _AMBIENT.get()
        if held is not None and held[0] is self:
            return nullcontext(held[1])
        return self._new_read_transaction()

    def _new_read_transaction(self) -> AbstractContextManager[Any]:
        """A transaction for reads only; the backend's usual one unless it has a cheaper."""
        return self._new_transaction()

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self)

    # --- what a backend provides -------------------------------------------------------
    @abstractmethod
    def _new_transaction(self) -> AbstractContextManager[Any]:
        """Begin a transaction; yield a cursor; commit on success, roll back on error."""

    @abstractmethod
    def _time_in(self, at: datetime | None) -> Any: ...

    @abstractmethod
    def _time_out(self, value: Any) -> datetime | None: ...

    @abstractmethod
    def _sql(self, statement: str) -> str:
        """Adapt a ``?``-placeholder statement to the driver's parameter style."""

    @abstractmethod
    def _bulk_insert(
        self, cur: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert rows known to be new, by the backend's fastest path."""

    @abstractmethod
    def _bulk_upsert(
        self,
        cur: Any,
        table: str,
        columns: Sequence[str],
        update: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None: ...

    def _select_in(
        self, cur: Any, statement: str, ids: Sequence[str], *, extra: Sequence[Any] = ()
    ) -> list[Any]:
        """Run ``statement`` whose ``{ids}`` is an IN list, in batches; params: extra + ids."""
        rows: list[Any] = []
        for batch in _batches(ids, ID_BATCH):
            marks = ", ".join("?" for _ in batch)
            cur.execute(self._sql(statement.format(ids=marks)), (*extra, *batch))
            rows.extend(cur.fetchall())
        return rows

    # --- operators and tariffs -----------------------------------------------------------
    def upsert_operator(self, operator: Operator) -> None:
        sql = _upsert_sql(
            "operators",
            ("id", "name", "protocol", "capabilities", "status_freshness_s"),
            ("name", "protocol", "capabilities", "status_freshness_s"),
        )
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql(sql), codec.operator_row(operator))

    def get_operator(self, operator_id: str) -> Operator | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, name, protocol, capabilities, status_freshness_s "
                    "FROM operators WHERE id = ?"
                ),
                (operator_id,),
            )
            row = cur.fetchone()
        return codec.operator_from_row(row) if row else None

    def list_operators(self) -> list[Operator]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT id, name, protocol, capabilities, status_freshness_s "
                "FROM operators ORDER BY id"
            )
            return [codec.operator_from_row(r) for r in cur.fetchall()]

    def upsert_tariffs(self, tariffs: Iterable[Tariff]) -> int:
        """Insert or replace tariffs. A tariff written without fetched periods (T/CEC fee text
        at a sync) keeps the periods fetched from the operator that the row already holds."""
        rows = [(*codec.tariff_row(t), self._time_in(t.fetched_at)) for t in tariffs]
        with self._lock, self._transaction() as cur:
            cur.executemany(self._sql(_UPSERT_TARIFF), rows)
        return len(rows)

    def get_tariff(self, tariff_id: str) -> Tariff | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, operator_id, currency, periods, parking_fee, description, "
                    "fetched_at FROM tariffs WHERE id = ?"
                ),
                (tariff_id,),
            )
            row = cur.fetchone()
        return codec.tariff_from_row(row, self._time_out(row[6])) if row else None

    # --- stations: the bulk path ---------------------------------------------------------
    def upsert_stations(self, stations: Iterable[Station], *, at: datetime) -> UpsertResult:
        at = codec.require_aware(at)
        result = UpsertResult()
        with self._lock, self._transaction() as cur:
            for chunk in _batches(stations, CHUNK):
                self._upsert_chunk(cur, chunk, at, result)
        return result

    def _upsert_chunk(
        self, cur: Any, chunk: list[Station], at: datetime, result: UpsertResult
    ) -> None:
        by_id = {s.id: s for s in chunk}  # a feed listing a station twice: the last wins
        known = {
            r[0]: (r[1], r[2] is None)
            for r in self._select_in(
                cur, "SELECT id, fingerprint, removed_at FROM stations WHERE id IN ({ids})",
                list(by_id),
            )
        }  # fmt: skip
        # Stations never seen are inserted outright (the fast path of a first sync); stations
        # that changed, or come back after removal, are upserted and pruned.
        fresh = _Rows()
        rewrite = _Rows()
        rewritten: list[Station] = []
        for station in by_id.values():
            digest = codec.fingerprint(station)
            previous = known.get(station.id)
            if previous is None:
                result.added.append(StationAdded(station.id, station.operator_id, at))
                rows = fresh
            elif previous == (digest, True):
                result.unchanged += 1
                continue
            else:
                if previous[1]:
                    result.changed.append(StationChanged(station.id, station.operator_id, at))
                else:
                    result.added.append(StationAdded(station.id, station.operator_id, at))
                rows = rewrite
                rewritten.append(station)
            rows.add(station, digest, self._time_in)
        if rewritten:
            self._prune_children(cur, rewritten, rewrite)
        for rows, write in ((fresh, self._bulk_insert), (rewrite, self._bulk_upsert_all)):
            if rows.stations:
                write(cur, "stations", codec.STATION_COLUMNS, rows.stations)
                write(cur, "evses", codec.EVSE_COLUMNS, list(rows.evses.values()))
                write(cur, "connectors", codec.CONNECTOR_COLUMNS, list(rows.connectors.values()))
            result.evses_written += len(rows.evses)
            result.connectors_written += len(rows.connectors)

    def _bulk_upsert_all(
        self, cur: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        update = codec.CONNECTOR_STATIC_COLUMNS if table == "connectors" else columns
        self._bulk_upsert(cur, table, columns, update[1:], rows)

    def _prune_children(self, cur: Any, changed: list[Station], rows: _Rows) -> None:
        """Delete EVSEs and connectors that changed stations no longer list."""
        ids = [s.id for s in changed]
        old_connectors = [
            r[0]
            for r in self._select_in(
                cur, "SELECT id FROM connectors WHERE station_id IN ({ids})", ids
            )
        ]
        old_evses = [
            r[0]
            for r in self._select_in(cur, "SELECT id FROM evses WHERE station_id IN ({ids})", ids)
        ]
        gone_connectors = [(c,) for c in old_connectors if c not in rows.connectors]
        gone_evses = [(e,) for e in old_evses if e not in rows.evses]
        if gone_connectors:
            cur.executemany(self._sql("DELETE FROM connectors WHERE id = ?"), gone_connectors)
        if gone_evses:
            cur.executemany(
                self._sql("DELETE FROM connectors WHERE evse_id = ?"), gone_evses
            )  # connectors moved away from a vanished EVSE are re-inserted below
            cur.executemany(self._sql("DELETE FROM evses WHERE id = ?"), gone_evses)

    def remove_stations(self, station_ids: Iterable[str], *, at: datetime) -> list[StationRemoved]:
        at = codec.require_aware(at)
        ids = list(dict.fromkeys(station_ids))
        with self._lock, self._transaction() as cur:
            live = self._select_in(
                cur,
                "SELECT id, operator_id FROM stations WHERE removed_at IS NULL AND id IN ({ids})",
                ids,
            )
            cur.executemany(
                self._sql("UPDATE stations SET removed_at = ? WHERE id = ?"),
                [(self._time_in(at), r[0]) for r in live],
            )
        return [StationRemoved(r[0], r[1], at) for r in live]

    # --- stations: reading ----------------------------------------------------------------
    def get_station(self, station_id: str) -> Station | None:
        with self._lock, self._transaction() as cur:
            stations = self._load_stations(
                cur,
                "SELECT {cols} FROM stations WHERE removed_at IS NULL AND id = ?",
                (station_id,),
            )
        return stations[0] if stations else None

    def iter_stations(self, operator_id: str | None = None) -> Iterator[Station]:
        after = ""
        where = "removed_at IS NULL AND id > ?" + (" AND operator_id = ?" if operator_id else "")
        while True:
            params: tuple[Any, ...] = (after, operator_id) if operator_id else (after,)
            with self._lock, self._transaction() as cur:
                page = self._load_stations(
                    cur, "SELECT {cols} FROM stations WHERE " + where + " ORDER BY id LIMIT 500",
                    params,
                )  # fmt: skip
            if not page:
                return
            yield from page
            after = page[-1].id

    def _load_stations(self, cur: Any, statement: str, params: Sequence[Any]) -> list[Station]:
        cols = ", ".join(codec.STATION_COLUMNS)
        cur.execute(self._sql(statement.format(cols=cols)), params)
        rows = cur.fetchall()
        if not rows:
            return []
        ids = [r[0] for r in rows]
        connectors: dict[str, list[Any]] = {}
        for r in self._select_in(
            cur,
            "SELECT evse_id, id, source_id, standard, current_type, max_power_kw, max_voltage, "
            "max_current, access_methods, status, status_at, status_since FROM connectors "
            "WHERE station_id IN ({ids}) ORDER BY evse_id, position",
            ids,
        ):
            connectors.setdefault(r[0], []).append(
                codec.connector_from_row(r[1:10], self._time_out(r[10]), self._time_out(r[11]))
            )
        evses: dict[str, list[Evse]] = {}
        for r in self._select_in(
            cur,
            "SELECT station_id, id, source_id, manufacturer, model, firmware, max_power_kw, "
            "evse_code FROM evses WHERE station_id IN ({ids}) ORDER BY station_id, position",
            ids,
        ):
            evses.setdefault(r[0], []).append(
                codec.evse_from_row(r[1:], tuple(connectors.get(r[1], ())))
            )
        return [
            codec.station_from_row(r, tuple(evses.get(r[0], ())), self._time_out(r[14]))
            for r in rows
        ]

    def station_ids(self, operator_id: str) -> set[str]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql("SELECT id FROM stations WHERE removed_at IS NULL AND operator_id = ?"),
                (operator_id,),
            )
            return {r[0] for r in cur.fetchall()}

    def connector_ids_by_source(
        self, operator_id: str, source_ids: Sequence[str]
    ) -> dict[str, str]:
        with self._lock, self._transaction() as cur:
            rows = self._select_in(
                cur,
                "SELECT source_id, id FROM connectors WHERE operator_id = ? "
                "AND source_id IN ({ids})",
                list(dict.fromkeys(source_ids)),
                extra=(operator_id,),
            )
        return {r[0]: r[1] for r in rows}

    # --- status --------------------------------------------------------------------------
    def apply_status_updates(
        self, updates: Sequence[StatusUpdate], *, objects: Sequence[OcpiObject] = ()
    ) -> StatusResult:
        for u in updates:  # reject a bad batch before touching anything
            if u.status not in _STATUSES:
                raise ValueError(f"{u.status!r} is not a ConnectorStatus")
        times = _TimeMemo(self._time_in)  # a poll gives thousands of updates one timestamp
        rows = self._object_rows(objects)
        result = StatusResult()
        with self._lock, self._transaction() as cur:
            if rows:
                self._write_objects(cur, rows)
            # id -> [station_id, operator_id, status, status_at, status_since]
            current: dict[str, list[Any]] = {
                r[0]: [
                    r[1],
                    r[2],
                    _STATUSES[r[3]],
                    self._time_out(r[4]),
                    self._time_out(r[5]),
                ]
                for r in self._select_in(
                    cur,
                    "SELECT id, station_id, operator_id, status, status_at, status_since "
                    "FROM connectors WHERE id IN ({ids})",
                    list(dict.fromkeys(u.connector_id for u in updates)),
                )
            }
            history: list[tuple[Any, ...]] = []
            touched: set[str] = set()
            for u in updates:
                state = current.get(u.connector_id)
                if state is None:
                    result.unknown.append(u.connector_id)
                    result.outcomes.append(Outcome.UNKNOWN)
                    continue
                at = times.aware(u.at)
                held_at: datetime | None = state[3]
                if held_at is not None and at < held_at:
                    result.stale += 1
                    result.outcomes.append(Outcome.STALE)
                    continue
                previous: ConnectorStatus = state[2]
                if u.only_confirms and u.status != previous:  # it changed since: not ours to undo
                    result.stale += 1
                    result.outcomes.append(Outcome.STALE)
                    continue
                previous_since: datetime | None = state[4]
                state[2], state[3] = u.status, at
                touched.add(u.connector_id)
                if u.status == previous:
                    result.confirmed += 1
                    result.confirmations.append((u.connector_id, state[0], at))
                    result.outcomes.append(Outcome.CONFIRMED)
                    continue
                result.outcomes.append(Outcome.CHANGED)
                state[4] = at
                history.append(
                    (
                        u.connector_id, str(u.status), u.source_code, times(at), u.source,
                        str(previous), times(previous_since),
                    )
                )  # fmt: skip
                result.changed.append(
                    StatusChanged(
                        connector_id=u.connector_id,
                        station_id=state[0],
                        operator_id=state[1],
                        previous=previous,
                        status=u.status,
                        at=at,
                        source=u.source,
                        source_code=u.source_code,
                    )
                )
            if touched:
                cur.executemany(
                    self._sql(
                        "UPDATE connectors SET status = ?, status_at = ?, status_since = ? "
                        "WHERE id = ?"
                    ),
                    [
                        (
                            str(current[c][2]),
                            times(current[c][3]),
                            times(current[c][4]),
                            c,
                        )
                        for c in sorted(touched)
                    ],
                )
            self._bulk_insert(cur, "status_history", HISTORY_COLUMNS, history)
        return result

    def status_history(
        self,
        connector_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[StatusRecord]:
        where, params = ["connector_id = ?"], [connector_id]
        if since is not None:
            where.append("at >= ?")
            params.append(self._time_in(codec.require_aware(since)))
        if until is not None:
            where.append("at < ?")
            params.append(self._time_in(codec.require_aware(until)))
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT connector_id, status, at, source, source_code, previous, "
                    "previous_since FROM status_history "
                    f"WHERE {' AND '.join(where)} ORDER BY at, id"
                ),
                params,
            )
            rows = cur.fetchall()
        return [
            StatusRecord(
                connector_id=r[0],
                status=ConnectorStatus(r[1]),
                at=self._aware(r[2]),
                source=r[3],
                source_code=r[4],
                previous=ConnectorStatus(r[5]),
                previous_since=self._time_out(r[6]),
            )
            for r in rows
        ]

    def _aware(self, value: Any) -> datetime:
        at = self._time_out(value)
        if at is None:
            raise StoreError("a NOT NULL time column held NULL")
        return at

    def counts(self) -> RegistryCounts:
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM operators), "
                f"(SELECT count(*) FROM stations s WHERE {PHYSICAL_STATION}), "
                "(SELECT count(*) FROM evses e JOIN stations s ON s.id = e.station_id "
                f" WHERE {PHYSICAL_STATION}), "
                "(SELECT count(*) FROM connectors c JOIN stations s ON s.id = c.station_id "
                f" WHERE {PHYSICAL_STATION}), "
                "(SELECT count(*) FROM stations WHERE removed_at IS NULL)"
            )
            row = cur.fetchone()
        return RegistryCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))

    # --- protocol inbox ------------------------------------------------------------------------
    def append_inbox(
        self,
        operator_id: str,
        protocol: str,
        message: str,
        payload: Mapping[str, Any],
        *,
        at: datetime,
    ) -> int:
        at = codec.require_aware(at)
        text = json.dumps(payload, ensure_ascii=False, default=str)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO protocol_inbox (operator_id, protocol, message, payload, "
                    "received_at) VALUES (?, ?, ?, ?, ?) RETURNING id"
                ),
                (operator_id, protocol, message, text, self._time_in(at)),
            )
            row = cur.fetchone()
        return int(row[0])

    def inbox(
        self, protocol: str, message: str | None = None, operator_id: str | None = None
    ) -> list[InboxMessage]:
        where, params = ["protocol = ?"], [protocol]
        for column, value in (("message", message), ("operator_id", operator_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, operator_id, protocol, message, payload, received_at "
                    f"FROM protocol_inbox WHERE {' AND '.join(where)} ORDER BY id"
                ),
                params,
            )
            rows = cur.fetchall()
        return [
            InboxMessage(int(r[0]), r[1], r[2], r[3], json.loads(r[4]), self._aware(r[5]))
            for r in rows
        ]
