"""The unit of work and its outbox on both stores: writes of one unit commit together or not at
all, its events are written in its transaction, and the relay publishes them at least once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from chargemesh.bus import EventBus
from chargemesh.domain import ConnectorStatus, StationAdded, StatusChanged
from chargemesh.domain.session import Vehicle
from chargemesh.events.relay import OutboxRelay
from chargemesh.store import StatusUpdate, Store, StoreError, open_store
from tests.factories import T0, make_operator, make_station
from tests.helpers import wait_for


def _filled(store: Store) -> str:
    store.upsert_operator(make_operator())
    store.upsert_stations([make_station()], at=T0)
    station = make_station()
    return station.evses[0].connectors[0].id


def test_the_writes_of_a_unit_commit_together(store: Store) -> None:
    store.upsert_operator(make_operator())
    with store.unit_of_work() as uow:
        result = uow.registry.upsert_stations([make_station()], at=T0)
        uow.sessions.save_vehicle(Vehicle("v1", "alice", "LRW3E7EK4NC000001", "Model Y"))
        uow.collect(result.added)
    assert store.get_station(make_station().id) is not None
    assert store.get_vehicle("v1") is not None
    assert [type(e) for _, e in store.outbox_after(0)] == [StationAdded]


def test_a_failing_unit_keeps_nothing_and_announces_nothing(store: Store) -> None:
    store.upsert_operator(make_operator())

    def two_steps_then_a_failure() -> None:
        with store.unit_of_work() as uow:
            result = uow.registry.upsert_stations([make_station()], at=T0)
            uow.sessions.save_vehicle(Vehicle("v1", "alice", "LRW3E7EK4NC000001", "Model Y"))
            uow.collect(result.added)
            raise RuntimeError("the second step failed")

    with pytest.raises(RuntimeError):
        two_steps_then_a_failure()
    assert store.get_station(make_station().id) is None
    assert store.get_vehicle("v1") is None
    assert store.outbox_after(0) == []
    store.upsert_operator(make_operator("313744933"))  # the store is usable afterwards


def test_an_async_unit_is_one_transaction_and_may_not_be_held_across_an_await(
    store: Store,
) -> None:
    asyncio.run(_async_unit(store))


async def _async_unit(store: Store) -> None:
    connector = _filled(store)
    async with store.unit_of_work() as uow:
        update = StatusUpdate(connector, ConnectorStatus.CHARGING, T0 + timedelta(1), "t")
        uow.collect(uow.status.apply_status_updates([update]).events)
    assert [e.status for _, e in store.outbox_after(0)] == [ConnectorStatus.CHARGING]  # type: ignore[union-attr]

    go = asyncio.Event()

    async def another_request() -> None:  # a task of its own, begun before the unit
        await go.wait()
        store.list_operators()

    other = asyncio.create_task(another_request())
    async with store.unit_of_work():
        go.set()
        with pytest.raises(StoreError, match="must not await"):
            await other


def test_the_relay_publishes_each_commit_and_saves_its_position(store: Store) -> None:
    asyncio.run(_relay_publishes(store))


async def _relay_publishes(store: Store) -> None:
    connector = _filled(store)
    bus = EventBus()
    seen: list[StatusChanged] = []
    bus.subscribe(StatusChanged, seen.append)
    relay = OutboxRelay(store, bus, save_every_s=0.05)
    await relay.start()
    for n, status in enumerate((ConnectorStatus.CHARGING, ConnectorStatus.AVAILABLE), 1):
        update = StatusUpdate(connector, status, T0 + timedelta(n), "t")
        with store.unit_of_work() as uow:
            uow.collect(uow.status.apply_status_updates([update]).events)
    relay.flush()
    assert [e.status for e in seen] == [ConnectorStatus.CHARGING, ConnectorStatus.AVAILABLE]
    assert [e.event_id for e in seen] == [i for i, _ in store.outbox_after(0)]
    await asyncio.to_thread(wait_for, lambda: store.outbox_position("local") == relay.position)
    await relay.stop()

    again = EventBus()
    repeated: list[StatusChanged] = []
    again.subscribe(StatusChanged, repeated.append)
    await OutboxRelay(store, again).start()  # a new process: nothing after the saved position
    assert repeated == []


def _outbox_rows(store: Store, count: int) -> list[int]:
    """The outbox ids of ``count`` status changes of one connector, each its own commit."""
    connector = _filled(store)
    for n in range(1, count + 1):
        update = StatusUpdate(connector, ConnectorStatus.CHARGING if n % 2 else
                              ConnectorStatus.AVAILABLE, T0 + timedelta(n), "t")  # fmt: skip
        with store.unit_of_work() as uow:
            uow.collect(uow.status.apply_status_updates([update]).events)
    return [i for i, _ in store.outbox_after(0)]


def test_rows_every_relay_passed_are_purged(store: Store) -> None:
    ids = _outbox_rows(store, 5)
    store.save_outbox_position("local", ids[-1], keep=2)
    assert [i for i, _ in store.outbox_after(0)] == ids[-2:]


def test_a_relay_not_heard_from_for_a_week_no_longer_holds_the_purge(store: Store) -> None:
    """A node taken out of the cluster (or a worker number above the configured count) leaves
    its relay's position behind: a week later it no longer holds the outbox's purge back; a
    relay quiet for less still does."""
    ids = _outbox_rows(store, 8)
    now = datetime.now(UTC)
    store.save_outbox_position("node-gone", ids[0], at=now - timedelta(days=8))
    store.save_outbox_position("node-quiet", ids[2], at=now - timedelta(days=6))
    store.save_outbox_position("local", ids[-1], keep=2)
    assert [i for i, _ in store.outbox_after(0)] == ids[1:]  # held at the quiet one, 2 kept
    store.save_outbox_position("node-quiet", ids[-1], at=now - timedelta(days=6))
    store.save_outbox_position("local", ids[-1], keep=2)
    assert [i for i, _ in store.outbox_after(0)] == ids[-2:]  # the gone one holds nothing
    assert store.outbox_position("node-gone") == ids[0]  # its position is still on record


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from datetime import UTC, datetime
    from chargemesh.domain import ConnectorStatus
    from chargemesh.store import StatusUpdate, open_store
    store = open_store(sys.argv[1])
    update = StatusUpdate(sys.argv[2], ConnectorStatus.FAULTED, datetime.now(UTC), "tcec:push")
    with store.unit_of_work() as uow:  # no relay runs in this process
        uow.collect(uow.status.apply_status_updates([update]).events)
    print("committed", flush=True)
    time.sleep(60)
    """
)


def test_a_process_killed_after_a_commit_delivers_its_events_when_one_starts_again(
    store_url: str,
) -> None:
    asyncio.run(_killed_then_restarted(store_url))


async def _killed_then_restarted(store_url: str) -> None:
    store = open_store(store_url)
    try:
        connector = _filled(store)
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, store_url, connector],
            stdout=subprocess.PIPE, text=True, cwd=os.getcwd(),
        )  # fmt: skip
        assert child.stdout is not None
        assert await asyncio.to_thread(child.stdout.readline) == "committed\n"
        child.send_signal(signal.SIGKILL)
        child.wait()
        bus = EventBus()
        seen: list[StatusChanged] = []
        bus.subscribe(StatusChanged, seen.append)
        relay = OutboxRelay(store, bus)
        await relay.start()
        await relay.stop()
    finally:
        store.close()
    assert [(e.connector_id, e.status) for e in seen] == [(connector, ConnectorStatus.FAULTED)]
