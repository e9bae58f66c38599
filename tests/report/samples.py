"""Realistic report JSON, in the shapes the services' ``to_json()`` produce, for the renderers.

Numbers follow the national picture (26 networks, 1.4 M EVSEs, 2,738 of the 2,848 counties); the
uncovered counties are real units of the shipped table (mostly on the Qinghai-Tibet plateau and
in southern Xinjiang), so the map has real shapes to colour.
"""

from __future__ import annotations

import random
from typing import Any, Final

from chargemesh.geo.counties import county_table

#: (id, name, EVSEs, DC share, supercharger share, plug-and-charge share)
OPERATORS: Final = (
    ("MA1QQC017", "青穹充电 Qingqiong Charging", 249000, 0.72, 0.07, 0.16),
    ("MA2YLN028", "远岚能源 Yuanlan Energy", 219300, 0.62, 0.055, 0.14),
    ("MA3YLK039", "驿联快充 Yilian Fast Charge", 209300, 0.7, 0.06, 0.13),
    ("MA4JDH041", "聚点充 Judian Charging Hub", 98900, 0.76, 0.06, 0.0),
    ("MA5CCD052", "澄川电能 Chengchuan Power", 88800, 0.74, 0.08, 0.16),
    ("MA6HYD063", "华垣电力服务 Huayuan Power Services", 73700, 0.82, 0.05, 0.0),
    ("MA7SLC074", "松岭充电 Songling Charging", 57700, 0.66, 0.04, 0.1),
    ("MA8PYD085", "鹏驿电站 Pengyi E-Station", 44400, 0.76, 0.12, 0.22),
    ("CN-TLN", "汀兰充电 Tinglan Charging", 40500, 0.68, 0.07, 0.12),
    ("MA0NYD106", "南屿电力 Nanyu Power", 38000, 0.74, 0.05, 0.0),
    ("MA1CXC117", "晨溪充电 Chenxi Charging", 34400, 0.6, 0.03, 0.06),
    ("MA2DZN128", "岱宗能源 Daizong Energy", 29600, 0.66, 0.04, 0.0),
    ("CN-YZN", "雁阵充电 Yanzhen Charging", 25000, 0.72, 0.1, 0.16),
    ("MA4CXN149", "潮汐能源 Chaoxi Energy", 24300, 0.66, 0.05, 0.1),
    ("MA5SLC150", "杉林充电 Shanlin Charging", 23100, 0.58, 0.02, 0.0),
    ("CN-BCN", "北辰电能 Beichen Power", 21100, 0.7, 0.06, 0.1),
    ("MA7XLC172", "西岭充电 Xiling Charging", 19100, 0.62, 0.03, 0.0),
    ("MA8CTK183", "楚天快充 Chutian Fast Charge", 17000, 0.7, 0.05, 0.08),
    ("MA9SDD194", "蜀道电驿 Shudao E-Station", 15000, 0.72, 0.05, 0.0),
    ("MA0QCC205", "秦川充电 Qinchuan Charging", 13200, 0.68, 0.04, 0.0),
    ("MA1MJD216", "闽江电能 Minjiang Power", 11500, 0.66, 0.05, 0.1),
    ("MA2LYC227", "辽原充电 Liaoyuan Charging", 9700, 0.6, 0.02, 0.0),
    ("MA3DHC238", "滇虹充电 Dianhong Charging", 8400, 0.64, 0.03, 0.0),
    ("MA9YCQ901", "曜川汽车补能 Yaochuan Motors Energy", 14000, 0.86, 0.42, 0.0),
    ("CN-LHA", "翎航汽车超充 Linghang Motors Supercharging", 9000, 0.94, 0.55, 1.0),
    ("CN-LTA", "朗拓汽车超充 Langtuo Motors Supercharging", 6000, 0.96, 0.7, 0.0),
)

GENERATED_AT: Final = "2026-11-30T15:03:12+00:00"
UNCOVERED_COUNT: Final = 110


def _uncovered() -> list[dict[str, str]]:
    """110 real units: the plateau and the desert first, then a few scattered elsewhere."""
    table = county_table()
    remote = [c for c in table if c.province_adcode in ("540000", "630000", "650000")]
    rng = random.Random(8)
    chosen = rng.sample(remote, 96)
    others = [c for c in table if c.province_adcode in ("510000", "150000", "620000", "530000")]
    chosen += rng.sample(others, UNCOVERED_COUNT - len(chosen))
    chosen.sort(key=lambda c: c.adcode)
    return [{"adcode": c.adcode, "name": c.name, "province": c.province} for c in chosen]


