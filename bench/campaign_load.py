"""The simulator's side of ``bench_campaign.py``: the own chargers as simulated OCPP charge
points (:class:`SimChargePoint`: 1.6 core, 1.6 with the security extension, 2.0.1) in one
process of their own, never in the CSMS's or the bench's.

:func:`serve` runs in that process (``multiprocessing``, spawned) and answers the bench over a
pipe: how many chargers are online (booted and accepted), the update requests they received
(charger, image sha256 from the download link, wall-clock time of arrival: the moment a charger
was really *sent* its update, whatever the CSMS wrote in its history), the firmware statuses
they sent and when (the charger's side of the update's course), and the firmware each runs. The
chargers connect from 127.0.x.y source addresses as ``Fleet`` does (one address's ephemeral
ports would not hold 10,000 websockets beside the image downloads), their first attempts spread
over ``spread_s`` so the CSMS's boot rate (``[csms] boots_per_s``) tells few of them Pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed

from chargemesh.sim.country.own import OwnCharger
from chargemesh.sim.firmware import FirmwareFault
from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint
from chargemesh.sim.peers.ocpp.dialect import Answer
from chargemesh.sim.peers.ocpp.firmware import FirmwareRequest

#: (charger id, image sha256, time.time() when the update request arrived)
Receipt = tuple[str, str, float]
#: (charger id, firmware status, time.time() when the charger sent it)
Status = tuple[str, str, float]


@dataclass(frozen=True, slots=True)
class SimSide:
    """What the simulator process is started with."""

    chargers: Sequence[OwnCharger]
    url: str  # the CSMS, ws://host:port/ocpp
    install_s: float
    reboot_s: float
    faults: Mapping[tuple[str, str], FirmwareFault]
    spread_s: float
    seed: int = 17


class StatusLog(list[str]):
    """A charger's ``firmware_log`` that also notes each status's time in a shared list."""

    def __init__(self, charger_id: str, statuses: list[Status]) -> None:
        super().__init__()
        self.charger_id = charger_id
        self.statuses = statuses

    def append(self, status: str) -> None:
        self.statuses.append((self.charger_id, status, time.time()))
        super().append(status)


class TimedChargePoint(SimChargePoint):
    """A simulated charger that notes when each update request reaches it and when it sends
    each firmware status."""

    def __init__(self, charger: OwnCharger, url: str, receipts: list[Receipt],
                 statuses: list[Status], **kw: Any) -> None:  # fmt: skip
        super().__init__(charger, url, **kw)
        self._receipts = receipts
        self.firmware_log = StatusLog(self.id, statuses)

    def update_firmware(self, request: FirmwareRequest) -> Answer:
        image = urlsplit(request.location).path.rsplit("/", 1)[-1]
        self._receipts.append((self.id, image, time.time()))
        return super().update_firmware(request)


def source_address(k: int) -> tuple[str, int]:
    """The ``k``-th charger's source address: 250 per 127.0.x.0/24, from 127.0.1.1."""
    return (f"127.0.{1 + k // 250}.{1 + k % 250}", 0)


def serve(pipe: Connection, side: SimSide) -> None:
    """The process's life: connect every charger, then answer the bench until ``quit``."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # the ocpp library logs a traceback for every CALLERROR a charger answers: the 1.6 core
    # ones answer SignedUpdateFirmware with NotImplemented, as they should
    logging.getLogger("ocpp").setLevel(logging.CRITICAL)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency of the platform
        runner = asyncio.Runner()
    with runner:
        runner.run(_serve(pipe, side))


async def _serve(pipe: Connection, side: SimSide) -> None:
    rng = random.Random(side.seed)
    receipts: list[Receipt] = []
    statuses: list[Status] = []
    points = [
        TimedChargePoint(c, side.url, receipts, statuses, install_s=side.install_s,
                         reboot_s=side.reboot_s, firmware_faults=side.faults,
                         local_addr=source_address(k), rng=rng, keep_history=False)
        for k, c in enumerate(side.chargers)
    ]  # fmt: skip
    tasks = [asyncio.create_task(_run(cp, rng.uniform(0, side.spread_s))) for cp in points]
    loop = asyncio.get_running_loop()
    lost: dict[str, int] = {}
    loop.set_exception_handler(_counting(lost))
    try:
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command == "quit":
                break
            pipe.send(_answer(command, points, receipts, statuses, lost))
    finally:
        await asyncio.gather(*(_close(cp) for cp in points))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pipe.send("closed")


def _counting(lost: dict[str, int]) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """An exception handler that counts the charge points' tasks ended by a lost connection
    (a heartbeat on a connection the CSMS stopped answering pings on, or one closed for a
    reboot) by reason instead of logging each; anything else is logged as usual."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not isinstance(exc, ConnectionClosed):
            loop.default_exception_handler(context)
            return
        why = "keepalive ping timeout" if "keepalive ping timeout" in str(exc) else "closed"
        lost[why] = lost.get(why, 0) + 1

    return handle


def _answer(
    command: str,
    points: list[TimedChargePoint],
    receipts: list[Receipt],
    statuses: list[Status],
    lost: dict[str, int],
) -> Any:
    if command == "online":
        return sum(cp.online for cp in points)
    if command == "boots":
        return sum(cp.boots for cp in points)
    if command == "lost":
        return dict(lost)
    if command == "receipts":
        return list(receipts)
    if command == "statuses":
        return list(statuses)
    if command == "versions":
        counted: dict[str, int] = {}
        for cp in points:
            counted[cp.firmware] = counted.get(cp.firmware, 0) + 1
        return counted
    raise ValueError(f"unknown command {command!r}")


async def _run(cp: SimChargePoint, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    await cp.run()


async def _close(cp: SimChargePoint) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cp.aclose(), 5)
