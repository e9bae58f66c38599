"""The simulated country: every station and pile of the :data:`~chargemesh.sim.operators.ROSTER`
networks, generated with numpy into columnar arrays, and the wire models the servers hand out.

``generate(scale, seed)`` is deterministic for ``(scale, seed)``. ``scale=1`` is the national
dataset (1.4 M EVSEs at ≈ 266 k stations); nothing per pile is a Python object, and the protocol
ids, names and wire models are built on demand from the arrays (:func:`tcec_station`,
:func:`ocpi_location`, :func:`station_id` …).

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

**Placement** (all coordinates GCJ-02, like the shipped county table). Stations go to counties at
random with probabilities proportional to a density weight derived from the county table alone:

``w = kind × capital × hu × econ × size × islands``

* ``kind``: urban districts (name ending in 区) 3 × ``metro``, where ``metro`` =
  √(districts of the same prefecture city / 4) clipped to 0.5–2.5 — a city with many districts is
  a big city (Shanghai, Beijing, Guangzhou, Wuhan, Chengdu …); county-level cities (市) 1.6;
  counties, banners and the rest 1.0 — cities are where people and cars are;
* ``capital``: 1.5 in the four municipalities (adcodes 11, 12, 31, 50), 1.6 in provincial
  capitals (city code ``xx01``, the GB/T 2260 rule), else 1.0;
* ``hu``: the Hu line (Heihe 127.49 E 50.25 N – Tengchong 98.49 E 25.02 N) divides China's dense
  south-east (≈ 94 % of the people on ≈ 43 % of the land) from the sparse north-west:
  ``hu = 0.07 + 0.93 · sigmoid((d + 1°) / 1°)`` with ``d`` the signed distance (degrees) of the
  county's representative point from the straight line, positive on the south-east side (the
  1° shift keeps the Sichuan basin, just west of the straight line, on the dense side);
* ``econ = exp((min(lon, 122) − 112) / 15 − max(lat − 33, 0) / 12)``: the richer, more
  electrified east and south (≈ ×1.9 on the Yangtze delta against the centre; the cold north and
  north-east fall off);
* ``size``: ``(area / median area)^0.15`` for counties and cities — a larger unit holds somewhat
  more people, far from proportionally; districts 1;
* ``islands``: units made of scattered islands (outline area under 1 % of its bounding box:
  the South China Sea districts) get 1 % of the weight.

A regional operator puts ``home_share`` of its stations in its home provinces (weights restricted
to them) and the rest nationally; ``concentration`` raises the weights to a power (carmaker
networks: 1.3–1.4, favouring big cities). Highway sites use ``hu × (area / median)^0.5 ×
exp((lon − 112) / 20)``, × 0.35 for urban districts (expressways cross rural counties). At scale 1
this covers ≈ 96 % of the 2,848 units; the uncovered ones are in Tibet, Qinghai, Xinjiang and the
far west of Sichuan and Gansu.

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

**Duplicates.** The aggregator (``resells``) also lists :data:`AGGREGATOR_RESOLD_SHARE` of the
resold partner's stations: same name and address, same piles and guns (no plug-and-charge through
the aggregator), its own station id format (``<prefix>X<n>``), coordinates a few metres off.
``Country.duplicates`` pairs them (partner station index, aggregator station index).

**Names and addresses** are generated Chinese text: ``<brand><county><road><place>站`` at
``<province><city><county><road><n>号`` (roads and numbers drawn so that no two stations of a
county share an address), ``<brand><county>服务区(<side>)站`` on highways.
"""

from __future__ import annotations

import functools
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from chargemesh.geo.coords import gcj02_to_wgs84, gcj02_to_wgs84_array, wgs84_to_gcj02_array
from chargemesh.geo.counties import (
    COUNTIES_GEOJSON,
    DATA_DIR,
    DATA_PACKAGE,
    County,
    CountyTable,
    county_table,
)
from chargemesh.protocols.ocpi.models import Location, Tariff
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.sim.operators import (
    AGGREGATOR_RESOLD_SHARE,
    ROSTER,
    SimOperator,
    brand,
)

__all__ = [
    "CHAOJI",
    "FAMILIES",
    "GBT_AC",
    "GBT_DC",
    "HIGHWAY_SITES_AT_FULL_SCALE",
    "MIN_EVSES",
    "MIN_HIGHWAY_SITES",
    "MIN_SEPARATION_M",
    "MODELS",
    "MODEL_FAMILY",
    "REFERENCE_TIME",
    "STANDARDS",
    "SUPERCHARGER_KW",
    "ChargerFamily",
    "Country",
    "close_pairs",
    "connector_ids",
    "connector_refs",
    "county_of",
    "evse_ids",
    "generate",
    "ground_truth",
    "locate_connector",
    "locate_evse",
    "ocpi_location",
    "operator_index",
    "station_address",
    "station_id",
    "station_index",
    "station_indices",
    "station_name",
    "tcec_station",
]

I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

