"""The figures' arithmetic: instants as integer microseconds since the epoch (UTC), so time is
added and compared exactly, and percentages judged against a threshold in integers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
MINUTE = 60_000_000  # µs
DAY = 86_400_000_000
WEEK = 7 * DAY
MONDAY = 4 * DAY  # 1970-01-05, the first Monday after the epoch
FOREVER = 2**62


def to_us(at: datetime) -> int:
    return (at - EPOCH) // US


def from_us(us: int) -> datetime:
    return EPOCH + us * US


def minutes(us: int) -> float:
    return us / MINUTE


def pct(part: int, whole: int) -> float | None:
    return None if whole <= 0 else 100 * part / whole


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def exact_bar(threshold: float) -> tuple[int, int]:
    """A percentage threshold as an exact fraction (numerator, denominator) of integers, read
    as written in decimal (99.1 is 991/10, not the nearest binary float)."""
    exact = Fraction(str(threshold))
    return exact.numerator, exact.denominator


def meets(up: int, whole: int, bar: tuple[int, int], *, strictly: bool) -> bool | None:
    """Whether ``100 * up / whole`` is above (``strictly``) or at least the threshold ``bar``,
    in integers, so a figure exactly at the threshold is never misjudged by rounding."""
    if whole <= 0:
        return None
    left, right = 100 * up * bar[1], bar[0] * whole
    return left > right if strictly else left >= right
