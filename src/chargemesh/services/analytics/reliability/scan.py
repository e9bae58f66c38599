"""``reliability_report``: NEVI uptime, UK reliability and first-time charge success over one
period, from one pass over the registry.

Speed: connectors are read a keyset page at a time with the history rows of the whole page in
one statement, so a national registry is two statements per page and one pass in Python, each
connector's timeline feeding both the NEVI and the UK tally.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from chargemesh.services.analytics.reliability.ftcsr import first_time_success
from chargemesh.services.analytics.reliability.model import (
    CHINA_TZ,
    NEVI_THRESHOLD,
    RAPID_KW,
    UK_TARGET,
    VISIT_GAP,
    ConnectorDetail,
    ReliabilityReport,
)
from chargemesh.services.analytics.reliability.nevi import NeviTally
from chargemesh.services.analytics.reliability.timeline import timeline
from chargemesh.services.analytics.reliability.uk import UkTally
from chargemesh.services.analytics.reliability.units import from_us, to_us
from chargemesh.store import Store
from chargemesh.store.repository import StatusChangeRow

PAGE = 5000  # connectors per page


def reliability_report(
    store: Store,
    start: datetime,
    end: datetime,
    *,
    months: int = 12,
    rapid_kw: float = RAPID_KW,
    threshold: float = NEVI_THRESHOLD,
    target: float = UK_TARGET,
    tz: timezone = CHINA_TZ,
    now: datetime | None = None,
    visit_gap: timedelta = VISIT_GAP,
    connector_detail: ConnectorDetail = "all",
    page: int = PAGE,
) -> ReliabilityReport:
    """NEVI uptime, UK reliability and FTCSR over ``[start, end)`` (the rules: ``nevi.py``,
    ``uk.py``, ``ftcsr.py``, the timeline they read: ``timeline.py``).

    ``months`` is the monthly NEVI window ending at ``end``; ``now`` (default: the clock) caps
    the observed time; ``connector_detail`` chooses which connectors are listed one by one
    ("all", "below_threshold" or "none"; the operator, month and network totals always cover
    every connector).
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the period must be given in timezone-aware datetimes")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise ValueError("the period must end after it starts")
    if months < 0:
        raise ValueError("months must be 0 or more")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    observed_until = min(end, max(now, start))
    nevi = NeviTally(start, end, months=months, tz=tz, threshold=threshold, detail=connector_detail)
    uk = UkTally(start, end, rapid_kw=rapid_kw, target=target, utc_offset=tz.utcoffset(None))
    first_seen = _scan(store, start, observed_until, nevi, uk, page=page)
    return ReliabilityReport(
        start=start,
        end=end,
        observed_until=observed_until,
        observed_from=None if first_seen is None else from_us(first_seen),
        nevi=nevi.result(),
        uk=uk.result(),
        ftcsr=first_time_success(store, start, end, visit_gap=visit_gap),
    )


def _scan(
    store: Store,
    start: datetime,
    observed_until: datetime,
    nevi: NeviTally,
    uk: UkTally,
    *,
    page: int,
) -> int | None:
    """Feed every connector's timeline to the tallies; returns the first instant (µs) any
    connector was observed in the period: a store that has watched for 17 minutes does not
    claim a year."""
    p0, stop = to_us(start), to_us(observed_until)
    lo = nevi.since
    lo_at = from_us(lo)
    nevi.exclude(store.excluded_downtime(lo_at, observed_until))
    first_seen: int | None = None
    after = ""
    while True:
        conns = store.reliability_connectors(after, page)
        if not conns:
            break
        after = conns[-1][0]
        history: dict[str, list[StatusChangeRow]] = {}
        for row in store.status_changes_between(conns[0][0], after, lo_at, observed_until):
            history.setdefault(row[0], []).append(row)
        for conn in conns:
            cid, operator_id, station_id, kw, hours = conn[0], conn[1], conn[2], conn[3], conn[7]
            segs = timeline(conn, history.get(cid, ()), lo, stop)
            if not segs:
                continue
            observed = nevi.add(cid, operator_id, station_id, segs)
            if observed:
                seen = max(segs[0][1], p0)
                if first_seen is None or seen < first_seen:
                    first_seen = seen
                uk.add(operator_id, kw, hours, segs)
        if len(conns) < page:
            break
    return first_seen
