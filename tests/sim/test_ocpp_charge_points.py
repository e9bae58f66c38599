"""The simulator's own network: OCPP 1.6J and 2.0.1 charge points over real loopback websockets,
against a CSMS stand-in written with the ``ocpp`` library's server side (tests/sim/ocpp_csms_stub),
and the generated network (chargers, owners, cars) in the ground truth."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargemesh.domain.cards import card_uid_problem, normalize_card_uid
from chargemesh.domain.vehicle_ids import emaid_problem, vin_problem
from chargemesh.geo.counties import county_table
from chargemesh.sim.charging import make_vehicle
from chargemesh.sim.country import Country, ground_truth
from chargemesh.sim.country.own import (
    MIN_CHARGERS,
    OwnCharger,
    OwnConnector,
    charger_password,
    own_network,
)
from chargemesh.sim.peers.ocpp import Fleet, SimChargePoint
from chargemesh.sim.peers.ocpp.transaction import ocpp_time
from chargemesh.sim.runner import Simulator
from tests.helpers import free_port, wait_for
from tests.sim.ocpp_csms_stub import CsmsStub, energy_wh, until

SCALE = 600.0  # a simulated minute in 0.1 s
METER_S = 6.0  # simulated seconds between meter values: 0.01 s real
VERSIONS = ("1.6", "2.0.1")


def charger(version: str, n: int = 1, *, connectors: int = 1) -> OwnCharger:
    cid = f"T{version.replace('.', '')}-{n}"
    return OwnCharger(
        id=cid,
        password=charger_password(7, cid),
        kind="supercharger",
        name=f"test {cid}",
        lat=31.2,
        lon=121.5,
        connectors=tuple(OwnConnector("gbt_dc", 600) for _ in range(connectors)),
        owner=None,
        vendor="CMX Power",
        model="CMX-SC600-L2",
        firmware="1.5.3",
        ocpp="1.6" if version == "1.6" else "2.0.1",
        serial=f"CMX{n:010d}",
    )


def run(
    scenario: Callable[[CsmsStub, list[SimChargePoint]], Awaitable[None]],
    chargers: list[OwnCharger],
    *,
    register: bool = True,
    cp_options: dict[str, Any] | None = None,
    **stub_options: Any,
) -> CsmsStub:
    """Start the stand-in on a free port and the charge points against it, run ``scenario``,
    stop everything; the stand-in (with its record) is returned."""
    port = free_port()
    known = {c.id: c.password for c in chargers} if register else {}
    stub = CsmsStub(known, **stub_options)
    options = {"time_scale": SCALE, "meter_interval_s": METER_S, "backoff_s": (0.05, 0.4)}
    options.update(cp_options or {})

    async def main() -> None:
        await stub.start(port)
        cps = [SimChargePoint(c, f"ws://127.0.0.1:{port}/ocpp", **options) for c in chargers]
        tasks = [asyncio.create_task(cp.run()) for cp in cps]
        try:
            await asyncio.wait_for(scenario(stub, cps), 60)
        finally:
            for cp in cps:
                cp.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await stub.stop()

    asyncio.run(main())
    return stub


def car(n: int, *, soc: float = 20.0, target: float = 90.0, iso: bool = True) -> Any:
    return make_vehicle(7, n, model="lh-s5" if iso else "lt-m3", soc=soc, target_soc=target,
                        emaid=True)  # fmt: skip


# ----------------------------------------------------------------------------- boot and status


@pytest.mark.parametrize("version", VERSIONS)
def test_boot_reports_the_charger_and_every_connector_status(version: str) -> None:
    c = charger(version, connectors=2)

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await cp.wait_online()
        await until(lambda: len(stub.statuses(c.id)) == 2)
        await cp.plug_in(2, car(1))  # not accepted: the car waits
        await until(lambda: len(stub.statuses(c.id)) == 3)

    stub = run(scenario, [c], pending_first=True)
    boots = stub.of(c.id, "BootNotification")
    assert len(boots) == 2  # Pending first, then again after the interval
    boot = boots[-1]
    if version == "1.6":
        assert (boot["charge_point_vendor"], boot["charge_point_model"]) == (c.vendor, c.model)
        assert (boot["charge_point_serial_number"], boot["firmware_version"]) == (
            c.serial, c.firmware)  # fmt: skip
        taken = "Preparing"
    else:
        station = boot["charging_station"]
        assert (station["vendor_name"], station["model"]) == (c.vendor, c.model)
        assert (station["serial_number"], station["firmware_version"]) == (c.serial, c.firmware)
        assert boot["reason"] == "PowerUp"
        taken = "Occupied"
    assert stub.statuses(c.id) == [(1, "Available"), (2, "Available"), (2, taken)]
    assert not stub.of(c.id, "Heartbeat")  # the interval (300 s) has not passed


def test_heartbeats_come_at_the_interval_the_csms_gave() -> None:
    c = charger("2.0.1")

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        await cps[0].wait_online()
        assert cps[0].heartbeat_s == 1
        await until(lambda: len(stub.of(c.id, "Heartbeat")) >= 2, 5)

    run(scenario, [c], heartbeat_s=1)


# ----------------------------------------------------------------------------- app starts


@pytest.mark.parametrize("version", VERSIONS)
def test_remote_start_charges_with_growing_meter_values_until_remote_stop(version: str) -> None:
    c = charger(version, connectors=2)
    answers: dict[str, Any] = {}

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await cp.wait_online()
        await cp.plug_in(1, car(2))
        link = stub.links[c.id]
        if version == "1.6":
            answers["empty"] = await link.call(
                call16.RemoteStartTransaction(id_tag="APPTOKEN01", connector_id=2)
            )
            answers["start"] = await link.call(
                call16.RemoteStartTransaction(id_tag="APPTOKEN01", connector_id=1)
            )
            await until(lambda: len(stub.of(c.id, "MeterValues")) >= 4)
            tx_id = stub.of(c.id, "StartTransaction")[0]["assigned"]
            answers["stop"] = await link.call(call16.RemoteStopTransaction(transaction_id=tx_id))
            await until(lambda: stub.of(c.id, "StopTransaction"))
            await until(lambda: stub.statuses(c.id)[-1] == (1, "Finishing"))
        else:
            token = {"id_token": "APPTOKEN01", "type": "Central"}
            answers["empty"] = await link.call(
                call201.RequestStartTransaction(id_token=token, remote_start_id=7, evse_id=2)
            )
            answers["start"] = await link.call(
                call201.RequestStartTransaction(id_token=token, remote_start_id=7, evse_id=1)
            )
            await until(lambda: len(stub.of(c.id, "TransactionEvent")) >= 5)
            tx_id = stub.of(c.id, "TransactionEvent")[0]["transaction_info"]["transaction_id"]
            answers["stop"] = await link.call(call201.RequestStopTransaction(transaction_id=tx_id))
            await until(lambda: stub.of(c.id, "TransactionEvent")[-1]["event_type"] == "Ended")
        assert cp.connectors[1].state == "Finishing"  # the car is still plugged in

    stub = run(scenario, [c])
    assert answers["empty"].status == "Rejected"  # no car on connector 2
    assert answers["start"].status == "Accepted"
    assert answers["stop"].status == "Accepted"
    if version == "1.6":
        start = stub.of(c.id, "StartTransaction")[0]
        assert (start["connector_id"], start["id_tag"]) == (1, "APPTOKEN01")
        meters = stub.of(c.id, "MeterValues")
        assert {m["transaction_id"] for m in meters} == {start["assigned"]}
        readings = [start["meter_start"]] + [energy_wh(m["meter_value"]) for m in meters]
        stop = stub.of(c.id, "StopTransaction")[0]
        assert (stop["transaction_id"], stop["reason"]) == (start["assigned"], "Remote")
        readings.append(stop["meter_stop"])
        assert stub.statuses(c.id)[-1] == (1, "Finishing")
        assert (1, "Charging") in stub.statuses(c.id)
    else:
        events = stub.of(c.id, "TransactionEvent")
        started, *updates, ended = events
        assert started["event_type"] == "Started"
        assert started["trigger_reason"] == "RemoteStart"
        assert started["transaction_info"]["remote_start_id"] == 7
        assert started["id_token"] == {"id_token": "APPTOKEN01", "type": "Central"}
        assert started["evse"] == {"id": 1, "connector_id": 1}
        assert {u["event_type"] for u in updates} == {"Updated"}
        assert [e["seq_no"] for e in events] == list(range(len(events)))
        assert ended["transaction_info"]["stopped_reason"] == "Remote"
        assert ended["trigger_reason"] == "RemoteStop"
        assert not any(e.get("offline") for e in events)
        readings = [energy_wh(e["meter_value"]) for e in events]
    assert readings == sorted(readings)
    assert readings[-1] > readings[0] + 1000


@pytest.mark.parametrize("version", VERSIONS)
def test_a_full_car_ends_its_charge_by_itself(version: str) -> None:
    c = charger(version)

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await cp.wait_online()
        vehicle = car(3, soc=88.0, target=90.0)
        stub.accepted.add(vehicle.vin if version == "1.6" else str(vehicle.emaid))
        tx = await cp.plug_in(1, vehicle)
        assert tx is not None
        await until(lambda: tx.ended, 20)
        await until(lambda: not cp.outbox)
        assert cp.connectors[1].vehicle is not None
        assert cp.connectors[1].vehicle.soc == pytest.approx(90.0, abs=0.2)

    stub = run(scenario, [c])
    if version == "1.6":
        assert stub.of(c.id, "StopTransaction")[0]["reason"] == "Local"
    else:
        ended = stub.of(c.id, "TransactionEvent")[-1]
        assert ended["transaction_info"]["stopped_reason"] == "SOCLimitReached"


# ----------------------------------------------------------------------------- plug-and-charge


@pytest.mark.parametrize("version", VERSIONS)
def test_plug_and_charge_authorizes_by_vin_on_16_and_emaid_on_201(version: str) -> None:
    c = charger(version, connectors=2)
    known, unknown = car(4), car(5)
    token = known.vin if version == "1.6" else str(known.emaid)
    started: list[Any] = []

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await cp.wait_online()
        started.append(await cp.plug_in(1, known))
        started.append(await cp.plug_in(2, unknown))
        await until(lambda: len(stub.messages) >= 7 and not cp.outbox)

    stub = run(scenario, [c], accepted={token})
    assert started[0] is not None
    assert started[1] is None
    if version == "1.6":
        asked = [a["id_tag"] for a in stub.of(c.id, "Authorize")]
        assert asked == [known.vin, unknown.vin]
        starts = stub.of(c.id, "StartTransaction")
        assert [(s["connector_id"], s["id_tag"]) for s in starts] == [(1, known.vin)]
    else:
        asked = [a["id_token"] for a in stub.of(c.id, "Authorize")]
        assert asked == [{"id_token": known.emaid, "type": "eMAID"},
                         {"id_token": unknown.emaid, "type": "eMAID"}]  # fmt: skip
        starts = [e for e in stub.of(c.id, "TransactionEvent") if e["event_type"] == "Started"]
        assert len(starts) == 1
        assert starts[0]["id_token"] == {"id_token": known.emaid, "type": "eMAID"}
        assert starts[0]["trigger_reason"] == "Authorized"


def test_a_201_charger_has_no_plug_and_charge_for_a_car_without_an_emaid() -> None:
    c = charger("2.0.1")

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        await cps[0].wait_online()
        assert await cps[0].plug_in(1, car(6, iso=False)) is None
        await until(lambda: stub.statuses(c.id)[-1:] == [(1, "Occupied")])

    stub = run(scenario, [c])
    assert not stub.of(c.id, "Authorize")


# ----------------------------------------------------------------------------- offline


@pytest.mark.parametrize("version", VERSIONS)
def test_a_dropped_charger_queues_and_replays_in_order(version: str) -> None:
    c = charger(version)
    seen: dict[str, Any] = {}

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await cp.wait_online()
        vehicle = car(7)
        stub.accepted.add(vehicle.vin if version == "1.6" else str(vehicle.emaid))
        tx = await cp.plug_in(1, vehicle)
        assert tx is not None
        await until(lambda: cp.outbox.acknowledged >= 3)
        cp.replay_acknowledged = True  # the last acknowledged one comes once more
        cp.drop(offline_s=0.5)
        await asyncio.sleep(0.2)
        assert not cp.online
        assert len(cp.outbox) >= 5
        cp.stop_charge(1, "local")
        seen["queued"] = len(cp.outbox)
        await until(lambda: cp.online and not cp.outbox)
        seen["boots"] = cp.boots
        seen["replays"] = cp.replays

    stub = run(scenario, [c])
    assert seen["boots"] == 2
    assert len(seen["replays"]) == 1
    again = seen["replays"][0]
    assert again.acknowledged
    assert again.stage == "meter"
    if version == "1.6":
        meters = stub.of(c.id, "MeterValues")
        stamps = [m["meter_value"][0]["timestamp"] for m in meters]
        assert stamps[-1] > stamps[0]
        # the replayed reading (and one in flight when the link went) twice, the rest in order
        assert 1 <= len(stamps) - len(set(stamps)) <= 2
        assert sorted(set(stamps)) == list(dict.fromkeys(stamps))
        assert stamps.count(ocpp_time(again.reading.at)) == 2
        assert stub.of(c.id, "StopTransaction")[0]["reason"] == "Local"
    else:
        events = stub.of(c.id, "TransactionEvent")
        seqs = [e["seq_no"] for e in events]
        # the replayed event (and one in flight when the link went) twice, in order, no gaps
        assert 1 <= len(seqs) - len(set(seqs)) <= 2
        assert list(dict.fromkeys(seqs)) == list(range(len(set(seqs))))
        assert seqs.count(again.seq_no) == 2
        offline = [e["seq_no"] for e in events if e.get("offline")]
        assert len(offline) >= seen["queued"] - 1 >= 4
        assert offline == sorted(offline)
        assert offline[-1] == seqs[-1]
        assert events[-1]["event_type"] == "Ended"
        assert events[-1]["transaction_info"]["stopped_reason"] == "Local"


def test_an_unregistered_charger_is_refused_with_401_and_backs_off() -> None:
    c = charger("1.6")
    seen: dict[str, Any] = {}

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await until(lambda: cp.refusals.get(401, 0) >= 6, 10)
        seen["waits"] = list(cp.waits)
        assert not cp.online
        assert not stub.of(c.id, "BootNotification")
        stub.chargers[c.id] = c.password  # registered now
        await cp.wait_online(5)
        seen["last_error"] = cp.last_error

    stub = run(scenario, [c], register=False)
    waits = seen["waits"]
    assert seen["last_error"] == "HTTP 401"
    assert all(0.025 <= w <= 0.4 for w in waits)  # jittered, capped
    assert waits[4] > waits[0] * 2  # growing
    assert len(stub.refused) >= 6
    assert len(stub.of(c.id, "BootNotification")) == 1


# ----------------------------------------------------------------------------- operations


@pytest.mark.parametrize("version", VERSIONS)
def test_reset_reboots_change_availability_and_unlock_are_answered(version: str) -> None:
    c = charger(version, connectors=2)
    answers: dict[str, Any] = {}

    async def scenario(stub: CsmsStub, cps: list[SimChargePoint]) -> None:
        cp = cps[0]
        await cp.wait_online()
        link = stub.links[c.id]
        await cp.plug_in(2, car(8))
        if version == "1.6":
            answers["off"] = await link.call(
                call16.ChangeAvailability(connector_id=1, type="Inoperative")
            )
            answers["unlock"] = await link.call(call16.UnlockConnector(connector_id=2))
            answers["reset"] = await link.call(call16.Reset(type="Soft"))
        else:
            answers["off"] = await link.call(
                call201.ChangeAvailability(operational_status="Inoperative", evse={"id": 1})
            )
            answers["unlock"] = await link.call(call201.UnlockConnector(evse_id=2, connector_id=1))
            answers["reset"] = await link.call(call201.Reset(type="Immediate"))
        await until(lambda: len(stub.of(c.id, "BootNotification")) == 2)
        await until(lambda: cp.online)
        assert cp.connectors[1].state == "Unavailable"
        assert cp.connectors[2].vehicle is None
        assert await cp.plug_in(2, car(9)) is None
        with pytest.raises(ValueError, match="not free"):
            await cp.plug_in(1, car(10))

    stub = run(scenario, [c], cp_options={"reboot_s": 0.1})
    assert answers["off"].status == "Accepted"
    assert answers["reset"].status == "Accepted"
    assert answers["unlock"].status == "Unlocked"
    statuses = stub.statuses(c.id)
    unavailable = (1, "Unavailable")
    assert statuses[:3] == [(1, "Available"), (2, "Available"), (2, statuses[2][1])]
    assert unavailable in statuses[3:]
    assert (2, "Available") in statuses[3:]
    boots = stub.of(c.id, "BootNotification")
    if version == "2.0.1":
        assert [b["reason"] for b in boots] == ["PowerUp", "RemoteReset"]
    assert statuses.count(unavailable) == 2  # once when switched off, again after the reboot


# ----------------------------------------------------------------------------- the network


def test_the_own_network_is_deterministic_with_valid_ids(country: Country) -> None:
    network = own_network(0.01, 7)
    again = own_network.__wrapped__(0.01, 7)
    assert network.truth() == again.truth()
    assert own_network.__wrapped__(0.01, 8).truth() != network.truth()
    assert len(network) == 200
    assert len(own_network(0.0001, 7)) == MIN_CHARGERS
    chargers = network.chargers
    assert len({c.id for c in chargers}) == len(chargers)
    versions = [c.ocpp for c in chargers]
    assert abs(versions.count("1.6") - versions.count("2.0.1")) <= 2
    supers = [c for c in chargers if c.kind == "supercharger"]
    homes = [c for c in chargers if c.kind == "home"]
    assert 40 <= len(supers) <= 60
    assert len(homes) == len(network.drivers)
    assert {(k.standard, k.max_power_kw) for c in supers for k in c.connectors} == {("gbt_dc", 600)}
    assert {len(c.connectors) for c in supers} == {1, 2}
    assert {(k.standard, k.max_power_kw) for c in homes for k in c.connectors} == {
        ("gbt_ac", 7), ("gbt_ac", 11)}  # fmt: skip
    assert {len(c.connectors) for c in homes} == {1}
    big_cities = {"北京市", "上海市", "杭州市", "深圳市", "广州市", "成都市", "武汉市", "南京市",
                  "苏州市", "西安市", "重庆市", "天津市"}  # fmt: skip
    table = county_table()
    for c in supers:
        county = table.get(str(table.lookup_one(c.lon, c.lat)))
        assert county is not None, c.id
        assert county.city in big_cities, (c.id, county)
    assert len({c.model for c in chargers}) >= 6
    assert len({c.firmware for c in chargers}) >= 10
    assert all(16 <= len(c.password) <= 40 for c in chargers)
    owners = {d.email: d for d in network.drivers}
    assert sorted(c.owner for c in homes) == sorted(owners)  # type: ignore[type-var]
    vins = [v.vin for d in network.drivers for v in d.vehicles]
    emaids = [v.emaid for d in network.drivers for v in d.vehicles if v.emaid]
    assert len(set(vins)) == len(vins)
    assert len(set(emaids)) == len(emaids) > 50
    assert all(vin_problem(v) is None for v in vins)
    assert all(emaid_problem(e) is None for e in emaids)
    for c in homes:
        if c.ocpp == "2.0.1":  # bought for an ISO 15118 car: plug-and-charge by EMAID
            assert owners[str(c.owner)].vehicles[0].emaid is not None
    assert all(len(d.password) >= 12 for d in network.drivers)


def test_the_ground_truth_lists_every_own_charger_and_owner(country: Country) -> None:
    truth = json.loads(json.dumps(ground_truth(country)))
    network = own_network(country.scale, country.seed)
    assert len(truth["own_chargers"]) == len(network) == max(MIN_CHARGERS, 40)
    first = truth["own_chargers"][0]
    assert set(first) >= {"id", "password", "kind", "name", "lat", "lon", "connectors", "owner",
                          "vendor", "model", "firmware", "ocpp"}  # fmt: skip
    assert [c["id"] for c in truth["own_chargers"]] == [c.id for c in network]
    homes = [c for c in truth["own_chargers"] if c["kind"] == "home"]
    assert all(c["owner"] for c in homes)
    assert {d["email"] for d in truth["own_drivers"]} == {c["owner"] for c in homes}
    vehicle = truth["own_drivers"][0]["vehicles"][0]
    assert set(vehicle) == {"vin", "model", "emaid"}
    cards = [d["card"] for d in truth["own_drivers"]]
    assert len(set(cards)) == len(cards)  # one card each, none shared
    assert all(card_uid_problem(normalize_card_uid(c)) is None for c in cards)


@contextmanager
def serving(stub: CsmsStub, port: int) -> Iterator[CsmsStub]:
    """The stand-in on its own event loop thread (for chargers living on another loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(stub.start(port), loop).result(10)
        yield stub
    finally:
        asyncio.run_coroutine_threadsafe(stub.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_the_simulator_runs_its_own_chargers_against_the_manifests_csms(
    country: Country, tmp_path: Path
) -> None:
    port = free_port()
    network = own_network(country.scale, country.seed)
    stub = CsmsStub({c.id: c.password for c in network})
    home = next(c for c in network if c.kind == "home" and c.ocpp == "1.6")
    owner = network.driver(str(home.owner)).vehicles[0]
    stub.accepted.add(owner.vin)
    with serving(stub, port), Simulator(country, churn_rate=0, csms_port=port, time_scale=SCALE,
                                        meter_interval_s=METER_S) as sim:  # fmt: skip
        assert sim.fleet is None  # nothing connects before the manifest says where
        text = sim.write_manifest(tmp_path / "sim.toml").read_text()
        assert "[csms]" in text
        assert f'public_url = "ws://127.0.0.1:{port}/ocpp"' in text
        fleet = sim.fleet
        assert fleet is not None
        wait_for(lambda: fleet.stats()["online"] == len(network), 30)
        assert (home.id, 1) in sim.idle_own_connectors(kind="home", ocpp="1.6", count=100)
        tx = sim.plug_in_own(home.id, 1, owner).result(10)
        assert tx is not None
        assert tx.token.value == owner.vin
        assert (home.id, 1) not in sim.idle_own_connectors(kind="home", count=100)
        wait_for(lambda: stub.of(home.id, "MeterValues"), 10)
        sim.unplug_own(home.id, 1)
        wait_for(lambda: stub.of(home.id, "StopTransaction"), 10)
        assert sim.charge_point(home.id).connectors[1].state == "Available"
        # a large fleet keeps counts, not every message, and lets finished curves go
        assert tx.sent == []
        # the stand-in records StopTransaction before its answer reaches the charger
        wait_for(lambda: tx.acknowledged >= 3, 10)
        assert tx.run is None
    assert not fleet.loop.running
    assert stub.of(home.id, "StopTransaction")[0]["reason"] == "EVDisconnected"
    assert {i for i, a, _ in stub.messages if a == "BootNotification"} == {c.id for c in network}


def test_the_living_fleet_brings_cars_faults_and_dropped_links(country: Country) -> None:
    port = free_port()
    network = own_network(country.scale, country.seed)
    stub = CsmsStub({c.id: c.password for c in network})
    stub.accepted = {t for d in network.drivers for v in d.vehicles for t in (v.vin, v.emaid) if t}
    fleet = Fleet(network, f"ws://127.0.0.1:{port}/ocpp", time_scale=6000, meter_interval_s=1200,
                  activity=True)  # fmt: skip
    with serving(stub, port):
        fleet.start()
        try:
            wait_for(lambda: fleet.stats()["online"] >= len(network) - 2, 30)
            wait_for(lambda: fleet.drops >= 2 and fleet.stats()["charges"] >= 6, 30)
            wait_for(lambda: any(s == "Faulted" for c in network for _, s in stub.statuses(c.id)))
            wait_for(lambda: fleet.stats()["boots"] > len(network), 10)  # back after a drop
        finally:
            fleet.stop()
    stats = fleet.stats()
    assert stats["visits"] >= stats["charges"]
    authorized = {a.get("id_tag") or a["id_token"]["id_token"] for _, k, a in stub.messages
                  if k == "Authorize"}  # fmt: skip
    assert authorized <= stub.accepted  # only the owners' cars (at home and at superchargers)
    started = [p for _, k, p in stub.messages if k == "StartTransaction"] + [
        p for _, k, p in stub.messages if k == "TransactionEvent" and p["event_type"] == "Started"
    ]
    assert len(started) >= 6
    homes = {c.id for c in network if c.kind == "home"}
    assert any(i in homes for i, k, _ in stub.messages if k in ("StartTransaction",
                                                                 "TransactionEvent"))  # fmt: skip
