"""T/CEC status pushes per second through /tcec/v1/notification_stationStatus.

Each push is a full HTTP request: the platform verifies the Sig, decrypts, checks token and
replay, applies the status through the group-commit writer into SQLite and answers with a signed
envelope. The platform is ``chargemesh serve`` (a config written for it; ``--workers`` worker
processes); wrk (Debian package ``wrk``) is the load generator on the same machine, replaying
pre-signed unique requests. CPU is the sum over the serving processes.

    python bench/bench_tcec_push.py [--seconds 10] [--connections 64] [--store sqlite|postgres]
        [--workers 1]

Target (issue #3): >= 3,000 pushes/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from benchlib import cpu_s, free_port, process_tree

OPERATOR_ID = "MA6LTCD01"
PUSH_SECRETS = ("cm-op-secret-001", "cm-data-key-0001", "cm-data-iv-00001", "cm-sig-01")
STATIONS, PILES, GUNS = 2000, 2, 2

LUA = r"""
local bodies = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do n = n + 1; bodies[n] = line end
  i = tonumber(args[2])  -- each thread starts elsewhere in the file
end
request = function()
  i = (i % n) + 1
  return wrk.format("POST", nil, nil, bodies[i])
end
"""


def serve_config(url: str, port: int, workers: int, path: Path) -> Path:
    """``chargemesh serve``'s configuration: the store, the pushing operator with the secrets
    its pushes are sealed with, no syncs or polls (only the pushes change statuses), and room
    in the operator's rate limit for the load (the limiter stays on: its cost is measured)."""
    op, data, iv, sig = PUSH_SECRETS
    secrets = (f'operator_secret = "{op}"\ndata_secret = "{data}"\n'
               f'data_secret_iv = "{iv}"\nsig_secret = "{sig}"\n')  # fmt: skip
    path.write_text(
        f'[store]\nurl = "{url}"\n\n[server]\nhost = "127.0.0.1"\nport = {port}\n'
        f"workers = {workers}\n\n[sync]\ninterval_s = 0\n\n[status]\npoll_interval_s = 0\n\n"
        "[rate_limits]\npush_per_s = 100000\npush_burst = 100000\n\n"
        f'[log]\nlevel = "warning"\n\n[[operators]]\nid = "{OPERATOR_ID}"\n'
        'name = "Lanting Charging"\nprotocol = "tcec"\nurl = "http://127.0.0.1:9/"\n'
        'dialect = "cec"\ncapabilities = ["scan"]\n\n'
        f"[operators.outbound]\n{secrets}\n[operators.inbound]\n{secrets}",
        encoding="utf-8",
    )
    return path


def fill(url: str) -> list[str]:
    from chargemesh.domain import (
        Capability,
        Connector,
        ConnectorStandard,
        CurrentType,
        Evse,
        Operator,
        OperatorProtocol,
        Station,
        child_id,
        station_id,
    )  # fmt: skip
    from chargemesh.store import open_store

    op = Operator(
        OPERATOR_ID, "Lanting Charging", OperatorProtocol.TCEC, frozenset({Capability.SCAN})
    )
    sources: list[str] = []
    stations = []
    for n in range(STATIONS):
        sid = station_id(OPERATOR_ID, f"LT{n:06d}")
        evses = []
        for p in range(PILES):
            eid = child_id(sid, f"{p}")
            guns = []
            for g in range(GUNS):
                source = f"{OPERATOR_ID}{n:06d}{p:02d}{g:03d}"
                sources.append(source)
                guns.append(
                    Connector(
                        child_id(eid, source),
                        source,
                        ConnectorStandard.GBT_DC,
                        CurrentType.DC,
                        120.0,
                    )
                )
            evses.append(Evse(eid, f"{p}", tuple(guns)))
        stations.append(Station(sid, OPERATOR_ID, f"LT{n:06d}", f"S{n}", 116.4, 39.9, tuple(evses)))
    with open_store(url) as store:
        store.upsert_operator(op)
        store.upsert_stations(stations, at=datetime.now(UTC))
    return sources


