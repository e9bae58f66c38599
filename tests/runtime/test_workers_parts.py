"""The parts of ``[server] workers`` below the processes: the SQLite leadership lock, the
configurations refused, and the outbox tail that hands one worker the others' events (gaps of
ids committed out of order kept until they appear, on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from chargemesh.bus import EventBus
from chargemesh.config import ConfigError, parse_config
from chargemesh.domain import ConnectorStatus
from chargemesh.domain.events import StatusChanged
from chargemesh.events import codec
from chargemesh.events.relay import OutboxRelay
from chargemesh.events.tail import OutboxTail
from chargemesh.runtime.leader import FileLockLeader, Singleton
from chargemesh.store import open_store


def test_one_of_two_processes_holding_the_lock_file_leads_and_the_other_takes_over(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "chargemesh.db.leader"
    ran: list[str] = []

    def singleton(name: str) -> Singleton:
        async def run() -> None:
            ran.append(name)
            await asyncio.Event().wait()

        return Singleton(name, run)

    async def scenario() -> None:
        first, second = FileLockLeader(lock, retry_s=0.05), FileLockLeader(lock, retry_s=0.05)
        a = asyncio.create_task(first.run([singleton("first")]))
        await asyncio.sleep(0.2)
        b = asyncio.create_task(second.run([singleton("second")]))
        await asyncio.sleep(0.3)
        assert (first.leading, second.leading) == (True, False)
        assert ran == ["first"]
        a.cancel()  # the leader stops: its descriptor, and the lock with it, goes
        with contextlib.suppress(asyncio.CancelledError):
            await a
        for _ in range(40):
            if second.leading:
                break
            await asyncio.sleep(0.05)
        assert (first.leading, second.leading) == (False, True)
        assert ran == ["first", "second"]
        b.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await b

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("[csms]\nport = 9000\n", "cannot serve [csms]"),
        ('[bus]\nurl = "nats://127.0.0.1:4222"\n', "a cluster grows by nodes"),
    ],
)
def test_workers_are_refused_beside_what_needs_one_process(extra: str, named: str) -> None:
    text = '[store]\nurl = "postgresql://127.0.0.1/test"\n[server]\nworkers = 2\n' + extra
    with pytest.raises(ConfigError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_config(text)
    assert parse_config(text.replace("workers = 2", "workers = 1")).server.workers == 1


def status_event(connector: str) -> StatusChanged:
    return StatusChanged(
        connector_id=connector, station_id="S", operator_id="OP", source="tcec:push",
        previous=ConnectorStatus.CHARGING, status=ConnectorStatus.AVAILABLE, at=datetime.now(UTC),
    )  # fmt: skip


def test_the_tail_hands_over_the_other_processes_events_committed_out_of_id_order(
    postgres_url: str,
) -> None:
    """Two "workers" on one PostgreSQL schema: the first takes an outbox id and commits after
    the second has committed a later one. The tail of a third reads the later id first, keeps
    the earlier as a gap and hands it over once it is committed; its own events are its own."""
    reader, quick = open_store(postgres_url), open_store(postgres_url)
    bus = EventBus()
    got: list[tuple[str, bool]] = []
    local_only: list[str] = []
    bus.subscribe(StatusChanged, lambda e: got.append((e.connector_id, True)))
    bus.subscribe(StatusChanged, lambda e: local_only.append(e.connector_id), local_only=True)
    relay = OutboxRelay(reader, bus, name="tail-test", new_from_end=True)
    tail = OutboxTail(reader, bus, relay, after=reader.outbox_end())
    taken, release = threading.Event(), threading.Event()

    def slow_commit() -> None:
        """Another process's transaction: its outbox row's id taken now, committed later."""
        kind, payload = codec.encode(status_event("late"))
        with psycopg.connect(postgres_url) as conn, conn.transaction():
            conn.execute("INSERT INTO outbox (kind, payload, created_at) VALUES (%s, %s, now())",
                         (kind, payload))  # fmt: skip
            taken.set()
            release.wait(10)

    async def scenario() -> None:
        await relay.start()
        writer = threading.Thread(target=slow_commit)
        writer.start()
        assert taken.wait(10)
        with quick.unit_of_work() as uow:
            uow.collect([status_event("early")])
        await tail.read()
        assert [c for c, _ in got] == ["early"]
        assert tail.gaps  # the id "late" took, not yet visible
        release.set()
        writer.join(10)
        await tail.read()
        assert [c for c, _ in got] == ["early", "late"]
        assert not tail.gaps
        assert local_only == []  # the others' events: not this process's own
        with reader.unit_of_work() as uow:  # its own: handed over once, as its own
            uow.collect([status_event("own")])
        await tail.read()
        assert [c for c, _ in got] == ["early", "late", "own"]
        assert local_only == ["own"]
        await relay.stop()

    try:
        asyncio.run(scenario())
    finally:
        release.set()
        reader.close()
        quick.close()
