"""The load side of ``bench_csms.py``: many lightweight OCPP 1.6J chargers in one process, and a
bare ``ocpp``-library CSMS to compare the platform's with.

A charger here is no simulator charge point: a websocket with the charger's Basic-auth
password that sends BootNotification, Heartbeat, MeterValues and StatusNotification as raw
OCPP-J arrays and awaits each CALLRESULT (one call at a time per charger, as the protocol
wants). A worker process holds a share of the fleet, spread over several 127.0.0.x source
addresses so a reconnect storm of 20,000 does not run out of ephemeral ports, and obeys the
bench's commands through a pipe: open the fleet, run traffic, drop and reconnect everyone at
once, wait for the Pending ones to be accepted, close.

    python bench/csms_load.py bare PORT [CERT KEY]

runs the bare CSMS: ``websockets.serve`` + ``ocpp.v16.ChargePoint`` whose handlers answer and
do nothing else (no Basic auth check, no store), on uvloop like ``chargemesh serve``, with the
platform's transport settings (60 s pings, 256 KiB frames) and inline schema validation."""

# mypy: disallow-untyped-decorators=False
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import resource
import ssl
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

SUBPROTOCOL = "ocpp1.6"
BOOT = json.dumps(
    {"chargePointVendor": "Ymir", "chargePointModel": "LC-600", "firmwareVersion": "3.1.0"},
    separators=(",", ":"),
)
HEARTBEAT_EVERY = 4  # a Heartbeat after three MeterValues
OPEN_TRIES = 30  # a charger that cannot connect retries (with a short back-off) this often


def raise_fd_limit() -> int:
    """This process's open-file limit raised to the hard limit; the new limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def source_ips(n: int) -> list[str]:
    """127.0.0.2 … 127.0.0.(n+1): the fleet's source addresses (all on the loopback)."""
    return [f"127.0.0.{2 + k}" for k in range(n)]


def wire_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def meter_values(wh: int) -> str:
    reading = {
        "timestamp": wire_now(),
        "sampledValue": [
            {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "118000", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "57", "measurand": "SoC", "unit": "Percent"},
        ],
    }
    return json.dumps({"connectorId": 1, "meterValue": [reading]}, separators=(",", ":"))


def status_notification(status: str) -> str:
    return json.dumps(
        {"connectorId": 1, "errorCode": "NoError", "status": status, "timestamp": wire_now()},
        separators=(",", ":"),
    )


class CallError(Exception):
    """The CSMS answered a call with a CALLERROR."""


