"""A simulated charge point of the own network: its connectors, the cars plugged into them and
their charges, over OCPP 1.6J or 2.0.1 (:mod:`.connection` keeps it connected).

* **A car** plugs in with :meth:`SimChargePoint.plug_in`: the connector goes ``Preparing``; with
  plug-and-charge on the charger (and the charger online) it asks the CSMS — 1.6 ``Authorize``
  with the car's VIN as ``idTag``, 2.0.1 with its EMAID as an ``eMAID`` ``idToken`` — and starts
  the charge only if that is ``Accepted``. Otherwise the car waits for a start from the app.
* **A card**: :meth:`SimChargePoint.swipe` holds a driver's RFID card to the reader for the car
  waiting on a connector — ``Authorize`` with its UID (1.6 ``idTag``, 2.0.1 ``ISO14443``) and the
  charge if ``Accepted``.
* **App starts** (1.6 ``RemoteStartTransaction``, 2.0.1 ``RequestStartTransaction``) are
  accepted on a free, operative connector with a car plugged in (or, with ``arriving_cars``, one
  that arrives as the driver plugs in), and the charge starts once the answer has gone out.
* **The charge** follows the car's power curve and SoC model (:class:`~..charging.ChargeRun`) on
  the simulated clock (``time_scale``): meter values every ``meter_interval_s`` simulated seconds
  (energy register Wh, power W, SoC %), until the car is full, the CSMS stops it, or the car is
  unplugged. 1.6 ``StopTransaction`` / 2.0.1 ``TransactionEvent`` ``Ended`` says why.
* **Commands**: remote stop, ChangeAvailability (Scheduled while charging), Reset (charges end,
  the charger reboots and boots again), UnlockConnector.
* **Firmware updates** (1.6 ``UpdateFirmware`` / ``SignedUpdateFirmware``, 2.0.1
  ``UpdateFirmware``): downloaded, checked, installed once no charge runs and booted into, one
  at a time (:mod:`.firmware`); :attr:`SimChargePoint.firmware_log` keeps the statuses sent.
"""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from ocpp.exceptions import OCPPError  # type: ignore[import-untyped, unused-ignore]
from websockets.exceptions import ConnectionClosed

from chargemesh.sim.charging import SimVehicle
from chargemesh.sim.country.own import FIRMWARE_FAULTS, OwnCharger
from chargemesh.sim.firmware import FirmwareFault
from chargemesh.sim.peers.ocpp.connection import DEFAULT_BACKOFF_S, Connection
from chargemesh.sim.peers.ocpp.dialect import Answer, StopCause
from chargemesh.sim.peers.ocpp.firmware import DEFAULT_CHUNK_BYTES, FirmwareRequest, run_update
from chargemesh.sim.peers.ocpp.transaction import (
    METER_START_WH,
    Reading,
    Token,
    Transaction,
    TxMessage,
)

__all__ = ["DEFAULT_METER_INTERVAL_S", "ConnectorState", "SimChargePoint"]

#: Meter values every this many simulated seconds.
DEFAULT_METER_INTERVAL_S: Final = 60.0
#: Charges a charger without ``keep_history`` remembers (the running ones and the last few).
KEPT_WITHOUT_HISTORY: Final = 4
_OUT_OF_ORDER: Final = ("Unavailable", "Faulted")


@dataclass(eq=False)
class ConnectorState:
    """One connector: its state (1.6 names), the car on it, its running charge, its energy
    register and whether operations has taken it out of service."""

    number: int
    max_power_kw: float
    dc: bool
    state: str = "Available"
    vehicle: SimVehicle | None = None
    tx: Transaction | None = None
    meter_wh: int = METER_START_WH
    operative: bool = True
    going_inoperative: bool = False
    starting: bool = False
    meter_task: asyncio.Task[None] | None = None

    @property
    def free(self) -> bool:
        """Operative, no charge running or starting."""
        return (
            self.operative and self.tx is None and not self.starting
            and self.state not in _OUT_OF_ORDER
        )  # fmt: skip


