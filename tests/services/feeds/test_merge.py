"""Merging across feeds: each rule, groups, idempotence and un-merging, on both backends."""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import timedelta

import numpy as np
import pytest

from chargemesh.domain import Station
from chargemesh.geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from chargemesh.services.feeds.merge import (
    MergeRules,
    connector_signature,
    find_links,
    merge_stations,
    normalise_text,
    plan_merge,
)
from chargemesh.store import Store
from chargemesh.store.repository import NAME_ADDRESS, NEARBY, SELF, SOURCE_REF, MergeCandidates
from tests.factories import T0, make_operator, make_station

# Tiananmen, WGS-84. Stations are placed by WGS-84 offsets and stored in GCJ-02, as the registry
# stores them; the merge measures distance on WGS-84.
BASE_LON, BASE_LAT = 116.3975, 39.9087
A_, E2 = 6378137.0, 6.69437999014e-3


def gcj_at(north_m: float = 0.0, east_m: float = 0.0) -> tuple[float, float]:
    """The GCJ-02 position ``north_m`` north and ``east_m`` east of BASE (on WGS-84)."""
    phi = math.radians(BASE_LAT)
    w = 1 - E2 * math.sin(phi) ** 2
    meridian = A_ * (1 - E2) / w**1.5
    normal = A_ / math.sqrt(w)
    lat = BASE_LAT + math.degrees(north_m / meridian)
    lon = BASE_LON + math.degrees(east_m / (normal * math.cos(phi)))
    return wgs84_to_gcj02(lon, lat)


def station(
    op: str,
    source_id: str,
    *,
    north_m: float = 0.0,
    east_m: float = 0.0,
    name: str | None = None,
    address: str | None = "1 Chang'an Avenue",
    evses: int = 2,
    connectors: int = 2,
) -> Station:
    lon, lat = gcj_at(north_m, east_m)
    s = make_station(op, source_id, evses=evses, connectors=connectors, lon=lon, lat=lat)
    return dataclasses.replace(s, name=name or f"{op} station {source_id}", address=address)


@pytest.fixture
def ops(store: Store) -> Store:
    for op in ("A", "B", "C", "D"):
        store.upsert_operator(make_operator(op, f"Operator {op}"))
    return store


def merged(store: Store) -> dict[str, tuple[str, str]]:
    """station id → (canonical id, rule), for every listing of a merged station."""
    return {
        sid: (s.canonical_id, s.rule)
        for sid in store.station_ids("A") | store.station_ids("B") | store.station_ids("C")
        for s in store.station_sources(sid)
        if s.station_id == sid
    }


# ----------------------------------------------------------------------------- comparisons


def test_text_is_compared_without_width_case_spaces_or_punctuation() -> None:
    assert normalise_text("ＡＢＣ　充电站（东门）") == "abc充电站东门"
    assert normalise_text("abc 充电站(东门)") == "abc充电站东门"
    assert normalise_text(" Wangfujing St. No.１２, 北京·东城 ") == "wangfujingstno12北京东城"
    assert normalise_text("ABC充电站东门") != normalise_text("ABC充电站西门")
    assert normalise_text(None) == normalise_text("  --  ") == ""


def test_connector_signature_is_the_sorted_mix_with_rounded_power() -> None:
    a = connector_signature([("gbt_dc", 120.0, 2), ("gbt_ac", 7.0, 1)])
    b = connector_signature([("gbt_ac", 7.2, 1), ("gbt_dc", 119.6, 1), ("gbt_dc", 120.4, 1)])
    assert a == b == "gbt_ac:7x1;gbt_dc:120x2"
    assert connector_signature([("gbt_dc", 120.0, 3), ("gbt_ac", 7.0, 1)]) != a
    assert connector_signature([("gbt_dc", 160.0, 2), ("gbt_ac", 7.0, 1)]) != a
    assert connector_signature([("ccs2", 120.0, 2), ("gbt_ac", 7.0, 1)]) != a
    assert connector_signature([]) == ""


# ----------------------------------------------------------------------------- rule 3: nearby


def test_listings_49_m_apart_with_the_same_connectors_merge_and_51_m_do_not(ops: Store) -> None:
    ops.upsert_stations(
        [
            station("A", "A1"),
            station("B", "B1", north_m=49.0),
            station("A", "A2", east_m=1000.0),
            station("B", "B2", east_m=1000.0, north_m=51.0),
        ],
        at=T0,
    )
    report = merge_stations(ops, at=T0)
    assert merged(ops) == {"A:A1": ("A:A1", SELF), "B:B1": ("A:A1", NEARBY)}
    assert (report.stations, report.groups, report.merged, report.physical) == (4, 1, 1, 3)
    assert report.links == {SOURCE_REF: 0, NAME_ADDRESS: 0, NEARBY: 1}
    assert ops.count_physical_stations() == 3


