"""Merging across feeds: one physical station listed by several operators' feeds becomes one.

A pass over the live registry, run after syncs. Two listings of *different* operators are linked
by the first of these rules that holds (cheapest and strongest first; thresholds in
:class:`MergeRules`):

1. ``source_ref`` — the same station reference: both feeds give the station the same id
   (``source_id``, compared trimmed and case-insensitively: an aggregator reselling a partner's
   station keeps the partner's StationID or Location id). Only ids of at least
   ``min_source_ref`` characters count (short ids such as "1" or "S12" are shared by chance),
   and only between listings less than ``corroborate_m`` apart.
2. ``name_address`` — the same normalised name *and* the same normalised address (NFKC, so
   full-width characters become half-width; case folded; spaces and punctuation dropped), both
   non-empty, less than ``corroborate_m`` apart (the same street address exists in many cities).
3. ``nearby`` — less than ``nearby_m`` apart (geodesic, on WGS-84) *and* the same connector
   signature: the multiset of (standard, power rounded to ``power_step_kw``) of the station's
   connectors. A station without connectors is never merged by this rule.

Links are taken in order — rule, then distance, then ids — and join their listings' groups
unless the two groups already hold listings of a common operator: a group holds at most one
listing per operator, so an operator's own listings are never merged, even through a third
feed, and a listing near two of another operator's stations joins the closer one.

Each group's canonical listing (the one shown) is chosen by, in order: an operator not named a
reseller in ``MergeRules.resellers``; the operator whose listings are merged with the fewest
other operators (a reseller's listings meet many networks, an owner's meet only its resellers);
the operator with fewer live stations (an aggregator lists more than any network it resells);
the smallest station id. The pass is a pure function of the registry: running it again changes
nothing, and a listing that no longer matches is un-merged.

Scale: candidate pairs come from a 3-D grid over earth-centred coordinates with cells the size
of the rule's radius, joined with sorted arrays, so the work grows with the number of stations,
not its square.
"""

from __future__ import annotations

import logging
import math
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray

from chargemesh.geo.coords import gcj02_to_wgs84_array
from chargemesh.store import Store
from chargemesh.store.repository import (
    NAME_ADDRESS,
    NEARBY,
    SELF,
    SOURCE_REF,
    MergeCandidates,
    StationSource,
    StationSourcesChange,
)

__all__ = [
    "RULES",
    "Link",
    "MergePlan",
    "MergeReport",
    "MergeRules",
    "connector_signature",
    "find_links",
    "merge_stations",
    "normalise_text",
    "plan_merge",
]

log = logging.getLogger(__name__)

RULES: Final = (SOURCE_REF, NAME_ADDRESS, NEARBY)  # strongest first

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]

# WGS-84 ellipsoid, for earth-centred (ECEF) coordinates.
_A: Final = 6378137.0
_E2: Final = 6.69437999014e-3
# Grid cell indices are packed 18 bits per axis; the offset keeps them positive.
_BITS: Final = 18
_OFFSET: Final = 1 << (_BITS - 1)
# Half of the 26 neighbouring cells: each unordered pair of cells is visited once.
_HALF_NEIGHBOURS: Final = tuple(
    (dx, dy, dz)
    for dx in (-1, 0, 1)
    for dy in (-1, 0, 1)
    for dz in (-1, 0, 1)
    if (dx, dy, dz) > (0, 0, 0)
)
_NOT_WORD: Final = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class MergeRules:
    nearby_m: float = 50.0  # rule 3: closer than this, with the same connectors
    corroborate_m: float = 2000.0  # rules 1 and 2 also need the listings this close
    min_source_ref: int = 6  # rule 1: shorter station ids are shared by chance
    power_step_kw: float = 1.0  # connector power is compared rounded to this
    resellers: frozenset[str] = frozenset()  # operators known to list others' stations


@dataclass(frozen=True, slots=True)
class Link:
    """Two listings (indices into the candidates) a rule says are one station."""

    a: int
    b: int
    rule: str
    metres: float


@dataclass(slots=True)
class MergePlan:
    sources: list[StationSource]  # one row per listing of every group
    groups: int  # physical stations listed by more than one feed
    links: dict[str, int] = field(default_factory=dict)  # links that joined groups, per rule
    refused: int = 0  # links refused: both groups held a listing of one operator


@dataclass(slots=True)
class MergeReport:
    stations: int  # live listings
    groups: int
    merged: int  # listings shown through another canonical listing
    links: dict[str, int]
    refused: int
    change: StationSourcesChange
    seconds: float

    @property
    def physical(self) -> int:
        return self.stations - self.merged


# ----------------------------------------------------------------------------- comparisons


def normalise_text(text: str | None) -> str:
    """``text`` for comparison: NFKC (full-width → half-width), case folded, and only letters
    and digits kept (spaces, punctuation and symbols dropped)."""
    if not text:
        return ""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())


def _source_ref(source_id: str, min_length: int) -> str:
    ref = unicodedata.normalize("NFKC", source_id).strip().casefold()
    return ref if len(ref) >= min_length else ""


