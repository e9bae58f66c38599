"""NEVI uptime per connector (23 CFR 680.116(b)), by month, pooled per operator and network.

μ = ((T − (T_outage − T_excluded)) / T) × 100, where T is the connector's observed minutes in
the period (525,600 for a whole, fully observed year). Up = AVAILABLE, OCCUPIED, CHARGING,
RESERVED; outage = FAULTED, OFFLINE. UNKNOWN is **not** an outage (NEVI counts known outages
only): it stays in T and counts as up. T_excluded is the part of the outage time that overlaps
an excluded-downtime record of the connector or of its station (a station record covers all its
connectors; overlapping records are merged first, so no minute is excluded twice); an exclusion
over up or unknown time excludes nothing. NEVI requires each port to be **above** 97 %: a
connector "meets" the threshold when μ > 97 and counts in ``below_threshold`` otherwise (so
exactly 97 % fails). Operator and network figures pool the minutes of their connectors
(time-weighted).

**Monthly.** Calendar months in China time (UTC+8, the ``tz`` parameter): the platform's
operators and drivers live there, and a month read in UTC would start at 08:00 on the 1st.
The window is the ``months`` calendar months ending with the one that contains ``end`` (that
last month is partial when ``end`` is not a month boundary), whatever ``start`` is. An outage
spanning a month boundary is split between the months at the boundary; excluded downtime too.
Months with no observed time are left out of a connector's list. Connectors with no outage in
the window share their month lists.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from chargemesh.domain import ConnectorStatus
from chargemesh.services.analytics.reliability.model import (
    ConnectorDetail,
    ConnectorUptime,
    MonthUptime,
    NeviUptime,
    UptimeTotals,
)
from chargemesh.services.analytics.reliability.timeline import StatusSpan, merge, overlaps, within
from chargemesh.services.analytics.reliability.units import (
    US,
    exact_bar,
    meets,
    minutes,
    pct,
    to_us,
)
from chargemesh.store.repository import ExcludedDowntime

OUTAGE = frozenset({ConnectorStatus.FAULTED.value, ConnectorStatus.OFFLINE.value})


@dataclass(slots=True)
class _Pool:
    """Pooled NEVI minutes of several connectors, in µs."""

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
            uptime=pct(self.observed - (self.outage - self.excluded), self.observed),
            outage_min=minutes(self.outage),
            excluded_min=minutes(self.excluded),
            observed_min=minutes(self.observed),
        )


class _Months:
    """The monthly window: labels and boundaries (µs), the last one at ``end``."""

    def __init__(self, end: datetime, months: int, tz: timezone) -> None:
        last = (end - US).astimezone(tz)
        y, m = last.year, last.month
        starts: list[tuple[int, int]] = []
        for _ in range(months):
            starts.append((y, m))
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
        starts.reverse()
        self.labels = [f"{y:04d}-{m:02d}" for y, m in starts]
        self.bounds = [to_us(datetime(y, m, 1, tzinfo=tz)) for y, m in starts] + [to_us(end)]
        self.lo = self.bounds[0] if months else to_us(end)
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
                (i, MonthUptime(self.labels[i], 100.0, 0.0, 0.0, minutes(obs)))
                for i, obs in enumerate(self.observed(a, b))
                if obs > 0
            )
        return found


def _month(clean: MonthUptime, observed: int, outage: int, excluded: int) -> MonthUptime:
    """A connector's month with an outage in it (``clean`` is the month without)."""
    return MonthUptime(
        clean.month,
        pct(observed - (outage - excluded), observed),
        minutes(outage),
        minutes(excluded),
        clean.observed_min,
    )


