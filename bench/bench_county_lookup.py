"""Benchmark the vectorised GCJ-02 point → county lookup.

    python bench/bench_county_lookup.py [--points 1000000] [--seed 20240601] [--repeat 3]

Generates random points spread over all counties (a county drawn uniformly, then a normal jitter
of 15 % of its bounding-box size around its representative point, so most points are inside China
and many near borders), then times loading the table, building the lookup index, and ``lookup``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import numpy.typing as npt

from chargemesh.geo.counties import CountyTable


def random_points(
    table: CountyTable, n: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int32]]:
    counties = list(table)
    lon = np.array([c.lon for c in counties])
    lat = np.array([c.lat for c in counties])
    width = np.array([c.east - c.west for c in counties])
    height = np.array([c.north - c.south for c in counties])
    codes = np.array([int(c.adcode) for c in counties], dtype=np.int32)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(counties), n)
    xs = lon[pick] + rng.normal(0.0, 0.15 * width[pick])
    ys = lat[pick] + rng.normal(0.0, 0.15 * height[pick])
    return xs, ys, codes[pick]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t0 = time.perf_counter()
    table = CountyTable.load()
    t1 = time.perf_counter()
    table.prepare_lookup()
    t2 = time.perf_counter()
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs")
    print(f"table load: {t1 - t0:.3f} s ({len(table)} units)")
    print(f"index build (parse outlines, STRtree): {t2 - t1:.3f} s")
    print(f"load total: {t2 - t0:.3f} s")

    xs, ys, source = random_points(table, args.points, args.seed)
    times = []
    result = np.zeros(0, dtype=np.int32)
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = table.lookup(xs, ys)
        times.append(time.perf_counter() - start)
    best, median = min(times), float(np.median(times))
    print(f"lookup of {args.points:,} points: best {best:.3f} s, median {median:.3f} s")
    rate_best, rate_median = args.points / best, args.points / median
    print(f"throughput: {rate_best:,.0f} points/s (best), {rate_median:,.0f} (median)")
    print(
        f"points in their source county: {np.mean(result == source):.1%}, "
        f"in another county: {np.mean((result != source) & (result != 0)):.1%}, "
        f"in none (sea, abroad): {np.mean(result == 0):.1%}"
    )

    singles = 2_000
    start = time.perf_counter()
    for x, y in zip(xs[:singles].tolist(), ys[:singles].tolist(), strict=True):
        table.lookup_one(x, y)
    per_call = (time.perf_counter() - start) / singles
    print(f"lookup_one: {per_call * 1e6:.0f} µs per call")


if __name__ == "__main__":
    main()
