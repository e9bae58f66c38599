"""The HTML reports in a real browser: Debian's Chromium (headless) opens each file from disk
with no network at all, and the charts and the county map must be drawn.

The reports are computed by the real services from a small SQLite registry
(``tests/report/registry.py``); the coverage report of the national sample is opened too.
Screenshots are kept in ``artifacts/report-*.png``. Needs ``/usr/bin/chromium``
(``apt-get install -y chromium``); without it the test fails, it is never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from chargemesh.geo.counties import county_table
from chargemesh.report.countymap import COVERED_COLOR, UNCOVERED_COLOR, project
from chargemesh.report.html import render_html
from chargemesh.services.analytics.compatibility import compatibility_report
from chargemesh.services.analytics.coverage import coverage_report
from chargemesh.services.analytics.reliability import reliability_report
from chargemesh.store import open_store
from tests.factories import T0
from tests.report import registry, samples

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
VIEWPORT = {"width": 1280, "height": 900}

#: Every <svg> on the page with its box; the marks each chart draws, with theirs.
DRAWN = """() => [...document.querySelectorAll('svg')].map(svg => {
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll('rect.bar, polyline.line, path.county')]
    .map(m => m.getBoundingClientRect())
    .filter(r => r.width > 0 && r.height > 0).length;
  return {cls: svg.getAttribute('class'), width: box.width, height: box.height, marks};
})"""

#: The county (or outline-only province) drawn at a point of the map (SVG coordinates).
COUNTY_AT = """([x, y]) => {
  const svg = document.getElementById('county-map');
  const p = new DOMPoint(x, y).matrixTransform(svg.getScreenCTM());
  const el = document.elementFromPoint(p.x, p.y);
  return el ? el.getAttribute('data-adcode') || el.getAttribute('data-province') : null;
}"""


def rgb(color: str) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three reports of the small registry, and the national sample's coverage, as files."""
    tmp = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{tmp / 'chargemesh.db'}"
    with open_store(url) as store:
        registry.fill(store)
        registry.fill_campaign(store)
        names = {op.id: op.name for op in store.list_operators()}
        data: dict[str, Any] = {
            "coverage": coverage_report(store).to_json(),
            "compatibility": compatibility_report(store).to_json(),
            "reliability": reliability_report(
                store, T0 - timedelta(days=30), T0 + timedelta(days=60),
                now=T0 + timedelta(days=60),
            ).to_json(),
        }  # fmt: skip
    files = {}
    for kind, report in data.items():
        files[kind] = tmp / f"{kind}.html"
        files[kind].write_text(render_html(kind, report, source=url, names=names), "utf-8")
    files["sample"] = tmp / "sample.html"
    files["sample"].write_text(render_html("coverage", samples.coverage()), "utf-8")
    return files


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"the browser test needs Chromium at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Opened:
    page: Page
    errors: list[str] = field(default_factory=list)  # uncaught page errors
    requests: list[str] = field(default_factory=list)  # everything but the file itself


@pytest.fixture
def open_report(browser: Browser) -> Iterator[Any]:
    contexts = []
    opened: list[Opened] = []

    def load(path: Path) -> Opened:
        context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
        contexts.append(context)
        found = Opened(context.new_page())
        found.page.on("pageerror", lambda exc: found.errors.append(str(exc)))
        found.page.on(
            "request",
            lambda r: None if r.url == path.as_uri() else found.requests.append(r.url),
        )
        found.page.goto(path.as_uri())
        found.page.wait_for_load_state("load")
        opened.append(found)
        return found

    try:
        yield load
    finally:
        for context in contexts:
            context.close()
    for found in opened:  # offline: the page asked for nothing, and nothing failed
        assert not found.errors, found.errors
        assert not found.requests, found.requests


def assert_charts_drawn(page: Page) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = page.evaluate(DRAWN)
    assert drawn
    for svg in drawn:
        assert svg["width"] > 100, svg
        assert svg["height"] > 40, svg
        if svg["cls"] != "chart line-chart" or svg["marks"]:
            assert svg["marks"] > 0, svg  # bars, lines or counties, actually painted
    return drawn


