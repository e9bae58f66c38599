"""The county coverage map: the shipped county outlines as one inline SVG.

Every county-level unit of ``geo/data/counties.geojson`` (GCJ-02) becomes exactly one ``<path>``
(``data-adcode``; class ``covered`` or ``uncovered``), the province outlines of
``provinces.geojson`` are drawn on top, and the South China Sea islands (南海诸岛), far south of
the mainland, are drawn in an inset at a smaller scale; a county with land in the inset (三沙's
districts) has that part in its own path too. A province without county units in the table
(台湾省: ``"counties": 0``) is drawn as land with its outline, one ``<path class="province-only">``,
and claims no county coverage: it is neither covered nor uncovered.

Projection: equirectangular with the parallels' spacing kept and the meridians' scaled by
cos 35° (China's middle latitude), so shapes near 35° N keep their proportions. Outlines are
simplified with shapely to a fifth of an SVG unit (about 1 km) and written with relative
coordinates rounded to 0.1 unit; the whole map is about 1 MB. The shapes are computed once per
process and cached; a render only sets each county's class.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from chargemesh.report.svg import esc, num

__all__ = [
    "COVERED_COLOR",
    "UNCOVERED_COLOR",
    "CountyShape",
    "MapShapes",
    "ProvinceShape",
    "county_map_svg",
    "map_shapes",
    "project",
]

#: The mainland frame (GCJ-02 degrees): west, south, east, north.
MAIN_FRAME: Final = (73.0, 17.6, 135.6, 54.0)
#: The South China Sea inset's frame.
INSET_FRAME: Final = (106.0, 3.2, 122.6, 23.6)
#: The inset's scale relative to the main map.
INSET_ZOOM: Final = 0.42
WIDTH: Final = 1000.0
#: Meridians are drawn cos(35°) apart relative to parallels.
ASPECT: Final = math.cos(math.radians(35.0))
#: SVG units per degree of latitude.
SCALE: Final = WIDTH / ((MAIN_FRAME[2] - MAIN_FRAME[0]) * ASPECT)
HEIGHT: Final = (MAIN_FRAME[3] - MAIN_FRAME[1]) * SCALE
#: Simplification tolerance, in SVG units.
TOLERANCE: Final = 0.2
MARGIN: Final = 8.0

COVERED_COLOR: Final = "#3f8fc4"
UNCOVERED_COLOR: Final = "#f28e2b"
INSET_LAND_COLOR: Final = "#dfe4ea"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CountyShape:
    adcode: str
    name: str
    province: str
    d: str  # SVG path data


@dataclass(frozen=True, slots=True)
class ProvinceShape:
    """A province drawn as an outline only: the table has no county unit of it."""

    adcode: str
    name: str
    d: str


@dataclass(frozen=True, slots=True)
class MapShapes:
    counties: tuple[CountyShape, ...]
    outline_only: tuple[ProvinceShape, ...]  # provinces without county units (Taiwan)
    provinces: str  # every province outline, main map and inset, as one path
    inset_land: str  # the provinces inside the inset, drawn as plain land under 三沙
    inset_box: tuple[float, float, float, float]  # x, y, width, height
    width: float
    height: float


def _inset_box() -> tuple[float, float, float, float]:
    west, south, east, north = INSET_FRAME
    w = (east - west) * ASPECT * SCALE * INSET_ZOOM
    h = (north - south) * SCALE * INSET_ZOOM
    return WIDTH - w - MARGIN, HEIGHT - h - MARGIN, w, h


def _main_xy(coords: FloatArray) -> FloatArray:
    west, _, _, north = MAIN_FRAME
    return np.column_stack(((coords[:, 0] - west) * ASPECT * SCALE, (north - coords[:, 1]) * SCALE))


def project(lon: float, lat: float) -> tuple[float, float]:
    """A GCJ-02 point of the mainland frame in the map's SVG coordinates."""
    x, y = _main_xy(np.array([[lon, lat]], dtype=np.float64))[0]
    return float(x), float(y)


def _inset_xy(coords: FloatArray) -> FloatArray:
    west, _, _, north = INSET_FRAME
    bx, by, _, _ = _inset_box()
    zoom = SCALE * INSET_ZOOM
    return np.column_stack(
        (bx + (coords[:, 0] - west) * ASPECT * zoom, by + (north - coords[:, 1]) * zoom)
    )


