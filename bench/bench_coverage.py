"""Coverage report at national scale: the time of ``coverage_report`` (what ``chargemesh report
coverage`` and ``GET /api/v1/coverage`` compute) on a registry of the simulated country.

The registry is the one ``bench_search.py`` builds (the simulated country mapped with the
platform's own functions and written to SQLite; cached in ``--cache-dir``), or any store given
with ``--store``. Target (issue #8): ≤ 5 s at national scale (1.4 M EVSEs).

    python bench/bench_coverage.py [--scale 1] [--runs 5] [--store URL]

Run by hand; it prints figures and asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_search import cache_path, generate_store
from chargemesh.services.analytics.coverage import coverage_report
from chargemesh.store import open_store

TARGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", help="a store URL instead of the cached simulated country")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "chargemesh-bench"
    )
    args = parser.parse_args()
    url = args.store
    if url is None:
        path = cache_path(args.cache_dir, args.scale, args.seed)
        if not path.exists():
            args.cache_dir.mkdir(parents=True, exist_ok=True)
            print(f"building the registry at {path} …", flush=True)
            generate_store(path, args.scale, args.seed)
        url = f"sqlite:///{path}"
    with open_store(url) as store:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = coverage_report(store)
            times.append(time.perf_counter() - started)
        data = report.to_json()
    totals, counties = data["totals"], data["counties"]
    print(
        f"registry: {totals['operators']} operators, {totals['stations']:,} stations, "
        f"{totals['evses']:,} EVSEs, {totals['connectors']:,} connectors; "
        f"{counties['covered']:,} of {counties['total']:,} counties, "
        f"{data['highway']['service_areas']:,} highway service areas"
    )
    print(f"power classes: {data['power_classes']}")
    best, median = min(times), statistics.median(times)
    verdict = "met" if median <= TARGET_S else "missed"
    print(
        f"coverage report: median {median:.2f} s, best {best:.2f} s over {args.runs} runs "
        f"(target ≤ {TARGET_S:.0f} s: {verdict})"
    )


if __name__ == "__main__":
    main()
