"""The HTML reports: one self-contained file each, inline SVG charts, the county map."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from chargemesh.geo.counties import county_table
from chargemesh.report import KINDS
from chargemesh.report.countymap import COVERED_COLOR, UNCOVERED_COLOR, county_map_svg
from chargemesh.report.html import CSS, render_html
from chargemesh.report.svg import Bar, BarSegment, bar_chart, nice_ticks
from tests.report import samples

SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)
TAGS = re.compile(r"<[^>]+>")


def page(kind: str, data: Any | None = None, **kwargs: Any) -> str:
    return render_html(kind, getattr(samples, kind)() if data is None else data, **kwargs)


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG, parsed as XML (so each is well formed)."""
    return [ET.fromstring(s) for s in SVG.findall(html)]  # noqa: S314 (our own output)


def county_paths(html: str) -> dict[str, ET.Element]:
    (map_svg,) = [s for s in svgs(html) if s.get("id") == "county-map"]
    return {p.get("data-adcode", ""): p for p in map_svg.iter("path") if p.get("data-adcode")}


@pytest.mark.parametrize("kind", KINDS)
def test_the_page_needs_nothing_outside_itself(kind: str) -> None:
    html = page(kind, source="postgresql://report@db.internal:5432/chargemesh")
    assert html.startswith("<!doctype html>")
    markup = TAGS.findall(html)
    for tag in markup:  # no reference from any element: no src, no link, no xmlns
        assert "://" not in tag, tag
        assert not re.search(r"\s(src|href|xlink:href)=\"(?!data:)", tag), tag
    assert "<script" not in html
    assert "<link" not in html.replace('<link rel="icon" href="data:,">', "")
    assert "url(" not in html
    assert "@import" not in html
    assert "@font-face" not in html
    assert not re.search(r"https?://", html)  # not even in text


@pytest.mark.parametrize("kind", KINDS)
def test_charts_are_well_formed_svg_with_titles(kind: str) -> None:
    charts = svgs(page(kind))
    assert charts
    for chart in charts:
        assert chart.get("viewBox")
        assert chart.find("title") is not None
        assert float(chart.get("width", "0")) > 0
        assert float(chart.get("height", "0")) > 0


def test_the_map_has_one_path_per_county_coloured_by_coverage() -> None:
    data = samples.coverage()
    paths = county_paths(page("coverage", data))
    table = county_table()
    assert len(paths) == len(table) == 2848
    assert set(paths) == {c.adcode for c in table}
    uncovered = {c["adcode"] for c in data["counties"]["uncovered"]}
    assert len(uncovered) == 110
    for adcode, path in paths.items():
        assert path.get("d", "").startswith("M")
        state = "uncovered" if adcode in uncovered else "covered"
        assert path.get("class") == f"county {state}", adcode
        title = path.find("title")
        assert title is not None
        assert (title.text or "").endswith("not covered" if adcode in uncovered else ": covered")
    # the classes carry the two colours
    assert f"--covered:{COVERED_COLOR}" in CSS
    assert f"--uncovered:{UNCOVERED_COLOR}" in CSS
    assert "svg.map .county.uncovered { fill:var(--uncovered); }" in CSS


def test_the_map_legend_counts_and_the_islands_inset() -> None:
    paths = county_paths(page("coverage"))
    nansha = paths["460302"]  # 南沙区 lies wholly south of the mainland frame: in the inset
    assert len(nansha.get("d", "")) > 100
    svg = county_map_svg(uncovered={"460302"})
    assert "covered · 2,847" in svg
    assert "not covered · 1" in svg
    assert "南海诸岛" in svg


def test_covered_adcodes_win_over_the_uncovered_list() -> None:
    data = samples.coverage()
    covered = [c.adcode for c in county_table()][:100]
    data["counties"]["covered_adcodes"] = covered
    paths = county_paths(page("coverage", data))
    shown = {a for a, p in paths.items() if p.get("class") == "county covered"}
    assert shown == set(covered)