def _tenths(n: int) -> str:
    """An integer count of tenths as the shortest SVG number: 123 → 12.3, -5 → -.5, 30 → 3."""
    sign = "-" if n < 0 else ""
    whole, tenth = divmod(abs(n), 10)
    body = (str(whole) if whole else "") + (f".{tenth}" if tenth else "")
    return sign + (body or "0")


def _join(numbers: Iterable[str]) -> str:
    """SVG numbers with only the separators the grammar needs."""
    out: list[str] = []
    previous = ""
    for token in numbers:
        if out and not (token[0] == "-" or (token[0] == "." and "." in previous)):
            out.append(" ")
        out.append(token)
        previous = token
    return "".join(out)


def _rings(geom: Any) -> Iterator[FloatArray]:
    for part in shapely.get_parts(geom):
        if shapely.get_type_id(part) != 3:  # Polygon: clipping can leave lines or points
            continue
        yield np.asarray(part.exterior.coords)
        for hole in part.interiors:
            yield np.asarray(hole.coords)


def _path(geom: Any) -> str:
    """Polygons (in SVG units) as path data: absolute move, relative lines, in tenths."""
    out = []
    for ring in _rings(geom):
        pts = np.rint(ring * 10).astype(np.int64)
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
        pts = pts[keep]
        if len(pts) > 1 and (pts[0] == pts[-1]).all():
            pts = pts[:-1]
        if len(pts) < 3:
            continue  # smaller than the rounding: nothing to draw
        deltas = np.diff(pts, axis=0).ravel().tolist()
        start = _join(_tenths(int(v)) for v in pts[0])
        out.append(f"M{start}l{_join(_tenths(v) for v in deltas)}z")
    return "".join(out)


def _project(
    geoms: npt.NDArray[np.object_], frame: tuple[float, float, float, float], xy: Any
) -> npt.NDArray[np.object_]:
    clipped = shapely.clip_by_rect(geoms, *frame)
    projected = shapely.transform(clipped, xy)
    return shapely.simplify(projected, TOLERANCE, preserve_topology=True)  # type: ignore[no-any-return]


def _load(name: str) -> list[dict[str, Any]]:
    path = resources.files("chargemesh.geo").joinpath("data").joinpath(name)
    features: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["features"]
    return features


@functools.cache
def map_shapes() -> MapShapes:
    """The projected, simplified outlines (computed once per process, ~0.5 s)."""
    counties = _load("counties.geojson")
    provinces = _load("provinces.geojson")
    province_names = {p["properties"]["adcode"]: p["properties"]["name"] for p in provinces}
    county_geoms = np.array([shape(f["geometry"]) for f in counties], dtype=object)
    province_geoms = np.array([shape(f["geometry"]) for f in provinces], dtype=object)

    main = _project(county_geoms, MAIN_FRAME, _main_xy)
    # Only what lies south of the mainland frame goes into the inset as a county's own
    # shape; the rest of the inset is context.
    southern = np.array([g.bounds[1] < MAIN_FRAME[1] for g in county_geoms])
    inset = np.full(len(counties), None, dtype=object)
    inset[southern] = _project(county_geoms[southern], INSET_FRAME, _inset_xy)

    shapes = []
    for i, feature in enumerate(counties):
        props = feature["properties"]
        d = _path(main[i]) + (_path(inset[i]) if inset[i] is not None else "")
        shapes.append(
            CountyShape(
                adcode=str(props["adcode"]),
                name=str(props.get("name", "")),
                province=province_names.get(props.get("province_adcode"), ""),
                d=d,
            )
        )
    main_provinces = _project(province_geoms, MAIN_FRAME, _main_xy)
    inset_provinces = _project(province_geoms, INSET_FRAME, _inset_xy)
    outlines = "".join(_path(g) for g in main_provinces) + "".join(
        _path(g) for g in inset_provinces
    )
    outline_only = tuple(
        ProvinceShape(str(f["properties"]["adcode"]), str(f["properties"]["name"]), _path(g))
        for f, g in zip(provinces, main_provinces, strict=True)
        if f["properties"].get("counties", 1) == 0
    )
    return MapShapes(
        counties=tuple(shapes),
        outline_only=outline_only,
        provinces=outlines,
        inset_land="".join(_path(g) for g in inset_provinces),
        inset_box=_inset_box(),
        width=WIDTH,
        height=HEIGHT,
    )


