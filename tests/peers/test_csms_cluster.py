"""Own chargers across two nodes: two platforms on one PostgreSQL schema and one NATS server (a
real one), each with its CSMS; simulated charge points connect to one node or the other.

Shown: a charge started through node B on a charger connected to node A reaches it, runs and is
billed; an operations command through B reaches the charger on A; a charger connected nowhere
is a clear 409 at once; a charger that connects again through B takes over — A closes its older
connection and A's close does not delete B's record (compare-and-set), so commands through A
now go to B."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from chargemesh.bootstrap import OcpiSettings, Platform, assemble
from chargemesh.config import CsmsConfig
from chargemesh.csms.cluster import ClusterLinks
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.sim.peers.ocpp.charge_point import SimChargePoint
from chargemesh.store import Store, open_store
from tests.drivers import signed_up
from tests.helpers import free_port, wait_for
from tests.peers.test_csms_end_to_end import OPERATOR, Loop, car, charged_kwh, supercharger


@dataclass
class Node:
    name: str
    store: Store
    platform: Platform
    server: LoopbackServer
    http: httpx.Client
    links: ClusterLinks
    csms_url: str


@dataclass
class Two:
    a: Node
    b: Node
    ops: dict[str, str]
    loop: Loop
    points: list[SimChargePoint]

    def connect(self, node: Node, cid: str, **kw: object) -> SimChargePoint:
        options: dict[str, Any] = {"time_scale": 120, "meter_interval_s": 30,
                                   "backoff_s": (0.2, 1.0), **kw}  # fmt: skip
        point = SimChargePoint(supercharger(cid, "1.6", connectors=1), node.csms_url, **options)
        self.points.append(point)
        self.loop.call(lambda: asyncio.ensure_future(point.run()))
        self.loop.run(point.wait_online(15))
        return point


def node(name: str, url: str, nats_url: str) -> Node:
    port, csms_port = free_port(), free_port()
    store = open_store(url)
    links = ClusterLinks(nats_url, name)
    platform = assemble(store, csms=CsmsConfig(port=csms_port, heartbeat_s=30),
                        ocpi=OcpiSettings(public_url=f"http://127.0.0.1:{port}"),
                        csms_links=links)  # fmt: skip
    server = LoopbackServer(platform.app(), port=port).start()
    return Node(name, store, platform, server, httpx.Client(base_url=server.url, timeout=30),
                links, f"ws://127.0.0.1:{csms_port}/ocpp")  # fmt: skip


@pytest.fixture
def two(postgres_url: str, nats_url: str) -> Iterator[Two]:
    a = node("node-a", postgres_url, nats_url)
    b = node("node-b", postgres_url, nats_url)
    _, key = a.platform.ops_keys.create("cluster test")
    world = Two(a, b, {"Authorization": f"Bearer {key}"}, Loop(), [])
    try:
        yield world
    finally:
        for point in world.points:
            try:
                world.loop.run(asyncio.wait_for(point.aclose(), 5), timeout_s=10)
            except TimeoutError:
                world.loop.call(point.stop)
        world.loop.close()
        for n in (a, b):
            n.http.close()
            n.server.stop()
            n.store.close()


def register(two: Two, cid: str) -> None:
    c = supercharger(cid, "1.6", connectors=1)
    made = two.a.http.post("/api/v1/ops/chargers", headers=two.ops, json={
        "id": c.id, "password": c.password, "kind": c.kind, "name": c.name, "lat": c.lat,
        "lon": c.lon, "connectors": [{"standard": "gbt_dc", "max_power_kw": 600}],
    })  # fmt: skip
    assert made.status_code == 201, made.text


def test_a_charge_through_node_b_on_a_charger_held_by_node_a(two: Two) -> None:
    register(two, "CL-1")
    point = two.connect(two.a, "CL-1")
    wait_for(lambda: two.b.links.elsewhere("CL-1"))  # B has seen A take it
    driver = signed_up(two.b.http)
    two.loop.run(point.plug_in(1, car(11)))
    started = two.b.http.post("/api/v1/sessions", headers=driver.auth,
                              json={"connector_id": f"{OPERATOR}:CL-1:1:1"})  # fmt: skip
    assert started.status_code == 201, started.text
    sid = started.json()["id"]

    def session() -> dict[str, object]:
        answer = two.b.http.get(f"/api/v1/sessions/{sid}", headers=driver.auth)
        assert answer.status_code == 200
        body: dict[str, object] = answer.json()
        return body

    wait_for(lambda: session()["state"] == "charging" and float(session()["kwh"]) > 0.5,  # type: ignore[arg-type]
             timeout_s=20)  # fmt: skip
    assert two.b.http.post(f"/api/v1/sessions/{sid}/stop", headers=driver.auth).status_code == 200
    done = wait_for(lambda: (s := session())["state"] == "completed" and s, timeout_s=20)
    assert done["bill"]["kwh"] == pytest.approx(charged_kwh(point, 1), abs=0.001)  # type: ignore[index]
    # operations through B reach the charger on A
    reset = two.b.http.post("/api/v1/ops/chargers/CL-1/availability", headers=two.ops,
                            json={"connector": 1, "operative": False})  # fmt: skip
    assert (reset.status_code, reset.json()["status"]) == (200, "Accepted")
    wait_for(lambda: point.connectors[1].operative is False)  # once its answer went out


def test_a_charger_connected_nowhere_is_a_clear_409_at_once(two: Two) -> None:
    register(two, "CL-NOWHERE")
    began = time.monotonic()
    answer = two.b.http.post("/api/v1/ops/chargers/CL-NOWHERE/reset", headers=two.ops, json={})
    assert answer.status_code == 409
    assert answer.json()["detail"]["code"] == "charger_offline"
    assert time.monotonic() - began < 2


def test_a_newer_connection_through_b_takes_over_and_a_cannot_delete_it(two: Two) -> None:
    register(two, "CL-MOVE")
    old = two.connect(two.a, "CL-MOVE")
    wait_for(lambda: two.b.links.elsewhere("CL-MOVE"))
    old.abandon()  # the charger goes on through B; its socket to A lingers until A closes it
    new = two.connect(two.b, "CL-MOVE")
    # A sees B's newer record and closes its own, older connection; its close must not delete
    # B's record
    wait_for(lambda: two.a.links._links.get("CL-MOVE") is None, timeout_s=10)
    wait_for(lambda: not old.online, timeout_s=10)
    time.sleep(1.0)  # A's release has run by now
    assert two.a.links.owners["CL-MOVE"].node == "node-b"
    record = two.b.server.call(two.b.links.kv.get(b"CL-MOVE".hex()), timeout_s=10)
    assert orjson.loads(record.value)["node"] == "node-b"  # in the bucket itself
    # a command through A goes to the charger on B
    answer = two.a.http.post("/api/v1/ops/chargers/CL-MOVE/availability", headers=two.ops,
                             json={"connector": 1, "operative": False})  # fmt: skip
    assert (answer.status_code, answer.json()["status"]) == (200, "Accepted")
    wait_for(lambda: new.connectors[1].operative is False)
