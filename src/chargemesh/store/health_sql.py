"""Feed health, per-operator counts and status freshness in SQL (both backends); a mixin of
``SqlStore``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chargemesh.domain import ConnectorStatus
from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import FeedHealth, OperatorCounts
from chargemesh.store.search_sql import PHYSICAL_STATION

HEALTH_COLUMNS = (
    "operator_id", "state", "last_started", "last_finished", "last_success", "records",
    "errors", "last_error", "listed", "duration_s",
)  # fmt: skip


class HealthTables(SqlHooks):
    def save_feed_health(self, health: FeedHealth) -> None:
        row = (
            health.operator_id, health.state, self._time_in(health.last_started),
            self._time_in(health.last_finished), self._time_in(health.last_success),
            health.records, health.errors, health.last_error, health.listed, health.duration_s,
        )  # fmt: skip
        sets = ", ".join(f"{c} = excluded.{c}" for c in HEALTH_COLUMNS[1:])
        marks = ", ".join("?" for _ in HEALTH_COLUMNS)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"INSERT INTO feed_health ({', '.join(HEALTH_COLUMNS)}) VALUES ({marks}) "
                    f"ON CONFLICT (operator_id) DO UPDATE SET {sets}"
                ),
                row,
            )

    def _health(self, row: Sequence[Any]) -> FeedHealth:
        return FeedHealth(
            operator_id=row[0],
            state=row[1],
            last_started=self._time_out(row[2]),
            last_finished=self._time_out(row[3]),
            last_success=self._time_out(row[4]),
            records=int(row[5]),
            errors=int(row[6]),
            last_error=row[7],
            listed=None if row[8] is None else int(row[8]),
            duration_s=None if row[9] is None else float(row[9]),
        )

    def feed_health(self) -> dict[str, FeedHealth]:
        with self._lock, self._transaction() as cur:
            cur.execute(f"SELECT {', '.join(HEALTH_COLUMNS)} FROM feed_health ORDER BY operator_id")
            return {r[0]: self._health(r) for r in cur.fetchall()}

    def station_counts_by_operator(self) -> dict[str, OperatorCounts]:
        """Each operator's physical stations (after merge, as on the map and in the coverage
        report) with their EVSEs and connectors."""
        counts: dict[str, list[int]] = {}
        with self._lock, self._transaction() as cur:
            for column, table in enumerate(("stations s", "evses e", "connectors c")):
                join = "" if column == 0 else f" JOIN stations s ON s.id = {table[-1]}.station_id"
                cur.execute(
                    f"SELECT s.operator_id, count(*) FROM {table}{join} "
                    f"WHERE {PHYSICAL_STATION} GROUP BY s.operator_id"
                )
                for op, n in cur.fetchall():
                    counts.setdefault(op, [0, 0, 0])[column] = int(n)
        return {op: OperatorCounts(*c) for op, c in counts.items()}

    def counts_by_operator(self) -> dict[str, OperatorCounts]:
        """What each feed lists: its live listings, duplicates of other networks' included."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT s.operator_id, count(DISTINCT s.id), count(DISTINCT e.id), "
                "(SELECT count(*) FROM connectors c JOIN stations s2 ON s2.id = c.station_id "
                " WHERE s2.operator_id = s.operator_id AND s2.removed_at IS NULL) "
                "FROM stations s LEFT JOIN evses e ON e.station_id = s.id "
                "WHERE s.removed_at IS NULL GROUP BY s.operator_id"
            )
            return {r[0]: OperatorCounts(int(r[1]), int(r[2]), int(r[3])) for r in cur.fetchall()}

    # --- status freshness (services/feeds/freshness.py) -----------------------------------------
    def station_source_ids(self, operator_id: str) -> list[str]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT source_id FROM stations WHERE removed_at IS NULL AND operator_id = ? "
                    "ORDER BY source_id"
                ),
                (operator_id,),
            )
            return [r[0] for r in cur.fetchall()]

    def statuses_observed_before(
        self, operator_id: str, before: datetime
    ) -> list[tuple[str, ConnectorStatus]]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT c.id, c.status FROM connectors c JOIN stations s "
                    "ON s.id = c.station_id WHERE s.removed_at IS NULL AND c.operator_id = ? "
                    "AND c.status_at < ?"
                ),
                (operator_id, self._time_in(before)),
            )
            return [(r[0], ConnectorStatus(r[1])) for r in cur.fetchall()]

    def stale_connectors(self, before: datetime) -> dict[str, tuple[int, int]]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT c.operator_id, sum(CASE WHEN c.status_at IS NULL OR c.status_at < ? "
                    "THEN 1 ELSE 0 END), count(*) FROM connectors c JOIN stations s "
                    "ON s.id = c.station_id WHERE s.removed_at IS NULL GROUP BY c.operator_id"
                ),
                (self._time_in(before),),
            )
            return {r[0]: (int(r[1]), int(r[2])) for r in cur.fetchall()}