def test_close_listings_with_different_connectors_do_not_merge(ops: Store) -> None:
    ops.upsert_stations(
        [
            station("A", "A1"),
            station("B", "B1", north_m=5.0, connectors=3),  # one gun more per pile
            station("C", "C1", north_m=-5.0, evses=4),  # two piles more
        ],
        at=T0,
    )
    merge_stations(ops, at=T0)
    assert merged(ops) == {}
    assert ops.count_physical_stations() == 3


def test_listings_of_one_operator_are_never_merged(ops: Store) -> None:
    ops.upsert_stations([station("A", "A1"), station("A", "A2", north_m=1.0)], at=T0)
    merge_stations(ops, at=T0)
    assert merged(ops) == {}


def test_a_listing_near_two_of_one_operators_stations_joins_the_closer(ops: Store) -> None:
    # A lists two sites 30 m apart; B lists one of them (10 m from A1, 20 m from A2).
    ops.upsert_stations(
        [station("A", "A1"), station("A", "A2", north_m=30.0), station("B", "B1", north_m=10.0)],
        at=T0,
    )
    report = merge_stations(ops, at=T0)
    # B lists fewer stations than A, so its listing is the one shown.
    assert merged(ops) == {"B:B1": ("B:B1", SELF), "A:A1": ("B:B1", NEARBY)}
    assert report.refused == 1
    assert ops.count_physical_stations() == 2


def test_a_station_without_connectors_is_not_merged_by_distance(ops: Store) -> None:
    ops.upsert_stations([station("A", "A1", evses=0), station("B", "B1", evses=0)], at=T0)
    merge_stations(ops, at=T0)
    assert merged(ops) == {}


# ----------------------------------------------------------------------------- rule 1: reference


def test_the_same_station_reference_merges_listings_1_km_apart(ops: Store) -> None:
    # The aggregator B resells A's station 110105001: other name, other connectors, and a
    # position 1 km off. A's short id "S12" is shared by B's unrelated station "S12".
    ops.upsert_stations(
        [
            station("A", "110105001", name="Lanting Wangjing"),
            station("B", "110105001", east_m=1000.0, name="Wangjing P2", connectors=1),
            station("A", "S12", north_m=500.0, name="Lanting Sanlitun"),
            station("B", "S12", north_m=510.0, name="Qingyun Xidan", connectors=1),
        ],
        at=T0,
    )
    merge_stations(ops, at=T0)
    assert merged(ops) == {
        "A:110105001": ("A:110105001", SELF),
        "B:110105001": ("A:110105001", SOURCE_REF),
    }


def test_the_same_reference_far_apart_is_not_merged(ops: Store) -> None:
    ops.upsert_stations(
        [station("A", "110105001", name="x"), station("B", "110105001", east_m=2100.0, name="y")],
        at=T0,
    )
    merge_stations(ops, at=T0)
    assert merged(ops) == {}


def test_references_compare_trimmed_and_case_insensitively(ops: Store) -> None:
    ops.upsert_stations(
        [station("A", "loc-abc-001", name="x"), station("B", "LOC-ABC-001 ", name="y")], at=T0
    )
    merge_stations(ops, at=T0)
    assert merged(ops)["B:LOC-ABC-001 "] == ("A:loc-abc-001", SOURCE_REF)


# ----------------------------------------------------------------------------- rule 2: name+address


def test_the_same_name_and_address_merge_across_width_case_and_punctuation(ops: Store) -> None:
    ops.upsert_stations(
        [
            station(
                "A", "A1",
                name="朝阳大悦城充电站（B2层）", address="北京市朝阳区朝阳北路101号",
            ),
            station(
                "B", "B1", east_m=800.0, connectors=1,
                name="朝阳大悦城 充电站 (B2层)", address="北京市朝阳区朝阳北路１０１号",
            ),
            station(
                "C", "C1", north_m=900.0, connectors=3,
                name="Joy City Charging", address="北京市朝阳区朝阳北路101号",
            ),
        ],
        at=T0,
    )  # fmt: skip
    merge_stations(ops, at=T0)
    assert merged(ops) == {"A:A1": ("A:A1", SELF), "B:B1": ("A:A1", NAME_ADDRESS)}


