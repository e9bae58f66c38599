"""A small real registry for the report tests: three networks with stations in 700 counties
spread over every province (two timeline snapshots), and a test campaign in which one firmware
fails on one vehicle."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import timedelta
from typing import Final

from chargemesh.geo.counties import county_table
from chargemesh.services.analytics.compatibility import read_campaign
from chargemesh.services.analytics.coverage import snapshot
from chargemesh.store import Store
from tests.factories import T0, make_operator, make_station

OPERATORS: Final = (
    ("MA1QQC017", "青穹充电 Qingqiong Charging"),
    ("MA2YLN028", "远岚能源 Yuanlan Energy"),
    ("CN-TLN", "汀兰充电 <Tinglan> & Co."),  # markup in a name: the renderers must escape it
)
#: Every n-th county of the table gets a station.
EVERY: Final = 4
#: The bad pairing the campaign has: (vehicle, charger model, firmware).
BAD: Final = ("Xiaomi SU7", "WL-60", "1.9.8")


def covered_adcodes() -> list[str]:
    return [c.adcode for i, c in enumerate(county_table()) if i % EVERY == 0]


def fill(store: Store) -> None:
    """Operators, stations (one per covered county, a tenth on highways), two snapshots."""
    for op_id, name in OPERATORS:
        store.upsert_operator(make_operator(op_id, name))
    counties = [c for i, c in enumerate(county_table()) if i % EVERY == 0]
    stations = []
    for i, county in enumerate(counties):
        op_id = OPERATORS[i % len(OPERATORS)][0]
        station = make_station(op_id, f"S{i:04d}", evses=1 + i % 3, lon=county.lon, lat=county.lat)
        stations.append(
            dataclasses.replace(
                station, county_adcode=county.adcode, highway_service_area=i % 10 == 0
            )
        )
    half = len(stations) // 2
    store.upsert_stations(stations[:half], at=T0)
    snapshot(store, at=T0)
    store.upsert_stations(stations[half:], at=T0 + timedelta(days=30))
    snapshot(store, at=T0 + timedelta(days=30))


def campaign_csv() -> str:
    """One row per test charge: every pairing succeeds except ``BAD`` (about 1 in 7 fails)."""
    out = io.StringIO()
    fields = ("at", "operator_id", "vehicle_model", "charger_manufacturer", "charger_model",
              "firmware", "connector_standard", "outcome", "failure_reason")  # fmt: skip
    writer = csv.writer(out)
    writer.writerow(fields)
    vehicles = ("Xiaomi SU7", "Xiaomi YU7")
    chargers = (("Winline", "WL-60"), ("Huaxin Power", "HX-120"), ("Tonghe", "TH-160"))
    n = 0
    for vehicle in vehicles:
        for maker, model in chargers:
            for firmware in ("1.9.8", "2.4.1"):
                for k in range(120):
                    n += 1
                    bad = (vehicle, model, firmware) == BAD and k % 7 == 0
                    writer.writerow(
                        [
                            (T0 + timedelta(minutes=n)).isoformat(),
                            OPERATORS[n % len(OPERATORS)][0],
                            vehicle, maker, model, firmware, "gbt_dc",
                            "failure" if bad else "success",
                            "BMS handshake timeout (BHM)" if bad else "",
                        ]
                    )  # fmt: skip
    return out.getvalue()


def fill_campaign(store: Store) -> None:
    store.add_attempts(read_campaign(campaign_csv(), "lab-2026-11"))
