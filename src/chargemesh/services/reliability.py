"""Reliability figures from the store: NEVI uptime per connector, UK rapid-network reliability
per operator, and first-time charge success rate (issue #8, part 3).

``reliability_report(store, start, end)`` computes all three for the period ``[start, end)``
and returns a :class:`ReliabilityReport` whose ``to_json()`` is what the report and the API
print. Definitions and choices (see also ``shared/reference/maps-and-data.md`` §3):

**The timeline.** A connector's status over time is rebuilt from ``status_history`` (one row
per change: ``previous`` held from ``previous_since`` until ``at``, then ``status``) and, after
its last change, its current ``status`` since ``status_since``. A connector that never changed
has no history row: its current status holds since ``status_since`` (``status_at`` if that is
unknown). Time before a connector's first known status is not counted: its period starts at
its first observation if that is later than ``start``. Its period ends at ``end``, at ``now``
if earlier (the current status is not extrapolated into the future), or when its station was
delisted. Only connectors still in the registry are reported (a connector a feed stopped
listing is deleted with its current status; its history rows are then ignored). A connector
with no observed time in the window is left out.

**NEVI uptime** (23 CFR 680.116(b)): μ = ((T − (T_outage − T_excluded)) / T) × 100, where
T is the connector's observed minutes in the period (525,600 for a whole, fully observed
year). Up = AVAILABLE, OCCUPIED, CHARGING, RESERVED; outage = FAULTED, OFFLINE. UNKNOWN is
**not** an outage (NEVI counts known outages only): it stays in T and counts as up.
T_excluded is the part of the outage time that overlaps an excluded-downtime record of the
connector or of its station (a station record covers all its connectors; overlapping records
are merged first, so no minute is excluded twice); an exclusion over up or unknown time
excludes nothing. NEVI requires each port to be **above** 97 %: a connector "meets" the
threshold when μ > 97 and counts in ``below_threshold`` otherwise (so exactly 97 % fails).
Operator and network figures pool the minutes of their connectors (time-weighted).

**Monthly NEVI.** Calendar months in China time (UTC+8, the ``tz`` parameter): the platform's
operators and drivers live there, and a month read in UTC would start at 08:00 on the 1st.
The window is the ``months`` calendar months ending with the one that contains ``end`` (that
last month is partial when ``end`` is not a month boundary), whatever ``start`` is. An outage
spanning a month boundary is split between the months at the boundary; excluded downtime too.
Months with no observed time are left out of a connector's list.

**UK reliability** (Public Charge Point Regulations 2023, reg. 7): over the rapid connectors
(``max_power_kw >= rapid_kw``, default 50) of each operator, by OCPI EVSE status eligibility
mapped onto ours: AVAILABLE, CHARGING, RESERVED → reliable; OCCUPIED (our image of OCPI
BLOCKED) and UNKNOWN → ineligible; FAULTED, OFFLINE (OCPI OUTOFORDER, INOPERATIVE) →
unreliable. ``reliability`` = reliable ÷ (reliable + unreliable): ineligible time is left out
of both numerator and denominator. Note that reg. 7(3)(b) as made reads "considered to be
reliable … where it is … ineligible for measurement", i.e. ineligible time counts as reliable;
that figure is given too, as ``reliability_statutory`` = (reliable + ineligible) ÷ all
eligible-or-not open time, and ``meets_target_statutory``. An operator meets the 99 % target
when its reliability is at least 99 % (computed exactly, so 99.0 % meets). The figure is per
connector time, pooled over the operator's rapid connectors (the regulation's "on average"
over the network, time-weighted). Only opening hours count (reg. 7(5)): missing hours and
"24/7" are always open; "HH:MM-HH:MM" (every day, several ranges comma-separated) and the OCPI
summary form "Mo-Fr 08:00-20:00; Sa 10:00-14:00" are parsed (days not listed are closed; a
range ending at or before its start runs past midnight); every other text, e.g. T/CEC's free
Chinese ``BusineHours``, is treated as always open for now. Hours are read in ``tz`` too.

**First-time charge success rate.** Charge attempts with ``start <= at < end`` are grouped into
visits: the attempts of one account at one station each within 30 minutes (``visit_gap``) of
the one before (account and station come from the attempt's session; an attempt without a
session, e.g. an imported test campaign, is a visit of its own). FTCSR = visits whose first
attempt succeeded ÷ visits; the visit success rate = visits where any attempt succeeded ÷
visits. A visit belongs to the operator of its first attempt. A visit is cut at ``end``.

Speed: connectors are read a keyset page at a time with the history rows of the whole page in
one statement, so a national registry is two statements per page and one pass in Python;
connectors with no outage in the window share their month lists.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache
from typing import Any, Literal

from chargemesh.domain import ConnectorStatus
from chargemesh.store import Store
from chargemesh.store.repository import ReliabilityConnectorRow, StatusChangeRow

CHINA_TZ = timezone(timedelta(hours=8), "UTC+08:00")
NEVI_THRESHOLD = 97.0
UK_TARGET = 99.0
RAPID_KW = 50.0
VISIT_GAP = timedelta(minutes=30)
PAGE = 5000  # connectors per page

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MINUTE = 60_000_000  # µs
_DAY = 86_400_000_000
_WEEK = 7 * _DAY
_MONDAY = 4 * _DAY  # 1970-01-05, the first Monday after the epoch
_FOREVER = 2**62

_OUTAGE = frozenset({ConnectorStatus.FAULTED.value, ConnectorStatus.OFFLINE.value})
_UK_RELIABLE = frozenset(
    s.value for s in (ConnectorStatus.AVAILABLE, ConnectorStatus.CHARGING, ConnectorStatus.RESERVED)
)
_UK_UNRELIABLE = _OUTAGE  # OCPI INOPERATIVE, OUTOFORDER
# Everything else (OCCUPIED = OCPI BLOCKED, UNKNOWN, and any future status) is ineligible.

ConnectorDetail = Literal["all", "below_threshold", "none"]


def _us(at: datetime) -> int:
    return (at - _EPOCH) // _US


def _minutes(us: int) -> float:
    return us / _MINUTE


def _pct(part: int, whole: int) -> float | None:
    return None if whole <= 0 else 100 * part / whole


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MonthUptime:
    month: str  # "2026-10", in the report's time zone
    uptime: float | None
    outage_min: float
    excluded_min: float
    observed_min: float

    def to_json(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "uptime": _round(self.uptime, 4),
            "outage_min": round(self.outage_min, 3),
            "excluded_min": round(self.excluded_min, 3),
            "observed_min": round(self.observed_min, 3),
        }


@dataclass(frozen=True, slots=True)
class ConnectorUptime:
    connector_id: str
    operator_id: str
    station_id: str
    uptime: float | None  # None: not observed in the period (only in the monthly window)
    outage_min: float
    excluded_min: float
    observed_min: float
    meets_threshold: bool | None
    months: tuple[MonthUptime, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "connector_id": self.connector_id,
            "operator_id": self.operator_id,
            "station_id": self.station_id,
            "uptime": _round(self.uptime, 4),
            "outage_min": round(self.outage_min, 3),
            "excluded_min": round(self.excluded_min, 3),
            "observed_min": round(self.observed_min, 3),
            "meets_threshold": self.meets_threshold,
            "months": [m.to_json() for m in self.months],
        }


@dataclass(frozen=True, slots=True)
class UptimeTotals:
    """Pooled NEVI minutes of several connectors (an operator's, a month's, the network's)."""

    key: str  # operator id, or month
    connectors: int  # observed in the period (the month)
    below_threshold: int
    uptime: float | None
    outage_min: float
    excluded_min: float
    observed_min: float

    def to_json(self, key_name: str) -> dict[str, Any]:
        return {
            key_name: self.key,
            "connectors": self.connectors,
            "below_threshold": self.below_threshold,
            "uptime": _round(self.uptime, 4),
            "outage_min": round(self.outage_min, 3),
            "excluded_min": round(self.excluded_min, 3),
            "observed_min": round(self.observed_min, 3),
        }


@dataclass(frozen=True, slots=True)
class NeviUptime:
    threshold: float
    timezone: str
    months: tuple[UptimeTotals, ...]  # the network, month by month
    operators: tuple[UptimeTotals, ...]
    network: UptimeTotals
    connectors: tuple[ConnectorUptime, ...]  # as ``connector_detail`` asked, by id
    below_threshold: int

    def to_json(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "timezone": self.timezone,
            "below_threshold": self.below_threshold,
            "network": self.network.to_json("scope"),
            "months": [m.to_json("month") for m in self.months],
            "operators": [o.to_json("operator_id") for o in self.operators],
            "connectors": [c.to_json() for c in self.connectors],
        }


@dataclass(frozen=True, slots=True)
class OperatorReliability:
    operator_id: str
    connectors: int  # rapid connectors observed in the period
    reliability: float | None  # reliable / (reliable + unreliable), None with neither
    reliable_min: float
    unreliable_min: float
    ineligible_min: float
    meets_target: bool | None
    reliability_statutory: float | None  # ineligible counted as reliable (reg. 7(3)(b))
    meets_target_statutory: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "operator_id": self.operator_id,
            "connectors": self.connectors,
            "reliability": _round(self.reliability, 4),
            "reliable_min": round(self.reliable_min, 3),
            "unreliable_min": round(self.unreliable_min, 3),
            "ineligible_min": round(self.ineligible_min, 3),
            "meets_target": self.meets_target,
            "reliability_statutory": _round(self.reliability_statutory, 4),
            "meets_target_statutory": self.meets_target_statutory,
        }


