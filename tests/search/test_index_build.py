"""A build of the index while changes pour in (a node starting while another node syncs): what
arrives during the build is not lost — a station removed after the build read it does not come
back with the new segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from chargemesh.bus import EventBus
from chargemesh.domain import ConnectorStatus, StationChanged, StatusChanged
from chargemesh.search.index import StationIndex
from chargemesh.store import StatusUpdate, open_store
from tests.factories import make_operator, make_station


def test_a_station_removed_during_a_build_stays_removed(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.upsert_operator(make_operator())
    stations = [make_station(source_id=f"S{n}") for n in range(3)]
    at = datetime.now(UTC)
    store.upsert_stations(stations, at=at)
    bus = EventBus()
    index = StationIndex(store)
    index.subscribe(bus)
    gone = stations[1].id
    read = store.index_connectors

    def connectors_then_a_removal(after: str, limit: int) -> list[object]:
        page = read(after, limit)  # the build has read every station by now
        if page:
            bus.publish(store.remove_stations([gone], at=at))
        return page  # type: ignore[return-value]

    store.index_connectors = connectors_then_a_removal  # type: ignore[method-assign]
    index.build()
    assert index.locate(gone) is None
    assert index.locate(stations[0].id) is not None
    store.close()


def test_a_late_copy_of_an_older_status_does_not_undo_a_newer_one(tmp_path: Path) -> None:
    """Across nodes an event may come again late (the outbox sweeper republishing what a dead
    node never published, after the newer status went out): the newer status stands, as in the
    store."""
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.upsert_operator(make_operator())
    st = make_station(evses=1, connectors=1)
    store.upsert_stations([st], at=datetime.now(UTC))
    index = StationIndex(store)
    index.build()
    connector = st.evses[0].connectors[0]
    now = datetime.now(UTC)

    def status(value: ConnectorStatus, at: datetime) -> StatusChanged:
        return StatusChanged(connector.id, st.id, st.operator_id, ConnectorStatus.UNKNOWN, value,
                             at, source="t")  # fmt: skip

    index.on_status(status(ConnectorStatus.AVAILABLE, now))
    found = index.locate(st.id)
    assert found is not None
    assert int(found[0].available[found[1]]) == 1
    index.on_status(status(ConnectorStatus.CHARGING, now - timedelta(seconds=5)))  # late copy
    assert int(found[0].available[found[1]]) == 1
    store.close()


def test_a_status_that_arrives_while_a_changed_station_is_read_again_is_kept(
    tmp_path: Path,
) -> None:
    """A station changed (a sync) is read again from the store; a status pushed meanwhile
    reaches the old copy of its row: it is replayed on the new one, not lost with the old (a
    new leader's first sync during a push storm left its index behind the store)."""
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    store.upsert_operator(make_operator())
    st = make_station(evses=1, connectors=1)
    at = datetime.now(UTC)
    store.upsert_stations([st], at=at)
    connector = st.evses[0].connectors[0]
    store.apply_status_updates([StatusUpdate(connector.id, ConnectorStatus.CHARGING, at, "t")])
    bus = EventBus()
    index = StationIndex(store)
    index.subscribe(bus)
    index.build()
    bus.publish([StationChanged(st.id, st.operator_id, at)])
    read = store.get_station

    def read_then_a_push(station_id: str) -> object:
        held = read(station_id)  # charging, as the store had it when read
        pushed = StatusUpdate(connector.id, ConnectorStatus.AVAILABLE,
                              at + timedelta(seconds=1), "tcec:push")  # fmt: skip
        bus.publish(store.apply_status_updates([pushed]).events)
        return held

    store.get_station = read_then_a_push  # type: ignore[method-assign]
    assert index.apply_pending() == 1
    found = index.locate(st.id)
    assert found is not None
    assert int(found[0].available[found[1]]) == 1
    store.close()
