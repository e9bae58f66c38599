"""Sessions on OCPI 2.2.1 networks: ``START_SESSION`` (with the driver's app token and our
``authorization_reference``) → CommandResult → the CPO's Session PUT/PATCH → ``STOP_SESSION``
→ CommandResult → Session COMPLETED → CDR.

The ``authorization_reference`` is ours: the CPO copies it into the Session and the CDR, and
that is how they find the driver's session. Plug-and-charge: the CPO asks ``POST
tokens/{emaid}/authorize`` in real time; when the token is a registered vehicle's EMAID and the
answer is ALLOWED, the session is created then, under the reference the answer carries.

Why a session ended: OCPI 2.2.1 has no stop reason in Session or CDR. Ours is known first-hand
(we sent STOP_SESSION: the driver). A Session that turns COMPLETED without our STOP_SESSION
ended at the charger's side: the car's BMS (its last STATE_OF_CHARGE at or above
:data:`FULL_SOC` %: battery full) or else the operator. The CDR's ``remark`` — the spec's place
for "the reason why a transaction was stopped" — then settles it when it names one
(:func:`remark_code`: unplugged, fault, full, the driver, the operator). Times are the CPO's:
the charging time is from the Session's ``start_date_time`` to its ``last_updated`` (the time of
its ``kwh``; ``end_date_time`` once it ended), and the CDR's ``end_date_time`` −
``start_date_time`` (its ``total_time`` to the millisecond).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from chargemesh.domain import Token, TokenType
from chargemesh.domain.events import OcpiCdrReceived, OcpiSessionReceived, OcpiTokenAuthorized
from chargemesh.domain.session import Bill, ChargeSession, StopCode, Vehicle
from chargemesh.protocols.ocpi import mapping
from chargemesh.protocols.ocpi.enums import CommandType
from chargemesh.protocols.ocpi.models import (
    Cdr,
    LocationReferences,
    Session,
    StartSession,
    StopSession,
    dump,
    parse,
)
from chargemesh.services.charging.ocpi_commands import CommandSender
from chargemesh.services.charging.ocpi_tokens import to_ocpi
from chargemesh.services.charging.prices import Prices
from chargemesh.services.charging.sessions import (
    Ending,
    Progress,
    Quote,
    Reply,
    SessionService,
)
from chargemesh.store import Store
from chargemesh.store.repository import ConnectorRef

log = logging.getLogger(__name__)

#: A session the charger ended by itself at or above this state of charge (percent) ended
#: because the car was full (its BMS stops at its target, 80–100 %).
FULL_SOC = 80.0
#: Words of a CDR ``remark`` and the stop they name, checked in this order.
_REMARK_WORDS: tuple[tuple[StopCode, tuple[str, ...]], ...] = (
    (StopCode.UNPLUGGED, ("unplug", "disconnect")),
    (StopCode.FAULT, ("fault", "error", "failure")),
    (StopCode.BATTERY_FULL, ("full", "target state of charge", "bms")),
    (StopCode.DRIVER, ("emsp", "driver", "user", "at the charger")),
    (StopCode.OPERATOR, ("operator", "cpo")),
)


def account_token_uid(account_id: str) -> str:
    """The app token of an account (stable, not guessable from the account id alone)."""
    return "CMA" + hashlib.sha256(f"chargemesh-app:{account_id}".encode()).hexdigest()[:24]


def _cost(price: Any) -> Decimal | None:
    if price is None:
        return None
    value = price.incl_vat if price.incl_vat is not None else price.excl_vat
    return Decimal(str(value))


class OcpiCharging:
    """What the platform asks an OCPI CPO: START_SESSION, STOP_SESSION, the Tariff."""

    protocol = "ocpi"

    def __init__(
        self,
        store: Store,
        commands: CommandSender,
        own_party: tuple[str, str],
        prices: Prices | None = None,
    ) -> None:
        self._store = store
        self._commands = commands
        self._own_party = own_party
        self.prices = prices

    def new_ref(self) -> str:
        return secrets.token_hex(16)

    async def _app_token(self, account_id: str) -> Token:
        uid = account_token_uid(account_id)
        held = await asyncio.to_thread(self._store.get_token, uid, TokenType.APP_USER.value)
        if held is not None:
            return held
        token = Token(
            uid=uid,
            type=TokenType.APP_USER,
            contract_id=f"{self._own_party[0]}-{self._own_party[1]}-{uid[3:12].upper()}",
            issuer="chargemesh",
            last_updated=datetime.now(UTC),
        )
        await asyncio.to_thread(self._store.upsert_tokens, [token])
        return token

    async def start(
        self, session: ChargeSession, target: ConnectorRef, vehicle: Vehicle | None
    ) -> Reply:
        token = await self._app_token(session.account_id)
        outcome = await self._commands.send(
            session.operator_id,
            CommandType.START_SESSION,
            {
                "token": dump(to_ocpi(token, self._own_party)),
                "location_id": target.station_source_id,
                "evse_uid": target.evse_source_id,
                "connector_id": target.source_id,
                "authorization_reference": session.protocol_ref,
            },
            model=StartSession,
        )
        said = f": {outcome.message}" if outcome.message else ""
        if outcome.response != "ACCEPTED":
            return Reply(False, f"the operator refused the start ({outcome.response}{said})")
        if outcome.timed_out:  # the Session PUT may still come; the start timeout decides
            return Reply(True)
        if outcome.result != "ACCEPTED":
            return Reply(False, f"the charger could not start ({outcome.result}{said})")
        return Reply(True)

    async def stop(self, session: ChargeSession, target: ConnectorRef) -> Reply:
        if session.remote_id is None:
            return Reply(False, "the operator never reported a session to stop")
        outcome = await self._commands.send(
            session.operator_id,
            CommandType.STOP_SESSION,
            {"session_id": session.remote_id},
            model=StopSession,
        )
        if outcome.response != "ACCEPTED" or (outcome.result not in (None, "ACCEPTED")):
            return Reply(
                False, f"the operator refused the stop ({outcome.result or outcome.response})"
            )
        return Reply(True)

    async def quote(self, target: ConnectorRef) -> Quote | None:
        """The connector's Tariff as the CPO published it (OCPI has no per-start price query)."""
        if self.prices is None:
            return None
        return Quote(tariff=await self.prices.of_connector(target))

    async def probe(self, session: ChargeSession) -> Progress | None:
        return None  # the eMSP has no way to ask a CPO about one session


