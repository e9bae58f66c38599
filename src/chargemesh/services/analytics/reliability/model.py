"""What the reliability report holds: its defaults and its result records, each able to say
itself as the JSON the report and the API print (figures rounded there, not before)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from chargemesh.services.analytics.reliability.units import pct, rounded

CHINA_TZ = timezone(timedelta(hours=8), "UTC+08:00")
NEVI_THRESHOLD = 97.0
UK_TARGET = 99.0
RAPID_KW = 50.0
VISIT_GAP = timedelta(minutes=30)

ConnectorDetail = Literal["all", "below_threshold", "none"]


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
            "uptime": rounded(self.uptime, 4),
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
            "uptime": rounded(self.uptime, 4),
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
            "uptime": rounded(self.uptime, 4),
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
            "reliability": rounded(self.reliability, 4),
            "reliable_min": round(self.reliable_min, 3),
            "unreliable_min": round(self.unreliable_min, 3),
            "ineligible_min": round(self.ineligible_min, 3),
            "meets_target": self.meets_target,
            "reliability_statutory": rounded(self.reliability_statutory, 4),
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
        return pct(self.first_time_successes, self.visits)

    @property
    def visit_success_rate(self) -> float | None:
        return pct(self.visit_successes, self.visits)

    def to_json(self, key_name: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {key_name: self.key} if key_name else {}
        out.update(
            visits=self.visits,
            attempts=self.attempts,
            first_time_successes=self.first_time_successes,
            visit_successes=self.visit_successes,
            ftcsr=rounded(self.ftcsr, 4),
            visit_success_rate=rounded(self.visit_success_rate, 4),
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