def connector_signature(mix: Sequence[tuple[str, float, int]], power_step_kw: float = 1.0) -> str:
    """The connectors as a comparable text: ``standard:power×count`` sorted, power rounded to
    ``power_step_kw``; ``""`` for a station without connectors."""
    counts: dict[tuple[str, float], int] = defaultdict(int)
    for standard, power_kw, n in mix:
        step = math.floor(power_kw / power_step_kw + 0.5)
        counts[(standard, round(step * power_step_kw, 3))] += n
    return ";".join(f"{s}:{p:g}x{n}" for (s, p), n in sorted(counts.items()))


def _codes(values: Sequence[str]) -> Ints:
    """Each distinct non-empty value as an integer; ``""`` is -1."""
    index: dict[str, int] = {}
    return np.fromiter(
        (index.setdefault(v, len(index)) if v else -1 for v in values),
        dtype=np.int64,
        count=len(values),
    )


def _ecef(lons: Sequence[float], lats: Sequence[float]) -> Floats:
    """Earth-centred coordinates in metres (n × 3) of GCJ-02 points, through WGS-84."""
    wlon, wlat = gcj02_to_wgs84_array(np.asarray(lons, np.float64), np.asarray(lats, np.float64))
    lam, phi = np.radians(wlon), np.radians(wlat)
    sin_phi = np.sin(phi)
    n = _A / np.sqrt(1.0 - _E2 * sin_phi * sin_phi)
    return np.stack(
        (n * np.cos(phi) * np.cos(lam), n * np.cos(phi) * np.sin(lam), n * (1.0 - _E2) * sin_phi),
        axis=1,
    )


def _expand(src: Ints, lo: Ints, hi: Ints, order: Ints) -> tuple[Ints, Ints]:
    """Pairs (src[k], order[p]) for every p in lo[k]..hi[k]-1."""
    counts = hi - lo
    keep = counts > 0
    src, lo, counts = src[keep], lo[keep], counts[keep]
    if not len(counts):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.cumsum(counts) - counts
    where = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(lo - starts, counts)
    return np.repeat(src, counts), order[where]


