"""CPU per request on the hot read path, measured inside one process: the nearby search sent
straight into the ASGI app (no socket, no load generator), so the figure holds on a machine
busy with other work, where wrk's requests per second would mostly measure the neighbours.

The platform's app is built over the search bench's cached store (``bench/bench_search.py``
writes it; ``--scale`` picks which) and its index built once. Two apps share that index: the
platform's own (the nearby lane ahead of the middleware stack, the lean route first) and the
same app with both taken out (the documented FastAPI route answers, as before the lean path).
Blocks of the same queries (the search bench's mix of kinds) go to each in turn; the CPU time
of this process (``time.process_time``) per request is reported per block, its median per app
and the ratio.
``--profile`` prints cProfile's top functions of the lean app's blocks.

    python bench/bench_hotpath.py [--scale 0.1] [--seed 7] [--requests 2000] [--rounds 5]
        [--kind unfiltered] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_search import NEARBY_KINDS as KINDS  # the search bench's kinds and shares
from chargemesh.api.nearby import PATH, NearbyEndpoint
from chargemesh.bootstrap import assemble
from chargemesh.config import RateLimitsConfig
from chargemesh.store import open_store


def queries(
    lon: np.ndarray, lat: np.ndarray, count: int, seed: int, kind: str | None = None
) -> list[bytes]:
    """Query strings around real stations (≈ 2 km jitter), as the search bench makes them: of
    the bench's mix of kinds, or of one ``kind``."""
    rng = np.random.default_rng(seed)
    kinds = list(KINDS) if kind is None else [kind]
    shares = np.array([KINDS[k][1] for k in kinds])
    picks = rng.integers(0, len(lon), count)
    jitter = rng.normal(0.0, 0.02, (count, 2))
    which = rng.choice(len(kinds), count, p=shares / shares.sum())
    radii = rng.choice([5.0, 10.0, 20.0], count, p=[0.3, 0.5, 0.2])
    limits = rng.choice([10, 20], count, p=[0.3, 0.7])
    return [
        (
            f"lat={lat[picks[i]] + jitter[i, 1]:.6f}&lon={lon[picks[i]] + jitter[i, 0]:.6f}"
            f"&radius_km={radii[i]:g}&limit={limits[i]}{KINDS[kinds[which[i]]][0]}"
        ).encode()
        for i in range(count)
    ]


async def run_block(app: Any, qs: list[bytes]) -> tuple[float, int]:
    """(CPU seconds, bytes answered) for every query sent to ``app`` one after another."""
    answered = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal answered
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"nearby answered {message['status']}")
        if message["type"] == "http.response.body":
            answered += len(message.get("body", b""))

    started = time.process_time()
    for q in qs:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "root_path": "",
            "query_string": q, "headers": [(b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }  # fmt: skip
        await app(scope, receive, send)
    return time.process_time() - started, answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000, help="queries per block")
    parser.add_argument("--rounds", type=int, default=5, help="blocks per app")
    parser.add_argument("--kind", choices=list(KINDS), help="one kind of query, not the mix")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "chargemesh-bench"
    )
    args = parser.parse_args()
    db = args.cache_dir / f"search-scale{args.scale:g}-seed{args.seed}.db"
    if not db.exists():
        sys.exit(f"no cached store {db}: run bench/bench_search.py --scale {args.scale:g} first")
    store = open_store(f"sqlite:///{db}")
    limits = RateLimitsConfig(search_per_s=1e9, search_burst=10**9)  # on, as the search bench
    platform = assemble(store, rate_limits=limits)
    platform.index.build()
    lean = platform.app()
    documented = platform.app()
    documented.hot_lanes = None  # every request through the stack and the router
    documented.router.routes[:] = [
        r for r in documented.router.routes if not isinstance(getattr(r, "app", None),
                                                              NearbyEndpoint)
    ]  # fmt: skip
    lon = np.concatenate([seg.lon for seg in platform.index])
    lat = np.concatenate([seg.lat for seg in platform.index])
    qs = queries(lon, lat, args.requests, args.seed, args.kind)
    loop = asyncio.new_event_loop()
    for app in (lean, documented):  # warm: middleware stacks built, caches filled
        loop.run_until_complete(run_block(app, qs[:200]))
    per: dict[str, list[float]] = {"lean route": [], "FastAPI route": []}
    sizes: dict[str, int] = {}
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(args.rounds):
        for name, app in (("lean route", lean), ("FastAPI route", documented)):
            if profiler is not None and app is lean:
                profiler.enable()
            cpu, size = loop.run_until_complete(run_block(app, qs))
            if profiler is not None and app is lean:
                profiler.disable()
            per[name].append(1e6 * cpu / len(qs))
            sizes[name] = size
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    what = "mixed" if args.kind is None else args.kind
    print(f"nearby in-process, {args.requests} {what} queries per block, {args.rounds} blocks "
          f"each, load average {load}:")  # fmt: skip
    for name, values in per.items():
        blocks = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name:<14} CPU per request: median {statistics.median(values):6.1f} µs   "
              f"blocks {blocks}   answered {sizes[name]:,} B")  # fmt: skip
    ratio = statistics.median(per["FastAPI route"]) / statistics.median(per["lean route"])
    print(f"  the lean route takes 1/{ratio:.2f} of the FastAPI route's CPU")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(30)
        print(out.getvalue())
    store.close()


if __name__ == "__main__":
    main()
