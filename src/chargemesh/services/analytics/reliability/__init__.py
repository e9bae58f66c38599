"""Reliability figures from the store: NEVI uptime per connector, UK rapid-network reliability
per operator, and first-time charge success rate (issue #8, part 3; see also
``shared/reference/maps-and-data.md`` §3).

``reliability_report(store, start, end)`` (``scan.py``) computes all three for the period
``[start, end)`` and returns a :class:`ReliabilityReport` (``model.py``) whose ``to_json()`` is
what the report and the API print. One module per rule: ``timeline.py`` (a connector's status
over time), ``nevi.py``, ``uk.py`` with ``hours.py`` (opening hours), ``ftcsr.py``.
"""

from chargemesh.services.analytics.reliability.ftcsr import first_time_success
from chargemesh.services.analytics.reliability.hours import OpeningHours, parse_opening_hours
from chargemesh.services.analytics.reliability.model import (
    CHINA_TZ,
    NEVI_THRESHOLD,
    RAPID_KW,
    UK_TARGET,
    VISIT_GAP,
    ConnectorDetail,
    ConnectorUptime,
    FirstTimeSuccess,
    MonthUptime,
    NeviUptime,
    OperatorReliability,
    ReliabilityReport,
    UkReliability,
    UptimeTotals,
    VisitCounts,
)
from chargemesh.services.analytics.reliability.scan import PAGE, reliability_report

__all__ = [
    "CHINA_TZ",
    "NEVI_THRESHOLD",
    "PAGE",
    "RAPID_KW",
    "UK_TARGET",
    "VISIT_GAP",
    "ConnectorDetail",
    "ConnectorUptime",
    "FirstTimeSuccess",
    "MonthUptime",
    "NeviUptime",
    "OpeningHours",
    "OperatorReliability",
    "ReliabilityReport",
    "UkReliability",
    "UptimeTotals",
    "VisitCounts",
    "first_time_success",
    "parse_opening_hours",
    "reliability_report",
]
