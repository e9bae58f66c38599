"""Sessions on T/CEC 102 networks: ``query_equip_auth`` → ``query_start_charge`` →
``notification_start_charge_result`` → ``notification_equip_charge_status`` (repeated) →
``query_stop_charge`` → ``notification_stop_charge_result`` → ``notification_charge_order_info``.

The ``StartChargeSeq`` is ours: the platform's OperatorID and 18 digits (27 characters, as
the standard asks); every later message finds its session by it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from chargemesh.domain.events import TcecNotificationReceived
from chargemesh.domain.session import Bill, ChargeSession, StopCode, Vehicle
from chargemesh.protocols.tcec import charging as c
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.protocols.tcec.codec import CHINA_TZ, Ret, TcecError
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.wire import parse
from chargemesh.services.charging.prices import Prices
from chargemesh.services.charging.sessions import (
    Ending,
    Progress,
    Quote,
    Reply,
    SessionService,
)
from chargemesh.store.repository import ConnectorRef

log = logging.getLogger(__name__)

#: ``FailReason`` of query_equip_auth / query_start_charge (the standard names 1 and 2).
FAIL_REASONS = {1: "the charger does not exist", 2: "the charger is offline"}
#: ``StartChargeSeqStat``: 1 starting, 2 charging, 3 stopping, 4 ended, 5 unknown.
STARTING, CHARGING, STOPPING, ENDED = 1, 2, 3, 4
#: ``StopReason`` of the bill: 0 the user (at the pile), 1 the platform (our stop: the driver's),
#: 2 the BMS (the car reached its target charge), 3 a charger fault, 4 the connector unplugged.
#: Any other code is the operator's own, taken as a fault and shown with its number.
STOP_CODES = {0: StopCode.DRIVER, 1: StopCode.DRIVER, 2: StopCode.BATTERY_FULL,
              3: StopCode.FAULT, 4: StopCode.UNPLUGGED}  # fmt: skip


def ending_of(order: c.NotificationChargeOrderInfoRequest) -> Ending:
    """The bill's StopReason in our vocabulary, and its StartTime/EndTime (the operator's
    clock: the charging time its TotalPower belongs to)."""
    code, detail = None, None
    if order.stop_reason is not None:
        code = STOP_CODES.get(order.stop_reason, StopCode.FAULT)
        if code is StopCode.FAULT:
            detail = f"StopReason {order.stop_reason}"
    start, end = parse_time(order.start_time), parse_time(order.end_time)
    return Ending(code, detail, end, charged_seconds(start, end))


def charged_seconds(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from the operator's StartTime to its EndTime (``None`` without both)."""
    if start is None or end is None or end < start:
        return None
    return (end - start).total_seconds()


def _reason(fail_reason: int, what: str) -> str:
    meaning = FAIL_REASONS.get(fail_reason)
    return f"{what} (FailReason {fail_reason}{': ' + meaning if meaning else ''})"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
    except ValueError:
        return None


def _kw(status: c.NotificationEquipChargeStatusRequest) -> float | None:
    phases = [
        (v, a)
        for v, a in (
            (status.voltage_a, status.current_a),
            (status.voltage_b, status.current_b),
            (status.voltage_c, status.current_c),
        )
        if v is not None and a is not None
    ]
    if not phases:
        return None
    return round(sum(v * a for v, a in phases) / 1000.0, 3)


def new_seq(platform_id: str) -> str:
    """A fresh StartChargeSeq (or EquipAuthSeq, EquipBizSeq): our OperatorID and 18 digits."""
    return f"{platform_id}{secrets.randbelow(10**18):018d}"


class TcecCharging:
    """What the platform asks a T/CEC operator: start, stop, the price, a session's state."""

    protocol = "tcec"

    def __init__(
        self,
        clients: Callable[[str], TcecClient | None],
        platform_id: str,
        prices: Prices | None = None,
    ) -> None:
        self._clients = clients
        self.platform_id = platform_id
        self.prices = prices

    def new_ref(self) -> str:
        return new_seq(self.platform_id)

    def _client(self, operator_id: str) -> TcecClient:
        client = self._clients(operator_id)
        if client is None:
            raise LookupError(f"no T/CEC client for operator {operator_id}")
        return client

    async def start(
        self, session: ChargeSession, target: ConnectorRef, vehicle: Vehicle | None
    ) -> Reply:
        client = self._client(session.operator_id)
        auth = await client.equip_auth(
            c.QueryEquipAuthRequest(equip_auth_seq=self.new_ref(), connector_id=target.source_id)
        )
        if auth.succ_stat != 0:
            return Reply(False, _reason(auth.fail_reason, "the operator refused the charger"))
        answer = await client.start_charge(
            c.QueryStartChargeRequest(
                start_charge_seq=session.protocol_ref or "",
                connector_id=target.source_id,
                qr_code=session.qr,
            )
        )
        if answer.succ_stat != 0:
            return Reply(False, _reason(answer.fail_reason, "the operator refused the start"))
        return Reply(True)

    async def stop(self, session: ChargeSession, target: ConnectorRef) -> Reply:
        answer = await self._client(session.operator_id).stop_charge(
            c.QueryStopChargeRequest(
                start_charge_seq=session.protocol_ref or "", connector_id=target.source_id
            )
        )
        if answer.succ_stat != 0:
            return Reply(False, _reason(answer.fail_reason, "the operator refused the stop"))
        return Reply(True)

    async def quote(self, target: ConnectorRef) -> Quote | None:
        """``query_equip_auth`` (may it be used now?) and ``query_equip_business_policy`` (the
        price, kept as the station's: :class:`~chargemesh.services.charging.prices.Prices`)."""
        client = self._client(target.operator_id)
        auth = await client.equip_auth(
            c.QueryEquipAuthRequest(equip_auth_seq=self.new_ref(), connector_id=target.source_id)
        )
        if auth.succ_stat != 0:
            why = _reason(auth.fail_reason, "the operator says the charger cannot be used now")
            return Quote(usable=False, reason=why)
        if self.prices is None:
            return Quote()
        return Quote(tariff=await self.prices.of_connector(target))

    async def probe(self, session: ChargeSession) -> Progress | None:
        answer = await self._client(session.operator_id).charge_status(
            c.QueryEquipChargeStatusRequest(start_charge_seq=session.protocol_ref or "")
        )
        return Progress(
            kwh=answer.total_power,
            soc=answer.soc,
            cost=answer.total_money,
            charging=answer.start_charge_seq_stat == CHARGING,
            charged_s=charged_seconds(parse_time(answer.start_time), parse_time(answer.end_time)),
        )