#: Connector standards, indexed by ``Country.evse_standard``.
STANDARDS: Final = ("GBT_DC", "GBT_AC", "CHAOJI")
GBT_DC, GBT_AC, CHAOJI = 0, 1, 2
#: Piles of at least this power are superchargers (the platform's default high-power class).
SUPERCHARGER_KW: Final = 250.0
HIGHWAY_SITES_AT_FULL_SCALE: Final = 6_800
MIN_HIGHWAY_SITES: Final = 3
MIN_EVSES: Final = 3
#: Distinct stations are at least this far apart; an aggregator's copy is within 10 m.
MIN_SEPARATION_M: Final = 60.0
#: ``station_changed`` lies in the three years before this instant (2026-01-01 00:00 +08:00).
REFERENCE_TIME: Final = 1_767_196_800.0

_AC, _DC, _SUPER = 0, 1, 2
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


# ----------------------------------------------------------------------------- charger models


@dataclass(frozen=True, slots=True)
class ChargerFamily:
    """A charger model and its firmware versions. ``voltage_max``/``current`` are the T/CEC
    ``VoltageUpperLimits``/``Current`` (AC: 220 V single phase, 380 V three phases)."""

    manufacturer: str
    model: str
    cls: int  # _AC, _DC, _SUPER
    power_kw: float
    guns: int
    standard: int
    voltage_max: int
    voltage_min: int
    current: int
    firmwares: tuple[str, ...]
    weight: float = 1.0
    owner: str | None = None  # an in-house model of this partner operator
    national_standard: int = 2  # GB/T 20234 edition: 1 = 2011, 2 = 2015

    @property
    def phases(self) -> int:
        return 3 if self.cls == _AC and self.voltage_max >= 380 else 1


def _ac(
    mfr: str, model: str, kw: float, fw: tuple[str, ...], w: float, owner: str | None = None
) -> ChargerFamily:
    three = kw > 7.5
    volts = 380 if three else 220
    amps = round(kw * 1000 / (volts * (math.sqrt(3) if three else 1.0)))
    return ChargerFamily(mfr, model, _AC, kw, 1, GBT_AC, volts, volts, amps, fw, w, owner)


def _dc(
    mfr: str,
    model: str,
    kw: float,
    guns: int,
    vmax: int,
    amps: int,
    fw: tuple[str, ...],
    w: float,
    *,
    owner: str | None = None,
    standard: int = GBT_DC,
    edition: int = 2,
) -> ChargerFamily:
    cls = _SUPER if kw >= SUPERCHARGER_KW else _DC
    return ChargerFamily(
        mfr, model, cls, kw, guns, standard, vmax, 200, amps, fw, w, owner, edition
    )


_LX, _WC, _JH = "砺新电气", "沃川科技", "钧衡电气"
_SF, _QY, _TY = "朔风电子", "启域电力", "拓岩新能源"
_THIRD_PARTY_MAKERS: Final = (_LX, _WC, _JH, _SF, _QY, _TY)
_YC, _LH, _LT = "MA9YCQ901", "CN-LHA", "CN-LTA"