@dataclass(frozen=True, slots=True)
class UkReliability:
    min_kw: float
    target: float
    operators: tuple[OperatorReliability, ...]  # by operator id

    def to_json(self) -> dict[str, Any]:
        return {
            "min_kw": self.min_kw,
            "target": self.target,
            "operators": [o.to_json() for o in self.operators],
            "meeting_target": sum(1 for o in self.operators if o.meets_target),
        }


@dataclass(frozen=True, slots=True)
class VisitCounts:
    key: str  # "all", or an operator id
    visits: int
    first_time_successes: int
    visit_successes: int
    attempts: int

    @property
    def ftcsr(self) -> float | None:
        return _pct(self.first_time_successes, self.visits)

    @property
    def visit_success_rate(self) -> float | None:
        return _pct(self.visit_successes, self.visits)

    def to_json(self, key_name: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {key_name: self.key} if key_name else {}
        out.update(
            visits=self.visits,
            attempts=self.attempts,
            first_time_successes=self.first_time_successes,
            visit_successes=self.visit_successes,
            ftcsr=_round(self.ftcsr, 4),
            visit_success_rate=_round(self.visit_success_rate, 4),
        )
        return out


@dataclass(frozen=True, slots=True)
class FirstTimeSuccess:
    visit_gap_min: float
    overall: VisitCounts
    operators: tuple[VisitCounts, ...]  # by operator id

    def to_json(self) -> dict[str, Any]:
        return {
            "visit_gap_min": self.visit_gap_min,
            "overall": self.overall.to_json(),
            "operators": [o.to_json("operator_id") for o in self.operators],
        }


@dataclass(frozen=True, slots=True)
class ReliabilityReport:
    start: datetime
    end: datetime
    observed_until: datetime  # ``end``, or ``now`` when that is earlier
    observed_from: datetime | None  # the first observation in the period (None: none)
    nevi: NeviUptime
    uk: UkReliability
    ftcsr: FirstTimeSuccess

    def to_json(self) -> dict[str, Any]:
        return {
            "period": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "observed_until": self.observed_until.isoformat(),
                "observed_from": (
                    self.observed_from.isoformat() if self.observed_from is not None else None
                ),
            },
            "nevi": self.nevi.to_json(),
            "uk": self.uk.to_json(),
            "ftcsr": self.ftcsr.to_json(),
        }


