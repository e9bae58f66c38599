"""Where stations go: a density weight per county, derived from the county table alone.

**Placement** (all coordinates GCJ-02, like the shipped county table). Stations go to counties at
random with probabilities proportional to a density weight derived from the county table alone:

``w = kind × capital × hu × econ × size × islands``

* ``kind``: urban districts (name ending in 区) 3 × ``metro``, where ``metro`` =
  √(districts of the same prefecture city / 4) clipped to 0.5–2.5 — a city with many districts is
  a big city (Shanghai, Beijing, Guangzhou, Wuhan, Chengdu …); county-level cities (市) 1.6;
  counties, banners and the rest 1.0 — cities are where people and cars are;
* ``capital``: 1.5 in the four municipalities (adcodes 11, 12, 31, 50), 1.6 in provincial
  capitals (city code ``xx01``, the GB/T 2260 rule), else 1.0;
* ``hu``: the Hu line (Heihe 127.49 E 50.25 N – Tengchong 98.49 E 25.02 N) divides China's dense
  south-east (≈ 94 % of the people on ≈ 43 % of the land) from the sparse north-west:
  ``hu = 0.07 + 0.93 · sigmoid((d + 1°) / 1°)`` with ``d`` the signed distance (degrees) of the
  county's representative point from the straight line, positive on the south-east side (the
  1° shift keeps the Sichuan basin, just west of the straight line, on the dense side);
* ``econ = exp((min(lon, 122) − 112) / 15 − max(lat − 33, 0) / 12)``: the richer, more
  electrified east and south (≈ ×1.9 on the Yangtze delta against the centre; the cold north and
  north-east fall off);
* ``size``: ``(area / median area)^0.15`` for counties and cities — a larger unit holds somewhat
  more people, far from proportionally; districts 1;
* ``islands``: units made of scattered islands (outline area under 1 % of its bounding box:
  the South China Sea districts) get 1 % of the weight.

A regional operator puts ``home_share`` of its stations in its home provinces (weights restricted
to them) and the rest nationally; ``concentration`` raises the weights to a power (carmaker
networks: 1.3–1.4, favouring big cities). Highway sites use ``hu × (area / median)^0.5 ×
exp((lon − 112) / 20)``, × 0.35 for urban districts (expressways cross rural counties). At scale 1
this covers ≈ 96 % of the 2,848 units; the uncovered ones are in Tibet, Qinghai, Xinjiang and the
far west of Sichuan and Gansu.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from dataclasses import dataclass
from importlib import resources

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from chargemesh.geo.counties import COUNTIES_GEOJSON, DATA_DIR, DATA_PACKAGE, County, county_table
from chargemesh.sim.country.arrays import F64, I32, B
from chargemesh.sim.operators import SimOperator


@dataclass(frozen=True, eq=False)
class Geo:
    counties: tuple[County, ...]
    adcode: I32
    province: tuple[str, ...]
    polygons: npt.NDArray[np.object_]
    bounds: F64  # [C, 4]
    area: F64
    fill: F64  # polygon area / bbox area
    center: F64  # [C, 2] representative point
    district: B
    weight: F64
    highway_weight: F64


def _hu_distance(lon: F64, lat: F64) -> F64:
    """Signed distance (degrees) from the Hu line, positive on the dense south-east side."""
    x1, y1, x2, y2 = 127.49, 50.25, 98.49, 25.02
    dx, dy = x2 - x1, y2 - y1
    cross = dx * (lat - y1) - dy * (lon - x1)
    out: F64 = cross / math.hypot(dx, dy)
    return out


@functools.cache
def county_geography() -> Geo:
    table = county_table()
    counties = tuple(table)
    text = (
        resources.files(DATA_PACKAGE)
        .joinpath(DATA_DIR)
        .joinpath(COUNTIES_GEOJSON)
        .read_text(encoding="utf-8")
    )
    by_code = {f["properties"]["adcode"]: f["geometry"] for f in json.loads(text)["features"]}
    polygons = np.array([shape(by_code[c.adcode]) for c in counties], dtype=object)
    shapely.prepare(polygons)
    bounds = shapely.bounds(polygons).astype(np.float64)
    area = shapely.area(polygons).astype(np.float64)
    fill = area / np.maximum((bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1]), 1e-12)
    center = np.array([(c.lon, c.lat) for c in counties], dtype=np.float64)
    lon, lat = center[:, 0], center[:, 1]
    names = [c.name for c in counties]
    district = np.array([n.endswith("区") for n in names], dtype=np.bool_)
    city = np.array([n.endswith("市") for n in names], dtype=np.bool_)
    kind = np.where(district, 3.0, np.where(city, 1.6, 1.0))
    municipality = np.array(
        [c.province_adcode[:2] in ("11", "12", "31", "50") for c in counties], dtype=np.bool_
    )
    capital = np.array([c.city_adcode[2:4] == "01" for c in counties], dtype=np.bool_)
    city_districts = Counter(c.city_adcode for c, d in zip(counties, district, strict=True) if d)
    metro = np.array(
        [min(max(math.sqrt(city_districts[c.city_adcode] / 4.0), 0.5), 2.5) for c in counties]
    )
    hu = 0.07 + 0.93 / (1.0 + np.exp(-(_hu_distance(lon, lat) + 1.0) / 1.0))
    econ = np.exp((np.minimum(lon, 122.0) - 112.0) / 15.0 - np.maximum(lat - 33.0, 0.0) / 12.0)
    rel_area = area / np.median(area)
    islands = np.where(fill < 0.01, 0.01, 1.0)
    weight = (
        np.where(district, 3.0 * metro, kind)
        * np.where(municipality, 1.5, np.where(capital, 1.6, 1.0))
        * hu
        * econ
        * np.where(district, 1.0, rel_area**0.15)
        * islands
    )
    highway = hu * rel_area**0.5 * np.exp((lon - 112.0) / 20.0) * np.where(district, 0.35, 1.0)
    highway = highway * islands
    return Geo(
        counties=counties,
        adcode=np.array([int(c.adcode) for c in counties], dtype=np.int32),
        province=tuple(c.province for c in counties),
        polygons=polygons,
        bounds=bounds,
        area=area,
        fill=fill,
        center=center,
        district=district,
        weight=weight,
        highway_weight=highway,
    )


def operator_weights(geo: Geo, op: SimOperator, base: F64) -> F64:
    w = base**op.concentration
    p = w / w.sum()
    if op.home_provinces and op.home_share > 0:
        home = np.array([prov in op.home_provinces for prov in geo.province], dtype=np.bool_)
        if not home.any():
            raise ValueError(f"{op.id}: unknown home provinces {op.home_provinces}")
        wh = np.where(home, w, 0.0)
        p = (1.0 - op.home_share) * p + op.home_share * wh / wh.sum()
    out: F64 = p / p.sum()
    return out
