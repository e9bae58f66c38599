"""The NATS event bus against a real nats-server with JetStream (tests/nats_server.py): two
buses on one server are two nodes. An event one node publishes reaches the other's handlers and
its own once; a node follows from where the stream was when it started; a node cut off from the
server gets, once back, what the other published meanwhile, and what it published itself
reaches the other; repeats are dropped; the leader's sweep publishes what a node committed and
never published. ``[bus]`` over SQLite is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import orjson
import pytest

from chargemesh.bootstrap import Platform, build_platform
from chargemesh.config import BusConfig, ConfigError, parse_config
from chargemesh.domain import ConnectorStatus, StationChanged, StatusChanged
from chargemesh.events.nats_bus import NatsBus, OutboxSweeper
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import StatusUpdate, Store, open_store
from tests.factories import make_operator, make_station
from tests.nats_server import NatsServer

AT = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _status(event_id: int, connector: str = "c1", status: str = "charging") -> StatusChanged:
    return StatusChanged(
        connector_id=connector, station_id="st.1", operator_id="313744932",
        previous=ConnectorStatus.AVAILABLE, status=ConnectorStatus(status), at=AT,
        source="tcec:push", event_id=event_id,
    )  # fmt: skip


def _station(event_id: int) -> StationChanged:
    return StationChanged("st.1", "313744932", AT, event_id=event_id)


def _node(url: str, name: str, heard: list[int]) -> NatsBus:
    """A node's bus whose handlers note the event ids they get."""
    bus = NatsBus(BusConfig(url=url, heartbeat_s=0.3, connect_timeout_s=2.0), name)
    bus.subscribe(StatusChanged, lambda e: heard.append(e.event_id))
    bus.subscribe(StationChanged, lambda e: heard.append(e.event_id))
    return bus


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.01)


def test_an_event_reaches_every_node_once(nats_url: str) -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        a_heard: list[int] = []
        b_heard: list[int] = []
        a, b = _node(nats_url, "node-a", a_heard), _node(nats_url, "node-b", b_heard)
        await a.start()
        await b.start()
        try:
            a.publish([_status(1)])
            assert a_heard == [1]  # the node that made it: at once, no round trip
            await _until(lambda: b_heard == [1])
            b.publish([_station(2)])
            # the stream keeps order: once B's event reached A, A's own came back (and was dropped)
            await _until(lambda: a_heard == [1, 2])
            await _until(lambda: b_heard == [1, 2])
        finally:
            await a.stop()
            await b.stop()
        return a_heard, b_heard

    assert asyncio.run(scenario()) == ([1, 2], [1, 2])


def test_repeats_are_dropped_by_event_id(nats_url: str) -> None:
    async def scenario() -> list[int]:
        a_heard: list[int] = []
        b_heard: list[int] = []
        a, b = _node(nats_url, "node-a", a_heard), _node(nats_url, "node-b", b_heard)
        await a.start()
        await b.start()
        try:
            a.publish([_status(1), _status(1)])
            a.publish([_status(1)])  # a relay repeating itself
            await _until(lambda: b_heard == [1])
            b.publish([_status(1), _station(2)])  # the sweeper publishing it again, elsewhere
            a.publish([_station(2)])
            await _until(lambda: a_heard == [1, 2] and b_heard == [1, 2])
            c_heard: list[int] = []
            c = _node(nats_url, "node-c", c_heard)
            await c.start()  # what it has not seen, even already on the stream, it takes once
            c.publish([_station(3)])
            await _until(lambda: a_heard == [1, 2, 3] and b_heard == [1, 2, 3])
            await c.stop()
            assert c_heard == [3]
        finally:
            await a.stop()
            await b.stop()
        return a_heard

    assert asyncio.run(scenario()) == [1, 2, 3]


