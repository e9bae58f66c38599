"""The ground truth: what the platform should find after syncing every feed and merging
duplicates, counted from the arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from chargemesh.geo.counties import county_table
from chargemesh.sim.country.arrays import F32, B
from chargemesh.sim.country.chargers import MODELS, STANDARDS, SUPERCHARGER_KW
from chargemesh.sim.country.columns import Country
from chargemesh.sim.country.ids import station_id
from chargemesh.sim.country.own import own_network
from chargemesh.sim.country.placement import close_pairs


def _power_class(power: F32, dc: B) -> npt.NDArray[np.int8]:
    out: npt.NDArray[np.int8] = np.where(power >= SUPERCHARGER_KW, 2, np.where(dc, 1, 0)).astype(
        np.int8
    )
    return out


def ground_truth(country: Country) -> dict[str, Any]:
    """What the platform should find after syncing every feed and merging duplicates (JSON-able).

    ``operators``: what each feed lists (copies included). ``counties``, ``power_classes``,
    ``standards``, ``models`` and the totals count distinct physical stations/EVSEs (an
    aggregator's copies left out). Power classes: ``supercharger`` ≥ 250 kW, ``dc_fast`` other
    DC, ``ac``. ``duplicates``: [partner operator id, partner station id, aggregator operator id,
    aggregator station id]. ``own_chargers`` and ``own_drivers``: the platform's own network
    (:func:`~.own.own_network`), what its operations team registers; ``firmware_faults``: which
    coming firmware versions go wrong on which of its models (:data:`~.own.FIRMWARE_FAULTS`).
    """
    ops = country.operators
    copy = country.station_is_copy
    n_ev = country.station_evses
    n_conn = (
        np.add.reduceat(country.evse_connectors.astype(np.int64), country.station_first_evse[:-1])
        if country.n_stations
        else np.zeros(0, dtype=np.int64)
    )
    n_conn = np.where(n_ev > 0, n_conn, 0)
    evse_station = country.evse_station
    evse_copy = copy[evse_station]
    pclass = _power_class(country.evse_power_kw, country.evse_dc)

    per_op: dict[str, Any] = {}
    for k, op in enumerate(ops):
        sl = slice(
            int(country.operator_first_station[k]), int(country.operator_first_station[k + 1])
        )
        ev = evse_station[(evse_station >= sl.start) & (evse_station < sl.stop)]
        e_sl = slice(
            int(country.station_first_evse[sl.start]), int(country.station_first_evse[sl.stop])
        )
        cls = pclass[e_sl]
        per_op[op.id] = {
            "name": op.name,
            "protocol": op.protocol,
            "dialect": op.dialect,
            "kind": op.kind,
            "stations": int(sl.stop - sl.start),
            "evses": int(ev.size),
            "connectors": int(n_conn[sl].sum()),
            "highway_stations": int(country.station_highway[sl].sum()),
            "counties": int(np.unique(country.station_county[sl]).size),
            "resold_stations": int(copy[sl].sum()),
            "supercharger_evses": int((cls == 2).sum()),
            "dc_fast_evses": int((cls == 1).sum()),
            "ac_evses": int((cls == 0).sum()),
            "pnc_evses": int(country.evse_pnc[e_sl].sum()),
            "scan_evses": int(country.evse_scan[e_sl].sum()),
        }

    real = ~copy
    real_ev = ~evse_copy
    codes, st_counts = np.unique(country.station_county[real], return_counts=True)
    ev_by_county = np.bincount(
        np.searchsorted(codes, country.station_county[real]),
        weights=n_ev[real],
        minlength=codes.size,
    )
    hw_by_county = np.bincount(
        np.searchsorted(codes, country.station_county[real]),
        weights=country.station_highway[real],
        minlength=codes.size,
    )
    ev_pos = np.searchsorted(codes, country.station_county[evse_station[real_ev]])
    by_class = np.bincount(ev_pos * 3 + pclass[real_ev], minlength=codes.size * 3).reshape(-1, 3)
    counties = {
        f"{int(c):06d}": {
            "stations": int(s),
            "evses": int(e),
            "highway_stations": int(h),
            "supercharger_evses": int(cls[2]),
            "dc_fast_evses": int(cls[1]),
            "ac_evses": int(cls[0]),
        }
        for c, s, e, h, cls in zip(
            codes, st_counts, ev_by_county, hw_by_county, by_class, strict=True
        )
    }
    rc = pclass[real_ev]
    classes = {
        "supercharger": int((rc == 2).sum()),
        "dc_fast": int((rc == 1).sum()),
        "ac": int((rc == 0).sum()),
    }
    std_counts = np.bincount(country.evse_standard[real_ev], minlength=len(STANDARDS))
    standards = {STANDARDS[j]: int(std_counts[j]) for j in range(len(STANDARDS))}
    model_counts = np.bincount(country.evse_model[real_ev], minlength=len(MODELS))
    models = [
        {"manufacturer": m, "model": md, "firmware": fw, "evses": int(model_counts[j])}
        for j, (m, md, fw) in enumerate(MODELS)
        if model_counts[j]
    ]
    dups = [
        [
            ops[int(country.station_operator[p])].id,
            station_id(country, int(p)),
            ops[int(country.station_operator[a])].id,
            station_id(country, int(a)),
        ]
        for p, a in country.duplicates.tolist()
    ]
    n_real_ev = int(real_ev.sum())
    return {
        "scale": country.scale,
        "seed": country.seed,
        "supercharger_kw": SUPERCHARGER_KW,
        "listed": {
            "stations": country.n_stations,
            "evses": country.n_evses,
            "connectors": country.n_connectors,
        },
        "distinct": {
            "stations": int(real.sum()),
            "evses": n_real_ev,
            "connectors": int(n_conn[real].sum()),
            "highway_stations": int(country.station_highway[real].sum()),
            "counties_covered": len(counties),
            "pnc_evses": int(country.evse_pnc[real_ev].sum()),
            "close_pairs": close_pairs(country),
        },
        "counties_total": len(county_table()),
        "operators": per_op,
        "counties": counties,
        "power_classes": classes,
        "standards": standards,
        "models": models,
        "duplicates": dups,
        **own_network(country.scale, country.seed).truth(),
    }
