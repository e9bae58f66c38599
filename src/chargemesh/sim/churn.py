"""Status churn: connectors (T/CEC) and EVSEs (OCPI) change status all day, busier by day.

The model. Every simulated status is a T/CEC ``Status`` code — 1 idle, 2 plugged in and not
charging, 3 charging, 4 reserved, 255 faulted, 0 offline — held in the feeds' ``uint8`` arrays
(an OCPI feed shows them as EVSE statuses, see :data:`OCPI_OF_CODE`). A change moves one unit
(a T/CEC connector or an OCPI EVSE) along :data:`TRANSITIONS`: idle → charging (sometimes first
plugged in, or reserved), charging → idle (or left plugged in), rarely idle → faulted/offline and
back. Units are picked uniformly across the whole country and accepted with a per-status weight,
so that the long-run mix matches :data:`STEADY_STATE` (≈ 70 % idle, 17 % charging, 5 % faulted …)
while every pick is a real change.

The pace. :class:`Churn` makes ``rate × rhythm(now)`` changes per second on average (Poisson per
tick), where :func:`rhythm` is a smooth daily curve of mean 1, lowest (0.4) at 06:00 and highest
(1.6) at 18:00 China time. :meth:`Churn.step` makes exactly ``n`` changes; with the same seed and
the same calls, the same changes.

Pushes. For an operator with a pusher (the runner gives one to the operators with the
``realtime`` capability when the platform's URL is known) each change is also pushed: T/CEC
``notification_stationStatus`` (:class:`TcecStatusPush`), OCPI EVSE PATCH
(:class:`OcpiStatusPush`, once the platform has registered with that CPO). Pushes run on the
churn's own thread and event loop, in per-operator queues (bounded: when the platform cannot keep
up, pushes are dropped and counted; the served status has changed anyway, so polling finds it);
changes of one unit are pushed in order. After a failed push the operator's pushes pause for a
while (doubling up to a minute), so an absent platform is not hammered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from chargemesh.protocols.ocpi.client import OcpiPeerError
from chargemesh.protocols.ocpi.enums import Status
from chargemesh.protocols.tcec.codec import CHINA_TZ, Ret, Secrets, SeqCounter, TcecError
from chargemesh.protocols.tcec.stations import ConnectorStatusInfo
from chargemesh.protocols.tcec.wire import Dialect
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.tcec.push import PlatformPusher

__all__ = [
    "CODES",
    "OCPI_OF_CODE",
    "STEADY_STATE",
    "TRANSITIONS",
    "Change",
    "Churn",
    "ChurnFeed",
    "OcpiStatusPush",
    "PushFn",
    "PushRejected",
    "TcecStatusPush",
    "initial_statuses",
    "rhythm",
]

log = logging.getLogger(__name__)

OFFLINE, IDLE, PLUGGED, CHARGING, RESERVED, FAULTED = 0, 1, 2, 3, 4, 255
#: The status codes the simulator uses (T/CEC ``Status``).
CODES: Final = (IDLE, PLUGGED, CHARGING, RESERVED, FAULTED, OFFLINE)

#: The OCPI EVSE status shown for each code.
OCPI_OF_CODE: Final[Mapping[int, Status]] = {
    IDLE: Status.AVAILABLE,
    PLUGGED: Status.BLOCKED,
    CHARGING: Status.CHARGING,
    RESERVED: Status.RESERVED,
    FAULTED: Status.OUTOFORDER,
    OFFLINE: Status.INOPERATIVE,
}

#: Where a change leads from each status, with its probability.
TRANSITIONS: Final[Mapping[int, Mapping[int, float]]] = {
    IDLE: {CHARGING: 0.74, PLUGGED: 0.15, RESERVED: 0.04, FAULTED: 0.045, OFFLINE: 0.025},
    PLUGGED: {CHARGING: 0.8, IDLE: 0.2},
    CHARGING: {IDLE: 0.8, PLUGGED: 0.2},
    RESERVED: {CHARGING: 0.7, IDLE: 0.3},
    FAULTED: {IDLE: 0.9, OFFLINE: 0.1},
    OFFLINE: {IDLE: 0.95, FAULTED: 0.05},
}

#: The long-run share of each status under churn (and of the initial statuses).
STEADY_STATE: Final[Mapping[int, float]] = {
    IDLE: 0.70,
    PLUGGED: 0.04,
    CHARGING: 0.17,
    RESERVED: 0.01,
    FAULTED: 0.05,
    OFFLINE: 0.03,
}

RHYTHM_AMPLITUDE: Final = 0.6
RHYTHM_PEAK_HOUR: Final = 18.0
DEFAULT_TICK_S: Final = 0.1
_PUSH_PAUSE_S: Final = (2.0, 60.0)  # first pause after a failure, longest pause


def _index(codes: Sequence[int]) -> npt.NDArray[np.int8]:
    table = np.full(256, -1, dtype=np.int8)
    for i, code in enumerate(codes):
        table[code] = i
    return table


_STATE_OF_CODE: Final = _index(CODES)


def _acceptance() -> npt.NDArray[np.float64]:
    """Per-status pick weights (max 1) that make :data:`STEADY_STATE` the long-run mix: with
    uniform picks accepted with weight q, a state's share is ∝ (its share of the jump chain) / q."""
    n = len(CODES)
    jump = np.zeros((n, n))
    for code, row in TRANSITIONS.items():
        for to, p in row.items():
            jump[CODES.index(code), CODES.index(to)] = p
    values, vectors = np.linalg.eig(jump.T)
    mu = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    mu = mu / mu.sum()
    wanted = np.array([STEADY_STATE[c] for c in CODES])
    q = mu / wanted
    return np.asarray(q / q.max(), dtype=np.float64)