def coverage() -> dict[str, Any]:
    table = county_table()
    uncovered = _uncovered()
    missing = {c["adcode"] for c in uncovered}
    by_province: dict[str, dict[str, Any]] = {}
    for c in table:
        p = by_province.setdefault(
            c.province_adcode,
            {"adcode": c.province_adcode, "name": c.province, "total": 0, "covered": 0},
        )
        p["total"] += 1
        p["covered"] += c.adcode not in missing
    operators = []
    for i, (op_id, name, evses, dc, sup, pnc) in enumerate(OPERATORS):
        supercharger = round(evses * sup)
        dc_fast = round(evses * dc) - supercharger
        operators.append(
            {
                "id": op_id,
                "name": name,
                "stations": round(evses / (7.5 - i * 0.1)),
                "evses": evses,
                "connectors": round(evses * 1.08),
                "supercharger": supercharger,
                "dc_fast": dc_fast,
                "ac": evses - supercharger - dc_fast,
                "plug_and_charge": round(evses * pnc),
            }
        )
    total = {k: sum(o[k] for o in operators) for k in ("stations", "evses", "connectors")}
    classes = {k: sum(o[k] for o in operators) for k in ("supercharger", "dc_fast", "ac")}
    pnc_total = sum(o["plug_and_charge"] for o in operators)
    covered = len(table) - len(uncovered)
    timeline = []
    steps = (
        ("2025-04-01T00:00:00+00:00", 18, 0.90, 2691, 6120),
        ("2025-06-01T00:00:00+00:00", 19, 0.93, 2702, 6310),
        ("2025-08-01T00:00:00+00:00", 21, 0.95, 2715, 6540),
        ("2025-10-01T00:00:00+00:00", 23, 0.97, 2726, 6700),
        ("2026-02-01T00:00:00+00:00", 24, 0.985, 2731, 6790),
        ("2026-07-01T00:00:00+00:00", 25, 0.993, 2735, 6830),
        (GENERATED_AT, 26, 1.0, covered, 6856),
    )
    for at, ops, f, counties, areas in steps:
        timeline.append(
            {
                "at": at,
                "operators": ops,
                "stations": round(total["stations"] * f),
                "evses": round(total["evses"] * f),
                "connectors": round(total["connectors"] * f),
                "counties": counties,
                "highway_service_areas": areas,
            }
        )
    return {
        "generated_at": GENERATED_AT,
        "thresholds": {"supercharger_kw": 250.0, "rapid_kw": 50.0},
        "totals": {
            "operators": len(operators),
            **total,
            "plug_and_charge_evses": pnc_total,
        },
        "power_classes": classes,
        "access_methods": {
            "scan": total["evses"] - 3600,
            "app_start": round(total["evses"] * 0.94),
            "plug_and_charge": pnc_total,
            "rfid": 212_400,
            "view_only": 3600,
        },
        "operators": operators,
        "counties": {
            "total": len(table),
            "covered": covered,
            "share": covered / len(table),
            "by_province": list(by_province.values()),
            "uncovered": uncovered,
        },
        "highway": {"service_areas": 6856},
        "timeline": timeline,
    }


DIMENSION_VALUES: Final = {
    "vehicle_model": ("Xiaomi SU7", "Xiaomi SU7 Ultra", "Xiaomi YU7"),
    "charger_manufacturer": ("Huaxin Power", "Tonghe", "Infypower", "Winline", "Sinexcel"),
    "charger_model": ("HX-120", "HX-240", "TH-160", "IP-480L", "WL-60", "SX-600LC"),
    "firmware": ("2.4.1", "2.5.0", "3.0.2", "1.9.8", "4.1.0"),
    "operator_id": ("MA1QQC017", "MA2YLN028", "MA3YLK039", "MA4JDH041", "CN-TLN", "CN-LTA"),
    "connector_standard": ("gbt_dc", "chaoji", "gbt_ac"),
}
REASONS: Final = (
    "insulation check failed",
    "BMS handshake timeout (BHM)",
    "charger did not answer start",
    "vehicle aborted: CC1 voltage out of range",
    "session stopped: over-temperature",
)
#: slices the lab found bad: (dimension, value, rate)
BAD: Final = (
    ("firmware", "1.9.8", 0.93),
    ("charger_model", "WL-60", 0.955),
    ("operator_id", "CN-LTA", 0.968),
)


