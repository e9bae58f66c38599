"""The platform's one outbox relay runs with the app: a change committed with its events by a
process that did not live to publish them is published when the platform starts over the same
store, and a platform that stopped cleanly has saved how far it published, so the next start
repeats nothing. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from chargemesh.bootstrap import assemble
from chargemesh.domain import ConnectorStatus, StatusChanged
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.store import StatusUpdate, Store
from tests.factories import make_operator, make_station


def _served_hears(store: Store) -> list[StatusChanged]:
    """What a platform over ``store`` publishes of status changes while it starts and stops."""
    platform = assemble(store)
    heard: list[StatusChanged] = []
    platform.bus.subscribe(StatusChanged, heard.append)
    with LoopbackServer(platform.app()):  # started: its lifespan has run
        pass
    return heard


def test_the_platform_publishes_on_start_what_was_committed_unpublished(store: Store) -> None:
    store.upsert_operator(make_operator())
    station = make_station()
    store.upsert_stations([station], at=datetime(2026, 11, 1, tzinfo=UTC))
    connector = station.evses[0].connectors[0].id
    update = StatusUpdate(connector, ConnectorStatus.FAULTED, datetime.now(UTC), "tcec:push")
    with store.unit_of_work() as uow:  # committed, and no relay here to publish it
        uow.collect(uow.status.apply_status_updates([update]).events)
    (committed,) = [i for i, _ in store.outbox_after(0)]

    heard = _served_hears(store)
    assert [(e.connector_id, e.status, e.event_id) for e in heard] == [
        (connector, ConnectorStatus.FAULTED, committed)
    ]
    assert store.outbox_position("local") == committed  # saved when the platform stopped
    assert _served_hears(store) == []  # the next start repeats nothing