# --- opening hours ---------------------------------------------------------------------------

_DAYS = {"mo": 0, "tu": 1, "we": 2, "th": 3, "fr": 4, "sa": 5, "su": 6}
_RANGE = r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})"
_DAYSPEC = r"[A-Za-z]{2}(?:\s*-\s*[A-Za-z]{2})?(?:\s*,\s*[A-Za-z]{2}(?:\s*-\s*[A-Za-z]{2})?)*"
_PART = re.compile(rf"(?:({_DAYSPEC})\s+)?({_RANGE}(?:\s*,\s*{_RANGE})*)")
_ALWAYS = {"24/7", "24h", "24 h", "24 hours", "00:00-24:00", "0:00-24:00"}


class OpeningHours:
    """A weekly schedule: open intervals in µs from local Monday 00:00, for counting open time."""

    def __init__(self, intervals: Sequence[tuple[int, int]], utc_offset: timedelta) -> None:
        self.intervals = tuple(intervals)
        self.weekly = sum(e - s for s, e in self.intervals)
        self._shift = utc_offset // _US - _MONDAY

    def _open_before(self, t: int) -> int:
        weeks, pos = divmod(t + self._shift, _WEEK)
        total = weeks * self.weekly
        for s, e in self.intervals:
            if pos <= s:
                break
            total += min(pos, e) - s
        return total

    def open_between(self, a: int, b: int) -> int:
        """Open µs within ``[a, b)`` (µs since the epoch, UTC)."""
        return self._open_before(b) - self._open_before(a)


