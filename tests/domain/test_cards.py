"""Card UIDs as drivers type them: normalized, and refused with a reason when not a UID."""

from __future__ import annotations

import pytest

from chargemesh.domain.cards import card_uid_problem, normalize_card_uid


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("04:a2:5b:1c:9d:3e:80", "04A25B1C9D3E80"),  # 7 bytes, as a phone app shows it
        ("DE AD BE EF", "DEADBEEF"),  # 4 bytes, printed with spaces
        ("04-11-22-33-44-55-66-77-88-99", "04112233445566778899"),  # 10 bytes: 1.6's 20 chars
    ],
)
def test_uids_of_4_7_and_10_bytes_are_normalized(typed: str, stored: str) -> None:
    assert normalize_card_uid(typed) == stored
    assert card_uid_problem(stored) is None


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("04A25B1C9D3E8", "13 digits"),  # a digit lost
        ("04A25B1C9D3E80FF", "16 digits"),  # 8 bytes is not a 14443 size
        ("04A25B1C9D3E8G", "hexadecimal"),
        ("LSVAU2180N2183294", "hexadecimal"),  # a VIN is not a card
        ("00000000", "not a real card"),
        ("FFFFFFFFFFFFFF", "not a real card"),
        ("", "0 digits"),
    ],
)
def test_what_is_not_a_uid_gets_a_reason(typed: str, why: str) -> None:
    problem = card_uid_problem(normalize_card_uid(typed))
    assert problem is not None
    assert why in problem
