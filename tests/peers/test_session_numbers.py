"""What a driver sees of one session agrees with itself, and says truly why it ended (issue 13):
over loopback HTTP, the driver's API on the real platform against the simulator's T/CEC charging
(both stores) and the simulated OCPI CPO.

* ``elapsed_s`` is the operator's charging time (its own start/end times, the Session's TIME,
  the CDR's ``total_time``), so kWh ≈ kW × elapsed_s / 3600 at real speed (the default) and on
  a 60× clock alike, and the cost is the energy at the price.
* A car watched until it is full ends "battery full" (T/CEC StopReason 2; OCPI: COMPLETED without
  our STOP_SESSION at a full SoC, the CDR's remark agreeing); the driver's stop ends "stopped by
  the driver".
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from chargemesh.protocols.tcec.charging import PolicyInfo
from chargemesh.services.charging.sessions import MONEY_TOLERANCE
from chargemesh.sim.charging import ChargeRun, make_vehicle
from chargemesh.sim.peers.ocpi.charge import charge_run
from chargemesh.sim.peers.tcec.charging import tariff_of
from chargemesh.store import Store
from tests.peers import test_sessions_ocpi as ocpi
from tests.peers.test_ocpi_cpo_sessions import (  # the CPO + platform fixture, shared
    DC as OCPI_DC,
)
from tests.peers.test_ocpi_cpo_sessions import (
    LOC,
    Peers,
    peers,  # noqa: F401 - the fixture ``p``
    sync,
    wait_for,
)
from tests.peers.test_sessions_tcec import DC, World, start, world_with

FLAT = (PolicyInfo(start_time="000000", elec_price=Decimal("0.6000"),
                   service_price=Decimal("0.5000")),)  # fmt: skip
PRICE = Decimal("1.1000")
#: T/CEC times are whole seconds: a reading's elapsed time is good to a second.
TIME_RESOLUTION_S = 1.0


@pytest.fixture
def w(store: Store) -> Iterator[World]:
    for world in world_with(store):
        world.network.policy = FLAT
        yield world


def agrees(s: dict[str, Any], kw: float, slack_s: float = TIME_RESOLUTION_S) -> None:
    """kWh = kW × elapsed / 3600 to the times' resolution, and cost = kWh × price."""
    assert s["elapsed_s"] > 0
    assert s["kwh"] == pytest.approx(kw * s["elapsed_s"] / 3600, abs=kw * slack_s / 3600 + 0.002)
    cost = Decimal(s["cost"])
    assert abs(cost - Decimal(str(s["kwh"])) * PRICE) <= Decimal("0.02")


# --------------------------------------------------------------------------------- T/CEC


@pytest.mark.parametrize("scale", [60.0, 1.0])
def test_tcec_numbers_agree_on_the_operators_clock_and_the_driver_stops(
    w: World, scale: float
) -> None:
    """lt-m3 at 20 % on the 120 kW gun: a flat 120 kW until 55 %."""
    w.charging.time_scale = scale
    w.charging.plug_in(DC, make_vehicle(11, 1, model="lt-m3", soc=20.0)).result(10)
    begun = time.monotonic()
    sid = start(w)
    enough = 180.0 if scale > 1 else 6.0  # 6 kWh at 60×, 0.2 kWh in real time
    live = wait_for(lambda: (s := w.session(sid))["state"] == "charging"
                    and (s["elapsed_s"] or 0) >= enough and s)  # fmt: skip
    watched = time.monotonic() - begun
    assert live["kw"] == pytest.approx(120, rel=0.01)
    agrees(live, 120)
    if scale == 1.0:  # real time: the operator's clock is ours
        assert live["elapsed_s"] <= watched + TIME_RESOLUTION_S
    else:  # a simulated hour a minute: the times follow that clock, not ours
        assert live["elapsed_s"] > 20 * watched
    w.api("POST", f"/api/v1/sessions/{sid}/stop")
    done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
    assert (done["stop_code"], done["stop_reason"]) == ("driver", "stopped by the driver")
    billed = {**done, "kwh": done["bill"]["kwh"], "cost": done["bill"]["total"]}
    agrees(billed, 120)
    assert done["dispute"] is None


def test_tcec_a_car_watched_until_full_ends_battery_full(w: World) -> None:
    w.charging.time_scale = 600.0
    car = make_vehicle(11, 2, model="lt-m3", soc=80.0, target_soc=90.0)
    w.charging.plug_in(DC, car).result(10)
    sid = start(w)
    done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
    assert (done["stop_code"], done["stop_reason"]) == ("battery_full", "battery full")
    assert done["soc"] == pytest.approx(90.0, abs=0.1)
    # the charge the simulator ran: 7.4 kWh, tapering, over ≈ 6 simulated minutes
    run = ChargeRun(started_at=datetime.now(UTC), vehicle=car, pile_kw=120,
                    tariff=tariff_of(FLAT))  # fmt: skip
    assert run.finish_elapsed_s is not None
    assert done["bill"]["kwh"] == pytest.approx(7.4, abs=0.01)
    assert done["elapsed_s"] == pytest.approx(run.finish_elapsed_s, abs=TIME_RESOLUTION_S)
    average_kw = done["bill"]["kwh"] / done["elapsed_s"] * 3600
    assert run.snapshot_after(run.finish_elapsed_s - 1).power_kw < average_kw < 120
    assert Decimal(done["bill"]["total"]) == (Decimal("7.4") * PRICE).quantize(Decimal("0.01"))
    assert done["dispute"] is None