#: The charger models. ``MODELS`` lists one row per (model, firmware).
FAMILIES: Final[tuple[ChargerFamily, ...]] = (
    _ac(_LX, "LX-AC7-S", 7, ("V1.4.2", "V1.5.0", "V1.5.3"), 3.0),
    _ac(_LX, "LX-AC22-T", 22, ("V1.2.0", "V1.3.1"), 0.6),
    _dc(_LX, "LX-DC60-1", 60, 1, 750, 150, ("V2.0.8", "V2.1.4", "V2.2.0"), 1.0),
    _dc(_LX, "LX-DC120-2", 120, 2, 750, 250, ("V2.1.4", "V2.2.0", "V2.3.1", "V2.3.5"), 3.0),
    _dc(_LX, "LX-DC160-2", 160, 2, 1000, 250, ("V3.0.2", "V3.1.0"), 1.5),
    _dc(_LX, "LX-SC360-LC", 360, 1, 1000, 500, ("V1.0.6", "V1.1.2", "V1.2.0"), 1.0),
    _ac(_WC, "WC-7K-A", 7, ("V3.2.1", "V3.3.0", "V3.4.2"), 3.0),
    _dc(_WC, "WC-D40-S", 40, 1, 750, 100, ("V1.9.0", "V2.0.1"), 0.6, edition=1),
    _dc(_WC, "WC-D120-D", 120, 2, 750, 250, ("V4.0.3", "V4.1.0", "V4.2.2"), 3.0),
    _dc(_WC, "WC-D180-D", 180, 2, 1000, 250, ("V4.1.0", "V4.2.2"), 1.5),
    _dc(_WC, "WC-S480", 480, 1, 1000, 600, ("V1.3.0", "V1.4.1"), 1.0),
    _ac(_JH, "JH-AC7", 7, ("V2.0.0", "V2.0.4"), 2.0),
    _ac(_JH, "JH-AC11", 11, ("V1.1.0", "V1.1.5"), 0.8),
    _dc(_JH, "JH-DC80", 80, 1, 750, 200, ("V3.3.0", "V3.4.1"), 0.8),
    _dc(_JH, "JH-DC120", 120, 2, 750, 250, ("V3.4.1", "V3.5.0", "V3.6.2"), 2.5),
    _dc(_JH, "JH-SC250", 250, 2, 1000, 300, ("V2.0.0", "V2.1.3"), 1.2),
    _ac(_SF, "SF-AC7-M", 7, ("V5.0.1", "V5.1.0"), 2.0),
    _dc(_SF, "SF-DC30", 30, 1, 500, 80, ("V1.0.9", "V1.1.2"), 0.5, edition=1),
    _dc(_SF, "SF-DC60", 60, 1, 750, 150, ("V2.2.0", "V2.3.0", "V2.3.4"), 1.0),
    _dc(_SF, "SF-DC240", 240, 2, 1000, 300, ("V1.0.3", "V1.1.0"), 1.0),
    _dc(_SF, "SF-SC600-LC", 600, 1, 1000, 800, ("V1.0.0", "V1.0.2"), 0.6),
    _dc(_SF, "SF-CJ480", 480, 1, 1000, 600, ("V0.9.5", "V1.0.1"), 0.4, standard=CHAOJI),
    _ac(_QY, "QY-AC7", 7, ("V1.0.8", "V1.1.0", "V1.2.3"), 2.0),
    _ac(_QY, "QY-AC22", 22, ("V1.0.2", "V1.0.5"), 0.5),
    _dc(_QY, "QY-DC120", 120, 2, 750, 250, ("V2.5.0", "V2.6.1"), 2.5),
    _dc(_QY, "QY-DC160", 160, 2, 1000, 250, ("V2.6.1", "V2.7.0"), 1.5),
    _dc(_QY, "QY-SC360", 360, 1, 1000, 500, ("V1.2.0", "V1.3.0"), 1.0),
    _ac(_TY, "TY-AC7", 7, ("V3.0.0", "V3.0.6"), 2.0),
    _dc(_TY, "TY-DC60", 60, 1, 750, 150, ("V1.6.0", "V1.7.2"), 1.0),
    _dc(_TY, "TY-DC120", 120, 2, 750, 250, ("V1.7.2", "V1.8.0", "V1.8.4"), 2.5),
    _dc(_TY, "TY-SC480", 480, 1, 1000, 600, ("V2.0.1", "V2.1.0"), 0.8),
    _dc(_TY, "TY-CJ360", 360, 1, 1000, 500, ("V1.0.0", "V1.0.3"), 0.4, standard=CHAOJI),
    # in-house models of the carmaker partners
    _ac("曜川能源科技", "YC-AC11-D", 11, ("V2.8.0", "V2.9.1"), 1.0, _YC),
    _dc("曜川能源科技", "YC-PS180", 180, 2, 1000, 250, ("V3.1.0", "V3.2.4"), 1.0, owner=_YC),
    _dc("曜川能源科技", "YC-PS640-LC", 640, 1, 1000, 765, ("V4.0.2", "V4.1.0", "V4.1.3"), 1.0,
        owner=_YC),
    _ac("翎航电驱", "LH-AC7-H", 7, ("V1.3.0", "V1.4.0"), 1.0, _LH),
    _dc("翎航电驱", "LH-D160", 160, 2, 1000, 250, ("V2.0.0", "V2.0.3"), 1.0, owner=_LH),
    _dc("翎航电驱", "LH-S4-480", 480, 1, 1000, 670, ("V2.3.0", "V2.4.1", "V2.5.0"), 1.0,
        owner=_LH),
    _dc("翎航电驱", "LH-S5-800", 800, 1, 1000, 800, ("V1.0.4", "V1.1.0"), 0.6, owner=_LH),
    _ac("朗拓智能", "LT-AC7", 7, ("V1.0.0", "V1.0.2"), 1.0, _LT),
    _dc("朗拓智能", "LT-D120", 120, 2, 750, 250, ("V1.0.7", "V1.1.0"), 1.0, owner=_LT),
    _dc("朗拓智能", "LT-5C-520", 520, 1, 1000, 600, ("V1.2.0", "V1.3.1", "V1.3.4"), 1.0,
        owner=_LT),
)  # fmt: skip

#: (manufacturer, model, firmware) per row; ``Country.evse_model`` indexes this.
MODELS: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (f.manufacturer, f.model, fw) for f in FAMILIES for fw in f.firmwares
)
#: The family (index into FAMILIES) of each MODELS row.
MODEL_FAMILY: Final[I16] = np.array(
    [k for k, f in enumerate(FAMILIES) for _ in f.firmwares], dtype=np.int16
)
_FAMILY_FIRST_ROW: Final[I64] = np.concatenate(
    ([0], np.cumsum([len(f.firmwares) for f in FAMILIES])[:-1])
).astype(np.int64)
_FAMILY_POWER: Final[F32] = np.array([f.power_kw for f in FAMILIES], dtype=np.float32)
_FAMILY_GUNS: Final[I8] = np.array([f.guns for f in FAMILIES], dtype=np.int8)
_FAMILY_STANDARD: Final[I8] = np.array([f.standard for f in FAMILIES], dtype=np.int8)
_FAMILY_DC: Final[B] = np.array([f.cls != _AC for f in FAMILIES], dtype=np.bool_)


