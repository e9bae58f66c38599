"""What coverage counts, aggregated in SQL (both backends), and the coverage timeline.

Counts are of physical chargers: live stations, each merged group once (a station merged into
another, e.g. an aggregator's copy of a partner's station, is left out). A mixin of
:class:`~chargemesh.store.sql.SqlStore`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import CoverageSnapshot
from chargemesh.store.search_sql import PHYSICAL_STATION

_METHODS = ("scan", "app_start", "plug_and_charge", "rfid", "view_only")


class CoverageTables(SqlHooks):
    def coverage_evses(
        self, supercharger_kw: float
    ) -> list[tuple[str, str, tuple[bool, ...], int]]:
        """(operator id, power class, (has scan, app_start, plug_and_charge, rfid, view_only),
        EVSEs) — power class ``supercharger`` (DC ≥ ``supercharger_kw``), ``dc_fast`` (other
        DC) or ``ac``."""
        flags = ", ".join("CASE WHEN e.access_methods LIKE ? THEN 1 ELSE 0 END" for _ in _METHODS)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT s.operator_id, CASE WHEN e.dc = 1 AND e.max_power_kw >= ? THEN "
                    "'supercharger' WHEN e.dc = 1 THEN 'dc_fast' ELSE 'ac' END AS cls, "
                    f"{flags}, count(*) FROM evses e JOIN stations s ON s.id = e.station_id "
                    f"WHERE {PHYSICAL_STATION} GROUP BY 1, 2, 3, 4, 5, 6, 7"
                ),
                (supercharger_kw, *(f"%{m}%" for m in _METHODS)),
            )
            rows: list[Any] = cur.fetchall()
        return [(r[0], r[1], tuple(bool(x) for x in r[2:7]), int(r[7])) for r in rows]

    def coverage_connectors(self) -> dict[str, int]:
        """Connectors per operator, physical stations only."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT s.operator_id, count(*) FROM connectors c "
                f"JOIN stations s ON s.id = c.station_id WHERE {PHYSICAL_STATION} GROUP BY 1"
            )
            return {r[0]: int(r[1]) for r in cur.fetchall()}

    def coverage_stations(self) -> list[tuple[str, str | None, bool, int]]:
        """(operator id, county adcode, highway service area, stations), physical stations."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                "SELECT s.operator_id, s.county_adcode, s.highway_service_area, count(*) "
                f"FROM stations s WHERE {PHYSICAL_STATION} GROUP BY 1, 2, 3"
            )
            rows: list[Any] = cur.fetchall()
        return [(r[0], r[1], bool(r[2]), int(r[3])) for r in rows]

    def save_coverage_snapshot(self, snapshot: CoverageSnapshot) -> None:
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO coverage_snapshots (at, operators, stations, evses, connectors, "
                    "counties, highway_service_areas, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (at) DO NOTHING"
                ),
                (
                    self._time_in(snapshot.at), snapshot.operators, snapshot.stations,
                    snapshot.evses, snapshot.connectors, snapshot.counties,
                    snapshot.highway_service_areas, orjson.dumps(snapshot.detail).decode(),
                ),
            )  # fmt: skip

    def coverage_snapshots(self, since: datetime | None = None) -> list[CoverageSnapshot]:
        where, params = ("WHERE at >= ?", (self._time_in(since),)) if since else ("", ())
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT at, operators, stations, evses, connectors, counties, "
                    f"highway_service_areas, detail FROM coverage_snapshots {where} ORDER BY at"
                ),
                params,
            )
            rows: list[Any] = cur.fetchall()
        out = []
        for r in rows:
            at = self._time_out(r[0])
            assert at is not None
            out.append(
                CoverageSnapshot(
                    at,
                    int(r[1]),
                    int(r[2]),
                    int(r[3]),
                    int(r[4]),
                    int(r[5]),
                    int(r[6]),
                    orjson.loads(r[7]),
                )
            )
        return out
