"""Stations per second in a full T/CEC sync over loopback HTTP: an operator server (the
simulator's) with a synthetic network, our client paging through it (100 per page), the mapping
and the store (SQLite), then the status poll in batches of 50.

    python bench/bench_tcec_sync.py [--stations 20000] [--dialect cec|xiaoju]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from chargemesh.bus import EventBus
from chargemesh.domain import Capability, Operator, OperatorProtocol
from chargemesh.events.relay import OutboxRelay
from chargemesh.protocols.http_server import LoopbackServer
from chargemesh.protocols.tcec.client import TcecClient
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.services.feeds.tcec_sync import sync_tcec_operator
from chargemesh.sim.peers.tcec.network import OperatorNetwork
from chargemesh.sim.peers.tcec.server import TcecOperatorServer
from chargemesh.store import open_store

OPERATOR_ID, PLATFORM_ID = "MA6LTCD01", "MACMESH01"
SECRETS = Secrets("lt-op-secret-001", "lt-data-key-0001", "lt-data-iv-00001", "lt-sig-01")


def station(n: int) -> StationInfo:
    piles = [
        {
            "EquipmentID": f"LT{n:07d}{p}",
            "EquipmentType": 1,
            "Power": 120.0,
            "ConnectorInfos": [
                {"ConnectorID": f"{OPERATOR_ID}{n:07d}{p}{g}", "ConnectorType": 4, "Power": 120.0}
                for g in range(2)
            ],
        }
        for p in range(3)
    ]
    return StationInfo.model_validate(
        {
            "StationID": f"LT{n:07d}",
            "StationName": f"Lanting {n}",
            "AreaCode": "110105",
            "StationLng": 116.3 + (n % 300) * 0.001,
            "StationLat": 39.8 + (n // 300) * 0.001,
            "Construction": 11 if n % 50 == 0 else 4,
            "EquipmentInfos": piles,
        }
    )


async def run(count: int, dialect: str, db: Path) -> None:
    network = OperatorNetwork([station(n) for n in range(count)])
    server = TcecOperatorServer(OPERATOR_ID, dialect, network, {PLATFORM_ID: SECRETS})  # type: ignore[arg-type]
    operator = Operator(OPERATOR_ID, "Lanting", OperatorProtocol.TCEC, frozenset({Capability.SCAN}))
    with LoopbackServer(server.app) as served, open_store(f"sqlite:///{db}") as store:
        async with httpx.AsyncClient(timeout=30) as http:
            client = TcecClient(
                base_url=server.base_url(served.url), operator_id=OPERATOR_ID,
                platform_operator_id=PLATFORM_ID, secrets=SECRETS, dialect=dialect,  # type: ignore[arg-type]
                http=http,
            )  # fmt: skip
            relay = OutboxRelay(store, EventBus())
            started = time.perf_counter()
            report = await sync_tcec_operator(client, operator, store, relay, poll_status=False)
            stations_s = time.perf_counter() - started
            started = time.perf_counter()
            report = await sync_tcec_operator(client, operator, store, relay)
            resync_s = time.perf_counter() - started
        counts = store.counts()
    print(
        f"full sync ({dialect}): {counts.stations:,} stations / {counts.connectors:,} connectors "
        f"in {report.pages} pages: {stations_s:.1f} s = {counts.stations / stations_s:,.0f} "
        f"stations/s; unchanged re-sync plus status poll of {report.statuses:,} connectors "
        f"in batches of 50: {resync_s:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stations", type=int, default=20_000)
    parser.add_argument("--dialect", choices=("cec", "xiaoju"), default="cec")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.stations, args.dialect, Path(tmp) / "sync.db"))


if __name__ == "__main__":
    main()
