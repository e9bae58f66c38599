"""Charging sessions: one state machine, persisted, whatever protocol the operator speaks.

A start (``POST /api/v1/sessions``) is checked before anything is sent — the operator's
capabilities, the pile's own access methods, the connector's live status — then created in
``requested`` (idempotently: an account's ``Idempotency-Key`` finds the session it made) and
handed to the operator's protocol adapter in the background. From there the operator's own
messages move it on: T/CEC notifications, OCPI CommandResults, Session PUT/PATCH and CDRs.

Timeouts: a session not confirmed ``start_timeout_s`` after the start was sent is probed once
(where the protocol can), then stopped at the operator — so nothing is left charging — and
failed with the reason. A stop not confirmed in ``stop_timeout_s`` is sent again once; the bill
still closes it whenever it comes. Everything is in the store: a restarted platform picks up its
open sessions, and late messages find their session by the protocol's reference.

Every start leaves a :class:`ChargeAttempt` (success once charging, failure with its reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from chargemesh.domain import (
    AccessMethod,
    Capability,
    ConnectorStatus,
    OperatorProtocol,
    Tariff,
    effective_status,
)
from chargemesh.domain.cards import ChargeCard
from chargemesh.domain.events import SessionUpdated
from chargemesh.domain.session import (
    Bill,
    ChargeAttempt,
    ChargeSession,
    SessionState,
    StartMethod,
    StopCode,
    Vehicle,
    stop_text,
)
from chargemesh.events.relay import OutboxRelay
from chargemesh.services.charging.qr import QrError, resolve
from chargemesh.services.errors import for_driver, one_line
from chargemesh.store import Store
from chargemesh.store.repository import ConnectorRef
from chargemesh.store.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

#: what a change makes of a session read under its lock: the session to save, or None (nothing)
Decide = Callable[[ChargeSession], ChargeSession | None]


class StartRefused(Exception):
    """The start cannot be made from the app; ``advice`` says what the driver can do."""

    def __init__(self, reason: str, advice: str, code: str) -> None:
        super().__init__(reason)
        self.reason, self.advice, self.code = reason, advice, code


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    reason: str | None = None
    remote_id: str | None = None


@dataclass(frozen=True, slots=True)
class Progress:
    """A live reading of a session, in the platform's words."""

    kwh: float | None = None
    kw: float | None = None
    soc: float | None = None
    cost: Decimal | None = None
    charging: bool | None = None  # the operator says it is (True) / is no longer (False)
    remote_id: str | None = None
    charged_s: float | None = None  # charging time at this reading, by the operator's clock


@dataclass(frozen=True, slots=True)
class Ending:
    """How the operator says a session ended: why (``code`` ``None``: it does not say) with its
    own detail (e.g. a fault code), its end time and the charging time, by its own clock."""

    code: StopCode | None = None
    detail: str | None = None
    ended_at: datetime | None = None
    charged_s: float | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """What the operator says before a start: the price the bill will use (``None``: it
    publishes none), and whether the charger may be used."""

    tariff: Tariff | None = None
    usable: bool = True
    reason: str | None = None


class ChargingAdapter(Protocol):
    protocol: str

    def new_ref(self) -> str:
        """A fresh protocol reference (T/CEC StartChargeSeq, OCPI authorization_reference)."""
        ...

    async def start(
        self, session: ChargeSession, target: ConnectorRef, vehicle: Vehicle | None
    ) -> Reply: ...

    async def stop(self, session: ChargeSession, target: ConnectorRef) -> Reply: ...

    async def probe(self, session: ChargeSession) -> Progress | None: ...

    async def quote(self, target: ConnectorRef) -> Quote | None: ...


@dataclass(frozen=True, slots=True)
class Preview:
    """What a driver sees before starting: where, how, the price, and whether it can start."""

    target: ConnectorRef
    operator_name: str
    capabilities: frozenset[Capability]
    status: ConnectorStatus
    startable: bool
    reason: str | None
    advice: str | None
    code: str | None
    protocol: str
    qr_format: str | None = None
    quote: Quote | None = None


_UNSTARTABLE = {
    ConnectorStatus.CHARGING: "someone is charging there",
    ConnectorStatus.FAULTED: "the charger reports a fault",
    ConnectorStatus.OFFLINE: "the charger is offline",
    ConnectorStatus.RESERVED: "the connector is reserved",
}


