"""One ``chargemesh serve`` (no bus) on each store, the simulated country behind it, and
``kill -9`` in the middle of a T/CEC push storm: every status the node acknowledged is in the
store when it is gone, and the node started again on the same store shows what the store holds
(that, or the operators' newer own statuses its first sync brings), in detail and in search
(issue 19: the crash test kept in the suite for both stores)."""

from __future__ import annotations

import time
from pathlib import Path

from chargemesh.cli.cluster import LocalCluster
from chargemesh.store import Store, open_store
from tests.cluster.harness import (
    nearby,
    running_cluster,
    station,
    storm_and_kill,
    storm_connectors,
)

STORM_CONNECTORS = 8


def statuses(store: Store, station_id: str) -> dict[str, str]:
    held = store.get_station(station_id)
    assert held is not None
    return {c.id: str(c.status) for e in held.evses for c in e.connectors}


def test_a_node_killed_mid_push_storm_loses_no_acknowledged_status(
    tmp_path: Path, store_url: str
) -> None:
    quiet = {"status": {"poll_interval_s": 0}}  # only the storm changes statuses
    with running_cluster(tmp_path / "one", nodes=1, settings=quiet, bus=False,
                         store_url=store_url) as cluster:  # fmt: skip
        node = cluster.nodes[0]
        connectors = storm_connectors(cluster, node.api_url, STORM_CONNECTORS)
        assert len(connectors) == STORM_CONNECTORS
        storm = storm_and_kill(cluster, node.name, connectors)
        assert storm.acknowledged >= STORM_CONNECTORS  # well under way when it died
        stations = {c[1].rsplit(":", 2)[0]: c[0] for c in connectors}  # station → operator
        with open_store(cluster.store_url) as store:
            storm.check_stored(store)

        # started again on the same store, the node shows what the store holds: what it
        # acknowledged before it died, or newer (its first sync brings the operators' own)
        cluster.start_node(node.name)
        cluster.wait_ready(node.name)
        deadline = time.monotonic() + 20
        while (wrong := differences(cluster, stations)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not wrong
        with open_store(cluster.store_url) as store:
            storm.check_stored(store)  # and the history still holds every acknowledged push


def differences(cluster: LocalCluster, stations: dict[str, str]) -> list[str]:
    """Where the node's station detail or search differs from the store now."""
    url = cluster.nodes[0].api_url
    wrong = []
    with open_store(cluster.store_url) as store:
        for station_id, operator in stations.items():
            held = statuses(store, station_id)
            detail = station(url, station_id)
            shown = {c["id"]: c["status"] for e in detail["evses"] for c in e["connectors"]}
            found = nearby(url, detail["lat"], detail["lon"], operator=operator)
            in_search = next(s["available"] for s in found if s["id"] == station_id)
            free = sum(1 for st in held.values() if st == "available")
            if shown != held or in_search != free:
                wrong.append(f"{station_id}: detail {shown}, search {in_search}, store {held}")
    return wrong
