"""The :class:`~.runner.Simulator`'s own network: with a ``csms_port`` the simulator writes a
``[csms]`` section into its manifest and, once the manifest is written, runs every own charger
(:func:`~.country.own.own_network`) as a live OCPP charge point (:class:`~.peers.ocpp.Fleet`)
that keeps trying to reach ``ws://127.0.0.1:<port>/ocpp/<id>`` — so ``sim`` + ``serve`` works:
the chargers connect once ``serve`` runs and their ids are registered.

What tests (and the demo) need from it, from any thread: :attr:`OwnChargers.fleet`,
:meth:`~OwnChargers.charge_point`, :meth:`~OwnChargers.plug_in_own`, :meth:`~OwnChargers.swipe_own`,
:meth:`~OwnChargers.unplug_own` and :meth:`~OwnChargers.idle_own_connectors`.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

from chargemesh.sim.charging import SimVehicle
from chargemesh.sim.country import Country
from chargemesh.sim.country.own import OwnNetwork, own_network
from chargemesh.sim.manifest import csms_url
from chargemesh.sim.peers.ocpp import Fleet, SimChargePoint, Transaction

__all__ = ["OwnChargers"]


class OwnChargers:
    """The own-network half of the simulator (a mixin of :class:`~.runner.Simulator`)."""

    csms_port: int | None
    own: OwnNetwork | None
    fleet: Fleet | None
    _own_options: dict[str, Any]

    def _init_own(
        self,
        country: Country,
        csms_port: int | None,
        *,
        time_scale: float,
        activity: bool,
        arriving_cars: bool,
        meter_interval_s: float,
    ) -> None:
        self.csms_port = csms_port
        self.own = own_network(country.scale, country.seed) if csms_port is not None else None
        self.fleet = None
        self._own_options = {
            "time_scale": time_scale,
            "activity": activity,
            "arriving_cars": arriving_cars,
            "meter_interval_s": meter_interval_s,
        }

    def start_fleet(self, url: str | None = None, **options: Any) -> Fleet:
        """Start the own chargers, connecting to ``url`` (default: the manifest's ``[csms]
        public_url``); ``options`` override the :class:`~.peers.ocpp.Fleet` settings. Started
        once; later calls return the running fleet."""
        if self.fleet is not None:
            return self.fleet
        if self.own is None or self.csms_port is None:
            raise RuntimeError("this simulator has no own network (give it a csms_port)")
        fleet = Fleet(self.own, url or csms_url(self.csms_port), **{**self._own_options, **options})
        self.fleet = fleet.start()
        return fleet

    def _stop_fleet(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()

    def _running_fleet(self) -> Fleet:
        if self.fleet is None:
            raise RuntimeError("the own chargers are not running (write the manifest first)")
        return self.fleet

    def charge_point(self, charger_id: str) -> SimChargePoint:
        """The simulated charge point of an own charger (its state; act on it through the
        fleet's loop, e.g. ``fleet.run(...)``)."""
        return self._running_fleet().charge_point(charger_id)

    def plug_in_own(
        self, charger_id: str, connector: int, vehicle: SimVehicle
    ) -> concurrent.futures.Future[Transaction | None]:
        """Plug ``vehicle`` into an own charger's connector (1-based): the future gives the
        charge plug-and-charge started, or ``None`` when the car waits for an app start
        (``ValueError`` inside if the connector is taken)."""
        fleet = self._running_fleet()
        return fleet.submit(fleet.plug_in(charger_id, connector, vehicle))

    def swipe_own(
        self, charger_id: str, connector: int, card_uid: str
    ) -> concurrent.futures.Future[Transaction | None]:
        """Hold an RFID card to an own charger's reader for the car waiting on ``connector``:
        the future gives the charge it started, or ``None`` when the CSMS refused the card."""
        fleet = self._running_fleet()
        return fleet.submit(fleet.swipe(charger_id, connector, card_uid))

    def unplug_own(self, charger_id: str, connector: int, *, timeout_s: float = 10.0) -> None:
        """Take the car away from an own charger's connector (a running charge ends first)."""
        cp = self.charge_point(charger_id)

        async def unplug() -> None:
            cp.unplug(connector)

        self._running_fleet().run(unplug(), timeout_s)

    def idle_own_connectors(
        self,
        *,
        kind: str | None = None,
        ocpp: str | None = None,
        online: bool = True,
        count: int = 1,
    ) -> list[tuple[str, int]]:
        """Up to ``count`` (charger id, connector) of own chargers free of cars and charges, of
        that ``kind`` ("supercharger"/"home") and OCPP version ("1.6"/"2.0.1") when given, and
        connected (booted) unless ``online=False``."""
        fleet = self._running_fleet()

        async def look() -> list[tuple[str, int]]:
            return fleet.idle_connectors(kind=kind, ocpp=ocpp, online=online, count=count)

        return fleet.run(look())