def test_the_coverage_page_stays_small_and_lists_its_figures() -> None:
    html = page("coverage", source="sqlite:///chargemesh.db")
    assert len(html.encode()) < 3_000_000
    text = TAGS.sub(" ", html)
    assert (
        "26 operators · 1,400,000 EVSEs · 2,738 of 2,848 counties (96.1 %) · "
        "6,856 highway service areas" in text
    )
    assert "Source: sqlite:///chargemesh.db" in text
    assert "2026-11-30 15:03 UTC" in text
    for section in ("map", "power-classes", "access-methods", "operators", "timeline",
                    "provinces", "uncovered"):  # fmt: skip
        assert f'id="{section}"' in html
    # the timeline is drawn as line charts, one per series
    assert html.count('class="chart line-chart"') == 4


def test_data_is_escaped() -> None:
    data = samples.coverage()
    data["operators"][0]["name"] = '<script>alert("x")</script> & Co'
    data["counties"]["uncovered"][0]["name"] = "<img onerror=1>"
    html = page("coverage", data)
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html
    compat = samples.compatibility()
    compat["flagged"][0]["reasons"] = {"<b>bad</b>": 3}
    assert "&lt;b&gt;bad&lt;/b&gt; · 3" in page("compatibility", compat)


def test_flagged_slices_are_drawn_against_the_target_with_their_intervals() -> None:
    data = samples.compatibility()
    html = page("compatibility", data)
    flagged_chart = svgs(html)[0]
    rows = [g for g in flagged_chart.iter("g") if (g.get("class") or "").startswith("row")]
    assert len(rows) == len(data["flagged"]) == 3
    assert all(g.get("class") == "row flagged" for g in rows)
    assert len([p for p in flagged_chart.iter("path") if p.get("class") == "err"]) == 3
    targets = [ln for ln in flagged_chart.iter("line") if ln.get("class") == "target"]
    assert len(targets) == 1
    labels = [t.text for t in flagged_chart.iter("text") if t.get("class") == "target-label"]
    assert labels == ["target 99 %"]
    # one chart per dimension besides
    assert len(svgs(html)) == 1 + len(data["dimensions"])


def test_operator_names_label_the_reliability_charts() -> None:
    html = page("reliability", names={"MA7SLC074": "松岭充电 Songling Charging"})
    assert "松岭充电 Songling Charging" in html
    text = TAGS.sub(" ", html)
    assert "3 of 60 connectors at or below the NEVI 97 % uptime" in text
    assert "9 of 12 operators meet the UK 99 % rule" in text


@pytest.mark.parametrize("kind", KINDS)
def test_empty_and_partial_reports_render(kind: str) -> None:
    assert "</html>" in render_html(kind, {})
    broken = copy.deepcopy(getattr(samples, kind)())
    for value in broken.values():
        if isinstance(value, dict):
            value.clear()
    assert "</html>" in render_html(kind, broken)


def test_bar_chart_scales_and_ticks() -> None:
    assert nice_ticks(0, 883_943) == [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]
    assert nice_ticks(0.85, 1.0)[0] <= 0.85
    assert nice_ticks(0.85, 1.0)[-1] >= 1.0
    svg = bar_chart(
        [Bar("a", (BarSegment(50, "#000"),), "50"), Bar("b", (BarSegment(100, "#000"),), "100")],
        title="t", width=400, label_width=100,
    )  # fmt: skip
    root = ET.fromstring(svg)  # noqa: S314 (our own output)
    widths = [float(r.get("width", 0)) for r in root.iter("rect") if r.get("class") == "bar"]
    assert widths[1] == pytest.approx(2 * widths[0], rel=0.02)


def test_with_nothing_flagged_the_lowest_slices_are_shown() -> None:
    data = samples.compatibility()
    data["flagged"] = []
    for s in data["slices"]:
        s["flagged"] = False
    html = page("compatibility", data)
    assert "No slice is significantly below the target." in html
    lowest = svgs(html)[0]
    assert lowest.findtext("title") == "The lowest slices"
    rows = [g for g in lowest.iter("g") if g.get("class") == "row"]
    assert len(rows) == len([s for s in data["slices"] if s["attempts"] >= 30])


def test_taiwan_is_drawn_as_a_province_without_county_coverage() -> None:
    svg = county_map_svg(uncovered={"460302"})
    assert svg.count('<path class="province-only"') == 1
    assert '<path class="province-only" data-province="710000" d="M' in svg
    assert "台湾省 (710000): province outline" in svg
    # neither covered nor uncovered: not a county path, not in the counts
    assert 'class="county' not in svg.split('<path class="province-only"')[1].split("</path>")[0]
    assert svg.count('<path class="county ') == 2848
    assert "not covered · 1<" in svg
