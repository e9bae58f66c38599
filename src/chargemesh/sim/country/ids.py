"""The protocol ids of the country's stations, EVSEs and connectors, built from the arrays on
demand, and back: which station, EVSE or gun an id names."""

from __future__ import annotations

import numpy as np

from chargemesh.sim.country.arrays import I64
from chargemesh.sim.country.columns import Country
from chargemesh.sim.operators import SimOperator


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


def operator_and_number(country: Country, i: int) -> tuple[SimOperator, int]:
    if not 0 <= i < country.n_stations:
        raise IndexError(f"station {i} out of range")
    k = int(country.station_operator[i])
    return country.operators[k], i - int(country.operator_first_station[k])


def station_id(country: Country, i: int) -> str:
    """The operator's own id of station ``i``: a T/CEC StationID or an OCPI Location id.
    An aggregator's copies use their own format, ``<prefix>X<n>``."""
    op, local = operator_and_number(country, i)
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
    op, _ = operator_and_number(country, i)
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
    op, _ = operator_and_number(country, i)
    first = int(country.station_first_evse[i])
    out: list[tuple[str, str]] = []
    for k, eid in enumerate(evse_ids(country, i)):
        for g in range(int(country.evse_connectors[first + k])):
            out.append((eid, str(g + 1) if op.protocol == "ocpi" else f"{eid}{g + 1:02d}"))
    return out


def connector_ids(country: Country, i: int) -> list[str]:
    """The T/CEC ConnectorIDs of station ``i`` (T/CEC operators only; for OCPI see
    :func:`connector_refs`, connector ids there are only unique within their EVSE)."""
    op, _ = operator_and_number(country, i)
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
