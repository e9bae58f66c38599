"""What the status refresher asks of the store, on both backends: the stations to poll, the
statuses to confirm, conditional confirmations, and the stale connectors of each feed."""

from __future__ import annotations

from datetime import timedelta

from chargemesh.domain import ConnectorStatus
from chargemesh.store import Outcome, StatusUpdate, Store
from tests.factories import T0, make_operator, make_station

OP, OTHER = "313744932", "MA2YLN028"


def _registry(store: Store) -> tuple[list[str], list[str]]:
    """Two stations of OP (2 connectors each), one of OTHER; one of OP removed later."""
    store.upsert_operator(make_operator(OP))
    store.upsert_operator(make_operator(OTHER, "Other"))
    ours = [make_station(OP, s, evses=1, connectors=2) for s in ("S2", "S1", "S3")]
    theirs = make_station(OTHER, "S1", evses=1, connectors=1)
    store.upsert_stations([*ours, theirs], at=T0)
    store.remove_stations([ours[2].id], at=T0)
    return [c.id for s in ours[:2] for c in s.connectors], [c.id for c in theirs.connectors]


def test_the_poll_asks_for_the_operators_own_ids_of_its_live_stations(store: Store) -> None:
    _registry(store)
    assert store.station_source_ids(OP) == ["S1", "S2"]  # S3 was removed
    assert store.station_source_ids(OTHER) == ["S1"]
    assert store.station_source_ids("MA0NOSUCH") == []


def test_stale_connectors_are_counted_per_operator_against_a_time(store: Store) -> None:
    ours, _ = _registry(store)
    t1 = T0 + timedelta(minutes=5)
    assert store.stale_connectors(T0) == {OP: (0, 4), OTHER: (0, 1)}  # observed at T0
    assert store.stale_connectors(t1) == {OP: (4, 4), OTHER: (1, 1)}
    store.apply_status_updates([StatusUpdate(ours[0], ConnectorStatus.AVAILABLE, t1, "tcec:poll")])
    assert store.stale_connectors(t1) == {OP: (3, 4), OTHER: (1, 1)}


def test_statuses_observed_before_a_time_are_what_a_pull_confirms(store: Store) -> None:
    ours, _ = _registry(store)
    t1 = T0 + timedelta(minutes=5)
    store.apply_status_updates([StatusUpdate(ours[0], ConnectorStatus.CHARGING, t1, "ocpi:push")])
    held = dict(store.statuses_observed_before(OP, t1))
    assert held == {c: ConnectorStatus.AVAILABLE for c in ours[1:]}  # not ours[0]: newer
    assert dict(store.statuses_observed_before(OP, t1 + timedelta(seconds=1))) == {
        **held,
        ours[0]: ConnectorStatus.CHARGING,
    }


def test_a_confirmation_moves_the_observation_time_but_never_undoes_a_change(
    store: Store,
) -> None:
    ours, _ = _registry(store)
    c1, c2 = ours[:2]
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    # a push changed c1 after the pull read it: the pull's confirmation must not undo it
    store.apply_status_updates([StatusUpdate(c1, ConnectorStatus.CHARGING, t1, "ocpi:push")])
    result = store.apply_status_updates(
        [
            StatusUpdate(c1, ConnectorStatus.AVAILABLE, t2, "ocpi:pull", only_confirms=True),
            StatusUpdate(c2, ConnectorStatus.AVAILABLE, t2, "ocpi:pull", only_confirms=True),
        ]
    )
    assert result.outcomes == [Outcome.STALE, Outcome.CONFIRMED]
    assert result.changed == []
    held = {c.id: c for s in store.iter_stations(OP) for c in s.connectors}
    assert (held[c2].status, held[c2].status_at, held[c2].status_since) == (
        ConnectorStatus.AVAILABLE, t2, T0,
    )  # fmt: skip
    assert (held[c1].status, held[c1].status_at) == (ConnectorStatus.CHARGING, t1)
    assert [h.status for h in store.status_history(c1)] == [ConnectorStatus.CHARGING]
    assert store.status_history(c2) == []