def _firmware_cdf() -> F64:
    """Cumulative firmware probabilities per family, padded with 1.0: newer versions are more
    common (weights 1, 2^1.5, 3^1.5 … in release order)."""
    width = max(len(f.firmwares) for f in FAMILIES)
    cdf = np.ones((len(FAMILIES), width), dtype=np.float64)
    for k, family in enumerate(FAMILIES):
        w = np.arange(1, len(family.firmwares) + 1, dtype=np.float64) ** 1.5
        cdf[k, : w.size] = np.cumsum(w / w.sum())
        cdf[k, w.size - 1 :] = 1.0
    return cdf


_FW_CDF: Final[F64] = _firmware_cdf()


# ----------------------------------------------------------------------------- the country


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


# ----------------------------------------------------------------------------- geography


@dataclass(frozen=True, eq=False)
class _Geo:
    counties: tuple[County, ...]
    adcode: I32
    province: tuple[str, ...]
    polygons: npt.NDArray[np.object_]
    bounds: F64  # [C, 4]
    area: F64
    fill: F64  # polygon area / bbox area
    center: F64  # [C, 2] representative point
    district: B
    weight: F64
    highway_weight: F64


def _hu_distance(lon: F64, lat: F64) -> F64:
    """Signed distance (degrees) from the Hu line, positive on the dense south-east side."""
    x1, y1, x2, y2 = 127.49, 50.25, 98.49, 25.02
    dx, dy = x2 - x1, y2 - y1
    cross = dx * (lat - y1) - dy * (lon - x1)
    out: F64 = cross / math.hypot(dx, dy)
    return out


@functools.cache
def _geo() -> _Geo:
    table = county_table()
    counties = tuple(table)
    text = (
        resources.files(DATA_PACKAGE)
        .joinpath(DATA_DIR)
        .joinpath(COUNTIES_GEOJSON)
        .read_text(encoding="utf-8")
    )
    by_code = {f["properties"]["adcode"]: f["geometry"] for f in json.loads(text)["features"]}
    polygons = np.array([shape(by_code[c.adcode]) for c in counties], dtype=object)
    shapely.prepare(polygons)
    bounds = shapely.bounds(polygons).astype(np.float64)
    area = shapely.area(polygons).astype(np.float64)
    fill = area / np.maximum((bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1]), 1e-12)
    center = np.array([(c.lon, c.lat) for c in counties], dtype=np.float64)
    lon, lat = center[:, 0], center[:, 1]
    names = [c.name for c in counties]
    district = np.array([n.endswith("区") for n in names], dtype=np.bool_)
    city = np.array([n.endswith("市") for n in names], dtype=np.bool_)
    kind = np.where(district, 3.0, np.where(city, 1.6, 1.0))
    municipality = np.array(
        [c.province_adcode[:2] in ("11", "12", "31", "50") for c in counties], dtype=np.bool_
    )
    capital = np.array([c.city_adcode[2:4] == "01" for c in counties], dtype=np.bool_)
    city_districts = Counter(c.city_adcode for c, d in zip(counties, district, strict=True) if d)
    metro = np.array(
        [min(max(math.sqrt(city_districts[c.city_adcode] / 4.0), 0.5), 2.5) for c in counties]
    )
    hu = 0.07 + 0.93 / (1.0 + np.exp(-(_hu_distance(lon, lat) + 1.0) / 1.0))
    econ = np.exp((np.minimum(lon, 122.0) - 112.0) / 15.0 - np.maximum(lat - 33.0, 0.0) / 12.0)
    rel_area = area / np.median(area)
    islands = np.where(fill < 0.01, 0.01, 1.0)
    weight = (
        np.where(district, 3.0 * metro, kind)
        * np.where(municipality, 1.5, np.where(capital, 1.6, 1.0))
        * hu
        * econ
        * np.where(district, 1.0, rel_area**0.15)
        * islands
    )
    highway = hu * rel_area**0.5 * np.exp((lon - 112.0) / 20.0) * np.where(district, 0.35, 1.0)
    highway = highway * islands
    return _Geo(
        counties=counties,
        adcode=np.array([int(c.adcode) for c in counties], dtype=np.int32),
        province=tuple(c.province for c in counties),
        polygons=polygons,
        bounds=bounds,
        area=area,
        fill=fill,
        center=center,
        district=district,
        weight=weight,
        highway_weight=highway,
    )


def _operator_weights(geo: _Geo, op: SimOperator, base: F64) -> F64:
    w = base**op.concentration
    p = w / w.sum()
    if op.home_provinces and op.home_share > 0:
        home = np.array([prov in op.home_provinces for prov in geo.province], dtype=np.bool_)
        if not home.any():
            raise ValueError(f"{op.id}: unknown home provinces {op.home_provinces}")
        wh = np.where(home, w, 0.0)
        p = (1.0 - op.home_share) * p + op.home_share * wh / wh.sum()
    out: F64 = p / p.sum()
    return out


# ----------------------------------------------------------------------------- per operator


