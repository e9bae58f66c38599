"""The delisting rule: a feed that lists too little never delists; absence must be confirmed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargemesh.services.feeds.delisting import (
    DelistingRules,
    apply_delisting,
    plan_delisting,
)
from chargemesh.store import Store
from chargemesh.store.repository import MissingStation
from tests.factories import T0, make_operator, make_station

OP = "A"
NOW = DelistingRules(min_missing=timedelta(0))  # the tests' rule: no waiting between syncs
IDS = [f"{OP}:S{i}" for i in range(10)]


@pytest.fixture
def ten(store: Store) -> Store:
    store.upsert_operator(make_operator(OP))
    store.upsert_stations([make_station(OP, f"S{i}", evses=1) for i in range(10)], at=T0)
    return store


def test_an_empty_listing_delists_nothing_however_often(ten: Store) -> None:
    for hour in range(3):
        report = apply_delisting(
            ten, OP, ten.station_ids(OP), [], full=True, at=T0 + timedelta(hours=hour), rules=NOW
        )
        assert report.suspect
        assert report.delisted == []
        assert report.marked == 10
        assert report.warning is not None
        assert "listed no stations" in report.warning
    assert ten.station_ids(OP) == set(IDS)
    # Recorded, but a suspect sync is not a miss.
    assert {(m.misses, m.first_missing) for m in ten.missing_stations(OP)} == {(0, T0)}


def test_an_empty_listing_is_suspect_even_when_a_shrink_is_confirmed(ten: Store) -> None:
    report = apply_delisting(
        ten, OP, ten.station_ids(OP), [], full=True, at=T0, rules=NOW, confirmed_shrink=True
    )
    assert report.suspect
    assert ten.station_ids(OP) == set(IDS)


def test_a_40_percent_listing_is_suspect(ten: Store, caplog: pytest.LogCaptureFixture) -> None:
    for hour in range(3):
        report = apply_delisting(
            ten, OP, ten.station_ids(OP), IDS[:4], full=True,
            at=T0 + timedelta(hours=hour), rules=NOW,
        )  # fmt: skip
        assert report.suspect
        assert report.delisted == []
        assert report.marked == 6
    assert report.warning is not None
    assert "40%" in report.warning
    assert "40%" in caplog.text
    assert len(ten.station_ids(OP)) == 10
    assert sorted(m.station_id for m in ten.missing_stations(OP)) == IDS[4:]


def test_a_confirmed_shrink_counts_as_a_successful_sync(ten: Store) -> None:
    for hour in (0, 1):
        report = apply_delisting(
            ten, OP, ten.station_ids(OP), IDS[:4], full=True,
            at=T0 + timedelta(hours=hour), rules=NOW, confirmed_shrink=True,
        )  # fmt: skip
        assert not report.suspect
    assert report.delisted == IDS[4:]
    assert ten.station_ids(OP) == set(IDS[:4])


def test_a_normal_listing_marks_then_delists_on_the_second_consecutive_miss(ten: Store) -> None:
    first = apply_delisting(ten, OP, ten.station_ids(OP), IDS[:8], full=True, at=T0, rules=NOW)
    assert (first.suspect, first.marked, first.delisted) == (False, 2, [])
    assert ten.missing_stations(OP) == [
        MissingStation(IDS[8], OP, T0, 1),
        MissingStation(IDS[9], OP, T0, 1),
    ]
    assert len(ten.station_ids(OP)) == 10

    later = T0 + timedelta(hours=6)
    second = apply_delisting(ten, OP, ten.station_ids(OP), IDS[:8], full=True, at=later, rules=NOW)
    assert second.delisted == IDS[8:]
    assert second.marked == 0
    assert [(e.station_id, e.at) for e in second.events] == [(IDS[8], later), (IDS[9], later)]
    assert ten.station_ids(OP) == set(IDS[:8])
    assert ten.get_station(IDS[9]) is None
    assert ten.missing_stations(OP) == []


def test_delisting_waits_until_the_station_has_been_missing_long_enough(ten: Store) -> None:
    rules = DelistingRules(min_missing=timedelta(hours=24))
    for hours in (0, 1, 12):
        report = apply_delisting(
            ten, OP, ten.station_ids(OP), IDS[:9], full=True,
            at=T0 + timedelta(hours=hours), rules=rules,
        )  # fmt: skip
        assert report.delisted == []
    assert ten.missing_stations(OP) == [MissingStation(IDS[9], OP, T0, 3)]
    report = apply_delisting(
        ten, OP, ten.station_ids(OP), IDS[:9], full=True, at=T0 + timedelta(hours=24), rules=rules
    )
    assert report.delisted == [IDS[9]]


def test_a_station_that_comes_back_is_restored_and_starts_again(ten: Store) -> None:
    apply_delisting(ten, OP, ten.station_ids(OP), IDS[:9], full=True, at=T0, rules=NOW)
    back = apply_delisting(
        ten, OP, ten.station_ids(OP), IDS, full=True, at=T0 + timedelta(hours=1), rules=NOW
    )
    assert (back.restored, back.marked, back.delisted) == (1, 0, [])
    assert ten.missing_stations(OP) == []
    # Missing once more: a first miss again, not a second.
    again = apply_delisting(
        ten, OP, ten.station_ids(OP), IDS[:9], full=True, at=T0 + timedelta(hours=2), rules=NOW
    )
    assert again.delisted == []
    assert ten.missing_stations(OP) == [MissingStation(IDS[9], OP, T0 + timedelta(hours=2), 1)]


def test_a_suspect_sync_between_two_misses_neither_counts_nor_resets(ten: Store) -> None:
    apply_delisting(ten, OP, ten.station_ids(OP), IDS[:9], full=True, at=T0, rules=NOW)
    suspect = apply_delisting(
        ten, OP, ten.station_ids(OP), IDS[:2], full=True, at=T0 + timedelta(hours=1), rules=NOW
    )
    assert suspect.suspect
    assert [(m.station_id, m.misses) for m in ten.missing_stations(OP)] == [
        *((sid, 0) for sid in IDS[2:9]),
        (IDS[9], 1),
    ]
    # The feed is whole again, still without S9: its second successful miss.
    third = apply_delisting(
        ten, OP, ten.station_ids(OP), IDS[:9], full=True, at=T0 + timedelta(hours=2), rules=NOW
    )
    assert (third.delisted, third.restored) == ([IDS[9]], 7)
    assert ten.missing_stations(OP) == []


def test_incremental_syncs_never_delist_but_do_restore(ten: Store) -> None:
    apply_delisting(ten, OP, ten.station_ids(OP), IDS[:8], full=True, at=T0, rules=NOW)
    restored = []
    for hour in (1, 2, 3):
        report = apply_delisting(
            ten, OP, ten.station_ids(OP), [IDS[8]], full=False,
            at=T0 + timedelta(hours=hour), rules=NOW,
        )  # fmt: skip
        assert (report.suspect, report.marked, report.delisted) == (False, 0, [])
        restored.append(report.restored)
    assert restored == [1, 0, 0]  # S8 was listed again; S9 stays missing
    assert len(ten.station_ids(OP)) == 10
    assert ten.missing_stations(OP) == [MissingStation(IDS[9], OP, T0, 1)]


def test_rows_of_stations_delisted_otherwise_are_dropped(ten: Store) -> None:
    apply_delisting(ten, OP, ten.station_ids(OP), IDS[:8], full=True, at=T0, rules=NOW)
    ten.remove_stations([IDS[9]], at=T0)  # e.g. the OCPI feed sent it as REMOVED
    report = apply_delisting(
        ten, OP, ten.station_ids(OP), IDS[:8], full=True, at=T0 + timedelta(hours=1), rules=NOW
    )
    assert report.delisted == [IDS[8]]
    assert ten.missing_stations(OP) == []


# ----------------------------------------------------------------------------- the pure decision


def test_the_decision_is_pure_and_an_operator_with_nothing_held_is_never_suspect() -> None:
    plan = plan_delisting(OP, set(), ["A:new"], {}, full=True, at=T0)
    assert (plan.suspect, plan.missing, plan.cleared, plan.delist) == (False, [], [], [])


def test_exactly_half_is_not_suspect() -> None:
    live = set(IDS)
    plan = plan_delisting(OP, live, IDS[:5], {}, full=True, at=T0, rules=NOW)
    assert not plan.suspect
    assert [m.station_id for m in plan.missing] == IDS[5:]
    plan = plan_delisting(OP, live, [*IDS[:4], "A:new"], {}, full=True, at=T0, rules=NOW)
    assert not plan.suspect  # new stations count: the feed listed 5 stations
