"""Group commit: concurrent pushes share transactions, each caller gets its own outcome."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from chargemesh.bus import EventBus
from chargemesh.domain import ConnectorStatus, StatusChanged
from chargemesh.events.relay import OutboxRelay
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.store import Outcome, StatusResult, StatusUpdate, Store
from tests.factories import T0, make_operator, make_station


@pytest.fixture
def filled(store: Store) -> Store:
    store.upsert_operator(make_operator())
    store.upsert_stations(
        [make_station(source_id=f"S{i}", evses=2, connectors=2) for i in range(50)], at=T0
    )
    return store


def test_concurrent_pushes_are_committed_in_few_batches(filled: Store) -> None:
    connectors = [c.id for s in filled.iter_stations() for c in s.connectors]
    bus = EventBus()
    seen: list[StatusChanged] = []
    bus.subscribe(StatusChanged, seen.append)

    async def scenario() -> list[StatusResult]:
        writer = StatusWriter(filled, OutboxRelay(filled, bus))
        await writer.start()
        at = T0 + timedelta(minutes=1)
        pushes = [
            writer.apply([StatusUpdate(cid, ConnectorStatus.CHARGING, at, "tcec:push", "3")])
            for cid in connectors
        ]
        results = await asyncio.gather(*pushes)
        await writer.stop()
        assert 1 <= writer.batches < len(connectors) / 4
        return list(results)

    results = asyncio.run(scenario())
    assert len(results) == 200
    for cid, result in zip(connectors, results, strict=True):
        assert result.outcomes == [Outcome.CHANGED]
        assert [e.connector_id for e in result.changed] == [cid]
    assert sorted(e.connector_id for e in seen) == sorted(connectors)
    # each reached the bus from the outbox, written in its batch's transaction
    assert sorted(e.event_id for e in seen) == [i for i, _ in filled.outbox_after(0)]
    assert {c.status for s in filled.iter_stations() for c in s.connectors} == {
        ConnectorStatus.CHARGING
    }


def test_each_caller_gets_its_own_outcomes(filled: Store) -> None:
    station = filled.get_station("313744932:S1")
    assert station is not None
    c1, c2 = station.connectors[0].id, station.connectors[1].id

    async def scenario() -> tuple[StatusResult, StatusResult]:
        writer = StatusWriter(filled, OutboxRelay(filled, EventBus()))
        await writer.start()
        later = T0 + timedelta(minutes=5)
        a = writer.apply(
            [
                StatusUpdate(c1, ConnectorStatus.FAULTED, later, "tcec:push"),
                StatusUpdate("313744932:nope", ConnectorStatus.FAULTED, later, "tcec:push"),
            ]
        )
        b = writer.apply(
            [
                StatusUpdate(c2, ConnectorStatus.AVAILABLE, later, "tcec:poll"),
                StatusUpdate(c1, ConnectorStatus.CHARGING, T0, "tcec:poll"),  # older than held
            ]
        )
        results = await asyncio.gather(a, b)
        await writer.stop()
        return results[0], results[1]

    first, second = asyncio.run(scenario())
    assert first.outcomes == [Outcome.CHANGED, Outcome.UNKNOWN]
    assert first.unknown == ["313744932:nope"]
    assert second.outcomes == [Outcome.CONFIRMED, Outcome.STALE]


def test_a_bad_push_is_refused_alone(filled: Store) -> None:
    station = filled.get_station("313744932:S2")
    assert station is not None
    cid = station.connectors[0].id

    async def scenario() -> None:
        writer = StatusWriter(filled, OutboxRelay(filled, EventBus()))
        await writer.start()
        naive = StatusUpdate(cid, ConnectorStatus.FAULTED, T0.replace(tzinfo=None), "x")
        good = StatusUpdate(cid, ConnectorStatus.OFFLINE, T0 + timedelta(minutes=2), "x")
        bad_call = writer.apply([naive])
        with pytest.raises(ValueError, match="no time zone"):
            await bad_call
        result = await writer.apply([good])
        assert result.outcomes == [Outcome.CHANGED]
        await writer.stop()

    asyncio.run(scenario())
    got = filled.get_station("313744932:S2")
    assert got is not None
    assert got.connectors[0].status is ConnectorStatus.OFFLINE
