"""A simulated charge point's link to the CSMS: connect, boot, heartbeat, status, and the
transaction messages it has queued, over and over for as long as it runs.

* **Connect** to ``{url}/{id}`` with the version's subprotocol and HTTP Basic auth (id and
  password). A refused handshake (401 before the charger is registered, a CSMS not up yet)
  backs off exponentially from ``backoff_s[0]`` to at most ``backoff_s[1]`` seconds, each wait
  drawn between half and all of that, so thousands of chargers do not come back in step.
* **Boot** (vendor, model, serial, firmware): ``Pending``/``Rejected`` → wait the interval the
  CSMS gave, boot again; ``Accepted`` → heartbeats at its interval, a StatusNotification per
  connector, then the queued transaction messages in order.
* **Drop** (:meth:`Connection.drop`): the connection is cut without a close handshake, as a
  lost mobile link would be; the charger stays offline for a while and queues what happens
  meanwhile.
* **Firmware**: it boots with the version it runs (:attr:`Connection.firmware`, at first the
  registered one); a reboot may come back with another (a firmware update, :mod:`.firmware`).
  :meth:`Connection.go_silent` leaves it offline for good until :meth:`Connection.power_cycle`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, cast

from ocpp.exceptions import OCPPError  # type: ignore[import-untyped, unused-ignore]
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from chargemesh.sim.country.own import OwnCharger
from chargemesh.sim.peers.ocpp.dialect import Dialect, Link
from chargemesh.sim.peers.ocpp.transaction import Outbox, TxMessage, ocpp_time
from chargemesh.sim.peers.ocpp.v16 import Dialect16
from chargemesh.sim.peers.ocpp.v201 import Dialect201

if TYPE_CHECKING:
    from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint

__all__ = ["DEFAULT_BACKOFF_S", "Connection", "dialect_for"]

log = logging.getLogger(__name__)

#: First and longest wait between connection attempts (seconds).
DEFAULT_BACKOFF_S: Final = (1.0, 30.0)
DEFAULT_HEARTBEAT_S: Final = 300
_JITTER: Final = random.Random()
_ERRORS: Final = (OSError, TimeoutError, WebSocketException, OCPPError)


def dialect_for(version: str) -> Dialect:
    if version == "1.6":
        return Dialect16()
    if version == "2.0.1":
        return Dialect201()
    raise ValueError(f"OCPP {version!r} is not spoken by the simulated chargers")


class Connection:
    """The connection half of a simulated charge point (see the module docstring). Subclasses
    give it connectors (:meth:`connector_states`) and react to commands."""

    def __init__(
        self,
        charger: OwnCharger,
        url: str,
        *,
        backoff_s: tuple[float, float] = DEFAULT_BACKOFF_S,
        response_timeout_s: float = 30.0,
        reboot_s: float = 1.0,
        local_addr: tuple[str, int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.charger = charger
        self.id = charger.id
        self.url = f"{url.rstrip('/')}/{charger.id}"
        self.dialect = dialect_for(charger.ocpp)
        self.backoff_s = backoff_s
        self.response_timeout_s = response_timeout_s
        self.reboot_s = reboot_s
        self.local_addr = local_addr
        self.outbox = Outbox()
        #: send the last acknowledged transaction message once more after the next reconnect
        self.replay_acknowledged = False
        self.heartbeat_s: float = DEFAULT_HEARTBEAT_S
        self.attempts = 0
        self.refusals: dict[int, int] = {}
        self.boots = 0
        self.replays: list[TxMessage] = []  # acknowledged messages sent once more
        self.last_error: str | None = None
        self.waits: list[float] = []  # the back-off waits so far (the last 50)
        self._rng = rng or _JITTER  # for jitter only: nothing to reproduce
        self._auth = base64.b64encode(f"{charger.id}:{charger.password}".encode()).decode()
        self._ws: ClientConnection | None = None
        self._link: Link | None = None
        self._online = False
        self._booted = asyncio.Event()
        self._boot_reason = "PowerUp"
        self._firmware = charger.firmware
        self._fallback_firmware: str | None = None  # what a power cycle brings back after silence
        self._hold_until = 0.0
        self._wake = asyncio.Event()  # ends a hold early (a power cycle)
        self._stopping = False
        self._announced: dict[int, str] = {}
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._run_task: asyncio.Task[Any] | None = None

    # ------------------------------------------------------------------ for subclasses

    def connector_states(self) -> dict[int, str]:
        """Connector number → its state now (1.6 status names)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state

    @property
    def online(self) -> bool:
        """Connected and booted (Accepted)."""
        return self._online

    async def wait_online(self, timeout_s: float | None = 10.0) -> None:
        """Until connected and booted (``None``: however long that takes)."""
        await asyncio.wait_for(self._booted.wait(), timeout_s)

    @property
    def firmware(self) -> str:
        """The firmware version it runs (and boots with)."""
        return self._firmware

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        """Connect, serve, reconnect, until :meth:`stop` (run as a task; :meth:`aclose` ends
        it and waits)."""
        self._run_task = asyncio.current_task()
        failures = 0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            hold = self._hold_until - loop.time()
            if hold > 0:
                await self._hold(hold)
                continue
            ws = await self._connect()
            if ws is None:
                failures += 1
                await self._back_off(failures)
                continue
            booted = await self._session(ws)
            if booted:
                failures = 0
            elif not self._stopping and self._hold_until <= loop.time():
                failures += 1
                await self._back_off(failures)

    def stop(self) -> None:
        """Stop reconnecting and cut the connection (:meth:`run` ends soon after)."""
        self._stopping = True
        if self._ws is not None:
            self._abort(self._ws)

    def abandon(self) -> None:
        """The charger went on through another link: this connection stays open until the
        CSMS closes it (a stale socket it still holds) and is never opened again."""
        self._stopping = True

    async def aclose(self) -> None:
        """Stop and wait until :meth:`run` has ended (before closing the event loop)."""
        self.stop()
        task = self._run_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _hold(self, seconds: float) -> None:
        """Stay off ``seconds`` (for ever if infinite) unless :meth:`power_cycle` wakes it."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), None if math.isinf(seconds) else seconds)

    async def _back_off(self, failures: int) -> None:
        first, most = self.backoff_s
        wait = min(most, first * 2 ** min(failures - 1, 30)) * self._rng.uniform(0.5, 1.0)
        self.waits = [*self.waits[-49:], wait]
        await asyncio.sleep(wait)

    async def _connect(self) -> ClientConnection | None:
        self.attempts += 1
        extra: dict[str, Any] = {"local_addr": self.local_addr} if self.local_addr else {}
        try:
            ws = await connect(
                self.url,
                subprotocols=[Subprotocol(self.dialect.subprotocol)],
                additional_headers={"Authorization": f"Basic {self._auth}"},
                open_timeout=10,
                ping_interval=None,  # heartbeats say it is alive
                compression=None,  # small messages; a deflate context costs ~50 KB a link
                close_timeout=2,
                **extra,
            )
        except InvalidStatus as e:
            code = e.response.status_code
            self.refusals[code] = self.refusals.get(code, 0) + 1
            self.last_error = f"HTTP {code}"
            return None
        except (OSError, TimeoutError, InvalidHandshake) as e:
            self.last_error = f"{type(e).__name__}: {e}"
            return None
        if ws.subprotocol != self.dialect.subprotocol:
            self.last_error = f"the CSMS chose subprotocol {ws.subprotocol!r}"
            await ws.close()
            return None
        return ws

    async def _session(self, ws: ClientConnection) -> bool:
        """Serve one connection until it closes; whether the charger booted on it."""
        link = self.dialect.link(cast("SimChargePoint", self), ws)
        self._ws, self._link = ws, link
        receiver = asyncio.create_task(link.start())
        serving = asyncio.create_task(self._serve(link))
        booted_before = self.boots
        try:
            await asyncio.wait({receiver, serving}, return_when=asyncio.FIRST_COMPLETED)
        except GeneratorExit:  # closed with its event loop gone: nothing left to clean up on it
            self._offline()
            raise
        except BaseException:
            await self._end_session(ws, receiver, serving)
            raise
        await self._end_session(ws, receiver, serving)
        if serving.done() and not serving.cancelled() and serving.exception() is not None:
            self.last_error = f"{type(serving.exception()).__name__}: {serving.exception()}"
        return self.boots > booted_before

    def _offline(self) -> None:
        self._online = False
        self._booted.clear()
        self._ws = self._link = None

    async def _end_session(self, ws: ClientConnection, *tasks: asyncio.Task[Any]) -> None:
        self._offline()
        every = (*tasks, *self._session_tasks)
        for task in every:
            task.cancel()
        await asyncio.gather(*every, return_exceptions=True)
        self._session_tasks.clear()
        with contextlib.suppress(*_ERRORS):
            await ws.close()

    async def _serve(self, link: Link) -> None:
        while True:
            result = await link.call(
                self.dialect.boot(self.charger, self._firmware, self._boot_reason),
                suppress=False,
            )
            if result.status == "Accepted":
                break
            await asyncio.sleep(max(1.0, float(result.interval)) * self._rng.uniform(0.8, 1.2))
        self.heartbeat_s = float(result.interval) or DEFAULT_HEARTBEAT_S
        self._boot_reason = "PowerUp"
        self.boots += 1
        self._online = True
        self._booted.set()
        self._announced.clear()
        for connector in self.connector_states():
            self.announce(connector)
        self._session_task(self._heartbeats(link))
        await self._send_queued(link)

    def _session_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._session_tasks.add(task)
        task.add_done_callback(self._session_tasks.discard)

    async def _heartbeats(self, link: Link) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            with contextlib.suppress(OCPPError, TimeoutError):
                await link.call(self.dialect.heartbeat(), suppress=False)

    # ------------------------------------------------------------------ messages

    def announce(self, connector: int) -> None:
        """Tell the CSMS the connector's state if it changed on the wire (online only; a charger
        coming back sends every connector's state after its boot)."""
        link = self._link
        if not self._online or link is None:
            return
        state = self.connector_states()[connector]
        wire = self.dialect.wire_status(state)
        if self._announced.get(connector) == wire:
            return
        self._announced[connector] = wire
        at = ocpp_time(datetime.now(UTC))
        payload = self.dialect.status(connector, state, at)

        async def send() -> None:
            with contextlib.suppress(OCPPError, TimeoutError):
                await link.call(payload, suppress=False)

        self._session_task(send())

    async def send(self, payload: Any) -> Any | None:
        """Send a CALL once the charger is online (waiting for its boot if need be); the answer,
        or ``None`` when the CSMS refused it, did not answer or the connection was lost."""
        await self._booted.wait()
        link = self._link
        assert link is not None  # booted on it
        try:
            return await link.call(payload, suppress=False)
        except _ERRORS:  # a lost connection is a WebSocketException
            return None

    def queue(self, message: TxMessage) -> None:
        """Keep a transaction message for the CSMS (sent now if online, else after a
        reconnect)."""
        self.outbox.put(message)

    async def _send_queued(self, link: Link) -> None:
        if self.replay_acknowledged and self.outbox.last_acknowledged is not None:
            self.replay_acknowledged = False
            again = self.outbox.last_acknowledged
            payload = self.dialect.message(again)
            unsafe = self.dialect.version == "1.6" and again.stage == "start"  # not idempotent
            if payload is not None and not unsafe:
                with contextlib.suppress(OCPPError, TimeoutError):
                    await link.call(payload, suppress=False)
                    self.replays.append(again)
        while True:
            message = await self.outbox.head()
            payload = self.dialect.message(message)
            result: Any = None
            if payload is not None:
                try:
                    result = await link.call(payload, suppress=False)
                except TimeoutError:
                    continue  # no answer: send it again
                except OCPPError as e:  # the CSMS refused it: it will not take it later either
                    log.warning("%s: the CSMS refused %s: %s", self.id, type(payload).__name__, e)
            self.outbox.acknowledge(message, result)
            message.tx.note(message)
            self.dialect.on_result(message, result)
            self.acknowledged(message)

    def acknowledged(self, message: TxMessage) -> None:
        """A queued message was answered (subclasses react, e.g. to a deauthorized start)."""

    # ------------------------------------------------------------------ faults

    def drop(self, offline_s: float = 0.0) -> None:
        """Lose the connection now (no close handshake) and stay offline ``offline_s`` seconds."""
        self._hold_until = asyncio.get_running_loop().time() + offline_s
        self._online = False
        self._booted.clear()
        if self._ws is not None:
            self._abort(self._ws)

    async def reboot(
        self, drain_s: float = 5.0, *, reason: str = "RemoteReset", firmware: str | None = None
    ) -> None:
        """Close the connection as a reboot does, come back after ``reboot_s`` and boot again
        (2.0.1 boot ``reason``) running ``firmware`` (default: the same), after giving queued
        messages ``drain_s`` to go out."""
        if self._online:
            await self.outbox.drained(drain_s)
        self._boot_reason = reason
        if firmware is not None:
            self._firmware = firmware
        self._hold_until = asyncio.get_running_loop().time() + self.reboot_s
        self._online = False
        self._booted.clear()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(*_ERRORS):
                await ws.close()

    def go_silent(self, fallback_firmware: str) -> None:
        """Lose the connection and never come back by itself (firmware that broke its link);
        :meth:`power_cycle` brings it back running ``fallback_firmware``."""
        self._fallback_firmware = fallback_firmware
        self.drop(math.inf)

    def power_cycle(self) -> None:
        """Switch it off and on: the connection is lost and it boots again after ``reboot_s``
        (reason ``PowerUp``), even when it had gone silent — then with the firmware it had
        before (its boot loader falls back)."""
        if self._fallback_firmware is not None:
            self._firmware, self._fallback_firmware = self._fallback_firmware, None
        self._boot_reason = "PowerUp"
        self.drop(self.reboot_s)
        self._wake.set()

    @staticmethod
    def _abort(ws: ClientConnection) -> None:
        transport = getattr(ws, "transport", None)
        if transport is not None:
            transport.abort()