_ACCEPT: Final = _acceptance()
_NEXT_CODES: Final = tuple(tuple(TRANSITIONS[c]) for c in CODES)
_NEXT_CUM: Final = tuple(np.cumsum(list(TRANSITIONS[c].values())) for c in CODES)


def initial_statuses(count: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """``count`` status codes drawn from :data:`STEADY_STATE`."""
    codes = np.array(list(STEADY_STATE), dtype=np.uint8)
    shares = np.array(list(STEADY_STATE.values()))
    return np.asarray(rng.choice(codes, size=count, p=shares / shares.sum()), dtype=np.uint8)


def rhythm(at: datetime) -> float:
    """The daily activity factor at ``at`` (aware): mean 1, 0.4 at 06:00, 1.6 at 18:00 China
    time, a cosine in between."""
    local = at.astimezone(CHINA_TZ)
    hour = local.hour + local.minute / 60 + local.second / 3600
    return 1.0 + RHYTHM_AMPLITUDE * math.cos(2 * math.pi * (hour - RHYTHM_PEAK_HOUR) / 24)


def _china_now() -> datetime:
    return datetime.now(CHINA_TZ)


class ChurnFeed(Protocol):
    """What the churn changes: one operator's status units (connectors or EVSEs)."""

    @property
    def operator_id(self) -> str: ...

    @property
    def status(self) -> npt.NDArray[np.uint8]:
        """The live status code of every unit (read by the churn; written through
        :meth:`set_unit_status`)."""
        ...

    @property
    def followers(self) -> npt.NDArray[np.bool_]:
        """Units that only follow another feed's unit (an aggregator's copies): never picked."""
        ...

    @property
    def held(self) -> npt.NDArray[np.bool_]:
        """Units where a simulated car is plugged in (the charging simulation sets their
        status): never picked."""
        ...

    def mirrors(self, unit: int) -> Sequence[tuple[ChurnFeed, int]]:
        """The units of other feeds that take this unit's status whenever it changes."""
        ...

    def set_unit_status(self, unit: int, code: int, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class Change:
    operator_id: str
    unit: int
    old: int
    new: int
    at: datetime


class PushRejected(Exception):
    """The platform answered but refused this one change (e.g. a connector it does not know
    yet): counted, and the operator's other pushes go on."""


#: Pushes one change to the platform: (HTTP client, unit, new code, when). ``False`` when it
#: could not be pushed for want of a connection (not an error); :class:`PushRejected` when the
#: platform refused that change; anything else means the connection fails (pushes pause).
PushFn = Callable[[httpx.AsyncClient, int, int, datetime], Awaitable[bool]]


class TcecStatusPush:
    """``notification_stationStatus`` from one T/CEC operator to the platform.

    ``connector_id(unit)`` names the connector; ``secrets`` are the ones the platform issued to
    the operator (the config's ``[operators.inbound]``); ``platform_url`` is the platform's T/CEC
    base (``…/tcec/v1/``); ``seq`` the envelopes' Seq counter (share it with the operator's other
    pushes, so that two never carry the same Seq in the same second)."""

    def __init__(
        self,
        operator_id: str,
        dialect: Dialect,
        secrets: Secrets,
        platform_url: str,
        connector_id: Callable[[int], str],
        *,
        seq: SeqCounter | None = None,
    ) -> None:
        self.operator_id = operator_id
        self.dialect = dialect
        self.platform_url = platform_url
        self._secrets = secrets
        self._connector_id = connector_id
        self._seq = seq
        self._pusher: PlatformPusher | None = None
        self._http: httpx.AsyncClient | None = None

    async def __call__(self, http: httpx.AsyncClient, unit: int, code: int, at: datetime) -> bool:
        if self._pusher is None or self._http is not http:
            self._pusher = PlatformPusher(
                self.platform_url,
                self.operator_id,
                self._secrets,
                self.dialect,
                http,
                seq=self._seq,
            )
            self._http = http
        info = ConnectorStatusInfo(connector_id=self._connector_id(unit), status=code)
        try:
            await self._pusher.push_status(info)
        except TcecError as exc:
            if exc.ret in (Ret.MALFORMED, Ret.INVALID_PARAMETER):
                raise PushRejected(str(exc)) from None
            raise
        return True


class OcpiStatusPush:
    """EVSE status PATCH from one OCPI CPO to the platform, once the platform registered with it.

    ``evse_of(unit)`` gives (location id, EVSE uid). The CPO's own client does the call."""

    def __init__(self, cpo: OcpiCpoServer, evse_of: Callable[[int], tuple[str, str]]) -> None:
        self.cpo = cpo
        self._evse_of = evse_of

    async def __call__(self, http: httpx.AsyncClient, unit: int, code: int, at: datetime) -> bool:
        if not self.cpo.registered:
            return False
        location_id, evse_uid = self._evse_of(unit)
        try:
            await self.cpo.push_evse_status(location_id, evse_uid, OCPI_OF_CODE[code], at)
        except OcpiPeerError as exc:
            if exc.http_status is not None and not exc.unauthorized and exc.http_status < 500:
                raise PushRejected(str(exc)) from None
            raise
        return True


@dataclass(slots=True)
class _Lane:
    """One operator's pushes: queues (one per worker, a unit always goes to the same one) and
    the pause after a failure."""

    push: PushFn
    queues: list[asyncio.Queue[tuple[int, int, datetime]]]
    paused_until: float = 0.0
    pause_s: float = _PUSH_PAUSE_S[0]
    failing: bool = False


class Churn:
    """Status churn over ``feeds`` at ``rate`` changes/s (daily mean), optionally pushed.

    ``pushers`` maps an operator id to its :data:`PushFn`. ``clock`` gives "now" (aware) for the
    changes' timestamps and the rhythm; ``daily_rhythm=False`` keeps the pace flat. ``stats``
    counts ``changes``, ``mirrored`` (copies following an original), ``pushed``,
    ``push_rejected`` (the platform refused that change), ``push_failed`` (unreachable, or it
    refused us: the operator's pushes pause), ``push_dropped`` (queue full), ``push_skipped``
    (paused after a failure, or no connection yet).
    """

    def __init__(
        self,
        feeds: Sequence[ChurnFeed],
        *,
        rate: float,
        seed: int = 0,
        pushers: Mapping[str, PushFn] | None = None,
        clock: Callable[[], datetime] = _china_now,
        daily_rhythm: bool = True,
        tick_s: float = DEFAULT_TICK_S,
        push_workers: int = 4,
        push_queue: int = 500,
        http_timeout_s: float = 10.0,
    ) -> None:
        if rate < 0 or tick_s <= 0 or push_workers < 1 or push_queue < 1:
            raise ValueError("rate must be >= 0; tick_s, push_workers, push_queue positive")
        self.feeds = list(feeds)
        self.rate = rate
        self.pushers = dict(pushers or {})
        self.stats: Counter[str] = Counter()
        self._clock = clock
        self._daily_rhythm = daily_rhythm
        self._tick_s = tick_s
        self._push_workers = push_workers
        self._push_queue = push_queue
        self._http_timeout_s = http_timeout_s
        self._rng = np.random.default_rng(seed)
        sizes = [len(feed.status) for feed in self.feeds]
        self._offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.units = int(self._offsets[-1])
        self._lock = threading.Lock()  # step() against itself (the thread and a test)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._lanes: dict[str, _Lane] = {}
        self._http: httpx.AsyncClient | None = None

    # ------------------------------------------------------------------ the model

    def pace(self, at: datetime | None = None) -> float:
        """Changes per second at ``at`` (default now)."""
        if not self._daily_rhythm:
            return self.rate
        return self.rate * rhythm(at or self._clock())

    def step(self, count: int, at: datetime | None = None) -> list[Change]:
        """Make exactly ``count`` changes, stamped ``at`` (default now), and mirror them onto
        their followers; all of them (mirrors included) are returned and, when the churn is
        running, queued for pushing."""
        if count <= 0 or self.units == 0 or all(f.followers.all() for f in self.feeds):
            return []
        when = at or self._clock()
        changes: list[Change] = []
        made = 0
        with self._lock:
            rng = self._rng
            while made < count:
                batch = max(16, 2 * (count - made))
                picks = rng.integers(0, self.units, size=batch)
                draws = rng.random(size=(batch, 2))
                for g, (accept_draw, next_draw) in zip(picks.tolist(), draws.tolist(), strict=True):
                    f = int(np.searchsorted(self._offsets, g, side="right")) - 1
                    feed = self.feeds[f]
                    unit = g - int(self._offsets[f])
                    if feed.followers[unit] or feed.held[unit]:
                        continue
                    old = int(feed.status[unit])
                    state = int(_STATE_OF_CODE[old])
                    if state < 0:  # a code we do not model: bring it back to idle
                        new = IDLE
                    elif accept_draw >= _ACCEPT[state]:
                        continue
                    else:
                        row = int(np.searchsorted(_NEXT_CUM[state], next_draw, side="right"))
                        new = _NEXT_CODES[state][min(row, len(_NEXT_CODES[state]) - 1)]
                    feed.set_unit_status(unit, new, when)
                    changes.append(Change(feed.operator_id, unit, old, new, when))
                    made += 1
                    for other, twin in feed.mirrors(unit):
                        if other.held[twin]:  # a simulated car is at the copy
                            continue
                        before = int(other.status[twin])
                        other.set_unit_status(twin, new, when)
                        changes.append(Change(other.operator_id, twin, before, new, when))
                        self.stats["mirrored"] += 1
                    if made == count:
                        break
            self.stats["changes"] += made
        self._queue_pushes(changes)
        return changes

    # ------------------------------------------------------------------ pushes

    def _queue_pushes(self, changes: Sequence[Change]) -> None:
        loop = self._loop
        if loop is None or not self._lanes:
            return
        wanted = [c for c in changes if c.operator_id in self._lanes]
        if not wanted:
            return
        if threading.current_thread() is self._thread:
            self._enqueue(wanted)
        else:
            with contextlib.suppress(RuntimeError):  # the loop has just closed: churn stopped
                loop.call_soon_threadsafe(self._enqueue, wanted)

    def _enqueue(self, changes: Sequence[Change]) -> None:
        now = time.monotonic()
        for change in changes:
            lane = self._lanes.get(change.operator_id)
            if lane is None:  # stopping
                return
            if lane.paused_until > now:
                self.stats["push_skipped"] += 1
                continue
            queue = lane.queues[change.unit % len(lane.queues)]
            try:
                queue.put_nowait((change.unit, change.new, change.at))
            except asyncio.QueueFull:
                self.stats["push_dropped"] += 1

    async def _push_worker(
        self, operator_id: str, lane: _Lane, queue: asyncio.Queue[tuple[int, int, datetime]]
    ) -> None:
        assert self._http is not None
        while True:
            unit, code, at = await queue.get()
            if lane.paused_until > time.monotonic():
                self.stats["push_skipped"] += 1
                continue
            try:
                pushed = await lane.push(self._http, unit, code, at)
            except PushRejected:
                self.stats["push_rejected"] += 1
                continue
            except Exception as exc:  # the platform is unreachable or refuses us
                self.stats["push_failed"] += 1
                if lane.paused_until <= time.monotonic():
                    log.log(
                        logging.DEBUG if lane.failing else logging.WARNING,
                        "sim churn: pushes from %s to the platform fail (%s); retrying in %.0f s",
                        operator_id,
                        type(exc).__name__,
                        lane.pause_s,
                    )
                    lane.failing = True
                    lane.paused_until = time.monotonic() + lane.pause_s
                    lane.pause_s = min(lane.pause_s * 2, _PUSH_PAUSE_S[1])
                continue
            if pushed:
                self.stats["pushed"] += 1
                lane.pause_s = _PUSH_PAUSE_S[0]
                if lane.failing:
                    lane.failing = False
                    log.info("sim churn: pushes from %s work again", operator_id)
            else:
                self.stats["push_skipped"] += 1

    # ------------------------------------------------------------------ life cycle

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Churn:
        """Run the churn (and its pushes) on a background thread."""
        if self._thread is not None:
            raise RuntimeError("the churn was already started")
        self._thread = threading.Thread(target=self._run, name="sim-churn", daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._http = httpx.AsyncClient(timeout=self._http_timeout_s)
        workers: list[asyncio.Task[None]] = []
        for operator_id, push in self.pushers.items():
            queues: list[asyncio.Queue[tuple[int, int, datetime]]] = [
                asyncio.Queue(self._push_queue) for _ in range(self._push_workers)
            ]
            lane = _Lane(push, queues)
            self._lanes[operator_id] = lane
            workers += [
                asyncio.create_task(self._push_worker(operator_id, lane, q)) for q in queues
            ]
        self._started.set()
        try:
            await self._tick_loop(self._stop)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self._lanes.clear()
            self._loop = None
            await self._http.aclose()
            await asyncio.gather(
                *(self._close_pusher(p) for p in self.pushers.values()), return_exceptions=True
            )

    @staticmethod
    async def _close_pusher(push: PushFn) -> None:
        if isinstance(push, OcpiStatusPush):
            try:
                await push.cpo.close()
            except Exception as exc:  # a client made on another loop: nothing left to do
                log.debug("sim churn: closing %s's client: %s", push.cpo.network.party, exc)

    async def _tick_loop(self, stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._tick_s)
            now = time.monotonic()
            expected = self.pace() * (now - last)
            last = now
            with self._lock:
                count = int(self._rng.poisson(expected)) if expected > 0 else 0
            if count:
                self.step(count)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop changing and pushing, and wait for the thread (idempotent)."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or not thread.is_alive():
            return
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("sim churn: the thread did not stop in %.0f s", timeout_s)

    def __enter__(self) -> Churn:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