def test_the_same_name_without_an_address_or_far_away_is_not_merged(ops: Store) -> None:
    ops.upsert_stations(
        [
            station("A", "A1", name="Metro P+R", address=None),
            station("B", "B1", name="Metro P+R", address=None, east_m=300.0),
            station("A", "A2", name="Renmin Road Hub", address="Renmin Road 1"),
            station("C", "C2", name="Renmin Road Hub", address="Renmin Road 1", east_m=5000.0),
        ],
        at=T0,
    )
    merge_stations(ops, at=T0)
    assert merged(ops) == {}


# ----------------------------------------------------------------------------- groups


def test_three_feeds_listing_one_station_form_one_group(ops: Store) -> None:
    ops.upsert_stations(
        [
            station("A", "110105001", name="Wangjing SOHO"),
            station("B", "110105001", east_m=600.0, name="WJ SOHO", connectors=1),  # reference
            station("C", "C7", north_m=20.0, name="Soho Wangjing"),  # 20 m from A's, same guns
            station("C", "C8", north_m=3000.0),
        ],
        at=T0,
    )
    report = merge_stations(ops, at=T0)
    group = ops.station_sources("C:C7")
    assert [(s.station_id, s.canonical_id, s.rule) for s in group] == [
        ("A:110105001", "A:110105001", SELF),
        ("B:110105001", "A:110105001", SOURCE_REF),
        ("C:C7", "A:110105001", NEARBY),
    ]
    assert (report.groups, report.merged) == (1, 2)
    assert ops.counts().listings == 4
    assert ops.counts().stations == ops.count_physical_stations() == 2
    assert ops.canonical_of(["B:110105001", "C:C8"]) == {
        "B:110105001": "A:110105001",
        "C:C8": "C:C8",
    }


def test_a_chain_through_a_third_feed_never_joins_two_listings_of_one_operator(
    ops: Store,
) -> None:
    # B1 is near A1; B1 and A2 share a reference: A1 and A2 must stay apart.
    ops.upsert_stations(
        [
            station("A", "A1"),
            station("B", "REF-000042", north_m=10.0),
            station("A", "REF-000042", east_m=900.0, name="other", connectors=1),
        ],
        at=T0,
    )
    merge_stations(ops, at=T0)
    # The reference is the stronger rule, so B's listing joins A's REF-000042, and A1 stays
    # alone. (B, with fewer stations, is shown.)
    assert merged(ops) == {
        "B:REF-000042": ("B:REF-000042", SELF),
        "A:REF-000042": ("B:REF-000042", SOURCE_REF),
    }


def test_a_reseller_is_never_canonical_while_an_owner_is_in_the_group(ops: Store) -> None:
    ops.upsert_stations([station("A", "A1"), station("B", "B1", north_m=3.0)], at=T0)
    merge_stations(ops, at=T0, rules=MergeRules(resellers=frozenset({"A"})))
    assert merged(ops) == {"B:B1": ("B:B1", SELF), "A:A1": ("B:B1", NEARBY)}


def test_the_owner_is_preferred_over_an_aggregator_listing_many_networks(ops: Store) -> None:
    # D resells A's, B's and C's stations and lists more stations: each group shows the
    # owner's listing.
    ops.upsert_operator(make_operator("D", "Aggregator"))
    ops.upsert_stations(
        [
            station("D", "D1"), station("A", "Z1", north_m=2.0),
            station("D", "D2", east_m=500.0), station("B", "Z2", east_m=500.0, north_m=2.0),
            station("D", "D3", east_m=900.0), station("C", "Z3", east_m=900.0, north_m=2.0),
            station("D", "D4", east_m=1500.0), station("D", "D5", east_m=2500.0),
        ],
        at=T0,
    )  # fmt: skip
    merge_stations(ops, at=T0)
    assert ops.canonical_of(["D:D1", "D:D2", "D:D3"]) == {
        "D:D1": "A:Z1",
        "D:D2": "B:Z2",
        "D:D3": "C:Z3",
    }


def test_merging_again_changes_nothing(ops: Store) -> None:
    ops.upsert_stations(
        [station("A", "A1"), station("B", "B1", north_m=10.0), station("C", "C1", north_m=20.0)],
        at=T0,
    )
    first = merge_stations(ops, at=T0)
    assert first.change.added == 3
    before = ops.station_sources("A:A1")
    second = merge_stations(ops, at=T0 + timedelta(hours=1))
    assert (second.change.added, second.change.relinked, second.change.removed) == (0, 0, 0)
    assert second.change.kept == 3
    assert ops.station_sources("A:A1") == before  # merged_at kept


