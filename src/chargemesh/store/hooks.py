"""What the SQL mixins (``ocpi_sql``, ``health_sql``, ``ingest_sql``) use of ``SqlStore``: its
lock and the backend hooks, declared once here and provided by ``SqlStore``'s backends."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any


class SqlHooks:
    _lock: threading.RLock
    _row_lock = ""  # appended to a SELECT to lock its rows for the transaction (PostgreSQL)

    def _transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _reading(self) -> AbstractContextManager[Any]:
        """A transaction that only reads (SQLite: it takes no write lock)."""
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        raise NotImplementedError

    def _time_in(self, at: datetime | None) -> Any:
        raise NotImplementedError

    def _time_out(self, value: Any) -> datetime | None:
        raise NotImplementedError
