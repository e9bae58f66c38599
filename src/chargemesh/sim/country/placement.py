"""Coordinates for the stations, inside their county and apart from each other.

Within its county, a station in a county, city or banner lies with probability 0.75 near the county
seat (normal around the table's representative point, σ = 0.08·√area), else anywhere; in a
district with probability 0.3 near the centre (σ = 0.25·√area), else anywhere; highway sites
anywhere. Points are rejection-sampled inside the county's outline (the shipped simplified one)
and kept only if :meth:`CountyTable.lookup` gives that county back, also after the round trip
through the protocol's datum and rounding (OCPI: WGS-84, 7 decimals). No two stations lie within
:data:`MIN_SEPARATION_M` (60 m) of each other, except the aggregator's copies, which lie 1–10 m
from their original: a proximity merge rule (< 50 m) can only ever join true duplicates. (The
densest districts fill up above scale ≈ 2; stations that still find no room after 30 rounds are
left where they are, and ``ground_truth()["distinct"]["close_pairs"]`` counts the pairs closer
than 60 m — 0 at scale 1.)
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely

from chargemesh.geo.coords import gcj02_to_wgs84_array, wgs84_to_gcj02_array
from chargemesh.geo.counties import CountyTable
from chargemesh.sim.country.arrays import F64, I32, I64, B
from chargemesh.sim.country.columns import Country
from chargemesh.sim.country.geography import Geo

#: Distinct stations are at least this far apart; an aggregator's copy is within 10 m.
MIN_SEPARATION_M: Final = 60.0
_METRES_PER_DEGREE: Final = 111_320.0
#: Spacing is checked on the plane x = lon·cos(18°), y = lat (degrees). ``lon·cos(lat)`` per
#: point is not a local metric: two stations 14 m apart in latitude gain a spurious
#: lon·Δcos(lat) of ~17 m in x, so pairs 48 m apart passed a 60 m check. With one factor for
#: the whole country, east-west distances are never overestimated north of 18° N (the
#: southernmost county's latitude): stations are at least MIN_SEPARATION_M apart everywhere.
_SPACING_COS: Final = float(np.cos(np.radians(18.0)))
_MAX_ROUNDS: Final = 60
#: Rounds of re-placing stations that are too close together before giving up on the spacing.
_SPACING_ROUNDS: Final = 30


def _sample_in_county(
    rng: np.random.Generator, geo: Geo, c: int, n: int, clustered: F64
) -> tuple[F64, F64]:
    """``n`` points inside county ``c``; point ``j`` is near the seat with prob. clustered[j]."""
    poly = geo.polygons[c]
    west, south, east, north = geo.bounds[c]
    sigma_scale = 0.25 if geo.district[c] else 0.08
    sigma = max(sigma_scale * math.sqrt(geo.area[c]), 0.004)
    cx, cy = geo.center[c]
    xs = np.empty(n, dtype=np.float64)
    ys = np.empty(n, dtype=np.float64)
    todo = np.arange(n)
    for _ in range(_MAX_ROUNDS * 4):
        if todo.size == 0:
            break
        near = rng.random(todo.size) < clustered[todo]
        m = todo.size
        gx = rng.normal(cx, sigma, m)
        gy = rng.normal(cy, sigma, m)
        # uniform candidates: several per point, enough for the outline's fill of its bbox
        per = min(math.ceil(1.5 / max(geo.fill[c], 1e-3)) + 2, 2000)
        ux = rng.uniform(west, east, (m, per))
        uy = rng.uniform(south, north, (m, per))
        inside_u = shapely.contains_xy(poly, ux, uy)
        first = np.argmax(inside_u, axis=1)
        has_u = inside_u[np.arange(m), first]
        x = np.where(near, gx, ux[np.arange(m), first])
        y = np.where(near, gy, uy[np.arange(m), first])
        ok = np.where(near, shapely.contains_xy(poly, gx, gy), has_u)
        xs[todo[ok]] = x[ok]
        ys[todo[ok]] = y[ok]
        todo = todo[~ok]
    if todo.size:  # never seen; the representative point is inside by construction
        xs[todo], ys[todo] = cx, cy
    return xs, ys


def _as_wire(lon: F64, lat: F64, ocpi: B) -> tuple[F64, F64]:
    """The GCJ-02 point the platform will read back: OCPI's WGS-84 at 7 decimals, converted."""
    lon2, lat2 = lon.copy(), lat.copy()
    if ocpi.any():
        wl, wa = gcj02_to_wgs84_array(lon[ocpi], lat[ocpi])
        gl, ga = wgs84_to_gcj02_array(np.round(wl, 7), np.round(wa, 7))
        lon2[ocpi], lat2[ocpi] = gl, ga
    return lon2, lat2


def close_pairs(country: Country, metres: float = MIN_SEPARATION_M) -> int:
    """Pairs of distinct stations (aggregator copies left out) closer than ``metres``."""
    real = np.flatnonzero(~country.station_is_copy)
    lon, lat = country.station_lon[real], country.station_lat[real]
    points = shapely.points(lon * _SPACING_COS, lat)
    a, b = shapely.STRtree(points).query(
        points, predicate="dwithin", distance=metres / _METRES_PER_DEGREE
    )
    return int((a < b).sum())