@dataclass(frozen=True, eq=False)
class _Block:
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
        makers = set(rng.choice(len(_THIRD_PARTY_MAKERS), size=3, replace=False).tolist())
        candidates = [
            k
            for k, f in enumerate(FAMILIES)
            if f.owner is None and _THIRD_PARTY_MAKERS.index(f.manufacturer) in makers
        ]
    if op.protocol != "ocpi":
        candidates = [k for k in candidates if FAMILIES[k].standard != CHAOJI]
    pools: dict[int, tuple[list[int], F64]] = {}
    for cls in (_AC, _DC, _SUPER):
        fams = [k for k in candidates if FAMILIES[k].cls == cls]
        if not fams:
            raise ValueError(f"{op.id}: no charger model of class {cls}")
        w = np.array([FAMILIES[k].weight for k in fams], dtype=np.float64)
        pools[cls] = (fams, w / w.sum())
    return pools


def _operator_block(
    geo: _Geo, k: int, op: SimOperator, n_evse: int, n_highway: int, seed: int
) -> _Block:
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
    cls = np.where(superhub, _SUPER, np.where(dc, _DC, _AC))
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
        len(geo.counties), int(highway.sum()), p=_operator_weights(geo, op, geo.highway_weight)
    )
    county[~highway] = rng.choice(
        len(geo.counties), int((~highway).sum()), p=_operator_weights(geo, op, geo.weight)
    )
    order = np.lexsort((rng.random(size.size), county))
    return _Block(
        county=county[order],
        highway=highway[order],
        size=size[order],
        family=family[order],
        pnc=pnc[order],
        scan=scan[order],
    )


def _apportion(total: int, weights: Sequence[int]) -> list[int]:
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


# ----------------------------------------------------------------------------- placement


