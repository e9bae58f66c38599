"""The repository in SQL, shared by the SQLite and PostgreSQL backends.

Statements are written once with ``?`` placeholders and the standard upsert form
(``INSERT … ON CONFLICT … DO UPDATE SET c = excluded.c``) that both databases speak; a backend
supplies only what really differs: connecting, transactions, time values and the bulk path.
"""

from __future__ import annotations

import threading
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
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
from chargemesh.store.repository import (
    RegistryCounts,
    StatusRecord,
    StatusResult,
    StatusUpdate,
    Store,
    UpsertResult,
)

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


class SqlStore(Store):
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()

    # --- what a backend provides -------------------------------------------------------
    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Any]:
        """Begin a transaction; yield a cursor; commit on success, roll back on error."""

    @abstractmethod
    def _time_in(self, at: datetime | None) -> Any: ...

    @abstractmethod
    def _time_out(self, value: Any) -> datetime | None: ...

    @abstractmethod
    def _sql(self, statement: str) -> str:
        """Adapt a ``?``-placeholder statement to the driver's parameter style."""

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
        cols = ("id", "operator_id", "currency", "periods", "parking_fee", "description")
        rows = [codec.tariff_row(t) for t in tariffs]
        with self._lock, self._transaction() as cur:
            cur.executemany(self._sql(_upsert_sql("tariffs", cols, cols[1:])), rows)
        return len(rows)

    def get_tariff(self, tariff_id: str) -> Tariff | None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT id, operator_id, currency, periods, parking_fee, description "
                    "FROM tariffs WHERE id = ?"
                ),
                (tariff_id,),
            )
            row = cur.fetchone()
        return codec.tariff_from_row(row) if row else None

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
        station_rows: list[tuple[Any, ...]] = []
        evse_rows: dict[str, tuple[Any, ...]] = {}
        connector_rows: dict[str, tuple[Any, ...]] = {}
        changed: list[Station] = []
        for station in by_id.values():
            digest = codec.fingerprint(station)
            previous = known.get(station.id)
            if previous is not None and previous == (digest, True):
                result.unchanged += 1
                continue
            if previous is None or not previous[1]:
                result.added.append(StationAdded(station.id, station.operator_id, at))
            else:
                result.changed.append(StationChanged(station.id, station.operator_id, at))
                changed.append(station)
            station_rows.append(
                codec.station_row(station, digest, self._time_in(station.updated_at))
            )
            for ep, evse in enumerate(station.evses):
                evse_rows[evse.id] = codec.evse_row(station.id, ep, evse)
                for cp, c in enumerate(evse.connectors):
                    connector_rows[c.id] = codec.connector_row(
                        station, evse, cp, c, self._time_in(c.status_at)
                    )
        if not station_rows:
            return
        existing_connectors: set[str] = set()
        if changed:
            existing_connectors = self._prune_children(cur, changed, evse_rows, connector_rows)
        self._bulk_upsert(
            cur, "stations", codec.STATION_COLUMNS, codec.STATION_COLUMNS[1:], station_rows
        )
        self._bulk_upsert(
            cur, "evses", codec.EVSE_COLUMNS, codec.EVSE_COLUMNS[1:], list(evse_rows.values())
        )
        self._bulk_upsert(
            cur,
            "connectors",
            codec.CONNECTOR_COLUMNS,
            codec.CONNECTOR_STATIC_COLUMNS[1:],
            list(connector_rows.values()),
        )
        # A new connector's first known status opens its history (uptime starts there).
        first_seen = [
            (cid, row[12], None, row[13], "sync")
            for cid, row in connector_rows.items()
            if cid not in existing_connectors
            and row[12] != ConnectorStatus.UNKNOWN.value
            and row[13] is not None
        ]
        if first_seen:
            cur.executemany(
                self._sql(
                    "INSERT INTO status_history (connector_id, status, source_code, at, source) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                first_seen,
            )
        result.evses_written += len(evse_rows)
        result.connectors_written += len(connector_rows)

    def _prune_children(
        self,
        cur: Any,
        changed: list[Station],
        evse_rows: dict[str, tuple[Any, ...]],
        connector_rows: dict[str, tuple[Any, ...]],
    ) -> set[str]:
        """Delete EVSEs and connectors that changed stations no longer list.

        Returns the ids of connectors that already existed (kept, with their status).
        """
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
        gone_connectors = [(c,) for c in old_connectors if c not in connector_rows]
        gone_evses = [(e,) for e in old_evses if e not in evse_rows]
        if gone_connectors:
            cur.executemany(self._sql("DELETE FROM connectors WHERE id = ?"), gone_connectors)
        if gone_evses:
            cur.executemany(
                self._sql("DELETE FROM connectors WHERE evse_id = ?"), gone_evses
            )  # connectors moved away from a vanished EVSE are re-inserted below
            cur.executemany(self._sql("DELETE FROM evses WHERE id = ?"), gone_evses)
        return {c for c in old_connectors if c in connector_rows}

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
            "max_current, access_methods, status, status_at FROM connectors "
            "WHERE station_id IN ({ids}) ORDER BY evse_id, position",
            ids,
        ):
            connectors.setdefault(r[0], []).append(
                codec.connector_from_row(r[1:10], self._time_out(r[10]))
            )
        evses: dict[str, list[Evse]] = {}
        for r in self._select_in(
            cur,
            "SELECT station_id, id, source_id, manufacturer, model, firmware, max_power_kw, "
            "evse_code FROM evses WHERE station_id IN ({ids}) ORDER BY station_id, position",
            ids,
        ):
            evses.setdefault(r[0], []).append(
                Evse(
                    id=r[1],
                    source_id=r[2],
                    manufacturer=r[3],
                    model=r[4],
                    firmware=r[5],
                    max_power_kw=r[6],
                    evse_code=r[7],
                    connectors=tuple(connectors.get(r[1], ())),
                )
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
    def apply_status_updates(self, updates: Sequence[StatusUpdate]) -> StatusResult:
        for u in updates:  # reject a bad batch before touching anything
            codec.require_aware(u.at)
            ConnectorStatus(u.status)
        result = StatusResult()
        with self._lock, self._transaction() as cur:
            current: dict[str, list[Any]] = {
                r[0]: [r[1], r[2], ConnectorStatus(r[3]), self._time_out(r[4])]
                for r in self._select_in(
                    cur,
                    "SELECT id, station_id, operator_id, status, status_at FROM connectors "
                    "WHERE id IN ({ids})",
                    list(dict.fromkeys(u.connector_id for u in updates)),
                )
            }
            history: list[tuple[Any, ...]] = []
            touched: set[str] = set()
            for u in updates:
                state = current.get(u.connector_id)
                if state is None:
                    result.unknown.append(u.connector_id)
                    continue
                at = codec.require_aware(u.at)
                held_at: datetime | None = state[3]
                if held_at is not None and at < held_at:
                    result.stale += 1
                    continue
                previous: ConnectorStatus = state[2]
                state[2], state[3] = u.status, at
                touched.add(u.connector_id)
                if u.status == previous:
                    result.confirmed += 1
                    continue
                history.append(
                    (u.connector_id, u.status.value, u.source_code, self._time_in(at), u.source)
                )
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
                    self._sql("UPDATE connectors SET status = ?, status_at = ? WHERE id = ?"),
                    [
                        (current[c][2].value, self._time_in(current[c][3]), c)
                        for c in sorted(touched)
                    ],
                )
            if history:
                cur.executemany(
                    self._sql(
                        "INSERT INTO status_history (connector_id, status, source_code, at, "
                        "source) VALUES (?, ?, ?, ?, ?)"
                    ),
                    history,
                )
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
                    "SELECT connector_id, status, at, source, source_code FROM status_history "
                    f"WHERE {' AND '.join(where)} ORDER BY at, id"
                ),
                params,
            )
            rows = cur.fetchall()
        return [
            StatusRecord(
                r[0], ConnectorStatus(r[1]), self._time_out(r[2]) or datetime.min, r[3], r[4]
            )
            for r in rows
        ]

    def counts(self) -> RegistryCounts:
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM operators), "
                "(SELECT count(*) FROM stations WHERE removed_at IS NULL), "
                "(SELECT count(*) FROM evses e JOIN stations s ON s.id = e.station_id "
                " WHERE s.removed_at IS NULL), "
                "(SELECT count(*) FROM connectors c JOIN stations s ON s.id = c.station_id "
                " WHERE s.removed_at IS NULL)"
            )
            row = cur.fetchone()
        return RegistryCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))