def test_a_starting_node_follows_from_the_stream_s_end_with_the_latest_status_kept(
    nats_url: str,
) -> None:
    """What was published before a node started is in the store its index is built from; all
    that comes after, from any node, reaches it. The stream keeps one status per connector
    (what a node catching up needs) and every other event."""

    async def scenario() -> tuple[list[int], int]:
        a_heard: list[int] = []
        b_heard: list[int] = []
        a, b = _node(nats_url, "node-a", a_heard), _node(nats_url, "node-b", b_heard)
        await a.start()
        try:
            a.publish([_status(1, status="charging"), _status(2, status="available")])
            a.publish([_station(3), _status(4, connector="c2")])
            await _until(lambda: a.stored_through(4) == 4)
            await b.start()
            a.publish([_status(5), _station(6)])
            await _until(lambda: b_heard == [5, 6])
            await _until(lambda: a.stored_through(6) == 6)
        finally:
            await a.stop()
            await b.stop()
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info("CHARGEMESH_EVENTS")
        await nc.close()
        return b_heard, info.state.messages

    heard, kept = asyncio.run(scenario())
    assert heard == [5, 6]
    assert kept == 4  # c1's latest (5), c2's (4), the two station changes (3, 6)


def test_a_node_cut_off_gets_what_was_published_meanwhile(tmp_path: Path) -> None:
    """The server stops and comes back (same port and store): A's queue waits (the relay may
    not save past it) and is stored once the server is back; B's consumer resumes after the
    last event it had, and gets A's events and those published while it was away."""

    async def scenario(server: NatsServer) -> tuple[list[int], list[int]]:
        a_heard: list[int] = []
        b_heard: list[int] = []
        a, b = _node(server.url, "node-a", a_heard), _node(server.url, "node-b", b_heard)
        await a.start()
        await b.start()
        try:
            a.publish([_status(1)])
            await _until(lambda: b_heard == [1])
            server.stop()
            await _until(lambda: not a.online and not b.online)
            a.publish([_status(2, status="available"), _station(3)])
            await asyncio.sleep(0.2)
            assert a.stored_through(3) == 1  # not stored: the relay saves no further
            await asyncio.to_thread(server.start)
            await _until(lambda: a.stored_through(3) == 3, timeout_s=10)
            await _until(lambda: b_heard == [1, 2, 3], timeout_s=10)
            b.publish([_station(4)])
            await _until(lambda: a_heard == [1, 2, 3, 4])
        finally:
            await a.stop()
            await b.stop()
        return a_heard, b_heard

    with NatsServer(tmp_path / "nats") as server:
        a_heard, b_heard = asyncio.run(scenario(server))
    assert a_heard == b_heard == [1, 2, 3, 4]


def test_the_sweep_publishes_what_a_dead_node_committed(nats_url: str, postgres_url: str) -> None:
    """A node (here: a second store over the same schema, with no relay) commits a status
    change and dies before publishing it: the leader's sweep publishes it once it has been
    unseen for the grace period, and every node gets it; what the live node published itself
    is not published again."""
    store = open_store(postgres_url)
    dead = open_store(postgres_url)
    store.upsert_operator(make_operator())
    station = make_station()
    store.upsert_stations([station], at=AT)
    connector = station.evses[0].connectors[0].id

    def commit(on: Store, status: ConnectorStatus) -> int:
        update = StatusUpdate(connector, status, datetime.now(UTC), "tcec:push")
        with on.unit_of_work() as uow:
            uow.collect(uow.status.apply_status_updates([update]).events)
        return max(i for i, _ in store.outbox_after(0))

    async def scenario() -> tuple[list[int], list[int], int, int]:
        a_heard: list[int] = []
        b_heard: list[int] = []
        a, b = _node(nats_url, "node-a", a_heard), _node(nats_url, "node-b", b_heard)
        await a.start()
        await b.start()
        relay = OutboxRelay(store, a, name="node-a", stored=a.stored_through)
        await relay.start()
        sweeper = OutboxSweeper(store, a, relay, grace_s=0.3)
        try:
            own = await asyncio.to_thread(commit, store, ConnectorStatus.CHARGING)
            relay.flush()
            lost = await asyncio.to_thread(commit, dead, ConnectorStatus.FAULTED)
            first = await sweeper.sweep()  # read unseen: within the grace period yet
            await asyncio.sleep(0.3)
            second = await sweeper.sweep()
            await _until(lambda: b_heard == [own, lost])
            assert a_heard == [own, lost]
            assert await sweeper.sweep() == 0
            assert sweeper.position == lost
        finally:
            await relay.stop()
            await a.stop()
            await b.stop()
        return a_heard, b_heard, first, second

    try:
        _, _, first, second = asyncio.run(scenario())
    finally:
        dead.close()
        store.close()
    assert (first, second) == (0, 1)


