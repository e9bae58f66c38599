"""The driver's search API: nearby, viewport clusters and along-route, with the same filters.

Coordinates are GCJ-02 in and out unless ``coords=wgs84``. Bad parameters get 422 with a
message naming the parameter. Answers come from the in-memory :class:`StationIndex`.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel

from chargemesh.api.search_params import (
    AVAILABLE,
    COORDS,
    MIN_KW,
    NEARBY_LIMIT,
    RADIUS_KM,
    AccessParam,
    AvailableParam,
    ConnectorParam,
    Coords,
    CoordsQuery,
    Lat,
    Lon,
    MinKw,
    NearbyLimit,
    OperatorParam,
    RadiusKm,
    Vehicle,
    to_filter,
)
from chargemesh.geo.coords import gcj02_to_wgs84, gcj02_to_wgs84_array, wgs84_to_gcj02
from chargemesh.search.filters import SearchFilter
from chargemesh.search.index import StationIndex
from chargemesh.search.queries import (
    MAX_ZOOM,
    Hit,
    PolylineError,
    along_route,
    clusters,
    decode_polyline,
    nearby,
    station_summaries,
)
from chargemesh.search.segment import Segment

#: the longest encoded route we take: the HTTP server refuses a URL of 64 KiB or more before
#: the app sees it (400 in plain text), and a polyline's characters (ASCII ``?`` to ``~``) take
#: up to three bytes each once percent-encoded, so the schema promises no more than always fits
POLYLINE_CHARS = 20_000


class StationHitOut(BaseModel):
    id: str
    name: str
    operator_id: str
    lon: float
    lat: float
    max_power_kw: float  # the best connector's
    connectors: int
    available: int  # connectors available now (status fresh)
    access_methods: list[str]  # any connector's
    highway_service_area: bool
    distance_km: float  # from the point (nearby) or from the route (route)
    compatibility_warning: str | None = None  # nearby with vehicle=: known to fail with it
    along_km: float | None = None  # route only: how far along the route


class NearbyOut(BaseModel):
    coords: Coords
    count: int
    stations: list[StationHitOut]


class ClusterProperties(BaseModel):
    kind: Literal["cluster", "station"]
    id: str
    count: int | None = None  # cluster: stations in it
    connectors: int
    available: int
    expansion_zoom: int | None = None  # cluster: where a click zooms to
    name: str | None = None  # station fields
    operator_id: str | None = None
    max_power_kw: float | None = None
    access_methods: list[str] | None = None
    highway_service_area: bool | None = None


class ClusterFeature(BaseModel):
    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: ClusterProperties


class ClustersOut(BaseModel):
    type: Literal["FeatureCollection"]
    zoom: int
    coords: Coords
    stations: int  # stations in the viewport that pass the filters
    features: list[ClusterFeature]


class RouteOut(BaseModel):
    coords: Coords
    route_km: float
    count: int
    stations: list[StationHitOut]


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


async def search_filter(
    connector: ConnectorParam = None,
    min_kw: MinKw = MIN_KW,
    available: AvailableParam = AVAILABLE,
    operator: OperatorParam = None,
    access: AccessParam = None,
) -> SearchFilter:
    return to_filter(connector, min_kw, available, operator, access)


# An async dependency: a plain ``def`` would cost every request a thread-pool hand-off.
Filters = Annotated[SearchFilter, Depends(search_filter)]


def _point_in(lon: float, lat: float, coords: Coords) -> tuple[float, float]:
    return wgs84_to_gcj02(lon, lat) if coords == "wgs84" else (lon, lat)


def _hits_out(index: StationIndex, hits: list[Any], coords: Coords, route: bool) -> list[Any]:
    out = station_summaries(index, hits)
    for s, h in zip(out, hits, strict=True):
        s["distance_km"] = round(h.distance_km, 4)
        if h.warning is not None:
            s["compatibility_warning"] = h.warning
        if route:
            s["along_km"] = round(h.along_km, 3)
    if coords == "wgs84" and out:
        lons, lats = gcj02_to_wgs84_array([s["lon"] for s in out], [s["lat"] for s in out])
        for s, lon, lat in zip(out, lons, lats, strict=True):
            s["lon"], s["lat"] = float(lon), float(lat)
    return out


def unknown_operators(index: StationIndex, f: SearchFilter) -> str | None:
    """Why a filter naming operators the registry does not know is refused (422), or None."""
    unknown = sorted(o for o in f.operators if o not in index.operator_code)
    return f"unknown operator {', '.join(map(repr, unknown))}" if unknown else None


def _check_operators(index: StationIndex, f: SearchFilter) -> None:
    reason = unknown_operators(index, f)
    if reason is not None:
        raise HTTPException(422, reason)


def nearby_json(index: StationIndex, hits: list[Hit], coords: Coords) -> bytes:
    """The nearby answer's body: ``{"coords", "count", "stations": [...]}``. In GCJ-02 without
    compatibility warnings (what a map asks at every pan), each station's JSON is written once
    and kept, and only its live count and distance are written per answer: the same bytes."""
    if coords == "gcj02" and not any(h.warning for h in hits):
        return _nearby_json_kept(index, hits)
    stations = _hits_out(index, hits, coords, route=False)
    return orjson.dumps({"coords": coords, "count": len(stations), "stations": stations})


_AVAILABLE: Final = b',"available":'
_DISTANCE: Final = b',"distance_km":'


def station_json_parts(index: StationIndex, seg: Segment, row: int) -> tuple[bytes, bytes]:
    """A station's JSON in a GCJ-02 answer, as :func:`_hits_out` writes it, up to its live
    count and from there up to its distance; written the first time and kept by the segment
    (what they hold does not change in place: a changed station lives in a new segment)."""
    parts = seg.json_parts[row]
    if parts is None:
        [station] = station_summaries(index, [Hit(seg, row)])
        station["available"], station["distance_km"] = 0, 0
        text = orjson.dumps(station)
        # a quote inside a string value is escaped: these bytes can only be the keys
        count_at = text.index(_AVAILABLE + b'0,"access_methods":') + len(_AVAILABLE)
        distance_at = text.rindex(_DISTANCE + b"0}") + len(_DISTANCE)
        parts = seg.json_parts[row] = (text[:count_at], text[count_at + 1 : distance_at])
    return parts


def _nearby_json_kept(index: StationIndex, hits: list[Hit]) -> bytes:
    parts, counts, distances = [], [], []
    for hit in hits:
        seg, row = hit.segment, hit.row
        parts.append(seg.json_parts[row] or station_json_parts(index, seg, row))
        counts.append(seg.available[row])
        distances.append(round(hit.distance_km, 4))
    # the numbers as orjson writes them, in one call each
    count_text = orjson.dumps(counts, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    distance_text = orjson.dumps(distances)[1:-1].split(b",")
    out = [b'{"coords":"gcj02","count":', b"%d" % len(hits), b',"stations":[']
    comma = b""
    for (head, tail), count, distance in zip(parts, count_text, distance_text, strict=False):
        out += (comma, head, count, tail, distance, b"}")
        comma = b","
    out.append(b"]}")
    return b"".join(out)


def nearby_answer(
    index: StationIndex,
    f: SearchFilter,
    lat: float,
    lon: float,
    radius_km: float,
    limit: int,
    coords: Coords,
    vehicle: str | None,
) -> bytes:
    """The body of a nearby answer (JSON), for validated parameters."""
    x, y = _point_in(lon, lat, coords)
    return nearby_json(index, nearby(index, x, y, radius_km, limit, f, vehicle), coords)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    parts = text.split(",")
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise HTTPException(
            422, "bbox must be four numbers: west,south,east,north (degrees)"
        ) from None
    if not all(np.isfinite([west, south, east, north])):
        raise HTTPException(422, "bbox must be four finite numbers")
    if not (-180 <= west <= 180 and -180 <= east <= 180):
        raise HTTPException(422, "bbox longitudes must lie within -180..180")
    if not (-90 <= south <= 90 and -90 <= north <= 90):
        raise HTTPException(422, "bbox latitudes must lie within -90..90")
    if west >= east or south >= north:
        raise HTTPException(422, "bbox must have west < east and south < north")
    return west, south, east, north


def search_router(index: StationIndex) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["search"])

    @router.get("/stations/nearby", response_model=NearbyOut)
    async def stations_nearby(
        f: Filters,
        lat: Lat,
        lon: Lon,
        radius_km: RadiusKm = RADIUS_KM,
        limit: NearbyLimit = NEARBY_LIMIT,
        coords: CoordsQuery = COORDS,
        vehicle: Vehicle = None,
    ) -> Response:
        """The ``limit`` nearest stations within ``radius_km`` that pass the filters, nearest
        first (great-circle distance; availability is reported, it does not reorder). With
        ``vehicle``, stations whose usable connectors are all known to fail with that vehicle
        model (the compatibility lab's flags) come last, with ``compatibility_warning``."""
        _check_operators(index, f)
        body = nearby_answer(index, f, lat, lon, radius_km, limit, coords, vehicle)
        return Response(body, media_type="application/json")

    @router.get("/map/clusters", response_model=ClustersOut)
    async def map_clusters(
        f: Filters,
        bbox: Annotated[str, Query(description="west,south,east,north in degrees")],
        zoom: Annotated[int, Query(ge=0, le=MAX_ZOOM)],
        coords: CoordsQuery = "gcj02",
    ) -> Response:
        """Clusters and single stations of a viewport at a zoom level (GeoJSON)."""
        _check_operators(index, f)
        west, south, east, north = parse_bbox(bbox)

        def answer() -> Response:
            w, s, e, n = west, south, east, north
            if coords == "wgs84":
                w, s = wgs84_to_gcj02(w, s)
                e, n = wgs84_to_gcj02(e, n)
            total, features = clusters(index, (w, s, e, n), zoom, f)
            if coords == "wgs84":
                for feat in features:
                    c = feat["geometry"]["coordinates"]
                    feat["geometry"]["coordinates"] = list(gcj02_to_wgs84(c[0], c[1]))
            body = {"type": "FeatureCollection", "zoom": zoom, "coords": coords,
                    "stations": total, "features": features}  # fmt: skip
            return _json(body)

        # a whole country's viewport is tens of milliseconds of work: off the event loop, so
        # other requests (and the other clients) go on meanwhile
        return await asyncio.to_thread(answer)

    @router.get("/route/stations", response_model=RouteOut)
    async def route_stations(
        f: Filters,
        polyline: Annotated[
            str,
            Query(
                min_length=2,
                max_length=POLYLINE_CHARS,
                pattern=r"^[?-~]+$",
                description="encoded polyline (Google's algorithm: ASCII from ? to ~)",
            ),
        ],
        corridor_km: Annotated[float, Query(gt=0, le=50)] = 5.0,
        precision: Annotated[int, Query(ge=5, le=6, description="polyline precision")] = 5,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        coords: CoordsQuery = "gcj02",
    ) -> Response:
        """Stations within ``corridor_km`` of the route, in order along it."""
        _check_operators(index, f)
        try:
            points = decode_polyline(polyline, precision)
        except PolylineError as exc:
            raise HTTPException(422, f"polyline: {exc}") from None
        if len(points) < 2:
            raise HTTPException(422, "polyline: a route needs at least two points")
        if len(points) > 20_000:
            raise HTTPException(422, "polyline: at most 20,000 points")

        def answer() -> Response:
            route = [wgs84_to_gcj02(x, y) for x, y in points] if coords == "wgs84" else points
            hits, route_km = along_route(index, route, corridor_km, limit, f)
            stations = _hits_out(index, hits, coords, route=True)
            return _json({"coords": coords, "route_km": round(route_km, 3),
                          "count": len(stations), "stations": stations})  # fmt: skip

        return await asyncio.to_thread(answer)  # a long route: off the event loop

    return router