def test_the_coverage_report_draws_its_map_and_charts(
    reports: dict[str, Path], open_report: Any
) -> None:
    page = open_report(reports["coverage"]).page
    assert page.title() == "Charging network coverage · chargemesh"
    drawn = assert_charts_drawn(page)
    kinds = [d["cls"] for d in drawn]
    assert kinds.count("map") == 1
    assert kinds.count("chart line-chart") == 4  # the timeline
    assert kinds.count("chart bars") == 3  # power classes, access methods, operators
    the_map = next(d for d in drawn if d["cls"] == "map")
    assert the_map["width"] > 1000
    assert the_map["marks"] >= 2800  # every county painted (南沙区 in the inset)
    assert page.locator("#county-map path.county").count() == 2848

    covered = set(registry.covered_adcodes())
    fills = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('path.county')]
             .map(p => [p.dataset.adcode, getComputedStyle(p).fill]))"""
    )
    assert len(fills) == 2848
    for adcode, fill in fills.items():
        assert fill == rgb(COVERED_COLOR if adcode in covered else UNCOVERED_COLOR), adcode

    # each of the largest counties is drawn where it lies
    page.locator("#county-map").scroll_into_view_if_needed()
    mainland = [c for c in county_table() if c.province_adcode != "460000"]  # 三沙: sea
    largest = sorted(mainland, key=lambda c: (c.east - c.west) * (c.north - c.south))
    for county in largest[-12:]:
        assert page.evaluate(COUNTY_AT, list(project(county.lon, county.lat))) == county.adcode

    # Taiwan: drawn as a province (land and outline) where it lies, with no county coverage
    taiwan = page.locator('#county-map path.province-only[data-province="710000"]')
    assert taiwan.count() == 1
    assert "台湾省" in (taiwan.locator("title").text_content() or "")
    assert page.locator('#county-map path.county[data-adcode^="71"]').count() == 0
    assert (
        page.evaluate(
            COUNTY_AT,
            list(project(120.97, 23.75)),  # 玉山, the middle of the island
        )
        == "710000"
    )
    assert "no county data (台湾省)" in (
        page.locator("#county-map .map-legend").text_content() or ""
    )

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-coverage.png"), full_page=True)


def test_the_national_sample_draws_the_same_way(reports: dict[str, Path], open_report: Any) -> None:
    page = open_report(reports["sample"]).page
    assert_charts_drawn(page)
    uncovered = page.locator("#county-map path.county.uncovered")
    assert uncovered.count() == len(samples.coverage()["counties"]["uncovered"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-coverage-sample.png"), full_page=True)


def test_the_compatibility_report_draws_flagged_slices_against_the_target(
    reports: dict[str, Path], open_report: Any
) -> None:
    page = open_report(reports["compatibility"]).page
    drawn = assert_charts_drawn(page)
    assert len(drawn) == 1 + 6  # flagged slices, then one chart per dimension
    flagged = page.locator("#flagged svg")
    assert flagged.locator("g.row.flagged").count() == 1
    target = flagged.locator("line.target").bounding_box()
    assert target is not None
    assert target["height"] > 10
    whisker = flagged.locator("path.err").bounding_box()
    assert whisker is not None
    assert whisker["width"] > 10  # 120 attempts: a wide interval
    bar = flagged.locator("rect.bar").bounding_box()
    assert bar is not None
    assert bar["x"] + bar["width"] < target["x"]  # 85 % ends left of the 99 % line
    assert "Xiaomi SU7 · Winline · WL-60 · 1.9.8" in (flagged.text_content() or "")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-compatibility.png"), full_page=True)


def test_the_reliability_report_draws_its_charts(
    reports: dict[str, Path], open_report: Any
) -> None:
    page = open_report(reports["reliability"]).page
    assert_charts_drawn(page)
    for section in ("#nevi", "#uk", "#ftcsr"):
        assert page.locator(f"{section} svg").count() >= 1, section
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-reliability.png"), full_page=True)
