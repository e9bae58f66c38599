"""Charging at the simulated OCPI operators: the simulator's cars, power curve and compatibility
matrix plugged into each :class:`~chargemesh.sim.peers.ocpi.server.OcpiCpoServer`'s
:class:`~chargemesh.sim.peers.ocpi.sessions.CpoCharging`.

:class:`OcpiChargingSetup` configures one CPO (``server.charging``):

* its cars are the simulator's :class:`~.charging.SimVehicle` (turned into the CPO's
  :class:`~chargemesh.sim.peers.ocpi.sessions.Vehicle` by :func:`ocpi_vehicle`, the VIN
  kept): their energy follows the same :class:`~.charging.ChargeRun` curve as on the T/CEC
  networks (a plain ``Vehicle`` the simulator did not make falls back to the CPO's own
  :class:`~chargemesh.sim.peers.ocpi.sessions.PowerCurve`);
* a start fails according to the :class:`~.charging.CompatibilityMatrix` for the car's model and
  the pile's manufacturer, model and firmware (the country's ``evse_model``), the failure reason
  being the CommandResult's message;
* plug-and-charge holds where the operator has the ``plug_and_charge`` capability and the pile
  does it (the country's ``evse_pnc``);
* while a car is plugged in, the status churn leaves the EVSE alone (``feed.hold_unit``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from chargemesh.protocols.ocpi.enums import PowerType
from chargemesh.protocols.ocpi.mapping import connector_power_kw
from chargemesh.protocols.ocpi.models import Connector, Evse, Location
from chargemesh.sim.charging import ChargeRun, CompatibilityMatrix, SimVehicle, flat_tariff
from chargemesh.sim.country import MODELS, locate_evse
from chargemesh.sim.feeds import OcpiCpoFeed
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer
from chargemesh.sim.peers.ocpi.sessions import ChargeProfile, ChargeState, PowerCurve, Vehicle

__all__ = ["OcpiChargingSetup", "OcpiPile", "ocpi_vehicle"]

_NO_PRICE: Final = flat_tariff("0", "0")  # ChargeRun's money is unused: the CPO prices by tariff


def ocpi_vehicle(vehicle: SimVehicle) -> Vehicle:
    """The CPO's view of a simulated car: its model id, battery, limits, SoC, EMAID and VIN."""
    model = vehicle.model
    return Vehicle(
        model=model.id,
        battery_kwh=model.battery_kwh,
        max_kw=model.max_dc_kw,
        max_ac_kw=model.max_ac_kw,
        soc=vehicle.soc,
        target_soc=vehicle.target_soc,
        emaid=vehicle.emaid,
        vin=vehicle.vin,
    )


@dataclass(frozen=True, slots=True)
class OcpiPile:
    """The pile behind an OCPI EVSE of the simulated country."""

    location_id: str
    evse_uid: str
    manufacturer: str
    model: str
    firmware: str
    power_kw: float
    dc: bool
    remote_start: bool
    plug_and_charge: bool


class _RunProfile:
    """A :class:`~.charging.ChargeRun` as the CPO's :class:`ChargeProfile`."""

    def __init__(self, run: ChargeRun) -> None:
        self.run = run
        self.finish_s = run.finish_elapsed_s

    def at(self, elapsed_s: float) -> ChargeState:
        snap = self.run.snapshot_after(elapsed_s)
        return ChargeState(snap.energy_kwh, snap.power_kw, snap.soc)


class OcpiChargingSetup:
    """Charging for one simulated OCPI operator (see the module docstring)."""

    def __init__(
        self,
        server: OcpiCpoServer,
        feed: OcpiCpoFeed,
        matrix: CompatibilityMatrix,
    ) -> None:
        self.server = server
        self.feed = feed
        self.matrix = matrix
        self._lock = threading.Lock()
        self._vehicles: dict[str, SimVehicle] = {}  # by VIN
        self._attempts = 0
        charging = server.charging
        charging.on_hold = self._hold
        charging.charge_model = self._profile
        charging.start_check = self._start_check
        if "plug_and_charge" in feed.operator.capabilities:
            charging.plug_and_charge = self._plug_and_charge
        else:
            charging.plug_and_charge = False

    # ------------------------------------------------------------------ the country

    def _evse_index(self, evse_uid: str) -> int | None:
        found = locate_evse(self.feed.country, self.feed.operator_id, evse_uid)
        return None if found is None else found[1]

    def pile(self, evse_uid: str) -> OcpiPile | None:
        """The pile behind one of this operator's EVSE uids (``None`` if unknown)."""
        e = self._evse_index(evse_uid)
        if e is None:
            return None
        c = self.feed.country
        manufacturer, model, firmware = MODELS[int(c.evse_model[e])]
        location_id = evse_uid.rpartition("-")[0].upper()
        return OcpiPile(
            location_id=location_id,
            evse_uid=evse_uid.upper(),
            manufacturer=manufacturer,
            model=model,
            firmware=firmware,
            power_kw=float(c.evse_power_kw[e]),
            dc=bool(c.evse_dc[e]),
            remote_start=bool(c.evse_scan[e]),
            plug_and_charge="plug_and_charge" in self.feed.operator.capabilities
            and bool(c.evse_pnc[e]),
        )

    def _hold(self, location_id: str, evse_uid: str, held: bool) -> None:
        e = self._evse_index(evse_uid)
        if e is not None:
            self.feed.hold_unit(e - self.feed.first_evse, held)

    def _plug_and_charge(self, location_id: str, evse_uid: str) -> bool:
        pile = self.pile(evse_uid)
        return pile is not None and pile.plug_and_charge

    # ------------------------------------------------------------------ cars

    def register(self, vehicle: SimVehicle | Vehicle) -> Vehicle:
        """The CPO's Vehicle for ``vehicle``, a simulated car remembered by its VIN so that its
        charge follows the simulator's curve and matrix."""
        if isinstance(vehicle, Vehicle):
            return vehicle
        with self._lock:
            self._vehicles[vehicle.vin] = vehicle
        return ocpi_vehicle(vehicle)

    def _sim_vehicle(self, vehicle: Vehicle) -> SimVehicle | None:
        if vehicle.vin is None:
            return None
        with self._lock:
            return self._vehicles.get(vehicle.vin)

    def _profile(self, vehicle: Vehicle, connector: Connector) -> ChargeProfile:
        sim = self._sim_vehicle(vehicle)
        if sim is None:
            return PowerCurve(vehicle, connector)
        run = ChargeRun(
            started_at=datetime.now(UTC),
            vehicle=sim,
            pile_kw=connector_power_kw(connector),
            tariff=_NO_PRICE,
            dc=str(connector.power_type) == PowerType.DC.value,
        )
        return _RunProfile(run)

    def _start_check(
        self, vehicle: Vehicle, location: Location, evse: Evse, connector: Connector
    ) -> str | None:
        sim = self._sim_vehicle(vehicle)
        pile = self.pile(evse.uid)
        if sim is None or pile is None:
            return None
        with self._lock:
            self._attempts += 1
            key = f"ocpi/{self.feed.operator_id}/{evse.uid}/{self._attempts}"
        reason = self.matrix.outcome(
            sim, pile.manufacturer, pile.model, pile.firmware, key, dc=pile.dc
        )
        return None if reason is None else str(reason)
