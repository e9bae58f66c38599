"""Transactions: 1.6 Start/StopTransaction and MeterValues, 2.0.1 TransactionEvent, onto the
driver's session — live kWh, kW, SoC and cost, then the bill at the own network's tariff.

Every message counts once, however often a charger replays it after a reconnect: 2.0.1 by
(charger, transactionId, seqNo); 1.6 a start by (charger, connector, its timestamp), readings
by the energy register (which only grows: a reading not above the meter's last is not counted
again), a stop once. Each
reading's energy is priced at the tariff period its interval began in (China time), so the
cost a driver watches grows into exactly the bill."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from chargemesh.csms.authorization import ACCEPTED, INVALID, Authorization
from chargemesh.csms.chargers import Chargers
from chargemesh.csms.network import OwnNetwork
from chargemesh.domain.own import OcppTransaction
from chargemesh.domain.session import Bill, StopCode
from chargemesh.protocols.ocpp.messages import Reading, TransactionAnswer, TransactionMessage
from chargemesh.protocols.tcec.codec import CHINA_TZ
from chargemesh.services.charging.sessions import Ending, Progress, SessionService
from chargemesh.store import Store

log = logging.getLogger(__name__)

PROTOCOL: Final = "ocpp"
CENT: Final = Decimal("0.01")
#: a 1.6 charge ended "Local" at this state of charge or above: the car ended it, full
FULL_SOC: Final = 95.0
#: the driver's words for why a charger ended a transaction (1.6 Reason, 2.0.1 stoppedReason)
STOP_CODES: Final = {
    "Remote": StopCode.DRIVER, "Local": StopCode.DRIVER, "StopAuthorized": StopCode.DRIVER,
    "EVDisconnected": StopCode.UNPLUGGED, "SOCLimitReached": StopCode.BATTERY_FULL,
    "StoppedByEV": StopCode.BATTERY_FULL,
    "EnergyLimitReached": StopCode.BATTERY_FULL, "EmergencyStop": StopCode.FAULT,
    "PowerLoss": StopCode.FAULT, "GroundFault": StopCode.FAULT, "OvercurrentFault": StopCode.FAULT,
    "HardReset": StopCode.OPERATOR, "SoftReset": StopCode.OPERATOR, "Reboot": StopCode.OPERATOR,
    "ImmediateReset": StopCode.OPERATOR, "DeAuthorized": StopCode.OPERATOR,
    "UnlockCommand": StopCode.OPERATOR, "Other": StopCode.OPERATOR,
}  # fmt: skip


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Transactions:
    def __init__(
        self,
        store: Store,
        network: OwnNetwork,
        chargers: Chargers,
        authorization: Authorization,
        sessions: SessionService,
    ) -> None:
        self.store = store
        self.network = network
        self.chargers = chargers
        self.authorization = authorization
        self.sessions = sessions
        #: one per charger (bounded by the chargers, not growing with their transactions): an
        #: older connection still finishing a message and the newer one never interleave
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, charger_id: str) -> asyncio.Lock:
        return self._locks.setdefault(charger_id, asyncio.Lock())

    async def handle(self, charger_id: str, message: TransactionMessage) -> TransactionAnswer:
        if message.event == "Started":
            return await self._started(charger_id, message)
        if message.transaction_id is None:
            return TransactionAnswer(INVALID)
        async with self._lock(charger_id):
            if message.seq_no is not None and not await asyncio.to_thread(
                self.store.remember_ocpp_event, charger_id, message.transaction_id,
                message.seq_no,
            ):  # fmt: skip
                return TransactionAnswer(ACCEPTED)  # a replay: counted already
            held = await asyncio.to_thread(
                self.store.ocpp_transaction, charger_id, message.transaction_id
            )
            if held is None:
                log.warning("%s: %s for unknown transaction %s", charger_id, message.event,
                            message.transaction_id)  # fmt: skip
                return TransactionAnswer(ACCEPTED)
            if message.event == "Ended":
                await self._ended(held, message)
            else:
                await self._updated(held, message.readings)
        return TransactionAnswer(ACCEPTED)

    # --- start -----------------------------------------------------------------------------------
    async def _started(self, charger_id: str, m: TransactionMessage) -> TransactionAnswer:
        charger = await self.chargers.get(charger_id)
        connector = m.connector or 1
        if charger is None or m.token is None:
            return TransactionAnswer(INVALID, m.transaction_id or "0")
        async with self._lock(charger_id):
            if m.transaction_id is None:  # 1.6: a start sent again finds the first one's id
                again = await asyncio.to_thread(
                    self.store.ocpp_transaction_started, charger_id, connector, m.at
                )
                if again is not None:
                    return TransactionAnswer(ACCEPTED, again.transaction_id)
            elif m.seq_no is not None and not await asyncio.to_thread(
                self.store.remember_ocpp_event, charger_id, m.transaction_id, m.seq_no
            ):
                return TransactionAnswer(ACCEPTED, m.transaction_id)
            verdict = await self.authorization.check(charger, m.token)
            txid = m.transaction_id or str(await asyncio.to_thread(
                self.store.new_ocpp_transaction_id, charger_id, at=m.at
            ))  # fmt: skip
            if verdict.status != ACCEPTED:
                return TransactionAnswer(verdict.status, txid)
            if verdict.session is not None:
                ref = verdict.session.protocol_ref or m.token.token
            else:  # a card or a car the charger read: the session starts here
                ref = f"{charger_id}/{txid}"
                target = await asyncio.to_thread(
                    self.store.connector_ref, self.network.connector_id(charger_id, connector)
                )
                if target is None:
                    return TransactionAnswer(INVALID, txid)
                if verdict.card is not None:
                    await self.sessions.card_start(PROTOCOL, target, verdict.card, ref)
                else:
                    assert verdict.vehicle is not None
                    await self.sessions.plug_and_charge(PROTOCOL, target, verdict.vehicle, ref)
            start_wh = m.meter_wh
            if start_wh is None:
                start_wh = next((r.wh for r in m.readings if r.wh is not None), 0.0)
            transaction = OcppTransaction(
                charger_id, txid, connector, m.token.token, ref, start_wh, start_wh, m.at,
                Decimal(0), Decimal(0), m.at,
            )  # fmt: skip
            await asyncio.to_thread(self.store.save_ocpp_transaction, transaction)
        await self.sessions.started(self.network.operator_id, ref, m.at)
        if m.readings:
            await self._updated(transaction, m.readings)
        return TransactionAnswer(ACCEPTED, txid)

    # --- readings --------------------------------------------------------------------------------
    def _priced(self, t: OcppTransaction, readings: tuple[Reading, ...]) -> OcppTransaction:
        """The transaction with the readings newer than its meter counted and priced."""
        for r in sorted(readings, key=lambda r: (r.at, r.wh or 0.0)):
            if r.wh is None or r.wh <= t.meter_wh:  # the register only grows: a replay is not
                continue
            kwh = Decimal(str(r.wh - t.meter_wh)) / 1000
            period = self.network.tariff.period_at(t.meter_at.astimezone(CHINA_TZ).time())
            energy = kwh * period.energy_price if period else Decimal(0)
            service = kwh * period.service_price if period else Decimal(0)
            t = replace(t, meter_wh=r.wh, meter_at=max(r.at, t.meter_at),
                        energy_cost=t.energy_cost + energy,
                        service_cost=t.service_cost + service)  # fmt: skip
        return t

    async def _updated(self, held: OcppTransaction, readings: tuple[Reading, ...]) -> None:
        t = self._priced(held, readings)
        if t != held:
            await asyncio.to_thread(self.store.save_ocpp_transaction, t)
        last = readings[-1] if readings else None
        kw = last.w / 1000 if last is not None and last.w is not None else None
        soc = last.soc if last is not None else None
        await self.sessions.progress(self.network.operator_id, t.session_ref, Progress(
            kwh=t.kwh, kw=kw, soc=soc, cost=money(t.energy_cost + t.service_cost),
            charging=True, charged_s=(t.meter_at - t.started_at).total_seconds(),
        ))  # fmt: skip

    # --- end -------------------------------------------------------------------------------------
    async def _ended(self, held: OcppTransaction, m: TransactionMessage) -> None:
        if held.ended_at is not None:
            return  # a replayed stop: billed already
        readings = m.readings
        if m.meter_wh is not None:
            readings = (*readings, Reading(m.at, wh=m.meter_wh))
        t = replace(self._priced(held, readings), ended_at=m.at)
        await asyncio.to_thread(self.store.save_ocpp_transaction, t)
        energy, service = money(t.energy_cost), money(t.service_cost)
        bill = Bill(kwh=t.kwh, total=energy + service, currency=self.network.tariff.currency,
                    energy_cost=energy, service_cost=service,
                    reference=f"{t.charger_id}/{t.transaction_id}")  # fmt: skip
        reason = m.stopped_reason
        code = STOP_CODES.get(reason) if reason else None
        soc = next((r.soc for r in reversed(readings) if r.soc is not None), None)
        if reason == "Local" and soc is not None and soc >= FULL_SOC:
            code = StopCode.BATTERY_FULL  # 1.6 has no reason for a car that ended it full
        ending = Ending(
            code=code,
            detail=None if reason in STOP_CODES else reason, ended_at=m.at,
            charged_s=(t.meter_at - t.started_at).total_seconds(),
        )  # fmt: skip
        # the last reading the session shows is the meter the bill is made of
        await self.sessions.progress(self.network.operator_id, t.session_ref, Progress(
            kwh=t.kwh, cost=bill.total, charged_s=ending.charged_s,
        ))  # fmt: skip
        await self.sessions.billed(self.network.operator_id, t.session_ref, bill, ending)