class SimChargePoint(Connection):
    """A simulated own charger speaking ``charger.ocpp`` to the CSMS at ``url`` (see the module
    docstring). Everything runs on one event loop; :meth:`run` is its life."""

    def __init__(
        self,
        charger: OwnCharger,
        url: str,
        *,
        time_scale: float = 1.0,
        meter_interval_s: float = DEFAULT_METER_INTERVAL_S,
        plug_and_charge: bool = True,
        arriving_cars: Callable[[int], SimVehicle] | None = None,
        on_charge_end: Callable[[SimChargePoint, int, Transaction], None] | None = None,
        backoff_s: tuple[float, float] = DEFAULT_BACKOFF_S,
        response_timeout_s: float = 30.0,
        reboot_s: float = 1.0,
        local_addr: tuple[str, int] | None = None,
        rng: random.Random | None = None,
        keep_history: bool = True,
        install_s: float = 1.0,
        download_chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        firmware_faults: Mapping[tuple[str, str], FirmwareFault] = FIRMWARE_FAULTS,
    ) -> None:
        super().__init__(
            charger,
            url,
            backoff_s=backoff_s,
            response_timeout_s=response_timeout_s,
            reboot_s=reboot_s,
            local_addr=local_addr,
            rng=rng,
        )
        if time_scale <= 0 or meter_interval_s <= 0:
            raise ValueError("time_scale and meter_interval_s must be positive")
        self.time_scale = time_scale
        self.meter_interval_s = meter_interval_s
        self.plug_and_charge = plug_and_charge
        self.arriving_cars = arriving_cars
        self.on_charge_end = on_charge_end
        self.connectors = {
            n: ConnectorState(n, c.max_power_kw, c.standard == "gbt_dc")
            for n, c in enumerate(charger.connectors, start=1)
        }
        #: every charge and its acknowledged messages (tests); without ``keep_history`` (a large
        #: fleet) the last :data:`KEPT_WITHOUT_HISTORY`, no messages, curves released at the end
        self.keep_history = keep_history
        self.transactions: deque[Transaction] = deque(
            maxlen=None if keep_history else KEPT_WITHOUT_HISTORY
        )
        self.charges = 0  # charges started, ever
        self._tasks: set[asyncio.Task[Any]] = set()
        self._charge_ended = asyncio.Event()
        #: firmware updates: how long installing takes (real seconds), the download's chunks,
        #: (model, version) → what goes wrong, the statuses sent and the ``Range``s asked
        self.install_s = install_s
        self.download_chunk_bytes = download_chunk_bytes
        self.firmware_faults = firmware_faults
        self.firmware_log: list[str] = []
        self.firmware_ranges: list[str] = []
        #: installing (from waiting for the charges to end until the reboot): no charge starts
        self.firmware_installing = False
        self._updating = False

    def connector_states(self) -> dict[int, str]:
        return {n: c.state for n, c in self.connectors.items()}

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """Stop everything this charger runs (its connection, meter loops)."""
        self.stop()
        for task in list(self._tasks):
            task.cancel()
        for c in self.connectors.values():
            if c.meter_task is not None:
                c.meter_task.cancel()

    async def aclose(self) -> None:
        """:meth:`close` and wait for the connection and meter loops to end (call it before
        closing the event loop the charger runs on)."""
        self.close()
        await super().aclose()
        meters = [c.meter_task for c in self.connectors.values() if c.meter_task is not None]
        await asyncio.gather(*self._tasks, *meters, return_exceptions=True)

    def _set(self, c: ConnectorState, state: str) -> None:
        c.state = state
        self.announce(c.number)

    def _idle_state(self, c: ConnectorState) -> str:
        if not c.operative:
            return "Unavailable"
        return "Preparing" if c.vehicle is not None else "Available"

    # ------------------------------------------------------------------ cars

    async def plug_in(self, connector: int, vehicle: SimVehicle) -> Transaction | None:
        """A car plugs in; the charge it started by plug-and-charge, else ``None`` (it waits for
        an app start). ``KeyError`` for an unknown connector, ``ValueError`` when it is taken
        or out of service."""
        c = self.connectors[connector]
        if c.vehicle is not None or c.tx is not None or not c.free:
            raise ValueError(f"{self.id} connector {connector} is not free")
        c.vehicle = vehicle
        self._set(c, "Preparing")
        token = self.dialect.pnc_token(vehicle) if self.plug_and_charge else None
        if token is None:
            return None
        return await self._authorized_start(c, vehicle, token)

    async def swipe(self, connector: int, card_uid: str) -> Transaction | None:
        """The driver holds an RFID card to the reader for the car waiting on ``connector``:
        the charger asks the CSMS (1.6 ``Authorize`` with the UID as ``idTag``, 2.0.1 an
        ``ISO14443`` ``idToken``) and starts the charge if that is ``Accepted``; the charge, or
        ``None`` (refused, offline). ``ValueError`` when no car waits there."""
        c = self.connectors[connector]
        if c.vehicle is None or not c.free:
            raise ValueError(f"{self.id} connector {connector} has no car waiting")
        return await self._authorized_start(c, c.vehicle, self.dialect.card_token(card_uid))

    async def _authorized_start(
        self, c: ConnectorState, vehicle: SimVehicle, token: Token
    ) -> Transaction | None:
        """Ask the CSMS about ``token`` for ``vehicle`` on ``c``; begin the charge if accepted."""
        link = self._link
        if link is None or not self.online or self.firmware_installing:
            return None
        c.starting = True
        try:
            result = await link.call(self.dialect.authorize(token), suppress=False)
        except (OCPPError, TimeoutError, ConnectionClosed):
            result = None
        finally:
            c.starting = False
        if result is None or not self.dialect.accepted(result):
            return None
        if c.vehicle is not vehicle or not c.free:
            return None  # unplugged or started otherwise meanwhile
        return self._begin(c, token, None, "authorized")

    def unplug(self, connector: int) -> None:
        """The car leaves (a running charge ends, ``EVDisconnected``)."""
        c = self.connectors[connector]
        if c.tx is not None:
            self._end(c, "unplugged")
        c.vehicle = None
        self._set(c, self._idle_state(c))

    def stop_charge(self, connector: int, cause: StopCause = "local") -> Transaction | None:
        """End the charge on ``connector`` at the pile; the transaction, or ``None``."""
        c = self.connectors[connector]
        tx = c.tx
        if tx is not None:
            self._end(c, cause)
        return tx

    # ------------------------------------------------------------------ charges

    def _begin(
        self, c: ConnectorState, token: Token, remote_start_id: int | None, trigger: str
    ) -> Transaction:
        assert c.vehicle is not None
        tx = Transaction.begin(
            c.number,
            token,
            c.vehicle,
            pile_kw=c.max_power_kw,
            dc=c.dc,
            meter_start_wh=c.meter_wh,
            time_scale=self.time_scale,
            remote_start_id=remote_start_id,
        )
        if self.dialect.version != "1.6":
            tx.transaction_id = str(uuid.uuid4())
        tx.record = self.keep_history
        c.tx = tx
        self.transactions.append(tx)
        self.charges += 1
        # the start's meter is the register as the charge begins (nothing delivered yet)
        assert tx.run is not None
        self._emit(tx, "start", trigger, reading=tx.reading(tx.run.started_at))
        self._set(c, "Charging")
        c.meter_task = asyncio.get_running_loop().create_task(self._meter(c, tx))
        return tx

    def _emit(
        self, tx: Transaction, stage: Any, trigger: str, reason: str | None = None,
        reading: Reading | None = None,
    ) -> None:  # fmt: skip
        reading = reading or tx.reading()
        offline = not self.online
        self.queue(TxMessage(stage, tx, reading, offline, tx.next_seq(), trigger, reason))

    async def _meter(self, c: ConnectorState, tx: Transaction) -> None:
        step_s = self.meter_interval_s / self.time_scale
        loop = asyncio.get_running_loop()
        next_at = loop.time() + step_s
        assert tx.run is not None
        finish = tx.run.finish_elapsed_s
        full_at = None if finish is None else loop.time() + tx.run.real_seconds(finish)
        while c.tx is tx:
            wake = next_at if full_at is None else min(next_at, full_at)
            await asyncio.sleep(max(0.0, wake - loop.time()))
            if c.tx is not tx:
                return
            if tx.full():
                c.meter_task = None
                self._end(c, "full")
                return
            self._emit(tx, "meter", "periodic")
            next_at += step_s

    def _end(self, c: ConnectorState, cause: StopCause) -> None:
        tx = c.tx
        if tx is None:
            return
        reading = tx.reading()
        tx.stop_reason = cause
        self._emit(tx, "stop", cause, cause, reading)  # the register ends where the stop says
        c.meter_wh = reading.energy_wh
        if c.vehicle is tx.vehicle:  # the car keeps the charge it got
            c.vehicle = replace(tx.vehicle, soc=min(100.0, reading.soc))
        c.tx = None
        if c.meter_task is not None and c.meter_task is not asyncio.current_task():
            c.meter_task.cancel()
        c.meter_task = None
        if c.going_inoperative:
            c.operative, c.going_inoperative = False, False
        self._set(c, "Finishing" if c.vehicle is not None and c.operative else self._idle_state(c))
        if not self.keep_history:
            tx.release()
        self._charge_ended.set()
        if self.on_charge_end is not None:
            self.on_charge_end(self, c.number, tx)

    async def charges_ended(self) -> None:
        """Until no charge runs on any connector."""
        while any(c.tx is not None for c in self.connectors.values()):
            self._charge_ended.clear()
            await self._charge_ended.wait()

    def acknowledged(self, message: TxMessage) -> None:
        tx = message.tx
        if tx.deauthorized and not tx.ended:
            c = self.connectors[tx.connector]
            if c.tx is tx:
                self._end(c, "deauthorized")

    # ------------------------------------------------------------------ CSMS commands

    def remote_start(
        self, connector: int | None, token: Token, remote_start_id: int | None
    ) -> Answer:
        """An app start: Accepted on a free connector with a car (or one arriving), unless a
        firmware update is being installed."""
        c = None if self.firmware_installing else self._start_connector(connector)
        if c is None:
            return "Rejected", None
        if c.vehicle is None:
            assert self.arriving_cars is not None
            c.vehicle = self.arriving_cars(c.number)
        c.starting = True

        def then() -> None:
            c.starting = False
            if c.vehicle is not None and c.free:
                if c.state == "Available":
                    self._set(c, "Preparing")
                self._begin(c, token, remote_start_id, "remote_start")

        return "Accepted", then

    def _start_connector(self, connector: int | None) -> ConnectorState | None:
        if connector is not None:
            c = self.connectors.get(connector)
            ok = c is not None and c.free and (c.vehicle is not None or bool(self.arriving_cars))
            return c if ok else None
        candidates = [c for c in self.connectors.values() if c.free]
        with_car = [c for c in candidates if c.vehicle is not None]
        if with_car:
            return with_car[0]
        return candidates[0] if candidates and self.arriving_cars else None

    def remote_stop(self, transaction_id: int | str) -> Answer:
        for c in self.connectors.values():
            if c.tx is not None and c.tx.transaction_id == transaction_id:
                return "Accepted", functools.partial(self._end, c, "remote")
        return "Rejected", None

    def change_availability(self, connector: int, operative: bool) -> Answer:
        """``connector`` 0: the whole charger."""
        if connector == 0:
            targets = list(self.connectors.values())
        elif connector in self.connectors:
            targets = [self.connectors[connector]]
        else:
            return "Rejected", None
        busy = [c for c in targets if c.tx is not None]
        status = "Scheduled" if busy and not operative else "Accepted"

        def then() -> None:
            for c in targets:
                if c.tx is not None and not operative:
                    c.going_inoperative = True
                    continue
                c.operative, c.going_inoperative = operative, False
                if c.tx is None:
                    self._set(c, self._idle_state(c))

        return status, then

    def reset(self, hard: bool) -> Answer:
        def then() -> None:
            for c in self.connectors.values():
                if c.tx is not None:
                    self._end(c, "reset_hard" if hard else "reset_soft")
            self._spawn(self.reboot())

        return "Accepted", then

    def unlock(self, connector: int, *, stop_running: bool) -> Answer:
        c = self.connectors.get(connector)
        if c is None:
            return "unknown", None
        if c.tx is not None and not stop_running:
            return "ongoing", None

        def then() -> None:
            if c.tx is not None:
                self._end(c, "unlock")
            if c.vehicle is not None:
                self.unplug(c.number)

        return "unlocked", then

    def update_firmware(self, request: FirmwareRequest) -> Answer:
        """Accepted, the update (:func:`~.firmware.run_update`) starting once the answer has gone
        out; Rejected while another one is under way (1.6 core answers nothing either way)."""
        if self._updating:
            return "Rejected", None
        self._updating = True

        def then() -> None:
            self._spawn(self._update(request))

        return "Accepted", then

    async def _update(self, request: FirmwareRequest) -> None:
        try:
            await run_update(self, request)
        finally:
            self._updating = False

    def power_cycle(self) -> None:
        """Switch it off and on: running charges end (``PowerLoss``), then see
        :meth:`Connection.power_cycle`."""
        for c in self.connectors.values():
            if c.tx is not None:
                self._end(c, "power_loss")
        super().power_cycle()
