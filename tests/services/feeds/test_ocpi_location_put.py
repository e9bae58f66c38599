"""An OCPI Location PUT is one unit of work on both stores: the wire object, the station and
its connectors' status are kept together, or none of them."""

from __future__ import annotations

import asyncio

import pytest

from chargemesh.bus import EventBus
from chargemesh.domain import Capability, Operator, OperatorProtocol, StationAdded
from chargemesh.events.relay import OutboxRelay
from chargemesh.services.feeds.ocpi_locations import LocationIngest
from chargemesh.services.feeds.status import StatusWriter
from chargemesh.store import Store, StoreIntegrityError
from tests.protocols.ocpi import example

EXAMPLE = "location_example_uc2_destination_charger.json"  # official, tests/data
CPO = Operator("BE-BEC", "Be Charging", OperatorProtocol.OCPI, frozenset({Capability.REALTIME}))


def _put(store: Store, bus: EventBus) -> None:
    body = example(EXAMPLE)
    relay = OutboxRelay(store, bus)
    ingest = LocationIngest(store, StatusWriter(store, relay), relay)
    cc, pid, lid = body["country_code"], body["party_id"], body["id"]
    asyncio.run(ingest.put(CPO, CPO.id, cc, pid, lid, None, None, body))


def test_a_location_put_keeps_the_object_the_station_and_its_events_together(
    store: Store,
) -> None:
    store.upsert_operator(CPO)
    bus = EventBus()
    added: list[StationAdded] = []
    bus.subscribe(StationAdded, added.append)
    _put(store, bus)
    assert store.list_ocpi_objects("locations")
    assert len(added) == 1
    assert store.get_station(added[0].station_id) is not None
    assert added[0].event_id in [i for i, _ in store.outbox_after(0)]


def test_a_location_put_the_registry_refuses_keeps_no_wire_object_either(store: Store) -> None:
    # the operator is not registered: the station cannot be written, so nothing is
    with pytest.raises(StoreIntegrityError):
        _put(store, EventBus())
    assert store.list_ocpi_objects("locations") == []
    assert store.outbox_after(0) == []