def test_a_listing_that_no_longer_matches_is_unmerged(ops: Store) -> None:
    b1 = station("B", "B1", north_m=10.0)
    ops.upsert_stations([station("A", "A1"), b1, station("C", "C1", north_m=20.0)], at=T0)
    merge_stations(ops, at=T0)
    assert ops.count_physical_stations() == 1

    moved = dataclasses.replace(b1, lon=gcj_at(north_m=400.0)[0], lat=gcj_at(north_m=400.0)[1])
    ops.upsert_stations([moved], at=T0 + timedelta(hours=1))
    report = merge_stations(ops, at=T0 + timedelta(hours=1))
    assert report.change.removed == 1
    assert ops.station_sources("B:B1") == []
    assert [s.station_id for s in ops.station_sources("A:A1")] == ["A:A1", "C:C1"]
    assert ops.count_physical_stations() == 2

    ops.remove_stations(["C:C1"], at=T0 + timedelta(hours=2))
    merge_stations(ops, at=T0 + timedelta(hours=2))
    assert merged(ops) == {}
    assert ops.count_physical_stations() == 2


# ----------------------------------------------------------------------------- the grid


def _candidates(n: int, seed: int) -> MergeCandidates:
    """``n`` listings of 4 operators in a 600 m square, some stacked on one spot."""
    rng = random.Random(seed)
    lons, lats = [], []
    for i in range(n):
        north, east = (0.0, 0.0) if i % 10 == 0 else (rng.uniform(0, 600), rng.uniform(0, 600))
        lon, lat = gcj_at(north, east)
        lons.append(lon)
        lats.append(lat)
    mixes = (
        (("gbt_dc", 120.0, 2),),
        (("gbt_ac", 7.0, 2),),
        (("gbt_ac", 7.0, 1), ("gbt_dc", 60.0, 2)),
    )
    return MergeCandidates(
        ids=[f"{i % 4}:{i:05d}" for i in range(n)],
        operator_ids=[str(i % 4) for i in range(n)],
        source_ids=[f"X{rng.randrange(40):06d}" for _ in range(n)],
        names=[f"Site {rng.randrange(30)}" for _ in range(n)],
        addresses=[f"Road {rng.randrange(3)}" for _ in range(n)],
        lons=lons,
        lats=lats,
        connector_mix=[rng.choice(mixes) for _ in range(n)],
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_the_grid_finds_exactly_the_pairs_a_full_comparison_finds(seed: int) -> None:
    c = _candidates(1500, seed)
    rules = MergeRules(corroborate_m=250.0)
    wgs = [gcj02_to_wgs84(lon, lat) for lon, lat in zip(c.lons, c.lats, strict=True)]
    phi = np.radians([p[1] for p in wgs])
    lam = np.radians([p[0] for p in wgs])
    normal = A_ / np.sqrt(1 - E2 * np.sin(phi) ** 2)
    xyz = np.stack(
        (normal * np.cos(phi) * np.cos(lam), normal * np.cos(phi) * np.sin(lam),
         normal * (1 - E2) * np.sin(phi)), axis=1,
    )  # fmt: skip
    keys = {
        SOURCE_REF: (c.source_ids, rules.corroborate_m),
        NAME_ADDRESS: ([f"{n}|{a}" for n, a in zip(c.names, c.addresses, strict=True)],
                       rules.corroborate_m),
        NEARBY: ([connector_signature(m) for m in c.connector_mix], rules.nearby_m),
    }  # fmt: skip
    expected = set()
    for rule, (key, radius) in keys.items():
        for i in range(len(c)):
            d = np.linalg.norm(xyz[i + 1 :] - xyz[i], axis=1)
            for j in np.flatnonzero(d < radius) + i + 1:
                if key[i] == key[j] and c.operator_ids[i] != c.operator_ids[j]:
                    expected.add((i, int(j), rule))
    found = {(link.a, link.b, link.rule) for link in find_links(c, rules)}
    assert len(expected) > 1000
    assert found == expected


def test_the_plan_holds_at_most_one_listing_per_operator_in_a_group() -> None:
    c = _candidates(1500, 3)
    plan = plan_merge(c, MergeRules(corroborate_m=250.0), at=T0)
    groups: dict[str, list[str]] = {}
    for s in plan.sources:
        groups.setdefault(s.canonical_id, []).append(s.station_id)
    assert len(groups) == plan.groups > 50
    for canonical, members in groups.items():
        assert canonical in members
        owners = [m.split(":")[0] for m in members]
        assert len(owners) == len(set(owners))
    again = plan_merge(c, MergeRules(corroborate_m=250.0), at=T0)
    assert again.sources == plan.sources
