"""Charging at a simulated T/CEC operator: cars plugged in, sessions started by the platform's
``query_start_charge`` or by plug-and-charge, live status pushes, the stop and the bill.

:class:`TcecOperatorCharging` is the charging side of one operator.
:meth:`TcecOperatorCharging.attach` installs its handlers on a :class:`~.server.TcecOperatorServer`
(``query_start_charge``, ``query_stop_charge``, ``query_equip_charge_status``); everything it sends
goes to the platform through a :class:`~.push.PlatformPusher` (signed with the secrets the platform
issued to the operator), from a :class:`~chargemesh.sim.background.BackgroundLoop`. The network is
anything with the :class:`ChargingNetwork` methods: an :class:`~.network.OperatorNetwork` or the
simulator's :class:`~chargemesh.sim.feeds.TcecOperatorFeed`.

**A car at a connector.** :meth:`TcecOperatorCharging.plug_in` connects a
:class:`~chargemesh.sim.charging.SimVehicle`: an idle (1) or reserved (4) connector becomes
*occupied, not charging* (2) and the change is pushed (``notification_stationStatus``); a faulted
(255) or offline (0) one keeps its status; one already occupied (2, 3) or holding a car raises
:class:`ConnectorOccupied`. :meth:`TcecOperatorCharging.unplug` takes the car away (ending its
session, if one runs, with ``StopReason`` 4); the connector goes back to idle. While a car is there
the simulator's status churn leaves the connector alone (``network.hold``).

**Plug-and-charge** (our extension, docs/tcec-extensions.md): when ``plug_and_charge`` is on and
the pile does it (:attr:`PileInfo.plug_and_charge`), plugging in also sends
``notification_plug_and_charge`` {PlugAndChargeSeq, ConnectorID, VIN}; on ``SuccStat`` 0 the
session starts under the platform's ``StartChargeSeq`` exactly as after ``query_start_charge``.
``plug_in`` returns a future of the platform's answer (``None`` when no request was made).

**query_start_charge.** An unknown ConnectorID answers Ret 4004, like the other connector
queries. ``SuccStat`` 1 with a :class:`StartChargeRefusal` ``FailReason``: 2 offline, 5 faulted,
4 busy (charging, or a session holds it), 3 no car plugged in, 6 a StartChargeSeq already used on
another connector; a StartChargeSeq already known on the same connector answers its session
again (a retried request starts nothing twice). Otherwise ``SuccStat`` 0 with
``StartChargeSeqStat`` 1, and after ``start_delay_s`` the compatibility matrix decides:

* the start fails → ``notification_start_charge_result`` with ``StartChargeSeqStat`` 4 and the
  extension's ``FailReason`` (:class:`StartFailure`) and ``FailReasonMsg``; the car stays plugged;
* it starts → ``notification_start_charge_result`` ``StartChargeSeqStat`` 2 with ``StartTime``,
  the connector goes charging (3, pushed), and every ``status_interval_s``
  ``notification_equip_charge_status`` carries the
  :class:`~chargemesh.sim.charging.ChargeRun` snapshot:
  ``TotalPower`` kWh, ``CurrentA``/``VoltageA`` (B, C too on three-phase AC: kW = Σ V × A), ``Soc``,
  ``ElecMoney``/``SeviceMoney``/``TotalMoney``, ``StartTime``/``EndTime``, ``ChargeDetails`` per
  tariff period, ``ConnectorStatus`` 3, ``StartChargeSeqStat`` 2. ``query_equip_charge_status``
  answers the same snapshot at any time (Ret 4004 for an unknown StartChargeSeq).

**The stop.** ``query_stop_charge`` answers ``SuccStat`` 0 and ``StartChargeSeqStat`` 3 (4 for a
session that has already ended; ``SuccStat`` 1 ``FailReason`` 3 for an unknown one); the energy
stops at that moment. After ``stop_delay_s``: ``notification_stop_charge_result``
(``StartChargeSeqStat`` 4), a last ``notification_equip_charge_status`` (4), the connector back to
2 (the car is still there; 1 after an unplug, pushed), then ``notification_charge_order_info``
with the bill: ``TotalPower``, ``TotalElecMoney``, ``TotalSeviceMoney``, ``TotalMoney``,
``StartTime``, ``EndTime``, ``StopReason`` (1 platform, 2 BMS when the car reached its target SoC
by itself, 4 unplugged) and ``ChargeDetails``. A session stopped before it began sends only the
stop result.

**Times and prices.** Sessions run on a simulated clock (``time_scale``, default 1: real time;
see :class:`~chargemesh.sim.charging.ChargeRun`): ``StartTime`` is the real start, ``EndTime``
(of the live status and the bill) and the details' times lie on that clock, so ``EndTime`` −
``StartTime`` is the charging time ``TotalPower`` belongs to. A car that reaches its target
ends the session at that moment with ``StopReason`` 2. Prices are the connector's published
``query_equip_business_policy`` (``network.policy_for``, read when the session starts: replace
``network.policy`` to change them).

**Delivery.** Start and stop results and bills are retried (``retry_s`` doubling from the first
to the second value, for ``retry_for_s`` seconds) while the platform cannot be reached or answers
an error other than 4003/4004, so a platform restarted mid-session still gets its bill; live
status pushes are not (the next one follows). ``pushed``/``push_failures`` count per interface.

Knobs (plain attributes, change them at any time): ``silent_starts`` (``query_start_charge`` and
plug-and-charge answer success but nothing follows: no result, no charge — an operator that never
answers; a ``query_stop_charge`` then ends the session silently), ``bill_adjust``
(StartChargeSeq → ``Decimal`` added to the bill's service money and ``TotalMoney``: a bill that
disagrees with the live data), ``time_scale``, ``status_interval_s``, ``start_delay_s``,
``stop_delay_s``, ``matrix`` (:class:`~chargemesh.sim.charging.CompatibilityMatrix`),
``plug_and_charge``, ``push_station_status``. ``attempts`` lists every start's outcome,
``bills`` every bill sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from types import TracebackType
from typing import Any, Final, Literal, Protocol

import httpx

from chargemesh.protocols.tcec.charging import (
    START_FAILURE_TEXT,
    ChargeDetail,
    ChargeOrder,
    CheckChargeOrdersRequest,
    CheckChargeOrdersResponse,
    NotificationChargeOrderInfoRequest,
    NotificationEquipChargeStatusRequest,
    NotificationPlugAndChargeRequest,
    NotificationPlugAndChargeResponse,
    NotificationStartChargeResultRequest,
    NotificationStopChargeResultRequest,
    PolicyInfo,
    QueryEquipChargeStatusRequest,
    QueryEquipChargeStatusResponse,
    QueryStartChargeRequest,
    QueryStartChargeResponse,
    QueryStopChargeRequest,
    QueryStopChargeResponse,
    StartChargeRefusal,
    StartFailure,
    StopChargeRefusal,
)
from chargemesh.protocols.tcec.codec import CHINA_TZ, Ret, Secrets, SeqCounter, TcecError
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import (
    ConnectorStatusInfo,
    NotificationStationStatusRequest,
)
from chargemesh.protocols.tcec.wire import Dialect, WireModel, dialect_of, parse
from chargemesh.sim.background import BackgroundLoop
from chargemesh.sim.charging import (
    DEFAULT_TIME_SCALE,
    ChargeRun,
    ChargeSnapshot,
    CompatibilityMatrix,
    FailureReason,
    PeriodCharge,
    PricePeriod,
    SimVehicle,
)
from chargemesh.sim.peers.tcec.network import PileInfo
from chargemesh.sim.peers.tcec.push import PlatformPusher
from chargemesh.sim.peers.tcec.server import TcecOperatorServer

__all__ = [
    "DEFAULT_STATUS_INTERVAL_S",
    "ChargingNetwork",
    "ConnectorOccupied",
    "TcecOperatorCharging",
    "TcecStartAttempt",
    "tariff_of",
]

log = logging.getLogger(__name__)

#: Seconds between two live status pushes of a session (the simulator's default).
DEFAULT_STATUS_INTERVAL_S: Final = 15.0
OFFLINE, IDLE, PLUGGED, CHARGING, RESERVED, FAULTED = 0, 1, 2, 3, 4, 255
STARTING, RUNNING, STOPPING, ENDED = 1, 2, 3, 4  # StartChargeSeqStat
STOP_USER, STOP_PLATFORM, STOP_BMS, STOP_FAULT, STOP_UNPLUGGED = 0, 1, 2, 3, 4
_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
_NOT_RETRIED: Final = frozenset({Ret.MALFORMED, Ret.INVALID_PARAMETER})

Method = Literal["scan", "plug_and_charge"]


class ChargingNetwork(Protocol):
    """What the charging reads and changes on the operator's network (thread-safe)."""

    def connector_status(self, connector_id: str, /) -> ConnectorStatusInfo | None: ...

    def set_status(self, connector_id: str, status: int, /) -> ConnectorStatusInfo: ...

    def policy_for(self, connector_id: str, /) -> tuple[PolicyInfo, ...]: ...

    def pile_info(self, connector_id: str, /) -> PileInfo | None: ...

    def hold(self, connector_id: str, held: bool, /) -> None: ...


