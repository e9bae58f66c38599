"""The charge of a car at a simulated CPO's connector, as the session engine reads it: the
simulator's one car model and power curve (:class:`~chargemesh.sim.charging.ChargeRun`, shared
with the T/CEC networks) behind a small interface, so tests can give a curve of their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from chargemesh.protocols.ocpi.enums import PowerType
from chargemesh.protocols.ocpi.mapping import connector_power_kw
from chargemesh.protocols.ocpi.models import Connector
from chargemesh.sim.charging import ChargeRun, ChargeSnapshot, SimVehicle, flat_tariff

__all__ = ["ChargeCurve", "ChargeModel", "ChargeState", "charge_run"]

#: The CPO prices by its OCPI Tariff: the money of the charge itself is not used.
_NO_PRICE: Final = flat_tariff("0", "0")


@dataclass(frozen=True, slots=True)
class ChargeState:
    """Where a charge stands: energy delivered so far (kWh), power now (kW), SoC (percent)."""

    kwh: float
    kw: float
    soc: float


class ChargeCurve(Protocol):
    """What the engine reads of one charge: when the car reaches its target (simulated seconds
    after the start, ``None``: not within 48 h), the energy so far (unrounded: a short period's
    mean power is energy over time) and the power and SoC after some simulated time. The
    simulator's one curve, :class:`~chargemesh.sim.charging.ChargeRun`, is one."""

    @property
    def finish_elapsed_s(self) -> float | None: ...

    def energy_after(self, elapsed_s: float) -> float: ...

    def snapshot_after(self, elapsed_s: float) -> ChargeSnapshot: ...


#: Makes the charge of a car at a connector (the connector gives power type and rating).
ChargeModel = Callable[[SimVehicle, Connector], ChargeCurve]


def charge_run(vehicle: SimVehicle, connector: Connector) -> ChargeRun:
    """The default :data:`ChargeModel`: the same :class:`~chargemesh.sim.charging.ChargeRun` as on
    the T/CEC networks, capped by the connector's rated power (the car's own limit when the
    connector states none)."""
    dc = str(connector.power_type) == PowerType.DC.value
    rated = connector_power_kw(connector)
    model = vehicle.model
    pile_kw = rated if rated > 0 else (model.max_dc_kw if dc else model.max_ac_kw)
    return ChargeRun(
        started_at=datetime.now(UTC), vehicle=vehicle, pile_kw=pile_kw, tariff=_NO_PRICE, dc=dc
    )