def _days(spec: str | None) -> list[int] | None:
    if spec is None:
        return list(range(7))
    days: list[int] = []
    for item in spec.split(","):
        ends = [p.strip().lower() for p in item.split("-")]
        if any(e not in _DAYS for e in ends):
            return None
        first, last = _DAYS[ends[0]], _DAYS[ends[-1]]
        days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
    return days


@lru_cache(maxsize=4096)
def parse_opening_hours(text: str | None, utc_offset: timedelta) -> OpeningHours | None:
    """The schedule of an opening-hours text, or ``None`` for always open: missing, "24/7",
    and any text we cannot read (see the module docstring)."""
    if text is None or text.strip().lower() in _ALWAYS or not text.strip():
        return None
    raw: list[tuple[int, int]] = []
    for part in text.split(";"):
        m = _PART.fullmatch(part.strip())
        if m is None:
            return None
        days = _days(m.group(1))
        if days is None:
            return None
        for r in re.finditer(_RANGE, m.group(2)):
            h0, m0, h1, m1 = (int(g) for g in r.groups())
            if h0 > 24 or h1 > 24 or m0 > 59 or m1 > 59:
                return None
            begin, end = (h0 * 60 + m0) * _MINUTE, (h1 * 60 + m1) * _MINUTE
            if end <= begin:  # past midnight ("22:00-06:00"; "00:00-00:00" is the whole day)
                end += _DAY
            for d in days:
                raw.append((d * _DAY + begin, d * _DAY + end))
    pieces: list[tuple[int, int]] = []
    for s, e in raw:  # wrap Sunday-night ranges into Monday morning
        if e <= _WEEK:
            pieces.append((s, e))
        else:
            pieces.extend(((s, _WEEK), (0, e - _WEEK)) if s < _WEEK else ((s - _WEEK, e - _WEEK),))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(pieces):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    if merged == [(0, _WEEK)]:
        return None
    return OpeningHours(merged, utc_offset)


