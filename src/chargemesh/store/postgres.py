"""PostgreSQL backend: the production store. Bulk writes go through COPY into a staging table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.errors

from chargemesh.store.migrations import CREATE_LEDGER, migrations
from chargemesh.store.repository import StoreError, StoreIntegrityError, StoreUnavailable
from chargemesh.store.sql import SqlStore

MIGRATION_LOCK = 0x63686D  # pg_advisory_xact_lock key: one migrator at a time


def _describe(exc: psycopg.Error) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


class PostgresStore(SqlStore):
    _row_lock = " FOR UPDATE"

    def __init__(self, url: str, connect_timeout: int = 5) -> None:
        super().__init__(url)
        try:
            self._db = psycopg.connect(url, connect_timeout=connect_timeout, autocommit=False)
        except psycopg.Error as exc:
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL at {redact(url)}: {_describe(exc)}"
            ) from exc
        self._staged: set[str] = set()

    def migrate(self) -> int:
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            cur.execute(CREATE_LEDGER)
            cur.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in cur.fetchall()}
            for m in migrations("postgres"):
                if m.version not in done:
                    cur.execute(m.sql.encode())
                    cur.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                        (m.version, m.name, datetime.now(UTC).isoformat()),
                    )
        return self.schema_version()

    def schema_version(self) -> int:
        with self._lock, self._transaction() as cur:
            cur.execute("SELECT max(version) FROM schema_migrations")
            row = cur.fetchone()
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _new_transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        try:
            with self._db.transaction(), self._db.cursor() as cur:
                yield cur
        except psycopg.errors.IntegrityError as exc:
            raise StoreIntegrityError(
                f"refused, the registry would break: {_describe(exc)}"
            ) from exc
        except psycopg.OperationalError as exc:
            if self._db.closed or self._db.broken:
                raise StoreUnavailable(
                    f"lost the PostgreSQL connection ({redact(self.url)}): {_describe(exc)}"
                ) from exc
            raise StoreError(f"PostgreSQL: {_describe(exc)}") from exc

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _time_in(self, at: datetime | None) -> Any:
        return at

    def _time_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.astimezone(UTC)

    def _bulk_insert(
        self, cur: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
    ) -> None:
        if rows:
            with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)

    def _bulk_upsert(
        self,
        cur: Any,
        table: str,
        columns: Sequence[str],
        update: Sequence[str],
        rows: list[tuple[Any, ...]],
    ) -> None:
        if not rows:
            return
        stage = f"stage_{table}"
        cols = ", ".join(columns)
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sets = ", ".join(f"{c} = excluded.{c}" for c in update)
        cur.execute(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
            f"ON CONFLICT (id) DO UPDATE SET {sets}"
        )