class ConnectorOccupied(ValueError):
    """The connector already has a car (ours or, by its status, someone else's)."""


@dataclass(frozen=True, slots=True)
class TcecStartAttempt:
    """One start decided at the pile (silent starts are not)."""

    start_charge_seq: str
    connector_id: str
    vin: str
    vehicle_model: str
    manufacturer: str
    model: str
    firmware: str
    method: Method
    failure: FailureReason | None


def tariff_of(policy: tuple[PolicyInfo, ...]) -> tuple[PricePeriod, ...]:
    """The published time-of-use prices as :class:`~chargemesh.sim.charging.PricePeriod`."""
    return tuple(
        PricePeriod(
            clock_time(int(p.start_time[:2]), int(p.start_time[2:4]), int(p.start_time[4:6])),
            p.elec_price,
            p.service_price,
        )
        for p in policy
    )


def _wire_time(at: datetime) -> str:
    return at.astimezone(CHINA_TZ).strftime(_TIME_FORMAT)


def _china_now() -> datetime:
    return datetime.now(CHINA_TZ)


@dataclass(eq=False)
class _Session:
    seq: str
    connector_id: str
    vehicle: SimVehicle
    pile: PileInfo
    method: Method
    tariff: tuple[PricePeriod, ...]
    time_scale: float
    silent: bool = False
    stat: int = STARTING
    run: ChargeRun | None = None
    failure: FailureReason | None = None
    stop_requested: bool = False
    stop_reason: int | None = None
    stopped_at: datetime | None = None  # real time the energy stopped
    wake: asyncio.Event | None = None
    bill: NotificationChargeOrderInfoRequest | None = None
    done: concurrent.futures.Future[None] | None = field(default=None, repr=False)