# --- the scan ----------------------------------------------------------------------------------


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _overlaps(
    pieces: Sequence[tuple[int, int]], excluded: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The parts of ``pieces`` (outages) inside ``excluded`` (merged, sorted)."""
    out = []
    for a, b in pieces:
        for s, e in excluded:
            if s >= b:
                break
            lo, hi = max(a, s), min(b, e)
            if lo < hi:
                out.append((lo, hi))
    return out


def _within(pieces: Sequence[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in pieces)


def _timeline(
    conn: ReliabilityConnectorRow, changes: Sequence[StatusChangeRow], lo: int, hi: int
) -> list[tuple[str, int, int]]:
    """The connector's (status, from, until) segments clipped to ``[lo, hi)``, in time order."""
    _, _, _, _, status, since, status_at, _, removed = conn
    if removed is not None:
        hi = min(hi, _us(removed))
    raw: list[tuple[str, int, int]] = []
    if changes:
        first = changes[0]
        ats = [_us(c[2]) for c in changes]
        if first[4] is not None:
            raw.append((first[3], _us(first[4]), ats[0]))
        for i, change in enumerate(changes):
            raw.append((change[1], ats[i], ats[i + 1] if i + 1 < len(ats) else _FOREVER))
    else:
        begin = since if since is not None else status_at
        if begin is None:
            return []
        raw.append((status, _us(begin), _FOREVER))
    out = []
    for st, a, b in raw:
        a, b = max(a, lo), min(b, hi)
        if a < b:
            out.append((st, a, b))
    return out


@dataclass(slots=True)
class _Pool:
    connectors: int = 0
    below: int = 0
    outage: int = 0
    excluded: int = 0
    observed: int = 0

    def add(self, outage: int, excluded: int, observed: int, below: bool) -> None:
        self.connectors += 1
        self.below += below
        self.outage += outage
        self.excluded += excluded
        self.observed += observed

    def totals(self, key: str) -> UptimeTotals:
        return UptimeTotals(
            key=key,
            connectors=self.connectors,
            below_threshold=self.below,
            uptime=_pct(self.observed - (self.outage - self.excluded), self.observed),
            outage_min=_minutes(self.outage),
            excluded_min=_minutes(self.excluded),
            observed_min=_minutes(self.observed),
        )


@dataclass(slots=True)
class _UkPool:
    connectors: int = 0
    reliable: int = 0
    unreliable: int = 0
    ineligible: int = 0


def _bar(threshold: float) -> tuple[int, int]:
    """A percentage threshold as an exact fraction (numerator, denominator) of integers, read
    as written in decimal (99.1 is 991/10, not the nearest binary float)."""
    exact = Fraction(str(threshold))
    return exact.numerator, exact.denominator


def _meets(up: int, whole: int, bar: tuple[int, int], *, strictly: bool) -> bool | None:
    """Whether ``100 * up / whole`` is above (``strictly``) or at least the threshold ``bar``,
    in integers, so a figure exactly at the threshold is never misjudged by rounding."""
    if whole <= 0:
        return None
    left, right = 100 * up * bar[1], bar[0] * whole
    return left > right if strictly else left >= right


class _Months:
    """The monthly window: labels and boundaries (µs), the last one at ``end``."""

    def __init__(self, end: datetime, months: int, tz: timezone) -> None:
        last = (end - _US).astimezone(tz)
        y, m = last.year, last.month
        starts: list[tuple[int, int]] = []
        for _ in range(months):
            starts.append((y, m))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        starts.reverse()
        self.labels = [f"{y:04d}-{m:02d}" for y, m in starts]
        self.bounds = [_us(datetime(y, m, 1, tzinfo=tz)) for y, m in starts] + [_us(end)]
        self.lo = self.bounds[0] if months else _us(end)
        self._shared: dict[tuple[int, int], tuple[tuple[int, MonthUptime], ...]] = {}

    def observed(self, a: int, b: int) -> list[int]:
        return [
            max(0, min(b, e) - max(a, s))
            for s, e in zip(self.bounds, self.bounds[1:], strict=False)
        ]

    def observed_in(self, i: int, a: int, b: int) -> int:
        """How much of ``[a, b)`` falls in month ``i``."""
        return max(0, min(b, self.bounds[i + 1]) - max(a, self.bounds[i]))

    def spread(self, pieces: Iterable[tuple[int, int]]) -> dict[int, int]:
        """The lengths of ``pieces`` by the month (index) they fall in, split at boundaries."""
        bounds, last = self.bounds, len(self.labels)
        into: dict[int, int] = {}
        for a, b in pieces:
            i = max(0, bisect_right(bounds, a) - 1)
            while i < last and bounds[i] < b:
                length = min(b, bounds[i + 1]) - max(a, bounds[i])
                if length > 0:
                    into[i] = into.get(i, 0) + length
                i += 1
        return into

    def clean(self, a: int, b: int) -> tuple[tuple[int, MonthUptime], ...]:
        """(month index, figures) of a connector observed over ``[a, b)`` with no outage,
        for the months it was observed in (shared: most connectors have the same one)."""
        found = self._shared.get((a, b))
        if found is None:
            found = self._shared[(a, b)] = tuple(
                (i, MonthUptime(self.labels[i], 100.0, 0.0, 0.0, _minutes(obs)))
                for i, obs in enumerate(self.observed(a, b))
                if obs > 0
            )
        return found


def _month(clean: MonthUptime, observed: int, outage: int, excluded: int) -> MonthUptime:
    """A connector's month with an outage in it (``clean`` is the month without)."""
    return MonthUptime(
        clean.month,
        _pct(observed - (outage - excluded), observed),
        _minutes(outage),
        _minutes(excluded),
        clean.observed_min,
    )


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
    """NEVI uptime, UK reliability and FTCSR over ``[start, end)`` (see the module docstring).

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
    nevi, uk, first_seen = _uptime(
        store, start, end, observed_until, months=months, rapid_kw=rapid_kw,
        threshold=threshold, target=target, tz=tz, detail=connector_detail, page=page,
    )  # fmt: skip
    return ReliabilityReport(
        start=start,
        end=end,
        observed_until=observed_until,
        observed_from=None if first_seen is None else _EPOCH + first_seen * _US,
        nevi=nevi,
        uk=uk,
        ftcsr=first_time_success(store, start, end, visit_gap=visit_gap),
    )


def _uptime(
    store: Store,
    start: datetime,
    end: datetime,
    observed_until: datetime,
    *,
    months: int,
    rapid_kw: float,
    threshold: float,
    target: float,
    tz: timezone,
    detail: ConnectorDetail,
    page: int,
) -> tuple[NeviUptime, UkReliability, int | None]:
    """NEVI and UK figures, and the first instant (µs) any connector was observed in the period:
    a store that has watched for 17 minutes does not claim a year."""
    offset = tz.utcoffset(None)
    cal = _Months(end, months, tz)
    p0, p1 = _us(start), _us(end)
    stop = _us(observed_until)
    lo = min(p0, cal.lo)
    lo_at = _EPOCH + lo * _US
    nevi_bar, uk_bar = _bar(threshold), _bar(target)

    by_connector: dict[str, list[tuple[int, int]]] = {}
    by_station: dict[str, list[tuple[int, int]]] = {}
    for x in store.excluded_downtime(lo_at, observed_until):
        key, into = (x.connector_id, by_connector) if x.connector_id else (x.station_id, by_station)
        into.setdefault(key or "", []).append((_us(x.starts_at), _us(x.ends_at)))

    listed: list[ConnectorUptime] = []
    operators: dict[str, _Pool] = {}
    network = _Pool()
    # Month totals: observed time and connectors through the windows connectors were observed
    # over (most share one), outage and excluded time and failing connectors where they occur.
    windows: dict[tuple[int, int], int] = {}
    month_outage = [0] * len(cal.labels)
    month_excluded = [0] * len(cal.labels)
    month_below = [0] * len(cal.labels)
    uk: dict[str, _UkPool] = {}
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
            cid, operator_id, station_id, kw = conn[0], conn[1], conn[2], conn[3]
            segs = _timeline(conn, history.get(cid, ()), lo, stop)
            if not segs:
                continue
            outages = [(a, b) for st, a, b in segs if st in _OUTAGE]
            excluded_pieces: list[tuple[int, int]] = []
            if outages:
                ex = by_connector.get(cid, []) + by_station.get(station_id, [])
                if ex:
                    excluded_pieces = _overlaps(outages, _merge(ex))
            first, last = segs[0][1], segs[-1][2]

            # NEVI over the period
            observed = max(0, min(last, p1) - max(first, p0))
            if observed and (first_seen is None or max(first, p0) < first_seen):
                first_seen = max(first, p0)
            outage = _within(outages, p0, p1) if outages else 0
            excluded = _within(excluded_pieces, p0, p1) if excluded_pieces else 0
            up = observed - (outage - excluded)
            meets = _meets(up, observed, nevi_bar, strictly=True)
            if observed:
                below = meets is False
                network.add(outage, excluded, observed, below)
                operators.setdefault(operator_id, _Pool()).add(outage, excluded, observed, below)
            listing = detail == "all" or (detail == "below_threshold" and meets is False)

            # NEVI month by month
            ma, mb = max(first, cal.lo), min(last, p1)
            month_list: tuple[MonthUptime, ...] = ()
            if ma < mb and cal.labels:
                windows[(ma, mb)] = windows.get((ma, mb), 0) + 1
                out_m = cal.spread(outages) if outages else {}
                ex_m = cal.spread(excluded_pieces) if out_m and excluded_pieces else {}
                for i, o in out_m.items():
                    e = ex_m.get(i, 0)
                    obs = cal.observed_in(i, ma, mb)
                    month_outage[i] += o
                    month_excluded[i] += e
                    month_below[i] += _meets(obs - (o - e), obs, nevi_bar, strictly=True) is False
                if listing:
                    month_list = tuple(
                        m if i not in out_m else _month(m, cal.observed_in(i, ma, mb), out_m[i],
                                                        ex_m.get(i, 0))
                        for i, m in cal.clean(ma, mb)
                    )  # fmt: skip
            if listing:
                listed.append(
                    ConnectorUptime(
                        connector_id=cid,
                        operator_id=operator_id,
                        station_id=station_id,
                        uptime=_pct(up, observed),
                        outage_min=_minutes(outage),
                        excluded_min=_minutes(excluded),
                        observed_min=_minutes(observed),
                        meets_threshold=meets,
                        months=month_list,
                    )
                )

            # UK, rapid connectors only, opening hours only
            if kw >= rapid_kw and observed:
                hours = parse_opening_hours(conn[7], offset) if conn[7] else None
                pool = uk.setdefault(operator_id, _UkPool())
                pool.connectors += 1
                for st, a, b in segs:
                    a, b = max(a, p0), min(b, p1)
                    if a >= b:
                        continue
                    length = b - a if hours is None else hours.open_between(a, b)
                    if st in _UK_RELIABLE:
                        pool.reliable += length
                    elif st in _UK_UNRELIABLE:
                        pool.unreliable += length
                    else:
                        pool.ineligible += length
        if len(conns) < page:
            break

    month_pools = [_Pool() for _ in cal.labels]
    for (a, b), count in windows.items():
        for i, obs in enumerate(cal.observed(a, b)):
            if obs > 0:
                month_pools[i].connectors += count
                month_pools[i].observed += obs * count
    for i, mp in enumerate(month_pools):
        mp.outage, mp.excluded, mp.below = month_outage[i], month_excluded[i], month_below[i]

    nevi = NeviUptime(
        threshold=threshold,
        timezone=str(tz),
        months=tuple(p.totals(label) for label, p in zip(cal.labels, month_pools, strict=True)),
        operators=tuple(operators[k].totals(k) for k in sorted(operators)),
        network=network.totals("network"),
        connectors=tuple(listed),
        below_threshold=network.below,
    )
    uk_result = UkReliability(
        min_kw=rapid_kw,
        target=target,
        operators=tuple(
            OperatorReliability(
                operator_id=k,
                connectors=p.connectors,
                reliability=_pct(p.reliable, p.reliable + p.unreliable),
                reliable_min=_minutes(p.reliable),
                unreliable_min=_minutes(p.unreliable),
                ineligible_min=_minutes(p.ineligible),
                meets_target=_meets(p.reliable, p.reliable + p.unreliable, uk_bar, strictly=False),
                reliability_statutory=_pct(
                    p.reliable + p.ineligible, p.reliable + p.ineligible + p.unreliable
                ),
                meets_target_statutory=_meets(
                    p.reliable + p.ineligible,
                    p.reliable + p.ineligible + p.unreliable,
                    uk_bar,
                    strictly=False,
                ),
            )
            for k, p in sorted(uk.items())
        ),
    )
    return nevi, uk_result, first_seen


# --- first-time charge success -----------------------------------------------------------------


def first_time_success(
    store: Store, start: datetime, end: datetime, *, visit_gap: timedelta = VISIT_GAP
) -> FirstTimeSuccess:
    """FTCSR and visit success rate over the attempts of ``[start, end)``, overall and per
    operator (see the module docstring for what a visit is)."""
    # [operator, first attempt succeeded, any succeeded, attempts]
    visits: list[list[Any]] = []
    open_visits: dict[tuple[str, str], tuple[datetime, list[Any]]] = {}
    for at, operator_id, outcome, account_id, station_id in store.visit_attempts(start, end):
        ok = outcome == "success"
        if account_id is None or station_id is None:
            visits.append([operator_id, ok, ok, 1])
            continue
        key = (account_id, station_id)
        held = open_visits.get(key)
        if held is not None and at - held[0] <= visit_gap:
            visit = held[1]
            visit[2] = visit[2] or ok
            visit[3] += 1
        else:
            visit = [operator_id, ok, ok, 1]
            visits.append(visit)
        open_visits[key] = (at, visit)

    def count(key: str, group: list[list[Any]]) -> VisitCounts:
        return VisitCounts(
            key=key,
            visits=len(group),
            first_time_successes=sum(1 for v in group if v[1]),
            visit_successes=sum(1 for v in group if v[2]),
            attempts=sum(v[3] for v in group),
        )

    per_operator: dict[str, list[list[Any]]] = {}
    for v in visits:
        per_operator.setdefault(v[0], []).append(v)
    return FirstTimeSuccess(
        visit_gap_min=visit_gap / timedelta(minutes=1),
        overall=count("all", visits),
        operators=tuple(count(k, per_operator[k]) for k in sorted(per_operator)),
    )