@dataclass(slots=True, eq=False)
class Charger:
    """One charger's connection and where its boot stands."""

    id: str
    auth: str  # the Authorization header
    ws: ClientConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    seq: int = 0
    pending: int = 0  # Pending answers since it last connected
    accepted_at: float | None = None
    retry: asyncio.Task[None] | None = None

    async def open(self, url: str, context: ssl.SSLContext | None, ip: str, deflate: bool) -> None:
        self.ws = await connect(
            f"{url}/{self.id}", subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"Authorization": self.auth}, compression="deflate" if deflate
            else None, proxy=None, open_timeout=120, ping_interval=None, close_timeout=1,
            max_size=256 * 1024, max_queue=4, user_agent_header=None, ssl=context,
            local_addr=(ip, 0),
        )  # fmt: skip

    async def call(self, action: str, payload: str) -> Any:
        """Send one CALL and wait for its CALLRESULT's payload (a CALL from the CSMS meanwhile
        is answered NotImplemented)."""
        assert self.ws is not None
        async with self.lock:
            self.seq += 1
            mid = str(self.seq)
            await self.ws.send(f'[2,"{mid}","{action}",{payload}]')
            while True:
                reply = json.loads(await self.ws.recv())
                if reply[0] == 2:
                    await self.ws.send(json.dumps([4, reply[1], "NotImplemented", "", {}]))
                elif reply[1] == mid:
                    if reply[0] == 4:
                        raise CallError(f"{reply[2]}: {reply[3]}")
                    return reply[2]

    async def boot(self) -> str:
        """BootNotification; a Pending one retried after the interval it was told, in the
        background, until Accepted."""
        answer = await self.call("BootNotification", BOOT)
        if answer["status"] == "Accepted":
            self.accepted_at = time.monotonic()
        else:
            self.pending += 1
            self.retry = asyncio.create_task(self._boot_again(float(answer["interval"])))
        return str(answer["status"])

    async def _boot_again(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        with contextlib.suppress(Exception):  # the connection is gone: its next connect boots
            await self.boot()

    def drop(self) -> None:
        """Lose the connection at once (no close handshake), like a power or network cut."""
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        if self.ws is not None:
            self.ws.transport.abort()
            self.ws = None
        self.lock = asyncio.Lock()
        self.pending = 0
        self.accepted_at = None


@dataclass
class Fleet:
    """A worker's share of the chargers and where they connect."""

    chargers: list[Charger]
    url: str
    context: ssl.SSLContext | None
    ips: list[str]
    deflate: bool

    async def open_all(self, in_flight: int) -> dict[str, Any]:
        """Connect and boot every charger; ``in_flight`` caps the handshakes under way at once
        (0: no cap, everyone at once). Each charger's time from its first try to its boot's
        answer, and when that was."""
        gate = asyncio.Semaphore(in_flight) if in_flight else None
        errors: Counter[str] = Counter()
        done: list[float] = []
        took: list[float] = []
        statuses: Counter[str] = Counter()
        failed = 0

        async def one(k: int, charger: Charger) -> None:
            nonlocal failed
            ip = self.ips[k % len(self.ips)]
            for attempt in range(OPEN_TRIES):
                try:
                    if gate is not None:
                        async with gate:
                            t = time.monotonic()
                            await charger.open(self.url, self.context, ip, self.deflate)
                            status = await charger.boot()
                    else:
                        t = t0 if attempt == 0 else time.monotonic()
                        await charger.open(self.url, self.context, ip, self.deflate)
                        status = await charger.boot()
                except Exception as e:
                    errors[type(e).__name__] += 1
                    charger.drop()
                    await asyncio.sleep(random.uniform(0.5, 2.0))
                    continue
                now = time.monotonic()
                done.append(now)
                took.append(now - t)
                statuses[status] += 1
                return
            failed += 1

        t0 = time.monotonic()
        await asyncio.gather(*(one(k, c) for k, c in enumerate(self.chargers)))
        return {"t0": t0, "done": done, "took": took, "errors": dict(errors), "failed": failed,
                "statuses": dict(statuses)}  # fmt: skip

    async def traffic(
        self, kind: str, active: int, start_at: float, seconds: float
    ) -> dict[str, Any]:
        """Round trips from the first ``active`` connected chargers, each calling again as
        soon as answered, until ``start_at + seconds``; those answered inside
        [start_at, start_at + seconds] are counted. ``kind``: "meter" (MeterValues, a
        Heartbeat every fourth) or "status" (StatusNotification, each one a change)."""
        end = start_at + seconds
        counted = 0
        errors: Counter[str] = Counter()
        took: list[float] = []
        live = [c for c in self.chargers if c.ws is not None][:active]

        async def run(charger: Charger) -> None:
            nonlocal counted
            n = 0
            wh = random.randrange(1_000_000)
            while time.monotonic() < end:
                n += 1
                if kind == "meter":
                    wh += 97
                    action, payload = ("Heartbeat", "{}") if n % HEARTBEAT_EVERY == 0 \
                        else ("MeterValues", meter_values(wh))  # fmt: skip
                else:
                    state = "Available" if n % 2 else "Unavailable"
                    action, payload = "StatusNotification", status_notification(state)
                t = time.monotonic()
                try:
                    await charger.call(action, payload)
                except CallError as e:
                    errors[str(e)[:80]] += 1
                except Exception as e:
                    errors[type(e).__name__] += 1
                    return
                now = time.monotonic()
                if start_at <= now <= end:
                    counted += 1
                    took.append(now - t)

        await asyncio.gather(*(run(c) for c in live))
        return {"count": counted, "took": took, "errors": dict(errors), "active": len(live)}

    async def until_accepted(self, deadline: float) -> dict[str, Any]:
        """Wait until every connected charger's boot is Accepted (or ``deadline``)."""
        while time.monotonic() < deadline:
            if all(c.accepted_at is not None for c in self.chargers if c.ws is not None):
                break
            await asyncio.sleep(0.25)
        accepted = [c.accepted_at for c in self.chargers if c.accepted_at is not None]
        return {"accepted": accepted, "waiting": len(self.chargers) - len(accepted),
                "pending": sum(c.pending for c in self.chargers)}  # fmt: skip

    def drop_all(self) -> None:
        for charger in self.chargers:
            charger.drop()


def client_context(cafile: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=cafile) if cafile else None


def worker(pipe: Connection, chargers: Sequence[tuple[str, str]], url: str, cafile: str | None,
           ips: list[str], deflate: bool) -> None:  # fmt: skip
    """A load-generator process: holds ``chargers`` (id, password) and runs the bench's
    commands from ``pipe`` until told to quit."""
    import uvloop

    raise_fd_limit()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        fleet = Fleet(
            [Charger(cid, "Basic " + base64.b64encode(f"{cid}:{pw}".encode()).decode())
             for cid, pw in chargers],
            url, client_context(cafile), ips, deflate,
        )  # fmt: skip
        while True:
            command, kw = await loop.run_in_executor(None, pipe.recv)
            if command == "open":
                answer: Any = await fleet.open_all(**kw)
            elif command == "traffic":
                answer = await fleet.traffic(**kw)
            elif command == "storm":
                fleet.drop_all()
                await asyncio.sleep(0)
                answer = await fleet.open_all(in_flight=0)
            elif command == "accepted":
                answer = await fleet.until_accepted(**kw)
            elif command == "drop":
                fleet.drop_all()
                answer = None
            else:
                fleet.drop_all()
                pipe.send(None)
                return
            pipe.send(answer)

    uvloop.run(serve())


# --- the bare ocpp-library CSMS ------------------------------------------------------------------


def bare(port: int, cert: str | None, key: str | None) -> None:
    """A CSMS of the ``ocpp`` library alone: every handler answers at once and does nothing."""
    import ocpp.messages
    import uvloop
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint
    from ocpp.v16 import call_result as result
    from ocpp.v16.enums import Action, RegistrationStatus
    from websockets.asyncio.server import ServerConnection, serve

    ocpp.messages.ASYNC_VALIDATION = False  # inline, as chargemesh validates
    raise_fd_limit()

    class Bare(ChargePoint):  # type: ignore[misc]
        @on(Action.boot_notification)
        async def on_boot(self, **kw: Any) -> Any:
            return result.BootNotification(wire_now(), 300, RegistrationStatus.accepted)

        @on(Action.heartbeat)
        async def on_heartbeat(self) -> Any:
            return result.Heartbeat(wire_now())

        @on(Action.meter_values)
        async def on_meter(self, **kw: Any) -> Any:
            return result.MeterValues()

        @on(Action.status_notification)
        async def on_status(self, **kw: Any) -> Any:
            return result.StatusNotification()

    async def connected(socket: ServerConnection) -> None:
        path = socket.request.path if socket.request else "/"
        with contextlib.suppress(Exception):
            await Bare(path.rsplit("/", 1)[-1], socket).start()

    async def main() -> None:
        context = None
        if cert and key:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(cert, key)
        async with serve(
            connected, "127.0.0.1", port, ssl=context, subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            max_size=256 * 1024, ping_interval=60, ping_timeout=60,
        ) as server:  # fmt: skip
            await server.serve_forever()

    uvloop.run(main())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "bare":
        bare(int(sys.argv[2]), *(sys.argv[3:5] if len(sys.argv) >= 5 else (None, None)))
    else:
        sys.exit(__doc__)
