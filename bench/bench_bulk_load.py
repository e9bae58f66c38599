"""Bulk-load benchmark: write a national-scale registry (1.4 M EVSEs, ~3 M connectors,
synthetic, generated here) into each store backend and print rows/s and seconds.

    python bench/bench_bulk_load.py                      # both backends, national scale
    python bench/bench_bulk_load.py --evses 100000 --backend sqlite

Targets (issue #2): <= 60 s into SQLite, <= 90 s into PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from chargemesh.domain import (
    AccessMethod,
    Capability,
    Connector,
    ConnectorStandard,
    ConnectorStatus,
    CurrentType,
    Evse,
    Operator,
    OperatorProtocol,
    Station,
    child_id,
    station_id,
)
from chargemesh.store import open_store

NOW = datetime(2026, 11, 21, tzinfo=UTC)
STATUSES = [ConnectorStatus.AVAILABLE] * 6 + [
    ConnectorStatus.CHARGING,
    ConnectorStatus.CHARGING,
    ConnectorStatus.OCCUPIED,
    ConnectorStatus.FAULTED,
    ConnectorStatus.OFFLINE,
]
SCAN = frozenset({AccessMethod.SCAN, AccessMethod.APP_START})
PNC = frozenset({AccessMethod.SCAN, AccessMethod.APP_START, AccessMethod.PLUG_AND_CHARGE})


def synthetic_country(evses: int, operators: int, seed: int = 7) -> Iterator[Station]:
    """Stations of 1-16 piles each; piles carry 1-3 guns (about 2.1 on average)."""
    rng = random.Random(seed)
    made = 0
    n = 0
    while made < evses:
        op = f"OP{n % operators:07d}"
        sid = station_id(op, f"ST{n:08d}")
        lon, lat = rng.uniform(98.0, 122.0), rng.uniform(21.0, 42.0)
        piles = []
        for e in range(min(rng.randint(1, 12), evses - made)):
            eid = child_id(sid, f"{e:02d}")
            dc = rng.random() < 0.7
            kw = rng.choice((60.0, 120.0, 160.0, 250.0, 480.0)) if dc else 7.0
            guns = rng.choice((2, 2, 2, 3, 3)) if dc else rng.choice((1, 2))
            piles.append(
                Evse(
                    id=eid,
                    source_id=f"{n:08d}{e:02d}",
                    manufacturer=rng.choice(("Huaxin", "Zhongke", "Yutong Power", "Kelan")),
                    model=f"HX-{int(kw)}",
                    firmware=rng.choice(("2.4.1", "2.4.2", "3.0.0")),
                    max_power_kw=kw,
                    connectors=tuple(
                        Connector(
                            id=child_id(eid, str(g)),
                            source_id=f"{n:08d}{e:02d}{g}",
                            standard=ConnectorStandard.GBT_DC if dc else ConnectorStandard.GBT_AC,
                            current_type=CurrentType.DC if dc else CurrentType.AC,
                            max_power_kw=kw,
                            max_voltage=1000.0 if dc else 220.0,
                            max_current=kw * 1000 / (1000.0 if dc else 220.0),
                            access_methods=PNC if rng.random() < 0.11 else SCAN,
                            status=rng.choice(STATUSES),
                            status_at=NOW,
                        )
                        for g in range(guns)
                    ),
                )
            )
        made += len(piles)
        n += 1
        yield Station(
            id=sid,
            operator_id=op,
            source_id=f"ST{n:08d}",
            name=f"Charging station {n}",
            lon=lon,
            lat=lat,
            evses=tuple(piles),
            address=f"{n} Example Road",
            county_adcode="110101",
            highway_service_area=rng.random() < 0.02,
            opening_hours="24/7",
            updated_at=NOW,
        )


def run(url: str, label: str, country: list[Station], operators: int) -> None:
    store = open_store(url)
    for i in range(operators):
        store.upsert_operator(
            Operator(
                f"OP{i:07d}", f"Operator {i}", OperatorProtocol.TCEC, frozenset({Capability.SCAN})
            )
        )
    started = time.perf_counter()
    result = store.upsert_stations(country, at=NOW)
    elapsed = time.perf_counter() - started
    counts = store.counts()
    rows = len(result.added) + result.evses_written + result.connectors_written
    print(
        f"{label:10s} first load: {counts.stations:,} stations, {counts.evses:,} EVSEs, "
        f"{counts.connectors:,} connectors in {elapsed:.1f} s "
        f"({rows / elapsed:,.0f} rows/s, {counts.evses / elapsed:,.0f} EVSEs/s)"
    )
    started = time.perf_counter()
    again = store.upsert_stations(country, at=NOW)
    print(
        f"{label:10s} unchanged re-sync: {again.unchanged:,} stations skipped in "
        f"{time.perf_counter() - started:.1f} s"
    )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--evses", type=int, default=1_400_000)
    parser.add_argument("--operators", type=int, default=26)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CHARGEMESH_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    started = time.perf_counter()
    country = list(synthetic_country(args.evses, args.operators))
    total = sum(len(e.connectors) for s in country for e in s.evses)
    print(
        f"generated {len(country):,} stations / {args.evses:,} EVSEs / {total:,} connectors "
        f"in {time.perf_counter() - started:.1f} s (not included in the figures below)"
    )
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.db"
            run(f"sqlite:///{path}", "sqlite", country, args.operators)
            print(f"{'sqlite':10s} file size: {path.stat().st_size / 1e6:,.0f} MB")
    if args.backend in ("postgres", "both"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.postgres_url, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
            try:
                sep = "&" if "?" in args.postgres_url else "?"
                url = f"{args.postgres_url}{sep}options=-csearch_path%3D{schema}"
                run(url, "postgres", country, args.operators)
            finally:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
