"""Throughput of the vectorised WGS-84 <-> GCJ-02 conversions in chargemesh.geo.coords.

Usage: .venv/bin/python bench/bench_coords.py [--points 1400000] [--repeats 5]

Prints points/s (best and median of the repeats) for each vectorised conversion, on random
(seeded) points spread over mainland China, and for comparison the scalar functions on a sample.
The target is at least 1 M points/s for each vectorised conversion.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from chargemesh.geo.coords import (
    gcj02_to_wgs84,
    gcj02_to_wgs84_array,
    wgs84_to_gcj02,
    wgs84_to_gcj02_array,
)

TARGET_POINTS_PER_S = 1_000_000
Arrays = tuple[NDArray[np.float64], NDArray[np.float64]]


def time_runs(run: Callable[[], object], repeats: int) -> list[float]:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def report(label: str, points: int, times: list[float], *, target: bool = True) -> float:
    best = points / min(times)
    median = points / statistics.median(times)
    verdict = ""
    if target:
        verdict = "ok" if best >= TARGET_POINTS_PER_S else "BELOW 1 M/s TARGET"
    print(
        f"{label:<34} {points:>9,} pts  best {best / 1e6:7.2f} M pts/s  "
        f"median {median / 1e6:7.2f} M pts/s  ({min(times) * 1e3:7.1f} ms)  {verdict}"
    )
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_400_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scalar-points", type=int, default=20_000)
    args = parser.parse_args()

    rng = np.random.default_rng(12345)
    lons = rng.uniform(73.5, 135.0, args.points)
    lats = rng.uniform(18.0, 53.5, args.points)
    gcj_lons, gcj_lats = wgs84_to_gcj02_array(lons, lats)

    print(f"numpy {np.__version__}; {args.points:,} points; best/median of {args.repeats} runs")
    report(
        "wgs84_to_gcj02_array",
        args.points,
        time_runs(lambda: wgs84_to_gcj02_array(lons, lats), args.repeats),
    )
    report(
        "gcj02_to_wgs84_array (exact)",
        args.points,
        time_runs(lambda: gcj02_to_wgs84_array(gcj_lons, gcj_lats), args.repeats),
    )

    n = min(args.scalar_points, args.points)
    sample = list(zip(lons[:n].tolist(), lats[:n].tolist(), strict=True))
    gcj_sample = list(zip(gcj_lons[:n].tolist(), gcj_lats[:n].tolist(), strict=True))
    scalar_repeats = max(1, args.repeats // 2)
    report(
        "wgs84_to_gcj02 (scalar loop)",
        n,
        time_runs(lambda: [wgs84_to_gcj02(a, b) for a, b in sample], scalar_repeats),
        target=False,
    )
    report(
        "gcj02_to_wgs84 (scalar loop)",
        n,
        time_runs(lambda: [gcj02_to_wgs84(a, b) for a, b in gcj_sample], scalar_repeats),
        target=False,
    )

    back_lons, back_lats = gcj02_to_wgs84_array(gcj_lons, gcj_lats)
    worst = max(float(np.max(np.abs(back_lons - lons))), float(np.max(np.abs(back_lats - lats))))
    print(f"round trip wgs->gcj->wgs, worst error: {worst:.2e} deg (~{worst * 111_320:.1e} m)")


if __name__ == "__main__":
    main()
