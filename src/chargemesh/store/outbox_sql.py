"""The outbox in SQL: events written in the transaction that caused them, read back by the
relay from its saved position after a restart, purged once every relay has passed them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from chargemesh.domain.events import Event
from chargemesh.events import codec
from chargemesh.store.hooks import SqlHooks

#: a relay whose position was not saved for this long is taken as retired: its node left the
#: cluster, or its worker number is above ``[server] workers`` (a relay saves its position
#: within a second of publishing; one that published nothing for so long has nothing waiting)
RELAY_RETIRED_AFTER: Final = timedelta(days=7)

#: told, after each commit and in commit order, the (outbox id, event) pairs it wrote
OutboxWatcher = Callable[[Sequence[tuple[int, Event]]], None]

ROWS_PER_INSERT = 500  # 3 parameters a row: well within SQLite's 32,766


class OutboxTables(SqlHooks):
    _outbox_watchers: list[OutboxWatcher]

    def _append_outbox(self, cur: Any, events: Sequence[Event]) -> list[tuple[int, Event]]:
        """Write ``events`` in the open transaction; their ids, in order."""
        now = self._time_in(datetime.now(UTC))
        written: list[tuple[int, Event]] = []
        for start in range(0, len(events), ROWS_PER_INSERT):
            part = events[start : start + ROWS_PER_INSERT]
            params: list[Any] = []
            for event in part:
                params.extend((*codec.encode(event), now))
            marks = ", ".join("(?, ?, ?)" for _ in part)
            cur.execute(
                self._sql(
                    f"INSERT INTO outbox (kind, payload, created_at) VALUES {marks} RETURNING id"
                ),
                params,
            )
            ids = sorted(int(r[0]) for r in cur.fetchall())
            written.extend(zip(ids, part, strict=True))
        return written

    def watch_outbox(self, watcher: OutboxWatcher) -> None:
        self._outbox_watchers.append(watcher)

    def _notify_outbox(self, rows: Sequence[tuple[int, Event]]) -> None:
        for watcher in self._outbox_watchers:
            watcher(rows)

    def outbox_after(self, position: int, limit: int = 1000) -> list[tuple[int, Event]]:
        """Events with ids after ``position``, in id order, at most ``limit``."""
        with self._lock, self._reading() as cur:
            cur.execute(
                self._sql("SELECT id, kind, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?"),
                (position, limit),
            )
            rows = cur.fetchall()
        return [(int(r[0]), codec.decode(r[1], r[2], int(r[0]))) for r in rows]

    def outbox_rows(self, ids: list[int]) -> list[tuple[int, Event]]:
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids[:ROWS_PER_INSERT])
        with self._lock, self._reading() as cur:
            cur.execute(
                self._sql(
                    f"SELECT id, kind, payload FROM outbox WHERE id IN ({marks}) ORDER BY id"
                ),
                ids[:ROWS_PER_INSERT],
            )
            rows = cur.fetchall()
        return [(int(r[0]), codec.decode(r[1], r[2], int(r[0]))) for r in rows]

    def outbox_end(self) -> int:
        with self._lock, self._reading() as cur:
            cur.execute("SELECT coalesce(max(id), 0) FROM outbox")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def outbox_position(self, relay: str) -> int:
        """How far ``relay`` has published (0: never)."""
        with self._lock, self._transaction() as cur:
            cur.execute(self._sql("SELECT position FROM outbox_relays WHERE name = ?"), (relay,))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def save_outbox_position(
        self, relay: str, position: int, *, keep: int = 10_000, at: datetime | None = None
    ) -> None:
        """Record ``relay``'s position as of ``at`` (now), and purge rows every relay has
        passed, but the last ``keep`` of them (what a late reader or an operator may still want
        to see). A relay not heard from for ``RELAY_RETIRED_AFTER`` (a node taken out of the
        cluster, a worker number above the configured count) no longer holds the purge back."""
        now = at or datetime.now(UTC)
        with self._lock, self._transaction() as cur:
            cur.execute(
                self._sql(
                    "INSERT INTO outbox_relays (name, position, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                    "updated_at = excluded.updated_at"
                ),
                (relay, position, self._time_in(now)),
            )
            cur.execute(
                self._sql("SELECT min(position) FROM outbox_relays WHERE updated_at >= ?"),
                (self._time_in(now - RELAY_RETIRED_AFTER),),
            )
            row = cur.fetchone()
            passed = int(row[0]) - keep if row and row[0] is not None else 0
            if passed > 0:
                cur.execute(self._sql("DELETE FROM outbox WHERE id <= ?"), (passed,))
