"""Two chargemesh nodes behind HAProxy (``chargemesh cluster``'s LocalCluster: NATS, one
PostgreSQL schema, the simulated country, real ``chargemesh serve`` processes): how long a status
applied on node A takes to reach node B's event stream, and how long an operations command
through node B takes to reach a charger held by node A and come back.

    python bench/bench_cluster.py [--pushes 200] [--commands 50]

1. T/CEC status pushes to node A's own port, one at a time (each waits for the previous to be
   seen): from sending the push to the change on node B's ``/api/v1/events`` stream (a push
   that confirms the status a connector had already changes nothing and is not counted).
2. ``POST /api/v1/ops/chargers/{id}/availability`` through node B for superchargers held by
   node A (alternately inoperative and operative): the HTTP round trip — B asks A over NATS, A
   asks the charger over OCPP, the answer comes back the same way.

3. ``--throughput``: for a single node on PostgreSQL without NATS (the baseline), and a cluster
   of 1, 2 and 3 nodes, each behind HAProxy on the same machine: nearby requests per second
   (``wrk``, Debian package, cycling 2,000 query points near the simulated stations, saturated
   with ``--connections``) and T/CEC status pushes per second (signed envelopes sent by
   ``--pushers`` concurrent clients through the balancer, each push answered before the next);
   for each, the CPU the nodes used per request (and NATS's, apart) — the per-request cost of
   cluster mode against the single node in the same run. The load generators run on the same
   2 cores as the nodes: the figures say what this machine allows, not what more machines give.

Target (PRODUCT.md): both within 1 s. Status polls are off so that only the pushes change
statuses. Benchmarks print; they assert nothing. About 2 minutes, most of it the cluster's start
(``--throughput``: about 6 minutes more).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' cluster helpers

from tests.cluster.harness import (
    config_of,
    event_stream,
    nearby,
    post_push,
    running_cluster,
    signed_push,
    station,
    superchargers,
    tcec_token,
    wait_held,
)

from benchlib import cpu_s
from chargemesh.cli.cluster import LocalCluster

SHANGHAI = (31.23, 121.47)


def figures(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95, p99 = (ms[min(len(ms) - 1, int(len(ms) * q))] for q in (0.95, 0.99))
    print(f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
          f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")  # fmt: skip


LUA = r"""
local paths, n, i = {}, 0, 0
init = function(args)
  for line in io.lines(args[1]) do n = n + 1; paths[n] = line end
  i = math.random(n)
end
request = function()
  i = (i % n) + 1
  return wrk.format("GET", paths[i])
