"""Coverage: how much of the country the integrated networks cover, computed from the registry.

* **Chargers**: EVSEs (piles) and connectors (guns) of physical stations — every live station
  once, a duplicate merged into another left out — per operator, power class and access method.
* **Power classes** (EVSE-level, thresholds configurable): ``supercharger`` DC ≥ 250 kW (default;
  the "high-power superchargers" of published figures), ``dc_fast`` other DC, ``ac``. ``rapid``
  (≥ 50 kW, the UK reliability rule's threshold) is reported beside them.
* **Counties**: county-level units with at least one station, out of the shipped GB/T 2260 table
  (``geo/data/counties.csv``), per province, and the list of those without. A station's county
  is its ``county_adcode`` (the operator's AreaCode or our point lookup); a code the table only
  knows as a former code is counted as its current unit.
* **Highway service areas**: stations flagged as in one (T/CEC ``Construction`` 11, OCPI
  ``ALONG_MOTORWAY``).
* **Over time**: a snapshot is saved after each sync (:func:`snapshot`); the timeline is read
  back from them.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chargemesh.geo.counties import county_table
from chargemesh.store import Store
from chargemesh.store.repository import CoverageSnapshot

SUPERCHARGER_KW = 250.0
RAPID_KW = 50.0
METHODS = ("scan", "app_start", "plug_and_charge", "rfid", "view_only")


@dataclass(frozen=True, slots=True)
class CoverageReport:
    generated_at: datetime
    supercharger_kw: float
    rapid_kw: float
    operators: list[dict[str, Any]]
    power_classes: dict[str, int]
    access_methods: dict[str, int]
    stations: int
    evses: int
    connectors: int
    plug_and_charge_evses: int
    counties_total: int
    counties_covered: list[str]
    by_province: list[dict[str, Any]]
    uncovered: list[dict[str, str]]
    highway_service_areas: int
    timeline: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def operators_with_chargers(self) -> int:
        return sum(1 for o in self.operators if o["evses"] > 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at.isoformat(),
            "thresholds": {"supercharger_kw": self.supercharger_kw, "rapid_kw": self.rapid_kw},
            "totals": {
                "operators": self.operators_with_chargers,
                "stations": self.stations,
                "evses": self.evses,
                "connectors": self.connectors,
                "plug_and_charge_evses": self.plug_and_charge_evses,
            },
            "power_classes": dict(self.power_classes),
            "access_methods": dict(self.access_methods),
            "operators": self.operators,
            "counties": {
                "total": self.counties_total,
                "covered": len(self.counties_covered),
                "share": round(len(self.counties_covered) / self.counties_total, 4)
                if self.counties_total
                else 0.0,
                "by_province": self.by_province,
                "uncovered": self.uncovered,
                "covered_adcodes": self.counties_covered,
            },
            "highway": {"service_areas": self.highway_service_areas},
            "timeline": self.timeline,
            "seconds": round(self.seconds, 3),
        }


def _current_codes() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """adcode (current or former) → current adcode; current adcode → its row."""
    table = county_table()
    rows: dict[str, dict[str, str]] = {}
    alias: dict[str, str] = {}
    for c in table:
        rows[c.adcode] = {"adcode": c.adcode, "name": c.name, "province": c.province,
                          "province_adcode": c.province_adcode}  # fmt: skip
        alias[c.adcode] = c.adcode
        if c.former_adcode:
            alias.setdefault(c.former_adcode, c.adcode)
    return alias, rows


def coverage_report(
    store: Store,
    *,
    supercharger_kw: float = SUPERCHARGER_KW,
    rapid_kw: float = RAPID_KW,
    timeline: bool = True,
) -> CoverageReport:
    started = time.perf_counter()
    names = {o.id: o.name for o in store.list_operators()}
    per_op: dict[str, Counter[str]] = {}
    classes: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    for op, cls, flags, n in store.coverage_evses(supercharger_kw):
        c = per_op.setdefault(op, Counter())
        c["evses"] += n
        c[cls] += n
        classes[cls] += n
        for name, on in zip(METHODS, flags, strict=True):
            if on:
                methods[name] += n
                c[name] += n
    for op, n in store.coverage_connectors().items():
        per_op.setdefault(op, Counter())["connectors"] += n
    alias, rows = _current_codes()
    covered: set[str] = set()
    highway = 0
    for op, county, on_highway, n in store.coverage_stations():
        per_op.setdefault(op, Counter())["stations"] += n
        if on_highway:
            highway += n
            per_op[op]["highway_service_areas"] += n
        if county is not None and county in alias:
            covered.add(alias[county])
    operators = [
        {
            "id": op,
            "name": names.get(op, op),
            "stations": c["stations"],
            "evses": c["evses"],
            "connectors": c["connectors"],
            "supercharger": c["supercharger"],
            "dc_fast": c["dc_fast"],
            "ac": c["ac"],
            "plug_and_charge": c["plug_and_charge"],
            "highway_service_areas": c["highway_service_areas"],
        }
        for op, c in sorted(per_op.items(), key=lambda kv: (-kv[1]["evses"], kv[0]))
    ]
    provinces: dict[str, dict[str, Any]] = {}
    for code, row in rows.items():
        p = provinces.setdefault(
            row["province_adcode"],
            {"adcode": row["province_adcode"], "name": row["province"], "total": 0, "covered": 0},
        )
        p["total"] += 1
        p["covered"] += code in covered
    uncovered = [
        {"adcode": code, "name": row["name"], "province": row["province"]}
        for code, row in sorted(rows.items())
        if code not in covered
    ]
    points = [_point(s) for s in store.coverage_snapshots()] if timeline else []
    return CoverageReport(
        generated_at=datetime.now(UTC),
        supercharger_kw=supercharger_kw,
        rapid_kw=rapid_kw,
        operators=operators,
        power_classes={k: classes[k] for k in ("supercharger", "dc_fast", "ac")},
        access_methods={k: methods[k] for k in METHODS},
        stations=sum(c["stations"] for c in per_op.values()),
        evses=sum(c["evses"] for c in per_op.values()),
        connectors=sum(c["connectors"] for c in per_op.values()),
        plug_and_charge_evses=methods["plug_and_charge"],
        counties_total=len(rows),
        counties_covered=sorted(covered),
        by_province=sorted(provinces.values(), key=lambda p: str(p["adcode"])),
        uncovered=uncovered,
        highway_service_areas=highway,
        timeline=points,
        seconds=time.perf_counter() - started,
    )


def _point(s: CoverageSnapshot) -> dict[str, Any]:
    return {
        "at": s.at.isoformat(),
        "operators": s.operators,
        "stations": s.stations,
        "evses": s.evses,
        "connectors": s.connectors,
        "counties": s.counties,
        "highway_service_areas": s.highway_service_areas,
        **{k: s.detail.get(k, 0) for k in ("supercharger", "dc_fast", "ac", "plug_and_charge")},
    }


def snapshot(store: Store, at: datetime | None = None) -> CoverageSnapshot:
    """Save the coverage now as a point of the timeline (after each sync)."""
    report = coverage_report(store, timeline=False)
    taken = CoverageSnapshot(
        at=at or report.generated_at,
        operators=report.operators_with_chargers,
        stations=report.stations,
        evses=report.evses,
        connectors=report.connectors,
        counties=len(report.counties_covered),
        highway_service_areas=report.highway_service_areas,
        detail={**report.power_classes, "plug_and_charge": report.plug_and_charge_evses},
    )
    store.save_coverage_snapshot(taken)
    return taken
