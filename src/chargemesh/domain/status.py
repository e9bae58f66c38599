"""The unified connector status and the mapping tables from each protocol's codes.

Every protocol reports availability in its own words; drivers see one set. Unknown or
private codes (T/CEC operators use e.g. 21501 "upgrading") map to ``UNKNOWN`` and never raise.
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


# OCPI 2.2.1 EVSE Status (mod_locations, Status enum).
OCPI_STATUS: dict[str, ConnectorStatus] = {
    "AVAILABLE": ConnectorStatus.AVAILABLE,
    "BLOCKED": ConnectorStatus.OCCUPIED,  # parked in front of / blocked: not usable, not charging
    "CHARGING": ConnectorStatus.CHARGING,
    "INOPERATIVE": ConnectorStatus.OFFLINE,  # not active or temporarily unavailable, not broken
    "OUTOFORDER": ConnectorStatus.FAULTED,
    "PLANNED": ConnectorStatus.OFFLINE,
    "REMOVED": ConnectorStatus.OFFLINE,
    "RESERVED": ConnectorStatus.RESERVED,
    "UNKNOWN": ConnectorStatus.UNKNOWN,
}

# T/CEC 102 ConnectorStatusInfo.Status.
TCEC_STATUS: dict[int, ConnectorStatus] = {
    0: ConnectorStatus.OFFLINE,
    1: ConnectorStatus.AVAILABLE,
    2: ConnectorStatus.OCCUPIED,  # 占用（未充电）
    3: ConnectorStatus.CHARGING,  # 占用（充电中）
    4: ConnectorStatus.RESERVED,  # 占用（预约锁定）
    255: ConnectorStatus.FAULTED,
}


def from_ocpi(code: object) -> ConnectorStatus:
    """Map an OCPI EVSE status; case-insensitive, anything unrecognised is UNKNOWN."""
    if not isinstance(code, str):
        return ConnectorStatus.UNKNOWN
    return OCPI_STATUS.get(code.strip().upper(), ConnectorStatus.UNKNOWN)


def from_tcec(code: object) -> ConnectorStatus:
    """Map a T/CEC connector status code given as int or numeric string."""
    if isinstance(code, bool):
        return ConnectorStatus.UNKNOWN
    if isinstance(code, str):
        try:
            code = int(code.strip())
        except ValueError:
            return ConnectorStatus.UNKNOWN
    if not isinstance(code, int):
        return ConnectorStatus.UNKNOWN
    return TCEC_STATUS.get(code, ConnectorStatus.UNKNOWN)


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