class OcpiSessionMessages:
    """What a CPO sends about sessions (after the OCPI receivers kept it), handed to the
    sessions: Session PUT/PATCH, CDRs, real-time authorizations (plug-and-charge)."""

    protocol = OcpiCharging.protocol

    def __init__(self, sessions: SessionService, store: Store) -> None:
        self._sessions = sessions
        self._store = store

    async def on_session(self, event: OcpiSessionReceived) -> None:
        operator_id, session = event.operator_id, parse(Session, event.session)
        service = self._sessions
        if session.authorization_reference is None:
            return
        ref = session.authorization_reference
        status = str(session.status).upper()
        await service.progress(
            operator_id,
            ref,
            Progress(
                kwh=float(session.kwh),
                cost=_cost(session.total_cost),
                soc=_soc(session),
                kw=_kw(session),
                charging=status == "ACTIVE",
                remote_id=session.id,
                charged_s=_charged_s(session),
            ),
        )
        if status == "COMPLETED":  # ours (STOP_SESSION) stays; else the charger's side ended it
            soc = _soc(session)
            full = soc is not None and soc >= FULL_SOC
            code = StopCode.BATTERY_FULL if full else StopCode.OPERATOR
            await service.stopping(operator_id, ref, Ending(code))
        elif status == "INVALID":
            await service.fail(operator_id, ref, "the operator declared the session invalid")

    async def on_cdr(self, event: OcpiCdrReceived) -> None:
        operator_id, cdr = event.operator_id, parse(Cdr, event.cdr)
        service = self._sessions
        ref = cdr.authorization_reference
        if ref is None and cdr.session_id is not None:
            found = await asyncio.to_thread(
                self._store.session_by_remote_id, operator_id, cdr.session_id
            )
            ref = found.protocol_ref if found else None
        if ref is None:
            log.warning("a CDR from %s matches no session of ours: %s", operator_id, cdr.id)
            return
        bill = Bill(
            kwh=float(cdr.total_energy),
            total=_cost(cdr.total_cost) or Decimal(0),
            currency=cdr.currency,
            energy_cost=_cost(cdr.total_energy_cost),
            reference=cdr.id,
        )
        code = remark_code(cdr.remark)
        detail = cdr.remark if code is StopCode.FAULT else None
        ending = Ending(code, detail, cdr.end_date_time, _charged_s(cdr))
        await service.billed(operator_id, ref, bill, ending)

    async def on_authorized(self, event: OcpiTokenAuthorized) -> None:
        """An ALLOWED real-time authorization: if it is a vehicle's EMAID at a known EVSE, the
        plug-and-charge session starts in the driver's account now (once: a repeated event
        finds the session its reference made)."""
        service = self._sessions
        operator_id, emaid, reference = event.operator_id, event.token_uid, event.reference
        if event.location is None:
            return
        location = parse(LocationReferences, event.location)
        if await asyncio.to_thread(self._store.session_by_ref, operator_id, reference):
            return
        vehicle = await asyncio.to_thread(self._store.vehicle_by_emaid, emaid)
        if vehicle is None or operator_id not in vehicle.networks:
            return  # not a car of ours, or not on this network by its driver's choice
        uids = list(getattr(location, "evse_uids", None) or [])
        target = None
        for uid in uids:
            found = await asyncio.to_thread(
                self._store.connectors_of_evse,
                mapping.evse_key(operator_id, location.location_id, uid),
            )
            if found:
                target = found[0]
                break
        if target is None:
            log.warning("plug-and-charge at an EVSE we do not know: %s %s", operator_id, uids)
            return
        await service.plug_and_charge("ocpi", target, vehicle, reference)


def remark_code(remark: str | None) -> StopCode | None:
    """The stop a CDR's free-text ``remark`` names (``None``: it names none)."""
    text = (remark or "").lower()
    for code, words in _REMARK_WORDS:
        if any(w in text for w in words):
            return code
    return None


def _charged_s(session: Session | Cdr) -> float:
    """The charging time by the CPO's clock: from its ``start_date_time`` to its
    ``end_date_time``, or while it runs to its ``last_updated`` (the time of its ``kwh``)."""
    end = session.end_date_time or session.last_updated
    return max(0.0, (end - session.start_date_time).total_seconds())


def _dimension(session: Session, kind: str) -> float | None:
    for period in reversed(session.charging_periods or []):
        for d in period.dimensions:
            if str(d.type).upper() == kind:
                return float(d.volume)
    return None


def _soc(session: Session) -> float | None:
    return _dimension(session, "STATE_OF_CHARGE")


def _kw(session: Session) -> float | None:
    return _dimension(session, "POWER")
