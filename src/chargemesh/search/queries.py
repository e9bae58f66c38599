"""Nearby, viewport clusters and along-route search over a :class:`StationIndex`.

All positions are GCJ-02 here; the API converts ``coords=wgs84`` at its edge.

* **Nearby** returns the k nearest stations within the radius that pass the filters, ordered
  by great-circle distance (nearest first). Availability does not reorder results: each
  result carries its live ``available`` count, and the ``available=true`` filter keeps only
  stations with a connector free now.
* **Clusters** group the stations in the viewport on a Web-Mercator grid of 64 px cells at the
  requested zoom; a cell holding one station is returned as that station, from
  ``SINGLE_ZOOM`` on every station is. A cluster's position is its stations' mean; its
  ``expansion_zoom`` (where a click takes the map) is two levels deeper, at most ``SINGLE_ZOOM``.
  One answer holds at most ``MAX_FEATURES``: a viewport with more is clustered as at a lower
  zoom until it fits (the whole world at zoom 22 is not 266,000 single stations).
* **Route** keeps the stations within ``corridor_km`` of an encoded polyline, ordered by how
  far along the route they lie.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Any

import numpy as np
from numpy.typing import NDArray

from chargemesh.search.filters import SearchFilter, access_names
from chargemesh.search.index import StationIndex
from chargemesh.search.segment import (
    EARTH_KM,
    Floats,
    Ints,
    Segment,
    cell_keys,
    chord_of_km,
    km_of_chord,
    km_of_chords,
    unit_point,
    unit_xyz,
)

CELLS_PER_TILE = 4  # 64 px cells on 256 px tiles
SINGLE_ZOOM = 16
#: the most features one clusters answer holds (a map shows no more; more is only a slow answer)
MAX_FEATURES = 5_000
MAX_ZOOM = 22


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a nearby 1 µs a hit
class Hit:
    segment: Segment
    row: int
    distance_km: float = 0.0
    along_km: float = 0.0
    warning: str | None = None  # the compatibility lab's, for the driver's vehicle


def station_summary(index: StationIndex, hit: Hit) -> dict[str, Any]:
    seg, row = hit.segment, hit.row
    return {
        "id": seg.ids[row],
        "name": seg.names[row],
        "operator_id": index.operator_ids[int(seg.operator[row])],
        "lon": float(seg.lon[row]),
        "lat": float(seg.lat[row]),
        "max_power_kw": float(seg.max_kw[row]),
        "connectors": int(seg.n_connectors[row]),
        "available": int(seg.available[row]),
        "access_methods": access_names(int(seg.access_any[row])),
        "highway_service_area": bool(seg.highway[row]),
    }


def station_summaries(index: StationIndex, hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """:func:`station_summary` of every hit, in order: what does not change is read once per
    station and kept (:meth:`Segment.facts`), the live count of connectors available each
    time."""
    operator_ids = index.operator_ids
    out: list[dict[str, Any]] = []
    for hit in hits:
        seg, row = hit.segment, hit.row
        sid, name, op, lon, lat, kw, connectors, access, highway = seg.facts(row)
        out.append({
            "id": sid, "name": name, "operator_id": operator_ids[op], "lon": lon, "lat": lat,
            "max_power_kw": kw, "connectors": connectors, "available": int(seg.available[row]),
            "access_methods": access_names(access), "highway_service_area": highway,
        })  # fmt: skip
    return out


# --- nearby ----------------------------------------------------------------------------------
def nearby(
    index: StationIndex,
    lon: float,
    lat: float,
    radius_km: float,
    limit: int,
    f: SearchFilter,
    vehicle: str | None = None,
) -> list[Hit]:
    point = unit_point(lon, lat)
    bound = chord_of_km(radius_km) * (1 + 1e-9)
    operators = index.operator_codes(f)
    hits: list[Hit] = []
    segments = index.segments
    for seg in tuple(segments):
        if len(seg):
            hits += _nearest_in(seg, point, bound, limit, f, operators)
    if len(segments) > 1:
        hits.sort(key=_distance)
        del hits[limit:]
    return steer(index, hits, f, vehicle) if vehicle else hits


def _distance(hit: Hit) -> float:
    return hit.distance_km


def _nearest_in(
    seg: Segment,
    point: tuple[float, float, float],
    bound: float,
    limit: int,
    f: SearchFilter,
    operators: NDArray[np.int16],
) -> list[Hit]:
    """The ``limit`` nearest stations of one segment within the chord ``bound`` that pass the
    filters, nearest first, at their great-circle distance."""
    n, plain = len(seg), f.empty
    k = min(n, limit if plain else limit * 4)
    while True:
        dist, rows = seg.tree.query(point, k=k, distance_upper_bound=bound)
        if k == 1:  # the tree answers k=1 with scalars
            dist, rows = np.atleast_1d(dist), np.atleast_1d(rows)
        # nearest first; those beyond the bound come last, at infinity
        inside = int(dist.searchsorted(np.inf))
        if plain and seg.all_live:  # every row found is kept: a few Python floats suffice
            return [
                Hit(seg, r, km_of_chord(d))
                for d, r in zip(dist[:inside].tolist(), rows[:inside].tolist(), strict=True)
            ]
        dist, rows = dist[:inside], rows[:inside].astype(np.int64, copy=False)
        keep = seg.pass_rows(rows, f, operators)
        if inside < k or k >= n or int(np.count_nonzero(keep)) >= limit:
            break
        k = min(n, k * 4)
    if not keep.all():
        dist, rows = dist[keep], rows[keep]
    km = km_of_chords(dist[:limit])  # one array op for the few kept, not one call each
    return list(map(Hit, repeat(seg), rows[:limit].tolist(), km.tolist()))


def steer(index: StationIndex, hits: list[Hit], f: SearchFilter, vehicle: str) -> list[Hit]:
    """Stations where every connector the driver could use is known to fail with the driver's
    vehicle go after the others (still in distance order), with the reason."""
    failing = index.failing_chargers(vehicle)
    if not failing:
        return hits
    codes = np.fromiter(failing, np.int32, len(failing))
    ok, warned = [], []
    for hit in hits:
        seg, row = hit.segment, hit.row
        conns = np.arange(seg.c_start[row], seg.c_start[row + 1])
        usable = conns[seg.connector_mask(conns, replace(f, available=False))]
        bad = np.isin(seg.c_charger[usable], codes)
        if len(usable) and bad.all():
            why = failing[int(seg.c_charger[usable[0]])]
            warned.append(replace(hit, warning=why))
        else:
            ok.append(hit)
    return ok + warned


# --- clusters --------------------------------------------------------------------------------
@dataclass(slots=True)
class _Cells:
    keys: Ints
    count: Ints
    connectors: Ints
    available: Ints
    lon_sum: Floats
    lat_sum: Floats
    single: list[tuple[Segment, int]]  # the station of each cell holding exactly one, else dummy


def _cells_of(seg: Segment, mask: NDArray[np.bool_], zoom: int) -> _Cells:
    rows = np.flatnonzero(mask)
    if len(rows) > len(seg) // 8:  # most of the segment: the precomputed grouping
        order, starts, keys = seg.cells(zoom, CELLS_PER_TILE)
        m = mask[order]
        if len(order) == 0:
            empty = np.zeros(0, np.int64)
            return _Cells(empty, empty, empty, empty, np.zeros(0), np.zeros(0), [])
        count = np.add.reduceat(m.astype(np.int64), starts)
        pick = np.where(m, np.arange(len(order)), -1)
        last = np.maximum.reduceat(pick, starts)
        has = count > 0
        sel = order[np.where(last >= 0, last, 0)]
        return _Cells(
            keys[has],
            count[has],
            np.add.reduceat(np.where(m, seg.n_connectors[order], 0), starts)[has],
            np.add.reduceat(np.where(m, seg.available[order], 0), starts)[has],
            np.add.reduceat(np.where(m, seg.lon[order], 0.0), starts)[has].astype(np.float64),
            np.add.reduceat(np.where(m, seg.lat[order], 0.0), starts)[has].astype(np.float64),
            [(seg, int(r)) for r in sel[has]],
        )
    keys = cell_keys(seg.lon[rows], seg.lat[rows], zoom, CELLS_PER_TILE)
    uniq, inverse = np.unique(keys, return_inverse=True)
    n = len(uniq)
    first = np.zeros(n, np.int64)
    first[inverse] = rows
    return _Cells(
        uniq,
        np.bincount(inverse, minlength=n).astype(np.int64),
        np.bincount(inverse, weights=seg.n_connectors[rows], minlength=n).astype(np.int64),
        np.bincount(inverse, weights=seg.available[rows], minlength=n).astype(np.int64),
        np.asarray(np.bincount(inverse, weights=seg.lon[rows], minlength=n), np.float64),
        np.asarray(np.bincount(inverse, weights=seg.lat[rows], minlength=n), np.float64),
        [(seg, int(r)) for r in first],
    )


def _in_bbox(seg: Segment, bbox: tuple[float, float, float, float]) -> NDArray[np.bool_]:
    west, south, east, north = bbox
    return (seg.lon >= west) & (seg.lon <= east) & (seg.lat >= south) & (seg.lat <= north)


def clusters(
    index: StationIndex, bbox: tuple[float, float, float, float], zoom: int, f: SearchFilter
) -> tuple[int, list[dict[str, Any]]]:
    """(stations matched in the viewport, GeoJSON features) for a viewport at a zoom. An answer
    holds at most :data:`MAX_FEATURES`: a viewport that would show more (the whole world at
    street level) is clustered as at a lower zoom, two levels at a time, until it fits."""
    operators = index.operator_codes(f)
    masks = [(seg, seg.station_mask(f, operators) & _in_bbox(seg, bbox)) for seg in index]
    total = sum(int(m.sum()) for _, m in masks)
    features: list[dict[str, Any]] = []
    if zoom >= SINGLE_ZOOM and total <= MAX_FEATURES:
        for seg, m in masks:
            for r in np.flatnonzero(m):
                features.append(_station_feature(index, seg, int(r)))
        return total, features
    zoom = min(zoom, SINGLE_ZOOM - 1)
    while True:
        parts = [_cells_of(seg, m, zoom) for seg, m in masks if m.any()]
        if not parts:
            return 0, []
        cells = len(np.unique(np.concatenate([p.keys for p in parts])))
        if cells <= MAX_FEATURES or zoom == 0:
            break
        zoom = max(0, zoom - 2)
    keys = np.concatenate([p.keys for p in parts])
    uniq, inverse = np.unique(keys, return_inverse=True)
    n = len(uniq)

    def total_of(name: str) -> Floats:
        values = np.concatenate([getattr(p, name) for p in parts])
        return np.asarray(np.bincount(inverse, weights=values, minlength=n), np.float64)

    count = total_of("count").astype(np.int64)
    connectors, available = total_of("connectors"), total_of("available")
    lon, lat = total_of("lon_sum") / np.maximum(count, 1), total_of("lat_sum") / count
    singles = [s for p in parts for s in p.single]
    single_of = np.zeros(n, np.int64)
    single_of[inverse] = np.arange(len(inverse))
    for i in range(n):
        if count[i] == 1:
            seg, row = singles[int(single_of[i])]
            features.append(_station_feature(index, seg, row))
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
                "properties": {
                    "kind": "cluster",
                    "id": f"c/{zoom}/{int(uniq[i])}",
                    "count": int(count[i]),
                    "connectors": int(connectors[i]),
                    "available": int(available[i]),
                    "expansion_zoom": min(zoom + 2, SINGLE_ZOOM),
                },
            }
        )
    return total, features


def _station_feature(index: StationIndex, seg: Segment, row: int) -> dict[str, Any]:
    summary = station_summary(index, Hit(seg, row))
    lon, lat = summary.pop("lon"), summary.pop("lat")
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"kind": "station", **summary},
    }


# --- route -----------------------------------------------------------------------------------
class PolylineError(ValueError):
    pass


def decode_polyline(text: str, precision: int = 5) -> list[tuple[float, float]]:
    """Google's encoded polyline (latitude first) as (lon, lat) points."""
    factor = 10.0**precision
    points: list[tuple[float, float]] = []
    lat = lon = 0
    i, n = 0, len(text)
    while i < n:
        deltas = []
        for _ in range(2):
            shift = result = 0
            while True:
                if i >= n:
                    raise PolylineError("the polyline ends in the middle of a coordinate")
                b = ord(text[i]) - 63
                i += 1
                if not 0 <= b < 64:
                    raise PolylineError(f"invalid character {text[i - 1]!r} in the polyline")
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        points.append((lon / factor, lat / factor))
    for plon, plat in points:
        if not (-180 <= plon <= 180 and -90 <= plat <= 90):
            raise PolylineError(f"the polyline leaves the globe at ({plon}, {plat})")
    return points


