"""Drivers' RFID charge cards (:mod:`chargemesh.domain.cards`): added with their UID checked,
one account per card, at most :data:`MAX_CARDS` per account; the CSMS starts a charge in the
card's account when a charger reads it (``csms/authorization.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from chargemesh.domain.cards import ChargeCard, card_uid_problem, normalize_card_uid
from chargemesh.services.charging.vehicles import Refused
from chargemesh.store import Store

MAX_CARDS: Final = 20


def add_card(store: Store, account_id: str, uid: str, label: str, at: datetime) -> ChargeCard:
    """The account's new card (sync: run it in a thread). ``Refused`` 422 with the reason for a
    malformed UID or too many cards, 409 if the card is already registered (to anyone: which
    account holds it is not said)."""
    uid = normalize_card_uid(uid)
    problem = card_uid_problem(uid)
    if problem is not None:
        raise Refused(422, problem)
    if len(store.account_cards(account_id)) >= MAX_CARDS:
        raise Refused(422, f"an account holds at most {MAX_CARDS} cards")
    card = ChargeCard(uid, account_id, label.strip() or "card", at)
    if not store.add_card(card):
        raise Refused(409, "this card is already registered")
    return card