class _Spacing:
    """Finds stations closer than ``metres`` to another, as points move round after round.

    The first check builds an STRtree over every point; later checks query only the points moved
    since (against the tree, ignoring the stale entries of moved points, and among all points
    ever moved), so that a round costs in proportion to the points it moved."""

    def __init__(self, metres: float) -> None:
        # Distances on the plane x = lon·cos(18°), y = lat, in degrees (see _SPACING_COS).
        self.distance = metres / _METRES_PER_DEGREE
        self.tree: Any = None
        self.moved: B = np.zeros(0, dtype=np.bool_)

    @staticmethod
    def _points(lon: F64, lat: F64) -> npt.NDArray[np.object_]:
        out: npt.NDArray[np.object_] = shapely.points(lon * _SPACING_COS, lat)
        return out

    def _later_of_pairs(self, which: npt.NDArray[np.intp], lon: F64, lat: F64) -> I64:
        points = self._points(lon[which], lat[which])
        a, b = shapely.STRtree(points).query(points, predicate="dwithin", distance=self.distance)
        out: I64 = which[b[a < b]].astype(np.int64)
        return out

    def too_close(self, lon: F64, lat: F64, moved: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        """Points to move again: the later of each too-close pair (a moved one, after the first
        call)."""
        if self.tree is None:
            self.moved = np.zeros(lon.size, dtype=np.bool_)
            self.tree = shapely.STRtree(self._points(lon, lat))
            everyone = np.arange(lon.size, dtype=np.intp)
            return np.unique(self._later_of_pairs(everyone, lon, lat)).astype(np.intp)
        self.moved[moved] = True
        a, b = self.tree.query(
            self._points(lon[moved], lat[moved]), predicate="dwithin", distance=self.distance
        )
        against_fixed = moved[a[~self.moved[b]]]
        among_moved = self._later_of_pairs(np.flatnonzero(self.moved), lon, lat)
        return np.union1d(against_fixed, among_moved).astype(np.intp)


def place(
    rng: np.random.Generator,
    geo: Geo,
    table: CountyTable,
    county: npt.NDArray[np.intp],
    clustered: F64,
    ocpi: B,
) -> tuple[F64, F64]:
    """Coordinates (GCJ-02, 6 decimals) for stations in ``county``: inside the county as the
    table's lookup sees it after the wire round trip, and at least MIN_SEPARATION_M apart as long
    as the counties have room (``ground_truth`` counts the ``close_pairs`` left)."""
    n = county.size
    lon = np.zeros(n, dtype=np.float64)
    lat = np.zeros(n, dtype=np.float64)
    spacing = _Spacing(MIN_SEPARATION_M)
    todo = np.arange(n, dtype=np.intp)
    for round_no in range(_MAX_ROUNDS):
        if todo.size == 0:
            return lon, lat
        order = todo[np.argsort(county[todo], kind="stable")]
        cs, starts = np.unique(county[order], return_index=True)
        ends = np.append(starts[1:], order.size)
        for c, s, e in zip(cs.tolist(), starts.tolist(), ends.tolist(), strict=True):
            idx = order[s:e]
            x, y = _sample_in_county(rng, geo, c, idx.size, clustered[idx])
            lon[idx], lat[idx] = np.round(x, 6), np.round(y, 6)
        wl, wa = _as_wire(lon[todo], lat[todo], ocpi[todo])
        found = table.lookup(wl, wa)
        wrong = todo[found != geo.adcode[county[todo]]]
        if round_no < _SPACING_ROUNDS:
            todo = np.union1d(wrong, spacing.too_close(lon, lat, todo)).astype(np.intp)
        else:  # a county too full to keep them apart (scale ≳ 2): accept what is left
            todo = wrong
    raise RuntimeError(f"could not place {todo.size} stations inside their county")


def place_copies(
    rng: np.random.Generator,
    table: CountyTable,
    lon: F64,
    lat: F64,
    adcode: I32,
    ocpi: B,
) -> tuple[F64, F64]:
    """Points 1–10 m from (lon, lat), still in the same county after the wire round trip."""
    n = lon.size
    out_lon, out_lat = lon.copy(), lat.copy()
    todo = np.arange(n, dtype=np.intp)
    for _ in range(_MAX_ROUNDS):
        if todo.size == 0:
            break
        dist = rng.uniform(1.0, 10.0, todo.size)
        angle = rng.uniform(0.0, 2 * math.pi, todo.size)
        dlat = dist * np.sin(angle) / _METRES_PER_DEGREE
        dlon = dist * np.cos(angle) / (_METRES_PER_DEGREE * np.cos(np.radians(lat[todo])))
        out_lon[todo] = np.round(lon[todo] + dlon, 6)
        out_lat[todo] = np.round(lat[todo] + dlat, 6)
        wl, wa = _as_wire(out_lon[todo], out_lat[todo], ocpi[todo])
        todo = todo[table.lookup(wl, wa) != adcode[todo]]
    out_lon[todo], out_lat[todo] = lon[todo], lat[todo]
    return out_lon, out_lat
