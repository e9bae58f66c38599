"""Driver sessions on a T/CEC network, end to end over loopback HTTP and against both stores:
the driver's API on the real platform; the simulated operator (its T/CEC server with the
simulator's charging attached) pushing to the platform's T/CEC endpoints. QR start with live
readings, stop and the bill; plug-and-charge by VIN; a compatibility failure with its reason;
an operator that never answers; the platform restarted mid-session; a bill that disagrees with
our record, disputed at the bill and in the daily check; a view-only network."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dt_time
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest

from chargemesh.api.tcec import TcecPeer
from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.domain import Capability, Operator, OperatorProtocol, station_id
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.protocols.tcec.codec import CHINA_TZ
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.services.charging.sessions import MONEY_TOLERANCE, MONEY_TOLERANCE_SHARE
from chargemesh.services.feeds.tcec_sync import sync_tcec_operator
from chargemesh.sim.charging import BadSlice, CompatibilityMatrix, FailureReason, make_vehicle
from chargemesh.sim.peers.tcec.charging import TcecOperatorCharging
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from chargemesh.store import Store
from tests.drivers import bearer
from tests.helpers import free_port, shown_price
from tests.helpers import wait_for as _wait_for
from tests.peers.tcec_samples import (
    OPERATOR_ID,
    PLATFORM_ID,
    PLATFORM_SECRETS,
    PUSH_SECRETS,
    T0,
    connector_id,
    station,
)

wait_for = partial(_wait_for, timeout_s=15.0, poll_s=0.05)
DC = connector_id(0, 1, 1)  # 120 kW DC gun of station 0
QR = f"hlht://{DC}.{OPERATOR_ID}/"
MAKER, MODEL, FIRMWARE = "砺新电气", "LX-DC120-2", "V2.3.1"
CAPS = frozenset({Capability.REALTIME, Capability.SCAN, Capability.PLUG_AND_CHARGE})


def piles(n: int) -> StationInfo:
    base = station(n)
    equipment = tuple(
        e.model_copy(update={"manufacturer_name": MAKER, "equipment_model": MODEL})
        for e in base.equipment_infos
    )
    return base.model_copy(update={"equipment_infos": equipment})


@dataclass
class World:
    store: Store
    network: OperatorNetwork
    operator: TcecOperatorServer
    operator_url: str
    charging: TcecOperatorCharging
    port: int
    platform: Platform
    server: LoopbackServer
    clients: dict[str, TcecClient] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {**bearer(self.platform), **kw.pop("headers", {})}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=10, **kw)

    def session(self, sid: str) -> dict[str, Any]:
        answer = self.api("GET", f"/api/v1/sessions/{sid}")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body


def make_platform(
    w_store: Store, operator_url: str, capabilities: frozenset[Capability]
) -> Platform:
    operator = Operator(OPERATOR_ID, "Lanting Charging", OperatorProtocol.TCEC, capabilities)
    w_store.upsert_operator(operator)

    def clients(op: str, http: httpx.AsyncClient) -> TcecClient | None:
        if op != OPERATOR_ID:
            return None
        return TcecClient(
            base_url=operator_url, operator_id=OPERATOR_ID, platform_operator_id=PLATFORM_ID,
            secrets=PLATFORM_SECRETS, dialect="cec", http=http, backoff_s=0.01,
        )  # fmt: skip

    return assemble(
        w_store,
        {OPERATOR_ID: TcecPeer(OPERATOR_ID, PUSH_SECRETS, "cec")},
        ocpi=OcpiSettings(
            public_url="http://127.0.0.1:1",
            tcec_operator_id=PLATFORM_ID,
            session_start_timeout_s=10,
            session_stop_timeout_s=10,
        ),
        tcec_clients=clients,
    )


def sync(w: World) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            client = TcecClient(
                base_url=w.operator_url, operator_id=OPERATOR_ID, platform_operator_id=PLATFORM_ID,
                secrets=PLATFORM_SECRETS, dialect="cec", http=http,
            )  # fmt: skip
            operator = w.store.get_operator(OPERATOR_ID)
            assert operator is not None
            await sync_tcec_operator(client, operator, w.store, w.platform.relay)

    asyncio.run(run())


def world_with(store: Store, capabilities: frozenset[Capability] = CAPS) -> Iterator[World]:
    network = OperatorNetwork([piles(n) for n in range(2)], changed_at=T0)
    network.firmware = {"LT00000001": FIRMWARE, "LT00000002": FIRMWARE}
    operator = TcecOperatorServer(OPERATOR_ID, "cec", network, {PLATFORM_ID: PLATFORM_SECRETS})
    port = free_port()
    with LoopbackServer(operator.app) as op_server:
        operator_url = operator.base_url(op_server.url)
        charging = TcecOperatorCharging(
            OPERATOR_ID, network, platform_url=f"http://127.0.0.1:{port}/tcec/v1/",
            secrets=PUSH_SECRETS, dialect="cec", matrix=CompatibilityMatrix.never_failing(),
            time_scale=600.0, status_interval_s=0.2, start_delay_s=0.05, stop_delay_s=0.05,
            retry_s=(0.05, 0.2),
        ).attach(operator)  # fmt: skip
        platform = make_platform(store, operator_url, capabilities)
        try:
            with LoopbackServer(platform.app(), port=port) as server:
                w = World(store, network, operator, operator_url, charging, port, platform, server)
                sync(w)
                yield w
        finally:
            charging.close()


@pytest.fixture
def w(store: Store) -> Iterator[World]:
    yield from world_with(store)


def china_now() -> dt_time:
    return datetime.now(CHINA_TZ).time()


def car(n: int = 1, model: str = "lt-m3") -> Any:
    return make_vehicle(11, n, model=model, soc=20.0, target_soc=95.0)


def start(w: World, key: str | None = None) -> str:
    headers = {"Idempotency-Key": key} if key else {}
    answer = w.api("POST", "/api/v1/sessions", json={"qr": QR}, headers=headers)
    assert answer.status_code == 201, answer.text
    sid: str = answer.json()["id"]
    return sid


def test_a_qr_start_charges_live_stops_and_closes_with_the_bill(w: World) -> None:
    w.charging.plug_in(DC, car()).result(10)
    preview = w.api("POST", "/api/v1/sessions/preview", json={"qr": QR}).json()
    assert (preview["startable"], preview["qr_format"]) == (True, "tcec")
    published = w.network.policy_for(DC)  # query_equip_business_policy, as the pile's price
    assert [(x["start"], Decimal(x["electricity_fee"]), Decimal(x["service_fee"]))
            for x in preview["price"]] == [
        (f"{p.start_time[:2]}:{p.start_time[2:4]}", p.elec_price, p.service_price)
        for p in published
    ]  # fmt: skip
    assert preview["price"]
    assert preview["currency"] == "CNY"
    sid = start(w, key="scan-1")
    live = wait_for(lambda: (s := w.session(sid))["state"] == "charging" and s["kwh"] > 0.5 and s)
    assert live["kw"] == pytest.approx(120, rel=0.05)  # V × A of the charge status push
    assert 20 < live["soc"] < 95
    assert Decimal(live["cost"]) > 0
    assert live["started_at"] is not None
    again = w.api(
        "POST", "/api/v1/sessions", json={"qr": QR}, headers={"Idempotency-Key": "scan-1"}
    )
    assert (again.status_code, again.json()["id"]) == (200, sid)
    stopped = w.api("POST", f"/api/v1/sessions/{sid}/stop").json()
    assert stopped["state"] in ("stopping", "completed")
    done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
    assert done["bill"]["kwh"] >= live["kwh"]
    assert Decimal(done["bill"]["total"]) == Decimal(done["bill"]["energy_cost"]) + Decimal(
        done["bill"]["service_cost"]
    )
    assert done["dispute"] is None
    [attempt] = w.store.list_attempts()
    assert (attempt.outcome, attempt.charger_manufacturer, attempt.charger_model) == (
        "success", MAKER, MODEL
    )  # fmt: skip
    assert attempt.connector_standard == "gbt_dc"


def test_the_price_shown_before_a_charge_is_the_price_billed(w: World) -> None:
    station = station_id(OPERATOR_ID, piles(0).station_id)
    shown = w.api("GET", f"/api/v1/stations/{station}").json()["tariff"]
    # asked from the operator when first needed (query_equip_business_policy), kept with its time
    assert [(p["start"], p["end"], p["electricity_fee"], p["service_fee"])
            for p in shown["periods"]] == [
        ("00:00", "08:00", 0.35, 0.40), ("08:00", "22:00", 1.05, 0.80),
        ("22:00", "00:00", 0.35, 0.40),
    ]  # fmt: skip
    assert shown["currency"] == "CNY"
    assert Decimal(str(shown["price_now"])) == shown_price(shown, china_now())
    held = w.store.get_tariff(shown["id"])
    assert held is not None
    assert held.fetched_at is not None
    # while fresh, detail reads what is kept; the preview asks the pile's own price, and keeps it
    w.network.policy = tuple(
        p.model_copy(update={"service_price": p.service_price + Decimal("0.10")})
        for p in w.network.policy
    )
    assert w.api("GET", f"/api/v1/stations/{station}").json()["tariff"] == shown
    w.charging.plug_in(DC, car()).result(10)
    preview = w.api("POST", "/api/v1/sessions/preview", json={"qr": QR}).json()
    quoted = preview["tariff"]
    assert [p["service_fee"] for p in quoted["periods"]] == [0.50, 0.90, 0.50]
    assert preview["price_now"] == quoted["price_now"] == float(shown_price(quoted, china_now()))
    assert preview["currency"] == quoted["currency"] == "CNY"
    assert w.api("GET", f"/api/v1/stations/{station}").json()["tariff"] == quoted  # they agree
    sid = start(w)
    wait_for(lambda: (s := w.session(sid))["state"] == "charging" and s["kwh"] > 1.0)
    w.api("POST", f"/api/v1/sessions/{sid}/stop")
    done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
    # the bill: every period's energy at the price shown for that time of day
    order = w.charging.bills[w.store.get_session(sid).protocol_ref]  # type: ignore[union-attr]
    assert order.charge_details
    expected = Decimal(0)
    for detail in order.charge_details:
        local = datetime.strptime(detail.detail_start_time, "%Y-%m-%d %H:%M:%S").time()
        price = shown_price(quoted, local)
        assert (detail.elec_price or 0) + (detail.service_price or 0) == price
        expected += Decimal(str(detail.detail_power)) * price
    began = datetime.strptime(order.start_time, "%Y-%m-%d %H:%M:%S").time()
    assert shown_price(quoted, began) == Decimal(str(preview["price_now"]))  # "now" was the start
    assert done["bill"]["kwh"] == pytest.approx(sum(d.detail_power for d in order.charge_details))
    total = Decimal(done["bill"]["total"])
    assert abs(total - expected) <= max(MONEY_TOLERANCE, expected * MONEY_TOLERANCE_SHARE)
    assert done["dispute"] is None


def test_plug_and_charge_by_vin_starts_with_no_app_action(w: World) -> None:
    vehicle = car(2)
    made = w.api("POST", "/api/v1/vehicles", json={"vin": vehicle.vin, "model": "lt-m3"})
    vid = made.json()["id"]
    switched = w.api("PUT", f"/api/v1/vehicles/{vid}/plug-and-charge")  # on for the car
    assert switched.status_code == 200, switched.text
    assert switched.json()["plug_and_charge_networks"] == [OPERATOR_ID]
    w.network.plug_and_charge = True  # its piles read the VIN…
    w.charging.plug_and_charge = True  # …and the operator asks the platform
    answer = w.charging.plug_in(DC, vehicle).result(10)
    assert answer is not None
    assert answer.succ_stat == 0
    assert answer.start_charge_seq is not None
    assert answer.start_charge_seq.startswith(PLATFORM_ID)
    mine = wait_for(lambda: [s for s in w.api("GET", "/api/v1/sessions").json()
                             if s["state"] == "charging" and s["kwh"] > 0])  # fmt: skip
    assert mine[0]["method"] == "plug_and_charge"
    assert mine[0]["vehicle_id"] == vid
    # a VIN nobody registered is refused, and nothing starts
    stranger = w.charging.plug_in(connector_id(1, 1, 1), car(3)).result(10)
    assert stranger is not None
    assert (stranger.succ_stat, stranger.fail_reason) == (1, 1)
    # switched off, the car's own VIN is refused too
    off = w.api("DELETE", f"/api/v1/vehicles/{vid}/plug-and-charge")
    assert off.json()["plug_and_charge_networks"] == []
    w.charging.unplug(connector_id(1, 1, 1)).result(10)
    refused = w.charging.plug_in(connector_id(1, 1, 1), vehicle).result(10)
    assert refused is not None
    assert refused.succ_stat == 1


def test_a_start_failing_at_the_pile_is_recorded_with_its_reason(w: World) -> None:
    vehicle = car(4, model="lt-m3")
    w.charging.matrix = CompatibilityMatrix(
        seed=1,
        base_failure_rate=0.0,
        bad_slices=(
            BadSlice(
                vehicle.model.id, MAKER, MODEL, FIRMWARE, 1.0, FailureReason.BMS_HANDSHAKE_TIMEOUT
            ),
        ),
    )
    w.charging.plug_in(DC, vehicle).result(10)
    made = w.api("POST", "/api/v1/vehicles", json={"vin": vehicle.vin, "model": vehicle.model.id})
    answer = w.api("POST", "/api/v1/sessions", json={"qr": QR, "vehicle_id": made.json()["id"]})
    sid = answer.json()["id"]
    failed = wait_for(lambda: (s := w.session(sid))["state"] == "failed" and s)
    assert failed["failure_reason"].startswith("the charger could not start: BMS handshake")
    [attempt] = w.store.list_attempts()
    assert attempt.outcome == "failure"
    assert attempt.vehicle_model == vehicle.model.id
    assert (attempt.charger_model, attempt.failure_reason) == (MODEL, failed["failure_reason"])


def test_an_operator_that_never_answers_leaves_nothing_charging(w: World) -> None:
    w.charging.plug_in(DC, car()).result(10)
    w.charging.silent_starts = True
    w.platform.sessions.start_timeout_s = 1.0
    sid = start(w)
    failed = wait_for(lambda: (s := w.session(sid))["state"] == "failed" and s)
    assert failed["failure_reason"] == "the operator did not confirm the start within 1 s"
    seq = w.store.get_session(sid)
    assert seq is not None
    assert seq.protocol_ref is not None
    wait_for(lambda: w.charging.session_state(seq.protocol_ref or "") in (None, 4))


def test_the_platform_restarted_mid_session_still_closes_it_with_its_bill(store: Store) -> None:
    gen = world_with(store)
    w = next(gen)
    try:
        w.charging.plug_in(DC, car()).result(10)
        sid = start(w)
        wait_for(lambda: w.session(sid)["state"] == "charging")
        w.server.__exit__(None, None, None)  # the platform goes down mid-session
        time.sleep(0.5)
        platform = make_platform(store, w.operator_url, CAPS)
        with LoopbackServer(platform.app(), port=w.port):
            before = w.session(sid)["kwh"]
            assert w.session(sid)["state"] == "charging"
            wait_for(lambda: w.session(sid)["kwh"] > before)  # live readings reach the new one
            w.api("POST", f"/api/v1/sessions/{sid}/stop")
            done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
            assert done["bill"] is not None
    finally:
        gen.close()


def test_a_bill_that_disagrees_with_our_record_is_disputed(w: World) -> None:
    w.charging.plug_in(DC, car()).result(10)
    sid = start(w)
    wait_for(lambda: w.session(sid)["kwh"] > 0.5)
    seq = w.store.get_session(sid)
    assert seq is not None
    assert seq.protocol_ref is not None
    w.charging.bill_adjust[seq.protocol_ref] = Decimal("5.00")  # the operator bills 5 more
    w.api("POST", f"/api/v1/sessions/{sid}/stop")
    done = wait_for(lambda: (s := w.session(sid))["state"] == "completed" and s)
    assert done["dispute"] is not None
    assert done["dispute"].startswith("money differs")
    check = w.charging.check_charge_orders([seq.protocol_ref]).result(10)
    assert check.total_dispute_order == 1
    assert check.dispute_orders[0].start_charge_seq == seq.protocol_ref
    assert check.dispute_orders[0].dispute_reason == 3  # money differs


def test_a_view_only_network_is_refused_with_advice(store: Store) -> None:
    gen = world_with(store, frozenset({Capability.REALTIME, Capability.VIEW_ONLY}))
    w = next(gen)
    try:
        refused = w.api("POST", "/api/v1/sessions", json={"qr": QR})
        assert refused.status_code == 409
        detail = refused.json()["detail"]
        assert detail["code"] == "view_only"
        assert "operator's own app" in detail["advice"]
        assert w.store.open_sessions() == []
    finally:
        gen.close()


def test_the_equipment_check_before_a_start_is_the_operators(w: World) -> None:
    w.network.set_status(DC, 0)  # offline at the operator; the platform has not heard yet
    preview = w.api("POST", "/api/v1/sessions/preview", json={"qr": QR}).json()
    assert preview["status"] == "available"  # what the platform last heard
    assert preview["startable"] is False  # but query_equip_auth says no
    assert preview["code"] == "operator_refused"
    assert preview["reason"].startswith("the operator says the charger cannot be used now")
