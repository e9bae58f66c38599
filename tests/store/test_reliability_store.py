"""What the reliability figures read from the store, on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chargemesh.domain import ConnectorStatus
from chargemesh.domain.session import ChargeAttempt, ChargeSession, SessionState, StartMethod
from chargemesh.store import ExcludedDowntime, StatusUpdate, Store
from tests.factories import T0, make_operator, make_station

H = timedelta(hours=1)


@pytest.fixture
def filled(store: Store) -> Store:
    store.upsert_operator(make_operator())
    store.upsert_stations([make_station(source_id=f"S{i}") for i in range(3)], at=T0)
    return store


def test_excluded_downtime_round_trips_and_is_read_by_overlap(store: Store) -> None:
    a = ExcludedDowntime("x1", T0, T0 + 2 * H, "grid failure", connector_id="c1")
    b = ExcludedDowntime("x2", T0 + 5 * H, T0 + 6 * H, "vandalism", station_id="s1")
    assert store.add_excluded_downtime([a, b]) == 2
    assert store.excluded_downtime() == [a, b]
    # [T0 + 2 h, T0 + 5 h) touches neither: a ends at its start, b starts at its end.
    assert store.excluded_downtime(T0 + 2 * H, T0 + 5 * H) == []
    assert store.excluded_downtime(T0 + H, T0 + 5 * H + timedelta(seconds=1)) == [a, b]
    assert store.excluded_downtime(since=T0 + 3 * H) == [b]
    # Written again by id: overwritten.
    store.add_excluded_downtime([replace(a, reason="scheduled maintenance")])
    assert store.excluded_downtime(until=T0 + H)[0].reason == "scheduled maintenance"


def test_excluded_downtime_names_one_thing_and_ends_after_it_starts() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ExcludedDowntime("x", T0, T0 + H, "r", connector_id="c", station_id="s")
    with pytest.raises(ValueError, match="exactly one"):
        ExcludedDowntime("x", T0, T0 + H, "r")
    with pytest.raises(ValueError, match="end after"):
        ExcludedDowntime("x", T0, T0, "r", connector_id="c")


def test_connectors_come_in_keyset_pages_with_station_facts(filled: Store) -> None:
    ids = sorted(c.id for s in filled.iter_stations() for c in s.connectors)
    pages, after = [], ""
    while page := filled.reliability_connectors(after, 5):
        pages.append(page)
        after = page[-1][0]
    rows = [r for p in pages for r in p]
    assert [len(p) for p in pages] == [5, 5, 2]
    assert [r[0] for r in rows] == ids
    first = rows[0]
    assert first[1:5] == ("313744932", "313744932:S0", 120.0, "available")
    assert (first[5], first[6], first[7], first[8]) == (T0, T0, "24/7", None)
    filled.remove_stations(["313744932:S0"], at=T0 + H)
    removed = [r for r in filled.reliability_connectors("", 100) if r[2] == "313744932:S0"]
    assert {r[8] for r in removed} == {T0 + H}


def test_status_changes_between_reads_the_rows_whose_segments_reach_the_window(
    filled: Store,
) -> None:
    ids = sorted(c.id for s in filled.iter_stations() for c in s.connectors)
    c0, c1 = ids[0], ids[1]
    s = ConnectorStatus
    filled.apply_status_updates(
        [
            StatusUpdate(c0, s.FAULTED, T0 + 1 * H, "tcec:push"),  # ends available T0..1h
            StatusUpdate(c0, s.AVAILABLE, T0 + 3 * H, "tcec:push"),  # ends faulted 1h..3h
            StatusUpdate(c0, s.OFFLINE, T0 + 10 * H, "tcec:push"),  # ends available 3h..10h
            StatusUpdate(c0, s.AVAILABLE, T0 + 12 * H, "tcec:push"),  # ends offline 10h..12h
            StatusUpdate(c1, s.CHARGING, T0 + 2 * H, "tcec:push"),
        ]
    )
    # Window [T0 + 2 h, T0 + 5 h): the faulted segment (ends 3 h) reaches it, so does the
    # available one ending at 10 h; the offline one (from 10 h) starts after it.
    rows = filled.status_changes_between(ids[0], ids[-1], T0 + 2 * H, T0 + 5 * H)
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        (c0, "available", T0 + 3 * H, "faulted", T0 + 1 * H),
        (c0, "offline", T0 + 10 * H, "available", T0 + 3 * H),
        (c1, "charging", T0 + 2 * H, "available", T0),
    ]
    # Only the connectors of the id range asked.
    assert [r[0] for r in filled.status_changes_between(c1, c1, T0, T0 + 24 * H)] == [c1]


def test_visit_attempts_join_their_sessions(filled: Store) -> None:
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    filled.create_session(
        ChargeSession(
            id="s1", account_id="alice", operator_id="313744932", protocol="tcec",
            connector_id="c", station_id="313744932:S1", method=StartMethod.APP,
            state=SessionState.FAILED, created_at=at, updated_at=at,
        )
    )  # fmt: skip
    filled.add_attempts(
        [
            ChargeAttempt("a1", at, "313744932", StartMethod.APP, "failure", session_id="s1"),
            ChargeAttempt("a2", at + H, "313744932", StartMethod.APP, "success", source="lab"),
            ChargeAttempt("a3", at + 5 * H, "313744932", StartMethod.APP, "success"),
        ]
    )
    assert filled.visit_attempts(at, at + 5 * H) == [
        (at, "313744932", "failure", "alice", "313744932:S1"),
        (at + H, "313744932", "success", None, None),
    ]
