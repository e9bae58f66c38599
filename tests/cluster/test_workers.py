"""``[server] workers = 2``: one ``chargemesh serve`` whose two worker processes share its port
and its index, on SQLite and on PostgreSQL (no bus), the simulated country behind it (issue 19:
several worker processes sharing one index).

Each HTTP connection lands on one worker (the kernel spreads them); ``GET /readyz`` says which.
The tests pin a connection to each worker and check, over the wire, that:

* one worker leads (the syncs and timeouts run once), both serve;
* a status pushed to one worker is in the other's search, station detail and event stream;
* a worker killed with ``kill -9`` is started again by the supervisor, the port answering all
  along, and the new worker shows what the store holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

from chargemesh.cli.cluster import LocalCluster
from tests.cluster.harness import (
    STREAM_TIMEOUT,
    TCEC_CHARGING,
    TCEC_FREE,
    config_of,
    running_cluster,
    signed_push,
    storm_connectors,
    tcec_token,
)
from tests.helpers import wait_for

WORKERS = {"server": {"workers": 2}, "status": {"poll_interval_s": 0}}


def workers_of(cluster: LocalCluster) -> list[int]:
    """The worker processes under the node's ``chargemesh serve`` (the supervisor)."""
    pid = cluster.processes[cluster.nodes[0].name].popen.pid
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return sorted(found)


def pinned(base_url: str, worker: int, *, timeout_s: float = 60) -> httpx.Client:
    """A client whose one keep-alive connection reached worker ``worker``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        client = httpx.Client(
            base_url=base_url, timeout=STREAM_TIMEOUT,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )  # fmt: skip
        try:
            answer = client.get("/readyz")
            if answer.status_code == 200 and answer.json().get("worker") == worker:
                return client
        except httpx.HTTPError:
            pass
        client.close()
    raise AssertionError(f"no connection reached worker {worker} in {timeout_s} s")


def push(client: httpx.Client, envelope: dict[str, Any], token: str) -> int:
    answer = client.post("/tcec/v1/notification_stationStatus", json=envelope,
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return int(answer.json()["Ret"])


def shown(client: httpx.Client, connector_id: str) -> tuple[str, int]:
    """(the connector's status in its station's detail, the station's available count in a
    nearby search around it), as one worker answers."""
    station_id = connector_id.rsplit(":", 2)[0]
    detail = client.get(f"/api/v1/stations/{station_id}", params={"coords": "wgs84"}).json()
    status = next(c["status"] for e in detail["evses"] for c in e["connectors"]
                  if c["id"] == connector_id)  # fmt: skip
    found = client.get("/api/v1/stations/nearby", params={
        "lat": detail["lat"], "lon": detail["lon"], "radius_km": 1, "limit": 50,
        "coords": "wgs84", "operator": detail["operator_id"],
    }).json()["stations"]  # fmt: skip
    available = next(s["available"] for s in found if s["id"] == station_id)
    return status, available


def free_in_detail(client: httpx.Client, connector_id: str) -> int:
    station_id = connector_id.rsplit(":", 2)[0]
    detail = client.get(f"/api/v1/stations/{station_id}").json()
    return sum(1 for e in detail["evses"] for c in e["connectors"] if c["status"] == "available")


@contextlib.contextmanager
def status_events(client: httpx.Client) -> Iterator[list[dict[str, Any]]]:
    """The status events of ``GET /api/v1/events`` on the client's worker, as they come."""
    seen: list[dict[str, Any]] = []
    opened = threading.Event()

    def read() -> None:
        with contextlib.suppress(httpx.HTTPError), client.stream("GET", "/api/v1/events") as ans:
            kind = ""
            for line in ans.iter_lines():
                opened.set()
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: ") and kind == "status":
                    seen.append(orjson.loads(line.removeprefix("data: ")))

    threading.Thread(target=read, daemon=True).start()
    assert opened.wait(10), "no event stream"
    yield seen


def test_two_workers_share_the_port_and_each_sees_the_others_changes(
    tmp_path: Path, store_url: str
) -> None:
    with running_cluster(tmp_path / "w", nodes=1, settings=WORKERS, bus=False, csms=False,
                         store_url=store_url) as cluster:  # fmt: skip
        url = cluster.nodes[0].api_url
        assert len(workers_of(cluster)) == 2
        first, second = pinned(url, 0), pinned(url, 1)
        assert first.get("/readyz").json()["ready"]
        assert second.get("/readyz").json()["ready"]

        def leaders() -> list[bool]:
            return [c.get("/readyz").json()["leader"] for c in (first, second)]

        wait_for(lambda: leaders().count(True) == 1, timeout_s=10)

        (operator, connector, wire), *_ = storm_connectors(cluster, url, 1)
        config = config_of(cluster, cluster.nodes[0].name)
        token = tcec_token(config, operator, url)

        def agreed(wanted: str) -> bool:
            """Both workers show ``wanted`` for the connector, in detail and in search."""
            status, available = shown(second, connector)
            return (status == wanted and available == free_in_detail(second, connector)
                    and shown(first, connector) == (status, available))  # fmt: skip

        for status, wanted in ((TCEC_CHARGING, "charging"), (TCEC_FREE, "available")):
            stream_client = pinned(url, 1)
            with status_events(stream_client) as events:
                assert push(first, signed_push(config, operator, wire, status), token) == 0
                wait_for(lambda w=wanted: agreed(w), timeout_s=5)  # type: ignore[misc]
                wait_for(lambda w=wanted: any(e["connector_id"] == connector  # type: ignore[misc]
                                              and e["status"] == w for e in events),
                         timeout_s=5)  # fmt: skip
            stream_client.close()
        assert leaders().count(True) == 1

        # kill -9 of the worker that does not lead (a leader's death would hand the lead over,
        # and the new leader's first sync may rightly bring the simulator's statuses back):
        # the supervisor starts another, the leader answering meanwhile; the new one shows
        # what the store holds (workers are forked in order: worker n has the n-th lowest pid)
        before = workers_of(cluster)
        victim = 0 if leaders() == [False, True] else 1
        survivor = (first, second)[1 - victim]
        (first, second)[victim].close()
        os.kill(before[victim], signal.SIGKILL)
        assert push(survivor, signed_push(config, operator, wire, TCEC_CHARGING), token) == 0
        wait_for(lambda: len(workers_of(cluster)) == 2 and workers_of(cluster) != before,
                 timeout_s=60)  # fmt: skip
        assert before[1 - victim] in workers_of(cluster)
        reborn = pinned(url, victim, timeout_s=120)
        wait_for(lambda: shown(reborn, connector)[0] == "charging", timeout_s=10)
        assert shown(reborn, connector) == shown(survivor, connector)
        wait_for(lambda: [c.get("/readyz").json()["leader"]
                          for c in (survivor, reborn)].count(True) == 1, timeout_s=10)  # fmt: skip
        reborn.close()
        survivor.close()
