"""The simulator at scale: generation, start-up, memory, and how fast its servers hand out pages.

    python bench/bench_sim.py [--scale 1] [--pages 200]

Prints: the country's generation time; building and starting the 26 operator servers; the
process's peak RSS; T/CEC ``query_stations_info`` pages/s (100 stations each) from the largest
T/CEC operator through our ``TcecClient``; ``query_station_status`` stations/s (batches of 50);
OCPI locations pages/s (100 each) from the largest OCPI CPO through our ``OcpiClient`` (after
the platform's registration with the manifest's token A). No churn, no faults.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path

import httpx

from benchlib import free_port
from chargemesh.bootstrap import OcpiSettings, Platform, assemble, tcec_peers
from chargemesh.config import Config, load_config
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.ocpi.models import Location
from chargemesh.protocols.tcec.client import client_from_config
from chargemesh.services.feeds.ocpi_sync import ensure_registered
from chargemesh.sim.country import generate
from chargemesh.sim.runner import Simulator
from chargemesh.store import open_store


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--pages", type=int, default=200, help="pages timed per protocol")
    args = parser.parse_args()

    t = time.perf_counter()
    country = generate(args.scale)
    print(
        f"generate(scale={args.scale:g}): {time.perf_counter() - t:.1f} s, "
        f"{country.n_stations:,} stations, {country.n_evses:,} EVSEs, "
        f"{country.n_connectors:,} connectors"
    )
    port = free_port()
    t = time.perf_counter()
    sim = Simulator(country, platform_url=f"http://127.0.0.1:{port}", churn_rate=0)
    built = time.perf_counter() - t
    t = time.perf_counter()
    sim.start()
    started = time.perf_counter() - t
    print(f"simulator: built in {built:.2f} s, {len(sim.ports)} servers started in {started:.2f} s")
    print(f"peak RSS so far: {rss_mb():,.0f} MB")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = load_config(sim.write_manifest(Path(tmp) / "sim.toml"))
            store = open_store(f"sqlite:///{Path(tmp) / 'registry.db'}")
            platform = assemble(store, tcec_peers(config), ocpi=OcpiSettings.from_config(config))
            with LoopbackServer(platform.app(), port=port) as server:
                bench_tcec(config, sim, args.pages)
                bench_ocpi(config, sim, platform, server, args.pages)
            store.close()
    finally:
        sim.stop()
    print(f"peak RSS: {rss_mb():,.0f} MB")


def bench_tcec(config: Config, sim: Simulator, pages: int) -> None:
    op = max(
        (o for o in sim.operators if o.protocol == "tcec"),
        key=lambda o: sim.feeds[o.id].station_count,
    )

    async def run() -> None:
        async with httpx.AsyncClient(timeout=60) as http:
            client = client_from_config(config, op.id, http)
            ids: list[str] = []
            t = time.perf_counter()
            async for page in client.station_pages(page_size=100):
                ids.extend(s.station_id for s in page.station_infos)
                if len(ids) >= pages * 100:
                    break
            elapsed = time.perf_counter() - t
            print(
                f"T/CEC {op.id} ({sim.feeds[op.id].station_count:,} stations): "
                f"{len(ids) / 100 / elapsed:.1f} pages/s, {len(ids) / elapsed:,.0f} stations/s"
            )
            t = time.perf_counter()
            answers = await client.station_status(ids)
            elapsed = time.perf_counter() - t
            polled = sum(a.total for a in answers)
            print(f"T/CEC status poll: {polled / elapsed:,.0f} stations/s (batches of 50)")

    asyncio.run(run())


def bench_ocpi(
    config: Config, sim: Simulator, platform: Platform, server: LoopbackServer, pages: int
) -> None:
    op = max(
        (o for o in sim.operators if o.protocol == "ocpi"),
        key=lambda o: sim.feeds[o.id].station_count,
    )
    connections = platform.ocpi_connections
    party = server.call(ensure_registered(connections, config.operator(op.id)))
    client = connections.client_for(party)
    url = f"{sim.origins[op.id]}/ocpi/2.2.1/locations"

    async def run() -> tuple[int, float]:
        seen, t = 0, time.perf_counter()
        async for page in client.pages(url, Location, limit=100):
            seen += len(page.items)
            if seen >= pages * 100:
                break
        return seen, time.perf_counter() - t

    seen, elapsed = server.call(run(), timeout_s=3600)
    print(
        f"OCPI {op.id} ({sim.feeds[op.id].station_count:,} locations): "
        f"{seen / 100 / elapsed:.1f} pages/s, {seen / elapsed:,.0f} locations/s"
    )


if __name__ == "__main__":
    main()