def test_a_bus_with_an_sqlite_store_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"\[bus\] needs a PostgreSQL store"):
        parse_config('[bus]\nurl = "nats://127.0.0.1:4222"\n')
    cfg = parse_config(
        '[store]\nurl = "postgresql://127.0.0.1/test"\n[bus]\nurl = "nats://127.0.0.1:4222"\n'
        '[cluster]\nnode_id = "node-1"\n'
    )
    assert cfg.bus is not None
    assert cfg.bus.url == "nats://127.0.0.1:4222"
    assert cfg.cluster.node_id == "node-1"
    assert parse_config("").bus is None  # absent: the in-process bus


def test_an_event_without_its_outbox_id_is_refused(nats_url: str) -> None:
    bus = NatsBus(BusConfig(url=nats_url), "node-a")
    with pytest.raises(ValueError, match="outbox"):
        bus.publish([dataclasses.replace(_status(1), event_id=None)])


def _nearby_available(url: str) -> int:
    answer = httpx.get(
        f"{url}/api/v1/stations/nearby",
        params={"lon": 116.4039, "lat": 39.9101, "radius_km": 5},
        timeout=5,
    )
    assert answer.status_code == 200
    return sum(s["available"] for s in answer.json()["stations"])


def test_a_status_written_on_one_node_shows_on_the_other_within_a_second(
    nats_url: str, postgres_url: str
) -> None:
    """Two platforms as ``chargemesh serve`` builds them from ``[store]`` (one PostgreSQL
    schema), ``[bus]`` (one NATS server) and ``[cluster]``: a status written on node A is in
    node B's nearby search and on B's event stream within a second."""
    seed = open_store(postgres_url)
    seed.upsert_operator(make_operator())
    station = make_station(status=ConnectorStatus.FAULTED)
    seed.upsert_stations([station], at=AT)
    seed.close()
    connector = station.evses[0].connectors[0].id

    def node(name: str) -> Platform:
        return build_platform(
            parse_config(
                f'[store]\nurl = "{postgres_url}"\n[bus]\nurl = "{nats_url}"\n'
                f'[cluster]\nnode_id = "{name}"\n[sync]\ninterval_s = 0\n'
            )
        )

    with (
        node("node-a") as a,
        node("node-b") as b,
        LoopbackServer(a.app()) as node_a,
        LoopbackServer(b.app()) as node_b,
    ):
        assert _nearby_available(node_b.url) == 0  # every status stale or faulted
        ready = httpx.get(f"{node_b.url}/readyz", timeout=5).json()
        assert (ready["ready"], ready["bus"]) == (True, True)  # the bus is reachable
        timeout = httpx.Timeout(5, read=1.0)
        with httpx.stream("GET", f"{node_b.url}/api/v1/events", timeout=timeout) as events:
            lines = events.iter_lines()
            assert next(lines).startswith(": chargemesh")  # B's stream is open
            written = time.monotonic()
            update = StatusUpdate(connector, ConnectorStatus.AVAILABLE, datetime.now(UTC), "t")
            node_a.call(a.writer.apply([update]))
            line = next(line for line in lines if line.startswith("data:"))
            seen_on_stream = time.monotonic() - written
        assert orjson.loads(line.removeprefix("data:"))["connector_id"] == connector
        assert seen_on_stream < 1.0
        assert _nearby_available(node_b.url) == 1
        assert time.monotonic() - written < 1.0


def test_local_only_handlers_get_only_their_nodes_events(nats_url: str) -> None:
    """The handler tables run once in a cluster: on the node that committed the message."""

    async def scenario() -> tuple[list[int], list[int], list[int]]:
        a_all: list[int] = []
        b_all: list[int] = []
        b_local: list[int] = []
        a, b = _node(nats_url, "node-a", a_all), _node(nats_url, "node-b", b_all)
        b.subscribe(StatusChanged, lambda e: b_local.append(e.event_id), local_only=True)
        await a.start()
        await b.start()
        try:
            a.publish([_status(1)])
            b.publish([_status(2, connector="c2")])
            await _until(lambda: sorted(b_all) == [1, 2])
            await _until(lambda: sorted(a_all) == [1, 2])
        finally:
            await a.stop()
            await b.stop()
        return a_all, b_all, b_local

    _, _, b_local = asyncio.run(scenario())
    assert b_local == [2]  # A's event reached B's other handlers, not this one
