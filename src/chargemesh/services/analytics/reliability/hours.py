"""Opening hours as a weekly schedule, for counting a station's open time (the UK rule counts
only that, reg. 7(5)).

Missing hours and "24/7" are always open; "HH:MM-HH:MM" (every day, several ranges
comma-separated) and the OCPI summary form "Mo-Fr 08:00-20:00; Sa 10:00-14:00" are parsed
(days not listed are closed; a range ending at or before its start runs past midnight); every
other text, e.g. T/CEC's free Chinese ``BusineHours``, is treated as always open for now.
Hours are read in the report's time zone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from functools import lru_cache

from chargemesh.services.analytics.reliability.units import DAY, MINUTE, MONDAY, US, WEEK

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
        self._shift = utc_offset // US - MONDAY

    def _open_before(self, t: int) -> int:
        weeks, pos = divmod(t + self._shift, WEEK)
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
            begin, end = (h0 * 60 + m0) * MINUTE, (h1 * 60 + m1) * MINUTE
            if end <= begin:  # past midnight ("22:00-06:00"; "00:00-00:00" is the whole day)
                end += DAY
            for d in days:
                raw.append((d * DAY + begin, d * DAY + end))
    pieces: list[tuple[int, int]] = []
    for s, e in raw:  # wrap Sunday-night ranges into Monday morning
        if e <= WEEK:
            pieces.append((s, e))
        else:
            pieces.extend(((s, WEEK), (0, e - WEEK)) if s < WEEK else ((s - WEEK, e - WEEK),))
    merged: list[tuple[int, int]] = []
    for s, e in sorted(pieces):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    if merged == [(0, WEEK)]:
        return None
    return OpeningHours(merged, utc_offset)
