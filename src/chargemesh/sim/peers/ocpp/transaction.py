"""What a simulated charge point keeps about a charge, whatever OCPP version it speaks: the token
that started it, the car's :class:`~chargemesh.sim.charging.ChargeRun`, the meter register, and
the transaction messages waiting to reach the CSMS (:class:`Outbox`).

Transaction messages are *durable*: a charger that lost its connection keeps them and sends
them in order once it is back (2.0.1 marks the ones that happened while offline ``offline:
true``, and numbers each transaction's events with a gap-free ``seqNo`` at the moment they
happen). The outbox keeps the last message the CSMS acknowledged, so a test can have it sent
once more after a reconnect and prove the CSMS counts it once.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from chargemesh.sim.charging import ChargeRun, SimVehicle, flat_tariff

__all__ = [
    "METER_START_WH",
    "Outbox",
    "Reading",
    "Token",
    "Transaction",
    "TxMessage",
    "ocpp_time",
]

#: Where a new charger's energy register starts (Wh).
METER_START_WH: Final = 1_000
_FREE = flat_tariff("0", "0")  # the charger does not bill; the CSMS does
_local_ids = itertools.count(1)

Stage = Literal["start", "meter", "stop"]


def ocpp_time(at: datetime) -> str:
    """An OCPP timestamp: UTC, milliseconds, ``Z``."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Token:
    """What a charge was authorized with: 1.6 an ``idTag`` (``kind`` "idTag"), 2.0.1 an
    ``idToken`` of type ``Central`` (app start), ``eMAID`` (plug-and-charge) or another."""

    value: str
    kind: str = "idTag"


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of the connector's meter: on the simulated clock, the energy register (Wh),
    the power (W) and the car's state of charge (%)."""

    at: datetime
    energy_wh: int
    power_w: int
    soc: float


@dataclass(eq=False)
class Transaction:
    """One charge on one connector. ``transaction_id`` is the CSMS's (1.6, known once it
    answered StartTransaction) or the charger's own (2.0.1, a UUID); ``local_id`` is the
    charger's own number for it either way."""

    connector: int
    token: Token
    vehicle: SimVehicle
    run: ChargeRun | None  # None once released (a large fleet keeps no finished curves)
    meter_start_wh: int
    remote_start_id: int | None = None
    transaction_id: int | str | None = None
    local_id: int = field(default_factory=lambda: next(_local_ids))
    seq_no: int = 0
    stop_reason: str | None = None
    deauthorized: bool = False
    sent: list[TxMessage] = field(default_factory=list)
    #: keep every acknowledged message in ``sent`` (tests look at them; a large fleet does not)
    record: bool = True
    acknowledged: int = 0
    offline_acknowledged: int = 0

    @classmethod
    def begin(
        cls,
        connector: int,
        token: Token,
        vehicle: SimVehicle,
        *,
        pile_kw: float,
        dc: bool,
        meter_start_wh: int,
        time_scale: float,
        remote_start_id: int | None = None,
        now: datetime | None = None,
    ) -> Transaction:
        run = ChargeRun(
            started_at=now or datetime.now(UTC),
            vehicle=vehicle,
            pile_kw=pile_kw,
            tariff=_FREE,
            dc=dc,
            time_scale=time_scale,
        )
        return cls(connector, token, vehicle, run, meter_start_wh, remote_start_id)

    @property
    def ended(self) -> bool:
        return self.stop_reason is not None

    def _run(self) -> ChargeRun:
        if self.run is None:
            raise RuntimeError("the charge is over and its curve released")
        return self.run

    def release(self) -> None:
        """Forget the charge curve (the charge is over; nothing reads the meter any more)."""
        self.run = None

    def note(self, message: TxMessage) -> None:
        """A message of this charge was acknowledged by the CSMS."""
        self.acknowledged += 1
        self.offline_acknowledged += message.offline
        if self.record:
            self.sent.append(message)

    def reading(self, now: datetime | None = None) -> Reading:
        """The meter now (real time ``now``), on the simulated clock."""
        snap = self._run().snapshot(now or datetime.now(UTC))
        return Reading(
            at=snap.at,
            energy_wh=self.meter_start_wh + round(snap.energy_kwh * 1000),
            power_w=round(snap.power_kw * 1000),
            soc=snap.soc,
        )

    def full(self, now: datetime | None = None) -> bool:
        """Whether the car reached the SoC at which its BMS ends the charge."""
        run = self._run()
        elapsed = run.elapsed_at(now or datetime.now(UTC))
        done = run.finish_elapsed_s
        return done is not None and elapsed >= done

    def next_seq(self) -> int:
        n = self.seq_no
        self.seq_no += 1
        return n


@dataclass(eq=False)
class TxMessage:
    """A transaction message as it happened: its stage, the reading, whether the charger was
    offline then, its 2.0.1 ``seqNo``, why it ended (``stop``) and the 2.0.1 trigger."""

    stage: Stage
    tx: Transaction
    reading: Reading
    offline: bool
    seq_no: int
    trigger: str
    reason: str | None = None
    acknowledged: bool = False
    result: Any = None


class Outbox:
    """The charger's transaction messages not yet acknowledged by the CSMS, oldest first; kept
    across connections. :meth:`head` waits for one; :meth:`acknowledge` drops it."""

    def __init__(self) -> None:
        self._items: deque[TxMessage] = deque()
        self._waiters: list[asyncio.Future[None]] = []
        self.last_acknowledged: TxMessage | None = None
        self.acknowledged = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def pending(self) -> list[TxMessage]:
        return list(self._items)

    def put(self, message: TxMessage) -> None:
        self._items.append(message)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def head(self) -> TxMessage:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return self._items[0]

    def acknowledge(self, message: TxMessage, result: Any) -> None:
        if self._items and self._items[0] is message:
            self._items.popleft()
        message.acknowledged = True
        message.result = result
        self.last_acknowledged = message
        self.acknowledged += 1

    async def drained(self, timeout_s: float) -> bool:
        """Wait until nothing is pending (up to ``timeout_s``); whether it got there."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self._items:
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True
