"""Charging at the simulated OCPI CPO: cars plugged in, sessions started by command or by
plug-and-charge, live Session PATCHes, the stop and the CDR.

:class:`CpoCharging` is the charging side of one :class:`~.server.OcpiCpoServer`
(``server.charging``). It sees the server only through a :class:`~.port.CpoPort` (the CPO's data
and its calls to the eMSP) and hands the server its START_SESSION and STOP_SESSION handlers
(:meth:`CpoCharging.command_handlers`, for ``server.commands``). Everything runs on the server's
event loop: call the async methods through ``LoopbackServer.call`` (or from a coroutine already on
that loop).

**A car at an EVSE.** ``await server.plug_in(location_id, evse_uid, vehicle)`` connects a
:class:`~chargemesh.sim.charging.SimVehicle` (the EVSE's published status does not change: OCPI has
no "preparing" status, and the eMSP must still be able to start it). One car per EVSE; ``unplug``
takes it away (stopping its session, if any). ``on_hold(location_id, evse_uid, held)`` is told when
a car arrives and leaves, so that the simulator's status churn leaves that EVSE alone meanwhile.

**START_SESSION** (through the commands receiver, when no fault knob scripts the answer).
The CommandResponse is REJECTED when the EVSE lacks ``REMOTE_START_STOP_CAPABLE`` (some partner
piles cannot be started from an app), or the EVSE or connector is unknown (2003), or
``connector_id`` is missing where the EVSE says ``START_SESSION_CONNECTOR_REQUIRED``. Without
``evse_uid`` the CPO picks a remote-startable EVSE of the location (one with a car first). Then,
after ``command_delay_s``, the CommandResult:

* ``EVSE_OCCUPIED`` when a session runs there or the EVSE is CHARGING, BLOCKED or RESERVED;
  ``EVSE_INOPERATIVE`` for any other status but AVAILABLE;
* ``FAILED`` with the reason as its message when ``start_check`` (the vehicle × charger
  compatibility decision) says the start fails; no session;
* ``ACCEPTED`` otherwise, and the Session is PUT: ``ACTIVE``, ``kwh`` 0, the command's token,
  ``auth_method`` COMMAND and **the command's ``authorization_reference``**, which is how the eMSP
  links the session to its own record. The EVSE's status goes CHARGING.

  With no car plugged in the CPO answers ``ACCEPTED`` too, as a real charger does, and waits
  ``plug_in_timeout_s`` (real seconds) for one: the session starts when the car is plugged in,
  or never (``plug_in_timeout_s = 0``: ``FAILED`` "no vehicle is plugged in" at once instead).
  A start that fails after it was accepted (compatibility, EVSE no longer available) is PUT as a
  Session with status ``INVALID`` (nothing charged) so that the eMSP learns of it.

**While charging** the Session is PATCHed every ``session_update_s`` (real seconds) with ``kwh``,
one new charging period (dimensions ENERGY kWh, POWER average kW, TIME hours, STATE_OF_CHARGE
percent at the period's end), ``total_cost`` and ``last_updated``. Power follows ``charge_model``
(default :func:`charge_run`: the simulator's one car model and power curve,
:class:`~chargemesh.sim.charging.ChargeRun`, as on the T/CEC networks). Time runs ``time_scale``
times faster than the wall clock (default 1: real time, a 120 kW charge adds 2 kWh a minute; at 60 a
simulated hour takes a minute): ``start_date_time`` is the real start, every later timestamp of the
Session and its CDR (periods, ``end_date_time``, ``last_updated``) and every TIME (periods,
``total_time``) is on that simulated clock, so energy / time is the power and the eMSP's stale
checks hold. A car that reaches its target ends the session at that moment (the charge's
``finish_elapsed_s``), not at the next update.

**STOP_SESSION**: ``UNKNOWN_SESSION`` for a session this CPO does not know, REJECTED for one
that has ended; else ACCEPTED, the CommandResult ACCEPTED, the Session PATCHed
``COMPLETED`` with ``end_date_time``, the EVSE back to AVAILABLE (the car leaves), then the CDR is
POSTed: totals (``total_energy``, ``total_time``, ``total_cost`` and its energy/time/fixed parts),
every charging period, the tariff, ``auth_method``, ``authorization_reference``, ``session_id``,
``cdr_token``, ``cdr_location``. A car reaching its ``target_soc`` stops the same way by itself,
and so does :meth:`CpoCharging.stop` (the driver at the pile) or :meth:`CpoCharging.unplug`.

**Plug-and-charge** (ISO 15118 with OCPI real-time authorization): a car with an ``emaid``
plugged in at an EVSE for which ``plug_and_charge`` holds (a bool for the whole network, or a
predicate on (location id, EVSE uid); the platform's mapping treats plug-and-charge as an
operator capability) makes the CPO call the eMSP's ``POST tokens/{emaid}/authorize?type=EMAID``
(``pnc_token_type``) with the location and EVSE. ALLOWED: the session starts by itself with
``auth_method`` AUTH_REQUEST, the ``authorization_reference`` of the eMSP's AuthorizationInfo and
its token. Anything else (not allowed, unknown token, eMSP unreachable): nothing starts.

Prices come from the connector's first ``tariff_ids`` entry found among the network's Tariffs
(ENERGY per kWh, TIME per hour, FLAT once; restrictions on time of day in the location's time
zone, weekday, dates, kWh, power and duration are honoured, ``step_size`` is not), else from a
default tariff of ``default_price_per_kwh`` (excl. VAT) at ``default_vat`` percent in
``currency``.

Knobs (plain attributes): ``session_update_s``, ``time_scale``, ``cdr_adjust`` (added to the CDR's
``total_cost``, both excl. and incl. VAT, and to nothing else: a bill that disagrees),
``start_check``, ``charge_model``, ``plug_and_charge``, ``pnc_token_type``,
``plug_in_timeout_s``, ``default_price_per_kwh``, ``default_vat``, ``currency``, ``on_hold``.
``attempts`` lists every start attempt and its outcome; ``cdrs`` the CDRs by session id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
from pydantic import BaseModel

from chargemesh.protocols.ocpi.client import OcpiPeerError
from chargemesh.protocols.ocpi.enums import (
    AllowedType,
    AuthMethod,
    Capability,
    CommandResponseType,
    CommandResultType,
    CommandType,
    SessionStatus,
    Status,
    TariffDimensionType,
    TokenType,
)
from chargemesh.protocols.ocpi.models import (
    Cdr,
    CdrLocation,
    CdrToken,
    Connector,
    Evse,
    Location,
    LocationReferences,
    PriceComponent,
    Session,
    StartSession,
    StopSession,
    Tariff,
    TariffElement,
    Token,
    ci,
    dump,
)
from chargemesh.protocols.ocpi.transport import StatusCode, format_datetime
from chargemesh.sim.charging import (
    DEFAULT_TIME_SCALE,
    SimVehicle,
)
from chargemesh.sim.peers.ocpi.charge import ChargeCurve, ChargeModel, ChargeState, charge_run
from chargemesh.sim.peers.ocpi.port import CommandHandler, CommandRefusal, CpoPort
from chargemesh.sim.peers.ocpi.pricing import Costs, PricedPeriod, price, session_costs

__all__ = [
    "DEFAULT_SESSION_UPDATE_S",
    "CpoCharging",
    "OcpiStartAttempt",
    "StartCheck",
]

log = logging.getLogger(__name__)

DEFAULT_SESSION_UPDATE_S: Final = 30.0
_HTTP_TIMEOUT_S: Final = 10.0

#: EVSE statuses that mean someone else is there.
_OCCUPIED: Final = frozenset({Status.CHARGING.value, Status.BLOCKED.value, Status.RESERVED.value})


#: The compatibility decision: why this car cannot charge here, or ``None`` when it can.
StartCheck = Callable[[SimVehicle, Location, Evse, Connector], str | None]


# =============================================================================== records


@dataclass(frozen=True, slots=True)
class OcpiStartAttempt:
    """One attempt to start charging and what became of it. ``outcome``: ``STARTED``;
    ``WAITING_FOR_VEHICLE`` (accepted, no car yet) and ``NO_VEHICLE`` (none came);
    ``EVSE_OCCUPIED``, ``EVSE_INOPERATIVE``, ``FAILED`` (a CommandResult); ``INVALID`` (failed
    after acceptance, a Session with status INVALID was sent); an AllowedType (``NOT_ALLOWED``,
    ``BLOCKED`` …) or ``AUTHORIZATION_FAILED`` (the eMSP refused or could not be asked) for
    plug-and-charge; ``UNAVAILABLE`` (plug-and-charge at an EVSE that is not AVAILABLE)."""

    at: datetime
    location_id: str
    evse_uid: str
    auth_method: AuthMethod
    outcome: str
    reason: str | None = None
    vehicle_model: str | None = None
    session_id: str | None = None
    authorization_reference: str | None = None


@dataclass(frozen=True, slots=True)
class _Place:
    location: Location
    evse: Evse
    connector: Connector

    @property
    def key(self) -> tuple[str, str]:
        return (ci(self.location.id), ci(self.evse.uid))


@dataclass(slots=True)
class _Plug:
    vehicle: SimVehicle
    connector_id: str | None
    plugged_at: datetime


@dataclass(slots=True)
class _Pending:
    command: StartSession
    timer: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Run:
    session: Session
    place: _Place
    plug: _Plug
    tariff: Tariff
    charge: ChargeCurve
    http: httpx.AsyncClient
    started: datetime
    last_mono: float
    sim_s: float = 0.0
    mark: ChargeState | None = None  # the state at the end of the last period
    mark_s: float = 0.0
    slices: list[PricedPeriod] = field(default_factory=list)
    reason: str | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    cdr: Cdr | None = None
    task: asyncio.Task[None] | None = None

    @property
    def now(self) -> datetime:
        return self.started + timedelta(seconds=self.sim_s)


def _key(location_id: str, evse_uid: str) -> tuple[str, str]:
    return (ci(location_id), ci(evse_uid))


def _caps(evse: Evse) -> set[str]:
    return {ci(str(c)) for c in evse.capabilities or ()}


def _cdr_token(token: Token) -> CdrToken:
    return CdrToken(
        country_code=token.country_code,
        party_id=token.party_id,
        uid=token.uid,
        type=token.type,
        contract_id=token.contract_id,
    )


def _new_session_id() -> str:
    return f"S{secrets.token_hex(8).upper()}"


# =============================================================================== the engine


class CpoCharging:
    """The charging side of one simulated CPO (see the module docstring)."""

    def __init__(
        self,
        port: CpoPort,
        *,
        session_update_s: float = DEFAULT_SESSION_UPDATE_S,
        time_scale: float = DEFAULT_TIME_SCALE,
    ) -> None:
        if session_update_s <= 0 or time_scale <= 0:
            raise ValueError("session_update_s and time_scale must be positive")
        self.port = port
        # knobs
        self.session_update_s = session_update_s
        self.time_scale = time_scale
        self.cdr_adjust = 0.0
        self.start_check: StartCheck | None = None
        self.charge_model: ChargeModel = charge_run
        self.plug_and_charge: bool | Callable[[str, str], bool] = False
        self.pnc_token_type: TokenType | str = TokenType.EMAID
        self.plug_in_timeout_s = 120.0
        #: A command start at an EVSE without a car means the driver is there plugging one in:
        #: with this set, that car comes from it (the simulator); unset, the start waits for
        #: ``plug_in`` up to ``plug_in_timeout_s``.
        self.arriving_cars: Callable[[str, str], SimVehicle] | None = None
        self.default_price_per_kwh = 1.2
        self.default_vat = 13.0
        self.currency = "CNY"
        self.on_hold: Callable[[str, str, bool], None] | None = None
        # records
        self.attempts: list[OcpiStartAttempt] = []
        self.cdrs: dict[str, Cdr] = {}
        # state
        self._lock = threading.RLock()
        self._plugs: dict[tuple[str, str], _Plug] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._busy: set[tuple[str, str]] = set()  # starting or charging
        self._runs: dict[str, _Run] = {}  # by ci(session id), ended ones too
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ observation

    def vehicle_at(self, location_id: str, evse_uid: str) -> SimVehicle | None:
        with self._lock:
            plug = self._plugs.get(_key(location_id, evse_uid))
        return plug.vehicle if plug else None

    def session(self, session_id: str) -> Session | None:
        """The latest state of a session this CPO ran (or runs)."""
        with self._lock:
            run = self._runs.get(ci(session_id))
        return run.session if run else None

    def active_sessions(self) -> list[Session]:
        with self._lock:
            return [r.session for r in self._runs.values() if not r.done.is_set()]

    def session_at(self, location_id: str, evse_uid: str) -> Session | None:
        """The session running at an EVSE, if any."""
        key = _key(location_id, evse_uid)
        with self._lock:
            for run in self._runs.values():
                if run.place.key == key and not run.done.is_set():
                    return run.session
        return None

    def _record(
        self,
        place: _Place | tuple[str, str],
        method: AuthMethod,
        outcome: str,
        *,
        reason: str | None = None,
        vehicle: SimVehicle | None = None,
        session_id: str | None = None,
        reference: str | None = None,
    ) -> None:
        location_id, evse_uid = (
            (place.location.id, place.evse.uid) if isinstance(place, _Place) else place
        )
        attempt = OcpiStartAttempt(
            datetime.now(UTC),
            location_id,
            evse_uid,
            method,
            outcome,
            reason,
            vehicle.model.id if vehicle else None,
            session_id,
            reference,
        )
        with self._lock:
            self.attempts.append(attempt)
        log.info(
            "OCPI CPO %s: start at %s/%s (%s): %s%s",
            "*".join(self.port.network.party),
            location_id,
            evse_uid,
            method.value,
            outcome,
            f" ({reason})" if reason else "",
        )

    # ------------------------------------------------------------------ places

    def _place(self, location_id: str, evse_uid: str, connector_id: str | None = None) -> _Place:
        """The Location, EVSE and connector (the first one when not named) as the network holds
        them now; ``KeyError`` naming what is unknown."""
        location = self.port.network.location(location_id)
        if location is None:
            raise KeyError("unknown location")
        evse = next((e for e in location.evses or [] if ci(e.uid) == ci(evse_uid)), None)
        if evse is None:
            raise KeyError("unknown EVSE")
        if connector_id is None:
            return _Place(location, evse, evse.connectors[0])
        connector = next((c for c in evse.connectors if ci(c.id) == ci(connector_id)), None)
        if connector is None:
            raise KeyError("unknown connector")
        return _Place(location, evse, connector)

    def _start_place(self, body: StartSession) -> _Place | CommandRefusal:
        location = self.port.network.location(body.location_id)
        if location is None:
            return CommandRefusal(
                CommandResponseType.REJECTED, "unknown location", StatusCode.UNKNOWN_LOCATION
            )
        evse_uid = body.evse_uid
        if evse_uid is None:
            remote = [
                e
                for e in location.evses or []
                if Capability.REMOTE_START_STOP_CAPABLE.value in _caps(e)
            ]
            with self._lock:
                plugged = [e for e in remote if _key(location.id, e.uid) in self._plugs]
            free = [e for e in remote if str(e.status) == Status.AVAILABLE.value]
            candidates = plugged or free or remote
            if not candidates:
                return CommandRefusal(
                    CommandResponseType.REJECTED,
                    "no EVSE at this location can be started remotely",
                )
            evse_uid = candidates[0].uid
        try:
            place = self._place(location.id, evse_uid, body.connector_id)
        except KeyError as exc:
            return CommandRefusal(
                CommandResponseType.REJECTED, str(exc.args[0]), StatusCode.UNKNOWN_LOCATION
            )
        caps = _caps(place.evse)
        if Capability.REMOTE_START_STOP_CAPABLE.value not in caps:
            return CommandRefusal(
                CommandResponseType.REJECTED, "this EVSE cannot be started remotely"
            )
        if body.connector_id is None and Capability.START_SESSION_CONNECTOR_REQUIRED.value in caps:
            return CommandRefusal(
                CommandResponseType.REJECTED, "this EVSE needs a connector_id to start"
            )
        return place

    def _problem(self, place: _Place) -> tuple[CommandResultType, str] | None:
        """Why a charge cannot start at this EVSE now (its status, or a session there)."""
        with self._lock:
            busy = place.key in self._busy
        if busy:
            return CommandResultType.EVSE_OCCUPIED, "a session is running at this EVSE"
        status = str(place.evse.status)
        if status == Status.AVAILABLE.value:
            return None
        if status in _OCCUPIED:
            return CommandResultType.EVSE_OCCUPIED, f"the EVSE is {status}"
        return CommandResultType.EVSE_INOPERATIVE, f"the EVSE is {status}"

    def _compatible(self, vehicle: SimVehicle, place: _Place) -> str | None:
        check = self.start_check
        if check is None:
            return None
        return check(vehicle, place.location, place.evse, place.connector)

    def _plug_and_charge_at(self, place: _Place) -> bool:
        rule = self.plug_and_charge
        return rule(place.location.id, place.evse.uid) if callable(rule) else bool(rule)

    # ------------------------------------------------------------------ commands

    def command_handlers(self) -> dict[CommandType, CommandHandler]:
        """The commands this charging carries out, for the server's ``commands`` table."""
        return {
            CommandType.START_SESSION: CommandHandler(self._check_start, self._run_start),
            CommandType.STOP_SESSION: CommandHandler(self._check_stop, self._run_stop),
        }

    def _check_start(self, body: BaseModel) -> CommandRefusal | None:
        if not isinstance(body, StartSession):
            raise TypeError("START_SESSION takes a StartSession")
        place = self._start_place(body)
        return place if isinstance(place, CommandRefusal) else None

    def _check_stop(self, body: BaseModel) -> CommandRefusal | None:
        if not isinstance(body, StopSession):
            raise TypeError("STOP_SESSION takes a StopSession")
        with self._lock:
            run = self._runs.get(ci(body.session_id))
        if run is None:
            return CommandRefusal(CommandResponseType.UNKNOWN_SESSION, "unknown session")
        if run.done.is_set() or run.stop.is_set():
            return CommandRefusal(CommandResponseType.REJECTED, "the session has ended")
        return None

    async def _run_start(self, body: BaseModel) -> None:
        """What follows an ACCEPTED START_SESSION (see the module docstring)."""
        try:
            if isinstance(body, StartSession):
                await self._remote_start(body)
        except Exception:
            log.exception("OCPI CPO: START_SESSION failed")

    async def _run_stop(self, body: BaseModel) -> None:
        """What follows an ACCEPTED STOP_SESSION (see the module docstring)."""
        try:
            if isinstance(body, StopSession):
                await self._remote_stop(body)
        except Exception:
            log.exception("OCPI CPO: STOP_SESSION failed")

    async def _result(
        self, kind: CommandType, url: str, outcome: CommandResultType, message: str | None = None
    ) -> None:
        await self.port.send_command_result(kind, url, outcome, message)

    async def _remote_start(self, body: StartSession) -> None:
        await asyncio.sleep(self.port.command_delay_s)
        kind, url = CommandType.START_SESSION, body.response_url
        place = self._start_place(body)
        if isinstance(place, CommandRefusal):  # the location changed since the answer
            await self._result(kind, url, CommandResultType.FAILED, place.message)
            return
        with self._lock:
            plug = self._plugs.get(place.key)
        problem = self._problem(place)
        if problem is not None:
            self._record(place, AuthMethod.COMMAND, problem[0].value, reason=problem[1])
            await self._result(kind, url, *problem)
            return
        if plug is None:
            if self.plug_in_timeout_s <= 0:
                failed, why = CommandResultType.FAILED, "no vehicle is plugged in"
                self._record(place, AuthMethod.COMMAND, failed.value, reason=why)
                await self._result(kind, url, failed, why)
                return
            pending = _Pending(body)
            with self._lock:
                self._pending[place.key] = pending  # a newer start replaces an older one
            pending.timer = self._spawn(self._lapse(place, pending))
            self._record(place, AuthMethod.COMMAND, "WAITING_FOR_VEHICLE")
            await self._result(kind, url, CommandResultType.ACCEPTED)
            if self.arriving_cars is not None:  # the driver plugs in: the waiting start goes
                car = self.arriving_cars(body.location_id, place.evse.uid)
                await self.plug_in(body.location_id, place.evse.uid, car)
            return
        reason = self._compatible(plug.vehicle, place)
        if reason is not None:
            self._record(
                place,
                AuthMethod.COMMAND,
                CommandResultType.FAILED.value,
                reason=reason,
                vehicle=plug.vehicle,
            )
            await self._result(kind, url, CommandResultType.FAILED, reason)
            return
        with self._lock:
            self._busy.add(place.key)
        try:
            await self._result(kind, url, CommandResultType.ACCEPTED)
            await self._begin(
                place,
                plug,
                _cdr_token(body.token),
                AuthMethod.COMMAND,
                body.authorization_reference,
            )
        finally:
            self._release_if_idle(place.key)

    async def _lapse(self, place: _Place, pending: _Pending) -> None:
        await asyncio.sleep(self.plug_in_timeout_s)
        with self._lock:
            if self._pending.get(place.key) is not pending:
                return
            del self._pending[place.key]
        self._record(place, AuthMethod.COMMAND, "NO_VEHICLE", reason="no vehicle was plugged in")

    async def _remote_stop(self, body: StopSession) -> None:
        await asyncio.sleep(self.port.command_delay_s)
        kind, url = CommandType.STOP_SESSION, body.response_url
        with self._lock:
            run = self._runs.get(ci(body.session_id))
        if run is None or run.done.is_set():
            await self._result(kind, url, CommandResultType.FAILED, "the session has ended")
            return
        await self._result(kind, url, CommandResultType.ACCEPTED)
        if run.reason is None:
            run.reason = "stopped by the eMSP"
        run.stop.set()

    # ------------------------------------------------------------------ the car

    async def plug_in(
        self,
        location_id: str,
        evse_uid: str,
        vehicle: SimVehicle,
        *,
        connector_id: str | None = None,
    ) -> Session | None:
        """Connect ``vehicle`` at an EVSE (``connector_id``: which cable; default the first).
        Starts the session an accepted START_SESSION is waiting for, or a plug-and-charge one;
        returns the Session that started (``None``: the car waits, or nothing was allowed).
        ``KeyError`` for an unknown location, EVSE or connector; ``ValueError`` when a car is
        there already."""
        place = self._place(location_id, evse_uid, connector_id)
        plug = _Plug(vehicle, place.connector.id if connector_id else None, datetime.now(UTC))
        with self._lock:
            if place.key in self._plugs:
                raise ValueError(f"a vehicle is plugged in at {location_id}/{evse_uid} already")
            self._plugs[place.key] = plug
            pending = self._pending.pop(place.key, None)
        self._hold(place, True)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            return await self._start_waiting(place, plug, pending.command)
        if vehicle.emaid and self._plug_and_charge_at(place):
            return await self._plug_and_charge(place, plug, vehicle.emaid)
        return None

    async def unplug(self, location_id: str, evse_uid: str) -> Cdr | None:
        """Take the car away; a session running there stops first (its CDR is returned)."""
        key = _key(location_id, evse_uid)
        cdr: Cdr | None = None
        with self._lock:
            run = next(
                (r for r in self._runs.values() if r.place.key == key and not r.done.is_set()),
                None,
            )
        if run is not None:
            cdr = await self._stop_run(run, "the vehicle was unplugged")
        with self._lock:
            plug = self._plugs.pop(key, None)
        if plug is not None:
            self._hold_key(key, False)
        return cdr

    async def stop(self, session_id: str, reason: str = "stopped at the charger") -> Cdr | None:
        """Stop a session at the CPO's side (the driver at the pile); its CDR once sent.
        ``KeyError`` if unknown."""
        with self._lock:
            run = self._runs.get(ci(session_id))
        if run is None:
            raise KeyError(session_id)
        return await self._stop_run(run, reason)

    async def wait_closed(self, session_id: str, timeout_s: float = 30.0) -> Cdr | None:
        """Wait until a session has ended and its CDR went out; the CDR."""
        with self._lock:
            run = self._runs.get(ci(session_id))
        if run is None:
            raise KeyError(session_id)
        await asyncio.wait_for(run.done.wait(), timeout_s)
        return run.cdr

    async def _stop_run(self, run: _Run, reason: str) -> Cdr | None:
        if run.reason is None:
            run.reason = reason
        run.stop.set()
        await run.done.wait()
        return run.cdr

    def _hold(self, place: _Place, held: bool) -> None:
        hook = self.on_hold
        if hook is not None:
            try:
                hook(place.location.id, place.evse.uid, held)
            except Exception:
                log.exception("OCPI CPO: on_hold failed")

    def _hold_key(self, key: tuple[str, str], held: bool) -> None:
        try:
            place = self._place(*key)
        except KeyError:
            return
        self._hold(place, held)

    def _release_if_idle(self, key: tuple[str, str]) -> None:
        with self._lock:
            running = any(r.place.key == key and not r.done.is_set() for r in self._runs.values())
            if not running:
                self._busy.discard(key)

    async def _start_waiting(self, place: _Place, plug: _Plug, command: StartSession) -> Session:
        """The car an accepted START_SESSION waited for is here."""
        token = _cdr_token(command.token)
        reference = command.authorization_reference
        problem = self._problem(place)
        reason = problem[1] if problem else self._compatible(plug.vehicle, place)
        if reason is not None:
            return await self._invalid(place, plug, token, AuthMethod.COMMAND, reference, reason)
        with self._lock:
            self._busy.add(place.key)
        try:
            return await self._begin(place, plug, token, AuthMethod.COMMAND, reference)
        finally:
            self._release_if_idle(place.key)

    async def _plug_and_charge(self, place: _Place, plug: _Plug, emaid: str) -> Session | None:
        method = AuthMethod.AUTH_REQUEST
        problem = self._problem(place)
        if problem is not None:
            self._record(place, method, "UNAVAILABLE", reason=problem[1], vehicle=plug.vehicle)
            return None
        with self._lock:
            self._busy.add(place.key)
        try:
            refs = LocationReferences(location_id=place.location.id, evse_uids=[place.evse.uid])
            async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S) as http:
                try:
                    info = await self.port.authorize(emaid, self.pnc_token_type, refs, http=http)
                except (OcpiPeerError, RuntimeError) as exc:
                    self._record(
                        place, method, "AUTHORIZATION_FAILED", reason=str(exc), vehicle=plug.vehicle
                    )
                    return None
            allowed = str(info.allowed)
            reference = info.authorization_reference
            if allowed != AllowedType.ALLOWED.value:
                reason = info.info.text if info.info else None
                self._record(
                    place, method, allowed, reason=reason, vehicle=plug.vehicle, reference=reference
                )
                return None
            token = _cdr_token(info.token)
            reason = self._compatible(plug.vehicle, place)
            if reason is not None:
                return await self._invalid(place, plug, token, method, reference, reason)
            return await self._begin(place, plug, token, method, reference)
        finally:
            self._release_if_idle(place.key)

    # ------------------------------------------------------------------ sessions

    def _tariff(self, place: _Place) -> Tariff:
        wanted = [ci(t) for t in place.connector.tariff_ids or ()]
        if wanted:
            for item in self.port.network.changed("tariffs"):
                if isinstance(item, Tariff) and ci(item.id) == wanted[0]:
                    return item
        cc, pid = self.port.network.party
        return Tariff(
            country_code=cc,
            party_id=pid,
            id="DEFAULT",
            currency=self.currency,
            elements=[
                TariffElement(
                    price_components=[
                        PriceComponent(
                            type=TariffDimensionType.ENERGY,
                            price=self.default_price_per_kwh,
                            vat=self.default_vat,
                            step_size=1,
                        )
                    ]
                )
            ],
            last_updated=datetime(2026, 1, 1, tzinfo=UTC),
        )

    def _session(
        self,
        place: _Place,
        token: CdrToken,
        method: AuthMethod,
        reference: str | None,
        currency: str,
        status: SessionStatus,
        at: datetime,
    ) -> Session:
        cc, pid = self.port.network.party
        return Session(
            country_code=cc,
            party_id=pid,
            id=_new_session_id(),
            start_date_time=at,
            end_date_time=at if status is SessionStatus.INVALID else None,
            kwh=0,
            cdr_token=token,
            auth_method=method,
            authorization_reference=reference,
            location_id=place.location.id,
            evse_uid=place.evse.uid,
            connector_id=place.connector.id,
            currency=currency,
            charging_periods=[],
            total_cost=price(0, 0),
            status=status,
            last_updated=at,
        )

    async def _invalid(
        self,
        place: _Place,
        plug: _Plug,
        token: CdrToken,
        method: AuthMethod,
        reference: str | None,
        reason: str,
    ) -> Session:
        """A start that failed after it was accepted or authorized: a Session with status
        INVALID tells the eMSP."""
        currency = self._tariff(place).currency
        session = self._session(
            place, token, method, reference, currency, SessionStatus.INVALID, datetime.now(UTC)
        )
        async with httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S) as http:
            try:
                await self.port.put_session(session, http=http)
            except (OcpiPeerError, RuntimeError) as exc:
                log.warning("OCPI CPO: INVALID session %s not delivered: %s", session.id, exc)
        self._record(
            place,
            method,
            "INVALID",
            reason=reason,
            vehicle=plug.vehicle,
            session_id=session.id,
            reference=reference,
        )
        return session

    async def _begin(
        self,
        place: _Place,
        plug: _Plug,
        token: CdrToken,
        method: AuthMethod,
        reference: str | None,
    ) -> Session:
        tariff = self._tariff(place)
        now = datetime.now(UTC)
        session = self._session(
            place, token, method, reference, tariff.currency, SessionStatus.ACTIVE, now
        )
        run = _Run(
            session=session,
            place=place,
            plug=plug,
            tariff=tariff,
            charge=self.charge_model(plug.vehicle, place.connector),
            http=httpx.AsyncClient(timeout=_HTTP_TIMEOUT_S),
            started=now,
            last_mono=time.monotonic(),
        )
        with self._lock:
            self._runs[ci(session.id)] = run
        try:
            await self.port.put_session(session, http=run.http)
        except (OcpiPeerError, RuntimeError) as exc:
            log.warning("OCPI CPO: session %s PUT not delivered: %s", session.id, exc)
            self.port.network.add_session(session)
        await self._push_status(run, Status.CHARGING)
        self._record(
            place,
            method,
            "STARTED",
            vehicle=plug.vehicle,
            session_id=session.id,
            reference=reference,
        )
        run.task = self._spawn(self._charge(run))
        return session

    def _spawn(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _push_status(self, run: _Run, status: Status) -> None:
        place, at = run.place, datetime.now(UTC)
        try:
            await self.port.push_evse_status(
                place.location.id, place.evse.uid, status, at, http=run.http
            )
        except RuntimeError:  # no eMSP registered: the network still changes
            self.port.network.set_evse_status(place.location.id, place.evse.uid, status, at)
        except OcpiPeerError as exc:
            log.warning("OCPI CPO: status of %s not pushed: %s", place.evse.uid, exc)

    def _advance(self, run: _Run) -> ChargeState:
        now = time.monotonic()
        run.sim_s += (now - run.last_mono) * self.time_scale
        run.last_mono = now
        finish = run.charge.finish_elapsed_s
        if finish is not None:  # the charge ended when the car was full, whenever we look
            run.sim_s = min(run.sim_s, finish)
        snap = run.charge.snapshot_after(run.sim_s)
        return ChargeState(run.charge.energy_after(run.sim_s), snap.power_kw, snap.soc)

    def _until_full_s(self, run: _Run) -> float:
        """Real seconds until the car is full (inf when it will not be)."""
        finish = run.charge.finish_elapsed_s
        if finish is None:
            return float("inf")
        ahead = finish - run.sim_s - (time.monotonic() - run.last_mono) * self.time_scale
        return max(0.0, ahead / self.time_scale)

    def _slice(self, run: _Run, state: ChargeState) -> PricedPeriod | None:
        """The period since the last mark; ``None`` when no time has passed."""
        before = run.mark or ChargeState(0.0, 0.0, run.plug.vehicle.soc)
        seconds = run.sim_s - run.mark_s
        if seconds <= 0:
            return None
        kwh = max(0.0, state.kwh - before.kwh)
        hours = seconds / 3600.0
        piece = PricedPeriod(
            start=run.started + timedelta(seconds=run.mark_s),
            hours=hours,
            kwh=kwh,
            kw=kwh / hours,
            soc=state.soc,
            kwh_before=before.kwh,
            seconds_before=run.mark_s,
        )
        run.mark, run.mark_s = state, run.sim_s
        run.slices.append(piece)
        return piece

    def _costs(self, run: _Run) -> Costs:
        return session_costs(run.tariff, run.slices, run.place.location.time_zone)

    async def _patch(self, run: _Run, patch: dict[str, Any]) -> None:
        try:
            run.session = await self.port.patch_session(run.session.id, patch, http=run.http)
        except RuntimeError:
            run.session = self.port.network.update_session(run.session.id, patch)
        except OcpiPeerError as exc:
            log.warning("OCPI CPO: session %s PATCH not delivered: %s", run.session.id, exc)
            stored = self.port.network.changed("sessions")
            run.session = next(
                (s for s in stored if isinstance(s, Session) and s.id == run.session.id),
                run.session,
            )

    async def _charge(self, run: _Run) -> None:
        try:
            state = ChargeState(0.0, 0.0, run.plug.vehicle.soc)
            while True:
                wait = min(self.session_update_s, self._until_full_s(run))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(run.stop.wait(), wait)
                state = self._advance(run)
                target = run.plug.vehicle.target_soc
                finish = run.charge.finish_elapsed_s
                # the car's own finish time decides: the SoC shown is rounded to 0.1 %, and
                # reading "80.0" a few Wh early stopped the charge short of its energy
                full = (run.sim_s >= finish) if finish is not None else state.soc >= target - 1e-6
                if not run.stop.is_set() and (full or state.kw <= 0):
                    run.reason = run.reason or "the vehicle reached its target state of charge"
                    run.stop.set()
                if run.stop.is_set():
                    break
                piece = self._slice(run, state)
                patch: dict[str, Any] = {
                    "kwh": round(state.kwh, 3),
                    "total_cost": dump(self._costs(run).total),
                    "last_updated": format_datetime(run.now),
                }
                if piece is not None:
                    patch["charging_periods"] = [dump(piece.period(run.tariff.id))]
                await self._patch(run, patch)
            await self._finish(run, state)
        except Exception:
            log.exception("OCPI CPO: session %s failed", run.session.id)
        finally:
            key = run.place.key
            with self._lock:
                self._busy.discard(key)
                plug = self._plugs.get(key)
                if plug is run.plug:
                    del self._plugs[key]  # the car leaves with its session
            self._hold(run.place, False)
            run.done.set()
            await run.http.aclose()

    async def _finish(self, run: _Run, state: ChargeState) -> None:
        piece = self._slice(run, state)
        if piece is None and not run.slices:  # a CDR needs one period, even an empty one
            piece = PricedPeriod(run.started, 0.0, 0.0, 0.0, state.soc, 0.0, 0.0)
            run.slices.append(piece)
        end = run.now
        costs = self._costs(run)
        patch: dict[str, Any] = {
            "status": SessionStatus.COMPLETED.value,
            "end_date_time": format_datetime(end),
            "kwh": round(state.kwh, 3),
            "total_cost": dump(costs.total),
            "last_updated": format_datetime(end),
        }
        if piece is not None:
            patch["charging_periods"] = [dump(piece.period(run.tariff.id))]
        await self._patch(run, patch)
        await self._push_status(run, Status.AVAILABLE)
        cdr = self._cdr(run, state, costs, end)
        try:
            await self.port.post_cdr(cdr, http=run.http)
        except RuntimeError:
            self.port.network.add_cdr(cdr)
        except OcpiPeerError as exc:
            log.warning("OCPI CPO: CDR %s not delivered: %s", cdr.id, exc)
        with self._lock:
            self.cdrs[run.session.id] = cdr
        run.cdr = cdr
        log.info(
            "OCPI CPO: session %s ended (%s): %.3f kWh, %s %s",
            run.session.id,
            run.reason,
            state.kwh,
            cdr.total_cost.excl_vat,
            cdr.currency,
        )

    def _cdr(self, run: _Run, state: ChargeState, costs: Costs, end: datetime) -> Cdr:
        session, place = run.session, run.place
        location, evse, connector = place.location, place.evse, place.connector
        total = costs.total
        adjust = self.cdr_adjust
        if adjust:
            total = price(float(total.excl_vat) + adjust, float(total.incl_vat or 0) + adjust)
        return Cdr(
            country_code=session.country_code,
            party_id=session.party_id,
            id=f"CDR-{session.id}",
            start_date_time=session.start_date_time,
            end_date_time=end,
            session_id=session.id,
            cdr_token=session.cdr_token,
            auth_method=session.auth_method,
            authorization_reference=session.authorization_reference,
            cdr_location=CdrLocation(
                id=location.id,
                name=location.name,
                address=location.address,
                city=location.city,
                postal_code=location.postal_code,
                state=location.state,
                country=location.country,
                coordinates=location.coordinates,
                evse_uid=evse.uid,
                evse_id=evse.evse_id or evse.uid,
                connector_id=connector.id,
                connector_standard=connector.standard,
                connector_format=connector.format,
                connector_power_type=connector.power_type,
            ),
            currency=session.currency,
            tariffs=[run.tariff],
            charging_periods=[p.period(run.tariff.id) for p in run.slices],
            total_cost=total,
            total_fixed_cost=price(*costs.fixed) if costs.fixed[0] else None,
            total_energy=round(state.kwh, 3),
            total_energy_cost=price(*costs.energy),
            total_time=round(run.sim_s / 3600.0, 4),
            total_time_cost=price(*costs.time) if costs.time[0] else None,
            remark=run.reason,
            last_updated=end,
        )
