"""A simulated test campaign: the compatibility lab's test charges, one row per charge, with
outcomes drawn from the simulator's compatibility matrix — the CSV the platform imports.

Like a real lab, it spends part of its budget (``focus_share``) retesting combinations already
suspected (the matrix's bad slices) and the rest on a broad sweep of vehicle models × chargers
(popular charger models more often). Deterministic for a seed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chargemesh.sim.charging import (
    VEHICLE_MODELS,
    ChargerRef,
    CompatibilityMatrix,
    _default_chargers,
    _unit,
    make_vehicle,
    vehicle_model,
)
from chargemesh.sim.operators import ROSTER

FIELDS = (
    "at", "operator_id", "vehicle_model", "charger_manufacturer", "charger_model", "firmware",
    "connector_standard", "start_method", "outcome", "failure_reason",
)  # fmt: skip
START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def lab_campaign(
    matrix: CompatibilityMatrix,
    *,
    tests: int = 70_000,
    focus_share: float = 0.15,
    seed: int = 0,
    chargers: Sequence[ChargerRef] | None = None,
) -> list[dict[str, Any]]:
    pool = list(chargers) if chargers is not None else _default_chargers()
    focus = list(matrix.bad_slices)
    rows = []
    for i in range(tests):
        u = _unit("campaign", seed, i)
        if focus and i < tests * focus_share:
            bad = focus[i % len(focus)]
            model = vehicle_model(bad.vehicle_model)
            charger = next(
                (c for c in pool if (c.manufacturer, c.model, c.firmware)
                 == (bad.manufacturer, bad.model, bad.firmware)),
                ChargerRef(bad.manufacturer, bad.model, bad.firmware),
            )  # fmt: skip
        else:
            model = VEHICLE_MODELS[int(u * len(VEHICLE_MODELS))]
            charger = pool[int(_unit("charger", seed, i) * len(pool))]
        vehicle = make_vehicle(seed, i, model=model.id)
        failure = matrix.outcome(
            vehicle, charger.manufacturer, charger.model, charger.firmware, f"lab/{seed}/{i}",
            dc=charger.dc,
        )  # fmt: skip
        operator = ROSTER[int(_unit("site", seed, charger.model, i % 7) * len(ROSTER))]
        rows.append(
            {
                "at": (START + timedelta(minutes=7 * i)).isoformat(),
                "operator_id": operator.id,
                "vehicle_model": model.id,
                "charger_manufacturer": charger.manufacturer,
                "charger_model": charger.model,
                "firmware": charger.firmware,
                "connector_standard": "gbt_dc" if charger.dc else "gbt_ac",
                "start_method": "qr_scan",
                "outcome": "failure" if failure else "success",
                "failure_reason": str(failure) if failure else "",
            }
        )
    return rows


def write_campaign(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path