def _sample_in_county(
    rng: np.random.Generator, geo: _Geo, c: int, n: int, clustered: F64
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


def _place(
    rng: np.random.Generator,
    geo: _Geo,
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


def _place_copies(
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


# ----------------------------------------------------------------------------- generate


def generate(scale: float = 0.01, seed: int = 7) -> Country:
    """The simulated country at ``scale`` (1.0 ≈ 1.4 M EVSEs), deterministic for (scale, seed)."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError("scale must be a positive number")
    geo = _geo()
    table = county_table()
    operators = ROSTER
    n_evse = [max(MIN_EVSES, round(op.evses_at_full_scale * scale)) for op in operators]
    n_hw = _apportion(
        max(MIN_HIGHWAY_SITES, round(HIGHWAY_SITES_AT_FULL_SCALE * scale)),
        [op.highway_sites for op in operators],
    )
    blocks = [
        _operator_block(geo, k, op, n_evse[k], n_hw[k], seed) for k, op in enumerate(operators)
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
    lon[orig], lat[orig] = _place(
        place_rng, geo, table, county[orig], clustered[orig], is_ocpi[orig]
    )
    cp = np.flatnonzero(copy)
    if cp.size:
        lon[cp], lat[cp] = _place_copies(
            place_rng, table, lon[source[cp]], lat[source[cp]], geo.adcode[county[cp]], is_ocpi[cp]
        )

    changed = REFERENCE_TIME - np.floor(
        np.random.default_rng([seed, 4]).uniform(0, 3 * 365 * 86400, n_st)
    )

    # EVSEs
    evse_fam = np.repeat(family, size)
    u = np.random.default_rng([seed, 5]).random(evse_fam.size)
    fw = (u[:, None] > _FW_CDF[evse_fam]).sum(axis=1)
    guns = _FAMILY_GUNS[evse_fam]
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
        evse_power_kw=_FAMILY_POWER[evse_fam],
        evse_dc=_FAMILY_DC[evse_fam],
        evse_standard=_FAMILY_STANDARD[evse_fam],
        evse_model=(_FAMILY_FIRST_ROW[evse_fam] + fw).astype(np.int16),
        evse_pnc=np.repeat(pnc, size),
        evse_scan=np.repeat(scan, size),
        evse_connectors=guns,
        evse_first_connector=np.concatenate(([0], np.cumsum(guns, dtype=np.int64))),
        duplicates=(
            np.concatenate(dup_pairs) if dup_pairs else np.zeros((0, 2), dtype=np.int64)
        ).astype(np.int64),
    )


# ----------------------------------------------------------------------------- ids


def operator_index(country: Country, operator_id: str) -> int:
    """Position of the operator in ``country.operators`` (ids compare case-insensitively)."""
    if not country._ids:
        country._ids.update({op.id.upper(): k for k, op in enumerate(country.operators)})
    try:
        return country._ids[operator_id.upper()]
    except KeyError:
        raise KeyError(f"no simulated operator {operator_id!r}") from None


def station_indices(country: Country, operator_id: str) -> I64:
    """The stations an operator lists (its own, then any copies it resells), in id order."""
    k = operator_index(country, operator_id)
    out: I64 = np.arange(
        country.operator_first_station[k], country.operator_first_station[k + 1], dtype=np.int64
    )
    return out


def _local(country: Country, i: int) -> tuple[SimOperator, int]:
    if not 0 <= i < country.n_stations:
        raise IndexError(f"station {i} out of range")
    k = int(country.station_operator[i])
    return country.operators[k], i - int(country.operator_first_station[k])


def station_id(country: Country, i: int) -> str:
    """The operator's own id of station ``i``: a T/CEC StationID or an OCPI Location id.
    An aggregator's copies use their own format, ``<prefix>X<n>``."""
    op, local = _local(country, i)
    mark = "X" if country.station_source[i] != i else ""
    return f"{op.id_prefix}{mark}{local + 1:07d}"


def station_index(country: Country, operator_id: str, source_id: str) -> int | None:
    """The station an operator's StationID / Location id names, or ``None``."""
    k = operator_index(country, operator_id)
    op = country.operators[k]
    text = source_id.strip()
    if op.protocol == "ocpi":
        text = text.upper()
    if not text.startswith(op.id_prefix):
        return None
    rest = text[len(op.id_prefix) :]
    copy = rest.startswith("X")
    rest = rest.removeprefix("X")
    if len(rest) != 7 or not rest.isdigit() or int(rest) == 0:
        return None
    i = int(country.operator_first_station[k]) + int(rest) - 1
    if i >= int(country.operator_first_station[k + 1]):
        return None
    return i if (country.station_source[i] != i) == copy else None


def _evse_code(country: Country, i: int, k: int) -> str:
    op, _ = _local(country, i)
    sid = station_id(country, i)
    return f"{sid}-{k + 1:02d}" if op.protocol == "ocpi" else f"{sid}{k + 1:03d}"


def evse_ids(country: Country, i: int) -> list[str]:
    """The EVSEs of station ``i`` as the protocol names them: T/CEC EquipmentIDs
    (``<StationID><nnn>``) or OCPI EVSE uids (``<Location id>-<nn>``)."""
    n = int(country.station_first_evse[i + 1] - country.station_first_evse[i])
    return [_evse_code(country, i, k) for k in range(n)]


def connector_refs(country: Country, i: int) -> list[tuple[str, str]]:
    """(EVSE id, connector id) of every connector of station ``i``: for T/CEC (EquipmentID,
    ConnectorID ``<EquipmentID><nn>``, unique within the operator); for OCPI (EVSE uid,
    connector id ``"1"``/``"2"``)."""
    op, _ = _local(country, i)
    first = int(country.station_first_evse[i])
    out: list[tuple[str, str]] = []
    for k, eid in enumerate(evse_ids(country, i)):
        for g in range(int(country.evse_connectors[first + k])):
            out.append((eid, str(g + 1) if op.protocol == "ocpi" else f"{eid}{g + 1:02d}"))
    return out


def connector_ids(country: Country, i: int) -> list[str]:
    """The T/CEC ConnectorIDs of station ``i`` (T/CEC operators only; for OCPI see
    :func:`connector_refs`, connector ids there are only unique within their EVSE)."""
    op, _ = _local(country, i)
    if op.protocol != "tcec":
        raise ValueError(f"{op.id} speaks OCPI: use connector_refs()")
    return [cid for _, cid in connector_refs(country, i)]


def locate_evse(country: Country, operator_id: str, evse_id: str) -> tuple[int, int] | None:
    """(station index, global EVSE index) of an EquipmentID / EVSE uid, or ``None``."""
    k = operator_index(country, operator_id)
    op = country.operators[k]
    text = evse_id.strip()
    if op.protocol == "ocpi":
        text = text.upper()  # a CiString
        sid, sep, num = text.rpartition("-")
        if not sep:
            return None
    else:
        sid, num = text[:-3], text[-3:]
    if not num.isdigit():
        return None
    i = station_index(country, op.id, sid)
    if i is None:
        return None
    k = int(num) - 1
    if not 0 <= k < int(country.station_evses[i]) or _evse_code(country, i, k) != text:
        return None
    return i, int(country.station_first_evse[i]) + k


def locate_connector(
    country: Country, operator_id: str, connector_id: str
) -> tuple[int, int, int] | None:
    """(station, global EVSE index, gun number from 1) of a T/CEC ConnectorID, or ``None``."""
    text = connector_id.strip()
    if len(text) < 3 or not text[-2:].isdigit():
        return None
    found = locate_evse(country, operator_id, text[:-2])
    if found is None:
        return None
    i, e = found
    gun = int(text[-2:])
    if not 1 <= gun <= int(country.evse_connectors[e]):
        return None
    return i, e, gun


# ----------------------------------------------------------------------------- text

_ROAD_STEMS: Final = (
    "建设", "人民", "解放", "中山", "新华", "文化", "和平", "光明", "胜利", "幸福",
    "长江", "黄河", "滨江", "科技", "工业", "迎宾", "世纪", "金桥", "朝阳", "东风",
    "振兴", "团结", "民主", "青年", "友谊", "学府", "体育", "花园", "锦绣", "丰收",
    "创业", "兴业", "园区", "康宁", "永安", "长安", "复兴", "未来", "星光", "翠微",
)  # fmt: skip
_ROAD_SUFFIXES: Final = ("路", "大道", "街", "大街")
_ROADS: Final = tuple(s + x for x in _ROAD_SUFFIXES for s in _ROAD_STEMS)
# (place, T/CEC Construction code, OCPI parking type)
_PLACES: Final = (
    ("商业广场", 9, "PARKING_GARAGE"),
    ("购物中心", 9, "UNDERGROUND_GARAGE"),
    ("写字楼", 4, "UNDERGROUND_GARAGE"),
    ("产业园", 5, "PARKING_LOT"),
    ("物流园", 5, "PARKING_LOT"),
    ("公交场站", 6, "PARKING_LOT"),
    ("高铁站", 6, "PARKING_LOT"),
    ("社区", 1, "PARKING_LOT"),
    ("小区", 1, "UNDERGROUND_GARAGE"),
    ("体育中心", 7, "PARKING_LOT"),
    ("会展中心", 7, "PARKING_LOT"),
    ("公园", 8, "PARKING_LOT"),
    ("路边停车位", 10, "ON_STREET"),
    ("政务中心", 2, "PARKING_LOT"),
    ("医院", 2, "PARKING_LOT"),
    ("酒店", 3, "PARKING_LOT"),
    ("汽车城", 3, "PARKING_LOT"),
    ("超充中心", 255, "PARKING_LOT"),
    ("加油站", 255, "PARKING_LOT"),
)
_SA_VARIANTS: Final = ("", "东", "西", "南", "北", "新区", "城郊", "枢纽")
_SIDES: Final = ("东区", "西区", "南区", "北区")
_HIGHWAYS: Final = 40
_HIGHWAY: Final = 11  # T/CEC Construction: intercity highway service area


def county_of(country: Country, i: int) -> County:
    """The county (from the shipped table) of station ``i``."""
    county = county_table().get(int(country.station_county[i]))
    assert county is not None
    return county


def _short(name: str) -> str:
    for suffix in ("自治县", "自治旗", "林区", "县", "市", "区", "旗"):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _region(county: County) -> str:
    parts = [county.province]
    for part in (county.city, county.name):
        if part != parts[-1] and not part.endswith("直辖"):
            parts.append(part)
    return "".join(parts)


def _place_kind(country: Country, s: int) -> int:
    seq = int(country.station_seq[s])
    return (seq * 7 + int(country.station_county[s])) % len(_PLACES)


def _text(country: Country, i: int) -> tuple[str, str]:
    s = int(country.station_source[i])
    county = county_of(country, s)
    op = country.operators[int(country.station_operator[s])]
    seq = int(country.station_seq[s])
    offset = int(country.station_county[s]) % 97
    short = _short(county.name)
    if country.station_highway[s]:
        rest = seq // _HIGHWAYS
        area = f"{short}{_SA_VARIANTS[rest % len(_SA_VARIANTS)]}服务区"
        side = _SIDES[(rest // len(_SA_VARIANTS)) % len(_SIDES)]
        road = f"S{(seq + offset) % _HIGHWAYS * 3 + 1}高速"
        name = f"{brand(op)}{area}({side})站"
        address = f"{_region(county)}{road}{area}{side}"
    else:
        road = _ROADS[(seq + offset) % len(_ROADS)]
        number = (seq // len(_ROADS)) * 4 + 1 + (seq + offset) % 4
        place = _PLACES[_place_kind(country, s)][0]
        # a place that is itself a station (加油站, 高铁站) is not named "…站站"
        name = f"{brand(op)}{short}{road}{place}{'充电站' if place.endswith('站') else '站'}"
        address = f"{_region(county)}{road}{number}号"
    return name, address


def station_name(country: Country, i: int) -> str:
    """The station's name; an aggregator's copy has its original's."""
    return _text(country, i)[0]


def station_address(country: Country, i: int) -> str:
    """The station's address (province, city, county, road and number); unique per county."""
    return _text(country, i)[1]


# ----------------------------------------------------------------------------- wire models


def _changed(country: Country, i: int) -> datetime:
    return datetime.fromtimestamp(float(country.station_changed[i]), tz=UTC)


def tcec_station(country: Country, i: int) -> StationInfo:
    """Station ``i`` of a T/CEC operator as a ``StationInfo`` (coordinates GCJ-02)."""
    op, _ = _local(country, i)
    if op.protocol != "tcec":
        raise ValueError(f"{op.id} does not speak T/CEC")
    sid = station_id(country, i)
    name, address = _text(country, i)
    s = int(country.station_source[i])
    highway = bool(country.station_highway[i])
    first, last = int(country.station_first_evse[i]), int(country.station_first_evse[i + 1])
    equipment: list[dict[str, Any]] = []
    for k, e in enumerate(range(first, last)):
        fam = FAMILIES[int(MODEL_FAMILY[country.evse_model[e]])]
        eid = f"{sid}{k + 1:03d}"
        dc = fam.cls != _AC
        guns = [
            {
                "ConnectorID": f"{eid}{g + 1:02d}",
                "ConnectorName": f"{g + 1}号枪",
                "ConnectorType": 4 if dc else 3,
                "VoltageUpperLimits": fam.voltage_max,
                "VoltageLowerLimits": fam.voltage_min,
                "Current": fam.current,
                "Power": fam.power_kw,
                "NationalStandard": fam.national_standard,
            }
            for g in range(int(country.evse_connectors[e]))
        ]
        pile: dict[str, Any] = {
            "EquipmentID": eid,
            "ManufacturerName": fam.manufacturer,
            "EquipmentModel": fam.model,
            "EquipmentType": 1 if dc else 2,
            "Power": fam.power_kw,
            "EquipmentName": f"{k + 1}号桩",
            "ConnectorInfos": guns,
        }
        if "plug_and_charge" in op.capabilities:  # our extension: which piles take part
            pile["PlugAndCharge"] = int(bool(country.evse_pnc[e]))
        equipment.append(pile)
    copy = s != i
    return StationInfo.model_validate(
        {
            "StationID": sid,
            "OperatorID": op.id,
            "EquipmentOwnerID": None if copy else op.id,
            "StationName": name,
            "CountryCode": "CN",
            "AreaCode": f"{int(country.station_county[i]):06d}",
            "Address": address,
            "ServiceTel": op.service_tel,
            "StationType": 1,
            "StationStatus": 50,
            "ParkNums": last - first,
            "StationLng": float(country.station_lon[i]),
            "StationLat": float(country.station_lat[i]),
            "Construction": _HIGHWAY if highway else _PLACES[_place_kind(country, s)][1],
            "BusineHours": "00:00-24:00",
            "Remark": f"合作网络：{country.operators[int(country.station_operator[s])].name}"
            if copy
            else None,
            "EquipmentInfos": equipment,
        }
    )


#: The Tariff every simulated OCPI CPO publishes and names on each of its connectors: its CPO
#: bills by it. 1.20 CNY per kWh excl. VAT at 13 % (1.356 as drivers pay it), all day.
OCPI_TARIFF_ID: Final = "STANDARD"


def ocpi_tariff(party: tuple[str, str]) -> Tariff:
    """The CPO ``party``'s published Tariff (:data:`OCPI_TARIFF_ID`)."""
    energy = {"type": "ENERGY", "price": 1.2, "vat": 13.0, "step_size": 1}
    return Tariff.model_validate(
        {
            "country_code": party[0],
            "party_id": party[1],
            "id": OCPI_TARIFF_ID,
            "currency": "CNY",
            "type": "REGULAR",
            "tariff_alt_text": [{"language": "zh", "text": "充电费（含增值税13%）"}],
            "elements": [{"price_components": [energy]}],
            "last_updated": datetime(2026, 1, 1, tzinfo=UTC),
        }
    )


def ocpi_location(country: Country, i: int, statuses: Sequence[str] | None = None) -> Location:
    """Station ``i`` of an OCPI operator as a ``Location`` (coordinates WGS-84, 7 decimals).

    ``statuses`` gives each EVSE's status in order (default all ``AVAILABLE``)."""
    op, local = _local(country, i)
    if op.protocol != "ocpi":
        raise ValueError(f"{op.id} does not speak OCPI")
    cc, party = op.party
    loc_id = station_id(country, i)
    name, address = _text(country, i)
    s = int(country.station_source[i])
    county = county_of(country, i)
    stamp = _changed(country, i)
    wlon, wlat = gcj02_to_wgs84(float(country.station_lon[i]), float(country.station_lat[i]))
    first, last = int(country.station_first_evse[i]), int(country.station_first_evse[i + 1])
    evses: list[dict[str, Any]] = []
    for k, e in enumerate(range(first, last)):
        fam = FAMILIES[int(MODEL_FAMILY[country.evse_model[e]])]
        dc = fam.cls != _AC
        if dc:
            power_type, volts, amps = "DC", fam.voltage_max, fam.current
        elif fam.phases == 3:
            power_type, volts = "AC_3_PHASE", 230
            amps = round(fam.power_kw * 1000 / (3 * 230))
        else:
            power_type, volts, amps = "AC_1_PHASE", 220, fam.current
        connectors = [
            {
                "id": str(g + 1),
                "standard": STANDARDS[fam.standard],
                "format": "CABLE",
                "power_type": power_type,
                "max_voltage": volts,
                "max_amperage": amps,
                "max_electric_power": round(fam.power_kw * 1000),
                "tariff_ids": [OCPI_TARIFF_ID],
                "last_updated": stamp,
            }
            for g in range(int(country.evse_connectors[e]))
        ]
        evses.append(
            {
                "uid": f"{loc_id}-{k + 1:02d}",
                "evse_id": f"{cc}*{party}*E{local + 1:07d}{k + 1:02d}",
                "status": statuses[k] if statuses is not None else "AVAILABLE",
                "capabilities": ["REMOTE_START_STOP_CAPABLE"] if country.evse_scan[e] else [],
                "connectors": connectors,
                "physical_reference": f"{k + 1}号桩",
                "last_updated": stamp,
            }
        )
    highway = bool(country.station_highway[i])
    return Location.model_validate(
        {
            "country_code": cc,
            "party_id": party,
            "id": loc_id,
            "publish": True,
            "name": name,
            "address": address,
            "city": county.city if not county.city.endswith("直辖") else county.name,
            "state": county.province,
            "country": "CHN",
            "coordinates": {"latitude": f"{wlat:.7f}", "longitude": f"{wlon:.7f}"},
            "parking_type": "ALONG_MOTORWAY" if highway else _PLACES[_place_kind(country, s)][2],
            "evses": evses,
            "operator": {"name": op.name},
            "time_zone": "Asia/Shanghai",
            "opening_times": {"twentyfourseven": True},
            "last_updated": stamp,
        }
    )


# ----------------------------------------------------------------------------- ground truth


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
    aggregator station id].
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
    }
