"""Occasional feed faults, so that the platform's resilience is exercised on every run.

A :class:`FaultInjector` (one per operator server) decides, for each request of a station listing
(T/CEC ``query_stations_info``, the OCPI locations list), whether it goes wrong, with probability
``FaultConfig.probability``:

* ``http_500`` — the page answers HTTP 500 (through the servers' own ``fail_page_once`` /
  ``fail_offsets_once`` knobs);
* ``timeout`` — the answer comes only after ``FaultConfig.delay_s`` seconds, beyond the
  platform's HTTP timeout;
* ``malformed`` — one record of the page is broken on the wire: a required field left out or a
  value of the wrong type (for T/CEC the payload is decrypted, changed and sealed again, so the
  envelope itself stays valid).

A page that failed (500 or timeout) is served normally the next time it is asked with the same
parameters, so a client that retries gets it: "a page that fails once". Each fault is logged (the
operator, the kind, the page; never payloads or secrets) and counted in ``counts``; the last
events are kept in ``events``. With ``probability == 0`` nothing is ever drawn and the servers are
left untouched: a clean run for the ground-truth tests.

Decisions come from a ``random.Random`` seeded with (seed, operator): for the same sequence of
requests, the same faults.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import parse_qs

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargemesh.protocols.ocpi.transport import OCPI_VERSION
from chargemesh.protocols.tcec.codec import Ret, Secrets, open_response, seal_response
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.protocols.tcec.stations import QueryStationsInfoRequest
from chargemesh.protocols.tcec.wire import WireModel
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.tcec.server import TcecOperatorServer

__all__ = [
    "DEFAULT_KINDS",
    "FAULT_KINDS",
    "FaultConfig",
    "FaultEvent",
    "FaultInjector",
    "FaultKind",
    "corrupt_location",
    "corrupt_station",
    "ocpi_faults",
    "tcec_faults",
]

log = logging.getLogger(__name__)

FaultKind = Literal["http_500", "timeout", "malformed"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = ("http_500", "timeout", "malformed")

#: Relative weights of the kinds: timeouts are the rarest, they cost the platform the most.
DEFAULT_KINDS: Final[Mapping[FaultKind, float]] = {
    "http_500": 0.5,
    "malformed": 0.35,
    "timeout": 0.15,
}

_SLEEP_STEP_S: Final = 0.05
_EVENTS_KEPT: Final = 1000


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """``probability`` of a fault per listing request (0 = never); ``kinds`` their relative
    weights; ``delay_s`` how late a ``timeout`` answer comes; ``seed`` for the decisions."""

    probability: float = 0.0
    kinds: Mapping[FaultKind, float] = field(default_factory=lambda: dict(DEFAULT_KINDS))
    delay_s: float = 35.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError("the fault probability must be between 0 and 1")
        if self.delay_s < 0:
            raise ValueError("delay_s must not be negative")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {', '.join(sorted(unknown))}")
        if any(w < 0 for w in self.kinds.values()) or (
            self.probability > 0 and not any(w > 0 for w in self.kinds.values())
        ):
            raise ValueError("fault kind weights must be >= 0, and one of them > 0")

    @property
    def enabled(self) -> bool:
        return self.probability > 0


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One fault that was served: ``where`` names the page, ``record`` the broken record's id."""

    operator_id: str
    kind: FaultKind
    where: str
    record: str | None = None
    at: float = field(default_factory=time.time)


