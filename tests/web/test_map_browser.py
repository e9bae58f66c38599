"""The web map in a real browser against real servers on loopback.

The simulated country (``chargemesh sim``) and the platform (``chargemesh serve`` on its
manifest) run as subprocesses; Debian's Chromium (headless, WebGL through SwiftShader) loads the
map at ``/``. The map must draw clusters from the API, filter them, drill down to a station,
show its connectors, and show a status an operator pushes over T/CEC within 2 s.

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``); without it the test fails, it is
never skipped. A screenshot is kept at ``artifacts/map.png``. The servers and the browser are
the fixtures of tests/web/conftest.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize

from chargemesh.config import OperatorConfig
from chargemesh.protocols.tcec.codec import Secrets
from chargemesh.protocols.tcec.stations import ConnectorStatusInfo
from chargemesh.protocols.tcec.wire import dialect_of
from chargemesh.sim.peers.tcec.push import PlatformPusher
from tests.web.servers import ARTIFACTS, Country

#: T/CEC ConnectorStatusInfo.Status codes and the status the map shows for them.
TCEC_AVAILABLE, TCEC_CHARGING = 1, 3


@dataclass
class MapPage:
    page: Page
    errors: list[str]  # uncaught page errors
    foreign: list[str]  # requests that left the platform: none allowed, the map is offline


DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@contextlib.contextmanager
def open_map(browser: Browser, country: Country, viewport: ViewportSize) -> Iterator[MapPage]:
    """The map at ``/`` in a fresh browser context of that size, once its clusters are drawn;
    no page error and no request off the platform allowed."""
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    found = MapPage(page, [], [])
    page.on("pageerror", lambda exc: found.errors.append(str(exc)))

    def check(url: str) -> None:
        if not url.startswith((country.base_url + "/", "data:", "blob:")):
            found.foreign.append(url)

    page.on("request", lambda request: check(request.url))
    page.goto(f"{country.base_url}/")
    page.wait_for_function("window.chargemesh && window.chargemesh.ready", timeout=30_000)
    try:
        yield found
    finally:
        context.close()
    assert not found.errors, found.errors
    assert not found.foreign, found.foreign


@pytest.fixture
def map_page(browser: Browser, country: Country) -> Iterator[MapPage]:
    with open_map(browser, country, DESKTOP) as found:
        yield found


def settle(page: Page, after: int) -> None:
    """Wait until the map is still and shows the clusters of change ``after`` + 1 or later."""
    page.wait_for_function(
        "after => window.chargemesh.moves > after && window.chargemesh.settled()",
        arg=after,
        timeout=20_000,
    )


def moves(page: Page) -> int:
    n: int = page.evaluate("window.chargemesh.moves")
    return n


def shown_stations(page: Page) -> int:
    n: int = page.evaluate("window.chargemesh.lastClusters.stations")
    return n


def choose(page: Page, selector: str, value: str) -> None:
    before = moves(page)
    page.select_option(selector, value)
    settle(page, before)


CLICKABLE = """() => {
  const cm = window.chargemesh, map = cm.map, canvas = map.getCanvas();
  const r = canvas.getBoundingClientRect();
  const out = [];
  for (const f of cm.lastClusters.features) {
    const p = map.project(f.geometry.coordinates);
    const x = r.left + p.x, y = r.top + p.y;
    if (x < r.left + 8 || y < r.top + 8 || x > r.right - 8 || y > r.bottom - 8) continue;
    if (document.elementFromPoint(x, y) !== canvas) continue;  // under the legend or a control
    out.push({kind: f.properties.kind, id: f.properties.id, count: f.properties.count || 1,
              operator_id: f.properties.operator_id || null, x, y});
  }
  return out;
}"""


def test_the_map_draws_clusters_filters_them_and_stays_offline(
    map_page: MapPage, country: Country
) -> None:
    page = map_page.page
    assert page.title().startswith("chargemesh")
    assert page.locator("header h1").inner_text() == "chargemesh"
    for element in ("#map", "#filters", "#legend", "#filter-connector", "#filter-min-kw",
                    "#filter-available", "#filter-operator", "#filter-access"):  # fmt: skip
        assert page.locator(element).count() == 1, element
    assert page.locator("#panel").is_hidden()
    style = page.evaluate(
        "(() => { const s = window.chargemesh.map.getStyle(); "
        "return {glyphs: s.glyphs || null, sprite: s.sprite || null}; })()"
    )
    assert style == {"glyphs": None, "sprite": None}
    clusters = page.evaluate("window.chargemesh.lastClusters")
    assert clusters["type"] == "FeatureCollection"
    assert clusters["stations"] == country.stations
    assert clusters["features"]
    assert page.evaluate("window.chargemesh.map.getLayer('province-line') !== undefined")

    # the operator filter lists every network by name
    options = page.locator("#filter-operator option").all_inner_texts()
    assert len(options) == 1 + len(country.operators)
    assert any(country.operators[0]["name"] in o for o in options)

    # filters refetch and narrow
    choose(page, "#filter-min-kw", "120")
    fast = shown_stations(page)
    assert 0 < fast < country.stations
    choose(page, "#filter-connector", "gbt_ac")  # AC piles are never 120 kW
    assert shown_stations(page) < fast
    before = moves(page)
    page.click("#filter-reset")
    settle(page, before)
    assert shown_stations(page) == country.stations
    before = moves(page)
    page.check("#filter-available")
    settle(page, before)
    assert shown_stations(page) <= country.stations
    page.uncheck("#filter-available")

    # counties appear from zoom 7
    before = moves(page)
    page.evaluate("window.chargemesh.map.jumpTo({center: [116.40, 39.90], zoom: 7})")
    settle(page, before)
    assert page.evaluate("window.chargemesh.map.getLayer('county-fill') !== undefined")
    page.wait_for_function("window.chargemesh.map.isSourceLoaded('counties')", timeout=20_000)


def push_status(country: Country, op: OperatorConfig, connector: str, code: int) -> Any:
    """What the operator does: ``notification_stationStatus`` to the platform's T/CEC base URL,
    signed with the secrets the platform issued to it."""
    assert op.inbound is not None
    secrets = Secrets.from_config(op.inbound)

    async def run() -> Any:
        async with httpx.AsyncClient(timeout=10) as http:
            pusher = PlatformPusher(
                f"{country.base_url}/tcec/v1/", op.id, secrets, dialect_of(op.dialect), http
            )
            return await pusher.push_status(
                ConnectorStatusInfo(connector_id=connector, status=code)
            )

    # Playwright's sync API keeps an event loop on this thread: push from another one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result(timeout=30)


def test_drill_down_to_a_station_and_see_a_pushed_status_live(
    map_page: MapPage, country: Country
) -> None:
    page = map_page.page
    # a T/CEC network that pushes to us, the biggest one so that it has stations everywhere
    tcec = {op.id: op for op in country.config.operators if op.protocol == "tcec" and op.inbound}
    op_id = max((o for o in country.operators if o["id"] in tcec), key=lambda o: o["stations"])[
        "id"
    ]
    op = tcec[op_id]
    choose(page, "#filter-operator", op_id)
    assert 0 < shown_stations(page) < country.stations

    # click the biggest cluster (at least once) until a station dot of that network is on
    # screen, then click the dot
    station, clicks = None, 0
    while station is None and clicks < 15:
        targets = page.evaluate(CLICKABLE)
        dots = [t for t in targets if t["kind"] == "station" and t["operator_id"] == op_id]
        clusters = [t for t in targets if t["kind"] == "cluster"]
        if dots and (clicks or not clusters):
            station = dots[0]
            break
        zoom = page.evaluate("window.chargemesh.map.getZoom()")
        assert clusters, f"nothing to click at zoom {zoom}: {targets}"
        biggest = max(clusters, key=lambda t: t["count"])
        before = moves(page)
        page.mouse.click(biggest["x"], biggest["y"])
        settle(page, before)
        assert page.evaluate("window.chargemesh.map.getZoom()") > zoom, "the click did not zoom"
        clicks += 1
    assert station is not None, f"no station of the network after {clicks} cluster clicks"
    assert clicks >= 1
    page.mouse.click(station["x"], station["y"])
    page.wait_for_selector("#panel [data-connector-id]", state="visible", timeout=10_000)
    page.wait_for_function("window.chargemesh.settled()", timeout=20_000)
    detail = page.evaluate("window.chargemesh.station")
    assert detail["id"] == station["id"]
    assert page.locator("#panel-title").inner_text() == detail["name"]
    if detail["address"]:
        assert detail["address"] in page.locator("#panel").inner_text()
    operator_name = next(o["name"] for o in country.operators if o["id"] == detail["operator_id"])
    assert operator_name in page.locator("#panel .operator").inner_text()
    connectors = [c for e in detail["evses"] for c in e["connectors"]]
    rows = page.locator("#panel [data-connector-id]")
    assert rows.count() == len(connectors)
    for c in connectors:
        row = page.locator(f'#panel [data-connector-id="{c["id"]}"]')
        assert row.locator(".status").inner_text().strip().lower() == c["status"]
        assert c["qr"]
        assert row.locator(".qr code").inner_text() == c["qr"]  # the code printed on it
        assert f"{c['max_power_kw']:g} kW" in row.inner_text().replace(",", "")

    # the operator pushes a change of one of its connectors: the panel shows it within 2 s
    ours = next(c for c in connectors if c["id"].startswith(f"{op_id}:"))
    code, want = (
        (TCEC_AVAILABLE, "available")
        if ours["status"] == "charging"
        else (TCEC_CHARGING, "charging")
    )
    page.wait_for_function("window.chargemesh.live.connected", timeout=10_000)
    answer = push_status(country, op, ours["id"].rsplit(":", 1)[1], code)
    assert answer == {"Status": 0}
    started = time.monotonic()
    page.wait_for_function(
        """([id, want]) => {
          const row = document.querySelector(`#panel [data-connector-id="${CSS.escape(id)}"]`);
          const el = row && row.querySelector('.status');
          return el !== null && el.textContent.trim() === want;
        }""",
        arg=[ours["id"], want],
        timeout=2_000,
    )
    took = time.monotonic() - started
    assert took < 2.0, took
    print(f"pushed status shown after {took * 1000:.0f} ms")
    # the event also recoloured the station's dot: its availability is the station's new one
    event = page.evaluate("window.chargemesh.live.last")
    assert (event["connector_id"], event["status"]) == (ours["id"], want)
    assert isinstance(event["station_available"], int)
    dot = page.evaluate(
        "id => window.chargemesh.lastClusters.features.find(f => f.properties.id === id)",
        station["id"],
    )
    assert dot["properties"]["available"] == event["station_available"]
    shown = page.locator("#panel-available").get_attribute("data-available")
    assert shown == str(event["station_available"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "map.png"))


# ------------------------------------------------------------------ place names, outlines, legend


def jump(page: Page, lon: float, lat: float, zoom: float) -> None:
    """Move the map and wait until it is still, its clusters drawn and every source loaded."""
    before = moves(page)
    page.evaluate(f"window.chargemesh.map.jumpTo({{center: [{lon}, {lat}], zoom: {zoom}}})")
    settle(page, before)
    page.wait_for_function(
        "(() => { const m = window.chargemesh.map; return m.loaded() && m.areTilesLoaded() && "
        "Object.keys(m.getStyle().sources).every(id => m.isSourceLoaded(id)); })()",
        timeout=20_000,
    )


def rendered(page: Page, layer: str, prop: str = "name") -> list[Any]:
    """A property of every feature MapLibre drew in ``layer`` on screen."""
    values: list[Any] = page.evaluate(
        """([layer, prop]) => window.chargemesh.map.getLayer(layer)
             ? window.chargemesh.map.queryRenderedFeatures({layers: [layer]})
                 .map(f => f.properties[prop])
             : []""",
        [layer, prop],
    )
    return values


def at_point(page: Page, layer: str, lon: float, lat: float) -> list[Any]:
    values: list[Any] = page.evaluate(
        """([layer, lon, lat]) => { const m = window.chargemesh.map;
             return m.queryRenderedFeatures(m.project([lon, lat]), {layers: [layer]})
               .map(f => f.properties.adcode); }""",
        [layer, lon, lat],
    )
    return values


def segments_of(fc: dict[str, Any]) -> tuple[int, int]:
    """(ring segments, distinct segments) of the province outlines, as the map should count."""
    total, distinct = 0, set()
    for f in fc["features"]:
        g = f["geometry"]
        polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        for ring in (r for poly in polygons for r in poly):
            for a, b in itertools.pairwise(ring):
                total += 1
                distinct.add(tuple(sorted((tuple(a), tuple(b)))))
    return total, len(distinct)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_place_names_outlines_and_taiwan(
    browser: Browser, country: Country, viewport: ViewportSize
) -> None:
    provinces = httpx.get(f"{country.base_url}/static/geo/provinces.geojson", timeout=10).json()
    with open_map(browser, country, viewport) as found:
        page = found.page
        size = f"{viewport['width']}x{viewport['height']}"
        # province borders drawn once: each segment two provinces share is drawn by one line
        page.wait_for_function("window.chargemesh.borders !== null", timeout=10_000)
        total, distinct = segments_of(provinces)
        assert page.evaluate("window.chargemesh.borders") == {
            "segments": total,
            "drawn": distinct,
        }
        assert distinct < total * 0.8  # the shared borders are many, and drawn once
        assert page.evaluate("window.chargemesh.map.getLayer('province-line').source") == (
            "province-borders"
        )

        # the whole country: province names (offline, local CJK fonts), no county lines yet
        jump(page, 104.0, 35.5, 3.6)
        names = set(rendered(page, "province-label"))
        assert len(names) >= 8, names
        assert names <= {f["properties"]["name"] for f in provinces["features"]}
        assert rendered(page, "county-fill", "adcode") == []
        assert rendered(page, "city-label") == []

        # Taiwan: a province outline (its fill and its name), no county data
        jump(page, 120.97, 23.75, 6.2)
        assert at_point(page, "province-only-fill", 120.97, 23.75) == ["710000"]
        assert "台湾省" in rendered(page, "province-label")
        page.screenshot(path=str(ARTIFACTS / f"map-taiwan-{size}.png"))

        # city names at mid zoom; counties from zoom 7 as tinted areas under the province
        # borders: no line is drawn from the county outlines, so no border twice
        jump(page, 113.3, 23.1, 7.5)
        cities = set(rendered(page, "city-label"))
        assert {"广州市", "佛山市"} & cities, cities
        assert rendered(page, "province-label") == []
        assert "440106" in at_point(page, "county-fill", 113.37, 23.17)  # 天河区
        layers = page.evaluate(
            "window.chargemesh.map.getStyle().layers.map(l => [l.id, l.type, l.source || null])"
        )
        lines = [(id_, source) for id_, kind, source in layers if kind == "line"]
        assert lines == [("province-line", "province-borders")]
        ids = [id_ for id_, _, _ in layers]
        assert ids.index("county-fill") < ids.index("province-line")

        # county and district names zoomed in
        jump(page, 116.40, 39.91, 10.5)
        page.wait_for_function(
            "window.chargemesh.map.querySourceFeatures('county-places').length > 0",
            timeout=20_000,
        )
        jump(page, 116.40, 39.91, 10.6)
        counties = set(rendered(page, "county-label"))
        assert {"东城区", "西城区", "朝阳区"} & counties, counties
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"map-labels-{size}.png"))


def nearest_station(country: Country, lon: float, lat: float) -> dict[str, Any]:
    answer = httpx.get(
        f"{country.base_url}/api/v1/stations/nearby",
        params={"lon": lon, "lat": lat, "radius_km": 500, "limit": 1},
        timeout=10,
    )
    answer.raise_for_status()
    station: dict[str, Any] = answer.json()["stations"][0]
    return station


def put_station_at(page: Page, station: dict[str, Any], x: float, y: float) -> None:
    """Zoom in on a station and move the map so that its dot is at (x, y) in the page."""
    before = moves(page)
    page.evaluate(
        """([lon, lat, x, y]) => { const m = window.chargemesh.map;
             const r = m.getCanvas().getBoundingClientRect();
             m.jumpTo({center: [lon, lat], zoom: 16});
             m.panBy([r.left + r.width / 2 - x, r.top + r.height / 2 - y], {duration: 0}); }""",
        [station["lon"], station["lat"], x, y],
    )
    settle(page, before)


def element_at(page: Page, x: float, y: float) -> str:
    found: str = page.evaluate(
        """([x, y]) => { const el = document.elementFromPoint(x, y);
             return el.closest('#legend') ? 'legend' : el.tagName.toLowerCase(); }""",
        [x, y],
    )
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_legend_collapses_and_the_station_under_it_can_be_clicked(
    browser: Browser, country: Country, viewport: ViewportSize
) -> None:
    station = nearest_station(country, 116.40, 39.91)
    with open_map(browser, country, viewport) as found:
        page = found.page
        phone = viewport == PHONE
        body = page.locator("#legend-body")
        # collapsed by default on a phone, open on a desktop
        assert body.is_visible() is not phone
        if phone:
            page.click("#legend-toggle")
            assert body.is_visible()
        box = page.locator("#legend").bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        put_station_at(page, station, x, y)
        assert element_at(page, x, y) == "legend"  # the station is under the legend

        page.click("#legend-toggle")  # collapse it
        assert not body.is_visible()
        assert page.locator("#legend-toggle").get_attribute("aria-expanded") == "false"
        assert element_at(page, x, y) == "canvas"
        page.mouse.click(x, y)
        page.wait_for_selector("#panel [data-connector-id]", state="visible", timeout=10_000)
        assert page.evaluate("window.chargemesh.openStationId") == station["id"]


def test_the_hover_popup_closes_when_the_map_moves(map_page: MapPage, country: Country) -> None:
    page = map_page.page
    station = nearest_station(country, 121.47, 31.23)
    box = page.locator("#map").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    put_station_at(page, station, x, y)
    page.mouse.move(x, y)
    popup = page.locator(".maplibregl-popup.hover")
    popup.wait_for(state="visible", timeout=5_000)
    assert station["name"] in popup.inner_text()
    before = moves(page)
    page.evaluate("window.chargemesh.map.panBy([0, 160], {duration: 0})")  # the keyboard's way
    settle(page, before)
    assert popup.count() == 0


def test_an_empty_result_says_so_and_one_click_widens_it(
    map_page: MapPage, country: Country
) -> None:
    page = map_page.page
    empty = page.locator("#empty")
    assert empty.is_hidden()
    choose(page, "#filter-connector", "gbt_ac")
    choose(page, "#filter-min-kw", "250")  # no AC pile gives 250 kW
    assert shown_stations(page) == 0
    assert empty.is_visible()
    assert "No stations match" in empty.inner_text()
    assert page.locator("#empty-zoom-out").is_hidden()
    before = moves(page)
    page.click("#empty-clear")
    settle(page, before)
    assert shown_stations(page) == country.stations
    assert empty.is_hidden()
    assert page.locator("#filter-connector").input_value() == ""
