"""The ingest tables in SQL (both backends): merged listings and stations a feed stopped listing.

A mixin of :class:`~chargemesh.store.sql.SqlStore`: it uses only the backend hooks that class
declares (``_transaction``, ``_sql``, ``_time_in``, ``_time_out``, ``_bulk_insert``,
``_select_in``) and its lock. Tables: ``station_sources`` and ``missing_stations``
(migration 0004).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from chargemesh.store.codec import require_aware
from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import (
    MergeCandidates,
    MissingStation,
    StationSource,
    StationSourcesChange,
    StoreError,
)
from chargemesh.store.search_sql import PHYSICAL_STATION

ID_BATCH = 500  # ids per IN (…) list
SOURCE_COLUMNS = ("station_id", "canonical_id", "rule", "merged_at")
MISSING_COLUMNS = ("station_id", "operator_id", "first_missing", "misses")


def _batches(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class IngestTables(SqlHooks):
    def _bulk_insert(
        self, cur: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        raise NotImplementedError

    def _select_in(
        self, cur: Any, statement: str, ids: Sequence[str], *, extra: Sequence[Any] = ()
    ) -> list[Any]:
        raise NotImplementedError

    def _at(self, value: Any) -> datetime:
        at = self._time_out(value)
        if at is None:
            raise StoreError("a NOT NULL time column held NULL")
        return at

    def _delete_in(self, cur: Any, table: str, ids: Sequence[str]) -> None:
        for batch in _batches(ids, ID_BATCH):
            marks = ", ".join("?" for _ in batch)
            cur.execute(self._sql(f"DELETE FROM {table} WHERE station_id IN ({marks})"), batch)

    # --- the merge pass's input ------------------------------------------------------------
    def merge_candidates(self) -> MergeCandidates:
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT id, operator_id, source_id, name, address, lon, lat FROM stations "
                "WHERE removed_at IS NULL ORDER BY id"
            )
            stations = cur.fetchall()
            # One row per (station, standard, power): far fewer than connectors. Delisted
            # stations' rows are dropped below (a join costs more than it saves).
            cur.execute(
                "SELECT station_id, standard, max_power_kw, count(*) FROM connectors "
                "GROUP BY station_id, standard, max_power_kw"
            )
            kinds = cur.fetchall()
        mix: dict[str, list[tuple[str, float, int]]] = {r[0]: [] for r in stations}
        for station_id, standard, power, count in kinds:
            if (held := mix.get(station_id)) is not None:
                held.append((standard, float(power), int(count)))
        return MergeCandidates(
            ids=[r[0] for r in stations],
            operator_ids=[r[1] for r in stations],
            source_ids=[r[2] for r in stations],
            names=[r[3] for r in stations],
            addresses=[r[4] for r in stations],
            lons=[float(r[5]) for r in stations],
            lats=[float(r[6]) for r in stations],
            connector_mix=[tuple(sorted(mix[r[0]])) for r in stations],
        )

    # --- merged listings ---------------------------------------------------------------------
    def replace_station_sources(
        self, sources: Iterable[StationSource], *, at: datetime
    ) -> StationSourcesChange:
        when = self._time_in(require_aware(at))
        wanted = {s.station_id: (s.canonical_id, s.rule) for s in sources}
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT station_id, canonical_id, rule FROM station_sources")
            held = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
            gone = sorted(s for s in held if s not in wanted)
            fresh: list[tuple[Any, ...]] = []
            relinked: list[tuple[Any, ...]] = []
            reruled: list[tuple[Any, ...]] = []
            for sid, (canonical, rule) in sorted(wanted.items()):
                old = held.get(sid)
                if old is None:
                    fresh.append((sid, canonical, rule, when))
                elif old[0] != canonical:
                    relinked.append((canonical, rule, when, sid))
                elif old[1] != rule:
                    reruled.append((rule, sid))
            if gone:
                self._delete_in(cur, "station_sources", gone)
            if relinked:
                cur.executemany(
                    self._sql(
                        "UPDATE station_sources SET canonical_id = ?, rule = ?, merged_at = ? "
                        "WHERE station_id = ?"
                    ),
                    relinked,
                )
            if reruled:
                cur.executemany(
                    self._sql("UPDATE station_sources SET rule = ? WHERE station_id = ?"), reruled
                )
            self._bulk_insert(cur, "station_sources", SOURCE_COLUMNS, fresh)
        changed = len(fresh) + len(relinked) + len(reruled)
        return StationSourcesChange(
            added=len(fresh),
            relinked=len(relinked),
            rule_changed=len(reruled),
            removed=len(gone),
            kept=len(wanted) - changed,
        )

    def station_sources(self, station_id: str) -> list[StationSource]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT station_id, canonical_id, rule, merged_at FROM station_sources "
                    "WHERE canonical_id = (SELECT canonical_id FROM station_sources "
                    "WHERE station_id = ?) "
                    "ORDER BY CASE WHEN station_id = canonical_id THEN 0 ELSE 1 END, station_id"
                ),
                (station_id,),
            )
            rows = cur.fetchall()
        return [StationSource(r[0], r[1], r[2], self._at(r[3])) for r in rows]

    def canonical_of(self, station_ids: Iterable[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(station_ids))
        with self._lock, self._transaction() as cur:
            rows = self._select_in(
                cur,
                "SELECT station_id, canonical_id FROM station_sources WHERE station_id IN ({ids})",
                ids,
            )
        found = {r[0]: r[1] for r in rows}
        return {i: found.get(i, i) for i in ids}

    def count_physical_stations(self) -> int:
        with self._lock, self._transaction() as cur:
            cur.execute(f"SELECT count(*) FROM stations s WHERE {PHYSICAL_STATION}")
            row = cur.fetchone()
        return int(row[0])

    # --- stations a feed stopped listing ---------------------------------------------------
    def missing_stations(self, operator_id: str) -> list[MissingStation]:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    f"SELECT {', '.join(MISSING_COLUMNS)} FROM missing_stations "
                    "WHERE operator_id = ? ORDER BY station_id"
                ),
                (operator_id,),
            )
            rows = cur.fetchall()
        return [MissingStation(r[0], r[1], self._at(r[2]), int(r[3])) for r in rows]

    def save_missing_stations(
        self, rows: Sequence[MissingStation], *, cleared: Iterable[str] = ()
    ) -> None:
        values = [
            (m.station_id, m.operator_id, self._time_in(require_aware(m.first_missing)), m.misses)
            for m in rows
        ]
        gone = list(dict.fromkeys(cleared))
        with self._lock, self._transaction() as cur:
            if gone:
                self._delete_in(cur, "missing_stations", gone)
            if values:
                cur.executemany(
                    self._sql(
                        f"INSERT INTO missing_stations ({', '.join(MISSING_COLUMNS)}) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (station_id) DO UPDATE SET "
                        "operator_id = excluded.operator_id, "
                        "first_missing = excluded.first_missing, misses = excluded.misses"
                    ),
                    values,
                )