def encode_polyline(points: list[tuple[float, float]], precision: int = 5) -> str:
    """(lon, lat) points as Google's encoded polyline (for clients and tests)."""
    factor = 10.0**precision
    out: list[str] = []
    prev = (0, 0)
    for lon, lat in points:
        cur = (round(lat * factor), round(lon * factor))
        for value in (cur[0] - prev[0], cur[1] - prev[1]):
            v = ~(value << 1) if value < 0 else value << 1
            while v >= 0x20:
                out.append(chr((0x20 | (v & 0x1F)) + 63))
                v >>= 5
            out.append(chr(v + 63))
        prev = cur
    return "".join(out)


def _local_km(lon: Floats, lat: Floats, lon0: float, lat0: float) -> tuple[Floats, Floats]:
    k = np.pi / 180.0 * EARTH_KM
    return (lon - lon0) * k * np.cos(np.radians(lat0)), (lat - lat0) * k


def along_route(
    index: StationIndex,
    points: list[tuple[float, float]],
    corridor_km: float,
    limit: int,
    f: SearchFilter,
) -> tuple[list[Hit], float]:
    """Stations within ``corridor_km`` of the route, in order along it; and the route's
    length in km."""
    if len(points) == 1:
        points = points * 2
    lon = np.array([p[0] for p in points])
    lat = np.array([p[1] for p in points])
    # segment lengths (flat approximation per segment) and where each segment starts
    k = np.pi / 180.0 * EARTH_KM
    mid = np.radians((lat[1:] + lat[:-1]) / 2)
    seg_km = np.hypot((lon[1:] - lon[:-1]) * k * np.cos(mid), (lat[1:] - lat[:-1]) * k)
    start_km = np.r_[0.0, np.cumsum(seg_km)[:-1]]
    # sample every corridor_km along each segment; query circles that cover the corridor
    step = max(corridor_km, 0.05)
    sample_lon: list[Floats] = []
    sample_lat: list[Floats] = []
    for j in range(len(seg_km)):
        parts = max(1, int(np.ceil(seg_km[j] / step)))
        t = np.linspace(0.0, 1.0, parts + 1)
        sample_lon.append(lon[j] + (lon[j + 1] - lon[j]) * t)
        sample_lat.append(lat[j] + (lat[j + 1] - lat[j]) * t)
    slon, slat = np.concatenate(sample_lon), np.concatenate(sample_lat)
    radius = chord_of_km(float(np.hypot(corridor_km, step / 2)) * 1.01)
    xyz = unit_xyz(slon, slat)
    operators = index.operator_codes(f)
    hits: list[Hit] = []
    for seg in index:
        if len(seg) == 0:
            continue
        near = seg.tree.query_ball_point(xyz, radius)
        rows = np.unique(np.concatenate([np.zeros(0, np.int64), *map(np.asarray, near)]))
        rows = rows.astype(np.int64)
        if len(rows) == 0:
            continue
        rows = rows[seg.pass_rows(rows, f, operators)]
        if len(rows) == 0:
            continue
        # exact distance to every route segment, in a flat frame around each station
        plon, plat = seg.lon[rows][:, None], seg.lat[rows][:, None]
        ax, ay = _local_km(lon[None, :-1], lat[None, :-1], plon, plat)
        bx, by = _local_km(lon[None, 1:], lat[None, 1:], plon, plat)
        dx, dy = bx - ax, by - ay
        length2 = np.maximum(dx * dx + dy * dy, 1e-12)
        t = np.clip(-(ax * dx + ay * dy) / length2, 0.0, 1.0)
        dist = np.hypot(ax + t * dx, ay + t * dy)
        best = np.argmin(dist, axis=1)
        d = dist[np.arange(len(rows)), best]
        along = start_km[best] + t[np.arange(len(rows)), best] * seg_km[best]
        for r, dk, ak in zip(rows, d, along, strict=True):
            if dk <= corridor_km:
                hits.append(Hit(seg, int(r), float(dk), float(ak)))
    hits.sort(key=lambda h: (h.along_km, h.distance_km))
    return hits[:limit], float(seg_km.sum())
