"""The simulated country: roster, sizes, shares, placement, duplicates, ids and wire models."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import Counter

import numpy as np
import numpy.typing as npt
import pytest

from chargemesh.domain import AccessMethod, Capability, ConnectorStandard, Operator
from chargemesh.domain import OperatorProtocol as Proto
from chargemesh.geo.coords import wgs84_to_gcj02
from chargemesh.geo.counties import county_table
from chargemesh.protocols.ocpi import mapping as ocpi_mapping
from chargemesh.protocols.ocpi.models import Location
from chargemesh.protocols.ocpi.models import dump as ocpi_dump
from chargemesh.protocols.ocpi.models import parse as ocpi_parse
from chargemesh.protocols.tcec import mapping as tcec_mapping
from chargemesh.protocols.tcec.stations import StationInfo
from chargemesh.protocols.tcec.wire import dump as tcec_dump
from chargemesh.protocols.tcec.wire import parse as tcec_parse
from chargemesh.sim.country import (
    HIGHWAY_SITES_AT_FULL_SCALE,
    MIN_EVSES,
    MIN_SEPARATION_M,
    MODELS,
    STANDARDS,
    SUPERCHARGER_KW,
    Country,
    connector_ids,
    connector_refs,
    evse_ids,
    generate,
    ground_truth,
    locate_connector,
    locate_evse,
    ocpi_location,
    station_address,
    station_id,
    station_index,
    station_indices,
    station_name,
    tcec_station,
)
from chargemesh.sim.operators import ROSTER, SimOperator, operator_by_id
from chargemesh.sim.peers.tcec.network import OperatorNetwork

from .countries import SMALL, half_country, small_country

REAL_BRANDS = (
    "特来电", "星星充电", "云快充", "小桔", "滴滴", "国网", "国家电网", "南方电网", "南网",
    "蔚来", "小鹏", "理想", "蔚景云", "驴充充", "车电网", "汇充电", "依威", "万城", "蔚蓝",
    "海汇德", "昆仑", "特斯拉", "小米", "Teld", "Star Charge", "YKC", "Xiaoju", "DiDi",
    "State Grid", "Southern Grid", "NIO", "XPENG", "Xpeng", "Li Auto", "Tesla", "Xiaomi",
)  # fmt: skip


@pytest.fixture
def small() -> Country:
    return small_country()


@pytest.fixture
def half() -> Country:
    return half_country()


def domain_operator(op: SimOperator) -> Operator:
    return Operator(
        id=op.id,
        name=op.name,
        protocol=Proto(op.protocol),
        capabilities=frozenset(Capability(c) for c in op.capabilities),
    )


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(a))


def sample(country: Country, op: SimOperator, n: int) -> list[int]:
    """Up to ``n`` stations of ``op``, spread over its range, highway sites included."""
    idx = station_indices(country, op.id)
    picks = set(idx[:: max(1, idx.size // n)].tolist())
    highway = idx[country.station_highway[idx]]
    picks.update(highway[:2].tolist())
    return sorted(picks)


# ----------------------------------------------------------------------------- roster


def test_roster_is_26_fictional_networks() -> None:
    kinds = Counter(op.kind for op in ROSTER)
    assert len(ROSTER) == 26
    assert kinds == {"third_party": 22, "aggregator": 1, "partner": 3}
    assert len({op.id.upper() for op in ROSTER}) == 26
    for op in ROSTER:
        assert not any(b in op.name for b in REAL_BRANDS), op.name
        assert re.fullmatch(r"\S+ [A-Z][\w -]+", op.name), op.name
        if op.protocol == "tcec":
            assert re.fullmatch(r"[0-9A-Z]{9}", op.id)
            assert op.dialect in ("cec", "xiaoju")
        else:
            assert re.fullmatch(r"[A-Z]{2}-[0-9A-Z]{3}", op.id)
            assert op.dialect is None
        assert set(op.capabilities) <= {"realtime", "scan", "plug_and_charge", "view_only"}
        assert ("plug_and_charge" in op.capabilities) == (op.pnc_share > 0)
        assert 0 <= op.pnc_share <= 1
        assert 0 < op.scan_share <= 1
        assert op.super_share <= op.dc_share
    protocols = Counter((op.protocol, op.dialect) for op in ROSTER)
    assert protocols[("ocpi", None)] == 5
    assert protocols[("tcec", "cec")] >= 5
    assert protocols[("tcec", "xiaoju")] >= 5


def test_roster_sizes_follow_the_ranking_shape() -> None:
    third = sorted((op.evses_at_full_scale for op in ROSTER if op.kind != "partner"), reverse=True)
    assert len(third) == 23
    assert 0.45 <= sum(third[:3]) / sum(third) <= 0.55  # the top three hold about half
    assert third[-1] < third[0] / 20  # a long tail
    partners = {op.id: op for op in ROSTER if op.kind == "partner"}
    assert sorted(op.evses_at_full_scale for op in partners.values()) == [6_000, 9_000, 14_000]
    assert all("realtime" in op.capabilities for op in partners.values())
    assert [op.pnc_share for op in partners.values()].count(1.0) == 1
    assert sum(op.scan_share < 1 for op in partners.values()) == 1
    assert sum(op.evses_at_full_scale for op in ROSTER) == 1_400_000
    assert sum(op.highway_sites for op in ROSTER) == HIGHWAY_SITES_AT_FULL_SCALE
    (aggregator,) = [op for op in ROSTER if op.kind == "aggregator"]
    assert aggregator.resells in partners


# ----------------------------------------------------------------------------- generation


def arrays(country: Country) -> dict[str, npt.NDArray[np.generic]]:
    return {
        f.name: getattr(country, f.name)
        for f in dataclasses.fields(country)
        if isinstance(getattr(country, f.name), np.ndarray)
    }


def test_deterministic_for_a_seed() -> None:
    a, b, other = generate(0.003, seed=11), generate(0.003, seed=11), generate(0.003, seed=12)
    assert len(arrays(a)) == 19
    for name, value in arrays(a).items():
        assert value.dtype == arrays(b)[name].dtype
        assert np.array_equal(value, arrays(b)[name]), name
    assert not np.array_equal(a.station_lon[:50], other.station_lon[:50])
    assert not np.array_equal(a.station_county, other.station_county)


def test_counts_scale_linearly(small: Country, half: Country) -> None:
    for country, scale in ((small, SMALL), (half, SMALL / 2)):
        truth = ground_truth(country)["operators"]
        for op in ROSTER:
            expected = max(MIN_EVSES, round(op.evses_at_full_scale * scale))
            own = truth[op.id]["evses"] - (
                0
                if op.kind != "aggregator"
                else sum(int(country.station_evses[a]) for _, a in country.duplicates.tolist())
            )
            assert own == expected, op.id
        assert int(country.station_highway[~country.station_is_copy].sum()) == round(
            HIGHWAY_SITES_AT_FULL_SCALE * scale
        )
    assert small.n_evses / half.n_evses == pytest.approx(2, rel=0.01)
    assert small.n_stations / half.n_stations == pytest.approx(2, rel=0.08)
    assert small.duplicates.shape[0] / half.duplicates.shape[0] == pytest.approx(2, rel=0.2)


def test_tiny_scales_still_have_every_operator_and_highway_sites() -> None:
    tiny = generate(0.0005, seed=3)
    counts = np.diff(tiny.operator_first_station)
    assert (counts >= 1).all()
    assert int(tiny.station_highway.sum()) >= 3


def test_the_national_shape_holds_at_small_scale(small: Country) -> None:
    truth = ground_truth(small)
    distinct = truth["distinct"]
    assert distinct["evses"] == sum(
        max(MIN_EVSES, round(o.evses_at_full_scale * SMALL)) for o in ROSTER
    )
    classes = truth["power_classes"]
    total = sum(classes.values())
    assert total == distinct["evses"]
    assert classes["supercharger"] / total == pytest.approx(0.07, abs=0.01)
    assert (classes["supercharger"] + classes["dc_fast"]) / total == pytest.approx(0.70, abs=0.02)
    assert distinct["pnc_evses"] / total == pytest.approx(0.11, abs=0.01)
    third = sorted(
        (v["evses"] for k, v in truth["operators"].items() if v["kind"] != "partner"),
        reverse=True,
    )
    assert sum(third[:3]) / sum(third) == pytest.approx(0.49, abs=0.03)
    per_op = truth["operators"]
    for op in ROSTER:
        if op.kind == "partner":
            assert per_op[op.id]["evses"] == round(op.evses_at_full_scale * SMALL)
            dc = per_op[op.id]["supercharger_evses"] + per_op[op.id]["dc_fast_evses"]
            assert dc / per_op[op.id]["evses"] > 0.8  # partners are mostly DC
    pnc_partner = next(o for o in ROSTER if o.kind == "partner" and o.pnc_share == 1)
    assert per_op[pnc_partner.id]["pnc_evses"] == per_op[pnc_partner.id]["evses"]
    scan_partner = next(o for o in ROSTER if o.scan_share < 1)
    share = per_op[scan_partner.id]["scan_evses"] / per_op[scan_partner.id]["evses"]
    assert share == pytest.approx(scan_partner.scan_share, abs=0.15)
    # power and DC flag agree, AC is 7–22 kW, superchargers only where the class says
    ac = ~small.evse_dc
    assert ((small.evse_power_kw[ac] >= 7) & (small.evse_power_kw[ac] <= 22)).all()
    assert (small.evse_power_kw[small.evse_dc] >= 30).all()
    assert set(np.unique(small.evse_connectors).tolist()) <= {1, 2}
    assert (small.evse_standard[ac] == STANDARDS.index("GBT_AC")).all()
    assert ((small.evse_power_kw >= SUPERCHARGER_KW) <= small.evse_dc).all()


def test_stations_lie_in_their_county(small: Country) -> None:
    table = county_table()
    assert set(np.unique(small.station_county).tolist()) <= {int(c.adcode) for c in table}
    assert np.array_equal(table.lookup(small.station_lon, small.station_lat), small.station_county)
    rng = np.random.default_rng(0)
    for i in rng.choice(small.n_stations, 60, replace=False).tolist():
        assert table.lookup_one(small.station_lon[i], small.station_lat[i]) == (
            f"{small.station_county[i]:06d}"
        )
    # GCJ-02 at the precision T/CEC sends
    assert np.array_equal(np.round(small.station_lon, 6), small.station_lon)


def test_denser_in_the_east_and_in_cities(small: Country) -> None:
    table = county_table()
    real = ~small.station_is_copy
    west = ("西藏自治区", "新疆维吾尔自治区", "青海省", "甘肃省", "宁夏回族自治区")
    west_codes = [int(c.adcode) for c in table if c.province in west]
    assert len(west_codes) / len(table) > 0.1  # a tenth of the units …
    assert np.isin(small.station_county[real], west_codes).mean() < 0.03  # … few chargers
    districts = {int(c.adcode) for c in table if c.name.endswith("区")}
    in_district = np.isin(small.station_county[real], list(districts))
    assert in_district.mean() > 2 * len(districts) / len(table)


def test_highway_sites(small: Country) -> None:
    highway = np.flatnonzero(small.station_highway & ~small.station_is_copy)
    assert highway.size == round(HIGHWAY_SITES_AT_FULL_SCALE * SMALL)
    assert small.evse_dc[np.isin(small.evse_station, highway)].all()
    for i in highway[:: max(1, highway.size // 12)].tolist():
        op = small.operators[small.station_operator[i]]
        if op.protocol == "tcec":
            assert tcec_station(small, i).construction == 11
        else:
            assert ocpi_location(small, i).parking_type == "ALONG_MOTORWAY"


def test_distinct_stations_are_apart_and_addresses_unique(small: Country) -> None:
    real = np.flatnonzero(~small.station_is_copy)
    lon, lat = small.station_lon[real], small.station_lat[real]
    x = np.radians(lon) * np.cos(np.radians(lat)) * 6_371_000
    y = np.radians(lat) * 6_371_000
    nearest = np.inf
    for start in range(0, real.size, 512):
        dx = x[start : start + 512, None] - x[None, :]
        dy = y[start : start + 512, None] - y[None, :]
        d = np.hypot(dx, dy)
        d[np.arange(d.shape[0]), np.arange(start, start + d.shape[0])] = np.inf
        nearest = min(nearest, float(d.min()))
    assert nearest >= MIN_SEPARATION_M * 0.95
    keys = [(station_name(small, i), station_address(small, i)) for i in real.tolist()]
    addresses = Counter(address for _, address in keys)
    assert addresses.most_common(1)[0][1] == 1
    names = [name for name, _ in keys]
    assert not [n for n in names if "站站" in n]  # not "…加油站站"
    assert any(n.endswith("加油站充电站") for n in names)


def test_duplicates_are_the_aggregators_copies(small: Country) -> None:
    pairs = small.duplicates
    assert pairs.ndim == 2
    assert pairs.shape[1] == 2
    assert pairs.shape[0] > 5
    assert np.array_equal(np.flatnonzero(small.station_is_copy), np.sort(pairs[:, 1]))
    for p, a in pairs.tolist():
        partner = small.operators[small.station_operator[p]]
        aggregator = small.operators[small.station_operator[a]]
        assert aggregator.kind == "aggregator"
        assert aggregator.resells == partner.id
        assert partner.kind == "partner"
        assert station_name(small, p) == station_name(small, a)
        assert station_address(small, p) == station_address(small, a)
        assert station_id(small, p) != station_id(small, a)
        gap = metres(
            small.station_lon[p], small.station_lat[p], small.station_lon[a], small.station_lat[a]
        )
        assert gap < 15
        assert small.station_county[p] == small.station_county[a]
        ep = slice(small.station_first_evse[p], small.station_first_evse[p + 1])
        ea = slice(small.station_first_evse[a], small.station_first_evse[a + 1])
        for column in (small.evse_power_kw, small.evse_standard, small.evse_connectors):
            assert np.array_equal(column[ep], column[ea])
    # each partner station is resold at most once
    assert np.unique(pairs[:, 0]).size == pairs.shape[0]


# ----------------------------------------------------------------------------- ids


def test_ids_decode_back(small: Country) -> None:
    for op in ROSTER:
        idx = station_indices(small, op.id)
        ids = [station_id(small, i) for i in idx.tolist()]
        assert len(set(ids)) == len(ids)
        assert [station_index(small, op.id, s) for s in ids] == idx.tolist()
        for i in idx[:: max(1, idx.size // 5)].tolist():
            for eid, cid in connector_refs(small, i):
                found = locate_evse(small, op.id, eid)
                assert found is not None
                assert found[0] == i
                if op.protocol == "tcec":
                    located = locate_connector(small, op.id, cid)
                    assert located is not None
                    assert located[:2] == found
            assert len(evse_ids(small, i)) == int(small.station_evses[i])
        assert station_index(small, op.id, "NOPE0000001") is None
        assert station_index(small, op.id, f"{op.id_prefix}0000000") is None
        assert station_index(small, op.id, f"{op.id_prefix}9999999") is None
    tcec_op = next(op for op in ROSTER if op.protocol == "tcec")
    assert locate_connector(small, tcec_op.id, "junk") is None
    ocpi_op = next(op for op in ROSTER if op.protocol == "ocpi")
    with pytest.raises(ValueError, match="connector_refs"):
        connector_ids(small, int(station_indices(small, ocpi_op.id)[0]))


def test_tcec_connector_ids_are_unique_per_operator(small: Country) -> None:
    for op in ROSTER:
        if op.protocol != "tcec":
            continue
        ids = [c for i in station_indices(small, op.id).tolist() for c in connector_ids(small, i)]
        assert len(ids) == len(set(ids)), op.id
        assert all(len(c) <= 26 for c in ids)


# ----------------------------------------------------------------------------- wire models


def test_tcec_stations_round_trip_and_map(small: Country) -> None:
    for op in ROSTER:
        if op.protocol != "tcec":
            continue
        domain_op = domain_operator(op)
        assert op.dialect is not None
        for i in sample(small, op, 6):
            info = tcec_station(small, i)
            payload = tcec_dump(info, op.dialect)
            assert tcec_parse(StationInfo, json.loads(json.dumps(payload))) == info
            assert info.area_code == f"{small.station_county[i]:06d}"
            assert info.station_lng == small.station_lon[i]
            assert info.construction == (11 if small.station_highway[i] else info.construction)
            equipment = info.equipment_infos
            assert len(equipment) == small.station_evses[i]
            e0 = int(small.station_first_evse[i])
            for k, eq in enumerate(equipment):
                manufacturer, model, _ = MODELS[small.evse_model[e0 + k]]
                assert (eq.manufacturer_name, eq.equipment_model) == (manufacturer, model)
                assert eq.power == pytest.approx(float(small.evse_power_kw[e0 + k]))
                kinds = {c.connector_type for c in eq.connector_infos}
                assert kinds == ({4} if small.evse_dc[e0 + k] else {3})
            station = tcec_mapping.to_station(info, domain_op)
            assert station.county_adcode == f"{small.station_county[i]:06d}"
            assert station.highway_service_area == bool(small.station_highway[i])
            assert sum(len(e.connectors) for e in station.evses) == len(connector_ids(small, i))
        # the operator network accepts a whole feed (ConnectorIDs unique)
        network = OperatorNetwork(
            tcec_station(small, i) for i in station_indices(small, op.id)[:200].tolist()
        )
        assert len(network) == min(200, station_indices(small, op.id).size)


def test_ocpi_locations_round_trip_and_map(small: Country) -> None:
    for op in ROSTER:
        if op.protocol != "ocpi":
            continue
        domain_op = domain_operator(op)
        for i in sample(small, op, 8):
            location = ocpi_location(small, i)
            payload = ocpi_dump(location)
            again = ocpi_parse(Location, json.loads(json.dumps(payload)))
            assert ocpi_dump(again) == payload
            assert payload["country"] == "CHN"
            assert (payload["country_code"], payload["party_id"]) == op.party
            lon, lat = wgs84_to_gcj02(
                float(payload["coordinates"]["longitude"]),
                float(payload["coordinates"]["latitude"]),
            )
            assert lon == pytest.approx(small.station_lon[i], abs=2e-6)
            assert lat == pytest.approx(small.station_lat[i], abs=2e-6)
            e0 = int(small.station_first_evse[i])
            for k, evse in enumerate(payload["evses"]):
                assert evse["evse_id"].startswith(f"CN*{op.party[1]}*E")
                scan = bool(small.evse_scan[e0 + k])
                assert ("REMOTE_START_STOP_CAPABLE" in evse["capabilities"]) == scan
                for connector in evse["connectors"]:
                    assert connector["standard"] == STANDARDS[small.evse_standard[e0 + k]]
                    assert connector["max_electric_power"] == round(
                        float(small.evse_power_kw[e0 + k]) * 1000
                    )
            station = ocpi_mapping.to_station(location, domain_op)
            assert station.county_adcode == f"{small.station_county[i]:06d}"
            assert station.highway_service_area == bool(small.station_highway[i])
            for k, evse in enumerate(station.evses):
                methods = evse.connectors[0].access_methods
                if small.evse_scan[e0 + k]:
                    assert AccessMethod.SCAN in methods
                elif "plug_and_charge" not in op.capabilities:
                    assert methods == {AccessMethod.VIEW_ONLY}
                if small.evse_standard[e0 + k] == STANDARDS.index("CHAOJI"):
                    assert evse.connectors[0].standard == ConnectorStandard.CHAOJI


def test_chaoji_only_where_ocpi_can_say_it(small: Country) -> None:
    chaoji = small.evse_standard == STANDARDS.index("CHAOJI")
    ops = {
        small.operators[k].protocol
        for k in np.unique(small.station_operator[small.evse_station[chaoji]])
    }
    assert ops <= {"ocpi"}


# ----------------------------------------------------------------------------- ground truth


def test_ground_truth_is_consistent_json(small: Country) -> None:
    truth = json.loads(json.dumps(ground_truth(small)))
    distinct = truth["distinct"]
    copies = int(small.station_is_copy.sum())
    assert truth["listed"]["stations"] == small.n_stations == distinct["stations"] + copies
    assert sum(v["stations"] for v in truth["counties"].values()) == distinct["stations"]
    assert sum(v["evses"] for v in truth["counties"].values()) == distinct["evses"]
    assert (
        sum(v["highway_stations"] for v in truth["counties"].values())
        == distinct["highway_stations"]
    )
    assert distinct["counties_covered"] == len(truth["counties"])
    assert distinct["close_pairs"] == 0
    for v in truth["counties"].values():
        assert v["supercharger_evses"] + v["dc_fast_evses"] + v["ac_evses"] == v["evses"]
    assert truth["counties_total"] == len(county_table())
    assert sum(v["evses"] for v in truth["operators"].values()) == small.n_evses
    assert sum(v["stations"] for v in truth["operators"].values()) == small.n_stations
    assert sum(m["evses"] for m in truth["models"]) == distinct["evses"]
    assert sum(truth["standards"].values()) == distinct["evses"]
    assert len(truth["duplicates"]) == small.duplicates.shape[0]
    for partner_id, partner_sid, agg_id, agg_sid in truth["duplicates"]:
        p = station_index(small, partner_id, partner_sid)
        a = station_index(small, agg_id, agg_sid)
        assert p is not None
        assert a is not None
        assert operator_by_id(agg_id).resells == partner_id
    per_model = Counter((m["manufacturer"], m["model"]) for m in truth["models"])
    assert max(per_model.values()) >= 3  # several firmware versions of a model in the field
