"""Statuses stay fresh between pushes (issue 13): the simulated country on loopback, the real
platform with a shortened clock (a 4 s freshness limit, polls every second), a T/CEC feed and an
OCPI feed whose operators push nothing (churn 0), as a quiet real network would.

With the refresher the map after several freshness periods shows what it showed after the sync,
because the T/CEC operator is polled (query_station_status) and the OCPI CPO pulled (date_from)
between pushes; without it the same map goes grey. A feed whose operator stops answering polls is
reported degraded by /api/v1/operators (the error's text by /api/v1/ops/feeds).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargemesh.api.operators import STATUSES_STALE
from chargemesh.bootstrap import OcpiSettings, Platform, assemble, tcec_peers
from chargemesh.config import Config, StatusConfig, load_config
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.interfaces import Interface
from chargemesh.services.feeds.freshness import StatusRefresher
from chargemesh.services.feeds.ingest import OcpiSide, sync_all
from chargemesh.sim.country import Country, generate
from chargemesh.sim.runner import Simulator
from chargemesh.store import Store, open_store
from tests.helpers import free_port, wait_for
from tests.sim.conftest import SCALE, SEED

FRESHNESS_S = 4
POLL_S = 1.0
TCEC_OP = "MA2YLN028"  # 80 stations at this scale: 2 batches of 50 a round
OCPI_OP = "CN-TLN"  # 18 locations
FEEDS = (TCEC_OP, OCPI_OP)
WHOLE_MAP = {"bbox": "70,15,140,56", "zoom": 3}


@pytest.fixture(scope="module")
def country() -> Country:
    return generate(SCALE, SEED)


@dataclass
class Running:
    sim: Simulator
    config: Config
    store: Store
    platform: Platform
    server: LoopbackServer

    @property
    def refresher(self) -> StatusRefresher:
        assert self.platform.refresher is not None
        return self.platform.refresher

    def available(self, operator_id: str) -> int:
        """Connectors available now on the whole map, as a driver's map counts them."""
        answer = httpx.get(
            f"{self.server.url}/api/v1/map/clusters",
            params={**WHOLE_MAP, "operator": operator_id},
            timeout=10,
        )
        answer.raise_for_status()
        return sum(int(f["properties"]["available"]) for f in answer.json()["features"])

    def feeds(self) -> dict[str, dict[str, Any]]:
        answer = httpx.get(f"{self.server.url}/api/v1/operators", timeout=10)
        answer.raise_for_status()
        return {o["id"]: o["feed"] for o in answer.json()}

    def ops_feeds(self) -> dict[str, dict[str, Any]]:
        """The feeds as the operations team sees them (the full reasons, the errors)."""
        _, key = self.platform.ops_keys.create("freshness test")
        answer = httpx.get(
            f"{self.server.url}/api/v1/ops/feeds", headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )  # fmt: skip
        answer.raise_for_status()
        return {o["id"]: o["feed"] for o in answer.json()}

    def status_polls(self) -> int:
        return self.sim.tcec_servers[TCEC_OP].requests[Interface.QUERY_STATION_STATUS]


@contextmanager
def running(
    country: Country, tmp_path: Path, store_url: str, *, poll_interval_s: float
) -> Iterator[Running]:
    """The simulator, and the platform serving the T/CEC and the OCPI feed with the short
    freshness limit, its refresher polling every ``poll_interval_s`` (0: not at all); synced."""
    port = free_port()
    with Simulator(country, platform_url=f"http://127.0.0.1:{port}", churn_rate=0) as sim:
        manifest = load_config(sim.write_manifest(tmp_path / "sim.toml"))
        config = manifest.model_copy(
            update={
                "operators": [
                    manifest.operator(op).model_copy(update={"status_freshness_s": FRESHNESS_S})
                    for op in FEEDS
                ],
                "status": StatusConfig(poll_interval_s=poll_interval_s),
            }
        )
        store = open_store(store_url)
        try:
            platform = assemble(
                store, tcec_peers(config), ocpi=OcpiSettings.from_config(config), feeds=config
            )
            with LoopbackServer(platform.app(), port=port) as server:
                side = OcpiSide(
                    platform.ocpi_connections, platform.ocpi_locations, platform.ocpi_objects
                )
                results = server.call(sync_all(config, store, platform.relay, ocpi=side))
                assert {r.operator_id: r.error for r in results} == dict.fromkeys(FEEDS)
                yield Running(sim, config, store, platform, server)
        finally:
            store.close()


