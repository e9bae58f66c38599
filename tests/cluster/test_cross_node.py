"""Two ``chargemesh serve`` nodes over one PostgreSQL and one NATS, HAProxy in front, the
simulated country behind (real processes, over the wire): what one node takes in, the other
shows within a second; what one node issued, the other honours (issue 18, "How it is shown")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from chargemesh.cli.cluster import LocalCluster
from chargemesh.protocols.ocpi.transport import encode_token, format_datetime
from chargemesh.store import open_store
from tests.cluster.harness import (
    config_of,
    event_stream,
    nearby,
    own_connector,
    post_push,
    running_cluster,
    session_until,
    signed_push,
    signed_up_driver,
    station,
    superchargers,
    tcec_token,
    wait_held,
)

SHANGHAI = (31.23, 121.47)  # where the simulated country has stations of every kind
BEIJING = (39.91, 116.40)
SEEN_WITHIN_S = 1.0
TCEC_CHARGING = 3  # T/CEC connector Status: charging


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), nodes=2) as running:
        yield running


def free_tcec_connector(
    cluster: LocalCluster, base_url: str, taken: set[str]
) -> tuple[str, str, str]:
    """(operator, platform connector id, the operator's ConnectorID) of an available connector
    of a one-connector T/CEC station near Shanghai, not in ``taken``."""
    config = config_of(cluster, "node-1")
    for op in (o for o in config.operators if o.protocol == "tcec"):
        found = nearby(base_url, *SHANGHAI, operator=op.id, radius_km=60)
        for s in found:
            if s["connectors"] == 1 and s["available"] == 1 and s["id"] not in taken:
                taken.add(s["id"])
                connector = station(base_url, s["id"])["evses"][0]["connectors"][0]["id"]
                return op.id, connector, connector.rsplit(":", 1)[1]
    raise AssertionError("no free one-connector T/CEC station near Shanghai")


def station_of(
    base_url: str, station_id: str, operator: str, place: tuple[float, float] = SHANGHAI
) -> dict[str, Any]:
    return next(s for s in nearby(base_url, *place, operator=operator, radius_km=60)
                if s["id"] == station_id)  # fmt: skip


TAKEN: set[str] = set()


def test_a_tcec_push_to_one_node_shows_on_the_other_within_a_second(cluster: LocalCluster) -> None:
    a, b = (n.api_url for n in cluster.nodes)
    config = config_of(cluster, "node-1")
    operator, connector, wire_id = free_tcec_connector(cluster, b, TAKEN)
    station_id = connector.rsplit(":", 2)[0]
    token = tcec_token(config, operator, a)
    with event_stream(b) as stream:
        pushed = time.monotonic()
        assert post_push(a, signed_push(config, operator, wire_id, TCEC_CHARGING), token) == 0
        while station_of(b, station_id, operator)["available"] != 0:
            assert time.monotonic() - pushed < 5, "node B's search never showed the push to A"
            time.sleep(0.02)
        in_search = time.monotonic() - pushed
        streamed = stream.wait_for(connector, "charging", timeout_s=5)
    assert streamed is not None, "node B's event stream never carried the push to A"
    assert in_search < SEEN_WITHIN_S
    assert streamed[0] - pushed < SEEN_WITHIN_S


def test_an_ocpi_push_to_one_node_shows_on_the_other_within_a_second(
    cluster: LocalCluster,
) -> None:
    a, b = (n.api_url for n in cluster.nodes)
    config = config_of(cluster, "node-1")
    found = None
    for op in (o for o in config.operators if o.protocol == "ocpi"):
        for place in (SHANGHAI, BEIJING):
            for s in nearby(b, *place, operator=op.id, radius_km=60):
                if s["available"] >= 1 and s["id"] not in TAKEN:
                    found = op.id, s["id"], place, s["available"]
                    break
            if found:
                break
        if found:
            break
    assert found is not None, "no OCPI station with a free connector near Shanghai or Beijing"
    operator, station_id, place, free_before = found
    TAKEN.add(station_id)
    evse = next(e for e in station(b, station_id)["evses"]
                if all(c["status"] == "available" for c in e["connectors"]))  # fmt: skip
    connector = evse["connectors"][0]["id"]
    _, location, evse_uid, _ = connector.split(":")
    with open_store(cluster.store_url) as store:  # the token the CPO presents to us
        party = store.get_ocpi_party(operator)
    assert party is not None
    assert party.token_in is not None
    token = party.token_in if party.raw_token else encode_token(party.token_in)
    country, party_id = operator.split("-")
    path = f"/ocpi/2.2.1/locations/{country}/{party_id}/{location}/{evse_uid}"
    patch = {"status": "CHARGING", "last_updated": format_datetime(datetime.now(UTC))}
    with event_stream(b) as stream:
        pushed = time.monotonic()
        answer = httpx.patch(f"{a}{path}", json=patch, timeout=10,
                             headers={"Authorization": token})  # fmt: skip
        assert (answer.status_code, answer.json()["status_code"]) == (200, 1000), answer.text
        while station_of(b, station_id, operator, place)["available"] >= free_before:
            assert time.monotonic() - pushed < 5, "node B's search never showed the push to A"
            time.sleep(0.02)
        in_search = time.monotonic() - pushed
        streamed = stream.wait_for(connector, "charging", timeout_s=5)
    assert streamed is not None, "node B's event stream never carried the push to A"
    assert in_search < SEEN_WITHIN_S
    assert streamed[0] - pushed < SEEN_WITHIN_S


def test_a_tcec_token_from_one_node_is_taken_by_the_other_and_a_replay_by_neither(
    cluster: LocalCluster,
) -> None:
    a, b = (n.api_url for n in cluster.nodes)
    config = config_of(cluster, "node-1")
    operator, connector, wire_id = free_tcec_connector(cluster, b, TAKEN)
    token = tcec_token(config, operator, a)  # issued by A
    push = signed_push(config, operator, wire_id, TCEC_CHARGING)
    assert post_push(b, push, token) == 0  # accepted by B
    assert post_push(b, push, token) != 0  # the same envelope again: a replay
    assert post_push(a, push, token) != 0
    assert station(a, connector.rsplit(":", 2)[0])["evses"][0]["connectors"][0]["status"] == (
        "charging"
    )


def test_an_own_chargers_status_on_one_node_shows_on_the_other_within_a_second(
    cluster: LocalCluster,
) -> None:
    """A command through B to a supercharger held by A: the charger answers A, then tells A its
    new status (StatusNotification); B shows it."""
    a, b = cluster.nodes
    charger = held_by(cluster, a.name, skip=1)  # the first is for the charge below
    connector = own_connector(b.api_url, charger)
    with event_stream(b.api_url) as stream:
        answer = httpx.post(
            f"{b.api_url}/api/v1/ops/chargers/{charger}/availability",
            json={"connector": 1, "operative": False},
            headers={"Authorization": f"Bearer {cluster.ops_key}"}, timeout=30,
        )  # fmt: skip
        answered = time.monotonic()
        assert answer.status_code == 200, answer.text
        streamed = stream.wait_for(connector, None, timeout_s=5)
    assert streamed is not None, "node B's event stream never carried the charger's status"
    assert streamed[0] - answered < SEEN_WITHIN_S
    status = station(b.api_url, f"CN-CMX:{charger}")["evses"][0]["connectors"][0]["status"]
    assert status == streamed[1]["status"] != "available"


def held_by(cluster: LocalCluster, node: str, skip: int = 0) -> str:
    """A supercharger whose connection ``node`` holds (the ``skip``-th one)."""
    held = wait_held(cluster, superchargers(cluster))
    mine = [c for c, owner in sorted(held.items()) if owner == node]
    assert len(mine) > skip, f"not {skip + 1} superchargers held by {node}: {held}"
    return mine[skip]


def test_a_charge_started_through_one_node_on_a_charger_held_by_the_other_runs_to_its_bill(
    cluster: LocalCluster,
) -> None:
    a, b = cluster.nodes
    connector = own_connector(b.api_url, held_by(cluster, a.name))
    driver = signed_up_driver(b.api_url)
    started = httpx.post(f"{b.api_url}/api/v1/sessions", json={"connector_id": connector},
                         headers=driver, timeout=60)  # fmt: skip
    assert started.status_code in (200, 201, 202), started.text
    session_id = started.json()["id"]
    session_until(b.api_url, driver, session_id, {"charging"}, timeout_s=60, metered=True)
    stopped = httpx.post(f"{b.api_url}/api/v1/sessions/{session_id}/stop", headers=driver,
                         timeout=60)  # fmt: skip
    assert stopped.status_code in (200, 202), stopped.text
    done = session_until(b.api_url, driver, session_id, {"completed", "failed"}, timeout_s=90)
    assert done["state"] == "completed", done
    assert done["bill"] is not None, done
    assert done["bill"]["kwh"] > 0
    assert session_until(a.api_url, driver, session_id, {"completed"}, 10)["bill"] == done["bill"]