# --------------------------------------------------------------------------------- OCPI


def ocpi_price(p: Peers, sid: str, kwh: float) -> Decimal:
    """The CPO's price per kWh incl. VAT, as its CDR bills it."""
    cdr = p.cdr(sid)
    assert cdr is not None
    return Decimal(str(cdr["total_cost"]["incl_vat"])) / Decimal(str(kwh))


@pytest.mark.parametrize("scale", [60.0, 1.0])
def test_ocpi_numbers_agree_on_the_cpos_clock_and_the_driver_stops(p: Peers, scale: float) -> None:
    """yc-aster at 30 % on the 120 kW DC EVSE: a flat 120 kW until 55 %."""
    p.cpo.charging.time_scale = scale
    p.cpo.charging.session_update_s = 0.5
    sync(p)
    p.plug_in(make_vehicle(5, 1, model="yc-aster", soc=30, target_soc=90))
    begun = time.monotonic()
    sid = ocpi.api(p, "POST", "/api/v1/sessions", json={"qr": ocpi.EVSE_CODE}).json()["id"]
    enough = 180.0 if scale > 1 else 4.0
    live = wait_for(lambda: (s := ocpi.session(p, sid))["state"] == "charging"
                    and (s["elapsed_s"] or 0) >= enough and s)  # fmt: skip
    watched = time.monotonic() - begun
    assert live["kw"] == pytest.approx(120, rel=0.01)
    assert live["kwh"] == pytest.approx(120 * live["elapsed_s"] / 3600, rel=0.01, abs=0.002)
    if scale == 1.0:
        assert live["elapsed_s"] <= watched + 0.5
    else:
        assert live["elapsed_s"] > 20 * watched
    ocpi.api(p, "POST", f"/api/v1/sessions/{sid}/stop")
    done = wait_for(lambda: (s := ocpi.session(p, sid))["state"] == "completed" and s)
    assert (done["stop_code"], done["stop_reason"]) == ("driver", "stopped by the driver")
    bill = done["bill"]
    assert bill["kwh"] == pytest.approx(120 * done["elapsed_s"] / 3600, rel=0.01, abs=0.002)
    remote = done["bill"]["reference"].removeprefix("CDR-")
    price = ocpi_price(p, remote, bill["kwh"])
    live_cost = Decimal(live["cost"])
    assert abs(live_cost - Decimal(str(live["kwh"])) * price) <= MONEY_TOLERANCE
    assert done["dispute"] is None


def test_ocpi_a_car_watched_until_full_ends_battery_full(p: Peers) -> None:
    p.cpo.charging.time_scale = 600
    sync(p)
    # 70 → 80 %: the car (340 kW, tapering from 60 %) still takes more than the EVSE's 120 kW
    car = make_vehicle(5, 2, model="yc-aster", soc=70, target_soc=80)
    p.plug_in(car)
    sid = ocpi.api(p, "POST", "/api/v1/sessions", json={"qr": ocpi.EVSE_CODE}).json()["id"]
    done = wait_for(lambda: (s := ocpi.session(p, sid))["state"] == "completed" and s)
    assert (done["stop_code"], done["stop_reason"]) == ("battery_full", "battery full")
    assert done["bill"]["kwh"] == pytest.approx(9.6, abs=0.01)  # 10 % of 96 kWh
    location = p.network.location(LOC)
    assert location is not None
    evse = next(e for e in location.evses or [] if e.uid == OCPI_DC)
    run = charge_run(car, evse.connectors[0])
    assert run.finish_elapsed_s is not None
    # the session ended when the car was full (9.6 kWh at 120 kW), not at the CPO's next update
    assert done["elapsed_s"] == pytest.approx(run.finish_elapsed_s, abs=1.0)
    assert done["bill"]["kwh"] / done["elapsed_s"] * 3600 == pytest.approx(120, rel=0.01)


def test_tcec_a_car_unplugged_mid_charge_ends_unplugged(w: World) -> None:
    w.charging.plug_in(DC, make_vehicle(11, 3, model="lt-m3", soc=20.0)).result(10)
    sid = start(w)
    wait_for(lambda: (s := w.session(sid))["state"] == "charging" and s["kwh"] > 0)
    w.charging.unplug(DC).result(10)  # StopReason 4
    done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
    assert (done["stop_code"], done["stop_reason"]) == ("unplugged", "unplugged")


def test_ocpi_a_car_unplugged_mid_charge_ends_unplugged(p: Peers) -> None:
    sync(p)
    p.plug_in(make_vehicle(5, 3, model="yc-aster", soc=30, target_soc=90))
    sid = ocpi.api(p, "POST", "/api/v1/sessions", json={"qr": ocpi.EVSE_CODE}).json()["id"]
    wait_for(lambda: (s := ocpi.session(p, sid))["state"] == "charging" and s["kwh"] > 0)
    p.cpo_server.call(p.cpo.charging.unplug(LOC, OCPI_DC))  # the CDR's remark says so
    done = wait_for(lambda: (s := ocpi.session(p, sid))["state"] == "completed" and s)
    assert (done["stop_code"], done["stop_reason"]) == ("unplugged", "unplugged")
