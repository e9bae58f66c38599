"""The status refresher's own logic: how a round's batches are spread, how often a feed is polled,
and when a feed is reported degraded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargemesh.config import ConfigError, parse_config
from chargemesh.services.feeds.freshness import (
    PollHealth,
    batches_of,
    feed_state,
    poll_interval,
    spread,
)

FIFTEEN_MIN = timedelta(seconds=900)


def test_a_national_operator_is_spread_over_the_interval_not_sent_in_one_burst() -> None:
    stations = [f"S{n}" for n in range(266_024)]
    batches = batches_of(stations)
    assert len(batches) == 5321
    assert all(len(b) == 50 for b in batches[:-1])
    assert [s for b in batches for s in b] == stations  # every station once, in order
    plan = spread(len(batches), 300)  # 300 s in ticks of 1 s
    assert sum(plan) == 5321
    assert set(plan) == {17, 18}  # never more than one batch apart
    # spread out: every minute of the round carries its fifth of the batches
    for minute in range(5):
        assert abs(sum(plan[minute * 60 : (minute + 1) * 60]) - 5321 / 5) <= 1


@pytest.mark.parametrize(("batches", "ticks"), [(0, 10), (1, 10), (7, 3), (3, 7), (10, 1)])
def test_spread_gives_every_batch_exactly_once(batches: int, ticks: int) -> None:
    plan = spread(batches, ticks)
    assert len(plan) == ticks
    assert sum(plan) == batches
    assert max(plan) - min(plan) <= 1


def test_a_few_batches_in_many_ticks_are_not_bunched_at_the_start() -> None:
    plan = spread(3, 9)
    assert plan == [0, 0, 1, 0, 0, 1, 0, 0, 1]


def test_a_feed_is_polled_at_least_three_times_within_its_freshness_limit() -> None:
    assert poll_interval(300, FIFTEEN_MIN) == 300
    assert poll_interval(600, FIFTEEN_MIN) == 300
    assert poll_interval(300, timedelta(seconds=6)) == 2


def _state(stale: int, poll: PollHealth | None = None, sync: str = "ok") -> tuple[str, str | None]:
    return feed_state(
        sync, connectors=1000, stale=stale, freshness=FIFTEEN_MIN, poll=poll,
        degraded_stale_share=0.1,
    )  # fmt: skip


def test_a_quiet_feed_whose_polls_confirm_its_statuses_is_ok() -> None:
    poll = PollHealth()
    poll.succeeded(datetime.now(UTC), 1000)
    assert _state(0, poll) == ("ok", None)
    assert _state(100, poll) == ("ok", None)  # 10 %: not more than the share


def test_a_feed_going_stale_is_degraded_with_the_share_in_the_reason() -> None:
    state, reason = _state(101)
    assert state == "degraded"
    assert reason == (
        "101 of 1,000 connectors (10%) have no status newer than the freshness limit (900 s)"
    )


def test_failing_polls_degrade_the_feed_until_one_succeeds() -> None:
    poll = PollHealth()
    poll.failed(ConnectionError("operator 313744932: query_station_status failed 4 times"))
    poll.failed(ConnectionError("operator 313744932: query_station_status failed 4 times"))
    state, reason = _state(0, poll)
    assert state == "degraded"
    assert reason == (
        "status polls failing (2 in a row): operator 313744932: query_station_status failed 4 times"
    )
    assert _state(1000, poll)[1] == (
        "status polls failing (2 in a row): operator 313744932: query_station_status failed 4 "
        "times; 1,000 of 1,000 connectors (100%) have no status newer than the freshness limit "
        "(900 s)"
    )  # both reasons
    poll.succeeded(datetime.now(UTC), 50)
    assert _state(0, poll) == ("ok", None)


def test_a_failed_or_never_synced_feed_keeps_its_sync_state() -> None:
    poll = PollHealth()
    poll.failed(ConnectionError("down"))
    assert _state(1000, poll, sync="failed") == ("failing", None)
    assert _state(1000, None, sync="never") == ("never", None)
    assert _state(1000, None, sync="running")[0] == "degraded"


def test_the_status_section_has_sane_defaults_and_is_checked() -> None:
    default = parse_config("").status
    assert (default.poll_interval_s, default.degraded_stale_share) == (300, 0.1)
    chosen = parse_config("[status]\npoll_interval_s = 60\ndegraded_stale_share = 0.25\n")
    assert (chosen.status.poll_interval_s, chosen.status.degraded_stale_share) == (60, 0.25)
    with pytest.raises(ConfigError, match=r"status\.degraded_stale_share"):
        parse_config("[status]\ndegraded_stale_share = 2\n")
    with pytest.raises(ConfigError, match=r"status\.poll_interval_s"):
        parse_config("[status]\npoll_interval_s = -1\n")


def test_polls_that_failed_before_a_successful_sync_no_longer_degrade_the_feed() -> None:
    """A demo run again in the same folder polls its OCPI peers at their old addresses while
    the sync re-registers with them: the sync that then succeeds brings every status anew."""
    t0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    poll = PollHealth()
    poll.failed(ConnectionError("refused"), at=t0)
    assert poll.outdated_by(t0 + timedelta(seconds=2))
    assert not poll.outdated_by(t0 - timedelta(seconds=2))  # failing since the last sync
    assert not poll.outdated_by(None)
    poll.succeeded(t0 + timedelta(seconds=5), 3)
    assert not poll.outdated_by(t0 + timedelta(seconds=9))  # nothing failing to forget