class FaultInjector:
    """The fault decisions and counts of one operator server (thread-safe)."""

    def __init__(self, operator_id: str, config: FaultConfig) -> None:
        self.operator_id = operator_id
        self.config = config
        self.counts: Counter[FaultKind] = Counter()
        self.events: deque[FaultEvent] = deque(maxlen=_EVENTS_KEPT)
        self._rng = random.Random(f"{config.seed}:{operator_id}")  # not for secrets
        self._kinds = [k for k in FAULT_KINDS if config.kinds.get(k, 0) > 0]
        self._weights = [config.kinds[k] for k in self._kinds]
        self._spared: set[Hashable] = set()
        self._lock = threading.Lock()
        self._closing = threading.Event()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def snapshot(self) -> Counter[FaultKind]:
        """A copy of ``counts``, taken under the lock."""
        with self._lock:
            return Counter(self.counts)

    def draw(self, key: Hashable) -> FaultKind | None:
        """The fault for the request identified by ``key`` (its page parameters), or ``None``.
        A page that just failed is spared once, so that its retry succeeds."""
        if not self.config.enabled or self._closing.is_set():
            return None
        with self._lock:
            if key in self._spared:
                self._spared.discard(key)
                return None
            if self._rng.random() >= self.config.probability:
                return None
            kind: FaultKind = self._rng.choices(self._kinds, self._weights)[0]
            if kind != "malformed":
                self._spared.add(key)
            return kind

    def pick(self, count: int) -> int:
        """A reproducible index in ``range(count)`` (which record to break)."""
        with self._lock:
            return self._rng.randrange(count)

    def record(self, kind: FaultKind, where: str, record: str | None = None) -> None:
        event = FaultEvent(self.operator_id, kind, where, record)
        with self._lock:
            self.counts[kind] += 1
            self.events.append(event)
        log.info(
            "sim fault: operator %s: %s at %s%s",
            self.operator_id,
            kind,
            where,
            f" (record {record})" if record else "",
        )

    async def delay(self) -> None:
        """Wait ``delay_s`` (a late answer), cut short when the simulator stops."""
        deadline = time.monotonic() + self.config.delay_s
        while not self._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(_SLEEP_STEP_S, left))

    def close(self) -> None:
        """No more faults; pending late answers are released at once."""
        self._closing.set()


# =============================================================================== broken records


def corrupt_station(record: dict[str, Any], choice: int) -> str:
    """Break a T/CEC ``StationInfo`` (JSON) in place; returns what was done. ``choice`` picks
    the way: a required field left out, or a coordinate that is not a number."""
    match choice % 3:
        case 0:
            record.pop("StationLat", None)
            return "StationLat missing"
        case 1:
            record["StationLng"] = "east"
            return "StationLng not a number"
        case _:
            record.pop("StationName", None)
            return "StationName missing"


def corrupt_location(record: dict[str, Any], choice: int) -> str:
    """Break an OCPI ``Location`` (JSON) in place; returns what was done."""
    match choice % 3:
        case 0:
            record.pop("coordinates", None)
            return "coordinates missing"
        case 1:
            record["last_updated"] = "yesterday"
            return "last_updated not a DateTime"
        case _:
            record.pop("address", None)
            return "address missing"


# =============================================================================== ASGI plumbing


