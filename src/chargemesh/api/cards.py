"""A driver's RFID charge cards (``/api/v1/me/cards``): list, add by UID, remove. Held to an
own charger's reader, a card starts a charge in its account (docs/accounts.md, docs/csms.md).
Another account's card is 404 exactly as a missing one."""

# No ``from __future__ import annotations``: ``Driver`` is made per router (see sessions.py).

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from chargemesh.api.auth import Guards, responses
from chargemesh.domain.cards import ChargeCard, normalize_card_uid
from chargemesh.services.charging.cards import add_card
from chargemesh.services.charging.vehicles import Refused
from chargemesh.store import Store


class CardIn(BaseModel):
    uid: str = Field(
        min_length=1,
        max_length=40,
        description="the card's ISO 14443 UID: 4, 7 or 10 bytes in hex (8, 14 or 20 digits), "
        "bytes optionally separated by ':', '-' or spaces, either case",
    )
    label: str = Field("", max_length=60, description="the driver's name for the card")


class CardOut(BaseModel):
    uid: str
    label: str
    created_at: datetime


def _card_out(card: ChargeCard) -> CardOut:
    return CardOut(uid=card.uid, label=card.label, created_at=card.created_at)


def cards_router(guards: Guards, store: Store) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=responses(401))
    Driver = Annotated[str, Depends(guards.driver)]  # noqa: N806 - a type

    @router.get("/me/cards", response_model=list[CardOut])
    async def cards(account: Driver) -> list[CardOut]:
        """The account's charge cards, oldest first."""
        held = await asyncio.to_thread(store.account_cards, account)
        return [_card_out(c) for c in held]

    @router.post("/me/cards", response_model=CardOut, status_code=201)
    async def add(body: CardIn, account: Driver) -> CardOut:
        """Add a card by its UID; 422 with the reason for a malformed one, 409 if the card is
        already registered."""
        try:
            card = await asyncio.to_thread(
                add_card, store, account, body.uid, body.label, datetime.now(UTC)
            )
        except Refused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        return _card_out(card)

    @router.delete("/me/cards/{uid}", status_code=204)
    async def remove(uid: str, account: Driver) -> Response:
        """Remove a card: it starts nothing from now on."""
        if not await asyncio.to_thread(store.delete_card, account, normalize_card_uid(uid)):
            raise HTTPException(404, f"no card {uid!r} in this account")
        return Response(status_code=204)

    return router