def _close_pairs(
    xyz: Floats, key: Ints, operator: Ints, radius: float
) -> tuple[Ints, Ints, Floats]:
    """Pairs ``a < b`` of listings with the same ``key`` (>= 0), of different operators, less
    than ``radius`` metres apart (straight line, which at these distances is the geodesic)."""
    n_ops = int(operator.max()) + 1 if len(operator) else 1
    # Only keys held by two operators or more can link anything.
    valid = key >= 0
    combo = np.unique(key[valid] * n_ops + operator[valid])
    shared_keys, per_key = np.unique(combo // n_ops, return_counts=True)
    shared = shared_keys[per_key > 1]
    sel = np.flatnonzero(valid & np.isin(key, shared))
    empty = np.empty(0, np.int64)
    if len(sel) < 2:
        return empty, empty, np.empty(0, np.float64)
    cell_xyz = np.floor(xyz[sel] / radius).astype(np.int64) + _OFFSET
    cell = (cell_xyz[:, 0] << (2 * _BITS)) | (cell_xyz[:, 1] << _BITS) | cell_xyz[:, 2]
    cells, cell_rank = np.unique(cell, return_inverse=True)
    sel_key = key[sel]
    bucket = sel_key * len(cells) + cell_rank
    order = np.argsort(bucket, kind="stable").astype(np.int64)
    sorted_bucket = bucket[order]
    m = len(sel)
    # Within one bucket (same key, same cell): each later member of the run.
    run_end = np.searchsorted(sorted_bucket, sorted_bucket, side="right").astype(np.int64)
    parts = [_expand(order, np.arange(1, m + 1, dtype=np.int64), run_end, order)]
    # With the neighbouring cells' buckets of the same key.
    everyone = np.arange(m, dtype=np.int64)
    for dx, dy, dz in _HALF_NEIGHBOURS:
        there = cell + ((dx << (2 * _BITS)) + (dy << _BITS) + dz)
        rank = np.minimum(np.searchsorted(cells, there), len(cells) - 1)
        found = cells[rank] == there
        if not found.any():
            continue
        target = sel_key[found] * len(cells) + rank[found]
        lo = np.searchsorted(sorted_bucket, target, side="left").astype(np.int64)
        hi = np.searchsorted(sorted_bucket, target, side="right").astype(np.int64)
        parts.append(_expand(everyone[found], lo, hi, order))
    a = sel[np.concatenate([p[0] for p in parts])]
    b = sel[np.concatenate([p[1] for p in parts])]
    metres = np.linalg.norm(xyz[a] - xyz[b], axis=1)
    keep = (metres < radius) & (operator[a] != operator[b])
    a, b, metres = a[keep], b[keep], metres[keep]
    return np.minimum(a, b), np.maximum(a, b), metres


# ----------------------------------------------------------------------------- the pass


def find_links(candidates: MergeCandidates, rules: MergeRules = MergeRules()) -> list[Link]:
    """Every pair of listings some rule links, strongest rule first, then closest first."""
    a, b, rank, metres = _links(candidates, rules, _codes(candidates.operator_ids))
    return [
        Link(int(i), int(j), RULES[r], float(d))
        for i, j, r, d in zip(a, b, rank, metres, strict=True)
    ]


def _links(
    candidates: MergeCandidates, rules: MergeRules, operator: Ints
) -> tuple[Ints, Ints, Ints, Floats]:
    xyz = _ecef(candidates.lons, candidates.lats)
    signatures: dict[tuple[tuple[str, float, int], ...], str] = {}  # stations share mixes
    for mix in candidates.connector_mix:
        if mix not in signatures:
            signatures[mix] = connector_signature(mix, rules.power_step_kw)
    refs = [_source_ref(s, rules.min_source_ref) for s in candidates.source_ids]
    places = [
        f"{name}\x1f{address}" if name and address else ""
        for name, address in zip(
            map(normalise_text, candidates.names),
            map(normalise_text, candidates.addresses),
            strict=True,
        )
    ]
    kinds = [signatures[m] for m in candidates.connector_mix]
    keys = (  # in the order of RULES
        (_codes(refs), rules.corroborate_m),
        (_codes(places), rules.corroborate_m),
        (_codes(kinds), rules.nearby_m),
    )
    found = [_close_pairs(xyz, key, operator, radius) for key, radius in keys]
    a = np.concatenate([f[0] for f in found])
    b = np.concatenate([f[1] for f in found])
    metres = np.concatenate([f[2] for f in found])
    rank = np.concatenate([np.full(len(f[0]), r, np.int64) for r, f in enumerate(found)])
    order = np.lexsort((b, a, metres, rank))
    return a[order], b[order], rank[order], metres[order]


def plan_merge(
    candidates: MergeCandidates, rules: MergeRules = MergeRules(), *, at: datetime
) -> MergePlan:
    """The ``station_sources`` rows the registry should hold: a pure function of the listings."""
    ids, ops = candidates.ids, candidates.operator_ids
    operator = _codes(ops)
    a, b, rank, _ = _links(candidates, rules, operator)
    op_of = operator.tolist()
    parent: dict[int, int] = {}
    members_ops: dict[int, set[int]] = {}  # group root → its operators
    first_rule: dict[int, int] = {}  # listing → strongest rule that joined it to its group
    accepted = [0] * len(RULES)
    refused = 0

    def root(x: int) -> int:
        top = x
        while (up := parent.get(top, top)) != top:
            top = up
        while x != top:  # path compression
            parent[x], x = top, parent.get(x, x)
        return top

    for i, j, r in zip(a.tolist(), b.tolist(), rank.tolist(), strict=True):
        ri, rj = root(i), root(j)
        if ri == rj:
            continue
        si = members_ops.get(ri) or {op_of[i]}
        sj = members_ops.get(rj) or {op_of[j]}
        if not si.isdisjoint(sj):
            refused += 1
            continue
        if len(si) < len(sj):
            ri, rj, si, sj = rj, ri, sj, si
        parent[rj] = ri
        si |= sj
        members_ops[ri] = si
        members_ops.pop(rj, None)
        first_rule.setdefault(i, r)
        first_rule.setdefault(j, r)
        accepted[r] += 1

    groups: dict[int, list[int]] = defaultdict(list)
    for i in sorted(first_rule):
        groups[root(i)].append(i)
    partners: dict[int, set[int]] = defaultdict(set)
    for members in groups.values():
        together = {op_of[i] for i in members}
        for o in together:
            partners[o] |= together
    stations_of = np.bincount(operator, minlength=1).tolist() if len(operator) else []

    def preference(i: int) -> tuple[bool, int, int, str]:
        o = op_of[i]
        return (ops[i] in rules.resellers, len(partners[o]), stations_of[o], ids[i])

    sources: list[StationSource] = []
    for members in groups.values():
        canonical = min(members, key=preference)
        for i in members:
            rule = SELF if i == canonical else RULES[first_rule[i]]
            sources.append(StationSource(ids[i], ids[canonical], rule, at))
    sources.sort(key=lambda s: s.station_id)
    return MergePlan(
        sources=sources,
        groups=len(groups),
        links=dict(zip(RULES, accepted, strict=True)),
        refused=refused,
    )


def merge_stations(
    store: Store, *, rules: MergeRules = MergeRules(), at: datetime | None = None
) -> MergeReport:
    """Run the merge pass over the live registry and store its result."""
    started = time.perf_counter()
    at = at or datetime.now(UTC)
    candidates = store.merge_candidates()
    plan = plan_merge(candidates, rules, at=at)
    change = store.replace_station_sources(plan.sources, at=at)
    report = MergeReport(
        stations=len(candidates),
        groups=plan.groups,
        merged=len(plan.sources) - plan.groups,
        links=plan.links,
        refused=plan.refused,
        change=change,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "merge: %d listings are %d physical stations (%d groups; links %s; %d refused) "
        "in %.1f s; %d newly merged, %d re-linked, %d un-merged",
        report.stations, report.physical, report.groups, plan.links, plan.refused,
        report.seconds, change.added, change.relinked, change.removed,
    )  # fmt: skip
    return report
