"""One immutable slice of the index: a set of stations, their connectors as flat arrays, and a
KD-tree over the stations' positions on the unit sphere.

Only the per-connector status arrays change in place (status events); a station that changes
or goes is marked dead here and, if it still exists, lives on in a newer segment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from chargemesh.search.filters import (
    AVAILABLE,
    STANDARD_CODE,
    STANDARDS,
    STATUS_CODE,
    SearchFilter,
    access_bits,
)
from chargemesh.store.repository import IndexConnectorRow, IndexStationRow

EARTH_KM = 6371.0088
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
Bools = NDArray[np.bool_]


def unit_xyz(lon: Floats, lat: Floats) -> Floats:
    lam, phi = np.radians(lon), np.radians(lat)
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def unit_point(lon: float, lat: float) -> tuple[float, float, float]:
    """One position on the unit sphere, as :func:`unit_xyz` places many (a query's point:
    plain floats, without the cost of arrays of one)."""
    lam, phi = math.radians(lon), math.radians(lat)
    cos_phi = math.cos(phi)
    return cos_phi * math.cos(lam), cos_phi * math.sin(lam), math.sin(phi)


def chord_of_km(km: float) -> float:
    return 2.0 * math.sin(min(km / EARTH_KM, math.pi) / 2.0)


def km_of_chord(chord: float) -> float:
    """The great-circle distance of a chord of the unit sphere (a nearby answer has a few:
    plain floats, no arrays to build)."""
    return 2.0 * EARTH_KM * math.asin(min(chord * 0.5, 1.0))


def km_of_chords(chords: Floats) -> Floats:
    """:func:`km_of_chord` of each chord."""
    return 2.0 * EARTH_KM * np.arcsin(np.minimum(chords * 0.5, 1.0))


def key_hash(text: str) -> int:
    """A 64-bit key for a connector id (Python's string hash: stable within one process)."""
    return hash(text)


def gather(starts: Ints, ends: Ints) -> tuple[Ints, Ints]:
    """The concatenated ranges ``starts[i]:ends[i]`` and, for each element, its range's i."""
    lengths = ends - starts
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(total) - np.repeat(offsets, lengths) + np.repeat(starts, lengths), owner


#: (id, name, operator code, lon, lat, max kW, connectors, access bits, highway service area)
StationFacts = tuple[str, str, int, float, float, float, int, int, bool]


@dataclass(eq=False)
class Segment:
    ids: list[str]
    names: list[str]
    tariffs: list[str | None]
    operator: NDArray[np.int16]  # index into the index's operator table
    lon: Floats
    lat: Floats
    highway: Bools
    # connectors, grouped by station: station i owns c_start[i]:c_start[i+1]
    c_start: Ints
    c_station: NDArray[np.int32]
    c_standard: NDArray[np.int8]
    c_kw: NDArray[np.float32]
    c_access: NDArray[np.uint8]
    c_status: NDArray[np.int8]
    c_at: Floats  # epoch seconds the status was observed; NaN if never
    c_hash: Ints  # key_hash of each connector id
    c_charger: NDArray[np.int32]  # its pile's (manufacturer, model, firmware), as a code
    live: Bools = field(init=False)
    all_live: bool = field(init=False)  # no station retired yet: a plain search keeps every row
    c_available: Bools = field(init=False)  # available and fresh, maintained in place
    available: NDArray[np.int32] = field(init=False)  # per station, maintained in place
    n_connectors: NDArray[np.int32] = field(init=False)
    max_kw: NDArray[np.float32] = field(init=False)
    #: per station and connector standard, its strongest connector of that standard (-1: none)
    kw_by_standard: NDArray[np.float32] = field(init=False)
    access_any: NDArray[np.uint8] = field(init=False)
    tree: cKDTree = field(init=False)
    position: dict[str, int] = field(init=False)
    #: what a search answer says of a station that does not change in place, read off the
    #: columns the first time the station is answered (:meth:`facts`)
    _facts: list[StationFacts | None] = field(init=False)
    #: the same as the JSON of an answer, split around the live count and the distance (kept
    #: by the API's writer, ``api/search.py: station_json_parts``)
    json_parts: list[tuple[bytes, bytes] | None] = field(init=False)
    _hashes: Ints = field(init=False)
    _hash_rows: Ints = field(init=False)
    _cells: dict[int, tuple[Ints, Ints, Ints]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.live = np.ones(n, np.bool_)
        self.all_live = True
        self.position = {sid: i for i, sid in enumerate(self.ids)}
        self._facts = [None] * n
        self.json_parts = [None] * n
        self.tree = cKDTree(unit_xyz(self.lon, self.lat) if n else np.zeros((0, 3)))
        self.n_connectors = np.diff(self.c_start).astype(np.int32)
        self.c_available = np.zeros(len(self.c_station), np.bool_)
        self.available = np.zeros(n, np.int32)
        self.kw_by_standard = np.full((n, len(STANDARDS)), -1.0, np.float32)
        self.access_any = np.zeros(n, np.uint8)
        if len(self.c_station):
            np.maximum.at(self.kw_by_standard, (self.c_station, self.c_standard), self.c_kw)
            np.bitwise_or.at(self.access_any, self.c_station, self.c_access)
        # the strongest connector of any standard; 0 for a station without connectors
        self.max_kw = np.maximum(self.kw_by_standard.max(axis=1, initial=-1.0), 0.0).astype(
            np.float32
        )
        order = np.argsort(self.c_hash, kind="stable")
        self._hashes, self._hash_rows = self.c_hash[order], order

    def __len__(self) -> int:
        return len(self.ids)

    def retire(self, row: int) -> None:
        """The station is gone, or lives on in a newer segment."""
        self.live[row] = False
        self.all_live = False

    def facts(self, row: int) -> StationFacts:
        """The station's unchanging part of a search answer, as Python values: an answer of
        20 stations then reads no column but the live count."""
        found = self._facts[row]
        if found is None:
            found = self._facts[row] = (
                self.ids[row], self.names[row], int(self.operator[row]), float(self.lon[row]),
                float(self.lat[row]), float(self.max_kw[row]), int(self.n_connectors[row]),
                int(self.access_any[row]), bool(self.highway[row]),
            )  # fmt: skip
        return found

    # --- live status ------------------------------------------------------------------------
    def refresh_available(self, now: float, freshness_s: Floats) -> None:
        """Recompute which connectors count as available now (status fresh enough)."""
        limit = now - freshness_s[self.operator[self.c_station]]
        self.c_available = (self.c_status == AVAILABLE) & (self.c_at >= limit)
        self.available = np.bincount(
            self.c_station, weights=self.c_available, minlength=len(self.ids)
        ).astype(np.int32)

    def connector_row(self, connector_id: str, station: int) -> int | None:
        """The connector's row, if it belongs to station ``station`` (which also rules out a
        hash collision with another station's connector)."""
        h = key_hash(connector_id)
        at = int(np.searchsorted(self._hashes, h))
        while at < len(self._hashes) and self._hashes[at] == h:
            row = int(self._hash_rows[at])
            if self.c_station[row] == station:
                return row
            at += 1
        return None

    def set_status(self, row: int, status: str, at: float, fresh: bool) -> None:
        self.c_status[row] = STATUS_CODE.get(status, STATUS_CODE["unknown"])
        self.set_status_at(row, at, fresh)

    def set_status_at(self, row: int, at: float, fresh: bool) -> None:
        self.c_at[row] = at
        now_available = fresh and self.c_status[row] == AVAILABLE
        if now_available != bool(self.c_available[row]):
            self.c_available[row] = now_available
            self.available[self.c_station[row]] += 1 if now_available else -1

    # --- filters ------------------------------------------------------------------------------
    def connector_mask(self, rows: Ints | None, f: SearchFilter) -> Bools:
        """Which connectors (all, or ``rows``) pass the connector filters."""

        def pick(values: NDArray[Any]) -> NDArray[Any]:
            return values if rows is None else values[rows]

        mask = np.ones(len(self.c_station) if rows is None else len(rows), np.bool_)
        if f.standards:
            standards = pick(self.c_standard)
            wanted = np.zeros(len(standards), np.bool_)
            for s in f.standards:  # a few == passes: far cheaper than np.isin on millions
                wanted |= standards == STANDARD_CODE[s.value]
            mask &= wanted
        if f.min_kw > 0:
            mask &= pick(self.c_kw) >= f.min_kw
        if f.access:
            bits = f.access_mask
            mask &= (pick(self.c_access) & bits) == bits
        if f.available:
            mask &= pick(self.c_available)
        return mask

    def station_mask(self, f: SearchFilter, operators: NDArray[np.int16]) -> Bools:
        """Every station of the segment: alive and passing the filters."""
        mask = self.live.copy()
        if f.operators:
            mask &= np.isin(self.operator, operators)
        if f.available and not (f.standards or f.min_kw > 0 or f.access):
            return mask & (self.available > 0)  # kept per station, in place
        if f.on_connectors:
            ok = self.connector_mask(None, f)
            has = self.n_connectors > 0
            any_ok = np.zeros(len(self.ids), np.bool_)
            if has.any():  # reduceat needs non-empty runs: stations without connectors skipped
                any_ok[has] = np.logical_or.reduceat(ok, self.c_start[:-1][has])
            mask &= any_ok
        return mask

    def pass_rows(self, rows: Ints, f: SearchFilter, operators: NDArray[np.int16]) -> Bools:
        """Which of the stations ``rows`` are alive and pass the filters.

        The connector filters are first read off per-station columns (the strongest connector
        of each standard, the access methods of any connector, the connectors available now).
        That is exact for one kind of condition (a standard with a power, one access method,
        availability); with more, each must hold on the same connector, so the stations that
        pass the columns are checked connector by connector."""
        keep = self.live[rows]
        if f.operators:
            keep &= np.isin(self.operator[rows], operators)
        if not (f.on_connectors and len(rows)):
            return keep
        conditions = 0
        if f.standards:
            codes = [STANDARD_CODE[s.value] for s in f.standards]
            strongest = self.kw_by_standard[rows, codes[0]]
            for code in codes[1:]:
                strongest = np.maximum(strongest, self.kw_by_standard[rows, code])
            keep &= strongest >= f.min_kw  # -1 where the station has none of them
            conditions += 1
        elif f.min_kw > 0:
            keep &= self.max_kw[rows] >= f.min_kw
            conditions += 1
        if f.access:
            bits = f.access_mask
            keep &= (self.access_any[rows] & bits) == bits
            conditions += len(f.access)
        if f.available:
            keep &= self.available[rows] > 0
            conditions += 1
        if conditions > 1 and keep.any():
            passed = rows[keep]
            conns, owner = gather(self.c_start[passed], self.c_start[passed + 1])
            ok = self.connector_mask(conns, f)
            keep[keep] = np.bincount(owner[ok], minlength=len(passed)) > 0
        return keep

    # --- clusters -----------------------------------------------------------------------------
    def cells(self, zoom: int, cells_per_tile: int) -> tuple[Ints, Ints, Ints]:
        """For a zoom: the stations ordered by grid cell, each run's start and its cell key."""
        cached = self._cells.get(zoom)
        if cached is None:
            keys = cell_keys(self.lon, self.lat, zoom, cells_per_tile)
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
            cached = (order, starts, sorted_keys[starts])
            if len(self.ids) == 0:
                cached = (order, np.zeros(0, np.int64), np.zeros(0, np.int64))
            self._cells[zoom] = cached
        return cached


def cell_keys(lon: Floats, lat: Floats, zoom: int, cells_per_tile: int) -> Ints:
    """Web-Mercator grid cells at a zoom (``cells_per_tile`` per 256 px tile side)."""
    side = float(2**zoom * cells_per_tile)
    x = (lon + 180.0) / 360.0
    s = np.sin(np.radians(np.clip(lat, -85.05, 85.05)))
    y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * np.pi)
    cx = np.clip((x * side).astype(np.int64), 0, int(side) - 1)
    cy = np.clip((y * side).astype(np.int64), 0, int(side) - 1)
    return np.asarray((cx << 32) | cy, np.int64)


class SegmentBuilder:
    """Builds a segment from store rows: the stations first, then connector pages as they are
    read (kept as compact columns, so a national build never holds millions of row tuples)."""

    def __init__(
        self,
        stations: Sequence[IndexStationRow],
        operator_code: dict[str, int],
        charger_code: dict[tuple[str | None, str | None, str | None], int],
    ):
        self.rows = sorted(stations, key=lambda r: r[0])
        self.position = {r[0]: i for i, r in enumerate(self.rows)}
        self.operator_code = operator_code
        self.charger_code = charger_code
        self._columns: list[tuple[NDArray[Any], ...]] = []

    def add_connectors(self, page: Sequence[IndexConnectorRow]) -> None:
        position = self.position
        kept = [(position[c[1]], c) for c in page if c[1] in position]
        m = len(kept)
        unknown_standard, unknown_status = STANDARD_CODE["unknown"], STATUS_CODE["unknown"]
        self._columns.append(
            (
                np.fromiter((p for p, _ in kept), np.int32, m),
                np.fromiter(
                    (STANDARD_CODE.get(c[2], unknown_standard) for _, c in kept), np.int8, m
                ),
                np.fromiter((c[3] for _, c in kept), np.float32, m),
                np.fromiter((access_bits(c[4]) for _, c in kept), np.uint8, m),
                np.fromiter((STATUS_CODE.get(c[5], unknown_status) for _, c in kept), np.int8, m),
                np.fromiter(
                    (c[6].timestamp() if c[6] is not None else np.nan for _, c in kept),
                    np.float64,
                    m,
                ),
                np.fromiter((key_hash(c[0]) for _, c in kept), np.int64, m),
                np.fromiter((self._charger(c[7], c[8], c[9]) for _, c in kept), np.int32, m),
            )
        )

    def _charger(self, manufacturer: str | None, model: str | None, firmware: str | None) -> int:
        key = (manufacturer, model, firmware)
        code = self.charger_code.get(key)
        if code is None:
            code = self.charger_code[key] = len(self.charger_code)
        return code

    def build(self) -> Segment:
        rows, n = self.rows, len(self.rows)
        dtypes = (np.int32, np.int8, np.float32, np.uint8, np.int8, np.float64, np.int64, np.int32)
        cols = [
            np.concatenate([c[i] for c in self._columns]) if self._columns else np.zeros(0, t)
            for i, t in enumerate(dtypes)
        ]
        order = np.argsort(cols[0], kind="stable")
        station, standard, kw, access, status, at, hashes, charger = (c[order] for c in cols)
        return Segment(
            ids=[r[0] for r in rows],
            names=[r[2] for r in rows],
            tariffs=[r[6] for r in rows],
            operator=np.fromiter((self.operator_code[r[1]] for r in rows), np.int16, n),
            lon=np.fromiter((r[3] for r in rows), np.float64, n),
            lat=np.fromiter((r[4] for r in rows), np.float64, n),
            highway=np.fromiter((r[5] for r in rows), np.bool_, n),
            c_start=np.searchsorted(station, np.arange(n + 1)).astype(np.int64),
            c_station=station.astype(np.int32),
            c_standard=standard.astype(np.int8),
            c_kw=kw.astype(np.float32),
            c_access=access.astype(np.uint8),
            c_status=status.astype(np.int8),
            c_at=at.astype(np.float64),
            c_hash=hashes.astype(np.int64),
            c_charger=charger.astype(np.int32),
        )
