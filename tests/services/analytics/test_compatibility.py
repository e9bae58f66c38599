"""The compatibility lab: Wilson intervals against hand-worked values, a simulated 70,000-charge
campaign imported through CSV (the simulator's bad slices flagged, the healthy ones not), bad
campaign files refused whole, and the flags fed back into nearby search."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from chargemesh.services.analytics.compatibility import (
    CampaignError,
    compatibility_report,
    import_campaign,
    read_campaign,
    wilson,
    z_for,
)
from chargemesh.sim.campaign import FIELDS, lab_campaign
from chargemesh.sim.charging import CompatibilityMatrix
from chargemesh.store import Store


def as_csv(rows: list[dict[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_wilson_intervals_match_hand_worked_values() -> None:
    # 95 of 100: p = 0.95, z = 1.96 → centre (0.95 + 0.019208)/1.038415 = 0.933346,
    # half 1.96·sqrt(0.0475/100 + 0.000096)/1.038415 = 0.045111 → [0.888, 0.978]
    low, high = wilson(95, 100)
    assert low == pytest.approx(0.8883, abs=1e-4)
    assert high == pytest.approx(0.9785, abs=1e-4)
    # 100 of 100 still leaves room below: [0.963, 1]
    assert wilson(100, 100) == pytest.approx((0.96301, 1.0), abs=1e-5)
    assert wilson(0, 0) == (0.0, 1.0)
    assert z_for(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_for(0.99) == pytest.approx(2.575829, abs=1e-6)


@pytest.fixture(scope="module")
def campaign() -> tuple[CompatibilityMatrix, str]:
    matrix = CompatibilityMatrix.generate(7)
    return matrix, as_csv(lab_campaign(matrix, tests=70_000, seed=7))


def test_the_simulators_bad_slices_are_flagged_and_the_healthy_ones_are_not(
    store: Store, campaign: tuple[CompatibilityMatrix, str]
) -> None:
    matrix, text = campaign
    assert import_campaign(store, read_campaign(text, "lab-2026-06")) == 70_000
    report = compatibility_report(store)
    flagged = {
        (s.key["vehicle_model"], s.key["charger_manufacturer"], s.key["charger_model"],
         s.key["firmware"])
        for s in report.flagged
    }  # fmt: skip
    assert flagged == {b.key() for b in matrix.bad_slices}
    for s in report.flagged:
        bad = matrix.bad_slice(*(str(v) for v in s.key.values()))
        assert bad is not None
        assert next(iter(s.reasons)) == str(bad.reason)  # the commonest reason is the slice's
        assert s.high < 0.99
    healthy = [s for s in report.slices if not s.flagged and s.attempts >= 30]
    assert len(healthy) > 300
    overall = report.overall
    assert overall.attempts == 70_000
    assert 0.9 < overall.low < overall.rate < overall.high < 1
    data = report.to_json()
    assert len(data["flagged"]) == len(matrix.bad_slices)
    assert {s["key"]["vehicle_model"] for s in data["dimensions"]["vehicle_model"]} >= {
        b.vehicle_model for b in matrix.bad_slices
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("operator_id,vehicle_model\nX,Y\n", "the header lacks"),
        (as_csv([]), "no rows"),
        (as_csv([{"operator_id": "X", "vehicle_model": "v", "charger_manufacturer": "m",
                  "charger_model": "c", "outcome": "maybe"}]), "row 2: outcome"),
        (as_csv([{"operator_id": "X", "vehicle_model": "v", "charger_manufacturer": "m",
                  "charger_model": "c", "outcome": "success", "at": "2026-06-01T09:00"}]),
         "row 2: at needs a time zone"),
        (as_csv([{"operator_id": "X", "vehicle_model": "v", "charger_manufacturer": "m",
                  "charger_model": "c", "outcome": "success"},
                 {"operator_id": "", "vehicle_model": "v", "charger_manufacturer": "m",
                  "charger_model": "c", "outcome": "success"}]), "row 3: operator_id is empty"),
    ],
)  # fmt: skip
def test_a_bad_campaign_is_refused_whole_naming_the_row(
    store: Store, text: str, message: str
) -> None:
    with pytest.raises(CampaignError, match=message):
        import_campaign(store, read_campaign(text, "bad"))
    assert store.list_attempts() == []


def test_a_json_campaign_reads_like_a_csv_one() -> None:
    row = {"at": datetime(2026, 6, 1, tzinfo=UTC).isoformat(), "operator_id": "X",
           "vehicle_model": "v", "charger_manufacturer": "m", "charger_model": "c",
           "firmware": "1", "outcome": "failure", "failure_reason": "precharge_failed"}  # fmt: skip
    rows = [row]

    [attempt] = read_campaign(json.dumps(rows), "lab", fmt="json")
    assert (attempt.outcome, attempt.failure_reason, attempt.source) == (
        "failure", "precharge_failed", "lab"
    )  # fmt: skip
    with pytest.raises(CampaignError, match="list of objects"):
        read_campaign('{"a": 1}', "lab", fmt="json")
