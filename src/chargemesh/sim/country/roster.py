"""What each operator of the roster gets: its piles, grouped into stations of one class, their
charger models, plug-and-charge and scan-to-start, and the counties they go to.

**Sizes.** Operator ``o`` gets ``round(o.evses_at_full_scale × scale)`` piles (at least
:data:`MIN_EVSES`). Of these, ``round(dc_share × n)`` are DC and ``round(super_share × n)`` of the
DC ones are superchargers (≥ 250 kW); highway service-area sites (6,800 at scale 1, at least
:data:`MIN_HIGHWAY_SITES` at any scale) are shared among the operators in proportion to their
``highway_sites`` (largest remainders, so the total is exact). Highway sites hold 2–10 DC piles;
urban DC stations a log-normal number of piles with the operator's ``station_size`` mean, AC sites
one with mean 3.5. A station is one class: AC, DC fast or supercharger hub; supercharger hubs are
drawn among the DC stations (highway sites first in line) until the operator's supercharger pile
count is reached, plug-and-charge stations among the DC stations first, then the AC ones, until
``pnc_share`` is reached, scan-startable ones until ``scan_share`` is. Each station has one
charger model (:data:`FAMILIES`: fictional manufacturers and models, which set the power, guns,
standard, voltage and current); each pile its own firmware version of that model, newer ones more
common. ChaoJi models go only to OCPI operators (T/CEC's ``ConnectorType`` cannot say ChaoJi).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from chargemesh.sim.country.arrays import F64, I64, B
from chargemesh.sim.country.chargers import AC, CHAOJI, DC, FAMILIES, SUPER, THIRD_PARTY_MAKERS
from chargemesh.sim.country.geography import Geo, operator_weights
from chargemesh.sim.operators import SimOperator


@dataclass(frozen=True, eq=False)
class Block:
    county: npt.NDArray[np.intp]  # index into geo.counties
    highway: B
    size: I64
    family: npt.NDArray[np.intp]
    pnc: B
    scan: B


def _fill(rng: np.random.Generator, budget: int, mean: float, sigma: float, cap: int) -> I64:
    """Station sizes (log-normal, mean ``mean``, 1..cap) that add up to exactly ``budget``."""
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    mu = math.log(mean) - sigma * sigma / 2
    sizes = np.zeros(0, dtype=np.int64)
    while int(sizes.sum()) < budget:
        n = int(budget / mean * 1.3) + 8
        draw = np.clip(np.rint(rng.lognormal(mu, sigma, n)), 1, cap).astype(np.int64)
        sizes = np.concatenate((sizes, draw))
    total = np.cumsum(sizes)
    last = int(np.searchsorted(total, budget))
    out = sizes[: last + 1].copy()
    out[-1] -= int(total[last]) - budget
    return out


def _take(size: I64, order: npt.NDArray[np.intp], target: int) -> B:
    """Stations, in ``order``, until their piles reach ``target`` (to the nearest station)."""
    chosen = np.zeros(size.size, dtype=np.bool_)
    if target <= 0 or order.size == 0:
        return chosen
    total = np.cumsum(size[order])
    count = int(np.searchsorted(total - size[order] / 2.0, target))
    chosen[order[:count]] = True
    return chosen


def _pools(op: SimOperator, rng: np.random.Generator) -> dict[int, tuple[list[int], F64]]:
    """Families per class the operator buys, with their choice probabilities."""
    own = [k for k, f in enumerate(FAMILIES) if f.owner == op.id]
    if own:
        candidates = own
    else:
        makers = set(rng.choice(len(THIRD_PARTY_MAKERS), size=3, replace=False).tolist())
        candidates = [
            k
            for k, f in enumerate(FAMILIES)
            if f.owner is None and THIRD_PARTY_MAKERS.index(f.manufacturer) in makers
        ]
    if op.protocol != "ocpi":
        candidates = [k for k in candidates if FAMILIES[k].standard != CHAOJI]
    pools: dict[int, tuple[list[int], F64]] = {}
    for cls in (AC, DC, SUPER):
        fams = [k for k in candidates if FAMILIES[k].cls == cls]
        if not fams:
            raise ValueError(f"{op.id}: no charger model of class {cls}")
        w = np.array([FAMILIES[k].weight for k in fams], dtype=np.float64)
        pools[cls] = (fams, w / w.sum())
    return pools


def operator_block(
    geo: Geo, k: int, op: SimOperator, n_evse: int, n_highway: int, seed: int
) -> Block:
    rng = np.random.default_rng([seed, 1, k])
    partner = op.kind == "partner"
    n_dc = min(n_evse, round(n_evse * op.dc_share))
    n_ac = n_evse - n_dc
    n_super = min(n_dc, round(n_evse * op.super_share))
    # highway sites: DC piles only, within the DC budget
    hw = (
        np.clip(3 + rng.poisson(1.5, n_highway), 2, 10)
        if partner
        else np.clip(2 + rng.poisson(2.5, n_highway), 2, 10)
    ).astype(np.int64)
    if hw.sum() > n_dc:
        hw = hw[np.cumsum(hw) <= n_dc]
    urban_dc = _fill(rng, n_dc - int(hw.sum()), op.station_size, 0.6, 40)
    ac = _fill(rng, n_ac, 2.5 if partner else 3.5, 0.7, 30)
    size = np.concatenate((hw, urban_dc, ac))
    highway = np.zeros(size.size, dtype=np.bool_)
    highway[: hw.size] = True
    dc = np.zeros(size.size, dtype=np.bool_)
    dc[: hw.size + urban_dc.size] = True
    # supercharger hubs: DC stations, highway sites first in line
    dc_idx = np.flatnonzero(dc)
    key = rng.random(dc_idx.size) - highway[dc_idx] * (0.6 if partner else 0.25)
    superhub = _take(size, dc_idx[np.argsort(key, kind="stable")], n_super)
    cls = np.where(superhub, SUPER, np.where(dc, DC, AC))
    # plug-and-charge: DC stations first, then AC; scan: any
    n_pnc = round(n_evse * op.pnc_share)
    pnc_order = np.concatenate(
        (rng.permutation(dc_idx), rng.permutation(np.flatnonzero(~dc)))
    ).astype(np.intp)
    pnc = _take(size, pnc_order, n_pnc) if op.pnc_share < 1 else np.ones(size.size, bool)
    if op.scan_share >= 1:
        scan = np.ones(size.size, dtype=np.bool_)
    else:
        perm = rng.permutation(size.size).astype(np.intp)
        scan = _take(size, perm, round(n_evse * op.scan_share))
    # charger models
    family = np.zeros(size.size, dtype=np.intp)
    for c, (fams, probs) in _pools(op, rng).items():
        where = np.flatnonzero(cls == c)
        family[where] = np.asarray(fams, dtype=np.intp)[rng.choice(len(fams), where.size, p=probs)]
    # counties
    county = np.zeros(size.size, dtype=np.intp)
    county[highway] = rng.choice(
        len(geo.counties), int(highway.sum()), p=operator_weights(geo, op, geo.highway_weight)
    )
    county[~highway] = rng.choice(
        len(geo.counties), int((~highway).sum()), p=operator_weights(geo, op, geo.weight)
    )
    order = np.lexsort((rng.random(size.size), county))
    return Block(
        county=county[order],
        highway=highway[order],
        size=size[order],
        family=family[order],
        pnc=pnc[order],
        scan=scan[order],
    )


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders): exact sum."""
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return [0] * len(weights)
    quota = w / w.sum() * total
    base = np.floor(quota).astype(np.int64)
    rest = total - int(base.sum())
    order = np.lexsort((np.arange(w.size), -(quota - base)))
    base[order[:rest]] += 1
    return [int(v) for v in base]