class TcecSessionMessages:
    """What a T/CEC operator tells the platform about sessions, handed to the sessions."""

    protocol = TcecCharging.protocol

    def __init__(self, sessions: SessionService, new_ref: Callable[[], str]) -> None:
        self._sessions = sessions
        self._new_ref = new_ref

    async def plug_and_charge(
        self, operator_id: str, request: c.NotificationPlugAndChargeRequest
    ) -> c.NotificationPlugAndChargeResponse:
        """Our extension: a car the operator identified by its VIN plugged in. If the VIN is a
        registered vehicle with plug-and-charge enabled on this network, its session starts in
        the driver's account under a StartChargeSeq of ours, which the operator then uses."""

        def refuse(why: c.PlugAndChargeRefusal) -> c.NotificationPlugAndChargeResponse:
            log.info("plug-and-charge at %s refused: %s", operator_id, why.name)
            return c.NotificationPlugAndChargeResponse(
                plug_and_charge_seq=request.plug_and_charge_seq,
                connector_id=request.connector_id,
                succ_stat=1,
                fail_reason=int(why),
            )

        service = self._sessions
        store = service.store
        vehicle = await asyncio.to_thread(store.vehicle_by_vin, request.vin)
        if vehicle is None:
            return refuse(c.PlugAndChargeRefusal.VIN_NOT_REGISTERED)
        if operator_id not in vehicle.networks:
            return refuse(c.PlugAndChargeRefusal.NOT_ENABLED_ON_NETWORK)
        found = await asyncio.to_thread(
            store.connectors_by_source_id, request.connector_id, operator_id
        )
        if not found:
            raise TcecError(
                Ret.INVALID_PARAMETER, "unknown ConnectorID", reason="unknown_connector"
            )
        seq = self._new_ref()
        await service.plug_and_charge(self.protocol, found[0], vehicle, seq)
        return c.NotificationPlugAndChargeResponse(
            plug_and_charge_seq=request.plug_and_charge_seq,
            connector_id=request.connector_id,
            succ_stat=0,
            start_charge_seq=seq,
        )

    # --- the operator's notifications (kept in the inbox with their event by the endpoints) ---
    async def on_notification(self, event: TcecNotificationReceived) -> None:
        """A charging notification: the session's state machine takes it (a repeat changes
        nothing a state already reached)."""
        operator_id, payload = event.operator_id, event.payload
        interface = Interface(event.interface)
        service = self._sessions
        if interface is Interface.NOTIFICATION_START_CHARGE_RESULT:
            result = parse(c.NotificationStartChargeResultRequest, payload)
            seq = result.start_charge_seq
            if result.start_charge_seq_stat == CHARGING:
                await service.started(operator_id, seq, parse_time(result.start_time))
            elif result.start_charge_seq_stat in (ENDED, 5):
                await service.fail(operator_id, seq, start_failure(result))
        elif interface is Interface.NOTIFICATION_EQUIP_CHARGE_STATUS:
            status = parse(c.NotificationEquipChargeStatusRequest, payload)
            stat = status.start_charge_seq_stat
            await service.progress(
                operator_id,
                status.start_charge_seq,
                Progress(
                    kwh=status.total_power,
                    kw=_kw(status),
                    soc=status.soc,
                    cost=status.total_money,
                    charging=stat == CHARGING,
                    charged_s=charged_seconds(
                        parse_time(status.start_time), parse_time(status.end_time)
                    ),
                ),
            )
            if stat in (STOPPING, ENDED):
                await service.stopping(operator_id, status.start_charge_seq)
        elif interface is Interface.NOTIFICATION_STOP_CHARGE_RESULT:
            stopped = parse(c.NotificationStopChargeResultRequest, payload)
            if stopped.succ_stat == 0:
                await service.stopping(operator_id, stopped.start_charge_seq)
        elif interface is Interface.NOTIFICATION_CHARGE_ORDER_INFO:
            order = parse(c.NotificationChargeOrderInfoRequest, payload)
            bill = Bill(
                kwh=order.total_power,
                total=Decimal(order.total_money),
                energy_cost=Decimal(order.total_elec_money),
                service_cost=Decimal(order.total_service_money),
                reference=order.start_charge_seq,
            )
            await service.billed(operator_id, order.start_charge_seq, bill, ending_of(order))


def start_failure(result: c.NotificationStartChargeResultRequest) -> str:
    """Why a start failed at the pile: our extension's FailReason/FailReasonMsg if sent."""
    code = result.fail_reason
    if code is not None:
        try:
            text = c.START_FAILURE_TEXT[c.StartFailure(code)]
        except (ValueError, KeyError):
            text = result.fail_reason_msg or f"FailReason {code}"
        return f"the charger could not start: {text}"
    if result.fail_reason_msg:
        return f"the charger could not start: {result.fail_reason_msg}"
    return f"the charger could not start (StartChargeSeqStat {result.start_charge_seq_stat})"
