"""A driver's charge cards: RFID cards (ISO/IEC 14443 type A, e.g. MIFARE) a driver holds to a
charger's reader. The charger sends the card's UID — OCPP 1.6 as the ``idTag`` (at most 20
characters), 2.0.1 as an ``idToken`` of type ``ISO14443`` — and the CSMS starts the charge in the
account the card belongs to.

A UID is 4, 7 or 10 bytes (ISO/IEC 14443-3 single, double and triple size), written as 8, 14 or
20 hexadecimal digits. Drivers copy it from the card's print or a phone app, with colons, spaces
or hyphens between the bytes and in either case; :func:`normalize_card_uid` gives the form we
store and chargers send (upper-case hex, no separators). Nothing here does I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

#: Hex digits of a 4-, 7- and 10-byte UID.
UID_LENGTHS: Final = (8, 14, 20)
_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"[0-9A-F]*")


@dataclass(frozen=True, slots=True)
class ChargeCard:
    uid: str  # normalized: 8, 14 or 20 upper-case hex digits
    account_id: str
    label: str  # the driver's name for it ("work card")
    created_at: datetime


def normalize_card_uid(uid: str) -> str:
    return _SEPARATORS.sub("", uid).upper()


def card_uid_problem(uid: str) -> str | None:
    """Why ``uid`` (normalized) is not an ISO 14443 UID, or ``None``."""
    if not _HEX.fullmatch(uid):
        return "a card UID is hexadecimal (0-9, A-F), bytes optionally separated by ':'"
    if len(uid) not in UID_LENGTHS:
        return f"a card UID is 4, 7 or 10 bytes (8, 14 or 20 hex digits), not {len(uid)} digits"
    if uid.strip("0") == "" or uid.strip("F") == "":
        return "this is not a real card UID (all zeros or all ones)"
    return None