class _Buffered:
    """Collects one response (start message and body) so that its body can be rewritten."""

    def __init__(self) -> None:
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))

    async def replay(self, send: Send, body: bytes) -> None:
        if self.start is None:  # the app sent nothing (it failed): nothing to replay
            return
        headers = [
            (k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"
        ]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({**self.start, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


async def _late(injector: FaultInjector, send: Send, message: Message) -> None:
    if message["type"] == "http.response.start":
        await injector.delay()
    await send(message)


# =============================================================================== T/CEC


@dataclass(slots=True)
class _TcecBox:
    """What the stations handler decided for the request being served."""

    kind: FaultKind | None = None
    caller: str | None = None
    where: str = ""


_TCEC_BOX: contextvars.ContextVar[_TcecBox | None] = contextvars.ContextVar(
    "chargemesh_sim_tcec_fault", default=None
)


class _TcecFaults:
    def __init__(
        self,
        server: TcecOperatorServer,
        injector: FaultInjector,
        platforms: Mapping[str, Secrets],
    ) -> None:
        self.server = server
        self.injector = injector
        self.platforms = dict(platforms)
        self.path = server.path(Interface.QUERY_STATIONS_INFO)
        self.inner = server.handlers[Interface.QUERY_STATIONS_INFO]
        self.app: ASGIApp = server.app

    def handler(self, caller: str, request: QueryStationsInfoRequest) -> WireModel:
        key = (caller, request.last_query_time, request.page_no, request.page_size)
        kind = self.injector.draw(key)
        where = f"page {request.page_no}"
        if kind == "http_500":
            self.injector.record(kind, where)
            self.server.fail_page_once.add(request.page_no)
        elif kind is not None:
            box = _TCEC_BOX.get()
            if box is not None:  # else not served through our app: nothing to apply it with
                box.kind, box.caller, box.where = kind, caller, where
                if kind == "timeout":
                    self.injector.record(kind, where)
        return self.inner(caller, request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        box = _TcecBox()
        token = _TCEC_BOX.set(box)
        buffered = _Buffered()
        try:

            async def deciding_send(message: Message) -> None:
                if box.kind == "timeout":
                    await _late(self.injector, send, message)
                elif box.kind == "malformed":
                    await buffered.send(message)
                else:
                    await send(message)

            await self.app(scope, receive, deciding_send)
        finally:
            _TCEC_BOX.reset(token)
        if box.kind == "malformed":
            await buffered.replay(send, self._corrupt(box, b"".join(buffered.chunks)))

    def _corrupt(self, box: _TcecBox, body: bytes) -> bytes:
        secrets = self.platforms.get(box.caller or "")
        if secrets is None:
            return body
        try:
            payload = open_response(body, secrets)
        except Exception:  # an error envelope: nothing to break
            return body
        stations = payload.get("StationInfos")
        if not isinstance(stations, list) or not stations:
            return body
        index = self.injector.pick(len(stations))
        station = stations[index]
        how = corrupt_station(station, self.injector.pick(3))
        self.injector.record("malformed", f"{box.where}: {how}", str(station.get("StationID")))
        return orjson.dumps(seal_response(Ret.OK, "", payload, secrets))


def tcec_faults(
    server: TcecOperatorServer,
    injector: FaultInjector,
    platforms: Mapping[str, Secrets],
) -> ASGIApp:
    """Install ``injector`` on ``server``'s station listing; returns the app to serve instead of
    ``server.app``. ``platforms`` are the secrets the server issued (to seal broken pages)."""
    faults = _TcecFaults(server, injector, platforms)
    server.handlers[Interface.QUERY_STATIONS_INFO] = faults.handler
    return faults


# =============================================================================== OCPI


class _OcpiFaults:
    def __init__(self, server: OcpiCpoServer, injector: FaultInjector) -> None:
        self.server = server
        self.injector = injector
        self.path = f"{server.base_path}/{OCPI_VERSION}/locations"
        self.app: ASGIApp = server.app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))

        def one(name: str) -> str:
            return str((query.get(name) or [""])[0])

        try:
            offset = int(one("offset") or 0)
        except ValueError:  # the server answers that one
            await self.app(scope, receive, send)
            return
        key = (one("date_from"), one("date_to"), offset, one("limit"))
        kind = self.injector.draw(key)
        where = f"offset {offset}"
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "http_500":
            self.injector.record(kind, where)
            self.server.fail_offsets_once.add(offset)
            await self.app(scope, receive, send)
        elif kind == "timeout":
            self.injector.record(kind, where)

            async def late_send(message: Message) -> None:
                await _late(self.injector, send, message)

            await self.app(scope, receive, late_send)
        else:
            buffered = _Buffered()
            await self.app(scope, receive, buffered.send)
            await buffered.replay(send, self._corrupt(where, b"".join(buffered.chunks)))

    def _corrupt(self, where: str, body: bytes) -> bytes:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        data = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(data, list) or not data:
            return body
        index = self.injector.pick(len(data))
        location = data[index]
        how = corrupt_location(location, self.injector.pick(3))
        self.injector.record("malformed", f"{where}: {how}", str(location.get("id")))
        return orjson.dumps(answer)


def ocpi_faults(server: OcpiCpoServer, injector: FaultInjector) -> ASGIApp:
    """Install ``injector`` on ``server``'s locations list; returns the app to serve instead of
    ``server.app``."""
    return _OcpiFaults(server, injector)
