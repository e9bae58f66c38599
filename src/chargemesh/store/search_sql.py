"""What the in-memory search index reads to build itself (both backends), in keyset pages.

A mixin of :class:`~chargemesh.store.sql.SqlStore` (see ``hooks.py``). Only live stations that
are not a duplicate merged into another are listed: the index shows each physical station once.
"""

from __future__ import annotations

from typing import Any

from chargemesh.store.hooks import SqlHooks
from chargemesh.store.repository import IndexConnectorRow, IndexStationRow

#: A physical station (alias ``s``): live, and not a listing merged into another one.
PHYSICAL_STATION = (
    "s.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM station_sources m "
    "WHERE m.station_id = s.id AND m.canonical_id <> s.id)"
)

#: Not a home charger of the own network (those are private to their owner: never searched).
PUBLIC = "NOT EXISTS (SELECT 1 FROM own_chargers o WHERE o.station_id = s.id AND o.kind = 'home')"


class SearchTables(SqlHooks):
    def index_stations(self, after: str, limit: int) -> list[IndexStationRow]:
        """Live canonical public stations with ids after ``after``, in id order (not the own
        network's home chargers)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT s.id, s.operator_id, s.name, s.lon, s.lat, s.highway_service_area, "
                    f"s.tariff_id FROM stations s WHERE {PHYSICAL_STATION} AND {PUBLIC} "
                    "AND s.id > ? "
                    "ORDER BY s.id LIMIT ?"
                ),
                (after, limit),
            )
            rows: list[Any] = cur.fetchall()
        return [(r[0], r[1], r[2], float(r[3]), float(r[4]), bool(r[5]), r[6]) for r in rows]

    def index_connectors(self, after: str, limit: int) -> list[IndexConnectorRow]:
        """Connectors with ids after ``after``, in id order (of every station: the caller keeps
        those of the stations it indexes)."""
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT c.id, c.station_id, c.standard, c.max_power_kw, c.access_methods, "
                    "c.status, c.status_at, e.manufacturer, e.model, e.firmware "
                    "FROM connectors c JOIN evses e ON e.id = c.evse_id "
                    "WHERE c.id > ? ORDER BY c.id LIMIT ?"
                ),
                (after, limit),
            )
            rows: list[Any] = cur.fetchall()
        out = self._time_out
        return [
            (r[0], r[1], r[2], float(r[3]), r[4], r[5], out(r[6]), r[7], r[8], r[9]) for r in rows
        ]
