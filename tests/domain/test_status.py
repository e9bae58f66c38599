"""The unified status and the protocol mapping tables (shared/reference/ocpi.md §4, tcec.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chargemesh.domain import ConnectorStatus, effective_status
from chargemesh.protocols.ocpi.mapping import connector_status as from_ocpi
from chargemesh.protocols.tcec.mapping import connector_status as from_tcec

S = ConnectorStatus


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("AVAILABLE", S.AVAILABLE),
        ("BLOCKED", S.OCCUPIED),
        ("CHARGING", S.CHARGING),
        ("INOPERATIVE", S.OFFLINE),
        ("OUTOFORDER", S.FAULTED),
        ("PLANNED", S.OFFLINE),
        ("REMOVED", S.OFFLINE),
        ("RESERVED", S.RESERVED),
        ("UNKNOWN", S.UNKNOWN),
        ("charging", S.CHARGING),  # lenient on case
        (" AVAILABLE ", S.AVAILABLE),
        ("PARKING", S.UNKNOWN),  # a value from a future version
        ("", S.UNKNOWN),
        (None, S.UNKNOWN),
        (3, S.UNKNOWN),
    ],
)
def test_ocpi_evse_status(code: object, expected: ConnectorStatus) -> None:
    assert from_ocpi(code) is expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, S.OFFLINE),
        (1, S.AVAILABLE),
        (2, S.OCCUPIED),
        (3, S.CHARGING),
        (4, S.RESERVED),
        (255, S.FAULTED),
        ("3", S.CHARGING),  # numeric strings as some operators send them
        (21501, S.UNKNOWN),  # private codes: upgrading
        (21503, S.UNKNOWN),  # disabled
        (-1, S.UNKNOWN),
        ("x", S.UNKNOWN),
        (None, S.UNKNOWN),
        (True, S.UNKNOWN),
        (1.0, S.UNKNOWN),
    ],
)
def test_tcec_connector_status(code: object, expected: ConnectorStatus) -> None:
    assert from_tcec(code) is expected


def test_every_unified_status_is_reachable_from_both_protocols() -> None:
    ocpi = {from_ocpi(c) for c in ("AVAILABLE", "BLOCKED", "CHARGING", "OUTOFORDER", "RESERVED")}
    tcec = {from_tcec(c) for c in (0, 1, 2, 3, 4, 255, 9)}
    assert tcec == set(S)
    assert ocpi | {S.OFFLINE, S.UNKNOWN} == set(S)


NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def test_a_fresh_status_is_shown() -> None:
    seen = NOW - timedelta(minutes=14)
    assert effective_status(S.AVAILABLE, seen, NOW, timedelta(minutes=15)) is S.AVAILABLE


def test_a_stale_status_is_unknown_never_available() -> None:
    seen = NOW - timedelta(minutes=16)
    assert effective_status(S.AVAILABLE, seen, NOW, timedelta(minutes=15)) is S.UNKNOWN
    assert effective_status(S.FAULTED, None, NOW, timedelta(minutes=15)) is S.UNKNOWN
