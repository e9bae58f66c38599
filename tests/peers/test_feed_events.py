"""A sync's events travel through the outbox: the stations a T/CEC and an OCPI feed list, their
connectors' status and a station delisted after two listings without it are written with the
pages that caused them, and what the platform's bus hears is what the outbox holds (each event
with its outbox id). On SQLite and PostgreSQL, over the simulated country's real servers."""

from __future__ import annotations

from pathlib import Path

from chargemesh.domain import StationAdded, StationRemoved, StatusChanged, StatusConfirmed
from chargemesh.domain.events import Event
from chargemesh.sim.country import Country
from tests.peers.test_simulated_country import (
    NOW,
    OCPI_OP,
    TCEC_OP,
    Listing,
    all_ok,
    country,  # noqa: F401  (the module's country, made once)
    simulated,
)

THESE = [TCEC_OP, OCPI_OP]


def test_a_syncs_events_are_the_outboxs(
    country: Country,  # noqa: F811
    tmp_path: Path,
    store_url: str,
) -> None:
    with simulated(country, tmp_path, store_url, page_size=100) as run:
        heard: list[Event] = []
        for kind in (StationAdded, StationRemoved, StatusChanged, StatusConfirmed):
            run.world.platform.bus.subscribe(kind, heard.append)
        all_ok(run.sync(operators=THESE, delisting_rules=NOW), run.truth, THESE)

        added = {e.station_id for e in heard if isinstance(e, StationAdded)}
        assert added == run.store.station_ids(TCEC_OP) | run.store.station_ids(OCPI_OP)
        assert any(isinstance(e, (StatusChanged, StatusConfirmed)) for e in heard)
        _all_from_the_outbox(run.store.outbox_after(0, limit=1_000_000), heard)

        # a station the T/CEC feed stops listing is delisted at the second full sync without it
        tcec = run.world.sim.tcec_servers[TCEC_OP]
        gone_source = sorted(run.store.station_ids(TCEC_OP))[0].split(":", 1)[1]
        tcec.network = Listing(tcec.network, lambda s: s.station_id != gone_source)
        heard.clear()
        for _ in range(2):
            all_ok(run.sync(operators=[TCEC_OP], delisting_rules=NOW), run.truth, [TCEC_OP])
        (removed,) = [e for e in heard if isinstance(e, StationRemoved)]
        assert removed.station_id.endswith(gone_source)
        _all_from_the_outbox(run.store.outbox_after(0, limit=1_000_000), heard)


def _all_from_the_outbox(outbox: list[tuple[int, Event]], heard: list[Event]) -> None:
    """Every event heard carries the id of an outbox row holding that very event."""
    rows = dict(outbox)
    assert heard
    for event in heard:
        assert event.event_id is not None, event
        assert rows[event.event_id] == event
