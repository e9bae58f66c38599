"""The unified connector status, and what a driver may trust of it.

Every protocol reports availability in its own words; drivers see one set. The tables from each
protocol's codes live with that protocol (``protocols/ocpi/mapping.py``,
``protocols/tcec/mapping.py``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class ConnectorStatus(StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"  # a vehicle is connected or the bay is blocked, but not charging
    CHARGING = "charging"
    RESERVED = "reserved"
    FAULTED = "faulted"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


def effective_status(
    status: ConnectorStatus,
    observed_at: datetime | None,
    now: datetime,
    freshness: timedelta,
) -> ConnectorStatus:
    """What a driver is shown: a status older than the feed's freshness limit is UNKNOWN.

    A stale "available" is the most harmful thing a charging map can show, so age wins.
    """
    if observed_at is None or now - observed_at > freshness:
        return ConnectorStatus.UNKNOWN
    return status