def _scale_bar(x: float, y: float, km: float = 500.0) -> str:
    """A bar ``km`` long at 35° N."""
    length = km / (111.32 * ASPECT) * ASPECT * SCALE
    return (
        f'<g class="scale"><path d="M{num(x)} {num(y - 5)}V{num(y)}H{num(x + length)}'
        f'V{num(y - 5)}"/><text x="{num(x + length / 2)}" y="{num(y - 8)}" '
        f'text-anchor="middle">{km:,.0f} km</text></g>'
    )


def county_map_svg(
    covered: Collection[str] | None = None,
    uncovered: Collection[str] = (),
    *,
    counts: Mapping[str, int] | None = None,
    title: str = "County coverage",
) -> str:
    """The map with each unit coloured: if ``covered`` is given, exactly those adcodes are
    covered; otherwise every unit not in ``uncovered`` is. ``counts`` (covered, uncovered)
    go into the legend; by default the units are counted as coloured."""
    shapes = map_shapes()
    covered_set = set(covered) if covered is not None else None
    uncovered_set = set(uncovered)
    paths = []
    n_covered = 0
    for c in shapes.counties:
        is_covered = (
            c.adcode in covered_set if covered_set is not None else (c.adcode not in uncovered_set)
        )
        n_covered += is_covered
        state, says = ("covered", "covered") if is_covered else ("uncovered", "not covered")
        paths.append(
            f'<path class="county {state}" data-adcode="{esc(c.adcode)}" d="{c.d}">'
            f"<title>{esc(c.name)} · {esc(c.province)} ({esc(c.adcode)}): {says}</title></path>"
        )
    n_covered = (counts or {}).get("covered", n_covered)
    n_uncovered = (counts or {}).get("uncovered", len(shapes.counties) - n_covered)
    only = "".join(
        f'<path class="province-only" data-province="{esc(p.adcode)}" d="{p.d}">'
        f"<title>{esc(p.name)} ({esc(p.adcode)}): province outline; no county-level units "
        "in the table, no county coverage counted</title></path>"
        for p in shapes.outline_only
    )
    bx, by, bw, bh = shapes.inset_box
    lx, ly = 14.0, shapes.height - 138.0
    legend = (
        f'<g class="map-legend" transform="translate({num(lx)} {num(ly)})">'
        f'<rect class="legend-box" x="0" y="0" width="238" height="124" rx="6"/>'
        f'<text class="legend-title" x="12" y="22">County-level units</text>'
        f'<rect x="12" y="34" width="16" height="12" rx="2" fill="{COVERED_COLOR}"/>'
        f'<text x="36" y="44">covered · {n_covered:,}</text>'
        f'<rect x="12" y="54" width="16" height="12" rx="2" fill="{UNCOVERED_COLOR}"/>'
        f'<text x="36" y="64">not covered · {n_uncovered:,}</text>'
        f'<path class="province-key" d="M12 82H28"/>'
        f'<text x="36" y="86">province boundary</text>'
        f'<rect class="province-only" x="12" y="96" width="16" height="12" rx="2"/>'
        f'<text x="36" y="106">no county data (台湾省)</text></g>'
    )
    return (
        f'<svg class="map" id="county-map" viewBox="0 0 {num(shapes.width)} '
        f'{num(shapes.height)}" width="{num(shapes.width)}" height="{num(shapes.height)}" '
        f'role="img" aria-label="{esc(title)}"><title>{esc(title)}</title>'
        f'<rect class="sea" x="0" y="0" width="{num(shapes.width)}" '
        f'height="{num(shapes.height)}"/>'
        f'<rect class="inset-frame" x="{num(bx)}" y="{num(by)}" width="{num(bw)}" '
        f'height="{num(bh)}"/>'
        f'<path class="inset-land" d="{shapes.inset_land}"/>'
        f'<g class="counties">{"".join(paths)}</g>'
        f"{only}"
        f'<path class="provinces" d="{shapes.provinces}"/>'
        f'<text class="inset-label" x="{num(bx + bw - 6)}" y="{num(by + bh - 8)}" '
        f'text-anchor="end">南海诸岛</text>'
        f"{_scale_bar(300.0, shapes.height - 20)}{legend}</svg>"
    )
