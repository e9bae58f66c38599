"""Which process runs the singletons: the loops that must run once per registry, not once per
process (scheduled syncs with their coverage snapshots and delistings, session timeouts, the
status refresher).

* **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
  its own, per schema. The process that holds it leads; the others ask again every
  ``retry_s``. The lock lives as long as that connection: a process that stops or is killed
  loses it at once (the server ends its session), and a leader that loses its connection stops
  its singletons as soon as its check (every ``check_s``) fails.
* **SQLite**: the database is one file on one machine; the only process leads. With several
  worker processes (``[server] workers``) the one holding an exclusive ``flock`` on the lock
  file beside the database leads (:class:`FileLockLeader`); the kernel lets go of it when the
  process ends, however it ends.
* :class:`Follower`: a process that never leads (``chargemesh sync``, a one-off job).

Whether this process leads is :attr:`Leadership.leading` (``GET /readyz`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

#: the advisory lock's first key ("cmld"); the second is the schema's hash, so two registries
#: in one database (one schema each) have a leader each
LEADER_LOCK = 0x636D6C64 & 0x7FFFFFFF
RETRY_S = 3.0  # a follower asks for the lead this often
CHECK_S = 3.0  # a leader checks its lock's connection this often
CHECK_TIMEOUT_S = 5.0  # a check that takes longer counts as a lost connection


@dataclass(frozen=True, slots=True)
class Singleton:
    """A loop one process runs for the whole registry; ``run`` runs until cancelled."""

    name: str
    run: Callable[[], Awaitable[None]]


class Leadership(Protocol):
    @property
    def leading(self) -> bool: ...

    async def run(self, singletons: Sequence[Singleton]) -> None:
        """Run ``singletons`` while this process leads, until cancelled."""
        ...


@contextlib.asynccontextmanager
async def running(singletons: Sequence[Singleton]) -> AsyncIterator[None]:
    """The singletons as tasks for the life of the block; cancelled and awaited after it."""
    tasks = [asyncio.create_task(_guarded(s), name=s.name) for s in singletons]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _guarded(singleton: Singleton) -> None:
    try:
        await singleton.run()
    except asyncio.CancelledError:
        raise
    except Exception:  # one broken loop does not take the others (or the lead) down
        log.exception("singleton %s failed", singleton.name)


class Follower:
    """Never leads: a process that runs no singletons."""

    leading = False

    async def run(self, singletons: Sequence[Singleton]) -> None:
        await asyncio.Event().wait()


class SoleLeader:
    """The only process over its store (SQLite): it leads from the start."""

    def __init__(self) -> None:
        self.leading = False

    async def run(self, singletons: Sequence[Singleton]) -> None:
        self.leading = True
        try:
            async with running(singletons):
                await asyncio.Event().wait()
        finally:
            self.leading = False


class FileLockLeader:
    """Leads while it holds an exclusive ``flock`` on ``path`` (worker processes over one SQLite
    file); the others try again every ``retry_s``."""

    def __init__(self, path: Path, *, retry_s: float = RETRY_S) -> None:
        self.path = path
        self.retry_s = retry_s
        self.leading = False

    async def run(self, singletons: Sequence[Singleton]) -> None:
        import fcntl
        import os

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self.retry_s)
            log.info("this process leads: it runs %s", ", ".join(s.name for s in singletons))
            self.leading = True
            async with running(singletons):
                await asyncio.Event().wait()
        finally:
            self.leading = False
            os.close(fd)  # the lock goes with the descriptor


class AdvisoryLockLeader:
    """Leads while it holds the registry's advisory lock on a PostgreSQL connection of its
    own."""

    def __init__(
        self,
        url: str,
        *,
        retry_s: float = RETRY_S,
        check_s: float = CHECK_S,
        connect_timeout_s: int = 5,
    ) -> None:
        self._url = url
        self.retry_s = retry_s
        self.check_s = check_s
        self._connect_timeout_s = connect_timeout_s
        self.leading = False

    async def run(self, singletons: Sequence[Singleton]) -> None:
        import psycopg

        from chargemesh.store.postgres import redact

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=self._connect_timeout_s
                ) as conn:
                    await self._lead_while_locked(conn, singletons)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leader election on %s: %s", redact(self._url), exc)
            await asyncio.sleep(self.retry_s)

    async def _lead_while_locked(
        self, conn: psycopg.AsyncConnection[tuple[object, ...]], singletons: Sequence[Singleton]
    ) -> None:
        while not await self._try_lock(conn):
            await asyncio.sleep(self.retry_s)
        log.info("this process leads: it runs %s", ", ".join(s.name for s in singletons))
        self.leading = True
        try:
            async with running(singletons):
                while True:  # the lock is the connection's: it holds while the connection does
                    await asyncio.sleep(self.check_s)
                    await asyncio.wait_for(conn.execute("SELECT 1"), CHECK_TIMEOUT_S)
        finally:
            self.leading = False
            log.info("this process no longer leads")

    async def _try_lock(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> bool:
        cur = await conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(coalesce(current_schema(), '')))",
            (LEADER_LOCK,),
        )
        row = await cur.fetchone()
        return bool(row and row[0])


def leader_for(store_url: str, lock_file: Path | None = None) -> Leadership:
    """The election that fits the store: an advisory lock on PostgreSQL; on SQLite the lock
    file of worker processes when given, else the sole process."""
    if store_url.startswith(("postgresql://", "postgres://")):
        return AdvisoryLockLeader(store_url)
    if lock_file is not None:
        return FileLockLeader(lock_file)
    return SoleLeader()