class NeviTally:
    """The NEVI figures of ``[start, end)``, gathered one connector at a time."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        months: int,
        tz: timezone,
        threshold: float,
        detail: ConnectorDetail,
    ) -> None:
        self._cal = _Months(end, months, tz)
        self._p0, self._p1 = to_us(start), to_us(end)
        #: the first instant (µs) the figures look at: the period's or the monthly window's
        self.since = min(self._p0, self._cal.lo)
        self._threshold, self._tz, self._detail = threshold, tz, detail
        self._bar = exact_bar(threshold)
        self._by_connector: dict[str, list[tuple[int, int]]] = {}
        self._by_station: dict[str, list[tuple[int, int]]] = {}
        self._listed: list[ConnectorUptime] = []
        self._operators: dict[str, _Pool] = {}
        self._network = _Pool()
        # Month totals: observed time and connectors through the windows connectors were
        # observed over (most share one), outage and excluded time and failing connectors where
        # they occur.
        self._windows: dict[tuple[int, int], int] = {}
        self._month_outage = [0] * len(self._cal.labels)
        self._month_excluded = [0] * len(self._cal.labels)
        self._month_below = [0] * len(self._cal.labels)

    def exclude(self, records: Iterable[ExcludedDowntime]) -> None:
        """Take the excluded downtime overlapping the figures' time."""
        for x in records:
            key, into = (
                (x.connector_id, self._by_connector)
                if x.connector_id
                else (x.station_id, self._by_station)
            )
            into.setdefault(key or "", []).append((to_us(x.starts_at), to_us(x.ends_at)))

    def add(
        self, connector_id: str, operator_id: str, station_id: str, segs: Sequence[StatusSpan]
    ) -> int:
        """Count one connector's timeline (not empty); returns its observed µs in the period."""
        p0, p1, cal, bar = self._p0, self._p1, self._cal, self._bar
        outages = [(a, b) for st, a, b in segs if st in OUTAGE]
        excluded_pieces: list[tuple[int, int]] = []
        if outages:
            ex = self._by_connector.get(connector_id, []) + self._by_station.get(station_id, [])
            if ex:
                excluded_pieces = overlaps(outages, merge(ex))
        first, last = segs[0][1], segs[-1][2]

        # over the period
        observed = max(0, min(last, p1) - max(first, p0))
        outage = within(outages, p0, p1) if outages else 0
        excluded = within(excluded_pieces, p0, p1) if excluded_pieces else 0
        up = observed - (outage - excluded)
        meets_threshold = meets(up, observed, bar, strictly=True)
        if observed:
            below = meets_threshold is False
            self._network.add(outage, excluded, observed, below)
            self._operators.setdefault(operator_id, _Pool()).add(outage, excluded, observed, below)
        listing = self._detail == "all" or (
            self._detail == "below_threshold" and meets_threshold is False
        )

        # month by month
        ma, mb = max(first, cal.lo), min(last, p1)
        month_list: tuple[MonthUptime, ...] = ()
        if ma < mb and cal.labels:
            self._windows[(ma, mb)] = self._windows.get((ma, mb), 0) + 1
            out_m = cal.spread(outages) if outages else {}
            ex_m = cal.spread(excluded_pieces) if out_m and excluded_pieces else {}
            for i, o in out_m.items():
                e = ex_m.get(i, 0)
                obs = cal.observed_in(i, ma, mb)
                self._month_outage[i] += o
                self._month_excluded[i] += e
                self._month_below[i] += meets(obs - (o - e), obs, bar, strictly=True) is False
            if listing:
                month_list = tuple(
                    m if i not in out_m else _month(m, cal.observed_in(i, ma, mb), out_m[i],
                                                    ex_m.get(i, 0))
                    for i, m in cal.clean(ma, mb)
                )  # fmt: skip
        if listing:
            self._listed.append(
                ConnectorUptime(
                    connector_id=connector_id,
                    operator_id=operator_id,
                    station_id=station_id,
                    uptime=pct(up, observed),
                    outage_min=minutes(outage),
                    excluded_min=minutes(excluded),
                    observed_min=minutes(observed),
                    meets_threshold=meets_threshold,
                    months=month_list,
                )
            )
        return observed

    def result(self) -> NeviUptime:
        cal = self._cal
        month_pools = [_Pool() for _ in cal.labels]
        for (a, b), count in self._windows.items():
            for i, obs in enumerate(cal.observed(a, b)):
                if obs > 0:
                    month_pools[i].connectors += count
                    month_pools[i].observed += obs * count
        for i, mp in enumerate(month_pools):
            mp.outage = self._month_outage[i]
            mp.excluded = self._month_excluded[i]
            mp.below = self._month_below[i]
        operators = self._operators
        return NeviUptime(
            threshold=self._threshold,
            timezone=str(self._tz),
            months=tuple(p.totals(label) for label, p in zip(cal.labels, month_pools, strict=True)),
            operators=tuple(operators[k].totals(k) for k in sorted(operators)),
            network=self._network.totals("network"),
            connectors=tuple(self._listed),
            below_threshold=self._network.below,
        )
