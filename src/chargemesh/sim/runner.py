"""Run the simulated country: one real HTTP server per operator on loopback, churn and faults.

::

    country = generate(scale=0.01, seed=7)
    with Simulator(country, platform_url="http://127.0.0.1:8000") as sim:
        sim.write_manifest(Path("sim.toml"))   # the config `serve` and `sync` accept
        ...                                    # sim.urls, sim.ports, sim.churn.stats

Each T/CEC operator is a :class:`~chargemesh.sim.peers.tcec.server.TcecOperatorServer`
over a :class:`~.feeds.TcecOperatorFeed`, knowing the platform (``platform_operator_id``) by the
secrets it issued to it (:func:`~.manifest.operator_secrets`, "outbound" as the platform sees
them). Each OCPI operator is an :class:`~chargemesh.sim.peers.ocpi.server.OcpiCpoServer` over an
:class:`~.feeds.OcpiCpoFeed` that accepts the manifest's ``token_a`` for the registration.

:class:`~.churn.Churn` changes statuses at ``churn_rate`` changes/s (``None``: a realistic rate for
the country's size, :func:`default_churn_rate`); operators with the ``realtime`` capability push
every change — T/CEC ones to ``platform_url`` (with the "inbound" secrets), OCPI ones once the
platform has registered with them. Without ``platform_url`` T/CEC operators are polled only.

``faults`` (a probability, or a :class:`~.faults.FaultConfig`) turns on :mod:`.faults` on every
server's station listing; 0 (the default) is a clean run.

Charging: every T/CEC operator answers ``query_start_charge``, ``query_stop_charge`` and
``query_equip_charge_status`` through a :class:`~.peers.tcec.charging.TcecOperatorCharging`
(``charging[op id]``) and pushes the session's notifications to ``platform_url``; the ones with the
``plug_and_charge`` capability ask the platform with ``notification_plug_and_charge`` when a car
plugs into one of their plug-and-charge piles. Sessions run ``time_scale`` times faster than real
time (default 1: real time; ``chargemesh sim --time-scale``), push their live status every
``status_interval_s`` and start or fail according to
``compatibility`` (default: the matrix of the country's seed, the one in the manifest's truth).
Cars come from the caller: :meth:`Simulator.plug_in` (find free connectors with
:meth:`Simulator.idle_connectors`) and :meth:`Simulator.unplug`.

Every OCPI operator charges too (:mod:`~chargemesh.sim.peers.ocpi.sessions`, set up for the
simulated country by :class:`~.ocpi_charging.OcpiChargingSetup`, ``ocpi_charging[op id]``):
START_SESSION and STOP_SESSION, Session PUT and a PATCH every ``status_interval_s``, the CDR, and
plug-and-charge by real-time authorization on the operators and piles that do it, with the same
cars, power curve, ``time_scale`` and ``compatibility``. Cars are plugged into an EVSE with
:meth:`Simulator.plug_in_evse` (free ones: :meth:`Simulator.idle_evses`) and taken away with
:meth:`Simulator.unplug_evse`.

The platform's own chargers (:mod:`.own_chargers`): with ``csms_port`` the manifest gets a
``[csms]`` section and, once it is written, every own charger runs as a real OCPP 1.6J or 2.0.1
charge point trying to reach that CSMS (:attr:`Simulator.fleet`, :meth:`Simulator.plug_in_own`,
:meth:`Simulator.idle_own_connectors`); ``own_activity`` (default: on unless ``churn_rate`` is 0)
brings cars, status churn and dropped connections to them.

The platform talks to the simulator only through the protocols: nothing here is imported by the
platform's code.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Final

import numpy as np
from starlette.types import ASGIApp

from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi.models import Cdr, Session
from chargemesh.protocols.tcec.charging import NotificationPlugAndChargeResponse
from chargemesh.protocols.tcec.codec import Secrets, SeqCounter
from chargemesh.protocols.tcec.wire import dialect_of
from chargemesh.sim.background import BackgroundLoop
from chargemesh.sim.charging import (
    DEFAULT_TIME_SCALE,
    CompatibilityMatrix,
    SimVehicle,
    make_vehicle,
)
from chargemesh.sim.churn import IDLE, Churn, OcpiStatusPush, PushFn, TcecStatusPush
from chargemesh.sim.country import Country
from chargemesh.sim.faults import FaultConfig, FaultInjector, FaultKind, ocpi_faults, tcec_faults
from chargemesh.sim.feeds import Feed, OcpiCpoFeed, TcecOperatorFeed, build_feeds
from chargemesh.sim.manifest import (
    PLATFORM_OPERATOR_ID,
    operator_secrets,
    operator_url,
    token_a,
    truth_path,
    write_manifest,
)
from chargemesh.sim.ocpi_charging import OcpiChargingSetup, OcpiPile
from chargemesh.sim.operators import SimOperator
from chargemesh.sim.own_chargers import OwnChargers
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.ocpp.charge_point import DEFAULT_METER_INTERVAL_S
from chargemesh.sim.peers.tcec.charging import DEFAULT_STATUS_INTERVAL_S, TcecOperatorCharging
from chargemesh.sim.peers.tcec.server import TcecOperatorServer

__all__ = ["DEFAULT_PLATFORM_URL", "Simulator", "default_churn_rate"]

log = logging.getLogger(__name__)

#: Where the manifest says the platform is when no ``platform_url`` is given (the config default).
DEFAULT_PLATFORM_URL: Final = "http://127.0.0.1:8000"
#: Status changes per unit (connector or EVSE) and day, for :func:`default_churn_rate`.
CHANGES_PER_UNIT_DAY: Final = 12.0
_START_WORKERS: Final = 8


def default_churn_rate(country: Country) -> float:
    """A realistic daily-mean pace for the country: about a dozen status changes per connector
    and day (a few sessions, each plugging in, charging, leaving), at least one change a second.
    At scale 1 that is ≈ 300 changes/s."""
    units = 0
    for k, op in enumerate(country.operators):
        first = int(country.station_first_evse[int(country.operator_first_station[k])])
        end = int(country.station_first_evse[int(country.operator_first_station[k + 1])])
        if op.protocol == "tcec":
            units += int(country.evse_first_connector[end] - country.evse_first_connector[first])
        else:
            units += end - first
    return max(1.0, units * CHANGES_PER_UNIT_DAY / 86_400)


def _platform_tcec_base(platform_url: str) -> str:
    return f"{platform_url.rstrip('/')}/tcec/v1/"


class Simulator(OwnChargers):
    """The simulated operators of ``country`` as servers on ``host`` (see the module docstring).

    ``ports`` fixes ports per operator id (default: any free port). ``seed`` seeds statuses,
    churn and faults (default: the country's seed); the secrets and tokens always derive from
    the country's seed, as the manifest's do.
    """

    def __init__(
        self,
        country: Country,
        *,
        platform_url: str | None = None,
        churn_rate: float | None = None,
        faults: float | FaultConfig = 0.0,
        seed: int | None = None,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        platform_operator_id: str = PLATFORM_OPERATOR_ID,
        daily_rhythm: bool = True,
        max_page_size: int = 100,
        compatibility: CompatibilityMatrix | None = None,
        time_scale: float = DEFAULT_TIME_SCALE,
        status_interval_s: float = DEFAULT_STATUS_INTERVAL_S,
        arriving_cars: bool = False,
        csms_port: int | None = None,
        own_activity: bool | None = None,
        meter_interval_s: float = DEFAULT_METER_INTERVAL_S,
    ) -> None:
        self.country = country
        self._init_own(
            country,
            csms_port,
            time_scale=time_scale,
            activity=churn_rate != 0 if own_activity is None else own_activity,
            arriving_cars=arriving_cars,
            meter_interval_s=meter_interval_s,
        )
        self.platform_url = platform_url.rstrip("/") if platform_url else None
        self.seed = country.seed if seed is None else seed
        self.host = host
        self.platform_operator_id = platform_operator_id
        if isinstance(faults, FaultConfig):
            self.fault_config = faults
        else:
            self.fault_config = FaultConfig(probability=faults, seed=self.seed)
        self.operators: tuple[SimOperator, ...] = country.operators
        self._fixed_ports = dict(ports or {})
        self.feeds: dict[str, Feed] = build_feeds(country, seed=self.seed)
        self.tcec_servers: dict[str, TcecOperatorServer] = {}
        self.ocpi_servers: dict[str, OcpiCpoServer] = {}
        self.injectors: dict[str, FaultInjector] = {}
        self.compatibility = compatibility or CompatibilityMatrix.generate(country.seed)
        self.charging_loop = BackgroundLoop("sim-charging")
        self.charging: dict[str, TcecOperatorCharging] = {}
        self.ocpi_charging: dict[str, OcpiChargingSetup] = {}
        self._apps: dict[str, ASGIApp] = {}
        pushers: dict[str, PushFn] = {}
        for op in self.operators:
            feed = self.feeds[op.id]
            if isinstance(feed, TcecOperatorFeed):
                self._apps[op.id] = self._tcec(op, feed, max_page_size)
                _, inbound = operator_secrets(country.seed, op)
                platform = _platform_tcec_base(self.platform_url) if self.platform_url else None
                seq = SeqCounter.random_start()  # one Seq sequence for all of its pushes
                self.charging[op.id] = TcecOperatorCharging(
                    op.id,
                    feed,
                    platform_url=platform,
                    secrets=Secrets(**inbound),
                    dialect=dialect_of(op.dialect),
                    loop=self.charging_loop,
                    matrix=self.compatibility,
                    time_scale=time_scale,
                    status_interval_s=status_interval_s,
                    plug_and_charge="plug_and_charge" in op.capabilities,
                    push_station_status="realtime" in op.capabilities,
                    seq=seq,
                ).attach(self.tcec_servers[op.id])
                if "realtime" in op.capabilities and platform is not None:
                    pushers[op.id] = TcecStatusPush(
                        op.id,
                        dialect_of(op.dialect),
                        Secrets(**inbound),
                        platform,
                        feed.connector_id,
                        seq=seq,
                    )
            else:
                self._apps[op.id] = self._ocpi(
                    op, feed, max_page_size, time_scale=time_scale, update_s=status_interval_s
                )
                if "realtime" in op.capabilities:
                    pushers[op.id] = OcpiStatusPush(self.ocpi_servers[op.id], feed.evse_of)
        rate = default_churn_rate(country) if churn_rate is None else churn_rate
        self.churn = Churn(
            list(self.feeds.values()),
            rate=rate,
            seed=self.seed,
            pushers=pushers,
            daily_rhythm=daily_rhythm,
        )
        self._servers: dict[str, LoopbackServer] = {}
        self._started = False
        if arriving_cars:
            self._bring_cars()

    # ------------------------------------------------------------------ building

    def _tcec(self, op: SimOperator, feed: TcecOperatorFeed, max_page_size: int) -> ASGIApp:
        outbound, _ = operator_secrets(self.country.seed, op)
        platforms = {self.platform_operator_id: Secrets(**outbound)}
        server = TcecOperatorServer(
            op.id, dialect_of(op.dialect), feed, platforms, max_page_size=max_page_size
        )
        self.tcec_servers[op.id] = server
        if not self.fault_config.enabled:
            return server.app
        injector = FaultInjector(op.id, self.fault_config)
        self.injectors[op.id] = injector
        return tcec_faults(server, injector, platforms)

    def _ocpi(
        self,
        op: SimOperator,
        feed: OcpiCpoFeed,
        max_page_size: int,
        *,
        time_scale: float,
        update_s: float,
    ) -> ASGIApp:
        server = OcpiCpoServer(
            feed,
            token_a=token_a(self.country.seed, op),
            business_name=op.name,
            max_limit=max_page_size,
            session_update_s=update_s,
            time_scale=time_scale,
        )
        self.ocpi_servers[op.id] = server
        self.ocpi_charging[op.id] = OcpiChargingSetup(server, feed, self.compatibility)
        if not self.fault_config.enabled:
            return server.app
        injector = FaultInjector(op.id, self.fault_config)
        self.injectors[op.id] = injector
        return ocpi_faults(server, injector)

    # ------------------------------------------------------------------ life cycle

    @property
    def running(self) -> bool:
        return self._started and any(s.running for s in self._servers.values())

    def start(self, on_started: Callable[[str], None] | None = None) -> Simulator:
        """Start every operator's server, then the churn. ``on_started(operator id)`` after each
        server (progress). A server that fails to start stops everything and raises."""
        if self._started:
            raise RuntimeError("the simulator was already started")
        self._started = True
        for op in self.operators:
            self._servers[op.id] = LoopbackServer(
                self._apps[op.id], host=self.host, port=self._fixed_ports.get(op.id, 0)
            )

        def start_one(op_id: str) -> str:
            self._servers[op_id].start()
            return op_id

        try:
            with ThreadPoolExecutor(_START_WORKERS, thread_name_prefix="sim-start") as pool:
                for op_id in pool.map(start_one, list(self._servers)):
                    if op_id in self.ocpi_servers:
                        self.ocpi_servers[op_id].set_base_url(self._servers[op_id].url)
                    if on_started is not None:
                        on_started(op_id)
        except BaseException:
            self.stop()
            raise
        self.churn.start()
        log.info(
            "sim: %d operators serving on %s, churn %.1f changes/s, faults %s",
            len(self._servers),
            self.host,
            self.churn.rate,
            f"p={self.fault_config.probability:g}" if self.fault_config.enabled else "off",
        )
        return self

    def stop(self) -> None:
        """Stop the churn and the charging sessions, release late answers and stop every server
        (idempotent)."""
        self._stop_fleet()
        self.churn.stop()
        self.charging_loop.stop()
        for injector in self.injectors.values():
            injector.close()
        servers = [s for s in self._servers.values() if s.running]
        if servers:
            with ThreadPoolExecutor(_START_WORKERS, thread_name_prefix="sim-stop") as pool:
                list(pool.map(lambda s: s.stop(), servers))

    def stop_operator(self, operator_id: str) -> None:
        """One operator goes away: its server stops answering (an outage), the others serve
        on."""
        self._servers[operator_id].stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _bring_cars(self) -> None:
        """A driver who starts a charge from the app has plugged a car in: each such start
        brings a car of the seeded fleet (its model, VIN and state of charge), so sessions run
        in ``chargemesh sim`` and the demo without anyone plugging cars in by hand."""
        counter = itertools.count(1)
        lock = threading.Lock()

        def next_car() -> SimVehicle:
            with lock:
                n = next(counter)
            return make_vehicle(self.seed, 1_000_000 + n, emaid=True)

        for charging in self.charging.values():
            charging.arriving_cars = lambda _connector: next_car()
        for setup in self.ocpi_charging.values():
            setup.server.charging.arriving_cars = lambda _loc, _evse: next_car()

    # ------------------------------------------------------------------ addresses

    @property
    def ports(self) -> dict[str, int]:
        """Operator id → its server's port (once started)."""
        return {op_id: server.port for op_id, server in self._servers.items()}

    @property
    def origins(self) -> dict[str, str]:
        """Operator id → ``http://host:port``."""
        return {op_id: server.url for op_id, server in self._servers.items()}

    @property
    def urls(self) -> dict[str, str]:
        """Operator id → the URL the platform configures: a T/CEC base URL or an OCPI versions
        URL."""
        by_id = {op.id: op for op in self.operators}
        return {op_id: operator_url(by_id[op_id], origin) for op_id, origin in self.origins.items()}

    def write_manifest(self, path: Path, *, store_url: str = "sqlite:///chargemesh.db") -> Path:
        """Write the config for the running servers at ``path`` and the ground truth beside it
        (``<stem>.truth.json``, :func:`~.manifest.truth_path`); returns ``path``. With a
        ``csms_port``, the own chargers start connecting to it then."""
        if not self._servers or not all(s.running for s in self._servers.values()):
            raise RuntimeError("start the simulator before writing its manifest")
        write_manifest(
            self.country,
            path,
            ports=self.origins,
            platform_url=self.platform_url or DEFAULT_PLATFORM_URL,
            store_url=store_url,
            platform_operator_id=self.platform_operator_id,
            compatibility=self.compatibility,
            csms_port=self.csms_port,
        )
        if self.own is not None:
            self.start_fleet()
        return path

    @staticmethod
    def truth_path(path: Path) -> Path:
        """Where :meth:`write_manifest` puts the ground truth for a manifest at ``path``."""
        return truth_path(path)

    # ------------------------------------------------------------------ observation

    def fault_counts(self) -> Counter[FaultKind]:
        """Faults served so far, by kind, over every operator."""
        total: Counter[FaultKind] = Counter()
        for injector in self.injectors.values():
            total.update(injector.snapshot())
        return total

    # ------------------------------------------------------------------ cars

    def _charging_for(self, connector_id: str, operator_id: str | None) -> TcecOperatorCharging:
        if operator_id is not None:
            found = self.charging.get(operator_id)
            if found is None:
                raise KeyError(f"{operator_id} is not a simulated T/CEC operator")
            return found
        for op_id, charging in self.charging.items():
            feed = self.feeds[op_id]
            if isinstance(feed, TcecOperatorFeed) and feed.unit_of(connector_id) is not None:
                return charging
        raise KeyError(f"no T/CEC operator has the ConnectorID {connector_id}")

    def plug_in(
        self, connector_id: str, vehicle: SimVehicle, *, operator_id: str | None = None
    ) -> Future[NotificationPlugAndChargeResponse | None]:
        """Plug ``vehicle`` in at a T/CEC operator's ConnectorID (the operator is found from the id
        when not given): see :meth:`~.peers.tcec.charging.TcecOperatorCharging.plug_in`. The future
        gives the platform's plug-and-charge answer, ``None`` when the pile or network has none."""
        return self._charging_for(connector_id, operator_id).plug_in(connector_id, vehicle)

    def unplug(self, connector_id: str, *, operator_id: str | None = None) -> Future[None]:
        """Take the car away from a connector (ending its session, if one runs)."""
        return self._charging_for(connector_id, operator_id).unplug(connector_id)

    def idle_connectors(
        self,
        operator_id: str,
        *,
        count: int = 1,
        dc: bool | None = None,
        plug_and_charge: bool | None = None,
    ) -> list[str]:
        """Up to ``count`` ConnectorIDs of a T/CEC operator that are idle now and free of cars
        (and, when given, DC or AC, with or without plug-and-charge), in listing order."""
        feed = self.feeds.get(operator_id)
        if not isinstance(feed, TcecOperatorFeed):
            raise KeyError(f"{operator_id} is not a simulated T/CEC operator")
        charging = self.charging[operator_id]
        free = np.flatnonzero((feed.status == IDLE) & ~feed.held & ~feed.followers)
        found: list[str] = []
        for unit in free.tolist():
            cid = feed.connector_id(int(unit))
            pile = feed.pile_info(cid)
            if pile is None or charging.vehicle_at(cid) is not None:
                continue
            if dc is not None and pile.dc != dc:
                continue
            if plug_and_charge is not None and pile.plug_and_charge != plug_and_charge:
                continue
            found.append(cid)
            if len(found) >= count:
                break
        return found

    # ------------------------------------------------------------------ cars at OCPI operators

    def _ocpi_server(self, operator_id: str) -> tuple[OcpiCpoServer, LoopbackServer]:
        server = self.ocpi_servers.get(operator_id)
        served = self._servers.get(operator_id)
        if server is None:
            raise KeyError(f"{operator_id} is not a simulated OCPI operator")
        if served is None or not served.running:
            raise RuntimeError("start the simulator first")
        return server, served

    def plug_in_evse(
        self,
        operator_id: str,
        evse_uid: str,
        vehicle: SimVehicle,
        *,
        connector_id: str | None = None,
        timeout_s: float = 30.0,
    ) -> Session | None:
        """Plug ``vehicle`` in at an OCPI operator's EVSE (its Location is the uid's prefix) and
        wait: see :meth:`~chargemesh.sim.peers.ocpi.sessions.CpoCharging.plug_in`. The
        Session that started (a START_SESSION waiting for a car, or plug-and-charge the platform
        allowed), else ``None``. ``KeyError`` for an unknown EVSE, ``ValueError`` when a car is
        there already."""
        server, served = self._ocpi_server(operator_id)
        location_id = evse_uid.rpartition("-")[0]
        plugged = server.plug_in(location_id, evse_uid, vehicle, connector_id=connector_id)
        return served.call(plugged, timeout_s)

    def unplug_evse(
        self, operator_id: str, evse_uid: str, *, timeout_s: float = 30.0
    ) -> Cdr | None:
        """Take the car away from an OCPI EVSE; a session running there ends first (its CDR is
        returned once sent)."""
        server, served = self._ocpi_server(operator_id)
        location_id = evse_uid.rpartition("-")[0]
        return served.call(server.unplug(location_id, evse_uid), timeout_s)

    def ocpi_pile(self, operator_id: str, evse_uid: str) -> OcpiPile | None:
        """The pile behind an OCPI EVSE: manufacturer, model, firmware, power, remote start,
        plug-and-charge (``None`` if unknown)."""
        setup = self.ocpi_charging.get(operator_id)
        if setup is None:
            raise KeyError(f"{operator_id} is not a simulated OCPI operator")
        return setup.pile(evse_uid)

    def idle_evses(
        self,
        operator_id: str,
        *,
        count: int = 1,
        dc: bool | None = None,
        remote_start: bool | None = None,
        plug_and_charge: bool | None = None,
    ) -> list[str]:
        """Up to ``count`` EVSE uids of an OCPI operator that are AVAILABLE now and free of cars
        (and, when given, DC or AC, remotely startable or not, with or without
        plug-and-charge), in listing order."""
        feed = self.feeds.get(operator_id)
        setup = self.ocpi_charging.get(operator_id)
        if not isinstance(feed, OcpiCpoFeed) or setup is None:
            raise KeyError(f"{operator_id} is not a simulated OCPI operator")
        charging = self.ocpi_servers[operator_id].charging
        free = np.flatnonzero((feed.status == IDLE) & ~feed.held & ~feed.followers)
        found: list[str] = []
        for unit in free.tolist():
            location_id, evse_uid = feed.evse_of(int(unit))
            pile = setup.pile(evse_uid)
            if pile is None or charging.vehicle_at(location_id, evse_uid) is not None:
                continue
            wanted = ((dc, pile.dc), (remote_start, pile.remote_start))
            if any(want is not None and want != have for want, have in wanted):
                continue
            if plug_and_charge is not None and pile.plug_and_charge != plug_and_charge:
                continue
            found.append(evse_uid)
            if len(found) >= count:
                break
        return found