def settled(run: Running) -> dict[str, int]:
    """Each feed's available connectors once the sync has reached the map."""
    previous: dict[str, int] = {}

    def steady() -> dict[str, int] | None:
        nonlocal previous
        try:
            now = {op: run.available(op) for op in FEEDS}
        except httpx.HTTPStatusError:  # 422 "unknown operator": not on the map yet
            return None
        done = now if now == previous and all(now.values()) else None
        previous = now
        return done

    return wait_for(steady, timeout_s=20, poll_s=0.5)


def test_the_map_after_several_freshness_periods_is_the_map_after_the_sync(
    country: Country, tmp_path: Path, store_url: str
) -> None:
    with running(country, tmp_path, store_url, poll_interval_s=POLL_S) as run:
        synced = settled(run)
        polls_before = run.status_polls()
        synced_at = datetime.now(UTC)
        end = time.monotonic() + 4 * FRESHNESS_S  # four freshness limits, and the sweep's 5 s
        while time.monotonic() < end:
            time.sleep(1.0)
            now = {op: run.available(op) for op in FEEDS}
            for op in FEEDS:  # nothing changed at the operators: nothing may go grey
                assert now[op] >= 0.9 * synced[op], (op, now[op], synced[op])

        # it is the refresher's doing: the T/CEC operator was polled round after round (two
        # batches of 50 StationIDs a round), the CPO pulled, and every status was observed anew
        assert run.status_polls() - polls_before >= 2 * (2 * FRESHNESS_S)
        for op in FEEDS:
            health = run.refresher.health[op]
            assert health.polls >= 2 * FRESHNESS_S, (op, health)
            assert health.errors == 0
            assert health.last_poll is not None
            assert health.last_poll > synced_at + timedelta(seconds=2 * FRESHNESS_S)
        stale = run.store.stale_connectors(datetime.now(UTC) - timedelta(seconds=FRESHNESS_S))
        assert all(stale[op][0] == 0 and stale[op][1] > 0 for op in FEEDS), stale

        # quiet push feeds whose statuses polling confirms are healthy
        feeds = run.feeds()
        for op in FEEDS:
            assert (feeds[op]["state"], feeds[op]["reason"]) == ("ok", None), feeds[op]
            assert feeds[op]["stale_connectors"] == 0
            assert feeds[op]["poll_errors"] == 0
            assert feeds[op]["last_poll"] is not None


def test_without_polling_the_same_map_goes_grey(country: Country, tmp_path: Path) -> None:
    """The control: the same world with the refresher off (``status.poll_interval_s = 0``)."""
    store_url = f"sqlite:///{tmp_path / 'registry.db'}"
    with running(country, tmp_path, store_url, poll_interval_s=0) as run:
        synced = settled(run)
        assert all(synced.values())
        polls_before = run.status_polls()
        # past the freshness limit and the sweep that retires stale availability
        grey = wait_for(
            lambda: all(run.available(op) == 0 for op in FEEDS), timeout_s=4 * FRESHNESS_S + 10,
            poll_s=0.5,
        )  # fmt: skip
        assert grey
        assert run.status_polls() == polls_before  # nobody polled
        feeds, full = run.feeds(), run.ops_feeds()
        for op in FEEDS:  # every connector stale: the feed says so (the counts: to ops)
            assert feeds[op]["state"] == "degraded", feeds[op]
            assert feeds[op]["reason"] == STATUSES_STALE
            assert feeds[op]["stale_connectors"] > 0
            assert "have no status newer than the freshness limit (4 s)" in full[op]["reason"]


def test_a_feed_whose_operator_stops_answering_polls_is_degraded(
    country: Country, tmp_path: Path, store_url: str
) -> None:
    with running(country, tmp_path, store_url, poll_interval_s=POLL_S) as run:
        wait_for(lambda: all(run.refresher.health[op].polls for op in FEEDS), timeout_s=20)
        assert {op: f["state"] for op, f in run.feeds().items()} == dict.fromkeys(FEEDS, "ok")
        for op in FEEDS:
            run.sim.stop_operator(op)  # the operator's server goes away

        def polls_failing() -> dict[str, dict[str, Any]] | None:
            feeds = run.feeds()
            failing = all(
                feeds[op]["state"] == "degraded"
                and feeds[op]["reason"].startswith("status polls failing")
                for op in FEEDS
            )
            return feeds if failing else None

        feeds = wait_for(polls_failing, timeout_s=30, poll_s=0.5)
        full = run.ops_feeds()
        for op in FEEDS:
            assert feeds[op]["poll_errors"] >= 1
            assert feeds[op]["errors"] == 0  # the last sync itself succeeded
            assert "poll_last_error" not in feeds[op]  # the error's text is for ops only
            assert full[op]["reason"].startswith("status polls failing (")
            assert full[op]["poll_last_error"]