def signed_bodies(sources: list[str], count: int, path: Path) -> None:
    from chargemesh.protocols.tcec.codec import CHINA_TZ, Secrets, seal_request

    secrets = Secrets(*PUSH_SECRETS)
    start = datetime.now(CHINA_TZ) - timedelta(seconds=count // 9999 + 1)
    with path.open("w") as out:
        for k in range(count):
            cid = sources[k % len(sources)]
            status = (1, 3, 2, 255)[(k // len(sources)) % 4]  # each round is a change
            payload = {"ConnectorStatusInfo": {"ConnectorID": cid, "Status": status}}
            stamp = start + timedelta(seconds=k // 9999)
            body = seal_request(
                OPERATOR_ID, payload, secrets, seq=f"{k % 9999 + 1:04d}", timestamp=stamp
            )
            out.write(json.dumps(body, separators=(",", ":")) + "\n")


async def get_token(base: str) -> str:
    from chargemesh.protocols.tcec.codec import Secrets
    from chargemesh.sim.peers.tcec.push import PlatformPusher

    async with httpx.AsyncClient() as http:
        return await PlatformPusher(base, OPERATOR_ID, Secrets(*PUSH_SECRETS), "cec", http).token()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1, help="[server] workers")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp())
    if args.store == "sqlite":
        url = f"sqlite:///{tmp / 'push.db'}"
    else:
        import psycopg

        schema = f"bench_push_{os.getpid()}"
        base_url = os.environ.get(
            "CHARGEMESH_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"
        )
        with psycopg.connect(base_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            admin.execute(f"CREATE SCHEMA {schema}")
        url = f"{base_url}?options=-csearch_path%3D{schema}"
    sources = fill(url)
    port = free_port()
    config = serve_config(url, port, args.workers, tmp / "chargemesh.toml")
    server = subprocess.Popen(
        [sys.executable, "-m", "chargemesh", "serve", "--config", str(config)]
    )
    try:
        base = f"http://127.0.0.1:{port}/tcec/v1/"
        for _ in range(300):
            try:
                token = asyncio.run(get_token(base))
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            sys.exit("the platform did not start")
        count = max(args.seconds * 8000, 40_000)
        bodies = tmp / "bodies.jsonl"
        signed_bodies(sources, count, bodies)
        (tmp / "push.lua").write_text(LUA)
        serving = process_tree(server.pid)
        cpu0, started = sum(cpu_s(p) or 0.0 for p in serving), time.perf_counter()
        result = subprocess.run(
            [
                "wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency",
                "-s", str(tmp / "push.lua"),
                "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                base + "notification_stationStatus", "--", str(bodies), "0",
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        api_cpu = sum(cpu_s(p) or 0.0 for p in serving) - cpu0
        elapsed = time.perf_counter() - started
        rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
        p99 = re.search(r"99%\s+(\S+)", result.stdout)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)
        from chargemesh.store import open_store

        with open_store(url) as store:
            sample = sources[:50]
            ids = store.connector_ids_by_source(OPERATOR_ID, sample)
            changed = sum(len(store.status_history(i)) for i in ids.values())
        print(result.stdout)
        print(
            f"status pushes: {float(rate.group(1)) if rate else 0:,.0f}/s over {args.seconds} s "
            f"with {args.connections} connections, p99 {p99.group(1) if p99 else '?'}, "
            f"HTTP errors {errors.group(1) if errors else 0}; "
            f"{changed} status changes recorded for a sample of 50 connectors ({args.store})"
        )
        requests = re.search(r"(\d+) requests in", result.stdout)
        done = int(requests.group(1)) if requests else 0
        print(
            f"platform process: {100 * api_cpu / elapsed:.0f}% of one core, "
            f"{1e6 * api_cpu / max(done, 1):,.0f} µs CPU per push (robust to a busy machine); "
            f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
