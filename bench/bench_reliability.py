"""Reliability report benchmark: a synthetic registry with a year of status history (made here,
through the real store API), then ``reliability_report`` over the year, timed.

    python bench/bench_reliability.py                         # 200,000 connectors, SQLite
    python bench/bench_reliability.py --connectors 2000000 --store postgresql://127.0.0.1/test

Each connector is seen a month before the year and has 0-3 events during it (3 status changes
on average): a charging session, or an outage (faulted, offline or unknown) of ten minutes to
five days. One station in 50 has a six-hour excluded downtime; one in ten opens 07:00-23:00.
The store is built in a temporary directory unless ``--store`` names one (it must be empty).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

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
from chargemesh.services.analytics.reliability import CHINA_TZ, reliability_report
from chargemesh.store import ExcludedDowntime, StatusUpdate, Store, open_store

START = datetime(2025, 12, 1, tzinfo=CHINA_TZ)
END = datetime(2026, 12, 1, tzinfo=CHINA_TZ)
SEEN = START - timedelta(days=30)
OPERATORS = [f"OP{i:02d}" for i in range(20)]
PER_STATION = 4  # 2 EVSEs x 2 connectors
DOWN = [ConnectorStatus.FAULTED, ConnectorStatus.OFFLINE, ConnectorStatus.UNKNOWN]


def stations(n: int) -> Iterator[Station]:
    for i in range(n):
        op = OPERATORS[i % len(OPERATORS)]
        sid = station_id(op, f"S{i}")
        evses = []
        for e in range(2):
            eid = child_id(sid, f"E{e}")
            kw = 120.0 if e == 0 else 7.0
            dc = e == 0
            evses.append(
                Evse(
                    id=eid, source_id=f"E{e}", max_power_kw=kw,
                    connectors=tuple(
                        Connector(
                            id=child_id(eid, f"C{c}"), source_id=f"S{i}E{e}C{c}",
                            standard=ConnectorStandard.GBT_DC if dc else ConnectorStandard.GBT_AC,
                            current_type=CurrentType.DC if dc else CurrentType.AC,
                            max_power_kw=kw, access_methods=frozenset({AccessMethod.SCAN}),
                            status=ConnectorStatus.AVAILABLE, status_at=SEEN, status_since=SEEN,
                        )
                        for c in range(2)
                    ),
                )
            )  # fmt: skip
        yield Station(
            id=sid, operator_id=op, source_id=f"S{i}", name=f"Station {i}", lon=116.0, lat=39.0,
            evses=tuple(evses), opening_hours="24/7" if i % 10 else "07:00-23:00",
        )  # fmt: skip


def build(store: Store, connectors: int, rng: random.Random) -> int:
    for op in OPERATORS:
        store.upsert_operator(
            Operator(op, op, OperatorProtocol.TCEC, frozenset({Capability.REALTIME}))
        )
    n = connectors // PER_STATION
    store.upsert_stations(stations(n), at=SEEN)
    year = (END - START) / timedelta(seconds=1)
    ids = [r[0] for r in store.reliability_connectors("", connectors + 1)]
    batch: list[StatusUpdate] = []
    total = 0
    for cid in ids:
        # 0-3 events a year, each two changes: a charging session (an hour or so), or an
        # outage (faulted, offline or unknown) of ten minutes to five days; events never overlap.
        starts = sorted(rng.uniform(0, year - 3 * 86_400) for _ in range(rng.randint(0, 3)))
        free = 0.0
        for t in starts:
            t = max(t, free)
            if rng.random() < 0.5:
                status, length = ConnectorStatus.CHARGING, rng.uniform(600, 7_200)
            else:
                status, length = rng.choice(DOWN), rng.uniform(600, 5 * 86_400)
            free = t + length + 60
            batch.append(StatusUpdate(cid, status, START + timedelta(seconds=t), "bench"))
            batch.append(
                StatusUpdate(
                    cid, ConnectorStatus.AVAILABLE, START + timedelta(seconds=t + length), "bench"
                )
            )
        if len(batch) >= 20_000:
            total += len(store.apply_status_updates(batch).changed)
            batch = []
    total += len(store.apply_status_updates(batch).changed)
    store.add_excluded_downtime(
        ExcludedDowntime(
            f"x{i}", START + timedelta(days=i % 360), START + timedelta(days=i % 360, hours=6),
            "grid",
            station_id=station_id(OPERATORS[i % len(OPERATORS)], f"S{i}"),
        )
        for i in range(0, n, 50)
    )  # fmt: skip
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connectors", type=int, default=200_000)
    parser.add_argument("--store", help="an empty store URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with open_store(url) as store:
            t = time.perf_counter()
            changes = build(store, args.connectors, random.Random(args.seed))
            print(
                f"built {args.connectors:,} connectors, {changes:,} status changes "
                f"in {time.perf_counter() - t:.1f} s"
            )
            for detail in ("none", "all"):
                t = time.perf_counter()
                rep = reliability_report(store, START, END, now=END, connector_detail=detail)
                took = time.perf_counter() - t
                t = time.perf_counter()
                out = rep.to_json()
                print(
                    f"reliability_report (connector_detail={detail!r}): {took:.1f} s; "
                    f"to_json {time.perf_counter() - t:.1f} s; "
                    f"{len(out['nevi']['connectors']):,} connectors listed, "
                    f"{out['nevi']['below_threshold']:,} below 97 %, network uptime "
                    f"{out['nevi']['network']['uptime']} %"
                )


if __name__ == "__main__":
    main()
