"""A connector's status over time, as (status, from, until) segments in µs, and the interval
arithmetic the figures need on them.

The timeline is rebuilt from ``status_history`` (one row per change: ``previous`` held from
``previous_since`` until ``at``, then ``status``) and, after its last change, its current
``status`` since ``status_since``. A connector that never changed has no history row: its
current status holds since ``status_since`` (``status_at`` if that is unknown). Time before a
connector's first known status is not counted: its period starts at its first observation if
that is later than the report's start. Its period ends at the report's end, at ``now`` if
earlier (the current status is not extrapolated into the future), or when its station was
delisted. Only connectors still in the registry are reported (a connector a feed stopped
listing is deleted with its current status; its history rows are then ignored). A connector
with no observed time in the window is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from chargemesh.services.analytics.reliability.units import FOREVER, to_us
from chargemesh.store.repository import ReliabilityConnectorRow, StatusChangeRow

#: (status, from, until), µs since the epoch
StatusSpan = tuple[str, int, int]


def merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intervals sorted with overlapping ones joined, so no instant is counted twice."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def overlaps(
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


def within(pieces: Sequence[tuple[int, int]], lo: int, hi: int) -> int:
    """How long ``pieces`` last inside ``[lo, hi)``."""
    return sum(max(0, min(b, hi) - max(a, lo)) for a, b in pieces)


def timeline(
    conn: ReliabilityConnectorRow, changes: Sequence[StatusChangeRow], lo: int, hi: int
) -> list[StatusSpan]:
    """The connector's (status, from, until) segments clipped to ``[lo, hi)``, in time order."""
    _, _, _, _, status, since, status_at, _, removed = conn
    if removed is not None:
        hi = min(hi, to_us(removed))
    raw: list[StatusSpan] = []
    if changes:
        first = changes[0]
        ats = [to_us(c[2]) for c in changes]
        if first[4] is not None:
            raw.append((first[3], to_us(first[4]), ats[0]))
        for i, change in enumerate(changes):
            raw.append((change[1], ats[i], ats[i + 1] if i + 1 < len(ats) else FOREVER))
    else:
        begin = since if since is not None else status_at
        if begin is None:
            return []
        raw.append((status, to_us(begin), FOREVER))
    out = []
    for st, a, b in raw:
        a, b = max(a, lo), min(b, hi)
        if a < b:
            out.append((st, a, b))
    return out
