"""The ingest tables (merged listings, stations a feed stopped listing) on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from chargemesh.store import Store
from chargemesh.store.repository import (
    NAME_ADDRESS,
    NEARBY,
    SELF,
    SOURCE_REF,
    MissingStation,
    StationSource,
    StationSourcesChange,
)
from tests.factories import T0, make_operator, make_station


@pytest.fixture
def three(store: Store) -> Store:
    """Operators A, B and C with two stations each: A:S1 A:S2 B:S1 B:S2 C:S1 C:S2."""
    for op in ("A", "B", "C"):
        store.upsert_operator(make_operator(op, f"Operator {op}"))
        store.upsert_stations(
            [make_station(op, "S1", evses=2, connectors=1), make_station(op, "S2", evses=1)],
            at=T0,
        )
    return store


def _group(canonical: str, *others: tuple[str, str]) -> list[StationSource]:
    return [
        StationSource(canonical, canonical, SELF, T0),
        *(StationSource(sid, canonical, rule, T0) for sid, rule in others),
    ]


def test_merge_candidates_are_the_live_stations_as_columns(three: Store) -> None:
    three.remove_stations(["C:S2"], at=T0)
    c = three.merge_candidates()
    assert c.ids == ["A:S1", "A:S2", "B:S1", "B:S2", "C:S1"]
    assert len(c) == 5
    assert c.operator_ids == ["A", "A", "B", "B", "C"]
    assert c.source_ids == ["S1", "S2", "S1", "S2", "S1"]
    assert c.names[0] == "Station S1"
    assert c.addresses[0] == "1 Chang'an Avenue"
    assert (c.lons[0], c.lats[0]) == (116.4039, 39.9101)
    # S1: one DC pile (120 kW) and one AC pile (7 kW), one gun each; S2: one DC pile, two guns.
    assert c.connector_mix[0] == (("gbt_ac", 7.0, 1), ("gbt_dc", 120.0, 1))
    assert c.connector_mix[1] == (("gbt_dc", 120.0, 2),)


def test_a_station_without_connectors_has_an_empty_mix(store: Store) -> None:
    store.upsert_operator(make_operator("A"))
    store.upsert_stations([make_station("A", "BARE", evses=0)], at=T0)
    assert store.merge_candidates().connector_mix == [()]


def test_station_sources_round_trip_and_resolve_from_any_listing(three: Store) -> None:
    change = three.replace_station_sources(
        _group("A:S1", ("B:S1", SOURCE_REF), ("C:S1", NEARBY)), at=T0
    )
    assert change == StationSourcesChange(added=3)
    group = three.station_sources("C:S1")
    assert [(s.station_id, s.canonical_id, s.rule) for s in group] == [
        ("A:S1", "A:S1", SELF),
        ("B:S1", "A:S1", SOURCE_REF),
        ("C:S1", "A:S1", NEARBY),
    ]
    assert all(s.merged_at == T0 for s in group)
    assert three.station_sources("A:S1") == group
    assert three.station_sources("A:S2") == []
    assert three.canonical_of(["C:S1", "A:S2", "A:S1", "C:S1"]) == {
        "C:S1": "A:S1",
        "A:S2": "A:S2",
        "A:S1": "A:S1",
    }


def test_replacing_keeps_unchanged_rows_and_their_time(three: Store) -> None:
    later = T0 + timedelta(hours=1)
    three.replace_station_sources(_group("A:S1", ("B:S1", NEARBY), ("C:S1", NEARBY)), at=T0)
    again = three.replace_station_sources(
        [dataclasses.replace(s, merged_at=later) for s in three.station_sources("A:S1")],
        at=later,
    )
    assert again == StationSourcesChange(kept=3)
    assert {s.merged_at for s in three.station_sources("A:S1")} == {T0}

    # B:S1 now matches by name and address (same canonical: its time is kept); C:S1 is no
    # longer merged; A:S2 and B:S2 form a new group.
    change = three.replace_station_sources(
        [*_group("A:S1", ("B:S1", NAME_ADDRESS)), *_group("B:S2", ("A:S2", NEARBY))],
        at=later,
    )
    assert change == StationSourcesChange(added=2, rule_changed=1, removed=1, kept=1)
    assert [(s.station_id, s.rule, s.merged_at) for s in three.station_sources("A:S1")] == [
        ("A:S1", SELF, T0),
        ("B:S1", NAME_ADDRESS, T0),
    ]
    assert three.station_sources("C:S1") == []
    assert [(s.station_id, s.merged_at) for s in three.station_sources("A:S2")] == [
        ("B:S2", later),
        ("A:S2", later),
    ]


def test_a_relinked_listing_gets_the_new_time(three: Store) -> None:
    later = T0 + timedelta(hours=2)
    three.replace_station_sources(_group("A:S1", ("B:S1", NEARBY)), at=T0)
    change = three.replace_station_sources(_group("B:S1", ("A:S1", NEARBY)), at=later)
    assert change == StationSourcesChange(relinked=2)
    assert [(s.station_id, s.rule, s.merged_at) for s in three.station_sources("A:S1")] == [
        ("B:S1", SELF, later),
        ("A:S1", NEARBY, later),
    ]


def test_replacing_with_nothing_unmerges_everything(three: Store) -> None:
    three.replace_station_sources(_group("A:S1", ("B:S1", NEARBY)), at=T0)
    assert three.replace_station_sources([], at=T0) == StationSourcesChange(removed=2)
    assert three.canonical_of(["B:S1"]) == {"B:S1": "B:S1"}


def test_many_rows_are_written_and_removed_in_batches(store: Store) -> None:
    for op in ("A", "B"):
        store.upsert_operator(make_operator(op))
        store.upsert_stations(
            [make_station(op, f"S{i:04d}", evses=1, connectors=1) for i in range(1200)], at=T0
        )
    rows = [s for i in range(1200) for s in _group(f"A:S{i:04d}", (f"B:S{i:04d}", NEARBY))]
    assert store.replace_station_sources(rows, at=T0).added == 2400
    assert store.count_physical_stations() == 1200
    assert store.replace_station_sources(rows[:2], at=T0).removed == 2398
    assert store.count_physical_stations() == 2399


def test_physical_stations_count_each_group_once(three: Store) -> None:
    assert three.count_physical_stations() == 6
    three.replace_station_sources(_group("A:S1", ("B:S1", NEARBY), ("C:S1", NEARBY)), at=T0)
    assert three.counts().listings == 6
    assert three.counts().stations == three.count_physical_stations() == 4
    by_operator = three.station_counts_by_operator()
    assert {op: c.stations for op, c in by_operator.items()} == {"A": 2, "B": 1, "C": 1}
    assert {op: c.stations for op, c in three.counts_by_operator().items()} == {
        "A": 2, "B": 2, "C": 2
    }  # fmt: skip
    assert sum(c.evses for c in by_operator.values()) == three.counts().evses
    # The canonical listing is delisted before the next merge pass: the map (which counts the
    # same) shows the group again once that pass elects another listing.
    three.remove_stations(["A:S1"], at=T0)
    assert three.count_physical_stations() == 3
    three.remove_stations(["B:S1", "C:S1"], at=T0)
    assert three.count_physical_stations() == 3


def test_missing_stations_are_written_overwritten_and_cleared(three: Store) -> None:
    a1 = MissingStation("A:S1", "A", T0, 1)
    a2 = MissingStation("A:S2", "A", T0 + timedelta(minutes=5), 0)
    b1 = MissingStation("B:S1", "B", T0, 1)
    three.save_missing_stations([a1, a2, b1])
    assert three.missing_stations("A") == [a1, a2]
    assert three.missing_stations("B") == [b1]
    assert three.missing_stations("C") == []

    a1_again = dataclasses.replace(a1, misses=2)
    three.save_missing_stations([a1_again], cleared=["A:S2", "B:S1", "C:S9"])
    assert three.missing_stations("A") == [a1_again]
    assert three.missing_stations("B") == []
    three.save_missing_stations([], cleared=["A:S1"])
    assert three.missing_stations("A") == []
