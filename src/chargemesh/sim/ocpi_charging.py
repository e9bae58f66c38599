"""Charging at the simulated OCPI operators: the simulated country's piles, compatibility matrix
and plug-and-charge plugged into each CPO's charging (``server.charging``, a
:class:`~chargemesh.sim.peers.ocpi.sessions.CpoCharging`). The cars and their power curve are the
simulator's own (:class:`~.charging.SimVehicle`, :class:`~.charging.ChargeRun`), the same as on
the T/CEC networks, with nothing to translate.

:class:`OcpiChargingSetup` configures one CPO:

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

from chargemesh.protocols.ocpi.models import Connector, Evse, Location
from chargemesh.sim.charging import CompatibilityMatrix, SimVehicle
from chargemesh.sim.country import MODELS, locate_evse
from chargemesh.sim.feeds import OcpiCpoFeed
from chargemesh.sim.peers.ocpi.server import OcpiCpoServer

__all__ = ["OcpiChargingSetup", "OcpiPile"]


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
        self._attempts = 0
        charging = server.charging
        charging.on_hold = self._hold
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

    # ------------------------------------------------------------------ starts

    def _start_check(
        self, vehicle: SimVehicle, location: Location, evse: Evse, connector: Connector
    ) -> str | None:
        pile = self.pile(evse.uid)
        if pile is None:
            return None
        with self._lock:
            self._attempts += 1
            key = f"ocpi/{self.feed.operator_id}/{evse.uid}/{self._attempts}"
        reason = self.matrix.outcome(
            vehicle, pile.manufacturer, pile.model, pile.firmware, key, dc=pile.dc
        )
        return None if reason is None else str(reason)
