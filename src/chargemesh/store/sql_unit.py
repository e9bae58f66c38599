"""The SQL store's unit of work: its repositories are the store's own SQL, joined to one
transaction on the store's connection for as long as the unit is open."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from chargemesh.domain.events import Event
from chargemesh.store.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from chargemesh.store.sql import SqlStore

#: the store and cursor of the unit of work open in this context (thread or task)
AMBIENT: ContextVar[tuple[SqlStore, Any] | None] = ContextVar("chargemesh_uow", default=None)


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, store: SqlStore) -> None:
        super().__init__()
        self._store = store
        self.registry = self.status = self.ocpi = self.inbox = self.sessions = store
        self._tx: AbstractContextManager[Any] | None = None
        self._token: Token[tuple[SqlStore, Any] | None] | None = None
        self._cursor: Any = None

    def _begin(self) -> None:
        store = self._store
        if AMBIENT.get() is not None:
            raise RuntimeError("a unit of work is already open here (they do not nest)")
        store._lock.acquire()
        try:
            self._tx = store._new_transaction()
            self._cursor = self._tx.__enter__()
        except BaseException:
            store._lock.release()
            raise
        self._token = AMBIENT.set((store, self._cursor))
        store._uow_thread = threading.get_ident()

    def _commit(self) -> None:
        store = self._store
        try:
            rows = store._append_outbox(self._cursor, self.events) if self.events else []
        except BaseException as exc:
            self._end(exc)
            raise
        self._end(None, rows)

    def _rollback(self, exc: BaseException) -> None:
        self._end(exc)

    def _end(self, exc: BaseException | None, rows: Sequence[tuple[int, Event]] = ()) -> None:
        """Commit (``exc`` None) or roll back the transaction, tell the outbox's watchers what
        was committed (still holding the connection, so they hear commits in order), and let
        go of the connection."""
        store = self._store
        assert self._tx is not None
        assert self._token is not None
        try:
            if exc is None:
                self._tx.__exit__(None, None, None)
                if rows:
                    store._notify_outbox(rows)
            else:
                self._tx.__exit__(type(exc), exc, exc.__traceback__)
        finally:
            AMBIENT.reset(self._token)
            store._uow_thread = None
            self._tx = self._token = self._cursor = None
            store._lock.release()
