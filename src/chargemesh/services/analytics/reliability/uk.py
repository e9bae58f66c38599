"""UK rapid-network reliability per operator (Public Charge Point Regulations 2023, reg. 7).

Over the rapid connectors (``max_power_kw >= rapid_kw``, default 50) of each operator, by OCPI
EVSE status eligibility mapped onto ours: AVAILABLE, CHARGING, RESERVED → reliable; OCCUPIED
(our image of OCPI BLOCKED) and UNKNOWN → ineligible; FAULTED, OFFLINE (OCPI OUTOFORDER,
INOPERATIVE) → unreliable. ``reliability`` = reliable ÷ (reliable + unreliable): ineligible
time is left out of both numerator and denominator. Note that reg. 7(3)(b) as made reads
"considered to be reliable … where it is … ineligible for measurement", i.e. ineligible time
counts as reliable; that figure is given too, as ``reliability_statutory`` = (reliable +
ineligible) ÷ all eligible-or-not open time, and ``meets_target_statutory``. An operator meets
the 99 % target when its reliability is at least 99 % (computed exactly, so 99.0 % meets). The
figure is per connector time, pooled over the operator's rapid connectors (the regulation's "on
average" over the network, time-weighted). Only opening hours count (reg. 7(5), ``hours.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chargemesh.domain import ConnectorStatus
from chargemesh.services.analytics.reliability.hours import parse_opening_hours
from chargemesh.services.analytics.reliability.model import OperatorReliability, UkReliability
from chargemesh.services.analytics.reliability.timeline import StatusSpan
from chargemesh.services.analytics.reliability.units import exact_bar, meets, minutes, pct, to_us

RELIABLE = frozenset(
    s.value for s in (ConnectorStatus.AVAILABLE, ConnectorStatus.CHARGING, ConnectorStatus.RESERVED)
)
# OCPI INOPERATIVE, OUTOFORDER (the same statuses as NEVI's outage, by a rule of its own)
UNRELIABLE = frozenset({ConnectorStatus.FAULTED.value, ConnectorStatus.OFFLINE.value})
# Everything else (OCCUPIED = OCPI BLOCKED, UNKNOWN, and any future status) is ineligible.


@dataclass(slots=True)
class _UkPool:
    connectors: int = 0
    reliable: int = 0
    unreliable: int = 0
    ineligible: int = 0


class UkTally:
    """The UK figures of ``[start, end)``, gathered one connector at a time."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        rapid_kw: float,
        target: float,
        utc_offset: timedelta,
    ) -> None:
        self._p0, self._p1 = to_us(start), to_us(end)
        self._rapid_kw, self._target, self._offset = rapid_kw, target, utc_offset
        self._pools: dict[str, _UkPool] = {}

    def add(
        self, operator_id: str, kw: float, hours: str | None, segs: Sequence[StatusSpan]
    ) -> None:
        """Count one connector observed in the period, if it is rapid, in its opening hours."""
        if kw < self._rapid_kw:
            return
        p0, p1 = self._p0, self._p1
        schedule = parse_opening_hours(hours, self._offset) if hours else None
        pool = self._pools.setdefault(operator_id, _UkPool())
        pool.connectors += 1
        for st, a, b in segs:
            a, b = max(a, p0), min(b, p1)
            if a >= b:
                continue
            length = b - a if schedule is None else schedule.open_between(a, b)
            if st in RELIABLE:
                pool.reliable += length
            elif st in UNRELIABLE:
                pool.unreliable += length
            else:
                pool.ineligible += length

    def result(self) -> UkReliability:
        bar = exact_bar(self._target)
        return UkReliability(
            min_kw=self._rapid_kw,
            target=self._target,
            operators=tuple(
                OperatorReliability(
                    operator_id=k,
                    connectors=p.connectors,
                    reliability=pct(p.reliable, p.reliable + p.unreliable),
                    reliable_min=minutes(p.reliable),
                    unreliable_min=minutes(p.unreliable),
                    ineligible_min=minutes(p.ineligible),
                    meets_target=meets(p.reliable, p.reliable + p.unreliable, bar, strictly=False),
                    reliability_statutory=pct(
                        p.reliable + p.ineligible, p.reliable + p.ineligible + p.unreliable
                    ),
                    meets_target_statutory=meets(
                        p.reliable + p.ineligible,
                        p.reliable + p.ineligible + p.unreliable,
                        bar,
                        strictly=False,
                    ),
                )
                for k, p in sorted(self._pools.items())
            ),
        )