end
"""
QUIET = {
    "status": {"poll_interval_s": 0},
    # wrk's connections all come through HAProxy, one address: room for the saturated load,
    # the limiter still on (its cost is part of what is measured)
    "rate_limits": {"search_per_s": 100_000, "search_burst": 200_000},
}


def cpu_of(cluster: LocalCluster, names: list[str]) -> float:
    return sum(cpu_s(cluster.processes[n].popen.pid) or 0.0 for n in names)


def nearby_rate(cl: LocalCluster, tmp: Path, seconds: float, connections: int) -> str:
    """wrk against the balancer: requests per second, p50/p99, node and NATS CPU per request."""
    rng = random.Random(7)
    places = [(s["lat"], s["lon"]) for s in cl.truth.get("stations_sample", [])]
    if not places:  # around the simulated country's cities
        places = [SHANGHAI, (39.91, 116.40), (23.13, 113.26), (30.57, 104.07), (22.54, 114.06)]
    paths = tmp / "nearby.txt"
    paths.write_text("\n".join(
        f"/api/v1/stations/nearby?lat={lat + rng.gauss(0, 0.05):.5f}&"
        f"lon={lon + rng.gauss(0, 0.05):.5f}&radius_km=10&limit=10"
        for lat, lon in (rng.choice(places) for _ in range(2000))
    ) + "\n", encoding="utf-8")  # fmt: skip
    lua = tmp / "paths.lua"
    lua.write_text(LUA, encoding="utf-8")
    nodes = [n.name for n in cl.nodes]
    node_cpu, nats_cpu = cpu_of(cl, nodes), cpu_of(cl, ["nats"]) if cl.bus else 0.0
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(lua),
         cl.url, "--", str(paths)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    node_cpu = cpu_of(cl, nodes) - node_cpu
    nats_cpu = (cpu_of(cl, ["nats"]) if cl.bus else 0.0) - nats_cpu
    rate = float(out.split("Requests/sec:")[1].split()[0])
    lat = {q: v for q, v in (ln.split() for ln in out.splitlines()
                             if ln.strip().startswith(("50%", "99%")))}  # fmt: skip
    done = rate * seconds
    return (
        f"nearby {rate:8,.0f} req/s  p50 {lat.get('50%')}  p99 {lat.get('99%')}  "
        f"node CPU {1e3 * node_cpu / done:.3f} ms/req  NATS {1e3 * nats_cpu / done:.3f}"
    )


def push_rate(cl: LocalCluster, seconds: float, pushers: int) -> str:
    """Signed T/CEC pushes through the balancer by ``pushers`` concurrent clients."""
    import httpx

    config = config_of(cl, "node-1")
    connectors: list[tuple[str, str]] = []
    for op in (o for o in config.operators if o.protocol == "tcec"):
        for place in (SHANGHAI, (39.91, 116.40)):
            for s in nearby(cl.url, *place, operator=op.id, radius_km=60):
                for evse in station(cl.url, s["id"])["evses"]:
                    cid = evse["connectors"][0]["id"]
                    connectors.append((op.id, cid.rsplit(":", 1)[1]))
    tokens = {op: tcec_token(config, op, cl.url) for op in {c[0] for c in connectors}}
    done = refused = 0
    nodes = [n.name for n in cl.nodes]

    async def pusher(k: int, until: float) -> None:
        nonlocal done, refused
        n = k
        async with httpx.AsyncClient(base_url=cl.url, timeout=30) as http:
            while time.monotonic() < until:
                op, wire = connectors[n % len(connectors)]
                status = 3 if (n // len(connectors)) % 2 == 0 else 1
                auth = {"Authorization": f"Bearer {tokens[op]}"}
                answer = await http.post("/tcec/v1/notification_stationStatus", headers=auth,
                                         json=signed_push(config, op, wire, status))  # fmt: skip
                ok = answer.status_code == 200 and answer.json().get("Ret") == 0
                done, refused = done + ok, refused + (not ok)
                n += pushers

    async def run() -> None:
        until = time.monotonic() + seconds
        await asyncio.gather(*(pusher(k, until) for k in range(pushers)))

    node_cpu, nats_cpu = cpu_of(cl, nodes), cpu_of(cl, ["nats"]) if cl.bus else 0.0
    began = time.monotonic()
    asyncio.run(run())
    took = time.monotonic() - began
    node_cpu = cpu_of(cl, nodes) - node_cpu
    nats_cpu = (cpu_of(cl, ["nats"]) if cl.bus else 0.0) - nats_cpu
    return (
        f"pushes {done / took:8,.0f} /s  ({done} applied, {refused} refused)  "
        f"node CPU {1e3 * node_cpu / max(done, 1):.3f} ms/push  "
        f"NATS {1e3 * nats_cpu / max(done, 1):.3f}"
    )


def throughput(args: argparse.Namespace) -> None:
    for label, nodes, bus in (("single node, no NATS", 1, False), ("cluster of 1", 1, True),
                              ("cluster of 2", 2, True), ("cluster of 3", 3, True)):  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            cl = LocalCluster(Path(tmp), nodes=nodes, scale=args.scale, bus=bus, settings=QUIET,
                              sim_args=("--faults", "0", "--churn", "0"))  # fmt: skip
            cl.start()
            try:
                load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                print(f"{label:<22} (load {load})")
                print(f"  {nearby_rate(cl, Path(tmp), args.duration, args.connections)}")
                print(f"  {push_rate(cl, args.duration, args.pushers)}")
            finally:
                cl.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=200)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--throughput", action="store_true", help="1/2/3 nodes: req/s, CPU")
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--pushers", type=int, default=16)
    args = parser.parse_args()
    if args.throughput:
        throughput(args)
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_cluster(Path(tmp), nodes=2, settings={"status": {"poll_interval_s": 0}}) as cl,
    ):
        a, b = (n.api_url for n in cl.nodes)
        config = config_of(cl, "node-1")
        connectors: list[tuple[str, str, str]] = []
        for op in (o for o in config.operators if o.protocol == "tcec"):
            for s in nearby(b, *SHANGHAI, operator=op.id, radius_km=60):
                for evse in station(b, s["id"])["evses"]:
                    cid = evse["connectors"][0]["id"]
                    connectors.append((op.id, cid, cid.rsplit(":", 1)[1]))
        tokens = {op: tcec_token(config, op, a) for op in {c[0] for c in connectors}}
        print(f"cluster up: 2 nodes, {len(connectors)} T/CEC connectors near Shanghai")

        seen: list[float] = []
        with event_stream(b) as stream:
            for n in range(args.pushes):
                op, cid, wire = connectors[n % len(connectors)]
                status, word = (
                    (3, "charging") if (n // len(connectors)) % 2 == 0 else (1, "available")
                )
                sent = time.monotonic()
                if post_push(a, signed_push(config, op, wire, status), tokens[op]) != 0:
                    continue
                got = stream.wait_for(cid, word, timeout_s=5)
                if got is not None:
                    seen.append(got[0] - sent)
        figures("status pushed to node A, on node B's event stream", seen)

        held = wait_held(cl, superchargers(cl))
        on_a = [c for c, node in sorted(held.items()) if node == "node-1"]
        ops = {"Authorization": f"Bearer {cl.ops_key}"}
        took: list[float] = []
        with httpx.Client(base_url=b, headers=ops, timeout=30) as http:
            for n in range(args.commands):
                charger = on_a[n % len(on_a)]
                body = {"connector": 1, "operative": (n // len(on_a)) % 2 == 1}
                began = time.monotonic()
                answer = http.post(f"/api/v1/ops/chargers/{charger}/availability", json=body)
                if answer.status_code == 200:
                    took.append(time.monotonic() - began)
        print(f"superchargers held by node A: {len(on_a)}")
        figures("command through node B to a charger on node A, round trip", took)


if __name__ == "__main__":
    main()
