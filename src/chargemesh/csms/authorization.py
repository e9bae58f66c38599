"""Authorization of what a charger presents: the token of a charge we asked it to start (app
or QR); a driver's RFID charge card — its UID as the 1.6 idTag or a 2.0.1 ``ISO14443`` idToken —
accepted for any account's card on a supercharger and only the owner's on a home charger; or
plug-and-charge — an OCPP 2.0.1 ``eMAID`` idToken (ISO 15118 cars), or on 1.6 a GB/T car's VIN
sent as the idTag — accepted only for a car registered with plug-and-charge on for the own
network (and, on a home charger, only the owner's cars).

On 1.6 an idTag is a card UID when it is 8, 14 or 20 hex digits and a VIN when it is 17
characters: the lengths never meet."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chargemesh.domain.cards import ChargeCard, card_uid_problem, normalize_card_uid
from chargemesh.domain.own import OwnCharger
from chargemesh.domain.session import ChargeSession, Vehicle
from chargemesh.domain.vehicle_ids import emaid_problem, normalize_emaid, normalize_vin, vin_problem
from chargemesh.protocols.ocpp.messages import TokenCheck
from chargemesh.store import Store

ACCEPTED = "Accepted"
INVALID = "Invalid"
BLOCKED = "Blocked"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    session: ChargeSession | None = None  # the charge we asked for, by its token
    vehicle: Vehicle | None = None  # plug-and-charge: the car, whose owner gets the session
    card: ChargeCard | None = None  # a charge card: its account gets the session


class Authorization:
    def __init__(self, store: Store, operator_id: str) -> None:
        self.store = store
        self.operator_id = operator_id

    async def check(self, charger: OwnCharger, token: TokenCheck) -> Verdict:
        session = await asyncio.to_thread(self.store.session_by_ref, self.operator_id, token.token)
        if session is not None:
            if session.state.final:
                return Verdict(INVALID)
            return Verdict(ACCEPTED, session=session)
        card = await self._card(token)
        if card is not None:
            if charger.owner_account_id is not None and card.account_id != charger.owner_account_id:
                return Verdict(INVALID)  # a home charger starts for its owner's cards only
            return Verdict(ACCEPTED, card=card)
        vehicle = await self._vehicle(token)
        if vehicle is None:
            return Verdict(INVALID)
        if self.operator_id not in vehicle.networks:
            return Verdict(BLOCKED)  # registered, but plug-and-charge is off here
        if charger.owner_account_id is not None and vehicle.account_id != charger.owner_account_id:
            return Verdict(INVALID)  # a home charger charges its owner's cars only
        return Verdict(ACCEPTED, vehicle=vehicle)

    async def _card(self, token: TokenCheck) -> ChargeCard | None:
        if token.kind not in ("idTag", "ISO14443"):
            return None
        uid = normalize_card_uid(token.token)
        if card_uid_problem(uid) is not None:
            return None
        return await asyncio.to_thread(self.store.card_by_uid, uid)

    async def _vehicle(self, token: TokenCheck) -> Vehicle | None:
        if token.kind == "eMAID":
            emaid = normalize_emaid(token.token)
            if emaid_problem(emaid) is not None:
                return None
            return await asyncio.to_thread(self.store.vehicle_by_emaid, emaid)
        if token.kind == "idTag":  # 1.6: a GB/T car's VIN as the idTag
            vin = normalize_vin(token.token)
            if vin_problem(vin) is not None:
                return None
            return await asyncio.to_thread(self.store.vehicle_by_vin, vin)
        return None
