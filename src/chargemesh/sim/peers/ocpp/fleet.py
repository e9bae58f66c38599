"""The own network's chargers running in the simulator: one :class:`SimChargePoint` per charger,
all on one event loop thread, each forever trying to reach the CSMS at ``url``.

Before the platform has registered a charger its handshake is refused (401) and it backs off
(at most ~30 s, jittered); the first attempts are spread over ``n / 500`` seconds so that 20,000
chargers do not all knock at once. Beyond 10,000 chargers on loopback they connect from several
127.0.x.y addresses so that one source address's ports do not run out.

With ``activity`` on, the network lives (rates per simulated day, ``time_scale`` like the rest of
the simulator):

* **cars arrive** — owners' cars at their home chargers (about once a day each), and the home
  owners' cars at superchargers (about :data:`SUPER_VISITS_PER_DAY` a connector): they try
  plug-and-charge (VIN on 1.6J, EMAID on 2.0.1); if that is refused, the driver holds their
  RFID card to the reader (half of the time) or waits a while for an app start; they leave some
  minutes after their charge ends;
* **status churn** — an idle connector faults now and then and comes back;
* **dropped connections** — a charger (often one that is charging) loses its link for a few
  simulated minutes (1–60 s of real time) and queues its transaction messages meanwhile.

Firmware updates the CSMS sends are carried out as :mod:`.firmware` describes, installing in
``install_s`` and rebooting in ``reboot_s`` real seconds.

App starts need nothing from the activity: with ``arriving_cars`` a car is there when the
driver starts from the app (the owner's car at home, a passing car at a supercharger).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import random
import resource
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from chargemesh.sim.background import BackgroundLoop
from chargemesh.sim.charging import SimVehicle, make_vehicle
from chargemesh.sim.country.own import OwnNetwork
from chargemesh.sim.peers.ocpp.charge_point import DEFAULT_METER_INTERVAL_S, SimChargePoint
from chargemesh.sim.peers.ocpp.connection import DEFAULT_BACKOFF_S
from chargemesh.sim.peers.ocpp.transaction import Transaction

__all__ = ["HOME_VISITS_PER_DAY", "SUPER_VISITS_PER_DAY", "Fleet"]

log = logging.getLogger(__name__)
T = TypeVar("T")

HOME_VISITS_PER_DAY: Final = 1.0
SUPER_VISITS_PER_DAY: Final = 8.0
FAULTS_PER_CONNECTOR_DAY: Final = 0.3
DROPS_PER_CHARGER_DAY: Final = 0.5
_DAY_S: Final = 86_400.0
_TICK_S: Final = 1.0
_SPREAD_PER_CHARGER_S: Final = 1 / 500
_MANY: Final = 10_000


class Fleet:
    """Every own charger of ``network`` as a live OCPP charge point (see the module docstring).
    :meth:`start` and :meth:`stop` from any thread; the charge points live on :attr:`loop`."""

    def __init__(
        self,
        network: OwnNetwork,
        url: str,
        *,
        time_scale: float = 1.0,
        meter_interval_s: float = DEFAULT_METER_INTERVAL_S,
        activity: bool = True,
        arriving_cars: bool = True,
        backoff_s: tuple[float, float] = DEFAULT_BACKOFF_S,
        seed: int | None = None,
        install_s: float = 1.0,
        reboot_s: float = 1.0,
    ) -> None:
        self.network = network
        self.url = url
        self.time_scale = time_scale
        self.activity = activity
        self.seed = network.seed if seed is None else seed
        self.loop = BackgroundLoop("sim-ocpp")
        self.drops = 0
        self.visits = 0
        self._rng = random.Random(f"chargemesh-sim/own-fleet/{self.seed}")
        self._cars = 0
        host = urlsplit(url).hostname or ""
        spread_sources = len(network) > _MANY and host in ("127.0.0.1", "localhost")
        self.points: dict[str, SimChargePoint] = {}
        for k, charger in enumerate(network):
            self.points[charger.id] = SimChargePoint(
                charger,
                url,
                time_scale=time_scale,
                meter_interval_s=meter_interval_s,
                arriving_cars=self._arrivals_at(charger.id) if arriving_cars else None,
                on_charge_end=self._charge_ended if activity else None,
                backoff_s=backoff_s,
                local_addr=(f"127.0.{1 + k // 250}.{1 + k % 250}", 0) if spread_sources else None,
                rng=self._rng,
                keep_history=False,
                install_s=install_s,
                reboot_s=reboot_s,
            )
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_use: set[str] = set()  # VINs plugged in somewhere

    # ------------------------------------------------------------------ life cycle

    def start(self) -> Fleet:
        _enough_files(len(self.points) + 2_000)
        self.loop.start()
        self.loop.submit(self._start()).result(30)
        log.info("sim: %d own chargers connecting to %s", len(self.points), self.url)
        return self

    async def _start(self) -> None:
        spread = len(self.points) * _SPREAD_PER_CHARGER_S
        for cp in self.points.values():
            self._spawn(self._run(cp, self._rng.uniform(0, spread)))
        if self.activity:
            self._spawn(self._live())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(cp: SimChargePoint, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await cp.run()

    def stop(self) -> None:
        if self.loop.running:
            with contextlib.suppress(Exception):
                self.loop.submit(self._close()).result(10)
        self.loop.stop()

    async def _close(self) -> None:
        await asyncio.gather(*(cp.aclose() for cp in self.points.values()))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 30.0) -> T:
        """Run ``coro`` on the fleet's loop and wait for its result (from another thread)."""
        return self.loop.submit(coro).result(timeout_s)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return self.loop.submit(coro)

    # ------------------------------------------------------------------ looking

    def charge_point(self, charger_id: str) -> SimChargePoint:
        return self.points[charger_id]

    def idle_connectors(
        self,
        *,
        kind: str | None = None,
        ocpp: str | None = None,
        online: bool = True,
        count: int = 1,
    ) -> list[tuple[str, int]]:
        """Up to ``count`` (charger id, connector) free of cars and charges, in charger order,
        of that ``kind`` and OCPP version when given, online (booted) ones unless told."""
        found: list[tuple[str, int]] = []
        for cp in self.points.values():
            c = cp.charger
            if (kind and c.kind != kind) or (ocpp and c.ocpp != ocpp) or (online and not cp.online):
                continue
            for n, conn in cp.connectors.items():
                if conn.free and conn.vehicle is None:
                    found.append((cp.id, n))
                    if len(found) >= count:
                        return found
        return found

    def stats(self) -> dict[str, int]:
        points = self.points.values()
        return {
            "chargers": len(self.points),
            "online": sum(cp.online for cp in points),
            "boots": sum(cp.boots for cp in points),
            "refused_401": sum(cp.refusals.get(401, 0) for cp in points),
            "charges": sum(cp.charges for cp in points),
            "queued": sum(len(cp.outbox) for cp in points),
            "drops": self.drops,
            "visits": self.visits,
        }

    # ------------------------------------------------------------------ cars

    def _arrivals_at(self, charger_id: str) -> Callable[[int], SimVehicle]:
        return lambda _connector: self._arriving(charger_id)

    def _arriving(self, charger_id: str) -> SimVehicle:
        """The car a driver starting from the app has plugged in."""
        charger = self.network.charger(charger_id)
        if charger.owner is not None:
            return self.network.driver(charger.owner).vehicles[0]
        self._cars += 1
        return make_vehicle(self.seed, 2_000_000 + self._cars, emaid=True)

    async def plug_in(
        self, charger_id: str, connector: int, vehicle: SimVehicle
    ) -> Transaction | None:
        return await self.points[charger_id].plug_in(connector, vehicle)

    async def swipe(self, charger_id: str, connector: int, card_uid: str) -> Transaction | None:
        return await self.points[charger_id].swipe(connector, card_uid)

    def _charge_ended(self, cp: SimChargePoint, connector: int, tx: Transaction) -> None:
        dwell = self._sim_s(self._rng.uniform(120, 900))
        vin = tx.vehicle.vin

        async def leave() -> None:
            await asyncio.sleep(dwell)
            c = cp.connectors[connector]
            if c.vehicle is not None and c.vehicle.vin == vin and c.tx is None:
                cp.unplug(connector)
            self._in_use.discard(vin)

        self._spawn(leave())

    def _sim_s(self, sim_seconds: float) -> float:
        """Real seconds for ``sim_seconds`` of simulated time."""
        return sim_seconds / self.time_scale

    async def _visit(
        self, cp: SimChargePoint, connector: int, car: SimVehicle, card: str | None
    ) -> None:
        self._in_use.add(car.vin)
        self.visits += 1
        try:
            started = await cp.plug_in(connector, car)
            if started is None and card is not None and self._rng.random() < 0.5:
                await cp.swipe(connector, card)
        except ValueError:
            self._in_use.discard(car.vin)
            return
        await asyncio.sleep(self._sim_s(self._rng.uniform(300, 1200)))  # waiting for an app start
        c = cp.connectors[connector]
        waiting = c.vehicle is not None and c.vehicle.vin == car.vin and c.tx is None
        charged = bool(cp.transactions) and cp.transactions[-1].vehicle.vin == car.vin
        if waiting and not c.starting and not charged:
            cp.unplug(connector)  # never started: the driver gives up
            self._in_use.discard(car.vin)

    # ------------------------------------------------------------------ the living network

    async def _live(self) -> None:
        points = list(self.points.values())
        homes = [cp for cp in points if cp.charger.kind == "home"]
        supers = [cp for cp in points if cp.charger.kind == "supercharger"]
        n_super_conn = sum(len(cp.connectors) for cp in supers)
        n_conn = sum(len(cp.connectors) for cp in points)
        per_s = self.time_scale / _DAY_S
        rates = (
            len(homes) * HOME_VISITS_PER_DAY * per_s,
            n_super_conn * SUPER_VISITS_PER_DAY * per_s,
            n_conn * FAULTS_PER_CONNECTOR_DAY * per_s,
            len(points) * DROPS_PER_CHARGER_DAY * per_s,
        )
        actions: tuple[Callable[[], None], ...] = (
            lambda: self._home_visit(homes),
            lambda: self._super_visit(supers),
            lambda: self._fault(points),
            lambda: self._drop(points),
        )
        while True:
            await asyncio.sleep(_TICK_S)
            for rate, act in zip(rates, actions, strict=True):
                for _ in range(_poisson(self._rng, rate * _TICK_S)):
                    act()

    def _home_visit(self, homes: list[SimChargePoint]) -> None:
        if not homes:
            return
        cp = self._rng.choice(homes)
        owner = cp.charger.owner
        c = cp.connectors[1]
        if owner is None or not c.free or c.vehicle is not None:
            return
        driver = self.network.driver(owner)
        cars = [v for v in driver.vehicles if v.vin not in self._in_use]
        if cars:
            self._spawn(self._visit(cp, 1, self._rng.choice(cars), driver.card))

    def _super_visit(self, supers: list[SimChargePoint]) -> None:
        if not supers or not self.network.drivers:
            return
        cp = self._rng.choice(supers)
        free = [n for n, c in cp.connectors.items() if c.free and c.vehicle is None]
        driver = self._rng.choice(self.network.drivers)
        cars = [v for v in driver.vehicles if v.vin not in self._in_use]
        if free and cars:
            car = self._rng.choice(cars)
            self._spawn(self._visit(cp, free[0], car, driver.card))

    def _fault(self, points: list[SimChargePoint]) -> None:
        cp = self._rng.choice(points)
        n = self._rng.choice(list(cp.connectors))
        c = cp.connectors[n]
        if not c.free or c.vehicle is not None:
            return
        c.state = "Faulted"
        cp.announce(n)
        back_s = min(120.0, self._sim_s(self._rng.uniform(300, 3600)))

        async def repaired() -> None:
            await asyncio.sleep(back_s)
            if c.state == "Faulted":
                c.state = "Available" if c.operative else "Unavailable"
                cp.announce(n)

        self._spawn(repaired())

    def _drop(self, points: list[SimChargePoint]) -> None:
        charging = [cp for cp in points if cp.online and any(c.tx for c in cp.connectors.values())]
        pool = charging if charging and self._rng.random() < 0.7 else points
        cp = self._rng.choice(pool)
        if cp.online:
            self.drops += 1
            # a few simulated minutes without a link, between 1 s and a minute of real time
            cp.drop(min(60.0, max(1.0, self._sim_s(self._rng.uniform(60, 900)))))


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _enough_files(needed: int) -> None:
    """Raise the soft limit on open files towards ``needed`` (one socket per charger)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
