"""The simulated country as columnar arrays: nothing per pile is a Python object."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from chargemesh.sim.country.arrays import F32, F64, I8, I16, I32, I64, B
from chargemesh.sim.country.chargers import MODEL_FAMILY
from chargemesh.sim.operators import SimOperator


@dataclass(frozen=True, eq=False)
class Country:
    """The simulated country as columnar arrays. S stations, E EVSEs (piles), C connectors.

    Stations are grouped by operator (``operator_first_station`` gives each operator's range;
    the aggregator's copies come at the end of its range) and, within an operator, by county.
    ``station_county`` is the county's adcode as an int (``110105``); ``station_source`` is the
    station whose name and address a station carries (itself, or for an aggregator's copy the
    partner's original); ``station_seq`` numbers the distinct stations of each county (addresses).
    """

    operators: tuple[SimOperator, ...]
    scale: float
    seed: int
    operator_first_station: I64  # [O+1]
    station_operator: I16  # [S]
    station_lon: F64  # GCJ-02, 6 decimals
    station_lat: F64
    station_county: I32  # adcode
    station_highway: B
    station_first_evse: I64  # [S+1]
    station_changed: F64  # epoch seconds
    station_source: I64
    station_seq: I32
    evse_power_kw: F32  # [E]
    evse_dc: B
    evse_standard: I8  # index into STANDARDS
    evse_model: I16  # index into MODELS
    evse_pnc: B
    evse_scan: B
    evse_connectors: I8
    evse_first_connector: I64  # [E+1]
    duplicates: I64  # [D, 2]: (partner station, aggregator station)
    _ids: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_stations(self) -> int:
        return int(self.station_operator.size)

    @property
    def n_evses(self) -> int:
        return int(self.evse_power_kw.size)

    @property
    def n_connectors(self) -> int:
        return int(self.evse_first_connector[-1])

    @functools.cached_property
    def station_is_copy(self) -> B:
        """True for an aggregator's copy of a partner station."""
        out: B = self.station_source != np.arange(self.n_stations, dtype=np.int64)
        return out

    @functools.cached_property
    def station_evses(self) -> I64:
        out: I64 = np.diff(self.station_first_evse)
        return out

    @functools.cached_property
    def evse_station(self) -> I64:
        """The station of each EVSE (computed once, like the other derived columns)."""
        out: I64 = np.repeat(np.arange(self.n_stations, dtype=np.int64), self.station_evses)
        return out

    @functools.cached_property
    def evse_family(self) -> I16:
        out: I16 = MODEL_FAMILY[self.evse_model]
        return out
