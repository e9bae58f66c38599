"""The store suite: every test runs against SQLite and against the real PostgreSQL server."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from chargemesh.domain import (
    ConnectorStatus,
    StationAdded,
    StationChanged,
    StationRemoved,
    Tariff,
    TariffPeriod,
)
from chargemesh.store import Outcome, StatusUpdate, Store, StoreIntegrityError, open_store
from chargemesh.store.migrations import migrations
from tests.factories import T0, make_operator, make_station


@pytest.fixture
def op_store(store: Store) -> Store:
    store.upsert_operator(make_operator())
    return store


def test_schema_is_migrated_and_migrating_again_changes_nothing(store_url: str) -> None:
    with open_store(store_url) as first:
        backend = "sqlite" if store_url.startswith("sqlite") else "postgres"
        assert first.schema_version() == len(migrations(backend)) >= 1
    with open_store(store_url) as second:
        assert second.schema_version() == len(migrations(backend))


def test_operator_round_trip(store: Store) -> None:
    op = make_operator()
    store.upsert_operator(op)
    store.upsert_operator(dataclasses.replace(op, name="Lanting Charging Co."))
    other = make_operator("MA5DA0053", "Qingyun EV")
    store.upsert_operator(other)
    assert store.get_operator(op.id) == dataclasses.replace(op, name="Lanting Charging Co.")
    assert [o.id for o in store.list_operators()] == ["313744932", "MA5DA0053"]
    assert store.get_operator("nobody") is None


def test_station_round_trip_keeps_every_field(op_store: Store) -> None:
    station = make_station(evses=3, connectors=2)
    result = op_store.upsert_stations([station], at=T0)
    assert result.added == [StationAdded(station.id, station.operator_id, T0)]
    assert (result.evses_written, result.connectors_written) == (3, 6)
    assert op_store.get_station(station.id) == station
    assert op_store.get_station("313744932:missing") is None


def test_unchanged_resync_writes_nothing_and_emits_no_event(op_store: Store) -> None:
    stations = [make_station(source_id=f"S{i}") for i in range(5)]
    op_store.upsert_stations(stations, at=T0)
    again = op_store.upsert_stations(stations, at=T0 + timedelta(hours=1))
    assert again.added == []
    assert again.changed == []
    assert again.unchanged == 5
    assert again.connectors_written == 0


def test_changed_station_prunes_what_it_no_longer_lists_and_keeps_live_status(
    op_store: Store,
) -> None:
    station = make_station(evses=2, connectors=2)
    op_store.upsert_stations([station], at=T0)
    kept = station.evses[0].connectors[0]
    live = StatusUpdate(kept.id, ConnectorStatus.CHARGING, T0 + timedelta(minutes=5), "tcec:push")
    op_store.apply_status_updates([live])

    # The feed now lists one EVSE with one connector (still saying "available"), renamed.
    first = dataclasses.replace(station.evses[0], connectors=(kept,))
    smaller = dataclasses.replace(station, name="Renamed", evses=(first,))
    result = op_store.upsert_stations([smaller], at=T0 + timedelta(hours=1))

    assert result.changed == [
        StationChanged(station.id, station.operator_id, T0 + timedelta(hours=1))
    ]
    got = op_store.get_station(station.id)
    assert got is not None
    assert got.name == "Renamed"
    assert [c.id for c in got.connectors] == [kept.id]
    # Static data comes from the sync; status only from the status path.
    assert got.connectors[0].status is ConnectorStatus.CHARGING
    assert op_store.counts().connectors == 1
    assert op_store.counts().evses == 1


def test_a_station_listed_twice_in_one_batch_is_written_once(op_store: Store) -> None:
    a = make_station(name="first")
    b = make_station(name="second")
    result = op_store.upsert_stations([a, b], at=T0)
    assert len(result.added) == 1
    got = op_store.get_station(a.id)
    assert got is not None
    assert got.name == "second"


def test_bulk_batches_across_chunk_boundaries(op_store: Store) -> None:
    stations = [make_station(source_id=f"S{i:05d}", evses=1, connectors=1) for i in range(4500)]
    result = op_store.upsert_stations(iter(stations), at=T0)
    assert len(result.added) == 4500
    counts = op_store.counts()
    assert (counts.operators, counts.stations, counts.evses, counts.connectors) == (
        1,
        4500,
        4500,
        4500,
    )
    ids = [s.id for s in op_store.iter_stations()]
    assert ids == sorted(s.id for s in stations)
    assert op_store.station_ids("313744932") == set(ids)


def test_a_failing_batch_changes_nothing(op_store: Store) -> None:
    good = make_station(source_id="OK")
    orphan = make_station(op_id="UNKNOWNOP", source_id="X")  # its operator is not registered
    with pytest.raises(StoreIntegrityError, match="registry would break"):
        op_store.upsert_stations([good, orphan], at=T0)
    assert op_store.get_station(good.id) is None
    assert op_store.counts().stations == 0


def test_status_updates_record_changes_ignore_stale_and_report_unknown(op_store: Store) -> None:
    station = make_station(evses=1, connectors=2)
    op_store.upsert_stations([station], at=T0)
    c1, c2 = (c.id for c in station.connectors)
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)

    result = op_store.apply_status_updates(
        [
            StatusUpdate(c1, ConnectorStatus.CHARGING, t2, "tcec:push", "3"),
            StatusUpdate(c1, ConnectorStatus.AVAILABLE, t1, "tcec:poll", "1"),  # older: ignored
            StatusUpdate(c2, ConnectorStatus.AVAILABLE, t1, "tcec:poll", "1"),  # same: confirmed
            StatusUpdate(f"{c2}-nope", ConnectorStatus.FAULTED, t1, "tcec:push", "255"),
        ]
    )
    assert [(e.connector_id, e.previous, e.status, e.at) for e in result.changed] == [
        (c1, ConnectorStatus.AVAILABLE, ConnectorStatus.CHARGING, t2)
    ]
    assert result.changed[0].station_id == station.id
    assert result.changed[0].source_code == "3"
    assert (result.stale, result.confirmed, result.unknown) == (1, 1, [f"{c2}-nope"])
    assert result.outcomes == [Outcome.CHANGED, Outcome.STALE, Outcome.CONFIRMED, Outcome.UNKNOWN]

    got = op_store.get_station(station.id)
    assert got is not None
    by_id = {c.id: c for c in got.connectors}
    assert (by_id[c1].status, by_id[c1].status_at) == (ConnectorStatus.CHARGING, t2)
    assert (by_id[c2].status, by_id[c2].status_at) == (ConnectorStatus.AVAILABLE, t1)

    # Each change names what it ended: "available since T0 (first sync) until t2".
    history = op_store.status_history(c1)
    assert [(h.previous, h.previous_since, h.status, h.at, h.source) for h in history] == [
        (ConnectorStatus.AVAILABLE, T0, ConnectorStatus.CHARGING, t2, "tcec:push"),
    ]
    assert by_id[c1].status_since == t2
    assert by_id[c2].status_since == T0  # confirmed, not changed
    assert op_store.status_history(c2) == []  # a confirmation is not a change

    t3 = t2 + timedelta(minutes=30)
    op_store.apply_status_updates([StatusUpdate(c1, ConnectorStatus.FAULTED, t3, "tcec:poll")])
    timeline = op_store.status_history(c1)
    assert [(h.previous, h.previous_since, h.status, h.at) for h in timeline] == [
        (ConnectorStatus.AVAILABLE, T0, ConnectorStatus.CHARGING, t2),
        (ConnectorStatus.CHARGING, t2, ConnectorStatus.FAULTED, t3),
    ]
    later = op_store.status_history(c1, since=t2 + timedelta(seconds=1))
    assert [h.status for h in later] == [ConnectorStatus.FAULTED]
    assert [h.status for h in op_store.status_history(c1, until=t3)] == [ConnectorStatus.CHARGING]


def test_a_batch_with_a_naive_timestamp_is_refused_whole(op_store: Store) -> None:
    station = make_station(evses=1, connectors=1)
    op_store.upsert_stations([station], at=T0)
    cid = station.connectors[0].id
    good = StatusUpdate(cid, ConnectorStatus.FAULTED, T0 + timedelta(minutes=1), "tcec:push")
    naive = StatusUpdate(cid, ConnectorStatus.CHARGING, T0.replace(tzinfo=None), "tcec:push")
    with pytest.raises(ValueError, match="no time zone"):
        op_store.apply_status_updates([good, naive])
    got = op_store.get_station(station.id)
    assert got is not None
    assert got.connectors[0].status is ConnectorStatus.AVAILABLE


def test_removed_stations_disappear_and_come_back_as_added(op_store: Store) -> None:
    a, b = make_station(source_id="A"), make_station(source_id="B")
    op_store.upsert_stations([a, b], at=T0)
    removed = op_store.remove_stations([a.id, "313744932:never-was"], at=T0)
    assert removed == [StationRemoved(a.id, a.operator_id, T0)]
    assert op_store.remove_stations([a.id], at=T0) == []  # already gone
    assert op_store.get_station(a.id) is None
    assert [s.id for s in op_store.iter_stations()] == [b.id]
    assert op_store.counts().stations == 1
    again = op_store.upsert_stations([a], at=T0 + timedelta(days=1))
    assert [e.station_id for e in again.added] == [a.id]
    assert op_store.get_station(a.id) == a


def test_connector_lookup_by_the_operators_own_ids(op_store: Store) -> None:
    station = make_station(evses=1, connectors=2)
    op_store.upsert_stations([station], at=T0)
    c1, c2 = station.connectors
    found = op_store.connector_ids_by_source("313744932", [c1.source_id, c2.source_id, "zzz"])
    assert found == {c1.source_id: c1.id, c2.source_id: c2.id}
    assert op_store.connector_ids_by_source("MA5DA0053", [c1.source_id]) == {}


def test_iteration_by_operator(store: Store) -> None:
    store.upsert_operator(make_operator("OPA000001"))
    store.upsert_operator(make_operator("OPB000002"))
    store.upsert_stations([make_station("OPA000001", "1"), make_station("OPB000002", "1")], at=T0)
    assert [s.operator_id for s in store.iter_stations("OPB000002")] == ["OPB000002"]


def test_tariff_round_trip(op_store: Store) -> None:
    tariff = Tariff(
        id="313744932:T1",
        operator_id="313744932",
        periods=(
            TariffPeriod(time(0, 0), time(8, 0), Decimal("0.3500"), Decimal("0.4000")),
            TariffPeriod(time(8, 0), time(0, 0), Decimal("1.0200"), Decimal("0.8000")),
        ),
        parking_fee="free for 2 hours",
    )
    assert op_store.upsert_tariffs([tariff]) == 1
    assert op_store.get_tariff(tariff.id) == tariff
    assert op_store.get_tariff("none") is None


def test_fee_text_at_a_sync_keeps_the_periods_fetched_from_the_operator(op_store: Store) -> None:
    fetched = Tariff(
        id="313744932:S1:tariff",
        operator_id="313744932",
        periods=(TariffPeriod(time(0, 0), time(0, 0), Decimal("0.9000"), Decimal("0.6000")),),
        description="电费: 0.9元/度",
        fetched_at=T0,
    )
    op_store.upsert_tariffs([fetched])
    assert op_store.get_tariff(fetched.id) == fetched  # fetched_at round-trips
    text = dataclasses.replace(fetched, periods=(), fetched_at=None, description="电费: 1.0元/度")
    op_store.upsert_tariffs([text])  # the listing's fee text, at the next sync
    assert op_store.get_tariff(fetched.id) == dataclasses.replace(
        fetched, description=text.description
    )
    published = dataclasses.replace(text, id="313744932:T2")  # never fetched: replaced whole
    op_store.upsert_tariffs([dataclasses.replace(published, periods=fetched.periods)])
    op_store.upsert_tariffs([published])
    assert op_store.get_tariff(published.id) == published


def test_data_survives_a_restart(store_url: str) -> None:
    with open_store(store_url) as s:
        s.upsert_operator(make_operator())
        s.upsert_stations([make_station()], at=T0)
    with open_store(store_url) as reopened:
        assert reopened.get_station(make_station().id) == make_station()


def test_the_protocol_inbox_keeps_acknowledged_messages(store: Store) -> None:
    order = {"StartChargeSeq": "MA01H3BQ2" + "0" * 18, "TotalMoney": 12.5, "Note": "夜间"}
    first = store.append_inbox("313744932", "tcec", "notification_charge_order_info", order, at=T0)
    second = store.append_inbox("MA5DA0053", "tcec", "notification_stop_charge_result", {}, at=T0)
    assert second > first
    got = store.inbox("tcec", "notification_charge_order_info")
    assert [(m.id, m.operator_id, m.payload, m.received_at) for m in got] == [
        (first, "313744932", order, T0)
    ]
    assert [m.message for m in store.inbox("tcec", operator_id="MA5DA0053")] == [
        "notification_stop_charge_result"
    ]
    assert store.inbox("ocpi") == []


def test_a_bulk_sqlite_store_has_the_larger_page_cache(tmp_path: Path) -> None:
    """``chargemesh sync`` keeps no search index and gives its memory to SQLite's page cache."""
    from chargemesh.store.sqlite import BULK_CACHE_MB, CACHE_MB, SqliteStore

    for bulk, mb in ((False, CACHE_MB), (True, BULK_CACHE_MB)):
        with open_store(f"sqlite:///{tmp_path / f'{bulk}.db'}", bulk=bulk) as opened:
            assert isinstance(opened, SqliteStore)
            (size,) = opened._db.execute("PRAGMA cache_size").fetchone()
            assert size == -mb * 1024
