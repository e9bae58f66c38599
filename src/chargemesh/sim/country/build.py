"""``generate(scale, seed)``: the whole country, deterministic for ``(scale, seed)``: the
roster's blocks, the aggregator's copies, coordinates, change times and the EVSE columns.

**Duplicates.** The aggregator (``resells``) also lists :data:`AGGREGATOR_RESOLD_SHARE` of the
resold partner's stations: same name and address, same piles and guns (no plug-and-charge through
the aggregator), its own station id format (``<prefix>X<n>``), coordinates a few metres off.
``Country.duplicates`` pairs them (partner station index, aggregator station index).
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from chargemesh.geo.counties import county_table
from chargemesh.sim.country.arrays import I32, I64, B
from chargemesh.sim.country.chargers import (
    FAMILY_DC,
    FAMILY_FIRST_ROW,
    FAMILY_GUNS,
    FAMILY_POWER,
    FAMILY_STANDARD,
    FIRMWARE_CDF,
)
from chargemesh.sim.country.columns import Country
from chargemesh.sim.country.geography import county_geography
from chargemesh.sim.country.placement import place, place_copies
from chargemesh.sim.country.roster import apportion, operator_block
from chargemesh.sim.operators import AGGREGATOR_RESOLD_SHARE, ROSTER

HIGHWAY_SITES_AT_FULL_SCALE: Final = 6_800
MIN_HIGHWAY_SITES: Final = 3
MIN_EVSES: Final = 3
#: ``station_changed`` lies in the three years before this instant (2026-01-01 00:00 +08:00).
REFERENCE_TIME: Final = 1_767_196_800.0


def generate(scale: float = 0.01, seed: int = 7) -> Country:
    """The simulated country at ``scale`` (1.0 ≈ 1.4 M EVSEs), deterministic for (scale, seed)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("scale must be a positive number")
    geo = county_geography()
    table = county_table()
    operators = ROSTER
    n_evse = [max(MIN_EVSES, round(op.evses_at_full_scale * scale)) for op in operators]
    n_hw = apportion(
        max(MIN_HIGHWAY_SITES, round(HIGHWAY_SITES_AT_FULL_SCALE * scale)),
        [op.highway_sites for op in operators],
    )
    blocks = [
        operator_block(geo, k, op, n_evse[k], n_hw[k], seed) for k, op in enumerate(operators)
    ]

    # the aggregator's copies of the resold partner's stations
    ids = [op.id for op in operators]
    rng = np.random.default_rng([seed, 2])
    resold: dict[int, tuple[int, npt.NDArray[np.intp]]] = {}  # aggregator k -> (partner, local)
    for k, op in enumerate(operators):
        if op.resells is not None:
            p = ids.index(op.resells)
            n_src = blocks[p].size.size
            chosen = np.sort(rng.choice(n_src, round(n_src * AGGREGATOR_RESOLD_SHARE), False))
            resold[k] = (p, chosen.astype(np.intp))
    counts = [b.size.size + (resold[k][1].size if k in resold else 0) for k, b in enumerate(blocks)]
    first = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    n_st = int(first[-1])

    st_op = np.repeat(np.arange(len(operators), dtype=np.int16), counts)
    county = np.zeros(n_st, dtype=np.intp)
    highway = np.zeros(n_st, dtype=np.bool_)
    size = np.zeros(n_st, dtype=np.int64)
    family = np.zeros(n_st, dtype=np.intp)
    pnc = np.zeros(n_st, dtype=np.bool_)
    scan = np.zeros(n_st, dtype=np.bool_)
    source = np.arange(n_st, dtype=np.int64)
    dup_pairs: list[I64] = []
    for k, b in enumerate(blocks):
        s = int(first[k])
        sl = slice(s, s + b.size.size)
        county[sl], highway[sl], size[sl] = b.county, b.highway, b.size
        family[sl], pnc[sl], scan[sl] = b.family, b.pnc, b.scan
    for k, (p, local) in resold.items():
        src = first[p] + local.astype(np.int64)
        dst = first[k] + blocks[k].size.size + np.arange(local.size, dtype=np.int64)
        county[dst], highway[dst], size[dst] = county[src], highway[src], size[src]
        family[dst] = family[src]
        pnc[dst] = False
        scan[dst] = True
        source[dst] = src
        dup_pairs.append(np.stack((src, dst), axis=1))
    copy = source != np.arange(n_st)

    # coordinates
    is_ocpi = np.array([op.protocol == "ocpi" for op in operators], dtype=np.bool_)[st_op]
    clustered = np.where(highway, 0.0, np.where(geo.district[county], 0.3, 0.75))
    orig = np.flatnonzero(~copy)
    place_rng = np.random.default_rng([seed, 3])
    lon = np.zeros(n_st, dtype=np.float64)
    lat = np.zeros(n_st, dtype=np.float64)
    lon[orig], lat[orig] = place(
        place_rng, geo, table, county[orig], clustered[orig], is_ocpi[orig]
    )
    cp = np.flatnonzero(copy)
    if cp.size:
        lon[cp], lat[cp] = place_copies(
            place_rng, table, lon[source[cp]], lat[source[cp]], geo.adcode[county[cp]], is_ocpi[cp]
        )

    changed = REFERENCE_TIME - np.floor(
        np.random.default_rng([seed, 4]).uniform(0, 3 * 365 * 86400, n_st)
    )

    # EVSEs
    evse_fam = np.repeat(family, size)
    u = np.random.default_rng([seed, 5]).random(evse_fam.size)
    fw = (u[:, None] > FIRMWARE_CDF[evse_fam]).sum(axis=1)
    guns = FAMILY_GUNS[evse_fam]
    return Country(
        operators=operators,
        scale=float(scale),
        seed=int(seed),
        operator_first_station=first,
        station_operator=st_op,
        station_lon=lon,
        station_lat=lat,
        station_county=geo.adcode[county],
        station_highway=highway,
        station_first_evse=np.concatenate(([0], np.cumsum(size))).astype(np.int64),
        station_changed=changed.astype(np.float64),
        station_source=source,
        station_seq=_county_seq(county, ~copy),
        evse_power_kw=FAMILY_POWER[evse_fam],
        evse_dc=FAMILY_DC[evse_fam],
        evse_standard=FAMILY_STANDARD[evse_fam],
        evse_model=(FAMILY_FIRST_ROW[evse_fam] + fw).astype(np.int16),
        evse_pnc=np.repeat(pnc, size),
        evse_scan=np.repeat(scan, size),
        evse_connectors=guns,
        evse_first_connector=np.concatenate(([0], np.cumsum(guns, dtype=np.int64))),
        duplicates=(
            np.concatenate(dup_pairs) if dup_pairs else np.zeros((0, 2), dtype=np.int64)
        ).astype(np.int64),
    )


def _county_seq(county: npt.NDArray[np.intp], counted: B) -> I32:
    """0, 1, 2 … per county over the ``counted`` stations (others get -1)."""
    seq = np.full(county.size, -1, dtype=np.int32)
    idx = np.flatnonzero(counted)
    order = idx[np.argsort(county[idx], kind="stable")]
    if order.size:
        keys = county[order]
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        run = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
        seq[order] = run
    return seq
