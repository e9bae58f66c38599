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

Target (PRODUCT.md): both within 1 s. Status polls are off so that only the pushes change
statuses. Benchmarks print; they assert nothing. About 2 minutes, most of it the cluster's start.
"""

from __future__ import annotations

import argparse
import statistics
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

SHANGHAI = (31.23, 121.47)


def figures(name: str, seconds: list[float]) -> None:
    ms = sorted(s * 1000 for s in seconds)
    p95, p99 = (ms[min(len(ms) - 1, int(len(ms) * q))] for q in (0.95, 0.99))
    print(f"{name}: n={len(ms)} p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms, "
          f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=200)
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
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
