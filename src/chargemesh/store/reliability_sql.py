"""What the reliability figures read, in SQL (both backends; ``excluded_downtime`` is migration
0006): connectors in keyset pages, the status history of a page of connectors over a window,
excluded downtime, and charge attempts joined to their sessions. A mixin of
:class:`~chargemesh.store.sql.SqlStore` (see ``hooks.py``).

Nothing here reads one connector at a time: ``services/analytics/reliability/`` walks the registry a
page of connectors at a time, two statements per page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from chargemesh.store import codec
from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import (
    ExcludedDowntime,
    ReliabilityConnectorRow,
    StatusChangeRow,
    VisitAttemptRow,
)

_DOWNTIME_COLUMNS = ("id", "connector_id", "station_id", "starts_at", "ends_at", "reason")


class ReliabilityTables(SqlHooks):
    # --- excluded downtime ---------------------------------------------------------------------
    def add_excluded_downtime(self, records: Iterable[ExcludedDowntime]) -> int:
        rows = [
            (
                r.id, r.connector_id, r.station_id,
                self._time_in(codec.require_aware(r.starts_at)),
                self._time_in(codec.require_aware(r.ends_at)), r.reason,
            )
            for r in records
        ]  # fmt: skip
        sets = ", ".join(f"{c} = excluded.{c}" for c in _DOWNTIME_COLUMNS[1:])
        marks = ", ".join("?" for _ in _DOWNTIME_COLUMNS)
        with self._lock, self._transaction() as cur:
            cur.executemany(
                self._sql(
                    f"INSERT INTO excluded_downtime ({', '.join(_DOWNTIME_COLUMNS)}) "
                    f"VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {sets}"
                ),
                rows,
            )
        return len(rows)

    def excluded_downtime(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[ExcludedDowntime]:
        where, params = ["1 = 1"], []
        if since is not None:
            where.append("ends_at > ?")
            params.append(self._time_in(codec.require_aware(since)))
        if until is not None:
            where.append("starts_at < ?")
            params.append(self._time_in(codec.require_aware(until)))
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(_DOWNTIME_COLUMNS)} FROM excluded_downtime "
                    f"WHERE {' AND '.join(where)} ORDER BY starts_at, id"
                ),
                params,
            )
            rows: list[Any] = cur.fetchall()
        out: list[ExcludedDowntime] = []
        for r in rows:
            starts, ends = self._time_out(r[3]), self._time_out(r[4])
            assert starts is not None  # NOT NULL columns
            assert ends is not None
            out.append(ExcludedDowntime(r[0], starts, ends, r[5], r[1], r[2]))
        return out

    # --- the timeline ----------------------------------------------------------------------------
    def reliability_connectors(self, after: str, limit: int) -> list[ReliabilityConnectorRow]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT c.id, c.operator_id, c.station_id, c.max_power_kw, c.status, "
                    "c.status_since, c.status_at, s.opening_hours, s.removed_at "
                    "FROM connectors c JOIN stations s ON s.id = c.station_id "
                    "WHERE c.id > ? ORDER BY c.id LIMIT ?"
                ),
                (after, limit),
            )
            rows: list[Any] = cur.fetchall()
        out = self._time_out
        return [
            (r[0], r[1], r[2], float(r[3]), r[4], out(r[5]), out(r[6]), r[7], out(r[8]))
            for r in rows
        ]

    def status_changes_between(
        self, first_id: str, last_id: str, since: datetime, until: datetime
    ) -> list[StatusChangeRow]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT connector_id, status, at, previous, previous_since "
                    "FROM status_history WHERE connector_id >= ? AND connector_id <= ? "
                    "AND at >= ? AND (previous_since IS NULL OR previous_since < ?) "
                    "ORDER BY connector_id, at, id"
                ),
                (
                    first_id,
                    last_id,
                    self._time_in(codec.require_aware(since)),
                    self._time_in(codec.require_aware(until)),
                ),
            )
            rows: list[Any] = cur.fetchall()
        out = self._time_out
        changes: list[StatusChangeRow] = []
        for r in rows:
            at = out(r[2])
            assert at is not None  # NOT NULL column
            changes.append((r[0], r[1], at, r[3], out(r[4])))
        return changes

    # --- visits ----------------------------------------------------------------------------------
    def visit_attempts(self, since: datetime, until: datetime) -> list[VisitAttemptRow]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT a.at, a.operator_id, a.outcome, s.account_id, s.station_id "
                    "FROM charge_attempts a LEFT JOIN charge_sessions s ON s.id = a.session_id "
                    "WHERE a.at >= ? AND a.at < ? ORDER BY a.at, a.id"
                ),
                (
                    self._time_in(codec.require_aware(since)),
                    self._time_in(codec.require_aware(until)),
                ),
            )
            rows: list[Any] = cur.fetchall()
        out: list[VisitAttemptRow] = []
        for r in rows:
            at = self._time_out(r[0])
            assert at is not None  # NOT NULL column
            out.append((at, r[1], r[2], r[3], r[4]))
        return out
