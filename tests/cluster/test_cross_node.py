"""Two ``chargemesh serve`` nodes over one PostgreSQL and one NATS, HAProxy in front, the
simulated country behind (real processes, over the wire): what one node takes in, the other
shows within a second; what one node issued, the other honours (issue 18, "How it is shown")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chargemesh.cli.cluster import LocalCluster
from tests.cluster.harness import (
    config_of,
    event_stream,
    nearby,
    owner_of,
    post_push,
    running_cluster,
    signed_push,
    station,
    tcec_token,
)

SHANGHAI = (31.23, 121.47)  # where the simulated country has stations of every kind
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


def station_of(base_url: str, station_id: str, operator: str) -> dict[str, Any]:
    return next(s for s in nearby(base_url, *SHANGHAI, operator=operator, radius_km=60)
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
    superchargers = [c["id"] for c in cluster.truth["own_chargers"] if c["kind"] == "supercharger"]
    held = wait_held(cluster, superchargers)
    charger = next((c for c in superchargers if held.get(c) == a.name), None)
    assert charger is not None, f"no supercharger held by {a.name}: {held}"
    connector = station(b.api_url, f"CN-CMX:{charger}")["evses"][0]["connectors"][0]["id"]
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


def wait_held(cluster: LocalCluster, chargers: list[str], timeout_s: float = 90) -> dict[str, str]:
    """charger → the node holding it, once every one of ``chargers`` is held by a node."""
    deadline = time.monotonic() + timeout_s
    while True:
        held = {c: owner for c in chargers if (owner := owner_of(cluster, c)) is not None}
        if len(held) == len(chargers) or time.monotonic() > deadline:
            return held
        time.sleep(1)