class TcecOperatorCharging:
    """The charging of operator ``operator_id`` over ``network`` (see the module docstring).

    ``platform_url`` is the platform's T/CEC base (``…/tcec/v1/``), ``secrets`` the ones it
    issued to this operator; without them nothing is pushed (sessions still run and can be
    queried). ``loop`` runs the sessions (default: one of its own, stopped by :meth:`close`).
    ``matrix`` decides the starts (default: every start works; the simulator gives the country's).
    ``clock`` gives the real time (aware).
    """

    def __init__(
        self,
        operator_id: str,
        network: ChargingNetwork,
        *,
        platform_url: str | None = None,
        secrets: Secrets | None = None,
        dialect: Dialect = "cec",
        loop: BackgroundLoop | None = None,
        matrix: CompatibilityMatrix | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        status_interval_s: float = DEFAULT_STATUS_INTERVAL_S,
        start_delay_s: float = 1.0,
        stop_delay_s: float = 1.0,
        plug_and_charge: bool = False,
        push_station_status: bool = True,
        retry_s: tuple[float, float] = (0.5, 30.0),
        retry_for_s: float = 900.0,
        seq: SeqCounter | None = None,
        clock: Callable[[], datetime] = _china_now,
    ) -> None:
        if len(operator_id) != 9:
            raise ValueError("operator_id must be the 9-character organisation code")
        self.operator_id = operator_id
        self.network = network
        self.platform_url = platform_url
        self.dialect = dialect_of(dialect)
        self.matrix = matrix if matrix is not None else CompatibilityMatrix.never_failing()
        self.time_scale = time_scale
        self.status_interval_s = status_interval_s
        self.start_delay_s = start_delay_s
        self.stop_delay_s = stop_delay_s
        self.plug_and_charge = plug_and_charge
        self.push_station_status = push_station_status
        self.retry_s = retry_s
        self.retry_for_s = retry_for_s
        self.silent_starts = False
        #: A scan start at an idle connector means the driver is there with a car plugged in:
        #: with this set, that car comes from it (``chargemesh sim``); unset, such a start is
        #: refused NO_VEHICLE (tests plug cars in themselves).
        self.arriving_cars: Callable[[str], SimVehicle] | None = None
        self.bill_adjust: dict[str, Decimal] = {}
        self.attempts: list[TcecStartAttempt] = []
        self.bills: dict[str, NotificationChargeOrderInfoRequest] = {}
        self.pushed: Counter[str] = Counter()
        self.push_failures: Counter[str] = Counter()
        self._secrets = secrets
        self._seq = seq or SeqCounter.random_start()
        self._clock = clock
        self._own_loop = loop is None
        self._loop = loop or BackgroundLoop(f"tcec-charging-{operator_id}")
        self._pusher: PlatformPusher | None = None
        self._pusher_http: httpx.AsyncClient | None = None
        self._lock = threading.RLock()
        self._plugged: dict[str, SimVehicle] = {}
        self._active: dict[str, str] = {}  # ConnectorID → StartChargeSeq of its running session
        self._sessions: dict[str, _Session] = {}
        self._counter = itertools.count(1)

    # ------------------------------------------------------------------ wiring

    def attach(self, server: TcecOperatorServer) -> TcecOperatorCharging:
        """Answer the session interfaces on ``server``."""
        server.handlers[Interface.QUERY_START_CHARGE] = self._query_start_charge
        server.handlers[Interface.QUERY_STOP_CHARGE] = self._query_stop_charge
        server.handlers[Interface.QUERY_EQUIP_CHARGE_STATUS] = self._query_equip_charge_status
        return self

    def close(self) -> None:
        """Stop the sessions' loop if it is this object's own."""
        if self._own_loop:
            self._loop.stop()

    def __enter__(self) -> TcecOperatorCharging:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ the car

    def vehicle_at(self, connector_id: str) -> SimVehicle | None:
        with self._lock:
            return self._plugged.get(connector_id)

    def session_at(self, connector_id: str) -> str | None:
        """The StartChargeSeq of the session running at a connector, if any."""
        with self._lock:
            return self._active.get(connector_id)

    def session_state(self, start_charge_seq: str) -> int | None:
        """``StartChargeSeqStat`` of a session (``None`` if unknown)."""
        with self._lock:
            found = self._sessions.get(start_charge_seq)
            return None if found is None else found.stat

    def plug_in(
        self, connector_id: str, vehicle: SimVehicle
    ) -> concurrent.futures.Future[NotificationPlugAndChargeResponse | None]:
        """Connect ``vehicle`` at ``connector_id`` (``KeyError`` if unknown,
        :class:`ConnectorOccupied` if taken). The future gives the platform's answer to the
        plug-and-charge request, ``None`` when none was sent; it completes once the status and
        that request have been pushed."""
        with self._lock:
            status = self.network.connector_status(connector_id)
            if status is None:
                raise KeyError(connector_id)
            if connector_id in self._plugged or connector_id in self._active:
                raise ConnectorOccupied(f"a car is already plugged in at {connector_id}")
            if status.status in (PLUGGED, CHARGING):
                raise ConnectorOccupied(f"{connector_id} is occupied (Status {status.status})")
            self._plugged[connector_id] = vehicle
            self.network.hold(connector_id, True)
            info = (
                self.network.set_status(connector_id, PLUGGED)
                if status.status in (IDLE, RESERVED)
                else None
            )
        return self._loop.submit(self._after_plug_in(connector_id, vehicle, info))

    def unplug(self, connector_id: str) -> concurrent.futures.Future[None]:
        """Take the car away; a running session ends (``StopReason`` 4). The future completes
        once the connector is idle again and everything has been pushed."""
        with self._lock:
            if self._plugged.pop(connector_id, None) is None:
                raise KeyError(f"no car is plugged in at {connector_id}")
            seq = self._active.get(connector_id)
            session = self._sessions.get(seq) if seq is not None else None
            if session is not None and not session.silent:
                self._request_stop(session, STOP_UNPLUGGED)
                done = session.done
            else:
                if session is not None:  # a silent start: it simply goes away
                    session.stat = ENDED
                    self._active.pop(connector_id, None)
                done = None
        return self._loop.submit(self._after_unplug(connector_id, done))

    async def _after_unplug(
        self, connector_id: str, session_done: concurrent.futures.Future[None] | None
    ) -> None:
        if session_done is not None:
            await asyncio.wrap_future(session_done)
            return  # the session's end set the status and released the connector
        with self._lock:
            if connector_id in self._plugged or connector_id in self._active:
                return  # another car arrived meanwhile
            info = self._set_status_unless_down(connector_id, IDLE)
            self.network.hold(connector_id, False)
        if info is not None:
            await self._push_station(info)

    def _set_status_unless_down(self, connector_id: str, code: int) -> ConnectorStatusInfo | None:
        current = self.network.connector_status(connector_id)
        if current is None or current.status in (OFFLINE, FAULTED) or current.status == code:
            return None
        return self.network.set_status(connector_id, code)

    async def _after_plug_in(
        self, connector_id: str, vehicle: SimVehicle, info: ConnectorStatusInfo | None
    ) -> NotificationPlugAndChargeResponse | None:
        if info is not None:
            await self._push_station(info)
        pile = self.network.pile_info(connector_id)
        status = self.network.connector_status(connector_id)
        if (
            not self.plug_and_charge
            or pile is None
            or not pile.plug_and_charge
            or status is None
            or status.status != PLUGGED
        ):
            return None
        request = NotificationPlugAndChargeRequest(
            plug_and_charge_seq=self._new_seq(), connector_id=connector_id, vin=vehicle.vin
        )
        try:
            payload = await self._send(
                Interface.NOTIFICATION_PLUG_AND_CHARGE, request, raising=True
            )
            assert payload is not None
            answer = parse(NotificationPlugAndChargeResponse, payload)
        except Exception as exc:
            log.warning(
                "%s: plug-and-charge at %s: no answer from the platform (%s); nothing starts",
                self.operator_id,
                connector_id,
                type(exc).__name__,
            )
            raise
        if answer.succ_stat == 0 and answer.start_charge_seq:
            with self._lock:
                still_here = self._plugged.get(connector_id) is vehicle
            if still_here:
                seq = answer.start_charge_seq
                succ, reason, _ = self._begin(connector_id, seq, "plug_and_charge")
                if succ != 0:
                    log.info(
                        "%s: plug-and-charge start at %s refused (FailReason %d)",
                        self.operator_id,
                        connector_id,
                        reason,
                    )
        return answer

    def _new_seq(self) -> str:
        stamp = self._clock().astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")
        return f"{self.operator_id}{stamp}{next(self._counter) % 10000:04d}"

    # ------------------------------------------------------------------ handlers

    def _query_start_charge(
        self, caller: str, request: QueryStartChargeRequest
    ) -> QueryStartChargeResponse:
        if self.network.connector_status(request.connector_id) is None:
            raise TcecError(
                Ret.INVALID_PARAMETER, "unknown ConnectorID", reason="unknown_connector"
            )
        succ, reason, stat = self._begin(request.connector_id, request.start_charge_seq, "scan")
        return QueryStartChargeResponse(
            start_charge_seq=request.start_charge_seq,
            start_charge_seq_stat=stat,
            connector_id=request.connector_id,
            succ_stat=succ,
            fail_reason=reason,
        )

    def _begin(self, connector_id: str, seq: str, method: Method) -> tuple[int, int, int | None]:
        """Start a session (``SuccStat``, ``FailReason``, ``StartChargeSeqStat``)."""
        with self._lock:
            known = self._sessions.get(seq)
            if known is not None:
                if known.connector_id == connector_id:
                    return 0, 0, known.stat
                return 1, StartChargeRefusal.DUPLICATE_SEQ, None
            status = self.network.connector_status(connector_id)
            code = status.status if status is not None else OFFLINE
            if code == OFFLINE:
                return 1, StartChargeRefusal.OFFLINE, None
            if code == FAULTED:
                return 1, StartChargeRefusal.FAULTED, None
            if connector_id in self._active or code == CHARGING:
                return 1, StartChargeRefusal.BUSY, None
            vehicle = self._plugged.get(connector_id)
            if vehicle is None and self.arriving_cars is not None:
                vehicle = self._plugged[connector_id] = self.arriving_cars(connector_id)
                self.network.hold(connector_id, True)
            pile = self.network.pile_info(connector_id)
            if vehicle is None or pile is None:
                return 1, StartChargeRefusal.NO_VEHICLE, None
            session = _Session(
                seq=seq,
                connector_id=connector_id,
                vehicle=vehicle,
                pile=pile,
                method=method,
                tariff=tariff_of(self.network.policy_for(connector_id)),
                time_scale=self.time_scale,
                silent=self.silent_starts,
            )
            self._sessions[seq] = session
            self._active[connector_id] = seq
            if not session.silent:
                session.done = self._loop.submit(self._drive(session))
        return 0, 0, STARTING

    def _query_stop_charge(
        self, caller: str, request: QueryStopChargeRequest
    ) -> QueryStopChargeResponse:
        seq = request.start_charge_seq
        with self._lock:
            session = self._sessions.get(seq)
            if session is None or session.connector_id != request.connector_id:
                return QueryStopChargeResponse(
                    start_charge_seq=seq,
                    succ_stat=1,
                    fail_reason=StopChargeRefusal.NO_SUCH_SESSION,
                )
            if session.stat == ENDED:
                stat = ENDED
            elif session.silent:
                session.stat = stat = ENDED
                self._active.pop(session.connector_id, None)
            else:
                self._request_stop(session, STOP_PLATFORM)
                stat = STOPPING
        return QueryStopChargeResponse(
            start_charge_seq=seq, start_charge_seq_stat=stat, succ_stat=0
        )

    def _request_stop(self, session: _Session, reason: int) -> None:
        """Under the lock: end the energy now, let the session's coroutine finish it."""
        if session.stop_requested:
            return
        session.stop_requested = True
        session.stop_reason = reason
        if session.run is not None:
            session.stopped_at = self._clock()
            session.stat = STOPPING
        self._loop.call_soon(lambda: session.wake.set() if session.wake is not None else None)

    def _query_equip_charge_status(
        self, caller: str, request: QueryEquipChargeStatusRequest
    ) -> QueryEquipChargeStatusResponse:
        with self._lock:
            session = self._sessions.get(request.start_charge_seq)
            if session is None:
                raise TcecError(
                    Ret.INVALID_PARAMETER, "unknown StartChargeSeq", reason="unknown_session"
                )
            fields = self._status_fields(session, self._snapshot(session))
        return QueryEquipChargeStatusResponse.model_validate(fields)

    # ------------------------------------------------------------------ the session

    def _snapshot(self, session: _Session) -> ChargeSnapshot | None:
        if session.run is None:
            return None
        return session.run.snapshot(session.stopped_at or self._clock())

    def _status_fields(self, session: _Session, snap: ChargeSnapshot | None) -> dict[str, Any]:
        status = self.network.connector_status(session.connector_id)
        fields: dict[str, Any] = {
            "StartChargeSeq": session.seq,
            "StartChargeSeqStat": session.stat,
            "ConnectorID": session.connector_id,
            "ConnectorStatus": status.status if status is not None else None,
        }
        if snap is None:
            return fields
        charging = session.stat in (RUNNING, STOPPING)
        amps = snap.current_a if charging else 0.0
        fields.update(
            {
                "CurrentA": amps,
                "VoltageA": snap.voltage_v,
                "Soc": snap.soc,
                "StartTime": _wire_time(snap.started_at),
                "EndTime": _wire_time(snap.at),
                "TotalPower": snap.energy_kwh,
                "ElecMoney": snap.elec_money,
                "SeviceMoney": snap.service_money,
                "TotalMoney": snap.total_money,
                "SumPeriod": len(snap.periods),
                "ChargeDetails": [_detail(p) for p in snap.periods],
            }
        )
        if snap.phases == 3:
            fields.update(
                {
                    "CurrentB": amps,
                    "CurrentC": amps,
                    "VoltageB": snap.voltage_v,
                    "VoltageC": snap.voltage_v,
                }
            )
        return fields

    async def _drive(self, session: _Session) -> None:
        try:
            await self._drive_session(session)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: session %s failed", self.operator_id, session.seq)

    async def _wait(self, session: _Session, seconds: float) -> None:
        assert session.wake is not None
        if session.stop_requested or seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(session.wake.wait(), seconds)

    async def _drive_session(self, session: _Session) -> None:
        session.wake = asyncio.Event()
        await self._wait(session, self.start_delay_s)
        if await self._decide_start(session):
            await self._charge(session)
        await self._finish(session)

    async def _decide_start(self, session: _Session) -> bool:
        """Start the charge, or fail it; ``True`` when energy flows."""
        cid, pile, vehicle = session.connector_id, session.pile, session.vehicle
        with self._lock:
            unplugged = self._plugged.get(cid) is not vehicle
            if session.stop_requested and not unplugged:
                return False  # the platform stopped it before it began
            failure: FailureReason | None = None
            if unplugged:
                failure = FailureReason.VEHICLE_DISCONNECTED
            else:
                failure = self.matrix.outcome(
                    vehicle, pile.manufacturer, pile.model, pile.firmware, session.seq, dc=pile.dc
                )
            self.attempts.append(
                TcecStartAttempt(
                    session.seq,
                    cid,
                    vehicle.vin,
                    vehicle.model.id,
                    pile.manufacturer,
                    pile.model,
                    pile.firmware,
                    session.method,
                    failure,
                )
            )
            if failure is not None:
                session.failure = failure
                session.stat = ENDED
                self._active.pop(cid, None)
            else:
                session.run = ChargeRun(
                    started_at=self._clock(),
                    vehicle=vehicle,
                    pile_kw=pile.power_kw,
                    tariff=session.tariff,
                    dc=pile.dc,
                    time_scale=session.time_scale,
                )
                session.stat = RUNNING
                info = self.network.set_status(cid, CHARGING)
        if failure is not None:
            code = StartFailure[failure.name]
            result = NotificationStartChargeResultRequest(
                start_charge_seq=session.seq,
                start_charge_seq_stat=ENDED,
                connector_id=cid,
                fail_reason=int(code),
                fail_reason_msg=START_FAILURE_TEXT[code],
            )
            await self._send(Interface.NOTIFICATION_START_CHARGE_RESULT, result, retry=True)
            if self._plugged_here(cid, None) is None:  # the car left before the start
                await self._release(cid)
            return False
        assert session.run is not None
        result = NotificationStartChargeResultRequest(
            start_charge_seq=session.seq,
            start_charge_seq_stat=RUNNING,
            connector_id=cid,
            start_time=_wire_time(session.run.started_at),
        )
        await self._send(Interface.NOTIFICATION_START_CHARGE_RESULT, result, retry=True)
        await self._push_station(info)
        return True

    def _plugged_here(self, connector_id: str, default: SimVehicle | None) -> SimVehicle | None:
        with self._lock:
            return self._plugged.get(connector_id, default)

    async def _release(self, connector_id: str) -> None:
        with self._lock:
            if connector_id in self._plugged or connector_id in self._active:
                return
            info = self._set_status_unless_down(connector_id, IDLE)
            self.network.hold(connector_id, False)
        if info is not None:
            await self._push_station(info)

    async def _charge(self, session: _Session) -> None:
        run = session.run
        assert run is not None
        while True:
            with self._lock:
                if session.stop_requested:
                    return
                snap = run.snapshot(self._clock())
                if snap.finished:
                    session.stop_requested = True
                    session.stop_reason = STOP_BMS
                    session.stopped_at = _real_time_of(run, run.finish_elapsed_s or 0.0)
                    session.stat = STOPPING
                    return
                fields = self._status_fields(session, snap)
            await self._send(
                Interface.NOTIFICATION_EQUIP_CHARGE_STATUS,
                NotificationEquipChargeStatusRequest.model_validate(fields),
            )
            wait = self.status_interval_s
            if run.finish_elapsed_s is not None:
                left = (_real_time_of(run, run.finish_elapsed_s) - self._clock()).total_seconds()
                wait = min(wait, max(left, 0.0))
            await self._wait(session, wait)

    async def _finish(self, session: _Session) -> None:
        """The stop result, the last status, the connector, the bill."""
        if session.run is None and session.failure is not None:
            return  # a failed start: already told
        if session.stop_reason not in (STOP_BMS, None):
            await asyncio.sleep(self.stop_delay_s)
        cid = session.connector_id
        with self._lock:
            session.stat = ENDED
            snap = self._snapshot(session)
            last = self._status_fields(session, snap) if snap is not None else None
        await self._send(
            Interface.NOTIFICATION_STOP_CHARGE_RESULT,
            NotificationStopChargeResultRequest(
                start_charge_seq=session.seq,
                start_charge_seq_stat=ENDED,
                connector_id=cid,
                succ_stat=0,
            ),
            retry=True,
        )
        with self._lock:
            self._active.pop(cid, None)
            here = self._plugged.get(cid) is session.vehicle
            info = self._set_status_unless_down(cid, PLUGGED if here else IDLE)
            if not here and cid not in self._plugged:
                self.network.hold(cid, False)
            now = self.network.connector_status(cid)
        if last is not None:
            last["StartChargeSeqStat"] = ENDED
            last["ConnectorStatus"] = now.status if now is not None else None
            await self._send(
                Interface.NOTIFICATION_EQUIP_CHARGE_STATUS,
                NotificationEquipChargeStatusRequest.model_validate(last),
            )
        if info is not None:
            await self._push_station(info)
        if snap is None:
            return  # stopped before the charge began: nothing to bill
        bill = self._bill(session, snap)
        with self._lock:
            session.bill = bill
            self.bills[session.seq] = bill
        await self._send(Interface.NOTIFICATION_CHARGE_ORDER_INFO, bill, retry=True)

    def _bill(self, session: _Session, snap: ChargeSnapshot) -> NotificationChargeOrderInfoRequest:
        adjust = self.bill_adjust.get(session.seq, Decimal(0))
        details = [_detail(p) for p in snap.periods]
        if adjust and details:
            last = details[-1]
            service = (last.detail_service_money or Decimal(0)) + adjust
            details[-1] = last.model_copy(update={"detail_service_money": service})
        return NotificationChargeOrderInfoRequest(
            start_charge_seq=session.seq,
            connector_id=session.connector_id,
            start_time=_wire_time(snap.started_at),
            end_time=_wire_time(snap.at),
            total_power=snap.energy_kwh,
            total_elec_money=snap.elec_money,
            total_service_money=snap.service_money + adjust,
            total_money=snap.total_money + adjust,
            stop_reason=session.stop_reason,
            sum_period=len(details),
            charge_details=tuple(details),
        )

    # ------------------------------------------------------------------ reconciliation

    def check_charge_orders(
        self, seqs: list[str] | None = None
    ) -> concurrent.futures.Future[CheckChargeOrdersResponse]:
        """Send the daily ``check_charge_orders`` with the bills sent so far (or those of
        ``seqs``); the future gives the platform's answer (its disputes)."""
        with self._lock:
            bills = [b for s, b in self.bills.items() if seqs is None or s in seqs]
        return self._loop.submit(self._check(bills))

    async def _check(
        self, bills: list[NotificationChargeOrderInfoRequest]
    ) -> CheckChargeOrdersResponse:
        now = _wire_time(self._clock())
        request = CheckChargeOrdersRequest(
            check_order_seq=self._new_seq(),
            start_time=min((b.start_time for b in bills), default=now),
            end_time=max((b.end_time for b in bills), default=now),
            order_count=len(bills),
            total_order_power=round(sum(b.total_power for b in bills), 3),
            total_order_money=sum((b.total_money for b in bills), Decimal(0)),
            charge_orders=tuple(
                ChargeOrder(
                    start_charge_seq=b.start_charge_seq,
                    total_power=b.total_power,
                    total_money=b.total_money,
                )
                for b in bills
            ),
        )
        payload = await self._send(Interface.CHECK_CHARGE_ORDERS, request, raising=True)
        assert payload is not None
        return parse(CheckChargeOrdersResponse, payload)

    # ------------------------------------------------------------------ pushing

    def _platform(self) -> PlatformPusher | None:
        if self.platform_url is None or self._secrets is None:
            return None
        http = self._loop.http
        if self._pusher is None or self._pusher_http is not http:
            self._pusher = PlatformPusher(
                self.platform_url,
                self.operator_id,
                self._secrets,
                self.dialect,
                http,
                seq=self._seq,
            )
            self._pusher_http = http
        return self._pusher

    async def _push_station(self, info: ConnectorStatusInfo) -> None:
        if self.push_station_status:
            await self._send(
                Interface.NOTIFICATION_STATION_STATUS,
                NotificationStationStatusRequest(connector_status_info=info),
            )

    async def _send(
        self,
        interface: Interface,
        model: WireModel,
        *,
        retry: bool = False,
        raising: bool = False,
    ) -> Mapping[str, Any] | None:
        """POST one notification; the platform's answer, or ``None`` when it could not be
        delivered (``raising``: the error instead). ``retry``: keep trying for
        ``retry_for_s``."""
        pusher = self._platform()
        if pusher is None:
            if raising:
                raise RuntimeError(f"{self.operator_id} knows no platform to notify")
            return None
        delay, longest = self.retry_s
        deadline = time.monotonic() + self.retry_for_s
        while True:
            try:
                answer = await pusher.notify(interface, model)
            except (TcecError, httpx.HTTPError) as exc:
                self.push_failures[str(interface)] += 1
                refused = isinstance(exc, TcecError) and exc.ret in _NOT_RETRIED
                if raising:
                    raise
                if not retry or refused or time.monotonic() + delay > deadline:
                    log.warning(
                        "%s: %s not delivered to the platform (%s)",
                        self.operator_id,
                        interface,
                        type(exc).__name__,
                    )
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
                continue
            self.pushed[str(interface)] += 1
            return answer


def _real_time_of(run: ChargeRun, elapsed_s: float) -> datetime:
    """The real time at which ``elapsed_s`` simulated seconds of ``run`` have passed."""
    return run.started_at + timedelta(seconds=run.real_seconds(elapsed_s))


def _detail(period: PeriodCharge) -> ChargeDetail:
    return ChargeDetail(
        detail_start_time=_wire_time(period.start),
        detail_end_time=_wire_time(period.end),
        elec_price=period.elec_price,
        service_price=period.service_price,
        detail_power=period.energy_kwh,
        detail_elec_money=period.elec_money,
        detail_service_money=period.service_money,
    )
