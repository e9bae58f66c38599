"""Reliability figures against hand-worked cases, on both stores.

Times are China time (UTC+8), the report's month boundaries. Every expected number is worked
out in the comment beside it. September has 30 days = 43,200 minutes, October 31 = 44,640.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from chargemesh.domain import ConnectorStatus, Station
from chargemesh.domain.session import ChargeAttempt, ChargeSession, SessionState, StartMethod
from chargemesh.report.common import observed_span
from chargemesh.services.analytics.reliability import (
    CHINA_TZ,
    ConnectorUptime,
    ReliabilityReport,
    parse_opening_hours,
    reliability_report,
)
from chargemesh.store import ExcludedDowntime, StatusUpdate, Store
from tests.factories import make_operator, make_station

S = ConnectorStatus
OP = "313744932"
OTHER = "MA5DA0053"


def cn(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=CHINA_TZ)


SEP, OCT, NOV = cn(9, 1), cn(10, 1), cn(11, 1)


def station(
    source_id: str,
    since: datetime,
    *,
    op: str = OP,
    evses: int = 1,
    hours: str | None = "24/7",
) -> Station:
    """A station whose connectors (E0: 120 kW DC; E1: 7 kW AC) are available since ``since``."""
    s = make_station(op, source_id, evses=evses, connectors=1)
    built = tuple(
        replace(
            e,
            connectors=tuple(
                replace(c, status=S.AVAILABLE, status_at=since, status_since=since)
                for c in e.connectors
            ),
        )
        for e in s.evses
    )
    return replace(s, evses=built, opening_hours=hours)


def add(store: Store, *stations: Station) -> list[str]:
    """Register the stations (and their operators); the connector ids, in order."""
    for op in dict.fromkeys(s.operator_id for s in stations):
        store.upsert_operator(make_operator(op, f"Operator {op}"))
    for s in stations:
        store.upsert_stations([s], at=s.evses[0].connectors[0].status_since or SEP)
    return [c.id for s in stations for c in s.connectors]


def changes(store: Store, connector_id: str, *steps: tuple[datetime, ConnectorStatus]) -> None:
    result = store.apply_status_updates(
        [StatusUpdate(connector_id, status, at, "tcec:push") for at, status in steps]
    )
    assert len(result.changed) == len(steps)


def report(store: Store, start: datetime, end: datetime, **kw: object) -> ReliabilityReport:
    return reliability_report(store, start, end, now=end, **kw)  # type: ignore[arg-type]


def connector(rep: ReliabilityReport, connector_id: str) -> ConnectorUptime:
    (found,) = [c for c in rep.nevi.connectors if c.connector_id == connector_id]
    return found


# --- NEVI ------------------------------------------------------------------------------------


def test_a_six_hour_outage_in_a_thirty_day_month(store: Store) -> None:
    (cid,) = add(store, station("S1", SEP))
    changes(store, cid, (cn(9, 10, 8), S.FAULTED), (cn(9, 10, 14), S.AVAILABLE))
    rep = report(store, SEP, OCT, months=1)
    c = connector(rep, cid)
    # T = 30 × 1,440 = 43,200 min; outage 08:00–14:00 = 360 min; nothing excluded.
    # μ = (43,200 − (360 − 0)) / 43,200 × 100 = 42,840 / 43,200 × 100 = 99.1667
    assert (c.observed_min, c.outage_min, c.excluded_min) == (43_200, 360, 0)
    assert c.uptime == pytest.approx(99.166667, abs=1e-6)
    assert c.meets_threshold is True
    (month,) = c.months
    assert (month.month, month.outage_min, month.observed_min) == ("2026-09", 360, 43_200)
    assert month.uptime == pytest.approx(99.166667, abs=1e-6)
    out = rep.to_json()
    assert out["nevi"]["connectors"][0]["uptime"] == 99.1667
    assert out["nevi"]["connectors"][0]["months"][0]["month"] == "2026-09"
    assert out["nevi"]["below_threshold"] == 0
    json.dumps(out)  # all of it serialises


def test_an_outage_across_a_month_boundary_is_split_at_china_midnight(store: Store) -> None:
    (cid,) = add(store, station("S1", SEP))
    # Offline from 30 Sep 22:00 to 1 Oct 03:00 China time: 120 min in September and 180 in
    # October. (In UTC the whole outage, 14:00–19:00 on 30 Sep, would fall in September.)
    changes(store, cid, (cn(9, 30, 22), S.OFFLINE), (cn(10, 1, 3), S.AVAILABLE))
    rep = report(store, SEP, NOV, months=2)
    c = connector(rep, cid)
    sep, oct_ = c.months
    assert (sep.month, sep.outage_min, sep.observed_min) == ("2026-09", 120, 43_200)
    assert (oct_.month, oct_.outage_min, oct_.observed_min) == ("2026-10", 180, 44_640)
    # September: (43,200 − 120) / 43,200 × 100 = 99.7222
    assert sep.uptime == pytest.approx(99.722222, abs=1e-6)
    # October: (44,640 − 180) / 44,640 × 100 = 99.5968
    assert oct_.uptime == pytest.approx(99.596774, abs=1e-6)
    # The period: T = 43,200 + 44,640 = 87,840; (87,840 − 300) / 87,840 × 100 = 99.6585
    assert (c.observed_min, c.outage_min) == (87_840, 300)
    assert c.uptime == pytest.approx(99.658470, abs=1e-6)
    # The network months pool the same minutes (one connector).
    assert [(m.key, m.outage_min, m.connectors) for m in rep.nevi.months] == [
        ("2026-09", 120, 1),
        ("2026-10", 180, 1),
    ]
    # A one-month window ending with the period holds October alone; the period still both.
    short = connector(report(store, SEP, NOV, months=1), cid)
    assert [(m.month, m.outage_min) for m in short.months] == [("2026-10", 180)]
    assert short.outage_min == 300


def test_excluded_downtime_counts_only_where_it_overlaps_an_outage(store: Store) -> None:
    s = station("S1", SEP)
    (cid,) = add(store, s)
    changes(store, cid, (cn(9, 10, 8), S.FAULTED), (cn(9, 10, 18), S.AVAILABLE))
    store.add_excluded_downtime(
        [
            # Station-wide, 12:00–20:00: overlaps the outage (08:00–18:00) from 12:00 to 18:00.
            ExcludedDowntime("x1", cn(9, 10, 12), cn(9, 10, 20), "grid failure", station_id=s.id),
            # Inside the first one: merged, so no minute is excluded twice.
            ExcludedDowntime("x2", cn(9, 10, 13), cn(9, 10, 15), "grid", connector_id=cid),
            # On 20 September the connector was up: excludes nothing.
            ExcludedDowntime("x3", cn(9, 20), cn(9, 21), "maintenance", connector_id=cid),
        ]
    )
    c = connector(report(store, SEP, OCT, months=1), cid)
    # Outage 600 min; excluded 12:00–18:00 = 360 min; x3 adds nothing.
    # μ = (43,200 − (600 − 360)) / 43,200 × 100 = 42,960 / 43,200 × 100 = 99.4444
    assert (c.outage_min, c.excluded_min) == (600, 360)
    assert c.uptime == pytest.approx(99.444444, abs=1e-6)
    assert c.months[0].excluded_min == 360


def test_excluded_downtime_of_one_station_does_not_cover_another(store: Store) -> None:
    a, b = station("S1", SEP), station("S2", SEP)
    ca, cb = add(store, a, b)
    for cid in (ca, cb):
        changes(store, cid, (cn(9, 10, 8), S.FAULTED), (cn(9, 10, 14), S.AVAILABLE))
    store.add_excluded_downtime(
        [ExcludedDowntime("x1", cn(9, 10), cn(9, 11), "vandalism", station_id=a.id)]
    )
    rep = report(store, SEP, OCT, months=1)
    # A: the whole 360 min outage is excluded: μ = 100. B: 99.1667 as in the first test.
    assert connector(rep, ca).uptime == 100.0
    assert connector(rep, cb).uptime == pytest.approx(99.166667, abs=1e-6)


def test_unknown_time_is_not_an_outage_and_the_period_starts_at_first_sight(store: Store) -> None:
    (cd,) = add(store, station("S1", SEP))
    (ce,) = add(store, station("S2", cn(9, 16)))  # first seen on 16 September
    # D: unknown for a day (1,440 min), then offline 12 hours (720 min).
    changes(
        store, cd,
        (cn(9, 5), S.UNKNOWN), (cn(9, 6), S.AVAILABLE),
        (cn(9, 7), S.OFFLINE), (cn(9, 7, 12), S.AVAILABLE),
    )  # fmt: skip
    # E: observed from 16 Sep only: T = 15 × 1,440 = 21,600 min; faulted 216 min.
    changes(store, ce, (cn(9, 20, 10), S.FAULTED), (cn(9, 20, 13, 36), S.AVAILABLE))
    rep = report(store, SEP, OCT, months=1)
    d, e = connector(rep, cd), connector(rep, ce)
    # D: μ = (43,200 − 720) / 43,200 × 100 = 98.3333 (the unknown day counts as up).
    assert (d.observed_min, d.outage_min) == (43_200, 720)
    assert d.uptime == pytest.approx(98.333333, abs=1e-6)
    # E: μ = (21,600 − 216) / 21,600 × 100 = 99.0
    assert (e.observed_min, e.outage_min) == (21_600, 216)
    assert e.uptime == pytest.approx(99.0)
    assert e.months[0].observed_min == 21_600


def test_threshold_is_strictly_above_97_and_the_detail_can_list_only_failures(
    store: Store,
) -> None:
    ca, cb = add(store, station("S1", SEP), station("S2", SEP))
    # A: out exactly 3 % of September: 1,296 min (21 h 36 min): μ = 97.0, not above 97.
    changes(store, ca, (cn(9, 10), S.FAULTED), (cn(9, 10, 21, 36), S.AVAILABLE))
    # B: out 1,295 min: μ = (43,200 − 1,295) / 43,200 × 100 = 97.0023 > 97.
    changes(store, cb, (cn(9, 10), S.FAULTED), (cn(9, 10, 21, 35), S.AVAILABLE))
    rep = report(store, SEP, OCT, months=1)
    assert connector(rep, ca).uptime == pytest.approx(97.0)
    assert connector(rep, ca).meets_threshold is False
    assert connector(rep, cb).meets_threshold is True
    assert rep.nevi.below_threshold == 1
    assert rep.nevi.months[0].below_threshold == 1
    (op,) = rep.nevi.operators
    # Pooled: (86,400 − 2,591) / 86,400 × 100 = 97.0012
    assert (op.key, op.connectors, op.below_threshold) == (OP, 2, 1)
    assert op.uptime == pytest.approx(97.001157, abs=1e-6)
    only = report(store, SEP, OCT, months=1, connector_detail="below_threshold")
    assert [c.connector_id for c in only.nevi.connectors] == [ca]
    assert only.nevi.operators == rep.nevi.operators


def test_a_connector_never_changed_holds_its_status_and_now_caps_the_period(
    store: Store,
) -> None:
    (cid,) = add(store, station("S1", SEP))
    (cf,) = add(store, station("S2", SEP))
    changes(store, cf, (cn(9, 25), S.FAULTED))  # faulted ever since
    rep = reliability_report(store, SEP, OCT, months=1, now=cn(9, 30))
    # Observed to "now" (30 Sep 00:00): 29 days = 41,760 min.
    assert connector(rep, cid).observed_min == 41_760
    assert connector(rep, cid).uptime == 100.0
    # F: faulted 25 Sep → now = 5 days = 7,200 min: μ = (41,760 − 7,200) / 41,760 = 82.7586
    assert connector(rep, cf).outage_min == 7_200
    assert connector(rep, cf).uptime == pytest.approx(82.758621, abs=1e-6)
    assert rep.observed_until == cn(9, 30)


def test_a_young_registry_says_how_little_it_observed(store: Store) -> None:
    """The default period is a year; a demo synced 17 minutes ago has observed 17 minutes of it
    and the report says so (in JSON, the tables and the HTML page alike)."""
    now = cn(9, 30, 12, 0)
    synced = now - timedelta(minutes=17)
    add(store, station("S1", synced))
    rep = reliability_report(store, now - timedelta(days=365), now, now=now)
    assert rep.observed_from == synced
    span = observed_span(rep.to_json()["period"])
    assert span.endswith("(observed 2026-09-30 03:43 UTC – 2026-09-30 04:00 UTC, 17 min)")


def test_history_after_the_period_does_not_leak_into_it(store: Store) -> None:
    (cid,) = add(store, station("S1", SEP))
    # Faulted from 29 Sep 00:00 until 3 Oct: in September that is 2 days = 2,880 min.
    changes(store, cid, (cn(9, 29), S.FAULTED), (cn(10, 3), S.AVAILABLE), (cn(10, 9), S.OFFLINE))
    c = connector(report(store, SEP, OCT, months=1), cid)
    assert (c.observed_min, c.outage_min) == (43_200, 2_880)
    # Outage wholly before the period: reading from October only sees 1 Oct–3 Oct and 9 Oct on.
    c = connector(report(store, cn(10, 5), cn(10, 9), months=0), cid)
    assert (c.observed_min, c.outage_min, c.months) == (4 * 1_440, 0, ())


# --- UK --------------------------------------------------------------------------------------


def test_uk_reliability_per_operator_with_ineligible_time_and_small_chargers_ignored(
    store: Store,
) -> None:
    exact = station("S1", SEP, evses=2)  # E0: 120 kW DC, E1: 7 kW AC
    below = station("S2", SEP, op=OTHER)
    rapid, slow, other = add(store, exact, below)
    # OP's rapid connector in September (43,200 min):
    #   occupied (OCPI BLOCKED) 1 day = 1,440 min and unknown 12 h = 720 min: ineligible 2,160;
    #   faulted 410 min 24 s = 410.4 min: unreliable.
    #   reliable = 43,200 − 2,160 − 410.4 = 40,629.6 min.
    #   reliability = 40,629.6 / (40,629.6 + 410.4) × 100 = 40,629.6 / 41,040 × 100 = 99.0 exactly
    changes(
        store, rapid,
        (cn(9, 2), S.OCCUPIED), (cn(9, 3), S.AVAILABLE),
        (cn(9, 4), S.UNKNOWN), (cn(9, 4, 12), S.CHARGING),
        (cn(9, 5), S.FAULTED), (cn(9, 5, 6, 50, 24), S.RESERVED),
        (cn(9, 6), S.AVAILABLE),
    )  # fmt: skip
    # The 7 kW connector is out for ten days: not a rapid charger, ignored by the UK figure.
    changes(store, slow, (cn(9, 10), S.FAULTED), (cn(9, 20), S.AVAILABLE))
    # OTHER's rapid connector: faulted 433 min, nothing ineligible:
    #   (43,200 − 433) / 43,200 × 100 = 98.9977 < 99.
    changes(store, other, (cn(9, 10), S.FAULTED), (cn(9, 10, 7, 13), S.AVAILABLE))
    uk = report(store, SEP, OCT, months=1).uk
    a, b = uk.operators
    assert (a.operator_id, a.connectors) == (OP, 1)
    assert a.ineligible_min == 2_160
    assert a.unreliable_min == pytest.approx(410.4)
    assert a.reliable_min == pytest.approx(40_629.6)
    assert a.reliability == pytest.approx(99.0)
    assert a.meets_target is True  # exactly 99 % meets "at least 99 %"
    # Reg. 7(3)(b) as made counts ineligible time as reliable:
    #   (40,629.6 + 2,160) / 43,200 × 100 = 99.05
    assert a.reliability_statutory == pytest.approx(99.05)
    assert (b.operator_id, b.unreliable_min, b.ineligible_min) == (OTHER, 433, 0)
    assert b.reliability == pytest.approx(98.997685, abs=1e-6)
    assert b.meets_target is False
    assert b.meets_target_statutory is False
    out = report(store, SEP, OCT, months=1).to_json()["uk"]
    assert (out["min_kw"], out["target"], out["meeting_target"]) == (50.0, 99.0, 1)
    assert out["operators"][0]["reliability"] == 99.0
    # A lower threshold makes the 7 kW connector rapid too: it now counts (14,400 min faulted).
    low = report(store, SEP, OCT, months=1, rapid_kw=7.0).uk.operators[0]
    assert low.connectors == 2
    assert low.unreliable_min == pytest.approx(410.4 + 14_400)


def test_uk_counts_opening_hours_only(store: Store) -> None:
    (cid,) = add(store, station("S1", SEP, hours="08:00-20:00"))
    # Open 12 h a day: 30 × 720 = 21,600 open minutes in September.
    # Faulted 10 Sep 20:00 → 11 Sep 08:00: all while closed, counts nothing.
    # Faulted 12 Sep 07:00 → 09:00: 08:00–09:00 open = 60 min unreliable.
    changes(
        store, cid,
        (cn(9, 10, 20), S.FAULTED), (cn(9, 11, 8), S.AVAILABLE),
        (cn(9, 12, 7), S.FAULTED), (cn(9, 12, 9), S.AVAILABLE),
    )  # fmt: skip
    rep = report(store, SEP, OCT, months=1)
    (op,) = rep.uk.operators
    # reliable = 21,600 − 60 = 21,540; 21,540 / 21,600 × 100 = 99.7222
    assert (op.reliable_min, op.unreliable_min) == (21_540, 60)
    assert op.reliability == pytest.approx(99.722222, abs=1e-6)
    # NEVI knows no opening hours: 12 h + 2 h = 840 min of outage.
    assert connector(rep, cid).outage_min == 840


def test_opening_hours_texts() -> None:
    offset = timedelta(hours=8)
    for always in (None, "", "24/7", "Mo-Su 00:00-24:00", "00:00-00:00", "周一至周日 08:00-22:00"):
        assert parse_opening_hours(always, offset) is None, always
    week = 7 * 86_400_000_000
    hours = parse_opening_hours("Mo-Fr 08:00-20:00; Sa 10:00-14:00", offset)
    assert hours is not None
    assert hours.weekly == (5 * 12 + 4) * 3_600_000_000
    night = parse_opening_hours("22:00-06:00", offset)
    assert night is not None
    assert night.weekly == 7 * 8 * 3_600_000_000
    # Sunday 22:00 → Monday 06:00 wraps round the week.
    assert night.intervals[0] == (0, 6 * 3_600_000_000)
    assert night.intervals[-1] == (week - 2 * 3_600_000_000, week)


# --- FTCSR -----------------------------------------------------------------------------------


def test_first_time_success_groups_retries_into_visits(store: Store) -> None:
    s = station("S1", SEP)
    (cid,) = add(store, s)
    n = 0

    def attempt(account: str | None, at: datetime, ok: bool, op: str = OP) -> None:
        nonlocal n
        n += 1
        session_id = None
        if account is not None:
            session_id = f"s{n}"
            store.create_session(
                ChargeSession(
                    id=session_id, account_id=account, operator_id=op, protocol="tcec",
                    connector_id=cid, station_id=s.id, method=StartMethod.QR_SCAN,
                    state=SessionState.COMPLETED if ok else SessionState.FAILED,
                    created_at=at, updated_at=at,
                )
            )  # fmt: skip
        store.add_attempts(
            [
                ChargeAttempt(
                    id=f"a{n}", at=at, operator_id=op, start_method=StartMethod.QR_SCAN,
                    outcome="success" if ok else "failure", session_id=session_id,
                    failure_reason=None if ok else "vehicle_rejected",
                    source="session" if account else "lab-2026-09",
                )
            ]
        )  # fmt: skip

    # Visit 1 (alice): fails at 10:00 and 10:10, succeeds at 10:35 (25 min after the last
    # try): one visit, first attempt failed, visit succeeded.
    attempt("alice", cn(9, 3, 10), ok=False)
    attempt("alice", cn(9, 3, 10, 10), ok=False)
    attempt("alice", cn(9, 3, 10, 35), ok=True)
    # Visit 2 (alice, 85 min later): succeeds at once.
    attempt("alice", cn(9, 3, 12), ok=True)
    # Visit 3 (bob): fails at 10:05, succeeds exactly 30 min later: still the same visit.
    attempt("bob", cn(9, 3, 10, 5), ok=False)
    attempt("bob", cn(9, 3, 10, 35), ok=True)
    # Visits 4 and 5: a test campaign's attempts have no session, each is its own visit.
    attempt(None, cn(9, 4, 9), ok=True, op=OTHER)
    attempt(None, cn(9, 4, 9, 1), ok=False, op=OTHER)
    # Outside the period: not counted.
    attempt("carol", cn(10, 2), ok=False)

    f = report(store, SEP, OCT, months=1).ftcsr
    # 5 visits, 8 attempts; first-time successes: visits 2 and 4 = 2 → FTCSR 40 %;
    # visits with a success: 1, 2, 3, 4 = 4 → 80 %.
    assert (f.overall.visits, f.overall.attempts) == (5, 8)
    assert (f.overall.first_time_successes, f.overall.visit_successes) == (2, 4)
    assert (f.overall.ftcsr, f.overall.visit_success_rate) == (40.0, 80.0)
    a, b = f.operators
    # OP: visits 1, 2, 3: first-time 1 (visit 2) = 33.3333 %; all three succeed = 100 %.
    assert (a.key, a.visits, a.first_time_successes, a.visit_successes) == (OP, 3, 1, 3)
    assert a.ftcsr == pytest.approx(33.333333, abs=1e-6)
    # OTHER: visits 4, 5: one first-time success of two = 50 %.
    assert (b.key, b.visits, b.first_time_successes, b.visit_successes) == (OTHER, 2, 1, 1)
    out = report(store, SEP, OCT, months=1).to_json()["ftcsr"]
    assert out["overall"] == {
        "visits": 5, "attempts": 8, "first_time_successes": 2, "visit_successes": 4,
        "ftcsr": 40.0, "visit_success_rate": 80.0,
    }  # fmt: skip
    assert [o["operator_id"] for o in out["operators"]] == [OP, OTHER]


def test_an_empty_store_gives_an_empty_report(store: Store) -> None:
    out = report(store, SEP, OCT).to_json()
    assert out["period"] == {
        "start": "2026-08-31T16:00:00+00:00",
        "end": "2026-09-30T16:00:00+00:00",
        "observed_until": "2026-09-30T16:00:00+00:00",
        "observed_from": None,
    }
    assert "nothing observed" in observed_span(out["period"])
    assert out["nevi"]["connectors"] == []
    assert len(out["nevi"]["months"]) == 12
    assert out["uk"]["operators"] == []
    assert out["ftcsr"]["overall"]["ftcsr"] is None
