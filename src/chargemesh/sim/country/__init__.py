"""The simulated country: every station and pile of the :data:`~chargemesh.sim.operators.ROSTER`
networks, generated with numpy into columnar arrays, and the wire models the servers hand out.

``generate(scale, seed)`` is deterministic for ``(scale, seed)``. ``scale=1`` is the national
dataset (1.4 M EVSEs at ≈ 266 k stations); nothing per pile is a Python object, and the protocol
ids, names and wire models are built on demand from the arrays (:func:`tcec_station`,
:func:`ocpi_location`, :func:`station_id` …).

The generator's sections, one module each: ``chargers`` (the charger models), ``columns`` (the
:class:`Country` arrays), ``geography`` (county weights), ``roster`` (each operator's stations,
sizes and models), ``placement`` (coordinates and spacing), ``build`` (:func:`generate`),
``ids`` (protocol ids and back), ``names`` (names and addresses), ``wire`` (T/CEC and OCPI
models), ``truth`` (:func:`ground_truth`).
"""

from chargemesh.sim.country.build import (
    HIGHWAY_SITES_AT_FULL_SCALE,
    MIN_EVSES,
    MIN_HIGHWAY_SITES,
    REFERENCE_TIME,
    generate,
)
from chargemesh.sim.country.chargers import (
    CHAOJI,
    FAMILIES,
    GBT_AC,
    GBT_DC,
    MODEL_FAMILY,
    MODELS,
    STANDARDS,
    SUPERCHARGER_KW,
    ChargerFamily,
)
from chargemesh.sim.country.columns import Country
from chargemesh.sim.country.ids import (
    connector_ids,
    connector_refs,
    evse_ids,
    locate_connector,
    locate_evse,
    operator_index,
    station_id,
    station_index,
    station_indices,
)
from chargemesh.sim.country.names import county_of, station_address, station_name
from chargemesh.sim.country.placement import MIN_SEPARATION_M, close_pairs
from chargemesh.sim.country.truth import ground_truth
from chargemesh.sim.country.wire import OCPI_TARIFF_ID, ocpi_location, ocpi_tariff, tcec_station

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
    "OCPI_TARIFF_ID",
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
    "ocpi_tariff",
    "operator_index",
    "station_address",
    "station_id",
    "station_index",
    "station_indices",
    "station_name",
    "tcec_station",
]