@dataclass
class SessionService:
    """Each change of a session (read it, decide, save it) is one unit of work that holds the
    session against concurrent changes (a row lock on PostgreSQL, the write lock on SQLite), so
    changes are serialized by the store across tasks and processes; its ``SessionUpdated``
    goes to the outbox in that commit and ``relay`` publishes it."""

    store: Store
    relay: OutboxRelay
    adapters: dict[str, ChargingAdapter]
    start_timeout_s: float = 60.0
    stop_timeout_s: float = 60.0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # --- before starting -----------------------------------------------------------------------
    async def target_of(
        self, qr: str | None, connector_id: str | None
    ) -> tuple[ConnectorRef, str | None]:
        if qr is not None:
            try:
                found = await asyncio.to_thread(resolve, self.store, qr)
            except QrError as exc:
                raise StartRefused(str(exc), "check the code, or pick the charger on the map",
                                   "unknown_code") from None  # fmt: skip
            return found.connector, found.format
        if connector_id is None:
            raise StartRefused("name a charger: a scanned code or a connector id",
                               "scan the charger's code", "no_target")  # fmt: skip
        ref = await asyncio.to_thread(self.store.connector_ref, connector_id)
        if ref is None:
            raise StartRefused(f"no connector {connector_id!r}", "pick the charger on the map",
                               "unknown_connector")  # fmt: skip
        return ref, None

    async def preview(
        self,
        *,
        qr: str | None = None,
        connector_id: str | None = None,
        by_scan: bool = True,
        ask_operator: bool = True,
        account_id: str | None = None,
    ) -> Preview:
        """What starting at the code or connector would mean for ``account_id``. A home
        charger of the own network exists only for its owner: anyone else is told, as for a
        code that names nothing, that there is no such charger."""
        target, fmt = await self.target_of(qr, connector_id)
        operator = await asyncio.to_thread(self.store.get_operator, target.operator_id)
        if operator is not None and operator.protocol is OperatorProtocol.OCPP:
            own = await asyncio.to_thread(self.store.own_charger_at_station, target.station_id)
            if own is not None and own.owner_account_id not in (None, account_id):
                if qr is not None:
                    raise StartRefused("no charger we know has this code",
                                       "check the code, or pick the charger on the map",
                                       "unknown_code")  # fmt: skip
                raise StartRefused(f"no connector {connector_id!r}", "pick the charger on the map",
                                   "unknown_connector")  # fmt: skip
        caps = operator.capabilities if operator else frozenset()
        status = (
            effective_status(target.status, target.status_at, self.clock(),
                             operator.status_freshness)
            if operator else ConnectorStatus.UNKNOWN
        )  # fmt: skip
        refusal = _refusal(target, caps, status, by_scan, operator is not None)
        quote = None
        adapter = self.adapters.get(str(operator.protocol)) if operator else None
        if refusal is None and adapter is not None and ask_operator:
            try:
                quote = await adapter.quote(target)
            except Exception as exc:  # a quote is advice; the start itself will tell
                log.info("no quote from %s: %s", target.operator_id, one_line(exc, 200))
            if quote is not None and not quote.usable:
                refusal = (quote.reason or "the operator says the charger cannot be used now",
                           "pick another connector nearby", "operator_refused")  # fmt: skip
        return Preview(
            target=target,
            operator_name=operator.name if operator else target.operator_id,
            capabilities=frozenset(caps),
            status=status,
            startable=refusal is None,
            reason=refusal[0] if refusal else None,
            advice=refusal[1] if refusal else None,
            code=refusal[2] if refusal else None,
            protocol=str(operator.protocol) if operator else "",
            qr_format=fmt,
            quote=quote,
        )

    # --- starting ------------------------------------------------------------------------------
    async def start(
        self,
        account_id: str,
        *,
        qr: str | None = None,
        connector_id: str | None = None,
        vehicle_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[ChargeSession, bool]:
        """Check, create (or find, by the idempotency key) and set off a session."""
        if idempotency_key is not None:
            held = await asyncio.to_thread(self.store.session_by_key, account_id, idempotency_key)
            if held is not None:
                return held, False
        preview = await self.preview(
            qr=qr,
            connector_id=connector_id,
            by_scan=qr is not None,
            ask_operator=False,
            account_id=account_id,
        )  # the start itself asks the operator (T/CEC: equipment auth first)
        if not preview.startable:
            raise StartRefused(preview.reason or "", preview.advice or "", preview.code or "")
        target = preview.target
        vehicle = None
        if vehicle_id is not None:
            vehicle = await asyncio.to_thread(self.store.get_vehicle, vehicle_id)
            if vehicle is None or vehicle.account_id != account_id:
                raise StartRefused(f"no vehicle {vehicle_id!r} in this account",
                                   "register the vehicle first", "unknown_vehicle")  # fmt: skip
        adapter = self.adapters.get(preview.protocol)
        if adapter is None:
            raise StartRefused("this network's protocol cannot start sessions here",
                               "start it with the operator's own app", "no_adapter")  # fmt: skip
        now = self.clock()
        session = ChargeSession(
            id=secrets.token_hex(12),
            account_id=account_id,
            operator_id=target.operator_id,
            protocol=adapter.protocol,
            connector_id=target.id,
            station_id=target.station_id,
            method=StartMethod.QR_SCAN if qr is not None else StartMethod.APP,
            state=SessionState.REQUESTED,
            created_at=now,
            updated_at=now,
            vehicle_id=vehicle_id,
            idempotency_key=idempotency_key,
            protocol_ref=adapter.new_ref(),
            deadline=now + timedelta(seconds=self.start_timeout_s),
            qr=qr,
        )
        held_session, created = await self._create(session)
        if created:
            self._spawn(self._send_start(held_session, target, vehicle, adapter))
        return held_session, created

    async def _send_start(
        self,
        session: ChargeSession,
        target: ConnectorRef,
        vehicle: Vehicle | None,
        adapter: ChargingAdapter,
    ) -> None:
        def sent(current: ChargeSession) -> ChargeSession | None:
            if current.state is not SessionState.REQUESTED:
                return None
            deadline = self.clock() + timedelta(seconds=self.start_timeout_s)
            return current.moved(SessionState.STARTING, self.clock(), deadline=deadline)

        if (await self._change(session.id, sent))[1] is None:
            return
        try:
            reply = await adapter.start(session, target, vehicle)
        except Exception as exc:  # the operator may have started it: make sure it is stopped
            log.warning("start of %s at %s failed: %s", session.id, session.operator_id, exc)
            with contextlib.suppress(Exception):
                await adapter.stop(session, target)
            reply = Reply(False, f"the operator could not be reached: {for_driver(exc)}")
        if not reply.ok:
            await self.fail(session.operator_id, session.protocol_ref or "",
                            reply.reason or "the operator refused the start")  # fmt: skip
        elif reply.remote_id is not None:
            await self.progress(session.operator_id, session.protocol_ref or "",
                                Progress(remote_id=reply.remote_id))  # fmt: skip

    # --- stopping ------------------------------------------------------------------------------
    async def stop(self, session_id: str, account_id: str) -> ChargeSession:
        def stopped(session: ChargeSession) -> ChargeSession | None:
            if session.account_id != account_id:
                raise KeyError(session_id)
            if session.state.final or session.state is SessionState.STOPPING:
                return None
            if session.state is SessionState.REQUESTED:
                why = "stopped by the driver before it was sent"
                return session.moved(SessionState.FAILED, self.clock(), failure_reason=why)
            return session.moved(
                SessionState.STOPPING, self.clock(), stop_code=StopCode.DRIVER,
                stop_reason=stop_text(StopCode.DRIVER),
                deadline=self.clock() + timedelta(seconds=self.stop_timeout_s),
            )  # fmt: skip

        before, after = await self._change(session_id, stopped)
        if before is None:
            raise KeyError(session_id)
        if after is None or after.state is not SessionState.STOPPING:
            return after or before
        await self._send_stop(after)
        return await self._get(session_id)

    async def _send_stop(self, session: ChargeSession) -> None:
        target = await asyncio.to_thread(self.store.connector_ref, session.connector_id)
        adapter = self.adapters.get(session.protocol)
        if target is None or adapter is None:
            return
        try:
            reply = await adapter.stop(session, target)
        except Exception as exc:
            log.warning("stop of %s at %s failed: %s", session.id, session.operator_id, exc)
            return
        if not reply.ok:
            log.warning("stop of %s refused: %s", session.id, reply.reason)

    # --- what operators tell us ----------------------------------------------------------------
    async def started(self, operator_id: str, ref: str, at: datetime | None = None) -> None:
        def charging(session: ChargeSession) -> ChargeSession | None:
            if session.state is not SessionState.STARTING:
                return None
            return session.moved(
                SessionState.CHARGING, self.clock(), started_at=at or self.clock(), deadline=None
            )

        _, moved = await self._change_ref(operator_id, ref, charging)
        if moved is not None:
            await self._attempt(moved, None)

    async def fail(self, operator_id: str, ref: str, reason: str) -> None:
        def failed(session: ChargeSession) -> ChargeSession | None:
            if session.state.final:
                return None
            return session.moved(SessionState.FAILED, self.clock(), failure_reason=reason,
                                 deadline=None, ended_at=self.clock())  # fmt: skip

        before, after = await self._change_ref(operator_id, ref, failed)
        if before is not None and after is not None and before.state in (
            SessionState.REQUESTED, SessionState.STARTING
        ):  # fmt: skip
            await self._attempt(after, reason)

    async def progress(self, operator_id: str, ref: str, reading: Progress) -> None:
        def read(session: ChargeSession) -> ChargeSession:
            changes: dict[str, object] = {}
            for name in ("kwh", "kw", "soc", "cost", "remote_id", "charged_s"):
                value = getattr(reading, name)
                if value is not None:
                    changes[name] = value
            state = session.state
            if reading.charging and session.state is SessionState.STARTING:
                state = SessionState.CHARGING
                changes.update(started_at=session.started_at or self.clock(), deadline=None)
            # late readings of a final session are kept, the state is not reopened
            return session.moved(state, self.clock(), **changes)

        before, after = await self._change_ref(operator_id, ref, read)
        if (
            before is not None and after is not None
            and before.state is SessionState.STARTING and after.state is SessionState.CHARGING
        ):  # fmt: skip
            await self._attempt(after, None)

    async def stopping(self, operator_id: str, ref: str, ending: Ending | None = None) -> None:
        """The operator confirmed the stop (or stopped by itself); the bill will follow. A
        reason the operator gives here is kept until the bill's; ours (the driver's) stays."""

        def stopping(session: ChargeSession) -> ChargeSession | None:
            if session.state.final or session.state is SessionState.STOPPING:
                return None
            why = _why(session, ending, overrides=False)
            deadline = self.clock() + timedelta(seconds=self.stop_timeout_s)
            return session.moved(SessionState.STOPPING, self.clock(), **why, deadline=deadline)

        await self._change_ref(operator_id, ref, stopping)

    async def billed(
        self, operator_id: str, ref: str, bill: Bill, ending: Ending | None = None
    ) -> None:
        """The bill closes the session. The operator's stop reason, when it gives one, is the
        truth (a car that was full before our stop arrived ended by itself); without one, what
        we know stays, else "stopped by the operator" (it ended without our stop)."""

        def closed(session: ChargeSession) -> ChargeSession:
            state = session.state if session.state.final else SessionState.COMPLETED
            why = _why(session, ending, overrides=True)
            if why.get("stop_code", session.stop_code) is None:
                why = {"stop_code": StopCode.OPERATOR, "stop_reason": stop_text(StopCode.OPERATOR)}
            ended = (ending.ended_at if ending else None) or session.ended_at or self.clock()
            if ending is not None and ending.charged_s is not None:
                why["charged_s"] = ending.charged_s
            return session.moved(state, self.clock(), bill=bill, deadline=None, ended_at=ended,
                                 **why)  # fmt: skip

        before, after = await self._change_ref(operator_id, ref, closed)
        if before is None or after is None:
            log.warning("a bill from %s for unknown session %s", operator_id, ref)
            return
        started = before.state in (SessionState.REQUESTED, SessionState.STARTING)
        if started and after.state is SessionState.COMPLETED:  # it charged without our hearing
            await self._attempt(before, None)

    # --- plug-and-charge -----------------------------------------------------------------------
    async def plug_and_charge(
        self, protocol: str, target: ConnectorRef, vehicle: Vehicle, ref: str
    ) -> ChargeSession:
        """A car the operator recognised (VIN or EMAID) plugged in: its session, in ``starting``
        until the operator confirms, in the driver's account."""
        return await self._started_at_charger(
            protocol, target, ref, vehicle.account_id, StartMethod.PLUG_AND_CHARGE, vehicle.id
        )

    async def card_start(
        self, protocol: str, target: ConnectorRef, card: ChargeCard, ref: str
    ) -> ChargeSession:
        """A driver held their RFID card to the charger's reader: the session, in ``starting``
        until the charger confirms, in the card's account."""
        return await self._started_at_charger(
            protocol, target, ref, card.account_id, StartMethod.RFID, None
        )

    async def _started_at_charger(
        self,
        protocol: str,
        target: ConnectorRef,
        ref: str,
        account_id: str,
        method: StartMethod,
        vehicle_id: str | None,
    ) -> ChargeSession:
        now = self.clock()
        session = ChargeSession(
            id=secrets.token_hex(12), account_id=account_id, operator_id=target.operator_id,
            protocol=protocol, connector_id=target.id, station_id=target.station_id,
            method=method, state=SessionState.STARTING, created_at=now, updated_at=now,
            vehicle_id=vehicle_id, protocol_ref=ref,
            deadline=now + timedelta(seconds=self.start_timeout_s),
        )  # fmt: skip
        created, _ = await self._create(session)
        return created

    # --- timeouts ------------------------------------------------------------------------------
    async def tick(self) -> None:
        """Time out what waited too long (run every second or so)."""
        now = self.clock()
        for session in await asyncio.to_thread(self.store.open_sessions):
            if session.deadline is None or session.deadline > now:
                continue
            if session.state is SessionState.REQUESTED:
                await self.fail(session.operator_id, session.protocol_ref or "",
                                "the start was never sent (the platform restarted)")  # fmt: skip
            elif session.state is SessionState.STARTING:
                await self._start_timed_out(session)
            elif session.state is SessionState.STOPPING:
                await self._stop_timed_out(session)

    async def _start_timed_out(self, session: ChargeSession) -> None:
        adapter = self.adapters.get(session.protocol)
        reading = None
        if adapter is not None:
            with contextlib.suppress(Exception):
                reading = await adapter.probe(session)
        if reading is not None and reading.charging:
            await self.progress(session.operator_id, session.protocol_ref or "", reading)
            return
        await self.fail(
            session.operator_id, session.protocol_ref or "",
            f"the operator did not confirm the start within {self.start_timeout_s:.0f} s",
        )  # fmt: skip
        await self._send_stop(session)  # whatever it did, nothing is left charging

    async def _stop_timed_out(self, session: ChargeSession) -> None:

        def resent(current: ChargeSession) -> ChargeSession | None:
            if current.state is not SessionState.STOPPING:
                return None
            return replace(current, deadline=None, updated_at=self.clock())

        _, current = await self._change(session.id, resent)
        if current is not None:
            await self._send_stop(current)  # once more; the bill closes it whenever it comes

    async def run(self, every_s: float = 1.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.tick()
            except Exception:
                log.exception("session timeouts failed")

    # --- helpers -------------------------------------------------------------------------------
    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _create(self, session: ChargeSession) -> tuple[ChargeSession, bool]:
        """Insert a new session (or find the one its idempotency key made) and announce it."""

        def create(uow: UnitOfWork) -> tuple[ChargeSession, bool]:
            held, created = uow.sessions.create_session(session)
            if created:
                uow.collect([SessionUpdated(held)])
            return held, created

        return await self.relay.write(create)

    async def _change(
        self, session_id: str, decide: Decide
    ) -> tuple[ChargeSession | None, ChargeSession | None]:
        """One change of a session, serialized by the store: in one unit of work, the session
        is read held against other changes, ``decide`` says what it becomes (None: nothing),
        and that is saved with its ``SessionUpdated``. (before, after); (None, None): no such
        session."""

        def change(uow: UnitOfWork) -> tuple[ChargeSession | None, ChargeSession | None]:
            before = uow.sessions.session_for_update(session_id)
            after = decide(before) if before is not None else None
            if after is not None:
                uow.sessions.save_session(after)
                uow.collect([SessionUpdated(after)])
            return before, after

        return await self.relay.write(change)

    async def _change_ref(
        self, operator_id: str, ref: str, decide: Decide
    ) -> tuple[ChargeSession | None, ChargeSession | None]:
        """:meth:`_change` for the session an operator names by its protocol reference."""
        found = await asyncio.to_thread(self.store.session_by_ref, operator_id, ref)
        if found is None:
            return None, None
        return await self._change(found.id, decide)

    async def _get(self, session_id: str) -> ChargeSession:
        found = await asyncio.to_thread(self.store.get_session, session_id)
        if found is None:
            raise KeyError(session_id)
        return found

    async def get(self, session_id: str, account_id: str) -> ChargeSession | None:
        found = await asyncio.to_thread(self.store.get_session, session_id)
        return found if found is not None and found.account_id == account_id else None

    async def _attempt(self, session: ChargeSession, failure: str | None) -> None:
        target = await asyncio.to_thread(self.store.connector_ref, session.connector_id)
        vehicle = (
            await asyncio.to_thread(self.store.get_vehicle, session.vehicle_id)
            if session.vehicle_id else None
        )  # fmt: skip
        attempt = ChargeAttempt(
            id=secrets.token_hex(12), at=self.clock(), operator_id=session.operator_id,
            start_method=session.method, outcome="failure" if failure else "success",
            session_id=session.id, vehicle_model=vehicle.model if vehicle else None,
            charger_manufacturer=target.manufacturer if target else None,
            charger_model=target.model if target else None,
            firmware=target.firmware if target else None,
            connector_standard=target.standard if target else None, failure_reason=failure,
        )  # fmt: skip
        await asyncio.to_thread(self.store.add_attempts, [attempt])


def _why(session: ChargeSession, ending: Ending | None, *, overrides: bool) -> dict[str, object]:
    """The stop code and words to record from ``ending``: the operator's reason replaces ours
    only when ``overrides`` (the bill) or when we have none yet."""
    if ending is None or ending.code is None:
        return {}
    if session.stop_code is not None and not overrides:
        return {}
    return {"stop_code": ending.code, "stop_reason": stop_text(ending.code, ending.detail)}


def _refusal(
    target: ConnectorRef,
    caps: frozenset[Capability],
    status: ConnectorStatus,
    by_scan: bool,
    known: bool,
) -> tuple[str, str, str] | None:
    if not known:
        return ("this network is not connected to the platform",
                "start it with the operator's own app", "unknown_operator")  # fmt: skip
    if Capability.VIEW_ONLY in caps or AccessMethod.VIEW_ONLY in target.access_methods:
        return ("this network shares its chargers for the map only: they cannot be started "
                "from chargemesh", "start it with the operator's own app or card",
                "view_only")  # fmt: skip
    can_scan = AccessMethod.SCAN in target.access_methods and Capability.SCAN in caps
    can_app = AccessMethod.APP_START in target.access_methods or can_scan
    if (by_scan and not can_scan) or (not by_scan and not can_app):
        alternatives = (
            "plug in: your car starts by itself"
            if AccessMethod.PLUG_AND_CHARGE in target.access_methods
            else "start it at the charger with the operator's card or app"
        )
        return ("this charger cannot be started from the app", alternatives, "not_startable")
    if status in _UNSTARTABLE:
        return (f"the connector cannot start now: {_UNSTARTABLE[status]}",
                "pick another connector nearby", f"connector_{status}")  # fmt: skip
    return None


#: How far a bill may differ from the last live reading before we dispute it. The live
#: reading lags the end of a session by one update interval, so a small excess is normal.
ENERGY_TOLERANCE_KWH, ENERGY_TOLERANCE_SHARE = Decimal("0.5"), Decimal("0.02")
MONEY_TOLERANCE, MONEY_TOLERANCE_SHARE = Decimal("1.00"), Decimal("0.02")


def dispute_of(session: ChargeSession) -> str | None:
    """Why the bill disagrees with our record of the session (its last live reading), or
    ``None``. Differences within max(0.5 kWh, 2 %) of energy and max(1.00, 2 %) of money are
    taken as the reading's lag."""
    bill = session.bill
    if bill is None or session.kwh <= 0:
        return None
    ours = Decimal(str(session.kwh))
    if abs(Decimal(str(bill.kwh)) - ours) > max(
        ENERGY_TOLERANCE_KWH, ours * ENERGY_TOLERANCE_SHARE
    ):
        return f"energy differs: billed {bill.kwh:.3f} kWh, metered {session.kwh:.3f} kWh"
    if session.cost is not None:
        limit = max(MONEY_TOLERANCE, session.cost * MONEY_TOLERANCE_SHARE)
        if abs(bill.total - session.cost) > limit:
            return f"money differs: billed {bill.total}, metered {session.cost}"
    return None