def _wilson(successes: int, attempts: int, z: float = 1.959964) -> tuple[float, float]:
    if attempts == 0:
        return 0.0, 1.0
    p = successes / attempts
    denominator = 1 + z * z / attempts
    centre = (p + z * z / (2 * attempts)) / denominator
    half = z * ((p * (1 - p) / attempts + z * z / (4 * attempts * attempts)) ** 0.5) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _slice(
    key: dict[str, str | None], attempts: int, rate: float, rng: random.Random
) -> dict[str, Any]:
    successes = min(attempts, round(attempts * rate))
    low, high = _wilson(successes, attempts)
    failures = attempts - successes
    reasons: dict[str, int] = {}
    for _ in range(failures):
        reason = rng.choice(REASONS[: 2 + failures % 3])
        reasons[reason] = reasons.get(reason, 0) + 1
    flagged = attempts >= 30 and high < 0.99
    return {
        "key": key,
        "attempts": attempts,
        "successes": successes,
        "rate": successes / attempts if attempts else 0.0,
        "low": low,
        "high": high,
        "flagged": flagged,
        "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
    }


def compatibility() -> dict[str, Any]:
    rng = random.Random(99)
    combination = ("vehicle_model", "charger_manufacturer", "charger_model", "firmware")
    bad = {(d, v): r for d, v, r in BAD}
    dimensions: dict[str, list[dict[str, Any]]] = {}
    for dim, values in DIMENSION_VALUES.items():
        slices = []
        for value in values:
            attempts = rng.randint(1800, 16000)
            rate = bad.get((dim, value), 0.9935 + rng.random() * 0.0055)
            slices.append(_slice({dim: value}, attempts, rate, rng))
        dimensions[dim] = sorted(slices, key=lambda s: s["rate"])
    combos = [
        (("Xiaomi SU7", "Winline", "WL-60", "1.9.8"), 412, 0.90),
        (("Xiaomi YU7", "Tonghe", "TH-160", "1.9.8"), 655, 0.94),
        (("Xiaomi SU7", "Winline", "WL-60", "2.4.1"), 1480, 0.962),
        (("Xiaomi SU7 Ultra", "Sinexcel", "SX-600LC", "4.1.0"), 23, 0.87),
        (("Xiaomi SU7", "Huaxin Power", "HX-240", "2.5.0"), 3900, 0.9962),
        (("Xiaomi YU7", "Infypower", "IP-480L", "3.0.2"), 2710, 0.997),
        (("Xiaomi YU7", None, "HX-120", "2.4.1"), 95, 0.99),
    ]
    slices = [
        _slice(dict(zip(combination, key, strict=True)), attempts, rate, rng)
        for key, attempts, rate in combos
    ]
    dimensions["vehicle_model"].append(_slice({"vehicle_model": None}, 12, 1.0, rng))
    slices.sort(key=lambda s: (not s["flagged"], s["rate"], -s["attempts"]))
    flagged = [s for s in slices if s["flagged"]]
    attempts = 72_418
    successes = 71_802
    low, high = _wilson(successes, attempts)
    return {
        "target": 0.99,
        "min_samples": 30,
        "confidence": 0.95,
        "overall": {
            "attempts": attempts,
            "successes": successes,
            "rate": successes / attempts,
            "low": low,
            "high": high,
        },
        "dimensions": dimensions,
        "slices": slices,
        "flagged": flagged,
    }


