"""The reports as Rich tables: headline figures first, then the detail; lenient on input."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rich.console import Console

from chargemesh.report import KINDS
from chargemesh.report.common import headline, slice_label, to_json_text
from chargemesh.report.tables import UNCOVERED_LISTED, print_report
from tests.report import samples


def render(kind: str, data: Any, names: dict[str, str] | None = None, width: int = 220) -> str:
    console = Console(record=True, width=width, color_system=None)
    print_report(console, kind, data, names)
    return console.export_text()


def test_coverage_starts_with_the_headline_figures() -> None:
    text = render("coverage", samples.coverage())
    first = text.splitlines()[0]
    assert first == (
        "26 operators · 1,400,000 EVSEs · 2,738 of 2,848 counties (96.1 %) · "
        "6,856 highway service areas"
    )
    assert "154,471 plug-and-charge EVSEs (11.0 %)" in text.splitlines()[1]
    titles = ["Operators", "Power classes", "Access methods", "Counties by province",
              "Counties not covered (110)", "Over time"]  # fmt: skip
    positions = [text.index(t) for t in titles]
    assert positions == sorted(positions)
    assert "青穹充电 Qingqiong Charging" in text
    assert "249,000" in text
    assert "西藏自治区" in text
    assert "55.4 %" in text  # 41 of 74 Tibetan units


def test_coverage_lists_the_first_uncovered_counties_and_counts_the_rest() -> None:
    data = samples.coverage()
    uncovered = data["counties"]["uncovered"]
    text = render("coverage", data)
    listed = text[text.index("Counties not covered") :]
    assert all(c["adcode"] in listed for c in uncovered[:UNCOVERED_LISTED])
    assert not any(c["adcode"] in listed for c in uncovered[UNCOVERED_LISTED:])
    assert f"… and {len(uncovered) - UNCOVERED_LISTED} more" in listed


def test_compatibility_shows_the_interval_and_the_flagged_slices_with_reasons() -> None:
    data = samples.compatibility()
    text = render("compatibility", data)
    assert text.splitlines()[0].startswith(
        "99.15 % of 72,418 charge attempts succeeded (95 % interval 99.08 % – 99.21 %)"
    )
    assert f"{len(data['flagged'])} slices flagged" in text.splitlines()[0]
    flagged = text[text.index("Flagged slices") : text.index("Vehicle model: lowest rates")]
    assert "Firmware: 1.9.8" in flagged
    assert "90.05 %" in flagged
    assert "BMS handshake timeout (BHM)" in flagged
    assert "SX-600LC" not in flagged  # 87 % but only 23 attempts: never flagged
    for label in ("Vehicle model", "Charger maker", "Charger model", "Firmware", "Operator",
                  "Connector"):  # fmt: skip
        assert f"{label}: lowest rates" in text


def test_compatibility_with_nothing_flagged_says_so() -> None:
    data = samples.compatibility()
    data["flagged"] = []
    assert "No slice is significantly below the target." in render("compatibility", data)


def test_reliability_summarises_nevi_uk_and_ftcsr() -> None:
    data = samples.reliability()
    text = render("reliability", data, {"MA7SLC074": "松岭充电 Songling Charging"})
    first = text.splitlines()[0]
    assert first.startswith("NEVI: 3 of 60 connectors at or below 97 % uptime (network 99.46 %)")
    assert "UK: 9 of 12 operators meet 99 %" in first
    assert "松岭充电 Songling Charging (MA7SLC074)" in text
    worst = text[text.index("Lowest NEVI uptime") :]
    assert "MA2YLN028:S0017:E1:C1" in worst
    assert "96.01 %" in worst
    uk = text[text.index("UK reliability") :]
    assert uk.count("misses") == 3
    assert "First-time charge success" in text
    assert "84.6 %" in text[text.index("First-time charge success") :]


def test_data_prints_as_it_is_never_as_markup() -> None:
    data = samples.coverage()
    data["operators"][0]["name"] = "[bold red]Evil[/] <b>Co</b>"
    text = render("coverage", data)
    assert "[bold red]Evil[/] <b>Co</b>" in text


@pytest.mark.parametrize("kind", KINDS)
def test_missing_and_unexpected_keys_are_tolerated(kind: str) -> None:
    assert render(kind, {})
    full = getattr(samples, kind)()
    assert render(kind, {**full, "unexpected": {"x": [1, 2]}})
    broken = copy.deepcopy(full)
    for value in broken.values():
        if isinstance(value, dict):
            value.clear()  # every section empty
    assert render(kind, broken)


def test_headline_and_slice_labels() -> None:
    assert headline({}) == "– operators · – EVSEs"
    key = {"vehicle_model": "Xiaomi SU7", "charger_manufacturer": None, "firmware": "1.9.8"}
    assert slice_label(key) == "Xiaomi SU7 · unknown · 1.9.8"
    assert slice_label({"operator_id": "CN-TLN"}, names={"CN-TLN": "Tinglan"}) == "Tinglan"
    assert slice_label({}) == "all"


@pytest.mark.parametrize("kind", KINDS)
def test_json_round_trips(kind: str) -> None:
    import json

    data = getattr(samples, kind)()
    text = to_json_text(data)
    assert text.endswith("\n")
    assert json.loads(text) == data
    assert "青穹充电" in to_json_text(samples.coverage())  # UTF-8 kept readable
