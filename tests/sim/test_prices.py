"""The simulated country's prices reach drivers: a T/CEC station's (its operator's business
policy, asked when station detail first needs it) and an OCPI station's (the Tariff its CPO
publishes and bills by) show in station detail and in the preview alike, on both stores; a
charge at the simulated CPO is billed at the price shown."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargemesh.protocols.ocpi import mapping
from chargemesh.services.feeds.ingest import OcpiSide, sync_all
from chargemesh.sim.charging import CompatibilityMatrix, make_vehicle
from chargemesh.sim.country import Country
from tests.drivers import bearer
from tests.helpers import wait_for
from tests.sim.conftest import SEED, World, running_world

OCPI_OP = "CN-TLN"
TCEC_OP = "MA2YLN028"


@pytest.fixture
def world_on(country: Country, tmp_path: Path, store_url: str) -> Iterator[World]:
    with running_world(country, tmp_path, store_url=store_url) as running:
        yield running


def call(world: World, method: str, path: str, **kw: Any) -> Any:
    answer = httpx.request(
        method, f"{world.config.server.base_url}{path}", timeout=10,
        headers=bearer(world.platform), **kw,
    )  # fmt: skip
    assert answer.status_code < 300, answer.text
    return answer.json()


def test_every_network_shows_the_price_it_bills_in_detail_and_preview(world_on: World) -> None:
    w = world_on
    p = w.platform
    side = OcpiSide(p.ocpi_connections, p.ocpi_locations, p.ocpi_objects)
    w.server.call(sync_all(w.config, w.store, p.relay, ocpi=side, operators=[OCPI_OP, TCEC_OP]))
    expected = {
        TCEC_OP: [("00:00", "08:00", 0.75), ("08:00", "22:00", 1.85), ("22:00", "00:00", 0.75)],
        OCPI_OP: [("00:00", "00:00", 1.356)],  # 1.20 + 13 % VAT, all day
    }
    for op, periods in expected.items():
        station = next(w.store.iter_stations(op))
        detail = call(w, "GET", f"/api/v1/stations/{station.id}")
        shown = detail["tariff"]
        assert [(x["start"], x["end"], x["price_per_kwh"]) for x in shown["periods"]] == periods
        assert shown["price_now"] is not None
        previews = (
            call(w, "POST", "/api/v1/sessions/preview", json={"connector_id": c["id"]})
            for e in detail["evses"]
            for c in e["connectors"]
        )
        preview = next(x for x in previews if x["startable"])  # a busy one is not quoted
        assert (preview["tariff"], preview["price_now"]) == (shown, shown["price_now"]), preview


def test_a_charge_at_the_simulated_cpo_is_billed_at_the_price_shown(world_on: World) -> None:
    w = world_on
    p = w.platform
    side = OcpiSide(p.ocpi_connections, p.ocpi_locations, p.ocpi_objects)
    w.server.call(sync_all(w.config, w.store, p.relay, ocpi=side, operators=[OCPI_OP]))
    charging = w.sim.ocpi_servers[OCPI_OP].charging
    charging.session_update_s, charging.time_scale = 0.1, 600
    w.sim.ocpi_charging[OCPI_OP].matrix = CompatibilityMatrix.never_failing()
    evse = w.sim.idle_evses(OCPI_OP, remote_start=True)[0]
    location = evse.rpartition("-")[0]
    w.sim.plug_in_evse(OCPI_OP, evse, make_vehicle(SEED, 3, model="lt-m3", soc=30))
    station = w.store.get_station(mapping.location_key(OCPI_OP, location))
    assert station is not None
    connector = next(
        c.id for e in station.evses if e.source_id == evse for c in e.connectors
    )  # fmt: skip
    preview = call(w, "POST", "/api/v1/sessions/preview", json={"connector_id": connector})
    assert preview["startable"], preview
    price = Decimal(str(preview["price_now"]))
    started = call(w, "POST", "/api/v1/sessions", json={"connector_id": connector})
    sid = started["id"]
    wait_for(lambda: call(w, "GET", f"/api/v1/sessions/{sid}")["kwh"] > 1.0, timeout_s=20)
    call(w, "POST", f"/api/v1/sessions/{sid}/stop")
    done = wait_for(
        lambda: (s := call(w, "GET", f"/api/v1/sessions/{sid}"))["state"] == "completed" and s,
        timeout_s=20,
    )
    billed = Decimal(done["bill"]["total"])
    assert abs(billed - Decimal(str(done["bill"]["kwh"])) * price) <= Decimal("0.02")
    assert done["dispute"] is None