def reliability() -> dict[str, Any]:
    """A year of status history over 60 connectors of 8 networks (only some listed one by one,
    as ``connector_detail="below_threshold"`` would, plus a few more)."""
    rng = random.Random(12)
    months = [f"2026-{m:02d}" for m in range(1, 13)]
    year = 525_600.0
    connectors = []
    for i in range(60):
        op_id = OPERATORS[i % 8][0]
        outage = float(rng.choice((0, 0, 0, 12, 45, 180, 600, 2400, 9000, 21000)))
        excluded = float(min(outage, rng.choice((0, 0, 30, 240))))
        uptime = (year - (outage - excluded)) / year * 100
        weights = [rng.random() for _ in months]
        per_month = []
        for month, weight in zip(months, weights, strict=True):
            share = weight / sum(weights)
            observed = 43_800.0
            per_month.append(
                {
                    "month": month,
                    "uptime": round((observed - (outage - excluded) * share) / observed * 100, 4),
                    "outage_min": round(outage * share, 3),
                    "excluded_min": round(excluded * share, 3),
                    "observed_min": observed,
                }
            )
        connectors.append(
            {
                "connector_id": f"{op_id}:S{i:04d}:E1:C1",
                "operator_id": op_id,
                "station_id": f"{op_id}:S{i:04d}",
                "uptime": round(uptime, 4),
                "outage_min": outage,
                "excluded_min": excluded,
                "observed_min": year,
                "meets_threshold": uptime > 97.0,
                "months": per_month,
            }
        )

    def pooled(key_name: str, key: str, group: list[dict[str, Any]]) -> dict[str, Any]:
        outage = sum(c["outage_min"] for c in group)
        excluded = sum(c["excluded_min"] for c in group)
        observed = sum(c["observed_min"] for c in group)
        return {
            key_name: key,
            "connectors": len(group),
            "below_threshold": sum(not c["meets_threshold"] for c in group),
            "uptime": round((observed - (outage - excluded)) / observed * 100, 4),
            "outage_min": outage,
            "excluded_min": excluded,
            "observed_min": observed,
        }

    by_month = [
        pooled(
            "month",
            m,
            [
                {**c["months"][i], "meets_threshold": c["months"][i]["uptime"] > 97}
                for c in connectors
            ],
        )
        for i, m in enumerate(months)
    ]
    by_operator = [
        pooled("operator_id", op, [c for c in connectors if c["operator_id"] == op])
        for op in sorted({c["operator_id"] for c in connectors})
    ]
    uk = []
    for op_id, *_ in OPERATORS[:12]:
        total = float(rng.randint(4_000_000, 40_000_000))
        ineligible = round(total * rng.random() * 0.01, 3)
        reliability = 100 - rng.choice((0.2, 0.4, 0.6, 0.8, 1.3, 2.1))
        unreliable = round((total - ineligible) * (100 - reliability) / 100, 3)
        reliable = total - ineligible - unreliable
        uk.append(
            {
                "operator_id": op_id,
                "connectors": rng.randint(40, 900),
                "reliability": round(reliability, 4),
                "reliable_min": reliable,
                "unreliable_min": unreliable,
                "ineligible_min": ineligible,
                "meets_target": reliability >= 99.0,
                "reliability_statutory": round((reliable + ineligible) / total * 100, 4),
                "meets_target_statutory": (reliable + ineligible) / total >= 0.99,
            }
        )
    ftcsr_ops = []
    for op_id, *_ in OPERATORS[:10]:
        visits = rng.randint(800, 9000)
        first = round(visits * (0.78 + rng.random() * 0.17))
        succeeded = min(visits, first + round(visits * 0.06))
        ftcsr_ops.append(
            {
                "operator_id": op_id,
                "visits": visits,
                "attempts": visits + (visits - first) * 2,
                "first_time_successes": first,
                "visit_successes": succeeded,
                "ftcsr": round(first / visits * 100, 4),
                "visit_success_rate": round(succeeded / visits * 100, 4),
            }
        )
    visits = sum(o["visits"] for o in ftcsr_ops)
    first = sum(o["first_time_successes"] for o in ftcsr_ops)
    succeeded = sum(o["visit_successes"] for o in ftcsr_ops)
    listed = [c for c in connectors if not c["meets_threshold"]] + connectors[:12]
    return {
        "period": {
            "start": "2026-01-01T00:00:00+00:00",
            "end": "2027-01-01T00:00:00+00:00",
            "observed_until": "2027-01-01T00:00:00+00:00",
            "observed_from": "2026-01-01T00:00:00+00:00",
        },
        "nevi": {
            "threshold": 97.0,
            "timezone": "UTC+08:00",
            "below_threshold": sum(not c["meets_threshold"] for c in connectors),
            "network": pooled("scope", "all", connectors),
            "months": by_month,
            "operators": by_operator,
            "connectors": sorted(listed, key=lambda c: c["connector_id"]),
        },
        "uk": {
            "min_kw": 50.0,
            "target": 99.0,
            "operators": uk,
            "meeting_target": sum(o["meets_target"] for o in uk),
        },
        "ftcsr": {
            "visit_gap_min": 30.0,
            "overall": {
                "visits": visits,
                "attempts": sum(o["attempts"] for o in ftcsr_ops),
                "first_time_successes": first,
                "visit_successes": succeeded,
                "ftcsr": round(first / visits * 100, 4),
                "visit_success_rate": round(succeeded / visits * 100, 4),
            },
            "operators": ftcsr_ops,
        },
    }
